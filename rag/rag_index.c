/* The in-memory search matrix of a collection: every vector in one
 * contiguous row-major float32 array, kept in step with the file by
 * appending rows added since the last look (a full reload only after
 * deletes), scanned exactly with OpenBLAS: sgemv for one query, blocked
 * sgemm for several, optionally an int8 pre-scan with exact rescoring. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rag_int.h"

/* OpenBLAS (DYNAMIC_ARCH builds) picks its kernels from the CPU model
 * name; virtual machines that mask the model get the generic "Prescott"
 * SSE3 kernels, which scan at half the memory bandwidth. These symbols let
 * us re-select once, before the first BLAS call. */
extern char *openblas_get_corename(void);
extern void gotoblas_dynamic_init(void) __attribute__((weak));
extern void gotoblas_dynamic_quit(void) __attribute__((weak));

#define BLOCK_ROWS 8192	    /* rows per sgemm block: scores stay in cache */
#define BLOCK_ROWS_1 262144 /* rows per sgemv call: few, large BLAS calls */
#define INT8_OVERSAMPLE 8   /* int8 candidates per wanted result */

struct mdoc {
	int64_t id;
	json_t *meta;
};

struct rag_matrix {
	int dims;
	size_t n, cap;
	float *m;      /* n x dims */
	float *sq;     /* squared norms (L2) */
	int64_t *ids;  /* chunk ids, ascending */
	uint32_t *doc; /* index into docs */
	int8_t *q8;    /* int8 codes, built on first int8 query */
	float *q8s;    /* per-row scale */
	size_t q8n;    /* rows coded */
	struct mdoc *docs;
	size_t ndocs, dcap;
	int64_t max_chunk, max_doc, gen;
	int dirty;
};

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

/* If OpenBLAS fell back to generic kernels on a CPU that has AVX2 and FMA
 * (and the user did not choose with OPENBLAS_CORETYPE), re-selects the
 * Haswell or SkylakeX kernels. */
static void blas_fix_core(void)
{
	const char *name = openblas_get_corename();
	const char *want = NULL;

	if (getenv("OPENBLAS_CORETYPE") || !gotoblas_dynamic_init ||
	    !gotoblas_dynamic_quit || !name ||
	    (strcmp(name, "Prescott") != 0 && strcmp(name, "Core2") != 0 &&
	     strcmp(name, "Nehalem") != 0))
		return;
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f"))
		want = "SkylakeX";
	else if (__builtin_cpu_supports("avx2") &&
		 __builtin_cpu_supports("fma"))
		want = "Haswell";
	if (!want)
		return;
	setenv("OPENBLAS_CORETYPE", want, 0);
	gotoblas_dynamic_quit();
	gotoblas_dynamic_init();
}

void rag_blas_init(void)
{
	pthread_once(&blas_once, blas_fix_core);
}

void rag_mx_free(struct rag_matrix *m)
{
	size_t i;
	if (!m)
		return;
	for (i = 0; i < m->ndocs; i++)
		json_decref(m->docs[i].meta);
	free(m->docs);
	free(m->m);
	free(m->sq);
	free(m->ids);
	free(m->doc);
	free(m->q8);
	free(m->q8s);
	free(m);
}

void rag_mx_invalidate(rag_db *db)
{
	size_t i;
	for (i = 0; i < db->ncolls; i++)
		if (db->colls[i]->mx)
			db->colls[i]->mx->dirty = 1;
}

static int reserve_rows(struct rag_matrix *m, size_t want)
{
	size_t cap = m->cap ? m->cap : 1024;
	float *nm, *nsq;
	int64_t *nid;
	uint32_t *nd;

	if (want <= m->cap)
		return 0;
	while (cap < want)
		cap *= 2;
	nm = realloc(m->m, cap * (size_t)m->dims * sizeof(float));
	if (!nm)
		return -1;
	m->m = nm;
	nsq = realloc(m->sq, cap * sizeof(float));
	if (!nsq)
		return -1;
	m->sq = nsq;
	nid = realloc(m->ids, cap * sizeof(int64_t));
	if (!nid)
		return -1;
	m->ids = nid;
	nd = realloc(m->doc, cap * sizeof(uint32_t));
	if (!nd)
		return -1;
	m->doc = nd;
	m->cap = cap;
	return 0;
}

