/* Policy: rule files parsed whole into a fresh structure, compiled into an
 * index by source and tool zone, and the first-match decision on top of
 * it. The language is documented in docs/policy.md. */
#include "gw.h"
#include "utf8.h"
#include "zg_common.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Index: key "SOURCE|TZONE" -> ascending rule indices. SOURCE is "z:NAME",
 * "t:NAME" or "*"; TZONE is the exact tool zone, or "*" for rules whose
 * tool-zone pattern is a glob. A decision looks at most (2 + tags) * 2
 * short lists instead of every line. */
struct ix_entry {
	char *key;
	uint32_t *v;
	size_t n, cap;
	struct ix_entry *next;
};

struct policy {
	struct pol_rule *rules;
	size_t nrules, cap;
	char **files;
	size_t nfiles;
	struct ix_entry **ix;
	size_t nix;
};

/* ---- glob ------------------------------------------------------------ */

int gw_glob_match(const char *p, const char *s)
{
	const char *star = NULL, *resume = NULL;

	/* Greedy with one backtrack point: O(len(p) * len(s)) worst case,
	 * no recursion, so hostile patterns cannot blow the stack. */
	while (*s) {
		if (*p == '*') {
			star = ++p;
			resume = s;
		} else if (*p == '?' || *p == *s) {
			p++;
			s++;
		} else if (star) {
			p = star;
			s = ++resume;
		} else {
			return 0;
		}
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

static int has_glob(const char *s)
{
	return strpbrk(s, "*?") != NULL;
}

/* ---- index ------------------------------------------------------------ */

static uint64_t fnv(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	while (*s)
		h = (h ^ (uint8_t)*s++) * 1099511628211ull;
	return h;
}

static struct ix_entry *ix_find(const struct policy *p, const char *key)
{
	struct ix_entry *e;

	if (!p->nix)
		return NULL;
	for (e = p->ix[fnv(key) % p->nix]; e; e = e->next)
		if (strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

static int ix_add(struct policy *p, const char *key, uint32_t idx)
{
	struct ix_entry *e = ix_find(p, key);
	uint32_t *nv;

	if (!e) {
		size_t b = fnv(key) % p->nix;
		e = calloc(1, sizeof(*e));
		if (!e)
			return -1;
		e->key = strdup(key);
		if (!e->key) {
			free(e);
			return -1;
		}
		e->next = p->ix[b];
		p->ix[b] = e;
	}
	if (e->n == e->cap) {
		size_t nc = e->cap ? e->cap * 2 : 4;
		nv = realloc(e->v, nc * sizeof(*nv));
		if (!nv)
			return -1;
		e->v = nv;
		e->cap = nc;
	}
	e->v[e->n++] = idx;
	return 0;
}

static void src_key(char *out, size_t n, enum pol_src k, const char *name)
{
	if (k == POL_SRC_ANY)
		snprintf(out, n, "*");
	else
		snprintf(out, n, "%c:%s", k == POL_SRC_ZONE ? 'z' : 't', name);
}

static int compile(struct policy *p)
{
	char key[2 * GW_RULE_LINE_MAX];
	char sk[GW_RULE_LINE_MAX];

	p->nix = p->nrules * 2 + 17;
	p->ix = calloc(p->nix, sizeof(*p->ix));
	if (!p->ix)
		return -1;
	for (size_t i = 0; i < p->nrules; i++) {
		const struct pol_rule *r = &p->rules[i];
		src_key(sk, sizeof(sk), r->src_kind, r->src);
		snprintf(key, sizeof(key), "%s|%s", sk,
			 has_glob(r->tzone) ? "*" : r->tzone);
		if (ix_add(p, key, (uint32_t)i))
			return -1;
	}
	return 0;
}

/* ---- parsing ------------------------------------------------------------ */

struct perr {
	char *buf;
	size_t len;
	const char *file;
	int line;
};

static int fail(struct perr *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(struct perr *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	zg_verrf(e->buf, e->len, e->file, e->line, fmt, ap);
	va_end(ap);
	return -1;
}

static int zone_glob_ok(const char *s)
{
	if (!*s || strlen(s) > GW_ZONE_NAME_MAX)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		      *s == '-' || *s == '*' || *s == '?'))
			return 0;
	return 1;
}

static int tag_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > GW_ZONE_NAME_MAX)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		      *s == '-' || *s == '_'))
			return 0;
	return 1;
}

