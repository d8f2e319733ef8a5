/* The splice check: what a tool zone's call response must be before the
 * gateway relays its bytes to an agent with only the id replaced. A
 * single pass over the bytes, cheaper than building a JSON tree. */
#ifndef GW_SPLICE_H
#define GW_SPLICE_H

#include <stddef.h>

enum gw_splice_verdict {
	GW_SPLICE_BAD = -1,  /* not JSON, bad UTF-8, a duplicate key ... */
	GW_SPLICE_OK = 0,    /* safe to splice */
	GW_SPLICE_OTHER = 1, /* well-formed, but not the plain layout: the
			      * caller parses it instead */
};

/* Checks that buf[0..len) is one well-formed JSON text (RFC 8259): valid
 * UTF-8, no raw control characters, no \u0000 or unpaired surrogate
 * escapes, objects and arrays nested at most max_depth deep (the top
 * level counting 1), nothing after the value but white space. It must
 * be an object whose members are "jsonrpc", "id" and one of "result" or
 * "error", each once and with its name written without escapes: then
 * GW_SPLICE_OK. A well-formed object with other members, or a member
 * name written with escapes, is GW_SPLICE_OTHER; a duplicate member
 * (also both "result" and "error"), a missing id or anything
 * malformed is GW_SPLICE_BAD, and *why (if why is not NULL) names the
 * first problem (a static string). Never reads outside buf. Duplicate
 * names inside nested objects are not looked for: that content is
 * opaque to the gateway and only the agent reads it. */
enum gw_splice_verdict gw_splice_check(const char *buf, size_t len,
				       unsigned max_depth, const char **why);

#endif
