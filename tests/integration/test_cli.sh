#!/bin/bash
# test_cli.sh - what an operator sees from the binaries' command lines:
# --check-config errors as FILE:LINE, --help, --version, bad options.
set -eu
. "$(dirname "$0")/lib.sh"
# run_out CMD...: runs CMD, its stdout and stderr in $out, its status in $rc
# (a failing CMD does not end the script: most here are meant to fail)
run_out() {
	set +e
	out=$("$@" 2>&1)
	rc=$?
	set -e
}
W=$(mktemp -d /tmp/vakt-it-cli.XXXXXX)
trap 'rm -rf "$W"' EXIT

cat >"$W/agent.conf" <<'EOC'
# an agent config with an error on line 7
site = "rissa"
collector "dc1" { address = "127.0.0.1:7060" }

snmp "core-sw" {
  address = "127.0.0.1"
  interval = 0
}
insecure = yes
EOC
run_out "$VAKT_BIN/vakt-agent" --check-config -c "$W/agent.conf"
[ "$rc" -ne 0 ] || fail "--check-config accepted a bad config"
[ "$out" = "$W/agent.conf:7: interval must be 1..86400 s, got 0" ] ||
	fail "unexpected --check-config output: $out"

sed -i 's/interval = 0/interval = 60/' "$W/agent.conf"
out=$("$VAKT_BIN/vakt-agent" -n -c "$W/agent.conf") || fail "good config refused: $out"
case "$out" in *"configuration OK"*) ;; *) fail "no OK message: $out" ;; esac

# names that differ only on disk: a warning, not an error
cat >"$W/names.conf" <<'EOC'
site = "rissa"
collector "dc1" { address = "127.0.0.1:7060" }
probe "Gi0/1" { kind = "tcp"  address = "127.0.0.1:80"  host = "sw" }
probe "Gi0_1" { kind = "tcp"  address = "127.0.0.1:81"  host = "sw" }
insecure = yes
EOC
out=$("$VAKT_BIN/vakt-agent" -n -c "$W/names.conf" 2>&1) || fail "a name warning failed the check: $out"
case "$out" in
*"$W/names.conf:4: warning: probe \"Gi0_1\" (host \"sw\") and \"Gi0/1\" (host \"sw\") both become sw/Gi0_1.rrd on disk"*) ;;
*) fail "no warning about names that meet on disk: $out" ;;
esac

cat >"$W/collector.conf" <<'EOC'
listen = {"127.0.0.1:7060"}
rule "disk" {
  metric = "free"
  below = 10
  clear_above = 5
}
EOC
run_out "$VAKT_BIN/vakt-collector" -n -c "$W/collector.conf"
[ "$rc" -ne 0 ] || fail "collector --check-config accepted a bad config"
case "$out" in "$W/collector.conf:"[0-9]*": rule \"disk\": "*) ;; *) fail "collector error lacks FILE:LINE: $out" ;; esac

# --check-config validates what start-up uses: a listen address the
# collector could not bind, data_dir and the control socket's directory
mkdir -p "$W/run"
: >"$W/plain"
cat >"$W/collector.conf" <<EOC
listen = {"localhost:7060"}
data_dir = "$W/plain/rrd"
control_socket = "$W/none/collector.sock"
insecure = yes
EOC
run_out "$VAKT_BIN/vakt-collector" -n -c "$W/collector.conf"
[ "$rc" -ne 0 ] || fail "collector --check-config accepted listen = localhost"
[ "$out" = "$W/collector.conf:1: listen \"localhost:7060\": not a numeric address:port (names are not resolved)" ] ||
	fail "collector --check-config on listen: $out"
sed -i 's/localhost/127.0.0.1/' "$W/collector.conf"
run_out "$VAKT_BIN/vakt-collector" -n -c "$W/collector.conf"
[ "$rc" -ne 0 ] || fail "collector --check-config accepted a data_dir under a file"
[ "$out" = "$W/collector.conf:2: data_dir \"$W/plain/rrd\": cannot be created: $W/plain: not a directory
$W/collector.conf:3: control_socket \"$W/none/collector.sock\": directory $W/none: No such file or directory" ] ||
	fail "collector --check-config on paths: $out"
