#!/bin/bash
# test_tls_probe.sh - the tls probe against openssl s_server on loopback with
# certificates of a test CA: (a) a valid certificate, (b) one expiring in 5
# days, (c) an expired one and (d) one for another host name, each reported
# with its outcome, reason and days to expiry in the RRD file; then STARTTLS
# with an SMTP and an IMAP server the test runs (python3), an SMTP server
# that refuses STARTTLS, and a TLS 1.2 server that requires a client
# certificate (down, saying so).
set -eu
. "$(dirname "$0")/lib.sh"
SLOW=$([ -n "${VAKT_VALGRIND:-}" ] && echo 3 || echo 1)
need_tools openssl rrdtool python3
W=$(mktemp -d /tmp/vakt-it-tlsprobe.XXXXXX)
trap 'cleanup && s=0 || s=$?; [ -n "${KEEP:-}" ] || rm -rf "$W"; exit $s' EXIT
P="$W/pki"
server_cert_cases "$W"

cat >"$W/starttls.py" <<'PY'
# starttls.py PORT MODE CERT KEY: a loopback mail server speaking just enough
# SMTP (MODE smtp, or smtp-refuse: 454 to STARTTLS) or IMAP (imap) to start TLS.
import socket, ssl, sys, threading
port, mode, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(16)
def serve(c):
    c.settimeout(10)
    f = c.makefile("rb")
    try:
        if mode.startswith("smtp"):
            c.sendall(b"220-mail.rissa.example ESMTP\r\n220 Vakt test\r\n")
            f.readline()  # EHLO
            c.sendall(b"250-mail.rissa.example\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
            f.readline()  # STARTTLS
            if mode == "smtp-refuse":
                c.sendall(b"454 4.7.0 TLS not available\r\n")
                return
            c.sendall(b"220 2.0.0 Ready to start TLS\r\n")
        else:
            c.sendall(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n")
            tag = f.readline().split(b" ")[0]
            c.sendall(b"* NOTE untagged\r\n" + tag + b" OK Begin TLS negotiation now\r\n")
        t = ctx.wrap_socket(c, server_side=True)
        t.recv(1)
        t.close()
    except (OSError, ssl.SSLError):
        pass
    finally:
        c.close()
while True:
    conn, _ = srv.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
PY

col_port=$(free_port tcp)
declare -A port
for n in valid soon expired wrongname smtp imap refuse clientcert; do port[$n]=$(free_port tcp); done
for n in valid soon expired wrongname; do
	start "$n" "$W/$n.log" openssl s_server -accept "127.0.0.1:${port[$n]}" -cert "$W/$n.crt" \
		-key "$W/$n.key" -www -quiet
done
start clientcert "$W/clientcert.log" openssl s_server -accept "127.0.0.1:${port[clientcert]}" \
	-cert "$W/valid.crt" -key "$W/valid.key" -Verify 1 -tls1_2 -www -quiet
start smtp "$W/smtp.log" python3 "$W/starttls.py" "${port[smtp]}" smtp "$W/valid.crt" "$W/valid.key"
start imap "$W/imap.log" python3 "$W/starttls.py" "${port[imap]}" imap "$W/valid.crt" "$W/valid.key"
start refuse "$W/refuse.log" python3 "$W/starttls.py" "${port[refuse]}" smtp-refuse "$W/valid.crt" "$W/valid.key"
for n in valid soon expired wrongname smtp imap refuse clientcert; do
	wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/${port[$n]}" || fail "$n did not listen on ${port[$n]}"
done
{ pager_channel "$W"; cat <<EOC; } | write_collector_conf "$W" "$col_port"
watch {
  unreachable = 1
}
EOC
{
	cat <<EOC
site = "rissa"
insecure = yes
collector "dc1" { address = "127.0.0.1:$col_port" }
EOC
	for n in valid soon expired wrongname smtp imap refuse clientcert; do
		st=none
		case $n in smtp | refuse) st=smtp ;; imap) st=imap ;; esac
		cat <<EOC
probe "$n" {
  kind = "tls"
  address = "127.0.0.1:${port[$n]}"
  host = "localhost"
  server_name = "localhost"
  starttls = "$st"
  ca = "$P/ca.crt"
  interval = $SLOW
  timeout = $((800 * SLOW))
}
EOC
	done
} >"$W/agent.conf"
"$VAKT_BIN/vakt-agent" --check-config -c "$W/agent.conf" || fail "the agent refused the config"
start_collector "$W" "$col_port"
start agent "$W/agent.log" "$VAKT_BIN/vakt-agent" -f -v -c "$W/agent.conf"

rrd() { echo "$W/rrd/rissa/localhost/$1.rrd"; }
value() { rrd_last "$(rrd "$1")" "$2"; }
last_is() { [ -f "$(rrd "$1")" ] && [ "$(value "$1" "$2")" = "$3" ]; }
between() { awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v >= lo && v <= hi) }'; }
# value_between NAME DS LO HI: the last value is within; retried, since a run
# slowed past its timeout on a busy machine stores an unknown one
value_between() { between "$(value "$1" "$2")" "$3" "$4"; }
# reported NAME TEXT: the page of NAME says "down: TEXT"; or, where a slow
# start (valgrind) made the first failed run a timeout that paged instead, the
# agent's log line of NAME's turn to down says it
reported() {
	{ [ -f "$W/pages.log" ] && grep -F "rissa localhost $1 | " "$W/pages.log" | grep -qF -- "is unreachable: down: $2"; } ||
		{ [ -n "${VAKT_VALGRIND:-}" ] && grep -F "check \"$1\" (tls): " "$W/agent.log" | grep -qF -- "-> down: $2"; }
}

