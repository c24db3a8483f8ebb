#!/bin/bash
# test_snmp_discover.sh - vakt-agent --discover on a /29 of the test's own: a
# network namespace of devices joined to the agent's by a veth pair, with
# snmpd instances on four of its addresses (a switch, a router, a Linux
# server, and a second switch with the first one's sysName) and one address
# that answers with what is not SNMP; a UPS on 127.0.0.1 besides, and
# snmpsim's Solaris host, whose section notes that it has no
# HOST-RESOURCES-MIB for the profile to poll, and its Windows XP host, whose
# section notes that Windows says every adapter is meant to be up. The sweep prints one section per
# device, named after its sysName (unique), with the profile that fits it;
# the junk is skipped with a line on stderr, silent addresses are not
# printed, an empty /24 takes 4 rounds of 64 addresses at once, a subnet
# without a route is one line; v3 finds the one device that knows the user
# and prints no password unless asked; what it prints passes --check-config
# and, given to an agent, polls every device.
# Bad input (a /8, a bad subnet, no community) gets a clear error.
set -eu
unset VAKT_SNMP_COMMUNITY VAKT_SNMP_AUTH_PASSWORD VAKT_SNMP_PRIV_PASSWORD
. "$(dirname "$0")/netns.sh"
. "$(dirname "$0")/lib.sh"
need_tools snmpd snmpget snmpsimd python3
W=$(mktemp -d /tmp/vakt-it-discover.XXXXXX)
DEV=vakt-dev-$$
trap 'cleanup && s=0 || s=$?; ip netns del "$DEV" 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$W"; exit $s' EXIT
# under valgrind (VAKT_VALGRIND=1) every run of the agent is checked, and may be slower
SLOW=$([ -n "${VAKT_VALGRIND:-}" ] && echo 3 || echo 1)
agent() {
	if [ -n "$VG_DIR" ]; then
		valgrind -q --leak-check=full --errors-for-leak-kinds=definite \
			--show-leak-kinds=definite --log-file="$VG_DIR/discover.%p.log" \
			"$VAKT_BIN/vakt-agent" "$@"
	else
		"$VAKT_BIN/vakt-agent" "$@"
	fi
}
community="vakt$$"

# the devices' namespace: 10.99.0.1 is the agent's end, .2-.6 the devices'
ip netns add "$DEV" || { echo "SKIP: ip netns add failed"; exit 77; }
ip link add dev0 type veth peer name dev1
ip link set dev1 netns "$DEV"
ip addr add 10.99.0.1/29 dev dev0
ip link set dev0 up
indev() { ip netns exec "$DEV" "$@"; }
indev ip link set lo up
for n in 2 3 4 5 6; do
	indev ip addr add "10.99.0.$n/29" dev dev1
done
indev ip link set dev1 up
# the router forwards IP; so does every device here, as they share the namespace
indev sysctl -qw net.ipv4.ip_forward=1

# device N: snmpd on 10.99.0.N with its own sysName, sysDescr and sysObjectID
device() {
	n=$1 name=$2 descr=$3 objid=$4
	mkdir -p "$W/dev$n"
	cat >"$W/dev$n/snmpd.conf" <<EOC
agentAddress udp:10.99.0.$n:161
rocommunity $community 10.99.0.0/29
sysName $name
sysDescr $descr
sysObjectID $objid
sysLocation Vakt test bench
${5:-}
EOC
	SNMP_PERSISTENT_DIR="$W/dev$n" MIBS= start "snmpd$n" "$W/dev$n/snmpd.log" \
		ip netns exec "$DEV" /usr/sbin/snmpd -f -Lo -C -c "$W/dev$n/snmpd.conf" \
		-p "$W/dev$n/snmpd.pid"
}
device 2 core-sw1.rissa.example \
	"Juniper Networks, Inc. ex2300-24p Ethernet Switch, kernel JUNOS 18.2R3-S2" \
	1.3.6.1.4.1.2636.1.1.1.2.132 \
	"createUser vaktdisc SHA vakt-auth-$$ AES vakt-priv-$$
rouser vaktdisc priv
"'createUser vaktq SHA "q\"${HOME}\\z-auth" AES "p${x}\"priv-pw"
rouser vaktq priv'
device 3 "gw1.rissa.example" \
	"Cisco IOS Software [Amsterdam], ISR Software (X86_64_LINUX_IOSD-UNIVERSALK9-M)" \
	1.3.6.1.4.1.9.1.2068
