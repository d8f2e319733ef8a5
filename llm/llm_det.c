/* The deterministic mode of llm_chat (no --llm-url): no model, only
 * templates and extraction from the text the call carries, so that CI and
 * the default demo get the same useful answer every time. The convention
 * (task names, source markers, windows, the token rule) is in docs/llm.md. */
#define _GNU_SOURCE /* memmem */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm_int.h"

#define MAX_TERMS 64
#define TERM_LEN 32
#define MAX_SENTENCES 16384
#define MAX_BLOCKS 256
#define PER_BLOCK 3	/* sentences an answer takes from one source */
#define MIN_WORDS 4	/* shorter sentences are not answers */
#define MAX_SENT_BYTES 2000 /* longer "sentences" are run-on text */

struct span {
	const char *p;
	size_t n;
};

struct terms {
	char t[MAX_TERMS][TERM_LEN];
	size_t n;
};

struct block {
	struct span name;
	char date[11]; /* YYYY-MM-DD or empty */
};

struct sent {
	struct span s;
	size_t block, pos;
	int score, rank;
};

/* Everything the answer task reads from the messages. */
struct doc {
	struct span query;
	struct block b[MAX_BLOCKS];
	size_t nb;
	struct sent *s; /* grows up to MAX_SENTENCES */
	size_t ns, cap;
	int oom, full;
};

static const char *const stopwords[] = {
	"about",   "also",    "and",	 "any",	    "are",     "been",
	"being",   "between", "but",	 "can",	    "could",   "describe",
	"did",	   "does",    "during",	 "each",    "explain", "for",
	"from",	   "give",    "had",	 "has",	    "have",    "how",
	"into",	   "its",     "just",	 "know",    "last",    "like",
	"may",	   "month",   "more",	 "most",    "not",     "only",
	"other",   "our",     "over",	 "past",    "please",  "previous",
	"recent",  "recently", "said",	 "say",	    "should",  "show",
	"since",   "some",    "such",	 "tell",    "than",    "that",
	"the",	   "their",   "them",	 "then",    "there",   "these",
	"they",	   "this",    "those",	 "through", "was",     "were",
	"what",	   "when",    "where",	 "which",   "while",   "who",
	"why",	   "will",    "with",	 "within",  "work",    "would",
	"year",	   "you",     "your",	 "involve", "do",      "is",
};

long long llm_word_count(const char *s, size_t n)
{
	long long w = 0;
	int in = 0;

	for (size_t i = 0; i < n; i++) {
		int sp = isspace((unsigned char)s[i]);
		if (!sp && !in)
			w++;
		in = !sp;
	}
	return w;
}

void llm_reply_free(struct llm_reply *r)
{
	free(r->text);
	r->text = NULL;
}

static int is_stop(const char *w)
{
	for (size_t i = 0; i < sizeof(stopwords) / sizeof(*stopwords); i++)
		if (!strcmp(w, stopwords[i]))
			return 1;
	return 0;
}

/* Lower case, then a light stemming so that plural and singular meet:
 * "-ies" becomes "-y", a final "s" (not "ss") goes. */
static void stem(char *w)
{
	size_t l = strlen(w);

	if (l > 4 && !strcmp(w + l - 3, "ies")) {
		w[l - 3] = 'y';
		w[l - 2] = '\0';
	} else if (l > 3 && w[l - 1] == 's' && w[l - 2] != 's') {
		w[l - 1] = '\0';
	}
}

/* The terms of s: runs of ASCII letters and digits, at least 3 long, not
 * all digits, not stop words, stemmed; each once. */
