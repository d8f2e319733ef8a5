/* JSON-RPC 2.0 message parsing and building on jansson, strict about
 * everything MCP forbids (null ids, batches, non-object params) and capped
 * in size and nesting before any parsing happens. */
#include "jsonrpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

int jr_depth_ok(const char *buf, size_t len, size_t max_depth)
{
	size_t depth = 0;
	int in_str = 0;

	for (size_t i = 0; i < len; i++) {
		char c = buf[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = 0;
			continue;
		}
		if (c == '"') {
			in_str = 1;
		} else if (c == '{' || c == '[') {
			if (++depth > max_depth)
				return 0;
		} else if ((c == '}' || c == ']') && depth > 0) {
			depth--;
		}
	}
	return 1;
}

static void set_invalid(struct jr_msg *m, int code, const char *why)
{
	m->kind = JR_INVALID;
	m->err_code = code;
	snprintf(m->err, sizeof(m->err), "%s", why);
}

/* An id MCP accepts: a string of bounded length or an integer. */
static int id_valid(const json_t *id)
{
	if (json_is_integer(id))
		return 1;
	return json_is_string(id) && json_string_length(id) <= JR_MAX_ID_LEN;
}

static void classify_call(struct jr_msg *m, json_t *method, json_t *id)
{
	json_t *params = json_object_get(m->root, "params");

	if (!json_is_string(method) || json_string_length(method) == 0 ||
	    json_string_length(method) > JR_MAX_METHOD_LEN) {
		if (id && id_valid(id))
			m->id = id;
		set_invalid(m, -32600, "method must be a non-empty string");
		return;
	}
	m->method = json_string_value(method);
	if (id) {
		if (!id_valid(id)) {
			set_invalid(m, -32600,
				    "id must be a string or an integer");
			return;
		}
		m->id = id;
	}
	if (params && !json_is_object(params)) {
		set_invalid(m, -32602, "params must be an object");
		return;
	}
	m->params = params;
	m->kind = id ? JR_REQUEST : JR_NOTIFICATION;
}

static void classify_response(struct jr_msg *m, json_t *id)
{
	json_t *result = json_object_get(m->root, "result");
	json_t *error = json_object_get(m->root, "error");

	if (!id || (!json_is_null(id) && !id_valid(id))) {
		set_invalid(m, -32600, "response without a valid id");
		return;
	}
	if ((result != NULL) == (error != NULL)) {
		set_invalid(m, -32600,
			    "response needs exactly one of result and error");
		return;
	}
	if (error && (!json_is_object(error) ||
		      !json_is_integer(json_object_get(error, "code")))) {
		set_invalid(m, -32600, "error must be an object with a code");
		return;
	}
	if (result && !json_is_object(result)) {
		set_invalid(m, -32600, "result must be an object");
		return;
	}
	m->id = json_is_null(id) ? NULL : id;
	m->params = result ? result : error;
	m->kind = result ? JR_RESULT : JR_ERROR;
}

void jr_classify(json_t *root, struct jr_msg *m)
{
	json_t *ver, *method, *id;

	memset(m, 0, sizeof(*m));
	m->root = root;
	if (json_is_array(root)) {
		m->kind = JR_BATCH;
		return;
	}
	if (!json_is_object(root)) {
		set_invalid(m, -32600, "message must be a JSON object");
		return;
	}
	ver = json_object_get(root, "jsonrpc");
	method = json_object_get(root, "method");
	id = json_object_get(root, "id");
	if (!json_is_string(ver) ||
	    strcmp(json_string_value(ver), "2.0") != 0) {
		if (id && id_valid(id))
			m->id = id;
		set_invalid(m, -32600, "jsonrpc must be \"2.0\"");
		return;
	}
	if (method)
		classify_call(m, method, id);
	else
		classify_response(m, id);
}

void jr_parse(const char *buf, size_t len, size_t max_len, size_t max_depth,
	      struct jr_msg *m)
{
	json_error_t jerr;
	json_t *root;