# a sysName in Norwegian: the section is named as the collector spells it on disk
device 4 "Ørland-web1" "Linux web1 6.1.0-13-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.55-1 x86_64" \
	1.3.6.1.4.1.8072.3.2.10
device 6 core-sw1.rissa.example \
	"Juniper Networks, Inc. ex2300-24p Ethernet Switch, kernel JUNOS 18.2R3-S2" \
	1.3.6.1.4.1.2636.1.1.1.2.132
# 10.99.0.5 answers every datagram with bytes that are not SNMP
cat >"$W/junk.py" <<'EOP'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.99.0.5", 161))
while True:
    data, peer = s.recvfrom(65535)
    s.sendto(b"\x30\x05not SNMP at all", peer)
EOP
start junk "$W/junk.log" ip netns exec "$DEV" python3 "$W/junk.py"
for n in 2 3 4 6; do
	wait_for 10 snmpget -v2c -c "$community" -t 1 -r 0 -On "10.99.0.$n" 1.3.6.1.2.1.1.5.0 ||
		{ cat "$W/dev$n/snmpd.log"; fail "snmpd on 10.99.0.$n did not answer"; }
done
junk_bound() { indev ss -Huln "sport = :161" | grep -q "10.99.0.5:161"; }
wait_for 10 junk_bound || { cat "$W/junk.log"; fail "the junk answerer did not start"; }

# the output inside an agent config, as an operator would paste it
check_config() {
	{
		cat <<EOC
site = "rissa"
insecure = yes
collector "dc1" { address = "127.0.0.1:7060" }
profile_dir = "$VAKT_SRC/deploy/profiles"
EOC
		cat "$1"
	} >"$1.conf"
	agent --check-config -c "$1.conf" >"$1.check" 2>&1 ||
		{ cat "$1.conf" "$1.check"; fail "the sections of $1 do not pass --check-config"; }
}
# section NAME FILE: the body of snmp "NAME" in FILE
section() { sed -n "/^snmp \"$1\" {/,/^}/p" "$2"; }

log "sweeping 10.99.0.0/29 with v2c"
t0=$(date +%s)
agent --discover 10.99.0.0/29 --community "$community" --timeout 1 --retries 1 \
	>"$W/v2c.out" 2>"$W/v2c.err" || { cat "$W/v2c.out" "$W/v2c.err"; fail "--discover failed"; }
took=$(( $(date +%s) - t0 ))
cat "$W/v2c.out" "$W/v2c.err" >&2
[ "$took" -le $((8 * SLOW)) ] || fail "the sweep of 6 addresses took $took s"
# one section per device, in address order, named after sysName's first label
names=$(sed -n 's/^snmp "\(.*\)" {$/\1/p' "$W/v2c.out" | tr '\n' ' ')
[ "$names" = "core-sw1 gw1 Orland-web1 core-sw1-10-99-0-6 " ] || fail "sections: $names"
for want in "core-sw1 10.99.0.2 switch" "gw1 10.99.0.3 router" "Orland-web1 10.99.0.4 linux" \
	"core-sw1-10-99-0-6 10.99.0.6 switch"; do
	set -- $want
	body=$(section "$1" "$W/v2c.out")
	grep -qx "  address *= \"$2\"" <<<"$body" || fail "$1: not at $2: $body"
	grep -qx "  profile *= \"$3\"" <<<"$body" || fail "$1: not a $3: $body"
	grep -qx "  community *= \"$community\"" <<<"$body" || fail "$1: no community: $body"
	grep -qx "  interfaces *= \"all\"" <<<"$body" || fail "$1: not all interfaces: $body"
done
grep -qF "#   sysDescr:    Cisco IOS Software [Amsterdam], ISR Software" "$W/v2c.out" ||
	fail "the router's sysDescr is not in its comment"
