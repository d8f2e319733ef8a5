#!/bin/bash
# Install test: cmake --install into a scratch prefix, then check what
# an operator gets there: the files, --version of the installed binaries,
# an installed mcpd loading an installed tool set module, the systemd
# units (systemd-analyze verify, their flags against --help, the sample
# config against gatewayd --check), the man pages against --help, the
# bash completion against --help, and a small system (mcpd, gatewayd, a
# relay's calls) run from the prefix alone.
# Usage: install_test.sh BUILD_DIR SOURCE_DIR
set -u
B=$1
SRC=$2
S=$(mktemp -d)
trap 'rm -rf "$S"' EXIT
P=$S/usr
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
. "$SRC/test/deploy/flags.sh"

if ! cmake --install "$B" --prefix "$P" >"$S/install.log" 2>&1; then
	cat "$S/install.log"
	echo "FAIL: cmake --install"
	exit 1
fi

# 1. The files. The test executables must not ship.
cmds="gatewayd gatewayctl mcpd ragctl zonectl zonegate-relay zonegate-agent
	zonegate-supervisor"
bins="$cmds zonegate-zone-init"
for f in $(for b in $bins; do echo bin/$b; done) \
	lib/zonegate/zg_web_toolset.so lib/zonegate/zg_llm_toolset.so \
	lib/zonegate/zg_rag_toolset.so \
	share/man/man8/gatewayd.8 share/man/man1/gatewayctl.1 \
	share/man/man1/mcpd.1 share/man/man1/ragctl.1 \
	share/man/man8/zonectl.8 share/man/man1/zonegate-relay.1 \
	share/man/man1/zonegate-agent.1 share/man/man1/zonegate-supervisor.1 \
	share/man/man8/zonegate-zone-init.8 \
	$(for c in $cmds; do echo share/bash-completion/completions/$c; done) \
	lib/systemd/system/zonegate-gatewayd.service \
	lib/systemd/system/zonegate-zones.service \
	lib/sysusers.d/zonegate.conf lib/tmpfiles.d/zonegate.conf \
	share/doc/zonegate/README.md share/doc/zonegate/deploy.md \
	share/doc/zonegate/examples/gateway.json \
	share/doc/zonegate/examples/policy.d/00-baseline.policy; do
	[ -e "$P/$f" ] || fail "not installed: $f"
done
for t in mcpd-test gw_load mcp_load zone_start tests fuzz; do
	[ -e "$P/bin/$t" ] && fail "test executable installed: bin/$t"
done

# 2. Every installed command answers --version with its name and version.
ver=$(sed -n 's/^project(zonegate VERSION \([0-9.]*\).*/\1/p' \
	"$SRC/CMakeLists.txt")
for b in $bins; do
	out=$("$P/bin/$b" --version 2>&1)
	case $out in
	"$b $ver"*) ;;
	*) fail "$b --version printed '$out'" ;;
	esac
done

# 3. The installed mcpd finds the installed web module (beside bin/, in
# lib/zonegate) and serves web_fetch over stdio.
init='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"install-test","version":"1"}}}'
out=$(printf '%s\n' "$init" \
	'{"jsonrpc":"2.0","method":"notifications/initialized"}' \
	'{"jsonrpc":"2.0","id":2,"method":"tools/list"}' |
	timeout 60 "$P/bin/mcpd" --stdio --web 2>&1)
case $out in
*'"name":"web_fetch"'*) ;;
*) fail "installed mcpd --web does not list web_fetch: $out" ;;
esac

# 4. The units. Each Exec line names an installed binary; each of its
# options is in that binary's --help and each bare word (a subcommand)
# is a word of it, so a unit cannot use a flag that does not exist.
units="$P/lib/systemd/system/zonegate-gatewayd.service
$P/lib/systemd/system/zonegate-zones.service"
grep -h '^Exec[A-Za-z]*=' $units | sed 's/^Exec[A-Za-z]*=[-@+!]*//' |
	sort -u >"$S/exec"
