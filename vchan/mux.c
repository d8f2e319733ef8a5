/* The stream multiplexer: runs the frame protocol over one channel. Input
 * is decoded and dispatched as it arrives (never buffered per stream), a
 * bounded number of frames per call; output is queued per stream under
 * byte caps and written round-robin, one frame per stream per turn, so a
 * stream with much to send or a slow peer on one stream never holds up the
 * others. What the mux answers by itself (PONG, ERROR) has a cap of its
 * own, and a peer that lets those answers pile up is not read until it
 * takes them. A peer that breaks the protocol gets the whole channel
 * reset; a server mux then waits for a new client. */
#include <zonegate/chan_mux.h>

#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "zg_queue.h"

struct stream {
	uint32_t id;
	int local_closed, remote_closed;
	struct zg_queue q; /* frames (header + payload), stream_queue_max */
	int in_rr;
	struct stream *rr_prev, *rr_next;
};

enum { M_HELLO, M_UP, M_DEAD };

struct chan_mux {
	chan *c;
	struct chan_mux_opts o;
	struct chan_mux_ops ops;
	void *ud;
	int state;
	unsigned version;
	size_t peer_max_frame;
	struct chan_frame_dec dec;
	struct stream **sv;
	unsigned ns, cap;
	uint32_t next_local, peer_max;
	struct zg_queue ctl; /* answers to the peer; capped by memory
			      * (zg_queue_mem vs ctl_queue_max), see on_frame */
	struct stream *rr_head, *rr_tail;
	struct zg_qitem *cur;
	size_t cur_off, total;
	unsigned frames_left; /* of this call's budget */
	int turn_spent;	      /* this call stopped at its budget */
	unsigned turn_frames; /* chan_mux_set_turn, else o.turn_frames */
	size_t rpos, rlen;    /* rbuf[rpos..rlen): read, not dispatched */
	int write_failed, more_input, ping_out, rx_paused;
	int held, held_out; /* chan_mux_hold: writes wait; some are waiting */
	unsigned seen_gen;
	long last_rx;
	char why[160];
	unsigned why_code;
	uint8_t rbuf[64 << 10];
};

