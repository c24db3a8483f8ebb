#!/bin/bash
# test_agent_spool_survives_kill.sh - the collector is down and the agent is
# killed (-9) while it holds unacknowledged data: its disk spool keeps it,
# and once both run again every spooled second reaches the RRD file. Then
# the same with the spool's last record torn (the segment file cut short
# while the agent is stopped, as a power loss leaves it): the agent cuts it
# at start-up with a log line naming the file and delivers the rest. Then
# with one byte flipped in a record in the middle of a segment (a failing
# disk): only that batch is lost, every later one arrives, in order.
set -eu
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
W=$(mktemp -d /tmp/vakt-it-spool.XXXXXX)
trap 'cleanup && s=0 || s=$?; rm -rf "$W"; exit $s' EXIT

web_port=$(free_port tcp)
col_port=$(free_port tcp)
write_collector_conf "$W" "$col_port" </dev/null
cat >"$W/agent.conf" <<EOC
site = "fosen"
insecure = yes
collector "dc1" { address = "127.0.0.1:$col_port" }
spool_dir = "$W/spool"
probe "web" {
  kind = "tcp"
  address = "127.0.0.1:$web_port"
  interval = 1
  timeout = 500
}
EOC
start_tcp_service web "$W" "$web_port"
start_collector "$W" "$col_port"
start agent "$W/agent.log" "$VAKT_BIN/vakt-agent" -f -v -c "$W/agent.conf"
rrd="$W/rrd/fosen/127.0.0.1/web.rrd"
wait_for 15 test -f "$rrd" || { cat "$W/agent.log"; fail "no RRD file"; }
sleep 2

# kill_collector, kill_agent: -9, no chance to flush or say goodbye
kill_collector() { kill -9 "$PID_collector"; wait "$PID_collector" 2>/dev/null || true; PID_collector=; }
kill_agent() { kill -9 "$PID_agent"; wait "$PID_agent" 2>/dev/null || true; PID_agent=; }

# holds NAME FROM TO [EXCEPT]: every second FROM..TO of the RRD file holds a
# measured connect_time (the service never stopped), but for the seconds in
# the list EXCEPT (those of a batch that was lost)
holds() {
	rrdtool fetch "$rrd" AVERAGE -r 1 -s $(($2 - 2)) -e $(($3 + 1)) >"$W/fetch-$1.txt"
	awk -v from="$2" -v to="$3" -v except="${4:-}" '
		BEGIN { m = split(except, e, " ")
			for (i = 1; i <= m; i++) if (e[i] >= from && e[i] <= to) { skip[e[i] ":"] = 1; k++ } }
		NR == 1 { for (i = 1; i <= NF; i++) if ($i == "connect_time") col = i + 1 }
		/^[0-9]+:/ { t = $1 + 0; if (t >= from && t <= to && !($1 in skip)) { n++; if (!col || $col ~ /nan/ || $col + 0 <= 0) bad++ } }
		END { printf "%d rows from %d to %d (%d excepted), %d without connect_time\n", n, from, to, k, bad
		      exit !(n == to - from + 1 - k && bad == 0) }' "$W/fetch-$1.txt" ||
		{ cat "$W/fetch-$1.txt"; fail "$1: the spooled seconds did not all arrive"; }
}

