/* The SQLite side of the RAG store: opening and migrating the file, the
 * cache of prepared statements, collections, per-document ingest in one
 * transaction, deletes and compaction. docs/storage.md has the schema. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rag_int.h"

#define BUSY_TIMEOUT_MS 15000

/* Migration i takes a file from user_version i to i + 1. */
static const char *const migrations[] = {
	/* 0 -> 1: the base schema */
	"CREATE TABLE collections("
	" id INTEGER PRIMARY KEY,"
	" name TEXT NOT NULL UNIQUE,"
	" embedder TEXT NOT NULL,"
	" dims INTEGER NOT NULL,"
	" metric TEXT NOT NULL,"
	" checksum TEXT NOT NULL,"
	" config TEXT NOT NULL,"
	" generation INTEGER NOT NULL DEFAULT 0,"
	" created INTEGER NOT NULL);"
	"CREATE TABLE documents("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" collection_id INTEGER NOT NULL REFERENCES collections(id),"
	" source TEXT NOT NULL,"
	" hash TEXT NOT NULL,"
	" metadata TEXT NOT NULL DEFAULT '{}',"
	" bytes INTEGER NOT NULL,"
	" created INTEGER NOT NULL,"
	" updated INTEGER NOT NULL,"
	" UNIQUE(collection_id, source));"
	"CREATE TABLE chunks("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" doc_id INTEGER NOT NULL REFERENCES documents(id),"
	" seq INTEGER NOT NULL,"
	" start INTEGER NOT NULL,"
	" end INTEGER NOT NULL,"
	" text TEXT NOT NULL);"
	"CREATE INDEX chunks_doc ON chunks(doc_id);"
	"CREATE TABLE vectors("
	" chunk_id INTEGER PRIMARY KEY REFERENCES chunks(id),"
	" vec BLOB NOT NULL);"
	"CREATE VIRTUAL TABLE chunks_fts USING fts5(text, content='chunks',"
	" content_rowid='id', tokenize='porter unicode61');"
	"CREATE TRIGGER chunks_ai AFTER INSERT ON chunks WHEN new.text <> ''"
	" BEGIN INSERT INTO chunks_fts(rowid, text) VALUES (new.id, new.text);"
	" END;"
	"CREATE TRIGGER chunks_ad AFTER DELETE ON chunks WHEN old.text <> ''"
	" BEGIN INSERT INTO chunks_fts(chunks_fts, rowid, text)"
	" VALUES ('delete', old.id, old.text); END;",
	/* 1 -> 2: room for int8 codes next to each vector */
	"ALTER TABLE vectors ADD COLUMN q8 BLOB;",
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

static const char *const stmt_sql[ST_COUNT] = {
	[ST_COLL_BY_NAME] = "SELECT id, dims, metric, checksum, config"
			    " FROM collections WHERE name = ?1",
	[ST_COLL_INSERT] = "INSERT INTO collections(name, embedder, dims,"
			   " metric, checksum, config, created)"
			   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[ST_COLL_BUMP] = "UPDATE collections SET generation = generation + 1"
			 " WHERE id = ?1",
	[ST_DOC_FIND] = "SELECT id, hash, metadata FROM documents"
			" WHERE collection_id = ?1 AND source = ?2",
	[ST_DOC_INSERT] = "INSERT INTO documents(collection_id, source, hash,"
			  " metadata, bytes, created, updated)"
			  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
	[ST_DOC_DELETE] = "DELETE FROM documents WHERE id = ?1",
	[ST_CHUNK_INSERT] = "INSERT INTO chunks(doc_id, seq, start, end, text)"
			    " VALUES (?1, ?2, ?3, ?4, ?5)",
	[ST_CHUNK_DELETE_DOC] = "DELETE FROM chunks WHERE doc_id = ?1",
	[ST_VEC_INSERT] = "INSERT INTO vectors(chunk_id, vec) VALUES (?1, ?2)",
	[ST_VEC_DELETE_DOC] = "DELETE FROM vectors WHERE chunk_id IN"
			      " (SELECT id FROM chunks WHERE doc_id = ?1)",
	[ST_FTS_DELETE_DOC] = "SELECT 1",
	[ST_CHUNK_GET] = "SELECT c.seq, c.text, d.source, d.metadata"
			 " FROM chunks c JOIN documents d ON d.id = c.doc_id"
			 " WHERE c.id = ?1",
	[ST_BM25] = "SELECT f.rowid, bm25(chunks_fts) FROM chunks_fts f"
		    " JOIN chunks c ON c.id = f.rowid"
		    " JOIN documents d ON d.id = c.doc_id"
		    " WHERE chunks_fts MATCH ?1 AND d.collection_id = ?2"
		    " ORDER BY 2",
	/* CROSS JOIN fixes the order: a rowid range scan of vectors, so
	 * rows come in chunk id order without a sort. */
	[ST_MX_LOAD] = "SELECT v.chunk_id, c.doc_id, v.vec FROM vectors v"
		       " CROSS JOIN chunks c CROSS JOIN documents d"
		       " WHERE c.id = v.chunk_id AND d.id = c.doc_id"
		       " AND d.collection_id = ?1 AND v.chunk_id > ?2"
		       " ORDER BY v.chunk_id",
	[ST_MX_DOCS] = "SELECT id, metadata FROM documents"
		       " WHERE collection_id = ?1 AND id > ?2 ORDER BY id",
	[ST_COLL_GEN] = "SELECT generation FROM collections WHERE id = ?1",
	[ST_DATA_VERSION] = "PRAGMA data_version",
	[ST_DOCS_OF_COLL] = "SELECT id, source, metadata FROM documents"
			    " WHERE collection_id = ?1",
	[ST_DOC_SET_META] = "UPDATE documents SET metadata = ?1, updated = ?2"
			    " WHERE id = ?3",
};

void rag_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

RAG_EXPORT int rag_schema_version(void)
{
	return SCHEMA_VERSION;
}

RAG_EXPORT const char *rag_default_path(void)
{
	const char *p = getenv("ZONEGATE_RAG_DB");
	return p && *p ? p : "zonegate-rag.db";
}

sqlite3_stmt *rag_stmt(rag_db *db, enum rag_stmt_id id, char *err,
		       size_t errlen)
{
	if (!db->st[id] && sqlite3_prepare_v3(db->sql, stmt_sql[id], -1,
					      SQLITE_PREPARE_PERSISTENT,
					      &db->st[id], NULL) != SQLITE_OK) {
		rag_errf(err, errlen, "sqlite: %s", sqlite3_errmsg(db->sql));
		return NULL;
	}
	sqlite3_reset(db->st[id]);
	sqlite3_clear_bindings(db->st[id]);
	return db->st[id];
}

static int exec(rag_db *db, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;
	if (sqlite3_exec(db->sql, sql, NULL, NULL, &msg) != SQLITE_OK) {
		rag_errf(err, errlen, "sqlite: %s",
			 msg ? msg : sqlite3_errmsg(db->sql));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int user_version(rag_db *db, int *v, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;
	if (sqlite3_prepare_v2(db->sql, "PRAGMA user_version", -1, &st, NULL) !=
		    SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		rag_errf(err, errlen, "sqlite: %s", sqlite3_errmsg(db->sql));
		goto out;
	}
	*v = sqlite3_column_int(st, 0);
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

/* Applies every pending migration, each in its own transaction with the
 * version bump, so a crash leaves the file at some whole version. */
static int migrate(rag_db *db, char *err, size_t errlen)
{
	int v;
	char sql[64];

	if (user_version(db, &v, err, errlen) < 0)
		return -1;
	if (v > SCHEMA_VERSION) {
		rag_errf(err, errlen,
			 "store schema version %d is newer than this build (%d)",
			 v, SCHEMA_VERSION);
		return -1;
	}
	if (v < SCHEMA_VERSION && (db->flags & RAG_OPEN_READONLY)) {
		rag_errf(err, errlen,
			 "store schema version %d needs migrating to %d; open it"
			 " read-write once (e.g. ragctl stats)",
			 v, SCHEMA_VERSION);
		return -1;
	}
	for (; v < SCHEMA_VERSION; v++) {
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
		if (exec(db, "BEGIN IMMEDIATE", err, errlen) < 0)
			return -1;
		if (exec(db, migrations[v], err, errlen) < 0 ||
		    exec(db, sql, err, errlen) < 0) {
			exec(db, "ROLLBACK", NULL, 0);
			return -1;
		}
		if (exec(db, "COMMIT", err, errlen) < 0)
			return -1;
	}
	return 0;
}

RAG_EXPORT rag_db *rag_open(const char *path, unsigned flags, char *err,
			    size_t errlen)
{
	int of = (flags & RAG_OPEN_READONLY)
			 ? SQLITE_OPEN_READONLY
			 : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	rag_db *db = calloc(1, sizeof(*db));

	if (!db) {
		rag_errf(err, errlen, "out of memory");
		return NULL;
	}
	rag_blas_init();
	db->flags = flags;
	pthread_mutex_init(&db->lock, NULL);
	pthread_mutex_init(&db->qlock, NULL);
	pthread_cond_init(&db->qcond, NULL);
	db->data_version = -1;
	if (sqlite3_open_v2(path, &db->sql, of | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		rag_errf(err, errlen, "%s: %s", path,
			 db->sql ? sqlite3_errmsg(db->sql) : "cannot open");
		goto fail;
	}
	sqlite3_busy_timeout(db->sql, BUSY_TIMEOUT_MS);
	sqlite3_extended_result_codes(db->sql, 1);
	if (!(flags & RAG_OPEN_READONLY) &&
	    exec(db, "PRAGMA journal_mode=WAL", err, errlen) < 0)
		goto fail;
	if (exec(db, "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON", err,
		 errlen) < 0 ||
	    migrate(db, err, errlen) < 0)
		goto fail;
	return db;
fail:
	rag_close(db);
	return NULL;
}

static void coll_free(struct rag_coll *c)
{
	if (!c)
		return;
	if (c->emb)
		c->emb->destroy(c->emb);
	rag_mx_free(c->mx);
	json_decref(c->config);
	free(c);
}

RAG_EXPORT void rag_close(rag_db *db)
{
	size_t i;
	if (!db)
		return;
	for (i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(db->st[i]);
	for (i = 0; i < db->ncolls; i++)
		coll_free(db->colls[i]);
	free(db->colls);
	sqlite3_close(db->sql);
	pthread_mutex_destroy(&db->lock);
	pthread_mutex_destroy(&db->qlock);
	pthread_cond_destroy(&db->qcond);
	free(db);
}

RAG_EXPORT int rag_metric_parse(const char *s)
{
	if (!s || strcmp(s, "cosine") == 0)
		return RAG_METRIC_COSINE;
	if (strcmp(s, "ip") == 0)
		return RAG_METRIC_IP;
	if (strcmp(s, "l2") == 0)
		return RAG_METRIC_L2;
	return -1;
}

static const char *metric_name(enum rag_metric m)
{
	return m == RAG_METRIC_IP ? "ip" : m == RAG_METRIC_L2 ? "l2" : "cosine";
}

RAG_EXPORT int rag_mode_parse(const char *s)
{
	if (!s || strcmp(s, "hybrid") == 0)
		return RAG_MODE_HYBRID;
	if (strcmp(s, "vector") == 0)
		return RAG_MODE_VECTOR;
	if (strcmp(s, "bm25") == 0)
		return RAG_MODE_BM25;
	return -1;
}

/* ---- collections ---- */

static int name_ok(const char *name, char *err, size_t errlen)
{
	size_t i, n = name ? strlen(name) : 0;
	if (n == 0 || n > RAG_MAX_NAME) {
		rag_errf(err, errlen, "collection name must be 1..%d bytes",
			 RAG_MAX_NAME);
		return 0;
	}
	for (i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-' ||
		      c == '.')) {
			rag_errf(err, errlen,
				 "collection name may hold only letters, digits,"
				 " '_', '-' and '.'");
			return 0;
		}
	}
	return 1;
}

/* Reads the collection row into a new struct; NULL with err (or with
 * err empty when absent). */
static struct rag_coll *coll_load(rag_db *db, const char *name, char *err,
				  size_t errlen)
{
	sqlite3_stmt *st = rag_stmt(db, ST_COLL_BY_NAME, err, errlen);
	struct rag_coll *c = NULL;
	const char *cfg;
	int rc;

	if (!st)
		return NULL;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		if (rc == SQLITE_DONE)
			rag_errf(err, errlen, "no collection \"%s\"", name);
		else
			rag_errf(err, errlen, "sqlite: %s",
				 sqlite3_errmsg(db->sql));
		goto out;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		goto out;
	c->id = sqlite3_column_int64(st, 0);
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->dims = sqlite3_column_int(st, 1);
	c->metric = rag_metric_parse((const char *)sqlite3_column_text(st, 2));
	snprintf(c->checksum, sizeof(c->checksum), "%s",
		 (const char *)sqlite3_column_text(st, 3));
	cfg = (const char *)sqlite3_column_text(st, 4);
	c->config = cfg ? json_loads(cfg, 0, NULL) : NULL;
	if (!c->config || c->dims <= 0 || c->dims > RAG_MAX_DIMS ||
	    (int)c->metric < 0) {
		rag_errf(err, errlen, "collection \"%s\" has a corrupt record",
			 name);
		coll_free(c);
		c = NULL;
	}
out:
	sqlite3_reset(st);
	return c;
}

struct rag_coll *rag_coll_get(rag_db *db, const char *name, char *err,
			      size_t errlen)
{
	struct rag_coll *c, **nc;
	size_t i;

	if (!name)
		name = RAG_DEFAULT_COLLECTION;
	for (i = 0; i < db->ncolls; i++)
		if (strcmp(db->colls[i]->name, name) == 0)
			return db->colls[i];
	if (!name_ok(name, err, errlen))
		return NULL;
	c = coll_load(db, name, err, errlen);
	if (!c)
		return NULL;
	nc = realloc(db->colls, (db->ncolls + 1) * sizeof(*nc));
	if (!nc) {
		coll_free(c);
		rag_errf(err, errlen, "out of memory");
		return NULL;
	}
	db->colls = nc;
	db->colls[db->ncolls++] = c;
	return c;
}

struct rag_embedder *rag_coll_embedder(rag_db *db, struct rag_coll *c,
				       char *err, size_t errlen)
{
	struct rag_embedder *e;
	(void)db;
	if (c->emb)
		return c->emb;
	e = rag_embedder_open(c->config, err, errlen);
	if (!e)
		return NULL;
	if (e->dims != c->dims || strcmp(e->checksum, c->checksum) != 0) {
		rag_errf(err, errlen,
			 "collection \"%s\" was built with %s (%d dims, checksum"
			 " %s) but the model now has %d dims, checksum %s;"
			 " refusing to mix vectors",
			 c->name, e->id, c->dims, c->checksum, e->dims,
			 e->checksum);
		e->destroy(e);
		return NULL;
	}
	c->emb = e;
	return e;
}

static int coll_insert(rag_db *db, const char *name, const char *embedder,
		       int dims, enum rag_metric metric, const char *checksum,
		       const json_t *config, char *err, size_t errlen)
{
	sqlite3_stmt *st = rag_stmt(db, ST_COLL_INSERT, err, errlen);
	char *cfg = json_dumps(config, JSON_COMPACT | JSON_SORT_KEYS);
	int rc = -1;

	if (!st || !cfg)
		goto out;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, embedder, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, dims);
	sqlite3_bind_text(st, 4, metric_name(metric), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, checksum, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, cfg, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)time(NULL));
	if (sqlite3_step(st) != SQLITE_DONE) {
		rag_errf(err, errlen, "creating collection \"%s\": %s", name,
			 sqlite3_errmsg(db->sql));
		goto out;
	}
	rc = 0;
out:
	if (st)
		sqlite3_reset(st);
	free(cfg);
	return rc;
}

/* Creates a collection for the embedder that opts describe. Caller holds
 * the lock. */
static int coll_create(rag_db *db, const char *name,
		       const struct rag_embedder_opts *opts, char *err,
		       size_t errlen)
{
	json_t *cfg = rag_embedder_config(opts, err, errlen);
	struct rag_embedder *e = NULL;
	int rc = -1;

	if (!cfg)
		return -1;
	e = rag_embedder_open(cfg, err, errlen);
	if (!e)
		goto out;
	if (json_object_set_new(cfg, "dims", json_integer(e->dims)) < 0)
		goto out;
	rc = coll_insert(db, name, e->id, e->dims,
			 opts ? opts->metric : RAG_METRIC_COSINE, e->checksum,
			 cfg, err, errlen);
out:
	if (e)
		e->destroy(e);
	json_decref(cfg);
	return rc;
}

RAG_EXPORT int rag_collection_ensure(rag_db *db, const char *name,
				     const struct rag_embedder_opts *opts,
				     char *err, size_t errlen)
{
	struct rag_coll *c;
	char tmp[256] = "";
	int rc = -1;

	if (!name)
		name = RAG_DEFAULT_COLLECTION;
	pthread_mutex_lock(&db->lock);
	if (!name_ok(name, err, errlen))
		goto out;
	c = rag_coll_get(db, name, tmp, sizeof(tmp));
	if (!c) {
		if (strncmp(tmp, "no collection", 13) != 0) {
			rag_errf(err, errlen, "%s", tmp);
			goto out;
		}
		rc = coll_create(db, name, opts, err, errlen);
		goto out;
	}
	if (opts && opts->embedder) {
		const char *have = json_string_value(
			json_object_get(c->config, "embedder"));
		if (!have || strcmp(have, opts->embedder) != 0) {
			rag_errf(err, errlen,
				 "collection \"%s\" uses embedder %s (%d dims);"
				 " refusing vectors from embedder %s",
				 name, have ? have : "?", c->dims,
				 opts->embedder);
			goto out;
		}
	}
	rc = 0;
out:
	pthread_mutex_unlock(&db->lock);
	return rc;
}

RAG_EXPORT int rag_collection_raw(rag_db *db, const char *name, int dims,
				  enum rag_metric metric, char *err,
				  size_t errlen)
{
	json_t *cfg = json_pack("{s:s, s:i}", "embedder", "raw", "dims", dims);
	int rc = -1;

	if (dims <= 0 || dims > RAG_MAX_DIMS) {
		rag_errf(err, errlen, "dims must be 1..%d", RAG_MAX_DIMS);
		goto out;
	}
	pthread_mutex_lock(&db->lock);
	if (name_ok(name, err, errlen))
		rc = coll_insert(db, name, "raw", dims, metric, "raw", cfg, err,
				 errlen);
	pthread_mutex_unlock(&db->lock);
out:
	json_decref(cfg);
	return rc;
}

/* ---- ingest ---- */

static int step_done(rag_db *db, sqlite3_stmt *st, char *err, size_t errlen)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		rag_errf(err, errlen, "sqlite: %s", sqlite3_errmsg(db->sql));
		return -1;
	}
	return 0;
}

