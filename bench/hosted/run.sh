#!/bin/sh
# bench/hosted/run.sh: tools/call through gatewayd to every kind of tool
# zone, side by side in one run on this machine (gw_load, one agent zone's
# channel, a closed loop per session, the paths interleaved ROUNDS times
# per level, medians):
#   chan         mcpd-test --chan, the conformance fixture test_simple_text
#   hosted       mcpd --chan --servers: server-everything's echo, one
#                child per session (mcpd's default)
#   hosted-sh    the same with "shared": true (one child for all sessions)
#   supergw      supergateway (stateful Streamable HTTP, one child per
#                session) as a remote "url" tool zone on loopback
#   mcp-proxy    mcp-proxy (Streamable HTTP, one child for all sessions)
#                as a remote "url" tool zone on loopback
#   remote       mcpd-test --http as a remote "url" tool zone (the fixture)
# and, before that, the baseline: server-everything's echo over its own
# stdio without anything in between, against mcpd --servers over stdio
# (bench/hosted/hosted_bench.mjs, one client for both), which is what
# hosting itself adds. Every session's child is started before the
# measurement (gw_load --ready); that start-up is reported apart. How many
# server-everything processes each hosted path and bridge runs during
# each level is sampled and printed (which pairs are like-for-like).
# With BASE=DIR (another build directory, say before a change), its mcpd
# serves two more paths, hosted-b and hosted-sh-b, measured in the same
# rounds (and in the stdio baseline).
# With SERVER=native, the stdio server behind every hosted path and bridge
# is mcpd-test --stdio (C, the conformance fixture test_simple_text)
# instead of server-everything (Node): what hosting and the bridges cost
# when the server itself costs little, apart from a Node server's own time.
# With CPUSPLIT=1, a report follows of where the CPU goes per call at
# CPUSPLIT_CONC sessions (bench/hosted/cpusplit.sh): each process and each
# of mcpd's threads by name, context switches, the machine's idle time,
# and mcpd's system calls per call (strace -f -c, in a window of its own).
# usage: bench/hosted/run.sh [--quick] [BUILD_DIR]
# env:   CONCURRENCY="1 8 32"  DURATION=3  WARMUP=1  ROUNDS=3  N=2000  BASE=
#        SERVER=everything (or native)
#        CPUSPLIT=0  CPUSPLIT_CONC="8 32"  CPUSPLIT_SECS=4
#        CPUSPLIT_PATHS="chan hosted hosted-sh supergw mcp-proxy" (with
#        BASE, hosted-b and hosted-sh-b too, interleaved with theirs)
#        (--quick: one round at 1 and 8 sessions, 1 s each, N=300)
# Exit 1 if some path never answered (errors or no requests).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
quick=0
if [ "${1:-}" = --quick ]; then
	quick=1
	shift
fi
build=${1:-$root/build}
bin=$build/bin
nm=$root/test/node/node_modules
node=${NODE:-$nm/.bin/node}
ev=$nm/@modelcontextprotocol/server-everything/dist/index.js
if [ $quick = 1 ]; then
	conc=${CONCURRENCY:-1 8}
	dur=${DURATION:-1}
	warm=${WARMUP:-0}
	rounds=${ROUNDS:-1}
	n=${N:-300}
else
	conc=${CONCURRENCY:-1 8 32}
	dur=${DURATION:-3}
	warm=${WARMUP:-1}
	rounds=${ROUNDS:-3}
	n=${N:-2000}
fi
for f in mcpd mcpd-test gatewayd gw_load mcp_load; do
	[ -x "$bin/$f" ] || { echo "run.sh: missing $bin/$f (build first)" >&2; exit 2; }
done
base_mcpd=
if [ -n "${BASE:-}" ]; then
	base_mcpd=$(cd "$BASE" && pwd)/bin/mcpd
	[ -x "$base_mcpd" ] || { echo "run.sh: missing $base_mcpd" >&2; exit 2; }
fi
for f in "$node" "$ev" "$nm/.bin/supergateway" "$nm/.bin/mcp-proxy"; do
	[ -e "$f" ] || { echo "run.sh: missing $f (test/node)" >&2; exit 2; }
