#!/bin/sh
# Model token usage summed per zone by gatewayd, through the real binaries
# (gatewayd, mcpd --llm in its deterministic mode as tool zone llm,
# evil_tool as tool zone evil, relays, gatewayctl):
#  1. agent zone ag calls llm.llm_chat three times: /metrics'
#     zonegate_tool_tokens_total{zone="ag",tool_zone="llm",kind=...}, the
#     stats row of llm.llm_chat and each call's audit record ("tokens")
#     hold exactly what the results' structuredContent.usage said;
#  2. agent zone bad calls evil.tokens with hostile usages: huge counts are
#     clamped to 1000000 a call, negative, fractional, string, 2^70 and
#     non-object usages are refused (counted as rejected, "tokens":"invalid"
#     in the audit record), a "usage" outside structuredContent counts
#     nothing, both on the splice path and the parsing path; zone ag's
#     counters are untouched by zone bad's calls; gatewayd survives and
#     the audit chain verifies; promtool (if installed) accepts the scrape.
# Seen to fail with the clamp off (the huge count reaches the counter),
# with the sign check off (the negative count wraps the counter), and with
# the token scan off on the splice path (ag's counters stay 0).
# Env: GATEWAYD, GATEWAYCTL, MCPD, RELAY, EVIL (binaries).
set -u
. "$(dirname "$0")/../common/daemons.sh"
zg_need GATEWAYD GATEWAYCTL MCPD RELAY EVIL
zg_workdir gwtokens
cat > "$work/gw.json" <<JSON
{ "zones": {
    "ag":   { "domid": 71, "role": "agent", "chan": "sim:71:ag" },
    "bad":  { "domid": 72, "role": "agent", "chan": "sim:72:bad" },
    "llm":  { "domid": 73, "role": "tool",  "chan": "sim:73:llm" },
    "evil": { "domid": 74, "role": "tool",  "chan": "sim:74:evil" } },
  "policy": "t.policy", "audit_log": "audit.log", "admin_socket": "gw.sock",
  "metrics": "unix:$work/metrics.sock" }
JSON
cat > "$work/t.policy" <<POL
ag   llm.llm_chat  allow
bad  evil.tokens   allow
bad  llm.llm_chat  allow
POL
"$MCPD" --chan sim:73:llm --llm 2>"$work/llm.log" & pids="$pids $!"
"$EVIL" sim:74:evil 2>"$work/evil.log" & pids="$pids $!"
zg_gatewayd 2
fail=0
ctl() { "$GATEWAYCTL" --config "$work/gw.json" "$@"; }
scrape() { curl -s --unix-socket "$work/metrics.sock" http://x/metrics; }
# tokens ZONE TOOL_ZONE KIND: the counter's value in a scrape on stdin
tokens() {
	grep -F "zonegate_tool_tokens_total{zone=\"$1\",tool_zone=\"$2\",kind=\"$3\"}" |
		awk '{ print $2 }'
}

# session ZONE N: runs the requests on stdin (after initialize) as ZONE and
# keeps the session open until N responses came back (60 s at most);
# responses in $work/ZONE.out.
session() {
	rm -f "$work/in"
	mkfifo "$work/in"
	: >"$work/$1.out" # exists before the wait below counts its lines
	"$RELAY" --chan "sim:$(zone_dom "$1"):$1" <"$work/in" >"$work/$1.out" \
		2>>"$work/relay.log" &
	_rp=$!
	exec 3>"$work/in"
	echo '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}' >&3
	echo '{"jsonrpc":"2.0","method":"notifications/initialized"}' >&3
	cat >&3
	_i=0
	while [ "$(grep -c '"id":' "$work/$1.out")" -lt $(($2 + 1)) ] &&
		[ $_i -lt 1200 ]; do
		sleep 0.05
		_i=$((_i + 1))
	done
	exec 3>&-
	wait $_rp
}
zone_dom() { case $1 in ag) echo 71 ;; bad) echo 72 ;; esac; }

# 1. honest usage from llm_chat
call() {
	printf '{"jsonrpc":"2.0","id":%s,"method":"tools/call","params":{"name":"llm.llm_chat","arguments":{"messages":[{"role":"user","content":"%s"}],"max_tokens":%s}}}\n' "$1" "$2" "$3"
}
{
	call 1 "Summarise: containers share the host kernel. Namespaces isolate views." 64
	call 2 "What is a seccomp filter and why does it matter for escapes" 8
	call 3 "one two three" 512
} | session ag 3
want_p=0 want_c=0 want_t=0
for i in 1 2 3; do
	u=$(grep -F "\"id\":$i," "$work/ag.out" | jq -c '.result.structuredContent.usage')
	case $u in
	'{"prompt_tokens":'*) ;;
	*) bad "call $i: no usage in the llm_chat result: $u"; continue ;;
	esac
	want_p=$((want_p + $(echo "$u" | jq .prompt_tokens)))
	want_c=$((want_c + $(echo "$u" | jq .completion_tokens)))
	want_t=$((want_t + $(echo "$u" | jq .total_tokens)))
	want=$(echo "$u" | jq -r '"\"tokens\":{\"prompt\":\(.prompt_tokens),\"completion\":\(.completion_tokens),\"total\":\(.total_tokens)}"')
	grep -F '"method":"tools/call"' "$work/audit.log" | grep -F '"zone":"ag"' |
		grep -q -F "$want" &&
		ok "call $i: an audit record of ag has the result's usage ($want)" ||
		bad "call $i: no audit record of ag with $want"
