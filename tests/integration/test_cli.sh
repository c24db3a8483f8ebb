#!/bin/bash
# test_cli.sh - what an operator sees from the binaries' command lines:
# --check-config errors as FILE:LINE, --help, --version, bad options.
set -eu
. "$(dirname "$0")/lib.sh"
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
EOC
set +e
out=$("$VAKT_BIN/vakt-agent" --check-config -c "$W/agent.conf" 2>&1)
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "--check-config accepted a bad config"
[ "$out" = "$W/agent.conf:7: interval must be 1..86400 s, got 0" ] ||
	fail "unexpected --check-config output: $out"

sed -i 's/interval = 0/interval = 60/' "$W/agent.conf"
out=$("$VAKT_BIN/vakt-agent" -n -c "$W/agent.conf") || fail "good config refused: $out"
case "$out" in *"configuration OK"*) ;; *) fail "no OK message: $out" ;; esac

cat >"$W/collector.conf" <<'EOC'
listen = {"127.0.0.1:7060"}
rule "disk" {
  metric = "free"
  below = 10
  clear_above = 5
}
EOC
set +e
out=$("$VAKT_BIN/vakt-collector" -n -c "$W/collector.conf" 2>&1)
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "collector --check-config accepted a bad config"
case "$out" in "$W/collector.conf:"[0-9]*": rule \"disk\": "*) ;; *) fail "collector error lacks FILE:LINE: $out" ;; esac

for b in vakt-agent vakt-collector vaktctl; do
	"$VAKT_BIN/$b" --help | grep -q "^usage: $b" || fail "$b --help"
	"$VAKT_BIN/$b" --version | grep -q "^$b [0-9]" || fail "$b --version"
	set +e
	"$VAKT_BIN/$b" --no-such-option >/dev/null 2>&1
	rc=$?
	set -e
	[ "$rc" = 2 ] || fail "$b exits $rc on an unknown option, expected 2"
done
set +e
out=$("$VAKT_BIN/vaktctl" -s "$W/none.sock" status 2>&1)
rc=$?
set -e
[ "$rc" = 1 ] || fail "vaktctl without a collector exits $rc"
case "$out" in *"cannot connect to the collector at $W/none.sock"*) ;; *) fail "vaktctl error: $out" ;; esac
echo "PASS: command lines behave"
