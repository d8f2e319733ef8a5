/* zonegate-relay: runs inside an agent zone and turns a channel into an
 * ordinary MCP server command. Its stdin/stdout carry newline-delimited
 * JSON-RPC (the MCP stdio transport) over one stream of the channel; with
 * --http it also serves Streamable HTTP on a loopback port, one stream per
 * HTTP session. Without a gateway it can talk to mcpd --chan directly. */
#define _GNU_SOURCE /* ppoll */
#include "relay.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zonegate/chan.h>
#include <zonegate/chan_mux.h>
#include <sys/prctl.h>

#include "zg_version.h"

#define OUT_MAX (64u << 20) /* stdout backlog before giving up */

struct opts {
	const char *chan;
	const char *http;
	int stdio;
	int connect_timeout_ms;
	size_t max_message;
	const char *ready_file;
	long keepalive_s;
};

struct relay {
	chan_mux *m;
	struct relay_http *http;
	uint32_t sid; /* the stdio stream, 0 without stdio */
	int stdin_open, close_pending, skipping, done, rc;
	char *in;
	size_t inlen, incap;
	char *out;
	size_t outlen, outoff;
};

static volatile sig_atomic_t stop_sig;
/* The signal mask the main loop waits with: SIGINT and SIGTERM are
 * blocked everywhere else (the HTTP threads included), so a stop signal
 * always interrupts the loop's ppoll instead of landing on a thread that
 * ignores it while the loop sleeps forever. */
static sigset_t wait_mask;

static void on_signal(int sig)
{
	stop_sig = sig;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: zonegate-relay --chan ADDR [OPTIONS]\n"
		"Turn a zonegate channel into an MCP server: stdio (one "
		"stream) and/or\n"
		"Streamable HTTP on loopback (one stream per session).\n"
		"\n"
		"  --chan ADDR             channel to the gateway or mcpd "
		"(sim:DOMID:PATH,\n"
		"                          xen:DOMID:PATH)\n"
		"  --http HOST:PORT        serve Streamable HTTP at "
		"http://HOST:PORT/mcp\n"
		"                          (loopback hosts only; PORT 0: any; "
		"turns stdio\n"
		"                          off unless --stdio is also given)\n"
		"  --stdio                 serve stdio (the default)\n"
		"  --ready-file FILE       write the HTTP URL to FILE once "
		"listening\n"
		"  --connect-timeout MS    wait this long for the channel "
		"(default 10000)\n"
		"  --max-message BYTES     largest message (default 4194304)\n"
		"  --keepalive SECONDS     an SSE comment on an HTTP stream "
		"silent this\n"
		"                          long (default 15)\n"
		"  -h, --help              show this help\n"
		"  -V, --version           show the version\n");
}

static int parse_num(const char *opt, const char *s, long min, long max,
		     long *out)
{
	char *end;

	errno = 0;
	*out = strtol(s, &end, 10);
	if (errno || end == s || *end || *out < min || *out > max) {
		fprintf(stderr,
			"zonegate-relay: %s: expected %ld..%ld, got "
			"'%s'\n",
			opt, min, max, s);
		return -1;
	}
	return 0;
}

