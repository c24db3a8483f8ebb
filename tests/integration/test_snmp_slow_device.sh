#!/bin/bash
# test_snmp_slow_device.sh - a device that takes 300 ms to answer each
# request (a UDP proxy in front of snmpd), with interfaces named in the
# config so that each run reads the interface table as well as the values:
# with a timeout that allows one answer, every run polls it completely, every
# interval, and its RRD files fill without gaps. A second device behind its
# own proxy answers small requests at once but takes 0.4 ms a byte: a GETBULK
# of 25 rows takes longer than the timeout, so the agent asks fewer rows once
# one times out, and then polls it completely. A third never answers a
# request for its host MIB: each run times out, naming that request, and the
# interface values it answered before are stored all the same; so does a
# fourth, the same over SNMPv3 (authNoPriv, so that the proxy sees the OID).
set -eu
. "$(dirname "$0")/lib.sh"
need_tools snmpd snmpget rrdtool python3
W=$(mktemp -d /tmp/vakt-it-slow.XXXXXX)
trap 'cleanup && s=0 || s=$?; [ -n "${KEEP:-}" ] || rm -rf "$W"; exit $s' EXIT

snmp_port=$(free_port udp)
proxy_port=$(free_port udp)
col_port=$(free_port tcp)
community="vakt$$"
v3auth="slow-auth-$$"
start_snmpd "$W" "$snmp_port" "$community" "createUser vaktslow SHA \"$v3auth\"
rouser vaktslow auth"
start proxy "$W/proxy.log" python3 "$(dirname "$0")/udp_delay_proxy.py" 127.0.0.1 "$proxy_port" \
	127.0.0.1 "$snmp_port" 300
bulk_port=$(free_port udp)
start bulkproxy "$W/bulkproxy.log" python3 "$(dirname "$0")/udp_delay_proxy.py" 127.0.0.1 \
	"$bulk_port" 127.0.0.1 "$snmp_port" 0 400
half_port=$(free_port udp)
start halfproxy "$W/halfproxy.log" python3 "$(dirname "$0")/udp_delay_proxy.py" 127.0.0.1 \
	"$half_port" 127.0.0.1 "$snmp_port" 0 0 2b0601020119
half3_port=$(free_port udp)
start half3proxy "$W/half3proxy.log" python3 "$(dirname "$0")/udp_delay_proxy.py" 127.0.0.1 \
	"$half3_port" 127.0.0.1 "$snmp_port" 0 0 2b0601020119
wait_for 10 snmpget -v2c -c "$community" -t 1 -r 0 "127.0.0.1:$proxy_port" 1.3.6.1.2.1.1.3.0 ||
	fail "no answer through the delaying proxy"
t0=$(date +%s%N)
snmpget -v2c -c "$community" -t 1 -r 0 "127.0.0.1:$proxy_port" 1.3.6.1.2.1.1.3.0 >/dev/null
took=$(( ($(date +%s%N) - t0) / 1000000 ))
log "one request through the proxy takes $took ms"
[ "$took" -ge 300 ] || fail "the proxy does not delay ($took ms)"

write_collector_conf "$W" "$col_port" </dev/null
# the table is read again every minute (the shortest table_refresh), and at the first run
cat >"$W/agent.conf" <<EOC
site = "rissa"
insecure = yes
collector "dc1" { address = "127.0.0.1:$col_port" }
snmp "slow-sw" {
  address = "127.0.0.1:$proxy_port"
  community = "$community"
  interfaces = {"lo", "nosuch0"}
  table_refresh = 60
  interval = 2
  timeout = 700
  retries = 0
}
snmp "bulky-sw" {
  address = "127.0.0.1:$bulk_port"
  community = "$community"
  interfaces = {"lo"}
  mibs = {"host"}
  interval = 2
  timeout = 700
  retries = 0
}
snmp "half-sw" {
  address = "127.0.0.1:$half_port"
  community = "$community"
  interfaces = {"lo"}
  mibs = {"host"}
  interval = 2
  timeout = 500
  retries = 0
}
snmp "half-v3" {
  address = "127.0.0.1:$half3_port"
  version = "3"
  security_name = "vaktslow"
  auth_protocol = "SHA"
  auth_password = "$v3auth"
  interfaces = {"lo"}
  mibs = {"host"}
  interval = 2
  timeout = 500
  retries = 0
}
EOC
start_collector "$W" "$col_port"
start agent "$W/agent.log" "$VAKT_BIN/vakt-agent" -f -v -c "$W/agent.conf"

