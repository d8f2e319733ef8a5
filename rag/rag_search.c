/* Queries: vector search through the collection's matrix (concurrent
 * callers are combined into one sgemm scan), BM25 through FTS5, hybrid by
 * a weighted sum of scores mapped to 0..1 by fixed transforms (or
 * reciprocal rank fusion), and the results as C structs or JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rag_int.h"

#define RRF_K 60.0	/* reciprocal rank fusion constant */
#define HYBRID_DEPTH 50 /* minimum candidates from each ranker */
#define FTS_MAX_TERMS 64
#define HYBRID_VECTOR_WEIGHT 0.3 /* measured: docs/rag.md, evaluation */
/* BM25 score mapped to 0.5 in hybrid: about one rare query word matched
 * in a short chunk; 1..16 gave R@1 0.829..0.836 (docs/rag.md). */
#define BM25_HALF 2.0

struct rag_pending {
	struct rag_pending *next;
	const char *collection;
	const float *vec;
	size_t k;
	const struct rag_filter *filter;
	int int8;
	struct rag_cand *cands;
	size_t ncand;
	int done, rc;
	char err[256];
};

RAG_EXPORT void rag_results_free(struct rag_results *r)
{
	size_t i;
	if (!r)
		return;
	for (i = 0; i < r->n; i++) {
		free(r->hits[i].source);
		free(r->hits[i].text);
		json_decref(r->hits[i].metadata);
	}
	free(r->hits);
	r->hits = NULL;
	r->n = 0;
}

/* Fills hits from candidates (chunk ids) by reading their rows. */
static int fetch_hits(rag_db *db, const struct rag_cand *c, size_t n,
		      struct rag_results *out, char *err, size_t errlen)
{
	size_t i;

	out->n = 0;
	out->hits = calloc(n + 1, sizeof(*out->hits));
	if (!out->hits)
		goto oom;
	for (i = 0; i < n; i++) {
		sqlite3_stmt *st = rag_stmt(db, ST_CHUNK_GET, err, errlen);
		struct rag_hit *h = &out->hits[out->n];
		const char *t, *s, *m;
		if (!st)
			return -1;
		sqlite3_bind_int64(st, 1, c[i].chunk_id);
		if (sqlite3_step(st) != SQLITE_ROW) {
			sqlite3_reset(st);
			continue; /* deleted meanwhile */
		}
		t = (const char *)sqlite3_column_text(st, 1);
		s = (const char *)sqlite3_column_text(st, 2);
		m = (const char *)sqlite3_column_text(st, 3);
		h->chunk = sqlite3_column_int64(st, 0);
		h->score = c[i].score;
		h->text = strdup(t ? t : "");
		h->source = strdup(s ? s : "");
		h->metadata = m ? json_loads(m, 0, NULL) : NULL;
		if (!h->metadata)
			h->metadata = json_object();
		sqlite3_reset(st);
		out->n++;
		if (!h->text || !h->source || !h->metadata)
			goto oom;
	}
	return 0;
oom:
	rag_errf(err, errlen, "out of memory");
	return -1;
}

/* ---- BM25 ---- */

static int fts_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c >= 0x80;
}

/* Builds an FTS5 query OR-ing the quoted words of text; NULL if none. */
static char *fts_query(const char *text)
{
	size_t len = strlen(text), i = 0, o = 0, terms = 0;
	char *q = malloc(len * 2 + 16);

	if (!q)
		return NULL;
	while (i < len && terms < FTS_MAX_TERMS) {
		size_t s;
		while (i < len && !fts_byte((unsigned char)text[i]))
			i++;
		s = i;
		while (i < len && fts_byte((unsigned char)text[i]))
			i++;
		if (i == s)
			break;
		if (terms++)
			memcpy(q + o, " OR ", 4), o += 4;
		q[o++] = '"';
		memcpy(q + o, text + s, i - s);
		o += i - s;
		q[o++] = '"';
	}
	q[o] = '\0';
	if (terms == 0) {
		free(q);
		return NULL;
	}
	return q;
}

