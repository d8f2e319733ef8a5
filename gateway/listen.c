/* HTTP listeners for host-side clients: Streamable HTTP at /mcp (the
 * transport of mcp/http.c, with gatewayd as its session engine), each
 * listener bound to one agent zone by a bearer token or the unix peer's
 * uid, or (k8s) each request to the zone its Kubernetes service-account
 * token names (k8s_jwt.c); HTTPS when the listener has tls. The
 * libmicrohttpd threads never touch the routing core: they queue
 * messages for the poll loop (an eventfd wakes it) and the loop hands
 * replies back through the transport's per-request streams. */
#define _GNU_SOURCE /* SO_PEERCRED, struct ucred */
#include "gwd.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <zonegate/chan_mux.h>

#include <zonegate/mcp.h>

#include "jsonrpc.h"
#include "k8s_jwt.h"
#include "transport.h"
#include "zg_queue.h"

#define QUEUE_MAX_BYTES (64u << 20) /* waiting for the loop, all listeners */
#define PENDING_MAX 256		    /* open requests per HTTP session */
#define SESSIONS_MAX 256	    /* per listener */
#define CONNECTIONS_MAX 128	    /* per listener */
/* Of those, connections not yet authenticated (no request with a valid
 * token or uid yet): one more evicts the oldest pending past the
 * transport's 2 s grace (a burst of fresh ones may reach twice this), so
 * at least 64 stay free for clients that have authenticated; each is
 * closed after HEADER_TIMEOUT s. */
#define PENDING_CONNS_MAX 32
#define HEADER_TIMEOUT 10
#define TLS_FILE_MAX (1u << 20) /* bytes of a PEM certificate or key */

/* Per run of the loop (a turn), the messages taken from one zone's
 * sessions, as from a channel (gw_core.h, ZONE_TURN_FRAMES), and the
 * zones counted. */
#define TURN_MSGS 8
#define TURN_ZONES 64

/* The loop's queue holds zg_qitems: tag is one of these, ptr the
 * session (struct gw_hs), data a message's text (IT_DATA). */
enum { IT_OPEN, IT_DATA, IT_CLOSE, IT_AUDIT };

struct lst {
	struct gw_listen *gl;
	const struct gw_listener *cfg;
	unsigned idx;
	struct mcp_http *h;
	struct mcp_http_backend be;
	int has_token;
	char token[GW_TOKEN_MAX + 1];
	struct gw_k8s_auth *k8s; /* a k8s listener's verifier */
	uint64_t tls_sig;	 /* the certificate and key files as read */
};

/* Which zone a service account is (a copy of the config's k8s zones, for
 * the HTTP threads; under gl->mu, rebuilt on every reload). */
struct k8s_ent {
	char ns[GW_K8S_NS_MAX + 1], sa[GW_K8S_SA_MAX + 1];
	char zone[GW_ZONE_NAME_MAX + 1];
};

/* One HTTP session. Fields under gl->mu except s (poll thread only). */
struct gw_hs {
	struct lst *l;
	void *hs; /* the transport's handle; dead once closed */
	int closed, inited;
	/* Requests without a response yet, oldest first: [id, progress
	 * token or null] each. */
	json_t *pending;
	struct zg_qitem *close_item; /* preallocated: closing never fails */
	struct asess *s;
	uint64_t n;
	int stateless; /* one 2026-07-28 request (gw_stateless.c), no asess */
	char zone[GW_ZONE_NAME_MAX + 1]; /* fixed at open */
};

struct gw_listen {
	struct gw *g;
	pthread_mutex_t mu;
	int efd;
	struct zg_queue q; /* for the loop, QUEUE_MAX_BYTES; under mu */
	uint64_t next_n;
	struct lst *l;
	size_t nl;
	struct k8s_ent *k8s_map; /* under mu */
	size_t nk8s;
	uint64_t auth_dropped;	/* refusals not audited: the queue was full */
	uint64_t auth_reported; /* of those, said in the audit log (loop) */
	/* Loop only: this turn's responses to HTTP clients (ptr the
	 * session, tag 1 if it answered initialize), released once the
	 * turn's audit records are written (gw_listen_release); items left
	 * in q by the last run for zones over their denial budget; the last
	 * run at stop, which feeds everything. */
	struct zg_queue out;
	int deferred, stopping;
};

/* ---- the queue (any thread) ---------------------------------------------- */

/* Queues it for the loop (the caller checked the cap where it applies:
 * data; opens and closes always go) and wakes the loop. */
