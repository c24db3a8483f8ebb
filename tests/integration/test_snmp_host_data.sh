#!/bin/bash
# test_snmp_host_data.sh - host, UPS and custom values from a real snmpd:
# HOST-RESOURCES-MIB storage and processors and UCD-SNMP-MIB load and memory
# of this machine (through the shipped "linux" profile), a UPS-MIB device
# (the "ups" profile) served by a pass_persist script this test writes, which
# goes on battery during the test, a printer (the "printer" profile's
# Printer-MIB supplies and page count) and custom OIDs (a scalar and a table
# column named by another column) from the same script, also over SNMPv1
# with an OID the device refuses. Every value in the RRD files must match
# snmpget of the same OID.
set -eu
. "$(dirname "$0")/lib.sh"
need_tools snmpd snmpget snmpwalk rrdtool python3
W=$(mktemp -d /tmp/vakt-it-hostdata.XXXXXX)
trap 'cleanup && s=0 || s=$?; [ -n "${KEEP:-}" ] || rm -rf "$W"; exit $s' EXIT
SRC=${VAKT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}

snmp_port=$(free_port udp)
col_port=$(free_port tcp)
community="vakt$$"

# The UPS (UPS-MIB, 1.3.6.1.2.1.33) and a vendor subtree (1.3.6.1.4.1.99999):
# a gauge scalar and a table of two fans, named by column 2, counters in 3.
# upsOutputSource is read from a file, so the test can pull the plug.
echo 3 >"$W/ups_source"
cat >"$W/device.py" <<'EOP'
import sys
src = sys.argv[1]
def table():
    t = {
        "1.3.6.1.2.1.33.1.2.1.0": ("integer", "2"),        # upsBatteryStatus normal
        "1.3.6.1.2.1.33.1.2.3.0": ("integer", "42"),       # upsEstimatedMinutesRemaining
        "1.3.6.1.2.1.33.1.2.4.0": ("integer", "87"),       # upsEstimatedChargeRemaining
        "1.3.6.1.2.1.33.1.3.3.1.3.1": ("integer", "231"),  # upsInputVoltage line 1
        "1.3.6.1.2.1.33.1.4.1.0": ("integer", open(src).read().strip()),  # upsOutputSource
        "1.3.6.1.4.1.99999.1.0": ("gauge", "4242"),
        "1.3.6.1.4.1.99999.2.1.2.1": ("string", "fan-a"),
        "1.3.6.1.4.1.99999.2.1.2.2": ("string", "fan-b"),
        "1.3.6.1.4.1.99999.2.1.3.1": ("counter", "1000"),
        "1.3.6.1.4.1.99999.2.1.3.2": ("counter", "2000"),
        # Printer-MIB: a marker's page count, and two supplies (level -3: "some left")
        "1.3.6.1.2.1.43.10.2.1.4.1.1": ("counter", "12345"),
        "1.3.6.1.2.1.43.11.1.1.6.1.1": ("string", "Black Toner"),
        "1.3.6.1.2.1.43.11.1.1.6.1.2": ("string", "Waste Toner Box"),
        "1.3.6.1.2.1.43.11.1.1.8.1.1": ("integer", "100"),
        "1.3.6.1.2.1.43.11.1.1.8.1.2": ("integer", "-2"),
        "1.3.6.1.2.1.43.11.1.1.9.1.1": ("integer", "42"),
        "1.3.6.1.2.1.43.11.1.1.9.1.2": ("integer", "-3"),
    }
    return sorted(t.items(), key=lambda kv: [int(x) for x in kv[0].split(".")])
def key(o):
    return [int(x) for x in o.strip(".").split(".")]
out = sys.stdout
while True:
    line = sys.stdin.readline()
    if not line:
        break
    cmd = line.strip()
    if cmd == "PING":
        out.write("PONG\n")
    elif cmd in ("get", "getnext"):
        oid = sys.stdin.readline().strip().strip(".")
        hit = None
        for o, tv in table():
            if (cmd == "get" and o == oid) or (cmd == "getnext" and key(o) > key(oid)):
                hit = (o, tv)
                break
        if hit:
            out.write(".%s\n%s\n%s\n" % (hit[0], hit[1][0], hit[1][1]))
        else:
            out.write("NONE\n")
    elif cmd == "set":
        sys.stdin.readline()
        sys.stdin.readline()
        out.write("not-writable\n")
    out.flush()
