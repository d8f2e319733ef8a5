#!/bin/sh
# A hostile agent zone (evil_agent) opens 256 sessions on its channel,
# each initialize carrying 1 MiB of capabilities. gatewayd keeps only
# what it uses of them (which of sampling, elicitation and roots were
# declared, and those for the tool zones, small), so its RSS with all
# 256 sessions open stays under 64 MiB (it held 256+ MiB when it kept a
# deep copy of each). A good zone's call still works, and a session that
# declared sampling still gets the tool zone's sampling request. A
# session that sends logging/setLevel 2000 times to a tool zone that never
# answers them holds at most 64 of the gateway's requests for it (the
# rest get -32000), not 2000.
# Env: GATEWAYD, GATEWAYCTL, MCPD_TEST, RELAY, EVIL_AGENT, EVIL (binaries).
set -u
. "$(dirname "$0")/../common/daemons.sh"
zg_need GATEWAYD GATEWAYCTL MCPD_TEST RELAY EVIL_AGENT EVIL
zg_workdir gwsess
cat > "$work/gw.json" <<JSON
{ "zones": {
    "bad":   { "domid": 81, "role": "agent", "chan": "sim:81:bad" },
    "good":  { "domid": 82, "role": "agent", "chan": "sim:82:good" },
    "tools": { "domid": 83, "role": "tool", "chan": "sim:83:tools" },
    "evil":  { "domid": 84, "role": "tool", "chan": "sim:84:evil" } },
  "policy": "s.policy", "audit_log": "audit.log", "admin_socket": "gw.sock" }
JSON
cat > "$work/s.policy" <<POL
*  tools.*  allow
*  evil.*   allow
POL
"$MCPD_TEST" --chan sim:83:tools --fixtures conformance 2>"$work/tools.log" & pids="$pids $!"
"$EVIL" sim:84:evil 2>"$work/evil.log" & pids="$pids $!"
# RSS is measured: a sanitizer build must not hold freed memory back
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1" \
	"$GATEWAYD" --config "$work/gw.json" 2>"$work/gw.log" & gpid=$!
pids="$pids $gpid"
zg_wait_log "$work/gw.log" " up: " 2
fail=0
rss() { awk '/^VmRSS/ { print $2 }' /proc/$gpid/status; }
rss0=$(rss)
"$EVIL_AGENT" sim:81:bad 256 1048576 >"$work/agent.out" 2>"$work/agent.log" &
apid=$!
pids="$pids $apid"
# wait for every initialize to be answered (count, up to 60 s)
i=0
while [ $i -lt 600 ] && ! grep -q '^inited 256' "$work/agent.out"; do
	sleep 0.1
	i=$((i + 1))
done
grep -q '^inited 256' "$work/agent.out" && ok "256 sessions initialized with 1 MiB of capabilities each" ||
	bad "sessions initialized: $(cat "$work/agent.out") $(tail -2 "$work/agent.log")"
rss1=$(rss)
[ "$rss1" -lt 65536 ] && ok "gatewayd RSS ${rss1} kB with them open (${rss0} kB before; bound 64 MiB)" ||
	bad "gatewayd RSS ${rss1} kB with 256 sessions of 1 MiB capabilities (${rss0} kB before)"
# the capabilities that matter still reach the tool zone: a session that
# declared sampling gets the tool's sampling request through the gateway
{
	echo '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{"sampling":{},"experimental":{"x":{}}},"clientInfo":{"name":"g","version":"1"}}}'
	echo '{"jsonrpc":"2.0","method":"notifications/initialized"}'
	echo '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"tools.test_simple_text","arguments":{}}}'
	echo '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"tools.test_sampling","arguments":{"prompt":"hi"}}}'
	sleep 1
} | "$RELAY" --chan sim:82:good >"$work/good.out" 2>"$work/relay.log" &
rpid=$!
# the relay waits for answers still due, which these never get (the
# sampling request is not answered): ended once what is checked is there
zg_wait_log "$work/good.out" '"id":2,'
zg_wait_log "$work/good.out" 'sampling/createMessage'
kill "$rpid" 2>/dev/null
wait "$rpid" 2>/dev/null
grep -F '"id":2,' "$work/good.out" | grep -q 'simple text' &&
	ok "another zone's call works meanwhile" || bad "good call: $(head -c 300 "$work/good.out")"
grep -q 'sampling/createMessage' "$work/good.out" &&
	ok "a declared sampling capability still reaches the tool zone" ||
	bad "no sampling request reached the agent that declared sampling"
# logging/setLevel to a tool zone that never answers it
{
	echo '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"g","version":"1"}}}'
	echo '{"jsonrpc":"2.0","method":"notifications/initialized"}'
	echo '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"evil.mute","arguments":{}}}'
	sleep 0.5
	i=10
	while [ $i -lt 2010 ]; do
		echo "{\"jsonrpc\":\"2.0\",\"id\":$i,\"method\":\"logging/setLevel\",\"params\":{\"level\":\"debug\"}}"
		i=$((i + 1))
	done
	echo '{"jsonrpc":"2.0","id":3,"method":"ping"}'
	sleep 1
} | "$RELAY" --chan sim:82:good >"$work/level.out" 2>>"$work/relay.log" &
rpid=$!
# the ping's answer comes after every setLevel's (evil.mute and the held
# ones never come)
zg_wait_log "$work/level.out" '"id":3,'
kill "$rpid" 2>/dev/null
wait "$rpid" 2>/dev/null
nok=$(grep -c '"result":{}' "$work/level.out")
nbusy=$(grep -c '"code":-32000,"message":"too many requests in flight"' "$work/level.out")
[ "$nok" -le 66 ] && [ $((nok + nbusy)) -ge 2000 ] &&
	ok "2000 setLevel to a zone that never answers: $nok held, $nbusy refused" ||
	bad "2000 setLevel to a zone that never answers: $nok accepted, $nbusy refused"
kill -0 "$gpid" 2>/dev/null || { bad "gatewayd died"; tail "$work/gw.log"; }
[ $fail -eq 0 ] && echo "session_mem: ok" || tail -n 20 "$work/gw.log"
exit $fail
