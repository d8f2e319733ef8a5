/* Per-rule limits: a token bucket for rate=, an in-flight counter for
 * concurrency=. State is kept per (rule, calling zone) so that one zone
 * using up a shared rule's budget never throttles another zone. A rule
 * is known by its text, so a policy reload keeps the state of every rule
 * it leaves unchanged (a reload never refills a bucket or forgets calls
 * in flight) and drops that of rules it removed or changed. Deadlines and
 * byte caps are enforced where the messages flow (gw_request.c). */
#include "gw.h"

#include <stdlib.h>
#include <string.h>

struct lim_entry {
	uint64_t sig;
	unsigned zone;
	struct gw_limit v;
	struct lim_entry *next;
};

#define LIM_BUCKETS 1024

struct gw_limits {
	struct lim_entry *b[LIM_BUCKETS];
};

void gw_bucket_init(struct gw_bucket *b, long n, long per_ms, int64_t now)
{
	b->cap = (double)n;
	b->tokens = (double)n;
	b->per_ms = per_ms > 0 ? (double)n / (double)per_ms : 0;
	b->last_ms = now;
}

/* Adds what b earned since it was last looked at. */
static void bucket_refill(struct gw_bucket *b, int64_t now)
{
	if (now > b->last_ms) {
		b->tokens += (double)(now - b->last_ms) * b->per_ms;
		if (b->tokens > b->cap)
			b->tokens = b->cap;
		b->last_ms = now;
	}
}

int gw_bucket_take(struct gw_bucket *b, int64_t now)
{
	bucket_refill(b, now);
	if (b->tokens < 1.0)
		return 0;
	b->tokens -= 1.0;
	return 1;
}

void gw_bucket_charge(struct gw_bucket *b, int64_t now)
{
	bucket_refill(b, now);
	b->tokens -= 1.0;
	if (b->tokens < -b->cap)
		b->tokens = -b->cap;
}

int64_t gw_bucket_wait_ms(struct gw_bucket *b, int64_t now)
{
	double ms;

	bucket_refill(b, now);
	if (b->tokens >= 1.0 || b->per_ms <= 0)
		return 0;
	ms = (1.0 - b->tokens) / b->per_ms;
	return (int64_t)ms + 1; /* whole ms, rounded up */
}

void gw_bucket_set(struct gw_bucket *b, long n, long per_ms)
{
	b->cap = (double)n;
	b->per_ms = per_ms > 0 ? (double)n / (double)per_ms : 0;
	if (b->tokens > b->cap)
		b->tokens = b->cap;
}

struct gw_limits *gw_limits_new(void)
{
	return calloc(1, sizeof(struct gw_limits));
}

static void limits_drop_all(struct gw_limits *l)
{
	for (size_t i = 0; i < LIM_BUCKETS; i++) {
		struct lim_entry *e = l->b[i], *nx;
		for (; e; e = nx) {
			nx = e->next;
			free(e);
		}
		l->b[i] = NULL;
	}
}

static int has_sig(const struct policy *p, uint64_t sig)
{
	for (size_t i = 0, n = policy_nrules(p); i < n; i++)
		if (policy_rule(p, i)->sig == sig)
			return 1;
	return 0;
}

void gw_limits_retain(struct gw_limits *l, const struct policy *p)
{
	for (size_t i = 0; i < LIM_BUCKETS; i++) {
		struct lim_entry **pp = &l->b[i], *e;
		while ((e = *pp) != NULL) {
			if (e->v.inflight > 0 || has_sig(p, e->sig)) {
				pp = &e->next;
				continue;
			}
			*pp = e->next;
			free(e);
		}
	}
}

void gw_limits_forget_zone(struct gw_limits *l, unsigned zone)
{
	for (size_t i = 0; i < LIM_BUCKETS; i++) {
		struct lim_entry **pp = &l->b[i], *e;
		while ((e = *pp) != NULL) {
			if (e->zone != zone || e->v.inflight > 0) {
				pp = &e->next;
				continue;
			}
			*pp = e->next;
			free(e);
		}
	}
}

size_t gw_limits_count(const struct gw_limits *l)
{
	size_t n = 0;

	for (size_t i = 0; i < LIM_BUCKETS; i++)
		for (const struct lim_entry *e = l->b[i]; e; e = e->next)
			n++;
	return n;
}

void gw_limits_free(struct gw_limits *l)
{
	if (!l)
		return;
	limits_drop_all(l);
	free(l);
}

struct gw_limit *gw_limits_get(struct gw_limits *l, const struct pol_rule *r,
			       unsigned zone, int64_t now)
{
	uint64_t key = r->sig ^ ((uint64_t)zone * 0x9e3779b97f4a7c15ull);
	struct lim_entry *e;
	size_t b = (size_t)((key * 11400714819323198485ull) >> 54);

	for (e = l->b[b]; e; e = e->next)
		if (e->sig == r->sig && e->zone == zone)
			return &e->v;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->sig = r->sig;
	e->zone = zone;
	if (r->rate_n)
		gw_bucket_init(&e->v.bucket, r->rate_n, r->rate_per_ms, now);
	e->next = l->b[b];
	l->b[b] = e;
	return &e->v;
}
