# Shared by the zone test scripts (sourced): FAILS, pass, fail, and
# expect NAME CHECK blocked|ALLOWED on zone_probe's "CHECK" lines in
# $S/NAME.out (stderr of the run in $S/NAME.err).
FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
pass() { echo "ok: $*"; }
expect() {
	if grep -q "^CHECK $2 $3" "$S/$1.out"; then
		pass "$1: $2 $3"
	else
		fail "$1: $2 expected $3, got: $(grep "^CHECK $2 " "$S/$1.out" || echo none)"
		sed 's/^/    /' "$S/$1.err" | head -5
	fi
}
