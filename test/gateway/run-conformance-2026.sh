#!/bin/sh
# Runs the official conformance suite's 2026-07-28 requirement set (the
# stateless revision) through the gateway to a channel tool zone running
# `mcpd-test --chan --fixtures conformance`, which the gateway reaches
# with 2025-11-25 sessions (docs/gateway.md, "Both revisions").
# ZG_GW_PATH picks the agent's side:
#   listener  the suite -> a TCP-to-unix byte pipe -> a gatewayd unix
#             listener bound to agent zone "agent" by our uid (the suite
#             cannot send an Authorization header)
#   relay     the suite -> zonegate-relay --http in the agent zone, one
#             channel stream per stateless request -> gatewayd
# ZG_GW_TOOLREV=2026-07-28 makes the tool zone a 2026-07-28-only mcpd-test
# (--protocol-versions), which the gateway then speaks 2026-07-28 to
# (docs/protocol.md); default: a dual one, spoken to in 2025-11-25.
# ZG_GW_TOOLKIND=url makes the tool zone a remote one: mcpd-test --http on
# loopback, a "url" zone that gatewayd reaches with its HTTP client (with
# ZG_GW_TOOLREV=2026-07-28: stateless POSTs, docs/gateway.md).
# With the expected-failures file test/gateway/conformance-2026-gw-expected.yaml
# (what the gateway cannot bridge yet, each entry with its reason) the
# suite decides: it fails on a failure not listed and on a listed one that
# passes.
# The unscored scenarios in ZG_CONFORMANCE_REQUIRED must pass as well
# (an unscored failure never fails the suite's run); by default the
# custom-header one (x-mcp-header: gatewayd checks the Mcp-Param headers
# the listener or the relay carried, docs/gateway.md).
# Env: GATEWAYD, MCPD_TEST, RELAY (binaries), NODE (default: test/node's),
# ZG_GW_PATH (listener or relay), ZG_GW_TOOLREV, ZG_GW_TOOLKIND (chan or
# url), ZG_CONFORMANCE_OUT (keep
# results), ZG_CONFORMANCE_REQUIRED (scenario names, space-separated).
set -u

here=$(cd "$(dirname "$0")" && pwd)
. "$here/../common/conformance-lib.sh"
path=${ZG_GW_PATH:-listener}
toolrev=${ZG_GW_TOOLREV:-}
toolkind=${ZG_GW_TOOLKIND:-chan}
expected=$here/conformance-2026-gw-expected.yaml

zg_need_binaries run-conformance-2026 GATEWAYD MCPD_TEST RELAY

zg_workdir gw26conf
if [ "$toolkind" = url ]; then
	"$MCPD_TEST" --http 127.0.0.1:0 --fixtures conformance \
		--ready-file "$work/mcpd.ready" \
		${toolrev:+--protocol-versions "$toolrev"} 2>"$work/mcpd.log" &
	pids="$pids $!"
	zg_wait_log "$work/mcpd.ready" "/mcp"
	where="\"url\": \"$(cat "$work/mcpd.ready")\""
else
	"$MCPD_TEST" --chan sim:32:conf --fixtures conformance \
		${toolrev:+--protocol-versions "$toolrev"} 2>"$work/mcpd.log" &
	pids="$pids $!"
	where='"chan": "sim:32:conf"'
fi
cat >"$work/gatewayd.json" <<JSON
{
  "zones": {
    "agent": { "domid": 31, "role": "agent", "chan": "sim:31:agent",
               "default_zone": "conf" },
    "conf":  { "domid": 32, "role": "tool", $where }
  },
  "listeners": [ { "listen": "unix:agent.sock", "zone": "agent",
                   "uid": $(id -u) } ],
  "policy": "conformance.policy",
  "audit_log": "audit.log",
  "pins": "pins.json"
}
JSON
cp "$here/../../data/gateway/conformance/conformance.policy" "$work/"
"$GATEWAYD" --config "$work/gatewayd.json" 2>"$work/gatewayd.log" &
pids="$pids $!"
zg_wait_log "$work/gatewayd.log" "tool zone conf up"

case "$path" in
listener)
	zg_byte_pipe "$work/agent.sock"
	;;
relay)
	zg_start_relay run-conformance-2026 sim:31:agent "$work/gatewayd.log" \
		"$work/mcpd.log"
	;;
*)
	echo "run-conformance-2026: ZG_GW_PATH must be listener or relay" >&2
	exit 2
	;;
esac
echo "run-conformance-2026: $url ($path) -> gatewayd -> mcpd" \
	"(${toolrev:-2025-11-25}, $toolkind)"

out=${ZG_CONFORMANCE_OUT:-$work/results}
mkdir -p "$out"
"$node" "$suite_js" server --url "$url" -o "$out" --requirements 2026-07-28 \
	--expected-failures "$expected" >"$work/suite.log" 2>&1
suite_rc=$?
# every check, failures and warnings spelled out (the suite's verdict
# stands: listed failures are expected)
"$node" "$here/../node/conformance-summary.mjs" "$out" "$suite_js" 2026-07-28
sed -n '/^Total:/p' "$work/suite.log"
fail=0
if [ $suite_rc -ne 0 ]; then
	tail -n 60 "$work/suite.log"
	fail=1
fi
for s in ${ZG_CONFORMANCE_REQUIRED-http-custom-header-server-validation}; do
	if ! "$node" "$here/../node/conformance-summary.mjs" "$out" "$suite_js" \
		2026-07-28 "$s" >"$work/required.log"; then
		echo "run-conformance-2026: required scenario $s failed:"
		cat "$work/required.log"
		fail=1
	fi
done
zg_all_alive run-conformance-2026 "$work/mcpd.log" "$work/gatewayd.log" || fail=1
echo "run-conformance-2026: audit records: $(wc -l <"$work/audit.log")"
exit $fail
