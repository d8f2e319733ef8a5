#!/usr/bin/env bash
# End-to-end test of zonectl's supervisor (docs/zones.md, "zonectl up"):
# `up --detach` of a system with a sandboxed mcpd tool zone and a
# sandboxed agent zone whose script calls the tool through its relay and
# the gateway; ps --json, logs, a second up refused, stop/start and
# restart of the tool zone while the agent calls it (calls fail cleanly,
# then work again), a crashed zone restarted by "restart": "on-failure",
# collect, reload adding and removing a zone (gatewayd, same pid, takes
# the new tool zone in and lets the removed one go), lifecycle records in the
# audit log and metrics, refused zone-event requests, a hostile control
# client, down leaving no process behind, and the zones dying with a
# killed supervisor.
# Usage: supervisor.sh ZONECTL GATEWAYD MCPD RELAY ZONE_PROBE
# (as root; 77 = skipped)
set -u
ZONECTL=$1
export ZONEGATE_GATEWAYD=$2
MCPD=$3
RELAY=$4
PROBE=$5
. "$(dirname "$0")/sup-scratch.sh"
zs_scratch zsup
if ! command -v python3 >/dev/null; then echo "SKIP: python3 missing"; exit 77; fi

# The agent: one MCP session through the relay after another, each with
# one tools/call; the responses go to its console (the zone's log), a
# count to files.out.
cat >"$S/agent.sh" <<'EOF'
n=0
while :; do
  n=$((n + 1))
  printf '%s\n' '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"a","version":"1"}}}' \
    '{"jsonrpc":"2.0","method":"notifications/initialized"}' \
    '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"tools.time_now","arguments":{}}}' |
    /zg/relay --chan "$ZONEGATE_CHAN" --connect-timeout 2000 2>&1 | grep '"id":1'
  echo "$n" >/out/count
  sleep 0.2
done
EOF
# A sanitizer build's mcpd and relay must not run LeakSanitizer in a zone
# (its exit-time ptrace is refused there; docs/zones.md).
ENVZ='{"ASAN_OPTIONS": "detect_leaks=0"}'
# tool zone line, optionally a second one (reload)
tool2() {
	cat <<EOF
  "tools2": {"domid": 33, "role": "tool", "chan": "sim:33:mcp",
     "run": {"command": ["/zg/mcpd", "--chan", "sim:33:mcp"],
             "files": {"in": {"/zg/mcpd": "$MCPD"}}, "env": $ENVZ}},
EOF
}
config() {
	local tickcmd=${TICKCMD:-'["/bin/true"]'}
	cat >"$S/gw.json" <<EOF
{ "zones": {
  "tools": {"domid": 31, "role": "tool", "chan": "sim:31:mcp",
     "run": {"command": ["/zg/mcpd", "--chan", "sim:31:mcp"],
             "files": {"in": {"/zg/mcpd": "$MCPD"}},
             "restart": "on-failure", "env": $ENVZ}},
  $1
  "agent": {"domid": 32, "role": "agent", "chan": "sim:32:agent",
     "run": {"command": ["/bin/sh", "/zg/agent.sh"],
             "files": {"in": {"/zg/relay": "$RELAY", "/zg/agent.sh": "$S/agent.sh"},
                       "out": {"zone": "/out", "host": "$S/agent-out"}},
             "limits": {"memory": "256m", "pids": 128}, "env": $ENVZ}},
  "hog": {"domid": 34, "role": "agent", "chan": "sim:34:hog",
     "run": {"command": ["/zg/probe", "memory", "512"],
             "files": {"in": {"/zg/probe": "$PROBE"}},
             "limits": {"memory": "64m", "pids": 64}}},
  "tick": {"domid": 35, "role": "agent", "chan": "sim:35:tick",
     "run": {"command": $tickcmd, "restart": "always"}}
  },
  "policy": "a.policy", "audit_log": "audit.log", "admin_socket": "gw.sock",
  "call_timeout_ms": 5000,
  "metrics": "unix:$S/metrics.sock" }
EOF
}
config ""
echo 'agent tools.time_now allow' >"$S/a.policy"

