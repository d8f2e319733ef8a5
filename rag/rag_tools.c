/* The RAG store as MCP tools and resources for mcpd: rag_search is
 * read-only; rag_ingest and rag_delete are separately named write tools,
 * registered only when enabled, so policy can grant read without write.
 * Resources list the collections and the documents of each. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rag_int.h"
#include "zonegate/mcp.h"

#define TOOL_MAX_K 50
#define TEXT_PREVIEW 1200

static const char search_in[] =
	"{\"type\":\"object\",\"properties\":{"
	"\"query\":{\"type\":\"string\",\"maxLength\":8192,"
	"\"description\":\"what to look for, in natural language or keywords\"},"
	"\"k\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":50,\"default\":5},"
	"\"collection\":{\"type\":\"string\",\"description\":\"default: default\"},"
	"\"mode\":{\"type\":\"string\",\"enum\":[\"hybrid\",\"vector\",\"bm25\"],"
	"\"default\":\"hybrid\"},"
	"\"where\":{\"type\":\"object\",\"description\":\"metadata filter: "
	"{\\\"dir\\\":\\\"man7\\\"}, operators $eq $ne $gt $gte $lt $lte $in $nin "
	"$prefix $and $or\"}},"
	"\"required\":[\"query\"],\"additionalProperties\":false}";

static const char search_out[] =
	"{\"type\":\"object\",\"properties\":{\"results\":{\"type\":\"array\","
	"\"items\":{\"type\":\"object\",\"properties\":{"
	"\"source\":{\"type\":\"string\"},\"chunk\":{\"type\":\"integer\"},"
	"\"score\":{\"type\":\"number\"},\"text\":{\"type\":\"string\"},"
	"\"metadata\":{\"type\":\"object\"}},"
	"\"required\":[\"source\",\"chunk\",\"score\",\"text\",\"metadata\"]}}},"
	"\"required\":[\"results\"]}";

static const char ingest_in[] =
	"{\"type\":\"object\",\"properties\":{"
	"\"source\":{\"type\":\"string\",\"maxLength\":4096},"
	"\"text\":{\"type\":\"string\"},"
	"\"collection\":{\"type\":\"string\"},"
	"\"metadata\":{\"type\":\"object\"}},"
	"\"required\":[\"source\",\"text\"],\"additionalProperties\":false}";

static const char delete_in[] =
	"{\"type\":\"object\",\"properties\":{"
	"\"source\":{\"type\":\"string\"},\"where\":{\"type\":\"object\"},"
	"\"collection\":{\"type\":\"string\"}},\"additionalProperties\":false}";

/* Optional string argument; 0 ok (NULL if absent), -1 if not a string. */
static int opt_str(json_t *args, const char *k, const char **out)
{
	json_t *v = json_object_get(args, k);
	*out = json_string_value(v);
	return v && !json_is_string(v) ? -1 : 0;
}

static int invalid(mcp_call *call, const char *msg)
{
	mcp_call_error(call, MCP_ERR_INVALID_PARAMS, msg, NULL);
	return MCP_ERR_INVALID_PARAMS;
}

/* The human-readable rendering of results. */
static char *results_text(const struct rag_results *r)
{
	size_t cap = 256, o = 0, i;
	char *s = malloc(cap);

	if (!s)
		return NULL;
	s[0] = '\0';
	for (i = 0; i < r->n; i++) {
		const struct rag_hit *h = &r->hits[i];
		size_t need = strlen(h->source) + TEXT_PREVIEW + 96;
		char *ns;
		int w;
		if (o + need > cap) {
			cap = (o + need) * 2;
			ns = realloc(s, cap);
			if (!ns) {
				free(s);
				return NULL;
			}
			s = ns;
		}
		w = snprintf(s + o, cap - o,
			     "[%zu] %s #%lld (score %.4f)\n%.*s\n\n", i + 1,
			     h->source, (long long)h->chunk, h->score,
			     TEXT_PREVIEW, h->text);
		if (w > 0)
			o += (size_t)w < cap - o ? (size_t)w : cap - o - 1;
	}
	if (r->n == 0)
		snprintf(s, cap, "No results.");
	return s;
}

static int parse_search_args(mcp_call *call, json_t *args, struct rag_query *q,
			     char **where)
{
	json_t *k = json_object_get(args, "k"),
	       *w = json_object_get(args, "where");
	const char *mode;

	*where = NULL;
	q->text = json_string_value(json_object_get(args, "query"));
	if (!q->text)
		return invalid(call, "rag_search: \"query\" must be a string");
	if (k && (!json_is_integer(k) || json_integer_value(k) < 1 ||
		  json_integer_value(k) > TOOL_MAX_K))
		return invalid(call,
			       "rag_search: \"k\" must be an integer 1..50");
	q->k = k ? (size_t)json_integer_value(k) : 5;
	if (opt_str(args, "collection", &q->collection) < 0 ||
	    opt_str(args, "mode", &mode) < 0 || rag_mode_parse(mode) < 0)
		return invalid(call,
			       "rag_search: \"collection\" must be a string"
			       " and \"mode\" one of hybrid, vector, bm25");
	q->mode = (enum rag_mode)rag_mode_parse(mode);
	if (w && !json_is_object(w))
		return invalid(call, "rag_search: \"where\" must be an object");
	if (w) {
		*where = json_dumps(w, JSON_COMPACT);
		if (!*where)
			return invalid(call, "rag_search: bad \"where\"");
		q->where_json = *where;
	}
	return 0;
}

