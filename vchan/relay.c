/* zonegate-relay: runs inside an agent zone and turns a channel into an
 * ordinary MCP server command. Its stdin/stdout carry newline-delimited
 * JSON-RPC (the MCP stdio transport) over one stream of the channel; with
 * --http it also serves Streamable HTTP on a loopback port, one stream per
 * HTTP session. As a daemon (--daemon) it holds the zone's channel and
 * serves every MCP client of the zone on a unix socket, each on its own
 * stream; `zonegate-relay` then reaches it there (--via). Without a
 * gateway it can talk to mcpd --chan directly. */
#define _GNU_SOURCE /* ppoll */
#include "relay.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zonegate/chan.h>
#include <zonegate/chan_mux.h>

#include "zg_common.h"
#include "zg_version.h"

#define OUT_MAX (64u << 20)		 /* stdout backlog before giving up */
#define CLIENTS_DEFAULT 32		 /* daemon: clients at once */
#define CLIENTS_LIMIT 128		 /* (HTTP sessions share the streams) */
#define CLIENT_QUEUE_DEFAULT (16u << 20) /* bytes waiting for one client */
#define RETRY_MIN_MS 100 /* daemon: channel reconnect back-off */
#define RETRY_MAX_MS 2000

struct opts {
	const char *chan;
	const char *http;
	int stdio, daemon;
	const char *socket; /* the daemon's socket */
	const char *via;    /* stdio through the daemon at this socket */
	int connect_timeout_ms;
	size_t max_message;
	const char *ready_file;
	long keepalive_s;
	long max_clients;
	long client_queue;
	const char *gateway, *token_file, *ca_file; /* --gateway mode */
};

struct relay {
	const struct opts *o;
	chan_mux *m; /* NULL while the daemon's channel is down */
	struct relay_http *http;
	struct relay_client *clients; /* stdio's one, or the daemon's */
	unsigned nclients;
	int stdio;     /* the one client is stdin/stdout */
	int lfd;       /* the daemon's socket, -1 if none */
	long retry_at; /* daemon: next channel attempt (monotonic ms) */
	int retry_ms, said_down;
	struct pollfd *pfd;
	size_t npfd;
	int done, rc;
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

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: zonegate-relay [--chan ADDR] [OPTIONS]\n"
		"       zonegate-relay --gateway URL --token-file FILE "
		"[--ca-file FILE]\n"
		"Turn a zonegate channel into an MCP server: stdio (one "
		"stream) and/or\n"
		"Streamable HTTP on loopback (one stream per session, or per "
		"stateless\n"
		"2026-07-28 request); as a daemon, serve every MCP client of "
		"the zone on\n"
		"a unix socket, each on its own stream. Messages pass as they "
		"are: both\n"
		"MCP revisions go through.\n"
		"\n"
		"  --chan ADDR             channel to the gateway or mcpd "
		"(sim:DOMID:PATH,\n"
		"                          xen:DOMID:PATH; default: "
		"$ZONEGATE_CHAN)\n"
		"  --http HOST:PORT        serve Streamable HTTP at "
		"http://HOST:PORT/mcp\n"
		"                          (loopback hosts only; PORT 0: any; "
		"turns stdio\n"
		"                          off unless --stdio is also given)\n"
		"  --stdio                 serve stdio (the default): through "
		"the daemon when\n"
		"                          its socket answers, else on the "
		"channel itself\n"
		"  --daemon                hold the channel and serve clients "
		"on --socket\n"
		"                          (in the foreground; reconnects "
		"when the channel\n"
		"                          goes; with --http, HTTP too)\n"
		"  --socket PATH           the daemon's socket (default: "
		"$ZONEGATE_RELAY_SOCKET,\n"
		"                          else /tmp/zonegate-relay-UID.sock)\n"
		"  --via PATH              stdio through the daemon at PATH "
		"only\n"
		"  --max-clients N         daemon: clients at once (default "
		"32, at most 128)\n"
		"  --client-queue BYTES    daemon: bytes waiting for a client "
		"that does not\n"
		"                          read before it is cut off (default "
		"16777216)\n"
		"  --ready-file FILE       write the HTTP URL to FILE once "
		"listening\n"
		"  --connect-timeout MS    wait this long for the channel "
		"(default 10000)\n"
		"  --max-message BYTES     largest message (default 4194304)\n"
		"  --keepalive SECONDS     an SSE comment on an HTTP stream "
		"silent this\n"
		"                          long (default 15)\n"
		"\n"
		"A zone that is a Kubernetes pod (no channel): stdio to the "
		"gateway's HTTPS\n"
		"listener, the pod's projected service-account token as "
		"bearer:\n"
		"  --gateway URL           the gateway's "
		"https://HOST:PORT/mcp\n"
		"  --token-file FILE       the token (reread when the kubelet "
		"rotates it)\n"
		"  --ca-file FILE          PEM CA bundle that verifies the "
		"gateway\n"
		"                          (default: the system's)\n"
		"  -h, --help              show this help\n"
		"  -V, --version           show the version\n");
}

