/* Vector search benchmark: zonegate's store against sqlite-vec (vec0
 * loaded into SQLite) on the same random vectors and queries, exact top-k
 * by L2: single-query latency (p50, p95), batched throughput, resident
 * memory, plus the machine's measured memory-bandwidth floor for a full
 * scan. Each engine and size runs in its own child process so that memory
 * figures do not mix.
 * usage: rag_bench VEC0_SO DIR [N...]   (defaults: 10000 100000 1000000) */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "zg_common.h"
#include "zonegate/rag.h"

#define DIMS 384
#define K 10
#define NQ 200 /* queries per size (64 from 500k vectors up) */
#define NQ_LARGE 64
#define BATCH 64

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t rng_state;
static float frand(void)
{
	rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
	return (float)((rng_state >> 40) & 0xffffff) / 8388608.0f - 1.0f;
}

static float *gen(size_t n, uint64_t seed)
{
	float *v = malloc(n * DIMS * sizeof(float));
	size_t i;
	rng_state = seed;
	for (i = 0; v && i < n * DIMS; i++)
		v[i] = frand();
	return v;
}

static long rss_kb(void)
{
	FILE *fp = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;
	while (fp && fgets(line, sizeof(line), fp))
		if (strncmp(line, "VmRSS:", 6) == 0)
			kb = strtol(line + 6, NULL, 10);
	if (fp)
		fclose(fp);
	return kb;
}

static int dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

struct result {
	double build_s, load_s, p50_ms, p95_ms, single_qps, batch_qps;
	long rss_mb;
	int ok;
};

static void lat_stats(double *lat, size_t n, struct result *r)
{
	double sum = 0;
	size_t i;
	for (i = 0; i < n; i++)
		sum += lat[i];
	qsort(lat, n, sizeof(double), dcmp);
	r->p50_ms = lat[n / 2] * 1e3;
	r->p95_ms = lat[n * 95 / 100] * 1e3;
	r->single_qps = (double)n / sum;
}

/* ---- zonegate ---- */

static size_t nq_for(size_t n)
{
	return n >= 500000 ? NQ_LARGE : NQ;
}

static int run_zonegate(const char *dir, size_t n, struct result *r)
{
	size_t nq = nq_for(n);
	char path[4096], err[512];
	float *v = gen(n, 42), *q = gen(NQ, 7);
	struct rag_results res[BATCH];
	double lat[NQ], t;
	rag_db *db;
	size_t i;

	snprintf(path, sizeof(path), "%s/zg-%zu.db", dir, n);
	unlink(path);
	db = rag_open(path, 0, err, sizeof(err));
	if (!db || !v || !q ||
	    rag_collection_raw(db, "bench", DIMS, RAG_METRIC_L2, err,
			       sizeof(err)) < 0)
		goto fail;
	t = now();
	if (rag_add_vectors(db, "bench", "random", v, n, err, sizeof(err)) < 0)
		goto fail;
	r->build_s = now() - t;
	free(v);
	v = NULL;
	rag_close(db);
	/* A fresh handle, as a server would open it. */
	db = rag_open(path, RAG_OPEN_READONLY, err, sizeof(err));
	t = now();
	if (!db ||
	    rag_search_vectors(db, "bench", q, 1, K, res, err, sizeof(err)) < 0)
		goto fail;
	r->load_s = now() - t;
	rag_results_free(&res[0]);
	for (i = 0; i < nq; i++) {
		t = now();
		rag_search_vectors(db, "bench", q + i * DIMS, 1, K, res, err,
				   sizeof(err));
		lat[i] = now() - t;
		rag_results_free(&res[0]);
	}
	lat_stats(lat, nq, r);
	t = now();
	for (i = 0; i + BATCH <= nq; i += BATCH) {
		size_t j;
		rag_search_vectors(db, "bench", q + i * DIMS, BATCH, K, res,
				   err, sizeof(err));
		for (j = 0; j < BATCH; j++)
			rag_results_free(&res[j]);
	}
	r->batch_qps = (double)(nq / BATCH * BATCH) / (now() - t);
	r->rss_mb = rss_kb() / 1024;
	r->ok = 1;
	rag_close(db);
	free(q);
	return 0;
fail:
	fprintf(stderr, "zonegate: %s\n", err);
	free(v);
	free(q);
	return -1;
}

/* ---- sqlite-vec ---- */

