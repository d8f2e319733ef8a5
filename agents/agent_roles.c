/* The five agents of the pipeline (docs/pipeline.md): each turns its ask
 * input into tool calls through the gateway and an llm_chat prompt in the
 * deterministic-mode convention of docs/llm.md, and answers with text. */
#include "agent.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zonegate/mcp.h>

/* One ask in progress. */
struct ask {
	const struct ag_config *cfg;
	struct ag_client *cl;
	long deadline;
	json_t *ops;	 /* [{tool, ms, ok}] */
	json_t *sources; /* URLs and KB documents, each once */
	char err[1024];
};

/* The parsed input. */
struct input {
	const char *question;
	const char *window; /* NULL or YYYY-MM-DD..YYYY-MM-DD */
	json_t *sections;   /* report: [{title, text}] */
	json_t *root;	    /* owns the strings above */
};

static const char *const roles[] = { "cve-question", "cve", "blog-question",
				     "rag", "report" };

int ag_role_ok(const char *role)
{
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (strcmp(role, roles[i]) == 0)
			return 0;
	return -1;
}

static int fail(struct ask *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int fail(struct ask *a, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->err, sizeof(a->err), fmt, ap);
	va_end(ap);
	return -1;
}

/* 0 if w is YYYY-MM-DD..YYYY-MM-DD (digits where digits go). */
static int window_ok(const char *w)
{
	static const char pat[] = "dddd-dd-dd..dddd-dd-dd";

	if (strlen(w) != sizeof(pat) - 1)
		return -1;
	for (size_t i = 0; pat[i]; i++)
		if (pat[i] == 'd' ? (w[i] < '0' || w[i] > '9') : w[i] != pat[i])
			return -1;
	return 0;
}

/* Reads input: a JSON object {question, window?, sections?}, or any other
 * text taken whole as the question. 0, or -1 with a->err. */
static int parse_input(struct ask *a, const char *text, struct input *in)
{
	json_t *q, *w, *s;

	memset(in, 0, sizeof(*in));
	in->root = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(in->root)) {
		in->question = text;
		return *text ? 0 : fail(a, "the input is empty");
	}
	q = json_object_get(in->root, "question");
	w = json_object_get(in->root, "window");
	s = json_object_get(in->root, "sections");
	if (!json_is_string(q) || !*json_string_value(q))
		return fail(a, "input: \"question\" must be a non-empty "
			       "string");
	in->question = json_string_value(q);
	if (w && (!json_is_string(w) || window_ok(json_string_value(w))))
		return fail(a, "input: \"window\" must be "
			       "\"YYYY-MM-DD..YYYY-MM-DD\"");
	in->window = w ? json_string_value(w) : NULL;
	if (s && (!json_is_array(s) || json_array_size(s) < 1 ||
		  json_array_size(s) > AG_MAX_SECTIONS))
		return fail(a, "input: \"sections\" must be an array of 1..%d",
			    AG_MAX_SECTIONS);
	for (size_t i = 0; s && i < json_array_size(s); i++) {
		json_t *e = json_array_get(s, i);
		if (!json_is_string(json_object_get(e, "title")) ||
		    !json_is_string(json_object_get(e, "text")))
			return fail(a, "input: sections[%zu] needs string "
				       "\"title\" and \"text\"",
				    i);
	}
	in->sections = s;
	return 0;
}

/* Calls ZONE.TOOL with args (stolen) and times it. Returns the result
 * (new reference, not an error result) or NULL with a->err saying which
 * tool failed and why. */
