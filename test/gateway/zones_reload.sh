#!/bin/sh
# Zones added to and removed from a running gatewayd by a config reload
# (gatewayctl reload), with real processes (relays -> gatewayd -> three
# mcpd-test tool zones):
#  1. agent zone a has a session calling tool zone t1 and a slow call in
#     flight on t2; agent zone b has a slow call in flight on t1. The new
#     config removes t2 and b and adds t3: a's session is not dropped
#     (the same relay and the same gateway session, by its audit session
#     id, calls t1 before and after), its call on t2 ends at once with
#     "tool zone t2 is unavailable", it hears tools/list_changed, t3's
#     tools appear and t2's are gone (a call to one is an unknown tool);
#     b's call in flight gets an error naming the removal and b's relay
#     sees its channel closed; agent zone c, which sees only t1, hears no
#     list_changed (its view did not change); the audit log has one zones/reload record
#     naming t3 added and t2 and b removed.
#  2. a config with an error is refused with FILE:LINE, one that
#     changes a key that needs a restart (audit_log) is refused naming
#     the key, and so is one that would replace agent zone h, which a
#     listener is bound to (the listener holds its HTTP sessions): the
#     zones stay, a's session keeps working, each refusal has its
#     config/reload record.
#  2b. a's default_zone set: a is updated in place (the same session),
#     hears list_changed and sees t1's tools unprefixed.
#  3. a's chan (and domid) changed: its old session does not survive (the
#     old relay's channel is closed, the zone shows no session), a relay
#     on the new chan gets a new session that works.
# Without the comparison of zones (every zone replaced), 1 fails (a's
# session is dropped); with chan left out of it, 3 fails (the old
# session keeps working); without the restart-key or the listener
# check, 2 fails; without the errors to a removed agent zone's calls,
# b's check fails; with view fingerprints by tool zone index (not
# serial), c hears a list_changed; without default_zone in them, 2b
# hears none.
# The metrics follow (tool zones up, zones, refused config reloads).
# Env: GATEWAYD, GATEWAYCTL, MCPD_TEST, RELAY (binaries).
set -u
. "$(dirname "$0")/../common/daemons.sh"
zg_need GATEWAYD GATEWAYCTL MCPD_TEST RELAY
zg_workdir gwzones
trap '' PIPE # a relay gone early must fail a check, not kill the script
fail=0
ctl() { "$GATEWAYCTL" --config "$work/gw.json" "$@"; }

# config A_DOMID BEFORE AFTER: writes gw.json with agent zone a (on
# sim:A_DOMID:a), the zones BEFORE, tool zone t1, the zones AFTER, and
# agent zones c and h (t2 goes before t1 and t3 after it: t1 moves to
# another place in the gateway's tables).
config() {
	cat > "$work/gw.json.new" <<JSON
{ "zones": {
    "a":  { "domid": $1, "role": "agent", "chan": "sim:$1:a" },$2
    "t1": { "domid": 122, "role": "tool", "chan": "sim:122:t1" },$3
    "c":  { "domid": 128, "role": "agent", "chan": "sim:128:c" },
    "h":  { "domid": 130, "role": "agent" } },
  "listeners": [ { "listen": "unix:h.sock", "zone": "h", "uid": $(id -u) } ],
  "policy": "z.policy", "audit_log": "audit.log",
  "admin_socket": "gw.sock", "metrics": "unix:metrics.sock",
  "reload_interval_ms": 0 }
JSON
	mv "$work/gw.json.new" "$work/gw.json"
}
T2='
    "t2": { "domid": 123, "role": "tool", "chan": "sim:123:t2" },'
T3='
    "t3": { "domid": 124, "role": "tool", "chan": "sim:124:t3" },'
B='
    "b":  { "domid": 125, "role": "agent", "chan": "sim:125:b" },'
printf 'a t1.* allow\na t2.* allow\na t3.* allow\nb t1.* allow\nc t1.* allow\n' \
	> "$work/z.policy"
