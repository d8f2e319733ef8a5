/* The agents' MCP client: a zonegate-relay child (stdio mode) speaking
 * newline-delimited JSON-RPC to the gateway on the agent's channel, on
 * the project's MCP client core (mcp/include/client.h: its deadlines and
 * caps); a call of a --direct zone goes to that zone's HTTP server
 * (agent_direct.c). */
#define _GNU_SOURCE /* pipe2 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client.h"

extern char **environ;

struct ag_client {
	const struct ag_config *cfg;
	struct ag_dlink *dl[AG_MAX_DIRECT]; /* cfg->direct's, in its order */
	int unreachable;		     /* the last call's session failed */
	int started;			     /* the relay runs (pid, in, out) */
	pid_t pid;
	int in;	 /* the relay's stdin (we write) */
	int out; /* the relay's stdout (we read) */
	mcp_client *mc; /* the session on the relay (while started) */
	long deadline;	/* of the call under way: sends end by then */
	int broken; /* a send or read failed: the session is unusable */
	int (*cancel)(void *); /* nonzero: give up the wait now */
	void *cancel_ud;
};

long ag_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double ag_now_msf(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)(ts.tv_nsec / 1000) / 1000.0;
}

double ag_ms_since(double t0)
{
	return (double)(long long)((ag_now_msf() - t0) * 1000.0) / 1000.0;
}

/* Starts the relay with pipes on stdin and stdout; 0 or -1 with err. */
static int spawn_relay(struct ag_client *c, const struct ag_config *cfg,
		       char *err, size_t errlen)
{
	int pin[2] = { -1, -1 }, pout[2] = { -1, -1 }, rc = -1, e;
	posix_spawn_file_actions_t fa;
	char ct[32];
	char *argv[8];
	int n = 0;

	snprintf(ct, sizeof(ct), "%ld", cfg->connect_ms);
	argv[n++] = (char *)cfg->relay;
	if (cfg->chan) {
		argv[n++] = "--chan";
		argv[n++] = (char *)cfg->chan;
	}
	argv[n++] = "--connect-timeout";
	argv[n++] = ct;
	argv[n] = NULL;
	if (pipe2(pin, O_CLOEXEC) || pipe2(pout, O_CLOEXEC)) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		goto out;
	}
	if (posix_spawn_file_actions_init(&fa)) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	posix_spawn_file_actions_adddup2(&fa, pin[0], STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, pout[1], STDOUT_FILENO);
	e = posix_spawnp(&c->pid, cfg->relay, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (e) {
		snprintf(err, errlen, "cannot start %s: %s", cfg->relay,
			 strerror(e));
		goto out;
	}
	c->in = pin[1];
	c->out = pout[0];
	pin[1] = pout[0] = -1;
	rc = 0;
out:
	for (int i = 0; i < 2; i++) {
		if (pin[i] >= 0)
			close(pin[i]);
		if (pout[i] >= 0)
			close(pout[i]);
	}
	return rc;
}

/* How long one poll may wait: what is left of the deadline, and with a
 * cancel hook at most 50 ms, so a cancelled ask stops soon. */
static int wait_ms(const struct ag_client *c, long left)
{
	return c->cancel && left > 50 ? 50 : (int)left;
}

void ag_client_set_cancel(struct ag_client *c, int (*fn)(void *), void *ud)
{
	c->cancel = fn;
	c->cancel_ud = ud;
}

/* Writes all of s and a newline before deadline; 0 or -1 with err. */
static int send_line(struct ag_client *c, const char *s, size_t len,
		     long deadline, char *err, size_t errlen)
{
	size_t off = 0;
	struct pollfd p = { c->in, POLLOUT, 0 };

	while (off <= len) {
		const char *from = off < len ? s + off : "\n";
		size_t n = off < len ? len - off : 1;
		long left = deadline - ag_now_ms();
		ssize_t w;

		if (left <= 0) {
			snprintf(err, errlen, "deadline passed while sending");
			return -1;
		}
		if (poll(&p, 1, wait_ms(c, left)) < 0 && errno != EINTR)
			goto fail;
		if (c->cancel && c->cancel(c->cancel_ud)) {
			snprintf(err, errlen, "cancelled by the caller");
			return -1;
		}
		if (!p.revents)
			continue;
		w = write(c->in, from, n);
		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (w < 0)
			goto fail;
		off += (size_t)w;
	}
	return 0;
fail:
	snprintf(err, errlen, "the relay is gone (%s)", strerror(errno));
	return -1;
}

/* The core's transport: one message to the relay (mcp_client_ops). */
static int relay_send(void *ud, const char *msg, size_t len)
{
	struct ag_client *c = ud;
	char err[128];

	if (send_line(c, msg, len, c->deadline, err, sizeof(err)) == 0)
		return 0;
	c->broken = 1;
	return -1;
}