/* on_frame's "stop here for now" (violations return 1). */
#define FEED_PAUSE 2

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void mux_log(chan_mux *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void mux_log(chan_mux *m, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (m->o.log)
		m->o.log(m->ud, msg);
	else
		fprintf(stderr, "zonegate: channel %s: %s\n",
			chan_address(m->c), msg);
}

/* ---- queues ------------------------------------------------------------ */

/* A frame of type on stream sid with payload p[0..len), as one queue item
 * (header and payload together); NULL on no memory. */
static struct zg_qitem *frame_new(unsigned type, uint32_t sid, const void *p,
				  size_t len)
{
	uint8_t hdr[CHAN_FRAME_HDR];

	chan_frame_hdr_encode(hdr, type, sid, (uint32_t)len);
	return zg_qitem_new(hdr, sizeof(hdr), p, len);
}

/* Bytes the control queue holds, with the items' overhead. */
static size_t ctl_mem(const chan_mux *m)
{
	return zg_queue_mem(&m->ctl);
}

/* Control frames go ahead of stream frames (but never split a frame).
 * The control queue has no push cap: the mux stops reading at its cap. */
static int ctl_push(chan_mux *m, unsigned type, uint32_t sid, const void *p,
		    size_t len)
{
	struct zg_qitem *f = frame_new(type, sid, p, len);

	if (!f)
		return -1;
	zg_queue_push_item(&m->ctl, f, 1);
	m->total += f->len;
	return 0;
}

static void rr_add(chan_mux *m, struct stream *s)
{
	if (s->in_rr)
		return;
	s->in_rr = 1;
	s->rr_next = NULL;
	s->rr_prev = m->rr_tail;
	if (m->rr_tail)
		m->rr_tail->rr_next = s;
	else
		m->rr_head = s;
	m->rr_tail = s;
}

static void rr_del(chan_mux *m, struct stream *s)
{
	if (!s->in_rr)
		return;
	if (s->rr_prev)
		s->rr_prev->rr_next = s->rr_next;
	else
		m->rr_head = s->rr_next;
	if (s->rr_next)
		s->rr_next->rr_prev = s->rr_prev;
	else
		m->rr_tail = s->rr_prev;
	s->in_rr = 0;
	s->rr_prev = s->rr_next = NULL;
}

/* Queues f on s whatever the stream's cap (the caller checked it where
 * it applies: DATA; OPEN and CLOSE always go). */
static void stream_push(chan_mux *m, struct stream *s, struct zg_qitem *f)
{
	zg_queue_push_item(&s->q, f, 1);
	m->total += f->len;
	rr_add(m, s);
}

/* ---- streams ----------------------------------------------------------- */

static struct stream *stream_find(chan_mux *m, uint32_t sid, unsigned *idx)
{
	for (unsigned i = 0; i < m->ns; i++) {
		if (m->sv[i]->id == sid) {
			if (idx)
				*idx = i;
			return m->sv[i];
		}
	}
	return NULL;
}

static struct stream *stream_add(chan_mux *m, uint32_t sid)
{
	struct stream *s, **nv;
	unsigned cap;

	if (m->ns == m->cap) {
		cap = m->cap ? m->cap * 2 : 8;
		nv = realloc(m->sv, cap * sizeof(*nv));
		if (!nv)
			return NULL;
		m->sv = nv;
		m->cap = cap;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->id = sid;
	zg_queue_init(&s->q, 0, m->o.stream_queue_max);
	m->sv[m->ns++] = s;
	return s;
}

static void stream_free(chan_mux *m, struct stream *s)
{
	rr_del(m, s);
	m->total -= zg_queue_bytes(&s->q);
	zg_queue_clear(&s->q);
	free(s);
}

static void stream_remove(chan_mux *m, uint32_t sid)
{
	unsigned i;
	struct stream *s = stream_find(m, sid, &i);

	if (!s)
		return;
	m->sv[i] = m->sv[--m->ns];
	stream_free(m, s);
}

static int stream_done(const struct stream *s)
{
	return s->local_closed && s->remote_closed && !zg_queue_peek(&s->q);
}

/* Ids a side opened: the client odd, the server even. */
static int peer_parity(chan_mux *m)
{
	return chan_role_of(m->c) == CHAN_SERVER ? 1 : 0;
}

/* A frame for a stream we no longer have is ignored if the stream
 * existed (it crossed our CLOSE or reset); otherwise it is a violation. */
static int known_closed(chan_mux *m, uint32_t sid)
{
	if ((int)(sid & 1) == peer_parity(m))
		return sid <= m->peer_max;
	return sid < m->next_local;
}

/* ---- output ------------------------------------------------------------ */

static struct zg_qitem *pop_next(chan_mux *m)
{
	struct zg_qitem *f = zg_queue_pop(&m->ctl);
	struct stream *s;

	if (f)
		return f;
	s = m->rr_head;
	if (!s)
		return NULL;
	f = zg_queue_pop(&s->q);
	rr_del(m, s);
	if (zg_queue_peek(&s->q))
		rr_add(m, s); /* to the back of the line */
	else if (stream_done(s))
		stream_remove(m, s->id);
	return f;
}

/* Writes queued frames until the channel is full. Never calls back. */
static void flush_out(chan_mux *m)
{
	ssize_t r;

	while (m->state != M_DEAD) {
		if (!m->cur) {
			m->cur = pop_next(m);
			m->cur_off = 0;
			if (!m->cur)
				return;
		}
		r = chan_write(m->c, m->cur->data + m->cur_off,
			       m->cur->len - m->cur_off);
		if (r < 0) {
			m->write_failed = 1;
			return;
		}
		m->cur_off += (size_t)r;
		if (m->cur_off < m->cur->len)
			return;
		m->total -= m->cur->len;
		zg_qitem_free(m->cur);
		m->cur = NULL;
	}
}

static void queue_hello(chan_mux *m)
{
	uint8_t p[CHAN_HELLO_LEN];
	uint32_t mf = (uint32_t)m->o.max_frame;

	p[0] = CHAN_PROTO_VERSION & 0xff;
	p[1] = CHAN_PROTO_VERSION >> 8;
	p[2] = CHAN_PROTO_MIN_VERSION & 0xff;
	p[3] = CHAN_PROTO_MIN_VERSION >> 8;
	p[4] = (uint8_t)mf;
	p[5] = (uint8_t)(mf >> 8);
	p[6] = (uint8_t)(mf >> 16);
	p[7] = (uint8_t)(mf >> 24);
	ctl_push(m, CHAN_F_HELLO, 0, p, sizeof(p));
}

static int queue_error(chan_mux *m, uint32_t sid, unsigned code,
		       const char *why)
{
	uint8_t p[4 + 200];
	size_t n = strlen(why);

	n = n > 200 ? 200 : n;
	p[0] = (uint8_t)code;
	p[1] = (uint8_t)(code >> 8);
	p[2] = (uint8_t)(code >> 16);
	p[3] = (uint8_t)(code >> 24);
	memcpy(p + 4, why, n);
	return ctl_push(m, CHAN_F_ERROR, sid, p, 4 + n);
}

/* flush_out, unless the mux is held (chan_mux_hold). */
static void flush(chan_mux *m)
{
	if (m->held) {
		m->held_out |= m->cur || zg_queue_peek(&m->ctl) || m->rr_head;
		return;
	}
	flush_out(m);
}

void chan_mux_hold(chan_mux *m, int on)
{
	m->held = on != 0;
	if (!m->held) {
		m->held_out = 0;
		flush_out(m);
	}
}

int chan_mux_held_output(const chan_mux *m)
{
	return m->held_out;
}

/* ---- channel reset ----------------------------------------------------- */

static void drop_output(chan_mux *m)
{
	zg_queue_clear(&m->ctl);
	zg_qitem_free(m->cur);
	m->cur = NULL;
	m->rr_head = m->rr_tail = NULL;
	m->total = 0;
}

/* Tells the peer why (unless a frame is half written, which would garble
 * it), drops every stream and, on a server, waits for a new client. */
static void teardown(chan_mux *m, unsigned code, const char *why)
{
	struct stream **sv = m->sv;
	unsigned ns = m->ns;

	if (strncmp(why, "peer closed", 11) == 0 && !m->dec.hdr_got)
		mux_log(m, "peer disconnected");
	else
		mux_log(m, "reset: %s", why);
	if (code && !m->cur && chan_state(m->c) == CHAN_OPEN) {
		drop_output(m);
		queue_error(m, 0, code, why);
		flush_out(m); /* held or not: the reason goes out alone */
	}
	drop_output(m);
	m->sv = NULL;
	m->ns = m->cap = 0;
	chan_frame_dec_free(&m->dec);
	chan_frame_dec_init(&m->dec, m->o.max_frame);
	m->peer_max = 0;
	m->next_local = chan_role_of(m->c) == CHAN_CLIENT ? 1 : 2;
	m->write_failed = m->more_input = m->ping_out = m->rx_paused = 0;
	m->rpos = m->rlen = 0; /* the old client's unread input */
	if (chan_role_of(m->c) == CHAN_SERVER && chan_reset(m->c) == 0) {
		m->state = M_HELLO;
		queue_hello(m);
	} else {
		m->state = M_DEAD;
	}
	for (unsigned i = 0; i < ns; i++) {
		if (m->ops.on_close)
			m->ops.on_close(m->ud, m, sv[i]->id, 1);
		sv[i]->in_rr = 0;
		zg_queue_clear(&sv[i]->q);
		free(sv[i]);
	}
	free(sv);
	if (m->ops.on_down)
		m->ops.on_down(m->ud, m, why);
}

/* ---- input ------------------------------------------------------------- */

static int violate(chan_mux *m, unsigned code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int violate(chan_mux *m, unsigned code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m->why, sizeof(m->why), fmt, ap);
	va_end(ap);
	m->why_code = code;
	return 1;
}

static unsigned le16(const uint8_t *p)
{
	return (unsigned)p[0] | (unsigned)p[1] << 8;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* Agrees on min(ours, theirs); refuses below either side's minimum. */
static int on_hello(chan_mux *m, const uint8_t *p)
{
	unsigned vmax = le16(p), vmin = le16(p + 2);
	unsigned agreed = vmax < CHAN_PROTO_VERSION ? vmax : CHAN_PROTO_VERSION;
	unsigned floor = vmin > CHAN_PROTO_MIN_VERSION ? vmin
						       : CHAN_PROTO_MIN_VERSION;
	uint32_t mf = le32(p + 4);

	if (vmin > vmax || mf < 256)
		return violate(m, CHAN_E_PROTOCOL, "malformed HELLO");
	if (agreed < floor)
		return violate(m, CHAN_E_VERSION,
			       "no common protocol version "
			       "(peer speaks %u..%u, we %u..%u)",
			       vmin, vmax, CHAN_PROTO_MIN_VERSION,
			       CHAN_PROTO_VERSION);
	m->version = agreed;
	m->peer_max_frame = mf;
	m->state = M_UP;
	if (m->ops.on_up)
		m->ops.on_up(m->ud, m);
	return 0;
}

static int on_open(chan_mux *m, uint32_t sid)
{
	struct stream *s;

	if ((int)(sid & 1) != peer_parity(m))
		return violate(m, CHAN_E_PROTOCOL,
			       "OPEN of stream %u: wrong parity", sid);
	if (sid <= m->peer_max)
		return violate(m, CHAN_E_PROTOCOL,
			       "OPEN of stream %u: id reused", sid);
	m->peer_max = sid;
	if (m->ns >= m->o.max_streams) {
		queue_error(m, sid, CHAN_E_REFUSED, "too many streams");
		return 0;
	}
	s = stream_add(m, sid);
	if (!s)
		return violate(m, CHAN_E_INTERNAL, "out of memory");
	if (!m->ops.on_open || m->ops.on_open(m->ud, m, sid) < 0) {
		stream_remove(m, sid);
		queue_error(m, sid, CHAN_E_REFUSED, "stream refused");
	}
	return 0;
}

/* Finds the stream a DATA/CLOSE/ERROR frame is for: 1 found, 0 ignore,
 * -1 violation. */
static int lookup(chan_mux *m, const struct chan_frame_hdr *h,
		  struct stream **s)
{
	static const char *names[] = { "",	"HELLO", "OPEN", "DATA",
				       "CLOSE", "PING",	 "PONG", "ERROR" };

	*s = stream_find(m, h->stream, NULL);
	if (*s)
		return 1;
	if (known_closed(m, h->stream))
		return 0;
	violate(m, CHAN_E_PROTOCOL, "%s for unknown stream %u", names[h->type],
		h->stream);
	return -1;
}

static int on_stream_frame(chan_mux *m, const struct chan_frame_hdr *h,
			   const uint8_t *p)
{
	struct stream *s;
	int rc = lookup(m, h, &s);

	if (rc <= 0)
		return rc < 0;
	if (h->type == CHAN_F_ERROR) {
		stream_remove(m, h->stream);
		if (m->ops.on_close)
			m->ops.on_close(m->ud, m, h->stream, 1);
		return 0;
	}
	if (s->remote_closed)
		return violate(m, CHAN_E_PROTOCOL,
			       "frame on stream %u after "
			       "its CLOSE",
			       h->stream);
	if (h->type == CHAN_F_DATA) {
		if (m->ops.on_data)
			m->ops.on_data(m->ud, m, h->stream, p, h->len);
		return 0;
	}
	s->remote_closed = 1;
	if (m->ops.on_close)
		m->ops.on_close(m->ud, m, h->stream, 0);
	s = stream_find(m, h->stream, NULL);
	if (s && stream_done(s))
		stream_remove(m, h->stream);
	return 0;
}

static int on_peer_error(chan_mux *m, const uint8_t *p, size_t len)
{
	int n = (int)(len - 4 > 200 ? 200 : len - 4);

	for (int i = 0; i < n; i++) /* keep the log line printable */
		if (p[4 + i] < 0x20 || p[4 + i] > 0x7e)
			n = i;
	violate(m, 0, "peer reported error %u: %.*s", le32(p), n,
		(const char *)p + 4);
	return 1;
}

static int dispatch(chan_mux *m, const struct chan_frame_hdr *h,
		    const uint8_t *p)
{
	if (m->state != M_UP) {
		if (h->type == CHAN_F_HELLO)
			return on_hello(m, p);
		if (h->type == CHAN_F_ERROR && h->stream == 0)
			return on_peer_error(m, p, h->len);
		return violate(m, CHAN_E_PROTOCOL, "frame type %u before HELLO",
			       h->type);
	}
	switch (h->type) {
	case CHAN_F_HELLO:
		return violate(m, CHAN_E_PROTOCOL, "second HELLO");
	case CHAN_F_PING:
		ctl_push(m, CHAN_F_PONG, 0, p, h->len);
		return 0;
	case CHAN_F_PONG:
		m->ping_out = 0;
		return 0;
	case CHAN_F_OPEN:
		return on_open(m, h->stream);
	case CHAN_F_ERROR:
		if (h->stream == 0)
			return on_peer_error(m, p, h->len);
		/* fall through */
	default:
		return on_stream_frame(m, h, p);
	}
}

/* One frame, then a stop (FEED_PAUSE) once this call's frame budget is
 * spent or the peer has not taken the answers already queued for it: a
 * frame can add at most one answer, so the control queue never exceeds
 * its cap by more than one frame. */
static int on_frame(void *ud, const struct chan_frame_hdr *h, const uint8_t *p)
{
	chan_mux *m = ud;
	int rc = dispatch(m, h, p);

	if (rc)
		return rc;
	if (ctl_mem(m) >= m->o.ctl_queue_max) {
		m->rx_paused = 1;
		return FEED_PAUSE;
	}
	if (m->frames_left > 0 && --m->frames_left == 0) {
		m->turn_spent = 1;
		return FEED_PAUSE;
	}
	return 0;
}

/* Reads a chunk into rbuf (only once the last one is dispatched). Returns
 * 1 with one, 0 without (nothing there, or the byte budget is spent), or
 * -1 after a teardown (the peer is gone). */
static int read_chunk(chan_mux *m, size_t *bytes)
{
	ssize_t r;

	if (*bytes >= m->o.turn_bytes) {
		m->turn_spent = 1;
		return 0;
	}
	r = chan_read(m->c, m->rbuf, sizeof(m->rbuf));
	if (r == 0)
		return 0;
	if (r < 0) {
		teardown(m, 0,
			 chan_frame_dec_midframe(&m->dec)
				 ? "peer closed mid-frame"
				 : "peer closed");
		return -1;
	}
	m->last_rx = now_ms();
	m->rpos = 0;
	m->rlen = (size_t)r;
	*bytes += (size_t)r;
	return 1;
}

/* Dispatches input within this call's budget: what an earlier call read
 * but left undispatched first, then more from the channel. Nothing is
 * read while the control queue is at its cap (the peer is not taking our
 * answers). Returns 0, or 1 after a teardown. */
static int read_input(chan_mux *m)
{
	size_t bytes = 0, used;
	const char *why = NULL;
	int rc;

	m->frames_left = m->turn_frames ? m->turn_frames : m->o.turn_frames;
	m->turn_spent = 0;
	m->rx_paused = 0;
	for (;;) {
		if (ctl_mem(m) >= m->o.ctl_queue_max) {
			m->rx_paused = 1;
			return 0;
		}
		if (m->rpos == m->rlen) {
			rc = read_chunk(m, &bytes);
			if (rc <= 0)
				return rc < 0;
		}
		m->why[0] = '\0';
		used = 0;
		rc = chan_frame_dec_feed_part(&m->dec, m->rbuf + m->rpos,
					      m->rlen - m->rpos, &used,
					      on_frame, m, &why);
		m->rpos += used;
		if (rc == FEED_PAUSE)
			return 0;
		if (rc < 0) {
			snprintf(m->why, sizeof(m->why), "%s", why);
			m->why_code = CHAN_E_PROTOCOL;
		}
		if (rc) {
			teardown(m, m->why_code, m->why);
			return 1;
		}
	}
}

/* After a call: is there input to take at once (left over from the
 * budget), or is it held back until the peer reads? */
static void note_input(chan_mux *m)
{
	if (m->state == M_DEAD) {
		m->more_input = m->rx_paused = 0;
		return;
	}
	m->rx_paused = ctl_mem(m) >= m->o.ctl_queue_max;
	m->more_input = !m->rx_paused &&
			(m->rpos < m->rlen || chan_data_ready(m->c) > 0);
}

/* PING when idle for an interval; reset after three silent ones. A
 * client that connects but never says HELLO is treated the same way. */
static int liveness(chan_mux *m)
{
	long now = now_ms(), iv = m->o.ping_interval_ms;
	uint8_t p[CHAN_PING_LEN];

	if (iv <= 0 || m->state == M_DEAD || chan_state(m->c) != CHAN_OPEN)
		return 0;
	if (now - m->last_rx >= 3 * iv) {
		teardown(m, CHAN_E_TIMEOUT,
			 m->state == M_UP ? "peer not answering PING"
					  : "peer sent no HELLO");
		return 1;
	}
	if (m->state == M_UP && !m->ping_out && now - m->last_rx >= iv) {
		memcpy(p, &now,
		       sizeof(p) < sizeof(now) ? sizeof(p) : sizeof(now));
		ctl_push(m, CHAN_F_PING, 0, p, sizeof(p));
		m->ping_out = 1;
	}
	return 0;
}

/* ---- public ------------------------------------------------------------ */

static void opts_defaults(struct chan_mux_opts *o)
{
	if (!o->max_frame)
		o->max_frame = CHAN_FRAME_MAX_DEFAULT;
	if (o->max_frame > CHAN_FRAME_MAX_LIMIT)
		o->max_frame = CHAN_FRAME_MAX_LIMIT;
	if (o->max_frame < 1024)
		o->max_frame = 1024;
	if (!o->stream_queue_max)
		o->stream_queue_max = 8u << 20;
	if (o->stream_queue_max < o->max_frame + CHAN_FRAME_HDR)
		o->stream_queue_max = o->max_frame + CHAN_FRAME_HDR;
	if (!o->total_queue_max)
		o->total_queue_max = 64u << 20;
	if (o->total_queue_max < o->stream_queue_max)
		o->total_queue_max = o->stream_queue_max;
	if (!o->max_streams)
		o->max_streams = 256;
	if (!o->ctl_queue_max)
		o->ctl_queue_max = 256u << 10;
	if (o->ctl_queue_max < 4096)
		o->ctl_queue_max = 4096;
	if (!o->turn_frames)
		o->turn_frames = 64;
	if (!o->turn_bytes)
		o->turn_bytes = 256u << 10;
}

chan_mux *chan_mux_new(chan *c, const struct chan_mux_opts *opts,
		       const struct chan_mux_ops *ops, void *ud, char *err,
		       size_t errlen)
{
	chan_mux *m = calloc(1, sizeof(*m));

	if (!m) {
		chan_close(c);
		if (err && errlen)
			snprintf(err, errlen, "out of memory");
		return NULL;
	}
	m->c = c;
	if (opts)
		m->o = *opts;
	opts_defaults(&m->o);
	zg_queue_init(&m->ctl, 0, 0);
	if (ops)
		m->ops = *ops;
	m->ud = ud;
	m->state = M_HELLO;
	m->next_local = chan_role_of(c) == CHAN_CLIENT ? 1 : 2;
	m->last_rx = now_ms();
	m->seen_gen = chan_generation(c);
	chan_frame_dec_init(&m->dec, m->o.max_frame);
	queue_hello(m);
	flush(m);
	return m;
}

void chan_mux_free(chan_mux *m)
{
	if (!m)
		return;
	drop_output(m);
	for (unsigned i = 0; i < m->ns; i++) {
		zg_queue_clear(&m->sv[i]->q);
		free(m->sv[i]);
	}
	free(m->sv);
	chan_frame_dec_free(&m->dec);
	chan_close(m->c);
	free(m);
}

int chan_mux_fd(chan_mux *m)
{
	return chan_fd(m->c);
}

short chan_mux_events(chan_mux *m)
{
	return chan_poll_events(m->c,
				m->cur || zg_queue_peek(&m->ctl) || m->rr_head);
}

int chan_mux_timeout_ms(chan_mux *m)
{
	long left;

	if (m->more_input || m->write_failed)
		return 0;
	if (m->o.ping_interval_ms <= 0 || m->state == M_DEAD ||
	    chan_state(m->c) != CHAN_OPEN) /* no clock without a peer */
		return -1;
	left = m->last_rx +
	       (long)m->o.ping_interval_ms *
		       (m->ping_out || m->state != M_UP ? 3 : 1) -
	       now_ms();
	if (left < 0)
		return 0;
	return left > 60000 ? 60000 : (int)left;
}

int chan_mux_process(chan_mux *m)
{
	if (m->state == M_DEAD)
		return -1;
	chan_handle_events(m->c);
	if (chan_generation(m->c) != m->seen_gen) {
		m->seen_gen = chan_generation(m->c);
		m->last_rx = now_ms(); /* a new client: start its clock */
	}
	flush(m); /* room for the answers the input may need */
	if (read_input(m) == 0 && liveness(m) == 0)
		flush(m);
	if (m->write_failed && m->state != M_DEAD) {
		m->write_failed = 0;
		teardown(m, 0, "peer closed");
	}
	flush(m);
	note_input(m);
	return m->state == M_DEAD ? -1 : 0;
}

void chan_mux_set_turn(chan_mux *m, unsigned frames)
{
	m->turn_frames = frames;
}

int chan_mux_turn_spent(const chan_mux *m)
{
	return m->turn_spent && m->more_input;
}

int chan_mux_is_up(chan_mux *m)
{
	return m->state == M_UP;
}

uint32_t chan_mux_open_stream(chan_mux *m)
{
	struct stream *s;
	struct zg_qitem *f;
	uint32_t sid;

	if (m->state == M_DEAD || m->ns >= m->o.max_streams ||
	    m->next_local > UINT32_MAX - 2 ||
	    m->total + CHAN_FRAME_HDR > m->o.total_queue_max)
		return 0;
	sid = m->next_local;
	f = frame_new(CHAN_F_OPEN, sid, NULL, 0);
	s = f ? stream_add(m, sid) : NULL;
	if (!s) {
		zg_qitem_free(f);
		return 0;
	}
	m->next_local += 2;
	stream_push(m, s, f);
	flush(m);
	return sid;
}

int chan_mux_send(chan_mux *m, uint32_t sid, const void *msg, size_t len)
{
	struct stream *s = stream_find(m, sid, NULL);
	size_t need = len + CHAN_FRAME_HDR;
	uint8_t hdr[CHAN_FRAME_HDR];

	if (!s || s->local_closed || len == 0 || len > m->o.max_frame ||
	    (m->state == M_UP && len > m->peer_max_frame))
		return -1;
	if (m->total + need > m->o.total_queue_max)
		return CHAN_MUX_EFULL;
	chan_frame_hdr_encode(hdr, CHAN_F_DATA, sid, (uint32_t)len);
	/* the stream's own cap is the queue's (stream_queue_max) */
	if (zg_queue_push(&s->q, hdr, sizeof(hdr), msg, len, 0, NULL) !=
	    ZG_QUEUE_OK)
		return CHAN_MUX_EFULL;
	m->total += need;
	rr_add(m, s);
	flush(m);
	return 0;
}

int chan_mux_close_stream(chan_mux *m, uint32_t sid)
{
	struct stream *s = stream_find(m, sid, NULL);
	struct zg_qitem *f;

	if (!s || s->local_closed)
		return -1;
	f = frame_new(CHAN_F_CLOSE, sid, NULL, 0);
	if (!f)
		return -1;
	s->local_closed = 1;
	stream_push(m, s, f);
	flush(m);
	return 0;
}

int chan_mux_reset_stream(chan_mux *m, uint32_t sid, unsigned code,
			  const char *why)
{
	if (!stream_find(m, sid, NULL))
		return -1;
	stream_remove(m, sid);
	queue_error(m, sid, code, why ? why : "reset");
	flush(m);
	return 0;
}

size_t chan_mux_queued(chan_mux *m, uint32_t sid)
{
	struct stream *s = stream_find(m, sid, NULL);

	return s ? zg_queue_bytes(&s->q) : 0;
}

size_t chan_mux_backlog(chan_mux *m)
{
	return m->total;
}

int chan_mux_rx_paused(chan_mux *m)
{
	return m->rx_paused;
}

unsigned chan_mux_streams(chan_mux *m)
{
	return m->ns;
}

chan *chan_mux_chan(chan_mux *m)
{
	return m->c;
}
