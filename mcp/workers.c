/* The worker pool that runs MCP handlers: threads start on demand up to a
 * cap and exit after a while idle, so an idle mcpd holds no threads. */
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <sys/prctl.h>

#include "mcp_internal.h"

#define IDLE_EXIT_SECONDS 10

void mcp_pool_init(struct mcp_pool *p, unsigned max_threads)
{
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	pthread_cond_init(&p->done_cv, NULL);
	p->head = p->tail = NULL;
	p->threads = p->idle = p->queued = 0;
	p->max_threads = max_threads ? max_threads : 1;
	p->stopping = 0;
	p->done = NULL;
	p->ndone = p->done_cap = 0;
}

/* Joins the threads that have left worker_main. Called with p->mu held;
 * the joins themselves wait only for a thread's last few instructions. */
static void reap(struct mcp_pool *p)
{
	for (unsigned i = 0; i < p->ndone; i++)
		pthread_join(p->done[i], NULL);
	p->ndone = 0;
}

static struct mcp_job *take_job(struct mcp_pool *p)
{
	struct mcp_job *j = p->head;

	if (j) {
		p->head = j->next;
		if (!p->head)
			p->tail = NULL;
		p->queued--;
	}
	return j;
}

static void *worker_main(void *arg)
{
	struct mcp_pool *p = arg;

	prctl(PR_SET_NAME, "mcp-worker"); /* for per-thread CPU figures */
	pthread_mutex_lock(&p->mu);
	for (;;) {
		struct mcp_job *j = take_job(p);
		if (j) {
			pthread_mutex_unlock(&p->mu);
			j->fn(j->arg);
			free(j);
			pthread_mutex_lock(&p->mu);
			continue;
		}
		if (p->stopping)
			break;
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += IDLE_EXIT_SECONDS;
		p->idle++;
		int rc = pthread_cond_timedwait(&p->cv, &p->mu, &until);
		p->idle--;
		if (rc == ETIMEDOUT && !p->head)
			break;
	}
	/* Room for every thread was made before it started (see
	 * mcp_pool_submit), so this cannot fail. */
	p->done[p->ndone++] = pthread_self();
	p->threads--;
	pthread_cond_broadcast(&p->done_cv);
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* Makes room in p->done for n threads, so that an exiting thread never
 * needs to allocate. Called with p->mu held. Returns 0 or -1. */
static int grow_done(struct mcp_pool *p, unsigned n)
{
	pthread_t *d;
	unsigned cap;

	if (n <= p->done_cap)
		return 0;
	cap = p->done_cap ? p->done_cap * 2 : 8;
	while (cap < n)
		cap *= 2;
	d = realloc(p->done, cap * sizeof(*d));
	if (!d)
		return -1;
	p->done = d;
	p->done_cap = cap;
	return 0;
}

int mcp_pool_submit(struct mcp_pool *p, void (*fn)(void *), void *arg)
{
	struct mcp_job *j = malloc(sizeof(*j));
	int rc = 0;

	if (!j)
		return -1;
	j->fn = fn;
	j->arg = arg;
	j->next = NULL;
	pthread_mutex_lock(&p->mu);
	if (p->stopping) {
		rc = -1;
		free(j);
		goto out;
	}
	if (p->tail)
		p->tail->next = j;
	else
		p->head = j;
	p->tail = j;
	p->queued++;
	reap(p);
	if (p->idle > 0)
		pthread_cond_signal(&p->cv);
	/* A signalled thread counts as idle until it runs again: in a burst
	 * of jobs it may not have run yet when the next one comes, so "a
	 * thread is idle" is not "this job will start now". More jobs
	 * waiting than idle threads starts another (before, a burst met by
	 * one idle thread all queued behind it, and ran one at a time). */
	if (p->queued > p->idle && p->threads < p->max_threads) {
		pthread_t t;
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, 1024 * 1024);
		if (grow_done(p, p->threads + 1) == 0 &&
		    pthread_create(&t, &attr, worker_main, p) == 0)
			p->threads++;
		pthread_attr_destroy(&attr);
		/* If no thread could start, an existing one (if any) takes
		 * the job when it frees up. */
		if (p->threads == 0) {
			p->head = p->tail = NULL;
			p->queued = 0;
			free(j);
			rc = -1;
		}
	}
out:
	pthread_mutex_unlock(&p->mu);
	return rc;
}

void mcp_pool_destroy(struct mcp_pool *p)
{
	pthread_mutex_lock(&p->mu);
	p->stopping = 1;
	pthread_cond_broadcast(&p->cv);
	while (p->threads > 0)
		pthread_cond_wait(&p->done_cv, &p->mu);
	reap(p);
	free(p->done);
	p->done = NULL;
	p->done_cap = 0;
	pthread_mutex_unlock(&p->mu);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	pthread_cond_destroy(&p->done_cv);
}
