/* The MCP client for Streamable HTTP (client_http.h): each message one
 * POST on libcurl's multi interface, driven by the caller's poll loop
 * (curl_multi_socket_action), JSON or SSE answers, the session id and
 * protocol version headers, the GET stream, resumption of a dropped SSE
 * stream by Last-Event-ID, stateless (2026-07-28) sessions with their
 * Mcp-Method, Mcp-Name and Mcp-Param-* headers, and caps and deadlines
 * on everything. What
 * arrives is queued during curl's callbacks and handed to the caller
 * after them, so the caller may send or close from its callbacks. */
#define _GNU_SOURCE
#include "client_http.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "jsonrpc.h"
#include "param_headers.h"
#include "rev2026.h"
#include "zg_queue.h"

#define HC_BUCKETS 256
#define HC_SID_MAX 256		   /* bytes of an Mcp-Session-Id */
#define HC_HEADERS_MAX (64u << 10) /* bytes of one response's headers */
#define HC_DEPTH_MAX 64		   /* nesting of a message */
#define HC_URL_MAX 2048
#define HC_HEADER_LINES_MAX 32
#define HC_GET_BACKOFF_MIN_MS 500
#define HC_GET_BACKOFF_MAX_MS 30000
#define HC_RESUMES_MAX 16     /* Last-Event-ID resumptions per request */
#define HC_RETRY_MAX_MS 10000 /* a server's "retry:" is capped */
#define HC_DELETE_TIMEOUT_MS 5000
/* GET streams open at once: each holds a connection for as long as its
 * session lives (HTTP/1.1), so they must leave room for the POSTs */
#define HC_GETS_MAX 128

enum { CT_NONE, CT_JSON, CT_SSE, CT_OTHER };
enum xkind { X_POST, X_GET, X_RESUME, X_DELETE };
/* HS_STATELESS: a 2026-07-28 session, no handshake, no session id */
enum { HS_NEW, HS_INIT, HS_OPEN, HS_GONE, HS_STATELESS };
enum { GET_NONE, GET_WANT, GET_RUN, GET_OFF };

/* something for the caller, in arrival order */
struct dmsg {
	struct dmsg *next;
	uint32_t sid;
	int closed;  /* the session is gone; data is the reason */
	json_t *rel; /* the POSTed request whose stream brought it, or NULL */
	size_t len;
	char data[];
};

struct hsess;

struct xfer {
	struct mcp_hc *hc;
	struct hsess *s; /* NULL for DELETE */
	enum xkind kind;
	CURL *e;
	struct curl_slist *hdrs;
	char *body; /* the POSTed message (curl reads it from here) */
	size_t body_len;
	int body_counted; /* in hc->queued: until the answer begins */
	json_t *req_id;	  /* the POSTed request's id; NULL for the rest */
	int is_init, answered, ctype, resumes;
	size_t hdr_bytes, discarded;
	char *resp; /* a JSON body so far */
	size_t resp_len, resp_cap;
	struct mcp_sse sse;
	char new_sid[HC_SID_MAX + 1];
	char fail[96];	  /* why we stopped it ourselves */
	int64_t start_at; /* X_RESUME: when to start (ms), 0 now */
	int running;	  /* in the multi handle */
	int paused;	  /* its body waits until the caller took the rest */
	struct xfer *prev, *next;
};

struct hsess {
	uint32_t sid;
	int state;
	struct hsess *hnext, *prev, *next;
	char *sid_hdr; /* "Mcp-Session-Id: ..." once known */
	char proto[40];
	struct zg_queue q; /* waiting for initialize's answer (capped by
			      * max_queued over the whole client) */
	int get_state;
	int64_t get_at;
	long get_backoff;
	struct xfer *get;
};

struct hc_sock {
	curl_socket_t fd;
	int what;
};

