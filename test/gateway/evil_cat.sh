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
# * list_changed goes only to the sessions whose view changed: a tool
#   zone's catalogue change reaches the zone that sees it and not the
#   other, a policy reload that changes one zone's view notifies it
#   alone, and the other's cursors stay good.
# Env: GATEWAYD, GATEWAYCTL, MCPD_TEST, RELAY, EVIL (binaries).
set -u
. "$(dirname "$0")/../common/daemons.sh"
zg_need GATEWAYD GATEWAYCTL MCPD_TEST RELAY EVIL
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
"$MCPD_TEST" --chan sim:65:honest --fixtures conformance 2>"$work/honest.log" & pids="$pids $!"
# 30 tools of 100 kB, 8 a page (3 MB in all); 100000 tools of 400 kB,
# 2 a page (the gateway asks for 100 pages: 80 MB)
"$EVIL" sim:66:wide --big 30 100000 8 2>"$work/wide.log" & pids="$pids $!"
"$EVIL" sim:67:huge --big 100000 400000 2 2>"$work/huge.log" & pids="$pids $!"
# RSS is measured: a sanitizer build must not hold freed memory back
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1" \
	"$GATEWAYD" --config "$work/gw.json" 2>"$work/gw.log" & gpid=$!
pids="$pids $gpid"
zg_wait_log "$work/gw.log" " up: " 3
fail=0
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
nb=$(grep -o '"name":"wide\.big[0-9]*"' "$work/wide.out" | sort -u | wc -l)
long=$(awk 'length($0) > 1048576' "$work/wide.out" | wc -l)
[ "$nb" -eq 30 ] && [ "$nw" -gt 30 ] && [ "$nl" -eq "$nw" ] && [ "$long" -eq 0 ] && [ "$pages" -ge 4 ] &&
	ok "a 3 MB merged list came in $pages pages under max_message: all $nw entries (30 big), each once" ||
	bad "merged list over max_message: $nb of 30 big, $nw distinct ($nl in all), $pages pages, $long over max_message"

# ---- list_changed only where the view changed ------------------------
ctl unpin evil >/dev/null || bad "unpin"
rm -f "$work/fa" "$work/fb"
mkfifo "$work/fa" "$work/fb"
"$RELAY" --chan sim:61:a <"$work/fa" >"$work/A.out" 2>>"$work/relay.log" & ra=$!
"$RELAY" --chan sim:62:b <"$work/fb" >"$work/B.out" 2>>"$work/relay.log" & rb=$!
exec 4>"$work/fa" 5>"$work/fb"
for fd in 4 5; do
	echo '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}' >&$fd
	echo '{"jsonrpc":"2.0","method":"notifications/initialized"}' >&$fd
done
# cursor OUT ID: the nextCursor of response ID in OUT
cursor() {
	zg_wait_log "$1" "\"id\":$2,"
	grep -F "\"id\":$2," "$1" | sed -n 's/.*"nextCursor":"\([^"]*\)".*/\1/p'
}
echo '{"jsonrpc":"2.0","id":2,"method":"tools/list"}' >&4
ca=$(cursor "$work/A.out" 2)
# a changes the catalogue of evil, which a sees and b does not
echo '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"evil.flip","arguments":{}}}' >&4
zg_wait_log "$work/A.out" 'tools/list_changed'
echo '{"jsonrpc":"2.0","id":4,"method":"ping"}' >&5
zg_wait_log "$work/B.out" '"id":4,'
[ "$(grep -c 'tools/list_changed' "$work/A.out")" -eq 1 ] &&
	! grep -q -e 'resources/list_changed' -e 'prompts/list_changed' "$work/A.out" &&
	ok "the zone that sees the changed tools hears tools/list_changed, once, and nothing else" ||
	bad "a: $(grep -c list_changed "$work/A.out") list_changed"
grep -q 'list_changed' "$work/B.out" &&
	bad "b heard list_changed for a catalogue it cannot see" ||
	ok "the zone that cannot see the changed catalogue hears nothing"
echo '{"jsonrpc":"2.0","id":5,"method":"tools/list"}' >&4
ca=$(cursor "$work/A.out" 5)
[ -n "$ca" ] || bad "no cursor for a"
# a reload that changes b's view only
echo "b  wide.big0  allow" >>"$work/c.policy"
ctl reload >/dev/null || bad "reload"
zg_wait_log "$work/B.out" 'tools/list_changed'
grep -q 'tools/list_changed' "$work/B.out" &&
	ok "a reload that changes b's view: b hears tools/list_changed" ||
	bad "b did not hear of its changed view"
echo "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/list\",\"params\":{\"cursor\":\"$ca\"}}" >&4
zg_wait_log "$work/A.out" '"id":6,'
[ "$(grep -c 'list_changed' "$work/A.out")" -eq 1 ] &&
	ok "and a, whose view is the same, hears nothing" ||
	bad "a heard $(grep -c 'list_changed' "$work/A.out") list_changed in all"
grep -F '"id":6,' "$work/A.out" | grep -q '"result":{"tools":\[' &&
	ok "a's cursor from before the reload is still good" ||
	bad "a's cursor: $(grep -F '"id":6,' "$work/A.out" | head -c 200)"
exec 4>&- 5>&-
wait $ra $rb

kill -0 "$gpid" 2>/dev/null || { bad "gatewayd died"; tail "$work/gw.log"; }
ctl audit verify >/dev/null || bad "audit verify"
[ $fail -eq 0 ] && echo "evil_cat: ok" || tail -n 20 "$work/gw.log"
exit $fail
