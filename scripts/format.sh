#!/bin/sh
# scripts/format.sh: applies the tree's C style (.clang-format) to every C
# source and header in place; with --check, changes nothing and fails
# (exit 1, listing the differences) if any file is not formatted. The
# ctest case clang_format runs the check.
# Env: CLANG_FORMAT (default: clang-format-14, else clang-format).
set -eu
cd "$(dirname "$0")/.."
cf=${CLANG_FORMAT:-}
if [ -z "$cf" ]; then
	cf=$(command -v clang-format-14 || command -v clang-format || true)
fi
[ -n "$cf" ] || { echo "format.sh: clang-format not found (apt-get install clang-format)" >&2; exit 2; }
files=$(find include common mcp vchan rag web gateway test bench -name node_modules -prune \
	-o \( -name '*.c' -o -name '*.h' \) -print | sort)
if [ "${1:-}" = --check ]; then
	if "$cf" --dry-run --Werror $files; then
		echo "format: $(echo "$files" | wc -l) files formatted"
	else
		echo "format: files above are not formatted; run scripts/format.sh" >&2
		exit 1
	fi
else
	"$cf" -i $files
fi
