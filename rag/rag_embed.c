/* Embedders: the dispatcher that opens the one a collection's config
 * names, and the built-in offline "hash" embedder: hashed word, word-pair
 * and character-trigram features with sublinear TF and stopwords as the
 * IDF stand-in, signed into 1024 buckets and L2-normalised. Weights and
 * size were chosen on the evaluation in docs/rag.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rag_int.h"

#define HASH_DIMS 1024
#define HASH_MAX_FEATS (1u << 20)
#define HASH_VERSION "hash-v3-1024"

uint64_t rag_fnv64(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i;
	if (h == 0)
		h = 1469598103934665603ull;
	for (i = 0; i < n; i++) {
		h ^= b[i];
		h *= 1099511628211ull;
	}
	return h;
}

void rag_fnv_hex(const void *p, size_t n, char out[17])
{
	static const char hex[] = "0123456789abcdef";
	uint64_t h = rag_fnv64(0, p, n);
	int i;
	for (i = 15; i >= 0; i--) {
		out[i] = hex[h & 15];
		h >>= 4;
	}
	out[16] = '\0';
}

/* ---- tokens ---- */

static const char *const stopwords[] = {
	"a",	 "an",	  "and",   "are",  "as",   "at",    "be",
	"by",	 "can",	  "for",   "from", "has",  "have",  "if",
	"in",	 "into",  "is",	   "it",   "its",  "may",   "not",
	"of",	 "on",	  "or",	   "that", "the",  "this",  "to",
	"was",	 "were",  "which", "will", "with", "what",  "how",
	"about", "me",	  "tell",  "do",   "does", "there", "their",
	"these", "those", "than",  "then", "so",   "such",  NULL
};

static int is_stopword(const char *w, size_t n)
{
	size_t i;
	if (n > 5)
		return 0; /* no stopword is longer */
	for (i = 0; stopwords[i]; i++)
		if (stopwords[i][0] == w[0] &&
		    strncmp(stopwords[i], w, n) == 0 && stopwords[i][n] == '\0')
			return 1;
	return 0;
}

static int word_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c >= 0x80;
}

/* Crude suffix stripping so "namespaces" and "namespace" share a word
 * feature; trigrams catch the rest. Returns the stem length. */
static size_t stem_len(const char *w, size_t n)
{
	if (n > 5 && memcmp(w + n - 3, "ing", 3) == 0)
		return n - 3;
	if (n > 4 && memcmp(w + n - 2, "ed", 2) == 0)
		return n - 2;
	if (n > 4 && memcmp(w + n - 3, "ies", 3) == 0)
		return n - 2;
	if (n > 3 && w[n - 1] == 's' && w[n - 2] != 's')
		return n - 1;
	return n;
}

/* Features of one text in an open-addressing table keyed by their hash:
 * count and summed weight per distinct feature. */
struct feat {
	uint64_t h; /* 0 = empty slot (a real hash of 0 is nudged to 1) */
	float wsum;
	uint32_t cnt;
};

struct feats {
	struct feat *f;
	size_t n, cap; /* cap is a power of two, n <= cap / 2 */
};

static int feats_grow(struct feats *fs)
{
	size_t cap = fs->cap ? fs->cap * 2 : 1024, i;
	struct feat *nf = calloc(cap, sizeof(*nf));

	if (!nf)
		return -1;
	for (i = 0; i < fs->cap; i++) {
		size_t j;
		if (!fs->f[i].h)
			continue;
		j = fs->f[i].h & (cap - 1);
		while (nf[j].h)
			j = (j + 1) & (cap - 1);
		nf[j] = fs->f[i];
	}
	free(fs->f);
	fs->f = nf;
	fs->cap = cap;
	return 0;
}

static void feats_clear(struct feats *fs)
{
	if (fs->f)
		memset(fs->f, 0, fs->cap * sizeof(*fs->f));
	fs->n = 0;
}

static int feat_add(struct feats *fs, uint64_t h, float w)
{
	size_t j;

	if (h == 0)
		h = 1;
	if (fs->n * 2 >= fs->cap) {
		if (fs->cap >= HASH_MAX_FEATS)
			return 0; /* enough evidence; ignore the rest */
		if (feats_grow(fs) < 0)
			return -1;
	}
	j = h & (fs->cap - 1);
	while (fs->f[j].h && fs->f[j].h != h)
		j = (j + 1) & (fs->cap - 1);
	if (!fs->f[j].h) {
		fs->f[j].h = h;
		fs->n++;
	}
	fs->f[j].wsum += w;
	fs->f[j].cnt++;
	return 0;
}

/* Adds the features of one lower-cased word w[0..n). */
static int word_feats(struct feats *fs, const char *w, size_t n, uint64_t *prev)
{
	char buf[66];
	size_t s = stem_len(w, n), i, ntri;
	uint64_t h = rag_fnv64(rag_fnv64(0, "w", 1), w, s);
	float tw;

	if (feat_add(fs, h, 1.0f) < 0)
		return -1;
	if (*prev && feat_add(fs, rag_fnv64(*prev, w, s), 1.0f) < 0)
		return -1;
	*prev = h;
	if (n > 64)
		return 0;
	buf[0] = '<';
	memcpy(buf + 1, w, n);
	buf[n + 1] = '>';
	ntri = n; /* trigrams of "<w>": n + 2 - 2 */
	tw = 0.6f / sqrtf((float)ntri);
	for (i = 0; i + 3 <= n + 2; i++)
		if (feat_add(fs, rag_fnv64(rag_fnv64(0, "t", 1), buf + i, 3),
			     tw) < 0)
			return -1;
	return 0;
}