static void terms_of(const char *s, size_t n, struct terms *t)
{
	size_t i = 0;

	t->n = 0;
	while (i < n && t->n < MAX_TERMS) {
		char w[TERM_LEN];
		size_t l = 0, start;
		int alpha = 0, dup = 0;

		while (i < n && !isalnum((unsigned char)s[i]))
			i++;
		start = i;
		while (i < n && isalnum((unsigned char)s[i])) {
			if (l < TERM_LEN - 1)
				w[l++] = (char)tolower((unsigned char)s[i]);
			alpha |= isalpha((unsigned char)s[i]);
			i++;
		}
		w[l] = '\0';
		if (i - start < 3 || !alpha || is_stop(w))
			continue;
		stem(w);
		for (size_t k = 0; k < t->n && !dup; k++)
			dup = !strcmp(t->t[k], w);
		if (!dup)
			memcpy(t->t[t->n++], w, TERM_LEN);
	}
}

/* How many of q's terms occur in s. */
static int score_of(const struct terms *q, const char *s, size_t n)
{
	struct terms st;
	int score = 0;

	terms_of(s, n, &st);
	for (size_t i = 0; i < q->n; i++)
		for (size_t k = 0; k < st.n; k++)
			if (!strcmp(q->t[i], st.t[k])) {
				score++;
				break;
			}
	return score;
}

/* ---- small text helpers ---- */

static struct span trim(const char *p, size_t n)
{
	while (n && isspace((unsigned char)*p)) {
		p++;
		n--;
	}
	while (n && isspace((unsigned char)p[n - 1]))
		n--;
	return (struct span){ p, n };
}

/* If line starts with key (case-insensitive, e.g. "Source:"), the rest
 * of the line trimmed, else a span with p == NULL. */
static struct span field(struct span line, const char *key)
{
	size_t k = strlen(key);

	if (line.n < k || strncasecmp(line.p, key, k) != 0)
		return (struct span){ NULL, 0 };
	return trim(line.p + k, line.n - k);
}

/* Writes s with each whitespace run as one space. */
static void put_collapsed(FILE *f, struct span s)
{
	int sp = 0;

	s = trim(s.p, s.n);
	for (size_t i = 0; i < s.n; i++) {
		if (isspace((unsigned char)s.p[i])) {
			sp = 1;
			continue;
		}
		if (sp)
			fputc(' ', f);
		sp = 0;
		fputc(s.p[i], f);
	}
}

/* The first YYYY-MM-DD (or YYYY-MM, a month) in s, into out[11]; 0, or
 * -1 if none. */
static int find_date(struct span s, char *out)
{
	for (size_t i = 0; i + 7 <= s.n; i++) {
		const char *p = s.p + i;
		size_t len = 10;
		int ok = 1;
		if (i && isalnum((unsigned char)p[-1]))
			continue;
		for (size_t k = 0; k < len && ok; k++) {
			if (k == 7 && (i + 7 == s.n || p[7] != '-')) {
				len = 7; /* a month */
				break;
			}
			ok = i + k < s.n &&
			     ((k == 4 || k == 7) ? p[k] == '-'
						 : isdigit((unsigned char)p[k]));
		}
		if (ok && (i + len == s.n || !isalnum((unsigned char)p[len]))) {
			memcpy(out, p, len);
			out[len] = '\0';
			return 0;
		}
	}
	return -1;
}

/* The next line of [*p, end): its span (without the newline); advances. */
static struct span next_line(const char **p, const char *end)
{
	const char *s = *p, *nl = memchr(s, '\n', (size_t)(end - s));
	const char *e = nl ? nl : end;

	*p = nl ? nl + 1 : end;
	return (struct span){ s, (size_t)(e - s) };
}

/* ---- the system message: task and window ---- */

struct setup {
	struct span task;
	char from[11], to[11]; /* window, or empty */
};

/* Reads the task and the window from the system messages (the first
 * of each wins); a window that is not two full dates is ignored. */