struct mcp_hc {
	CURLM *multi;
	struct mcp_hc_opts o;
	struct mcp_hc_ops ops;
	void *ud;
	char *url, *ca_file, *label;
	char **extra;
	size_t nextra;
	struct hsess *buckets[HC_BUCKETS];
	struct hsess *sessions;
	unsigned nsessions;
	uint32_t next_sid;
	struct xfer *xfers; /* running */
	struct xfer *later; /* resumptions waiting for their time */
	unsigned nxfers;
	unsigned ngets;	  /* of them, GET streams */
	unsigned npaused; /* of them, paused (too much waiting for the caller) */
	size_t partial;	  /* bytes of bodies and events begun, not complete */
	struct xfer *owner; /* over the cap: the one transfer that goes on */
	size_t queued;
	struct hc_sock *socks;
	size_t nsocks, socks_cap;
	int64_t timer_at; /* curl's timer (ms), -1 none */
	int64_t due_at;	  /* our own: GET streams and resumptions */
	struct dmsg *dh, *dt;
	size_t dbytes;
	int in_curl;
	int64_t log_at;
	uint64_t log_skipped;
	struct mcp_hc_stats st;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A line for the caller's log, at most one a second (the rest counted). */
static void hc_log(struct mcp_hc *hc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void hc_log(struct mcp_hc *hc, const char *fmt, ...)
{
	char line[256];
	int n;
	va_list ap;
	int64_t now = now_ms();

	if (!hc->ops.log)
		return;
	if (now < hc->log_at) {
		hc->log_skipped++;
		return;
	}
	hc->log_at = now + 1000;
	n = snprintf(line, sizeof(line), "%s: ", hc->label);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (hc->log_skipped) {
		size_t l = strlen(line);
		snprintf(line + l, sizeof(line) - l, " (%llu more not logged)",
			 (unsigned long long)hc->log_skipped);
		hc->log_skipped = 0;
	}
	hc->ops.log(hc->ud, line);
}

static void set_error(struct mcp_hc *hc, const char *why)
{
	hc->st.failures++;
	snprintf(hc->st.last_error, sizeof(hc->st.last_error), "%s", why);
}

/* ---- the URL ---------------------------------------------------------- */

static int host_is_loopback(const char *h)
{
	struct in_addr a4;
	struct in6_addr a6;
	char buf[64];
	size_t n = strlen(h);

	if (strcasecmp(h, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, h, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (n > 2 && n < sizeof(buf) && h[0] == '[' && h[n - 1] == ']') {
		memcpy(buf, h + 1, n - 2);
		buf[n - 2] = '\0';
		return inet_pton(AF_INET6, buf, &a6) == 1 &&
		       memcmp(&a6, &in6addr_loopback, sizeof(a6)) == 0;
	}
	return 0;
}

int mcp_hc_url_ok(const char *url, int insecure_http, char *err, size_t errlen)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *user = NULL, *pass = NULL;
	int ok = 0;

	if (!u) {
		snprintf(err, errlen, "out of memory");
		return 0;
	}
	if (strlen(url) > HC_URL_MAX) {
		snprintf(err, errlen, "url longer than %d bytes", HC_URL_MAX);
		goto out;
	}
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		snprintf(err, errlen, "url must be http(s)://HOST[:PORT]/PATH");
		goto out;
	}
	curl_url_get(u, CURLUPART_USER, &user, 0);
	curl_url_get(u, CURLUPART_PASSWORD, &pass, 0);
	if (user || pass) {
		snprintf(err, errlen,
			 "url must not hold user info (credentials go in "
			 "headers_from)");
		goto out;
	}
	if (strcasecmp(scheme, "https") != 0 &&
	    strcasecmp(scheme, "http") != 0) {
		snprintf(err, errlen, "url must be http or https");
		goto out;
	}
	if (strcasecmp(scheme, "http") == 0 && !insecure_http &&
	    !host_is_loopback(host)) {
		snprintf(err, errlen,
			 "http:// is refused except to loopback (use https, "
			 "or set insecure_http)");
		goto out;
	}
	ok = 1;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_free(pass);
	curl_url_cleanup(u);
	return ok;
}

/* ---- what goes to the caller ------------------------------------------ */

static int deliver_push(struct mcp_hc *hc, uint32_t sid, int closed,
			const char *data, size_t len, json_t *rel)
{
	struct dmsg *d;

	/* on_body pauses a transfer at max_queued; one buffer of curl's may
	 * still complete an event of up to max_message */
	if (!closed &&
	    hc->dbytes + len > hc->o.max_queued + hc->o.max_message + 65536)
		return -1;
	d = malloc(sizeof(*d) + len + 1);
	if (!d)
		return -1;
	d->next = NULL;
	d->sid = sid;
	d->closed = closed;
	d->rel = json_incref(rel);
	d->len = len;
	memcpy(d->data, data, len);
	d->data[len] = '\0';
	if (hc->dt)
		hc->dt->next = d;
	else
		hc->dh = d;
	hc->dt = d;
	hc->dbytes += len;
	return 0;
}

static struct hsess *find_sess(struct mcp_hc *hc, uint32_t sid)
{
	struct hsess *s = hc->buckets[sid % HC_BUCKETS];

	while (s && s->sid != sid)
		s = s->hnext;
	return s;
}

static void deliver_all(struct mcp_hc *hc)
{
	struct dmsg *d;

	while ((d = hc->dh) != NULL) {
		hc->dh = d->next;
		if (!hc->dh)
			hc->dt = NULL;
		hc->dbytes -= d->len;
		if (find_sess(hc, d->sid)) {
			if (d->closed && hc->ops.closed)
				hc->ops.closed(hc->ud, d->sid, d->data);
			else if (!d->closed && d->rel && hc->ops.message_rel)
				hc->ops.message_rel(hc->ud, d->sid, d->data,
						    d->len, d->rel);
			else if (!d->closed)
				hc->ops.message(hc->ud, d->sid, d->data,
						d->len);
		}
		json_decref(d->rel);
		free(d);
	}
}

/* The error response that ends request id when its POST failed. */
static void synth_error(struct mcp_hc *hc, uint32_t sid, json_t *id,
			const char *why)
{
	char msg[160];
	json_t *e;
	char *txt;
	size_t len;

	snprintf(msg, sizeof(msg), "upstream: %s", why);
	e = jr_error(id, -32000, msg, NULL);
	txt = e ? jr_dump(e, &len) : NULL;
	if (txt && deliver_push(hc, sid, 0, txt, len, NULL) == 0) {
		free(txt);
		json_decref(e);
		return;
	}
	free(txt);
	json_decref(e);
	/* out of memory: the session is the only thing left to end */
	deliver_push(hc, sid, 1, "out of memory", 13, NULL);
}

/* ---- transfers ---------------------------------------------------------- */

static size_t on_header(char *buf, size_t size, size_t n, void *ud);
static size_t on_body(char *buf, size_t size, size_t n, void *ud);

static int add_header(struct curl_slist **l, const char *line)
{
	struct curl_slist *n = curl_slist_append(*l, line);

	if (!n)
		return -1;
	*l = n;
	return 0;
}

/* The request headers of x: ours, then the configured ones. */
static int build_headers(struct xfer *x, const char *last_id)
{
	struct mcp_hc *hc = x->hc;
	struct hsess *s = x->s;
	char line[MCP_SSE_ID_MAX + 64];
	int rc = 0;

	if (x->kind == X_POST) {
		rc |= add_header(&x->hdrs, "Content-Type: application/json");
		rc |= add_header(&x->hdrs,
				 "Accept: application/json, text/event-stream");
	} else if (x->kind != X_DELETE) {
		rc |= add_header(&x->hdrs, "Accept: text/event-stream");
	}
	rc |= add_header(&x->hdrs, "Expect:");
	if (s && s->sid_hdr)
		rc |= add_header(&x->hdrs, s->sid_hdr);
	if (s && s->proto[0]) {
		snprintf(line, sizeof(line), "MCP-Protocol-Version: %s",
			 s->proto);
		rc |= add_header(&x->hdrs, line);
	}
	if (last_id && last_id[0]) {
		snprintf(line, sizeof(line), "Last-Event-ID: %s", last_id);
		rc |= add_header(&x->hdrs, line);
	}
	for (size_t i = 0; i < hc->nextra; i++)
		rc |= add_header(&x->hdrs, hc->extra[i]);
	return rc;
}

/* What x holds of a body or an event not yet complete. */
static size_t partial_of(const struct xfer *x)
{
	return x->resp_len + x->sse.data_len + x->sse.line_len;
}

static void xfer_free(struct xfer *x)
{
	if (!x)
		return;
	x->hc->partial -= partial_of(x);
	if (x->hc->owner == x)
		x->hc->owner = NULL;
	if (x->running && x->kind == X_GET)
		x->hc->ngets--;
	if (x->paused)
		x->hc->npaused--;
	if (x->e)
		curl_easy_cleanup(x->e);
	curl_slist_free_all(x->hdrs);
	if (x->body_counted)
		x->hc->queued -= x->body_len;
	free(x->body);
	json_decref(x->req_id);
	free(x->resp);
	mcp_sse_clear(&x->sse);
	free(x);
}

static void xfer_unlink(struct xfer *x)
{
	struct mcp_hc *hc = x->hc;

	if (x->prev)
		x->prev->next = x->next;
	else if (hc->xfers == x)
		hc->xfers = x->next;
	else if (hc->later == x)
		hc->later = x->next;
	if (x->next)
		x->next->prev = x->prev;
	x->prev = x->next = NULL;
}

/* Stops x without a word to the caller. */
static void xfer_abort(struct xfer *x)
{
	struct mcp_hc *hc = x->hc;

	if (x->running) {
		curl_multi_remove_handle(hc->multi, x->e);
		hc->nxfers--;
	}
	if (x->s && x->s->get == x)
		x->s->get = NULL;
	xfer_unlink(x);
	xfer_free(x);
}

static int sse_event(void *ud, const char *type, const char *data, size_t len,
		     const char *id);

/* A transfer of kind k for session s (NULL: a DELETE), curl's options
 * set, not yet started. body (len bytes) is copied. NULL on failure. */
static struct xfer *xfer_new(struct mcp_hc *hc, struct hsess *s, enum xkind k,
			     const char *body, size_t len, const char *last_id)
{
	struct xfer *x = calloc(1, sizeof(*x));
	CURL *e;
	int rc = 0;

	if (!x)
		return NULL;
	x->hc = hc;
	x->s = s;
	x->kind = k;
	mcp_sse_init(&x->sse, hc->o.max_message, sse_event, x);
	if (body) {
		x->body = malloc(len + 1);
		if (!x->body) {
			free(x);
			return NULL;
		}
		memcpy(x->body, body, len);
		x->body[len] = '\0';
		x->body_len = len;
		x->body_counted = 1;
		hc->queued += len;
	}
	e = x->e = curl_easy_init();
	if (!e || build_headers(x, last_id))
		goto fail;
	rc |= curl_easy_setopt(e, CURLOPT_URL, hc->url);
	rc |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	rc |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	rc |= curl_easy_setopt(e, CURLOPT_PROXY, ""); /* never the env's */
	rc |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	rc |= curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	rc |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
			       hc->o.connect_timeout_ms);
	rc |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->hdrs);
	rc |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	rc |= curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	rc |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	rc |= curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	rc |= curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	if (hc->ca_file)
		rc |= curl_easy_setopt(e, CURLOPT_CAINFO, hc->ca_file);
	if (k == X_POST) {
		rc |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body);
		rc |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
				       (curl_off_t)len);
	}
	if (k == X_DELETE) {
		rc |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE");
		rc |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
				       (long)HC_DELETE_TIMEOUT_MS);
	} else if (k == X_POST && hc->o.request_timeout_ms > 0) {
		rc |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
				       hc->o.request_timeout_ms);
	}
	if (rc)
		goto fail;
	return x;
