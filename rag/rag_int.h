/* Private interfaces between the files of the RAG store: text cleanup and
 * chunking (rag_text.c), metadata filters (rag_filter.c), embedders
 * (rag_embed*.c) and the in-memory search matrix (rag_index.c). */
#ifndef RAG_INT_H
#define RAG_INT_H

#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "zonegate/rag.h"

#define RAG_EXPORT __attribute__((visibility("default")))

/* ---- text (rag_text.c) ---- */

/* Returns a NUL-terminated copy of s with invalid UTF-8 sequences replaced
 * by U+FFFD and NUL and other C0 controls except \t \n \r dropped; length
 * in *outlen. NULL on allocation failure. Caller frees. */
char *rag_utf8_clean(const char *s, size_t len, size_t *outlen);

/* The length of the longest prefix of s of at most max bytes that does
 * not end inside a character: outside text (a filter key, a server's
 * error message) is cut with this in "%.*s", never at a byte count. */
size_t rag_utf8_prefix(const char *s, size_t max);

/* Returns the visible text of an HTML document (tags, comments, script and
 * style removed, block tags as line breaks, common entities decoded), NUL
 * terminated, length in *outlen. NULL on allocation failure. */
char *rag_html_strip(const char *s, size_t len, size_t *outlen);

/* Nonzero if the first bytes look binary (NUL bytes). */
int rag_looks_binary(const char *s, size_t len);

struct rag_span {
	size_t start, end; /* byte offsets into the text, end exclusive */
};

/* Splits text into chunks on paragraph and sentence boundaries, at most
 * opts->size bytes each (a longer sentence is cut at a space or a UTF-8
 * boundary), consecutive chunks sharing up to opts->overlap bytes. text
 * must be valid UTF-8. Stores a malloc'd array in *out (NULL if no
 * chunk) and its length in *n. Returns 0, or -1 on allocation failure. */
int rag_chunk(const char *text, size_t len, const struct rag_chunk_opts *opts,
	      struct rag_span **out, size_t *n);

/* Fills defaults into a copy of opts (NULL allowed); -1 if out of range. */
int rag_chunk_opts_check(const struct rag_chunk_opts *in,
			 struct rag_chunk_opts *out, char *err, size_t errlen);

/* ---- Markdown front matter (rag_frontmatter.c) ---- */

/* Parses front matter at the very start of s: a "---" line, then lines
 * "key: value" (key [A-Za-z0-9_.-]+, value a string as written, matching
 * quotes removed, an unquoted " # comment" cut; blank and "#" lines
 * allowed), then a "---" or "..." line; within the RAG_FM_* caps.
 * Returns 0 if s does not open with "---" (nothing stored); 1 with a new
 * JSON object of strings in *meta (caller decrefs) and the offset of the
 * text after the closing line in *body; -1 if malformed or over a cap,
 * with the reason and line in err, *meta NULL and *body 0. */
int rag_front_matter(const char *s, size_t n, json_t **meta, size_t *body,
		     char *err, size_t errlen);

/* ---- filters (rag_filter.c) ---- */

struct rag_filter;

/* Parses a Chroma-like where filter ({"k": v}, {"k": {"$gt": 3}},
 * $eq $ne $gt $gte $lt $lte $in $nin $prefix $and $or). Returns a new
 * filter or
 * NULL with err. */
struct rag_filter *rag_filter_parse(const char *json, size_t len, char *err,
				    size_t errlen);
/* Nonzero if meta (a JSON object, NULL counts as {}) passes f. */
int rag_filter_match(const struct rag_filter *f, const json_t *meta);
void rag_filter_free(struct rag_filter *f);

/* ---- embedders (rag_embed*.c) ---- */

struct rag_embedder {
	char id[32]; /* "hash", "glove", "openai" */
	int dims;
	char checksum[32]; /* hex; identifies the model's weights */
	/* Embeds n texts into out (n * dims floats). 0 or -1 with err. */
	int (*embed)(struct rag_embedder *e, const char *const *texts,
		     const size_t *lens, size_t n, float *out, char *err,
		     size_t errlen);
	void (*destroy)(struct rag_embedder *e);
	void *impl;
};

/* Opens the embedder that config describes ({"embedder": id, ...} as a
 * collection stores it). Returns NULL with err. Free with destroy(). */
struct rag_embedder *rag_embedder_open(const json_t *config, char *err,
				       size_t errlen);
/* Builds a collection's config object from opts; NULL with err. */
json_t *rag_embedder_config(const struct rag_embedder_opts *opts, char *err,
			    size_t errlen);

struct rag_embedder *rag_hash_open(char *err, size_t errlen);
struct rag_embedder *rag_glove_open(const char *path, char *err, size_t errlen);
/* The glove model parsers on memory (for the fuzz targets): a model
 * file image, and the npm package's JSON (NUL-terminated; *nwords gets
 * the words kept). */
