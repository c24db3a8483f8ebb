#!/bin/bash
# test_agent_spool_restored.sh - an agent's spool restored from a backup (or a
# cloned machine's copy): the collector holds batches of its stream past the
# seq the spool would give its next batch. The agent starts its seqs past
# what the collector holds, says so once, and every second after its start
# reaches the RRD file. Its new batches reused seqs the collector held, which
# it dropped as copies: the file stayed empty for as long as the agent had
# run since the backup. The backup holds batches the collector did not have
# then (it was down); the original sent them later, so the restored agent
# does not send them again, and says so: their count and seqs in a log
# line, and in its stats line. It dropped them without a word, and then
# counted them as acknowledged as well.
set -eu
. "$(dirname "$0")/lib.sh"
command -v rrdtool >/dev/null || { echo "SKIP: rrdtool missing"; exit 77; }
W=$(mktemp -d /tmp/vakt-it-restored.XXXXXX)
trap 'cleanup && s=0 || s=$?; rm -rf "$W"; exit $s' EXIT

web_port=$(free_port tcp)
col_port=$(free_port tcp)
write_collector_conf "$W" "$col_port" </dev/null
AGENT_SPOOL="$W/spool" start_web_probe "$W" "osen" "$col_port" "$web_port"
rrd="$W/rrd/osen/127.0.0.1/web.rrd"
wait_for 15 test -f "$rrd" || { cat "$W/agent.log"; fail "no RRD file"; }
sleep 2
# the collector goes away: what the agent makes now waits in its spool
stop collector
sleep 4
stop agent
cp -a "$W/spool" "$W/backup"
log "spool backed up: next $(cat "$W/spool/next")"
# the backup's unacknowledged batches: "COUNT FIRST LAST"
waiting=$(python3 - "$W/backup" <<'PY'
import glob, struct, sys
d = sys.argv[1]
acked = struct.unpack_from("<Q", open(d + "/state", "rb").read(), 24)[0]
seqs = []
for seg in sorted(glob.glob(d + "/*.seg")):
    b = open(seg, "rb").read()
    i = 32
    while i + 32 <= len(b) and b[i:i + 4] == b"VKSR":
        n, seq = struct.unpack_from("<IQ", b, i + 12)
        if seq > acked:
            seqs.append(seq)
        i += 32 + n
print(len(seqs), min(seqs, default=0), max(seqs, default=0))
PY
)
read -r nwait first last <<<"$waiting"
[ "$nwait" -gt 0 ] || fail "the backup holds no unacknowledged batch"
log "the backup holds $nwait unacknowledged batches, $first..$last"
start_collector "$W" "$col_port" "$W/collector2.log"

# the agent runs on, its batches acknowledged, then its spool is restored
start agent "$W/agent2.log" "$VAKT_BIN/vakt-agent" -f -c "$W/agent.conf"
sleep 12
stop agent
log "agent stopped at next $(cat "$W/spool/next"); restoring the backup"
rm -rf "$W/spool"
mv "$W/backup" "$W/spool"

start agent "$W/agent3.log" "$VAKT_BIN/vakt-agent" -f -c "$W/agent.conf"
from=$(( $(date +%s) + 2 ))
to=$(( from + 5 ))
arrived() {
	rrd_flush "$W"
	rrdtool fetch "$rrd" AVERAGE -r 1 -s $((from - 1)) -e "$to" >"$W/fetch.txt" || return 1
	awk -v from="$from" -v to="$to" '
		NR == 1 { for (i = 1; i <= NF; i++) if ($i == "connect_time") col = i + 1 }
		/^[0-9]+:/ { t = $1 + 0; if (t >= from && t <= to && col && $col !~ /nan/ && $col + 0 > 0) n++ }
		END { exit !(n == to - from + 1) }' "$W/fetch.txt"
}
wait_for 20 arrived ||
	{ cat "$W/fetch.txt"; tail -n 20 "$W/agent3.log" "$W/collector.log"; fail "seconds $from..$to after the restore did not all arrive"; }
log_has "$W/agent3.log" "another copy of it sends (a cloned machine, a restored backup); new batches start at"
[ "$(grep -c "another copy of it sends" "$W/agent3.log")" = 1 ] || fail "the skip was logged more than once"
log_has "$W/agent3.log" "$nwait batches waiting here (batches $first..$last, "
grep "are not sent: the collector holds their seqs" "$W/agent3.log" >&2
stop agent
stats=$(grep 'stats:' "$W/agent3.log" | tail -n 1)
log "$stats"
grep -q " $nwait batches another copy of the spool sent;" <<<"$stats" ||
	fail "the stats line does not count the $nwait batches not sent"
# counted once, there only: acked are the batches this run sent that the
# collector took, not those too (the agent stops with its batches acked)
sent=$(sed -n 's/.* \([0-9]*\) batches sent (.*/\1/p' <<<"$stats")
acked=$(sed -n 's/.*), \([0-9]*\) acked, .*/\1/p' <<<"$stats")
[ -n "$sent" ] && [ -n "$acked" ] || fail "no sent and acked figures in the stats line"
[ "$sent" -gt 0 ] && [ "$acked" -le "$sent" ] && [ "$acked" -ge $((sent - 1)) ] ||
	fail "the stats line says $acked acked of $sent sent, the $nwait copies counted as acked?"
"$VAKT_BIN/vaktctl" -s "$W/collector.sock" status >"$W/status.txt"
grep -q ' 0 batches redelivered' "$W/status.txt" ||
	{ cat "$W/status.txt"; fail "the collector took batches for copies"; }
echo "PASS: after the restore, seconds $from..$to arrived; the agent skipped past the collector's seqs and counted the $nwait batches ($first..$last) it did not send"
