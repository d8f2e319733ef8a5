/* The splice check (splice.h): a strict one-pass JSON validator for a
 * tool zone's call response, so that the gateway can relay the bytes
 * with only the id replaced without letting a zone smuggle a second id,
 * raw non-JSON bytes or invalid UTF-8 to an agent. */
#include "splice.h"

#include <stdint.h>
#include <string.h>

struct scan {
	const unsigned char *p, *end;
	unsigned depth, max_depth;
	const char *why;
};

/* Top-level members of the plain response layout. */
enum { M_JSONRPC, M_ID, M_RESULT, M_ERROR, M_N };

static int fail(struct scan *s, const char *why)
{
	if (!s->why)
		s->why = why;
	return -1;
}

static void skip_ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' ||
				 *s->p == '\r' || *s->p == '\t'))
		s->p++;
}

static int hex4(const unsigned char *p, const unsigned char *end, unsigned *v)
{
	unsigned x = 0;

	if (end - p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		unsigned c = p[i], d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		x = x << 4 | d;
	}
	*v = x;
	return 0;
}

/* Length of the UTF-8 sequence at p (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF), or 0 if it is not one. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
	size_t n = (size_t)(end - p);
	unsigned c = p[0];
	unsigned lo = 0x80, hi = 0xbf;
	size_t k;

	if (c >= 0xc2 && c <= 0xdf)
		k = 2;
	else if (c >= 0xe0 && c <= 0xef)
		k = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		k = 4;
	else
		return 0;
	if (n < k)
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < k; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return k;
}

/* A string at s->p (its opening quote). *esc is set if it had escapes;
 * [*b, *e) are its raw bytes between the quotes. */
static int scan_string(struct scan *s, const unsigned char **b,
		       const unsigned char **e, int *esc)
{
	const unsigned char *p = s->p + 1, *end = s->end;
	unsigned v, w;
	size_t k;

	*esc = 0;
	for (;;) {
		while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' &&
		       *p != '\\')
			p++;
		if (p >= end)
			return fail(s, "unterminated string");
		if (*p == '"')
			break;
		if (*p < 0x20)
			return fail(s, "control character in a string");
		if (*p >= 0x80) {
			k = utf8_len(p, end);
			if (!k)
				return fail(s, "invalid UTF-8");
			p += k;
			continue;
		}
		*esc = 1; /* a backslash */
		if (end - p < 2)
			return fail(s, "unterminated string");
		if (p[1] && strchr("\"\\/bfnrt", p[1])) {
			p += 2;
			continue;
		}
		if (p[1] != 'u' || hex4(p + 2, end, &v))
			return fail(s, "bad escape in a string");
		p += 6;
		if (v == 0)
			return fail(s, "\\u0000 in a string");
		if (v >= 0xdc00 && v <= 0xdfff)
			return fail(s, "unpaired surrogate escape");
		if (v >= 0xd800 && v <= 0xdbff) {
			if (end - p < 6 || p[0] != '\\' || p[1] != 'u' ||
			    hex4(p + 2, end, &w) || w < 0xdc00 || w > 0xdfff)
				return fail(s, "unpaired surrogate escape");
			p += 6;
		}
	}
	*b = s->p + 1;
	*e = p;
	s->p = p + 1;
	return 0;
}

static int digits(struct scan *s)
{
	const unsigned char *p0 = s->p;

	while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
		s->p++;
	return s->p > p0 ? 0 : fail(s, "bad number");
}

static int scan_number(struct scan *s)
{
	if (*s->p == '-')
		s->p++;
	if (s->p < s->end && *s->p == '0') {
		s->p++;
	} else if (digits(s)) {
		return -1;
	}
	if (s->p < s->end && *s->p == '.') {
		s->p++;
		if (digits(s))
			return -1;
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
		s->p++;
		if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
			s->p++;
		if (digits(s))
			return -1;
	}
	return 0;
}

static int scan_literal(struct scan *s, const char *lit, size_t n)
{
	if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n) != 0)
		return fail(s, "invalid literal");
	s->p += n;
	return 0;
}

static int scan_value(struct scan *s, unsigned *members);