# wait_for N CMD...: until CMD succeeds, N tenths of a second at most
wait_for() {
	local n=$1
	shift
	for _ in $(seq "$n"); do "$@" && return 0; sleep 0.1; done
	return 1
}
oks() { grep -c 'The current UTC time' "$S/state/logs/agent.log"; }
errs() { grep -c '"id":1,"error".*unavailable' "$S/state/logs/agent.log"; }
more_oks() { [ "$(oks)" -gt "$1" ]; }
ps_field() { # ps_field ZONE FIELD
	zc ps --json | python3 -c 'import json,sys
z=[z for z in json.load(sys.stdin)["zones"] if z["name"]==sys.argv[1]]
print(z[0][sys.argv[2]] if z else "none")' "$1" "$2"
}
state_is() { [ "$(ps_field "$1" state)" = "$2" ]; }
# every pid below $1 (its descendants), one a line
tree() {
	local c
	for c in $(pgrep -P "$1"); do echo "$c"; tree "$c"; done
}

# ---- up ----
out=$(zc up --detach 2>&1)
rc=$?
echo "$out"
if [ $rc = 0 ] && echo "$out" | grep -q '^tools .*tool .*31 .* ready ' &&
	echo "$out" | grep -q '^agent .*agent .*32 .* ready .*uid 100032'; then
	pass "up --detach: both zones ready, isolation printed"
else
	fail "up --detach ($rc)"
fi
SUP=$(cat "$S/state/supervisor.pid")
perm=$(stat -c %a "$S/state/control.sock")$(stat -c %a "$S/state/logs")
[ "$perm" = 600700 ] && pass "control socket mode 0600, logs 0700" || fail "modes $perm"

# ps --json
zc ps --json >"$S/ps.json"
if python3 - "$S/ps.json" <<'EOF'; then pass "ps --json: zones, roles, states, isolation, limits"; else fail "ps --json: $(cat "$S/ps.json")"; fi
import json, sys
r = json.load(open(sys.argv[1]))
z = {e["name"]: e for e in r["zones"]}
assert r["ok"] and set(z) == {"tools", "agent", "hog", "tick"}, z.keys()
assert r["zones"][0]["name"] == "tools" # tool zones first
t, a = z["tools"], z["agent"]
assert t["role"] == "tool" and t["domid"] == 31 and t["pid"] > 0
assert t["state"] == "ready" and t["sandboxed"] is True
assert "seccomp yes" in t["isolation"] and "fresh root" in t["isolation"]
assert a["role"] == "agent" and a["pid"] > 0 and a["state"] in ("running", "ready")
assert a["limits"]["memory"] == 256 << 20 and a["limits"]["pids"] == 128
assert a["limits"]["memory_applied"] in (True, False)
assert r["gatewayd"]["pid"] > 0
EOF

# an MCP call from the agent zone reaches the sandboxed tool zone
wait_for 150 more_oks 1 && pass "agent zone's calls reach the sandboxed tool zone ($(oks))" ||
	fail "no call from the agent zone got through: $(tail -5 "$S/state/logs/agent.log")"

