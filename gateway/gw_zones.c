/* Zones added to and removed from the running gateway when gatewayd
 * reloads its config: a zone that stays keeps its sessions, links and
 * channel; a removed one ends its sessions cleanly; new ones start at
 * once. Everything indexed by a tool zone's position (each session's
 * links, each agent zone's view parts, requests) is renumbered for the
 * new set. The change is prepared first (allocations, new channels), so
 * that a failure leaves the running set as it was. */
#include "gw_core.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GONE UINT_MAX

struct zplan {
	struct gw *g;
	const struct gw_config *nw;
	struct tzone **tz; /* the new set, in nw's order */
	size_t ntz;
	struct azone **az;
	size_t naz;
	unsigned char *tz_new, *az_new; /* made by this plan, per new index */
	unsigned char *defer;		/* its channel opens after commit */
	uint64_t **parts;		/* each new az's view parts */
	unsigned *tmap;			/* old tool zone index -> new, GONE */
	unsigned char *az_kept;		/* per old agent zone */
	struct asess **sess;		/* sessions that stay... */
	struct ulink **links;		/* ...and their new link arrays */
	size_t nsess, sess_cap;
	json_t *out; /* added, removed, changed, updated */
};

static struct tzone *old_tz(const struct gw *g, const char *name)
{
	for (size_t i = 0; i < g->ntz; i++)
		if (strcmp(g->tz[i]->z->name, name) == 0)
			return g->tz[i];
	return NULL;
}

static struct azone *old_az(const struct gw *g, const char *name)
{
	for (size_t i = 0; i < g->naz; i++)
		if (strcmp(g->az[i]->z->name, name) == 0)
			return g->az[i];
	return NULL;
}

/* The listener whose HTTP sessions may belong to agent zone zone: one
 * bound to it, or a k8s listener when zone is a pod's (k8s). */
static const struct gw_listener *bound(const struct gw *g, const char *zone)
{
	const struct gw_zone *z = gw_config_zone_as(g->cfg, zone, GW_AGENT);

	for (size_t i = 0; i < g->cfg->nlisteners; i++)
		if (strcmp(g->cfg->listeners[i].zone, zone) == 0 ||
		    (z && z->k8s_ns && g->cfg->listeners[i].k8s_audience))
			return &g->cfg->listeners[i];
	return NULL;
}

/* Notes zone under what, once (the two sides of a zone that is both
 * agent and tool are one zone to the operator). */
static void note(struct zplan *p, const char *what, const char *zone)
{
	json_t *a = json_object_get(p->out, what), *v;
	size_t i;

	json_array_foreach (a, i, v)
		if (strcmp(json_string_value(v), zone) == 0)
			return;
	json_array_append_new(a, json_string(zone));
}

/* The lowest limits slot no agent zone, old or new, holds. */
static unsigned free_slot(const struct zplan *p)
{
	for (unsigned zi = 0; zi < GW_MAX_ZONES; zi++) {
		int used = 0;
		for (size_t i = 0; i < p->g->naz && !used; i++)
			used = p->g->az[i]->zi == zi;
		for (size_t i = 0; i < p->naz && !used; i++)
			used = p->az[i]->zi == zi;
		if (!used)
			return zi;
	}
	return GW_MAX_ZONES; /* not reached: at most 1024 zones */
}

/* A zone of nw whose chan a zone that goes away holds: its channel opens
 * once that one is closed. */
static int chan_taken(const struct zplan *p, const char *addr)
{
	const struct gw *g = p->g;

	for (size_t i = 0; addr && i < g->naz; i++)
		if (!p->az_kept[i] && g->az[i]->z->chan &&
		    strcmp(g->az[i]->z->chan, addr) == 0)
			return 1;
	for (size_t i = 0; addr && i < g->ntz; i++)
		if (p->tmap[i] == GONE && strcmp(g->tz[i]->z->chan, addr) == 0)
			return 1;
	return 0;
}

/* Which zones stay; refuses replacing a zone a listener is bound to or a
 * pod's zone (their HTTP sessions are held by the listener). */