/* Deletes one document with its chunks, vectors and FTS rows and bumps
 * the collection's generation. Inside a transaction. */
static int doc_remove(rag_db *db, int64_t coll_id, int64_t doc_id, char *err,
		      size_t errlen)
{
	static const enum rag_stmt_id order[] = { ST_VEC_DELETE_DOC,
						  ST_CHUNK_DELETE_DOC,
						  ST_DOC_DELETE };
	sqlite3_stmt *st;
	size_t i;

	for (i = 0; i < 3; i++) {
		st = rag_stmt(db, order[i], err, errlen);
		if (!st)
			return -1;
		sqlite3_bind_int64(st, 1, doc_id);
		if (step_done(db, st, err, errlen) < 0)
			return -1;
	}
	st = rag_stmt(db, ST_COLL_BUMP, err, errlen);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, coll_id);
	return step_done(db, st, err, errlen);
}

/* Looks up source; *doc_id 0 if absent, else its id and hash in hash,
 * and in *meta_same whether its stored metadata text equals meta. */
static int doc_find(rag_db *db, int64_t coll_id, const char *source,
		    const char *meta, int64_t *doc_id, char hash[32],
		    int *meta_same, char *err, size_t errlen)
{
	sqlite3_stmt *st = rag_stmt(db, ST_DOC_FIND, err, errlen);
	int rc;

	*doc_id = 0;
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, coll_id);
	sqlite3_bind_text(st, 2, source, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*doc_id = sqlite3_column_int64(st, 0);
		const char *m = (const char *)sqlite3_column_text(st, 2);
		snprintf(hash, 32, "%s",
			 (const char *)sqlite3_column_text(st, 1));
		*meta_same = m && strcmp(m, meta) == 0;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		rag_errf(err, errlen, "sqlite: %s", sqlite3_errmsg(db->sql));
		return -1;
	}
	return 0;
}

