#!/bin/sh
# bench/gateway/capacity.sh: does one zone's slow calls to a shared tool
# zone slow the other zones' calls to it? Tool zone t (mcpd-test, its
# default 32 workers) serves three agent zones: v1 and v2 (gw_load,
# closed loop, CONC sessions each, a 1 ms call on mcpd's workers) are
# measured alone, then
# while hog keeps HOG_SESSIONS slow calls (test_slow_counter, SLOW_MS
# each) in flight, with the gateway's admission as configured by default
# (max_inflight 32, agent_max_inflight 24: docs/gateway.md, "Tool zone
# capacity") and with it out of the way (max_inflight 65536: every call
# goes to mcpd at once and waits in its queue, as before admission).
# Prints the victims' p50/p99 per phase (medians over rounds and zones)
# and the p99 ratio against alone. Phases are interleaved ROUNDS times.
# usage: bench/gateway/capacity.sh [BUILD_DIR]
# env:   DURATION=4 ROUNDS=3 CONC=4 HOG_SESSIONS=64 SLOW_MS=500
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
bin=$build/bin
dur=${DURATION:-4}
rounds=${ROUNDS:-3}
conc=${CONC:-4}
hogs=${HOG_SESSIONS:-64}
slow=${SLOW_MS:-500}
. "$here/common.sh"
bench_start gwcap mcpd-test gatewayd gw_load

# gateway NAME DOMID CAPACITY: a gatewayd (config gw-NAME.json) with the
# three agent zones and tool zone t on channels under DOMID; CAPACITY is
# the tool zone's extra JSON keys
gateway() {
	d=$2
	cat >"$work/gw-$1.json" <<EOF
{ "zones": {
    "v1": { "domid": $((d + 1)), "role": "agent", "chan": "sim:$((d + 1)):v1" },
    "v2": { "domid": $((d + 2)), "role": "agent", "chan": "sim:$((d + 2)):v2" },
    "hog": { "domid": $((d + 3)), "role": "agent", "chan": "sim:$((d + 3)):hog" },
    "t": { "domid": $d, "role": "tool", "chan": "sim:$d:t"$3 } },
  "policy": "cap.policy", "audit_log": "audit-$1.log" }
EOF
	"$bin/mcpd-test" --chan "sim:$d:t" --fixtures conformance 2>/dev/null &
	pids="$pids $!"
	"$bin/gatewayd" --config "$work/gw-$1.json" 2>"$work/gw-$1.log" &
	pids="$pids $!"
	i=0
	while [ $i -lt 200 ] && ! grep -qs " up: " "$work/gw-$1.log"; do
		sleep 0.05; i=$((i + 1))
	done
}
printf '* t.* allow\n' >"$work/cap.policy"
# the victims' call: a millisecond on one of mcpd's workers (as web_fetch
# or a RAG search runs; test_simple_text runs on mcpd's I/O thread and
# never meets the workers)
quick='{"steps":1,"interval_ms":1}'
gateway on 80 ""
gateway off 90 ', "max_inflight": 65536, "agent_max_inflight": 65536'

# victims D PHASE: v1 and v2 of the gateway under domids D for $dur s
victims() {
	"$bin/gw_load" --chan "sim:$(($1 + 1)):v1" -c "$conc" -d "$dur" -w 1 \
		--tool t.test_slow_counter --args "$quick" >"$work/v1.out" 2>&1 &
	a=$!
	"$bin/gw_load" --chan "sim:$(($1 + 2)):v2" -c "$conc" -d "$dur" -w 1 \
		--tool t.test_slow_counter --args "$quick" >"$work/v2.out" 2>&1 &
	b=$!
	wait $a || true
	wait $b || true
	for z in v1 v2; do
		echo "$(field p50_us <"$work/$z.out") $(field p99_us <"$work/$z.out")" \
			"$(field requests <"$work/$z.out") $(field errors <"$work/$z.out")" >>"$work/$2.rows"
	done
}
# hogged D PHASE: the same while hog keeps its slow calls in flight
hogged() {
	"$bin/gw_load" --chan "sim:$(($1 + 3)):hog" -c "$hogs" -d $((dur + 3)) -w 0 \
		--tool t.test_slow_counter --args "{\"steps\":5,\"interval_ms\":$((slow / 5))}" \
		>"$work/hog.out" 2>&1 &
	h=$!
	sleep 1.5 # its calls fill the zone
	victims "$1" "$2"
	wait $h || true
	echo "$(field rps <"$work/hog.out")" >>"$work/$2.hog"
}

r=0
while [ $r -lt "$rounds" ]; do
	victims 80 alone
	hogged 80 on
	hogged 90 off
	r=$((r + 1))
done

col() { awk -v c="$1" '{ print $c }' "$work/$2.rows" | median; }
errs() { awk '{ s += $4 } END { print s + 0 }' "$work/$1.rows"; }
a99=$(col 2 alone)
echo "victims: 2 zones x $conc sessions, 1 ms calls; hog: $hogs sessions of ${slow} ms calls"
echo "(rounds: $rounds x ${dur} s; medians over rounds and zones)"
echo
echo "| phase | victim p50 us | victim p99 us | victim calls / round | errors | p99 / alone | hog calls/s |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for ph in alone on off; do
	p99=$(col 2 "$ph")
	hr=-
	[ -f "$work/$ph.hog" ] && hr=$(median <"$work/$ph.hog")
	label=$ph
	[ "$ph" = on ] && label="hog, admission (defaults)"
	[ "$ph" = off ] && label="hog, no admission (before)"
	echo "| $label | $(col 1 "$ph") | $p99 | $(col 3 "$ph") | $(errs "$ph") |" \
		"$(awk -v a="$p99" -v b="$a99" 'BEGIN { printf "%.2fx", b ? a / b : 0 }') | $hr |"
done
echo
echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
# a phase whose victims got errors or no answer at all is a failed run
# (bench_capacity_smoke); how fast is never checked
for ph in alone on off; do
	if [ "$(errs "$ph")" -ne 0 ] || [ "$(col 3 "$ph")" -eq 0 ]; then
		echo "capacity.sh: phase $ph: errors or no calls answered" >&2
		exit 1
	fi
done
