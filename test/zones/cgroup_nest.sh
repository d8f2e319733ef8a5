#!/usr/bin/env bash
# Where zonectl puts a zone's cgroups (docs/zones.md, "Where the cgroups
# go"): below zonectl's own cgroup in each hierarchy, as under a systemd
# unit with Delegate=yes. The test makes a cgroup of its own in every
# hierarchy zonectl uses that is mounted here (v1 memory, pids, cpu and
# the v2 mount), below the test's own cgroup there, runs `zonectl run`
# from inside them (a zone with memory, pids and cpu limits that waits
# on its stdin), and checks that each zone cgroup zonectl made is a child
# of the test's cgroup and none is at a hierarchy's top, then that they
# are gone after the run. A second run from the test's own cgroups checks
# the rule where nothing is delegated (top level where that is "/").
# Seen to fail with the old placement (every zone cgroup at the top).
# Usage: cgroup_nest.sh ZONECTL (as root; 77 = skipped)
set -u
ZONECTL=$1
if [ "$(id -u)" != 0 ]; then echo "SKIP: needs root"; exit 77; fi
if [ ! -x /usr/bin/bwrap ]; then echo "SKIP: bubblewrap missing"; exit 77; fi
CG=/sys/fs/cgroup
S=$(mktemp -d /var/tmp/zcgnest.XXXXXX)
chmod 755 "$S"
mkdir "$S/bin"
cp "$(dirname "$ZONECTL")/zonegate-zone-init" "$S/bin/"
chmod 755 "$S/bin" "$S/bin/zonegate-zone-init"
export ZONEGATE_ZONE_INIT=$S/bin/zonegate-zone-init
export ZONEGATE_SIM_DIR=$S/sim
. "$(dirname "$0")/common.sh"
TESTCG=
ZPID=
cleanup() {
	[ -n "$ZPID" ] && kill -9 "$ZPID" 2>/dev/null
	exec 7>&- 2>/dev/null
	wait 2>/dev/null
	for d in $TESTCG; do
		# the zone cgroups, if a failure left any, then the test's own
		for z in "$d"/zonegate-*; do [ -d "$z" ] && rmdir "$z" 2>/dev/null; done
		for _ in $(seq 50); do rmdir "$d" 2>/dev/null && break; sleep 0.1; done
	done
	rm -rf "$S"
}
trap cleanup EXIT

# own MOUNT: this shell's cgroup directory in that hierarchy ("0::" for
# the v2 mount, the controller's line for a v1 one)
own() {
	local m=$1 p
	if [ "$(stat -fc %T "$m")" = cgroup2fs ]; then
		p=$(awk -F: '$1 == 0 { print $3 }' /proc/self/cgroup)
	else
		p=$(awk -F: -v c="$(basename "$m")" '{ n = split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] == c) print $3 }' /proc/self/cgroup)
	fi
	[ "$p" = / ] && p=
	[ -d "$m$p" ] && echo "$m$p" || echo "$m"
}
HIER=
for m in "$CG/memory" "$CG/pids" "$CG/cpu" "$CG/unified" "$CG"; do
	[ -d "$m" ] || continue
	t=$(stat -fc %T "$m")
	[ "$t" = cgroupfs ] || [ "$t" = cgroup2fs ] || continue
	HIER="$HIER $m"
done
[ -n "$HIER" ] || { echo "SKIP: no cgroup hierarchy mounted"; exit 77; }

cat >"$S/z.json" <<EOF
{"zones": {"nest": {"domid": 44, "role": "tool", "chan": "sim:44:nest",
  "run": {"command": ["/bin/cat"],
          "limits": {"memory": "64m", "pids": 32, "cpu": 0.5}}}},
 "policy": "p.policy"}
EOF
: >"$S/p.policy"

# zone_cgs PID: every zone cgroup of zonectl PID, in any hierarchy
zone_cgs() { find "$CG"/ -maxdepth 6 -type d -name "zonegate-nest-$1-*" 2>/dev/null; }
# run_in DIRS...: zonectl run from inside the cgroups DIRS (none: where
# the test runs); the zone waits on fd 7 (a FIFO) until the test closes it
run_in() {
	rm -f "$S/fifo"
	mkfifo "$S/fifo"
	(
		for d in "$@"; do echo $BASHPID >"$d/cgroup.procs" || exit 9; done
		exec "$ZONECTL" --config "$S/z.json" run nest <"$S/fifo" >"$S/run.out" 2>&1
	) &
	ZPID=$!
	exec 7>"$S/fifo"
	for _ in $(seq 300); do [ -n "$(zone_cgs $ZPID)" ] && grep -q "^  cgroup " "$S/run.out" && break; sleep 0.1; done
}
# end_run: closes the zone's stdin, waits for zonectl
end_run() {
	exec 7>&-
	wait "$ZPID"
	echo "zonectl run exit $?" >>"$S/run.out"
}

# ---- 1. from inside the test's cgroups ----
PARENTS=
for m in $HIER; do
	d=$(own "$m")/zgtest-nest-$$
	mkdir "$d" || { fail "cannot make $d"; continue; }
	TESTCG="$d $TESTCG"
	PARENTS="$PARENTS $d"
done
run_in $PARENTS
made=$(zone_cgs $ZPID)
n=0 bad=
for z in $made; do
	n=$((n + 1))
	ok=0
	for d in $PARENTS; do [ "$(dirname "$z")" = "$d" ] && ok=1; done
	[ $ok = 1 ] || bad="$bad $z"
done
if [ "$n" -ge 1 ] && [ -z "$bad" ]; then
	pass "delegated: all $n zone cgroups below the test's cgroup ($(echo "$made" | sed "s|$CG/||" | tr '\n' ' '))"
else
	fail "delegated: $n zone cgroups, not below the test's:${bad:- none made} ($(cat "$S/run.out"))"
fi
for m in $HIER; do
	ls -d "$m"/zonegate-nest-$ZPID-* >/dev/null 2>&1 && fail "a zone cgroup at the top of $m"
done
grep -q 'memory 67108864, pids 32' "$S/run.out" && grep -q 'cpu 0.50' "$S/run.out" &&
	pass "limits reported" || fail "limits: $(cat "$S/run.out")"
P=$ZPID
end_run
ZPID=
[ -z "$(zone_cgs $P)" ] && pass "delegated: the zone cgroups are gone after the run" ||
	fail "left: $(zone_cgs $P)"
grep -q 'exit 0' "$S/run.out" || fail "run: $(cat "$S/run.out")"

# ---- 2. from where the test runs: below its own cgroup, the top where
# that is "/" (nothing delegated: the behaviour before nesting) ----
run_in
made=$(zone_cgs $ZPID)
n=0 bad=
for z in $made; do
	n=$((n + 1))
	ok=0
	for m in $HIER; do [ "$(dirname "$z")" = "$(own "$m")" ] && ok=1; done
	[ $ok = 1 ] || bad="$bad $z"
done
[ "$n" -ge 1 ] && [ -z "$bad" ] &&
	pass "not delegated: $n zone cgroups below zonectl's own cgroup ($(echo "$made" | sed "s|$CG/||" | tr '\n' ' '))" ||
	fail "not delegated: $n, misplaced:${bad:- none made}"
P=$ZPID
end_run
ZPID=
[ -z "$(zone_cgs $P)" ] && pass "not delegated: gone after the run" || fail "left: $(zone_cgs $P)"

echo "$FAILS failure(s)"
[ "$FAILS" = 0 ]
