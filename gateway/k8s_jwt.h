/* Kubernetes service-account identity for the gateway's HTTP listeners:
 * a projected service-account token (a JWT, RS256 or ES256) verified
 * offline against the cluster's JWKS with libcrypto, and a verifier that
 * rereads the JWKS file when it changes and caches verified tokens.
 * docs/gateway.md, "Zones that are pods". */
#ifndef GW_K8S_JWT_H
#define GW_K8S_JWT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define GW_JWT_MAX 8192		/* bytes of one token */
#define GW_JWKS_MAX (64u << 10) /* bytes of the JWKS file */
#define GW_JWKS_KEYS_MAX 32	/* keys in it */
#define GW_JWT_LEEWAY 30	/* seconds of clock skew on exp/nbf/iat */
#define GW_K8S_NS_MAX 63	/* a namespace: a DNS-1123 label */
#define GW_K8S_SA_MAX 253	/* a service account: a DNS-1123 name */
#define GW_K8S_CACHE_SLOTS 1024 /* verified tokens remembered */

/* Why a token was refused (the audit's reason names it). */
enum gw_jwt_err {
	GW_JWT_OK = 0,
	GW_JWT_MALFORMED, /* not three base64url parts of JSON, over caps */
	GW_JWT_ALG,	  /* alg none, HS*, or anything but RS256/ES256 */
	GW_JWT_KID,	  /* no key of the JWKS has its kid (and type) */
	GW_JWT_SIGNATURE, /* the signature does not verify */
	GW_JWT_EXPIRED,	  /* exp passed (or missing) */
	GW_JWT_NOT_YET,	  /* nbf or iat in the future */
	GW_JWT_AUDIENCE,  /* aud does not contain the configured audience */
	GW_JWT_ISSUER,	  /* iss is not the configured issuer */
	GW_JWT_SUBJECT,	  /* no kubernetes.io namespace / service account */
	GW_JWT_NO_KEYS,	  /* the verifier has no usable JWKS */
};

/* A short word for e ("expired", "audience", ...). */
const char *gw_jwt_err_name(enum gw_jwt_err e);

/* What a verified token proves. */
struct gw_jwt_identity {
	char ns[GW_K8S_NS_MAX + 1];
	char sa[GW_K8S_SA_MAX + 1];
	int64_t exp;
};

struct gw_jwks; /* a parsed key set (public keys for EVP) */

/* Parses a JWKS document (len bytes, at most GW_JWKS_MAX): RSA keys
 * (2048..8192 bits) and EC P-256 keys, at most GW_JWKS_KEYS_MAX; keys of
 * other types or with "use" other than "sig" are skipped. Returns a new
 * set the caller frees with gw_jwks_free, or NULL with the reason in err
 * (no usable key is an error). */
struct gw_jwks *gw_jwks_parse(const char *txt, size_t len, char *err,
			      size_t errlen);
void gw_jwks_free(struct gw_jwks *ks);
size_t gw_jwks_count(const struct gw_jwks *ks);

/* Verifies tok (len bytes) with ks at time now: header alg RS256/ES256
 * and a kid of ks (a set of one key also admits a token without kid),
 * the signature, exp/nbf/iat with GW_JWT_LEEWAY, aud contains audience,
 * iss equals issuer, and the kubernetes.io claims. Fills id on success.
 * Never keeps or logs the token. */
enum gw_jwt_err gw_jwt_verify(const struct gw_jwks *ks, const char *tok,
			      size_t len, const char *audience,
			      const char *issuer, int64_t now,
			      struct gw_jwt_identity *id);

/* ---- the verifier of one listener (thread-safe) ------------------------ */

struct gw_k8s_auth;

/* A verifier for tokens of audience and issuer (copied) against the JWKS
 * in jwks_file, read now. Returns NULL with err (the file missing,
 * unreadable, over the cap, or without a usable key). */
struct gw_k8s_auth *gw_k8s_auth_new(const char *jwks_file, const char *audience,
				    const char *issuer, char *err,
				    size_t errlen);
void gw_k8s_auth_free(struct gw_k8s_auth *a);
/* Rereads the JWKS file if it changed (inode, size, mtime). Returns 1
 * when a new key set is in force (the cache is emptied), 0 when the file
 * is unchanged, -1 with err when the new file is refused (the old keys
 * stay in force). */
int gw_k8s_auth_reload(struct gw_k8s_auth *a, char *err, size_t errlen);
/* Checks a bearer token (len bytes): from the cache when the same token
 * was verified before and has not expired, else by gw_jwt_verify (and
 * then cached, at most until its exp). *cached tells which. The token's
 * hash prefix (12 hex digits, for logs) goes to hash12 when not NULL. */
enum gw_jwt_err gw_k8s_auth_check(struct gw_k8s_auth *a, const char *tok,
				  size_t len, struct gw_jwt_identity *id,
				  int *cached, char hash12[13]);
/* Turns the cache off (nonzero) or on: the benchmark compares both. */
void gw_k8s_auth_set_cache(struct gw_k8s_auth *a, int off);

#endif
