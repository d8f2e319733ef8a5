/* Offline verification of Kubernetes projected service-account tokens:
 * the JWKS parser (RSA and P-256 public keys for libcrypto's EVP), the
 * JWT checks (alg, kid, signature, exp/nbf/iat, aud, iss, the
 * kubernetes.io claims) and a thread-safe verifier per listener that
 * rereads its JWKS file and caches verified tokens by hash. */
#include "k8s_jwt.h"
#include "gw.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define KID_MAX 128
#define RSA_BYTES_MIN 256  /* 2048 bits */
#define RSA_BYTES_MAX 1024 /* 8192 bits */

enum { KT_RSA = 1, KT_EC };

struct jwk {
	char kid[KID_MAX + 1];
	int has_kid;
	int type;
	EVP_PKEY *pk;
};

struct gw_jwks {
	struct jwk k[GW_JWKS_KEYS_MAX];
	size_t n;
	int refs; /* the verifier's: under its mutex */
};

const char *gw_jwt_err_name(enum gw_jwt_err e)
{
	static const char *const names[] = {
		"ok",	     "malformed", "algorithm",	   "unknown kid",
		"signature", "expired",	  "not yet valid", "audience",
		"issuer",    "subject",	  "no keys",
	};

	return (size_t)e < sizeof(names) / sizeof(names[0]) ? names[e] : "?";
}

/* ---- base64url ----------------------------------------------------------- */

static int b64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/* Decodes unpadded base64url s (n chars) into a new buffer (NUL-
 * terminated, *out_len bytes); NULL on a bad character, a length that
 * cannot be base64, or no memory. The caller frees it. */
static unsigned char *b64url_decode(const char *s, size_t n, size_t *out_len)
{
	unsigned char *out;
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;

	if (n % 4 == 1)
		return NULL;
	out = malloc(n * 3 / 4 + 2);
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		int v = b64_val((unsigned char)s[i]);
		if (v < 0) {
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	/* leftover bits must be zero (one encoding per value) */
	if (bits && (acc & ((1u << bits) - 1))) {
		free(out);
		return NULL;
	}
	out[o] = '\0';
	*out_len = o;
	return out;
}

/* The base64url member key of o decoded, between min and max bytes;
 * NULL if absent or otherwise. */
static unsigned char *b64_member(json_t *o, const char *key, size_t min,
				 size_t max, size_t *len)
{
	const char *s = json_string_value(json_object_get(o, key));
	unsigned char *b;

	if (!s || strlen(s) > (max * 4 + 2) / 3 + 1)
		return NULL;
	b = b64url_decode(s, strlen(s), len);
	if (b && (*len < min || *len > max)) {
		free(b);
		return NULL;
	}
	return b;
}

/* ---- keys ---------------------------------------------------------------- */

static EVP_PKEY *pkey_from(const char *type, OSSL_PARAM_BLD *b)
{
	OSSL_PARAM *p = OSSL_PARAM_BLD_to_param(b);
	EVP_PKEY_CTX *pc = p ? EVP_PKEY_CTX_new_from_name(NULL, type, NULL)
			     : NULL;
	EVP_PKEY *pk = NULL;

	if (!pc || EVP_PKEY_fromdata_init(pc) != 1 ||
	    EVP_PKEY_fromdata(pc, &pk, EVP_PKEY_PUBLIC_KEY, p) != 1)
		pk = NULL;
	EVP_PKEY_CTX_free(pc);
	OSSL_PARAM_free(p);
	return pk;
}

static EVP_PKEY *rsa_key(json_t *o)
{
	size_t nl = 0, el = 0;
	unsigned char *n =
		b64_member(o, "n", RSA_BYTES_MIN - 1, RSA_BYTES_MAX, &nl);
	unsigned char *e = b64_member(o, "e", 1, 8, &el);
	BIGNUM *bn = n ? BN_bin2bn(n, (int)nl, NULL) : NULL;
	BIGNUM *be = e ? BN_bin2bn(e, (int)el, NULL) : NULL;
	OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
	EVP_PKEY *pk = NULL;

	/* 2048 bits at least (a leading zero octet is allowed) */
	if (!bn || !be || !b || BN_num_bits(bn) < 2048)
		goto out;
	if (OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, bn) != 1 ||
	    OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, be) != 1)
		goto out;
	pk = pkey_from("RSA", b);
out:
	OSSL_PARAM_BLD_free(b);
	BN_free(bn);
	BN_free(be);
	free(n);
	free(e);
	return pk;
}

