#!/bin/bash
# test_nodata_after_restart.sh - a restart of the collector does not make
# silence pass for good news. Files that had data shortly before the restart
# are watched from the start: one whose samples never resume pages no-data
# once (at its own interval, read back from the series index), one of an
# agent that never returns is explained by that agent's agent-down, and a
# file silent for days before the restart counts as retired and pages nothing.
set -eu
. "$(dirname "$0")/lib.sh"
need_tools python3
W=$(mktemp -d /tmp/vakt-it-nodata-restart.XXXXXX)
trap 'cleanup && s=0 || s=$?; [ -n "${KEEP:-}" ] || rm -rf "$W"; exit $s' EXIT

col_port=$(free_port tcp)
{ pager_channel "$W"; cat <<EOC; } | write_collector_conf "$W" "$col_port"
watch {
  agent_down = 4
  no_data = 2
}
EOC
start_collector "$W" "$col_port"

client() {
	PYTHONPATH="$(dirname "$0")" python3 - "$col_port" "$W" "$1" <<'EOP' ||
import sys, time
import wire
from pages import Pages, log

port, W, phase = int(sys.argv[1]), sys.argv[2], sys.argv[3]
pages = Pages(W)
seqs = {}

def connect(agent):
    s = wire.connect(port)
    s.sendall(wire.frame(wire.hello(site="fosen", agent=agent)))
    wire.expect(s, "hello_ack")
    return s

def send(s, agent, samples):
    seqs[agent] = seqs.get(agent, 0) + 1
    s.sendall(wire.frame(wire.batch(seqs[agent], samples)))
    wire.expect(s, "ack")

def g(host, check, interval):
    return wire.sample(host=host, check=check, metric="m", value=1.0, interval=interval)

if phase == "before":
    # h1/c at a 5 s interval, h1/d at 1 s (agent a1); h3/f (agent a2); h4/g (a1)
    a1, a2 = connect("a1"), connect("a2")
    for i in range(3):
        send(a1, "a1", [g("h1", "c", 5), g("h1", "d", 1), g("h4", "g", 1)])
        send(a2, "a2", [g("h3", "f", 1)])
        time.sleep(1.1)
    sys.exit(0)

# after the restart: a1 is back and sends h1/d only; a2 never returns
a1 = connect("a1")
start = time.time()
keep_d = lambda: send(a1, "a1", [g("h1", "d", 1)])
got = pages.wait("firing no-data", 1, 40, also=keep_d)
took = time.time() - start
assert len(got) == 1 and got[0].startswith("firing no-data fosen h1 c | "), pages.lines()
assert "when the collector started; none since" in got[0], got
assert "interval 5 s" in got[0] and 'agent "a1" is connected' in got[0], got
# 2 intervals of 5 s and the grace: not at h1/d's pace of 1 s
assert took >= 2 * 5 - 1, "no-data for h1/c after %.1f s: not at its own interval" % took
pages.wait("firing agent-down fosen a2", 1, 20, also=keep_d)
for _ in range(10):  # a2's h3/f is explained by agent-down; h4/g is retired
    keep_d()
    time.sleep(0.5)
assert [l for l in pages.lines("firing") if "h1 c" not in l and "agent-down fosen a2" not in l] == [], \
    pages.lines()
log("h1/c comes back")
send(a1, "a1", [g("h1", "c", 5), g("h1", "d", 1)])
got = pages.wait("resolved no-data fosen h1 c", 1, 10, also=keep_d)
assert "data for c on h1 (site fosen) again after" in got[0], got
assert len(pages.lines("firing no-data")) == 1, pages.lines()
EOP
		{ cat "$W"/collector*.log; cat "$W/pages.log" 2>/dev/null; fail "see above"; }
}

log "before the restart: four files of two agents"
client before
stop collector
# h4/g was last written two days ago: retired, not watched after the restart
touch -d "2 days ago" "$W/rrd/fosen/h4/g.rrd"
start_collector "$W" "$col_port" "$W/collector2.log"
log_has "$W/collector2.log" "store: 3 files were written within a day before the start"
log "after the restart: a1 sends h1/d only, a2 is gone"
client after
echo "PASS: files silent since the restart page no-data at their interval, once"
