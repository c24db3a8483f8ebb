#!/bin/bash
# test_bad_frames.sh - a real vakt-collector fed malformed and out-of-order
# frames: each bad session is refused with a logged reason and closed, the
# collector lives on, a good session still gets HelloAck and Ack, its samples
# land in RRD files, and invalid samples in a good batch are skipped alone.
set -eu
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
command -v rrdtool >/dev/null || { echo "SKIP: rrdtool missing"; exit 77; }
W=$(mktemp -d /tmp/vakt-it-frames.XXXXXX)
trap 'cleanup && s=0 || s=$?; rm -rf "$W"; exit $s' EXIT

col_port=$(free_port tcp)
write_collector_conf "$W" "$col_port" </dev/null
start_collector "$W" "$col_port"

client() { wire_client "$col_port" "$1"; }

# collector_says TEXT: the collector's log holds TEXT within 5 s.
collector_says() { log_has "$W/collector.log" "$1"; }

# refused NAME HEX_BYTES EXPECTED_LOG: sends raw bytes, expects the collector
# to log "session 127.0.0.1:PORT: EXPECTED_LOG" and to close the connection.
refused() {
	log "case $1: sending $2"
	port=$(client "
s = wire.connect(PORT)
s.sendall(bytes.fromhex('$2'))
try:
    wire.recv_until_close(s)
except wire.Timeout:
    sys.exit('the collector kept the connection open')
print(s.getsockname()[1])
") || fail "case $1: the client failed (see above)"
	collector_says "session 127.0.0.1:$port: $3"
	collector_says "session 127.0.0.1:$port: closed before hello"
}

# (a) a length beyond the maximum is refused before any body is read
refused oversize ffffffff \
	"frame larger than the maximum (length 4294967295, maximum 1048576)"
# (b) a zero length
refused empty 00000000 "empty frame (length 0, maximum 1048576)"
# (c) a body that is not a vakt.Frame
refused undecodable 00000008ffffffffffffffffff "undecodable frame (length 8, maximum 1048576)"
# (d) a valid Batch before any Hello
batch_hex=$(client "print(wire.frame(wire.batch(1, [wire.sample(value=1.0)])).hex())")
refused batch-first "$batch_hex" "expected hello, got message 3"

# (e) a Hello of a protocol this collector does not speak (0: a Hello without
# one): an Error frame, then close. A newer agent (99) is answered with the
# collector's own version, which that agent then speaks.
log "case protocol-0"
port=$(client "
s = wire.connect(PORT)
s.sendall(wire.frame(wire.hello(protocol=0)))
try:
    got = wire.recv_until_close(s)
except wire.Timeout:
    sys.exit('the collector kept the connection open')
if len(got) != 1:
    sys.exit('expected one Error frame, got %r' % got)
kind, f = wire.decode(got[0])
if kind != 'error' or b'protocol version 0 not supported (this collector speaks 1 to 2)' not in f.get(1, b''):
    sys.exit('expected an Error about protocol 0, got %s %r' % (kind, f))
print(s.getsockname()[1])
") || fail "case protocol-0: the client failed (see above)"
collector_says "session 127.0.0.1:$port: protocol version 0 not supported"
log "case protocol-99"
client "
s = wire.connect(PORT)
s.sendall(wire.frame(wire.hello(protocol=99)))
ha = wire.expect(s, 'hello_ack')
if ha.get(1) != 2:
    sys.exit('a protocol-99 Hello got HelloAck with protocol %r, not 2' % ha.get(1))
" || fail "case protocol-99: the client failed (see above)"

kill -0 "$PID_collector" 2>/dev/null || { cat "$W/collector.log"; fail "the collector died"; }

# (f) a good session: HelloAck, Ack, and the value in its RRD file;
# (g) in its second batch, invalid samples (a control character in a host,
# an empty metric, an unknown kind) between good ones of one file
log "case good-session"
client "
import time
s = wire.connect(PORT)
s.sendall(wire.frame(wire.hello(protocol=1, site='s', agent='a')))
ha = wire.expect(s, 'hello_ack')
if ha.get(1) != 1:
    sys.exit('HelloAck with protocol %r' % ha.get(1))
now = int(time.time() * 1000)
s.sendall(wire.frame(wire.batch(1, [wire.sample('h', 'c', '', 'm', now, wire.GAUGE, 42.5)])))
a = wire.expect(s, 'ack')
if a.get(1) != 1:
    sys.exit('expected Ack of batch 1, got %r' % a)
s.sendall(wire.frame(wire.batch(2, [
    wire.sample('h', 'g', '', 'm1', now, wire.GAUGE, 1.5),
    wire.sample('bad\\nhost', 'g', '', 'm1', now, wire.GAUGE, 99.0),
    wire.sample('h', 'g', '', 'm2', now, wire.GAUGE, 2.5),
    wire.sample('h', 'g', '', '', now, wire.GAUGE, 98.0),
    wire.sample('h', 'g', '', 'm3', now, 7, 97.0),
    wire.sample('h', 'future', '', 'm', now + 3600 * 1000, wire.GAUGE, 96.0),
])))
a = wire.expect(s, 'ack')
if a.get(1) != 2:
    sys.exit('expected Ack of batch 2, got %r' % a)
s.close()
" || { cat "$W/collector.log"; fail "good session"; }

# same_number A B: A and B are the same number (rrdtool may print 4.25e+01)
same_number() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 == b + 0) }'; }

