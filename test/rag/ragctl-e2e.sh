#!/usr/bin/env bash
# ragctl end to end: the real binary against a scratch store: ingest of a
# tree (txt, md, html, binary, invalid UTF-8, empty, unlisted extension),
# idempotent re-ingest, one document per file however it is named, --base,
# old-style sources reported, 1000 paths, Markdown front matter, query
# --json in every mode with filters, list/stats/delete (--dry-run, $prefix)
# /compact, URLs from a loopback server, --help on every subcommand, and
# clear errors (exit 2 or 1) on bad input.
set -euo pipefail
RAGCTL=$(realpath "${1:?usage: ragctl-e2e.sh path/to/ragctl}")
T=$(realpath "$(mktemp -d)") # sources are real paths: compare with those
HTTP_PID=
trap 'if [ -n "$HTTP_PID" ]; then kill "$HTTP_PID" 2>/dev/null || true; fi; rm -rf "$T"' EXIT
DB="$T/kb.db"
fail() { echo "FAIL: $*" >&2; exit 1; }
expect_status() { # expect_status CODE cmd...
  local want=$1; shift
  set +e; "$@" >"$T/out" 2>"$T/err"; local got=$?; set -e
  [ "$got" = "$want" ] || fail "exit $got (want $want): $* :: $(cat "$T/err")"
}

mkdir -p "$T/docs/man7" "$T/docs/notes"
printf 'capabilities - overview of Linux capabilities\n\nCAP_SYS_ADMIN is overloaded.\n' >"$T/docs/man7/capabilities.7.txt"
printf '# Seccomp\n\nseccomp filters system calls with BPF.\n' >"$T/docs/notes/seccomp.md"
printf '<html><script>evil()</script><p>cgroups limit &amp; account memory</p></html>' >"$T/docs/notes/cg.html"
printf 'bin\0ary\0' >"$T/docs/notes/blob.txt"
printf 'bad \xff\xfe utf8 but namespaces\n' >"$T/docs/notes/bad.txt"
: >"$T/docs/notes/empty.txt"
printf 'ignored' >"$T/docs/notes/image.png"

"$RAGCTL" --db "$DB" ingest --json "$T/docs" >"$T/sum.json"
grep -q '"documents": 5' "$T/sum.json" || fail "first ingest: $(cat "$T/sum.json")"
# Skipped files are counted and named: the binary blob.txt and image.png,
# whose extension is not ingested (it used to vanish from the count).
grep -q '"skipped": 2' "$T/sum.json" || fail "skipped count: $(cat "$T/sum.json")"
grep -q '"path": "[^"]*image.png"' "$T/sum.json" || fail "png not listed: $(cat "$T/sum.json")"
grep -q '"reason": "extension not ingested"' "$T/sum.json" || fail "png reason: $(cat "$T/sum.json")"
grep -q '"path": "[^"]*blob.txt"' "$T/sum.json" || fail "binary not listed: $(cat "$T/sum.json")"
"$RAGCTL" --db "$DB" ingest --json "$T/docs" >"$T/sum2.json"
grep -q '"documents": 0' "$T/sum2.json" || fail "re-ingest added: $(cat "$T/sum2.json")"
grep -q '"unchanged": 5' "$T/sum2.json" || fail "re-ingest: $(cat "$T/sum2.json")"
# One file is one document however it is named: relative, with ./ and ..,
# through a symlinked folder, or the file itself. Sources are real paths.
(cd "$T" && "$RAGCTL" --db "$DB" ingest --json docs ./docs/../docs/notes) >"$T/sum3.json"
grep -q '"documents": 0' "$T/sum3.json" || fail "relative names duplicated: $(cat "$T/sum3.json")"
grep -q '"unchanged": 9' "$T/sum3.json" || fail "relative names: $(cat "$T/sum3.json")"
ln -s docs "$T/docs-link"
"$RAGCTL" --db "$DB" ingest --json "$T/docs-link/notes/seccomp.md" >"$T/sum3.json"
grep -q '"unchanged": 1' "$T/sum3.json" || fail "symlink duplicated: $(cat "$T/sum3.json")"
"$RAGCTL" --db "$DB" list -c default >"$T/list.txt"
[ "$(wc -l <"$T/list.txt")" = 5 ] || fail "documents after renaming: $(cat "$T/list.txt")"
grep -q "^$T/docs/notes/seccomp.md	" "$T/list.txt" || fail "source not absolute: $(cat "$T/list.txt")"

