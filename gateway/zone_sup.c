/* zonectl's supervisor (`zonectl up`, docs/zones.md): starts gatewayd
 * and the zones with a run block (tool zones first, then zones that are
 * both agent and tool, then agents), waits for them to be ready, owns
 * them as a child subreaper, restarts them by their policy with
 * back-off, keeps their console logs, tells the gateway of lifecycle
 * events, and answers a root-only control socket (down, ps, logs, stop,
 * start, restart, collect, reload). */
#define _GNU_SOURCE
#include "zone_sup.h"

#include "gw.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SUP_ZONES_MAX 256
#define SUP_KILL_GRACE_MS 3000 /* SIGTERM, then SIGKILL */
#define SUP_IDLE_MS 10000      /* a control client that sends nothing */
#define SUP_CFG_MAX (4u << 20)

enum zstate { Z_STOPPED, Z_RUNNING, Z_READY, Z_EXITED, Z_BACKOFF, Z_FAILED };

static const char *const zstate_name[] = { "stopped", "running", "ready",
					   "exited",  "backoff", "failed" };

struct szone {
	struct zone_run *r;
	struct zone_run *next_r; /* from a reload: used at its next start */
	int tool; /* role tool (else agent); also a zone that is both */
	int both; /* both agent and tool: started after the tool zones */
	struct zone_proc *p;
	pid_t pid;
	enum zstate st;
	int status, oom, restarts;
	int want;	 /* 0: stopped by the operator (or removed) */
	int restart_now; /* `restart ZONE`: start again once reaped */
	int killing;	 /* we sent it a signal */
	int removed;	 /* by reload: dropped once reaped */
	long backoff_ms, next_ms, started_ms, kill_at_ms;
	int logr;
	struct zone_log log;
	struct zone_report rep;
	char err[256];
};

struct cconn {
	int fd;
	long since;
	char in[SUP_REQ_MAX + 1];
	size_t ilen;
	char *out;
	size_t olen, ooff;
	char follow[64]; /* zone whose log lines it gets, "" none */
	int done;	 /* close once out is sent */
	int down;	 /* waits for `down` to finish */
};

struct sup {
	const struct sup_opts *o;
	char dir[200]; /* the control socket's path must fit sun_path */
	char admin[PATH_MAX];
	struct szone *z[SUP_ZONES_MAX];
	size_t nz;
	pid_t gw;
	int gw_status, gw_log;
	int sfd, lfd;
	struct cconn *c[SUP_CLIENTS_MAX];
	int stopping;
};

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int sup_state_dir(const char *config, char *out, size_t len)
{
	const char *e = getenv("ZONEGATE_STATE_DIR"), *b;
	size_t n;

	if (e && *e == '/')
		return snprintf(out, len, "%s", e) < (int)len ? 0 : -1;
	b = strrchr(config, '/');
	b = b ? b + 1 : config;
	n = strlen(b);
	if (n > 5 && strcmp(b + n - 5, ".json") == 0)
		n -= 5;
	if (n == 0 || n > 64)
		return -1;
	return snprintf(out, len, "/run/zonegate/%.*s", (int)n, b) < (int)len
		       ? 0
		       : -1;
}

/* ---- the gateway's admin socket ---- */

/* Sends req (one JSON line) to gatewayd's admin socket and returns its
 * parsed reply (the caller decrefs), NULL when it did not answer within
 * ms. */
static json_t *gw_ask(struct sup *s, json_t *req, int ms)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char *line = json_dumps(req, JSON_COMPACT), buf[65536];
	size_t len = 0;
	ssize_t k;
	json_t *r = NULL;
	struct pollfd pfd;
	long end = now_ms() + ms;
	int fd = -1;

	if (!line || !s->admin[0] || strlen(s->admin) >= sizeof(sa.sun_path))
		goto out;
	memcpy(sa.sun_path, s->admin, strlen(s->admin) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    write(fd, line, strlen(line)) < 0 || write(fd, "\n", 1) < 0)
		goto out;
	pfd.fd = fd;
	pfd.events = POLLIN;
	while (len < sizeof(buf) - 1 && !memchr(buf, '\n', len)) {
		int left = (int)(end - now_ms());
		if (left <= 0 || poll(&pfd, 1, left) <= 0)
			goto out;
		k = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (k <= 0)
			goto out;
		len += (size_t)k;
	}
	buf[len] = 0;
	r = json_loads(buf, JSON_DISABLE_EOF_CHECK, NULL);
out:
	if (fd >= 0)
		close(fd);
	free(line);
	return r;
}

/* Tells the gateway of a zone's lifecycle event (audit and metrics). */
static void gw_event(struct sup *s, struct szone *z, const char *ev,
		     json_t *detail)
{
	json_t *req = json_pack("{s:s,s:s,s:s,s:o}", "cmd", "zone-event",
				"zone", z->r->name, "event", ev, "detail",
				detail ? detail : json_object());

	if (s->gw > 0)
		json_decref(gw_ask(s, req, 1000));
	json_decref(req);
}

/* Whether the gateway lists tool zone name as up (its catalogue in). */
static int gw_tool_up(struct sup *s, const char *name)
{
	json_t *req = json_pack("{s:s}", "cmd", "status"), *r, *zs, *e;
	size_t i;
	int up = 0;

	r = gw_ask(s, req, 1000);
	json_decref(req);
	zs = json_object_get(r, "zones");
	json_array_foreach (zs, i, e) {
		const char *n = json_string_value(json_object_get(e, "zone"));
		const char *h = json_string_value(json_object_get(e, "health"));
		if (n && h && strcmp(n, name) == 0 && strcmp(h, "up") == 0)
			up = 1;
	}
	json_decref(r);
	return up;
}

