#!/bin/sh
# Runs the official MCP conformance scenarios through the gateway: the
# suite speaks Streamable HTTP to zonegate-relay in the agent zone, the
# relay carries each session over a sim channel to gatewayd, which routes
# it (policy: the agent zone may use everything) over a second channel to
# `mcpd-test --chan --fixtures conformance` in a tool zone. With
# ZG_GW_UPSTREAM=http the tool zone is a remote one ("url"): gatewayd is
# the MCP HTTP client of `mcpd-test --http --fixtures conformance` on
# loopback, one upstream session per agent session.
# Env: GATEWAYD, MCPD_TEST, RELAY (binaries, required), NODE (default: test/node's),
# ZG_GW_SCENARIOS (space-separated; default: every server scenario).
set -u

here=$(cd "$(dirname "$0")" && pwd)
. "$here/../common/conformance-lib.sh"
scenarios=${ZG_GW_SCENARIOS:-$zg_all_scenarios}

zg_need_binaries run-conformance-gw GATEWAYD MCPD_TEST RELAY

zg_workdir gwconf
cp "$here/../../data/gateway/conformance/"* "$work/"

if [ "${ZG_GW_UPSTREAM:-chan}" = http ]; then
	"$MCPD_TEST" --http 127.0.0.1:0 --fixtures conformance \
		--ready-file "$work/mcpd.ready" 2>"$work/mcpd.log" &
	pids="$pids $!"
	zg_wait_log "$work/mcpd.ready" "/mcp"
	up=$(cat "$work/mcpd.ready")
	sed "s|\"chan\": \"sim:32:conf\"|\"url\": \"$up\"|" \
		"$here/../../data/gateway/conformance/gatewayd.json" \
		>"$work/gatewayd.json"
	grep -q '"url"' "$work/gatewayd.json" || exit 2
else
	"$MCPD_TEST" --chan sim:32:conf --fixtures conformance \
		2>"$work/mcpd.log" &
	pids="$pids $!"
fi
"$GATEWAYD" --config "$work/gatewayd.json" --ready-file "$work/gw.ready" \
	2>"$work/gatewayd.log" &
pids="$pids $!"
zg_wait_log "$work/gatewayd.log" "tool zone conf up"
zg_start_relay run-conformance-gw sim:31:agent "$work/gatewayd.log" "$work/mcpd.log"
echo "run-conformance-gw: relay at $url -> gatewayd -> mcpd"

fail=0
zg_run_scenarios "$scenarios" || fail=1
zg_all_alive run-conformance-gw "$work/mcpd.log" "$work/gatewayd.log" \
	"$work/relay.log" || fail=1
echo "run-conformance-gw: audit records: $(wc -l < "$work/audit.log")"
exit $fail
