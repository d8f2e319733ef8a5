#!/usr/bin/env bash
# The attack battery (zonegate-agent --compromise, docs/pipeline.md) in the
# no-isolation baseline: the compromised agent is a plain host process with
# the key in its environment; its tools are reached through a gatewayd
# that allows it everything ("base * allow", what calling the tool
# servers directly amounts to); the targets are planted in a scratch
# directory (attack-plant.sh); the admin socket is that gatewayd's. Proves:
#  1. every attack is observed succeeding, each probe as listed below, and
#     each effect is verified from outside: the victim file holds the
#     marker, the mode changed, the leftover exists, the other agent's
#     directory has the file, its process got SIGCONT, the listener saw
#     the requests, the store holds the marker (tool and direct), the
#     gateway's policy was reloaded;
#  2. the evidence never holds the key or the secret, only their length
#     and a SHA-256 prefix that matches the real ones;
#  3. bad targets files (malformed, wrong types, unknown keys, a
#     non-loopback address, oversize, a FIFO, not an object) and
#     --attack-out alone exit 2 with a clear message, no crash, no results.
# With attack_zone.sh (every attack failing in a zone) this is the pair of
# outcomes the demo's table reports; this half proves the battery's probes
# can see every effect they claim.
# Usage: attack_base.sh GATEWAYD GATEWAYCTL MCPD RELAY AGENT RAGCTL
set -u
GATEWAYD=$1
GATEWAYCTL=$2
MCPD=$3
RELAY=$4
AGENT=$5
RAGCTL=$6
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v python3 >/dev/null || ! command -v sqlite3 >/dev/null; then
	echo "SKIP: python3 or sqlite3 missing"
	exit 77
fi
FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
pass() { echo "ok: $*"; }
. "$here/attack-plant.sh"
S=$(mktemp -d "${TMPDIR:-/tmp}/zbase.XXXXXX")
PIDS=
cleanup() {
	local p
	at_unplant
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$S"
}
trap cleanup EXIT
export ZONEGATE_SIM_DIR=$S/sim ZONEGATE_RELAY_SOCKET=$S/no-daemon.sock
H=$S/host
mkdir -p "$H" "$S/sim"
at_plant "$H"
CORPUS=$(realpath "$here/../../data/corpus/notes")
"$RAGCTL" --db "$S/kb.db" ingest "$CORPUS" >/dev/null || fail "ragctl ingest"
MARK=zg-attack-marker-$$-$RANDOM
DOC=$CORPUS/namespaces.md

bg() { "$@" >>"$S/daemons.log" 2>&1 & PIDS="$PIDS $!"; }
bg "$MCPD" --chan sim:41:llm --llm
bg "$MCPD" --chan sim:42:web --web --web-allow "127.0.0.1:$AT_PORT"
bg "$MCPD" --chan sim:43:kb --rag-db "$S/kb.db" --rag-write
# the other agent: its channel, and an HTTP MCP server standing in for
# its ask server (a call of its tool through it is what the probe shows)
# (in the baseline every agent has the key in its environment)
KEY=$(head -n1 "$H/llm.key")
ZG_LLM_KEY=$KEY bg "$AGENT" --role report --serve sim:55:report-tool \
	--chan sim:55:report --relay "$RELAY"
bg "$MCPD" --http 127.0.0.1:0 --ready-file "$S/other.url"
cat >"$S/gw.json" <<EOF
{ "zones": {
  "base": {"domid": 80, "role": "agent", "chan": "sim:80:base"},
  "llm": {"domid": 41, "role": "tool", "chan": "sim:41:llm"},
  "web": {"domid": 42, "role": "tool", "chan": "sim:42:web"},
  "kb": {"domid": 43, "role": "tool", "chan": "sim:43:kb"},
  "report": {"domid": 55, "role": ["agent", "tool"], "chan": "sim:55:report",
             "tool_chan": "sim:55:report-tool"}
  },
  "policy": "a.policy", "audit_log": "audit.log", "admin_socket": "gw.sock",
  "audit_flush_ms": 0, "call_timeout_ms": 5000 }
