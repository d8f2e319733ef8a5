#!/bin/sh
# A zone that is both an agent and a tool (docs/gateway.md, "A zone that
# is both agent and tool"), with real processes: relays -> gatewayd ->
# mcpd-test. Zone cve has its agent side on sim:132:cve (a relay) and its
# tool side on sim:132:cve-tool (an mcpd-test); sup is an agent, web a
# tool zone. Policy names cve as a source and as a target by one name.
#  1. gatewayd --check and gatewayctl lint accept it (lint does not call
#     cve "a tool zone" as a source); gatewayctl check decides both
#     sides; status shows cve as an agent and as an up tool zone.
#  2. sup calls cve.test_simple_text (granted): served by cve's tool side.
#  3. cve calls web.test_simple_text (granted); web.test_image_content is
#     denied by the explicit rule (audited with zone cve and the rule
#     b.policy:3); cve's own cve.test_simple_text is denied by the default
#     deny (no rule grants it; the default holds for a zone's own tools),
#     audited with zone cve. Neither appears in cve's tools/list.
#  4. a relay that takes cve's tool channel as if it were an agent never
#     reaches the gateway: the gateway does not listen there, so no call
#     from it is audited and web sees nothing.
#  5. reload: an unchanged config changes no zone (both sides kept, the
#     sessions of sup and cve stay); cve's tool_chan moved: its tool side
#     is replaced, its agent session stays, sup calls it on the new
#     channel; cve removed: its agent session ends, its tools go.
# Seen to fail: with the lookups of gw_zones.c by name only (not by role)
# 5 reports cve changed on the unchanged reload and drops cve's agent
# session; with a grant "cve cve.* allow" added, 3's self-call is allowed
# (the deny comes from the policy, nothing else).
# Also: the metrics show cve in the agent and the tool zone families, and
# promtool (when on PATH) accepts the scrape.
# Env: GATEWAYD, GATEWAYCTL, MCPD_TEST, RELAY (binaries); PROMTOOL
# (optional, default: promtool on PATH).
set -u
. "$(dirname "$0")/../common/daemons.sh"
zg_need GATEWAYD GATEWAYCTL MCPD_TEST RELAY
PROMTOOL=${PROMTOOL:-$(command -v promtool)}
zg_workdir gwboth
fail=0
CVE='
    "cve": { "domid": 132, "role": ["agent", "tool"], "chan": "sim:132:cve",
             "tool_chan": "sim:132:TOOLCHAN" },'
config() { # TOOLCHAN (empty: no zone cve)
	_cve=$(echo "$CVE" | sed "s/TOOLCHAN/$1/")
	[ -n "$1" ] || _cve=
	cat > "$work/gw.json.new" <<JSON
{ "zones": {$_cve
    "sup": { "domid": 131, "role": "agent", "chan": "sim:131:sup" },
    "web": { "domid": 133, "role": "tool", "chan": "sim:133:web" } },
  "policy": "b.policy", "audit_log": "audit.log", "admin_socket": "gw.sock",
  "reload_interval_ms": 0, "metrics": "unix:$work/metrics.sock" }
JSON
	mv "$work/gw.json.new" "$work/gw.json"
}
config cve-tool
cat > "$work/b.policy" <<'POL'
sup cve.test_simple_text allow
cve web.test_simple_text allow
cve web.test_image_content deny
POL
ctl() { "$GATEWAYCTL" --config "$work/gw.json" "$@"; }

# ---- 1. the tools accept it ---------------------------------------------
out=$("$GATEWAYD" --config "$work/gw.json" --check 2>&1)
case $out in
"ok: 3 zones (1 both agent and tool), 3 rules") ok "gatewayd --check: $out" ;;
*) bad "gatewayd --check: $out" ;;
esac
out=$(ctl lint 2>&1)
case $out in
*"tool zone"*) bad "lint calls cve a tool zone: $out" ;;
*) ok "lint has no finding about cve's sides" ;;
esac
case $(ctl check sup cve.test_simple_text 2>&1) in
*allow*) ok "check: sup -> cve.test_simple_text allowed" ;;
*) bad "check sup cve: $(ctl check sup cve.test_simple_text 2>&1)" ;;
esac
case $(ctl check cve cve.test_simple_text 2>&1) in
*deny*) ok "check: cve -> its own cve.test_simple_text denied" ;;
*) bad "check cve cve: $(ctl check cve cve.test_simple_text 2>&1)" ;;
esac

"$MCPD_TEST" --chan sim:132:cve-tool --fixtures conformance \
	2>"$work/cvetool.log" & pids="$pids $!"
