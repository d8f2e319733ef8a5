/* zonegate-relay --gateway: for a zone that is a Kubernetes pod, where no
 * channel reaches the gateway. Stdio MCP (newline-delimited JSON-RPC, as
 * the relay's stdio mode) carried to the gateway's HTTPS listener by the
 * shared Streamable HTTP client (mcp/client_http.c), with the pod's
 * projected service-account token as bearer, reread whenever the kubelet
 * rotates the file. A session the gateway lost (a restart: 404) is
 * opened again with the client's own initialize, and its open requests
 * get an error to retry. */
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
#define OPEN_IDS_MAX 4096      /* requests tracked for a lost session */
#define REOPEN_MIN_MS 1000     /* a session lost sooner again: give up */
#define REINIT_ID "zonegate-relay-reinit"

struct rgw {
	const struct relay_gw_opts *o;
	struct mcp_hc *hc;
	uint32_t sid;
	struct relay_client *out; /* stdout (its input side unused) */
	char *in;		  /* stdin's partial line */
	size_t inlen, incap;
	int skipping; /* dropping the rest of an oversized line */
	int in_eof;
	json_t *open_ids; /* the client's requests not yet answered */
	char *init;	  /* the client's initialize, to open a lost one */
	size_t init_len;
	int initialized; /* the client sent notifications/initialized */
	int lost;	 /* the gateway lost the session (404) */
	long reopened_at;
	int reinit_out;	    /* our initialize's answer is due (swallowed) */
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
	buf[n] = '\0'; /* n <= TOKEN_MAX + 1 */
	len = strcspn(buf, "\r\n");
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
	if (root && json_object_get(root, "id") &&
	    !json_object_get(root, "method")) {
		json_t *id = json_object_get(root, "id");
		size_t i;
		json_t *v;
		/* the answer to our own initialize of a reopened session */
		if (g->reinit_out && json_is_string(id) &&
		    strcmp(json_string_value(id), REINIT_ID) == 0) {
			g->reinit_out = 0;
			if (json_object_get(root, "error")) {
				snprintf(g->why, sizeof(g->why),
					 "the gateway refused the new session");
				g->failed = 1;
			}
			goto out;
		}
		/* a response ends one of the client's requests */
		json_array_foreach (g->open_ids, i, v)
			if (json_equal(v, id)) {
				json_array_remove(g->open_ids, i);
				break;
			}
	}
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
	g->lost = 1; /* the loop opens a new one, or gives up */
}

static void on_log(void *ud, const char *msg)
{
	(void)ud;
	fprintf(stderr, "zonegate-relay: %s\n", msg);
}

/* ---- the client's lines ----------------------------------------------------- */

/* What a lost session needs again: the client's initialize (kept once),
 * that it said initialized, and the ids of its requests in flight. */
static void remember(struct rgw *g, json_t *root, const char *line, size_t len)
{
	const char *m = json_string_value(json_object_get(root, "method"));
	json_t *id = json_object_get(root, "id");

	if (m && id && strcmp(m, "initialize") == 0 && !g->init) {
		g->init = malloc(len);
		if (g->init) {
			memcpy(g->init, line, len);
			g->init_len = len;
		}
	}
	if (m && !id && strcmp(m, "notifications/initialized") == 0)
		g->initialized = 1;
	if (m && id && json_array_size(g->open_ids) < OPEN_IDS_MAX)
		json_array_append(g->open_ids, id);
}

/* The gateway lost the session (404: it restarted): the client's
 * requests in flight get an error to retry, and a new session is opened
 * with the client's initialize (our id; its answer is not passed on) and
 * notifications/initialized. Not when it was lost just before, or before
 * the client initialized. Returns 0, or -1 (give up). */
static int reopen(struct rgw *g)
{
	long now = mono_ms();
	json_t *init = g->init ? json_loadb(g->init, g->init_len, 0, NULL)
			       : NULL;
	char *txt = NULL;
	size_t i;
	json_t *id;
	int rc = -1;

	g->lost = 0;
	if (!init || (g->reopened_at && now - g->reopened_at < REOPEN_MIN_MS))
		goto out;
	json_array_foreach (g->open_ids, i, id) {
		json_t *e = json_pack("{s:s,s:O,s:{s:i,s:s}}", "jsonrpc", "2.0",
				      "id", id, "error", "code", -32000,
				      "message",
				      "the gateway lost the session (it "
				      "restarted?): a new one is open, retry");
		char *t = e ? json_dumps(e, JSON_COMPACT) : NULL;
		if (t)
			relay_client_queue(g->out, (uint8_t *)t, strlen(t));
		free(t);
		json_decref(e);
	}
	json_array_clear(g->open_ids);
	mcp_hc_close(g->hc, g->sid);
	g->sid = mcp_hc_open(g->hc);
	json_object_set_new(init, "id", json_string(REINIT_ID));
	txt = json_dumps(init, JSON_COMPACT);
	if (!g->sid || !txt || mcp_hc_send(g->hc, g->sid, txt, strlen(txt)))
		goto out;
	g->reinit_out = 1;
	if (g->initialized) {
		static const char note[] = "{\"jsonrpc\":\"2.0\",\"method\":"
					   "\"notifications/initialized\"}";
		if (mcp_hc_send(g->hc, g->sid, note, sizeof(note) - 1))
			goto out;
	}
	g->reopened_at = now;
	fprintf(stderr, "zonegate-relay: %s; a new session is open\n", g->why);
	rc = 0;
out:
	if (rc)
		g->failed = 1;
	free(txt);
	json_decref(init);
	return rc;
}

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
	} else {
		remember(g, root, line, len);
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
	struct mcp_hc_ops ops = { .message = on_message,
				  .closed = on_closed,
				  .log = on_log };
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
	g.open_ids = json_array();
	if (!g.out || !g.open_ids || token_refresh(&g, 1) != 0)
		goto out;
	g.sid = mcp_hc_open(g.hc);
	if (!g.sid)
		goto out;
	while (!*stop && !g.failed) {
		long now = mono_ms();
		if (g.lost && reopen(&g) != 0)
			break;
		if (now >= next_tok) {
			token_refresh(&g, 0);
			next_tok = now + TOKEN_CHECK_MS;
		}
		/* stdin ended: answers still due are waited for (a while) */
		if (g.in_eof && !end_by)
			end_by = now + END_GRACE_MS;
		if (g.in_eof &&
		    (json_array_size(g.open_ids) == 0 || now >= end_by) &&
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
	json_decref(g.open_ids);
	free(g.init);
	free(g.in);
	return rc;
}