static json_t *call(struct ask *a, const char *zone, const char *tool,
		    json_t *args)
{
	char name[160], e[768];
	json_t *res = NULL;
	double t0 = ag_now_msf();

	snprintf(name, sizeof(name), "%s.%s", zone, tool);
	if (!args) {
		fail(a, "out of memory");
		goto out;
	}
	res = ag_client_call(a->cl, name, args, a->deadline, e, sizeof(e));
	if (!res) {
		fail(a, "%s: %s", name, e);
	} else if (json_is_true(json_object_get(res, "isError"))) {
		char *t = ag_result_text(res);
		fail(a, "%s failed: %.600s", name, t ? t : "");
		free(t);
		json_decref(res);
		res = NULL;
	}
	json_array_append_new(a->ops,
			      json_pack("{s:s, s:f, s:b}", "tool", name, "ms",
					ag_ms_since(t0), "ok", res != NULL));
out:
	json_decref(args);
	return res;
}

static void add_source(struct ask *a, const char *s)
{
	size_t i;
	json_t *v;

	json_array_foreach (a->sources, i, v)
		if (strcmp(json_string_value(v), s) == 0)
			return;
	json_array_append_new(a->sources, json_string(s));
}

/* Asks llm_chat: a system message with the task (and window), then the
 * user messages (borrowed strings, n of them). The reply's text (new
 * string) or NULL with a->err. */
static char *llm(struct ask *a, const char *task, const char *window,
		 const char *const *user, size_t n, long max_tokens)
{
	char sys[128];
	json_t *msgs = json_array(), *res;
	char *text;

	snprintf(sys, sizeof(sys), "task: %s%s%s", task,
		 window ? "\nwindow: " : "", window ? window : "");
	json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "system",
					      "content", sys));
	for (size_t i = 0; i < n; i++)
		json_array_append_new(msgs, json_pack("{s:s, s:s}", "role",
						      "user", "content",
						      user[i]));
	if (json_array_size(msgs) != n + 1) {
		json_decref(msgs);
		fail(a, "out of memory (or text that is not UTF-8)");
		return NULL;
	}
	res = call(a, a->cfg->llm_zone, "llm_chat",
		   json_pack("{s:o, s:I}", "messages", msgs, "max_tokens",
			     (json_int_t)max_tokens));
	if (!res)
		return NULL;
	text = ag_result_text(res);
	json_decref(res);
	if (!text)
		fail(a, "out of memory");
	return text;
}

/* Appends s to the growing buffer *buf (*len bytes); -1 when out of
 * memory. At most max bytes of s, cut on a UTF-8 character boundary. */
