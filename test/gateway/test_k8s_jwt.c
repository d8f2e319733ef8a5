/* Unit tests of the Kubernetes token checks (gateway/k8s_jwt.c) with keys
 * and tokens made here (k8s_mint.c): what the JWKS parser refuses, each
 * verification rule at its edge, and the cache: a token accepted only in
 * the leeway after its exp is never remembered, a JWKS change empties the
 * cache. */
#include "k8s_jwt.h"
#include "k8s_mint.h"
#include "zgtest.h"

#include <openssl/bn.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define AUD "zonegate"
#define ISS "https://kubernetes.default.svc.cluster.local"
#define RS "{\"alg\":\"RS256\",\"kid\":\"r\"}"

static struct k8s_keys keys;
static struct gw_jwks *ks;
static int64_t now;

/* Claims for agents/agent-a with exp at now + ttl, plus extra members. */
static char *claims(long ttl, const char *extra)
{
	static char buf[1024];

	snprintf(buf, sizeof(buf),
		 "{\"aud\":[\"zonegate\"],\"iss\":\"" ISS "\",\"exp\":%lld,"
		 "\"iat\":%lld,\"kubernetes.io\":{\"namespace\":\"agents\","
		 "\"serviceaccount\":{\"name\":\"agent-a\"}}%s%s}",
		 (long long)(now + ttl), (long long)now, extra ? "," : "",
		 extra ? extra : "");
	return buf;
}

static enum gw_jwt_err verify(const char *tok)
{
	struct gw_jwt_identity id;

	return tok ? gw_jwt_verify(ks, tok, strlen(tok), AUD, ISS, now, &id)
		   : GW_JWT_MALFORMED;
}

/* Mints with the RSA key and verifies; frees the token. */
static enum gw_jwt_err rs(const char *hdr, const char *cl)
{
	char *t = k8s_mint(keys.rsa, 0, hdr, cl);
	enum gw_jwt_err r = verify(t);

	free(t);
	return r;
}

static void test_rules(void)
{
	struct gw_jwt_identity id;
	char *t = k8s_mint(keys.ec, 1, "{\"alg\":\"ES256\",\"kid\":\"e\"}",
			   claims(600, NULL));

	CHECK(t != NULL);
	CHECK_EQ_INT(gw_jwt_verify(ks, t, strlen(t), AUD, ISS, now, &id),
		     GW_JWT_OK);
	CHECK_STR(id.ns, "agents");
	CHECK_STR(id.sa, "agent-a");
	CHECK_EQ_INT(id.exp, now + 600);
	free(t);
	CHECK_EQ_INT(rs(RS, claims(600, NULL)), GW_JWT_OK);
	/* exp: the leeway is 30 s; missing exp is expired */
	CHECK_EQ_INT(rs(RS, claims(-29, NULL)), GW_JWT_OK);
	CHECK_EQ_INT(rs(RS, claims(-31, NULL)), GW_JWT_EXPIRED);
	CHECK_EQ_INT(rs(RS, "{\"aud\":\"zonegate\",\"iss\":\"" ISS "\"}"),
		     GW_JWT_EXPIRED);
	/* the kid must be known and of the alg's type; without a kid only
	 * a set of one key will do (this one has two) */
	CHECK_EQ_INT(rs("{\"alg\":\"RS256\",\"kid\":\"e\"}", claims(600, NULL)),
		     GW_JWT_KID);
	CHECK_EQ_INT(rs("{\"alg\":\"RS256\"}", claims(600, NULL)), GW_JWT_KID);
	CHECK_EQ_INT(rs("{\"alg\":\"PS256\",\"kid\":\"r\"}", claims(600, NULL)),
		     GW_JWT_ALG);
	CHECK_EQ_INT(rs("{\"alg\":\"RS256\",\"kid\":\"r\",\"crit\":[\"x\"]}",
			claims(600, NULL)),
		     GW_JWT_MALFORMED);
	CHECK_EQ_INT(rs("{\"alg\":\"RS256\",\"alg\":\"none\",\"kid\":\"r\"}",
			claims(600, NULL)),
		     GW_JWT_MALFORMED);
	/* a sub naming another account; a namespace that is no name */
	CHECK_EQ_INT(rs(RS, claims(600, "\"sub\":\"system:serviceaccount:"
					"agents:agent-b\"")),
		     GW_JWT_SUBJECT);
	CHECK_EQ_INT(rs(RS, "{\"aud\":\"zonegate\",\"iss\":\"" ISS "\","
			    "\"exp\":4102444800,\"kubernetes.io\":{"
			    "\"namespace\":\"A/B\",\"serviceaccount\":{"
			    "\"name\":\"x\"}}}"),
		     GW_JWT_SUBJECT);
}

/* Encodings: padding, trailing bits that are not zero, a fourth part, a
 * short ES256 signature. */
static void test_encoding(void)
{
	char *t = k8s_mint(keys.rsa, 0, RS, claims(600, NULL));
	char *e = k8s_mint(keys.ec, 1, "{\"alg\":\"ES256\",\"kid\":\"e\"}",
			   claims(600, NULL));
	size_t n = (t ? strlen(t) : 0) + 8;
	char *m = malloc(n);

	if (!t || !e || !m) {
		CHECK(0);
		return;
	}

	snprintf(m, n, "%s=", t);
	CHECK_EQ_INT(verify(m), GW_JWT_MALFORMED);
	snprintf(m, n, "%s.x", t);
	CHECK_EQ_INT(verify(m), GW_JWT_MALFORMED);
	/* the RSA-2048 signature is 256 bytes: 342 characters, whose last
	 * one carries 4 unused bits */
	snprintf(m, n, "%s", t);
	m[strlen(m) - 1] = m[strlen(m) - 1] == 'A' ? 'B' : 'A';
	CHECK(verify(m) == GW_JWT_MALFORMED || verify(m) == GW_JWT_SIGNATURE);
	free(m);
	e[strlen(e) - 6] = '\0'; /* 80 characters: 60 bytes, not r||s */
	CHECK_EQ_INT(verify(e), GW_JWT_SIGNATURE);
	free(e);
	free(t);
}

