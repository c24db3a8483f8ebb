#!/bin/bash
# test_http.sh - the agent's HTTP(S) probe against a real nginx on loopback
# with certificates of a test CA: a valid certificate, one expiring in 5
# days, an expired one and one for another host name are each reported with
# their outcome, reason and days to expiry in the RRD file; so are a 500, a
# body that does not match, a redirect followed, basic auth and a header, and
# a server that accepts and never answers (timeout), and verify = no on the
# expired certificate (ok, the samples and reason tell). No password in any log.
set -eu
. "$(dirname "$0")/lib.sh"
# under valgrind every binary runs several times slower (a TLS handshake
# takes up to 3 s): so may the waits, the probes' timeout (TMO) and interval
SLOW=$([ -n "${VAKT_VALGRIND:-}" ] && echo 3 || echo 1)
TMO=$([ -n "${VAKT_VALGRIND:-}" ] && echo 5 || echo 1)
need_tools nginx openssl rrdtool python3
W=$(mktemp -d /tmp/vakt-it-http.XXXXXX)
trap 'cleanup && s=0 || s=$?; [ -n "${KEEP:-}" ] || rm -rf "$W"; exit $s' EXIT
P="$W/pki"
server_cert_cases "$W"

valid_port=$(free_port tcp)
soon_port=$(free_port tcp)
expired_port=$(free_port tcp)
wrong_port=$(free_port tcp)
plain_port=$(free_port tcp)
mute_port=$(free_port tcp)
col_port=$(free_port tcp)
secret="s3cr3t-$$-pw"
# nginx's basic auth file: user "drift", the password above
printf 'drift:%s\n' "$(openssl passwd -apr1 "$secret")" >"$W/htpasswd"
body="Velkommen til Rissa kommune"

# tls_server PORT NAME: an nginx server block with NAME's certificate
tls_server() {
	cat <<EON
  server {
    listen 127.0.0.1:$1 ssl;
    ssl_certificate $W/$2.crt;
    ssl_certificate_key $W/$2.key;
    location / { return 200 "$body\n"; }
  }
EON
}
mkdir -p "$W/nginx/logs"
cat >"$W/nginx/nginx.conf" <<EON
daemon off;
master_process off;
pid $W/nginx/nginx.pid;
error_log $W/nginx/error.log;
events { worker_connections 256; }
http {
  access_log $W/nginx/access.log;
  client_body_temp_path $W/nginx/body;
  proxy_temp_path $W/nginx/proxy;
  fastcgi_temp_path $W/nginx/fastcgi;
  uwsgi_temp_path $W/nginx/uwsgi;
  scgi_temp_path $W/nginx/scgi;
  default_type text/plain;
  server {
    listen 127.0.0.1:$valid_port ssl;
    ssl_certificate $W/valid.crt;
    ssl_certificate_key $W/valid.key;
    location = / { return 200 "$body\n"; }
    location = /old { return 301 /; }
    location = /broken { return 500 "the portal is broken\n"; }
    location = /private {
      auth_basic "drift";
      auth_basic_user_file $W/htpasswd;
      return 200 "hello drift\n";
    }
    location = /site {
      if (\$http_x_vakt_site != "rissa") { return 403; }
      return 200 "hello rissa\n";
    }
  }
$(tls_server "$soon_port" soon)
$(tls_server "$expired_port" expired)
$(tls_server "$wrong_port" wrongname)
  server {
    listen 127.0.0.1:$plain_port;
    location / { return 200 "$body\n"; }
  }
}
EON
start nginx "$W/nginx/stderr.log" nginx -p "$W/nginx" -c "$W/nginx/nginx.conf" -e "$W/nginx/error.log"
wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$plain_port" ||
	{ cat "$W/nginx/error.log" "$W/nginx/stderr.log"; fail "nginx did not listen"; }
# a server that accepts connections (the kernel completes them) and never answers
start mute "$W/mute.log" python3 -c "
import socket, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', $mute_port))
s.listen(64)
time.sleep(600)"
wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$mute_port" || fail "the mute server did not listen"

