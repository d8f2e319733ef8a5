#!/bin/sh
# bench/mcp/run.sh: mcpd vs a server on the official TypeScript SDK, side by
# side in one run on this machine, over Streamable HTTP with the same
# trivial tool (test_simple_text): tools/call throughput and p50/p99
# latency at several concurrency levels, idle RSS and start-up time (until
# the first successful initialize). Prints a markdown table with ratios.
# Both revisions: 2025-11-25 (sessions) against the SDK 1.x server
# (sdk_server.mjs), 2026-07-28 (stateless requests) against the SDK 2.x
# server (sdk_server.mjs --v2); mcpd serves each from a process of its own.
#
# Servers are measured interleaved (every round runs each server at each
# level back to back) and each figure is the median over the rounds, so
# background load on a shared machine hits both sides alike.
#
# Two load generators: the sleeping client (it waits for each answer in
# epoll_wait, the default everywhere), and at the SPIN_CONC levels also
# the polling client (mcp_load --spin SPIN_US: it polls for its answer
# before it sleeps), with every server alike, so that what a call costs
# the client's own wake-up on an idle VM is visible apart from the
# server's share. Both are reported; rows of the polling client say so.
#
# usage: bench/mcp/run.sh [BUILD_DIR]          (default: ./build)
# env:   CONCURRENCY="1 8 32 64"  DURATION=3 (s per run)  WARMUP=1 (s)
#        ROUNDS=3  SDK_MODE=json|sse|both (default json)
#        REVS="2025 2026" (which revisions to compare; default both)
#        PIN=0|1 (1: servers share CPU 0, load generator on CPU 1)
#        SPIN_CONC="1" (levels also measured with the polling client;
#        empty: none)  SPIN_US=50 (how long it polls before it sleeps)
#        MCPD_TEST (mcpd-test: mcpd plus the conformance fixtures),
#        MCP_LOAD, NODE override the binaries.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
mcpd=${MCPD_TEST:-$build/bin/mcpd-test}
load=${MCP_LOAD:-$build/bin/mcp_load}
node=${NODE:-$root/test/node/node_modules/.bin/node}
conc=${CONCURRENCY:-1 8 32 64}
dur=${DURATION:-3}
warm=${WARMUP:-1}
rounds=${ROUNDS:-3}
sdk_mode=${SDK_MODE:-json}
revs=${REVS:-2025 2026}
ncpu=$(nproc 2>/dev/null || echo 1)
pin=${PIN:-0}
spin_conc=${SPIN_CONC-1}
spin_us=${SPIN_US:-50}

for f in "$mcpd" "$load" "$node"; do
	[ -x "$f" ] || { echo "run.sh: missing $f (build first)" >&2; exit 2; }
done
srv_pin=""
load_pin=""
if [ "$pin" = 1 ] && [ "$ncpu" -ge 2 ] && command -v taskset >/dev/null 2>&1; then
	srv_pin="taskset -c 0"
	load_pin="taskset -c 1"
else
	pin=0
fi

names=""
case " $revs " in
*" 2025 "*)
	names=mcpd
	case $sdk_mode in
	both) names="$names sdk_json sdk_sse" ;;
	sse) names="$names sdk_sse" ;;
	*) names="$names sdk_json" ;;
	esac
	;;
esac
case " $revs " in
*" 2026 "*) names="$names mcpd_2026 sdk2" ;;
esac
[ -n "$names" ] || { echo "run.sh: REVS must name 2025 and/or 2026" >&2; exit 2; }

# The load generator's revision flag for a server's name.
rev_of() {
	case $1 in
	mcpd_2026 | sdk2) echo "--rev 2026-07-28" ;;
	*) echo "--rev 2025-11-25" ;;
	esac
}
# The mcpd run a server's numbers are compared with.
base_of() {
	case $1 in
	sdk2) echo mcpd_2026 ;;
	*) echo mcpd ;;
	esac
}

