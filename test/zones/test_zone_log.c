/* Unit tests of the supervisor's console logs (gateway/zone_log.c):
 * lines stamped and split at the cap, rotation to LOG.1 once the file
 * would pass its cap (so the log never grows without bound), and tails
 * across both files. */
#include "zone_sup.h"
#include "zgtest.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

/* Counts callback lines. */
static void count_cb(void *arg, const char *line, size_t n)
{
	(void)line;
	(void)n;
	(*(int *)arg)++;
}

static off_t size_of(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 ? st.st_size : -1;
}

/* Every line stamped; a partial line waits for its newline; a line
 * longer than SUP_LOG_LINE_MAX is split; NUL bytes become spaces. */
static void test_lines(void)
{
	struct zone_log l;
	char path[128], *big, *t;
	int n = 0;
	regex_t re;

	snprintf(path, sizeof(path), "%s/a.log", dir);
	CHECK_EQ_INT(zone_log_open(&l, path, 0), 0);
	zone_log_feed(&l, "one\ntw", 6, count_cb, &n);
	CHECK_EQ_INT(n, 1);
	zone_log_feed(&l, "o\nthr\0ee\n", 9, count_cb, &n);
	CHECK_EQ_INT(n, 3);
	big = malloc(SUP_LOG_LINE_MAX + 11);
	CHECK(big != NULL);
	if (!big)
		return;
	memset(big, 'x', SUP_LOG_LINE_MAX + 10);
	big[SUP_LOG_LINE_MAX + 10] = '\n';
	zone_log_feed(&l, big, SUP_LOG_LINE_MAX + 11, count_cb, &n);
	free(big);
	CHECK_EQ_INT(n, 5); /* split in two */
	zone_log_note(&l, "zonectl: note", NULL, NULL);
	t = zone_log_tail(&l, 3);
	CHECK(t != NULL);
	CHECK_EQ_INT(regcomp(&re,
			     "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:"
			     "[0-9]{2}\\.[0-9]{3}Z x+\n[0-9TZ:.-]+ x{10}\n"
			     "[0-9TZ:.-]+ zonectl: note\n$",
			     REG_EXTENDED),
		     0);
	CHECK(t && regexec(&re, t, 0, NULL, 0) == 0);
	regfree(&re);
	free(t);
	t = zone_log_tail(&l, 6);
	CHECK(t && strstr(t, "Z one\n") && strstr(t, "Z two\n") &&
	      strstr(t, "Z thr ee\n"));
	free(t);
	zone_log_close(&l);
}

/* With a 4 KiB cap, 1000 lines leave at most cap bytes in LOG and LOG.1
 * each; the tail still ends with the last lines written. Proves the
 * rotation (without it LOG holds about 50 KB). */
static void test_rotation(void)
{
	struct zone_log l;
	char path[128], old[140], line[64], *t;
	int n = 0;

	snprintf(path, sizeof(path), "%s/b.log", dir);
	snprintf(old, sizeof(old), "%s.1", path);
	CHECK_EQ_INT(zone_log_open(&l, path, 4096), 0);
	for (int i = 0; i < 1000; i++) {
		int k = snprintf(line, sizeof(line), "line %d\n", i);
		zone_log_feed(&l, line, (size_t)k, count_cb, &n);
	}
	CHECK_EQ_INT(n, 1000);
	CHECK(size_of(path) > 0 && size_of(path) <= 4096);
	CHECK(size_of(old) > 0 && size_of(old) <= 4096);
	t = zone_log_tail(&l, 2);
	CHECK(t && strstr(t, "Z line 998\n") && strstr(t, "Z line 999\n") &&
	      !strstr(t, "line 997"));
	free(t);
	zone_log_close(&l);
}

int main(void)
{
	char cmd[96];

	snprintf(dir, sizeof(dir), "/tmp/zg-zonelog.XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	RUN(test_lines);
	RUN(test_rotation);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", dir);
	return ZGT_DONE();
}
