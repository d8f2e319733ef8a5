/* MCP on a channel: a poll thread owns the multiplexer and feeds each
 * stream's messages to its own mcp_conn: a 2025-11-25-family session, or
 * independent 2026-07-28 requests, as the stream's first request decides
 * (docs/protocol.md). Sessions answer from worker threads, so their output
 * goes through a locked queue and an eventfd that wakes the poll thread;
 * ended streams are freed by a reaper thread because mcp_conn_free()
 * waits for handlers and must not stall the other streams. */
#include <zonegate/chan_mcp.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "zg_queue.h"

#define OUT_QUEUE_MAX (64u << 20) /* bytes waiting for the poll thread */

struct cm_stream {
	struct chan_mcp_server *owner;
	uint32_t sid;
	int dead; /* under owner->lock */
	mcp_conn *conn;
	struct cm_stream *next; /* reaper list */
};

struct chan_mcp_server {
	mcp_server *srv;
	chan_mux *m;
	int evfd;
	atomic_int stop;
	pthread_t th, reaper;
	pthread_mutex_t lock;
	pthread_cond_t reap_cv;
	struct zg_queue out; /* messages (tag: stream id), OUT_QUEUE_MAX */
	struct cm_stream *reap;
	int reaper_stop;
	struct cm_stream **sv; /* poll thread only */
	unsigned ns, cap;
	int self_queued; /* poll thread only: it queued to an empty queue */
};

/* The server whose poll thread this is (NULL on every other thread): what
 * that thread queues itself (answers of inline handlers) needs no eventfd
 * to wake it; it drains the queue after its turn. */
static _Thread_local struct chan_mcp_server *poll_owner;

static void wake(struct chan_mcp_server *s)
{
	uint64_t one = 1;

	if (write(s->evfd, &one, sizeof(one)) < 0) {
		/* the counter is already nonzero: the thread will wake */
	}
}

/* mcp_send_fn: any thread. Queues for the poll thread. */
static int cm_send(void *ctx, const json_t *related, const char *msg,
		   size_t len)
{
	struct cm_stream *st = ctx;
	struct chan_mcp_server *s = st->owner;
	int rc = -1, first = 0;

	pthread_mutex_lock(&s->lock);
	first = zg_queue_count(&s->out) == 0;
	if (!st->dead && zg_queue_push(&s->out, msg, len, NULL, 0, st->sid,
				       NULL) == ZG_QUEUE_OK)
		rc = 0;
	pthread_mutex_unlock(&s->lock);
	/* Only a push to an empty queue wakes the poll thread: one that
	 * finds messages queued comes before the poll thread takes them
	 * (drain_out reads the eventfd first, then takes the whole queue
	 * under the lock), so they go out together, with one system call
	 * and one wake-up for the lot. */
	if (rc == 0 && first && poll_owner == s)
		s->self_queued = 1;
	else if (rc == 0 && first)
		wake(s);
	return rc;
}

static struct cm_stream *find(struct chan_mcp_server *s, uint32_t sid,
			      unsigned *idx)
{
	for (unsigned i = 0; i < s->ns; i++) {
		if (s->sv[i]->sid == sid) {
			*idx = i;
			return s->sv[i];
		}
	}
	return NULL;
}

/* Marks the stream dead and hands its connection to the reaper. */
static void retire(struct chan_mcp_server *s, uint32_t sid)
{
	unsigned i;
	struct cm_stream *st = find(s, sid, &i);

	if (!st)
		return;
	s->sv[i] = s->sv[--s->ns];
	pthread_mutex_lock(&s->lock);
	st->dead = 1;
	st->next = s->reap;
	s->reap = st;
	pthread_cond_signal(&s->reap_cv);
	pthread_mutex_unlock(&s->lock);
}

static int cm_open(void *ud, chan_mux *m, uint32_t sid)
{
	struct chan_mcp_server *s = ud;
	struct cm_stream *st, **nv;

	if (s->ns == s->cap) {
		unsigned cap = s->cap ? s->cap * 2 : 16;
		nv = realloc(s->sv, cap * sizeof(*nv));
		if (!nv)
			return -1;
		s->sv = nv;
		s->cap = cap;
	}
	st = calloc(1, sizeof(*st));
	if (!st)
		return -1;
	st->owner = s;
	st->sid = sid;
	/* related messages are marked: the gateway or relay puts them on
	 * the right HTTP stream */
	st->conn = mcp_conn_new(s->srv, cm_send, st,
				MCP_CONN_RELATE | MCP_CONN_PER_STREAM);
	if (!st->conn) {
		free(st);
		return -1;
	}
	s->sv[s->ns++] = st;
	return 0;
}

static void cm_data(void *ud, chan_mux *m, uint32_t sid, const uint8_t *msg,
		    size_t len)
{
	struct chan_mcp_server *s = ud;
	unsigned i;
	struct cm_stream *st = find(s, sid, &i);

	if (st)
		mcp_conn_input(st->conn, (const char *)msg, len);
}