cat >"$W/collector.conf" <<EOC
listen = {"127.0.0.1:7060"}
data_dir = "$W/rrd"
control_socket = "$W/run/collector.sock"
insecure = yes
EOC
out=$("$VAKT_BIN/vakt-collector" -n -c "$W/collector.conf") || fail "good collector config refused: $out"
[ "$out" = "data_dir $W/rrd: does not exist yet, will be created in $W
control_socket $W/run/collector.sock: directory $W/run writable
$W/collector.conf: configuration OK (0 channels, 0 rules)" ] || fail "collector --check-config said: $out"
[ ! -e "$W/rrd" ] || fail "--check-config created data_dir"
mkdir "$W/rrd"
out=$("$VAKT_BIN/vakt-collector" -n -c "$W/collector.conf") || fail "good collector config refused: $out"
case "$out" in "data_dir $W/rrd: exists, writable"*) ;; *) fail "collector --check-config said: $out" ;; esac
ls -A "$W" | grep -q '^\.vakt-check' && fail "--check-config left its trial directory behind"
# /proc passes access() for root, but nothing can be made there: said so, for
# data_dir and spool_dir alike (both passed, and the daemons failed at start)
sed -i "s|^data_dir = .*|data_dir = \"/proc/vakt-rrd\"|" "$W/collector.conf"
run_out "$VAKT_BIN/vakt-collector" -n -c "$W/collector.conf"
[ "$rc" -ne 0 ] || fail "collector --check-config accepted a data_dir under /proc"
case "$out" in "$W/collector.conf:2: data_dir \"/proc/vakt-rrd\": cannot be created: /proc: "*) ;;
*) fail "collector --check-config on data_dir under /proc: $out" ;; esac
sed -i "s|^data_dir = .*|data_dir = \"$W/rrd\"|" "$W/collector.conf"
cat >"$W/spool.conf" <<EOC
site = "rissa"
insecure = yes
spool_dir = "/proc/vakt-spool"
collector "dc1" { address = "127.0.0.1:7060" }
probe "web" { kind = "tcp" address = "127.0.0.1:8080" }
EOC
run_out "$VAKT_BIN/vakt-agent" -n -c "$W/spool.conf"
[ "$rc" -ne 0 ] || fail "agent --check-config accepted a spool_dir under /proc"
case "$out" in "$W/spool.conf:3: spool_dir \"/proc/vakt-spool\": cannot be created: /proc: "*) ;;
*) fail "agent --check-config on spool_dir under /proc: $out" ;; esac

# neither TLS nor an explicit insecure = yes: refused, saying what to add
sed -i '/^insecure = yes$/d' "$W/agent.conf" "$W/collector.conf"
run_out "$VAKT_BIN/vakt-agent" -n -c "$W/agent.conf"
[ "$rc" -ne 0 ] || fail "agent --check-config accepted a config with neither tls nor insecure"
[ "$out" = "$W/agent.conf:3: no tls section: add tls { ca = \"ca.crt\", cert = \"SITE.crt\", key = \"SITE.key\" } to reach the collector over TLS, or insecure = yes to send in plaintext" ] ||
	fail "agent without tls: $out"
run_out "$VAKT_BIN/vakt-collector" -n -c "$W/collector.conf"
[ "$rc" -ne 0 ] || fail "collector --check-config accepted a config with neither tls nor insecure"
[ "$out" = "$W/collector.conf:1: no tls section: add tls { ca = \"ca.crt\", cert = \"collector.crt\", key = \"collector.key\", crl = \"crl.pem\" } to accept agents over TLS, or insecure = yes to accept them in plaintext" ] ||
	fail "collector without tls: $out"
# ... and start-up refuses the same way
run_out "$VAKT_BIN/vakt-collector" -f -c "$W/collector.conf"
[ "$rc" -ne 0 ] && [ "$out" = "$W/collector.conf:1: no tls section: add tls { ca = \"ca.crt\", cert = \"collector.crt\", key = \"collector.key\", crl = \"crl.pem\" } to accept agents over TLS, or insecure = yes to accept them in plaintext" ] ||
	fail "collector started without tls: $rc $out"
# a tls section whose files are missing: FILE:LINE and the file
cat >>"$W/agent.conf" <<EOC
tls {
  ca = "$W/ca.crt"
  cert = "$W/rissa.crt"
  key = "$W/rissa.key"
}
EOC
run_out "$VAKT_BIN/vakt-agent" -n -c "$W/agent.conf"
[ "$rc" -ne 0 ] || fail "agent --check-config accepted missing certificate files"
[ "$out" = "$W/agent.conf:10: tls: ca \"$W/ca.crt\": No such file or directory" ] ||
	fail "agent with missing certificate files: $out"

for b in vakt-agent vakt-collector vaktctl; do
	"$VAKT_BIN/$b" --help | grep -q "^usage: $b" || fail "$b --help"
	"$VAKT_BIN/$b" --version | grep -q "^$b [0-9]" || fail "$b --version"
	set +e
	"$VAKT_BIN/$b" --no-such-option >/dev/null 2>&1
	rc=$?
	set -e
	[ "$rc" = 2 ] || fail "$b exits $rc on an unknown option, expected 2"
done
run_out "$VAKT_BIN/vaktctl" -s "$W/none.sock" status
[ "$rc" = 1 ] || fail "vaktctl without a collector exits $rc"
[ "$out" = "vaktctl: cannot connect to $W/none.sock: No such file or directory (is vakt-collector running, with this control_socket?)" ] || fail "vaktctl error: $out"
# a socket nobody listens on (a collector killed with -9 leaves one)
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$W/stale.sock"
run_out "$VAKT_BIN/vaktctl" -s "$W/stale.sock" status
[ "$rc" = 1 ] || fail "vaktctl on a stale socket exits $rc"
[ "$out" = "vaktctl: cannot connect to $W/stale.sock: Connection refused (is vakt-collector running, with this control_socket?)" ] || fail "vaktctl error: $out"
echo "PASS: command lines behave"
