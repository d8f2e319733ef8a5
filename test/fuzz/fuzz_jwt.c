/* Fuzz target: the gateway's Kubernetes token checks (gateway/k8s_jwt.c).
 * Input with a NUL byte: a JWKS document, then a token verified against
 * it; otherwise a token verified against a fixed JWKS (whose seeds in
 * corpus/jwt are validly signed) and the same bytes as a JWKS. Invariant:
 * a token that verifies stops verifying when any character of its signed
 * part changes (nothing outside the signature's reach is trusted). */
#include "k8s_jwt.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define AUD "zonegate"
#define ISS "https://kubernetes.default.svc.cluster.local"
#define NOW 1800000000

static const char fixed_jwks[] =
	"{\"keys\":[{\"kty\":\"RSA\",\"n\":\"wCTKGmmXOl6AEQsufHtrPZIVu_yf-PYk4-u9obsNKlANfL_6c1XspkfxrTRk3dqLgpF22f-jvo2bmMKAWa2m8dTZOp83dwX_uhaItOolul1f3w41j2-bdgZqQvR3O4GzMTwCm1FrDHIrlxsEKvyZwjqhMRkb2DzE3VWt4iOaxsy5ksZ0hWDb_sgOgy0zjIdpe5gUmMuuHUb1sMwdPtuVcdOwXCOXIsovR-sP7Z4KnjBrmYG8XxfxkyGRB0MEw_hF46l65qefGkhC_d6mlLDk8xeHuCc4p53peIoW960xObGsbA5NSz6B2JgkB_qrb-Q_Bzgz_h2zce_69V8S84mpxQ\",\"e\":\"AQAB\",\"kid\":\"r1\",\"use\":\"sig\"},{\"kty\":\"EC\",\"x\":\"XVNjY5ccuX_iPSdwbAvfygiaVagCT8vDqiYcwv1Gig0\",\"y\":\"vL0KWC5PzozB_itqiGzj_gJrLLVqHb03o6QistPjjF4\",\"crv\":\"P-256\",\"kid\":\"e1\",\"use\":\"sig\"}]}";

/* Verifies tok; if it passes, every one-character change of its signed
 * part must fail. */
static void check(const struct gw_jwks *ks, const char *tok, size_t len)
{
	struct gw_jwt_identity id;
	const char *d1, *d2;
	char *mut;

	if (gw_jwt_verify(ks, tok, len, AUD, ISS, NOW, &id) != GW_JWT_OK)
		return;
	d1 = memchr(tok, '.', len);
	d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok)) : NULL;
	if (!d2)
		abort(); /* a verified token has three parts */
	mut = malloc(len);
	if (!mut)
		return;
	for (size_t i = 0; i < (size_t)(d2 - tok); i++) {
		memcpy(mut, tok, len);
		mut[i] = mut[i] == 'A' ? 'B' : 'A';
		if (gw_jwt_verify(ks, mut, len, AUD, ISS, NOW, &id) ==
		    GW_JWT_OK)
			abort();
	}
	free(mut);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct gw_jwks *fixed;
	const uint8_t *nul = memchr(data, '\0', size);
	char err[256];
	struct gw_jwks *ks;

	if (!fixed)
		fixed = gw_jwks_parse(fixed_jwks, strlen(fixed_jwks), err,
				      sizeof(err));
	if (!fixed)
		abort();
	if (nul) {
		ks = gw_jwks_parse((const char *)data, (size_t)(nul - data),
				   err, sizeof(err));
		if (ks)
			check(ks, (const char *)nul + 1,
			      size - (size_t)(nul - data) - 1);
		gw_jwks_free(ks);
		return 0;
	}
	check(fixed, (const char *)data, size);
	gw_jwks_free(gw_jwks_parse((const char *)data, size, err, sizeof(err)));
	return 0;
}
