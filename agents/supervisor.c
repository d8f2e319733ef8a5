/* zonegate-supervisor: the pipeline's supervisor (docs/pipeline.md). Not a
 * model: a fixed plan (the clock, the date window, then each agent's ask)
 * that passes answers from one agent to the next without reading them,
 * on the agents' MCP client (through the gateway, or --direct). */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zg_common.h>
#include <zg_version.h>

#define SUP_MAX_QUESTION (64u * 1024) /* --question, --question-file */
#define SUP_MAX_RUNS 100
#define SUP_MAX_OPS 64	   /* an agent's ops copied per ask */
#define SUP_MAX_SOURCES 256 /* an agent's sources copied per ask */
#define SUP_MAX_SOURCE 2048 /* bytes of one source kept */
#define SUP_MAX_ERROR 1024 /* bytes of one error text kept */
#define SUP_NROLES 5

enum { R_CVEQ, R_CVE, R_BLOGQ, R_RAG, R_REPORT };

static const char *const roles[SUP_NROLES] = { "cve-question", "cve",
					       "blog-question", "rag",
					       "report" };

static const char default_question[] =
	"Tell me about container escape vulnerabilities from the past year.";

struct sup_opts {
	struct ag_config cfg; /* relay, chan, deadline, direct zones */
	struct ag_direct direct[AG_MAX_DIRECT];
	const char *zone[SUP_NROLES]; /* each agent's zone (ZONE.ask) */
	const char *clock_zone;
	const char *question;	 /* --question, or read from the file */
	char *question_buf;	 /* --question-file's text (owned) */
	const char *out;	 /* --out FILE */
	long runs;
	int json;
};

/* One run of the plan. */
struct run {
	struct ag_client **cl; /* the supervisor's client (kept across runs) */
	const struct sup_opts *o;
	json_t *agents; /* {ROLE: {ms, ok, ops}} */
	json_t *errors; /* [{agent, error}] */
	char *text[SUP_NROLES];
	json_t *sources[SUP_NROLES]; /* each answer's structuredContent */
	char now[48], window[112]; /* "" when the clock failed */
	char *report;
	json_t *report_sources;
	double clock_ms, total_ms; /* milliseconds, to the microsecond */
	int unreachable; /* the last call's session could not be opened */
	char fatal[SUP_MAX_ERROR]; /* why the run could not start */
};

/* ---- calls ------------------------------------------------------------ */

/* Calls name with args (borrowed) before deadline on the run's client,
 * (re)opening it when it is gone or broken. Returns the result (new
 * reference; with isError set its text is also copied to err) or NULL
 * with err. */
static json_t *sup_call(struct run *r, const char *name, json_t *args,
			long deadline, char *err, size_t errlen)
{
	char e[512];
	json_t *res;
	char *t;

	r->unreachable = 0;
	if (*r->cl && !ag_client_usable(*r->cl)) {
		ag_client_close(*r->cl);
		*r->cl = NULL;
	}
	if (!*r->cl) {
		*r->cl = ag_client_open(&r->o->cfg, deadline, e, sizeof(e));
		if (!*r->cl) {
			r->unreachable = 1;
			snprintf(err, errlen, "cannot reach the gateway: %s",
				 e);
			return NULL;
		}
	}
	res = ag_client_call(*r->cl, name, args, deadline, err, errlen);
	if (!res) {
		r->unreachable = ag_client_unreachable(*r->cl);
		return NULL;
	}
	if (json_is_true(json_object_get(res, "isError"))) {
		t = ag_result_text(res);
		snprintf(err, errlen, "%.*s", SUP_MAX_ERROR - 1,
			 t && *t ? t : "an error result without text");
		free(t);
	}
	return res;
}

static void add_error(struct run *r, const char *agent, const char *err)
{
	json_array_append_new(r->errors, json_pack("{s:s, s:s?}", "agent",
						   agent, "error", err));
}

/* The agent's own timings, copied field by field (at most SUP_MAX_OPS):
 * [{tool, ms, ok}]; a new array. */
