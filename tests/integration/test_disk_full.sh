#!/bin/bash
# test_disk_full.sh - the collector's disk is full: it must not acknowledge
# what it could not store, the agent keeps it, and once there is room again
# every sample of the full-disk period lands in the RRD file. Its journal
# file cannot be made at its full size ahead: that is logged, the journal
# grows as it is written, and the next file is made ahead once there is room.
set -eu
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to mount a small tmpfs"; exit 77; }
W=$(mktemp -d /tmp/vakt-it-full.XXXXXX)
mkdir -p "$W/rrd"
# 600 kB: far too small for one RRD file of two data sources at step 1 with
# the default archives (~9 MB; ARCHIVES=default below)
mount -t tmpfs -o size=600k vakt-test "$W/rrd" || { echo "SKIP: cannot mount tmpfs"; exit 77; }
trap 'cleanup && s=0 || s=$?; umount "$W/rrd" 2>/dev/null || true; rm -rf "$W"; exit $s' EXIT

web_port=$(free_port tcp)
col_port=$(free_port tcp)
ARCHIVES=default write_collector_conf "$W" "$col_port" </dev/null
start_web_probe "$W" fosen "$col_port" "$web_port"
t_start=$(date +%s)

rrd="$W/rrd/fosen/127.0.0.1/web.rrd"
refused() { grep -q "samples cannot be stored now" "$W/collector.log"; }
wait_for 15 refused || { cat "$W/collector.log"; fail "the collector did not refuse to ack on a full disk"; }
grep -q "kB free in $W/rrd" "$W/collector.log" || { cat "$W/collector.log"; fail "no reason given"; }
grep -q "refused the session: batch [0-9]*: [0-9]* samples cannot be stored now" "$W/agent.log" ||
	{ cat "$W/agent.log"; fail "the agent was not told why"; }
[ ! -e "$rrd" ] || fail "an RRD file appeared on a full disk"
grep -Eq "journal: cannot make a file ahead: $W/rrd/journal/journal.next(:[0-9]+)?: No space left on device; the file written now grows as it is written" "$W/collector.log" ||
	{ cat "$W/collector.log"; fail "the journal file that could not be made ahead was not logged"; }
sleep 6
log "making room"
mount -o remount,size=64m "$W/rrd"
t_room=$(date +%s)
# the agent backs off at most 30 s between tries
has_now() { [ -f "$rrd" ] && [ "$(rrdtool last "$rrd")" -ge "$t_room" ]; }
wait_for 60 has_now || { cat "$W/agent.log" "$W/collector.log"; fail "nothing stored after the disk had room"; }
# 16 MiB and a megabyte of zeros, written while the store waits for batches
made_ahead() { [ "$(stat -c %s "$W/rrd/journal/journal.next" 2>/dev/null)" = 17825792 ]; }
wait_for 30 made_ahead || { ls -l "$W/rrd/journal"; cat "$W/collector.log"; fail "no journal file made ahead once there was room"; }
stop agent

# every second from the agent's first probe until the disk had room holds a
# measured connect_time (the probe's own sample; up comes from its Result)
grep -q "store: created $rrd" "$W/collector.log" || fail "collector did not log the file"
rrdtool fetch "$rrd" AVERAGE -r 1 -s $((t_start - 1)) -e "$t_room" >"$W/fetch.txt"
awk -v from=$((t_start + 2)) -v to=$((t_room - 1)) '
	NR == 1 { for (i = 1; i <= NF; i++) if ($i == "connect_time") col = i + 1 }
	/^[0-9]+:/ { t = $1 + 0; if (t >= from && t <= to) { n++; if (!col || $col ~ /nan/ || $col + 0 <= 0) bad++ } }
	END { printf "%d seconds of the full-disk period, %d without connect_time\n", n, bad; exit !(n >= to - from - 1 && bad == 0) }' \
	"$W/fetch.txt" || { cat "$W/fetch.txt"; fail "samples of the full-disk period are missing"; }
grep -q "batches were not acknowledged and are lost" "$W/agent.log" &&
	fail "the agent lost batches at exit"
echo "PASS: nothing acknowledged while the disk was full, all of it stored afterwards"