/* Reads what the relay wrote within ms into the core; -1 once it ended. */
static int relay_pump(void *ud, int ms)
{
	struct ag_client *c = ud;
	struct pollfd p = { c->out, POLLIN, 0 };
	char buf[65536];
	ssize_t r;

	if (poll(&p, 1, ms) < 0 && errno != EINTR)
		return -1;
	if (!p.revents)
		return 0;
	r = read(c->out, buf, sizeof(buf));
	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (r <= 0) {
		c->broken = 1;
		mcp_client_fail_all(c->mc, "the relay ended (no channel to the "
					   "gateway?)");
		return -1;
	}
	return mcp_client_feed_lines(c->mc, buf, (size_t)r) == 0 ? 0 : -1;
}

json_t *ag_call(mcp_client *mc, const char *method, json_t *params,
		long deadline, int (*cancel)(void *), void *ud, int *local,
		char *err, size_t errlen)
{
	long left = deadline - ag_now_ms();
	json_t *e = NULL, *res = NULL;
	struct mcp_client_req r = { 0 };
	const char *aid;
	char m[512];
	int rc;

	*local = 1;
	if (left <= 0) {
		json_decref(params);
		snprintf(err, errlen, "no answer within the deadline");
		return NULL;
	}
	r.timeout_ms = (unsigned)left;
	r.error = &e;
	rc = mcp_client_call(mc, method, params, &r, cancel, ud, &res, m,
			     sizeof(m));
	if (rc == 0 || e) /* the server answered */
		*local = 0;
	if (rc == 0 && json_is_object(res))
		return res;
	json_decref(res);
	aid = json_string_value(
		json_object_get(json_object_get(e, "data"), "auditId"));
	if (rc == 0)
		snprintf(err, errlen, "an invalid answer");
	else if (e)
		snprintf(err, errlen, "%s%s%s%s", m, aid ? " (audit id " : "",
			 aid ? aid : "", aid ? ")" : "");
	else
		snprintf(err, errlen, "%s",
			 rc == MCP_CLIENT_E_TIMEOUT     ? "no answer within the "
							  "deadline"
			 : rc == MCP_CLIENT_E_CANCELLED ? "cancelled by the caller"
							: m);
	json_decref(e);
	return NULL;
}

/* A request on the relay's session: its result or NULL with err; a
 * failure that is not the server's answer makes the session unusable. */
static json_t *request(struct ag_client *c, const char *method, json_t *params,
		       long deadline, char *err, size_t errlen)
{
	int local;
	json_t *res;

	c->deadline = deadline;
	res = ag_call(c->mc, method, params, deadline, c->cancel, c->cancel_ud,
		      &local, err, errlen);
	if (!res && local)
		c->broken = 1;
	return res;
}

/* Ends the relay (stdin closed, a second to exit, then killed) and
 * forgets its session; the next gateway call starts a new one. */
static void relay_stop(struct ag_client *c)
{
	int st;

	mcp_client_free(c->mc);
	c->mc = NULL;
	if (c->in >= 0)
		close(c->in);
	if (c->out >= 0)
		close(c->out);
	if (c->pid > 0) {
		for (int i = 0; i < 100; i++) {
			if (waitpid(c->pid, &st, WNOHANG) == c->pid)
				goto done;
			nanosleep(&(struct timespec){ 0, 10000000 }, NULL);
		}
		kill(c->pid, SIGKILL);
		waitpid(c->pid, &st, 0);
	}
done:
	c->pid = -1;
	c->in = c->out = -1;
	c->started = c->broken = 0;
}

/* Starts the relay and runs initialize; 0, or -1 with err and the relay
 * stopped. */
static int relay_open(struct ag_client *c, long deadline, char *err,
		      size_t errlen)
{
	static const struct mcp_client_ops ops = {
		.send = relay_send, .pump = relay_pump
	};
	struct mcp_client_limits lim = { .max_message = AG_MAX_LINE };
	long left = deadline - ag_now_ms();
	char e[256];

	c->started = 1;
	c->deadline = deadline;
	if (left <= 0) {
		snprintf(err, errlen, "initialize: no time left");
		goto fail;
	}
	lim.init_timeout_ms = (unsigned)left;
	if (spawn_relay(c, c->cfg, err, errlen))
		goto fail;
	c->mc = mcp_client_new(&ops, c, &lim, c->cfg->role);
	if (!c->mc) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (mcp_client_initialize(c->mc, NULL, e, sizeof(e))) {
		snprintf(err, errlen, "initialize: %s", e);
		goto fail;
	}
	return 0;
fail:
	relay_stop(c);
	return -1;
}