/* Parses the decimal s starts with, in [min, max] (zg_parse_uint); *end
 * gets the start of its suffix. Returns 0 or -1. */
static int num(const char *s, const char **end, long min, long max, long *out)
{
	uint64_t v;

	if (zg_parse_uint(s, end, (uint64_t)min, (uint64_t)max, &v) != 0)
		return -1;
	*out = (long)v;
	return 0;
}

static int parse_source(struct perr *e, const char *tok, struct pol_rule *r)
{
	if (strcmp(tok, "*") == 0) {
		r->src_kind = POL_SRC_ANY;
		return 0;
	}
	if (strncmp(tok, "@tag:", 5) == 0) {
		if (!tag_ok(tok + 5))
			return fail(e, "bad tag in source '%.*s'",
				    (int)gw_utf8_prefix(tok, 64), tok);
		r->src_kind = POL_SRC_TAG;
		r->src = strdup(tok + 5);
	} else {
		if (!gw_zone_name_ok(tok))
			return fail(e,
				    "bad source '%.*s' (a zone name, "
				    "@tag:NAME or *)",
				    (int)gw_utf8_prefix(tok, 64), tok);
		r->src_kind = POL_SRC_ZONE;
		r->src = strdup(tok);
	}
	return r->src ? 0 : fail(e, "out of memory");
}

static int name_glob_ok(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s < 0x21 || (unsigned char)*s == 0x7f)
			return 0;
	return 1;
}

static int parse_target(struct perr *e, const char *tok, struct pol_rule *r)
{
	const char *t = tok, *dot;

	r->kinds = POL_TOOL;
	if (strcmp(tok, "*") == 0) {
		r->kinds = POL_ALL;
		t = "*.*";
	} else if (strncmp(tok, "tool:", 5) == 0) {
		t = tok + 5;
	} else if (strncmp(tok, "resource:", 9) == 0) {
		r->kinds = POL_RESOURCE;
		t = tok + 9;
	} else if (strncmp(tok, "prompt:", 7) == 0) {
		r->kinds = POL_PROMPT;
		t = tok + 7;
	}
	if (strcmp(t, "*") == 0)
		t = "*.*";
	dot = strchr(t, '.');
	if (!dot)
		return fail(e,
			    "bad target '%.*s' (TOOLZONE.TOOL, "
			    "resource:TOOLZONE.URI, prompt:TOOLZONE.NAME or *)",
			    (int)gw_utf8_prefix(tok, 64), tok);
	r->tzone = strndup(t, (size_t)(dot - t));
	r->tname = strdup(dot + 1);
	if (!r->tzone || !r->tname)
		return fail(e, "out of memory");
	if (!zone_glob_ok(r->tzone))
		return fail(e, "bad tool zone pattern '%.*s'",
			    (int)gw_utf8_prefix(r->tzone, 64), r->tzone);
	if (!name_glob_ok(r->tname))
		return fail(e, "bad name pattern in '%.*s'",
			    (int)gw_utf8_prefix(tok, 64), tok);
	return 0;
}

static int opt_rate(struct perr *e, const char *v, struct pol_rule *r)
{
	const char *end;
	long n;

	if (num(v, &end, 1, 1000000, &n) || end[0] != '/' || end[2] != '\0' ||
	    (end[1] != 's' && end[1] != 'm'))
		return fail(e, "bad rate '%.*s' (N/s or N/m)",
			    (int)gw_utf8_prefix(v, 32), v);
	r->rate_n = n;
	r->rate_per_ms = end[1] == 's' ? 1000 : 60000;
	return 0;
}

