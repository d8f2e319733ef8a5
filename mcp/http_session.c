/* Sessions and streams of the Streamable HTTP transport: the session
 * table (random ids, refcounts, idle expiry, eviction), the event
 * streams that carry server messages to POST and GET connections, SSE
 * formatting with resumable event ids, and the callbacks the MCP session
 * sends through. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "http_internal.h"
#include "rev2026.h"

#define EVICT_MIN_IDLE 60 /* seconds idle before a full table evicts */

/* ---- waiting connections (s->mu held) ---- */

/* Resumes every connection waiting on s: each re-checks what it waits
 * for and suspends again if it is not there. s->mu is held across
 * MHD_resume_connection, so a request cannot end (and its connection go
 * away) between being found here and being resumed. */
static void wake_waiters(struct hsess *s)
{
	while (s->waiters) {
		struct hreq *q = s->waiters;
		s->waiters = q->wnext;
		q->wnext = NULL;
		q->suspended = 0;
		MHD_resume_connection(q->conn);
		http_loop_wake(q->loop);
	}
}

/* Suspends q's connection until s has news for it. Never while the
 * transport stops: every connection must be running for MHD to stop. */
static void wait_on(struct hsess *s, struct hreq *q)
{
	q->suspended = 1;
	q->wnext = s->waiters;
	s->waiters = q;
	MHD_suspend_connection(q->conn);
}

void http_unwait(struct hreq *q)
{
	struct hsess *s = q->sess;

	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	if (q->suspended) {
		for (struct hreq **pp = &s->waiters; *pp; pp = &(*pp)->wnext) {
			if (*pp == q) {
				*pp = q->wnext;
				break;
			}
		}
		q->suspended = 0;
	}
	pthread_mutex_unlock(&s->mu);
}

/* ---- streams (called with s->mu held) ---- */

static void stream_free(struct hstream *st)
{
	zg_queue_clear(&st->events);
	json_decref(st->req_id);
	json_decref(st->ptok);
	free(st);
}

static void stream_unlink(struct hsess *s, struct hstream *st)
{
	for (struct hstream **pp = &s->streams; *pp; pp = &(*pp)->next) {
		if (*pp == st) {
			*pp = st->next;
			break;
		}
	}
	if (s->standalone == st)
		s->standalone = NULL;
}

static struct hstream *stream_new(struct hsess *s, json_t *req_id)
{
	struct hstream *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	st->id = ++s->next_stream;
	st->req_id = req_id ? json_incref(req_id) : NULL;
	st->next_seq = 1;
	if (req_id)
		zg_queue_init(&st->events, HTTP_MAX_STREAM_EVENTS,
			      HTTP_MAX_STREAM_BYTES);
	else
		zg_queue_init(&st->events, s->h->cfg.standalone_max_events,
			      s->h->cfg.standalone_max_bytes);
	st->next = s->streams;
	s->streams = st;
	if (!req_id)
		s->standalone = st;
	return st;
}

static struct hstream *stream_for(struct hsess *s, const json_t *related)
{
	if (related)
		for (struct hstream *st = s->streams; st; st = st->next)
			if (st->req_id && !st->done &&
			    jr_id_equal(st->req_id, related))
				return st;
	return NULL;
}

static int stream_has_unsent(const struct hstream *st)
{
	/* the newest event has seq next_seq - 1 */
	return zg_queue_count(&st->events) && st->next_seq - 1 > st->sent;
}

/* Drops the oldest retained events while one of incoming bytes would not
 * fit the stream's caps. Delivered events go first; the standalone stream
 * also drops undelivered ones (it is a best-effort backlog), a request
 * stream refuses instead (returns -1). */
static int stream_trim(struct hstream *st, size_t incoming)
{
	struct zg_qitem *e = zg_queue_peek(&st->events);

	while (e && !zg_queue_fits(&st->events, incoming)) {
		if (e->tag > st->sent && st->req_id)
			return -1;
		e = zg_queue_pop(&st->events);
		if (e->tag > st->sent)
			st->sent = e->tag;
		zg_qitem_free(e);
		e = zg_queue_peek(&st->events);
	}
	return 0;
}

/* Appends msg as the stream's next event. Returns 0, or -1 when it does
 * not fit (see stream_trim) or on no memory. */
