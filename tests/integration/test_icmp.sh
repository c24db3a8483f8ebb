#!/bin/bash
# test_icmp.sh - the icmp probe against a peer in a network namespace of the
# test's own, whose kernel ignores echo requests: a test responder answers
# each after 50 ms and nftables drops 20% of them on the way in. The loss
# stored in the RRD file is about 20% over hundreds of requests, the median
# RTT about 50 ms; the peer's IPv6 address (answered by its kernel) has no
# loss; an address of the subnet with no host stores 100% loss and the
# outcome DOWN, not an error. An agent without CAP_NET_RAW reports an error
# naming both sockets it could not open, and takes the datagram ping socket
# up once net.ipv4.ping_group_range lets its group in.
#
# Namespaces: the agent's and the collector's (this script's, made with
# unshare) and the peer's, joined by a veth pair 10.78.0.1/24 - 10.78.0.2/24
# (fd00:78::1/64 - fd00:78::2/64). No packet leaves them.
set -eu
. "$(dirname "$0")/netns.sh"
. "$(dirname "$0")/lib.sh"
need_tools nft python3 rrdtool
W=$(mktemp -d /tmp/vakt-it-icmp.XXXXXX)
PEER=vakt-peer-$$
# "cleanup && s=0 || s=$?": under set -e a plain "cleanup; s=$?" would end
# the trap at a failed test's cleanup and leave the namespace behind
trap 'cleanup && s=0 || s=$?; ip netns del "$PEER" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$W"; exit $s' EXIT
ip netns add "$PEER" || { echo "SKIP: ip netns add failed"; exit 77; }
inpeer() { ip netns exec "$PEER" "$@"; }
ip link add icmp0 type veth peer name icmp1
ip link set icmp1 netns "$PEER"
ip addr add 10.78.0.1/24 dev icmp0
ip addr add fd00:78::1/64 dev icmp0 nodad
ip link set icmp0 up
inpeer ip link set lo up
inpeer ip addr add 10.78.0.2/24 dev icmp1
inpeer ip addr add fd00:78::2/64 dev icmp1 nodad
inpeer ip link set icmp1 up
# the peer's kernel stays silent to IPv4 echo requests: the responder answers
inpeer sysctl -qw net.ipv4.icmp_echo_ignore_all=1
inpeer nft add table ip lossy
inpeer nft add chain ip lossy in "{ type filter hook input priority 0; }"
inpeer nft add rule ip lossy in icmp type echo-request numgen random mod 100 \< 20 counter drop
start responder "$W/responder.log" ip netns exec "$PEER" python3 \
	"$(dirname "$0")/icmp_responder.py" 50
# a slow start of the responder would be counted as loss
wait_for 20 grep -q ready "$W/responder.log" || { cat "$W/responder.log"; fail "the responder did not start"; }

col_port=$(free_port tcp)
write_collector_conf "$W" "$col_port" </dev/null
start_collector "$W" "$col_port"
# 50 requests every 3 s (60 ms apart, each given 600 ms): 400 in 8 runs
cat >"$W/agent.conf" <<EOC
site = "fosen"
insecure = yes
collector "dc1" { address = "127.0.0.1:$col_port" }
probe "gw" {
  kind = "icmp"
  address = "10.78.0.2"
  packets = 50
  interval = 3
  timeout = 600
}
probe "gw6" {
  kind = "icmp"
  address = "[fd00:78::2]"
  packets = 10
  interval = 2
  timeout = 500
}
probe "nobody" {
  kind = "icmp"
  address = "10.78.0.99"
  packets = 5
  interval = 4
  timeout = 1000
}
EOC
# a second agent as user nobody without capabilities: no raw socket, and
# the datagram ping socket only once ping_group_range lets its group in
cat >"$W/agent-nobody.conf" <<EOC
site = "fosen"
insecure = yes
collector "dc1" { address = "127.0.0.1:$col_port" }
probe "dgram4" {
  kind = "icmp"
  address = "10.78.0.2"
  packets = 10
  interval = 2
  timeout = 500
}
probe "dgram6" {
  kind = "icmp"
  address = "[fd00:78::2]"
  packets = 10
  interval = 2
  timeout = 500
}
EOC
chmod 755 "$W"
chmod 644 "$W/agent-nobody.conf"
sysctl -qw net.ipv4.ping_group_range="1 0"
t0=$(date +%s)
start agent "$W/agent.log" "$VAKT_BIN/vakt-agent" -f -v -c "$W/agent.conf"
start agent_nobody "$W/agent-nobody.log" setpriv --reuid=65534 --regid=65534 --clear-groups \
	--inh-caps=-all --bounding-set=-all "$VAKT_BIN/vakt-agent" -f -v -c "$W/agent-nobody.conf"

