#!/bin/sh
# bench/hosted/cpusplit.sh: where the CPU of a benchmark window goes. Sourced
# by run.sh (CPUSPLIT=1). `cs_snap OUT ROOT...` records, for every thread of
# the named processes and of their descendants, its time on a CPU
# (/proc/PID/task/TID/schedstat) and its voluntary and involuntary context
# switches, plus the machine's busy and idle time (/proc/stat); `cs_report`
# turns two snapshots and a number of calls into CPU microseconds and
# switches per call, per part. A ROOT is LABEL:PID; threads of the process
# itself are LABEL/COMM (COMM: the thread's name), those of a descendant
# LABEL.child (summed, with the number of such processes).

# cs_tasks ROOT...: "LABEL PATH" lines for every task of each root and of
# its descendants.
cs_tasks() {
	ps -e -o pid=,ppid= >"$work/cs.ps"
	for r in "$@"; do
		lab=${r%%:*}
		pid=${r#*:}
		for t in /proc/"$pid"/task/*; do
			[ -d "$t" ] && echo "$lab/self $t"
		done
		for d in $(awk -v root="$pid" '
			{ pp[$1] = $2 }
			END { for (p in pp) { q = pp[p]
				while ((q in pp) && q != root && q > 1) q = pp[q]
				if (q == root) print p } }' "$work/cs.ps"); do
			for t in /proc/"$d"/task/*; do
				[ -d "$t" ] && echo "$lab.child:$d $t"
			done
		done
	done
}

# cs_snap OUT ROOT...: one line per task "KEY TID NS VOL INVOL", KEY being
# LABEL/COMM for a root's own threads and LABEL.child:PID for a
# descendant's; then "machine BUSY IDLE" in clock ticks.
cs_snap() {
	out=$1
	shift
	cs_tasks "$@" | awk '
		{ t = $2; n = split(t, parts, "/"); tid = parts[n]
		  ns = 0; vol = 0; inv = 0; comm = "?"
		  if ((getline l < (t "/schedstat")) > 0) { split(l, f, " "); ns = f[1] }
		  close(t "/schedstat")
		  while ((getline l < (t "/status")) > 0) {
			if (l ~ /^voluntary_ctxt_switches/) { split(l, f, ":"); vol = f[2] + 0 }
			if (l ~ /^nonvoluntary_ctxt_switches/) { split(l, f, ":"); inv = f[2] + 0 }
		  }
		  close(t "/status")
		  if ((getline l < (t "/comm")) > 0) comm = l
		  close(t "/comm")
		  key = $1
		  if (key ~ /\/self$/) { sub(/\/self$/, "", key); gsub(/ /, "_", comm); key = key "/" comm }
		  print key, tid, ns, vol, inv }' >"$out"
	awk '$1 == "cpu" { idle = $5 + $6; busy = 0
		for (i = 2; i <= NF; i++) if (i != 5 && i != 6) busy += $i
		print "machine", busy, idle }' /proc/stat >>"$out"
}

# cs_report A B CALLS SECONDS: prints "PART us_per_call vol_per_call
# inv_per_call [processes]" lines, from snapshots A and B over CALLS calls
# in SECONDS; parts: each thread name of a root (summed over threads of
# that name), each root's descendants (summed), "machine" (every CPU's busy
# time), "other" (machine minus the parts: other processes and the
# kernel's own work), "idle", and "ncpu" (CPUs).
cs_report() {
	ticks=$(getconf CLK_TCK)
	ncpu=$(nproc)
	awk -v calls="$3" -v secs="$4" -v hz="$ticks" -v ncpu="$ncpu" '
		FNR == NR && $1 != "machine" { ns[$2] = $3; vol[$2] = $4; inv[$2] = $5; next }
		FNR == NR { mb = $2; mi = $3; next }
		$1 == "machine" { dbusy = ($2 - mb) / hz * 1e6; didle = ($3 - mi) / hz * 1e6; next }
		{ key = $1
		  if (key ~ /\.child:/) { split(key, kk, ":"); key = kk[1]; procs[key, kk[2]] = 1 }
		  dn = $3 - ns[$2]; dv = $4 - vol[$2]; di = $5 - inv[$2]
		  if (!($2 in ns)) { dn = $3; dv = $4; di = $5 }  # born in the window
		  cpu[key] += dn / 1000; cv[key] += dv; ci[key] += di; seen[key] = 1 }
		END { if (calls <= 0) exit
			acc = 0
			for (k in seen) {
				np = 0
				for (pk in procs) { split(pk, s, SUBSEP); if (s[1] == k) np++ }
				printf "%s %.1f %.2f %.2f %d\n", k, cpu[k] / calls, cv[k] / calls, ci[k] / calls, np
				acc += cpu[k]
			}
			printf "machine %.1f 0 0 0\n", dbusy / calls
			printf "other %.1f 0 0 0\n", (dbusy - acc) / calls
			printf "idle %.1f 0 0 0\n", didle / calls
			printf "window %.1f %d %.0f 0\n", ncpu * secs * 1e6 / calls, ncpu, calls / secs
		}' "$1" "$2"
}

# calls_of PATH: calls of the agent zone to PATH's tool so far (gatewayd's
# metrics).
calls_of() {
	set -- $(tool_of "$1")
	curl -s "http://127.0.0.1:$p_met/metrics" | awk -v t="$1" '
		index($0, "zonegate_calls_total{") == 1 &&
		index($0, "tool=\"" t "\"") { n += $NF }
		END { print n + 0 }'
}

# roots_of PATH: the processes that serve PATH, as cs_snap ROOTs.
roots_of() {
	case $1 in
	chan) echo "mcpd:$pid_chan" ;;
	hosted) echo "mcpd:$pid_hosted" ;;
	hosted-sh) echo "mcpd:$pid_hostsh" ;;
	hosted-b) echo "mcpd:$pid_hostedb" ;;
	hosted-sh-b) echo "mcpd:$pid_hostshb" ;;
	supergw) echo "bridge:$pid_sg" ;;
	mcp-proxy) echo "bridge:$pid_mp" ;;
	esac
}

# cpu_split: for each level and path, a gw_load that runs until stopped;
# once every session answered and WARMUP passed, two snapshots
# CPUSPLIT_SECS apart, then (hosted paths, chan) strace -f -c on the
# serving process for as long again. Prints the tables.
cpu_split() {
	secs=${CPUSPLIT_SECS:-4}
	echo "## where the CPU goes (CPUSPLIT=1, ${secs} s windows)"
	echo
	echo "CPU us per call (on-CPU time of the threads, schedstat); vol/inv: voluntary/involuntary context switches per call."
	echo
	echo "| path | sessions | calls/s | machine us/call (CPUs x window) | idle | busy, all processes | gw_load | gatewayd | server side (threads) | children (n) | other | switches vol/inv: gw_load, gatewayd, server, children |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |"
	: >"$work/cs.strace"
	for c in ${CPUSPLIT_CONC:-8 32}; do
		dflt="chan hosted hosted-sh supergw mcp-proxy"
		[ -z "$base_mcpd" ] || dflt="chan hosted hosted-b hosted-sh hosted-sh-b supergw mcp-proxy"
		for p in ${CPUSPLIT_PATHS:-$dflt}; do
			cpu_split_one "$p" "$c" "$secs"
		done
	done
	echo
	echo "System calls per call in the serving process (strace -f -c, its own window; tracing slows it, the counts per call stand):"
	echo
	sed 's/^/    /' "$work/cs.strace"
	echo
}

cpu_split_one() {
	p=$1 c=$2 secs=$3
	set -- $(tool_of "$p")
	"$bin/gw_load" --chan sim:70:agent -c "$c" -d 100000 -w 0 --ready 120 \
		--tool "$1" --args "$2" >/dev/null 2>>"$work/load.err" &
	lp=$!
	start=$(calls_of "$p")
	i=0
	while [ $i -lt 1200 ] && [ "$(calls_of "$p")" -lt $((start + c + 100)) ]; do
		sleep 0.1
		i=$((i + 1))
	done
	sleep "$warm"
	roots="gw_load:$lp gatewayd:$pid_gw $(roots_of "$p")"
	n0=$(calls_of "$p")
	t0=$(date +%s%N)
	cs_snap "$work/cs.a" $roots
	sleep "$secs"
	cs_snap "$work/cs.b" $roots
	t1=$(date +%s%N)
	n1=$(calls_of "$p")
	w=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
	cs_report "$work/cs.a" "$work/cs.b" $((n1 - n0)) "$w" >"$work/cs.rep"
	cs_row "$p" "$c" "$work/cs.rep"
	case $p in
	chan | hosted*)
		spid=${roots##*:}
		strace -f -c -q -p "$spid" -o "$work/cs.st" 2>/dev/null &
		sp=$!
		sleep 0.5
		s0=$(calls_of "$p")
		sleep "$secs"
		s1=$(calls_of "$p")
		kill -INT "$sp" 2>/dev/null
		wait "$sp" 2>/dev/null || true
		{
			echo "$p, $c sessions: $((s1 - s0)) calls"
			# strace -c rows: % time, seconds, usecs/call, calls,
			# [errors,] syscall
			awk -v n=$((s1 - s0)) '$NF ~ /^[a-z_0-9]+$/ && $4 ~ /^[0-9]+$/ && $NF != "total" && n > 0 {
				printf "  %-16s %6.2f per call\n", $NF, $4 / n }' "$work/cs.st" | sort -k2 -rn | head -12
		} >>"$work/cs.strace"
		;;
	esac
	kill "$lp" 2>/dev/null
	wait "$lp" 2>/dev/null || true
	sleep 1 # the sessions end, their children stop
}

# cs_row PATH SESSIONS REPORT: one markdown row.
cs_row() {
	awk -v p="$1" -v c="$2" '
		{ cpu[$1] = $2; vol[$1] = $3; inv[$1] = $4; np[$1] = $5 }
		$1 ~ /^mcpd\// || $1 ~ /^bridge\// { sk = $1; sub(/^[a-z]+\//, "", sk)
			srv += $2; sv += $3; si += $4
			thr = thr sprintf("%s%s %.1f", thr == "" ? "" : ", ", sk, $2) }
		$1 ~ /^gw_load\// { gl += $2; gv += $3; gi += $4 }
		$1 ~ /^gatewayd\// { gd += $2; dv += $3; di += $4 }
		$1 ~ /\.child$/ { ch += $2; chv += $3; chi += $4; chn += $5 }
		$1 == "window" { mw = $2; rate = $4 }
		END { busy = gl + gd + srv + ch
			printf "| %s | %s | %d | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f (%s) | %.1f (%d) | %.1f | %.1f/%.1f, %.1f/%.1f, %.1f/%.1f, %.1f/%.1f |\n",
				p, c, rate, mw, cpu["idle"], busy, gl, gd, srv, thr, ch, chn, cpu["other"],
				gv, gi, dv, di, sv, si, chv, chi }' "$3"
}