static int parse_num(const char *opt, const char *s, long min, long max,
		     long *out)
{
	long long v;

	if (zg_parse_int(s, min, max, &v) == 0) {
		*out = (long)v;
		return 0;
	}
	fprintf(stderr, "zonegate-relay: %s: expected %ld..%ld, got '%s'\n",
		opt, min, max, s);
	return -1;
}

enum {
	O_CHAN = 256,
	O_HTTP,
	O_STDIO,
	O_TIMEOUT,
	O_MAXMSG,
	O_READY,
	O_KEEP,
	O_DAEMON,
	O_SOCKET,
	O_VIA,
	O_MAXCLI,
	O_CLIQ,
	O_GATEWAY,
	O_TOKFILE,
	O_CAFILE
};

/* The options that take a number; 0 if opt is not one (or bad). */
static int parse_numeric(int opt, struct opts *o)
{
	long v;

	switch (opt) {
	case O_KEEP:
		return parse_num("--keepalive", optarg, 1, 3600,
				 &o->keepalive_s);
	case O_TIMEOUT:
		if (parse_num("--connect-timeout", optarg, 0, 3600000, &v))
			return -1;
		o->connect_timeout_ms = (int)v;
		return 0;
	case O_MAXMSG:
		if (parse_num("--max-message", optarg, 1024,
			      CHAN_FRAME_MAX_LIMIT, &v))
			return -1;
		o->max_message = (size_t)v;
		return 0;
	case O_MAXCLI:
		return parse_num("--max-clients", optarg, 1, CLIENTS_LIMIT,
				 &o->max_clients);
	default: /* O_CLIQ */
		return parse_num("--client-queue", optarg, 4096, 1L << 30,
				 &o->client_queue);
	}
}

