/* ragctl's input side: reading files (capped), walking directories,
 * fetching URLs over libcurl and reading stdin, and turning each into
 * plain text (HTML stripped) with per-document metadata. */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rag_int.h"
#include "ragctl.h"

#define FETCH_TIMEOUT_S 30
#define WALK_MAX_DEPTH 32

/* Reads all of fp up to max bytes; -1 with err if larger or on error. */
int io_read_stream(FILE *fp, size_t max, char **out, size_t *len, char *err,
		   size_t errlen)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap + 1);

	if (!buf)
		goto oom;
	for (;;) {
		size_t got;
		if (n == cap) {
			char *nb;
			if (cap > max) {
				rag_errf(err, errlen,
					 "input larger than %zu bytes", max);
				goto fail;
			}
			cap *= 2;
			nb = realloc(buf, cap + 1);
			if (!nb)
				goto oom;
			buf = nb;
		}
		got = fread(buf + n, 1, cap - n, fp);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(fp)) {
		rag_errf(err, errlen, "read error: %s", strerror(errno));
		goto fail;
	}
	if (n > max) {
		rag_errf(err, errlen, "input larger than %zu bytes", max);
		goto fail;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
oom:
	rag_errf(err, errlen, "out of memory");
fail:
	free(buf);
	return -1;
}

int io_read_file(const char *path, char **out, size_t *len, char *err,
		 size_t errlen)
{
	FILE *fp = fopen(path, "rb");
	int rc;
	if (!fp) {
		rag_errf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	rc = io_read_stream(fp, RAG_MAX_DOC, out, len, err, errlen);
	fclose(fp);
	return rc;
}

int io_fetch_url(const char *url, char **out, size_t *len, int *is_html,
		 char *err, size_t errlen)
{
	struct web_capbuf b = { .max = RAG_MAX_DOC };
	CURL *h = curl_easy_init();
	const char *ctype = NULL;
	long code = 0;
	CURLcode cc;
	int rc = -1;

	if (!h) {
		rag_errf(err, errlen, "curl init failed");
		return -1;
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)FETCH_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, web_capbuf_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "zonegate-ragctl/0.1");
	cc = curl_easy_perform(h);
	if (cc != CURLE_OK) {
		rag_errf(err, errlen, "%s: %s", url,
			 b.too_big ? "document too large"
				   : curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	if (code < 200 || code > 299) {
		rag_errf(err, errlen, "%s: HTTP status %ld", url, code);
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ctype);
	*is_html = ctype && strstr(ctype, "html") != NULL;
	*out = b.p ? b.p : strdup("");
	b.p = NULL;
	*len = b.n;
	rc = *out ? 0 : -1;
out:
	free(b.p);
	curl_easy_cleanup(h);
	return rc;
}

const char *io_ext(const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *dot = strrchr(slash ? slash : path, '.');
	return dot ? dot + 1 : "";
}

int io_wanted_ext(const char *path)
{
	static const char *const ok[] = { "txt", "md",	"markdown", "html",
					  "htm", "rst", NULL };
	const char *e = io_ext(path);
	size_t i;
	for (i = 0; ok[i]; i++)
		if (strcasecmp(e, ok[i]) == 0)
			return 1;
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists the entries of dir (not . and ..) sorted by name. */
static int list_dir(const char *dir, char ***names, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t cap = 0;

	*names = NULL;
	*n = 0;
	if (!d)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (*n == cap) {
			char **nn;
			cap = cap ? cap * 2 : 64;
			nn = realloc(*names, cap * sizeof(*nn));
			if (!nn)
				break;
			*names = nn;
		}
		(*names)[*n] = strdup(de->d_name);
		if ((*names)[*n])
			(*n)++;
	}
	closedir(d);
	if (*n)
		qsort(*names, *n, sizeof(**names), name_cmp);
	return 0;
}

static int walk(const char *dir, int depth, io_visit_fn fn, void *ud)
{
	char **names, path[4096];
	size_t n, i;
	int rc = 0;

	if (depth > WALK_MAX_DEPTH || list_dir(dir, &names, &n) < 0)
		return fn(dir, -1, ud);
	for (i = 0; i < n; i++) {
		struct stat sb;
		int w = snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (w < 0 || (size_t)w >= sizeof(path) || names[i][0] == '.' ||
		    lstat(path, &sb) < 0)
			continue;
		if (S_ISDIR(sb.st_mode))
			rc |= walk(path, depth + 1, fn, ud);
		else if (S_ISREG(sb.st_mode))
			rc |= fn(path, io_wanted_ext(path) ? 0 : IO_UNLISTED,
				 ud);
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

int io_walk(const char *path, io_visit_fn fn, void *ud)
{
	struct stat sb;
	if (stat(path, &sb) < 0)
		return fn(path, -1, ud);
	if (S_ISDIR(sb.st_mode))
		return walk(path, 0, fn, ud);
	return fn(path, 1, ud);
}

/* Sums the sizes of the files a walk would visit (for the progress bar). */
static int size_visit(const char *path, int explicit_file, void *ud)
{
	struct stat sb;
	size_t *total = ud;
	if (explicit_file >= 0 && explicit_file != IO_UNLISTED &&
	    stat(path, &sb) == 0)
		*total += (size_t)sb.st_size;
	return 0;
}

size_t io_total_size(const char *path)
{
	size_t total = 0;
	io_walk(path, size_visit, &total);
	return total;
}
