/* Unit tests for the MCP session and registry through the public API: the
 * lifecycle, version negotiation, every list and call path, pagination,
 * errors for hostile requests, cancellation, server-to-client requests,
 * in-flight caps and freeing a session while handlers run. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mcp_internal.h"
#include "session_methods.h"
#include "zgtest.h"
#include "zonegate/mcp.h"

/* ---- capture of everything a session sends ---- */

#define CAP_MAX 256

struct capture {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	json_t *msgs[CAP_MAX];
	int n;
};

static int cap_send(void *ctx, const json_t *related, const char *msg,
		    size_t len)
{
	struct capture *c = ctx;
	json_t *j = json_loadb(msg, len, 0, NULL);

	(void)related;
	pthread_mutex_lock(&c->mu);
	if (j && c->n < CAP_MAX)
		c->msgs[c->n++] = j;
	else
		json_decref(j);
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	return 0;
}

static void cap_init(struct capture *c)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
}

static void cap_clear(struct capture *c)
{
	for (int i = 0; i < c->n; i++)
		json_decref(c->msgs[i]);
	c->n = 0;
}

/* Removes and returns the first message matching (id, or method if id is
 * negative), waiting up to ms. NULL if none came. */
static json_t *cap_take(struct capture *c, long long id, const char *method,
			int ms)
{
	struct timespec until;
	json_t *found = NULL;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&c->mu);
	for (;;) {
		for (int i = 0; i < c->n && !found; i++) {
			json_t *m = c->msgs[i];
			json_t *mid = json_object_get(m, "id");
			const char *meth =
				json_string_value(json_object_get(m, "method"));
			int hit = method ? (meth && strcmp(meth, method) == 0)
					 : (json_is_integer(mid) &&
					    json_integer_value(mid) == id &&
					    !meth);
			if (hit) {
				found = m;
				memmove(&c->msgs[i], &c->msgs[i + 1],
					(size_t)(c->n - i - 1) *
						sizeof(json_t *));
				c->n--;
			}
		}
		if (found || pthread_cond_timedwait(&c->cv, &c->mu, &until))
			break;
	}
	pthread_mutex_unlock(&c->mu);
	return found;
}

static void feed(mcp_session *s, const char *text)
{
	mcp_session_input(s, text, strlen(text));
}

/* Sends a request and returns its response (NULL on timeout). */
static json_t *call(mcp_session *s, struct capture *c, long long id,
		    const char *method, const char *params)
{
	char buf[4096];

	snprintf(buf, sizeof(buf),
		 "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"method\":\"%s\"%s%s}", id,
		 method, params ? ",\"params\":" : "", params ? params : "");
	feed(s, buf);
	return cap_take(c, id, NULL, 3000);
}

static int err_code(json_t *resp)
{
	return (int)json_integer_value(
		json_object_get(json_object_get(resp, "error"), "code"));
}

