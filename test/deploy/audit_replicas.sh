#!/bin/bash
# The audit chains of several gatewayd replicas, verified and read
# together (docs/deploy.md, "The scale-out plan"). Two real gatewayds
# (replica gw-a named in the config, gw-b by --replica) each serve calls
# and rotate their log three times, in turns, so that their records
# interleave in time. Then:
#  - audit verify with all eight files in a shuffled order sorts them into
#    two chains, one per replica, each from its start, and finds both
#    intact; a gatewayd restarted with another --replica keeps its chain's
#    name (the rotation record after the restart says gw-a);
#  - audit logs --json over the files is one time-ordered view of both
#    chains; logs ZONE and audit show find a replica's records in it;
#  - one record of gw-a altered and a middle file of gw-b left out: both
#    problems are reported, each under its own chain, and nothing else
#    (gw-a's other files and all of gw-b's remaining records still verify:
#    with the grouping by replica off, gw-b's chain start is reported as a
#    second chain inside gw-a's and the shuffled intact set fails);
#  - two files continuing the same record are reported as a fork;
#  - a log written before replicas were named (no "replica" field), given
#    newest file first, still verifies as one chain;
#  - a line longer than any record (over 1 MiB) is reported as such
#    without being read whole.
# Env: GATEWAYD, GATEWAYCTL, MCPD_TEST, RELAY (binaries).
set -u
. "$(dirname "$0")/../common/daemons.sh"
zg_need GATEWAYD GATEWAYCTL MCPD_TEST RELAY
zg_workdir auditrep
fail=0

# gw NAME DOMID: config and policy of replica NAME in $work/NAME (agent
# zone ag-NAME on sim:DOMID, tool zone t-NAME on sim:DOMID+1)
gw_config() {
	local d=$work/$1 t=$(($2 + 1)) rep=
	mkdir -p "$d"
	[ "$1" = a ] && rep='"replica": "gw-a",'
	cat >"$d/gw.json" <<JSON
{ "zones": {
    "ag-$1": { "domid": $2, "role": "agent", "chan": "sim:$2:ag-$1" },
    "t-$1":  { "domid": $t, "role": "tool",  "chan": "sim:$t:t-$1" } },
  $rep "policy": "r.policy", "audit_log": "audit.log",
  "admin_socket": "gw.sock" }
JSON
	echo "ag-$1  t-$1.test_simple_text  allow" >"$d/r.policy"
	"$MCPD_TEST" --chan "sim:$t:t-$1" --fixtures conformance \
		2>"$d/tool.log" &
	pids="$pids $!"
}

# start NAME [ARG...]: gatewayd of replica NAME, waits until it serves
start() {
	local d=$work/$1
	shift
	rm -f "$d/ready"
	"$GATEWAYD" --config "$d/gw.json" --ready-file "$d/ready" "$@" \
		2>>"$d/gw.log" &
	eval "gp_${d##*/}=$!"
	pids="$pids $!"
	zg_wait_log "$d/ready" ready
	zg_wait_log "$d/gw.log" " up: "
}

ctl() { "$GATEWAYCTL" --config "$work/$1/gw.json" "${@:2}"; }
# has PATTERN...: every pattern matches a line of $out
has() {
	local p
	for p in "$@"; do
		echo "$out" | grep -q -- "$p" || return 1
	done
}

# calls NAME FD FROM TO: calls with ids FROM..TO on replica NAME's
# session (FD), each answered before the next
calls() {
	for i in $(seq "$3" "$4"); do
		echo "{\"jsonrpc\":\"2.0\",\"id\":$i,\"method\":\"tools/call\",\"params\":{\"name\":\"t-$1.test_simple_text\",\"arguments\":{}}}" >&"$2"
		zg_reply "s$1" "$i" >/dev/null
	done
}

gw_config a 91
gw_config b 93
start a
start b --replica gw-b
zg_session sa sim:91:ag-a 5
zg_session sb sim:93:ag-b 6
id=10
for round in 1 2 3; do
	calls a 5 $id $((id + 4))
	calls b 6 $((id + 5)) $((id + 9))
	if [ $round = 2 ]; then
		# a restart under another name continues gw-a's chain
		exec 5>&-
		kill "$gp_a"
		wait "$gp_a" 2>/dev/null
		start a --replica renamed
		zg_session sa sim:91:ag-a 5
	fi
	calls a 5 $((id + 10)) $((id + 12))
	ctl a audit rotate >/dev/null || bad "gw-a: audit rotate (round $round)"
	ctl b audit rotate >/dev/null || bad "gw-b: audit rotate (round $round)"
	id=$((id + 20))