struct rag_embedder *rag_glove_from_buf(const unsigned char *buf, size_t len,
					char *err, size_t errlen);
int rag_glove_parse_json(const char *buf, size_t len, size_t *nwords, char *err,
			 size_t errlen);
struct rag_embedder *rag_openai_open(const json_t *config, char *err,
				     size_t errlen);

/* Hex FNV-1a 64 of bytes (content hashes, model checksums). */
void rag_fnv_hex(const void *p, size_t n, char out[17]);
uint64_t rag_fnv64(uint64_t h, const void *p, size_t n);

/* ---- store internals shared with rag_index.c ---- */

struct rag_matrix; /* rag_index.c */

struct rag_coll {
	int64_t id;
	char name[RAG_MAX_NAME + 1];
	int dims;
	enum rag_metric metric;
	json_t *config; /* embedder config */
	char checksum[32];
	struct rag_embedder *emb; /* opened lazily */
	struct rag_matrix *mx;	  /* loaded lazily */
};

enum rag_stmt_id {
	ST_COLL_BY_NAME,
	ST_COLL_INSERT,
	ST_COLL_BUMP,
	ST_DOC_FIND,
	ST_DOC_INSERT,
	ST_DOC_DELETE,
	ST_CHUNK_INSERT,
	ST_CHUNK_DELETE_DOC,
	ST_VEC_INSERT,
	ST_VEC_DELETE_DOC,
	ST_FTS_DELETE_DOC,
	ST_CHUNK_GET,
	ST_BM25,
	ST_MX_LOAD,
	ST_MX_DOCS,
	ST_COLL_GEN,
	ST_DATA_VERSION,
	ST_DOCS_OF_COLL,
	ST_DOC_SET_META,
	ST_COUNT
};

struct rag_db {
	sqlite3 *sql;
	sqlite3_stmt *st[ST_COUNT];
	unsigned flags;
	pthread_mutex_t lock; /* serializes everything on this handle */
	struct rag_coll **colls;
	size_t ncolls;
	int64_t data_version;
	/* batching of concurrent searches (rag_index.c) */
	pthread_mutex_t qlock;
	pthread_cond_t qcond;
	struct rag_pending *pending;
	int running;
};

/* Returns the cached statement id, reset and with bindings cleared, or
 * NULL with err. */
sqlite3_stmt *rag_stmt(rag_db *db, enum rag_stmt_id id, char *err,
		       size_t errlen);
/* Finds a collection by name (loading it from the file); NULL with err. */
struct rag_coll *rag_coll_get(rag_db *db, const char *name, char *err,
			      size_t errlen);
/* Opens (once) the collection's embedder; NULL with err. */
struct rag_embedder *rag_coll_embedder(rag_db *db, struct rag_coll *c,
				       char *err, size_t errlen);
void rag_errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- index (rag_index.c) ---- */

/* Once per process, before any BLAS call: makes OpenBLAS use the kernels
 * the CPU supports even when a VM hides its model name. */
void rag_blas_init(void);

/* Brings the collection's matrix up to date with the file (loading only
 * rows added since the last call unless rows were deleted). Caller holds
 * db->lock. 0 or -1 with err. */
int rag_mx_sync(rag_db *db, struct rag_coll *c, char *err, size_t errlen);
void rag_mx_free(struct rag_matrix *m);
/* Marks every loaded matrix stale (after this handle wrote). */
void rag_mx_invalidate(rag_db *db);

/* One scored candidate: row of the matrix and its score. */
struct rag_cand {
	int64_t chunk_id;
	double score;
};

/* Exact top-k of nq queries (nq x dims, row-major, already embedded) over
 * the collection's matrix restricted to rows whose document passes f
 * (NULL = all). cands[i] gets up to k best candidates (malloc'd array,
 * count in ncand[i]). Caller holds db->lock; matrix synced. */
int rag_mx_topk(struct rag_coll *c, const float *q, size_t nq, size_t k,
		const struct rag_filter *const *f, int int8,
		struct rag_cand **cands, size_t *ncand, char *err,
		size_t errlen);
/* Metadata of the document owning chunk_id in the loaded matrix (borrowed;
 * NULL if unknown) for filtering BM25 results. */
const json_t *rag_mx_meta(struct rag_coll *c, int64_t chunk_id, int *known);

/* A growable buffer for a libcurl download, capped at max bytes: the
 * write callback refuses (and sets too_big) past the cap, so a server
 * cannot make us allocate more. p is NUL-terminated; the caller frees it. */
struct rag_capbuf {
	char *p;
	size_t n, max;
	int too_big;
};
size_t rag_capbuf_write(char *data, size_t sz, size_t nm, void *ud);

#endif
