#!/usr/bin/env bash
# End-to-end tests of a zone's network egress (docs/zones.md "Network"):
# a zone with "network": {"egress": [...]} reaches the listed HOST:PORT
# destinations only through the egress proxy zonectl runs outside it.
# From inside the zone, zone_probe tries a listed destination (reached:
# the host listener counts it), another loopback port planted here (refused
# by the proxy, never reached), a name that is not listed, a direct TCP
# connection (no route: its own network namespace, and Landlock), and the
# caps on connections, bytes and idle time, each beside a control that
# must get through. Then mcpd --web in a zone with egress fetches a page
# from the local web host (test/web/webhost.mjs) and is refused another
# planted port. Proves that the list is enforced outside the zone, by the
# proxy: the zone's own code (the probe) does no checking at all.
# Usage: egress.sh ZONECTL ZONE_PROBE MCPD NODE   (as root; 77 = skipped)
set -u
ZONECTL=$1
PROBE=$2
MCPD=$3
NODE=$4
HERE=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" != 0 ]; then echo "SKIP: needs root"; exit 77; fi
if [ ! -x /usr/bin/bwrap ]; then echo "SKIP: bubblewrap missing"; exit 77; fi

# Scratch under /var/tmp, as zones.sh explains: bubblewrap runs as the
# zone's uid, which must reach the helper.
S=$(mktemp -d /var/tmp/egress.XXXXXX)
chmod 755 "$S"
mkdir "$S/bin" "$S/policy.d"
cp "$(dirname "$ZONECTL")/zonegate-zone-init" "$S/bin/"
chmod 755 "$S/bin" "$S/bin/zonegate-zone-init"
export ZONEGATE_ZONE_INIT=$S/bin/zonegate-zone-init
export ZONEGATE_SIM_DIR=$S/sim
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	rm -rf "$S"
}
trap cleanup EXIT

. "$(dirname "$0")/common.sh"

# Host side: the listed destination (an echo listener) and another
# loopback port (a planted listener that must never see a connection).
"$PROBE" serveecho "$S/eport" "$S/eacc" &
PIDS+=($!)
"$PROBE" serve "$S/oport" "$S/oacc" &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$S/eport" ] && [ -s "$S/oport" ] && break; sleep 0.1; done
EP=$(cat "$S/eport")
OP=$(cat "$S/oport")
: >"$S/eacc"
: >"$S/oacc"
SOCK=/.zonegate/egress/sock

# conf NAME NETWORK ARGS... : zone "web" (domid 43) running zone_probe ARGS
# with the given "network" value.
conf() {
	local name=$1 net=$2
	shift 2
	local cmd='"/zg/zone_probe"' a
	for a in "$@"; do cmd="$cmd, \"$a\""; done
	cat >"$S/$name.json" <<EOF
{
  "zones": {
    "web": {"domid": 43, "role": "tool", "chan": "sim:43:web",
      "run": {"command": [$cmd],
              "files": {"in": {"/zg/zone_probe": "$PROBE"}},
              "limits": {"memory": "256m", "pids": 64},
              "network": $net}}
  },
  "policy": "policy.d"
}
EOF
}

run() {
	"$ZONECTL" --config "$S/$1.json" run web >"$S/$1.out" 2>"$S/$1.err" </dev/null
	echo $? >"$S/$1.rc"
}


# value NAME KEY: the number after "KEY " in NAME's output.
value() { sed -n "s/^$2 //p" "$S/$1.out" | head -1; }

LIST="{\"egress\": [\"127.0.0.1:$EP\"]}"

# 1. The list: the listed destination is reached (the echo listener
#    counts it); the other planted port and a name that is not listed
#    (localhost resolves to the same address) are refused by the proxy
#    and never reach the host; a direct connection has no way out.
conf list "$LIST" socks "$SOCK" 127.0.0.1 "$EP" socks "$SOCK" 127.0.0.1 "$OP" \
	connect "$OP" connect "$EP"
run list
grep -q '^CHECK socks ALLOWED' "$S/list.out" && pass "listed destination reached" ||
	fail "listed destination: $(grep '^CHECK socks' "$S/list.out" | head -1)"
[ "$(grep -c '^CHECK socks blocked' "$S/list.out")" = 1 ] && grep -q '^SOCKSREP 2$' "$S/list.out" &&
	pass "other planted port refused (SOCKS 'not allowed')" ||
	fail "other port: $(grep '^CHECK socks\|^SOCKSREP' "$S/list.out" | tr '\n' ' ')"