static int doc_insert(rag_db *db, int64_t coll_id, const char *source,
		      const char *hash, const char *meta, size_t bytes,
		      int64_t *doc_id, char *err, size_t errlen)
{
	sqlite3_stmt *st = rag_stmt(db, ST_DOC_INSERT, err, errlen);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, coll_id);
	sqlite3_bind_text(st, 2, source, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, hash, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, meta, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)bytes);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)time(NULL));
	if (step_done(db, st, err, errlen) < 0)
		return -1;
	*doc_id = sqlite3_last_insert_rowid(db->sql);
	return 0;
}

/* Writes chunk i (text t[s..e)) and its vector. */
static int chunk_insert(rag_db *db, int64_t doc_id, size_t seq, const char *t,
			const struct rag_span *sp, const float *vec, int dims,
			char *err, size_t errlen)
{
	sqlite3_stmt *st = rag_stmt(db, ST_CHUNK_INSERT, err, errlen);
	int64_t cid;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, doc_id);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)seq);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)sp->start);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)sp->end);
	sqlite3_bind_text(st, 5, t ? t + sp->start : "",
			  t ? (int)(sp->end - sp->start) : 0, SQLITE_STATIC);
	if (step_done(db, st, err, errlen) < 0)
		return -1;
	cid = sqlite3_last_insert_rowid(db->sql);
	st = rag_stmt(db, ST_VEC_INSERT, err, errlen);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, cid);
	sqlite3_bind_blob(st, 2, vec, dims * (int)sizeof(float), SQLITE_STATIC);
	return step_done(db, st, err, errlen);
}

