#!/bin/bash
# test_compact_wire_series_limit.sh - an agent with more series than 100,000
# (nine simulated switches of 1,000 ports, bench/snmp_devices.py): against a
# real vakt-collector, which allows 1,000,000 ids in HelloAck's max_series,
# the agent defines each series once per session, so after two polls of
# everything the collector's status shows as many definitions as series and
# twice as many samples. Against a collector older than the field (a stand-in
# whose HelloAck lacks it) the agent keeps to 100,000 ids, and its table
# starts again as it fills: every id stays within 100,000, and series are
# defined again.
set -eu
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
here=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d /tmp/vakt-it-serieslimit.XXXXXX)
trap 'cleanup && s=0 || s=$?; rm -rf "$W"; exit $s' EXIT

DEVICES=9 PORTS=1000
# 12 series a port (docs/configuration.md) and the device's uptime
SERIES=$((DEVICES * (PORTS * 12 + 1)))
snmp_port=$(free_port udp)
start devices "$W/devices.log" python3 "$here/../../bench/snmp_devices.py" \
	--devices "$DEVICES" --ports "$PORTS" --port "$snmp_port" --gap 1 \
	--stats "$W/devices.json" --ready "$W/devices.ready"
wait_for 60 test -e "$W/devices.ready" || { cat "$W/devices.log"; fail "the simulated switches did not start"; }

# agent_conf DIR COLLECTOR_PORT: the switches, every port, every 5 s
agent_conf() {
	{
		cat <<EOC
site = "big"
name = "a1"
insecure = yes
collector "dc1" { address = "127.0.0.1:$2" }
EOC
		for i in $(seq 0 $((DEVICES - 1))); do
			printf 'snmp "sw%d" { address = "127.77.0.%d:%s"  community = "vakt"  interfaces = "all"  interval = 5  timeout = 4000  retries = 0 }\n' \
				"$i" $((i + 1)) "$snmp_port"
		done
	} >"$1/agent.conf"
}

log "case new collector: max_series 1,000,000, each series defined once"
col_port=$(free_port tcp)
# the store takes nothing of this site: the test is about the wire, not 9,000 RRD files
write_collector_conf "$W" "$col_port" <<EOC
max_series_per_site = 1
max_new_files_per_minute = 1
EOC
start_collector "$W" "$col_port"
agent_conf "$W" "$col_port"
start agent "$W/agent.log" "$VAKT_BIN/vakt-agent" -f -c "$W/agent.conf"

# session_counts: "SAMPLES DEFINED" of the agent's session in vaktctl status
session_counts() {
	"$VAKT_BIN/vaktctl" -s "$W/collector.sock" status |
		sed -n 's/.*agent "a1" active, [0-9]* batches, \([0-9]*\) samples, \([0-9]*\) series defined,.*/\1 \2/p'
}
two_polls() {
	set -- $(session_counts)
	[ "${1:-0}" -ge $((2 * SERIES)) ]
}
wait_for 90 two_polls || {
	tail -n 20 "$W/agent.log"
	"$VAKT_BIN/vaktctl" -s "$W/collector.sock" status | head -n 20
	fail "the agent's session did not bring two polls of $SERIES series within 90 s"
}
set -- $(session_counts)
log "session: $1 samples, $2 series defined, $SERIES series"
[ "$2" -eq "$SERIES" ] ||
	fail "$2 series defined on the session for $SERIES series and $1 samples: each should be defined once"
grep -qF "protocol 2 (1000000 series ids)" "$W/agent.log" ||
	{ grep "connected to" "$W/agent.log"; fail "the agent did not take the collector's max_series"; }
! grep -q "batch [0-9]*:" "$W/collector.log" ||
	{ grep "batch [0-9]*:" "$W/collector.log" | head -n 3; fail "the collector refused a batch"; }
stop agent
stop collector

log "case old collector: HelloAck without max_series, at most 100,000 ids"
old_port=$(free_port tcp)
# A collector before the field: bench/snmp_receivers.py's stand-in, whose
# HelloAck (protocol 2) leaves max_series out; it acknowledges every batch
# and counts samples, definitions and the highest id, written on SIGUSR1.
start old "$W/old.log" python3 "$here/../../bench/snmp_receivers.py" collector "$old_port" \
	--max-series 0 --stats "$W/old.json"
wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$old_port" || { cat "$W/old.log"; fail "the stand-in did not listen"; }
mkdir "$W/old"
agent_conf "$W/old" "$old_port"
start agent "$W/agent-old.log" "$VAKT_BIN/vakt-agent" -f -c "$W/old/agent.conf"
# old_counts: "SAMPLES DEFINED MAX_ID SESSIONS" of the stand-in, as it writes them now
old_counts() {
	rm -f "$W/old.json"
	kill -USR1 "$PID_old"
	for _ in $(seq 1 25); do
		[ -s "$W/old.json" ] && break
		sleep 0.2
	done
	[ -s "$W/old.json" ] || return 1
	python3 -c 'import json, sys; c = json.load(open(sys.argv[1]))
print(c.get("samples", 0), c.get("defined", 0), c.get("max_id", 0), c.get("sessions", 0))' "$W/old.json"
}
# past one poll of every series: with 100,000 ids the table has started again
old_past_one_poll() {
	set -- $(old_counts)
	[ "${1:-0}" -ge $((SERIES + 10000)) ]
}
wait_for 90 old_past_one_poll || {
	tail -n 20 "$W/agent-old.log" "$W/old.log"
	fail "the stand-in did not get $((SERIES + 10000)) samples within 90 s"
}
read -r samples defined max_id sessions <<<"$(old_counts)"
log "old collector: $samples samples, $defined series defined, highest id $max_id"
[ "$max_id" -le 100000 ] || fail "the agent defined id $max_id on a session whose HelloAck named no max_series"
# the table starts again when a batch (at most 4,000 samples) does not fit
[ "$max_id" -gt 96000 ] || fail "the agent's ids went up to $max_id only, with $SERIES series"
[ "$defined" -gt "$SERIES" ] || fail "$defined definitions for $SERIES series and $samples samples: with 100,000 ids some must be defined again"
[ "$sessions" = 1 ] || fail "the agent's session to the old collector did not last"
grep -qF "protocol 2 (100000 series ids)" "$W/agent-old.log" ||
	{ grep "connected to" "$W/agent-old.log"; fail "the agent did not keep to 100,000 ids"; }
echo "PASS: $SERIES series defined once on a session allowing 1,000,000 ids; at most 100,000 ids with a collector that names none"
