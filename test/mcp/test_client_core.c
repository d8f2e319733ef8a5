/* Unit tests of the MCP client core (mcp/include/client.h) against a
 * scripted server in this process: ids, answers (unknown, duplicate,
 * late), deadlines with notifications/cancelled, caps (size, pending,
 * server requests, garbage, floods), progress, the handshake with the
 * discover probe and its fallback, and a call answered from another
 * thread. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "jsonrpc.h"
#include "zgtest.h"

#define MAXSENT 64

/* The fake transport: what the client sent, and how the server answers. */
struct fake {
	char *sent[MAXSENT];
	size_t nsent, served;
	int send_fails;
	mcp_client *c;
	int discover_2026;  /* the server offers 2026-07-28 */
	int silent;	    /* the server answers nothing */
	int progress_first; /* a progress notification before each answer */
	int answer_in_send; /* the answer comes before send returns */
	int broken;
	char why[160];
	int notes, reqs, progress;
	void *progress_ud;
};

static int f_send(void *ud, const char *msg, size_t len)
{
	struct fake *f = ud;

	if (f->send_fails || f->nsent >= MAXSENT)
		return -1;
	f->sent[f->nsent++] = strndup(msg, len);
	if (f->answer_in_send && f->c) {
		json_t *m = json_loadb(msg, len, 0, NULL);
		json_t *id = json_object_get(m, "id");
		char buf[96];
		if (json_is_integer(id)) {
			snprintf(buf, sizeof(buf),
				 "{\"jsonrpc\":\"2.0\",\"id\":%lld,"
				 "\"result\":{}}",
				 (long long)json_integer_value(id));
			mcp_client_feed(f->c, buf, strlen(buf));
		}
		json_decref(m);
	}
	return 0;
}

static void f_note(void *ud, json_t *root)
{
	(void)root;
	((struct fake *)ud)->notes++;
}

static void f_req(void *ud, json_t *root)
{
	(void)root;
	((struct fake *)ud)->reqs++;
}

static void f_progress(void *ud, void *req_ud, json_t *params)
{
	struct fake *f = ud;

	(void)params;
	f->progress++;
	f->progress_ud = req_ud;
}

static void f_broken(void *ud, const char *why)
{
	struct fake *f = ud;

	f->broken++;
	snprintf(f->why, sizeof(f->why), "%s", why);
}

static void feed_str(mcp_client *c, const char *s)
{
	mcp_client_feed(c, s, strlen(s));
}

/* notifications/progress with token tok, as a server sends it. */
static void feed_progress(mcp_client *c, long long tok)
{
	char buf[160];

	snprintf(buf, sizeof(buf),
		 "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\","
		 "\"params\":{\"progressToken\":%lld,\"progress\":1}}",
		 tok);
	feed_str(c, buf);
}

/* The scripted server: answers each request sent since the last pump. */
static int f_pump(void *ud, int ms)
{
	struct fake *f = ud;
	char buf[512];

	(void)ms;
	while (f->served < f->nsent && !f->silent) {
		json_t *m = json_loads(f->sent[f->served++], 0, NULL);
		json_int_t id = json_integer_value(json_object_get(m, "id"));
		const char *meth =
			json_string_value(json_object_get(m, "method"));

		if (!json_object_get(m, "id") || !meth) {
			json_decref(m);
			continue;
		}
		if (f->progress_first)
			feed_progress(f->c, (long long)id);
		if (strcmp(meth, "server/discover") == 0 && !f->discover_2026)
			snprintf(buf, sizeof(buf),
				 "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"error\":"
				 "{\"code\":-32601,\"message\":\"no\"}}",
				 (long long)id);
		else if (strcmp(meth, "server/discover") == 0)
			snprintf(buf, sizeof(buf),
				 "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":"
				 "{\"supportedVersions\":[\"2026-07-28\"],"
				 "\"capabilities\":{}}}",
				 (long long)id);
		else if (strcmp(meth, "initialize") == 0)
			snprintf(buf, sizeof(buf),
				 "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":"
				 "{\"protocolVersion\":\"2025-11-25\","
				 "\"capabilities\":{}}}",
				 (long long)id);
		else
			snprintf(buf, sizeof(buf),
				 "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":"
				 "{\"echo\":\"%s\"}}",
				 (long long)id, meth);
		json_decref(m);
		feed_str(f->c, buf);
	}
	return 0;
}

