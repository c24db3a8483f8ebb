#!/bin/sh
# wire.sh - bytes on the wire per sample: vakt-agent's frames (bench_wire, the
# uplink's own encoder) against a real collectd's network plugin sending the
# same values, which are fed to it through its unixsock plugin (PUTVAL) and
# counted as UDP payload on 127.0.0.1. Prints one summary line per form and,
# with -o FILE, writes the markdown section for bench/RESULTS.md.
# Usage: bench/wire.sh [build-dir] [-o section-file]
set -eu

BUILD=${1:-build}
OUT=${3:-}
[ "${2:-}" = "-o" ] || OUT=""
DEVICES=${DEVICES:-4}
PORTS=${PORTS:-48}
POLLS=${POLLS:-60}

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
bin="$BUILD/bin/bench_wire"
case "$BUILD" in /*) ;; *) bin="$root/$BUILD/bin/bench_wire" ;; esac
[ -x "$bin" ] || { echo "wire.sh: $bin not found: build it first (make bench)" >&2; exit 1; }
command -v collectd >/dev/null || [ -x /usr/sbin/collectd ] ||
	{ echo "wire.sh: collectd not installed (apt-get install collectd-core)" >&2; exit 1; }

work=$(mktemp -d /tmp/vakt-bench-wire.XXXXXX)
cpid=""
upid=""
trap '[ -n "$cpid" ] && kill "$cpid" 2>/dev/null; [ -n "$upid" ] && kill "$upid" 2>/dev/null; rm -rf "$work"' EXIT INT TERM

vakt=$("$bin" -d "$DEVICES" -i "$PORTS" -n "$POLLS" -p "$work/putval.txt")
echo "vakt: $vakt"

# a UDP listener on 127.0.0.1 that counts the payload bytes collectd sends
python3 - "$work" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
open(sys.argv[1] + "/udp.port", "w").write(str(s.getsockname()[1]))
n = b = 0
s.settimeout(3.0)
while True:
    try:
        d = s.recv(65536)
    except socket.timeout:
        if n:
            break
        continue
    n += 1
    b += len(d)
    open(sys.argv[1] + "/udp.count", "w").write("%d %d\n" % (n, b))
PY
upid=$!
for _ in $(seq 1 50); do [ -s "$work/udp.port" ] && break; sleep 0.1; done
port=$(cat "$work/udp.port")

cat >"$work/collectd.conf" <<EOC
Hostname "bench"
FQDNLookup false
Interval 60
TypesDB "/usr/share/collectd/types.db"
LoadPlugin unixsock
LoadPlugin network
<Plugin unixsock>
  SocketFile "$work/collectd.sock"
</Plugin>
<Plugin network>
  Server "127.0.0.1" "$port"
</Plugin>
EOC
/usr/sbin/collectd -f -C "$work/collectd.conf" >"$work/collectd.log" 2>&1 &
cpid=$!
for _ in $(seq 1 50); do [ -S "$work/collectd.sock" ] && break; sleep 0.1; done
[ -S "$work/collectd.sock" ] || { cat "$work/collectd.log" >&2; exit 1; }

# feed the PUTVAL lines; every answer must be "0 Success"
python3 - "$work/collectd.sock" "$work/putval.txt" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rw")
bad = 0
for line in open(sys.argv[2]):
    f.write(line)
    f.flush()
    ans = f.readline()
    if not ans.startswith("0 "):
        bad += 1
        if bad < 5:
            print("collectd refused:", line.strip(), "->", ans.strip(), file=sys.stderr)
sys.exit(1 if bad else 0)
PY
# collectd flushes its network buffer at exit
kill "$cpid"
wait "$cpid" 2>/dev/null || true
cpid=""
wait "$upid" 2>/dev/null || true
upid=""
read -r packets cbytes <"$work/udp.count"
values=$(grep -c . "$work/putval.txt")

field() { echo "$vakt" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
samples=$(field samples)
full=$(( $(field full_bytes) + $(field ack_bytes) ))
compact=$(( $(field compact_bytes) + $(field ack_bytes) ))
# every Vakt sample is one collectd value (if_octets carries two per PUTVAL)
cvalues=$samples
summary=$(awk -v s="$samples" -v f="$full" -v c="$compact" -v cb="$cbytes" -v cv="$cvalues" 'BEGIN {
	printf "collectd %.2f bytes/value, vakt full form %.2f (%.3fx collectd), compact %.2f (%.3fx collectd)",
		cb / cv, f / s, (f / s) / (cb / cv), c / s, (c / s) / (cb / cv) }')
echo "collectd: $packets packets, $cbytes bytes for $cvalues values ($values PUTVAL lines)"
echo "$summary"

if [ -n "$OUT" ]; then
	{
		echo "## Bytes on the wire per sample (bench/wire.sh)"
		echo
		echo "A site of $DEVICES switches x $PORTS ports polled $POLLS times (in_octets, out_octets"
		echo "DERIVE and oper_status GAUGE per port: $samples samples). Vakt: the agent's own"
		echo "encoder (bench_wire: the full-form frames the uplink queues, rewritten by"
		echo "series_tx_compact as on a protocol-2 session), plus an Ack frame per batch."
		echo "collectd $(/usr/sbin/collectd -h 2>/dev/null | sed -n 's/^collectd \([0-9][0-9.]*[0-9]\).*/\1/p' | head -n 1):"
		echo "the same values fed through its unixsock plugin (PUTVAL), its network plugin's"
		echo "UDP payload counted on 127.0.0.1 ($packets packets). Byte counts are exact and"
		echo "repeatable; TCP/UDP/IP and TLS headers are not counted on either side."
		echo
		echo "| sender | bytes | bytes/sample | vs collectd |"
		echo "|---|---|---|---|"
		awk -v s="$samples" -v f="$full" -v c="$compact" -v cb="$cbytes" 'BEGIN {
			printf "| collectd network plugin | %d | %.2f | 1.000 |\n", cb, cb / s
			printf "| vakt, protocol 1 (full form) | %d | %.2f | %.3f |\n", f, f / s, f / cb
			printf "| vakt, protocol 2 (compact) | %d | %.2f | %.3f |\n", c, c / s, c / cb }'
		echo
		echo "Command: \`DEVICES=$DEVICES PORTS=$PORTS POLLS=$POLLS bench/wire.sh <build-dir>\`"
	} >"$OUT"
fi
