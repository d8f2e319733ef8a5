#!/bin/sh
# bench/mcp/ab.sh: CPU per call of two mcpd builds, A and B (e.g. the tree
# before a change and after it), measured interleaved on this machine:
# every round runs A then B at each level and revision, each server a
# process of its own for the whole run, and each figure is the median over
# the rounds, so that background load hits both alike. CPU is the
# server's user and system time (/proc/PID/stat) over the calls it
# answered (warm-up included); prints a markdown table.
#
# usage: bench/mcp/ab.sh MCPD_TEST_A MCPD_TEST_B [MCP_LOAD]
# env:   ROUNDS=5  CONCURRENCY="1 8 32"  DURATION=2 (s)  WARMUP=0 (s)
#        REVS="2025 2026"
set -eu

[ $# -ge 2 ] || { echo "usage: $0 MCPD_TEST_A MCPD_TEST_B [MCP_LOAD]" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
bin_a=$1
bin_b=$2
load=${3:-$here/../../build/bin/mcp_load}
rounds=${ROUNDS:-5}
conc=${CONCURRENCY:-1 8 32}
dur=${DURATION:-2}
warm=${WARMUP:-0}
revs=${REVS:-2025 2026}
hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
for f in "$bin_a" "$bin_b" "$load"; do
	[ -x "$f" ] || { echo "ab.sh: missing $f" >&2; exit 2; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/zg-ab.XXXXXX")
# shellcheck source=bench/mcp/lib.sh
. "$here/lib.sh"
ticks() { awk '{ print $14, $15 }' "/proc/$1/stat"; }

# One server per build and revision, for the whole run.
for b in a b; do
	for r in $revs; do
		eval "bin=\$bin_$b"
		port=$("$load" --free-port)
		# shellcheck disable=SC2154
		"$bin" --http "127.0.0.1:$port" --fixtures conformance \
			--max-sessions 1024 >/dev/null 2>"$work/$b$r.log" &
		pids="$pids $!"
		eval "pid_$b$r=$!"
		eval "url_$b$r=http://127.0.0.1:$port/mcp"
	done
done
sleep 1
echo "ab.sh: load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

: >"$work/results"
pid=""
url=""
i=1
while [ "$i" -le "$rounds" ]; do
	for c in $conc; do
		for r in $revs; do
			for b in a b; do
				eval "pid=\$pid_$b$r"
				eval "url=\$url_$b$r"
				rev=2025-11-25
				[ "$r" = 2026 ] && rev=2026-07-28
				t0=$(ticks "$pid")
				line=$("$load" --url "$url" -c "$c" -d "$dur" -w "$warm" --rev "$rev")
				t1=$(ticks "$pid")
				n=$(echo "$line" | field total)
				echo "$t0 $t1" | awk -v n="$n" -v hz="$hz" -v k="$r $c $b" '
					{ u = ($3 - $1) * 1e6 / hz / n; s = ($4 - $2) * 1e6 / hz / n
					  printf "%s %.2f %.2f %.2f\n", k, u, s, u + s }' >>"$work/results"
				echo "  round $i rev $r c=$c $b: $line" >&2
			done
		done
	done
	i=$((i + 1))
done
echo "ab.sh: load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# median KEY COLUMN (4 user, 5 system, 6 total)
median() {
	awk -v k="$1" -v col="$2" '$1 " " $2 " " $3 == k { print $col }' "$work/results" |
		sort -g | awk '{ v[NR] = $1 } END {
			if (NR == 0) { print "n/a"; exit }
			print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
echo "| revision | connections | A user | A system | A total | B user | B system | B total | B / A |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for r in $revs; do
	for c in $conc; do
		a=$(median "$r $c a" 6)
		b=$(median "$r $c b" 6)
		echo "| $r | $c | $(median "$r $c a" 4) | $(median "$r $c a" 5) | $a | $(median "$r $c b" 4) | $(median "$r $c b" 5) | $b | $(awk -v a="$a" -v b="$b" 'BEGIN { if (a > 0) printf "%.2f", b / a; else print "n/a" }') |"
	done
done