static void push(struct gw_listen *gl, struct zg_qitem *it)
{
	uint64_t one = 1;

	pthread_mutex_lock(&gl->mu);
	zg_queue_push_item(&gl->q, it, 1);
	pthread_mutex_unlock(&gl->mu);
	if (write(gl->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		fprintf(stderr, "gatewayd: listener eventfd: %s\n",
			strerror(errno));
}

/* A queue item of kind for hs with a copy of data (NUL-terminated), or
 * NULL on no memory. The caller owns it until push(). */
static struct zg_qitem *item_new(int kind, struct gw_hs *hs, const char *data,
				 size_t len)
{
	struct zg_qitem *it = zg_qitem_new(data, len, NULL, 0);

	if (!it)
		return NULL;
	it->tag = (uint64_t)kind;
	it->ptr = hs;
	return it;
}

/* ---- the transport's backend (HTTP threads) ------------------------------ */

static void *be_open(void *ctx, void *handle)
{
	struct lst *l = ctx;
	struct gw_hs *hs = calloc(1, sizeof(*hs));
	struct zg_qitem *open;

	if (!hs)
		return NULL;
	hs->l = l;
	hs->hs = handle;
	hs->stateless = mcp_http_stateless(handle);
	/* a k8s listener's session is the zone its opening token named */
	snprintf(hs->zone, sizeof(hs->zone), "%s",
		 l->k8s ? mcp_http_who(handle) : l->cfg->zone);
	hs->pending = json_array();
	hs->close_item = item_new(IT_CLOSE, hs, NULL, 0);
	open = item_new(IT_OPEN, hs, NULL, 0);
	if (!hs->pending || !hs->close_item || !open) {
		json_decref(hs->pending);
		zg_qitem_free(hs->close_item);
		zg_qitem_free(open);
		free(hs);
		return NULL;
	}
	pthread_mutex_lock(&l->gl->mu);
	hs->n = ++l->gl->next_n;
	pthread_mutex_unlock(&l->gl->mu);
	push(l->gl, open);
	return hs;
}

/* Under gl->mu: index of the open request whose id (field 0) or
 * progress token (field 1) is v, or -1. */
static long pending_match(const struct gw_hs *hs, size_t field, const json_t *v)
{
	size_t i;
	json_t *e;

	json_array_foreach (hs->pending, i, e)
		if (jr_id_equal(json_array_get(e, field), v))
			return (long)i;
	return -1;
}

static long pending_find(const struct gw_hs *hs, const json_t *id)
{
	return pending_match(hs, 0, id);
}

/* Under gl->mu: the id of the request a message from the gateway goes
 * with (its POST's stream), or NULL for the standalone GET stream: the
 * request the message names (_meta MCP_META_RELATED, which mcpd sets),
 * else for progress the request that asked for it by its token; list
 * changes and resource updates concern no request; anything else sent
 * while requests are open goes with the oldest of them. */
static const json_t *related_id(const struct gw_hs *hs, const json_t *root)
{
	const char *meth = json_string_value(json_object_get(root, "method"));
	const json_t *params = json_object_get(root, "params");
	long k;

	if (!meth)
		return NULL;
	/* the tool zone named the request (mcpd does on channels) */
	k = pending_find(hs, json_object_get(json_object_get(params, "_meta"),
					     MCP_META_RELATED));
	if (k >= 0)
		return json_array_get(json_array_get(hs->pending, (size_t)k),
				      0);
	if (strcmp(meth, "notifications/progress") == 0) {
		k = pending_match(hs, 1,
				  json_object_get(params, "progressToken"));
		return k < 0 ? NULL
			     : json_array_get(json_array_get(hs->pending,
							     (size_t)k),
					      0);
	}
	if (strcmp(meth, "notifications/resources/updated") == 0 ||
	    (strncmp(meth, "notifications/", 14) == 0 &&
	     strstr(meth, "/list_changed")))
		return NULL;
	return json_array_get(json_array_get(hs->pending, 0), 0);
}

static void answer_now(struct gw_hs *hs, json_t *id, int code, const char *msg)
{
	json_t *e = jr_error(id, code, msg, NULL);
	size_t len;
	char *txt = e ? jr_dump(e, &len) : NULL;

	mcp_http_finish(hs->hs, id, txt, txt ? len : 0);
	free(txt);
	json_decref(e);
}

static void be_input(void *sess, struct jr_msg *m)
{
	struct gw_hs *hs = sess;
	struct gw_listen *gl = hs->l->gl;
	size_t len = 0;
	char *txt = jr_dump(m->root, &len);
	struct zg_qitem *it = NULL;
	int full, is_req = m->kind == JR_REQUEST && m->id;
	const json_t *cid = NULL;

	if (m->kind == JR_NOTIFICATION &&
	    strcmp(m->method, "notifications/cancelled") == 0 && m->params)
		cid = json_object_get(m->params, "requestId");
	pthread_mutex_lock(&gl->mu);
	full = !zg_queue_fits(&gl->q, len) ||
	       (is_req && json_array_size(hs->pending) >= PENDING_MAX);
	if (!full && txt)
		it = item_new(IT_DATA, hs, txt, len);
	if (it && is_req) {
		json_t *meta = json_object_get(m->params, "_meta");
		json_t *pt = json_object_get(meta, "progressToken");
		json_array_append_new(hs->pending,
				      json_pack("[O,O]", m->id,
						pt ? pt : json_null()));
	}
	if (cid && pending_find(hs, cid) >= 0) {
		/* The gateway sends nothing for a cancelled request: end
		 * its POST (202) now. */
		json_array_remove(hs->pending, (size_t)pending_find(hs, cid));
		mcp_http_finish(hs->hs, cid, NULL, 0);
	}
	pthread_mutex_unlock(&gl->mu);
	if (it)
		push(gl, it);
	else if (is_req)
		answer_now(hs, m->id, -32000, "gateway busy");
	free(txt);
	jr_msg_clear(m);
}

static int be_initialized(void *sess)
{
	struct gw_hs *hs = sess;
	int r;

	pthread_mutex_lock(&hs->l->gl->mu);
	r = hs->inited;
	pthread_mutex_unlock(&hs->l->gl->mu);
	return r;
}

static void be_close(void *sess)
{
	struct gw_hs *hs = sess;
	struct gw_listen *gl = hs->l->gl;

	pthread_mutex_lock(&gl->mu);
	hs->closed = 1;
	pthread_mutex_unlock(&gl->mu);
	push(gl, hs->close_item); /* the loop frees hs */
}

/* Equal in time independent of where a and b differ. */
static int token_equal(const char *a, size_t al, const char *b, size_t bl)
{
	unsigned char d = al != bl;

	for (size_t i = 0; i < bl; i++)
		d |= (unsigned char)(a[i % (al ? al : 1)] ^ b[i]);
	return d == 0 && al == bl;
}

static unsigned be_authorize(void *ctx, struct MHD_Connection *c)
{
	struct lst *l = ctx;

	if (l->cfg->has_uid) {
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
			c, MHD_CONNECTION_INFO_CONNECTION_FD);
		struct ucred cr;
		socklen_t cl = sizeof(cr);
		if (!ci ||
		    getsockopt(ci->connect_fd, SOL_SOCKET, SO_PEERCRED, &cr,
			       &cl) != 0 ||
		    cr.uid != l->cfg->uid)
			return MHD_HTTP_FORBIDDEN;
	}
	if (l->has_token) {
		const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							    "Authorization");
		int ok;
		if (!a || strncasecmp(a, "Bearer ", 7) != 0)
			return MHD_HTTP_UNAUTHORIZED;
		a += 7;
		/* The token can be replaced by a reload meanwhile. */
		pthread_mutex_lock(&l->gl->mu);
		ok = token_equal(a, strnlen(a, GW_TOKEN_MAX + 1), l->token,
				 strlen(l->token));
		pthread_mutex_unlock(&l->gl->mu);
		if (!ok)
			return MHD_HTTP_UNAUTHORIZED;
	}
	return 0;
}

