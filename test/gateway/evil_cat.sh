#!/bin/sh
# Hostile catalogues: tool zones (evil_tool) whose definitions drift or
# grow, behind gatewayd, next to an honest mcpd.
# * Pinning: a pinned zone that flips its tools' annotations
#   (destructiveHint -> readOnlyHint) is quarantined (audited) and its
#   tools leave the lists until re-pinned.
# Env: GATEWAYD, GATEWAYCTL, MCPD, RELAY, EVIL (binaries).
set -u
. "$(dirname "$0")/../common/daemons.sh"
zg_need GATEWAYD GATEWAYCTL MCPD RELAY EVIL
zg_workdir gwcat
cat > "$work/gw.json" <<JSON
{ "zones": {
    "a":      { "domid": 61, "role": "agent", "chan": "sim:61:a" },
    "b":      { "domid": 62, "role": "agent", "chan": "sim:62:b" },
    "evil":   { "domid": 64, "role": "tool", "chan": "sim:64:evil" },
    "honest": { "domid": 65, "role": "tool", "chan": "sim:65:honest" } },
  "policy": "c.policy", "audit_log": "audit.log", "admin_socket": "gw.sock" }
JSON
cat > "$work/c.policy" <<POL
a  evil.*    allow
b  honest.*  allow
POL
"$EVIL" sim:64:evil 2>"$work/evil.log" & pids="$pids $!"
"$MCPD" --chan sim:65:honest --fixtures conformance 2>"$work/honest.log" & pids="$pids $!"
"$GATEWAYD" --config "$work/gw.json" 2>"$work/gw.log" & gpid=$!
pids="$pids $gpid"
zg_wait_log "$work/gw.log" " up: " 2
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=1; }
ctl() { "$GATEWAYCTL" --config "$work/gw.json" "$@"; }
# zone_field ZONE KEY: KEY's value in ZONE's entry of gatewayctl status
zone_field() {
	ctl status | awk -v z="$1" -v k="\"$2\":" '
		/"zone":/ { cur = $2; gsub(/[",]/, "", cur) }
		cur == z && $1 == k { v = $2; gsub(/[",]/, "", v); print v; exit }'
}
# agent ZONE: the lines on stdin (after initialize) as one session of ZONE
agent() {
	{
		echo '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}'
		echo '{"jsonrpc":"2.0","method":"notifications/initialized"}'
		cat
		sleep 0.5
	} | "$RELAY" --chan "sim:$2:$1" 2>>"$work/relay.log"
}

# ---- pinning covers every member of a definition -------------------
ctl pin evil >/dev/null || bad "gatewayctl pin evil"
echo '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"evil.flip","arguments":{}}}' |
	agent a 61 >"$work/flip.out"
grep -q flipped "$work/flip.out" || bad "flip: $(head -c 300 "$work/flip.out")"
zg_wait_log "$work/gw.log" "evil QUARANTINED"
[ "$(zone_field evil quarantined)" = true ] &&
	ok "annotations flipped (destructiveHint -> readOnlyHint): quarantined" ||
	bad "a pinned zone flipped its annotations and is not quarantined"
grep -q '"decision":"quarantine"' "$work/audit.log" &&
	ok "the quarantine is audited" || bad "no quarantine record"
echo '{"jsonrpc":"2.0","id":3,"method":"tools/list"}' | agent a 61 >"$work/q.out"
grep -F '"id":3,' "$work/q.out" | grep -q '"tools":\[\]' &&
	ok "its tools left the lists" || bad "lists: $(grep -F '"id":3,' "$work/q.out" | head -c 300)"
ctl pin evil >/dev/null || bad "re-pin"
[ "$(zone_field evil quarantined)" = false ] && ok "re-pinned: back" ||
	bad "still quarantined after re-pin"

kill -0 "$gpid" 2>/dev/null || { bad "gatewayd died"; tail "$work/gw.log"; }
ctl audit verify >/dev/null || bad "audit verify"
[ $fail -eq 0 ] && echo "evil_cat: ok" || tail -n 20 "$work/gw.log"
exit $fail
