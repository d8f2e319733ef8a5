/* Unit tests of the llm tool set's internals: the deterministic mode (the
 * token rule, templated questions, extractive answers with their source
 * markers, the date window, budgets, reports and their sources list,
 * determinism) and the wire format (request body and its cap, answer
 * parsing, error messages cut UTF-8-safely with the key masked, base URL
 * and key file checks). No network. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "llm_int.h"
#include "web_text.h"
#include "zgtest.h"

/* Runs the deterministic mode on a system and a user message; the reply
 * text (static buffer), or "ERROR: ..." */
static const char *det(const char *system, const char *user, long max,
		       struct llm_reply *out)
{
	static char buf[16384];
	struct llm_msg m[2] = { { "system", system, strlen(system) },
				{ "user", user, strlen(user) } };
	struct llm_reply r;
	char err[256];

	if (llm_det_chat(m, 2, max, &r, err, sizeof(err)) != 0) {
		snprintf(buf, sizeof(buf), "ERROR: %s", err);
		return buf;
	}
	snprintf(buf, sizeof(buf), "%s", r.text);
	if (out) {
		*out = r;
		out->text = NULL;
	}
	llm_reply_free(&r);
	return buf;
}

static void test_word_count(void)
{
	CHECK_EQ_INT(llm_word_count("", 0), 0);
	CHECK_EQ_INT(llm_word_count("  one\ttwo\n three  ", 18), 3);
	CHECK_EQ_INT(llm_word_count("CVE-2024-21626 (Leaky", 21), 2);
}

static void test_questions(void)
{
	const char *q = "Tell me about container escape vulnerabilities from "
			"the past year.";
	struct llm_reply r;

	CHECK_STR(det("task: question:cve\nwindow: 2025-01-15..2026-01-15", q,
		      100, &r),
		  "Which CVEs about container escape vulnerabilities were "
		  "disclosed between 2025-01-15 and 2026-01-15?");
	CHECK_EQ_INT(r.prompt_tokens, 4 + 10);
	CHECK_EQ_INT(r.completion_tokens, 12);
	CHECK_EQ_INT(r.total_tokens, 26);
	CHECK_STR(r.model, LLM_DET_MODEL);
	CHECK_STR(det("task: question:cve", q, 100, NULL),
		  "Which CVEs about container escape vulnerabilities were "
		  "disclosed in the past year?");
	CHECK_STR(det("You are helpful.\nTask: Question:CVE",
		      "What are the recent runc flaws?", 100, NULL),
		  "Which CVEs about recent runc flaws were disclosed?");
	CHECK_STR(det("task: question:kb", q, 100, NULL),
		  "How do container escape vulnerabilities work, and which "
		  "isolation mechanisms (namespaces, capabilities, seccomp, "
		  "cgroups) do they involve?");
	/* a window that is not two dates is ignored */
	CHECK_STR(det("task: question:cve\nwindow: last year", q, 100, NULL),
		  "Which CVEs about container escape vulnerabilities were "
		  "disclosed in the past year?");
	CHECK(!strncmp(det("task: sonnet", q, 100, NULL),
		       "ERROR: unknown task 'sonnet'", 28));
}

static const char pages[] =
	"Question: Which runc escape CVEs were disclosed?\n"
	"\n"
	"Title: runc mount races\n"
	"URL: http://web.test/a.html\n"
	"\n"
	"runc mount races\n"
	"Disclosed: 2025-11\n"
	"On 5 November 2025 runc published three escape fixes, e.g. for "
	"masked paths. The weather was fine that day in the city.\n"
	"CVE-2025-31133: runc hides paths behind /dev/null. A race swaps it "
	"for a symlink and the escape follows.\n"
	"Source: http://web.test/old.html\n"
	"Date: 2024-01-31\n"
	"An old runc escape through a leaked descriptor, CVE-2024-21626.\n"
	"[1] notes/escapes.md #0 (score 0.5)\n"
	"- Runtime bugs: a runc escape overwrote the host's runc\n"
	"  binary through /proc/self/exe.\n";