[ "$(grep -c '^CHECK connect blocked' "$S/list.out")" = 2 ] &&
	pass "no direct TCP connection out of the zone" || fail "direct connect got through"
[ "$(wc -l <"$S/eacc")" = 1 ] && pass "echo listener saw exactly the listed connection" ||
	fail "echo listener saw $(wc -l <"$S/eacc") connections"
[ -s "$S/oacc" ] && fail "the planted port was reached" || pass "the planted port saw nothing"
grep -q "egress to 127.0.0.1:$OP refused" "$S/list.err" && pass "zonectl reports the refusal" ||
	fail "no refusal reported: $(head -3 "$S/list.err")"
grep -q "network        egress proxy only.*127.0.0.1:$EP" "$S/list.out" &&
	pass "report names the egress" || fail "report: $(grep network "$S/list.out")"

conf name "$LIST" socks "$SOCK" localhost "$EP"
run name
expect name socks blocked
grep -q "egress to localhost:$EP refused (not in" "$S/name.err" && pass "name: refused as not listed" ||
	fail "name: $(head -3 "$S/name.err")"
# A listed name that resolves to a non-public address (DNS pointing it at
# the host's loopback) is refused too: only a listed address reaches
# loopback (the control: 127.0.0.1 listed, reached in 1.).
conf rebind "{\"egress\": [\"localhost:$EP\"]}" socks "$SOCK" localhost "$EP"
run rebind
expect rebind socks blocked
grep -q "egress to localhost refused: it resolves to .*, a loopback address" "$S/rebind.err" &&
	pass "rebind: a listed name resolving to loopback refused" || fail "rebind: $(head -3 "$S/rebind.err")"
[ "$(wc -l <"$S/eacc")" = 1 ] && pass "echo listener saw no more connections" ||
	fail "echo listener saw $(wc -l <"$S/eacc") connections"

# control for the planted port: listed, it is reached, so the refusal
# above was the list's doing
conf other0 "{\"egress\": [\"127.0.0.1:$EP\", \"127.0.0.1:$OP\"]}" socks "$SOCK" 127.0.0.1 "$OP"
run other0
expect other0 socks ALLOWED
[ -s "$S/oacc" ] && pass "control reached the planted port" || fail "control did not reach the planted port"
: >"$S/oacc"

# without egress ("none") there is no proxy socket at all
conf none '"none"' socks "$SOCK" 127.0.0.1 "$EP"
run none
expect none socks blocked

# 2. Byte cap: 200,000 bytes sent to the echo listener; the run's
#    allowance (both directions) is 50,000, so less than that comes back.
#    Control: with the default cap all of it comes back.
conf bytes "{\"egress\": [\"127.0.0.1:$EP\"], \"max_bytes\": 50000}" socksecho "$SOCK" 127.0.0.1 "$EP" 200000
run bytes
B=$(value bytes ECHOED)
[ -n "$B" ] && [ "$B" -lt 50000 ] && pass "byte cap: $B bytes echoed" || fail "byte cap: echoed '$B'"
conf bytes0 "$LIST" socksecho "$SOCK" 127.0.0.1 "$EP" 200000
run bytes0
[ "$(value bytes0 ECHOED)" = 200000 ] && pass "control: all 200000 bytes echoed" ||
	fail "control echoed '$(value bytes0 ECHOED)'"

# 2b. A half-close is passed on: 3000 bytes sent, the zone's side shut
#     for writing, and all 3000 echoed back before the end.
conf half "$LIST" sockshalf "$SOCK" 127.0.0.1 "$EP" 3000
run half
[ "$(value half HALF)" = 3000 ] && pass "half-close: all 3000 bytes echoed" || fail "half-close: echoed '$(value half HALF)'"

# 3. Connection cap: 5 held connections, cap 3. Control: default cap 16.
conf conns "{\"egress\": [\"127.0.0.1:$EP\"], \"max_connections\": 3}" socksmany "$SOCK" 127.0.0.1 "$EP" 5
run conns
[ "$(value conns OPENED)" = 3 ] && pass "connection cap: 3 of 5 opened" || fail "connection cap: opened '$(value conns OPENED)'"
conf conns0 "$LIST" socksmany "$SOCK" 127.0.0.1 "$EP" 5
run conns0
[ "$(value conns0 OPENED)" = 5 ] && pass "control: 5 of 5 opened" || fail "control opened '$(value conns0 OPENED)'"

