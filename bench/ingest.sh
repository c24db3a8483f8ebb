#!/bin/sh
# ingest.sh - bench/ingest: the collector's CPU per value through its real
# socket (mutual TLS, decode, journal with group commit, write-back cache,
# RRD files) against a bare librrd loop writing 60 values per call (the
# floor), rrdcached fed with BATCH, and collectd's network plugin feeding its
# rrdtool plugin, in one run, alternating, on fresh data dirs.
# Two scenarios: a steady state of 10k series (3334 files x 3), and the
# replay of a 24-hour backlog of a 500-series site at 60-s step. Writes its
# section of bench/RESULTS.md (replacing an earlier one): medians of CPU per
# value, user and system apart, and each round's ratio to the floor's run of
# the same round, since the load of a shared machine drifts between rounds.
# Usage: bench/ingest.sh [build-dir]
set -eu

BUILD=${1:-build}
RUNS=${INGEST_RUNS:-5}
SS_FILES=${SS_FILES:-3334}
SS_UPDATES=${SS_UPDATES:-60}
BL_FILES=${BL_FILES:-167}
BL_UPDATES=${BL_UPDATES:-1440}

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=bench/collector_conf.sh
. "$here/collector_conf.sh"
# shellcheck source=bench/results_section.sh
. "$here/results_section.sh"
case "$BUILD" in /*) bdir=$BUILD ;; *) bdir="$root/$BUILD" ;; esac
bin="$bdir/bin/bench_ingest"
[ -x "$bin" ] && [ -x "$bdir/bin/vakt-collector" ] || {
	echo "ingest.sh: $bin or vakt-collector not found: build them first (make bench)" >&2
	exit 1
}
shown=${BUILD#"$root"/}
case "$shown" in /*) shown="<build-dir>" ;; esac
out="$here/RESULTS.md"
rrdcached=$(command -v rrdcached || ls /usr/bin/rrdcached /usr/sbin/rrdcached 2>/dev/null | head -n 1 || :)
collectd=$(command -v collectd || ls /usr/sbin/collectd 2>/dev/null | head -n 1 || :)

work=$(mktemp -d /tmp/vakt-ingest.XXXXXX)
daemon=""
trap '[ -n "$daemon" ] && kill "$daemon" 2>/dev/null; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM # the EXIT trap cleans up; without exit the script ran on

port() { # a TCP (or UDP) port no socket holds, below the kernel's ephemeral range
	for _ in $(seq 1 100); do
		p=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom) % 12000 ))
		ss -H -tuan "sport = :$p" | grep -q . || { echo "$p"; return; }
	done
	echo "ingest.sh: no free port" >&2
	exit 1
}

wait_path() { # wait_path PATH: the daemon's socket, up to 60 s (slow on a loaded machine)
	for _ in $(seq 1 600); do
		[ -e "$1" ] && return 0
		kill -0 "$daemon" 2>/dev/null || {
			echo "ingest.sh: $mode exited before it made ${1##*/}" >"$work/log"
			return 1
		}
		sleep 0.1
	done
	echo "ingest.sh: $mode made no ${1##*/} in 60 s" >"$work/log"
	return 1
}

stop_daemon() {
	kill "$daemon" 2>/dev/null || :
	wait "$daemon" 2>/dev/null || :
	daemon=""
}

# failed: the run of one() failed: shows why, keeps the reason (bench_ingest's or
# the script's first complaint) in $work/why for the results, stops its daemon
failed() {
	cat "$work/log" >&2
	[ -f "$work/d/daemon.log" ] && tail -n 20 "$work/d/daemon.log" >&2
	{ grep -m 1 -E '^(bench_ingest|ingest\.sh): ' "$work/log" || tail -n 1 "$work/log"; } |
		sed "s|$work/d/||g" | tr -d '|' >"$work/why"
	[ -s "$work/why" ] || echo "exit status without a message" >"$work/why"
	stop_daemon
	exit 1
}

