#!/bin/sh
# run.sh - runs bench_store in both modes (vakt, librrd) on this machine, in one
# run, and rewrites bench/RESULTS.md with ratios, medians and instruction counts.
# Builds nothing: expects a build dir (default build) holding bin/bench_store.
# Usage: bench/run.sh [build-dir]          (make bench does the build first)
set -eu

BUILD=${1:-build}
RUNS=${RUNS:-5}
FILES=${FILES:-200}
UPDATES=${UPDATES:-50}
CG_FILES=${CG_FILES:-50}
CG_UPDATES=${CG_UPDATES:-20}

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
bin="$BUILD/bin/bench_store"
case "$BUILD" in /*) ;; *) bin="$root/$BUILD/bin/bench_store" ;; esac
[ -x "$bin" ] || {
	echo "run.sh: $bin not found: build it first (make bench, or cmake --build $BUILD --target bench_store)" >&2
	exit 1
}
# what RESULTS.md shows: the build dir as typed from the repository root, never this machine's path
shown=${BUILD#"$root"/}
case "$shown" in /*) shown="<build-dir>" ;; esac
out="$here/RESULTS.md"

work=$(mktemp -d /tmp/vakt-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM

# run MODE ARGS... : one run on a fresh data dir; prints bench_store's line
run() {
	mode=$1
	shift
	rm -rf "$work/data"
	if ! "$bin" "$@" -d "$work/data" "$mode" >"$work/line" 2>"$work/log"; then
		echo "run.sh: bench_store $* $mode failed:" >&2
		tail -n 20 "$work/log" >&2
		exit 1
	fi
	rm -rf "$work/data"
	cat "$work/line"
}

field() { # field NAME < line
	tr ' ' '\n' | sed -n "s/^$1=//p"
}

median() { # median < numbers, one a line
	sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ratio() { # ratio A B -> A/B with 3 decimals
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'
}

echo "run.sh: $RUNS runs per mode, alternating, -f $FILES -u $UPDATES"
: >"$work/vakt.runs"
: >"$work/librrd.runs"
for _ in $(seq "$RUNS"); do
	for mode in vakt librrd; do
		line=$(run "$mode" -f "$FILES" -u "$UPDATES")
		echo "  $line"
		echo "$line" >>"$work/$mode.runs"
	done
done
for mode in vakt librrd; do
	field samples_per_s <"$work/$mode.runs" | median >"$work/$mode.med"
	field seconds <"$work/$mode.runs" | median >"$work/$mode.medsec"
	field setup_s <"$work/$mode.runs" | median >"$work/$mode.medsetup"
done
v_med=$(cat "$work/vakt.med")
l_med=$(cat "$work/librrd.med")
tput_ratio=$(ratio "$v_med" "$l_med")
setup_ratio=$(ratio "$(cat "$work/vakt.medsetup")" "$(cat "$work/librrd.medsetup")")

# Instruction counts: bench_store dumps callgrind's counters at the start and
# the end of the timed phase, so <out>.2 holds the steady state alone.
cg_samples=$((CG_FILES * CG_UPDATES * 3))
cg_cmd="valgrind --tool=callgrind --callgrind-out-file=/tmp/vakt-bench.XXXXXX/cg.MODE.out $shown/bin/bench_store -f $CG_FILES -u $CG_UPDATES -d /tmp/vakt-bench.XXXXXX/data MODE"
summary() { # summary FILE -> the Ir total in it, or nothing
	if [ -f "$1" ]; then
		sed -n 's/^summary: *//p; s/^totals: *//p' "$1" | head -n 1 | awk '{ print $1 }'
	fi
}
have_cg=0
if command -v valgrind >/dev/null 2>&1; then
	have_cg=1
	for mode in vakt librrd; do
		echo "run.sh: callgrind $mode -f $CG_FILES -u $CG_UPDATES"
		rm -rf "$work/data"
		if ! valgrind --tool=callgrind --callgrind-out-file="$work/cg.$mode.out" \
			"$bin" -f "$CG_FILES" -u "$CG_UPDATES" -d "$work/data" "$mode" \
			>"$work/cg.$mode.line" 2>"$work/cg.$mode.log"; then
			echo "run.sh: callgrind run of $mode failed:" >&2
			tail -n 20 "$work/cg.$mode.log" >&2
			exit 1
		fi
		rm -rf "$work/data"
		total=0
		for part in "$work/cg.$mode.out"*; do
			n=$(summary "$part")
			total=$((total + ${n:-0}))
		done
		timed=$(summary "$work/cg.$mode.out.2")
		echo "$total" >"$work/cg.$mode.total"
		echo "${timed:-0}" >"$work/cg.$mode.timed"
	done
	v_tot=$(cat "$work/cg.vakt.total")
	l_tot=$(cat "$work/cg.librrd.total")
	v_timed=$(cat "$work/cg.vakt.timed")
	l_timed=$(cat "$work/cg.librrd.timed")
	ir_ratio=$(ratio "$v_timed" "$l_timed")
	ir_total_ratio=$(ratio "$v_tot" "$l_tot")
	v_ips=$(awk -v a="$v_timed" -v n="$cg_samples" 'BEGIN { printf "%.0f", a / n }')
	l_ips=$(awk -v a="$l_timed" -v n="$cg_samples" 'BEGIN { printf "%.0f", a / n }')
	# where the store's timed instructions go, inclusive, for its developers
	callgrind_annotate --inclusive=yes --threshold=100 --auto=no "$work/cg.vakt.out.2" 2>/dev/null |
		grep -E '^ *[0-9,]+ \([ 0-9.]+%\)  [^=]' |
		grep -E ':(write_job|write_group|rrd_update_r|rrd_open|rrd_close|rrdpath_file|sample_format_value|sample_batch_free|__strcmp_[a-z0-9]+|stat|store_submit|done_cb|pthread_mutex_lock)(@@[A-Z0-9_.]+)? ' |
		sed 's/^ *//; s/ \[.*\]$//; s/ [^ ]*\/\([^/ ]*:[^ ]*\)$/ \1/' | head -n 14 >"$work/cg.top" || :
