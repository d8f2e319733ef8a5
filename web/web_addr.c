/* Egress control for the web tools: which addresses are forbidden (the
 * classifier), the operator's exceptions (--web-allow) and host allowlist
 * (--web-hosts), and the check of a URL that resolves its host once (on a
 * resolver thread, bound by the fetch's deadline) and pins the address the
 * fetcher then connects to. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <fnmatch.h>
#include <netdb.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "web_int.h"

int web_addr_literal(const char *host, struct sockaddr_storage *ss)
{
	char buf[256];
	size_t n = strlen(host);
	struct in_addr a4;

	memset(ss, 0, sizeof(*ss));
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		host++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof(buf))
		return 0;
	memcpy(buf, host, n);
	buf[n] = '\0';
	buf[strcspn(buf, "%")] = '\0'; /* an IPv6 zone id */
	if (strchr(buf, ':')) {
		struct sockaddr_in6 *s6 = (void *)ss;
		if (inet_pton(AF_INET6, buf, &s6->sin6_addr) != 1)
			return 0;
		s6->sin6_family = AF_INET6;
		return 1;
	}
	/* inet_aton takes every numeric spelling resolvers accept: 127.1,
	 * 0x7f000001, 2130706433, 0177.0.0.1. */
	if (strspn(buf, "0123456789abcdefxABCDEFX.") != strlen(buf) ||
	    inet_aton(buf, &a4) == 0)
		return 0;
	((struct sockaddr_in *)ss)->sin_family = AF_INET;
	((struct sockaddr_in *)ss)->sin_addr = a4;
	return 1;
}

static void lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

/* Copies host (brackets removed, lower case) into out. -1 if too long. */
static int norm_host(const char *host, size_t n, char *out, size_t outlen)
{
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		host++;
		n -= 2;
	}
	if (n == 0 || n >= outlen)
		return -1;
	memcpy(out, host, n);
	out[n] = '\0';
	lower(out);
	return 0;
}

int web_policy_allow(struct web_policy *p, const char *spec, char *err,
		     size_t errlen)
{
	struct web_allow *a;
	const char *colon = strrchr(spec, ':'), *close = strrchr(spec, ']');
	size_t hlen = strlen(spec);
	char *end;
	long port = 0;

	if (p->nallow >= WEB_MAX_RULES) {
		snprintf(err, errlen, "--web-allow: at most %d", WEB_MAX_RULES);
		return -1;
	}
	/* A port follows the last colon, unless it is inside an IPv6
	 * address without brackets. */
	if (colon && (spec[0] == '[' ? close && colon > close
				     : strchr(spec, ':') == colon)) {
		hlen = (size_t)(colon - spec);
		port = strtol(colon + 1, &end, 10);
		if (end == colon + 1 || *end || port < 1 || port > 65535) {
			snprintf(err, errlen, "--web-allow %s: bad port", spec);
			return -1;
		}
	}
	a = &p->allow[p->nallow];
	if (norm_host(spec, hlen, a->host, sizeof(a->host)) != 0) {
		snprintf(err, errlen, "--web-allow %s: bad host", spec);
		return -1;
	}
	a->port = (int)port;
	p->nallow++;
	return 0;
}

int web_policy_hosts(struct web_policy *p, const char *list, char *err,
		     size_t errlen)
{
	const char *s = list;

	while (*s) {
		size_t n = strcspn(s, ",");
		if (n > 0) {
			char *g;
			if (p->nhosts >= WEB_MAX_RULES || n > 255) {
				snprintf(err, errlen,
					 "--web-hosts: at most %d globs of "
					 "255 bytes",
					 WEB_MAX_RULES);
				return -1;
			}
			g = strndup(s, n);
			if (!g) {
				snprintf(err, errlen, "out of memory");
				return -1;
			}
			lower(g);
			p->hosts[p->nhosts++] = g;
		}
		s += n;
		if (*s == ',')
			s++;
	}
	return 0;
}

void web_policy_free(struct web_policy *p)
{
	unsigned i;
	for (i = 0; i < p->nhosts; i++)
		free(p->hosts[i]);
	p->nhosts = 0;
}

static int excepted(const struct web_policy *p, const char *host, int port)
{
	unsigned i;
	for (i = 0; i < p->nallow; i++)
		if (strcmp(p->allow[i].host, host) == 0 &&
		    (p->allow[i].port == 0 || p->allow[i].port == port))
			return 1;
	return 0;
}

static int host_listed(const struct web_policy *p, const char *host)
{
	unsigned i;
	if (p->nhosts == 0)
		return 1;
	for (i = 0; i < p->nhosts; i++)
		if (fnmatch(p->hosts[i], host, 0) == 0)
			return 1;
	return 0;
}

/* Fills t->host and t->port from url; -1 with err if the URL is refused
 * as written (scheme, userinfo, no host). */
