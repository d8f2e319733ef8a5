#!/usr/bin/env bash
# End-to-end tests of sandboxed sim zones (docs/zones.md): zone_probe runs
# inside a zone through `zonectl run` and tries what a zone must not do;
# each outcome is asserted. Each layer is also run alone (the others
# switched off in the run block's "sandbox" object) and, as the control
# that proves the test can fail, with that layer off too: the same probe
# must then get through. Files in and out, hostile output trees, config
# errors and a sandbox that cannot be applied are covered too.
# Usage: zones.sh ZONECTL ZONE_PROBE   (as root; exit 77 = skipped)
set -u
ZONECTL=$1
PROBE=$2
if [ "$(id -u)" != 0 ]; then echo "SKIP: needs root"; exit 77; fi
if [ ! -x /usr/bin/bwrap ]; then echo "SKIP: bubblewrap missing"; exit 77; fi

# The scratch directory is under /var/tmp, wherever the checkout is:
# every zone gets a fresh /tmp (which would hide a scratch directory there
# even in the runs that expose the host's root), and bubblewrap runs as the
# zone's uid, which must be able to reach what is bound into the zone (a
# checkout under a 0700 directory such as /root is not). For the same
# reason the helper runs from a copy in the scratch directory.
S=$(mktemp -d /var/tmp/zones.XXXXXX)
chmod 755 "$S"
mkdir "$S/bin"
cp "$(dirname "$ZONECTL")/zonegate-zone-init" "$S/bin/"
chmod 755 "$S/bin" "$S/bin/zonegate-zone-init"
export ZONEGATE_ZONE_INIT=$S/bin/zonegate-zone-init
LPID=
SPID=
APID=
cleanup() {
	[ -n "$LPID" ] && kill "$LPID" 2>/dev/null
	[ -n "$SPID" ] && kill "$SPID" 2>/dev/null
	[ -n "$APID" ] && kill "$APID" 2>/dev/null
	rm -rf "$S"
}
trap cleanup EXIT
export ZONEGATE_SIM_DIR=$S/sim
mkdir -p "$S/policy.d" "$S/sim/42"
# Readable by every uid, so only the sandbox's layers can keep it away.
echo "host secret" >"$S/secret"
chmod 644 "$S/secret"
echo "zone 42's file" >"$S/sim/42/planted"
chmod 755 "$S/sim" "$S/sim/42"
chmod 644 "$S/sim/42/planted"
echo "question" >"$S/q.txt"

# A host TCP listener (counts what it accepts) and a host process.
"$PROBE" serve "$S/port" "$S/accepted" &
LPID=$!
sleep 1000 &
SPID=$!
ABS=zonegate-test-$$
"$PROBE" serveabs "$ABS" "$S/accepted-abs" &
APID=$!
for _ in $(seq 100); do [ -s "$S/port" ] && break; sleep 0.1; done
PORT=$(cat "$S/port")
for _ in $(seq 100); do ss -xl | grep -q "@$ABS" && break; sleep 0.1; done
: >"$S/accepted"

. "$(dirname "$0")/common.sh"

# conf NAME SANDBOX LIMITS EXTRA_FILES ARGS... : writes $S/NAME.json with
# zone "probe" (domid 41) running zone_probe ARGS (copied to /tmp, the
# one writable place also when the host root is shown read-only; files.out
# is /out, or $OUTZ for such zones).
conf() {
	local name=$1 sandbox=$2 limits=$3 files=$4
	shift 4
	local cmd='"/tmp/zone_probe"' a
	for a in "$@"; do cmd="$cmd, \"$a\""; done
	cat >"$S/$name.json" <<EOF
{
  "zones": {
    "probe": {"domid": 41, "role": "agent", "chan": "sim:41:probe",
      "run": {"command": [$cmd],
              "files": {"in": {"/tmp/zone_probe": "$PROBE"$files},
                        "out": {"zone": "${OUTZ:-/out}", "host": "$S/results-$name",
                                "max_bytes": ${MAXB:-1048576}}},
              "limits": {$limits},
              "sandbox": $sandbox}}
  },
  "policy": "policy.d"
}
EOF
}

# run NAME: zonectl run, stdout to $S/NAME.out, stderr to $S/NAME.err.
# The zonectl pids go to $S/pids (their cgroups are named after them).
run() {
	"$ZONECTL" --config "$S/$1.json" run probe >"$S/$1.out" 2>"$S/$1.err" &
	echo $! >>"$S/pids"
	wait $!
	echo $? >"$S/$1.rc"
}