static void init(mcp_session *s, struct capture *c, const char *caps)
{
	char params[512];
	json_t *r;

	snprintf(params, sizeof(params),
		 "{\"protocolVersion\":\"2025-11-25\",\"capabilities\":%s,"
		 "\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}",
		 caps ? caps : "{}");
	r = call(s, c, 0, "initialize", params);
	CHECK(r && json_object_get(r, "result"));
	json_decref(r);
	feed(s,
	     "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
}

/* ---- fixtures ---- */

static int tool_echo(mcp_call *call, json_t *args, void *ud, json_t **result)
{
	const char *t = json_string_value(json_object_get(args, "text"));

	(void)call;
	(void)ud;
	if (!t) {
		*result = mcp_result_errorf("text is required");
		return 0;
	}
	*result = mcp_result_text(t);
	return 0;
}

static atomic_int saw_cancel;

static int tool_wait(mcp_call *call, json_t *args, void *ud, json_t **result)
{
	(void)args;
	(void)ud;
	for (int i = 0; i < 500 && !mcp_call_cancelled(call); i++)
		usleep(10000);
	if (mcp_call_cancelled(call)) {
		atomic_store(&saw_cancel, 1);
		mcp_call_error(call, MCP_ERR_REQUEST_CANCELLED, "cancelled",
			       NULL);
		return MCP_ERR_REQUEST_CANCELLED;
	}
	*result = mcp_result_text("waited");
	return 0;
}

static int tool_ask(mcp_call *call, json_t *args, void *ud, json_t **result)
{
	json_t *res = NULL;
	int rc = mcp_call_request(call, "sampling/createMessage",
				  json_pack("{s:[], s:i}", "messages",
					    "maxTokens", 5),
				  2000, &res);

	(void)args;
	(void)ud;
	if (rc != 0) {
		json_decref(res);
		*result = mcp_result_errorf("rc=%d", rc);
		return 0;
	}
	*result = mcp_result_text(
		json_string_value(json_object_get(res, "model")));
	json_decref(res);
	return 0;
}

static int tool_fail(mcp_call *call, json_t *args, void *ud, json_t **result)
{
	(void)args;
	(void)ud;
	(void)result;
	mcp_call_error(call, MCP_ERR_INVALID_PARAMS, "bad input",
		       json_pack("{s:s}", "field", "x"));
	return MCP_ERR_INVALID_PARAMS;
}

static int res_read(mcp_call *call, const char *uri, void *ud, json_t **out)
{
	json_t *vars = mcp_call_uri_vars(call);
	const char *id = json_string_value(json_object_get(vars, "id"));

	(void)ud;
	*out = json_pack("[{s:s, s:s}]", "uri", uri, "text",
			 id ? id : "static");
	return 0;
}

static int prompt_get(mcp_call *call, json_t *args, void *ud, json_t **out)
{
	(void)call;
	(void)ud;
	*out = json_pack("{s:[{s:s, s:{s:s, s:s}}]}", "messages", "role",
			 "user", "content", "type", "text", "text",
			 json_string_value(json_object_get(args, "topic")));
	return 0;
}

static mcp_server *make_server(void)
{
	struct mcp_server_info info = { "test", "1", "be nice" };
	mcp_server *srv = mcp_server_new(&info);
	char err[128];
	struct mcp_tool t = { .name = "echo",
			      .description = "echo",
			      .input_schema = "{\"type\":\"object\"}",
			      .fn = tool_echo,
			      .flags = MCP_TOOL_INLINE };
	struct mcp_resource r = { .uri = "mem://static",
				  .name = "static",
				  .fn = res_read };
	struct mcp_resource tpl = { .uri = "mem://item/{id}/body",
				    .name = "item",
				    .fn = res_read };
	struct mcp_prompt p = {
		.name = "brief",
		.description = "d",
		.arguments = "[{\"name\":\"topic\",\"required\":true}]",
		.fn = prompt_get
	};

	CHECK(mcp_server_add_tool(srv, &t, err, sizeof(err)) == 0);
	t.name = "wait";
	t.fn = tool_wait;
	t.flags = 0;
	CHECK(mcp_server_add_tool(srv, &t, err, sizeof(err)) == 0);
	t.name = "ask";
	t.fn = tool_ask;
	CHECK(mcp_server_add_tool(srv, &t, err, sizeof(err)) == 0);
	t.name = "typed";
	t.input_schema = "{\"type\":\"object\",\"properties\":{\"n\":"
			 "{\"type\":\"integer\"}},\"required\":[\"n\"]}";
	CHECK(mcp_server_add_tool(srv, &t, err, sizeof(err)) == 0);
	t.input_schema = "{\"type\":\"object\"}";
	t.name = "fail";
	t.fn = tool_fail;
	CHECK(mcp_server_add_tool(srv, &t, err, sizeof(err)) == 0);
	CHECK(mcp_server_add_resource(srv, &r, err, sizeof(err)) == 0);
	CHECK(mcp_server_add_resource_template(srv, &tpl, err, sizeof(err)) ==
	      0);
	CHECK(mcp_server_add_prompt(srv, &p, err, sizeof(err)) == 0);
	return srv;
}

/* ---- tests ---- */

static void test_registry_validation(void)
{
	mcp_server *srv = mcp_server_new(NULL);
	char err[128] = "";
	struct mcp_tool t = { .name = "ok", .fn = tool_echo };

	CHECK(mcp_server_add_tool(srv, &t, err, sizeof(err)) == 0);
	CHECK(mcp_server_add_tool(srv, &t, err, sizeof(err)) == -1);
	CHECK(strstr(err, "duplicate") != NULL);
	t.name = "bad name";
	CHECK(mcp_server_add_tool(srv, &t, err, sizeof(err)) == -1);
	t.name = "schema";
	t.input_schema = "{not json";
	CHECK(mcp_server_add_tool(srv, &t, err, sizeof(err)) == -1);
	t.input_schema = "{\"type\":\"array\"}";
	CHECK(mcp_server_add_tool(srv, &t, err, sizeof(err)) == -1);
	t.input_schema = NULL;
	t.fn = NULL;
	CHECK(mcp_server_add_tool(srv, &t, err, sizeof(err)) == -1);
	CHECK(mcp_server_remove_tool(srv, "ok") == 0);
	CHECK(mcp_server_remove_tool(srv, "ok") == -1);
	mcp_server_free(srv);
}

static void test_lifecycle(void)
{
	mcp_server *srv = make_server();
	struct capture c;
	mcp_session *s;
	json_t *r;

	cap_init(&c);
	s = mcp_session_new(srv, cap_send, &c);
	r = call(s, &c, 1, "tools/list", NULL);
	CHECK_EQ_INT(err_code(r), MCP_ERR_INVALID_REQUEST);
	json_decref(r);
	r = call(s, &c, 2, "ping", NULL);
	CHECK(json_is_object(json_object_get(r, "result")));
	json_decref(r);
	r = call(s, &c, 3, "initialize", "{\"capabilities\":{}}");
	CHECK_EQ_INT(err_code(r), MCP_ERR_INVALID_PARAMS);
	json_decref(r);
	r = call(s, &c, 4, "initialize",
		 "{\"protocolVersion\":\"1999-01-01\",\"capabilities\":{},"
		 "\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}");
	CHECK_STR(json_string_value(
			  json_object_get(json_object_get(r, "result"),
					  "protocolVersion")),
		  MCP_PROTOCOL_LATEST);
	CHECK_STR(json_string_value(
			  json_object_get(json_object_get(r, "result"),
					  "instructions")),
		  "be nice");
	json_decref(r);
	r = call(s, &c, 5, "initialize",
		 "{\"protocolVersion\":\"2025-03-26\",\"capabilities\":{}}");
	CHECK_EQ_INT(err_code(r), MCP_ERR_INVALID_REQUEST);
	json_decref(r);
	r = call(s, &c, 6, "no/such/method", NULL);
	CHECK_EQ_INT(err_code(r), MCP_ERR_METHOD_NOT_FOUND);
	json_decref(r);
	mcp_session_free(s);

	/* Each supported version is echoed back. */
	const char *vs[] = { "2025-11-25", "2025-06-18", "2025-03-26" };
	for (int i = 0; i < 3; i++) {
		char p[256];
		s = mcp_session_new(srv, cap_send, &c);
		snprintf(p, sizeof(p),
			 "{\"protocolVersion\":\"%s\","
			 "\"capabilities\":{}}",
			 vs[i]);
		r = call(s, &c, 10, "initialize", p);
		CHECK_STR(mcp_session_protocol_version(s), vs[i]);
		json_decref(r);
		mcp_session_free(s);
	}
	cap_clear(&c);
	mcp_server_free(srv);
}

static void test_tools(void)
{
	mcp_server *srv = make_server();
	struct capture c;
	mcp_session *s;
	json_t *r, *res;

	cap_init(&c);
	mcp_server_set_page_size(srv, 3);
	s = mcp_session_new(srv, cap_send, &c);
	init(s, &c, NULL);
	r = call(s, &c, 1, "tools/list", NULL);
	res = json_object_get(r, "result");
	CHECK_EQ_INT(json_array_size(json_object_get(res, "tools")), 3);
	CHECK_STR(json_string_value(json_object_get(res, "nextCursor")), "p3");
	json_decref(r);
	r = call(s, &c, 2, "tools/list", "{\"cursor\":\"p3\"}");
	res = json_object_get(r, "result");
	CHECK_EQ_INT(json_array_size(json_object_get(res, "tools")), 2);
	CHECK(json_object_get(res, "nextCursor") == NULL);
	json_decref(r);
	r = call(s, &c, 3, "tools/list", "{\"cursor\":\"garbage\"}");
	CHECK_EQ_INT(err_code(r), MCP_ERR_INVALID_PARAMS);
	json_decref(r);
	r = call(s, &c, 4, "tools/list", "{\"cursor\":\"p99\"}");
	CHECK_EQ_INT(err_code(r), MCP_ERR_INVALID_PARAMS);
	json_decref(r);

	r = call(s, &c, 5, "tools/call",
		 "{\"name\":\"echo\",\"arguments\":{\"text\":\"hi\"}}");
	res = json_object_get(r, "result");
	CHECK_STR(json_string_value(json_object_get(
			  json_array_get(json_object_get(res, "content"), 0),
			  "text")),
		  "hi");
	json_decref(r);
	r = call(s, &c, 6, "tools/call", "{\"name\":\"echo\"}");
	CHECK(json_is_true(
		json_object_get(json_object_get(r, "result"), "isError")));
	json_decref(r);
	r = call(s, &c, 7, "tools/call", "{\"name\":\"nope\"}");
	CHECK_EQ_INT(err_code(r), MCP_ERR_INVALID_PARAMS);
	json_decref(r);
	r = call(s, &c, 8, "tools/call",
		 "{\"name\":\"echo\",\"arguments\":[]}");
	CHECK_EQ_INT(err_code(r), MCP_ERR_INVALID_PARAMS);
	json_decref(r);
	r = call(s, &c, 9, "tools/call", "{\"name\":7}");
	CHECK_EQ_INT(err_code(r), MCP_ERR_INVALID_PARAMS);
	json_decref(r);
	r = call(s, &c, 10, "tools/call", "{\"name\":\"fail\"}");
	CHECK_EQ_INT(err_code(r), MCP_ERR_INVALID_PARAMS);
	CHECK_STR(json_string_value(json_object_get(
			  json_object_get(json_object_get(r, "error"), "data"),
			  "field")),
		  "x");
	json_decref(r);
	/* Arguments against the inputSchema: an execution error, and the
	 * handler never runs. */
	r = call(s, &c, 12, "tools/call",
		 "{\"name\":\"typed\",\"arguments\":{\"n\":\"x\"}}");
	CHECK(json_is_true(
		json_object_get(json_object_get(r, "result"), "isError")));
	{
		char *text = json_dumps(r, 0);
		CHECK(text && strstr(text, "n: expected integer") != NULL);
		free(text);
	}
	json_decref(r);
	r = call(s, &c, 11, "tools/call", NULL);
	CHECK_EQ_INT(err_code(r), MCP_ERR_INVALID_PARAMS);
	json_decref(r);
	mcp_session_free(s);
	cap_clear(&c);
	mcp_server_free(srv);
}

/* A caller-chosen name cut for an error message must not be cut inside a
 * character: jansson refuses the split text, and the error reply was lost
 * (no response at all). A 2-byte character straddles each cut here (the
 * 128-byte name in "Unknown tool", the 64-byte argument name). */
static void test_utf8_cut_names(void)
{
	mcp_server *srv = make_server();
	struct capture c;
	mcp_session *s;
	char params[512], a127[128];
	json_t *r;

	memset(a127, 'a', 127);
	a127[127] = '\0';
	cap_init(&c);
	s = mcp_session_new(srv, cap_send, &c);
	init(s, &c, NULL);
	snprintf(params, sizeof(params), "{\"name\":\"%s\\u00e9\"}", a127);
	r = call(s, &c, 1, "tools/call", params);
	CHECK(r != NULL);
	CHECK_EQ_INT(err_code(r), MCP_ERR_INVALID_PARAMS);
	json_decref(r);
	snprintf(params, sizeof(params),
		 "{\"name\":\"brief\",\"arguments\":{\"%.63s\\u00e9\":1}}",
		 a127);
	r = call(s, &c, 2, "prompts/get", params);
	CHECK(r != NULL);
	CHECK_EQ_INT(err_code(r), MCP_ERR_INVALID_PARAMS);
	json_decref(r);
	mcp_session_free(s);
	cap_clear(&c);
	mcp_server_free(srv);
}

static void test_resources_prompts(void)
{
	mcp_server *srv = make_server();
	struct capture c;
	mcp_session *s;
	json_t *r, *res;

	cap_init(&c);
	s = mcp_session_new(srv, cap_send, &c);
	init(s, &c, NULL);
	r = call(s, &c, 1, "resources/read",
		 "{\"uri\":\"mem://item/42/body\"}");
	res = json_array_get(json_object_get(json_object_get(r, "result"),
					     "contents"),
			     0);
	CHECK_STR(json_string_value(json_object_get(res, "text")), "42");
	json_decref(r);
	r = call(s, &c, 2, "resources/read", "{\"uri\":\"mem://item//body\"}");
	CHECK_EQ_INT(err_code(r), MCP_ERR_RESOURCE_NOT_FOUND);
	CHECK_STR(json_string_value(json_object_get(
			  json_object_get(json_object_get(r, "error"), "data"),
			  "uri")),
		  "mem://item//body");
	json_decref(r);
	r = call(s, &c, 3, "resources/read", "{\"uri\":\"mem://static\"}");
	CHECK(json_object_get(r, "result") != NULL);
	json_decref(r);
	r = call(s, &c, 4, "resources/read", "{\"uri\":5}");
	CHECK_EQ_INT(err_code(r), MCP_ERR_INVALID_PARAMS);
	json_decref(r);
	r = call(s, &c, 5, "resources/templates/list", NULL);
	CHECK_EQ_INT(json_array_size(
			     json_object_get(json_object_get(r, "result"),
					     "resourceTemplates")),
		     1);
	json_decref(r);
	r = call(s, &c, 6, "prompts/get", "{\"name\":\"brief\"}");
	CHECK_EQ_INT(err_code(r), MCP_ERR_INVALID_PARAMS);
	json_decref(r);
	r = call(s, &c, 7, "prompts/get",
		 "{\"name\":\"brief\",\"arguments\":{\"topic\":5}}");
	CHECK_EQ_INT(err_code(r), MCP_ERR_INVALID_PARAMS);
	json_decref(r);
	r = call(s, &c, 8, "prompts/get",
		 "{\"name\":\"brief\",\"arguments\":{\"topic\":\"vm\"}}");
	CHECK(json_object_get(r, "result") != NULL);
	json_decref(r);
	r = call(s, &c, 9, "completion/complete",
		 "{\"ref\":{\"type\":\"ref/prompt\",\"name\":\"brief\"},"
		 "\"argument\":{\"name\":\"topic\",\"value\":\"v\"}}");
	CHECK(json_is_array(json_object_get(
		json_object_get(json_object_get(r, "result"), "completion"),
		"values")));
	json_decref(r);
	r = call(s, &c, 10, "logging/setLevel", "{\"level\":\"loud\"}");
	CHECK_EQ_INT(err_code(r), MCP_ERR_INVALID_PARAMS);
	json_decref(r);
	r = call(s, &c, 11, "resources/subscribe",
		 "{\"uri\":\"mem://static\"}");
	CHECK(json_object_get(r, "result") != NULL);
	json_decref(r);
	mcp_server_resource_updated(srv, "mem://static");
	r = cap_take(&c, -1, "notifications/resources/updated", 2000);
	CHECK(r != NULL);
	json_decref(r);
	mcp_server_resource_updated(srv, "mem://other");
	r = cap_take(&c, -1, "notifications/resources/updated", 200);
	CHECK(r == NULL);
	mcp_session_free(s);
	cap_clear(&c);
	mcp_server_free(srv);
}

static void test_cancel_and_free(void)
{
	mcp_server *srv = make_server();
	struct capture c;
	mcp_session *s;
	json_t *r;

	cap_init(&c);
	s = mcp_session_new(srv, cap_send, &c);
	init(s, &c, NULL);
	atomic_store(&saw_cancel, 0);
	feed(s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
		"\"params\":{\"name\":\"wait\"}}");
	/* The same id again while in flight is refused. */
	r = call(s, &c, 1, "tools/call", "{\"name\":\"wait\"}");
	CHECK_EQ_INT(err_code(r), MCP_ERR_INVALID_REQUEST);
	json_decref(r);
	feed(s, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
		"\"params\":{\"requestId\":1}}");
	CHECK(mcp_session_drain(s, 3000) == 0);
	CHECK(atomic_load(&saw_cancel));
	r = cap_take(&c, 1, NULL, 200);
	CHECK(r == NULL); /* no response to a cancelled request */

	/* Freeing a session with calls in flight cancels and waits. */
	feed(s, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\","
		"\"params\":{\"name\":\"wait\"}}");
	usleep(20000);
	mcp_session_free(s);
	cap_clear(&c);
	mcp_server_free(srv);
}

static void test_inflight_cap(void)
{
	mcp_server *srv = make_server();
	struct capture c;
	mcp_session *s;
	json_t *r;

	cap_init(&c);
	mcp_server_set_max_inflight(srv, 2);
	s = mcp_session_new(srv, cap_send, &c);
	init(s, &c, NULL);
	feed(s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
		"\"params\":{\"name\":\"wait\"}}");
	feed(s, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\","
		"\"params\":{\"name\":\"wait\"}}");
	r = call(s, &c, 3, "tools/call", "{\"name\":\"wait\"}");
	CHECK_EQ_INT(err_code(r), MCP_ERR_INVALID_REQUEST);
	json_decref(r);
	mcp_session_free(s);
	cap_clear(&c);
	mcp_server_free(srv);
}

static void test_client_requests(void)
{
	mcp_server *srv = make_server();
	struct capture c;
	mcp_session *s;
	json_t *r, *req;
	char buf[256];

	cap_init(&c);
	/* Without the sampling capability the request is not sent. */
	s = mcp_session_new(srv, cap_send, &c);
	init(s, &c, NULL);
	r = call(s, &c, 1, "tools/call", "{\"name\":\"ask\"}");
	CHECK(json_is_true(
		json_object_get(json_object_get(r, "result"), "isError")));
	json_decref(r);
	mcp_session_free(s);
	cap_clear(&c);

	s = mcp_session_new(srv, cap_send, &c);
	init(s, &c, "{\"sampling\":{}}");
	feed(s, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\","
		"\"params\":{\"name\":\"ask\"}}");
	req = cap_take(&c, -1, "sampling/createMessage", 2000);
	CHECK(req != NULL);
	/* An answer to an id we never used is ignored. */
	feed(s,
	     "{\"jsonrpc\":\"2.0\",\"id\":999,\"result\":{\"model\":\"x\"}}");
	snprintf(buf, sizeof(buf),
		 "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{\"model\":"
		 "\"m1\",\"role\":\"assistant\"}}",
		 (long long)json_integer_value(json_object_get(req, "id")));
	feed(s, buf);
	json_decref(req);
	r = cap_take(&c, 2, NULL, 2000);
	CHECK_STR(json_string_value(json_object_get(
			  json_array_get(
				  json_object_get(json_object_get(r, "result"),
						  "content"),
				  0),
			  "text")),
		  "m1");
	json_decref(r);
	mcp_session_free(s);
	cap_clear(&c);
	mcp_server_free(srv);
}

static void test_list_changed(void)
{
	mcp_server *srv = make_server();
	struct capture c;
	mcp_session *s;
	json_t *r;
	char err[64];
	struct mcp_tool t = { .name = "late", .fn = tool_echo };

	cap_init(&c);
	s = mcp_session_new(srv, cap_send, &c);
	init(s, &c, NULL);
	CHECK(mcp_server_add_tool(srv, &t, err, sizeof(err)) == 0);
	r = cap_take(&c, -1, "notifications/tools/list_changed", 1000);
	CHECK(r != NULL);
	json_decref(r);
	mcp_session_free(s);
	cap_clear(&c);
	mcp_server_free(srv);
}

/* ---- whole sets from one owner, and the session hooks (hosted.c) ---- */

static int refused_count;
static void count_refused(void *rud, struct mcp_entry *e)
{
	(void)rud;
	(void)e;
	refused_count++;
}

static struct mcp_entry *hosted_like(const char *name, const char *desc,
				     void *owner)
{
	struct mcp_entry *e =
		mcp_entry_from_def(ENT_TOOL, name,
				   json_pack("{s:s, s:s, s:{s:s}}", "name",
					     name, "description", desc,
					     "inputSchema", "type", "object"),
				   owner);

	if (e)
		e->fn.tool = tool_echo;
	return e;
}

static int ended, subscribed;
static void hook_end(void *ud, mcp_session *s)
{
	(void)ud;
	(void)s;
	ended++;
}
static void hook_sub(void *ud, mcp_session *s, const char *uri, int on)
{
	(void)ud;
	(void)s;
	subscribed += on && strcmp(uri, "x://a") == 0;
}

/* Proves: a replace that changes nothing sends no list_changed, one that
 * changes a definition does, a name another owner holds is refused (and
 * reported), and the session hooks run. */
static void test_replace_and_hooks(void)
{
	mcp_server *srv = make_server();
	struct mcp_server_hooks hooks = { hook_end, hook_sub, NULL };
	int owner_a, owner_b;
	struct capture c;
	struct mcp_entry *add[2];
	mcp_session *s;
	json_t *r;

	cap_init(&c);
	mcp_server_set_hooks(srv, &hooks);
	s = mcp_session_new(srv, cap_send, &c);
	init(s, &c, NULL);
	add[0] = hosted_like("a.one", "first", &owner_a);
	mcp_registry_replace(srv, &owner_a, add, 1, count_refused, NULL);
	r = cap_take(&c, -1, "notifications/tools/list_changed", 1000);
	CHECK(r != NULL);
	json_decref(r);
	add[0] = hosted_like("a.one", "first", &owner_a);
	mcp_registry_replace(srv, &owner_a, add, 1, count_refused, NULL);
	r = cap_take(&c, -1, "notifications/tools/list_changed", 200);
	CHECK(r == NULL); /* the same set: no notification */
	json_decref(r);
	add[0] = hosted_like("a.one", "changed", &owner_a);
	mcp_registry_replace(srv, &owner_a, add, 1, count_refused, NULL);
	r = cap_take(&c, -1, "notifications/tools/list_changed", 1000);
	CHECK(r != NULL);
	json_decref(r);
	add[0] = hosted_like("a.one", "stolen", &owner_b);
	add[1] = hosted_like("b.two", "mine", &owner_b);
	mcp_registry_replace(srv, &owner_b, add, 2, count_refused, NULL);
	CHECK_EQ_INT(refused_count, 1);
	r = call(s, &c, 5, "tools/list", NULL);
	{
		json_t *tools =
			json_object_get(json_object_get(r, "result"), "tools");
		size_t i, hosted = 0;
		json_t *t;
		json_array_foreach (tools, i, t) {
			const char *n =
				json_string_value(json_object_get(t, "name"));
			hosted += n && (strcmp(n, "a.one") == 0 ||
					strcmp(n, "b.two") == 0);
			if (n && strcmp(n, "a.one") == 0)
				CHECK_STR(json_string_value(json_object_get(
						  t, "description")),
					  "changed"); /* owner a's, not b's */
		}
		CHECK_EQ_INT(hosted, 2);
	}
	json_decref(r);
	mcp_registry_replace(srv, &owner_a, NULL, 0, NULL, NULL);
	r = call(s, &c, 6, "tools/call",
		 "{\"name\":\"a.one\",\"arguments\":{}}");
	CHECK_EQ_INT(err_code(r), MCP_ERR_INVALID_PARAMS); /* gone */
	json_decref(r);
	json_decref(
		call(s, &c, 7, "resources/subscribe", "{\"uri\":\"x://a\"}"));
	CHECK_EQ_INT(subscribed, 1);
	mcp_session_free(s);
	CHECK_EQ_INT(ended, 1);
	cap_clear(&c);
	mcp_server_free(srv);
}

/* A session holds at most MCP_MAX_SUBSCRIPTIONS URIs (the slots are
 * allocated by its first subscribe): one more is refused, and a slot
 * freed by an unsubscribe takes a new URI. */
static void test_subscription_cap(void)
{
	mcp_server *srv = make_server();
	struct capture c;
	mcp_session *s;
	char params[64];
	json_t *r;
	int ok = 0;

	cap_init(&c);
	s = mcp_session_new(srv, cap_send, &c);
	init(s, &c, NULL);
	CHECK(!mcp_session_subscribed(s, "mem://s0"));
	for (int i = 0; i <= MCP_MAX_SUBSCRIPTIONS; i++) {
		snprintf(params, sizeof(params), "{\"uri\":\"mem://s%d\"}", i);
		r = call(s, &c, 100 + i, "resources/subscribe", params);
		ok += json_object_get(r, "result") != NULL;
		if (i == MCP_MAX_SUBSCRIPTIONS)
			CHECK_EQ_INT(err_code(r), MCP_ERR_INVALID_PARAMS);
		json_decref(r);
	}
	CHECK_EQ_INT(ok, MCP_MAX_SUBSCRIPTIONS);
	CHECK(mcp_session_subscribed(s, "mem://s0"));
	CHECK(mcp_session_subscribed(s, "mem://s255"));
	r = call(s, &c, 1, "resources/unsubscribe", "{\"uri\":\"mem://s0\"}");
	CHECK(json_object_get(r, "result") != NULL);
	json_decref(r);
	CHECK(!mcp_session_subscribed(s, "mem://s0"));
	r = call(s, &c, 2, "resources/subscribe", "{\"uri\":\"mem://new\"}");
	CHECK(json_object_get(r, "result") != NULL);
	json_decref(r);
	CHECK(mcp_session_subscribed(s, "mem://new"));
	mcp_session_free(s);
	cap_clear(&c);
	mcp_server_free(srv);
}

int main(void)
{
	RUN(test_registry_validation);
	RUN(test_lifecycle);
	RUN(test_tools);
	RUN(test_resources_prompts);
	RUN(test_utf8_cut_names);
	RUN(test_cancel_and_free);
	RUN(test_inflight_cap);
	RUN(test_client_requests);
	RUN(test_list_changed);
	RUN(test_replace_and_hooks);
	RUN(test_subscription_cap);
	return ZGT_DONE();
}
