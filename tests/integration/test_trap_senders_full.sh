#!/bin/bash
# test_trap_senders_full.sh - a trap listener of `senders = 65536` with its
# table full still holds each sender to its own rate (1/s) and burst (100):
# 127.1.0.0 spends its burst, 65535 more addresses send one packet each and
# fill the table; 1000 more share one bucket (127.1.0.0, quiet longest, has
# not earned its burst back, so none is forgotten), and the full table is
# said once; then two of the table's senders get their own burst through,
# so each is still found in the table, and 127.1.0.0 only what it earned
# back since. The packets are
# garbage, so none is decoded as a trap: each let through counts as refused
# (unreadable), each over the rate as dropped, in the listener's RRD file.
set -eu
. "$(dirname "$0")/lib.sh"
SLOW=$([ -n "${VAKT_VALGRIND:-}" ] && echo 3 || echo 1)
need_tools python3 rrdtool
W=$(mktemp -d /tmp/vakt-it-trapfull.XXXXXX)
trap 'cleanup && s=0 || s=$?; [ -n "${KEEP:-}" ] || rm -rf "$W"; exit $s' EXIT

trap_port=$(free_port udp)
col_port=$(free_port tcp)
write_collector_conf "$W" "$col_port" </dev/null
cat >"$W/agent.conf" <<EOC
site = "rissa"
insecure = yes
collector "dc1" { address = "127.0.0.1:$col_port" }
probe "bigtraps" {
  kind = "trap"
  address = "127.0.0.1:$trap_port"
  host = "agent1"
  hosts = {"127.0.0.0/8"}
  rate = 1
  burst = 100
  senders = 65536
  interval = 1
  timeout = 500
}
EOC
start_collector "$W" "$col_port"
start agent "$W/agent.log" "$VAKT_BIN/vakt-agent" -f -v -c "$W/agent.conf"
log_has "$W/agent.log" "trap listener \"bigtraps\": listening on UDP 127.0.0.1:$trap_port"
t0=$(date +%s)

rrd=""
find_rrd() { rrd=$(find "$W/rrd/rissa" -name bigtraps.rrd | head -n 1); [ -n "$rrd" ]; }
wait_for $((10 * SLOW)) find_rrd || { find "$W/rrd"; fail "no file for the bigtraps listener"; }
# counts DS: refused (let through, unreadable) or dropped (over the rate), as stored
counts() { rrd_flush "$W"; echo "$(rrd_last "$rrd" refused) $(rrd_last "$rrd" dropped)"; }
# settled N: the file holds N packets in all (refused + dropped)
settled() { set -- $(counts) "$1"; [ $(($1 + $2)) -ge "$3" ]; }

# send FIRST COUNT REPEAT: one socket per address 127.1.0.0 + FIRST.. + COUNT-1,
# each sending REPEAT packets, paced so that the listener's socket overflows not
send() {
	python3 - "$trap_port" "$@" <<'EOP'
import socket, sys, time
port, first, count, repeat = (int(a) for a in sys.argv[1:])
t0 = time.monotonic()
for n, i in enumerate(range(first, first + count)):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('127.%d.%d.%d' % (1 + (i >> 16), (i >> 8) & 255, i & 255), 0))
    for _ in range(repeat):
        s.sendto(b'not a trap', ('127.0.0.1', port))
    s.close()
    if n % 20 == 19 or repeat > 1:
        time.sleep(0.002)
    if time.monotonic() - t0 > 120:
        sys.exit("sending took over 120 s")
EOP
}

# through N: the packets the file holds let through since the last call (in $got)
last_r=0 last_d=0 got=0
through() {
	wait_for $((30 * SLOW)) settled $((last_r + last_d + $1)) ||
		{ counts; fail "the $1 packets sent were not all counted"; }
	read -r r d <<<"$(counts)"
	got=$((r - last_r))
	last_r=$r last_d=$d
}
through 0

log "127.1.0.0 sends 150 packets at once: its burst of 100 is let through"
send 0 1 150
through 150
bound=$((100 + $(date +%s) - t0 + 1))
[ "$got" -ge 100 ] && [ "$got" -le "$bound" ] || fail "127.1.0.0 got $got of 150 packets through, not 100..$bound"

log "65535 addresses more, one packet each: the table fills, 127.1.0.0 its sender quiet longest"
cpu0=$(awk '{print $14 + $15}' "/proc/$PID_agent/stat")
send 1 65535 1
through 65535
cpu1=$(awk '{print $14 + $15}' "/proc/$PID_agent/stat")
[ "$got" = 65535 ] || fail "of 65535 packets from as many addresses, $got were let through, not all"
log "the agent spent $((cpu1 - cpu0)) clock ticks of CPU on them"
[ "$(grep -c "table of 65536 senders is full" "$W/agent.log")" = 0 ] || fail "the table was said full too early"

log "1000 addresses past the table, one packet each: they share one sender's burst"
send 65536 1000 1
through 1000
bound=$((100 + $(date +%s) - t0 + 1))
log "senders past the table: $got of 1000 let through (100..$bound)"
[ "$got" -ge 100 ] && [ "$got" -le "$bound" ] || fail "senders past the table got $got of 1000 packets through, not 100..$bound"
log_has "$W/agent.log" "trap listener \"bigtraps\" (127.0.0.1:$trap_port): table of 65536 senders is full: senders past it (127.2.0.0:"
[ "$(grep -c "table of 65536 senders is full" "$W/agent.log")" = 1 ] || fail "the full table was not said exactly once"

# each is found in the full table: its own bucket (the shared one is empty)
for i in 32768 65535; do
	send "$i" 1 150
	through 150
	bound=$((100 + $(date +%s) - t0 + 1))
	log "sender $i of the full table: $got of 150 let through (99..$bound)"
	[ "$got" -ge 99 ] && [ "$got" -le "$bound" ] ||
		fail "sender $i of the full table got $got of 150 packets through, not 99..$bound"
done
log "127.1.0.0 again: only what it earned back since its burst, at 1 a second"
send 0 1 150
through 150
bound=$(($(date +%s) - t0 + 1))
log "127.1.0.0: $got of 150 let through (at most $bound)"
[ "$got" -le "$bound" ] || fail "127.1.0.0 got $got of 150 packets through, more than the $bound it earned back"
kill -0 "$PID_agent" 2>/dev/null || fail "the agent died"
echo "PASS: a full table of 65536 trap senders holds each to its own rate and burst; newcomers share one"