static void read_setup(const struct llm_msg *m, size_t n, struct setup *su)
{
	memset(su, 0, sizeof(*su));
	for (size_t i = 0; i < n; i++) {
		const char *p = m[i].content, *end = p + m[i].len;
		if (strcmp(m[i].role, "system") != 0)
			continue;
		while (p < end) {
			struct span l = next_line(&p, end), v;
			l = trim(l.p, l.n);
			v = field(l, "task:");
			if (v.p && !su->task.p)
				su->task = v;
			v = field(l, "window:");
			if (v.p && !su->from[0] && find_date(v, su->from) == 0) {
				const char *dd = memmem(v.p, v.n, "..", 2);
				size_t off = dd ? (size_t)(dd - v.p) + 2 : v.n;
				if (find_date((struct span){ v.p + off,
							     v.n - off },
					      su->to) != 0 ||
				    strlen(su->from) != 10 ||
				    strlen(su->to) != 10)
					su->from[0] = '\0';
			}
		}
	}
}

/* ---- question:cve and question:kb ---- */

static const char *const lead_phrases[] = {
	"tell me about ", "tell me ",	  "what are the ", "what are ",
	"what is ",	  "what were ",	  "explain ",	   "describe ",
	"list ",	  "give me ",	  "show me ",	   "please ",
	"can you ",	  "could you ",	  "i want to know about ",
	"what do you know about ",
};

static const char *const time_lead[] = { " from the ", " in the ",
					 " over the ", " during the ",
					 " within the ", " of the " };

/* Splits the last user message into its topic and time phrase ("in the
 * past year"), both trimmed; time may be empty. */
static void topic_of(const struct llm_msg *m, size_t n, struct span *topic,
		     struct span *time)
{
	struct span q = { "", 0 };
	int again = 1;

	for (size_t i = n; i-- > 0;)
		if (!strcmp(m[i].role, "user")) {
			q = trim(m[i].content, m[i].len);
			break;
		}
	while (again) {
		again = 0;
		for (size_t i = 0; i < sizeof(lead_phrases) / sizeof(char *);
		     i++) {
			size_t l = strlen(lead_phrases[i]);
			if (q.n > l && !strncasecmp(q.p, lead_phrases[i], l)) {
				q = trim(q.p + l, q.n - l);
				again = 1;
			}
		}
	}
	while (q.n && strchr(".?!", q.p[q.n - 1]))
		q.n--;
	*time = (struct span){ "", 0 };
	for (size_t i = 0; i < sizeof(time_lead) / sizeof(char *); i++) {
		size_t l = strlen(time_lead[i]);
		for (size_t k = 0; k + l < q.n; k++) {
			const char *rest = q.p + k + l;
			size_t rl = q.n - k - l;
			if (strncasecmp(q.p + k, time_lead[i], l) != 0)
				continue;
			if ((rl > 5 && !strncasecmp(rest, "past ", 5)) ||
			    (rl > 5 && !strncasecmp(rest, "last ", 5)) ||
			    (rl > 9 && !strncasecmp(rest, "previous ", 9))) {
				*time = (struct span){ rest, rl };
				q.n = k;
				break;
			}
		}
	}
	*topic = trim(q.p, q.n);
	if (!topic->n)
		*topic = trim(q.p, q.n + (time->n ? time->n : 0));
}

/* Writes the topic with a capital first letter lowered ("Container
 * escape" inside a sentence), unless it looks like an acronym. */
static void put_topic(FILE *f, struct span t)
{
	if (t.n > 1 && isupper((unsigned char)t.p[0]) &&
	    islower((unsigned char)t.p[1])) {
		fputc(tolower((unsigned char)t.p[0]), f);
		t.p++;
		t.n--;
	}
	put_collapsed(f, t);
}

/* Writes the templated CVE (cve) or knowledge-base question. */
static void task_question(FILE *f, const struct llm_msg *m, size_t n,
			  const struct setup *su, int cve)
{
	struct span topic, time;

	topic_of(m, n, &topic, &time);
	if (!cve) {
		fputs("How do ", f);
		put_topic(f, topic);
		fputs(" work, and which isolation mechanisms (namespaces, "
		      "capabilities, seccomp, cgroups) do they involve?",
		      f);
		return;
	}
	fputs("Which CVEs about ", f);
	put_topic(f, topic);
	fputs(" were disclosed", f);
	if (su->from[0])
		fprintf(f, " between %s and %s", su->from, su->to);
	else if (time.n) {
		fputs(" in the ", f);
		put_collapsed(f, time);
	}
	fputc('?', f);
}