static void cm_close(void *ud, chan_mux *m, uint32_t sid, int reset)
{
	struct chan_mcp_server *s = ud;

	retire(s, sid);
	if (!reset)
		chan_mux_close_stream(m, sid);
}

/* Moves queued output into the mux; a stream whose peer does not keep
 * up past the mux's cap is reset rather than allowed to grow. woken: the
 * eventfd was readable, and is reset first (then the whole queue is taken
 * under the lock, so a push that finds it non-empty needs no wake-up). */
static void drain_out(struct chan_mcp_server *s, int woken)
{
	struct zg_queue mine;
	struct zg_qitem *o;
	uint32_t sid;
	uint64_t v;
	int rc;

	if (woken && read(s->evfd, &v, sizeof(v)) < 0) {
		/* nothing pending */
	}
	zg_queue_init(&mine, 0, 0);
	pthread_mutex_lock(&s->lock);
	zg_queue_move(&mine, &s->out);
	pthread_mutex_unlock(&s->lock);
	for (o = zg_queue_pop(&mine); o; o = zg_queue_pop(&mine)) {
		sid = (uint32_t)o->tag;
		rc = chan_mux_send(s->m, sid, o->data, o->len);
		/* a stream already gone is fine; anything else ends it, so
		 * that its client is not left waiting for a lost message */
		if (rc != 0 &&
		    chan_mux_reset_stream(s->m, sid, CHAN_E_OVERFLOW,
					  rc == CHAN_MUX_EFULL
						  ? "peer not reading"
						  : "message too large") == 0)
			retire(s, sid);
		zg_qitem_free(o);
	}
}

static void *poll_main(void *arg)
{
	struct chan_mcp_server *s = arg;
	struct pollfd p[2];

	prctl(PR_SET_NAME, "chan-poll"); /* for per-thread CPU figures */
	poll_owner = s;
	while (!s->stop) {
		p[0].fd = chan_mux_fd(s->m);
		p[0].events = chan_mux_events(s->m);
		p[1].fd = s->evfd;
		p[1].events = POLLIN;
		p[1].revents = 0;
		if (poll(p, 2, chan_mux_timeout_ms(s->m)) < 0 && errno != EINTR)
			break;
		if (s->stop)
			break;
		drain_out(s, p[1].revents & POLLIN);
		if (chan_mux_process(s->m) < 0) {
			fprintf(stderr, "zonegate: channel %s: server failed\n",
				chan_address(chan_mux_chan(s->m)));
			break;
		}
		if (s->self_queued) { /* answers of this turn's handlers */
			s->self_queued = 0;
			drain_out(s, 0);
		}
	}
	return NULL;
}

static void *reaper_main(void *arg)
{
	struct chan_mcp_server *s = arg;
	struct cm_stream *st;

	prctl(PR_SET_NAME, "chan-reaper");
	pthread_mutex_lock(&s->lock);
	for (;;) {
		while (!s->reap && !s->reaper_stop)
			pthread_cond_wait(&s->reap_cv, &s->lock);
		st = s->reap;
		if (!st)
			break;
		s->reap = st->next;
		pthread_mutex_unlock(&s->lock);
		mcp_conn_free(st->conn);
		free(st);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static void cms_free(struct chan_mcp_server *s)
{
	zg_queue_clear(&s->out);
	chan_mux_free(s->m);
	if (s->evfd >= 0)
		close(s->evfd);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->reap_cv);
	free(s->sv);
	free(s);
}

struct chan_mcp_server *chan_mcp_serve(mcp_server *srv, const char *addr,
				       const struct chan_mux_opts *opts,
				       char *err, size_t errlen)
{
	static const struct chan_mux_ops ops = { NULL, cm_open, cm_data,
						 cm_close, NULL };
	struct chan_mcp_server *s = calloc(1, sizeof(*s));
	chan *c;

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&s->lock, NULL);
	zg_queue_init(&s->out, 0, OUT_QUEUE_MAX);
	pthread_cond_init(&s->reap_cv, NULL);
	s->srv = srv;
	s->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	c = chan_open(addr, CHAN_SERVER, NULL, err, errlen);
	if (c)
		s->m = chan_mux_new(c, opts, &ops, s, err, errlen);
	if (!s->m || s->evfd < 0)
		goto fail;
	if (pthread_create(&s->reaper, NULL, reaper_main, s) != 0)
		goto fail;
	if (pthread_create(&s->th, NULL, poll_main, s) != 0) {
		s->reaper_stop = 1;
		pthread_cond_signal(&s->reap_cv);
		pthread_join(s->reaper, NULL);
		goto fail;
	}
	return s;
fail:
	if (s->m && s->evfd < 0)
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
	cms_free(s);
	return NULL;
}

void chan_mcp_stop(struct chan_mcp_server *s)
{
	if (!s)
		return;
	s->stop = 1;
	wake(s);
	pthread_join(s->th, NULL);
	while (s->ns > 0)
		retire(s, s->sv[0]->sid);
	pthread_mutex_lock(&s->lock);
	s->reaper_stop = 1;
	pthread_cond_signal(&s->reap_cv);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->reaper, NULL);
	cms_free(s);
}
