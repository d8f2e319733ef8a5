#!/usr/bin/env bash
# The xen side of zonectl (docs/zones.md "The Xen side"): `zonectl xen`
# writes an xl domain config per zone with a run block; xl cannot check a
# config without a hypervisor, so the project's own checker (xlcfg_check,
# the documented xl.cfg format plus the keys zonectl uses) checks them,
# and the values are compared with the run blocks they come from. The
# checker is seen to refuse broken copies of a good config (bad names
# among them), so that its "ok" means something; zonectl refuses zones
# it cannot generate.
# Usage: xen.sh ZONECTL XLCFG_CHECK
set -u
ZONECTL=$1
CHECK=$2
S=$(mktemp -d)
trap 'rm -rf "$S"' EXIT
mkdir "$S/policy.d"
FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
pass() { echo "ok: $*"; }

cat >"$S/zones.json" <<'EOF'
{"zones": {
  "web": {"domid": 43, "role": "tool", "chan": "xen:43:web",
    "run": {"command": ["/zg/bin/mcpd", "--web"],
            "files": {"in": {"/zg/bin/mcpd": "/usr/bin/true"},
                      "ro": {"/model": "/usr/share"},
                      "out": {"zone": "/out", "host": "/var/tmp/web-out"}},
            "limits": {"memory": "256m", "cpu": 1.5},
            "network": {"egress": ["example.org:443"]},
            "env": {"LANG": "C.UTF-8"}}},
  "agent": {"domid": 44, "role": "agent", "chan": "sim:44:agent",
    "run": {"command": ["/usr/bin/true"], "limits": {"memory": "16m"}}},
  "cve": {"domid": 46, "role": ["agent", "tool"], "chan": "xen:46:cve",
    "tool_chan": "xen:46:cvet", "run": {"command": ["/usr/bin/true"]}},
  "idle": {"domid": 45, "role": "tool", "chan": "sim:45:idle"}},
 "policy": "policy.d"}
EOF

# 1. Every zone with a run block, nothing for the one without.
"$ZONECTL" --config "$S/zones.json" xen --out "$S/out" --kernel /boot/vmlinuz-zg >"$S/gen.out" 2>&1
[ $? = 0 ] && pass "zonectl xen ran" || fail "zonectl xen: $(cat "$S/gen.out")"
[ -f "$S/out/zg-web.cfg" ] && [ -f "$S/out/zg-agent.cfg" ] && [ ! -e "$S/out/zg-idle.cfg" ] &&
	pass "a config per zone with a run block" || fail "configs: $(ls "$S/out")"
"$CHECK" "$S/out/zg-web.cfg" "$S/out/zg-agent.cfg" "$S/out/zg-cve.cfg" >"$S/check.out"
[ $? = 0 ] && pass "the checker accepts them" || fail "checker: $(cat "$S/check.out")"

# 2. The values, from the run blocks.
has() { grep -qxF -- "$2" "$S/out/$1" && pass "$1: $2" || fail "$1 lacks: $2"; }
has zg-web.cfg 'name = "zg-web"'
has zg-web.cfg 'kernel = "/boot/vmlinuz-zg"'
has zg-web.cfg 'memory = 256'
has zg-web.cfg 'vcpus = 2'
has zg-web.cfg 'cap = 150'
has zg-web.cfg 'vif = [ ]'
has zg-web.cfg '#   /local/domain/43/data/vchan/0/web'
has zg-web.cfg '    "format=raw,vdev=xvdb,access=ro,target=/var/lib/zonegate/xen/web/in.img",'
has zg-web.cfg 'p9 = [ "tag=zg-out,security_model=none,path=/var/lib/zonegate/xen/web/out" ]'
grep -q 'zonegate.chan=xen:0:web' "$S/out/zg-web.cfg" && pass "guest channel address" || fail "no guest channel address"
grep -q 'NOT RUN ON A HYPERVISOR' "$S/out/zg-web.cfg" && pass "says it has not run" || fail "no disclaimer"
has zg-web.files "$(printf 'in\t/zg/bin/mcpd\t/usr/bin/true')"
has zg-web.files "$(printf 'ro\t/model\t/usr/share')"
has zg-web.files "$(printf 'out\t/out\t/var/tmp/web-out')"
has zg-agent.cfg 'memory = 64'
has zg-agent.cfg '#   /local/domain/0/data/vchan/44/agent'
# a zone that is both agent and tool: one domain, both vchans (the
# gateway serves its agent side, the zone its tool side)
has zg-cve.cfg '#   /local/domain/0/data/vchan/46/cve'
has zg-cve.cfg '#   /local/domain/46/data/vchan/0/cvet'
grep -q 'zonegate.chan=xen:0:cve zonegate.tool_chan=xen:0:cvet"' "$S/out/zg-cve.cfg" &&
	pass "both guest channel addresses" || fail "cve's cmdline: $(grep cmdline "$S/out/zg-cve.cfg")"