config 121 "$T2$B" ""
for t in 122:t1 123:t2 124:t3; do
	"$MCPD_TEST" --chan "sim:$t" --fixtures conformance \
		2>"$work/${t#*:}.log" & pids="$pids $!"
done
zg_gatewayd 2

session() { zg_session "$@"; }
call() { # ID TOOL [ARGS]
	printf '{"jsonrpc":"2.0","id":%s,"method":"tools/call","params":{"name":"%s","arguments":%s,"_meta":{"progressToken":"p%s"}}}\n' \
		"$1" "$2" "${3:-{\}}" "$1"
}
lst() { printf '{"jsonrpc":"2.0","id":%s,"method":"tools/list"}\n' "$1"; }
reply() { zg_reply "$@"; }
# sessions_of ZONE: the zone's open sessions as gatewayctl status says
sessions_of() {
	ctl status 2>/dev/null | tr -d ' \n' | tr '{' '\n' |
		grep "\"zone\":\"$1\"" | grep -o '"sessions":[0-9]*' |
		grep -o '[0-9]*$'
}
slow='{"steps":600,"interval_ms":100}'

# ---- 1. t2 and b removed, t3 added -------------------------------------
session a sim:121:a 3
session b sim:125:b 4
session c sim:128:c 6
lst 2 >&6
reply c 2 >/dev/null
lst 2 >&3
call 3 t1.test_simple_text >&3
call 4 t2.test_slow_counter "$slow" >&3
call 2 t1.test_slow_counter "$slow" >&4
r=$(reply a 2)
case $r in
*t1.test_simple_text*t2.test_simple_text* | *t2.test_simple_text*t1.test_simple_text*)
	ok "a lists t1 and t2" ;;
*) bad "a's first list: $(echo "$r" | head -c 300)" ;;
esac
case $(reply a 3) in
*'"result"'*) ok "a calls t1" ;;
*) bad "a's first call to t1: $(reply a 3)" ;;
esac
zg_wait_log "$work/a.out" '"progressToken":"p4"'
zg_wait_log "$work/b.out" '"progressToken":"p2"'
grep -q '"progressToken":"p4"' "$work/a.out" &&
	grep -q '"progressToken":"p2"' "$work/b.out" ||
	bad "the slow calls did not start"
base=$(wc -l < "$work/audit.log")
config 121 "" "$T3"
out=$(ctl reload 2>&1) && ok "reload adding t3, removing t2 and b: $out" ||
	bad "reload adding t3, removing t2 and b: $out"
case $(reply a 4) in
*'"error"'*'tool zone t2 is unavailable (removed'*)
	ok "a's call in flight on removed t2 ends with a clear error" ;;
*) bad "a's call on removed t2: $(reply a 4)" ;;
esac
case $(reply b 2) in
*'"error"'*'agent zone b was removed'*)
	ok "b's call in flight ends with an error naming the removal" ;;
*) bad "b's call in flight: $(reply b 2)" ;;
esac
zg_gone "$rp_b" && ok "b's relay sees its channel closed" ||
	bad "b's relay still runs"
zg_wait_log "$work/a.out" 'notifications/tools/list_changed'
grep -q 'notifications/tools/list_changed' "$work/a.out" &&
	ok "a hears tools/list_changed" || bad "no list_changed for a"
zg_wait_log "$work/gw.log" "tool zone t3 up"
lst 5 >&3
r=$(reply a 5)
case $r in
*'"name":"t2.'*) bad "t2's tools still listed: $(echo "$r" | head -c 300)" ;;
*t1.test_simple_text*t3.test_simple_text* | *t3.test_simple_text*t1.test_simple_text*)
	ok "a lists t1 and t3, not t2" ;;
*) bad "a's list after the reload: $(echo "$r" | head -c 300)" ;;
esac
# c sees only t1, which stays (at another index): its view did not
# change, so it hears no list_changed (its list, asked now, comes after
# anything the reload sent it)
lst 3 >&6
case $(reply c 3) in
*t1.test_simple_text*) ;;
*) bad "c's list after the reload: $(reply c 3 | head -c 300)" ;;
esac
n=$(grep -c 'list_changed' "$work/c.out")
[ "$n" -eq 0 ] && ok "c, whose view did not change, hears no list_changed" ||
	bad "c heard $n list_changed though its view did not change"