pager_channel "$W" | write_collector_conf "$W" "$col_port"
# probe NAME URL [KEYS...]: a probe of this test, every 2 s with a 1 s timeout
# (under valgrind every 6 s with a 5 s timeout)
# (localhost resolves to 127.0.0.1 through /etc/hosts; nginx listens there only)
probe() {
	name=$1 url=$2
	shift 2
	printf 'probe "%s" {\n  kind = "http"\n  url = "%s"\n  family = "ipv4"\n  ca = "%s"\n' \
		"$name" "$url" "$P/ca.crt"
	printf '  interval = %s\n  timeout = %s\n' $((TMO + 1)) $((1000 * TMO))
	for k in "$@"; do printf '  %s\n' "$k"; done
	echo "}"
}
{
	cat <<EOC
site = "rissa"
insecure = yes
collector "dc1" { address = "127.0.0.1:$col_port" }
EOC
	probe valid "https://localhost:$valid_port/" "body = \"Velkommen\""
	probe soon "https://localhost:$soon_port/"
	probe expired "https://localhost:$expired_port/"
	probe wrongname "https://localhost:$wrong_port/"
	probe unverified "https://localhost:$expired_port/" "verify = no"
	probe broken "https://localhost:$valid_port/broken"
	probe mismatch "https://localhost:$valid_port/" "body_regex = \"Farvel|Ha det\""
	probe moved "https://localhost:$valid_port/old" "follow_redirects = yes" "body = \"Velkommen\""
	probe private "https://localhost:$valid_port/private" "user = \"drift\"" \
		"password = \"$secret\"" "headers = {\"X-Vakt-Site: rissa\"}"
	probe site "https://localhost:$valid_port/site" "headers = {\"X-Vakt-Site: rissa\"}"
	printf 'probe "plain" { kind = "http"  url = "http://127.0.0.1:%s/"  interval = %s  timeout = %s }\n' \
		"$plain_port" $((TMO + 1)) $((1000 * TMO))
	printf 'probe "mute" { kind = "http"  url = "http://127.0.0.1:%s/"  interval = %s  timeout = %s }\n' \
		"$mute_port" $((TMO + 1)) $((1000 * TMO))
} >"$W/agent.conf"
"$VAKT_BIN/vakt-agent" -n -c "$W/agent.conf" >/dev/null 2>"$W/check.err" ||
	{ cat "$W/check.err"; fail "agent config refused"; }
start_collector "$W" "$col_port"
start agent "$W/agent.log" "$VAKT_BIN/vakt-agent" -f -v -c "$W/agent.conf"

# every probe as HOST/NAME=UP: whether its runs succeed
probes="localhost/valid=1 localhost/soon=1 localhost/expired=0 localhost/wrongname=0
	localhost/broken=0 localhost/mismatch=0 localhost/moved=1 localhost/private=1 localhost/site=1
	localhost/unverified=1
	127.0.0.1/plain=1 127.0.0.1/mute=0"
# paged HOST/NAME...: each has paged unreachable
paged() {
	for f in "$@"; do
		grep -q "^firing unreachable rissa ${f%/*} ${f#*/} |" "$W/pages.log" 2>/dev/null || return 1
	done
}
# snapshot: every probe's last values (rrdtool lastupdate), read once; true
# when every probe's last up is the one it should have (a run slowed by a
# busy machine may have timed out just then: the snapshot is taken again)
snapshot() {
	# not rrd_flush: its fail would end the test silently inside wait_for
	timeout 10 "$VAKT_BIN/vaktctl" -s "$W/collector.sock" flush --all >/dev/null || return 1
	mkdir -p "$W/last"
	for e in $probes; do
		f=${e%=*}
		rrdtool lastupdate "$W/rrd/rissa/$f.rrd" >"$W/last/${f%/*}-${f#*/}" 2>/dev/null || return 1
		[ "$(value "${f%/*}" "${f#*/}" up)" = "${e#*=}" ] || return 1
	done
}
# value HOST PROBE DS: DS's last value in the snapshot ("" when unknown)
value() {
	local names vals i
	{ read -r -a names; read -r; while read -r line; do vals=$line; done; } <"$W/last/$1-$2"
	read -r -a vals <<<"${vals#*:}"
	for i in "${!names[@]}"; do
		[ "${names[$i]}" = "$3" ] && [ "${vals[$i]}" != U ] && echo "${vals[$i]}"
	done
	return 0
}
# between V LO HI: LO <= V <= HI
between() { awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v != "" && v + 0 >= lo && v + 0 <= hi) }'; }
# reason HOST PROBE OUTCOME TEXT: a run of PROBE ended in OUTCOME with the
# reason TEXT (the agent's log of every run), and its page says so; under
# valgrind the first runs may time out while the agent starts, and the page
# carries the reason of the runs that made it fire
reason() {
	grep -F -- "ms: $4" "$W/agent.log" | grep -q "check \"$2\": $3 in " ||
		{ show; fail "$2: no $3 run with the reason: $4"; }
	[ -n "${VAKT_VALGRIND:-}" ] ||
		log_has "$W/pages.log" "$2 on $1 (site rissa) is unreachable: $3: $4"
}
show() { tail -n 40 "$W/agent.log" "$W/collector.log" "$W/pages.log" 2>/dev/null || true; }

