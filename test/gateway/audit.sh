#!/bin/sh
# What an agent zone with no grants can do to the audit log and the
# metrics, through the real binaries (gatewayd, mcpd, relay, gatewayctl):
#  1. resources/read URIs under a tool zone's template whose multi-byte
#     characters straddle every byte count the gateway cuts text at: the
#     audit chain still verifies, `gatewayctl logs` shows every record,
#     /metrics stays valid UTF-8;
#  2. thousands of distinct URIs and tool names: the zone's metrics stay a
#     fixed couple of series (no label carries the caller's text) and the
#     scrape stays small;
#     and their audit records are aggregated: 20000 denials write a
#     bounded number of bytes, yet every denial's audit id (the last one's
#     included) resolves to a record with `gatewayctl audit show`;
#  3. `promtool check metrics` accepts a real scrape;
#  4. `audit verify FILE` on a copy with two tampered records reports both,
#     with their line numbers, and exits 1.
# Env: GATEWAYD, GATEWAYCTL, MCPD_TEST, RELAY (binaries); PROMTOOL (optional,
# default: promtool on PATH; the promtool check fails the test if absent).
set -u
. "$(dirname "$0")/../common/daemons.sh"
zg_need GATEWAYD GATEWAYCTL MCPD_TEST RELAY
PROMTOOL=${PROMTOOL:-$(command -v promtool)}
zg_workdir gwaudit
cat > "$work/gw.json" <<JSON
{ "zones": {
    "nog": { "domid": 61, "role": "agent", "chan": "sim:61:nog" },
    "t1":  { "domid": 62, "role": "tool",  "chan": "sim:62:t1" } },
  "policy": "a.policy", "audit_log": "audit.log", "admin_socket": "gw.sock",
  "metrics": "unix:$work/metrics.sock", "zone_denials_per_s": 0 }
JSON
# (no denial budget: it would spread the burst of 20000 denials below over
# 20 s, 100 records each second; what it does is gw_fairness's business)
echo '# nog has no grants' > "$work/a.policy"
"$MCPD_TEST" --chan sim:62:t1 --fixtures conformance 2>"$work/t1.log" & pids="$pids $!"
zg_gatewayd 1
fail=0
ctl() { "$GATEWAYCTL" --config "$work/gw.json" "$@"; }
scrape() { curl -s --unix-socket "$work/metrics.sock" http://x/metrics; }

# session: runs the requests on stdin (after initialize) as zone nog and
# keeps the session open until $1 responses came back (60 s at most).
session() {
	rm -f "$work/in"
	mkfifo "$work/in"
	"$RELAY" --chan sim:61:nog <"$work/in" >"$work/out" 2>>"$work/relay.log" &
	_rp=$!
	exec 3>"$work/in"
	echo '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"nog","version":"1"}}}' >&3
	echo '{"jsonrpc":"2.0","method":"notifications/initialized"}' >&3
	cat >&3
	_i=0
	while [ "$(grep -c '"id":' "$work/out")" -lt $(($1 + 1)) ] && [ $_i -lt 1200 ]; do
		sleep 0.05
		_i=$((_i + 1))
	done
	exec 3>&-
	wait $_rp
}

# 1. multi-byte characters at every offset around the cuts (the audit
# target kept 200 bytes of the name, error messages 128, a tool zone's
# last error 150): 2-, 3- and 4-byte characters at offsets 120..210
n1=0
for off in $(seq 120 210); do
	for ch in é € 😀; do
		pad=$(printf "%*s" $((off - 16)) "" | tr ' ' a)
		n1=$((n1 + 1))
		printf '{"jsonrpc":"2.0","id":%d,"method":"resources/read","params":{"uri":"test://template/%s%s%s%s/data"}}\n' \
			$n1 "$pad" "$ch" "$ch" "$ch"
		n1=$((n1 + 1))
		printf '{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"t1.%s%s%s","arguments":{}}}\n' \
			$n1 "$pad" "$ch" "$ch"
	done
done > "$work/req1"
session $n1 < "$work/req1"
nres=$(grep -c '"auditId"' "$work/out")
[ "$nres" -eq $n1 ] && ok "$n1 denied requests answered with an audit id" ||
	bad "$nres of $n1 requests answered"
out=$(ctl audit verify 2>&1) && ok "audit verify after multi-byte cuts: $out" ||
	bad "audit verify after multi-byte cuts: $(echo "$out" | head -5)"
# every denial's audit id resolves to a record (its own, or the
# aggregate it was counted in)
ids=$(grep -o '"auditId":"[^"]*"' "$work/out" | cut -d'"' -f4)
if ctl audit show $ids > "$work/show1" 2>"$work/show1.err"; then
	ok "all $n1 audit ids resolve ($(wc -l < "$work/show1") records)"
else
	bad "audit ids without a record: $(head -3 "$work/show1.err")"
fi
nlog=$(ctl logs nog | grep -c '"decision":"deny"\|"decision":"aggregate"')
[ "$nlog" -ge 1 ] && ok "gatewayctl logs shows the zone's $nlog records" ||
	bad "gatewayctl logs shows no record of nog"
scrape > "$work/m1.txt"
if iconv -f UTF-8 -t UTF-8 "$work/m1.txt" >/dev/null 2>&1; then
	ok "/metrics is valid UTF-8"
else
	bad "/metrics is not valid UTF-8"
fi

# 2. twenty thousand distinct URIs and tool names from the same zone
awk 'BEGIN { for (i = 1; i <= 10000; i++) {
	printf "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"resources/read\",\"params\":{\"uri\":\"test://template/x%d/data\"}}\n", 2 * i, i
	printf "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\",\"params\":{\"name\":\"t1.tool%d\",\"arguments\":{}}}\n", 2 * i + 1, i } }' \
	> "$work/req2"