ALL='"memory": "256m", "pids": 64'

# 1. The whole sandbox: every attempt fails.
conf full true "$ALL" "" read "$S/secret" read "$S/sim/42/planted" \
	list "$S/sim" hostpid "$SPID" sleep kill "$SPID" connect "$PORT" \
	write /usr/zone-probe-file mount ptrace unshare user unshare uts \
	connectabs "$ABS" keyctl
run full
for c in read hostpid kill connect connectabs write mount ptrace unshare-user unshare-uts keyctl; do
	expect full "$c" blocked
done
[ "$(grep -c '^CHECK read blocked' "$S/full.out")" = 2 ] ||
	fail "full: another zone's file was readable"
if grep -q '^ENTRY 42' "$S/full.out"; then fail "full: rendezvous shows zone 42"; else pass "full: rendezvous shows only its own endpoint"; fi
kill -0 "$SPID" 2>/dev/null && pass "host process survived" || fail "host process was signalled"
[ -s "$S/accepted" ] || [ -s "$S/accepted-abs" ] && fail "host listener accepted a zone connection" || pass "no connection reached the host"
[ -e /usr/zone-probe-file ] && fail "zone wrote under /usr" || pass "nothing written under /usr"
grep -q 'seccomp        yes' "$S/full.out" && grep -q 'landlock       yes' "$S/full.out" &&
	grep -q 'caps dropped   yes' "$S/full.out" && grep -q 'host uid       100041' "$S/full.out" &&
	pass "report shows every layer" || fail "report: $(head -12 "$S/full.out")"

# 2. Seccomp alone (namespaces present, capabilities kept, no Landlock):
#    mount, ptrace and namespace creation refused by the filter; with the
#    filter off too, the same calls succeed (the control).
conf sc '{"landlock": false, "drop_caps": false}' "$ALL" "" mount ptrace unshare uts keyctl
run sc
for c in mount ptrace unshare-uts keyctl; do expect sc "$c" blocked; done
conf sc0 '{"landlock": false, "drop_caps": false, "seccomp": false}' "$ALL" "" mount ptrace unshare uts keyctl
run sc0
for c in mount ptrace unshare-uts keyctl; do expect sc0 "$c" ALLOWED; done

# 3. No capabilities alone (no seccomp, no Landlock): mount and a new
#    namespace fail for want of CAP_SYS_ADMIN (control: sc0 above).
conf caps '{"landlock": false, "seccomp": false}' "$ALL" "" mount unshare uts
run caps
for c in mount unshare-uts; do expect caps "$c" blocked; done

# 4. Landlock alone, files: the host's root is visible (no fresh root),
#    no seccomp; Landlock refuses the secret the mount namespace exposes.
OUTZ=/tmp/out conf ll '{"mount": false, "seccomp": false}' "$ALL" "" read "$S/secret"
run ll
expect ll read blocked
OUTZ=/tmp/out conf ll0 '{"mount": false, "seccomp": false, "landlock": false}' "$ALL" "" read "$S/secret"
run ll0
expect ll0 read ALLOWED

# 5. The fresh root alone (no seccomp, no Landlock): the secret is not
#    in the zone's file system at all (control: ll0).
conf mnt '{"seccomp": false, "landlock": false}' "$ALL" "" read "$S/secret"
run mnt
expect mnt read blocked

# 5b. Its own host uid alone (host root visible, no seccomp, no Landlock):
#     a root-only file (0600) stays unreadable; control: ll0 read the
#     0644 secret through the same layers.
echo "root only" >"$S/rootonly"
chmod 600 "$S/rootonly"
OUTZ=/tmp/out conf uid '{"mount": false, "seccomp": false, "landlock": false}' "$ALL" "" read "$S/rootonly"
run uid
expect uid read blocked

# 6. Landlock alone, TCP: host network namespace, but no TCP connect;
#    control: with Landlock off the host listener is reached.
OUTZ=/tmp/out conf lt '{"netns": false, "mount": false, "seccomp": false}' "$ALL" "" connect "$PORT"
run lt
expect lt connect blocked
OUTZ=/tmp/out conf lt0 '{"netns": false, "mount": false, "seccomp": false, "landlock": false}' "$ALL" "" connect "$PORT"
run lt0
expect lt0 connect ALLOWED
[ -s "$S/accepted" ] && pass "control reached the listener" || fail "control did not reach the listener"

