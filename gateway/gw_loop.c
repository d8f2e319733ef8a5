/* The routing core's loop and its interface to gatewayd (gwd.h): set up
 * the zones' channels, poll them, process each with a bounded share per
 * turn, run deadlines and reconnects, and end each turn with its audit
 * records before its answers. The core, overall: agent zones connect to
 * channels we serve, each stream one MCP session whose identity is the
 * zone of its channel (gw_session.c); tool zones are channels we connect
 * to, a control stream each for the catalogue (gw_catalogue.c) and a
 * link per agent session (gw_upstream.c); calls are decided, limited,
 * audited and timed (gw_request.c). */
#include "gw_core.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zonegate/chan.h>
#include <zonegate/mcp.h>

#include "client_http.h"
#include "jsonrpc.h"
#include "splice.h"

/* ---- the loop's interface ---------------------------------------------- */

struct tzone *gw_tz_new(struct gw *g, const struct gw_zone *z, unsigned zi)
{
	struct tzone *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->g = g;
	t->z = z;
	t->zi = zi;
	t->serial = ++g->tz_serial;
	t->backoff = BACKOFF_MIN_MS;
	return t;
}

/* Frees what is left of t: its channel, catalogue and the struct (its
 * links and requests are the caller's to end first). */
void gw_tz_free(struct tzone *t)
{
	if (!t)
		return;
	gw_up_uc_free(&t->ctl_uc);
	chan_mux_free(t->m);
	mcp_hc_free(t->hc);
	gw_zone_headers_free(t->creds, t->ncreds);
	free(t->lanes);
	for (int k = 0; k < CAT_N; k++) {
		json_decref(t->cat[k]);
		json_decref(t->stage[k]);
		free(t->ehash[k]);
	}
	free(t);
}

struct azone *gw_az_new(struct gw *g, const struct gw_zone *z, unsigned zi,
			size_t ntz)
{
	struct azone *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->g = g;
	a->z = z;
	a->zi = zi;
	a->sess = gw_map_new();
	a->parts = malloc((ntz ? ntz : 1) * CAT_N * sizeof(*a->parts));
	if (!a->sess || !a->parts) {
		gw_az_free(a);
		return NULL;
	}
	a->deny_rate = g->cfg->zone_denials_per_s;
	gw_bucket_init(&a->deny, a->deny_rate, 1000, gw_now_ms());
	for (size_t k = 0; k < ntz * CAT_N; k++)
		a->parts[k] = VIEW_EMPTY;
	for (int k = 0; k < CAT_N; k++)
		a->view[k] = VIEW_EMPTY;
	return a;
}

int gw_az_listen(struct azone *a, char *err, size_t errlen)
{
	struct chan_mux_opts mo = { .max_frame = a->g->cfg->max_message,
				    .max_streams = 1024,
				    .turn_frames = ZONE_TURN_FRAMES,
				    .turn_bytes = ZONE_TURN_BYTES,
				    .log = gw_sess_chan_log };
	chan *ch;

	if (!a->z->chan)
		return 0; /* served by HTTP listeners only */
	ch = chan_open(a->z->chan, CHAN_SERVER, NULL, err, errlen);
	if (ch)
		a->m = chan_mux_new(ch, &mo, &gw_sess_ops, a, err, errlen);
	if (!a->m)
		return -1;
	chan_mux_hold(a->m, 1); /* released by release_turn() */
	return 0;
}

/* The budget follows the config in force (a reload may change it). */
static void deny_budget_sync(struct azone *a)
{
	int rate = a->g->cfg->zone_denials_per_s;

	if (rate != a->deny_rate) {
		a->deny_rate = rate;
		gw_bucket_set(&a->deny, rate, 1000);
	}
}

void gw_az_denied(struct azone *a)
{
	deny_budget_sync(a);
	if (a->deny_rate)
		gw_bucket_charge(&a->deny, gw_now_ms());
}

int64_t gw_az_wait_ms(struct azone *a, int64_t now)
{
	deny_budget_sync(a);
	return a->deny_rate ? gw_bucket_wait_ms(&a->deny, now) : 0;
}

int64_t gw_route_zone_wait_ms(struct gw *g, const char *zone, int64_t now)
{
	for (size_t i = 0; i < g->naz; i++)
		if (strcmp(g->az[i]->z->name, zone) == 0)
			return gw_az_wait_ms(g->az[i], now);
	return 0;
}

