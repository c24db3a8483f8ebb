#!/bin/bash
# test_snmp_in_flight.sh - the agent's bound on SNMP requests in flight:
# 20 devices that never answer (UDP ports of a test listener that records
# each request and stays silent) and 3 real ones (snmpd), with
# snmp_in_flight = 4. The silent ports never see more than 4 requests
# unanswered at once, and every real device is still polled every interval.
# Then with snmp_in_flight = 1 the line is too long: a device that waits
# past its interval gets an error saying so instead of a silent gap.
set -eu
. "$(dirname "$0")/lib.sh"
need_tools snmpd snmpget rrdtool python3
W=$(mktemp -d /tmp/vakt-it-inflight.XXXXXX)
trap 'cleanup && s=0 || s=$?; [ -n "${KEEP:-}" ] || rm -rf "$W"; exit $s' EXIT

snmp_port=$(free_port udp)
col_port=$(free_port tcp)
community="vakt$$"
start_snmpd "$W" "$snmp_port" "$community"
write_collector_conf "$W" "$col_port" </dev/null
start_collector "$W" "$col_port"

# the silent devices: one listener on 20 ports, "port seconds" per request
silent_ports=""
for i in $(seq 1 20); do
	p=$(free_port udp)
	case " $silent_ports " in *" $p "*) p=$(free_port udp) ;; esac
	silent_ports="$silent_ports $p"
done
cat >"$W/silent.py" <<'PY'
# the kernel's receive time of each request (SO_TIMESTAMPNS), not this
# script's: a busy machine delays the script, never the stamp
import selectors, socket, struct, sys
TS = getattr(socket, "SO_TIMESTAMPNS", 35)
sel = selectors.DefaultSelector()
for p in sys.argv[2:]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, TS, 1)
    s.bind(("127.0.0.1", int(p)))
    sel.register(s, selectors.EVENT_READ, int(p))
with open(sys.argv[1], "a", buffering=1) as out:
    while True:
        for key, _ in sel.select():
            _, anc, _, _ = key.fileobj.recvmsg(65535, 256)
            for lvl, typ, d in anc:
                if lvl == socket.SOL_SOCKET and typ == TS:
                    sec, nsec = struct.unpack("qq", d[:16])
                    out.write("%d %.6f\n" % (key.data, sec + nsec / 1e9))
PY
# shellcheck disable=SC2086
start silent "$W/silent.log" python3 "$W/silent.py" "$W/requests.txt" $silent_ports
wait_for 5 bash -c "ss -Huan | grep -q ':${silent_ports##* } '" || fail "the silent listener did not bind"

# agent_conf BOUND TIMEOUT: the agent's config with the 23 devices
agent_conf() {
	cat <<EOC
site = "rissa"
insecure = yes
collector "dc1" { address = "127.0.0.1:$col_port" }
snmp_in_flight = $1
EOC
	n=0
	for p in $silent_ports; do
		n=$((n + 1))
		printf 'snmp "silent%s" {\n  address = "127.0.0.1:%s"\n  interval = 2\n  timeout = %s\n  retries = 0\n}\n' \
			"$n" "$p" "$2"
	done
	for d in real1 real2 real3; do
		printf 'snmp "%s" {\n  address = "127.0.0.1:%s"\n  community = "%s"\n  interfaces = {"1"}\n  interval = 2\n  timeout = %s\n  retries = 0\n}\n' \
			"$d" "$snmp_port" "$community" "$2"
	done
}

agent_conf 4 300 >"$W/agent.conf"
start agent "$W/agent.log" "$VAKT_BIN/vakt-agent" -f -v -c "$W/agent.conf"
show() { tail -n 40 "$W/agent.log" "$W/collector.log" || true; }
updates() { rrdtool fetch "$W/rrd/rissa/$1/system.rrd" AVERAGE -r 1 -s "-$2" -e now |
	awk -v ds=up 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == ds) c = i + 1; next }
		c && $c != "-nan" && $c + 0 == 1 { n++ } END { print n + 0 }'; }
sleep 14
rrd_flush "$W"
# the silent ones asked, the real ones polled at every 2-s slot of the last 10 s
[ "$(wc -l <"$W/requests.txt")" -ge 40 ] || { show; fail "the silent devices got $(wc -l <"$W/requests.txt") requests in 14 s"; }
for d in real1 real2 real3; do
	n=$(updates "$d" 10)
	log "$d: up in $n of the last 10 s"
	# each run's up holds for the 2 s until the next one
	[ "$n" -ge 7 ] || { show; fail "$d was not polled every interval (up in $n of 10 s)"; }
done
# and no run of theirs failed, waiting for a slot or otherwise
if grep -E 'check "real[0-9]" \(snmp\): .* -> (error|timeout)' "$W/agent.log"; then
	fail "a real device's run failed behind the silent ones"
fi
stop agent
grep -q 'snmp: at most 4 of 4 requests in flight at once (snmp_in_flight); [1-9][0-9]* waited for a slot' "$W/agent.log" ||
	{ show; fail "the agent's exit line does not show requests waiting under the bound"; }
# requests to the silent ports stay unanswered for the 300-ms timeout: at most
# 4 of them may fall in any 295 ms; without the bound, 5 or 6 do
python3 - "$W/requests.txt" <<'PY' || fail "more than 4 requests in flight at once"
import sys
t = sorted(float(l.split()[1]) for l in open(sys.argv[1]))
worst = max(sum(1 for u in t[i:i + 10] if u - s < 0.295) for i, s in enumerate(t))
print("most requests to silent ports within 295 ms: %d of %d" % (worst, len(t)))
sys.exit(0 if worst <= 4 else 1)
PY

log "one slot for 23 devices: the line is longer than an interval"
agent_conf 1 300 >"$W/agent.conf"
start agent "$W/agent.log.2" "$VAKT_BIN/vakt-agent" -f -v -c "$W/agent.conf"
wait_for 15 grep -q 'request slots (snmp_in_flight), all busy: no time left in this interval to poll 127.0.0.1:' "$W/agent.log.2" ||
	{ tail -n 40 "$W/agent.log.2"; fail "no run said it waited too long for a slot"; }
grep -m1 'all busy' "$W/agent.log.2" >&2
echo "PASS: at most snmp_in_flight requests in flight, real devices polled every interval behind 20 silent ones, a run that waits too long says so"
