#!/bin/bash
# test_tcp_send_expect.sh - the tcp probe's send/expect against banner
# services the test runs on loopback: an SMTP greeting that matches ^220, an
# echo service that answers what was sent, a binary greeting with NUL bytes
# before its text, a service that greets wrongly and hangs up, and one that
# never speaks. Each run's outcome reaches the RRD
# file (up, response_time) and a failure pages with what came back.
set -eu
. "$(dirname "$0")/lib.sh"
SLOW=$([ -n "${VAKT_VALGRIND:-}" ] && echo 3 || echo 1)
need_tools python3 rrdtool
W=$(mktemp -d /tmp/vakt-it-tcpexpect.XXXXXX)
trap 'cleanup && s=0 || s=$?; [ -n "${KEEP:-}" ] || rm -rf "$W"; exit $s' EXIT

cat >"$W/banner.py" <<'PY'
# banner.py PORT MODE: one loopback TCP service; MODE smtp greets with 220,
# wrong greets with 554 and closes, echo repeats each line, binary greets with
# NUL and control bytes before "OK ready", silent says nothing.
import socket, sys, threading
port, mode = int(sys.argv[1]), sys.argv[2]
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(16)
def serve(c):
    with c:
        c.settimeout(10)
        try:
            if mode == "smtp":
                c.sendall(b"220 mail.rissa.example ESMTP Vakt-test\r\n")
                c.recv(1024)
            elif mode == "wrong":
                c.sendall(b"554 no\tservice\x1b here\r\n")
            elif mode == "binary":
                c.sendall(b"\x00\x01\x02\x00OK ready\r\n")
                c.recv(1024)
            elif mode == "echo":
                c.sendall(c.recv(1024))
            else:
                c.recv(1024)
        except OSError:
            pass
while True:
    conn, _ = srv.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
PY

col_port=$(free_port tcp)
declare -A port
for m in smtp wrong echo binary silent; do
	port[$m]=$(free_port tcp)
	start "$m" "$W/$m.log" python3 "$W/banner.py" "${port[$m]}" "$m"
done
for m in smtp wrong echo binary silent; do
	wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/${port[$m]}" || fail "$m did not listen"
done
{ pager_channel "$W"; cat <<EOC; } | write_collector_conf "$W" "$col_port"
watch {
  unreachable = 1
}
EOC
cat >"$W/agent.conf" <<EOC
site = "rissa"
insecure = yes
collector "dc1" { address = "127.0.0.1:$col_port" }
probe "smtp" {
  kind = "tcp"
  address = "127.0.0.1:${port[smtp]}"
  host = "mail"
  expect = "^220 "
  send = "QUIT\r\n"
  interval = $SLOW
  timeout = $((800 * SLOW))
}
probe "echo" {
  kind = "tcp"
  address = "127.0.0.1:${port[echo]}"
  host = "echo"
  send = "PING vakt\r\n"
  expect = "^PING vakt"
  interval = $SLOW
  timeout = $((800 * SLOW))
}
probe "binary" {
  kind = "tcp"
  address = "127.0.0.1:${port[binary]}"
  host = "binary"
  expect = "OK ready"
  interval = $SLOW
  timeout = $((800 * SLOW))
}
probe "wrong" {
  kind = "tcp"
  address = "127.0.0.1:${port[wrong]}"
  host = "wrong"
  expect = "^220"
  interval = $SLOW
  timeout = $((800 * SLOW))
}
probe "silent" {
  kind = "tcp"
  address = "127.0.0.1:${port[silent]}"
  host = "silent"
  expect = "^SSH-2\\\\.0-"
  interval = $SLOW
  timeout = 500
}
EOC
"$VAKT_BIN/vakt-agent" --check-config -c "$W/agent.conf" || fail "the agent refused the config"
start_collector "$W" "$col_port"
start agent "$W/agent.log" "$VAKT_BIN/vakt-agent" -f -v -c "$W/agent.conf"

rrd() { echo "$W/rrd/rissa/$1/$2.rrd"; }
last_is() { [ -f "$(rrd "$1" "$2")" ] && [ "$(rrd_last "$(rrd "$1" "$2")" "$3")" = "$4" ]; }

wait_for $((15 * SLOW)) last_is mail smtp up 1 || { show_logs "$W"; fail "smtp never stored as up"; }
wait_for $((10 * SLOW)) last_is echo echo up 1 || { show_logs "$W"; fail "echo never stored as up"; }
wait_for $((10 * SLOW)) last_is binary binary up 1 || { show_logs "$W"; fail "the greeting with NUL bytes before \"OK ready\" never stored as up"; }
rrd_flush "$W"
rt=$(rrd_last "$(rrd mail smtp)" response_time)
awk -v v="$rt" -v hi="$SLOW" 'BEGIN { exit !(v > 0 && v < 0.8 * hi) }' || fail "smtp response_time $rt is not within the timeout"
wait_for $((10 * SLOW)) paged "$W" "firing unreachable rissa wrong wrong | wrong on wrong (site rissa) is unreachable: down: 127.0.0.1:${port[wrong]} answered no match for /^220/ before it closed the connection, got \"554 no\\tservice\\x1b here\\r\\n\"" ||
	{ show_logs "$W"; fail "the wrong greeting's page does not say what came back"; }
wait_for $((10 * SLOW)) paged "$W" "firing unreachable rissa silent silent | silent on silent (site rissa) is unreachable: timeout: no answer matching /^SSH-2\\.0-/ from 127.0.0.1:${port[silent]} within 0.5 s, got nothing" ||
	{ show_logs "$W"; fail "the silent service's page does not say it timed out"; }
wait_for $((5 * SLOW)) last_is wrong wrong outcome 2 || { show_logs "$W"; fail "wrong's outcome (down) is not in its RRD file"; }
wait_for $((5 * SLOW)) last_is silent silent outcome 3 || { show_logs "$W"; fail "silent's outcome (timeout) is not in its RRD file"; }
# it connected: the connect time is known though the answer was wrong
rrd_flush "$W"
ct=$(rrd_last "$(rrd wrong wrong)" connect_time)
awk -v v="$ct" -v hi="$SLOW" 'BEGIN { exit !(v > 0 && v < 0.8 * hi) }' || fail "wrong's connect_time $ct is not a time"
! paged_down "$W" "rissa mail smtp" || { show_logs "$W"; fail "smtp paged while it greeted with 220"; }
! paged_down "$W" "rissa echo echo" || { show_logs "$W"; fail "echo paged while it echoed"; }
! paged_down "$W" "rissa binary binary" || { show_logs "$W"; fail "binary paged while its greeting held OK ready"; }

# a bad regex is a config error naming its line
sed 's/expect = "\^220"/expect = "^(220"/' "$W/agent.conf" >"$W/bad.conf"
if "$VAKT_BIN/vakt-agent" --check-config -c "$W/bad.conf" 2>"$W/bad.err"; then fail "a bad regex was accepted"; fi
grep -q "bad.conf:[0-9]*: probe \"wrong\": expect \"^(220\" is not an extended regex" "$W/bad.err" ||
	{ cat "$W/bad.err"; fail "the bad regex's error does not name file:line and the regex"; }
echo "PASS: send/expect matched, a wrong greeting and silence paged with what came back"
