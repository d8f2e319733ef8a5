/* MCP revision 2026-07-28 (stateless): decides per request whether it
 * takes the stateless path, and checks what the revision requires of a
 * request before a session engine sees it. No transport code here. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rev2026.h"
#include "rev2026_state.h"
#include "session_methods.h"

#define B64_OPEN "=?base64?"
#define B64_CLOSE "?="
#define MAX_HEADER_VALUE MCP_PARAM_VALUE_MAX

/* The methods the revision keeps; initialize, ping, logging/setLevel and
 * resources/(un)subscribe are gone from it. */
static const char *const stateless_methods[] = {
	"server/discover",
	"tools/list",
	"tools/call",
	"resources/list",
	"resources/templates/list",
	"resources/read",
	"prompts/list",
	"prompts/get",
	"completion/complete",
	"subscriptions/listen",
	"tasks/get", /* the tasks extension (rev2026_tasks.c) */
	"tasks/update",
	"tasks/cancel",
};

static const char *const session_versions[] = { "2025-11-25", "2025-06-18",
						"2025-03-26" };

json_t *mcp_rev_supported_versions(void)
{
	json_t *a = json_array();

	json_array_append_new(a, json_string(MCP_REV2026));
	for (size_t i = 0;
	     i < sizeof(session_versions) / sizeof(session_versions[0]); i++)
		json_array_append_new(a, json_string(session_versions[i]));
	return a;
}

json_t *mcp_rev_served_versions(const mcp_server *srv)
{
	json_t *a = json_array();

	if (mcp_server_serves(srv, MCP_REVS_STATELESS))
		json_array_append_new(a, json_string(MCP_REV2026));
	for (size_t i = 0;
	     mcp_server_serves(srv, MCP_REVS_SESSION) &&
	     i < sizeof(session_versions) / sizeof(session_versions[0]);
	     i++)
		json_array_append_new(a, json_string(session_versions[i]));
	return a;
}

json_t *mcp_rev2026_cache_hints(json_t *result)
{
	if (json_is_object(result)) {
		json_object_set_new(result, "ttlMs", json_integer(0));
		json_object_set_new(result, "cacheScope",
				    json_string("private"));
	}
	return result;
}

unsigned mcp_rev2026_http_status(const char *msg)
{
	json_t *m;
	unsigned st = 200;
	json_int_t code;

	if (!strstr(msg, "-3202")) /* cheap: nearly every answer */
		return st;
	m = json_loads(msg, 0, NULL);
	code = json_integer_value(
		json_object_get(json_object_get(m, "error"), "code"));
	/* -32020: a backend's engine checked the Mcp-Param headers */
	if (code == MCP_ERR_MISSING_CAPABILITY ||
	    code == MCP_ERR_HEADER_MISMATCH)
		st = 400;
	json_decref(m);
	return st;
}

/* 1 when p[0..n) are n lower-case hex digits, not all '0' if nonzero. */
static int hex_field(const char *p, size_t n, int nonzero)
{
	int any = 0;

	for (size_t i = 0; i < n; i++) {
		if (!((p[i] >= '0' && p[i] <= '9') ||
		      (p[i] >= 'a' && p[i] <= 'f')))
			return 0;
		any |= p[i] != '0';
	}
	return !nonzero || any;
}

const char *mcp_traceparent(const json_t *params)
{
	json_t *v = json_object_get(json_object_get(params, "_meta"),
				    "traceparent");
	const char *t = json_string_value(v);

	/* 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags> */
	if (!t || json_string_length(v) != 55 || t[2] != '-' || t[35] != '-' ||
	    t[52] != '-' || !hex_field(t, 2, 0) || strncmp(t, "ff", 2) == 0 ||
	    !hex_field(t + 3, 32, 1) || !hex_field(t + 36, 16, 1) ||
	    !hex_field(t + 53, 2, 0))
		return NULL;
	return t;
}

static json_t *meta_of(const struct jr_msg *m)
{
	return json_object_get(m->params, "_meta");
}

int mcp_rev2026_wanted(const struct jr_msg *m, const char *hdr_version)
{
	if (m->kind != JR_REQUEST)
		return 0;
	if (hdr_version)
		return !mcp_version_supported(hdr_version);
	if (strcmp(m->method, "initialize") == 0)
		return 0;
	return json_object_get(meta_of(m), MCP_META_PROTOCOL_VERSION) != NULL;
}

static int refuse(struct mcp_rev_refusal *out, unsigned status, int code,
		  const char *msg, json_t *data)
{
	out->status = status;
	out->code = code;
	out->msg = msg;
	out->data = data;
	return -1;
}

const char *mcp_rev2026_name(const struct jr_msg *m)
{
	const char *key = NULL;

	if (strcmp(m->method, "tools/call") == 0 ||
	    strcmp(m->method, "prompts/get") == 0)
		key = "name";
	else if (strcmp(m->method, "resources/read") == 0)
		key = "uri";
	else if (strncmp(m->method, "tasks/", 6) == 0 &&
		 strcmp(m->method, "tasks/result") != 0 &&
		 strcmp(m->method, "tasks/list") != 0)
		key = "taskId"; /* SEP-2663 routing header */
	return key ? json_string_value(json_object_get(m->params, key)) : NULL;
}