# --base DIR stores sources relative to DIR (the same from any cwd), and
# refuses files outside it.
"$RAGCTL" --db "$T/base.db" ingest --quiet --base "$T" "$T/docs" >/dev/null
(cd "$T/docs/notes" && "$RAGCTL" --db "$T/base.db" ingest --json --base ../.. .) >"$T/sum4.json"
grep -q '"unchanged": 4' "$T/sum4.json" || fail "--base from another cwd: $(cat "$T/sum4.json")"
"$RAGCTL" --db "$T/base.db" list -c default | grep -q '^docs/notes/seccomp.md	' ||
  fail "--base source: $("$RAGCTL" --db "$T/base.db" list -c default)"
expect_status 1 "$RAGCTL" --db "$T/base.db" ingest --base "$T/docs/man7" "$T/docs/notes/seccomp.md"
grep -q 'not under --base' "$T/err" || fail "outside --base: $(cat "$T/err")"
expect_status 2 "$RAGCTL" --db "$T/base.db" ingest --base "$T/nope" "$T/docs"

# A store written before sources were real paths keeps the old names: a
# re-ingest under the same relative name says so instead of duplicating in
# silence (stdin with --source stands in for the old ragctl).
printf 'old style\n' | "$RAGCTL" --db "$T/old.db" ingest --quiet --source docs/notes/seccomp.md - >/dev/null
(cd "$T" && "$RAGCTL" --db "$T/old.db" ingest --json docs/notes/seccomp.md) >"$T/sum5.json" 2>"$T/err"
grep -q '"old_sources": \[' "$T/sum5.json" || fail "old source not reported: $(cat "$T/sum5.json")"
grep -q '"docs/notes/seccomp.md"' "$T/sum5.json" || fail "old source name: $(cat "$T/sum5.json")"
grep -q 'stored before under the name given' "$T/err" || fail "old source warning: $(cat "$T/err")"

# Markdown front matter becomes metadata (strings) and leaves the text;
# it cannot replace path, ext or dir. A malformed block stays text, with a
# warning, and the document is still ingested.
mkdir -p "$T/fm"
printf -- '---\ntitle: Front notes\ntags: "kernel"\npath: /spoofed\n---\n# Fronted\nfrontword body\n' >"$T/fm/front.md"
printf -- '---\ntitle: x\n  nested: deeper\n---\nbadfront body\n' >"$T/fm/bad.md"
"$RAGCTL" --db "$T/fm.db" ingest --json "$T/fm" >"$T/fm.json" 2>"$T/err" || fail "front matter ingest: $(cat "$T/err")"
grep -q '"documents": 2' "$T/fm.json" || fail "front matter docs: $(cat "$T/fm.json")"
grep -q "bad.md: front matter line 3: indented" "$T/err" || fail "malformed warning: $(cat "$T/err")"
"$RAGCTL" --db "$T/fm.db" query --json --mode bm25 --where '{"tags":"kernel"}' frontword >"$T/q.json"
grep -q '"title":"Front notes"' "$T/q.json" || fail "front matter meta: $(cat "$T/q.json")"
grep -q '"path":"'"$T"'/fm/front.md"' "$T/q.json" || fail "front matter replaced path: $(cat "$T/q.json")"
grep -q '"text":"# Fronted' "$T/q.json" || fail "front matter left in text: $(cat "$T/q.json")"
"$RAGCTL" --db "$T/fm.db" query --json --mode bm25 spoofed >"$T/q.json"
grep -q '"results":\[\]' "$T/q.json" || fail "front matter indexed: $(cat "$T/q.json")"
# Changed front matter over the same text updates the metadata in place
# (the content hash covers the text only, so it used to be kept stale).
printf -- '---\ntitle: Front notes\ntags: changed\n---\n# Fronted\nfrontword body\n' >"$T/fm/front.md"
"$RAGCTL" --db "$T/fm.db" ingest --json "$T/fm/front.md" >"$T/fm.json" 2>"$T/err"
grep -q '"metadata_updated": 1' "$T/fm.json" || fail "metadata update count: $(cat "$T/fm.json")"
"$RAGCTL" --db "$T/fm.db" query --json --mode bm25 --where '{"tags":"changed"}' frontword >"$T/q.json"
grep -q 'front.md' "$T/q.json" || fail "metadata not updated: $(cat "$T/q.json")"
"$RAGCTL" --db "$T/fm.db" ingest --json "$T/fm/front.md" >"$T/fm.json" 2>"$T/err"
grep -q '"unchanged": 1' "$T/fm.json" || fail "metadata re-update: $(cat "$T/fm.json")"
"$RAGCTL" --db "$T/fm.db" query --json --mode bm25 deeper >"$T/q.json"
grep -q 'bad.md' "$T/q.json" || fail "malformed front matter dropped: $(cat "$T/q.json")"

