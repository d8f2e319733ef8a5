#!/bin/sh
# DNS rebinding against mcpd --web, inside a user + mount + network
# namespace this script creates (unshare -rmn): only loopback exists, and a
# DNS server of the test answers the first query for rebind.test with a
# public address (unreachable here) and later ones with 127.0.0.1, where the
# local web host listens. mcpd must check the first answer and connect to
# it: the fetch fails to connect, the page is never read, and the name is
# resolved once. With the pinning off (libcurl resolving again), the
# second answer would reach the web host and the test fails.
# Usage: rebind.sh MCPD NODE   (re-executes itself under unshare)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/netns.sh"
web_netns rebind "$0" "$@"
mcpd=$1 node=$2
dir=$(mktemp -d)
trap 'kill $dns $web 2>/dev/null; rm -rf "$dir"' EXIT
web_resolver "$dir" "attempts:1 timeout:2"
"$node" "$here/dns-rebind.mjs" 53 >"$dir/dns.log" &
dns=$!
"$node" "$here/webhost.mjs" --port 8080 --ready "$dir/ready" >/dev/null &
web=$!
i=0
while [ ! -f "$dir/ready" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
[ -f "$dir/ready" ] || { echo "rebind: web host did not start"; exit 1; }
# The web host answers on loopback: the rebound address would work.
[ "$(cat "$dir/ready")" = http://127.0.0.1:8080 ]

out=$(printf '%s\n' \
	'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"rebind","version":"1"}}}' \
	'{"jsonrpc":"2.0","method":"notifications/initialized"}' \
	'{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"web_fetch","arguments":{"url":"http://rebind.test:8080/t/json"}}}' |
	timeout 60 "$mcpd" --stdio --web --web-timeout 10)
echo "$out" | grep '"id":2'
echo "$out" | grep '"id":2' | grep -q '"isError":true' ||
	{ echo "rebind: FAIL: the fetch succeeded"; exit 1; }
if echo "$out" | grep -q CVE-2024-21626; then
	echo "rebind: FAIL: the page behind the rebound address was read"
	exit 1
fi
cat "$dir/dns.log"
n=$(grep -c '^A ' "$dir/dns.log" || true)
[ "$n" = 1 ] || { echo "rebind: FAIL: rebind.test resolved $n times"; exit 1; }
echo "rebind: ok (one resolution, connection pinned to it)"
