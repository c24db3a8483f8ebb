#!/bin/bash
# test_agent_down_pages_once.sh - an agent that dies pages once (agent-down),
# not once per file (no-data) first, even when its checks run more often
# than agent_down allows for: whether its session closes or it just goes
# quiet. A file that stops while its agent lives still pages no-data.
set -eu
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
W=$(mktemp -d /tmp/vakt-it-agentdown.XXXXXX)
trap 'cleanup && s=0 || s=$?; [ -n "${KEEP:-}" ] || rm -rf "$W"; exit $s' EXIT

col_port=$(free_port tcp)
# no-data after 2 x 1 s + 5 s = 7 s, well before agent-down at 10 s
{ pager_channel "$W"; cat <<EOC; } | write_collector_conf "$W" "$col_port"
watch {
  heartbeat = 2
  agent_down = 10
  no_data = 2
}
EOC
start_collector "$W" "$col_port"

PYTHONPATH="$(dirname "$0")" python3 - "$col_port" "$W" <<'EOP' || { cat "$W/collector.log"; cat "$W/pages.log" 2>/dev/null; fail "see above"; }
import os, sys, time
import wire
from pages import Pages, log

port, W = int(sys.argv[1]), sys.argv[2]
pages = Pages(W)
lines, wait_lines = pages.lines, pages.wait
seq = 0

def connect():
    s = wire.connect(port)
    s.sendall(wire.frame(wire.hello(site="fosen", agent="a1")))
    wire.expect(s, "hello_ack")
    return s

def send(s, hosts):
    global seq
    seq += 1
    s.sendall(wire.frame(wire.batch(seq, [wire.sample(host=h, check="c", metric="m", value=1.0)
                                          for h in hosts])))
    while wire.decode(wire.recv_frame(s))[0] != "ack":
        pass

def stream(s, hosts, seconds):
    for _ in range(int(seconds * 2)):
        send(s, hosts)
        time.sleep(0.5)

log("the agent's session closes: one agent-down page, no no-data")
s = connect()
stream(s, ["h1", "h2", "h3"], 3)
s.close()
wait_lines("firing agent-down", 1, 15)
time.sleep(2)
assert lines("firing") == lines("firing agent-down"), lines()

log("it comes back, then hangs with its session open: again one page")
s = connect()
stream(s, ["h1", "h2", "h3"], 3)
wait_lines("resolved agent-down", 1, 5)
wait_lines("firing agent-down", 2, 15)
time.sleep(2)
assert lines("firing") == lines("firing agent-down"), lines()
s.close()

log("it lives but h3 stops: no-data for h3 only")
s = connect()
stream(s, ["h1", "h2", "h3"], 3)
wait_lines("resolved agent-down", 2, 5)
wait_lines("firing no-data", 1, 15, also=lambda: send(s, ["h1", "h2"]))
assert [l.split(" | ")[0] for l in lines("firing no-data")] == ["firing no-data fosen h3 c"], lines()
s.close()
log("PASS")
EOP
echo "PASS: a dying agent pages once; a silent file of a live agent still pages"
