/* The stdio MCP client of a hosted server: one child process with pipes,
 * newline-delimited JSON-RPC on its stdin and stdout, its stderr in
 * mcpd's log. Requests wait for their answers under deadlines; a child
 * that breaks the protocol (oversize lines, floods, non-JSON, silence at
 * initialize, a stdin it never reads) is stopped and reported. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "hosted.h"
#include "jsonrpc.h"
#include "mcp_internal.h"
#include "utf8.h"

#define WRITE_DEADLINE_MS 10000 /* a child that never reads its stdin */
#define MAX_BAD_LINES 16	/* non-JSON lines before the child is stopped */
#define STDERR_LINE_MAX 1024	/* bytes of one logged stderr line */
#define STDERR_LINES_PER_SEC 200
#define POLL_SLICE_MS 20 /* how often a waiting request looks at cancel */

struct pending {
	long long id;
	json_t *response; /* the whole message, once answered */
	int done;	  /* 1 answered, -1 failed (child gone) */
	void *ctx;
	int progress;	   /* it carries our progress token */
	int holds;	   /* server requests being answered in its name */
	pthread_cond_t cv; /* answered, failed, released (its own: an answer
			      wakes only its waiter) */
	struct pending *next;
};

struct hchild {
	char name[HOSTED_NAME_MAX + 1];
	pid_t pid;
	int in_fd, out_fd, err_fd;
	struct hchild_limits lim;
	const struct hchild_ops *ops;
	void *ud;

	pthread_t reader, errlog;
	pthread_mutex_t wmu;	  /* writes to stdin */
	pthread_mutex_t mu;	  /* below */
	pthread_condattr_t cattr; /* CLOCK_MONOTONIC, for the pendings' cv */
	struct pending *pending;
	long long next_id;
	int dead;
	int started;	 /* initialized: exited() is reported from then on */
	atomic_int deaf; /* stopped for not reading its stdin */
	char why[160];
	json_t *init_result;

