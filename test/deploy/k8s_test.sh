#!/bin/bash
# The Kubernetes manifests (deploy/kubernetes) and the image
# (deploy/Containerfile) against the schemas and the binaries, no cluster:
#   schema  k8s_check.mjs: the API and CRD schemas, strictly, and what the
#           manifests promise (docs/deploy.md, "Kubernetes")
#   flags   every option and subcommand of every container command, exec
#           probe, hosted agent server and the image's CMD is in that
#           binary's --help; mcpd accepts each agent's --servers file
#   config  the gateway config of the ConfigMap passes gatewayd --check and
#           gatewayctl lint once its paths point into a scratch tree with a
#           TLS key pair and a JWKS made here
# Exit 77 (ctest: skipped) only for what this build cannot check yet: a
# binary the manifests run that is not built (flags), or a gatewayd whose
# config parser does not know the "k8s" keys (config); each says so.
# Usage: k8s_test.sh MODE BUILD_DIR SOURCE_DIR
set -u
MODE=$1
B=$2
SRC=$3
S=$(mktemp -d)
trap 'rm -rf "$S"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
. "$SRC/test/deploy/flags.sh"
node=$SRC/test/node/node_modules/.bin/node

"$node" "$SRC/test/deploy/k8s_check.mjs" "$SRC" "$S" >"$S/check.log" 2>&1
rc=$?
if [ "$MODE" = schema ]; then
	cat "$S/check.log"
	exit $rc
fi
[ -s "$S/commands.tsv" ] || { cat "$S/check.log"; exit 1; }

case $MODE in
flags)
	missing=
	while IFS=$'\t' read -r -a argv; do
		case ${argv[0]} in
		gateway* | mcpd | ragctl | zonectl | zonegate-*) ;;
		*) # a system command of the Debian image (sleep)
			[ -x "/usr/bin/${argv[0]}" ] || [ -x "/bin/${argv[0]}" ] ||
				fail "${argv[0]}: neither zonegate's nor Debian's"
			continue ;;
		esac
		exe=$B/bin/${argv[0]}
		if [ ! -x "$exe" ]; then
			missing="$missing ${argv[0]}"
			continue
		fi
		WHERE=manifest check_command "$exe" "${argv[@]:1}"
	done < <(sort -u "$S/commands.tsv") >"$S/flags.log"
	cat "$S/flags.log"
	# mcpd reads the whole servers file at start (unknown keys,
	# commands not on PATH are errors) and ends at stdin's end.
	while read -r f; do
		PATH=$B/bin:/usr/bin:/bin timeout 60 "$B/bin/mcpd" --servers "$f" \
			--stdio </dev/null >"$S/srv.log" 2>&1 ||
			fail "mcpd --servers ${f#"$SRC"/}: $(cat "$S/srv.log")"
	done <"$S/servers.txt"
	[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
	if [ -n "$missing" ]; then
		echo "skip: the manifests run binaries this build lacks:$missing"
		exit 77
	fi ;;
config)
	cfg=$(cat "$S/gateway.json")
	R=$S/root
	mkdir -p "$R/etc/zonegate/config" "$R/etc/zonegate/tls" \
		"$R/etc/zonegate/jwks" "$R/var/lib/zonegate" "$R/run/zonegate"
	cp -r "$(dirname "$cfg")/policy.d" "$R/etc/zonegate/"
	sed -e "s|\"/etc/|\"$R/etc/|g; s|\"/run/|\"$R/run/|g; s|\"/var/|\"$R/var/|g" \
		"$cfg" >"$R/etc/zonegate/config/gateway.json"
	grep -o '"/[^"]*"' "$R/etc/zonegate/config/gateway.json" |
		grep -v "^\"$R/" && fail "the config has a path outside /etc, /run, /var"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-days 2 -subj /CN=gatewayd.zonegate.svc \
		-keyout "$R/etc/zonegate/tls/tls.key" \
		-out "$R/etc/zonegate/tls/tls.crt" 2>/dev/null ||
		fail "openssl could not make the test's key pair"
	# A JWKS as the API server's /openid/v1/jwks serves it: one RS256 key.
	"$node" -e '
		const c = require("node:crypto");
		const { publicKey } = c.generateKeyPairSync("rsa", { modulusLength: 2048 });
		const k = publicKey.export({ format: "jwk" });
		process.stdout.write(JSON.stringify({ keys: [{ use: "sig", kty: "RSA",
			kid: "test", alg: "RS256", n: k.n, e: k.e }] }));
	' >"$R/etc/zonegate/jwks/jwks.json"
	out=$("$B/bin/gatewayd" --check --config "$R/etc/zonegate/config/gateway.json" 2>&1)
	rc=$?
	echo "$out"
	if [ $rc -ne 0 ] && grep -q "unknown key 'k8s'" <<<"$out"; then
		echo "skip: this gatewayd does not know the \"k8s\" zone and listener keys yet"
		exit 77
	fi
	[ $rc -eq 0 ] || fail "gatewayd --check refuses the Kubernetes config"
	"$B/bin/gatewayctl" --config "$R/etc/zonegate/config/gateway.json" lint \
		>"$S/lint.log" 2>&1 || { cat "$S/lint.log"; fail "gatewayctl lint"; } ;;
*) echo "usage: k8s_test.sh schema|flags|config BUILD_DIR SOURCE_DIR"; exit 2 ;;
esac
[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "k8s $MODE: ok"
