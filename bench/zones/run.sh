#!/bin/sh
# bench/zones/run.sh: the cost of a sandboxed zone against a plain one
# ("sandbox": false), side by side in one run on this machine. Each round
# starts the same zone both ways, interleaved, with `zonectl run` running
# `mcpd --stdio`, and measures (zone_start):
#   start-up: from starting zonectl until mcpd's answer to `initialize`
#             comes out of the zone (cgroup, bubblewrap, helper included)
#   idle memory: after IDLE_MS, the RSS of every process in the zone's
#             cgroup (bubblewrap's own processes included) and the memory
#             cgroup's usage (page cache and tmpfs included)
# Medians over ROUNDS, and the ratios sandboxed / plain.
# Start-up until the gateway has the catalogue, and calls through the
# gateway, are bench/zones/system.sh's (a whole system under zonectl up).
# usage: bench/zones/run.sh [BUILD_DIR]   (as root)
# env:   ROUNDS=20  IDLE_MS=500
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
rounds=${ROUNDS:-20}
idle=${IDLE_MS:-500}
[ "$(id -u)" = 0 ] || { echo "run.sh: needs root (zones get their own uid)" >&2; exit 2; }
for f in zonectl zonegate-zone-init mcpd; do
	[ -x "$build/bin/$f" ] || { echo "run.sh: missing $build/bin/$f" >&2; exit 2; }
done
start=$(find "$build" -name zone_start -type f -perm -u+x | head -1)
[ -n "$start" ] || { echo "run.sh: zone_start not built" >&2; exit 2; }
# Under /var/tmp: bubblewrap runs as the zone's uid, which must reach the
# helper and the bound mcpd (docs/zones.md).
work=$(mktemp -d /var/tmp/zg-zonebench.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
mkdir "$work/bin" "$work/policy.d"
cp "$build/bin/zonegate-zone-init" "$build/bin/mcpd" "$work/bin/"
chmod 755 "$work/bin" "$work/bin/"*
export ZONEGATE_ZONE_INIT=$work/bin/zonegate-zone-init
export ZONEGATE_SIM_DIR=$work/sim
for mode in true false; do
	cat >"$work/$mode.json" <<JSON
{"zones": {"bench": {"domid": 47, "role": "tool", "chan": "sim:47:bench",
  "run": {"command": ["$work/bin/mcpd", "--stdio"],
          "env": {"ASAN_OPTIONS": "detect_leaks=0"},
          "sandbox": $mode}}},
 "policy": "policy.d"}
JSON
done
: >"$work/true.txt"
: >"$work/false.txt"
i=0
while [ "$i" -lt "$rounds" ]; do
	for mode in true false; do
		"$start" "$build/bin/zonectl" "$work/$mode.json" bench "$idle" >>"$work/$mode.txt"
	done
	i=$((i + 1))
done
# median FILE FIELD
median() {
	awk -v f="$2" '{for (i = 1; i < NF; i++) if ($i == f) print $(i + 1)}' "$1" |
		sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
printf '%-22s %12s %12s %8s\n' "median of $rounds" sandboxed plain ratio
for f in start_us rss_kb cgroup_kb; do
	s=$(median "$work/true.txt" $f)
	p=$(median "$work/false.txt" $f)
	printf '%-22s %12s %12s %8s\n' "$f" "$s" "$p" "$(awk -v s="$s" -v p="$p" 'BEGIN {if (p > 0) printf "%.2fx", s / p; else printf "-"}')"
done
s=$(median "$work/true.txt" start_us)
p=$(median "$work/false.txt" start_us)
echo "start-up added by the sandbox: $(awk -v s="$s" -v p="$p" 'BEGIN {printf "%.1f ms", (s - p) / 1000}') (target < 50 ms)"
