#!/bin/bash
# test_forget_after_queued_batches.sh - `vaktctl forget` right after an agent
# went away, while the store still has that agent's batches queued: the
# forget is done after them, so they cannot note the agent in vakt.db again,
# and after a restart the forgotten agent pages no agent-down.
set -eu
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
W=$(mktemp -d /tmp/vakt-it-forgetq.XXXXXX)
trap 'cleanup && s=0 || s=$?; [ -n "${KEEP:-}" ] || rm -rf "$W"; exit $s' EXIT

col_port=$(free_port tcp)
{
	cat <<EOC
store_queue = 100000
store_queue_size = "1G"
max_inflight = 100000
max_inflight_size = "1G"
watch {
  heartbeat = 1
  agent_down = 2
}
EOC
	pager_channel "$W"
} | write_collector_conf "$W" "$col_port"
start_collector "$W" "$col_port"

log "agent gone sends a backlog, leaves, and is forgotten at once"
wire_client "$col_port" "
import socket, time
N, K = 3000, 50
# the backlog is made before the session opens: making it takes seconds on a
# busy machine, and the collector closes a session silent for 3 heartbeats
t0 = wire.now_ms() - 2 * N * 1000
backlog = b''.join(wire.frame(wire.batch(i + 1, [
    wire.sample(host='gone', check='c%d' % k, time_ms=t0 + i * 1000, value=float(i))
    for k in range(K)])) for i in range(N))
s = wire.connect(PORT, timeout=30)
s.sendall(wire.frame(wire.hello(site='forgetq', agent='gone', stream=7)))
wire.expect(s, 'hello_ack')
s.sendall(backlog)
s.shutdown(socket.SHUT_WR)
while s.recv(65536):
    pass
s.close()
for _ in range(500):
    c = socket.socket(socket.AF_UNIX)
    c.settimeout(30)
    c.connect('$W/collector.sock')
    c.sendall(b'forget forgetq\tgone\n')
    out = b''
    while True:
        d = c.recv(4096)
        if not d:
            break
        out += d
    c.close()
    if b'is connected' not in out:
        break
    time.sleep(0.01)
assert out == b'forgot agent \"gone\" of site \"forgetq\"\n', out
print('forgotten:', out.decode().strip())
" || { tail -20 "$W/collector.log"; fail "see above"; }

log "after a restart the forgotten agent pages no agent-down"
stop collector
: >"$W/pages.log"
start_collector "$W" "$col_port" "$W/collector2.log"
sleep 4 # past agent-down (2 s)
! grep -q "agent-down forgetq gone" "$W/pages.log" ||
	{ cat "$W/pages.log"; fail "the forgotten agent paged agent-down after the restart"; }
echo "PASS: a forget right after the agent left outlasts its queued batches"
