/* A JSON Schema validator for tool arguments: the subset of draft 2020-12
 * (and draft-07) that tool input schemas use in practice. Keywords it does
 * not know are ignored, as the spec says for unknown keywords; "pattern"
 * and "format" are ignored too (ECMA regexes have no faithful libc
 * equivalent, and format is an annotation by default in 2020-12).
 * Recursion through $ref and nesting is capped. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "schema.h"
#include "utf8.h"

#define MAX_DEPTH 32

struct vctx {
	const json_t *root;
	char *err;
	size_t errlen;
	char path[256];
};

static int fail(struct vctx *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(struct vctx *v, const char *fmt, ...)
{
	char msg[192];
	va_list ap;

	va_start(ap, fmt);
	mcp_utf8_vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (v->err && v->errlen)
		mcp_utf8_snprintf(v->err, v->errlen, "%s: %s",
				  v->path[0] ? v->path : "arguments", msg);
	return -1;
}

static int validate(struct vctx *v, const json_t *s, const json_t *x,
		    int depth);

static const char *type_name(const json_t *x)
{
	switch (json_typeof(x)) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
		return "integer";
	case JSON_REAL:
		return "number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "boolean";
	default:
		return "null";
	}
}

static int is_type(const json_t *x, const char *t)
{
	if (strcmp(t, "number") == 0)
		return json_is_number(x);
	if (strcmp(t, "integer") == 0)
		return json_is_integer(x) ||
		       (json_is_real(x) &&
			floor(json_real_value(x)) == json_real_value(x));
	return strcmp(t, type_name(x)) == 0;
}

static int check_type(struct vctx *v, const json_t *t, const json_t *x)
{
	size_t i;
	json_t *e;

	if (json_is_string(t)) {
		if (is_type(x, json_string_value(t)))
			return 0;
		return fail(v, "expected %s, got %s", json_string_value(t),
			    type_name(x));
	}
	json_array_foreach (t, i, e)
		if (json_is_string(e) && is_type(x, json_string_value(e)))
			return 0;
	return json_is_array(t) ? fail(v, "type %s not allowed", type_name(x))
				: 0;
}

/* JSON equality that treats 1 and 1.0 alike, as JSON Schema does. */
static int same(const json_t *a, const json_t *b)
{
	if (json_is_number(a) && json_is_number(b))
		return json_number_value(a) == json_number_value(b);
	return json_equal(a, b);
}

static int check_enum(struct vctx *v, const json_t *s, const json_t *x)
{
	json_t *en = json_object_get(s, "enum"),
	       *c = json_object_get(s, "const");
	size_t i;
	json_t *e;

	if (c && !same(c, x))
		return fail(v, "must equal the schema's const");
	if (!json_is_array(en))
		return 0;
	json_array_foreach (en, i, e)
		if (same(e, x))
			return 0;
	return fail(v, "not one of the allowed values");
}

static int check_number(struct vctx *v, const json_t *s, const json_t *x)
{
	double d = json_number_value(x);
	json_t *k;

	if ((k = json_object_get(s, "minimum")) && json_is_number(k) &&
	    d < json_number_value(k))
		return fail(v, "must be >= %g", json_number_value(k));
	if ((k = json_object_get(s, "maximum")) && json_is_number(k) &&
	    d > json_number_value(k))
		return fail(v, "must be <= %g", json_number_value(k));
	if ((k = json_object_get(s, "exclusiveMinimum")) && json_is_number(k) &&
	    d <= json_number_value(k))
		return fail(v, "must be > %g", json_number_value(k));
	if ((k = json_object_get(s, "exclusiveMaximum")) && json_is_number(k) &&
	    d >= json_number_value(k))
		return fail(v, "must be < %g", json_number_value(k));
	if ((k = json_object_get(s, "multipleOf")) && json_is_number(k) &&
	    json_number_value(k) > 0) {
		double q = d / json_number_value(k);
		if (fabs(q - nearbyint(q)) > 1e-9)
			return fail(v, "must be a multiple of %g",
				    json_number_value(k));
	}
	return 0;
}