/* Top-k chunks by BM25 (score = -bm25, higher is better) passing f. */
static int bm25_topk(rag_db *db, struct rag_coll *c, const char *text, size_t k,
		     const struct rag_filter *f, struct rag_cand **out,
		     size_t *n, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	char *q = fts_query(text);
	int rc = SQLITE_DONE;

	*n = 0;
	*out = calloc(k, sizeof(**out));
	if (!*out) {
		free(q);
		rag_errf(err, errlen, "out of memory");
		return -1;
	}
	if (!q)
		return 0;
	st = rag_stmt(db, ST_BM25, err, errlen);
	if (!st) {
		free(q);
		return -1;
	}
	sqlite3_bind_text(st, 1, q, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, c->id);
	while (*n < k && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		int known;
		const json_t *meta = rag_mx_meta(c, id, &known);
		if (f && !rag_filter_match(f, meta))
			continue;
		(*out)[*n].chunk_id = id;
		(*out)[*n].score = -sqlite3_column_double(st, 1);
		(*n)++;
	}
	sqlite3_reset(st);
	free(q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		rag_errf(err, errlen, "bm25: %s", sqlite3_errmsg(db->sql));
		return -1;
	}
	return 0;
}

/* ---- fusion ---- */

static int by_score(const void *a, const void *b)
{
	double x = ((const struct rag_cand *)a)->score;
	double y = ((const struct rag_cand *)b)->score;
	return x < y ? 1 : x > y ? -1 : 0;
}

/* Adds score s for chunk id to the fused list f[0..*nf): merged into an
 * entry among the first `first` (the first list's) if the chunk is there,
 * else appended. */
static void fuse_add(struct rag_cand *f, size_t *nf, size_t first, int64_t id,
		     double s)
{
	for (size_t j = 0; j < first; j++) {
		if (f[j].chunk_id == id) {
			f[j].score += s;
			return;
		}
	}
	f[*nf].chunk_id = id;
	f[(*nf)++].score = s;
}

/* Sorts the fused list best first and keeps at most k. */
static struct rag_cand *fuse_done(struct rag_cand *f, size_t nf, size_t k,
				  size_t *n)
{
	qsort(f, nf, sizeof(*f), by_score);
	*n = nf < k ? nf : k;
	return f;
}

/* Reciprocal rank fusion of two ranked lists into the best k. */
static struct rag_cand *rrf(const struct rag_cand *a, size_t na,
			    const struct rag_cand *b, size_t nb, size_t k,
			    size_t *n)
{
	struct rag_cand *f = malloc((na + nb + 1) * sizeof(*f));
	size_t i, nf = 0;

	if (!f)
		return NULL;
	for (i = 0; i < na; i++)
		fuse_add(f, &nf, 0, a[i].chunk_id,
			 1.0 / (RRF_K + (double)i + 1));
	for (i = 0; i < nb; i++)
		fuse_add(f, &nf, na, b[i].chunk_id,
			 1.0 / (RRF_K + (double)i + 1));
	return fuse_done(f, nf, k, n);
}

/* A vector score mapped to 0..1 by a fixed rule: cosine and inner
 * product clamped (unrelated texts are near 0, a paraphrase near 1), an
 * L2 distance d as 1 / (1 + d). */
static double vector_unit(enum rag_metric m, double s)
{
	if (m == RAG_METRIC_L2)
		return 1.0 / (1.0 + (s > 0 ? s : 0));
	return s < 0 ? 0 : s > 1 ? 1 : s;
}

/* A BM25 score s (>= 0, higher is better) mapped to 0..1 as
 * s / (s + BM25_HALF): half way at BM25_HALF, saturating above. */
static double bm25_unit(double s)
{
	return s > 0 ? s / (s + BM25_HALF) : 0;
}

/* Convex combination of the two lists' scores, each mapped to 0..1 by a
 * fixed transform (a chunk missing from one list scores 0 there), weight
 * w on the vector list a. The transforms do not look at the other
 * results, so a chunk's score for a query does not depend on what else
 * matched (a min-max normalisation gave the only BM25 match 0). */
static struct rag_cand *convex(const struct rag_cand *a, size_t na,
			       const struct rag_cand *b, size_t nb,
			       enum rag_metric m, double w, size_t k, size_t *n)
{
	struct rag_cand *f = malloc((na + nb + 1) * sizeof(*f));
	size_t i, nf = 0;