# logs
zc logs agent -n 3 >"$S/l3"
n=$(wc -l <"$S/l3")
bad=$(grep -cvE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z ' "$S/l3")
[ "$n" = 3 ] && [ "$bad" = 0 ] && pass "logs -n 3: three timestamped lines" ||
	fail "logs -n 3: $n lines, $bad unstamped"
zc logs tools -n 100 | grep -q 'mcpd: serving on channel sim:31:mcp' &&
	pass "logs of the tool zone show mcpd's stderr" || fail "tool zone's log"
zc logs nosuch >/dev/null 2>&1 && fail "logs of an unknown zone" || pass "logs of an unknown zone refused"

# logs -f: lines arrive as the zone writes them
zc logs agent -f -n 0 >"$S/follow" &
FP=$!
fcount() { [ "$(grep -c 'The current UTC time' "$S/follow")" -ge 2 ]; }
wait_for 300 fcount && pass "logs -f follows the zone's console" || fail "logs -f"
kill "$FP"
wait "$FP" 2>/dev/null

# a second up on the same config refuses
out=$(zc up --detach 2>&1)
rc=$?
[ $rc != 0 ] && echo "$out" | grep -q "already runs" &&
	pass "second up refused: $out" || fail "second up ($rc): $out"

# stop the tool zone: the agent's calls fail cleanly; start: they work
zc stop tools >/dev/null || fail "stop tools"
e0=$(errs)
more_errs() { [ "$(errs)" -gt "$e0" ]; }
wait_for 150 more_errs && pass "calls fail cleanly while the tool zone is stopped" ||
	fail "no clean failure while stopped"
state_is tools stopped && pass "ps: tools $(ps_field tools state)" ||
	fail "ps after stop: $(ps_field tools state)"
o0=$(oks)
zc start tools >/dev/null || fail "start tools"
wait_for 600 more_oks "$o0" && pass "calls work again after start" || fail "calls after start"

# restart while the agent calls
o0=$(oks)
zc restart tools >/dev/null || fail "restart tools"
# (a call sent while the zone restarts may wait for the gateway's call
# deadline, 5 s here: the waits are generous, nothing is timed)
wait_for 600 state_is tools ready && wait_for 600 more_oks "$o0" &&
	pass "restart: ready again, calls work again" ||
	fail "after restart: $(ps_field tools state), $(oks) calls, $(tail -3 "$S/state/logs/agent.log")"
[ "$(ps_field tools restarts)" = 1 ] && pass "restart counted" ||
	fail "restarts $(ps_field tools restarts)"

# a crash (mcpd killed inside the zone) is restarted by on-failure
BW=$(ps_field tools pid)
MP=
for p in $(tree "$BW"); do
	[ "$(cat /proc/"$p"/comm 2>/dev/null)" = mcpd ] && MP=$p
done
if [ -n "$MP" ]; then
	kill -9 "$MP"
	restarted() { [ "$(ps_field tools restarts)" = 2 ] && state_is tools ready; }
	wait_for 200 restarted && pass "crashed tool zone restarted by on-failure" ||
		fail "crash not restarted: $(ps_field tools state) $(ps_field tools restarts)"
	o0=$(oks)
	wait_for 600 more_oks "$o0" && pass "calls work after the crash restart" ||
		fail "calls after the crash"
else
	fail "mcpd not found below the zone's pid $BW"
fi

# collect: files.out copied back now, while the zone runs
zc collect agent >/dev/null && [ -s "$S/agent-out/count" ] &&
	pass "collect: files.out copied back ($(cat "$S/agent-out/count"))" ||
	fail "collect"

# lifecycle events: audit records and metrics
for ev in started killed exited restarted; do
	grep -q "\"zone\":\"tools\",\"method\":\"zone/$ev\"" "$S/audit.log" &&
		pass "audit: zone/$ev of tools" || fail "audit: no zone/$ev"
done
# the memory hog (64m limit, 512 MiB asked, restart "no"): killed by its
# limit, reported as oom, not restarted
grep -q '"zone":"hog","method":"zone/oom".*"oom_killed":true' "$S/audit.log" &&
	[ "$(ps_field hog oom_killed)" = True ] && [ "$(ps_field hog state)" = exited ] &&
	[ "$(ps_field hog restarts)" = 0 ] &&
	pass "memory hog: zone/oom audited, exited, not restarted" ||
	fail "hog: $(grep '"hog"' "$S/audit.log" | tail -2) $(ps_field hog state)"
# restart "always": a command that ends with status 0 is started again
# (with back-off: 250 ms, 500 ms, 1 s, ...)
ticked() { [ "$(ps_field tick restarts)" -ge 3 ]; }
wait_for 150 ticked && grep -q '"zone":"tick","method":"zone/restarted"' "$S/audit.log" &&
	pass "restart always: tick restarted $(ps_field tick restarts) times" ||
	fail "tick: $(ps_field tick restarts) restarts, $(ps_field tick state)"
grep -q '"zone":"agent","method":"zone/started"' "$S/audit.log" &&
	pass "audit: zone/started of agent" || fail "audit: agent started"
curl -s --unix-socket "$S/metrics.sock" http://x/metrics >"$S/metrics"
grep -q '^zonegate_zone_events_total{zone="tools",event="restarted"} 2$' "$S/metrics" &&
	pass "metric zonegate_zone_events_total counts 2 restarts" ||
	fail "metrics: $(grep zone_events "$S/metrics")"

# The gateway refuses zone events for unknown zones and events, and
# details that are not small (names are the config's, never the caller's)
adm() {
	python3 - "$S/gw.sock" "$1" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n"); print(s.makefile().readline().strip())
EOF
}
for req in '{"cmd":"zone-event","zone":"nope","event":"started"}' \
	'{"cmd":"zone-event","zone":"tools","event":"pwned"}' \
	'{"cmd":"zone-event","zone":"tools","event":"exited","detail":{"x":"'"$(head -c 300 /dev/zero | tr '\0' a)"'"}}' \
	'{"cmd":"zone-event","zone":"tools","event":"exited","detail":{"Bad-Key":1}}' \
	'{"cmd":"connect","zone":"agent"}'; do
	r=$(adm "$req")
	echo "$r" | grep -q '"ok": *false' && pass "gateway refuses ${req:0:60}: $r" ||
		fail "gateway took $req: $r"
done
grep -q 'pwned\|"nope"' "$S/audit.log" && fail "refused events audited" || true

# A hostile control client: garbage, oversize, NUL, bad fields; the
# supervisor answers each with an error and keeps serving.
python3 - "$S/state/control.sock" >"$S/hostile" <<'EOF'
import socket, sys
def ask(data, shut=True):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
    try:
        s.sendall(data)
    except OSError:
        pass
    if shut:
        s.shutdown(socket.SHUT_WR)
    s.settimeout(15)
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except OSError:
        pass
    print(out.split(b"\n")[0].decode(errors="replace"))
ask(b"garbage\n")
ask(b"x" * 100000)
ask(b'{"cmd":"ps"\x00}\n')
ask(b'{"cmd":"stop","zone":"nosuch"}\n')
ask(b'{"cmd":"logs","zone":"agent","n":-1}\n')
ask(b'{"cmd":"rm -rf /"}\n')
ask(b'[1,2,3]\n')
ask(b'{"cmd":"ps","cmd":"down"}\n')
EOF
nerr=$(grep -c '"ok":false' "$S/hostile")
[ "$nerr" = 8 ] && pass "hostile control client: 8 clear errors" ||
	fail "hostile control client: $(cat "$S/hostile")"
grep -q 'longer than 4096' "$S/hostile" && pass "oversize request named" || fail "oversize"
kill -0 "$SUP" && zc ps >/dev/null && pass "supervisor still serves" || fail "supervisor gone"
# Only root may use the control socket: opened up by hand (directory
# 0755, socket 0666), an ordinary user still gets no answer (the
# supervisor's SO_PEERCRED check); root does.
chmod 755 "$S/state"
chmod 666 "$S/state/control.sock"
r=$(setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 - "$S/state/control.sock" 2>&1 <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
try:
    s.sendall(b'{"cmd":"down"}\n'); s.settimeout(10)
    print(s.recv(1000).decode() or "closed")
except OSError as e: # turned away before or after the request
    print("closed:", e)
EOF
)
chmod 711 "$S/state"
chmod 600 "$S/state/control.sock"
case "$r" in closed*) kill -0 "$SUP" ;; *) false ;; esac &&
	pass "a non-root peer is turned away ($r)" || fail "non-root peer: $r"