done
# The stdio server: its command as JSON array items (servers files), as
# one line (supergateway), its tool and arguments, its name in the report
# and how to know its processes (the command's basename, a word of it).
case ${SERVER:-everything} in
everything)
	srv_json="\"$node\", \"$ev\", \"stdio\""
	srv_words="$node $ev stdio"
	srv_tool=echo srv_args='{"message":"x"}'
	srv_name=server-everything srv_exe=node srv_word=server-everything
	;;
native)
	srv_json="\"$bin/mcpd-test\", \"--stdio\", \"--fixtures\", \"conformance\""
	srv_words="$bin/mcpd-test --stdio --fixtures conformance"
	srv_tool=test_simple_text srv_args='{}'
	srv_name="mcpd-test --stdio" srv_exe=mcpd-test srv_word=--stdio
	;;
*)
	echo "run.sh: SERVER is everything or native" >&2
	exit 2
	;;
esac
work=$(mktemp -d "${TMPDIR:-/tmp}/zg-hostbench.XXXXXX")
export ZONEGATE_SIM_DIR=$work/sim
pids=
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
field() { tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print 0 }'; }
load0=$(cut -d' ' -f1-3 /proc/loadavg)

# The baseline and what hosting adds, without the gateway.
echo "## stdio: $srv_name $srv_tool directly vs behind mcpd --servers"
echo
if ! (cd "$root" && HB_SERVER="[$srv_json]" HB_TOOL=$srv_tool HB_ARGS=$srv_args \
	HB_LABEL="$srv_name" "$node" bench/hosted/hosted_bench.mjs "$bin/mcpd" "$n" "$rounds" $base_mcpd) >"$work/stdio.out"; then
	echo "run.sh: the stdio baseline failed" >&2
	exit 1
fi
sed 's/^/    /' "$work/stdio.out"
echo