	if (!f)
		return NULL;
	for (i = 0; i < na; i++)
		fuse_add(f, &nf, 0, a[i].chunk_id,
			 w * vector_unit(m, a[i].score));
	for (i = 0; i < nb; i++)
		fuse_add(f, &nf, na, b[i].chunk_id,
			 (1 - w) * bm25_unit(b[i].score));
	return fuse_done(f, nf, k, n);
}

/* ---- vector queries, combined across threads ---- */

/* Runs a batch of pending vector queries: those of one collection share
 * one scan. Caller holds db->lock. */
static void run_batch(rag_db *db, struct rag_pending *list)
{
	struct rag_pending *p, *q;

	for (p = list; p; p = p->next)
		p->rc = 1; /* not yet run */
	for (p = list; p; p = p->next) {
		struct rag_pending *grp[64];
		const struct rag_filter *fs[64];
		struct rag_cand *cands[64];
		size_t nc[64], ng = 0, kmax = 0, i, d;
		struct rag_coll *c;
		float *qs;

		if (p->rc != 1)
			continue;
		c = rag_coll_get(db, p->collection, p->err, sizeof(p->err));
		if (!c || rag_mx_sync(db, c, p->err, sizeof(p->err)) < 0) {
			p->rc = -1;
			continue;
		}
		for (q = p; q && ng < 64; q = q->next)
			if (q->rc == 1 && q->int8 == p->int8 &&
			    strcmp(q->collection, p->collection) == 0) {
				grp[ng] = q;
				fs[ng] = q->filter;
				kmax = q->k > kmax ? q->k : kmax;
				ng++;
			}
		d = (size_t)c->dims;
		qs = malloc(ng * d * sizeof(float));
		for (i = 0; qs && i < ng; i++)
			memcpy(qs + i * d, grp[i]->vec, d * sizeof(float));
		if (!qs || rag_mx_topk(c, qs, ng, kmax, fs, p->int8, cands, nc,
				       p->err, sizeof(p->err)) < 0) {
			for (i = 0; i < ng; i++) {
				grp[i]->rc = -1;
				snprintf(grp[i]->err, sizeof(grp[i]->err), "%s",
					 p->err[0] ? p->err : "out of memory");
			}
			free(qs);
			continue;
		}
		for (i = 0; i < ng; i++) {
			grp[i]->cands = cands[i];
			grp[i]->ncand = nc[i] < grp[i]->k ? nc[i] : grp[i]->k;
			grp[i]->rc = 0;
		}
		free(qs);
	}
}

/* Queues p and returns once some thread (maybe this one) has run it.
 * Whoever finds no scan running runs everything queued so far. */
static void vector_combined(rag_db *db, struct rag_pending *p)
{
	pthread_mutex_lock(&db->qlock);
	p->next = db->pending;
	db->pending = p;
	while (!p->done) {
		struct rag_pending *batch, *it;
		if (db->running) {
			pthread_cond_wait(&db->qcond, &db->qlock);
			continue;
		}
		db->running = 1;
		batch = db->pending;
		db->pending = NULL;
		pthread_mutex_unlock(&db->qlock);
		pthread_mutex_lock(&db->lock);
		run_batch(db, batch);
		pthread_mutex_unlock(&db->lock);
		pthread_mutex_lock(&db->qlock);
		for (it = batch; it; it = it->next)
			it->done = 1;
		db->running = 0;
		pthread_cond_broadcast(&db->qcond);
	}
	pthread_mutex_unlock(&db->qlock);
}

/* Embeds text with the collection's embedder into a new vector, after
 * checking the caller's embedder (if named) matches. NULL with err. */
static float *embed_query(rag_db *db, const struct rag_query *q, char *err,
			  size_t errlen)
{
	struct rag_embedder *e = NULL;
	struct rag_coll *c;
	float *v = NULL;
	size_t len = strlen(q->text);

	pthread_mutex_lock(&db->lock);
	c = rag_coll_get(db, q->collection, err, errlen);
	if (c)
		e = rag_coll_embedder(db, c, err, errlen);
	if (e && q->embedder && strcmp(q->embedder, e->id) != 0) {
		rag_errf(err, errlen,
			 "collection \"%s\" uses embedder %s (%d dims); refusing"
			 " a query embedded with %s",
			 c->name, e->id, e->dims, q->embedder);
		e = NULL;
	}
	pthread_mutex_unlock(&db->lock);
	if (!e)
		return NULL;
	/* Embedders are thread-safe and live as long as the handle, so the
	 * (possibly remote) embedding runs without the lock. */
	v = malloc((size_t)e->dims * sizeof(float));
	if (!v || e->embed(e, &q->text, &len, 1, v, err, errlen) < 0) {
		free(v);
		v = NULL;
	}
	return v;
}