/* Ends every session of a (their links closed), frees its channel and a. */
void gw_az_free(struct azone *a)
{
	size_t n;
	void **v;

	if (!a)
		return;
	v = a->sess ? gw_map_values(a->sess, &n) : NULL;
	for (size_t k = 0; v && k < n; k++)
		gw_sess_end(a->g, v[k]);
	free(v);
	chan_mux_free(a->m);
	gw_map_free(a->sess);
	free(a->parts);
	free(a->task_exp);
	free(a);
}

int gw_route_init(struct gw *g, char *err, size_t errlen)
{
	const struct gw_config *c = g->cfg;

	g->preqs = gw_map_new();
	g->sreqs = gw_map_new();
	g->links = gw_map_new();
	g->tz = calloc(c->nzones, sizeof(*g->tz));
	g->az = calloc(c->nzones, sizeof(*g->az));
	if (!g->preqs || !g->sreqs || !g->links || !g->tz || !g->az)
		goto oom;
	g->next_deadline_ms = INT64_MAX;
	for (size_t i = 0; i < c->nzones; i++) {
		if (c->zones[i].role != GW_TOOL)
			continue;
		g->tz[g->ntz] = gw_tz_new(g, &c->zones[i], (unsigned)i);
		if (!g->tz[g->ntz])
			goto oom;
		g->tz[g->ntz]->ti = (unsigned)g->ntz;
		g->ntz++;
	}
	for (size_t i = 0; i < c->nzones; i++) {
		if (c->zones[i].role != GW_AGENT)
			continue;
		g->az[g->naz] = gw_az_new(g, &c->zones[i], (unsigned)i, g->ntz);
		if (!g->az[g->naz])
			goto oom;
		if (gw_az_listen(g->az[g->naz++], err, errlen))
			return -1;
	}
	for (size_t i = 0; i < g->ntz; i++)
		gw_up_connect(g->tz[i]);
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

void gw_route_free(struct gw *g)
{
	size_t n;
	void **v;

	for (size_t i = 0; i < g->naz; i++)
		gw_az_free(g->az[i]);
	v = g->preqs ? gw_map_values(g->preqs, &n) : NULL;
	for (size_t k = 0; v && k < n; k++)
		gw_req_free(g, v[k]);
	free(v);
	for (size_t i = 0; i < g->ntz; i++)
		gw_tz_free(g->tz[i]);
	free(g->az);
	free(g->tz);
	gw_map_free(g->preqs);
	gw_map_free(g->sreqs);
	gw_map_free(g->links);
}

size_t gw_route_pollfds(struct gw *g, struct pollfd *p, size_t max)
{
	int64_t now = gw_now_ms();
	size_t n = 0;

	for (size_t i = 0; i < g->naz; i++)
		g->az[i]->pfd = NULL;
	for (size_t i = 0; i < g->ntz; i++)
		g->tz[i]->pfd = NULL;
	for (size_t i = 0; i < g->naz && n < max; i++) {
		if (!g->az[i]->m)
			continue;
		/* a zone whose denial budget is spent is not read (its
		 * writes stall in the ring) until the budget allows it */
		g->az[i]->deny_held = gw_az_wait_ms(g->az[i], now) > 0;
		if (g->az[i]->deny_held)
			continue;
		g->az[i]->pfd = &p[n];
		p[n].fd = chan_mux_fd(g->az[i]->m);
		p[n++].events = chan_mux_events(g->az[i]->m);
	}
	for (size_t i = 0; i < g->ntz && n < max; i++) {
		if (g->tz[i]->hc) {
			size_t room = max - n < REMOTE_POLLFDS_MAX
					      ? max - n
					      : REMOTE_POLLFDS_MAX;
			n += gw_up_remote_pollfds(g->tz[i], &p[n], room);
			continue;
		}
		if (!g->tz[i]->m)
			continue;
		g->tz[i]->pfd = &p[n];
		p[n].fd = chan_mux_fd(g->tz[i]->m);
		p[n++].events = chan_mux_events(g->tz[i]->m);
	}
	return n;
}

int gw_route_timeout(struct gw *g)
{
	int64_t now = gw_now_ms(), t = INT64_MAX;

	for (size_t i = 0; i < g->naz; i++) {
		/* a zone over its denial budget: its input (a channel's
		 * leftovers, queued listener requests) waits for the refill */
		int64_t w = gw_az_wait_ms(g->az[i], now);
		int x = g->az[i]->m ? chan_mux_timeout_ms(g->az[i]->m) : -1;
		if (w > 0)
			x = (int)w;
		if (x >= 0 && now + x < t)
			t = now + x;
		if (gw_stl_sweep_at(g->az[i]) < t)
			t = gw_stl_sweep_at(g->az[i]);
	}
	for (size_t i = 0; i < g->ntz; i++) {
		struct tzone *z = g->tz[i];
		int x = z->m	? chan_mux_timeout_ms(z->m)
			: z->hc ? gw_up_remote_timeout(z)
				: -1;
		if (x >= 0 && now + x < t)
			t = now + x;
		if (!gw_up_live(z) && z->retry_at < t)
			t = z->retry_at;
		if (gw_cat_refetch_at(z) < t)
			t = gw_cat_refetch_at(z);
	}
	if (g->next_deadline_ms < t)
		t = g->next_deadline_ms;
	if (gw_audit_pending(g->audit) && now + g->cfg->audit_flush_ms < t)
		t = now + g->cfg->audit_flush_ms;
	for (size_t i = 0; i < g->naz; i++)
		if (g->az[i]->m && chan_mux_held_output(g->az[i]->m))
			t = now; /* answers wait for release_turn() */
	for (size_t i = 0; i < g->ntz; i++)
		if (g->tz[i]->m && chan_mux_held_output(g->tz[i]->m))
			t = now; /* and so do calls */
	if (t == INT64_MAX)
		return -1;
	return t <= now ? 0 : (int)(t - now > 60000 ? 60000 : t - now);
}

/* A channel poll found quiet needs no processing this turn: the peer
 * notifies whenever it writes to a ring we had drained or frees room in
 * a full one, and more input left over or a due PING shows in the mux's
 * timeout. Saves a notification read (and a server's accept) per idle
 * channel per turn. */
static int quiet(const struct pollfd *pfd, chan_mux *m)
{
	return pfd && !pfd->revents && chan_mux_timeout_ms(m) != 0;
}

/* Frames per turn of an agent zone's channel that floods while other
 * agent zones have work (set_shares). */
#define ZONE_SHARE_FRAMES 1

/* The tool zones' channels are held too, for another reason than the
 * agents': the calls read from every agent zone in a turn then reach a
 * tool zone in one write and at most one wake-up, not one each (under a
 * flood, a system call and often a context switch per call were a third
 * of gatewayd's time). Released once the agent zones are read, and at
 * the end of the turn for what the rest of it sent. */
static void release_tool_zones(struct gw *g)
{
	for (size_t i = 0; i < g->ntz; i++) {
		if (!g->tz[i]->m)
			continue;
		chan_mux_hold(g->tz[i]->m, 0);
		chan_mux_hold(g->tz[i]->m, 1);
	}
}

/* Ends a loop turn: this turn's audit records go to the kernel (one
 * write, no fsync) before this turn's answers to agents leave, so an
 * answered call always has its record, even if gatewayd is killed. The
 * agent channels are held between turns (answers queue, see
 * chan_mux_hold) and released here. */
static void release_turn(struct gw *g)
{
	gw_audit_tick(g->audit);
	if (gw_audit_pending(g->audit))
		gw_audit_flush(g->audit);
	for (size_t i = 0; i < g->naz; i++) {
		if (!g->az[i]->m)
			continue;
		chan_mux_hold(g->az[i]->m, 0);
		chan_mux_hold(g->az[i]->m, 1);
	}
	release_tool_zones(g);
}

/* An agent zone has work: input on its channel this turn, or calls in
 * flight, whose answers its tool zones' channels bring. */
static int agent_busy(const struct azone *a)
{
	if (a->inflight)
		return 1;
	return a->m && !a->deny_held && a->pfd && a->pfd->revents;
}

/* Agent zones with work at the start of a turn (poll's results). */
static size_t busy_agents(const struct gw *g)
{
	size_t busy = 0;

	for (size_t i = 0; i < g->naz; i++)
		busy += agent_busy(g->az[i]);
	return busy;
}

/* Whether a turn ends by giving up the CPU (sched_yield): when a channel
 * took its whole share and has more (a zone, or the tool zone answering
 * it, sends as fast as gatewayd takes it) while another agent zone has
 * work. gatewayd is then always runnable, and the processes that its
 * answers and calls just woke (the other zones' clients, their tool
 * zones), where they share its CPU, would wait behind it for the rest of
 * its time slice, milliseconds however short its turns: that, not the
 * length of a turn, was most of the other zones' p99 under an allowed
 * flood (docs/gateway.md, "Fairness"). Yielding lets them run first; it
 * costs a system call when nothing else is runnable. A zone over its
 * denial budget does not count: the budget bounds it (it is not read). */
static int turn_spent(struct gw *g)
{
	int64_t now = gw_now_ms();

	for (size_t i = 0; i < g->naz; i++)
		if (g->az[i]->m && chan_mux_turn_spent(g->az[i]->m) &&
		    gw_az_wait_ms(g->az[i], now) == 0)
			return 1;
	for (size_t i = 0; i < g->ntz; i++)
		if (g->tz[i]->m && chan_mux_turn_spent(g->tz[i]->m))
			return 1;
	return 0;
}

/* The share of each agent zone's channel this turn: ZONE_TURN_FRAMES,
 * but while two or more agent zones have work, ZONE_SHARE_FRAMES for one
 * that took its whole share and had more (it floods), until no other
 * zone has work (a flooder whose channel ran dry for a turn keeps the
 * short share). Tool zones' channels keep theirs: what they answer is
 * bounded by the calls the agent zones' shares let through, and a tool
 * zone serving several zones must not slow the others' answers with the
 * flooder's. */
static void set_shares(struct gw *g, int contended)
{
	for (size_t i = 0; i < g->naz; i++) {
		chan_mux *m = g->az[i]->m;
		if (!m)
			continue;
		if (!contended)
			chan_mux_set_turn(m, ZONE_TURN_FRAMES);
		else if (chan_mux_turn_spent(m))
			chan_mux_set_turn(m, ZONE_SHARE_FRAMES);
	}
}

/* One loop turn: each agent zone's channel with its share, then the
 * tool zones', then deadlines; the turn's audit records go to the kernel
 * before its answers leave (release_turn). */
void gw_route_run(struct gw *g)
{
	int64_t now = gw_now_ms();
	size_t busy = busy_agents(g);

	set_shares(g, busy >= 2);

	for (size_t i = 0; i < g->naz; i++) {
		struct azone *a = g->az[i];
		/* held back by its denial budget: not polled, not read */
		if (a->m && !a->deny_held && !quiet(a->pfd, a->m))
			chan_mux_process(a->m); /* never dies */
		a->pfd = NULL;
	}
	release_tool_zones(g); /* the calls just read */
	for (size_t i = 0; i < g->ntz; i++) {
		struct tzone *t = g->tz[i];
		const struct pollfd *pfd = t->pfd;
		if (t->hc) {
			/* a remote zone: its HTTP client's I/O and timers */
			gw_up_remote_creds(t, 0);
			if (now >= gw_cat_refetch_at(t))
				gw_cat_fetch(t);
			gw_up_remote_run(t);
			gw_up_remote_ping(t);
			if (t->dead)
				gw_up_down(t, t->last_error[0]
						      ? t->last_error
						      : "upstream failed");
			continue;
		}
		t->pfd = NULL;
		if (!t->m) {
			if (now >= t->retry_at)
				gw_up_connect(t);
			continue;
		}
		if (now >= gw_cat_refetch_at(t))
			gw_cat_fetch(t);
		if (quiet(pfd, t->m) && !t->dead)
			continue;
		if (chan_mux_process(t->m) < 0 || t->dead)
			gw_up_down(t, t->last_error[0] ? t->last_error
						       : "channel closed");
	}
	gw_req_deadlines(g);
	gw_stl_sweep_due(g);
	for (size_t i = 0; i < g->ntz; i++)
		if (g->tz[i]->dead && gw_up_live(g->tz[i]))
			gw_up_down(g->tz[i], g->tz[i]->last_error);
	for (size_t i = 0; i < g->naz; i++)
		if (g->az[i]->half_done)
			gw_sess_end_half_closed(g->az[i]);
	gw_admit_dispatch(g); /* slots freed this turn: waiting calls go */
	release_turn(g);
	if (busy >= 2 && turn_spent(g))
		sched_yield(); /* see turn_spent */
}

/* The last turn before gatewayd stops: this turn's records go to the
 * kernel first, then the agent channels are released for good, so the
 * answers queued by a drain's end (calls ended with an error) go out as
 * far as each channel takes them. */
void gw_route_finish(struct gw *g)
{
	release_turn(g);
	for (size_t i = 0; i < g->naz; i++)
		if (g->az[i]->m)
			chan_mux_hold(g->az[i]->m, 0);
	for (size_t i = 0; i < g->ntz; i++)
		if (g->tz[i]->m)
			chan_mux_hold(g->tz[i]->m, 0);
}

size_t gw_route_agent_backlog(struct gw *g)
{
	size_t b = 0;

	for (size_t i = 0; i < g->naz; i++)
		if (g->az[i]->m && chan_mux_is_up(g->az[i]->m))
			b += chan_mux_backlog(g->az[i]->m);
	return b;
}

/* ---- admin views ------------------------------------------------------- */

int gw_route_connect_now(struct gw *g, const char *name, char *err,
			 size_t errlen)
{
	for (size_t i = 0; i < g->ntz; i++) {
		struct tzone *t = g->tz[i];
		if (strcmp(t->z->name, name) != 0)
			continue;
		if (!t->m) { /* the loop's next turn connects */
			t->retry_at = 0;
			t->backoff = BACKOFF_MIN_MS;
		}
		return 0;
	}
	snprintf(err, errlen, "no tool zone '%.64s'", name);
	return -1;
}

json_t *gw_route_status(struct gw *g)
{
	json_t *zones = json_array();

	for (size_t i = 0; i < g->naz; i++) {
		struct azone *a = g->az[i];
		json_array_append_new(
			zones,
			json_pack("{s:s,s:s,s:s?,s:b,s:I,s:I,s:I}", "zone",
				  a->z->name, "role", "agent", "chan",
				  a->z->chan, "connected",
				  a->m && chan_mux_is_up(a->m), "sessions",
				  (json_int_t)gw_map_count(a->sess),
				  "sessions_total",
				  (json_int_t)a->sessions_total, "listens",
				  (json_int_t)gw_stl_listens(a)));
	}
	for (size_t i = 0; i < g->ntz; i++) {
		struct tzone *t = g->tz[i];
		const char *pin =
			json_string_value(json_object_get(g->pins, t->z->name));
		json_t *o = json_pack(
			"{s:s,s:s,s:s?,s:s,s:I,s:I,s:I,s:I,s:I,s:s,s:s?,s:b,"
			"s:s}",
			"zone", t->z->name, "role", "tool", "chan", t->z->chan,
			"health",
			gw_cat_visible(t) ? "up"
			: t->quarantined  ? "quarantined"
			: gw_up_live(t)	  ? "connecting"
					  : "down",
			"tools", (json_int_t)json_array_size(t->cat[CAT_TOOLS]),
			"connects", (json_int_t)t->connects, "responses",
			(json_int_t)t->responses, "responses_spliced",
			(json_int_t)t->responses_spliced, "responses_invalid",
			(json_int_t)t->responses_invalid, "hash",
			t->have_cat ? t->hash : "", "pinned", pin,
			"quarantined", t->quarantined, "last_error",
			t->last_error);
		/* the revision negotiated with it ("" before that) */
		if (o)
			json_object_set_new(o, "revision", json_string(t->rev));
		if (o && t->z->url)
			json_object_set_new(o, "remote",
					    gw_up_remote_status(t));
		/* the upstream listens of sessions' subscriptions */
		if (o && t->rev2026)
			json_object_set_new(o, "subscriptions",
					    gw_subs_status(t));
		/* its upstream requests' counters (their tables') */
		if (o)
			json_object_set_new(o, "requests",
					    gw_up_requests_status(g, t));
		/* its capacity: calls in flight and waiting (gw_admit.c) */
		if (o)
			json_object_set_new(o, "capacity", gw_admit_status(t));
		json_array_append_new(zones, o);
	}
	return zones;
}

/* gatewayctl reload, SIGHUP: every remote zone's credential files are
 * read again, changed or not. */
void gw_route_reload_creds(struct gw *g)
{
	for (size_t i = 0; i < g->ntz; i++)
		gw_up_remote_creds(g->tz[i], 1);
}

static uint64_t tz_quar(const struct tzone *t)
{
	return (uint64_t)t->quarantined;
}
static uint64_t tz_busy(const struct tzone *t)
{
	return t->busy;
}
static uint64_t tz_queued(const struct tzone *t)
{
	return t->nqueued;
}

/* One gauge family of every tool zone: zonegate_tool_zone_NAME, its HELP
 * text help, each zone's value val(t). */
static void tz_gauge(FILE *f, const struct gw *g, const char *name,
		     const char *help, uint64_t (*val)(const struct tzone *t))
{
	fprintf(f,
		"# HELP zonegate_tool_zone_%s %s\n"
		"# TYPE zonegate_tool_zone_%s gauge\n",
		name, help, name);
	for (size_t i = 0; i < g->ntz; i++)
		fprintf(f, "zonegate_tool_zone_%s{zone=\"%s\"} %llu\n", name,
			g->tz[i]->z->name, (unsigned long long)val(g->tz[i]));
}

/* The gauges of the metrics endpoint, each family whole after its HELP
 * and TYPE lines (label values are configured zone names). */
void gw_route_snapshot(struct gw *g)
{
	char *buf = NULL;
	size_t len = 0;
	int ready = 1;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return;
	fprintf(f, "# HELP zonegate_tool_zone_up Tool zone connected with "
		   "its catalogue, not quarantined.\n"
		   "# TYPE zonegate_tool_zone_up gauge\n");
	for (size_t i = 0; i < g->ntz; i++) {
		ready &= gw_cat_visible(g->tz[i]);
		fprintf(f, "zonegate_tool_zone_up{zone=\"%s\"} %d\n",
			g->tz[i]->z->name, gw_cat_visible(g->tz[i]));
	}
	tz_gauge(f, g, "quarantined",
		 "Tool zone whose definitions differ from its pin.", tz_quar);
	tz_gauge(f, g, "inflight",
		 "Calls in flight at a tool zone (at most its max_inflight).",
		 tz_busy);
	tz_gauge(f, g, "queued",
		 "Calls waiting in the gateway for a slot of a tool zone.",
		 tz_queued);
	fprintf(f, "# HELP zonegate_tool_zone_http_failures HTTP requests to a "
		   "remote tool zone that failed (since it last connected).\n"
		   "# TYPE zonegate_tool_zone_http_failures gauge\n");
	for (size_t i = 0; i < g->ntz; i++) {
		struct mcp_hc_stats st;
		if (!g->tz[i]->hc)
			continue;
		mcp_hc_stats(g->tz[i]->hc, &st);
		fprintf(f,
			"zonegate_tool_zone_http_failures{zone=\"%s\"} %llu\n",
			g->tz[i]->z->name, (unsigned long long)st.failures);
	}
	fprintf(f, "# HELP zonegate_agent_sessions Open agent sessions.\n"
		   "# TYPE zonegate_agent_sessions gauge\n");
	for (size_t i = 0; i < g->naz; i++)
		fprintf(f, "zonegate_agent_sessions{zone=\"%s\"} %zu\n",
			g->az[i]->z->name, gw_map_count(g->az[i]->sess));
	fprintf(f,
		"# HELP zonegate_policy_rules Rules of the policy in force.\n"
		"# TYPE zonegate_policy_rules gauge\n"
		"zonegate_policy_rules %zu\n"
		"# HELP zonegate_policy_reload_errors Failed reloads since the "
		"last good one.\n"
		"# TYPE zonegate_policy_reload_errors gauge\n"
		"zonegate_policy_reload_errors %d\n"
		"# HELP zonegate_zones Zones of the config in force.\n"
		"# TYPE zonegate_zones gauge\n"
		"zonegate_zones{role=\"agent\"} %zu\n"
		"zonegate_zones{role=\"tool\"} %zu\n"
		"# HELP zonegate_config_reload_errors Config reloads refused "
		"since the last good one.\n"
		"# TYPE zonegate_config_reload_errors gauge\n"
		"zonegate_config_reload_errors %d\n",
		policy_nrules(g->pol), g->policy_errors, g->naz, g->ntz,
		g->config_errors);
	if (fclose(f) != 0) {
		free(buf);
		return;
	}
	pthread_mutex_lock(&g->snap_lock);
	free(g->snap_gauges);
	g->snap_gauges = buf;
	g->ready = ready;
	pthread_mutex_unlock(&g->snap_lock);
}
