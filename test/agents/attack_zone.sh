#!/usr/bin/env bash
# The attack battery (zonegate-agent --compromise, docs/pipeline.md) from
# inside a sandboxed zone: `zonectl up` of sandboxed tool zones (kb with
# its write tools served, llm, web), a report agent and the compromised
# rag agent (both agent and tool), behind a real gatewayd with the
# pipeline's policy for rag (kb.rag_search and llm.llm_chat only). The
# targets are planted on the host (attack-plant.sh). Proves:
#  1. every attack of the battery is observed failing, with evidence:
#     the denied tools carry audit ids that `gatewayctl audit show`
#     resolves to deny records of zone rag;
#  2. from outside nothing happened: the host's files, modes, the other
#     agent's directory and process, the store's file and the listener
#     are untouched, and the gateway's policy was not reloaded;
#  3. afterwards the same agent still answers rag.ask normally, and the
#     zone's log carries a line per attack;
#  4. the control: the same agent in a zone with its fresh root and
#     Landlock off (zonectl run) reads the host's secret: the battery can
#     see a success, so 1 is not a battery that cannot succeed.
# Seen to fail: with the policy granting rag everything ("rag * allow"),
# kb-write, ungranted-tools and the tool probes go to succeeded and 1
# fails.
# Usage: attack_zone.sh ZONECTL GATEWAYD GATEWAYCTL MCPD RELAY AGENT RAGCTL
# (as root; exit 77 = skipped)
set -u
ZONECTL=$1
export ZONEGATE_GATEWAYD=$2
GATEWAYCTL=$3
MCPD=$4
RELAY=$5
AGENT=$6
RAGCTL=$7
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../zones/sup-scratch.sh"
zs_scratch zattack
if ! command -v python3 >/dev/null; then echo "SKIP: python3 missing"; exit 77; fi
. "$here/attack-plant.sh"
# KEEP=1 keeps the scratch directory (for a look after a failure)
trap 'at_unplant; if [ -n "${KEEP:-}" ]; then zc down >/dev/null 2>&1; echo "kept $S"; else zs_cleanup; fi' EXIT
H=$S/host
mkdir -p "$H"
at_plant "$H"
# a copy of the agent and the relay the zones' uids can reach
cp "$AGENT" "$RELAY" "$S/bin/"
chmod 755 "$S/bin/"*
AGENT=$S/bin/$(basename "$AGENT")
RELAY=$S/bin/$(basename "$RELAY")
CORPUS=$(realpath "$here/../../data/corpus/notes")
"$RAGCTL" --db "$S/kb.db" ingest "$CORPUS" >/dev/null ||
	fail "ragctl ingest"
chmod 666 "$S/kb.db"
MARK=zg-attack-marker-$$-$RANDOM
DOC=$CORPUS/namespaces.md # a document of the store (source names are paths)

at_targets "$S/targets.json"

ENVZ='{"ASAN_OPTIONS": "detect_leaks=0"}'
# mcpd loads its tool sets from ../lib/zonegate beside it: copied in too
mod() {
	echo "\"/zg/lib/zonegate/zg_$1_toolset.so\": \"$(realpath "$(dirname "$MCPD")/../lib/zonegate/zg_$1_toolset.so")\""
}
AIN="\"/zg/agent\": \"$AGENT\", \"/zg/relay\": \"$RELAY\""
cat >"$S/gw.json" <<EOF
{ "zones": {
  "sup": {"domid": 70, "role": "agent", "chan": "sim:70:sup"},
  "llm": {"domid": 41, "role": "tool", "chan": "sim:41:llm",
     "run": {"command": ["/zg/bin/mcpd", "--chan", "sim:41:llm", "--llm"],
             "files": {"in": {"/zg/bin/mcpd": "$MCPD", $(mod llm)}}, "env": $ENVZ}},
  "web": {"domid": 42, "role": "tool", "chan": "sim:42:web",
     "run": {"command": ["/zg/bin/mcpd", "--chan", "sim:42:web", "--web"],
             "files": {"in": {"/zg/bin/mcpd": "$MCPD", $(mod web)}}, "env": $ENVZ}},
  "kb": {"domid": 43, "role": "tool", "chan": "sim:43:kb",
     "run": {"command": ["/zg/bin/mcpd", "--chan", "sim:43:kb", "--rag-db",
                         "/tmp/kb.db", "--rag-write"],
             "files": {"in": {"/zg/bin/mcpd": "$MCPD", $(mod rag),
                              "/tmp/kb.db": "$S/kb.db"}},
             "env": $ENVZ}},
  "report": {"domid": 55, "role": ["agent", "tool"], "chan": "sim:55:report",
     "tool_chan": "sim:55:report-tool",
     "run": {"command": ["/zg/agent", "--role", "report", "--serve",
                         "sim:55:report-tool", "--chan", "sim:55:report",
                         "--relay", "/zg/relay"],
             "files": {"in": {$AIN}}, "env": $ENVZ}},
  "rag": {"domid": 54, "role": ["agent", "tool"], "chan": "sim:54:rag",
     "tool_chan": "sim:54:rag-tool",
     "run": {"command": ["/zg/agent", "--role", "rag", "--serve",
                         "sim:54:rag-tool", "--chan", "sim:54:rag",
                         "--relay", "/zg/relay", "--compromise",
                         "/zg/targets.json", "--attack-out", "/out/attack.json"],
             "files": {"in": {$AIN, "/zg/targets.json": "$S/targets.json"},
                       "out": {"zone": "/out", "host": "$S/rag-out"}},
             "env": $ENVZ}}
  },
  "policy": "a.policy", "audit_log": "audit.log", "admin_socket": "gw.sock",
  "audit_flush_ms": 0, "call_timeout_ms": 5000 }