/* From an HTTP thread: an audit record of a refused request, queued for
 * the loop (which owns the audit log). Dropped (counted) when the queue
 * is full, so a flood of bad tokens costs bounded memory. */
static void audit_refusal(struct lst *l, const char *reason, const char *hash12,
			  const struct gw_jwt_identity *id)
{
	struct gw_listen *gl = l->gl;
	char tok[24], acct[GW_K8S_NS_MAX + GW_K8S_SA_MAX + 2];
	json_t *r;
	char *txt;
	size_t len = 0;
	struct zg_qitem *it = NULL;

	snprintf(tok, sizeof(tok), "sha256:%s", hash12 ? hash12 : "-");
	snprintf(acct, sizeof(acct), "%s/%s", id ? id->ns : "",
		 id ? id->sa : "");
	r = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:s?}", "zone", "-",
		      "method", "listener/auth", "target", l->cfg->listen,
		      "decision", "denied", "reason", reason, "token", tok,
		      "status", 401, "k8s", id ? acct : NULL);
	txt = r ? jr_dump(r, &len) : NULL;
	json_decref(r);
	pthread_mutex_lock(&gl->mu);
	if (txt && zg_queue_fits(&gl->q, len))
		it = item_new(IT_AUDIT, NULL, txt, len);
	if (!it)
		gl->auth_dropped++;
	pthread_mutex_unlock(&gl->mu);
	free(txt);
	if (it)
		push(gl, it);
}

/* Under gl->mu: the zone of service account ns/sa, or NULL. */
static const char *k8s_zone(const struct gw_listen *gl, const char *ns,
			    const char *sa)
{
	for (size_t i = 0; i < gl->nk8s; i++)
		if (strcmp(gl->k8s_map[i].ns, ns) == 0 &&
		    strcmp(gl->k8s_map[i].sa, sa) == 0)
			return gl->k8s_map[i].zone;
	return NULL;
}

/* A k8s listener's check of each request: the bearer token verified
 * (k8s_jwt.c) and mapped to the zone of its service account, written
 * to who. Every refusal is 401 and audited with the token's hash prefix
 * only. Nothing else in the request (headers, body) can name a zone. */
