#!/bin/sh
# Fairness of gatewayd's loop, by counts (timings are bench/gateway/
# fair.sh's business). Zone fl floods gatewayd (gw_load --flood: 1 MiB of
# calls always queued on its channel), first with calls it may not make
# (each denied: an audit record and an error reply), then with calls it
# may make (to its own tool zone t1). Meanwhile zones v1 and v2 run
# verified calls to t2 (gw_load --verify). Proves that the other zones'
# calls keep completing during the flood: none fails, is lost or is
# misrouted, and together they complete at least 5% as many calls as the
# flooder gets answers in the same time. gatewayd takes a bounded number
# of frames from each zone per loop turn; when it read up to 1 MiB per
# channel per turn, the victims got 1.5% (denied flood) and 0.05%
# (allowed flood) of the flooder's count.
# The denial budget (zone_denials_per_s, here 500): during the denied
# flood the flooder gets at most a burst plus 500 denials a second
# answered (the rest of its calls wait unread in its channel), while the
# others' calls complete as above. Without the budget it got ~100k.
# The same holds for a zone served by an HTTP listener (hl, a unix
# socket): 4000 denied stateless calls, 64 at a time, for 2 s get at
# most a burst plus 2 s of the budget answered (its requests wait in the
# listener's queue, unread); without the budget all 4000 were answered.
# And a count of how far an allowed flood runs ahead of another zone's
# call while both have work (a probe; see below), against the share a
# flooding zone gets per turn then.
# Env: GATEWAYD, MCPD_TEST, GW_LOAD (binaries); FAIR_SECONDS (default 3);
# PROBE_MAX_MEAN (default 3.5).
set -u
. "$(dirname "$0")/../common/daemons.sh"
zg_need GATEWAYD MCPD_TEST GW_LOAD
secs=${FAIR_SECONDS:-3}
zg_workdir gwfair
cp "$(dirname "$0")/../../data/gateway/fair/gw.json" \
   "$(dirname "$0")/../../data/gateway/fair/fair.policy" "$work/"
"$MCPD_TEST" --chan sim:74:t1 --fixtures conformance 2>"$work/t1.log" & t1pid=$!
"$MCPD_TEST" --chan sim:75:t2 --fixtures conformance 2>"$work/t2.log" & t2pid=$!
pids="$pids $t1pid $t2pid"
budget=500
sed -i "s/\"policy\":/\"zone_denials_per_s\": $budget, \"policy\":/" "$work/gw.json"
sed -i "s/\"zones\": {/\"zones\": { \"hl\": { \"domid\": 79, \"role\": \"agent\" },/" "$work/gw.json"
sed -i "s/\"policy\":/\"listeners\": [ { \"listen\": \"unix:hl.sock\", \"zone\": \"hl\", \"uid\": $(id -u) } ], \"policy\":/" "$work/gw.json"
grep -q "zone_denials_per_s.*hl.sock" "$work/gw.json" && grep -q '"hl": {' "$work/gw.json" ||
	{ echo "FAIL: config not edited"; exit 1; }
# a budget out of range is refused with file:line
sed "s/\"zone_denials_per_s\": $budget/\"zone_denials_per_s\": -1/" "$work/gw.json" >"$work/bad.json"
if "$GATEWAYD" --config "$work/bad.json" --check 2>"$work/bad.err" ||
	! grep -q "bad.json:[0-9]*: zone_denials_per_s must be an integer in 0..1000000" "$work/bad.err"; then
	echo "FAIL: a bad zone_denials_per_s was not refused: $(cat "$work/bad.err")"; exit 1
