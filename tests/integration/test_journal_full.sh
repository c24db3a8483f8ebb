#!/bin/bash
# test_journal_full.sh - the collector's disk fills up while an agent
# streams: the journal cannot take more batches, so the collector must not
# acknowledge them (Error, close; the agent keeps them); once there is room
# again every sample of the full-disk period lands in the RRD file, once.
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
refused() { grep -q "samples cannot be stored now (journal: " "$W/collector.log"; }
# the journal's last page still has room for some records: up to a minute of them
wait_for 90 refused || { cat "$W/collector.log"; fail "the collector did not refuse to ack with a full journal"; }
grep -q "kB free in $W/rrd" "$W/collector.log" || { cat "$W/collector.log"; fail "no reason given"; }
grep -q "refused the session: batch [0-9]*: [0-9]* samples cannot be stored now" "$W/agent.log" ||
	{ cat "$W/agent.log"; fail "the agent was not told why"; }
sleep 4
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
echo "PASS: nothing acknowledged while the journal could not be written, all of it stored afterwards"
