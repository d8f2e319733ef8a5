#!/bin/bash
# The seed demo from an install (docs/deploy.md, "The demo from an
# install"): cmake --install into a scratch prefix, then the installed
# PREFIX/share/zonegate/demo/scripts/demo.mjs, run from / with no build
# tree named, in its smallest mode (deterministic model, one timing run
# of each setup, the clock fixed). It must find its binaries in the
# prefix by its own location and its data (the demo config and policy,
# the corpus, the web pages) beside itself. Checked: its JSON says the
# report is complete and every attack failed in zonegate, the audit chain
# verifies, the zones ran the prefix's binaries (the rendered zone config
# of the kept scratch directory names PREFIX/bin and nothing of the
# source or build tree), and every knowledge-base source the report
# cites is an installed file.
# Needs root (zonectl sandboxes the zones); exit 77 (skipped) otherwise.
# Usage: demo_prefix.sh BUILD_DIR SOURCE_DIR NODE
set -u
B=$(cd "$1" && pwd)
SRC=$(cd "$2" && pwd)
NODE=$3
if [ "$(id -u)" != 0 ]; then
	echo "skip: the demo runs zones as root"
	exit 77
fi
S=$(mktemp -d)
W=
trap 'rm -rf "$S" ${W:+"$W"}' EXIT
# The zones run under uids of their own and read the prefix's binaries:
# like any real prefix, it must be searchable by them (mktemp's is 0700).
chmod 755 "$S"
P=$S/usr
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

cmake --install "$B" --prefix "$P" >"$S/install.log" 2>&1 ||
	{ cat "$S/install.log"; echo "FAIL: cmake --install"; exit 1; }
D=$P/share/zonegate/demo
for f in scripts/demo.mjs data/demo/zonegate.json data/corpus/notes/README.md \
	test/web/webhost.mjs test/llm/chat-standin.mjs; do
	[ -e "$D/$f" ] || fail "not installed: share/zonegate/demo/$f"
done
ls "$D"/data/web/pages/*.html >/dev/null 2>&1 || fail "no web pages installed"

(cd / && "$NODE" "$D/scripts/demo.mjs" --json --runs 1 --as-of 2026-01-15 \
	--keep) >"$S/demo.json" 2>"$S/demo.err"
rc=$?
W=$(sed -n 's/^.*scratch directory kept: \(.*\)$/\1/p' "$S/demo.err" | tail -n 1)
[ $rc -eq 0 ] || { tail -n 30 "$S/demo.err"; fail "the installed demo exited $rc"; }
[ -n "$W" ] || W=$(sed -n "s/^demo: logs kept in \(.*\)$/\1/p" "$S/demo.err" | tail -n 1)
[ -s "$S/demo.json" ] && "$NODE" -e '
	const fs = require("fs");
	const [json, demo] = process.argv.slice(1);
	const o = JSON.parse(fs.readFileSync(json, "utf8"));
	const bad = [];
	if (o.ok !== true) bad.push("ok is not true");
	if (o.complete !== true) bad.push("the report is not complete");
	if (!o.attacks.length) bad.push("no attacks ran");
	for (const a of o.attacks)
		if (a.zonegate !== "failed") bad.push(`attack ${a.name}: ${a.zonegate} in zonegate`);
	if (!/audit chain ok/.test(o.audit_verify)) bad.push(`audit: ${o.audit_verify}`);
	const kb = o.sources.filter(s => s.startsWith("data/corpus/"));
	if (!kb.length) bad.push("no knowledge-base source cited");
	for (const s of kb) if (!fs.existsSync(`${demo}/${s}`)) bad.push(`source ${s} is not installed`);
	if (bad.length) { console.log(bad.join("\n")); process.exit(1); }
	console.log(`complete report, ${o.attacks.length} attacks failed in zonegate, ` +
		`${kb.length} installed corpus sources, ${o.audit_verify}`);
' "$S/demo.json" "$D" >"$S/check.out" ||
	fail "the demo's JSON: $(cat "$S/check.out" 2>/dev/null)"
cat "$S/check.out"
cfg=${W:+$W/zg/zonegate.json}
if [ -z "$cfg" ] || [ ! -f "$cfg" ]; then
	fail "the kept scratch directory has no zg/zonegate.json"
else
	grep -q "\"$P/bin/mcpd\"" "$cfg" || fail "the zones do not run $P/bin/mcpd"
	grep -qF -e "$SRC/" -e "$B/" "$cfg" &&
		fail "the zone config names the source or build tree"
fi
[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "demo from the prefix: ok"