# the failing probes page (2 failed runs); by then every probe has run
failing="localhost/expired localhost/wrongname localhost/broken localhost/mismatch 127.0.0.1/mute"
wait_for $((30 * SLOW)) paged $failing || { show; fail "not every failing probe paged: $failing"; }
# (by a deadline, not a count: a flush on a busy machine may take seconds)
end=$((SECONDS + 20 * SLOW))
until snapshot; do
	[ "$SECONDS" -lt "$end" ] || { show; cat "$W"/last/*; fail "not every probe stored the up it should"; }
	sleep 0.5
done

# (a) a valid certificate: ok, verified, about 90 days left, body matched, every phase timed
for p in valid soon moved private site; do
	[ "$(value localhost "$p" up)" = 1 ] || { show; fail "$p: up is $(value localhost "$p" up), not 1"; }
done
[ "$(value 127.0.0.1 plain up)" = 1 ] || { show; fail "plain http: not up"; }
between "$(value localhost valid cert_days_left)" 89.9 90.01 ||
	fail "valid: cert_days_left $(value localhost valid cert_days_left), expected 90"
[ "$(value localhost valid cert_verify_ok)" = 1 ] || fail "valid: cert_verify_ok is not 1"
[ "$(value localhost valid status)" = 200 ] || fail "valid: status $(value localhost valid status)"
[ "$(value localhost valid size)" = $((${#body} + 1)) ] ||
	fail "valid: size $(value localhost valid size), expected $((${#body} + 1)) bytes"
for m in dns_time connect_time tls_time first_byte_time total_time; do
	between "$(value localhost valid $m)" 0.000001 $SLOW || fail "valid: $m is $(value localhost valid $m)"
done

# (b) expiring in 5 days: still ok, with the days left and a reason saying so
between "$(value localhost soon cert_days_left)" 4.9 5.01 ||
	fail "soon: cert_days_left $(value localhost soon cert_days_left), expected 5"
[ "$(value localhost soon cert_verify_ok)" = 1 ] || fail "soon: cert_verify_ok is not 1"
grep -E "check \"soon\"(: ok in [0-9]+ ms| \(http\): [a-z]+ -> ok): certificate expires in 5 days at https://localhost:$soon_port/ \(127\.0\.0\.1:$soon_port\)$" \
	"$W/agent.log" >/dev/null || { show; fail "soon: no ok run saying the certificate expires in 5 days"; }

# (c) expired 3 days ago: down, with the days (negative) and the reason
[ "$(value localhost expired up)" = 0 ] || fail "expired: up is not 0"
between "$(value localhost expired cert_days_left)" -3.01 -2.9 ||
	fail "expired: cert_days_left $(value localhost expired cert_days_left), expected -3"
[ "$(value localhost expired cert_verify_ok)" = 0 ] || fail "expired: cert_verify_ok is not 0"
reason localhost expired down "certificate expired 3 days ago at https://localhost:$expired_port/ (127.0.0.1:$expired_port)"

# verify = no: the expired certificate does not fail the run; the samples and the reason tell
[ "$(value localhost unverified cert_verify_ok)" = 0 ] || fail "unverified: cert_verify_ok is not 0"
between "$(value localhost unverified cert_days_left)" -3.01 -2.9 ||
	fail "unverified: cert_days_left $(value localhost unverified cert_days_left), expected -3"
grep -qF "ms: certificate expired 3 days ago at https://localhost:$expired_port/ (127.0.0.1:$expired_port) (not verified: verify = no)" \
	"$W/agent.log" || { show; fail "unverified: no ok run saying the certificate expired"; }

# (d) a certificate for another name: down, though its dates are fine
[ "$(value localhost wrongname up)" = 0 ] || fail "wrongname: up is not 0"
[ "$(value localhost wrongname cert_verify_ok)" = 0 ] || fail "wrongname: cert_verify_ok is not 0"
between "$(value localhost wrongname cert_days_left)" 89.9 90.01 ||
	fail "wrongname: cert_days_left $(value localhost wrongname cert_days_left), expected 90"
reason localhost wrongname down "certificate not valid for localhost at https://localhost:$wrong_port/ (127.0.0.1:$wrong_port)"

# a 500, a body that does not match
[ "$(value localhost broken status)" = 500 ] || fail "broken: status $(value localhost broken status)"
reason localhost broken down "HTTP 500 from https://localhost:$valid_port/broken (127.0.0.1:$valid_port)"
[ "$(value localhost mismatch status)" = 200 ] || fail "mismatch: status is not 200"
reason localhost mismatch down "body does not match \"Farvel|Ha det\" at https://localhost:$valid_port/ (127.0.0.1:$valid_port)"

# a redirect followed to the page; basic auth and a header accepted
[ "$(value localhost moved redirects)" = 1 ] || fail "moved: redirects $(value localhost moved redirects)"
[ "$(value localhost moved status)" = 200 ] || fail "moved: status $(value localhost moved status)"
[ "$(value localhost private status)" = 200 ] || fail "private: status $(value localhost private status)"
[ "$(value localhost site status)" = 200 ] || fail "site: status $(value localhost site status)"

# a server that accepts and never answers: timeout, after the connection was made
[ "$(value 127.0.0.1 mute up)" = 0 ] || fail "mute: up is not 0"
reason 127.0.0.1 mute timeout "timeout after $TMO s waiting for the answer at http://127.0.0.1:$mute_port/ (127.0.0.1:$mute_port)"

# nothing pages for the probes that work (under valgrind a TLS handshake may
# take longer than any sane timeout); the password is in no log
for p in valid soon moved private site plain unverified; do
	[ -n "${VAKT_VALGRIND:-}" ] || ! grep -q " $p |" "$W/pages.log" || { cat "$W/pages.log"; fail "$p paged"; }
done
! grep -rqF "$secret" "$W/agent.log" "$W/collector.log" "$W/pages.log" ||
	fail "the basic auth password appears in a log"
echo "PASS: HTTP(S) probes report certificates, statuses, bodies, redirects and timeouts"