static int split_url(const char *url, struct web_target *t, char *err,
		     size_t errlen)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *user = NULL, *pass = NULL, *host = NULL,
	     *port = NULL, *opts = NULL;
	int rc = -1;

	if (!u) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
		snprintf(err, errlen, "not a valid URL");
		goto out;
	}
	curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
	if (!scheme || (strcmp(scheme, "http") && strcmp(scheme, "https"))) {
		snprintf(err, errlen, "only http and https URLs are fetched");
		goto out;
	}
	curl_url_get(u, CURLUPART_USER, &user, 0);
	curl_url_get(u, CURLUPART_PASSWORD, &pass, 0);
	curl_url_get(u, CURLUPART_OPTIONS, &opts, 0);
	if (user || pass || opts) {
		snprintf(err, errlen,
			 "URLs with credentials (user@host) are refused");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    norm_host(host, strlen(host), t->host, sizeof(t->host)) != 0 ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) !=
		    CURLUE_OK) {
		snprintf(err, errlen, "URL without a valid host");
		goto out;
	}
	t->port = (int)strtol(port, NULL, 10);
	rc = 0;
out:
	curl_free(scheme);
	curl_free(user);
	curl_free(pass);
	curl_free(opts);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return rc;
}

static void set_port(struct sockaddr_storage *ss, int port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
}

static void addr_text(const struct sockaddr_storage *ss, char *out,
		      size_t outlen)
{
	const void *a =
		ss->ss_family == AF_INET
			? (const void *)&((const struct sockaddr_in *)ss)
				  ->sin_addr
			: (const void *)&((const struct sockaddr_in6 *)ss)
				  ->sin6_addr;
	if (!inet_ntop(ss->ss_family, a, out, (socklen_t)outlen))
		snprintf(out, outlen, "?");
}

/* One name resolution shared by the waiting fetch and its resolver thread;
 * the last of the two to let go frees it (and the answer, if nobody took
 * it). */
struct web_lookup {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* CLOCK_MONOTONIC */
	int refs;	   /* 2 while both hold it */
	int done, gai;
	struct addrinfo *res;
	char host[256];
};

/* Resolver threads still running, those of abandoned lookups included;
 * at most WEB_MAX_LOOKUPS so a DNS server that never answers cannot make a
 * fetch loop pile up threads. */
#define WEB_MAX_LOOKUPS 16
static pthread_mutex_t lookups_mu = PTHREAD_MUTEX_INITIALIZER;
static int lookups_running;

/* Drops one reference to l; frees it with the last one. */
static void lookup_put(struct web_lookup *l)
{
	int last;
	pthread_mutex_lock(&l->mu);
	last = --l->refs == 0;
	pthread_mutex_unlock(&l->mu);
	if (!last)
		return;
	if (l->res)
		freeaddrinfo(l->res);
	pthread_cond_destroy(&l->cv);
	pthread_mutex_destroy(&l->mu);
	free(l);
}

/* The resolver thread: getaddrinfo, the answer into l, then its reference
 * and its place among the running lookups given up. */
static void *lookup_main(void *arg)
{
	struct web_lookup *l = arg;
	struct addrinfo hints = { 0 }, *res = NULL;
	int g;

	hints.ai_socktype = SOCK_STREAM;
	hints.ai_family = AF_UNSPEC;
	g = getaddrinfo(l->host, NULL, &hints, &res);
	pthread_mutex_lock(&l->mu);
	l->gai = g;
	l->res = g == 0 ? res : NULL;
	l->done = 1;
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
	lookup_put(l);
	pthread_mutex_lock(&lookups_mu);
	lookups_running--;
	pthread_mutex_unlock(&lookups_mu);
	return NULL;
}

/* getaddrinfo(host) bound by deadline_ms (CLOCK_MONOTONIC milliseconds; 0
 * for none, then it blocks as getaddrinfo does). The lookup runs on a
 * detached thread; at the deadline the caller gives up on it and the
 * thread frees the answer whenever the resolver returns. 0 with *res (the
 * caller frees it with freeaddrinfo), or -1 with err. */
static int lookup_timed(const char *host, long deadline_ms,
			struct addrinfo **res, char *err, size_t errlen)
{
	struct web_lookup *l;
	pthread_condattr_t ca;
	pthread_attr_t ta;
	pthread_t th;
	struct timespec ts;
	int rc = -1, busy;

