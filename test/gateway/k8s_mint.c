/* Test support: keys, a JWKS and signed tokens for the Kubernetes token
 * checks (k8s_mint.h). */
#include "k8s_mint.h"

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *k8s_b64url(const unsigned char *p, size_t n)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				"abcdefghijklmnopqrstuvwxyz0123456789-_";
	char *o = malloc(n * 4 / 3 + 4);
	size_t k = 0, i;

	if (!o)
		return NULL;
	for (i = 0; i + 2 < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 |
			     p[i + 2];
		o[k++] = t[v >> 18];
		o[k++] = t[(v >> 12) & 63];
		o[k++] = t[(v >> 6) & 63];
		o[k++] = t[v & 63];
	}
	if (n - i == 1) {
		o[k++] = t[p[i] >> 2];
		o[k++] = t[(p[i] & 3) << 4];
	} else if (n - i == 2) {
		unsigned v = (unsigned)p[i] << 8 | p[i + 1];
		o[k++] = t[v >> 10];
		o[k++] = t[(v >> 4) & 63];
		o[k++] = t[(v & 15) << 2];
	}
	o[k] = '\0';
	return o;
}

static char *bn64(EVP_PKEY *k, const char *name)
{
	unsigned char buf[1024];
	BIGNUM *b = NULL;
	char *s = NULL;
	int n;

	if (EVP_PKEY_get_bn_param(k, name, &b) == 1 &&
	    (n = BN_bn2binpad(b, buf,
			      strcmp(name, "n") && strcmp(name, "e")
				      ? 32
				      : BN_num_bytes(b))) > 0)
		s = k8s_b64url(buf, (size_t)n);
	BN_free(b);
	return s;
}

int k8s_keys_new(struct k8s_keys *k)
{
	char *v[4];
	size_t len = 4096;
	int rc = -1;

	memset(k, 0, sizeof(*k));
	k->rsa = EVP_RSA_gen(2048);
	k->ec = EVP_EC_gen("P-256");
	if (!k->rsa || !k->ec)
		return -1;
	v[0] = bn64(k->rsa, "n");
	v[1] = bn64(k->rsa, "e");
	v[2] = bn64(k->ec, "qx");
	v[3] = bn64(k->ec, "qy");
	k->jwks = malloc(len);
	if (v[0] && v[1] && v[2] && v[3] && k->jwks &&
	    snprintf(k->jwks, len,
		     "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"r\",\"n\":\"%s\","
		     "\"e\":\"%s\"},{\"kty\":\"EC\",\"kid\":\"e\",\"crv\":"
		     "\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}]}",
		     v[0], v[1], v[2], v[3]) < (int)len)
		rc = 0;
	for (int i = 0; i < 4; i++)
		free(v[i]);
	return rc;
}

void k8s_keys_free(struct k8s_keys *k)
{
	EVP_PKEY_free(k->rsa);
	EVP_PKEY_free(k->ec);
	free(k->jwks);
}

/* JOSE's ES256 r||s from libcrypto's DER signature into rs. */
static int raw_rs(const unsigned char *der, size_t len, unsigned char rs[64])
{
	const unsigned char *p = der;
	ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)len);
	const BIGNUM *r, *s;
	int ok;

	if (!es)
		return -1;
	ECDSA_SIG_get0(es, &r, &s);
	ok = BN_bn2binpad(r, rs, 32) == 32 &&
	     BN_bn2binpad(s, rs + 32, 32) == 32;
	ECDSA_SIG_free(es);
	return ok ? 0 : -1;
}

char *k8s_mint(EVP_PKEY *key, int ec, const char *header, const char *claims)
{
	char *h = k8s_b64url((const unsigned char *)header, strlen(header));
	char *c = k8s_b64url((const unsigned char *)claims, strlen(claims));
	char *part = NULL, *s64 = NULL, *out = NULL;
	unsigned char sig[1024], rs[64];
	size_t sl = sizeof(sig), n;
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	if (!h || !c || !md)
		goto out;
	n = strlen(h) + strlen(c) + 2;
	part = malloc(n);
	if (!part || snprintf(part, n, "%s.%s", h, c) >= (int)n ||
	    EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, sig, &sl, (unsigned char *)part, strlen(part)) !=
		    1)
		goto out;
	if (ec && raw_rs(sig, sl, rs) != 0)
		goto out;
	s64 = ec ? k8s_b64url(rs, 64) : k8s_b64url(sig, sl);
	n = strlen(part) + (s64 ? strlen(s64) : 0) + 2;
	out = s64 ? malloc(n) : NULL;
	if (out && snprintf(out, n, "%s.%s", part, s64) >= (int)n) {
		free(out);
		out = NULL;
	}
out:
	EVP_MD_CTX_free(md);
	free(h);
	free(c);
	free(part);
	free(s64);
	return out;
}