srv_json_cmd=${srv_json%%,*}
srv_json_args=${srv_json#*, }
cat >"$work/per.json" <<JSON
{ "mcpServers": { "ev": { "command": $srv_json_cmd, "args": [$srv_json_args],
  "max_children": 64 } } }
JSON
cat >"$work/shared.json" <<JSON
{ "mcpServers": { "ev": { "command": $srv_json_cmd, "args": [$srv_json_args],
  "shared": true } } }
JSON
p_sg=$("$bin/mcp_load" --free-port)
p_mp=$("$bin/mcp_load" --free-port)
p_re=$("$bin/mcp_load" --free-port)
p_met=$("$bin/mcp_load" --free-port)
base_zones=
[ -z "$base_mcpd" ] || base_zones=',
    "hosted-b": { "domid": 77, "role": "tool", "chan": "sim:77:hostedb", "max_inflight": 32, "agent_max_inflight": 32 },
    "hosted-sh-b": { "domid": 78, "role": "tool", "chan": "sim:78:hostshb", "max_inflight": 32, "agent_max_inflight": 32 }'
# one agent zone is each tool zone's only user: all its slots (mcpd's 32
# workers) are that zone's (docs/gateway.md, "Tool zone capacity")
cat >"$work/gw.json" <<JSON
{ "zones": {
    "agent": { "domid": 70, "role": "agent", "chan": "sim:70:agent" },
    "chan": { "domid": 71, "role": "tool", "chan": "sim:71:chan", "max_inflight": 32, "agent_max_inflight": 32 },
    "hosted": { "domid": 72, "role": "tool", "chan": "sim:72:hosted", "max_inflight": 32, "agent_max_inflight": 32 },
    "hosted-sh": { "domid": 73, "role": "tool", "chan": "sim:73:hostsh", "max_inflight": 32, "agent_max_inflight": 32 },
    "supergw": { "domid": 74, "role": "tool", "url": "http://127.0.0.1:$p_sg/mcp", "max_inflight": 32, "agent_max_inflight": 32 },
    "mcp-proxy": { "domid": 75, "role": "tool", "url": "http://127.0.0.1:$p_mp/mcp", "max_inflight": 32, "agent_max_inflight": 32 },
    "remote": { "domid": 76, "role": "tool", "url": "http://127.0.0.1:$p_re/mcp", "max_inflight": 32, "agent_max_inflight": 32 }$base_zones },
  "policy": "bench.policy", "audit_log": "audit.log",
  "metrics": "127.0.0.1:$p_met" }
JSON
for z in chan hosted hosted-sh supergw mcp-proxy remote hosted-b hosted-sh-b; do
	printf 'agent  %s.*  allow\n' "$z"
done >"$work/bench.policy"

"$bin/mcpd-test" --chan sim:71:chan --fixtures conformance 2>/dev/null &
pid_chan=$!
pids="$pids $!"
# hosted MCPD DOMID NAME SERVERS: an mcpd hosting SERVERS on sim:DOMID:NAME
# (its log in $work/NAME.log); its pid in $last
hosted() {
	"$1" --chan "sim:$2:$3" --servers "$work/$4" 2>"$work/$3.log" &
	last=$!
	pids="$pids $last"
}
hosted "$bin/mcpd" 72 hosted per.json
pid_hosted=$last
hosted "$bin/mcpd" 73 hostsh shared.json
pid_hostsh=$last
paths="chan hosted hosted-sh supergw mcp-proxy remote"
if [ -n "$base_mcpd" ]; then
	hosted "$base_mcpd" 77 hostedb per.json
	pid_hostedb=$last
	hosted "$base_mcpd" 78 hostshb shared.json
	pid_hostshb=$last
	paths="$paths hosted-b hosted-sh-b"
fi
"$bin/mcpd-test" --http "127.0.0.1:$p_re" --fixtures conformance --max-sessions 1024 2>/dev/null &
pids="$pids $!"
PATH=$(dirname "$node"):$PATH "$node" "$nm/.bin/supergateway" \
	--stdio "$srv_words" --outputTransport streamableHttp --stateful \
	--port "$p_sg" --streamableHttpPath /mcp --logLevel none >/dev/null 2>&1 &
pid_sg=$!
PATH=$(dirname "$node"):$PATH "$node" "$nm/.bin/mcp-proxy" --port "$p_mp" \
	--host 127.0.0.1 --server stream -- $srv_words >/dev/null 2>&1 &
pid_mp=$!
pids="$pids $pid_sg $pid_mp"
for pt in "$p_sg" "$p_mp" "$p_re"; do
	"$bin/mcp_load" --wait-init "http://127.0.0.1:$pt/mcp" --since "$(date +%s%N)" \
		--timeout 30 >/dev/null 2>&1 || true
done
"$bin/gatewayd" --config "$work/gw.json" 2>"$work/gw.log" &
pid_gw=$!
pids="$pids $!"
i=0
while [ $i -lt 400 ] && ! grep -qs " up: " "$work/gw.log"; do sleep 0.05; i=$((i + 1)); done
sleep 2 # the tool zones' catalogues

tool_of() {
	case $1 in
	chan | remote) echo "$1.test_simple_text {}" ;;
	hosted*) echo "$1.ev.$srv_tool $srv_args" ;;
	*) echo "$1.$srv_tool $srv_args" ;;
	esac
}
# the server's processes (not their sh -c wrappers) under pid $1
ev_procs() {
	ps -e -o pid=,ppid=,args= | awk -v root="$1" -v exe="$srv_exe" -v word="$srv_word" '
		{ pp[$1] = $2; n3 = split($3, w, "/")
		  ev[$1] = (w[n3] == exe && index($0, word) > 0) }
		END { n = 0
			for (p in pp) { q = p
				while ((q in pp) && q != root && q > 1) q = pp[q]
				if (q == root && p != root && ev[p]) n++ }
			print n }'
}
# Samples the process counts of the paths that run the server while
# gw_load (pid $1) runs; keeps each one's maximum in $work/procs.
sample_procs() {
	mh=0 ms=0 mg=0 mp=0
	while kill -0 "$1" 2>/dev/null; do
		v=$(ev_procs "$pid_hosted"); [ "$v" -gt $mh ] && mh=$v
		v=$(ev_procs "$pid_hostsh"); [ "$v" -gt $ms ] && ms=$v
		v=$(ev_procs "$pid_sg"); [ "$v" -gt $mg ] && mg=$v
		v=$(ev_procs "$pid_mp"); [ "$v" -gt $mp ] && mp=$v
		sleep 0.3
	done
	echo "$mh $ms $mg $mp" >>"$work/procs"
}
bad=0
echo "## through gatewayd (load average at start: $load0)"
echo
echo "| path | sessions | req/s | p50 us | p99 us | errors | ready ms |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for c in $conc; do
	for p in $paths; do : >"$work/$p.rows"; done
	r=0
	while [ $r -lt "$rounds" ]; do
		for p in $paths; do
			set -- $(tool_of "$p")
			"$bin/gw_load" --chan sim:70:agent -c "$c" -d "$dur" -w "$warm" \
				--ready 120 --tool "$1" --args "$2" >"$work/one.out" 2>>"$work/load.err" &
			lp=$!
			case $p in hosted | supergw) sample_procs $lp ;; esac
			wait $lp || true
			o=$(cat "$work/one.out")
			echo "$(echo "$o" | field rps) $(echo "$o" | field p50_us)" \
				"$(echo "$o" | field p99_us) $(echo "$o" | field errors)" \
				"$(echo "$o" | field requests) $(echo "$o" | field ready_ms)" \
				>>"$work/$p.rows"
		done
		r=$((r + 1))
	done
	for p in $paths; do
		col() { awk -v k="$1" '{ print ($k == "" ? 0 : $k) }' "$work/$p.rows" | median; }
		errs=$(awk '{ s += $4 } END { print s + 0 }' "$work/$p.rows")
		reqs=$(awk '{ s += $5 } END { print s + 0 }' "$work/$p.rows")
		[ "$errs" = 0 ] && [ "$reqs" -gt 0 ] || bad=1
		printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$p" "$c" \
			"$(col 1)" "$(col 2)" "$(col 3)" "$errs" "$(col 6)"
		echo "$c $p $(col 1) $(col 2)" >>"$work/summary"
	done
	# the maxima over the level's samples, listing children included
	awk -v c="$c" -v name="$srv_name" '{ for (i = 1; i <= 4; i++) if ($i > m[i]) m[i] = $i }
		END { printf "\n%s processes at %s sessions (most seen): hosted %d, hosted-sh %d, supergw %d, mcp-proxy %d\n\n", name, c, m[1], m[2], m[3], m[4] }' "$work/procs"
	: >"$work/procs"