static int check_query(const struct rag_query *q, char *err, size_t errlen)
{
	if (!q->text || strlen(q->text) > RAG_MAX_QUERY) {
		rag_errf(err, errlen, "query text must be 0..%d bytes",
			 RAG_MAX_QUERY);
		return -1;
	}
	if (q->k < 1 || q->k > RAG_MAX_K) {
		rag_errf(err, errlen, "k must be 1..%d", RAG_MAX_K);
		return -1;
	}
	if (q->vector_weight < 0 || q->vector_weight > 1) {
		rag_errf(err, errlen, "vector weight must be in 0..1");
		return -1;
	}
	if ((int)q->mode < RAG_MODE_VECTOR || q->mode > RAG_MODE_HYBRID) {
		rag_errf(err, errlen, "unknown search mode");
		return -1;
	}
	return 0;
}

/* The BM25 half (and hit fetching) under the lock. */
static int finish(rag_db *db, const struct rag_query *q,
		  const struct rag_filter *f, struct rag_pending *vp,
		  size_t depth, struct rag_results *out, char *err,
		  size_t errlen)
{
	struct rag_cand *b = NULL, *fused = NULL;
	struct rag_coll *c;
	size_t nb = 0, nf = 0;
	int rc = -1;

	pthread_mutex_lock(&db->lock);
	c = rag_coll_get(db, q->collection, err, errlen);
	if (!c || rag_mx_sync(db, c, err, errlen) < 0)
		goto out;
	if (q->mode == RAG_MODE_VECTOR) {
		rc = fetch_hits(db, vp->cands, vp->ncand, out, err, errlen);
		goto out;
	}
	if (bm25_topk(db, c, q->text, depth, f, &b, &nb, err, errlen) < 0)
		goto out;
	if (q->mode == RAG_MODE_BM25) {
		rc = fetch_hits(db, b, nb < q->k ? nb : q->k, out, err, errlen);
		goto out;
	}
	if (q->fusion == RAG_FUSE_RRF)
		fused = rrf(vp->cands, vp->ncand, b, nb, q->k, &nf);
	else
		fused = convex(vp->cands, vp->ncand, b, nb, c->metric,
			       q->vector_weight > 0 ? q->vector_weight
						    : HYBRID_VECTOR_WEIGHT,
			       q->k, &nf);
	if (!fused) {
		rag_errf(err, errlen, "out of memory");
		goto out;
	}
	rc = fetch_hits(db, fused, nf, out, err, errlen);
out:
	pthread_mutex_unlock(&db->lock);
	free(b);
	free(fused);
	return rc;
}

RAG_EXPORT int rag_search(rag_db *db, const struct rag_query *q,
			  struct rag_results *out, char *err, size_t errlen)
{
	struct rag_pending p = { 0 };
	struct rag_filter *f = NULL;
	float *v = NULL;
	size_t depth;
	int rc = -1;

	out->hits = NULL;
	out->n = 0;
	if (check_query(q, err, errlen) < 0)
		return -1;
	if (q->where_json) {
		f = rag_filter_parse(q->where_json, strlen(q->where_json), err,
				     errlen);
		if (!f)
			return -1;
	}
	depth = q->mode == RAG_MODE_HYBRID
			? (q->k * 4 > HYBRID_DEPTH ? q->k * 4 : HYBRID_DEPTH)
			: q->k;
	if (q->mode != RAG_MODE_BM25) {
		v = embed_query(db, q, err, errlen);
		if (!v)
			goto out;
		p.collection = q->collection ? q->collection
					     : RAG_DEFAULT_COLLECTION;
		p.vec = v;
		p.k = depth;
		p.filter = f;
		p.int8 = q->int8;
		vector_combined(db, &p);
		if (p.rc < 0) {
			rag_errf(err, errlen, "%s", p.err);
			goto out;
		}
	}
	rc = finish(db, q, f, &p, depth, out, err, errlen);
out:
	if (rc < 0)
		rag_results_free(out);
	free(p.cands);
	free(v);
	rag_filter_free(f);
	return rc;
}

