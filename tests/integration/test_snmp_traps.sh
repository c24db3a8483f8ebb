#!/bin/bash
# test_snmp_traps.sh - traps and informs reach the on-call pager: an agent
# with a trap listener on 127.0.0.1 receives a v2c linkDown (snmptrap), a v2c
# inform (snmpinform, answered), a v3 authPriv SHA/AES linkDown sent with
# the sender's engine ID and a v1 linkDown; each reaches the collector as an event and fires
# the "link-down" event rule once with the interface's name, and a linkUp of
# the same interface resolves it. The device is polled by an snmp section
# too: its pages name it as that section does ("core-sw"), not by address. A trap from 127.0.0.2, not in `hosts`, is
# refused with a line naming it; garbage is a line naming its sender. A
# flood from 800 allowed addresses to a listener of `senders = 100` gets no
# fresh burst per address, and the full table is said once. An
# ifName and ifAlias that are not UTF-8 reach the page as '?'. The device
# is snmpsim's cisco_16_switch: a rule with varbinds = {"ifAdminStatus!=down"}
# pages for a linkDown of a port that is up, not for one shut on purpose,
# whether the trap says ifAdminStatus or the agent's last poll of the port does.
set -eu
. "$(dirname "$0")/lib.sh"
SLOW=$([ -n "${VAKT_VALGRIND:-}" ] && echo 3 || echo 1)
need_tools snmptrap snmpinform snmpsimd python3
W=$(mktemp -d /tmp/vakt-it-traps.XXXXXX)
trap 'cleanup && s=0 || s=$?; [ -n "${KEEP:-}" ] || rm -rf "$W"; exit $s' EXIT

trap_port=$(free_port udp)
snmp_port=$(free_port udp)
slow_port=$(free_port udp)
twin_port=$(free_port udp)
col_port=$(free_port tcp)
community="traps$$"
engine=0x8000000001020304
{ pager_channel "$W"; cat <<EOC; } | write_collector_conf "$W" "$col_port"
rule "link-down" {
  kind = "event"
  metric = "linkDown"
  cleared_by = "linkUp"
  channels = {"oncall"}
}
rule "used-port-down" {
  kind = "event"
  metric = "linkDown"
  instance = "Fa3/0/*"
  varbinds = {"ifAdminStatus!=down"}
  channels = {"oncall"}
}
rule "restarted" {
  kind = "event"
  metric = "coldStart"
  channels = {"oncall"}
}
EOC
cat >"$W/agent.conf" <<EOC
site = "rissa"
insecure = yes
collector "dc1" { address = "127.0.0.1:$col_port" }
snmp "core-sw" {
  address = "127.0.0.1:$snmp_port"
  community = "cisco_16_switch"
  interfaces = "all"
  interval = 5
  timeout = 2000
}
probe "traps" {
  kind = "trap"
  address = "127.0.0.1:$trap_port"
  host = "agent1"
  hosts = {"127.0.0.1"}
  communities = {"$community"}
  security_name = "vakttrap"
  auth_protocol = "sha"
  auth_password = "trap-auth-secret"
  priv_protocol = "aes128"
  priv_password = "trap-priv-secret"
  engine_ids = {"$engine"}
  interval = 1
  timeout = 500
}
probe "slowtraps" {
  kind = "trap"
  address = "127.0.0.1:$slow_port"
  hosts = {"127.0.0.0/8"}
  rate = 1
  burst = 2
  senders = 100
  interval = 1
  timeout = 500
}
# the same v3 user with other passwords: refused, and "traps" keeps its keys
probe "twintraps" {
  kind = "trap"
  address = "127.0.0.1:$twin_port"
  hosts = {"127.0.0.1"}
  security_name = "vakttrap"
  auth_password = "twin-auth-secret"
  priv_password = "twin-priv-secret"
  interval = 1
  timeout = 500
}
EOC
# the polled device: Fa3/0/1 and Fa3/0/2 are up (ifAdminStatus 1), Fa3/0/46 and Fa3/0/47 shut (2)
mkdir -p "$W/sim"
zcat /usr/share/doc/snmpsim/examples/data/cisco_16_switch.snmprec.gz >"$W/sim/cisco_16_switch.snmprec"
start_snmpsim "$W" "$snmp_port" cisco_16_switch
start_collector "$W" "$col_port"
start agent "$W/agent.log" "$VAKT_BIN/vakt-agent" -f -v -c "$W/agent.conf"
log_has "$W/agent.log" "trap listener \"traps\": listening on UDP 127.0.0.1:$trap_port"
log_has "$W/agent.log" "trap listener \"slowtraps\": listening on UDP 127.0.0.1:$slow_port"
log_has "$W/agent.log" "check \"twintraps\" (trap): SNMPv3 user \"vakttrap\" is also trap listener \"traps\"'s, with other protocols or passwords"

