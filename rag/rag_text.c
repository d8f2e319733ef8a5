/* Text preparation for ingest: UTF-8 repair, HTML to text, binary
 * detection, and the chunker that cuts documents on paragraph and sentence
 * boundaries with a byte budget and overlap. */
#include <stdlib.h>
#include <string.h>

#include "rag_int.h"

#define CHUNK_DEFAULT 1000
#define CHUNK_MIN 64
#define CHUNK_MAX 65536
#define OVERLAP_DEFAULT 150

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len, i;
	unsigned cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, cp = c & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

size_t rag_utf8_prefix(const char *s, size_t max)
{
	size_t k = 0, n = strlen(s), c;

	while (k < n) {
		c = utf8_seq((const unsigned char *)s + k, n - k);
		if (!c)
			c = 1; /* an invalid byte is a unit of its own */
		if (k + c > max)
			break;
		k += c;
	}
	return k;
}

char *rag_utf8_clean(const char *s, size_t len, size_t *outlen)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, o = 0;
	char *out;

	if (len > (SIZE_MAX - 1) / 3)
		return NULL;
	out = malloc(len * 3 + 1); /* each bad byte becomes 3 bytes */
	if (!out)
		return NULL;
	while (i < len) {
		size_t l = utf8_seq(u + i, len - i);
		if (l == 0) {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
			continue;
		}
		if (l == 1 && (u[i] < 0x20 || u[i] == 0x7f) && u[i] != '\t' &&
		    u[i] != '\n' && u[i] != '\r') {
			i++;
			continue;
		}
		memcpy(out + o, s + i, l);
		o += l;
		i += l;
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

int rag_looks_binary(const char *s, size_t len)
{
	size_t n = len < 8192 ? len : 8192;
	return memchr(s, '\0', n) != NULL;
}

/* ---- HTML ---- */

static int ci_prefix(const char *s, size_t n, const char *p)
{
	size_t i;
	for (i = 0; p[i]; i++) {
		char c;
		if (i >= n)
			return 0;
		c = s[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != p[i])
			return 0;
	}
	return 1;
}

/* Finds case-insensitive needle in s[from..n); returns index or n. */
static size_t ci_find(const char *s, size_t n, size_t from, const char *needle)
{
	size_t i;
	for (i = from; i < n; i++)
		if (ci_prefix(s + i, n - i, needle))
			return i;
	return n;
}

static const char *const block_tags[] = {
	"p",   "div",	  "br",	     "li",     "ul",	 "ol",	       "h1",
	"h2",  "h3",	  "h4",	     "h5",     "h6",	 "tr",	       "table",
	"pre", "section", "article", "header", "footer", "blockquote", "hr",
	"dd",  "dt",	  "title",   NULL
};

/* Nonzero if the tag starting after '<' (and an optional '/') is a block. */
static int is_block_tag(const char *s, size_t n)
{
	size_t i;
	for (i = 0; block_tags[i]; i++) {
		size_t l = strlen(block_tags[i]);
		if (ci_prefix(s, n, block_tags[i]) &&
		    (l == n || !((s[l] >= 'a' && s[l] <= 'z') ||
				 (s[l] >= 'A' && s[l] <= 'Z') ||
				 (s[l] >= '0' && s[l] <= '9'))))
			return 1;
	}
	return 0;
}

static const struct {
	const char *name;
	const char *text;
} entities[] = { { "&amp;", "&" },   { "&lt;", "<" },  { "&gt;", ">" },
		 { "&quot;", "\"" }, { "&#39;", "'" }, { "&apos;", "'" },
		 { "&nbsp;", " " },  { NULL, NULL } };

/* Copies an entity at s if known; returns bytes consumed (0 if none). */
static size_t put_entity(const char *s, size_t n, char *out, size_t *o)
{
	size_t i;
	for (i = 0; entities[i].name; i++) {
		size_t l = strlen(entities[i].name);
		if (l <= n && memcmp(s, entities[i].name, l) == 0) {
			size_t tl = strlen(entities[i].text);
			memcpy(out + *o, entities[i].text, tl);
			*o += tl;
			return l;
		}
	}
	return 0;
}

/* Skips a tag starting at s[i] == '<'; returns the index after it. Script
 * and style elements and comments are skipped whole. */
static size_t skip_tag(const char *s, size_t n, size_t i, int *block)
{
	size_t j, name = i + 1;

	if (ci_prefix(s + i, n - i, "<!--")) {
		j = ci_find(s, n, i + 4, "-->");
		return j < n ? j + 3 : n;
	}
	if (name < n && s[name] == '/')
		name++;
	*block = is_block_tag(s + name, n - name);
	if (ci_prefix(s + i, n - i, "<script") ||
	    ci_prefix(s + i, n - i, "<style")) {
		const char *end = ci_prefix(s + i, n - i, "<script")
					  ? "</script"
					  : "</style";
		j = ci_find(s, n, i + 1, end);
		i = j;
		*block = 1;
	}
	j = i;
	while (j < n && s[j] != '>')
		j++;
	return j < n ? j + 1 : n;
}

char *rag_html_strip(const char *s, size_t len, size_t *outlen)
{
	size_t i = 0, o = 0;
	char *out;

	if (len >= SIZE_MAX / 2)
		return NULL;
	out = malloc(len + 2);
	if (!out)
		return NULL;
	while (i < len) {
		if (s[i] == '<') {
			int block = 0;
			i = skip_tag(s, len, i, &block);
			if (block && o > 0 && out[o - 1] != '\n')
				out[o++] = '\n';
			else if (!block && o > 0 && out[o - 1] != ' ' &&
				 out[o - 1] != '\n')
				out[o++] = ' ';
			continue;
		}
		if (s[i] == '&') {
			size_t used = put_entity(s + i, len - i, out, &o);
			if (used) {
				i += used;
				continue;
			}
		}
		out[o++] = s[i++];
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

/* ---- chunker ---- */

int rag_chunk_opts_check(const struct rag_chunk_opts *in,
			 struct rag_chunk_opts *out, char *err, size_t errlen)
{
	out->size = in && in->size ? in->size : CHUNK_DEFAULT;
	out->overlap = in ? in->overlap : OVERLAP_DEFAULT;
	if (!in)
		out->overlap = OVERLAP_DEFAULT;
	if (out->size < CHUNK_MIN || out->size > CHUNK_MAX) {
		rag_errf(err, errlen, "chunk size %zu out of range %d..%d",
			 out->size, CHUNK_MIN, CHUNK_MAX);
		return -1;
	}
	if (out->overlap >= out->size / 2) {
		rag_errf(err, errlen, "chunk overlap %zu must be below %zu",
			 out->overlap, out->size / 2);
		return -1;
	}
	return 0;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

struct units {
	struct rag_span *u;
	size_t n, cap;
};

static int units_push(struct units *us, size_t s, size_t e)
{
	if (us->n == us->cap) {
		size_t cap = us->cap ? us->cap * 2 : 64;
		struct rag_span *nu = realloc(us->u, cap * sizeof(*nu));
		if (!nu)
			return -1;
		us->u = nu;
		us->cap = cap;
	}
	us->u[us->n].start = s;
	us->u[us->n].end = e;
	us->n++;
	return 0;
}

/* Where a sentence or paragraph ends at or after i: the index just past
 * its terminator and following whitespace. */
static size_t unit_end(const char *t, size_t len, size_t i)
{
	for (; i < len; i++) {
		if (t[i] == '\n' && i + 1 < len) {
			size_t j = i + 1;
			while (j < len &&
			       (t[j] == ' ' || t[j] == '\t' || t[j] == '\r'))
				j++;
			if (j < len && t[j] == '\n')
				break; /* blank line: paragraph end */
		}
		if ((t[i] == '.' || t[i] == '!' || t[i] == '?') &&
		    i + 1 < len && is_space(t[i + 1]))
			break;
	}
	if (i >= len)
		return len;
	i++;
	while (i < len && is_space(t[i]))
		i++;
	return i;
}

/* Cut point for a unit [s, e) longer than max: the last space before
 * s + max, else the last UTF-8 boundary before it. */
static size_t cut_point(const char *t, size_t s, size_t max)
{
	size_t c = s + max, i;
	for (i = c; i > s + max / 2; i--)
		if (is_space(t[i - 1]))
			return i;
	while (c > s + 1 && ((unsigned char)t[c] & 0xc0) == 0x80)
		c--;
	return c;
}

static int split_units(const char *t, size_t len, size_t max, struct units *us)
{
	size_t i = 0;
	while (i < len) {
		size_t e = unit_end(t, len, i);
		while (e - i > max) {
			size_t c = cut_point(t, i, max);
			if (units_push(us, i, c) < 0)
				return -1;
			i = c;
		}
		if (units_push(us, i, e) < 0)
			return -1;
		i = e;
	}
	return 0;
}

/* Appends the trimmed span [s, e) as a chunk unless it is blank. */
static int emit(const char *t, size_t s, size_t e, struct units *out)
{
	while (s < e && is_space(t[s]))
		s++;
	while (e > s && is_space(t[e - 1]))
		e--;
	if (s == e)
		return 0;
	/* A chunk inside the previous one (possible once blank units are
	 * trimmed away) adds nothing. */
	if (out->n &&
	    (s <= out->u[out->n - 1].start || e <= out->u[out->n - 1].end))
		return 0;
	return units_push(out, s, e);
}

int rag_chunk(const char *text, size_t len, const struct rag_chunk_opts *opts,
	      struct rag_span **out, size_t *n)
{
	struct units us = { 0 }, ch = { 0 };
	size_t i = 0;
	int rc = -1;

	if (split_units(text, len, opts->size, &us) < 0)
		goto out;
	while (i < us.n) {
		size_t j = i, start = us.u[i].start;
		while (j + 1 < us.n && us.u[j + 1].end - start <= opts->size)
			j++;
		if (emit(text, start, us.u[j].end, &ch) < 0)
			goto out;
		if (j + 1 >= us.n)
			break;
		/* Step back over trailing units that fit in the overlap. */
		size_t next = j + 1;
		while (next - 1 > i &&
		       us.u[j].end - us.u[next - 1].start <= opts->overlap)
			next--;
		i = next;
	}
	rc = 0;
out:
	free(us.u);
	if (rc < 0) {
		free(ch.u);
		ch.u = NULL;
		ch.n = 0;
	}
	*out = ch.u;
	*n = ch.n;
	return rc;
}

size_t rag_capbuf_write(char *data, size_t sz, size_t nm, void *ud)
{
	struct rag_capbuf *b = ud;
	size_t add = sz * nm;
	char *np;

	if (add > b->max - b->n) {
		b->too_big = 1;
		return 0;
	}
	np = realloc(b->p, b->n + add + 1);
	if (!np)
		return 0;
	b->p = np;
	memcpy(b->p + b->n, data, add);
	b->n += add;
	b->p[b->n] = '\0';
	return add;
}
