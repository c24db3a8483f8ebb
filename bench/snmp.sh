#!/bin/sh
# snmp.sh - bench/snmp: the agent's CPU per value, SNMP requests per device
# and poll, memory and poll times, against collectd's snmp plugin and
# Prometheus' snmp_exporter polling the same columns of the same simulated
# switches (bench/snmp_devices.py) at the same interval, side by side in one
# run; then the agent alone at a bigger scale (memory, poll times); then the
# agent under callgrind (instructions per value). Writes its section into
# bench/RESULTS.md (replacing an earlier one); bench/run.sh runs it last.
# Usage: bench/snmp.sh [build-dir]
#   DEVICES=200 INTERVAL=60 CYCLES=4 BIG_DEVICES=1000 BIG_CYCLES=2 CG_DEVICES=20 CG_CYCLES=2
#   IFACES=all|list (how the agent's sections name the ports); DEVICES=0,
#   BIG_DEVICES=0 or CG_DEVICES=0 skips that part; ALONE=1 runs the agent alone
#   only, at DEVICES and at BIG_DEVICES, and rewrites only the section's "vakt
#   alone" table (the peers' figures stay); SNMP_OUT=FILE writes the section there
#   instead; KEEP=1 keeps the work directory (configs, logs, counts).
set -eu

