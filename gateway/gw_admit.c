/* Admission of calls to a tool zone: at most max_inflight of them in
 * flight at once, at most agent_max_inflight of those one agent zone's;
 * the rest wait here, and a freed slot goes to the waiting zone that
 * holds the fewest (docs/gateway.md, "Tool zone capacity"). So one agent
 * zone's slow calls cannot take every worker of a tool zone that other
 * agent zones share, nor its thousand queued calls delay theirs. */
#include "gw_core.h"

#include <stdlib.h>
#include <string.h>

unsigned gw_admit_max(const struct gw_zone *z)
{
	return z->max_inflight > 0 ? (unsigned)z->max_inflight
				   : GW_TZ_INFLIGHT_DEFAULT;
}

unsigned gw_admit_agent_max(const struct gw_zone *z)
{
	unsigned b = gw_admit_max(z);

	if (z->agent_max_inflight > 0)
		return (unsigned)z->agent_max_inflight < b
			       ? (unsigned)z->agent_max_inflight
			       : b;
	/* a quarter of the slots stay for the other agent zones */
	return b - b / 4 > 0 ? b - b / 4 : 1;
}

/* Agent zone zi's lane on t, made when make is set; NULL when it has none
 * (or out of memory). */
static struct gw_lane *lane_of(struct tzone *t, unsigned zi, int make)
{
	struct gw_lane *nl;

	for (unsigned i = 0; i < t->nlanes; i++)
		if (t->lanes[i].zi == zi)
			return &t->lanes[i];
	if (!make)
		return NULL;
	if (t->nlanes == t->lanecap) {
		unsigned cap = t->lanecap ? t->lanecap * 2 : 4;
		nl = realloc(t->lanes, cap * sizeof(*nl));
		if (!nl)
			return NULL;
		t->lanes = nl;
		t->lanecap = cap;
	}
	nl = &t->lanes[t->nlanes++];
	memset(nl, 0, sizeof(*nl));
	nl->zi = zi;
	return nl;
}

/* A lane that holds no slot and has nothing queued goes. */
static void lane_gc(struct tzone *t, struct gw_lane *l)
{
	if (l->held || l->qh)
		return;
	*l = t->lanes[--t->nlanes];
}

/* The lane a freed slot goes to: of those with a call waiting and under
 * the agent cap, the one holding the fewest slots, then the one served
 * longest ago. NULL: none may go now. */
static struct gw_lane *next_lane(struct tzone *t)
{
	unsigned amax = gw_admit_agent_max(t->z);
	struct gw_lane *best = NULL;

	for (unsigned i = 0; i < t->nlanes; i++) {
		struct gw_lane *l = &t->lanes[i];
		if (!l->qh || l->held >= amax)
			continue;
		if (!best || l->held < best->held ||
		    (l->held == best->held && l->served < best->served))
			best = l;
	}
	return best;
}

static void take_slot(struct tzone *t, struct gw_lane *l, struct preq *p)
{
	t->busy++;
	l->held++;
	l->served = ++t->served;
	p->slot = 1;
	p->qzi = l->zi;
}

int gw_admit_now(struct tzone *t, struct asess *s, struct preq *p)
{
	struct gw_lane *l;

	if (t->busy >= gw_admit_max(t->z))
		return 0;
	l = lane_of(t, s->az->zi, 0);
	/* a call that waits, of this zone (its order) or of one that may go
	 * (it is first: the slot was freed this turn) */
	if (l && (l->qh || l->held >= gw_admit_agent_max(t->z)))
		return 0;
	if (next_lane(t))
		return 0;
	l = l ? l : lane_of(t, s->az->zi, 1);
	if (!l)
		return 0; /* out of memory: it waits, and fails there */
	take_slot(t, l, p);
	return 1;
}

int gw_admit_queue(struct gw *g, struct tzone *t, struct asess *s,
		   struct preq *p, char *msg, size_t len)
{
	struct gw_lane *l;

