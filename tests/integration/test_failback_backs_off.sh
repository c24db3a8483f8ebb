#!/bin/bash
# test_failback_backs_off.sh - the preferred collector dc1 answers every Hello
# but refuses every batch (as one whose disk is full does): the agent fails
# over to dc2, and each time moving back does not last it waits twice as long
# before it tries dc1 again, instead of flapping every `failback` seconds.
# Nothing is lost meanwhile: dc2 holds every second.
set -eu
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
command -v rrdtool >/dev/null || { echo "SKIP: rrdtool missing"; exit 77; }
W=$(mktemp -d /tmp/vakt-it-backoff.XXXXXX)
trap 'cleanup && s=0 || s=$?; rm -rf "$W"; exit $s' EXIT

web_port=$(free_port tcp)
p1=$(free_port tcp)
p2=$(free_port tcp)
# dc1: HelloAck to every Hello, an Error to every batch
start dc1 "$W/dc1.log" python3 -u -c "
import os, socket, sys, threading
sys.path.insert(0, '$(cd "$(dirname "$0")" && pwd)')
import wire
def serve(c):
    try:
        c.settimeout(30)
        while True:
            body = wire.recv_frame(c)
            if body is None:
                return
            kind, f = wire.decode(body)
            if kind == 'hello':
                c.sendall(wire.frame(wire.f_bytes(wire.HELLO_ACK, wire.f_varint(1, 2) +
                    wire.f_bytes(2, 'full-disk') + wire.f_varint(3, 1048576) +
                    wire.f_varint(4, wire.now_ms()) + wire.f_varint(5, 10))))
            elif kind == 'batch':
                print('refused a batch', flush=True)
                c.sendall(wire.frame(wire.error('batch %d: cannot be stored now (disk full)' % f.get(1, 0))))
                return
    except OSError:
        pass
    finally:
        c.close()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', $p1))
s.listen(16)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"
mkdir -p "$W/dc2"
write_collector_conf "$W/dc2" "$p2" </dev/null
start_collector "$W/dc2" "$p2"
start_tcp_service web "$W" "$web_port"
cat >"$W/agent.conf" <<EOC
site = "fosen"
insecure = yes
collector "dc1" { address = "127.0.0.1:$p1" }
collector "dc2" { address = "127.0.0.1:$p2" }
failback = 1
probe "web" {
  kind = "tcp"
  address = "127.0.0.1:$web_port"
  interval = 1
  timeout = 500
}
EOC
start agent "$W/agent.log" "$VAKT_BIN/vakt-agent" -f -v -c "$W/agent.conf"
rrd="$W/dc2/rrd/fosen/127.0.0.1/web.rrd"
wait_for 15 test -f "$rrd" || { cat "$W/agent.log"; fail "nothing reached dc2"; }
from=$(date +%s)
sleep 24
to=$(( $(date +%s) - 2 ))
moves=$(grep -c "answers again: moving back from dc2" "$W/agent.log" || true)
log "the agent moved back to dc1 $moves times in 24 s (failback = 1)"
grep -q "uplink: moving back to dc1 (127.0.0.1:$p1) did not last: next try in 4 s" "$W/agent.log" ||
	{ cat "$W/agent.log"; fail "no line saying that moving back did not last"; }
# 1 + 2 + 4 + 8 s between tries: at most 5 moves in 24 s, not one a second
[ "$moves" -ge 2 ] && [ "$moves" -le 5 ] || { cat "$W/agent.log"; fail "$moves moves back in 24 s"; }
caught_up() { rrd_flush "$W/dc2" && [ "$(rrdtool last "$rrd")" -gt "$to" ]; }
wait_for 20 caught_up || fail "dc2's file did not catch up"
rrdtool fetch "$rrd" AVERAGE -r 1 -s "$from" -e "$to" >"$W/fetch.txt"
awk '
	NR == 1 { for (i = 1; i <= NF; i++) if ($i == "connect_time") col = i + 1 }
	/^[0-9]+:/ { n++; if ($col ~ /nan/) bad++ }
	END { printf "%d seconds at dc2, %d without a value\n", n, bad; exit !(n > 15 && bad <= 3) }' \
	"$W/fetch.txt" || { cat "$W/fetch.txt"; fail "seconds were lost while dc1 refused batches"; }
echo "PASS: failback to a collector that stores nothing backs off; dc2 kept the data"