static const struct mcp_client_ops ops = { f_send,     f_note,	 f_req,
					   f_progress, f_broken, f_pump };
static const struct mcp_client_ops ops_nopump = { f_send,     f_note,	f_req,
						  f_progress, f_broken, NULL };

static void fake_clear(struct fake *f)
{
	mcp_client_free(f->c);
	for (size_t i = 0; i < f->nsent; i++)
		free(f->sent[i]);
	memset(f, 0, sizeof(*f));
}

static mcp_client *fake_new(struct fake *f, const struct mcp_client_ops *o,
			    const struct mcp_client_limits *lim)
{
	memset(f, 0, sizeof(*f));
	f->c = mcp_client_new(o, f, lim, "test");
	return f->c;
}

/* The method of sent message i, or "" */
static const char *sent_method(struct fake *f, size_t i, char *buf, size_t len)
{
	json_t *m = i < f->nsent ? json_loads(f->sent[i], 0, NULL) : NULL;

	snprintf(buf, len, "%s",
		 json_string_value(json_object_get(m, "method")) ?: "");
	json_decref(m);
	return buf;
}

struct got {
	int n, code;
	char msg[128];
	json_t *result;
};

static void got_done(void *ud, const struct mcp_client_answer *a)
{
	struct got *g = ud;

	g->n++;
	g->code = a->code;
	snprintf(g->msg, sizeof(g->msg), "%s", a->message);
	json_decref(g->result);
	g->result = a->code == 0 ? json_incref(a->result) : NULL;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Ids count up; an answer ends its request once: a duplicate or an id
 * never sent is counted and dropped. */
static void test_ids_and_duplicates(void)
{
	struct fake f;
	struct got g = { 0 };
	struct mcp_client_req r = { .done = got_done, .ud = &g };
	struct mcp_client_stats st;
	mcp_client *c = fake_new(&f, &ops_nopump, NULL);
	int64_t a = mcp_client_request(c, "tools/list", NULL, &r);
	int64_t b = mcp_client_request(c, "tools/list", NULL, &r);

	CHECK(a > 0 && b == a + 1);
	feed_str(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"x\":1}}");
	CHECK_EQ_INT(g.n, 1);
	CHECK_EQ_INT(g.code, 0);
	CHECK_EQ_INT(json_integer_value(json_object_get(g.result, "x")), 1);
	feed_str(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"x\":2}}");
	feed_str(c, "{\"jsonrpc\":\"2.0\",\"id\":99,\"result\":{}}");
	feed_str(c, "{\"jsonrpc\":\"2.0\",\"id\":\"1\",\"result\":{}}");
	CHECK_EQ_INT(g.n, 1);
	feed_str(c, "{\"jsonrpc\":\"2.0\",\"id\":2,\"error\":{\"code\":-32602,"
		    "\"message\":\"bad\"}}");
	CHECK_EQ_INT(g.n, 2);
	CHECK_EQ_INT(g.code, -32602);
	CHECK_STR(g.msg, "bad");
	mcp_client_stats(c, &st);
	CHECK_EQ_INT(st.answered, 2);
	CHECK_EQ_INT(st.unknown_responses, 3);
	CHECK(!f.broken);
	json_decref(g.result);
	fake_clear(&f);
}

/* A request past its deadline ends with a timeout, and the server gets
 * notifications/cancelled naming it; the late answer is dropped. */
static void test_deadline_and_late_answer(void)
{
	struct fake f;
	struct got g = { 0 };
	struct mcp_client_req r = { .timeout_ms = 1,
				    .done = got_done,
				    .ud = &g };
	struct mcp_client_stats st;
	mcp_client *c = fake_new(&f, &ops_nopump, NULL);
	int64_t id = mcp_client_request(c, "tools/call", NULL, &r);
	json_t *n;

	CHECK_EQ_INT(g.n, 0);
	sleep_ms(5);
	CHECK_EQ_INT(mcp_client_timeout_ms(c), 0);
	CHECK_EQ_INT(mcp_client_expire(c), 1);
	CHECK_EQ_INT(g.n, 1);
	CHECK_EQ_INT(g.code, MCP_CLIENT_E_TIMEOUT);
	CHECK_EQ_INT(mcp_client_timeout_ms(c), -1);
	n = json_loads(f.sent[f.nsent - 1], 0, NULL);
	CHECK_STR(json_string_value(json_object_get(n, "method")),
		  "notifications/cancelled");
	CHECK_EQ_INT(json_integer_value(
			     json_object_get(json_object_get(n, "params"),
					     "requestId")),
		     id);
	json_decref(n);
	feed_str(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}");
	CHECK_EQ_INT(g.n, 1);
	mcp_client_stats(c, &st);
	CHECK_EQ_INT(st.timeouts, 1);
	CHECK_EQ_INT(st.unknown_responses, 1);
	fake_clear(&f);
}

/* A message over max_message breaks the client: what was in flight
 * fails, the owner hears it once, later feeds are refused. */
static void test_oversize(void)
{
	struct fake f;
	struct got g = { 0 };
	struct mcp_client_req r = { .done = got_done, .ud = &g };
	struct mcp_client_limits lim = { .max_message = 64 };
	mcp_client *c = fake_new(&f, &ops_nopump, &lim);
	char big[200];

	mcp_client_request(c, "tools/list", NULL, &r);
	memset(big, ' ', sizeof(big));
	memcpy(big, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}", 36);
	CHECK_EQ_INT(mcp_client_feed(c, big, sizeof(big)), -1);
	CHECK_EQ_INT(f.broken, 1);
	CHECK_EQ_INT(g.n, 1);
	CHECK_EQ_INT(g.code, MCP_CLIENT_E_GONE);
	CHECK(strstr(f.why, "over 64 bytes") != NULL);
	CHECK_EQ_INT(mcp_client_feed(c, "{}", 2), -1);
	CHECK_EQ_INT(mcp_client_request(c, "tools/list", NULL, &r), -1);
	CHECK_EQ_INT(f.broken, 1);
	fake_clear(&f);
}

/* Garbage is tolerated up to max_bad messages, then breaks it. */
static void test_garbage(void)
{
	struct fake f;
	struct mcp_client_limits lim = { .max_bad = 3 };
	mcp_client *c = fake_new(&f, &ops_nopump, &lim);

	feed_str(c, "not json");
	feed_str(c, "[1,2]");
	CHECK(!mcp_client_broken(c));
	feed_str(c, "{\"jsonrpc\":\"1.0\"}");
	CHECK(mcp_client_broken(c));
	CHECK_EQ_INT(f.broken, 1);
	fake_clear(&f);
}

/* More unsolicited messages in a second than flood_per_sec break it;
 * answers to our own requests are not counted. */
static void test_flood(void)
{
	struct fake f;
	struct mcp_client_limits lim = { .flood_per_sec = 5 };
	mcp_client *c = fake_new(&f, &ops_nopump, &lim);
	char buf[96];

	for (int i = 1; i <= 20; i++) {
		mcp_client_request(c, "ping", NULL, NULL);
		snprintf(buf, sizeof(buf),
			 "{\"jsonrpc\":\"2.0\",\"id\":%d,\"result\":{}}", i);
		feed_str(c, buf);
	}
	CHECK(!mcp_client_broken(c));
	for (int i = 0; i < 20 && !f.broken; i++)
		feed_str(c, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/"
			    "message\",\"params\":{}}");
	CHECK_EQ_INT(f.broken, 1);
	CHECK(f.notes <= 6); /* the flood is cut within the second */
	CHECK(strstr(f.why, "flooding") != NULL);
	fake_clear(&f);
}

/* Server requests: ping answered by the core; at most max_server_reqs
 * wait for the owner, the next is refused with -32000; an answer frees
 * a place; answering an id that does not wait fails. */
static void test_server_requests(void)
{
	struct fake f;
	struct mcp_client_limits lim = { .max_server_reqs = 2 };
	mcp_client *c = fake_new(&f, &ops_nopump, &lim);
	json_t *id = json_string("s2"), *m;

	feed_str(c, "{\"jsonrpc\":\"2.0\",\"id\":\"p\",\"method\":\"ping\"}");
	CHECK_EQ_INT(f.nsent, 1);
	CHECK(strstr(f.sent[0], "\"result\":{}") != NULL);
	feed_str(c, "{\"jsonrpc\":\"2.0\",\"id\":\"s1\",\"method\":\"roots/"
		    "list\"}");
	feed_str(c, "{\"jsonrpc\":\"2.0\",\"id\":\"s2\",\"method\":\"roots/"
		    "list\"}");
	feed_str(c, "{\"jsonrpc\":\"2.0\",\"id\":\"s3\",\"method\":\"roots/"
		    "list\"}");
	CHECK_EQ_INT(f.reqs, 2);
	m = json_loads(f.sent[f.nsent - 1], 0, NULL);
	CHECK_EQ_INT(json_integer_value(
			     json_object_get(json_object_get(m, "error"),
					     "code")),
		     -32000);
	json_decref(m);
	CHECK_EQ_INT(mcp_client_respond(c, jr_result(id, json_object())), 0);
	CHECK_EQ_INT(mcp_client_respond(c, jr_result(id, json_object())), -1);
	feed_str(c, "{\"jsonrpc\":\"2.0\",\"id\":\"s4\",\"method\":\"roots/"
		    "list\"}");
	CHECK_EQ_INT(f.reqs, 3);
	json_decref(id);
	fake_clear(&f);
}

/* Without a request handler every server request but ping is answered
 * Method not found. */
static void test_no_request_handler(void)
{
	static const struct mcp_client_ops o = { f_send, NULL, NULL,
						 NULL,	 NULL, NULL };
	struct fake f;
	mcp_client *c = fake_new(&f, &o, NULL);

	feed_str(c, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"sampling/"
		    "createMessage\",\"params\":{}}");
	CHECK_EQ_INT(f.nsent, 1);
	CHECK(strstr(f.sent[0], "-32601") != NULL);
	fake_clear(&f);
}

/* max_pending: a request beyond it is refused, nothing sent. */
static void test_max_pending(void)
{
	struct fake f;
	struct mcp_client_limits lim = { .max_pending = 2 };
	mcp_client *c = fake_new(&f, &ops_nopump, &lim);

	CHECK(mcp_client_request(c, "a", NULL, NULL) > 0);
	CHECK(mcp_client_request(c, "b", NULL, NULL) > 0);
	CHECK_EQ_INT(mcp_client_request(c, "c", NULL, NULL), -1);
	CHECK_EQ_INT(f.nsent, 2);
	f.send_fails = 1;
	feed_str(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}");
	CHECK_EQ_INT(mcp_client_request(c, "d", NULL, NULL), -1);
	f.send_fails = 0;
	CHECK(mcp_client_request(c, "e", NULL, NULL) > 0);
	fake_clear(&f);
}

/* Progress for a request sent with want_progress reaches its ud; the
 * token is the request's id. */
static void test_progress(void)
{
	struct fake f;
	int tag;
	struct mcp_client_req r = { .want_progress = 1, .ud = &tag };
	mcp_client *c = fake_new(&f, &ops_nopump, NULL);
	int64_t id = mcp_client_request(c, "tools/call", NULL, &r);

	CHECK(strstr(f.sent[0], "\"progressToken\":1") != NULL);
	feed_progress(c, (long long)id);
	CHECK_EQ_INT(f.progress, 1);
	CHECK(f.progress_ud == &tag);
	feed_progress(c, 55);
	CHECK_EQ_INT(f.progress, 1);
	/* a request that asked for no progress gets none: a server cannot
	 * aim progress at it by guessing its id */
	id = mcp_client_request(c, "tools/list", NULL, NULL);
	feed_progress(c, (long long)id);
	CHECK_EQ_INT(f.progress, 1);
	fake_clear(&f);
}

/* The handshake: a server without server/discover gets initialize
 * (2025-11-25) and notifications/initialized; one that offers
 * 2026-07-28 is used stateless, its requests carrying the _meta. */
static void test_connect(void)
{
	struct fake f;
	mcp_client *c = fake_new(&f, &ops, NULL);
	char err[256], m[64];
	json_t *res = NULL;

	CHECK_EQ_INT(mcp_client_connect(c, NULL, err, sizeof(err)), 0);
	CHECK_STR(sent_method(&f, 0, m, sizeof(m)), "server/discover");
	CHECK_STR(sent_method(&f, 1, m, sizeof(m)), "initialize");
	CHECK_STR(sent_method(&f, 2, m, sizeof(m)),
		  "notifications/initialized");
	CHECK_STR(mcp_client_version(c), "2025-11-25");
	CHECK(strstr(f.sent[1], "io.modelcontextprotocol") == NULL);
	fake_clear(&f);

	c = fake_new(&f, &ops, NULL);
	f.discover_2026 = 1;
	CHECK_EQ_INT(mcp_client_connect(c, NULL, err, sizeof(err)), 0);
	CHECK_STR(mcp_client_version(c), "2026-07-28");
	CHECK_EQ_INT(mcp_client_call(c, "tools/list", NULL, NULL, NULL, NULL,
				     &res, err, sizeof(err)),
		     0);
	CHECK_STR(sent_method(&f, 1, m, sizeof(m)), "tools/list");
	CHECK(strstr(f.sent[1], "\"io.modelcontextprotocol/protocolVersion\":"
				"\"2026-07-28\"") != NULL);
	CHECK_STR(json_string_value(json_object_get(res, "echo")),
		  "tools/list");
	json_decref(res);
	fake_clear(&f);

	/* silence at the handshake: the deadline, no fallback */
	struct mcp_client_limits lim = { .init_timeout_ms = 5 };
	c = fake_new(&f, &ops, &lim);
	f.silent = 1;
	CHECK_EQ_INT(mcp_client_connect(c, NULL, err, sizeof(err)),
		     MCP_CLIENT_E_TIMEOUT);
	CHECK(strstr(err, "deadline") != NULL);
	fake_clear(&f);
}

/* A blocking call's progress reaches the caller's ud, not the core's
 * own waiter. */
static void test_call_progress(void)
{
	struct fake f;
	int tag;
	struct mcp_client_req r = { .want_progress = 1, .ud = &tag };
	mcp_client *c = fake_new(&f, &ops, NULL);
	json_t *res = NULL;
	char err[128];

	f.progress_first = 1;
	CHECK_EQ_INT(mcp_client_call(c, "tools/call", NULL, &r, NULL, NULL,
				     &res, err, sizeof(err)),
		     0);
	CHECK_EQ_INT(f.progress, 1);
	CHECK(f.progress_ud == &tag);
	json_decref(res);
	fake_clear(&f);
}

static int cancel_now(void *arg)
{
	return *(int *)arg;
}

/* A blocked call given up by its cancel hook: notifications/cancelled. */
static void test_call_cancelled(void)
{
	struct fake f;
	mcp_client *c = fake_new(&f, &ops, NULL);
	json_t *res = (json_t *)1;
	char err[128], m[64];
	int yes = 1;

	f.silent = 1;
	CHECK_EQ_INT(mcp_client_call(c, "tools/call", NULL, NULL, cancel_now,
				     &yes, &res, err, sizeof(err)),
		     MCP_CLIENT_E_CANCELLED);
	CHECK(res == NULL);
	CHECK_STR(sent_method(&f, 1, m, sizeof(m)), "notifications/cancelled");
	fake_clear(&f);
}

/* An answer that ends the request while it is still being sent (a fast
 * server, another thread): the request is not touched after it ended
 * (the sanitizer build sees a use after free otherwise). */
static void test_answer_during_send(void)
{
	struct fake f;
	struct got g = { 0 };
	struct mcp_client_req r = { .done = got_done, .ud = &g };
	mcp_client *c = fake_new(&f, &ops_nopump, NULL);
	int64_t id;

	f.answer_in_send = 1;
	id = mcp_client_request(c, "tools/list", NULL, &r);
	CHECK_EQ_INT(id, 1);
	CHECK_EQ_INT(g.n, 1);
	CHECK_EQ_INT(g.code, 0);
	json_decref(g.result);
	fake_clear(&f);
}

static void *answer_later(void *arg)
{
	struct fake *f = arg;

	sleep_ms(30);
	feed_str(f->c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"t\":1}}");
	return NULL;
}

/* Without a pump, a call waits while another thread feeds. */
static void test_threaded_call(void)
{
	struct fake f;
	mcp_client *c = fake_new(&f, &ops_nopump, NULL);
	json_t *res = NULL;
	char err[128];
	pthread_t th;

	pthread_create(&th, NULL, answer_later, &f);
	CHECK_EQ_INT(mcp_client_call(c, "x", NULL, NULL, NULL, NULL, &res, err,
				     sizeof(err)),
		     0);
	pthread_join(th, NULL);
	CHECK_EQ_INT(json_integer_value(json_object_get(res, "t")), 1);
	json_decref(res);
	fake_clear(&f);
}

/* Newline framing: any split gives the same messages, CRLF and empty
 * lines are fine, a line over the cap breaks the client even before its
 * newline arrives. */
static void test_lines(void)
{
	static const char text[] =
		"{\"jsonrpc\":\"2.0\",\"method\":\"a\"}\r\n\n"
		"{\"jsonrpc\":\"2.0\",\"method\":\"b\"}\n"
		"{\"jsonrpc\":\"2.0\",\"method\":\"c\"}\n";
	struct mcp_client_limits lim = { .max_message = 40 };
	struct fake f;
	mcp_client *c;
	char big[100];

	for (size_t step = 1; step <= sizeof(text); step += 7) {
		c = fake_new(&f, &ops_nopump, &lim);
		for (size_t off = 0; off < sizeof(text) - 1; off += step) {
			size_t n = sizeof(text) - 1 - off;
			mcp_client_feed_lines(c, text + off,
					      n < step ? n : step);
		}
		CHECK_EQ_INT(f.notes, 3);
		CHECK(!f.broken);
		fake_clear(&f);
	}
	c = fake_new(&f, &ops_nopump, &lim);
	memset(big, 'x', sizeof(big));
	CHECK_EQ_INT(mcp_client_feed_lines(c, big, 30), 0);
	CHECK_EQ_INT(mcp_client_feed_lines(c, big, 30), -1);
	CHECK_EQ_INT(f.broken, 1);
	fake_clear(&f);
}

/* The caller's id source: ids from a counter shared by two clients, as
 * gatewayd's one id space for a tool zone's streams. */
static int64_t shared_ids(void *ud)
{
	return ++*(int64_t *)ud;
}

/* Table-only use: the caller sends and routes, the core keeps the entry.
 * Ids come from the caller's source (unique across two clients); a
 * settled answer ends its request without done and counts its bytes; a
 * second settle of it, an unknown id, and a forget of what is gone are
 * refused and counted; a duplicate id, max_pending and a negative id
 * refuse the track; nothing is ever sent by track or settle. */
static void test_track_settle(void)
{
	struct fake f, f2;
	struct got g = { 0 };
	struct mcp_client_req r = { .done = got_done, .ud = &g };
	struct mcp_client_limits lim = { .max_pending = 3, .max_message = 100 };
	struct mcp_client_stats st;
	mcp_client *c = fake_new(&f, &ops_nopump, &lim);
	mcp_client *c2 = fake_new(&f2, &ops_nopump, NULL);
	int64_t ids = 100, a, b, x;

	mcp_client_set_ids(c, shared_ids, &ids);
	mcp_client_set_ids(c2, shared_ids, &ids);
	a = mcp_client_track(c, 0, "tools/call", &r);
	x = mcp_client_track(c2, 0, "tools/call", &r);
	b = mcp_client_track(c, 0, "tools/call", &r);
	CHECK_EQ_INT(a, 101);
	CHECK_EQ_INT(x, 102);
	CHECK_EQ_INT(b, 103);
	CHECK_EQ_INT(mcp_client_track(c, 7, "ping", &r), 7);
	CHECK_EQ_INT(mcp_client_track(c, 8, "ping", &r), -1); /* max_pending */
	CHECK_EQ_INT(mcp_client_settle(c, 7, 10), 0);
	CHECK_EQ_INT(mcp_client_track(c, a, "again", &r), -1); /* in flight */
	CHECK_EQ_INT(mcp_client_track(c, -5, "neg", &r), -1);
	CHECK_EQ_INT(f.nsent, 0);
	CHECK_EQ_INT(mcp_client_settle(c, a, 40), 0);
	CHECK_EQ_INT(mcp_client_settle(c, a, 40), -1);	 /* duplicate */
	CHECK_EQ_INT(mcp_client_settle(c, 555, 40), -1); /* unknown */
	CHECK_EQ_INT(mcp_client_settle(c, x, 40), -1);	 /* c2's */
	CHECK_EQ_INT(mcp_client_settle(c, b, 101), -2);	 /* over the cap */
	CHECK_EQ_INT(mcp_client_settle(c, b, 1), -1);
	CHECK_EQ_INT(mcp_client_forget(c2, x), 0);
	CHECK_EQ_INT(mcp_client_forget(c2, x), -1);
	CHECK_EQ_INT(g.n, 0);
	CHECK_EQ_INT(f.nsent + f2.nsent, 0);
	CHECK_EQ_INT(mcp_client_timeout_ms(c), -1);
	mcp_client_stats(c, &st);
	CHECK_EQ_INT(st.sent, 3);
	CHECK_EQ_INT(st.answered, 2);
	CHECK_EQ_INT(st.bytes_in, 50);
	CHECK_EQ_INT(st.unknown_responses, 4);
	CHECK_EQ_INT(st.bad_messages, 1);
	mcp_client_stats(c2, &st);
	CHECK_EQ_INT(st.forgotten, 1);
	fake_clear(&f2);
	fake_clear(&f);
}

/* A tracked request whose answer never comes ends at its deadline as the
 * core's own do: done once with MCP_CLIENT_E_TIMEOUT, notifications/
 * cancelled (reason timeout) naming the caller's id; its late answer is
 * then refused by settle (and counted), and forget finds nothing. One due
 * among many is found (the early way out of expire does not hide it). */
static void test_track_deadline(void)
{
	struct fake f;
	struct got g = { 0 }, g2 = { 0 };
	struct mcp_client_req r = { .timeout_ms = 1,
				    .done = got_done,
				    .ud = &g };
	struct mcp_client_req slow = { .timeout_ms = 600000,
				       .done = got_done,
				       .ud = &g2 };
	struct mcp_client_stats st;
	mcp_client *c = fake_new(&f, &ops_nopump, NULL);
	json_t *n, *pr;

	for (int i = 0; i < 20; i++)
		CHECK(mcp_client_track(c, 1000 + i, "tools/call", &slow) > 0);
	CHECK_EQ_INT(mcp_client_expire(c), 0);
	CHECK_EQ_INT(mcp_client_track(c, 42, "tools/call", &r), 42);
	sleep_ms(5);
	CHECK_EQ_INT(mcp_client_timeout_ms(c), 0);
	CHECK_EQ_INT(mcp_client_expire(c), 1);
	CHECK_EQ_INT(mcp_client_expire(c), 0);
	CHECK_EQ_INT(g.n, 1);
	CHECK_EQ_INT(g2.n, 0);
	CHECK_EQ_INT(g.code, MCP_CLIENT_E_TIMEOUT);
	CHECK_EQ_INT(f.nsent, 1);
	n = json_loads(f.sent[0], 0, NULL);
	pr = json_object_get(n, "params");
	CHECK_STR(json_string_value(json_object_get(n, "method")),
		  "notifications/cancelled");
	CHECK_EQ_INT(json_integer_value(json_object_get(pr, "requestId")), 42);
	CHECK_STR(json_string_value(json_object_get(pr, "reason")), "timeout");
	json_decref(n);
	CHECK_EQ_INT(mcp_client_settle(c, 42, 10), -1);
	CHECK_EQ_INT(mcp_client_forget(c, 42), -1);
	CHECK(mcp_client_timeout_ms(c) > 1000);
	/* cancel of a tracked one: done once, the server told */
	CHECK_EQ_INT(mcp_client_cancel(c, 1005, "cancelled by the client"), 0);
	CHECK_EQ_INT(g2.n, 1);
	CHECK_EQ_INT(g2.code, MCP_CLIENT_E_CANCELLED);
	CHECK_EQ_INT(f.nsent, 2);
	CHECK_EQ_INT(mcp_client_settle(c, 1005, 10), -1);
	/* an answer fed (not routed by the caller) ends a tracked one too */
	feed_str(c, "{\"jsonrpc\":\"2.0\",\"id\":1003,\"result\":{\"y\":3}}");
	CHECK_EQ_INT(g2.n, 2);
	CHECK_EQ_INT(g2.code, 0);
	mcp_client_stats(c, &st);
	CHECK_EQ_INT(st.timeouts, 1);
	CHECK_EQ_INT(st.unknown_responses, 2);
	/* the transport gone: the rest end once each with E_GONE */
	mcp_client_fail_all(c, "gone");
	CHECK_EQ_INT(g2.n, 20);
	CHECK_EQ_INT(g2.code, MCP_CLIENT_E_GONE);
	CHECK_EQ_INT(mcp_client_track(c, 9, "x", &r), -1);
	json_decref(g2.result);
	fake_clear(&f);
}

/* settle and forget are for tracked requests only: a request of the
 * core's own (mcp_client_request) keeps its entry, so that its done (a
 * blocked call's waiter) still comes. */
static void test_settle_not_own(void)
{
	struct fake f;
	struct got g = { 0 };
	struct mcp_client_req r = { .done = got_done, .ud = &g };
	mcp_client *c = fake_new(&f, &ops_nopump, NULL);
	int64_t id = mcp_client_request(c, "tools/list", NULL, &r);

	CHECK_EQ_INT(mcp_client_settle(c, id, 10), -1);
	CHECK_EQ_INT(mcp_client_forget(c, id), -1);
	feed_str(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}");
	CHECK_EQ_INT(g.n, 1);
	json_decref(g.result);
	fake_clear(&f);
}

int main(void)
{
	RUN(test_lines);
	RUN(test_ids_and_duplicates);
	RUN(test_deadline_and_late_answer);
	RUN(test_oversize);
	RUN(test_garbage);
	RUN(test_flood);
	RUN(test_server_requests);
	RUN(test_no_request_handler);
	RUN(test_max_pending);
	RUN(test_progress);
	RUN(test_connect);
	RUN(test_call_progress);
	RUN(test_call_cancelled);
	RUN(test_answer_during_send);
	RUN(test_threaded_call);
	RUN(test_track_settle);
	RUN(test_track_deadline);
	RUN(test_settle_not_own);
	return ZGT_DONE();
}
