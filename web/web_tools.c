/* The web tool set as an mcpd module (mcpd --web): web_fetch turns a URL
 * into readable text, web_search asks the configured search backend; both
 * answer with text and structuredContent, and every request they make
 * passes the egress control of web_addr.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "web_int.h"
#include "zonegate/mcp.h"

#define MAX_BYTES_CAP (32u << 20)
#define TIMEOUT_CAP_S 300

struct web_ctx {
	struct web_policy policy;
	struct web_limits lim;
	struct web_backend backend;
};

static const char fetch_in[] =
	"{\"type\":\"object\",\"properties\":{"
	"\"url\":{\"type\":\"string\",\"maxLength\":4095,"
	"\"description\":\"an http or https URL\"}},"
	"\"required\":[\"url\"],\"additionalProperties\":false}";

static const char fetch_out[] =
	"{\"type\":\"object\",\"properties\":{"
	"\"url\":{\"type\":\"string\"},\"final_url\":{\"type\":\"string\"},"
	"\"status\":{\"type\":\"integer\"},"
	"\"content_type\":{\"type\":\"string\"},"
	"\"charset\":{\"type\":\"string\"},\"title\":{\"type\":\"string\"},"
	"\"text\":{\"type\":\"string\"},\"truncated\":{\"type\":\"boolean\"},"
	"\"redirects\":{\"type\":\"integer\"}},"
	"\"required\":[\"url\",\"final_url\",\"status\",\"content_type\","
	"\"charset\",\"text\",\"truncated\",\"redirects\"]}";

static const char search_in[] =
	"{\"type\":\"object\",\"properties\":{"
	"\"query\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":1024},"
	"\"count\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":20,"
	"\"default\":5}},"
	"\"required\":[\"query\"],\"additionalProperties\":false}";

static const char search_out[] =
	"{\"type\":\"object\",\"properties\":{"
	"\"query\":{\"type\":\"string\"},"
	"\"results\":{\"type\":\"array\",\"items\":{\"type\":\"object\","
	"\"properties\":{\"title\":{\"type\":\"string\"},"
	"\"url\":{\"type\":\"string\"},\"snippet\":{\"type\":\"string\"},"
	"\"date\":{\"type\":\"string\"}},"
	"\"required\":[\"title\",\"url\",\"snippet\"]}}},"
	"\"required\":[\"query\",\"results\"]}";

static int invalid(mcp_call *call, const char *msg)
{
	mcp_call_error(call, MCP_ERR_INVALID_PARAMS, msg, NULL);
	return MCP_ERR_INVALID_PARAMS;
}

/* The text rendering: title, final URL, then the page's text. */
static char *page_text(const struct web_page *pg, const char *url)
{
	size_t need = pg->len + strlen(url) + 64 +
		      (pg->title ? strlen(pg->title) : 0);
	char *s = malloc(need);

	if (s &&
	    snprintf(s, need, "%s%s%sURL: %s\n\n%s", pg->title ? "Title: " : "",
		     pg->title ? pg->title : "", pg->title ? "\n" : "", url,
		     pg->text) < 0) {
		free(s);
		s = NULL;
	}
	return s;
}

static json_t *page_json(const char *url, const struct web_response *r,
			 const struct web_page *pg)
{
	json_t *j = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:b, s:i}", "url",
			      url, "final_url", r->final_url, "status",
			      (json_int_t)r->status, "content_type", r->ctype,
			      "charset", pg->charset, "text", pg->text,
			      "truncated", pg->truncated, "redirects",
			      r->redirects);
	if (j && pg->title)
		json_object_set_new(j, "title", json_string(pg->title));
	return j;
}

static int cancelled(void *call)
{
	return mcp_call_cancelled(call);
}