static int tool_search(mcp_call *call, json_t *args, void *ud, json_t **result)
{
	struct rag_query q = { 0 };
	struct rag_results r = { 0 };
	char err[512], *where = NULL, *text = NULL;
	json_t *res = NULL;
	int rc;

	rc = parse_search_args(call, args, &q, &where);
	if (rc)
		goto out;
	if (rag_search(ud, &q, &r, err, sizeof(err)) < 0) {
		*result = mcp_result_errorf("rag_search: %s", err);
		rc = *result ? 0 : MCP_ERR_INTERNAL;
		goto out;
	}
	text = results_text(&r);
	res = text ? mcp_result_text(text) : NULL;
	if (!res || json_object_set_new(res, "structuredContent",
					rag_results_json(&r)) < 0) {
		mcp_call_error(call, MCP_ERR_INTERNAL, "out of memory", NULL);
		rc = MCP_ERR_INTERNAL;
		goto out;
	}
	*result = res;
	res = NULL;
out:
	json_decref(res);
	rag_results_free(&r);
	free(where);
	free(text);
	return rc;
}

static int tool_ingest(mcp_call *call, json_t *args, void *ud, json_t **result)
{
	const char *source = json_string_value(json_object_get(args, "source"));
	json_t *text = json_object_get(args, "text");
	json_t *meta = json_object_get(args, "metadata");
	struct rag_ingest_result r;
	const char *coll;
	char err[512], *mt = NULL;
	int rc = 0;

	if (!source || !json_is_string(text) ||
	    opt_str(args, "collection", &coll) < 0 ||
	    (meta && !json_is_object(meta)))
		return invalid(call, "rag_ingest: needs string \"source\" and"
				     " \"text\", optional \"collection\" and"
				     " object \"metadata\"");
	mt = meta ? json_dumps(meta, JSON_COMPACT) : NULL;
	if (rag_collection_ensure(ud, coll, NULL, err, sizeof(err)) < 0 ||
	    rag_ingest_text(ud, coll, source, json_string_value(text),
			    json_string_length(text), mt, NULL, &r, err,
			    sizeof(err)) < 0) {
		*result = mcp_result_errorf("rag_ingest: %s", err);
	} else {
		*result = mcp_result_text(r.added ? "stored" : "unchanged");
		if (*result)
			json_object_set_new(*result, "structuredContent",
					    json_pack("{s:b, s:I}", "added",
						      r.added, "chunks",
						      (json_int_t)r.chunks));
	}
	if (!*result)
		rc = MCP_ERR_INTERNAL;
	free(mt);
	return rc;
}

static int tool_delete(mcp_call *call, json_t *args, void *ud, json_t **result)
{
	json_t *w = json_object_get(args, "where");
	const char *source, *coll;
	char err[512], *where = NULL;
	int64_t n = 0;

	if (opt_str(args, "source", &source) < 0 ||
	    opt_str(args, "collection", &coll) < 0 || (w && !json_is_object(w)))
		return invalid(call, "rag_delete: needs string \"source\" or"
				     " object \"where\"");
	where = w ? json_dumps(w, JSON_COMPACT) : NULL;
	if (rag_delete(ud, coll, source, where, &n, err, sizeof(err)) < 0) {
		*result = mcp_result_errorf("rag_delete: %s", err);
	} else {
		char msg[64];
		snprintf(msg, sizeof(msg), "deleted %lld documents",
			 (long long)n);
		*result = mcp_result_text(msg);
		if (*result)
			json_object_set_new(*result, "structuredContent",
					    json_pack("{s:I}", "deleted",
						      (json_int_t)n));
	}
	free(where);
	return *result ? 0 : MCP_ERR_INTERNAL;
}

/* ---- resources ---- */

static int contents(const char *uri, json_t *j, json_t **result)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!s)
		return MCP_ERR_INTERNAL;
	*result = json_pack("[{s:s, s:s, s:s}]", "uri", uri, "mimeType",
			    "application/json", "text", s);
	free(s);
	return *result ? 0 : MCP_ERR_INTERNAL;
}

static int res_collections(mcp_call *call, const char *uri, void *ud,
			   json_t **result)
{
	char err[256];
	json_t *j = rag_collections(ud, err, sizeof(err));
	if (!j) {
		mcp_call_error(call, MCP_ERR_INTERNAL, err, NULL);
		return MCP_ERR_INTERNAL;
	}
	return contents(uri, j, result);
}

#define DOCS_PREFIX "rag://collections/"
#define DOCS_SUFFIX "/documents"