[ -s "$S/exec" ] || fail "no Exec lines in the units"
while read -r exe args; do
	case $exe in
	"$P/bin/"*) ;;
	*) fail "unit runs $exe, not an installed binary"; continue ;;
	esac
	[ -x "$exe" ] || { fail "unit runs missing $exe"; continue; }
	WHERE=unit check_command "$exe" $args
done <"$S/exec"
grep -q "zonectl --config /etc/zonegate/gateway.json up" $units ||
	fail "no zonectl up unit"
grep -q '^Delegate=yes' "$P/lib/systemd/system/zonegate-zones.service" ||
	fail "zonectl unit without Delegate=yes"

# The config the units name, as installed in examples/, is accepted by
# the config parser (every key exists) once its absolute paths point
# into the scratch tree: what ExecStartPre runs, gatewayd --check.
mkdir -p "$S/etc/zonegate" "$S/run/zonegate" "$S/var/lib/zonegate" \
	"$S/var/log/zonegate"
cp -r "$P/share/doc/zonegate/examples/policy.d" "$S/etc/zonegate/"
# admin_group must name a group of this machine: the test's own.
sed -e "s|\"/etc/|\"$S/etc/|; s|\"/run/|\"$S/run/|; s|\"/var/|\"$S/var/|" \
	-e "s|\"admin_group\": \"[^\"]*\"|\"admin_group\": \"$(id -gn)\"|" \
	"$P/share/doc/zonegate/examples/gateway.json" \
	>"$S/etc/zonegate/gateway.json"
grep -o '"/[^"]*"' "$S/etc/zonegate/gateway.json" | grep -v "^\"$S/" &&
	fail "the sample config has a path outside /etc, /run, /var"
for key in admin_socket audit_log pins policy; do
	grep -q "\"$key\"" "$S/etc/zonegate/gateway.json" ||
		fail "sample config lacks $key (the units rely on it)"
done
"$P/bin/gatewayd" --check --config "$S/etc/zonegate/gateway.json" \
	>"$S/check.log" 2>&1 || {
	cat "$S/check.log"
	fail "gatewayd --check refuses the sample config"
}

# systemd-analyze verify against the installed binaries and man pages
# (Documentation=man:... is looked up with MANPATH). It reports problems
# as warnings with exit 0, so any output at all is a failure. It needs no
# systemd as PID 1.
if command -v systemd-analyze >/dev/null; then
	(cd "$S" && MANPATH=$P/share/man SYSTEMD_LOG_COLOR=0 \
		systemd-analyze verify $units) >"$S/verify.log" 2>&1 ||
		fail "systemd-analyze verify failed"
	if [ -s "$S/verify.log" ]; then
		cat "$S/verify.log"
		fail "systemd-analyze verify complains"
	fi
else
	fail "systemd-analyze missing (Debian package systemd, scripts/setup.sh)"
fi

# The sysusers.d and tmpfiles.d snippets, applied to an empty root as
# systemd applies them at boot, make user zonegate and every directory
# that the sample config (admin_socket, audit_log, pins) and the zones
# unit (ReadWritePaths=) write to, owned by zonegate, mode 0750.
# tmpfiles must chown, so this part needs root (as CI runs).
if [ "$(id -u)" != 0 ]; then
	echo "skip: sysusers/tmpfiles check needs root"
elif ! command -v systemd-tmpfiles >/dev/null; then
	fail "systemd-tmpfiles missing (Debian package systemd)"
else
	R=$S/root
	mkdir -p "$R/etc"
	cp "$P/lib/sysusers.d/zonegate.conf" "$R/sysusers.conf"
	cp "$P/lib/tmpfiles.d/zonegate.conf" "$R/tmpfiles.conf"
	systemd-sysusers --root="$R" "$R/sysusers.conf" >/dev/null 2>&1 ||
		fail "systemd-sysusers refuses the sysusers.d snippet"
	systemd-tmpfiles --root="$R" --create "$R/tmpfiles.conf" \
		>"$S/tmpfiles.log" 2>&1 || {
		cat "$S/tmpfiles.log"
		fail "systemd-tmpfiles refuses the tmpfiles.d snippet"
	}
	zuid=$(awk -F: '$1 == "zonegate" { print $3 }' "$R/etc/passwd")
	[ -n "$zuid" ] || fail "sysusers made no user zonegate"
	dirs=$(grep -o '"/[^"]*"' "$P/share/doc/zonegate/examples/gateway.json" |
		tr -d '"' | grep -v '^/etc/' | xargs -n1 dirname)
	dirs="$dirs $(sed -n 's/^ReadWritePaths=//p' \
		"$P/lib/systemd/system/zonegate-zones.service")"
	for d in $dirs /run/zonegate/sim; do
		got=$(stat -c '%u %a' "$R$d" 2>/dev/null)
		[ "$got" = "$zuid 750" ] ||
			fail "$d after tmpfiles: '$got', want '$zuid 750'"
	done