done
calls a 5 $id $((id + 2))
calls b 6 $((id + 3)) $((id + 5))
exec 5>&- 6>&-
# stop both so every record is on disk
kill "$gp_a" "$gp_b"
wait "$gp_a" "$gp_b" 2>/dev/null

# oldest first: the rotated files (their names sort by age), the log
fa=$(ls "$work"/a/audit.log.*Z; echo "$work/a/audit.log")
fb=$(ls "$work"/b/audit.log.*Z; echo "$work/b/audit.log")
[ "$(echo "$fa" | wc -l)" -eq 4 ] && [ "$(echo "$fb" | wc -l)" -eq 4 ] &&
	ok "each replica wrote 4 files" || bad "files: $fa $fb"
head -n 1 "$(echo "$fa" | head -n 1)" | grep -q '"replica":"gw-a"' &&
	head -n 1 "$(echo "$fb" | head -n 1)" | grep -q '"replica":"gw-b"' &&
	ok "each chain's first record names its replica" ||
	bad "first records: $(head -qn 1 "$(echo "$fa" | head -n 1)" "$(echo "$fb" | head -n 1)" | cut -c1-200)"
head -n 1 "$work/a/audit.log" | grep -q '"method":"audit/rotate".*"replica":"gw-a"' &&
	! grep -q renamed "$work"/a/audit.log* &&
	ok "after a restart as 'renamed' the chain is still gw-a's" ||
	bad "after the restart: $(head -n 1 "$work/a/audit.log" | cut -c1-300)"
na=$(cat $fa | wc -l)
nb=$(cat $fb | wc -l)

# 1. every file, shuffled: two chains, both intact
mapfile -t shuffled < <(printf '%s\n' $fa $fb | shuf)
out=$(ctl a audit verify "${shuffled[@]}")
rc=$?
if [ $rc -eq 0 ] &&
   has "^chain gw-a: $na records in 4 files, from its start: ok" \
	"^chain gw-b: $nb records in 4 files, from its start: ok" \
	"audit chains ok: 2 chains, $((na + nb)) records (8 files)"; then
	ok "8 files in a shuffled order: 2 chains ok ($na + $nb records)"
else
	bad "verify shuffled: rc=$rc $out"
fi
js=$(ctl a audit verify --json "${shuffled[@]}")
node=$(dirname "$0")/../node/node_modules/.bin/node
"$node" -e '
	const v = JSON.parse(process.argv[1]);
	const fa = process.argv[2].split("\n"), fb = process.argv[3].split("\n");
	const same = (x, y) => JSON.stringify(x) === JSON.stringify(y);
	if (!v.ok || v.chains.length !== 2 || v.chains[0].replica !== "gw-a" ||
	    !same(v.chains[0].files, fa) || v.chains[1].replica !== "gw-b" ||
	    !same(v.chains[1].files, fb) || !v.chains.every(c => c.from_start))
		{ console.log(JSON.stringify(v)); process.exit(1); }
' "$js" "$fa" "$fb" && ok "--json: each chain's files in their order, oldest first" ||
	bad "--json: $js"

# 2. the merged view: every record once, by time, both replicas interleaved
ctl a audit logs --json "${shuffled[@]}" >"$work/merged.json" 2>"$work/merged.err"
"$node" -e '
	const recs = require("fs").readFileSync(process.argv[1], "utf8")
		.trim().split("\n").map(l => JSON.parse(l));
	let switches = 0;
	for (let i = 1; i < recs.length; i++) {
		if (recs[i].record.time < recs[i - 1].record.time) {
			console.log("out of order at", i); process.exit(1);
		}
		if (recs[i].replica !== recs[i - 1].replica) switches++;
	}
	if (recs.length !== +process.argv[2] || switches < 6 ||
	    recs.some(r => !r.file || !(r.line > 0)))
		{ console.log(recs.length, switches); process.exit(1); }
	console.log(`${recs.length} records, ${switches} switches between replicas`);
' "$work/merged.json" $((na + nb)) >"$work/merged.out" &&
	[ ! -s "$work/merged.err" ] &&
	ok "audit logs --json: $(cat "$work/merged.out"), in time order" ||
	bad "audit logs --json: $(cat "$work/merged.out" "$work/merged.err")"
want=$(cat $fb | grep -c '"zone":"ag-b"')
n=$(ctl a logs ag-b "${shuffled[@]}" | grep -c '"zone":"ag-b"')
m=$(ctl a logs ag-b "${shuffled[@]}" | grep -vc '^gw-b {.*"zone":"ag-b"')
[ "$want" -ge 18 ] && [ "$n" -eq "$want" ] && [ "$m" -eq 0 ] &&
	ok "logs ag-b over both replicas: its $n records, each marked gw-b" ||
	bad "logs ag-b: $n records (want $want), $m others"
