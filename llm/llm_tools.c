/* The llm tool set as an mcpd module (mcpd --llm): llm_chat answers a
 * list of chat messages, from an OpenAI-compatible endpoint when
 * --llm-url is given, else in the deterministic mode; the reply comes as
 * text with the model, token counts and mode in structuredContent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "llm_int.h"
#include "zonegate/mcp.h"

struct llm_ctx {
	struct llm_endpoint ep; /* ep.url == NULL: deterministic */
};

static const char chat_in[] =
	"{\"type\":\"object\",\"properties\":{"
	"\"messages\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":64,"
	"\"items\":{\"type\":\"object\",\"properties\":{"
	"\"role\":{\"type\":\"string\","
	"\"enum\":[\"system\",\"user\",\"assistant\"]},"
	"\"content\":{\"type\":\"string\"}},"
	"\"required\":[\"role\",\"content\"],\"additionalProperties\":false}},"
	"\"max_tokens\":{\"type\":\"integer\",\"minimum\":1,"
	"\"maximum\":8192,\"default\":512}},"
	"\"required\":[\"messages\"],\"additionalProperties\":false}";

static const char chat_out[] =
	"{\"type\":\"object\",\"properties\":{"
	"\"text\":{\"type\":\"string\"},\"model\":{\"type\":\"string\"},"
	"\"mode\":{\"type\":\"string\","
	"\"enum\":[\"deterministic\",\"endpoint\"]},"
	"\"finish_reason\":{\"type\":\"string\"},"
	"\"usage\":{\"type\":\"object\",\"properties\":{"
	"\"prompt_tokens\":{\"type\":\"integer\"},"
	"\"completion_tokens\":{\"type\":\"integer\"},"
	"\"total_tokens\":{\"type\":\"integer\"}},"
	"\"required\":[\"prompt_tokens\",\"completion_tokens\","
	"\"total_tokens\"]}},"
	"\"required\":[\"text\",\"model\",\"usage\",\"mode\"]}";

/* Bad arguments are a tool error (isError), as mcpd reports arguments
 * that fail the input schema; -1 tells the handler to return it. */
static int invalid(json_t **result, const char *msg)
{
	*result = mcp_result_errorf("llm_chat: %s", msg);
	return -1;
}

/* The endpoint client's cancel check: the MCP call was cancelled. */
static int cancelled(void *call)
{
	return mcp_call_cancelled(call);
}

/* Checks the arguments (the schema is checked before, but a handler does
 * not trust it) and fills msgs; 0, or -1 with the tool error in *result
 * (NULL if out of memory). */
static int read_args(json_t *args, struct llm_msg *msgs, size_t *n,
		     long *max_tokens, json_t **result)
{
	json_t *arr = json_object_get(args, "messages"),
	       *mt = json_object_get(args, "max_tokens");
	size_t total = 0;

	if (!json_is_array(arr) || json_array_size(arr) < 1 ||
	    json_array_size(arr) > LLM_MAX_MESSAGES)
		return invalid(result, "\"messages\" must be an array "
				     "of 1..64 messages");
	*n = json_array_size(arr);
	for (size_t i = 0; i < *n; i++) {
		json_t *m = json_array_get(arr, i),
		       *c = json_object_get(m, "content");
		const char *r = json_string_value(json_object_get(m, "role"));
		if (!r || (strcmp(r, "system") && strcmp(r, "user") &&
			   strcmp(r, "assistant")))
			return invalid(result, "each message's "
					     "\"role\" must be system, user "
					     "or assistant");
		if (!json_is_string(c) ||
		    memchr(json_string_value(c), '\0', json_string_length(c)))
			return invalid(result, "each message's "
					     "\"content\" must be a string "
					     "without NUL");
		msgs[i] = (struct llm_msg){ r, json_string_value(c),
					    json_string_length(c) };
		total += msgs[i].len;
		if (total > LLM_MAX_INPUT)
			return invalid(result, "the messages hold "
					     "more than 1048576 bytes");
	}
	*max_tokens = LLM_DEFAULT_MAX_TOKENS;
	if (mt && (!json_is_integer(mt) || json_integer_value(mt) < 1 ||
		   json_integer_value(mt) > LLM_MAX_TOKENS))
		return invalid(result, "\"max_tokens\" must be an "
				     "integer 1..8192");
	if (mt)
		*max_tokens = (long)json_integer_value(mt);
	return 0;
}

