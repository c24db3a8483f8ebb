#!/bin/bash
# test_snmp_long_names.sh - port names longer than a series name may be: a
# recording served by snmpsim (written by this test) holds a switch whose
# ifName is 255 bytes with a two-byte character across byte 128, and two
# more whose names differ only past byte 128. Every port is stored: the
# long names cut to 128 bytes on a UTF-8 character boundary, the two alike
# told apart by "#ifIndex" within the 128 bytes, each cut said once in the
# agent's log; nothing of the batch is dropped (the short port beside them,
# sysUpTime and the run's Result are stored too).
set -eu
. "$(dirname "$0")/lib.sh"
need_tools snmpsimd snmpget rrdtool python3 sqlite3 iconv
SLOW=$([ -n "${VAKT_VALGRIND:-}" ] && echo 3 || echo 1)
W=$(mktemp -d /tmp/vakt-it-longnames.XXXXXX)
trap 'cleanup && s=0 || s=$?; [ -n "${KEEP:-}" ] || rm -rf "$W"; exit $s' EXIT

mkdir -p "$W/sim"
# ifIndex 1 "lo"; 2: 127 x, 'ø', 126 y (255 bytes); 3 and 4: 130 z then "-a" or "-b"
python3 - "$W/sim/longnames.snmprec" <<'PY'
import sys
names = {1: b"lo", 2: b"x" * 127 + "ø".encode() + b"y" * 126, 3: b"z" * 130 + b"-a",
         4: b"z" * 130 + b"-b"}
rows = [("1.3.6.1.2.1.1.1.0", "4", "Vakt test switch with long port names"),
        ("1.3.6.1.2.1.1.2.0", "6", "1.3.6.1.4.1.99999.1"),
        ("1.3.6.1.2.1.1.3.0", "67", "123456"),
        ("1.3.6.1.2.1.1.5.0", "4", "long-sw"),
        ("1.3.6.1.2.1.2.1.0", "2", str(len(names)))]
for i, n in names.items():
    for col, typ, val in ((1, "2", str(i)), (2, "4x", n.hex()), (3, "2", "6"),
                          (5, "66", "1000000000"), (7, "2", "1"), (8, "2", "1"),
                          (10, "65", str(1000 * i)), (16, "65", str(2000 * i))):
        rows.append(("1.3.6.1.2.1.2.2.1.%d.%d" % (col, i), typ, val))
    for col, typ, val in ((1, "4x", n.hex()), (6, "70", str(1000 * i)), (10, "70", str(2000 * i)),
                          (15, "66", "1000"), (18, "4", "")):
        rows.append(("1.3.6.1.2.1.31.1.1.1.%d.%d" % (col, i), typ, val))
rows.sort(key=lambda r: [int(x) for x in r[0].split(".")])
with open(sys.argv[1], "w") as f:
    for r in rows:
        f.write("|".join(r) + "\n")
PY
sim_port=$(free_port udp)
col_port=$(free_port tcp)
start_snmpsim "$W" "$sim_port" longnames

write_collector_conf "$W" "$col_port" </dev/null
cat >"$W/agent.conf" <<EOC
site = "rissa"
insecure = yes
collector "dc1" { address = "127.0.0.1:$col_port" }
snmp "long-sw" {
  address = "127.0.0.1:$sim_port"
  community = "longnames"
  interfaces = "all"
  interval = 3
  timeout = 1000
}
EOC
start_collector "$W" "$col_port"
start agent "$W/agent.log" "$VAKT_BIN/vakt-agent" -f -v -c "$W/agent.conf"

d="$W/rrd/rissa/long-sw"
four_files() { [ "$(ls "$d" 2>/dev/null | grep -c '^if-')" -ge 4 ]; }
wait_for $((15 * SLOW)) four_files || { ls "$d" || true; tail -n 30 "$W/agent.log" "$W/collector.log"; fail "not every port has a file"; }
x127=$(printf 'x%.0s' $(seq 127))
z126=$(printf 'z%.0s' $(seq 126))
# the series as the collector's index holds them: cut before the 'ø', never inside it
want=$(printf '%s\n' "$x127" "${z126}#4" "${z126}zz" lo | sort)
series() { sqlite3 "$W/rrd/vakt.db" "SELECT instance FROM rrd_file WHERE host = 'long-sw' AND check_name = 'if'" | sort; }
[ "$(series)" = "$want" ] || { series; fail "the ports' series are not the long names cut to 128 bytes on a character boundary"; }
sleep $((6 * SLOW))
stop agent
rrd_flush "$W"
for f in "$d"/if-*.rrd; do
	[ "$(rrd_last "$f" oper_status)" = 1 ] || fail "$f: no oper_status stored"
done
[ "$(rrd_last "$d/system.rrd" up)" = 1 ] || fail "the run's Result was not stored"
for i in 2:255 3:132 4:132; do
	[ "$(grep -c "snmp \"long-sw\": the name of ifIndex ${i%:*} on 127.0.0.1:$sim_port is ${i#*:} bytes, more than a series name holds (128): its series is \"" "$W/agent.log")" = 1 ] ||
		{ grep "the name of" "$W/agent.log" || true; fail "the cut of ifIndex ${i%:*}'s name was not said exactly once"; }
done
polls=$(grep -c 'snmp "long-sw": ok after' "$W/agent.log" || true)
[ "$polls" -ge 2 ] || fail "only $polls polls in $((6 * SLOW)) s"
! grep -q "invalid samples skipped" "$W/collector.log" || { grep "invalid" "$W/collector.log"; fail "the collector skipped samples"; }
iconv -f UTF-8 -t UTF-8 "$W/agent.log" >/dev/null || fail "the agent's log is not UTF-8: a name was cut inside a character"
echo "PASS: port names of 132 and 255 bytes stored under 128-byte series cut on a character boundary, two alike told apart by #ifIndex, said once each; nothing skipped ($polls polls)"