# pages of the traps (twintraps, which never starts, may page as unreachable too)
pages() { if [ -f "$W/pages.log" ]; then grep "^$1" "$W/pages.log" | grep -vc " twintraps | " || true; else echo 0; fi; }
pages_are() { [ "$(pages "$1")" = "$2" ]; }
show() { cat "$W/pages.log" 2>/dev/null || true; tail -n 30 "$W/agent.log" "$W/collector.log" || true; }
# linkDown/linkUp of ifIndex IDX named NAME, sent as v2c trap (snmptrap) or inform (snmpinform)
link() { # CMD VERSION_ARGS... -- TRAP IDX NAME
	cmd=$1
	shift
	args=()
	while [ "$1" != -- ]; do args+=("$1"); shift; done
	shift
	MIBS= "$cmd" "${args[@]}" -t 1 -r 2 "127.0.0.1:$trap_port" '' "1.3.6.1.6.3.1.1.5.$1" \
		"1.3.6.1.2.1.2.2.1.1.$2" i "$2" "1.3.6.1.2.1.2.2.1.7.$2" i 1 \
		"1.3.6.1.2.1.2.2.1.8.$2" i $([ "$1" = 3 ] && echo 2 || echo 1) \
		"1.3.6.1.2.1.31.1.1.1.1.$2" s "$3"
}
v2c=(-v 2c -c "$community")
v3=(-v 3 -l authPriv -u vakttrap -a SHA -A trap-auth-secret -x AES -X trap-priv-secret)

log "v2c linkDown of Gi0/3"
link snmptrap "${v2c[@]}" -- 3 3 Gi0/3
wait_for $((10 * SLOW)) pages_are "firing link-down" 1 || { show; fail "no page for the v2c linkDown"; }
grep -q "^firing link-down rissa core-sw traps | linkDown on core-sw interface Gi0/3 (trap 1.3.6.1.6.3.1.1.5.3 from 127.0.0.1:[0-9]*): ifIndex.3=3 ifAdminStatus.3=1 ifOperStatus.3=2 ifName.3=\"Gi0/3\"$" "$W/pages.log" ||
	{ show; fail "the page does not name the device, the interface, the trap and its varbinds"; }
log "the same linkDown again: no second page"
link snmptrap "${v2c[@]}" -- 3 3 Gi0/3

log "v2c inform: linkDown of Gi0/4, answered"
link snmpinform "${v2c[@]}" -- 3 4 Gi0/4 || { show; fail "snmpinform got no answer"; }
wait_for $((10 * SLOW)) pages_are "firing link-down" 2 || { show; fail "no page for the inform"; }
grep -q "^firing link-down rissa core-sw traps | linkDown on core-sw interface Gi0/4 " "$W/pages.log" ||
	{ show; fail "the inform's page does not name Gi0/4"; }

log "an inform sent 3 times with one request-id (its answers lost): 3 answers, 1 event"
python3 -c "
import socket
def tlv(t, v): return bytes([t, len(v)]) + v
def oid(x): return tlv(0x06, x)
vbs = tlv(0x30, tlv(0x30, oid(bytes.fromhex('2b06010201010300')) + tlv(0x43, b'\\x01')) +
      tlv(0x30, oid(bytes.fromhex('2b060106030101040100')) + oid(bytes.fromhex('2b06010401868d1f004d'))))