/* Which plain-layout member a top-level name is, M_N for another. */
static int member(const unsigned char *b, const unsigned char *e)
{
	static const char *const names[M_N] = { "jsonrpc", "id", "result",
						"error" };
	size_t n = (size_t)(e - b);

	for (int i = 0; i < M_N; i++)
		if (strlen(names[i]) == n && memcmp(b, names[i], n) == 0)
			return i;
	return M_N;
}

/* An object at s->p. members is non-NULL at the top level only: it
 * counts the plain-layout members (index M_N: any other, or a name
 * with escapes). */
static int scan_object(struct scan *s, unsigned *members)
{
	const unsigned char *b, *e;
	int esc;

	s->p++;
	skip_ws(s);
	if (s->p < s->end && *s->p == '}') {
		s->p++;
		return 0;
	}
	for (;;) {
		if (s->p >= s->end || *s->p != '"')
			return fail(s, "expected a member name");
		if (scan_string(s, &b, &e, &esc))
			return -1;
		if (members) {
			int k = esc ? M_N : member(b, e);
			if (k < M_N && members[k])
				return fail(s, "duplicate member");
			members[k]++;
		}
		skip_ws(s);
		if (s->p >= s->end || *s->p != ':')
			return fail(s, "expected ':'");
		s->p++;
		if (scan_value(s, NULL))
			return -1;
		skip_ws(s);
		if (s->p < s->end && *s->p == ',') {
			s->p++;
			skip_ws(s);
			continue;
		}
		if (s->p < s->end && *s->p == '}') {
			s->p++;
			return 0;
		}
		return fail(s, "expected ',' or '}'");
	}
}

static int scan_array(struct scan *s)
{
	s->p++;
	skip_ws(s);
	if (s->p < s->end && *s->p == ']') {
		s->p++;
		return 0;
	}
	for (;;) {
		if (scan_value(s, NULL))
			return -1;
		skip_ws(s);
		if (s->p < s->end && *s->p == ',') {
			s->p++;
			continue;
		}
		if (s->p < s->end && *s->p == ']') {
			s->p++;
			return 0;
		}
		return fail(s, "expected ',' or ']'");
	}
}

static int scan_value(struct scan *s, unsigned *members)
{
	const unsigned char *b, *e;
	int esc, rc;

	skip_ws(s);
	if (s->p >= s->end)
		return fail(s, "unexpected end");
	switch (*s->p) {
	case '{':
	case '[':
		if (++s->depth > s->max_depth)
			return fail(s, "nested too deeply");
		rc = *s->p == '{' ? scan_object(s, members) : scan_array(s);
		s->depth--;
		return rc;
	case '"':
		return scan_string(s, &b, &e, &esc);
	case 't':
		return scan_literal(s, "true", 4);
	case 'f':
		return scan_literal(s, "false", 5);
	case 'n':
		return scan_literal(s, "null", 4);
	default:
		if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9'))
			return scan_number(s);
		return fail(s, "unexpected character");
	}
}

enum gw_splice_verdict gw_splice_check(const char *buf, size_t len,
				       unsigned max_depth, const char **why)
{
	struct scan s = { (const unsigned char *)buf,
			  (const unsigned char *)buf + len, 0, max_depth,
			  NULL };
	unsigned members[M_N + 1] = { 0 };
	enum gw_splice_verdict v = GW_SPLICE_BAD;

	skip_ws(&s);
	if (s.p >= s.end || *s.p != '{') {
		fail(&s, "not a JSON object");
		goto out;
	}
	if (scan_value(&s, members))
		goto out;
	skip_ws(&s);
	if (s.p != s.end) {
		fail(&s, "bytes after the JSON value");
		goto out;
	}
	if (members[M_RESULT] && members[M_ERROR]) {
		fail(&s, "both result and error");
		goto out;
	}
	if (members[M_N]) {
		v = GW_SPLICE_OTHER;
		goto out;
	}
	if (members[M_ID] != 1 || members[M_JSONRPC] != 1 ||
	    members[M_RESULT] + members[M_ERROR] != 1) {
		fail(&s, "not a JSON-RPC response");
		goto out;
	}
	v = GW_SPLICE_OK;
out:
	if (why)
		*why = v == GW_SPLICE_BAD ? s.why : NULL;
	return v;
}