static void test_answer(void)
{
	const char *sys = "task: answer\nwindow: 2025-01-15..2026-01-15";
	struct llm_reply r;
	char first[16384];

	snprintf(first, sizeof(first), "%s", det(sys, pages, 500, &r));
	CHECK_STR(first,
		  "On 5 November 2025 runc published three escape fixes, "
		  "e.g. for masked paths. [source: http://web.test/a.html]\n"
		  "CVE-2025-31133: runc hides paths behind /dev/null. "
		  "[source: http://web.test/a.html]\n"
		  "A race swaps it for a symlink and the escape follows. "
		  "[source: http://web.test/a.html]\n"
		  "Runtime bugs: a runc escape overwrote the host's runc "
		  "binary through /proc/self/exe. [source: notes/escapes.md]\n"
		  "Note: 1 source(s) dated outside 2025-01-15..2026-01-15 "
		  "left out.");
	CHECK_STR(r.finish, "stop");
	/* the same input, the same answer */
	CHECK_STR(det(sys, pages, 500, NULL), first);
	/* without a window the old page is in */
	CHECK(strstr(det("task: answer", pages, 500, NULL),
		     "CVE-2024-21626. [source: http://web.test/old.html]"));
	/* a small budget: the best sentence of each source first, then
	 * cut, never more words than asked */
	CHECK_STR(det(sys, pages, 40, &r),
		  "On 5 November 2025 runc published three escape fixes, "
		  "e.g. for masked paths. [source: http://web.test/a.html]\n"
		  "Runtime bugs: a runc escape overwrote the host's runc "
		  "binary through /proc/self/exe. [source: notes/escapes.md]\n"
		  "Note: 1 source(s) dated outside 2025-01-15..2026-01-15 "
		  "left out.");
	CHECK_STR(r.finish, "length");
	CHECK(r.completion_tokens <= 40);
	det(sys, pages, 5, &r);
	CHECK_EQ_INT(r.completion_tokens, 5);
	CHECK(!strncmp(det("task: answer",
			   "Question: quantum gravity\n"
			   "Source: x\nNothing here matches "
			   "at all today.",
			   100, NULL),
		       "Nothing in the given sources answers: quantum gravity",
		       53));
}

static void test_report(void)
{
	const char *in =
		"Question: Tell me about escapes.\n"
		"Section: CVEs\n"
		"CVE-2025-31133: runc hides paths. [source: http://a/]\n"
		"A race follows. [source: http://b/]\n"
		"Again CVE-2025-31133 here. [source: http://a/]\n"
		"Section: Mechanisms\n"
		"Seccomp filters calls. [source: notes/seccomp.md]\n"
		"Section: Empty\n";

	CHECK_STR(det("task: report", in, 500, NULL),
		  "Report: Tell me about escapes.\n\n"
		  "CVEs named: CVE-2025-31133.\n\n"
		  "CVEs:\n"
		  "- CVE-2025-31133: runc hides paths. [1]\n"
		  "- A race follows. [2]\n"
		  "- Again CVE-2025-31133 here. [1]\n\n"
		  "Mechanisms:\n"
		  "- Seccomp filters calls. [3]\n\n"
		  "Empty:\n"
		  "- Nothing was found.\n\n"
		  "Sources:\n"
		  "[1] http://a/\n"
		  "[2] http://b/\n"
		  "[3] notes/seccomp.md");
	/* messages without sections are answers of their own */
	{
		struct llm_msg m[3] = { { "system", "task: report", 12 },
					{ "user", "One fact. [source: s1]",
					  22 },
					{ "user", "", 0 } };
		struct llm_reply r;
		char err[128];
		CHECK_EQ_INT(llm_det_chat(m, 3, 100, &r, err, sizeof(err)), 0);
		CHECK_STR(r.text, "Report\n\n"
				  "Answer 1:\n- One fact. [1]\n\n"
				  "Sources:\n[1] s1");
		llm_reply_free(&r);
	}
}

static void test_summary(void)
{
	CHECK_STR(det("no task here", "First one is here. Then a second.", 4,
		      NULL),
		  "First one is here.");
}

static void test_request(void)
{
	struct llm_msg m[2] = { { "system", "be \"terse\"", 10 },
				{ "user", "hi\n", 3 } };
	char *b = llm_request_json("gpt-x", m, 2, 64, 1 << 20);

	CHECK_STR(b, "{\"model\":\"gpt-x\",\"messages\":[{\"role\":\"system\","
		     "\"content\":\"be \\\"terse\\\"\"},{\"role\":\"user\","
		     "\"content\":\"hi\\n\"}],\"max_tokens\":64,"
		     "\"stream\":false}");
	free(b);
	CHECK(llm_request_json("gpt-x", m, 2, 64, 40) == NULL); /* the cap */
}