	*res = NULL;
	l = calloc(1, sizeof(*l));
	if (!l) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	snprintf(l->host, sizeof(l->host), "%s", host);
	l->refs = 2;
	pthread_mutex_init(&l->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&l->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_lock(&lookups_mu);
	busy = lookups_running >= WEB_MAX_LOOKUPS;
	if (!busy)
		lookups_running++;
	pthread_mutex_unlock(&lookups_mu);
	if (busy) {
		snprintf(err, errlen,
			 "cannot resolve %s: %d name resolutions already in "
			 "flight (a DNS server is not answering)",
			 host, WEB_MAX_LOOKUPS);
		l->refs = 1;
		lookup_put(l);
		return -1;
	}
	pthread_attr_init(&ta);
	pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &ta, lookup_main, l) != 0) {
		pthread_attr_destroy(&ta);
		pthread_mutex_lock(&lookups_mu);
		lookups_running--;
		pthread_mutex_unlock(&lookups_mu);
		snprintf(err, errlen, "cannot resolve %s: no resolver thread",
			 host);
		l->refs = 1;
		lookup_put(l);
		return -1;
	}
	pthread_attr_destroy(&ta);
	ts.tv_sec = deadline_ms / 1000;
	ts.tv_nsec = (deadline_ms % 1000) * 1000000L;
	pthread_mutex_lock(&l->mu);
	while (!l->done) {
		if (deadline_ms <= 0) {
			pthread_cond_wait(&l->cv, &l->mu);
			continue;
		}
		if (pthread_cond_timedwait(&l->cv, &l->mu, &ts) == ETIMEDOUT &&
		    !l->done)
			break;
	}
	if (!l->done) {
		snprintf(err, errlen,
			 "cannot resolve %s: name resolution timed out (no "
			 "answer within the fetch's deadline)",
			 host);
	} else if (l->gai != 0 || !l->res) {
		snprintf(err, errlen, "cannot resolve %s: %s", host,
			 gai_strerror(l->gai ? l->gai : EAI_NONAME));
	} else {
		*res = l->res;
		l->res = NULL;
		rc = 0;
	}
	pthread_mutex_unlock(&l->mu);
	lookup_put(l);
	return rc;
}

/* Resolves t->host once, by deadline_ms; every address must pass unless
 * excepted. */
static int resolve(const struct web_policy *p, struct web_target *t, int exc,
		   long deadline_ms, char *err, size_t errlen)
{
	struct addrinfo *res = NULL, *ai;
	const char *why;

	t->proxy = p->proxy[0] ? p->proxy : NULL;
	if (web_addr_literal(t->host, &t->addr)) {
		why = web_addr_forbidden((struct sockaddr *)&t->addr);
		addr_text(&t->addr, t->addr_text, sizeof(t->addr_text));
		if (why && !exc) {
			snprintf(err, errlen,
				 "refused: %s is a %s address (no --web-allow "
				 "exception names it)",
				 t->addr_text, why);
			return -1;
		}
		goto done;
	}
	if (t->proxy)
		return 0; /* a name: resolved outside, by the proxy */
	if (lookup_timed(t->host, deadline_ms, &res, err, errlen) != 0)
		return -1;
	for (ai = res; ai; ai = ai->ai_next) {
		why = web_addr_forbidden(ai->ai_addr);
		if (why && !exc) {
			char txt[64];
			struct sockaddr_storage ss = { 0 };
			memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
			addr_text(&ss, txt, sizeof(txt));
			snprintf(err, errlen,
				 "refused: %s resolves to %s, a %s address (no "
				 "--web-allow exception names it)",
				 t->host, txt, why);
			freeaddrinfo(res);
			return -1;
		}
	}
	/* Every address passed; connect to the first IPv4 one if any (hosts
	 * without IPv6 routes are common), else the first. */
	for (ai = res; ai && ai->ai_family != AF_INET; ai = ai->ai_next)
		;
	if (!ai)
		ai = res;
	memcpy(&t->addr, ai->ai_addr, ai->ai_addrlen);
	addr_text(&t->addr, t->addr_text, sizeof(t->addr_text));
	freeaddrinfo(res);
done:
	set_port(&t->addr, t->port);
	t->addrlen = t->addr.ss_family == AF_INET ? sizeof(struct sockaddr_in)
						  : sizeof(struct sockaddr_in6);
	return 0;
}

int web_policy_proxy(struct web_policy *p, const char *path, char *err,
		     size_t errlen)
{
	if (path[0] != '/' || strlen(path) >= sizeof(p->proxy)) {
		snprintf(err, errlen,
			 "--web-proxy: an absolute unix socket path of at "
			 "most %zu bytes",
			 sizeof(p->proxy) - 1);
		return -1;
	}
	snprintf(p->proxy, sizeof(p->proxy), "%s", path);
	return 0;
}

int web_policy_check(const struct web_policy *p, const char *url,
		     long deadline_ms, struct web_target *t, char *err,
		     size_t errlen)
{
	memset(t, 0, sizeof(*t));
	if (strlen(url) >= WEB_MAX_URL) {
		snprintf(err, errlen, "URL longer than %d bytes", WEB_MAX_URL);
		return -1;
	}
	if (split_url(url, t, err, errlen) != 0)
		return -1;
	if (!host_listed(p, t->host)) {
		snprintf(err, errlen, "refused: host %s is not in --web-hosts",
			 t->host);
		return -1;
	}
	return resolve(p, t, excepted(p, t->host, t->port), deadline_ms, err,
		       errlen);
}
