#!/bin/sh
# Runs the official MCP conformance scenarios through a gatewayd HTTP
# listener for host-side clients: the suite speaks Streamable HTTP to a
# byte pipe (the suite cannot send an Authorization header) into a unix
# listener bound to agent zone "host" by the peer uid (ours); gatewayd
# routes each session (policy: "host" may use everything, default_zone
# conf) over a channel to `mcpd-test --chan --fixtures conformance`.
# Env: GATEWAYD, MCPD_TEST (binaries, required), NODE (default: test/node's),
# ZG_GW_SCENARIOS (space-separated; default: every server scenario).
set -u

here=$(cd "$(dirname "$0")" && pwd)
. "$here/../common/conformance-lib.sh"
scenarios=${ZG_GW_SCENARIOS:-$zg_all_scenarios}

zg_need_binaries run-conformance-listener GATEWAYD MCPD_TEST

zg_workdir gwlconf
cat >"$work/gatewayd.json" <<JSON
{
  "zones": {
    "host": { "domid": 41, "role": "agent", "default_zone": "conf" },
    "conf": { "domid": 42, "role": "tool", "chan": "sim:42:conf" }
  },
  "listeners": [ { "listen": "unix:host.sock", "zone": "host",
                   "uid": $(id -u) } ],
  "policy": "conformance.policy",
  "audit_log": "audit.log",
  "pins": "pins.json"
}
JSON
echo "host * allow" >"$work/conformance.policy"
"$MCPD_TEST" --chan sim:42:conf --fixtures conformance 2>"$work/mcpd.log" &
pids="$pids $!"
"$GATEWAYD" --config "$work/gatewayd.json" 2>"$work/gatewayd.log" &
pids="$pids $!"
zg_wait_log "$work/gatewayd.log" "tool zone conf up"
zg_byte_pipe "$work/host.sock"
port=$(cat "$work/port" 2>/dev/null)
if [ -z "$port" ] || [ ! -S "$work/host.sock" ]; then
	echo "run-conformance-listener: not ready" >&2
	cat "$work/gatewayd.log" "$work/mcpd.log" "$work/pipe.log" >&2
	exit 1
fi
url=http://127.0.0.1:$port/mcp
echo "run-conformance-listener: $url -> unix listener -> gatewayd -> mcpd"

fail=0
zg_run_scenarios "$scenarios" || fail=1
zg_all_alive run-conformance-listener "$work/mcpd.log" "$work/gatewayd.log" \
	"$work/pipe.log" || fail=1
echo "run-conformance-listener: audit records: $(wc -l < "$work/audit.log")"
exit $fail