grep -qF "#   sysObjectID: 1.3.6.1.4.1.9.1.2068" "$W/v2c.out" || fail "no sysObjectID comment"
grep -qxF '# 10.99.0.4: sysName "Ørland-web1"' "$W/v2c.out" || fail "the UTF-8 sysName is not in its comment"
grep -qF '#   profile:     switch (sysDescr says "switch")' "$W/v2c.out" || fail "no reason for a profile"
grep -qE "^#   interfaces:  [0-9]+ \(ifNumber\)" "$W/v2c.out" || fail "no interface count"
grep -q "10\.99\.0\.[15]" <(grep -v "^#" "$W/v2c.out") && fail "a silent or junk address was printed"
grep -qE "^10.99.0.5: skipped: answers with what is not SNMP it can read \(2 datagrams\)$" \
	"$W/v2c.err" || fail "the junk answer was not reported"
grep -qE "^vakt-agent --discover 10.99.0.0/29: 6 addresses tried, 4 answered, 1 skipped, in [0-9.]+ s$" \
	"$W/v2c.err" || fail "no summary"
check_config "$W/v2c.out"

log "polling what it printed: every device stores its uptime and its interfaces"
col_port=$(free_port tcp)
write_collector_conf "$W" "$col_port" </dev/null
start_collector "$W" "$col_port"
# the sections as printed, polled every 3 s instead of every minute
sed -e "s/^collector \"dc1\" .*/collector \"dc1\" { address = \"127.0.0.1:$col_port\" }/" \
	-e 's/^snmp "\(.*\)" {$/&\n  interval = 3/' "$W/v2c.out.conf" >"$W/agent.conf"
start agent "$W/agent.log" "$VAKT_BIN/vakt-agent" -f -c "$W/agent.conf"
polled() {
	rrd_flush "$W"
	[ -f "$W/rrd/rissa/$1/system.rrd" ] && [ "$(rrd_last "$W/rrd/rissa/$1/system.rrd" up)" = 1 ] &&
		[ -f "$W/rrd/rissa/$1/if-dev1.rrd" ]
}
for h in core-sw1 gw1 Orland-web1 core-sw1-10-99-0-6; do
	wait_for $((15 * SLOW)) polled "$h" ||
		{ tail -n 20 "$W/agent.log"; ls -R "$W/rrd"; fail "$h, as --discover printed it, is not polled"; }
done
stop agent

log "a UPS (UPS-MIB from a pass script) on 127.0.0.1"
cat >"$W/ups.sh" <<'EOS'
#!/bin/sh
# UPS-MIB's upsIdentManufacturer.0, for GET and GETNEXT
M=.1.3.6.1.2.1.33.1.1.1.0
case "$1 $2" in
"-g $M" | "-n .1.3.6.1.2.1.33" | "-n .1.3.6.1.2.1.33.1" | "-n .1.3.6.1.2.1.33.1.1" | "-n .1.3.6.1.2.1.33.1.1.1")
	printf '%s\nstring\nAPC Smart-UPS 1500\n' "$M" ;;
esac
EOS
chmod +x "$W/ups.sh"
ups_port=$(free_port udp)
mkdir -p "$W/ups"
cat >"$W/ups/snmpd.conf" <<EOC
agentAddress udp:127.0.0.1:$ups_port
rocommunity $community 127.0.0.1
sysName ups1
sysDescr APC Web/SNMP Management Card (MB:v4.1.0 PF:v6.5.6)
sysObjectID 1.3.6.1.4.1.318.1.3.27
pass .1.3.6.1.2.1.33 $W/ups.sh
EOC
SNMP_PERSISTENT_DIR="$W/ups" MIBS= start snmpd_ups "$W/ups/snmpd.log" /usr/sbin/snmpd -f -Lo -C \
	-c "$W/ups/snmpd.conf" -p "$W/ups/snmpd.pid"
wait_for 10 snmpget -v2c -c "$community" -t 1 -r 0 -On "127.0.0.1:$ups_port" 1.3.6.1.2.1.1.5.0 ||
	{ cat "$W/ups/snmpd.log"; fail "the UPS's snmpd did not answer"; }
agent --discover 127.0.0.1 --port "$ups_port" --community "$community" >"$W/ups.out" \
	2>"$W/ups.err" || { cat "$W/ups.out" "$W/ups.err"; fail "--discover of the UPS failed"; }