# outage SECONDS: the collector dies, the agent spools SECONDS and dies too;
# sets down_at, killed_at and last_seg (the newest segment)
outage() {
	kill_collector
	down_at=$(date +%s)
	log "collector killed at $down_at; the agent spools"
	sleep "$1"
	kill_agent
	killed_at=$(date +%s)
	last_seg=$(ls "$W"/spool/*.seg 2>/dev/null | sort | tail -n 1)
	[ -n "$last_seg" ] || fail "nothing in the spool"
	log "agent killed at $killed_at with $(cat "$W"/spool/*.seg | wc -c) bytes spooled"
}
# steady: waits until the file has rows well after the last restart, so that
# the next outage's window does not begin at the first row after the restart,
# which rrdtool leaves unknown (its update spans the gap, more than the
# file's heartbeat)
steady() {
	past_restart() { [ "$(rrdtool last "$rrd")" -ge $((up_at + 4)) ]; }
	wait_for 15 past_restart || fail "no steady data after the restart"
}
# restart N: both start again, logging to collectorN.log and agentN.log; sets up_at
restart() {
	start_collector "$W" "$col_port" "$W/collector$1.log"
	start agent "$W/agent$1.log" "$VAKT_BIN/vakt-agent" -f -v -c "$W/agent.conf"
	up_at=$(date +%s)
}

# --- 1: kill -9 of the agent while the collector is down ---
outage 6
restart 2
found() { grep -q "spool: $W/spool: stream [0-9a-f]*, [1-9][0-9]* unacknowledged batches" "$W/agent2.log"; }
wait_for 10 found || { cat "$W/agent2.log"; fail "the restarted agent found nothing in its spool"; }
caught_up() { [ "$(rrdtool last "$rrd")" -ge $((up_at + 2)) ]; }
wait_for 30 caught_up || { cat "$W/agent2.log" "$W/collector2.log"; fail "RRD did not catch up"; }
# the last second or two before the kill may not have been batched and
# written yet (batch_ms, the writer thread)
holds outage $((down_at - 1)) $((killed_at - 3))

# --- 2: the same, with the last spooled record torn ---
steady
outage 6
size=$(stat -c %s "$last_seg")
truncate -s $((size - 3)) "$last_seg"
log "cut $last_seg from $size to $((size - 3)) bytes"
restart 3
cut_logged() { grep -q "spool: $last_seg: offset [0-9]*: torn record (file ends inside it); cut there" "$W/agent3.log"; }
wait_for 10 cut_logged || { cat "$W/agent3.log"; fail "no log line about the torn record"; }
# cut, or already deleted: once what is left in it is acknowledged
[ "$(stat -c %s "$last_seg" 2>/dev/null || echo 0)" -lt $((size - 3)) ] ||
	fail "the torn record was not cut from $last_seg"
wait_for 30 caught_up || { cat "$W/agent3.log" "$W/collector3.log"; fail "RRD did not catch up after the cut"; }
# the torn record held the last batch written before the kill: a second or
# two more than above
holds torn $((down_at - 1)) $((killed_at - 5))
! grep -q "dropping" "$W/agent.log" "$W/agent2.log" "$W/agent3.log" || fail "the agent dropped batches"

# --- 3: one byte flipped in the middle of a segment, as a failing disk does ---
steady
outage 10
# flip a byte in the frame of one of the first batches not yet acknowledged
# (more follow it); print its offsets, its seq and the seconds its samples
# were taken
WIRE_DIR=$(cd "$(dirname "$0")" && pwd) python3 - "$last_seg" "$W/spool/state" >"$W/flipped.txt" <<'PY'
import os, struct, sys
sys.path.insert(0, os.environ["WIRE_DIR"])
import wire
seg, state = sys.argv[1], sys.argv[2]
acked = struct.unpack_from("<Q", open(state, "rb").read(), 24)[0]
b = bytearray(open(seg, "rb").read())
recs, off = [], 32
while off + 32 <= len(b):
    n, seq = struct.unpack_from("<IQ", b, off + 12)
    if seq > acked:
        recs.append((off, n, seq))
    off += 32 + n
assert len(recs) >= 5, "only %d unacknowledged records" % len(recs)
off, n, seq = recs[len(recs) // 3]
body = bytes(b[off + 36:off + 32 + n])
secs = set()
for num, _, v in wire.fields(body):
    if num == wire.BATCH:
        for f, _, s in wire.fields(v):
            if f == 2:
                secs.update(t // 1000 for g, _, t in wire.fields(s) if g == 5)
b[off + 32 + n // 2] ^= 0x55
open(seg, "r+b").write(b)
print(off, off + 32 + n, seq, " ".join(str(t) for t in sorted(secs)))
PY
read -r hole_from hole_to lost_seq lost_secs <"$W/flipped.txt"
log "flipped a byte of batch $lost_seq (offsets $hole_from..$hole_to of $last_seg, seconds $lost_secs)"
restart 4
hole_logged() { grep -q "spool: $last_seg: offsets $hole_from..$hole_to ([0-9]* bytes): record CRC mismatch; skipped (any batch in it is lost), [0-9]* records (batches [0-9]*\.\.[0-9]*) kept" "$W/agent4.log"; }
wait_for 10 hole_logged || { cat "$W/agent4.log"; fail "no log line about the damaged record"; }
wait_for 30 caught_up || { cat "$W/agent4.log" "$W/collector4.log"; fail "RRD did not catch up after the damaged record"; }
# every second but the damaged batch's arrived, those after it too (the row
# after a lost second is unknown as well: its update spans two seconds,
# more than the file's heartbeat)
except=$(for t in $lost_secs; do echo "$t $((t + 1))"; done | tr ' ' '\n' | sort -u | tr '\n' ' ')
holds hole $((down_at - 1)) $((killed_at - 3)) "$except"
! grep -q "dropping\|cut there" "$W/agent4.log" || fail "the agent cut or dropped more than the damaged batch"

# --- 4: the spool is fosen's: an agent of another site must not send it as its own ---
kill_collector
sleep 3
kill_agent
ls "$W"/spool/*.seg >/dev/null 2>&1 || fail "nothing in the spool"
sed 's/^site = "fosen"$/site = "leksvik"/' "$W/agent.conf" >"$W/leksvik.conf"
set +e
out=$("$VAKT_BIN/vakt-agent" -n -c "$W/leksvik.conf" 2>&1 >/dev/null)
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "--check-config accepted another site's spool"
case "$out" in
"$W/leksvik.conf:4: spool_dir \"$W/spool\" holds "*" segments of site=fosen agent="*", not of site=leksvik agent="*": start the agent with its old site and name until they are delivered, or move the directory away") ;;
*) fail "--check-config said: $out" ;;
esac
set +e
"$VAKT_BIN/vakt-agent" -f -c "$W/leksvik.conf" >"$W/agent5.log" 2>&1
rc=$?
set -e
[ "$rc" -ne 0 ] && grep -q "holds .* segments of site=fosen" "$W/agent5.log" ||
	{ cat "$W/agent5.log"; fail "an agent of another site started on fosen's spool"; }
echo "PASS: every spooled sample arrived after kill -9, after a torn tail was cut and past a damaged record; another site's agent does not take the spool"