EOP
write_snmpd_conf "$W/snmpd.conf" "$snmp_port" "$community"
cat >>"$W/snmpd.conf" <<EOC
pass_persist .1.3.6.1.2.1.33 /usr/bin/python3 $W/device.py $W/ups_source
pass_persist .1.3.6.1.4.1.99999 /usr/bin/python3 $W/device.py $W/ups_source
pass_persist .1.3.6.1.2.1.43 /usr/bin/python3 $W/device.py $W/ups_source
EOC
MIBS= start snmpd "$W/snmpd.log" /usr/sbin/snmpd -f -Lo -C -c "$W/snmpd.conf" -p "$W/snmpd.pid"
get() { snmpget -v2c -c "$community" -t 2 -r 1 -On -Oqv "127.0.0.1:$snmp_port" "$@"; }
wait_for 10 get 1.3.6.1.2.1.33.1.2.4.0 || fail "snmpd did not answer on 127.0.0.1:$snmp_port (see $W/snmpd.log)"

write_collector_conf "$W" "$col_port" </dev/null
cat >"$W/agent.conf" <<EOC
site = "rissa"
insecure = yes
profile_dir = "$SRC/deploy/profiles"
collector "dc1" { address = "127.0.0.1:$col_port" }
snmp "srv" {
  address = "127.0.0.1:$snmp_port"
  community = "$community"
  profile = "linux"
  interval = 1
  timeout = 400
}
snmp "ups" {
  address = "127.0.0.1:$snmp_port"
  community = "$community"
  profile = "ups"
  interval = 1
  timeout = 400
  oid "temp" {
    oid = "1.3.6.1.4.1.99999.1.0"
    check = "env"
    metric = "temp"
    scale = 0.1
  }
  oid "fans" {
    oid = "1.3.6.1.4.1.99999.2.1.3"
    instance_oid = "1.3.6.1.4.1.99999.2.1.2"
    type = "counter"
    check = "fan"
    metric = "turns"
  }
}
snmp "printer" {
  address = "127.0.0.1:$snmp_port"
  community = "$community"
  profile = "printer"
  interval = 1
  timeout = 400
  # sysName is text: unknown, and said so
  oid "name" { oid = "1.3.6.1.2.1.1.5.0" }
}
# SNMPv1: one GET refused whole for an OID the device lacks (noSuchName):
# the rest is asked again and stored, the missing one unknown and logged
snmp "ups-v1" {
  address = "127.0.0.1:$snmp_port"
  community = "$community"
  version = "1"
  profile = "ups"
  interval = 1
  timeout = 400
  oid "missing" { oid = "1.3.6.1.4.1.99999.9.0" }
}
EOC
"$VAKT_BIN/vakt-agent" --check-config -c "$W/agent.conf" >/dev/null || fail "the config does not check"
start_collector "$W" "$col_port"
start agent "$W/agent.log" "$VAKT_BIN/vakt-agent" -f -v -c "$W/agent.conf"

D="$W/rrd/rissa"
show() { tail -n 30 "$W/agent.log" "$W/collector.log"; ls -R "$W/rrd" || true; }
# a DS holds a value (not unknown) once a file was written twice
has() { [ -f "$1" ] && rrd_flush "$W" && v=$(rrd_last "$1" "$2") && [ "$v" != U ]; }
wait_for 20 has "$D/ups/ups.rrd" on_battery || { show; fail "no UPS values stored"; }
wait_for 10 has "$D/srv/memory.rrd" total || { show; fail "no UCD memory values stored"; }
wait_for 10 test -f "$D/srv/cpu.rrd" || { show; fail "no processor file"; }

