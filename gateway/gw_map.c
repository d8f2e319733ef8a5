/* A small hash map from 64-bit keys to borrowed pointers: the core's
 * request ids, server-request ids, upstream links and sessions are looked
 * up through it (chained buckets, Fibonacci hashing, doubling). */
#include "gw_core.h"

#include <stdlib.h>

struct u64node {
	uint64_t k;
	void *v;
	struct u64node *next;
};

struct u64map {
	struct u64node **b;
	size_t nb, n;
};

struct u64map *gw_map_new(void)
{
	struct u64map *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->nb = 64;
	m->b = calloc(m->nb, sizeof(*m->b));
	if (!m->b) {
		free(m);
		return NULL;
	}
	return m;
}

static size_t slot(const struct u64map *m, uint64_t k)
{
	return (size_t)((k * 11400714819323198485ull) >> 32) & (m->nb - 1);
}

void *gw_map_get(const struct u64map *m, uint64_t k)
{
	for (struct u64node *n = m->b[slot(m, k)]; n; n = n->next)
		if (n->k == k)
			return n->v;
	return NULL;
}

static void map_grow(struct u64map *m)
{
	struct u64node **nb = calloc(m->nb * 2, sizeof(*nb)), **old = m->b;
	size_t on = m->nb;

	if (!nb)
		return; /* stays correct, only slower */
	m->b = nb;
	m->nb *= 2;
	for (size_t i = 0; i < on; i++) {
		struct u64node *n = old[i], *nx;
		for (; n; n = nx) {
			size_t s = slot(m, n->k);
			nx = n->next;
			n->next = nb[s];
			nb[s] = n;
		}
	}
	free(old);
}

int gw_map_put(struct u64map *m, uint64_t k, void *v)
{
	struct u64node *n = malloc(sizeof(*n));
	size_t s;

	if (!n)
		return -1;
	if (m->n + 1 > m->nb)
		map_grow(m);
	s = slot(m, k);
	n->k = k;
	n->v = v;
	n->next = m->b[s];
	m->b[s] = n;
	m->n++;
	return 0;
}

void gw_map_del(struct u64map *m, uint64_t k)
{
	struct u64node **pp = &m->b[slot(m, k)], *n;

	for (; (n = *pp) != NULL; pp = &n->next) {
		if (n->k == k) {
			*pp = n->next;
			free(n);
			m->n--;
			return;
		}
	}
}

/* Collects every value (for sweeps that may delete); caller frees. */
void **gw_map_values(const struct u64map *m, size_t *count)
{
	void **v = malloc((m->n + 1) * sizeof(*v));
	size_t k = 0;

	if (!v) {
		*count = 0;
		return NULL;
	}
	for (size_t i = 0; i < m->nb; i++)
		for (struct u64node *n = m->b[i]; n; n = n->next)
			v[k++] = n->v;
	*count = k;
	return v;
}

void gw_map_free(struct u64map *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nb; i++) {
		struct u64node *n = m->b[i], *nx;
		for (; n; n = nx) {
			nx = n->next;
			free(n);
		}
	}
	free(m->b);
	free(m);
}

size_t gw_map_count(const struct u64map *m)
{
	return m->n;
}

void gw_map_each(const struct u64map *m, void (*fn)(void *v, void *arg),
		 void *arg)
{
	for (size_t i = 0; i < m->nb; i++)
		for (struct u64node *n = m->b[i]; n; n = n->next)
			fn(n->v, arg);
}
