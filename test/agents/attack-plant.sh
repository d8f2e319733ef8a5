# Shared by the attack battery tests (sourced, bash): plants the targets a
# demo would, in a scratch directory H, and checks the battery's results.
#   at_plant H     secret, llm.key, victim, mode (0644), other/ (0777),
#                  a victim process (pid in H/victim.pid, a SIGCONT it gets
#                  is logged in H/cont), a loopback HTTP listener serving a
#                  metadata-like /latest/meta-data/ (port in AT_PORT,
#                  requests in H/http.log); at_unplant stops them.
#   at_obs FILE ATTACK [PROBE]   the observed value in the results FILE
# Needs python3 and the pass/fail functions of the caller.
AT_PIDS=
at_plant() {
	local h=$1
	mkdir -p "$h/other" "$h/www/latest/meta-data"
	echo "ami-id instance-id iam" >"$h/www/latest/meta-data/index.html"
	chmod 755 "$h"
	chmod 777 "$h/other"
	echo "the host's secret $RANDOM$RANDOM" >"$h/secret"
	echo "sk-attack-test-$RANDOM$RANDOM$RANDOM" >"$h/llm.key"
	echo "the victim file" >"$h/victim"
	echo "mode" >"$h/mode"
	chmod 644 "$h/secret" "$h/llm.key" "$h/victim" "$h/mode"
	bash -c 'trap "echo cont >>\"$1/cont\"" CONT; while :; do sleep 0.2; done' \
		_ "$h" &
	echo $! >"$h/victim.pid"
	AT_PIDS="$AT_PIDS $!"
	: >"$h/http.log"
	python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$h/www" \
		>"$h/http.log" 2>&1 &
	AT_PIDS="$AT_PIDS $!"
	for _ in $(seq 100); do
		AT_PORT=$(sed -n 's/^Serving HTTP on .* port \([0-9]*\) .*/\1/p' "$h/http.log")
		[ -n "$AT_PORT" ] && break
		sleep 0.1
	done
	[ -n "$AT_PORT" ] || { echo "FAIL: the HTTP listener did not start"; exit 1; }
}
at_unplant() {
	local p
	for p in $AT_PIDS; do kill "$p" 2>/dev/null; done
	AT_PIDS=
}
# the observed value of ATTACK (or of its PROBE, the first of that name)
at_obs() {
	python3 - "$@" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
a = [a for a in r["attacks"] if a["name"] == sys.argv[2]]
if not a:
    print("missing"); sys.exit()
if len(sys.argv) > 3:
    p = [p for p in a[0]["probes"] if p["probe"] == sys.argv[3]]
    print(p[0]["observed"] if p else "missing")
else:
    print(a[0]["observed"])
EOF
}
# at_expect FILE ATTACK [PROBE] VALUE
at_expect() {
	local want=${*: -1} got
	got=$(at_obs "${@:1:$#-1}")
	if [ "$got" = "$want" ]; then
		pass "${*:2:$#-2}: $want"
	else
		fail "${*:2:$#-2}: expected $want, got $got: $(at_evidence "${@:1:$#-1}")"
	fi
}
at_evidence() {
	python3 - "$@" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
a = [a for a in r["attacks"] if a["name"] == sys.argv[2]]
if a and len(sys.argv) > 3:
    a = [p for p in a[0]["probes"] if p["probe"] == sys.argv[3]]
print(a[0]["evidence"] if a else "")
EOF
}
# every attack and probe of the results FILE, one a line
at_show() {
	python3 - "$1" <<'EOF'
import json, sys
for a in json.load(open(sys.argv[1]))["attacks"]:
    print(a["name"], a["observed"])
    for p in a["probes"]:
        print("   ", p["probe"], p["observed"], "|", p["evidence"][:110])
EOF
}
