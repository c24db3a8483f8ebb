#!/bin/bash
# test_store_ds_per_file_bounded.sh - one check's file takes at most
# max_ds_per_file data sources: a client that keeps adding metrics to it has
# the new ones refused (one line naming site, host, check and metric; counted
# as refused in vaktctl status), while the file's existing data sources go
# on being written.
set -eu
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
command -v rrdtool >/dev/null || { echo "SKIP: rrdtool missing"; exit 77; }
W=$(mktemp -d /tmp/vakt-it-dscap.XXXXXX)
trap 'cleanup && s=0 || s=$?; [ -n "${KEEP:-}" ] || rm -rf "$W"; exit $s' EXIT

col_port=$(free_port tcp)
write_collector_conf "$W" "$col_port" <<EOC
max_ds_per_file = 3
EOC
start_collector "$W" "$col_port"

t0=$(( $(date +%s) - 20 ))
wire_client "$col_port" "
s = wire.connect(PORT)
s.sendall(wire.frame(wire.hello(site='fosen', agent='a1')))
wire.expect(s, 'hello_ack')
t0 = $t0 * 1000
batches = [['m0', 'm1'], ['m0', 'm1', 'm2', 'm3', 'm4'], ['m0', 'm5']]
for i, metrics in enumerate(batches):
    smp = [wire.sample(host='sw', check='if', metric=m, time_ms=t0 + i * 1000, value=10.0 * i + k)
           for k, m in enumerate(metrics)]
    s.sendall(wire.frame(wire.batch(i + 1, smp)))
    assert wire.expect(s, 'ack').get(1) == i + 1
" || { cat "$W/collector.log"; fail "see above"; }
rrd="$W/rrd/fosen/sw/if.rrd"
rrd_flush "$W" "$rrd"
nds=$(rrdtool info "$rrd" | grep -c '^ds\[.*\]\.type')
[ "$nds" = 3 ] || { rrdtool info "$rrd" | grep '\.type'; fail "the file has $nds data sources, not 3"; }
log_has "$W/collector.log" 'store: site "fosen", host "sw", check "if": the file has 3 data sources (max_ds_per_file): metric "m3" and further new ones are refused'
[ "$(rrd_last "$rrd" m0)" = 20 ] || fail "m0 was not written after the refusal: $(rrdtool lastupdate "$rrd")"
"$VAKT_BIN/vaktctl" -s "$W/collector.sock" status >"$W/status.txt"
grep -q ' 3 refused,' "$W/status.txt" || { cat "$W/status.txt"; fail "vaktctl status does not count 3 refused"; }
echo "PASS: a file's data sources are bounded by max_ds_per_file, its data kept"
