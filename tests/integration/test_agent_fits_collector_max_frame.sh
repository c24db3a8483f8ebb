#!/bin/bash
# test_agent_fits_collector_max_frame.sh - a collector with a small max_frame
# (4096) and an agent whose batches would be larger (40 probes, batched every
# 3 s): the agent makes its batches fit what HelloAck announced, so none is
# refused and every probe's values arrive.
set -eu
. "$(dirname "$0")/lib.sh"
command -v rrdtool >/dev/null || { echo "SKIP: rrdtool missing"; exit 77; }
W=$(mktemp -d /tmp/vakt-it-maxframe.XXXXXX)
trap 'cleanup && s=0 || s=$?; rm -rf "$W"; exit $s' EXIT

web_port=$(free_port tcp)
col_port=$(free_port tcp)
write_collector_conf "$W" "$col_port" <<EOC
max_frame = 4096
EOC
start_tcp_service web "$W" "$web_port"
start_collector "$W" "$col_port"
forty_probes_conf "$W" "$col_port" "$web_port" </dev/null
start agent "$W/agent.log" "$VAKT_BIN/vakt-agent" -f -c "$W/agent.conf"

wait_for 30 forty_probes_up "$W" || { tail -n 20 "$W/agent.log" "$W/collector.log"; fail "not every probe's values arrived"; }
sleep 4
! grep -q "frame larger than the maximum" "$W/collector.log" ||
	{ grep "frame larger" "$W/collector.log" | head -n 3; fail "the collector refused a batch as too big"; }
! grep -q "more than the collector's max_frame" "$W/agent.log" ||
	{ grep "max_frame" "$W/agent.log"; fail "the agent made a batch too big for the collector"; }
echo "PASS: batches fit the collector's max_frame of 4096; all 40 probes' values arrived"