static json_t *copy_ops(json_t *ops)
{
	json_t *out = json_array(), *op;
	size_t i;

	json_array_foreach (ops, i, op) {
		json_t *tool = json_object_get(op, "tool");
		json_t *ms = json_object_get(op, "ms");
		if (i == SUP_MAX_OPS || !out)
			break;
		if (!json_is_string(tool) || !json_is_number(ms))
			continue;
		json_array_append_new(
			out, json_pack("{s:O, s:O, s:b}", "tool", tool, "ms",
				       ms,
				       "ok",
				       json_is_true(json_object_get(op, "ok"))));
	}
	return out;
}

/* An agent's sources: the strings of at most SUP_MAX_SOURCES, each at
 * most SUP_MAX_SOURCE bytes (longer ones are left out); a new array. */
static json_t *copy_sources(json_t *src)
{
	json_t *out = json_array(), *v;
	size_t i;

	json_array_foreach (src, i, v) {
		if (i == SUP_MAX_SOURCES || !out)
			break;
		if (json_is_string(v) && json_string_length(v) <= SUP_MAX_SOURCE)
			json_array_append(out, v);
	}
	return out;
}

/* Asks agent role with input (stolen, an object sent as JSON text) and
 * records its time and ops. Its answer's text in r->text[role], or NULL
 * with the error in err (and in r->errors). */
static const char *ask(struct run *r, int role, json_t *input, char *err,
		       size_t errlen)
{
	char name[96], *in = input ? json_dumps(input, JSON_COMPACT) : NULL;
	json_t *args = in ? json_pack("{s:s}", "input", in) : NULL;
	json_t *res = NULL, *sc;
	long t0 = ag_now_ms();
	double t0f = ag_now_msf();
	char *text = NULL;

	json_decref(input);
	free(in);
	snprintf(name, sizeof(name), "%s.ask", r->o->zone[role]);
	if (!args)
		snprintf(err, errlen, "out of memory (or text not UTF-8)");
	else
		res = sup_call(r, name, args, t0 + r->o->cfg.deadline_ms, err,
			       errlen);
	json_decref(args);
	sc = json_object_get(res, "structuredContent");
	if (res && !json_is_true(json_object_get(res, "isError"))) {
		text = ag_result_text(res);
		if (!text || strlen(text) > AG_MAX_INPUT) {
			snprintf(err, errlen, "%s", text ? "an answer over "
							   "256 KiB"
							 : "out of memory");
			free(text);
			text = NULL;
		}
	}
	json_object_set_new(
		r->agents, roles[role],
		json_pack("{s:f, s:b, s:o}", "ms", ag_ms_since(t0f), "ok",
			  text != NULL,
			  "ops", copy_ops(json_object_get(sc, "ops"))));
	if (text)
		r->sources[role] = copy_sources(json_object_get(sc, "sources"));
	if (!text)
		add_error(r, roles[role], err);
	json_decref(res);
	r->text[role] = text;
	return text;
}

/* ---- the clock --------------------------------------------------------- */

/* Reads n digits at s; -1 if one is not a digit. */
static int digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* From utc ("YYYY-MM-DDTHH:MM:SSZ"), r->now (its date) and r->window,
 * the year ending at that date: the same day a year before (28 February
 * for 29 February, which the year before lacks). 0, or -1 when utc is not
 * such a date. */
static int window_of(struct run *r, const char *utc)
{
	int y, m, d;

	if (!utc || strlen(utc) < 10 || utc[4] != '-' || utc[7] != '-')
		return -1;
	y = digits(utc, 4);
	m = digits(utc + 5, 2);
	d = digits(utc + 8, 2);
	if (y < 1001 || m < 1 || m > 12 || d < 1 || d > 31)
		return -1;
	snprintf(r->now, sizeof(r->now), "%04d-%02d-%02d", y, m, d);
	if (m == 2 && d == 29)
		d = 28;
	snprintf(r->window, sizeof(r->window), "%04d-%02d-%02d..%s", y - 1, m,
		 d, r->now);
	return 0;
}

