#!/bin/sh
# A hostile tool zone (evil_tool) behind gatewayd, next to an honest one.
# Agent zones good-a and good-b run verified calls on the evil zone while
# it forges answers to each other's calls across streams (in mcpd's byte
# layout, which takes the splice path, and reordered, which takes the
# parsing path): not one forged answer may reach an agent. Agent zone bad
# calls the evil zone's junk (answer is not JSON: the call ends at its
# deadline, 500 ms; the other calls get 20 s, so that a slow sanitizer
# build on a loaded machine does not end them), spam (thousands of notifications and sampling requests the
# agent never declared: refused by the gateway, never forwarded; an agent
# that declared sampling but never answers holds at most 32) and churn
# (500 list_changed with nothing changed: at most about one catalogue
# fetch a second, and no list_changed reaches any agent), and answers in
# mcpd's byte layout with a second "id", a non-JSON body or invalid UTF-8
# (each call ends with -32000, no byte reaches the agent), and a
# notification with a NUL byte that jansson lets by (re-encoded). The honest tool
# zone keeps serving; gatewayd survives; the audit chain verifies.
# Env: GATEWAYD, GATEWAYCTL, MCPD_TEST, RELAY, GW_LOAD, EVIL (binaries).
set -u
. "$(dirname "$0")/../common/daemons.sh"
zg_need GATEWAYD GATEWAYCTL MCPD_TEST RELAY GW_LOAD EVIL
zg_workdir gwevil
cat > "$work/gw.json" <<JSON
{ "zones": {
    "good-a": { "domid": 91, "role": "agent", "chan": "sim:91:good-a" },
    "good-b": { "domid": 92, "role": "agent", "chan": "sim:92:good-b" },
    "bad":    { "domid": 93, "role": "agent", "chan": "sim:93:bad" },
    "evil":   { "domid": 94, "role": "tool", "chan": "sim:94:evil" },
    "honest": { "domid": 95, "role": "tool", "chan": "sim:95:honest" } },
  "policy": "e.policy", "audit_log": "audit.log" }
JSON
cat > "$work/e.policy" <<POL
good-a  evil.test_structured_output    allow
good-a  honest.test_structured_output  allow
good-b  evil.test_structured_output    allow
bad     evil.junk                      allow timeout=500ms
bad     evil.*                         allow timeout=20s
POL
"$EVIL" sim:94:evil 2>"$work/evil.log" & epid=$!
pids="$pids $epid"
"$MCPD_TEST" --chan sim:95:honest --fixtures conformance 2>"$work/honest.log" & pids="$pids $!"
zg_gatewayd 2
fail=0
"$GW_LOAD" --chan sim:91:good-a -c 8 -d 6 -w 0 --verify --tag 1 \
	--tool evil.test_structured_output >"$work/a.out" 2>&1 & apid=$!
"$GW_LOAD" --chan sim:92:good-b -c 8 -d 6 -w 0 --verify --tag 2 \
	--tool evil.test_structured_output >"$work/b.out" 2>&1 & bpid=$!
sleep 0.5
lists0=$(grep -c '^list ' "$work/evil.log")
{
	echo '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bad","version":"1"}}}'
	echo '{"jsonrpc":"2.0","method":"notifications/initialized"}'
	echo '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"evil.junk","arguments":{}}}'
	echo '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"evil.spam","arguments":{},"_meta":{"progressToken":"p3"}}}'
	echo '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"evil.churn","arguments":{}}}'
	echo '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"evil.test_structured_output","arguments":{"a":1,"b":2}}}'
	echo '{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"evil.dupid","arguments":{"victim":7}}}'
	echo '{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"evil.rawjunk","arguments":{}}}'
	echo '{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"evil.badutf8","arguments":{}}}'
	echo '{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"evil.nulnote","arguments":{}}}'
	sleep 3
	echo '{"jsonrpc":"2.0","id":5,"method":"tools/list"}'
	sleep 0.5
} | "$RELAY" --chan sim:93:bad >"$work/bad.out" 2>"$work/relay.log"
lists1=$(grep -c '^list ' "$work/evil.log")
# an agent that does declare sampling but never answers: the gateway keeps
# at most 32 of the zone's requests waiting on it and refuses the rest
{
	echo '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{"sampling":{}},"clientInfo":{"name":"mute","version":"1"}}}'
	echo '{"jsonrpc":"2.0","method":"notifications/initialized"}'
	echo '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"evil.spam","arguments":{}}}'
	sleep 2
} | "$RELAY" --chan sim:93:bad >"$work/mute.out" 2>>"$work/relay.log"
"$GW_LOAD" --chan sim:91:good-a -c 2 -d 1 -w 0 --verify --tag 3 \
	--tool honest.test_structured_output >"$work/h.out" 2>&1
