# Shell functions shared by the conformance runners that reach mcpd through
# the relay or the gateway (test/vchan, test/gateway). Source it after
# setting $here; it sets $node and $suite_js, and the functions use $work
# and set $url (the relay's pid joins $pids; see daemons.sh).

. "$here/../common/daemons.sh"

nodedir=$here/../node
node=${NODE:-$nodedir/node_modules/.bin/node}
suite_js=$nodedir/node_modules/@modelcontextprotocol/conformance/dist/index.js

# Every server scenario of the 2025-11-25 requirement set, plus the ones
# the suite runs for that revision without scoring them (pending,
# added after the release): mcpd passes them all.
zg_all_scenarios="server-initialize server-session-lifecycle
  logging-set-level ping
  completion-complete tools-list tools-call-simple-text tools-call-image
  tools-call-audio tools-call-embedded-resource tools-call-mixed-content
  tools-call-with-logging tools-call-error tools-call-with-progress
  tools-call-sampling tools-call-elicitation json-schema-2020-12
  elicitation-sep1034-defaults server-sse-polling server-sse-multiple-streams
  elicitation-sep1330-enums resources-list resources-read-text
  resources-read-binary resources-templates-read resources-subscribe
  resources-unsubscribe prompts-list prompts-get-simple prompts-get-with-args
  prompts-get-embedded-resource prompts-get-with-image
  dns-rebinding-protection"

# zg_need_binaries NAME VAR...: exits 2 unless each named variable names an
# executable and the suite is installed.
zg_need_binaries() {
	shift
	zg_need "$@"
	[ -f "$suite_js" ] || { echo "conformance suite not installed" >&2; exit 2; }
}

# zg_start_relay NAME CHAN LOGS...: starts the relay's loopback HTTP
# endpoint on CHAN and waits for its URL; on failure prints LOGS and exits.
zg_start_relay() {
	_name=$1 _chan=$2
	shift 2
	"$RELAY" --chan "$_chan" --connect-timeout 10000 \
		--http 127.0.0.1:0 --ready-file "$work/ready" 2>"$work/relay.log" &
	rpid=$!
	pids="$pids $rpid"
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

# The wire revision the scenarios run at (ZG_SPEC_VERSION; the suite
# runs a scenario differently for each revision it belongs to).
zg_spec=${ZG_SPEC_VERSION:-2025-11-25}

# zg_run_scenarios SCENARIOS: runs each scenario against $url at the
# $zg_spec wire; returns 1 if any has a FAILURE check or does not run.
zg_run_scenarios() {
	_fail=0
	for _s in $1; do
		if "$node" "$suite_js" server --url "$url" --scenario "$_s" \
			--spec-version "$zg_spec" \
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

# zg_byte_pipe SOCK: a TCP -> unix byte pipe to the socket SOCK on a free
# loopback port (the suite cannot reach a unix socket); sets url to its
# /mcp URL (its pid joins $pids).
zg_byte_pipe() {
	"$node" -e '
const net = require("node:net");
const s = net.createServer((c) => {
  const u = net.connect(process.argv[1]);
  c.pipe(u); u.pipe(c);
  c.on("error", () => u.destroy()); u.on("error", () => c.destroy());
});
s.listen(0, "127.0.0.1", () => console.log(s.address().port));
' "$1" >"$work/port" 2>"$work/pipe.log" &
	pids="$pids $!"
	zg_wait_log "$work/port" "[0-9]"
	url=http://127.0.0.1:$(cat "$work/port" 2>/dev/null)/mcp
}