/* Header value v without leading and trailing spaces and tabs (RFC 9110
 * OWS): where it starts, its length in *len. */
static const char *trim_ows(const char *v, size_t *len)
{
	size_t n;

	while (*v == ' ' || *v == '\t')
		v++;
	n = strlen(v);
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	*len = n;
	return v;
}

/* 1 when trimmed value v (len bytes) has the "=?base64?...?=" form. */
static int is_b64_form(const char *v, size_t len)
{
	const size_t ol = sizeof(B64_OPEN) - 1, cl = sizeof(B64_CLOSE) - 1;

	return len >= ol + cl && memcmp(v, B64_OPEN, ol) == 0 &&
	       memcmp(v + len - cl, B64_CLOSE, cl) == 0;
}

/* Decodes header value v (without leading and trailing spaces and tabs,
 * RFC 9110 OWS): "=?base64?...?=" is standard Base64 of the bytes, any
 * other value is itself. Returns a new buffer (NUL-terminated, *n bytes),
 * or NULL when the Base64 is invalid (bad characters or padding) or the
 * value is over MAX_HEADER_VALUE. */
static char *header_value(const char *v, size_t *n)
{
	const size_t ol = sizeof(B64_OPEN) - 1, cl = sizeof(B64_CLOSE) - 1;
	size_t len;
	char *out;
	long d;

	v = trim_ows(v, &len);
	if (len > MAX_HEADER_VALUE)
		return NULL;
	out = malloc(len + 1);
	if (!out)
		return NULL;
	if (is_b64_form(v, len)) {
		d = mcp_b64_decode(v + ol, len - ol - cl, (unsigned char *)out,
				   0);
		if (d < 0) {
			free(out);
			return NULL;
		}
		len = (size_t)d;
	} else {
		memcpy(out, v, len);
	}
	out[len] = '\0';
	*n = len;
	return out;
}

/* 1 when header value v, decoded (header_value), is exactly want. A
 * plain value (the common case: Mcp-Method, Mcp-Name on every call) is
 * compared where it is, with header_value's trimming and cap. */
static int header_is(const char *v, const char *want)
{
	size_t n;
	const char *t = trim_ows(v, &n);
	char *got;
	int same;

	if (!is_b64_form(t, n))
		return n <= MAX_HEADER_VALUE && n == strlen(want) &&
		       memcmp(t, want, n) == 0;
	got = header_value(v, &n);
	same = got && n == strlen(want) && memcmp(got, want, n) == 0;
	free(got);
	return same;
}

static int method_kept(const char *method)
{
	for (size_t i = 0;
	     i < sizeof(stateless_methods) / sizeof(stateless_methods[0]); i++)
		if (strcmp(method, stateless_methods[i]) == 0)
			return 1;
	return 0;
}

/* The _meta rules every transport applies; hdr_version is the version
 * the request must name (the HTTP header), or NULL (stdio, channels). */
static int check_meta(const struct jr_msg *m, const char *hdr_version,
		      struct mcp_rev_refusal *out)
{
	json_t *meta = meta_of(m);
	json_t *pv = json_object_get(meta, MCP_META_PROTOCOL_VERSION);
	json_t *caps = json_object_get(meta, MCP_META_CLIENT_CAPS);
	const char *v;

	if (!pv || !caps)
		return refuse(out, 400, MCP_ERR_INVALID_PARAMS,
			      "Invalid params: _meta must carry "
			      "io.modelcontextprotocol/protocolVersion and "
			      "io.modelcontextprotocol/clientCapabilities",
			      NULL);
	if (!json_is_string(pv) ||
	    (hdr_version && strcmp(json_string_value(pv), hdr_version)))
		return refuse(out, 400,
			      hdr_version ? MCP_ERR_HEADER_MISMATCH
					  : MCP_ERR_INVALID_PARAMS,
			      hdr_version ? "MCP-Protocol-Version header does "
					    "not match _meta protocolVersion"
					  : "Invalid params: protocolVersion "
					    "must be a string",
			      NULL);
	v = json_string_value(pv);
	if (strcmp(v, MCP_REV2026) != 0)
		return refuse(out, 400, MCP_ERR_UNSUPPORTED_VERSION,
			      "Unsupported protocol version",
			      json_pack("{s:o, s:s}", "supported",
					mcp_rev_supported_versions(),
					"requested", v));
	if (!json_is_object(caps))
		return refuse(out, 400, MCP_ERR_INVALID_PARAMS,
			      "Invalid params: clientCapabilities must be an "
			      "object",
			      NULL);
	if (!method_kept(m->method))
		return refuse(out, 404, MCP_ERR_METHOD_NOT_FOUND,
			      "method not found", NULL);
	return 0;
}

/* ---- x-mcp-header (Mcp-Param-{Name}) ---- */

/* 1 when header value h has only what a field value may (RFC 9110:
 * visible ASCII, space, tab). */
