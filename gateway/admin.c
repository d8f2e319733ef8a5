/* The admin interfaces: a unix socket speaking one JSON request and one
 * JSON reply per line (status, stats, reload, pin, unpin, and zonectl's
 * zone-event and connect), where the
 * peer's uid (SO_PEERCRED) decides whether it may change anything; and
 * the metrics endpoint (Prometheus text, health, readiness) on
 * libmicrohttpd, bound to loopback or a unix socket. */
#define _GNU_SOURCE
#include "gwd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define ADMIN_CONNS_MAX 16
#define ADMIN_LINE_MAX 65536
/* An admin connection is closed after ADMIN_IDLE_MS without progress
 * (no request byte read, no reply byte taken by the peer) and, however
 * slowly it progresses, ADMIN_LIFE_MS after it was accepted. */
#define ADMIN_IDLE_MS 5000
#define ADMIN_LIFE_MS 60000
/* The metrics endpoint has no authentication, so every connection may be
 * hostile: at most METRICS_CONNS_MAX are kept, and a new one over that
 * evicts the oldest idle one (no request being answered), else the oldest
 * one, so idle connections can never lock a scraper out. libmicrohttpd's
 * own limit is higher, leaving room for evicted connections that are
 * still being closed; any connection is closed after METRICS_TIMEOUT s
 * without traffic. */
#define METRICS_CONNS_MAX 32
#define METRICS_MHD_LIMIT 128
#define METRICS_TIMEOUT 5
/* zone-event: counted per (configured zone, event); its detail is a
 * small flat object. */
#define ZEV_ZONES_MAX 1024
#define ZEV_DETAIL_KEYS 8
#define ZEV_DETAIL_STR 128

static const char *const zev_names[] = { "started", "exited", "killed", "oom",
					 "restarted" };
#define ZEV_N (sizeof(zev_names) / sizeof(*zev_names))

/* The lifecycle events counted for one zone. */
struct zev {
	char zone[GW_ZONE_NAME_MAX + 1];
	uint64_t n[ZEV_N];
};

struct aconn {
	int fd;
	uid_t uid;
	gid_t gid;
	int64_t since; /* accepted */
	int64_t last;  /* last progress */
	size_t len;
	char *out; /* the reply being sent; NULL while reading */
	size_t olen, ooff;
	char buf[ADMIN_LINE_MAX];
};

/* One metrics connection (libmicrohttpd's socket context); on
 * gw_admin.mconns, newest first, while open. */
struct mconn {
	struct mconn *prev, *next;
	int fd;
	int busy;    /* a request is being answered */
	int evicted; /* shut down, waiting for libmicrohttpd to close it */
};

struct gw_admin {
	struct gw *g;
	int lfd;
	struct aconn *c[ADMIN_CONNS_MAX];
	struct MHD_Daemon *mhd;
	int mfd; /* unix listening socket handed to libmicrohttpd */
	char metrics_url[300];
	pthread_mutex_t mmu; /* guards mconns, nmconns */
	int mmu_init;
	struct mconn *mconns;
	unsigned nmconns; /* open and not evicted */
	struct zev *zev;  /* under mmu: the HTTP thread reads it */
	size_t nzev;
};

/* ---- admin socket ---------------------------------------------------------- */

static int unix_listen(const char *path, mode_t mode, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	/* A stale socket from an earlier run goes; any other file stays
	 * and we refuse (a typo must not delete the policy). */
	if (gw_unix_path_free(path, err, errlen))
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		goto fail;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    chmod(path, mode) != 0 || listen(fd, 16) != 0)
		goto fail;
	return fd;
fail:
	snprintf(err, errlen, "%s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

/* root, gatewayd's own user, or a member of the configured admin group. */
static int privileged(const struct gw *g, uid_t uid, gid_t gid)
{
	struct passwd *pw;
	gid_t groups[256];
	int n = 256;

	if (uid == 0 || uid == geteuid())
		return 1;
	if (!g->cfg->has_admin_gid)
		return 0;
	if (gid == g->cfg->admin_gid)
		return 1;
	pw = getpwuid(uid);
	if (!pw || getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) < 0)
		return 0;
	for (int i = 0; i < n; i++)
		if (groups[i] == g->cfg->admin_gid)
			return 1;
	return 0;
}

