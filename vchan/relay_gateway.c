/* zonegate-relay --gateway: for a zone that is a Kubernetes pod, where no
 * channel reaches the gateway. Stdio MCP (newline-delimited JSON-RPC, as
 * the relay's stdio mode) carried to the gateway's HTTPS listener by the
 * shared Streamable HTTP client (mcp/client_http.c), with the pod's
 * projected service-account token as bearer, reread whenever the kubelet
 * rotates the file. */
#define _GNU_SOURCE /* ppoll */
#include "relay.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client_http.h"

#define TOKEN_MAX 8192	       /* bytes of the token (the gateway's cap) */
#define OUT_MAX (64u << 20)    /* stdout backlog before giving up */
#define QUEUED_MAX (64u << 20) /* requests queued or in flight */
#define TRANSFERS_MAX 64       /* HTTP requests at once */
#define TOKEN_CHECK_MS 500     /* how often the token file is looked at */
#define END_GRACE_MS 2000      /* after stdin ends: answers, then DELETE */

struct rgw {
	const struct relay_gw_opts *o;
	struct mcp_hc *hc;
	uint32_t sid;
	struct relay_client *out; /* stdout (its input side unused) */
	char *in;		  /* stdin's partial line */
	size_t inlen, incap;
	int skipping; /* dropping the rest of an oversized line */
	int in_eof;
	long open_requests; /* sent, not yet answered */
	struct stat tok_st; /* the token file as last read */
	int failed;
	char why[256];
};

static long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The token: the file's first line, printable ASCII without spaces, at
 * most TOKEN_MAX bytes, into a new string (the caller wipes and frees
 * it); NULL with err. st gets the file's stat. */