fi
zg_gatewayd 2
field() { tr ' ' '\n' <"$1" | awk -F= -v k="$2" '$1 == k { print $2 }'; }
fail=0
for kind in denied allowed; do
	tool=t2.test_simple_text # fl is not granted anything on t2
	[ $kind = allowed ] && tool=t1.test_simple_text
	"$GW_LOAD" --chan sim:73:fl -c 64 -d $((secs + 1)) -w 0 --flood \
		--tool "$tool" >"$work/fl.out" 2>&1 & fpid=$!
	sleep 0.5
	"$GW_LOAD" --chan sim:71:v1 -c 4 -d "$secs" -w 0 --verify --tag 1 \
		--tool t2.test_structured_output >"$work/v1.out" 2>&1 & apid=$!
	"$GW_LOAD" --chan sim:72:v2 -c 4 -d "$secs" -w 0 --verify --tag 2 \
		--tool t2.test_structured_output >"$work/v2.out" 2>&1 & bpid=$!
	wait "$apid"; arc=$?
	wait "$bpid"; brc=$?
	wait "$fpid"
	flood=$(field "$work/fl.out" requests)
	ferr=$(field "$work/fl.out" errors)
	echo "$kind flood: $(cat "$work/fl.out")"
	victims=0
	for z in v1 v2; do
		echo "  $z: $(cat "$work/$z.out")"
		n=$(field "$work/$z.out" requests)
		victims=$((victims + ${n:-0}))
		grep -q "errors=0 mismatched=0 lost=0" "$work/$z.out" || {
			echo "FAIL: $z's calls failed during the $kind flood"; fail=1; }
		[ "${n:-0}" -ge 100 ] || { echo "FAIL: $z starved ($n calls)"; fail=1; }
	done
	[ $arc -eq 0 ] && [ $brc -eq 0 ] || { echo "FAIL: a victim's run failed"; fail=1; }
	# the flood really was one: denied calls all answered with errors,
	# allowed ones mostly without
	least=1000 # a denied flood gets at least its budget's burst
	[ $kind = denied ] && least=$budget
	if [ "${flood:-0}" -lt $least ]; then
		echo "FAIL: the $kind flood did not happen ($flood answers)"; fail=1
	elif [ $kind = denied ] && [ "$ferr" -ne "$flood" ]; then
		echo "FAIL: denied calls answered without error ($ferr of $flood)"; fail=1
	elif [ $kind = denied ] && ! awk -v n="$flood" -v r=$budget \
		-v s="$(field "$work/fl.out" seconds)" \
		'BEGIN { exit !(n <= r + r * s + 64) }'; then
		# a burst (one second's worth) plus the rate over the flood's
		# measured time, plus one loop turn's frames
		echo "FAIL: $flood denials answered in" \
			"$(field "$work/fl.out" seconds) s, over the budget of $budget/s"
		fail=1
	elif [ $kind = allowed ] && [ $((flood - ferr)) -lt 1000 ]; then
		# (some may meet the gateway's in-flight limits)
		echo "FAIL: allowed flood calls did not get through ($ferr errors)"; fail=1
	fi
	echo "  victims completed $victims calls, the flooder got $flood answers"
	if [ $((victims * 20)) -lt "${flood:-0}" ]; then
		echo "FAIL: the $kind flood starved the other zones"; fail=1
	fi
done
# How far one zone's allowed flood runs ahead of another zone's request,
# counted. v2 has a call in flight all along (t2 is stopped), so two
# agent zones have work; fl floods t1 while a probe on v1's channel (the
# same gw_load) sends one ping at a time, which gatewayd answers in the
# turn that reads it, and counts the flood's answers that arrive while
# each is in flight. gatewayd has a CPU of its own here, gw_load and t1
# the other. While two or more agent zones have work, a zone that takes
# its whole share of a turn (ZONE_TURN_FRAMES, 8 frames) gets
# ZONE_SHARE_FRAMES (1) per turn, so the flood gets about one answer per
# turn: a ping saw 0.8-2.6 of the flood's answers on average (10 runs,
# the sanitizer build's included; t1 answering a backlog at once still
# sends 8 in a turn now and then). With the shares off (the flooder
# keeps 8 frames a turn) 4.3-5.8, its answers coming 8 a turn. (The
# probe sends its next ping once the flood's answers already in its
# channel are read.)
probe_max=${PROBE_MAX_MEAN:-3.5}
ncpu=$(nproc)
other=$((ncpu > 1 ? 1 : 0))
kill -STOP "$t2pid"
"$GW_LOAD" --chan sim:72:v2 -c 1 -d $((secs + 10)) -w 0 \
	--tool t2.test_structured_output --args '{"a":1,"b":2}' \
	>"$work/held.out" 2>&1 & hpid=$!
