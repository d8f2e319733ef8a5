/* The "openai" embedder: any OpenAI-compatible POST {base}/embeddings
 * endpoint (OpenAI, Ollama, llama.cpp server, vLLM, TEI) over libcurl,
 * in batches, with timeouts and retries with backoff on transport errors,
 * 429 and 5xx. The API key comes from an environment variable or a file
 * and never appears in an error or log. */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rag_int.h"

#define OA_BATCH 64		  /* inputs per request */
#define OA_BATCH_BYTES (1u << 20) /* text bytes per request */
#define OA_MAX_RESPONSE (64u << 20)
#define OA_ATTEMPTS 4
#define OA_BACKOFF_MS 200
#define OA_TIMEOUT_MS 60000
#define OA_MAX_KEY 512

struct openai {
	char *url; /* base + "/embeddings" */
	char *model;
	char *auth; /* "Authorization: Bearer KEY" or NULL */
	long timeout_ms;
};

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* One POST; returns the HTTP status (0 on a transport error, with err). */
static long post_once(const struct openai *o, const char *req,
		      struct web_capbuf *b, char *err, size_t errlen)
{
	struct curl_slist *h =
		curl_slist_append(NULL, "Content-Type: application/json");
	CURL *c = curl_easy_init();
	long code = 0;
	CURLcode cc;

	if (o->auth)
		h = curl_slist_append(h, o->auth);
	if (!c || !h) {
		rag_errf(err, errlen, "openai embedder: curl init failed");
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_URL, o->url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, req);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, o->timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
			 o->timeout_ms < 10000 ? o->timeout_ms : 10000L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, web_capbuf_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	cc = curl_easy_perform(c);
	if (cc != CURLE_OK)
		rag_errf(err, errlen, "openai embedder: %s: %s", o->url,
			 b->too_big ? "response too large"
				    : curl_easy_strerror(cc));
	else
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
out:
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return code;
}

/* The server's own error message, if its body says one. */
static void server_error(const struct web_capbuf *b, long code, const char *url,
			 char *err, size_t errlen)
{
	json_t *j = b->p ? json_loads(b->p, 0, NULL) : NULL;
	const char *msg = json_string_value(
		json_object_get(json_object_get(j, "error"), "message"));
	rag_errf(err, errlen, "openai embedder: %s: HTTP %ld%s%.*s", url, code,
		 msg ? ": " : "", (int)web_utf8_prefix(msg ? msg : "", 200),
		 msg ? msg : "");
	json_decref(j);
}

/* POSTs req with retries; on success the body is in b. */
static int post(const struct openai *o, const char *req, struct web_capbuf *b,
		char *err, size_t errlen)
{
	long backoff = OA_BACKOFF_MS;
	int i;

	for (i = 0; i < OA_ATTEMPTS; i++) {
		long code;
		free(b->p);
		b->p = NULL;
		b->n = 0;
		b->too_big = 0;
		code = post_once(o, req, b, err, errlen);
		if (code >= 200 && code < 300)
			return 0;
		if (code)
			server_error(b, code, o->url, err, errlen);
		if (code && code != 429 && code < 500)
			return -1; /* the request itself is wrong: no retry */
		if (b->too_big)
			return -1;
		if (i + 1 < OA_ATTEMPTS)
			sleep_ms(backoff);
		backoff *= 2;
	}
	return -1;
}

