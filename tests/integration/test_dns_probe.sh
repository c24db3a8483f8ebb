#!/bin/bash
# test_dns_probe.sh - the dns probe against an unbound the test runs on
# loopback with a test zone (kommune.no): a right answer with its response
# time and answer count in the RRD file, MX and PTR answers matched by
# regex, NXDOMAIN, an answer that does not match, a TXT answer too big for
# UDP that is asked again over TCP, a server that never answers (a UDP
# socket that reads and says nothing) and one whose UDP answers run past 512
# bytes without the TC flag each reported as they are.
set -eu
. "$(dirname "$0")/lib.sh"
SLOW=$([ -n "${VAKT_VALGRIND:-}" ] && echo 3 || echo 1)
need_tools unbound python3 rrdtool
W=$(mktemp -d /tmp/vakt-it-dns.XXXXXX)
trap 'cleanup && s=0 || s=$?; [ -n "${KEEP:-}" ] || rm -rf "$W"; exit $s' EXIT

dns_port=$(free_port udp)
mute_port=$(free_port udp)
huge_port=$(free_port udp)
col_port=$(free_port tcp)
big=$(printf 'x%.0s' $(seq 1 200))
cat >"$W/unbound.conf" <<EOC
server:
  interface: 127.0.0.1
  port: $dns_port
  do-daemonize: no
  chroot: ""
  username: ""
  directory: "$W"
  pidfile: "$W/unbound.pid"
  use-syslog: no
  logfile: ""
  verbosity: 1
  access-control: 127.0.0.0/8 allow
  module-config: "iterator"
  do-not-query-localhost: yes
  local-zone: "kommune.no." static
  local-data: "kommune.no. 300 IN SOA ns1.kommune.no. hostmaster.kommune.no. 2026120201 3600 600 86400 300"
  local-data: "www.kommune.no. 300 IN A 10.20.0.80"
  local-data: "www.kommune.no. 300 IN A 10.20.0.81"
  local-data: "kommune.no. 300 IN MX 10 mx1.kommune.no."
  local-data: "kommune.no. 300 IN MX 20 mx2.kommune.no."
  local-data: 'big.kommune.no. 300 IN TXT "$big" "$big" "$big"'
  local-zone: "0.20.10.in-addr.arpa." static
  local-data-ptr: "10.20.0.80 www.kommune.no."
remote-control:
  control-enable: no
EOC
unbound-checkconf "$W/unbound.conf" >/dev/null || fail "unbound-checkconf refused the test's config"
start unbound "$W/unbound.log" unbound -d -c "$W/unbound.conf"
# the silent server: takes every query and never answers
start mute "$W/mute.log" python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('127.0.0.1', $mute_port))
while True:
    s.recvfrom(2048)
"
# the oversized server: 250 A records (4 kB) in one datagram to a query without EDNS, no TC
start huge "$W/huge.log" python3 -c "
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('127.0.0.1', $huge_port))
rr = bytes.fromhex('c00c000100010000003c00040a140050')
while True:
    q, a = s.recvfrom(2048)
    s.sendto(q[:2] + bytes.fromhex('81800001') + struct.pack('>H', 250) + bytes(4) + q[12:] + rr * 250, a)
"
wait_for 10 bash -c "dig +short +time=1 +tries=1 -p $dns_port @127.0.0.1 www.kommune.no | grep -q 10.20.0.80" 2>/dev/null ||
	python3 - "$dns_port" <<'PY' || { cat "$W/unbound.log"; fail "unbound did not answer"; }
import socket, sys, time
q = bytes.fromhex("12340100000100000000000003777777076b6f6d6d756e65026e6f0000010001")
for _ in range(50):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.2)
    try:
        s.sendto(q, ("127.0.0.1", int(sys.argv[1]))); s.recv(512); sys.exit(0)
    except OSError:
        time.sleep(0.2)
sys.exit(1)
PY
{ pager_channel "$W"; cat <<EOC; } | write_collector_conf "$W" "$col_port"
watch {
  unreachable = 1
}
EOC
probe() { # NAME QUERY TYPE [KEY = VALUE ...]: a dns probe of unbound, host "ns"
	name=$1 query=$2 type=$3
	shift 3
	printf 'probe "%s" {\n  kind = "dns"\n  address = "127.0.0.1:%s"\n  host = "ns"\n  query = "%s"\n  type = "%s"\n  interval = %s\n  timeout = %s\n' \
		"$name" "$dns_port" "$query" "$type" "$SLOW" "$((800 * SLOW))"
	for kv in "$@"; do printf '  %s\n' "$kv"; done
	printf '}\n'
}
{
	cat <<EOC
site = "rissa"
insecure = yes
collector "dc1" { address = "127.0.0.1:$col_port" }
EOC
	probe www www.kommune.no A 'expect = "^10\\.20\\.0\\.8[01]$"'
	probe mx kommune.no MX 'expect = "^10 mx1\\.kommune\\.no\\.$"'
	probe ptr 10.20.0.80 PTR 'expect = "^www\\.kommune\\.no\\.$"'
	probe soa kommune.no soa 'expect = "^ns1\\.kommune\\.no\\. hostmaster"'
	probe gone gone.kommune.no A
	probe gone-ok gone.kommune.no A 'rcode = "NXDOMAIN"'
	probe moved www.kommune.no A 'expect = "^10\\.99\\."'
	probe big big.kommune.no TXT 'expect = "^x{200} x{50}"'
	cat <<EOC
probe "mute" {
  kind = "dns"
  address = "127.0.0.1:$mute_port"
  query = "www.kommune.no"
  interval = $SLOW
  timeout = 700
}
probe "huge" {
  kind = "dns"
  address = "127.0.0.1:$huge_port"
  query = "www.kommune.no"
  interval = $SLOW
  timeout = $((800 * SLOW))
}
EOC
} >"$W/agent.conf"
"$VAKT_BIN/vakt-agent" --check-config -c "$W/agent.conf" || fail "the agent refused the config"
start_collector "$W" "$col_port"
start agent "$W/agent.log" "$VAKT_BIN/vakt-agent" -f -v -c "$W/agent.conf"