BUILD=${1:-build}
DEVICES=${DEVICES:-200}
PORTS=52
INTERVAL=${INTERVAL:-60}
SIDE_INTERVAL=$INTERVAL
CYCLES=${CYCLES:-4}
BIG_DEVICES=${BIG_DEVICES:-1000}
BIG_CYCLES=${BIG_CYCLES:-2}
CG_DEVICES=${CG_DEVICES:-20}
CG_CYCLES=${CG_CYCLES:-3}
CG_INTERVAL=${CG_INTERVAL:-10}
IFACES=${IFACES:-all}
ALONE=${ALONE:-0}
SNMP_PORT=${SNMP_PORT:-16161}

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=bench/results_section.sh
. "$here/results_section.sh"
case "$BUILD" in /*) bdir=$BUILD ;; *) bdir="$root/$BUILD" ;; esac
agent="$bdir/bin/vakt-agent"
[ -x "$agent" ] || {
	echo "snmp.sh: $agent not found: build it first (make bench)" >&2
	exit 1
}
shown=${BUILD#"$root"/}
case "$shown" in /*) shown="<build-dir>" ;; esac
out=${SNMP_OUT:-"$here/RESULTS.md"}
collectd=$(command -v collectd || ls /usr/sbin/collectd 2>/dev/null | head -n 1 || :)
exporter=$(command -v prometheus-snmp-exporter || :)
[ -n "$collectd" ] && [ -n "$exporter" ] || {
	echo "snmp.sh: needs collectd and prometheus-snmp-exporter (tools/install-deps.sh bench)" >&2
	exit 1
}
hz=$(getconf CLK_TCK)

work=$(mktemp -d /tmp/vakt-snmp.XXXXXX)
pids=""
cleanup() {
	rc=$?
	for p in $pids; do kill "$p" 2>/dev/null || :; done
	for p in $pids; do wait "$p" 2>/dev/null || :; done
	if [ "${KEEP:-0}" = 1 ]; then echo "snmp.sh: kept $work" >&2; else rm -rf "$work"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port() { # a TCP (or UDP) port no socket holds, below the kernel's ephemeral range
	for _ in $(seq 1 100); do
		p=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % 12000))
		ss -H -tuan "sport = :$p" | grep -q . || {
			echo "$p"
			return
		}
	done
	echo "snmp.sh: no free port" >&2
	exit 1
}

wait_path() { # wait_path PATH WHAT: up to 20 s
	for _ in $(seq 1 200); do
		[ -e "$1" ] && return 0
		sleep 0.1
	done
	echo "snmp.sh: $2 did not start ($1 missing)" >&2
	exit 1
}

cpu_ticks() { # user + system ticks of a process, all threads
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}

status_kb() { # status_kb PID VmRSS|VmHWM|RssAnon|RssFile
	awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"
}

alive() { # alive PID WHAT LOG: fails the run if the process has died
	kill -0 "$1" 2>/dev/null && return 0
	echo "snmp.sh: $2 died:" >&2
	tail -n 20 "$3" >&2
	exit 1
}

# ask PID FILE DEST: makes a stand-in write its counts to FILE (SIGUSR1), moves them to DEST
ask() {
	rm -f "$2"
	kill -USR1 "$1"
	wait_path "$2" "the counts of $1"
	mv "$2" "$3"
}

addr() { # the simulated device i
	echo "127.77.$(($1 / 250)).$(($1 % 250 + 1)):$SNMP_PORT"
}

# The columns every poller reads each interval, besides sysUpTime.0: those
# the agent reads from a switch with 64-bit counters (its port columns).
COLUMNS="ifAdminStatus:1.3.6.1.2.1.2.2.1.7:gauge
ifOperStatus:1.3.6.1.2.1.2.2.1.8:gauge
ifSpeed:1.3.6.1.2.1.2.2.1.5:gauge
ifHighSpeed:1.3.6.1.2.1.31.1.1.1.15:gauge
ifHCInOctets:1.3.6.1.2.1.31.1.1.1.6:counter
ifHCOutOctets:1.3.6.1.2.1.31.1.1.1.10:counter
ifHCInUcastPkts:1.3.6.1.2.1.31.1.1.1.7:counter
ifHCOutUcastPkts:1.3.6.1.2.1.31.1.1.1.11:counter
ifInOctets:1.3.6.1.2.1.2.2.1.10:counter
ifOutOctets:1.3.6.1.2.1.2.2.1.16:counter
ifInUcastPkts:1.3.6.1.2.1.2.2.1.11:counter
ifOutUcastPkts:1.3.6.1.2.1.2.2.1.17:counter
ifInDiscards:1.3.6.1.2.1.2.2.1.13:counter
ifInErrors:1.3.6.1.2.1.2.2.1.14:counter
ifOutDiscards:1.3.6.1.2.1.2.2.1.19:counter
ifOutErrors:1.3.6.1.2.1.2.2.1.20:counter
ifCounterDiscontinuityTime:1.3.6.1.2.1.31.1.1.1.19:gauge"
IFNAME=1.3.6.1.2.1.31.1.1.1.1
UPTIME=1.3.6.1.2.1.1.3.0
oid_of() { echo "$COLUMNS" | awk -F: -v n="$1" '$1 == n { print $2 }'; }

# ---- the pieces, each started in the background and added to pids ----

start_devices() { # start_devices N DIR
	mkdir -p "$2"
	python3 "$here/snmp_devices.py" --devices "$1" --ports "$PORTS" --port "$SNMP_PORT" \
		--gap "$((INTERVAL / 2))" --stats "$2/counts.json" --ready "$2/ready" \
		>"$2/log" 2>&1 &
	sim=$! simdir=$2
	pids="$pids $sim"
	wait_path "$2/ready" "snmp_devices.py"
}

agent_conf() { # agent_conf N DIR SINKPORT
	{
		echo "site = \"bench\""
		echo "name = \"bench-agent\""
		echo "insecure = yes"
		echo "collector \"sink\" { address = \"127.0.0.1:$3\" }"
		echo "spool_dir = \"$2/spool\""
		if [ "$IFACES" = all ]; then
			ifs='"all"'
		else
			ifs=$(awk -v n="$PORTS" 'BEGIN { for (k = 1; k <= n; k++) {
				s = k <= n - 4 ? sprintf("Gi1/0/%d", k) : sprintf("Te1/1/%d", k - n + 4)
				printf "%s\"%s\"", (k > 1 ? ", " : "{"), s } print "}" }')
		fi
		for i in $(seq 0 $(($1 - 1))); do
			printf 'snmp "sw%04d" { address = "%s"  community = "vakt"  interfaces = %s  interval = %s  timeout = 2000  retries = 1 }\n' \
				"$i" "$(addr "$i")" "$ifs" "$INTERVAL"
		done
	} >"$2/agent.conf"
}

# start_agent N DIR [WRAPPER...]: the agent and its collector stand-in
start_agent() {
	n=$1 dir=$2
	shift 2
	mkdir -p "$dir"
	sp=$(port)
	python3 "$here/snmp_receivers.py" collector "$sp" --stats "$dir/sink.json" \
		>"$dir/sink.log" 2>&1 &
	sink=$!
	pids="$pids $sink"
	standins="$standins $sink:$dir/sink.json:vakt"
	agent_conf "$n" "$dir" "$sp"
	"$agent" --check-config -c "$dir/agent.conf" >"$dir/check.log" 2>&1 || {
		echo "snmp.sh: the agent refuses its config:" >&2
		tail -n 5 "$dir/check.log" >&2
		exit 1
	}
	"$@" "$agent" -f -c "$dir/agent.conf" >"$dir/agent.log" 2>&1 &
	vakt=$!
	pids="$pids $vakt"
}

# start_collectd N DIR COMMUNITY BULKSIZE (0: collectd's default, GETNEXT)
start_collectd() {
	n=$1 dir=$2 comm=$3 bulk=$4
	mkdir -p "$dir"
	up=$(port)
	python3 "$here/snmp_receivers.py" udp "$up" --stats "$dir/sink.json" >"$dir/sink.log" 2>&1 &
	csink=$!
	pids="$pids $csink"
	{
		cat <<EOC
Hostname "bench-collectd"
FQDNLookup false
Interval $INTERVAL
TypesDB "/usr/share/collectd/types.db"
LoadPlugin snmp
LoadPlugin network
<Plugin network>
  Server "127.0.0.1" "$up"
</Plugin>
<Plugin snmp>
  <Data "uptime">
    Type "gauge"
    Table false
    TypeInstance "uptime"
    Values "$UPTIME"
  </Data>
EOC
		# the two directions of a counter in one value list, as collectd's types have them
		for pair in "octets_hc if_octets ifHCInOctets ifHCOutOctets" \
			"packets_hc if_packets ifHCInUcastPkts ifHCOutUcastPkts" \
			"octets if_octets ifInOctets ifOutOctets" \
			"packets if_packets ifInUcastPkts ifOutUcastPkts" \
			"errors if_errors ifInErrors ifOutErrors" \
			"dropped if_dropped ifInDiscards ifOutDiscards"; do
			# shellcheck disable=SC2086 # four words
			set -- $pair
			printf '  <Data "%s">\n    Type "%s"\n    Table true\n    PluginInstance "%s"\n    TypeInstanceOID "%s"\n    Values "%s" "%s"\n  </Data>\n' \
				"$1" "$2" "$1" "$IFNAME" "$(oid_of "$3")" "$(oid_of "$4")"
		done
		for g in ifAdminStatus ifOperStatus ifSpeed ifHighSpeed ifCounterDiscontinuityTime; do
			printf '  <Data "%s">\n    Type "gauge"\n    Table true\n    PluginInstance "%s"\n    TypeInstanceOID "%s"\n    Values "%s"\n  </Data>\n' \
				"$g" "$g" "$IFNAME" "$(oid_of "$g")"
		done
		for i in $(seq 0 $((n - 1))); do
			printf '  <Host "sw%04d">\n    Address "%s"\n    Version 2\n    Community "%s"\n    BulkSize %s\n    Timeout 2\n    Retries 1\n    Interval %s\n    Collect "uptime" "octets_hc" "packets_hc" "octets" "packets" "errors" "dropped" "ifAdminStatus" "ifOperStatus" "ifSpeed" "ifHighSpeed" "ifCounterDiscontinuityTime"\n  </Host>\n' \
				"$i" "$(addr "$i")" "$comm" "$bulk" "$INTERVAL"
		done
		echo "</Plugin>"
	} >"$dir/collectd.conf"
	"$collectd" -f -C "$dir/collectd.conf" >"$dir/collectd.log" 2>&1 &
	cd_pid=$!
	pids="$pids $cd_pid"
	standins="$standins $csink:$dir/sink.json:$comm"
}

start_exporter() { # start_exporter N DIR
	mkdir -p "$2"
	ep=$(port)
	{
		echo "bench:"
		echo "  version: 2"
		echo "  max_repetitions: 25"
		echo "  retries: 1"
		echo "  timeout: 2s"
		echo "  auth:"
		echo "    community: exporter"
		echo "  get:"
		echo "  - $UPTIME"
		echo "  walk:"
		echo "  - $IFNAME"
		echo "$COLUMNS" | awk -F: '{ print "  - " $2 }'
		echo "  metrics:"
		echo "  - name: sysUpTime"
		echo "    oid: $UPTIME"
		echo "    type: gauge"
		echo "$COLUMNS" | awk -F: -v ifname="$IFNAME" '{
			print "  - name: " $1; print "    oid: " $2; print "    type: " $3
			print "    indexes:"; print "    - labelname: ifIndex"; print "      type: gauge"
			print "    lookups:"; print "    - labels: [ifIndex]"; print "      labelname: ifName"
			print "      oid: " ifname; print "      type: DisplayString" }'
	} >"$2/snmp.yml"
	"$exporter" --config.file="$2/snmp.yml" --web.listen-address="127.0.0.1:$ep" \
		--log.level=warn >"$2/exporter.log" 2>&1 &
	ex_pid=$!
	pids="$pids $ex_pid"
	for i in $(seq 0 $(($1 - 1))); do addr "$i"; done >"$2/targets"
	for _ in $(seq 1 100); do
		curl -sf "http://127.0.0.1:$ep/" >/dev/null 2>&1 && break
		sleep 0.1
	done
	python3 "$here/snmp_receivers.py" scrape "http://127.0.0.1:$ep/snmp?module=bench" \
		--targets "$2/targets" --interval "$INTERVAL" --stats "$2/scrape.json" \
		>"$2/scrape.log" 2>&1 &
	scraper=$!
	pids="$pids $scraper"
	standins="$standins $scraper:$2/scrape.json:snmp_exporter"
}

# measure OUT CYCLES NAME=PID...: waits CYCLES intervals after starting the
# counts again; then writes one line per process to OUT: name, CPU ticks
# spent in between (user + system, all threads), VmRSS, VmHWM, and VmRSS's
# parts RssAnon (heap, stacks, libraries' written pages) and RssFile (the
# mapped pages of the program and its libraries), in kB
measure() {
	mout=$1 mcycles=$2
	shift 2
	for np in "$@"; do echo "${np%%=*} ${np#*=} $(cpu_ticks "${np#*=}")"; done >"$mout.start"
	for p in $resettable; do kill -USR2 "$p"; done
	sleep $((mcycles * INTERVAL))
	while read -r name p t0; do
		alive "$p" "$name" /dev/null
		echo "$name $(($(cpu_ticks "$p") - t0)) $(status_kb "$p" VmRSS) $(status_kb "$p" VmHWM)" \
			"$(status_kb "$p" RssAnon) $(status_kb "$p" RssFile)"
	done <"$mout.start" >"$mout"
}

stop_all() {
	for p in $pids; do kill "$p" 2>/dev/null || :; done
	for p in $pids; do wait "$p" 2>/dev/null || :; done
	pids=""
}

# figures DIR DEVICES: the figures of one window, one JSON line per poller,
# from the processes' CPU and memory (DIR/cpu) and the counts of the
# simulated devices (DIR/devices.json) and of the stand-ins (DIR/NAME.json).
# A poll's values are the columns it asked times the ports, plus the
# scalars; the columns that only name a port (ifName, ifDescr, ifType,
# ifAlias) are not values.
figures() {
	python3 - "$1" "$2" "$hz" "$PORTS" <<'EOF'
import json, statistics, sys
d, ndev, hz, ports = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
naming = {"1.3.6.1.2.1.31.1.1.1.1", "1.3.6.1.2.1.2.2.1.2", "1.3.6.1.2.1.2.2.1.3",
          "1.3.6.1.2.1.31.1.1.1.18"}
sim = json.load(open(d + "/devices.json"))
community = {"snmp_exporter": "exporter"}
for line in open(d + "/cpu"):
    name, ticks, rss, hwm, anon, mapped = line.split()
    p = sim["pollers"].get(community.get(name, name), {"polls": [], "requests": 0, "columns": []})
    cols = [c for c in p["columns"] if c not in naming]
    scalars = [c for c in cols if c.endswith(".0")]
    per_poll = (len(cols) - len(scalars)) * ports + len(scalars)
    polls = p["polls"]
    done = [q for q in polls if q["done"]]
    cpu = int(ticks) / hz
    values = len(polls) * per_poll
    durs = sorted(q["duration"] for q in done) or [0]
    reqs = [q["requests"] for q in done] or [0]
    got = json.load(open("%s/%s.json" % (d, name)))
    got.pop("durations", None)
    print(json.dumps({
        "name": name, "cpu_s": cpu, "polls": len(polls), "values": values,
        "values_per_poll": per_poll,
        "us_per_value": cpu / values * 1e6 if values else None,
        "req_per_poll": statistics.mean(reqs), "req_per_poll_max": max(reqs),
        "requests": p["requests"], "dur_median": statistics.median(durs), "dur_max": durs[-1],
        "rss_kb": int(rss), "hwm_kb": int(hwm), "anon_kb": int(anon), "file_kb": int(mapped),
        "received": got,
        "window_s": sim["window_s"], "devices": ndev, "columns": p["columns"],
        "by_type": p.get("by_type", {}), "polls_per_device": len(polls) / ndev}))
EOF
}

# collect DIR: asks the devices and every stand-in for their counts, into DIR
collect() {
	ask "$sim" "$simdir/counts.json" "$1/devices.json"
	for st in $standins; do
		p=${st%%:*} rest=${st#*:}
		ask "$p" "${rest%:*}" "$1/${rest##*:}.json"
	done
}

# ---- 1. the three pollers side by side ----
: >"$work/side.jsonl"
if [ "$DEVICES" -gt 0 ] && [ "$ALONE" != 1 ]; then
	echo "snmp.sh: $DEVICES devices x $PORTS ports, interval $INTERVAL s, $CYCLES intervals measured after one to settle: vakt, collectd and snmp_exporter side by side"
	mkdir -p "$work/side"
	standins=""
	start_devices "$DEVICES" "$work/sim"
	start_agent "$DEVICES" "$work/vakt"
	start_collectd "$DEVICES" "$work/collectd" collectd 25
	cd_bulk=$cd_pid
	resettable="$csink"
	start_collectd "$DEVICES" "$work/collectd-getnext" collectd-getnext 0
	resettable="$resettable $csink"
	start_exporter "$DEVICES" "$work/exporter"
	resettable="$resettable $sim $sink $scraper"
	sleep $((INTERVAL + 5))
	alive "$vakt" vakt-agent "$work/vakt/agent.log"
	alive "$cd_bulk" collectd "$work/collectd/collectd.log"
	alive "$cd_pid" collectd "$work/collectd-getnext/collectd.log"
	alive "$ex_pid" snmp_exporter "$work/exporter/exporter.log"
	measure "$work/side/cpu" "$CYCLES" vakt="$vakt" collectd="$cd_bulk" collectd-getnext="$cd_pid" \
		snmp_exporter="$ex_pid"
	collect "$work/side"
	stop_all
	figures "$work/side" "$DEVICES" >"$work/side.jsonl"
	cat "$work/side.jsonl"
fi

# alone NAME DEVICES CYCLES SETTLE [WRAPPER...]: the agent alone polling DEVICES
# devices, measured over CYCLES intervals after SETTLE seconds; its figures
# into $work/NAME.jsonl, its logs and counts under $work/NAME
alone() {
	aname=$1 n=$2 cycles=$3 settle=$4
	shift 4
	mkdir -p "$work/$aname/w"
	standins=""
	start_devices "$n" "$work/$aname/sim"
	start_agent "$n" "$work/$aname" "$@"
	resettable="$sim $sink"
	sleep "$settle"
	alive "$vakt" vakt-agent "$work/$aname/agent.log"
	[ $# -eq 0 ] || callgrind_control -z "$vakt" >/dev/null 2>&1
	measure "$work/$aname/w/cpu" "$cycles" vakt="$vakt"
	[ $# -eq 0 ] || callgrind_control -d "$vakt" >/dev/null 2>&1
	collect "$work/$aname/w"
	# runs still busy when their next slot came, since the start (the agent's stats line)
	grep 'stats:' "$work/$aname/agent.log" | tail -n 1 |
		sed -n 's/.* \([0-9]*\) overruns.*/\1/p' >"$work/$aname.overruns" || :
	stop_all
	figures "$work/$aname/w" "$n" >"$work/$aname.jsonl"
	cat "$work/$aname.jsonl"
}