/* Normalises meta_json into compact text (an object, "{}" if NULL). */
static char *meta_text(const char *meta_json, char *err, size_t errlen)
{
	json_t *m;
	char *s;

	if (!meta_json)
		return strdup("{}");
	if (strlen(meta_json) > RAG_MAX_META) {
		rag_errf(err, errlen, "metadata longer than %d bytes",
			 RAG_MAX_META);
		return NULL;
	}
	m = json_loads(meta_json, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(m)) {
		json_decref(m);
		rag_errf(err, errlen, "metadata must be a JSON object");
		return NULL;
	}
	s = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(m);
	return s;
}

struct prepared {
	char *text;
	size_t len;
	struct rag_span *spans;
	size_t n;
	float *vecs;
	char *meta;
	int meta_given; /* the caller passed metadata (else keep what is stored) */
	char hash[17];
};

static void prepared_free(struct prepared *p)
{
	free(p->text);
	free(p->spans);
	free(p->vecs);
	free(p->meta);
}

/* Cleans, chunks and hashes a document; no lock needed. */
static int prepare_text(const char *text, size_t len, const char *meta_json,
			const struct rag_chunk_opts *copts, struct prepared *p,
			char *err, size_t errlen)
{
	struct rag_chunk_opts co;

	if (rag_chunk_opts_check(copts, &co, err, errlen) < 0)
		return -1;
	p->meta = meta_text(meta_json, err, errlen);
	if (!p->meta)
		return -1;
	p->meta_given = meta_json != NULL;
	p->text = web_utf8_clean(text, len, &p->len);
	if (!p->text || rag_chunk(p->text, p->len, &co, &p->spans, &p->n) < 0) {
		rag_errf(err, errlen, "out of memory");
		return -1;
	}
	if (p->n > RAG_MAX_CHUNKS) {
		rag_errf(err, errlen,
			 "document yields %zu chunks, more than %d;"
			 " use a larger chunk size",
			 p->n, RAG_MAX_CHUNKS);
		return -1;
	}
	rag_fnv_hex(p->text, p->len, p->hash);
	return 0;
}