/* Asks the gateway to connect to tool zone z at once. */
static void gw_connect(struct sup *s, struct szone *z)
{
	json_t *req =
		json_pack("{s:s,s:s}", "cmd", "connect", "zone", z->r->name);

	json_decref(gw_ask(s, req, 1000));
	json_decref(req);
}

/* ---- control clients' output ---- */

/* Queues n bytes for client c; a client over SUP_OUT_MAX is dropped
 * (a follower that does not read never holds memory). */
static void c_put(struct cconn *c, const char *b, size_t n)
{
	char *nb;

	if (c->olen - c->ooff + n > SUP_OUT_MAX) {
		c->done = 1;
		c->olen = c->ooff; /* nothing more goes out */
		shutdown(c->fd, SHUT_RDWR);
		return;
	}
	nb = realloc(c->out, c->olen + n);
	if (!nb)
		return;
	c->out = nb;
	memcpy(c->out + c->olen, b, n);
	c->olen += n;
}

/* Queues j as one line and frees it. */
static void c_reply(struct cconn *c, json_t *j)
{
	char *t = json_dumps(j, JSON_COMPACT);

	if (t) {
		c_put(c, t, strlen(t));
		c_put(c, "\n", 1);
		free(t);
	}
	json_decref(j);
}

/* err (errlen bytes) = the formatted message, cut to fit. */
__attribute__((format(printf, 3, 4))) static void
fmt_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* {"ok":false,"error":MESSAGE} */
__attribute__((format(printf, 1, 2))) static json_t *err_reply(const char *fmt,
							       ...)
{
	char m[1200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m, sizeof(m), fmt, ap);
	va_end(ap);
	return json_pack("{s:b,s:s}", "ok", 0, "error", m);
}

/* ---- zones ---- */

/* The one supervisor, for follow_cb (a zone_log line callback). */
static struct sup *the_sup;

/* A console line of zone arg goes to the clients following it. */

static void follow_cb(void *arg, const char *line, size_t n)
{
	struct szone *z = arg;

	for (size_t i = 0; the_sup && i < SUP_CLIENTS_MAX; i++) {
		struct cconn *c = the_sup->c[i];
		if (c && c->follow[0] && strcmp(c->follow, z->r->name) == 0)
			c_put(c, line, n);
	}
}

/* A supervisor note in z's log ("zonectl: ..."). */
__attribute__((format(printf, 2, 3))) static void znote(struct szone *z,
							const char *fmt, ...)
{
	char t[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t, sizeof(t), fmt, ap);
	va_end(ap);
	zone_log_note(&z->log, t, follow_cb, z);
}

static struct szone *find(struct sup *s, const char *name)
{
	for (size_t i = 0; name && i < s->nz; i++)
		if (strcmp(s->z[i]->r->name, name) == 0)
			return s->z[i];
	return NULL;
}

/* Starts z now. 0, or -1 (z->st Z_FAILED, z->err says why). */
static int z_start(struct sup *s, struct szone *z, int restarted)
{
	int pp[2];
	json_t *d;

	/* a run block changed by a reload applies from this start on (the
	 * last run's process is gone: nothing points at the old one) */
	if (z->next_r && !z->p) {
		zone_run_free(z->r);
		z->r = z->next_r;
		z->next_r = NULL;
	}
	if (pipe2(pp, O_CLOEXEC) < 0) {
		fmt_err(z->err, sizeof(z->err), "pipe: %s", strerror(errno));
		z->st = Z_FAILED;
		return -1;
	}
	z->p = zone_start(z->r, s->o->helper, s->o->bwrap, pp[1], &z->rep,
			  z->err, sizeof(z->err));
	close(pp[1]);
	if (!z->p) {
		close(pp[0]);
		z->st = Z_FAILED;
		znote(z, "zonectl: zone %s not started: %s", z->r->name,
		      z->err);
		return -1;
	}
	fcntl(pp[0], F_SETFL, O_NONBLOCK);
	if (z->logr >= 0)
		close(z->logr);
	z->logr = pp[0];
	z->pid = zone_proc_pid(z->p);
	z->st = Z_RUNNING;
	z->err[0] = 0;
	z->killing = z->restart_now = 0;
	z->started_ms = now_ms();
	znote(z, "zonectl: zone %s started, pid %d", z->r->name, (int)z->pid);
	d = json_pack("{s:i,s:b}", "pid", (int)z->pid, "sandboxed",
		      z->rep.sandboxed);
	if (restarted) {
		z->restarts++;
		json_object_set_new(d, "restarts", json_integer(z->restarts));
	}
	gw_event(s, z, restarted ? "restarted" : "started", d);
	if (z->tool) /* the gateway connects now, not after its back-off */
		gw_connect(s, z);
	return 0;
}

