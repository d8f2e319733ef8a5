/* A fast path for decoding JSON-RPC messages into jansson values: the
 * common shape of a message (ASCII strings with simple escapes, integers,
 * objects, arrays, literals) is decoded here; anything else (a byte over
 * 0x7F, a \u escape, a real, a duplicate key, any syntax error) is left to
 * jansson, which stays the judge of what is valid and what its error says.
 * jansson's lexer reads a byte at a time through a stream and a growing
 * buffer; this scans strings with memchr-like loops and copies once. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "jsonrpc.h"

/* Deeper than this is left to the slow path (which checks the caller's
 * cap before jansson's recursion), whatever the caller's cap. */
#define FAST_MAX_DEPTH 128
#define FAST_STACK_STR 256 /* escaped strings up to this decode on stack */

struct fast {
	const char *p, *end;
	unsigned max_depth; /* containers nested deeper: not this path's */
};

static void skip_ws(struct fast *f)
{
	while (f->p < f->end && (*f->p == ' ' || *f->p == '\t' ||
				 *f->p == '\n' || *f->p == '\r'))
		f->p++;
}

/* Scans a string after its opening quote: sets *s and *n to its raw
 * bytes and *esc when it has escapes; leaves f->p after the closing
 * quote. -1 for what this path does not take (control characters, bytes
 * over 0x7F, \u escapes, unknown escapes, no closing quote). */
static int scan_string(struct fast *f, const char **s, size_t *n, int *esc)
{
	const unsigned char *p = (const unsigned char *)f->p;
	const unsigned char *end = (const unsigned char *)f->end;

	*s = f->p;
	*esc = 0;
	for (; p < end; p++) {
		unsigned char c = *p;
		if (c == '"') {
			*n = (size_t)((const char *)p - *s);
			f->p = (const char *)p + 1;
			return 0;
		}
		if (c < 0x20 || c > 0x7f)
			return -1;
		if (c == '\\') {
			/* strchr finds the terminator too: '\0' is refused */
			if (p + 1 >= end || p[1] == '\0' ||
			    !strchr("\"\\/bfnrt", p[1]))
				return -1;
			*esc = 1;
			p++;
		}
	}
	return -1;
}

/* Decodes the simple escapes of raw (checked by scan_string) into out,
 * which has room for n bytes; returns the decoded length. */
static size_t unescape(const char *raw, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = raw[i];
		if (c == '\\') {
			c = raw[++i];
			switch (c) {
			case 'b':
				c = '\b';
				break;
			case 'f':
				c = '\f';
				break;
			case 'n':
				c = '\n';
				break;
			case 'r':
				c = '\r';
				break;
			case 't':
				c = '\t';
				break;
			default: /* '"', '\\', '/' stand for themselves */
				break;
			}
		}
		out[o++] = c;
	}
	return o;
}

/* A string's decoded bytes (f->p after its opening quote): its raw bytes
 * when it has no escapes, else decoded into small (FAST_STACK_STR bytes)
 * or into *heap (the caller frees it). NULL when the string is not one
 * this path takes, or on no memory. */
static const char *string_bytes(struct fast *f, char *small, char **heap,
				size_t *n)
{
	const char *raw;
	char *buf;
	int esc;

	*heap = NULL;
	if (scan_string(f, &raw, n, &esc) != 0)
		return NULL;
	if (!esc)
		return raw;
	buf = *n <= FAST_STACK_STR ? small : malloc(*n);
	if (!buf)
		return NULL;
	if (buf != small)
		*heap = buf;
	*n = unescape(raw, *n, buf);
	return buf;
}

static json_t *parse_string(struct fast *f)
{
	char small[FAST_STACK_STR], *heap;
	size_t n;
	const char *s = string_bytes(f, small, &heap, &n);
	json_t *v = s ? json_stringn_nocheck(s, n) : NULL;

	free(heap);
	return v;
}

/* An integer as jansson reads one: -?(0|[1-9][0-9]*) within json_int_t;
 * a fraction or an exponent (a real) is not for this path. */
static json_t *parse_integer(struct fast *f)
{
	const char *p = f->p;
	int neg = 0;
	unsigned long long v = 0, lim;

	if (p < f->end && *p == '-') {
		neg = 1;
		p++;
	}
	if (p >= f->end || *p < '0' || *p > '9')
		return NULL;
	if (*p == '0' && p + 1 < f->end && p[1] >= '0' && p[1] <= '9')
		return NULL;
	lim = neg ? (unsigned long long)LLONG_MAX + 1 : LLONG_MAX;
	for (; p < f->end && *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (v > (lim - d) / 10)
			return NULL; /* jansson: too big an integer */
		v = v * 10 + d;
	}
	if (p < f->end && (*p == '.' || *p == 'e' || *p == 'E'))
		return NULL;
	f->p = p;
	if (neg)
		return json_integer(v == (unsigned long long)LLONG_MAX + 1
					    ? LLONG_MIN
					    : -(json_int_t)v);
	return json_integer((json_int_t)v);
}

static json_t *parse_value(struct fast *f, unsigned depth);

/* The keys of one object so far, for the duplicate check: the first
 * FAST_KEYS keys without escapes compare as they are (their raw bytes
 * are their value); past that, or once a key had escapes ("\/" is "/"),
 * jansson's lookup decides, as it did for every key before (a hash of
 * the key per lookup, a tenth of decoding a request). */