	/* flood accounting (reader thread only) */
	time_t window;
	unsigned in_window;
	unsigned bad_lines;
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

/* Writes msg and a newline within the write deadline. */
static int write_line(struct hchild *ch, const char *buf, size_t len)
{
	size_t off = 0, total = len + 1;
	int rc = 0;

	pthread_mutex_lock(&ch->wmu);
	while (off < total && rc == 0) {
		const char *p = off < len ? buf + off : "\n";
		size_t n = off < len ? len - off : 1;
		ssize_t w = write(ch->in_fd, p, n);
		if (w > 0) {
			off += (size_t)w;
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

static int send_msg(struct hchild *ch, json_t *msg)
{
	size_t len;
	char *text;
	int rc;

	if (!msg)
		return -1;
	text = jr_dump(msg, &len);
	json_decref(msg);
	if (!text)
		return -1;
	rc = write_line(ch, text, len);
	free(text);
	return rc;
}

int hchild_notify(struct hchild *ch, const char *method, json_t *params)
{
	return send_msg(ch, jr_request(NULL, method, params));
}

int hchild_send(struct hchild *ch, json_t *msg)
{
	return send_msg(ch, msg);
}

/* ---- reading ---- */

/* Counts an unsolicited message; nonzero when the child floods. */
static int flooding(struct hchild *ch)
{
	time_t now = time(NULL);

	if (now != ch->window) {
		ch->window = now;
		ch->in_window = 0;
	}
	return ++ch->in_window > ch->lim.flood_per_sec;
}

static struct pending *find_pending(struct hchild *ch, long long id)
{
	for (struct pending *p = ch->pending; p; p = p->next)
		if (p->id == id)
			return p;
	return NULL;
}

/* A response: wakes its request. Returns 0, or 1 if nobody waits. */
static int on_response(struct hchild *ch, struct jr_msg *m)
{
	struct pending *p = NULL;

	pthread_mutex_lock(&ch->mu);
	if (json_is_integer(m->id))
		p = find_pending(ch, json_integer_value(m->id));
	if (p && !p->done) {
		p->response = json_incref(m->root);
		p->done = 1;
		pthread_cond_signal(&p->cv);
	}
	pthread_mutex_unlock(&ch->mu);
	return p ? 0 : 1;
}

/* Progress for a request of ours goes to its ctx; 1 if it is not ours. */
static int on_progress(struct hchild *ch, struct jr_msg *m)
{
	json_t *tok = json_object_get(m->params, "progressToken");
	struct pending *p = NULL;

	pthread_mutex_lock(&ch->mu);
	if (json_is_integer(tok))
		p = find_pending(ch, json_integer_value(tok));
	if (p && !p->done && p->ctx && p->progress && ch->ops->progress)
		ch->ops->progress(p->ctx, m->params);
	pthread_mutex_unlock(&ch->mu);
	return p ? 0 : 1;
}

static void *oldest_ctx(struct hchild *ch)
{
	void *ctx = NULL;

	pthread_mutex_lock(&ch->mu);
	for (struct pending *p = ch->pending; p; p = p->next)
		if (p->ctx && !p->done)
			ctx = p->ctx; /* the list is newest first */
	pthread_mutex_unlock(&ch->mu);
	return ctx;
}

/* One line from the child. Returns 0, or -1 to stop the child. */
static int on_line(struct hchild *ch, const char *line, size_t len)
{
	struct jr_msg m;
	int unsolicited = 0, rc = 0;

	if (len == 0)
		return 0;
	jr_parse(line, len, ch->lim.max_message, MCP_DEFAULT_MAX_DEPTH, &m);
	switch (m.kind) {
	case JR_RESULT:
	case JR_ERROR:
		unsolicited = on_response(ch, &m);
		break;
	case JR_NOTIFICATION:
		if (strcmp(m.method, "notifications/progress") == 0) {
			unsolicited = on_progress(ch, &m);
			break;
		}
		unsolicited = 1;
		if (ch->ops->message)
			ch->ops->message(ch->ud, ch, m.root, NULL);
		break;
	case JR_REQUEST:
		unsolicited = 1;
		if (ch->ops->message)
			ch->ops->message(ch->ud, ch, m.root, oldest_ctx(ch));
		break;
	default:
		if (++ch->bad_lines == 1 || ch->bad_lines == MAX_BAD_LINES)
			hosted_log(ch->name,
				   "wrote a line that is not JSON-RPC "
				   "(%s)",
				   m.err);
		if (ch->bad_lines >= MAX_BAD_LINES) {
			snprintf(ch->why, sizeof(ch->why),
				 "%d lines that are not JSON-RPC",
				 MAX_BAD_LINES);
			rc = -1;
		}
	}
	jr_msg_clear(&m);
	if (unsolicited && flooding(ch)) {
		snprintf(ch->why, sizeof(ch->why),
			 "flooding: over %u unsolicited messages in a second",
			 ch->lim.flood_per_sec);
		rc = -1;
	}
	return rc;
}

/* Reads stdout line by line; a line over the cap stops the child. */
static int read_loop(struct hchild *ch)
{
	size_t cap = ch->lim.max_message + 1, n = 0;
	char *buf = malloc(cap < 65536 ? cap : 65536);
	size_t bufcap = cap < 65536 ? cap : 65536;

	if (!buf)
		return -1;
	for (;;) {
		char *nl;
		ssize_t r;
		size_t start = 0;

		if (n == bufcap) {
			size_t nc = bufcap * 2 < cap ? bufcap * 2 : cap;
			char *nb;
			if (n >= cap) {
				snprintf(ch->why, sizeof(ch->why),
					 "a message over %zu bytes",
					 ch->lim.max_message);
				break;
			}
			nb = realloc(buf, nc);
			if (!nb)
				break;
			buf = nb;
			bufcap = nc;
		}
		r = read(ch->out_fd, buf + n, bufcap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
		while ((nl = memchr(buf + start, '\n', n - start)) != NULL) {
			size_t ll = (size_t)(nl - (buf + start));
			if (ll > 0 && buf[start + ll - 1] == '\r')
				ll--;
			if (on_line(ch, buf + start, ll) != 0)
				goto out;
			start = (size_t)(nl - buf) + 1;
		}
		memmove(buf, buf + start, n - start);
		n -= start;
	}
out:
	free(buf);
	return 0;
}

static void *reader_main(void *arg)
{
	struct hchild *ch = arg;
	char how[64];
	int started;

	read_loop(ch);
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
	for (struct pending *p = ch->pending; p; p = p->next) {
		if (!p->done)
			p->done = -1;
		pthread_cond_broadcast(&p->cv);
	}
	started = ch->started;
	pthread_mutex_unlock(&ch->mu);
	if (started && ch->ops->exited)
		ch->ops->exited(ch->ud, ch, ch->why);
	return NULL;
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

static int past(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > t->tv_sec ||
	       (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

static void unlink_pending(struct hchild *ch, struct pending *p)
{
	for (struct pending **pp = &ch->pending; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
}

/* Waits for p with ch->mu held. 0 answered, else an error code. */
static int wait_pending(struct hchild *ch, struct pending *p,
			const struct hchild_wait *w)
{
	struct timespec until, slice;

	mcp_deadline_after(&until, (int)w->timeout_ms);
	while (!p->done) {
		if (w->cancelled && w->cancelled(w->cancel_arg))
			return MCP_ERR_REQUEST_CANCELLED;
		if (past(&until))
			return MCP_ERR_TIMEOUT;
		mcp_deadline_after(&slice, POLL_SLICE_MS);
		pthread_cond_timedwait(&p->cv, &ch->mu, &slice);
	}
	return p->done > 0 ? 0 : MCP_ERR_INTERNAL;
}

/* The result of an answered request, or its error's code and message. */
static int take_answer(struct pending *p, json_t **result, char *err,
		       size_t errlen)
{
	json_t *e = json_object_get(p->response, "error");
	int code;

	if (!e) {
		*result = json_incref(json_object_get(p->response, "result"));
		return *result ? 0 : MCP_ERR_INTERNAL;
	}
	code = (int)json_integer_value(json_object_get(e, "code"));
	mcp_utf8_snprintf(err, errlen, "%s",
			  json_string_value(json_object_get(e, "message"))
				  ?: "error without a message");
	return code < 0 ? code : MCP_ERR_INTERNAL;
}

int hchild_request(struct hchild *ch, const char *method, json_t *params,
		   const struct hchild_wait *w, json_t **result, char *err,
		   size_t errlen)
{
	struct pending *p = calloc(1, sizeof(*p));
	json_t *msg, *id;
	int rc;

	*result = NULL;
	if (!p || (!params && !(params = json_object()))) {
		free(p);
		json_decref(params);
		snprintf(err, errlen, "out of memory");
		return MCP_ERR_INTERNAL;
	}
	pthread_mutex_lock(&ch->mu);
	if (ch->dead) {
		pthread_mutex_unlock(&ch->mu);
		snprintf(err, errlen, "server %s is not running", ch->name);
		json_decref(params);
		free(p);
		return MCP_ERR_INTERNAL;
	}
	pthread_cond_init(&p->cv, &ch->cattr);
	p->id = ++ch->next_id;
	p->ctx = w->ctx;
	p->progress = w->want_progress;
	p->next = ch->pending;
	ch->pending = p;
	pthread_mutex_unlock(&ch->mu);

	if (w->want_progress) {
		json_t *meta = json_object_get(params, "_meta");
		if (!json_is_object(meta)) {
			meta = json_object();
			json_object_set_new(params, "_meta", meta);
		}
		json_object_set_new(meta, "progressToken", json_integer(p->id));
	}
	id = json_integer(p->id);
	msg = jr_request(id, method, params); /* copies id */
	json_decref(id);
	rc = send_msg(ch, msg) == 0 ? 0 : MCP_ERR_INTERNAL;

	pthread_mutex_lock(&ch->mu);
	if (rc == 0)
		rc = wait_pending(ch, p, w);
	else
		snprintf(err, errlen,
			 atomic_load(&ch->deaf)
				 ? "server %s stopped (does not read its stdin)"
				 : "cannot write to server %s",
			 ch->name);
	while (p->holds > 0) /* a server request in its name finishes */
		pthread_cond_wait(&p->cv, &ch->mu);
	unlink_pending(ch, p);
	if (rc == MCP_ERR_INTERNAL && p->done < 0)
		snprintf(err, errlen, "server %s stopped (%s)", ch->name,
			 ch->why);
	pthread_mutex_unlock(&ch->mu);

	if (rc == MCP_ERR_TIMEOUT || rc == MCP_ERR_REQUEST_CANCELLED)
		hchild_notify(ch, "notifications/cancelled",
			      json_pack("{s:I, s:s}", "requestId",
					(json_int_t)p->id, "reason",
					rc == MCP_ERR_TIMEOUT ? "timeout"
							      : "cancelled"));
	if (rc == MCP_ERR_TIMEOUT)
		snprintf(err, errlen, "server %s did not answer %s within %u s",
			 ch->name, method, w->timeout_ms / 1000);
	if (rc == 0)
		rc = take_answer(p, result, err, errlen);
	json_decref(p->response);
	pthread_cond_destroy(&p->cv);
	free(p);
	return rc;
}

int hchild_hold(struct hchild *ch, void *call_ctx)
{
	int rc = -1;

	pthread_mutex_lock(&ch->mu);
	for (struct pending *p = ch->pending; p && rc; p = p->next)
		if (p->ctx == call_ctx && !p->done) {
			p->holds++;
			rc = 0;
		}
	pthread_mutex_unlock(&ch->mu);
	return rc;
}

void hchild_release(struct hchild *ch, void *call_ctx)
{
	pthread_mutex_lock(&ch->mu);
	for (struct pending *p = ch->pending; p; p = p->next)
		if (p->ctx == call_ctx && p->holds > 0) {
			p->holds--;
			pthread_cond_broadcast(&p->cv);
			break;
		}
	pthread_mutex_unlock(&ch->mu);
}

/* ---- life cycle ---- */

static int initialize(struct hchild *ch, json_t *caps, unsigned timeout_ms,
		      char *err, size_t errlen)
{
	struct hchild_wait w = { NULL, 0, NULL, NULL, timeout_ms };
	json_t *params = json_pack("{s:s, s:o, s:{s:s, s:s}}",
				   "protocolVersion", MCP_PROTOCOL_LATEST,
				   "capabilities",
				   caps ? json_incref(caps) : json_object(),
				   "clientInfo", "name", "zonegate-mcpd",
				   "version", "1");
	int rc;

	rc = hchild_request(ch, "initialize", params, &w, &ch->init_result, err,
			    errlen);
	if (rc != 0)
		return -1;
	if (!json_is_object(ch->init_result) ||
	    !json_is_string(
		    json_object_get(ch->init_result, "protocolVersion"))) {
		snprintf(err, errlen, "server %s: malformed initialize result",
			 ch->name);
		return -1;
	}
	return hchild_notify(ch, "notifications/initialized", NULL);
}

/* Starts the reader and the stderr logger. On failure the process is
 * killed and reaped, the fds closed and ch freed. */
static int start_threads(struct hchild *ch)
{
	int have_errlog = pthread_create(&ch->errlog, NULL, errlog_main, ch) ==
			  0;

	if (have_errlog &&
	    pthread_create(&ch->reader, NULL, reader_main, ch) == 0)
		return 0;
	kill(-ch->pid, SIGKILL);
	if (have_errlog)
		pthread_join(ch->errlog, NULL);
	waitpid(ch->pid, NULL, 0);
	close(ch->in_fd);
	close(ch->out_fd);
	close(ch->err_fd);
	free(ch);
	return -1;
}

struct hchild *hchild_start(const struct hosted_cfg *cfg,
			    const struct hchild_limits *lim, json_t *caps,
			    const struct hchild_ops *ops, void *ud, char *err,
			    size_t errlen)
{
	struct hchild *ch = calloc(1, sizeof(*ch));

	if (!ch) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(ch->name, sizeof(ch->name), "%s", cfg->name);
	ch->lim = *lim;
	ch->ops = ops;
	ch->ud = ud;
	pthread_mutex_init(&ch->mu, NULL);
	pthread_mutex_init(&ch->wmu, NULL);
	pthread_condattr_init(&ch->cattr);
	pthread_condattr_setclock(&ch->cattr, CLOCK_MONOTONIC);
	if (spawn(ch, cfg, err, errlen) != 0) {
		free(ch);
		return NULL;
	}
	if (start_threads(ch) != 0) {
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
	pthread_join(ch->reader, NULL);
	pthread_join(ch->errlog, NULL);
	close(ch->out_fd);
	close(ch->err_fd);
	json_decref(ch->init_result);
	pthread_mutex_destroy(&ch->mu);
	pthread_mutex_destroy(&ch->wmu);
	pthread_condattr_destroy(&ch->cattr);
	free(ch);
}

json_t *hchild_server_caps(struct hchild *ch)
{
	return ch->init_result;
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
