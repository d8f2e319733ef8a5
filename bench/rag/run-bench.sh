#!/usr/bin/env bash
# Vector search benchmark: zonegate vs sqlite-vec (npm sqlite-vec-linux-x64)
# at 10k, 100k and 1M random 384-dim vectors, plus ingest throughput of the
# demo corpus with the built-in hash embedder. Needs ~6 GB of scratch disk
# in $TMPDIR for the 1M case. Sizes can be given as arguments.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${BUILD:-build}/bin
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
"$B/rag_bench" test/node/node_modules/sqlite-vec-linux-x64/vec0.so "$T" "$@"
if [ -d data/corpus/man/man7 ]; then
  echo
  echo "ingest, hash embedder, demo corpus (man pages + notes):"
  "$B/ragctl" --db "$T/ingest.db" ingest --json data/corpus
fi
