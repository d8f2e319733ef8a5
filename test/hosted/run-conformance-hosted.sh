#!/bin/sh
# The official MCP conformance scenarios through the gateway against a
# hosted server-everything: the suite speaks Streamable HTTP to
# zonegate-relay in the agent zone, over a sim channel to gatewayd, over a
# second channel to `mcpd --chan --servers` in a tool zone, which runs
# server-everything (npm) as its child. The suite's scenarios call the
# tools of its own reference server (test_simple_text, ...), which
# server-everything does not have, so only the scenarios listed here are
# expected to pass (docs/conformance.md says why the rest do not).
# Env: GATEWAYD, MCPD, RELAY (binaries, required), NODE,
# ZG_HOSTED_SCENARIOS (space-separated; default: the passing set).
set -u

here=$(cd "$(dirname "$0")" && pwd)
. "$here/../common/conformance-lib.sh"
scenarios=${ZG_HOSTED_SCENARIOS:-"server-initialize logging-set-level ping
  tools-list resources-list prompts-list server-sse-polling
  server-sse-multiple-streams dns-rebinding-protection"}

zg_need_binaries run-conformance-hosted GATEWAYD MCPD RELAY

zg_workdir hostedconf
cp "$here/../../data/gateway/conformance/"* "$work/"
nm=$here/../node/node_modules
cat >"$work/servers.json" <<JSON
{ "mcpServers": { "ev": { "command": "$node",
  "args": ["$nm/@modelcontextprotocol/server-everything/dist/index.js", "stdio"] } } }
JSON

"$MCPD" --chan sim:32:conf --servers "$work/servers.json" 2>"$work/mcpd.log" &
pids="$pids $!"
"$GATEWAYD" --config "$work/gatewayd.json" --ready-file "$work/gw.ready" \
	2>"$work/gatewayd.log" &
pids="$pids $!"
zg_wait_log "$work/gatewayd.log" "tool zone conf up"
zg_start_relay run-conformance-hosted sim:31:agent "$work/gatewayd.log" \
	"$work/mcpd.log"
echo "run-conformance-hosted: relay at $url -> gatewayd -> mcpd -> server-everything"

fail=0
zg_run_scenarios "$scenarios" || fail=1
zg_all_alive run-conformance-hosted "$work/mcpd.log" "$work/gatewayd.log" \
	"$work/relay.log" || fail=1
exit $fail
