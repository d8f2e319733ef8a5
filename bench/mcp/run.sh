#!/bin/sh
# bench/mcp/run.sh: mcpd vs a server on the official TypeScript SDK, side by
# side in one run on this machine, over Streamable HTTP with the same
# trivial tool (test_simple_text): tools/call throughput and p50/p99
# latency at several concurrency levels, idle RSS and start-up time (until
# the first successful initialize). Prints a markdown table with ratios.
#
# usage: bench/mcp/run.sh [BUILD_DIR]          (default: ./build)
# env:   CONCURRENCY="1 8 32 64"  DURATION=5 (s per level)  WARMUP=1 (s)
#        SDK_MODE=json|sse|both (default json)  PIN=1|0 (default 1 when
#        there are >= 2 CPUs: server on CPU 0, load generator on CPU 1)
#        MCPD, MCP_LOAD, NODE override the binaries.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
mcpd=${MCPD:-$build/bin/mcpd}
load=${MCP_LOAD:-$build/bin/mcp_load}
node=${NODE:-$root/test/node/node_modules/.bin/node}
conc=${CONCURRENCY:-1 8 32 64}
dur=${DURATION:-5}
warm=${WARMUP:-1}
sdk_mode=${SDK_MODE:-json}
ncpu=$(nproc 2>/dev/null || echo 1)
pin=${PIN:-$([ "$ncpu" -ge 2 ] && echo 1 || echo 0)}

for f in "$mcpd" "$load" "$node"; do
	[ -x "$f" ] || { echo "run.sh: missing $f (build first)" >&2; exit 2; }
done
if [ "$pin" = 1 ] && ! command -v taskset >/dev/null 2>&1; then
	pin=0
fi
srv_pin=""
load_pin=""
if [ "$pin" = 1 ]; then
	srv_pin="taskset -c 0"
	load_pin="taskset -c 1"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/zg-bench.XXXXXX")
spid=
cleanup() {
	[ -n "$spid" ] && kill "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
field() { tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'; }

# start_server NAME PORT: starts one server in the background (pinned if
# asked); $! is the server process itself (taskset execs it).
start_server() {
	case $1 in
	mcpd)
		# shellcheck disable=SC2086
		$srv_pin "$mcpd" --http "127.0.0.1:$2" --fixtures conformance \
			--max-sessions 1024 >/dev/null 2>"$work/$1.log" &
		;;
	sdk_sse)
		# shellcheck disable=SC2086
		$srv_pin "$node" "$here/sdk_server.mjs" --port "$2" --sse \
			>/dev/null 2>"$work/$1.log" &
		;;
	*)
		# shellcheck disable=SC2086
		$srv_pin "$node" "$here/sdk_server.mjs" --port "$2" \
			>/dev/null 2>"$work/$1.log" &
		;;
	esac
	spid=$!
}

# bench_one NAME: starts the server on a free port, measures start-up, idle
# RSS, then every concurrency level; appends "NAME key value" lines.
bench_one() {
	name=$1
	port=$($load --free-port)
	url="http://127.0.0.1:$port/mcp"
	t0=$(date +%s%N)
	start_server "$name" "$port"
	startup=$($load --wait-init "$url" --since "$t0" --timeout 30 | field startup_ms)
	sleep 1
	echo "$name startup_ms $startup" >>"$work/results"
	echo "$name idle_rss_kb $(rss_kb "$spid")" >>"$work/results"
	for c in $conc; do
		# shellcheck disable=SC2086
		line=$($load_pin "$load" --url "$url" -c "$c" -d "$dur" -w "$warm") || {
			echo "run.sh: $name failed at concurrency $c: $line" >&2
			cat "$work/$name.log" >&2
			exit 1
		}
		echo "  $name c=$c: $line" >&2
		for k in rps p50_us p99_us errors; do
			echo "$name ${k}_$c $(echo "$line" | field "$k")" >>"$work/results"
		done
	done
	echo "$name peak_rss_kb $(hwm_kb "$spid")" >>"$work/results"
	kill "$spid"
	wait "$spid" 2>/dev/null || true
	spid=
}

: >"$work/results"
echo "bench/mcp: $(uname -srm), $ncpu CPU(s), pin=$pin, ${dur}s per level after ${warm}s warm-up" >&2
echo "bench/mcp: mcpd ..." >&2
bench_one mcpd
modes=$sdk_mode
[ "$sdk_mode" = both ] && modes="json sse"
for m in $modes; do
	echo "bench/mcp: sdk ($m) ..." >&2
	bench_one "sdk_$m"
done

get() { awk -v n="$1" -v k="$2" '$1 == n && $2 == k { print $3 }' "$work/results"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
ms() { awk -v u="$1" 'BEGIN { printf "%.3f", u / 1000 }'; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

for m in $modes; do
	s="sdk_$m"
	echo
	echo "### mcpd vs TypeScript SDK ($m responses)"
	echo
	echo "| concurrency | mcpd req/s | SDK req/s | throughput ratio | mcpd p50 ms | SDK p50 ms | p50 ratio | mcpd p99 ms | SDK p99 ms | errors (mcpd/SDK) |"
	echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	for c in $conc; do
		echo "| $c | $(get mcpd "rps_$c") | $(get "$s" "rps_$c") | $(ratio "$(get mcpd "rps_$c")" "$(get "$s" "rps_$c")")x | $(ms "$(get mcpd "p50_us_$c")") | $(ms "$(get "$s" "p50_us_$c")") | $(ratio "$(get mcpd "p50_us_$c")" "$(get "$s" "p50_us_$c")") | $(ms "$(get mcpd "p99_us_$c")") | $(ms "$(get "$s" "p99_us_$c")") | $(get mcpd "errors_$c")/$(get "$s" "errors_$c") |"
	done
	echo
	echo "| | mcpd | SDK | ratio |"
	echo "| --- | ---: | ---: | ---: |"
	echo "| start-up to first initialize (ms) | $(get mcpd startup_ms) | $(get "$s" startup_ms) | $(ratio "$(get mcpd startup_ms)" "$(get "$s" startup_ms)") |"
	echo "| idle RSS (MB) | $(mb "$(get mcpd idle_rss_kb)") | $(mb "$(get "$s" idle_rss_kb)") | $(ratio "$(get mcpd idle_rss_kb)" "$(get "$s" idle_rss_kb)") |"
	echo "| peak RSS after load (MB) | $(mb "$(get mcpd peak_rss_kb)") | $(mb "$(get "$s" peak_rss_kb)") | $(ratio "$(get mcpd peak_rss_kb)" "$(get "$s" peak_rss_kb)") |"
done