/* ---- answer: sources, sentences, selection ---- */

/* Starts a source; past MAX_BLOCKS, the rest of the text is no source's
 * (d->full), so that no sentence is credited to the wrong one. */
static void new_block(struct doc *d, struct span name)
{
	if (d->nb >= MAX_BLOCKS) {
		d->full = 1;
		return;
	}
	d->b[d->nb].name = name;
	d->b[d->nb].date[0] = '\0';
	d->nb++;
}

/* "[N] NAME #K (score S)", rag_search's result line: NAME, else p NULL. */
static struct span rag_marker(struct span l)
{
	size_t i = 1;
	const char *hash;

	if (l.n < 4 || l.p[0] != '[' || !isdigit((unsigned char)l.p[1]))
		return (struct span){ NULL, 0 };
	while (i < l.n && isdigit((unsigned char)l.p[i]))
		i++;
	if (i + 1 >= l.n || l.p[i] != ']' || l.p[i + 1] != ' ')
		return (struct span){ NULL, 0 };
	hash = memmem(l.p + i, l.n - i, " #", 2);
	/* the " #" must come after "] " (in "[1] #..." it overlaps it) */
	if (!hash || (size_t)(hash - l.p) < i + 2 ||
	    !memmem(hash, l.n - (size_t)(hash - l.p), "(score", 6))
		return (struct span){ NULL, 0 };
	return trim(l.p + i + 2, (size_t)(hash - l.p) - i - 2);
}

/* Adds a sentence of the current source (none before the first: that
 * text is not a source); sets d->oom if memory runs out. */
static void add_sentence(struct doc *d, const char *p, size_t n)
{
	struct span s = trim(p, n);

	while (s.n && strchr("-*+#>", s.p[0])) /* bullets, headings */
		s = trim(s.p + 1, s.n - 1);
	if (!d->nb || d->full || llm_word_count(s.p, s.n) < MIN_WORDS ||
	    s.n > MAX_SENT_BYTES || d->ns >= MAX_SENTENCES)
		return;
	if (d->ns == d->cap) {
		size_t cap = d->cap ? 2 * d->cap : 64;
		struct sent *ns = realloc(d->s, cap * sizeof(*ns));
		if (!ns) {
			d->oom = 1;
			return;
		}
		d->s = ns;
		d->cap = cap;
	}
	d->s[d->ns] = (struct sent){ s, d->nb - 1, d->ns, 0, 0 };
	d->ns++;
}

static void doc_free(struct doc *d)
{
	if (d)
		free(d->s);
	free(d);
}

/* Splits a paragraph into sentences: at . ! ? followed by white space
 * and a capital, a digit, a quote or a parenthesis (so "e.g. the" and
 * "1.1.12" do not split). */
static void split_paragraph(struct doc *d, struct span par)
{
	size_t start = 0;

	for (size_t i = 0; i < par.n; i++) {
		size_t k = i + 1;
		if (!strchr(".!?", par.p[i]) || !par.p[i])
			continue;
		if (k < par.n && !isspace((unsigned char)par.p[k]))
			continue;
		while (k < par.n && isspace((unsigned char)par.p[k]))
			k++;
		if (k < par.n && !isupper((unsigned char)par.p[k]) &&
		    !isdigit((unsigned char)par.p[k]) &&
		    !strchr("\"'(", par.p[k]))
			continue;
		add_sentence(d, par.p + start, i + 1 - start);
		start = k;
		i = k ? k - 1 : 0;
	}
	if (start < par.n)
		add_sentence(d, par.p + start, par.n - start);
}

/* A line that starts a paragraph of its own rather than continuing the
 * previous (wrapped) one. */
static int starts_paragraph(struct span prev, struct span l)
{
	char last;

	if (!prev.n || strchr("-*+#>", l.p[0]) ||
	    (isdigit((unsigned char)l.p[0]) && l.n > 1 && l.p[1] == '.'))
		return 1;
	last = prev.p[prev.n - 1];
	if (last == ',')
		return 0;
	return strchr(".!?:;", last) || !islower((unsigned char)l.p[0]);
}