# 6b. Landlock's signal scope alone (ABI 6): no signal to a process of
#     the same uid outside the zone command's domain (the zone's init);
#     control: with Landlock off the signal is delivered.
conf lsig '{"seccomp": false}' "$ALL" "" killinit
run lsig
expect lsig killinit blocked
conf lsig0 '{"seccomp": false, "landlock": false}' "$ALL" "" killinit
run lsig0
expect lsig0 killinit ALLOWED

# 6c. Landlock's abstract unix socket scope alone (ABI 6): the host's
#     network namespace (where the host's abstract socket lives), no
#     seccomp; control: with Landlock off the host socket is reached.
conf labs '{"netns": false, "seccomp": false}' "$ALL" "" connectabs "$ABS"
run labs
expect labs connectabs blocked
conf labs0 '{"netns": false, "seccomp": false, "landlock": false}' "$ALL" "" connectabs "$ABS"
run labs0
expect labs0 connectabs ALLOWED

# 7. The network namespace alone (no Landlock, no seccomp): the host's
#    loopback is not the zone's (control: lt0).
conf net '{"landlock": false, "seccomp": false}' "$ALL" "" connect "$PORT"
run net
expect net connect blocked

# 8. Memory limit: 512 MiB touched under a 64 MiB limit; the zone gets
#    ENOMEM or is killed, and the host goes on.
conf mem true '"memory": "64m", "pids": 64' "" memory 512
run mem
if grep -q '^CHECK memory ALLOWED' "$S/mem.out"; then
	fail "mem: 512 MiB allocated under a 64 MiB limit"
elif grep -q '^CHECK memory blocked' "$S/mem.out" || grep -q 'killed by its memory limit' "$S/mem.out"; then
	pass "mem: limit held (rc $(cat "$S/mem.rc"))"
else
	fail "mem: no outcome: $(cat "$S/mem.out" "$S/mem.err")"
fi
kill -0 "$SPID" 2>/dev/null && pass "host alive after the OOM" || fail "host process gone"
# control: the same allocation under a limit above it succeeds
conf mem0 true '"memory": "1g", "pids": 64' "" memory 512
run mem0
expect mem0 memory ALLOWED

# 9. pids limit: 64 forks under a limit of 16 fail with EAGAIN; control 128.
conf pids true '"memory": "256m", "pids": 16' "" pids 64
run pids
expect pids pids blocked
conf pids0 true '"memory": "256m", "pids": 128' "" pids 64
run pids0
expect pids0 pids ALLOWED

# 10. Files in: the zone sees the copy; its writes do not reach the host.
conf fin true "$ALL" ", \"/data/q.txt\": \"$S/q.txt\"" cat /data/q.txt write /data/q.txt
run fin
grep -q '^question' "$S/fin.out" && pass "fin: file passed in" || fail "fin: $(cat "$S/fin.out")"
[ "$(cat "$S/q.txt")" = question ] && pass "fin: host file unchanged" || fail "fin: host file changed"

# 10b. files.ro: a host directory bound read-only (readable, not writable).
mkdir -p "$S/model"
echo weights >"$S/model/w.bin"
chmod -R a+rX "$S/model"
cat >"$S/fro.json" <<EOF
{"zones": {"probe": {"domid": 41, "role": "agent", "chan": "sim:41:probe",
  "run": {"command": ["/tmp/zone_probe", "cat", "/model/w.bin", "write", "/model/new"],
          "files": {"in": {"/tmp/zone_probe": "$PROBE"}, "ro": {"/model": "$S/model"}}}}},
 "policy": "policy.d"}
EOF
run fro
grep -q '^weights' "$S/fro.out" && pass "fro: read-only directory readable" || fail "fro: $(cat "$S/fro.out" "$S/fro.err")"
expect fro write blocked
[ ! -e "$S/model/new" ] && pass "fro: nothing written to the host directory" || fail "fro: host directory written"
# The command itself in a files.ro tree: run from there (it was bound
# from the host at the same path before, which does not exist there).
cp "$PROBE" "$S/model/zone_probe"
chmod a+rx "$S/model/zone_probe"
cat >"$S/frocmd.json" <<EOF
{"zones": {"probe": {"domid": 41, "role": "agent", "chan": "sim:41:probe",
  "run": {"command": ["/model/zone_probe", "cat", "/model/w.bin"],
          "files": {"ro": {"/model": "$S/model"}}}}},
 "policy": "policy.d"}
