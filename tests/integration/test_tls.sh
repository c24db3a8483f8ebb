#!/bin/bash
# test_tls.sh - mutual TLS between the real agent and collector on loopback,
# with certificates from deploy/pki/vakt-pki: a site's agent gets its values
# into the RRD files; no certificate, another CA's, an expired one, a revoked
# one (CRL reloaded on SIGHUP), a site the collector does not know and site
# A's certificate sending for site B are each refused with a line naming the
# peer, and nothing is written for them. The agent refuses a collector it
# cannot verify, and TLS meeting plaintext fails clearly on both sides.
set -eu
. "$(dirname "$0")/lib.sh"
command -v openssl >/dev/null || { echo "SKIP: openssl missing"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
W=$(mktemp -d /tmp/vakt-it-tls.XXXXXX)
trap 'cleanup && s=0 || s=$?; [ -n "${KEEP:-}" ] || rm -rf "$W"; exit $s' EXIT
PKI="$VAKT_SRC/deploy/pki/vakt-pki"
P="$W/pki"
O="$W/other-ca"

"$PKI" init "$P" >/dev/null
"$PKI" collector "$P" dc1 localhost 127.0.0.1 >/dev/null
for s in rissa leksvik stjordal; do "$PKI" site "$P" "$s" >/dev/null; done
# another installation's CA, with a certificate for a site this one knows
"$PKI" init "$O" >/dev/null
"$PKI" site "$O" frosta >/dev/null
# a certificate from the right CA that expired: valid in January 2020 only
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=orkland" \
	-keyout "$P/private/orkland.key" -out "$W/orkland.csr" 2>/dev/null
openssl ca -batch -config "$P/ca.cnf" -extensions site_ext -startdate 20200101000000Z \
	-enddate 20200201000000Z -in "$W/orkland.csr" -out "$P/certs/orkland.crt" -notext \
	2>"$W/orkland.err" || { cat "$W/orkland.err"; fail "cannot make an expired certificate"; }

web_port=$(free_port tcp)
col_port=$(free_port tcp)
mkdir -p "$W/rrd"
cat >"$W/collector.conf" <<EOC
listen = {"127.0.0.1:$col_port"}
data_dir = "$W/rrd"
step = 1
control_socket = "$W/collector.sock"
sites = {"rissa", "leksvik", "frosta", "orkland", "verran"}
tls {
  ca = "$P/ca.crt"
  cert = "$P/certs/dc1.crt"
  key = "$P/private/dc1.key"
  crl = "$P/crl.pem"
}
# every agent of this test comes from 127.0.0.1, as from behind one NAT: each
# refusal must show, though the refused agents keep retrying
log_lines_per_address = 1000
$(test_archives)
# values reach the files within a second, as the checks below read them
cache_flush_age = 1
# a changed CRL file is read within 2 s, not the default 30
crl_check_interval = 2
EOC
"$VAKT_BIN/vakt-collector" -n -c "$W/collector.conf" >/dev/null || fail "collector config refused"
# --check-config reads the files: a key of another certificate, a CRL of another CA
check_refused() {
	set +e
	out=$("$VAKT_BIN/vakt-collector" -n -c "$W/bad.conf" 2>&1 >/dev/null)
	rc=$?
	set -e
	[ "$rc" -ne 0 ] && [ "$out" = "$1" ] || fail "--check-config: $rc $out"
}
sed "s|$P/private/dc1.key|$P/private/rissa.key|" "$W/collector.conf" >"$W/bad.conf"
check_refused "$W/bad.conf:7: tls: key \"$P/private/rissa.key\" does not belong to cert \"$P/certs/dc1.crt\""
sed "s|$P/crl.pem|$O/crl.pem|" "$W/collector.conf" >"$W/bad.conf"
check_refused "$W/bad.conf:7: tls: crl \"$O/crl.pem\": not signed by the CA in \"$P/ca.crt\""

# agent_conf NAME SITE CERT KEY [CA] [SERVER_NAME]: writes NAME.conf
agent_conf() {
	cat >"$W/$1.conf" <<EOC
site = "$2"
name = "$1"
collector "dc1" { address = "127.0.0.1:$col_port"  server_name = "${6:-localhost}" }
tls {
  ca = "${5:-$P/ca.crt}"
  cert = "$3"
  key = "$4"
}
probe "web" { kind = "tcp"  address = "127.0.0.1:$web_port"  interval = 1  timeout = 500 }
EOC
}
# agent NAME SITE CERT KEY [CA] [SERVER_NAME]: the same, and starts agent NAME
agent() {
	agent_conf "$@"
	start "$1" "$W/$1.log" "$VAKT_BIN/vakt-agent" -f -v -c "$W/$1.conf"
}
site_agent() { agent "$1" "$2" "$P/certs/$2.crt" "$P/private/$2.key"; }
in_log() { grep -qF -- "$2" "$1"; }
# what the user sees: the collector's line, naming the peer (an address:port)
col_says() { grep -F -- "$1" "$W/collector.log" | grep -E "session 127\.0\.0\.1:[0-9]+: "; }

start_tcp_service web "$W" "$web_port"
start_collector "$W" "$col_port"
in_log "$W/collector.log" "listening on 127.0.0.1:$col_port, TLS: agents need a certificate from $P/ca.crt" ||
	fail "no TLS listening line"
in_log "$W/collector.log" "tls: CRL $P/crl.pem loaded: 0 revoked certificates" || fail "no CRL line"

log "a site's agent over TLS"
# this one checks the collector's IP address (an IP subjectAltName), the others its name
agent good rissa "$P/certs/rissa.crt" "$P/private/rissa.key" "$P/ca.crt" 127.0.0.1
rrd="$W/rrd/rissa/127.0.0.1/web.rrd"
up() { [ -f "$1" ] && [ "$(rrd_last "$1" up)" = 1 ]; }
wait_for 15 up "$rrd" || { cat "$W/good.log" "$W/collector.log"; fail "no data from the good agent"; }
in_log "$W/good.log" "uplink: connected to dc1 (127.0.0.1:$col_port), vakt-collector" ||
	fail "agent: no connected line"
grep -q "uplink: connected to dc1 .*, TLSv1\.[23];" "$W/good.log" || fail "agent: not TLS"
col_says "site \"rissa\", agent \"good\" (vakt-agent " >/dev/null || fail "collector: no session line"
"$VAKT_BIN/vaktctl" -s "$W/collector.sock" status >"$W/status.txt"
grep -q "site \"rissa\" agent \"good\" active, .*, TLS certificate /CN=rissa$" "$W/status.txt" ||
	{ cat "$W/status.txt"; fail "vaktctl status does not show the session's TLS certificate"; }

log "a leksvik agent, before its certificate is revoked"
site_agent leksvik leksvik
lrrd="$W/rrd/leksvik/127.0.0.1/web.rrd"
wait_for 15 up "$lrrd" || { cat "$W/leksvik.log"; fail "no data from leksvik"; }

log "refused: no client certificate"
# the agent always presents its certificate: a bare TLS client stands in
timeout 10 openssl s_client -connect "127.0.0.1:$col_port" -CAfile "$P/ca.crt" \
	-verify_hostname localhost </dev/null >"$W/s_client.log" 2>&1 || true
wait_for 10 col_says "TLS handshake failed: peer did not return a certificate" ||
	{ cat "$W/collector.log"; fail "no certificate: no refusal line"; }

log "refused: another CA, an expired certificate, a site not in sites, a Hello for another site"
agent otherca frosta "$O/certs/frosta.crt" "$O/private/frosta.key"
site_agent expired orkland
site_agent unknown stjordal
# site A's certificate for site B: the agent itself refuses such a config...
agent_conf forger verran "$P/certs/rissa.crt" "$P/private/rissa.key"
set +e
out=$("$VAKT_BIN/vakt-agent" -n -c "$W/forger.conf" 2>&1)
rc=$?
set -e
[ "$rc" -ne 0 ] && [ "$out" = "$W/forger.conf:5: tls: cert \"$P/certs/rissa.crt\" (/CN=rissa) is not for site \"verran\": its CN must be the site" ] ||
	fail "agent accepted site A's certificate for site B: $rc $out"
# ... so a client of our own sends that Hello, and a batch after it
WIRE_DIR=$(cd "$(dirname "$0")" && pwd) python3 - "$col_port" "$P" >"$W/forger.out" 2>&1 <<'PY' &
import os, socket, ssl, sys
sys.path.insert(0, os.environ["WIRE_DIR"])
import wire
port, pki = int(sys.argv[1]), sys.argv[2]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_verify_locations(pki + "/ca.crt")
ctx.load_cert_chain(pki + "/certs/rissa.crt", pki + "/private/rissa.key")
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5),
                    server_hostname="localhost")
