/* Fuzz target: the chat completions answer parser and the error-message
 * reader (with a key to scrub), and the deterministic mode on the same
 * bytes as messages (before the first NUL the system message, after it
 * the user's), under every task. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm_int.h"
#include "web_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void deterministic(const char *d, size_t size)
{
	static const char *const tasks[] = { "question:cve", "question:kb",
					     "answer", "report", "summary" };
	const char *nul = memchr(d, '\0', size);
	size_t sl = nul ? (size_t)(nul - d) : size;
	const char *u = nul ? nul + 1 : "";
	size_t ul = nul ? strnlen(u, size - sl - 1) : 0;
	/* copied by length: the input is not NUL-terminated, and strndup
	 * on it trips ASan's strict string checks */
	char *sys = malloc(sl + 32), *usr = malloc(ul + 1), err[256];

	if (!sys || !usr)
		goto out;
	memcpy(usr, u, ul);
	usr[ul] = '\0';
	for (size_t t = 0; t < sizeof(tasks) / sizeof(*tasks); t++) {
		struct llm_msg m[2] = { { "system", sys, 0 },
					{ "user", usr, ul } };
		struct llm_reply r;
		int w = snprintf(sys, sl + 32, "task: %s\n%.*s", tasks[t],
				 (int)sl, d);
		m[0].len = w > 0 ? strlen(sys) : 0;
		if (llm_det_chat(m, 2, 40, &r, err, sizeof(err)) != 0)
			continue;
		/* never more words than asked; valid text stays valid */
		if (r.completion_tokens > 40 ||
		    r.completion_tokens !=
			    llm_word_count(r.text, strlen(r.text)))
			abort();
		if (web_utf8_valid(sys, m[0].len) && web_utf8_valid(usr, ul) &&
		    !web_utf8_valid(r.text, strlen(r.text)))
			abort();
		llm_reply_free(&r);
	}
out:
	free(sys);
	free(usr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *d = (const char *)data;
	struct llm_reply r;
	char err[512], msg[LLM_MAX_ERROR_TEXT + 8];

	if (llm_parse_response(d, size, &r, err, sizeof(err)) == 0) {
		if (!r.text || r.completion_tokens < 0 || r.total_tokens < 0 ||
		    !web_utf8_valid(r.model, strlen(r.model)))
			abort();
		llm_reply_free(&r);
	}
	llm_error_message(d, size, "abc", msg, sizeof(msg));
	if (strstr(msg, "abc") || strlen(msg) > LLM_MAX_ERROR_TEXT + 3 ||
	    !web_utf8_valid(msg, strlen(msg)))
		abort();
	deterministic(d, size);
	return 0;
}
