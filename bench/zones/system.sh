#!/bin/sh
# bench/zones/system.sh: the cost of sandboxed zones in a whole system,
# side by side in one run. Two systems are brought up with `zonectl up`
# from one config each, identical except that one's tool zone is
# sandboxed and the other's has "sandbox": false: gatewayd, a tool zone
# (mcpd-test --chan, the conformance fixtures), and an agent zone whose
# channel gw_load (bench/gateway) speaks on from the host. Measured,
# the two systems interleaved ROUNDS times (medians):
#   start-up: `zonectl start tools` until the gateway's status shows the
#             zone up, i.e. it has the catalogue (zone_up; the supervisor
#             tells the gateway to connect at once)
#   idle memory: the tool zone's processes' RSS (bubblewrap and the
#             helper included) and its memory cgroup's usage, after IDLE s
#   calls: tools/call of test_simple_text through the gateway, p50/p99
#             latency with 1 session, throughput with 8 sessions
# usage: bench/zones/system.sh [BUILD_DIR]   (as root)
# env:   ROUNDS=5  DURATION=3  WARMUP=1  IDLE=2
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
bin=$build/bin
rounds=${ROUNDS:-5}
dur=${DURATION:-3}
warm=${WARMUP:-1}
idle=${IDLE:-2}
[ "$(id -u)" = 0 ] || { echo "system.sh: needs root (zones get their own uid)" >&2; exit 2; }
for f in zonectl zonegate-zone-init gatewayd mcpd-test gw_load zone_up; do
	[ -x "$bin/$f" ] || { echo "system.sh: missing $bin/$f (build first)" >&2; exit 2; }
done
# Under /var/tmp: bubblewrap runs as the zone's uid, which must reach the
# helper and the bound mcpd-test (docs/zones.md).
work=$(mktemp -d /var/tmp/zg-sysbench.XXXXXX)
chmod 755 "$work"
mkdir "$work/bin"
cp "$bin/zonegate-zone-init" "$bin/mcpd-test" "$work/bin/"
chmod 755 "$work/bin" "$work/bin/"*
export ZONEGATE_ZONE_INIT=$work/bin/zonegate-zone-init
export ZONEGATE_GATEWAYD=$bin/gatewayd
# sb: sandboxed, pl: "sandbox": false; each its own config, state and
# rendezvous directory, domids 7x and 8x.
zc() { # zc MODE ARGS...
	m=$1
	shift
	ZONEGATE_STATE_DIR=$work/$m/state ZONEGATE_SIM_DIR=$work/$m/sim \
		"$bin/zonectl" --config "$work/$m/gw.json" "$@"
}
cleanup() {
	for m in sb pl; do
		[ -f "$work/$m/gw.json" ] && zc $m down >/dev/null 2>&1 || true
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
for m in sb pl; do
	# A plain zone gets only its configured environment (zonectl gives
	# ZONEGATE_SIM_DIR to sandboxed zones alone), so it is configured here.
	case $m in
	sb) d=7 sandbox=true simenv= ;;
	*) d=8 sandbox=false simenv=", \"ZONEGATE_SIM_DIR\": \"$work/$m/sim\"" ;;
	esac
	mkdir "$work/$m"
	cat >"$work/$m/gw.json" <<JSON
{ "zones": {
    "tools": {"domid": ${d}1, "role": "tool", "chan": "sim:${d}1:tools",
      "run": {"command": ["$work/bin/mcpd-test", "--chan", "sim:${d}1:tools",
                          "--fixtures", "conformance"],
              "limits": {"memory": "256m", "pids": 256},
              "env": {"ASAN_OPTIONS": "detect_leaks=0"$simenv},
              "sandbox": $sandbox}},
    "agent": {"domid": ${d}2, "role": "agent", "chan": "sim:${d}2:agent",
      "default_zone": "tools"} },
  "policy": "bench.policy", "audit_log": "audit.log",
  "admin_socket": "gw.sock" }
JSON
	echo 'agent tools.* allow' >"$work/$m/bench.policy"
	zc $m up --detach >"$work/$m/up.txt" 2>&1 || { cat "$work/$m/up.txt" >&2; exit 1; }