static EVP_PKEY *ec_key(json_t *o)
{
	const char *crv = json_string_value(json_object_get(o, "crv"));
	size_t xl = 0, yl = 0;
	unsigned char *x = b64_member(o, "x", 32, 32, &xl);
	unsigned char *y = b64_member(o, "y", 32, 32, &yl);
	unsigned char pt[65];
	OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
	EVP_PKEY *pk = NULL;
	EVP_PKEY_CTX *pc = NULL;

	if (!crv || strcmp(crv, "P-256") != 0 || !x || !y || !b)
		goto out;
	pt[0] = 0x04; /* uncompressed */
	memcpy(pt + 1, x, 32);
	memcpy(pt + 33, y, 32);
	if (OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME,
					    "prime256v1", 0) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, pt,
					     sizeof(pt)) != 1)
		goto out;
	pk = pkey_from("EC", b);
	/* the point must be on the curve */
	pc = pk ? EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL) : NULL;
	if (pk && (!pc || EVP_PKEY_public_check(pc) != 1)) {
		EVP_PKEY_free(pk);
		pk = NULL;
	}
out:
	EVP_PKEY_CTX_free(pc);
	OSSL_PARAM_BLD_free(b);
	free(x);
	free(y);
	return pk;
}

/* One JWKS entry into k. Returns 1 (a key), 0 (skipped: another type or
 * use), -1 (a key of ours that is broken) with err. */
static int jwk_of(json_t *o, struct jwk *k, char *err, size_t errlen)
{
	const char *kty = json_string_value(json_object_get(o, "kty"));
	const char *use = json_string_value(json_object_get(o, "use"));
	json_t *kid = json_object_get(o, "kid");

	if (!json_is_object(o) || !kty || (use && strcmp(use, "sig") != 0))
		return 0;
	if (strcmp(kty, "RSA") == 0)
		k->type = KT_RSA;
	else if (strcmp(kty, "EC") == 0)
		k->type = KT_EC;
	else
		return 0;
	if (kid) {
		if (!json_is_string(kid) || json_string_length(kid) == 0 ||
		    json_string_length(kid) > KID_MAX) {
			snprintf(err, errlen,
				 "a key's kid must be 1..%d "
				 "characters",
				 KID_MAX);
			return -1;
		}
		memcpy(k->kid, json_string_value(kid),
		       json_string_length(kid) + 1);
		k->has_kid = 1;
	}
	k->pk = k->type == KT_RSA ? rsa_key(o) : ec_key(o);
	if (!k->pk) {
		snprintf(err, errlen,
			 "key %.40s: not a usable %s public key (RSA: n of "
			 "2048..8192 bits and e; EC: P-256 x, y on the curve)",
			 k->has_kid ? k->kid : "(no kid)", kty);
		return -1;
	}
	return 1;
}

struct gw_jwks *gw_jwks_parse(const char *txt, size_t len, char *err,
			      size_t errlen)
{
	json_error_t je;
	json_t *root = NULL, *keys, *o;
	struct gw_jwks *ks = NULL;
	size_t i;

	if (len > GW_JWKS_MAX) {
		snprintf(err, errlen, "JWKS larger than %u bytes", GW_JWKS_MAX);
		return NULL;
	}
	root = json_loadb(txt, len, JSON_REJECT_DUPLICATES, &je);
	keys = json_object_get(root, "keys");
	if (!json_is_array(keys)) {
		snprintf(err, errlen, "JWKS: %s",
			 root ? "no \"keys\" array" : je.text);
		goto fail;
	}
	if (json_array_size(keys) > GW_JWKS_KEYS_MAX) {
		snprintf(err, errlen, "JWKS: more than %d keys",
			 GW_JWKS_KEYS_MAX);
		goto fail;
	}
	ks = calloc(1, sizeof(*ks));
	if (!ks) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	json_array_foreach (keys, i, o) {
		int r = jwk_of(o, &ks->k[ks->n], err, errlen);
		if (r < 0)
			goto fail;
		ks->n += (size_t)r;
	}
	if (!ks->n) {
		snprintf(err, errlen,
			 "JWKS: no usable key (RSA or EC P-256, use sig)");
		goto fail;
	}
	json_decref(root);
	return ks;
fail:
	gw_jwks_free(ks);
	json_decref(root);
	return NULL;
}

void gw_jwks_free(struct gw_jwks *ks)
{
	if (!ks)
		return;
	for (size_t i = 0; i < ks->n; i++)
		EVP_PKEY_free(ks->k[i].pk);
	free(ks);
}

size_t gw_jwks_count(const struct gw_jwks *ks)
{
	return ks ? ks->n : 0;
}

/* ---- tokens -------------------------------------------------------------- */

