#!/bin/sh
# A hostile agent zone floods gatewayd with control frames it must answer
# (PING, each asking for a PONG; OPENs over the stream limit, each asking
# for an ERROR) and never reads the answers (chan_poke ctl-flood). Proves
# that gatewayd's memory stays bounded (its VmRSS, sampled from /proc while
# the flood runs, grows by less than FLOOD_RSS_MAX_KB), that gatewayd
# stops reading that zone once its answers are at their cap (the flooder
# stalls long before its 64 MiB are written), and that another zone's
# verified calls keep completing meanwhile. Without the cap on control
# answers gatewayd reads on and grows by hundreds of MB.
# Env: GATEWAYD, MCPD_TEST, POKE, GW_LOAD (binaries); FLOOD_RSS_MAX_KB (default
# 65536).
set -u
. "$(dirname "$0")/../common/daemons.sh"
zg_need GATEWAYD MCPD_TEST POKE GW_LOAD
max_kb=${FLOOD_RSS_MAX_KB:-65536}
zg_workdir gwctlflood
cat > "$work/gw.json" <<JSON
{ "zones": {
    "good":  { "domid": 91, "role": "agent", "chan": "sim:91:good" },
    "flood": { "domid": 92, "role": "agent", "chan": "sim:92:flood" },
    "t1":    { "domid": 93, "role": "tool", "chan": "sim:93:t1" } },
  "policy": "f.policy", "audit_log": "audit.log" }
JSON
echo 'good  t1.test_structured_output  allow' > "$work/f.policy"
"$MCPD_TEST" --chan sim:93:t1 --fixtures conformance 2>"$work/t1.log" & pids="$pids $!"
zg_gatewayd 1
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$gpid/status" 2>/dev/null || echo 0; }
fail=0
rss0=$(rss)
"$GW_LOAD" --chan sim:91:good -c 8 -d 6 -w 0 --verify --tag 4 \
	--tool t1.test_structured_output >"$work/good.out" 2>&1 & lpid=$!
"$POKE" sim:92:flood ctl-flood >"$work/poke.out" 2>&1 & fpid=$!
peak=$rss0
while kill -0 "$fpid" 2>/dev/null; do
	r=$(rss)
	[ "${r:-0}" -gt "$peak" ] && peak=$r
	sleep 0.1
done
wait "$fpid"
wait "$lpid"
lrc=$?
grow=$((peak - rss0))
echo "flooder: $(cat "$work/poke.out")"
echo "gatewayd VmRSS: ${rss0} kB before, ${peak} kB peak during the flood (+${grow} kB, limit ${max_kb})"
echo "good: $(cat "$work/good.out")"
if [ "$grow" -ge "$max_kb" ]; then
	echo "FAIL: gatewayd grew by ${grow} kB under the control-frame flood"; fail=1
fi
grep -q "stalled=1" "$work/poke.out" || {
	echo "FAIL: gatewayd kept reading a zone that does not read its answers"; fail=1; }
if [ $lrc -ne 0 ] || ! grep -q "errors=0 mismatched=0 lost=0" "$work/good.out"; then
	echo "FAIL: the good zone's calls failed during the flood"; fail=1
fi
req=$(tr ' ' '\n' <"$work/good.out" | awk -F= '$1 == "requests" { print $2 }')
[ "${req:-0}" -ge 100 ] || { echo "FAIL: the good zone was starved (requests=$req)"; fail=1; }
zg_all_alive ctlflood "$work/gw.log" || fail=1
[ $fail -eq 0 ] && echo "ctlflood: ok"
exit $fail
