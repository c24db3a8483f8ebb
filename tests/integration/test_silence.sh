#!/bin/bash
# test_silence.sh - silence is an alert: a series that stops while its agent
# lives (no-data), a check whose runs fail (unreachable, with its reason), an
# agent that goes quiet (agent-down), and a sample from the future that must
# not hide real data. Each fires once and recovers once, through the exec
# channel. The agent here is wire.py speaking the real protocol, so that each
# kind of silence can be made on its own.
set -eu
. "$(dirname "$0")/lib.sh"
# under valgrind every binary runs several times slower: so may the waits
SLOW=$([ -n "${VAKT_VALGRIND:-}" ] && echo 3 || echo 1)
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
W=$(mktemp -d /tmp/vakt-it-silence.XXXXXX)
trap 'cleanup && s=0 || s=$?; [ -n "${KEEP:-}" ] || rm -rf "$W"; exit $s' EXIT

col_port=$(free_port tcp)
{ pager_channel "$W"; cat <<EOC; } | write_collector_conf "$W" "$col_port"
watch {
  agent_down = 3
  no_data = 2
  unreachable = 2
}
EOC
start_collector "$W" "$col_port"

PYTHONPATH="$(dirname "$0")" python3 - "$col_port" "$W" <<'EOP' || { cat "$W/collector.log"; cat "$W/pages.log" 2>/dev/null; fail "see above"; }
import os, sys, time, subprocess
import wire
from pages import Pages, log

port, W = int(sys.argv[1]), sys.argv[2]
pages = Pages(W)
lines, wait_lines = pages.lines, pages.wait
seq = 0

def connect():
    s = wire.connect(port)
    s.sendall(wire.frame(wire.hello(site="fosen", agent="a1")))
    ack = wire.expect(s, "hello_ack")
    assert 4 in ack, "HelloAck carries no collector clock"
    return s

def send(s, samples=(), results=()):
    global seq
    seq += 1
    s.sendall(wire.frame(wire.batch(seq, list(samples), list(results))))
    wire.expect(s, "ack")

def g(host, check, value=1.0, t=None):
    return wire.sample(host=host, check=check, metric="m", value=value, time_ms=t)

s = connect()

log("no-data: h1/c and h1/d report, then h1/c stops; 50 one-off series never page")
send(s, [g("once", "o%d" % i) for i in range(50)])
for _ in range(6):
    send(s, [g("h1", "c"), g("h1", "d")])
    time.sleep(0.5)
t_stop = time.time()
keep_d = lambda: send(s, [g("h1", "d")])
got = wait_lines("firing no-data", 1, 20, also=keep_d)
took = time.time() - t_stop
assert "fosen h1 c | no data for c on h1 (site fosen)" in got[0], got
assert 'agent "a1" is connected' in got[0], got
assert took <= 2 * 1 + 5 + 3, "no-data took %.1f s" % took
for _ in range(6):  # d keeps going: still one page
    keep_d(); time.sleep(0.5)
assert len(lines("firing no-data")) == 1, lines("")
log("no-data: h1/c resumes")
wait_lines("resolved no-data", 1, 10, also=lambda: send(s, [g("h1", "c"), g("h1", "d")]))
assert "data for c on h1 (site fosen) again after" in lines("resolved no-data")[0]

log("unreachable: h2/system times out twice, then answers")
why = "no answer from 127.0.0.1:1161 within 2 s (wrong community or device down?)"
for _ in range(3):
    send(s, [g("h1", "c"), g("h1", "d")],
         [wire.result(host="h2", check="system", outcome=wire.TIMEOUT, reason=why)])
    time.sleep(0.5)
got = wait_lines("firing unreachable", 1, 5)
assert "fosen h2 system | system on h2 (site fosen) is unreachable: timeout: " + why in got[0], got
rrd = os.path.join(W, "rrd/fosen/h2/system.rrd")
subprocess.run([os.environ["VAKT_BIN"] + "/vaktctl", "-s", W + "/collector.sock", "flush", rrd],
               check=True, capture_output=True)