rrd_flush "$W"
rrd="$W/rrd/s/h/c.rrd"
[ -f "$rrd" ] || { find "$W/rrd"; fail "$rrd was not created"; }
v=$(rrd_last "$rrd" m) || fail "no value for m in $rrd"
same_number "$v" 42.5 || fail "$rrd holds m=$v, expected 42.5"

collector_says "batch 2: 3 invalid samples skipped"
collector_says "batch 2: 1 samples stamped up to 3"
collector_says "s ahead of the collector's clock refused (more than 10 s): is the agent's clock right?"
[ ! -e "$W/rrd/s/h/future.rrd" ] || fail "a sample an hour in the future was stored"
rrd="$W/rrd/s/h/g.rrd"
[ -f "$rrd" ] || { find "$W/rrd"; fail "$rrd was not created"; }
v=$(rrd_last "$rrd" m1) || fail "no value for m1 in $rrd"
same_number "$v" 1.5 || fail "$rrd holds m1=$v, expected 1.5"
v=$(rrd_last "$rrd" m2) || fail "no value for m2 in $rrd"
same_number "$v" 2.5 || fail "$rrd holds m2=$v, expected 2.5"
! rrd_last "$rrd" m3 >/dev/null 2>&1 || fail "a sample of an unknown kind was stored"
[ "$(find "$W/rrd" -name '*.rrd' | wc -l)" = 2 ] || { find "$W/rrd"; fail "unexpected RRD files"; }
kill -0 "$PID_collector" 2>/dev/null || { cat "$W/collector.log"; fail "the collector died"; }

# (h) batches in parts, as a hostile or broken agent may send them, on a
# stream: batch 1 in two parts is acknowledged once, with its last part; a
# part of batch 1 sent again after that is skipped (no ack, not stored);
# five parts of batch 2 without their last are stored but never acknowledged,
# nor make batch 2 durable: the next session's HelloAck says 1, and the last
# part alone then acknowledges 2
log "case parts"
client "
import time
now = int(time.time() * 1000) - 5000
STREAM = 0x5eed
def session():
    s = wire.connect(PORT)
    s.sendall(wire.frame(wire.hello(protocol=1, site='s', agent='parts', stream=STREAM)))
    return s, wire.expect(s, 'hello_ack')
def no_frame(s, what):
    s.settimeout(1.0)
    try:
        body = wire.recv_frame(s)
    except wire.Timeout:
        s.settimeout(5.0)
        return
    sys.exit('%s: got %r' % (what, body and wire.decode(body)))
s, ha = session()
if ha.get(6, 0) != 0:
    sys.exit('a new stream is acked up to %r' % ha.get(6))
s.sendall(wire.frame(wire.batch(1, [wire.sample('h', 'p', '', 'm', now, wire.GAUGE, 1.0)], more=True)))
s.sendall(wire.frame(wire.batch(1, [wire.sample('h', 'p', '', 'm', now + 1000, wire.GAUGE, 2.0)])))
a = wire.expect(s, 'ack')
if a.get(1) != 1:
    sys.exit('expected Ack of batch 1 after its last part, got %r' % a)
no_frame(s, 'a second ack for batch 1')
s.sendall(wire.frame(wire.batch(1, [wire.sample('h', 'p', '', 'm', now + 2000, wire.GAUGE, 99.0)], more=True)))
no_frame(s, 'a part of batch 1 sent again')
for i in range(5):
    s.sendall(wire.frame(wire.batch(2, [wire.sample('h', 'q%d' % i, '', 'm', now, wire.GAUGE, 10.0 + i)], more=True)))
no_frame(s, 'parts of batch 2 without their last')
s.close()
s, ha = session()
if ha.get(6, 0) != 1:
    sys.exit('HelloAck after the unfinished batch 2 says acked %r, not 1' % ha.get(6))
s.sendall(wire.frame(wire.batch(2, [wire.sample('h', 'q5', '', 'm', now, wire.GAUGE, 15.0)])))
a = wire.expect(s, 'ack')
if a.get(1) != 2:
    sys.exit('expected Ack of batch 2 after its last part, got %r' % a)
s.close()
" || { cat "$W/collector.log"; fail "batches in parts"; }
rrd_flush "$W"
v=$(rrd_last "$W/rrd/s/h/p.rrd" m) || fail "no value for m in p.rrd"
same_number "$v" 2.0 || fail "p.rrd holds m=$v: a part of batch 1 sent again was stored (expected 2.0)"
for i in 0 1 2 3 4 5; do
	v=$(rrd_last "$W/rrd/s/h/q$i.rrd" m) || fail "no value for m in q$i.rrd"
	same_number "$v" $((10 + i)) || fail "q$i.rrd holds m=$v, expected $((10 + i))"
done
"$VAKT_BIN/vaktctl" -s "$W/collector.sock" status >"$W/status.txt"
grep -q 'agent "parts": .* 1 batches redelivered.* 2 batches sent in parts' "$W/status.txt" ||
	{ cat "$W/status.txt"; fail "the status does not count the part sent again and the batches in parts"; }
kill -0 "$PID_collector" 2>/dev/null || { cat "$W/collector.log"; fail "the collector died"; }
echo "PASS: bad frames refused and logged, the collector lives on, a good session stored its samples, batches in parts acknowledged once, with their last part"