/* Reads what z's console pipe holds; at EOF closes it. */
static void z_drain(struct szone *z)
{
	char buf[16384];
	ssize_t k;

	while (z->logr >= 0) {
		k = read(z->logr, buf, sizeof(buf));
		if (k > 0) {
			zone_log_feed(&z->log, buf, (size_t)k, follow_cb, z);
			continue;
		}
		if (k < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		close(z->logr);
		z->logr = -1;
	}
}

/* z's process was reaped with status (shell convention). */
static void z_ended(struct sup *s, struct szone *z, int status)
{
	const char *ev;
	int fail;

	zone_proc_end(z->p, status, &z->rep);
	z->p = NULL;
	z->pid = -1;
	z->status = status;
	z->oom = z->rep.oom_killed;
	z_drain(z);
	ev = z->oom ? "oom" : z->killing ? "killed" : "exited";
	znote(z, "zonectl: zone %s ended with status %d", z->r->name, status);
	gw_event(s, z, ev,
		 json_pack("{s:i,s:b}", "status", status, "oom_killed",
			   z->oom));
	z->st = z->want ? Z_EXITED : Z_STOPPED;
	if (s->stopping || z->removed || !z->want)
		return;
	if (z->restart_now) {
		z_start(s, z, 1);
		return;
	}
	fail = status != 0 || z->oom;
	if (z->killing || z->r->restart == ZONE_RESTART_NO ||
	    (z->r->restart == ZONE_RESTART_ON_FAILURE && !fail))
		return;
	/* back-off doubles while runs stay short; a run of 10 s resets it */
	if (now_ms() - z->started_ms > 10000 || z->backoff_ms == 0)
		z->backoff_ms = SUP_BACKOFF_MIN_MS;
	else if (z->backoff_ms < SUP_BACKOFF_MAX_MS)
		z->backoff_ms *= 2;
	if (z->backoff_ms > SUP_BACKOFF_MAX_MS)
		z->backoff_ms = SUP_BACKOFF_MAX_MS;
	z->next_ms = now_ms() + z->backoff_ms;
	z->st = Z_BACKOFF;
}

/* Asks z to stop (SIGTERM; SIGKILL to its whole tree after a grace). */
static void z_kill(struct szone *z)
{
	if (!z->p)
		return;
	z->killing = 1;
	z->kill_at_ms = now_ms() + SUP_KILL_GRACE_MS;
	zone_proc_kill(z->p, SIGTERM);
}

/* Loads every zone with a run block from the config: 0, or -1 with err
 * (the whole config and each run block checked). */
/* `up --no-sandbox`: every zone runs as a plain process (reported as NOT
 * SANDBOXED); a run block that needs the sandbox is refused. */
static int no_sandbox;

static int load_zones(const char *cfg, struct szone **out, size_t *n, char *err,
		      size_t errlen)
{
	struct gw_config *gc = gw_config_load(cfg, err, errlen);
	json_t *root = NULL, *zs;
	int rc = -1;

	*n = 0;
	if (!gc)
		return -1;
	root = json_load_file(cfg, JSON_REJECT_DUPLICATES, NULL);
	zs = json_object_get(root, "zones");
	/* tool zones first, then the zones that are both, then agents
	 * (docs/zones.md, "Start order"); a zone that is both is one
	 * process: its agent side's entry stands for it */
	for (int pass = 0; pass < 3; pass++)
		for (size_t i = 0; i < gc->nzones; i++) {
			const struct gw_zone *gz = &gc->zones[i];
			struct szone *z;
			int tier = gz->both ? (gz->role == GW_AGENT ? 1 : -1)
				   : gz->role == GW_TOOL ? 0
							 : 2;
			if (tier != pass ||
			    !json_object_get(json_object_get(zs, gz->name),
					     "run"))
				continue;
			if (*n >= SUP_ZONES_MAX) {
				fmt_err(err, errlen, "more than %d zones",
					SUP_ZONES_MAX);
				goto out;
			}
			z = calloc(1, sizeof(*z));
			if (!z) {
				fmt_err(err, errlen, "out of memory");
				goto out;
			}
			out[(*n)++] = z;
			z->logr = -1;
			z->log.fd = -1;
			z->pid = -1;
			z->want = 1;
			z->tool = gz->role == GW_TOOL || gz->both;
			z->both = gz->both;
			z->r = zone_run_load(cfg, gz->name, err, errlen);
			if (!z->r)
				goto out;
			if (no_sandbox && (z->r->egress.n || z->r->nin ||
					   z->r->nro || z->r->out_zone)) {
				fmt_err(err, errlen,
					"zone %s: --no-sandbox: its run block "
					"has files or network.egress, which "
					"need the sandbox",
					gz->name);
				goto out;
			}
			if (no_sandbox)
				z->r->layers.enabled = 0;
		}
	rc = 0;
out:
	json_decref(root);
	gw_config_free(gc);
	return rc;
}

static void z_free(struct szone *z)
{
	if (!z)
		return;
	if (z->logr >= 0)
		close(z->logr);
	zone_log_close(&z->log);
	zone_run_free(z->r);
	zone_run_free(z->next_r);
	free(z);
}

/* Opens z's console log in the state directory. */
static int z_open_log(struct sup *s, struct szone *z, char *err, size_t el)
{
	char path[PATH_MAX];
	const char *cap = getenv("ZONEGATE_LOG_MAX");
	long c = 0;
	char *end;

	if (cap) {
		errno = 0;
		c = strtol(cap, &end, 10);
		if (errno || *end || c < 4096)
			c = 0;
	}
	snprintf(path, sizeof(path), "%s/logs/%s.log", s->dir, z->r->name);
	if (zone_log_open(&z->log, path, c) < 0) {
		fmt_err(err, el, "%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- ps ---- */

static json_t *z_json(const struct szone *z)
{
	const struct zone_report *p = &z->rep;
	char iso[200];

	if (!z->rep.sandboxed && !z->rep.failed)
		snprintf(iso, sizeof(iso), "%s",
			 z->r->layers.enabled ? "-" : "NOT SANDBOXED");
	else if (p->failed)
		snprintf(iso, sizeof(iso), "SANDBOX NOT APPLIED");
	else
		snprintf(iso, sizeof(iso),
			 "uid %u, ns user+mnt+pid+ipc+uts%s+cgroup, %s, "
			 "seccomp %s, landlock %s%.0d, nnp %s, caps %s",
			 (unsigned)p->uid, p->netns ? "+net" : "",
			 p->fresh_root ? "fresh root" : "HOST ROOT",
			 p->seccomp ? "yes" : "NO", p->landlock ? "ABI " : "NO",
			 p->landlock_abi, p->nnp ? "yes" : "NO",
			 p->caps_dropped ? "dropped" : "KEPT");
	return json_pack(
		"{s:s,s:s,s:i,s:i,s:s,s:i,s:i,s:b,s:b,s:s,s:s,s:{s:I,s:b,s:i,"
		"s:b,s:f,s:b,s:s},s:s}",
		"name", z->r->name, "role",
		z->both	  ? "agent+tool"
		: z->tool ? "tool"
			  : "agent",
		"domid", z->r->domid, "pid", z->p ? (int)z->pid : 0, "state",
		zstate_name[z->st], "status", z->status, "restarts",
		z->restarts, "oom_killed", z->oom, "sandboxed",
		z->rep.sandboxed, "isolation", iso, "restart",
		z->r->restart == ZONE_RESTART_NO       ? "no"
		: z->r->restart == ZONE_RESTART_ALWAYS ? "always"
						       : "on-failure",
		"limits", "memory", (json_int_t)z->r->mem, "memory_applied",
		z->rep.mem_applied, "pids", (int)z->r->pids, "pids_applied",
		z->rep.pids_applied, "cpu", z->r->cpu, "cpu_applied",
		z->rep.cpu_applied, "cgroup", z->rep.cgroup, "error", z->err);
}

static json_t *ps_json(struct sup *s)
{
	json_t *a = json_array();

	for (size_t i = 0; i < s->nz; i++)
		json_array_append_new(a, z_json(s->z[i]));
	return json_pack("{s:b,s:o,s:{s:i,s:s},s:s}", "ok", 1, "zones", a,
			 "gatewayd", "pid", s->gw > 0 ? (int)s->gw : 0, "state",
			 s->gw > 0 ? "running" : "exited", "config",
			 s->o->config);
}

/* ---- control requests ---- */

static void do_reload(struct sup *s, struct cconn *c);

/* Handles one request line of client c. */
static void handle(struct sup *s, struct cconn *c, const char *line)
{
	json_t *req = json_loads(line, JSON_REJECT_DUPLICATES, NULL);
	const char *cmd = json_string_value(json_object_get(req, "cmd"));
	const char *zn = json_string_value(json_object_get(req, "zone"));
	struct szone *z = find(s, zn);
	char msg[300];
	json_int_t n;
	char *t;

	c->done = 1;
	if (!json_is_object(req) || !cmd) {
		c_reply(c, err_reply("expected one JSON object with \"cmd\""));
	} else if (strcmp(cmd, "ps") == 0) {
		c_reply(c, ps_json(s));
	} else if (strcmp(cmd, "down") == 0) {
		s->stopping = 1;
		c->down = 1;
		c->done = 0;
	} else if (strcmp(cmd, "reload") == 0) {
		do_reload(s, c);
	} else if (strcmp(cmd, "logs") && strcmp(cmd, "stop") &&
		   strcmp(cmd, "start") && strcmp(cmd, "restart") &&
		   strcmp(cmd, "collect")) {
		c_reply(c, err_reply("unknown command (ps, down, logs, stop, "
				     "start, restart, collect, reload)"));
	} else if (!z) {
		c_reply(c, zn ? err_reply("no supervised zone '%.64s'", zn)
			      : err_reply("\"zone\" missing"));
	} else if (strcmp(cmd, "logs") == 0) {
		n = json_integer_value(json_object_get(req, "n"));
		if (!json_object_get(req, "n"))
			n = 50;
		if (n < 0 || n > SUP_TAIL_MAX) {
			c_reply(c, err_reply("n: 0 to %d lines", SUP_TAIL_MAX));
			goto out;
		}
		c_reply(c, json_pack("{s:b}", "ok", 1));
		t = n ? zone_log_tail(&z->log, (long)n) : NULL;
		if (t)
			c_put(c, t, strlen(t));
		free(t);
		if (json_is_true(json_object_get(req, "follow"))) {
			snprintf(c->follow, sizeof(c->follow), "%s",
				 z->r->name);
			c->done = 0;
		}
	} else if (strcmp(cmd, "stop") == 0) {
		z->want = 0;
		if (z->st == Z_BACKOFF)
			z->st = Z_STOPPED;
		z_kill(z);
		c_reply(c, json_pack("{s:b,s:s}", "ok", 1, "zone", zn));
	} else if (strcmp(cmd, "start") == 0 || strcmp(cmd, "restart") == 0) {
		z->want = 1;
		if (z->p) {
			if (cmd[0] == 'r') {
				z_kill(z);
				z->restart_now = 1;
			}
		} else if (z_start(s, z, cmd[0] == 'r') < 0) {
			c_reply(c, err_reply("%s", z->err));
			goto out;
		}
		c_reply(c, json_pack("{s:b,s:s}", "ok", 1, "zone", zn));
	} else { /* collect */
		if (!z->p)
			c_reply(c, err_reply("zone %.64s is not running", zn));
		else if (zone_proc_collect(z->p, msg, sizeof(msg)) < 0)
			c_reply(c, err_reply("%s", msg));
		else
			c_reply(c, json_pack("{s:b,s:s}", "ok", 1, "message",
					     msg));
	}
out:
	json_decref(req);
}

/* reload: the config read again whole (kept as it was on any error);
 * new zones' run blocks start, removed zones stop; then gatewayd reloads
 * its own part. Zones whose run block changed keep running as they are
 * until restarted; the new block is kept for that (docs/zones.md). */
static void do_reload(struct sup *s, struct cconn *c)
{
	struct szone *nz[SUP_ZONES_MAX];
	size_t n = 0, added = 0, removed = 0;
	char err[1024];
	json_t *r, *res;

	if (load_zones(s->o->config, nz, &n, err, sizeof(err)) < 0) {
		for (size_t i = 0; i < n; i++)
			z_free(nz[i]);
		if (c)
			c_reply(c, err_reply("config kept: %s", err));
		return;
	}
	for (size_t i = 0; i < s->nz; i++) {
		int keep = 0;
		for (size_t j = 0; j < n; j++)
			keep |= strcmp(nz[j]->r->name, s->z[i]->r->name) == 0;
		if (!keep && !s->z[i]->removed) {
			s->z[i]->removed = 1;
			s->z[i]->want = 0;
			z_kill(s->z[i]);
			removed++;
		}
	}
	r = json_pack("{s:s}", "cmd", "reload");
	res = gw_ask(s, r, 5000);
	json_decref(r);
	for (size_t j = 0; j < n; j++) {
		struct szone *old = find(s, nz[j]->r->name);

		if (old && !old->removed) {
			zone_run_free(old->next_r);
			old->next_r = nz[j]->r;
			nz[j]->r = NULL;
			z_free(nz[j]);
			continue;
		}
		if (old || s->nz >= SUP_ZONES_MAX ||
		    z_open_log(s, nz[j], err, sizeof(err)) < 0) {
			z_free(nz[j]);
			continue;
		}
		s->z[s->nz++] = nz[j];
		zone_endpoint_make(nz[j]->r);
		z_start(s, nz[j], 0);
		added++;
	}
	if (c)
		c_reply(c, json_pack("{s:b,s:I,s:I,s:O?}", "ok", 1, "added",
				     (json_int_t)added, "removed",
				     (json_int_t)removed, "gateway", res));
	json_decref(res);
}

/* ---- the loop ---- */

static void c_close(struct sup *s, size_t i)
{
	close(s->c[i]->fd);
	free(s->c[i]->out);
	free(s->c[i]);
	s->c[i] = NULL;
}

/* A new control connection: root (or the supervisor's uid) only. */
static void c_accept(struct sup *s)
{
	struct ucred cr;
	socklen_t cl = sizeof(cr);
	int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	size_t i;

	if (fd < 0)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) < 0 ||
	    (cr.uid != 0 && cr.uid != geteuid())) {
		close(fd);
		return;
	}
	for (i = 0; i < SUP_CLIENTS_MAX && s->c[i]; i++)
		;
	if (i == SUP_CLIENTS_MAX) {
		close(fd);
		return;
	}
	s->c[i] = calloc(1, sizeof(*s->c[i]));
	if (!s->c[i]) {
		close(fd);
		return;
	}
	s->c[i]->fd = fd;
	s->c[i]->since = now_ms();
}

/* Reads client i's request; one line (at most SUP_REQ_MAX) is handled,
 * anything after it ignored. */
static void c_read(struct sup *s, size_t i)
{
	struct cconn *c = s->c[i];
	ssize_t k;
	char *nl;

	if (c->done || c->down || c->follow[0]) {
		char junk[512];
		k = read(c->fd, junk, sizeof(junk));
		if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR))
			c_close(s, i);
		return;
	}
	k = read(c->fd, c->in + c->ilen, SUP_REQ_MAX - c->ilen);
	if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR)) {
		c_close(s, i);
		return;
	}
	if (k < 0)
		return;
	c->ilen += (size_t)k;
	c->in[c->ilen] = 0;
	nl = memchr(c->in, '\n', c->ilen);
	if (nl) {
		*nl = 0;
		handle(s, c, c->in);
	} else if (c->ilen >= SUP_REQ_MAX) {
		c->done = 1;
		c_reply(c,
			err_reply("request longer than %d bytes", SUP_REQ_MAX));
	} else if (memchr(c->in, 0, c->ilen)) {
		c->done = 1;
		c_reply(c, err_reply("NUL byte in the request"));
	}
}