static void test_jwks(void)
{
	char err[256], buf[8192];
	struct gw_jwks *k;
	EVP_PKEY *small = EVP_RSA_gen(1024);
	BIGNUM *n = NULL;
	unsigned char nb[256];
	char *n64;
	int nl;

	/* a 1024-bit RSA key is refused */
	CHECK(small && EVP_PKEY_get_bn_param(small, "n", &n) == 1);
	nl = BN_bn2bin(n, nb);
	n64 = k8s_b64url(nb, (size_t)nl);
	snprintf(buf, sizeof(buf),
		 "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"s\",\"n\":\"%s\","
		 "\"e\":\"AQAB\"}]}",
		 n64);
	k = gw_jwks_parse(buf, strlen(buf), err, sizeof(err));
	CHECK(k == NULL && strstr(err, "not a usable RSA"));
	free(n64);
	BN_free(n);
	EVP_PKEY_free(small);
	/* a point off the curve */
	snprintf(buf, sizeof(buf),
		 "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\","
		 "\"y\":\"%s\"}]}",
		 "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		 "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
	CHECK(gw_jwks_parse(buf, strlen(buf), err, sizeof(err)) == NULL);
	/* keys for encryption and other types are skipped: none left */
	snprintf(buf, sizeof(buf),
		 "{\"keys\":[{\"kty\":\"RSA\",\"use\":\"enc\"},"
		 "{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}]}");
	CHECK(gw_jwks_parse(buf, strlen(buf), err, sizeof(err)) == NULL &&
	      strstr(err, "no usable key"));
	/* more than 32 keys */
	{
		size_t o = (size_t)snprintf(buf, sizeof(buf), "{\"keys\":[{}");
		for (int i = 1; i < 33; i++)
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, ",{}");
		snprintf(buf + o, sizeof(buf) - o, "]}");
	}
	CHECK(gw_jwks_parse(buf, strlen(buf), err, sizeof(err)) == NULL &&
	      strstr(err, "more than 32"));
	CHECK_EQ_INT(gw_jwks_count(ks), 2);
}

static void write_jwks(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* What it proves: the cache never serves a token past its exp (seen to
 * fail with the cache's exp checks, on storing and on lookup, off), and a
 * JWKS change drops every entry (seen to fail without the flush). */
static void test_cache(void)
{
	char path[] = "/tmp/zg-k8s-test.XXXXXX", err[256];
	int fd = mkstemp(path), cached = -1;
	struct gw_k8s_auth *a;
	struct gw_jwt_identity id;
	char *good, *late;
	struct timespec later = { 0, 20 * 1000 * 1000 };

	CHECK(fd >= 0);
	close(fd);
	write_jwks(path, keys.jwks);
	a = gw_k8s_auth_new(path, AUD, ISS, err, sizeof(err));
	CHECK(a != NULL);
	if (!a)
		return;
	now = (int64_t)time(NULL);
	good = k8s_mint(keys.rsa, 0, RS, claims(600, NULL));
	late = k8s_mint(keys.rsa, 0, RS, claims(-10, NULL));
	CHECK_EQ_INT(gw_k8s_auth_check(a, good, strlen(good), &id, &cached,
				       NULL),
		     GW_JWT_OK);
	CHECK_EQ_INT(cached, 0);
	CHECK_EQ_INT(gw_k8s_auth_check(a, good, strlen(good), &id, &cached,
				       NULL),
		     GW_JWT_OK);
	CHECK_EQ_INT(cached, 1);
	/* in the leeway: accepted, never from the cache */
	for (int i = 0; i < 2; i++) {
		CHECK_EQ_INT(gw_k8s_auth_check(a, late, strlen(late), &id,
					       &cached, NULL),
			     GW_JWT_OK);
		CHECK_EQ_INT(cached, 0);
	}
	/* a JWKS without the RSA key (a new file, as a ConfigMap update
	 * makes): the cached token goes with it */
	nanosleep(&later, NULL); /* a new mtime, whatever the clock's grain */
	write_jwks(path, "{\"keys\":[{}]}"); /* refused: old keys stay */
	CHECK_EQ_INT(gw_k8s_auth_reload(a, err, sizeof(err)), -1);
	{
		char ec_only[1024];
		const char *e = strstr(keys.jwks, "{\"kty\":\"EC\"");
		snprintf(ec_only, sizeof(ec_only), "{\"keys\":[%s", e);
		write_jwks(path, ec_only);
	}
	CHECK_EQ_INT(gw_k8s_auth_reload(a, err, sizeof(err)), 1);
	CHECK_EQ_INT(gw_k8s_auth_check(a, good, strlen(good), &id, &cached,
				       NULL),
		     GW_JWT_KID);
	CHECK_EQ_INT(gw_k8s_auth_reload(a, err, sizeof(err)), 0);
	gw_k8s_auth_free(a);
	unlink(path);
	free(good);
	free(late);
}

int main(void)
{
	char err[256];

	if (k8s_keys_new(&keys) != 0)
		return 1;
	ks = gw_jwks_parse(keys.jwks, strlen(keys.jwks), err, sizeof(err));
	if (!ks) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	now = (int64_t)time(NULL);
	RUN(test_rules);
	RUN(test_encoding);
	RUN(test_jwks);
	RUN(test_cache);
	gw_jwks_free(ks);
	k8s_keys_free(&keys);
	return ZGT_DONE();
}
