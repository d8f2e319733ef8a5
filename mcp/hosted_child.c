/* The stdio transport of a hosted server: one child process with pipes,
 * newline-delimited JSON-RPC on its stdin and stdout, its stderr in
 * mcpd's log, under the MCP client core (mcp/include/client.h: request
 * table, deadlines, caps, initialize). A child that breaks the protocol
 * (oversize lines, floods, non-JSON, silence at initialize, a stdin it
 * never reads) is stopped and reported. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "client.h"
#include "hosted.h"
#include "jsonrpc.h"
#include "mcp_internal.h"
#include "utf8.h"

#define WRITE_DEADLINE_MS 10000 /* a child that never reads its stdin */
#define STDERR_LINE_MAX 1024	/* bytes of one logged stderr line */
#define STDERR_LINES_PER_SEC 200
#define READ_CHUNK 65536 /* bytes of stdout read at once */
#define POLL_EVENTS 64	 /* children handled per wake-up of the poller */

/* A request of ours waiting for its answer: what the server requests and
 * progress made in its name need (the core knows it as the request's
 * ud). An asynchronous one (hchild_request_async) also keeps its answer
 * until it can be delivered: once it is sent and no hold is left. */
struct waiting {
	void *ctx;
	int done;  /* answered: no more holds */
	int holds; /* server requests being answered in its name */
	struct waiting *next;

	struct hchild *ch;
	hchild_done_fn fn; /* NULL: a blocking request */
	void *fn_ud;
	int64_t id;  /* ours, once sent */
	int sending; /* hchild_request_async has not returned yet */
	int answered, cancel_sent;
	int (*cancelled)(void *arg);
	void *cancel_arg;
	char method[32];
	unsigned timeout_ms;
	int code; /* the answer */
	json_t *result, *error;
	char msg[256];
};

struct hchild {
	char name[HOSTED_NAME_MAX + 1];
	pid_t pid;
	int in_fd, out_fd, err_fd;
	const struct hchild_ops *ops;
	void *ud;
	mcp_client *mc;

	/* reader: the thread that reads stdout (without a poller), or the
	 * one that finishes the child once the poller saw its end */
	pthread_t reader, errlog;
	int reader_state;      /* under mu: READER_* */
	pthread_mutex_t wmu;   /* writes to stdin */
	pthread_mutex_t mu;    /* below */
	pthread_cond_t cv;     /* a hold released */
	struct waiting *calls; /* newest first */
	unsigned async;	       /* asynchronous ones among them */
	int dead;
	int started;	 /* initialized: exited() is reported from then on */
	atomic_int deaf; /* stopped for not reading its stdin */
	atomic_uint dropped; /* messages SEND_DROP could not write */
	char why[160];
};

void hosted_log(const char *name, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	mcp_utf8_vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "mcpd: [%s] %s\n", name, buf);
}

/* ---- process ---- */

/* In the forked child: async-signal-safe calls only. */
static void exec_child(const struct hosted_cfg *cfg, int in, int out, int err)
{
	sigset_t none;

	setpgid(0, 0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
		_exit(126);
	if (cfg->cwd && chdir(cfg->cwd) != 0)
		_exit(126);
	syscall(SYS_close_range, 3u, ~0u, 0u);
	execve(cfg->path, cfg->argv, cfg->envp);
	_exit(127);
}

static void close_pair(int p[2])
{
	if (p[0] >= 0)
		close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
}

/* Forks and executes; fills ch's fds and pid. */
static int spawn(struct hchild *ch, const struct hosted_cfg *cfg, char *err,
		 size_t errlen)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, er[2] = { -1, -1 };
	pid_t pid;

	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) ||
	    pipe2(er, O_CLOEXEC)) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		goto fail;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		goto fail;
	}
	if (pid == 0)
		exec_child(cfg, in[0], out[1], er[1]);
	setpgid(pid, pid); /* either side may win the race; both set it */
	close(in[0]);
	close(out[1]);
	close(er[1]);
	ch->pid = pid;
	ch->in_fd = in[1];
	ch->out_fd = out[0];
	ch->err_fd = er[0];
	fcntl(ch->in_fd, F_SETFL, fcntl(ch->in_fd, F_GETFL) | O_NONBLOCK);
	return 0;
