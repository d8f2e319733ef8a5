#!/bin/sh
# Runs MCP conformance scenarios across a channel: the suite talks
# Streamable HTTP to `zonegate-relay --http`, which carries every session
# as a stream of one sim channel to `mcpd --chan --fixtures conformance`.
# Env: MCPD, RELAY (binaries, required), NODE (default: test/node's),
# ZG_CHAN_SCENARIOS (space-separated; default: the tools scenarios and a
# few lifecycle ones). Fails unless every scenario passes.
set -u

here=$(cd "$(dirname "$0")" && pwd)
nodedir=$here/../node
node=${NODE:-$nodedir/node_modules/.bin/node}
suite_js=$nodedir/node_modules/@modelcontextprotocol/conformance/dist/index.js
scenarios=${ZG_CHAN_SCENARIOS:-"server-initialize ping tools-list
  tools-call-simple-text tools-call-image tools-call-audio
  tools-call-embedded-resource tools-call-mixed-content
  tools-call-with-logging tools-call-error tools-call-with-progress
  tools-call-sampling tools-call-elicitation json-schema-2020-12
  elicitation-sep1034-defaults elicitation-sep1330-enums logging-set-level
  resources-read-text prompts-get-simple completion-complete"}

for b in "${MCPD:-}" "${RELAY:-}"; do
	if [ -z "$b" ] || [ ! -x "$b" ]; then
		echo "run-conformance-chan: MCPD and RELAY must name binaries" >&2
		exit 2
	fi
done
[ -f "$suite_js" ] || { echo "conformance suite not installed" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/zg-chanconf.XXXXXX") || exit 2
export ZONEGATE_SIM_DIR=$work/sim
mpid= rpid=
cleanup() {
	for p in $rpid $mpid; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$MCPD" --chan sim:7:conformance --fixtures conformance \
	2>"$work/mcpd.log" &
mpid=$!
"$RELAY" --chan sim:7:conformance --connect-timeout 10000 \
	--http 127.0.0.1:0 --ready-file "$work/ready" 2>"$work/relay.log" &
rpid=$!

i=0
while [ $i -lt 300 ] && [ ! -s "$work/ready" ]; do
	kill -0 "$rpid" 2>/dev/null || break
	sleep 0.05
	i=$((i + 1))
done
url=$(cat "$work/ready" 2>/dev/null)
case "$url" in
*/mcp) ;;
*)
	echo "run-conformance-chan: relay not ready" >&2
	cat "$work/relay.log" "$work/mcpd.log" >&2
	exit 1
	;;
esac
echo "run-conformance-chan: relay at $url, channel sim:7:conformance"

fail=0
for s in $scenarios; do
	if "$node" "$suite_js" server --url "$url" --scenario "$s" \
		>"$work/$s.log" 2>&1 && ! grep -qE "FAILURE|, [1-9][0-9]* failed" "$work/$s.log"; then
		echo "ok   $s"
	else
		echo "FAIL $s"
		tail -n 30 "$work/$s.log"
		fail=1
	fi
done
for p in "$mpid" "$rpid"; do
	if ! kill -0 "$p" 2>/dev/null; then
		echo "run-conformance-chan: a daemon died" >&2
		tail -n 30 "$work/mcpd.log" "$work/relay.log" >&2
		fail=1
	fi
done
exit $fail
