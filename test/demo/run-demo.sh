#!/bin/sh
# Runs scripts/demo.mjs and checks its claims in the output.
# usage: run-demo.sh NODE DEMO_MJS BUILD_DIR
set -u
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$1" "$2" "$3" >"$out" 2>&1
rc=$?
cat "$out"
[ $rc -eq 0 ] || { echo "demo exited $rc"; exit 1; }
for want in 'tools/call rag.rag_ingest -> error -32602 "Unknown tool: rag.rag_ingest"' \
	    'tools/call rag.rag_delete -> error -32602' \
	    'rule=policy.d/00-baseline.policy' \
	    'audit chain ok' \
	    '| agent-a | retrieve: rag.rag_search (hybrid) |' \
	    'CVE-2024-21626'; do
	grep -qF -- "$want" "$out" || { echo "demo output lacks: $want"; exit 1; }
done
if grep -q 'ALLOWED' "$out"; then
	echo "demo: a write was allowed"
	exit 1
fi
echo "demo: all claims present"
