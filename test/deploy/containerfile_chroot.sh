#!/bin/bash
# Checks deploy/Containerfile without a container engine or a registry:
# a Debian 12 root file system made by debootstrap from Debian's mirror
# stands in for the base image debian:bookworm (whose official build is
# the same minbase variant), each stage's RUN steps run in a copy of it
# with chroot, COPY copies files between the stages, and the final stage
# is then checked as its USER: every binary runs (--version), no library
# is missing, mcpd loads its three tool set modules, ragctl ingests the
# corpus the image ships, gatewayd --check accepts a config, and no
# compiler or -dev package is left in it. Needs root and the network
# (apt-get in the stages), so it is not a ctest case; docs/deploy.md
# says what it checked and when.
# Usage: containerfile_chroot.sh SOURCE_DIR [ROOTFS]
#   ROOTFS: a debootstrapped bookworm to copy (default: made here).
set -euo pipefail
SRC=$(cd "$1" && pwd)
CF=$SRC/deploy/Containerfile
W=$(mktemp -d /var/tmp/zg-containerfile.XXXXXX)
mounts=()
cleanup() {
	local i
	for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
		umount "${mounts[i]}" 2>/dev/null || umount -l "${mounts[i]}"
	done
	rm -rf --one-file-system "$W"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

ROOTFS=${2:-}
if [ -z "$ROOTFS" ]; then
	ROOTFS=$W/rootfs
	echo "== debootstrap --variant=minbase bookworm"
	# debootstrap's default mirror is Debian's own.
	debootstrap --variant=minbase bookworm "$ROOTFS" \
		>"$W/debootstrap.log" 2>&1 ||
		{ tail "$W/debootstrap.log"; fail "debootstrap"; }
fi

# The Containerfile's instructions, continuation lines joined, comments
# and blank lines dropped: one instruction a line.
sed -e '/^[[:space:]]*#/d' "$CF" | sed -e ':a' -e '/\\$/{N;s/\\\n//;ba}' |
	grep -v '^[[:space:]]*$' >"$W/steps"

stage= dir= user=root
declare -A stages
in_chroot() { # DIR COMMAND...: as root, with /proc and /dev
	chroot "$1" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 \
		"${@:2}"
}
start_stage() { # NAME
	dir=$W/stage-$1
	mkdir -p "$dir"
	cp -a "$ROOTFS/." "$dir/"
	# What debootstrap keeps and the official image does not.
	rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
	base_mb=$(du -sx --block-size=1M "$dir" | cut -f1)
	cp /etc/resolv.conf "$dir/etc/resolv.conf"
	mount -t proc proc "$dir/proc" && mounts+=("$dir/proc")
	mount --bind /dev "$dir/dev" && mounts+=("$dir/dev")
	stages[$1]=$dir
}
n=0
while read -r op rest; do
	case $op in
	FROM)
		n=$((n + 1))
		read -r base as name <<<"$rest"
		[ "$base" = debian:bookworm ] ||
			fail "base $base: only debian:bookworm is stood in for"
		stage=${name:-$n}
		echo "== stage $stage (FROM $base)"
		start_stage "$stage" ;;
	RUN)
		echo "== RUN ${rest:0:70}..."
		t0=$SECONDS
		in_chroot "$dir" /bin/sh -ec "$rest" >"$W/run.log" 2>&1 ||
			{ tail -30 "$W/run.log"; fail "RUN $rest"; }
		echo "   $((SECONDS - t0)) s" ;;
	COPY)
		from=
		case $rest in --from=*)
			from=${rest%% *}; from=${from#--from=}; rest=${rest#* } ;;
		esac
		read -r s d <<<"$rest"
		echo "== COPY ${from:+from $from }$s $d"
		mkdir -p "$dir$d"
		if [ -n "$from" ]; then
			cp -a "${stages[$from]}$s/." "$dir$d/"
		else
			# The build context less what a .dockerignore would
			# leave out: build trees and node_modules.
			tar -C "$SRC/$s" --exclude='./build*' \
				--exclude=node_modules -cf - . | tar -C "$dir$d" -xf -
		fi ;;
	USER) user=$rest ;;
	CMD) ;; # checked against --help by deploy_k8s_flags
	*) fail "instruction $op is not interpreted by this check" ;;
	esac
done <"$W/steps"

# The final stage, as the image's user.
F=$dir
echo "== the final stage as $user"
as_user() { chroot --userspec="$user" "$F" /usr/bin/env -i \
	PATH=/usr/bin:/bin HOME=/tmp LANG=C.UTF-8 "$@"; }
mkdir -p "$F/tmp/t"
chmod 1777 "$F/tmp"
chown "$user" "$F/tmp/t"
for b in gatewayd gatewayctl mcpd ragctl zonectl zonegate-relay \
	zonegate-agent zonegate-zone-init; do
	v=$(as_user "/usr/bin/$b" --version 2>&1) || fail "$b --version: $v"
	echo "$v"
done
missing=$(for f in "$F"/usr/bin/* "$F"/usr/lib/zonegate/*.so; do
	in_chroot "$F" ldd "${f#"$F"}" 2>/dev/null | grep 'not found' || true
done)
[ -z "$missing" ] || fail "missing libraries: $missing"
as_user ragctl --db /tmp/t/kb.db ingest /usr/share/zonegate/corpus \
	>"$W/ingest.log" 2>&1 || { cat "$W/ingest.log"; fail "ragctl ingest"; }
out=$(printf '%s\n' \
	'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}' \
	'{"jsonrpc":"2.0","method":"notifications/initialized"}' \
	'{"jsonrpc":"2.0","id":2,"method":"tools/list"}' |
	as_user mcpd --stdio --web --llm --rag-db /tmp/t/kb.db 2>&1)
for t in web_fetch llm_chat rag_search time_now; do
	grep -q "\"name\":\"$t\"" <<<"$out" || fail "mcpd lists no $t: $out"
done
mkdir -p "$F/tmp/t/policy.d"
echo 'agent-a tools.* allow' >"$F/tmp/t/policy.d/00.policy"
cat >"$F/tmp/t/gateway.json" <<'JSON'
{"zones": {"agent-a": {"domid": 11, "role": "agent", "chan": "sim:11:agent-a"},
  "tools": {"domid": 22, "role": "tool", "url": "http://tools.zonegate.svc:8080/mcp",
            "insecure_http": true}},
 "policy": "policy.d", "admin_socket": "/tmp/t/gw.sock", "audit_log": "/tmp/t/audit.log",
 "pins": "/tmp/t/pins.json"}
JSON
as_user gatewayd --check --config /tmp/t/gateway.json || fail "gatewayd --check"
dev=$(in_chroot "$F" dpkg-query -W -f '${Package}\n' | grep -E -- '-dev$|^gcc-[0-9]+$|^cpp|^g\+\+|^cmake$|^make$' || true)
[ -z "$dev" ] || fail "build packages left in the image: $dev"
echo "final stage, unpacked: $(du -sx --block-size=1M "$F" | cut -f1) MB (the base: $base_mb MB)"
echo "containerfile check: ok"
