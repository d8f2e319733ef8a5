/* One line-delimited MCP client of zonegate-relay on its own channel
 * stream: the relay's stdin/stdout, or one connection to the relay
 * daemon's unix socket. Lines in are messages on the stream; messages out
 * are lines. Both directions have a cap set at creation. */
#include "relay.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IN_START (64u << 10)   /* the input buffer grows up to inmax */
#define STREAM_HIGH (4u << 20) /* stop reading while this much waits */

static void nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

struct relay_client *relay_client_new(int in_fd, int out_fd, size_t max_message,
				      size_t out_max)
{
	struct relay_client *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->inmax = max_message + 1;
	c->incap = c->inmax < IN_START ? c->inmax : IN_START;
	c->in = malloc(c->incap);
	if (!c->in) {
		free(c);
		return NULL;
	}
	c->in_fd = in_fd;
	c->out_fd = out_fd;
	c->outmax = out_max;
	c->in_open = 1;
	c->pin = -1;
	nonblock(in_fd);
	nonblock(out_fd);
	return c;
}

void relay_client_free(struct relay_client *c)
{
	if (!c)
		return;
	free(c->in);
	free(c->out);
	free(c);
}

/* Raw newlines can only be whitespace in JSON text, so they become
 * spaces and each message stays one line. */
int relay_client_queue(struct relay_client *c, const uint8_t *p, size_t n)
{
	char *nb;

	if (c->outlen - c->outoff + n + 1 > c->outmax)
		return -1;
	if (c->outoff) {
		memmove(c->out, c->out + c->outoff, c->outlen - c->outoff);
		c->outlen -= c->outoff;
		c->outoff = 0;
	}
	nb = realloc(c->out, c->outlen + n + 1);
	if (!nb)
		return -1;
	c->out = nb;
	for (size_t i = 0; i < n; i++)
		nb[c->outlen + i] = (p[i] == '\n' || p[i] == '\r') ? ' '
								   : (char)p[i];
	nb[c->outlen + n] = '\n';
	c->outlen += n + 1;
	return 0;
}

int relay_client_flush(struct relay_client *c)
{
	ssize_t w;

	while (c->outoff < c->outlen) {
		w = write(c->out_fd, c->out + c->outoff, c->outlen - c->outoff);
		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			return 1;
		if (w <= 0)
			return -1; /* the client went away */
		c->outoff += (size_t)w;
	}
	c->outoff = c->outlen = 0;
	return 0;
}

void relay_client_error(struct relay_client *c, int code, const char *msg)
{
	json_t *e = json_pack("{s:s,s:n,s:{s:i,s:s}}", "jsonrpc", "2.0", "id",
			      "error", "code", code, "message", msg);
	char *txt = e ? json_dumps(e, JSON_COMPACT) : NULL;

	if (txt && relay_client_queue(c, (const uint8_t *)txt, strlen(txt)))
		fprintf(stderr, "zonegate-relay: an error for a client "
				"was dropped (its queue is full)\n");
	free(txt);
	json_decref(e);
}

/* A request the relay cannot forward still gets an answer: an error
 * with its id (null when the line could not be read whole). */
static void refuse(struct relay_client *c, const char *line, size_t len,
		   const char *why)
{
	json_t *m = line ? json_loadb(line, len, 0, NULL) : NULL;
	json_t *id = json_object_get(m, "id");
	json_t *e;
	char *txt;

	if (m && (!json_is_string(json_object_get(m, "method")) ||
		  !(json_is_string(id) || json_is_integer(id)))) {
		json_decref(m); /* a notification or a response: no reply */
		return;
	}
	e = json_pack("{s:s,s:O?,s:{s:i,s:s}}", "jsonrpc", "2.0", "id", id,
		      "error", "code", -32600, "message", why);
	txt = e ? json_dumps(e, JSON_COMPACT) : NULL;
	if (txt)
		relay_client_queue(c, (const uint8_t *)txt, strlen(txt));
	free(txt);
	json_decref(e);
	json_decref(m);
}

/* Sends each complete line; returns 0, or 1 when the stream is full
 * (the line stays buffered and the input is not read meanwhile). */