enum line_kind { L_TEXT, L_QUERY, L_SOURCE, L_DATE, L_SKIP };

/* What a (trimmed) line of an answer's input is; *v gets the value of a
 * query or source line. */
static enum line_kind classify(struct span l, struct span *v)
{
	static const char *const query[] = { "question:", "query:" };
	static const char *const source[] = { "source:", "url:" };
	static const char *const date[] = { "date:", "published:",
					     "disclosed:" };

	for (size_t i = 0; i < 2; i++) {
		*v = field(l, query[i]);
		if (v->p)
			return L_QUERY;
		*v = field(l, source[i]);
		if (v->p)
			return L_SOURCE;
	}
	*v = rag_marker(l);
	if (v->p)
		return L_SOURCE;
	for (size_t i = 0; i < 3; i++)
		if (field(l, date[i]).p)
			return L_DATE;
	return !l.n || field(l, "title:").p ? L_SKIP : L_TEXT;
}

/* Reads one message into d: markers, metadata and paragraphs. */
static void read_message(struct doc *d, const struct llm_msg *m, int first)
{
	const char *p = m->content, *end = p + m->len;
	struct span par = { NULL, 0 }, prev = { NULL, 0 }, v;
	int first_line = first;

	while (p <= end) {
		struct span raw = next_line(&p, end), l = trim(raw.p, raw.n);
		enum line_kind k = classify(l, &v);

		if (k == L_TEXT && first_line && !d->query.p && !d->nb) {
			k = L_QUERY; /* no Question: line: the first line */
			v = l;
		}
		first_line = 0;
		if (k == L_QUERY && !d->query.p)
			d->query = v;
		if (k != L_TEXT || starts_paragraph(prev, l)) {
			if (par.p)
				split_paragraph(d, par);
			par = k == L_TEXT ? l : (struct span){ NULL, 0 };
		} else {
			par.n = (size_t)(l.p + l.n - par.p);
		}
		if (k == L_SOURCE)
			new_block(d, v);
		if (k == L_DATE && d->nb)
			find_date(l, d->b[d->nb - 1].date);
		prev = k == L_TEXT ? l : (struct span){ NULL, 0 };
		if (p == end)
			break;
	}
	if (par.p)
		split_paragraph(d, par);
}

/* qsort orders: by round then input order; by source then best score;
 * by input order. */
