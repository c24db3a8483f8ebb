#!/bin/bash
# test_session_peer_bounds.sh - a peer cannot make a session cost unbounded
# memory or hold it forever: one that sends heartbeats and never reads its
# answers is paused (and closed if it never reads), one that says hello and
# then nothing is closed after three heartbeats, freeing its max_sessions slot.
set -eu
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
W=$(mktemp -d /tmp/vakt-it-peer.XXXXXX)
trap 'cleanup && s=0 || s=$?; [ -n "${KEEP:-}" ] || rm -rf "$W"; exit $s' EXIT

col_port=$(free_port tcp)
write_collector_conf "$W" "$col_port" <<EOC
max_sessions = 2
watch {
  heartbeat = 2
  agent_down = 0
}
EOC
start_collector "$W" "$col_port"

# MB the collector may grow by; much more under AddressSanitizer, whose quarantine
# keeps freed memory (unbounded growth was hundreds of MB within these 4 s)
limit_mb=$(sanitized && echo 120 || echo 20)
PYTHONPATH="$(dirname "$0")" python3 - "$col_port" "$PID_collector" "$limit_mb" <<'EOP' || { cat "$W/collector.log"; fail "see above"; }
import socket, sys, threading, time
import wire

port, pid, limit_mb = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])

def log(msg):
    print(time.strftime("%H:%M:%S"), msg, file=sys.stderr, flush=True)

def rss_kb():
    for l in open("/proc/%d/status" % pid):
        if l.startswith("VmRSS:"):
            return int(l.split()[1])

def hello(agent):
    s = wire.connect(port)
    s.sendall(wire.frame(wire.hello(site="peer", agent=agent)))
    wire.expect(s, "hello_ack")
    return s

log("a peer floods heartbeats for 4 s and reads nothing")
s = hello("flood")
hb = wire.frame(wire.heartbeat()) * 4096
stop, sent = threading.Event(), [0]

def flood():
    while not stop.is_set():
        s.sendall(hb)  # whole frames only, so that the stream stays valid
        sent[0] += len(hb)

before = rss_kb()
sender = threading.Thread(target=flood)
s.settimeout(30)
sender.start()
time.sleep(4)
grew = rss_kb() - before
stop.set()
log("sent %d kB, collector RSS grew by %d kB" % (sent[0] // 1024, grew))
assert grew < limit_mb * 1024, "the collector's memory grew by %d kB for unread answers" % grew

log("it reads its answers again: the session goes on")
s.settimeout(5)
while sender.is_alive():
    assert wire.recv_frame(s) is not None, "closed while the peer read again"
sender.join()
s.sendall(wire.frame(wire.batch(1, [wire.sample(host="h", check="c")])))
while True:
    body = wire.recv_frame(s)
    assert body is not None, "closed while waiting for the ack"
    name, f = wire.decode(body)
    if name == "ack":
        break
    assert name == "heartbeat", name
s.close()

log("a peer that never reads is closed")
s = hello("deaf")
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.setblocking(False)
buf, closed, end = hb, False, time.time() + 20
while time.time() < end and not closed:
    try:
        buf = buf[s.send(buf):] or hb
    except BlockingIOError:
        time.sleep(0.05)
    except (BrokenPipeError, ConnectionResetError):
        closed = True
assert closed, "a peer that read nothing for 20 s is still connected"
s.close()

log("hello, then nothing: closed after three heartbeats, the slot is free again")
idle = [hello("idle1"), hello("idle2")]
t0 = time.time()
for s in idle:
    s.settimeout(15)
    bodies = wire.recv_until_close(s)
    assert all(wire.decode(b)[0] == "heartbeat" for b in bodies), bodies
took = time.time() - t0
assert 5 <= took <= 9, "idle sessions closed after %.1f s, expected about 6" % took
s = hello("real")
s.sendall(wire.frame(wire.batch(1, [wire.sample(host="h", check="c")])))
wire.expect(s, "ack")
s.close()
log("PASS")
EOP
grep -q 'agent "idle1").*closed: nothing heard for three heartbeats' "$W/collector.log" ||
	{ cat "$W/collector.log"; fail "the idle session's end was not logged"; }
grep -q 'agent "deaf").*closed: the agent reads nothing we send' "$W/collector.log" ||
	{ cat "$W/collector.log"; fail "the deaf session's end was not logged"; }
echo "PASS: unread answers pause a session, deaf and idle peers are closed"