	memset(m, 0, sizeof(*m));
	if (len > max_len) {
		set_invalid(m, -32600, "message too large");
		return;
	}
	/* The fast path keeps to max_depth itself (a text it decodes is
	 * valid JSON, so its nesting is what jr_depth_ok would count);
	 * whatever it does not take is scanned for depth before jansson's
	 * recursion, and jansson decides (and words the error). */
	root = jr_fast_decode(buf, len, max_depth);
	if (!root && !jr_depth_ok(buf, len, max_depth)) {
		set_invalid(m, -32600, "message nested too deeply");
		return;
	}
	if (!root)
		root = json_loadb(buf, len,
				  JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
				  &jerr);
	if (!root) {
		set_invalid(m, -32700, "parse error");
		mcp_utf8_snprintf(m->err, sizeof(m->err), "parse error: %.*s",
				  (int)mcp_utf8_prefix(jerr.text, 100),
				  jerr.text);
		return;
	}
	jr_classify(root, m);
}

void jr_msg_clear(struct jr_msg *m)
{
	json_decref(m->root);
	memset(m, 0, sizeof(*m));
}

json_t *jr_result(json_t *id, json_t *result)
{
	/* built directly: json_pack parses its format on every answer */
	json_t *msg;

	if (!result)
		return NULL;
	msg = json_object();
	if (!msg ||
	    json_object_set_new_nocheck(msg, "jsonrpc",
					json_string_nocheck("2.0")) != 0 ||
	    json_object_set_nocheck(msg, "id", id ? id : json_null()) != 0) {
		json_decref(result); /* not handed over yet */
		goto fail;
	}
	if (json_object_set_new_nocheck(msg, "result", result) != 0)
		goto fail; /* result went with the failed call */
	return msg;
fail:
	json_decref(msg);
	return NULL;
}

json_t *jr_error(json_t *id, int code, const char *message, json_t *data)
{
	json_t *err = json_pack("{s:i, s:s}", "code", code, "message",
				message ? message : "error");
	json_t *msg;

	if (!err) {
		json_decref(data);
		return NULL;
	}
	if (data)
		json_object_set_new(err, "data", data);
	msg = json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id",
			id ? id : json_null(), "error", err);
	return msg;
}

json_t *jr_request(json_t *id, const char *method, json_t *params)
{
	json_t *msg =
		json_pack("{s:s, s:s}", "jsonrpc", "2.0", "method", method);

	if (!msg) {
		json_decref(params);
		return NULL;
	}
	if (id)
		json_object_set(msg, "id", id);
	if (params)
		json_object_set_new(msg, "params", params);
	return msg;
}

/* ---- encoding ----
 *
 * jr_dump writes exactly what json_dumps(msg, JSON_COMPACT) writes (keys in
 * insertion order, the same escapes, reals formatted by jansson itself),
 * without jansson's per-container loop check (a printed pointer and a
 * hash table insert and delete for every object and array), which was
 * most of the encoding time of mcpd's answers. Trees deeper than
 * DUMP_MAX_DEPTH (or a loop, which cannot be built through jansson's own
 * setters of this project) go to json_dumps, which refuses loops. */

#define DUMP_MAX_DEPTH 256
#define DUMP_STACK 2048

struct dumpbuf {
	char *p; /* stack or heap */
	size_t len, cap;
	int heap;
	char stack[DUMP_STACK];
};

