#!/bin/sh
# No answered call without its audit record: two agent zones pipeline
# thousands of calls (allowed ones with unique arguments, logged with
# audit_args, and denied ones) through gatewayd, which is killed with
# SIGKILL while answers flow. Every allowed answer an agent received must
# have its call record in the log (found by its unique argument), and
# every denial's audit id must resolve (gatewayctl audit show). The batch
# interval is set to its maximum (audit_flush_ms 10000): records of a
# loop turn must reach the kernel before the turn's answers leave,
# whatever the batching. A third zone, kc, is served only by an HTTP
# listener (a unix socket) and sends stateless (2026-07-28) calls with
# curl, many in parallel: its answers leave through the listener's HTTP
# threads, and must as well wait for the turn's records (before they
# did not: the loop handed each one to its HTTP thread at once).
# Env: GATEWAYD, GATEWAYCTL, MCPD_TEST, RELAY (binaries).
set -u
. "$(dirname "$0")/../common/daemons.sh"
zg_need GATEWAYD GATEWAYCTL MCPD_TEST RELAY
zg_workdir gwkill
cat > "$work/gw.json" <<JSON
{ "zones": {
    "ka": { "domid": 71, "role": "agent", "chan": "sim:71:ka" },
    "kb": { "domid": 72, "role": "agent", "chan": "sim:72:kb" },
    "kc": { "domid": 74, "role": "agent" },
    "t1": { "domid": 73, "role": "tool",  "chan": "sim:73:t1" } },
  "policy": "k.policy", "audit_log": "audit.log", "audit_args": true,
  "audit_flush_ms": 10000,
  "listeners": [ { "listen": "unix:kc.sock", "zone": "kc", "uid": $(id -u) } ] }
JSON
cat > "$work/k.policy" <<POL
ka  t1.test_structured_output  allow
kb  t1.test_structured_output  allow
kc  t1.test_structured_output  allow
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
# posts TAG ROUND: a curl config of 2000 stateless calls (ids and
# argument a = TAG*1000000 + ROUND*2000 + i) to the listener
posts() {
	awk -v t="$1" -v r="$2" 'BEGIN { for (i = 1; i <= 2000; i++) {
		n = t * 1000000 + r * 2000 + i
		if (i > 1) print "next"
		print "url = \"http://localhost/mcp\""
		print "unix-socket = \"kc.sock\""
		print "header = \"Content-Type: application/json\""
		print "header = \"Accept: application/json, text/event-stream\""
		print "header = \"MCP-Protocol-Version: 2026-07-28\""
		print "header = \"Mcp-Method: tools/call\""
		print "header = \"Mcp-Name: t1.test_structured_output\""
		printf "data = \"{\\\"jsonrpc\\\":\\\"2.0\\\",\\\"id\\\":%d,", n
		printf "\\\"method\\\":\\\"tools/call\\\",\\\"params\\\":{"
		printf "\\\"name\\\":\\\"t1.test_structured_output\\\","
		printf "\\\"arguments\\\":{\\\"a\\\":%d,\\\"b\\\":1},", n
		printf "\\\"_meta\\\":{"
		printf "\\\"io.modelcontextprotocol/protocolVersion\\\":\\\"2026-07-28\\\","
		printf "\\\"io.modelcontextprotocol/clientCapabilities\\\":{},"
		printf "\\\"io.modelcontextprotocol/clientInfo\\\":"
		printf "{\\\"name\\\":\\\"k\\\",\\\"version\\\":\\\"1\\\"}}}}\"\n"
	} }'
}
# the listener's clients: two loops, each of rounds of 2000 parallel
# calls, until gatewayd dies; 48 connections each, under the listener's
# 128 (at 2 x 64 a connection opened while another was closing was
# refused at the cap, curl's round failed and its loop ended early)
clients() {
	cd "$work" || exit 1
	r=$1
	while [ $r -lt 100 ]; do
		posts 3 $r >"c$r.cfg"
		curl -s --parallel --parallel-max 48 -K "c$r.cfg" >>"c$1.out" \
			2>/dev/null || break
		rm -f "c$r.cfg"
		r=$((r + 2))
	done
}
clients 0 & wc=$!
clients 1 & wc="$wc $!"

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
	nc=$(cat "$work/c0.out" "$work/c1.out" 2>/dev/null | grep -o '"result"' | wc -l)
	[ "$na" -ge 3000 ] && [ "$nb" -ge 3000 ] && [ "$nc" -ge 3000 ] && break
	sleep 0.05
	i=$((i + 1))
done
kill -KILL "$gpid"
wait "$gpid" 2>/dev/null
exec 3>&- 4>&-
wait "$ra" "$rb" 2>/dev/null
kill "$wa" "$wb" 2>/dev/null
wait "$wa" "$wb" $wc 2>/dev/null
# (curl's bodies are not one a line: each answer is cut out by its id)
cat "$work/c0.out" "$work/c1.out" | grep -o '"id":[0-9]*,"result"' |
	sed 's/^/{"jsonrpc":"2.0",/; s/"result"$/"result":{}}/' > "$work/c.lines"
cat "$work/a.out" "$work/b.out" "$work/c.lines" > "$work/all.out"
nlst=$(grep -c . "$work/c.lines")
# answered allowed calls (the structured result carries a + b)
grep '"result"' "$work/all.out" | grep -v '"id":0,' |
	sed -n 's/.*"id":\([0-9]*\).*/\1/p' | sort -u > "$work/answered"
grep -o '"args":{"a":[0-9]*' "$work/audit.log" | cut -d: -f3 | sort -u > "$work/recorded"
nans=$(wc -l < "$work/answered")
missing=$(comm -23 "$work/answered" "$work/recorded" | wc -l)
echo "     $nans allowed calls answered before SIGKILL ($nlst through the" \
	"listener), $missing without a record"
[ "$nlst" -ge 3000 ] || bad "only $nlst listener answers before the kill"
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
