/* mcp_load: closed-loop load generator for MCP Streamable HTTP servers.
 * N keep-alive HTTP/1.1 connections, each with its own MCP session
 * (initialize, notifications/initialized), then tools/call in a loop for a
 * fixed time from one epoll thread; prints req/s and p50/p99 latency.
 * --rev 2026-07-28: stateless requests instead (no initialize, no
 * session; version and capabilities in _meta, Mcp-Method and Mcp-Name).
 * --spin US: after sending, poll for the answer (epoll_wait without
 * sleeping) for up to US microseconds before sleeping in epoll_wait, so
 * that on an idle VM a call does not pay this client's own wake-up.
 * Also: --wait-init (start-up time until the first good initialize) and
 * --free-port. Loopback benchmarking only; no TLS, no redirects. */
#define _GNU_SOURCE /* memmem */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "zg_common.h"

#define MAX_CONNS 1024
#define MAX_RESPONSE (1u << 20) /* one response, headers and body */
#define REQ_CAP 4096
#define SID_CAP 256

enum phase { PH_INIT, PH_INITED, PH_CALL };

struct target {
	char host[64]; /* dotted IPv4 literal */
	int port;
	char path[256];
	char tool[128];
	int rev2026; /* stateless 2026-07-28 requests */
};

struct conn {
	int fd;
	enum phase phase;
	char sid[SID_CAP];
	char req[REQ_CAP];
	size_t req_len, req_off;
	char *buf; /* response bytes */
	size_t len, cap;
	long id;
	double t_sent;
};

struct stats {
	double *lat; /* microseconds */
	size_t n, cap;
	unsigned long long errors;
	unsigned long long total; /* good calls, warm-up included */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
	long long v;

	if (zg_parse_int(s, lo, hi, &v) != 0)
		return -1;
	*out = (long)v;
	return 0;
}

/* Accepts http://A.B.C.D:PORT/path only. */
static int parse_url(const char *url, struct target *t)
{
	const char *p = url, *colon, *slash;
	char port[8];
	long v;
	size_t n;

	if (strncmp(p, "http://", 7) != 0)
		return -1;
	p += 7;
	colon = strchr(p, ':');
	slash = strchr(p, '/');
	if (!colon || !slash || colon > slash)
		return -1;
	n = (size_t)(colon - p);
	if (n == 0 || n >= sizeof t->host)
		return -1;
	memcpy(t->host, p, n);
	t->host[n] = '\0';
	n = (size_t)(slash - colon - 1);
	if (n == 0 || n >= sizeof port)
		return -1;
	memcpy(port, colon + 1, n);
	port[n] = '\0';
	if (parse_long(port, 1, 65535, &v) < 0)
		return -1;
	t->port = (int)v;
	if (strlen(slash) >= sizeof t->path)
		return -1;
	memcpy(t->path, slash, strlen(slash) + 1);
	return 0;
}

static int dial(const struct target *t)
{
	struct sockaddr_in sa;
	int fd, one = 1;

	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)t->port);
	if (inet_pton(AF_INET, t->host, &sa.sin_addr) != 1)
		return -1;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* ---- HTTP request and response ---------------------------------------- */

static int build_request(struct conn *c, const struct target *t,
			 const char *body)
{
	char sidh[SID_CAP + 64] = "";
	int n;

	if (t->rev2026)
		snprintf(sidh, sizeof sidh,
			 "MCP-Protocol-Version: 2026-07-28\r\n"
			 "Mcp-Method: tools/call\r\nMcp-Name: %s\r\n",
			 t->tool);
	else if (c->sid[0])
		snprintf(
			sidh, sizeof sidh,
			"Mcp-Session-Id: %s\r\nMCP-Protocol-Version: 2025-11-25\r\n",
			c->sid);
	n = snprintf(c->req, sizeof c->req,
		     "POST %s HTTP/1.1\r\nHost: %s:%d\r\n"
		     "Content-Type: application/json\r\n"
		     "Accept: application/json, text/event-stream\r\n"
		     "%sContent-Length: %zu\r\n\r\n%s",
		     t->path, t->host, t->port, sidh, strlen(body), body);
	if (n < 0 || (size_t)n >= sizeof c->req)
		return -1;
	c->req_len = (size_t)n;
	c->req_off = 0;
	c->len = 0;
	return 0;
}

