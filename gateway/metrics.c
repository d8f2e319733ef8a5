/* Metrics: per (zone, tool) counters and latency histograms, kept under
 * one mutex because the Prometheus endpoint reads them from
 * libmicrohttpd's thread. Histograms are log-linear (4 sub-buckets per
 * power of two of microseconds) so p50/p99 are within about 19%; the
 * Prometheus exposition folds them into power-of-two buckets. Label
 * values are the routing core's choice of bounded names; the series
 * count is capped here as well (MET_MAX_SERIES, then one overflow series
 * per zone). Model token usage is summed per (zone, tool) for the stats
 * and per (agent zone, tool zone) for the exposition, whose labels are
 * then only configured zone names. */
#include "gw.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NB 160
#define MET_BUCKETS 256
#define MET_MAX_SERIES \
	4096 /* beyond this, a zone's new series fold into
			      * its (other) series */
#define MET_OVERFLOW "(other)"

struct series {
	char *zone, *tool;
	char *zl, *tl; /* the label values, escaped for the exposition */
	uint64_t calls, denials, errors;
	uint64_t sum_us;
	uint64_t h[NB];
	uint64_t tok[3], tok_rejected; /* prompt, completion, total */
	int has_tok;
	struct series *next;
};

/* Token sums of one (agent zone, tool zone) pair: at most MET_MAX_TOKSER
 * pairs (zones are configured; a pair beyond that is not counted). */
#define MET_MAX_TOKSER 1024
struct tokser {
	char *zl, *tzl; /* zone and tool zone, escaped for the exposition */
	char *zone, *tz;
	uint64_t tok[3], calls, rejected;
	struct tokser *next;
};

struct gw_metrics {
	pthread_mutex_t lock;
	struct series *b[MET_BUCKETS];
	size_t n;
	struct tokser *tks;
	size_t ntks;
};

static unsigned bucket_of(int64_t us)
{
	unsigned msb, sub;

	if (us < 4)
		return us < 0 ? 0 : (unsigned)us;
	msb = 63u - (unsigned)__builtin_clzll((unsigned long long)us);
	sub = (unsigned)((unsigned long long)us >> (msb - 2)) & 3u;
	return msb * 4 + sub < NB ? msb * 4 + sub : NB - 1;
}

/* The upper bound (exclusive) of bucket i, in microseconds. */
static double bucket_hi(unsigned i)
{
	unsigned msb = i / 4, sub = i % 4;

	if (i < 4)
		return i + 1;
	return (double)(1ull << msb) * (1.0 + (sub + 1) / 4.0);
}

struct gw_metrics *gw_metrics_new(void)
{
	struct gw_metrics *m = calloc(1, sizeof(*m));

	if (m)
		pthread_mutex_init(&m->lock, NULL);
	return m;
}

void gw_metrics_free(struct gw_metrics *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < MET_BUCKETS; i++) {
		struct series *s = m->b[i], *nx;
		for (; s; s = nx) {
			nx = s->next;
			free(s->zone);
			free(s->tool);
			free(s->zl);
			free(s->tl);
			free(s);
		}
	}
	for (struct tokser *t = m->tks, *nx; t; t = nx) {
		nx = t->next;
		free(t->zone);
		free(t->tz);
		free(t->zl);
		free(t->tzl);
		free(t);
	}
	pthread_mutex_destroy(&m->lock);
	free(m);
}

/* A label value escaped as the exposition format asks (backslash, quote,
 * newline), whole: never cut, and bytes that are not well-formed UTF-8
 * become U+FFFD, so the scrape stays valid UTF-8. Caller frees; NULL if
 * out of memory. */
