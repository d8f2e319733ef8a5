#!/bin/sh
# Hostile input on a real channel: chan_poke sends protocol violations and
# floods to a running `mcpd --chan`; each must get the channel reset with
# an ERROR frame (or, for the flood of bad JSON, be answered and survived),
# and afterwards an ordinary client through zonegate-relay is still served.
# Env: MCPD_TEST, RELAY, POKE (binaries).
set -u
. "$(dirname "$0")/../common/daemons.sh"
zg_need MCPD_TEST RELAY POKE
zg_workdir hostile
"$MCPD_TEST" --chan sim:7:hostile --fixtures conformance 2>"$work/mcpd.log" &
mpid=$!
pids=$mpid
fail=0
for c in garbage oversize before-hello bad-version reuse; do
	got=$("$POKE" sim:7:hostile "$c")
	case "$got" in
	*ERROR\ closed) echo "ok   $c: $got" ;;
	*) echo "FAIL $c: $got"; fail=1 ;;
	esac
done
got=$("$POKE" sim:7:hostile flood)
case "$got" in
*DATA*) echo "ok   flood: answered ($(echo "$got" | wc -w) frames)" ;;
*) echo "FAIL flood: $got"; fail=1 ;;
esac
init='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}'
out=$( (echo "$init"; sleep 3) | "$RELAY" --chan sim:7:hostile)
case "$out" in
*'"protocolVersion"'*) echo "ok   mcpd still serves a relay client" ;;
*) echo "FAIL after the attacks: '$out'"; fail=1 ;;
esac
if ! kill -0 $mpid 2>/dev/null; then
	echo "FAIL mcpd died"; fail=1
fi
[ $fail -eq 0 ] || tail -n 20 "$work/mcpd.log"
exit $fail
