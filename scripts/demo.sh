#!/usr/bin/env bash
# The README's main command: installs what is missing, builds, and runs the
# demo on the embedded defaults: the seed scenario (gateway, a RAG tool zone
# seeded with the container-isolation corpus, a tools zone, two agent zones
# on the sim channel backend; see scripts/demo.mjs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "demo: building (build/)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >build.cmake.log 2>&1 ||
  { cat build.cmake.log; exit 1; }
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >build.log 2>&1 ||
  { tail -n 50 build.log; exit 1; }
exec test/node/node_modules/.bin/node scripts/demo.mjs build "$@"