static void c_write(struct sup *s, size_t i)
{
	struct cconn *c = s->c[i];
	ssize_t k;

	if (c->olen > c->ooff) {
		k = write(c->fd, c->out + c->ooff, c->olen - c->ooff);
		if (k < 0 && errno != EAGAIN && errno != EINTR) {
			c_close(s, i);
			return;
		}
		if (k > 0)
			c->ooff += (size_t)k;
	}
	if (c->ooff == c->olen) {
		c->ooff = c->olen = 0;
		if (c->done)
			c_close(s, i);
	}
}

/* Reaps every child that ended (zones, gatewayd, orphans it adopted). */
static void reap(struct sup *s)
{
	int st, status;
	pid_t pid;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		status = WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
		if (pid == s->gw) {
			s->gw = -1;
			s->gw_status = status;
			fprintf(stderr, "zonectl: gatewayd ended (%d)\n",
				status);
			continue;
		}
		for (size_t i = 0; i < s->nz; i++)
			if (s->z[i]->p && s->z[i]->pid == pid)
				z_ended(s, s->z[i], status);
	}
}

/* Timers: back-off restarts, SIGKILL after the grace, removed zones,
 * readiness of zones started since `up` (polled every half second). */
static void timers(struct sup *s)
{
	static long last_ready;
	long now = now_ms();

	for (size_t i = 0; now - last_ready >= 500 && i < s->nz; i++) {
		struct szone *z = s->z[i];
		if (z->st == Z_RUNNING && !z->killing &&
		    (!z->tool || gw_tool_up(s, z->r->name)))
			z->st = Z_READY;
	}
	if (now - last_ready >= 500)
		last_ready = now;

	for (size_t i = 0; i < s->nz; i++) {
		struct szone *z = s->z[i];
		if (z->st == Z_BACKOFF && now >= z->next_ms && !s->stopping)
			z_start(s, z, 1);
		if (z->p && z->killing && now >= z->kill_at_ms)
			zone_proc_kill(z->p, SIGKILL);
	}
	for (size_t i = 0; i < s->nz;) {
		if (s->z[i]->removed && !s->z[i]->p) {
			z_free(s->z[i]);
			s->z[i] = s->z[--s->nz];
			continue;
		}
		i++;
	}
	for (size_t i = 0; i < SUP_CLIENTS_MAX; i++)
		if (s->c[i] && !s->c[i]->follow[0] && !s->c[i]->down &&
		    now - s->c[i]->since > SUP_IDLE_MS)
			c_close(s, i);
}

