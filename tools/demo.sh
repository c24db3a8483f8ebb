#!/bin/bash
# demo.sh - Vakt on loopback: a local snmpd and a small TCP service, watched
# by one agent that streams to one collector writing RRD files and alerts,
# over mutual TLS with a demo CA made by deploy/pki/vakt-pki.
# Runs until Ctrl-C, or for DEMO_SECONDS seconds; stops all it started.
set -eu

BUILD=${1:-build}
cd "$(dirname "$0")/.."
. tests/integration/lib.sh
VAKT_BIN=$BUILD/bin
DEMO=$(pwd)/$BUILD/demo
SECONDS_TO_RUN=${DEMO_SECONDS:-0}

for b in vakt-agent vakt-collector vaktctl; do
	[ -x "$VAKT_BIN/$b" ] || fail "$VAKT_BIN/$b is missing: run 'make demo' (it builds first)"
done

rm -rf "$DEMO"
mkdir -p "$DEMO/rrd"
: >"$DEMO/alerts.log"
trap 'cleanup' EXIT
trap 'echo; log "stopping the demo"; exit 0' INT TERM

snmp_port=$(free_port udp 161)
web_port=$(free_port tcp 8080)
collector_port=$(free_port tcp 7060)
community=demo

# the demo's own CA, collector and site certificates, as an operator makes them
PKI=$DEMO/pki
deploy/pki/vakt-pki init "$PKI" >/dev/null
deploy/pki/vakt-pki collector "$PKI" local localhost >/dev/null
deploy/pki/vakt-pki site "$PKI" demo >/dev/null

cat >"$DEMO/collector.conf" <<EOC
# Demo collector: mutual TLS on loopback, RRD step 10 s so graphs fill quickly.
listen = {"127.0.0.1:$collector_port"}
data_dir = "$DEMO/rrd"
step = 10
control_socket = "$DEMO/collector.sock"
sites = {"demo"}
tls {
  ca = "$PKI/ca.crt"
  cert = "$PKI/certs/local.crt"
  key = "$PKI/private/local.key"
  crl = "$PKI/crl.pem"
}
# the write-back cache writes a file within 10 s (default 300 s), so that rrdtool sees it fill
cache_flush_age = 10

channel "alerts" {
  kind = "log"
  file = "$DEMO/alerts.log"
}

# silence is an alert without a rule: a failing check, a file without data,
# an agent that says nothing; the demo pages after two failed runs
watch {
  unreachable = 2
  agent_down = 30
  channels = {"alerts"}
}

# "down" is 1 for a port meant to be up (ifAdminStatus up) that is not:
# ports that are shut never page
rule "interface-down" {
  check = "if"
  metric = "down"
  above = 0.5
  channels = {"alerts"}
}
EOC

cat >"$DEMO/agent.conf" <<EOC
# Demo agent: one SNMP device and one TCP service, both on loopback.
site = "demo"
name = "demo-agent"
collector "local" {
  address = "127.0.0.1:$collector_port"
  server_name = "localhost"   # the name in the collector's certificate
}
tls {
  ca = "$PKI/ca.crt"
  cert = "$PKI/certs/demo.crt"   # its CN is the site
  key = "$PKI/private/demo.key"
}

# device profiles from the source tree (an installed agent reads <prefix>/share/vakt/profiles)
profile_dir = "$(pwd)/deploy/profiles"

snmp "localhost" {
  address = "127.0.0.1:$snmp_port"
  community = "$community"
  profile = "linux"             # storage, processors, load and memory of this machine
  interfaces = {"lo"}
  interval = 5
}

probe "web" {
  kind = "tcp"
  address = "127.0.0.1:$web_port"
  interval = 5
  timeout = 2000
}
EOC

"$VAKT_BIN/vakt-collector" -n -c "$DEMO/collector.conf"
"$VAKT_BIN/vakt-agent" -n -c "$DEMO/agent.conf"

start_snmpd "$DEMO" "$snmp_port" "$community"
start_tcp_service web "$DEMO" "$web_port"
start collector "$DEMO/collector.log" "$VAKT_BIN/vakt-collector" -f -c "$DEMO/collector.conf"
wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$collector_port" ||
	fail "the collector did not start (see $DEMO/collector.log)"
start agent "$DEMO/agent.log" "$VAKT_BIN/vakt-agent" -f -c "$DEMO/agent.conf"

cat <<EOT

  Vakt demo is running (site "demo", agent and collector on 127.0.0.1, mutual TLS)
    snmpd          udp 127.0.0.1:$snmp_port  community "$community"
    TCP service    127.0.0.1:$web_port       (probe "web")
    collector      127.0.0.1:$collector_port  log $DEMO/collector.log
    agent          log $DEMO/agent.log
    certificates   $PKI: CA ca.crt, collector certs/local.crt, site certs/demo.crt,
                   keys in private/, CRL crl.pem (deploy/pki/vakt-pki revoke|crl $PKI ...)

  RRD files:   $DEMO/rrd/demo/<host>/<check>[-<instance>].rrd
  Alert log:   $DEMO/alerts.log
  Try:         rrdtool lastupdate $DEMO/rrd/demo/localhost/if-lo.rrd
               rrdtool lastupdate $DEMO/rrd/demo/localhost/memory.rrd   # profile "linux"
               ls $DEMO/rrd/demo/localhost/      # storage-<filesystem>.rrd, cpu-<n>.rrd, load.rrd
               rrdtool fetch $DEMO/rrd/demo/127.0.0.1/web.rrd AVERAGE -s -5min
               $VAKT_BIN/vaktctl -s $DEMO/collector.sock status
               $VAKT_BIN/vaktctl -s $DEMO/collector.sock flush --all   # write the cache to the files now
               kill $PID_web    # stops the TCP service: "unreachable", with the reason, in the alert log
               tail -f $DEMO/alerts.log
  $( [ "$SECONDS_TO_RUN" -gt 0 ] && echo "Stopping by itself after $SECONDS_TO_RUN s." || echo "Ctrl-C stops everything." )

EOT

elapsed=0
while [ "$SECONDS_TO_RUN" -eq 0 ] || [ "$elapsed" -lt "$SECONDS_TO_RUN" ]; do
	sleep 1
	elapsed=$((elapsed + 1))
	for name in collector agent; do
		eval "pid=\$PID_$name"
		kill -0 "$pid" 2>/dev/null || fail "vakt-$name exited (see $DEMO/$name.log)"
	done
done

"$VAKT_BIN/vaktctl" -s "$DEMO/collector.sock" status || true
stop agent
stop collector
echo
log "RRD files written:"
found=0
for f in $(find "$DEMO/rrd" -name '*.rrd' | sort); do
	found=1
	printf '  %s\n' "$f"
	rrdtool lastupdate "$f" | sed 's/^/      /'
done
[ "$found" = 1 ] || fail "no RRD files were written (see $DEMO/collector.log)"
log "alerts: $(wc -l <"$DEMO/alerts.log" 2>/dev/null || echo 0) lines in $DEMO/alerts.log"