# 4. Idle cap: a connection silent for 3 s is closed by a 1 s idle cap
#    (the echo after it never comes). Control: the default 60 s.
conf idle "{\"egress\": [\"127.0.0.1:$EP\"], \"idle_timeout\": 1}" socksidle "$SOCK" 127.0.0.1 "$EP" 3
run idle
expect idle idle blocked
conf idle0 "$LIST" socksidle "$SOCK" 127.0.0.1 "$EP" 3
run idle0
expect idle0 idle ALLOWED

# 5. Config: egress without the sandbox is refused (a plain process has
#    the host's whole network); a bad destination names its line.
cat >"$S/plain.json" <<EOF
{"zones": {"web": {"domid": 43, "role": "tool", "chan": "sim:43:web",
  "run": {"command": ["/bin/true"], "sandbox": false,
          "network": {"egress": ["127.0.0.1:$EP"]}}}},
 "policy": "policy.d"}
EOF
"$ZONECTL" --config "$S/plain.json" run web >"$S/plain.out" 2>&1
[ $? = 125 ] && grep -q 'needs the sandbox' "$S/plain.out" && pass "egress without sandbox refused" ||
	fail "plain + egress: $(cat "$S/plain.out")"
cat >"$S/badd.json" <<EOF
{"zones": {"web": {"domid": 43, "role": "tool", "chan": "sim:43:web",
  "run": {"command": ["/bin/true"],
          "network": {"egress": ["127.0.0.1:99999"]}}}},
 "policy": "policy.d"}
EOF
"$ZONECTL" --config "$S/badd.json" check web >"$S/badd.out" 2>&1
[ $? = 2 ] && grep -q 'badd.json:3: network.egress\[0\]' "$S/badd.out" && pass "bad destination refused with file:line" ||
	fail "bad destination: $(cat "$S/badd.out")"

# 6. mcpd --web in a zone with egress: a page from the local web host is
#    fetched through the proxy; another planted loopback port is refused
#    (mcpd's own check lets 127.0.0.1 through with --web-allow: only the
#    proxy stands in the way). mcpd and its module are copied in.
"$NODE" "$HERE/../web/webhost.mjs" --ready "$S/wready" >/dev/null &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$S/wready" ] && break; sleep 0.1; done
URL=$(cat "$S/wready")
WP=${URL##*:}
MOD=$(realpath "$(dirname "$MCPD")/../lib/zonegate/zg_web_toolset.so")
cat >"$S/mcpd.json" <<EOF
{"zones": {"web": {"domid": 43, "role": "tool", "chan": "sim:43:web",
  "run": {"command": ["/zg/bin/mcpd", "--stdio", "--web", "--web-allow", "127.0.0.1",
                      "--web-proxy", "$SOCK"],
          "files": {"in": {"/zg/bin/mcpd": "$MCPD",
                           "/zg/lib/zonegate/zg_web_toolset.so": "$MOD"}},
          "env": {"ASAN_OPTIONS": "detect_leaks=0"},
          "network": {"egress": ["127.0.0.1:$WP"]}}}},
 "policy": "policy.d"}
EOF
call() {
	printf '{"jsonrpc":"2.0","id":%s,"method":"tools/call","params":{"name":"web_fetch","arguments":{"url":"%s"}}}\n' "$1" "$2"
}
# The requests, then stdin held open until both answers are out (mcpd
# ends its session at EOF).
{
	echo '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"egress-test","version":"1"}}}'
	echo '{"jsonrpc":"2.0","method":"notifications/initialized"}'
	call 2 "$URL/"
	call 3 "http://127.0.0.1:$OP/"
	for _ in $(seq 300); do
		[ "$(grep -c '"id":[23],' "$S/mcpd.out" 2>/dev/null)" = 2 ] && break
		sleep 0.1
	done
} | "$ZONECTL" --config "$S/mcpd.json" run web >"$S/mcpd.out" 2>"$S/mcpd.err"
R2=$(grep '"id":2,' "$S/mcpd.out")
R3=$(grep '"id":3,' "$S/mcpd.out")
case $R2 in
*'"isError":true'* | '') fail "mcpd fetch from the web host: ${R2:-no answer} $(head -3 "$S/mcpd.err")" ;;
*Title:*) pass "mcpd --web in the zone fetched the web host's page" ;;
*) fail "mcpd fetch: $R2" ;;
esac
# curl's word for a SOCKS refusal: the proxy said no (a reached port that
# closes at once would read "Server returned nothing").
if [[ $R3 == *'"isError":true'* && $R3 == *'proxy handshake'* ]]; then
	pass "mcpd --web refused the planted port (by the proxy)"
