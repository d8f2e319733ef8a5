/* Unit tests of mcpd's worker pool (mcp/workers.c): jobs that block run
 * side by side up to the pool's cap, however the burst meets the threads
 * already there; a job past the cap waits for a thread, and nothing is
 * lost; destroying the pool runs what is queued and joins every thread.
 *
 * What test_burst_meets_idle_thread proves: a burst of jobs that finds
 * one idle thread starts threads for all of them. Before the fix, every
 * job of the burst saw that thread counted as idle (it had been signalled
 * but had not run yet) and only signalled it, so the whole burst queued
 * behind one thread and ran one job at a time; mcpd then answered 256
 * 3-second calls at one per 3 s, and the gateway timed the rest out
 * (seen in gw_stateless). With the `queued > idle` check in
 * mcp_pool_submit taken out, this test fails in every run: the jobs never
 * all run at once. */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "mcp_internal.h"
#include "zgtest.h"

#define BURST 8

/* A gate that opens when `want` jobs have reached it at once. */
struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int in, want, most, done, timed_out;
	long wait_ms; /* how long a job waits for the others */
};

static void gate_job(void *arg)
{
	struct gate *g = arg;
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += (g->wait_ms % 1000) * 1000000L;
	until.tv_sec += g->wait_ms / 1000 + until.tv_nsec / 1000000000L;
	until.tv_nsec %= 1000000000L;
	pthread_mutex_lock(&g->mu);
	g->in++;
	if (g->in > g->most)
		g->most = g->in;
	pthread_cond_broadcast(&g->cv);
	while (g->most < g->want)
		if (pthread_cond_timedwait(&g->cv, &g->mu, &until) != 0) {
			g->timed_out++;
			break;
		}
	g->in--;
	g->done++;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

static void gate_init(struct gate *g, int want, long wait_ms)
{
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
	g->in = g->most = g->done = g->timed_out = 0;
	g->want = want;
	g->wait_ms = wait_ms;
}

/* Waits (up to 10 s) until n jobs of g have ended. */
static void gate_wait_done(struct gate *g, int n)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	pthread_mutex_lock(&g->mu);
	while (g->done < n)
		if (pthread_cond_timedwait(&g->cv, &g->mu, &until) != 0)
			break;
	pthread_mutex_unlock(&g->mu);
}

/* Waits (up to 5 s) until the pool has n idle threads. */
static int wait_idle(struct mcp_pool *p, unsigned n)
{
	for (int i = 0; i < 5000; i++) {
		unsigned idle;
		pthread_mutex_lock(&p->mu);
		idle = p->idle;
		pthread_mutex_unlock(&p->mu);
		if (idle == n)
			return 0;
		usleep(1000);
	}
	return -1;
}

/* A burst of BURST jobs that each wait until all of them run at once:
 * they must all run at once, and none time out. */
static void run_burst(struct mcp_pool *p)
{
	struct gate g;

	gate_init(&g, BURST, 3000);
	for (int i = 0; i < BURST; i++)
		CHECK_EQ_INT(mcp_pool_submit(p, gate_job, &g), 0);
	gate_wait_done(&g, BURST);
	CHECK_EQ_INT(g.most, BURST);
	CHECK_EQ_INT(g.timed_out, 0);
	CHECK_EQ_INT(g.done, BURST);
}

static void test_burst_meets_idle_thread(void)
{
	struct mcp_pool p;
	struct gate one;

	mcp_pool_init(&p, 32);
	/* one job, so that one thread is left idle */
	gate_init(&one, 1, 3000);
	CHECK_EQ_INT(mcp_pool_submit(&p, gate_job, &one), 0);
	gate_wait_done(&one, 1);
	CHECK_EQ_INT(wait_idle(&p, 1), 0);
	run_burst(&p);
	mcp_pool_destroy(&p);
}

/* Bursts at a pool already running jobs, several times over. */
static void test_bursts_repeated(void)
{
	struct mcp_pool p;

	mcp_pool_init(&p, 32);
	for (int round = 0; round < 5; round++)
		run_burst(&p);
	mcp_pool_destroy(&p);
}

/* Past the cap, jobs wait for a thread: 3 threads, 6 jobs that each wait
 * for 6 at once never get there (they time out), yet all 6 run and at
 * most 3 at a time. */
static void test_cap_holds(void)
{
	struct mcp_pool p;
	struct gate g;

	mcp_pool_init(&p, 3);
	gate_init(&g, 6, 200);
	for (int i = 0; i < 6; i++)
		CHECK_EQ_INT(mcp_pool_submit(&p, gate_job, &g), 0);
	gate_wait_done(&g, 6);
	CHECK_EQ_INT(g.done, 6);
	CHECK_EQ_INT(g.most, 3);
	pthread_mutex_lock(&p.mu);
	CHECK(p.threads <= 3);
	CHECK_EQ_INT(p.queued, 0);
	pthread_mutex_unlock(&p.mu);
	mcp_pool_destroy(&p);
}

static atomic_int counted;

static void count_job(void *arg)
{
	(void)arg;
	atomic_fetch_add(&counted, 1);
}

/* Destroy runs what is still queued. */
static void test_destroy_runs_queued(void)
{
	struct mcp_pool p;

	mcp_pool_init(&p, 2);
	atomic_store(&counted, 0);
	for (int i = 0; i < 100; i++)
		CHECK_EQ_INT(mcp_pool_submit(&p, count_job, NULL), 0);
	mcp_pool_destroy(&p);
	CHECK_EQ_INT(atomic_load(&counted), 100);
	CHECK_EQ_INT(p.queued, 0);
}

int main(void)
{
	RUN(test_burst_meets_idle_thread);
	RUN(test_bursts_repeated);
	RUN(test_cap_holds);
	RUN(test_destroy_runs_queued);
	return ZGT_DONE();
}