static int opt_timeout(struct perr *e, const char *v, struct pol_rule *r)
{
	const char *end;
	long n;

	if (num(v, &end, 1, 86400000, &n))
		return fail(e, "bad timeout '%.*s' (Nms or Ns)",
			    (int)gw_utf8_prefix(v, 32), v);
	if (strcmp(end, "ms") == 0)
		r->timeout_ms = n;
	else if (strcmp(end, "s") == 0 && n <= 86400)
		r->timeout_ms = n * 1000;
	else
		return fail(e, "bad timeout '%.*s' (Nms or Ns)",
			    (int)gw_utf8_prefix(v, 32), v);
	return 0;
}

static int opt_bytes(struct perr *e, const char *v, struct pol_rule *r)
{
	const char *end;
	long n, mul = 1;

	if (num(v, &end, 1, 1L << 30, &n))
		return fail(e, "bad max-bytes '%.*s' (N, Nk or Nm)",
			    (int)gw_utf8_prefix(v, 32), v);
	if (strcmp(end, "k") == 0)
		mul = 1024;
	else if (strcmp(end, "m") == 0)
		mul = 1024 * 1024;
	else if (*end)
		return fail(e, "bad max-bytes '%.*s' (N, Nk or Nm)",
			    (int)gw_utf8_prefix(v, 32), v);
	if (n > (1L << 30) / mul)
		return fail(e, "max-bytes '%.*s' over 1 GiB",
			    (int)gw_utf8_prefix(v, 32), v);
	r->max_bytes = (size_t)(n * mul);
	return 0;
}

static int opt_arg(struct perr *e, const char *name, const char *v,
		   struct pol_rule *r)
{
	struct pol_arg *na;

	if (!*name || strlen(name) > 128)
		return fail(e, "bad argument name in option");
	for (size_t i = 0; i < r->nargs; i++)
		if (strcmp(r->args[i].name, name) == 0)
			return fail(e, "duplicate option arg.%.*s",
				    (int)gw_utf8_prefix(name, 64), name);
	if (r->nargs == GW_MAX_ARG_CONDS)
		return fail(e, "too many arg.* options (max %d)",
			    GW_MAX_ARG_CONDS);
	if (!*v)
		return fail(e, "empty pattern for arg.%.*s",
			    (int)gw_utf8_prefix(name, 64), name);
	na = realloc(r->args, (r->nargs + 1) * sizeof(*na));
	if (!na)
		return fail(e, "out of memory");
	r->args = na;
	na[r->nargs].name = strdup(name);
	na[r->nargs].glob = strdup(v);
	r->nargs++;
	if (!na[r->nargs - 1].name || !na[r->nargs - 1].glob)
		return fail(e, "out of memory");
	return 0;
}

static int parse_option(struct perr *e, char *tok, struct pol_rule *r,
			unsigned *seen)
{
	char *eq = strchr(tok, '=');
	static const char *const names[] = { "rate", "timeout", "max-bytes",
					     "concurrency" };
	long n;
	const char *end;

	if (!eq)
		return fail(e, "bad option '%.*s' (NAME=VALUE)",
			    (int)gw_utf8_prefix(tok, 64), tok);
	*eq = '\0';
	if (strncmp(tok, "arg.", 4) == 0)
		return opt_arg(e, tok + 4, eq + 1, r);
	for (unsigned i = 0; i < 4; i++) {
		if (strcmp(tok, names[i]) != 0)
			continue;
		if (*seen & (1u << i))
			return fail(e, "duplicate option %s", tok);
		*seen |= 1u << i;
		switch (i) {
		case 0:
			return opt_rate(e, eq + 1, r);
		case 1:
			return opt_timeout(e, eq + 1, r);
		case 2:
			return opt_bytes(e, eq + 1, r);
		default:
			if (num(eq + 1, &end, 1, 100000, &n) || *end)
				return fail(e, "bad concurrency '%.*s'",
					    (int)gw_utf8_prefix(eq + 1, 32),
					    eq + 1);
			r->concurrency = n;
			return 0;
		}
	}
	return fail(e, "unknown option '%.*s'", (int)gw_utf8_prefix(tok, 64),
		    tok);
}