/* Loads documents (id, metadata) newer than max_doc. */
static int load_docs(rag_db *db, struct rag_coll *c, struct rag_matrix *m,
		     char *err, size_t errlen)
{
	sqlite3_stmt *st = rag_stmt(db, ST_MX_DOCS, err, errlen);
	int rc;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, c->id);
	sqlite3_bind_int64(st, 2, m->max_doc);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *mt = (const char *)sqlite3_column_text(st, 1);
		if (m->ndocs == m->dcap) {
			size_t cap = m->dcap ? m->dcap * 2 : 256;
			struct mdoc *nd = realloc(m->docs, cap * sizeof(*nd));
			if (!nd) {
				rc = SQLITE_NOMEM;
				break;
			}
			m->docs = nd;
			m->dcap = cap;
		}
		m->docs[m->ndocs].id = sqlite3_column_int64(st, 0);
		m->docs[m->ndocs].meta = mt ? json_loads(mt, 0, NULL) : NULL;
		m->max_doc = m->docs[m->ndocs].id;
		m->ndocs++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		rag_errf(err, errlen, "loading documents: %s",
			 sqlite3_errstr(rc));
		return -1;
	}
	return 0;
}

/* Index of document id in m->docs (ascending ids), or -1. */
static long doc_index(const struct rag_matrix *m, int64_t id)
{
	size_t lo = 0, hi = m->ndocs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->docs[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < m->ndocs && m->docs[lo].id == id ? (long)lo : -1;
}

static void put_row(struct rag_matrix *m, enum rag_metric metric,
		    const float *v, int64_t id, uint32_t doc)
{
	float *row = m->m + m->n * (size_t)m->dims;
	double s = 0;
	int j;

	memcpy(row, v, (size_t)m->dims * sizeof(float));
	for (j = 0; j < m->dims; j++)
		s += (double)row[j] * row[j];
	if (metric == RAG_METRIC_COSINE && s > 0) {
		float inv = (float)(1.0 / sqrt(s));
		for (j = 0; j < m->dims; j++)
			row[j] *= inv;
		s = 1.0;
	}
	m->sq[m->n] = (float)s;
	m->ids[m->n] = id;
	m->doc[m->n] = doc;
	m->n++;
}

/* Appends vectors newer than max_chunk. */
static int load_rows(rag_db *db, struct rag_coll *c, struct rag_matrix *m,
		     char *err, size_t errlen)
{
	sqlite3_stmt *st = rag_stmt(db, ST_MX_LOAD, err, errlen);
	size_t bytes = (size_t)m->dims * sizeof(float);
	int rc;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, c->id);
	sqlite3_bind_int64(st, 2, m->max_chunk);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		long d = doc_index(m, sqlite3_column_int64(st, 1));
		const void *v = sqlite3_column_blob(st, 2);
		if ((size_t)sqlite3_column_bytes(st, 2) != bytes || !v ||
		    d < 0) {
			rc = SQLITE_CORRUPT;
			break;
		}
		if (reserve_rows(m, m->n + 1) < 0) {
			rc = SQLITE_NOMEM;
			break;
		}
		put_row(m, c->metric, v, id, (uint32_t)d);
		m->max_chunk = id;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		rag_errf(err, errlen, "loading vectors of \"%s\": %s", c->name,
			 sqlite3_errstr(rc));
		return -1;
	}
	return 0;
}

