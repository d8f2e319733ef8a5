#!/bin/sh
# gatewayctl end to end on a copy of the sample config: the check
# contract (output and exit codes, --json, --args), explain, list,
# validated atomic edits (allow/deny), a broken policy file refused with
# FILE:LINE, and audit verify on a good and a tampered log. Then an
# operator's traps: check resolves a default_zone name like the gateway;
# an edit whose new rule would not decide its pair (an earlier rule still
# does) writes nothing and exits 1 naming that rule; --before FILE:LINE.
# Usage: ctl.sh GATEWAYCTL DATADIR
set -u
ctl=$1
src=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/zg-gwctl.XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT
cp -r "$src"/gatewayd.json "$src"/policy.d "$work"/
cfg=$work/gatewayd.json
fail=0

expect() { # expect WANT_RC WANT_OUTPUT CMD...
	want_rc=$1 want_out=$2
	shift 2
	out=$("$ctl" --config "$cfg" "$@" 2>&1)
	rc=$?
	if [ "$rc" != "$want_rc" ] || ! printf '%s' "$out" | grep -qF -- "$want_out"; then
		echo "FAIL: $* -> rc=$rc out='$out' (want rc=$want_rc '$want_out')"
		fail=1
	else
		echo "ok   $*"
	fi
}

expect 0 "allow policy.d/10-agents.policy:3" check agent-a rag.rag_search
expect 1 "deny policy.d/00-baseline.policy:4" check agent-a rag.rag_ingest
expect 1 "deny default" check agent-b tools.web_fetch
expect 0 '{"decision":"allow","rule":"policy.d/10-agents.policy:11"}' check agent-b tools.time_now --json
expect 1 '{"decision":"deny","rule":null}' check agent-b rag.nope --json
expect 0 "allow policy.d/10-agents.policy:4" check agent-a tools.web_fetch --args '{"url":"https://example.org"}'
expect 1 "deny policy.d/10-agents.policy:4" check agent-a tools.web_fetch --args '{"url":"http://example.org"}'
expect 1 "deny policy.d/10-agents.policy:4" check agent-a tools.web_fetch
expect 0 "allow policy.d/10-agents.policy:7" check agent-a resource:rag.rag://doc/1
expect 2 "no zone" check nobody rag.rag_search
expect 2 "bad target" check agent-a ragsearch
expect 2 "--args must be" check agent-a rag.x --args '[1]'
expect 1 "argument condition" explain agent-a tools.web_fetch
expect 0 "policy.d/10-agents.policy:6" list
# edits: validated, then written
expect 0 "appended" allow agent-b tools.web_search rate=1/s --file 20-local.policy
expect 0 "allow policy.d/20-local.policy:1" check agent-b tools.web_search
expect 0 "inserted" deny agent-b tools.web_search --file 20-local.policy --insert
expect 1 "deny policy.d/20-local.policy:1" check agent-b tools.web_search
expect 2 "bad rate" allow agent-b tools.x rate=fast --file 20-local.policy
expect 2 "only allowed on allow" deny agent-b tools.x rate=1/s
expect 2 "NAME.policy" allow agent-b tools.x --file ../evil
# a broken file makes the whole policy invalid, reported with FILE:LINE
printf 'agent-a rag.x allow\nagent-a rag.y perhaps\n' > "$work/policy.d/30-bad.policy"
expect 2 "policy.d/30-bad.policy:2: bad action" check agent-a rag.rag_search
expect 2 "policy.d/30-bad.policy:2" allow agent-a rag.z
rm "$work/policy.d/30-bad.policy"
# audit verify
expect 2 "audit.log" audit verify

# An operator's config: bob sees tool zone tools unprefixed (default_zone).
mkdir "$work/ops.d"
cat > "$work/ops.json" <<'JSON'
{ "zones": {
    "bob":   { "domid": 31, "role": "agent", "tags": ["staff"], "chan": "sim:31:bob",
               "default_zone": "tools" },
    "alice": { "domid": 32, "role": "agent", "tags": ["staff"], "chan": "sim:32:alice" },
    "tools": { "domid": 33, "role": "tool", "chan": "sim:33:tools" },
    "rag":   { "domid": 34, "role": "tool", "chan": "sim:34:rag" } },
  "policy": "ops.d" }
