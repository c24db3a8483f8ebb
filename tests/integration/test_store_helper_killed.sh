#!/bin/bash
# test_store_helper_killed.sh - a flush of 256 files or more is shared with a
# helper process (store_writers = 2); a helper killed in the middle of it
# costs no value: the writer writes again the files the helper had taken,
# and every file ends at its last value. The test holds a read lock on every
# file while the flush starts, as rrdtool's readers do: both writers wait
# for their first file, and the helper is found and killed while it waits.
set -eu
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
[ "$(nproc)" -ge 2 ] || { echo "SKIP: one core: the collector starts no helper"; exit 77; }
W=$(mktemp -d /tmp/vakt-it-helper.XXXXXX)
trap 'cleanup && s=0 || s=$?; [ -n "${KEEP:-}" ] || rm -rf "$W"; exit $s' EXIT

NFILES=300
col_port=$(free_port tcp)
CACHE_FLUSH_AGE=3600 write_collector_conf "$W" "$col_port" <<EOC
max_new_files_per_minute = 100000
store_writers = 2
watch {
  agent_down = 0
}
EOC
start_collector "$W" "$col_port"

wire_client "$col_port" "
import fcntl, os, signal, subprocess, time
sock, vaktctl, rrd = '$W/collector.sock', '$VAKT_BIN/vaktctl', '$W/rrd/f'
collector, nfiles = $PID_collector, $NFILES

def flush():
    return subprocess.Popen([vaktctl, '-s', sock, 'flush', '--all'], stdout=subprocess.PIPE,
                            text=True)

def children():
    found = []
    for p in os.listdir('/proc'):
        try:
            with open('/proc/%s/stat' % p) as f:
                stat = f.read()
        except (OSError, ValueError):
            continue
        if int(stat.rsplit(')', 1)[1].split()[1]) == collector:
            found.append(int(p))
    return found

s = wire.connect(PORT)
s.sendall(wire.frame(wire.hello(site='f', agent='a')))
wire.expect(s, 'hello_ack')
s.settimeout(60)
t0 = wire.now_ms() - 10000
for seq in (1, 2):
    s.sendall(wire.frame(wire.batch(seq, [wire.sample(host='h%03d' % i, time_ms=t0 + seq * 1000,
                                                      value=i + 1000 * seq)
                                          for i in range(nfiles)])))
    while wire.decode(wire.recv_frame(s))[0] != 'ack':
        pass
    if seq == 1:
        # the files are made and hold the first round; the second waits in the cache
        out = flush().communicate(timeout=60)[0]
        assert out.startswith('flushed '), out
locks = [open('%s/h%03d/c.rrd' % (rrd, i)) for i in range(nfiles)]
for f in locks:
    fcntl.lockf(f, fcntl.LOCK_SH)
fl = flush()
deadline, helpers = time.time() + 10, []
while not helpers and time.time() < deadline:
    helpers = children()
    time.sleep(0.005)
for pid in helpers:
    os.kill(pid, signal.SIGKILL)
# both writers wait up to 2 s for a lock: released well before
for f in locks:
    f.close()
out = fl.communicate(timeout=120)[0]
print('helpers killed: %s; the flush: %s' % (helpers, out.strip()))
assert helpers, 'no helper process was seen in 10 s: this run shows nothing'
assert out == 'flushed %d files\n' % nfiles, out
" || { tail -20 "$W/collector.log"; fail "see above"; }

log_has "$W/collector.log" "a writer process was killed by signal 9; the writer writes its files again"
grep -q "quarantined" "$W/collector.log" && { tail -20 "$W/collector.log"; fail "a file was quarantined"; }
for i in $(seq 0 $((NFILES - 1))); do
	f=$(printf '%s/rrd/f/h%03d/c.rrd' "$W" "$i")
	v=$(rrd_last "$f" m) || fail "$f: no value for m"
	awk -v v="$v" -v want=$((i + 2000)) 'BEGIN { exit !(v + 0 == want) }' ||
		fail "$f ends at $v, not $((i + 2000))"
done
echo "PASS: a helper killed in a flush costs no value: the writer wrote its files again"
