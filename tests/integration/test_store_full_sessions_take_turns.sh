#!/bin/bash
# test_store_full_sessions_take_turns.sh - two agents with a backlog (as after
# a collector restart) send it as fast as they can into a store queue of two
# batches: sessions paused by the full queue take turns, so both backlogs
# progress together instead of the first agent's alone. Then the same with a
# long store queue and max_inflight = 2: each session pauses at its own two
# batches with the store and goes on as they are done, to the last one.
set -eu
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
W=$(mktemp -d /tmp/vakt-it-turns.XXXXXX)
trap 'cleanup && s=0 || s=$?; [ -n "${KEEP:-}" ] || rm -rf "$W"; exit $s' EXIT

col_port=$(free_port tcp)

# backlogs: sends two agents' backlogs to the running collector, checks both progress
backlogs() {
PYTHONPATH="$(dirname "$0")" python3 - "$col_port" <<'EOP' || { tail -30 "$W"/collector*.log; fail "see above"; }
import sys, threading, time
import wire

port = int(sys.argv[1])
N = 1600  # batches of backlog per agent: many more than the head start lets through


def log(msg):
    print(time.strftime("%H:%M:%S"), msg, file=sys.stderr, flush=True)


class Agent:
    def __init__(self, name):
        self.name, self.acked, self.done = name, 0, threading.Event()
        self.s = wire.connect(port, timeout=30)
        self.s.sendall(wire.frame(wire.hello(site="turns", agent=name)))
        wire.expect(self.s, "hello_ack")
        t0 = wire.now_ms() - 3600 * 1000
        self.backlog = [wire.frame(wire.batch(i + 1, [
            wire.sample(host=name, check="c%d" % k, metric="m", time_ms=t0 + i * 1000,
                        value=float(i)) for k in range(20)])) for i in range(N)]

    def send(self):
        for f in self.backlog:
            self.s.sendall(f)

    def read(self):
        while self.acked < N:
            name, f = wire.decode(wire.recv_frame(self.s) or b"")
            if name == "ack":
                self.acked = f.get(1, 0)
            elif name != "heartbeat":
                raise AssertionError("%s: got %s" % (self.name, name))
        self.other_at = self.other.acked
        log("%s: all %d acknowledged, %s at %d" % (self.name, N, self.other.name, self.other_at))
        self.done.set()


a, b = Agent("first"), Agent("second")
a.other, b.other = b, a
threads = [threading.Thread(target=x, daemon=True) for x in (a.read, b.read, a.send)]
for t in threads:
    t.start()
# the first agent is under way before the second starts: 10 batches acked (a
# fixed 0.1 s was most of the run once the store made its files fast)
end = time.time() + 30
while a.acked < 10 and time.time() < end:
    time.sleep(0.001)
assert a.acked >= 10, "the first agent's backlog did not start: %d acked" % a.acked
threading.Thread(target=b.send, daemon=True).start()
a.done.wait(90)
b.done.wait(90)
assert a.done.is_set() and b.done.is_set(), "backlogs not through in 90 s: %d, %d" % (
    a.acked, b.acked)
other_at = min(a.other_at, b.other_at)  # the other one, when the first was through
# taking turns, the other agent is about half-way when one finishes; the
# first agent's head start and the two frames read ahead leave it short of that
assert other_at >= N // 4, "when one backlog was through the other was at %d of %d" % (
    other_at, N)
log("PASS")
EOP
}

write_collector_conf "$W" "$col_port" <<EOC
store_queue = 2
watch {
  agent_down = 0
}
EOC
start_collector "$W" "$col_port"
backlogs
stop collector

log "a long store queue, at most two batches in flight per session"
rm -rf "$W/rrd"
write_collector_conf "$W" "$col_port" <<EOC
store_queue = 1000
max_inflight = 2
watch {
  agent_down = 0
}
EOC
start_collector "$W" "$col_port" "$W/collector2.log"
backlogs
grep -q "2 batches (.* bytes) with the store, pausing" "$W/collector2.log" ||
	fail "no session paused at max_inflight"
echo "PASS: two backlogs progress together through a full store queue and under max_inflight"