	/* the bytes of every call waiting here count in the budgets of
	 * messages waiting for links (LINK_QUEUED_MAX, LINK_QUEUED_ZONE_MAX) */
	if (g->link_queued + len > LINK_QUEUED_MAX ||
	    s->az->link_queued + len > LINK_QUEUED_ZONE_MAX)
		return -1;
	l = lane_of(t, s->az->zi, 1);
	if (!l)
		return -1;
	p->qmsg = msg;
	p->qlen = len;
	p->qzi = l->zi;
	p->queued = 1;
	p->qnext = NULL;
	p->qprev = l->qt;
	if (l->qt)
		l->qt->qnext = p;
	else
		l->qh = p;
	l->qt = p;
	t->nqueued++;
	t->queued_bytes += len;
	g->link_queued += len;
	s->az->link_queued += len;
	g->admit_due = 1; /* a slot may be free for it by the turn's end */
	return 0;
}

/* Takes queued call p off its lane l (its message is the caller's). */
static void unqueue(struct gw *g, struct tzone *t, struct gw_lane *l,
		    struct preq *p)
{
	if (p->qprev)
		p->qprev->qnext = p->qnext;
	else
		l->qh = p->qnext;
	if (p->qnext)
		p->qnext->qprev = p->qprev;
	else
		l->qt = p->qprev;
	p->qnext = p->qprev = NULL;
	p->queued = 0;
	t->nqueued--;
	t->queued_bytes -= p->qlen;
	g->link_queued -= p->qlen;
	if (p->s)
		p->s->az->link_queued -= p->qlen;
}

void gw_admit_release(struct gw *g, struct preq *p)
{
	struct tzone *t;
	struct gw_lane *l;

	if (!p->slot && !p->queued)
		return;
	t = p->ti < g->ntz ? g->tz[p->ti] : NULL;
	l = t ? lane_of(t, p->qzi, 0) : NULL;
	if (!l) /* cannot be: every slot and queued call has its lane */
		return;
	if (p->queued) {
		unqueue(g, t, l, p);
		free(p->qmsg);
		p->qmsg = NULL;
	}
	if (p->slot) {
		p->slot = 0;
		t->busy--;
		l->held--;
		g->admit_due = 1; /* gw_admit_dispatch at the turn's end */
	}
	lane_gc(t, l);
}

/* Sends call p, just given a slot, on its session's link (the message
 * is freed); a failure ends the call as a send at its arrival would. */
static void dispatch_one(struct gw *g, struct tzone *t, struct preq *p)
{
	char *msg = p->qmsg;
	size_t len = p->qlen;
	struct asess *s = p->s;

	p->qmsg = NULL;
	p->t_sent = gw_now_us();
	/* its link's request table went while it waited (the link was
	 * reset): it has no deadline any more, and is not sent untracked */
	if (!p->uc || gw_up_link_ensure(g, s, t->ti) ||
	    gw_up_link_send(g, s, t->ti, msg, len))
		gw_req_fail(g, p, GW_ERR_GATEWAY,
			    "tool zone is busy or unavailable",
			    "upstream send failed");
	free(msg);
}

void gw_admit_dispatch(struct gw *g)
{
	if (!g->admit_due)
		return;
	g->admit_due = 0;
	for (size_t i = 0; i < g->ntz; i++) {
		struct tzone *t = g->tz[i];
		struct gw_lane *l;
		while (t->nqueued && t->busy < gw_admit_max(t->z) &&
		       (l = next_lane(t)) != NULL) {
			struct preq *p = l->qh;
			unqueue(g, t, l, p);
			take_slot(t, l, p);
			dispatch_one(g, t, p);
		}
	}
}

json_t *gw_admit_status(const struct tzone *t)
{
	return json_pack("{s:I,s:I,s:I,s:I,s:I}", "max_inflight",
			 (json_int_t)gw_admit_max(t->z), "agent_max_inflight",
			 (json_int_t)gw_admit_agent_max(t->z), "inflight",
			 (json_int_t)t->busy, "queued", (json_int_t)t->nqueued,
			 "queued_bytes", (json_int_t)t->queued_bytes);
}
