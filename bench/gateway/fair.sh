#!/bin/sh
# bench/gateway/fair.sh: does one flooding zone slow the others down?
# Two well-behaved agent zones (v1, v2: gw_load, closed loop, verified
# calls to tool zone t2) are measured alone, then while agent zone fl
# floods gatewayd (gw_load --flood: 1 MiB of calls always queued on its
# channel, answers read) with calls it may not make (denied: audit and
# error reply per call) and then with calls it may make (to tool zone t1,
# its own mcpd), and then while the flooder's zones only burn the CPU
# they may use (burn: what the flooder costs the others without going
# through gatewayd). Prints the victims' p50/p99 in each phase, the
# flooder's rate, gatewayd's CPU use, and the p99 ratio loaded/unloaded
# (target: within 2x): of the medians, and per round against the same
# round's unloaded phase (load from elsewhere on the machine moves both).
# Phases are interleaved ROUNDS times; medians over rounds and zones.
# usage: bench/gateway/fair.sh [BUILD_DIR]
# env:   DURATION=4 ROUNDS=3 CONC=4 (sessions per victim zone)
#        FLOOD_SESSIONS=64  MODE=cap  FLOOD_CPU=0.5
#        FLOOD_RATE=N: the flooder's rule gets rate=N/s (its calls over
#        it are refused, and the refusals count against its denial
#        budget, zone_denials_per_s); unset: no rate limit
# Where the flooding zone's own processes (its client and its tool zone
# t1's mcpd) run decides what they take from everyone else, so MODE says:
#   cap   (default) as a deployment on this kind of host bounds a zone:
#         each of the flooder's zones (fl and t1) is started by `zonectl
#         run` from a run block with "sandbox": false and "limits":
#         {"cpu": FLOOD_CPU}, i.e. in a cgroup of its own with that CPU
#         quota, the cgroup files zonectl uses for any zone; gatewayd,
#         the victims and t2 are not confined. Needs root (the cgroups);
#         if zonectl reports the cpu limit NOT APPLIED, fair.sh stops.
#   pin   the flooder's processes on the last CPU (taskset), everything
#         else on the others: as zones with vCPUs of their own.
#   share no placement: every process shares every CPU (on a small
#         machine the flooder's client and mcpd then take CPU time from
#         the victims as well as loading gatewayd).
# The placement is the same in every phase, so what is measured is what
# the flood costs the others through gatewayd.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
bin=$build/bin
dur=${DURATION:-4}
rounds=${ROUNDS:-3}
conc=${CONC:-4}
fsess=${FLOOD_SESSIONS:-64}
mode=${MODE:-cap}
fcpu=${FLOOD_CPU:-0.5}
ncpu=$(nproc)
fl_run=
us_run=
case $mode in
cap | share) ;;
pin)
	[ "$ncpu" -ge 2 ] || { echo "fair.sh: MODE=pin needs 2 CPUs" >&2; exit 2; }
	fl_run="taskset -c $((ncpu - 1))"
	us_run="taskset -c 0-$((ncpu - 2))" ;;
*) echo "fair.sh: MODE must be cap, pin or share" >&2; exit 2 ;;
esac
. "$here/common.sh"
bench_start gwfair mcpd-test gatewayd gw_load zonectl

# the same zones and policy as the fairness test (test/gateway/fairness.sh)
cp "$root/data/gateway/fair/gw.json" "$root/data/gateway/fair/fair.policy" "$work/"
if [ -n "${FLOOD_RATE:-}" ]; then
	sed -i "s|^fl  t1.test_simple_text        allow\$|& rate=$FLOOD_RATE/s|" "$work/fair.policy"
	grep -q "rate=$FLOOD_RATE/s" "$work/fair.policy" ||
		{ echo "fair.sh: cannot set the flooder's rate" >&2; exit 2; }
fi