pdu = tlv(0xa6, tlv(0x02, b'\\x12\\x34') + tlv(0x02, b'\\x00') + tlv(0x02, b'\\x00') + vbs)
msg = tlv(0x30, tlv(0x02, b'\\x01') + tlv(0x04, b'$community') + pdu)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
for _ in range(3):
    s.sendto(msg, ('127.0.0.1', $trap_port))
    r = s.recv(65535)
    assert r[r.index(b'$community') + len(b'$community')] == 0xa2, r.hex()
" || fail "a resent inform was not answered"
log_has "$W/agent.log" "resent inform 4660 (2 so far)"
[ "$(grep -c ": 1.3.6.1.4.1.99999.0.77 from 127.0.0.1:" "$W/agent.log")" = 1 ] ||
	fail "a resent inform became an event again"

log "v3 authPriv SHA/AES trap with engine ID $engine: linkDown of Gi0/5"
link snmptrap "${v3[@]}" -e "$engine" -- 3 5 Gi0/5
wait_for $((10 * SLOW)) pages_are "firing link-down" 3 || { show; fail "no page for the v3 trap"; }
grep -q "^firing link-down rissa core-sw traps | linkDown on core-sw interface Gi0/5 " "$W/pages.log" ||
	{ show; fail "the v3 trap's page does not name Gi0/5"; }

log "v1 linkDown (generic-trap 2) of ifIndex 6, no name in its varbinds"
MIBS= snmptrap -v 1 -c "$community" "127.0.0.1:$trap_port" 1.3.6.1.4.1.8072 127.0.0.1 2 0 '' \
	1.3.6.1.2.1.2.2.1.1.6 i 6 1.3.6.1.2.1.2.2.1.8.6 i 2
wait_for $((10 * SLOW)) pages_are "firing link-down" 4 || { show; fail "no page for the v1 trap"; }
grep -q "^firing link-down rissa core-sw traps | linkDown on core-sw interface 6 (trap 1.3.6.1.6.3.1.1.5.3 from 127.0.0.1:[0-9]*): agent-addr=127.0.0.1 ifIndex.6=6 ifOperStatus.6=2$" "$W/pages.log" ||
	{ show; fail "the v1 trap's page does not name ifIndex 6"; }

log "v2c linkDown of a port whose ifName and ifAlias are not UTF-8 (Gi0/ and 0xff, Latin-1 kjøkken)"
MIBS= snmptrap "${v2c[@]}" "127.0.0.1:$trap_port" '' 1.3.6.1.6.3.1.1.5.3 1.3.6.1.2.1.2.2.1.1.7 i 7 \
	1.3.6.1.2.1.31.1.1.1.1.7 x 4769302fff 1.3.6.1.2.1.31.1.1.1.18.7 x 6b6af86b6b656e
wait_for $((10 * SLOW)) pages_are "firing link-down" 5 || { show; fail "no page for the linkDown of a port named outside UTF-8"; }
grep -qF 'linkDown on core-sw interface Gi0/? (trap 1.3.6.1.6.3.1.1.5.3 from 127.0.0.1:' "$W/pages.log" &&
	grep -qF 'ifName.7="Gi0/?" ifAlias.7="kj?kken"' "$W/pages.log" ||
	{ show; fail "the page does not show the bytes outside UTF-8 as '?'"; }
! LC_ALL=C grep -q "$(printf '[\200-\377]')" <(grep "Gi0/?" "$W/pages.log") ||
	{ show; fail "bytes outside UTF-8 reached the page"; }

log "v3 inform (the sender discovers the listener's engine ID): coldStart"
MIBS= snmpinform "${v3[@]}" -t 1 -r 2 "127.0.0.1:$trap_port" '' 1.3.6.1.6.3.1.1.5.1 ||
	{ show; fail "the v3 inform got no answer"; }
