#!/bin/bash
# test_snmp_recorded_devices.sh - snmpsim serves recordings of real devices
# (a Cisco switch stack of 59 interfaces, 4 of them without 64-bit counters,
# and a Linux server): with interfaces = "all" the agent stores one file per
# interface, and every value in them is what snmpbulkwalk reads of the same
# OIDs. A third section takes the Ethernet ports only, less the gigabit ones
# (if_types, exclude). A Windows XP host's volumes are stored by their drive,
# not by the label and serial Windows adds to the name, and its CD drive
# without a disc as 0 bytes, not unknown.
# Three devices go wrong: a ProCurve whose ifNumber is 32 but whose
# interface table lists nothing ("all" polls nothing, and the run says so),
# snmpsim's variation/error (a GETBULK past its one ifDescr runs into a
# refused object: the port is still found) and variation/delay (a GETBULK
# runs into objects that answer in seconds: the timeout names the request).
set -eu
. "$(dirname "$0")/lib.sh"
need_tools snmpsimd snmpbulkwalk rrdtool python3
# under valgrind every binary runs several times slower: so may the waits
SLOW=$([ -n "${VAKT_VALGRIND:-}" ] && echo 3 || echo 1)
W=$(mktemp -d /tmp/vakt-it-recorded.XXXXXX)
trap 'cleanup && s=0 || s=$?; [ -n "${KEEP:-}" ] || rm -rf "$W"; exit $s' EXIT

data=/usr/share/doc/snmpsim/examples/data
# snmpsimd drops to an unprivileged user, who must read the data and write the cache
mkdir -p "$W/data" "$W/cache"
zcat "$data/cisco_16_switch.snmprec.gz" >"$W/data/cisco_16_switch.snmprec"
zcat "$data/recorded/linux-full-walk.snmprec.gz" >"$W/data/linux-full-walk.snmprec"
zcat "$data/recorded/winxp-full-walk.snmprec.gz" >"$W/data/winxp-full-walk.snmprec"
zcat "$data/hp_perf.snmprec.gz" >"$W/data/hp_perf.snmprec"
# each variation device has a simulator of its own: snmpsimd's v2c
# architecture dies of error.snmprec's errors, and delay.snmprec's waits
# hold up every other answer of its simulator
mkdir -p "$W/err" "$W/slow" "$W/cache-err" "$W/cache-slow"
cp "$data/variation/error.snmprec" "$W/err/"
cp "$data/variation/delay.snmprec" "$W/slow/"
chmod 755 "$W" "$W/data" "$W/err" "$W/slow"
chmod 777 "$W/cache" "$W/cache-err" "$W/cache-slow"
sim_port=$(free_port udp)
err_port=$(free_port udp)
slow_port=$(free_port udp)
col_port=$(free_port tcp)
sim_user=()
[ "$(id -u)" = 0 ] && sim_user=(--process-user=nobody --process-group=nogroup)
# a large --max-varbinds: with the default 64 a big GETBULK can make snmpsimd spin
start snmpsim "$W/snmpsim.log" snmpsimd --data-dir="$W/data" --cache-dir="$W/cache" \
	--agent-udpv4-endpoint="127.0.0.1:$sim_port" --v2c-arch --max-varbinds=65535 \
	--logging-method=null "${sim_user[@]}"
for v in err slow; do
	eval "port=\$${v}_port"
	start "sim_$v" "$W/snmpsim-$v.log" snmpsimd --data-dir="$W/$v" --cache-dir="$W/cache-$v" \
		--agent-udpv4-endpoint="127.0.0.1:$port" --logging-method=null "${sim_user[@]}"
done
wait_for 30 snmpget -v2c -c cisco_16_switch -t 1 -r 0 "127.0.0.1:$sim_port" 1.3.6.1.2.1.1.3.0 ||
	{ cat "$W/snmpsim.log"; fail "snmpsimd did not answer"; }
# ifType.1 and ifAdminStatus.1 answer at once
wait_for 30 snmpget -v2c -c error -t 1 -r 0 "127.0.0.1:$err_port" 1.3.6.1.2.1.2.2.1.3.1 ||
	{ cat "$W/snmpsim-err.log"; fail "snmpsimd (error.snmprec) did not answer"; }
wait_for 30 snmpget -v2c -c delay -t 1 -r 0 "127.0.0.1:$slow_port" 1.3.6.1.2.1.2.2.1.7.1 ||
	{ cat "$W/snmpsim-slow.log"; fail "snmpsimd (delay.snmprec) did not answer"; }