static int coll_gen(rag_db *db, struct rag_coll *c, int64_t *gen, char *err,
		    size_t errlen)
{
	sqlite3_stmt *st = rag_stmt(db, ST_COLL_GEN, err, errlen);
	int rc;
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, c->id);
	rc = sqlite3_step(st);
	*gen = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	if (rc != SQLITE_ROW) {
		rag_errf(err, errlen, "collection \"%s\" vanished", c->name);
		return -1;
	}
	return 0;
}

/* Marks matrices dirty when another connection committed since we last
 * looked (PRAGMA data_version changes only for others' commits). */
static int check_data_version(rag_db *db, char *err, size_t errlen)
{
	sqlite3_stmt *st = rag_stmt(db, ST_DATA_VERSION, err, errlen);
	int64_t v;
	if (!st)
		return -1;
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		rag_errf(err, errlen, "sqlite: %s", sqlite3_errmsg(db->sql));
		return -1;
	}
	v = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (v != db->data_version)
		rag_mx_invalidate(db);
	db->data_version = v;
	return 0;
}

static struct rag_matrix *mx_new(int dims)
{
	struct rag_matrix *m = calloc(1, sizeof(*m));
	if (m) {
		m->dims = dims;
		m->dirty = 1;
		m->gen = -1;
	}
	return m;
}

int rag_mx_sync(rag_db *db, struct rag_coll *c, char *err, size_t errlen)
{
	int64_t gen;
	int rc = -1;

	if (check_data_version(db, err, errlen) < 0)
		return -1;
	if (!c->mx) {
		c->mx = mx_new(c->dims);
		if (!c->mx) {
			rag_errf(err, errlen, "out of memory");
			return -1;
		}
	}
	if (!c->mx->dirty)
		return 0;
	/* One read transaction so documents and vectors agree. */
	if (sqlite3_exec(db->sql, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		rag_errf(err, errlen, "sqlite: %s", sqlite3_errmsg(db->sql));
		return -1;
	}
	if (coll_gen(db, c, &gen, err, errlen) < 0)
		goto out;
	if (gen != c->mx->gen) { /* rows were deleted: start over */
		rag_mx_free(c->mx);
		c->mx = mx_new(c->dims);
		if (!c->mx) {
			rag_errf(err, errlen, "out of memory");
			goto out;
		}
		c->mx->gen = gen;
	}
	if (load_docs(db, c, c->mx, err, errlen) < 0 ||
	    load_rows(db, c, c->mx, err, errlen) < 0)
		goto out;
	c->mx->dirty = 0;
	rc = 0;
out:
	sqlite3_exec(db->sql, "COMMIT", NULL, NULL, NULL);
	if (rc < 0 && c->mx) {
		/* Partial state: drop it and reload next time. */
		rag_mx_free(c->mx);
		c->mx = NULL;
	}
	return rc;
}

const json_t *rag_mx_meta(struct rag_coll *c, int64_t chunk_id, int *known)
{
	struct rag_matrix *m = c->mx;
	size_t lo = 0, hi = m ? m->n : 0;

	*known = 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->ids[mid] < chunk_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!m || lo >= m->n || m->ids[lo] != chunk_id)
		return NULL;
	*known = 1;
	return m->docs[m->doc[lo]].meta;
}

/* ---- top-k ---- */

struct topk {
	struct rag_cand *c; /* min-heap on score (higher is better) */
	size_t n, k;
};

