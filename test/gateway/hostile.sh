#!/bin/sh
# Hostile agent zones and a hostile tool zone against a running gatewayd,
# while a well-behaved zone keeps calling. Tool zone t2 is played by
# chan_poke --serve: every frame-level violation in turn, each of which
# must make gatewayd drop that channel only (and reconnect, as it does
# when a real mcpd finally serves there). Zone "bad" gets, on its
# channel, every protocol violation chan_poke knows (each must reset that
# channel with an ERROR frame), a flood of bad JSON, and a peer that dies
# in the middle of a frame; then,
# over a valid stream through the relay, malformed JSON, wrong types,
# unknown methods, a batch, deep nesting, an oversize message, forged
# responses and cancellations, and names that try to escape their tool
# zone: each request gets the right JSON-RPC error with its own id, and the
# same session then still works. Meanwhile zone "good" runs verified calls
# (gw_load --verify): none may fail, be lost or be misrouted. gatewayd must
# survive it all and its audit chain must verify.
# Env: GATEWAYD, GATEWAYCTL, MCPD_TEST, RELAY, POKE, GW_LOAD (binaries).
set -u
. "$(dirname "$0")/../common/daemons.sh"
zg_need GATEWAYD GATEWAYCTL MCPD_TEST RELAY POKE GW_LOAD
zg_workdir gwhostile
cat > "$work/gw.json" <<JSON
{ "zones": {
    "good": { "domid": 81, "role": "agent", "chan": "sim:81:good" },
    "bad":  { "domid": 82, "role": "agent", "chan": "sim:82:bad" },
    "t1":   { "domid": 83, "role": "tool", "chan": "sim:83:t1" },
    "t2":   { "domid": 84, "role": "tool", "chan": "sim:84:t2" } },
  "policy": "h.policy", "audit_log": "audit.log", "admin_socket": "gw.sock",
  "max_message": 65536 }
JSON
cat > "$work/h.policy" <<POL
good  t1.test_structured_output  allow
good  t2.test_structured_output  allow
bad   t1.test_simple_text        allow
POL
"$MCPD_TEST" --chan sim:83:t1 --fixtures conformance 2>"$work/t1.log" & pids="$pids $!"
zg_gatewayd 1
fail=0
"$GW_LOAD" --chan sim:81:good -c 8 -d 16 -w 0 --verify --tag 5 \
	--tool t1.test_structured_output >"$work/good.out" 2>&1 & lpid=$!

# 0. meanwhile, in the background, tool zone t2 is a hostile server: each
# frame-level violation in turn (gatewayd reconnects after each)
(
	for c in garbage oversize before-hello bad-version reuse flood mid-frame; do
		echo "$c: $("$POKE" --serve sim:84:t2 "$c")"
	done
) >"$work/t2poke.out" 2>&1 & tpid=$!

# 1. frame-level attacks on the bad zone's channel
for c in garbage oversize before-hello bad-version reuse; do
	got=$("$POKE" sim:82:bad "$c")
	case "$got" in
	*ERROR\ closed) echo "ok   channel $c: $got" ;;
	*) echo "FAIL channel $c: $got"; fail=1 ;;
	esac
done
got=$("$POKE" sim:82:bad flood)
case "$got" in
*DATA*) echo "ok   channel flood of bad JSON: answered ($(echo "$got" | wc -w) frames)" ;;
*) echo "FAIL channel flood: $got"; fail=1 ;;
esac
got=$("$POKE" sim:82:bad mid-frame)
echo "ok   channel: a peer $got"

# 2. message-level attacks on a valid stream
deep=$(awk 'BEGIN { for (i = 0; i < 2000; i++) printf "["; for (i = 0; i < 2000; i++) printf "]" }')
big=$(awk 'BEGIN { for (i = 0; i < 70000; i++) printf "x" }')
{
	echo '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bad","version":"1"}}}'
	echo '{"jsonrpc":"2.0","method":"notifications/initialized"}'
	echo '{not json'
	echo '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":[1,2]}'
	echo '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":42}}'
	echo '{"jsonrpc":"2.0","id":4,"method":"no/such/method"}'
	echo '{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}'
	echo "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/call\",\"params\":{\"name\":\"t1.test_simple_text\",\"arguments\":{\"x\":$deep}}}"
	echo '[{"jsonrpc":"2.0","id":7,"method":"ping"}]'
	echo "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"tools/call\",\"params\":{\"name\":\"t1.test_simple_text\",\"arguments\":{\"x\":\"$big\"}}}"
	echo '{"jsonrpc":"2.0","id":"zg-99999","result":{}}'
	echo '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":12345}}'
	echo '{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"t1.test_structured_output","arguments":{"a":1,"b":2}}}'
	echo '{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"../t1.test_simple_text","arguments":{}}}'
	echo '{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"t1.test_simple_text\u0000x","arguments":{}}}'
	echo '{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":"t1.*","arguments":{}}}'
	echo '{"jsonrpc":"2.0","id":13,"method":"tools/call","params":{"name":"t1.test_simple_text","arguments":{}}}'
	sleep 3
} | "$RELAY" --chan sim:82:bad >"$work/bad.out" 2>"$work/relay.log"
# expect: id -> a pattern its reply must match
check() {
	if grep -F "\"id\":$1," "$work/bad.out" | grep -qE "$2"; then
		echo "ok   message: $3"
	else
		echo "FAIL message: $3 (id $1: $(grep -F "\"id\":$1," "$work/bad.out" | head -c 300))"
		fail=1
	fi
}
grep -q '"id":null,"error":{"code":-32700' "$work/bad.out" &&
	echo "ok   message: malformed JSON gets -32700 (id null)" ||
	{ echo "FAIL message: no -32700 for malformed JSON"; fail=1; }