/* Modes that do not go together, and the channel from the environment. */
static int check_modes(struct opts *o)
{
	if (o->gateway || o->token_file || o->ca_file) {
		if (!o->gateway || !o->token_file || o->chan || o->http ||
		    o->daemon || o->via || o->socket) {
			fprintf(stderr,
				"zonegate-relay: --gateway URL needs "
				"--token-file FILE and is stdio only (no "
				"--chan, --http, --daemon, --via, --socket)\n");
			return -1;
		}
		o->stdio = 1;
		return 0;
	}
	if (!o->chan)
		o->chan = getenv("ZONEGATE_CHAN");
	if (o->daemon && (o->stdio || o->via)) {
		fprintf(stderr, "zonegate-relay: --daemon serves its socket, "
				"not stdio (no --stdio or --via)\n");
		return -1;
	}
	if (o->via && o->http) {
		fprintf(stderr, "zonegate-relay: --via is stdio only\n");
		return -1;
	}
	if (o->daemon && (size_t)o->client_queue <= o->max_message) {
		fprintf(stderr,
			"zonegate-relay: --client-queue must exceed "
			"--max-message (%zu)\n",
			o->max_message);
		return -1;
	}
	if (!o->http && !o->daemon)
		o->stdio = 1;
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "chan", required_argument, NULL, O_CHAN },
		{ "http", required_argument, NULL, O_HTTP },
		{ "stdio", no_argument, NULL, O_STDIO },
		{ "daemon", no_argument, NULL, O_DAEMON },
		{ "socket", required_argument, NULL, O_SOCKET },
		{ "via", required_argument, NULL, O_VIA },
		{ "max-clients", required_argument, NULL, O_MAXCLI },
		{ "client-queue", required_argument, NULL, O_CLIQ },
		{ "connect-timeout", required_argument, NULL, O_TIMEOUT },
		{ "max-message", required_argument, NULL, O_MAXMSG },
		{ "ready-file", required_argument, NULL, O_READY },
		{ "keepalive", required_argument, NULL, O_KEEP },
		{ "gateway", required_argument, NULL, O_GATEWAY },
		{ "token-file", required_argument, NULL, O_TOKFILE },
		{ "ca-file", required_argument, NULL, O_CAFILE },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
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
		case O_DAEMON:
			o->daemon = 1;
			break;
		case O_SOCKET:
			o->socket = optarg;
			break;
		case O_VIA:
			o->via = optarg;
			break;
		case O_READY:
			o->ready_file = optarg;
			break;
		case O_GATEWAY:
			o->gateway = optarg;
			break;
		case O_TOKFILE:
			o->token_file = optarg;
			break;
		case O_CAFILE:
			o->ca_file = optarg;
			break;
		case O_KEEP:
		case O_TIMEOUT:
		case O_MAXMSG:
		case O_MAXCLI:
		case O_CLIQ:
			if (parse_numeric(c, o))
				return -1;
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
	if (optind < argc) {
		usage(stderr);
		return -1;
	}
	return check_modes(o);
}

/* ---- clients ------------------------------------------------------------ */

static struct relay_client *by_sid(struct relay *r, uint32_t sid)
{
	for (struct relay_client *c = r->clients; c; c = c->next)
		if (c->sid == sid)
			return c;
	return NULL;
}

/* Gives c a stream of the channel (when it is there); a client refused a
 * stream is told so and ends. */
static void give_stream(struct relay *r, struct relay_client *c)
{
	if (!r->m || c->sid || c->had_stream || c->ending)
		return;
	c->sid = chan_mux_open_stream(r->m);
	c->had_stream = 1;
	if (!c->sid) {
		relay_client_error(c, -32000,
				   "zonegate-relay: no channel stream "
				   "available (too many sessions)");
		c->ending = 1;
	}
}

/* Takes c out of the list and frees it; a stream still open is reset
 * (the client went away or was cut off: its session at the gateway
 * ends, the others go on). */
static void drop_client(struct relay *r, struct relay_client *c)
{
	struct relay_client **pp = &r->clients;

	while (*pp && *pp != c)
		pp = &(*pp)->next;
	if (*pp)
		*pp = c->next;
	if (c->sid && r->m)
		chan_mux_reset_stream(r->m, c->sid, CHAN_E_REFUSED,
				      "client gone");
	if (r->stdio) {
		r->done = !r->http || r->done;
		r->stdio = 0;
	} else {
		close(c->in_fd);
	}
	r->nclients--;
	relay_client_free(c);
}

/* A daemon client: the connection fd, or a refusal at the cap. */
static void add_client(struct relay *r, int fd)
{
	static const char full[] =
		"{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":"
		"-32000,\"message\":\"zonegate-relay: too many clients\"}}\n";
	struct relay_client *c = NULL;

	if (r->nclients < (unsigned)r->o->max_clients)
		c = relay_client_new(fd, fd, r->o->max_message,
				     (size_t)r->o->client_queue);
	if (!c) {
		fprintf(stderr,
			"zonegate-relay: a client refused: %u connected "
			"(--max-clients %ld)\n",
			r->nclients, r->o->max_clients);
		if (write(fd, full, sizeof(full) - 1) < 0)
			fprintf(stderr, "zonegate-relay: %s\n",
				strerror(errno));
		close(fd);
		return;
	}
	c->next = r->clients;
	r->clients = c;
	r->nclients++;
	give_stream(r, c);
}

