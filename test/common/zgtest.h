/* A minimal unit-test harness shared by every part's tests: each check
 * prints file:line and the failed expression, and the binary's exit
 * status is the number of failures (capped), so ctest sees it. */
#ifndef ZGTEST_H
#define ZGTEST_H

#include <stdio.h>
#include <string.h>

static int zgt_failures;
static int zgt_checks;

#define CHECK(cond)                                                            \
	do {                                                                   \
		zgt_checks++;                                                  \
		if (!(cond)) {                                                 \
			zgt_failures++;                                        \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
				__LINE__, #cond);                              \
		}                                                              \
	} while (0)

#define CHECK_EQ_INT(a, b)                                                    \
	do {                                                                  \
		long long zgt_a = (long long)(a), zgt_b = (long long)(b);     \
		zgt_checks++;                                                 \
		if (zgt_a != zgt_b) {                                         \
			zgt_failures++;                                       \
			fprintf(stderr, "%s:%d: %s == %lld, expected %lld\n", \
				__FILE__, __LINE__, #a, zgt_a, zgt_b);        \
		}                                                             \
	} while (0)

#define CHECK_STR(a, b)                                                   \
	do {                                                              \
		const char *zgt_a = (a), *zgt_b = (b);                    \
		zgt_checks++;                                             \
		if (!zgt_a || !zgt_b || strcmp(zgt_a, zgt_b) != 0) {      \
			zgt_failures++;                                   \
			fprintf(stderr,                                   \
				"%s:%d: %s == \"%s\", expected \"%s\"\n", \
				__FILE__, __LINE__, #a,                   \
				zgt_a ? zgt_a : "(null)",                 \
				zgt_b ? zgt_b : "(null)");                \
		}                                                         \
	} while (0)

#define RUN(fn)                                                             \
	do {                                                                \
		int zgt_before = zgt_failures;                              \
		fn();                                                       \
		fprintf(stderr, "%s %s\n",                                  \
			zgt_failures == zgt_before ? "ok  " : "FAIL", #fn); \
	} while (0)

#define ZGT_DONE()                                                            \
	(fprintf(stderr, "%d checks, %d failed\n", zgt_checks, zgt_failures), \
	 zgt_failures > 100 ? 100 : zgt_failures)

#endif