EOF
run frocmd
grep -q '^weights' "$S/frocmd.out" && pass "frocmd: a command from a files.ro tree runs" ||
	fail "frocmd: $(cat "$S/frocmd.out" "$S/frocmd.err")"

# 10c. A FIFO named as files.in is refused, without hanging.
mkfifo "$S/fifo-in"
conf finf true "$ALL" ", \"/data/f\": \"$S/fifo-in\"" cat /data/f
run finf
grep -q 'must be a readable regular' "$S/finf.err" && [ "$(cat "$S/finf.rc")" = 125 ] &&
	pass "finf: FIFO refused" || fail "finf: $(cat "$S/finf.err")"

# 10d. The environment is the configured one: nothing of the host's.
conf envz true "$ALL" "" env
sed -i 's/"sandbox": true/"sandbox": true, "env": {"LANG": "C.UTF-8"}/' "$S/envz.json"
ZG_HOST_LEAK=1 run envz
grep -q '^ENV LANG=C.UTF-8$' "$S/envz.out" && grep -q '^ENV ZONEGATE_CHAN=sim:41:probe$' "$S/envz.out" &&
	! grep -q 'ZG_HOST_LEAK\|^ENV HOME=' "$S/envz.out" &&
	pass "envz: only the configured environment ($(grep -c '^ENV' "$S/envz.out") variables)" ||
	fail "envz: $(grep '^ENV' "$S/envz.out")"

# 11. Files out: replaced whole when the run ends.
mkdir -p "$S/results-fout"
echo old >"$S/results-fout/old"
conf fout true "$ALL" "" mkfile /out/a 3 many /out/sub 5
run fout
[ -f "$S/results-fout/a" ] && [ -f "$S/results-fout/sub/f4" ] && [ ! -e "$S/results-fout/old" ] &&
	pass "fout: output copied, old contents replaced" || fail "fout: $(ls -R "$S/results-fout")"

# 11b. Output reaches the host only when the run ends: while the zone
#      waits (its file already in the staging directory), the host
#      directory is untouched; after zonectl passes SIGTERM on, it lands.
mkdir -p "$S/state"
chmod 755 "$S/state"
conf late true "$ALL" "" mkfile /out/late 1 pause
TMPDIR=$S/state "$ZONECTL" --config "$S/late.json" run probe >"$S/late.out" 2>"$S/late.err" &
ZPID=$!
echo $ZPID >>"$S/pids"
for _ in $(seq 200); do ls "$S"/state/zonegate-probe-*/out/late >/dev/null 2>&1 && break; sleep 0.05; done
if ls "$S"/state/zonegate-probe-*/out/late >/dev/null 2>&1 && [ ! -e "$S/results-late" ]; then
	pass "late: written in the zone, nothing on the host yet"
else
	fail "late: staging $(ls -R "$S/state" | head -5); host $(ls "$S/results-late" 2>&1)"
fi
kill -TERM $ZPID
wait $ZPID
[ -f "$S/results-late/late" ] && [ -z "$(ls "$S/state")" ] &&
	pass "late: copied when the run ended, staging removed" || fail "late: $(cat "$S/late.err")"

# 12. Hostile output trees: refused, the host directory left as it was,
#     no temporary left beside it.
hostile() {
	local name=$1
	shift
	mkdir -p "$S/results-$name"
	echo keep >"$S/results-$name/keep"
	conf "$name" true "$ALL" "" "$@"
	run "$name"
	if grep -q "refused\|over the cap\|more than" "$S/$name.err" && [ -f "$S/results-$name/keep" ] &&
		[ "$(ls "$S/results-$name")" = keep ] && ! ls -d "$S/results-$name".zonegate-tmp-* >/dev/null 2>&1 &&
		[ "$(cat "$S/$name.rc")" != 0 ]; then
		pass "$name: refused ($(grep -o 'files.out.*' "$S/$name.err" | head -1))"
	else
		fail "$name: rc $(cat "$S/$name.rc"): $(cat "$S/$name.err"); $(ls -la "$S/results-$name")"
	fi
}
hostile hetc symlink /etc /out/etc
hostile hdotdot symlink ../../../.. /out/up
hostile hlink mkfile /out/a 1 hardlink /out/a /out/b
hostile hfifo mkfifo /out/fifo
hostile hsock mksock /out/sock
hostile hbig mkfile /out/big 2048
hostile hmany many /out/m 10001
# the default byte cap (64 MiB): a 65 MiB file
MAXB=67108864 hostile hhuge mkfile /out/huge 66560

