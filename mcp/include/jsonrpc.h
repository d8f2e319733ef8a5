/* JSON-RPC 2.0 framing for MCP: parsing one message under size and depth
 * caps, classifying it, and building responses and errors. Shared by the
 * MCP session, the transports and (later) the gateway. */
#ifndef MCP_JSONRPC_H
#define MCP_JSONRPC_H

#include <jansson.h>
#include <stddef.h>

enum jr_kind {
	JR_INVALID,	 /* not a valid JSON-RPC message; see jr_msg.err */
	JR_REQUEST,	 /* method + id */
	JR_NOTIFICATION, /* method, no id */
	JR_RESULT,	 /* id + result */
	JR_ERROR,	 /* id + error (id may be null) */
	JR_BATCH	 /* a JSON array; the caller decides */
};

#define JR_MAX_ID_LEN 256 /* bytes of a string id */
#define JR_MAX_METHOD_LEN 128

struct jr_msg {
	enum jr_kind kind;
	json_t *root;	    /* owned: the whole parsed message */
	json_t *id;	    /* borrowed from root; NULL if absent or unusable */
	const char *method; /* borrowed from root */
	json_t *params;	    /* borrowed; NULL if absent */
	int err_code;	    /* with JR_INVALID: -32700 or -32600 */
	char err[128];	    /* with JR_INVALID: why */
};

/* Returns nonzero if the JSON text nests objects/arrays at most max_depth
 * deep. A cheap scan run before the parser, so that hostile nesting never
 * reaches jansson's recursion. Does not validate the JSON otherwise. */
int jr_depth_ok(const char *buf, size_t len, size_t max_depth);

/* Parses and classifies one message. Never fails to fill m: on bad input
 * m->kind is JR_INVALID with err_code/err set (and m->id set when the
 * id could still be recovered, so the error can be addressed). Release
 * with jr_msg_clear(). */
void jr_parse(const char *buf, size_t len, size_t max_len, size_t max_depth,
	      struct jr_msg *m);

/* json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY) for the
 * common shape of a message (json_fast.c): the same tree (keys in the same
 * order), or NULL for anything it leaves to jansson (non-ASCII strings,
 * \u escapes, reals, duplicate keys, any error, and objects and arrays
 * nested more than max_depth deep, counted as jr_depth_ok counts them).
 * New reference. */
json_t *jr_fast_decode(const char *buf, size_t len, size_t max_depth);

/* Makes jansson allocate through a per-thread cache of freed small blocks
 * (json_alloc.c): at most JR_ALLOC_PER_CLASS blocks per size class and
 * thread, given back to malloc when the thread ends. Blocks remain
 * malloc's, so this may be called at any time, once or more (any thread);
 * sanitizer builds keep plain malloc. */
#define JR_ALLOC_PER_CLASS 32
void jr_alloc_install(void);
/* Blocks the calling thread's cache holds for allocations of n bytes
 * (for tests). */
size_t jr_alloc_cached(size_t n);

/* Classifies an already parsed value (steals the reference to root). */
void jr_classify(json_t *root, struct jr_msg *m);

void jr_msg_clear(struct jr_msg *m);

/* New {"jsonrpc":"2.0","id":id,"result":result}; steals result, copies id.
 * NULL on allocation failure. */
json_t *jr_result(json_t *id, json_t *result);

/* New error response; id may be NULL (becomes null); data is stolen and
 * may be NULL. */
json_t *jr_error(json_t *id, int code, const char *message, json_t *data);

/* New request or notification (id NULL); params stolen, may be NULL. */
json_t *jr_request(json_t *id, const char *method, json_t *params);

/* Serializes compactly (one line, no trailing newline). Caller frees the
 * result with free(). NULL on failure. */
char *jr_dump(const json_t *msg, size_t *len);

/* Nonzero if a and b are the same JSON-RPC id (both strings or both
 * integers, equal). */
int jr_id_equal(const json_t *a, const json_t *b);

#endif
