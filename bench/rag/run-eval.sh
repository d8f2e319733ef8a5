#!/usr/bin/env bash
# Retrieval evaluation: builds a store from the demo corpus with the hash
# embedder (collection "default") and, if the GloVe model can be imported,
# the glove embedder (collection "glove"), then runs rag_eval. Needs
# scripts/build-corpus.sh to have rendered the man pages. Run from anywhere;
# prints a Markdown table (docs/rag.md has the last one).
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${BUILD:-build}/bin
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
[ -d data/corpus/man/man7 ] || scripts/build-corpus.sh
"$B/ragctl" --db "$T/kb.db" ingest --quiet --base . data/corpus
colls=(default)
model=${GLOVE_MODEL:-data/rag/glove-100d.bin}
[ -f "$model" ] || "$B/ragctl" model import --out "$model" >/dev/null || true
if [ -f "$model" ]; then
  "$B/ragctl" --db "$T/kb.db" ingest --quiet --base . -c glove --embedder glove \
    --model "$model" data/corpus
  colls+=(glove)
fi
"$B/rag_eval" "$T/kb.db" data/corpus/man "${colls[@]}"