/* One round of the loop: waits up to ms for anything to do. */
static void step(struct sup *s, int ms)
{
	struct pollfd pf[2 + SUP_ZONES_MAX + SUP_CLIENTS_MAX];
	struct signalfd_siginfo si;
	size_t n = 0, zi[SUP_ZONES_MAX], ci[SUP_CLIENTS_MAX], nzp = 0, ncp = 0;

	pf[n++] = (struct pollfd){ s->sfd, POLLIN, 0 };
	pf[n++] = (struct pollfd){ s->lfd, POLLIN, 0 };
	for (size_t i = 0; i < s->nz; i++)
		if (s->z[i]->logr >= 0) {
			zi[nzp++] = i;
			pf[n++] = (struct pollfd){ s->z[i]->logr, POLLIN, 0 };
		}
	for (size_t i = 0; i < SUP_CLIENTS_MAX; i++)
		if (s->c[i]) {
			ci[ncp++] = i;
			pf[n++] = (struct pollfd){
				s->c[i]->fd,
				(short)(POLLIN |
					(s->c[i]->olen > s->c[i]->ooff ? POLLOUT
								       : 0)),
				0
			};
		}
	if (poll(pf, n, ms) < 0 && errno != EINTR)
		return;
	if (pf[0].revents & POLLIN) {
		while (read(s->sfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGHUP)
				do_reload(s, NULL);
			else if (si.ssi_signo != SIGCHLD)
				s->stopping = 1;
		}
	}
	reap(s);
	if (pf[1].revents & POLLIN)
		c_accept(s);
	for (size_t k = 0; k < nzp; k++)
		if (pf[2 + k].revents && zi[k] < s->nz)
			z_drain(s->z[zi[k]]);
	for (size_t k = 0; k < ncp; k++) {
		short re = pf[2 + nzp + k].revents;
		size_t i = ci[k];
		if (s->c[i] && (re & (POLLIN | POLLHUP | POLLERR)))
			c_read(s, i);
		if (s->c[i] && (re & POLLOUT))
			c_write(s, i);
	}
	for (size_t i = 0; i < SUP_CLIENTS_MAX; i++)
		if (s->c[i] && s->c[i]->olen > s->c[i]->ooff)
			c_write(s, i);
	timers(s);
}

