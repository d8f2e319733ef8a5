/* Private interfaces of the llm tool set (mcpd --llm): the deterministic
 * mode (llm_det.c), the chat completions wire format (llm_parse.c), the
 * endpoint client with its retries (llm_http.c) and the module
 * (llm_tools.c). */
#ifndef LLM_INT_H
#define LLM_INT_H

#include <stddef.h>

#define LLM_EXPORT __attribute__((visibility("default")))

#define LLM_MAX_MESSAGES 64	      /* messages in one call */
#define LLM_MAX_INPUT (1u << 20)      /* bytes of all contents together */
#define LLM_MAX_TOKENS 8192	      /* largest max_tokens */
#define LLM_DEFAULT_MAX_TOKENS 512    /* when the call gives none */
#define LLM_MAX_REQUEST (8u << 20)    /* serialized request body */
#define LLM_MAX_RESPONSE (1u << 20)   /* default cap of an answer body */
#define LLM_MAX_ERROR_TEXT 300	      /* bytes of an endpoint's message */
#define LLM_RETRY_AFTER_CAP_S 30      /* longest Retry-After honoured */
#define LLM_DET_MODEL "zonegate-deterministic-1"

/* One chat message; content is NUL-terminated, len its length. */
struct llm_msg {
	const char *role;
	const char *content;
	size_t len;
};

/* A completed chat call. text is malloc'd (free with llm_reply_free). */
struct llm_reply {
	char *text;
	char model[128];
	char finish[32]; /* "stop", "length", or what the endpoint said */
	long long prompt_tokens, completion_tokens, total_tokens;
};
void llm_reply_free(struct llm_reply *r);

/* ---- the deterministic mode (llm_det.c) ---- */

/* The number of whitespace-separated words in s[0..n): the token rule of
 * the deterministic mode (and the fallback when an endpoint reports no
 * usage). */
long long llm_word_count(const char *s, size_t n);

/* Answers msgs[0..n) without a model: the task named by the system
 * message ("task: question:cve", "question:kb", "answer", "report",
 * "summary" when none) on the text of the messages only, at most
 * max_tokens words. 0 with out filled, or -1 with err (unknown task, out
 * of memory). The same input always gives the same output. */
int llm_det_chat(const struct llm_msg *msgs, size_t n, long max_tokens,
		 struct llm_reply *out, char *err, size_t errlen);

/* ---- the wire format (llm_parse.c) ---- */

/* The JSON body of a chat completions request, or NULL if it would be
 * larger than cap bytes (or out of memory). Caller frees. */
char *llm_request_json(const char *model, const struct llm_msg *msgs,
		       size_t n, long max_tokens, size_t cap);

/* Parses a chat completions answer: choices[0].message.content, the
 * model, finish_reason and usage (counted by llm_word_count when the
 * endpoint gives none). 0 with out filled, or -1 with err saying what is
 * wrong with the answer (never more than a short excerpt of it). */
int llm_parse_response(const char *body, size_t n, struct llm_reply *out,
		       char *err, size_t errlen);

/* The message of an endpoint's error body ({"error": {"message": ..}},
 * {"error": ".."}, {"message": ".."}, or the raw text), with every copy
 * of secret (may be NULL) masked, cut UTF-8-safely at LLM_MAX_ERROR_TEXT
 * bytes with control characters replaced, into out. Empty if there is
 * nothing readable. */
void llm_error_message(const char *body, size_t n, const char *secret,
		       char *out, size_t outlen);

/* Overwrites every occurrence of secret in s[0..n) with '*' (nothing if
 * secret is NULL or empty): an endpoint may echo the key it was sent. */
void llm_scrub(char *s, size_t n, const char *secret);

/* ---- the endpoint client (llm_http.c) ---- */

typedef int (*llm_cancel_fn)(void *ud);

struct llm_endpoint {
	char *url;   /* BASE/chat/completions */
	char *model; /* --llm-model */
	char *key;   /* the bearer key (secret; may be NULL) */
	char *proxy; /* socks5h://localhost/SOCKET (--llm-proxy), or NULL */
	long connect_timeout_ms;
	long timeout_ms; /* one deadline for all attempts */
	int retries;	 /* attempts after the first */
	size_t max_response;
	long backoff_ms; /* first back-off; doubles, capped */
};

/* Sets url from base (http or https, no userinfo, no query). 0, or -1
 * with err. */
int llm_endpoint_set_base(struct llm_endpoint *e, const char *base, char *err,
			  size_t errlen);
/* Reads the key from the first line of path (at most 4 KiB, not empty).
 * 0, or -1 with err (which never holds the key). */
int llm_endpoint_read_key(struct llm_endpoint *e, const char *path, char *err,
			  size_t errlen);
/* Frees e's strings; the key is wiped first. */
void llm_endpoint_free(struct llm_endpoint *e);

/* POSTs the chat request and parses the answer, retrying connection
 * errors, 429 and 5xx with back-off (Retry-After honoured up to
 * LLM_RETRY_AFTER_CAP_S) within the deadline. cancel (may be NULL) is
 * polled during transfers and waits. 0 with out filled, or -1 with err:
 * the HTTP status and the endpoint's message, never the key. */
int llm_endpoint_chat(const struct llm_endpoint *e, const struct llm_msg *msgs,
		      size_t n, long max_tokens, llm_cancel_fn cancel,
		      void *cancel_ud, struct llm_reply *out, char *err,
		      size_t errlen);

/* ---- the mcpd module (llm_tools.c) ---- */

struct mcp_server;
/* Registers llm_chat on srv. opts: NULL-terminated pairs of option name
 * ("llm-url", ...) and value, as mcpd collected them. 0, or -1 with err;
 * nothing is registered on failure. */
int llm_tools_register(struct mcp_server *srv, const char *const *opts,
		       char *err, size_t errlen);

#endif
