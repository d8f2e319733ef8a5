#!/bin/sh
# A policy reload refused for a message that quotes admin-written text
# cut at a byte count: with a multi-byte character straddling the cut, the
# message was not valid UTF-8, json_pack failed and the reload's audit
# record was lost. Here every rejected reload (2-, 3- and 4-byte
# characters across the 64-byte cut of a bad source name, and across
# the 32-byte cut of a bad rate) must leave a "rejected" record, and the
# audit chain must verify.
# Env: GATEWAYD, GATEWAYCTL (binaries).
set -u
. "$(dirname "$0")/../common/daemons.sh"
zg_need GATEWAYD GATEWAYCTL
zg_workdir gwreload
cat > "$work/gw.json" <<JSON
{ "zones": { "a": { "domid": 71, "role": "agent", "chan": "sim:71:a" } },
  "policy": "a.policy", "audit_log": "audit.log", "admin_socket": "gw.sock" }
JSON
echo '# nothing granted' > "$work/a.policy"
zg_gatewayd 1
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
exit $fail