call 6 t3.test_simple_text >&3
call 7 t1.test_simple_text >&3
call 8 t2.test_simple_text >&3
case $(reply a 6) in
*'"result"'*) ok "a calls new t3" ;;
*) bad "a's call to t3: $(reply a 6)" ;;
esac
case $(reply a 7) in
*'"result"'*) ok "a still calls t1 on the same relay" ;;
*) bad "a's call to t1 after the reload: $(reply a 7)" ;;
esac
case $(reply a 8) in
*'-32602'*'Unknown tool'*) ok "a call to removed t2 is an unknown tool" ;;
*) bad "a's call to t2 after the reload: $(reply a 8)" ;;
esac
n=$(grep '"target":"t1.test_simple_text","decision":"allow"' \
	"$work/audit.log" | grep -o '"session":"[^"]*"' | sort -u | wc -l)
m=$(grep -c '"target":"t1.test_simple_text","decision":"allow"' \
	"$work/audit.log")
[ "$m" -eq 2 ] && [ "$n" -eq 1 ] &&
	ok "a's calls before and after: one gateway session" ||
	bad "a's t1 calls: $m records, $n sessions"
r=$(sed -n "$((base + 1)),\$p" "$work/audit.log" | grep '"method":"zones/reload"')
case $r in
*'"added":["t3"]'*'"removed":["t2","b"]'*'"decision":"applied"'*)
	[ "$(echo "$r" | wc -l)" -eq 1 ] &&
		ok "one zones/reload record: t3 added, t2 and b removed" ||
		bad "zones/reload records: $r" ;;
*) bad "zones/reload record: $r" ;;
esac
scrape() { curl -s --unix-socket "$work/metrics.sock" http://x/metrics; }
i=0 # the gauges are refreshed every second
while ! scrape | grep -q 'zone_up{zone="t3"} 1' && [ $i -lt 300 ]; do
	sleep 0.05
	i=$((i + 1))
done
m=$(scrape)
case $m in
*'zone_up{zone="t2"}'*) bad "metrics still show t2" ;;
*'zonegate_tool_zone_up{zone="t3"} 1'*'zonegate_zones{role="tool"} 2'*)
	ok "metrics show t3 up, not t2, and 2 tool zones" ;;
*) bad "metrics after the reload: $(echo "$m" | grep -e zone_up -e zones)" ;;
esac
st=$(ctl status 2>&1)
case $st in
*t2* | *' b '*) bad "status still shows a removed zone: $st" ;;
*t3*) ok "status shows t3" ;;
*) bad "status: $st" ;;
esac

# ---- 2. refused reloads ---------------------------------------------------
cp "$work/gw.json" "$work/gw.json.good"
sed -i 's/"admin_socket"/"bogus": 1, "admin_socket"/' "$work/gw.json"
line=$(grep -n bogus "$work/gw.json" | cut -d: -f1)
# (gatewayctl reads the config too and would stop at the error: the
# daemon gets SIGHUP)
kill -HUP "$gpid"
zg_wait_log "$work/gw.log" "config NOT reloaded"
out=$(grep "config NOT reloaded" "$work/gw.log")
case $out in
*"gw.json:$line:"*"unknown key 'bogus'"*)
	ok "an invalid config is refused with FILE:LINE ($line)" ;;
*) bad "invalid config: $out" ;;
esac
cp "$work/gw.json.good" "$work/gw.json"
sed -i 's/"t3": { "domid": 124, "role": "tool", "chan": "sim:124:t3"/"t4": { "domid": 127, "role": "tool", "chan": "sim:127:t4"/; s/"audit\.log"/"other.log"/' \
	"$work/gw.json"