fi

# ---- RESULTS.md ----
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
rrdver=$(pkg-config --modversion librrd 2>/dev/null || echo unknown)
rev=$(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)
{
	echo "# bench_store results"
	echo
	echo "Written by \`bench/run.sh\`; rerun with \`make bench\` (= build, then \`bench/run.sh build\`)."
	echo "This run: \`bench/run.sh $shown\`. Ratios are Vakt / bare librrd loop, from this one run on one machine."
	echo
	echo "| | vakt / librrd |"
	echo "|---|---|"
	echo "| steady-state throughput (median samples/s, $RUNS runs each) | **$tput_ratio** |"
	if [ "$have_cg" = 1 ]; then
		echo "| steady-state instructions (callgrind, timed phase) | **$ir_ratio** |"
		echo "| instructions, whole program (incl. creating files) | $ir_total_ratio |"
	fi
	echo "| setup time: create files + first update (median s; below 1 is faster) | $setup_ratio |"
	echo
	echo "Throughput ratio above 1 means Vakt is faster than the floor; instruction ratio above 1 means it executes more."
	echo
	echo "## Machine"
	echo
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "- cpu: $cpu, nproc $(nproc)"
	echo "- kernel: $(uname -r)"
	echo "- librrd $rrdver; tree $rev"
	echo
	echo "## Wall clock ($RUNS runs per mode, alternating, fresh data dir per run)"
	echo
	echo '```'
	echo "$shown/bin/bench_store -f $FILES -u $UPDATES -d /tmp/vakt-bench.XXXXXX/data vakt"
	echo "$shown/bin/bench_store -f $FILES -u $UPDATES -d /tmp/vakt-bench.XXXXXX/data librrd"
	echo '```'
	echo
	echo "| mode | runs | median samples/s | median timed s | median setup s | all samples/s |"
	echo "|---|---|---|---|---|---|"
	for mode in vakt librrd; do
		all=$(field samples_per_s <"$work/$mode.runs" | tr '\n' ' ' | sed 's/ $//')
		echo "| $mode | $(wc -l <"$work/$mode.runs") | $(cat "$work/$mode.med") | $(cat "$work/$mode.medsec") | $(cat "$work/$mode.medsetup") | $all |"
	done
	echo
	echo "Samples per run: $((FILES * UPDATES * 3)) ($FILES files x $UPDATES timed updates x 3 metrics)."
	echo
	echo "## Instructions (callgrind, one run per mode)"
	echo
	if [ "$have_cg" = 1 ]; then
		echo '```'
		echo "$cg_cmd"
		echo '```'
		echo
		echo "| mode | timed phase Ir | Ir per sample | whole program Ir |"
		echo "|---|---|---|---|"
		echo "| vakt | $v_timed | $v_ips | $v_tot |"
		echo "| librrd | $l_timed | $l_ips | $l_tot |"
		echo
		echo "Callgrind counts user-space instructions only: the kernel work inside \`rrd_update_r\`"
		echo "(open, fcntl lock, mmap, page faults, munmap) and \`stat()\` is in the wall clock, not here."
		echo
		echo "Timed samples: $cg_samples. Where the vakt timed phase goes (inclusive Ir, callgrind_annotate):"
		echo
		echo '```'
		cat "$work/cg.top"
		echo '```'
	else
		echo "valgrind not installed: no instruction counts in this run."
	fi
} >"$out"
# bytes on the wire against collectd's network plugin
if "$here/wire.sh" "$BUILD" -o "$work/wire.md" >"$work/wire.log" 2>&1; then
	{ echo; cat "$work/wire.md"; } >>"$out"
	tail -n 1 "$work/wire.log" | sed 's/^/run.sh: wire: /'
else
	cat "$work/wire.log" >&2
	echo "run.sh: bench/wire.sh failed (above); RESULTS.md has no wire section" >&2
fi
echo "run.sh: throughput vakt/librrd $tput_ratio; wrote bench/RESULTS.md"
[ "$have_cg" = 1 ] && echo "run.sh: instructions vakt/librrd $ir_ratio (timed), $v_ips vs $l_ips per sample"
# the whole collector through its socket, against librrd and rrdcached (INGEST=0 skips it)
if [ "${INGEST:-1}" != 0 ]; then
	"$here/ingest.sh" "$BUILD"
fi
# the agent polling SNMP devices, against collectd and snmp_exporter (SNMP=0 skips it)
if [ "${SNMP:-1}" != 0 ]; then
	"$here/snmp.sh" "$BUILD"
fi
# the agent's icmp probes against fping (ICMP=0 skips it; needs root)
if [ "${ICMP:-1}" != 0 ]; then
	"$here/icmp.sh" "$BUILD"
fi
exit 0