rrd() { echo "$W/rrd/rissa/$1/$2.rrd"; }
last_is() { [ -f "$(rrd "$1" "$2")" ] && [ "$(rrd_last "$(rrd "$1" "$2")" "$3")" = "$4" ]; }

for p in www mx ptr soa gone-ok big; do
	wait_for $((15 * SLOW)) last_is ns "$p" up 1 || { show_logs "$W"; fail "$p never stored as up"; }
done
rrd_flush "$W"
[ "$(rrd_last "$(rrd ns www)" answers)" = 2 ] || fail "www.kommune.no A: $(rrd_last "$(rrd ns www)" answers) answers stored, expected 2"
rt=$(rrd_last "$(rrd ns www)" response_time)
awk -v v="$rt" -v hi="$SLOW" 'BEGIN { exit !(v > 0 && v < 0.8 * hi) }' || fail "response_time $rt is not within the timeout"
[ "$(rrd_last "$(rrd ns big)" answers)" = 1 ] || fail "the TXT asked over TCP did not store its answer"
wait_for $((10 * SLOW)) paged "$W" "firing unreachable rissa ns gone | gone on ns (site rissa) is unreachable: down: NXDOMAIN for gone.kommune.no A from 127.0.0.1:$dns_port" ||
	{ show_logs "$W"; fail "NXDOMAIN did not page with its reason"; }
wait_for $((10 * SLOW)) paged "$W" "firing unreachable rissa ns moved | moved on ns (site rissa) is unreachable: down: no answer for www.kommune.no A from 127.0.0.1:$dns_port matches /^10\\.99\\./: got 10.20.0.8" ||
	{ show_logs "$W"; fail "a wrong answer did not page with what came back"; }
wait_for $((10 * SLOW)) paged "$W" "firing unreachable rissa 127.0.0.1 mute | mute on 127.0.0.1 (site rissa) is unreachable: timeout: no answer from 127.0.0.1:$mute_port within 0.7 s" ||
	{ show_logs "$W"; fail "the silent server did not page a timeout"; }
wait_for $((10 * SLOW)) paged "$W" "firing unreachable rissa 127.0.0.1 huge | huge on 127.0.0.1 (site rissa) is unreachable: down: 127.0.0.1:$huge_port answered www.kommune.no A with 4032 bytes over UDP, more than the 512 a query without EDNS allows, without marking it truncated" ||
	{ show_logs "$W"; fail "an oversized UDP answer did not page what it was"; }
wait_for $((5 * SLOW)) last_is ns gone outcome 2 || { show_logs "$W"; fail "NXDOMAIN's outcome (down) is not in its RRD file"; }
wait_for $((5 * SLOW)) last_is 127.0.0.1 mute outcome 3 || { show_logs "$W"; fail "the timeout's outcome is not in its RRD file"; }
! paged_down "$W" "rissa ns gone-ok" || { show_logs "$W"; fail "gone-ok paged though NXDOMAIN was expected"; }
for p in www mx ptr soa big; do
	! paged_down "$W" "rissa ns $p" || { show_logs "$W"; fail "$p paged while unbound answered it rightly"; }
done

# bad keys are config errors naming file:line
printf 'site = "x"\ninsecure = yes\ncollector "c" { address = "127.0.0.1:1" }\nprobe "d" {\n  kind = "dns"\n  address = "127.0.0.1"\n  query = "a..b"\n  type = "AXFR"\n}\n' >"$W/bad.conf"
if "$VAKT_BIN/vakt-agent" --check-config -c "$W/bad.conf" 2>"$W/bad.err"; then fail "a bad dns probe was accepted"; fi
grep -q 'bad.conf:[0-9]*: probe "d": type must be A, AAAA, MX, SOA, PTR, TXT, CNAME, NS or SRV, got "AXFR"' "$W/bad.err" ||
	{ cat "$W/bad.err"; fail "the bad type's error does not name file:line"; }
echo "PASS: right answers, NXDOMAIN, a wrong answer, TCP after truncation, a silent server and an oversized UDP answer each reported"
