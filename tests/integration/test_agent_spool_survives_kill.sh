#!/bin/bash
# test_agent_spool_survives_kill.sh - the collector is down and the agent is
# killed (-9) while it holds unacknowledged data: its disk spool keeps it,
# and once both run again every spooled second reaches the RRD file. Then
# the same with the spool's last record torn (the segment file cut short
# while the agent is stopped, as a power loss leaves it): the agent cuts it
# at start-up with a log line naming the file and delivers the rest.
set -eu
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
W=$(mktemp -d /tmp/vakt-it-spool.XXXXXX)
trap 'cleanup; s=$?; rm -rf "$W"; exit $s' EXIT

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

# holds NAME FROM TO: every second FROM..TO of the RRD file holds a measured
# connect_time (the service never stopped)
holds() {
	rrdtool fetch "$rrd" AVERAGE -r 1 -s $(($2 - 2)) -e $(($3 + 1)) >"$W/fetch-$1.txt"
	awk -v from="$2" -v to="$3" '
		NR == 1 { for (i = 1; i <= NF; i++) if ($i == "connect_time") col = i + 1 }
		/^[0-9]+:/ { t = $1 + 0; if (t >= from && t <= to) { n++; if (!col || $col ~ /nan/ || $col + 0 <= 0) bad++ } }
		END { printf "%d rows from %d to %d, %d without connect_time\n", n, from, to, bad
		      exit !(n == to - from + 1 && bad == 0) }' "$W/fetch-$1.txt" ||
		{ cat "$W/fetch-$1.txt"; fail "$1: the spooled seconds did not all arrive"; }
}

# --- 1: kill -9 of the agent while the collector is down ---
kill_collector
down_at=$(date +%s)
log "collector killed at $down_at; the agent spools"
sleep 6
kill_agent
killed_at=$(date +%s)
ls "$W"/spool/*.seg >/dev/null 2>&1 || fail "nothing in the spool"
log "agent killed at $killed_at with $(cat "$W"/spool/*.seg | wc -c) bytes spooled"
start_collector "$W" "$col_port" "$W/collector2.log"
start agent "$W/agent2.log" "$VAKT_BIN/vakt-agent" -f -v -c "$W/agent.conf"
up_at=$(date +%s)
found() { grep -q "spool: $W/spool: stream [0-9a-f]*, [1-9][0-9]* unacknowledged batches" "$W/agent2.log"; }
wait_for 10 found || { cat "$W/agent2.log"; fail "the restarted agent found nothing in its spool"; }
caught_up() { [ "$(rrdtool last "$rrd")" -ge $((up_at + 2)) ]; }
wait_for 30 caught_up || { cat "$W/agent2.log" "$W/collector2.log"; fail "RRD did not catch up"; }
# the last second or two before the kill may not have been batched and
# written yet (batch_ms, the writer thread)
holds outage $((down_at - 1)) $((killed_at - 3))

# --- 2: the same, with the last spooled record torn ---
kill_collector
down_at=$(date +%s)
log "collector killed again at $down_at"
sleep 6
kill_agent
killed_at=$(date +%s)
last_seg=$(ls "$W"/spool/*.seg | sort | tail -n 1)
size=$(stat -c %s "$last_seg")
truncate -s $((size - 3)) "$last_seg"
log "cut $last_seg from $size to $((size - 3)) bytes"
start_collector "$W" "$col_port" "$W/collector3.log"
start agent "$W/agent3.log" "$VAKT_BIN/vakt-agent" -f -v -c "$W/agent.conf"
up_at=$(date +%s)
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

# --- 3: the spool is fosen's: an agent of another site must not send it as its own ---
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
"$VAKT_BIN/vakt-agent" -f -c "$W/leksvik.conf" >"$W/agent4.log" 2>&1
rc=$?
set -e
[ "$rc" -ne 0 ] && grep -q "holds .* segments of site=fosen" "$W/agent4.log" ||
	{ cat "$W/agent4.log"; fail "an agent of another site started on fosen's spool"; }
echo "PASS: every spooled sample arrived after kill -9 and after a torn tail was cut; another site's agent does not take the spool"