static char *label_esc(const char *s)
{
	size_t n = strlen(s), k = 0, c;
	char *o = malloc(n * 3 + 1); /* U+FFFD is 3 bytes for 1 */

	if (!o)
		return NULL;
	for (size_t i = 0; i < n; i += c) {
		c = gw_utf8_char(s + i, n - i);
		if (!c) {
			memcpy(o + k, "\xef\xbf\xbd", 3);
			k += 3;
			c = 1;
		} else if (s[i] == '"' || s[i] == '\\') {
			o[k++] = '\\';
			o[k++] = s[i];
		} else if (s[i] == '\n') {
			o[k++] = '\\';
			o[k++] = 'n';
		} else {
			memcpy(o + k, s + i, c);
			k += c;
		}
	}
	o[k] = '\0';
	return o;
}

static struct series *get(struct gw_metrics *m, const char *zone,
			  const char *tool)
{
	uint64_t h = 1469598103934665603ull;
	struct series *s;
	size_t b;

	for (const char *p = zone; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	h = (h ^ 0xff) * 1099511628211ull;
	for (const char *p = tool; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	b = h % MET_BUCKETS;
	for (s = m->b[b]; s; s = s->next)
		if (strcmp(s->zone, zone) == 0 && strcmp(s->tool, tool) == 0)
			return s;
	if (m->n >= MET_MAX_SERIES && strcmp(tool, MET_OVERFLOW) != 0)
		return get(m, zone, MET_OVERFLOW);
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->zone = strdup(zone);
	s->tool = strdup(tool);
	s->zl = label_esc(zone);
	s->tl = label_esc(tool);
	if (!s->zone || !s->tool || !s->zl || !s->tl) {
		free(s->zone);
		free(s->tool);
		free(s->zl);
		free(s->tl);
		free(s);
		return NULL;
	}
	s->next = m->b[b];
	m->b[b] = s;
	m->n++;
	return s;
}

void gw_metrics_record(struct gw_metrics *m, const char *zone, const char *tool,
		       int outcome, int64_t us)
{
	struct series *s;

	pthread_mutex_lock(&m->lock);
	s = get(m, zone, tool);
	if (s) {
		s->calls++;
		if (outcome == 1) {
			s->denials++;
		} else {
			if (outcome == 2)
				s->errors++;
			s->h[bucket_of(us)]++;
			s->sum_us += (uint64_t)(us > 0 ? us : 0);
		}
	}
	pthread_mutex_unlock(&m->lock);
}

/* The token sums of (zone, tool_zone), made on first use; NULL past
 * MET_MAX_TOKSER pairs or out of memory. Called with the lock held. */
static struct tokser *get_tok(struct gw_metrics *m, const char *zone,
			      const char *tool_zone)
{
	struct tokser *t;

	for (t = m->tks; t; t = t->next)
		if (strcmp(t->zone, zone) == 0 && strcmp(t->tz, tool_zone) == 0)
			return t;
	if (m->ntks >= MET_MAX_TOKSER)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->zone = strdup(zone);
	t->tz = strdup(tool_zone);
	t->zl = label_esc(zone);
	t->tzl = label_esc(tool_zone);
	if (!t->zone || !t->tz || !t->zl || !t->tzl) {
		free(t->zone);
		free(t->tz);
		free(t->zl);
		free(t->tzl);
		free(t);
		return NULL;
	}
	t->next = m->tks;
	m->tks = t;
	m->ntks++;
	return t;
}

void gw_metrics_tokens(struct gw_metrics *m, const char *zone, const char *tool,
		       const char *tool_zone, const struct gw_tokens *tk)
{
	const uint64_t v[3] = { tk ? tk->prompt : 0, tk ? tk->completion : 0,
				tk ? tk->total : 0 };
	struct series *s;
	struct tokser *t;

	pthread_mutex_lock(&m->lock);
	s = get(m, zone, tool);
	t = get_tok(m, zone, tool_zone);
	if (s) {
		s->has_tok = 1;
		s->tok_rejected += !tk;
	}
	if (t) {
		t->calls += !!tk;
		t->rejected += !tk;
	}
	for (int k = 0; tk && k < 3; k++) {
		/* v[k] <= GW_TOKENS_MAX_PER_CALL (the caller's clamp): no
		 * counter can wrap in 2^44 calls. */
		if (s)
			s->tok[k] += v[k];
		if (t)
			t->tok[k] += v[k];
	}
	pthread_mutex_unlock(&m->lock);
}

static double pct(const struct series *s, double q)
{
	uint64_t n = 0, want, c = 0;

	for (unsigned i = 0; i < NB; i++)
		n += s->h[i];
	if (!n)
		return 0;
	want = (uint64_t)(q * (double)n + 0.999999);
	if (want < 1)
		want = 1;
	for (unsigned i = 0; i < NB; i++) {
		c += s->h[i];
		if (c >= want)
			return bucket_hi(i);
	}
	return bucket_hi(NB - 1);
}

json_t *gw_metrics_json(struct gw_metrics *m)
{
	json_t *a = json_array();

	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; a && i < MET_BUCKETS; i++) {
		for (struct series *s = m->b[i]; s; s = s->next) {
			json_t *r = json_pack("{s:s,s:s,s:I,s:I,s:I,s:f,s:f}",
					      "zone", s->zone, "tool", s->tool,
					      "calls", (json_int_t)s->calls,
					      "denials", (json_int_t)s->denials,
					      "errors", (json_int_t)s->errors,
					      "p50_us", pct(s, 0.5), "p99_us",
					      pct(s, 0.99));
			if (r && s->has_tok)
				json_object_set_new(
					r, "tokens",
					json_pack("{s:I,s:I,s:I,s:I}", "prompt",
						  (json_int_t)s->tok[0],
						  "completion",
						  (json_int_t)s->tok[1],
						  "total",
						  (json_int_t)s->tok[2],
						  "rejected",
						  (json_int_t)s->tok_rejected));
			json_array_append_new(a, r);
		}
	}
	pthread_mutex_unlock(&m->lock);
	return a;
}

struct sbuf {
	char *p;
	size_t len, cap;
	int oom;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#include <stdarg.h>
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	if (!b->p) {
		b->p = malloc(4096);
		b->cap = b->p ? 4096 : 0;
		if (!b->p) {
			b->oom = 1;
			return;
		}
	}
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = 1;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t nc = (b->cap + (size_t)n + 1) * 2;
		char *np = realloc(b->p, nc);
		if (!np) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = nc;
	}
}

