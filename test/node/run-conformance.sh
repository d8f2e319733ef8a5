#!/bin/sh
# Runs the official MCP conformance suite (server side) against
# `mcpd-test --http 127.0.0.1:0 --fixtures conformance`: the frozen
# requirement set of one revision (`--requirements REV`), which also runs
# that revision's unscored (pending, extension, added-after-release)
# scenarios. Without an expected-failures file it fails unless every
# server scenario run passes, unscored ones included; with one, the suite
# decides: it fails on a failure not listed and on a listed one that passes.
# Env: MCPD_TEST (mcpd-test binary, required), NODE (node binary; default:
# the one in test/node/node_modules), ZG_CONFORMANCE_REQUIREMENTS (revision,
# default 2025-11-25), ZG_CONFORMANCE_EXPECTED (expected-failures YAML),
# ZG_CONFORMANCE_SCENARIO (run just one, at that revision's wire),
# ZG_CONFORMANCE_OUT (keep results), ZG_CONFORMANCE_VIA=chan (mcpd-test
# serves a sim channel, `zonegate-relay --http` carries the suite to it:
# one stream per session or stateless request; RELAY names the relay),
# ZG_CONFORMANCE_REQUIRED (unscored scenarios that must pass all the same,
# space-separated: the expected-failures file cannot hold them, since an
# unscored failure never fails the suite's run).
set -u

here=$(cd "$(dirname "$0")" && pwd)
node=${NODE:-$here/node_modules/.bin/node}
suite_js=$here/node_modules/@modelcontextprotocol/conformance/dist/index.js
rev=${ZG_CONFORMANCE_REQUIREMENTS:-2025-11-25}
expected=${ZG_CONFORMANCE_EXPECTED:-}

if [ -z "${MCPD_TEST:-}" ] || [ ! -x "$MCPD_TEST" ]; then
	echo "run-conformance: MCPD_TEST must name the mcpd-test binary" >&2
	exit 2
fi
if [ -n "$expected" ] && [ ! -f "$expected" ]; then
	echo "run-conformance: no expected-failures file $expected" >&2
	exit 2
fi
if [ ! -f "$suite_js" ]; then
	echo "run-conformance: conformance suite not installed ($suite_js)" >&2
	exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/zg-conformance.XXXXXX") || exit 2
out=${ZG_CONFORMANCE_OUT:-$work/results}
pid=
rpid=
via=${ZG_CONFORMANCE_VIA:-}
cleanup() {
	for p in $rpid $pid; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE

if [ "$via" = chan ]; then
	if [ -z "${RELAY:-}" ] || [ ! -x "$RELAY" ]; then
		echo "run-conformance: RELAY must name zonegate-relay" >&2
		exit 2
	fi
	export ZONEGATE_SIM_DIR="$work/sim"
	"$MCPD_TEST" --chan sim:5:conformance --fixtures conformance \
		2>"$work/mcpd.log" &
	pid=$!
	"$RELAY" --chan sim:5:conformance --connect-timeout 10000 \
		--http 127.0.0.1:0 --ready-file "$work/ready" \
		2>"$work/relay.log" &
	rpid=$!
else
	# Enough sessions for a whole run: the suite never DELETEs them.
	"$MCPD_TEST" --http 127.0.0.1:0 --ready-file "$work/ready" \
		--fixtures conformance --max-sessions 200 2>"$work/mcpd.log" &
	pid=$!
fi

i=0
url=
while [ $i -lt 300 ]; do
	if [ -s "$work/ready" ]; then
		url=$(cat "$work/ready")
		case "$url" in */mcp) break ;; esac
	fi
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "run-conformance: mcpd exited early:" >&2
		cat "$work/mcpd.log" >&2
		pid=
		exit 1
	fi
	sleep 0.05
	i=$((i + 1))
done
case "$url" in
*/mcp) ;;
*)
	echo "run-conformance: mcpd did not write a URL to its ready file" >&2
	cat "$work/mcpd.log" >&2
	exit 1
	;;
esac
echo "run-conformance: mcpd at $url${via:+ (through the relay to a channel)}"

if [ -n "${ZG_CONFORMANCE_SCENARIO:-}" ]; then
	set -- --scenario "$ZG_CONFORMANCE_SCENARIO" --spec-version "$rev"
else
	set -- --requirements "$rev"
fi
[ -n "$expected" ] && set -- "$@" --expected-failures "$expected"
mkdir -p "$out"
"$node" "$suite_js" server --url "$url" -o "$out" "$@" >"$work/suite.log" 2>&1
suite_rc=$?

"$node" "$here/conformance-summary.mjs" "$out" "$suite_js" "$rev" \
	"${ZG_CONFORMANCE_SCENARIO:-}"
sum_rc=$?
# With a baseline the suite's verdict stands (expected failures are
# failures the summary counts); the summary still shows every check.
[ -n "$expected" ] && sum_rc=0
for s in ${ZG_CONFORMANCE_REQUIRED:-}; do
	if ! "$node" "$here/conformance-summary.mjs" "$out" "$suite_js" "$rev" \
		"$s" >"$work/required.log"; then
		echo "run-conformance: required scenario $s failed:"
		cat "$work/required.log"
		sum_rc=1
	fi
done
sed -n '/^Total:/p' "$work/suite.log"

if ! kill -0 "$pid" 2>/dev/null; then
	echo "run-conformance: mcpd died during the run:" >&2
	tail -n 50 "$work/mcpd.log" >&2
	pid=
	exit 1
fi
if [ -n "$rpid" ]; then
	if ! kill -0 "$rpid" 2>/dev/null; then
		echo "run-conformance: the relay died during the run:" >&2
		tail -n 50 "$work/relay.log" >&2
		rpid=
		exit 1
	fi
	kill -TERM "$rpid"
	wait "$rpid"
	rpid=
fi
# A clean shutdown with the suite's sessions still open (and, in the
# sanitizer build, no leak report) is part of passing.
kill -TERM "$pid"
wait "$pid"
mcpd_rc=$?
pid=
if [ $mcpd_rc -ne 0 ]; then
	echo "run-conformance: mcpd exited with status $mcpd_rc on SIGTERM:" >&2
	tail -n 50 "$work/mcpd.log" >&2
	exit 1
fi
if [ $suite_rc -ne 0 ] || [ $sum_rc -ne 0 ]; then
	echo "--- conformance output (tail) ---"
	tail -n 80 "$work/suite.log"
	echo "--- mcpd stderr (tail) ---"
	tail -n 30 "$work/mcpd.log"
	exit 1
fi
exit 0