check 2 '"code":-326' "params of the wrong type"
check 3 '"code":-326' "a tool name of the wrong type"
check 4 '"code":-32601' "an unknown method"
grep -q '"id":null,"error":{"code":-32600' "$work/bad.out" &&
	echo "ok   message: an object id gets -32600 (id null)" ||
	{ echo "FAIL message: no -32600 for an object id"; fail=1; }
# nesting is refused before parsing, so the id is unknown (null)
grep -q '"id":null,"error":{"code":-32600,"message":"message nested too deeply"' "$work/bad.out" &&
	echo "ok   message: nesting 2000 deep is refused" ||
	{ echo "FAIL message: deep nesting not refused"; fail=1; }
grep -q '"id":null,"error":{"code":-32600,"message":"batches' "$work/bad.out" &&
	echo "ok   message: a batch is refused" ||
	{ echo "FAIL message: batch not refused"; fail=1; }
check 8 '"error":\{"code":-32600,"message":"message too large' "a message over the gateway's max_message (the relay answers)"
check 9 '"code":-32602.*Unknown tool' "a tool of another zone's grant looks unknown"
check 10 '"code":-32602.*Unknown tool' "a name with ../"
grep '"id":null,"error":{"code":-32700' "$work/bad.out" | grep -q 'u0000 is not allowed' &&
	echo "ok   message: a NUL in a name is a parse error" ||
	{ echo "FAIL message: a NUL in a name got through"; fail=1; }
check 12 '"code":-32602.*Unknown tool' "a glob as a name"
check 13 '"result":\{"content"' "the same session still works"
for r in zg-99999; do
	if grep -q "\"$r\"" "$work/bad.out"; then echo "FAIL message: reply to a forged response"; fail=1; fi
done

# 3. the hostile tool zone: every violation made gatewayd drop the
# channel; then a real mcpd at that address is taken up again
wait $tpid
while read -r line; do
	case "$line" in
	*closed|*died\ mid-frame) echo "ok   tool zone channel $line" ;;
	*) echo "FAIL tool zone channel $line"; fail=1 ;;
	esac
done <"$work/t2poke.out"
[ "$(wc -l <"$work/t2poke.out")" -eq 7 ] || { echo "FAIL: not every tool zone case ran"; fail=1; }
"$MCPD_TEST" --chan sim:84:t2 --fixtures conformance 2>"$work/t2.log" & pids="$pids $!"
zg_wait_log "$work/gw.log" " up: " 2
"$GW_LOAD" --chan sim:81:good -c 2 -d 1 -w 0 --verify --tag 6 \
	--tool t2.test_structured_output >"$work/t2.out" 2>&1
grep -q "errors=0 mismatched=0 lost=0" "$work/t2.out" &&
	echo "ok   tool zone t2 is back with a real mcpd: $(cat "$work/t2.out")" ||
	{ echo "FAIL t2 after the attacks: $(cat "$work/t2.out")"; fail=1; }

# 4. the good zone was not affected
wait $lpid
rc=$?
echo "good: $(cat "$work/good.out")"
[ $rc -eq 0 ] && grep -q "errors=0 mismatched=0 lost=0" "$work/good.out" || {
	echo "FAIL: the well-behaved zone was affected"; fail=1; }
req=$(tr ' ' '\n' < "$work/good.out" | awk -F= '$1 == "requests" { print $2 }')
[ "${req:-0}" -ge 100 ] || { echo "FAIL: the well-behaved zone was starved ($req calls)"; fail=1; }
kill -0 "$gpid" 2>/dev/null || { echo "FAIL: gatewayd died"; tail "$work/gw.log"; fail=1; }
"$GATEWAYCTL" --config "$work/gw.json" audit verify || fail=1
[ $fail -eq 0 ] && echo "hostile: ok" || { tail -n 20 "$work/gw.log"; cut -c1-300 "$work/bad.out"; cat "$work/relay.log"; }
exit $fail
