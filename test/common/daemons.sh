# Shell functions for the end-to-end scripts that start zonegate daemons
# (sourced): binaries from the environment, a scratch directory with its
# own sim rendezvous, waiting for a log line, and at the end checking and
# stopping every daemon started (each script adds its pids to $pids).

# zg_need VAR...: each named variable must hold an executable's path.
zg_need() {
	for _v in "$@"; do
		eval "_b=\${$_v:-}"
		[ -n "$_b" ] && [ -x "$_b" ] || {
			echo "$(basename "$0"): $* must name binaries" >&2
			exit 2
		}
	done
}

# zg_workdir NAME: sets work (a fresh directory) and ZONEGATE_SIM_DIR;
# on exit every pid in $pids is stopped and the directory removed.
zg_workdir() {
	work=$(mktemp -d "${TMPDIR:-/tmp}/zg-$1.XXXXXX") || exit 2
	export ZONEGATE_SIM_DIR=$work/sim
	pids=
	trap zg_cleanup EXIT
	trap 'exit 130' INT TERM
}

zg_cleanup() {
	for _p in $pids; do
		kill "$_p" 2>/dev/null
		wait "$_p" 2>/dev/null
	done
	rm -rf "$work"
}

# zg_wait_log FILE PATTERN [N]: until FILE has N (default 1) lines with
# PATTERN, 15 s at most (FILE may not exist yet when this starts).
zg_wait_log() {
	_i=0
	while [ $_i -lt 300 ] &&
	      [ "$(cat "$1" 2>/dev/null | grep -c -- "$2")" -lt "${3:-1}" ]; do
		sleep 0.05
		_i=$((_i + 1))
	done
}

# zg_gone PID: 0 once PID has exited (15 s at most), else 1.
zg_gone() {
	_i=0
	while [ $_i -lt 300 ] && kill -0 "$1" 2>/dev/null; do
		sleep 0.05
		_i=$((_i + 1))
	done
	! kill -0 "$1" 2>/dev/null
}

# zg_gatewayd N: starts $GATEWAYD on $work/gw.json (log $work/gw.log, pid
# in $gpid and $pids) and waits until it serves and N tool zones are up
# (N may be 0).
zg_gatewayd() {
	rm -f "$work/gw.ready"
	"$GATEWAYD" --config "$work/gw.json" --ready-file "$work/gw.ready" \
		2>"$work/gw.log" &
	gpid=$!
	pids="$pids $gpid"
	zg_wait_log "$work/gw.ready" ready
	[ "$1" -eq 0 ] || zg_wait_log "$work/gw.log" " up: " "$1"
}

# ok TEXT / bad TEXT: one line per check; bad sets fail=1 (scripts start
# with fail=0 and exit with it).
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=1; }

# zg_all_alive NAME LOG...: 0 if every daemon in $pids still runs, else
# says so, shows the LOGs' tails and returns 1.
zg_all_alive() {
	_name=$1
	shift
	for _p in $pids; do
		kill -0 "$_p" 2>/dev/null && continue
		echo "$_name: a daemon died" >&2
		tail -n 30 "$@" >&2
		return 1
	done
	return 0
}

# The relay sessions of the e2e scripts (need RELAY):
# zg_session NAME CHAN FD: a relay's stdio session on a fifo written on
# FD (initialized); its output in $work/NAME.out, its pid in rp_NAME and
# $pids.
zg_session() {
	rm -f "$work/$1.in"
	mkfifo "$work/$1.in"
	"$RELAY" --chan "$2" <"$work/$1.in" >"$work/$1.out" \
		2>"$work/$1.log" &
	eval "rp_$1=$!"
	pids="$pids $!"
	eval "exec $3>\"$work/$1.in\""
	echo '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"z","version":"1"}}}' >&"$3"
	echo '{"jsonrpc":"2.0","method":"notifications/initialized"}' >&"$3"
}

# zg_reply NAME ID: the line of NAME.out answering request ID (waits 15 s)
zg_reply() {
	zg_wait_log "$work/$1.out" "\"id\":$2,"
	grep -F "\"id\":$2," "$work/$1.out" | head -n 1
}