static int append(char **buf, size_t *len, const char *s, size_t max)
{
	size_t n = strlen(s);
	char *nb;

	if (n > max) {
		n = max;
		while (n && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	nb = realloc(*buf, *len + n + 1);
	if (!nb)
		return -1;
	memcpy(nb + *len, s, n);
	*len += n;
	nb[*len] = '\0';
	*buf = nb;
	return 0;
}

/* cve-question and blog-question: the llm's templated question. */
static char *role_question(struct ask *a, const struct input *in, int cve)
{
	const char *u[1] = { in->question };

	return llm(a, cve ? "question:cve" : "question:kb",
		   cve ? in->window : NULL, u, 1, a->cfg->max_tokens);
}

/* Fetches one search hit into the sources text; 0, or -1 (a->err). */
static int fetch_page(struct ask *a, json_t *hit, char **buf, size_t *len)
{
	const char *url = json_string_value(json_object_get(hit, "url"));
	const char *date = json_string_value(json_object_get(hit, "date"));
	json_t *res;
	const char *text;
	char head[2300];
	int rc = -1;

	if (!url || strlen(url) > 2048)
		return fail(a, "a search hit without a usable url");
	res = call(a, a->cfg->web_zone, "web_fetch",
		   json_pack("{s:s}", "url", url));
	if (!res)
		return -1;
	text = json_string_value(json_object_get(
		json_object_get(res, "structuredContent"), "text"));
	if (!text) {
		fail(a, "web_fetch: no text for %s", url);
		goto out;
	}
	/* The date comes from the search result (YYYY-MM or YYYY-MM-DD,
	 * before any time): the llm's window check reads Published:. */
	snprintf(head, sizeof(head), "Source: %s\n%s%.*s%s\n", url,
		 date ? "Published: " : "", date ? (int)strcspn(date, "T") : 0,
		 date ? date : "", date ? "\n" : "");
	if (append(buf, len, head, sizeof(head)) ||
	    append(buf, len, text, AG_MAX_PAGE) ||
	    append(buf, len, "\n\n", 2)) {
		fail(a, "out of memory");
		goto out;
	}
	add_source(a, url);
	rc = 0;
out:
	json_decref(res);
	return rc;
}

/* cve: web_search, web_fetch of the top pages, llm answer. */
static char *role_cve(struct ask *a, const struct input *in)
{
	json_t *res, *hits;
	char *buf = NULL, *out = NULL, first[1024] = "";
	size_t len = 0, i, got = 0;
	const char *u[1];

	res = call(a, a->cfg->web_zone, "web_search",
		   json_pack("{s:s, s:I}", "query", in->question, "count",
			     (json_int_t)a->cfg->search_count));
	if (!res)
		return NULL;
	hits = json_object_get(json_object_get(res, "structuredContent"),
			       "results");
	if (append(&buf, &len, "Question: ", 16) ||
	    append(&buf, &len, in->question, AG_MAX_INPUT) ||
	    append(&buf, &len, "\n\n", 2)) {
		fail(a, "out of memory");
		goto out;
	}
	for (i = 0; i < json_array_size(hits) &&
		    got < (size_t)a->cfg->fetch_count;
	     i++) {
		if (fetch_page(a, json_array_get(hits, i), &buf, &len) == 0)
			got++;
		else if (!first[0])
			snprintf(first, sizeof(first), "%s", a->err);
		if (ag_now_ms() >= a->deadline)
			break;
	}
	if (!got) {
		fail(a, "no page to answer from: %s",
		     json_array_size(hits) ? first : "the search found nothing");
		goto out;
	}
	u[0] = buf;
	out = llm(a, "answer", in->window, u, 1, a->cfg->max_tokens);
out:
	json_decref(res);
	free(buf);
	return out;
}

/* rag: rag_search (hybrid), llm answer from its result text. */
static char *role_rag(struct ask *a, const struct input *in)
{
	json_t *res, *hits, *h;
	char *text, *buf = NULL, *out = NULL;
	size_t len = 0, i;
	const char *u[1];

	res = call(a, a->cfg->kb_zone, "rag_search",
		   json_pack("{s:s, s:s, s:I}", "query", in->question, "mode",
			     "hybrid", "k", (json_int_t)a->cfg->rag_k));
	if (!res)
		return NULL;
	hits = json_object_get(json_object_get(res, "structuredContent"),
			       "results");
	json_array_foreach (hits, i, h) {
		const char *src = json_string_value(json_object_get(h, "source"));
		if (src)
			add_source(a, src);
	}
	text = ag_result_text(res);
	if (!text || append(&buf, &len, "Question: ", 16) ||
	    append(&buf, &len, in->question, AG_MAX_INPUT) ||
	    append(&buf, &len, "\n\n", 2) ||
	    append(&buf, &len, text, 4 * AG_MAX_PAGE)) {
		fail(a, "out of memory");
		goto out;
	}
	u[0] = buf;
	out = llm(a, "answer", NULL, u, 1, a->cfg->max_tokens);
out:
	free(text);
	free(buf);
	json_decref(res);
	return out;
}

/* The report's "[N] SOURCE" lines after its "Sources:" line. */
static void report_sources(struct ask *a, const char *text)
{
	const char *p = strstr(text, "\nSources:\n");

	while (p && (p = strchr(p + 1, '\n')) && p[1] == '[') {
		const char *sp = strstr(p, "] "), *end = strchr(p + 1, '\n');
		size_t n;
		char s[2100];

		if (!sp || (end && sp > end))
			continue;
		n = end ? (size_t)(end - sp - 2) : strlen(sp + 2);
		if (n < sizeof(s)) {
			memcpy(s, sp + 2, n);
			s[n] = '\0';
			add_source(a, s);
		}
	}
}

/* report: the question and each section as a user message. */
static char *role_report(struct ask *a, const struct input *in)
{
	const char *u[AG_MAX_SECTIONS + 1];
	char *msgs[AG_MAX_SECTIONS + 1] = { 0 }, *out = NULL;
	size_t n = 0, len, i;
	json_t *s;

	if (!in->sections) {
		fail(a, "input: the report needs \"sections\"");
		return NULL;
	}
	json_array_foreach (in->sections, i, s) {
		len = 0;
		if (append(&msgs[n], &len, "Section: ", 16) ||
		    append(&msgs[n], &len,
			   json_string_value(json_object_get(s, "title")),
			   256) ||
		    append(&msgs[n], &len, "\n", 1) ||
		    append(&msgs[n], &len,
			   json_string_value(json_object_get(s, "text")),
			   AG_MAX_INPUT)) {
			fail(a, "out of memory");
			goto out;
		}
		n++;
	}
	len = 0;
	if (append(&msgs[n], &len, "Question: ", 16) ||
	    append(&msgs[n], &len, in->question, AG_MAX_INPUT)) {
		fail(a, "out of memory");
		goto out;
	}
	u[0] = msgs[n];
	for (i = 0; i < n; i++)
		u[i + 1] = msgs[i];
	out = llm(a, "report", NULL, u, n + 1,
		  a->cfg->max_tokens < 2048 ? 2048 : a->cfg->max_tokens);
	if (out)
		report_sources(a, out);
out:
	for (i = 0; i <= n && i <= AG_MAX_SECTIONS; i++)
		free(msgs[i]);
	return out;
}

static char *dispatch(struct ask *a, const struct input *in)
{
	const char *r = a->cfg->role;

	if (strcmp(r, "cve-question") == 0 || strcmp(r, "blog-question") == 0)
		return role_question(a, in, r[0] == 'c');
	if (strcmp(r, "cve") == 0)
		return role_cve(a, in);
	if (strcmp(r, "rag") == 0)
		return role_rag(a, in);
	return role_report(a, in);
}

json_t *ag_role_run(const struct ag_config *cfg, struct ag_client **cl,
		    int (*cancel)(void *), void *cancel_ud, const char *input)
{
	struct ask a = { cfg, NULL, ag_now_ms() + cfg->deadline_ms, json_array(),
			 json_array(), "" };
	struct input in;
	char *text = NULL, e[512];
	json_t *res = NULL;

	if (!a.ops || !a.sources)
		goto out;
	if (parse_input(&a, input, &in))
		goto done;
	if (*cl && !ag_client_usable(*cl)) {
		ag_client_close(*cl);
		*cl = NULL;
	}
	a.cl = *cl ? *cl : ag_client_open(cfg, a.deadline, e, sizeof(e));
	if (!a.cl) {
		fail(&a, "cannot reach the gateway: %s", e);
		goto done;
	}
	ag_client_set_cancel(a.cl, cancel, cancel_ud);
	text = dispatch(&a, &in);
	ag_client_set_cancel(a.cl, NULL, NULL);
done:
	if (text) {
		res = mcp_result_text(text);
		if (res)
			json_object_set_new(
				res, "structuredContent",
				json_pack("{s:s, s:s, s:O, s:O}", "role",
					  cfg->role, "text", text, "sources",
					  a.sources, "ops", a.ops));
	} else {
		res = mcp_result_errorf("%s agent: %s", cfg->role, a.err);
		if (res)
			json_object_set_new(res, "structuredContent",
					    json_pack("{s:s, s:s, s:O}", "role",
						      cfg->role, "error", a.err,
						      "ops", a.ops));
	}
	if (a.cl && !ag_client_usable(a.cl)) {
		ag_client_close(a.cl);
		a.cl = NULL;
		*cl = NULL;
	} else if (a.cl) {
		*cl = a.cl;
	}
	json_decref(in.root);
out:
	free(text);
	json_decref(a.ops);
	json_decref(a.sources);
	return res;
}