#define FAST_KEYS 16

struct seen {
	const char *k[FAST_KEYS];
	size_t n[FAST_KEYS];
	unsigned count;
	int lookup; /* from now on: jansson's lookup */
};

/* 1 if the raw key (n bytes, esc: it has escapes) came before in this
 * object, 0 if not, -1 when jansson's lookup must decide. */
static int seen_before(struct seen *s, const char *raw, size_t n, int esc)
{
	if (esc || s->count == FAST_KEYS)
		s->lookup = 1;
	if (s->lookup)
		return -1;
	for (unsigned i = 0; i < s->count; i++)
		if (s->n[i] == n && memcmp(s->k[i], raw, n) == 0)
			return 1;
	s->k[s->count] = raw;
	s->n[s->count++] = n;
	return 0;
}

/* Adds key (the string at f->p, after its quote) with v to obj; takes v
 * in any case. dup: what seen_before said. -1 for a duplicate (jansson's
 * to refuse, with JSON_REJECT_DUPLICATES), a string this path does not
 * take, no memory. */
static int set_key(struct fast *f, json_t *obj, json_t *v, int dup)
{
	char small[FAST_STACK_STR], *heap = NULL;
	size_t n = 0;
	const char *key = NULL;
	int rc = -1;

	if (dup != 1) /* a duplicate is jansson's to refuse */
		key = string_bytes(f, small, &heap, &n);
	if (key && (dup == 0 || !json_object_getn(obj, key, n))) {
		rc = json_object_setn_new_nocheck(obj, key, n, v);
		v = NULL; /* taken, even on failure */
	}
	json_decref(v);
	free(heap);
	return rc;
}

static json_t *parse_object(struct fast *f, unsigned depth)
{
	json_t *obj = json_object();
	struct fast at;
	struct seen keys;

	if (!obj)
		return NULL;
	keys.count = 0;
	keys.lookup = 0;
	skip_ws(f);
	if (f->p < f->end && *f->p == '}') {
		f->p++;
		return obj;
	}
	for (;;) {
		const char *raw;
		size_t n;
		int esc, dup;
		json_t *v;
		if (f->p >= f->end || *f->p != '"')
			goto fail;
		f->p++;
		/* the key is checked now, decoded after its value */
		at = *f;
		if (scan_string(f, &raw, &n, &esc) != 0)
			goto fail;
		dup = seen_before(&keys, raw, n, esc);
		skip_ws(f);
		if (f->p >= f->end || *f->p != ':')
			goto fail;
		f->p++;
		v = parse_value(f, depth + 1);
		if (!v || set_key(&at, obj, v, dup) != 0)
			goto fail;
		skip_ws(f);
		if (f->p < f->end && *f->p == ',') {
			f->p++;
			skip_ws(f);
			continue;
		}
		if (f->p < f->end && *f->p == '}') {
			f->p++;
			return obj;
		}
		goto fail;
	}
fail:
	json_decref(obj);
	return NULL;
}

static json_t *parse_array(struct fast *f, unsigned depth)
{
	json_t *arr = json_array();

	if (!arr)
		return NULL;
	skip_ws(f);
	if (f->p < f->end && *f->p == ']') {
		f->p++;
		return arr;
	}
	for (;;) {
		json_t *v = parse_value(f, depth + 1);
		if (!v || json_array_append_new(arr, v) != 0)
			goto fail;
		skip_ws(f);
		if (f->p < f->end && *f->p == ',') {
			f->p++;
			continue;
		}
		if (f->p < f->end && *f->p == ']') {
			f->p++;
			return arr;
		}
		goto fail;
	}
fail:
	json_decref(arr);
	return NULL;
}

static json_t *literal(struct fast *f, const char *word, json_t *v)
{
	size_t n = strlen(word);

	if ((size_t)(f->end - f->p) < n || memcmp(f->p, word, n) != 0)
		return NULL;
	f->p += n;
	return v;
}

/* depth: the containers around the value; one more for an object or an
 * array must stay within f->max_depth (the caller's cap, counted as
 * jr_depth_ok counts it), else the whole text goes to the slow path. */
static json_t *parse_value(struct fast *f, unsigned depth)
{
	skip_ws(f);
	if (f->p >= f->end)
		return NULL;
	switch (*f->p) {
	case '{':
		if (depth >= f->max_depth)
			return NULL;
		f->p++;
		return parse_object(f, depth);
	case '[':
		if (depth >= f->max_depth)
			return NULL;
		f->p++;
		return parse_array(f, depth);
	case '"':
		f->p++;
		return parse_string(f);
	case 't':
		return literal(f, "true", json_true());
	case 'f':
		return literal(f, "false", json_false());
	case 'n':
		return literal(f, "null", json_null());
	default:
		return parse_integer(f);
	}
}

json_t *jr_fast_decode(const char *buf, size_t len, size_t max_depth)
{
	struct fast f = { buf, buf + len,
			  max_depth < FAST_MAX_DEPTH ? (unsigned)max_depth
						     : FAST_MAX_DEPTH };
	json_t *v = parse_value(&f, 0);

	skip_ws(&f);
	if (v && f.p != f.end) { /* trailing bytes: jansson's error */
		json_decref(v);
		v = NULL;
	}
	return v;
}
