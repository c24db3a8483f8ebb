#!/bin/bash
# test_wan_faults.sh - the WAN link between a municipality's agent and the
# datacenter fails for real: the link goes down (veth down) for many
# intervals, then comes back with 30% random packet loss each way (nftables)
# and 100 ms of delay each way (a delaying proxy in front of the collector).
# Nothing the agent measured is lost and all of it arrives in order: the RRD
# file has a value for every second from before the outage to the end.
#
# Two network namespaces of the test's own: the agent's (this script's, made
# with unshare) and the datacenter's, joined by a veth pair 10.77.0.1 -
# 10.77.0.2. No packet leaves them.
set -eu
. "$(dirname "$0")/netns.sh"
. "$(dirname "$0")/lib.sh"
need_tools nft python3 rrdtool
W=$(mktemp -d /tmp/vakt-it-wan.XXXXXX)
DC=vakt-dc-$$
trap 'cleanup && s=0 || s=$?; ip netns del "$DC" 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$W"; exit $s' EXIT
wan_netns "$DC"
indc() { ip netns exec "$DC" "$@"; }

col_port=$(free_port tcp)
proxy_port=$(free_port tcp)
web_port=$(free_port tcp)
write_collector_conf "$W" "$col_port" </dev/null
start collector "$W/collector.log" ip netns exec "$DC" "$VAKT_BIN/vakt-collector" -f -v \
	-c "$W/collector.conf"
wait_for 10 indc bash -c "exec 3<>/dev/tcp/127.0.0.1/$col_port" ||
	{ cat "$W/collector.log"; fail "the collector did not listen"; }
# the datacenter's side of the WAN: 100 ms each way in front of the collector
start proxy "$W/proxy.log" ip netns exec "$DC" python3 "$(dirname "$0")/delay_proxy.py" \
	10.77.0.2 "$proxy_port" 127.0.0.1 "$col_port" 100
wait_for 10 bash -c "exec 3<>/dev/tcp/10.77.0.2/$proxy_port" || fail "the proxy did not listen"

start_tcp_service web "$W" "$web_port"
cat >"$W/agent.conf" <<EOC
site = "fosen"
insecure = yes
collector "dc1" { address = "10.77.0.2:$proxy_port" }
probe "web" {
  kind = "tcp"
  address = "127.0.0.1:$web_port"
  interval = 1
  timeout = 500
}
EOC
start agent "$W/agent.log" "$VAKT_BIN/vakt-agent" -f -v -c "$W/agent.conf"

rrd="$W/rrd/fosen/127.0.0.1/web.rrd"
wait_for 20 test -f "$rrd" || { cat "$W/agent.log" "$W/collector.log"; fail "no RRD file"; }
sleep 3
from=$(date +%s)

log "link down for 20 s"
ip link set wan0 down
sleep 20
log "link up with 30% loss each way and 100 ms delay each way for 20 s"
ip link set wan0 up
nft add table inet wan
nft add chain inet wan in "{ type filter hook input priority 0; }"
nft add rule inet wan in iifname wan0 numgen random mod 100 \< 30 counter drop
indc nft add table inet wan
indc nft add chain inet wan in "{ type filter hook input priority 0; }"
indc nft add rule inet wan in iifname wan1 numgen random mod 100 \< 30 counter drop
sleep 20
to=$(date +%s)
# the loss was real: packets were dropped both ways
dropped() { "$@" nft list table inet wan | sed -n 's/.*counter packets \([0-9]*\).*/\1/p'; }
d_in=$(dropped) d_out=$(dropped indc)
log "loss ends after dropping $d_in packets to the agent and $d_out to the datacenter"
[ "${d_in:-0}" -gt 0 ] && [ "${d_out:-0}" -gt 0 ] || fail "nftables dropped nothing"
nft delete table inet wan
indc nft delete table inet wan

# a row is whole once a later sample has reached the file
caught_up() { rrd_flush "$W" && [ "$(rrdtool last "$rrd")" -gt "$to" ]; }
wait_for 90 caught_up ||
	{ tail -n 30 "$W/agent.log" "$W/collector.log"; fail "the RRD file did not catch up"; }

# every second from before the outage to the end of the loss holds a value
rrdtool fetch "$rrd" AVERAGE -r 1 -s $((from - 1)) -e "$to" >"$W/fetch.txt"
awk -v from="$from" -v to="$to" '
	NR == 1 { for (i = 1; i <= NF; i++) if ($i == "connect_time") col = i + 1 }
	/^[0-9]+:/ { t = $1 + 0; if (t > from && t <= to) { n++; if (!col || $col ~ /nan/) { bad++; if (bad < 5) print "no value at " t } } }
	END { printf "%d seconds from %d to %d, %d without a value\n", n, from, to, bad; exit !(n >= to - from && bad == 0) }' \
	"$W/fetch.txt" || { cat "$W/fetch.txt"; fail "samples were lost in the outage or the loss"; }
! grep -q "dropped" "$W/agent.log" || { grep "dropped" "$W/agent.log"; fail "the agent dropped data"; }
if grep -q "duplicates\|older than" "$W/collector.log"; then
	grep "duplicates\|older than" "$W/collector.log" | head -n 5
fi
echo "PASS: an outage and 30% loss with 100 ms delay lost nothing; every second arrived, in order"
