#!/bin/bash
# test_agent_parts_to_older_collector.sh - batches spooled while the collector
# was away, each larger than the max_frame (4096) of the collector that then
# comes up, which is one from before batches in parts (old_collector.py: its
# HelloAck says nothing of `parts`). Such a collector would take a batch's
# first part for the whole batch, so the agent sends none: each too-big batch
# goes as its seq alone, the agent logs what it dropped once, its stats line
# counts it once, and the batches made after the collector came up arrive
# whole. Two rounds: protocol 1; protocol 2 with the first connection cut at
# its first batch, unacknowledged, so that the agent sends the dropped
# batches again on its next one. It counted and logged them again then: the
# stats line said more batches were lost than ever were.
set -eu
. "$(dirname "$0")/lib.sh"
W=$(mktemp -d /tmp/vakt-it-oldparts.XXXXXX)
trap 'cleanup && s=0 || s=$?; rm -rf "$W"; exit $s' EXIT

web_port=$(free_port tcp)
start_tcp_service web "$W" "$web_port"

# round PROTOCOL CUT CONNECTIONS
round() {
	local R="$W/p$1" col_port empty logged dropped stats distinct
	mkdir -p "$R"
	col_port=$(free_port tcp)
	forty_probes_conf "$R" "$col_port" "$web_port" <<EOC
spool_dir = "$R/spool"
EOC
	start agent "$R/agent.log" "$VAKT_BIN/vakt-agent" -f -c "$R/agent.conf"
	sleep 8
	[ -n "$(find "$R/spool" -name '*.seg' -size +8k)" ] || { ls -l "$R/spool"; fail "nothing spooled"; }
	start old "$R/old.log" python3 "$(dirname "$0")/old_collector.py" "$col_port" 4096 \
		"$R/frames.txt" "$1" "$2"

	# every spooled batch answered, then live batches with samples in them
	live_arrived() { [ "$(grep -c '^batch .* samples=[1-9]' "$R/frames.txt")" -ge 3 ]; }
	wait_for 30 live_arrived ||
		{ cat "$R/frames.txt" "$R/old.log"; tail -n 20 "$R/agent.log"; fail "no live batch arrived"; }
	stop agent
	stop old
	log "protocol $1: what the collector got:"
	cat "$R/frames.txt" >&2

	! grep -q 'more=1' "$R/frames.txt" || fail "the agent sent parts to a collector that takes none"
	! grep -q '^toobig' "$R/frames.txt" || fail "the agent sent a frame over the collector's max_frame"
	[ "$(grep -c '^connection' "$R/frames.txt")" = "$3" ] || fail "the agent did not connect $3 times"
	# the spooled batches too big for the collector: their seqs alone, each
	# logged once with what it held and counted once in the stats line the
	# agent writes as it stops
	empty=$(grep -c '^batch .* samples=0 results=0 events=0 more=0' "$R/frames.txt" || true)
	distinct=$(grep '^batch .* samples=0 results=0 events=0 more=0' "$R/frames.txt" | sort -u | wc -l)
	[ "$distinct" -gt 0 ] || fail "no spooled batch was answered by its seq alone"
	[ "$2" = 0 ] || [ "$empty" -gt "$distinct" ] || fail "no dropped batch was sent again after the cut"
	logged=$(grep -c "and the collector takes no batch in parts (upgrade it, or raise its max_frame): [1-9][0-9]* samples, [1-9][0-9]* results and 0 events of it dropped" "$R/agent.log" || true)
	[ "$logged" = "$distinct" ] || { grep "max_frame" "$R/agent.log"; fail "$distinct batches dropped, $logged logged"; }
	stats=$(grep 'stats:' "$R/agent.log" | tail -n 1)
	[ -n "$stats" ] || { tail -n 5 "$R/agent.log"; fail "no stats line at stop"; }
	log "$stats"
	dropped=$(sed -E 's/.*dropped: ([0-9]+) batches.*/\1/' <<<"$stats")
	[ "$dropped" = "$distinct" ] || fail "the stats line counts $dropped dropped batches, $distinct were dropped"
	echo "protocol $1: $distinct spooled batches over max_frame 4096 went as their seqs alone ($empty sent), logged and counted once"
}
round 1 0 1
round 2 1 2
echo "PASS: an older collector got no parts; the batches too big for it were logged and counted once each; live batches arrived whole"