EOF
cat >"$S/a.policy" <<EOF
sup     rag.ask         allow
sup     report.ask      allow
rag     kb.rag_search   allow
rag     llm.llm_chat    allow
report  llm.llm_chat    allow
EOF
sum_before=$(sha256sum "$H/victim" "$S/kb.db" | cut -c1-64 | tr '\n' ' ')

out=$(zc up --detach 2>&1)
rc=$?
[ $rc = 0 ] && pass "up --detach" || fail "up --detach ($rc): $out"
# the rag zone is ready once its tool side is up: the battery ran before
zc collect rag >/dev/null 2>&1 || fail "collect rag"
R=$S/rag-out/attack.json
if [ ! -s "$R" ]; then
	fail "no results: $(tail -20 "$S/state/logs/rag.log")"
	exit 1
fi

# 1. every attack failed, with evidence
for a in kb-write read-api-key read-host-secrets host-fs admin-socket \
	ungranted-tools tamper-other-agent network; do
	at_expect "$R" "$a" failed
done
python3 - "$R" <<'EOF' && pass "every attack and probe carries evidence" || fail "evidence"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["agent"] == "rag" and len(r["attacks"]) == 8
for a in r["attacks"]:
    assert a["evidence"] and a["probes"], a["name"]
    for p in a["probes"]:
        assert p["observed"] == "failed" and p["evidence"], p
EOF
at_evidence "$R" read-host-secrets secret | grep -q ENOENT &&
	pass "the secret: ENOENT in the zone" || fail "secret: $(at_evidence "$R" read-host-secrets secret)"
at_evidence "$R" admin-socket reload | grep -q 'connect .*gw.sock: ENOENT' &&
	pass "the admin socket: ENOENT in the zone" || fail "admin: $(at_evidence "$R" admin-socket)"
at_evidence "$R" network "tcp 127.0.0.1:$AT_PORT" | grep -q 'ECONNREFUSED\|EACCES' &&
	pass "the loopback listener: refused in the zone" ||
	fail "tcp: $(at_evidence "$R" network "tcp 127.0.0.1:$AT_PORT")"
# the denied tools' audit ids: deny records of zone rag in the audit log
ids=$(python3 - "$R" <<'EOF'
import json, re, sys
r = json.load(open(sys.argv[1]))
for a in r["attacks"]:
    for p in a["probes"]:
        if p["probe"].startswith(("tool-ingest", "tool-delete", "call ", "steer ", "fetch ")):
            m = re.search(r"audit id ([0-9a-f-]+)", p["evidence"])
            print(m.group(1) if m else "none:" + p["probe"])
EOF
)
n=0
for id in $ids; do
	n=$((n + 1))
	rec=$("$GATEWAYCTL" --config "$S/gw.json" audit show "$id" 2>&1)
	case $rec in
	*'"zone":"rag"'*'"decision":"deny"'*) ;;
	*) fail "audit id $id: $rec" ;;
	esac
done
[ "$n" -ge 6 ] && pass "$n denied calls, each audit id a deny record of zone rag" ||
	fail "audit ids: $ids"
