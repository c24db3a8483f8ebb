#!/bin/bash
# test_tls_renegotiation_refused.sh - a TLS 1.2 client with a valid site
# certificate that asks to renegotiate is refused, and the collector says so
# in a warning naming the peer, not only in a debug line.
set -eu
. "$(dirname "$0")/lib.sh"
command -v openssl >/dev/null || { echo "SKIP: openssl missing"; exit 77; }
W=$(mktemp -d /tmp/vakt-it-reneg.XXXXXX)
trap 'cleanup && s=0 || s=$?; [ -n "${KEEP:-}" ] || rm -rf "$W"; exit $s' EXIT
PKI="$VAKT_SRC/deploy/pki/vakt-pki"
P="$W/pki"

"$PKI" init "$P" >/dev/null
"$PKI" collector "$P" dc1 localhost 127.0.0.1 >/dev/null
"$PKI" site "$P" rissa >/dev/null
col_port=$(free_port tcp)
mkdir -p "$W/rrd"
cat >"$W/collector.conf" <<EOC
listen = {"127.0.0.1:$col_port"}
data_dir = "$W/rrd"
step = 1
$(test_archives)
control_socket = "$W/collector.sock"
sites = {"rissa"}
tls {
  ca = "$P/ca.crt"
  cert = "$P/certs/dc1.crt"
  key = "$P/private/dc1.key"
}
EOC
# not -v: the line must show at the default level
start collector "$W/collector.log" "$VAKT_BIN/vakt-collector" -f -c "$W/collector.conf"
wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$col_port" ||
	{ cat "$W/collector.log"; fail "the collector did not listen on $col_port"; }

# s_client renegotiates on a line "R"; the collector refuses, the client gives up
{ sleep 1; echo R; sleep 2; } | timeout 10 openssl s_client -tls1_2 -connect "127.0.0.1:$col_port" \
	-servername localhost -CAfile "$P/ca.crt" -cert "$P/certs/rissa.crt" \
	-key "$P/private/rissa.key" >"$W/client.log" 2>&1 || true
log_has "$W/collector.log" "closed before hello: the agent asked to renegotiate TLS, which this collector refuses"
grep -E 'session 127\.0\.0\.1:[0-9]+: closed before hello: the agent asked to renegotiate' \
	"$W/collector.log" >/dev/null || { cat "$W/collector.log"; fail "the line does not name the peer"; }
echo "PASS: a refused TLS renegotiation is logged, naming the peer"
