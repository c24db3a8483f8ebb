#!/bin/bash
# test_example_configs.sh - the example configurations in deploy/ stay true:
# vakt-agent --check-config accepts deploy/agent.conf.example and
# deploy/kommune.conf.example (a municipality's usual services) with their
# /etc/vakt files made by vakt-pki and the profiles of deploy/profiles, and
# vakt-collector --check-config accepts deploy/collector.conf.example.
set -eu
. "$(dirname "$0")/lib.sh"
need_tools openssl
W=$(mktemp -d /tmp/vakt-it-examples.XXXXXX)
trap 'cleanup && s=0 || s=$?; [ -n "${KEEP:-}" ] || rm -rf "$W"; exit $s' EXIT
P="$W/pki"
"$VAKT_SRC/deploy/pki/vakt-pki" init "$P" >/dev/null
"$VAKT_SRC/deploy/pki/vakt-pki" site "$P" rissa >/dev/null
"$VAKT_SRC/deploy/pki/vakt-pki" collector "$P" dc1 localhost collector.fosen.example >/dev/null
mkdir -p "$W/etc" "$W/var"
cp "$P/ca.crt" "$W/etc/ca.crt"
cp "$P/ca.crt" "$W/etc/kommune-ca.crt"
for n in rissa dc1; do
	cp "$P/certs/$n.crt" "$W/etc/$n.crt"
	cp "$P/private/$n.key" "$W/etc/$n.key" 2>/dev/null || cp "$P"/*/"$n.key" "$W/etc/$n.key"
done
cp "$P/crl.pem" "$W/etc/crl.pem" 2>/dev/null || true

# the file as shipped, its /etc/vakt/ files here and the profiles of the tree
localize() {
	sed -e "s|/etc/vakt/|$W/etc/|g" -e "s|/var/lib/vakt/|$W/var/|g" "$1" |
		awk -v dir="$VAKT_SRC/deploy/profiles" '{ print } /^site *=/ { print "profile_dir = \"" dir "\"" }'
}
for f in agent.conf.example kommune.conf.example; do
	localize "$VAKT_SRC/deploy/$f" >"$W/$f"
	"$VAKT_BIN/vakt-agent" --check-config -c "$W/$f" 2>"$W/$f.err" ||
		{ cat "$W/$f.err"; fail "deploy/$f: vakt-agent --check-config refused it"; }
done
# every probe kind of the municipality's example is there, each with a check
for k in icmp http tcp tls dns snmp; do
	grep -q "kind *= *\"$k\"\|^$k \"" "$W/kommune.conf.example" || fail "kommune.conf.example has no $k check"
done
sed -e "s|/etc/vakt/|$W/etc/|g" -e "s|/var/lib/vakt/|$W/var/|g" -e "s|/run/vakt/|$W/|g" \
	"$VAKT_SRC/deploy/collector.conf.example" >"$W/collector.conf"
"$VAKT_BIN/vakt-collector" --check-config -c "$W/collector.conf" 2>"$W/collector.err" ||
	{ cat "$W/collector.err"; fail "deploy/collector.conf.example: vakt-collector --check-config refused it"; }
echo "PASS: the example configurations in deploy/ pass --check-config"
