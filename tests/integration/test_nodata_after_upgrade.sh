#!/bin/bash
# test_nodata_after_upgrade.sh - files made by a collector whose series index
# is of schema version 1 (which did not keep the agent and interval of each
# file) are watched for no-data after a restart too, once a sample of theirs
# has been written by this collector: the upgrade alone must not leave them
# unwatched for good. A check whose interval grew is watched at the new one
# after a restart, not paged for silence at the interval that made its file.
set -eu
. "$(dirname "$0")/lib.sh"
need_tools python3
W=$(mktemp -d /tmp/vakt-it-nodata-upgrade.XXXXXX)
trap 'cleanup && s=0 || s=$?; [ -n "${KEEP:-}" ] || rm -rf "$W"; exit $s' EXIT

col_port=$(free_port tcp)
{ pager_channel "$W"; cat <<EOC; } | write_collector_conf "$W" "$col_port"
watch {
  agent_down = 60
  no_data = 2
}
EOC

# send N AGENT STREAM [INTERVAL]: N batches of h1/c (interval INTERVAL s, 1 unless
# given) from agent AGENT of site fosen, on stream STREAM
send() {
	wire_client "$col_port" "
import time
s = wire.connect(PORT)
s.sendall(wire.frame(wire.hello(site='fosen', agent='$2', stream=$3)))
wire.expect(s, 'hello_ack')
for seq in range(1, $1 + 1):
    s.sendall(wire.frame(wire.batch(seq, [wire.sample(host='h1', check='c', metric='m',
                                                      value=1.0, interval=${4:-1})])))
    wire.expect(s, 'ack')
    time.sleep(0.3)
" || fail "the client failed"
}

log "a collector makes h1/c; its index is taken back to schema version 1"
start_collector "$W" "$col_port"
send 3 a1 1
stop collector
python3 - "$W/rrd/vakt.db" <<'EOP'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("ALTER TABLE rrd_file DROP COLUMN agent")
db.execute("ALTER TABLE rrd_file DROP COLUMN interval")
db.execute("PRAGMA user_version = 1")
db.commit()
EOP

log "the upgraded collector writes h1/c again"
start_collector "$W" "$col_port" "$W/collector2.log"
log_has "$W/collector2.log" "store: 0 files were written within a day before the start"
send 3 a1 2
stop collector

# watch_a1 PHASE SECONDS STREAM: a1 keeps alive with h1/d (so the silence of h1/c is
# no-data, not agent-down) for SECONDS or until h1/c pages no-data
watch_a1() {
	wire_client "$col_port" "
import os, time
s = wire.connect(PORT)
s.sendall(wire.frame(wire.hello(site='fosen', agent='a1', stream=$3)))
wire.expect(s, 'hello_ack')
pages, end, seq, got = '$W/pages.log', time.time() + $2, 0, []
while time.time() < end and not got:
    seq += 1
    s.sendall(wire.frame(wire.batch(seq, [wire.sample(host='h1', check='d', interval=1)])))
    wire.expect(s, 'ack')
    time.sleep(0.5)
    if os.path.exists(pages):
        got = [l for l in open(pages) if l.startswith('firing no-data fosen h1 c ')]
if '$1' == 'silent':
    assert got, 'no no-data page for h1/c'
    assert 'when the collector started; none since' in got[0], got
else:
    assert not got, 'h1/c paged at the interval it had before: %s' % got
"
}

log "after the next restart h1/c is watched: a1 is back, h1/c stays silent, it pages no-data"
start_collector "$W" "$col_port" "$W/collector3.log"
log_has "$W/collector3.log" "store: 1 files were written within a day before the start"
watch_a1 silent 20 3 || { cat "$W/collector3.log" "$W/pages.log" 2>/dev/null; fail "see above"; }

log "h1/c's interval grows to 30 s: after a restart it is not paged 7 s in"
send 1 a1 4 30
stop collector
rm -f "$W/pages.log"
start_collector "$W" "$col_port" "$W/collector4.log"
watch_a1 interval 12 5 || { cat "$W/collector4.log" "$W/pages.log" 2>/dev/null; fail "see above"; }
echo "PASS: a file made before the index's upgrade is watched after a restart, a grown interval is kept"