static int tool_fetch(mcp_call *call, json_t *args, void *ud, json_t **result)
{
	struct web_ctx *c = ud;
	const char *url = json_string_value(json_object_get(args, "url"));
	struct web_limits lim = c->lim;
	struct web_response r;
	struct web_page pg = { 0 };
	char err[768], *text = NULL;
	json_t *res = NULL;

	if (!url)
		return invalid(call, "web_fetch: \"url\" must be a string");
	lim.cancel = cancelled;
	lim.cancel_ud = call;
	if (web_get(&c->policy, &lim, url, NULL, &r, err, sizeof(err)) != 0 ||
	    web_page_decode(r.ctype, r.body.p ? r.body.p : "", r.body.n, &pg,
			    err, sizeof(err)) != 0) {
		*result = mcp_result_errorf("web_fetch: %s", err);
		goto out;
	}
	text = page_text(&pg, r.final_url);
	res = text ? mcp_result_text(text) : NULL;
	if (res && json_object_set_new(res, "structuredContent",
				       page_json(url, &r, &pg)) == 0) {
		*result = res;
		res = NULL;
	}
out:
	json_decref(res);
	free(r.body.p);
	free(text);
	web_page_free(&pg);
	if (!*result) {
		mcp_call_error(call, MCP_ERR_INTERNAL, "out of memory", NULL);
		return MCP_ERR_INTERNAL;
	}
	return 0;
}

static char *results_text(const char *query, json_t *hits)
{
	size_t cap = 256, i;
	char *s;
	FILE *f = open_memstream(&s, &cap);

	if (!f)
		return NULL;
	if (json_array_size(hits) == 0)
		fprintf(f, "No results for \"%s\".", query);
	for (i = 0; i < json_array_size(hits); i++) {
		json_t *h = json_array_get(hits, i);
		const char *d = json_string_value(json_object_get(h, "date"));
		fprintf(f, "[%zu] %s\n%s\n%s%s%s%s\n\n", i + 1,
			json_string_value(json_object_get(h, "title")),
			json_string_value(json_object_get(h, "url")),
			d ? "(" : "", d ? d : "", d ? ") " : "",
			json_string_value(json_object_get(h, "snippet")));
	}
	if (fclose(f) != 0)
		return NULL;
	return s;
}

static int tool_search(mcp_call *call, json_t *args, void *ud, json_t **result)
{
	struct web_ctx *c = ud;
	struct web_limits lim = c->lim;
	const char *q = json_string_value(json_object_get(args, "query"));
	json_t *n = json_object_get(args, "count"), *hits;
	char err[768], *text;
	size_t count = 5;

	if (!q || !*q || strlen(q) > 1024)
		return invalid(call, "web_search: \"query\" must be a "
				     "non-empty string of at most 1024 bytes");
	if (n && (!json_is_integer(n) || json_integer_value(n) < 1 ||
		  json_integer_value(n) > WEB_MAX_COUNT))
		return invalid(call, "web_search: \"count\" must be an "
				     "integer 1..20");
	if (n)
		count = (size_t)json_integer_value(n);
	lim.cancel = cancelled;
	lim.cancel_ud = call;
	hits = web_search_run(&c->backend, &c->policy, &lim, q, count, err,
			      sizeof(err));
	if (!hits) {
		*result = mcp_result_errorf("web_search: %s", err);
		return *result ? 0 : MCP_ERR_INTERNAL;
	}
	text = results_text(q, hits);
	*result = text ? mcp_result_text(text) : NULL;
	free(text);
	if (*result)
		json_object_set_new(*result, "structuredContent",
				    json_pack("{s:s, s:o}", "query", q,
					      "results", hits));
	else
		json_decref(hits);
	return *result ? 0 : MCP_ERR_INTERNAL;
}

/* Parses a decimal option value in [min, max]. */
static int num(const char *name, const char *v, long min, long max, long *out,
	       char *err, size_t errlen)
{
	char *end;
	long x = strtol(v, &end, 10);

	if (end == v || *end || x < min || x > max) {
		snprintf(err, errlen, "--%s: expected %ld..%ld, got '%s'", name,
			 min, max, v);
		return -1;
	}
	*out = x;
	return 0;
}