/* Calls CLOCK.time_now and sets the window; 0, or -1 with err. */
static int read_clock(struct run *r, char *err, size_t errlen)
{
	char name[96];
	json_t *args = json_object(), *res;
	long t0 = ag_now_ms();
	double t0f = ag_now_msf();
	int rc = -1;

	snprintf(name, sizeof(name), "%s.time_now", r->o->clock_zone);
	res = args ? sup_call(r, name, args, t0 + r->o->cfg.deadline_ms, err,
			      errlen)
		   : NULL;
	if (!args)
		snprintf(err, errlen, "out of memory");
	r->clock_ms = ag_ms_since(t0f);
	if (json_is_true(json_object_get(res, "isError"))) {
		json_decref(res);
		res = NULL;
	}
	if (res && window_of(r, json_string_value(json_object_get(
					json_object_get(res,
							"structuredContent"),
					"utc")))) {
		snprintf(err, errlen, "%s: no date in structuredContent.utc",
			 name);
	} else if (res) {
		rc = 0;
	} else {
		char e[SUP_MAX_ERROR];
		snprintf(e, sizeof(e), "%s", err);
		snprintf(err, errlen, "%s: %.900s", name, e);
	}
	json_decref(args);
	json_decref(res);
	return rc;
}

/* ---- the plan ---------------------------------------------------------- */

/* The section text: the answer, or the fixed notice with why not. */
static json_t *section(const char *title, const char *text, const char *err)
{
	json_t *s;
	size_t n;
	char *notice;

	if (text)
		return json_pack("{s:s, s:s}", "title", title, "text", text);
	n = strlen(err) + 32;
	notice = malloc(n);
	if (!notice)
		return NULL;
	snprintf(notice, n, "(not available: %s)", err);
	s = json_pack("{s:s, s:s}", "title", title, "text", notice);
	free(notice);
	return s;
}

/* Appends to out (cap n, *off used) what fmt makes; a text that does not
 * fit is cut (n is computed to fit, this only keeps a mistake safe). */
