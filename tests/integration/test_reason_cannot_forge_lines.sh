#!/bin/bash
# test_reason_cannot_forge_lines.sh - text from the wire that is only for
# people (a Result's reason, Hello's software) cannot start a line of its own
# in the daemon log or a channel's file, a reason is kept to 200 bytes, and
# a summary cut at a page's length ends on a whole UTF-8 character.
set -eu
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
W=$(mktemp -d /tmp/vakt-it-reason.XXXXXX)
trap 'cleanup && s=0 || s=$?; [ -n "${KEEP:-}" ] || rm -rf "$W"; exit $s' EXIT

col_port=$(free_port tcp)
write_collector_conf "$W" "$col_port" <<EOC
channel "pager" {
  kind = "log"
  file = "$W/pages.log"
}
watch { unreachable = 1 }
EOC
start_collector "$W" "$col_port"

PYTHONPATH="$(dirname "$0")" python3 - "$col_port" <<'EOP' || { cat "$W/collector.log"; fail "see above"; }
import sys
import wire

port = int(sys.argv[1])
s = wire.connect(port)
s.sendall(wire.frame(wire.hello(site="s", agent="a",
                                software="x\n00:00:00.000 vakt-collector: FORGED software")))
wire.expect(s, "hello_ack")
why = "dev down\n00:00:00.000 vakt-collector: FORGED reason\x1b[31m" + "é" * 200000
s.sendall(wire.frame(wire.batch(1, [], [wire.result(host="h", check="system",
                                                    outcome=wire.TIMEOUT, reason=why)])))
wire.expect(s, "ack")
s.close()
EOP
wait_for 5 grep -q "alert firing" "$W/collector.log" || { cat "$W/collector.log"; fail "no page"; }
if grep -q '^00:00:00.000 vakt-collector: FORGED' "$W/collector.log" "$W/pages.log"; then
	cat "$W/collector.log" "$W/pages.log"
	fail "a peer's text started a line of its own"
fi
[ "$(wc -l <"$W/pages.log")" = 1 ] || { cat "$W/pages.log"; fail "one page is not one line"; }
grep -q 'timeout: dev down?00:00:00.000 vakt-collector: FORGED reason?\[31m' "$W/pages.log" ||
	{ cat "$W/pages.log"; fail "the reason was not kept with its control characters replaced"; }
kept=$(sed -n 's/.*timeout: \(dev down.*\) (1 failed runs since.*/\1/p' "$W/pages.log")
[ -n "$kept" ] && [ "$(printf '%s' "$kept" | wc -c)" -le 200 ] ||
	{ cat "$W/pages.log"; fail "the reason kept is not 1..200 bytes"; }
iconv -f UTF-8 -t UTF-8 "$W/pages.log" >/dev/null || fail "the cut reason is not valid UTF-8"

# A summary longer than a page's 384 bytes is cut on a character boundary:
# two host names one byte apart put the cut inside a two-byte character for
# one of them, whichever it is.
PYTHONPATH="$(dirname "$0")" python3 - "$col_port" <<'EOP' || { cat "$W/collector.log"; fail "see above"; }
import sys
import wire

s = wire.connect(int(sys.argv[1]))
s.sendall(wire.frame(wire.hello(site="s", agent="a")))
wire.expect(s, "hello_ack")
s.sendall(wire.frame(wire.batch(2, [], [
    wire.result(host="é" * 63 + tail, check="system", instance="é" * 8, outcome=wire.TIMEOUT,
                reason="é" * 100)
    for tail in ("a", "ab")])))
wire.expect(s, "ack")
s.close()
EOP
wait_for 5 test "$(grep -c 'is unreachable' "$W/pages.log")" -ge 3 ||
	{ cat "$W/collector.log" "$W/pages.log"; fail "no page for the long names"; }
long=$(grep -a '/éééééééé on ééé' "$W/pages.log")
[ "$(printf '%s\n' "$long" | wc -l)" = 2 ] || { cat "$W/pages.log"; fail "not two pages"; }
printf '%s\n' "$long" | iconv -f UTF-8 -t UTF-8 >/dev/null ||
	{ printf '%s\n' "$long" | od -c | tail -5; fail "a long summary is cut inside a character"; }
printf '%s\n' "$long" | grep -q 'timeout: éééé' || { cat "$W/pages.log"; fail "the reason is gone"; }
if printf '%s\n' "$long" | grep -q '?'; then
	cat "$W/pages.log"
	fail "a character cut by the page's length was replaced, not cut"
fi
echo "PASS: a peer's text stays on its line and within 200 bytes"