static void rule_clear(struct pol_rule *r)
{
	free(r->src);
	free(r->tzone);
	free(r->tname);
	free(r->text);
	for (size_t i = 0; i < r->nargs; i++) {
		free(r->args[i].name);
		free(r->args[i].glob);
	}
	free(r->args);
	memset(r, 0, sizeof(*r));
}

/* Splits line (modified in place) on blanks into at most max tokens.
 * Returns the count, or max + 1 if there were more. */
static size_t split(char *line, char **tok, size_t max)
{
	size_t n = 0;
	char *p = line;

	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			return n;
		if (n == max)
			return max + 1;
		tok[n++] = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		if (*p)
			*p++ = '\0';
	}
}

#define MAX_TOKENS (3 + 4 + GW_MAX_ARG_CONDS)

/* Parses one rule from a trimmed, comment-free line. */
static int parse_rule(struct perr *e, const char *text, struct pol_rule *r)
{
	char buf[GW_RULE_LINE_MAX + 1];
	char *tok[MAX_TOKENS];
	unsigned seen = 0;
	size_t n;

	snprintf(buf, sizeof(buf), "%s", text);
	n = split(buf, tok, MAX_TOKENS);
	if (n > MAX_TOKENS)
		return fail(e, "too many options");
	if (n < 3)
		return fail(e, "expected SOURCE TARGET allow|deny [OPTION...]");
	/* The rule's identity across reloads: its tokens (whitespace runs
	 * do not count), FNV-1a, taken before parsing edits them. */
	r->sig = 14695981039346656037ull;
	for (size_t i = 0; i < n; i++) {
		for (const char *c = tok[i]; *c; c++)
			r->sig =
				(r->sig ^ (unsigned char)*c) * 1099511628211ull;
		r->sig *= 1099511628211ull; /* a separator: a NUL byte */
	}
	if (parse_source(e, tok[0], r) || parse_target(e, tok[1], r))
		return -1;
	if (strcmp(tok[2], "allow") == 0)
		r->allow = 1;
	else if (strcmp(tok[2], "deny") != 0)
		return fail(e, "bad action '%.*s' (allow or deny)",
			    (int)gw_utf8_prefix(tok[2], 32), tok[2]);
	if (!r->allow && n > 3)
		return fail(e, "options are only allowed on allow rules");
	for (size_t i = 3; i < n; i++)
		if (parse_option(e, tok[i], r, &seen))
			return -1;
	r->text = strdup(text);
	return r->text ? 0 : fail(e, "out of memory");
}

static int add_rule(struct policy *p, struct pol_rule *r, struct perr *e)
{
	struct pol_rule *nr;

	if (p->nrules == GW_MAX_RULES)
		return fail(e, "too many rules (max %d)", GW_MAX_RULES);
	if (p->nrules == p->cap) {
		size_t nc = p->cap ? p->cap * 2 : 16;
		nr = realloc(p->rules, nc * sizeof(*nr));
		if (!nr)
			return fail(e, "out of memory");
		p->rules = nr;
		p->cap = nc;
	}
	r->idx = (unsigned)p->nrules;
	p->rules[p->nrules++] = *r;
	memset(r, 0, sizeof(*r));
	return 0;
}