fail:
	xfer_free(x);
	return NULL;
}

/* Starts x (in hc->xfers). 0, or -1 (x is freed). */
static int xfer_start(struct xfer *x)
{
	struct mcp_hc *hc = x->hc;

	if (hc->nxfers >= hc->o.max_transfers ||
	    curl_multi_add_handle(hc->multi, x->e) != CURLM_OK) {
		xfer_free(x);
		return -1;
	}
	hc->nxfers++;
	hc->st.requests++;
	x->running = 1;
	if (x->kind == X_GET)
		hc->ngets++;
	x->start_at = 0;
	x->next = hc->xfers;
	if (hc->xfers)
		hc->xfers->prev = x;
	hc->xfers = x;
	return 0;
}

/* ---- curl's callbacks (nothing reaches the caller from here) ---------- */

static size_t stop_x(struct xfer *x, const char *why)
{
	if (!x->fail[0])
		snprintf(x->fail, sizeof(x->fail), "%s", why);
	return 0;
}

/* Trims the header line's end; 1 if it is name (any case), with the value
 * in *v (leading blanks skipped) and its length in *vn. */
static int header_is(const char *b, size_t n, const char *name, const char **v,
		     size_t *vn)
{
	size_t nl = strlen(name);

	while (n && (b[n - 1] == '\r' || b[n - 1] == '\n'))
		n--;
	if (n <= nl || b[nl] != ':' || strncasecmp(b, name, nl) != 0)
		return 0;
	b += nl + 1;
	n -= nl + 1;
	while (n && (*b == ' ' || *b == '\t')) {
		b++;
		n--;
	}
	while (n && (b[n - 1] == ' ' || b[n - 1] == '\t'))
		n--;
	*v = b;
	*vn = n;
	return 1;
}

static size_t on_header(char *buf, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	const char *v;
	size_t vn, len = size * n;

	if (x->body_counted) {
		/* the server has the request: it no longer counts as queued
		 * (a slow answer holds its body, not the others' room) */
		x->hc->queued -= x->body_len;
		x->body_counted = 0;
	}
	x->hdr_bytes += len;
	if (x->hdr_bytes > HC_HEADERS_MAX)
		return stop_x(x, "response headers over 64 KiB");
	if (len >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
		x->ctype = CT_NONE; /* a new response (after a 1xx) */
		x->new_sid[0] = '\0';
	} else if (header_is(buf, len, "content-type", &v, &vn)) {
		if (vn >= 16 && strncasecmp(v, "application/json", 16) == 0)
			x->ctype = CT_JSON;
		else if (vn >= 17 &&
			 strncasecmp(v, "text/event-stream", 17) == 0)
			x->ctype = CT_SSE;
		else
			x->ctype = CT_OTHER;
	} else if (header_is(buf, len, "mcp-session-id", &v, &vn)) {
		if (vn == 0 || vn > HC_SID_MAX)
			return stop_x(x, "bad Mcp-Session-Id from the server");
		for (size_t i = 0; i < vn; i++)
			if (v[i] < 0x21 || v[i] > 0x7e)
				return stop_x(x, "bad Mcp-Session-Id from the "
						 "server");
		memcpy(x->new_sid, v, vn);
		x->new_sid[vn] = '\0';
	}
	return len;
}

/* One message from the server: checked (a JSON-RPC object within the
 * caps), noted if it answers x's request, queued for the caller. */
