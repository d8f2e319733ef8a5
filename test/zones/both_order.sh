#!/usr/bin/env bash
# zonectl up with a zone that is both agent and tool (docs/zones.md,
# "Start order"): sandboxed zones tools (tool: mcpd), cve (both: its
# mcpd serves $ZONEGATE_TOOL_CHAN, its relay reaches the gateway on
# $ZONEGATE_CHAN) and sup (agent). Checks:
#  1. cve's environment has ZONEGATE_CHAN (its agent side) and
#     ZONEGATE_TOOL_CHAN (its tool side); ps shows it as agent+tool;
#  2. start order from the audit log's zone/started records: tools, then
#     cve, then sup;
#  3. cve's first and only call of tools.time_now (made as soon as it
#     starts) succeeds: the tool zones were ready before it started;
#  4. sup's first and only call of cve.time_now succeeds: cve's tool side
#     was ready (its catalogue in the gateway) before the agents started,
#     although cve's mcpd starts only a second after the zone;
#  5. down stops every zone.
# Seen to fail: with the both-zones started together with the agents
# (not waited for), 4 fails (sup's call finds "tool zone unavailable").
# Usage: both_order.sh ZONECTL GATEWAYD MCPD RELAY (as root; 77 = skipped)
set -u
ZONECTL=$1
export ZONEGATE_GATEWAYD=$2
MCPD=$3
RELAY=$4
. "$(dirname "$0")/sup-scratch.sh"
zs_scratch zboth

# one MCP session through the relay with one tools/call of $1, kept
# open a while for the answer (the audit log is what the test reads)
cat >"$S/call.sh" <<'EOF'
{ printf '%s\n' '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"a","version":"1"}}}' \
  '{"jsonrpc":"2.0","method":"notifications/initialized"}' \
  "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"$1\",\"arguments\":{}}}"
  sleep 3; } |
  /zg/relay --chan "$ZONEGATE_CHAN" --connect-timeout 2000 2>&1 | grep '"id":1'
EOF
# cve: says its channels, calls its tool zone, then serves its tool side
cat >"$S/cve.sh" <<'EOF'
echo "env chan=$ZONEGATE_CHAN tool_chan=$ZONEGATE_TOOL_CHAN"
sh /zg/call.sh tools.time_now &
sleep 1
exec /zg/mcpd --chan "$ZONEGATE_TOOL_CHAN"
EOF
cat >"$S/sup.sh" <<'EOF'
sh /zg/call.sh cve.time_now
exec sleep 600
EOF
ENVZ='{"ASAN_OPTIONS": "detect_leaks=0"}'
IN="\"/zg/relay\": \"$RELAY\", \"/zg/mcpd\": \"$MCPD\", \"/zg/call.sh\": \"$S/call.sh\""
cat >"$S/gw.json" <<EOF
{ "zones": {
  "sup": {"domid": 53, "role": "agent", "chan": "sim:53:sup",
     "run": {"command": ["/bin/sh", "/zg/sup.sh"],
             "files": {"in": {$IN, "/zg/sup.sh": "$S/sup.sh"}}, "env": $ENVZ}},
  "cve": {"domid": 52, "role": ["agent", "tool"], "chan": "sim:52:cve",
     "tool_chan": "sim:52:cve-tool",
     "run": {"command": ["/bin/sh", "/zg/cve.sh"],
             "files": {"in": {$IN, "/zg/cve.sh": "$S/cve.sh"}}, "env": $ENVZ}},
  "tools": {"domid": 51, "role": "tool", "chan": "sim:51:mcp",
     "run": {"command": ["/zg/mcpd", "--chan", "sim:51:mcp"],
             "files": {"in": {"/zg/mcpd": "$MCPD"}}, "env": $ENVZ}}
  },
  "policy": "a.policy", "audit_log": "audit.log", "admin_socket": "gw.sock",
  "call_timeout_ms": 5000 }
EOF
printf 'cve tools.time_now allow\nsup cve.time_now allow\n' >"$S/a.policy"

out=$(zc up --detach 2>&1)
rc=$?
echo "$out"
[ $rc = 0 ] && pass "up --detach" || fail "up --detach ($rc)"
echo "$out" | grep -q '^cve .*agent+tool .*52 ' && pass "cve's role: agent+tool" ||
	fail "cve's row in the up table"
# call_rec ZONE TARGET: the audit record of ZONE's call of TARGET (an
# allowed call that reached the tool zone has t_upstream_us; one to a
# tool zone that is not up yet has "reason":"tool zone unavailable")
call_rec() {
	grep "\"zone\":\"$1\",\"session\":[^,]*,\"method\":\"tools/call\",\"target\":\"$2\"" \
		"$S/audit.log" 2>/dev/null | head -n 1
}
for _ in $(seq 150); do
	[ -n "$(call_rec sup cve.time_now)" ] && break
	sleep 0.1
done
grep -q 'env chan=sim:52:cve tool_chan=sim:52:cve-tool' "$S/state/logs/cve.log" &&
	pass "cve's environment: ZONEGATE_CHAN and ZONEGATE_TOOL_CHAN" ||
	fail "cve's environment: $(head -3 "$S/state/logs/cve.log")"
order=$(grep -o '"zone":"[a-z]*","method":"zone/started"' "$S/audit.log" |
	cut -d'"' -f4 | tr '\n' ' ')
[ "$order" = "tools cve sup " ] && pass "started in order: $order" ||
	fail "start order: $order"
case $(call_rec cve tools.time_now) in
*'"reason"'*) fail "cve's call: $(call_rec cve tools.time_now)" ;;
*'"decision":"allow"'*'"t_upstream_us":'[1-9]*)
	pass "cve's first call of tools.time_now reached the tool zone" ;;
*) fail "cve's call: $(call_rec cve tools.time_now)" ;;
esac
case $(call_rec sup cve.time_now) in
*'"reason"'*) fail "sup's call: $(call_rec sup cve.time_now)" ;;
*'"decision":"allow"'*'"t_upstream_us":'[1-9]*)
	pass "sup's first call of cve.time_now reached cve's tool side" ;;
*) fail "sup's call: $(call_rec sup cve.time_now)" ;;
esac
zc down >/dev/null 2>&1
for _ in $(seq 50); do
	left=$(pgrep -f "$S/" | wc -l)
	[ "$left" = 0 ] && break
	sleep 0.1
done
[ "$left" = 0 ] && pass "down: no zone left" || fail "down: $left processes left"
echo "$FAILS failed"
[ $FAILS = 0 ]
