/* gw_load: closed-loop MCP load over a zonegate channel, as an agent zone
 * sees it. Opens one channel client, S streams (one MCP session each),
 * initializes them, then keeps one tools/call in flight per session for a
 * fixed time. Every response is checked: it must carry the id the session
 * is waiting for (else it is counted as misrouted or duplicated), and with
 * --verify the tool (test_structured_output) must return a + b for the
 * a, b this session sent, so a response routed to the wrong session or
 * zone cannot pass. Prints one line of key=value results. With --flood
 * it is a flooding zone instead: it keeps up to 1 MiB of calls queued on
 * its channel at all times (many per session, not waiting for answers),
 * reads and counts the answers (requests= then counts answers, errors=
 * those that are errors, as denied calls are) and measures no latency.
 * --args JSON sets the arguments object of each call (default {}).
 * --ready SECONDS first waits (at most that long) until every session has
 * had a call answered, so that the warm-up and the measurement start with
 * every session's upstream ready (a hosted server's child started); it
 * prints how long that took as ready_ms (-1: not every session was).
 * With --flood, --probe ADDR opens a second channel (another zone) with
 * one session that sends one call at a time (--probe-tool, with
 * --probe-args; or with --probe-ping, a ping, which gatewayd answers
 * itself) and counts the flood's answers that arrive while each is in
 * flight: the fairness test's measure of how far gatewayd lets one zone's
 * flood run ahead of another zone's request (probe_calls=, and of those
 * counts probe_mean=, probe_p50=, probe_p90=, probe_max=).
 * Used by the gateway load test and by bench/gateway/run.sh, against
 * gatewayd (an agent zone's channel) or mcpd --chan directly. */
#include <errno.h>
#include <limits.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zonegate/chan.h>
#include <zonegate/chan_mux.h>

#include "zg_common.h"

#define MAX_SESS 1024
#define LAT_MAX (1u << 22)

struct sess {
	uint32_t sid;
	int state;    /* 0 initializing, 1 running, 2 done */
	int answered; /* a call of this session has been answered */
	long next_id, want_id, b;
	int64_t sent_us;
};

struct load {
	chan_mux *m;
	struct sess s[MAX_SESS];
	int n;
	const char *tool;
	const char *args; /* the arguments object of each call, as JSON */
	int verify, flood;
	int rr; /* flood: the session to send on next */
	long tag;
	int measuring, stopping;
	int readying; /* run_for returns once every session has an answer */
	uint64_t ok, errors, mismatched, calls_sent;
	uint32_t *lat;
	size_t nlat;
	int down;
	uint64_t answers; /* flood: every answer, measuring or not */
	struct probe *probe;
};

/* --probe: one session on another channel, one call at a time; counts[k]
 * is how many flood answers arrived while its k-th call was in flight. */
struct probe {
	struct load *l;
	chan_mux *m;
	uint32_t sid;
	int state;     /* 0 initializing, 1 running */
	long id;       /* of the call in flight, 0 none */
	uint64_t mark; /* l->answers when it was sent */
	const char *tool, *args;
	int ping; /* --probe-ping: pings instead of calls */
	int due;  /* answered: the next goes out once the flood's are read */
	uint32_t *counts;
	size_t n;
};

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static struct sess *by_sid(struct load *l, uint32_t sid)
{
	for (int i = 0; i < l->n; i++)
		if (l->s[i].sid == sid)
			return &l->s[i];
	return NULL;
}

static void send_call(struct load *l, struct sess *s)
{
	char buf[512];
	int n;

	s->want_id = ++s->next_id;
	s->b = s->next_id;
	if (l->verify)
		n = snprintf(buf, sizeof(buf),
			     "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":"
			     "\"tools/call\",\"params\":{\"name\":\"%s\","
			     "\"arguments\":{\"a\":%ld,\"b\":%ld}}}",
			     s->want_id, l->tool,
			     l->tag * 10000 + (long)(s - l->s), s->b);
	else
		n = snprintf(buf, sizeof(buf),
			     "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":"
			     "\"tools/call\",\"params\":{\"name\":\"%s\","
			     "\"arguments\":%s}}",
			     s->want_id, l->tool, l->args);
	s->sent_us = now_us();
	if (chan_mux_send(l->m, s->sid, buf, (size_t)n) != 0)
		l->errors++;
	l->calls_sent++;
}

