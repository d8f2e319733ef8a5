/* files.out of a zone (docs/zones.md): the zone's output directory copied
 * back to the host when its run ends, only regular files and directories,
 * within caps, into a temporary sibling renamed into place at once; and
 * the removal of trees a zone wrote, never following its symlinks. */
#define _GNU_SOURCE
#include "sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define COPY_DEPTH_MAX 64

struct copy_ctx {
	uint64_t bytes, files, max_bytes, max_files;
	char *err;
	size_t errlen;
	char where[ZONE_PATH_MAX]; /* zone-relative path, for messages */
};

/* "files.out: WHERE/NAME: WHY" into the caller's error buffer. */
static int copy_fail(struct copy_ctx *c, const char *name, const char *why)
{
	snprintf(c->err, c->errlen, "files.out: %s/%s: %s", c->where, name,
		 why);
	return -1;
}

/* Copies regular file name from sdir to a new file in ddir, counting
 * its bytes against the cap. 0 ok, -1 with c->err. */
static int copy_file(struct copy_ctx *c, int sdir, int ddir, const char *name,
		     mode_t mode)
{
	char buf[65536];
	int in = openat(sdir, name,
			O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC),
	    out = -1, rc = -1;
	struct stat st;
	ssize_t n;

	if (in < 0 || fstat(in, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (in >= 0)
			close(in);
		return copy_fail(c, name, "not a regular file");
	}
	/* A second link may be a file of the host's that the zone could see
	 * (read by us as root): refused like a symlink. */
	if (st.st_nlink > 1) {
		close(in);
		return copy_fail(c, name, "a hard link (refused)");
	}
	out = openat(ddir, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		     mode & 0755);
	if (out < 0) {
		copy_fail(c, name, "cannot create");
		goto out;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		c->bytes += (uint64_t)n;
		if (c->bytes > c->max_bytes) {
			snprintf(c->err, c->errlen,
				 "files.out: over the cap of %llu bytes",
				 (unsigned long long)c->max_bytes);
			goto out;
		}
		if (write(out, buf, (size_t)n) != n) {
			copy_fail(c, name, "write error");
			goto out;
		}
	}
	if (n < 0) {
		copy_fail(c, name, "read error");
		goto out;
	}
	rc = 0;
out:
	close(in);
	if (out >= 0)
		close(out);
	return rc;
}

/* Copies directory sdir into ddir: each entry a regular file or a
 * directory, never followed if a symlink, counted against the caps. */
static int copy_dir(struct copy_ctx *c, int sdir, int ddir, int depth)
{
	DIR *d;
	struct dirent *de;
	int rc = 0, dup_fd = dup(sdir);

	if (dup_fd < 0)
		return copy_fail(c, "", "out of descriptors");
	d = fdopendir(dup_fd);
	if (!d) {
		close(dup_fd);
		return copy_fail(c, "", "cannot read");
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		struct stat st;
		const char *nm = de->d_name;
		if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0)
			continue;
		if (++c->files > c->max_files) {
			snprintf(c->err, c->errlen,
				 "files.out: more than %llu files",
				 (unsigned long long)c->max_files);
			rc = -1;
			break;
		}
		if (fstatat(sdir, nm, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = copy_fail(c, nm, "vanished");
		} else if (S_ISREG(st.st_mode)) {
			rc = copy_file(c, sdir, ddir, nm, st.st_mode);
		} else if (S_ISDIR(st.st_mode)) {
			size_t wl = strlen(c->where);
			int s2 = -1, d2 = -1;
			if (depth >= COPY_DEPTH_MAX)
				rc = copy_fail(c, nm, "nests too deep");
			else if (mkdirat(ddir, nm, 0755) < 0 ||
				 (s2 = openat(sdir, nm,
					      O_RDONLY | O_DIRECTORY |
						      O_NOFOLLOW | O_CLOEXEC)) <
					 0 ||
				 (d2 = openat(ddir, nm,
					      O_RDONLY | O_DIRECTORY |
						      O_NOFOLLOW | O_CLOEXEC)) <
					 0)
				rc = copy_fail(c, nm, "cannot copy");
			else {
				snprintf(c->where + wl, sizeof(c->where) - wl,
					 "/%s", nm);
				rc = copy_dir(c, s2, d2, depth + 1);
				c->where[wl] = 0;
			}
			if (s2 >= 0)
				close(s2);
			if (d2 >= 0)
				close(d2);
		} else if (S_ISLNK(st.st_mode)) {
			rc = copy_fail(c, nm, "a symlink (refused)");
		} else {
			rc = copy_fail(c, nm,
				       "a device, FIFO or socket (refused)");
		}
	}
	closedir(d);
	return rc;
}

int zone_rm_tree(int at, const char *name, int depth)
{
	int fd, rc = 0;
	DIR *d;
	struct dirent *de;

	if (unlinkat(at, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (depth > COPY_DEPTH_MAX * 4)
		return -1;
	fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    zone_rm_tree(dirfd(d), de->d_name, depth + 1) < 0)
			rc = -1;
	closedir(d);
	if (unlinkat(at, name, AT_REMOVEDIR) < 0)
		rc = -1;
	return rc;
}

int zone_copy_out(int srcfd, const char *host, uint64_t max_bytes,
		  uint64_t max_files, char *err, size_t errlen)
{
	struct copy_ctx c = { 0, 0, max_bytes, max_files, err, errlen, "" };
	char tmp[ZONE_PATH_MAX + 32];
	const char *slash = strrchr(host, '/');
	int dfd = -1, rc = -1, n;
	struct stat st;

	n = snprintf(tmp, sizeof(tmp), "%s.zonegate-tmp-XXXXXX", host);
	if (n < 0 || (size_t)n >= sizeof(tmp) || !slash) {
		snprintf(err, errlen, "files.out: host path too long");
		return -1;
	}
	if (!mkdtemp(tmp)) {
		snprintf(err, errlen, "files.out: cannot create %s: %s", tmp,
			 strerror(errno));
		return -1;
	}
	dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0 || fchmod(dfd, 0755) < 0) {
		snprintf(err, errlen, "files.out: %s: %s", tmp,
			 strerror(errno));
		goto out;
	}
	if (copy_dir(&c, srcfd, dfd, 0) < 0)
		goto out;
	/* Swap the new tree in whole: the old one (if any) moves to the
	 * temporary name and is removed after. */
	if (lstat(host, &st) == 0) {
		if (!S_ISDIR(st.st_mode) ||
		    renameat2(AT_FDCWD, tmp, AT_FDCWD, host, RENAME_EXCHANGE) <
			    0) {
			snprintf(err, errlen,
				 "files.out: cannot replace %s: %s", host,
				 S_ISDIR(st.st_mode) ? strerror(errno)
						     : "not a directory");
			goto out;
		}
	} else if (rename(tmp, host) < 0) {
		snprintf(err, errlen, "files.out: cannot create %s: %s", host,
			 strerror(errno));
		goto out;
	}
	snprintf(err, errlen, "copied %llu files, %llu bytes to %s",
		 (unsigned long long)c.files, (unsigned long long)c.bytes,
		 host);
	rc = 0;
out:
	if (dfd >= 0)
		close(dfd);
	zone_rm_tree(AT_FDCWD, tmp, 0); /* the failed copy or the old tree */
	return rc;
}
