#!/bin/bash
# test_agent_spool_disk_full.sh - the agent's spool directory fills up while
# the collector is away: appending fails, the agent says so once, keeps the
# newer batches in memory, and when the collector returns everything
# arrives; once the spool has room again the agent says that too.
set -eu
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to mount a small tmpfs"; exit 77; }
W=$(mktemp -d /tmp/vakt-it-spool-full.XXXXXX)
mkdir -p "$W/spool"
# five pages: the owner, lock, state and next files, and a segment of one page
# (a few seconds of batches)
mount -t tmpfs -o size=20k vakt-test "$W/spool" || { echo "SKIP: cannot mount tmpfs"; exit 77; }
trap 'cleanup && s=0 || s=$?; umount "$W/spool" 2>/dev/null || true; rm -rf "$W"; exit $s' EXIT

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
# more probes of the same service fill the spool sooner
for i in 2 3 4 5; do
	echo "probe \"web$i\" { kind = \"tcp\" address = \"127.0.0.1:$web_port\" interval = 1 timeout = 500 }"
done >>"$W/agent.conf"
start_tcp_service web "$W" "$web_port"
# the collector is away from the start: everything goes to the spool
start agent "$W/agent.log" "$VAKT_BIN/vakt-agent" -f -v -c "$W/agent.conf"
t_start=$(date +%s)
full() { grep -q "spool: $W/spool cannot be written (see above): keeping batches in memory only" "$W/agent.log"; }
wait_for 90 full || { cat "$W/agent.log"; df "$W/spool"; fail "the full spool was not reported"; }
grep -q "spool: $W/spool/[0-9a-f]*.seg: offset [0-9]*: cannot append batch [0-9]*: No space left on device" "$W/agent.log" ||
	{ cat "$W/agent.log"; fail "no line naming the file and offset that could not be written"; }
sleep 5
start_collector "$W" "$col_port"
t_up=$(date +%s)
rrd="$W/rrd/fosen/127.0.0.1/web.rrd"
caught_up() { [ -f "$rrd" ] && [ "$(rrdtool last "$rrd")" -ge $((t_up + 2)) ]; }
wait_for 60 caught_up || { cat "$W/agent.log" "$W/collector.log"; fail "the RRD file did not catch up"; }
again() { grep -q "spool: $W/spool is written again; [1-9][0-9]* batches were kept in memory only meanwhile" "$W/agent.log"; }
# (after 5 s without a failed append: near a full disk they work by turns)
wait_for 30 again || { cat "$W/agent.log"; fail "the spool's recovery was not reported"; }
# once for the episode: the lines up to the one saying it ended. The 20 KiB
# disk stays almost full, so a new episode may begin a few seconds after
# (the segment being appended to fills the page the acknowledged one freed);
# counting the whole log raced with it.
ended_at=$(grep -n "spool: $W/spool is written again" "$W/agent.log" | head -n 1 | cut -d: -f1)
[ "$(head -n "$ended_at" "$W/agent.log" | grep -c 'keeping batches in memory only')" = 1 ] ||
	{ grep -E 'keeping batches in memory only|is written again' "$W/agent.log"; fail "the full spool was reported more than once"; }

# every second from the first probe to the collector's return arrived:
# from the spool's files first, then from memory
rrdtool fetch "$rrd" AVERAGE -r 1 -s $((t_start - 1)) -e "$t_up" >"$W/fetch.txt"
awk -v from=$((t_start + 3)) -v to=$((t_up - 1)) '
	NR == 1 { for (i = 1; i <= NF; i++) if ($i == "connect_time") col = i + 1 }
	/^[0-9]+:/ { t = $1 + 0; if (t >= from && t <= to) { n++; if (!col || $col ~ /nan/ || $col + 0 <= 0) bad++ } }
	END { printf "%d seconds before the collector came, %d without connect_time\n", n, bad; exit !(n >= to - from && bad == 0) }' \
	"$W/fetch.txt" || { cat "$W/fetch.txt"; fail "samples of the full-spool period are missing"; }
! grep -q "dropping" "$W/agent.log" || fail "the agent dropped batches"
echo "PASS: a full spool disk was reported once, batches waited in memory, and all arrived"