/* Embeds the chunks of p with e (dims wide). Runs without the handle's
 * lock, so a slow remote embedder does not stall searches. */
static int prepare_vecs(struct rag_embedder *e, int dims, struct prepared *p,
			char *err, size_t errlen)
{
	const char **texts = NULL;
	size_t *lens = NULL, i;
	int rc = -1;

	if (p->n == 0)
		return 0;
	p->vecs = malloc(p->n * (size_t)dims * sizeof(float));
	texts = malloc(p->n * sizeof(*texts));
	lens = malloc(p->n * sizeof(*lens));
	if (!p->vecs || !texts || !lens) {
		rag_errf(err, errlen, "out of memory");
		goto out;
	}
	for (i = 0; i < p->n; i++) {
		texts[i] = p->text + p->spans[i].start;
		lens[i] = p->spans[i].end - p->spans[i].start;
	}
	rc = e->embed(e, texts, lens, p->n, p->vecs, err, errlen);
out:
	free(texts);
	free(lens);
	return rc;
}

/* Writes a prepared document, replacing old_id if nonzero. In one
 * transaction: all of it lands or none. */
static int write_doc(rag_db *db, struct rag_coll *c, const char *source,
		     struct prepared *p, int64_t old_id, char *err,
		     size_t errlen)
{
	int64_t doc_id;
	size_t i;

	if (exec(db, "BEGIN IMMEDIATE", err, errlen) < 0)
		return -1;
	if (old_id && doc_remove(db, c->id, old_id, err, errlen) < 0)
		goto fail;
	if (doc_insert(db, c->id, source, p->hash, p->meta, p->len, &doc_id,
		       err, errlen) < 0)
		goto fail;
	for (i = 0; i < p->n; i++)
		if (chunk_insert(db, doc_id, i, p->text, &p->spans[i],
				 p->vecs + i * (size_t)c->dims, c->dims, err,
				 errlen) < 0)
			goto fail;
	if (exec(db, "COMMIT", err, errlen) < 0)
		goto fail;
	return 0;
fail:
	exec(db, "ROLLBACK", NULL, 0);
	return -1;
}

