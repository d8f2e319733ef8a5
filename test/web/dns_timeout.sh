#!/bin/sh
# Name resolution bound by the fetch deadline, inside a user + mount +
# network namespace this script creates (unshare -rmn): the only DNS server
# is one of the test's that reads queries and never answers, and the
# system resolver is told to wait 30 s for it. mcpd --web --web-timeout 3
# must give up on the name at its deadline with "name resolution timed
# out", and keep serving another call (a page from the local web host, by
# address) while the lookup hangs: that call's answer comes first. With the
# old blocking getaddrinfo the fetch reports the resolver's own failure
# after 30 s instead, and the test fails on the message.
# Usage: dns_timeout.sh MCPD NODE   (re-executes itself under unshare)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/netns.sh"
web_netns dns_timeout "$0" "$@"
mcpd=$1 node=$2
dir=$(mktemp -d)
trap 'kill $dns $web 2>/dev/null; rm -rf "$dir"' EXIT
web_resolver "$dir" "attempts:1 timeout:30"
# A DNS server that logs each query and answers none.
"$node" -e "const s = require('node:dgram').createSocket('udp4');
s.on('message', () => console.log('query'));
s.bind(53, '127.0.0.1', () => console.log('ready'));" >"$dir/dns.log" &
dns=$!
"$node" "$here/webhost.mjs" --port 8080 --ready "$dir/ready" >/dev/null &
web=$!
i=0
while { [ ! -f "$dir/ready" ] || ! grep -q ready "$dir/dns.log"; } &&
	[ $i -lt 300 ]; do
	sleep 0.1
	i=$((i + 1))
done
[ -f "$dir/ready" ] || { echo "dns_timeout: web host did not start"; exit 1; }

# Call 2 hangs on the silent DNS server; call 3 is sent after it and needs
# no name. Stdin stays open until both answers are out (mcpd stops reading
# at EOF but finishes its calls).
out=$( (printf '%s\n' \
	'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"dns","version":"1"}}}' \
	'{"jsonrpc":"2.0","method":"notifications/initialized"}' \
	'{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"web_fetch","arguments":{"url":"http://silent.test:8080/t/json"}}}' \
	'{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"web_fetch","arguments":{"url":"http://127.0.0.1:8080/t/json"}}}') |
	timeout 60 "$mcpd" --stdio --web --web-allow 127.0.0.1:8080 \
		--web-timeout 3)
printf "%s\n" "$out" | grep '"id":[23]'
grep -q query "$dir/dns.log" ||
	{ echo "dns_timeout: FAIL: the DNS server saw no query"; exit 1; }
printf "%s\n" "$out" | grep '"id":2' | grep -q '"isError":true' ||
	{ echo "dns_timeout: FAIL: no error for the silent name"; exit 1; }
printf "%s\n" "$out" | grep '"id":2' | grep -q 'name resolution timed out' ||
	{ echo "dns_timeout: FAIL: the lookup was not cut at the deadline"; exit 1; }
printf "%s\n" "$out" | grep '"id":3' | grep -q CVE-2024-21626 ||
	{ echo "dns_timeout: FAIL: the other call was not served"; exit 1; }
first=$(printf "%s\n" "$out" | grep -o '"id":[23]' | head -n 1)
[ "$first" = '"id":3' ] ||
	{ echo "dns_timeout: FAIL: the other call waited for the lookup"; exit 1; }
echo "dns_timeout: ok (resolution cut at the deadline, mcpd kept serving)"
