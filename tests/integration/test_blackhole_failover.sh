#!/bin/bash
# test_blackhole_failover.sh - the preferred collector vanishes into a silent
# black hole (nftables drops everything, no RST, no FIN): the agent notices
# within three heartbeat intervals, fails over to the second collector, and
# goes back to the first once it is reachable again. Nothing is lost or
# duplicated across the moves: every second is in exactly one collector's
# RRD file, except the first second after each move, which rrdtool itself
# leaves unknown in the file the data comes back to (its gap is longer than
# the file's heartbeat).
#
# Two network namespaces of the test's own: the agent's (this script's) and
# the datacenter's with both collectors, joined by veth 10.77.0.1 - 10.77.0.2.
set -eu
. "$(dirname "$0")/netns.sh"
. "$(dirname "$0")/lib.sh"
need_tools nft python3 rrdtool
W=$(mktemp -d /tmp/vakt-it-blackhole.XXXXXX)
DC=vakt-dc-$$
trap 'cleanup && s=0 || s=$?; ip netns del "$DC" 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$W"; exit $s' EXIT
wan_netns "$DC"
indc() { ip netns exec "$DC" "$@"; }

HB=2 # the collectors' heartbeat: a dead collector is noticed within 3 x 2 s
web_port=$(free_port tcp)
for n in 1 2; do
	mkdir -p "$W/c$n"
	eval "port$n=\$(free_port tcp)"
	eval "p=\$port$n"
	write_collector_conf "$W/c$n" "$p" <<EOC
watch { heartbeat = $HB }
EOC
	sed -i "s/^listen = .*/listen = {\"10.77.0.2:$p\"}/" "$W/c$n/collector.conf"
	start "collector$n" "$W/c$n/collector.log" ip netns exec "$DC" \
		"$VAKT_BIN/vakt-collector" -f -v -c "$W/c$n/collector.conf"
	wait_for 10 bash -c "exec 3<>/dev/tcp/10.77.0.2/$p" ||
		{ cat "$W/c$n/collector.log"; fail "collector $n did not listen"; }
done

start_tcp_service web "$W" "$web_port"
# failback 5 s, not 30: the agent tries dc1 again soon after the hole closes
cat >"$W/agent.conf" <<EOC
site = "fosen"
insecure = yes
failback = 5
collector "dc1" { address = "10.77.0.2:$port1" }
collector "dc2" { address = "10.77.0.2:$port2" }
probe "web" {
  kind = "tcp"
  address = "127.0.0.1:$web_port"
  interval = 1
  timeout = 500
}
EOC
start agent "$W/agent.log" "$VAKT_BIN/vakt-agent" -f -v -c "$W/agent.conf"
rrd1="$W/c1/rrd/fosen/127.0.0.1/web.rrd"
rrd2="$W/c2/rrd/fosen/127.0.0.1/web.rrd"
wait_for 20 test -f "$rrd1" || { cat "$W/agent.log"; fail "no RRD file at dc1"; }
sleep 3
from=$(date +%s)

log "dc1 becomes a black hole"
indc nft add table inet bh
indc nft add chain inet bh in "{ type filter hook input priority 0; }"
indc nft add rule inet bh in tcp dport "$port1" counter drop
holed=$(date +%s)
moved() { grep -q "uplink: connected to dc2" "$W/agent.log"; }
wait_for 30 moved || { tail -n 20 "$W/agent.log"; fail "the agent did not fail over to dc2"; }
took=$(( $(date +%s) - holed ))
log "the agent moved to dc2 after ${took} s"
# three heartbeats to notice, plus a reconnect's back-off and hello
[ "$took" -le $((3 * HB + 4)) ] || fail "noticing the black hole took ${took} s (heartbeat ${HB} s)"
sleep 10

log "dc1 is reachable again"
indc nft delete table inet bh
back=$(date +%s)
returned() { [ "$(grep -c "uplink: connected to dc1" "$W/agent.log")" -ge 2 ]; }
wait_for 90 returned || { tail -n 20 "$W/agent.log"; fail "the agent did not go back to dc1"; }
log "the agent went back to dc1 after $(( $(date +%s) - back )) s"
sleep 5
to=$(( $(date +%s) - 2 ))
# a row is whole once a later sample has reached the file
caught_up() { rrd_flush "$W/c1" && [ "$(rrdtool last "$rrd1")" -gt "$to" ]; }
wait_for 30 caught_up || { tail -n 20 "$W/agent.log"; fail "dc1's RRD file did not catch up"; }
test -f "$rrd2" || fail "nothing was stored at dc2"
rrd_flush "$W/c2"

# values(FILE): "second value" lines for (from, to]
values() {
	rrdtool fetch "$1" AVERAGE -r 1 -s "$from" -e "$to" | awk '
		NR == 1 { for (i = 1; i <= NF; i++) if ($i == "connect_time") col = i + 1 }
		/^[0-9]+:/ { sub(":", "", $1); print $1, (col ? $col : "nan") }'
}
values "$rrd1" >"$W/v1"
values "$rrd2" >"$W/v2"
join "$W/v1" "$W/v2" | awk -v from="$from" -v to="$to" '
	{ t = $1; a = ($2 !~ /nan/); b = ($3 !~ /nan/)
	  if (a && b) { both++; print "second " t " is in both collectors" }
	  else if (!a && !b) { none++; print "second " t " is in neither collector" }
	  else n++ }
	END { printf "%d seconds in exactly one collector, %d in both, %d in neither\n", n, both, none
	      exit !(both == 0 && none <= 2 && n >= to - from - 2) }' ||
	fail "data was lost or duplicated across the moves"
echo "PASS: a black hole noticed in ${took} s, failover to dc2 and back to dc1, nothing lost or duplicated"