/* Length in code points of valid UTF-8 (jansson guarantees validity). */
static size_t utf8_len(const char *s, size_t n)
{
	size_t cp = 0;

	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			cp++;
	return cp;
}

static int check_string(struct vctx *v, const json_t *s, const json_t *x)
{
	size_t n = utf8_len(json_string_value(x), json_string_length(x));
	json_t *k;

	if ((k = json_object_get(s, "minLength")) && json_is_integer(k) &&
	    (json_int_t)n < json_integer_value(k))
		return fail(v, "shorter than %lld characters",
			    (long long)json_integer_value(k));
	if ((k = json_object_get(s, "maxLength")) && json_is_integer(k) &&
	    (json_int_t)n > json_integer_value(k))
		return fail(v, "longer than %lld characters",
			    (long long)json_integer_value(k));
	return 0;
}

/* Appends ".key" or "[i]" to the path; returns the old length. */
static size_t path_push(struct vctx *v, const char *key, long idx)
{
	size_t len = strlen(v->path);

	if (key)
		mcp_utf8_snprintf(v->path + len, sizeof(v->path) - len,
				  "%s%.*s", len ? "." : "",
				  (int)mcp_utf8_prefix(key, 64), key);
	else
		snprintf(v->path + len, sizeof(v->path) - len, "[%ld]", idx);
	return len;
}

static int check_array(struct vctx *v, const json_t *s, const json_t *x,
		       int depth)
{
	json_t *items = json_object_get(s, "items"), *k, *e;
	size_t n = json_array_size(x), i;

	if ((k = json_object_get(s, "minItems")) && json_is_integer(k) &&
	    (json_int_t)n < json_integer_value(k))
		return fail(v, "fewer than %lld items",
			    (long long)json_integer_value(k));
	if ((k = json_object_get(s, "maxItems")) && json_is_integer(k) &&
	    (json_int_t)n > json_integer_value(k))
		return fail(v, "more than %lld items",
			    (long long)json_integer_value(k));
	if (json_is_true(json_object_get(s, "uniqueItems")))
		for (i = 0; i < n; i++)
			for (size_t j = i + 1; j < n; j++)
				if (same(json_array_get(x, i),
					 json_array_get(x, j)))
					return fail(v, "items must be unique");
	if (!items || json_is_array(items))
		return 0;
	json_array_foreach (x, i, e) {
		size_t old = path_push(v, NULL, (long)i);
		if (validate(v, items, e, depth + 1) != 0)
			return -1;
		v->path[old] = '\0';
	}
	return 0;
}

static int check_object(struct vctx *v, const json_t *s, const json_t *x,
			int depth)
{
	json_t *props = json_object_get(s, "properties");
	json_t *addl = json_object_get(s, "additionalProperties");
	json_t *req = json_object_get(s, "required"), *e, *k;
	const char *key;
	size_t i;

	json_array_foreach (req, i, e)
		if (json_is_string(e) &&
		    !json_object_get(x, json_string_value(e)))
			return fail(v, "missing required property '%.*s'",
				    (int)mcp_utf8_prefix(json_string_value(e),
							 64),
				    json_string_value(e));
	if ((k = json_object_get(s, "minProperties")) && json_is_integer(k) &&
	    (json_int_t)json_object_size(x) < json_integer_value(k))
		return fail(v, "too few properties");
	if ((k = json_object_get(s, "maxProperties")) && json_is_integer(k) &&
	    (json_int_t)json_object_size(x) > json_integer_value(k))
		return fail(v, "too many properties");
	json_object_foreach ((json_t *)x, key, e) {
		json_t *ps = json_object_get(props, key);
		const json_t *use = ps ? ps : addl;
		size_t old;
		if (!use)
			continue;
		if (!ps && json_is_false(addl))
			return fail(v, "unexpected property '%.*s'",
				    (int)mcp_utf8_prefix(key, 64), key);
		old = path_push(v, key, 0);
		if (validate(v, use, e, depth + 1) != 0)
			return -1;
		v->path[old] = '\0';
	}
	return 0;
}