enum { O_CHAN = 256, O_HTTP, O_STDIO, O_TIMEOUT, O_MAXMSG, O_READY, O_KEEP };

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "chan", required_argument, NULL, O_CHAN },
		{ "http", required_argument, NULL, O_HTTP },
		{ "stdio", no_argument, NULL, O_STDIO },
		{ "connect-timeout", required_argument, NULL, O_TIMEOUT },
		{ "max-message", required_argument, NULL, O_MAXMSG },
		{ "ready-file", required_argument, NULL, O_READY },
		{ "keepalive", required_argument, NULL, O_KEEP },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	long v;
	int c;

	while ((c = getopt_long(argc, argv, "hV", lo, NULL)) != -1) {
		switch (c) {
		case O_CHAN:
			o->chan = optarg;
			break;
		case O_HTTP:
			o->http = optarg;
			break;
		case O_STDIO:
			o->stdio = 1;
			break;
		case O_READY:
			o->ready_file = optarg;
			break;
		case O_KEEP:
			if (parse_num("--keepalive", optarg, 1, 3600,
				      &o->keepalive_s))
				return -1;
			break;
		case O_TIMEOUT:
			if (parse_num("--connect-timeout", optarg, 0, 3600000,
				      &v))
				return -1;
			o->connect_timeout_ms = (int)v;
			break;
		case O_MAXMSG:
			if (parse_num("--max-message", optarg, 1024,
				      CHAN_FRAME_MAX_LIMIT, &v))
				return -1;
			o->max_message = (size_t)v;
			break;
		case 'h':
			usage(stdout);
			return 1;
		case 'V':
			printf("zonegate-relay %s\n", ZG_VERSION);
			return 1;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (!o->chan || optind < argc) {
		usage(stderr);
		return -1;
	}
	if (!o->http)
		o->stdio = 1;
	return 0;
}

/* ---- stdio side ---------------------------------------------------- */

/* Queues one message for stdout. Raw newlines can only be whitespace in
 * JSON text, so they become spaces and each message stays one line. */
static void out_line(struct relay *r, const uint8_t *p, size_t n)
{
	char *nb;

	if (r->outlen - r->outoff + n + 1 > OUT_MAX) {
		fprintf(stderr, "zonegate-relay: stdout not read; giving up\n");
		r->done = 1;
		r->rc = 1;
		return;
	}
	if (r->outoff) {
		memmove(r->out, r->out + r->outoff, r->outlen - r->outoff);
		r->outlen -= r->outoff;
		r->outoff = 0;
	}
	nb = realloc(r->out, r->outlen + n + 1);
	if (!nb) {
		r->done = 1;
		r->rc = 1;
		return;
	}
	r->out = nb;
	for (size_t i = 0; i < n; i++)
		nb[r->outlen + i] = (p[i] == '\n' || p[i] == '\r') ? ' '
								   : (char)p[i];
	nb[r->outlen + n] = '\n';
	r->outlen += n + 1;
}

static void flush_stdout(struct relay *r)
{
	ssize_t w;

	while (r->outoff < r->outlen) {
		w = write(STDOUT_FILENO, r->out + r->outoff,
			  r->outlen - r->outoff);
		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (w <= 0) {
			r->done = 1; /* the client went away */
			return;
		}
		r->outoff += (size_t)w;
	}
	r->outoff = r->outlen = 0;
}

/* A request the relay cannot forward still gets an answer: an error
 * with its id (null when the line could not be read whole). */
static void refuse(struct relay *r, const char *line, size_t len,
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
		out_line(r, (const uint8_t *)txt, strlen(txt));
	free(txt);
	json_decref(e);
	json_decref(m);
}

/* Sends each complete line; returns 0, or 1 when the stream is full
 * (the line stays buffered and stdin is not read meanwhile). */
static int send_lines(struct relay *r)
{
	char *nl;
	size_t len, used = 0;
	int rc = 0;

	while ((nl = memchr(r->in + used, '\n', r->inlen - used)) != NULL) {
		len = (size_t)(nl - (r->in + used));
		if (len && r->in[used + len - 1] == '\r')
			len--;
		rc = len ? chan_mux_send(r->m, r->sid, r->in + used, len) : 0;
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
			refuse(r, r->in + used, len, why);
		}
		rc = 0;
		used = (size_t)(nl - r->in) + 1;
	}
	memmove(r->in, r->in + used, r->inlen - used);
	r->inlen -= used;
	return rc == CHAN_MUX_EFULL;
}

static void read_stdin(struct relay *r)
{
	ssize_t n = read(STDIN_FILENO, r->in + r->inlen, r->incap - r->inlen);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) { /* EOF: a last unterminated line still counts */
		r->stdin_open = 0;
		r->close_pending = 1;
		if (r->inlen && !r->skipping && r->inlen < r->incap)
			r->in[r->inlen++] = '\n';
		send_lines(r);
		return;
	}
	r->inlen += (size_t)n;
	if (r->skipping) { /* dropping the rest of an oversized line */
		char *nl = memchr(r->in, '\n', r->inlen);
		size_t keep = nl ? r->inlen - (size_t)(nl + 1 - r->in) : 0;
		if (nl)
			memmove(r->in, nl + 1, keep);
		r->inlen = keep;
		r->skipping = !nl;
	}
	if (send_lines(r) == 0 && r->inlen == r->incap) {
		char why[96];
		fprintf(stderr,
			"zonegate-relay: message over %zu bytes "
			"dropped\n",
			r->incap - 1);
		snprintf(why, sizeof(why),
			 "message too large (over %zu "
			 "bytes)",
			 r->incap - 1);
		refuse(r, NULL, 0, why);
		r->inlen = 0;
		r->skipping = 1;
	}
}