static char *token_read(const char *path, struct stat *st, char *err,
			size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	char *buf = NULL;
	ssize_t n = 0;
	size_t len;

	if (fd < 0 || fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
		snprintf(err, errlen, "%s: %s", path,
			 fd < 0 ? strerror(errno) : "not a regular file");
		goto fail;
	}
	buf = malloc(TOKEN_MAX + 2);
	if (buf)
		n = read(fd, buf, TOKEN_MAX + 1);
	if (!buf || n < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	len = strcspn(buf, "\r\n") < (size_t)n ? strcspn(buf, "\r\n")
					       : (size_t)n;
	if (len == 0 || len > TOKEN_MAX) {
		snprintf(err, errlen, "%s: %s", path,
			 len ? "token longer than 8192 bytes" : "empty");
		goto fail;
	}
	for (size_t i = 0; i < len; i++)
		if (buf[i] <= 0x20 || buf[i] >= 0x7f) {
			snprintf(err, errlen,
				 "%s: the token must be printable ASCII "
				 "without spaces",
				 path);
			goto fail;
		}
	buf[len] = '\0';
	close(fd);
	return buf;
fail:
	if (buf)
		explicit_bzero(buf, TOKEN_MAX + 2);
	free(buf);
	if (fd >= 0)
		close(fd);
	return NULL;
}

static int same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	       a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* (Re)reads the token file when it changed (the kubelet replaces it) and
 * puts it on every later request. first: at start, where a bad file is
 * fatal; later a bad file leaves the old token in use. */
static int token_refresh(struct rgw *g, int first)
{
	struct stat st;
	char err[320], *tok, *line;
	size_t n;
	int rc;

	if (!first && stat(g->o->token_file, &st) == 0 &&
	    same_file(&st, &g->tok_st))
		return 0;
	tok = token_read(g->o->token_file, &st, err, sizeof(err));
	if (!tok) {
		fprintf(stderr, "zonegate-relay: token %s: %s\n",
			first ? "unusable" : "NOT reloaded (the old one stays)",
			err);
		if (!first) /* not again until it changes */
			stat(g->o->token_file, &g->tok_st);
		return -1;
	}
	n = strlen(tok) + 32;
	line = malloc(n);
	rc = -1;
	if (line) {
		snprintf(line, n, "Authorization: Bearer %s", tok);
		rc = mcp_hc_set_headers(g->hc, (const char *const *)&line, 1,
					err, sizeof(err));
		explicit_bzero(line, n);
		free(line);
	}
	explicit_bzero(tok, strlen(tok));
	free(tok);
	if (rc != 0) {
		fprintf(stderr, "zonegate-relay: token: %s\n",
			line ? err : "out of memory");
		return -1;
	}
	if (!first)
		fprintf(stderr, "zonegate-relay: new token from %s in use\n",
			g->o->token_file);
	g->tok_st = st;
	return 0;
}

/* ---- the gateway's messages ---------------------------------------------- */

static void on_message(void *ud, uint32_t sid, const char *msg, size_t len)
{
	struct rgw *g = ud;
	json_t *root = json_loadb(msg, len, 0, NULL);

	if (sid != g->sid)
		goto out;
	/* a response ends one of the client's requests */
	if (root && json_object_get(root, "id") &&
	    !json_object_get(root, "method") && g->open_requests > 0)
		g->open_requests--;
	if (relay_client_queue(g->out, (const uint8_t *)msg, len) != 0) {
		snprintf(g->why, sizeof(g->why),
			 "the MCP client does not read its output");
		g->failed = 1;
	}
out:
	json_decref(root);
}

static void on_closed(void *ud, uint32_t sid, const char *why)
{
	struct rgw *g = ud;

	if (sid != g->sid)
		return;
	snprintf(g->why, sizeof(g->why), "the gateway ended the session: %s",
		 why ? why : "?");
	g->failed = 1;
}

static void on_log(void *ud, const char *msg)
{
	(void)ud;
	fprintf(stderr, "zonegate-relay: %s\n", msg);
}

/* ---- the client's lines ----------------------------------------------------- */

/* One line from the client to the gateway. A request that cannot be sent
 * (over the caps) is answered with an error of its own id. */
static void send_line(struct rgw *g, const char *line, size_t len)
{
	json_t *root, *id;
	int is_req;

	while (len && (line[len - 1] == '\r' || line[len - 1] == ' '))
		len--;
	if (!len)
		return;
	root = json_loadb(line, len, 0, NULL);
	id = root ? json_object_get(root, "id") : NULL;
	is_req = id && json_object_get(root, "method");
	if (!root || !json_is_object(root)) {
		relay_client_error(g->out, -32700, "Parse error");
	} else if (mcp_hc_send(g->hc, g->sid, line, len) != 0) {
		if (is_req) {
			json_t *e = json_pack("{s:s,s:O,s:{s:i,s:s}}",
					      "jsonrpc", "2.0", "id", id,
					      "error", "code", -32000,
					      "message",
					      "relay: gateway queue full");
			char *t = e ? json_dumps(e, JSON_COMPACT) : NULL;
			if (t)
				relay_client_queue(g->out, (uint8_t *)t,
						   strlen(t));
			free(t);
			json_decref(e);
		}
	} else if (is_req) {
		g->open_requests++;
	}
	json_decref(root);
}

/* Reads what stdin has and sends each whole line; a line longer than the
 * message cap is answered with -32600 and skipped. */
static void read_input(struct rgw *g)
{
	size_t max = g->o->max_message;

	for (;;) {
		ssize_t n;
		char *nl;
		if (g->incap - g->inlen < 4096) {
			size_t cap = g->incap ? g->incap * 2 : 65536;
			char *b;
			if (cap > max + 4096)
				cap = max + 4096;
			b = cap > g->incap ? realloc(g->in, cap) : NULL;
			if (!b) {
				/* over the cap without a newline */
				if (!g->skipping)
					relay_client_error(g->out, -32600,
							   "message too large");
				g->skipping = 1;
				g->inlen = 0;
				continue;
			}
			g->in = b;
			g->incap = cap;
		}
		n = read(STDIN_FILENO, g->in + g->inlen, g->incap - g->inlen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0 || errno != EAGAIN) {
				if (g->inlen && !g->skipping)
					send_line(g, g->in, g->inlen);
				g->inlen = 0;
				g->in_eof = 1;
			}
			return;
		}
		g->inlen += (size_t)n;
		while ((nl = memchr(g->in, '\n', g->inlen))) {
			size_t k = (size_t)(nl - g->in);
			if (!g->skipping && k <= max)
				send_line(g, g->in, k);
			else if (!g->skipping)
				relay_client_error(g->out, -32600,
						   "message too large");
			g->skipping = 0;
			memmove(g->in, nl + 1, g->inlen - k - 1);
			g->inlen -= k + 1;
		}
	}
}

