/* The chat completions client of llm_chat's endpoint mode: one POST per
 * attempt over libcurl, one deadline for all attempts, bounded retries
 * with back-off on connection errors, 429 and 5xx (Retry-After honoured
 * up to a cap), a capped answer, and the bearer key kept out of every
 * message (libcurl's verbose output is never switched on). */
#define _GNU_SOURCE /* explicit_bzero */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llm_int.h"
#include "web_text.h"

#define KEY_MAX 4096
#define BACKOFF_CAP_MS 8000
#define SLICE_MS 50

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)(ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

int llm_endpoint_set_base(struct llm_endpoint *e, const char *base, char *err,
			  size_t errlen)
{
	size_t n = strlen(base);
	const char *host;
	int w;

	if (strncmp(base, "http://", 7) != 0 &&
	    strncmp(base, "https://", 8) != 0) {
		snprintf(err, errlen, "--llm-url: only http:// and https:// "
				      "URLs");
		return -1;
	}
	host = base + (base[4] == 's' ? 8 : 7);
	if (strcspn(host, "/") > strcspn(host, "@") || strpbrk(base, "?#") ||
	    n > 2000 || !*host) {
		snprintf(err, errlen,
			 "--llm-url: a base URL without credentials, query "
			 "or fragment (the key goes in --llm-key-file)");
		return -1;
	}
	while (n && base[n - 1] == '/')
		n--;
	free(e->url);
	e->url = malloc(n + sizeof("/chat/completions"));
	if (!e->url) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	w = snprintf(e->url, n + sizeof("/chat/completions"),
		     "%.*s/chat/completions", (int)n, base);
	return w < 0 ? -1 : 0;
}

int llm_endpoint_read_key(struct llm_endpoint *e, const char *path, char *err,
			  size_t errlen)
{
	char buf[KEY_MAX + 2];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f) {
		snprintf(err, errlen, "--llm-key-file %s: %s", path,
			 strerror(errno));
		return -1;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	while (n && (buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		buf[--n] = '\0';
	if (n == 0 || n > KEY_MAX || strpbrk(buf, " \t") ||
	    memchr(buf, '\0', n)) {
		explicit_bzero(buf, sizeof(buf));
		snprintf(err, errlen,
			 "--llm-key-file %s: the first line must hold the "
			 "key (1..%d bytes, no spaces)",
			 path, KEY_MAX);
		return -1;
	}
	free(e->key);
	e->key = strdup(buf);
	explicit_bzero(buf, sizeof(buf));
	if (!e->key) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

void llm_endpoint_free(struct llm_endpoint *e)
{
	if (e->key)
		explicit_bzero(e->key, strlen(e->key));
	free(e->key);
	free(e->url);
	free(e->model);
	free(e->proxy);
	memset(e, 0, sizeof(*e));
}

/* What one attempt brought back. */
struct attempt {
	struct web_capbuf body;
	long status;
	long retry_after_s; /* -1: none or not a number of seconds */
	llm_cancel_fn cancel;
	void *cancel_ud;
};

/* Header callback: keeps Retry-After when it is a number of seconds. */
static size_t on_header(char *data, size_t sz, size_t nm, void *ud)
{
	struct attempt *a = ud;
	size_t n = sz * nm, l = strlen("retry-after:");
	char v[32], *end;
	long x;

	if (n > l && n - l < sizeof(v) &&
	    strncasecmp(data, "retry-after:", l) == 0) {
		memcpy(v, data + l, n - l);
		v[n - l] = '\0';
		errno = 0;
		x = strtol(v, &end, 10);
		while (*end == ' ' || *end == '\r' || *end == '\n')
			end++;
		a->retry_after_s = (errno || end == v || *end || x < 0) ? -1
									 : x;
	}
	return n;
}

/* Progress callback: a non-zero return (a cancelled call) aborts. */
static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut,
		       curl_off_t un)
{
	const struct attempt *a = ud;

	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	return a->cancel && a->cancel(a->cancel_ud);
}

/* Frees a header list after wiping it (one line holds the key). */
static void wipe_headers(struct curl_slist *h)
{
	for (struct curl_slist *p = h; p; p = p->next)
		explicit_bzero(p->data, strlen(p->data));
	curl_slist_free_all(h);
}

/* The request's headers, with the bearer line when a key is set. NULL
 * when out of memory; free with wipe_headers. */
static struct curl_slist *headers(const struct llm_endpoint *e)
{
	struct curl_slist *h = NULL, *n;
	const char *fixed[] = { "Content-Type: application/json",
				"Accept: application/json", "Expect:" };
	char *auth = NULL;
	size_t len;

	for (size_t i = 0; i < 3; i++) {
		n = curl_slist_append(h, fixed[i]);
		if (!n)
			goto fail;
		h = n;
	}
	if (!e->key)
		return h;
	len = strlen(e->key) + sizeof("Authorization: Bearer ");
	auth = malloc(len);
	if (!auth || snprintf(auth, len, "Authorization: Bearer %s", e->key) < 0)
		goto fail;
	n = curl_slist_append(h, auth);
	if (!n)
		goto fail;
	explicit_bzero(auth, len);
	free(auth);
	return n;
fail:
	if (auth)
		explicit_bzero(auth, len);
	free(auth);
	wipe_headers(h);
	return NULL;
}

/* The kinds of failed attempt. */
enum { A_OK, A_RETRY, A_FAIL };

/* Classifies a finished attempt; writes the reason into why. connected:
 * the attempt got a connection (a timeout after it is the deadline, as
 * each attempt's timeout is what is left of it). */
static int judge(const struct llm_endpoint *e, CURLcode cc,
		 const struct attempt *a, int connected, char *why,
		 size_t whylen)
{
	char msg[LLM_MAX_ERROR_TEXT + 8];

	if (a->body.too_big || cc == CURLE_FILESIZE_EXCEEDED) {
		snprintf(why, whylen, "the answer is larger than %zu bytes",
			 e->max_response);
		return A_FAIL;
	}
	if (cc == CURLE_ABORTED_BY_CALLBACK) {
		snprintf(why, whylen, "cancelled");
		return A_FAIL;
	}
	if (cc == CURLE_OPERATION_TIMEDOUT && connected) {
		snprintf(why, whylen, "no answer within the %ld ms deadline",
			 e->timeout_ms);
		return A_FAIL;
	}
	if (cc != CURLE_OK) {
		int conn = cc == CURLE_COULDNT_CONNECT ||
			   cc == CURLE_COULDNT_RESOLVE_HOST ||
			   cc == CURLE_OPERATION_TIMEDOUT ||
			   cc == CURLE_SEND_ERROR || cc == CURLE_RECV_ERROR ||
			   cc == CURLE_PARTIAL_FILE || cc == CURLE_GOT_NOTHING;
		snprintf(why, whylen, "%s: %s",
			 conn ? "connection failed" : "transfer failed",
			 curl_easy_strerror(cc));
		return conn ? A_RETRY : A_FAIL;
	}
	if (a->status >= 200 && a->status <= 299)
		return A_OK;
	llm_error_message(a->body.p ? a->body.p : "", a->body.n, e->key, msg,
			  sizeof(msg));
	snprintf(why, whylen, "the endpoint answered HTTP %ld%s%s", a->status,
		 msg[0] ? ": " : "", msg);
	return a->status == 429 || a->status >= 500 ? A_RETRY : A_FAIL;
}

/* Sleeps ms in slices, stopping early when cancelled: 0, or -1. */
static int pause_ms(long ms, llm_cancel_fn cancel, void *ud)
{
	while (ms > 0) {
		long s = ms < SLICE_MS ? ms : SLICE_MS;
		struct timespec ts = { 0, s * 1000000L };
		if (cancel && cancel(ud))
			return -1;
		nanosleep(&ts, NULL);
		ms -= s;
	}
	return 0;
}

/* The wait before attempt number k+1 (k from 0), or -1 with why when the
 * endpoint's Retry-After is over the cap or the deadline leaves no room. */
static long wait_before_retry(const struct llm_endpoint *e,
			      const struct attempt *a, int k, long deadline,
			      char *why, size_t whylen)
{
	long w = e->backoff_ms;
	size_t l = strlen(why);

	for (int i = 0; i < k && w < BACKOFF_CAP_MS; i++)
		w *= 2;
	if (w > BACKOFF_CAP_MS)
		w = BACKOFF_CAP_MS;
	if (a->retry_after_s > LLM_RETRY_AFTER_CAP_S) {
		snprintf(why + l, whylen - l,
			 " (Retry-After %ld s is over the %d s cap)",
			 a->retry_after_s, LLM_RETRY_AFTER_CAP_S);
		return -1;
	}
	if (a->retry_after_s >= 0 && a->retry_after_s * 1000 > w)
		w = a->retry_after_s * 1000;
	if (now_ms() + w >= deadline) {
		snprintf(why + l, whylen - l,
			 " (no time left in the %ld ms deadline to retry)",
			 e->timeout_ms);
		return -1;
	}
	return w;
}

/* The options every attempt shares (the timeouts are set per attempt). */
static void setup(CURL *h, const struct llm_endpoint *e, const char *body,
		  struct curl_slist *hdrs, struct attempt *a)
{
	curl_easy_setopt(h, CURLOPT_URL, e->url);
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
			 (curl_off_t)strlen(body));
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L); /* key stays put */
	/* only the zone's egress proxy (--llm-proxy), none from the env */
	curl_easy_setopt(h, CURLOPT_PROXY, e->proxy ? e->proxy : "");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE,
			 (curl_off_t)e->max_response);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, web_capbuf_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &a->body);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, a);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, a);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "zonegate-mcpd-llm/0.1");
}