static int take_message(struct xfer *x, const char *data, size_t len)
{
	struct mcp_hc *hc = x->hc;
	struct jr_msg m;
	int rc = 0;

	jr_parse(data, len, hc->o.max_message, HC_DEPTH_MAX, &m);
	if (m.kind == JR_INVALID || m.kind == JR_BATCH) {
		jr_msg_clear(&m);
		stop_x(x, "the server sent something that is not a JSON-RPC "
			  "message");
		return -1;
	}
	if ((m.kind == JR_RESULT || m.kind == JR_ERROR) && x->req_id && m.id &&
	    jr_id_equal(m.id, x->req_id)) {
		json_t *pv = json_object_get(json_object_get(m.root, "result"),
					     "protocolVersion");
		x->answered = 1;
		if (x->is_init && json_is_string(pv) &&
		    json_string_length(pv) < sizeof(x->s->proto)) {
			const char *p = json_string_value(pv);
			size_t i;
			for (i = 0; p[i] > 0x20 && p[i] < 0x7f; i++)
				;
			if (!p[i])
				snprintf(x->s->proto, sizeof(x->s->proto), "%s",
					 p);
		}
	}
	/* a request or notification on a POST's stream belongs to the
	 * POSTed request (the revision names it nowhere else) */
	if (deliver_push(hc, x->s->sid, 0, data, len,
			 m.kind == JR_REQUEST || m.kind == JR_NOTIFICATION
				 ? x->req_id
				 : NULL)) {
		stop_x(x, "too much waiting for delivery");
		rc = -1;
	}
	jr_msg_clear(&m);
	return rc;
}

static int sse_event(void *ud, const char *type, const char *data, size_t len,
		     const char *id)
{
	(void)id;
	if (strcmp(type, "message") != 0 || len == 0)
		return 0; /* priming events, other types */
	return take_message(ud, data, len) ? 1 : 0;
}

static size_t body_take(struct xfer *x, char *buf, size_t len);

/* Everything the client holds for the caller: queued, and begun. */
static size_t held(const struct mcp_hc *hc)
{
	return hc->dbytes + hc->partial;
}

/* A body's bytes; over max_queued held, every transfer but the owner
 * pauses (the caller takes what is queued, the owner can complete: held
 * stays under max_queued + max_message + one buffer). */
static size_t on_body(char *buf, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	struct mcp_hc *hc = x->hc;
	size_t before = partial_of(x), r;

	if (x->fail[0])
		return 0;
	if (x != hc->owner && held(hc) >= hc->o.max_queued) {
		x->paused = 1;
		hc->npaused++;
		return CURL_WRITEFUNC_PAUSE;
	}
	r = body_take(x, buf, size * n);
	hc->partial = hc->partial - before + partial_of(x);
	if (x == hc->owner && partial_of(x) == 0)
		hc->owner = NULL; /* its event is through: another may go */
	return r;
}

/* 1 when x's answer with HTTP status is an error the revision puts in a
 * JSON-RPC error body (2026-07-28: 400 for -32020/-32021/-32022, 404 for
 * -32601...): a stateless POST's 4xx in JSON is read like an answer. */
static int error_kept(const struct xfer *x, long status)
{
	return x->kind == X_POST && x->s && x->s->state == HS_STATELESS &&
	       status >= 400 && status <= 499 && x->ctype == CT_JSON;
}

static size_t body_take(struct xfer *x, char *buf, size_t len)
{
	long status = 0;

	curl_easy_getinfo(x->e, CURLINFO_RESPONSE_CODE, &status);
	if ((status < 200 || status > 299 || x->kind == X_DELETE) &&
	    !error_kept(x, status)) {
		x->discarded += len; /* an error's body: not kept */
		if (x->discarded > x->hc->o.max_message)
			return (size_t)stop_x(x,
					      "error body over the size cap");
		return len;
	}
	if (x->ctype == CT_JSON) {
		if (len > x->hc->o.max_message - x->resp_len ||
		    x->resp_len + len > x->hc->o.max_message)
			return stop_x(x, "response over the size cap");
		if (x->resp_len + len + 1 > x->resp_cap) {
			size_t c = x->resp_cap ? x->resp_cap * 2 : 4096;
			char *nb;
			while (c < x->resp_len + len + 1)
				c *= 2;
			nb = realloc(x->resp, c);
			if (!nb)
				return stop_x(x, "out of memory");
			x->resp = nb;
			x->resp_cap = c;
		}
		memcpy(x->resp + x->resp_len, buf, len);
		x->resp_len += len;
		return len;
	}
	if (x->ctype == CT_SSE) {
		if (mcp_sse_feed(&x->sse, buf, len))
			return stop_x(x, x->sse.err);
		return len;
	}
	return stop_x(x, "response is neither JSON nor an event stream");
}

static int sock_cb(CURL *e, curl_socket_t fd, int what, void *ud, void *sp)
{
	struct mcp_hc *hc = ud;
	size_t i;

	(void)e;
	(void)sp;
	for (i = 0; i < hc->nsocks && hc->socks[i].fd != fd; i++)
		;
	if (what == CURL_POLL_REMOVE) {
		if (i < hc->nsocks)
			hc->socks[i] = hc->socks[--hc->nsocks];
		return 0;
	}
	if (i == hc->nsocks) {
		if (hc->nsocks == hc->socks_cap) {
			size_t c = hc->socks_cap ? hc->socks_cap * 2 : 16;
			struct hc_sock *ns =
				realloc(hc->socks, c * sizeof(*ns));
			if (!ns)
				return -1;
			hc->socks = ns;
			hc->socks_cap = c;
		}
		hc->socks[hc->nsocks++].fd = fd;
	}
	hc->socks[i].what = what;
	return 0;
}

static int timer_cb(CURLM *m, long ms, void *ud)
{
	struct mcp_hc *hc = ud;

	(void)m;
	hc->timer_at = ms < 0 ? -1 : now_ms() + ms;
	return 0;
}

/* ---- sessions ---------------------------------------------------------- */

static void sess_unlink(struct mcp_hc *hc, struct hsess *s)
{
	struct hsess **pp = &hc->buckets[s->sid % HC_BUCKETS];

	while (*pp && *pp != s)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = s->hnext;
	if (s->prev)
		s->prev->next = s->next;
	else
		hc->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	hc->nsessions--;
}

static void sess_free(struct mcp_hc *hc, struct hsess *s)
{
	hc->queued -= zg_queue_bytes(&s->q);
	zg_queue_clear(&s->q);
	free(s->sid_hdr);
	free(s);
}

