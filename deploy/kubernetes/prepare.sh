#!/bin/sh
# Makes what the manifests reference but cannot hold: the gateway's TLS
# key (Secret gateway-tls) and its CA for the relays (ConfigMap
# gateway-ca), the cluster's service-account JWKS (ConfigMap cluster-jwks)
# and, with BRAVE_API_KEY set, the web zone's search key (Secret
# web-search). Run once before kubectl apply -k; needs kubectl and openssl.
set -eu
ns=zonegate
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply -f -
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
	-subj /CN=zonegate-ca -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-subj /CN=gatewayd.$ns.svc -keyout "$d/tls.key" -out "$d/tls.csr" 2>/dev/null
printf 'subjectAltName=DNS:gatewayd.%s.svc,DNS:gatewayd.%s.svc.cluster.local\n' \
	"$ns" "$ns" >"$d/ext"
openssl x509 -req -in "$d/tls.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" \
	-CAcreateserial -days 365 -extfile "$d/ext" -out "$d/tls.crt" 2>/dev/null
kubectl -n "$ns" create secret tls gateway-tls --cert="$d/tls.crt" \
	--key="$d/tls.key" --dry-run=client -o yaml | kubectl apply -f -
kubectl -n "$ns" create configmap gateway-ca --from-file="$d/ca.crt" \
	--dry-run=client -o yaml | kubectl apply -f -
# The issuer's public keys: gatewayd verifies the projected tokens
# offline against them. Rerun after the cluster rotates its signing key.
kubectl get --raw /openid/v1/jwks >"$d/jwks.json"
kubectl -n "$ns" create configmap cluster-jwks --from-file="$d/jwks.json" \
	--dry-run=client -o yaml | kubectl apply -f -
if [ -n "${BRAVE_API_KEY:-}" ]; then
	printf '%s\n' "$BRAVE_API_KEY" >"$d/brave.key"
	kubectl -n "$ns" create secret generic web-search \
		--from-file="$d/brave.key" --dry-run=client -o yaml | kubectl apply -f -
fi
