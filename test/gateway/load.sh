#!/bin/sh
# Load through the gateway, bounded in time: three agent zones, two tool
# zones. agent-c floods t1 with 64 sessions while agent-a (16 sessions on
# t1) and agent-b (16 sessions on t2) run verified calls: every response
# must carry its request's id and the sum of the numbers that session and
# zone sent (gw_load --verify), so a lost, duplicated or misrouted response
# fails the test; and the flood must not starve a or b.
# Also: audit_args puts arguments into call records, and the chain of
# the whole run verifies.
# Env: GATEWAYD, GATEWAYCTL, MCPD_TEST, GW_LOAD (binaries); LOAD_SECONDS (default 4).
set -u
. "$(dirname "$0")/../common/daemons.sh"
zg_need GATEWAYD GATEWAYCTL MCPD_TEST GW_LOAD
secs=${LOAD_SECONDS:-4}
zg_workdir gwload
cat > "$work/gw.json" <<JSON
{ "zones": {
    "agent-a": { "domid": 41, "role": "agent", "chan": "sim:41:agent-a" },
    "agent-b": { "domid": 42, "role": "agent", "chan": "sim:42:agent-b" },
    "agent-c": { "domid": 43, "role": "agent", "chan": "sim:43:agent-c" },
    "t1": { "domid": 51, "role": "tool", "chan": "sim:51:t1" },
    "t2": { "domid": 52, "role": "tool", "chan": "sim:52:t2" } },
  "policy": "load.policy", "audit_log": "audit.log", "admin_socket": "gw.sock",
  "audit_args": true }
JSON
cat > "$work/load.policy" <<POL
agent-a  t1.test_structured_output  allow
agent-b  t2.test_structured_output  allow
agent-c  t1.*                       allow
POL
"$MCPD_TEST" --chan sim:51:t1 --fixtures conformance 2>"$work/t1.log" & pids="$pids $!"
"$MCPD_TEST" --chan sim:52:t2 --fixtures conformance 2>"$work/t2.log" & pids="$pids $!"
zg_gatewayd 2
"$GW_LOAD" --chan sim:43:agent-c -c 64 -d "$secs" -w 0 --verify --tag 3 \
	--tool t1.test_structured_output >"$work/c.out" 2>&1 & cpid=$!
sleep 0.3
"$GW_LOAD" --chan sim:41:agent-a -c 16 -d "$secs" -w 0 --verify --tag 1 \
	--tool t1.test_structured_output >"$work/a.out" 2>&1 & apid=$!
"$GW_LOAD" --chan sim:42:agent-b -c 16 -d "$secs" -w 0 --verify --tag 2 \
	--tool t2.test_structured_output >"$work/b.out" 2>&1 & bpid=$!
fail=0
for z in a b c; do
	eval "wait \$${z}pid"
	rc=$?
	echo "agent-$z: $(cat "$work/$z.out")"
	[ $rc -eq 0 ] || { echo "FAIL: agent-$z (lost, misrouted or down)"; fail=1; }
	grep -q "errors=0 mismatched=0 lost=0" "$work/$z.out" || fail=1
done
field() { tr ' ' '\n' < "$1" | awk -F= -v k="$2" '$1 == k { print $2 }'; }
for z in a b; do
	req=$(field "$work/$z.out" requests)
	p99=$(field "$work/$z.out" p99_us)
	if [ "${req:-0}" -lt 100 ] || [ "${p99:-99999999}" -gt 5000000 ]; then
		echo "FAIL: agent-$z starved by the flood (requests=$req p99_us=$p99)"
		fail=1
	fi
done
# a zone may not reach what it was not granted, even under load
"$GW_LOAD" --chan sim:42:agent-b -c 2 -d 1 -w 0 --verify --tag 2 \
	--tool t1.test_structured_output >"$work/deny.out" 2>&1
grep -q "requests=0 " "$work/deny.out" || grep -q "errors=[1-9]" "$work/deny.out" || {
	echo "FAIL: agent-b reached t1: $(cat "$work/deny.out")"; fail=1; }
kill -0 "$gpid" 2>/dev/null || { echo "FAIL: gatewayd died"; tail "$work/gw.log"; fail=1; }
# mcpd's call responses take the gateway's splice path (only the id is
# replaced, the body is not re-encoded): nearly every one must have.
"$GATEWAYCTL" --config "$work/gw.json" status >"$work/status.json" || fail=1
for t in t1 t2; do
	set -- $(awk -v z="$t" '
		/"zone":/ { cur = $2; gsub(/[",]/, "", cur) }
		cur == z && /"responses":/ { gsub(/,/, "", $2); r = $2 }
		cur == z && /"responses_spliced":/ { gsub(/,/, "", $2); s = $2 }
		END { print r + 0, s + 0 }' "$work/status.json")
	echo "$t: $1 call responses, $2 spliced"
	if [ "$1" -lt 100 ] || [ $(($2 * 100)) -lt $(($1 * 99)) ]; then
		echo "FAIL: $t: responses not spliced ($2 of $1)"; fail=1
	fi
done
echo "gatewayd RSS after load: $(awk '/^VmRSS/ {print $2, $3}' /proc/$gpid/status)"
# audit_args is on here: call records carry their arguments
grep -q '"args":{"a":10' "$work/audit.log" || { echo "FAIL: no args in the audit log"; fail=1; }
"$GATEWAYCTL" --config "$work/gw.json" audit verify || fail=1
[ $fail -eq 0 ] && echo "load: ok"
exit $fail
