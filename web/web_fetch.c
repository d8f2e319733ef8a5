/* The checked fetcher: one libcurl GET per hop, to the address the egress
 * check resolved and judged (CURLOPT_RESOLVE pins the name, the open-socket
 * callback refuses any other address), redirects followed here so that
 * every hop is checked again, one deadline for all hops, and the decoded
 * body capped (a gzip bomb stops at the cap). Through a zone's egress
 * proxy, connections are kept and reused across fetches (one pool for the
 * process): each new one costs a SOCKS handshake and a process of the
 * proxy. */
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "web_int.h"

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)(ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

static int same_addr(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return 0;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a,
					 *y = (const void *)b;
		return x->sin_port == y->sin_port &&
		       x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a,
					  *y = (const void *)b;
		return x->sin6_port == y->sin6_port &&
		       !memcmp(&x->sin6_addr, &y->sin6_addr, 16);
	}
	return 0;
}

/* The connection pool of proxied fetches (CURL_LOCK_DATA_CONNECT), shared
 * by the worker threads under one mutex; NULL when it could not be made
 * (every fetch then opens its own connection, as without a proxy). A
 * pooled connection is to a host and port the policy already let through
 * the proxy, which checks each new one again. */
#define WEB_POOL_MAX 4 /* idle proxied connections kept */
static CURLSH *pool;
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

static void pool_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *u)
{
	(void)h, (void)d, (void)a, (void)u;
	pthread_mutex_lock(&pool_mu);
}

static void pool_unlock(CURL *h, curl_lock_data d, void *u)
{
	(void)h, (void)d, (void)u;
	pthread_mutex_unlock(&pool_mu);
}

static void pool_make(void)
{
	CURLSH *s = curl_share_init();

	if (s &&
	    (curl_share_setopt(s, CURLSHOPT_LOCKFUNC, pool_lock) ||
	     curl_share_setopt(s, CURLSHOPT_UNLOCKFUNC, pool_unlock) ||
	     curl_share_setopt(s, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT))) {
		curl_share_cleanup(s);
		s = NULL;
	}
	pool = s;
}

/* libcurl asks for a socket to connect to addr: only the checked address
 * gets one, whatever curl resolved. */
static curl_socket_t open_checked(void *ud, curlsocktype purpose,
				  struct curl_sockaddr *addr)
{
	const struct web_target *t = ud;

	if (t->proxy) /* only the proxy's unix socket */
		return purpose == CURLSOCKTYPE_IPCXN && addr->family == AF_UNIX
			       ? socket(AF_UNIX, SOCK_STREAM, 0)
			       : CURL_SOCKET_BAD;
	if (purpose != CURLSOCKTYPE_IPCXN ||
	    !same_addr(&addr->addr, (const struct sockaddr *)&t->addr))
		return CURL_SOCKET_BAD;
	return socket(addr->family, addr->socktype, addr->protocol);
}

/* Header callback: keeps Content-Type (the last response's). */
static size_t on_header(char *data, size_t sz, size_t nm, void *ud)
{
	struct web_response *r = ud;
	size_t n = sz * nm, l = strlen("content-type:");

	if (n > l && strncasecmp(data, "content-type:", l) == 0) {
		size_t s = l, e = n;
		while (s < n && (data[s] == ' ' || data[s] == '\t'))
			s++;
		while (e > s && (data[e - 1] == '\r' || data[e - 1] == '\n' ||
				 data[e - 1] == ' '))
			e--;
		snprintf(r->ctype, sizeof(r->ctype), "%.*s", (int)(e - s),
			 data + s);
	}
	return n;
}

/* Progress callback: a non-zero return aborts the transfer. */
static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut,
		       curl_off_t un)
{
	const struct web_limits *lim = ud;
	return lim->cancel && lim->cancel(lim->cancel_ud);
}

/* Sets up h for one hop to url pinned at t. */
static int setup(CURL *h, const char *url, const struct web_target *t,
		 const struct web_limits *lim, long left_ms,
		 struct curl_slist **pins, struct curl_slist *hdrs,
		 struct web_response *r)
{
	char pin[512];
	int w = t->proxy ? snprintf(pin, sizeof(pin), "socks5h://localhost%s",
				    t->proxy)
			 : snprintf(pin, sizeof(pin),
				    t->addr.ss_family == AF_INET6 ? "%s:%d:[%s]"
								  : "%s:%d:%s",
				    t->host, t->port, t->addr_text);

