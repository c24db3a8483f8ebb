#!/bin/bash
# test_snmp_interfaces.sh - a real snmpd whose interface tables come from a
# pass_persist script this test writes: a device with 32-bit counters only,
# one of which wraps during the test, and one OID that answers genErr. With
# interfaces = "all" every port gets one file; ifName, ifDescr and ifIndex in
# the config name the same series; the rate across the wrap is right; the
# error loses that value only; a renumbered port and an snmpd restart (its
# counters start again) give unknowns, never a spike. Polled over v2c (GETBULK)
# and v1 (GETNEXT).
set -eu
. "$(dirname "$0")/lib.sh"
need_tools snmpd snmpget rrdtool python3
W=$(mktemp -d /tmp/vakt-it-interfaces.XXXXXX)
trap 'cleanup && s=0 || s=$?; [ -n "${KEEP:-}" ] || rm -rf "$W"; exit $s' EXIT

snmp_port=$(free_port udp)
dead_port=$(free_port udp)
col_port=$(free_port tcp)
community="vakt$$"
RATE=100000000 # bytes/s on Gi0/1

# The device: ports, and counters that grow at a fixed rate from `epoch`
# (wall clock), modulo 2^32 as a 32-bit counter does. dev.json is read at
# every request, so the test changes the device by rewriting it.
cat >"$W/dev.py" <<EOS
#!/usr/bin/python3 -u
import json, sys, time
STATE = "$W/dev.json"
IFT, IFXT = ".1.3.6.1.2.1.2.2.1", ".1.3.6.1.2.1.31.1.1.1"
def table():
    st = json.load(open(STATE))
    t = time.time() - st["epoch"]
    rows = {}
    for p in st["ports"]:
        i = p["idx"]
        c = lambda base, rate: ("counter", str(int(base + rate * t) % 2**32))
        rows.update({
            f"{IFT}.1.{i}": ("integer", str(i)), f"{IFT}.2.{i}": ("string", p["descr"]),
            f"{IFT}.3.{i}": ("integer", str(p["type"])), f"{IFT}.5.{i}": ("gauge", "1000000000"),
            f"{IFT}.7.{i}": ("integer", str(p["admin"])), f"{IFT}.8.{i}": ("integer", str(p["oper"])),
            f"{IFT}.10.{i}": c(p["in"], p["rate"]), f"{IFT}.11.{i}": c(1000, 10),
            f"{IFT}.13.{i}": c(0, 0), f"{IFT}.14.{i}": c(7, 0),
            f"{IFT}.16.{i}": c(p["out"], p["rate"] // 2), f"{IFT}.17.{i}": c(2000, 5),
            f"{IFT}.19.{i}": c(0, 0), f"{IFT}.20.{i}": c(3, 0),
            f"{IFXT}.1.{i}": ("string", p["name"]), f"{IFXT}.15.{i}": ("gauge", "1000"),
            f"{IFXT}.18.{i}": ("string", p["alias"]),
        })
    return rows
def key(o): return [int(x) for x in o.strip(".").split(".")]
while True:
    cmd = sys.stdin.readline()
    if not cmd: break
    cmd = cmd.strip()
    if cmd == "PING": print("PONG"); continue
    if cmd == "set":
        sys.stdin.readline(); sys.stdin.readline(); print("not-writable"); continue
    if cmd not in ("get", "getnext"): continue
    oid = sys.stdin.readline().strip()
    rows = table()
    if cmd == "get":
        hit = oid if oid in rows else None
    else:
        later = sorted((o for o in rows if key(o) > key(oid)), key=key)
        hit = later[0] if later else None
    if hit is None: print("NONE")
    else: print(hit); print(rows[hit][0]); print(rows[hit][1])
EOS
chmod +x "$W/dev.py"
# write_dev EPOCH GI01_INDEX GI01_IN: the device's state
write_dev() {
	cat >"$W/dev.json.new" <<EOJ
{"epoch": $1, "ports": [
 {"idx": 1, "name": "Vl1", "descr": "Vlan1", "alias": "", "type": 53, "admin": 1, "oper": 1, "in": 5000, "out": 5000, "rate": 1000},
 {"idx": $2, "name": "Gi0/1", "descr": "GigabitEthernet0/1", "alias": "uplink", "type": 6, "admin": 1, "oper": 1, "in": $3, "out": 0, "rate": $RATE},
 {"idx": 3, "name": "Gi0/2", "descr": "GigabitEthernet0/2", "alias": "", "type": 6, "admin": 2, "oper": 2, "in": 0, "out": 0, "rate": 0},
 {"idx": 4, "name": "Gi0/3", "descr": "GigabitEthernet0/3", "alias": "printer room", "type": 6, "admin": 1, "oper": 2, "in": 100, "out": 100, "rate": 10}
]}
EOJ
	mv "$W/dev.json.new" "$W/dev.json"
}
epoch=$(date +%s)
# Gi0/1's ifInOctets wraps 9 s after the start
write_dev "$epoch" 2 $(( 4294967296 - 9 * RATE ))

# the real interface modules are left out (-I): the script's tables are the device's;
# ifInErrors of Gi0/3 is proxied to a port nobody answers, which snmpd reports as genErr
start_dev() {
	cat >"$W/snmpd.conf" <<EOC
agentAddress udp:127.0.0.1:$snmp_port
rocommunity $community 127.0.0.1
pass_persist .1.3.6.1.2.1.2.2.1 $W/dev.py
pass_persist .1.3.6.1.2.1.31.1.1.1 $W/dev.py
proxy -v 2c -c none -t 0.1 -r 0 127.0.0.1:$dead_port .1.3.6.1.2.1.2.2.1.14.4
EOC
	MIBS= start snmpd "$W/snmpd.log" /usr/sbin/snmpd -f -Lo -C -c "$W/snmpd.conf" \
		-p "$W/snmpd.pid" -I -ifTable,ifXTable,interfaces
	wait_for 10 snmpget -v2c -c "$community" -t 1 -r 0 "127.0.0.1:$snmp_port" 1.3.6.1.2.1.31.1.1.1.1.1 ||
		fail "snmpd did not answer on 127.0.0.1:$snmp_port (see $W/snmpd.log)"
}
start_dev

write_collector_conf "$W" "$col_port" </dev/null
section() { # TITLE VERSION INTERFACES
	cat <<EOC
snmp "$1" {
  address = "127.0.0.1:$snmp_port"
  community = "$community"
  version = "$2"
  interfaces = $3
  interval = 1
  timeout = 800
  retries = 0
}
EOC
}
{
	cat <<EOC
site = "rissa"
insecure = yes
collector "dc1" { address = "127.0.0.1:$col_port" }
EOC
	section sw 2c '"all"'
	section sw-v1 1 '{"*"}'
	section byname 2c '{"Gi0/1"}'
	section bydescr 2c '{"GigabitEthernet0/1"}'
	section byindex 2c '{"2"}'
} >"$W/agent.conf"
start_collector "$W" "$col_port"
start agent "$W/agent.log" "$VAKT_BIN/vakt-agent" -f -v -c "$W/agent.conf"

R="$W/rrd/rissa"
ifiles() { ls "$R/$1" 2>/dev/null | grep '^if-' | tr '\n' ' '; }
files_are() { [ "$(ifiles "$1")" = "$2" ]; }
all4="if-Gi0_1.rrd if-Gi0_2.rrd if-Gi0_3.rrd if-Vl1.rrd "
wait_for 30 files_are sw "$all4" || { tail -n 30 "$W/agent.log"; fail "sw has files: $(ifiles sw)"; }
t_first=$(date +%s)
wait_for 30 files_are sw-v1 "$all4" || { tail -n 30 "$W/agent.log"; fail "sw-v1 has files: $(ifiles sw-v1)"; }
for h in byname bydescr byindex; do
	wait_for 15 files_are $h "if-Gi0_1.rrd " || fail "$h has files $(ifiles $h), not the one of Gi0/1"
done

# rates FILE DS FROM TO: the per-second rates rrdtool stored, "time rate" a line
# ("nan" where unknown)
rates() {
	rrdtool fetch "$1" AVERAGE -r 1 -s "$3" -e "$4" |
		awk -v ds="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == ds) c = i + 1; next }
			c && NF > 1 { t = $1; sub(":", "", t); print t, ($c ~ /nan/ ? "nan" : sprintf("%.0f", $c)) }'
}
# rate_ok FILE FROM TO: a known rate at every step, each within 50 % of RATE: no
# spike, no dip, and no unknown where a wrap was taken for a reset. The steps
# are 1 s, and a poll answered late on a busy machine moves a step's rate by a
# few tenths; a wrap taken wrongly is off by 2^32 bytes, 40 times RATE.
rate_ok() {
	rrd_flush "$W"
	rates "$1" in_octets "$2" "$3" | awk -v to="$3" '$1 < to' >"$W/rates"
	[ "$(wc -l <"$W/rates")" -ge $(( $3 - $2 - 1 )) ] &&
		awk -v r=$RATE '$2 == "nan" || $2 < 0.5 * r || $2 > 1.5 * r { bad = 1 } END { exit bad }' "$W/rates"
}
# no_spike FILE FROM TO MIN: at least MIN known rates, none above RATE by more than 50 %
# (a step that is partly unknown averages lower: a dip is what an unknown leaves)
no_spike() {
	rrd_flush "$W"
	rates "$1" in_octets "$2" "$3" | grep -v nan >"$W/rates"
	[ "$(wc -l <"$W/rates")" -ge "$4" ] &&
		awk -v r=$RATE '$2 > 1.5 * r { bad = 1 } END { exit bad }' "$W/rates"
}
# no_spike_after T WHAT: 4 s after T, Gi0/1 of both devices has rates again and no spike
no_spike_after() {
	sleep 4
	for h in sw sw-v1; do
		no_spike "$R/$h/if-Gi0_1.rrd" $(( $1 - 2 )) $(( $1 + 4 )) 3 ||
			{ cat "$W/rates"; fail "$h: a spike (or no rate) $2"; }
	done
}

# the wrap, 9 s after the start: rates on both sides of it are right
log "waiting for the wrap of Gi0/1's ifInOctets"
# (a step is complete once the poll after it reached the collector)
while [ "$(date +%s)" -lt $(( epoch + 15 )) ]; do sleep 0.5; done
for h in sw sw-v1; do
	rate_ok "$R/$h/if-Gi0_1.rrd" $(( t_first + 2 )) $(( epoch + 13 )) ||
		{ cat "$W/rates"; tail -n 20 "$W/agent.log"; fail "$h: the rate across the 32-bit wrap is not $RATE bytes/s"; }
done
# the other values of the port whose ifInErrors answers genErr are stored
for h in sw sw-v1; do
	[ "$(rrd_last "$R/$h/if-Gi0_3.rrd" in_errors)" = U ] || fail "$h: in_errors of Gi0/3 is not unknown"
	[ "$(rrd_last "$R/$h/if-Gi0_3.rrd" out_errors)" = 3 ] || fail "$h: out_errors of Gi0/3 is not stored beside the error"
	[ "$(rrd_last "$R/$h/if-Gi0_3.rrd" oper_status)" = 2 ] || fail "$h: oper_status of Gi0/3 is not stored beside the error"
	[ "$(rrd_last "$R/$h/if-Gi0_1.rrd" in_errors)" = 7 ] || fail "$h: in_errors of Gi0/1 is not stored"
	rrd_last "$R/$h/system.rrd" uptime | grep -Eq '^[0-9.]+$' || fail "$h: uptime is not stored beside the error"
done
grep -q 'partial: 1 of 49 values unknown on .*genErr\|partial: 1 of 49 values unknown' "$W/agent.log" ||
	{ grep partial "$W/agent.log" | tail -n 3; fail "the run's reason does not say one value was lost"; }
# down: admin up and oper down only; the unused (admin down) port is not down
[ "$(rrd_last "$R/sw/if-Gi0_3.rrd" down)" = 1 ] || fail "Gi0/3 (admin up, oper down) is not down"
[ "$(rrd_last "$R/sw/if-Gi0_2.rrd" down)" = 0 ] || fail "Gi0/2 (admin down) counts as down"
[ "$(rrd_last "$R/sw/if-Gi0_1.rrd" down)" = 0 ] || fail "Gi0/1 (up) counts as down"
[ "$(rrd_last "$R/sw/if-Gi0_1.rrd" speed)" = 1000000000 ] || fail "Gi0/1's speed"

log "renumbering Gi0/1 (ifIndex 2 -> 12, its counter 2e9 further on)"
t_renum=$(date +%s)
write_dev "$epoch" 12 $(( 4294967296 - 9 * RATE + 2000000000 ))
log_has "$W/agent.log" 'snmp "sw": interface Gi0/1 on 127.0.0.1:'"$snmp_port"' moved from ifIndex 2 to 12'
no_spike_after "$t_renum" "where Gi0/1 was renumbered"

log "restarting snmpd; the device's counters start again"
stop snmpd
t_boot=$(date +%s)
write_dev "$t_boot" 12 0
start_dev
log_has "$W/agent.log" 'snmp "sw": 127.0.0.1:'"$snmp_port"' restarted'
no_spike_after "$t_boot" "across the restart"
echo "PASS: every port in one file whatever the spelling; 32-bit wrap, genErr, renumbering and restart handled"