done
[ "$want_p" -gt 0 ] && [ "$want_c" -gt 0 ] || bad "llm_chat reported no tokens"
m=$(scrape)
for k in prompt:$want_p completion:$want_c total:$want_t; do
	got=$(echo "$m" | tokens ag llm "${k%%:*}")
	[ "$got" = "${k#*:}" ] &&
		ok "ag/llm ${k%%:*} tokens: $got" ||
		bad "ag/llm ${k%%:*} tokens: $got, want ${k#*:}"
done
st=$(ctl stats --json | jq -c '.[] | select(.zone=="ag" and .tool=="llm.llm_chat") | .tokens')
[ "$st" = "{\"prompt\":$want_p,\"completion\":$want_c,\"total\":$want_t,\"rejected\":0}" ] &&
	ok "stats --json: $st" || bad "stats --json tokens of ag: $st"

# 2. a hostile tool zone's usages
ev() {
	printf '{"jsonrpc":"2.0","id":%s,"method":"tools/call","params":{"name":"evil.tokens","arguments":{"usage":"%s","layout":"%s"}}}\n' "$1" "$2" "$3"
}
{
	ev 1 '{\"prompt_tokens\":7,\"completion_tokens\":3,\"total_tokens\":10}' splice
	ev 2 '{\"prompt_tokens\":1000000000000000,\"completion_tokens\":9223372036854775807,\"total_tokens\":5000000}' splice
	ev 3 '{\"prompt_tokens\":1,\"completion_tokens\":2,\"total_tokens\":3}' other
	ev 4 '{\"prompt_tokens\":-5,\"completion_tokens\":3,\"total_tokens\":-2}' splice
	ev 5 '{\"prompt_tokens\":1.5,\"completion_tokens\":3,\"total_tokens\":4.5}' splice
	ev 6 '{\"prompt_tokens\":\"12\",\"completion_tokens\":3,\"total_tokens\":15}' splice
	ev 7 '{\"prompt_tokens\":1180591620717411303424,\"completion_tokens\":1,\"total_tokens\":1}' splice
	ev 8 '\"lots\"' splice
	ev 9 '{\"prompt_tokens\":-9223372036854775807,\"completion_tokens\":0,\"total_tokens\":0}' other
	ev 10 '{\"completion_tokens\":3,\"total_tokens\":3}' splice
	ev 11 x text
} | session bad 11
n=$(grep -c '"result"' "$work/bad.out")
[ "$n" -eq 12 ] && ok "every hostile answer relayed ($n with initialize)" ||
	bad "hostile answers relayed: $n of 12"
m=$(scrape)
for k in prompt:1000008 completion:1000005 total:1000013; do
	got=$(echo "$m" | tokens bad evil "${k%%:*}")
	[ "$got" = "${k#*:}" ] &&
		ok "bad/evil ${k%%:*} tokens clamped and summed: $got" ||
		bad "bad/evil ${k%%:*} tokens: $got, want ${k#*:}"
done
r=$(echo "$m" | grep -F 'zonegate_tool_tokens_rejected_total{zone="bad",tool_zone="evil"}' | awk '{ print $2 }')
[ "$r" = 7 ] && ok "7 hostile usages refused" || bad "refused usages: $r, want 7"
c=$(echo "$m" | grep -F 'zonegate_tool_token_calls_total{zone="bad",tool_zone="evil"}' | awk '{ print $2 }')
[ "$c" = 3 ] && ok "3 calls counted" || bad "calls counted: $c, want 3"
for k in prompt:$want_p completion:$want_c total:$want_t; do
	got=$(echo "$m" | tokens ag llm "${k%%:*}")
	[ "$got" = "${k#*:}" ] || bad "ag's ${k%%:*} tokens changed to $got"
done
if echo "$m" | grep -F 'zonegate_tool_tokens_total' | grep -v -e 'zone="ag",tool_zone="llm"' -e 'zone="bad",tool_zone="evil"' -e '^#' | grep -q .; then
	bad "a token series other than ag/llm and bad/evil: $(echo "$m" | grep -F zonegate_tool_tokens_total)"
else
	ok "token series only for configured zone pairs that reported usage"
fi
PROMTOOL=${PROMTOOL:-$(command -v promtool)}
if [ -n "$PROMTOOL" ]; then
	echo "$m" | "$PROMTOOL" check metrics >"$work/promtool.out" 2>&1 &&
		ok "promtool check metrics accepts the scrape with token families" ||
		bad "promtool: $(cat "$work/promtool.out")"
fi
inv=$(grep -F '"zone":"bad"' "$work/audit.log" | grep -c '"tokens":"invalid"')
[ "$inv" = 7 ] && ok "7 audit records say tokens invalid" ||
	bad "audit records with invalid tokens: $inv, want 7"
grep -F '"zone":"bad"' "$work/audit.log" | grep -q '"tokens":{"prompt":1000000,"completion":1000000,"total":1000000}' &&
	ok "the huge usage is clamped in its audit record" ||
	bad "no clamped audit record"
ctl audit verify "$work/audit.log" >/dev/null 2>&1 &&
	ok "audit chain verifies" || bad "audit chain does not verify"
zg_all_alive tokens "$work/gw.log" "$work/evil.log" || fail=1
if [ $fail -ne 0 ]; then
	tail -n 20 "$work/gw.log" "$work/relay.log" "$work/ag.out" "$work/bad.out"
fi
exit $fail