cat "$W/ups.out" >&2
grep -qx '  profile *= "ups"' <<<"$(section ups1 "$W/ups.out")" || fail "the UPS is not a ups"
grep -qx "  address *= \"127.0.0.1:$ups_port\"" "$W/ups.out" || fail "the UPS's port is not in its address"
grep -qx "#   UPS-MIB:     APC Smart-UPS 1500" "$W/ups.out" || fail "no UPS maker in the comment"
check_config "$W/ups.out"
grep -q "HOST-RESOURCES-MIB does not answer" "$W/v2c.out" "$W/ups.out" &&
	fail "a note of HOST-RESOURCES-MIB missing where it answers, or for a UPS"

log "snmpsim's Solaris host (recorded/solaris-system), which answers the system group only"
# snmpsimd finds its recordings when it starts: the Windows host's too
sim_port=$(free_port udp)
mkdir -p "$W/sim"
cp /usr/share/doc/snmpsim/examples/data/recorded/solaris-system.snmprec "$W/sim/"
zcat /usr/share/doc/snmpsim/examples/data/recorded/winxp-full-walk.snmprec.gz >"$W/sim/winxp-full-walk.snmprec"
start_snmpsim "$W" "$sim_port" solaris-system
agent --discover 127.0.0.1 --port "$sim_port" --community solaris-system >"$W/sun.out" \
	2>"$W/sun.err" || { cat "$W/sun.out" "$W/sun.err"; fail "--discover of the Solaris host failed"; }
cat "$W/sun.out" >&2
grep -qx '  profile *= "linux"' <<<"$(section oss "$W/sun.out")" || fail "the Solaris host is not a linux"
grep -qxF "#   note:        HOST-RESOURCES-MIB does not answer (hrSystem): the storage and processor values the linux profile polls would be unknown" \
	"$W/sun.out" || fail "no note that the host's storage and processors would be unknown"
check_config "$W/sun.out"

log "snmpsim's Windows XP host (recorded/winxp-full-walk): a note on its adapters"
agent --discover 127.0.0.1 --port "$sim_port" --community winxp-full-walk >"$W/win.out" \
	2>"$W/win.err" || { cat "$W/win.out" "$W/win.err"; fail "--discover of the Windows host failed"; }
cat "$W/win.out" >&2
grep -qx '  profile *= "windows"' <<<"$(section CRAY "$W/win.out")" || fail "the Windows host is not a windows"
grep -qxF '#   note:        Windows reports every adapter as meant to be up (ifAdminStatus): one unplugged or off (Bluetooth, Wi-Fi) is "down" and pages by an interface-down rule; name the ports to watch in interfaces, or leave the others out with exclude' \
	"$W/win.out" || fail "no note on a Windows host's adapters"
grep -q "HOST-RESOURCES-MIB does not answer" "$W/win.out" && fail "a note of HOST-RESOURCES-MIB missing where it answers"
check_config "$W/win.out"

log "sweeping a routed /24 where nothing answers: 64 addresses at once, never one after another"
ip route add 10.99.1.0/24 via 10.99.0.2
agent --discover 10.99.1.0/24 --community "$community" --timeout 0.5 --retries 0 \
	>"$W/empty.out" 2>"$W/empty.err" || { cat "$W/empty.err"; fail "--discover of an empty /24 failed"; }
cat "$W/empty.err" >&2
[ ! -s "$W/empty.out" ] || { cat "$W/empty.out"; fail "sections printed for a subnet where nothing answers"; }
secs=$(sed -n 's|^vakt-agent --discover 10.99.1.0/24: 254 addresses tried, 0 answered, 0 skipped, in \([0-9.]*\) s$|\1|p' \
	"$W/empty.err")
[ -n "$secs" ] || fail "no summary for the empty /24"
# 254 addresses, 64 at a time, 0.5 s each: 4 rounds of 0.5 s
awk -v t="$secs" -v slow="$SLOW" 'BEGIN { exit !(t >= 1.9 && t <= 6 * slow) }' || fail "the empty /24 took $secs s, not 4 rounds of 0.5 s"
# a subnet without a route: one line for all its addresses, and the count
agent --discover 10.99.2.0/28 --community "$community" --timeout 0.5 >"$W/noroute.out" \
	2>"$W/noroute.err" || { cat "$W/noroute.err"; fail "--discover of an unrouted /28 failed"; }
[ "$(grep -c "not asked: cannot send: .*Network is unreachable" "$W/noroute.err")" = 1 ] ||
	{ cat "$W/noroute.err"; fail "the unrouted /28 is not one line"; }