/* Resolves a local "#/a/b" reference within the root schema. */
static const json_t *resolve_ref(const json_t *root, const char *ref)
{
	const json_t *cur = root;
	char tok[128];

	if (ref[0] != '#')
		return NULL;
	ref++;
	while (*ref == '/') {
		size_t n = strcspn(++ref, "/"), o = 0;
		if (n >= sizeof(tok))
			return NULL;
		for (size_t i = 0; i < n; i++) { /* ~1 is '/', ~0 is '~' */
			if (ref[i] == '~' && i + 1 < n &&
			    (ref[i + 1] == '0' || ref[i + 1] == '1')) {
				tok[o++] = ref[i + 1] == '0' ? '~' : '/';
				i++;
			} else {
				tok[o++] = ref[i];
			}
		}
		tok[o] = '\0';
		cur = json_object_get(cur, tok);
		if (!cur)
			return NULL;
		ref += n;
	}
	return *ref ? NULL : cur;
}

static int count_valid(struct vctx *v, const json_t *list, const json_t *x,
		       int depth, size_t *total)
{
	size_t i, ok = 0;
	json_t *e;
	char saved[sizeof(v->path)];

	memcpy(saved, v->path, sizeof(saved));
	json_array_foreach (list, i, e) {
		if (validate(v, e, x, depth + 1) == 0)
			ok++;
		memcpy(v->path, saved, sizeof(saved));
	}
	*total = json_array_size(list);
	return (int)ok;
}

static int check_combinators(struct vctx *v, const json_t *s, const json_t *x,
			     int depth)
{
	json_t *k;
	size_t total;
	int ok;

	if ((k = json_object_get(s, "allOf")) && json_is_array(k)) {
		size_t i;
		json_t *e;
		json_array_foreach (k, i, e)
			if (validate(v, e, x, depth + 1) != 0)
				return -1;
	}
	if ((k = json_object_get(s, "anyOf")) && json_is_array(k) &&
	    count_valid(v, k, x, depth, &total) == 0)
		return fail(v, "matches none of anyOf");
	if ((k = json_object_get(s, "oneOf")) && json_is_array(k) &&
	    (ok = count_valid(v, k, x, depth, &total)) != 1)
		return fail(v, "matches %d of oneOf, needs exactly 1", ok);
	if ((k = json_object_get(s, "not")) &&
	    validate(v, k, x, depth + 1) == 0)
		return fail(v, "matches a schema it must not");
	return 0;
}

static int validate(struct vctx *v, const json_t *s, const json_t *x, int depth)
{
	json_t *ref;

	if (depth > MAX_DEPTH)
		return fail(v, "schema nested too deeply");
	if (json_is_true(s) || !s)
		return 0;
	if (json_is_false(s))
		return fail(v, "no value is allowed here");
	if (!json_is_object(s))
		return 0;
	ref = json_object_get(s, "$ref");
	if (json_is_string(ref)) {
		const json_t *target =
			resolve_ref(v->root, json_string_value(ref));
		if (target && validate(v, target, x, depth + 1) != 0)
			return -1;
	}
	if (json_object_get(s, "type") &&
	    check_type(v, json_object_get(s, "type"), x) != 0)
		return -1;
	if (check_enum(v, s, x) != 0 || check_combinators(v, s, x, depth) != 0)
		return -1;
	if (json_is_number(x))
		return check_number(v, s, x);
	if (json_is_string(x))
		return check_string(v, s, x);
	if (json_is_array(x))
		return check_array(v, s, x, depth);
	if (json_is_object(x))
		return check_object(v, s, x, depth);
	return 0;
}

int mcp_schema_validate(const json_t *schema, const json_t *instance, char *err,
			size_t errlen)
{
	struct vctx v = { .root = schema, .err = err, .errlen = errlen };

	return validate(&v, schema, instance, 0);
}
