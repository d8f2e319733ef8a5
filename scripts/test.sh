#!/usr/bin/env bash
# Runs the whole test suite: installs what is missing, builds twice (gcc
# with warnings as errors; clang with ASan+UBSan and libFuzzer), and runs
# every ctest case in both builds: unit, integration (real processes),
# the official MCP conformance suite, SDK client tests and fuzz smoke runs.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1

jobs=$(nproc 2>/dev/null || echo 2)
status=0
summary=()

run_build() { # name, cmake args...
  local dir=$1; shift
  echo "=== build $dir: $*"
  cmake -S . -B "$dir" -DZG_WERROR=ON "$@" >"$dir.cmake.log" 2>&1 ||
    { cat "$dir.cmake.log"; return 1; }
  cmake --build "$dir" -j"$jobs" 2>&1 | grep -vE '^\[ *[0-9]+%\]' || true
  [ "${PIPESTATUS[0]}" -eq 0 ]
}

run_tests() { # dir
  local dir=$1 log
  log=$(mktemp)
  echo "=== ctest in $dir"
  (cd "$dir" && ctest --output-on-failure -j"$jobs" --timeout 600) | tee "$log"
  local rc=${PIPESTATUS[0]}
  local line
  line=$(grep -E 'tests passed, [0-9]+ tests failed out of' "$log" | tail -n 1)
  summary+=("$dir: $line")
  rm -f "$log"
  return "$rc"
}

mkdir -p build build-san
run_build build -DCMAKE_C_COMPILER=gcc || exit 1
run_build build-san -DCMAKE_C_COMPILER=clang -DZG_SANITIZE=ON -DZG_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=Debug || exit 1

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run_tests build || status=1
run_tests build-san || status=1

passed=0 failed=0
for s in "${summary[@]}"; do
  echo "$s"
  n=$(sed -nE 's/.*, ([0-9]+) tests failed out of ([0-9]+).*/\1 \2/p' <<<"$s")
  if [ -n "$n" ]; then
    read -r f t <<<"$n"
    failed=$((failed + f)); passed=$((passed + t - f))
  else
    status=1
  fi
done
echo "total: $passed passed, $failed failed"
exit $status