static int by_rank(const void *a, const void *b)
{
	const struct sent *x = a, *y = b;

	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	if (x->block != y->block)
		return x->block < y->block ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static int by_score(const void *a, const void *b)
{
	const struct sent *x = a, *y = b;

	if (x->block != y->block)
		return x->block < y->block ? -1 : 1;
	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static int by_pos(const void *a, const void *b)
{
	const struct sent *x = a, *y = b;

	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Whether one of kept[0..n) has the same text as s. */
static int repeated(const struct sent *kept, size_t n, struct span s)
{
	for (size_t i = 0; i < n; i++)
		if (kept[i].s.n == s.n && !memcmp(kept[i].s.p, s.p, s.n))
			return 1;
	return 0;
}

/* qsort, which must not see a NULL array even when it is empty. */
static void sort_sents(struct sent *s, size_t n,
		       int (*cmp)(const void *, const void *))
{
	if (n)
		qsort(s, n, sizeof(*s), cmp);
}

/* A source dated outside the window (a month overlapping it is inside);
 * an undated one never is. */
static int outside(const struct setup *su, const struct block *b)
{
	size_t l = strlen(b->date);

	return su->from[0] && l &&
	       (strncmp(b->date, su->from, l) < 0 ||
		strncmp(b->date, su->to, l) > 0);
}

/* Keeps the sentences that match the query, at most PER_BLOCK per source
 * (the best first), round by round across the sources until the word
 * budget is spent; prints them in the order of the input. */
static int task_answer(FILE *f, const struct llm_msg *m, size_t n,
		       const struct setup *su, long max_tokens, int *cut)
{
	struct doc *d = calloc(1, sizeof(*d));
	struct terms q;
	size_t kept = 0, dropped = 0, total = 0;
	long long words = 0;

	if (!d)
		return -1;
	for (size_t i = 0, first = 1; i < n; i++)
		if (!strcmp(m[i].role, "user")) {
			read_message(d, &m[i], (int)first);
			first = 0;
		}
	if (d->oom) {
		doc_free(d);
		return -1;
	}
	terms_of(d->query.p ? d->query.p : "",
		 d->query.p ? d->query.n : 0, &q);
	for (size_t i = 0; i < d->ns; i++)
		d->s[i].score = outside(su, &d->b[d->s[i].block])
					? 0
					: score_of(&q, d->s[i].s.p,
						   d->s[i].s.n);
	sort_sents(d->s, d->ns, by_score);
	for (size_t i = 0, prev = (size_t)-1, nk = 0; i < d->ns; i++) {
		if (d->s[i].block != prev) {
			prev = d->s[i].block;
			nk = 0;
		}
		/* the best first; a repeat (a page's title is often its
		 * heading too) is skipped */
		if (d->s[i].score == 0 || nk >= PER_BLOCK ||
		    repeated(d->s + kept - nk, nk, d->s[i].s))
			continue;
		d->s[i].rank = (int)nk++;
		d->s[kept++] = d->s[i];
	}
	sort_sents(d->s, kept, by_rank);
	for (size_t i = 0; i < d->nb; i++)
		dropped += outside(su, &d->b[i]);
	if (dropped) /* the note below has its words reserved */
		words = 9;
	for (total = 0; total < kept; total++) {
		const struct span nm = d->b[d->s[total].block].name;
		long long w = llm_word_count(d->s[total].s.p,
					     d->s[total].s.n) +
			      1 + llm_word_count(nm.p, nm.n);
		if (words + w > max_tokens) {
			*cut = 1;
			break;
		}
		words += w;
	}
	sort_sents(d->s, total, by_pos);
	for (size_t i = 0; i < total; i++) {
		put_collapsed(f, d->s[i].s);
		fputs(" [source: ", f);
		put_collapsed(f, d->b[d->s[i].block].name);
		fputs("]\n", f);
	}
	if (!total) {
		fputs("Nothing in the given sources answers: ", f);
		put_collapsed(f, d->query.p ? d->query : (struct span){ "", 0 });
		fputc('\n', f);
	}
	if (dropped)
		fprintf(f, "Note: %zu source(s) dated outside %s..%s left out.\n",
			dropped, su->from, su->to);
	doc_free(d);
	return 0;
}

/* ---- report ---- */

#define MAX_REFS 128

struct refs {
	struct span r[MAX_REFS];
	size_t n;
};

/* The number (1-based) of source name in refs, added if new; 0 if full. */
static size_t ref_of(struct refs *rs, struct span name)
{
	for (size_t i = 0; i < rs->n; i++)
		if (rs->r[i].n == name.n && !memcmp(rs->r[i].p, name.p, name.n))
			return i + 1;
	if (rs->n >= MAX_REFS)
		return 0;
	rs->r[rs->n] = name;
	return ++rs->n;
}

/* Prints each CVE id of the messages once, in order of appearance. */
static void put_cves(FILE *f, const struct llm_msg *m, size_t n)
{
	struct span seen[64];
	size_t ns = 0;

	for (size_t i = 0; i < n; i++) {
		const char *p = m[i].content;
		size_t len = m[i].len;
		if (strcmp(m[i].role, "user") != 0)
			continue;
		for (size_t k = 0; k + 13 <= len && ns < 64; k++) {
			size_t e = k + 4, dup = 0;
			if (strncmp(p + k, "CVE-", 4) != 0)
				continue;
			while (e < len && e < k + 9 && isdigit((unsigned char)p[e]))
				e++;
			if (e != k + 8 || e >= len || p[e] != '-')
				continue;
			e++;
			while (e < len && e < k + 17 && isdigit((unsigned char)p[e]))
				e++;
			if (e < k + 13)
				continue;
			for (size_t j = 0; j < ns && !dup; j++)
				dup = seen[j].n == e - k &&
				      !memcmp(seen[j].p, p + k, e - k);
			if (!dup)
				seen[ns++] = (struct span){ p + k, e - k };
		}
	}
	if (!ns)
		return;
	fputs("CVEs named: ", f);
	for (size_t j = 0; j < ns; j++)
		fprintf(f, "%s%.*s", j ? ", " : "", (int)seen[j].n, seen[j].p);
	fputs(".\n\n", f);
}

/* One answer line: its text without "[source: X]" markers, then "[n]"
 * for each. words counts what was written. */
static void put_item(FILE *f, struct span l, struct refs *rs)
{
	const char *p = l.p, *end = l.p + l.n;

	fputs("- ", f);
	while (p < end) {
		const char *mk = memmem(p, (size_t)(end - p), "[source:", 8);
		const char *close = mk ? memchr(mk, ']', (size_t)(end - mk))
				       : NULL;
		if (!close) {
			put_collapsed(f, (struct span){ p, (size_t)(end - p) });
			break;
		}
		put_collapsed(f, (struct span){ p, (size_t)(mk - p) });
		fprintf(f, " [%zu]",
			ref_of(rs, trim(mk + 8, (size_t)(close - mk - 8))));
		p = close + 1;
	}
	fputc('\n', f);
}

/* Writes the report: the question, the CVE ids named, each section's
 * items with their references numbered, the sources list. Always 0. */
static int task_report(FILE *f, const struct llm_msg *m, size_t n,
		       long max_tokens, int *cut)
{
	struct refs rs = { 0 };
	struct span q = { NULL, 0 }, v;
	long long words = 0;
	size_t answers = 0;
	int items = 0, open = 0;

	for (size_t i = 0; i < n && !q.p; i++) {
		const char *p = m[i].content, *end = p + m[i].len;
		if (strcmp(m[i].role, "user") != 0)
			continue;
		while (p < end && !q.p) {
			struct span l = next_line(&p, end);
			q = field(trim(l.p, l.n), "question:");
		}
	}
	fputs("Report", f);
	if (q.p) {
		fputs(": ", f);
		put_collapsed(f, q);
	}
	fputs("\n\n", f);
	put_cves(f, m, n);
	for (size_t i = 0; i < n && !*cut; i++) {
		const char *p = m[i].content, *end = p + m[i].len;
		if (strcmp(m[i].role, "user") != 0)
			continue;
		while (p < end && !*cut) {
			struct span l = next_line(&p, end);
			l = trim(l.p, l.n);
			if (!l.n || field(l, "question:").p)
				continue;
			v = field(l, "section:");
			if (v.p) {
				if (open && !items)
					fputs("- Nothing was found.\n", f);
				if (open)
					fputc('\n', f);
				put_collapsed(f, v);
				fputs(":\n", f);
				open = 1;
				items = 0;
				continue;
			}
			if (!open) {
				fprintf(f, "Answer %zu:\n", ++answers);
				open = 1;
			}
			/* each item and its reference cost their words,
			 * and a source line at most 2 more */
			if (words + llm_word_count(l.p, l.n) + 3 > max_tokens) {
				*cut = 1;
				break;
			}
			words += llm_word_count(l.p, l.n) + 3;
			put_item(f, l, &rs);
			items++;
		}
		if (!*cut && open && items == 0)
			fputs("- Nothing was found.\n", f);
		if (open)
			fputc('\n', f);
		open = 0;
		items = 0;
	}
	if (rs.n) {
		fputs("Sources:\n", f);
		for (size_t i = 0; i < rs.n; i++) {
			fprintf(f, "[%zu] ", i + 1);
			put_collapsed(f, rs.r[i]);
			fputc('\n', f);
		}
	}
	return 0;
}

/* ---- summary (no task) ---- */

static int task_summary(FILE *f, const struct llm_msg *m, size_t n,
			long max_tokens, int *cut)
{
	struct llm_msg last = { "user", "", 0 };
	struct doc *d = calloc(1, sizeof(*d));
	long long words = 0;

	for (size_t i = n; i-- > 0;)
		if (!strcmp(m[i].role, "user")) {
			last = m[i];
			break;
		}
	if (!d)
		return -1;
	new_block(d, (struct span){ last.content, last.len });
	split_paragraph(d, (struct span){ last.content, last.len });
	if (d->oom) {
		doc_free(d);
		return -1;
	}
	for (size_t i = 0; i < d->ns; i++) {
		long long w = llm_word_count(d->s[i].s.p, d->s[i].s.n);
		if (words + w > max_tokens) {
			*cut = 1;
			break;
		}
		words += w;
		if (i)
			fputc(' ', f);
		put_collapsed(f, d->s[i].s);
	}
	doc_free(d);
	return 0;
}

/* Cuts text after its max-th word (headers and notes count too, so
 * the reply never has more words than max_tokens); the new length. */
static size_t cut_words(char *text, size_t len, long max, int *cut)
{
	long w = 0;
	int in = 0;

	for (size_t i = 0; i < len; i++) {
		int sp = isspace((unsigned char)text[i]);
		if (!sp && !in && ++w > max) {
			while (i && isspace((unsigned char)text[i - 1]))
				i--;
			text[i] = '\0';
			*cut = 1;
			return i;
		}
		in = !sp;
	}
	return len;
}

int llm_det_chat(const struct llm_msg *msgs, size_t n, long max_tokens,
		 struct llm_reply *out, char *err, size_t errlen)
{
	struct setup su;
	char *text = NULL;
	size_t len = 0;
	int cut = 0, rc = 0;
	FILE *f;

	memset(out, 0, sizeof(*out));
	read_setup(msgs, n, &su);
	if (su.task.p && !(su.task.n == 12 && !strncasecmp(su.task.p,
							   "question:cve", 12)) &&
	    !(su.task.n == 11 && !strncasecmp(su.task.p, "question:kb", 11)) &&
	    !(su.task.n == 6 && !strncasecmp(su.task.p, "answer", 6)) &&
	    !(su.task.n == 6 && !strncasecmp(su.task.p, "report", 6)) &&
	    !(su.task.n == 7 && !strncasecmp(su.task.p, "summary", 7))) {
		snprintf(err, errlen,
			 "unknown task '%.*s' (known: question:cve, "
			 "question:kb, answer, report, summary)",
			 (int)(su.task.n > 40 ? 40 : su.task.n), su.task.p);
		return -1;
	}
	f = open_memstream(&text, &len);
	if (!f) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (!su.task.p || su.task.n == 7)
		rc = task_summary(f, msgs, n, max_tokens, &cut);
	else if (su.task.n == 12)
		task_question(f, msgs, n, &su, 1);
	else if (su.task.n == 11)
		task_question(f, msgs, n, &su, 0);
	else if (!strncasecmp(su.task.p, "answer", 6))
		rc = task_answer(f, msgs, n, &su, max_tokens, &cut);
	else
		rc = task_report(f, msgs, n, max_tokens, &cut);
	if (fclose(f) != 0 || rc != 0 || !text) {
		free(text);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	while (len && text[len - 1] == '\n')
		text[--len] = '\0';
	len = cut_words(text, len, max_tokens, &cut);
	out->text = text;
	snprintf(out->model, sizeof(out->model), "%s", LLM_DET_MODEL);
	snprintf(out->finish, sizeof(out->finish), "%s",
		 cut ? "length" : "stop");
	for (size_t i = 0; i < n; i++)
		out->prompt_tokens += llm_word_count(msgs[i].content,
						     msgs[i].len);
	out->completion_tokens = llm_word_count(text, len);
	out->total_tokens = out->prompt_tokens + out->completion_tokens;
	return 0;
}
