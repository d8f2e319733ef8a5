/* Tool catalogue pins: a hash of what a tool zone says its tools (every
 * member of every definition), prompts, resources and resource templates
 * (the members a client acts on) are, so that a zone whose definitions
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

/* The tools, sorted by name, each whole: clients act on more than the
 * name, description and schema (title, outputSchema, annotations such as
 * readOnlyHint and destructiveHint, which decide whether a human is
 * asked; icons; _meta, which extensions read), and MCP names no member of
 * a tool definition as volatile. A new array, or NULL on no memory. */
static json_t *canon_tools(const json_t *tools)
{
	size_t n = json_array_size(tools), i;
	json_t **v = calloc(n + 1, sizeof(*v));
	json_t *canon = v ? json_array() : NULL;

	if (!canon)
		goto out;
	for (i = 0; i < n; i++)
		v[i] = json_array_get(tools, i);
	qsort(v, n, sizeof(*v), by_name);
	for (i = 0; i < n; i++)
		json_array_append(canon, v[i]);
out:
	free(v);
	return canon;
}

struct ent {
	char *txt;
	json_t *v;
};

static int by_text(const void *a, const void *b)
{
	return strcmp(((const struct ent *)a)->txt,
		      ((const struct ent *)b)->txt);
}

/* The entries of list, each cut to the members named in keys (the ones a
 * client shows or acts on; others, such as a resource's size, may change
 * without a new review), in the order of their canonical text so that
 * the list's order does not count. A new array, or NULL on no memory. */
static json_t *canon_pick(const json_t *list, const char *const *keys)
{
	size_t n = json_array_size(list), i;
	struct ent *v = calloc(n + 1, sizeof(*v));
	json_t *canon = v ? json_array() : NULL;
	int ok = canon != NULL;

	for (i = 0; ok && i < n; i++) {
		const json_t *e = json_array_get(list, i);
		v[i].v = json_object();
		for (const char *const *k = keys; v[i].v && *k; k++) {
			json_t *m = json_object_get(e, *k);
			if (m)
				json_object_set(v[i].v, *k, m);
		}
		v[i].txt = v[i].v ? json_dumps(v[i].v,
					       JSON_COMPACT | JSON_SORT_KEYS)
				  : NULL;
		ok = v[i].txt != NULL;
	}
	if (ok) {
		qsort(v, n, sizeof(*v), by_text);
		for (i = 0; i < n; i++)
			json_array_append(canon, v[i].v);
	}
	for (i = 0; v && i < n; i++) {
		free(v[i].txt);
		json_decref(v[i].v);
	}
	free(v);
	if (!ok) {
		json_decref(canon);
		return NULL;
	}
	return canon;
}

void gw_catalogue_hash(const json_t *tools, const json_t *resources,
		       const json_t *templates, const json_t *prompts,
		       char out[65])
{
	static const char *const prompt_keys[] = { "name", "title",
						   "description", "arguments",
						   NULL };
	static const char *const res_keys[] = { "uri",	    "name",
						"title",    "description",
						"mimeType", "annotations",
						NULL };
	static const char *const tmpl_keys[] = { "uriTemplate", "name",
						 "title",	"description",
						 "mimeType",	"annotations",
						 NULL };
	json_t *canon = canon_tools(tools);
	char *s = NULL;

	if (!canon)
		goto out;
	/* A zone with tools only hashes as it did before prompts and
	 * resources were pinned, so that its existing pin stays valid. */
	if (json_array_size(resources) || json_array_size(templates) ||
	    json_array_size(prompts)) {
		json_t *all =
			json_pack("{s:o,s:o*,s:o*,s:o*}", "tools", canon,
				  "resources", canon_pick(resources, res_keys),
				  "resourceTemplates",
				  canon_pick(templates, tmpl_keys), "prompts",
				  canon_pick(prompts, prompt_keys));
		canon = all;
		if (!all || json_object_size(all) != 4)
			goto out;
	}
	s = json_dumps(canon, JSON_COMPACT | JSON_SORT_KEYS);
out:
	/* on no memory: the hash of nothing, which never matches a pin of
	 * a zone with definitions (it quarantines rather than lets pass) */
	sha256_hex(s ? s : "", s ? strlen(s) : 0, out);
	free(s);
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
