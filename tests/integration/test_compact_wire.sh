#!/bin/bash
# test_compact_wire.sh - protocol 2 against a real vakt-collector: series
# defined once per session and later named by id alone land in the right
# files with the right values and times; samples of a series defined with a
# bad name are skipped until its id is defined anew; a session that breaks the form (an
# id never defined, columns that do not match, compact samples on a protocol
# 1 session) is refused with the reason in an Error frame and the log, and
# what it sent before stays stored.
set -eu
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
command -v rrdtool >/dev/null || { echo "SKIP: rrdtool missing"; exit 77; }
W=$(mktemp -d /tmp/vakt-it-compact.XXXXXX)
trap 'cleanup && s=0 || s=$?; rm -rf "$W"; exit $s' EXIT

col_port=$(free_port tcp)
write_collector_conf "$W" "$col_port" </dev/null
start_collector "$W" "$col_port"

client() { wire_client "$col_port" "$1"; }

# collector_says TEXT: the collector's log holds TEXT within 5 s.
collector_says() { log_has "$W/collector.log" "$1"; }

# Whole seconds, a minute ago, so that every sample is in the past and the
# rows are easy to read back: T, T+1, ... T+5.
T=$(( ($(date +%s) - 60) ))
log "case good-session: 3 batches, series defined in the first only"
client "
T = $T * 1000
s = wire.connect(PORT)
s.sendall(wire.frame(wire.hello(protocol=2, site='s', agent='a')))
ha = wire.expect(s, 'hello_ack')
if ha.get(1) != 2:
    sys.exit('HelloAck with protocol %r, not 2' % ha.get(1))
defs = [wire.series_def(1, 'sw1', 'if', 'Gi0/1', 'in_octets', wire.DERIVE, 1, 64),
        wire.series_def(2, 'sw1', 'if', 'Gi0/1', 'oper_status', wire.GAUGE, 1),
        wire.series_def(7, 'sw1', 'system', '', 'temp', wire.GAUGE, 1)]
s.sendall(wire.frame(wire.compact_batch(1, defs, [
    (1, T, None, 1000), (2, T + 2, 1.0, None), (7, T, 40.5, None)])))
for seq in (2, 3):
    t = T + (seq - 1) * 1000
    # the temperature of batch 3 could not be measured
    s.sendall(wire.frame(wire.compact_batch(seq, [], [
        (7, t, 41.0 + seq, None), (1, t, None, 1000 + 500 * (seq - 1)), (2, t + 1, 2.0, None)],
        unknown=[0] if seq == 3 else [])))
for seq in (1, 2, 3):
    a = wire.expect(s, 'ack')
    if a.get(1) != seq:
        sys.exit('expected Ack of batch %d, got %r' % (seq, a))
s.close()
" || { cat "$W/collector.log"; fail "good session"; }

# the batches are acknowledged once journaled: write the cached values to the files now
rrd_flush "$W"

# fetch FILE DS TIME: the value rrdtool holds for DS in the 1-s row ending at TIME
fetch() {
	rrdtool fetch "$1" AVERAGE -r 1 -s $(($3 - 1)) -e "$3" | awk -v ds="$2" -v t="$3" '
		NR == 1 { for (i = 1; i <= NF; i++) if ($i == ds) col = i + 1 }
		$1 == t ":" { print $col }'
}
same_number() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 == b + 0) }'; }
# expect FILE DS TIME VALUE
expect() {
	v=$(fetch "$W/rrd/s/sw1/$1.rrd" "$2" "$3")
	same_number "$v" "$4" || { rrdtool fetch "$W/rrd/s/sw1/$1.rrd" AVERAGE -r 1 \
		-s $((T - 2)) -e $((T + 4)); fail "$1 $2 at $3 is '$v', expected $4"; }
}
# in_octets went 1000, 1500, 2000 at T, T+1, T+2: 500/s in the rows of T+1 and T+2
expect if-Gi0_1 in_octets $((T + 1)) 500
expect if-Gi0_1 in_octets $((T + 2)) 500
expect if-Gi0_1 oper_status $((T + 2)) 2
expect system temp $((T + 1)) 43
v=$(fetch "$W/rrd/s/sw1/system.rrd" temp $((T + 2)))
case "$v" in *nan* | *NaN*) ;; *) fail "an unknown temperature was stored as '$v'" ;; esac

log "case bad-name: a definition whose host breaks the name rules, between good ones of the same id"
client "
T = $T * 1000
s = wire.connect(PORT)
s.sendall(wire.frame(wire.hello(protocol=2, site='s', agent='f')))
wire.expect(s, 'hello_ack')
temp = lambda host: [wire.series_def(1, host, 'system', '', 'temp')]
s.sendall(wire.frame(wire.compact_batch(1, temp('sw5'), [(1, T, 5.0, None)])))
s.sendall(wire.frame(wire.compact_batch(2, temp('bad\\nhost'), [(1, T + 1000, 66.0, None)])))
s.sendall(wire.frame(wire.compact_batch(3, [], [(1, T + 2000, 67.0, None)])))
s.sendall(wire.frame(wire.compact_batch(4, temp('sw6'), [(1, T + 3000, 6.0, None)])))
for seq in (1, 2, 3, 4):
    a = wire.expect(s, 'ack')
    if a.get(1) != seq:
        sys.exit('expected Ack of batch %d, got %r' % (seq, a))
