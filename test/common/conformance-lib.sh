# Shell functions shared by the conformance runners that reach mcpd through
# zonegate-relay (test/vchan, test/gateway). Source it; it uses $work,
# $node, $suite_js and sets $url and $rpid.

# zg_start_relay NAME CHAN LOGS...: starts the relay's loopback HTTP
# endpoint on CHAN and waits for its URL; on failure prints LOGS and exits.
zg_start_relay() {
	_name=$1 _chan=$2
	shift 2
	"$RELAY" --chan "$_chan" --connect-timeout 10000 \
		--http 127.0.0.1:0 --ready-file "$work/ready" 2>"$work/relay.log" &
	rpid=$!
	_i=0
	while [ $_i -lt 300 ] && [ ! -s "$work/ready" ]; do
		kill -0 "$rpid" 2>/dev/null || break
		sleep 0.05
		_i=$((_i + 1))
	done
	url=$(cat "$work/ready" 2>/dev/null)
	case "$url" in
	*/mcp) ;;
	*)
		echo "$_name: relay not ready" >&2
		cat "$work/relay.log" "$@" >&2
		exit 1
		;;
	esac
}

# zg_run_scenarios SCENARIOS: runs each scenario against $url; returns 1
# if any has a FAILURE check or does not run.
zg_run_scenarios() {
	_fail=0
	for _s in $1; do
		if "$node" "$suite_js" server --url "$url" --scenario "$_s" \
			>"$work/$_s.log" 2>&1 &&
			! grep -qE "FAILURE|, [1-9][0-9]* failed" "$work/$_s.log"; then
			echo "ok   $_s"
		else
			echo "FAIL $_s"
			tail -n 30 "$work/$_s.log"
			_fail=1
		fi
	done
	return $_fail
}