/* Aborts every transfer of s (or, with s NULL, every one). */
static void abort_xfers(struct mcp_hc *hc, struct hsess *s)
{
	struct xfer *lists[2] = { hc->xfers, hc->later }, *x, *nx;

	for (int l = 0; l < 2; l++) {
		for (x = lists[l]; x; x = nx) {
			nx = x->next;
			if (!s || x->s == s)
				xfer_abort(x);
		}
	}
}

uint32_t mcp_hc_open(struct mcp_hc *hc)
{
	struct hsess *s = calloc(1, sizeof(*s));

	if (!s)
		return 0;
	zg_queue_init(&s->q, 0, 0); /* the client's max_queued caps it */
	if (++hc->next_sid == 0)
		hc->next_sid = 1;
	s->sid = hc->next_sid;
	s->state = HS_NEW;
	s->get_backoff = HC_GET_BACKOFF_MIN_MS;
	s->hnext = hc->buckets[s->sid % HC_BUCKETS];
	hc->buckets[s->sid % HC_BUCKETS] = s;
	s->next = hc->sessions;
	if (hc->sessions)
		hc->sessions->prev = s;
	hc->sessions = s;
	hc->nsessions++;
	return s->sid;
}

void mcp_hc_close(struct mcp_hc *hc, uint32_t sid)
{
	struct hsess *s = find_sess(hc, sid);
	struct xfer *x;

	if (!s)
		return;
	abort_xfers(hc, s);
	sess_unlink(hc, s);
	if (s->sid_hdr && s->state != HS_GONE) {
		struct hsess tmp = *s; /* for the DELETE's headers */
		x = xfer_new(hc, &tmp, X_DELETE, NULL, 0, NULL);
		if (x) {
			x->s = NULL;
			xfer_start(x);
		}
	}
	sess_free(hc, s);
}

/* ---- stateless (2026-07-28) sessions ---------------------------------- */

uint32_t mcp_hc_open_stateless(struct mcp_hc *hc, const char *version)
{
	uint32_t sid;
	struct hsess *s;
	size_t i;

	for (i = 0; version && version[i] > 0x20 && version[i] < 0x7f; i++)
		;
	if (!version || !i || version[i] || i >= sizeof(s->proto))
		return 0;
	sid = mcp_hc_open(hc);
	s = sid ? find_sess(hc, sid) : NULL;
	if (!s)
		return 0;
	s->state = HS_STATELESS;
	s->get_state = GET_OFF; /* the revision has no GET stream */
	snprintf(s->proto, sizeof(s->proto), "%s", version);
	return sid;
}

/* Adds "name: VALUE" with v (n bytes) encoded as a header value. A value
 * over the cap is left out (the server then refuses the request with its
 * reason). 0, or -1 out of memory. */
static int add_encoded(struct curl_slist **l, const char *name, const char *v,
		       size_t n)
{
	char *e = mcp_header_encode(v, n), *line;
	size_t ln;
	int rc;

	if (!e)
		return 0;
	ln = strlen(name) + strlen(e) + 3;
	line = malloc(ln);
	if (!line) {
		free(e);
		return -1;
	}
	snprintf(line, ln, "%s: %s", name, e);
	rc = add_header(l, line);
	free(line);
	free(e);
	return rc;
}

struct param_lines {
	struct curl_slist **l;
	int rc;
};

/* mcp_param_each: the Mcp-Param-{Name} header of one argument. */
static int param_line(void *ctx, const char *name, json_t *v)
{
	struct param_lines *pl = ctx;
	char *val = v ? mcp_param_value(v) : NULL;
	char *line;
	size_t ln;

	if (!val)
		return 0; /* absent, or no header can carry it */
	ln = strlen(name) + strlen(val) + 14;
	line = malloc(ln);
	if (line) {
		snprintf(line, ln, "Mcp-Param-%s: %s", name, val);
		pl->rc |= add_header(pl->l, line);
	} else {
		pl->rc = -1;
	}
	free(line);
	free(val);
	return 0;
}

/* The headers of stateless POST x of message m that mirror its body:
 * Mcp-Method, Mcp-Name (mcp_rev2026_name) and, for a tools/call, the
 * Mcp-Param-* its tool's inputSchema asks for (ops.input_schema). 0, or
 * -1 out of memory. */
static int mirror_headers(struct xfer *x, const struct jr_msg *m)
{
	struct mcp_hc *hc = x->hc;
	struct param_lines pl = { &x->hdrs, 0 };
	const char *name = m->kind == JR_REQUEST ? mcp_rev2026_name(m) : NULL;
	json_t *schema;
	int rc;

	rc = add_encoded(&x->hdrs, "Mcp-Method", m->method, strlen(m->method));
	if (name)
		rc |= add_encoded(&x->hdrs, "Mcp-Name", name, strlen(name));
	if (name && strcmp(m->method, "tools/call") == 0 &&
	    hc->ops.input_schema) {
		schema = hc->ops.input_schema(hc->ud, x->s->sid, name);
		mcp_param_each(schema, json_object_get(m->params, "arguments"),
			       param_line, &pl);
		rc |= pl.rc;
	}
	if (!rc &&
	    curl_easy_setopt(x->e, CURLOPT_HTTPHEADER, x->hdrs) != CURLE_OK)
		rc = -1;
	return rc;
}

/* ---- sending ----------------------------------------------------------- */

static void want_get(struct mcp_hc *hc, struct hsess *s, int64_t at)
{
	s->get_state = GET_WANT;
	s->get_at = at;
	if (at < hc->due_at)
		hc->due_at = at;
}

/* Ends the POST of request rid on s (a cancellation). */
static void abort_request(struct mcp_hc *hc, struct hsess *s, json_t *rid)
{
	for (struct xfer *y = hc->xfers, *nx; y; y = nx) {
		nx = y->next;
		if (y->s == s && y->req_id && jr_id_equal(y->req_id, rid))
			xfer_abort(y);
	}
}

/* Posts msg on s (open, initializing or stateless); a cancellation also
 * stops the cancelled request's POST (on a stateless session it is all a
 * cancellation does). 0, or -1 (nothing sent). */
