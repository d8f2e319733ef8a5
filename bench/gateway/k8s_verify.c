/* bench/gateway/k8s_verify: what checking a Kubernetes service-account
 * token adds to each request on a k8s listener (gateway/k8s_jwt.c), with
 * and without the cache of verified tokens: RS256 (2048-bit) and ES256
 * tokens minted here with keys generated here, a JWKS file of both, and
 * gw_k8s_auth_check called N times per case. Prints microseconds per
 * check. usage: k8s_verify [N] (default 20000). */
#include "k8s_jwt.h"

#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ISS "https://kubernetes.default.svc.cluster.local"

static char *b64url(const unsigned char *p, size_t n)
{
	static const char t[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	char *o = malloc(n * 4 / 3 + 4);
	size_t k = 0, i;

	if (!o)
		exit(1);
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

static char *bn64(const BIGNUM *b)
{
	unsigned char buf[1024];
	int n = BN_bn2bin(b, buf);

	return b64url(buf, (size_t)n);
}

/* A signed token for pod agents/agent-a; ES256 as JOSE's r||s. */
static char *mint(EVP_PKEY *k, int ec, const char *kid, int serial)
{
	char hdr[128], cl[512], part[2048], *h64, *c64, *s64, *out;
	unsigned char sig[512], rs[64];
	size_t sl = sizeof(sig);
	long now = (long)time(NULL);
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"kid\":\"%s\"}",
		 ec ? "ES256" : "RS256", kid);
	snprintf(cl, sizeof(cl),
		 "{\"aud\":[\"zonegate\"],\"iss\":\"" ISS "\",\"exp\":%ld,"
		 "\"iat\":%ld,\"jti\":\"%d\",\"sub\":\"system:serviceaccount:"
		 "agents:agent-a\",\"kubernetes.io\":{\"namespace\":\"agents\","
		 "\"serviceaccount\":{\"name\":\"agent-a\"}}}",
		 now + 3600, now, serial);
	h64 = b64url((unsigned char *)hdr, strlen(hdr));
	c64 = b64url((unsigned char *)cl, strlen(cl));
	snprintf(part, sizeof(part), "%s.%s", h64, c64);
	if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k) != 1 ||
	    EVP_DigestSign(md, sig, &sl, (unsigned char *)part, strlen(part)) !=
		    1)
		exit(1);
	if (ec) {
		const unsigned char *p = sig;
		ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sl);
		const BIGNUM *r, *s;
		ECDSA_SIG_get0(es, &r, &s);
		BN_bn2binpad(r, rs, 32);
		BN_bn2binpad(s, rs + 32, 32);
		ECDSA_SIG_free(es);
		s64 = b64url(rs, 64);
	} else {
		s64 = b64url(sig, sl);
	}
	sl = strlen(part) + strlen(s64) + 2;
	out = malloc(sl);
	if (!out || snprintf(out, sl, "%s.%s", part, s64) >= (int)sl)
		exit(1);
	EVP_MD_CTX_free(md);
	free(h64);
	free(c64);
	free(s64);
	return out;
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* n checks of tok through a; microseconds per check. */
static double run(struct gw_k8s_auth *a, const char *tok, int n)
{
	struct gw_jwt_identity id;
	int cached;
	double t0 = now_us();

	for (int i = 0; i < n; i++)
		if (gw_k8s_auth_check(a, tok, strlen(tok), &id, &cached,
				      NULL) != GW_JWT_OK)
			exit(1);
	return (now_us() - t0) / n;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 20000;
	EVP_PKEY *rsa = EVP_RSA_gen(2048);
	EVP_PKEY *ec = EVP_EC_gen("P-256");
	BIGNUM *rn = NULL, *re = NULL, *x = NULL, *y = NULL;
	char path[] = "/tmp/zg-k8sbench.XXXXXX", err[256], *rt, *et;
	char *js[4];
	struct gw_k8s_auth *a;
	FILE *f;
	int fd = mkstemp(path);

	if (n < 1 || !rsa || !ec || fd < 0 ||
	    !EVP_PKEY_get_bn_param(rsa, "n", &rn) ||
	    !EVP_PKEY_get_bn_param(rsa, "e", &re) ||
	    !EVP_PKEY_get_bn_param(ec, "qx", &x) ||
	    !EVP_PKEY_get_bn_param(ec, "qy", &y))
		return 1;
	js[0] = bn64(rn);
	js[1] = bn64(re);
	js[2] = bn64(x);
	js[3] = bn64(y);
	f = fdopen(fd, "w");
	fprintf(f,
		"{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"r\",\"n\":\"%s\","
		"\"e\":\"%s\"},{\"kty\":\"EC\",\"kid\":\"e\",\"crv\":"
		"\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}]}",
		js[0], js[1], js[2], js[3]);
	fclose(f);
	a = gw_k8s_auth_new(path, "zonegate", ISS, err, sizeof(err));
	unlink(path);
	if (!a) {
		fprintf(stderr, "k8s_verify: %s\n", err);
		return 1;
	}
	rt = mint(rsa, 0, "r", 1);
	et = mint(ec, 1, "e", 2);
	printf("case us_per_check (n=%d)\n", n);
	gw_k8s_auth_set_cache(a, 1);
	printf("rs256_nocache %.2f\n", run(a, rt, n));
	printf("es256_nocache %.2f\n", run(a, et, n));
	gw_k8s_auth_set_cache(a, 0);
	printf("rs256_cached %.2f\n", run(a, rt, n));
	printf("es256_cached %.2f\n", run(a, et, n));
	gw_k8s_auth_free(a);
	return 0;
}