work=$(mktemp -d "${TMPDIR:-/tmp}/zg-bench.XXXXXX")
url=""
pid=""
# shellcheck source=bench/mcp/lib.sh
. "$here/lib.sh"

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
anon_kb() { awk '/^RssAnon:/ { print $2 }' "/proc/$1/status"; }
pss_kb() { awk '/^Pss:/ { print $2 }' "/proc/$1/smaps_rollup"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# Context switches of all of a process's threads: voluntary (it slept,
# e.g. in epoll_wait) and involuntary (preempted).
ctx_sw() { cat "/proc/$1/task/"*/status 2>/dev/null | awk -v k="$2" '$1 == k":" { s += $2 } END { print s + 0 }'; }
hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
record() { echo "$1 $2 $3" >>"$work/results"; }

# start_server NAME PORT: starts one server in the background (pinned if
# asked); $! is the server process itself (taskset execs it).
start_server() {
	case $1 in
	mcpd | mcpd_2026)
		# shellcheck disable=SC2086
		$srv_pin "$mcpd" --http "127.0.0.1:$2" --fixtures conformance \
			--max-sessions 1024 >/dev/null 2>"$work/$1.log" &
		;;
	sdk2)
		# shellcheck disable=SC2086
		$srv_pin "$node" "$here/sdk_server.mjs" --port "$2" --v2 \
			>/dev/null 2>"$work/$1.log" &
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
	pids="$pids $!"
	eval "pid_$1=\$!"
}

: >"$work/results"
echo "bench/mcp: $(uname -srm), $ncpu CPU(s), pin=$pin, $rounds round(s) of ${dur}s per level after ${warm}s warm-up, polling client (${spin_us} µs) at: ${spin_conc:-none}" >&2

# Start-up and idle RSS, one server at a time on an otherwise idle box.
for n in $names; do
	port=$($load --free-port)
	eval "url_$n=http://127.0.0.1:$port/mcp"
	t0=$(date +%s%N)
	start_server "$n" "$port"
	eval "url=\$url_$n"
	# shellcheck disable=SC2046
	s=$($load --wait-init "$url" --since "$t0" --timeout 30 $(rev_of "$n") | field startup_ms)
	record "$n" startup_ms "$s"
	sleep 1
	eval "pid=\$pid_$n"
	record "$n" idle_rss_kb "$(rss_kb "$pid")"
	record "$n" idle_anon_kb "$(anon_kb "$pid")"
	record "$n" idle_pss_kb "$(pss_kb "$pid")"
	echo "  $n: start-up ${s} ms, idle RSS $(rss_kb "$pid") kB" >&2
done

# measure NAME CONNS LEVEL SPIN: one measurement of server NAME at CONNS
# connections, recorded under LEVEL (CONNS, or CONNSp for the polling
# client, SPIN its --spin in µs).
measure() {
	eval "url=\$url_$1"
	eval "pid=\$pid_$1"
	t_a=$(cpu_ticks "$pid")
	v_a=$(ctx_sw "$pid" voluntary_ctxt_switches)
	i_a=$(ctx_sw "$pid" nonvoluntary_ctxt_switches)
	# shellcheck disable=SC2086,SC2046
	line=$($load_pin "$load" --url "$url" -c "$2" -d "$dur" -w "$warm" --spin "$4" $(rev_of "$1")) || {
		echo "run.sh: $1 failed at concurrency $2: $line" >&2
		cat "$work/$1.log" >&2
		exit 1
	}
	echo "  round $r $1 c=$3: $line" >&2
	t_b=$(cpu_ticks "$pid")
	v_b=$(ctx_sw "$pid" voluntary_ctxt_switches)
	i_b=$(ctx_sw "$pid" nonvoluntary_ctxt_switches)
	for k in rps p50_us p99_us errors; do
		record "$1" "${k}_$3" "$(echo "$line" | field "$k")"
	done
	# Server CPU time per call (warm-up calls included on both sides).
	record "$1" "cpu_us_$3" "$(awk -v t=$((t_b - t_a)) -v hz="$hz" \
		-v n="$(echo "$line" | field total)" \
		'BEGIN { if (n > 0) printf "%.1f", t * 1e6 / hz / n; else print 0 }')"
	# Its sleeps and preemptions per call (all its threads).
	n_calls=$(echo "$line" | field total)
	for k in vcs:$((v_b - v_a)) ivcs:$((i_b - i_a)); do
		record "$1" "${k%%:*}_$3" "$(awk -v v="${k#*:}" -v n="$n_calls" \
			'BEGIN { if (n > 0) printf "%.2f", v / n; else print 0 }')"
	done
}

# The table rows: every level with the sleeping client, then the
# SPIN_CONC levels with the polling client.
levels="$conc"
for c in $spin_conc; do
	levels="$levels ${c}p"
done
# A row's label.
label() {
	case $1 in
	*p) echo "${1%p}, polling client" ;;
	*) echo "$1" ;;
	esac
}

# Throughput and latency, interleaved.
r=1
while [ "$r" -le "$rounds" ]; do
	for c in $conc; do
		for n in $names; do
			measure "$n" "$c" "$c" 0
		done
	done
	for c in $spin_conc; do
		for n in $names; do
			measure "$n" "$c" "${c}p" "$spin_us"
		done
	done
	r=$((r + 1))