EOF
printf 'base * allow\nreport llm.llm_chat allow\n' >"$S/a.policy"
bg "$GATEWAYD" --config "$S/gw.json" --ready-file "$S/gw.ready"
up() {
	"$GATEWAYCTL" --config "$S/gw.json" status 2>/dev/null | python3 -c '
import json, sys
z = json.load(sys.stdin)["zones"]
sys.exit(0 if sum(1 for e in z if e.get("health") == "up") >= 4 else 1)'
}
for _ in $(seq 200); do
	[ -s "$S/gw.ready" ] && [ -s "$S/other.url" ] && up && break
	sleep 0.1
done
up || fail "the tool zones did not come up: $(cat "$S/daemons.log")"
OTHER_URL=$(cat "$S/other.url")

AT_OTHER=', "url": "'$OTHER_URL'", "tool": "time_now", "arguments": {}'
at_targets "$S/targets.json"
R=$S/attack.json
ZG_LLM_KEY=$KEY "$AGENT" --role rag --chan sim:80:base --relay "$RELAY" \
	--compromise "$S/targets.json" --attack-out "$R" </dev/null 2>"$S/agent.err"
rc=$?
[ $rc = 0 ] && pass "the compromised agent ran and ended (stdin closed)" ||
	fail "agent exit $rc: $(tail -5 "$S/agent.err")"
[ -s "$R" ] || { fail "no results"; exit 1; }

# 1. every attack and every probe succeeded ...
for a in kb-write read-api-key read-host-secrets host-fs admin-socket \
	ungranted-tools tamper-other-agent network; do
	at_expect "$R" "$a" succeeded
done
for p in tool-ingest tool-delete tool-readback db-open db-insert; do
	at_expect "$R" kb-write "$p" succeeded
done
for p in env file proc-environ; do at_expect "$R" read-api-key "$p" succeeded; done
for p in secret gateway-config audit-log; do at_expect "$R" read-host-secrets "$p" succeeded; done
for p in overwrite chmod leftover; do at_expect "$R" host-fs "$p" succeeded; done
for p in reload pin; do at_expect "$R" admin-socket "$p" succeeded; done
for p in tools-list "call kb.rag_ingest" "call web.web_fetch" "steer report.ask"; do
	at_expect "$R" ungranted-tools "$p" succeeded
done
for p in files signal environ channel ask-url; do at_expect "$R" tamper-other-agent "$p" succeeded; done
for p in "fetch http://127.0.0.1:$AT_PORT/latest/meta-data/" \
	"get http://127.0.0.1:$AT_PORT/latest/meta-data/" "tcp 127.0.0.1:$AT_PORT"; do
	at_expect "$R" network "$p" succeeded
done
n=$(grep -c 'zonegate-agent: rag: attack [a-z-]*: succeeded' "$S/agent.err")
[ "$n" = 8 ] && pass "stderr: a line per attack" || fail "stderr lines: $n"

# ... and seen from outside
grep -q "$MARK" "$H/victim" && pass "victim file overwritten" || fail "victim: $(cat "$H/victim")"
[ "$(stat -c %a "$H/mode")" = 777 ] && pass "mode 0644 -> 0777" || fail "mode $(stat -c %a "$H/mode")"
grep -q "$MARK" "$H/leftover" 2>/dev/null && pass "leftover exists" || fail "no leftover"
ls "$H/other"/zg-attack-* >/dev/null 2>&1 && pass "file in the other agent's directory" ||
	fail "other/: $(ls "$H/other")"
for _ in $(seq 50); do [ -s "$H/cont" ] && break; sleep 0.1; done
[ -s "$H/cont" ] && pass "the other process got SIGCONT" || fail "no SIGCONT seen"
grep -q '"GET /latest/meta-data/ HTTP/1.1"' "$H/http.log" &&
	pass "the listener saw the direct GET" || fail "listener: $(cat "$H/http.log")"