at_evidence "$R" ungranted-tools tools-list | grep -q '2 tools visible: kb.rag_search llm.llm_chat\|2 tools visible: llm.llm_chat kb.rag_search' &&
	pass "tools/list shows only the granted tools" ||
	fail "tools/list: $(at_evidence "$R" ungranted-tools tools-list)"

# 2. nothing happened outside
sum_after=$(sha256sum "$H/victim" "$S/kb.db" | cut -c1-64 | tr '\n' ' ')
[ "$sum_before" = "$sum_after" ] && pass "victim file and store file unchanged" ||
	fail "victim or store changed"
[ "$(stat -c %a "$H/mode")" = 644 ] && pass "mode unchanged" || fail "mode $(stat -c %a "$H/mode")"
[ ! -e "$H/leftover" ] && pass "no leftover" || fail "leftover created"
[ -z "$(ls -A "$H/other")" ] && pass "the other agent's directory untouched" || fail "other/ written"
[ ! -e "$H/cont" ] && pass "the other agent's process got no signal" || fail "SIGCONT delivered"
grep -q '"GET' "$H/http.log" && fail "the listener saw a request" || pass "the listener saw no request"
[ -S "$S/sim/55/report-tool.sock" ] && pass "the report agent's channel socket exists on the host" ||
	fail "no socket $S/sim/55/report-tool.sock: the channel probe aims at nothing"
loads=$("$GATEWAYCTL" --config "$S/gw.json" status | python3 -c 'import json,sys; print(json.load(sys.stdin)["policy"]["loads"])')
[ "$loads" = 1 ] && pass "the gateway's policy was loaded once (no reload)" ||
	fail "policy loads: $loads"

# 3. the agent still answers, and its log has the battery
resp=$(printf '%s\n' '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}' \
	'{"jsonrpc":"2.0","method":"notifications/initialized"}' \
	'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"rag.ask","arguments":{"input":"How do user namespaces map ids?"}}}' |
	(cat; sleep 10) | timeout 20 "$RELAY" --chan sim:70:sup --connect-timeout 3000 2>/dev/null |
	grep -m1 '"id":1')
case $resp in
*'"isError":true'*) fail "rag.ask after the battery: $resp" ;;
*'[source: '*) pass "rag.ask answers normally after the battery" ;;
*) fail "rag.ask after the battery: $resp" ;;
esac
n=$(zc logs rag -n 200 | grep -c 'zonegate-agent: rag: attack [a-z-]*: failed')
[ "$n" = 8 ] && pass "zonectl logs rag: a line per attack" || fail "log lines: $n"

# 4. the control: fresh root and Landlock off, the secret is read
cat >"$S/targets-min.json" <<EOF
{"host_secrets": {"secret": "$H/secret"}}
EOF
cat >"$S/leak.json" <<EOF
{ "zones": {
  "leak": {"domid": 71, "role": "agent", "chan": "sim:71:leak",
     "run": {"command": ["/tmp/zg/agent", "--role", "rag", "--relay",
                         "/tmp/zg/relay", "--compromise", "/tmp/zg/t.json",
                         "--attack-out", "/tmp/out/attack.json"],
             "files": {"in": {"/tmp/zg/agent": "$AGENT", "/tmp/zg/relay": "$RELAY",
                              "/tmp/zg/t.json": "$S/targets-min.json"},
                       "out": {"zone": "/tmp/out", "host": "$S/leak-out"}},
             "sandbox": {"mount": false, "landlock": false}, "env": $ENVZ}}},
  "policy": "a.policy" }
EOF
"$ZONECTL" --config "$S/leak.json" run leak >"$S/leak.out" 2>&1
at_expect "$S/leak-out/attack.json" read-host-secrets secret succeeded
grep -q 'fresh root *NO' "$S/leak.out" && grep -q 'landlock *NO' "$S/leak.out" &&
	pass "the report shows the layers off" ||
	fail "leak report: $(head -5 "$S/leak.out")"

# a sanitizer build's agents reported nothing
grep -q 'AddressSanitizer\|runtime error' "$S/state/logs/rag.log" "$S/state/logs/report.log" \
	"$S/leak.out" && fail "a sanitizer report in an agent's log" ||
	pass "no sanitizer report in the agents' logs"
# ATTACK_SHOW=1 prints every probe (what the report lists)
[ -n "${ATTACK_SHOW:-}" ] && at_show "$R"
zc down >/dev/null 2>&1
echo "$FAILS failed"
[ $FAILS = 0 ]
