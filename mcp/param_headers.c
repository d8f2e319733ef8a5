/* Mcp-Param-* headers (param_headers.h): the walk over a tool's
 * x-mcp-header annotations that the check (mcp_param_check in rev2026.c)
 * and a client's header builder share, the encoding of a header value,
 * and the carried form in which an HTTP endpoint without the tool schemas
 * (gatewayd's listeners, the relay) hands those headers on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mcp_state.h"
#include "param_headers.h"

#define PREFIX "Mcp-Param-"
#define NAME_MAX_LEN 64 /* an x-mcp-header Name longer than this is ignored */
#define DEPTH_MAX 8	/* properties nesting followed */
#define B64_OPEN "=?base64?"
#define B64_CLOSE "?="

/* 1 for an RFC 9110 token (the Name an annotation gives). */
static int is_token(const char *s)
{
	static const char extra[] = "!#$%&'*+-.^_`|~";

	if (!*s || strlen(s) > NAME_MAX_LEN)
		return 0;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= 'A' && *s <= 'Z') || strchr(extra, *s)))
			return 0;
	return 1;
}

struct each {
	mcp_param_fn fn;
	void *ctx;
	unsigned seen;
};

static int each_under(json_t *schema, json_t *args, unsigned depth,
		      struct each *e)
{
	json_t *props = json_object_get(schema, "properties"), *sub;
	const char *key, *name;
	int rc;

	if (depth > DEPTH_MAX || !json_is_object(props))
		return 0;
	json_object_foreach (props, key, sub) {
		json_t *v = json_object_get(args, key);
		rc = each_under(sub, json_is_object(v) ? v : NULL, depth + 1,
				e);
		if (rc)
			return rc;
		name = json_string_value(json_object_get(sub, "x-mcp-header"));
		if (!name || !is_token(name) ||
		    ++e->seen > MCP_PARAM_HEADERS_MAX)
			continue; /* not one (or past the cap) */
		rc = e->fn(e->ctx, name, json_is_null(v) ? NULL : v);
		if (rc)
			return rc;
	}
	return 0;
}

int mcp_param_each(json_t *input_schema, json_t *args, mcp_param_fn fn,
		   void *ctx)
{
	struct each e = { fn, ctx, 0 };

	return each_under(input_schema, json_is_object(args) ? args : NULL, 0,
			  &e);
}

char *mcp_header_encode(const char *v, size_t n)
{
	const size_t ol = sizeof(B64_OPEN) - 1, cl = sizeof(B64_CLOSE) - 1;
	int plain = n > 0 && v[0] != ' ' && v[n - 1] != ' ';
	size_t len;
	char *out;

	for (size_t i = 0; plain && i < n; i++)
		plain = v[i] >= 0x20 && v[i] <= 0x7e;
	/* a plain value that looks encoded would be decoded: encode it */
	if (plain && n >= ol + cl && memcmp(v, B64_OPEN, ol) == 0 &&
	    memcmp(v + n - cl, B64_CLOSE, cl) == 0)
		plain = 0;
	len = plain ? n : ol + (n + 2) / 3 * 4 + cl;
	if (n > MCP_PARAM_VALUE_MAX || len > MCP_PARAM_VALUE_MAX)
		return NULL;
	out = malloc(len + 1);
	if (!out)
		return NULL;
	if (plain) {
		memcpy(out, v, n);
	} else {
		memcpy(out, B64_OPEN, ol);
		mcp_b64_encode((const unsigned char *)v, n, out + ol, 0);
		memcpy(out + len - cl, B64_CLOSE, cl);
	}
	out[len] = '\0';
	return out;
}

char *mcp_param_value(json_t *v)
{
	char num[32];

	if (json_is_string(v))
		return mcp_header_encode(json_string_value(v),
					 json_string_length(v));
	if (json_is_boolean(v))
		return strdup(json_is_true(v) ? "true" : "false");
	if (json_is_integer(v)) {
		snprintf(num, sizeof(num), "%lld",
			 (long long)json_integer_value(v));
		return strdup(num);
	}
	return NULL;
}

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