out=$(ctl reload 2>&1) && bad "an audit_log change reloaded: $out"
case $out in
*'"audit_log" changed'*) ok "a changed audit_log is refused, named" ;;
*) bad "audit_log change: $out" ;;
esac
cp "$work/gw.json.good" "$work/gw.json"
sed -i 's/"domid": 130/"domid": 131/' "$work/gw.json"
out=$(ctl reload 2>&1) && bad "a listener's zone replaced: $out"
case $out in
*'zone h: listener unix:h.sock is bound to it'*)
	ok "replacing a zone a listener is bound to is refused" ;;
*) bad "listener zone change: $out" ;;
esac
cp "$work/gw.json.good" "$work/gw.json"
call 9 t3.test_simple_text >&3
case $(reply a 9) in
*'"result"'*) ok "after the refusals t3 is still there and a still works" ;;
*) bad "a's call to t3 after the refusals: $(reply a 9)" ;;
esac
n=$(grep -c '"method":"config/reload","decision":"rejected"' "$work/audit.log")
[ "$n" -eq 3 ] && ok "3 config/reload rejected records" ||
	bad "$n config/reload rejected records"
scrape | grep -q '^zonegate_config_reload_errors 3$' &&
	ok "metrics count 3 refused config reloads" ||
	bad "metrics: $(scrape | grep config_reload)"
grep -q '"zone":"t4"\|"t4"' "$work/audit.log" &&
	bad "the refused config's zone t4 appears in the audit log"
ctl status 2>&1 | grep -q t4 && bad "the refused config's zone t4 is in force"

# ---- 2b. a's default_zone set: updated in place ---------------------------
lc=$(grep -c 'notifications/tools/list_changed' "$work/a.out")
sed -i 's/"chan": "sim:121:a" }/"chan": "sim:121:a", "default_zone": "t1" }/' \
	"$work/gw.json"
out=$(ctl reload 2>&1) || bad "reload setting a's default_zone: $out"
zg_wait_log "$work/a.out" 'notifications/tools/list_changed' $((lc + 1))
lst 10 >&3
case $(reply a 10) in
*'"name":"test_simple_text"'*'"name":"t3.test_simple_text"'* | \
*'"name":"t3.test_simple_text"'*'"name":"test_simple_text"'*)
	ok "a's default_zone t1 applies: t1's tools unprefixed" ;;
*) bad "a's list with default_zone t1: $(reply a 10 | head -c 300)" ;;
esac
n=$(grep -c 'notifications/tools/list_changed' "$work/a.out")
[ "$n" -gt "$lc" ] && ok "a hears list_changed for its new names" ||
	bad "no list_changed after a's default_zone changed"
call 11 test_simple_text >&3
case $(reply a 11) in
*'"result"'*) ok "a's session stays and calls t1 by its bare name" ;;
*) bad "a's call by the bare name: $(reply a 11)" ;;
esac
grep -q '"updated":\["a"\]' "$work/audit.log" &&
	ok "the zones/reload record names a updated" ||
	bad "no zones/reload record with a updated"

# ---- 3. a's chan changed: no session carried over -------------------------
config 126 "" "$T3"
out=$(ctl reload 2>&1) && ok "reload changing a's chan: $out" ||
	bad "reload changing a's chan: $out"
zg_gone "$rp_a" && ok "the old relay of a sees its channel closed" ||
	bad "a's old relay still runs after its chan changed"
s=$(sessions_of a)
[ "$s" = 0 ] && ok "a has no session after its chan changed" ||
	bad "a has '$s' sessions after its chan changed"
session a2 sim:126:a 5
call 2 t1.test_simple_text >&5
case $(reply a2 2) in
*'"result"'*) ok "a relay on a's new chan has a working session" ;;
*) bad "a call on a's new chan: $(reply a2 2)" ;;
esac
grep -q '"changed":\["a"\]' "$work/audit.log" &&
	ok "the zones/reload record names a changed" ||
	bad "no zones/reload record with a changed"
out=$(ctl audit verify 2>&1) && ok "audit verify: $out" ||
	bad "audit verify: $out"
kill -0 "$gpid" || bad "gatewayd died"
exec 3>&- 4>&- 5>&- 6>&-
exit $fail