static void heap_push(struct topk *t, int64_t id, double s)
{
	size_t i;
	if (t->n == t->k) {
		if (s <= t->c[0].score)
			return;
		i = 0; /* replace the root and sift down */
		for (;;) {
			size_t l = 2 * i + 1, r = l + 1, m = i;
			double ms = s;
			if (l < t->n && t->c[l].score < ms)
				m = l, ms = t->c[l].score;
			if (r < t->n && t->c[r].score < ms)
				m = r;
			if (m == i)
				break;
			t->c[i] = t->c[m];
			i = m;
		}
		t->c[i].chunk_id = id;
		t->c[i].score = s;
		return;
	}
	i = t->n++;
	while (i > 0 && t->c[(i - 1) / 2].score > s) {
		t->c[i] = t->c[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	t->c[i].chunk_id = id;
	t->c[i].score = s;
}

static int cand_cmp(const void *a, const void *b)
{
	double x = ((const struct rag_cand *)a)->score;
	double y = ((const struct rag_cand *)b)->score;
	return x < y ? 1 : x > y ? -1 : 0;
}

/* Internal score: higher is better (L2 uses the negated distance). */
static inline double row_score(enum rag_metric met, float dot, float sq,
			       float qsq)
{
	if (met == RAG_METRIC_L2)
		return -(double)(sq - 2.0f * dot + qsq);
	return dot;
}

struct scan {
	struct rag_coll *c;
	const float *q; /* nq x dims */
	float *qsq;	/* query squared norms */
	size_t nq;
	struct topk *tk;
	const unsigned char *mask; /* per document, NULL = all pass */
};

/* Scores rows [r0, r0 + nr) against every query of s. */
static void scan_block(struct scan *s, size_t r0, size_t nr, float *buf)
{
	struct rag_matrix *m = s->c->mx;
	size_t i, r;

	if (s->nq == 1)
		cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)nr, m->dims, 1.0f,
			    m->m + r0 * (size_t)m->dims, m->dims, s->q, 1, 0.0f,
			    buf, 1);
	else
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)s->nq,
			    (int)nr, m->dims, 1.0f, s->q, m->dims,
			    m->m + r0 * (size_t)m->dims, m->dims, 0.0f, buf,
			    (int)nr);
	for (i = 0; i < s->nq; i++) {
		const float *b = buf + i * nr;
		struct topk *t = &s->tk[i];
		for (r = 0; r < nr; r++) {
			size_t row = r0 + r;
			double sc;
			if (s->mask && !s->mask[m->doc[row]])
				continue;
			sc = row_score(s->c->metric, b[r], m->sq[row],
				       s->qsq[i]);
			if (t->n < t->k || sc > t->c[0].score)
				heap_push(t, m->ids[row], sc);
		}
	}
}

/* Scores only the rows listed in rows (gathered into a block first). */
static int scan_rows(struct scan *s, const uint32_t *rows, size_t nrows,
		     float *buf)
{
	struct rag_matrix *m = s->c->mx;
	size_t d = (size_t)m->dims, i, j;
	float *g = malloc(BLOCK_ROWS * d * sizeof(float));

	if (!g)
		return -1;
	for (i = 0; i < nrows; i += BLOCK_ROWS) {
		size_t nr = nrows - i < BLOCK_ROWS ? nrows - i : BLOCK_ROWS;
		for (j = 0; j < nr; j++)
			memcpy(g + j * d, m->m + rows[i + j] * d,
			       d * sizeof(float));
		cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)nr, (int)d, 1.0f,
			    g, (int)d, s->q, 1, 0.0f, buf, 1);
		for (j = 0; j < nr; j++) {
			uint32_t row = rows[i + j];
			heap_push(&s->tk[0], m->ids[row],
				  row_score(s->c->metric, buf[j], m->sq[row],
					    s->qsq[0]));
		}
	}
	free(g);
	return 0;
}

static void scan_all(struct scan *s, float *buf)
{
	size_t r0, n = s->c->mx->n;
	size_t blk = s->nq == 1 ? BLOCK_ROWS_1 : BLOCK_ROWS;
	for (r0 = 0; r0 < n; r0 += blk)
		scan_block(s, r0, n - r0 < blk ? n - r0 : blk, buf);
}

/* A filtered query: evaluates the filter once per document, then scans
 * only passing rows (gathered when few pass, masked when most do). */
