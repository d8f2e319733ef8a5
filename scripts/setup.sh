#!/usr/bin/env bash
# Installs everything zonegate needs on Debian 12 (run as root): the
# Debian build and run-time dependencies, and the npm tools the tests and
# benchmarks use (Node 22, the MCP SDK and conformance suite, ...) into
# test/node. Safe to run again; it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

debs=(build-essential cmake pkg-config clang clang-format libclang-rt-14-dev
      libmicrohttpd-dev libjansson-dev libsqlite3-dev sqlite3
      libcurl4-openssl-dev libopenblas-dev libxen-dev
      libssl-dev openssl # libcrypto: HMAC of mcpd's request state, k8s token checks; openssl: test keys
      libseccomp-dev bubblewrap
      manpages manpages-dev groff-base ca-certificates procps iproute2
      prometheus # promtool: the metrics test checks the exposition
      systemd man-db) # systemd-analyze verify and man: the install test
# Node and npm only bootstrap the npm tools (Node 22 itself comes from npm
# as the package node@22); any node that brings npm will do, Debian's
# included.
if ! command -v npm >/dev/null 2>&1; then
  debs+=(nodejs npm)
fi

missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
    || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# npm tools, pinned by test/node/package-lock.json.
if [ ! -x test/node/node_modules/.bin/node ] ||
   [ test/node/package-lock.json -nt test/node/node_modules/.package-lock.json ]; then
  echo "setup: installing npm test tools into test/node"
  (cd test/node && npm ci --no-audit --no-fund --loglevel=error)
fi
test/node/node_modules/.bin/node --version >/dev/null
scripts/build-corpus.sh