static int parse_text(struct policy *p, const char *file, const char *buf,
		      size_t len, char *err, size_t errlen)
{
	struct perr e = { err, errlen, file, 0 };
	const char *s = buf, *end = buf + len;
	char line[GW_RULE_LINE_MAX + 1];
	struct pol_rule r;

	memset(&r, 0, sizeof(r));
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);
		char *c, *a, *z;

		e.line++;
		if (n > GW_RULE_LINE_MAX)
			return fail(&e, "line longer than %d bytes",
				    GW_RULE_LINE_MAX);
		if (memchr(s, '\0', n))
			return fail(&e, "NUL byte in line");
		memcpy(line, s, n);
		line[n] = '\0';
		s += n + 1;
		c = strchr(line, '#');
		if (c)
			*c = '\0';
		for (a = line; *a == ' ' || *a == '\t' || *a == '\r'; a++)
			;
		z = a + strlen(a);
		while (z > a &&
		       (z[-1] == ' ' || z[-1] == '\t' || z[-1] == '\r'))
			*--z = '\0';
		if (!*a)
			continue;
		for (char *q = a; *q; q++)
			if ((unsigned char)*q < 0x20 && *q != '\t')
				return fail(&e, "control character in line");
		r.file = file;
		r.line = e.line;
		if (parse_rule(&e, a, &r) || add_rule(p, &r, &e)) {
			rule_clear(&r);
			return -1;
		}
	}
	return 0;
}

void policy_free(struct policy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nrules; i++)
		rule_clear(&p->rules[i]);
	free(p->rules);
	for (size_t i = 0; i < p->nfiles; i++)
		free(p->files[i]);
	free(p->files);
	for (size_t i = 0; i < p->nix; i++) {
		struct ix_entry *e = p->ix[i], *nx;
		for (; e; e = nx) {
			nx = e->next;
			free(e->key);
			free(e->v);
			free(e);
		}
	}
	free(p->ix);
	free(p);
}

struct policy *policy_parse_files(const char *const *names,
				  const char *const *bufs, const size_t *lens,
				  size_t n, char *err, size_t errlen)
{
	struct policy *p = calloc(1, sizeof(*p));

	if (!p || n > GW_MAX_POLICY_FILES)
		goto fail;
	p->files = calloc(n ? n : 1, sizeof(char *));
	if (!p->files)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		p->files[i] = strdup(names[i]);
		if (!p->files[i])
			goto fail;
		p->nfiles++;
		if (lens[i] > GW_POLICY_FILE_MAX) {
			snprintf(err, errlen, "%s: larger than %u bytes",
				 names[i], GW_POLICY_FILE_MAX);
			goto out;
		}
		if (parse_text(p, p->files[i], bufs[i], lens[i], err, errlen))
			goto out;
	}
	if (compile(p) == 0)
		return p;
fail:
	snprintf(err, errlen, "out of memory");
out:
	policy_free(p);
	return NULL;
}

struct policy *policy_parse_buffer(const char *display, const char *buf,
				   size_t len, char *err, size_t errlen)
{
	return policy_parse_files(&display, &buf, &len, 1, err, errlen);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.policy names in dir, sorted. Returns the count or -1. */
static long list_dir(const char *dir, char ***out, char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **v = NULL, **nv;
	long n = 0;

	if (!d) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);
		if (de->d_name[0] == '.' || l < 8 ||
		    strcmp(de->d_name + l - 7, ".policy") != 0)
			continue;
		if (n == GW_MAX_POLICY_FILES) {
			snprintf(err, errlen, "%s: more than %d policy files",
				 dir, GW_MAX_POLICY_FILES);
			goto fail;
		}
		nv = realloc(v, (size_t)(n + 1) * sizeof(*v));
		if (!nv)
			goto fail;
		v = nv;
		v[n] = strdup(de->d_name);
		if (!v[n])
			goto fail;
		n++;
	}
	closedir(d);
	if (n)
		qsort(v, (size_t)n, sizeof(*v), cmp_str);
	*out = v;
	return n;
