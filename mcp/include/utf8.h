/* UTF-8-safe cutting of outside text: every place that puts a peer's or
 * an admin's text into a bounded buffer (and from there into JSON, which
 * must be valid UTF-8) cuts at a character boundary with these. */
#ifndef MCP_UTF8_H
#define MCP_UTF8_H

#include <stdarg.h>
#include <stddef.h>

/* The length (1..4) of the well-formed UTF-8 character at p[0..n), or 0
 * if p does not start with one (a stray or missing continuation byte, an
 * overlong form, a surrogate, beyond U+10FFFF, or n == 0). */
size_t mcp_utf8_char(const char *p, size_t n);

/* The length of the longest prefix of s of at most max bytes that does
 * not end inside a character: outside text is cut with this (printf's
 * "%.*s"), never at a plain byte count. An invalid byte counts as a unit
 * of its own. */
size_t mcp_utf8_prefix(const char *s, size_t max);

/* vsnprintf into buf[n] whose result never ends inside a character and
 * holds no invalid UTF-8: a cut that the buffer's size forced is moved
 * back to a character boundary, and any byte that is not part of a
 * well-formed character (from an argument) becomes '?'. Returns what
 * vsnprintf returned (>= n means the text was cut); with n == 0 nothing
 * is written. */
int mcp_utf8_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
int mcp_utf8_snprintf(char *buf, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