static void accept_clients(struct relay *r)
{
	char err[256];
	int fd;

	while ((fd = relay_accept(r->lfd, err, sizeof(err))) != -1) {
		if (fd == -2)
			fprintf(stderr, "zonegate-relay: %s\n", err);
		else
			add_client(r, fd);
	}
}

/* Reads, sends and flushes each client after a poll; drops the ones
 * that ended. */
static void serve_clients(struct relay *r)
{
	struct relay_client *c, *next;

	for (c = r->clients; c; c = next) {
		next = c->next;
		if (c->sid && r->m) {
			if (c->pin >= 0 &&
			    (r->pfd[c->pin].revents &
			     (POLLIN | POLLHUP | POLLERR)) &&
			    relay_client_wants_input(c, r->m))
				relay_client_read(c, r->m);
			else
				relay_client_send(c, r->m);
			if (c->close_pending && c->sid && !c->inlen) {
				chan_mux_close_stream(r->m, c->sid);
				c->close_pending = 0;
			}
		}
	}
}

static void flush_clients(struct relay *r)
{
	struct relay_client *c, *next;
	int rc;

	for (c = r->clients; c; c = next) {
		next = c->next;
		rc = relay_client_flush(c);
		if (rc < 0 || (rc == 0 && c->ending))
			drop_client(r, c);
	}
}

/* ---- mux callbacks --------------------------------------------------- */

static void cb_up(void *ud, chan_mux *m)
{
	struct relay *r = ud;

	(void)m;
	if (r->lfd >= 0)
		fprintf(stderr, "zonegate-relay: channel %s up\n", r->o->chan);
	r->retry_ms = RETRY_MIN_MS;
	r->said_down = 0;
}

static void cb_data(void *ud, chan_mux *m, uint32_t sid, const uint8_t *p,
		    size_t n)
{
	struct relay *r = ud;
	struct relay_client *c = by_sid(r, sid);

	if (!c) {
		if (r->http)
			relay_http_on_data(r->http, sid, p, n);
		return;
	}
	if (relay_client_queue(c, p, n) == 0)
		return;
	/* it does not read: cut off, before it makes us grow */
	fprintf(stderr,
		"zonegate-relay: a client does not read (%zu bytes "
		"waiting): cut off\n",
		c->outlen - c->outoff);
	chan_mux_reset_stream(m, sid, CHAN_E_OVERFLOW, "client not reading");
	c->sid = 0;
	c->outoff = c->outlen = 0;
	c->ending = 1;
	if (r->stdio)
		r->rc = 1;
}

static void cb_close(void *ud, chan_mux *m, uint32_t sid, int reset)
{
	struct relay *r = ud;
	struct relay_client *c = by_sid(r, sid);

	(void)m;
	if (!c) {
		if (r->http)
			relay_http_on_close(r->http, sid);
		return;
	}
	if (reset)
		fprintf(stderr, "zonegate-relay: stream reset by the peer\n");
	if (r->stdio)
		r->rc = reset;
	/* what is queued still goes out, then it ends */
	c->sid = 0;
	c->ending = 1;
}

static void cb_down(void *ud, chan_mux *m, const char *why)
{
	struct relay *r = ud;

	(void)m;
	fprintf(stderr, "zonegate-relay: channel down: %s\n", why);
	if (r->http)
		relay_http_down(r->http);
	/* Each stream had its on_close (reset) before this, so the clients
	 * of this channel are ending; clients still waiting for a stream
	 * wait for the next channel. */
	if (r->lfd < 0) {
		r->done = 1;
		r->rc = 1;
	}
}

static const struct chan_mux_ops mux_ops = { cb_up, NULL, cb_data, cb_close,
					     cb_down };

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

/* Opens the channel and its mux, waiting up to timeout_ms. Returns 0,
 * or -1 with the reason in err. */
static int open_mux(struct relay *r, int timeout_ms, char *err, size_t len)
{
	struct chan_opts co = { 0, timeout_ms };
	struct chan_mux_opts mo = { .max_frame = r->o->max_message };
	chan *c = chan_open(r->o->chan, CHAN_CLIENT, &co, err, len);

	if (c)
		r->m = chan_mux_new(c, &mo, &mux_ops, r, err, len);
	return r->m ? 0 : -1;
}

