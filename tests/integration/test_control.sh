#!/bin/bash
# test_control.sh - the control socket under slow clients: 20 clients of one
# user that trickle bytes get 4 slots, the rest are refused with a reason;
# an operator's vaktctl status still answers; each slow client is closed at
# its whole-request deadline (5 s) however it trickles; refusals, also of
# clients gone before they could be told why, are logged once; a refused or
# unreachable vaktctl says why and exits 1, not by a signal.
set -eu
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to run clients as another user"; exit 77; }
id nobody >/dev/null 2>&1 || { echo "SKIP: no user nobody"; exit 77; }
W=$(mktemp -d /tmp/vakt-it-control.XXXXXX)
trap 'cleanup && s=0 || s=$?; rm -rf "$W"; exit $s' EXIT
NOBODY=$(id -u nobody)

col_port=$(free_port tcp)
write_collector_conf "$W" "$col_port" </dev/null
start_collector "$W" "$col_port"
SOCK=$W/collector.sock
wait_for 10 test -S "$SOCK" || fail "no control socket at $SOCK"
# let another user reach the socket (it is owner and group only)
chmod 755 "$W"
chmod 666 "$SOCK"

# 20 slow clients as nobody, each sending a byte every 0.3 s and never a newline;
# prints "accepted N refused M", then for each accepted one the seconds to its close.
python3 - "$SOCK" "$NOBODY" >"$W/slow.out" 2>&1 <<'PY' &
import os, socket, sys, time
path, uid = sys.argv[1], int(sys.argv[2])
os.setgid(uid); os.setuid(uid)
socks, t0 = [], time.monotonic()
for _ in range(20):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    socks.append(s)
time.sleep(0.3)
refused, accepted, closed = 0, [], {}
for s in socks:
    s.setblocking(False)
    try:
        data = s.recv(256)
    except BlockingIOError:
        accepted.append(s)
        continue
    if data.startswith(b"refused: too many control clients of this user"):
        refused += 1
print("accepted %d refused %d" % (len(accepted), refused), flush=True)
while len(closed) < len(accepted) and time.monotonic() - t0 < 15:
    for s in accepted:
        if s in closed:
            continue
        try:
            s.send(b"s")
            if s.recv(256) == b"":
                closed[s] = time.monotonic() - t0
        except BlockingIOError:
            pass
        except OSError:
            closed[s] = time.monotonic() - t0
    time.sleep(0.3)
for s in accepted:
    print("closed after %.1f" % closed.get(s, 99))
PY
slow=$!
wait_for 5 grep -q accepted "$W/slow.out" || fail "slow clients did not start: $(cat "$W/slow.out")"
[ "$(head -n 1 "$W/slow.out")" = "accepted 4 refused 16" ] ||
	fail "expected 4 slots for one user: $(cat "$W/slow.out")"

# the operator (another user) is not locked out
out=$("$VAKT_BIN/vaktctl" -s "$SOCK" status) || fail "vaktctl status failed while slow clients wait: $out"
case "$out" in "vakt-collector "*) ;; *) fail "unexpected status: $out" ;; esac

# the slow user's own vaktctl is refused, says why and exits 1 (a copy in
# $W: the build tree may sit under a home directory nobody cannot enter)
install -m 755 "$VAKT_BIN/vaktctl" "$W/vaktctl"
set +e
out=$(python3 -c 'import os, sys; os.setgid(int(sys.argv[1])); os.setuid(int(sys.argv[1])); os.execv(sys.argv[2], sys.argv[2:])' \
	"$NOBODY" "$W/vaktctl" -s "$SOCK" status 2>&1)
rc=$?
set -e
[ "$rc" = 1 ] || fail "refused vaktctl exits $rc, expected 1"
[ "$out" = "vaktctl: collector closed the connection: too many control clients of this user" ] ||
	fail "refused vaktctl says: $out"

# 300 more clients of the slow user that leave before they are refused: that
# they cannot be told why is not a line each, even under -v
python3 - "$SOCK" "$NOBODY" <<'PY' || fail "leaving clients: see above"
import os, socket, sys
path, uid = sys.argv[1], int(sys.argv[2])
os.setgid(uid); os.setuid(uid)
for _ in range(300):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.close()
PY

# every slow client is closed at its deadline, however it trickles
wait "$slow" || fail "slow clients: $(cat "$W/slow.out")"
n=0
while read -r _ _ t; do
	awk -v t="$t" 'BEGIN { exit !(t >= 4.5 && t <= 7) }' || fail "a slow client closed after $t s, expected ~5 s"
	n=$((n + 1))
done < <(grep '^closed after' "$W/slow.out")
[ "$n" = 4 ] || fail "expected 4 closed slow clients: $(cat "$W/slow.out")"

# 317 refusals, 4 deadlines: each logged once (rate-limited), not once per client
[ "$(grep -c "could not tell\|cannot tell" "$W/collector.log")" -le 1 ] ||
	fail "refused clients that left are logged each: $(grep -c tell "$W/collector.log") lines"
[ "$(grep -c "control: refused a client of uid $NOBODY: too many control clients of this user" "$W/collector.log")" = 1 ] ||
	fail "refusals not logged exactly once: $(grep control: "$W/collector.log")"
[ "$(grep -c "control: closed a client of uid $NOBODY: no complete request and answer within 5 s" "$W/collector.log")" = 1 ] ||
	fail "deadlines not logged exactly once: $(grep control: "$W/collector.log")"

# with nobody listening on the socket, vaktctl says so
stop collector
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$SOCK"
set +e
out=$("$VAKT_BIN/vaktctl" -s "$SOCK" status 2>&1)
rc=$?
set -e
[ "$rc" = 1 ] || fail "vaktctl without a collector exits $rc, expected 1"
[ "$out" = "vaktctl: cannot connect to $SOCK: Connection refused (is vakt-collector running, with this control_socket?)" ] || fail "vaktctl says: $out"
echo "PASS: slow control clients lock nobody out; refusals say why"