write_collector_conf "$W" "$col_port" </dev/null
cat >"$W/agent.conf" <<EOC
site = "rissa"
insecure = yes
collector "dc1" { address = "127.0.0.1:$col_port" }
snmp "stack" {
  address = "127.0.0.1:$sim_port"
  community = "cisco_16_switch"
  interfaces = "all"
  interval = 2
  timeout = 1500
  retries = 0
}
snmp "stack-fa" {
  address = "127.0.0.1:$sim_port"
  community = "cisco_16_switch"
  interfaces = "all"
  if_types = {"ethernetCsmacd"}
  exclude = {"Gi*"}
  interval = 2
  timeout = 1500
  retries = 0
}
snmp "server" {
  address = "127.0.0.1:$sim_port"
  community = "linux-full-walk"
  interfaces = {"*"}
  interval = 2
  timeout = 1500
  retries = 0
}
snmp "procurve" {
  address = "127.0.0.1:$sim_port"
  community = "hp_perf"
  interfaces = "all"
  interval = 2
  timeout = 1500
  retries = 0
}
snmp "refusing" {
  address = "127.0.0.1:$err_port"
  community = "error"
  interfaces = "all"
  interval = 2
  timeout = 1500
  retries = 0
}
snmp "slow" {
  address = "127.0.0.1:$slow_port"
  community = "delay"
  interfaces = "all"
  interval = 2
  timeout = 1500
  retries = 0
}
snmp "winxp" {
  address = "127.0.0.1:$sim_port"
  community = "winxp-full-walk"
  mibs = {"host"}
  interval = 2
  timeout = 1500
  retries = 0
}
EOC
start_collector "$W" "$col_port"
start agent "$W/agent.log" "$VAKT_BIN/vakt-agent" -f -v -c "$W/agent.conf"

ifiles() { ls "$W/rrd/rissa/$1" 2>/dev/null | grep -c '^if-' || true; }
has_files() { [ "$(ifiles "$1")" = "$2" ]; }
# the collector makes the 100-odd files at the disk's pace: with the
# default archives at a 1-s step (64 MB each), 0.6 s each on a fresh machine
wait_for $((120 * SLOW)) has_files stack 59 || { ls "$W/rrd/rissa/stack"; tail -n 30 "$W/agent.log"; fail "the stack has $(ifiles stack) interface files, not 59"; }
# 52 Ethernet ports (ifType 6) less 4 gigabit ones; no VLAN, stack port or Null0
wait_for $((120 * SLOW)) has_files stack-fa 48 || { ls "$W/rrd/rissa/stack-fa"; fail "stack-fa has $(ifiles stack-fa) interface files, not 48"; }
[ -z "$(ls "$W/rrd/rissa/stack-fa" | grep -E '^if-(Gi|Vl|Nu|Stack)')" ] || { ls "$W/rrd/rissa/stack-fa"; fail "stack-fa polls a port if_types or exclude leave out"; }
linux_n=$(snmpbulkwalk -v2c -c linux-full-walk -On "127.0.0.1:$sim_port" 1.3.6.1.2.1.2.2.1.1 | wc -l)
wait_for $((60 * SLOW)) has_files server "$linux_n" || { ls "$W/rrd/rissa/server"; fail "the server has $(ifiles server) interface files, not $linux_n"; }
# two more polls at least, so that every file holds a complete one
sleep $((5 * SLOW))
rrd_flush "$W"

# what snmpbulkwalk says of each column, as "ifIndex value" lines
walk() { snmpbulkwalk -v2c -c "$1" -On -Oq -Oe "127.0.0.1:$sim_port" "$2" |
		sed -E "s/^\.?$2\.([0-9]+) /\1 /; s/\"//g"; }
