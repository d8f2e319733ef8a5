#!/bin/sh
# bench/gateway/k8s.sh: what checking Kubernetes service-account tokens
# costs on a k8s listener. 1) k8s_verify: one check, RS256 and ES256,
# with and without the cache of verified tokens (microseconds); 2)
# k8s_e2e.mjs: tools/call over HTTPS through gatewayd on the k8s listener
# (the same token every call: cache hits; a new token every call: misses)
# against a listener bound by a static token. Results in docs/benchmarks.md.
# usage: bench/gateway/k8s.sh [BUILD_DIR]   env: N=20000 CALLS=2000 ROUNDS=3
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
node=${NODE:-$root/test/node/node_modules/.bin/node}
for f in k8s_verify gatewayd mcpd-test; do
	[ -x "$build/bin/$f" ] || { echo "k8s.sh: missing $build/bin/$f (build first)" >&2; exit 2; }
done
"$build/bin/k8s_verify" "${N:-20000}"
GATEWAYD=$build/bin/gatewayd MCPD_TEST=$build/bin/mcpd-test "$node" "$here/k8s_e2e.mjs"
