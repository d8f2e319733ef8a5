# bench/mcp/lib.sh: what run.sh and ab.sh share, sourced by both: the
# servers they started ($pids) are stopped and their work directory
# ($work) removed when they exit, and field reads KEY=VALUE output.

pids=""
cleanup() {
	for p in $pids; do
		kill "$p" 2>/dev/null || true
	done
	for p in $pids; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE

# field KEY: the value of KEY=VALUE in the words of stdin.
field() { tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'; }
