# Shared start of the zonectl supervisor scripts (sourced, bash): as
# root with bubblewrap (else exit 77); a scratch directory S under
# /var/tmp (bubblewrap runs as the zone's uid, which must reach the
# helper; see zones.sh) with its own zone-init, sim rendezvous and state
# directory; pass/fail counting into FAILS; zc runs $ZONECTL on
# $S/gw.json; on exit everything is brought down and S removed.
# Usage: zs_scratch PREFIX (ZONECTL set)
zs_scratch() {
	if [ "$(id -u)" != 0 ]; then echo "SKIP: needs root"; exit 77; fi
	if [ ! -x /usr/bin/bwrap ]; then echo "SKIP: bubblewrap missing"; exit 77; fi
	S=$(mktemp -d "/var/tmp/$1.XXXXXX")
	chmod 755 "$S"
	mkdir "$S/bin"
	cp "$(dirname "$ZONECTL")/zonegate-zone-init" "$S/bin/"
	chmod 755 "$S/bin" "$S/bin/zonegate-zone-init"
	export ZONEGATE_ZONE_INIT=$S/bin/zonegate-zone-init
	export ZONEGATE_SIM_DIR=$S/sim
	export ZONEGATE_STATE_DIR=$S/state
	FAILS=0
	trap zs_cleanup EXIT
}
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
pass() { echo "ok: $*"; }
zc() { "$ZONECTL" --config "$S/gw.json" "$@"; }
zs_cleanup() {
	zc down >/dev/null 2>&1
	[ -s "$S/state/supervisor.pid" ] &&
		kill -9 "$(cat "$S/state/supervisor.pid")" 2>/dev/null
	rm -rf "$S"
}