# reload: a new zone's run block starts, a removed one stops
gw_pid() { zc ps --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["gatewayd"]["pid"])'; }
GW0=$(gw_pid)
config "$(tool2)"
zc reload >"$S/reload" && grep -q '"added":1' "$S/reload" &&
	pass "reload: $(cat "$S/reload")" || fail "reload: $(cat "$S/reload")"
wait_for 100 state_is tools2 running || wait_for 100 state_is tools2 ready
T2=$(ps_field tools2 pid)
[ "$T2" != none ] && [ "$T2" -gt 0 ] && kill -0 "$T2" && pass "tools2 runs (pid $T2)" ||
	fail "tools2 not started"
# ...and gatewayd applied the new zones object: it connected to tools2
# and has its catalogue (no gatewayd restart: its pid is the same)
gw_health() { # gw_health TOOLZONE: up, connecting, down, or none
	adm '{"cmd":"status"}' | python3 -c 'import json,sys
z=[z for z in json.load(sys.stdin)["zones"]
   if z["zone"]==sys.argv[1] and z["role"]=="tool"]
print(z[0]["health"] if z else "none")' "$1"
}
health_is() { [ "$(gw_health "$1")" = "$2" ]; }
wait_for 100 health_is tools2 up && [ "$(gw_pid)" = "$GW0" ] &&
	pass "gatewayd (same pid) took tools2 in: $(gw_health tools2)" ||
	fail "gatewayd's view of tools2: $(gw_health tools2)"
config ""
kill -HUP "$SUP" # SIGHUP reloads too
gone2() { [ "$(ps_field tools2 state)" = none ] && ! kill -0 "$T2" 2>/dev/null; }
wait_for 100 gone2 && pass "SIGHUP reload: tools2 stopped and gone" || fail "tools2 still there"
wait_for 100 health_is tools2 none && pass "gatewayd let tools2 go" ||
	fail "gatewayd still lists tools2: $(gw_health tools2)"
