# bench/gateway/common.sh: what the gateway's benchmark scripts share
# (run.sh, fair.sh, capacity.sh), sourced once they have set $bin.
# bench_start TAG TOOL...: each TOOL must be built in $bin; makes the work
# directory $work (zg-TAG.XXXXXX, its sim directory exported), and on exit
# stops every process in $pids and removes $work.

bench_start() {
	_tag=$1
	shift
	for _f in "$@"; do
		[ -x "$bin/$_f" ] || {
			echo "$(basename "$0"): missing $bin/$_f (build first)" >&2
			exit 2
		}
	done
	work=$(mktemp -d "${TMPDIR:-/tmp}/zg-$_tag.XXXXXX")
	export ZONEGATE_SIM_DIR=$work/sim
	pids=
	trap cleanup EXIT
	trap 'exit 130' INT TERM
}

cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}

# field KEY: the value of KEY=VALUE among the words of stdin
field() { tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'; }
# median: of the numbers on stdin, one per line (0 for none)
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print 0 }'; }
