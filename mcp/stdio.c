/* The stdio transport: one MCP connection (mcp_conn, conn.c: a session
 * and 2026-07-28 stateless requests, chosen per request) on a pair of file
 * descriptors, newline-delimited JSON-RPC in both directions. Logs never
 * go to the output fd; lines over the message cap are refused without
 * buffering them whole. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mcp_internal.h"
#include "transport.h"

struct stdio_out {
	pthread_mutex_t mu;
	int fd;
	int dead;
};

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int stdio_send(void *ctx, const json_t *related, const char *msg,
		      size_t len)
{
	struct stdio_out *o = ctx;
	int rc = -1;

	(void)related;
	pthread_mutex_lock(&o->mu);
	if (!o->dead) {
		/* One write for message and newline keeps lines whole even
		 * if another process shares the fd. */
		char *buf = malloc(len + 1);
		if (buf) {
			memcpy(buf, msg, len);
			buf[len] = '\n';
			rc = write_all(o->fd, buf, len + 1);
			free(buf);
		}
		if (rc != 0)
			o->dead = 1;
	}
	pthread_mutex_unlock(&o->mu);
	return rc;
}

static void handle_line(mcp_conn *c, char *line, size_t len)
{
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len > 0)
		mcp_conn_input(c, line, len);
}

static void refuse_oversize(struct stdio_out *o)
{
	static const char msg[] = "{\"jsonrpc\":\"2.0\",\"id\":null,"
				  "\"error\":{\"code\":-32600,\"message\":"
				  "\"message too large\"}}";
	/* Through the shared sender so the write is serialized. */
	stdio_send(o, NULL, msg, sizeof(msg) - 1);
}

int mcp_stdio_serve(mcp_server *srv, int in_fd, int out_fd)
{
	struct stdio_out out = { .fd = out_fd };
	mcp_conn *c;
	size_t cap = srv->limits.max_message + 2, len = 0;
	char *buf = malloc(cap);
	int skipping = 0, rc = 0;

	if (!buf)
		return -1;
	pthread_mutex_init(&out.mu, NULL);
	c = mcp_conn_new(srv, stdio_send, &out, 0);
	if (!c) {
		pthread_mutex_destroy(&out.mu);
		free(buf);
		return -1;
	}
	for (;;) {
		ssize_t r = read(in_fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = r < 0 ? -1 : 0;
			break;
		}
		size_t end = len + (size_t)r, start = 0;
		for (size_t i = len; i < end; i++) {
			if (buf[i] != '\n')
				continue;
			if (!skipping)
				handle_line(c, buf + start, i - start);
			skipping = 0;
			start = i + 1;
		}
		memmove(buf, buf + start, end - start);
		len = end - start;
		if (len == cap) { /* a line longer than the cap */
			if (!skipping)
				refuse_oversize(&out);
			skipping = 1;
			len = 0;
		}
		if (out.dead) {
			rc = -1;
			break;
		}
	}
	if (!skipping && len > 0 && rc == 0)
		handle_line(c, buf, len);
	/* EOF ends subscriptions (the client is gone); requests still
	 * running may finish. */
	if (rc == 0)
		mcp_conn_drain(c, 30000);
	mcp_conn_free(c);
	pthread_mutex_destroy(&out.mu);
	free(buf);
	return rc;
}