/* Runs attempts until one succeeds, fails for good, or the retries or
 * the deadline run out. 0 with out filled, or -1 with err. */
static int attempts(CURL *h, const struct llm_endpoint *e, struct attempt *a,
		    struct llm_reply *out, char *err, size_t errlen)
{
	long deadline = now_ms() + e->timeout_ms;
	char why[512];
	int k;

	for (k = 0;; k++) {
		long left = deadline - now_ms(), w;
		curl_off_t connect_us = 0;
		CURLcode cc;
		int verdict;

		free(a->body.p);
		memset(&a->body, 0, sizeof(a->body));
		a->body.max = e->max_response;
		a->status = 0;
		a->retry_after_s = -1;
		if (left <= 0) {
			snprintf(why, sizeof(why),
				 "no answer within the %ld ms deadline",
				 e->timeout_ms);
			break;
		}
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, left);
		curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
				 e->connect_timeout_ms < left
					 ? e->connect_timeout_ms
					 : left);
		cc = curl_easy_perform(h);
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &a->status);
		curl_easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &connect_us);
		verdict = judge(e, cc, a, connect_us > 0, why, sizeof(why));
		if (verdict == A_OK) {
			if (llm_parse_response(a->body.p ? a->body.p : "",
					       a->body.n, out, why,
					       sizeof(why)) == 0)
				return 0;
			break;
		}
		if (verdict == A_FAIL || k >= e->retries)
			break;
		w = wait_before_retry(e, a, k, deadline, why, sizeof(why));
		if (w < 0)
			break;
		if (pause_ms(w, a->cancel, a->cancel_ud) != 0) {
			snprintf(why, sizeof(why), "cancelled");
			break;
		}
	}
	llm_scrub(why, strlen(why), e->key);
	snprintf(err, errlen, "%s (%d attempt%s)", why, k + 1,
		 k ? "s" : "");
	return -1;
}

int llm_endpoint_chat(const struct llm_endpoint *e, const struct llm_msg *msgs,
		      size_t n, long max_tokens, llm_cancel_fn cancel,
		      void *cancel_ud, struct llm_reply *out, char *err,
		      size_t errlen)
{
	struct attempt a = { .cancel = cancel, .cancel_ud = cancel_ud };
	char *body = llm_request_json(e->model, msgs, n, max_tokens,
				      LLM_MAX_REQUEST);
	struct curl_slist *hdrs = NULL;
	CURL *h = NULL;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (!body) {
		snprintf(err, errlen, "the request would be larger than %u "
				      "bytes",
			 LLM_MAX_REQUEST);
		return -1;
	}
	hdrs = headers(e);
	h = curl_easy_init();
	if (!hdrs || !h) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	setup(h, e, body, hdrs, &a);
	rc = attempts(h, e, &a, out, err, errlen);
	if (rc == 0 && !out->model[0])
		snprintf(out->model, sizeof(out->model), "%s", e->model);
out:
	free(a.body.p);
	curl_easy_cleanup(h);
	wipe_headers(hdrs);
	free(body);
	return rc;
}
