/* The carried form of Mcp-Param-* headers (param_headers.h): how an HTTP
 * endpoint without the tool schemas (gatewayd's listeners, the relay) hands
 * a stateless request's headers to the engine that checks them. The check
 * itself is mcp_param_check in rev2026.c. */
#include <string.h>
#include <strings.h>

#include "param_headers.h"

#define PREFIX "Mcp-Param-"
#define NAME_MAX_LEN 64 /* an x-mcp-header Name longer than this is ignored */

/* Lower-cases s (at most NAME_MAX_LEN bytes) into out; -1 when longer. */
static int lower_name(const char *s, char out[NAME_MAX_LEN + 1])
{
	size_t i;

	for (i = 0; s[i]; i++) {
		if (i >= NAME_MAX_LEN)
			return -1;
		out[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a')
						      : s[i];
	}
	out[i] = '\0';
	return 0;
}

int mcp_param_carry_add(json_t *obj, const char *name, const char *value,
			const char **why)
{
	const size_t pl = sizeof(PREFIX) - 1;
	char key[NAME_MAX_LEN + 1];
	json_t *s;

	if (!name || strncasecmp(name, PREFIX, pl) != 0)
		return 0;
	/* a Name no annotation can have (too long) matches nothing */
	if (lower_name(name + pl, key) != 0 || !key[0] ||
	    json_object_get(obj, key))
		return 0;
	if (json_object_size(obj) >= MCP_PARAM_HEADERS_MAX) {
		*why = "too many Mcp-Param headers";
		return -1;
	}
	if (!value ||
	    strnlen(value, MCP_PARAM_VALUE_MAX + 1) > MCP_PARAM_VALUE_MAX) {
		*why = "Mcp-Param header is too long";
		return -1;
	}
	/* Bytes that are not UTF-8 cannot travel in JSON: DEL stands for
	 * them, which no field value may hold, so the check refuses the
	 * header as it would have refused the bytes. */
	s = json_string(value);
	if (json_object_set_new(obj, key, s ? s : json_string("\x7f")) != 0) {
		*why = "out of memory";
		return -1;
	}
	return 0;
}

int mcp_param_carry_set(json_t *params, json_t *obj)
{
	json_t *meta = json_object_get(params, "_meta");

	if (!json_is_object(meta)) {
		json_decref(obj);
		return -1;
	}
	json_object_del(meta, MCP_META_PARAM_HEADERS);
	/* steals obj, on failure too */
	return json_object_set_new(meta, MCP_META_PARAM_HEADERS, obj) ? -1 : 0;
}

/* 1 when v is a carried form within the caps. */
static int carried_ok(json_t *v)
{
	const char *k;
	json_t *s;

	if (!json_is_object(v) || json_object_size(v) > MCP_PARAM_HEADERS_MAX)
		return 0;
	json_object_foreach (v, k, s)
		if (!json_is_string(s) ||
		    json_string_length(s) > MCP_PARAM_VALUE_MAX)
			return 0;
	return 1;
}

int mcp_param_take(json_t *params, json_t **out, const char **why)
{
	json_t *meta = json_object_get(params, "_meta");
	json_t *v = json_incref(json_object_get(meta, MCP_META_PARAM_HEADERS));

	*out = NULL;
	if (!v)
		return 0;
	json_object_del(meta, MCP_META_PARAM_HEADERS);
	if (!carried_ok(v)) {
		json_decref(v);
		*why = "Mcp-Param headers: malformed or over the caps";
		return -1;
	}
	*out = v;
	return 0;
}

const char *mcp_param_carried(void *ctx, const char *name)
{
	const size_t pl = sizeof(PREFIX) - 1;
	char key[NAME_MAX_LEN + 1];

	if (strncasecmp(name, PREFIX, pl) != 0 ||
	    lower_name(name + pl, key) != 0)
		return NULL;
	return json_string_value(json_object_get(ctx, key));
}
