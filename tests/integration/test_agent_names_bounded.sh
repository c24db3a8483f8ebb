#!/bin/bash
# test_agent_names_bounded.sh - a site's certificate may claim any agent
# name, so names are bounded and can be dropped: beyond max_agents_per_site
# a new name's hello is refused with an Error and a line naming peer and
# site; two live sessions claiming one name cause a warning; `vaktctl forget
# SITE AGENT` resolves the forgotten agent's agent-down page with a note and
# stops watching it, also after a restart (kill -9, journal replayed), whose
# start-up line counts each agent once however many batches it replayed;
# nor does the forgotten agent's file page no-data after that restart.
set -eu
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
W=$(mktemp -d /tmp/vakt-it-names.XXXXXX)
trap 'cleanup && s=0 || s=$?; [ -n "${KEEP:-}" ] || rm -rf "$W"; exit $s' EXIT

col_port=$(free_port tcp)
{
	cat <<EOC
max_agents_per_site = 3
watch {
  heartbeat = 1
  agent_down = 2
  no_data = 2
}
EOC
	pager_channel "$W"
} | write_collector_conf "$W" "$col_port"
start_collector "$W" "$col_port"
ctl() { "$VAKT_BIN/vaktctl" -s "$W/collector.sock" "$@"; }

# send AGENT SEQS...: one session of site fosen, a batch per seq, then it ends
send() {
	agent=$1
	shift
	wire_client "$col_port" "
s = wire.connect(PORT)
s.sendall(wire.frame(wire.hello(site='fosen', agent='$agent', stream=7)))
wire.expect(s, 'hello_ack')
for q in [int(x) for x in '$*'.split()]:
    s.sendall(wire.frame(wire.batch(q, [wire.sample(host='$agent', check='c', time_ms=wire.now_ms() - 100000 + q * 1000)])))
    assert wire.expect(s, 'ack').get(1) == q
s.close()
" || { cat "$W/collector.log"; fail "agent $agent: see above"; }
}
send a1 1
send a2 1
send a3 1

log "a fourth name is refused"
wire_client "$col_port" "
s = wire.connect(PORT)
s.sendall(wire.frame(wire.hello(site='fosen', agent='a4')))
e = wire.expect(s, 'error')
assert b'max_agents_per_site' in e[1], e
" || { cat "$W/collector.log"; fail "a fourth agent name was not refused"; }
log_has "$W/collector.log" 'session 127.0.0.1:'
grep -E 'session 127\.0\.0\.1:[0-9]+: hello from site "fosen", agent "a4": the site has 3 agents \(max_agents_per_site\)' \
	"$W/collector.log" >/dev/null || { cat "$W/collector.log"; fail "no line names peer and site of the refusal"; }

log "two live sessions claim a1"
wire_client "$col_port" "
a = wire.connect(PORT)
a.sendall(wire.frame(wire.hello(site='fosen', agent='a1')))
wire.expect(a, 'hello_ack')
b = wire.connect(PORT)
b.sendall(wire.frame(wire.hello(site='fosen', agent='a1')))
wire.expect(b, 'hello_ack')
a.close(); b.close()
"
log_has "$W/collector.log" 'agent "a1" is connected already from 127.0.0.1:'

log "a2 is down and pages; forget resolves it and it pages no more"
wait_for 15 grep -q "firing agent-down fosen a2" "$W/pages.log" ||
	{ cat "$W/collector.log"; fail "a2 did not page agent-down"; }
out=$(ctl forget fosen a2)
[ "$out" = 'forgot agent "a2" of site "fosen"' ] || fail "vaktctl forget: $out"
wait_for 5 grep -q 'resolved agent-down fosen a2 .*forgotten (vaktctl forget)' "$W/pages.log" ||
	{ cat "$W/pages.log"; fail "a2's agent-down was not resolved with a note"; }
! ctl status | grep -q 'agent "a2"' || fail "vaktctl status still lists a2"
set +e
out=$(ctl forget fosen nobody)
rc=$?
set -e
[ "$rc" = 1 ] && [ "$out" = 'error: forget: site "fosen" has no agent "nobody"' ] ||
	fail "forget of an unknown agent: $rc $out"

log "its name is free again: a4 gets in, then a1 sends three batches"
send a4 1
send a1 2 3 4
kill -9 "$PID_collector"
wait "$PID_collector" 2>/dev/null || true
: >"$W/pages.log"
start_collector "$W" "$col_port" "$W/collector2.log"
log_has "$W/collector2.log" "journal replayed"
grep -q 'series index .*: 4 files, 4 series, 3 agents;' "$W/collector2.log" ||
	{ grep 'series index' "$W/collector2.log"; fail "the start-up line does not count 3 agents"; }
ctl status >"$W/status.txt"
! grep -q 'agent "a2"' "$W/status.txt" || { cat "$W/status.txt"; fail "a2 came back after a restart"; }
grep -q 'agent "a4"' "$W/status.txt" || { cat "$W/status.txt"; fail "a4 is not known after a restart"; }
sleep 9 # past agent-down (2 s) and no-data (2 intervals of 1 s, 5 s of grace)
# neither a2 nor its file (written within the day, so watched after a restart)
! grep -q " fosen a2 " "$W/pages.log" || { cat "$W/pages.log"; fail "a2 paged after the restart"; }
echo "PASS: agent names per site are bounded, duplicates warned of, forget drops one for good"
