/* Small helpers shared by the gateway's roles and gatewayctl: capped
 * whole-file reads, atomic replacement, path joining, and UTF-8-safe
 * cutting of text that came from a zone. */
#include "gw.h"
#include "gw_file.h"
#include "utf8.h"

#include <zonegate/chan.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int gw_open_regular(const char *path, int flags, mode_t mode, char *err,
		    size_t errlen)
{
	int fd = open(path, flags | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, mode);
	struct stat st;
	int fl;

	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen,
			 "%s: not a regular file (refused: a FIFO, device "
			 "or directory cannot be used here)",
			 path);
		close(fd);
		return -1;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

char *gw_read_file(const char *path, size_t cap, size_t *len, char *err,
		   size_t errlen)
{
	/* Never blocks on a FIFO (or a device): the loop and --check go on;
	 * only a regular file is read, after symlinks were followed (a
	 * ConfigMap's files are links). */
	int fd = gw_open_regular(path, O_RDONLY, 0, err, errlen);
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	ssize_t n;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if ((size_t)st.st_size > cap) {
		snprintf(err, errlen, "%s: larger than %zu bytes", path, cap);
		goto fail;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto fail;
	}
	/* The file may grow while we read: never past what we sized. */
	while (got < (size_t)st.st_size) {
		n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	if (len)
		*len = got;
	return buf;
fail:
	free(buf);
	close(fd);
	return NULL;
}

int gw_write_atomic(const char *path, const char *data, size_t len, char *err,
		    size_t errlen)
{
	char tmp[4096];
	int fd, rc = -1;
	size_t off = 0;
	ssize_t n;
	struct stat st;
	mode_t mode = 0640;

	if (stat(path, &st) == 0)
		mode = st.st_mode & 07777;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >=
	    (int)sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	while (off < len) {
		n = write(fd, data + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
			goto out;
		}
		off += (size_t)n;
	}
	if (fsync(fd) != 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	if (rename(tmp, path) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	close(fd);
	if (rc)
		unlink(tmp);
	return rc;
}

char *gw_path_join(const char *dir, const char *rel)
{
	size_t dl, rl;
	char *p;

	if (rel[0] == '/' || !dir || !*dir)
		return strdup(rel);
	dl = strlen(dir);
	rl = strlen(rel);
	p = malloc(dl + rl + 2);
	if (!p)
		return NULL;
	memcpy(p, dir, dl);
	p[dl] = '/';
	memcpy(p + dl + 1, rel, rl + 1);
	return p;
}

int64_t gw_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t gw_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The gateway's names for the MCP core's UTF-8 cutting (mcp/utf8.c), kept
 * so that its callers need no change. */
size_t gw_utf8_char(const char *p, size_t n)
{
	return mcp_utf8_char(p, n);
}

size_t gw_utf8_prefix(const char *s, size_t max)
{
	return mcp_utf8_prefix(s, max);
}

int gw_unix_path_free(const char *path, char *err, size_t errlen)
{
	return chan_unix_path_free(path, err, errlen);
}