for n in valid soon smtp imap; do
	wait_for $((15 * SLOW)) last_is "$n" up 1 || { show_logs "$W"; fail "$n never stored as up"; }
done
for n in expired wrongname refuse clientcert; do
	wait_for $((10 * SLOW)) last_is "$n" outcome 2 || { show_logs "$W"; fail "$n's outcome (down) is not in its RRD file"; }
done
rrd_flush "$W"
# (a) valid: verified, about 90 days left, TLS 1.3, the handshake timed
wait_for $((5 * SLOW)) value_between valid cert_days_left 89.9 90.01 || fail "valid: cert_days_left $(value valid cert_days_left), expected 90"
wait_for $((5 * SLOW)) last_is valid cert_verify_ok 1 || fail "valid: cert_verify_ok is not 1"
wait_for $((5 * SLOW)) value_between valid tls_version 1.29 1.31 || fail "valid: tls_version $(value valid tls_version), expected 1.3"
wait_for $((5 * SLOW)) value_between valid handshake_time 0.00001 "$((800 * SLOW))e-3" || fail "valid: handshake_time $(value valid handshake_time)"
wait_for $((5 * SLOW)) grep -qE "check \"valid\" \(tls\): [a-z]+ -> ok: TLSv1\.3, subject /CN=valid, 90 days left" "$W/agent.log" ||
	{ show_logs "$W"; fail "valid's reason does not show the version, subject and days left"; }
# (b) expiring in 5 days: still ok, but says so
wait_for $((5 * SLOW)) value_between soon cert_days_left 4.9 5.01 || fail "soon: cert_days_left $(value soon cert_days_left), expected 5"
wait_for $((5 * SLOW)) last_is soon cert_verify_ok 1 || fail "soon: cert_verify_ok is not 1"
wait_for $((5 * SLOW)) grep -qE "check \"soon\" \(tls\): [a-z]+ -> ok: certificate expires in 5 days at 127\.0\.0\.1:${port[soon]} \(TLSv1\.3, subject /CN=soon\)" "$W/agent.log" ||
	{ show_logs "$W"; fail "soon's reason does not warn of the expiry"; }
# (c) expired: down, days negative
wait_for $((5 * SLOW)) value_between expired cert_days_left -3.01 -2.9 || fail "expired: cert_days_left $(value expired cert_days_left), expected -3"
wait_for $((5 * SLOW)) last_is expired cert_verify_ok 0 || fail "expired: cert_verify_ok is not 0"
wait_for $((5 * SLOW)) reported expired "certificate expired 3 days ago at 127.0.0.1:${port[expired]} (TLSv1.3, subject /CN=expired)" ||
	{ show_logs "$W"; fail "the expired certificate did not page with its reason"; }
# (d) another host name: down, though its dates are fine
wait_for $((5 * SLOW)) last_is wrongname cert_verify_ok 0 || fail "wrongname: cert_verify_ok is not 0"
wait_for $((5 * SLOW)) value_between wrongname cert_days_left 89.9 90.01 || fail "wrongname: cert_days_left $(value wrongname cert_days_left)"
wait_for $((5 * SLOW)) reported wrongname "certificate not valid for localhost at 127.0.0.1:${port[wrongname]} (TLSv1.3, subject /CN=wrongname)" ||
	{ show_logs "$W"; fail "the wrong host name did not page with its reason"; }
# STARTTLS: SMTP and IMAP reach the handshake; a refusal pages with the server's words
wait_for $((5 * SLOW)) last_is smtp cert_verify_ok 1 && wait_for $((5 * SLOW)) last_is imap cert_verify_ok 1 ||
	fail "STARTTLS certificates not verified"
wait_for $((5 * SLOW)) value_between smtp cert_days_left 89.9 90.01 || fail "smtp: cert_days_left $(value smtp cert_days_left)"
wait_for $((5 * SLOW)) reported refuse "127.0.0.1:${port[refuse]} answered STARTTLS with \"454 4.7.0 TLS not available\", not 220" ||
	{ show_logs "$W"; fail "the refused STARTTLS did not page with the server's answer"; }
wait_for $((5 * SLOW)) reported clientcert "TLS handshake with 127.0.0.1:${port[clientcert]} failed: sslv3 alert handshake failure (it asked for a client certificate; the probe sends none)" ||
	{ show_logs "$W"; fail "the server requiring a client certificate did not page why the handshake failed"; }
for n in valid soon smtp imap; do
	! paged_down "$W" "rissa localhost $n" || { show_logs "$W"; fail "$n paged down though it is fine"; }
done
echo "PASS: valid, expiring, expired and wrong-name certificates, SMTP and IMAP STARTTLS and a required client certificate each reported"
