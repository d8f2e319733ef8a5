/* Read-only views of the store as JSON: the collections, the documents of
 * one collection, and whole-file statistics (for ragctl list/stats and the
 * MCP resources). These run rarely, so they prepare statements per call. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rag_int.h"

/* Runs sql with up to two bindings (text a, int64 b) and appends one
 * object per row, built from the column names, to arr. */
static int rows_json(rag_db *db, const char *sql, const char *a, int64_t b,
		     int64_t c, json_t *arr, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc, i;

	if (sqlite3_prepare_v2(db->sql, sql, -1, &st, NULL) != SQLITE_OK)
		goto fail;
	if (a)
		sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, b);
	sqlite3_bind_int64(st, 3, c);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *o = json_object();
		for (i = 0; o && i < sqlite3_column_count(st); i++) {
			const char *name = sqlite3_column_name(st, i);
			json_t *v;
			switch (sqlite3_column_type(st, i)) {
			case SQLITE_INTEGER:
				v = json_integer(sqlite3_column_int64(st, i));
				break;
			case SQLITE_FLOAT:
				v = json_real(sqlite3_column_double(st, i));
				break;
			case SQLITE_NULL:
				v = json_null();
				break;
			default:
				v = json_string(
					(const char *)sqlite3_column_text(st,
									  i));
			}
			if (strcmp(name, "metadata") == 0 &&
			    json_is_string(v)) {
				json_t *m = json_loads(json_string_value(v), 0,
						       NULL);
				json_decref(v);
				v = m ? m : json_object();
			}
			json_object_set_new(o, name, v);
		}
		if (!o || json_array_append_new(arr, o) < 0) {
			rag_errf(err, errlen, "out of memory");
			sqlite3_finalize(st);
			return -1;
		}
	}
	if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	return 0;
fail:
	rag_errf(err, errlen, "sqlite: %s", sqlite3_errmsg(db->sql));
	sqlite3_finalize(st);
	return -1;
}

RAG_EXPORT json_t *rag_collections(rag_db *db, char *err, size_t errlen)
{
	static const char sql[] =
		"SELECT c.name, c.embedder, c.dims, c.metric, c.checksum,"
		" (SELECT count(*) FROM documents d WHERE d.collection_id = c.id)"
		"   AS documents,"
		" (SELECT count(*) FROM chunks k JOIN documents d"
		"   ON d.id = k.doc_id WHERE d.collection_id = c.id) AS chunks,"
		" (SELECT coalesce(sum(bytes), 0) FROM documents d"
		"   WHERE d.collection_id = c.id) AS bytes"
		" FROM collections c ORDER BY c.name";
	json_t *arr = json_array();

	if (!arr)
		return NULL;
	pthread_mutex_lock(&db->lock);
	if (rows_json(db, sql, NULL, 0, 0, arr, err, errlen) < 0) {
		json_decref(arr);
		arr = NULL;
	}
	pthread_mutex_unlock(&db->lock);
	return arr;
}

RAG_EXPORT json_t *rag_documents(rag_db *db, const char *collection,
				 size_t offset, size_t limit, char *err,
				 size_t errlen)
{
	static const char sql[] =
		"SELECT d.source, d.hash, d.metadata, d.bytes, d.updated,"
		" (SELECT count(*) FROM chunks k WHERE k.doc_id = d.id) AS chunks"
		" FROM documents d JOIN collections c ON c.id = d.collection_id"
		" WHERE c.name = ?1 ORDER BY d.source LIMIT ?3 OFFSET ?2";
	json_t *arr = json_array();

	if (!arr)
		return NULL;
	if (limit > 100000)
		limit = 100000;
	pthread_mutex_lock(&db->lock);
	if (rows_json(db, sql, collection ? collection : RAG_DEFAULT_COLLECTION,
		      (int64_t)offset, (int64_t)limit, arr, err, errlen) < 0) {
		json_decref(arr);
		arr = NULL;
	}
	pthread_mutex_unlock(&db->lock);
	return arr;
}

/* One integer from a query (no bindings); -1 on error. */
static int64_t scalar(rag_db *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -1;
	if (sqlite3_prepare_v2(db->sql, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

RAG_EXPORT json_t *rag_stats(rag_db *db, char *err, size_t errlen)
{
	json_t *o, *colls = rag_collections(db, err, errlen);
	int64_t pages, psize, freel;

	if (!colls)
		return NULL;
	pthread_mutex_lock(&db->lock);
	pages = scalar(db, "PRAGMA page_count");
	psize = scalar(db, "PRAGMA page_size");
	freel = scalar(db, "PRAGMA freelist_count");
	o = json_pack("{s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:o}",
		      "schema_version", rag_schema_version(), "documents",
		      (json_int_t)scalar(db, "SELECT count(*) FROM documents"),
		      "chunks",
		      (json_int_t)scalar(db, "SELECT count(*) FROM chunks"),
		      "vectors",
		      (json_int_t)scalar(db, "SELECT count(*) FROM vectors"),
		      "file_bytes", (json_int_t)(pages * psize), "free_bytes",
		      (json_int_t)(freel * psize), "text_bytes",
		      (json_int_t)scalar(
			      db,
			      "SELECT coalesce(sum(bytes),0) FROM documents"),
		      "collections", colls);
	pthread_mutex_unlock(&db->lock);
	if (!o)
		rag_errf(err, errlen, "out of memory");
	return o;
}
