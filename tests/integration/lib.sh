# lib.sh - shared helpers for Vakt's integration tests and the demo.
# Everything runs on 127.0.0.1; every wait is bounded; cleanup() stops what
# was started, whatever way the script ends.

VAKT_BIN=${VAKT_BIN:-build/bin}
PIDS=""

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }

# need_tools TOOL...: skips the test (exit 77) when one is not installed.
need_tools() {
	for t in "$@"; do
		command -v "$t" >/dev/null || [ -x "/usr/sbin/$t" ] || { echo "SKIP: $t missing"; exit 77; }
	done
}

# free_port [udp|tcp] [preferred]: prints a port no socket holds (listening or
# connected), below the kernel's ephemeral range (32768 up) so that a client's
# connection does not take it between this check and the bind. ctest runs
# tests side by side: each script (and apart from it its valgrind run) takes
# its ports from a block of 64 of its own, by its place among the test
# scripts, one after another (PORT_NEXT, a file: free_port runs in a
# subshell), so that no two picks of running tests are the same port.
port_block() {
	local i=0 f
	[ -z "${VAKT_VALGRIND:-}" ] || i=1
	for f in "$(dirname "${BASH_SOURCE[0]}")"/test_*.sh; do
		if [ "${f##*/}" = "${0##*/}" ]; then
			[ $(( 20000 + i * 64 + 64 )) -gt 32000 ] || echo $(( 20000 + i * 64 ))
			return
		fi
		i=$((i + 2))
	done
}
PORT_BLOCK=$(port_block)
PORT_NEXT=/tmp/vakt-port-next.$$
free_port() {
	proto=${1:-tcp}
	flag=-tan
	[ "$proto" = udp ] && flag=-uan
	port=${2:-}
	if [ -n "$port" ] && ! ss -H $flag "sport = :$port" | grep -q .; then
		echo "$port"
		return
	fi
	if [ -n "$PORT_BLOCK" ]; then
		n=$(cat "$PORT_NEXT" 2>/dev/null || echo $(( $(od -An -N2 -tu2 /dev/urandom) % 64 )))
		for i in $(seq 0 63); do
			port=$(( PORT_BLOCK + (n + i) % 64 ))
			if ! ss -H $flag "sport = :$port" | grep -q .; then
				echo $(( n + i + 1 )) >"$PORT_NEXT"
				echo "$port"
				return
			fi
		done
		fail "no free $proto port in $PORT_BLOCK..$((PORT_BLOCK + 63))"
	fi
	# not a test script (the demo): anywhere in 20000..31999
	for _ in $(seq 1 200); do
		port=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom) % 12000 ))
		if ! ss -H $flag "sport = :$port" | grep -q .; then
			echo "$port"
			return
		fi
	done
	fail "no free $proto port"
}

# With VAKT_VALGRIND=1 every Vakt binary runs under valgrind's memcheck; an
# error or a definite leak in any of them fails the test at cleanup.
# tests/valgrind.supp names the errors of Debian's libraries it ignores.
VG_DIR=""
VG_SUPP="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/valgrind.supp"
if [ -n "${VAKT_VALGRIND:-}" ]; then
	VG_DIR=$(mktemp -d /tmp/vakt-valgrind.XXXXXX)
fi

# start NAME LOGFILE CMD...: runs CMD in the background, remembers its pid.
start() {
	name=$1 logf=$2
	shift 2
	case "$1" in
	*/vakt-*)
		if [ -n "$VG_DIR" ]; then
			set -- valgrind -q --leak-check=full --errors-for-leak-kinds=definite \
				--show-leak-kinds=definite --suppressions="$VG_SUPP" \
				--log-file="$VG_DIR/$name.%p.log" "$@"
		fi
		;;
	esac
	"$@" >"$logf" 2>&1 &
	pid=$!
	PIDS="$pid $PIDS"
	eval "PID_$name=$pid"
	log "started $name (pid $pid): $*"
}

# stop NAME: SIGTERM, then SIGKILL after 5 s (15 s under valgrind).
stop() {
	eval "pid=\${PID_$1:-}"
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 1 $([ -n "$VG_DIR" ] && echo 150 || echo 50)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	eval "PID_$1="
}

