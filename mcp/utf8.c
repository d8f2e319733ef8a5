/* UTF-8 helpers for cutting outside text at character boundaries (see
 * utf8.h): the one copy the MCP core, the channel layer and the gateway
 * use, so that no error message or audit field loses its JSON form to a
 * split character. */
#include <stdio.h>
#include <string.h>

#include "utf8.h"

size_t mcp_utf8_char(const char *p, size_t n)
{
	const unsigned char *u = (const unsigned char *)p;
	unsigned c0;
	size_t len;

	if (!n)
		return 0;
	c0 = u[0];
	if (c0 < 0x80)
		return 1;
	if (c0 >= 0xc2 && c0 <= 0xdf)
		len = 2;
	else if (c0 >= 0xe0 && c0 <= 0xef)
		len = 3;
	else if (c0 >= 0xf0 && c0 <= 0xf4)
		len = 4;
	else
		return 0; /* continuation byte, overlong lead or > U+10FFFF */
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((u[i] & 0xc0) != 0x80)
			return 0;
	/* overlong 3- and 4-byte forms, surrogates, beyond U+10FFFF */
	if ((c0 == 0xe0 && u[1] < 0xa0) || (c0 == 0xed && u[1] > 0x9f) ||
	    (c0 == 0xf0 && u[1] < 0x90) || (c0 == 0xf4 && u[1] > 0x8f))
		return 0;
	return len;
}

size_t mcp_utf8_prefix(const char *s, size_t max)
{
	size_t k = 0, n = strlen(s), c;

	while (k < n) {
		c = mcp_utf8_char(s + k, n - k);
		if (!c)
			c = 1; /* an invalid byte is a unit of its own */
		if (k + c > max)
			break;
		k += c;
	}
	return k;
}

/* Replaces every byte of s that is not part of a well-formed character
 * with '?', in place (same length). */
static void utf8_scrub(char *s, size_t n)
{
	size_t k = 0, c;

	while (k < n) {
		c = mcp_utf8_char(s + k, n - k);
		if (!c) {
			s[k] = '?';
			c = 1;
		}
		k += c;
	}
}

int mcp_utf8_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap)
{
	int r;
	size_t len, i, c;

	if (!n)
		return vsnprintf(NULL, 0, fmt, ap);
	r = vsnprintf(buf, n, fmt, ap);
	if (r < 0) {
		buf[0] = '\0';
		return r;
	}
	len = strlen(buf);
	if ((size_t)r >= n) {
		/* The cut the buffer forced: drop a character it split. */
		i = len;
		while (i > 0 && len - i < 3 &&
		       ((unsigned char)buf[i - 1] & 0xc0) == 0x80)
			i--;
		if (i > 0 && (unsigned char)buf[i - 1] >= 0xc0) {
			c = mcp_utf8_char(buf + i - 1, len - i + 1);
			if (!c) {
				buf[i - 1] = '\0';
				len = i - 1;
			}
		}
	}
	utf8_scrub(buf, len);
	return r;
}

int mcp_utf8_snprintf(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = mcp_utf8_vsnprintf(buf, n, fmt, ap);
	va_end(ap);
	return r;
}