JSON
printf '@tag:staff tools.* allow\n' > "$work/ops.d/10-base.policy"
cfg=$work/ops.json
# check resolves a name as the zone's agent sees it (default_zone), the
# way the gateway routes it; a tool zone's prefix still names that zone
expect 0 "allow ops.d/10-base.policy:1" check bob time_now
expect 0 "allow ops.d/10-base.policy:1" check bob tools.time_now
expect 1 "deny default" check bob rag.rag_search
expect 2 "bad target" check alice time_now
# an edit whose rule would not decide its own pair writes nothing, exits
# 1 and names the rule that still decides (an emergency revoke revokes)
expect 1 "ops.d/10-base.policy:1 (@tag:staff tools.* allow) still decides for zone bob" deny bob tools.time_now --insert
[ ! -e "$work/ops.d/50-gatewayctl.policy" ] && echo "ok   nothing written" ||
	{ echo "FAIL: a refused edit wrote a file"; fail=1; }
expect 0 "allow ops.d/10-base.policy:1" check bob time_now
expect 1 "still decides for zone bob" deny @tag:staff tools.web_*
expect 1 "still decides for zone alice" deny alice tools.x
# --before FILE:LINE puts it where it decides
expect 0 "inserted at ops.d/10-base.policy:1" deny bob tools.time_now --before ops.d/10-base.policy:1
expect 1 "deny ops.d/10-base.policy:1" check bob time_now
expect 0 "allow ops.d/10-base.policy:2" check alice tools.time_now
expect 0 "appended at ops.d/50-gatewayctl.policy:1" allow alice rag.rag_search
expect 2 "has no line 9" deny alice rag.x --before ops.d/10-base.policy:9
expect 2 "FILE:LINE" deny alice rag.x --before 10-base.policy
expect 2 "unknown option '--frobnicate'" deny alice rag.x --frobnicate
# the same with a single policy file
sed 's/"policy": "ops.d"/"policy": "one.policy"/' "$work/ops.json" > "$work/one.json"
printf '@tag:staff tools.* allow\n' > "$work/one.policy"
cfg=$work/one.json
expect 1 "one.policy:1 (@tag:staff tools.* allow) still decides for zone bob" deny bob tools.time_now
expect 2 "is not the policy file" deny bob tools.time_now --before other.policy:1
expect 0 "inserted at one.policy:1" deny bob tools.time_now --before one.policy:1
expect 1 "deny one.policy:1" check bob time_now
cfg=$work/ops.json
# lint: the sample policy is clean; each kind of finding with FILE:LINE
"$ctl" --config "$src/gatewayd.json" lint && echo "ok   lint: the sample is clean" ||
	{ echo "FAIL: lint of the sample"; fail=1; }
cfg=$work/gatewayd.json   # the copy, where the deny inserted above shadows an allow
expect 1 "policy.d/20-local.policy:2: never decides anything: policy.d/20-local.policy:1 (agent-b tools.web_search deny)" lint
cfg=$work/ops.json
expect 0 "[]" lint --json
cat > "$work/ops.d/60-lint.policy" <<'POL'
bobb      tools.x          allow
tools     rag.rag_search   allow
@tag:stafff tools.x        allow
alice     tols.x           allow
alice     tx?ls.*          allow
alice     tools.web_fetch  allow
@tag:staff rag.*           allow
alice     rag.rag_list     deny
POL
expect 1 "ops.d/60-lint.policy:1: source: no zone 'bobb'" lint
expect 1 "ops.d/60-lint.policy:2: source: 'tools' is a tool zone" lint
expect 1 "ops.d/60-lint.policy:3: source: no zone has the tag 'stafff'" lint
expect 1 "ops.d/60-lint.policy:4: target: no tool zone named 'tols'" lint
expect 1 "ops.d/60-lint.policy:5: target: no tool zone matches 'tx?ls'" lint
expect 1 "ops.d/60-lint.policy:6: never decides anything: ops.d/10-base.policy:2 (@tag:staff tools.* allow)" lint
expect 1 "ops.d/60-lint.policy:8: never decides anything: ops.d/60-lint.policy:7" lint
expect 1 '"file":"ops.d/60-lint.policy","line":1,' lint --json
n=$("$ctl" --config "$cfg" lint | wc -l)
[ "$n" = 7 ] && echo "ok   lint: 7 findings, one a line" ||
	{ echo "FAIL: lint printed $n findings (want 7)"; "$ctl" --config "$cfg" lint; fail=1; }
expect 2 "unknown argument" lint --jsn
exit $fail