for z in a b; do
	eval "wait \$${z}pid"
	rc=$?
	echo "good-$z on evil: $(cat "$work/$z.out")"
	[ $rc -eq 0 ] && grep -q "errors=0 mismatched=0 lost=0" "$work/$z.out" || {
		echo "FAIL: good-$z got a forged, lost or failed answer"; fail=1; }
done
grep -q "errors=0 mismatched=0 lost=0" "$work/h.out" &&
	echo "ok   the honest tool zone still serves: $(cat "$work/h.out")" ||
	{ echo "FAIL honest zone: $(cat "$work/h.out")"; fail=1; }
grep -F '"id":2,' "$work/bad.out" | grep -q '"code":-32001' &&
	ok "junk answer: the call ends at its deadline (-32001)" ||
	bad "junk answer: $(grep -F '"id":2,' "$work/bad.out" | head -c 300)"
grep -F '"id":3,' "$work/bad.out" | grep -q 'spam done' &&
	ok "spam: the call completes" || bad "spam: no answer"
if grep -q 'sampling/createMessage' "$work/bad.out"; then
	bad "a sampling request reached an agent that never declared sampling"
else
	ok "sampling requests never reached the agent"
fi
nref=$(awk '/^refused / { n = $2 } END { print n + 0 }' "$work/evil.log")
[ "$nref" -ge 368 ] && ok "the gateway refused $nref of 400 sampling requests" ||
	bad "the gateway refused $nref of 400 sampling requests"
ns=$(grep -c 'sampling/createMessage' "$work/mute.out")
[ "$ns" -ge 1 ] && [ "$ns" -le 32 ] &&
	ok "an agent that never answers holds $ns sampling requests (cap 32)" ||
	bad "an agent that never answers got $ns sampling requests"
grep -F '"id":2,' "$work/mute.out" | grep -q 'spam done' &&
	ok "and its call completes" || bad "the mute agent's call got no answer"
# Spliced answers (mcpd's byte layout) are checked before they are
# relayed: a second "id" (which would answer call 7), a body that is not
# JSON and invalid UTF-8 each end their call with -32000 "invalid
# response", and none of their bytes reach the agent.
for i in 6 8 9; do
	grep -F "\"id\":$i," "$work/bad.out" | grep -q '"code":-32000.*invalid response' &&
		ok "spliced junk (call $i): the call ends with -32000 invalid response" ||
		bad "spliced junk (call $i): $(grep -F "\"id\":$i," "$work/bad.out" | head -c 300)"
done
if grep -a -q -e 'forged by dupid' -e 'raw junk' -e 'bad utf8' "$work/bad.out"; then
	bad "bytes of an invalid spliced answer reached the agent"
else
	ok "no byte of an invalid spliced answer reached the agent"
fi
grep -F '"id":10,' "$work/bad.out" | grep -q 'nulnote done' &&
	[ "$(tr -cd '\000' <"$work/bad.out" | wc -c)" -eq 0 ] &&
	ok "a notification with a NUL byte jansson accepts reaches the agent re-encoded" ||
	bad "NUL bytes reached the agent: $(tr -cd '\000' <"$work/bad.out" | wc -c)"
grep -F '"id":7,' "$work/bad.out" | grep -q '"sum":3' &&
	ok "the call a second id aimed at gets its own answer" ||
	bad "call 7: $(grep -F '"id":7,' "$work/bad.out" | head -c 300)"
grep -F '"id":4,' "$work/bad.out" | grep -q 'churn done' &&
	ok "churn: the call completes" || bad "churn: no answer"
n=$(grep -c 'list_changed' "$work/bad.out")
[ "$n" -eq 0 ] && ok "no list_changed reached the agent (nothing changed)" ||
	bad "$n list_changed reached the agent"
fetches=$((lists1 - lists0))
[ "$fetches" -le 6 ] && ok "500 list_changed cost $fetches catalogue fetches" ||
	bad "500 list_changed cost $fetches catalogue fetches"
grep -F '"id":5,' "$work/bad.out" | grep -q 'evil.churn' &&
	ok "the bad session still lists" || bad "tools/list after the attack"
kill -0 "$gpid" 2>/dev/null || { bad "gatewayd died"; tail "$work/gw.log"; }
kill "$epid"
wait "$epid"
nf=$(awk '/^forged / { print $2 }' "$work/evil.log")
[ "${nf:-0}" -gt 100 ] && ok "$nf forged answers were sent, none got through" ||
	bad "the evil zone forged only ${nf:-0} answers (no concurrency?)"
"$GATEWAYCTL" --config "$work/gw.json" audit verify || fail=1
[ $fail -eq 0 ] && echo "evil: ok" || { tail -n 20 "$work/gw.log"; cut -c1-200 "$work/bad.out" | head -20; }
exit $fail
