#!/bin/bash
# test_input_budget_cuts_biggest_address.sh - over input_buffer_size the
# collector closes sessions of the network (/24) holding the biggest share
# of the buffered bytes: eight sessions from 127.0.0.2 and 127.0.0.3 that
# park partial frames are cut, while one slow agent on 127.0.1.9, whose
# partial frame is the oldest and stalls meanwhile, survives and has its
# batch acknowledged.
set -eu
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
W=$(mktemp -d /tmp/vakt-it-budget.XXXXXX)
trap 'cleanup && s=0 || s=$?; [ -n "${KEEP:-}" ] || rm -rf "$W"; exit $s' EXIT

col_port=$(free_port tcp)
write_collector_conf "$W" "$col_port" <<EOC
input_buffer_size = "1M"
watch {
  agent_down = 0
}
EOC
start_collector "$W" "$col_port"

wire_client "$col_port" '
import struct, time

def session(addr, agent):
    return wire.session_from(PORT, addr, "budget", agent)

# the slow agent: 200 kB of a 300 kB batch (padded with a field the
# collector does not know), the oldest incomplete frame from now on
body = wire.batch(1, [wire.sample(host="h", check="c")]) + wire.f_bytes(99, b"p" * 300000)
data = wire.frame(body)
legit = session("127.0.1.9", "slow")
legit.sendall(data[:200000])
time.sleep(0.5)

# eight sessions from two addresses of another network park 150 kB each: 1.2 MB in all
parked = []
for i in range(8):
    s = session("127.0.0.%d" % (2 + i % 2), "parker%d" % i)
    s.sendall(struct.pack(">I", 1000000) + b"\0" * 150000)
    parked.append(s)
    time.sleep(0.1)
time.sleep(0.5)

legit.sendall(data[200000:])
wire.expect(legit, "ack")
legit.close()
closed = sum(wire.closed_by_peer(s) for s in parked)
for s in parked:
    s.close()
assert closed >= 2, "only %d parked sessions were closed" % closed
print("slow agent acknowledged, %d parked sessions closed" % closed)
' || { cat "$W/collector.log"; fail "see above"; }

grep -E 'session 127\.0\.0\.[23]:[0-9]+ .*closed: .*over input_buffer_size; its network 127\.0\.0\.0/24 holds the most' \
	"$W/collector.log" >/dev/null || { cat "$W/collector.log"; fail "no line names the cut network"; }
! grep -E 'session 127\.0\.1\.9:.*over input_buffer_size' "$W/collector.log" ||
	fail "the slow agent was closed"
echo "PASS: the input budget cuts the network with the biggest share, not the slow agent"
