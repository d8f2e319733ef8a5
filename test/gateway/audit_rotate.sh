#!/bin/sh
# Audit log rotation keeps the hash chain verifiable across files: with
# audit_rotate_mb 1, a few thousand logged calls rotate the log by size;
# SIGUSR1 and `gatewayctl audit rotate` rotate it on demand. Each new file
# starts with an audit/rotate record naming the file before it;
# `gatewayctl audit verify` (the log and its rotated files) and
# `audit verify FILE...` (the sequence, oldest first) find the whole chain
# intact, a rotated file alone verifies as a continuation, and a sequence
# with a file left out is reported broken at the first record after the
# gap. Records are neither lost nor duplicated: every call made has exactly
# one record across the files.
# Env: GATEWAYD, GATEWAYCTL, MCPD_TEST, RELAY (binaries).
set -u
. "$(dirname "$0")/../common/daemons.sh"
zg_need GATEWAYD GATEWAYCTL MCPD_TEST RELAY
zg_workdir gwrot
cat > "$work/gw.json" <<JSON
{ "zones": {
    "ra": { "domid": 76, "role": "agent", "chan": "sim:76:ra" },
    "t1": { "domid": 77, "role": "tool",  "chan": "sim:77:t1" } },
  "policy": "r.policy", "audit_log": "audit.log", "audit_args": true,
  "admin_socket": "gw.sock", "audit_rotate_mb": 1 }
JSON
echo 'ra  t1.test_structured_output  allow' > "$work/r.policy"
"$MCPD_TEST" --chan sim:77:t1 --fixtures conformance 2>"$work/t1.log" & pids="$pids $!"
zg_gatewayd 1
fail=0
ctl() { "$GATEWAYCTL" --config "$work/gw.json" "$@"; }
rotated() { ls "$work"/audit.log.*Z 2>/dev/null | wc -l; }

# 6000 logged calls (about 450 bytes of record each: 2.7 MB), in batches
# of 16, on one session kept open until every answer is in
ncalls=6000
mkfifo "$work/in"
"$RELAY" --chan sim:76:ra <"$work/in" >"$work/out" 2>"$work/relay.log" & rp=$!
exec 3>"$work/in"
{
	echo '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"r","version":"1"}}}'
	echo '{"jsonrpc":"2.0","method":"notifications/initialized"}'
	awk -v n=$ncalls 'BEGIN { for (i = 1; i <= n; i++) {
		printf "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\",\"params\":{\"name\":\"t1.test_structured_output\",\"arguments\":{\"a\":%d,\"b\":1}}}\n", i, i
		if (i % 16 == 0) { fflush(); system("sleep 0.002") } } }'
} >&3
i=0
while [ "$(grep -c '"result"' "$work/out")" -le $ncalls ] && [ $i -lt 1200 ]; do
	sleep 0.05
	i=$((i + 1))
done
exec 3>&-
wait $rp
nsize=$(rotated)
[ "$nsize" -ge 2 ] && ok "$ncalls calls rotated the log $nsize times by size" ||
	bad "$ncalls calls rotated the log $nsize times (want >= 2)"
# on demand: SIGUSR1, then gatewayctl (each: one more file)
kill -USR1 "$gpid"
i=0
while [ "$(rotated)" -le "$nsize" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
[ "$(rotated)" -eq $((nsize + 1)) ] && ok "SIGUSR1 rotated the log" ||
	bad "SIGUSR1: $(rotated) rotated files, want $((nsize + 1))"
out=$(ctl audit rotate) && [ "$(rotated)" -eq $((nsize + 2)) ] &&
	ok "gatewayctl audit rotate: $out" || bad "gatewayctl audit rotate: $out"
head -n 1 "$work/audit.log" | grep -q '"method":"audit/rotate".*"previous_file":"audit.log.2' &&
	ok "the new file starts with a rotation record naming the old one" ||
	bad "first record of the new file: $(head -n 1 "$work/audit.log" | cut -c1-300)"
# the whole chain, across every file
out=$(ctl audit verify) && echo "$out" | grep -q "($((nsize + 3)) files)" &&
	ok "audit verify: $out" || bad "audit verify: $(echo "$out" | head -5)"
set -- $(ls "$work"/audit.log.*Z) "$work/audit.log"
out=$(ctl audit verify "$@") && ok "audit verify FILE...: $out" ||
	bad "audit verify FILE...: $(echo "$out" | head -5)"
out=$(ctl audit verify "$2") && ok "a rotated file alone verifies" ||
	bad "a rotated file alone: $(echo "$out" | head -3)"
# leave the second file out: the third one's first record is flagged
gap=$(basename "$3")
out=$(ctl audit verify "$1" "$3")
rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "$gap:1: chain broken" &&
	ok "a missing file is found ($gap:1)" ||
	bad "a missing file: rc=$rc $(echo "$out" | head -3)"
# every call has exactly one record across the files
cat "$work"/audit.log.*Z "$work/audit.log" | grep -o '"args":{"a":[0-9]*' |
	sort | uniq -c | awk '$1 != 1 { d++ } END { print NR, d + 0 }' > "$work/count"
read nrec dup < "$work/count"
[ "$nrec" -eq $ncalls ] && [ "$dup" -eq 0 ] &&
	ok "$ncalls calls, $nrec records across the files, none twice" ||
	bad "$ncalls calls: $nrec distinct records, $dup duplicated"
zg_all_alive audit_rotate "$work/gw.log" || fail=1
[ $fail -eq 0 ] && echo "audit_rotate: ok" || tail -n 20 "$work/gw.log"
exit $fail