/* Copies response vectors into out (n x dims), in "index" order. */
static int parse_response(const struct web_capbuf *b, size_t n, int dims,
			  float *out, char *err, size_t errlen)
{
	json_t *j = json_loads(b->p ? b->p : "", 0, NULL);
	json_t *data = json_object_get(j, "data");
	size_t i, k;
	int rc = -1;

	if (!json_is_array(data) || json_array_size(data) != n) {
		rag_errf(err, errlen,
			 "openai embedder: response has %zu"
			 " embeddings for %zu inputs",
			 json_array_size(data), n);
		goto out;
	}
	for (i = 0; i < n; i++) {
		json_t *item = json_array_get(data, i);
		json_t *emb = json_object_get(item, "embedding");
		json_t *ix = json_object_get(item, "index");
		size_t at = json_is_integer(ix) ? (size_t)json_integer_value(ix)
						: i;
		if (!json_is_array(emb) ||
		    json_array_size(emb) != (size_t)dims || at >= n) {
			rag_errf(err, errlen,
				 "openai embedder: embedding %zu has"
				 " %zu dimensions, expected %d",
				 i, json_array_size(emb), dims);
			goto out;
		}
		for (k = 0; k < (size_t)dims; k++) {
			json_t *v = json_array_get(emb, k);
			if (!json_is_number(v)) {
				rag_errf(err, errlen,
					 "openai embedder: non-number"
					 " in embedding");
				goto out;
			}
			out[at * (size_t)dims + k] =
				(float)json_number_value(v);
		}
	}
	rc = 0;
out:
	json_decref(j);
	return rc;
}

/* Embeds texts[0..n) in one request. */
static int embed_batch(struct rag_embedder *e, const char *const *texts,
		       const size_t *lens, size_t n, float *out, char *err,
		       size_t errlen)
{
	struct openai *o = e->impl;
	json_t *in = json_array(), *req;
	struct web_capbuf b = { .max = OA_MAX_RESPONSE };
	char *s = NULL;
	size_t i;
	int rc = -1;

	for (i = 0; in && i < n; i++)
		json_array_append_new(in, json_stringn(texts[i], lens[i]));
	req = json_pack("{s:s, s:o}", "model", o->model, "input", in);
	s = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (!s) {
		rag_errf(err, errlen, "openai embedder: out of memory");
		return -1;
	}
	if (post(o, s, &b, err, errlen) == 0)
		rc = parse_response(&b, n, e->dims, out, err, errlen);
	free(s);
	free(b.p);
	return rc;
}

static int oa_embed(struct rag_embedder *e, const char *const *texts,
		    const size_t *lens, size_t n, float *out, char *err,
		    size_t errlen)
{
	size_t i = 0;
	while (i < n) {
		size_t j = i, bytes = 0;
		while (j < n && j - i < OA_BATCH &&
		       (j == i || bytes + lens[j] <= OA_BATCH_BYTES))
			bytes += lens[j++];
		if (embed_batch(e, texts + i, lens + i, j - i,
				out + i * (size_t)e->dims, err, errlen) < 0)
			return -1;
		i = j;
	}
	return 0;
}

static void oa_destroy(struct rag_embedder *e)
{
	struct openai *o = e->impl;
	if (o) {
		free(o->url);
		free(o->model);
		if (o->auth) /* do not leave the key in freed memory */
			memset(o->auth, 0, strlen(o->auth));
		free(o->auth);
		free(o);
	}
	free(e);
}

/* Reads the key from key_env or the first line of key_file. */
static int load_key(const json_t *cfg, char *key, size_t cap, char *err,
		    size_t errlen)
{
	const char *env = json_string_value(json_object_get(cfg, "key_env"));
	const char *file = json_string_value(json_object_get(cfg, "key_file"));
	FILE *fp;

	key[0] = '\0';
	if (env) {
		const char *v = getenv(env);
		if (!v || !*v || strlen(v) >= cap) {
			rag_errf(err, errlen,
				 "openai embedder: environment"
				 " variable %s is unset or too long",
				 env);
			return -1;
		}
		snprintf(key, cap, "%s", v);
		return 0;
	}
	if (!file)
		return 0; /* local servers often need no key */
	fp = fopen(file, "r");
	if (!fp || !fgets(key, (int)cap, fp)) {
		rag_errf(err, errlen,
			 "openai embedder: cannot read key file %s", file);
		if (fp)
			fclose(fp);
		return -1;
	}
	fclose(fp);
	key[strcspn(key, "\r\n")] = '\0';
	return 0;
}