echo "stdin text about user namespaces and uid maps" |
  ZONEGATE_RAG_DB="$DB" "$RAGCTL" ingest --source stdin-note --quiet - >/dev/null

for mode in vector bm25 hybrid; do
  "$RAGCTL" --db "$DB" query --json --mode "$mode" -k 3 seccomp BPF system calls >"$T/q.json"
  grep -q '^{"results":\[{"source":"[^"]*seccomp.md","chunk":0,"score":' "$T/q.json" ||
    fail "query $mode: $(cat "$T/q.json")"
done
"$RAGCTL" --db "$DB" query --json --where '{"dir":"man7"}' -k 5 memory >"$T/q.json"
grep -q 'capabilities.7.txt' "$T/q.json" || fail "filter: $(cat "$T/q.json")"
grep -q 'cg.html' "$T/q.json" && fail "filter let through cg.html"
"$RAGCTL" --db "$DB" query --json --mode bm25 evil >"$T/q.json"
grep -q '"results":\[\]' "$T/q.json" || fail "script text indexed: $(cat "$T/q.json")"
ZONEGATE_RAG_DB="$DB" "$RAGCTL" query --json uid maps | grep -q stdin-note || fail "stdin doc"

"$RAGCTL" --db "$DB" list | grep -q '^default' || fail list
"$RAGCTL" --db "$DB" list -c default --json | grep -q seccomp.md || fail "list docs"
"$RAGCTL" --db "$DB" stats | grep -q '"documents": 6' || fail stats
# delete --dry-run names what a delete would remove and removes nothing;
# the same filter then deletes exactly those ($prefix on the stored path).
"$RAGCTL" --db "$DB" delete --dry-run --where '{"path":{"$prefix":"'"$T"'/docs/notes/"}}' >"$T/dry.txt"
grep -q '^would delete 4 documents' "$T/dry.txt" || fail "dry-run: $(cat "$T/dry.txt")"
grep -q 'seccomp.md$' "$T/dry.txt" || fail "dry-run list: $(cat "$T/dry.txt")"
"$RAGCTL" --db "$DB" delete --dry-run --json --source stdin-note >"$T/dry.json"
grep -q '"would_delete": 1' "$T/dry.json" || fail "dry-run json: $(cat "$T/dry.json")"
grep -q '"stdin-note"' "$T/dry.json" || fail "dry-run json list: $(cat "$T/dry.json")"
"$RAGCTL" --db "$DB" stats | grep -q '"documents": 6' || fail "dry-run deleted something"
"$RAGCTL" --db "$DB" delete --json --source stdin-note | grep -q '"deleted":1' || fail delete
"$RAGCTL" --db "$DB" delete --where '{"ext":"html"}' | grep -q 'deleted 1' || fail "delete where"
"$RAGCTL" --db "$DB" compact || fail compact
"$RAGCTL" --db "$DB" stats | grep -q '"documents": 4' || fail "stats after delete"

