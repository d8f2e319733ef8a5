#!/bin/sh
# Smoke run of the benchmark's load generator against mcpd: 16 keep-alive
# connections, each its own session, tools/call for one second; then one
# connection of stateless 2026-07-28 calls from the polling client. Fails on
# any bad response or failed connection, so both mcpd under sustained
# concurrent load and bench/mcp/mcp_load stay working.
# Env: MCPD_TEST, MCP_LOAD (binaries).
set -u
if [ ! -x "${MCPD_TEST:-}" ] || [ ! -x "${MCP_LOAD:-}" ]; then
	echo "run-load-smoke: MCPD_TEST and MCP_LOAD must name the binaries" >&2
	exit 2
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/zg-load.XXXXXX") || exit 2
"$MCPD_TEST" --http 127.0.0.1:0 --ready-file "$work/ready" \
	--fixtures conformance 2>"$work/mcpd.log" &
pid=$!
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM HUP PIPE
i=0
while [ ! -s "$work/ready" ] && [ $i -lt 200 ]; do
	sleep 0.05
	i=$((i + 1))
done
url=$(cat "$work/ready" 2>/dev/null)
[ -n "$url" ] || { cat "$work/mcpd.log" >&2; exit 1; }
# the sleeping client with sessions, then the polling client (--spin)
# with stateless 2026-07-28 calls, as bench/mcp/run.sh uses them
for args in "-c 16" "-c 1 --spin 50 --rev 2026-07-28"; do
	# shellcheck disable=SC2086
	out=$("$MCP_LOAD" --url "$url" $args -d 1 -w 0) || { echo "$out"; cat "$work/mcpd.log" >&2; exit 1; }
	echo "$out"
	case $out in
	*" errors=0 failed_conns=0 "*) ;;
	*) echo "run-load-smoke: errors under load ($args)" >&2; exit 1 ;;
	esac
done
kill -0 "$pid" 2>/dev/null || { echo "run-load-smoke: mcpd died" >&2; cat "$work/mcpd.log" >&2; exit 1; }
kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
if [ $rc -ne 0 ]; then
	echo "run-load-smoke: mcpd exited with status $rc on SIGTERM" >&2
	cat "$work/mcpd.log" >&2
	exit 1
fi
exit 0
