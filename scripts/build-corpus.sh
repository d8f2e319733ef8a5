#!/usr/bin/env bash
# Renders the Linux man pages of sections 2 and 7 (Debian packages
# manpages and manpages-dev) to plain text under data/corpus/man/man2 and
# data/corpus/man/man7: the real, on-topic part of the RAG demo corpus
# (namespaces, cgroups, capabilities, seccomp, ...). Run at set-up time
# (scripts/setup.sh calls it); the output is not committed. Safe to rerun.
set -euo pipefail
cd "$(dirname "$0")/.."
out=data/corpus/man
for p in groff zcat dpkg; do
  command -v "$p" >/dev/null || { echo "build-corpus: $p not found" >&2; exit 1; }
done
pages=$(dpkg -L manpages manpages-dev 2>/dev/null | grep -E '/man[27]/[^/]+\.[27][a-z]*\.gz$' || true)
[ -n "$pages" ] || { echo "build-corpus: manpages/manpages-dev not installed" >&2; exit 1; }
mkdir -p "$out/man2" "$out/man7"

render() { # render SRC.gz DEST.txt: skip .so aliases and symlinks
  local src=$1 dst=$2
  [ -L "$src" ] && return 0
  [ -s "$dst" ] && [ "$dst" -nt "$src" ] && return 0
  if zcat "$src" | head -c 200 | grep -q '^\.so '; then return 0; fi
  zcat "$src" | groff -t -man -Tutf8 -rHY=0 -P-cbou 2>/dev/null >"$dst.tmp" &&
    mv "$dst.tmp" "$dst" || rm -f "$dst.tmp"
}
export -f render
n=0
for src in $pages; do
  base=$(basename "$src" .gz)
  sec=${base##*.}; sec=${sec:0:1}
  printf '%s\0%s\0' "$src" "$out/man$sec/$base.txt"
  n=$((n + 1))
done | xargs -0 -n2 -P"$(nproc)" bash -c 'render "$0" "$1"'
echo "build-corpus: $(ls "$out/man2" | wc -l) pages in section 2, $(ls "$out/man7" | wc -l) in section 7 under $out"