echo '{ broken' >"$S/gw.json.new"
cp "$S/gw.json" "$S/gw.json.good"
mv "$S/gw.json.new" "$S/gw.json"
zc reload >/dev/null 2>"$S/reload" && fail "broken config reloaded" ||
	{ grep -q 'config kept' "$S/reload" && pass "broken config kept the old one: $(cat "$S/reload")" ||
		fail "broken reload: $(cat "$S/reload")"; }
cp "$S/gw.json.good" "$S/gw.json"
# A changed run block applies from the zone's next start (tick restarts
# itself at once: restart always). Seen to fail: with the reload keeping
# the old block, tick never says tick-v2.
TICKCMD='["/bin/sh", "-c", "echo tick-v2"]' config ""
zc reload >/dev/null
tick_v2() { zc logs tick -n 200 2>/dev/null | grep -q 'tick-v2'; }
wait_for 100 tick_v2 && pass "a changed run block applies at the zone's next start" ||
	fail "tick still runs its old run block"

# down: every process of the run gone (supervisor, gatewayd, zones and
# everything below them)
PIDS="$SUP $(tree "$SUP")"
zc down >/dev/null || fail "down"
gone() { for p in $PIDS; do kill -0 "$p" 2>/dev/null && return 1; done; return 0; }
wait_for 100 gone && pass "down: none of $(echo $PIDS | wc -w) processes remains" ||
	fail "down left: $(for p in $PIDS; do kill -0 "$p" 2>/dev/null && ps -o pid=,comm= -p "$p"; done)"
[ ! -e "$S/state/control.sock" ] && pass "control socket removed" || fail "control socket left"
# the detached supervisor's own messages (a sanitizer's report included)
grep -q Sanitizer "$S/state/logs/supervisor.log" &&
	fail "supervisor: $(grep -A20 Sanitizer "$S/state/logs/supervisor.log")" ||
	pass "supervisor.log without a sanitizer report"
find /sys/fs/cgroup/ -maxdepth 6 -type d -name "zonegate-*-$SUP-*" 2>/dev/null | grep -q . &&
	fail "cgroups left" || pass "no cgroup left"

# the zones die with a killed supervisor (no orphans)
zc up --detach >/dev/null || fail "up again"
SUP=$(cat "$S/state/supervisor.pid")
PIDS="$(tree "$SUP")"
OLDSTAGE=$(ls "$S/state/stage")
kill -9 "$SUP"
wait_for 100 gone && pass "supervisor killed: its $(echo $PIDS | wc -w) processes died with it" ||
	fail "orphans left: $(for p in $PIDS; do kill -0 "$p" 2>/dev/null && ps -o pid=,comm= -p "$p"; done)"
# the next up (in the foreground: SIGTERM is its down) sweeps the
# cgroups the killed supervisor could not remove
"$ZONECTL" --config "$S/gw.json" up >"$S/fg" 2>&1 &
FG=$!
fgready() { grep -q '^supervisor pid' "$S/fg"; }
wait_for 300 fgready && pass "foreground up ready" || fail "foreground up: $(cat "$S/fg")"
find /sys/fs/cgroup/ -maxdepth 6 -type d -name "zonegate-*-$SUP-*" 2>/dev/null | grep -q . &&
	fail "the killed supervisor's cgroups stayed" ||
	pass "the killed supervisor's cgroups swept by the next up"
left=
for d in $OLDSTAGE; do [ -e "$S/state/stage/$d" ] && left="$left $d"; done
[ -n "$OLDSTAGE" ] && [ -z "$left" ] &&
	pass "the killed supervisor's staging swept ($(echo $OLDSTAGE))" ||
	fail "staging of the killed supervisor: [$OLDSTAGE] left [$left]"
PIDS="$FG $(tree "$FG")"
kill -TERM "$FG"
wait "$FG"
rc=$?
wait_for 100 gone && [ $rc = 0 ] && pass "SIGTERM to a foreground up: all $(echo $PIDS | wc -w) processes gone" ||
	fail "foreground up after SIGTERM ($rc): $(tail -40 "$S/fg")"

echo "$FAILS failures"
[ "$FAILS" = 0 ]