static void test_parse(void)
{
	const char ok[] = "{\"model\":\"m-1\",\"choices\":[{\"message\":{"
			  "\"content\":\"two words\"},\"finish_reason\":"
			  "\"length\"}],\"usage\":{\"prompt_tokens\":9,"
			  "\"completion_tokens\":2,\"total_tokens\":11}}";
	const char nousage[] = "{\"choices\":[{\"message\":{\"content\":"
			       "\"three small words\"}}]}";
	struct llm_reply r;
	char err[256];

	CHECK_EQ_INT(llm_parse_response(ok, strlen(ok), &r, err, sizeof(err)),
		     0);
	CHECK_STR(r.text, "two words");
	CHECK_STR(r.model, "m-1");
	CHECK_STR(r.finish, "length");
	CHECK_EQ_INT(r.total_tokens, 11);
	llm_reply_free(&r);
	CHECK_EQ_INT(llm_parse_response(nousage, strlen(nousage), &r, err,
					sizeof(err)),
		     0);
	CHECK_EQ_INT(r.completion_tokens, 3);
	CHECK_EQ_INT(r.total_tokens, 3);
	CHECK_STR(r.finish, "stop");
	llm_reply_free(&r);
	CHECK_EQ_INT(llm_parse_response("nope", 4, &r, err, sizeof(err)), -1);
	CHECK(strstr(err, "not JSON") != NULL);
	CHECK_EQ_INT(llm_parse_response("{\"choices\":[]}", 14, &r, err,
					sizeof(err)),
		     -1);
	CHECK(strstr(err, "choices[0].message.content") != NULL);
	CHECK_EQ_INT(llm_parse_response("{\"choices\":[{\"message\":{"
					"\"content\":\"a\\u0000b\"}}]}",
					40, &r, err, sizeof(err)),
		     -1);
}

/* Proves the masking and the UTF-8-safe cut of an endpoint's message. */
static void test_error_message(void)
{
	char out[LLM_MAX_ERROR_TEXT + 8], body[2048];
	const char *k = "sk-secret-123";
	size_t n = 0;

	llm_error_message("{\"error\":{\"message\":\"bad key sk-secret-123\"}}",
			  45, k, out, sizeof(out));
	CHECK_STR(out, "bad key *************");
	llm_error_message("{\"error\":\"plain\\nline\"}", 23, k, out,
			  sizeof(out));
	CHECK_STR(out, "plain line");
	llm_error_message("<html>gateway sk-secr\x01"
			  "et-123</html>",
			  35, k, out, sizeof(out));
	CHECK_STR(out, "<html>gateway *************</html>");
	/* 2-byte characters across the cut: it ends on a boundary */
	n = (size_t)snprintf(body, sizeof(body), "{\"message\":\"x");
	for (int i = 0; i < 400; i++)
		n += (size_t)snprintf(body + n, sizeof(body) - n, "\xc3\xbc");
	n += (size_t)snprintf(body + n, sizeof(body) - n, "\"}");
	llm_error_message(body, n, NULL, out, sizeof(out));
	CHECK(strlen(out) <= LLM_MAX_ERROR_TEXT + 3);
	CHECK(web_utf8_valid(out, strlen(out)));
	CHECK(!strcmp(out + strlen(out) - 5, "\xc3\xbc..."));
	/* a key that the cut would halve is masked before the cut */
	memset(body, 'a', LLM_MAX_ERROR_TEXT - 5);
	memcpy(body + LLM_MAX_ERROR_TEXT - 5, k, strlen(k));
	llm_error_message(body, LLM_MAX_ERROR_TEXT - 5 + strlen(k), k, out,
			  sizeof(out));
	CHECK(strstr(out, "sk-se") == NULL);
}

static void test_config(void)
{
	struct llm_endpoint e = { 0 };
	char err[256], path[] = "/tmp/zg-llm-keyXXXXXX";
	int fd;

	CHECK_EQ_INT(llm_endpoint_set_base(&e, "http://127.0.0.1:8/v1/", err,
					   sizeof(err)),
		     0);
	CHECK_STR(e.url, "http://127.0.0.1:8/v1/chat/completions");
	CHECK_EQ_INT(llm_endpoint_set_base(&e, "http://u:p@h/v1", err,
					   sizeof(err)),
		     -1);
	CHECK_EQ_INT(llm_endpoint_set_base(&e, "http://h/v1?key=x", err,
					   sizeof(err)),
		     -1);
	CHECK_EQ_INT(llm_endpoint_set_base(&e, "ftp://h/v1", err, sizeof(err)),
		     -1);
	fd = mkstemp(path);
	CHECK(fd >= 0);
	CHECK(write(fd, "k-123 \r\nsecond line\n", 20) == 20);
	close(fd);
	CHECK_EQ_INT(llm_endpoint_read_key(&e, path, err, sizeof(err)), 0);
	CHECK_STR(e.key, "k-123");
	fd = open(path, O_WRONLY | O_TRUNC);
	CHECK(write(fd, "two words\n", 10) == 10);
	close(fd);
	CHECK_EQ_INT(llm_endpoint_read_key(&e, path, err, sizeof(err)), -1);
	CHECK(strstr(err, "two") == NULL);
	unlink(path);
	llm_endpoint_free(&e);
}

int main(void)
{
	RUN(test_word_count);
	RUN(test_questions);
	RUN(test_answer);
	RUN(test_report);
	RUN(test_summary);
	RUN(test_request);
	RUN(test_parse);
	RUN(test_error_message);
	RUN(test_config);
	return ZGT_DONE();
}
