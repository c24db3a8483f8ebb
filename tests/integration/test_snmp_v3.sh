#!/bin/bash
# test_snmp_v3.sh - SNMPv3 devices against a real snmpd with users the test
# creates: authPriv SHA/AES, authNoPriv SHA-256 and noAuthNoPriv are polled
# into the RRD files; a wrong auth password, an unknown user and a wrong
# privacy password each page with their own reason, and no log line, page or
# --check-config output holds a password. A device replaced behind its
# address without a gap (a test UDP relay switched to another snmpd) answers
# with a report net-snmp cannot read: one failed run saying so, then it is
# discovered again. Then snmpd itself is replaced (down, then a new engine ID): found
# again after the timeouts.
set -eu
. "$(dirname "$0")/lib.sh"
need_tools snmpd snmpget rrdtool
W=$(mktemp -d /tmp/vakt-it-snmpv3.XXXXXX)
trap 'cleanup && s=0 || s=$?; [ -n "${KEEP:-}" ] || rm -rf "$W"; exit $s' EXIT

snmp_port=$(free_port udp)
col_port=$(free_port tcp)
# every secret of the test: none may appear in any output
AP_AUTH="ap-auth-$$" AP_PRIV="ap-priv-$$" AN_AUTH="an-auth-$$"
BAD_AUTH="bad-auth-$$" BAD_AUTH_WRONG="wrong-auth-$$" BAD_PRIV="bp-priv-$$"
BAD_PRIV_WRONG="wrong-priv-$$" BP_AUTH="bp-auth-$$" NU_AUTH="nu-auth-$$" NU_PRIV="nu-priv-$$"
SECRETS="$AP_AUTH $AP_PRIV $AN_AUTH $BAD_AUTH $BAD_AUTH_WRONG $BAD_PRIV $BAD_PRIV_WRONG $BP_AUTH $NU_AUTH $NU_PRIV"

# start_v3_snmpd NAME ENGINE PORT: snmpd with the test's users and its own
# engine ID (a fresh state directory: a new engine ID is a replaced device)
start_v3_snmpd() {
	mkdir -p "$W/snmp-$2"
	cat >"$W/$1.conf" <<EOC
agentAddress udp:127.0.0.1:$3
engineID $2
createUser vaktap SHA "$AP_AUTH" AES "$AP_PRIV"
createUser vaktan SHA-256 "$AN_AUTH"
createUser vaktnn
createUser vaktbad SHA "$BAD_AUTH" AES "$BAD_PRIV"
createUser vaktbp SHA "$BP_AUTH" AES "$BAD_PRIV"
rouser vaktap priv
rouser vaktan auth
rouser vaktnn noauth
rouser vaktbad priv
rouser vaktbp priv
sysName vakt-v3-device
EOC
	SNMP_PERSISTENT_DIR="$W/snmp-$2" MIBS= start "$1" "$W/$1-$2.log" /usr/sbin/snmpd -f -Lo -C \
		-c "$W/$1.conf" -p "$W/$1.pid"
	wait_for 10 snmpget -v3 -u vaktap -l authPriv -a SHA -A "$AP_AUTH" -x AES -X "$AP_PRIV" \
		-t 1 -r 0 -On "127.0.0.1:$3" 1.3.6.1.2.1.1.3.0 ||
		fail "snmpd did not answer v3 on 127.0.0.1:$3 (see $W/$1-$2.log)"
}
start_v3_snmpd snmpd vaktengine1 "$snmp_port"
# the device behind the relay: first this snmpd, then another one
swap_port=$(free_port udp)
relay_port=$(free_port udp)
[ "$relay_port" != "$swap_port" ] || relay_port=$(free_port udp)
start_v3_snmpd swapd vaktengineA "$swap_port"
echo "$swap_port" >"$W/relay.target"
cat >"$W/relay.py" <<'PY'
# a UDP relay to the port named in a file, read for every request
import selectors, socket, sys
listen = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
listen.bind(("127.0.0.1", int(sys.argv[1])))
up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sel = selectors.DefaultSelector()
sel.register(listen, selectors.EVENT_READ)
sel.register(up, selectors.EVENT_READ)
client = None
while True:
    for key, _ in sel.select():
        data, peer = key.fileobj.recvfrom(65535)
        if key.fileobj is listen:
            client = peer
            up.sendto(data, ("127.0.0.1", int(open(sys.argv[2]).read())))
        elif client is not None:
            listen.sendto(data, client)
PY
start relay "$W/relay.log" python3 "$W/relay.py" "$relay_port" "$W/relay.target"