# URLs over libcurl, against a loopback server (when python3 is present).
if command -v python3 >/dev/null; then
  python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$T/docs/notes" \
    >"$T/http.log" 2>&1 &
  HTTP_PID=$!
  for _ in $(seq 50); do grep -q 'port' "$T/http.log" && break; sleep 0.1; done
  PORT=$(sed -n 's/.* port \([0-9]*\).*/\1/p' "$T/http.log" | head -1)
  [ -n "$PORT" ] || { kill "$HTTP_PID"; fail "no loopback http server"; }
  "$RAGCTL" --db "$DB" ingest --json -c web "http://127.0.0.1:$PORT/cg.html" >"$T/u.json" ||
    { kill "$HTTP_PID"; fail "url ingest: $(cat "$T/u.json")"; }
  "$RAGCTL" --db "$DB" query --json -c web --mode bm25 account memory >"$T/q.json"
  grep -q '"source":"http://127.0.0.1:'"$PORT"'/cg.html"' "$T/q.json" ||
    { kill "$HTTP_PID"; fail "url doc: $(cat "$T/q.json")"; }
  grep -q 'evil' "$T/q.json" && { kill "$HTTP_PID"; fail "script kept from url"; }
  expect_status 1 "$RAGCTL" --db "$DB" ingest -c web "http://127.0.0.1:$PORT/missing.html"
  grep -q 'HTTP status 404' "$T/err" || { kill "$HTTP_PID"; fail "404 text: $(cat "$T/err")"; }
  kill "$HTTP_PID"; HTTP_PID=
fi

# Skipped files in the text summary, and by name with -v.
mkdir -p "$T/skip"; printf 'x' >"$T/skip/a.png"; printf 'text' >"$T/skip/b.txt"
"$RAGCTL" --db "$T/skip.db" ingest --quiet "$T/skip" >"$T/out" 2>"$T/err"
grep -q '1 skipped' "$T/out" || fail "text summary: $(cat "$T/out")"
grep -q 'a.png' "$T/err" && fail "skipped file named without -v: $(cat "$T/err")"
"$RAGCTL" --db "$T/skip.db" ingest -v --quiet "$T/skip" >"$T/out" 2>"$T/err"
grep -q 'a.png: skipped: extension not ingested' "$T/err" || fail "-v: $(cat "$T/err")"

# More paths than the old 256-argument limit: 1000 files, one document each.
mkdir -p "$T/many"
for i in $(seq 1000); do printf 'note number %d about widgets\n' "$i" >"$T/many/n$i.txt"; done
"$RAGCTL" --db "$T/many.db" ingest --json --quiet "$T"/many/*.txt >"$T/many.json" 2>"$T/err" ||
  fail "1000 paths: $(cat "$T/err")"
grep -q '"documents": 1000' "$T/many.json" || fail "1000 paths: $(cat "$T/many.json")"

for sub in ingest query list stats delete compact model; do
  "$RAGCTL" "$sub" --help | grep -q '^usage: ragctl' || fail "$sub --help"
done
"$RAGCTL" --help | grep -q '^usage' || fail "--help"

expect_status 2 "$RAGCTL" --db "$DB" query -k 0 x
expect_status 2 "$RAGCTL" --db "$DB" query -k 12abc x
expect_status 2 "$RAGCTL" --db "$DB" query --mode fuzzy x
expect_status 2 "$RAGCTL" --db "$DB" query
expect_status 2 "$RAGCTL" --db "$DB" frobnicate
expect_status 2 "$RAGCTL" --db "$DB" query --nope x
expect_status 1 "$RAGCTL" --db "$DB" query --where '{"a":' x
grep -q 'where: invalid JSON' "$T/err" || fail "where error text: $(cat "$T/err")"
expect_status 1 "$RAGCTL" --db "$DB" query -c missing x
expect_status 1 "$RAGCTL" --db "$DB" ingest --embedder glove "$T/docs"
grep -q 'refusing' "$T/err" || fail "mismatch text: $(cat "$T/err")"
expect_status 1 "$RAGCTL" --db "$DB" ingest "$T/does-not-exist"
expect_status 1 "$RAGCTL" --db "$T/nodir/x.db" query x
expect_status 2 "$RAGCTL" --db "$DB" ingest --chunk-size 5 "$T/docs"
echo "ragctl e2e: ok"