wait_for $((10 * SLOW)) pages_are "firing restarted" 1 || { show; fail "no page for the v3 inform"; }

log "linkUp of Gi0/3 resolves its alert only"
link snmptrap "${v2c[@]}" -- 4 3 Gi0/3
wait_for $((10 * SLOW)) pages_are "resolved link-down" 1 || { show; fail "linkUp resolved nothing"; }
grep -q "^resolved link-down rissa core-sw traps | linkUp (clears linkDown) on core-sw interface Gi0/3 " "$W/pages.log" ||
	{ show; fail "the recovery does not name Gi0/3"; }

# a v2c linkDown of ifIndex IDX named NAME, with ifAdminStatus ADMIN ("": none)
link_down_admin() { # IDX NAME ADMIN
	adm=()
	[ -z "$3" ] || adm=("1.3.6.1.2.1.2.2.1.7.$1" i "$3")
	MIBS= snmptrap "${v2c[@]}" "127.0.0.1:$trap_port" '' 1.3.6.1.6.3.1.1.5.3 \
		"1.3.6.1.2.1.2.2.1.1.$1" i "$1" "${adm[@]}" "1.3.6.1.2.1.2.2.1.8.$1" i 2 \
		"1.3.6.1.2.1.31.1.1.1.1.$1" s "$2"
}
log "linkDown of Fa3/0/46 saying ifAdminStatus down, and of Fa3/0/47 (shut when polled) saying none"
wait_for $((10 * SLOW)) test -f "$W/rrd/rissa/core-sw/if-Fa3_0_47.rrd" ||
	{ ls "$W/rrd/rissa/core-sw" || true; show; fail "core-sw's ports were not polled"; }
link_down_admin 11046 Fa3/0/46 2
link_down_admin 11047 Fa3/0/47 ""
log "linkDown of Fa3/0/1 saying ifAdminStatus up, and of Fa3/0/2 (up when polled) saying none"
link_down_admin 11001 Fa3/0/1 1
link_down_admin 11002 Fa3/0/2 ""
wait_for $((10 * SLOW)) pages_are "firing used-port-down" 2 || { show; fail "no page for the linkDowns of ports that are up"; }
grep -q "^firing used-port-down rissa core-sw traps | linkDown on core-sw interface Fa3/0/1 (trap 1.3.6.1.6.3.1.1.5.3 from 127.0.0.1:[0-9]*): ifIndex.11001=11001 ifAdminStatus.11001=1 ifOperStatus.11001=2 ifName.11001=\"Fa3/0/1\"$" "$W/pages.log" &&
	grep -q "^firing used-port-down rissa core-sw traps | linkDown on core-sw interface Fa3/0/2 (trap 1.3.6.1.6.3.1.1.5.3 from 127.0.0.1:[0-9]*): ifIndex.11002=11002 ifOperStatus.11002=2 ifName.11002=\"Fa3/0/2\" ifAdminStatus.11002=1 (polled)$" "$W/pages.log" ||
	{ show; fail "the pages of ports that are up do not say their ifAdminStatus"; }
wait_for $((10 * SLOW)) pages_are "firing link-down" 9 || { show; fail "the rule without varbinds did not page all four"; }
grep -q "^firing link-down rissa core-sw traps | linkDown on core-sw interface Fa3/0/47 .* ifName.11047=\"Fa3/0/47\" ifAdminStatus.11047=2 (polled)$" "$W/pages.log" ||
	{ show; fail "the linkDown of Fa3/0/47 does not carry its polled ifAdminStatus"; }
grep -q "^firing used-port-down .* interface Fa3/0/4[67] " "$W/pages.log" &&
	{ show; fail "a linkDown of a port shut on purpose paged"; }