static int stream_append(struct hstream *st, const char *msg, size_t len)
{
	if (stream_trim(st, len) != 0)
		return -1;
	if (zg_queue_push(&st->events, msg, len, NULL, 0, st->next_seq, NULL) !=
	    ZG_QUEUE_OK)
		return -1;
	st->next_seq++;
	return 0;
}

/* Frees finished streams nobody reads beyond the retention count. */
static void reap_detached(struct hsess *s)
{
	unsigned n = 0;

	for (struct hstream **pp = &s->streams; *pp;) {
		struct hstream *st = *pp;
		if (st->done && !st->attached && ++n > HTTP_MAX_DETACHED) {
			*pp = st->next;
			stream_free(st);
			continue;
		}
		pp = &st->next;
	}
}

/* ---- callbacks from the MCP session ---- */

static int send_cb(void *ctx, const json_t *related, const char *msg,
		   size_t len)
{
	struct hsess *s = ctx;
	struct hstream *st;
	int rc = -1;

	pthread_mutex_lock(&s->mu);
	if (s->dead)
		goto out;
	st = stream_for(s, related);
	if (!st)
		st = s->standalone ? s->standalone : stream_new(s, NULL);
	if (st && stream_append(st, msg, len) == 0) {
		rc = 0;
		wake_waiters(s);
	}
out:
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static void done_cb(void *ctx, const json_t *id, const char *msg, size_t len)
{
	struct hsess *s = ctx;
	struct hstream *st;

	pthread_mutex_lock(&s->mu);
	st = stream_for(s, id);
	if (st) {
		if (msg)
			stream_append(st, msg, len);
		st->done = 1;
		wake_waiters(s);
	}
	pthread_mutex_unlock(&s->mu);
}

static void close_stream_cb(void *ctx, const json_t *id)
{
	struct hsess *s = ctx;
	struct hstream *st;

	pthread_mutex_lock(&s->mu);
	st = stream_for(s, id);
	if (st) {
		st->close_now = 1;
		wake_waiters(s);
	}
	pthread_mutex_unlock(&s->mu);
}

int mcp_http_emit(void *hs, const json_t *related, const char *msg, size_t len)
{
	return send_cb(hs, related, msg, len);
}

void mcp_http_finish(void *hs, const json_t *id, const char *msg, size_t len)
{
	done_cb(hs, id, msg, len);
}

/* The open request stream whose request asked for progress with tok.
 * s->mu held. */
static struct hstream *stream_by_token(struct hsess *s, const json_t *tok)
{
	if (tok)
		for (struct hstream *st = s->streams; st; st = st->next)
			if (st->req_id && !st->done && st->ptok &&
			    jr_id_equal(st->ptok, tok))
				return st;
	return NULL;
}

/* The oldest open request stream (the list is newest first), or NULL.
 * s->mu held. */
static struct hstream *stream_oldest_open(struct hsess *s)
{
	struct hstream *oldest = NULL;

	for (struct hstream *st = s->streams; st; st = st->next)
		if (st->req_id && !st->done)
			oldest = st;
	return oldest;
}

/* Nonzero for what concerns the session rather than one request. */
static int concerns_no_request(const char *method)
{
	return strcmp(method, "notifications/resources/updated") == 0 ||
	       (strncmp(method, "notifications/", 14) == 0 &&
		strstr(method, "/list_changed"));
}

int mcp_http_deliver(void *hs, const char *msg, size_t len)
{
	struct hsess *s = hs;
	json_t *root = json_loadb(msg, len, 0, NULL);
	const char *method = json_string_value(json_object_get(root, "method"));
	json_t *id = json_object_get(root, "id");
	json_t *params = json_object_get(root, "params");
	struct hstream *st;
	int rc = -1;

	if (!json_is_object(root) || (!method && !id))
		goto out;
	if (!method) { /* a response ends its request's stream */
		done_cb(s, id, msg, len);
		rc = 0;
		goto out;
	}
	pthread_mutex_lock(&s->mu);
	if (s->dead)
		goto unlock;
	st = stream_for(s, json_object_get(json_object_get(params, "_meta"),
					   MCP_META_RELATED));
	if (!st && strcmp(method, "notifications/progress") == 0)
		st = stream_by_token(s,
				     json_object_get(params, "progressToken"));
	else if (!st && !concerns_no_request(method))
		st = stream_oldest_open(s);
	if (!st)
		st = s->standalone ? s->standalone : stream_new(s, NULL);
	if (st && stream_append(st, msg, len) == 0)
		rc = 0;
	else if (st && st->req_id)
		st->done = 1; /* its client is not reading: end it */
	wake_waiters(s);
unlock:
	pthread_mutex_unlock(&s->mu);
out:
	json_decref(root);
	return rc;
}

void http_session_input(struct hsess *s, struct jr_msg *m)
{
	if (s->bs)
		s->h->cfg.backend->input(s->bs, m);
	else
		mcp_session_input_msg(s->ms, m);
}

int http_session_initialized(struct hsess *s)
{
	return s->bs ? s->h->cfg.backend->initialized(s->bs)
		     : mcp_session_initialized(s->ms);
}

/* ---- the session table ---- */

static unsigned bucket_of(const char *id)
{
	uint32_t h = 2166136261u;

	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 16777619u;
	return h % HTTP_BUCKETS;
}

static time_t now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* Removes s from the table; returns 1 if it was there. h->mu held. */
static int table_remove(struct mcp_http *h, struct hsess *s)
{
	struct hsess **pp = &h->table[bucket_of(s->id)];

	if (!s->in_table)
		return 0;
	for (; *pp; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	s->in_table = 0;
	h->nsessions--;
	return 1;
}

static void sess_free_now(struct hsess *s)
{
	/* Cancels handlers still running and waits for them; they may still
	 * call send_cb, which sees dead and drops. */
	if (s->bs)
		s->h->cfg.backend->close(s->bs);
	mcp_session_free(s->ms);
	while (s->streams) {
		struct hstream *st = s->streams;
		s->streams = st->next;
		stream_free(st);
	}
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static void sess_free_job(void *arg)
{
	sess_free_now(arg);
}

/* Frees s. When handlers of its are still running, waiting for them to
 * notice their cancellation would hold an event thread (and every
 * connection on it), so a worker does it; the job touches the server
 * only, never the transport, which may be gone by then. At stop the
 * caller waits. */
static void sess_free(struct hsess *s)
{
	struct mcp_http *h = s->h;
	unsigned busy = 0;

	if (s->ms) {
		pthread_mutex_lock(&s->ms->mu);
		busy = s->ms->ncalls;
		pthread_mutex_unlock(&s->ms->mu);
	}
	/* its calls are told at once: the job may have to wait for a worker
	 * that one of them holds (with --workers 1, for ever) */
	if (busy)
		mcp_session_cancel_calls(s->ms);
	if (busy && h->srv && !h->stopping &&
	    mcp_pool_submit(&h->srv->pool, sess_free_job, s) == 0)
		return;
	sess_free_now(s);
}

/* Drops a reference; touch: the session was used (not just visited by
 * the janitor), so its idle time starts again. */
static void sess_unref(struct mcp_http *h, struct hsess *s, int touch)
{
	int last;

	pthread_mutex_lock(&h->mu);
	if (touch)
		s->last_active = now_s();
	last = --s->refs == 0;
	if (last && s->stateless) {
		if (s->sl_prev)
			s->sl_prev->sl_next = s->sl_next;
		else if (h->stateless == s)
			h->stateless = s->sl_next;
		if (s->sl_next)
			s->sl_next->sl_prev = s->sl_prev;
	}
	pthread_mutex_unlock(&h->mu);
	if (last)
		sess_free(s);
}

void http_session_unref(struct mcp_http *h, struct hsess *s)
{
	sess_unref(h, s, 1);
}

static void mark_dead(struct hsess *s)
{
	pthread_mutex_lock(&s->mu);
	s->dead = 1;
	wake_waiters(s);
	pthread_mutex_unlock(&s->mu);
}

void mcp_http_end(void *hs)
{
	struct hsess *s = hs;

	pthread_mutex_lock(&s->h->mu);
	s->ended = 1; /* unknown to lookups; the janitor removes it */
	pthread_mutex_unlock(&s->h->mu);
	mark_dead(s);
}

void http_session_destroy(struct mcp_http *h, struct hsess *s)
{
	int removed;

	pthread_mutex_lock(&h->mu);
	removed = table_remove(h, s);
	pthread_mutex_unlock(&h->mu);
	if (!removed)
		return;
	mark_dead(s);
	http_session_unref(h, s); /* the table's reference */
}

struct hsess *http_session_get(struct mcp_http *h, const char *id)
{
	struct hsess *s;

	if (strlen(id) != HTTP_SID_LEN)
		return NULL;
	pthread_mutex_lock(&h->mu);
	for (s = h->table[bucket_of(id)]; s; s = s->next)
		if (strcmp(s->id, id) == 0)
			break;
	/* Expired or ended but not yet reaped by the janitor: gone. */
	if (s && (s->ended ||
		  (s->refs == 1 &&
		   now_s() - s->last_active > (time_t)h->cfg.session_timeout)))
		s = NULL;
	if (s) {
		s->refs++;
		s->last_active = now_s();
	}
	pthread_mutex_unlock(&h->mu);
	return s;
}

/* The least recently used session nobody is using, idle long enough to
 * give way to a new one, removed from the table. h->mu held. */
static struct hsess *evict_candidate(struct mcp_http *h)
{
	struct hsess *best = NULL;
	time_t now = now_s();

	for (unsigned b = 0; b < HTTP_BUCKETS; b++)
		for (struct hsess *s = h->table[b]; s; s = s->next)
			if (s->refs == 1 &&
			    now - s->last_active >= EVICT_MIN_IDLE &&
			    (!best || s->last_active < best->last_active))
				best = s;
	if (best)
		table_remove(h, best);
	return best;
}

static int random_id(char *out)
{
	unsigned char raw[HTTP_SID_LEN / 2];
	static const char hex[] = "0123456789abcdef";
	size_t got = 0;

	while (got < sizeof(raw)) {
		ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof(raw); i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[HTTP_SID_LEN] = '\0';
	return 0;
}

static struct hsess *sess_alloc(struct mcp_http *h, const char *who,
				int stateless)
{
	struct hsess *s = calloc(1, sizeof(*s));

	/* a stateless session is never looked up: it needs no id */
	if (!s || (!stateless && random_id(s->id) != 0)) {
		free(s);
		return NULL;
	}
	s->h = h;
	s->stateless = stateless; /* before a backend's open asks */
	snprintf(s->who, sizeof(s->who), "%s", who ? who : "");
	pthread_mutex_init(&s->mu, NULL);
	if (h->cfg.backend)
		s->bs = h->cfg.backend->open(h->cfg.backend->ctx, s);
	else
		s->ms = mcp_session_new(h->srv, send_cb, s);
	if (!s->ms && !s->bs) {
		pthread_mutex_destroy(&s->mu);
		free(s);
		return NULL;
	}
	if (s->ms) {
		mcp_session_set_done(s->ms, done_cb);
		mcp_session_set_close_stream(s->ms, close_stream_cb);
	}
	return s;
}

const char *mcp_http_who(void *hs)
{
	return ((struct hsess *)hs)->who;
}

struct hsess *http_session_create(struct mcp_http *h, const char *who)
{
	struct hsess *s = sess_alloc(h, who, 0), *victim = NULL;
	unsigned b;

	if (!s)
		return NULL;
	pthread_mutex_lock(&h->mu);
	if (h->nsessions >= h->cfg.max_sessions)
		victim = evict_candidate(h);
	if (h->stopping || h->nsessions >= h->cfg.max_sessions) {
		pthread_mutex_unlock(&h->mu);
		s->refs = 1;
		http_session_unref(h, s);
		s = NULL;
		goto out;
	}
	b = bucket_of(s->id);
	s->next = h->table[b];
	h->table[b] = s;
	s->in_table = 1;
	s->refs = 2;
	s->last_active = now_s();
	h->nsessions++;
	pthread_mutex_unlock(&h->mu);
out:
	if (victim) {
		mark_dead(victim);
		http_session_unref(h, victim);
	}
	return s;
}

struct hsess *http_session_stateless(struct mcp_http *h, const json_t *meta)
{
	struct hsess *s;

	if (h->stopping)
		return NULL;
	s = sess_alloc(h, NULL, 1);
	if (!s)
		return NULL;
	pthread_mutex_lock(&h->mu);
	if (h->stopping) {
		/* stopping walks this list once, after setting stopping under
		 * h->mu: a session added later would never be woken, and its
		 * connection would keep libmicrohttpd from stopping */
		pthread_mutex_unlock(&h->mu);
		sess_free_now(s);
		return NULL;
	}
	s->refs = 1;		   /* the request's only; never in the table */
	s->sl_next = h->stateless; /* so that stopping can wake it */
	if (h->stateless)
		h->stateless->sl_prev = s;
	h->stateless = s;
	pthread_mutex_unlock(&h->mu);
	if (s->ms)
		mcp_session_begin_stateless(s->ms, meta);
	return s;
}

int mcp_http_stateless(void *hs)
{
	return ((struct hsess *)hs)->stateless;
}

/* ---- expiry ---- */

static void *janitor_main(void *arg)
{
	struct mcp_http *h = arg;

	pthread_mutex_lock(&h->mu);
	while (!h->stopping) {
		struct timespec until;
		struct hsess *expired[64];
		unsigned n = 0;
		time_t now = now_s();

		for (unsigned b = 0; b < HTTP_BUCKETS && n < 64; b++)
			for (struct hsess *s = h->table[b]; s && n < 64;
			     s = s->next)
				if (s->refs == 1 &&
				    (s->ended ||
				     now - s->last_active >
					     (time_t)h->cfg.session_timeout))
					expired[n++] = s;
		for (unsigned i = 0; i < n; i++)
			table_remove(h, expired[i]);
		pthread_mutex_unlock(&h->mu);
		http_conn_reap(h); /* pending connections past the deadline */
		http_sessions_tick(h);
		for (unsigned i = 0; i < n; i++) {
			mark_dead(expired[i]);
			http_session_unref(h, expired[i]);
		}
		pthread_mutex_lock(&h->mu);
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += 1;
		if (!h->stopping)
			pthread_cond_timedwait(&h->janitor_cv, &h->mu, &until);
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

int http_sessions_init(struct mcp_http *h)
{
	pthread_condattr_t ca;

	pthread_mutex_init(&h->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->janitor_cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&h->janitor, NULL, janitor_main, h) != 0)
		return -1;
	h->janitor_started = 1;
	return 0;
}

/* Calls fn(s) on a batch of sessions taken under h->mu (with a
 * reference each), then drops the references: never h->mu and s->mu
 * together. */
static void run_batch(struct mcp_http *h, struct hsess **all, unsigned n,
		      void (*fn)(struct hsess *))
{
	for (unsigned i = 0; i < n; i++) {
		fn(all[i]);
		sess_unref(h, all[i], 0);
	}
}

/* Calls fn on every session, the table's and the stateless ones (those
 * in batches, each session once: visit marks it under h->mu). */
static void for_each_session(struct mcp_http *h, void (*fn)(struct hsess *))
{
	struct hsess *few[256];
	unsigned n, gen;

	for (unsigned b = 0; b < HTTP_BUCKETS; b++) {
		pthread_mutex_lock(&h->mu);
		n = 0;
		for (struct hsess *s = h->table[b]; s && n < 256; s = s->next) {
			s->refs++;
			few[n++] = s;
		}
		pthread_mutex_unlock(&h->mu);
		run_batch(h, few, n, fn);
	}
	pthread_mutex_lock(&h->mu);
	gen = ++h->visit_gen;
	pthread_mutex_unlock(&h->mu);
	do {
		pthread_mutex_lock(&h->mu);
		n = 0;
		for (struct hsess *s = h->stateless; s && n < 256;
		     s = s->sl_next) {
			if (s->visit == gen)
				continue;
			s->visit = gen;
			s->refs++;
			few[n++] = s;
		}
		pthread_mutex_unlock(&h->mu);
		run_batch(h, few, n, fn);
	} while (n > 0);
}

/* The janitor's second for the SSE readers waiting on s, and the POSTs
 * of stateless requests waiting for their first message (http_post_answer
 * looks for a client that went); a session's POST needs no tick: its
 * client's going is no cancellation, and its stream is kept for replay. */
static void tick_readers(struct hsess *s)
{
	pthread_mutex_lock(&s->mu);
	for (struct hreq **pp = &s->waiters; *pp;) {
		struct hreq *q = *pp;
		if (q->fd < 0) {
			pp = &q->wnext;
			continue;
		}
		*pp = q->wnext;
		q->wnext = NULL;
		q->suspended = 0;
		q->tick = 1;
		MHD_resume_connection(q->conn);
		http_loop_wake(q->loop);
	}
	pthread_mutex_unlock(&s->mu);
}

void http_sessions_tick(struct mcp_http *h)
{
	for_each_session(h, tick_readers);
}

void http_sessions_stopping(struct mcp_http *h)
{
	pthread_mutex_lock(&h->mu);
	h->stopping = 1;
	pthread_cond_broadcast(&h->janitor_cv);
	pthread_mutex_unlock(&h->mu);
	/* Wake readers and waiters; they see stopping and end. */
	for_each_session(h, mark_dead);
}

void http_sessions_shutdown(struct mcp_http *h)
{
	if (h->janitor_started) {
		pthread_mutex_lock(&h->mu);
		h->stopping = 1;
		pthread_cond_broadcast(&h->janitor_cv);
		pthread_mutex_unlock(&h->mu);
		pthread_join(h->janitor, NULL);
		h->janitor_started = 0;
	}
	for (unsigned b = 0; b < HTTP_BUCKETS; b++) {
		while (h->table[b]) {
			struct hsess *s = h->table[b];
			table_remove(h, s);
			mark_dead(s);
			http_session_unref(h, s);
		}
	}
	pthread_mutex_destroy(&h->mu);
	pthread_cond_destroy(&h->janitor_cv);
}

/* ---- SSE output ---- */

static int out_reserve(struct hreq *q, size_t n)
{
	if (n <= q->out_cap)
		return 0;
	char *p = realloc(q->out, n);
	if (!p)
		return -1;
	q->out = p;
	q->out_cap = n;
	return 0;
}

/* 1 when the client closed its end of the SSE connection (an orderly
 * shutdown or reset; data it sent meanwhile does not count). */
static int peer_gone(const struct hreq *q)
{
	char b;
	ssize_t n;

	if (q->fd < 0)
		return 0;
	n = recv(q->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
			  errno != EINTR);
}

/* Formats the next thing to send into q->out. Returns 1 with bytes
 * ready, 0 at the end of the stream, -1 on error, 2 when it suspended
 * the connection to wait for news. s->mu held. */
static int next_chunk(struct hreq *q, struct hsess *s, struct hstream *st)
{
	struct mcp_http *h = s->h;
	int n;

	for (;;) {
		if (!q->primed) {
			q->primed = 1;
			if (out_reserve(q, 96) != 0)
				return -1;
			n = snprintf(q->out, q->out_cap,
				     "id: %u_0\nretry: %u\n"
				     "data: \n\n",
				     st->id, HTTP_RETRY_MS);
			q->out_len = (size_t)n;
			return 1;
		}
		if (stream_has_unsent(st)) {
			struct zg_qitem *e = zg_queue_peek(&st->events);
			while (e->tag <= st->sent)
				e = zg_queue_next(e);
			if (out_reserve(q, e->len + 64) != 0)
				return -1;
			n = snprintf(q->out, q->out_cap,
				     "id: %u_%llu\ndata: %s\n\n", st->id,
				     (unsigned long long)e->tag,
				     (const char *)e->data);
			q->out_len = (size_t)n;
			st->sent = e->tag;
			q->idle_s = 0;
			return 1;
		}
		if (st->done)
			return 0;
		if (st->close_now) {
			st->close_now = 0;
			return 0;
		}
		if (s->dead || h->stopping)
			return -1;
		/* Nothing to send: once a second (the janitor's tick) notice
		 * a client that went away (a long-lived stream such as
		 * subscriptions/listen would hold its place until the next
		 * keepalive write otherwise) and send the keepalive when due;
		 * else sleep until the session has news. */
		if (q->tick) {
			q->tick = 0;
			if (peer_gone(q))
				return -1;
			if (++q->idle_s >= h->cfg.sse_keepalive) {
				q->idle_s = 0;
				if (out_reserve(q, 16) != 0)
					return -1;
				memcpy(q->out, ": keepalive\n\n", 13);
				q->out_len = 13;
				return 1;
			}
		}
		wait_on(s, q);
		return 2;
	}
}

static ssize_t sse_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct hreq *q = cls;
	size_t n;

	(void)pos;
	if (q->out_pos == q->out_len) {
		int rc;
		pthread_mutex_lock(&q->sess->mu);
		rc = next_chunk(q, q->sess, q->st);
		pthread_mutex_unlock(&q->sess->mu);
		if (rc == 2)
			return 0; /* suspended: called again when resumed */
		if (rc <= 0)
			return rc == 0 ? MHD_CONTENT_READER_END_OF_STREAM
				       : MHD_CONTENT_READER_END_WITH_ERROR;
		q->out_pos = 0;
	}
	n = q->out_len - q->out_pos;
	if (n > max)
		n = max;
	memcpy(buf, q->out + q->out_pos, n);
	q->out_pos += n;
	if (q->out_pos == q->out_len)
		q->out_pos = q->out_len = 0;
	return (ssize_t)n;
}

static enum MHD_Result reply_sse(struct MHD_Connection *c, struct hreq *q)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct MHD_Response *r =
		MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024,
						  sse_reader, q, NULL);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	q->fd = ci ? (int)ci->connect_fd : -1;
	if (q->sess->stateless) {
		pthread_mutex_lock(&q->h->mu);
		q->h->nsse_stateless++;
		q->counted = 1;
		pthread_mutex_unlock(&q->h->mu);
	}
	MHD_add_response_header(r, "Content-Type", "text/event-stream");
	MHD_add_response_header(r, "Cache-Control", "no-cache");
	MHD_add_response_header(r, "X-Accel-Buffering", "no");
	if (q->is_init)
		MHD_add_response_header(r, "Mcp-Session-Id", q->sess->id);
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply_plain(struct MHD_Connection *c, unsigned status,
				   const char *body, const char *ctype,
				   const char *sid)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(body), (void *)body,
						MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	if (ctype)
		MHD_add_response_header(r, "Content-Type", ctype);
	if (sid)
		MHD_add_response_header(r, "Mcp-Session-Id", sid);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* ---- POST and GET ---- */

enum MHD_Result http_post_request(struct mcp_http *h, struct MHD_Connection *c,
				  struct hreq *q, struct jr_msg *m)
{
	struct hsess *s = q->sess;
	struct hstream *st;

	pthread_mutex_lock(&s->mu);
	/* Messages are routed to streams by request id, so an id still in
	 * flight on this session is refused here, before the core sees it. */
	if (stream_for(s, m->id)) {
		pthread_mutex_unlock(&s->mu);
		jr_msg_clear(m);
		return reply_plain(c, MHD_HTTP_CONFLICT,
				   "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":"
				   "{\"code\":-32600,\"message\":\"request id "
				   "already in flight\"}}",
				   "application/json", NULL);
	}
	st = stream_new(s, m->id);
	if (st) {
		st->attached = 1;
		st->ptok = json_incref(
			json_object_get(json_object_get(m->params, "_meta"),
					"progressToken"));
	}
	pthread_mutex_unlock(&s->mu);
	if (!st) {
		jr_msg_clear(m);
		return reply_plain(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "", NULL,
				   NULL);
	}
	q->st = st;
	http_session_input(s, m);
	return http_post_answer(h, c, q);
}

enum MHD_Result http_post_answer(struct mcp_http *h, struct MHD_Connection *c,
				 struct hreq *q)
{
	struct hsess *s = q->sess;
	struct hstream *st = q->st;

	pthread_mutex_lock(&s->mu);
	q->waiting = 0;
	/* A stateless (2026-07-28) request's connection is its cancellation:
	 * while it waits, the janitor's second looks for a client that went
	 * (else one that gave up on a long or queued call kept it running
	 * until the answer was written). MHD_NO ends the connection, and
	 * the request with it (completed_cb). */
	if (q->tick) {
		q->tick = 0;
		if (peer_gone(q)) {
			pthread_mutex_unlock(&s->mu);
			return MHD_NO;
		}
	}
	if (!stream_has_unsent(st) && !st->done && !st->close_now && !s->dead &&
	    !h->stopping) {
		const union MHD_ConnectionInfo *ci =
			s->stateless && q->fd < 0
				? MHD_get_connection_info(
					  c, MHD_CONNECTION_INFO_CONNECTION_FD)
				: NULL;
		if (ci) /* ticked by tick_readers, as an SSE reader is */
			q->fd = (int)ci->connect_fd;
		q->waiting = 1;
		wait_on(s, q);
		pthread_mutex_unlock(&s->mu);
		return MHD_YES;
	}
	if (s->dead || h->stopping) {
		pthread_mutex_unlock(&s->mu);
		return reply_plain(c, MHD_HTTP_NOT_FOUND,
				   "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":"
				   "{\"code\":-32600,\"message\":\"Session not "
				   "found\"}}",
				   "application/json", NULL);
	}
	if (st->done && !st->close_now && zg_queue_count(&st->events) <= 1) {
		const struct zg_qitem *only = zg_queue_peek(&st->events);
		struct MHD_Response *r = NULL;
		unsigned status = MHD_HTTP_OK;
		if (only) { /* the response is the only message: JSON */
			/* one copy, straight from the stream into MHD's */
			r = MHD_create_response_from_buffer(
				only->len, (void *)only->data,
				MHD_RESPMEM_MUST_COPY);
			if (s->stateless)
				status = mcp_rev2026_http_status(
					(const char *)only->data);
			st->sent = only->tag;
		}
		pthread_mutex_unlock(&s->mu);
		if (!only) /* cancelled: no response */
			return reply_plain(c, MHD_HTTP_ACCEPTED, "", NULL,
					   NULL);
		return http_queue_json(c, r, status,
				       q->is_init && http_session_initialized(s)
					       ? s->id
					       : NULL);
	}
	pthread_mutex_unlock(&s->mu);
	return reply_sse(c, q);
}

/* Parses "STREAM_SEQ" as this transport writes event ids. */
static int parse_event_id(const char *v, unsigned *stream, uint64_t *seq)
{
	const char *end;
	uint64_t sid, sq;

	/* no sign or space: strtoull would read "1_-1" as a huge seq */
	if (zg_parse_uint(v, &end, 0, 0xffffffffu, &sid) != 0 || *end != '_' ||
	    zg_parse_uint(end + 1, NULL, 0, UINT64_MAX, &sq) != 0)
		return -1;
	*stream = (unsigned)sid;
	*seq = sq;
	return 0;
}

enum MHD_Result http_get_stream(struct mcp_http *h, struct MHD_Connection *c,
				struct hreq *q, const char *last_event_id)
{
	struct hsess *s = q->sess;
	struct hstream *st = NULL;
	unsigned sid = 0;
	uint64_t seq = 0;

	(void)h;
	if (last_event_id && parse_event_id(last_event_id, &sid, &seq) != 0)
		return reply_plain(c, MHD_HTTP_BAD_REQUEST, "bad Last-Event-ID",
				   "text/plain", NULL);
	pthread_mutex_lock(&s->mu);
	if (last_event_id) {
		for (st = s->streams; st && st->id != sid; st = st->next)
			;
		if (st && seq < st->next_seq)
			st->sent = seq;
		q->primed = 1;
	} else {
		st = s->standalone ? s->standalone : stream_new(s, NULL);
	}
	if (!st || st->attached) {
		int busy = st != NULL;
		pthread_mutex_unlock(&s->mu);
		return busy ? reply_plain(c, MHD_HTTP_CONFLICT,
					  "stream already open", "text/plain",
					  NULL)
			    : reply_plain(c, MHD_HTTP_BAD_REQUEST,
					  "unknown or expired event id",
					  "text/plain", NULL);
	}
	st->attached = 1;
	q->st = st;
	pthread_mutex_unlock(&s->mu);
	return reply_sse(c, q);
}

void http_stream_detach(struct hsess *s, struct hstream *st, int ok)
{
	pthread_mutex_lock(&s->mu);
	st->attached = 0;
	if (st->done && ok && !stream_has_unsent(st)) {
		stream_unlink(s, st);
		stream_free(st);
	} else {
		reap_detached(s);
	}
	pthread_mutex_unlock(&s->mu);
}