/* The counter families, in exposition order. */
static const struct {
	const char *name, *help;
} counters[] = {
	{ "zonegate_calls_total",
	  "Decisions and calls per calling zone and target." },
	{ "zonegate_denials_total", "Denied requests." },
	{ "zonegate_errors_total", "Allowed calls that failed." },
};

static uint64_t counter(const struct series *s, size_t f)
{
	return f == 0 ? s->calls : f == 1 ? s->denials : s->errors;
}

static void expose_histogram(struct sbuf *b, const struct series *s)
{
	uint64_t c = 0;
	unsigned i = 0;

	for (unsigned p = 4; p <= 26; p++) {
		for (; i < NB && bucket_hi(i) <= (double)(1ull << p); i++)
			c += s->h[i];
		sb_printf(b,
			  "zonegate_call_duration_seconds_bucket{zone=\"%s\","
			  "tool=\"%s\",le=\"%g\"} %llu\n",
			  s->zl, s->tl, (double)(1ull << p) / 1e6,
			  (unsigned long long)c);
	}
	for (; i < NB; i++)
		c += s->h[i];
	sb_printf(b,
		  "zonegate_call_duration_seconds_bucket{zone=\"%s\","
		  "tool=\"%s\",le=\"+Inf\"} %llu\n",
		  s->zl, s->tl, (unsigned long long)c);
	sb_printf(b,
		  "zonegate_call_duration_seconds_sum{zone=\"%s\","
		  "tool=\"%s\"} %g\n",
		  s->zl, s->tl, (double)s->sum_us / 1e6);
	sb_printf(b,
		  "zonegate_call_duration_seconds_count{zone=\"%s\","
		  "tool=\"%s\"} %llu\n",
		  s->zl, s->tl, (unsigned long long)c);
}

