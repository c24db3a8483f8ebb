#!/bin/bash
# test_input_budget_spread_addresses.sh - parked partial frames spread over
# eight addresses of one /24 do not escape the input budget, and agents
# behind one address (as behind a NAT) are not all cut because one of them
# stalls: over input_buffer_size the collector closes the sessions of the
# network whose frames stopped growing, while two slow agents on 127.0.0.20,
# whose frames keep coming, survive and have their batches acknowledged.
set -eu
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
W=$(mktemp -d /tmp/vakt-it-budget-spread.XXXXXX)
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

# two slow agents behind one address: 100 kB of a 200 kB batch each (padded
# with a field the collector does not know), then 2 kB more now and then
frames, sent, legit = [], [], []
for i in range(2):
    body = wire.batch(1, [wire.sample(host="h", check="c%d" % i)]) + wire.f_bytes(99, b"p" * 200000)
    frames.append(wire.frame(body))
    legit.append(session("127.0.0.20", "slow%d" % i))
    legit[i].sendall(frames[i][:100000])
    sent.append(100000)

def trickle():
    for i in range(2):
        legit[i].sendall(frames[i][sent[i]:sent[i] + 2000])
        sent[i] += 2000

# behind the same address, an agent whose partial frame stalls
stalled = session("127.0.0.20", "stalled")
stalled.sendall(struct.pack(">I", 1000000) + b"\0" * 150000)
time.sleep(0.2)
trickle()

# eight sessions from eight addresses of the same /24 park 150 kB each
parked = []
for i in range(8):
    s = session("127.0.0.%d" % (2 + i), "parker%d" % i)
    s.sendall(struct.pack(">I", 1000000) + b"\0" * 150000)
    parked.append(s)
    time.sleep(0.1)
    trickle()
    time.sleep(0.1)

for i in range(2):
    legit[i].sendall(frames[i][sent[i]:])
    wire.expect(legit[i], "ack")
    legit[i].close()
assert wire.closed_by_peer(stalled), "the stalled agent behind the shared address was not closed"
closed = sum(wire.closed_by_peer(s) for s in parked)
for s in parked:
    s.close()
assert closed >= 2, "only %d parked sessions were closed" % closed
print("both slow agents acknowledged, the stalled one and %d parked sessions closed" % closed)
' || { cat "$W/collector.log"; fail "see above"; }

grep -E 'session 127\.0\.0\.[2-9]:[0-9]+ .*closed: .*over input_buffer_size; its network 127\.0\.0\.0/24 holds the most' \
	"$W/collector.log" >/dev/null || { cat "$W/collector.log"; fail "no line names the cut network"; }
echo "PASS: parked frames spread over one network are cut before slow agents making progress"