/* The key for a token of key type t and kid (NULL: none given). */
static const struct jwk *key_for(const struct gw_jwks *ks, int t,
				 const char *kid)
{
	if (!kid)
		return ks->n == 1 && ks->k[0].type == t ? &ks->k[0] : NULL;
	for (size_t i = 0; i < ks->n; i++)
		if (ks->k[i].type == t && ks->k[i].has_kid &&
		    strcmp(ks->k[i].kid, kid) == 0)
			return &ks->k[i];
	return NULL;
}

/* JOSE's ES256 signature is r||s, 32 bytes each; EVP wants DER. */
static int es256_der(const unsigned char *sig, size_t len, unsigned char *der,
		     size_t *der_len)
{
	ECDSA_SIG *s = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, 32, NULL),
	       *ss = BN_bin2bn(sig + 32, 32, NULL);
	unsigned char *p = der;
	int n = -1;

	if (len != 64 || !s || !r || !ss || ECDSA_SIG_set0(s, r, ss) != 1) {
		BN_free(r);
		BN_free(ss);
		ECDSA_SIG_free(s);
		return -1;
	}
	if (i2d_ECDSA_SIG(s, NULL) <= 80) /* 72 at most for P-256 */
		n = i2d_ECDSA_SIG(s, &p);
	ECDSA_SIG_free(s);
	if (n <= 0)
		return -1;
	*der_len = (size_t)n;
	return 0;
}

static int sig_ok(const struct jwk *k, const char *signed_part, size_t slen,
		  const unsigned char *sig, size_t siglen)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char der[80];
	size_t dl = 0;
	int ok = 0;

	if (!md)
		return 0;
	if (k->type == KT_EC) {
		if (es256_der(sig, siglen, der, &dl) != 0)
			goto out;
		sig = der;
		siglen = dl;
	}
	ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k->pk) == 1 &&
	     EVP_DigestVerify(md, sig, siglen,
			      (const unsigned char *)signed_part, slen) == 1;
out:
	EVP_MD_CTX_free(md);
	return ok;
}

