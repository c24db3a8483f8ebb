#!/bin/bash
# test_agent_spool_limit.sh - a long outage with a small spool_size: the
# agent drops its OLDEST spooled batches, says so once when it starts and
# once with the counts when it ends, and everything newer arrives. The
# samples the log says were dropped are the ones missing in the RRD files:
# one gap per file, at the start of the outage.
set -eu
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
W=$(mktemp -d /tmp/vakt-it-spool-limit.XXXXXX)
trap 'cleanup && s=0 || s=$?; rm -rf "$W"; exit $s' EXIT

P=30 # probes, one sample and one Result each per second
web_port=$(free_port tcp)
col_port=$(free_port tcp)
write_collector_conf "$W" "$col_port" </dev/null
{
	cat <<EOC
site = "fosen"
insecure = yes
collector "dc1" { address = "127.0.0.1:$col_port" }
spool_dir = "$W/spool"
spool_size = "64k"
EOC
	for i in $(seq 1 $P); do
		echo "probe \"web$i\" { kind = \"tcp\" address = \"127.0.0.1:$web_port\" interval = 1 timeout = 500 }"
	done
} >"$W/agent.conf"
start_tcp_service web "$W" "$web_port"
start_collector "$W" "$col_port"
start agent "$W/agent.log" "$VAKT_BIN/vakt-agent" -f -v -c "$W/agent.conf"
all_files() { [ "$(ls "$W"/rrd/fosen/127.0.0.1/web*.rrd 2>/dev/null | wc -l)" = $P ]; }
wait_for 20 all_files || { cat "$W/agent.log"; fail "not every probe has its RRD file"; }
sleep 2

kill -9 "$PID_collector"
wait "$PID_collector" 2>/dev/null || true
PID_collector=
down_at=$(date +%s)
log "collector killed at $down_at; the agent spools into 64 KiB"
dropping() { grep -q "spool: spool_size reached: dropping the oldest" "$W/agent.log"; }
wait_for 60 dropping || { cat "$W/agent.log"; fail "the spool never filled"; }
# a few seconds of dropping: the oldest batches go, the newest stay
sleep 3
start_collector "$W" "$col_port" "$W/collector2.log"
up_at=$(date +%s)
reconnected() { [ "$(grep -c 'uplink: connected to dc1' "$W/agent.log")" -ge 2 ]; }
wait_for 40 reconnected || { cat "$W/agent.log"; fail "agent did not reconnect"; }
ended() { grep -q "spool: dropping ended" "$W/agent.log"; }
wait_for 10 ended || { cat "$W/agent.log"; fail "no line saying how much was dropped"; }
caught_up() {
	for f in "$W"/rrd/fosen/127.0.0.1/web*.rrd; do
		[ "$(rrdtool last "$f")" -ge $((up_at + 2)) ] || return 1
	done
}
wait_for 30 caught_up || { cat "$W/agent.log" "$W/collector2.log"; fail "RRD files did not catch up"; }
now=$(date +%s)

[ "$(grep -c 'dropping the oldest' "$W/agent.log")" = 1 ] || fail "the start of dropping was logged more than once"
[ "$(grep -c 'dropping ended' "$W/agent.log")" = 1 ] || fail "the end of dropping was logged more than once"
line=$(grep 'dropping ended' "$W/agent.log")
log "$line"
samples=$(echo "$line" | sed -n 's/.* batches (\([0-9]*\) samples, .*/\1/p')
[ -n "$samples" ] && [ "$samples" -gt 0 ] || fail "no sample count in: $line"

# (A file's first rows are unknown, up to its first value: the window starts
# there. It started a second before the kill, and missed the start of a gap
# that began earlier: the batches not yet acknowledged when the collector was
# killed are the oldest the full spool drops, and on a loaded machine they
# held samples from before that second.)
# Each file: before the outage and from some point in it up to now every
# second is known; between them one run of unknown seconds (the dropped,
# oldest batches). rrdtool spreads a sample over up to its heartbeat (2 s),
# so a file missing k >= 2 samples shows k + 1 unknown seconds: the files
# together miss between the dropped samples and that plus 2 per file.
total=0
for f in "$W"/rrd/fosen/127.0.0.1/web*.rrd; do
	# up to the second before the file's last update: rows after it are not due
	# yet. Read before the rows: the write-back cache may write more meanwhile.
	last=$(rrdtool last "$f")
	rrdtool fetch "$f" AVERAGE -r 1 -s $((down_at - 60)) -e $((now - 1)) >"$W/fetch.txt"
	gap=$(awk -v to=$((last - 1)) -v early=$((down_at + 3)) '
		NR == 1 { for (i = 1; i <= NF; i++) if ($i == "connect_time") col = i + 1 }
		/^[0-9]+:/ { t = $1 + 0; if (t > to) next
			     u = ($col ~ /nan/)
			     if (!seen && u) next
			     seen = 1
			     if (u && state == 0) { state = 1; run = 0; first = t }
			     if (u && state == 1) run++
			     if (!u && state == 1) state = 2
			     if (u && state == 2) runs++ }
		END { if (state == 0 || runs > 0 || first > early) { print "bad"; exit } print run }' "$W/fetch.txt")
	[ "$gap" != bad ] || { cat "$W/fetch.txt"; fail "$f: not one gap at the start of the outage, then everything"; }
	total=$((total + gap))
done
log "log: $samples samples dropped; RRD files: $total unknown seconds in $P files"
[ "$total" -ge "$samples" ] && [ "$total" -le $((samples + 2 * P)) ] ||
	fail "the log says $samples samples were dropped, the RRD files miss $total seconds"
echo "PASS: the full spool dropped its oldest batches, said so once, and everything newer arrived"