# UPS-MIB, through the "ups" profile: on mains first
[ "$(rrd_last "$D/ups/ups.rrd" on_battery)" = 0 ] || { show; fail "on_battery is not 0 on mains"; }
for m in "charge 87" "minutes_left 42" "input_voltage 231" "battery_status 2"; do
	set -- $m
	v=$(rrd_last "$D/ups/ups.rrd" "$1")
	awk -v v="$v" -v w="$2" 'BEGIN { exit !(v == w) }' || { show; fail "ups.rrd $1 is $v, the device says $2"; }
done
log "pulling the UPS's plug"
echo 5 >"$W/ups_source"
on_battery() { rrd_flush "$W" && [ "$(rrd_last "$D/$1/ups.rrd" on_battery)" = 1 ]; }
wait_for 10 on_battery ups || { show; fail "on_battery did not become 1"; }
wait_for 10 on_battery ups-v1 || { show; fail "on_battery did not become 1 on the v1 device"; }

# the v1 device: every UPS value despite the OID it refuses, which is unknown and said so
for m in "charge 87" "minutes_left 42" "input_voltage 231" "battery_status 2" "on_battery 1"; do
	set -- $m
	v=$(rrd_last "$D/ups-v1/ups.rrd" "$1")
	awk -v v="$v" -v w="$2" 'BEGIN { exit !(v == w) }' || { show; fail "ups-v1: ups.rrd $1 is $v, the device says $2"; }
done
[ "$(rrd_last "$D/ups-v1/missing.rrd" value)" = U ] || { show; fail "the OID the v1 device lacks is not unknown"; }
# the run is ok all the same, its reason saying what is missing
[ "$(rrd_last "$D/ups-v1/system.rrd" up)" = 1 ] || { show; fail "a value the v1 device lacks made its run fail"; }
log_has "$W/agent.log" 'snmp "ups-v1": 1 host, UPS or oid value(s) unknown on 127.0.0.1:'"$snmp_port"', e.g. 1.3.6.1.4.1.99999.9.0: noSuchName'

# custom OIDs: the scalar times its scale, the column once per named row, raw counters
v=$(rrd_last "$D/ups/env.rrd" temp)
awk -v v="$v" 'BEGIN { exit !(v > 424.19 && v < 424.21) }' || { show; fail "env.rrd temp is $v, want 4242 x 0.1"; }
[ "$(rrd_last "$D/ups/fan-fan-a.rrd" turns)" = 1000 ] || { show; fail "fan-a's counter is not 1000"; }
[ "$(rrd_last "$D/ups/fan-fan-b.rrd" turns)" = 2000 ] || { show; fail "fan-b's counter is not 2000"; }

# the "printer" profile: a file per supply, named by its description, with level and max
wait_for 10 has "$D/printer/supply-Black_Toner.rrd" max || { show; fail "no printer supplies stored"; }
for m in "Black_Toner level 42" "Black_Toner max 100" "Waste_Toner_Box level -3" "Waste_Toner_Box max -2"; do
	set -- $m
	v=$(rrd_last "$D/printer/supply-$1.rrd" "$2")
	awk -v v="$v" -v w="$3" 'BEGIN { exit !(v == w) }' || { show; fail "supply-$1.rrd $2 is $v, the printer says $3"; }
done
[ "$(rrd_last "$D/printer/marker-1.1.rrd" pages)" = 12345 ] || { show; fail "the printer's page count is not 12345"; }
[ "$(rrd_last "$D/printer/name.rrd" value)" = U ] || { show; fail "a text value is not unknown"; }
log_has "$W/agent.log" 'snmp "printer": 1 host, UPS or oid value(s) unknown on 127.0.0.1:'"$snmp_port"', e.g. 1.3.6.1.2.1.1.5.0: a string, not a number'