static int post(struct mcp_hc *hc, struct hsess *s, const char *msg, size_t len)
{
	struct jr_msg m;
	struct xfer *x;
	json_t *rid;

	jr_parse(msg, len, hc->o.max_message, HC_DEPTH_MAX, &m);
	if (m.kind == JR_INVALID || m.kind == JR_BATCH) {
		jr_msg_clear(&m);
		return -1;
	}
	rid = m.kind == JR_NOTIFICATION &&
			      strcmp(m.method, "notifications/cancelled") == 0
		      ? json_object_get(m.params, "requestId")
		      : NULL;
	if (rid)
		abort_request(hc, s, rid);
	/* a stateless request is cancelled by closing its connection: the
	 * notification itself has nothing to tell the server */
	if (s->state == HS_STATELESS && rid) {
		jr_msg_clear(&m);
		return 0;
	}
	x = xfer_new(hc, s, X_POST, msg, len, NULL);
	if (!x ||
	    (s->state == HS_STATELESS && m.method && mirror_headers(x, &m))) {
		xfer_free(x);
		jr_msg_clear(&m);
		return -1;
	}
	/* a listen's stream lives until it is closed or cancelled: the
	 * POST deadline (a call's) does not apply to it */
	if (m.kind == JR_REQUEST &&
	    strcmp(m.method, "subscriptions/listen") == 0)
		curl_easy_setopt(x->e, CURLOPT_TIMEOUT_MS, 0L);
	if (m.kind == JR_REQUEST && m.id) {
		x->req_id = json_incref(m.id);
		x->is_init = strcmp(m.method, "initialize") == 0;
	}
	if (m.kind == JR_NOTIFICATION &&
	    strcmp(m.method, "notifications/initialized") == 0 && s->sid_hdr &&
	    s->get_state == GET_NONE)
		want_get(hc, s, now_ms());
	jr_msg_clear(&m);
	return xfer_start(x);
}

int mcp_hc_send(struct mcp_hc *hc, uint32_t sid, const char *msg, size_t len)
{
	struct hsess *s = find_sess(hc, sid);

	if (!s || s->state == HS_GONE || hc->in_curl ||
	    len > hc->o.max_message || hc->queued + len > hc->o.max_queued)
		return -1;
	if (s->state == HS_NEW) {
		if (post(hc, s, msg, len))
			return -1;
		s->state = HS_INIT;
		return 0;
	}
	if (s->state == HS_OPEN || s->state == HS_STATELESS)
		return post(hc, s, msg, len);
	if (zg_queue_push(&s->q, msg, len, NULL, 0, 0, NULL) != ZG_QUEUE_OK)
		return -1;
	hc->queued += len;
	return 0;
}

/* initialize was answered (or failed): the session id is known; what
 * waited is posted, a request that cannot be gets an error. */
static void sess_opened(struct mcp_hc *hc, struct hsess *s, const char *sid,
			const char *failed)
{
	struct zg_qitem *q;

	if (sid[0] && !s->sid_hdr) {
		size_t n = strlen(sid) + 17;
		s->sid_hdr = malloc(n);
		if (s->sid_hdr)
			snprintf(s->sid_hdr, n, "Mcp-Session-Id: %s", sid);
	}
	s->state = HS_OPEN;
	while ((q = zg_queue_pop(&s->q)) != NULL) {
		hc->queued -= q->len;
		const char *d = (const char *)q->data;
		if (failed || post(hc, s, d, q->len)) {
			struct jr_msg m;
			jr_parse(d, q->len, hc->o.max_message, HC_DEPTH_MAX,
				 &m);
			if (m.kind == JR_REQUEST && m.id)
				synth_error(hc, s->sid, m.id,
					    failed ? failed
						   : "too many requests in "
						     "flight");
			jr_msg_clear(&m);
		}
		zg_qitem_free(q);
	}
}

/* ---- completion ---------------------------------------------------------- */

/* The POST's (or resumption's) SSE stream ended before the answer: when
 * the server gave an event id, the rest is asked for with Last-Event-ID
 * after its retry time. Returns 1 if a resumption is scheduled. */
static int resume(struct mcp_hc *hc, struct xfer *x)
{
	struct xfer *r;
	long wait;

	if (x->ctype != CT_SSE || !x->sse.id[0] || !x->s->sid_hdr ||
	    x->resumes >= HC_RESUMES_MAX || x->fail[0])
		return 0;
	r = xfer_new(hc, x->s, X_RESUME, NULL, 0, x->sse.id);
	if (!r)
		return 0;
	r->req_id = json_incref(x->req_id);
	r->resumes = x->resumes + 1;
	wait = x->sse.retry_ms < 0 ? 0 : x->sse.retry_ms;
	if (wait > HC_RETRY_MAX_MS)
		wait = HC_RETRY_MAX_MS;
	r->start_at = now_ms() + wait;
	if (r->start_at == 0)
		r->start_at = 1;
	r->next = hc->later;
	if (hc->later)
		hc->later->prev = r;
	hc->later = r;
	if (r->start_at < hc->due_at)
		hc->due_at = r->start_at;
	return 1;
}

/* Why x did not work out, or NULL when it did. */
static const char *outcome(struct xfer *x, CURLcode rc, long status, char *buf,
			   size_t len)
{
	if (x->fail[0])
		return x->fail;
	if (rc == CURLE_OPERATION_TIMEDOUT)
		return "deadline passed";
	if (rc != CURLE_OK)
		return curl_easy_strerror(rc);
	if (status < 200 || status > 299) {
		snprintf(buf, len, "HTTP status %ld", status);
		return buf;
	}
	return NULL;
}

static void get_done(struct mcp_hc *hc, struct xfer *x, long status,
		     const char *why)
{
	struct hsess *s = x->s;

	s->get = NULL;
	if (status == 405 || status == 400) {
		s->get_state = GET_OFF; /* the server offers no GET stream */
		return;
	}
	if (why)
		s->get_backoff = s->get_backoff * 2 > HC_GET_BACKOFF_MAX_MS
					 ? HC_GET_BACKOFF_MAX_MS
					 : s->get_backoff * 2;
	else
		s->get_backoff = HC_GET_BACKOFF_MIN_MS;
	want_get(hc, s, now_ms() + s->get_backoff);
}

