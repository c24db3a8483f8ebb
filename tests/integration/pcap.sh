# pcap.sh - sourced after netns.sh and lib.sh by the pcap probe's tests: a
# namespace $NS joined to the test's own by a veth pair whose end cap0 the
# probe captures on, a collector that pages unreachable checks, an agent
# with one pcap probe "lan" (host rissa-gw) of 1 s, and readers of its files.
# The caller sets W and NS, and deletes $NS in its trap.

# pcap_veth: cap0 10.78.0.1, fd78::1 here; cap1 10.78.0.2 and .3, fd78::2 in $NS
pcap_veth() {
	ip link add cap0 type veth peer name cap1
	ip link set cap1 netns "$NS"
	ip addr add 10.78.0.1/24 dev cap0
	ip -6 addr add fd78::1/64 dev cap0 nodad
	ip link set cap0 up
	ip netns exec "$NS" ip addr add 10.78.0.2/24 dev cap1
	ip netns exec "$NS" ip addr add 10.78.0.3/24 dev cap1
	ip netns exec "$NS" ip -6 addr add fd78::2/64 dev cap1 nodad
	ip netns exec "$NS" ip link set cap1 up
	# fixed neighbours: no datagram waits for (or is lost to) ARP or ND
	mac0=$(ip -o link show cap0 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
	mac1=$(ip netns exec "$NS" ip -o link show cap1 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
	for a in 10.78.0.2 10.78.0.3 fd78::2; do
		ip neigh replace "$a" lladdr "$mac1" dev cap0 nud permanent
	done
	for a in 10.78.0.1 fd78::1; do
		ip netns exec "$NS" ip neigh replace "$a" lladdr "$mac0" dev cap1 nud permanent
	done
}

# pcap_netns: makes $NS and the veth pair.
pcap_netns() {
	ip netns add "$NS" || { echo "SKIP: ip netns add failed"; exit 77; }
	ip netns exec "$NS" ip link set lo up
	pcap_veth
}

# pcap_start KEYS: the collector (unreachable after 2 failed runs, pages to
# $W/pages.log) and the agent, whose probe "lan" has KEYS besides its own.
pcap_start() {
	col_port=$(free_port tcp)
	{ pager_channel "$W"; cat <<EOC; } | write_collector_conf "$W" "$col_port"
watch {
  unreachable = 2
}
EOC
	cat >"$W/agent.conf" <<EOC
site = "rissa"
insecure = yes
collector "dc1" { address = "127.0.0.1:$col_port" }
probe "lan" {
  kind = "pcap"
  host = "rissa-gw"
  interface = "cap0"
  interval = 1
  timeout = 500
$1
}
EOC
	start_collector "$W" "$col_port"
	start agent "$W/agent.log" "$VAKT_BIN/vakt-agent" -f -v -c "$W/agent.conf"
	# the capture is open once a run has ended ok (the files come later)
	wait_for $((10 * SLOW)) grep -q 'check "lan": ok' "$W/agent.log" ||
		{ show; fail "the capture did not start"; }
}

D="$W/rrd/rissa/rissa-gw"
show() { cat "$W/pages.log" 2>/dev/null || true; tail -n 30 "$W/agent.log" "$W/collector.log" || true; }
# value FILE DS: the raw counter the collector last stored
value() { rrd_flush "$W" >/dev/null && rrd_last "$D/$1.rrd" "$2"; }
is() { [ -f "$D/$1.rrd" ] && [ "$(value "$1" "$2")" = "$3" ]; }
at_least() { [ -f "$D/$1.rrd" ] && [ "$(value "$1" "$2")" -ge "$3" ]; }

# udp_to ADDR PORT N SIZE: N datagrams of SIZE bytes, paced so the peer keeps up
udp_to() {
	python3 - "$@" <<'PY'
import socket, sys, time
addr, port, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_DGRAM)
for i in range(n):
    s.sendto(b"u" * size, (addr, port))
    if i % 50 == 49:
        time.sleep(0.01)
PY
}