static unsigned be_identify(void *ctx, struct MHD_Connection *c, char *who)
{
	struct lst *l = ctx;
	const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						    "Authorization");
	struct gw_jwt_identity id;
	enum gw_jwt_err r;
	char h12[13];
	const char *z;
	int cached;
	size_t n;

	if (!a || strncasecmp(a, "Bearer ", 7) != 0) {
		audit_refusal(l, "no bearer token", NULL, NULL);
		return MHD_HTTP_UNAUTHORIZED;
	}
	a += 7;
	n = strnlen(a, GW_JWT_MAX + 1);
	if (n > GW_JWT_MAX) {
		audit_refusal(l, "malformed (token too long)", NULL, NULL);
		return MHD_HTTP_UNAUTHORIZED;
	}
	r = gw_k8s_auth_check(l->k8s, a, n, &id, &cached, h12);
	if (r != GW_JWT_OK) {
		audit_refusal(l, gw_jwt_err_name(r), h12, NULL);
		return MHD_HTTP_UNAUTHORIZED;
	}
	pthread_mutex_lock(&l->gl->mu);
	z = k8s_zone(l->gl, id.ns, id.sa);
	if (z)
		snprintf(who, MCP_HTTP_WHO_MAX + 1, "%s", z);
	pthread_mutex_unlock(&l->gl->mu);
	if (!z) {
		audit_refusal(l, "unmapped service account", h12, &id);
		return MHD_HTTP_UNAUTHORIZED;
	}
	return 0;
}

/* A uid-bound unix listener without a token knows its client at accept:
 * the peer's uid. Such a connection is admitted at once, so that other
 * local users' idle connections never compete with it. */
static int be_admit_peer(void *ctx, int fd)
{
	struct lst *l = ctx;
	struct ucred cr;
	socklen_t cl = sizeof(cr);

	if (!l->cfg->has_uid || l->cfg->token_file)
		return 0;
	return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) == 0 &&
	       cr.uid == l->cfg->uid;
}

/* ---- the poll thread --------------------------------------------------- */

int gw_listen_deliver(struct gw_hs *hs, int inited, const char *msg, size_t len)
{
	struct gw_listen *gl = hs->l->gl;
	json_t *root = json_loadb(msg, len, 0, NULL);
	json_t *id = root ? json_object_get(root, "id") : NULL;
	int is_resp = id && !json_object_get(root, "method");
	int rc = 0;

	if (is_resp) {
		/* the turn's audit records go first (gw_listen_release) */
		json_t *hid = json_incref(id);
		struct zg_qitem *it = zg_qitem_new(&hid, sizeof(hid), msg, len);
		json_decref(root);
		if (!it) {
			json_decref(hid);
			return -1;
		}
		it->ptr = hs;
		it->tag = inited != 0;
		zg_queue_push_item(&gl->out, it, 1);
		return 0;
	}
	pthread_mutex_lock(&gl->mu);
	if (hs->closed)
		goto out;
	if (inited)
		hs->inited = 1;
	if (mcp_http_emit(hs->hs, related_id(hs, root), msg, len) != 0)
		rc = CHAN_MUX_EFULL;
out:
	pthread_mutex_unlock(&gl->mu);
	json_decref(root);
	return rc;
}

/* A held response's id (its item's data: the id's reference, then the
 * message's text). */
static json_t *held_id(const struct zg_qitem *it)
{
	json_t *id;

	memcpy(&id, it->data, sizeof(id));
	return id;
}

void gw_listen_release(struct gw_listen *gl)
{
	struct zg_qitem *it;

	if (!gl || !zg_queue_peek(&gl->out))
		return;
	pthread_mutex_lock(&gl->mu);
	while ((it = zg_queue_pop(&gl->out))) {
		struct gw_hs *hs = it->ptr;
		json_t *id = held_id(it);
		const char *msg = (const char *)it->data + sizeof(id);
		long k;

		if (!hs->closed) {
			if (it->tag)
				hs->inited = 1;
			k = pending_find(hs, id);
			if (k >= 0)
				json_array_remove(hs->pending, (size_t)k);
			mcp_http_finish(hs->hs, id, msg, it->len - sizeof(id));
		}
		json_decref(id);
		zg_qitem_free(it);
	}
	pthread_mutex_unlock(&gl->mu);
}

/* Loop only: drops the held responses of hs, which is about to be freed
 * (its client is gone: nothing would take them). */
static void out_forget(struct gw_listen *gl, const struct gw_hs *hs)
{
	struct zg_queue keep;
	struct zg_qitem *it;

	if (!zg_queue_peek(&gl->out))
		return;
	zg_queue_init(&keep, 0, 0);
	while ((it = zg_queue_pop(&gl->out))) {
		if (it->ptr == hs) {
			json_decref(held_id(it));
			zg_qitem_free(it);
		} else
			zg_queue_push_item(&keep, it, 1);
	}
	zg_queue_move(&gl->out, &keep);
}

static void refuse_pending(struct gw_hs *hs, struct jr_msg *m)
{
	pthread_mutex_lock(&hs->l->gl->mu);
	if (!hs->closed && m->kind == JR_REQUEST && m->id)
		answer_now(hs, m->id, -32000, "gateway session unavailable");
	pthread_mutex_unlock(&hs->l->gl->mu);
}

/* Loop only: appends audit record r (NULL: none) with an audit id of its
 * own. Steals r. */