static json_t *ok(void)
{
	return json_pack("{s:b}", "ok", 1);
}

static json_t *fail(const char *msg)
{
	return json_pack("{s:b,s:s}", "ok", 0, "error", msg);
}

/* Whether detail is a flat object of at most ZEV_DETAIL_KEYS short
 * [a-z_] keys with integer, boolean or short string values. */
static int zev_detail_ok(const json_t *detail)
{
	const char *k;
	json_t *v;

	if (!json_is_object(detail) ||
	    json_object_size(detail) > ZEV_DETAIL_KEYS)
		return 0;
	json_object_foreach ((json_t *)detail, k, v) {
		if (strlen(k) == 0 || strlen(k) > 32 ||
		    strspn(k, "abcdefghijklmnopqrstuvwxyz_") != strlen(k))
			return 0;
		if (!json_is_integer(v) && !json_is_boolean(v) &&
		    !(json_is_string(v) &&
		      json_string_length(v) <= ZEV_DETAIL_STR))
			return 0;
	}
	return 1;
}

/* Counts event ev (an index of zev_names) for configured zone name. */
static void zev_count(struct gw_admin *a, const char *name, size_t ev)
{
	size_t i;
	struct zev *nz;

	if (a->mmu_init) /* else no HTTP thread reads it */
		pthread_mutex_lock(&a->mmu);
	for (i = 0; i < a->nzev && strcmp(a->zev[i].zone, name); i++)
		;
	if (i == a->nzev && a->nzev < ZEV_ZONES_MAX) {
		nz = realloc(a->zev, (a->nzev + 1) * sizeof(*nz));
		if (nz) {
			a->zev = nz;
			memset(&nz[i], 0, sizeof(*nz));
			snprintf(nz[i].zone, sizeof(nz[i].zone), "%s", name);
			a->nzev++;
		}
	}
	if (i < a->nzev)
		a->zev[i].n[ev]++;
	if (a->mmu_init)
		pthread_mutex_unlock(&a->mmu);
}

/* {"cmd":"zone-event","zone":Z,"event":E,"detail":{...}} from zonectl:
 * audited as method zone/E and counted; the zone must be configured and
 * E one of zev_names, so neither label carries the caller's text. */
static json_t *zone_event(struct gw_admin *a, json_t *req)
{
	const char *zone = json_string_value(json_object_get(req, "zone"));
	const char *ev = json_string_value(json_object_get(req, "event"));
	json_t *detail = json_object_get(req, "detail"), *r;
	const struct gw_zone *z = zone ? gw_config_zone(a->g->cfg, zone) : NULL;
	char method[32], aid[40];
	size_t e;

	if (!z)
		return fail("zone-event: \"zone\" must name a configured zone");
	for (e = 0; ev && e < ZEV_N && strcmp(ev, zev_names[e]); e++)
		;
	if (!ev || e == ZEV_N)
		return fail("zone-event: \"event\" must be started, exited, "
			    "killed, oom or restarted");
	if (detail && !zev_detail_ok(detail))
		return fail("zone-event: \"detail\" must be an object of at "
			    "most 8 [a-z_] keys with integer, boolean or "
			    "short string values");
	snprintf(method, sizeof(method), "zone/%s", zev_names[e]);
	r = json_pack("{s:s,s:s,s:s,s:O?}", "zone", z->name, "method", method,
		      "decision", "event", "detail", detail);
	if (!r)
		return fail("out of memory");
	gw_audit_new_id(a->g->audit, aid, sizeof(aid));
	json_object_set_new(r, "id", json_string(aid));
	gw_audit_append(a->g->audit, r);
	json_decref(r);
	zev_count(a, z->name, e);
	return ok();
}