/* ---- up and down ---- */

/* Starts gatewayd with its output in the state directory and waits for
 * its ready file. 0, or -1 with err. */
static int gw_start(struct sup *s, char *err, size_t el)
{
	char ready[PATH_MAX], logp[PATH_MAX], buf[16] = "";
	int fd;
	long end = now_ms() + SUP_READY_MS;

	snprintf(ready, sizeof(ready), "%s/gatewayd.ready", s->dir);
	snprintf(logp, sizeof(logp), "%s/logs/gatewayd.log", s->dir);
	unlink(ready);
	s->gw_log = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	s->gw = fork();
	if (s->gw < 0) {
		fmt_err(err, el, "fork: %s", strerror(errno));
		return -1;
	}
	if (s->gw == 0) {
		fd = open("/dev/null", O_RDONLY);
		if (fd >= 0)
			dup2(fd, 0);
		if (s->gw_log >= 0) {
			dup2(s->gw_log, 1);
			dup2(s->gw_log, 2);
		}
		setsid();
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		execl(s->o->gatewayd, "gatewayd", "--config", s->o->config,
		      "--ready-file", ready, (char *)NULL);
		fprintf(stderr, "zonectl: %s: %s\n", s->o->gatewayd,
			strerror(errno));
		_exit(127);
	}
	while (now_ms() < end && s->gw > 0) {
		fd = open(ready, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			ssize_t k = read(fd, buf, sizeof(buf) - 1);
			close(fd);
			if (k >= 5 && strncmp(buf, "ready", 5) == 0)
				return 0;
		}
		step(s, 50);
	}
	fmt_err(err, el, "gatewayd did not become ready (see %s)", logp);
	return -1;
}

/* Waits until every started zone is ready: a tool zone once the gateway
 * has its catalogue, an agent zone once it runs; a zone that ended is
 * reported as such and not waited for. */
static void wait_ready(struct sup *s, int tools)
{
	long end = now_ms() + SUP_READY_MS;
	int pending = 1;

	while (pending && now_ms() < end) {
		pending = 0;
		for (size_t i = 0; i < s->nz; i++) {
			struct szone *z = s->z[i];
			if (z->tool != tools || z->st != Z_RUNNING)
				continue;
			if (!tools || gw_tool_up(s, z->r->name))
				z->st = Z_READY;
			else
				pending = 1;
		}
		if (pending)
			step(s, 50);
	}
}

