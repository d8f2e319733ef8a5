#!/bin/sh
# Numbers and addresses on the command lines of the real binaries go
# through zg_common's parsers: text strtol would take (" 5", "+5"), trailing
# junk, overflow, negatives and unbracketed IPv6 are refused with exit 2,
# while a good value is accepted. Fails if a call site goes back to a
# hand-rolled parser with weaker checks. Env: MCPD, GATEWAYD (binaries).
set -u
. "$(dirname "$0")/daemons.sh"
zg_need MCPD GATEWAYD
fail=0

# expect RC CMD...: CMD (stdin empty, output dropped) exits with RC.
expect() {
	want=$1
	shift
	"$@" </dev/null >/dev/null 2>&1
	got=$?
	if [ "$got" -ne "$want" ]; then
		echo "FAIL: exit $got, expected $want: $*" >&2
		fail=1
	fi
}

for bad in ' 5' '+5' '5x' '' '-1' '0x10' '99999999999999999999'; do
	expect 2 "$MCPD" --workers "$bad" --help
	expect 2 "$GATEWAYD" --drain-timeout "$bad" --help
done
expect 2 "$MCPD" --workers 257 --help
expect 2 "$GATEWAYD" --drain-timeout 3601 --help
for bad in '::1:80' '[::1:80' '[::1]80' '127.0.0.1:+80' '127.0.0.1: 80' \
	'127.0.0.1:65536' ':80' '127.0.0.1'; do
	expect 2 "$MCPD" --http "$bad" --help
done
expect 0 "$MCPD" --workers 5 --http '[::1]:0' --help
expect 0 "$GATEWAYD" --drain-timeout 5 --help
[ $fail -eq 0 ] && echo "ok: hostile numbers and addresses refused"
exit $fail
