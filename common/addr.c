/* The one listen-address parser (zg_common.h): HOST:PORT, [IPV6]:PORT and
 * unix:PATH, as mcpd --http, the relay --http and gatewayd's listeners and
 * metrics endpoint take them. */
#include <stdio.h>
#include <string.h>

#include "zg_common.h"

/* 1 if c may appear in a host name or an IPv4 literal. */
static int host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '-';
}

/* 1 if c may appear in a bracketed IPv6 literal (no zone index). */
static int ipv6_char(char c)
{
	return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
	       (c >= '0' && c <= '9') || c == ':' || c == '.';
}

static int bad(char *err, size_t errlen, const char *s, const char *why)
{
	snprintf(err, errlen, "'%.64s': %s", s, why);
	return -1;
}

static int parse_unix(const char *s, struct zg_listen_addr *out, char *err,
		      size_t errlen)
{
	const char *p = s + 5;
	size_t n = strlen(p);

	if (n == 0 || n > ZG_ADDR_PATH_MAX)
		return bad(err, errlen, s, "unix path must be 1..107 bytes");
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return bad(err, errlen, s,
				   "control character in unix path");
	out->kind = ZG_ADDR_UNIX;
	memcpy(out->path, p, n + 1);
	return 0;
}

static int loopback(const char *host)
{
	return strcmp(host, "127.0.0.1") == 0 || strcmp(host, "::1") == 0 ||
	       strcmp(host, "localhost") == 0;
}

/* Splits s into host (brackets removed) and the port text after the
 * colon that ends the host. */
static int split_host(const char *s, struct zg_listen_addr *out,
		      const char **port, char *err, size_t errlen)
{
	const char *h = s, *colon;
	size_t hl;
	int v6 = s[0] == '[';

	if (v6) {
		const char *close = strchr(s, ']');
		if (!close)
			return bad(err, errlen, s, "missing ']'");
		if (close[1] != ':')
			return bad(err, errlen, s,
				   "expected ':PORT' after ']'");
		h = s + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strchr(s, ':');
		if (!colon)
			return bad(err, errlen, s, "expected HOST:PORT");
		if (strchr(colon + 1, ':'))
			return bad(err, errlen, s,
				   "an IPv6 address needs brackets, "
				   "[ADDR]:PORT");
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl > ZG_ADDR_HOST_MAX)
		return bad(err, errlen, s, "host must be 1..253 characters");
	for (size_t i = 0; i < hl; i++)
		if (v6 ? !ipv6_char(h[i]) : !host_char(h[i]))
			return bad(err, errlen, s, "bad character in host");
	if (v6 && !memchr(h, ':', hl))
		return bad(err, errlen, s, "brackets hold an IPv6 address");
	memcpy(out->host, h, hl);
	out->host[hl] = '\0';
	*port = colon + 1;
	return 0;
}

int zg_parse_listen_addr(const char *s, unsigned flags,
			 struct zg_listen_addr *out, char *err, size_t errlen)
{
	const char *port;
	long long p;

	if (!s || !*s)
		return bad(err, errlen, "", "empty address");
	memset(out, 0, sizeof(*out));
	if (strncmp(s, "unix:", 5) == 0) {
		if (!(flags & ZG_ADDR_UNIX_OK))
			return bad(err, errlen, s, "unix: is not accepted");
		return parse_unix(s, out, err, errlen);
	}
	if (flags & ZG_ADDR_NO_TCP)
		return bad(err, errlen, s, "expected unix:PATH");
	if (split_host(s, out, &port, err, errlen) != 0)
		return -1;
	if (zg_parse_int(port, 0, 65535, &p) != 0)
		return bad(err, errlen, s, "port must be 0..65535");
	if ((flags & ZG_ADDR_LOOPBACK) && !loopback(out->host))
		return bad(err, errlen, s,
			   "only a loopback host (127.0.0.1, ::1, "
			   "localhost)");
	out->kind = ZG_ADDR_TCP;
	out->port = (unsigned short)p;
	return 0;
}
