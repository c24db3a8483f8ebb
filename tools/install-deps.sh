#!/bin/sh
# install-deps.sh - installs the Debian packages Vakt needs, only those missing.
# Usage: tools/install-deps.sh build|runtime|test|bench ...   (run as root; uses sudo otherwise)
set -eu

build="build-essential cmake pkg-config protobuf-c-compiler libprotobuf-c-dev
       libevent-dev libsnmp-dev librrd-dev libconfuse-dev libjansson-dev
       libsqlite3-dev libssl-dev libpcap-dev
       libcurl4-openssl-dev"
# the demo's own devices and services, the tools it points the user to, and
# openssl for its certificates (deploy/pki/vakt-pki)
runtime="snmpd snmp rrdtool python3 iproute2 procps openssl"
# clang and its runtime libraries (libFuzzer, ASan) for make fuzz; snmpsim
# serves the recordings of real devices the SNMP tests poll; nginx the HTTP
# probes; unbound the DNS probe's name server; curl downloads through the pcap test's capture;
# stress-ng loads the machine while a test that failed now and then runs again and again
test="libcmocka-dev valgrind sqlite3 openssl nftables clang libclang-rt-14-dev snmpsim
      nginx-light unbound curl stress-ng"
# the peers the benchmarks under bench/ compare Vakt with, and what bench/snmp.sh
# uses to run them (curl asks snmp_exporter whether it is up); fping for bench/icmp.sh
bench="collectd-core rrdcached prometheus-snmp-exporter curl fping"

want=""
for set in "$@"; do
	case "$set" in
	build) want="$want $build" ;;
	runtime) want="$want $runtime" ;;
	test) want="$want $test" ;;
	bench) want="$want $bench" ;;
	*) echo "install-deps.sh: unknown set '$set' (build, runtime, test, bench)" >&2; exit 2 ;;
	esac
done

missing=""
for p in $want; do
	if [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" != "installed" ]; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || { echo "install-deps.sh: need root to install:$missing" >&2; exit 1; }
	SUDO=sudo
fi
echo "install-deps.sh: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# a fresh machine has no package lists yet; refresh them when they are missing or old
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -n 1)" ]; then
	$SUDO apt-get update -q
fi
# shellcheck disable=SC2086
if ! $SUDO apt-get install -y -q --no-install-recommends $missing; then
	$SUDO apt-get update -q
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -q --no-install-recommends $missing
fi