/* The structuredContent of a reply; NULL when out of memory. */
static json_t *reply_json(const struct llm_reply *r, const char *mode)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:{s:I, s:I, s:I}}", "text",
			 r->text, "model", r->model, "mode", mode,
			 "finish_reason", r->finish, "usage", "prompt_tokens",
			 (json_int_t)r->prompt_tokens, "completion_tokens",
			 (json_int_t)r->completion_tokens, "total_tokens",
			 (json_int_t)r->total_tokens);
}

/* tools/call llm_chat: the reply, or a tool error saying why not. */
static int tool_chat(mcp_call *call, json_t *args, void *ud, json_t **result)
{
	struct llm_ctx *c = ud;
	struct llm_msg msgs[LLM_MAX_MESSAGES];
	struct llm_reply r = { 0 };
	const char *mode = c->ep.url ? "endpoint" : "deterministic";
	char err[768];
	size_t n = 0;
	long max_tokens;
	int rc = read_args(args, msgs, &n, &max_tokens, result);

	if (rc)
		return *result ? 0 : MCP_ERR_INTERNAL;
	rc = c->ep.url ? llm_endpoint_chat(&c->ep, msgs, n, max_tokens,
					   cancelled, call, &r, err,
					   sizeof(err))
		       : llm_det_chat(msgs, n, max_tokens, &r, err,
				      sizeof(err));
	if (rc != 0) {
		*result = mcp_result_errorf("llm_chat: %s", err);
		return *result ? 0 : MCP_ERR_INTERNAL;
	}
	*result = mcp_result_text(r.text);
	if (*result &&
	    json_object_set_new(*result, "structuredContent",
				reply_json(&r, mode)) != 0) {
		json_decref(*result);
		*result = NULL;
	}
	llm_reply_free(&r);
	if (!*result) {
		mcp_call_error(call, MCP_ERR_INTERNAL, "out of memory", NULL);
		return MCP_ERR_INTERNAL;
	}
	return 0;
}

/* Parses a decimal option value in [min, max]. */
static int num(const char *name, const char *v, long min, long max, long *out,
	       char *err, size_t errlen)
{
	char *end;
	long x = strtol(v, &end, 10);

	if (end == v || *end || x < min || x > max) {
		snprintf(err, errlen, "--%s: expected %ld..%ld, got '%.32s'",
			 name, min, max, v);
		return -1;
	}
	*out = x;
	return 0;
}

/* Applies one --llm-* option (name without dashes) to c. */
static int apply(struct llm_ctx *c, const char *name, const char *v,
		 const char **url, const char **key_file, char *err,
		 size_t errlen)
{
	struct llm_endpoint *e = &c->ep;
	long x;

	if (!strcmp(name, "llm-url")) {
		*url = v;
	} else if (!strcmp(name, "llm-key-file")) {
		*key_file = v;
	} else if (!strcmp(name, "llm-model")) {
		free(e->model);
		e->model = strdup(v);
		if (!e->model || !*v || strlen(v) > 256) {
			snprintf(err, errlen, "--llm-model: 1..256 bytes");
			return -1;
		}
	} else if (!strcmp(name, "llm-proxy")) {
		/* a sandboxed zone's egress: SOCKS5 on a unix socket, names
		 * resolved by the proxy outside the zone (docs/zones.md) */
		size_t n = strlen(v);

		free(e->proxy);
		e->proxy = NULL;
		if (v[0] != '/' || n > 200) {
			snprintf(err, errlen, "--llm-proxy: an absolute unix "
					      "socket path of at most 200 bytes");
			return -1;
		}
		e->proxy = malloc(n + sizeof("socks5h://localhost"));
		if (!e->proxy) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		memcpy(e->proxy, "socks5h://localhost", 19);
		memcpy(e->proxy + 19, v, n + 1);
	} else if (!strcmp(name, "llm-timeout")) {
		if (num(name, v, 1, 600, &x, err, errlen))
			return -1;
		e->timeout_ms = x * 1000;
	} else if (!strcmp(name, "llm-connect-timeout")) {
		if (num(name, v, 1, 120, &x, err, errlen))
			return -1;
		e->connect_timeout_ms = x * 1000;
	} else if (!strcmp(name, "llm-retries")) {
		if (num(name, v, 0, 5, &x, err, errlen))
			return -1;
		e->retries = (int)x;
	} else if (!strcmp(name, "llm-backoff-ms")) {
		if (num(name, v, 10, 10000, &x, err, errlen))
			return -1;
		e->backoff_ms = x;
	} else if (!strcmp(name, "llm-max-response")) {
		if (num(name, v, 1024, 16L << 20, &x, err, errlen))
			return -1;
		e->max_response = (size_t)x;
	} else {
		snprintf(err, errlen, "unknown option --%s", name);
		return -1;
	}
	return 0;
}

