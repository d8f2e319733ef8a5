#!/bin/sh
# gatewayctl's audit readers (logs, audit show, audit verify) with a FIFO
# where the audit log or a rotated file should be: each exits 2 at once
# with "not a regular file" naming the path, instead of blocking forever
# in open() (as a plain fopen does on a FIFO with no writer). The
# `timeout` only tells a hang (rc 124) from an answer; nothing is timed.
# Usage: ctl_fifo.sh GATEWAYCTL DATADIR
set -u
ctl=$1
src=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/zg-gwctl-fifo.XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT
cp -r "$src"/gatewayd.json "$src"/policy.d "$work"/
cfg=$work/gatewayd.json
fail=0

expect() { # expect WANT_RC WANT_OUTPUT CMD...
	want_rc=$1 want_out=$2
	shift 2
	out=$(timeout 10 "$ctl" --config "$cfg" "$@" 2>&1 </dev/null)
	rc=$?
	if [ "$rc" = 124 ]; then
		echo "FAIL: $* hung on the FIFO"
		fail=1
	elif [ "$rc" != "$want_rc" ] ||
		{ [ -n "$want_out" ] && ! printf '%s' "$out" | grep -qF -- "$want_out"; }; then
		echo "FAIL: $* -> rc=$rc out='$out' (want rc=$want_rc '$want_out')"
		fail=1
	else
		echo "ok   $*"
	fi
}

# The audit log itself is a FIFO.
mkfifo "$work/audit.log" || exit 2
expect 2 "audit.log: not a regular file" logs agent-a
expect 2 "audit.log: not a regular file" logs agent-a --lines 5
expect 2 "audit.log: not a regular file" audit show 1
expect 2 "audit.log: not a regular file" audit verify
# A regular log, but a rotated file beside it is a FIFO (audit show and
# verify read the rotated files too).
rm "$work/audit.log"
: > "$work/audit.log"
mkfifo "$work/audit.log.20260101T000000Z" || exit 2
expect 0 "" logs agent-a
expect 2 "audit.log.20260101T000000Z: not a regular file" audit show 1
expect 2 "audit.log.20260101T000000Z: not a regular file" audit verify
exit $fail