# one MODE FILES UPDATES: one run on a fresh data dir; prints bench_ingest's line,
# or fails (status 1, the reason in $work/why) with its daemon stopped. It runs
# in a subshell of its own: its daemon is stopped on the way out whatever happens.
one() {
	mode=$1 files=$2 updates=$3
	trap '[ -z "$daemon" ] || kill "$daemon" 2>/dev/null' EXIT
	trap 'exit 130' INT TERM
	rm -rf "$work/d" "$work/why"
	: >"$work/log"
	mkdir -p "$work/d"
	case "$mode" in
	librrd)
		"$bin" -f "$files" -u "$updates" -d "$work/d/data" librrd >"$work/line" 2>"$work/log" ||
			failed
		;;
	rrdcached)
		mkdir -p "$work/d/data" "$work/d/journal"
		# -w 3600: values wait as in Vakt's cache; FLUSHALL ends the run
		"$rrdcached" -g -l "unix:$work/d/sock" -p "$work/d/pid" -b "$work/d/data" -B \
			-j "$work/d/journal" -w 3600 -f 7200 >"$work/d/daemon.log" 2>&1 &
		daemon=$!
		wait_path "$work/d/sock" || failed
		"$bin" -f "$files" -u "$updates" -d "$work/d/data" rrdcached "$work/d/sock" "$daemon" \
			>"$work/line" 2>"$work/log" || failed
		stop_daemon
		;;
	collectd)
		p=$(port)
		mkdir -p "$work/d/data"
		# network (UDP, loopback) into rrdtool; its cache holds values as Vakt's and
		# rrdcached's do, and its RRAs span what Vakt's do (12: 3 CFs x 4 spans)
		cat >"$work/d/collectd.conf" <<EOC
Hostname "bench-collector"
FQDNLookup false
Interval $step
# one thread takes the values to the rrdtool plugin: with the default five, two
# values of one file sent in a burst can reach its cache out of order, the older
# is refused, and rrd_update later fails on the file ("illegal attempt to update")
WriteThreads 1
TypesDB "/usr/share/collectd/types.db"
LoadPlugin unixsock
LoadPlugin network
LoadPlugin rrdtool
<Plugin unixsock>
  SocketFile "$work/d/collectd.sock"
</Plugin>
<Plugin network>
  Listen "127.0.0.1" "$p"
</Plugin>
<Plugin rrdtool>
  DataDir "$work/d/data"
  CacheTimeout 3600
  CacheFlush 7200
  RRATimespan 172800
  RRATimespan 1209600
  RRATimespan 34214400
  RRATimespan 315360000
</Plugin>
EOC
		"$collectd" -f -C "$work/d/collectd.conf" >"$work/d/daemon.log" 2>&1 &
		daemon=$!
		wait_path "$work/d/collectd.sock" || failed
		"$bin" -f "$files" -u "$updates" -d "$work/d/data" collectd "$p" "$work/d/collectd.sock" "$daemon" \
			>"$work/line" 2>"$work/log" || failed
		stop_daemon
		;;
	vakt | vakt-plain | vakt-1w)
		p=$(port)
		case $mode in
		vakt) collector_conf "$work/d/collector.conf" "$p" "$work/d" "$work/pki" ;;
		vakt-plain) collector_conf "$work/d/collector.conf" "$p" "$work/d" "" ;;
		vakt-1w) collector_conf "$work/d/collector.conf" "$p" "$work/d" "$work/pki" "store_writers = 1" ;;
		esac
		"$bdir/bin/vakt-collector" -f -c "$work/d/collector.conf" >"$work/d/daemon.log" 2>&1 &
		daemon=$!
		wait_path "$work/d/collector.sock" || failed
		# shellcheck disable=SC2086 # tflag is empty or two words
		"$bin" $tflag -f "$files" -u "$updates" -d "$work/d/data" vakt "$p" "$work/d/collector.sock" "$daemon" \
			>"$work/line" 2>"$work/log" || failed
		stop_daemon
		sed -i "s/^mode=vakt /mode=$mode /" "$work/line"
		;;
	esac
	rm -rf "$work/d"
	cat "$work/line"
}

