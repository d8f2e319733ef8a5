#!/bin/sh
# No answered call without its audit record: two agent zones pipeline
# thousands of calls (allowed ones with unique arguments, logged with
# audit_args, and denied ones) through gatewayd, which is killed with
# SIGKILL while answers flow. Every allowed answer an agent received must
# have its call record in the log (found by its unique argument), and
# every denial's audit id must resolve (gatewayctl audit show). The batch
# interval is set to its maximum (audit_flush_ms 10000): records of a
# loop turn must reach the kernel before the turn's answers leave,
# whatever the batching.
# Env: GATEWAYD, GATEWAYCTL, MCPD_TEST, RELAY (binaries).
set -u
. "$(dirname "$0")/../common/daemons.sh"
zg_need GATEWAYD GATEWAYCTL MCPD_TEST RELAY
zg_workdir gwkill
cat > "$work/gw.json" <<JSON
{ "zones": {
    "ka": { "domid": 71, "role": "agent", "chan": "sim:71:ka" },
    "kb": { "domid": 72, "role": "agent", "chan": "sim:72:kb" },
    "t1": { "domid": 73, "role": "tool",  "chan": "sim:73:t1" } },
  "policy": "k.policy", "audit_log": "audit.log", "audit_args": true,
  "audit_flush_ms": 10000 }
JSON
cat > "$work/k.policy" <<POL
ka  t1.test_structured_output  allow
kb  t1.test_structured_output  allow
POL
"$MCPD_TEST" --chan sim:73:t1 --fixtures conformance 2>"$work/t1.log" & pids="$pids $!"
zg_gatewayd 1
fail=0

# requests ZONE_TAG: initialize, then up to 100000 calls in batches of 16
# (a session may have 256 in flight); id N (tag*1000000+i) is an allowed
# call with argument a = N, or every fourth one a denied call (a tool the
# policy does not grant).
requests() {
	echo '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"k","version":"1"}}}'
	echo '{"jsonrpc":"2.0","method":"notifications/initialized"}'
	awk -v t="$1" 'BEGIN { for (i = 1; i <= 100000; i++) { n = t * 1000000 + i
		if (i % 4 == 0)
			printf "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\",\"params\":{\"name\":\"t1.test_simple_text\",\"arguments\":{}}}\n", n
		else
			printf "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\",\"params\":{\"name\":\"t1.test_structured_output\",\"arguments\":{\"a\":%d,\"b\":1}}}\n", n, n
		if (i % 16 == 0) { fflush(); system("sleep 0.005") } } }'
}
# each relay reads a FIFO this script holds open (the session stays open
# until gatewayd dies)
mkfifo "$work/ina" "$work/inb"
"$RELAY" --chan sim:71:ka <"$work/ina" >"$work/a.out" 2>"$work/ra.log" & ra=$!
"$RELAY" --chan sim:72:kb <"$work/inb" >"$work/b.out" 2>"$work/rb.log" & rb=$!
exec 3>"$work/ina" 4>"$work/inb"
requests 1 >&3 & wa=$!
requests 2 >&4 & wb=$!
# kill gatewayd once answers are flowing on both zones
i=0
while [ $i -lt 600 ]; do
	na=$(grep -c '"result"' "$work/a.out")
	nb=$(grep -c '"result"' "$work/b.out")
	[ "$na" -ge 3000 ] && [ "$nb" -ge 3000 ] && break
	sleep 0.05
	i=$((i + 1))
done
kill -KILL "$gpid"
wait "$gpid" 2>/dev/null
exec 3>&- 4>&-
wait "$ra" "$rb" 2>/dev/null
kill "$wa" "$wb" 2>/dev/null
wait "$wa" "$wb" 2>/dev/null
cat "$work/a.out" "$work/b.out" > "$work/all.out"
# answered allowed calls (the structured result carries a + b)
grep '"result"' "$work/all.out" | grep -v '"id":0,' |
	sed -n 's/.*"id":\([0-9]*\).*/\1/p' | sort -u > "$work/answered"
grep -o '"args":{"a":[0-9]*' "$work/audit.log" | cut -d: -f3 | sort -u > "$work/recorded"
nans=$(wc -l < "$work/answered")
missing=$(comm -23 "$work/answered" "$work/recorded" | wc -l)
echo "     $nans allowed calls answered before SIGKILL, $missing without a record"
[ "$nans" -ge 5000 ] || bad "only $nans answers before the kill (no load?)"
[ "$missing" -eq 0 ] && ok "every answered call has its record" ||
	bad "$missing answered calls have no audit record: $(comm -23 "$work/answered" "$work/recorded" | head -3 | tr '\n' ' ')"
ids=$(grep -o '"auditId":"[^"]*"' "$work/all.out" | cut -d'"' -f4 | sort -u)
nd=$(echo "$ids" | grep -c .)
if [ "$nd" -gt 0 ] && echo "$ids" | xargs "$GATEWAYCTL" --config \
	"$work/gw.json" audit show >/dev/null 2>"$work/show.err"; then
	ok "all $nd denial audit ids received resolve to a record"
else
	bad "$nd denial ids, unresolved: $(head -3 "$work/show.err")"
fi
[ $fail -eq 0 ] && echo "audit_kill: ok" || tail -n 5 "$work/gw.log"
exit $fail
