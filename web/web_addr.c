/* Egress control for the web tools: which addresses are forbidden (the
 * classifier), the operator's exceptions (--web-allow) and host allowlist
 * (--web-hosts), and the check of a URL that resolves its host once and
 * pins the address the fetcher then connects to. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <fnmatch.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "web_int.h"

/* Why an IPv4 address (host byte order) is forbidden, or NULL. */
static const char *v4_forbidden(uint32_t a)
{
	static const struct {
		uint32_t net, mask;
		const char *why;
	} nets[] = {
		{ 0xa9fea9fe, 0xffffffff,
		  "cloud metadata" }, /* 169.254.169.254 */
		{ 0x646464c8, 0xffffffff,
		  "cloud metadata" },			   /* 100.100.100.200 */
		{ 0x00000000, 0xff000000, "unspecified" }, /* 0/8 */
		{ 0x0a000000, 0xff000000, "private" },	   /* 10/8 */
		{ 0x7f000000, 0xff000000, "loopback" },	   /* 127/8 */
		{ 0xa9fe0000, 0xffff0000, "link-local" },  /* 169.254/16 */
		{ 0xac100000, 0xfff00000, "private" },	   /* 172.16/12 */
		{ 0xc0a80000, 0xffff0000, "private" },	   /* 192.168/16 */
		{ 0x64400000, 0xffc00000, "CGNAT" },	   /* 100.64/10 */
		{ 0xc0000000, 0xffffff00, "reserved" },	   /* 192.0.0/24 */
		{ 0xc0000200, 0xffffff00, "reserved" },	   /* 192.0.2/24 */
		{ 0xc6120000, 0xfffe0000, "reserved" },	   /* 198.18/15 */
		{ 0xc6336400, 0xffffff00, "reserved" },	   /* 198.51.100/24 */
		{ 0xcb007100, 0xffffff00, "reserved" },	   /* 203.0.113/24 */
		{ 0xe0000000, 0xf0000000, "multicast" },   /* 224/4 */
		{ 0xf0000000, 0xf0000000, "reserved" }, /* 240/4, broadcast */
	};
	size_t i;

	for (i = 0; i < sizeof(nets) / sizeof(nets[0]); i++)
		if ((a & nets[i].mask) == nets[i].net)
			return nets[i].why;
	return NULL;
}

static uint32_t be32_at(const unsigned char *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	       (uint32_t)b[2] << 8 | b[3];
}

static int all_zero(const unsigned char *b, size_t n)
{
	size_t i;
	for (i = 0; i < n; i++)
		if (b[i])
			return 0;
	return 1;
}

/* Why an IPv6 address is forbidden, or NULL. */
static const char *v6_forbidden(const unsigned char *b)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0,    0,
						  0, 0, 0, 0, 0xff, 0xff };
	static const unsigned char nat64[12] = { 0, 0x64, 0xff, 0x9b };
	static const unsigned char ec2[16] = {
		0xfd, 0, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54
	}; /* fd00:ec2::254 */

	if (all_zero(b, 16))
		return "unspecified";
	if (all_zero(b, 15) && b[15] == 1)
		return "loopback";
	if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0 ||
	    all_zero(b, 12)) /* mapped, NAT64, IPv4-compatible */
		return v4_forbidden(be32_at(b + 12));
	if (b[0] == 0x20 && b[1] == 0x02) /* 6to4 */
		return v4_forbidden(be32_at(b + 2));
	if (memcmp(b, ec2, 16) == 0)
		return "cloud metadata";
	if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b)
		return "private"; /* 64:ff9b:1::/48, local NAT64 */
	if ((b[0] & 0xfe) == 0xfc)
		return "private"; /* fc00::/7 unique local */
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
		return "link-local"; /* fe80::/10 */
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
		return "private"; /* fec0::/10 site-local */
	if (b[0] == 0xff)
		return "multicast";
	if ((b[0] == 0x01 && all_zero(b + 1, 7)) ||	     /* 100::/64 */
	    (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && /* 2001:db8:: */
	     b[3] == 0xb8) ||
	    (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0))
		return "reserved"; /* discard, documentation, Teredo */
	return NULL;
}

const char *web_addr_forbidden(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;
		return v4_forbidden(ntohl(s4->sin_addr.s_addr));
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		return v6_forbidden(s6->sin6_addr.s6_addr);
	}
	return "not an IP address";
}

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

/* Resolves t->host once; every address must pass unless excepted. */
static int resolve(const struct web_policy *p, struct web_target *t, int exc,
		   char *err, size_t errlen)
{
	struct addrinfo hints = { 0 }, *res = NULL, *ai;
	const char *why;
	int g;

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
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_family = AF_UNSPEC;
	g = getaddrinfo(t->host, NULL, &hints, &res);
	if (g != 0 || !res) {
		snprintf(err, errlen, "cannot resolve %s: %s", t->host,
			 gai_strerror(g));
		return -1;
	}
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
		     struct web_target *t, char *err, size_t errlen)
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
	return resolve(p, t, excepted(p, t->host, t->port), err, errlen);
}