/* Decodes base64url part (n chars) as a JSON object, or NULL. */
static json_t *json_part(const char *s, size_t n)
{
	size_t len = 0;
	unsigned char *b = b64url_decode(s, n, &len);
	json_t *o = b ? json_loadb((const char *)b, len, JSON_REJECT_DUPLICATES,
				   NULL)
		      : NULL;

	free(b);
	if (o && !json_is_object(o)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int aud_has(json_t *aud, const char *want)
{
	size_t i;
	json_t *v;

	if (json_is_string(aud))
		return strcmp(json_string_value(aud), want) == 0;
	json_array_foreach (aud, i, v)
		if (json_is_string(v) &&
		    strcmp(json_string_value(v), want) == 0)
			return 1;
	return 0;
}

static enum gw_jwt_err time_check(json_t *c, int64_t now, int64_t *exp)
{
	json_t *e = json_object_get(c, "exp"), *nbf = json_object_get(c, "nbf"),
	       *iat = json_object_get(c, "iat");

	if (!json_is_integer(e) || (nbf && !json_is_integer(nbf)) ||
	    (iat && !json_is_integer(iat)))
		return json_is_integer(e) ? GW_JWT_MALFORMED : GW_JWT_EXPIRED;
	*exp = json_integer_value(e);
	if (now - GW_JWT_LEEWAY > *exp) /* no overflow whatever exp is */
		return GW_JWT_EXPIRED;
	if ((nbf && json_integer_value(nbf) > now + GW_JWT_LEEWAY) ||
	    (iat && json_integer_value(iat) > now + GW_JWT_LEEWAY))
		return GW_JWT_NOT_YET;
	return GW_JWT_OK;
}

/* The claims of a token whose signature verified. */
static enum gw_jwt_err claims_check(json_t *c, const char *audience,
				    const char *issuer, int64_t now,
				    struct gw_jwt_identity *id)
{
	json_t *k = json_object_get(c, "kubernetes.io");
	const char *ns = json_string_value(json_object_get(k, "namespace"));
	const char *sa = json_string_value(
		json_object_get(json_object_get(k, "serviceaccount"), "name"));
	const char *iss = json_string_value(json_object_get(c, "iss"));
	const char *sub = json_string_value(json_object_get(c, "sub"));
	enum gw_jwt_err r = time_check(c, now, &id->exp);
	char want[GW_K8S_NS_MAX + GW_K8S_SA_MAX + 32];

	if (r != GW_JWT_OK)
		return r;
	if (!aud_has(json_object_get(c, "aud"), audience))
		return GW_JWT_AUDIENCE;
	if (!iss || strcmp(iss, issuer) != 0)
		return GW_JWT_ISSUER;
	if (!gw_k8s_name_ok(ns, 1) || !gw_k8s_name_ok(sa, 0) ||
	    strlen(ns) > GW_K8S_NS_MAX || strlen(sa) > GW_K8S_SA_MAX)
		return GW_JWT_SUBJECT;
	/* sub, when present, must say the same */
	snprintf(want, sizeof(want), "system:serviceaccount:%s:%s", ns, sa);
	if (sub && strcmp(sub, want) != 0)
		return GW_JWT_SUBJECT;
	memcpy(id->ns, ns, strlen(ns) + 1);
	memcpy(id->sa, sa, strlen(sa) + 1);
	return GW_JWT_OK;
}

enum gw_jwt_err gw_jwt_verify(const struct gw_jwks *ks, const char *tok,
			      size_t len, const char *audience,
			      const char *issuer, int64_t now,
			      struct gw_jwt_identity *id)
{
	const char *d1, *d2, *alg, *kid;
	json_t *hdr = NULL, *claims = NULL;
	unsigned char *sig = NULL;
	size_t siglen = 0;
	const struct jwk *k;
	enum gw_jwt_err r = GW_JWT_MALFORMED;
	int t;

	if (!ks || !ks->n)
		return GW_JWT_NO_KEYS;
	if (len > GW_JWT_MAX || memchr(tok, '\0', len))
		return GW_JWT_MALFORMED;
	d1 = memchr(tok, '.', len);
	d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok)) : NULL;
	if (!d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - tok)))
		return GW_JWT_MALFORMED;
	hdr = json_part(tok, (size_t)(d1 - tok));
	if (!hdr)
		goto out;
	alg = json_string_value(json_object_get(hdr, "alg"));
	kid = json_string_value(json_object_get(hdr, "kid"));
	if ((json_object_get(hdr, "kid") && !kid) ||
	    json_object_get(hdr, "crit"))
		goto out;
	r = GW_JWT_ALG;
	if (!alg)
		goto out;
	if (strcmp(alg, "RS256") == 0)
		t = KT_RSA;
	else if (strcmp(alg, "ES256") == 0)
		t = KT_EC;
	else
		goto out; /* none, HS*, PS*, anything else */
	r = GW_JWT_KID;
	k = key_for(ks, t, kid);
	if (!k)
		goto out;
	r = GW_JWT_MALFORMED;
	sig = b64url_decode(d2 + 1, len - (size_t)(d2 + 1 - tok), &siglen);
	if (!sig || !siglen)
		goto out;
	r = GW_JWT_SIGNATURE;
	if (!sig_ok(k, tok, (size_t)(d2 - tok), sig, siglen))
		goto out;
	r = GW_JWT_MALFORMED;
	claims = json_part(d1 + 1, (size_t)(d2 - d1 - 1));
	if (!claims)
		goto out;
	r = claims_check(claims, audience, issuer, now, id);
out:
	free(sig);
	json_decref(hdr);
	json_decref(claims);
	return r;
}

/* ---- the verifier ---------------------------------------------------------- */

struct cache_ent {
	uint8_t h[32];
	int used;
	struct gw_jwt_identity id;
};

struct gw_k8s_auth {
	pthread_mutex_t mu;
	char *file, *aud, *iss;
	struct gw_jwks *ks; /* in force; refs: users outside the mutex */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	struct cache_ent *cache; /* GW_K8S_CACHE_SLOTS, direct-mapped */
	int cache_off;
};

static void ks_unref(struct gw_jwks *ks)
{
	if (ks && --ks->refs == 0)
		gw_jwks_free(ks);
}

/* Reads and parses the JWKS file; st gets its stat. */
static struct gw_jwks *jwks_load(const char *file, struct stat *st, char *err,
				 size_t errlen)
{
	size_t len = 0;
	char e2[256];
	char *txt;
	struct gw_jwks *ks;

	if (stat(file, st) != 0) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		return NULL;
	}
	txt = gw_read_file(file, GW_JWKS_MAX, &len, err, errlen);
	if (!txt)
		return NULL;
	ks = gw_jwks_parse(txt, len, e2, sizeof(e2));
	free(txt);
	if (!ks)
		snprintf(err, errlen, "%s: %s", file, e2);
	else
		ks->refs = 1;
	return ks;
}

static void set_sig(struct gw_k8s_auth *a, const struct stat *st)
{
	a->dev = st->st_dev;
	a->ino = st->st_ino;
	a->size = st->st_size;
	a->mtime = st->st_mtim;
}

