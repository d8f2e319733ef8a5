#!/usr/bin/env bash
# zonectl up --no-sandbox (docs/zones.md, "The supervisor"): the same
# config brought up with every zone a plain process. Checks:
#  1. a config whose zones need the sandbox (files.in) is refused, naming
#     the zone, and nothing starts;
#  2. a config of plain-able zones comes up: ps reports every zone NOT
#     SANDBOXED (never more isolation than applied), gatewayd has the tool
#     zone up, and the tool zone's process runs as zonectl's own uid;
#  3. the same config without the flag comes up sandboxed (the control:
#     the flag is what made the difference);
#  4. --no-sandbox on another command is a usage error.
# Seen to fail: with the flag ignored (zones kept sandboxed), 2 fails.
# Usage: nosandbox.sh ZONECTL GATEWAYD MCPD (as root; 77 = skipped)
set -u
ZONECTL=$1
export ZONEGATE_GATEWAYD=$2
MCPD=$3
. "$(dirname "$0")/sup-scratch.sh"
zs_scratch znosb
ENVZ='{"ASAN_OPTIONS": "detect_leaks=0"}'
cp "$MCPD" "$S/bin/mcpd" # where a zone's uid can reach it
chmod 755 "$S/bin/mcpd"
MCPD=$S/bin/mcpd
# the tool zone runs mcpd by its host path (a plain process has no zone
# paths; a sandboxed one sees the host executable at the same path)
cat >"$S/gw.json" <<EOF
{ "zones": {
  "tools": {"domid": 61, "role": "tool", "chan": "sim:61:mcp",
     "run": {"command": ["$MCPD", "--chan", "sim:61:mcp"], "env": $ENVZ}},
  "idle": {"domid": 62, "role": "agent", "chan": "sim:62:idle",
     "run": {"command": ["/bin/sleep", "600"]}}
  },
  "policy": "a.policy", "audit_log": "audit.log", "admin_socket": "gw.sock" }
EOF
printf 'idle tools.time_now allow\n' >"$S/a.policy"
sed 's|"env": {|"files": {"in": {"/zg/x": "/bin/true"}}, "env": {|' "$S/gw.json" >"$S/files.json"

out=$("$ZONECTL" --config "$S/files.json" up --detach --no-sandbox 2>&1)
rc=$?
[ $rc != 0 ] && echo "$out" | grep -q 'zone tools: --no-sandbox: its run block has files' &&
	[ ! -e "$S/state/supervisor.pid" ] &&
	pass "a zone with files refused under --no-sandbox ($rc)" ||
	fail "files under --no-sandbox: $rc $out"

ps_json() { zc --json ps; }
field() { # field ZONE KEY
	ps_json | python3 -c 'import json,sys
z=[z for z in json.load(sys.stdin)["zones"] if z["name"]==sys.argv[1]]
print(z[0][sys.argv[2]] if z else "none")' "$1" "$2"
}
health() {
	python3 - "$S/gw.sock" <<'EOF'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b'{"cmd":"status"}\n'); d = b''
while True:
    b = s.recv(65536)
    if not b: break
    d += b
    if d.endswith(b'\n'): break
z = [z for z in json.loads(d)["zones"] if z["zone"] == "tools" and z["role"] == "tool"]
print(z[0]["health"] if z else "none")
EOF
}
out=$(zc up --detach --no-sandbox 2>&1)
rc=$?
echo "$out"
[ $rc = 0 ] && pass "up --no-sandbox" || fail "up --no-sandbox ($rc)"
for z in tools idle; do
	iso=$(field $z isolation)
	[ "$iso" = "NOT SANDBOXED" ] && [ "$(field $z sandboxed)" = False ] &&
		pass "$z reported NOT SANDBOXED" || fail "$z: isolation '$iso'"
done
pid=$(field tools pid)
uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
[ "$uid" = "$(id -u)" ] && pass "tools runs as zonectl's uid ($uid)" || fail "tools' uid: '$uid'"
for _ in $(seq 100); do [ "$(health)" = up ] && break; sleep 0.1; done
[ "$(health)" = up ] && pass "gatewayd has the plain tool zone up" || fail "tool zone: $(health)"
zc down >/dev/null 2>&1

out=$(zc up --detach 2>&1)
rc=$?
[ $rc = 0 ] && [ "$(field tools sandboxed)" = True ] &&
	case $(field tools isolation) in "uid 100061, "*) true ;; *) false ;; esac &&
	pass "without the flag: sandboxed ($(field tools isolation))" ||
	{ fail "without the flag: $rc $(field tools isolation)"; tail -5 "$S/state/logs/tools.log"; }
zc down >/dev/null 2>&1

"$ZONECTL" --config "$S/gw.json" --no-sandbox ps >/dev/null 2>&1
[ $? = 2 ] && pass "--no-sandbox elsewhere is a usage error" || fail "--no-sandbox with ps accepted"
echo "$FAILS failed"
[ $FAILS = 0 ]