s.sendall(wire.frame(wire.hello(site="verran", agent="forger")))
s.sendall(wire.frame(wire.batch(1, [wire.sample(host="h", check="c", metric="m", value=1.0)])))
print(wire.expect(s, "error"))
PY
forger=$!
wait_for 15 col_says "TLS handshake failed: certificate verify failed: unable to get local issuer certificate" ||
	{ cat "$W/collector.log"; fail "another CA: no refusal line"; }
wait_for 15 col_says "TLS handshake failed: certificate verify failed: certificate has expired" ||
	{ cat "$W/collector.log"; fail "expired: no refusal line"; }
wait_for 15 col_says "certificate \"/CN=stjordal\" is for site \"stjordal\", which is not in this collector's sites" ||
	{ cat "$W/collector.log"; fail "unknown site: no refusal line"; }
wait_for 15 col_says "hello for site \"verran\", but the certificate is for site \"rissa\"" ||
	{ cat "$W/collector.log"; fail "site A's certificate for site B: no refusal line"; }
# the agents hear why, and keep trying as after any failed connection
wait "$forger" || { cat "$W/forger.out"; fail "forger: the collector did not answer with an Error"; }
grep -q "hello for site \"verran\", but the certificate is for site \"rissa\"" "$W/forger.out" ||
	{ cat "$W/forger.out"; fail "forger: no Error frame saying why"; }