static int source_ok(const char *source, char *err, size_t errlen)
{
	if (!source || !*source || strlen(source) > RAG_MAX_SOURCE) {
		rag_errf(err, errlen, "source must be 1..%d bytes",
			 RAG_MAX_SOURCE);
		return 0;
	}
	return 1;
}

/* What ingest_lookup found stored under the source (*same). */
enum { SAME_NONE = 0, SAME_ALL = 1, SAME_TEXT = 2 /* other metadata */ };

/* Under the lock: the collection, its embedder, and whether source is
 * already stored with this hash (*same: SAME_ALL, or SAME_TEXT if its
 * metadata differs) or under another (*old_id). */
static struct rag_coll *ingest_lookup(rag_db *db, const char *collection,
				      const char *source,
				      const struct prepared *p,
				      struct rag_embedder **e, int64_t *old_id,
				      int *same, char *err, size_t errlen)
{
	char old_hash[32] = "";
	struct rag_coll *c = rag_coll_get(db, collection, err, errlen);
	int meta_same = 1;

	*same = 0;
	if (!c)
		return NULL;
	*e = rag_coll_embedder(db, c, err, errlen);
	if (!*e || doc_find(db, c->id, source, p->meta, old_id, old_hash,
			    &meta_same, err, errlen) < 0)
		return NULL;
	if (*old_id && strcmp(old_hash, p->hash) == 0)
		*same = meta_same || !p->meta_given ? SAME_ALL : SAME_TEXT;
	return c;
}

/* Replaces the metadata of document doc_id (text unchanged) in one
 * transaction, bumping the collection's generation so that every loaded
 * matrix reloads the metadata its filters read. 0, or -1 with err. */
