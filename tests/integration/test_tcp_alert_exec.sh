#!/bin/bash
# test_tcp_alert_exec.sh - a TCP service goes down and comes back: exactly one
# alert reaches the exec channel, then exactly one recovery, each with the
# alert as JSON on stdin and its fields in the environment.
set -eu
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
W=$(mktemp -d /tmp/vakt-it-alert.XXXXXX)
trap 'cleanup && s=0 || s=$?; rm -rf "$W"; exit $s' EXIT

web_port=$(free_port tcp)
col_port=$(free_port tcp)
cat >"$W/page.sh" <<'EOS'
#!/bin/sh
# the on-call pager of this test: one line per notification, stdin kept
n=$(ls "$PAGES" | wc -l)
cat >"$PAGES/$n.$VAKT_STATE.json"
echo "$VAKT_STATE $VAKT_RULE $VAKT_SITE $VAKT_HOST $VAKT_CHECK $VAKT_ALERT_ID" >>"$PAGES.log"
EOS
chmod +x "$W/page.sh"
mkdir -p "$W/pages"
write_collector_conf "$W" "$col_port" <<EOC
channel "oncall" {
  kind = "exec"
  command = "PAGES=$W/pages $W/page.sh"
  timeout = 10
}
rule "web-down" {
  kind = "down"
  check = "web"
  channels = {"oncall"}
}
EOC
start_web_probe "$W" fosen "$col_port" "$web_port"

rrd="$W/rrd/fosen/127.0.0.1/web.rrd"
up_is() { [ -f "$rrd" ] && [ "$(rrd_last "$rrd" up)" = "$1" ]; }
lines() { if [ -f "$W/pages.log" ]; then grep -c "^$1 " "$W/pages.log" || true; else echo 0; fi; }
lines_are() { [ "$(lines "$1")" = "$2" ]; } # evaluated anew at every retry of wait_for

wait_for 15 up_is 1 || { cat "$W/collector.log"; fail "web never recorded as up"; }
sleep 2
[ "$(lines firing)" = 0 ] || fail "an alert fired while the service was up"

log "stopping the service"
stop web
wait_for 15 up_is 0 || fail "web never recorded as down"
wait_for 10 lines_are firing 1 || { cat "$W/collector.log"; fail "no alert reached the exec channel"; }
sleep 4 # four more failed probes: still one page
[ "$(lines firing)" = 1 ] || fail "$(lines firing) alerts for one outage, expected exactly 1"
[ "$(lines resolved)" = 0 ] || fail "recovery sent while the service is still down"
grep -q '^firing web-down fosen 127.0.0.1 web 1$' "$W/pages.log" ||
	{ cat "$W/pages.log"; fail "environment of the exec channel is wrong"; }
grep -q '"state":"firing"' "$W/pages/0.firing.json" || fail "no JSON alert on stdin"
grep -q '"rule":"web-down"' "$W/pages/0.firing.json" || fail "JSON alert lacks the rule"
# the operator's view of it
"$VAKT_BIN/vaktctl" -s "$W/collector.sock" status >"$W/status.txt" || fail "vaktctl status failed"
grep -q '^sessions: 1$' "$W/status.txt" && grep -q 'site "fosen"' "$W/status.txt" &&
	grep -q ', 1 firing$' "$W/status.txt" &&
	grep -q '#1 firing: web on 127.0.0.1 is down (rule web-down' "$W/status.txt" ||
	{ cat "$W/status.txt"; fail "vaktctl status does not show the session and the alert"; }

log "restarting the service"
start_tcp_service web "$W" "$web_port"
wait_for 15 lines_are resolved 1 || { cat "$W/collector.log"; fail "no recovery reached the exec channel"; }
sleep 3
[ "$(lines firing)" = 1 ] && [ "$(lines resolved)" = 1 ] ||
	{ cat "$W/pages.log"; fail "expected exactly one alert and one recovery"; }
grep -q '"state":"resolved"' "$W/pages/1.resolved.json" || fail "no JSON recovery on stdin"
grep -q '"id":1' "$W/pages/1.resolved.json" || fail "recovery does not carry the alert's id"
echo "PASS: one alert and one recovery reached the exec channel"