/* ---- the loop ------------------------------------------------------------- */

static int poll_once(struct rgw *g, const sigset_t *mask, int max_ms)
{
	struct pollfd p[66];
	size_t n = 0, nh;
	int ms = mcp_hc_timeout_ms(g->hc);
	struct timespec ts;

	if (!g->in_eof)
		p[n++] = (struct pollfd){ STDIN_FILENO, POLLIN, 0 };
	if (g->out->outlen > g->out->outoff)
		p[n++] = (struct pollfd){ STDOUT_FILENO, POLLOUT, 0 };
	nh = mcp_hc_pollfds(g->hc, p + n, sizeof(p) / sizeof(p[0]) - n);
	if (ms < 0 || ms > max_ms)
		ms = max_ms;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	if (ppoll(p, (nfds_t)(n + nh), &ts, mask) < 0 && errno != EINTR)
		return -1;
	if (!g->in_eof && (p[0].revents & (POLLIN | POLLHUP | POLLERR)))
		read_input(g);
	mcp_hc_process(g->hc, p + n, nh);
	if (relay_client_flush(g->out) < 0) {
		snprintf(g->why, sizeof(g->why), "stdout closed");
		g->failed = 1;
	}
	return 0;
}

int relay_gateway_run(const struct relay_gw_opts *o, const sigset_t *mask,
		      volatile sig_atomic_t *stop)
{
	struct mcp_hc_opts ho = { .url = o->url,
				  .ca_file = o->ca_file,
				  .max_message = o->max_message,
				  .max_queued = QUEUED_MAX,
				  .max_transfers = TRANSFERS_MAX,
				  .client_label = "gateway" };
	struct mcp_hc_ops ops = { on_message, on_closed, on_log };
	struct rgw g = { .o = o };
	char err[256];
	long end_by = 0, next_tok = 0;
	int rc = 1;

	g.hc = mcp_hc_new(&ho, &ops, &g, err, sizeof(err));
	if (!g.hc) {
		fprintf(stderr, "zonegate-relay: --gateway %s: %s\n", o->url,
			err);
		return 2;
	}
	g.out = relay_client_new(STDIN_FILENO, STDOUT_FILENO, o->max_message,
				 OUT_MAX);
	if (!g.out || token_refresh(&g, 1) != 0)
		goto out;
	g.sid = mcp_hc_open(g.hc);
	if (!g.sid)
		goto out;
	while (!*stop && !g.failed) {
		long now = mono_ms();
		if (now >= next_tok) {
			token_refresh(&g, 0);
			next_tok = now + TOKEN_CHECK_MS;
		}
		/* stdin ended: answers still due are waited for (a while) */
		if (g.in_eof && !end_by)
			end_by = now + END_GRACE_MS;
		if (g.in_eof && (g.open_requests == 0 || now >= end_by) &&
		    g.out->outlen == g.out->outoff)
			break;
		if (poll_once(&g, mask, TOKEN_CHECK_MS) != 0)
			break;
	}
	rc = g.failed ? 1 : 0;
	if (g.failed)
		fprintf(stderr, "zonegate-relay: %s\n", g.why);
	/* tell the gateway the session is over (bounded wait) */
	mcp_hc_close(g.hc, g.sid);
	for (long until = mono_ms() + 500; mono_ms() < until && !*stop;) {
		struct mcp_hc_stats st;
		mcp_hc_stats(g.hc, &st);
		if (!st.transfers)
			break;
		g.in_eof = 1;
		poll_once(&g, mask, 100);
	}
out:
	relay_client_free(g.out);
	mcp_hc_free(g.hc);
	free(g.in);
	return rc;
}