/* z's place in the start order: 0 tool zones, 1 zones that are both,
 * 2 agents. */
static int tier(const struct szone *z)
{
	return z->both ? 1 : z->tool ? 0 : 2;
}

/* Stops everything in reverse order: agents, then the zones that are
 * both, then tool zones, then gatewayd; SIGKILL to what is left after
 * the grace. */
static void down(struct sup *s)
{
	long end;

	for (int t = 2; t >= 0; t--) {
		for (size_t i = s->nz; i-- > 0;)
			if (tier(s->z[i]) == t) {
				s->z[i]->want = 0;
				if (s->z[i]->st == Z_BACKOFF)
					s->z[i]->st = Z_STOPPED;
				z_kill(s->z[i]);
			}
		end = now_ms() + SUP_KILL_GRACE_MS + 2000;
		for (;;) {
			int left = 0;
			for (size_t i = 0; i < s->nz; i++)
				left |= tier(s->z[i]) == t && s->z[i]->p;
			if (!left || now_ms() > end)
				break;
			step(s, 50);
		}
	}
	if (s->gw > 0) {
		kill(s->gw, SIGTERM);
		end = now_ms() + 12000;
		while (s->gw > 0 && now_ms() < end)
			step(s, 50);
		if (s->gw > 0)
			kill(s->gw, SIGKILL);
		while (s->gw > 0)
			step(s, 50);
	}
}

/* The state directory (0700), its lock (a second `up` refuses), the pid
 * file and the control socket (0600). Returns the lock fd, or -1. */
static int state_open(struct sup *s, char *err, size_t el)
{
	char p[PATH_MAX], pid[32];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int lock, fd;

	if (sup_state_dir(s->o->config, s->dir, sizeof(s->dir)) < 0) {
		fmt_err(err, el, "state directory name too long");
		return -1;
	}
	for (char *q = s->dir + 1; (q = strchr(q, '/')); q++) {
		*q = 0;
		mkdir(s->dir, 0755);
		*q = '/';
	}
	/* 0711: bubblewrap, as a zone's uid, must pass through to the
	 * zone's staging directory in stage/; nothing here is readable or
	 * writable by others */
	if ((mkdir(s->dir, 0711) < 0 && errno != EEXIST) ||
	    chmod(s->dir, 0711) < 0) {
		fmt_err(err, el, "%s: %s", s->dir, strerror(errno));
		return -1;
	}
	snprintf(p, sizeof(p), "%s/logs", s->dir);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/lock", s->dir);
	lock = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (lock < 0 || flock(lock, LOCK_EX | LOCK_NB) < 0) {
		fmt_err(err, el,
			"a supervisor already runs for this config (%s "
			"is locked): use zonectl down first",
			p);
		if (lock >= 0)
			close(lock);
		return -1;
	}
	/* the staging directories of the zones (files.out) are made in
	 * stage/; what a supervisor that died left there goes now */
	fmt_err(p, sizeof(p), "%s/stage", s->dir);
	zone_rm_tree(AT_FDCWD, p, 0);
	if (mkdir(p, 0711) < 0 || setenv("TMPDIR", p, 1) < 0) {
		fmt_err(err, el, "%s: %s", p, strerror(errno));
		close(lock);
		return -1;
	}
	fmt_err(p, sizeof(p), "%s/supervisor.pid", s->dir);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd >= 0) {
		snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
		if (write(fd, pid, strlen(pid)) < 0)
			fprintf(stderr, "zonectl: %s: %s\n", p,
				strerror(errno));
		close(fd);
	}
	if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/control.sock",
		     s->dir) >= (int)sizeof(sa.sun_path)) {
		fmt_err(err, el, "%s/control.sock: path too long", s->dir);
		close(lock);
		return -1;
	}
	unlink(sa.sun_path); /* ours: we hold the lock */
	s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->lfd < 0 ||
	    bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(sa.sun_path, 0600) < 0 || listen(s->lfd, 16) < 0) {
		fmt_err(err, el, "%s: %s", sa.sun_path, strerror(errno));
		close(lock);
		return -1;
	}
	return lock;
}

/* Validates the config and policy as gatewayd would (gatewayd --check). */
static int check_config(const struct sup_opts *o, char *err, size_t el)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);
		if (fd >= 0)
			dup2(fd, 1);
		execl(o->gatewayd, "gatewayd", "--check", "--config", o->config,
		      (char *)NULL);
		fprintf(stderr, "zonectl: %s: %s\n", o->gatewayd,
			strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	fmt_err(err, el, "the config or policy is not valid (above)");
	return -1;
}

/* Detaching: the parent waits for the daemon's word that all is up. */
static int detach(int *notify)
{
	int p[2];
	char b = 0;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0) {
		close(p[1]);
		_exit(read(p[0], &b, 1) == 1 && b == '0' ? 0 : 1);
	}
	close(p[0]);
	setsid();
	*notify = p[1];
	return 0;
}

