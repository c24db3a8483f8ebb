#!/bin/sh
# ingest-cg.sh - bench/ingest counted in instructions: callgrind on the
# collector for the timed part alone (mutual TLS by default), and on the
# floor (a bare librrd loop, 60 values per call) for its timed part alone,
# on the same files and values. Instruction counts repeat from run to run
# on a loaded machine where CPU seconds do not; the kernel's work (mmap,
# page faults, fdatasync) is not in them. Prints the counts per value and
# the ratio, and with -a the collector's functions (inclusive).
# Usage: bench/ingest-cg.sh [-a] [build-dir]   (CG_FILES, CG_UPDATES, CG_TLS=0)
set -eu

annotate=0
if [ "${1:-}" = -a ]; then
	annotate=1
	shift
fi
BUILD=${1:-build}
FILES=${CG_FILES:-1000}
UPDATES=${CG_UPDATES:-60}
TLS=${CG_TLS:-1}

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=bench/collector_conf.sh
. "$here/collector_conf.sh"
case "$BUILD" in /*) bdir=$BUILD ;; *) bdir="$root/$BUILD" ;; esac
bin="$bdir/bin/bench_ingest"
[ -x "$bin" ] && [ -x "$bdir/bin/vakt-collector" ] || {
	echo "ingest-cg.sh: $bin or vakt-collector not found: build them first" >&2
	exit 1
}
command -v valgrind >/dev/null && command -v callgrind_control >/dev/null || {
	echo "ingest-cg.sh: valgrind (callgrind) is not installed" >&2
	exit 1
}

work=$(mktemp -d /tmp/vakt-ingest-cg.XXXXXX)
daemon=""
trap '[ -n "$daemon" ] && kill "$daemon" 2>/dev/null; [ -n "${CG_KEEP:-}" ] || rm -rf "$work"' EXIT
trap 'exit 130' INT TERM # the EXIT trap cleans up; without exit the script ran on

summary() { # summary FILE -> the Ir total in it
	sed -n 's/^summary: *//p; s/^totals: *//p' "$1" | head -n 1 | awk '{ print $1 }'
}

wait_for() { # wait_for CMD...: up to 600 s (valgrind is slow)
	for _ in $(seq 1 6000); do
		"$@" && return 0
		sleep 0.1
	done
	echo "ingest-cg.sh: timed out waiting for: $*" >&2
	exit 1
}

values=$((FILES * 3 * UPDATES))

# the floor: bench_ingest dumps callgrind's counters around its timed loop (<out>.2)
valgrind --tool=callgrind --callgrind-out-file="$work/cg.librrd.out" \
	"$bin" -f "$FILES" -u "$UPDATES" -d "$work/floor" librrd >"$work/librrd.line" 2>"$work/librrd.log" || {
	tail -n 20 "$work/librrd.log" >&2
	exit 1
}
l_ir=$(summary "$work/cg.librrd.out.2")
rm -rf "$work/floor"

# the collector: counting from the end of setup (BENCH_PAUSE) to the end of the flush
p=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom) % 12000 ))
mkdir -p "$work/d"
pki=""
if [ "$TLS" = 1 ]; then
	pki="$work/pki"
	"$root/deploy/pki/vakt-pki" init "$pki" >/dev/null
	"$root/deploy/pki/vakt-pki" collector "$pki" local localhost >/dev/null
	"$root/deploy/pki/vakt-pki" site "$pki" bench >/dev/null
fi
# under valgrind the first round (making the files) keeps the agent waiting for
# minutes: collector_conf's heartbeat allows for it. One writer: helper
# processes (store_writers) would write part of the files in processes of
# their own, whose counts callgrind keeps apart; they do the same work.
collector_conf "$work/d/collector.conf" "$p" "$work/d" "$pki" "store_writers = 1"
valgrind --tool=callgrind --callgrind-out-file="$work/cg.vakt.out" \
	"$bdir/bin/vakt-collector" -f -c "$work/d/collector.conf" >"$work/d/daemon.log" 2>&1 &
daemon=$!
wait_for test -e "$work/d/collector.sock"
# shellcheck disable=SC2086 # tflag is empty or two words
BENCH_PAUSE=5 "$bin" $tflag -f "$FILES" -u "$UPDATES" -d "$work/d/data" vakt "$p" \
	"$work/d/collector.sock" "$daemon" >"$work/vakt.line" 2>"$work/vakt.log" &
client=$!
wait_for grep -q "timed part in" "$work/vakt.log"
callgrind_control -z "$daemon" >/dev/null
if ! wait "$client"; then
	tail -n 20 "$work/vakt.log" "$work/d/daemon.log" >&2
	exit 1
fi
callgrind_control -d timed "$daemon" >/dev/null
kill "$daemon"
wait "$daemon" 2>/dev/null || :
daemon=""
v_ir=$(summary "$(ls "$work"/cg.vakt.out.* | head -n 1)")

echo "files=$FILES updates=$UPDATES values=$values tls=$TLS"
awk -v v="$v_ir" -v l="$l_ir" -v n="$values" 'BEGIN {
	printf "vakt_ir=%s librrd_ir=%s vakt_ir_per_value=%.0f librrd_ir_per_value=%.0f ratio=%.3f\n",
	    v, l, v / n, l / n, v / l }'
if [ "$annotate" = 1 ]; then
	callgrind_annotate --inclusive=yes --threshold=99 "$(ls "$work"/cg.vakt.out.* | head -n 1)" |
		sed -n '1,80p'
fi