done
field() { tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; else print 0 }'; }
tools_pid() {
	zc "$1" ps --json | python3 -c 'import json,sys
print([z for z in json.load(sys.stdin)["zones"] if z["name"] == "tools"][0]["pid"])'
}
tree() { for c in $(pgrep -P "$1"); do echo "$c"; tree "$c"; done; }
# The zone's processes' RSS in kB, and its v1/v2 memory cgroup's usage.
mem() {
	mp=$(tools_pid "$1")
	rss=0
	for q in $mp $(tree "$mp"); do
		kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$q/status" 2>/dev/null || echo 0)
		rss=$((rss + ${kb:-0}))
	done
	cg=$(awk -F: '$2 == "memory" { print $3 }' "/proc/$mp/cgroup")
	u=$(cat "/sys/fs/cgroup/memory$cg/memory.usage_in_bytes" 2>/dev/null ||
		cat "/sys/fs/cgroup/$(awk -F: '$1 == 0 { print $3 }' "/proc/$mp/cgroup")/memory.current" 2>/dev/null || echo 0)
	echo "$rss $((u / 1024))"
}
for m in sb pl; do : >"$work/$m.start"; : >"$work/$m.mem"; : >"$work/$m.c1"; : >"$work/$m.c8"; done
round=0
while [ $round -lt "$rounds" ]; do
	for m in sb pl; do
		case $m in sb) d=7 ;; *) d=8 ;; esac
		zc $m stop tools >/dev/null
		i=0 # until the supervisor has reaped it (else start is a no-op)
		while [ $i -lt 200 ] && [ "$(tools_pid $m)" != 0 ]; do sleep 0.05; i=$((i + 1)); done
		ZONEGATE_STATE_DIR=$work/$m/state ZONEGATE_SIM_DIR=$work/$m/sim \
			"$bin/zone_up" "$bin/zonectl" "$work/$m/gw.json" "$work/$m/gw.sock" tools |
			awk '$1 == "start_us" { print $2 }' >>"$work/$m.start"
		[ "$(tail -1 "$work/$m.start")" ] || { echo "system.sh: no start-up measured" >&2; exit 1; }
		sleep "$idle"
		mem $m >>"$work/$m.mem"
		o=$(ZONEGATE_SIM_DIR=$work/$m/sim "$bin/gw_load" --chan "sim:${d}2:agent" -c 1 -d "$dur" -w "$warm")
		echo "$(echo "$o" | field p50_us) $(echo "$o" | field p99_us) $(echo "$o" | field errors)" >>"$work/$m.c1"
		o=$(ZONEGATE_SIM_DIR=$work/$m/sim "$bin/gw_load" --chan "sim:${d}2:agent" -c 8 -d "$dur" -w "$warm")
		echo "$(echo "$o" | field rps) $(echo "$o" | field errors)" >>"$work/$m.c8"
	done
	round=$((round + 1))
done
col() { awk -v c="$2" '{ print $c }' "$work/$1" | median; }
row() { # row NAME UNIT SB PL
	awk -v n="$1" -v u="$2" -v s="$3" -v p="$4" 'BEGIN {
		printf "| %s | %s %s | %s %s | %+g %s | %s |\n", n, s, u, p, u,
			s - p, u, (p > 0) ? sprintf("%.3f", s / p) : "-" }'
}
echo "| median of $rounds rounds | sandboxed | plain | difference | ratio |"
echo "| --- | ---: | ---: | ---: | ---: |"
row "start-up: zonectl start to catalogue in the gateway" ms \
	"$(awk '{ print $1 / 1000 }' "$work/sb.start" | median)" \
	"$(awk '{ print $1 / 1000 }' "$work/pl.start" | median)"
row "idle memory: RSS of the zone's processes" kB "$(col sb.mem 1)" "$(col pl.mem 1)"
row "idle memory: memory cgroup usage" kB "$(col sb.mem 2)" "$(col pl.mem 2)"
row "tools/call p50, 1 session" us "$(col sb.c1 1)" "$(col pl.c1 1)"
row "tools/call p99, 1 session" us "$(col sb.c1 2)" "$(col pl.c1 2)"
row "tools/call throughput, 8 sessions" "req/s" "$(col sb.c8 1)" "$(col pl.c8 1)"
echo
echo "errors: sandboxed $(awk '{ s += $3 } END { print s + 0 }' "$work/sb.c1") + $(awk '{ s += $2 } END { print s + 0 }' "$work/sb.c8")," \
	"plain $(awk '{ s += $3 } END { print s + 0 }' "$work/pl.c1") + $(awk '{ s += $2 } END { print s + 0 }' "$work/pl.c8")"
echo "per round (sandboxed / plain): start-up ms: $(paste -d/ "$work/sb.start" "$work/pl.start" | awk -F/ '{ printf "%.1f/%.1f ", $1 / 1000, $2 / 1000 }')"
echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