/* ---- mux callbacks --------------------------------------------------- */

static void cb_data(void *ud, chan_mux *m, uint32_t sid, const uint8_t *p,
		    size_t n)
{
	struct relay *r = ud;

	if (sid == r->sid)
		out_line(r, p, n);
	else if (r->http)
		relay_http_on_data(r->http, sid, p, n);
}

static void cb_close(void *ud, chan_mux *m, uint32_t sid, int reset)
{
	struct relay *r = ud;

	if (sid != r->sid) {
		if (r->http)
			relay_http_on_close(r->http, sid);
		return;
	}
	if (reset)
		fprintf(stderr, "zonegate-relay: stream reset by the peer\n");
	r->rc = reset;
	r->sid = 0;
	if (!r->http)
		r->done = 1;
}

static void cb_down(void *ud, chan_mux *m, const char *why)
{
	struct relay *r = ud;

	fprintf(stderr, "zonegate-relay: channel down: %s\n", why);
	if (r->http)
		relay_http_down(r->http);
	r->done = 1;
	r->rc = 1;
}

/* ---- main loop --------------------------------------------------------- */

static void loop(struct relay *r)
{
	struct pollfd p[4];
	int n, stdio_ix = -1, out_ix = -1;

	while (!r->done && !stop_sig) {
		n = 0;
		p[n].fd = chan_mux_fd(r->m);
		p[n++].events = chan_mux_events(r->m);
		stdio_ix = out_ix = -1;
		if (r->sid && r->stdin_open &&
		    chan_mux_queued(r->m, r->sid) < (4u << 20)) {
			stdio_ix = n;
			p[n].fd = STDIN_FILENO;
			p[n++].events = POLLIN;
		}
		if (r->outoff < r->outlen) {
			out_ix = n;
			p[n].fd = STDOUT_FILENO;
			p[n++].events = POLLOUT;
		}
		if (r->http) {
			p[n].fd = relay_http_fd(r->http);
			p[n++].events = POLLIN;
		}
		int ms = chan_mux_timeout_ms(r->m);
		struct timespec ts = { ms / 1000,
				       (long)(ms % 1000) * 1000000L };
		if (ppoll(p, (nfds_t)n, ms < 0 ? NULL : &ts, &wait_mask) < 0 &&
		    errno != EINTR)
			break;
		if (stdio_ix >= 0 && p[stdio_ix].revents)
			read_stdin(r);
		else if (r->sid && r->inlen)
			send_lines(r);
		if (r->close_pending && r->sid && !r->inlen) {
			chan_mux_close_stream(r->m, r->sid);
			r->close_pending = 0;
		}
		if (r->http)
			relay_http_pump(r->http, r->m);
		if (chan_mux_process(r->m) < 0)
			r->done = 1;
		if (out_ix >= 0 || r->outlen)
			flush_stdout(r);
	}
	flush_stdout(r);
}

static int write_ready(const char *path, unsigned port, const char *host)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fprintf(f, "http://%s:%u/mcp\n", host, port);
	return fclose(f);
}

/* HOST:PORT for --http; only loopback hosts are accepted. */
static int start_http(struct relay *r, const struct opts *o)
{
	char host[64], err[256];
	const char *colon = strrchr(o->http, ':');
	long port;
	size_t hl;

	if (!colon || (hl = (size_t)(colon - o->http)) == 0 ||
	    hl >= sizeof(host) ||
	    parse_num("--http port", colon + 1, 0, 65535, &port))
		return -1;
	memcpy(host, o->http, hl);
	host[hl] = '\0';
	if (strcmp(host, "127.0.0.1") != 0 && strcmp(host, "localhost") != 0) {
		fprintf(stderr, "zonegate-relay: --http: only 127.0.0.1 or "
				"localhost\n");
		return -1;
	}
	r->http = relay_http_start("127.0.0.1", (unsigned)port, o->max_message,
				   (int)o->keepalive_s, err, sizeof(err));
	if (!r->http) {
		fprintf(stderr, "zonegate-relay: --http: %s\n", err);
		return -1;
	}
	fprintf(stderr,
		"zonegate-relay: listening on http://127.0.0.1:%u/mcp\n",
		relay_http_port(r->http));
	if (o->ready_file &&
	    write_ready(o->ready_file, relay_http_port(r->http), "127.0.0.1"))
		fprintf(stderr, "zonegate-relay: cannot write %s\n",
			o->ready_file);
	return 0;
}