/* The zone event counters as a Prometheus family (malloc'd). */
static char *zev_prometheus(struct gw_admin *a)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	fprintf(f, "# HELP zonegate_zone_events_total Zone lifecycle events "
		   "reported by zonectl.\n"
		   "# TYPE zonegate_zone_events_total counter\n");
	pthread_mutex_lock(&a->mmu);
	for (size_t i = 0; i < a->nzev; i++)
		for (size_t e = 0; e < ZEV_N; e++)
			if (a->zev[i].n[e])
				fprintf(f,
					"zonegate_zone_events_total{zone=\"%s\","
					"event=\"%s\"} %llu\n",
					a->zev[i].zone, zev_names[e],
					(unsigned long long)a->zev[i].n[e]);
	pthread_mutex_unlock(&a->mmu);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static json_t *handle(struct gw_admin *a, struct aconn *c, const char *line)
{
	struct gw *g = a->g;
	json_t *req = json_loads(line, JSON_REJECT_DUPLICATES, NULL), *r;
	const char *cmd = json_string_value(json_object_get(req, "cmd"));
	const char *zone = json_string_value(json_object_get(req, "zone"));
	char err[1024];

	if (!cmd) {
		r = fail("expected {\"cmd\":...}");
	} else if (strcmp(cmd, "status") == 0) {
		r = ok();
		json_object_set_new(r, "zones", gw_route_status(g));
		json_object_set_new(r, "policy",
				    json_pack("{s:s,s:I,s:I,s:i,s:s}", "path",
					      g->cfg->policy, "rules",
					      (json_int_t)policy_nrules(g->pol),
					      "loads",
					      (json_int_t)g->policy_loads,
					      "reload_errors", g->policy_errors,
					      "last_error", g->policy_error));
		json_object_set_new(r, "audit_head",
				    json_string(gw_audit_head(g->audit)));
		json_object_set_new(r, "metrics_url",
				    json_string(a->metrics_url));
	} else if (strcmp(cmd, "stats") == 0) {
		r = ok();
		json_object_set_new(r, "stats", gw_metrics_json(g->met));
	} else if (!privileged(g, c->uid, c->gid)) {
		r = fail("permission denied: only root or the admin group may "
			 "change the gateway");
	} else if (strcmp(cmd, "reload") == 0) {
		r = gw_reload(g, err, sizeof(err)) ? fail(err) : ok();
	} else if (strcmp(cmd, "audit-rotate") == 0) {
		r = gw_audit_rotate(g->audit, "gatewayctl", err, sizeof(err))
			    ? fail("the audit log could not be rotated (no "
				   "audit_log, or see gatewayd's log)")
			    : json_pack("{s:b,s:s}", "ok", 1, "rotated", err);
	} else if (strcmp(cmd, "zone-event") == 0) {
		r = zone_event(a, req);
	} else if (strcmp(cmd, "connect") == 0) {
		r = !zone ? fail("connect: \"zone\" missing")
		    : gw_route_connect_now(g, zone, err, sizeof(err))
			    ? fail(err)
			    : ok();
	} else if ((strcmp(cmd, "pin") == 0 || strcmp(cmd, "unpin") == 0) &&
		   zone) {
		r = gw_route_pin(g, zone, cmd[0] == 'p', err, sizeof(err))
			    ? fail(err)
			    : ok();
	} else {
		r = fail("unknown command");
	}
	json_decref(req);
	return r;
}

static void conn_write(struct gw_admin *a, size_t i);

static void conn_close(struct gw_admin *a, size_t i)
{
	close(a->c[i]->fd);
	free(a->c[i]->out);
	free(a->c[i]);
	a->c[i] = NULL;
}

/* Queues r as c's reply (one line) and sends what the socket takes now;
 * the rest goes out as the peer reads (POLLOUT), so a client that does
 * not read its reply never holds up the loop. The connection closes once
 * it is sent, or at the idle deadline. */
static void conn_reply(struct gw_admin *a, size_t i, json_t *r)
{
	struct aconn *c = a->c[i];
	char *s = json_dumps(r, JSON_COMPACT);

	if (!s) {
		conn_close(a, i);
		return;
	}
	c->olen = strlen(s);
	s[c->olen++] = '\n'; /* json_dumps leaves room: replace the NUL */
	c->out = s;
	c->ooff = 0;
	conn_write(a, i);
}

/* Sends more of c's reply; closes c when all of it went out or the
 * peer is gone. */
