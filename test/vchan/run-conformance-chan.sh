#!/bin/sh
# Runs MCP conformance scenarios across a channel: the suite talks
# Streamable HTTP to `zonegate-relay --http`, which carries every session
# as a stream of one sim channel to `mcpd --chan --fixtures conformance`.
# Env: MCPD, RELAY (binaries, required), NODE (default: test/node's),
# ZG_CHAN_SCENARIOS (space-separated; default: the tools scenarios and a
# few lifecycle ones). Fails unless every scenario passes.
set -u

here=$(cd "$(dirname "$0")" && pwd)
. "$here/../common/conformance-lib.sh"
scenarios=${ZG_CHAN_SCENARIOS:-"server-initialize ping tools-list
  tools-call-simple-text tools-call-image tools-call-audio
  tools-call-embedded-resource tools-call-mixed-content
  tools-call-with-logging tools-call-error tools-call-with-progress
  tools-call-sampling tools-call-elicitation json-schema-2020-12
  elicitation-sep1034-defaults elicitation-sep1330-enums logging-set-level
  resources-read-text prompts-get-simple completion-complete"}

zg_need_binaries run-conformance-chan MCPD RELAY

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
zg_start_relay run-conformance-chan sim:7:conformance "$work/mcpd.log"
echo "run-conformance-chan: relay at $url, channel sim:7:conformance"

fail=0
zg_run_scenarios "$scenarios" || fail=1
for p in "$mpid" "$rpid"; do
	if ! kill -0 "$p" 2>/dev/null; then
		echo "run-conformance-chan: a daemon died" >&2
		tail -n 30 "$work/mcpd.log" "$work/relay.log" >&2
		fail=1
	fi
done
exit $fail