# ---- 2. the agent alone, bigger (ALONE=1: first alone at DEVICES too) ----
: >"$work/big.jsonl"
if [ "$ALONE" = 1 ] && [ "$DEVICES" -gt 0 ]; then
	echo "snmp.sh: vakt alone: $DEVICES devices x $PORTS ports, $CYCLES intervals measured after one to settle"
	alone small "$DEVICES" "$CYCLES" $((INTERVAL + 5))
	cp "$work/small.jsonl" "$work/side.jsonl"
fi
if [ "$BIG_DEVICES" -gt 0 ]; then
	echo "snmp.sh: vakt alone: $BIG_DEVICES devices x $PORTS ports, $BIG_CYCLES intervals measured after one to settle"
	alone big "$BIG_DEVICES" "$BIG_CYCLES" $((INTERVAL + 5))
fi

# ---- 3. the agent under callgrind: instructions per value ----
: >"$work/cg.jsonl"
if [ "$CG_DEVICES" -gt 0 ] && [ "$ALONE" != 1 ] && command -v valgrind >/dev/null 2>&1; then
	INTERVAL=$CG_INTERVAL
	echo "snmp.sh: vakt under callgrind: $CG_DEVICES devices, interval $INTERVAL s, $CG_CYCLES intervals counted"
	alone cg "$CG_DEVICES" "$CG_CYCLES" $((INTERVAL + 10)) \
		valgrind --tool=callgrind --callgrind-out-file="$work/cg/cg.out"
	ir=$(sed -n 's/^summary: *//p; s/^totals: *//p' "$work/cg/cg.out.1" | head -n 1 | awk '{ print $1 }')
	echo "${ir:-0}" >"$work/cg.ir"
	callgrind_annotate --inclusive=yes --threshold=99 --auto=no "$work/cg/cg.out.1" 2>/dev/null |
		grep -E '^ *[0-9,]+ \([ 0-9.]+%\)  [^=]' | sed 's/^ *//; s/ \[.*\]$//; s/ [^ ]*\/\([^/ ]*:[^ ]*\)$/ \1/' |
		head -n 40 >"$work/cg.top" || :
	echo "snmp.sh: callgrind: $(cat "$work/cg.ir") instructions in the counted intervals"
	INTERVAL=$SIDE_INTERVAL
