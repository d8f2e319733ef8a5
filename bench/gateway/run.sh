#!/bin/sh
# bench/gateway/run.sh: what the gateway costs, side by side in one run on
# this machine. tools/call of one trivial tool (test_simple_text) in a
# closed loop, throughput and p50/p99 latency at several concurrency
# levels (the channel paths interleaved, ROUNDS times, medians), for:
#   chan direct     gw_load -> channel -> mcpd --chan            (one hop)
#   chan gateway    gw_load -> channel -> gatewayd -> channel -> mcpd
#   http supergw    mcp_load -> supergateway (Node) -> mcpd --stdio
#   http mcp-proxy  mcp_load -> mcp-proxy (Node) -> mcpd --stdio
# plus gatewayd's idle RSS and its RSS with 256 sessions open.
# usage: bench/gateway/run.sh [BUILD_DIR]
# env:   CONCURRENCY="1 8 32"  DURATION=3  WARMUP=1  ROUNDS=3
#        PROXIES=1 (0: skip Node)
#        BASE_GATEWAYD=PATH: also another gatewayd binary (a build before
#        a change), its own tool zone mcpd, interleaved with the two
#        channel paths in every round ("chan via base gatewayd")
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
bin=$build/bin
node=${NODE:-$root/test/node/node_modules/.bin/node}
nbin=$root/test/node/node_modules/.bin
conc=${CONCURRENCY:-1 8 32}
dur=${DURATION:-3}
warm=${WARMUP:-1}
proxies=${PROXIES:-1}
rounds=${ROUNDS:-3}
base=${BASE_GATEWAYD:-}
. "$here/common.sh"
bench_start gwbench mcpd-test gatewayd zonegate-relay gw_load mcp_load
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
wait_file() { i=0; while [ $i -lt 400 ] && [ ! -s "$1" ]; do sleep 0.05; i=$((i + 1)); done; }

# one agent zone is each tool zone's only user: all its slots (mcpd's 32
# workers) are that zone's (docs/gateway.md, "Tool zone capacity")
cat > "$work/gw.json" <<JSON
{ "zones": {
    "agent": { "domid": 61, "role": "agent", "chan": "sim:61:agent", "default_zone": "tools" },
    "agent-http": { "domid": 64, "role": "agent", "chan": "sim:64:agent-http", "default_zone": "tools" },
    "tools": { "domid": 62, "role": "tool", "chan": "sim:62:tools",
      "max_inflight": 32, "agent_max_inflight": 32 } },
  "policy": "bench.policy", "audit_log": "audit.log" }
JSON
printf 'agent  tools.*  allow\nagent-http  tools.*  allow\n' > "$work/bench.policy"

"$bin/mcpd-test" --chan sim:63:direct --fixtures conformance 2>/dev/null & pids="$pids $!"
"$bin/mcpd-test" --chan sim:62:tools --fixtures conformance 2>/dev/null & pids="$pids $!"
"$bin/gatewayd" --config "$work/gw.json" 2>"$work/gw.log" & gpid=$!
pids="$pids $gpid"
i=0
while [ $i -lt 200 ] && ! grep -qs " up: " "$work/gw.log"; do sleep 0.05; i=$((i + 1)); done
idle_rss=$(rss_kb "$gpid")
if [ -n "$base" ]; then
	cat > "$work/gwb.json" <<JSON
{ "zones": {
    "agent": { "domid": 65, "role": "agent", "chan": "sim:65:agentb", "default_zone": "tools" },
    "tools": { "domid": 66, "role": "tool", "chan": "sim:66:toolsb" } },
  "policy": "bench.policy", "audit_log": "auditb.log" }
JSON
	"$bin/mcpd-test" --chan sim:66:toolsb --fixtures conformance 2>/dev/null & pids="$pids $!"
	"$base" --config "$work/gwb.json" 2>"$work/gwb.log" & pids="$pids $!"
	i=0
	while [ $i -lt 200 ] && ! grep -qs " up: " "$work/gwb.log"; do sleep 0.05; i=$((i + 1)); done
