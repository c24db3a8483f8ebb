#!/bin/bash
# test_collector_restart.sh - the collector is killed (-9) for a while and
# started again: the agent keeps what is unacknowledged and what it measured
# meanwhile, reconnects, sends it in order, and the RRD file has no gap.
set -eu
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
W=$(mktemp -d /tmp/vakt-it-restart.XXXXXX)
trap 'cleanup && s=0 || s=$?; rm -rf "$W"; exit $s' EXIT

web_port=$(free_port tcp)
col_port=$(free_port tcp)
write_collector_conf "$W" "$col_port" </dev/null
start_web_probe "$W" indre-namdal "$col_port" "$web_port"

rrd="$W/rrd/indre-namdal/127.0.0.1/web.rrd"
wait_for 15 test -f "$rrd" || fail "no RRD file"
sleep 3
kill -9 "$PID_collector"
wait "$PID_collector" 2>/dev/null || true
PID_collector=
down_at=$(date +%s)
log "collector killed at $down_at; the agent keeps measuring"
sleep 8
start_collector "$W" "$col_port" "$W/collector2.log"
up_at=$(date +%s)
# the agent backs off up to a few seconds before it reconnects
reconnected() { [ "$(grep -c 'uplink: connected to dc1' "$W/agent.log")" -ge 2 ]; }
wait_for 30 reconnected || { cat "$W/agent.log"; fail "agent did not reconnect"; }
caught_up() { [ "$(rrdtool last "$rrd")" -ge $((up_at + 2)) ]; }
wait_for 30 caught_up || { cat "$W/agent.log" "$W/collector2.log"; fail "RRD did not catch up after the restart"; }

# every second of the outage holds a measured connect_time (the service never
# stopped; up comes from the probe's Result)
rrdtool fetch "$rrd" AVERAGE -r 1 -s $((down_at - 2)) -e $((up_at + 1)) >"$W/fetch.txt"
awk -v from=$((down_at - 1)) -v to=$((up_at)) '
	NR == 1 { for (i = 1; i <= NF; i++) if ($i == "connect_time") col = i + 1 }
	/^[0-9]+:/ { t = $1 + 0; if (t >= from && t <= to) { n++; if (!col || $col ~ /nan/ || $col + 0 <= 0) bad++ } }
	END { printf "%d rows in the outage window, %d without connect_time\n", n, bad; exit !(n >= 8 && bad == 0) }' \
	"$W/fetch.txt" || { cat "$W/fetch.txt"; fail "the outage left a gap in the RRD file"; }
! grep -q "dropping the oldest" "$W/agent.log" || fail "the agent dropped batches"
echo "PASS: no sample lost while the collector was down"
