#!/bin/sh
# Runs MCP conformance scenarios across a channel: the suite talks
# Streamable HTTP to `zonegate-relay --http`, which carries every session
# as a stream of one sim channel to `mcpd-test --chan --fixtures conformance`.
# Env: MCPD_TEST, RELAY (binaries, required), NODE (default: test/node's),
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

zg_need_binaries run-conformance-chan MCPD_TEST RELAY

zg_workdir chanconf

"$MCPD_TEST" --chan sim:7:conformance --fixtures conformance \
	2>"$work/mcpd.log" &
pids="$pids $!"
zg_start_relay run-conformance-chan sim:7:conformance "$work/mcpd.log"
echo "run-conformance-chan: relay at $url, channel sim:7:conformance"

fail=0
zg_run_scenarios "$scenarios" || fail=1
zg_all_alive run-conformance-chan "$work/mcpd.log" "$work/relay.log" || fail=1
exit $fail