done
# One table row per level: for each argument A/B the req/s ratio of path A
# to path B, for each A~B the p50 of A minus the p50 of B (us).
ratio_rows() {
	for c in $conc; do
		awk -v c="$c" -v spec="$*" '$1 == c { rps[$2] = $3; p50[$2] = $4 }
			END { n = split(spec, f, " "); row = "| " c
				for (i = 1; i <= n; i++)
					if (split(f[i], ab, "/") == 2)
						row = row " | " (rps[ab[2]] > 0 ? sprintf("%.1fx", rps[ab[1]] / rps[ab[2]]) : "-")
					else if (split(f[i], ab, "~") == 2)
						row = row " | " (p50[ab[1]] - p50[ab[2]])
				print row " |" }' "$work/summary"
	done
}
echo
# Ratios: the hosted paths against the bridges serving the same server in
# the same way (per-session children: hosted / supergw; one shared child:
# hosted-sh / mcp-proxy).
echo "| sessions | hosted / supergw req/s | hosted-sh / mcp-proxy req/s | hosted-sh / supergw req/s | p50 hosted - chan (us): the server's time plus hosting |"
echo "| ---: | ---: | ---: | ---: | ---: |"
ratio_rows hosted/supergw hosted-sh/mcp-proxy hosted-sh/supergw 'hosted~chan'
if [ -n "$base_mcpd" ]; then
	echo
	echo "| sessions | hosted / hosted-b req/s | hosted-sh / hosted-sh-b req/s | p50 hosted-b - hosted (us) | p50 hosted-sh-b - hosted-sh (us) |"
	echo "| ---: | ---: | ---: | ---: | ---: |"
	ratio_rows hosted/hosted-b hosted-sh/hosted-sh-b 'hosted-b~hosted' 'hosted-sh-b~hosted-sh'
fi
echo
if [ "${CPUSPLIT:-0}" = 1 ]; then
	. "$here/cpusplit.sh"
	cpu_split
fi
echo "machine: $(nproc) CPUs, load average at start $load0, at end $(cut -d' ' -f1-3 /proc/loadavg)"
if [ $bad = 1 ]; then
	echo "run.sh: some path had errors or did not answer:" >&2
	sed 's/^/  /' "$work/load.err" >&2
	exit 1
fi