aid=$(grep -o '"id":"[^"]*","zone":"ag-b"' "$work/b/audit.log" | head -n 1 | cut -d'"' -f4)
ctl a audit show "$aid" --files "${shuffled[@]}" | grep -q "^gw-b .*\"id\":\"$aid\"" &&
	ok "audit show finds gw-b's record $aid among both replicas' files" ||
	bad "audit show $aid"

# 3. tamper one record of gw-a (its second file), leave out gw-b's second
t=$work/t
mkdir -p "$t/a" "$t/b"
cp $fa "$t/a/"
cp $fb "$t/b/"
a2=$(echo "$fa" | sed -n 2p)
b2=$(echo "$fb" | sed -n 2p)
sed -i '3s/"decision":"allow"/"decision":"deny"/' "$t/a/${a2##*/}"
grep -q '"decision":"deny"' "$t/a/${a2##*/}" || bad "the tampering did not apply"
rm "$t/b/${b2##*/}"
b3=$(echo "$fb" | sed -n 3p)
nb2=$(wc -l <"$b2")
out=$(ctl a audit verify $(ls "$t"/a/* "$t"/b/* | shuf))
rc=$?
probs=$(echo "$out" | grep -c '^  /')
if [ $rc -eq 1 ] && [ "$probs" -eq 2 ] &&
   has "^chain gw-a: $na records in 4 files, from its start: BROKEN" \
	"^  $t/a/${a2##*/}:3: hash mismatch" \
	"^chain gw-b: $((nb - nb2)) records in 3 files, from its start: BROKEN" \
	"^  $t/b/${b3##*/}:1: chain broken: a file is missing before this one.*previous_file ${b2##*/}" \
	"audit chains BROKEN: 2 of 2 chains, 2 problems"; then
	ok "an altered record (gw-a) and a missing file (gw-b): each reported in its chain, nothing else"
else
	bad "tampered set: rc=$rc $out"
fi
cp $fa "$t/a/"
out=$(ctl a audit verify $(ls "$t"/a/* "$t"/b/* | shuf))
has "^chain gw-a: $na records in 4 files, from its start: ok" "^chain gw-b: .*BROKEN" &&
	ok "gw-a verifies while gw-b is broken" || bad "gw-a beside a broken gw-b: $out"

# a copy of gw-b's third file beside it: two files continue one record
cp "$b2" "$t/b/"
cp "$b3" "$t/b/fork.log"
out=$(ctl a audit verify $(ls "$t"/a/* "$t"/b/* | shuf))
has "^chain gw-b: .*BROKEN" "^  $t/b/.*:1: fork: continues from the same record" &&
	[ "$(echo "$out" | grep -c '^  /')" -eq 1 ] &&
	ok "a fork in gw-b is reported (and only it)" || bad "fork: $out"

# 4. a log from before replica names: three files, given newest first
L=$work/legacy
mkdir -p "$L"
prev=0000000000000000000000000000000000000000000000000000000000000000
n=0
for f in audit.log.20260101T000000.000000Z audit.log.20260102T000000.000000Z audit.log; do
	for i in 1 2 3; do
		n=$((n + 1))
		if [ $i = 1 ] && [ $n -gt 1 ]; then
			p="{\"time\":\"2026-01-01T00:00:0$n.000000Z\",\"id\":\"old-$n\",\"zone\":\"-\",\"method\":\"audit/rotate\",\"decision\":\"rotated\",\"prev\":\"$prev\""
		else
			p="{\"time\":\"2026-01-01T00:00:0$n.000000Z\",\"id\":\"old-$n\",\"zone\":\"z\",\"method\":\"tools/call\",\"decision\":\"allow\",\"prev\":\"$prev\""
		fi
		prev=$(printf '%s' "$p" | sha256sum | cut -c1-64)
		printf '%s,"hash":"%s"}\n' "$p" "$prev" >>"$L/$f"
	done
done
out=$(ctl a audit verify "$L/audit.log" "$L"/audit.log.2026010[21]*)
[ $? -eq 0 ] && echo "$out" | grep -q "^audit chain ok: 9 records (3 files)" &&
	ok "an unnamed (older) log, newest file first: one chain, ok" ||
	bad "legacy log: $out"
# a line longer than any record (2 MiB) is reported, not read whole
{ head -n 2 "$L/audit.log"; head -c 2097152 /dev/zero | tr '\0' a; echo; } >"$L/long.log"
out=$(ctl a audit verify "$L/long.log")
[ $? -eq 1 ] && has "long.log:3: longer than any record gatewayd writes" &&
	ok "a 2 MiB line: reported as too long" || bad "a 2 MiB line: $out"
[ $fail -eq 0 ] && echo "audit_replicas: ok"
exit $fail