fail:
	closedir(d);
	while (n > 0)
		free(v[--n]);
	free(v);
	return -1;
}

/* Adds oname to the sorted list if it is not there. */
static long add_name(char ***names, long n, const char *oname)
{
	char **nv;

	for (long i = 0; i < n; i++)
		if (strcmp((*names)[i], oname) == 0)
			return n;
	nv = realloc(*names, (size_t)(n + 1) * sizeof(*nv));
	if (!nv)
		return -1;
	*names = nv;
	nv[n] = strdup(oname);
	if (!nv[n])
		return -1;
	qsort(nv, (size_t)n + 1, sizeof(*nv), cmp_str);
	return n + 1;
}

struct policy *policy_load(const char *path, const char *display, char *err,
			   size_t errlen)
{
	return policy_load_with(path, display, NULL, NULL, 0, err, errlen);
}

struct policy *policy_load_with(const char *path, const char *display,
				const char *oname, const char *obuf,
				size_t olen, char *err, size_t errlen)
{
	struct stat st;
	char **names = NULL, **disp = NULL, **bufs = NULL;
	size_t *lens = NULL;
	long n = 1;
	struct policy *p = NULL;

	if (stat(path, &st) != 0) {
		snprintf(err, errlen, "%s: %s", display, strerror(errno));
		return NULL;
	}
	if (S_ISDIR(st.st_mode)) {
		n = list_dir(path, &names, err, errlen);
		if (n >= 0 && oname)
			n = add_name(&names, n, oname);
		if (n < 0)
			return NULL;
	}
	disp = calloc((size_t)n + 1, sizeof(char *));
	bufs = calloc((size_t)n + 1, sizeof(char *));
	lens = calloc((size_t)n + 1, sizeof(size_t));
	if (!disp || !bufs || !lens) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (long i = 0; i < n; i++) {
		char *full = names ? gw_path_join(path, names[i])
				   : strdup(path);
		char *dn = names ? gw_path_join(display, names[i])
				 : strdup(display);
		disp[i] = dn;
		if (!full || !dn) {
			free(full);
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		if (obuf && (!names || strcmp(names[i], oname) == 0)) {
			free(full);
			bufs[i] = strndup(obuf, olen);
			lens[i] = olen;
			if (!bufs[i])
				goto out;
			continue;
		}
		bufs[i] = gw_read_file(full, GW_POLICY_FILE_MAX, &lens[i], err,
				       errlen);
		free(full);
		if (!bufs[i])
			goto out;
	}
	p = policy_parse_files((const char *const *)disp,
			       (const char *const *)bufs, lens, (size_t)n, err,
			       errlen);
out:
	for (long i = 0; i < n; i++) {
		if (names)
			free(names[i]);
		if (disp)
			free(disp[i]);
		if (bufs)
			free(bufs[i]);
	}
	free(names);
	free(disp);
	free(bufs);
	free(lens);
	return p;
}

int policy_check_line(const char *line, char *err, size_t errlen)
{
	struct perr e = { err, errlen, "rule", 1 };
	struct pol_rule r;
	int rc;

	memset(&r, 0, sizeof(r));
	if (strlen(line) > GW_RULE_LINE_MAX)
		return fail(&e, "line longer than %d bytes", GW_RULE_LINE_MAX);
	if (strpbrk(line, "#\n\r"))
		return fail(&e, "a rule is one line without '#'");
	rc = parse_rule(&e, line, &r);
	rule_clear(&r);
	return rc;
}

size_t policy_nrules(const struct policy *p)
{
	return p ? p->nrules : 0;
}

const struct pol_rule *policy_rule(const struct policy *p, size_t i)
{
	return i < p->nrules ? &p->rules[i] : NULL;
}

/* ---- decisions ------------------------------------------------------------ */

static int source_matches(const struct pol_rule *r, const struct pol_query *q)
{
	if (r->src_kind == POL_SRC_ANY)
		return 1;
	if (r->src_kind == POL_SRC_ZONE)
		return strcmp(r->src, q->zone) == 0;
	for (size_t i = 0; i < q->ntags; i++)
		if (strcmp(r->src, q->tags[i]) == 0)
			return 1;
	return 0;
}

static int target_matches(const struct pol_rule *r, const struct pol_query *q)
{
	return (r->kinds & q->kind) && gw_glob_match(r->tzone, q->tzone) &&
	       gw_glob_match(r->tname, q->tname);
}

static int args_match(const struct pol_rule *r, const json_t *args)
{
	for (size_t i = 0; i < r->nargs; i++) {
		json_t *v = json_is_object(args)
				    ? json_object_get(args, r->args[i].name)
				    : NULL;
		if (!json_is_string(v) ||
		    strlen(json_string_value(v)) != json_string_length(v) ||
		    !gw_glob_match(r->args[i].glob, json_string_value(v)))
			return 0;
	}
	return 1;
}

/* The first rule in list e (ascending) that matches, as an index, or
 * best when none below best does. */
static size_t first_in(const struct policy *p, const struct ix_entry *e,
		       const struct pol_query *q, size_t best)
{
	if (!e)
		return best;
	for (size_t i = 0; i < e->n && e->v[i] < best; i++) {
		const struct pol_rule *r = &p->rules[e->v[i]];
		if (source_matches(r, q) && target_matches(r, q))
			return e->v[i];
	}
	return best;
}

static size_t lookup(const struct policy *p, const struct pol_query *q)
{
	char key[2 * GW_RULE_LINE_MAX];
	const char *tz[2] = { q->tzone, "*" };
	size_t best = SIZE_MAX;

	if (strlen(q->tzone) > GW_ZONE_NAME_MAX)
		tz[0] = "*"; /* no exact rule can name it */
	for (int t = 0; t < 2; t++) {
		snprintf(key, sizeof(key), "z:%s|%s", q->zone, tz[t]);
		best = first_in(p, ix_find(p, key), q, best);
		for (size_t i = 0; i < q->ntags; i++) {
			snprintf(key, sizeof(key), "t:%s|%s", q->tags[i],
				 tz[t]);
			best = first_in(p, ix_find(p, key), q, best);
		}
		snprintf(key, sizeof(key), "*|%s", tz[t]);
		best = first_in(p, ix_find(p, key), q, best);
	}
	return best;
}

enum pol_decision policy_decide(const struct policy *p,
				const struct pol_query *q,
				const struct pol_rule **rule)
{
	size_t i = p ? lookup(p, q) : SIZE_MAX;
	const struct pol_rule *r;

	*rule = NULL;
	if (i == SIZE_MAX)
		return POL_DENY_DEFAULT;
	r = &p->rules[i];
	*rule = r;
	if (!r->allow)
		return POL_DENY_RULE;
	if (q->args && r->nargs && !args_match(r, q->args))
		return POL_DENY_ARGS;
	return POL_ALLOW;
}

size_t policy_explain(const struct policy *p, const struct pol_query *q,
		      const struct pol_rule **out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; p && i < p->nrules; i++) {
		const struct pol_rule *r = &p->rules[i];
		if (!source_matches(r, q) || !target_matches(r, q))
			continue;
		if (n < max)
			out[n] = r;
		n++;
	}
	return n;
}

