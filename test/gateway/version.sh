#!/bin/sh
# --version on every binary: exactly one line, "NAME VERSION", exit 0;
# in a checkout the version carries the git description ("-gHASH" of a
# commit of this repository).
# Usage: version.sh SRCDIR BINARY...
set -u
src=$1
shift
fail=0
for b in "$@"; do
	name=$(basename "$b")
	out=$("$b" --version 2>&1)
	rc=$?
	lines=$(printf '%s\n' "$out" | wc -l)
	ver=${out#"$name "}
	if [ $rc -ne 0 ] || [ "$lines" -ne 1 ] || [ "$ver" = "$out" ] ||
	   ! printf '%s' "$ver" | grep -Eq '^v?[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$'; then
		echo "FAIL: $name --version -> rc=$rc '$out'"
		fail=1
		continue
	fi
	if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
		hash=$(printf '%s' "$ver" | sed -n 's/.*-g\([0-9a-f]\{7,\}\).*/\1/p')
		if [ -z "$hash" ] || ! git -C "$src" cat-file -e "$hash^{commit}" 2>/dev/null; then
			echo "FAIL: $name --version '$out' has no git description of this checkout"
			fail=1
			continue
		fi
	fi
	echo "ok   $out"
done
exit $fail