{ pager_channel "$W"; cat <<EOC; } | write_collector_conf "$W" "$col_port"
watch {
  unreachable = 1
}
EOC
# [port=P] device NAME USER KEYS...: an snmp section polled every second
device() {
	name=$1 user=$2
	shift 2
	printf 'snmp "%s" {\n  address = "127.0.0.1:%s"\n  version = "3"\n  security_name = "%s"\n' \
		"$name" "${port:-$snmp_port}" "$user"
	for kv in "$@"; do printf '  %s\n' "$kv"; done
	printf '  interval = 1\n  timeout = 400\n  retries = 0\n}\n'
}
{
	cat <<EOC
site = "rissa"
insecure = yes
collector "dc1" { address = "127.0.0.1:$col_port" }
EOC
	device ap-sw vaktap "auth_password = \"$AP_AUTH\"" "priv_password = \"$AP_PRIV\"" \
		'auth_protocol = "SHA"' 'priv_protocol = "AES"' 'interfaces = {"lo"}'
	device an-sw vaktan 'security_level = "authNoPriv"' 'auth_protocol = "SHA-256"' \
		"auth_password = \"$AN_AUTH\""
	device nn-sw vaktnn 'security_level = "noAuthNoPriv"'
	device bad-auth vaktbad "auth_password = \"$BAD_AUTH_WRONG\"" "priv_password = \"$BAD_PRIV\""
	device no-user vaktnobody "auth_password = \"$NU_AUTH\"" "priv_password = \"$NU_PRIV\""
	device bad-priv vaktbp "auth_password = \"$BP_AUTH\"" "priv_password = \"$BAD_PRIV_WRONG\""
	port=$relay_port device swap-sw vaktap "auth_password = \"$AP_AUTH\"" \
		"priv_password = \"$AP_PRIV\""
} >"$W/agent.conf"

"$VAKT_BIN/vakt-agent" --check-config -c "$W/agent.conf" >"$W/check.out" 2>&1 ||
	{ cat "$W/check.out"; fail "--check-config refused the v3 sections"; }
# a password too short is named by its key and line, never shown
sed 's/priv_password = "'"$AP_PRIV"'"/priv_password = "'"${AP_PRIV:0:5}"'"/' "$W/agent.conf" >"$W/short.conf"
if "$VAKT_BIN/vakt-agent" --check-config -c "$W/short.conf" >"$W/short.out" 2>&1; then
	fail "--check-config accepted a 5-character priv_password"
fi
grep -Eq "short.conf:[0-9]+: snmp \"ap-sw\": priv_password must be at least 8 characters, got 5" "$W/short.out" ||
	{ cat "$W/short.out"; fail "the short password's error"; }
grep -qF "${AP_PRIV:0:5}" "$W/short.out" && fail "the config error shows the password"

start_collector "$W" "$col_port"
start agent "$W/agent.log" "$VAKT_BIN/vakt-agent" -f -v -c "$W/agent.conf"

# under valgrind the daemons take several times longer to poll and store
T=1
[ -z "$VG_DIR" ] || T=4

pages() { if [ -f "$W/pages.log" ]; then grep -c "^$1" "$W/pages.log" || true; else echo 0; fi; }
page_has() { [ -f "$W/pages.log" ] && grep -qF "$1" "$W/pages.log"; }
show() { cat "$W/pages.log" 2>/dev/null || true; tail -n 40 "$W/agent.log" "$W/collector.log" || true; }
up_is() { [ -f "$W/rrd/rissa/$1/system.rrd" ] && [ "$(rrd_last "$W/rrd/rissa/$1/system.rrd" up)" = "$2" ]; }
ticks_of() { rrd_last "$W/rrd/rissa/$1/system.rrd" uptime; }
has_uptime() { t=$(ticks_of "$1") && awk -v t="$t" 'BEGIN { exit !(t + 0 > 0) }'; }

# the three security levels reach the RRD files
for d in ap-sw an-sw nn-sw; do
	wait_for $((10 * T)) up_is "$d" 1 || { show; fail "$d is not stored as up"; }
	wait_for $((5 * T)) has_uptime "$d" || { show; fail "$d has no uptime in its RRD file"; }
done
ifl="$W/rrd/rissa/ap-sw/if-lo.rrd"
wait_for $((5 * T)) test -f "$ifl" || { show; fail "no interface file for ap-sw"; }
in_counter() { v=$(rrd_last "$ifl" in_octets) && [ "$v" -gt 0 ]; }
wait_for $((5 * T)) in_counter || { rrdtool lastupdate "$ifl"; fail "ap-sw's lo in_octets is not in its RRD file"; }
log "authPriv SHA/AES, authNoPriv SHA-256 and noAuthNoPriv stored"

