/* Private helpers of ragctl (ragctl_io.c): reading files, URLs and stdin
 * under the store's size caps, and walking directories in name order. */
#ifndef RAGCTL_H
#define RAGCTL_H

#include <stdio.h>

#include "rag_int.h"

/* Reads all of fp (at most max bytes) into a new NUL-terminated buffer.
 * 0, or -1 with err. */
int io_read_stream(FILE *fp, size_t max, char **out, size_t *len, char *err,
		   size_t errlen);
int io_read_file(const char *path, char **out, size_t *len, char *err,
		 size_t errlen);
/* GETs url (http/https, redirects, 30 s timeout, RAG_MAX_DOC cap). */
int io_fetch_url(const char *url, char **out, size_t *len, int *is_html,
		 char *err, size_t errlen);

/* Called for each file: kind 1 = named explicitly, 0 = found in a
 * directory walk, IO_UNLISTED = found in a walk with an extension that is
 * not ingested (io_wanted_ext), -1 = cannot be read. Returns nonzero on
 * failure. */
#define IO_UNLISTED 2
typedef int (*io_visit_fn)(const char *path, int kind, void *ud);
int io_walk(const char *path, io_visit_fn fn, void *ud);
size_t io_total_size(const char *path);
const char *io_ext(const char *path);
int io_wanted_ext(const char *path);

#endif
