#!/bin/bash
# test_store_quarantine.sh - one host's folder of a site cannot be written
# (its path is a plain file: mkdir and open fail with ENOTDIR, as root too,
# on any filesystem). The real vakt-collector must quarantine that one file,
# keep acknowledging the site's batches and storing every other series, name
# the file in `vaktctl status`, and take the host's data again once the
# folder is fixed.
set -eu
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
command -v rrdtool >/dev/null || { echo "SKIP: rrdtool missing"; exit 77; }
W=$(mktemp -d /tmp/vakt-it-quarantine.XXXXXX)
trap 'cleanup && s=0 || s=$?; rm -rf "$W"; exit $s' EXIT
export WIRE_DIR
WIRE_DIR=$(cd "$(dirname "$0")" && pwd)

col_port=$(free_port tcp)
{ pager_channel "$W"; echo "quarantine_retry = 1"; } | write_collector_conf "$W" "$col_port"
mkdir -p "$W/rrd/fosen"
: >"$W/rrd/fosen/bad" # where the host "bad" needs its folder
start_collector "$W" "$col_port"

# send FIRST_SEQ COUNT: one session of COUNT batches, one second apart, each
# with a sample of hosts good (two checks) and bad; every batch must be acked.
send() {
	python3 - "$col_port" "$1" "$2" <<'PY'
import os, sys, time
sys.path.insert(0, os.environ["WIRE_DIR"])
import wire
port, first, count = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
s = wire.connect(port)
s.sendall(wire.frame(wire.hello(site="fosen", agent="a1")))
wire.expect(s, "hello_ack")
for seq in range(first, first + count):
    t = int(time.time() * 1000)
    smp = [wire.sample(host="good", check="c", metric="m", time_ms=t, value=seq),
           wire.sample(host="good", check="d", metric="m", time_ms=t, value=seq),
           wire.sample(host="bad", check="c", metric="m", time_ms=t, value=seq)]
    s.sendall(wire.frame(wire.batch(seq, smp)))
    a = wire.expect(s, "ack")
    if a.get(1) != seq:
        sys.exit("batch %d: ack %r" % (seq, a))
    time.sleep(1.0)
PY
}

status() { "$VAKT_BIN/vaktctl" -s "$W/collector.sock" status; }

log "the host's folder is a plain file: its batches are acknowledged anyway"
send 1 3 || { cat "$W/collector.log"; fail "a batch was not acknowledged"; }
rrd_flush "$W"
[ "$(rrd_last "$W/rrd/fosen/good/c.rrd" m)" = 3 ] || fail "good/c.rrd lacks batch 3"
[ "$(rrd_last "$W/rrd/fosen/good/d.rrd" m)" = 3 ] || fail "good/d.rrd lacks batch 3"
status >"$W/status1.txt"
grep -qF "quarantined $W/rrd/fosen/bad/c.rrd: open failed: Not a directory" "$W/status1.txt" ||
	{ cat "$W/status1.txt"; fail "the status does not name the quarantined file"; }
grep -q "1 files quarantined" "$W/status1.txt" || { cat "$W/status1.txt"; fail "no count"; }
grep -qF "store: quarantined $W/rrd/fosen/bad/c.rrd" "$W/collector.log" ||
	fail "the quarantine was not logged"
[ "$(grep -c "store: quarantined" "$W/collector.log")" = 1 ] ||
	fail "the quarantine was logged more than once"
grep -q "refused the session" "$W/collector.log" && fail "a session was refused"
# lost samples are not silent: the host's quarantine pages once
quar_pages() { [ "$(grep -c "^$1 quarantine fosen bad store " "$W/pages.log" 2>/dev/null)" = "$2" ]; }
wait_for 5 quar_pages firing 1 || { cat "$W/pages.log" 2>/dev/null; fail "no quarantine page"; }
grep -qF "firing quarantine fosen bad store | 1 file(s) of bad (site fosen) cannot be written, their samples are lost: $W/rrd/fosen/bad/c.rrd: open failed: Not a directory" "$W/pages.log" ||
	{ cat "$W/pages.log"; fail "the quarantine page lacks the file and the reason"; }

log "fixing the folder"
rm "$W/rrd/fosen/bad"
send 4 3 || { cat "$W/collector.log"; fail "a batch was not acknowledged after the fix"; }
rrd_flush "$W"
[ "$(rrd_last "$W/rrd/fosen/bad/c.rrd" m)" = 6 ] ||
	{ cat "$W/collector.log"; fail "bad/c.rrd did not get the data after the fix"; }
[ "$(rrd_last "$W/rrd/fosen/good/c.rrd" m)" = 6 ] || fail "good/c.rrd lacks batch 6"
grep -qF "store: $W/rrd/fosen/bad/c.rrd works again" "$W/collector.log" ||
	fail "the end of the quarantine was not logged"
status >"$W/status2.txt"
grep -q "quarantined /" "$W/status2.txt" && { cat "$W/status2.txt"; fail "still listed"; }
grep -q "0 files quarantined" "$W/status2.txt" || { cat "$W/status2.txt"; fail "no count"; }
wait_for 5 quar_pages resolved 1 || { cat "$W/pages.log"; fail "no recovery of the quarantine page"; }
quar_pages firing 1 || { cat "$W/pages.log"; fail "more than one quarantine page"; }
echo "PASS: one unwritable folder cost only its own file's samples; the site went on"