fi

# ---- RESULTS.md ----
cd_ver=$("$collectd" -h 2>/dev/null | sed -n 's/^collectd \([0-9][0-9.]*[0-9]\).*/\1/p' | head -n 1)
ex_ver=$("$exporter" --version 2>&1 | sed -n 's/.*version \([0-9][0-9.]*\).*/\1/p' | head -n 1)
rev=$(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)
python3 - "$work" "$shown" "$rev" "$(nproc)" "${cd_ver:-?}" "${ex_ver:-?}" "$PORTS" \
	"$DEVICES" "$INTERVAL" "$CYCLES" "$BIG_DEVICES" "$BIG_CYCLES" "$CG_DEVICES" "$CG_INTERVAL" \
	"$CG_CYCLES" "$IFACES" "$ALONE" >"$work/section.md" <<'EOF'
import json, os, sys, time
(work, shown, rev, ncpu, cd_ver, ex_ver, ports, devices, interval, cycles, big, big_cycles,
 cg_dev, cg_int, cg_cycles, ifaces, alone_only) = sys.argv[1:18]
alone_only = alone_only == "1"
if alone_only:
    # only the table of the agent alone (alone.md, below), spliced into the section
    sys.stdout = open("/dev/null", "w")
load = lambda f: [json.loads(l) for l in open(f) if l.strip()]
side, bigr, cg = load(work + "/side.jsonl"), load(work + "/big.jsonl"), load(work + "/cg.jsonl")
by = {r["name"]: r for r in side}
v = by.get("vakt")
peers = [r for r in side if r["name"] != "vakt" and r["us_per_value"]]
best = min(peers, key=lambda r: r["us_per_value"]) if peers else None
ratio = lambda a, b: "%.2f" % (a / b) if a is not None and b else "n/a"
mb = lambda kb: "%.1f" % (kb / 1024)
ifs = '`interfaces = "all"`' if ifaces == "all" else "every port listed by name"
print("# bench/snmp results")
print()
print("Written by `bench/snmp.sh %s` (run last by `bench/run.sh`, `make bench`; `SNMP=0` skips it)." % shown)
print("Run: %s, %s cores (shared with other work: CPU seconds and instruction counts are" % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), ncpu))
print("the figures, never wall time), tree %s." % rev)
print()
print("The pollers run in one run, side by side, polling the same columns of the same simulated")
print("switches at the same interval. Each poller's CPU is its process' user + system time (all")
print("threads, /proc) over the measured intervals, after one interval to settle; its requests,")
print("polls and poll times are counted at the devices (a poll: one poller's requests to one")
print("device, less than half an interval apart; its time: first request to last answer).")
print("A poll's values are the columns it asked times the ports, plus sysUpTime: the same")
print("count for every poller, since each asks the same columns (checked at the devices).")
print()
print("- **devices**: `bench/snmp_devices.py`, one process answering SNMPv2c for every device on")
print("  127.77.x.y:%s; %s ports each (ifTable and ifXTable: 64-bit and 32-bit counters that" % (os.environ.get("SNMP_PORT", "16161"), ports))
print("  grow with the clock at each device's own rate, 4 ports down, 8 shut).")
print("- **vakt**: `vakt-agent`, one `snmp` section per device (%s, `timeout = 2000`," % ifs)
print("  `retries = 1`), its spool on disk, sending over plaintext to a stand-in collector that")
print("  acknowledges every batch and stores nothing (`bench/snmp_receivers.py collector`).")
print("- **collectd %s**: its snmp plugin, one `Host` per device (`BulkSize 25`, `Timeout 2`," % cd_ver)
print("  `Retries 1`), one `Data` block per collectd type (octets and packets in pairs, 32- and")
print("  64-bit, errors, drops; a `gauge` for each status, speed and the discontinuity time; the")
print("  ports named by ifName), its network plugin sending to a UDP stand-in that counts values.")
print("- **collectd-getnext**: the same without `BulkSize`, as collectd polls by default: each")
print("  table walked with GETNEXT, one row per request.")
print("- **snmp_exporter %s** (Debian's prometheus-snmp-exporter): one module walking the same" % ex_ver)
print("  columns (`max_repetitions: 25`, `timeout: 2s`, `retries: 1`) with ifName as a lookup")
print("  and sysUpTime by GET, scraped by a stand-in Prometheus (`bench/snmp_receivers.py scrape`)")
print("  every interval, the targets spread over the interval, 8 scrapes at once.")
print()
if side and not alone_only:
    print("## %s devices x %s ports, every %s s, %s intervals measured" % (devices, ports, interval, cycles))
    print()
    print("| poller | CPU s | polls | values | µs CPU per value | / vakt | requests per poll (mean, max) | poll time median, max (s) | RSS MB (peak) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in side:
        print("| %s | %.2f | %d | %d | %.2f | %s | %.1f, %d | %.3f, %.3f | %s (%s) |" % (
            r["name"], r["cpu_s"], r["polls"], r["values"], r["us_per_value"] or 0,
            ratio(r["us_per_value"], v["us_per_value"] if v else None), r["req_per_poll"],
            r["req_per_poll_max"], r["dur_median"], r["dur_max"], mb(r["rss_kb"]), mb(r["hwm_kb"])))
    print()
    if v and best:
        ex = by.get("snmp_exporter")
        print("Targets: vakt's CPU per value **%s x** the best peer's (%s; target <= 0.15; %s);" % (
            ratio(v["us_per_value"], best["us_per_value"]), best["name"],
            ", ".join("%s x %s" % (ratio(v["us_per_value"], r["us_per_value"]), r["name"]) for r in peers)))
        if ex:
            print("requests per poll **%.1f** against snmp_exporter's %.1f (target: no more)." % (
                v["req_per_poll"], ex["req_per_poll"]))
        print()
    ifname = "1.3.6.1.2.1.31.1.1.1.1"
    cols = {r["name"]: set(r["columns"]) - {ifname} for r in side}
    union = set().union(*cols.values()) if cols else set()
    lack = ["%s lacks %s" % (n, " ".join(sorted(union - c))) for n, c in sorted(cols.items()) if union - c]
    print("Columns asked, at the devices: %d%s." % (len(union), " by every poller (collectd and snmp_exporter also read ifName at every poll, to name the ports)" if not lack else "; **they differ**: " + "; ".join(lack)))
    print()
    print("What the stand-ins received in the measured intervals:")
    for r in side:
        print("- %s: %s" % (r["name"], ", ".join("%s %s" % (k, val) for k, val in sorted(r["received"].items()) if k != "window_s")))
    print()
if bigr:
    b = bigr[0]
    if alone_only:
        sys.stdout = open(work + "/alone.md", "w")
    print("## vakt alone: %s devices x %s ports, every %s s, %s intervals measured" % (big, ports, interval, big_cycles))
    print()
    if alone_only:
        print("Rerun alone (`ALONE=1 DEVICES=%s CYCLES=%s BIG_DEVICES=%s BIG_CYCLES=%s bench/snmp.sh %s`)" % (devices, cycles, big, big_cycles, shown))
        print("%s, tree %s: the agent alone at both sizes, no peer beside it." % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), rev))
        print()
    print("| devices | RSS MB (peak) | RssAnon, RssFile MB | µs CPU per value | requests per poll (mean, max) | poll time median, max (s) | polls per device and interval |")
    print("|---|---|---|---|---|---|---|")
    for r in ([v] if v else []) + [b]:
        print("| %d | %s (%s) | %s, %s | %.2f | %.1f, %d | %.3f, %.3f | %.2f |" % (
            r["devices"], mb(r["rss_kb"]), mb(r["hwm_kb"]), mb(r["anon_kb"]), mb(r["file_kb"]),
            r["us_per_value"] or 0, r["req_per_poll"],
            r["req_per_poll_max"], r["dur_median"], r["dur_max"],
            r["polls_per_device"] / (int(big_cycles) if r is b else int(cycles))))
    print()
    if v and b["devices"] > v["devices"]:
        print("Memory per device: %.1f kB ((RSS at %d - RSS at %d devices) / %d)." % (
            (b["rss_kb"] - v["rss_kb"]) / (b["devices"] - v["devices"]), b["devices"], v["devices"],
            b["devices"] - v["devices"]))
    print("Targets: RSS **%s MB** at %s devices (target < 30 MB, with room: <= 22 MB); the longest poll took %.2f s of the" % (mb(b["hwm_kb"]), big, b["dur_max"]))
    over = open(work + "/big.overruns").read().strip() or "unknown"
    print("%s-s interval; every device polled %.2f times per interval; %s overruns (runs still busy" % (interval, b["polls_per_device"] / int(big_cycles), over))
    print("when their next slot came) since the agent started, from its last stats line.")
    print()
    if alone_only:
        sys.exit(0)
