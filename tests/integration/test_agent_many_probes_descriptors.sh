#!/bin/bash
# test_agent_many_probes_descriptors.sh - 1,500 tcp probes whose runs all
# wait out their timeout (a loopback service that takes connections into its
# backlog and never answers) hold 1,500 sockets at once, more than the usual
# soft descriptor limit of 1,024: the agent, started under soft 1,024 and hard
# 4,096, raises its limit, and every probe's run ends in a timeout naming its
# target, none in "Too many open files".
set -eu
. "$(dirname "$0")/lib.sh"
SLOW=$([ -n "${VAKT_VALGRIND:-}" ] && echo 4 || echo 1)
N=1500
need_tools python3 prlimit
W=$(mktemp -d /tmp/vakt-it-manyfds.XXXXXX)
trap 'cleanup && s=0 || s=$?; [ -n "${KEEP:-}" ] || rm -rf "$W"; exit $s' EXIT

port=$(free_port tcp)
# connections complete into the backlog (up to somaxconn) and are never accepted
start silent "$W/silent.log" python3 -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(int(sys.argv[2]) + 64)
time.sleep(600)' "$port" "$N"
wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" || fail "the silent service did not listen"

{
	cat <<EOC
site = "rissa"
insecure = yes
collector "dc1" { address = "127.0.0.1:$(free_port tcp)" }
EOC
	for i in $(seq 1 $N); do
		printf 'probe "p%d" {\n  kind = "tcp"\n  address = "127.0.0.1:%d"\n  expect = "^never"\n  interval = %d\n  timeout = %d\n}\n' \
			"$i" "$port" $((10 * SLOW)) $((9000 * SLOW))
	done
} >"$W/agent.conf"
"$VAKT_BIN/vakt-agent" --check-config -c "$W/agent.conf" || fail "the agent refused the config"
start agent "$W/agent.log" prlimit --nofile=1024:4096 "$VAKT_BIN/vakt-agent" -f -c "$W/agent.conf"

# a backlog the kernel caps (somaxconn) leaves the rest connecting: "no connection to"
timed_out() { [ "$(grep -cE -- "-> timeout: (no answer matching /\\^never/ from|no connection to) 127\\.0\\.0\\.1:$port within $((9 * SLOW)) s" "$W/agent.log")" -ge "$N" ]; }
wait_for $((40 * SLOW)) timed_out ||
	{ grep -m 5 -- '->' "$W/agent.log" || true; fail "not every probe's first run ended in a timeout naming its target ($(grep -c -- '-> timeout' "$W/agent.log") of $N)"; }
! grep -m 5 -i "too many open files" "$W/agent.log" || fail "runs were refused a descriptor"
grep -q "descriptor limit raised from 1024 to 4096" "$W/agent.log" || fail "the agent does not say it raised its descriptor limit"
echo "PASS: $N probes waiting at once each ended in a timeout; the agent raised its descriptor limit"
