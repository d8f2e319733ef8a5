#!/bin/sh
# Runs the official MCP conformance scenarios through the gateway to a
# remote upstream: the suite speaks Streamable HTTP to zonegate-relay in
# the agent zone, the relay carries each session over a sim channel to
# gatewayd, whose tool zone is a "url" zone: gatewayd is the MCP HTTP
# client (mcp/client_http.c) of `mcpd-test --http --fixtures conformance`
# on loopback, one upstream session per agent session.
# Env: GATEWAYD, MCPD_TEST, RELAY (binaries, required), NODE (default: test/node's),
# ZG_GW_SCENARIOS (space-separated; default: every server scenario).
set -u

here=$(cd "$(dirname "$0")" && pwd)
. "$here/../common/conformance-lib.sh"
scenarios=${ZG_GW_SCENARIOS:-$zg_all_scenarios}

zg_need_binaries run-conformance-remote GATEWAYD MCPD_TEST RELAY

zg_workdir gwremote
cp "$here/../../data/gateway/conformance/conformance.policy" "$work/"

"$MCPD_TEST" --http 127.0.0.1:0 --fixtures conformance \
	--ready-file "$work/mcpd.ready" 2>"$work/mcpd.log" &
pids="$pids $!"
zg_wait_log "$work/mcpd.ready" "/mcp"
up=$(cat "$work/mcpd.ready")
cat >"$work/gatewayd.json" <<EOF
{
  "zones": {
    "agent": { "domid": 31, "role": "agent", "chan": "sim:31:agent",
               "default_zone": "conf" },
    "conf":  { "domid": 32, "role": "tool", "url": "$up" }
  },
  "policy": "conformance.policy",
  "audit_log": "audit.log",
  "pins": "pins.json"
}
EOF
"$GATEWAYD" --config "$work/gatewayd.json" --ready-file "$work/gw.ready" \
	2>"$work/gatewayd.log" &
pids="$pids $!"
zg_wait_log "$work/gatewayd.log" "tool zone conf up"
zg_start_relay run-conformance-remote sim:31:agent "$work/gatewayd.log" "$work/mcpd.log"
echo "run-conformance-remote: relay at $url -> gatewayd -> HTTP -> mcpd at $up"

fail=0
zg_run_scenarios "$scenarios" || fail=1
zg_all_alive run-conformance-remote "$work/mcpd.log" "$work/gatewayd.log" \
	"$work/relay.log" || fail=1
echo "run-conformance-remote: audit records: $(wc -l < "$work/audit.log")"
exit $fail
