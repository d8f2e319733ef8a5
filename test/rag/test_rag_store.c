/* Unit tests of the store through its public API: schema and migration,
 * ingest (idempotent, replace), every search mode and metric, filters
 * that still return k, embedder mismatch refusal, another handle's writes
 * becoming visible, concurrent readers and writers, batches, int8. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "zonegate/rag.h"
#include "zgtest.h"

static char dbpath[256];
static char err[512];

/* Removes the current test's database with its WAL and shared-memory
 * files (nothing when none was made yet). */
static void drop_db(void)
{
	char p[300];

	if (!dbpath[0])
		return;
	unlink(dbpath);
	snprintf(p, sizeof(p), "%s-wal", dbpath);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", dbpath);
	unlink(p);
}

/* A fresh database path for one test; the previous test's files go. */
static void fresh(const char *name)
{
	drop_db();
	snprintf(dbpath, sizeof(dbpath), "%s/zg-rag-%d-%s.db",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid(),
		 name);
	drop_db();
}

static int sql_int(const char *sql)
{
	sqlite3 *s;
	sqlite3_stmt *st;
	int v = -1;
	sqlite3_open(dbpath, &s);
	if (sqlite3_prepare_v2(s, sql, -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			v = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close(s);
	return v;
}

static void sql_exec(const char *sql)
{
	sqlite3 *s;
	sqlite3_open(dbpath, &s);
	sqlite3_exec(s, sql, NULL, NULL, NULL);
	sqlite3_close(s);
}

static int add(rag_db *db, const char *coll, const char *src, const char *text,
	       const char *meta)
{
	struct rag_ingest_result r;
	if (rag_ingest_text(db, coll, src, text, strlen(text), meta, NULL, &r,
			    err, sizeof(err)) < 0) {
		fprintf(stderr, "ingest %s: %s\n", src, err);
		return -1;
	}
	return r.added;
}

static const char *const corpus[][2] = {
	{ "ns.txt",
	  "Linux namespaces wrap a global system resource so processes"
	  " inside see their own isolated instance: PID, mount, network,"
	  " UTS, IPC, user and cgroup namespaces." },
	{ "cg.txt",
	  "Control groups (cgroups) organise processes hierarchically and"
	  " limit memory, CPU and I/O. The memory controller enforces limits." },
	{ "sc.txt",
	  "Seccomp filters restrict the system calls a process may make,"
	  " using BPF programs that return allow, errno or kill." },
	{ "cap.txt", "Capabilities divide root privilege into units such as"
		     " CAP_SYS_ADMIN, CAP_NET_ADMIN and CAP_SYS_PTRACE." },
	{ "vm.txt",
	  "Virtual machines run a separate kernel under a hypervisor such"
	  " as Xen, giving stronger isolation than containers." },
};

static rag_db *seeded(const char *name)
{
	rag_db *db;
	size_t i;
	fresh(name);
	db = rag_open(dbpath, 0, err, sizeof(err));
	CHECK(db != NULL);
	CHECK_EQ_INT(rag_collection_ensure(db, NULL, NULL, err, sizeof(err)),
		     0);
	for (i = 0; i < 5; i++) {
		char meta[64];
		snprintf(meta, sizeof(meta), "{\"i\":%zu,\"odd\":%s}", i,
			 i % 2 ? "true" : "false");
		CHECK_EQ_INT(add(db, NULL, corpus[i][0], corpus[i][1], meta),
			     1);
	}
	return db;
}

static const char *top(rag_db *db, enum rag_mode mode, const char *text,
		       const char *where)
{
	static char src[64];
	struct rag_query q = { 0 };
	struct rag_results r;
	q.text = text;
	q.k = 3;
	q.mode = mode;
	q.where_json = where;
	if (rag_search(db, &q, &r, err, sizeof(err)) < 0) {
		fprintf(stderr, "search: %s\n", err);
		return "(error)";
	}
	snprintf(src, sizeof(src), "%s", r.n ? r.hits[0].source : "(none)");
	rag_results_free(&r);
	return src;
}

static void test_schema(void)
{
	rag_db *db;
	fresh("schema");
	db = rag_open(dbpath, 0, err, sizeof(err));
	CHECK(db != NULL);
	rag_close(db);
	CHECK_EQ_INT(sql_int("PRAGMA user_version"), rag_schema_version());
	CHECK_EQ_INT(
		sql_int("SELECT count(*) FROM sqlite_master WHERE name IN"
			" ('collections','documents','chunks','vectors','chunks_fts')"),
		5);
	CHECK_EQ_INT(sql_int("PRAGMA journal_mode = wal") == -1, 0);
	/* A version-1 file (no q8 column) is migrated on open. */
	fresh("migrate");
	sql_exec(
		"CREATE TABLE collections(id INTEGER PRIMARY KEY, name TEXT NOT NULL"
		" UNIQUE, embedder TEXT NOT NULL, dims INTEGER NOT NULL, metric TEXT NOT"
		" NULL, checksum TEXT NOT NULL, config TEXT NOT NULL, generation INTEGER"
		" NOT NULL DEFAULT 0, created INTEGER NOT NULL);"
		"CREATE TABLE documents(id INTEGER PRIMARY KEY AUTOINCREMENT,"
		" collection_id INTEGER NOT NULL, source TEXT NOT NULL, hash TEXT NOT NULL,"
		" metadata TEXT NOT NULL DEFAULT '{}', bytes INTEGER NOT NULL, created"
		" INTEGER NOT NULL, updated INTEGER NOT NULL, UNIQUE(collection_id, source));"
		"CREATE TABLE chunks(id INTEGER PRIMARY KEY AUTOINCREMENT, doc_id INTEGER"
		" NOT NULL, seq INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT"
		" NULL, text TEXT NOT NULL);"
		"CREATE TABLE vectors(chunk_id INTEGER PRIMARY KEY, vec BLOB NOT NULL);"
		"CREATE VIRTUAL TABLE chunks_fts USING fts5(text, content='chunks',"
		" content_rowid='id');"
		"PRAGMA user_version = 1;");
	db = rag_open(dbpath, 0, err, sizeof(err));
	CHECK(db != NULL);
	rag_close(db);
	CHECK_EQ_INT(sql_int("PRAGMA user_version"), 2);
	CHECK_EQ_INT(sql_int("SELECT count(*) FROM pragma_table_info('vectors')"
			     " WHERE name = 'q8'"),
		     1);
	/* A file from the future is refused, read-only too. */
	sql_exec("PRAGMA user_version = 99");
	db = rag_open(dbpath, 0, err, sizeof(err));
	CHECK(db == NULL && strstr(err, "newer") != NULL);
	db = rag_open("/nonexistent/dir/x.db", 0, err, sizeof(err));
	CHECK(db == NULL);
}

static void test_idempotent(void)
{
	rag_db *db = seeded("idem");
	CHECK_EQ_INT(add(db, NULL, "ns.txt", corpus[0][1], "{\"i\":0}"), 0);
	CHECK_EQ_INT(sql_int("SELECT count(*) FROM documents"), 5);
	CHECK_EQ_INT(add(db, NULL, "ns.txt", "Changed text about pivot_root.",
			 NULL),
		     1);
	CHECK_EQ_INT(sql_int("SELECT count(*) FROM documents"), 5);
	CHECK_STR(top(db, RAG_MODE_BM25, "pivot_root", NULL), "ns.txt");
	CHECK_STR(top(db, RAG_MODE_BM25, "hierarchically", NULL), "cg.txt");
	CHECK_EQ_INT(sql_int("SELECT count(*) FROM chunks"),
		     sql_int("SELECT count(*) FROM vectors"));
	CHECK_EQ_INT(add(db, NULL, "empty.txt", "", NULL), 1);
	rag_close(db);
}

static void test_modes(void)
{
	rag_db *db = seeded("modes");
	CHECK_STR(top(db, RAG_MODE_VECTOR, "memory limits of control groups",
		      NULL),
		  "cg.txt");
	CHECK_STR(top(db, RAG_MODE_BM25, "seccomp BPF", NULL), "sc.txt");
	CHECK_STR(top(db, RAG_MODE_HYBRID, "hypervisor kernel isolation", NULL),
		  "vm.txt");
	CHECK_STR(top(db, RAG_MODE_HYBRID, "CAP_SYS_ADMIN", NULL), "cap.txt");
	CHECK_STR(top(db, RAG_MODE_BM25, "zzzunknownword", NULL), "(none)");
	CHECK_STR(top(db, RAG_MODE_BM25, "!!! ???", NULL), "(none)");
	CHECK_STR(top(db, RAG_MODE_VECTOR, "", NULL),
		  "ns.txt"); /* zero vector still answers */
	/* filters apply in every mode */
	CHECK_STR(top(db, RAG_MODE_VECTOR, "memory limits", "{\"odd\":true}"),
		  "cg.txt");
	CHECK_STR(top(db, RAG_MODE_VECTOR, "memory limits", "{\"odd\":false}"),
		  top(db, RAG_MODE_VECTOR, "memory limits",
		      "{\"i\":{\"$in\":[0,2,4]}}"));
	CHECK_STR(top(db, RAG_MODE_BM25, "seccomp", "{\"i\":{\"$ne\":2}}"),
		  "(none)");
	CHECK_STR(top(db, RAG_MODE_HYBRID, "seccomp", "{\"i\":{\"$lt\":2}}"),
		  top(db, RAG_MODE_HYBRID, "seccomp", "{\"i\":{\"$lte\":1}}"));
	rag_close(db);
}

/* Score of src for text in mode (with filter where), or -1 if absent. */
static double score_in(rag_db *db, enum rag_mode mode, const char *text,
		       const char *where, const char *src)
{
	struct rag_query q = { 0 };
	struct rag_results r;
	double sc = -1;
	size_t i;

	q.text = text;
	q.k = 5;
	q.mode = mode;
	q.where_json = where;
	if (rag_search(db, &q, &r, err, sizeof(err)) < 0)
		return -2;
	for (i = 0; i < r.n; i++)
		if (strcmp(r.hits[i].source, src) == 0)
			sc = r.hits[i].score;
	rag_results_free(&r);
	return sc;
}

static double hybrid_score(rag_db *db, const char *text, const char *where,
			   const char *src)
{
	return score_in(db, RAG_MODE_HYBRID, text, where, src);
}

/* Hybrid scores mean the same across queries: each list's score goes
 * through a fixed transform, not a min-max over whatever else matched.
 * With min-max, the only BM25 match scored 0 for BM25 (max = min), and a
 * document's score moved when a filter removed its competitors. */
static void test_hybrid_scores(void)
{
	rag_db *db = seeded("hybrid");
	double alone, with_others;

	/* Only vm.txt holds "Xen" and "hypervisor" (two rare words): it comes
	 * first, and its BM25 part, (hybrid - 0.3 cosine) / 0.7, is at least
	 * half (s / (s + 2) with s >= 2), where min-max made it 0. */
	CHECK_STR(top(db, RAG_MODE_HYBRID, "Xen hypervisor", NULL), "vm.txt");
	alone = hybrid_score(db, "Xen hypervisor", NULL, "vm.txt");
	with_others =
		score_in(db, RAG_MODE_VECTOR, "Xen hypervisor", NULL, "vm.txt");
	CHECK(with_others > 0 && (alone - 0.3 * with_others) / 0.7 >= 0.5);
	CHECK(score_in(db, RAG_MODE_BM25, "Xen hypervisor", NULL, "vm.txt") >=
	      2.0);
	/* Both sc.txt and cg.txt match; each keeps its score when a filter
	 * leaves it alone in both lists (up to float32 rounding: a filtered
	 * scan multiplies a gathered block instead of the whole matrix). */
	with_others = hybrid_score(db, "seccomp memory", NULL, "sc.txt");
	alone = hybrid_score(db, "seccomp memory", "{\"i\":2}", "sc.txt");
	CHECK(with_others > 0 && fabs(alone - with_others) < 1e-6);
	with_others = hybrid_score(db, "seccomp memory", NULL, "cg.txt");
	alone = hybrid_score(db, "seccomp memory", "{\"i\":1}", "cg.txt");
	CHECK(with_others > 0 && fabs(alone - with_others) < 1e-6);
	/* Scores stay in 0..1. */
	CHECK(hybrid_score(db, "seccomp seccomp BPF BPF filters", NULL,
			   "sc.txt") <= 1.0);
	rag_close(db);
}

/* 200 documents, 3 tagged rare: a filtered k=3 query returns exactly the 3
 * tagged ones, however far down the unfiltered ranking they are. */
static void test_filter_returns_k(void)
{
	struct rag_query q = { 0 };
	struct rag_results r;
	rag_db *db;
	int i;

	fresh("filterk");
	db = rag_open(dbpath, 0, err, sizeof(err));
	rag_collection_ensure(db, "c", NULL, err, sizeof(err));
	for (i = 0; i < 200; i++) {
		char src[32], text[128], meta[64];
		snprintf(src, sizeof(src), "d%d", i);
		snprintf(text, sizeof(text), "document %d about %s", i,
			 i % 50 == 7 ? "gardening tomatoes"
				     : "kernel namespaces");
		snprintf(meta, sizeof(meta), "{\"tag\":\"%s\",\"n\":%d}",
			 i % 70 == 3 ? "rare" : "common", i);
		add(db, "c", src, text, meta);
	}
	q.collection = "c";
	q.text = "kernel namespaces";
	q.k = 5;
	q.mode = RAG_MODE_VECTOR;
	q.where_json = "{\"tag\":\"rare\"}";
	CHECK_EQ_INT(rag_search(db, &q, &r, err, sizeof(err)), 0);
	CHECK_EQ_INT(r.n, 3);
	for (i = 0; i < (int)r.n; i++)
		CHECK_STR(json_string_value(
				  json_object_get(r.hits[i].metadata, "tag")),
			  "rare");
	rag_results_free(&r);
	q.where_json = "{\"n\":{\"$gte\":10}}"; /* most pass: masked scan */
	q.k = 190;
	CHECK_EQ_INT(rag_search(db, &q, &r, err, sizeof(err)), 0);
	CHECK_EQ_INT(r.n, 190);
	rag_results_free(&r);
	q.mode = RAG_MODE_HYBRID;
	q.k = 10;
	q.where_json = "{\"$or\":[{\"n\":1},{\"n\":2}]}";
	CHECK_EQ_INT(rag_search(db, &q, &r, err, sizeof(err)), 0);
	CHECK_EQ_INT(r.n, 2);
	rag_results_free(&r);
	rag_close(db);
}

static void test_mismatch(void)
{
	struct rag_embedder_opts eo = { 0 };
	struct rag_query q = { 0 };
	struct rag_results r;
	rag_db *db = seeded("mismatch");

	eo.embedder = "glove";
	CHECK_EQ_INT(rag_collection_ensure(db, NULL, &eo, err, sizeof(err)),
		     -1);
	CHECK(strstr(err, "refusing") != NULL);
	q.text = "x";
	q.k = 1;
	q.mode = RAG_MODE_VECTOR;
	q.embedder = "openai";
	CHECK_EQ_INT(rag_search(db, &q, &r, err, sizeof(err)), -1);
	CHECK(strstr(err, "refusing") != NULL);
	eo.embedder = "nonsense";
	CHECK_EQ_INT(rag_collection_ensure(db, "other", &eo, err, sizeof(err)),
		     -1);
	CHECK(strstr(err, "unknown embedder") != NULL);
	rag_close(db);
	/* The model behind a collection changed: refused, not mixed. */
	sql_exec("UPDATE collections SET checksum = 'deadbeef'");
	db = rag_open(dbpath, 0, err, sizeof(err));
	q.embedder = NULL;
	CHECK_EQ_INT(rag_search(db, &q, &r, err, sizeof(err)), -1);
	CHECK(strstr(err, "refusing") != NULL);
	CHECK_EQ_INT(add(db, NULL, "new.txt", "text", NULL), -1);
	rag_close(db);
}

static void test_bad_input(void)
{
	struct rag_query q = { 0 };
	struct rag_results r;
	rag_db *db = seeded("bad");
	char *big = malloc(RAG_MAX_QUERY + 2);
	int64_t n;

	q.text = "x";
	q.mode = RAG_MODE_HYBRID;
	q.k = 0;
	CHECK_EQ_INT(rag_search(db, &q, &r, err, sizeof(err)), -1);
	q.k = RAG_MAX_K + 1;
	CHECK_EQ_INT(rag_search(db, &q, &r, err, sizeof(err)), -1);
	q.k = 1;
	memset(big, 'a', RAG_MAX_QUERY + 1);
	big[RAG_MAX_QUERY + 1] = '\0';
	q.text = big;
	CHECK_EQ_INT(rag_search(db, &q, &r, err, sizeof(err)), -1);
	q.text = "x";
	q.where_json = "{\"a\":";
	CHECK_EQ_INT(rag_search(db, &q, &r, err, sizeof(err)), -1);
	q.where_json = NULL;
	q.collection = "no-such";
	CHECK_EQ_INT(rag_search(db, &q, &r, err, sizeof(err)), -1);
	CHECK(strstr(err, "no collection") != NULL);
	q.collection = "bad name!";
	CHECK_EQ_INT(rag_search(db, &q, &r, err, sizeof(err)), -1);
	CHECK_EQ_INT(add(db, NULL, "", "x", NULL), -1);
	CHECK_EQ_INT(add(db, NULL, "m.txt", "x", "[1]"), -1);
	CHECK_EQ_INT(rag_delete(db, NULL, NULL, NULL, &n, err, sizeof(err)),
		     -1);
	free(big);
	rag_close(db);
}

static void test_delete_compact(void)
{
	rag_db *db = seeded("delete");
	int64_t n = 0;
	CHECK_EQ_INT(rag_delete(db, NULL, "sc.txt", NULL, &n, err, sizeof(err)),
		     0);
	CHECK_EQ_INT(n, 1);
	CHECK_STR(top(db, RAG_MODE_BM25, "seccomp", NULL), "(none)");
	CHECK_EQ_INT(rag_delete(db, NULL, NULL, "{\"odd\":true}", &n, err,
				sizeof(err)),
		     0);
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_INT(sql_int("SELECT count(*) FROM documents"), 2);
	CHECK_EQ_INT(sql_int("SELECT count(*) FROM chunks"),
		     sql_int("SELECT count(*) FROM vectors"));
	CHECK_EQ_INT(rag_compact(db, err, sizeof(err)), 0);
	CHECK_EQ_INT(sql_int("PRAGMA freelist_count"), 0);
	CHECK_STR(top(db, RAG_MODE_VECTOR, "hypervisor", NULL), "vm.txt");
	rag_close(db);
	CHECK_EQ_INT(
		sql_int("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH 'seccomp'"),
		0);
}

/* A second handle sees the first one's ingest and delete. */
static void test_other_writer(void)
{
	rag_db *a = seeded("version"),
	       *b = rag_open(dbpath, RAG_OPEN_READONLY, err, sizeof(err));
	int64_t n;
	CHECK(b != NULL);
	add(a, NULL, "aa.txt",
	    "AppArmor profiles confine programs to listed files.", NULL);
	CHECK_STR(top(b, RAG_MODE_VECTOR, "apparmor profiles confine programs",
		      NULL),
		  "aa.txt");
	CHECK_STR(top(b, RAG_MODE_HYBRID, "apparmor profiles confine programs",
		      NULL),
		  "aa.txt");
	rag_delete(a, NULL, "aa.txt", NULL, &n, err, sizeof(err));
	CHECK(strcmp(top(b, RAG_MODE_VECTOR,
			 "apparmor profiles confine programs", NULL),
		     "aa.txt") != 0);
	rag_close(a);
	rag_close(b);
}

struct reader {
	int errors, done, searches;
};

static void *reader_main(void *ud)
{
	struct reader *rd = ud;
	char e[256];
	rag_db *db = rag_open(dbpath, RAG_OPEN_READONLY, e, sizeof(e));
	size_t last = 0;
	if (!db) {
		rd->errors++;
		return NULL;
	}
	while (!__atomic_load_n(&rd->done, __ATOMIC_ACQUIRE)) {
		struct rag_query q = { 0 };
		struct rag_results r;
		q.text = "namespace isolation";
		q.k = 1000;
		q.mode = RAG_MODE_VECTOR;
		if (rag_search(db, &q, &r, e, sizeof(e)) < 0) {
			rd->errors++;
			break;
		}
		if (r.n < last) /* never goes backwards while only adding */
			rd->errors++;
		last = r.n;
		rd->searches++;
		rag_results_free(&r);
	}
	rag_close(db);
	return NULL;
}

static void test_concurrent_reader(void)
{
	struct reader rd = { 0 };
	pthread_t t;
	rag_db *db = seeded("concurrent");
	int i;

	pthread_create(&t, NULL, reader_main, &rd);
	for (i = 0; i < 150; i++) {
		char src[32], text[96];
		snprintf(src, sizeof(src), "n%d", i);
		snprintf(text, sizeof(text),
			 "Note %d on namespace isolation and"
			 " mount propagation.",
			 i);
		add(db, NULL, src, text, NULL);
	}
	usleep(20000);
	__atomic_store_n(&rd.done, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	CHECK_EQ_INT(rd.errors, 0);
	CHECK(rd.searches > 0);
	rag_close(db);
}

/* Several threads on one handle: combined scans give each its own answer. */
struct qthread {
	rag_db *db;
	const char *text, *want;
	int bad;
};

static void *qthread_main(void *ud)
{
	struct qthread *t = ud;
	int i;
	for (i = 0; i < 200; i++) {
		struct rag_query q = { 0 };
		struct rag_results r;
		char e[256];
		q.text = t->text;
		q.k = 2;
		q.mode = RAG_MODE_VECTOR;
		if (rag_search(t->db, &q, &r, e, sizeof(e)) < 0 || r.n == 0 ||
		    strcmp(r.hits[0].source, t->want) != 0)
			t->bad++;
		rag_results_free(&r);
	}
	return NULL;
}

static void test_threads_batch(void)
{
	rag_db *db = seeded("threads");
	struct qthread ts[4] = {
		{ db, "seccomp system calls BPF", "sc.txt", 0 },
		{ db, "cgroups memory controller", "cg.txt", 0 },
		{ db, "hypervisor Xen kernel", "vm.txt", 0 },
		{ db, "CAP_NET_ADMIN privilege", "cap.txt", 0 },
	};
	struct rag_query qs[4] = { { 0 } };
	struct rag_results rs[4];
	pthread_t th[4];
	int i;

	for (i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, qthread_main, &ts[i]);
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CHECK_EQ_INT(ts[i].bad, 0);
	}
	for (i = 0; i < 4; i++) {
		qs[i].text = ts[i].text;
		qs[i].k = 1;
		qs[i].mode = RAG_MODE_VECTOR;
	}
	CHECK_EQ_INT(rag_search_batch(db, qs, 4, rs, err, sizeof(err)), 0);
	for (i = 0; i < 4; i++) {
		CHECK(rs[i].n == 1 &&
		      strcmp(rs[i].hits[0].source, ts[i].want) == 0);
		rag_results_free(&rs[i]);
	}
	rag_close(db);
}

static unsigned rng = 12345;
static float frand(void)
{
	rng = rng * 1103515245u + 12345u;
	return (float)((rng >> 8) & 0xffff) / 32768.0f - 1.0f;
}

/* Raw vectors: metrics against brute force, int8 close to exact. */
static void test_metrics_int8(void)
{
	enum { N = 3000, D = 48, NQ = 20, K = 10 };
	static float v[N * D], q[NQ * D];
	const char *names[3] = { "cos", "ip", "l2" };
	rag_db *db;
	int m, i, j;

	for (i = 0; i < N * D; i++)
		v[i] = frand();
	for (i = 0; i < NQ * D; i++)
		q[i] = frand();
	fresh("metrics");
	db = rag_open(dbpath, 0, err, sizeof(err));
	for (m = 0; m < 3; m++) {
		struct rag_results rs[NQ];
		CHECK_EQ_INT(rag_collection_raw(db, names[m], D,
						(enum rag_metric)m, err,
						sizeof(err)),
			     0);
		CHECK_EQ_INT(rag_add_vectors(db, names[m], "v", v, N, err,
					     sizeof(err)),
			     0);
		CHECK_EQ_INT(rag_search_vectors(db, names[m], q, NQ, K, rs, err,
						sizeof(err)),
			     0);
		for (i = 0; i < NQ; i++) {
			/* brute-force best row for query i */
			double best = m == 2 ? 1e30 : -1e30;
			int bi = -1;
			for (j = 0; j < N; j++) {
				double dot = 0, nv = 0, nq = 0, d2 = 0, s;
				int t;
				for (t = 0; t < D; t++) {
					double a = v[j * D + t],
					       b = q[i * D + t];
					dot += a * b, nv += a * a, nq += b * b;
					d2 += (a - b) * (a - b);
				}
				s = m == 0   ? dot / sqrt(nv * nq)
				    : m == 1 ? dot
					     : d2;
				if (m == 2 ? s < best : s > best)
					best = s, bi = j;
			}
			CHECK(rs[i].n == K);
			CHECK_EQ_INT(rs[i].hits[0].chunk, bi);
			CHECK(fabs(rs[i].hits[0].score - best) <
			      1e-3 * (fabs(best) + 1));
			rag_results_free(&rs[i]);
		}
	}
	rag_close(db);
}

static void test_int8_text(void)
{
	struct rag_query q = { 0 };
	struct rag_results a, b;
	rag_db *db = seeded("int8");
	q.text = "memory controller limits";
	q.k = 3;
	q.mode = RAG_MODE_VECTOR;
	CHECK_EQ_INT(rag_search(db, &q, &a, err, sizeof(err)), 0);
	q.int8 = 1;
	CHECK_EQ_INT(rag_search(db, &q, &b, err, sizeof(err)), 0);
	CHECK(a.n == b.n && a.n > 0 &&
	      strcmp(a.hits[0].source, b.hits[0].source) == 0);
	CHECK(fabs(a.hits[0].score - b.hits[0].score) < 1e-5);
	rag_results_free(&a);
	rag_results_free(&b);
	rag_close(db);
}

extern char *openblas_get_corename(void);

/* After rag_open, OpenBLAS uses the vector kernels the CPU has. */
static void test_blas_core(void)
{
	rag_db *db = seeded("blas");
	const char *name = openblas_get_corename();
	__builtin_cpu_init();
	if (!getenv("OPENBLAS_CORETYPE") && __builtin_cpu_supports("avx2") &&
	    __builtin_cpu_supports("fma"))
		CHECK(name && strcmp(name, "Prescott") != 0 &&
		      strcmp(name, "Core2") != 0);
	fprintf(stderr, "OpenBLAS core: %s\n", name ? name : "?");
	rag_close(db);
}

static void test_json(void)
{
	rag_db *db = seeded("json");
	struct rag_query q = { 0 };
	struct rag_results r;
	json_t *j, *colls, *docs, *st;
	q.text = "seccomp";
	q.k = 2;
	q.mode = RAG_MODE_HYBRID;
	rag_search(db, &q, &r, err, sizeof(err));
	j = rag_results_json(&r);
	CHECK(json_array_size(json_object_get(j, "results")) == r.n);
	CHECK(json_is_object(json_object_get(
		json_array_get(json_object_get(j, "results"), 0), "metadata")));
	json_decref(j);
	rag_results_free(&r);
	colls = rag_collections(db, err, sizeof(err));
	CHECK_EQ_INT(json_array_size(colls), 1);
	docs = rag_documents(db, NULL, 0, 10, err, sizeof(err));
	CHECK_EQ_INT(json_array_size(docs), 5);
	st = rag_stats(db, err, sizeof(err));
	CHECK_EQ_INT(json_integer_value(json_object_get(st, "documents")), 5);
	json_decref(colls);
	json_decref(docs);
	json_decref(st);
	rag_close(db);
}

int main(void)
{
	atexit(drop_db);
	RUN(test_schema);
	RUN(test_idempotent);
	RUN(test_modes);
	RUN(test_hybrid_scores);
	RUN(test_filter_returns_k);
	RUN(test_mismatch);
	RUN(test_bad_input);
	RUN(test_delete_compact);
	RUN(test_other_writer);
	RUN(test_concurrent_reader);
	RUN(test_threads_batch);
	RUN(test_metrics_int8);
	RUN(test_int8_text);
	RUN(test_json);
	RUN(test_blas_core);
	fresh("done");
	return ZGT_DONE();
}