struct gw_k8s_auth *gw_k8s_auth_new(const char *jwks_file, const char *audience,
				    const char *issuer, char *err,
				    size_t errlen)
{
	struct gw_k8s_auth *a = calloc(1, sizeof(*a));
	struct stat st;

	if (!a)
		goto oom;
	pthread_mutex_init(&a->mu, NULL);
	a->file = strdup(jwks_file);
	a->aud = strdup(audience);
	a->iss = strdup(issuer);
	a->cache = calloc(GW_K8S_CACHE_SLOTS, sizeof(*a->cache));
	if (!a->file || !a->aud || !a->iss || !a->cache) {
		gw_k8s_auth_free(a);
		goto oom;
	}
	a->ks = jwks_load(jwks_file, &st, err, errlen);
	if (!a->ks) {
		gw_k8s_auth_free(a);
		return NULL;
	}
	set_sig(a, &st);
	return a;
oom:
	snprintf(err, errlen, "out of memory");
	return NULL;
}

void gw_k8s_auth_free(struct gw_k8s_auth *a)
{
	if (!a)
		return;
	ks_unref(a->ks);
	free(a->file);
	free(a->aud);
	free(a->iss);
	free(a->cache);
	pthread_mutex_destroy(&a->mu);
	free(a);
}

int gw_k8s_auth_reload(struct gw_k8s_auth *a, char *err, size_t errlen)
{
	struct stat st;
	struct gw_jwks *ks, *old;

	memset(&st, 0, sizeof(st));
	if (stat(a->file, &st) == 0 && st.st_dev == a->dev &&
	    st.st_ino == a->ino && st.st_size == a->size &&
	    st.st_mtim.tv_sec == a->mtime.tv_sec &&
	    st.st_mtim.tv_nsec == a->mtime.tv_nsec)
		return 0;
	memset(&st, 0, sizeof(st));
	ks = jwks_load(a->file, &st, err, errlen);
	pthread_mutex_lock(&a->mu);
	/* a refused file is not retried until it changes again */
	set_sig(a, &st);
	if (!ks) {
		pthread_mutex_unlock(&a->mu);
		return -1;
	}
	old = a->ks;
	a->ks = ks;
	/* a removed key revokes its tokens at once */
	memset(a->cache, 0, GW_K8S_CACHE_SLOTS * sizeof(*a->cache));
	ks_unref(old);
	pthread_mutex_unlock(&a->mu);
	return 1;
}

void gw_k8s_auth_set_cache(struct gw_k8s_auth *a, int off)
{
	pthread_mutex_lock(&a->mu);
	a->cache_off = off;
	memset(a->cache, 0, GW_K8S_CACHE_SLOTS * sizeof(*a->cache));
	pthread_mutex_unlock(&a->mu);
}

enum gw_jwt_err gw_k8s_auth_check(struct gw_k8s_auth *a, const char *tok,
				  size_t len, struct gw_jwt_identity *id,
				  int *cached, char hash12[13])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t h[32];
	unsigned int hl = 0;
	struct cache_ent *e;
	struct gw_jwks *ks;
	int64_t now = (int64_t)time(NULL);
	enum gw_jwt_err r;

	*cached = 0;
	if (len > GW_JWT_MAX ||
	    EVP_Digest(tok, len, h, &hl, EVP_sha256(), NULL) != 1)
		return GW_JWT_MALFORMED;
	if (hash12) {
		for (int i = 0; i < 6; i++) {
			hash12[2 * i] = hex[h[i] >> 4];
			hash12[2 * i + 1] = hex[h[i] & 15];
		}
		hash12[12] = '\0';
	}
	e = &a->cache[(h[0] | (unsigned)h[1] << 8) % GW_K8S_CACHE_SLOTS];
	pthread_mutex_lock(&a->mu);
	/* a hit is good strictly before its exp, never with leeway */
	if (!a->cache_off && e->used && memcmp(e->h, h, 32) == 0 &&
	    now < e->id.exp) {
		*id = e->id;
		pthread_mutex_unlock(&a->mu);
		*cached = 1;
		return GW_JWT_OK;
	}
	ks = a->ks;
	ks->refs++;
	pthread_mutex_unlock(&a->mu);
	r = gw_jwt_verify(ks, tok, len, a->aud, a->iss, now, id);
	pthread_mutex_lock(&a->mu);
	/* only what the keys in force still vouch for is remembered */
	if (r == GW_JWT_OK && !a->cache_off && ks == a->ks && now < id->exp) {
		memcpy(e->h, h, 32);
		e->id = *id;
		e->used = 1;
	}
	ks_unref(ks);
	pthread_mutex_unlock(&a->mu);
	return r;
}
