#!/bin/bash
# test_store_memory.sh - one batch of the largest frame (1 MiB of wire bytes,
# ~30,000 samples) for ONE RRD file must not blow up the collector: its peak
# resident memory (VmHWM) stays under RSS_LIMIT_KB, and every sample lands.
# The writer's memory per batch follows the batch (no buffers sized per
# timestamp for 32 data sources, no arrays on its stack).
set -eu
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
command -v rrdtool >/dev/null || { echo "SKIP: rrdtool missing"; exit 77; }
[ -z "${VAKT_VALGRIND:-}" ] || { echo "SKIP: memory is measured without valgrind"; exit 77; }
RSS_LIMIT_KB=40960 # 40 MB; docs/operations.md states the same bound
W=$(mktemp -d /tmp/vakt-it-memory.XXXXXX)
trap 'cleanup && s=0 || s=$?; rm -rf "$W"; exit $s' EXIT
export WIRE_DIR
WIRE_DIR=$(cd "$(dirname "$0")" && pwd)

col_port=$(free_port tcp)
# step 60: a file at step 1 would hold 2 days of seconds, and its size is not what we measure
cat >"$W/collector.conf" <<EOC
listen = {"127.0.0.1:$col_port"}
data_dir = "$W/rrd"
step = 60
control_socket = "$W/collector.sock"
insecure = yes
EOC
start_collector "$W" "$col_port"
hwm() { awk '/^VmHWM:/ { print $2 }' "/proc/$PID_collector/status"; }
before=$(hwm)

python3 - "$col_port" >"$W/client.txt" <<'PY'
import os, sys, time
sys.path.insert(0, os.environ["WIRE_DIR"])
import wire
port = int(sys.argv[1])
metrics = ["in", "out", "err", "up"]  # short names: more samples in the frame
t0 = (int(time.time()) // 60 - 20000) * 60 * 1000  # minutes in the past, one per timestamp
samples, size, i = [], 0, 0
while True:
    t = t0 + (i // len(metrics)) * 60000
    smp = wire.sample(host="sw", check="if", instance="1",
                      metric=metrics[i % len(metrics)], time_ms=t, value=i)
    n = len(wire.f_bytes(2, smp))
    if size + n > 1048576 - 64:  # room for the frame's own fields
        break
    samples.append(smp)
    last = t
    size += n
    i += 1
body = wire.batch(1, samples)
s = wire.connect(port, timeout=60)
s.sendall(wire.frame(wire.hello(site="fosen", agent="a1")))
wire.expect(s, "hello_ack")
s.sendall(wire.frame(body))
a = wire.expect(s, "ack")
print(len(samples), len(body), last)
PY
read -r n bytes last_t <"$W/client.txt"
after=$(hwm)
log "one batch: $n samples, $bytes wire bytes; collector VmHWM $before kB before, $after kB after"
[ "$bytes" -gt 1000000 ] || fail "the batch was only $bytes bytes"
rrd="$W/rrd/fosen/sw/if-1.rrd"
rrd_flush "$W" "$rrd"
[ "$(rrdtool last "$rrd")" = $((last_t / 1000)) ] || fail "the last sample is not in $rrd"
grep -q "$n samples written" <("$VAKT_BIN/vaktctl" -s "$W/collector.sock" status) ||
	{ "$VAKT_BIN/vaktctl" -s "$W/collector.sock" status; fail "not every sample was written"; }
# AddressSanitizer's shadow memory and quarantine say nothing of Vakt's own use
if sanitized; then
	echo "PASS: $n samples for one file (peak RSS $after kB not checked: sanitizer build)"
	exit 0
fi
[ "$after" -lt "$RSS_LIMIT_KB" ] || fail "peak RSS $after kB, bound $RSS_LIMIT_KB kB"
echo "PASS: $n samples for one file, peak RSS $after kB (< $RSS_LIMIT_KB kB)"