static int next_request(struct conn *c, const struct target *t)
{
	char body[512];
	int n;

	c->id++;
	switch (c->phase) {
	case PH_INIT:
		n = snprintf(body, sizeof body,
			     "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":"
			     "\"initialize\",\"params\":{\"protocolVersion\":"
			     "\"2025-11-25\",\"capabilities\":{},\"clientInfo\":"
			     "{\"name\":\"mcp_load\",\"version\":\"1\"}}}",
			     c->id);
		break;
	case PH_INITED:
		n = snprintf(body, sizeof body,
			     "{\"jsonrpc\":\"2.0\",\"method\":"
			     "\"notifications/initialized\"}");
		break;
	default:
		n = snprintf(body, sizeof body,
			     "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":"
			     "\"tools/call\",\"params\":{\"name\":\"%s\","
			     "\"arguments\":{}%s}}",
			     c->id, t->tool,
			     t->rev2026
				     ? ",\"_meta\":{\"io.modelcontextprotocol/"
				       "protocolVersion\":\"2026-07-28\","
				       "\"io.modelcontextprotocol/"
				       "clientCapabilities\":{}}"
				     : "");
		break;
	}
	if (n < 0 || (size_t)n >= sizeof body)
		return -1;
	return build_request(c, t, body);
}

/* Finds header name (case-insensitive) in the header block [h, end); copies
 * its trimmed value to out. Returns 0 if found. */
static int header_value(const char *h, const char *end, const char *name,
			char *out, size_t outlen)
{
	size_t nl = strlen(name);
	const char *line = h;

	while (line < end) {
		const char *eol = memchr(line, '\n', (size_t)(end - line));
		const char *v;
		size_t n;

		if (!eol)
			eol = end;
		if ((size_t)(eol - line) > nl && line[nl] == ':' &&
		    strncasecmp(line, name, nl) == 0) {
			v = line + nl + 1;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			n = (size_t)(eol - v);
			while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == ' '))
				n--;
			if (n >= outlen)
				return -1;
			memcpy(out, v, n);
			out[n] = '\0';
			return 0;
		}
		line = eol + 1;
	}
	return -1;
}

/* Decodes a chunked body in place. Returns the decoded length when the
 * last chunk is complete, -1 if more bytes are needed, -2 on bad framing. */
static long dechunk(char *b, size_t len)
{
	/* Two passes: the first only checks that the whole body is there
	 * (a partial body must stay as it came, since more bytes are
	 * appended to it later); the second moves the data together. */
	for (int pass = 0; pass < 2; pass++) {
		size_t in = 0, out = 0;
		for (;;) {
			char *crlf = NULL, *end = NULL;
			unsigned long sz;
			size_t i;

			for (i = in; i + 1 < len; i++)
				if (b[i] == '\r' && b[i + 1] == '\n') {
					crlf = b + i;
					break;
				}
			if (!crlf)
				return -1;
			errno = 0;
			sz = strtoul(b + in, &end, 16);
			if (errno || end == b + in)
				return -2;
			in = (size_t)(crlf - b) + 2;
			if (sz == 0) {
				if (len < in + 2)
					return -1;
				if (pass == 1)
					return (long)out;
				break;
			}
			if (sz > len || in + sz + 2 > len)
				return -1;
			if (pass == 1)
				memmove(b + out, b + in, sz);
			out += sz;
			in += sz + 2;
		}
	}
	return -2; /* not reached */
}

/* Inspects c->buf. Returns 1 when a whole response is there (status and
 * body out), 0 if more bytes are needed, -1 on a malformed response. */