s.close()
" || { cat "$W/collector.log"; fail "case bad-name"; }
collector_says "batch 2: 1 invalid samples skipped"
rrd_flush "$W"
v=$(rrd_last "$W/rrd/s/sw5/system.rrd" temp) || fail "sw5's temperature was not stored"
same_number "$v" 5 || fail "sw5 temp is $v, expected 5 (a bad redefinition of its id wrote to it)"
v=$(rrd_last "$W/rrd/s/sw6/system.rrd" temp) || fail "sw6's temperature, after a bad definition of its id, was not stored"
same_number "$v" 6 || fail "sw6 temp is $v, expected 6"
[ -z "$(find "$W/rrd/s" -path '*bad*')" ] || { find "$W/rrd/s"; fail "a sample with a bad host name was stored"; }

log "case undefined-id: an id never defined on the session"
port=$(client "
s = wire.connect(PORT)
s.sendall(wire.frame(wire.hello(protocol=2, site='s', agent='b')))
wire.expect(s, 'hello_ack')
s.sendall(wire.frame(wire.compact_batch(1, [wire.series_def(1, 'sw2', 'system', '', 'temp')],
                                        [(1, $T * 1000, 20.0, None)])))
wire.expect(s, 'ack')
s.sendall(wire.frame(wire.compact_batch(2, [], [(5, $T * 1000 + 1000, 1.0, None)])))
got = wire.recv_until_close(s)
kind, f = wire.decode(got[-1])
want = b'batch 2: sample 0 names series 5, never defined on this session'
if kind != 'error' or want not in f.get(1, b''):
    sys.exit('expected an Error %r, got %s %r' % (want, kind, f))
print(s.getsockname()[1])
") || { cat "$W/collector.log"; fail "case undefined-id"; }
collector_says "batch 2: sample 0 names series 5, never defined on this session"
rrd_flush "$W"
v=$(rrd_last "$W/rrd/s/sw2/system.rrd" temp) || fail "the accepted batch 1 of sw2 was lost"
same_number "$v" 20 || fail "sw2 temp is $v, expected 20"

log "case mismatch: fewer values than samples"
client "
s = wire.connect(PORT)
s.sendall(wire.frame(wire.hello(protocol=2, site='s', agent='c')))
wire.expect(s, 'hello_ack')
s.sendall(wire.frame(wire.compact_batch(1, [wire.series_def(1, 'sw3', 'system', '', 'temp')],
                                        [(1, $T * 1000, None, None)])))
kind, f = wire.decode(wire.recv_until_close(s)[-1])
if kind != 'error' or b'fewer gauge values (0) than GAUGE samples' not in f.get(1, b''):
    sys.exit('expected an Error about gauge values, got %s %r' % (kind, f))
" || { cat "$W/collector.log"; fail "case mismatch"; }

log "case too-many: 50,001 samples of two bytes each, that would expand a hundredfold"
client "
s = wire.connect(PORT)
s.sendall(wire.frame(wire.hello(protocol=2, site='s', agent='e')))
wire.expect(s, 'hello_ack')
d = [wire.series_def(i, 'h' * 128, 'c' * 128, 'i' * 128, 'm' * 128, wire.DERIVE) for i in (1, 2)]
s.sendall(wire.frame(wire.compact_batch(1, d, [(1 + i % 2, $T * 1000, None, 1) for i in range(50001)])))
kind, f = wire.decode(wire.recv_until_close(s)[-1])
if kind != 'error' or b'batch 1: more than 50000 samples, results and events in one batch' not in f.get(1, b''):
    sys.exit('expected an Error about the batch size, got %s %r' % (kind, f))
" || { cat "$W/collector.log"; fail "case too-many"; }
[ ! -e "$W/rrd/s/$(printf 'h%.0s' $(seq 128))" ] || fail "a refused batch was stored"

log "case protocol-1: compact samples on a protocol 1 session"
client "
s = wire.connect(PORT)
s.sendall(wire.frame(wire.hello(protocol=1, site='s', agent='d')))
wire.expect(s, 'hello_ack')
s.sendall(wire.frame(wire.compact_batch(1, [wire.series_def(1, 'sw4', 'system', '', 'temp')],
                                        [(1, $T * 1000, 1.0, None)])))
kind, f = wire.decode(wire.recv_until_close(s)[-1])
if kind != 'error' or b'batch 1: compact samples on a protocol 1 session' not in f.get(1, b''):
    sys.exit('expected an Error about protocol 1, got %s %r' % (kind, f))
" || { cat "$W/collector.log"; fail "case protocol-1"; }
[ ! -e "$W/rrd/s/sw3" ] && [ ! -e "$W/rrd/s/sw4" ] || { find "$W/rrd"; fail "a refused batch was stored"; }
kill -0 "$PID_collector" 2>/dev/null || { cat "$W/collector.log"; fail "the collector died"; }
echo "PASS: compact batches stored as sent; broken ones refused with their reason"
