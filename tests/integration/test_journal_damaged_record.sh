#!/bin/bash
# test_journal_damaged_record.sh - a client with a stream id sends 40
# batches and has them all acknowledged, so a spooling agent would have
# deleted them; the collector holds them only in its journal (its cache
# waits 10 minutes) when it is killed (-9). One byte of the journal record
# of batch 20 is flipped while it is stopped, as a failing disk does. At
# start the collector must skip just that record, say so (file, offsets,
# reason, what was replayed), and write every other batch to the RRD file:
# row T0+i holds exactly i, for every i but 20.
set -eu
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
command -v rrdtool >/dev/null || { echo "SKIP: rrdtool missing"; exit 77; }
W=$(mktemp -d /tmp/vakt-it-jdamage.XXXXXX)
trap 'cleanup && s=0 || s=$?; rm -rf "$W"; exit $s' EXIT

N=40
LOST=20
col_port=$(free_port tcp)
CACHE_FLUSH_AGE=600 write_collector_conf "$W" "$col_port" </dev/null
start_collector "$W" "$col_port"

# batch i: one gauge of value i at second T0+i of a past timeline; prints T0
wire_client "$col_port" '
import random, time
t0 = int(time.time()) - 3600
s = wire.connect(PORT)
s.sendall(wire.frame(wire.hello(site="fosen", agent="replayer", stream=random.getrandbits(63) | 1)))
wire.expect(s, "hello_ack")
for i in range(1, '"$N"' + 1):
    s.sendall(wire.frame(wire.batch(i, [wire.sample(host="replay", check="seq", metric="v",
                                                 time_ms=(t0 + i) * 1000, value=float(i))])))
acked = 0
while acked < '"$N"':
    acked = max(acked, wire.expect(s, "ack").get(1, 0))
print(t0)
' >"$W/t0.txt" || fail "the client did not get its $N batches acknowledged"
t0=$(cat "$W/t0.txt")
rrd="$W/rrd/fosen/replay/seq.rrd"

kill -9 "$PID_collector"
wait "$PID_collector" 2>/dev/null || true
PID_collector=
# the journal record of batch LOST: flip a byte in the middle of its payload
python3 - "$W/rrd/journal" "$LOST" >"$W/flipped.txt" <<'PY'
import os, struct, sys
d, want = sys.argv[1], int(sys.argv[2])
for name in sorted(os.listdir(d)):
    path = os.path.join(d, name)
    b = bytearray(open(path, "rb").read())
    off = 16  # the banner: "VAKTJNL2" and the salt
    while off + 12 <= len(b):
        n = struct.unpack_from("<I", b, off + 4)[0]
        if struct.unpack_from("<Q", b, off + 20)[0] == want:
            b[off + 12 + n // 2] ^= 0x55
            open(path, "r+b").write(b)
            print(path, off, off + 12 + n)
            sys.exit(0)
        off += 12 + n
sys.exit("no record of batch %d" % want)
PY
read -r jfile hole_from hole_to <"$W/flipped.txt"
log "flipped a byte of batch $LOST in $jfile (offsets $hole_from..$hole_to)"

start_collector "$W" "$col_port" "$W/collector2.log"
log_has "$W/collector2.log" "journal: $jfile: offsets $hole_from..$hole_to ($((hole_to - hole_from)) bytes): checksum mismatch; skipped (any batch in it is lost), $((N - 1)) records (seq 1..$N) replayed"
grep -q "store: journal replayed: $((N - 1)) records" "$W/collector2.log" ||
	{ cat "$W/collector2.log"; fail "the collector did not replay the $((N - 1)) good records"; }
! grep -q "cutting" "$W/collector2.log" || { cat "$W/collector2.log"; fail "the journal was cut"; }
rrd_flush "$W"

# row T0+i holds i for every i but LOST; the row after it is unknown as well
# (its update spans two seconds, more than the file's heartbeat)
rrdtool fetch "$rrd" AVERAGE -r 1 -s "$t0" -e $((t0 + N)) >"$W/fetch.txt"
awk -v t0="$t0" -v n="$N" -v lost="$LOST" '
	/^[0-9]+:/ { t = $1 + 0; i = t - t0; if (i < 1 || i > n || i == lost || i == lost + 1) next; seen++
		if ($2 ~ /nan/ || $2 + 0 != i) { bad++; if (bad < 5) print "row " i ": " $2 } }
	END { printf "%d of %d rows, %d wrong\n", seen, n - 2, bad; exit !(seen == n - 2 && bad == 0) }' \
	"$W/fetch.txt" || { cat "$W/collector2.log"; fail "batches after the damaged record are missing from $rrd"; }
echo "PASS: a damaged journal record cost only its own batch; the $((N - 1)) others reached the RRD file"
