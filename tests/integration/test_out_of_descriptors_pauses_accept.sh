#!/bin/bash
# test_out_of_descriptors_pauses_accept.sh - when accept() fails because the
# collector has no descriptor left (its limit lowered under it while it runs),
# the collector does not spin on the listening socket: it stops accepting,
# logs that once, uses next to no CPU while connections wait, and once
# descriptors are free again it accepts, logs that once, and sessions work.
set -eu
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
command -v prlimit >/dev/null || { echo "SKIP: prlimit missing"; exit 77; }
W=$(mktemp -d /tmp/vakt-it-emfile.XXXXXX)
trap 'cleanup && s=0 || s=$?; [ -n "${KEEP:-}" ] || rm -rf "$W"; exit $s' EXIT

col_port=$(free_port tcp)
write_collector_conf "$W" "$col_port" </dev/null
start_collector "$W" "$col_port"

PYTHONPATH="$(dirname "$0")" python3 - "$col_port" "$PID_collector" "$W/collector.log" <<'EOP' ||
import os, socket, subprocess, sys, time
import wire

port, pid, logf = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]


def log(msg):
    print(time.strftime("%H:%M:%S"), msg, file=sys.stderr, flush=True)


def cpu_s():
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def count(text):
    return sum(text in l for l in open(logf))


def hello(agent):
    s = wire.connect(port)
    s.sendall(wire.frame(wire.hello(site="fd", agent=agent)))
    wire.expect(s, "hello_ack")
    return s


held = [hello("a%d" % i) for i in range(30)]
nfds = len(os.listdir("/proc/%d/fd" % pid))
limit = nfds - 10
log("30 sessions open, the collector has %d descriptors; its limit goes down to %d"
    % (nfds, limit))
soft = [l.split()[3] for l in open("/proc/%d/limits" % pid) if l.startswith("Max open files")][0]
# the soft limit only: raising a hard limit again may need a privilege
subprocess.run(["prlimit", "--pid", str(pid), "--nofile=%d:" % limit], check=True)
waiting = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(5)]
end = time.time() + 10
while count("not accepting") == 0 and time.time() < end:
    time.sleep(0.1)
assert count("not accepting") == 1, "the pause was not logged"
c0 = cpu_s()
time.sleep(4)
used = cpu_s() - c0
log("4 s with connections waiting: %.2f CPU s, %d accept lines logged"
    % (used, count("accept")))
assert used < 1.0, "the collector used %.2f CPU s while it could not accept" % used
assert count("not accepting") == 1 and count("Too many open files") == 1, "logged more than once"

log("the sessions close and the limit is raised: accepting again")
for s in held + waiting:
    s.close()
subprocess.run(["prlimit", "--pid", str(pid), "--nofile=%s:" % soft], check=True)
end = time.time() + 25
while count("accepting again") == 0 and time.time() < end:
    time.sleep(0.2)
assert count("accepting again") == 1, "accepting again was not logged"
s = hello("after")
s.sendall(wire.frame(wire.batch(1, [wire.sample(host="h", check="c")])))
wire.expect(s, "ack")
s.close()
log("PASS")
EOP
	{ cat "$W/collector.log"; fail "see above"; }
kill -0 "$PID_collector" 2>/dev/null || fail "the collector died"
echo "PASS: out of descriptors, the collector pauses accepting, logs once and recovers"