/* ---- lint ------------------------------------------------------------ */

#define LINT_BUDGET 50000000L /* rule pairs compared for shadowing */

static void finding(json_t *out, const struct pol_rule *r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void finding(json_t *out, const struct pol_rule *r, const char *fmt, ...)
{
	char msg[512], text[512];
	va_list ap;

	va_start(ap, fmt);
	mcp_utf8_vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* rule text is the admin's bytes: JSON needs them valid UTF-8 */
	mcp_utf8_snprintf(text, sizeof(text), "%s", r->text);
	json_array_append_new(out, json_pack("{s:s,s:i,s:s,s:s}", "file",
					     r->file, "line", r->line, "rule",
					     text, "message", msg));
}

static int tag_exists(const struct gw_config *c, const char *tag)
{
	for (size_t i = 0; i < c->nzones; i++)
		if (gw_zone_has_tag(&c->zones[i], tag))
			return 1;
	return 0;
}

/* Nonzero if some tool zone of c matches the tool-zone pattern. */
static int tzone_exists(const struct gw_config *c, const char *pat)
{
	for (size_t i = 0; i < c->nzones; i++)
		if (c->zones[i].role == GW_TOOL &&
		    gw_glob_match(pat, c->zones[i].name))
			return 1;
	return 0;
}

/* Nonzero if every string glob b matches, glob a matches too (checked
 * by matching b's text against a; a '?' of a could stand for a '*' of b,
 * so then b must be a plain name). Never says yes wrongly. */
static int glob_covers(const char *a, const char *b)
{
	if (strchr(a, '?') && has_glob(b))
		return 0;
	return gw_glob_match(a, b);
}

/* Nonzero if every caller rule b's source names is named by a's. */
static int source_covers(const struct gw_config *c, const struct pol_rule *a,
			 const struct pol_rule *b)
{
	const struct gw_zone *z;

	if (a->src_kind == POL_SRC_ANY)
		return 1;
	if (b->src_kind == POL_SRC_ANY)
		return 0;
	if (a->src_kind == b->src_kind)
		return strcmp(a->src, b->src) == 0;
	if (a->src_kind != POL_SRC_TAG) /* a zone never covers a tag */
		return 0;
	z = gw_config_zone(c, b->src);
	return z && gw_zone_has_tag(z, a->src);
}

/* Nonzero if rule a (earlier) decides every call rule b matches. */
static int shadows(const struct gw_config *c, const struct pol_rule *a,
		   const struct pol_rule *b)
{
	return (a->kinds & b->kinds) == b->kinds && source_covers(c, a, b) &&
	       glob_covers(a->tzone, b->tzone) &&
	       glob_covers(a->tname, b->tname);
}

static void lint_names(const struct pol_rule *r, const struct gw_config *c,
		       json_t *out)
{
	const struct gw_zone *z;

	if (r->src_kind == POL_SRC_ZONE) {
		z = gw_config_zone(c, r->src);
		if (!z)
			finding(out, r, "source: no zone '%s' in the config",
				r->src);
		else if (!gw_config_zone_as(c, r->src, GW_AGENT))
			finding(out, r,
				"source: '%s' is a tool zone, not an "
				"agent zone: it never calls through the gateway",
				r->src);
	} else if (r->src_kind == POL_SRC_TAG && !tag_exists(c, r->src)) {
		finding(out, r, "source: no zone has the tag '%s'", r->src);
	}
	if (!tzone_exists(c, r->tzone))
		finding(out, r, "target: no tool zone %s '%s' in the config",
			has_glob(r->tzone) ? "matches" : "named", r->tzone);
}

json_t *policy_lint(const struct policy *p, const struct gw_config *c)
{
	json_t *out = json_array();
	long budget = LINT_BUDGET;

	if (!out)
		return NULL;
	for (size_t j = 0; p && j < p->nrules; j++) {
		const struct pol_rule *b = &p->rules[j];
		lint_names(b, c, out);
		for (size_t i = 0; i < j; i++) {
			const struct pol_rule *a = &p->rules[i];
			if (budget-- <= 0) {
				finding(out, b,
					"shadowing not checked from here on "
					"(more than %ld rule pairs)",
					LINT_BUDGET);
				return out;
			}
			if (!shadows(c, a, b))
				continue;
			finding(out, b,
				"never decides anything: %s:%d (%s) matches "
				"every call it matches, first",
				a->file, a->line, a->text);
			break;
		}
	}
	return out;
}
