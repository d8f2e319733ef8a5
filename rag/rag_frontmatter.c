/* Markdown front matter: the `key: value` subset of YAML between two `---`
 * lines at the very start of a document, parsed into string metadata with
 * caps on size, key count and lengths. Anything outside the subset makes
 * the whole block malformed, and the caller keeps it as text. */
#include <stdio.h>
#include <string.h>

#include "rag_int.h"

/* Length of the line starting at s[i] (without its \n or \r\n), and the
 * offset just past its end in *next. */
static size_t line_at(const char *s, size_t n, size_t i, size_t *next)
{
	const char *nl = memchr(s + i, '\n', n - i);
	size_t e = nl ? (size_t)(nl - s) : n;

	*next = nl ? e + 1 : n;
	if (e > i && s[e - 1] == '\r')
		e--;
	return e - i;
}

/* Nonzero if the line is the fence f ("---" or "...") with only trailing
 * blanks after it. */
static int is_fence(const char *l, size_t n, const char *f)
{
	size_t i;
	if (n < 3 || memcmp(l, f, 3) != 0)
		return 0;
	for (i = 3; i < n; i++)
		if (l[i] != ' ' && l[i] != '\t')
			return 0;
	return 1;
}

static int key_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
}

/* Trims blanks from both ends of l[*a, *b). */
static void trim(const char *l, size_t *a, size_t *b)
{
	while (*a < *b && (l[*a] == ' ' || l[*a] == '\t'))
		(*a)++;
	while (*b > *a && (l[*b - 1] == ' ' || l[*b - 1] == '\t'))
		(*b)--;
}

/* The value part l[a, b) as written: surrounding matching quotes removed,
 * or, unquoted, a " #" comment cut off. */
static void value_span(const char *l, size_t *a, size_t *b)
{
	size_t i;
	trim(l, a, b);
	if (*b - *a >= 2 && (l[*a] == '"' || l[*a] == '\'') &&
	    l[*b - 1] == l[*a]) {
		(*a)++;
		(*b)--;
		return;
	}
	for (i = *a; i < *b; i++)
		if (l[i] == '#' && i > *a &&
		    (l[i - 1] == ' ' || l[i - 1] == '\t'))
			break;
	*b = i;
	trim(l, a, b);
}

/* Parses one `key: value` line into m. 0, or -1 with err (no line
 * number; the caller adds it). */
static int parse_pair(const char *l, size_t n, json_t *m, char *err,
		      size_t errlen)
{
	size_t k = 0, a, b, i;
	char key[RAG_FM_MAX_KEY + 1];
	json_t *v;

	while (k < n && key_byte((unsigned char)l[k]))
		k++;
	if (k == 0 || k >= n || l[k] != ':' ||
	    (k + 1 < n && l[k + 1] != ' ' && l[k + 1] != '\t')) {
		rag_errf(err, errlen, "not a \"key: value\" line");
		return -1;
	}
	if (k > RAG_FM_MAX_KEY) {
		rag_errf(err, errlen, "key longer than %d bytes",
			 RAG_FM_MAX_KEY);
		return -1;
	}
	a = k + 1;
	b = n;
	value_span(l, &a, &b);
	if (b - a > RAG_FM_MAX_VALUE) {
		rag_errf(err, errlen, "value longer than %d bytes",
			 RAG_FM_MAX_VALUE);
		return -1;
	}
	for (i = a; i < b; i++)
		if ((unsigned char)l[i] < 0x20 && l[i] != '\t') {
			rag_errf(err, errlen, "control character in value");
			return -1;
		}
	memcpy(key, l, k);
	key[k] = '\0';
	if (json_object_get(m, key)) {
		rag_errf(err, errlen, "duplicate key \"%s\"", key);
		return -1;
	}
	if (json_object_size(m) >= RAG_FM_MAX_KEYS) {
		rag_errf(err, errlen, "more than %d keys", RAG_FM_MAX_KEYS);
		return -1;
	}
	v = json_stringn(l + a, b - a);
	if (!v) {
		rag_errf(err, errlen, "value is not valid UTF-8");
		return -1;
	}
	return json_object_set_new(m, key, v);
}

/* Offset of the first line after the opening fence, or 0 if text does
 * not open with one (a UTF-8 byte order mark before it is allowed). */
static size_t opening(const char *s, size_t n)
{
	size_t i = 0, next, len;
	if (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
		i = 3;
	len = line_at(s, n, i, &next);
	if (!is_fence(s + i, len, "---") || next == n)
		return 0;
	return next;
}

int rag_front_matter(const char *s, size_t n, json_t **meta, size_t *body,
		     char *err, size_t errlen)
{
	size_t i = opening(s, n), next, lineno = 1;
	char why[160];
	json_t *m;

	*meta = NULL;
	*body = 0;
	if (i == 0)
		return 0;
	m = json_object();
	if (!m) {
		rag_errf(err, errlen, "out of memory");
		return -1;
	}
	for (; i < n; i = next) {
		size_t len = line_at(s, n, i, &next), a = 0, b;
		lineno++;
		if (next > RAG_FM_MAX_BYTES) {
			rag_errf(err, errlen,
				 "front matter: no closing --- within %d bytes",
				 RAG_FM_MAX_BYTES);
			goto bad;
		}
		if (is_fence(s + i, len, "---") ||
		    is_fence(s + i, len, "...")) {
			*meta = m;
			*body = next;
			return 1;
		}
		b = len;
		trim(s + i, &a, &b);
		if (a == b || s[i + a] == '#')
			continue; /* blank line or comment */
		if (a > 0) {
			rag_errf(err, errlen,
				 "front matter line %zu: indented (nested"
				 " values are not supported)",
				 lineno);
			goto bad;
		}
		if (parse_pair(s + i, len, m, why, sizeof(why)) < 0) {
			rag_errf(err, errlen, "front matter line %zu: %s",
				 lineno, why);
			goto bad;
		}
	}
	rag_errf(err, errlen, "front matter: no closing ---");
bad:
	json_decref(m);
	return -1;
}