static void on_data(void *ud, chan_mux *m, uint32_t sid, const uint8_t *p,
		    size_t len)
{
	struct load *l = ud;
	struct sess *s = by_sid(l, sid);
	json_t *j = json_loadb((const char *)p, len, 0, NULL), *id, *res;
	int64_t t = now_us();

	if (!s || !j)
		goto out;
	id = json_object_get(j, "id");
	if (!id || json_object_get(j, "method"))
		goto out; /* a notification or a request from the server */
	if (l->flood && s->state == 1) {
		l->answers++;
		if (!l->measuring || l->nlat >= LAT_MAX)
			goto out;
		res = json_object_get(j, "result");
		if (!res || json_is_true(json_object_get(res, "isError")))
			l->errors++;
		else
			l->ok++;
		l->lat[l->nlat++] = 0; /* counted, not timed */
		goto out;
	}
	if (s->state == 0) {
		static const char init_done[] =
			"{\"jsonrpc\":\"2.0\",\"method\":"
			"\"notifications/initialized\"}";
		chan_mux_send(m, sid, init_done, sizeof(init_done) - 1);
		s->state = 1;
		if (!l->stopping && !l->flood)
			send_call(l, s);
		goto out;
	}
	if (!json_is_integer(id) || json_integer_value(id) != s->want_id) {
		l->mismatched++;
		goto out;
	}
	s->want_id = 0;
	s->answered = 1;
	res = json_object_get(j, "result");
	if (!res || json_is_true(json_object_get(res, "isError"))) {
		l->errors++;
	} else if (l->verify) {
		double sum = json_number_value(json_object_get(
			json_object_get(res, "structuredContent"), "sum"));
		if (sum != (double)(l->tag * 10000 + (long)(s - l->s) + s->b))
			l->mismatched++;
		else
			l->ok++;
	} else {
		l->ok++;
	}
	if (l->measuring && l->nlat < LAT_MAX)
		l->lat[l->nlat++] = (uint32_t)(t - s->sent_us);
	if (l->stopping)
		s->state = 2;
	else
		send_call(l, s);
out:
	json_decref(j);
}