# 13. Config: unknown keys refused with file:line.
conf bad true "$ALL" ""
sed -i 's/"sandbox": true/"sandbox": true, "colour": "red"/' "$S/bad.json"
run bad
line=$(grep -n colour "$S/bad.json" | cut -d: -f1)
grep -q "bad.json:$line: .*unknown key 'colour'" "$S/bad.err" && [ "$(cat "$S/bad.rc")" = 2 ] &&
	pass "bad: unknown key refused at line $line" || fail "bad: $(cat "$S/bad.err")"

# 14. A sandbox that cannot be applied does not start the command; with
#     "sandbox": false the command runs as a plain process, said so.
conf nobw true "$ALL" "" write "$S/ran-nobw"
ZONEGATE_BWRAP=/nonexistent/bwrap run nobw
[ ! -e "$S/ran-nobw" ] && [ "$(cat "$S/nobw.rc")" = 125 ] && grep -q 'sandbox unavailable' "$S/nobw.err" &&
	pass "nobw: refused to start" || fail "nobw: $(cat "$S/nobw.err")"
conf noinit true "$ALL" "" write /tmp/x
ZONEGATE_ZONE_INIT=/bin/false run noinit
grep -q 'could not be applied' "$S/noinit.err" && [ "$(cat "$S/noinit.rc")" != 0 ] &&
	pass "noinit: no sandbox, no command" || fail "noinit: $(cat "$S/noinit.err")"
cat >"$S/plain.json" <<EOF
{"zones": {"probe": {"domid": 41, "role": "agent", "chan": "sim:41:probe",
  "run": {"command": ["$PROBE", "write", "$S/ran-plain"], "sandbox": false}}},
 "policy": "policy.d"}
EOF
run plain
[ -e "$S/ran-plain" ] && grep -q 'NOT SANDBOXED' "$S/plain.out" &&
	pass "plain: ran, reported as not sandboxed" || fail "plain: $(cat "$S/plain.out" "$S/plain.err")"
# A plain zone is told its channel as a sandboxed one is (the same
# command works either way; without it, a plain mcpd listened under the
# default rendezvous directory), and still gets nothing of the host's.
cat >"$S/plainenv.json" <<EOF
{"zones": {"probe": {"domid": 41, "role": "agent", "chan": "sim:41:probe",
  "run": {"command": ["$PROBE", "env"], "sandbox": false,
          "env": {"LANG": "C.UTF-8"}}}},
 "policy": "policy.d"}
EOF
ZG_HOST_LEAK=1 run plainenv
grep -q '^ENV LANG=C.UTF-8$' "$S/plainenv.out" &&
	grep -q '^ENV ZONEGATE_CHAN=sim:41:probe$' "$S/plainenv.out" &&
	grep -q "^ENV ZONEGATE_SIM_DIR=$ZONEGATE_SIM_DIR\$" "$S/plainenv.out" &&
	grep -q '^ENV ZONEGATE_ZONE=probe$' "$S/plainenv.out" &&
	! grep -q 'ZG_HOST_LEAK\|^ENV HOME=' "$S/plainenv.out" &&
	pass "plainenv: the configured environment and the zone's channel" ||
	fail "plainenv: $(grep '^ENV' "$S/plainenv.out")"

# 15. --json report.
"$ZONECTL" --config "$S/full.json" --json run probe >"$S/json.out" 2>/dev/null
grep -q '"seccomp":true' "$S/json.out" && grep -q '"shared_kernel":true' "$S/json.out" &&
	pass "json report" || fail "json: $(tail -1 "$S/json.out")"

# 15b. No cgroup of any run above is left behind.
left=0
for p in $(cat "$S/pids"); do
	# below zonectl's own cgroup in each hierarchy (docs/zones.md)
	left=$((left + $(find /sys/fs/cgroup/ -maxdepth 6 -type d -name "zonegate-probe-$p-*" 2>/dev/null | wc -l)))
done
[ "$left" = 0 ] && pass "no cgroup left behind ($(wc -l <"$S/pids") runs)" || fail "$left cgroups left behind"

# 16. --version (NAME VERSION, as every binary) and --help.
"$ZONECTL" --version | grep -Eq '^zonectl [0-9a-z.+-]+$' && pass "--version" || fail "--version: $("$ZONECTL" --version)"
"$ZONECTL" --help | grep -q 'run ZONE' && pass "--help" || fail "--help"

echo "$FAILS failure(s)"
[ "$FAILS" = 0 ]