static void audit_put(struct gw_listen *gl, json_t *r)
{
	char aid[40];

	if (!r)
		return;
	gw_audit_new_id(gl->g->audit, aid, sizeof(aid));
	json_object_set_new(r, "id", json_string(aid));
	gw_audit_append(gl->g->audit, r);
	json_decref(r);
}

static void run_item(struct gw_listen *gl, struct zg_qitem *it)
{
	struct gw_hs *hs = it->ptr;
	const char *data = (const char *)it->data;
	struct jr_msg m;

	switch (it->tag) {
	case IT_OPEN:
		if (hs->stateless) {
			zg_qitem_free(it);
			break;
		}
		hs->s = gw_route_http_open(gl->g, hs->zone, hs,
					   gw_listen_deliver, hs->l->idx,
					   hs->n);
		if (!hs->s)
			fprintf(stderr,
				"gatewayd: listener %u: cannot open a "
				"session for zone %s\n",
				hs->l->idx, hs->zone);
		zg_qitem_free(it);
		break;
	case IT_AUDIT:
		/* a record an HTTP thread queued */
		audit_put(gl, json_loadb(data, it->len, 0, NULL));
		zg_qitem_free(it);
		break;
	case IT_DATA:
		if (hs->stateless) {
			gw_route_http_stateless(gl->g, hs->zone, hs,
						gw_listen_deliver, data,
						it->len);
		} else if (hs->s) {
			gw_route_http_input(gl->g, hs->s, data, it->len);
		} else {
			jr_parse(data, it->len, it->len + 1, 64, &m);
			refuse_pending(hs, &m);
			jr_msg_clear(&m);
		}
		zg_qitem_free(it);
		break;
	case IT_CLOSE:
		out_forget(gl, hs);
		if (hs->stateless)
			gw_route_http_stateless_end(gl->g, hs->zone, hs);
		if (hs->s)
			gw_route_http_close(gl->g, hs->s);
		json_decref(hs->pending);
		free(hs);
		zg_qitem_free(it); /* hs->close_item */
		break;
	}
}

/* What one run took from each zone (the first TURN_ZONES zones seen;
 * more are rare, and are only held back by their denial budget). */
struct turn_use {
	char zone[GW_ZONE_NAME_MAX + 1]; /* a copy: a close frees its hs */
	unsigned msgs;
	int held; /* 1: its denial budget; 2: its share of this run */
};

/* Whether item it waits for a later run, and why (0 not, 1 the zone's
 * denial budget is spent, 2 the zone had its share of this run: as a
 * channel's, TURN_MSGS messages). Once one item of a zone waits, every
 * later one of the zone does, its sessions' opens and closes included,
 * so that their order stays; judged at one time now for a whole run. */
static int held_back(struct gw_listen *gl, const struct zg_qitem *it,
		     int64_t now, struct turn_use *use, size_t *nuse)
{
	const struct gw_hs *hs = it->ptr;
	struct turn_use *u = NULL;

	if (gl->g->draining || !hs || it->tag == IT_AUDIT)
		return 0; /* draining: requests are refused, not held */
	for (size_t i = 0; i < *nuse && !u; i++)
		if (strcmp(use[i].zone, hs->zone) == 0)
			u = &use[i];
	if (!u && *nuse < TURN_ZONES) {
		u = &use[(*nuse)++];
		snprintf(u->zone, sizeof(u->zone), "%s", hs->zone);
		u->msgs = 0;
		u->held = gw_route_zone_wait_ms(gl->g, hs->zone, now) > 0;
	}
	if (!u)
		return gw_route_zone_wait_ms(gl->g, hs->zone, now) > 0;
	if (!u->held && it->tag == IT_DATA && u->msgs++ >= TURN_MSGS)
		u->held = 2;
	return u->held;
}

int gw_listen_deferred(const struct gw_listen *gl)
{
	return gl ? gl->deferred : 0;
}