# each failure pages with its own reason and is stored as down
want_page() {
	wait_for $((10 * T)) page_has "$2" || { show; fail "$1: no page saying: $2"; }
	wait_for $((5 * T)) up_is "$1" 0 || { show; fail "$1's outcome is not in its RRD file"; }
}
want_page bad-auth "system on bad-auth (site rissa) is unreachable: error: 127.0.0.1:$snmp_port refused the authentication of SNMPv3 user \"vaktbad\": wrong auth_password or auth_protocol SHA"
want_page no-user "system on no-user (site rissa) is unreachable: error: 127.0.0.1:$snmp_port does not know SNMPv3 user \"vaktnobody\""
want_page bad-priv "system on bad-priv (site rissa) is unreachable: timeout: no answer from 127.0.0.1:$snmp_port within 0.4 s though its SNMPv3 engine answered discovery: wrong priv_password or priv_protocol AES for user \"vaktbp\"?"
# and the agent's log says it with the device's name and address
grep -qF "check \"bad-auth\" (snmp): none -> error: 127.0.0.1:$snmp_port refused the authentication" "$W/agent.log" ||
	{ show; fail "the agent's log lacks bad-auth's line"; }
grep -qF "check \"no-user\" (snmp): none -> error: 127.0.0.1:$snmp_port does not know SNMPv3 user" "$W/agent.log" ||
	{ show; fail "the agent's log lacks no-user's line"; }
grep -qF "check \"bad-priv\" (snmp): none -> timeout: no answer from 127.0.0.1:$snmp_port" "$W/agent.log" ||
	{ show; fail "the agent's log lacks bad-priv's line"; }
for d in ap-sw an-sw nn-sw; do
	[ "$(pages "firing unreachable rissa $d ")" = 0 ] || { show; fail "$d paged while it answered"; }
done

wait_for $((5 * T)) up_is swap-sw 1 || { show; fail "swap-sw (behind the relay) is not stored as up"; }
# swap-sw may already have been paged and resolved once (a first discovery
# before the relay answered): only a resolution after the swap counts
resolved_before=$(pages "resolved unreachable rissa swap-sw system")
log "replacing the device behind the relay at once: another engine ID answers"
start_v3_snmpd swapd2 vaktengineB "$(free_port udp)"
grep -o '127.0.0.1:[0-9]*' "$W/swapd2.conf" | cut -d: -f2 >"$W/relay.target.new"
mv "$W/relay.target.new" "$W/relay.target"
# one failed run only: the next one is up again, so no down value to wait for
swap_page="system on swap-sw (site rissa) is unreachable: timeout: no answer from 127.0.0.1:$relay_port within 0.4 s that the agent could read (a report from another SNMPv3 engine: device replaced?): discovered again at the next run"
wait_for $((10 * T)) page_has "$swap_page" || { show; fail "swap-sw: no page saying: $swap_page"; }
resolved_again() { [ "$(pages "resolved unreachable rissa swap-sw system")" -gt "$resolved_before" ]; }
wait_for $((10 * T)) resolved_again || { show; fail "swap-sw did not recover on the new engine"; }
wait_for $((5 * T)) up_is swap-sw 1 || { show; fail "swap-sw's recovery is not in its RRD file"; }
grep -q "SNMPv3 engine of 127.0.0.1:$relay_port is [0-9a-f]*76616b74656e67696e6542$" "$W/agent.log" ||
	{ show; fail "swap-sw did not log the new engine's ID"; }

log "replacing the device: same address, another engine ID"
stop snmpd
start_v3_snmpd snmpd vaktengine2 "$snmp_port"
# a replaced engine answers with a report, or not at all: either way found again
wait_for $((10 * T)) bash -c "grep -q 'SNMPv3 engine of 127.0.0.1:$snmp_port is [0-9a-f]*76616b74656e67696e6532$' '$W/agent.log'" ||
	{ show; fail "ap-sw did not discover the new engine"; }
t0=$(ticks_of ap-sw)
later_uptime() { t=$(ticks_of ap-sw) && [ "$t" != "$t0" ] && up_is ap-sw 1; }
wait_for $((10 * T)) later_uptime || { show; fail "ap-sw not polled again after the replacement"; }
log "the new engine is polled"

stop agent
for s in $SECRETS; do
	for f in "$W/agent.log" "$W/collector.log" "$W/pages.log" "$W/check.out"; do
		grep -qF -- "$s" "$f" && { grep -nF -- "$s" "$f"; fail "$f holds a password"; }
	done
done
echo "PASS: SNMPv3 at three security levels stored; wrong auth, unknown user and wrong priv paged with their reasons, no secret shown; a replaced engine found again"
