#!/bin/bash
# test_collector_kill9.sh - the collector is killed (-9) three times in the
# middle of a stream and started again each time: every sample produced is
# in the RRD files exactly once. Its cache holds values for a minute, so the
# kills hit data that is only in the journal. Two producers:
#  - the real agent probing a TCP service every second: no second of the
#    whole run may lack its measured connect_time;
#  - a client with a stream id (Hello.stream) that keeps what is unacked and
#    sends it all again after every reconnect, as a spooling agent does:
#    batch i holds one gauge of value i at second T0+i of a past timeline,
#    so row T0+i of its file must hold exactly i, for every i. It also checks
#    that HelloAck.acked never forgets an ack it received, and that the
#    batches it sends again at or below it are acked without being written
#    (counted as redelivered in vaktctl status).
set -eu
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
command -v rrdtool >/dev/null || { echo "SKIP: rrdtool missing"; exit 77; }
W=$(mktemp -d /tmp/vakt-it-kill9.XXXXXX)
trap 'cleanup && s=0 || s=$?; rm -rf "$W"; exit $s' EXIT
export WIRE_DIR
WIRE_DIR=$(cd "$(dirname "$0")" && pwd)

N=400 # batches of the stream client, 20 a second: it outlasts the three kills
web_port=$(free_port tcp)
col_port=$(free_port tcp)
CACHE_FLUSH_AGE=60 write_collector_conf "$W" "$col_port" </dev/null
start_web_probe "$W" fosen "$col_port" "$web_port"
agent_rrd="$W/rrd/fosen/127.0.0.1/web.rrd"
wait_for 15 test -f "$agent_rrd" || { cat "$W/collector.log"; fail "no RRD file for the agent"; }
t_first=$(date +%s)

# the stream client: prints "hello ACKED LAST_ACK_RECEIVED" at every session,
# "done" at the end; exits non-zero when the collector forgot an ack
python3 - "$col_port" "$N" >"$W/stream.log" 2>&1 <<'PY' &
import os, random, socket, sys, time
sys.path.insert(0, os.environ["WIRE_DIR"])
import wire
port, n = int(sys.argv[1]), int(sys.argv[2])
stream = random.getrandbits(63) | 1
t0 = (int(time.time()) - 3600) * 1000  # an hour back: in the hour of seconds a test file keeps
acked, sent_upto = 0, 0
deadline = time.time() + 150
def batch(i):
    return wire.frame(wire.batch(i, [wire.sample(host="replay", check="seq", metric="v",
                                                 time_ms=t0 + i * 1000, value=float(i))]))
print("t0", t0 // 1000, flush=True)
while acked < n:
    if time.time() > deadline:
        sys.exit("gave up at ack %d of %d" % (acked, n))
    try:
        s = wire.connect(port, timeout=5)
        s.sendall(wire.frame(wire.hello(site="fosen", agent="replayer", stream=stream)))
        ha = wire.expect(s, "hello_ack")
    except (OSError, AssertionError):
        time.sleep(0.2)
        continue
    have = ha.get(6, 0)
    print("hello", have, acked, flush=True)
    if have < acked:
        sys.exit("the collector says it holds up to %d, but acked %d" % (have, acked))
    # everything unacked goes again, also what the collector holds already
    sent_upto = acked
    try:
        while acked < n:
            while sent_upto < n and sent_upto - acked < 8:
                sent_upto += 1
                s.sendall(batch(sent_upto))
                time.sleep(0.05)
            a = wire.expect(s, "ack")
            acked = max(acked, a.get(1, 0))
    except (OSError, AssertionError):
        s.close()
        continue
    s.close()
print("done", acked, flush=True)
PY
stream_pid=$!
PIDS="$stream_pid $PIDS"

for k in 1 2 3; do
	sleep "$(( 2 + k ))"
	kill -9 "$PID_collector"
	wait "$PID_collector" 2>/dev/null || true
	PID_collector=
	log "collector killed ($k of 3)"
	sleep 1
	start_collector "$W" "$col_port" "$W/collector$k.log"
done
wait_for 120 grep -q "^done" "$W/stream.log" || { cat "$W/stream.log"; fail "the stream client did not finish"; }
wait "$stream_pid" || { cat "$W/stream.log"; fail "the stream client failed"; }
grep -q "^hello" "$W/stream.log" || fail "no session of the stream client"
[ "$(grep -c "^hello" "$W/stream.log")" -ge 4 ] || { cat "$W/stream.log"; fail "the kills did not hit the stream"; }

# the collector replayed its journal each time
for k in 1 2 3; do
	grep -q "store: journal replayed: [0-9]* records" "$W/collector$k.log" ||
		{ cat "$W/collector$k.log"; fail "start $k did not replay the journal"; }
done

# let the agent's live data catch up past the last restart, then make the files current
up_at=$(date +%s)
caught_up() { rrd_flush "$W" "$agent_rrd" && [ "$(rrdtool last "$agent_rrd")" -ge $((up_at + 2)) ]; }
wait_for 30 caught_up || { cat "$W/agent.log" "$W/collector3.log"; fail "the agent's data did not catch up"; }
rrd_flush "$W"

# the stream: row T0+i holds exactly i, for every i of 1..N
t0=$(awk '$1 == "t0" { print $2 }' "$W/stream.log")
rrd="$W/rrd/fosen/replay/seq.rrd"
rrdtool fetch "$rrd" AVERAGE -r 1 -s "$t0" -e $((t0 + N)) >"$W/fetch-stream.txt"
awk -v t0="$t0" -v n="$N" '
	/^[0-9]+:/ { t = $1 + 0; i = t - t0; if (i < 1 || i > n) next; seen++
		if ($2 ~ /nan/ || $2 + 0 != i) { bad++; if (bad < 5) print "row " i ": " $2 } }
	END { printf "%d of %d rows, %d wrong\n", seen, n, bad; exit !(seen == n && bad == 0) }' \
	"$W/fetch-stream.txt" || fail "the stream's samples are not all in $rrd exactly once"

# batches sent again at or below HelloAck.acked after the last restart were
# acked without a write: as many as the client sent again
last=$(grep "^hello" "$W/stream.log" | tail -1)
expect=$(echo "$last" | awk '{ print $2 - $3 }')
"$VAKT_BIN/vaktctl" -s "$W/collector.sock" status >"$W/status.txt"
grep -q "agent \"replayer\": .* $expect batches redelivered" "$W/status.txt" ||
	{ cat "$W/stream.log" "$W/status.txt"; fail "expected $expect batches redelivered"; }

# the agent: every second from its first file to the end holds a measured connect_time
rrdtool fetch "$agent_rrd" AVERAGE -r 1 -s "$t_first" -e "$up_at" >"$W/fetch-agent.txt"
awk -v from=$((t_first + 1)) -v to=$((up_at - 1)) '
	NR == 1 { for (i = 1; i <= NF; i++) if ($i == "connect_time") col = i + 1 }
	/^[0-9]+:/ { t = $1 + 0; if (t >= from && t <= to) { n++; if (!col || $col ~ /nan/ || $col + 0 <= 0) bad++ } }
	END { printf "%d seconds of the agent, %d without connect_time\n", n, bad; exit !(n >= to - from && bad == 0) }' \
	"$W/fetch-agent.txt" || { cat "$W/fetch-agent.txt"; fail "the agent's samples have a gap"; }
! grep -q "queue full\|are lost" "$W/agent.log" || fail "the agent dropped batches"
echo "PASS: three kill -9 of the collector mid-stream: every sample stored exactly once"
