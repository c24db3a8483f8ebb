#!/bin/bash
# test_store_grow.sh - a check that gains a metric after its file exists: the
# real collector adds the data source to the RRD file, the old metric's
# history stays, and both are stored from then on.
set -eu
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
command -v rrdtool >/dev/null || { echo "SKIP: rrdtool missing"; exit 77; }
W=$(mktemp -d /tmp/vakt-it-grow.XXXXXX)
trap 'cleanup && s=0 || s=$?; rm -rf "$W"; exit $s' EXIT

col_port=$(free_port tcp)
write_collector_conf "$W" "$col_port" </dev/null
start_collector "$W" "$col_port"

PYTHONPATH="$(dirname "$0")" python3 - "$col_port" >"$W/times.txt" <<'EOP' || { cat "$W/collector.log"; fail "see above"; }
import sys, time
import wire

s = wire.connect(int(sys.argv[1]))
s.sendall(wire.frame(wire.hello(site="fosen", agent="a1")))
wire.expect(s, "hello_ack")
t0 = (int(time.time()) - 20) * 1000  # whole seconds in the past, one a second
for i in range(10):
    smp = [wire.sample(host="sw", check="if", instance="x", metric="in", time_ms=t0 + i * 1000,
                       value=100.0 + i)]
    if i >= 5:  # the check learns a second metric
        smp.append(wire.sample(host="sw", check="if", instance="x", metric="errors",
                               time_ms=t0 + i * 1000, value=7.0 + i))
    s.sendall(wire.frame(wire.batch(i + 1, smp)))
    a = wire.expect(s, "ack")
    assert a.get(1) == i + 1, a
print(t0 // 1000)
EOP
t0=$(cat "$W/times.txt")
rrd="$W/rrd/fosen/sw/if-x.rrd"
grep -qF "store: $rrd: added 1 data sources" "$W/collector.log" ||
	{ cat "$W/collector.log"; fail "the file did not grow"; }
rrd_flush "$W" "$rrd"
rrdtool fetch "$rrd" AVERAGE -r 1 -s $((t0 - 1)) -e $((t0 + 9)) >"$W/fetch.txt"
# value at time T of data source DS
at() { awk -v t="$1:" -v ds="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == ds) c = i + 1; next }
	$1 == t { print $c + 0 }' "$W/fetch.txt"; }
[ "$(at $((t0 + 2)) in)" = 102 ] || { cat "$W/fetch.txt"; fail "the old metric's history before the growth is gone"; }
[ "$(at $((t0 + 8)) in)" = 108 ] || { cat "$W/fetch.txt"; fail "the old metric after the growth"; }
[ "$(at $((t0 + 8)) errors)" = 15 ] || { cat "$W/fetch.txt"; fail "the new metric is not stored"; }
echo "PASS: the file grew a data source; old history kept, both metrics stored"