field() { tr ' ' '\n' | sed -n "s/^$1=//p"; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "n/a" && a != "" && b != "n/a" && b + 0 > 0) printf "%.2f", a / b; else print "n/a" }'; }
# pairs MODE SCEN [BASE]: MODE's CPU per value in each round over BASE's run of that
# round (default: the floor); a round where either failed has no ratio
pairs() {
	[ -f "$work/$2.${3:-librrd}.runs" ] && [ -f "$work/$2.$1.runs" ] || return 0
	awk 'FNR == 1 { f++ }
	     { r = ""; u = ""
	       for (i = 1; i <= NF; i++) {
		       if ($i ~ /^round=/) r = substr($i, 7)
		       if ($i ~ /^us_per_value=/) u = substr($i, 14)
	       }
	       if (f == 1) base[r] = u; else if (base[r] > 0) printf "%.2f\n", u / base[r] }' \
		"$work/$2.${3:-librrd}.runs" "$work/$2.$1.runs"
}
# rounds MODE SCEN FIELD: the field of each round's run, in order, on one line
rounds() { [ ! -f "$work/$2.$1.runs" ] || field "$3" <"$work/$2.$1.runs" | tr '\n' ' ' | sed 's/ $//'; }
# med MODE SCEN FIELD: the median of the field over the mode's runs (n/a: none)
med() { if [ -f "$work/$2.$1.runs" ]; then field "$3" <"$work/$2.$1.runs" | median; else echo n/a; fi; }

step=60
SITE=bench # bench_ingest's site: the CN of its client certificate
started=$(date -u '+%Y-%m-%d %H:%M UTC')
start_load=$(cut -d ' ' -f 1-3 /proc/loadavg)
cmd="${INGEST_MODES:+INGEST_MODES=\"$INGEST_MODES\" }${INGEST_RUNS:+INGEST_RUNS=$INGEST_RUNS }bench/ingest.sh $shown"
"$root/deploy/pki/vakt-pki" init "$work/pki" >/dev/null
"$root/deploy/pki/vakt-pki" collector "$work/pki" local localhost >/dev/null
"$root/deploy/pki/vakt-pki" site "$work/pki" "$SITE" >/dev/null

modes="librrd"
[ -n "$rrdcached" ] && modes="$modes rrdcached"
[ -n "$collectd" ] && modes="$modes collectd"
modes="$modes vakt vakt-plain"
# INGEST_MODES: a subset (the floor and vakt always run: the ratio needs them);
# vakt-1w (one writer: no helper processes in the final flush) runs only when named
if [ -n "${INGEST_MODES:-}" ]; then
	want="$modes vakt-1w"
	modes="librrd"
	for m in $want; do
		case " $INGEST_MODES " in *" $m "*) [ "$m" != librrd ] && modes="$modes $m" ;; esac
	done
	case " $modes " in *" vakt "*) ;; *) modes="$modes vakt" ;; esac
fi
for scen in steady backlog; do
	if [ "$scen" = steady ]; then f=$SS_FILES u=$SS_UPDATES; else f=$BL_FILES u=$BL_UPDATES; fi
	echo "ingest.sh: $scen: $RUNS runs of $modes, -f $f -u $u"
	for mode in $modes; do : >"$work/$scen.$mode.runs" && : >"$work/$scen.$mode.failed"; done
	for round in $(seq "$RUNS"); do
		for mode in $modes; do
			# a failed run is reported, not the end of the benchmark
			load=$(cut -d ' ' -f 1 /proc/loadavg)
			if line=$(one "$mode" "$f" "$u"); then
				echo "  round=$round load=$load $line"
				echo "round=$round load=$load $line" >>"$work/$scen.$mode.runs"
			else
				echo "  round=$round mode=$mode FAILED: $(cat "$work/why" 2>/dev/null)"
				echo "round $round: $(cat "$work/why" 2>/dev/null)" >>"$work/$scen.$mode.failed"
			fi
		done
	done
done