# zones_config NAME FL_COMMAND: $work/zones-NAME.json, gw.json with run
# blocks for the flooder's zones (fl runs FL_COMMAND, a JSON array; t1
# serves; fb, a zone only zonectl knows, burns CPU), each capped at
# FLOOD_CPU
zones_config() {
	cat >"$work/zones-$1.json" <<EOF
{ "zones": {
    "v1": { "domid": 71, "role": "agent", "chan": "sim:71:v1" },
    "v2": { "domid": 72, "role": "agent", "chan": "sim:72:v2" },
    "fl": { "domid": 73, "role": "agent", "chan": "sim:73:fl",
      "run": { "command": $2,
               "sandbox": false, "limits": { "cpu": $fcpu } } },
    "t1": { "domid": 74, "role": "tool", "chan": "sim:74:t1",
      "run": { "command": ["$bin/mcpd-test", "--chan", "sim:74:t1",
                 "--fixtures", "conformance"],
               "sandbox": false, "limits": { "cpu": $fcpu } } },
    "t2": { "domid": 75, "role": "tool", "chan": "sim:75:t2" },
    "fb": { "domid": 76, "role": "agent", "chan": "sim:76:fb",
      "run": { "command": $burn_cmd,
               "sandbox": false, "limits": { "cpu": $fcpu } } } },
  "policy": "fair.policy", "audit_log": "audit.log" }
EOF
}
flood_cmd() {
	echo "[\"$bin/gw_load\", \"--chan\", \"sim:73:fl\", \"-c\", \"$fsess\"," \
		"\"-d\", \"$((dur + 2))\", \"-w\", \"0\", \"--flood\", \"--tool\", \"$1\"]"
}
burn_cmd="[\"/usr/bin/timeout\", \"$((dur + 2))\", \"/bin/sh\", \"-c\", \"while :; do :; done\"]"

# zone_run ZONE NAME: zonectl runs ZONE of zones-NAME.json (in the
# background; its report and the zone's output go to $work/ZONE.log);
# stops fair.sh unless the report says the cpu limit was applied
zone_run() {
	(cd "$work" && exec "$bin/zonectl" --config "zones-$2.json" run "$1") \
		>"$work/$1.log" 2>&1 &
	zpid=$!
	i=0
	# (the report's cgroup line may be caught half written: wait for
	# what it says of the cpu)
	while [ $i -lt 600 ] &&
		! grep -Eq "^  cgroup .*(cpu [0-9]|NOT APPLIED)" "$work/$1.log" 2>/dev/null; do
		sleep 0.05; i=$((i + 1))
	done
	grep "^  cgroup " "$work/$1.log" | grep -q " cpu [0-9]" || {
		echo "fair.sh: zone $1: no report of an applied cpu limit from zonectl in 30 s:" >&2
		cat "$work/$1.log" >&2
		exit 1
	}
}

if [ "$mode" = cap ]; then
	zones_config denied "$(flood_cmd t2.test_simple_text)"
	zones_config allowed "$(flood_cmd t1.test_simple_text)"
	zones_config burn "$burn_cmd"
	zone_run t1 allowed
	pids="$pids $zpid"
else
	$fl_run "$bin/mcpd-test" --chan sim:74:t1 --fixtures conformance 2>/dev/null & pids="$pids $!"
fi
$us_run "$bin/mcpd-test" --chan sim:75:t2 --fixtures conformance 2>/dev/null & pids="$pids $!"
$us_run "$bin/gatewayd" --config "$work/gw.json" 2>"$work/gw.log" & gpid=$!
pids="$pids $gpid"
i=0
up() { n=$(grep -c " up: " "$work/gw.log" 2>/dev/null || true); echo "${n:-0}"; }
while [ $i -lt 200 ] && [ "$(up)" -lt 2 ]; do
	sleep 0.05; i=$((i + 1))
done

