/* bench/gateway/k8s_verify: what checking a Kubernetes service-account
 * token adds to each request on a k8s listener (gateway/k8s_jwt.c), with
 * and without the cache of verified tokens: RS256 (2048-bit) and ES256
 * tokens minted here with keys generated here (test/gateway/k8s_mint.c),
 * a JWKS file of both, and gw_k8s_auth_check called N times per case.
 * Prints microseconds per check. usage: k8s_verify [N] (default 20000). */
#include "k8s_jwt.h"
#include "k8s_mint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ISS "https://kubernetes.default.svc.cluster.local"

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
	char path[] = "/tmp/zg-k8sbench.XXXXXX", err[256], claims[512];
	struct k8s_keys k;
	struct gw_k8s_auth *a;
	char *rt, *et;
	long now = (long)time(NULL);
	int fd = mkstemp(path);

	if (n < 1 || fd < 0 || k8s_keys_new(&k) != 0 ||
	    write(fd, k.jwks, strlen(k.jwks)) != (ssize_t)strlen(k.jwks))
		return 1;
	close(fd);
	a = gw_k8s_auth_new(path, "zonegate", ISS, err, sizeof(err));
	unlink(path);
	if (!a) {
		fprintf(stderr, "k8s_verify: %s\n", err);
		return 1;
	}
	snprintf(claims, sizeof(claims),
		 "{\"aud\":[\"zonegate\"],\"iss\":\"" ISS "\",\"exp\":%ld,"
		 "\"iat\":%ld,\"sub\":\"system:serviceaccount:agents:agent-a\","
		 "\"kubernetes.io\":{\"namespace\":\"agents\","
		 "\"serviceaccount\":{\"name\":\"agent-a\"}}}",
		 now + 3600, now);
	rt = k8s_mint(k.rsa, 0, "{\"alg\":\"RS256\",\"kid\":\"r\"}", claims);
	et = k8s_mint(k.ec, 1, "{\"alg\":\"ES256\",\"kid\":\"e\"}", claims);
	if (!rt || !et)
		return 1;
	printf("case us_per_check (n=%d)\n", n);
	gw_k8s_auth_set_cache(a, 1);
	printf("rs256_nocache %.2f\n", run(a, rt, n));
	printf("es256_nocache %.2f\n", run(a, et, n));
	gw_k8s_auth_set_cache(a, 0);
	printf("rs256_cached %.2f\n", run(a, rt, n));
	printf("es256_cached %.2f\n", run(a, et, n));
	gw_k8s_auth_free(a);
	free(rt);
	free(et);
	k8s_keys_free(&k);
	return 0;
}