done
for n in $names; do
	eval "pid=\$pid_$n"
	record "$n" peak_rss_kb "$(hwm_kb "$pid")"
done

# The median of all values recorded for (name, key); sums for errors.
get() {
	awk -v n="$1" -v k="$2" '$1 == n && $2 == k { print $3 }' "$work/results" |
		sort -g | awk -v k="$2" '
			{ v[NR] = $1; s += $1 }
			END {
				if (NR == 0) { print "n/a"; exit }
				if (k ~ /^errors/) { print s; exit }
				print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
ms() { awk -v u="$1" 'BEGIN { printf "%.3f", u / 1000 }'; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
kr() { awk -v v="$1" 'BEGIN { printf "%.0f", v }'; }

for s in $names; do
	case $s in mcpd | mcpd_2026) continue ;; esac
	m=$(base_of "$s")
	case $s in
	sdk2) title="2026-07-28: mcpd vs TypeScript SDK 2.x (sdk2)" ;;
	*) title="2025-11-25: mcpd vs TypeScript SDK 1.x ($s)" ;;
	esac
	echo
	echo "### $title"
	echo
	echo "| concurrency | mcpd req/s | SDK req/s | throughput ratio | mcpd p50 ms | SDK p50 ms | p50 ratio | mcpd p99 ms | SDK p99 ms | errors (mcpd/SDK) |"
	echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	for c in $levels; do
		a=$(get "$m" "rps_$c")
		b=$(get "$s" "rps_$c")
		p=$(get "$m" "p50_us_$c")
		q=$(get "$s" "p50_us_$c")
		echo "| $(label "$c") | $(kr "$a") | $(kr "$b") | $(ratio "$a" "$b")x | $(ms "$p") | $(ms "$q") | $(ratio "$p" "$q") | $(ms "$(get "$m" "p99_us_$c")") | $(ms "$(get "$s" "p99_us_$c")") | $(get "$m" "errors_$c")/$(get "$s" "errors_$c") |"
	done
	echo
	echo "Server CPU time per call (user + system, µs; lower is better):"
	echo
	echo "| concurrency | mcpd | SDK | SDK / mcpd |"
	echo "| ---: | ---: | ---: | ---: |"
	for c in $levels; do
		a=$(get "$m" "cpu_us_$c")
		b=$(get "$s" "cpu_us_$c")
		echo "| $(label "$c") | $a | $b | $(ratio "$b" "$a")x |"
	done
	echo
	echo "Server context switches per call, all threads (voluntary: slept; involuntary: preempted):"
	echo
	echo "| concurrency | mcpd voluntary | mcpd involuntary | SDK voluntary | SDK involuntary |"
	echo "| ---: | ---: | ---: | ---: | ---: |"
	for c in $levels; do
		echo "| $(label "$c") | $(get "$m" "vcs_$c") | $(get "$m" "ivcs_$c") | $(get "$s" "vcs_$c") | $(get "$s" "ivcs_$c") |"
	done
	echo
	echo "| | mcpd | SDK | ratio |"
	echo "| --- | ---: | ---: | ---: |"
	echo "| start-up to first answer (ms) | $(get "$m" startup_ms) | $(get "$s" startup_ms) | $(ratio "$(get "$m" startup_ms)" "$(get "$s" startup_ms)") |"
	echo "| idle RSS (MB) | $(mb "$(get "$m" idle_rss_kb)") | $(mb "$(get "$s" idle_rss_kb)") | $(ratio "$(get "$m" idle_rss_kb)" "$(get "$s" idle_rss_kb)") |"
	echo "| idle RSS, anonymous only (MB) | $(mb "$(get "$m" idle_anon_kb)") | $(mb "$(get "$s" idle_anon_kb)") | $(ratio "$(get "$m" idle_anon_kb)" "$(get "$s" idle_anon_kb)") |"
	echo "| idle PSS (MB) | $(mb "$(get "$m" idle_pss_kb)") | $(mb "$(get "$s" idle_pss_kb)") | $(ratio "$(get "$m" idle_pss_kb)" "$(get "$s" idle_pss_kb)") |"
	echo "| peak RSS, whole run (MB) | $(mb "$(get "$m" peak_rss_kb)") | $(mb "$(get "$s" peak_rss_kb)") | $(ratio "$(get "$m" peak_rss_kb)" "$(get "$s" peak_rss_kb)") |"
done