static int send_lines(struct relay_client *c, chan_mux *m)
{
	char *nl;
	size_t len, used = 0;
	int rc = 0;

	while ((nl = memchr(c->in + used, '\n', c->inlen - used)) != NULL) {
		len = (size_t)(nl - (c->in + used));
		if (len && c->in[used + len - 1] == '\r')
			len--;
		rc = len ? chan_mux_send(m, c->sid, c->in + used, len) : 0;
		if (rc == CHAN_MUX_EFULL)
			break;
		if (rc != 0) {
			char why[96];
			fprintf(stderr,
				"zonegate-relay: message of %zu bytes "
				"not sent (over the peer's limit?)\n",
				len);
			snprintf(why, sizeof(why),
				 "message too large for the "
				 "channel (%zu bytes)",
				 len);
			refuse(c, c->in + used, len, why);
		}
		rc = 0;
		used = (size_t)(nl - c->in) + 1;
	}
	memmove(c->in, c->in + used, c->inlen - used);
	c->inlen -= used;
	c->blocked = rc == CHAN_MUX_EFULL;
	return c->blocked;
}

void relay_client_send(struct relay_client *c, chan_mux *m)
{
	if (c->sid && c->inlen)
		send_lines(c, m);
}

/* Input ended: a stdio client's last unterminated line still counts; a
 * socket client's is the message it died in the middle of. */
static void input_ended(struct relay_client *c, chan_mux *m)
{
	c->in_open = 0;
	c->close_pending = 1;
	if (c->inlen && !c->skipping && c->eof_line_counts &&
	    c->inlen < c->incap)
		c->in[c->inlen++] = '\n';
	send_lines(c, m);
	if (!c->eof_line_counts && c->inlen) {
		/* whole lines waiting for the channel still go */
		size_t keep = c->inlen;
		while (keep && c->in[keep - 1] != '\n')
			keep--;
		if (keep < c->inlen)
			fprintf(stderr,
				"zonegate-relay: a client ended in the middle "
				"of a message (%zu bytes dropped)\n",
				c->inlen - keep);
		c->inlen = keep;
	}
}

/* Grows the input buffer when it is full and below its cap. */
static void grow_in(struct relay_client *c)
{
	size_t cap = c->incap * 2 < c->inmax ? c->incap * 2 : c->inmax;
	char *nb;

	if (c->inlen < c->incap || c->incap == c->inmax)
		return;
	nb = realloc(c->in, cap);
	if (!nb)
		return; /* treated as a full buffer: the line is dropped */
	c->in = nb;
	c->incap = cap;
}

/* The buffer is full without a newline: the line is over the cap. */
static void drop_oversize(struct relay_client *c)
{
	char why[96];

	fprintf(stderr, "zonegate-relay: message over %zu bytes dropped\n",
		c->inmax - 1);
	snprintf(why, sizeof(why), "message too large (over %zu bytes)",
		 c->inmax - 1);
	refuse(c, NULL, 0, why);
	c->inlen = 0;
	c->skipping = 1;
}

void relay_client_read(struct relay_client *c, chan_mux *m)
{
	ssize_t n;

	if (send_lines(c, m)) /* whole lines still wait for the channel */
		return;
	grow_in(c);		  /* what it holds now is part of one line */
	if (c->inlen == c->incap) /* cannot grow: over what it may hold */
		drop_oversize(c);
	n = read(c->in_fd, c->in + c->inlen, c->incap - c->inlen);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) { /* EOF, or a connection reset */
		input_ended(c, m);
		return;
	}
	c->inlen += (size_t)n;
	if (c->skipping) { /* dropping the rest of an oversized line */
		char *nl = memchr(c->in, '\n', c->inlen);
		size_t keep = nl ? c->inlen - (size_t)(nl + 1 - c->in) : 0;
		if (nl)
			memmove(c->in, nl + 1, keep);
		c->inlen = keep;
		c->skipping = !nl;
	}
	if (send_lines(c, m) == 0 && c->inlen == c->inmax)
		drop_oversize(c);
}

/* Nonzero when its input may be read now: it has a stream that is not
 * backed up, no whole line waits for room in the channel's queues, and
 * its input has not ended. */
int relay_client_wants_input(const struct relay_client *c, chan_mux *m)
{
	return m && c->sid && c->in_open && !c->ending && !c->blocked &&
	       chan_mux_queued(m, c->sid) < STREAM_HIGH;
}