# HOST-RESOURCES-MIB storage: every row a file, its size in bytes as the device says
# Rows come and go with mounts (other programs' network namespaces, other
# tests' tmpfs): those there before the agent stored them and still there
# after are compared.
storage_rows() {
	snmpwalk -v2c -c "$community" -On -Oq "127.0.0.1:$snmp_port" 1.3.6.1.2.1.25.2.3.1.3 |
		sed -E 's/^\.1\.3\.6\.1\.2\.1\.25\.2\.3\.1\.3\.([0-9]+) "?([^"]*)"?$/\1 \2/' | sort
}
storage_file() { printf '%s/srv/storage-%s.rrd' "$D" "$(printf '%s' "$1" | sed 's/[^A-Za-z0-9_.-]/_/g; s/^\./_/')"; }
# every row listed now and still there has its file with a size stored. The
# test waited 2.5 s for two polls instead: on a loaded machine a row mounted
# just before the list could miss them, and its file was not there yet.
rows_stored() {
	rrd_flush "$W"
	storage_rows | comm -12 - "$W/storage.before" | while read -r idx descr; do
		v=$(rrd_last "$(storage_file "$descr")" size 2>/dev/null) && [ "$v" != U ] || return 1
	done
}
storage_rows >"$W/storage.before"
wait_for 20 rows_stored ||
	{ show; storage_rows | comm -12 - "$W/storage.before"; fail "hrStorage rows listed by snmpwalk have no file with a size"; }
# before the stop: it waited for these polls after it, when none could come
polled_srv() { [ "$(grep -c 'check "srv": ok' "$W/agent.log")" -ge 3 ]; }
wait_for 20 polled_srv || { show; fail "srv was not polled 3 times"; }
# The load moves (the kernel recomputes it every 5 s): an snmpget seconds
# after the last poll could differ from it by more than any tolerance on a
# loaded machine. So the poll compared is one made between two snmpgets
# while the agent runs: one right before it (the file's next update is
# stamped 2 s after), one right after the file was read; its value lies
# between theirs.
load1_before=$(get 1.3.6.1.4.1.2021.10.1.5.1)
after_get=$(($(date +%s) + 2))
polled_since() { rrd_flush "$W" && [ "$(rrdtool last "$D/srv/load.rrd")" -ge "$after_get" ]; }
wait_for 20 polled_since || { show; fail "no poll of srv's load after the snmpget"; }
rload1=$(rrd_last "$D/srv/load.rrd" load1)
load1_after=$(get 1.3.6.1.4.1.2021.10.1.5.1)
awk -v r="$rload1" -v a="$load1_before" -v b="$load1_after" 'BEGIN {
	lo = (a < b ? a : b) / 100; hi = (a < b ? b : a) / 100
	exit !(r >= lo - 0.005 && r <= hi + 0.005) }' ||
	fail "load1 $rload1 in the RRD file, snmpget says $load1_before / 100 before the poll and $load1_after / 100 after"
log "load1 $rload1 in the RRD file, between snmpget's $load1_before and $load1_after / 100"
stop agent
rrd_flush "$W"
n=0 exact=0
while read -r idx descr; do
	file=$(storage_file "$descr")
	[ -f "$file" ] || { show; fail "no file $file for hrStorage row $idx ($descr)"; }
	units=$(get "1.3.6.1.2.1.25.2.3.1.4.$idx")
	size=$(get "1.3.6.1.2.1.25.2.3.1.5.$idx")
	used=$(get "1.3.6.1.2.1.25.2.3.1.6.$idx")
	rsize=$(rrd_last "$file" size)
	rused=$(rrd_last "$file" used)
	type=$(get "1.3.6.1.2.1.25.2.3.1.2.$idx")
	# The size of a filesystem, of RAM and of virtual memory is fixed: exact.
	# What is used moves between the last poll and snmpget: a filesystem's
	# within 5 % of its size or 64 MiB; memory in use can move by gigabytes
	# in a second on a busy machine, so it need only be bytes within the size
	# (slack 1). The other memory areas (buffers, cached, shared) move whole:
	# a number of bytes is all that is asked of them.
	case "$type" in
	*.25.2.1.4) slack="0.05 67108864" ;;
	*.25.2.1.2 | *.25.2.1.3) slack="1 0" ;;
	*) slack="" ;;
	esac
	if [ -z "$slack" ]; then
		awk -v r="$rsize" -v q="$rused" 'BEGIN { exit !(r ~ /^[0-9.e+]+$/ && q ~ /^[0-9.e+]+$/) }' ||
			fail "$descr: size $rsize or used $rused in the RRD file is not a number of bytes"
		n=$((n + 1))
		continue
	fi
	set -- $slack
	exact=$((exact + 1))
	awk -v r="$rsize" -v s="$size" -v u="$units" 'BEGIN { exit !(r == s * u) }' ||
		fail "$descr: size $rsize in the RRD file, snmpget says $size x $units"
	awk -v r="$rused" -v s="$used" -v u="$units" -v t="$size" -v f="$1" -v m="$2" 'BEGIN {
		d = r - s * u; if (d < 0) d = -d; exit !(d <= t * u * f || d <= m) }' ||
		fail "$descr: used $rused in the RRD file, snmpget says $used x $units"
	n=$((n + 1))