static int open_channel(struct relay *r)
{
	char err[256], where[4200];

	sim_where(r->o, where, sizeof(where));
	if (open_mux(r, r->o->connect_timeout_ms, err, sizeof(err)) < 0) {
		fprintf(stderr, "zonegate-relay: %s%s%s%s\n", err,
			where[0] ? " (looked for " : "", where,
			where[0] ? "; set ZONEGATE_SIM_DIR to the gateway's)"
				 : "");
		return -1;
	}
	return 0;
}

/* Daemon: one attempt to get the channel back (no wait), then back off. */
static void retry_channel(struct relay *r)
{
	char err[256];

	if (r->m || now_ms() < r->retry_at)
		return;
	if (open_mux(r, 0, err, sizeof(err)) == 0) {
		for (struct relay_client *c = r->clients; c; c = c->next)
			give_stream(r, c);
		return;
	}
	if (!r->said_down++)
		fprintf(stderr, "zonegate-relay: channel %s: %s; retrying\n",
			r->o->chan, err);
	r->retry_at = now_ms() + r->retry_ms;
	r->retry_ms = r->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS
						     : r->retry_ms * 2;
}

/* ---- main loop --------------------------------------------------------- */

/* Adds fd for events to the poll set; returns its index. */
static int watch(struct relay *r, int fd, short events)
{
	r->pfd[r->npfd].fd = fd;
	r->pfd[r->npfd].events = events;
	r->pfd[r->npfd].revents = 0;
	return (int)r->npfd++;
}

static void watch_clients(struct relay *r)
{
	for (struct relay_client *c = r->clients; c; c = c->next) {
		short in = relay_client_wants_input(c, r->m) ? POLLIN : 0;
		short out = c->outoff < c->outlen ? POLLOUT : 0;
		c->pin = -1;
		if (c->in_fd == c->out_fd && (in | out)) {
			int i = watch(r, c->in_fd, in | out);
			c->pin = in ? i : -1;
		} else {
			if (in)
				c->pin = watch(r, c->in_fd, in);
			if (out)
				watch(r, c->out_fd, out);
		}
	}
}

/* The poll timeout: the mux's clock, or the daemon's next attempt. */
static int wait_ms(struct relay *r)
{
	long left;

	if (r->m)
		return chan_mux_timeout_ms(r->m);
	left = r->retry_at - now_ms();
	return left < 0 ? 0 : (int)(left > 60000 ? 60000 : left);
}