log "a trap from 127.0.0.2 (not in hosts), a wrong community and garbage"
MIBS= snmptrap "${v2c[@]}" --clientaddr=127.0.0.2 "127.0.0.1:$trap_port" '' 1.3.6.1.6.3.1.1.5.3
log_has "$W/agent.log" "trap listener \"traps\" (127.0.0.1:$trap_port): refused a packet from 127.0.0.2:"
MIBS= snmptrap -v 2c -c "wrong$community" "127.0.0.1:$trap_port" '' 1.3.6.1.6.3.1.1.5.3
log_has "$W/agent.log" "refused packet from 127.0.0.1:"
log_has "$W/agent.log" ": a community not in communities (1 so far)"
grep -q "wrong$community" "$W/agent.log" && fail "a community reached the log"
MIBS= snmptrap "${v3[@]}" -A wrong-auth-secret -e "$engine" "127.0.0.1:$trap_port" '' 1.3.6.1.6.3.1.1.5.3
log_has "$W/agent.log" ": v3 authentication failed (wrong auth password?)"
log "a v3 trap with the wrong priv password: said so, not called malformed"
MIBS= snmptrap "${v3[@]}" -X wrong-priv-secret -e "$engine" "127.0.0.1:$trap_port" '' 1.3.6.1.6.3.1.1.5.3
log_has "$W/agent.log" ": a v3 message that does not decrypt (wrong priv password?)"
log "v3 traps of the listener's user without its keys (noAuthNoPriv, authNoPriv): refused"
MIBS= snmptrap -v 3 -l noAuthNoPriv -u vakttrap -e "$engine" "127.0.0.1:$trap_port" '' \
	1.3.6.1.6.3.1.1.5.3 1.3.6.1.2.1.31.1.1.1.1.9 s forged
MIBS= snmptrap -v 3 -l authNoPriv -u vakttrap -a SHA -A trap-auth-secret -e "$engine" \
	"127.0.0.1:$trap_port" '' 1.3.6.1.6.3.1.1.5.3 1.3.6.1.2.1.31.1.1.1.1.9 s forged
log_has "$W/agent.log" ": a v3 message not from security_name at its security level ("
sleep 0.5
grep -q "forged" "$W/pages.log" && fail "a v3 trap without the listener's keys was paged"
log "10 more v3 traps with the wrong auth password: net-snmp's own line is not repeated"
for _ in $(seq 1 10); do
	MIBS= snmptrap "${v3[@]}" -A wrong-auth-secret -e "$engine" "127.0.0.1:$trap_port" '' 1.3.6.1.6.3.1.1.5.3
done
sleep 0.5
[ "$(grep -c "net-snmp: Authentication failed" "$W/agent.log")" -le 1 ] ||
	{ grep "net-snmp:" "$W/agent.log"; fail "each bad v3 packet got a log line of its own"; }
python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for p in (b'\x30\x03\x02\x01', b'garbage', b'\x30\x82\xff\xff' + b'\x00' * 64):
    s.sendto(p, ('127.0.0.1', $trap_port))
"
log_has "$W/agent.log" "unreadable packet from 127.0.0.1:"
log "20 traps with 20 different PDU types: net-snmp's complaint is logged once, not per type"
python3 -c "
import socket, time
def tlv(t, v): return bytes([t, len(v)]) + v
vb = tlv(0x30, tlv(0x30, tlv(0x06, bytes.fromhex('2b06010201010300')) + tlv(0x43, b'\\x01')))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for tag in range(0xa9, 0xa9 + 20):
    pdu = tlv(tag, tlv(0x02, b'\\x01') + tlv(0x02, b'\\x00') + tlv(0x02, b'\\x00') + vb)
    s.sendto(tlv(0x30, tlv(0x02, b'\\x01') + tlv(0x04, b'any') + pdu), ('127.0.0.1', $trap_port))
    time.sleep(0.1)
"
log_has "$W/agent.log" "net-snmp: Bad PDU type received"
[ "$(grep -c "net-snmp: Bad PDU type received" "$W/agent.log")" = 1 ] ||
	{ grep "net-snmp:" "$W/agent.log"; fail "each PDU type got a line of its own"; }

log "8 traps at once to a listener of rate 1/s, burst 2: the excess is dropped, said once"
for i in $(seq 1 8); do
	MIBS= snmptrap -v 2c -c any "127.0.0.1:$slow_port" '' 1.3.6.1.4.1.99999.0.$i