fi

# 5. Man pages: every long option of each command's --help (and of the
# subcommands' --help) is in its page, and man renders it without a
# warning.
helps() {
	case $1 in
	ragctl)
		"$P/bin/ragctl" --help
		for c in ingest query list stats delete compact; do
			"$P/bin/ragctl" $c --help
		done
		"$P/bin/ragctl" model import --help ;;
	zonectl) "$P/bin/zonectl" --help; "$P/bin/zonectl" xen --help ;;
	*) "$P/bin/$1" --help ;;
	esac 2>&1
}
opts() { grep -o -- '--[a-z][a-z0-9-]*' | sort -u; }
for b in $bins; do
	page=$(ls "$P"/share/man/man[18]/"$b".[18] 2>/dev/null | head -1)
	[ -n "$page" ] || { fail "no man page for $b"; continue; }
	text=$(sed -e 's/\\-/-/g; s/\\f[BIRP]//g; s/\\&//g' "$page")
	n=0
	for o in $(helps "$b" | opts); do
		n=$((n + 1))
		grep -q -- "$o\([^a-z0-9-]\|$\)" <<<"$text" ||
			fail "man page of $b lacks $o"
	done
	[ "$n" -gt 0 ] || fail "no options found in $b's help"
	if command -v man >/dev/null; then
		w=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2>&1 \
			>/dev/null)
		[ -z "$w" ] || fail "man $page: $w"
	fi
done

# 6. Bash completion: the installed script, run as bash runs it, offers
# exactly the long options of each command's --help.
complete_opts() { # WORD... : the completion's candidates after WORDs
	bash -c '
		source "$1"; shift
		COMP_WORDS=("$@" --); COMP_CWORD=$#
		_zonegate; printf "%s\n" "${COMPREPLY[@]}"' _ \
		"$P/share/bash-completion/completions/$1" "$@" | sort -u
}
check_completion() { # HELP-COMMAND... -- WORD...
	local help=() words=()
	while [ "$1" != -- ]; do help+=("$1"); shift; done
	shift
	words=("$@")
	# --help, --version and the global options a subcommand's usage
	# line repeats are left out on both sides.
	local skip='--help\|--version\|--db\|--config'
	"${help[@]}" 2>&1 | opts | grep -vx -- "$skip" >"$S/h"
	complete_opts "${words[@]}" | grep -vx -- "$skip" >"$S/c"
	diff "$S/h" "$S/c" >"$S/d" ||
		fail "completion of '${words[*]}' differs from --help: $(cat "$S/d")"
}
check_completion "$P/bin/gatewayd" --help -- gatewayd
check_completion "$P/bin/mcpd" --help -- mcpd
check_completion "$P/bin/zonegate-relay" --help -- zonegate-relay
check_completion "$P/bin/zonegate-agent" --help -- zonegate-agent
check_completion "$P/bin/zonegate-supervisor" --help -- zonegate-supervisor
check_completion "$P/bin/zonectl" xen --help -- zonectl --config f xen
# gatewayctl: one --help for every command, so the union of what each
# command completes.
"$P/bin/gatewayctl" --help 2>&1 | opts >"$S/h"
for c in "" check explain lint allow deny audit logs stats; do
	complete_opts gatewayctl --config f $c
done | grep -- '^--' | sort -u >"$S/c"
diff "$S/h" "$S/c" >"$S/d" ||
	fail "completion of gatewayctl differs from --help: $(cat "$S/d")"
