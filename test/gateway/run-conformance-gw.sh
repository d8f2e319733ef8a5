#!/bin/sh
# Runs the official MCP conformance scenarios through the gateway: the
# suite speaks Streamable HTTP to zonegate-relay in the agent zone, the
# relay carries each session over a sim channel to gatewayd, which routes
# it (policy: the agent zone may use everything) over a second channel to
# `mcpd --chan --fixtures conformance` in a tool zone.
# Env: GATEWAYD, MCPD, RELAY (binaries, required), NODE (default: test/node's),
# ZG_GW_SCENARIOS (space-separated; default: every server scenario).
set -u

here=$(cd "$(dirname "$0")" && pwd)
. "$here/../common/conformance-lib.sh"
scenarios=${ZG_GW_SCENARIOS:-$zg_all_scenarios}

zg_need_binaries run-conformance-gw GATEWAYD MCPD RELAY

work=$(mktemp -d "${TMPDIR:-/tmp}/zg-gwconf.XXXXXX") || exit 2
export ZONEGATE_SIM_DIR=$work/sim
cp "$here/../../data/gateway/conformance/"* "$work/"
mpid= gpid= rpid=
cleanup() {
	for p in $rpid $gpid $mpid; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$MCPD" --chan sim:32:conf --fixtures conformance 2>"$work/mcpd.log" &
mpid=$!
"$GATEWAYD" --config "$work/gatewayd.json" --ready-file "$work/gw.ready" \
	2>"$work/gatewayd.log" &
gpid=$!
i=0
while [ $i -lt 300 ] && ! grep -q "tool zone conf up" "$work/gatewayd.log"; do
	sleep 0.05
	i=$((i + 1))
done
zg_start_relay run-conformance-gw sim:31:agent "$work/gatewayd.log" "$work/mcpd.log"
echo "run-conformance-gw: relay at $url -> gatewayd -> mcpd"

fail=0
zg_run_scenarios "$scenarios" || fail=1
for p in "$mpid" "$gpid" "$rpid"; do
	if ! kill -0 "$p" 2>/dev/null; then
		echo "run-conformance-gw: a daemon died" >&2
		tail -n 30 "$work/mcpd.log" "$work/gatewayd.log" "$work/relay.log" >&2
		fail=1
	fi
done
echo "run-conformance-gw: audit records: $(wc -l < "$work/audit.log")"
exit $fail