/* Shared tail of the batch entry points: top-k of nq vectors in one scan
 * and the hits of each. Caller holds db->lock. */
static int batch_vectors(rag_db *db, struct rag_coll *c, const float *vecs,
			 size_t nq, size_t k, struct rag_results *outs,
			 char *err, size_t errlen)
{
	struct rag_cand **cands = calloc(nq, sizeof(*cands));
	size_t *nc = calloc(nq, sizeof(*nc)), i;
	int rc = -1;

	if (!cands || !nc) {
		rag_errf(err, errlen, "out of memory");
		goto out;
	}
	if (rag_mx_sync(db, c, err, errlen) < 0 ||
	    rag_mx_topk(c, vecs, nq, k, NULL, 0, cands, nc, err, errlen) < 0)
		goto out;
	for (i = 0; i < nq; i++)
		if (fetch_hits(db, cands[i], nc[i], &outs[i], err, errlen) < 0)
			goto out;
	rc = 0;
out:
	for (i = 0; cands && i < nq; i++)
		free(cands[i]);
	free(cands);
	free(nc);
	return rc;
}

RAG_EXPORT int rag_search_batch(rag_db *db, const struct rag_query *qs,
				size_t n, struct rag_results *outs, char *err,
				size_t errlen)
{
	struct rag_embedder *e;
	struct rag_coll *c;
	float *vecs = NULL;
	size_t i, k = 1;
	int rc = -1;

	memset(outs, 0, n * sizeof(*outs));
	for (i = 0; i < n; i++) {
		if (check_query(&qs[i], err, errlen) < 0)
			return -1;
		k = qs[i].k > k ? qs[i].k : k;
	}
	pthread_mutex_lock(&db->lock);
	c = rag_coll_get(db, n ? qs[0].collection : NULL, err, errlen);
	e = c ? rag_coll_embedder(db, c, err, errlen) : NULL;
	if (!e)
		goto out;
	vecs = malloc(n * (size_t)e->dims * sizeof(float) + 1);
	if (!vecs)
		goto out;
	for (i = 0; i < n; i++) {
		size_t len = strlen(qs[i].text);
		if (e->embed(e, &qs[i].text, &len, 1,
			     vecs + i * (size_t)e->dims, err, errlen) < 0)
			goto out;
	}
	rc = batch_vectors(db, c, vecs, n, k, outs, err, errlen);
out:
	pthread_mutex_unlock(&db->lock);
	free(vecs);
	return rc;
}

RAG_EXPORT int rag_search_vectors(rag_db *db, const char *collection,
				  const float *q, size_t nq, size_t k,
				  struct rag_results *outs, char *err,
				  size_t errlen)
{
	struct rag_coll *c;
	int rc = -1;

	memset(outs, 0, nq * sizeof(*outs));
	if (k < 1 || k > RAG_MAX_K) {
		rag_errf(err, errlen, "k must be 1..%d", RAG_MAX_K);
		return -1;
	}
	pthread_mutex_lock(&db->lock);
	c = rag_coll_get(db, collection, err, errlen);
	if (c)
		rc = batch_vectors(db, c, q, nq, k, outs, err, errlen);
	pthread_mutex_unlock(&db->lock);
	return rc;
}

RAG_EXPORT json_t *rag_results_json(const struct rag_results *r)
{
	json_t *arr = json_array(), *o;
	size_t i;

	if (!arr)
		return NULL;
	for (i = 0; i < r->n; i++) {
		const struct rag_hit *h = &r->hits[i];
		if (json_array_append_new(
			    arr,
			    json_pack("{s:s, s:I, s:f, s:s, s:O}", "source",
				      h->source, "chunk", (json_int_t)h->chunk,
				      "score", h->score, "text", h->text,
				      "metadata", h->metadata)) < 0) {
			json_decref(arr);
			return NULL;
		}
	}
	o = json_pack("{s:o}", "results", arr);
	return o;
}