static void loop(struct relay *r)
{
	int ms, lix;

	while (!r->done && !stop_sig) {
		r->npfd = 0;
		lix = r->lfd >= 0 ? watch(r, r->lfd, POLLIN) : -1;
		if (r->m)
			watch(r, chan_mux_fd(r->m), chan_mux_events(r->m));
		if (r->http)
			watch(r, relay_http_fd(r->http), POLLIN);
		watch_clients(r);
		ms = wait_ms(r);
		struct timespec ts = { ms / 1000,
				       (long)(ms % 1000) * 1000000L };
		if (ppoll(r->pfd, (nfds_t)r->npfd, ms < 0 ? NULL : &ts,
			  &wait_mask) < 0 &&
		    errno != EINTR)
			break;
		if (lix >= 0 && r->pfd[lix].revents)
			accept_clients(r);
		serve_clients(r);
		if (r->http)
			relay_http_pump(r->http, r->m);
		if (r->m && chan_mux_process(r->m) < 0) {
			chan_mux_free(r->m);
			r->m = NULL;
			r->retry_at = now_ms() + r->retry_ms;
		}
		flush_clients(r);
		if (r->lfd >= 0)
			retry_channel(r);
	}
	flush_clients(r);
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

/* stdio through a daemon: --via PATH, or the default socket when a
 * daemon answers there. Returns the exit status, or -1 to open the
 * channel here instead (nothing answers at the default path). */
static int try_via(const struct opts *o)
{
	char path[4096], err[4400];
	int fd;

	if (o->via)
		snprintf(path, sizeof(path), "%s", o->via);
	else if (o->http || relay_default_socket(path, sizeof(path)) < 0)
		return -1;
	fd = relay_connect(path, err, sizeof(err));
	if (fd >= 0) {
		int rc = relay_via(fd);
		close(fd);
		if (rc)
			fprintf(stderr,
				"zonegate-relay: the daemon at %s "
				"ended the connection\n",
				path);
		return rc;
	}
	if (o->via) {
		fprintf(stderr, "zonegate-relay: --via: %s\n", err);
		return 1;
	}
	if (fd == -1) /* there, but not a daemon we may trust */
		fprintf(stderr, "zonegate-relay: %s; opening the channel\n",
			err);
	return -1;
}

/* The daemon's socket and its poll set. */
static int start_daemon(struct relay *r, const struct opts *o)
{
	char err[4400];

	r->lfd = relay_listen(o->socket, err, sizeof(err));
	if (r->lfd < 0) {
		fprintf(stderr, "zonegate-relay: --socket: %s\n", err);
		return -1;
	}
	fprintf(stderr,
		"zonegate-relay: serving %s (at most %ld clients) for "
		"channel %s\n",
		o->socket, o->max_clients, o->chan);
	r->retry_ms = RETRY_MIN_MS;
	return 0;
}

/* Signals, and least privilege: nothing this process runs can gain
 * privileges (setuid binaries, file capabilities). */
static void set_up_process(void)
{
	sigset_t stop;

	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		fprintf(stderr, "zonegate-relay: PR_SET_NO_NEW_PRIVS: %s\n",
			strerror(errno));
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	/* before any thread starts, so every thread inherits it */
	pthread_sigmask(SIG_BLOCK, &stop, &wait_mask);
}

/* The channel (the daemon gets it in its loop), HTTP and stdio. */
static int start(struct relay *r, const struct opts *o)
{
	r->npfd = 0;
	r->pfd = calloc(2 * (size_t)o->max_clients + 8, sizeof(*r->pfd));
	if (!r->pfd)
		return -1;
	if (o->daemon ? start_daemon(r, o) : open_channel(r))
		return -1;
	if (o->http && start_http(r, o) < 0)
		return -1;
	if (o->stdio) {
		r->clients = relay_client_new(STDIN_FILENO, STDOUT_FILENO,
					      o->max_message, OUT_MAX);
		if (!r->clients)
			return -1;
		r->clients->eof_line_counts = 1;
		r->stdio = 1;
		r->nclients = 1;
		give_stream(r, r->clients);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = { .connect_timeout_ms = 10000,
			  .max_message = CHAN_FRAME_MAX_DEFAULT,
			  .keepalive_s = 15,
			  .max_clients = CLIENTS_DEFAULT,
			  .client_queue = CLIENT_QUEUE_DEFAULT };
	struct relay r = { .o = &o, .lfd = -1 };
	char sock[4096];
	int rc = 1;

	switch (parse_args(argc, argv, &o)) {
	case 1:
		return 0;
	case -1:
		return 2;
	}
	set_up_process();
	if (o.gateway) {
		struct relay_gw_opts go = { o.gateway, o.token_file, o.ca_file,
					    o.max_message };
		return relay_gateway_run(&go, &wait_mask, &stop_sig);
	}
	if (o.stdio && !o.daemon && (rc = try_via(&o)) >= 0)
		return rc;
	rc = 1;
	if (!o.chan) {
		fprintf(stderr, "zonegate-relay: no channel: give --chan ADDR "
				"or set ZONEGATE_CHAN\n");
		return 2;
	}
	if (o.daemon && !o.socket) {
		if (relay_default_socket(sock, sizeof(sock)) < 0) {
			fprintf(stderr,
				"zonegate-relay: socket path too long\n");
			return 2;
		}
		o.socket = sock;
	}
	if (start(&r, &o) < 0)
		goto out;
	loop(&r);
	rc = o.daemon ? 0 : r.rc;
out:
	relay_unlisten(r.lfd, o.socket);
	relay_http_stop(r.http);
	while (r.clients)
		drop_client(&r, r.clients);
	chan_mux_free(r.m);
	free(r.pfd);
	return rc;
}
