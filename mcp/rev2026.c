/* MCP revision 2026-07-28 (stateless): decides per request whether it
 * takes the stateless path, and checks what the revision requires of a
 * request before a session engine sees it. No transport code here. */
#include <string.h>

#include "rev2026.h"
#include "session_methods.h"

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

	if (!strstr(msg, "-32021")) /* cheap: nearly every answer */
		return st;
	m = json_loads(msg, 0, NULL);
	if (json_integer_value(
		    json_object_get(json_object_get(m, "error"), "code")) ==
	    MCP_ERR_MISSING_CAPABILITY)
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

/* The value Mcp-Name must carry for m, or NULL when the method has none. */
static const char *name_of(const struct jr_msg *m)
{
	const char *key = NULL;

	if (strcmp(m->method, "tools/call") == 0 ||
	    strcmp(m->method, "prompts/get") == 0)
		key = "name";
	else if (strcmp(m->method, "resources/read") == 0)
		key = "uri";
	return key ? json_string_value(json_object_get(m->params, key)) : NULL;
}

/* 1 when header value v, without leading and trailing spaces and tabs
 * (RFC 9110 OWS), is exactly want. */
static int header_is(const char *v, const char *want)
{
	size_t n;

	while (*v == ' ' || *v == '\t')
		v++;
	n = strlen(v);
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	return n == strlen(want) && memcmp(v, want, n) == 0;
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
	name = name_of(m);
	if (name ? !hdr_name || !header_is(hdr_name, name) : hdr_name != NULL)
		return refuse(out, 400, MCP_ERR_HEADER_MISMATCH,
			      hdr_name ? "Mcp-Name header does not match the "
					 "body"
				       : "Missing Mcp-Name header",
			      NULL);
	return check_meta(m, hdr_version, out);
}
