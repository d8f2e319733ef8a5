#!/bin/sh
# Hostile catalogues: tool zones (evil_tool) whose definitions drift or
# grow, behind gatewayd, next to an honest mcpd.
# * Pinning: a pinned zone that flips its tools' annotations
#   (destructiveHint -> readOnlyHint) is quarantined (audited) and its
#   tools leave the lists until re-pinned.
# * Byte caps: a zone whose catalogue pages run over catalogue_max_bytes
#   (80 MB offered, 4 MiB allowed) is quarantined (audited) and
#   gatewayd's RSS stays small; a merged list too big for one message
#   (3 MB of tools, max_message 1 MiB) comes in smaller pages that
#   together hold every entry, each page under max_message.
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
    "honest": { "domid": 65, "role": "tool", "chan": "sim:65:honest" },
    "wide":   { "domid": 66, "role": "tool", "chan": "sim:66:wide" },
    "huge":   { "domid": 67, "role": "tool", "chan": "sim:67:huge" } },
  "policy": "c.policy", "audit_log": "audit.log", "admin_socket": "gw.sock",
  "max_message": 1048576, "catalogue_max_bytes": 4194304 }
JSON
cat > "$work/c.policy" <<POL
a  evil.*    allow
a  wide.*    allow
a  huge.*    allow
b  honest.*  allow
POL
"$EVIL" sim:64:evil 2>"$work/evil.log" & pids="$pids $!"
"$MCPD" --chan sim:65:honest --fixtures conformance 2>"$work/honest.log" & pids="$pids $!"
# 30 tools of 100 kB, 8 a page (3 MB in all); 100000 tools of 400 kB,
# 2 a page (the gateway asks for 100 pages: 80 MB)
"$EVIL" sim:66:wide --big 30 100000 8 2>"$work/wide.log" & pids="$pids $!"
"$EVIL" sim:67:huge --big 100000 400000 2 2>"$work/huge.log" & pids="$pids $!"
"$GATEWAYD" --config "$work/gw.json" 2>"$work/gw.log" & gpid=$!
pids="$pids $gpid"
zg_wait_log "$work/gw.log" " up: " 3
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
grep -F '"id":3,' "$work/q.out" | grep -q '"tools":\[' &&
	! grep -F '"id":3,' "$work/q.out" | grep -q '"name":"evil\.' &&
	ok "its tools left the lists" || bad "lists: $(grep -F '"id":3,' "$work/q.out" | head -c 300)"
ctl pin evil >/dev/null || bad "re-pin"
[ "$(zone_field evil quarantined)" = false ] && ok "re-pinned: back" ||
	bad "still quarantined after re-pin"

# ---- catalogue byte cap ------------------------------------------------
zg_wait_log "$work/gw.log" "huge QUARANTINED"
[ "$(zone_field huge quarantined)" = true ] &&
	ok "a catalogue over catalogue_max_bytes: quarantined" ||
	bad "huge catalogue: quarantined=$(zone_field huge quarantined)"
grep '"decision":"quarantine"' "$work/audit.log" | grep -q 'catalogue over 4194304 bytes' &&
	ok "the quarantine is audited with its reason" || bad "no audit record for the byte cap"
rss=$(awk '/^VmRSS/ { print $2 }' /proc/$gpid/status)
[ "$rss" -lt 65536 ] && ok "gatewayd RSS ${rss} kB after 80 MB offered (< 64 MiB)" ||
	bad "gatewayd RSS ${rss} kB after a zone offered 80 MB of catalogue"

# ---- a merged list too big for one message comes in smaller pages -----
# list_all ZONE DOMID OUT: tools/list, following nextCursor
list_all() {
	rm -f "$work/fifo"
	mkfifo "$work/fifo"
	"$RELAY" --chan "sim:$2:$1" <"$work/fifo" >"$3" 2>>"$work/relay.log" &
	rp=$!
	exec 3>"$work/fifo"
	echo '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}' >&3
	echo '{"jsonrpc":"2.0","method":"notifications/initialized"}' >&3
	i=10
	cur=
	while :; do
		if [ -z "$cur" ]; then
			echo "{\"jsonrpc\":\"2.0\",\"id\":$i,\"method\":\"tools/list\"}" >&3
		else
			echo "{\"jsonrpc\":\"2.0\",\"id\":$i,\"method\":\"tools/list\",\"params\":{\"cursor\":\"$cur\"}}" >&3
		fi
		zg_wait_log "$3" "\"id\":$i,"
		cur=$(grep -F "\"id\":$i," "$3" | sed -n 's/.*"nextCursor":"\([^"]*\)".*/\1/p')
		[ -n "$cur" ] && [ $i -lt 60 ] || break
		i=$((i + 1))
	done
	exec 3>&-
	wait $rp
	pages=$((i - 9))
}
list_all a 61 "$work/wide.out"
nw=$(grep -o '"name":"wide\.[a-z0-9_]*"' "$work/wide.out" | sort -u | wc -l)
nl=$(grep -o '"name":"wide\.[a-z0-9_]*"' "$work/wide.out" | wc -l)
long=$(awk 'length($0) > 1048576' "$work/wide.out" | wc -l)
[ "$nw" -eq 38 ] && [ "$nl" -eq 38 ] && [ "$long" -eq 0 ] && [ "$pages" -ge 4 ] &&
	ok "a 3 MB merged list came in $pages pages under max_message: 38 of 38 entries, each once" ||
	bad "merged list over max_message: $nw distinct of 38 ($nl in all), $pages pages, $long over max_message"

kill -0 "$gpid" 2>/dev/null || { bad "gatewayd died"; tail "$work/gw.log"; }
ctl audit verify >/dev/null || bad "audit verify"
[ $fail -eq 0 ] && echo "evil_cat: ok" || tail -n 20 "$work/gw.log"
exit $fail