check_device() { # COMMUNITY HOST
	local c=$1 h=$2 n=0
	walk "$c" 1.3.6.1.2.1.31.1.1.1.1 >"$W/$h.ifName"
	walk "$c" 1.3.6.1.2.1.2.2.1.2 >"$W/$h.ifDescr"
	for col in 2.2.1.7:admin_status 2.2.1.8:oper_status 31.1.1.1.6:in_octets 31.1.1.1.10:out_octets \
		2.2.1.10:in_octets32 2.2.1.16:out_octets32 2.2.1.14:in_errors 2.2.1.20:out_errors \
		2.2.1.13:in_discards 2.2.1.19:out_discards 2.2.1.5:speed 31.1.1.1.15:highspeed; do
		walk "$c" "1.3.6.1.2.1.${col%%:*}" >"$W/$h.${col##*:}"
	done
	# the name a file has: ifName, else ifDescr; rrdtool's data-source values by ifIndex
	python3 - "$W" "$h" <<'PY' || return 1
import os, re, subprocess, sys
w, h = sys.argv[1], sys.argv[2]
def col(name):
    d = {}
    try:
        for line in open(f"{w}/{h}.{name}"):
            k, _, v = line.rstrip("\n").partition(" ")
            if k.isdigit():
                d[int(k)] = v
    except FileNotFoundError:
        pass
    return d
names, descrs = col("ifName"), col("ifDescr")
cols = {n: col(n) for n in ("admin_status", "oper_status", "in_octets", "out_octets", "in_octets32",
        "out_octets32", "in_errors", "out_errors", "in_discards", "out_discards", "speed", "highspeed")}
bad = 0
for idx in sorted(set(descrs) | set(names)):
    name = names.get(idx) or descrs.get(idx) or str(idx)
    form = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    f = f"{w}/rrd/rissa/{h}/if-{form}.rrd"
    if not os.path.exists(f):
        print(f"{h}: no file {f} for ifIndex {idx} ({name})"); bad += 1; continue
    out = subprocess.run(["rrdtool", "lastupdate", f], capture_output=True, text=True).stdout.split("\n")
    ds = out[0].split()
    vals = dict(zip(ds, out[2].split(":", 1)[1].split()))
    want = {
        "admin_status": cols["admin_status"].get(idx),
        "oper_status": cols["oper_status"].get(idx),
        "in_octets": cols["in_octets"].get(idx, cols["in_octets32"].get(idx)),
        "out_octets": cols["out_octets"].get(idx, cols["out_octets32"].get(idx)),
        "in_errors": cols["in_errors"].get(idx),
        "out_discards": cols["out_discards"].get(idx),
    }
    sp = cols["speed"].get(idx)
    if sp is not None and int(sp) < 4294967295:
        want["speed"] = sp
    elif cols["highspeed"].get(idx) is not None:
        want["speed"] = str(int(cols["highspeed"][idx]) * 1000000)
    for k, v in want.items():
        if v is None:
            continue
        got = vals.get(k)
        if got is None or float(got) != float(v):
            print(f"{h}: {name} {k}: stored {got}, snmpbulkwalk {v}"); bad += 1
if bad:
    sys.exit(1)
print(f"{h}: {len(set(descrs) | set(names))} interfaces match snmpbulkwalk")
PY
}
check_device cisco_16_switch stack || { tail -n 20 "$W/agent.log"; fail "the stack's files differ from snmpbulkwalk"; }
check_device linux-full-walk server || fail "the server's files differ from snmpbulkwalk"
# "C:\ Label:  Serial Number 1848504c" is stored as its drive, C:\
for v in C D Z; do
	[ -f "$W/rrd/rissa/winxp/storage-${v}__.rrd" ] ||
		{ ls "$W/rrd/rissa/winxp"; fail "winxp: no file for volume $v: by its drive"; }
done
[ -z "$(ls "$W/rrd/rissa/winxp" | grep -i label)" ] ||
	{ ls "$W/rrd/rissa/winxp"; fail "winxp: a volume's file is named by its label"; }
# D:\ is a CD drive without a disc (units, size and used 0): 0 bytes, not
# unknown, and the check is not partial for it; C:\ is 1952447 units of 16384
rrd_flush "$W"
for want in "C size 31988891648" "C used 30869553152" "D size 0" "D used 0"; do
	set -- $want
	got=$(rrd_last "$W/rrd/rissa/winxp/storage-${1}__.rrd" "$2") || got=none
	[ "$got" = "$3" ] || fail "winxp: volume $1's $2 is stored as $got, not $3 as snmpbulkwalk says"
done
grep -q 'check "winxp" (snmp): none -> ok$' "$W/agent.log" ||
	{ grep winxp "$W/agent.log"; fail "winxp: its first run is not plain ok"; }
# ifNumber 32, an empty ifTable: interfaces = "all" polls nothing, and says so
log_has "$W/agent.log" "check \"procurve\" (snmp): none -> ok: partial: no interface polled: 127.0.0.1:$sim_port lists no interface (its ifDescr and ifName columns are empty)"
# ifDescr.1 (binary: the port is named by its ifIndex) is found one row at a time
wait_for $((10 * SLOW)) test -f "$W/rrd/rissa/refusing/if-1.rrd" ||
	{ ls "$W/rrd/rissa/refusing"; tail -n 20 "$W/agent.log"; fail "refusing: its one port is not polled"; }
# it answered the GET of sysUpTime (noSuchInstance), then not the walk of
# the interface table in time
log_has "$W/agent.log" "check \"slow\" (snmp): none -> timeout: no answer from 127.0.0.1:$slow_port within 1.5 s to request 2 of this run (ifTable), though it answered the 1 before it"
echo "PASS: every interface of two recorded devices stored once, equal to snmpbulkwalk; if_types and exclude narrow \"all\"; Windows volumes by their drive; an empty interface table, a refused object past a column and a slow walk each said"
