/* The openai embedder against a stand-in OpenAI-compatible server on
 * loopback (libmicrohttpd, in this process): the key is sent and never
 * shown, inputs are batched, 429 and 5xx are retried with backoff, 4xx is
 * not, wrong dimensions and garbage are refused, timeouts are honoured,
 * and a collection built on it searches like any other. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "zonegate/rag.h"
#include "zgtest.h"

#define DIMS 8

static struct {
	int requests, inputs, max_batch;
	int fail_next; /* answer this many requests with fail_code */
	int fail_code;
	int bad_dims, garbage, slow_ms;
	int unauthorized;
} srv;

struct upload {
	char *p;
	size_t n;
};

/* A deterministic toy embedding: letter-class counts of the text. */
static void toy_vec(const char *t, double *v)
{
	size_t i;
	memset(v, 0, DIMS * sizeof(double));
	for (i = 0; t[i]; i++)
		v[(unsigned char)t[i] % DIMS] += 1.0;
}

static char *answer(const char *body, int *code)
{
	json_t *req = json_loads(body, 0, NULL),
	       *in = json_object_get(req, "input");
	json_t *data = json_array(), *out;
	size_t i, n = json_is_array(in) ? json_array_size(in) : 1;
	char *s;

	srv.inputs += (int)n;
	if ((int)n > srv.max_batch)
		srv.max_batch = (int)n;
	for (i = 0; i < n; i++) {
		const char *t =
			json_is_array(in)
				? json_string_value(json_array_get(in, i))
				: json_string_value(in);
		double v[DIMS];
		json_t *emb = json_array();
		int d;
		toy_vec(t ? t : "", v);
		for (d = 0; d < DIMS - (srv.bad_dims ? 1 : 0); d++)
			json_array_append_new(emb, json_real(v[d]));
		json_array_append_new(data,
				      json_pack("{s:s, s:I, s:o}", "object",
						"embedding", "index",
						(json_int_t)(n - 1 - i),
						"embedding", emb));
	}
	/* answer in reverse order: the client must use "index" */
	{
		json_t *rev = json_array();
		for (i = n; i > 0; i--)
			json_array_append(rev, json_array_get(data, i - 1));
		json_decref(data);
		data = rev;
	}
	out = json_pack("{s:s, s:o, s:s}", "object", "list", "data", data,
			"model",
			json_string_value(json_object_get(req, "model")));
	s = json_dumps(out, JSON_COMPACT);
	json_decref(out);
	json_decref(req);
	*code = 200;
	return s;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c,
			       const char *url, const char *method,
			       const char *version, const char *data,
			       size_t *size, void **state)
{
	struct upload *u = *state;
	struct MHD_Response *r;
	const char *auth;
	char *body;
	int code = 200;
	enum MHD_Result ret;

	(void)cls, (void)version, (void)method;
	if (!u) {
		*state = calloc(1, sizeof(struct upload));
		return MHD_YES;
	}
	if (*size) {
		u->p = realloc(u->p, u->n + *size + 1);
		memcpy(u->p + u->n, data, *size);
		u->n += *size;
		u->p[u->n] = '\0';
		*size = 0;
		return MHD_YES;
	}
	srv.requests++;
	auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	if (srv.slow_ms)
		usleep((useconds_t)srv.slow_ms * 1000);
	if (strcmp(url, "/v1/embeddings") != 0) {
		code = 404;
		body = strdup("{\"error\":{\"message\":\"no such route\"}}");
	} else if (!auth || strcmp(auth, "Bearer sekrit-key") != 0) {
		srv.unauthorized++;
		code = 401;
		body = strdup("{\"error\":{\"message\":\"invalid api key\"}}");
	} else if (srv.fail_next > 0) {
		srv.fail_next--;
		code = srv.fail_code;
		body = strdup("{\"error\":{\"message\":\"try later\"}}");
	} else if (srv.garbage) {
		body = strdup("{\"data\":[{\"embedding\":\"nope\"}]}");
	} else {
		body = answer(u->p ? u->p : "{}", &code);
	}
	r = MHD_create_response_from_buffer(strlen(body), body,
					    MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(r, "Content-Type", "application/json");
	ret = MHD_queue_response(c, (unsigned)code, r);
	MHD_destroy_response(r);
	free(u->p);
	free(u);
	*state = NULL;
	return ret;
}

static char dbpath[256], base[128], err[512];

static rag_db *open_coll(const char *name, int timeout_ms)
{
	struct rag_embedder_opts eo = { 0 };
	rag_db *db = rag_open(dbpath, 0, err, sizeof(err));
	eo.embedder = "openai";
	eo.base_url = base;
	eo.model = "toy-embed";
	eo.key_env = "ZG_TEST_OPENAI_KEY";
	eo.timeout_ms = timeout_ms;
	if (rag_collection_ensure(db, name, &eo, err, sizeof(err)) < 0)
		fprintf(stderr, "ensure: %s\n", err);
	return db;
}

static int ingest(rag_db *db, const char *coll, const char *src,
		  const char *text)
{
	struct rag_chunk_opts co = { 64, 0 };
	struct rag_ingest_result r;
	return rag_ingest_text(db, coll, src, text, strlen(text), NULL, &co, &r,
			       err, sizeof(err));
}

static void test_roundtrip(void)
{
	struct rag_query q = { 0 };
	struct rag_results r;
	char big[20000];
	size_t o = 0;
	rag_db *db = open_coll("oa", 0);
	json_t *colls = rag_collections(db, err, sizeof(err));
	int i;

	CHECK_EQ_INT(json_integer_value(
			     json_object_get(json_array_get(colls, 0), "dims")),
		     DIMS);
	json_decref(colls);
	srv.requests = 0;
	for (i = 0; i < 400; i++) /* 400 short sentences, chunk size 64 */
		o += (size_t)snprintf(big + o, sizeof(big) - o,
				      "Sentence %d is here. ", i);
	CHECK_EQ_INT(ingest(db, "oa", "big", big), 0);
	CHECK(srv.requests >= 3); /* batched */
	CHECK(srv.max_batch <= 64);
	CHECK_EQ_INT(ingest(db, "oa", "zz", "zzzzzzzz zzzz zzz"), 0);
	q.collection = "oa";
	q.text = "zzzz zzzz";
	q.k = 1;
	q.mode = RAG_MODE_VECTOR;
	CHECK_EQ_INT(rag_search(db, &q, &r, err, sizeof(err)), 0);
	CHECK(r.n == 1 && strcmp(r.hits[0].source, "zz") == 0);
	rag_results_free(&r);
	rag_close(db);
}

static void test_retries(void)
{
	rag_db *db = open_coll("oa", 0);
	int before = srv.requests;
	srv.fail_next = 2;
	srv.fail_code = 503;
	CHECK_EQ_INT(ingest(db, "oa", "r1", "retry after 503"), 0);
	CHECK_EQ_INT(srv.requests - before, 3);
	srv.fail_next = 1;
	srv.fail_code = 429;
	CHECK_EQ_INT(ingest(db, "oa", "r2", "retry after 429"), 0);
	srv.fail_next = 10; /* gives up after the last attempt */
	srv.fail_code = 500;
	CHECK_EQ_INT(ingest(db, "oa", "r3", "never works"), -1);
	CHECK(strstr(err, "HTTP 500") != NULL);
	srv.fail_next = 1; /* 400 is not retried */
	srv.fail_code = 400;
	before = srv.requests;
	CHECK_EQ_INT(ingest(db, "oa", "r4", "bad request"), -1);
	CHECK_EQ_INT(srv.requests - before, 1);
	srv.fail_next = 0;
	rag_close(db);
}

static void test_refusals(void)
{
	rag_db *db = open_coll("oa", 0);
	srv.bad_dims = 1;
	CHECK_EQ_INT(ingest(db, "oa", "d", "wrong dims"), -1);
	CHECK(strstr(err, "dimensions") != NULL);
	srv.bad_dims = 0;
	srv.garbage = 1;
	CHECK_EQ_INT(ingest(db, "oa", "g", "garbage"), -1);
	srv.garbage = 0;
	rag_close(db);
	setenv("ZG_TEST_OPENAI_KEY", "wrong-key-value", 1);
	db = rag_open(dbpath, 0, err, sizeof(err));
	CHECK_EQ_INT(ingest(db, "oa", "k", "bad key"), -1);
	CHECK(strstr(err, "HTTP 401") != NULL);
	CHECK(strstr(err, "wrong-key-value") == NULL); /* never shown */
	rag_close(db);
	unsetenv("ZG_TEST_OPENAI_KEY");
	db = rag_open(dbpath, 0, err, sizeof(err));
	CHECK_EQ_INT(ingest(db, "oa", "k", "no key"), -1);
	CHECK(strstr(err, "ZG_TEST_OPENAI_KEY") != NULL);
	rag_close(db);
	setenv("ZG_TEST_OPENAI_KEY", "sekrit-key", 1);
}

static void test_timeout(void)
{
	rag_db *db = open_coll("slow", 300);
	srv.slow_ms = 800;
	CHECK_EQ_INT(ingest(db, "slow", "t", "too slow"), -1);
	CHECK(strstr(err, "imeout") != NULL ||
	      strstr(err, "timed out") != NULL);
	srv.slow_ms = 0;
	rag_close(db);
}

int main(void)
{
	struct MHD_Daemon *d;
	const union MHD_DaemonInfo *info;
	struct sockaddr_in sa;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

	snprintf(dbpath, sizeof(dbpath), "/tmp/zg-rag-openai-%d.db",
		 (int)getpid());
	setenv("ZG_TEST_OPENAI_KEY", "sekrit-key", 1);
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
				     MHD_USE_THREAD_PER_CONNECTION,
			     0, NULL, NULL, handler, NULL, MHD_OPTION_SOCK_ADDR,
			     &sa, MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "cannot start the stand-in server\n");
		return 1;
	}
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	snprintf(base, sizeof(base), "http://127.0.0.1:%u/v1",
		 (unsigned)info->port);
	RUN(test_roundtrip);
	RUN(test_retries);
	RUN(test_refusals);
	RUN(test_timeout);
	MHD_stop_daemon(d);
	unlink(dbpath);
	{
		char p[300];
		snprintf(p, sizeof(p), "%s-wal", dbpath);
		unlink(p);
		snprintf(p, sizeof(p), "%s-shm", dbpath);
		unlink(p);
	}
	return ZGT_DONE();
}