static int scan_filtered(struct scan *s, const struct rag_filter *f, float *buf)
{
	struct rag_matrix *m = s->c->mx;
	unsigned char *mask = calloc(m->ndocs + 1, 1);
	uint32_t *rows = NULL;
	size_t i, pass = 0;
	int rc = -1;

	if (!mask)
		return -1;
	for (i = 0; i < m->ndocs; i++)
		mask[i] = (unsigned char)rag_filter_match(f, m->docs[i].meta);
	for (i = 0; i < m->n; i++)
		pass += mask[m->doc[i]];
	if (pass * 2 > m->n) {
		s->mask = mask;
		scan_all(s, buf);
		s->mask = NULL;
		rc = 0;
		goto out;
	}
	rows = malloc((pass + 1) * sizeof(*rows));
	if (!rows)
		goto out;
	pass = 0;
	for (i = 0; i < m->n; i++)
		if (mask[m->doc[i]])
			rows[pass++] = (uint32_t)i;
	rc = scan_rows(s, rows, pass, buf);
out:
	free(rows);
	free(mask);
	return rc;
}

/* ---- int8 ---- */

static int q8_build(struct rag_matrix *m)
{
	size_t d = (size_t)m->dims, i, j;
	int8_t *nq;
	float *ns;

	if (m->q8n == m->n && m->q8)
		return 0;
	nq = realloc(m->q8, (m->n + 1) * d);
	ns = nq ? realloc(m->q8s, (m->n + 1) * sizeof(float)) : NULL;
	if (nq)
		m->q8 = nq;
	if (!nq || !ns)
		return -1;
	m->q8s = ns;
	for (i = m->q8n; i < m->n; i++) {
		const float *row = m->m + i * d;
		float mx = 0, inv;
		for (j = 0; j < d; j++)
			mx = fabsf(row[j]) > mx ? fabsf(row[j]) : mx;
		m->q8s[i] = mx > 0 ? mx / 127.0f : 1.0f;
		inv = 1.0f / m->q8s[i];
		for (j = 0; j < d; j++)
			m->q8[i * d + j] = (int8_t)lrintf(row[j] * inv);
	}
	m->q8n = m->n;
	return 0;
}

/* int8 pre-scan keeping k * INT8_OVERSAMPLE candidates, then exact
 * rescoring of those with the float rows. Unfiltered, one query. */
static int scan_int8(struct scan *s)
{
	struct rag_matrix *m = s->c->mx;
	size_t d = (size_t)m->dims, i, j, want = s->tk[0].k * INT8_OVERSAMPLE;
	struct topk pre = { 0 };
	int8_t *qq = malloc(d);
	float qmax = 0, qs;
	int rc = -1;

	pre.k = want;
	pre.c = malloc(want * sizeof(*pre.c));
	if (!qq || !pre.c || q8_build(m) < 0)
		goto out;
	for (j = 0; j < d; j++)
		qmax = fabsf(s->q[j]) > qmax ? fabsf(s->q[j]) : qmax;
	qs = qmax > 0 ? qmax / 127.0f : 1.0f;
	for (j = 0; j < d; j++)
		qq[j] = (int8_t)lrintf(s->q[j] / qs);
	for (i = 0; i < m->n; i++) {
		const int8_t *r = m->q8 + i * d;
		int32_t acc = 0;
		for (j = 0; j < d; j++)
			acc += (int32_t)r[j] * qq[j];
		heap_push(&pre, (int64_t)i,
			  row_score(s->c->metric, (float)acc * m->q8s[i] * qs,
				    m->sq[i], s->qsq[0]));
	}
	for (i = 0; i < pre.n; i++) {
		size_t row = (size_t)pre.c[i].chunk_id;
		float dot = cblas_sdot((int)d, m->m + row * d, 1, s->q, 1);
		heap_push(&s->tk[0], m->ids[row],
			  row_score(s->c->metric, dot, m->sq[row], s->qsq[0]));
	}
	rc = 0;
out:
	free(qq);
	free(pre.c);
	return rc;
}