ifl="$W/rrd/rissa/slow-sw/if-lo.rrd"
wait_for 15 test -f "$ifl" || { tail -n 20 "$W/agent.log"; fail "no file for lo"; }
sleep 12
runs=$(grep -c 'snmp "slow-sw": ok after' "$W/agent.log" || true)
log "$runs runs complete; $(grep -o 'ok after [0-9]* ms, [0-9]* request(s)' "$W/agent.log" | sort | uniq -c | tr '\n' ';')"
[ "$runs" -ge 6 ] || { tail -n 30 "$W/agent.log"; fail "only $runs complete runs in about 14 s at an interval of 2 s"; }
cut='slow-sw.*(-> timeout|: timeout|overrun|still busy|partial)'
! grep -Eq "$cut" "$W/agent.log" || { grep -E "$cut" "$W/agent.log" | head; fail "a run of the slow device was cut short"; }
# the first run read the table too: more than one request, each 300 ms
grep -Eq 'snmp "slow-sw": ok after (6|7|8|9|1[0-9])[0-9]{2} ms, [3-9] request' "$W/agent.log" ||
	fail "no run read the table and the values (3 requests or more, 0.6 s or more)"
# every interval is in the file: the last 10 s hold a value at least every 2 s
rrd_flush "$W"
known=$(rrdtool fetch "$ifl" LAST -r 1 -s -11 -e -1 |
	awk 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "oper_status") c = i + 1; next }
	     c && $c ~ /^[0-9]/ { n++ } END { print n + 0 }')
[ "$known" -ge 4 ] || { rrdtool fetch "$ifl" LAST -r 1 -s -11 -e -1; fail "only $known stored oper_status values in the last 10 s"; }
# the device too slow for 25 rows a GETBULK: fewer rows, said once each time, then complete runs
log "bulky-sw: $(grep -o 'answer of [0-9]* bytes, [0-9]* ms' "$W/bulkproxy.log" | sort -t' ' -k3n | uniq -c | tail -n 4 | tr '\n' ';')"
grep -q 'snmp "bulky-sw": no answer from .* to a GETBULK of 25 rows .* 12 rows per request from now on' "$W/agent.log" ||
	{ grep 'bulky-sw' "$W/agent.log" | tail -n 20; fail "no GETBULK of bulky-sw timed out, or its rows were not halved"; }
bruns=$(grep -c 'snmp "bulky-sw": ok after' "$W/agent.log" || true)
[ "$bruns" -ge 2 ] || { grep 'bulky-sw' "$W/agent.log" | tail -n 20; fail "bulky-sw was polled completely $bruns times: its GETBULKs did not get smaller"; }
rrd_flush "$W"
for f in if-lo:oper_status storage-Physical_memory:size; do
	rrd_last "$W/rrd/rissa/bulky-sw/${f%:*}.rrd" "${f#*:}" | grep -Eq '^[0-9]' ||
		fail "bulky-sw: no ${f#*:} stored in ${f%:*}.rrd"
done
# the device that hangs on its host MIB: timeouts naming that request, its interfaces stored
grep -Eq 'check "half-sw": timeout in [0-9]+ ms: no answer from .* to request [0-9]+ of this run \(host, UPS or oid values\)' "$W/agent.log" ||
	{ grep 'half-sw' "$W/agent.log" | tail -n 20; fail "half-sw's runs did not time out naming the host MIB's request"; }
! grep -q 'snmp "half-sw": ok after' "$W/agent.log" || fail "a run of half-sw was ok though its host MIB never answered"
hl="$W/rrd/rissa/half-sw/if-lo.rrd"
[ -f "$hl" ] || { grep 'half-sw' "$W/agent.log" | tail -n 20; ls -R "$W/rrd/rissa/half-sw" || true; fail "half-sw: the interface values answered before the timeout were not stored"; }
hknown=$(rrdtool fetch "$hl" LAST -r 1 -s -11 -e -1 |
	awk 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "in_octets") c = i + 1; next }
	     c && $c ~ /^[0-9]/ { n++ } END { print n + 0 }')
[ "$hknown" -ge 3 ] || { rrdtool fetch "$hl" LAST -r 1 -s -11 -e -1; fail "half-sw: only $hknown in_octets values stored in the last 10 s"; }
[ "$(rrd_last "$W/rrd/rissa/half-sw/system.rrd" up)" = 0 ] || fail "half-sw: system.rrd's up is not 0 after its timeouts"
! ls "$W/rrd/rissa/half-sw/" | grep -q '^storage' || fail "half-sw: storage values stored though its host MIB never answered"
# the same over SNMPv3: the timeout names the request, not a wrong priv_password or a device down
grep -Eq 'check "half-v3": timeout in [0-9]+ ms: no answer from 127.0.0.1:'"$half3_port"' within 0.5 s to request [0-9]+ of this run \(host, UPS or oid values\), though it answered the [0-9]+ before it' "$W/agent.log" ||
	{ grep 'half-v3' "$W/agent.log" | tail -n 20; fail "half-v3's runs did not time out naming the host MIB's request"; }
[ -f "$W/rrd/rissa/half-v3/if-lo.rrd" ] || { grep 'half-v3' "$W/agent.log" | tail -n 20; fail "half-v3: the interface values answered before the timeout were not stored"; }
grep -q "$v3auth" "$W/agent.log" && fail "a v3 password reached the log"
echo "PASS: a device answering in 300 ms, polled by name, completely every interval; one too slow for 25 rows a GETBULK, completely once asked fewer; v2c and v3 devices hanging on their host MIB time out naming that request"