static void put(char *out, size_t n, size_t *off, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void put(char *out, size_t n, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (*off >= n - 1)
		return;
	va_start(ap, fmt);
	w = vsnprintf(out + *off, n - *off, fmt, ap);
	va_end(ap);
	*off = w < 0 || (size_t)w >= n - *off ? n - 1 : *off + (size_t)w;
}

/* The report the supervisor writes itself when report failed: a fixed
 * template of the question, each section as received, and the error. A
 * new string (the caller frees it) or NULL when out of memory. */
static char *partial_report(const char *q, json_t *sections, const char *err)
{
	size_t n = strlen(q) + strlen(err) + 256, off = 0, i;
	json_t *s;
	char *out;

	json_array_foreach (sections, i, s) {
		n += json_string_length(json_object_get(s, "title"));
		n += json_string_length(json_object_get(s, "text")) + 8;
	}
	out = malloc(n);
	if (!out)
		return NULL;
	out[0] = '\0';
	put(out, n, &off,
	    "Partial report (written by the supervisor: the report agent "
	    "failed)\n\nQuestion: %s\n",
	    q);
	json_array_foreach (sections, i, s)
		put(out, n, &off, "\n## %s\n\n%s\n",
		    json_string_value(json_object_get(s, "title")),
		    json_string_value(json_object_get(s, "text")));
	put(out, n, &off, "\nError: report: %s\n", err);
	return out;
}

/* The union of cve's and rag's sources, each once (a new array). */
static json_t *union_sources(struct run *r)
{
	json_t *u = json_array(), *v, *w;
	size_t i, j;
	int seen;

	for (int k = R_CVE; k <= R_RAG; k += R_RAG - R_CVE) {
		json_array_foreach (r->sources[k], i, v) {
			seen = !json_is_string(v);
			json_array_foreach (u, j, w)
				seen |= json_equal(v, w);
			if (!seen)
				json_array_append(u, v);
		}
	}
	return u;
}

/* The report's step: ask report with both sections, or write the
 * partial report. */
static void do_report(struct run *r, const char *cve_err, const char *rag_err)
{
	char err[SUP_MAX_ERROR];
	json_t *sections = json_pack(
		"[o?, o?]",
		section("CVEs in the window", r->text[R_CVE], cve_err),
		section("What the knowledge base says", r->text[R_RAG],
			rag_err));
	json_t *in = sections ? json_pack("{s:s, s:O}", "question",
					  r->o->question, "sections", sections)
			      : NULL;

	if (ask(r, R_REPORT, in, err, sizeof(err))) {
		r->report = strdup(r->text[R_REPORT]);
		r->report_sources = json_incref(r->sources[R_REPORT]);
	} else {
		r->report = partial_report(r->o->question, sections, err);
		r->report_sources = union_sources(r);
	}
	json_decref(sections);
}

/* One run of the plan. Returns 0, or 3 when the clock's session could
 * not be opened at all (nothing else is tried then). */
static int run_plan(struct run *r)
{
	char err[SUP_MAX_ERROR], cve_err[SUP_MAX_ERROR], rag_err[SUP_MAX_ERROR];
	const char *q = r->o->question, *t;
	double t0 = ag_now_msf();

	if (read_clock(r, err, sizeof(err))) {
		if (r->unreachable) {
			snprintf(r->fatal, sizeof(r->fatal), "%s", err);
			return 3;
		}
		add_error(r, "clock", err);
		snprintf(cve_err, sizeof(cve_err), "no date window: %.900s",
			 err);
	} else {
		t = ask(r, R_CVEQ,
			json_pack("{s:s, s:s}", "question", q, "window",
				  r->window),
			cve_err, sizeof(cve_err));
		if (t)
			ask(r, R_CVE,
			    json_pack("{s:s, s:s}", "question", t, "window",
				      r->window),
			    cve_err, sizeof(cve_err));
	}
	t = ask(r, R_BLOGQ, json_pack("{s:s}", "question", q), rag_err,
		sizeof(rag_err));
	if (t)
		ask(r, R_RAG, json_pack("{s:s}", "question", t), rag_err,
		    sizeof(rag_err));
	do_report(r, cve_err, rag_err);
	r->total_ms = ag_ms_since(t0);
	return 0;
}

static void run_clear(struct run *r)
{
	json_decref(r->agents);
	json_decref(r->errors);
	json_decref(r->report_sources);
	free(r->report);
	for (int i = 0; i < SUP_NROLES; i++) {
		free(r->text[i]);
		json_decref(r->sources[i]);
	}
	memset(r, 0, sizeof(*r));
}

/* ---- output ------------------------------------------------------------ */

/* The JSON object of the last run r and the timings of all (runs, new
 * reference), or NULL when out of memory. */
static json_t *result_json(const struct run *r, json_t *runs)
{
	return json_pack("{s:s, s:s?, s:s?, s:s, s:O, s:b, s:O, s:O}",
			 "question", r->o->question, "now",
			 r->now[0] ? r->now : NULL, "window",
			 r->window[0] ? r->window : NULL, "report",
			 r->report ? r->report : "", "sources",
			 r->report_sources, "complete",
			 json_array_size(r->errors) == 0, "errors", r->errors,
			 "runs", runs);
}

static void print_text(const struct run *r, json_t *runs)
{
	json_t *v, *a;
	const char *k;
	size_t i;

	printf("%s\n", r->report ? r->report : "");
	printf("\nSources:\n");
	json_array_foreach (r->report_sources, i, v)
		printf("  %s\n", json_string_value(v));
	if (json_array_size(r->errors)) {
		printf("\nErrors:\n");
		json_array_foreach (r->errors, i, v)
			printf("  %s: %s\n",
			       json_string_value(json_object_get(v, "agent")),
			       json_string_value(json_object_get(v, "error")));
	}
	printf("\nTiming (window %s):\n",
	       r->window[0] ? r->window : "unknown");
	json_array_foreach (runs, i, v) {
		printf("  run %zu: total %.3f ms, clock %.3f ms", i + 1,
		       json_number_value(json_object_get(v, "total_ms")),
		       json_number_value(json_object_get(v, "clock_ms")));
		json_object_foreach (json_object_get(v, "agents"), k, a)
			printf(", %s %.3f ms%s", k,
			       json_number_value(json_object_get(a, "ms")),
			       json_is_true(json_object_get(a, "ok"))
				       ? ""
				       : " (failed)");
		printf("\n");
	}
}

/* ---- options ----------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: zonegate-supervisor [--question TEXT | --question-file "
		"FILE] [options]\n"
		"Runs the pipeline's fixed plan (docs/pipeline.md): the clock, "
		"the date window,\n"
		"cve-question then cve, blog-question then rag, then report.\n"
		"  --question TEXT         the user's question (default: \"%s\")\n"
		"  --question-file FILE    read the question from FILE (at most "
		"%u KiB)\n"
		"  --agent ROLE=ZONE       call ROLE's ask as ZONE.ask (default "
		"ZONE = ROLE)\n"
		"  --clock-zone ZONE       the zone of time_now (default tools)\n"
		"  --direct ZONE=URL       call ZONE's tools on its HTTP MCP "
		"server at URL,\n"
		"                          not through the gateway (the "
		"no-isolation\n"
		"                          baseline; repeatable, up to %d)\n"
		"  --chan ADDR             the channel to the gateway (default: "
		"the relay's)\n"
		"  --relay PATH            the zonegate-relay binary (default: "
		"on PATH)\n"
		"  --deadline-ms MS        each call's deadline (default "
		"120000)\n"
		"  --connect-timeout MS    the relay's wait for the channel "
		"(default 5000)\n"
		"  --runs N                run the plan N times (default 1, at "
		"most %d)\n"
		"  --json                  print one JSON object on stdout\n"
		"  --out FILE              also write the JSON object to FILE\n"
		"  --version, --help\n"
		"Exit status: 0 complete, 1 partial, 2 usage, 3 the gateway "
		"cannot be reached.\n",
		default_question, SUP_MAX_QUESTION / 1024, AG_MAX_DIRECT,
		SUP_MAX_RUNS);
}

enum {
	O_QUESTION = 256,
	O_QFILE,
	O_AGENT,
	O_CLOCK,
	O_DIRECT,
	O_CHAN,
	O_RELAY,
	O_DEADLINE,
	O_CONNECT,
	O_RUNS,
	O_JSON,
	O_OUT,
	O_VERSION,
	O_HELP
};

static int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Reports a usage error; returns -1. */
static int bad(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "zonegate-supervisor: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	return -1;
}

static int num(const char *name, const char *v, long long min, long long max,
	       long *out)
{
	long long x;
	char range[64];

	if (!zg_parse_int(v, min, max, &x)) {
		*out = (long)x;
		return 0;
	}
	snprintf(range, sizeof(range), "%lld..%lld", min, max);
	fprintf(stderr, "zonegate-supervisor: %s: expected %s, got '%s'\n",
		name, range, v);
	return -1;
}

/* Reads the question from path: at most SUP_MAX_QUESTION bytes, no NUL,
 * trailing newlines removed, not empty. 0 or -1 after reporting. */
static int read_question(struct sup_opts *o, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *b = malloc(SUP_MAX_QUESTION + 2);
	size_t len = 0;
	ssize_t n = 1;

	if (fd < 0 || !b) {
		free(b);
		if (fd >= 0)
			close(fd);
		return bad("--question-file: %s: %s", path, strerror(errno));
	}
	while (n > 0 && len <= SUP_MAX_QUESTION) {
		n = read(fd, b + len, SUP_MAX_QUESTION + 1 - len);
		if (n < 0 && errno == EINTR)
			n = 1;
		else if (n > 0)
			len += (size_t)n;
	}
	close(fd);
	b[len] = '\0';
	while (len && (b[len - 1] == '\n' || b[len - 1] == '\r'))
		b[--len] = '\0';
	free(o->question_buf);
	o->question_buf = b;
	o->question = b;
	if (n < 0)
		return bad("--question-file: %s: %s", path, strerror(errno));
	if (len > SUP_MAX_QUESTION)
		return bad("--question-file: %s: over %u KiB", path,
			   SUP_MAX_QUESTION / 1024);
	if (!len || strlen(b) != len)
		return bad("--question-file: %s: %s", path,
			   len ? "holds a NUL byte" : "empty");
	return 0;
}

/* A zone name, or ZONE.SERVER: an agent hosted by the tool zone's mcpd
 * (--servers) as server SERVER, whose tool is ZONE.SERVER.ask. */
static int agent_name_ok(const char *v)
{
	const char *dot = strchr(v, '.');
	char zone[64];

	if (!dot)
		return ag_zone_name_ok(v);
	if ((size_t)(dot - v) >= sizeof(zone))
		return -1;
	memcpy(zone, v, (size_t)(dot - v));
	zone[dot - v] = 0;
	return ag_zone_name_ok(zone) || ag_zone_name_ok(dot + 1) ? -1 : 0;
}

/* --agent ROLE=ZONE or ROLE=ZONE.SERVER. */
static int opt_agent(struct sup_opts *o, const char *v)
{
	const char *eq = strchr(v, '=');
	size_t n = eq ? (size_t)(eq - v) : 0;

	if (!eq)
		return bad("--agent: expected ROLE=ZONE, got '%s'", v);
	for (int i = 0; i < SUP_NROLES; i++) {
		if (strlen(roles[i]) != n || strncmp(v, roles[i], n) != 0)
			continue;
		if (agent_name_ok(eq + 1))
			return bad("--agent: '%s' is not a zone name (or "
				   "ZONE.SERVER)",
				   eq + 1);
		o->zone[i] = eq + 1;
		return 0;
	}
	return bad("--agent: '%.*s' is not a role (cve-question, cve, "
		   "blog-question, rag, report)",
		   (int)n, v);
}

static int opt_direct(struct sup_opts *o, const char *v)
{
	char err[256];

	if (o->cfg.ndirect == AG_MAX_DIRECT)
		return bad("at most %d --direct", AG_MAX_DIRECT);
	if (ag_direct_parse(v, o->direct, o->cfg.ndirect,
			    &o->direct[o->cfg.ndirect], err, sizeof(err)))
		return bad("--direct: %s", err);
	o->cfg.ndirect++;
	return 0;
}

static int opt_one(struct sup_opts *o, int c, const char *v,
		   const char **qfile)
{
	switch (c) {
	case O_QUESTION:
		o->question = v;
		return 0;
	case O_QFILE:
		*qfile = v;
		return 0;
	case O_AGENT:
		return opt_agent(o, v);
	case O_CLOCK:
		o->clock_zone = v;
		return ag_zone_name_ok(v)
			       ? bad("--clock-zone: '%s' is not a zone name",
				     v)
			       : 0;
	case O_DIRECT:
		return opt_direct(o, v);
	case O_CHAN:
		o->cfg.chan = v;
		return 0;
	case O_RELAY:
		o->cfg.relay = v;
		return 0;
	case O_DEADLINE:
		return num("--deadline-ms", v, 100, 3600000,
			   &o->cfg.deadline_ms);
	case O_CONNECT:
		return num("--connect-timeout", v, 0, 600000,
			   &o->cfg.connect_ms);
	case O_RUNS:
		return num("--runs", v, 1, SUP_MAX_RUNS, &o->runs);
	case O_JSON:
		o->json = 1;
		return 0;
	case O_OUT:
		o->out = v;
		return 0;
	}
	return -1;
}

/* 0 run, 1 exit 0 (help, version), -1 exit 2. */
static int parse_args(int argc, char **argv, struct sup_opts *o)
{
	static const struct option lo[] = {
		{ "question", required_argument, NULL, O_QUESTION },
		{ "question-file", required_argument, NULL, O_QFILE },
		{ "agent", required_argument, NULL, O_AGENT },
		{ "clock-zone", required_argument, NULL, O_CLOCK },
		{ "direct", required_argument, NULL, O_DIRECT },
		{ "chan", required_argument, NULL, O_CHAN },
		{ "relay", required_argument, NULL, O_RELAY },
		{ "deadline-ms", required_argument, NULL, O_DEADLINE },
		{ "connect-timeout", required_argument, NULL, O_CONNECT },
		{ "runs", required_argument, NULL, O_RUNS },
		{ "json", no_argument, NULL, O_JSON },
		{ "out", required_argument, NULL, O_OUT },
		{ "version", no_argument, NULL, O_VERSION },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 }
	};
	const char *qfile = NULL;
	int c, nq = 0;

	o->cfg.role = "zonegate-supervisor";
	o->cfg.relay = "zonegate-relay";
	o->cfg.deadline_ms = 120000;
	o->cfg.connect_ms = 5000;
	o->cfg.direct = o->direct;
	o->clock_zone = "tools";
	o->question = default_question;
	o->runs = 1;
	for (int i = 0; i < SUP_NROLES; i++)
		o->zone[i] = roles[i];
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c == O_HELP) {
			usage(stdout);
			return 1;
		}
		if (c == O_VERSION) {
			printf("zonegate-supervisor %s\n", ZG_VERSION);
			return 1;
		}
		nq += c == O_QUESTION || c == O_QFILE;
		if (c == '?' || opt_one(o, c, optarg, &qfile)) {
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc)
		return bad("unexpected argument '%s'", argv[optind]);
	if (nq > 1)
		return bad("give one --question or --question-file");
	if (qfile)
		return read_question(o, qfile);
	if (!*o->question || strlen(o->question) > SUP_MAX_QUESTION)
		return bad("--question: must be 1 byte to %u KiB",
			   SUP_MAX_QUESTION / 1024);
	return 0;
}