{
	echo "# bench/ingest results"
	echo
	echo "Written by \`$cmd\` (run by \`bench/run.sh\`, \`make bench\`): CPU seconds of the"
	echo "process that writes the files (user + system, all threads and the children it waited for,"
	echo "from /proc), per value stored,"
	echo "$RUNS rounds, each running every mode once in turn on a fresh data dir under /tmp; medians,"
	echo "user and system time apart (the kernel's part: librrd's mmap, page faults and munmap, the"
	echo "collector's socket reads and journal writes), and each round's ratio to the floor's run"
	echo "of the same round, as the load of a shared machine drifts between rounds."
	echo "Every run checks that every file ends at the last timestamp, or reports nothing."
	echo
	echo "- **vakt**: \`vakt-collector\` (default cache: 300 s, 360 values per file) fed over mutual"
	echo "  TLS (a CA, collector and site certificate made by deploy/pki/vakt-pki; CRL checked)"
	echo "  by one agent session speaking protocol 2 (the compact form, each series named"
	echo "  once per session; batches of 1000 samples, 8 unacked), each batch acked once fsynced"
	echo "  to the journal; the clock stops after \`vaktctl flush\` has written every file."
	echo "- **vakt-plain**: the same without TLS (insecure = yes)."
	case " $modes " in *" vakt-1w "*)
		echo "- **vakt-1w**: vakt with \`store_writers = 1\`: the final flush written by the writer"
		echo "  thread alone, where vakt (\`store_writers = 2\`, the default) shares it with a helper process." ;;
	esac
	echo "- **librrd**: the floor: \`rrd_update_r\` in a loop, 60 values per call."
	echo "- **rrdcached**: $( [ -n "$rrdcached" ] && "$rrdcached" -h 2>&1 | head -n 1 | sed 's/ *$//' || echo "not installed: not run"); \`-w 3600 -f 7200\`"
	echo "  with a journal, fed one BATCH of UPDATE lines, then FLUSHALL; the clock stops once it has written all."
	echo "- **collectd**: $( [ -n "$collectd" ] && "$collectd" -h 2>/dev/null | sed -n 's/^collectd \([0-9][0-9.]*[0-9]\).*/collectd \1/p' | head -n 1 || echo "not installed: not run"): its network plugin listening on"
	echo "  127.0.0.1 (UDP, plaintext) into its rrdtool plugin (WriteThreads 1, CacheTimeout 3600, CacheFlush 7200,"
	echo "  RRATimespan set to Vakt's four spans: 12 RRAs as Vakt's files have). bench_ingest sends"
	echo "  the values as a sending collectd would (a port's if_octets rx/tx DERIVE and a gauge"
	echo "  oper_status: two files a port, collectd's layout) in bursts of 16 packets, each once"
	echo "  its socket's receive queue is under half full (/proc/net/udp; a run whose socket"
	echo "  dropped a datagram fails), then FLUSH plugin=rrdtool on its unixsock (again every"
	echo "  100 ms) until every file ends at the last timestamp. CPU of the receiving collectd,"
	echo "  all threads."
	echo
	echo "Run: $started, $(nproc) cores, tree $(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown);"
	echo "load average at the start $start_load (1, 5, 15 minutes)."
	echo
	echo "Modes run: $modes."
	echo
	echo "Files are made before the clock starts (the collector makes them from a first round)."
	echo "The timed part sends the same values in the same order (round by round) to every mode."
	echo
	for scen in steady backlog; do
		if [ "$scen" = steady ]; then
			f=$SS_FILES u=$SS_UPDATES
			echo "## Steady state: $((f * 3)) series ($f files x 3), $u updates each"
		else
			f=$BL_FILES u=$BL_UPDATES
			echo "## Backlog replay: a 24-hour backlog of a $((f * 3))-series site at 60-s step ($u updates each)"
		fi
		echo
		echo '```'
		for mode in $modes; do
			case $mode in
			librrd) echo "$shown/bin/bench_ingest -f $f -u $u -d DIR librrd" ;;
			rrdcached) echo "rrdcached -g -l unix:SOCK -p PID -b DIR -B -j JDIR -w 3600 -f 7200 & $shown/bin/bench_ingest -f $f -u $u -d DIR rrdcached SOCK PID" ;;
			collectd) echo "collectd -f -C CONF & $shown/bin/bench_ingest -f $f -u $u -d DIR collectd PORT UNIXSOCK PID" ;;
			vakt) echo "$shown/bin/vakt-collector -f -c CONF & $shown/bin/bench_ingest -T CA:CERT:KEY -f $f -u $u -d DIR vakt PORT CONTROL_SOCKET PID" ;;
			vakt-plain) echo "$shown/bin/vakt-collector -f -c CONF & $shown/bin/bench_ingest -f $f -u $u -d DIR vakt PORT CONTROL_SOCKET PID   # insecure = yes" ;;
			vakt-1w) echo "$shown/bin/vakt-collector -f -c CONF & $shown/bin/bench_ingest -T CA:CERT:KEY -f $f -u $u -d DIR vakt PORT CONTROL_SOCKET PID   # store_writers = 1" ;;
			esac
		done
		echo '```'
		echo
		l_us=$(field us_per_value <"$work/$scen.librrd.runs" | median)
		echo "| mode | runs | failed | values per run | median µs CPU per value | user | system | / floor | median values/s (wall) | all µs per value |"
		echo "|---|---|---|---|---|---|---|---|---|---|"
		for mode in $modes; do
			us=$(field us_per_value <"$work/$scen.$mode.runs" | median)
			usr=$(field user_us_per_value <"$work/$scen.$mode.runs" | median)
			sys=$(field sys_us_per_value <"$work/$scen.$mode.runs" | median)
			vps=$(field values_per_s <"$work/$scen.$mode.runs" | median)
			all=$(field us_per_value <"$work/$scen.$mode.runs" | tr '\n' ' ' | sed 's/ $//')
			echo "| $mode | $(wc -l <"$work/$scen.$mode.runs") | $(wc -l <"$work/$scen.$mode.failed") | $(field values <"$work/$scen.$mode.runs" | head -n 1) | $us | $usr | $sys | $(ratio "$us" "$l_us") | $vps | $all |"
		done
		echo
		for mode in $modes; do
			[ -s "$work/$scen.$mode.failed" ] || continue
			echo "Failed runs of $mode (not in the medians):"
			echo
			sed 's/^/- /' "$work/$scen.$mode.failed"
			echo
		done
		echo "Each round's ratio to the floor's run of the same round (median, then the rounds in order):"
		echo
		for mode in $modes; do
			[ "$mode" = librrd ] && continue
			echo "- $mode: **$(pairs "$mode" "$scen" | median)** ($(pairs "$mode" "$scen" | tr '\n' ' ' | sed 's/ $//'))"
		done
		echo
		echo "Noise: the floor's own runs spread from $(field us_per_value <"$work/$scen.librrd.runs" | sort -g | head -n 1)" \
			"to $(field us_per_value <"$work/$scen.librrd.runs" | sort -g | tail -n 1) µs per value" \
			"and from $(field values_per_s <"$work/$scen.librrd.runs" | sort -g | head -n 1)" \
			"to $(field values_per_s <"$work/$scen.librrd.runs" | sort -g | tail -n 1) values/s;" \
			"the 1-minute load average was $(cat "$work"/"$scen".*.runs | field load | sort -g | head -n 1)" \
			"to $(cat "$work"/"$scen".*.runs | field load | sort -g | tail -n 1) as the runs began" \
			"(the floor's rounds: $(rounds librrd "$scen" load))."
		echo
		v_us=$(field us_per_value <"$work/$scen.vakt.runs" | median)
		v_vps=$(field values_per_s <"$work/$scen.vakt.runs" | median)
		if [ "$scen" = steady ]; then
			echo "Targets (vakt, over TLS):"
			echo
			echo "- CPU per value <= 1.5x the floor: $(ratio "$v_us" "$l_us")x the floor's median;" \
				"median of the rounds' ratios **$(pairs vakt "$scen" | median)x**."
			echo "- values/s >= 200k (wall, from the first batch to the end of the final flush):" \
				"median **$v_vps** (rounds: $(rounds vakt "$scen" values_per_s); the floor's:" \
				"$(rounds librrd "$scen" values_per_s)); of each run's seconds, the acks took" \
				"$(rounds vakt "$scen" acked_s) and the final flush $(rounds vakt "$scen" flush_s)."
			echo "- ahead of rrdcached: $(ratio "$v_us" "$(med rrdcached "$scen" us_per_value)")x" \
				"its median CPU per value; median of the rounds' ratios" \
				"**$(pairs vakt "$scen" rrdcached | median)x** ($(pairs vakt "$scen" rrdcached | tr '\n' ' ' | sed 's/ $//'))."
			case " $modes " in *" collectd "*)
				echo "- collectd: $(ratio "$v_us" "$(med collectd "$scen" us_per_value)")x" \
					"its median CPU per value; median of the rounds' ratios" \
					"$(pairs vakt "$scen" collectd | median)x." ;;
			esac
			case " $modes " in *" vakt-1w "*)
				echo "- helper processes (vakt against vakt-1w, one writer): values/s median" \
					"$v_vps against $(med vakt-1w "$scen" values_per_s) (vakt-1w's rounds:" \
					"$(rounds vakt-1w "$scen" values_per_s)); the final flush took" \
					"$(med vakt "$scen" flush_s) s against $(med vakt-1w "$scen" flush_s) s (vakt-1w's" \
					"rounds: $(rounds vakt-1w "$scen" flush_s)); CPU per value" \
					"$(ratio "$v_us" "$(med vakt-1w "$scen" us_per_value)")x vakt-1w's median, median of" \
					"the rounds' ratios **$(pairs vakt "$scen" vakt-1w | median)x**" \
					"($(pairs vakt "$scen" vakt-1w | tr '\n' ' ' | sed 's/ $//'))." ;;
			esac
		else
			echo "Target (vakt, over TLS): backlog replay <= 3x the floor: $(ratio "$v_us" "$l_us")x" \
				"(median of the rounds: $(pairs vakt "$scen" | median)x)."
		fi
		echo
	done
} >"$work/section.md"