"$MCPD_TEST" --chan sim:133:web --fixtures conformance \
	2>"$work/web.log" & pids="$pids $!"
zg_gatewayd 2
st=$(ctl status 2>&1 | tr -d ' \n')
case $st in
*'"zone":"cve","role":"agent"'*) ok "status lists cve's agent side" ;;
*) bad "status has no agent side of cve: $(echo "$st" | head -c 600)" ;;
esac
case $st in
*'"zone":"cve","role":"tool","chan":"sim:132:cve-tool","health":"up"'*)
	ok "status lists cve's tool side, up" ;;
*) bad "status has no tool side of cve: $(echo "$st" | head -c 600)" ;;
esac

session() { zg_session "$@"; }
call() { # ID TOOL
	printf '{"jsonrpc":"2.0","id":%s,"method":"tools/call","params":{"name":"%s","arguments":{}}}\n' "$1" "$2"
}
lst() { printf '{"jsonrpc":"2.0","id":%s,"method":"tools/list"}\n' "$1"; }
reply() { zg_reply "$@"; }
# expect NAME ID GLOB TEXT: ok TEXT if NAME's answer to ID matches GLOB
expect() {
	_r=$(reply "$1" "$2")
	# shellcheck disable=SC2254
	case $_r in
	$3) ok "$4" ;;
	*) bad "$4: $(echo "$_r" | head -c 300)" ;;
	esac
}
# sessions_of ZONE ROLE: the sessions of ZONE's side ROLE (status)
sessions_of() {
	ctl status 2>/dev/null | tr -d ' \n' | tr '{' '\n' |
		grep "\"zone\":\"$1\",\"role\":\"$2\"" |
		grep -o '"sessions":[0-9]*' | grep -o '[0-9]*$'
}

# ---- 2. sup calls cve's tool ----------------------------------------------
session sup sim:131:sup 3
lst 2 >&3
call 3 cve.test_simple_text >&3
r=$(reply sup 2)
case $r in
*'"cve.test_simple_text"'*) ok "sup lists cve.test_simple_text" ;;
*) bad "sup's list: $(echo "$r" | head -c 300)" ;;
esac
expect sup 3 '*"result"*' "sup calls cve.test_simple_text (cve's tool side)"

# ---- 3. cve calls web (granted, denied) and itself (denied) --------------
session cve sim:132:cve 4
lst 2 >&4
call 3 web.test_simple_text >&4
call 4 web.test_image_content >&4
call 5 cve.test_simple_text >&4
r=$(reply cve 2)
case $r in
*'"cve.'* | *test_image_content*) bad "cve's list: $(echo "$r" | head -c 400)" ;;
*'"web.test_simple_text"'*) ok "cve lists web.test_simple_text only" ;;
*) bad "cve's list: $(echo "$r" | head -c 400)" ;;
esac
expect cve 3 '*"result"*' "cve calls web.test_simple_text"
expect cve 4 '*"error"*' "cve's web.test_image_content is refused"
expect cve 5 '*"error"*' "cve's call of its own cve.test_simple_text is refused"
zg_wait_log "$work/audit.log" '"target":"cve.test_simple_text","decision":"deny"'
rec=$(grep '"target":"web.test_image_content"' "$work/audit.log" | head -n 1)
case $rec in
*'"zone":"cve"'*'"decision":"deny"'*'"rule":"b.policy:3"'*)
	ok "the denial is audited with zone cve and rule b.policy:3" ;;
*) bad "audit of cve's denied call: $rec" ;;
esac
rec=$(grep '"target":"cve.test_simple_text","decision":"deny"' "$work/audit.log" | head -n 1)
case $rec in
*'"zone":"cve"'*) ok "the self call is audited as denied, zone cve: $(echo "$rec" | grep -o '"rule":[^,]*')" ;;
*) bad "audit of cve's self call: $rec" ;;
esac