static int field_chars_ok(const char *h)
{
	for (const unsigned char *p = (const unsigned char *)h; *p; p++)
		if (!((*p >= 0x20 && *p <= 0x7e) || *p == '\t'))
			return 0;
	return 1;
}

/* 1 when decoded header text h (n bytes) is the body value v. */
static int param_matches(const char *h, size_t n, json_t *v)
{
	if (json_is_string(v))
		return n == json_string_length(v) &&
		       memcmp(h, json_string_value(v), n) == 0;
	if (json_is_boolean(v))
		return strcmp(h, json_is_true(v) ? "true" : "false") == 0;
	if (json_is_integer(v)) { /* numerically: "42.0" is 42 */
		char *end;
		double d;
		errno = 0;
		d = strtod(h, &end);
		return n > 0 && *end == '\0' && errno == 0 &&
		       d == (double)json_integer_value(v);
	}
	return 0;
}

struct param_walk {
	mcp_header_fn hdr;
	void *ctx;
	const char *why;
};

/* The check of one annotated property (mcp_param_each): its header
 * against v, the argument's value (NULL: absent). 0 or -1 (w->why). */
static int check_one(void *ctx, const char *name, json_t *v)
{
	struct param_walk *w = ctx;
	char hname[80];
	const char *h;
	char *dec;
	size_t n;
	int ok;

	snprintf(hname, sizeof(hname), "Mcp-Param-%s", name);
	h = w->hdr(w->ctx, hname);
	if (!h && !v)
		return 0;
	w->why = !h ? "Missing Mcp-Param header for a value in the body"
		    : "Mcp-Param header does not match the body";
	if (!h || !v)
		return -1;
	if (strnlen(h, MAX_HEADER_VALUE + 1) > MAX_HEADER_VALUE) {
		w->why = "Mcp-Param header is too long";
		return -1;
	}
	if (!field_chars_ok(h)) {
		w->why = "Mcp-Param header contains invalid characters";
		return -1;
	}
	dec = header_value(h, &n);
	if (!dec) {
		w->why = "Mcp-Param header is not valid Base64";
		return -1;
	}
	ok = param_matches(dec, n, v);
	free(dec);
	return ok ? 0 : -1;
}

int mcp_param_check(json_t *input_schema, json_t *args, mcp_header_fn hdr,
		    void *ctx, const char **why)
{
	struct param_walk w = { hdr, ctx, NULL };

	if (mcp_param_each(input_schema, args, check_one, &w) == 0)
		return 0;
	*why = w.why;
	return -1;
}

int mcp_rev2026_check_params(mcp_server *srv, const struct jr_msg *m,
			     mcp_header_fn hdr, void *ctx,
			     struct mcp_rev_refusal *out)
{
	const char *why = NULL;
	const char *name =
		json_string_value(json_object_get(m->params, "name"));
	struct mcp_entry *e;
	int rc = 0;

	if (strcmp(m->method, "tools/call") != 0 || !name)
		return 0;
	e = mcp_registry_find(srv, ENT_TOOL, name);
	if (!e)
		return 0; /* the call reports the unknown tool */
	if (mcp_param_check(json_object_get(e->def, "inputSchema"),
			    json_object_get(m->params, "arguments"), hdr, ctx,
			    &why) != 0)
		rc = refuse(out, 400, MCP_ERR_HEADER_MISMATCH, why, NULL);
	mcp_entry_unref(e);
	return rc;
}

int mcp_rev2026_check_carried(mcp_server *srv, const struct jr_msg *m,
			      struct mcp_rev_refusal *out)
{
	json_t *ph;
	const char *why = NULL;
	int rc;

	if (mcp_param_take(m->params, &ph, &why) != 0)
		return refuse(out, 400, MCP_ERR_HEADER_MISMATCH, why, NULL);
	if (!ph)
		return 0; /* no HTTP layer: nothing to compare */
	rc = mcp_rev2026_check_params(srv, m, mcp_param_carried, ph, out);
	json_decref(ph);
	return rc;
}

int mcp_rev2026_check_meta(const struct jr_msg *m, struct mcp_rev_refusal *out)
{
	return check_meta(m, NULL, out);
}

int mcp_rev2026_check(const struct jr_msg *m, const char *hdr_version,
		      const char *hdr_method, const char *hdr_name,
		      struct mcp_rev_refusal *out)
{
	const char *name;

	if (!hdr_version)
		return refuse(out, 400, MCP_ERR_HEADER_MISMATCH,
			      "Missing MCP-Protocol-Version header", NULL);
	if (!hdr_method || !header_is(hdr_method, m->method))
		return refuse(out, 400, MCP_ERR_HEADER_MISMATCH,
			      hdr_method ? "Mcp-Method header does not match "
					   "the body"
					 : "Missing Mcp-Method header",
			      NULL);
	name = mcp_rev2026_name(m);
	if (name ? !hdr_name || !header_is(hdr_name, name) : hdr_name != NULL)
		return refuse(out, 400, MCP_ERR_HEADER_MISMATCH,
			      hdr_name ? "Mcp-Name header does not match the "
					 "body"
				       : "Missing Mcp-Name header",
			      NULL);
	return check_meta(m, hdr_version, out);
}