/* For a sim address: the socket it needs, in where (empty otherwise), and
 * a line on stderr now if it is not there yet, naming the directory, so
 * that a wrong ZONEGATE_SIM_DIR is seen before the wait ends. */
static void sim_where(const struct opts *o, char *where, size_t len)
{
	struct chan_addr a;
	char dir[4096], err[256];
	struct stat st;
	int n;

	where[0] = '\0';
	if (chan_addr_parse(o->chan, &a, err, sizeof(err)) != 0 ||
	    strcmp(a.backend, "sim") != 0 || chan_sim_dir(dir, sizeof(dir)) < 0)
		return;
	n = snprintf(where, len, "%s/%d/%s.sock", dir, a.domid, a.path);
	if (n < 0 || (size_t)n >= len) {
		where[0] = '\0';
		return;
	}
	if (stat(where, &st) == 0 || o->connect_timeout_ms <= 0)
		return;
	fprintf(stderr,
		"zonegate-relay: waiting up to %d ms for %s: no %s yet "
		"(the sim directory is %s%s; it must be the gateway's "
		"ZONEGATE_SIM_DIR)\n",
		o->connect_timeout_ms, o->chan, where, dir,
		stat(dir, &st) == 0 ? "" : ", which does not exist");
}

static int open_channel(struct relay *r, const struct opts *o)
{
	static const struct chan_mux_ops ops = { NULL, NULL, cb_data, cb_close,
						 cb_down };
	struct chan_opts co = { 0, o->connect_timeout_ms };
	struct chan_mux_opts mo = { .max_frame = o->max_message };
	char err[256], where[4200];
	chan *c;

	sim_where(o, where, sizeof(where));
	c = chan_open(o->chan, CHAN_CLIENT, &co, err, sizeof(err));
	if (c)
		r->m = chan_mux_new(c, &mo, &ops, r, err, sizeof(err));
	if (!r->m) {
		fprintf(stderr, "zonegate-relay: %s%s%s%s\n", err,
			where[0] ? " (looked for " : "", where,
			where[0] ? "; set ZONEGATE_SIM_DIR to the gateway's)"
				 : "");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = { .connect_timeout_ms = 10000,
			  .max_message = CHAN_FRAME_MAX_DEFAULT,
			  .keepalive_s = 15 };
	struct relay r = { 0 };
	int rc = 1;

	switch (parse_args(argc, argv, &o)) {
	case 1:
		return 0;
	case -1:
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	/* Least privilege: nothing this process runs can gain privileges
	 * (setuid binaries, file capabilities). */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		fprintf(stderr, "zonegate-relay: PR_SET_NO_NEW_PRIVS: %s\n",
			strerror(errno));
	{
		sigset_t stop;
		sigemptyset(&stop);
		sigaddset(&stop, SIGINT);
		sigaddset(&stop, SIGTERM);
		/* before any thread starts, so every thread inherits it */
		pthread_sigmask(SIG_BLOCK, &stop, &wait_mask);
	}
	if (open_channel(&r, &o) < 0)
		goto out;
	if (o.http && start_http(&r, &o) < 0)
		goto out;
	if (o.stdio) {
		r.incap = o.max_message + 1;
		r.in = malloc(r.incap);
		if (!r.in)
			goto out;
		r.stdin_open = 1;
		r.sid = chan_mux_open_stream(r.m);
		fcntl(STDIN_FILENO, F_SETFL,
		      fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);
		fcntl(STDOUT_FILENO, F_SETFL,
		      fcntl(STDOUT_FILENO, F_GETFL) | O_NONBLOCK);
	}
	loop(&r);
	rc = r.rc;
out:
	relay_http_stop(r.http);
	chan_mux_free(r.m);
	free(r.in);
	free(r.out);
	return rc;
}