/* ---- entry point ---- */

/* Prepares the queries: a normalised copy for cosine, norms for L2. */
static float *prep_queries(struct rag_coll *c, const float *q, size_t nq,
			   float *qsq)
{
	size_t d = (size_t)c->dims, i, j;
	float *qc = malloc(nq * d * sizeof(float));
	if (!qc)
		return NULL;
	memcpy(qc, q, nq * d * sizeof(float));
	for (i = 0; i < nq; i++) {
		double s = 0;
		for (j = 0; j < d; j++)
			s += (double)qc[i * d + j] * qc[i * d + j];
		if (c->metric == RAG_METRIC_COSINE && s > 0) {
			float inv = (float)(1.0 / sqrt(s));
			for (j = 0; j < d; j++)
				qc[i * d + j] *= inv;
			s = 1.0;
		}
		qsq[i] = (float)s;
	}
	return qc;
}

/* Runs the unfiltered queries together and the filtered ones alone. */
static int run_scans(struct scan *all, const struct rag_filter *const *f,
		     int int8, float *buf)
{
	size_t d = (size_t)all->c->dims, i, nplain = 0;

	for (i = 0; i < all->nq; i++)
		nplain += !(f && f[i]);
	if (nplain == all->nq && !int8) {
		scan_all(all, buf);
		return 0;
	}
	for (i = 0; i < all->nq; i++) {
		struct scan one = *all;
		one.q = all->q + i * d;
		one.qsq = all->qsq + i;
		one.tk = all->tk + i;
		one.nq = 1;
		if (f && f[i]) {
			if (scan_filtered(&one, f[i], buf) < 0)
				return -1;
		} else if (int8) {
			if (scan_int8(&one) < 0)
				return -1;
		} else {
			scan_all(&one, buf);
		}
	}
	return 0;
}

int rag_mx_topk(struct rag_coll *c, const float *q, size_t nq, size_t k,
		const struct rag_filter *const *f, int int8,
		struct rag_cand **cands, size_t *ncand, char *err,
		size_t errlen)
{
	struct scan s = { 0 };
	float *buf = NULL, *qc = NULL;
	size_t i;
	int rc = -1;

	s.c = c;
	s.nq = nq;
	s.qsq = calloc(nq, sizeof(float));
	s.tk = calloc(nq, sizeof(*s.tk));
	buf = malloc((nq == 1 ? BLOCK_ROWS_1 : nq * BLOCK_ROWS) *
		     sizeof(float));
	if (!s.qsq || !s.tk || !buf)
		goto oom;
	qc = prep_queries(c, q, nq, s.qsq);
	if (!qc)
		goto oom;
	s.q = qc;
	for (i = 0; i < nq; i++) {
		s.tk[i].k = k;
		s.tk[i].c = malloc(k * sizeof(struct rag_cand));
		if (!s.tk[i].c)
			goto oom;
	}
	if (run_scans(&s, f, int8, buf) < 0)
		goto oom;
	for (i = 0; i < nq; i++) {
		size_t j;
		qsort(s.tk[i].c, s.tk[i].n, sizeof(struct rag_cand), cand_cmp);
		if (c->metric == RAG_METRIC_L2)
			for (j = 0; j < s.tk[i].n; j++)
				s.tk[i].c[j].score = -s.tk[i].c[j].score;
		cands[i] = s.tk[i].c;
		ncand[i] = s.tk[i].n;
		s.tk[i].c = NULL;
	}
	rc = 0;
	goto out;
oom:
	rag_errf(err, errlen, "out of memory scanning \"%s\"", c->name);
out:
	for (i = 0; s.tk && i < nq; i++)
		free(s.tk[i].c);
	free(s.tk);
	free(s.qsq);
	free(qc);
	free(buf);
	return rc;
}