wait_for 15 in_log "$W/unknown.log" "refused the session: certificate \"/CN=stjordal\" is for site \"stjordal\", which is not in this collector's sites" ||
	{ cat "$W/unknown.log"; fail "unknown site: agent has no refusal line"; }
wait_for 15 grep -q "uplink to dc1 (127.0.0.1:$col_port): TLS.*: .*alert unknown ca" "$W/otherca.log" ||
	{ cat "$W/otherca.log"; fail "another CA: agent has no line"; }
wait_for 15 grep -q "uplink to dc1 (127.0.0.1:$col_port): TLS.*: .*alert certificate expired" "$W/expired.log" ||
	{ cat "$W/expired.log"; fail "expired: agent has no line"; }

log "refused: a revoked certificate, once the collector reloads the CRL on SIGHUP"
cp "$P/certs/leksvik.crt" "$W/leksvik.crt"
"$PKI" revoke "$P" "$P/certs/leksvik.crt" >/dev/null
# the mtime check would see the new file within 30 s; SIGHUP does it now
kill -HUP "$PID_collector"
wait_for 10 in_log "$W/collector.log" "tls: CRL $P/crl.pem reloaded (SIGHUP): 1 revoked certificates" ||
	{ cat "$W/collector.log"; fail "no CRL reload line"; }
wait_for 10 col_says "certificate \"/CN=leksvik\" is revoked by the reloaded CRL" ||
	{ cat "$W/collector.log"; fail "the revoked agent's session was not ended"; }
wait_for 15 col_says "TLS handshake failed: certificate verify failed: certificate revoked" ||
	{ cat "$W/collector.log"; fail "revoked: no refusal line"; }
wait_for 15 grep -q "uplink to dc1 (127.0.0.1:$col_port): TLS.*: .*alert certificate revoked" "$W/leksvik.log" ||
	{ cat "$W/leksvik.log"; fail "revoked: agent has no line"; }
# what leksvik sent before the revocation may still be in the write-back cache
rrd_flush "$W" "$lrrd"
before=$(rrdtool lastupdate "$lrrd" | tail -n 1)

log "a broken CRL keeps the one in use"
cp "$P/crl.pem" "$W/crl.good"
echo "not a CRL" >"$P/crl.pem"
kill -HUP "$PID_collector"
wait_for 10 in_log "$W/collector.log" "tls: reload (SIGHUP): crl \"$P/crl.pem\": not a PEM CRL" ||
	{ cat "$W/collector.log"; fail "no line for a broken CRL"; }
in_log "$W/collector.log" "keeping the certificates and the CRL in use (1 revoked)" ||
	fail "the broken CRL line does not say what is kept"