if cg:
    c = cg[0]
    ir = int(open(work + "/cg.ir").read().strip() or 0)
    print("## Instructions per value (callgrind)")
    print()
    print("The agent under `valgrind --tool=callgrind`, %s devices every %s s; counted (`callgrind_control -z`," % (cg_dev, cg_int))
    print("then `-d`) over %s intervals after one to settle: %d instructions for %d values in %d polls:" % (cg_cycles, ir, c["values"], c["polls"]))
    print("**%.0f instructions per value**. Where they go (inclusive, callgrind_annotate):" % (ir / c["values"] if c["values"] else 0))
    print()
    print("```")
    print(open(work + "/cg.top").read().rstrip())
    print("```")
    print()
print("Commands (bench/snmp.sh writes the configs; PORT is a free port):")
print()
print("```")
print("DEVICES=%s INTERVAL=%s CYCLES=%s BIG_DEVICES=%s BIG_CYCLES=%s CG_DEVICES=%s bench/snmp.sh %s" % (devices, interval, cycles, big, big_cycles, cg_dev, shown))
print("python3 bench/snmp_devices.py --devices N --ports %s --port %s --gap %d --stats FILE" % (ports, os.environ.get("SNMP_PORT", "16161"), int(interval) // 2))
print("%s/bin/vakt-agent -f -c agent.conf & python3 bench/snmp_receivers.py collector PORT --stats FILE" % shown)
print("collectd -f -C collectd.conf & python3 bench/snmp_receivers.py udp PORT --stats FILE   # twice: BulkSize 25, and none")
print("prometheus-snmp-exporter --config.file=snmp.yml --web.listen-address=127.0.0.1:PORT &")
print("  python3 bench/snmp_receivers.py scrape 'http://127.0.0.1:PORT/snmp?module=bench' --targets FILE --interval %s --stats FILE" % interval)
print("valgrind --tool=callgrind %s/bin/vakt-agent -f -c agent.conf   # callgrind_control -z PID; sleep; callgrind_control -d PID" % shown)
print("```")
EOF

# ALONE=1: the "vakt alone" table replaces its earlier self inside the section
if [ "$ALONE" = 1 ]; then
	grep -q '^## vakt alone:' "$out" 2>/dev/null || {
		echo "snmp.sh: ALONE=1 needs a bench/snmp section with a vakt alone table in $out" >&2
		exit 1
	}
	awk 'FNR == NR { sec = sec $0 "\n"; next }
		/^## vakt alone:/ { printf "%s", sec; skip = 1; next }
		skip && /^#/ { skip = 0 }
		!skip' "$work/alone.md" "$out" >"$work/results.new"
	cat "$work/results.new" >"$out"
	echo "snmp.sh: wrote the vakt alone table of $out"
	exit 0
fi

# the section replaces an earlier one, or is appended
results_section "bench/snmp results" "$work/section.md" "$out"
echo "snmp.sh: wrote the bench/snmp section of $out"