fi
sg_url=
mp_url=
if [ "$proxies" = 1 ] && [ -x "$node" ]; then
	p1=$("$bin/mcp_load" --free-port)
	PATH=$(dirname "$node"):$PATH "$node" "$nbin/supergateway" \
		--stdio "$bin/mcpd-test --stdio --fixtures conformance" \
		--outputTransport streamableHttp --stateful --port "$p1" \
		--streamableHttpPath /mcp --logLevel none >/dev/null 2>&1 &
	pids="$pids $!"
	p2=$("$bin/mcp_load" --free-port)
	PATH=$(dirname "$node"):$PATH "$node" "$nbin/mcp-proxy" \
		--port "$p2" --host 127.0.0.1 --server stream -- \
		"$bin/mcpd-test" --stdio --fixtures conformance >/dev/null 2>&1 &
	pids="$pids $!"
	sleep 4
	sg_url=http://127.0.0.1:$p1/mcp
	mp_url=http://127.0.0.1:$p2/mcp
fi

# The two channel paths run interleaved, ROUNDS times per level, so that
# load from elsewhere on the machine hits both alike; the table shows the
# median of each column and the per-round share of direct throughput.
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print 0 }'; }
echo "| path | conc | req/s | p50 us | p99 us | errors | share of direct (per round) |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | --- |"
for c in $conc; do
	: >"$work/d.rows"
	: >"$work/g.rows"
	: >"$work/b.rows"
	shares=
	bshares=
	paths="d g"
	[ -n "$base" ] && paths="d g b"
	r=0
	while [ $r -lt "$rounds" ]; do
		d=$("$bin/gw_load" --chan sim:63:direct -c "$c" -d "$dur" -w "$warm" || true)
		g=$("$bin/gw_load" --chan sim:61:agent -c "$c" -d "$dur" -w "$warm" || true)
		b=
		[ -n "$base" ] &&
			b=$("$bin/gw_load" --chan sim:65:agentb -c "$c" -d "$dur" -w "$warm" || true)
		for x in $paths; do
			eval "o=\$$x"
			echo "$(echo "$o" | field rps | cut -d. -f1) $(echo "$o" | field p50_us | cut -d. -f1)" \
				"$(echo "$o" | field p99_us | cut -d. -f1) $(echo "$o" | field errors)" >>"$work/$x.rows"
		done
		dr=$(echo "$d" | field rps | cut -d. -f1)
		gr=$(echo "$g" | field rps | cut -d. -f1)
		br=$(echo "$b" | field rps | cut -d. -f1)
		shares="$shares $(( ${gr:-0} * 100 / ${dr:-1} ))%"
		bshares="$bshares $(( ${br:-0} * 100 / ${dr:-1} ))%"
		r=$((r + 1))
	done
	for x in $paths; do
		name="chan direct (mcpd)"
		extra=
		[ $x = g ] && { name="chan via gatewayd"; extra=$shares; }
		[ $x = b ] && { name="chan via base gatewayd"; extra=$bshares; }
		printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$name" "$c" \
			"$(awk '{ print $1 }' "$work/$x.rows" | median)" \
			"$(awk '{ print $2 }' "$work/$x.rows" | median)" \
			"$(awk '{ print $3 }' "$work/$x.rows" | median)" \
			"$(awk '{ s += $4 } END { print s + 0 }' "$work/$x.rows")" "$extra"
	done
	for px in "supergateway $sg_url" "mcp-proxy $mp_url"; do
		set -- $px
		[ $# -eq 2 ] || continue
		out=$("$bin/mcp_load" --url "$2" -c "$c" -d "$dur" -w "$warm" \
			--tool test_simple_text 2>/dev/null || true)
		printf '| %s | %s | %s | %s | %s | %s | |\n' "http $1" "$c" \
			"$(echo "$out" | field rps | cut -d. -f1)" \
			"$(echo "$out" | field p50_us | cut -d. -f1)" \
			"$(echo "$out" | field p99_us | cut -d. -f1)" \
			"$(echo "$out" | field errors)"
	done
done
"$bin/gw_load" --chan sim:61:agent -c 256 -d 3 -w 1 >/dev/null 2>&1 &
lp=$!
sleep 2
busy_rss=$(rss_kb "$gpid")
wait $lp || true
echo
echo "gatewayd RSS: idle ${idle_rss} kB; with 256 sessions open ${busy_rss} kB" \
	"(~$(( (busy_rss - idle_rss) * 1024 / 256 )) bytes per session)"
echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