/* Applies one --web-* option (name without dashes) to c. */
static int apply(struct web_ctx *c, const char *name, const char *v,
		 const char **search, const char **key_file, char *err,
		 size_t errlen)
{
	long x;

	if (!strcmp(name, "web-allow"))
		return web_policy_allow(&c->policy, v, err, errlen);
	if (!strcmp(name, "web-hosts"))
		return web_policy_hosts(&c->policy, v, err, errlen);
	if (!strcmp(name, "web-proxy"))
		return web_policy_proxy(&c->policy, v, err, errlen);
	if (!strcmp(name, "web-search"))
		*search = v;
	else if (!strcmp(name, "web-search-key-file"))
		*key_file = v;
	else if (!strcmp(name, "web-max-bytes")) {
		if (num(name, v, 1024, MAX_BYTES_CAP, &x, err, errlen))
			return -1;
		c->lim.max_bytes = (size_t)x;
	} else if (!strcmp(name, "web-timeout")) {
		if (num(name, v, 1, TIMEOUT_CAP_S, &x, err, errlen))
			return -1;
		c->lim.timeout_ms = x * 1000;
	} else if (!strcmp(name, "web-max-redirects")) {
		if (num(name, v, 0, 20, &x, err, errlen))
			return -1;
		c->lim.max_redirects = (int)x;
	} else {
		snprintf(err, errlen, "unknown option --%s", name);
		return -1;
	}
	return 0;
}

static int add_tools(mcp_server *srv, struct web_ctx *c, char *err,
		     size_t errlen)
{
	struct mcp_tool tf = {
		.name = "web_fetch",
		.title = "Fetch a web page as text",
		.description =
			"Fetches an http(s) URL and returns its readable "
			"text (HTML without scripts, styles and markup, "
			"converted to UTF-8) with its title. Private, "
			"loopback and metadata addresses are refused.",
		.input_schema = fetch_in,
		.output_schema = fetch_out,
		.annotations = "{\"readOnlyHint\":true,\"openWorldHint\":true}",
		.fn = tool_fetch,
		.ud = c,
	};
	struct mcp_tool ts = {
		.name = "web_search",
		.title = "Search the web",
		.description = "Searches the web and returns a ranked list of "
			       "results: title, URL, snippet and date when "
			       "known.",
		.input_schema = search_in,
		.output_schema = search_out,
		.annotations = "{\"readOnlyHint\":true,\"openWorldHint\":true}",
		.fn = tool_search,
		.ud = c,
	};
	if (mcp_server_add_tool(srv, &tf, err, errlen) != 0)
		return -1;
	if (c->backend.kind == WEB_SEARCH_NONE)
		return 0;
	return mcp_server_add_tool(srv, &ts, err, errlen);
}

/* Frees the context of the web tools (mcp_server_on_free). */
static void ctx_free(void *arg)
{
	struct web_ctx *c = arg;

	web_policy_free(&c->policy);
	web_backend_free(&c->backend);
	free(c);
}

/* opts: NULL-terminated pairs of option name ("web-allow", ...) and value,
 * as mcpd collected them from its command line. The context lives as long
 * as the server that uses it, which frees it. */
WEB_EXPORT int web_tools_register(mcp_server *srv, const char *const *opts,
				  char *err, size_t errlen)
{
	struct web_ctx *c = calloc(1, sizeof(*c));
	const char *search = NULL, *key_file = NULL;

	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	c->lim.max_bytes = WEB_DEFAULT_MAX_BYTES;
	c->lim.timeout_ms = WEB_DEFAULT_TIMEOUT_S * 1000L;
	c->lim.max_redirects = WEB_DEFAULT_REDIRECTS;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "libcurl initialisation failed");
		goto fail;
	}
	for (size_t i = 0; opts && opts[i] && opts[i + 1]; i += 2)
		if (apply(c, opts[i], opts[i + 1], &search, &key_file, err,
			  errlen) != 0)
			goto fail;
	if (key_file && !search) {
		snprintf(err, errlen,
			 "--web-search-key-file needs "
			 "--web-search brave");
		goto fail;
	}
	if (search &&
	    web_backend_parse(&c->backend, search, key_file, err, errlen) != 0)
		goto fail;
	if (add_tools(srv, c, err, errlen) != 0)
		goto fail;
	if (mcp_server_on_free(srv, ctx_free, c) != 0)
		fprintf(stderr, "mcpd: web tools: no room for a cleanup; "
				"the context stays until exit\n");
	return 0;
fail:
	web_policy_free(&c->policy);
	web_backend_free(&c->backend);
	free(c);
	return -1;
}
