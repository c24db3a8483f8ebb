#!/bin/bash
# test_snmp_outcomes.sh - devices that do not answer are never silent: snmpd
# killed while polled, a wrong community and a name that does not resolve
# each page "unreachable" once with the device's name and the reason, store
# their outcome (up = 0) in the RRD file, and recover exactly once. Then the
# agent itself is killed: agent-down, and recovery when it returns.
# Runs in a network namespace of its own (only lo), so that the name lookup
# fails at once and no packet leaves the machine.
set -eu
. "$(dirname "$0")/netns.sh"
. "$(dirname "$0")/lib.sh"
# under valgrind every binary runs several times slower: so may the waits
SLOW=$([ -n "${VAKT_VALGRIND:-}" ] && echo 3 || echo 1)
need_tools snmpd snmpget rrdtool python3
W=$(mktemp -d /tmp/vakt-it-outcomes.XXXXXX)
trap 'cleanup && s=0 || s=$?; [ -n "${KEEP:-}" ] || rm -rf "$W"; exit $s' EXIT

snmp_port=$(free_port udp)
col_port=$(free_port tcp)
community="vakt$$"
start_snmpd "$W" "$snmp_port" "$community"
{ pager_channel "$W"; cat <<EOC; } | write_collector_conf "$W" "$col_port"
watch {
  agent_down = 4
  unreachable = 2
}
EOC
cat >"$W/agent.conf" <<EOC
site = "rissa"
insecure = yes
collector "dc1" { address = "127.0.0.1:$col_port" }
snmp "core-sw" {
  address = "127.0.0.1:$snmp_port"
  community = "$community"
  interfaces = {"lo", "nosuch0"}
  interval = 1
  timeout = 400
  retries = 0
}
snmp "wrong-sw" {
  address = "127.0.0.1:$snmp_port"
  community = "not-$community"
  interval = 1
  timeout = 400
  retries = 0
}
snmp "ghost-sw" {
  address = "ghost-sw.invalid"
  interval = 1
  timeout = 400
  retries = 0
}
EOC
start_collector "$W" "$col_port"
start agent "$W/agent.log" "$VAKT_BIN/vakt-agent" -f -v -c "$W/agent.conf"

pages() { if [ -f "$W/pages.log" ]; then grep -c "^$1" "$W/pages.log" || true; else echo 0; fi; }
pages_are() { [ "$(pages "$1")" = "$2" ]; }
show() { cat "$W/pages.log" 2>/dev/null || true; tail -n 30 "$W/agent.log" "$W/collector.log" || true; }
up_of() { rrd_last "$W/rrd/rissa/$1/system.rrd" up; }
up_is() { [ -f "$W/rrd/rissa/$1/system.rrd" ] && [ "$(up_of "$1")" = "$2" ]; }

# a device that never answered since start-up still reports, with its reason
wait_for $((10 * SLOW)) pages_are "firing unreachable rissa wrong-sw" 1 || { show; fail "no page for the wrong community"; }
grep -q "^firing unreachable rissa wrong-sw system | system on wrong-sw (site rissa) is unreachable: timeout: no answer from 127.0.0.1:$snmp_port" "$W/pages.log" ||
	{ show; fail "the wrong community's page lacks its reason"; }
wait_for $((10 * SLOW)) pages_are "firing unreachable rissa ghost-sw" 1 || { show; fail "no page for the unresolvable name"; }
grep -q "^firing unreachable rissa ghost-sw system | system on ghost-sw (site rissa) is unreachable: error: cannot resolve ghost-sw.invalid" "$W/pages.log" ||
	{ show; fail "the unresolvable name's page lacks its reason"; }