for c in ingest query delete; do
	check_completion "$P/bin/ragctl" $c --help -- ragctl $c
done

# 7. A small system run from the prefix alone: the installed mcpd as a
# remote tool zone over Streamable HTTP (as a tool pod is), the installed
# gatewayd in front of it, and an agent zone's call through the installed
# relay: one call the policy allows is answered, one tool it does not grant
# (llm_chat, there) is refused, both are in the audit log, whose chain
# gatewayctl verifies.
D=$S/system
mkdir -p "$D/policy.d" "$D/sim"
export ZONEGATE_SIM_DIR=$D/sim
pids=()
stop_system() { kill "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null; }
wait_file() { # FILE: present and non-empty within 30 s (a hang guard)
	local i
	for ((i = 0; i < 300; i++)); do
		[ -s "$1" ] && return 0
		sleep 0.1
	done
	return 1
}
"$P/bin/mcpd" --http 127.0.0.1:0 --llm --ready-file "$D/mcpd.url" \
	>"$D/mcpd.log" 2>&1 &
pids+=($!)
if wait_file "$D/mcpd.url"; then
	echo 'agent tools.time_now allow' >"$D/policy.d/00-agent.policy"
	cat >"$D/gateway.json" <<EOF
{"zones": {"agent": {"domid": 11, "role": "agent", "chan": "sim:11:agent"},
           "tools": {"domid": 21, "role": "tool", "url": "$(cat "$D/mcpd.url")"}},
 "policy": "policy.d", "admin_socket": "$D/gw.sock",
 "audit_log": "$D/audit.log", "pins": "$D/pins.json"}
EOF
	"$P/bin/gatewayd" --config "$D/gateway.json" --ready-file "$D/gw.ready" \
		>"$D/gatewayd.log" 2>&1 &
	pids+=($!)
	wait_file "$D/gw.ready" || fail "the installed gatewayd never got ready"
	# The tool zone is up once its catalogue is fetched.
	for ((i = 0; i < 300; i++)); do
		"$P/bin/gatewayctl" --config "$D/gateway.json" status 2>/dev/null |
			tr -d ' \n' | grep -q '"zone":"tools","role":"tool".*"health":"up"' &&
			break
		sleep 0.1
	done
	call() { # ID TOOL
		printf '{"jsonrpc":"2.0","id":%s,"method":"tools/call","params":{"name":"%s","arguments":{}}}\n' "$1" "$2"
	}
	coproc RELAY { "$P/bin/zonegate-relay" --chan sim:11:agent --stdio 2>"$D/relay.log"; }
	pids+=($RELAY_PID)
	{ echo "$init"; echo '{"jsonrpc":"2.0","method":"notifications/initialized"}'
	  call 2 tools.time_now; call 3 tools.llm_chat; } >&"${RELAY[1]}"
	got=
	# The answers may come in either order.
	while [[ $got != *'"id":2,'*'"id":3,'* && $got != *'"id":3,'*'"id":2,'* ]] &&
		IFS= read -r -t 30 line <&"${RELAY[0]}"; do
		got+=$line$'\n'
	done
	grep -q '"id":2,"result":{.*"utc"' <<<"$got" ||
		fail "the allowed call through the installed system failed: $got"
	grep -q '"id":3,"error"' <<<"$got" ||
		fail "the ungranted call was not refused: $got"
	stop_system
	grep -q '"target":"tools.time_now","decision":"allow"' "$D/audit.log" ||
		fail "no audit record of the allowed call"
	grep -q '"target":"tools.llm_chat","decision":"deny"' "$D/audit.log" ||
		fail "no audit record of the refused call"
	"$P/bin/gatewayctl" --config "$D/gateway.json" audit verify >"$D/verify.log" 2>&1 ||
		{ cat "$D/verify.log"; fail "gatewayctl audit verify"; }
else
	fail "the installed mcpd --http never got ready: $(cat "$D/mcpd.log")"
fi
stop_system
unset ZONEGATE_SIM_DIR

if [ "$fails" -ne 0 ]; then
	echo "$fails failure(s)"
	exit 1
fi
echo "install test: ok"