taskset -pc 0 "$gpid" >/dev/null && taskset -pc $other "$t1pid" >/dev/null ||
	fail=1
taskset -c $other "$GW_LOAD" --chan sim:73:fl -c 64 -d "$secs" -w 1 \
	--flood --tool t1.test_simple_text --probe sim:71:v1 --probe-ping \
	>"$work/probe.out" 2>&1
kill -CONT "$t2pid"
kill "$hpid" 2>/dev/null
wait "$hpid"
for p in $pids; do taskset -pc "0-$((ncpu - 1))" "$p" >/dev/null; done
echo "probe: $(cat "$work/probe.out")"
pn=$(field "$work/probe.out" probe_calls)
mean=$(field "$work/probe.out" probe_mean)
if [ "${pn:-0}" -lt 100 ]; then
	echo "FAIL: the probe's pings were not answered (${pn:-0})"; fail=1
elif [ "$(field "$work/probe.out" requests)" -lt 1000 ]; then
	echo "FAIL: the flood did not happen"; fail=1
elif ! awk -v m="$mean" -v x="$probe_max" 'BEGIN { exit !(m <= x) }'; then
	echo "FAIL: the flood got $mean answers (mean) while another zone's" \
		"ping was in flight (at most $probe_max)"; fail=1
fi
# the listener's zone: 4000 denied stateless calls for 2 s
awk 'BEGIN { for (i = 1; i <= 4000; i++) {
	if (i > 1) print "next"
	print "url = \"http://localhost/mcp\""
	print "unix-socket = \"hl.sock\""
	print "header = \"Content-Type: application/json\""
	print "header = \"Accept: application/json, text/event-stream\""
	print "header = \"MCP-Protocol-Version: 2026-07-28\""
	print "header = \"Mcp-Method: tools/call\""
	print "header = \"Mcp-Name: t2.test_simple_text\""
	printf "data = \"{\\\"jsonrpc\\\":\\\"2.0\\\",\\\"id\\\":%d,", i
	printf "\\\"method\\\":\\\"tools/call\\\",\\\"params\\\":{"
	printf "\\\"name\\\":\\\"t2.test_simple_text\\\",\\\"_meta\\\":{"
	printf "\\\"io.modelcontextprotocol/protocolVersion\\\":\\\"2026-07-28\\\","
	printf "\\\"io.modelcontextprotocol/clientCapabilities\\\":{},"
	printf "\\\"io.modelcontextprotocol/clientInfo\\\":"
	printf "{\\\"name\\\":\\\"h\\\",\\\"version\\\":\\\"1\\\"}}}}\"\n"
} }' >"$work/hl.cfg"
(cd "$work" && timeout 2 curl -s --parallel --parallel-max 64 -K hl.cfg >hl.out 2>/dev/null)
hn=$(grep -o '"auditId"' "$work/hl.out" | wc -l)
echo "listener flood: $hn of 4000 denied calls answered in 2 s"
if [ "$hn" -lt $budget ]; then
	echo "FAIL: the listener's calls were not answered ($hn)"; fail=1
elif [ "$hn" -gt $((budget + 2 * budget + 64)) ]; then
	echo "FAIL: $hn listener denials answered in 2 s, over the budget of $budget/s"
	fail=1
fi
zg_all_alive fairness "$work/gw.log" || fail=1
[ $fail -eq 0 ] && echo "fairness: ok"
exit $fail
