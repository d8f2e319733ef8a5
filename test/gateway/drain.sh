#!/bin/sh
# Graceful drain on SIGTERM, with real processes (relay -> gatewayd ->
# mcpd-test --fixtures conformance). 1: a slow call (test_slow_counter, 3 s)
# is in flight (its first progress notification has arrived) when
# gatewayd gets SIGTERM: that call still gets its answer; a new call on
# the same session and a new session's initialize (a second stream of
# the relay, over its HTTP endpoint) get "gateway is shutting down"; gatewayd exits 0 once the call is done ("drained"), the
# audit log has the call's record and the drain and stop records, and its
# chain verifies. 2: with --drain-timeout 1, a call that would take 100 s
# ends with an error at the deadline and gatewayd exits 0 (within 15 s of
# the signal at most, or the test fails). Without the drain gatewayd
# stopped at once: the slow call got no answer.
# Env: GATEWAYD, GATEWAYCTL, MCPD_TEST, RELAY, NODE (binaries).
set -u
. "$(dirname "$0")/../common/daemons.sh"
zg_need GATEWAYD GATEWAYCTL MCPD_TEST RELAY NODE
zg_workdir gwdrain
trap '' PIPE # a relay gone early must fail a check, not kill the script
cat > "$work/gw.json" <<JSON
{ "zones": {
    "a":  { "domid": 95, "role": "agent", "chan": "sim:95:a" },
    "t1": { "domid": 96, "role": "tool", "chan": "sim:96:t1" } },
  "policy": "d.policy", "audit_log": "audit.log" }
JSON
echo 'a  t1.*  allow' > "$work/d.policy"
"$MCPD_TEST" --chan sim:96:t1 --fixtures conformance 2>"$work/t1.log" & pids="$pids $!"
fail=0
init='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"drain","version":"1"}}}'
inited='{"jsonrpc":"2.0","method":"notifications/initialized"}'
slow() { # ID STEPS: a slow call with progress
	echo "{\"jsonrpc\":\"2.0\",\"id\":$1,\"method\":\"tools/call\",\"params\":{\"name\":\"t1.test_slow_counter\",\"arguments\":{\"steps\":$2,\"interval_ms\":100},\"_meta\":{\"progressToken\":\"p$1\"}}}"
}
# reply FILE ID: the line of FILE answering request ID
reply() { grep -F "\"id\":$2," "$1" | head -n 1; }
# start_gw ARGS...: gatewayd, waited for; sets gpid
start_gw() {
	: >"$work/gw.log"
	"$GATEWAYD" --config "$work/gw.json" "$@" 2>>"$work/gw.log" & gpid=$!
	zg_wait_log "$work/gw.log" " up: " 1
}
# session NAME: a relay with its stdio session on a fifo (the caller
# writes to it on fd 3), output in $work/NAME.out, and its HTTP endpoint's
# URL in $work/NAME.url
session() {
	rm -f "$work/$1.in" "$work/$1.url"
	mkfifo "$work/$1.in"
	"$RELAY" --chan sim:95:a --stdio --http 127.0.0.1:0 \
		--ready-file "$work/$1.url" <"$work/$1.in" >"$work/$1.out" \
		2>"$work/$1.log" &
	pids="$pids $!"
}
# http_init URL: a new session's initialize over HTTP; prints the reply
http_init() {
	INIT=$init "$NODE" -e '
fetch(process.argv[1], { method: "POST", body: process.env.INIT,
  headers: { "content-type": "application/json",
             accept: "application/json, text/event-stream" } })
  .then((r) => r.text()).then((t) => console.log(t))
  .catch((e) => console.log("fetch failed: " + e));' "$1"
}