static int oa_setup(struct openai *o, const json_t *cfg, char *err,
		    size_t errlen)
{
	const char *base = json_string_value(json_object_get(cfg, "base_url"));
	const char *model = json_string_value(json_object_get(cfg, "model"));
	json_t *tmo = json_object_get(cfg, "timeout_ms");
	char key[OA_MAX_KEY];
	size_t bl;

	if (!base ||
	    (strncmp(base, "http://", 7) != 0 &&
	     strncmp(base, "https://", 8) != 0) ||
	    strlen(base) > 2048) {
		rag_errf(err, errlen,
			 "openai embedder needs --base-url"
			 " http(s)://host[:port]/v1");
		return -1;
	}
	if (!model || !*model || strlen(model) > 256) {
		rag_errf(err, errlen, "openai embedder needs --model NAME");
		return -1;
	}
	if (load_key(cfg, key, sizeof(key), err, errlen) < 0)
		return -1;
	bl = strlen(base);
	while (bl && base[bl - 1] == '/')
		bl--;
	o->url = malloc(bl + 16);
	o->model = strdup(model);
	if (key[0]) {
		o->auth = malloc(strlen(key) + 32);
		if (o->auth)
			snprintf(o->auth, strlen(key) + 32,
				 "Authorization: Bearer %s", key);
	}
	if (!o->url || !o->model || (key[0] && !o->auth)) {
		memset(key, 0, sizeof(key));
		rag_errf(err, errlen, "out of memory");
		return -1;
	}
	memset(key, 0, sizeof(key));
	snprintf(o->url, bl + 16, "%.*s/embeddings", (int)bl, base);
	o->timeout_ms = json_is_integer(tmo) && json_integer_value(tmo) > 0 &&
					json_integer_value(tmo) <= 600000
				? (long)json_integer_value(tmo)
				: OA_TIMEOUT_MS;
	return 0;
}

/* Learns the dimensions from one probe request when not configured. */
static int oa_dims(struct rag_embedder *e, const json_t *cfg, char *err,
		   size_t errlen)
{
	json_t *d = json_object_get(cfg, "dims");
	const char *probe = "dimension probe";
	size_t plen = strlen(probe);
	struct web_capbuf b = { .max = OA_MAX_RESPONSE };
	char *req;
	json_t *j;
	int rc = -1;

	if (json_is_integer(d)) {
		e->dims = (int)json_integer_value(d);
		if (e->dims < 1 || e->dims > RAG_MAX_DIMS) {
			rag_errf(err, errlen,
				 "openai embedder: dims must be 1..%d",
				 RAG_MAX_DIMS);
			return -1;
		}
		return 0;
	}
	j = json_pack("{s:s, s:[s#]}", "model",
		      ((struct openai *)e->impl)->model, "input", probe,
		      (int)plen);
	req = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (req && post(e->impl, req, &b, err, errlen) == 0) {
		json_t *r = json_loads(b.p, 0, NULL);
		size_t n = json_array_size(json_object_get(
			json_array_get(json_object_get(r, "data"), 0),
			"embedding"));
		json_decref(r);
		if (n < 1 || n > RAG_MAX_DIMS)
			rag_errf(err, errlen,
				 "openai embedder: probe returned"
				 " %zu dimensions",
				 n);
		else
			e->dims = (int)n, rc = 0;
	}
	free(req);
	free(b.p);
	return rc;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct rag_embedder *rag_openai_open(const json_t *config, char *err,
				     size_t errlen)
{
	struct rag_embedder *e = calloc(1, sizeof(*e));
	struct openai *o = calloc(1, sizeof(*o));
	char sum[4096];

	pthread_once(&curl_once, curl_init);
	if (!e || !o) {
		free(e);
		free(o);
		rag_errf(err, errlen, "out of memory");
		return NULL;
	}
	e->impl = o;
	e->destroy = oa_destroy;
	e->embed = oa_embed;
	snprintf(e->id, sizeof(e->id), "openai");
	if (oa_setup(o, config, err, errlen) < 0 ||
	    oa_dims(e, config, err, errlen) < 0) {
		oa_destroy(e);
		return NULL;
	}
	/* No weights to hash: the endpoint, model and size identify it. */
	snprintf(sum, sizeof(sum), "%s|%s|%d", o->url, o->model, e->dims);
	rag_fnv_hex(sum, strlen(sum), e->checksum);
	return e;
}