static int response_complete(struct conn *c, int *status, char **body,
			     size_t *blen)
{
	char *hend, val[64];
	size_t hlen;
	long cl;

	if (c->len < 12)
		return 0;
	hend = memmem(c->buf, c->len, "\r\n\r\n", 4);
	if (!hend)
		return c->len >= MAX_RESPONSE ? -1 : 0;
	hlen = (size_t)(hend - c->buf) + 4;
	if (strncmp(c->buf, "HTTP/1.1 ", 9) != 0)
		return -1;
	*status = (c->buf[9] - '0') * 100 + (c->buf[10] - '0') * 10 +
		  (c->buf[11] - '0');
	*body = c->buf + hlen;
	if (header_value(c->buf, hend, "content-length", val, sizeof val) ==
	    0) {
		if (parse_long(val, 0, MAX_RESPONSE, &cl) < 0)
			return -1;
		if (c->len < hlen + (size_t)cl)
			return 0;
		*blen = (size_t)cl;
		return 1;
	}
	if (header_value(c->buf, hend, "transfer-encoding", val, sizeof val) ==
		    0 &&
	    strcasecmp(val, "chunked") == 0) {
		long n = dechunk(*body, c->len - hlen);

		if (n == -2)
			return -1;
		if (n < 0)
			return 0;
		*blen = (size_t)n;
		return 1;
	}
	if (*status == 202 || *status == 204) {
		*blen = 0;
		return 1;
	}
	return -1; /* close-delimited bodies are not supported */
}

/* ---- the load loop ----------------------------------------------------- */

static int stats_add(struct stats *s, double us)
{
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 65536;
		double *p = realloc(s->lat, ncap * sizeof *p);

		if (!p)
			return -1;
		s->lat = p;
		s->cap = ncap;
	}
	s->lat[s->n++] = us;
	return 0;
}

static int send_pending(struct conn *c)
{
	while (c->req_off < c->req_len) {
		ssize_t n = send(c->fd, c->req + c->req_off,
				 c->req_len - c->req_off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? 0 : -1;
		c->req_off += (size_t)n;
	}
	return 0;
}

/* Handles one complete response; returns 0 to go on, -1 on error. */
static int on_response(struct conn *c, int status, const char *body,
		       size_t blen, struct stats *st, int record)
{
	char idpat[48];

	switch (c->phase) {
	case PH_INIT:
		if (status != 200 ||
		    header_value(c->buf, strstr(c->buf, "\r\n\r\n"),
				 "mcp-session-id", c->sid, sizeof c->sid) < 0)
			return -1;
		c->phase = PH_INITED;
		return 0;
	case PH_INITED:
		if (status != 202 && status != 200)
			return -1;
		c->phase = PH_CALL;
		return 0;
	default:
		snprintf(idpat, sizeof idpat, "\"id\":%ld", c->id);
		if (status != 200 || !memmem(body, blen, "\"result\"", 8) ||
		    !memmem(body, blen, idpat, strlen(idpat)) ||
		    memmem(body, blen, "\"isError\":true", 14)) {
			if (!st)
				return -1; /* the start-up probe */
			st->errors++;
			return 0;
		}
		if (!st)
			return 0;
		st->total++;
		if (record)
			return stats_add(st, (now_s() - c->t_sent) * 1e6);
		return 0;
	}
}

/* Reads what is there; returns 0 to go on, -1 if the connection failed. */
static int on_readable(struct conn *c, const struct target *t, struct stats *st,
		       int record)
{
	for (;;) {
		ssize_t n;
		int status = 0, rc;
		char *body = NULL;
		size_t blen = 0;

		if (c->cap - c->len < 4096) {
			size_t ncap = c->cap ? c->cap * 2 : 16384;
			char *p;

			if (ncap > MAX_RESPONSE + 1)
				return -1;
			p = realloc(c->buf, ncap);
			if (!p)
				return -1;
			c->buf = p;
			c->cap = ncap;
		}
		n = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0)
			return -1;
		c->len += (size_t)n;
		c->buf[c->len] = '\0';
		rc = response_complete(c, &status, &body, &blen);
		if (rc < 0)
			return -1;
		if (rc == 0)
			continue;
		if (on_response(c, status, body, blen, st, record) < 0)
			return -1;
		if (next_request(c, t) < 0)
			return -1;
		c->t_sent = now_s();
		if (send_pending(c) < 0)
			return -1;
	}
}

/* Ends a session with DELETE on a fresh connection, so that runs do not
 * leave sessions behind on the server. Best effort. */