struct ag_client *ag_client_open(const struct ag_config *cfg, long deadline,
				 char *err, size_t errlen)
{
	struct ag_client *c = calloc(1, sizeof(*c));

	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->cfg = cfg;
	c->pid = -1;
	c->in = c->out = -1;
	for (unsigned i = 0; i < cfg->ndirect && i < AG_MAX_DIRECT; i++) {
		c->dl[i] = ag_dlink_new(&cfg->direct[i], cfg->role,
					cfg->connect_ms, err, errlen);
		if (!c->dl[i])
			goto fail;
	}
	/* without direct zones every call goes through the gateway: the
	 * relay is started now, so that a failure shows at once */
	if (!cfg->ndirect && relay_open(c, deadline, err, errlen))
		goto fail;
	return c;
fail:
	ag_client_close(c);
	return NULL;
}

int ag_client_unreachable(const struct ag_client *c)
{
	return c->unreachable;
}

json_t *ag_client_call(struct ag_client *c, const char *name, json_t *args,
		       long deadline, char *err, size_t errlen)
{
	const char *dot = strchr(name, '.');
	json_t *p;
	char e[512];

	c->unreachable = 0;
	for (unsigned i = 0; dot && i < c->cfg->ndirect; i++) {
		const char *z = c->cfg->direct[i].zone;
		if (strlen(z) == (size_t)(dot - name) &&
		    strncmp(z, name, (size_t)(dot - name)) == 0)
			return ag_dlink_call(c->dl[i], dot + 1, args, deadline,
					     c->cancel, c->cancel_ud,
					     &c->unreachable, err, errlen);
	}
	if (!c->started && relay_open(c, deadline, e, sizeof(e))) {
		c->unreachable = 1;
		snprintf(err, errlen, "cannot reach the gateway: %s", e);
		return NULL;
	}
	p = json_pack("{s:s, s:O}", "name", name, "arguments", args);
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	return request(c, "tools/call", p, deadline, err, errlen);
}

json_t *ag_client_list(struct ag_client *c, long deadline, char *err,
		       size_t errlen)
{
	json_t *p;
	char e[512];

	/* The direct route has no merged list: each server is its own. */
	if (c->cfg->ndirect) {
		snprintf(err, errlen, "tools/list: no gateway (the direct "
				      "route lists no merged catalogue)");
		return NULL;
	}
	if (!c->started && relay_open(c, deadline, e, sizeof(e))) {
		c->unreachable = 1;
		snprintf(err, errlen, "cannot reach the gateway: %s", e);
		return NULL;
	}
	p = json_object();
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	return request(c, "tools/list", p, deadline, err, errlen);
}

int ag_client_usable(struct ag_client *c)
{
	struct pollfd p = { c->out, POLLIN, 0 };
	int st;

	if (!c->started)
		return 1;
	if (c->broken || mcp_client_broken(c->mc))
		return 0;
	if (waitpid(c->pid, &st, WNOHANG) != 0)
		return 0;
	/* a hang-up with nothing left to read: the relay's stream ended */
	if (poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR)) &&
	    !(p.revents & POLLIN))
		return 0;
	return 1;
}

void ag_client_close(struct ag_client *c)
{
	if (!c)
		return;
	/* stdin closed: the relay ends its stream and exits; one that does
	 * not within a second is killed. */
	relay_stop(c);
	for (unsigned i = 0; i < AG_MAX_DIRECT; i++)
		ag_dlink_free(c->dl[i]);
	free(c);
}

char *ag_result_text(json_t *res)
{
	json_t *content = json_object_get(res, "content"), *it;
	size_t i, n = 1;
	char *s;

	json_array_foreach (content, i, it)
		n += json_string_length(json_object_get(it, "text")) + 1;
	s = malloc(n);
	if (!s)
		return NULL;
	s[0] = '\0';
	n = 0;
	json_array_foreach (content, i, it) {
		json_t *t = json_object_get(it, "text");
		size_t l = json_string_length(t);
		if (!json_is_string(t))
			continue;
		if (n)
			s[n++] = '\n';
		memcpy(s + n, json_string_value(t), l);
		n += l;
		s[n] = '\0';
	}
	return s;
}

int ag_write_file(const char *path, const char *data, size_t len, char *err,
		  size_t errlen)
{
	char tmp[4096];
	size_t off = 0;
	int fd, n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path,
			     (long)getpid());

	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto fail;
		off += (size_t)w;
	}
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	if (rename(tmp, path) == 0)
		return 0;
	fd = -1;
fail:
	snprintf(err, errlen, "%s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return -1;
}