static int vec_open(const char *so, const char *path, sqlite3 **db)
{
	char *msg = NULL;
	if (sqlite3_open(path, db) != SQLITE_OK)
		return -1;
	sqlite3_enable_load_extension(*db, 1);
	if (sqlite3_load_extension(*db, so, "sqlite3_vec_init", &msg) !=
	    SQLITE_OK) {
		fprintf(stderr, "sqlite-vec: %s\n", msg ? msg : "load failed");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int vec_build(sqlite3 *db, const float *v, size_t n)
{
	sqlite3_stmt *st;
	size_t i;
	sqlite3_exec(db,
		     "PRAGMA journal_mode=WAL; CREATE VIRTUAL TABLE v USING"
		     " vec0(embedding float[384]); BEGIN",
		     NULL, NULL, NULL);
	if (sqlite3_prepare_v2(db,
			       "INSERT INTO v(rowid, embedding) VALUES (?, ?)",
			       -1, &st, NULL) != SQLITE_OK)
		return -1;
	for (i = 0; i < n; i++) {
		sqlite3_bind_int64(st, 1, (sqlite3_int64)i + 1);
		sqlite3_bind_blob(st, 2, v + i * DIMS, DIMS * sizeof(float),
				  SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE) {
			fprintf(stderr, "sqlite-vec insert: %s\n",
				sqlite3_errmsg(db));
			sqlite3_finalize(st);
			return -1;
		}
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? 0
									 : -1;
}

static int vec_query(sqlite3_stmt *st, const float *q)
{
	int rows = 0;
	sqlite3_bind_blob(st, 1, q, DIMS * sizeof(float), SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW)
		rows++;
	sqlite3_reset(st);
	return rows;
}

static int run_sqlitevec(const char *so, const char *dir, size_t n,
			 struct result *r)
{
	size_t nq = nq_for(n);
	char path[4096];
	float *v = gen(n, 42), *q = gen(NQ, 7);
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	double lat[NQ], t;
	size_t i;

	snprintf(path, sizeof(path), "%s/vec-%zu.db", dir, n);
	unlink(path);
	if (!v || !q || vec_open(so, path, &db) < 0)
		goto fail;
	t = now();
	if (vec_build(db, v, n) < 0)
		goto fail;
	r->build_s = now() - t;
	free(v);
	v = NULL;
	sqlite3_close(db);
	db = NULL;
	if (vec_open(so, path, &db) < 0 ||
	    sqlite3_prepare_v2(db,
			       "SELECT rowid, distance FROM v WHERE embedding"
			       " MATCH ? AND k = 10",
			       -1, &st, NULL) != SQLITE_OK)
		goto fail;
	t = now();
	if (vec_query(st, q) != K)
		goto fail;
	r->load_s = now() - t;
	for (i = 0; i < nq; i++) {
		t = now();
		vec_query(st, q + i * DIMS);
		lat[i] = now() - t;
	}
	lat_stats(lat, nq, r);
	r->batch_qps = r->single_qps; /* no batch interface: one at a time */
	r->rss_mb = rss_kb() / 1024;
	r->ok = 1;
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(q);
	return 0;
fail:
	if (db)
		fprintf(stderr, "sqlite-vec: %s\n", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(v);
	free(q);
	return -1;
}

/* ---- memory bandwidth ---- */

struct bw_arg {
	const uint64_t *p;
	size_t n;
	uint64_t sum;
};

static void *bw_thread(void *ud)
{
	struct bw_arg *a = ud;
	uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	size_t i;
	for (i = 0; i + 4 <= a->n; i += 4) {
		s0 += a->p[i];
		s1 += a->p[i + 1];
		s2 += a->p[i + 2];
		s3 += a->p[i + 3];
	}
	a->sum = s0 + s1 + s2 + s3;
	return NULL;
}

/* Best of 5 two-thread read passes over bytes of memory, in GB/s. */
static double measure_bw(size_t bytes)
{
	uint64_t *buf = malloc(bytes);
	size_t n = bytes / 8, i;
	double best = 0;
	int pass;
	if (!buf)
		return 0;
	for (i = 0; i < n; i++)
		buf[i] = i;
	for (pass = 0; pass < 5; pass++) {
		struct bw_arg a[2] = { { buf, n / 2, 0 },
				       { buf + n / 2, n - n / 2, 0 } };
		pthread_t t;
		double t0 = now(), gbs;
		pthread_create(&t, NULL, bw_thread, &a[1]);
		bw_thread(&a[0]);
		pthread_join(t, NULL);
		gbs = (double)bytes / (now() - t0) / 1e9;
		if (a[0].sum + a[1].sum == 42)
			puts("");
		best = gbs > best ? gbs : best;
	}
	free(buf);
	return best;
}

/* ---- driver ---- */

static int in_child(int (*fn)(const char *, const char *, size_t,
			      struct result *),
		    const char *so, const char *dir, size_t n, struct result *r)
{
	int fd[2];
	pid_t pid;
	if (pipe(fd) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		struct result cr = { 0 };
		close(fd[0]);
		fn(so, dir, n, &cr);
		if (write(fd[1], &cr, sizeof(cr)) != (ssize_t)sizeof(cr))
			_exit(1);
		_exit(0);
	}
	close(fd[1]);
	memset(r, 0, sizeof(*r));
	if (read(fd[0], r, sizeof(*r)) != (ssize_t)sizeof(*r))
		r->ok = 0;
	close(fd[0]);
	waitpid(pid, NULL, 0);
	return r->ok ? 0 : -1;
}

static int zg_entry(const char *so, const char *dir, size_t n, struct result *r)
{
	(void)so;
	return run_zonegate(dir, n, r);
}

static int vec_entry(const char *so, const char *dir, size_t n,
		     struct result *r)
{
	return run_sqlitevec(so, dir, n, r);
}

static void row(const char *eng, size_t n, const struct result *r)
{
	printf("| %-10s | %8zu | %8.2f | %8.2f | %8.1f | %9.1f | %7ld | %7.1f | %6.2f |\n",
	       eng, n, r->p50_ms, r->p95_ms, r->single_qps, r->batch_qps,
	       r->rss_mb, r->build_s, r->load_s);
}

int main(int argc, char **argv)
{
	size_t sizes[8] = { 10000, 100000, 1000000 }, nsizes = 3, i;
	struct result zg[8], vec[8];
	double bw;

	if (argc < 3) {
		fprintf(stderr, "usage: rag_bench VEC0_SO DIR [N...]\n");
		return 2;
	}
	if (argc > 3) {
		nsizes = 0;
		for (i = 3; i < (size_t)argc && nsizes < 8; i++) {
			long long v;
			if (zg_parse_int(argv[i], 100, 20000000, &v) != 0) {
				fprintf(stderr, "bad size %s\n", argv[i]);
				return 2;
			}
			sizes[nsizes++] = (size_t)v;
		}
	}
	bw = measure_bw((size_t)1 << 30);
	{
		double la[3] = { 0, 0, 0 };
		getloadavg(la, 3);
		printf("dims %d, k %d, L2, %d queries (%d from 500k), batch %d; memory read"
		       " bandwidth %.1f GB/s (2 threads); load average %.2f\n\n",
		       DIMS, K, NQ, NQ_LARGE, BATCH, bw, la[0]);
	}
	printf("| engine     |  vectors |  p50 ms  |  p95 ms  | 1-q q/s  | batch q/s |  RSS MB | build s | load s |\n");
	printf("|------------|----------|----------|----------|----------|-----------|---------|---------|--------|\n");
	for (i = 0; i < nsizes; i++) {
		in_child(zg_entry, argv[1], argv[2], sizes[i], &zg[i]);
		row("zonegate", sizes[i], &zg[i]);
		in_child(vec_entry, argv[1], argv[2], sizes[i], &vec[i]);
		row("sqlite-vec", sizes[i], &vec[i]);
		fflush(stdout);
	}
	printf("\n");
	for (i = 0; i < nsizes; i++) {
		double floor_ms =
			(double)sizes[i] * DIMS * 4 / (bw * 1e9) * 1e3;
		if (!zg[i].ok)
			continue;
		printf("%zu: zonegate p50 %.2f ms vs sqlite-vec %.2f ms = %.1fx faster;"
		       " batched %.1fx single throughput; scan floor %.2f ms,"
		       " p50 = %.2fx floor\n",
		       sizes[i], zg[i].p50_ms, vec[i].p50_ms,
		       vec[i].ok ? vec[i].p50_ms / zg[i].p50_ms : 0.0,
		       zg[i].batch_qps / zg[i].single_qps, floor_ms,
		       zg[i].p50_ms / floor_ms);
	}
	return 0;
}
