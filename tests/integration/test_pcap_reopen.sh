#!/bin/bash
# test_pcap_reopen.sh - a capture whose interface goes away is never silent:
# the pcap probe's runs end in an error whose reason names the interface and
# libpcap's cause, which pages "unreachable" once; when the interface is back
# the capture is reopened by itself, the page resolves, and its counters go
# on from where they were.
set -eu
. "$(dirname "$0")/netns.sh"
. "$(dirname "$0")/lib.sh"
SLOW=$([ -n "${VAKT_VALGRIND:-}" ] && echo 3 || echo 1)
need_tools python3 rrdtool ip
W=$(mktemp -d /tmp/vakt-it-pcap-reopen.XXXXXX)
NS=vakt-pcapr-$$
trap 'cleanup && s=0 || s=$?; ip netns del "$NS" 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$W"; exit $s' EXIT
. "$(dirname "$0")/pcap.sh"
pcap_netns
pcap_start '  ports = {9999}
  top_talkers = 1'

udp_to 10.78.0.3 9999 20 100
wait_for $((10 * SLOW)) at_least lan-udp v4_packets 20 || { show; fail "the capture did not count 20 datagrams"; }
before=$(value lan-capture packets)
log "captured $before frames; deleting cap0"
ip link del cap0
wait_for $((10 * SLOW)) grep -q "^firing unreachable rissa rissa-gw lan " "$W/pages.log" ||
	{ show; fail "no page for the capture's interface gone"; }
grep "^firing unreachable rissa rissa-gw lan " "$W/pages.log" |
	grep -q "lan on rissa-gw (site rissa) is unreachable: error: capture on cap0 failed: .*; reopening: cannot capture on cap0: " ||
	{ show; fail "the page lacks the capture's reason"; }
log "paged: $(grep "^firing" "$W/pages.log")"
pcap_veth
wait_for $((10 * SLOW)) grep -q "^resolved unreachable rissa rissa-gw lan " "$W/pages.log" ||
	{ show; fail "the capture was not reopened"; }
grep -q 'capture on cap0 reopened' "$W/agent.log" || fail "the agent did not log the reopening"
udp_to 10.78.0.3 9999 20 100
wait_for $((10 * SLOW)) at_least lan-udp v4_packets 40 ||
	{ show; fail "the reopened capture counts $(value lan-udp v4_packets) datagrams, 40 sent in all"; }
[ "$(value lan-capture packets)" -ge "$before" ] || fail "the frames counted went back from $before"
[ "$(grep -c "^firing unreachable" "$W/pages.log")" = 1 ] || { show; fail "more than one page for one outage"; }
echo "PASS: the interface gone pages once with its reason; the capture reopens by itself and counts on"