static void end_session(const struct target *t, const char *sid)
{
	char req[512], buf[512];
	int fd, n;

	n = snprintf(
		req, sizeof req,
		"DELETE %s HTTP/1.1\r\nHost: %s:%d\r\nMcp-Session-Id: %s\r\n"
		"MCP-Protocol-Version: 2025-11-25\r\nConnection: close\r\n"
		"\r\n",
		t->path, t->host, t->port, sid);
	if (n < 0 || (size_t)n >= sizeof req)
		return;
	fd = dial(t);
	if (fd < 0)
		return;
	if (send(fd, req, (size_t)n, MSG_NOSIGNAL) == n)
		while (recv(fd, buf, sizeof buf, 0) > 0)
			;
	close(fd);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double percentile(const struct stats *s, double p)
{
	size_t i;

	if (s->n == 0)
		return 0;
	i = (size_t)(p * (double)(s->n - 1) + 0.5);
	return s->lat[i < s->n ? i : s->n - 1];
}

/* epoll_wait that first polls for up to spin seconds (0: it just
 * sleeps, for at most 50 ms); what epoll_wait returned. */
static int wait_events(int ep, struct epoll_event *evs, int max, double spin)
{
	double until;
	int n;

	if (spin <= 0)
		return epoll_wait(ep, evs, max, 50);
	until = now_s() + spin;
	do {
		n = epoll_wait(ep, evs, max, 0);
		if (n != 0)
			return n;
	} while (now_s() < until);
	return epoll_wait(ep, evs, max, 50);
}

static int run_load(const struct target *t, int nconns, double warmup,
		    double duration, double spin)
{
	struct conn *cs = calloc((size_t)nconns, sizeof *cs);
	struct stats st = { NULL, 0, 0, 0, 0 };
	struct epoll_event ev, evs[64];
	double t0, tmeasure, tend;
	int ep, i, failed = 0, live = nconns;

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (!cs || ep < 0)
		return 1;
	for (i = 0; i < nconns; i++) {
		cs[i].phase = t->rev2026 ? PH_CALL : PH_INIT;
		cs[i].fd = dial(t);
		if (cs[i].fd < 0 || next_request(&cs[i], t) < 0) {
			fprintf(stderr, "mcp_load: cannot connect to %s:%d\n",
				t->host, t->port);
			return 1;
		}
		fcntl(cs[i].fd, F_SETFL, fcntl(cs[i].fd, F_GETFL) | O_NONBLOCK);
		ev.events = EPOLLIN;
		ev.data.ptr = &cs[i];
		epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
		cs[i].t_sent = now_s();
		if (send_pending(&cs[i]) < 0)
			return 1;
	}
	t0 = now_s();
	tmeasure = t0 + warmup;
	tend = tmeasure + duration;
	while (live > 0) {
		double now = now_s();
		int n, k;

		if (now >= tend)
			break;
		n = wait_events(ep, evs, 64, spin);
		for (k = 0; k < n; k++) {
			struct conn *c = evs[k].data.ptr;
			int rec = now_s() >= tmeasure;

			if (c->fd < 0)
				continue;
			if (on_readable(c, t, &st, rec) < 0) {
				if (c->phase != PH_CALL)
					fprintf(stderr,
						"mcp_load: session setup failed "
						"(%.200s)\n",
						c->buf ? c->buf : "");
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				close(c->fd);
				c->fd = -1;
				failed++;
				live--;
			}
		}
	}
	for (i = 0; i < nconns; i++) {
		if (cs[i].fd >= 0)
			close(cs[i].fd);
		if (cs[i].sid[0])
			end_session(t, cs[i].sid);
		free(cs[i].buf);
	}
	close(ep);
	free(cs);
	qsort(st.lat, st.n, sizeof *st.lat, cmp_double);
	printf("conns=%d spin_us=%.0f requests=%zu total=%llu errors=%llu "
	       "failed_conns=%d seconds=%.2f rps=%.1f p50_us=%.1f "
	       "p99_us=%.1f\n",
	       nconns, spin * 1e6, st.n, st.total, st.errors, failed, duration,
	       (double)st.n / duration, percentile(&st, 0.50),
	       percentile(&st, 0.99));
	free(st.lat);
	return failed || st.n == 0 ? 1 : 0;
}

/* ---- start-up probe and free port -------------------------------------- */

static double realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* One blocking initialize (2026-07-28: a tools/call); returns 0 if it
 * got a 200 with a session id (a good result). */
static int try_init(const struct target *t)
{
	struct conn c;
	int status = 0, rc = -1;
	char *body;
	size_t blen;

	memset(&c, 0, sizeof c);
	c.phase = t->rev2026 ? PH_CALL : PH_INIT;
	c.fd = dial(t);
	if (c.fd < 0)
		return -1;
	c.cap = 65536;
	c.buf = malloc(c.cap);
	if (!c.buf || next_request(&c, t) < 0 || send_pending(&c) < 0)
		goto out;
	for (;;) {
		ssize_t n = recv(c.fd, c.buf + c.len, c.cap - c.len - 1, 0);
		int r;

		if (n <= 0)
			goto out;
		c.len += (size_t)n;
		c.buf[c.len] = '\0';
		r = response_complete(&c, &status, &body, &blen);
		if (r < 0)
			goto out;
		if (r == 1)
			break;
	}
	rc = on_response(&c, status, body, blen, NULL, 0);
out:
	close(c.fd);
	free(c.buf);
	return rc;
}

static int wait_init(const struct target *t, double since_ns, double timeout)
{
	double t0 = now_s();

	while (now_s() - t0 < timeout) {
		if (try_init(t) == 0) {
			printf("startup_ms=%.1f\n",
			       (realtime_ns() - since_ns) / 1e6);
			return 0;
		}
		usleep(1000);
	}
	fprintf(stderr, "mcp_load: no successful initialize in %.0f s\n",
		timeout);
	return 1;
}

static int free_port(void)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) < 0)
		return 1;
	printf("%d\n", ntohs(sa.sin_port));
	close(fd);
	return 0;
}