static int doc_set_meta(rag_db *db, int64_t coll_id, int64_t doc_id,
			const char *meta, char *err, size_t errlen)
{
	sqlite3_stmt *st;

	if (exec(db, "BEGIN IMMEDIATE", err, errlen) < 0)
		return -1;
	st = rag_stmt(db, ST_DOC_SET_META, err, errlen);
	if (!st)
		goto fail;
	sqlite3_bind_text(st, 1, meta, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)time(NULL));
	sqlite3_bind_int64(st, 3, doc_id);
	if (step_done(db, st, err, errlen) < 0)
		goto fail;
	st = rag_stmt(db, ST_COLL_BUMP, err, errlen);
	if (!st)
		goto fail;
	sqlite3_bind_int64(st, 1, coll_id);
	if (step_done(db, st, err, errlen) < 0 ||
	    exec(db, "COMMIT", err, errlen) < 0)
		goto fail;
	rag_mx_invalidate(db);
	return 0;
fail:
	exec(db, "ROLLBACK", NULL, 0);
	return -1;
}

RAG_EXPORT int rag_ingest_text(rag_db *db, const char *collection,
			       const char *source, const char *text, size_t len,
			       const char *meta_json,
			       const struct rag_chunk_opts *copts,
			       struct rag_ingest_result *res, char *err,
			       size_t errlen)
{
	struct prepared p = { 0 };
	struct rag_ingest_result r = { 0 };
	struct rag_embedder *e = NULL;
	struct rag_coll *c;
	int64_t old_id = 0;
	int rc = -1, same;

	if (len > RAG_MAX_DOC) {
		rag_errf(err, errlen, "%s: document larger than %u bytes",
			 source ? source : "?", RAG_MAX_DOC);
		return -1;
	}
	if (!source_ok(source, err, errlen) ||
	    prepare_text(text, len, meta_json, copts, &p, err, errlen) < 0)
		goto done;
	r.bytes = p.len;
	pthread_mutex_lock(&db->lock);
	c = ingest_lookup(db, collection, source, &p, &e, &old_id, &same, err,
			  errlen);
	if (c && same == SAME_TEXT) { /* only the metadata changed */
		rc = doc_set_meta(db, c->id, old_id, p.meta, err, errlen);
		r.meta_updated = rc == 0;
		pthread_mutex_unlock(&db->lock);
		goto done;
	}
	pthread_mutex_unlock(&db->lock);
	if (!c || same) { /* error, or same content: nothing to do */
		rc = c ? 0 : -1;
		goto done;
	}
	if (prepare_vecs(e, c->dims, &p, err, errlen) < 0)
		goto done;
	pthread_mutex_lock(&db->lock);
	/* Look again: another writer may have stored it meanwhile. */
	c = ingest_lookup(db, collection, source, &p, &e, &old_id, &same, err,
			  errlen);
	if (c && same == SAME_TEXT)
		r.meta_updated = doc_set_meta(db, c->id, old_id, p.meta, err,
					      errlen) == 0;
	if (c && !same &&
	    write_doc(db, c, source, &p, old_id, err, errlen) == 0) {
		rag_mx_invalidate(db);
		r.added = 1;
		r.chunks = p.n;
	}
	rc = c && (same == SAME_ALL || r.added || r.meta_updated) ? 0 : -1;
	pthread_mutex_unlock(&db->lock);
done:
	prepared_free(&p);
	if (res)
		*res = r;
	return rc;
}

RAG_EXPORT int rag_add_vectors(rag_db *db, const char *collection,
			       const char *source, const float *v, size_t n,
			       char *err, size_t errlen)
{
	struct rag_span sp = { 0, 0 };
	struct rag_coll *c;
	int64_t doc_id;
	size_t i;
	int rc = -1;

	if (!source_ok(source, err, errlen))
		return -1;
	pthread_mutex_lock(&db->lock);
	c = rag_coll_get(db, collection, err, errlen);
	if (!c || exec(db, "BEGIN IMMEDIATE", err, errlen) < 0)
		goto out;
	if (doc_insert(db, c->id, source, "raw", "{}", 0, &doc_id, err,
		       errlen) < 0)
		goto fail;
	for (i = 0; i < n; i++)
		if (chunk_insert(db, doc_id, i, NULL, &sp,
				 v + i * (size_t)c->dims, c->dims, err,
				 errlen) < 0)
			goto fail;
	if (exec(db, "COMMIT", err, errlen) < 0)
		goto fail;
	rag_mx_invalidate(db);
	rc = 0;
	goto out;
fail:
	exec(db, "ROLLBACK", NULL, 0);
out:
	pthread_mutex_unlock(&db->lock);
	return rc;
}

/* ---- delete and compact ---- */

/* Collects ids of documents matching source (one indexed lookup) or
 * filter f (a pass over the collection) into *ids (caller frees, also on
 * failure), and their sources into the array srcs if not NULL. 0, or -1
 * with err. */