static int plan_match(struct zplan *p, char *err, size_t errlen)
{
	struct gw *g = p->g;

	for (size_t i = 0; i < g->ntz; i++) {
		const struct gw_zone *nz =
			gw_config_zone_as(p->nw, g->tz[i]->z->name, GW_TOOL);
		p->tmap[i] = nz && gw_zone_same(g->tz[i]->z, nz) ? 0 : GONE;
	}
	for (size_t i = 0; i < g->naz; i++) {
		const char *name = g->az[i]->z->name;
		const struct gw_zone *nz =
			gw_config_zone_as(p->nw, name, GW_AGENT);
		const struct gw_listener *l = bound(g, name);
		p->az_kept[i] = nz && gw_zone_same(g->az[i]->z, nz);
		if (!p->az_kept[i] && l) {
			snprintf(err, errlen,
				 "zone %s: listener %s is bound to it: its "
				 "role, domid and chan can change only with a "
				 "restart",
				 name, l->listen);
			return -1;
		}
	}
	return 0;
}

/* The new set in nw's order: zones that stay, and new ones (not yet
 * connected). */
static int plan_build(struct zplan *p, char *err, size_t errlen)
{
	struct gw *g = p->g;
	const struct gw_config *nw = p->nw;

	for (size_t i = 0; i < nw->nzones; i++) {
		const struct gw_zone *nz = &nw->zones[i];
		/* the same side of the zone (one that is both has two) */
		struct tzone *ot = nz->role == GW_TOOL ? old_tz(g, nz->name)
						       : NULL;
		struct azone *oa = nz->role == GW_AGENT ? old_az(g, nz->name)
							: NULL;
		const struct gw_zone *oz = ot ? ot->z : oa ? oa->z : NULL;
		int same = oz && gw_zone_same(oz, nz);

		if ((oz && !same) ||
		    (!oz && (old_tz(g, nz->name) || old_az(g, nz->name))))
			note(p, "changed", nz->name);
		else if (!oz)
			note(p, "added", nz->name);
		else if (!gw_zone_equal(oz, nz))
			note(p, "updated", nz->name);
		if (nz->role == GW_TOOL) {
			p->tz_new[p->ntz] = !same;
			p->tz[p->ntz] = same ? ot
					     : gw_tz_new(g, nz, (unsigned)i);
			if (!p->tz[p->ntz])
				goto oom;
			if (same)
				p->tmap[ot->ti] = (unsigned)p->ntz;
			p->ntz++;
		} else {
			p->az_new[p->naz] = !same;
			p->az[p->naz] =
				same ? oa : gw_az_new(g, nz, free_slot(p), 0);
			if (!p->az[p->naz])
				goto oom;
			p->naz++;
		}
	}
	/* a side that goes while its zone stays: the zone changed */
	for (size_t i = 0; i < g->ntz; i++)
		if (p->tmap[i] == GONE)
			note(p,
			     gw_config_zone(nw, g->tz[i]->z->name) ? "changed"
								   : "removed",
			     g->tz[i]->z->name);
	for (size_t i = 0; i < g->naz; i++)
		if (!p->az_kept[i])
			note(p,
			     gw_config_zone(nw, g->az[i]->z->name) ? "changed"
								   : "removed",
			     g->az[i]->z->name);
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

/* Memory for the renumbering (every agent zone's view parts, every
 * staying session's links), then the new agent zones' channels. */
static int plan_alloc(struct zplan *p, char *err, size_t errlen)
{
	size_t nparts = (p->ntz ? p->ntz : 1) * CAT_N;

	for (size_t i = 0; i < p->naz; i++) {
		struct azone *a = p->az[i];
		size_t n;
		void **v;
		p->parts[i] = malloc(nparts * sizeof(uint64_t));
		if (!p->parts[i])
			goto oom;
		for (size_t k = 0; k < nparts; k++)
			p->parts[i][k] = VIEW_EMPTY;
		if (p->az_new[i])
			continue;
		v = gw_map_values(a->sess, &n);
		if (!v)
			goto oom;
		for (size_t k = 0; k < n; k++) {
			if (p->nsess == p->sess_cap) {
				size_t c = p->sess_cap ? p->sess_cap * 2 : 64;
				void *s2 =
					realloc(p->sess, c * sizeof(*p->sess));
				void *l2 = s2 ? realloc(p->links,
							c * sizeof(*p->links))
					      : NULL;
				if (s2)
					p->sess = s2;
				if (!l2) {
					free(v);
					goto oom;
				}
				p->links = l2;
				p->sess_cap = c;
			}
			p->links[p->nsess] = gw_up_links_new(p->ntz);
			if (!p->links[p->nsess]) {
				free(v);
				goto oom;
			}
			p->sess[p->nsess++] = v[k];
		}
		free(v);
	}
	for (size_t i = 0; i < p->naz; i++) {
		if (!p->az_new[i])
			continue;
		if (chan_taken(p, p->az[i]->z->chan)) {
			p->defer[i] = 1;
			continue;
		}
		if (gw_az_listen(p->az[i], err, errlen))
			return -1;
	}
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

/* Frees the plan; undo: also what it made (nothing was committed). */
static void plan_free(struct zplan *p, int undo)
{
	for (size_t i = 0; undo && i < p->ntz; i++)
		if (p->tz_new[i])
			gw_tz_free(p->tz[i]);
	for (size_t i = 0; undo && i < p->naz; i++) {
		if (p->az_new[i])
			gw_az_free(p->az[i]);
		free(p->parts[i]);
	}
	for (size_t i = 0; undo && i < p->nsess; i++)
		free(p->links[i]);
	free(p->tz);
	free(p->az);
	free(p->tz_new);
	free(p->az_new);
	free(p->defer);
	free(p->parts);
	free(p->tmap);
	free(p->az_kept);
	free(p->sess);
	free(p->links);
}

/* ---- commit ------------------------------------------------------------ */

/* Agent zone a left the config (or changed): each call in flight gets an
 * error, then its sessions end, its channel closes after what waits for
 * it is written (as far as it takes it), and its limits state goes. */
static void end_agent_zone(struct gw *g, struct azone *a, const char *why)
{
	size_t n;
	void **v = gw_map_values(a->sess, &n);
	char msg[160];

	snprintf(msg, sizeof(msg), "agent zone %s %s", a->z->name, why);
	fprintf(stderr, "gatewayd: %s: %zu sessions end\n", msg,
		gw_map_count(a->sess));
	for (size_t i = 0; v && i < n; i++) {
		struct asess *s = v[i];
		struct preq *q, *nx;
		for (q = s->reqs; q; q = nx) {
			nx = q->next;
			if (q->kind == PK_CALL)
				gw_req_fail(g, q, GW_ERR_GATEWAY, msg,
					    "zone removed");
		}
		gw_sess_end(g, s);
	}
	free(v);
	if (a->m) {
		gw_audit_flush(g->audit); /* records before answers */
		chan_mux_hold(a->m, 0);
	}
	gw_limits_forget_zone(g->lim, a->zi);
	gw_audit_forget_zone(g->audit, a->zi);
	gw_az_free(a);
}

static void remap_preq(void *v, void *arg)
{
	struct preq *q = v;
	const unsigned *tmap = arg;

	q->ti = tmap[q->ti];
}

/* Everything indexed by a tool zone's position, renumbered. */
static void renumber(struct zplan *p, size_t old_ntz)
{
	struct gw *g = p->g;

	for (size_t i = 0; i < p->nsess; i++) {
		struct asess *s = p->sess[i];
		for (size_t ti = 0; ti < old_ntz; ti++)
			if (p->tmap[ti] != GONE)
				p->links[i][p->tmap[ti]] = s->links[ti];
		for (struct sreq *r = s->sreqs; r; r = r->next)
			r->ti = p->tmap[r->ti];
		free(s->links);
		s->links = p->links[i];
	}
	gw_map_each(g->preqs, remap_preq, p->tmap);
	for (size_t i = 0; i < p->naz; i++) {
		struct azone *a = p->az[i];
		for (size_t ti = 0; !p->az_new[i] && ti < old_ntz; ti++)
			for (int k = 0; k < CAT_N && p->tmap[ti] != GONE; k++)
				p->parts[i][(size_t)k * p->ntz + p->tmap[ti]] =
					a->parts[(size_t)k * old_ntz + ti];
		free(a->parts);
		a->parts = p->parts[i];
		a->z = gw_config_zone_as(p->nw, a->z->name, GW_AGENT);
	}
	for (size_t i = 0; i < p->ntz; i++) {
		p->tz[i]->ti = (unsigned)i;
		p->tz[i]->z =
			gw_config_zone_as(p->nw, p->tz[i]->z->name, GW_TOOL);
	}
}

static void commit(struct zplan *p)
{
	struct gw *g = p->g;
	struct tzone **otz = g->tz;
	struct azone **oaz = g->az;
	size_t ontz = g->ntz, onaz = g->naz;

	for (size_t i = 0; i < onaz; i++)
		if (!p->az_kept[i])
			end_agent_zone(g, oaz[i],
				       gw_config_zone(p->nw, oaz[i]->z->name)
					       ? "was changed in the gateway's "
						 "config (role, domid or chan)"
					       : "was removed from the "
						 "gateway's config");
	g->az = p->az;
	g->naz = p->naz;
	for (size_t i = 0; i < ontz; i++) {
		const char *why;
		if (p->tmap[i] != GONE)
			continue;
		why = gw_config_zone(p->nw, otz[i]->z->name)
			      ? "changed in the gateway's config"
			      : "removed from the gateway's config";
		gw_up_remove(otz[i], why);
		for (size_t k = 0; k < p->nsess; k++)
			gw_up_link_fail(g, p->sess[k], (unsigned)i, why);
	}
	renumber(p, ontz);
	for (size_t i = 0; i < ontz; i++)
		if (p->tmap[i] == GONE)
			gw_tz_free(otz[i]);
	g->tz = p->tz;
	g->ntz = p->ntz;
	for (size_t i = 0; i < p->naz; i++) {
		char err[256];
		if (!p->defer[i] ||
		    gw_az_listen(p->az[i], err, sizeof(err)) == 0)
			continue;
		fprintf(stderr,
			"gatewayd: agent zone %s: channel not opened: %s\n",
			p->az[i]->z->name, err);
		json_array_append_new(json_object_get(p->out, "errors"),
				      json_sprintf("zone %s: %s",
						   p->az[i]->z->name, err));
	}
	for (size_t i = 0; i < p->ntz; i++)
		if (p->tz_new[i])
			gw_up_connect(p->tz[i]);
	free(otz);
	free(oaz);
	p->tz = NULL;
	p->az = NULL;
	g->admit_due = 1; /* a zone's max_inflight may have grown */
}

int gw_route_zones_apply(struct gw *g, const struct gw_config *nw,
			 json_t **changes, char *err, size_t errlen)
{
	struct zplan p = { .g = g, .nw = nw };
	size_t n = nw->nzones;

	*changes = NULL;
	p.tz = calloc(n, sizeof(*p.tz));
	p.az = calloc(n, sizeof(*p.az));
	p.tz_new = calloc(n, 1);
	p.az_new = calloc(n, 1);
	p.defer = calloc(n, 1);
	p.parts = calloc(n, sizeof(*p.parts));
	p.tmap = calloc(g->ntz + 1, sizeof(*p.tmap));
	p.az_kept = calloc(g->naz + 1, 1);
	p.out = json_pack("{s:[],s:[],s:[],s:[],s:[]}", "added", "removed",
			  "changed", "updated", "errors");
	if (!p.tz || !p.az || !p.tz_new || !p.az_new || !p.defer || !p.parts ||
	    !p.tmap || !p.az_kept || !p.out) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (plan_match(&p, err, errlen) || plan_build(&p, err, errlen) ||
	    plan_alloc(&p, err, errlen))
		goto fail;
	commit(&p);
	plan_free(&p, 0);
	*changes = p.out;
	return 0;
fail:
	plan_free(&p, 1);
	json_decref(p.out);
	return -1;
}