b0=$(wc -c < "$work/audit.log")
session 20000 < "$work/req2"
b1=$(wc -c < "$work/audit.log")
echo "     20000 denials wrote $((b1 - b0)) bytes of audit log"
# unaggregated, each denial is a record of about 400 bytes (8 MB)
[ $((b1 - b0)) -lt 1000000 ] && ok "20000 denials: $((b1 - b0)) audit bytes" ||
	bad "20000 denials wrote $((b1 - b0)) audit bytes"
last=$(tail -n 1 "$work/out" | grep -o '"auditId":"[^"]*"' | cut -d'"' -f4)
if ctl audit show "$last" > "$work/show2" &&
   grep -q '"decision":"aggregate"' "$work/show2"; then
	ok "the last denial's id $last resolves to an aggregate record"
else
	bad "the last denial's id '$last': $(cat "$work/show2")"
fi
scrape > "$work/m2.txt"
ns=$(grep -c '^zonegate_calls_total{zone="nog"' "$work/m2.txt")
calls=$(awk -F'} ' '/^zonegate_calls_total\{zone="nog"/ { s += $2 } END { print s + 0 }' "$work/m2.txt")
sz=$(wc -c < "$work/m2.txt")
echo "     nog: $calls calls in $ns series; scrape $sz bytes"
[ "$ns" -le 2 ] && [ "$calls" -ge 20000 ] &&
	ok "20000 distinct targets counted in $ns series" ||
	bad "20000 distinct targets made $ns series ($calls calls)"
[ "$sz" -lt 65536 ] && ok "scrape of $sz bytes" || bad "scrape of $sz bytes"
if grep '^zonegate_' "$work/m2.txt" | grep -q 'tool="[^"]*\(template\|tool[0-9]\)'; then
	bad "a metrics label carries the caller's text"
else
	ok "no metrics label carries the caller's text"
fi

# 3. promtool on a real scrape
if [ -z "$PROMTOOL" ]; then
	bad "promtool not found (Debian package prometheus; scripts/setup.sh)"
elif "$PROMTOOL" check metrics < "$work/m2.txt" > "$work/promtool.out" 2>&1; then
	ok "promtool check metrics accepts the scrape"
else
	bad "promtool check metrics: $(head -5 "$work/promtool.out")"
fi

# 4. verify goes on after a bad record and reports every problem
awk 'NR == 5 { sub(/"decision":"deny"/, "\"decision\":\"allow\"") }
     NR == 9 { next } { print }' "$work/audit.log" > "$work/tampered.log"
out=$(ctl audit verify "$work/tampered.log")
rc=$?
if [ $rc -eq 1 ] && echo "$out" | grep -q "tampered.log:5: hash mismatch" &&
   echo "$out" | grep -q "tampered.log:9: chain broken" &&
   echo "$out" | grep -q "BROKEN: 2 problems"; then
	ok "audit verify FILE reports both tampered records (lines 5 and 9)"
else
	bad "audit verify FILE on a tampered copy: rc=$rc $(echo "$out" | head -5)"
fi
zg_all_alive audit "$work/gw.log" || fail=1
[ $fail -eq 0 ] && echo "audit: ok" || tail -n 20 "$work/gw.log"
exit $fail