# a new CRL file is read without a signal: its mtime is looked at every
# crl_check_interval (2 s)
cp "$W/crl.good" "$P/crl.pem"
wait_for 10 in_log "$W/collector.log" "tls: CRL $P/crl.pem reloaded (the CRL file changed): 1 revoked certificates" ||
	{ cat "$W/collector.log"; fail "a changed CRL file was not reloaded"; }

sleep 3
# the good agent still writes; none of the refused ones ever did
wait_for 10 up "$rrd" || fail "the good agent's data stopped"
for s in frosta orkland stjordal verran; do
	[ ! -e "$W/rrd/$s" ] || fail "data was written for refused site $s"
done
rrd_flush "$W" "$lrrd"
[ "$(rrdtool lastupdate "$lrrd" | tail -n 1)" = "$before" ] ||
	fail "data was written for leksvik after its certificate was revoked"
for a in otherca expired unknown leksvik; do stop "$a"; done

log "the agent refuses a collector it cannot verify"
agent distrust rissa "$P/certs/rissa.crt" "$P/private/rissa.key" "$O/ca.crt"
agent wrongname rissa "$P/certs/rissa.crt" "$P/private/rissa.key" "$P/ca.crt" collector.fosen.example
wait_for 15 in_log "$W/distrust.log" "uplink to dc1 (127.0.0.1:$col_port): TLS handshake failed: certificate verify failed: self-signed certificate in certificate chain" ||
	{ cat "$W/distrust.log"; fail "distrust: no line"; }
wait_for 15 in_log "$W/wrongname.log" "uplink to dc1 (127.0.0.1:$col_port): TLS handshake failed: certificate verify failed: hostname mismatch" ||
	{ cat "$W/wrongname.log"; fail "wrong name: no line"; }
stop distrust
stop wrongname
stop good
stop collector

log "TLS meets plaintext: a clear line on both sides"
sed -i '/^tls {/,/^}/d; /^sites/d' "$W/collector.conf"
echo "insecure = yes" >>"$W/collector.conf"
: >"$W/collector.log"
start_collector "$W" "$col_port"
in_log "$W/collector.log" "listening on 127.0.0.1:$col_port in PLAINTEXT (insecure = yes)" ||
	fail "no plaintext warning at start"
: >"$W/good.log"
site_agent good rissa
wait_for 15 col_says "the agent speaks TLS, but this collector is insecure = yes: give the collector a tls section" ||
	{ cat "$W/collector.log"; fail "plaintext collector: no line for a TLS agent"; }
wait_for 15 in_log "$W/good.log" "uplink to dc1 (127.0.0.1:$col_port): TLS handshake failed: connection closed by peer (is the collector insecure = yes, without TLS?)" ||
	{ cat "$W/good.log"; fail "TLS agent: no line for a plaintext collector"; }
stop good
stop collector
# and the other way round: an insecure agent against a TLS collector
cp "$W/collector.conf" "$W/plain-collector.conf"
sed -i '/^insecure = yes$/d' "$W/collector.conf"
cat >>"$W/collector.conf" <<EOC
tls {
  ca = "$P/ca.crt"
  cert = "$P/certs/dc1.crt"
  key = "$P/private/dc1.key"
}
EOC
: >"$W/collector.log"
start_collector "$W" "$col_port"
cat >"$W/plain.conf" <<EOC
site = "rissa"
collector "dc1" { address = "127.0.0.1:$col_port" }
insecure = yes
probe "web" { kind = "tcp"  address = "127.0.0.1:$web_port"  interval = 1  timeout = 500 }
EOC
start plain "$W/plain.log" "$VAKT_BIN/vakt-agent" -f -v -c "$W/plain.conf"
wait_for 15 col_says "TLS handshake failed: wrong version number (the peer does not speak TLS: is it insecure = yes?)" ||
	{ cat "$W/collector.log"; fail "TLS collector: no line saying a plaintext agent speaks no TLS"; }
in_log "$W/plain.log" "insecure = yes: samples travel to the collector in PLAINTEXT" ||
	fail "insecure agent: no warning at start"
wait_for 15 grep -q "uplink to dc1 (127.0.0.1:$col_port): .*(does the collector require TLS? this agent is insecure = yes)\|the collector answers in TLS, but this agent is insecure = yes" "$W/plain.log" ||
	{ cat "$W/plain.log"; fail "insecure agent: no line for a TLS collector"; }
log "OK"