# instructions per value: repeatable where CPU seconds on a shared machine are not
if [ "${INGEST_CG:-1}" != 0 ] && command -v valgrind >/dev/null 2>&1; then
	echo "ingest.sh: callgrind, -f ${CG_FILES:-1000} -u ${CG_UPDATES:-60}${INGEST_CG_OUT:+ (from $INGEST_CG_OUT)}"
	# INGEST_CG_OUT: the output of an ingest-cg.sh run of this tree and build, instead of a new one
	if [ -n "${INGEST_CG_OUT:-}" ]; then
		cg=$(tail -n 1 "$INGEST_CG_OUT")
	else
		cg=$("$here/ingest-cg.sh" "$BUILD" | tail -n 1)
	fi
	cgf=${CG_FILES:-1000} cgu=${CG_UPDATES:-60}
	{
		echo "## Instructions per value (callgrind, bench/ingest-cg.sh)"
		echo
		echo '```'
		echo "CG_FILES=$cgf CG_UPDATES=$cgu bench/ingest-cg.sh $shown"
		echo '```'
		echo
		echo "The collector under callgrind, counted from the end of setup to the end of the flush"
		echo "(callgrind_control -z, then -d), over mutual TLS, $cgf files x 3 series, $cgu rounds;"
		echo "the floor's timed loop on the same files and values. User-space instructions only:"
		echo "the kernel's work (mmap, page faults, write, fdatasync) is in the CPU seconds above."
		echo
		echo "| | instructions per value |"
		echo "|---|---|"
		echo "| vakt (over TLS) | $(echo "$cg" | field vakt_ir_per_value) |"
		echo "| librrd (the floor) | $(echo "$cg" | field librrd_ir_per_value) |"
		echo "| vakt / floor | **$(echo "$cg" | field ratio)** |"
		echo
	} >>"$work/section.md"
fi
results_section "bench/ingest results" "$work/section.md" "$out"
echo "ingest.sh: wrote the bench/ingest section of bench/RESULTS.md"
