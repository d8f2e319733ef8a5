/* The Streamable HTTP transport's event thread: mcpd drives libmicrohttpd
 * itself (external epoll mode) instead of letting it run a thread of its
 * own, so that it can poll for a few tens of microseconds before it
 * sleeps while requests keep coming (a sleeping vCPU takes tens of
 * microseconds to wake up again on a VM). */
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "http_internal.h"

struct http_loop {
	struct MHD_Daemon *d;
	int epoll_fd; /* libmicrohttpd's, polled here */
	int wake_fd;  /* an eventfd: http_loop_wake, and stopping */
	atomic_int stop;
	pthread_t thread;
	/* http_loop_quiesce's request, done on the loop's thread: 1 asked,
	 * 2 done (quiesced_fd set); under mu, and asked without it */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int quiesce;
	int quiesced_fd;
	int ended; /* under mu: the thread left its loop */
	atomic_int asked;
	long long window; /* ns polled before sleeping; loop thread only */
};

/* The loop whose thread this is (NULL on other threads). */
static _Thread_local struct http_loop *this_loop;

static long long mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* How long the next poll may block: libmicrohttpd's own timeout (its
 * connections' deadlines, or 0 when it has data pending), capped at a
 * second; -1 when it needs none. */
static int block_ms(struct MHD_Daemon *d)
{
	MHD_UNSIGNED_LONG_LONG t;

	if (MHD_get_timeout(d, &t) != MHD_YES)
		return -1;
	return t > 1000 ? 1000 : (int)t;
}

/* Polls without sleeping for up to window ns; returns what poll returned
 * last (0: nothing came within the window). */
static int spin(struct pollfd *fds, long long window)
{
	long long until = mono_ns() + window;
	int n;

	do {
		n = poll(fds, 2, 0);
	} while (n == 0 && mono_ns() < until);
	return n;
}

/* After a busy turn whose polling window ran out (or was 0), the thread
 * slept for slept ns (-1: until a timeout). A window that would have
 * caught the event doubles (up to HTTP_SPIN_US), one that was too short
 * for it halves (and goes under 1 us to 0): when the gaps between
 * requests are longer than the most it may poll (a loaded machine, a
 * slow client) it stops burning CPU, as a guest's halt-polling does. */
static void adapt(struct http_loop *l, long long slept)
{
	const long long max = HTTP_SPIN_US * 1000LL;

	if (slept >= 0 && l->window + slept <= max)
		l->window = l->window ? 2 * l->window : max / 8;
	else
		l->window /= 2;
	if (l->window > max)
		l->window = max;
	if (l->window < 1000)
		l->window = 0;
}

/* libmicrohttpd's external mode expects one thread to use a daemon: a
 * quiesce asked by another thread is done here, between two runs. */
static void quiesce_if_asked(struct http_loop *l)
{
	pthread_mutex_lock(&l->mu);
	atomic_store(&l->asked, 0);
	if (l->quiesce == 1) {
		l->quiesced_fd = MHD_quiesce_daemon(l->d);
		l->quiesce = 2;
		pthread_cond_broadcast(&l->cv);
	}
	pthread_mutex_unlock(&l->mu);
}

static void *loop_main(void *arg)
{
	struct http_loop *l = arg;
	struct pollfd fds[2] = { { l->epoll_fd, POLLIN, 0 },
				 { l->wake_fd, POLLIN, 0 } };
	int busy = 0; /* the last turn had something to do */
	uint64_t v;

	this_loop = l;
	while (!atomic_load(&l->stop)) {
		int ms = block_ms(l->d), n = 0;
		long long t0;

		/* Only right after work, and only when libmicrohttpd has
		 * nothing due at once: an idle server never spins. */
		if (busy && ms != 0 && l->window > 0)
			n = spin(fds, l->window);
		if (n == 0 && ms != 0) {
			t0 = busy ? mono_ns() : 0;
			n = poll(fds, 2, ms);
			if (busy)
				adapt(l, n > 0 ? mono_ns() - t0 : -1);
		}
		if (n < 0 && errno != EINTR)
			break;
		/* drained before MHD_run: a wake-up from now on is another
		 * turn, so a resumption is never missed */
		if (n > 0 && fds[1].revents &&
		    read(l->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			break;
		if (atomic_load(&l->asked))
			quiesce_if_asked(l);
		busy = n > 0;
		MHD_run(l->d);
	}
	pthread_mutex_lock(&l->mu);
	l->ended = 1; /* a quiesce asked from now on is done by its caller */
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

struct http_loop *http_loop_start(struct MHD_Daemon *d)
{
	struct http_loop *l = calloc(1, sizeof(*l));
	const union MHD_DaemonInfo *i =
		MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD);
	pthread_attr_t a;
	int rc;

	if (!l || !i)
		goto fail;
	l->d = d;
	l->epoll_fd = i->epoll_fd;
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cv, NULL);
	l->window = HTTP_SPIN_US * 1000LL;
	l->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->wake_fd < 0)
		goto fail;
	/* handlers that may block run on the worker pool, never here */
	pthread_attr_init(&a);
	pthread_attr_setstacksize(&a, 256 * 1024);
	rc = pthread_create(&l->thread, &a, loop_main, l);
	pthread_attr_destroy(&a);
	if (rc != 0) {
		close(l->wake_fd);
		pthread_mutex_destroy(&l->mu);
		pthread_cond_destroy(&l->cv);
		goto fail;
	}
	return l;
fail:
	free(l);
	return NULL;
}

struct MHD_Daemon *http_loop_daemon(const struct http_loop *l)
{
	return l->d;
}

struct http_loop *http_loop_current(void)
{
	return this_loop;
}

void http_loop_wake(struct http_loop *l)
{
	uint64_t one = 1;

	/* EAGAIN: the counter is full, so a wake-up is pending anyway */
	if (l)
		while (write(l->wake_fd, &one, sizeof(one)) < 0 &&
		       errno == EINTR)
			;
}

int http_loop_quiesce(struct http_loop *l)
{
	int fd;

	if (this_loop == l)
		return MHD_quiesce_daemon(l->d);
	pthread_mutex_lock(&l->mu);
	l->quiesce = 1;
	atomic_store(&l->asked, 1);
	http_loop_wake(l);
	while (l->quiesce != 2 && !l->ended)
		pthread_cond_wait(&l->cv, &l->mu);
	fd = l->quiesce == 2 ? l->quiesced_fd : MHD_quiesce_daemon(l->d);
	l->quiesce = 0;
	pthread_mutex_unlock(&l->mu);
	return fd;
}

void http_loop_stop(struct http_loop *l)
{
	if (!l)
		return;
	atomic_store(&l->stop, 1);
	http_loop_wake(l);
	pthread_join(l->thread, NULL);
	close(l->wake_fd);
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->cv);
	MHD_stop_daemon(l->d);
	free(l);
}
