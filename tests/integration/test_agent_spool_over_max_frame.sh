#!/bin/bash
# test_agent_spool_over_max_frame.sh - batches spooled while the collector was
# away, each larger than the max_frame of the collector that then comes up
# (4096: 40 probes, batched every 3 s): the agent sends each in parts that fit,
# the collector acknowledges the batch with its last part, and every spooled
# second reaches the RRD files. The stream was wedged: the collector refused
# the batch, the agent reconnected and sent it again, for ever.
set -eu
. "$(dirname "$0")/lib.sh"
command -v rrdtool >/dev/null || { echo "SKIP: rrdtool missing"; exit 77; }
W=$(mktemp -d /tmp/vakt-it-overframe.XXXXXX)
trap 'cleanup && s=0 || s=$?; rm -rf "$W"; exit $s' EXIT

web_port=$(free_port tcp)
col_port=$(free_port tcp)
write_collector_conf "$W" "$col_port" <<EOC
max_frame = 4096
EOC
start_tcp_service web "$W" "$web_port"
forty_probes_conf "$W" "$col_port" "$web_port" <<EOC
spool_dir = "$W/spool"
EOC
start agent "$W/agent.log" "$VAKT_BIN/vakt-agent" -f -c "$W/agent.conf"
sleep 2
from=$(date +%s)
sleep 8
to=$(date +%s)
big=$(find "$W/spool" -name '*.seg' -size +8k | wc -l)
[ "$big" -gt 0 ] || { ls -l "$W/spool"; fail "nothing spooled"; }
start_collector "$W" "$col_port"

rrd="$W/rrd/frosta/127.0.0.1/web7.rrd"
spooled_there() {
	rrd_flush "$W"
	rrdtool fetch "$rrd" AVERAGE -r 1 -s $((from - 1)) -e "$to" >"$W/fetch.txt" || return 1
	awk -v from="$from" -v to="$to" '
		NR == 1 { for (i = 1; i <= NF; i++) if ($i == "connect_time") col = i + 1 }
		/^[0-9]+:/ { t = $1 + 0; if (t >= from && t < to && col && $col !~ /nan/ && $col + 0 > 0) n++ }
		END { exit !(n == to - from) }' "$W/fetch.txt"
}
wait_for 40 spooled_there ||
	{ cat "$W/fetch.txt"; tail -n 20 "$W/agent.log" "$W/collector.log"; fail "the spooled seconds did not all arrive"; }
wait_for 30 forty_probes_up "$W" || { tail -n 20 "$W/agent.log" "$W/collector.log"; fail "not every probe's values arrived"; }
log_has "$W/agent.log" "more than the collector's max_frame 4096: sent in"
grep "sent in" "$W/agent.log" | head -n 2
! grep -q "frame larger than the maximum" "$W/collector.log" ||
	{ grep "frame larger" "$W/collector.log" | head -n 3; fail "the collector refused a batch as too big"; }
[ "$(grep -c "connected to dc1" "$W/agent.log")" = 1 ] ||
	{ grep "connected to\|refused" "$W/agent.log"; fail "the agent connected more than once"; }
"$VAKT_BIN/vaktctl" -s "$W/collector.sock" status >"$W/status.txt"
grep -q 'agent "[^"]*": connected.* [1-9][0-9]* batches sent in parts' "$W/status.txt" ||
	{ cat "$W/status.txt"; fail "the collector's status does not count the batches sent in parts"; }
echo "PASS: $big spooled segment(s) over max_frame 4096 went in parts; seconds $from..$to all arrived"
