#!/bin/sh
# The conformance run through the gateway to a remote tool zone ("url"):
# run-conformance-gw.sh with mcpd-test on Streamable HTTP behind it.
ZG_GW_UPSTREAM=http exec "$(dirname "$0")/run-conformance-gw.sh"