done < <(storage_rows | comm -12 - "$W/storage.before")
[ "$exact" -gt 0 ] || fail "snmpd lists no filesystem or memory of a fixed size"
log "$n hrStorage rows stored; $exact of a fixed size match snmpget"

# processors: one file per hrProcessorTable row, and their average; snmpd has
# a load only after a minute: until then it is unknown in the files as well
ncpu=$(snmpwalk -v2c -c "$community" -On -Oq "127.0.0.1:$snmp_port" 1.3.6.1.2.1.25.3.3.1.1 | grep -c . || true)
[ "$ncpu" -gt 0 ] || fail "snmpd lists no processors"
idx=($(snmpwalk -v2c -c "$community" -On -Oq "127.0.0.1:$snmp_port" 1.3.6.1.2.1.25.3.3.1.1 | sed -E 's/^[.0-9]*\.([0-9]+) .*/\1/'))
for i in $(seq 0 $((ncpu - 1))); do
	[ -f "$D/srv/cpu-$i.rrd" ] || { show; fail "no file for processor $i of $ncpu"; }
	l=$(get "1.3.6.1.2.1.25.3.3.1.2.${idx[$i]}" | grep -E '^[0-9]+$' || echo U)
	r=$(rrd_last "$D/srv/cpu-$i.rrd" load)
	awk -v r="$r" -v l="$l" 'BEGIN { if (l == "U") exit !(r == "U"); d = r - l; exit !(d < 50 && d > -50) }' ||
		fail "processor $i: load $r in the RRD file, snmpget says $l"
done
[ ! -f "$D/srv/cpu-$ncpu.rrd" ] || fail "more processor files than snmpd has processors"
log "$ncpu processors stored"
# hrProcessorFrwID is an OID, which the agent keeps no value of: -v says so
# once for the device, not for every processor at every poll (3 or more)
n=$(grep -c 'snmp "srv": .*hrProcessorFrwID (.*) has unexpected type 0x06; said once for this device' "$W/agent.log" || true)
[ "$n" = 1 ] || { grep "unexpected type" "$W/agent.log" | head -n 5; fail "hrProcessorFrwID's type was logged $n times for srv, not once"; }

# UCD-SNMP-MIB: memory total in bytes exactly, load averages close to the device's
total=$(get 1.3.6.1.4.1.2021.4.5.0)
rtotal=$(rrd_last "$D/srv/memory.rrd" total)
awk -v r="$rtotal" -v t="$total" 'BEGIN { exit !(r == t * 1024) }' ||
	fail "memory total $rtotal in the RRD file, snmpget says $total kB"
for m in load5 load15; do rrd_last "$D/srv/load.rrd" $m >/dev/null || fail "no $m"; done
for m in avail buffer cached swap_total swap_avail; do rrd_last "$D/srv/memory.rrd" $m >/dev/null || fail "no memory $m"; done
echo "PASS: storage, processors, load, memory, UPS (on battery, v2c and v1), printer supplies and custom OIDs stored as snmpget reads them"