grep -qE "^vakt-agent --discover 10.99.2.0/28: 14 addresses tried, 0 answered, 0 skipped, 14 not asked, in [0-9.]+ s$" \
	"$W/noroute.err" || { cat "$W/noroute.err"; fail "no count of the addresses not asked"; }

log "sweeping with a v3 user only 10.99.0.2 knows"
# the passwords from the environment, out of sight of ps
VAKT_SNMP_AUTH_PASSWORD="vakt-auth-$$" VAKT_SNMP_PRIV_PASSWORD="vakt-priv-$$" \
	agent --discover 10.99.0.0/29 --v3-user vaktdisc --auth-protocol SHA --priv-protocol AES \
	--timeout 1 --retries 1 >"$W/v3.out" 2>"$W/v3.err" ||
	{ cat "$W/v3.out" "$W/v3.err"; fail "--discover with v3 failed"; }
cat "$W/v3.out" "$W/v3.err" >&2
names=$(sed -n 's/^snmp "\(.*\)" {$/\1/p' "$W/v3.out" | tr '\n' ' ')
[ "$names" = "core-sw1 " ] || fail "v3 sections: $names"
grep -q "vakt-auth-$$\|vakt-priv-$$" "$W/v3.out" "$W/v3.err" && fail "a v3 password was printed"
grep -qx '  security_level *= "authPriv"' "$W/v3.out" || fail "no security_level"
grep -qx '10.99.0.3: skipped: the device does not know SNMPv3 user "vaktdisc" (usmStatsUnknownUserNames)' \
	"$W/v3.err" || fail "the refusal of 10.99.0.3 was not reported"
check_config "$W/v3.out"
agent --discover 10.99.0.2/32 --v3-user vaktdisc --auth-password "vakt-auth-$$" \
	--priv-password "vakt-priv-$$" --print-secrets --timeout 0.5 >"$W/v3s.out" 2>"$W/v3s.err" ||
	{ cat "$W/v3s.out" "$W/v3s.err"; fail "--discover --print-secrets failed"; }
grep -qx "  auth_password *= \"vakt-auth-$$\"" "$W/v3s.out" || fail "--print-secrets: no auth_password"
grep -qx "  priv_password *= \"vakt-priv-$$\"" "$W/v3s.out" || fail "--print-secrets: no priv_password"
check_config "$W/v3s.out"
log "passwords with quotes, a backslash and '\${' are printed as the config reads them back"
agent --discover 10.99.0.2/32 --v3-user vaktq --auth-password 'q"${HOME}\z-auth' \
	--priv-password 'p${x}"priv-pw' --print-secrets --timeout 0.5 >"$W/v3q.out" 2>"$W/v3q.err" ||
	{ cat "$W/v3q.out" "$W/v3q.err"; fail "--discover --print-secrets of vaktq failed"; }
grep -qxF '  auth_password  = "q\"\${HOME}\\z-auth"' "$W/v3q.out" &&
	grep -qxF '  priv_password  = "p\${x}\"priv-pw"' "$W/v3q.out" ||
	{ cat "$W/v3q.out" "$W/v3q.err"; fail "the passwords of vaktq are not escaped"; }
check_config "$W/v3q.out"

log "bad input"
bad() {
	want=$1
	shift
	set +e
	out=$(agent "$@" 2>&1 >/dev/null)
	rc=$?
	set -e
	[ "$rc" = 2 ] || fail "$* exited with $rc, not 2"
	[ "$out" = "vakt-agent --discover: $want" ] || fail "$*: $out"
}
bad '"10.0.0.0/8" holds 16777216 addresses: at most a /16 (65536 addresses) is swept at once; sweep it in parts' \
	--discover 10.0.0.0/8 --community "$community"
bad '"10.99.0/29": "10.99.0" is not an IPv4 address (e.g. 10.1.0.0/24)' \
	--discover 10.99.0/29 --community "$community"
bad 'missing --community COMMUNITY (v2c; v1 with --snmp-version 1; or VAKT_SNMP_COMMUNITY in the environment) or --v3-user USER (v3)' \
	--discover 10.99.0.0/29
bad '--auth-password must have 8 to 1024 characters' \
	--discover 10.99.0.0/29 --v3-user vaktdisc --auth-password short
echo "PASS: --discover printed the four devices with their profiles, skipped the junk, found the v3 device without printing its passwords, and refused bad input"