void gw_listen_run(struct gw_listen *gl)
{
	struct zg_queue mine, later;
	struct zg_qitem *it;
	uint64_t v, dropped;
	int64_t now = gw_now_ms();
	struct turn_use use[TURN_ZONES];
	size_t nuse = 0;
	int why;

	if (!gl || gl->efd < 0)
		return;
	if (read(gl->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	zg_queue_init(&mine, 0, 0);
	zg_queue_init(&later, 0, 0);
	pthread_mutex_lock(&gl->mu);
	zg_queue_move(&mine, &gl->q);
	dropped = gl->auth_dropped - gl->auth_reported;
	gl->auth_reported = gl->auth_dropped;
	pthread_mutex_unlock(&gl->mu);
	gl->deferred = 0;
	for (it = zg_queue_pop(&mine); it; it = zg_queue_pop(&mine)) {
		why = held_back(gl, it, now, use, &nuse);
		if (why && gl->stopping && it->tag == IT_DATA) {
			/* gatewayd stops: its HTTP thread waits for this */
			struct jr_msg m;
			jr_parse((const char *)it->data, it->len, it->len + 1,
				 64, &m);
			refuse_pending(it->ptr, &m);
			jr_msg_clear(&m);
			zg_qitem_free(it);
			continue;
		}
		if (why && !gl->stopping) {
			if (why > gl->deferred)
				gl->deferred = why;
			zg_queue_push_item(&later, it, 1);
			continue;
		}
		run_item(gl, it);
	}
	/* what waits goes back in front of what came meanwhile, and keeps
	 * counting against the queue's cap */
	if (gl->deferred) {
		pthread_mutex_lock(&gl->mu);
		zg_queue_move(&later, &gl->q);
		zg_queue_move(&gl->q, &later);
		pthread_mutex_unlock(&gl->mu);
	}
	if (dropped) {
		/* a flood of refusals: counted, said once per turn */
		audit_put(gl,
			  json_pack("{s:s,s:s,s:s,s:I}", "zone", "-", "method",
				    "listener/auth", "decision", "denied",
				    "unaudited", (json_int_t)dropped));
		fprintf(stderr,
			"gatewayd: listeners: %llu refused requests not "
			"audited one by one (queue full)\n",
			(unsigned long long)dropped);
	}
}

/* The service accounts of the config's k8s zones, for the HTTP threads
 * (the config may change under them on a reload). On no memory the old
 * map stays. */
static void k8s_map_build(struct gw_listen *gl)
{
	const struct gw_config *c = gl->g->cfg;
	struct k8s_ent *m = calloc(c->nzones + 1, sizeof(*m)), *old;
	size_t n = 0;

	if (!m)
		return;
	for (size_t i = 0; i < c->nzones; i++) {
		const struct gw_zone *z = &c->zones[i];
		if (!z->k8s_ns)
			continue;
		snprintf(m[n].ns, sizeof(m[n].ns), "%s", z->k8s_ns);
		snprintf(m[n].sa, sizeof(m[n].sa), "%s", z->k8s_sa);
		snprintf(m[n].zone, sizeof(m[n].zone), "%s", z->name);
		n++;
	}
	pthread_mutex_lock(&gl->mu);
	old = gl->k8s_map;
	gl->k8s_map = m;
	gl->nk8s = n;
	pthread_mutex_unlock(&gl->mu);
	free(old);
}

/* An audit record of the loop's own about listener l's files. */
static void audit_file(struct gw_listen *gl, const struct lst *l,
		       const char *method, const char *what, const char *why)
{
	audit_put(gl, json_pack("{s:s,s:s,s:s,s:s,s:s?}", "zone",
				l->cfg->k8s_audience ? "-" : l->cfg->zone,
				"method", method, "target", l->cfg->listen,
				"decision", what, "reason", why));
}

/* A listener's TLS certificate and key (PEM) into hc; *cert and *key
 * are the caller's to free (the key wiped). Returns 0 or -1 with err. */
static int tls_files(const struct gw_listener *c, struct mcp_http_config *hc,
		     char **cert, char **key, char *err, size_t errlen)
{
	size_t n;

	if (!c->tls_cert)
		return 0;
	*cert = gw_read_file(c->tls_cert, TLS_FILE_MAX, &n, err, errlen);
	*key = *cert ? gw_read_file(c->tls_key, TLS_FILE_MAX, &n, err, errlen)
		     : NULL;
	hc->tls_cert_pem = *cert;
	hc->tls_key_pem = *key;
	return *key ? 0 : -1;
}

static void wipe_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

/* A file of listener l (what) was reread: ok, or refused for why (the
 * old contents stay in force), said on stderr and in the audit log.
 * Returns 0, or -1 with err. */
static int reloaded(struct gw_listen *gl, const struct lst *l,
		    const char *method, const char *what, int ok,
		    const char *why, char *err, size_t errlen)
{
	audit_file(gl, l, method, ok ? "loaded" : "rejected", ok ? NULL : why);
	if (ok) {
		fprintf(stderr, "gatewayd: listener %s: new %s in force\n",
			l->cfg->listen, what);
		return 0;
	}
	fprintf(stderr,
		"gatewayd: listener %s: %s NOT reloaded (the old one stays in "
		"force): %s\n",
		l->cfg->listen, what, why);
	snprintf(err, errlen, "listener %s: %s", l->cfg->listen, why);
	return -1;
}

/* What identifies the contents of the certificate and key files (inode,
 * size, mtime of each), to notice a Secret's update. */
static uint64_t tls_sig(const struct gw_listener *c)
{
	const char *f[2] = { c->tls_cert, c->tls_key };
	uint64_t h = 1469598103934665603ull;
	struct stat st;

	for (int i = 0; i < 2; i++) {
		if (!f[i] || stat(f[i], &st) != 0)
			continue;
		h = (h ^ (uint64_t)st.st_ino) * 1099511628211ull;
		h = (h ^ (uint64_t)st.st_size) * 1099511628211ull;
		h = (h ^ (uint64_t)st.st_mtim.tv_sec) * 1099511628211ull;
		h = (h ^ (uint64_t)st.st_mtim.tv_nsec) * 1099511628211ull;
	}
	return h;
}

/* A TLS listener's certificate and key, reread when they changed; new
 * connections get the new pair, open ones and sessions stay. Returns 0,
 * or -1 with err when the new pair was refused (the old one stays). */
static int reload_tls(struct gw_listen *gl, struct lst *l, char *err,
		      size_t errlen)
{
	struct mcp_http_config hc;
	char e2[512], *cert = NULL, *key = NULL;
	uint64_t sig = tls_sig(l->cfg);
	int rc;

	if (sig == l->tls_sig)
		return 0;
	l->tls_sig = sig; /* a refused pair is not retried until it changes */
	memset(&hc, 0, sizeof(hc));
	rc = tls_files(l->cfg, &hc, &cert, &key, e2, sizeof(e2));
	if (rc == 0)
		rc = mcp_http_set_tls(l->h, cert, key, e2, sizeof(e2));
	free(cert);
	wipe_free(key);
	return reloaded(gl, l, "listener/tls", "TLS certificate", rc == 0, e2,
			err, errlen);
}

/* A k8s listener's JWKS file, reread when it changed. Returns 0, or -1
 * with err when the new file was refused (the old keys stay). */
static int reload_jwks(struct gw_listen *gl, struct lst *l, char *err,
		       size_t errlen)
{
	char e2[512];
	int r = gw_k8s_auth_reload(l->k8s, e2, sizeof(e2));

	if (r == 0)
		return 0;
	return reloaded(gl, l, "listener/jwks", "JWKS", r > 0, e2, err, errlen);
}

int gw_listen_reload_tokens(struct gw_listen *gl, char *err, size_t errlen)
{
	char tok[GW_TOKEN_MAX + 1], e2[512];
	int failed = 0;

	if (errlen)
		err[0] = '\0';
	if (gl)
		k8s_map_build(gl);
	for (size_t i = 0; gl && i < gl->nl; i++) {
		struct lst *l = &gl->l[i];
		const char *what;
		int changed;
		if (l->k8s && reload_jwks(gl, l, failed ? e2 : err,
					  failed ? sizeof(e2) : errlen))
			failed++;
		if (l->cfg->tls_cert &&
		    reload_tls(gl, l, failed ? e2 : err,
			       failed ? sizeof(e2) : errlen))
			failed++;
		if (!l->cfg->token_file)
			continue;
		if (gw_listener_token(l->cfg, tok, sizeof(tok), e2,
				      sizeof(e2))) {
			if (!failed++)
				snprintf(err, errlen, "listener %s: %s",
					 l->cfg->listen, e2);
			what = "rejected";
		} else {
			pthread_mutex_lock(&gl->mu);
			changed = strcmp(tok, l->token) != 0;
			memcpy(l->token, tok, sizeof(tok));
			pthread_mutex_unlock(&gl->mu);
			if (!changed)
				continue;
			what = "loaded";
		}
		memset(tok, 0, sizeof(tok));
		audit_file(gl, l, "listener/token", what,
			   *what == 'r' ? e2 : NULL);
		if (*what == 'r')
			fprintf(stderr,
				"gatewayd: listener %s (zone %s): "
				"token NOT reloaded (the old one stays in "
				"force): %s\n",
				l->cfg->listen, l->cfg->zone, e2);
		else
			fprintf(stderr,
				"gatewayd: listener %s (zone %s): new "
				"token in force\n",
				l->cfg->listen, l->cfg->zone);
	}
	memset(tok, 0, sizeof(tok));
	return failed ? -1 : 0;
}

int gw_listen_fd(const struct gw_listen *gl)
{
	return gl && gl->nl ? gl->efd : -1;
}

/* ---- start and stop ---------------------------------------------------- */

/* A fresh unix socket at path, mode 0660 (0600 with only a token), or -1
 * with err. */
static int unix_listen(const struct gw_listener *c, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	int fd;
	char e2[512];

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (gw_unix_path_free(c->unix_path, e2, sizeof(e2))) {
		snprintf(err, errlen, "listener %s: %s", c->listen, e2);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || strlen(c->unix_path) >= sizeof(sa.sun_path))
		goto fail;
	memcpy(sa.sun_path, c->unix_path, strlen(c->unix_path) + 1);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    chmod(c->unix_path, c->has_uid ? 0666 : 0600) != 0 ||
	    listen(fd, 64) != 0)
		goto fail;
	return fd;
fail:
	snprintf(err, errlen, "listener %s: %s", c->listen, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

static int lst_start(struct gw_listen *gl, struct lst *l, char *err,
		     size_t errlen)
{
	static const char *const hosts[] = { "localhost", "127.0.0.1", NULL };
	struct mcp_http_config hc;
	char e2[512], *cert = NULL, *key = NULL;
	int rc = -1;

	if (l->cfg->token_file) {
		if (gw_listener_token(l->cfg, l->token, sizeof(l->token), e2,
				      sizeof(e2))) {
			snprintf(err, errlen, "listener %s: %s", l->cfg->listen,
				 e2);
			return -1;
		}
		l->has_token = 1;
	}
	l->be.ctx = l;
	l->be.open = be_open;
	l->be.input = be_input;
	l->be.initialized = be_initialized;
	l->be.close = be_close;
	l->be.authorize = be_authorize;
	l->be.admit_peer = be_admit_peer;
	if (l->cfg->k8s_audience) {
		l->k8s = gw_k8s_auth_new(l->cfg->k8s_jwks, l->cfg->k8s_audience,
					 l->cfg->k8s_issuer, e2, sizeof(e2));
		if (!l->k8s) {
			snprintf(err, errlen, "listener %s: %s", l->cfg->listen,
				 e2);
			return -1;
		}
		l->be.identify = be_identify;
	}
	memset(&hc, 0, sizeof(hc));
	l->tls_sig = tls_sig(l->cfg);
	if (tls_files(l->cfg, &hc, &cert, &key, e2, sizeof(e2))) {
		snprintf(err, errlen, "listener %s: %s", l->cfg->listen, e2);
		goto out;
	}
	hc.host = l->cfg->host ? l->cfg->host : "127.0.0.1";
	hc.port = l->cfg->port;
	hc.max_body = gl->g->cfg->max_message;
	hc.max_sessions = SESSIONS_MAX;
	hc.max_connections = CONNECTIONS_MAX;
	hc.max_pending = PENDING_CONNS_MAX;
	hc.header_timeout = HEADER_TIMEOUT;
	hc.backend = &l->be;
	if (l->cfg->unix_path) {
		hc.hosts = hosts;
		hc.listen_fd = unix_listen(l->cfg, err, errlen);
		if (hc.listen_fd < 0)
			goto out;
	}
	l->h = mcp_http_start(NULL, &hc, e2, sizeof(e2));
	if (!l->h) {
		snprintf(err, errlen, "listener %s: %s", l->cfg->listen, e2);
		if (hc.listen_fd > 0)
			close(hc.listen_fd);
		goto out;
	}
	rc = 0;
	if (l->cfg->unix_path)
		fprintf(stderr, "gatewayd: listener for zone %s on unix:%s\n",
			l->cfg->zone, l->cfg->unix_path);
	else
		fprintf(stderr,
			"gatewayd: listener for %s%s on %s://%s%s%s:%u/mcp\n",
			l->k8s ? "k8s service accounts" : "zone ",
			l->k8s ? "" : l->cfg->zone, cert ? "https" : "http",
			strchr(hc.host, ':') ? "[" : "", hc.host,
			strchr(hc.host, ':') ? "]" : "", mcp_http_port(l->h));
out:
	if (rc) {
		gw_k8s_auth_free(l->k8s);
		l->k8s = NULL;
	}
	free(cert);
	wipe_free(key);
	return rc;
}

struct gw_listen *gw_listen_start(struct gw *g, char *err, size_t errlen)
{
	struct gw_listen *gl = calloc(1, sizeof(*gl));

	if (!gl) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	gl->g = g;
	pthread_mutex_init(&gl->mu, NULL);
	k8s_map_build(gl);
	zg_queue_init(&gl->q, 0, QUEUE_MAX_BYTES);
	zg_queue_init(&gl->out, 0, 0);
	gl->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	gl->l = calloc(g->cfg->nlisteners + 1, sizeof(*gl->l));
	if (gl->efd < 0 || !gl->l) {
		snprintf(err, errlen, "listeners: %s", strerror(errno));
		goto fail;
	}
	for (size_t i = 0; i < g->cfg->nlisteners; i++) {
		struct lst *l = &gl->l[gl->nl];
		l->gl = gl;
		l->cfg = &g->cfg->listeners[i];
		l->idx = (unsigned)i;
		if (lst_start(gl, l, err, errlen))
			goto fail;
		gl->nl++;
	}
	return gl;
fail:
	gw_listen_stop(gl);
	return NULL;
}

void gw_listen_stop(struct gw_listen *gl)
{
	if (!gl)
		return;
	/* What waits for the loop goes first (requests held back for their
	 * zone's budget are refused): their HTTP threads wait for answers.
	 * Stopping a transport ends its sessions, which queues their
	 * closes; the last run ends them in the core and frees them. */
	gl->stopping = 1;
	if (gl->efd >= 0) {
		gw_listen_run(gl);
		gw_listen_release(gl);
	}
	for (size_t i = 0; i < gl->nl; i++) {
		mcp_http_stop(gl->l[i].h);
		if (gl->l[i].cfg->unix_path)
			unlink(gl->l[i].cfg->unix_path);
		memset(gl->l[i].token, 0, sizeof(gl->l[i].token));
		gw_k8s_auth_free(gl->l[i].k8s);
	}
	if (gl->efd >= 0) {
		uint64_t one = 1;
		ssize_t w = write(gl->efd, &one, sizeof(one));
		(void)w; /* the counter only makes the last run read */
		gw_listen_run(gl);
		close(gl->efd);
	}
	gw_listen_release(gl); /* every session is closed: frees what is left */
	pthread_mutex_destroy(&gl->mu);
	free(gl->k8s_map);
	free(gl->l);
	free(gl);
}