static int text_feats(const char *t, size_t len, struct feats *fs)
{
	char w[256];
	uint64_t prev = 0;
	size_t i = 0;

	while (i < len) {
		size_t n = 0;
		while (i < len && !word_byte((unsigned char)t[i]))
			i++;
		while (i < len && word_byte((unsigned char)t[i])) {
			char c = t[i++];
			if (c >= 'A' && c <= 'Z')
				c = (char)(c - 'A' + 'a');
			if (n < sizeof(w))
				w[n++] = c;
		}
		if (n == 0 || is_stopword(w, n))
			continue;
		if (word_feats(fs, w, n, &prev) < 0)
			return -1;
	}
	return 0;
}

/* Sums features into v with sublinear term frequency (mean weight times
 * 1 + ln count), then normalises. */
static void feats_project(const struct feats *fs, float *v, int dims)
{
	size_t i, j;
	double norm = 0;

	memset(v, 0, (size_t)dims * sizeof(float));
	for (i = 0; i < fs->cap; i++) {
		const struct feat *f = &fs->f[i];
		float w;
		if (!f->h)
			continue;
		w = f->wsum / (float)f->cnt * (1.0f + logf((float)f->cnt));
		v[f->h % (uint64_t)dims] += (f->h >> 63) ? w : -w;
	}
	for (j = 0; j < (size_t)dims; j++)
		norm += (double)v[j] * v[j];
	if (norm > 0) {
		float s = (float)(1.0 / sqrt(norm));
		for (j = 0; j < (size_t)dims; j++)
			v[j] *= s;
	}
}

static int hash_embed(struct rag_embedder *e, const char *const *texts,
		      const size_t *lens, size_t n, float *out, char *err,
		      size_t errlen)
{
	struct feats fs = { 0 };
	size_t i;
	int rc = -1;

	for (i = 0; i < n; i++) {
		feats_clear(&fs);
		if (text_feats(texts[i], lens[i], &fs) < 0) {
			rag_errf(err, errlen, "hash embedder: out of memory");
			goto out;
		}
		feats_project(&fs, out + i * (size_t)e->dims, e->dims);
	}
	rc = 0;
out:
	free(fs.f);
	return rc;
}

static void simple_destroy(struct rag_embedder *e)
{
	free(e);
}

struct rag_embedder *rag_hash_open(char *err, size_t errlen)
{
	struct rag_embedder *e = calloc(1, sizeof(*e));
	if (!e) {
		rag_errf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(e->id, sizeof(e->id), "hash");
	e->dims = HASH_DIMS;
	rag_fnv_hex(HASH_VERSION, strlen(HASH_VERSION), e->checksum);
	e->embed = hash_embed;
	e->destroy = simple_destroy;
	return e;
}

/* ---- dispatch ---- */

static const char *cfg_str(const json_t *c, const char *k)
{
	return json_string_value(json_object_get(c, k));
}

struct rag_embedder *rag_embedder_open(const json_t *config, char *err,
				       size_t errlen)
{
	const char *id = cfg_str(config, "embedder");

	if (!id) {
		rag_errf(err, errlen, "collection has no embedder");
		return NULL;
	}
	if (strcmp(id, "hash") == 0)
		return rag_hash_open(err, errlen);
	if (strcmp(id, "glove") == 0)
		return rag_glove_open(cfg_str(config, "model"), err, errlen);
	if (strcmp(id, "openai") == 0)
		return rag_openai_open(config, err, errlen);
	rag_errf(err, errlen,
		 "unknown embedder \"%.*s\" (known: hash, glove, openai)",
		 (int)web_utf8_prefix(id, 32), id);
	return NULL;
}

/* Sets k to v in o unless v is NULL; -1 on allocation failure. */
static int set_opt(json_t *o, const char *k, const char *v)
{
	if (!v)
		return 0;
	return json_object_set_new(o, k, json_string(v));
}

json_t *rag_embedder_config(const struct rag_embedder_opts *opts, char *err,
			    size_t errlen)
{
	const char *id = opts && opts->embedder ? opts->embedder
						: RAG_DEFAULT_EMBEDDER;
	json_t *o = json_object();
	int bad = 0;

	if (!o)
		goto oom;
	if (strcmp(id, "hash") != 0 && strcmp(id, "glove") != 0 &&
	    strcmp(id, "openai") != 0) {
		rag_errf(
			err, errlen,
			"unknown embedder \"%.*s\" (known: hash, glove, openai)",
			(int)web_utf8_prefix(id, 32), id);
		json_decref(o);
		return NULL;
	}
	bad |= json_object_set_new(o, "embedder", json_string(id));
	if (opts && strcmp(id, "glove") == 0 && opts->model) {
		/* Absolute, so queries from any directory find the model. */
		char *abs = realpath(opts->model, NULL);
		bad |= set_opt(o, "model", abs ? abs : opts->model);
		free(abs);
	} else if (opts && strcmp(id, "hash") != 0) {
		bad |= set_opt(o, "model", opts->model);
		bad |= set_opt(o, "base_url", opts->base_url);
		bad |= set_opt(o, "key_env", opts->key_env);
		bad |= set_opt(o, "key_file", opts->key_file);
		if (opts->timeout_ms > 0)
			bad |= json_object_set_new(o, "timeout_ms",
						   json_integer(
							   opts->timeout_ms));
		if (opts->dims > 0)
			bad |= json_object_set_new(o, "dims",
						   json_integer(opts->dims));
	}
	if (bad)
		goto oom;
	return o;
oom:
	json_decref(o);
	rag_errf(err, errlen, "out of memory");
	return NULL;
}