static void xfer_done(struct mcp_hc *hc, struct xfer *x, CURLcode rc)
{
	struct hsess *s = x->s;
	long status = 0;
	char buf[64];
	const char *why;

	if (s && s->get == x)
		s->get = NULL;
	curl_easy_getinfo(x->e, CURLINFO_RESPONSE_CODE, &status);
	hc->st.last_status = status;
	why = outcome(x, rc, status, buf, sizeof(buf));
	if (!why && x->ctype == CT_JSON && x->resp_len && s &&
	    x->kind == X_POST && take_message(x, x->resp, x->resp_len))
		why = x->fail;
	/* the revision's error answer: delivered as the server gave it */
	if (why && rc == CURLE_OK && !x->fail[0] && x->resp_len &&
	    error_kept(x, status))
		why = take_message(x, x->resp, x->resp_len) ? x->fail
		      : x->answered			    ? NULL
							    : why;
	if (why && x->kind != X_DELETE) {
		set_error(hc, why);
		hc_log(hc, "%s failed: %s", x->kind == X_POST ? "POST" : "GET",
		       why);
	}
	if (s && status == 404 && s->sid_hdr) {
		s->state = HS_GONE;
		deliver_push(hc, s->sid, 1, "session expired", 15, NULL);
		goto out;
	}
	if (x->kind == X_GET) {
		get_done(hc, x, status, why);
		goto out;
	}
	if (x->kind == X_DELETE || !s)
		goto out;
	if (x->is_init)
		sess_opened(hc, s, why ? "" : x->new_sid,
			    why ? "initialize failed" : NULL);
	if (x->req_id && !x->answered && (why || !resume(hc, x)))
		synth_error(hc, s->sid, x->req_id,
			    why ? why
				: "the server ended the response without "
				  "an answer");
out:
	xfer_unlink(x);
	xfer_free(x);
}

/* Starts what is due: GET streams and resumptions. */
static void run_due(struct mcp_hc *hc)
{
	int64_t now = now_ms(), next = INT64_MAX;
	struct xfer *r, *nx;

	if (now < hc->due_at)
		return;
	for (r = hc->later; r; r = nx) {
		nx = r->next;
		if (r->start_at > now) {
			next = r->start_at < next ? r->start_at : next;
			continue;
		}
		uint32_t sid = r->s->sid;
		json_t *id = json_incref(r->req_id);
		xfer_unlink(r);
		if (xfer_start(r))
			synth_error(hc, sid, id,
				    "the stream could not be "
				    "resumed");
		json_decref(id);
	}
	for (struct hsess *s = hc->sessions; s; s = s->next) {
		if (s->get_state != GET_WANT)
			continue;
		if (s->get_at > now) {
			next = s->get_at < next ? s->get_at : next;
			continue;
		}
		if (hc->ngets >= HC_GETS_MAX) {
			want_get(hc, s, now + HC_GET_BACKOFF_MAX_MS);
			next = now + HC_GET_BACKOFF_MAX_MS < next
				       ? now + HC_GET_BACKOFF_MAX_MS
				       : next;
			continue;
		}
		s->get = xfer_new(hc, s, X_GET, NULL, 0, NULL);
		s->get_state = GET_RUN;
		if (!s->get || xfer_start(s->get)) {
			s->get = NULL;
			want_get(hc, s, now + HC_GET_BACKOFF_MAX_MS);
			next = now + HC_GET_BACKOFF_MAX_MS < next
				       ? now + HC_GET_BACKOFF_MAX_MS
				       : next;
		}
	}
	hc->due_at = next;
}

/* Transfers libcurl has finished. */
static void reap(struct mcp_hc *hc)
{
	int left;
	CURLMsg *m;

	while ((m = curl_multi_info_read(hc->multi, &left)) != NULL) {
		struct xfer *x = NULL;
		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &x);
		curl_multi_remove_handle(hc->multi, m->easy_handle);
		hc->nxfers--;
		if (x) {
			if (x->kind == X_GET)
				hc->ngets--;
			x->running = 0;
			xfer_done(hc, x, m->data.result);
		}
	}
}

static void unpause(struct mcp_hc *hc, struct xfer *x)
{
	x->paused = 0;
	hc->npaused--;
	hc->in_curl = 1;
	curl_easy_pause(x->e, CURLPAUSE_CONT);
	hc->in_curl = 0;
}

/* Over the cap with nothing queued: what is held is begun bodies, so one
 * of them (the largest, a POST's before a GET stream's) is let through to
 * complete. */
static void pick_owner(struct mcp_hc *hc)
{
	struct xfer *best = NULL;

	for (struct xfer *x = hc->xfers; x; x = x->next) {
		if (!x->paused)
			continue;
		if (!best || (best->kind == X_GET && x->kind != X_GET) ||
		    ((best->kind == X_GET) == (x->kind == X_GET) &&
		     partial_of(x) > partial_of(best)))
			best = x;
	}
	hc->owner = best;
	if (best)
		unpause(hc, best);
}

/* Paused transfers may go on: held is under the cap, or the owner may
 * be chosen again. */
static int can_resume(const struct mcp_hc *hc)
{
	return hc->npaused &&
	       (held(hc) < hc->o.max_queued || !hc->owner || hc->owner->paused);
}

/* The caller took what waited: paused transfers go on (each may pause
 * again at once, having handed over more). */
static void resume_paused(struct mcp_hc *hc)
{
	if (held(hc) >= hc->o.max_queued) {
		if (!hc->owner)
			pick_owner(hc);
		else if (hc->owner->paused)
			unpause(hc, hc->owner);
		return;
	}
	for (struct xfer *x = hc->xfers; x && hc->npaused; x = x->next) {
		if (!x->paused)
			continue;
		unpause(hc, x);
	}
}

void mcp_hc_process(struct mcp_hc *hc, const struct pollfd *p, size_t n)
{
	int running;

	hc->in_curl = 1;
	for (size_t i = 0; i < n; i++) {
		int ev = 0;
		if (!p[i].revents)
			continue;
		if (p[i].revents & (POLLIN | POLLHUP))
			ev |= CURL_CSELECT_IN;
		if (p[i].revents & POLLOUT)
			ev |= CURL_CSELECT_OUT;
		if (p[i].revents & (POLLERR | POLLNVAL))
			ev |= CURL_CSELECT_ERR;
		curl_multi_socket_action(hc->multi, p[i].fd, ev, &running);
	}
	if (hc->timer_at >= 0 && now_ms() >= hc->timer_at) {
		hc->timer_at = -1;
		curl_multi_socket_action(hc->multi, CURL_SOCKET_TIMEOUT, 0,
					 &running);
	}
	hc->in_curl = 0;
	reap(hc);
	run_due(hc);
	deliver_all(hc);
	if (can_resume(hc)) {
		resume_paused(hc);
		reap(hc);
		deliver_all(hc);
	}
}

