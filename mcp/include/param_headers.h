/* Mcp-Param-{Name} headers of MCP 2026-07-28 (x-mcp-header): the check of
 * a tools/call's headers against the tool's inputSchema, and the form in
 * which an HTTP endpoint that holds no schema passes the headers on in the
 * request's _meta to the engine that does (docs/protocol.md). */
#ifndef MCP_PARAM_HEADERS_H
#define MCP_PARAM_HEADERS_H

#include <jansson.h>

/* x-mcp-header annotations of one inputSchema that are checked (more are
 * ignored), and Mcp-Param-* headers one request may carry. */
#define MCP_PARAM_HEADERS_MAX 32
/* Bytes of one Mcp-Param-* header value (raw, before Base64 decoding). */
#define MCP_PARAM_VALUE_MAX 8192
/* The JSON-RPC error code of a refusal (HeaderMismatch; HTTP 400). */
#define MCP_PARAM_HEADER_MISMATCH (-32020)
/* The _meta key of the carried form: an object whose members are the
 * request's Mcp-Param-{Name} headers, Name lower-cased, each value the
 * header's raw text. Present (possibly empty) only when the request came
 * over HTTP; its absence means "no HTTP layer", and nothing is checked. */
#define MCP_META_PARAM_HEADERS "dev.zonegate/param-headers"

/* Returns the value of request header name (case-insensitive), or NULL.
 * The string stays the caller's; it lives at least until the check
 * returns. */
typedef const char *(*mcp_header_fn)(void *ctx, const char *name);

/* Called by mcp_param_each for each x-mcp-header annotation: its Name (an
 * RFC 9110 token, at most 64 bytes) and the argument's value (borrowed;
 * NULL when absent or null). Returns 0 to go on, nonzero to stop. */
typedef int (*mcp_param_fn)(void *ctx, const char *name, json_t *value);

/* The walk the check and a client's headers share: every property of
 * input_schema annotated with x-mcp-header, reached through "properties"
 * only (at most 8 levels), the first MCP_PARAM_HEADERS_MAX annotations
 * whose Name is a token, with the matching part of args (either may be
 * NULL). Returns 0, or the first nonzero value fn returned. */
int mcp_param_each(json_t *input_schema, json_t *args, mcp_param_fn fn,
		   void *ctx);

/* A header value carrying text v (n bytes): v itself when it is visible
 * ASCII and spaces, neither begun nor ended by a space and not of the
 * form "=?base64?...?=", else that form (standard padded Base64). Returns
 * a new string (free()), or NULL when over MCP_PARAM_VALUE_MAX bytes or
 * out of memory. Used for Mcp-Name and Mcp-Param-* values. */
char *mcp_header_encode(const char *v, size_t n);

/* The Mcp-Param header value of argument v: a string encoded as
 * mcp_header_encode does, an integer in decimal, a boolean as true or
 * false. NULL for any other type (no header can match it), over the cap
 * or out of memory. A new string (free()). */
char *mcp_param_value(json_t *v);

/* The spec's check of a tools/call: every property of input_schema
 * annotated with x-mcp-header (reachable through "properties" only, the
 * first MCP_PARAM_HEADERS_MAX of them) whose value is in args (null counts
 * as absent) must come with its Mcp-Param-{Name} header (hdr(ctx, name)),
 * and a header must not come without the value; the header, with its
 * surrounding spaces and tabs removed, is plain visible ASCII or
 * "=?base64?...?=" (strict standard Base64), at most MCP_PARAM_VALUE_MAX
 * bytes, and decodes to the value (strings byte for byte, booleans as
 * true/false, integers numerically). input_schema or args may be NULL.
 * Returns 0, or -1 with *why set to a static text; the caller answers HTTP
 * 400 with JSON-RPC error -32020 (HeaderMismatch). Reads its inputs only. */
int mcp_param_check(json_t *input_schema, json_t *args, mcp_header_fn hdr,
		    void *ctx, const char **why);

/* For an HTTP endpoint: adds header name: value to the carried form obj
 * when name is Mcp-Param-{Name} (case-insensitive; a repeated Name keeps
 * its first value); other headers are ignored. Returns 0, or -1 with *why
 * when the request is over the caps (more than MCP_PARAM_HEADERS_MAX such
 * headers, a value over MCP_PARAM_VALUE_MAX bytes) or out of memory:
 * the request is refused (400, -32020). A value that is not UTF-8 is
 * carried as "\x7f", which mcp_param_check refuses like the bytes. */
int mcp_param_carry_add(json_t *obj, const char *name, const char *value,
			const char **why);

/* For an HTTP endpoint: puts the carried form obj (stolen) into
 * params._meta, replacing whatever the body had under that key (a client
 * cannot pretend to have sent headers). Returns 0, or -1 when
 * params._meta is not an object or on no memory (the key is then gone):
 * the request is refused, never passed on unchecked. */
int mcp_param_carry_set(json_t *params, json_t *obj);

/* For the engine that resolves the tool: takes the carried form out of
 * params._meta (the key is removed in every case, so it never travels
 * further). Returns 0 with *out a new reference (NULL when the request
 * carried none), or -1 with *why and *out NULL when it is malformed: not
 * an object of strings, more than MCP_PARAM_HEADERS_MAX members, a value
 * over MCP_PARAM_VALUE_MAX bytes. */
int mcp_param_take(json_t *params, json_t **out, const char **why);

/* mcp_header_fn over a carried form (ctx: the object from mcp_param_take)
 * for mcp_param_check: "Mcp-Param-Region" finds member "region". */
const char *mcp_param_carried(void *ctx, const char *name);

#endif
