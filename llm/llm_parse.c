/* The OpenAI-compatible chat completions wire format: the request body
 * mcpd sends, the answer it accepts (choices[0].message.content, model,
 * finish_reason, usage) and the message it shows from an error body, cut
 * UTF-8-safely and with the key scrubbed. */
#define _GNU_SOURCE /* memmem */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm_int.h"
#include "web_text.h"

char *llm_request_json(const char *model, const struct llm_msg *msgs,
		       size_t n, long max_tokens, size_t cap)
{
	json_t *req = NULL, *arr = json_array();
	char *body = NULL;

	if (!arr)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (json_array_append_new(
			    arr, json_pack("{s:s, s:s%}", "role", msgs[i].role,
					   "content", msgs[i].content,
					   msgs[i].len)) != 0)
			goto out;
	req = json_pack("{s:s, s:O, s:I, s:b}", "model", model, "messages",
			arr, "max_tokens", (json_int_t)max_tokens, "stream", 0);
	if (!req)
		goto out;
	body = json_dumps(req, JSON_COMPACT);
	if (body && strlen(body) > cap) {
		free(body);
		body = NULL;
	}
out:
	json_decref(arr);
	json_decref(req);
	return body;
}

/* A usage count: a non-negative integer, else -1. */
static long long count_of(json_t *usage, const char *key)
{
	json_t *v = json_object_get(usage, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	return json_integer_value(v);
}

int llm_parse_response(const char *body, size_t n, struct llm_reply *out,
		       char *err, size_t errlen)
{
	json_error_t je;
	json_t *root = json_loadb(body, n, JSON_REJECT_DUPLICATES, &je);
	json_t *choice, *content, *usage;
	const char *s, *model, *fin;
	size_t len;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (!root) {
		snprintf(err, errlen, "the answer is not JSON (%s)", je.text);
		return -1;
	}
	choice = json_array_get(json_object_get(root, "choices"), 0);
	content = json_object_get(json_object_get(choice, "message"),
				  "content");
	if (!json_is_object(choice) || !json_is_string(content)) {
		snprintf(err, errlen,
			 "the answer has no choices[0].message.content "
			 "string");
		goto out;
	}
	s = json_string_value(content);
	len = json_string_length(content);
	if (memchr(s, '\0', len)) {
		snprintf(err, errlen, "the answer's content holds a NUL");
		goto out;
	}
	out->text = strdup(s);
	if (!out->text) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	model = json_string_value(json_object_get(root, "model"));
	fin = json_string_value(json_object_get(choice, "finish_reason"));
	model = model ? model : "";
	fin = fin ? fin : "stop";
	snprintf(out->model, sizeof(out->model), "%.*s",
		 (int)web_utf8_prefix(model, sizeof(out->model) - 1), model);
	snprintf(out->finish, sizeof(out->finish), "%.*s",
		 (int)web_utf8_prefix(fin, sizeof(out->finish) - 1), fin);
	usage = json_object_get(root, "usage");
	out->prompt_tokens = count_of(usage, "prompt_tokens");
	out->completion_tokens = count_of(usage, "completion_tokens");
	out->total_tokens = count_of(usage, "total_tokens");
	if (out->completion_tokens < 0)
		out->completion_tokens = llm_word_count(s, len);
	if (out->prompt_tokens < 0)
		out->prompt_tokens = 0;
	if (out->total_tokens < 0)
		out->total_tokens =
			out->prompt_tokens + out->completion_tokens;
	rc = 0;
out:
	json_decref(root);
	return rc;
}

/* Copies s (len bytes) into out as readable one-line text: invalid
 * bytes as U+FFFD, controls dropped or (line breaks, tabs) made spaces,
 * secret masked (after the clean-up, which could join its pieces, and
 * before the cut, which could leave half of it), cut at
 * LLM_MAX_ERROR_TEXT on a character boundary with "...". */
static void readable(const char *s, size_t len, const char *secret, char *out,
		     size_t outlen)
{
	size_t cl = 0, cut, max = LLM_MAX_ERROR_TEXT;
	char *clean = web_utf8_clean(s, len, &cl);

	out[0] = '\0';
	if (!clean)
		return;
	for (size_t i = 0; i < cl; i++)
		if (clean[i] == '\n' || clean[i] == '\r' || clean[i] == '\t')
			clean[i] = ' ';
	llm_scrub(clean, cl, secret);
	if (max + 4 > outlen)
		max = outlen > 4 ? outlen - 4 : 0;
	cut = web_utf8_prefix(clean, max);
	snprintf(out, outlen, "%.*s%s", (int)cut, clean, cut < cl ? "..." : "");
	free(clean);
}

void llm_error_message(const char *body, size_t n, const char *secret,
		       char *out, size_t outlen)
{
	json_t *root = json_loadb(body, n, 0, NULL), *e, *m;

	if (!outlen)
		return;
	out[0] = '\0';
	e = json_object_get(root, "error");
	m = json_is_object(e) ? json_object_get(e, "message")
	    : json_is_string(e) ? e
				: json_object_get(root, "message");
	if (json_is_string(m))
		readable(json_string_value(m), json_string_length(m), secret,
			 out, outlen);
	else if (!root)
		readable(body, n, secret, out, outlen);
	json_decref(root);
}

void llm_scrub(char *s, size_t n, const char *secret)
{
	size_t k = secret ? strlen(secret) : 0;
	char *p, *end = s + n;

	if (!k || !s)
		return;
	for (p = memmem(s, n, secret, k); p;
	     p = memmem(p, (size_t)(end - p), secret, k)) {
		memset(p, '*', k);
		p += k;
	}
}