	if (w < 0 || (size_t)w >= sizeof(pin))
		return -1;
	curl_easy_setopt(h, CURLOPT_URL, url);
	if (t->proxy) {
		/* the proxy resolves the name, outside the zone */
		curl_easy_setopt(h, CURLOPT_PROXY, pin);
		pthread_once(&pool_once, pool_make);
		if (pool) {
			curl_easy_setopt(h, CURLOPT_SHARE, pool);
			/* few idle ones kept: each holds one of the
			 * proxy's connections (its max_connections) */
			curl_easy_setopt(h, CURLOPT_MAXCONNECTS,
					 (long)WEB_POOL_MAX);
		}
	} else {
		*pins = curl_slist_append(NULL, pin);
		if (!*pins)
			return -1;
		curl_easy_setopt(h, CURLOPT_RESOLVE, *pins);
		curl_easy_setopt(h, CURLOPT_PROXY, ""); /* none from the env */
	}
	curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_checked);
	curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, (void *)t);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, left_ms);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE,
			 (curl_off_t)lim->max_bytes);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, web_capbuf_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &r->body);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "zonegate-mcpd-web/0.1");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)lim);
	return 0;
}

static const char *curl_reason(CURLcode cc, const struct web_response *r,
			       const struct web_limits *lim, char *buf,
			       size_t buflen)
{
	if (r->body.too_big || cc == CURLE_FILESIZE_EXCEEDED) {
		snprintf(buf, buflen, "response larger than %zu bytes",
			 lim->max_bytes);
		return buf;
	}
	if (cc == CURLE_OPERATION_TIMEDOUT) {
		snprintf(buf, buflen,
			 "no complete answer within the %ld ms "
			 "deadline",
			 lim->timeout_ms);
		return buf;
	}
	if (cc == CURLE_ABORTED_BY_CALLBACK)
		return "cancelled";
	if (cc == CURLE_COULDNT_CONNECT)
		return "could not connect to the checked address";
	return curl_easy_strerror(cc);
}

/* One hop: 0 with r->status, and *next set (malloc'd) on a redirect. */
static int hop(CURL *h, const struct web_policy *p,
	       const struct web_limits *lim, const char *url,
	       struct curl_slist *hdrs, long deadline, struct web_response *r,
	       char **next, char *err, size_t errlen)
{
	struct web_target t;
	struct curl_slist *pins = NULL;
	char why[384], *loc = NULL;
	long left;
	CURLcode cc;
	int rc = -1;

	*next = NULL;
	if (web_policy_check(p, url, deadline, &t, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%s%s: %s",
			 r->redirects ? "redirect to " : "", url, why);
		return -1;
	}
	left = deadline - now_ms(); /* what the resolution left */
	if (left <= 0) {
		snprintf(err, errlen,
			 "no complete answer within the %ld ms "
			 "deadline",
			 lim->timeout_ms);
		return -1;
	}
	curl_easy_reset(h);
	free(r->body.p);
	memset(&r->body, 0, sizeof(r->body));
	r->body.max = lim->max_bytes;
	r->ctype[0] = '\0';
	if (setup(h, url, &t, lim, left, &pins, hdrs, r) != 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	cc = curl_easy_perform(h);
	if (cc != CURLE_OK) {
		snprintf(err, errlen, "%s: %s", url,
			 curl_reason(cc, r, lim, why, sizeof(why)));
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	snprintf(r->final_url, sizeof(r->final_url), "%s", url);
	if (r->status >= 300 && r->status < 400) {
		curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &loc);
		if (!loc) {
			snprintf(err, errlen, "%s: HTTP %ld without Location",
				 url, r->status);
			goto out;
		}
		*next = strdup(loc);
		if (!*next) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
	}
	rc = 0;
out:
	curl_slist_free_all(pins);
	return rc;
}

int web_get(const struct web_policy *p, const struct web_limits *lim,
	    const char *url, const char *const *headers, struct web_response *r,
	    char *err, size_t errlen)
{
	struct curl_slist *hdrs = NULL;
	long deadline = now_ms() + lim->timeout_ms;
	char *cur = strdup(url), *next = NULL;
	CURL *h = curl_easy_init();
	int rc = -1;

	memset(r, 0, sizeof(*r));
	if (!cur || !h) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (size_t i = 0; headers && headers[i]; i++) {
		struct curl_slist *n = curl_slist_append(hdrs, headers[i]);
		if (!n) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		hdrs = n;
	}
	for (;;) {
		if (hop(h, p, lim, cur, hdrs, deadline, r, &next, err,
			errlen) != 0)
			goto out;
		if (!next)
			break;
		if (r->redirects >= lim->max_redirects) {
			snprintf(err, errlen, "more than %d redirects",
				 lim->max_redirects);
			goto out;
		}
		r->redirects++;
		free(cur);
		cur = next;
		next = NULL;
	}
	if (r->status < 200 || r->status > 299) {
		snprintf(err, errlen, "%s: HTTP status %ld", cur, r->status);
		goto out;
	}
	rc = 0;
out:
	if (rc != 0) {
		free(r->body.p);
		r->body.p = NULL;
	}
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	free(cur);
	free(next);
	return rc;
}