/* ---- main -------------------------------------------------------------- */

/* Runs the plan o->runs times; the last run stays in *last. 0, or 3. */
static int run_all(const struct sup_opts *o, struct ag_client **cl,
		   struct run *last, json_t *runs)
{
	for (long i = 0; i < o->runs; i++) {
		run_clear(last);
		last->cl = cl;
		last->o = o;
		last->agents = json_object();
		last->errors = json_array();
		if (!last->agents || !last->errors)
			return 3;
		if (run_plan(last))
			return 3;
		json_array_append_new(
			runs, json_pack("{s:f, s:f, s:O}", "total_ms",
					last->total_ms, "clock_ms",
					last->clock_ms, "agents",
					last->agents));
	}
	return 0;
}

/* Prints (and with --out writes) the outcome of the last run. 0, or -1
 * when it could not be written. */
static int emit(const struct sup_opts *o, const struct run *r, json_t *runs)
{
	json_t *obj = result_json(r, runs);
	char *s = obj ? json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL, err[256];
	int rc = 0;

	json_decref(obj);
	if (!s) {
		fprintf(stderr, "zonegate-supervisor: out of memory\n");
		return -1;
	}
	if (o->json)
		printf("%s\n", s);
	else
		print_text(r, runs);
	if (o->out) {
		size_t n = strlen(s);
		s[n] = '\n'; /* replaces the NUL: written by length */
		if (ag_write_file(o->out, s, n + 1, err, sizeof(err))) {
			fprintf(stderr, "zonegate-supervisor: --out: %s\n",
				err);
			rc = -1;
		}
	}
	free(s);
	return rc;
}

int main(int argc, char **argv)
{
	struct sup_opts o;
	struct ag_client *cl = NULL;
	struct run last;
	json_t *runs = json_array();
	int rc;

	memset(&o, 0, sizeof(o));
	memset(&last, 0, sizeof(last));
	switch (parse_args(argc, argv, &o)) {
	case 1:
		rc = 0;
		goto out;
	case -1:
		rc = 2;
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	rc = runs ? run_all(&o, &cl, &last, runs) : 3;
	if (rc == 3) {
		fprintf(stderr, "zonegate-supervisor: %s\n",
			last.fatal[0] ? last.fatal : "out of memory");
		goto out;
	}
	if (emit(&o, &last, runs))
		rc = 1;
	else
		rc = json_array_size(last.errors) ? 1 : 0;
out:
	ag_client_close(cl);
	run_clear(&last);
	json_decref(runs);
	free(o.question_buf);
	return rc;
}