static int res_documents(mcp_call *call, const char *uri, void *ud,
			 json_t **result)
{
	size_t pl = strlen(DOCS_PREFIX), sl = strlen(DOCS_SUFFIX),
	       ul = strlen(uri);
	char name[RAG_MAX_NAME + 1], err[256];
	json_t *j;

	if (ul <= pl + sl || ul - pl - sl > RAG_MAX_NAME ||
	    strncmp(uri, DOCS_PREFIX, pl) != 0 ||
	    strcmp(uri + ul - sl, DOCS_SUFFIX) != 0)
		goto notfound;
	snprintf(name, sizeof(name), "%.*s", (int)(ul - pl - sl), uri + pl);
	j = rag_documents(ud, name, 0, 1000, err, sizeof(err));
	if (!j)
		goto notfound;
	if (json_array_size(j) == 0) {
		json_t *c = rag_collections(ud, err, sizeof(err));
		size_t i, found = 0;
		for (i = 0; i < json_array_size(c); i++)
			found |= strcmp(json_string_value(json_object_get(
						json_array_get(c, i), "name")),
					name) == 0;
		json_decref(c);
		if (!found) {
			json_decref(j);
			goto notfound;
		}
	}
	return contents(uri, j, result);
notfound:
	mcp_call_error(call, MCP_ERR_RESOURCE_NOT_FOUND, "no such collection",
		       NULL);
	return MCP_ERR_RESOURCE_NOT_FOUND;
}

static int add_write_tools(mcp_server *srv, rag_db *db, char *err,
			   size_t errlen)
{
	struct mcp_tool ti = {
		.name = "rag_ingest",
		.title = "Add a document to the knowledge base",
		.description =
			"Stores text as a document (chunked, embedded and "
			"indexed) under a source name; the same source "
			"with the same text adds nothing. Write access.",
		.input_schema = ingest_in,
		.annotations =
			"{\"readOnlyHint\":false,\"destructiveHint\":false,"
			"\"idempotentHint\":true,\"openWorldHint\":false}",
		.fn = tool_ingest,
		.ud = db,
	};
	struct mcp_tool td = {
		.name = "rag_delete",
		.title = "Delete documents from the knowledge base",
		.description = "Deletes the documents of a collection by exact "
			       "source or by metadata filter. Write access.",
		.input_schema = delete_in,
		.annotations =
			"{\"readOnlyHint\":false,\"destructiveHint\":true,"
			"\"idempotentHint\":true,\"openWorldHint\":false}",
		.fn = tool_delete,
		.ud = db,
	};
	if (mcp_server_add_tool(srv, &ti, err, errlen) != 0)
		return -1;
	return mcp_server_add_tool(srv, &td, err, errlen);
}

static int add_resources(mcp_server *srv, rag_db *db, char *err, size_t errlen)
{
	struct mcp_resource rc = {
		.uri = "rag://collections",
		.name = "collections",
		.title = "RAG collections",
		.description = "The knowledge base's collections: embedder, "
			       "dimensions, document and chunk counts.",
		.mime_type = "application/json",
		.fn = res_collections,
		.ud = db,
	};
	struct mcp_resource rd = {
		.uri = "rag://collections/{collection}/documents",
		.name = "documents",
		.title = "Documents of a RAG collection",
		.description =
			"Sources, hashes, metadata and sizes of the first "
			"1000 documents of a collection.",
		.mime_type = "application/json",
		.fn = res_documents,
		.ud = db,
	};
	if (mcp_server_add_resource(srv, &rc, err, errlen) != 0)
		return -1;
	return mcp_server_add_resource_template(srv, &rd, err, errlen);
}

/* Closes the store of the RAG tools (mcp_server_on_free). */
static void db_close(void *arg)
{
	rag_close(arg);
}

RAG_EXPORT int rag_tools_register(struct mcp_server *srv, const char *db_path,
				  int enable_write, char *err, size_t errlen)
{
	struct mcp_tool ts = {
		.name = "rag_search",
		.title = "Search the knowledge base",
		.description =
			"Searches the tool zone's knowledge base (e.g. Linux "
			"man pages and notes on container isolation) and "
			"returns the best matching passages with their "
			"source. Modes: hybrid (default: vector + BM25), "
			"vector, bm25. Read-only.",
		.input_schema = search_in,
		.output_schema = search_out,
		.annotations = "{\"readOnlyHint\":true,\"idempotentHint\":true,"
			       "\"openWorldHint\":false}",
		.fn = tool_search,
	};
	rag_db *db = rag_open(db_path, enable_write ? 0 : RAG_OPEN_READONLY,
			      err, errlen);

	if (!db)
		return -1;
	ts.ud = db;
	if (mcp_server_add_tool(srv, &ts, err, errlen) != 0 ||
	    add_resources(srv, db, err, errlen) != 0 ||
	    (enable_write && add_write_tools(srv, db, err, errlen) != 0)) {
		rag_close(db);
		return -1;
	}
	/* db lives as long as the server that uses it, which closes it */
	if (mcp_server_on_free(srv, db_close, db) != 0)
		fprintf(stderr, "mcpd: rag: no room for a cleanup; the store "
				"stays open until exit\n");
	return 0;
}
