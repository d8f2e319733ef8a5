#!/bin/sh
# bench/gateway/fair.sh: does one flooding zone slow the others down?
# Two well-behaved agent zones (v1, v2: gw_load, closed loop, verified
# calls to tool zone t2) are measured alone, then while agent zone fl
# floods gatewayd (gw_load --flood: 1 MiB of calls always queued on its
# channel, answers read) with calls it may not make (denied: audit and
# error reply per call) and then with calls it may make (to tool zone t1,
# its own mcpd). Prints the victims' p50/p99 in each phase, the flooder's
# rate, and the p99 ratio loaded/unloaded (target: within 2x). Phases are
# interleaved ROUNDS times; medians.
# usage: bench/gateway/fair.sh [BUILD_DIR]
# env:   DURATION=4 ROUNDS=3 CONC=4 (sessions per victim zone)
#        FLOOD_SESSIONS=64  PIN=1
# In production each zone has vCPUs of its own; on a small machine every
# process shares the same CPUs, so the flooding zone's own processes (its
# client and its tool zone t1's mcpd) would take CPU time from the
# victims' processes as well as load gatewayd. With PIN=1 (the default,
# on a machine with 2 or more CPUs) the flooder's processes run on the
# last CPU and everything else (gatewayd, the victims, t2) on the others,
# in every phase alike: what is measured is what the flood costs the
# others through gatewayd. PIN=0 lets them all share.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
bin=$build/bin
dur=${DURATION:-4}
rounds=${ROUNDS:-3}
conc=${CONC:-4}
fsess=${FLOOD_SESSIONS:-64}
pin=${PIN:-1}
ncpu=$(nproc)
[ "$ncpu" -ge 2 ] || pin=0
fl_run=
us_run=
if [ "$pin" = 1 ]; then
	fl_run="taskset -c $((ncpu - 1))"
	us_run="taskset -c 0-$((ncpu - 2))"
fi
for f in mcpd-test gatewayd gw_load; do
	[ -x "$bin/$f" ] || { echo "fair.sh: missing $bin/$f (build first)" >&2; exit 2; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/zg-gwfair.XXXXXX")
export ZONEGATE_SIM_DIR=$work/sim
pids=
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
field() { tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print 0 }'; }

# the same zones and policy as the fairness test (test/gateway/fairness.sh)
cp "$root/data/gateway/fair/gw.json" "$root/data/gateway/fair/fair.policy" "$work/"
$fl_run "$bin/mcpd-test" --chan sim:74:t1 --fixtures conformance 2>/dev/null & pids="$pids $!"
$us_run "$bin/mcpd-test" --chan sim:75:t2 --fixtures conformance 2>/dev/null & pids="$pids $!"
$us_run "$bin/gatewayd" --config "$work/gw.json" 2>"$work/gw.log" & gpid=$!
pids="$pids $gpid"
i=0
up() { n=$(grep -c " up: " "$work/gw.log" 2>/dev/null || true); echo "${n:-0}"; }
while [ $i -lt 200 ] && [ "$(up)" -lt 2 ]; do
	sleep 0.05; i=$((i + 1))
done

# victims RESULT_PREFIX: both victim zones for $dur s; one row per zone
victims() {
	$us_run "$bin/gw_load" --chan sim:71:v1 -c "$conc" -d "$dur" -w 1 --verify --tag 1 \
		--tool t2.test_structured_output >"$work/v1.out" 2>&1 &
	a=$!
	$us_run "$bin/gw_load" --chan sim:72:v2 -c "$conc" -d "$dur" -w 1 --verify --tag 2 \
		--tool t2.test_structured_output >"$work/v2.out" 2>&1 &
	b=$!
	wait $a || true
	wait $b || true
	for z in v1 v2; do
		echo "$(field p50_us <"$work/$z.out") $(field p99_us <"$work/$z.out")" \
			"$(field requests <"$work/$z.out") $(field errors <"$work/$z.out")" >>"$work/$1.rows"
	done
}

# flood TOOL PHASE: the flooder calls TOOL while the victims run
flood() {
	$fl_run "$bin/gw_load" --chan sim:73:fl -c "$fsess" -d $((dur + 2)) -w 0 \
		--flood --tool "$1" >"$work/fl.out" 2>&1 &
	f=$!
	sleep 0.5
	victims "$2"
	wait $f || true
	echo "$(field rps <"$work/fl.out" | cut -d. -f1) $(field errors <"$work/fl.out")" >>"$work/$2.flood"
}

: >"$work/idle.rows"; : >"$work/denied.rows"; : >"$work/allowed.rows"
: >"$work/denied.flood"; : >"$work/allowed.flood"
r=0
while [ $r -lt "$rounds" ]; do
	victims idle
	flood t2.test_simple_text denied
	flood t1.test_simple_text allowed
	r=$((r + 1))
done
kill -0 "$gpid" 2>/dev/null || { echo "fair.sh: gatewayd died" >&2; tail "$work/gw.log" >&2; exit 1; }

p99_idle=$(awk '{ print $2 }' "$work/idle.rows" | median)
echo "| phase | victims' p50 us | victims' p99 us | victim calls | victim errors | flood answers/s | p99 ratio |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for ph in idle denied allowed; do
	p50=$(awk '{ print $1 }' "$work/$ph.rows" | median)
	p99=$(awk '{ print $2 }' "$work/$ph.rows" | median)
	req=$(awk '{ s += $3 } END { print s + 0 }' "$work/$ph.rows")
	err=$(awk '{ s += $4 } END { print s + 0 }' "$work/$ph.rows")
	fr=-
	[ -s "$work/$ph.flood" ] && fr=$(awk '{ print $1 }' "$work/$ph.flood" | median)
	ratio=$(awk -v a="$p99" -v b="$p99_idle" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
	echo "| $ph | $p50 | $p99 | $req | $err | $fr | $ratio |"
done
echo
echo "victims: 2 zones x $conc sessions; flooder: $fsess sessions; pinned: $pin;" \
	"$rounds rounds of ${dur} s; medians over rounds and zones"
echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