wait_for $((5 * SLOW)) up_is wrong-sw 0 || { show; fail "wrong-sw's outcome is not in its RRD file"; }
wait_for $((5 * SLOW)) up_is ghost-sw 0 || { show; fail "ghost-sw's outcome is not in its RRD file"; }
wait_for $((10 * SLOW)) up_is core-sw 1 || { show; fail "core-sw never stored as up"; }
[ "$(pages "firing unreachable rissa core-sw system")" = 0 ] || { show; fail "core-sw paged while it answered"; }
# a configured interface the device lacks is not silent either
wait_for $((5 * SLOW)) pages_are "firing unreachable rissa core-sw if" 1 || { show; fail "no page for a missing interface"; }
grep -q "^firing unreachable rissa core-sw if | if/nosuch0 on core-sw (site rissa) is unreachable: error: 127.0.0.1:$snmp_port has no interface \"nosuch0\"" "$W/pages.log" ||
	{ show; fail "the missing interface's page lacks its reason"; }
[ "$(pages "firing unreachable rissa core-sw if")" = 1 ] || { show; fail "lo paged though it exists"; }

log "killing snmpd"
stop snmpd
t0=$(date +%s)
wait_for $((6 * SLOW)) pages_are "firing unreachable rissa core-sw system" 1 || { show; fail "no page within 3 intervals (+ timeout) after snmpd died"; }
took=$(( $(date +%s) - t0 ))
log "paged after $took s"
# two failed runs of 1 s each and their 0.4 s timeouts, within 3 intervals (+1 s of rounding)
[ "$took" -le $(( 4 * SLOW )) ] || fail "the page took $took s, more than 3 intervals"
grep -q "^firing unreachable rissa core-sw system | system on core-sw (site rissa) is unreachable: timeout: no answer from 127.0.0.1:$snmp_port" "$W/pages.log" ||
	{ show; fail "core-sw's page lacks its reason"; }
wait_for $((5 * SLOW)) up_is core-sw 0 || { show; fail "core-sw's outage is not in its RRD file"; }
sleep 3
[ "$(pages "firing unreachable rissa core-sw system")" = 1 ] || { show; fail "more than one page for one outage"; }
[ "$(pages "firing no-data")" = 0 ] || { show; fail "no-data paged for a host already unreachable"; }

log "restarting snmpd"
start_snmpd "$W" "$snmp_port" "$community"
wait_for $((10 * SLOW)) pages_are "resolved unreachable rissa core-sw system" 1 || { show; fail "no recovery for core-sw"; }
grep -q "^resolved unreachable rissa core-sw system | system on core-sw (site rissa) answers again" "$W/pages.log" ||
	{ show; fail "core-sw's recovery text"; }
wait_for $((5 * SLOW)) up_is core-sw 1 || { show; fail "core-sw's recovery is not in its RRD file"; }
sleep 3
[ "$(pages "resolved unreachable rissa core-sw system")" = 1 ] || { show; fail "more than one recovery"; }
[ "$(pages "resolved unreachable rissa wrong-sw")" = 0 ] || { show; fail "wrong-sw recovered though its community is still wrong"; }

log "killing the agent"
kill -9 "$PID_agent"
t0=$(date +%s)
wait_for $((8 * SLOW)) pages_are "firing agent-down rissa" 1 || { show; fail "no agent-down page"; }
log "agent-down after $(( $(date +%s) - t0 )) s"
grep -q '^firing agent-down rissa .* is down: nothing heard for' "$W/pages.log" || { show; fail "agent-down text"; }
sleep 4
[ "$(pages "firing no-data")" = 0 ] || { show; fail "no-data paged while agent-down explains it"; }
start agent "$W/agent.log.2" "$VAKT_BIN/vakt-agent" -f -v -c "$W/agent.conf"
wait_for $((10 * SLOW)) pages_are "resolved agent-down rissa" 1 || { show; fail "no agent-down recovery"; }
"$VAKT_BIN/vaktctl" -s "$W/collector.sock" status >"$W/status.txt"
grep -q 'agents: 1, 0 down' "$W/status.txt" || { cat "$W/status.txt"; fail "status after recovery"; }
grep -q 'firing: system on wrong-sw (site rissa) is unreachable' "$W/status.txt" ||
	{ cat "$W/status.txt"; fail "status does not list the unreachable device"; }
echo "PASS: unreachable devices paged once with their reasons, recovered once; agent-down and back"