static void on_down(void *ud, chan_mux *m, const char *why)
{
	struct load *l = ud;

	fprintf(stderr, "gw_load: channel down: %s\n", why);
	l->down = 1;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Sends the probe's next request and notes the flood's count then. */
static void probe_send(struct probe *p)
{
	char buf[512];
	int n = p->ping ? snprintf(buf, sizeof(buf),
				   "{\"jsonrpc\":\"2.0\",\"id\":%ld,"
				   "\"method\":\"ping\"}",
				   ++p->id)
			: snprintf(buf, sizeof(buf),
				   "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":"
				   "\"tools/call\",\"params\":{\"name\":\"%s\","
				   "\"arguments\":%s}}",
				   ++p->id, p->tool, p->args);

	p->mark = p->l->answers;
	if (chan_mux_send(p->m, p->sid, buf, (size_t)n) != 0)
		p->l->errors++;
}

/* The probe's answers: counted while measuring, then the next call. */
static void probe_data(void *ud, chan_mux *m, uint32_t sid, const uint8_t *b,
		       size_t len)
{
	static const char init_done[] = "{\"jsonrpc\":\"2.0\",\"method\":"
					"\"notifications/initialized\"}";
	struct probe *p = ud;
	json_t *j = json_loadb((const char *)b, len, 0, NULL), *res;

	if (sid != p->sid || !j || !json_object_get(j, "id") ||
	    json_object_get(j, "method"))
		goto out;
	if (p->state == 0) {
		chan_mux_send(m, sid, init_done, sizeof(init_done) - 1);
		p->state = 1;
		probe_send(p);
		goto out;
	}
	res = json_object_get(j, "result");
	if (!res || json_is_true(json_object_get(res, "isError")))
		p->l->errors++; /* a probe's request must succeed */
	else if (p->l->measuring && p->n < LAT_MAX)
		p->counts[p->n++] = (uint32_t)(p->l->answers - p->mark);
	p->due = !p->l->stopping;
out:
	json_decref(j);
}

/* Flood: tops the channel's queue up to 1 MiB of calls, round-robin over
 * the sessions that are initialized. */
static void flood_top_up(struct load *l)
{
	char buf[512];
	int n, tries = 0;

	while (!l->stopping && chan_mux_backlog(l->m) < (1u << 20) &&
	       tries < l->n) {
		struct sess *s = &l->s[l->rr];
		l->rr = (l->rr + 1) % l->n;
		if (s->state != 1) {
			tries++;
			continue;
		}
		tries = 0;
		n = snprintf(buf, sizeof(buf),
			     "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":"
			     "\"tools/call\",\"params\":{\"name\":\"%s\","
			     "\"arguments\":%s}}",
			     ++s->next_id, l->tool, l->args);
		if (chan_mux_send(l->m, s->sid, buf, (size_t)n) != 0)
			break;
		l->calls_sent++;
	}
}

/* The probe's channel is processed first, so that its answer is seen
 * before the flood's answers that came after it. */
static void run_for(struct load *l, int64_t until)
{
	struct pollfd p[2];
	chan_mux *pm = l->probe ? l->probe->m : NULL;

	while (!l->down && now_us() < until) {
		if (l->flood)
			flood_top_up(l);
		int to = chan_mux_timeout_ms(l->m);
		int pt = pm ? chan_mux_timeout_ms(pm) : -1;
		p[0].fd = chan_mux_fd(l->m);
		p[0].events = chan_mux_events(l->m);
		if (pm) {
			p[1].fd = chan_mux_fd(pm);
			p[1].events = chan_mux_events(pm);
			if (pt >= 0 && (to < 0 || pt < to))
				to = pt;
		}
		if (to < 0 || to > 10)
			to = 10;
		if (poll(p, pm ? 2 : 1, to) < 0 && errno != EINTR)
			break;
		if (pm && chan_mux_process(pm) < 0)
			l->down = 1;
		if (chan_mux_process(l->m) < 0)
			l->down = 1;
		/* the next probe once the flood's answers already here are
		 * read: they came before it, and do not count */
		if (pm && l->probe->due && chan_mux_timeout_ms(l->m) != 0) {
			l->probe->due = 0;
			probe_send(l->probe);
		}
		if (l->stopping && l->flood)
			return;
		if (l->readying) {
			int all = 1;
			for (int i = 0; i < l->n; i++)
				all &= l->s[i].answered;
			if (all)
				return;
		}
		if (l->stopping) {
			int busy = 0;
			for (int i = 0; i < l->n; i++)
				busy |= l->s[i].want_id != 0;
			if (!busy)
				return;
		}
	}
}

static void probe_down(void *ud, chan_mux *m, const char *why)
{
	struct probe *p = ud;

	on_down(p->l, m, why);
}

/* Opens the probe's channel at addr and its session's initialize (the
 * first call goes out when it is answered). Returns 0, or -1 with a
 * message printed. */
static int probe_open(struct probe *p, const char *addr)
{
	static const struct chan_mux_ops ops = { NULL, NULL, probe_data, NULL,
						 probe_down };
	static const char init[] =
		"{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\","
		"\"params\":{\"protocolVersion\":\"2025-06-18\","
		"\"capabilities\":{},\"clientInfo\":{\"name\":\"gw_load\","
		"\"version\":\"1\"}}}";
	struct chan_opts co = { 0, 10000 };
	char err[256] = "out of memory";
	chan *c = chan_open(addr, CHAN_CLIENT, &co, err, sizeof(err));

	p->counts = malloc(LAT_MAX * sizeof(*p->counts));
	if (c)
		p->m = chan_mux_new(c, NULL, &ops, p, err, sizeof(err));
	p->sid = p->m ? chan_mux_open_stream(p->m) : 0;
	if (!p->sid || !p->counts) {
		fprintf(stderr, "gw_load: probe %s: %s\n", addr, err);
		return -1;
	}
	chan_mux_send(p->m, p->sid, init, sizeof(init) - 1);
	return 0;
}

static void probe_report(struct probe *p)
{
	double sum = 0;

	for (size_t i = 0; i < p->n; i++)
		sum += p->counts[i];
	qsort(p->counts, p->n, sizeof(*p->counts), cmp_u32);
	printf(" probe_calls=%zu probe_mean=%.2f probe_p50=%u probe_p90=%u "
	       "probe_max=%u",
	       p->n, p->n ? sum / (double)p->n : 0.0,
	       p->n ? p->counts[p->n / 2] : 0,
	       p->n ? p->counts[(size_t)((double)p->n * 0.9)] : 0,
	       p->n ? p->counts[p->n - 1] : 0);
}

/* s as a count >= 0 (zg_parse_int); exits 2 on anything else. */
static long num(const char *s)
{
	long long v;

	if (zg_parse_int(s, 0, INT_MAX, &v) != 0) {
		fprintf(stderr, "gw_load: bad number '%s'\n", s);
		exit(2);
	}
	return (long)v;
}

int main(int argc, char **argv)
{
	static const struct chan_mux_ops ops = { NULL, NULL, on_data, NULL,
						 on_down };
	struct chan_opts co = { 0, 10000 };
	struct load l = {
		.n = 8, .tool = "test_simple_text", .args = "{}", .tag = 1
	};
	struct probe pr = { .l = &l, .tool = "test_simple_text", .args = "{}" };
	struct chan_mux_opts mo = { .turn_frames = 8 }; /* probe: fine steps */
	const char *addr = NULL, *paddr = NULL;
	double dur = 5, warm = 1, ready = 0;
	int64_t ready_us = -1;
	char err[256];
	chan *c;
	int64_t t0, t1;
	uint64_t lost = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--verify") == 0) {
			l.verify = 1;
			continue;
		}
		if (strcmp(a, "--flood") == 0) {
			l.flood = 1;
			continue;
		}
		if (strcmp(a, "--probe-ping") == 0) {
			pr.ping = 1;
			continue;
		}
		if (!v) {
			fprintf(stderr,
				"usage: gw_load --chan ADDR [-c SESSIONS] "
				"[-d SECONDS] [-w WARMUP] [--tool NAME] "
				"[--args JSON] [--ready SECONDS] "
				"[--verify | --flood [--probe ADDR "
				"[--probe-tool NAME] [--probe-args JSON] "
				"[--probe-ping]]] "
				"[--tag N]\n");
			return 2;
		}
		i++;
		if (strcmp(a, "--chan") == 0)
			addr = v;
		else if (strcmp(a, "-c") == 0)
			l.n = (int)num(v);
		else if (strcmp(a, "-d") == 0)
			dur = (double)num(v);
		else if (strcmp(a, "--ready") == 0)
			ready = (double)num(v);
		else if (strcmp(a, "-w") == 0)
			warm = (double)num(v);
		else if (strcmp(a, "--tool") == 0)
			l.tool = v;
		else if (strcmp(a, "--args") == 0)
			l.args = v;
		else if (strcmp(a, "--probe") == 0)
			paddr = v;
		else if (strcmp(a, "--probe-tool") == 0)
			pr.tool = v;
		else if (strcmp(a, "--probe-args") == 0)
			pr.args = v;
		else if (strcmp(a, "--tag") == 0)
			l.tag = num(v);
		else {
			fprintf(stderr, "gw_load: unknown option %s\n", a);
			return 2;
		}
	}
	if (!addr || l.n < 1 || l.n > MAX_SESS || strlen(l.tool) > 200 ||
	    strlen(l.args) > 200 || strlen(pr.tool) > 200 ||
	    strlen(pr.args) > 200 || (paddr && !l.flood)) {
		fprintf(stderr,
			"gw_load: --chan is required; 1..%d sessions; "
			"tools and arguments at most 200 bytes; "
			"--probe only with --flood\n",
			MAX_SESS);
		return 2;
	}
	l.lat = malloc(LAT_MAX * sizeof(*l.lat));
	c = chan_open(addr, CHAN_CLIENT, &co, err, sizeof(err));
	if (c)
		l.m = chan_mux_new(c, paddr ? &mo : NULL, &ops, &l, err,
				   sizeof(err));
	if (!l.m || !l.lat) {
		fprintf(stderr, "gw_load: %s\n", err);
		return 1;
	}
	for (int i = 0; i < l.n; i++) {
		char init[256];
		int k = snprintf(
			init, sizeof(init),
			"{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":"
			"\"initialize\",\"params\":{\"protocolVersion\":"
			"\"2025-06-18\",\"capabilities\":{},"
			"\"clientInfo\":{\"name\":\"gw_load\","
			"\"version\":\"1\"}}}");
		l.s[i].sid = chan_mux_open_stream(l.m);
		if (!l.s[i].sid) {
			fprintf(stderr, "gw_load: cannot open stream %d\n", i);
			return 1;
		}
		chan_mux_send(l.m, l.s[i].sid, init, (size_t)k);
	}
	if (paddr) {
		l.probe = &pr;
		if (probe_open(&pr, paddr) < 0)
			return 1;
	}
	if (ready > 0 && !l.flood) {
		int64_t r0 = now_us();
		int all = 1;

		l.readying = 1;
		run_for(&l, r0 + (int64_t)(ready * 1e6));
		l.readying = 0;
		for (int i = 0; i < l.n; i++)
			all &= l.s[i].answered;
		if (all)
			ready_us = now_us() - r0;
	}
	run_for(&l, now_us() + (int64_t)(warm * 1e6));
	l.ok = l.errors = 0;
	l.measuring = 1;
	t0 = now_us();
	run_for(&l, t0 + (int64_t)(dur * 1e6));
	t1 = now_us();
	l.measuring = 0;
	l.stopping = 1;
	run_for(&l, now_us() + 10000000);
	for (int i = 0; i < l.n && !l.flood; i++)
		lost += l.s[i].want_id != 0 || l.s[i].state == 0;
	qsort(l.lat, l.nlat, sizeof(*l.lat), cmp_u32);
	printf("sessions=%d requests=%llu errors=%llu mismatched=%llu lost=%llu "
	       "seconds=%.2f rps=%.0f p50_us=%u p99_us=%u",
	       l.n, (unsigned long long)l.nlat, (unsigned long long)l.errors,
	       (unsigned long long)l.mismatched, (unsigned long long)lost,
	       (double)(t1 - t0) / 1e6,
	       (double)l.nlat / ((double)(t1 - t0) / 1e6),
	       l.nlat ? l.lat[l.nlat / 2] : 0,
	       l.nlat ? l.lat[(size_t)((double)l.nlat * 0.99)] : 0);
	if (ready > 0)
		printf(" ready_ms=%.0f",
		       ready_us < 0 ? -1.0 : (double)ready_us / 1000.0);
	if (l.probe)
		probe_report(&pr);
	printf("\n");
	chan_mux_free(l.m);
	chan_mux_free(pr.m);
	free(pr.counts);
	free(l.lat);
	return l.down || l.mismatched || lost ? 1 : 0;
}
