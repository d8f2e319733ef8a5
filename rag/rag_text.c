/* The chunker that cuts documents for ingest on paragraph and sentence
 * boundaries with a byte budget and overlap (UTF-8 repair and HTML to text
 * are shared with the web tools: web/web_text.c). */
#include <stdlib.h>
#include <string.h>

#include "rag_int.h"

#define CHUNK_DEFAULT 1000
#define CHUNK_MIN 64
#define CHUNK_MAX 65536
#define OVERLAP_DEFAULT 150

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