static int db_put(struct dumpbuf *b, const char *s, size_t n)
{
	if (n > b->cap - b->len) {
		size_t cap = b->cap * 2;
		char *p;
		while (cap - b->len < n)
			cap *= 2;
		p = b->heap ? realloc(b->p, cap) : malloc(cap);
		if (!p)
			return -1;
		if (!b->heap)
			memcpy(p, b->p, b->len);
		b->p = p;
		b->cap = cap;
		b->heap = 1;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	return 0;
}

/* One byte: most of what the encoder writes between values. */
static int db_char(struct dumpbuf *b, char c)
{
	if (b->len < b->cap) {
		b->p[b->len++] = c;
		return 0;
	}
	return db_put(b, &c, 1);
}

/* An integer in decimal, as "%" JSON_INTEGER_FORMAT prints it (ids and
 * counts are in every answer; snprintf was a tenth of the encoding). */
static int db_integer(struct dumpbuf *b, json_int_t v)
{
	char num[24];
	size_t i = sizeof(num);
	/* the magnitude in unsigned arithmetic: also right for the least
	 * json_int_t, whose negation overflows */
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v
				     : (unsigned long long)v;

	do {
		num[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		num[--i] = '-';
	return db_put(b, num + i, sizeof(num) - i);
}

/* A JSON string: escapes '"', '\' and control characters as jansson
 * does (other bytes are valid UTF-8, checked when the string was made). */
static int db_string(struct dumpbuf *b, const char *s, size_t n)
{
	size_t run = 0;

	if (db_char(b, '"') != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *esc;
		char seq[8];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		if (db_put(b, s + run, i - run) != 0)
			return -1;
		run = i + 1;
		switch (c) {
		case '"':
			esc = "\\\"";
			break;
		case '\\':
			esc = "\\\\";
			break;
		case '\b':
			esc = "\\b";
			break;
		case '\f':
			esc = "\\f";
			break;
		case '\n':
			esc = "\\n";
			break;
		case '\r':
			esc = "\\r";
			break;
		case '\t':
			esc = "\\t";
			break;
		default:
			snprintf(seq, sizeof(seq), "\\u%04X", c);
			esc = seq;
		}
		if (db_put(b, esc, strlen(esc)) != 0)
			return -1;
	}
	if (db_put(b, s + run, n - run) != 0)
		return -1;
	return db_char(b, '"');
}

static int db_value(struct dumpbuf *b, const json_t *v, unsigned depth);

static int db_object(struct dumpbuf *b, const json_t *v, unsigned depth)
{
	int first = 1;

	if (db_char(b, '{') != 0)
		return -1;
	for (void *it = json_object_iter((json_t *)v); it;
	     it = json_object_iter_next((json_t *)v, it)) {
		if ((!first && db_char(b, ',') != 0) ||
		    db_string(b, json_object_iter_key(it),
			      json_object_iter_key_len(it)) != 0 ||
		    db_char(b, ':') != 0 ||
		    db_value(b, json_object_iter_value(it), depth + 1) != 0)
			return -1;
		first = 0;
	}
	return db_char(b, '}');
}

static int db_value(struct dumpbuf *b, const json_t *v, unsigned depth)
{
	char num[64];
	size_t n;

	if (depth > DUMP_MAX_DEPTH)
		return -1;
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return db_object(b, v, depth);
	case JSON_ARRAY:
		if (db_char(b, '[') != 0)
			return -1;
		for (size_t i = 0; i < json_array_size(v); i++)
			if ((i && db_char(b, ',') != 0) ||
			    db_value(b, json_array_get(v, i), depth + 1) != 0)
				return -1;
		return db_char(b, ']');
	case JSON_STRING:
		return db_string(b, json_string_value(v),
				 json_string_length(v));
	case JSON_INTEGER:
		return db_integer(b, json_integer_value(v));
	case JSON_REAL: /* jansson's own formatting of reals */
		n = json_dumpb(v, num, sizeof(num), JSON_ENCODE_ANY);
		return n > 0 && n <= sizeof(num) ? db_put(b, num, n) : -1;
	case JSON_TRUE:
		return db_put(b, "true", 4);
	case JSON_FALSE:
		return db_put(b, "false", 5);
	default:
		return db_put(b, "null", 4);
	}
}

char *jr_dump(const json_t *msg, size_t *len)
{
	struct dumpbuf b;
	char *s;

	b.p = b.stack;
	b.len = 0;
	b.cap = sizeof(b.stack);
	b.heap = 0;
	if (!json_is_object(msg) && !json_is_array(msg))
		goto slow; /* json_dumps refuses them without ENCODE_ANY */
	if (db_value(&b, msg, 0) != 0 || db_put(&b, "", 1) != 0)
		goto slow;
	if (b.heap) {
		s = b.p;
	} else {
		s = malloc(b.len);
		if (s)
			memcpy(s, b.p, b.len);
	}
	if (s && len)
		*len = b.len - 1;
	return s;
slow:
	if (b.heap)
		free(b.p);
	s = json_dumps(msg, JSON_COMPACT);
	if (s && len)
		*len = strlen(s);
	return s;
}

int jr_id_equal(const json_t *a, const json_t *b)
{
	if (!a || !b)
		return 0;
	if (json_is_integer(a) && json_is_integer(b))
		return json_integer_value(a) == json_integer_value(b);
	if (json_is_string(a) && json_is_string(b))
		return json_string_length(a) == json_string_length(b) &&
		       memcmp(json_string_value(a), json_string_value(b),
			      json_string_length(a)) == 0;
	return 0;
}