grep -q '^cap\|^p9' "$S/out/zg-agent.cfg" && fail "agent: cap or p9 without cpu or files.out" || pass "agent: no cap, no p9"

# 3. The checker refuses broken copies of the good config (the control:
#    the unbroken one passed above).
broken() {
	local what=$1 expr=$2 want=$3
	sed "$expr" "$S/out/zg-web.cfg" >"$S/bad.cfg"
	if "$CHECK" "$S/bad.cfg" >"$S/bad.out"; then
		fail "checker accepted $what"
	elif grep -q "$want" "$S/bad.out"; then
		pass "checker refuses $what"
	else
		fail "checker on $what: $(cat "$S/bad.out")"
	fi
}
broken "a name with a space" 's/^name = .*/name = "zg web"/' "not a domain name"
broken "an all-digit name" 's/^name = .*/name = "1234"/' "not a domain name"
broken "an empty name" 's/^name = .*/name = ""/' "not a domain name"
broken "a name with a quote" 's/^name = .*/name = "zg"web"/' "one KEY = VALUE per line"
broken "an unquoted string" 's/^type = .*/type = pvh/' "expected a number"
broken "a missing '='" 's/^vcpus = 2/vcpus 2/' "expected '='"
broken "a number as string" 's/^memory = 256/memory = "256"/' "expected a number"
broken "an unterminated list" '/^]$/d' "list"
broken "an unknown key" 's/^vcpus = 2/vcpu = 2/' "unknown key"
broken "a duplicate key" 's/^cap = 150/cap = 150\nvcpus = 3/' "given twice"
broken "a bad disk spec" 's/vdev=xvdb,/vdev=sdb,/' "bad disk spec"
broken "a relative disk target" 's|target=/var/lib/zonegate/xen/web/in.img|target=in.img|' "bad disk spec"
broken "a missing kernel" '/^kernel = /d' "missing key 'kernel'"
broken "maxmem below memory" 's/^maxmem = 256/maxmem = 100/' "maxmem below memory"
broken "an unterminated string" 's/^type = "pvh"/type = "pvh/' "unterminated string"

# 4. zonectl refuses what it cannot generate: a zone without a run block,
#    a zone not in the config, an xl-unsafe path, a vchan path longer
#    than libxenvchan's client can use.
"$ZONECTL" --config "$S/zones.json" xen idle --out "$S/o2" >"$S/e1" 2>&1
[ $? = 2 ] && grep -q 'no run block' "$S/e1" && pass "zone without run block refused" || fail "idle: $(cat "$S/e1")"
"$ZONECTL" --config "$S/zones.json" xen 'Bad Name' --out "$S/o2" >"$S/e2" 2>&1
[ $? = 2 ] && grep -q 'not in the config' "$S/e2" && pass "bad zone name refused" || fail "bad name: $(cat "$S/e2")"
"$ZONECTL" --config "$S/zones.json" xen web --out "$S/o2" --rootfs '/x,target=/etc/shadow' >"$S/e3" 2>&1
[ $? = 2 ] && grep -q 'no quotes' "$S/e3" && pass "xl-unsafe path refused" || fail "unsafe path: $(cat "$S/e3")"
sed 's/"xen:43:web"/"xen:43:zonegate-tools-web-main"/' "$S/zones.json" >"$S/long.json"
"$ZONECTL" --config "$S/long.json" xen web --out "$S/o2" >"$S/e4" 2>&1
[ $? = 2 ] && grep -q 'longer than the 49' "$S/e4" && pass "long vchan path refused" || fail "long path: $(cat "$S/e4")"
[ ! -e "$S/o2/zg-web.cfg" ] && pass "nothing written for refused zones" || fail "a refused zone got a config"

echo "$FAILS failure(s)"
[ "$FAILS" = 0 ]