else
	fail "mcpd and the planted port: ${R3:-no answer}"
fi
[ -s "$S/oacc" ] && fail "the planted port was reached by mcpd" || pass "the planted port saw nothing from mcpd"

# 7. mcpd --llm in a zone reaches its model endpoint (the test suite's
#    chat-completions stand-in on loopback) only through the zone's egress
#    proxy (--llm-proxy): with it the call is answered; the same zone
#    without --llm-proxy has no route (proves the answer came through the
#    proxy, not around it). The key file is copied into the zone only.
KEY=sk-egress-$$
printf '%s\n' "$KEY" >"$S/llm-key"
"$NODE" "$HERE/../llm/chat-standin.mjs" --ready "$S/sready" --key "$KEY" --model m >/dev/null &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$S/sready" ] && break; sleep 0.1; done
SURL=$(cat "$S/sready")
SP=${SURL#http://127.0.0.1:}
SP=${SP%%/*}
LMOD=$(realpath "$(dirname "$MCPD")/../lib/zonegate/zg_llm_toolset.so")
llm_zone() { # $1: extra mcpd options as JSON strings (may be empty)
	cat >"$S/llm.json" <<EOF
{"zones": {"llm": {"domid": 44, "role": "tool", "chan": "sim:44:llm",
  "run": {"command": ["/zg/bin/mcpd", "--stdio", "--llm", "--llm-url", "http://127.0.0.1:$SP/ok/e/v1",
                      "--llm-model", "m", "--llm-key-file", "/secrets/key", "--llm-retries", "0",
                      "--llm-timeout", "5" $1],
          "files": {"in": {"/zg/bin/mcpd": "$MCPD", "/secrets/key": "$S/llm-key",
                           "/zg/lib/zonegate/zg_llm_toolset.so": "$LMOD"}},
          "env": {"ASAN_OPTIONS": "detect_leaks=0"},
          "network": {"egress": ["127.0.0.1:$SP"]}}}},
 "policy": "policy.d"}
EOF
	rm -f "$S/llm.out"
	{
		echo '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"egress-test","version":"1"}}}'
		echo '{"jsonrpc":"2.0","method":"notifications/initialized"}'
		echo '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"llm_chat","arguments":{"messages":[{"role":"user","content":"say hello"}]}}}'
		for _ in $(seq 300); do
			grep -q '"id":2,' "$S/llm.out" 2>/dev/null && break
			sleep 0.1
		done
	} | "$ZONECTL" --config "$S/llm.json" run llm >"$S/llm.out" 2>"$S/llm.err"
	grep '"id":2,' "$S/llm.out"
}
R=$(llm_zone ', "--llm-proxy", "/.zonegate/egress/sock"')
case $R in
*'"isError":true'* | '') fail "llm_chat through the egress proxy: ${R:-no answer} $(head -3 "$S/llm.err")" ;;
*'"structuredContent"'*) pass "mcpd --llm in the zone reached its endpoint through the proxy" ;;
*) fail "llm_chat: $R" ;;
esac
R=$(llm_zone '')
case $R in
*'"isError":true'*) pass "without --llm-proxy the llm zone has no route to the endpoint" ;;
*) fail "llm_chat without the proxy: ${R:-no answer}" ;;
esac
grep -q "$KEY" "$S/llm.out" "$S/llm.err" && fail "the key appears in the zone's output" || pass "the key is not in the zone's output"

# 8. A zone with egress whose sandbox never starts (bubblewrap fails at
#    once) is reported as failed, not waited for: zonectl waits for the
#    end of the zone's status pipe, so the egress proxy (forked before
#    bubblewrap) must not hold that pipe's writer. Seen to fail: with the
#    proxy keeping zonectl's descriptors, zonectl hung until the guard.
conf nobw '{"egress": ["127.0.0.1:'"$EP"'"]}' connect 127.0.0.1 "$EP"
ZONEGATE_BWRAP=/bin/false timeout 20 "$ZONECTL" --config "$S/nobw.json" run web >"$S/nobw.out" 2>&1 </dev/null
rc=$?
if [ $rc = 124 ]; then
	fail "a zone with egress whose sandbox failed hung zonectl"
elif [ $rc = 0 ]; then
	fail "a zone whose sandbox failed reported success"
else
	pass "a zone with egress whose sandbox failed ends zonectl (status $rc)"
fi

echo "$FAILS failure(s)"
[ "$FAILS" = 0 ]
