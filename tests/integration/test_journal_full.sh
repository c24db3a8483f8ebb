#!/bin/bash
# test_journal_full.sh - the collector's disk fills up while an agent
# streams. Its journal file was made at its full size before the disk
# filled, so the journal still takes every batch: the collector goes on
# acknowledging and storing them, refuses none, and once there is room again
# every sample of the full-disk period is in the RRD file, once. (A journal
# that cannot be written refuses its batches: test_disk_full.sh, where no
# file could be made ahead, and test_journal's unit tests.)
set -eu
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
command -v rrdtool >/dev/null || { echo "SKIP: rrdtool missing"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to mount a small tmpfs"; exit 77; }
W=$(mktemp -d /tmp/vakt-it-jfull.XXXXXX)
mkdir -p "$W/rrd"
# room for the agent's file, the state database and the journal
mount -t tmpfs -o size=40m vakt-test "$W/rrd" || { echo "SKIP: cannot mount tmpfs"; exit 77; }
trap 'cleanup && s=0 || s=$?; umount "$W/rrd" 2>/dev/null || true; rm -rf "$W"; exit $s' EXIT

web_port=$(free_port tcp)
col_port=$(free_port tcp)
CACHE_FLUSH_AGE=2 write_collector_conf "$W" "$col_port" </dev/null
start_web_probe "$W" fosen "$col_port" "$web_port"
rrd="$W/rrd/fosen/127.0.0.1/web.rrd"
wait_for 15 test -f "$rrd" || { cat "$W/collector.log"; fail "no RRD file"; }
sleep 2

log "filling the disk"
t_full=$(date +%s)
dd if=/dev/zero of="$W/rrd/fill" bs=64k 2>/dev/null || :
# the journal's file was made ahead: the values of the full-disk period are stored as they come
stored() { rrd_flush "$W" "$rrd" && [ "$(rrdtool last "$rrd")" -ge $((t_full + 8)) ]; }
wait_for 60 stored || { cat "$W/collector.log"; fail "the collector stopped storing when the disk was full"; }
[ "$(df --output=avail "$W/rrd" | tail -n 1)" -lt 64 ] || { df "$W/rrd"; fail "the disk is not full"; }
! grep -q "samples cannot be stored now" "$W/collector.log" ||
	{ cat "$W/collector.log"; fail "the collector refused batches its journal had room for"; }
! grep -q "refused the session" "$W/agent.log" || { cat "$W/agent.log"; fail "the agent was refused"; }
# the next file, made ahead 10 s after the start, finds no room: said, and the journal goes on
ahead_failed() { grep -Eq "store: cannot make the next journal file ahead: $W/rrd/journal/journal.next(:[0-9]+)?: No space left on device; the next file grows as it is written \\(slower commits\\), nothing is lost" "$W/collector.log"; }
wait_for 15 ahead_failed || { cat "$W/collector.log"; fail "the next journal file's failure was not logged"; }
log "making room"
rm -f "$W/rrd/fill"
t_room=$(date +%s)
# the agent backs off at most 30 s between tries
has_now() { rrd_flush "$W" "$rrd" && [ "$(rrdtool last "$rrd")" -ge $((t_room + 1)) ]; }
wait_for 60 has_now || { cat "$W/agent.log" "$W/collector.log"; fail "nothing stored after the disk had room"; }

# every second around the full-disk period holds a measured connect_time
rrdtool fetch "$rrd" AVERAGE -r 1 -s $((t_full - 3)) -e "$t_room" >"$W/fetch.txt"
awk -v from=$((t_full - 2)) -v to=$((t_room - 1)) '
	NR == 1 { for (i = 1; i <= NF; i++) if ($i == "connect_time") col = i + 1 }
	/^[0-9]+:/ { t = $1 + 0; if (t >= from && t <= to) { n++; if (!col || $col ~ /nan/ || $col + 0 <= 0) bad++ } }
	END { printf "%d seconds around the full-disk period, %d without connect_time\n", n, bad; exit !(n >= to - from && bad == 0) }' \
	"$W/fetch.txt" || { cat "$W/fetch.txt"; fail "samples of the full-disk period are missing"; }
! grep -q "queue full\|are lost" "$W/agent.log" || fail "the agent dropped batches"
echo "PASS: the journal made ahead took every batch while the disk was full, all of it stored, once"
