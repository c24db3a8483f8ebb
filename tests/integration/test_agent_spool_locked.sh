#!/bin/bash
# test_agent_spool_locked.sh - a second agent started on a spool_dir that a
# running agent holds (the same config started twice, or two configs that
# name one directory) refuses to start, naming the directory and the pid of
# the agent that holds it, rather than run on memory only for good; it
# leaves the running agent and its spool (owner file included) alone.
# --check-config still passes beside the running agent.
set -eu
. "$(dirname "$0")/lib.sh"
command -v rrdtool >/dev/null || { echo "SKIP: rrdtool missing"; exit 77; }
W=$(mktemp -d /tmp/vakt-it-spool-lock.XXXXXX)
trap 'cleanup && s=0 || s=$?; rm -rf "$W"; exit $s' EXIT

web_port=$(free_port tcp)
col_port=$(free_port tcp)
write_collector_conf "$W" "$col_port" </dev/null
AGENT_SPOOL="$W/spool" start_web_probe "$W" fosen "$col_port" "$web_port"
sed 's/^site = "fosen"$/site = "leksvik"/' "$W/agent.conf" >"$W/leksvik.conf"
rrd="$W/rrd/fosen/127.0.0.1/web.rrd"
wait_for 15 test -f "$rrd" || { cat "$W/agent.log"; fail "no RRD file"; }
grep -q "spool: $W/spool: stream [0-9a-f]*, " "$W/agent.log" || { cat "$W/agent.log"; fail "the first agent has no spool on disk"; }

# the same config again, then another site's on the same directory
for conf in agent.conf leksvik.conf; do
	set +e
	timeout 10 "$VAKT_BIN/vakt-agent" -f -c "$W/$conf" >"$W/second.log" 2>&1
	rc=$?
	set -e
	[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || { cat "$W/second.log"; fail "$conf: a second agent ran on a spool_dir in use (exit $rc)"; }
	grep -qF "$W/$conf:4: spool_dir \"$W/spool\" is in use by another vakt-agent (pid $PID_agent): two agents cannot share a spool_dir; stop that one, or give each its own" "$W/second.log" ||
		{ cat "$W/second.log"; fail "$conf: the refusal does not name the directory and the holder"; }
	! grep -q "memory only" "$W/second.log" || fail "$conf: the second agent went on with memory only"
done
[ "$(cat "$W/spool/owner")" = "site=fosen agent=$(hostname)" ] || { cat "$W/spool/owner"; fail "the owner file was rewritten"; }
"$VAKT_BIN/vakt-agent" -n -c "$W/agent.conf" >"$W/check.log" 2>&1 || { cat "$W/check.log"; fail "--check-config failed beside the running agent"; }

# the first agent goes on as before
kill -0 "$PID_agent" || fail "the first agent is gone"
t=$(date +%s)
fresh() { rrd_flush "$W" "$rrd" && [ "$(rrdtool last "$rrd")" -ge $((t + 2)) ]; }
wait_for 10 fresh || { cat "$W/agent.log"; fail "the first agent stopped delivering"; }
! grep -q "in use\|memory only" "$W/agent.log" || { cat "$W/agent.log"; fail "the first agent complained"; }
echo "PASS: a second agent on a spool_dir in use refuses to start, naming it and the holder's pid"