static void conn_write(struct gw_admin *a, size_t i)
{
	struct aconn *c = a->c[i];
	ssize_t n;

	while (c->ooff < c->olen) {
		n = send(c->fd, c->out + c->ooff, c->olen - c->ooff,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return; /* the rest when poll says POLLOUT */
		if (n <= 0)
			break;
		c->ooff += (size_t)n;
		c->last = gw_now_ms();
	}
	conn_close(a, i); /* one request per connection */
}

static void conn_read(struct gw_admin *a, size_t i)
{
	struct aconn *c = a->c[i];
	ssize_t n = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
	char *nl;
	json_t *r;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(a, i);
		return;
	}
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
	c->last = gw_now_ms();
	nl = memchr(c->buf, '\n', c->len);
	if (!nl) {
		if (c->len == sizeof(c->buf) - 1) {
			r = fail("request line too long");
			conn_reply(a, i, r);
			json_decref(r);
		}
		return;
	}
	*nl = '\0';
	r = handle(a, c, c->buf);
	conn_reply(a, i, r);
	json_decref(r);
}

static void accept_one(struct gw_admin *a)
{
	struct ucred cr;
	socklen_t cl = sizeof(cr);
	int fd = accept4(a->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	size_t i;

	if (fd < 0)
		return;
	for (i = 0; i < ADMIN_CONNS_MAX && a->c[i]; i++)
		;
	if (i == ADMIN_CONNS_MAX ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) != 0) {
		close(fd); /* over the cap, or no credentials */
		return;
	}
	a->c[i] = calloc(1, sizeof(struct aconn));
	if (!a->c[i]) {
		close(fd);
		return;
	}
	a->c[i]->fd = fd;
	a->c[i]->uid = cr.uid;
	a->c[i]->gid = cr.gid;
	a->c[i]->since = a->c[i]->last = gw_now_ms();
}

size_t gw_admin_pollfds(struct gw_admin *a, struct pollfd *p, size_t max)
{
	size_t n = 0;

	if (!a || a->lfd < 0 || !max)
		return 0;
	p[n].fd = a->lfd;
	p[n].revents = 0;
	p[n++].events = POLLIN;
	for (size_t i = 0; i < ADMIN_CONNS_MAX && n < max; i++) {
		if (!a->c[i])
			continue;
		p[n].fd = a->c[i]->fd;
		p[n].revents = 0;
		p[n++].events = a->c[i]->out ? POLLOUT : POLLIN;
	}
	return n;
}

void gw_admin_run(struct gw_admin *a, const struct pollfd *p, size_t n)
{
	int64_t now = gw_now_ms();

	if (!a || a->lfd < 0)
		return;
	/* Only what poll reported: the hot loop makes no idle syscalls. */
	for (size_t k = 0; k < n; k++) {
		if (!p[k].revents)
			continue;
		if (p[k].fd == a->lfd) {
			accept_one(a);
			continue;
		}
		for (size_t i = 0; i < ADMIN_CONNS_MAX; i++) {
			if (!a->c[i] || a->c[i]->fd != p[k].fd)
				continue;
			if (a->c[i]->out)
				conn_write(a, i);
			else
				conn_read(a, i);
			break;
		}
	}
	for (size_t i = 0; i < ADMIN_CONNS_MAX; i++)
		if (a->c[i] && (now - a->c[i]->last > ADMIN_IDLE_MS ||
				now - a->c[i]->since > ADMIN_LIFE_MS))
			conn_close(a, i);
}

/* ---- metrics endpoint ------------------------------------------------------- */

static enum MHD_Result respond(struct MHD_Connection *c, unsigned code,
			       const char *type, char *body)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(body), body,
						MHD_RESPMEM_MUST_FREE);
	enum MHD_Result rc;

	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	rc = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return rc;
}

/* Marks c's connection busy (answering) or idle again. */
static void mconn_busy(struct gw_admin *a, struct MHD_Connection *c, int busy)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct mconn *mc = ci ? ci->socket_context : NULL;

	if (!mc)
		return;
	pthread_mutex_lock(&a->mmu);
	mc->busy = busy;
	pthread_mutex_unlock(&a->mmu);
}