cleanup() {
	rc=$?
	for pid in $PIDS; do
		kill "$pid" 2>/dev/null || true
	done
	# give them time to exit on their own (valgrind writes its report at exit)
	for _ in $(seq 1 $([ -n "$VG_DIR" ] && echo 150 || echo 10)); do
		alive=0
		for pid in $PIDS; do
			kill -0 "$pid" 2>/dev/null && alive=1
		done
		[ "$alive" = 0 ] && break
		sleep 0.1
	done
	for pid in $PIDS; do
		kill -9 "$pid" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	PIDS=""
	rm -f "$PORT_NEXT"
	if [ -n "$VG_DIR" ]; then
		if [ -n "$(find "$VG_DIR" -type f -size +0)" ]; then
			cat "$VG_DIR"/*
			log "FAIL: valgrind reported errors or leaks (above)"
			rc=1
		elif [ "$rc" = 0 ]; then
			log "valgrind: no errors, no definite leaks in $(ls "$VG_DIR" | wc -l) processes"
		fi
		rm -rf "$VG_DIR"
	fi
	return $rc
}

# wait_for SECONDS CMD...: retries CMD every 0.2 s until it succeeds or time runs out.
wait_for() {
	limit=$1
	shift
	n=$(( limit * 5 ))
	while [ "$n" -gt 0 ]; do
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.2
		n=$(( n - 1 ))
	done
	return 1
}

# write_snmpd_conf FILE PORT COMMUNITY: a loopback-only snmpd for tests and the demo.
write_snmpd_conf() {
	cat >"$1" <<EOC
agentAddress udp:127.0.0.1:$2
rocommunity $3 127.0.0.1
sysLocation Vakt test bench
sysContact vakt@localhost
sysName vakt-test-device
EOC
}

# start_snmpd DIR PORT COMMUNITY [LINES]: starts snmpd in the foreground of a
# background job; LINES (createUser, rouser...) are added to its config, and
# its state (v3 users, engine boots) is kept in DIR/snmpd-state.
start_snmpd() {
	write_snmpd_conf "$1/snmpd.conf" "$2" "$3"
	[ -z "${4:-}" ] || printf '%s\n' "$4" >>"$1/snmpd.conf"
	mkdir -p "$1/snmpd-state"
	# -C: only our config, -Lo: log to stdout; MIBS= keeps it from loading MIB files
	# (the address is in the config only: given twice, snmpd fails to bind)
	SNMP_PERSISTENT_DIR="$1/snmpd-state" MIBS= start snmpd "$1/snmpd.log" /usr/sbin/snmpd \
		-f -Lo -C -c "$1/snmpd.conf" -p "$1/snmpd.pid"
	wait_for 10 snmpget -v2c -c "$3" -t 1 -r 0 -On "127.0.0.1:$2" 1.3.6.1.2.1.1.3.0 ||
		fail "snmpd did not answer on 127.0.0.1:$2 (see $1/snmpd.log)"
}

# start_snmpsim DIR PORT COMMUNITY: snmpsimd on 127.0.0.1:PORT serving the
# recordings in DIR/sim (community = file stem), until it answers COMMUNITY.
start_snmpsim() {
	local user=()
	mkdir -p "$1/sim" "$1/simcache"
	# snmpsimd drops to an unprivileged user, who must read the data and write the cache
	chmod 755 "$1" "$1/sim"
	chmod 777 "$1/simcache"
	[ "$(id -u)" = 0 ] && user=(--process-user=nobody --process-group=nogroup)
	# a large --max-varbinds: with the default 64 a big GETBULK can make snmpsimd spin
	start snmpsim "$1/snmpsim.log" snmpsimd --data-dir="$1/sim" --cache-dir="$1/simcache" \
		--agent-udpv4-endpoint="127.0.0.1:$2" --v2c-arch --max-varbinds=65535 \
		--logging-method=null "${user[@]}"
	wait_for 30 snmpget -v2c -c "$3" -t 1 -r 0 "127.0.0.1:$2" 1.3.6.1.2.1.1.3.0 ||
		{ cat "$1/snmpsim.log"; fail "snmpsimd did not answer on 127.0.0.1:$2"; }
}

# start_tcp_service NAME DIR PORT: a small HTTP service to probe.
start_tcp_service() {
	mkdir -p "$2/www"
	echo "Vakt demo service" >"$2/www/index.html"
	start "$1" "$2/$1.log" python3 -m http.server --bind 127.0.0.1 --directory "$2/www" "$3"
	wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$3" || fail "$1 did not listen on $3"
}

# test_archives: the archives line of a test collector: an hour of seconds and
# a day of minutes (120 kB a data source, where the default's two days of
# seconds take 4 MB) hold whatever a test reads; with ARCHIVES=default none,
# for a test that wants the default's big files.
test_archives() {
	[ "${ARCHIVES:-}" = default ] || echo 'archives = {"1s:1h", "1m:1d"}'
}

# write_collector_conf DIR PORT: a test collector's config on 127.0.0.1:PORT with
# RRD step 1 s and test_archives, files under DIR, in plaintext (insecure = yes;
# test_tls.sh covers TLS); more config (channels, rules) comes on stdin. Its write-back
# cache holds a value CACHE_FLUSH_AGE seconds at most (default 1, so that
# polling readers see files fill; rrd_flush makes them current at once).
write_collector_conf() {
	{
		cat <<EOC
listen = {"127.0.0.1:$2"}
data_dir = "$1/rrd"
step = 1
$(test_archives)
control_socket = "$1/collector.sock"
insecure = yes
cache_flush_age = ${CACHE_FLUSH_AGE:-1}
EOC
		cat
	} >"$1/collector.conf"
}

# sanitized: true when the Vakt binaries are built with AddressSanitizer, whose
# shadow memory and quarantine of freed blocks make RSS say little of Vakt's own use.
sanitized() {
	ldd "$VAKT_BIN/vakt-collector" 2>/dev/null | grep -q libasan
}

# pager_channel DIR: prints a collector "oncall" exec channel that appends one
# line per notification to DIR/pages.log:
# "STATE RULE SITE HOST CHECK | SUMMARY".
pager_channel() {
	cat >"$1/page.sh" <<'EOS'
#!/bin/sh
# printf, not dash's echo, which would turn a summary's \t or \n into the character
printf '%s\n' "$VAKT_STATE $VAKT_RULE $VAKT_SITE $VAKT_HOST $VAKT_CHECK | $VAKT_SUMMARY" >>"$PAGES"
EOS
	chmod +x "$1/page.sh"
	cat <<EOC
channel "oncall" {
  kind = "exec"
  command = "PAGES=$1/pages.log $1/page.sh"
  timeout = 10
}
EOC
}

# start_collector DIR PORT [LOG]: runs vakt-collector on DIR/collector.conf and
# waits until it accepts connections.
start_collector() {
	start collector "${3:-$1/collector.log}" "$VAKT_BIN/vakt-collector" -f -v -c "$1/collector.conf"
	wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$2" ||
		{ cat "${3:-$1/collector.log}"; fail "the collector did not listen on $2"; }
}

# start_web_probe DIR SITE COL_PORT WEB_PORT: the set-up most end-to-end tests
# share: a TCP service on WEB_PORT, the collector of DIR/collector.conf on
# COL_PORT, and an agent of site SITE probing the service every second. With
# AGENT_SPOOL set, the agent spools there (spool_dir, line 4 of its config).
start_web_probe() {
	cat >"$1/agent.conf" <<EOC
site = "$2"
insecure = yes
collector "dc1" { address = "127.0.0.1:$3" }
${AGENT_SPOOL:+spool_dir = \"$AGENT_SPOOL\"}
probe "web" {
  kind = "tcp"
  address = "127.0.0.1:$4"
  interval = 1
  timeout = 500
}
EOC
	start_tcp_service web "$1" "$4"
	start_collector "$1" "$3"
	start agent "$1/agent.log" "$VAKT_BIN/vakt-agent" -f -c "$1/agent.conf"
}

# forty_probes_conf DIR COL_PORT WEB_PORT: DIR/agent.conf of site "frosta"
# probing the service on WEB_PORT with 40 probes every second, batched every
# 3 s: batches of some 5 kB, more than a collector's max_frame of 4096. More
# config (spool_dir) comes on stdin.
forty_probes_conf() {
	{
		cat <<EOC
site = "frosta"
insecure = yes
batch_ms = 3000
collector "dc1" { address = "127.0.0.1:$2" }
EOC
		cat
		for i in $(seq 1 40); do
			cat <<EOC
probe "web$i" {
  kind = "tcp"
  address = "127.0.0.1:$3"
  interval = 1
  timeout = 500
}
EOC
		done
	} >"$1/agent.conf"
}

# forty_probes_up DIR: every probe of forty_probes_conf has up = 1 in DIR's files.
forty_probes_up() {
	rrd_flush "$1"
	for i in $(seq 1 40); do
		[ "$(rrd_last "$1/rrd/frosta/127.0.0.1/web$i.rrd" up 2>/dev/null)" = 1 ] || return 1
	done
}

# rrd_flush DIR [FILE]: has the collector of DIR/collector.sock write its cached
# values of FILE (of every file without one), so that rrdtool reads them now.
rrd_flush() {
	"$VAKT_BIN/vaktctl" -s "$1/collector.sock" flush ${2:---all} >/dev/null ||
		fail "vaktctl flush ${2:---all} failed"
}

# rrd_last FILE DS: the last raw value rrdtool holds for DS.
rrd_last() {
	rrdtool lastupdate "$1" | awk -v ds="$2" '
		NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
		/:/ { if (ds in col) v = $(col[ds] + 1) }
		END { if (v == "") exit 1; print v }'
}

# wire_client PORT SCRIPT: runs python SCRIPT with tests/integration/wire.py
# imported as `wire` and PORT set, for a test that speaks the protocol itself.
wire_client() {
	WIRE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")" && pwd) python3 - "$1" "$2" <<'PY'
import os, sys
sys.path.insert(0, os.environ["WIRE_DIR"])
import wire
PORT = int(sys.argv[1])
exec(sys.argv[2])
PY
}

# paged DIR TEXT: DIR/pages.log (pager_channel's) holds TEXT, a fixed string.
paged() { [ -f "$1/pages.log" ] && grep -qF -- "$2" "$1/pages.log"; }

# paged_down DIR "SITE HOST CHECK": a page says a run of the check was down
# or an error (an answer misjudged); a timeout page, which a stalled machine
# may cause, does not count.
paged_down() {
	[ -f "$1/pages.log" ] && grep -F "firing unreachable $2 | " "$1/pages.log" |
		grep -qE "is unreachable: (down|error): "
}

# show_logs DIR: what a failing probe test prints: the pages and the ends of
# the agent's and the collector's logs in DIR.
show_logs() {
	cat "$1/pages.log" 2>/dev/null || true
	tail -n 30 "$1/agent.log" "$1/collector.log" || true
}

# log_has FILE TEXT: FILE holds TEXT (a fixed string) within 5 s, else the test
# fails; within 30 s under valgrind, where a daemon beside other tests took 8 s
# to print its first line.
log_has() {
	wait_for "$([ -n "${VAKT_VALGRIND:-}" ] && echo 30 || echo 5)" grep -qF -- "$2" "$1" ||
		{ cat "$1"; fail "$1 lacks: $2"; }
}

# wan_netns NAME: a second network namespace NAME (the datacenter's) joined to
# the test's own (the agent's, made with unshare) by a veth pair: wan0
# 10.77.0.1 here, wan1 10.77.0.2 in NAME. The caller deletes NAME in its trap.
wan_netns() {
	ip netns add "$1" || { echo "SKIP: ip netns add failed"; exit 77; }
	ip link add wan0 type veth peer name wan1
	ip link set wan1 netns "$1"
	ip addr add 10.77.0.1/30 dev wan0
	ip link set wan0 up
	ip netns exec "$1" ip link set lo up
	ip netns exec "$1" ip addr add 10.77.0.2/30 dev wan1
	ip netns exec "$1" ip link set wan1 up
}

# server_cert DIR NAME SAN START END: DIR/NAME.crt and .key, a server
# certificate of the test CA in DIR/pki (vakt-pki init) valid from START to
# END (date -d expressions) for the names in SAN ("DNS:localhost")
server_cert() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$2" \
		-keyout "$1/$2.key" -out "$1/$2.csr" 2>/dev/null
	printf 'basicConstraints = critical, CA:false\nextendedKeyUsage = serverAuth\nsubjectAltName = %s\n' \
		"$3" >"$1/$2.ext"
	openssl ca -batch -config "$1/pki/ca.cnf" -extfile "$1/$2.ext" \
		-startdate "$(date -u -d "$4" +%Y%m%d%H%M%SZ)" -enddate "$(date -u -d "$5" +%Y%m%d%H%M%SZ)" \
		-in "$1/$2.csr" -out "$1/$2.crt" -notext 2>"$1/$2.err" ||
		{ cat "$1/$2.err"; fail "cannot make the certificate $2"; }
}

# server_cert_cases DIR: a test CA in DIR/pki and the four server
# certificates a certificate check is tried with, all for localhost but the
# last: valid (90 days), soon (expires in 5 days), expired (3 days ago) and
# wrongname (for wrong.example)
server_cert_cases() {
	"$VAKT_SRC/deploy/pki/vakt-pki" init "$1/pki" >/dev/null
	server_cert "$1" valid "DNS:localhost" "-1 day" "+90 days"
	server_cert "$1" soon "DNS:localhost" "-1 day" "+5 days"
	server_cert "$1" expired "DNS:localhost" "-30 days" "-3 days"
	server_cert "$1" wrongname "DNS:wrong.example" "-1 day" "+90 days"
}