done
log_has "$W/agent.log" "trap listener \"slowtraps\" (127.0.0.1:$slow_port): 127.0.0.1:"
[ "$(grep -c "sends more than 1 traps a second (burst 2): the excess is dropped" "$W/agent.log")" = 1 ] ||
	fail "the excess is not logged exactly once"

log "800 allowed senders, 2 traps each, to slowtraps: 100 have a burst of their own, the rest share one"
slow_rrd=$(find "$W/rrd/rissa" -name slowtraps.rrd | head -n 1)
[ -n "$slow_rrd" ] || { find "$W/rrd"; fail "no file for the slowtraps listener"; }
# slow_accepted: the traps slowtraps let through since it started, as stored
slow_accepted() { rrd_flush "$W"; rrd_last "$slow_rrd" traps; }
before=$(slow_accepted)
elapsed=$(python3 -c "
import socket, time
def tlv(t, v): return bytes([t, len(v)]) + v
vbs = tlv(0x30, tlv(0x30, tlv(0x06, bytes.fromhex('2b06010201010300')) + tlv(0x43, b'\x01')) +
      tlv(0x30, tlv(0x06, bytes.fromhex('2b060106030101040100')) + tlv(0x06, bytes.fromhex('2b06010401868d1f0009'))))
pdu = tlv(0xa7, tlv(0x02, b'\x01') + tlv(0x02, b'\x00') + tlv(0x02, b'\x00') + vbs)
msg = tlv(0x30, tlv(0x02, b'\x01') + tlv(0x04, b'any') + pdu)
t0 = time.monotonic()
for i in range(800):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('127.0.%d.%d' % (1 + i // 250, 1 + i % 250), 0))
    for _ in range(2):
        s.sendto(msg, ('127.0.0.1', $slow_port))
    s.close()
    time.sleep(0.001)
print(int(time.monotonic() - t0) + 1)
")
got_first_bursts() { [ "$(slow_accepted)" -ge $((before + 200)) ]; }
wait_for $((10 * SLOW)) got_first_bursts ||
	{ show; fail "the 100 senders the listener tracks did not get their bursts (before $before, now $(slow_accepted))"; }
log_has "$W/agent.log" "trap listener \"slowtraps\" (127.0.0.1:$slow_port): table of 100 senders is full: senders past it (127.0."
[ "$(grep -c "table of 100 senders is full" "$W/agent.log")" = 1 ] || fail "the full table was not said exactly once"
log_has "$W/agent.log" "packets let through from senders past the table of 100"
# the runs after the flood bring no more
sleep 2
accepted=$(( $(slow_accepted) - before ))
# 101 buckets of burst 2, refilling at 1/s while the senders sent; a fresh
# burst for every address would have let all 1,600 through
bound=$(( 101 * 2 + 101 * elapsed ))
log "slowtraps let $accepted of 1600 traps through in $elapsed s (at most $bound)"
[ "$accepted" -le "$bound" ] ||
	fail "a flood from 800 addresses got $accepted traps through, more than 101 senders' rate and burst ($bound)"
sleep 1
[ "$(pages firing)" = 12 ] && [ "$(pages resolved)" = 1 ] ||
	{ show; fail "expected 12 pages and 1 recovery, got $(pages firing) and $(pages resolved)"; }
grep -q "trap-auth-secret\|trap-priv-secret\|wrong-auth-secret\|twin-auth-secret\|twin-priv-secret" "$W/agent.log" "$W/collector.log" &&
	fail "a v3 password reached a log"
kill -0 "$PID_agent" 2>/dev/null || fail "the agent died"
# never stored: the listener's own file holds its counters, no file has an event
[ -z "$(find "$W/rrd" -name '*Gi0*')" ] || fail "an event was written to an RRD file"
echo "PASS: v2c, inform, v3 and v1 traps paged once with the interface; linkUp resolved; ports shut on purpose (trap or poll) not paged by ifAdminStatus!=down; refusals logged"
