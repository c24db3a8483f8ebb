#!/bin/sh
# icmp.sh - bench/icmp: the agent's icmp probes against fping, each pinging
# the same TARGETS loopback addresses (127.1.0.1 up) at the same rate
# (PACKETS echo requests per target every INTERVAL seconds), side by side in
# one run, each in a network namespace of its own whose kernel answers every
# 127.0.0.0/8 address and whose nftables drop LOSS % of the requests on the
# way in and count the requests sent. Per run: packets per second and CPU
# seconds per packet of each (the agent over the window fping ran in), and
# their ratio; then the loss and RTT both report. Writes its section into
# bench/RESULTS.md (replacing an earlier one). Needs root (namespaces, raw
# sockets) and fping, nftables.
# Usage: bench/icmp.sh [build-dir]
#   TARGETS=1000 PACKETS=20 INTERVAL=10 TIMEOUT=500 RUNS=3 LOSS=5
#   ICMP_OUT=FILE writes the section there instead; KEEP=1 keeps the work directory.
set -eu

BUILD=${1:-build}
TARGETS=${TARGETS:-1000}
PACKETS=${PACKETS:-20}
INTERVAL=${INTERVAL:-10}
TIMEOUT=${TIMEOUT:-500}
RUNS=${RUNS:-3}
LOSS=${LOSS:-5}

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
case "$BUILD" in /*) bdir=$BUILD ;; *) bdir="$root/$BUILD" ;; esac
agent="$bdir/bin/vakt-agent"
[ -x "$agent" ] || {
	echo "icmp.sh: $agent not found: build it first (make bench)" >&2
	exit 1
}
shown=${BUILD#"$root"/}
case "$shown" in /*) shown="<build-dir>" ;; esac
out=${ICMP_OUT:-"$here/RESULTS.md"}
fping=$(command -v fping || ls /usr/bin/fping 2>/dev/null || :)
nft=$(command -v nft || ls /usr/sbin/nft 2>/dev/null || :)
[ -n "$fping" ] && [ -n "$nft" ] || {
	echo "icmp.sh: needs fping and nftables (tools/install-deps.sh test bench)" >&2
	exit 1
}
[ "$(id -u)" = 0 ] || {
	echo "icmp.sh: needs root (network namespaces, raw ICMP sockets)" >&2
	exit 1
}
hz=$(getconf CLK_TCK)
# shellcheck source=bench/results_section.sh
. "$here/results_section.sh"
# fping's pacing: one target's requests PERIOD ms apart, any two GAP ms apart
period=$((INTERVAL * 1000 / PACKETS))
gap=$(awk -v p="$period" -v t="$TARGETS" 'BEGIN { printf "%.3f", p / t }')

work=$(mktemp -d /tmp/vakt-icmp.XXXXXX)
NV=vakt-bench-v-$$
NF=vakt-bench-f-$$
pids=""
cleanup() {
	rc=$?
	for p in $pids; do kill "$p" 2>/dev/null || :; done
	for p in $pids; do wait "$p" 2>/dev/null || :; done
	ip netns del "$NV" 2>/dev/null || :
	ip netns del "$NF" 2>/dev/null || :
	if [ "${KEEP:-0}" = 1 ]; then echo "icmp.sh: kept $work" >&2; else rm -rf "$work"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# a namespace whose lo answers 127.0.0.0/8, dropping LOSS % of the echo
# requests coming in and counting those going out
for ns in "$NV" "$NF"; do
	ip netns add "$ns"
	ip netns exec "$ns" ip link set lo up
	ip netns exec "$ns" ip addr add 127.0.0.2/8 dev lo
	ip netns exec "$ns" "$nft" -f - <<EOF
table ip bench {
	chain out { type filter hook output priority 0; icmp type echo-request counter; }
	chain in { type filter hook input priority 0; icmp type echo-request numgen random mod 100 < $LOSS counter drop; }
}
EOF
done
sent() { # sent NS: echo requests counted leaving NS so far
	ip netns exec "$1" "$nft" list chain ip bench out | sed -n 's/.*counter packets \([0-9]*\).*/\1/p'
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
addr() { echo "127.1.$(($1 / 250)).$(($1 % 250 + 1))"; }