fail:
	close_pair(in);
	close_pair(out);
	close_pair(er);
	return -1;
}

/* Reaps the process: a moment to exit on its own, then SIGKILL. Returns
 * a description of how it ended. */
static void reap(struct hchild *ch, char *how, size_t howlen)
{
	int status = 0;
	pid_t r = 0;

	for (int i = 0; i < 25 && r == 0; i++) {
		r = waitpid(ch->pid, &status, WNOHANG);
		if (r == 0)
			usleep(10000);
	}
	if (r == 0) {
		kill(-ch->pid, SIGKILL);
		kill(ch->pid, SIGKILL);
		r = waitpid(ch->pid, &status, 0);
	}
	kill(-ch->pid, SIGKILL); /* whatever it left in its group */
	if (r < 0)
		snprintf(how, howlen, "gone");
	else if (WIFEXITED(status))
		snprintf(how, howlen, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(how, howlen, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(how, howlen, "ended");
}

/* ---- writing ---- */

/* How a write to a child's stdin may wait, per thread: SEND_WAIT up to
 * the write deadline; SEND_NOWAIT not at all, the caller sends another way
 * (hchild_request_async); SEND_DROP not at all, and a message that cannot
 * go now is dropped with a log line (the ticker's cancel notices: a child
 * that does not read its stdin must not hold up every other call's
 * deadline). */
enum send_mode { SEND_WAIT, SEND_NOWAIT, SEND_DROP };
static _Thread_local enum send_mode send_mode;

/* Writes what is left of msg and its newline (off bytes are out). */
static ssize_t write_rest(int fd, const char *buf, size_t len, size_t off)
{
	struct iovec v[2];
	int n = 0;

	if (off < len)
		v[n++] = (struct iovec){ (char *)buf + off, len - off };
	v[n++] = (struct iovec){ "\n", 1 };
	return writev(fd, v, n);
}

/* A message that SEND_DROP could not write: logged with its start (the
 * first, then every 100th). */
static void dropped(struct hchild *ch, const char *buf, size_t len)
{
	unsigned n = atomic_fetch_add(&ch->dropped, 1) + 1;

	if (n == 1 || n % 100 == 0)
		hosted_log(ch->name,
			   "stdin full or busy: message not sent (%.*s...; "
			   "%u so far)",
			   (int)(len < 80 ? len : 80), buf, n);
}

/* Writes msg and a newline, in one write when the pipe has room (one
 * wake-up of the child, not one for the line and one for its end),
 * within the write deadline. With SEND_NOWAIT or SEND_DROP it never
 * waits: a line over PIPE_BUF (which the kernel may split), a pipe
 * without room or a write already under way give -1 with nothing
 * written. */
static int write_line(struct hchild *ch, const char *buf, size_t len)
{
	size_t off = 0, total = len + 1;
	int rc = 0;

	if (send_mode == SEND_WAIT) {
		pthread_mutex_lock(&ch->wmu);
	} else if (total > PIPE_BUF || pthread_mutex_trylock(&ch->wmu) != 0) {
		if (send_mode == SEND_DROP)
			dropped(ch, buf, len);
		return -1;
	}
	while (off < total && rc == 0) {
		ssize_t w = write_rest(ch->in_fd, buf, len, off);
		if (w > 0) {
			off += (size_t)w;
		} else if (w < 0 && errno == EAGAIN && send_mode != SEND_WAIT &&
			   !off) {
			rc = -1; /* nothing written: the caller waits elsewhere */
			if (send_mode == SEND_DROP)
				dropped(ch, buf, len);
		} else if (w < 0 && errno == EAGAIN) {
			struct pollfd pfd = { ch->in_fd, POLLOUT, 0 };
			if (poll(&pfd, 1, WRITE_DEADLINE_MS) <= 0) {
				hosted_log(ch->name, "does not read its stdin; "
						     "stopping it");
				atomic_store(&ch->deaf, 1);
				kill(-ch->pid, SIGKILL);
				rc = -1;
			}
		} else if (w < 0 && errno != EINTR) {
			rc = -1;
		}
	}
	pthread_mutex_unlock(&ch->wmu);
	return rc;
}

int hchild_notify(struct hchild *ch, const char *method, json_t *params)
{
	return mcp_client_notify(ch->mc, method, params);
}

int hchild_send(struct hchild *ch, json_t *msg)
{
	return mcp_client_respond(ch->mc, msg);
}

int hchild_send_request(struct hchild *ch, const char *method, json_t *params)
{
	return mcp_client_request(ch->mc, method, params, NULL) > 0 ? 0 : -1;
}

/* ---- the core's transport (mcp_client_ops) ---- */

static int core_send(void *ud, const char *msg, size_t len)
{
	return write_line(ud, msg, len);
}

static void core_notification(void *ud, json_t *root)
{
	struct hchild *ch = ud;

	if (ch->ops->message)
		ch->ops->message(ch->ud, ch, root, NULL);
}

/* The ctx of the oldest request in flight, or NULL. */
static void *oldest_ctx(struct hchild *ch)
{
	void *ctx = NULL;

	pthread_mutex_lock(&ch->mu);
	for (struct waiting *w = ch->calls; w; w = w->next)
		if (w->ctx && !w->done)
			ctx = w->ctx; /* the list is newest first */
	pthread_mutex_unlock(&ch->mu);
	return ctx;
}

static void core_request(void *ud, json_t *root)
{
	struct hchild *ch = ud;

	if (ch->ops->message)
		ch->ops->message(ch->ud, ch, root, oldest_ctx(ch));
	else
		mcp_client_respond(ch->mc, jr_error(json_object_get(root, "id"),
						    MCP_ERR_METHOD_NOT_FOUND,
						    "Method not found", NULL));
}

static void core_progress(void *ud, void *req_ud, json_t *params)
{
	struct hchild *ch = ud;
	struct waiting *w = req_ud;

	if (w && w->ctx && ch->ops->progress)
		ch->ops->progress(w->ctx, params);
}

static void core_broken(void *ud, const char *why)
{
	struct hchild *ch = ud;

	pthread_mutex_lock(&ch->mu);
	if (!ch->why[0])
		mcp_utf8_snprintf(ch->why, sizeof(ch->why), "%s", why);
	pthread_mutex_unlock(&ch->mu);
}

static const struct mcp_client_ops core_ops = { core_send,    core_notification,
						core_request, core_progress,
						core_broken,  NULL };

enum { READER_NONE, READER_JOINABLE, READER_DONE };

/* ---- reading ---- */

struct hpoll {
	int ep;
	int stop_fd; /* an eventfd: hpoll_free */
	pthread_t th;
	char *buf; /* READ_CHUNK bytes */
};

/* Feeds stdout to the core until it ends or the core is broken. */
static void read_loop(struct hchild *ch)
{
	char buf[65536];

	for (;;) {
		ssize_t r = read(ch->out_fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 ||
		    mcp_client_feed_lines(ch->mc, buf, (size_t)r) != 0)
			return;
	}
}

/* The end of a child's stdout (or of its protocol): stops and reaps the
 * process, fails what is in flight and tells the owner. */
static void finish(struct hchild *ch)
{
	char how[64];
	int started;

	/* stop the process now: a child that broke the protocol, or closed
	 * its stdout, is finished */
	kill(-ch->pid, SIGTERM);
	reap(ch, how, sizeof(how));
	pthread_mutex_lock(&ch->mu);
	ch->dead = 1;
	if (!ch->why[0])
		snprintf(ch->why, sizeof(ch->why), "%s",
			 atomic_load(&ch->deaf) ? "does not read its stdin"
						: how);
	started = ch->started;
	pthread_mutex_unlock(&ch->mu);
	mcp_client_fail_all(ch->mc, ch->why);
	if (started && ch->ops->exited)
		ch->ops->exited(ch->ud, ch, ch->why);
}

static void *reader_main(void *arg)
{
	struct hchild *ch = arg;

	prctl(PR_SET_NAME, "hosted-read"); /* for per-thread CPU figures */
	read_loop(ch);
	finish(ch);
	return NULL;
}

static void *finish_main(void *arg)
{
	finish(arg);
	return NULL;
}

/* The poller saw the end of ch (its fd is out of the set): the rest, which
 * waits for the process, goes to a thread of its own. */
static void poll_end(struct hchild *ch)
{
	int ok = pthread_create(&ch->reader, NULL, finish_main, ch) == 0;

	if (!ok)
		finish(ch); /* here, then: the others wait that long */
	pthread_mutex_lock(&ch->mu);
	ch->reader_state = ok ? READER_JOINABLE : READER_DONE;
	pthread_cond_broadcast(&ch->cv);
	pthread_mutex_unlock(&ch->mu);
}

/* One read of ch's stdout into the core: 0, or -1 at its end (EOF, an
 * error, or a child the core found broken). */
static int read_some(struct hchild *ch, char *buf)
{
	ssize_t r = read(ch->out_fd, buf, READ_CHUNK);

	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (r <= 0)
		return -1;
	return mcp_client_feed_lines(ch->mc, buf, (size_t)r) == 0 ? 0 : -1;
}

/* The poller's thread, until hpoll_free: one read per ready child per
 * wake-up (level-triggered: a child with more to say comes round again,
 * and none can starve the others). */
static void *poll_main(void *arg)
{
	struct hpoll *p = arg;
	struct epoll_event ev[POLL_EVENTS];

	prctl(PR_SET_NAME, "hosted-read");
	send_mode = SEND_DROP; /* one child's stdin must not hold the rest */
	for (;;) {
		int n = epoll_wait(p->ep, ev, POLL_EVENTS, -1);
		if (n < 0 && errno != EINTR) {
			fprintf(stderr, "mcpd: hosted servers: epoll: %s\n",
				strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			struct hchild *ch = ev[i].data.ptr;
			if (!ch)
				return NULL; /* hpoll_free */
			if (read_some(ch, p->buf) != 0) {
				epoll_ctl(p->ep, EPOLL_CTL_DEL, ch->out_fd,
					  NULL);
				poll_end(ch);
			}
		}
	}
	return NULL;
}

struct hpoll *hpoll_new(char *err, size_t errlen)
{
	struct hpoll *p = calloc(1, sizeof(*p));
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };

	if (!p) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	p->ep = epoll_create1(EPOLL_CLOEXEC);
	p->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	p->buf = malloc(READ_CHUNK);
	if (!p->buf) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (p->ep < 0 || p->stop_fd < 0 ||
	    epoll_ctl(p->ep, EPOLL_CTL_ADD, p->stop_fd, &ev) < 0) {
		snprintf(err, errlen, "epoll: %s", strerror(errno));
		goto fail;
	}
	if (pthread_create(&p->th, NULL, poll_main, p) != 0) {
		snprintf(err, errlen, "cannot start a thread");
		goto fail;
	}
	return p;
fail:
	if (p->ep >= 0)
		close(p->ep);
	if (p->stop_fd >= 0)
		close(p->stop_fd);
	free(p->buf);
	free(p);
	return NULL;
}

void hpoll_free(struct hpoll *p)
{
	uint64_t one = 1;

	if (!p)
		return;
	if (write(p->stop_fd, &one, sizeof(one)) < 0) {
		/* the counter is nonzero already: it stops */
	}
	pthread_join(p->th, NULL);
	close(p->ep);
	close(p->stop_fd);
	free(p->buf);
	free(p);
}

/* stderr lines into mcpd's log, cut and rate-capped. */
static void *errlog_main(void *arg)
{
	struct hchild *ch = arg;
	char buf[STDERR_LINE_MAX];
	size_t n = 0;
	time_t window = 0;
	unsigned lines = 0;
	ssize_t r;

	prctl(PR_SET_NAME, "hosted-stderr");
	for (;;) {
		char *nl;
		r = read(ch->err_fd, buf + n, sizeof(buf) - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
		while (n > 0) {
			size_t ll;
			time_t now;
			nl = memchr(buf, '\n', n);
			if (!nl && n < sizeof(buf) - 1)
				break;
			ll = nl ? (size_t)(nl - buf) : n;
			now = time(NULL);
			if (now != window) {
				if (lines > STDERR_LINES_PER_SEC)
					hosted_log(ch->name,
						   "(%u stderr lines "
						   "not logged)",
						   lines - STDERR_LINES_PER_SEC);
				window = now;
				lines = 0;
			}
			if (++lines <= STDERR_LINES_PER_SEC)
				hosted_log(ch->name, "%.*s", (int)ll, buf);
			ll += nl ? 1 : 0;
			memmove(buf, buf + ll, n - ll);
			n -= ll;
		}
	}
	return NULL;
}

/* ---- requests ---- */

/* err for a request that failed with code rc (msg: the core's or the
 * server's words; server: the server answered with an error). */
static void describe(struct hchild *ch, int rc, int server, const char *method,
		     unsigned timeout_ms, const char *msg, char *err,
		     size_t errlen)
{
	if (server)
		mcp_utf8_snprintf(err, errlen, "%s", msg);
	else if (rc == MCP_CLIENT_E_TIMEOUT)
		snprintf(err, errlen, "server %s did not answer %s within %u s",
			 ch->name, method, timeout_ms / 1000);
	else if (rc == MCP_CLIENT_E_CANCELLED)
		snprintf(err, errlen, "cancelled");
	else if (atomic_load(&ch->deaf))
		snprintf(err, errlen,
			 "server %s stopped (does not read its stdin)",
			 ch->name);
	else
		mcp_utf8_snprintf(err, errlen, "server %s stopped (%s)",
				  ch->name, msg);
}

/* The code hchild_request returns for the core's rc. */
static int our_code(int rc, int server)
{
	if (server || rc == 0)
		return rc < 0 || rc == 0 ? rc : MCP_ERR_INTERNAL;
	if (rc == MCP_CLIENT_E_TIMEOUT)
		return MCP_ERR_TIMEOUT;
	if (rc == MCP_CLIENT_E_CANCELLED)
		return MCP_ERR_REQUEST_CANCELLED;
	return MCP_ERR_INTERNAL;
}

static void unlink_waiting(struct hchild *ch, struct waiting *w)
{
	for (struct waiting **pp = &ch->calls; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	}
}

int hchild_request(struct hchild *ch, const char *method, json_t *params,
		   const struct hchild_wait *w, json_t **result, char *err,
		   size_t errlen)
{
	struct waiting me = { .ctx = w->ctx };
	json_t *error = NULL;
	struct mcp_client_req r = { .timeout_ms = w->timeout_ms,
				    .want_progress = w->want_progress,
				    .ud = &me,
				    .error = &error };
	char msg[256];
	int rc;

	*result = NULL;
	pthread_mutex_lock(&ch->mu);
	if (ch->dead) {
		pthread_mutex_unlock(&ch->mu);
		snprintf(err, errlen, "server %s is not running", ch->name);
		json_decref(params);
		return MCP_ERR_INTERNAL;
	}
	me.next = ch->calls;
	ch->calls = &me;
	pthread_mutex_unlock(&ch->mu);

	rc = mcp_client_call(ch->mc, method, params, &r, w->cancelled,
			     w->cancel_arg, result, msg, sizeof(msg));

	pthread_mutex_lock(&ch->mu);
	me.done = 1;
	while (me.holds > 0) /* a server request in its name finishes */
		pthread_cond_wait(&ch->cv, &ch->mu);
	unlink_waiting(ch, &me);
	pthread_mutex_unlock(&ch->mu);
	if (rc != 0)
		describe(ch, rc, error != NULL, method, w->timeout_ms, msg, err,
			 errlen);
	rc = our_code(rc, error != NULL);
	json_decref(error);
	return rc;
}

/* ---- asynchronous requests ---- */

/* Hands an asynchronous request's answer to its owner and frees w; w is
 * out of the list. Runs without ch->mu. */
static void deliver(struct waiting *w)
{
	char err[256] = "";
	int server = w->error != NULL, rc = w->code;

	if (rc != 0)
		describe(w->ch, rc, server, w->method, w->timeout_ms, w->msg,
			 err, sizeof(err));
	rc = our_code(rc, server);
	w->fn(w->fn_ud, rc, rc == 0 ? w->result : NULL, err);
	if (rc != 0)
		json_decref(w->result);
	json_decref(w->error);
	free(w);
}

/* Nonzero (and w taken out of the list) when w's answer can go to its
 * owner: answered, sent, and no server request in its name open. With
 * ch->mu held. */
static int ready_to_deliver(struct hchild *ch, struct waiting *w)
{
	if (!w->fn || !w->answered || w->sending || w->holds > 0 || w->done)
		return 0;
	w->done = 1;
	unlink_waiting(ch, w);
	ch->async--;
	return 1;
}

/* The core's done for an asynchronous request (any thread, no lock). */
static void async_done(void *ud, const struct mcp_client_answer *a)
{
	struct waiting *w = ud;
	struct hchild *ch = w->ch;
	int now;

	pthread_mutex_lock(&ch->mu);
	w->code = a->code;
	w->result = a->code == 0 ? json_incref(a->result) : NULL;
	w->error = json_incref(a->error);
	mcp_utf8_snprintf(w->msg, sizeof(w->msg), "%s", a->message);
	w->answered = 1;
	now = ready_to_deliver(ch, w);
	pthread_mutex_unlock(&ch->mu);
	if (now)
		deliver(w);
}

int hchild_request_async(struct hchild *ch, const char *method, json_t *params,
			 const struct hchild_wait *hw, hchild_done_fn fn,
			 void *ud)
{
	struct waiting *w = calloc(1, sizeof(*w));
	struct mcp_client_req r = { .timeout_ms = hw->timeout_ms,
				    .want_progress = hw->want_progress,
				    .done = async_done };
	int64_t id;
	int now;

	pthread_mutex_lock(&ch->mu);
	if (!w || ch->dead) {
		pthread_mutex_unlock(&ch->mu);
		free(w);
		json_decref(params);
		return -1;
	}
	w->ctx = hw->ctx;
	w->ch = ch;
	w->fn = fn;
	w->fn_ud = ud;
	w->sending = 1;
	w->cancelled = hw->cancelled;
	w->cancel_arg = hw->cancel_arg;
	w->timeout_ms = hw->timeout_ms;
	snprintf(w->method, sizeof(w->method), "%s", method);
	w->next = ch->calls;
	ch->calls = w;
	ch->async++;
	pthread_mutex_unlock(&ch->mu);

	r.ud = w;
	send_mode = SEND_NOWAIT;
	id = mcp_client_request(ch->mc, method, params, &r);
	send_mode = SEND_WAIT;

	pthread_mutex_lock(&ch->mu);
	w->sending = 0;
	w->id = id;
	if (id < 0) { /* nothing sent, done not called */
		unlink_waiting(ch, w);
		ch->async--;
		pthread_mutex_unlock(&ch->mu);
		free(w);
		return -1;
	}
	now = ready_to_deliver(ch, w); /* answered already */
	pthread_mutex_unlock(&ch->mu);
	if (now)
		deliver(w);
	return 0;
}

unsigned hchild_tick(struct hchild *ch)
{
	int64_t ids[64];
	unsigned n = 0, pending;

	pthread_mutex_lock(&ch->mu);
	pending = ch->async;
	for (struct waiting *w = ch->calls; w && n < 64; w = w->next) {
		if (!w->fn || w->answered || w->sending || w->cancel_sent ||
		    !w->cancelled || !w->cancelled(w->cancel_arg))
			continue;
		w->cancel_sent = 1;
		ids[n++] = w->id;
	}
	pthread_mutex_unlock(&ch->mu);
	/* the calls end whether or not their notices can be written now */
	send_mode = SEND_DROP;
	for (unsigned i = 0; i < n; i++)
		mcp_client_cancel(ch->mc, ids[i], "cancelled");
	if (pending)
		mcp_client_expire(ch->mc);
	send_mode = SEND_WAIT;
	return pending;
}

int hchild_hold(struct hchild *ch, void *call_ctx)
{
	int rc = -1;

	pthread_mutex_lock(&ch->mu);
	for (struct waiting *w = ch->calls; w && rc; w = w->next)
		if (w->ctx == call_ctx && !w->done) {
			w->holds++;
			rc = 0;
		}
	pthread_mutex_unlock(&ch->mu);
	return rc;
}

void hchild_release(struct hchild *ch, void *call_ctx)
{
	struct waiting *now = NULL;

	pthread_mutex_lock(&ch->mu);
	for (struct waiting *w = ch->calls; w; w = w->next)
		if (w->ctx == call_ctx && w->holds > 0) {
			w->holds--;
			pthread_cond_broadcast(&ch->cv);
			if (ready_to_deliver(ch, w))
				now = w;
			break;
		}
	pthread_mutex_unlock(&ch->mu);
	if (now)
		deliver(now);
}

/* ---- life cycle ---- */

static int initialize(struct hchild *ch, json_t *caps, unsigned timeout_ms,
		      char *err, size_t errlen)
{
	char msg[256];
	int rc = mcp_client_initialize(ch->mc, caps, msg, sizeof(msg));

	if (rc != 0)
		describe(ch, rc, 0, "initialize", timeout_ms, msg, err, errlen);
	return rc ? -1 : 0;
}

/* Puts ch's stdout in the poller's set; 0 or -1 (not in it). */
static int poll_add(struct hchild *ch, struct hpoll *p)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = ch };

	if (!p || fcntl(ch->out_fd, F_SETFL,
			fcntl(ch->out_fd, F_GETFL) | O_NONBLOCK) < 0)
		return -1;
	if (epoll_ctl(p->ep, EPOLL_CTL_ADD, ch->out_fd, &ev) == 0)
		return 0;
	fcntl(ch->out_fd, F_SETFL, fcntl(ch->out_fd, F_GETFL) & ~O_NONBLOCK);
	return -1;
}

/* Starts the stderr logger and the reading of stdout (by the poller, or
 * a thread of its own). On failure the process is killed and reaped, the
 * fds closed and ch freed. */
static int start_threads(struct hchild *ch, struct hpoll *p)
{
	int have_errlog = pthread_create(&ch->errlog, NULL, errlog_main, ch) ==
			  0;

	if (have_errlog && poll_add(ch, p) == 0)
		return 0; /* reader_state stays READER_NONE until its end */
	if (have_errlog &&
	    pthread_create(&ch->reader, NULL, reader_main, ch) == 0) {
		ch->reader_state = READER_JOINABLE;
		return 0;
	}
	kill(-ch->pid, SIGKILL);
	if (have_errlog)
		pthread_join(ch->errlog, NULL);
	waitpid(ch->pid, NULL, 0);
	close(ch->in_fd);
	close(ch->out_fd);
	close(ch->err_fd);
	mcp_client_free(ch->mc);
	free(ch);
	return -1;
}

struct hchild *hchild_start(const struct hosted_cfg *cfg,
			    const struct hchild_limits *lim, json_t *caps,
			    const struct hchild_ops *ops, void *ud, char *err,
			    size_t errlen)
{
	struct hchild *ch = calloc(1, sizeof(*ch));
	struct mcp_client_limits cl = { .max_message = lim->max_message,
					.flood_per_sec = lim->flood_per_sec,
					.timeout_ms = cfg->call_timeout_ms,
					.init_timeout_ms =
						cfg->init_timeout_ms };

	if (ch)
		ch->mc = mcp_client_new(&core_ops, ch, &cl, "zonegate-mcpd");
	if (!ch || !ch->mc) {
		free(ch);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(ch->name, sizeof(ch->name), "%s", cfg->name);
	ch->ops = ops;
	ch->ud = ud;
	pthread_mutex_init(&ch->mu, NULL);
	pthread_mutex_init(&ch->wmu, NULL);
	pthread_cond_init(&ch->cv, NULL);
	if (spawn(ch, cfg, err, errlen) != 0) {
		mcp_client_free(ch->mc);
		free(ch);
		return NULL;
	}
	if (start_threads(ch, lim->poll) != 0) {
		snprintf(err, errlen, "cannot start a thread");
		return NULL;
	}
	if (initialize(ch, caps, cfg->init_timeout_ms, err, errlen) != 0) {
		hchild_stop(ch);
		return NULL;
	}
	pthread_mutex_lock(&ch->mu);
	ch->started = !ch->dead;
	pthread_mutex_unlock(&ch->mu);
	if (!ch->started) {
		snprintf(err, errlen, "exited right after initialize");
		hchild_stop(ch);
		return NULL;
	}
	return ch;
}

void hchild_stop(struct hchild *ch)
{
	if (!ch)
		return;
	pthread_mutex_lock(&ch->wmu);
	close(ch->in_fd); /* EOF: a well-behaved server exits */
	ch->in_fd = -1;
	pthread_mutex_unlock(&ch->wmu);
	kill(-ch->pid, SIGTERM);
	for (int i = 0; i < 100 && hchild_alive(ch); i++)
		usleep(10000);
	if (hchild_alive(ch)) /* ignores SIGTERM, or keeps stdout open */
		kill(-ch->pid, SIGKILL);
	pthread_mutex_lock(&ch->mu);
	while (ch->reader_state == READER_NONE) /* the poller sees its end */
		pthread_cond_wait(&ch->cv, &ch->mu);
	pthread_mutex_unlock(&ch->mu);
	if (ch->reader_state == READER_JOINABLE)
		pthread_join(ch->reader, NULL);
	pthread_join(ch->errlog, NULL);
	close(ch->out_fd);
	close(ch->err_fd);
	mcp_client_free(ch->mc);
	pthread_mutex_destroy(&ch->mu);
	pthread_mutex_destroy(&ch->wmu);
	pthread_cond_destroy(&ch->cv);
	free(ch);
}

json_t *hchild_server_caps(struct hchild *ch)
{
	return mcp_client_server_result(ch->mc);
}

const char *hchild_name(const struct hchild *ch)
{
	return ch->name;
}

pid_t hchild_pid(const struct hchild *ch)
{
	return ch->pid;
}

int hchild_alive(struct hchild *ch)
{
	int alive;

	pthread_mutex_lock(&ch->mu);
	alive = !ch->dead;
	pthread_mutex_unlock(&ch->mu);
	return alive;
}
