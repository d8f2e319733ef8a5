/* Helpers shared by the channel tests: a private sim directory per test
 * process (so tests run in parallel) and small poll-loop drivers. */
#ifndef ZG_CHANTEST_H
#define ZG_CHANTEST_H

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zonegate/chan.h>
#include <zonegate/chan_mux.h>

static char chantest_dir[64];

/* Creates a fresh ZONEGATE_SIM_DIR; removed by chantest_cleanup(). */
static inline void chantest_setup(void)
{
	snprintf(chantest_dir, sizeof(chantest_dir), "/tmp/zgchan.XXXXXX");
	if (!mkdtemp(chantest_dir)) {
		perror("mkdtemp");
		exit(2);
	}
	setenv("ZONEGATE_SIM_DIR", chantest_dir, 1);
}

static inline void chantest_cleanup(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", chantest_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", chantest_dir);
}

static inline long chantest_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Drives muxes (NULL entries skipped) until *done is nonzero or ms pass.
 * Returns nonzero if done. */
static inline int chantest_pump(chan_mux **mv, int n, volatile int *done,
				int ms)
{
	long end = chantest_ms() + ms;
	struct pollfd p[16];

	while (!*done && chantest_ms() < end) {
		int k = 0, t = 20;
		for (int i = 0; i < n; i++) {
			if (!mv[i])
				continue;
			p[k].fd = chan_mux_fd(mv[i]);
			p[k].events = chan_mux_events(mv[i]);
			p[k].revents = 0;
			int mt = chan_mux_timeout_ms(mv[i]);
			if (mt >= 0 && mt < t)
				t = mt;
			k++;
		}
		poll(p, (nfds_t)k, t);
		for (int i = 0; i < n; i++)
			if (mv[i])
				chan_mux_process(mv[i]);
	}
	return *done;
}

/* RUN for a case taking one argument (needs zgtest.h first). */
#define RUN_CASE(fn, arg)                                                   \
	do {                                                                \
		int zgt_before = zgt_failures;                              \
		fn(arg);                                                    \
		fprintf(stderr, "%s %s\n",                                  \
			zgt_failures == zgt_before ? "ok  " : "FAIL", #fn); \
	} while (0)

#endif