gw="$W/rrd/fosen/10.78.0.2/gw.rrd"
gw6="$W/rrd/fosen/fd00_78__2/gw6.rrd" # ":" is not kept in file names
nobody="$W/rrd/fosen/10.78.0.99/nobody.rrd"
# mean of DS over the file's 1-s rows since t0 (each run's value fills its 3 rows)
rrd_mean() {
	rrdtool fetch "$1" AVERAGE -s "$t0" -e now | awk -v ds="$2" '
		NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
		/:/ && $(col[ds] + 1) !~ /nan/ { s += $(col[ds] + 1); n++ }
		END { if (n == 0) exit 1; printf "%.4f %d\n", s / n, n }'
}
file_has() { rrd_flush "$W" && [ -f "$1" ] && rrd_last "$1" "$2" >/dev/null; }

dgram4="$W/rrd/fosen/10.78.0.2/dgram4.rrd"
dgram6="$W/rrd/fosen/fd00_78__2/dgram6.rrd"
outcome_is() { rrd_flush "$W" && [ -f "$1" ] && [ "$(rrd_last "$1" outcome)" = "$2" ]; }
wait_for 20 outcome_is "$dgram4" 4 || { cat "$W/agent-nobody.log"; fail "no ICMP socket, yet no error stored"; }
log_has "$W/agent-nobody.log" 'check "dgram4" (icmp): none -> error: cannot open an IPv4 ICMP socket: raw: Operation not permitted (needs CAP_NET_RAW); datagram: Permission denied (needs the agent'"'"'s group in net.ipv4.ping_group_range)'
sysctl -qw net.ipv4.ping_group_range="65534 65534"
wait_for 20 outcome_is "$dgram4" 1 || { cat "$W/agent-nobody.log"; fail "the datagram socket was not taken up once allowed"; }
wait_for 10 outcome_is "$dgram6" 1 || { cat "$W/agent-nobody.log"; fail "no IPv6 reply on the datagram socket"; }
log_has "$W/agent-nobody.log" "icmp: IPv4 datagram (ping_group_range) socket open"
log_has "$W/agent-nobody.log" "icmp: IPv6 datagram (ping_group_range) socket open"
rmin=$(rrd_last "$dgram4" rtt_min)
awk -v m="$rmin" 'BEGIN { exit !(m >= 0.049 && m < 0.5) }' || fail "datagram socket: rtt_min $rmin s, expected the responder's 50 ms"
awk -v l="$(rrd_last "$dgram6" loss)" 'BEGIN { exit !(l == 0) }' || fail "datagram socket: IPv6 loss $(rrd_last "$dgram6" loss), expected 0"