# victims RESULT_PREFIX: both victim zones for $dur s; one row per zone
ticks=$(getconf CLK_TCK)
gw_ticks() { awk '{ print $14 + $15 }' "/proc/$gpid/stat"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
victims() {
	g0=$(gw_ticks); t0=$(now_ms)
	$us_run "$bin/gw_load" --chan sim:71:v1 -c "$conc" -d "$dur" -w 1 --verify --tag 1 \
		--tool t2.test_structured_output >"$work/v1.out" 2>&1 &
	a=$!
	$us_run "$bin/gw_load" --chan sim:72:v2 -c "$conc" -d "$dur" -w 1 --verify --tag 2 \
		--tool t2.test_structured_output >"$work/v2.out" 2>&1 &
	b=$!
	wait $a || true
	wait $b || true
	g1=$(gw_ticks); t1=$(now_ms)
	echo "$(((g1 - g0) * 100000 / ticks / (t1 - t0 + 1))) $(cut -d' ' -f1 /proc/loadavg)" >>"$work/$1.gw"
	for z in v1 v2; do
		echo "$(field p50_us <"$work/$z.out") $(field p99_us <"$work/$z.out")" \
			"$(field requests <"$work/$z.out") $(field errors <"$work/$z.out")" >>"$work/$1.rows"
	done
}

# flood TOOL PHASE: the flooder calls TOOL while the victims run
flood() {
	if [ "$mode" = cap ]; then
		zone_run fl "$2"
		f=$zpid
	else
		$fl_run "$bin/gw_load" --chan sim:73:fl -c "$fsess" -d $((dur + 2)) -w 0 \
			--flood --tool "$1" >"$work/fl.log" 2>&1 &
		f=$!
	fi
	sleep 0.5
	victims "$2"
	wait $f || true
	echo "$(field rps <"$work/fl.log" | cut -d. -f1) $(field errors <"$work/fl.log")" >>"$work/$2.flood"
}

# burn: the flooder's two zones only burn their CPU (never call gatewayd)
# while the victims run: what the flooder's CPU alone costs the others
burn() {
	if [ "$mode" = cap ]; then
		zone_run fl burn
		f=$zpid
		zone_run fb burn
		f="$f $zpid"
	else
		$fl_run timeout $((dur + 2)) sh -c 'while :; do :; done' & f=$!
		$fl_run timeout $((dur + 2)) sh -c 'while :; do :; done' & f="$f $!"
	fi
	sleep 0.5
	victims burn
	for p in $f; do wait "$p" || true; done
}

for ph in idle denied allowed burn; do : >"$work/$ph.rows"; : >"$work/$ph.gw"; done
: >"$work/denied.flood"; : >"$work/allowed.flood"
r=0
while [ $r -lt "$rounds" ]; do
	victims idle
	flood t2.test_simple_text denied
	flood t1.test_simple_text allowed
	burn
	r=$((r + 1))
done
kill -0 "$gpid" 2>/dev/null || { echo "fair.sh: gatewayd died" >&2; tail "$work/gw.log" >&2; exit 1; }

p99_idle=$(awk '{ print $2 }' "$work/idle.rows" | median)
# round PHASE: the phase's p99 in each round (the mean of its two zones)
round() { awk 'NR % 2 == 1 { a = $2 } NR % 2 == 0 { print (a + $2) / 2 }' "$work/$1.rows"; }
round idle >"$work/idle.round"
echo "| phase | victims' p50 us | victims' p99 us | victim calls | victim errors | flood answers/s | gatewayd CPU % | p99 ratio | p99 ratio per round |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for ph in idle denied allowed burn; do
	p50=$(awk '{ print $1 }' "$work/$ph.rows" | median)
	p99=$(awk '{ print $2 }' "$work/$ph.rows" | median)
	req=$(awk '{ s += $3 } END { print s + 0 }' "$work/$ph.rows")
	err=$(awk '{ s += $4 } END { print s + 0 }' "$work/$ph.rows")
	fr=-
	[ -s "$work/$ph.flood" ] && fr=$(awk '{ print $1 }' "$work/$ph.flood" | median)
	gcpu=$(awk '{ print $1 }' "$work/$ph.gw" | median)
	ratio=$(awk -v a="$p99" -v b="$p99_idle" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
	# the same against the unloaded phase of the same round (load from
	# elsewhere moves both alike), median over the rounds
	rr=$(round "$ph" | paste - "$work/idle.round" |
		awk '$2 > 0 { printf "%.2f\n", $1 / $2 }' | median)
	echo "| $ph | $p50 | $p99 | $req | $err | $fr | $gcpu | $ratio | $rr |"
done
echo
place=$mode
[ "$mode" = cap ] && place="cap (fl and t1 each in a cgroup with cpu $fcpu)"
[ -n "${FLOOD_RATE:-}" ] && place="$place; the flooder's rule: rate=$FLOOD_RATE/s"
echo "victims: 2 zones x $conc sessions; flooder: $fsess sessions; placement: $place;" \
	"$rounds rounds of ${dur} s; medians over rounds and zones"
echo "machine: $(nproc) CPUs, 1-minute load average during the phases" \
	"$(awk '{ print $2 }' "$work"/*.gw | sort -n | sed -n '1p;$p' | paste -sd- -)" \
	"(this benchmark's own processes count ~4-5), now $(cut -d' ' -f1-3 /proc/loadavg)"