# metrics: cve in the agent families and in the tool zone families, each
# once; a scrape promtool accepts (no series twice)
m=$(curl -s --unix-socket "$work/metrics.sock" http://x/metrics)
if [ "$(echo "$m" | grep -c '^zonegate_tool_zone_up{zone="cve"} ')" = 1 ] &&
	[ "$(echo "$m" | grep -c '^zonegate_agent_sessions{zone="cve"} ')" = 1 ] &&
	echo "$m" | grep -qF 'zonegate_calls_total{zone="cve",tool="web.test_simple_text"} 1'; then
	ok "metrics: cve once in the tool and once in the agent gauges, its calls"
else
	bad "metrics: $(echo "$m" | grep 'cve' | head -8)"
fi
if [ -n "$PROMTOOL" ]; then
	echo "$m" | "$PROMTOOL" check metrics >"$work/prom.out" 2>&1 &&
		ok "promtool accepts the scrape" ||
		bad "promtool: $(head -5 "$work/prom.out")"
fi

# ---- 4. the tool channel is no way in ------------------------------------
before=$(grep -c '"target":"web\.' "$work/audit.log")
rm -f "$work/tc.in"
mkfifo "$work/tc.in"
"$RELAY" --chan sim:132:cve-tool <"$work/tc.in" >"$work/tc.out" \
	2>"$work/tc.log" & tc=$!
pids="$pids $tc"
exec 7>"$work/tc.in"
echo '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"z","version":"1"}}}' >&7
echo '{"jsonrpc":"2.0","method":"notifications/initialized"}' >&7
call 2 web.test_simple_text >&7
exec 7>&-
zg_gone "$tc" || kill "$tc"
after=$(grep -c '"target":"web\.' "$work/audit.log")
if [ "$before" -eq "$after" ] && ! grep -q '"id":2,"result"' "$work/tc.out"; then
	ok "a client on cve's tool channel reaches no tool through the gateway ($(tr '\n' ' ' <"$work/tc.log" | head -c 120))"
else
	bad "tool channel: audit $before -> $after, $(head -c 300 "$work/tc.out")"
fi

# ---- 5. reload --------------------------------------------------------------
# reloaded N: the Nth "zones reloaded" line of gatewayd's log (the
# changes a reload made; none: no line)
reloaded() {
	zg_wait_log "$work/gw.log" "zones reloaded" "$1"
	grep "zones reloaded" "$work/gw.log" | sed -n "$1p"
}
out=$(ctl reload 2>&1) || bad "unchanged reload: $out"
call 9 nothing.here >&3 # a round trip: the reload is applied by now
reply sup 9 >/dev/null
out=$(grep "zones reloaded" "$work/gw.log")
[ -z "$out" ] && ok "an unchanged reload changes no zone" ||
	bad "an unchanged config changed zones: $out"
call 6 web.test_simple_text >&4
call 4 cve.test_simple_text >&3
case $(reply cve 6)$(reply sup 4) in
*'"result"'*'"result"'*) ok "cve's and sup's sessions work after it" ;;
*) bad "after the unchanged reload: $(reply cve 6) $(reply sup 4)" ;;
esac
"$MCPD_TEST" --chan sim:132:cve-tool2 --fixtures conformance \
	2>"$work/cvetool2.log" & pids="$pids $!"
config cve-tool2
ctl reload >/dev/null 2>&1
out=$(reloaded 1)
case $out in
*'"changed":["cve"]'*) ok "tool_chan moved: cve changed" ;;
*) bad "reload moving cve's tool_chan: $out" ;;
esac
i=0
while [ $i -lt 100 ] && ! ctl status 2>/dev/null | tr -d ' \n' |
	grep -q '"chan":"sim:132:cve-tool2","health":"up"'; do
	sleep 0.1
	i=$((i + 1))
done
call 7 web.test_simple_text >&4
call 5 cve.test_simple_text >&3
expect cve 7 '*"result"*' "cve's agent session stays across its tool side's move"
expect sup 5 '*"result"*' "sup calls cve on its new tool channel"
[ "$(sessions_of cve agent)" = 1 ] && ok "cve's agent side has its session" ||
	bad "cve's agent sessions: $(sessions_of cve agent)"
config ""
ctl reload >/dev/null 2>&1
out=$(reloaded 2)
case $out in
*'"removed":["cve"],"changed":[]'*) ok "cve removed" ;;
*) bad "reload removing cve: $out" ;;
esac
if zg_gone "$rp_cve"; then
	ok "cve's agent session ended (its relay saw the channel close)"
else
	bad "cve's relay still runs after its removal"
fi
lst 6 >&3
case $(reply sup 6) in
*'cve.'*) bad "sup still lists cve's tools: $(reply sup 6)" ;;
*'"result"'*) ok "cve's tools are gone from sup's list" ;;
*) bad "sup's list after removal: $(reply sup 6)" ;;
esac
exec 3>&- 4>&-
kill -0 "$gpid" 2>/dev/null && ok "gatewayd still runs" ||
	bad "gatewayd died: $(tail -n 20 "$work/gw.log")"
exit $fail