size_t mcp_hc_pollfds(struct mcp_hc *hc, struct pollfd *p, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < hc->nsocks && n < max; i++) {
		p[n].fd = hc->socks[i].fd;
		p[n].events = 0;
		p[n].revents = 0;
		if (hc->socks[i].what & CURL_POLL_IN)
			p[n].events |= POLLIN;
		if (hc->socks[i].what & CURL_POLL_OUT)
			p[n].events |= POLLOUT;
		n++;
	}
	return n;
}

int mcp_hc_timeout_ms(struct mcp_hc *hc)
{
	int64_t now = now_ms(), t = INT64_MAX;

	if (hc->dh || can_resume(hc))
		return 0;
	if (hc->timer_at >= 0)
		t = hc->timer_at;
	if (hc->due_at < t)
		t = hc->due_at;
	if (t == INT64_MAX)
		return -1;
	return t <= now ? 0 : (int)(t - now > 60000 ? 60000 : t - now);
}

/* ---- the endpoint ------------------------------------------------------ */

static void free_extra(struct mcp_hc *hc)
{
	for (size_t i = 0; i < hc->nextra; i++) {
		explicit_bzero(hc->extra[i], strlen(hc->extra[i]));
		free(hc->extra[i]);
	}
	free(hc->extra);
	hc->extra = NULL;
	hc->nextra = 0;
}

int mcp_hc_header_reserved(const char *l, size_t nl)
{
	static const char *const own[] = {
		"content-type",	  "accept",
		"mcp-session-id", "mcp-protocol-version",
		"last-event-id",  "host",
		"content-length", "transfer-encoding",
		"expect",	  "connection",
		"mcp-method",	  "mcp-name",
	};

	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		if (strlen(own[i]) == nl && strncasecmp(l, own[i], nl) == 0)
			return 1;
	/* the body's mirror (stateless sessions) */
	return nl >= 10 && strncasecmp(l, "mcp-param-", 10) == 0;
}

int mcp_hc_set_headers(struct mcp_hc *hc, const char *const *lines, size_t n,
		       char *err, size_t errlen)
{
	char **nl;

	if (n > HC_HEADER_LINES_MAX) {
		snprintf(err, errlen, "more than %d headers",
			 HC_HEADER_LINES_MAX);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const char *c = strchr(lines[i], ':');
		size_t k = c ? (size_t)(c - lines[i]) : 0;
		if (!k || strpbrk(lines[i], "\r\n")) {
			snprintf(err, errlen, "header %zu is not 'Name: value'",
				 i + 1);
			return -1;
		}
		for (size_t j = 0; j < k; j++)
			if (lines[i][j] <= 0x20 || lines[i][j] >= 0x7f) {
				snprintf(err, errlen, "header %zu: bad name",
					 i + 1);
				return -1;
			}
		if (mcp_hc_header_reserved(lines[i], k)) {
			snprintf(err, errlen, "header %.*s is the client's own",
				 (int)(k > 40 ? 40 : k), lines[i]);
			return -1;
		}
	}
	nl = calloc(n + 1, sizeof(*nl));
	if (!nl) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		nl[i] = strdup(lines[i]);
		if (!nl[i]) {
			for (size_t j = 0; j < i; j++) {
				explicit_bzero(nl[j], strlen(nl[j]));
				free(nl[j]);
			}
			free(nl);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	free_extra(hc);
	hc->extra = nl;
	hc->nextra = n;
	return 0;
}

struct mcp_hc *mcp_hc_new(const struct mcp_hc_opts *o,
			  const struct mcp_hc_ops *ops, void *ud, char *err,
			  size_t errlen)
{
	static int global_done;
	struct mcp_hc *hc;

	if (!o->url || !ops || !ops->message) {
		snprintf(err, errlen, "no url or no message callback");
		return NULL;
	}
	if (!mcp_hc_url_ok(o->url, o->insecure_http, err, errlen))
		return NULL;
	if (!global_done) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			snprintf(err, errlen, "libcurl did not initialize");
			return NULL;
		}
		global_done = 1;
	}
	hc = calloc(1, sizeof(*hc));
	if (!hc) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	hc->o = *o;
	hc->ops = *ops;
	hc->ud = ud;
	hc->timer_at = -1;
	hc->due_at = INT64_MAX;
	if (!hc->o.max_message)
		hc->o.max_message = 4u << 20;
	if (!hc->o.max_queued)
		hc->o.max_queued = 64u << 20;
	if (!hc->o.max_transfers)
		hc->o.max_transfers = 1024;
	if (hc->o.connect_timeout_ms <= 0)
		hc->o.connect_timeout_ms = 10000;
	hc->url = strdup(o->url);
	hc->ca_file = o->ca_file ? strdup(o->ca_file) : NULL;
	hc->label = strdup(o->client_label ? o->client_label : "mcp client");
	hc->multi = curl_multi_init();
	if (!hc->url || !hc->label || (o->ca_file && !hc->ca_file) ||
	    !hc->multi) {
		snprintf(err, errlen, "out of memory");
		mcp_hc_free(hc);
		return NULL;
	}
	hc->o.url = hc->url;
	hc->o.ca_file = hc->ca_file;
	hc->o.client_label = hc->label;
	curl_multi_setopt(hc->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(hc->multi, CURLMOPT_SOCKETDATA, hc);
	curl_multi_setopt(hc->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(hc->multi, CURLMOPT_TIMERDATA, hc);
	return hc;
}

void mcp_hc_free(struct mcp_hc *hc)
{
	struct dmsg *d, *nx;

	if (!hc)
		return;
	if (hc->multi)
		abort_xfers(hc, NULL);
	while (hc->sessions) {
		struct hsess *s = hc->sessions;
		sess_unlink(hc, s);
		sess_free(hc, s);
	}
	for (d = hc->dh; d; d = nx) {
		nx = d->next;
		json_decref(d->rel);
		free(d);
	}
	if (hc->multi)
		curl_multi_cleanup(hc->multi);
	free_extra(hc);
	free(hc->socks);
	free(hc->url);
	free(hc->ca_file);
	free(hc->label);
	free(hc);
}

void mcp_hc_stats(const struct mcp_hc *hc, struct mcp_hc_stats *st)
{
	*st = hc->st;
	st->transfers = hc->nxfers;
	st->sessions = hc->nsessions;
}
