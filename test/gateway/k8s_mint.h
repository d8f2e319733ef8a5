/* Test support for Kubernetes token checks (test_k8s_jwt, the k8s_verify
 * benchmark): an RSA-2048 and a P-256 key generated with libcrypto, the
 * JWKS of both (kids "r" and "e"), and tokens signed as the API server
 * signs projected service-account tokens. */
#ifndef K8S_MINT_H
#define K8S_MINT_H

#include <openssl/evp.h>
#include <stddef.h>

struct k8s_keys {
	EVP_PKEY *rsa, *ec;
	char *jwks; /* {"keys": [RSA "r", EC "e"]} */
};

/* Generates both keys and the JWKS. Returns 0, or -1 (then free). */
int k8s_keys_new(struct k8s_keys *k);
void k8s_keys_free(struct k8s_keys *k);
/* Unpadded base64url of p (n bytes), a new string. */
char *k8s_b64url(const unsigned char *p, size_t n);
/* A token: base64url(header).base64url(claims).signature, signed with
 * key (RS256, or ES256 as JOSE's r||s when ec). A new string, or NULL. */
char *k8s_mint(EVP_PKEY *key, int ec, const char *header, const char *claims);

#endif
