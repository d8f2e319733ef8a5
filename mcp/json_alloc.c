/* jansson's allocator for mcpd: a small per-thread cache of freed blocks.
 * One call on the HTTP path builds and frees some fifty small JSON values
 * (objects, their hash tables, pairs, strings), more of one size than
 * glibc's per-thread cache keeps, so most of them took its slower paths.
 * Blocks come from malloc and go back to free; the cache only holds a
 * bounded number of freed ones per size class for the thread that freed
 * them, so a block may be freed by either allocator at any time. */
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>

#include "jsonrpc.h"

/* Size classes follow glibc's chunks (16 bytes apart, 8 of header):
 * class i holds blocks with at least 24 + 16 * i usable bytes. */
#define JA_CLASSES 12 /* up to 200 usable bytes */
#define JA_MAX_USABLE (24 + 16 * (JA_CLASSES - 1))

/* What the sanitizers must see: every allocation their own. */
#if defined(__SANITIZE_ADDRESS__)
#define JA_OFF 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define JA_OFF 1
#endif
#endif

struct ja_cache {
	unsigned n[JA_CLASSES];
	void *blk[JA_CLASSES][JR_ALLOC_PER_CLASS];
};

static _Thread_local struct ja_cache tc;
static _Thread_local int tc_registered;
static pthread_key_t tc_key;
static pthread_once_t tc_once = PTHREAD_ONCE_INIT;

/* At a thread's end (on that thread): its cached blocks go back to
 * malloc. A block freed after this (by a later destructor) registers the
 * cache again, and the thread's end runs this again. */
static void tc_release(void *arg)
{
	struct ja_cache *c = arg;

	for (unsigned i = 0; i < JA_CLASSES; i++) {
		while (c->n[i] > 0)
			free(c->blk[i][--c->n[i]]);
	}
	tc_registered = 0;
}

/* The class that serves n bytes (n <= JA_MAX_USABLE). */
static unsigned class_of(size_t n)
{
	return n <= 24 ? 0 : (unsigned)((n - 24 + 15) / 16);
}

static void *ja_malloc(size_t n)
{
	unsigned i;

	if (n <= JA_MAX_USABLE) {
		i = class_of(n);
		if (tc.n[i] > 0)
			return tc.blk[i][--tc.n[i]];
	}
	return malloc(n);
}

static void ja_free(void *p)
{
	size_t u;
	unsigned i;

	if (!p)
		return;
	u = malloc_usable_size(p);
	if (u < 24 || u > JA_MAX_USABLE + 15) {
		free(p);
		return;
	}
	i = (unsigned)((u - 24) / 16);
	if (i >= JA_CLASSES)
		i = JA_CLASSES - 1;
	/* the cap: a thread keeps at most JR_ALLOC_PER_CLASS per class */
	if (tc.n[i] >= JR_ALLOC_PER_CLASS) {
		free(p);
		return;
	}
	if (!tc_registered) {
		/* without the key the thread's blocks would outlive it */
		if (pthread_setspecific(tc_key, &tc) != 0) {
			free(p);
			return;
		}
		tc_registered = 1;
	}
	tc.blk[i][tc.n[i]++] = p;
}

static void install(void)
{
	if (pthread_key_create(&tc_key, tc_release) == 0)
		json_set_alloc_funcs(ja_malloc, ja_free);
}

void jr_alloc_install(void)
{
#ifndef JA_OFF
	pthread_once(&tc_once, install);
#else
	(void)tc_once;
	(void)install;
#endif
}

size_t jr_alloc_cached(size_t n)
{
	return n <= JA_MAX_USABLE ? tc.n[class_of(n)] : 0;
}