/* Applies the options and, with --llm-url, reads the key and sets up
 * libcurl. 0, or -1 with err (never holding the key). */
static int configure(struct llm_ctx *c, const char *const *opts, char *err,
		     size_t errlen)
{
	const char *url = NULL, *key_file = NULL;

	c->ep.timeout_ms = 120 * 1000L;
	c->ep.connect_timeout_ms = 10 * 1000L;
	c->ep.retries = 2;
	c->ep.backoff_ms = 500;
	c->ep.max_response = LLM_MAX_RESPONSE;
	for (size_t i = 0; opts && opts[i] && opts[i + 1]; i += 2)
		if (apply(c, opts[i], opts[i + 1], &url, &key_file, err,
			  errlen) != 0)
			return -1;
	if (!url && (key_file || c->ep.model || c->ep.proxy)) {
		snprintf(err, errlen, "--llm-model, --llm-key-file and "
				      "--llm-proxy need --llm-url");
		return -1;
	}
	if (!url)
		return 0;
	if (!c->ep.model) {
		snprintf(err, errlen, "--llm-url needs --llm-model");
		return -1;
	}
	if (key_file && llm_endpoint_read_key(&c->ep, key_file, err,
					      errlen) != 0)
		return -1;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "libcurl initialisation failed");
		return -1;
	}
	return llm_endpoint_set_base(&c->ep, url, err, errlen);
}

/* Frees the context of llm_chat (mcp_server_on_free). */
static void ctx_free(void *arg)
{
	struct llm_ctx *c = arg;

	llm_endpoint_free(&c->ep);
	free(c);
}

/* opts: NULL-terminated pairs of option name ("llm-url", ...) and value,
 * as mcpd collected them from its command line. The context lives as long
 * as the server that uses it, which frees it. */
LLM_EXPORT int llm_tools_register(mcp_server *srv, const char *const *opts,
				  char *err, size_t errlen)
{
	struct llm_ctx *c = calloc(1, sizeof(*c));
	struct mcp_tool t = {
		.name = "llm_chat",
		.title = "Chat with the zone's language model",
		.description =
			"Answers a list of chat messages (system, user, "
			"assistant) with the configured model's reply. "
			"Without a configured endpoint it runs a "
			"deterministic mode: the system message names a task "
			"(task: question:cve, question:kb, answer, report) "
			"and the reply is built only from the given text.",
		.input_schema = chat_in,
		.output_schema = chat_out,
		.annotations = "{\"readOnlyHint\":true,"
			       "\"openWorldHint\":true}",
		.fn = tool_chat,
		.ud = c,
	};

	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (configure(c, opts, err, errlen) != 0 ||
	    mcp_server_add_tool(srv, &t, err, errlen) != 0) {
		llm_endpoint_free(&c->ep);
		free(c);
		return -1;
	}
	if (mcp_server_on_free(srv, ctx_free, c) != 0)
		fprintf(stderr, "mcpd: llm_chat: no room for a cleanup; the "
				"context stays until exit\n");
	fprintf(stderr, "mcpd: llm_chat: %s%s%s\n",
		c->ep.url ? "endpoint mode, model " : "deterministic mode",
		c->ep.url ? c->ep.model : "", c->ep.key ? ", bearer key set" : "");
	return 0;
}