/* The token families, per (agent zone, tool zone). */
static void expose_tokens(struct sbuf *b, const struct gw_metrics *m)
{
	static const char *const kind[3] = { "prompt", "completion", "total" };

	sb_printf(b,
		  "# HELP zonegate_tool_tokens_total Model tokens that tool "
		  "results reported (structuredContent.usage), per calling "
		  "zone and tool zone; at most %d per call and kind.\n"
		  "# TYPE zonegate_tool_tokens_total counter\n",
		  GW_TOKENS_MAX_PER_CALL);
	for (const struct tokser *t = m->tks; t; t = t->next)
		for (int k = 0; k < 3; k++)
			sb_printf(b,
				  "zonegate_tool_tokens_total{zone=\"%s\","
				  "tool_zone=\"%s\",kind=\"%s\"} %llu\n",
				  t->zl, t->tzl, kind[k],
				  (unsigned long long)t->tok[k]);
	sb_printf(b, "# HELP zonegate_tool_token_calls_total Calls whose "
		     "result reported a valid token usage.\n"
		     "# TYPE zonegate_tool_token_calls_total counter\n");
	for (const struct tokser *t = m->tks; t; t = t->next)
		sb_printf(b,
			  "zonegate_tool_token_calls_total{zone=\"%s\","
			  "tool_zone=\"%s\"} %llu\n",
			  t->zl, t->tzl, (unsigned long long)t->calls);
	sb_printf(b, "# HELP zonegate_tool_tokens_rejected_total Calls whose "
		     "result carried a usage that was not counted (a count "
		     "negative, not an integer, or missing).\n"
		     "# TYPE zonegate_tool_tokens_rejected_total counter\n");
	for (const struct tokser *t = m->tks; t; t = t->next)
		sb_printf(b,
			  "zonegate_tool_tokens_rejected_total{zone=\"%s\","
			  "tool_zone=\"%s\"} %llu\n",
			  t->zl, t->tzl, (unsigned long long)t->rejected);
}

/* Each family whole, after its HELP and TYPE lines (the text format
 * does not allow a family's samples to be interleaved with another's). */
char *gw_metrics_prometheus(struct gw_metrics *m, const char *extra)
{
	struct sbuf b = { 0 };

	pthread_mutex_lock(&m->lock);
	for (size_t f = 0; f < sizeof(counters) / sizeof(counters[0]); f++) {
		sb_printf(&b, "# HELP %s %s\n# TYPE %s counter\n",
			  counters[f].name, counters[f].help, counters[f].name);
		for (size_t i = 0; i < MET_BUCKETS; i++)
			for (struct series *s = m->b[i]; s; s = s->next)
				sb_printf(&b,
					  "%s{zone=\"%s\",tool=\"%s\"} %llu\n",
					  counters[f].name, s->zl, s->tl,
					  (unsigned long long)counter(s, f));
	}
	sb_printf(&b, "# HELP zonegate_call_duration_seconds Gateway-observed "
		      "call latency.\n"
		      "# TYPE zonegate_call_duration_seconds histogram\n");
	for (size_t i = 0; i < MET_BUCKETS; i++)
		for (struct series *s = m->b[i]; s; s = s->next)
			expose_histogram(&b, s);
	expose_tokens(&b, m);
	sb_printf(&b,
		  "# HELP zonegate_metric_series Series held (at most %d, "
		  "then each zone's new targets count as (other)).\n"
		  "# TYPE zonegate_metric_series gauge\n"
		  "zonegate_metric_series %zu\n",
		  MET_MAX_SERIES, m->n);
	pthread_mutex_unlock(&m->lock);
	if (extra)
		sb_printf(&b, "%s", extra);
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p;
}