out = subprocess.run(["rrdtool", "lastupdate", rrd], capture_output=True, text=True).stdout
assert out.split("\n")[0].split() == ["up", "outcome"] or set(out.split("\n")[0].split()) == {"up", "outcome"}, out
vals = dict(zip(out.split("\n")[0].split(), out.strip().split("\n")[-1].split(":")[1].split()))
assert vals["up"] == "0" and vals["outcome"] == "3", out
for _ in range(2):
    send(s, [g("h1", "c"), g("h1", "d")], [wire.result(host="h2", check="system", outcome=wire.OK)])
    time.sleep(0.5)
wait_lines("resolved unreachable", 1, 5)
assert len(lines("firing unreachable")) == 1 and len(lines("resolved unreachable")) == 1

log("future: one sample 60 s ahead, then real ones")
now = wire.now_ms()
send(s, [g("h3", "f", 99.0, now + 60000), g("h1", "c"), g("h1", "d")])
for i in range(4):
    send(s, [g("h3", "f", 10.0 + i), g("h1", "c"), g("h1", "d")])
    time.sleep(0.5)
rrd = os.path.join(W, "rrd/fosen/h3/f.rrd")
subprocess.run([os.environ["VAKT_BIN"] + "/vaktctl", "-s", W + "/collector.sock", "flush", rrd],
               check=True, capture_output=True)
out = subprocess.run(["rrdtool", "lastupdate", rrd], capture_output=True, text=True).stdout
assert out.strip().split("\n")[-1].split(":")[1].strip() == "13", out
st = subprocess.run([os.environ["VAKT_BIN"] + "/vaktctl", "-s", W + "/collector.sock", "status"],
                    capture_output=True, text=True).stdout
assert 'site "fosen" agent "a1": connected' in st and "1 refused as ahead" in st, st

log("agent-down: the agent goes quiet")
s.close()
t_stop = time.time()
got = wait_lines("firing agent-down", 1, 10)
took = time.time() - t_stop
assert 'fosen a1 vakt-agent | agent "a1" of site fosen is down: nothing heard for' in got[0], got
assert took <= 3 + 2, "agent-down took %.1f s" % took
time.sleep(8)  # its series fall silent too: agent-down explains them, no more pages
assert len(lines("firing")) == 3, lines("")
log("agent-down: the agent comes back")
s = connect()
send(s, [g("h1", "c"), g("h1", "d")])
wait_lines("resolved agent-down", 1, 5)
assert 'agent "a1" of site fosen is back' in lines("resolved agent-down")[0]
st = subprocess.run([os.environ["VAKT_BIN"] + "/vaktctl", "-s", W + "/collector.sock", "status"],
                    capture_output=True, text=True).stdout
assert "agents: 1, 0 down" in st, st
s.close()
log("PASS")
EOP
grep -q "samples stamped up to 60" "$W/collector.log" || fail "the future sample was not logged"

log "collector restart: an agent that never comes back is still missed"
stop collector
mv "$W/collector.log" "$W/collector.log.1"
start_collector "$W" "$col_port"
agent_down_pages_are() { [ "$(grep -c "^firing agent-down fosen a1 " "$W/pages.log")" = "$1" ]; }
wait_for $((10 * SLOW)) agent_down_pages_are 2 ||
	{ cat "$W/collector.log" "$W/pages.log"; fail "no agent-down after a restart for an agent that stayed away"; }
grep -q '^firing agent-down fosen a1 vakt-agent | agent "a1" of site fosen is down: nothing heard for [0-9]* s (since .*); not connected since the collector started$' "$W/pages.log" ||
	{ cat "$W/pages.log"; fail "agent-down after a restart: wrong text"; }
echo "PASS: no-data, unreachable and agent-down each paged once and recovered once"