wait_for 20 file_has "$nobody" outcome || { cat "$W/agent.log"; fail "no Result of the unreachable target stored"; }
rrd_flush "$W"
[ "$(rrd_last "$nobody" outcome)" = 2 ] || fail "unreachable target: outcome $(rrd_last "$nobody" outcome), expected 2 (down)"
[ "$(rrd_last "$nobody" up)" = 0 ] || fail "unreachable target stored as up"
loss=$(rrd_last "$nobody" loss)
awk -v l="$loss" 'BEGIN { exit !(l == 100) }' || fail "unreachable target: loss $loss, expected 100"
rrd_last "$nobody" rtt_median | grep -qi u || fail "unreachable target has an RTT: $(rrd_last "$nobody" rtt_median)"
grep -q 'check "nobody" (icmp): none -> down: no reply from 10.78.0.99 to 5 echo requests' "$W/agent.log" ||
	{ cat "$W/agent.log"; fail "the agent's log does not say why the unreachable target is down"; }

wait_for 20 file_has "$gw6" loss || fail "no IPv6 samples stored"
rrd_flush "$W"
[ "$(rrd_last "$gw6" outcome)" = 1 ] || fail "IPv6 peer: outcome $(rrd_last "$gw6" outcome), expected 1 (ok)"
loss6=$(rrd_last "$gw6" loss)
awk -v l="$loss6" 'BEGIN { exit !(l == 0) }' || fail "IPv6 peer answered by its kernel: loss $loss6, expected 0"
rtt6=$(rrd_last "$gw6" rtt_max)
awk -v r="$rtt6" 'BEGIN { exit !(r > 0 && r < 0.05) }' || fail "IPv6 peer: rtt_max $rtt6 s, expected a few ms"

# 8 runs of gw (24 rows of 1 s): 400 requests, of which nftables drops about 80
gw_rows() { rrd_flush "$W" && [ "$(rrd_mean "$gw" loss | cut -d' ' -f2)" -ge "$1" ]; }
wait_for 90 gw_rows 24 || fail "fewer than 8 runs of the lossy peer stored in 90 s"
read -r loss rows < <(rrd_mean "$gw" loss) || fail "no loss stored for the lossy peer"
read -r median _ < <(rrd_mean "$gw" rtt_median) || fail "no median RTT stored"
read -r rmin _ < <(rrd_mean "$gw" rtt_min) || fail "no minimum RTT stored"
read -r rmax _ < <(rrd_mean "$gw" rtt_max) || fail "no maximum RTT stored"
read -r ravg _ < <(rrd_mean "$gw" rtt_avg) || fail "no average RTT stored"
read -r jitter _ < <(rrd_mean "$gw" jitter) || fail "no jitter stored"
dropped=$(inpeer nft list table ip lossy | sed -n 's/.*counter packets \([0-9]*\).*/\1/p')
log "lossy peer: loss $loss % over $rows rows, RTT min $rmin median $median avg $ravg max $rmax s, jitter $jitter s; nftables dropped $dropped"
awk -v l="$loss" 'BEGIN { exit !(l >= 13 && l <= 27) }' || fail "loss $loss %, expected 20 +- 7"
awk -v m="$median" 'BEGIN { exit !(m >= 0.049 && m <= 0.080) }' || fail "median RTT $median s, expected about 0.050"
awk -v m="$rmin" 'BEGIN { exit !(m >= 0.049) }' || fail "min RTT $rmin s: faster than the responder answers"
awk -v a="$rmin" -v b="$median" -v c="$ravg" -v d="$rmax" 'BEGIN { exit !(a <= b && a <= c && b <= d && c <= d) }' ||
	fail "RTTs out of order: min $rmin, median $median, avg $ravg, max $rmax"
# every reply is held 50 ms: what varies between them is the machine's scheduling
awk -v j="$jitter" 'BEGIN { exit !(j > 0 && j < 0.03) }' || fail "jitter $jitter s, expected a few ms"
[ "$(rrd_last "$gw" outcome)" = 1 ] || fail "lossy peer: outcome $(rrd_last "$gw" outcome), expected 1 (ok)"
echo "PASS: 20% loss and 50 ms stored as $loss % and $median s; IPv6 answered; unreachable is down with 100% loss; unprivileged: error, then the datagram socket"