static int setup(struct sup *s, char *err, size_t el)
{
	struct gw_config *gc;
	sigset_t ss;

	gc = gw_config_load(s->o->config, err, el);
	if (!gc)
		return -1;
	if (!gc->admin_socket) {
		fmt_err(err, el,
			"%s: zonectl up needs \"admin_socket\" in the config "
			"(readiness and lifecycle events go through it)",
			s->o->config);
		gw_config_free(gc);
		return -1;
	}
	snprintf(s->admin, sizeof(s->admin), "%s", gc->admin_socket);
	gw_config_free(gc);
	sigemptyset(&ss);
	sigaddset(&ss, SIGCHLD);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGHUP);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	signal(SIGPIPE, SIG_IGN);
	s->sfd = signalfd(-1, &ss, SFD_NONBLOCK | SFD_CLOEXEC);
	/* orphans of a zone's tree come to us, not to init */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	return s->sfd < 0 ? -1 : 0;
}

/* Unblocks the signals in a child before it execs (zones, gatewayd). */
static void child_sigs(void)
{
	sigset_t ss;

	sigemptyset(&ss);
	sigprocmask(SIG_SETMASK, &ss, NULL);
}

int sup_up(const struct sup_opts *o)
{
	static struct sup sup;
	struct sup *s = &sup;
	char err[1024];
	int lock = -1, notify = -1, rc = 1;
	json_t *ps;
	char *t;

	s->o = o;
	s->gw = -1;
	s->sfd = s->lfd = s->gw_log = -1;
	no_sandbox = o->no_sandbox;
	the_sup = s;
	if (check_config(o, err, sizeof(err)) < 0 ||
	    load_zones(o->config, s->z, &s->nz, err, sizeof(err)) < 0)
		goto fail;
	if (o->detach && detach(&notify) < 0) {
		fmt_err(err, sizeof(err), "cannot detach: %s", strerror(errno));
		goto fail;
	}
	lock = state_open(s, err, sizeof(err));
	if (lock < 0 || setup(s, err, sizeof(err)) < 0)
		goto fail;
	pthread_atfork(NULL, NULL, child_sigs);
	for (size_t i = 0; i < s->nz; i++) {
		if (z_open_log(s, s->z[i], err, sizeof(err)) < 0)
			goto fail;
		zone_cg_sweep(s->z[i]->r->name);
		if (zone_endpoint_make(s->z[i]->r) < 0) {
			fmt_err(err, sizeof(err),
				"zone %s: cannot make its rendezvous "
				"directory: %s",
				s->z[i]->r->name, strerror(errno));
			goto fail;
		}
	}
	for (size_t i = 0; i < s->nz; i++)
		if (s->z[i]->tool && !s->z[i]->both)
			z_start(s, s->z[i], 0);
	if (gw_start(s, err, sizeof(err)) < 0)
		goto fail;
	for (size_t i = 0; i < s->nz; i++) /* the gateway connects at once */
		if (s->z[i]->tool && !s->z[i]->both && s->z[i]->p) {
			gw_connect(s, s->z[i]);
			gw_event(s, s->z[i], "started",
				 json_pack("{s:i,s:b}", "pid",
					   (int)s->z[i]->pid, "sandboxed",
					   s->z[i]->rep.sandboxed));
		}
	wait_ready(s, 1);
	/* then the zones that are both (their agent side may call the tool
	 * zones at once; z_start has the gateway connect to their tool
	 * side), ready when the gateway has their catalogue */
	for (size_t i = 0; i < s->nz; i++)
		if (s->z[i]->both)
			z_start(s, s->z[i], 0);
	wait_ready(s, 1);
	for (size_t i = 0; i < s->nz; i++)
		if (!s->z[i]->tool)
			z_start(s, s->z[i], 0);
	wait_ready(s, 0);
	ps = ps_json(s);
	if (o->json) {
		t = json_dumps(ps, JSON_COMPACT);
		if (t)
			printf("%s\n", t);
		free(t);
	} else {
		t = json_dumps(ps, JSON_COMPACT);
		if (t)
			sup_print_table(t);
		free(t);
		printf("supervisor pid %d, state %s\n", (int)getpid(), s->dir);
	}
	json_decref(ps);
	fflush(stdout);
	if (notify >= 0) { /* detached: its own messages to a log file */
		char lp[PATH_MAX];
		int nul = open("/dev/null", O_RDWR | O_CLOEXEC), lf;
		fmt_err(lp, sizeof(lp), "%s/logs/supervisor.log", s->dir);
		lf = open(lp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (write(notify, "0", 1) < 0)
			fprintf(stderr, "zonectl: cannot tell the parent\n");
		close(notify);
		notify = -1;
		if (nul >= 0)
			dup2(nul, 0);
		if (lf >= 0 || nul >= 0) {
			dup2(lf >= 0 ? lf : nul, 1);
			dup2(lf >= 0 ? lf : nul, 2);
		}
		if (nul >= 0)
			close(nul);
		if (lf >= 0)
			close(lf);
	}
	while (!s->stopping)
		step(s, 200);
	down(s);
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "zonectl: %s\n", err);
	if (s->sfd >= 0)
		down(s);
out:
	for (size_t i = 0; i < SUP_CLIENTS_MAX; i++)
		if (s->c[i]) {
			if (s->c[i]->down) {
				c_reply(s->c[i], json_pack("{s:b}", "ok", 1));
				c_write(s, i);
			}
			if (s->c[i])
				c_close(s, i);
		}
	if (s->lfd >= 0) {
		char p[PATH_MAX];
		fmt_err(p, sizeof(p), "%s/control.sock", s->dir);
		unlink(p);
		close(s->lfd);
		fmt_err(p, sizeof(p), "%s/supervisor.pid", s->dir);
		unlink(p);
	}
	for (size_t i = 0; i < s->nz; i++)
		z_free(s->z[i]);
	if (s->gw_log >= 0)
		close(s->gw_log);
	if (s->sfd >= 0)
		close(s->sfd);
	if (lock >= 0)
		close(lock);
	return rc;
}
