# Shared by the gateway's shell tests (sourced): binaries from the
# environment, a scratch directory with its own sim rendezvous, cleanup of
# the started daemons, and waiting for gatewayd's tool zones.

# gw_need VAR...: each named variable must hold an executable's path.
gw_need() {
	for v in "$@"; do
		eval "b=\${$v:-}"
		[ -x "$b" ] || { echo "$(basename "$0"): $* required (paths of the binaries)" >&2; exit 2; }
	done
}

# gw_workdir NAME: sets work (a fresh directory) and ZONEGATE_SIM_DIR;
# on exit every pid in $pids is stopped and the directory removed.
gw_workdir() {
	work=$(mktemp -d "${TMPDIR:-/tmp}/zg-$1.XXXXXX") || exit 2
	export ZONEGATE_SIM_DIR=$work/sim
	pids=
	trap gw_cleanup EXIT
}

gw_cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$work"
}

# gw_wait_up N: until $work/gw.log reports N tool zones up (10 s at most;
# the log may not exist yet when this starts).
gw_wait_up() {
	i=0
	while [ $i -lt 200 ] &&
	      [ "$(cat "$work/gw.log" 2>/dev/null | grep -c ' up: ')" -lt "$1" ]; do
		sleep 0.05
		i=$((i + 1))
	done
}
