#!/bin/bash
# test_agent_streams_bounded.sh - the collector remembers the newest four
# streams of one (site, agent), not every stream id it ever heard: an agent
# reconnecting six times with a new stream id each time leaves four in
# vakt.db; the newest resume where they were, across a restart too, and the
# oldest are forgotten (HelloAck's acked is 0 for them).
set -eu
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
W=$(mktemp -d /tmp/vakt-it-streams.XXXXXX)
trap 'cleanup && s=0 || s=$?; [ -n "${KEEP:-}" ] || rm -rf "$W"; exit $s' EXIT

col_port=$(free_port tcp)
write_collector_conf "$W" "$col_port" <<EOC
watch {
  agent_down = 0
}
EOC
start_collector "$W" "$col_port"

# acked STREAMS...: prints HelloAck's acked for each stream id, one hello each
acked() {
	wire_client "$col_port" "
out = []
for st in [int(x) for x in '$*'.split()]:
    s = wire.connect(PORT)
    s.sendall(wire.frame(wire.hello(site='fosen', agent='a1', stream=st)))
    out.append(str(wire.expect(s, 'hello_ack').get(6, 0)))
    s.close()
print(' '.join(out))
"
}

t0=$(( $(date +%s) - 60 ))
wire_client "$col_port" "
for k in range(1, 7):
    s = wire.connect(PORT)
    s.sendall(wire.frame(wire.hello(site='fosen', agent='a1', stream=1000 + k)))
    wire.expect(s, 'hello_ack')
    s.sendall(wire.frame(wire.batch(10 + k, [wire.sample(host='h', check='c', time_ms=($t0 + k) * 1000)])))
    assert wire.expect(s, 'ack').get(1) == 10 + k
    s.close()
" || { cat "$W/collector.log"; fail "see above"; }
got=$(acked 1001 1002 1003 1004 1005 1006)
[ "$got" = "0 0 13 14 15 16" ] || { cat "$W/collector.log"; fail "acked per stream: $got"; }

stop collector
rows=$(python3 -c "
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print(' '.join(str(r[0]) for r in db.execute(
    \"SELECT stream FROM agent_stream WHERE site = 'fosen' AND agent = 'a1' ORDER BY stream\")))
" "$W/rrd/vakt.db")
[ "$rows" = "1003 1004 1005 1006" ] || fail "vakt.db remembers streams $rows"
start_collector "$W" "$col_port" "$W/collector2.log"
got=$(acked 1001 1002 1003 1004 1005 1006)
[ "$got" = "0 0 13 14 15 16" ] || { cat "$W/collector2.log"; fail "after a restart, acked per stream: $got"; }
echo "PASS: four streams per agent are remembered, the newest, across a restart"
