/* Each supervised zone's console (its stdout and stderr through one
 * pipe), kept by zonectl's supervisor as timestamped lines in a log file
 * per zone with size-capped rotation (docs/zones.md, "Logs"). */
#define _GNU_SOURCE
#include "zone_sup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TAIL_READ_MAX (2u << 20) /* bytes read from each file for a tail */

int zone_log_open(struct zone_log *l, const char *path, off_t cap)
{
	struct stat st;

	memset(l, 0, sizeof(*l));
	l->fd = -1;
	if (snprintf(l->path, sizeof(l->path), "%s", path) >=
	    (int)sizeof(l->path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	l->cap = cap > 0 ? cap : SUP_LOG_CAP_DEF;
	l->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (l->fd < 0 || fstat(l->fd, &st) < 0)
		return -1;
	l->size = st.st_size;
	return 0;
}

void zone_log_close(struct zone_log *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
}

/* PATH becomes PATH.1 (the older one goes) and a new PATH is opened. */
static void rotate(struct zone_log *l)
{
	char old[ZONE_PATH_MAX + 4];

	if (snprintf(old, sizeof(old), "%s.1", l->path) >= (int)sizeof(old))
		return;
	if (rename(l->path, old) < 0)
		return;
	close(l->fd);
	l->fd = open(l->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	l->size = 0;
}

/* Writes "STAMP text\n" and hands it to line_cb. */
static void emit(struct zone_log *l, const char *text, size_t n,
		 void (*line_cb)(void *, const char *, size_t), void *arg)
{
	char line[SUP_LOG_LINE_MAX + 64];
	struct timespec ts;
	struct tm tm;
	int k;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	k = snprintf(line, sizeof(line),
		     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %.*s\n",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, (int)n, text);
	if (k < 0)
		return;
	if ((size_t)k >= sizeof(line))
		k = (int)sizeof(line) - 1;
	if (l->fd >= 0 && l->size + k > l->cap)
		rotate(l);
	if (l->fd >= 0 && write(l->fd, line, (size_t)k) == k)
		l->size += k;
	if (line_cb)
		line_cb(arg, line, (size_t)k);
}

void zone_log_feed(struct zone_log *l, const char *buf, size_t n,
		   void (*line_cb)(void *, const char *, size_t), void *arg)
{
	for (size_t i = 0; i < n; i++) {
		if (buf[i] == '\n' || l->plen == sizeof(l->part)) {
			emit(l, l->part, l->plen, line_cb, arg);
			l->plen = 0;
			if (buf[i] == '\n')
				continue;
		}
		l->part[l->plen++] = buf[i] ? buf[i] : ' ';
	}
}

void zone_log_note(struct zone_log *l, const char *text,
		   void (*line_cb)(void *, const char *, size_t), void *arg)
{
	emit(l, text, strlen(text), line_cb, arg);
}

/* Appends the end of file path (at most TAIL_READ_MAX bytes) to buf. */
static int read_end(const char *path, char **buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	off_t from;
	char *nb;
	ssize_t k;

	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (fstat(fd, &st) < 0)
		goto fail;
	from = st.st_size > (off_t)TAIL_READ_MAX
		       ? st.st_size - (off_t)TAIL_READ_MAX
		       : 0;
	nb = realloc(*buf, *len + (size_t)(st.st_size - from) + 1);
	if (!nb)
		goto fail;
	*buf = nb;
	k = pread(fd, *buf + *len, (size_t)(st.st_size - from), from);
	if (k < 0)
		goto fail;
	*len += (size_t)k;
	(*buf)[*len] = 0;
	close(fd);
	return 0;
fail:
	close(fd);
	return -1;
}

char *zone_log_tail(const struct zone_log *l, long n)
{
	char old[ZONE_PATH_MAX + 4], *buf = malloc(1), *p, *out;
	size_t len = 0;
	long seen = 0;

	if (!buf)
		return NULL;
	buf[0] = 0;
	snprintf(old, sizeof(old), "%s.1", l->path);
	if (read_end(old, &buf, &len) < 0 || read_end(l->path, &buf, &len) < 0)
		len = strlen(buf);
	/* from the end back over n newlines */
	for (p = buf + len; p > buf; p--)
		if (p[-1] == '\n' && p != buf + len && ++seen == n)
			break;
	out = strdup(p);
	free(buf);
	return out;
}
