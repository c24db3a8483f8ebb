#!/bin/bash
# test_uplink_failback.sh - the first (preferred) collector dc1 is killed:
# the agent fails over to dc2. dc1 starts again: the agent notices within
# its failback interval, moves back and stays there. No second is lost:
# every second of the run is in dc1's RRD file or in dc2's.
set -eu
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
W=$(mktemp -d /tmp/vakt-it-failback.XXXXXX)
trap 'cleanup && s=0 || s=$?; rm -rf "$W"; exit $s' EXIT

web_port=$(free_port tcp)
p1=$(free_port tcp)
p2=$(free_port tcp)
mkdir -p "$W/dc1" "$W/dc2"
write_collector_conf "$W/dc1" "$p1" </dev/null
write_collector_conf "$W/dc2" "$p2" </dev/null
cat >"$W/agent.conf" <<EOC
site = "fosen"
insecure = yes
collector "dc1" { address = "127.0.0.1:$p1" }
collector "dc2" { address = "127.0.0.1:$p2" }
spool_dir = "$W/spool"
failback = 2
probe "web" {
  kind = "tcp"
  address = "127.0.0.1:$web_port"
  interval = 1
  timeout = 500
}
EOC
start_tcp_service web "$W" "$web_port"
start dc1 "$W/dc1/collector.log" "$VAKT_BIN/vakt-collector" -f -v -c "$W/dc1/collector.conf"
start dc2 "$W/dc2/collector.log" "$VAKT_BIN/vakt-collector" -f -v -c "$W/dc2/collector.conf"
wait_for 10 test -S "$W/dc1/collector.sock" && wait_for 10 test -S "$W/dc2/collector.sock" ||
	fail "the collectors did not start"
start agent "$W/agent.log" "$VAKT_BIN/vakt-agent" -f -v -c "$W/agent.conf"
rrd1="$W/dc1/rrd/fosen/127.0.0.1/web.rrd"
rrd2="$W/dc2/rrd/fosen/127.0.0.1/web.rrd"
wait_for 15 test -f "$rrd1" || { cat "$W/agent.log"; fail "nothing reached dc1"; }
sleep 2
t_begin=$(($(date +%s) - 1))

kill -9 "$PID_dc1"
wait "$PID_dc1" 2>/dev/null || true
PID_dc1=
log "dc1 killed; the agent must move to dc2"
on_dc2() { grep -q 'uplink: connected to dc2' "$W/agent.log"; }
wait_for 15 on_dc2 || { cat "$W/agent.log"; fail "the agent did not fail over to dc2"; }
wait_for 10 test -f "$rrd2" || { cat "$W/dc2/collector.log"; fail "dc2 stored nothing"; }
sleep 5

rm -f "$W/dc1/collector.sock"
start dc1 "$W/dc1/collector2.log" "$VAKT_BIN/vakt-collector" -f -v -c "$W/dc1/collector.conf"
back_at=$(date +%s)
moved_back() { grep -q 'uplink: preferred collector dc1 (.*) answers again: moving back from dc2' "$W/agent.log"; }
wait_for 15 moved_back || { cat "$W/agent.log"; fail "the agent did not move back to dc1"; }
back() { [ "$(grep -c 'uplink: connected to dc1' "$W/agent.log")" -ge 2 ]; }
wait_for 10 back || { cat "$W/agent.log"; fail "the agent did not reconnect to dc1"; }
caught_up() { [ "$(rrdtool last "$rrd1")" -ge $((back_at + 3)) ]; }
wait_for 20 caught_up || { cat "$W/agent.log" "$W/dc1/collector2.log"; fail "dc1 did not catch up"; }

# the agent stays on dc1: dc2 hears nothing new after the move
last2=$(rrdtool last "$rrd2")
sleep 3
[ "$(rrdtool last "$rrd2")" = "$last2" ] || fail "the agent still writes to dc2 after the move"
t_end=$(($(date +%s) - 2))

# Every second from before the kill to now is in one file or the other.
# After a gap, rrdtool takes a file's first sample as the point it starts
# from (the value is kept as the last update, no row is made of it), so the
# first second on dc2, and the first on dc1 after the move back, may be in
# neither: allow one such lone second per move, nothing more.
rrdtool fetch "$rrd1" AVERAGE -r 1 -s $((t_begin - 2)) -e $((t_end + 1)) >"$W/f1.txt"
rrdtool fetch "$rrd2" AVERAGE -r 1 -s $((t_begin - 2)) -e $((t_end + 1)) >"$W/f2.txt"
awk -v from="$t_begin" -v to="$t_end" '
	FNR == 1 { file++; for (i = 1; i <= NF; i++) if ($i == "connect_time") col[file] = i + 1 }
	/^[0-9]+:/ { t = $1 + 0; if (t < from || t > to) next
		     v = $(col[file]); if (v !~ /nan/ && v + 0 > 0) { known[t] = 1; cnt[file]++ } }
	END { for (t = from; t <= to; t++) {
		n++
		if (t in known) continue
		bad++; printf "missing %d\n", t
		if (!((t - 1) in known) || !((t + 1) in known)) lone = 0; else lone++
	      }
	      printf "%d seconds: %d in dc1, %d in dc2, %d in neither\n", n, cnt[1], cnt[2], bad
	      exit !(n >= 10 && cnt[1] >= 3 && cnt[2] >= 3 && bad <= 2 && (bad == 0 || lone == bad)) }' \
	"$W/f1.txt" "$W/f2.txt" || { cat "$W/f1.txt" "$W/f2.txt"; fail "seconds lost across the moves"; }
echo "PASS: the agent failed over to dc2, moved back to dc1 when it returned, and lost nothing"