/* libmicrohttpd's accept policy: makes room for the new connection by
 * evicting the oldest idle one (else the oldest) when the cap is
 * reached. The connection is shut down; libmicrohttpd sees EOF and
 * closes it. Always admits the new one. */
static enum MHD_Result mconn_accept(void *cls, const struct sockaddr *addr,
				    socklen_t addrlen)
{
	struct gw_admin *a = cls;
	struct mconn *idle = NULL, *any = NULL, *victim;

	(void)addr;
	(void)addrlen;
	pthread_mutex_lock(&a->mmu);
	if (a->nmconns >= METRICS_CONNS_MAX) {
		for (struct mconn *mc = a->mconns; mc; mc = mc->next) {
			if (mc->evicted)
				continue;
			any = mc; /* newest first: the last seen is the oldest */
			if (!mc->busy)
				idle = mc;
		}
		victim = idle ? idle : any;
		if (victim) {
			if (victim->fd >= 0)
				shutdown(victim->fd, SHUT_RDWR);
			victim->evicted = 1;
			a->nmconns--;
		}
	}
	pthread_mutex_unlock(&a->mmu);
	return MHD_YES;
}

static void mconn_notify(void *cls, struct MHD_Connection *c, void **ctx,
			 enum MHD_ConnectionNotificationCode code)
{
	struct gw_admin *a = cls;
	struct mconn *mc;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
			c, MHD_CONNECTION_INFO_CONNECTION_FD);
		mc = calloc(1, sizeof(*mc));
		*ctx = mc;
		if (!mc)
			return; /* untracked: still under libmicrohttpd's limit */
		mc->fd = ci ? ci->connect_fd : -1;
		pthread_mutex_lock(&a->mmu);
		mc->next = a->mconns;
		if (a->mconns)
			a->mconns->prev = mc;
		a->mconns = mc;
		a->nmconns++;
		pthread_mutex_unlock(&a->mmu);
		return;
	}
	mc = *ctx;
	if (!mc)
		return;
	/* the socket is closed only after this returns: an eviction never
	 * shuts down a reused descriptor */
	pthread_mutex_lock(&a->mmu);
	if (mc->prev)
		mc->prev->next = mc->next;
	else
		a->mconns = mc->next;
	if (mc->next)
		mc->next->prev = mc->prev;
	if (!mc->evicted)
		a->nmconns--;
	pthread_mutex_unlock(&a->mmu);
	free(mc);
	*ctx = NULL;
}

static void mconn_completed(void *cls, struct MHD_Connection *c, void **ctx,
			    enum MHD_RequestTerminationCode code)
{
	(void)ctx;
	(void)code;
	mconn_busy(cls, c, 0);
}

static enum MHD_Result on_http(void *cls, struct MHD_Connection *c,
			       const char *url, const char *method,
			       const char *version, const char *upload,
			       size_t *upload_size, void **ctx)
{
	struct gw_admin *a = cls;
	struct gw *g = a->g;
	char *body, *gauges;
	int ready;

	mconn_busy(a, c, 1);

	if (strcmp(method, "GET") != 0)
		return respond(c, 405, "text/plain", strdup("GET only\n"));
	if (strcmp(url, "/healthz") == 0)
		return respond(c, 200, "text/plain", strdup("ok\n"));
	pthread_mutex_lock(&g->snap_lock);
	ready = g->ready;
	gauges = g->snap_gauges ? strdup(g->snap_gauges) : NULL;
	pthread_mutex_unlock(&g->snap_lock);
	if (strcmp(url, "/readyz") == 0) {
		free(gauges);
		return respond(c, ready ? 200 : 503, "text/plain",
			       strdup(ready ? "ready\n" : "not ready\n"));
	}
	if (strcmp(url, "/metrics") != 0) {
		free(gauges);
		return respond(c, 404, "text/plain", strdup("not found\n"));
	}
	{
		char *zev = zev_prometheus(a), *all = NULL;
		if (zev &&
		    asprintf(&all, "%s%s", gauges ? gauges : "", zev) < 0)
			all = NULL;
		body = gw_metrics_prometheus(g->met, all ? all : gauges);
		free(all);
		free(zev);
	}
	free(gauges);
	if (!body)
		return MHD_NO;
	return respond(c, 200, "text/plain; version=0.0.4", body);
}