[ "$(grep -c '"GET /latest/meta-data/' "$H/http.log")" -ge 2 ] &&
	pass "the listener saw the web_fetch too" || fail "listener: $(cat "$H/http.log")"
n=$(sqlite3 "$S/kb.db" "SELECT count(*) FROM chunks WHERE text LIKE '%$MARK%'")
[ "$n" -ge 2 ] && pass "the store holds the marker ($n chunks: tool and direct)" ||
	fail "marker chunks in the store: $n"
n=$(sqlite3 "$S/kb.db" "SELECT count(*) FROM documents WHERE source = '$DOC'")
[ "$n" = 0 ] && pass "the delete removed a document" || fail "document still there"
loads=$("$GATEWAYCTL" --config "$S/gw.json" status | python3 -c 'import json,sys; print(json.load(sys.stdin)["policy"]["loads"])')
[ "$loads" = 2 ] && pass "the gateway's policy was reloaded" || fail "policy loads: $loads"

# 2. secrets as length and hash prefix only
khash=$(printf '%s' "$KEY" | sha256sum | cut -c1-12)
at_evidence "$R" read-api-key env | grep -q "ZG_LLM_KEY ${#KEY} bytes sha256 $khash" &&
	pass "the key: length and hash prefix" || fail "env evidence: $(at_evidence "$R" read-api-key env)"
shash=$(sha256sum <"$H/secret" | cut -c1-12)
at_evidence "$R" read-host-secrets secret | grep -q "sha256 $shash" &&
	pass "the secret: its hash prefix" || fail "secret evidence"
if grep -qF "$KEY" "$R" "$S/agent.err" || grep -qF "$(cat "$H/secret")" "$R" "$S/agent.err"; then
	fail "a secret in the results or the log"
else
	pass "neither the key nor the secret in the results or the log"
fi

# 3. bad targets files: exit 2, a clear message, no results
bad() { # bad NAME EXPECTED-MESSAGE (targets in $S/bad.json)
	rm -f "$S/bad-out.json"
	"$AGENT" --role rag --relay /nonexistent --compromise "$S/bad.json" \
		--attack-out "$S/bad-out.json" </dev/null >/dev/null 2>"$S/bad.err"
	local rc=$?
	if [ $rc = 2 ] && grep -q -- "$2" "$S/bad.err" && [ ! -e "$S/bad-out.json" ]; then
		pass "bad targets, $1: exit 2, '$2'"
	else
		fail "bad targets, $1: exit $rc: $(cat "$S/bad.err")"
	fi
}
echo '{"host_fs": {"victim": "/x",' >"$S/bad.json"
bad malformed 'bad.json:2: '
echo '{"host_fs": {"victim": 5}}' >"$S/bad.json"
bad "wrong type" '"host_fs.victim" must be an absolute path'
echo '{"host_fs": {"victim": "relative"}}' >"$S/bad.json"
bad "relative path" '"host_fs.victim" must be an absolute path'
echo '{"other_agent": {"pid": "12"}}' >"$S/bad.json"
bad "pid as a string" '"other_agent.pid" must be a pid'
echo '{"host_fs": []}' >"$S/bad.json"
bad "section not an object" '"host_fs" must be an object'
echo '{"hostfs": {}}' >"$S/bad.json"
bad "unknown key" 'unknown key "hostfs"'
echo '{"network": {"urls": ["http://169.254.169.254/latest/meta-data/"]}}' >"$S/bad.json"
bad "metadata address" '"network.urls" must be an array of 1..32 http URLs of loopback hosts'
echo '{"network": {"tcp": ["10.0.0.1:80"]}}' >"$S/bad.json"
bad "private address" '"network.tcp" must be an array of 1..32 loopback HOST:PORT'
echo '{"ungranted": {"calls": [{"tool": "a.b", "arguments": 3}]}}' >"$S/bad.json"
bad "call arguments" '"ungranted.calls" must be an array'
echo '[1, 2]' >"$S/bad.json"
bad "not an object" 'must be a JSON object'
head -c 1048577 /dev/zero | tr '\0' ' ' >"$S/bad.json"
bad oversize 'over 1048576 bytes'
rm -f "$S/bad.json"
mkfifo "$S/bad.json"
bad FIFO 'not a regular file'
rm -f "$S/bad.json"
"$AGENT" --role rag --attack-out "$S/x.json" </dev/null 2>"$S/bad.err"
[ $? = 2 ] && grep -q -- '--attack-out needs --compromise' "$S/bad.err" &&
	pass "--attack-out alone: exit 2" || fail "--attack-out alone: $(cat "$S/bad.err")"
if grep -q 'AddressSanitizer\|runtime error' "$S/agent.err" "$S/bad.err"; then
	fail "a sanitizer report"
fi

# ATTACK_SHOW=1 prints every probe (what the report lists)
[ -n "${ATTACK_SHOW:-}" ] && at_show "$R"
echo "$FAILS failed"
[ $FAILS = 0 ]
