#!/bin/bash
# test_pki.sh - deploy/pki/vakt-pki as an operator uses it: a CA, a collector
# and a site certificate that openssl accepts for a mutual TLS handshake on
# loopback; a revoked site certificate is refused once the CRL is checked;
# bad names and a second init are refused with a reason.
set -eu
. "$(dirname "$0")/lib.sh"
command -v openssl >/dev/null || { echo "SKIP: openssl missing"; exit 77; }
W=$(mktemp -d /tmp/vakt-it-pki.XXXXXX)
trap 'cleanup && s=0 || s=$?; [ -n "${KEEP:-}" ] || rm -rf "$W"; exit $s' EXIT
PKI="$VAKT_SRC/deploy/pki/vakt-pki"
P="$W/pki"

"$PKI" init "$P" >/dev/null
"$PKI" collector "$P" dc1 localhost collector.fosen.example >/dev/null
"$PKI" site "$P" rissa >/dev/null
[ "$(stat -c %a "$P/private")" = 700 ] || fail "private/ is not mode 700"
[ "$(stat -c %a "$P/private/rissa.key")" = 600 ] || fail "a key is not mode 600"
openssl verify -CAfile "$P/ca.crt" "$P/certs/dc1.crt" "$P/certs/rissa.crt" >/dev/null ||
	fail "openssl does not accept the certificates"
openssl x509 -in "$P/certs/rissa.crt" -noout -subject | grep -q "CN = rissa" || fail "site CN"
openssl x509 -in "$P/certs/dc1.crt" -noout -ext subjectAltName | grep -q "DNS:collector.fosen.example" ||
	fail "collector SAN"

# handshake: the server demands a client certificate from the CA, the client
# checks the server's name; returns s_client's status
handshake() {
	port=$(free_port tcp)
	: >"$W/s_server.log"
	# -www: answers a GET with a status page, and reads no stdin of its own
	start tls "$W/s_server.log" openssl s_server -accept "127.0.0.1:$port" -www \
		-cert "$P/certs/dc1.crt" -key "$P/private/dc1.key" -CAfile "$P/ca.crt" \
		-Verify 1 -verify_return_error "$@"
	wait_for 10 grep -q ACCEPT "$W/s_server.log" || { cat "$W/s_server.log"; fail "s_server did not start"; }
	printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -connect "127.0.0.1:$port" \
		-servername localhost -verify_hostname localhost -verify_return_error \
		-CAfile "$P/ca.crt" -cert "$P/certs/rissa.crt" -key "$P/private/rissa.key" \
		-quiet >"$W/s_client.log" 2>&1 || true
	stop tls
	# the page comes only if each side accepted the other's certificate
	grep -q "HTTP/1.0 200 ok" "$W/s_client.log"
}
handshake || { cat "$W/s_client.log" "$W/s_server.log"; fail "mutual TLS with the new certificates failed"; }

log "revoking rissa"
"$PKI" revoke "$P" "$P/certs/rissa.crt" >/dev/null
mv "$P"/certs/rissa.crt.revoked.* "$P/certs/rissa.crt"
cat "$P/ca.crt" "$P/crl.pem" >"$W/ca+crl.pem"
if handshake -CAfile "$W/ca+crl.pem" -crl_check; then
	fail "a revoked site certificate was accepted"
fi
grep -q "revoked" "$W/s_server.log" "$W/s_client.log" || { cat "$W/s_server.log"; fail "no word of the revocation"; }

set +e
out=$("$PKI" site "$P" "bad/name" 2>&1)
rc=$?
set -e
[ "$rc" = 1 ] && [ "$out" = "vakt-pki: site \"bad/name\" must be letters, digits, '.', '_' or '-' and not start with '.'" ] ||
	fail "bad name: $rc $out"
set +e
out=$("$PKI" init "$P" 2>&1)
rc=$?
set -e
[ "$rc" = 1 ] && [ "$out" = "vakt-pki: $P already holds a CA; refusing to overwrite it" ] || fail "second init: $rc $out"
echo "PASS: CA, collector and site certificates work for mutual TLS; a revoked one is refused"