# ---- 1. the call in flight finishes, new work is refused, exit 0
start_gw --drain-timeout 30
session s1
exec 3>"$work/s1.in"
echo "$init" >&3
echo "$inited" >&3
slow 2 30 >&3
zg_wait_log "$work/s1.out" '"progressToken":"p2"' 1
grep -q '"progressToken":"p2"' "$work/s1.out" || { echo "FAIL: the slow call did not start"; fail=1; }
kill -TERM "$gpid"
zg_wait_log "$work/gw.log" "draining" 1
echo '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"t1.test_structured_output","arguments":{"a":1,"b":2}}}' >&3
zg_wait_log "$work/s1.url" "http" 1
http_init "$(cat "$work/s1.url")" >"$work/s2.out" 2>&1
zg_wait_log "$work/s1.out" '"id":3,' 1
case "$(reply "$work/s1.out" 3)" in
*'"error"'*'gateway is shutting down'*) echo "ok   a new call after SIGTERM is refused" ;;
*) echo "FAIL: new call after SIGTERM: $(reply "$work/s1.out" 3)"; fail=1 ;;
esac
case "$(reply "$work/s2.out" 1)" in
*'"error"'*'gateway is shutting down'*) echo "ok   a new session after SIGTERM is refused" ;;
*) echo "FAIL: new session after SIGTERM: $(reply "$work/s2.out" 1)"; fail=1 ;;
esac
zg_wait_log "$work/s1.out" '"id":2,' 1
case "$(reply "$work/s1.out" 2)" in
*'"result"'*'counted to 30'*) echo "ok   the call in flight got its answer" ;;
*) echo "FAIL: the call in flight: $(reply "$work/s1.out" 2)"; fail=1 ;;
esac
if zg_gone "$gpid"; then
	wait "$gpid"
	rc=$?
	[ $rc -eq 0 ] && echo "ok   gatewayd exited 0" || { echo "FAIL: gatewayd exited $rc"; fail=1; }
else
	echo "FAIL: gatewayd still running after the call finished"; fail=1
	kill -KILL "$gpid"
fi
exec 3>&-
grep -q "drained; stopping" "$work/gw.log" || { echo "FAIL: no 'drained' in the log"; fail=1; }
grep '"method":"tools/call"' "$work/audit.log" | grep -q 'test_slow_counter' ||
	{ echo "FAIL: the slow call has no audit record"; fail=1; }
grep -q '"method":"gateway/drain"' "$work/audit.log" &&
grep -q '"method":"gateway/stop".*"calls_ended":0' "$work/audit.log" ||
	{ echo "FAIL: no drain/stop records"; fail=1; }
"$GATEWAYCTL" --config "$work/gw.json" audit verify >"$work/verify.out" 2>&1 ||
	{ echo "FAIL: audit verify: $(cat "$work/verify.out")"; fail=1; }

# ---- 2. the deadline: a call that would take 100 s ends with an error
start_gw --drain-timeout 1
session s3
exec 3>"$work/s3.in"
echo "$init" >&3
echo "$inited" >&3
slow 2 1000 >&3
zg_wait_log "$work/s3.out" '"progressToken":"p2"' 1
kill -TERM "$gpid"
if zg_gone "$gpid"; then
	wait "$gpid"
	rc=$?
	[ $rc -eq 0 ] && echo "ok   gatewayd exited 0 at the drain deadline" ||
		{ echo "FAIL: gatewayd exited $rc at the deadline"; fail=1; }
else
	echo "FAIL: gatewayd did not stop at its drain deadline"; fail=1
	kill -KILL "$gpid"
fi
zg_wait_log "$work/s3.out" '"id":2,' 1
case "$(reply "$work/s3.out" 2)" in
*'"error"'*'shut down before the call finished'*) echo "ok   the unfinished call ended with an error" ;;
*) echo "FAIL: the unfinished call: $(reply "$work/s3.out" 2)"; fail=1 ;;
esac
exec 3>&-
grep -q "drain deadline passed: 1 calls" "$work/gw.log" || { echo "FAIL: no deadline line in the log"; fail=1; }
[ $fail -eq 0 ] && echo "drain: ok"
[ $fail -eq 0 ] || tail -n 20 "$work/gw.log"
exit $fail
