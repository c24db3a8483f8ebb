#!/bin/bash
# test_uplink_leaves_silent_collector.sh - the link to collector dc1 goes
# silent (no reset, no refusal: a cable cut or a dead host) while dc2
# answers: the agent gives dc1 up within a few heartbeats and sends its kept
# batches to dc2, instead of writing into the dead connection until TCP
# gives up a quarter of an hour later.
# dc1 lives in a network namespace of its own, behind a veth pair whose far
# end the test takes down; everything else stays on the agent's loopback.
set -eu
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for network namespaces"; exit 77; }
command -v ip >/dev/null || { echo "SKIP: ip (iproute2) missing"; exit 77; }
W=$(mktemp -d /tmp/vakt-it-silent.XXXXXX)
NA="vakt-it-a-$$" NC="vakt-it-c-$$"
trap 'cleanup && s=0 || s=$?; ip netns del "$NA" 2>/dev/null || true; ip netns del "$NC" 2>/dev/null || true; rm -rf "$W"; exit $s' EXIT
ip netns add "$NA" && ip netns add "$NC" || { echo "SKIP: cannot create network namespaces"; exit 77; }
ip -n "$NA" link set lo up
ip -n "$NC" link set lo up
ip -n "$NA" link add va type veth peer name vc netns "$NC" ||
	{ echo "SKIP: cannot create a veth pair"; exit 77; }
ip -n "$NA" addr add 10.77.0.1/24 dev va
ip -n "$NC" addr add 10.77.0.2/24 dev vc
ip -n "$NA" link set va up
ip -n "$NC" link set vc up

mkdir -p "$W/dc1" "$W/dc2"
cat >"$W/dc1/collector.conf" <<EOC
listen = {"10.77.0.2:7060"}
data_dir = "$W/dc1/rrd"
step = 1
$(test_archives)
control_socket = "$W/dc1/collector.sock"
insecure = yes
watch { heartbeat = 2 }
EOC
write_collector_conf "$W/dc2" 7061 <<EOC
watch { heartbeat = 2 }
EOC
cat >"$W/agent.conf" <<EOC
site = "fosen"
insecure = yes
collector "dc1" { address = "10.77.0.2:7060" }
collector "dc2" { address = "127.0.0.1:7061" }
probe "dc2" { kind = "tcp" address = "127.0.0.1:7061" interval = 1 timeout = 500 }
EOC
start dc1 "$W/dc1/collector.log" ip netns exec "$NC" "$VAKT_BIN/vakt-collector" -f -v -c "$W/dc1/collector.conf"
start dc2 "$W/dc2/collector.log" ip netns exec "$NA" "$VAKT_BIN/vakt-collector" -f -v -c "$W/dc2/collector.conf"
wait_for 10 test -S "$W/dc1/collector.sock" && wait_for 10 test -S "$W/dc2/collector.sock" ||
	fail "the collectors did not start"
start agent "$W/agent.log" ip netns exec "$NA" "$VAKT_BIN/vakt-agent" -f -v -c "$W/agent.conf"
in_dc1() { ls "$W"/dc1/rrd/fosen/*/dc2.rrd; }
wait_for 15 in_dc1 || { cat "$W/agent.log"; fail "the agent never reached dc1"; }

log "cutting the link to dc1 without a word"
ip -n "$NC" link set vc down
# three heartbeats (6 s) without TCP acks, then the next collector: allow 25 s
in_dc2() { grep -q 'uplink: connected to dc2' "$W/agent.log"; }
wait_for 25 in_dc2 || { cat "$W/agent.log"; fail "the agent stayed on the silent dc1"; }
rrd="$W/dc2/rrd/fosen/127.0.0.1/dc2.rrd"
up_in_dc2() { [ -f "$rrd" ] && [ "$(rrd_last "$rrd" up)" = 1 ]; }
wait_for 10 up_in_dc2 || { cat "$W/dc2/collector.log"; fail "dc2 stored nothing"; }
echo "PASS: the agent left the silent collector for the next one"