static int select_docs(rag_db *db, struct rag_coll *c, const char *source,
		       const struct rag_filter *f, int64_t **ids, size_t *n,
		       json_t *srcs, char *err, size_t errlen)
{
	sqlite3_stmt *st = rag_stmt(db, source ? ST_DOC_FIND : ST_DOCS_OF_COLL,
				    err, errlen);
	size_t cap = 0;
	int rc;

	*ids = NULL;
	*n = 0;
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, c->id);
	if (source)
		sqlite3_bind_text(st, 2, source, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *src =
			source ? source
			       : (const char *)sqlite3_column_text(st, 1);
		const char *mt =
			source ? NULL
			       : (const char *)sqlite3_column_text(st, 2);
		int hit;
		if (source) {
			hit = 1;
		} else {
			json_t *m = mt ? json_loads(mt, 0, NULL) : NULL;
			hit = rag_filter_match(f, m);
			json_decref(m);
		}
		if (!hit)
			continue;
		if (*n == cap) {
			int64_t *ni;
			cap = cap ? cap * 2 : 64;
			ni = realloc(*ids, cap * sizeof(*ni));
			if (!ni) {
				rc = SQLITE_NOMEM;
				break;
			}
			*ids = ni;
		}
		(*ids)[(*n)++] = sqlite3_column_int64(st, 0);
		if (srcs &&
		    json_array_append_new(srcs, json_string(src ? src : "")) <
			    0) {
			rc = SQLITE_NOMEM;
			break;
		}
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		rag_errf(err, errlen, "listing documents: %s",
			 sqlite3_errstr(rc));
		return -1;
	}
	return 0;
}

/* Parses the selection of a delete: exactly one of source and where_json.
 * *f gets the parsed filter (NULL for a source; caller frees). 0 or -1. */
static int delete_selection(const char *source, const char *where_json,
			    struct rag_filter **f, char *err, size_t errlen)
{
	*f = NULL;
	if (!source == !where_json) {
		rag_errf(err, errlen,
			 "delete needs exactly one of a source or"
			 " a where filter");
		return -1;
	}
	if (where_json) {
		*f = rag_filter_parse(where_json, strlen(where_json), err,
				      errlen);
		if (!*f)
			return -1;
	}
	return 0;
}

RAG_EXPORT json_t *rag_delete_preview(rag_db *db, const char *collection,
				      const char *source,
				      const char *where_json, char *err,
				      size_t errlen)
{
	struct rag_filter *f = NULL;
	struct rag_coll *c;
	json_t *srcs = NULL;
	int64_t *ids = NULL;
	size_t n = 0;

	if (delete_selection(source, where_json, &f, err, errlen) < 0)
		return NULL;
	srcs = json_array();
	if (!srcs) {
		rag_errf(err, errlen, "out of memory");
		goto out;
	}
	pthread_mutex_lock(&db->lock);
	c = rag_coll_get(db, collection, err, errlen);
	if (!c ||
	    select_docs(db, c, source, f, &ids, &n, srcs, err, errlen) < 0) {
		json_decref(srcs);
		srcs = NULL;
	}
	pthread_mutex_unlock(&db->lock);
out:
	free(ids);
	rag_filter_free(f);
	return srcs;
}

RAG_EXPORT int rag_delete(rag_db *db, const char *collection,
			  const char *source, const char *where_json,
			  int64_t *deleted, char *err, size_t errlen)
{
	struct rag_filter *f = NULL;
	struct rag_coll *c;
	int64_t *ids = NULL;
	size_t n = 0, i;
	int rc = -1;

	*deleted = 0;
	if (delete_selection(source, where_json, &f, err, errlen) < 0)
		return -1;
	pthread_mutex_lock(&db->lock);
	c = rag_coll_get(db, collection, err, errlen);
	if (!c ||
	    select_docs(db, c, source, f, &ids, &n, NULL, err, errlen) < 0)
		goto out;
	if (n && exec(db, "BEGIN IMMEDIATE", err, errlen) < 0)
		goto out;
	for (i = 0; i < n; i++)
		if (doc_remove(db, c->id, ids[i], err, errlen) < 0) {
			exec(db, "ROLLBACK", NULL, 0);
			goto out;
		}
	if (n && exec(db, "COMMIT", err, errlen) < 0) {
		exec(db, "ROLLBACK", NULL, 0);
		goto out;
	}
	rag_mx_invalidate(db);
	*deleted = (int64_t)n;
	rc = 0;
out:
	pthread_mutex_unlock(&db->lock);
	free(ids);
	rag_filter_free(f);
	return rc;
}

RAG_EXPORT int rag_compact(rag_db *db, char *err, size_t errlen)
{
	int rc;
	pthread_mutex_lock(&db->lock);
	rc = exec(db,
		  "INSERT INTO chunks_fts(chunks_fts) VALUES('optimize');"
		  "VACUUM;"
		  "PRAGMA wal_checkpoint(TRUNCATE);",
		  err, errlen);
	pthread_mutex_unlock(&db->lock);
	return rc;
}
