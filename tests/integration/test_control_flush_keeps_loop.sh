#!/bin/bash
# test_control_flush_keeps_loop.sh - `vaktctl flush` waits for the store's
# writer, the collector's loop does not: while the writer is busy creating
# the files of a big batch and a flush waits behind it, `vaktctl status`
# answers at once and an agent's heartbeat is answered, and the flush is
# answered once the writer gets to it.
set -eu
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
W=$(mktemp -d /tmp/vakt-it-flushloop.XXXXXX)
trap 'cleanup && s=0 || s=$?; [ -n "${KEEP:-}" ] || rm -rf "$W"; exit $s' EXIT

col_port=$(free_port tcp)
# the default archives (4 MB a file at step 1): with a test's small ones the
# writer made 800 files in under 0.2 s, and no flush was ever seen waiting
ARCHIVES=default CACHE_FLUSH_AGE=3600 write_collector_conf "$W" "$col_port" <<EOC
max_new_files_per_minute = 100000
watch {
  agent_down = 0
}
EOC
start_collector "$W" "$col_port"
ctl() { "$VAKT_BIN/vaktctl" -s "$W/collector.sock" "$@"; }

wire_client "$col_port" "
import subprocess, time
sock, vaktctl = '$W/collector.sock', '$VAKT_BIN/vaktctl'
s = wire.connect(PORT)
s.sendall(wire.frame(wire.hello(site='f', agent='a')))
wire.expect(s, 'hello_ack')
s.settimeout(60)
t0, nfiles = wire.now_ms() - 10000, 0
for seq, n in enumerate([200, 400, 800], 1):
    # a batch of n new files keeps the writer busy for a while
    s.sendall(wire.frame(wire.batch(seq, [wire.sample(host='h%d' % (nfiles + i), check='c',
                                                      time_ms=t0) for i in range(n)])))
    nfiles += n
    time.sleep(0.2)
    flush = subprocess.Popen([vaktctl, '-s', sock, 'flush', '--all'], stdout=subprocess.PIPE,
                             text=True)
    time.sleep(0.2)
    start = time.time()
    status = subprocess.run([vaktctl, '-s', sock, 'status'], capture_output=True, text=True)
    took_status = time.time() - start
    pending = flush.poll() is None
    start = time.time()
    s.sendall(wire.frame(wire.heartbeat()))
    while wire.decode(wire.recv_frame(s))[0] != 'heartbeat':
        pass  # the batch's ack may come first
    took_hb = time.time() - start
    out = flush.communicate(timeout=60)[0]
    print('%d files: status in %.3f s, a heartbeat in %.3f s, the flush %s then: %s'
          % (n, took_status, took_hb, 'pending' if pending else 'done', out.strip()))
    assert status.returncode == 0, status
    assert out.startswith('flushed '), out
    # the heartbeat is answered by the loop alone; status also starts a
    # vaktctl process, which took 0.57 s in a sanitizer build beside other tests
    assert took_status < 2 and took_hb < 0.3, 'the loop waited for the flush'
    if pending:
        break
else:
    raise AssertionError('the writer was never busy long enough: this run shows nothing')
" || { tail -20 "$W/collector.log"; fail "see above"; }
echo "PASS: a flush waits for the writer, the collector's loop goes on"
