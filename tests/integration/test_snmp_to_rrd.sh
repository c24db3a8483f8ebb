#!/bin/bash
# test_snmp_to_rrd.sh - a real snmpd on loopback, polled every second by the
# agent; the collector's RRD files must hold sysUpTime and the interface
# counters, consistent with snmpget of the same OIDs; "lo" and its ifIndex 1
# in the config are one interface, stored once under the device's name.
# Runs in a network namespace of its own, so that lo carries only the
# test's traffic: other programs' would make the counters move faster than
# snmpd's cache of them shows.
set -eu
. "$(dirname "$0")/netns.sh"
. "$(dirname "$0")/lib.sh"
need_tools snmpd snmpget rrdtool
W=$(mktemp -d /tmp/vakt-it-snmp.XXXXXX)
trap 'cleanup && s=0 || s=$?; rm -rf "$W"; exit $s' EXIT

snmp_port=$(free_port udp)
col_port=$(free_port tcp)
community="vakt$$"
start_snmpd "$W" "$snmp_port" "$community"

write_collector_conf "$W" "$col_port" </dev/null
cat >"$W/agent.conf" <<EOC
site = "rissa"
insecure = yes
collector "dc1" { address = "127.0.0.1:$col_port" }
snmp "core-sw" {
  address = "127.0.0.1:$snmp_port"
  community = "$community"
  interfaces = {"lo", "1"}
  interval = 1
  timeout = 400
}
EOC
start_collector "$W" "$col_port"
start agent "$W/agent.log" "$VAKT_BIN/vakt-agent" -f -c "$W/agent.conf"

sys="$W/rrd/rissa/core-sw/system.rrd"
ifl="$W/rrd/rissa/core-sw/if-lo.rrd"
# rates_from FILE FROM: the rows (rates of counters) FILE holds from FROM on;
# positive_rate: such rows have a positive in_octets rate
rates_from() { rrdtool fetch "$1" AVERAGE -r 1 -s "$2" -e "$(rrdtool last "$1")"; }
positive_rate() { awk 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "in_octets") col = i + 1; next }
	col && $col != "-nan" && $col + 0 > 0 { ok = 1 } END { exit !ok }'; }
# five polls, and one past a change of snmpd's cached counters (it reads
# them again every few seconds, so polls within one read show no traffic)
enough() { [ -f "$sys" ] && [ $(( $(rrdtool last "$ifl") - first_t )) -ge 4 ] &&
	rates_from "$ifl" "$first_t" | positive_rate; }
wait_for 20 test -f "$ifl" || { cat "$W/agent.log" "$W/collector.log"; fail "no RRD file for interface lo"; }
first_t=$(rrdtool last "$ifl")
wait_for 20 enough || { cat "$W/agent.log" "$W/collector.log"; rates_from "$ifl" "$first_t"; fail "fewer than 5 polls stored, or no positive in_octets rate"; }
stop agent
# what the collector holds in its cache goes to the files before they are read
# (cache_flush_age is 1 s, but a loaded machine, valgrind most, may not be there yet)
rrd_flush "$W"

# what the device says now, after the last poll
get() { snmpget -v2c -c "$community" -On -Oqv "127.0.0.1:$snmp_port" "$1"; }
up_now=$(get 1.3.6.1.2.1.1.3.0 | tr -d '"' )
ticks=$(snmpget -v2c -c "$community" -On -Ovt "127.0.0.1:$snmp_port" 1.3.6.1.2.1.1.3.0 | awk '{print $NF}')
in_now=$(get 1.3.6.1.2.1.31.1.1.1.6.1)
out_now=$(get 1.3.6.1.2.1.31.1.1.1.10.1)
log "snmpget: sysUpTime $ticks ticks, lo in $in_now out $out_now"

up_rrd=$(rrd_last "$sys" uptime)
in_rrd=$(rrd_last "$ifl" in_octets)
out_rrd=$(rrd_last "$ifl" out_octets)
st_rrd=$(rrd_last "$ifl" oper_status)
log "rrd: uptime $up_rrd s, lo in $in_rrd out $out_rrd status $st_rrd"

# sysUpTime: the stored value (seconds) is at most a few seconds behind the device
awk -v r="$up_rrd" -v t="$ticks" 'BEGIN { d = t / 100 - r; exit !(d >= 0 && d < 10) }' ||
	fail "uptime in RRD ($up_rrd s) is not within 10 s of snmpget ($ticks ticks)"
# counters: stored raw, never ahead of the device, and behind by no more than
# lo carries in a few seconds (other programs on this machine use lo too)
sleep 1
per_s=$(( $(get 1.3.6.1.2.1.31.1.1.1.6.1) - in_now ))
for pair in "$in_rrd:$in_now" "$out_rrd:$out_now"; do
	r=${pair%%:*} n=${pair##*:}
	[ "$r" -le "$n" ] || fail "RRD counter $r is ahead of snmpget $n"
	[ $(( n - r )) -lt $(( 1000000 + 5 * per_s )) ] || fail "RRD counter $r is far behind snmpget $n ($per_s bytes/s on lo)"
	[ "$r" -gt 0 ] || fail "RRD counter is zero"
done
[ "$st_rrd" = 1 ] || fail "lo oper_status in RRD is $st_rrd, expected 1 (up)"
# "lo" by name and ifIndex 1 are the same interface: one file, named by the device
[ ! -e "$W/rrd/rissa/core-sw/if-1.rrd" ] || fail "ifIndex 1 got a file of its own beside if-lo.rrd"
[ "$(ls "$W/rrd/rissa/core-sw" | grep -c '^if-')" = 1 ] || { ls "$W/rrd/rissa/core-sw"; fail "more than one interface file"; }

# the averaged series hold real numbers, and rates are positive (the polls themselves are traffic)
rrdtool fetch "$sys" AVERAGE -r 1 -s "$first_t" -e "$(rrdtool last "$sys")" >"$W/fetch.txt"
grep -Eq ': [0-9]\.[0-9]+e\+0[0-9]' "$W/fetch.txt" || { cat "$W/fetch.txt"; fail "no uptime values in rrdtool fetch"; }
rates_from "$ifl" "$first_t" >"$W/fetch-if.txt"
positive_rate <"$W/fetch-if.txt" ||
	{ cat "$W/fetch-if.txt"; fail "no positive in_octets rate in rrdtool fetch"; }
grep -q "store: created $sys" "$W/collector.log" || fail "collector did not log the file it created"
echo "PASS: sysUpTime and interface counters stored and consistent with snmpget"