static void usage(void)
{
	fputs("usage: mcp_load --url http://127.0.0.1:PORT/mcp [-c CONNS] "
	      "[-d SECONDS] [-w WARMUP] [--tool NAME] [--rev 2026-07-28] "
	      "[--spin US]\n"
	      "       mcp_load --wait-init URL --since EPOCH_NS [--timeout S] "
	      "[--rev 2026-07-28]\n"
	      "       mcp_load --free-port\n",
	      stderr);
}

int main(int argc, char **argv)
{
	struct target t;
	const char *url = NULL;
	long conns = 1, dur = 5, warm = 1, timeout = 20, spin = 0;
	double since = 0;
	int i, waitmode = 0;

	memset(&t, 0, sizeof t);
	snprintf(t.tool, sizeof t.tool, "%s", "test_simple_text");
	for (i = 1; i < argc; i += 2) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--free-port") == 0)
			return free_port();
		if (!v)
			goto bad;
		if (strcmp(a, "--url") == 0)
			url = v;
		else if (strcmp(a, "--wait-init") == 0) {
			url = v;
			waitmode = 1;
		} else if (strcmp(a, "--since") == 0) {
			char *end = NULL;

			errno = 0;
			since = strtod(v, &end);
			if (errno || !end || *end)
				goto bad;
		} else if (strcmp(a, "-c") == 0) {
			if (parse_long(v, 1, MAX_CONNS, &conns) < 0)
				goto bad;
		} else if (strcmp(a, "-d") == 0) {
			if (parse_long(v, 1, 3600, &dur) < 0)
				goto bad;
		} else if (strcmp(a, "-w") == 0) {
			if (parse_long(v, 0, 600, &warm) < 0)
				goto bad;
		} else if (strcmp(a, "--spin") == 0) {
			if (parse_long(v, 0, 1000000, &spin) < 0)
				goto bad;
		} else if (strcmp(a, "--timeout") == 0) {
			if (parse_long(v, 1, 600, &timeout) < 0)
				goto bad;
		} else if (strcmp(a, "--rev") == 0) {
			if (strcmp(v, "2026-07-28") == 0)
				t.rev2026 = 1;
			else if (strcmp(v, "2025-11-25") != 0)
				goto bad;
		} else if (strcmp(a, "--tool") == 0) {
			if (strlen(v) >= sizeof t.tool || strpbrk(v, "\"\\"))
				goto bad;
			snprintf(t.tool, sizeof t.tool, "%s", v);
		} else
			goto bad;
	}
	if (!url || parse_url(url, &t) < 0)
		goto bad;
	if (waitmode)
		return wait_init(&t, since, (double)timeout);
	return run_load(&t, (int)conns, (double)warm, (double)dur,
			(double)spin / 1e6);
bad:
	usage();
	return 2;
}
