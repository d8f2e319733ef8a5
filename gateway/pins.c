/* Tool catalogue pins: a hash of what a tool zone says its tools are
 * (every member of every definition), so that a zone whose definitions
 * drift after review can be quarantined until an admin re-pins it. */
#include "gw.h"
#include "zg_common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int by_name(const void *a, const void *b)
{
	const char *x =
		json_string_value(json_object_get(*(json_t *const *)a, "name"));
	const char *y =
		json_string_value(json_object_get(*(json_t *const *)b, "name"));
	return strcmp(x ? x : "", y ? y : "");
}

void gw_catalogue_hash(const json_t *tools, char out[65])
{
	size_t n = json_array_size(tools), i;
	json_t **v = calloc(n + 1, sizeof(*v));
	json_t *canon = json_array();
	char *s = NULL;

	if (!v || !canon)
		goto out;
	for (i = 0; i < n; i++)
		v[i] = json_array_get(tools, i);
	qsort(v, n, sizeof(*v), by_name);
	/* Every member of every definition: clients act on more than the
	 * name, description and schema (title, outputSchema, annotations
	 * such as readOnlyHint and destructiveHint, which decide whether a
	 * human is asked; icons; _meta, which extensions read), and MCP
	 * names no member of a definition as volatile. A definition with
	 * only name, description and inputSchema hashes as it always did. */
	for (i = 0; i < n; i++)
		json_array_append(canon, v[i]);
	s = json_dumps(canon, JSON_COMPACT | JSON_SORT_KEYS);
out:
	sha256_hex(s ? s : "", s ? strlen(s) : 0, out);
	free(s);
	free(v);
	json_decref(canon);
}

json_t *gw_pins_load(const char *path, char *err, size_t errlen)
{
	json_error_t je;
	json_t *j;
	char *text;
	size_t len;

	if (access(path, F_OK) != 0 && errno == ENOENT)
		return json_object();
	/* gw_read_file: never blocks on a FIFO, refuses non-files */
	text = gw_read_file(path, GW_CONFIG_MAX, &len, err, errlen);
	if (!text)
		return NULL;
	j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	free(text);
	if (!j || !json_is_object(j)) {
		zg_errf(err, errlen, path, j ? 1 : je.line, "%s",
			j ? "pins must be a JSON object" : je.text);
		json_decref(j);
		return NULL;
	}
	return j;
}

int gw_pins_save(const char *path, const json_t *pins, char *err, size_t errlen)
{
	char *s = json_dumps(pins, JSON_INDENT(2) | JSON_SORT_KEYS);
	int rc;

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	rc = gw_write_atomic(path, s, strlen(s), err, errlen);
	free(s);
	return rc;
}
