#!/bin/sh
# A policy reload refused for a message that quotes admin-written text
# cut at a byte count: with a multi-byte character straddling the cut, the
# message was not valid UTF-8, json_pack failed and the reload's audit
# record was lost. Here every rejected reload (2-, 3- and 4-byte
# characters across the 64-byte cut of a bad source name, and across
# the 32-byte cut of a bad rate) must leave a "rejected" record, and the
# audit chain must verify.
# Then, with the periodic file check on: a change that an explicit reload
# has already read is not reloaded (and audited) a second time by the
# check, while a change nobody reloaded is picked up by it once. (Without
# the shared file signature, the check reloaded the same bad file again:
# 2 records for 1 change.)
# Env: GATEWAYD, GATEWAYCTL (binaries).
set -u
. "$(dirname "$0")/../common/daemons.sh"
zg_need GATEWAYD GATEWAYCTL
zg_workdir gwreload
cat > "$work/gw.json" <<JSON
{ "zones": { "a": { "domid": 71, "role": "agent", "chan": "sim:71:a" } },
  "policy": "a.policy", "audit_log": "audit.log", "admin_socket": "gw.sock",
  "reload_interval_ms": 0 }
JSON
echo '# nothing granted' > "$work/a.policy"
zg_gatewayd 0
fail=0
ctl() { "$GATEWAYCTL" --config "$work/gw.json" "$@"; }
a62=$(printf "%62s" "" | tr ' ' a)
a30=$(printf "%30s" "" | tr ' ' 1)
n=0
for ch in é € 😀; do
	for lead in "$a62" "${a62}a"; do
		printf '%s%s%s x.y allow\n' "$lead" "$ch" "$ch" > "$work/a.policy"
		ctl reload >/dev/null 2>&1
		n=$((n + 1))
	done
	printf 'a x.y allow rate=%s%s%s\n' "$a30" "$ch" "$ch" > "$work/a.policy"
	ctl reload >/dev/null 2>&1
	n=$((n + 1))
done
got=$(grep -c '"method":"policy/reload","decision":"rejected"' "$work/audit.log" ||
	true)
if [ "$got" -eq $n ]; then
	echo "ok   $n rejected reloads, $got audit records"
else
	echo "FAIL $n rejected reloads, $got audit records"
	fail=1
fi
if ctl audit verify >/dev/null 2>&1; then
	echo "ok   audit chain verifies"
else
	echo "FAIL audit verify"
	fail=1
fi

# The periodic check (every 100 ms) and explicit reloads together.
kill "$gpid"
wait "$gpid" 2>/dev/null
sed -i 's/"reload_interval_ms": 0/"reload_interval_ms": 100/' "$work/gw.json"
echo '# nothing granted' > "$work/a.policy"
zg_gatewayd 0
# recs DECISION: policy/reload records with it since this restart.
recs() {
	sed -n "$base,\$p" "$work/audit.log" |
		grep -c "\"method\":\"policy/reload\",\"decision\":\"$1\"" ||
		true
}
base=$(($(wc -l < "$work/audit.log") + 1))
echo 'a x.y allow rate=nope' > "$work/a.policy"
ctl reload >/dev/null 2>&1
sleep 0.6
got=$(recs rejected)
if [ "$got" -eq 1 ]; then
	ok "an explicit reload is not repeated by the file check ($got record)"
else
	bad "1 bad change reloaded by hand gave $got rejected records"
fi
echo 'a x.y allow' > "$work/a.policy"
i=0
while [ "$(recs loaded)" -lt 1 ] && [ $i -lt 100 ]; do
	sleep 0.05
	i=$((i + 1))
done
sleep 0.4
got=$(recs loaded)
if [ "$got" -eq 1 ]; then
	ok "the file check reloads an unreloaded change once"
else
	bad "1 good change left to the file check gave $got loaded records"
fi
exit $fail