static int start_metrics(struct gw_admin *a, char *err, size_t errlen)
{
	const char *m = a->g->cfg->metrics;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *di;
	struct MHD_OptionItem opts[] = {
		{ MHD_OPTION_CONNECTION_LIMIT, METRICS_MHD_LIMIT, NULL },
		{ MHD_OPTION_CONNECTION_TIMEOUT, METRICS_TIMEOUT, NULL },
		{ MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)mconn_notify, a },
		{ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)mconn_completed, a },
		{ MHD_OPTION_END, 0, NULL },
	};

	if (pthread_mutex_init(&a->mmu, NULL) != 0) {
		snprintf(err, errlen, "metrics: cannot create a mutex");
		return -1;
	}
	a->mmu_init = 1;

	if (strncmp(m, "unix:", 5) == 0) {
		a->mfd = unix_listen(m + 5, 0660, err, errlen);
		if (a->mfd < 0)
			return -1;
		a->mhd = MHD_start_daemon(flags, 0, mconn_accept, a, on_http, a,
					  MHD_OPTION_LISTEN_SOCKET, a->mfd,
					  MHD_OPTION_ARRAY, opts,
					  MHD_OPTION_END);
		snprintf(a->metrics_url, sizeof(a->metrics_url), "%s", m);
	} else {
		struct sockaddr_in sin = { .sin_family = AF_INET };
		char *end;
		long port;
		errno = 0;
		port = strtol(m + 10, &end, 10);
		if (strncmp(m, "127.0.0.1:", 10) || errno || *end || port < 0 ||
		    port > 65535) {
			snprintf(err, errlen,
				 "metrics: only 127.0.0.1:PORT "
				 "or unix:PATH");
			return -1;
		}
		sin.sin_port = htons((uint16_t)port);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		a->mhd = MHD_start_daemon(flags, (uint16_t)port, mconn_accept,
					  a, on_http, a, MHD_OPTION_SOCK_ADDR,
					  &sin, MHD_OPTION_ARRAY, opts,
					  MHD_OPTION_END);
		di = a->mhd ? MHD_get_daemon_info(a->mhd,
						  MHD_DAEMON_INFO_BIND_PORT)
			    : NULL;
		snprintf(a->metrics_url, sizeof(a->metrics_url),
			 "http://127.0.0.1:%u/metrics",
			 di ? di->port : (unsigned)port);
	}
	if (!a->mhd) {
		snprintf(err, errlen, "metrics: cannot listen on %s", m);
		return -1;
	}
	fprintf(stderr, "gatewayd: metrics at %s\n", a->metrics_url);
	return 0;
}

struct gw_admin *gw_admin_start(struct gw *g, char *err, size_t errlen)
{
	struct gw_admin *a = calloc(1, sizeof(*a));

	if (!a) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	a->g = g;
	a->lfd = a->mfd = -1;
	if (g->cfg->admin_socket) {
		a->lfd = unix_listen(g->cfg->admin_socket, 0660, err, errlen);
		if (a->lfd < 0)
			goto fail;
		if (g->cfg->has_admin_gid &&
		    chown(g->cfg->admin_socket, (uid_t)-1, g->cfg->admin_gid))
			fprintf(stderr,
				"gatewayd: cannot give %s to group %s: "
				"%s\n",
				g->cfg->admin_socket, g->cfg->admin_group,
				strerror(errno));
	}
	if (g->cfg->metrics && start_metrics(a, err, errlen))
		goto fail;
	return a;
fail:
	gw_admin_stop(a);
	return NULL;
}

void gw_admin_stop(struct gw_admin *a)
{
	if (!a)
		return;
	if (a->mhd)
		MHD_stop_daemon(a->mhd);
	if (a->mmu_init)
		pthread_mutex_destroy(&a->mmu);
	free(a->zev);
	if (a->mfd >= 0)
		close(a->mfd);
	for (size_t i = 0; i < ADMIN_CONNS_MAX; i++)
		if (a->c[i])
			conn_close(a, i);
	if (a->lfd >= 0) {
		close(a->lfd);
		unlink(a->g->cfg->admin_socket);
	}
	free(a);
}