i=0
: >"$work/targets"
{
	echo 'site = "bench"'
	echo 'insecure = yes'
	echo 'collector "sink" { address = "127.0.0.1:17060" }'
	while [ "$i" -lt "$TARGETS" ]; do
		a=$(addr "$i")
		echo "$a" >>"$work/targets"
		echo "probe \"t$i\" { kind = \"icmp\"  address = \"$a\"  packets = $PACKETS  interval = $INTERVAL  timeout = $TIMEOUT }"
		i=$((i + 1))
	done
} >"$work/agent.conf"

ip netns exec "$NV" python3 "$here/snmp_receivers.py" collector 17060 --last \
	--stats "$work/sink.json" >"$work/sink.log" 2>&1 &
sink=$!
pids="$sink"
sleep 1
ip netns exec "$NV" "$agent" -f -c "$work/agent.conf" >"$work/agent.log" 2>&1 &
vpid=$!
pids="$vpid $pids"
# every probe has begun its runs (each starts somewhere in its first interval)
sleep $((INTERVAL + 2))
kill -0 "$vpid" 2>/dev/null || {
	cat "$work/agent.log" >&2
	echo "icmp.sh: the agent stopped" >&2
	exit 1
}

: >"$work/runs"
r=1
while [ "$r" -le "$RUNS" ]; do
	# rule counters are read, not reset: nft resets only named counters
	vs0=$(sent "$NV")
	fs0=$(sent "$NF")
	v0=$(cpu_ticks "$vpid")
	t0=$(date +%s.%N)
	# fping's own CPU: the shell's waited-for children, read before it exits
	f_ticks=$(ip netns exec "$NF" sh -c '"$0" -C "$1" -p "$2" -i "$3" -t "$4" -q -f "$5" 2>"$6" >/dev/null
		awk "{ print \$16 + \$17 }" /proc/$$/stat' \
		"$fping" "$PACKETS" "$period" "$gap" "$TIMEOUT" "$work/targets" "$work/fping.$r")
	t1=$(date +%s.%N)
	v1=$(cpu_ticks "$vpid")
	echo "$r $t0 $t1 $((v1 - v0)) $f_ticks $(($(sent "$NV") - vs0)) $(($(sent "$NF") - fs0))" >>"$work/runs"
	r=$((r + 1))
done
kill -USR1 "$sink"
for _ in $(seq 1 50); do
	[ -s "$work/sink.json" ] && break
	sleep 0.1
done
kill -0 "$vpid" 2>/dev/null || {
	cat "$work/agent.log" >&2
	echo "icmp.sh: the agent stopped during the runs" >&2
	exit 1
}

# ---- RESULTS.md ----
python3 - "$work" "$hz" "$TARGETS" "$PACKETS" "$INTERVAL" "$TIMEOUT" "$LOSS" "$period" "$gap" \
	"$shown" "$RUNS" >"$work/section.md" <<'EOF'
import json, os, statistics, sys
work, hz = sys.argv[1], int(sys.argv[2])
targets, packets, interval, timeout, loss, period, gap, shown, runs = sys.argv[3:12]

rows = []
for line in open(os.path.join(work, "runs")):
    r, t0, t1, vt, ft, vs, fs = line.split()
    secs = float(t1) - float(t0)
    v_cpu, f_cpu = int(vt) / hz, int(ft) / hz
    v_pkt, f_pkt = int(vs), int(fs)
    if v_pkt == 0 or f_pkt == 0 or f_cpu == 0:
        sys.exit("icmp.sh: run %s: no packets or no CPU counted (vakt %d, fping %d)" % (r, v_pkt, f_pkt))
    rows.append(dict(run=int(r), secs=secs, v_cpu=v_cpu, f_cpu=f_cpu, v_pps=v_pkt / secs,
                     f_pps=f_pkt / secs, v_us=v_cpu / v_pkt * 1e6, f_us=f_cpu / f_pkt * 1e6))
for x in rows:
    x["ratio"] = x["v_us"] / x["f_us"]


def fping_stats(path):
    """fping -C's summary: per target its RTTs in ms, "-" for a lost one."""
    losses, medians = [], []
    for line in open(path):
        if " : " not in line:
            continue
        vals = line.split(" : ", 1)[1].split()
        got = sorted(float(v) / 1000 for v in vals if v != "-")
        losses.append(100.0 * (len(vals) - len(got)) / len(vals))
        if got:
            medians.append(statistics.median(got))
    return losses, medians


f_loss, f_med = fping_stats(os.path.join(work, "fping.%d" % len(rows)))
last = json.load(open(os.path.join(work, "sink.json"))).get("last", {})
v_loss = [m["loss"] for m in last.values() if m.get("loss") is not None]
v_med = [m["rtt_median"] for m in last.values() if m.get("rtt_median") is not None]
if len(v_loss) < int(targets) or len(f_loss) < int(targets):
    sys.exit("icmp.sh: values of %d agent probes and %d fping targets, expected %s" %
             (len(v_loss), len(f_loss), targets))

med = lambda k: statistics.median(x[k] for x in rows)
print("# bench/icmp results")
print()
print("%s loopback addresses (127.1.0.1 up), %s echo requests each every %s s (a run: "
      "%s ms apart per target, %s ms timeout), %s %% of the requests dropped by nftables "
      "on the way in; vakt and fping side by side, each in a network namespace of its own, "
      "%d runs (medians below)." % (targets, packets, interval, period, timeout, loss, len(rows)))
print()
print("| | packets/s | CPU s per run | CPU us per packet |")
print("|---|---|---|---|")
print("| vakt-agent (%s icmp probes) | %.0f | %.3f | %.2f |" % (targets, med("v_pps"), med("v_cpu"), med("v_us")))
print("| fping -C | %.0f | %.3f | %.2f |" % (med("f_pps"), med("f_cpu"), med("f_us")))
print()
print("**vakt / fping CPU per packet: %.2fx** (target <= 0.5x); per run: %s." %
      (med("ratio"), ", ".join("%.2fx" % x["ratio"] for x in rows)))
print()
print("Packets are the echo requests nftables counted leaving each namespace during the run; "
      "CPU is user + system time from /proc (the agent's over the window fping ran in, "
      "%d ticks a second), so the agent's figure includes its scheduling, its samples "
      "and Results, and its uplink to a stand-in collector." % hz)
print()
print("| last run | mean loss % | median of the targets' median RTTs | targets |")
print("|---|---|---|---|")
print("| vakt-agent | %.2f | %.1f us | %d |" % (statistics.mean(v_loss), statistics.median(v_med) * 1e6, len(v_loss)))
print("| fping -C | %.2f | %.1f us | %d |" % (statistics.mean(f_loss), statistics.median(f_med) * 1e6, len(f_loss)))
print()
print("Commands (bench/icmp.sh, in namespaces of its own):")
print()
print("```")
print("%s/bin/vakt-agent -f -c agent.conf   # %s x probe \"tN\" { kind = \"icmp\"  address = \"127.1.x.y\"  "
      "packets = %s  interval = %s  timeout = %s }" % (shown, targets, packets, interval, timeout))
print("python3 bench/snmp_receivers.py collector 17060 --last --stats sink.json")
print("fping -C %s -p %s -i %s -t %s -q -f targets" % (packets, period, gap, timeout))
print("```")
EOF

# the section replaces an earlier one, or is appended
results_section "bench/icmp results" "$work/section.md" "$out"
cat "$work/section.md"
echo "icmp.sh: wrote the bench/icmp section of $out"
