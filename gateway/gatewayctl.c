/* gatewayctl: the admin's command line for gatewayd. Policy questions
 * (check, explain, list) and edits (allow, deny) work offline on the
 * config and rule files; audit verify and logs read the audit log; the
 * rest (reload, status, stats, pin, unpin) talk to the running daemon
 * over its admin socket. Exit status: 0 ok (allow), 1 deny or failure
 * reported by the daemon, 2 usage or error. */
#include "gw.h"
#include "gw_file.h"
#include "zg_common.h"
#include "zg_version.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CTL_REPLY_MAX (16u << 20)

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: gatewayctl --config FILE COMMAND [ARGS] | --version\n"
		"\n"
		"Policy (offline):\n"
		"  check ZONE TARGET [--args JSON] [--json]   decide one call\n"
		"  explain ZONE TARGET [--args JSON]          every matching "
		"rule, in order\n"
		"  list                                       every rule with "
		"FILE:LINE\n"
		"  lint [--json]                              rules naming "
		"zones, tags or tool\n"
		"                                             zones that do not "
		"exist; shadowed\n"
		"                                             rules (exit 1 on "
		"findings)\n"
		"  allow|deny SOURCE TARGET [OPTION...] [--file NAME] "
		"[--insert | --before FILE:LINE]\n"
		"                                             add a rule "
		"(validated, atomic;\n"
		"                                             refused unless "
		"it decides its pair)\n"
		"Audit (offline):\n"
		"  audit verify [--json] [FILE...]            check the hash "
		"chains (default:\n"
		"                                             the log and its "
		"rotated files);\n"
		"                                             files of several "
		"replicas, in any\n"
		"                                             order, are sorted "
		"into one chain\n"
		"                                             per replica; every "
		"problem with\n"
		"                                             FILE:LINE under its "
		"chain\n"
		"  audit show ID... [--json] [--files FILE...]\n"
		"                                             the record each "
		"audit id\n"
		"                                             (an error's "
		"data.auditId) resolves to\n"
		"  audit logs [--zone ZONE] [--lines N] [--json] [FILE...]\n"
		"                                             every record of "
		"the files (default:\n"
		"                                             the log and its "
		"rotated files), the\n"
		"                                             replicas' chains "
		"merged by time\n"
		"  audit rotate                               start a new log "
		"file now (daemon)\n"
		"  logs ZONE [--lines N] [--json] [FILE...]   that zone's audit "
		"trail (default:\n"
		"                                             the log; FILEs: "
		"merged by time)\n"
		"Daemon (admin socket):\n"
		"  reload                                     reread the config (zones and\n"
		"                                             run-time settings), the "
		"policy\n"
		"                                             and the listeners' token "
		"files\n"
		"  status                                     zones, channels, health "
		"(JSON)\n"
		"  stats [--json]                             calls, denials, latency\n"
		"  pin TOOLZONE | unpin TOOLZONE              pin its tool definitions\n"
		"\n"
		"TARGET: TOOLZONE.TOOL, resource:TOOLZONE.URI or "
		"prompt:TOOLZONE.NAME\n"
		"Exit: 0 allow/ok, 1 deny/failed, 2 error.\n");
}

struct ctl {
	const char *config_path;
	struct gw_config *cfg;
	char err[1024];
};

static int load_config(struct ctl *c)
{
	c->cfg = gw_config_load(c->config_path, c->err, sizeof(c->err));
	if (!c->cfg) {
		fprintf(stderr, "gatewayctl: %s\n", c->err);
		return -1;
	}
	return 0;
}

/* The policy path as shown in FILE:LINE: relative to the config's dir
 * when it is under it. */
static const char *policy_display(const struct gw_config *cfg)
{
	size_t dl = strlen(cfg->dir);

	if (strncmp(cfg->policy, cfg->dir, dl) == 0 && cfg->policy[dl] == '/')
		return cfg->policy + dl + 1;
	return cfg->policy;
}

static struct policy *load_policy(struct ctl *c)
{
	struct policy *p = policy_load(c->cfg->policy, policy_display(c->cfg),
				       c->err, sizeof(c->err));
	if (!p)
		fprintf(stderr, "gatewayctl: %s\n", c->err);
	return p;
}

/* Resolves TARGET as zone z's agent would mean it, the way the gateway
 * routes names: "KIND:" prefix, then for tools and prompts a name whose
 * part before the first '.' is a tool zone of the config means that
 * zone; any other name means z's default_zone (unprefixed names), and
 * without one splits at the first '.'. Resources keep TOOLZONE.URI. */
static int parse_target(const struct gw_config *cfg, const struct gw_zone *z,
			const char *t, struct pol_query *q, char *zbuf,
			size_t zlen)
{
	const char *dot;
	const struct gw_zone *tz = NULL;

	q->kind = POL_TOOL;
	if (strncmp(t, "resource:", 9) == 0) {
		q->kind = POL_RESOURCE;
		t += 9;
	} else if (strncmp(t, "prompt:", 7) == 0) {
		q->kind = POL_PROMPT;
		t += 7;
	} else if (strncmp(t, "tool:", 5) == 0) {
		t += 5;
	}
	if (!*t)
		return -1;
	dot = strchr(t, '.');
	if (dot && (size_t)(dot - t) < zlen) {
		memcpy(zbuf, t, (size_t)(dot - t));
		zbuf[dot - t] = '\0';
		tz = gw_config_zone_as(cfg, zbuf, GW_TOOL);
	}
	if (q->kind != POL_RESOURCE && z->default_zone && !tz) {
		snprintf(zbuf, zlen, "%s", z->default_zone);
		q->tzone = zbuf;
		q->tname = t;
		return 0;
	}
	if (!dot || dot == t || !dot[1] || (size_t)(dot - t) >= zlen)
		return -1;
	q->tzone = zbuf;
	q->tname = dot + 1;
	return 0;
}

static int query_of(struct ctl *c, int argc, char **argv, struct pol_query *q,
		    char *zbuf, size_t zlen, json_t **args, int *as_json)
{
	const struct gw_zone *z;
	json_error_t je;

	if (argc < 2) {
		usage(stderr);
		return -1;
	}
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0 && as_json) {
			*as_json = 1;
		} else if (strcmp(argv[i], "--args") == 0 && i + 1 < argc) {
			*args = json_loads(argv[++i], JSON_REJECT_DUPLICATES,
					   &je);
			if (!json_is_object(*args)) {
				fprintf(stderr, "gatewayctl: --args must be a "
						"JSON object\n");
				return -1;
			}
		} else {
			usage(stderr);
			return -1;
		}
	}
	z = gw_config_zone(c->cfg, argv[0]);
	if (!z) {
		fprintf(stderr, "gatewayctl: no zone '%s' in %s\n", argv[0],
			c->config_path);
		return -1;
	}
	if (parse_target(c->cfg, z, argv[1], q, zbuf, zlen)) {
		fprintf(stderr,
			"gatewayctl: bad target '%s' (TOOLZONE.TOOL, "
			"resource:TOOLZONE.URI, prompt:TOOLZONE.NAME; a bare "
			"name needs the zone's default_zone)\n",
			argv[1]);
		return -1;
	}
	q->zone = z->name;
	q->tags = (const char *const *)z->tags;
	q->ntags = z->ntags;
	/* A call without --args is a call with no arguments. */
	if (!*args)
		*args = json_object();
	q->args = *args;
	return *args ? 0 : -1;
}

/* check and explain: the config, the query from the command line and
 * the policy. Returns the policy (policy_free it) with q filled, or NULL
 * after a message; *args is the caller's to json_decref either way. */
static struct policy *open_query(struct ctl *c, int argc, char **argv,
				 struct pol_query *q, char *zbuf, size_t zlen,
				 json_t **args, int *as_json)
{
	if (load_config(c) ||
	    query_of(c, argc, argv, q, zbuf, zlen, args, as_json))
		return NULL;
	return load_policy(c);
}

static int cmd_check(struct ctl *c, int argc, char **argv)
{
	struct pol_query q = { 0 };
	char zbuf[GW_ZONE_NAME_MAX + 1], rule[4200];
	json_t *args = NULL;
	const struct pol_rule *r;
	struct policy *p;
	int as_json = 0, rc = 2;
	enum pol_decision d;

	p = open_query(c, argc, argv, &q, zbuf, sizeof(zbuf), &args, &as_json);
	if (!p)
		goto out;
	d = policy_decide(p, &q, &r);
	if (r)
		snprintf(rule, sizeof(rule), "%s:%d", r->file, r->line);
	if (as_json)
		printf("{\"decision\":\"%s\",\"rule\":%s%s%s}\n",
		       d == POL_ALLOW ? "allow" : "deny", r ? "\"" : "",
		       r ? rule : "null", r ? "\"" : "");
	else
		printf("%s %s\n", d == POL_ALLOW ? "allow" : "deny",
		       r ? rule : "default");
	rc = d == POL_ALLOW ? 0 : 1;
	policy_free(p);
out:
	json_decref(args);
	return rc;
}

static int cmd_explain(struct ctl *c, int argc, char **argv)
{
	struct pol_query q = { 0 };
	char zbuf[GW_ZONE_NAME_MAX + 1];
	json_t *args = NULL;
	const struct pol_rule *r, *m[64];
	struct policy *p;
	size_t n;
	int rc = 2;
	enum pol_decision d;

	p = open_query(c, argc, argv, &q, zbuf, sizeof(zbuf), &args, NULL);
	if (!p)
		goto out;
	d = policy_decide(p, &q, &r);
	n = policy_explain(p, &q, m, 64);
	for (size_t i = 0; i < n && i < 64; i++)
		printf("%s %s:%d: %s\n", m[i] == r ? "=>" : "  ", m[i]->file,
		       m[i]->line, m[i]->text);
	if (n > 64)
		printf("   ... %zu more\n", n - 64);
	printf("decision: %s%s\n", d == POL_ALLOW ? "allow" : "deny",
	       d == POL_DENY_DEFAULT ? " (default: no rule matches)"
	       : d == POL_DENY_ARGS  ? " (argument condition not met)"
				     : "");
	rc = d == POL_ALLOW ? 0 : 1;
	policy_free(p);
out:
	json_decref(args);
	return rc;
}

static int cmd_list(struct ctl *c)
{
	struct policy *p;

	if (load_config(c))
		return 2;
	p = load_policy(c);
	if (!p)
		return 2;
	for (size_t i = 0; i < policy_nrules(p); i++) {
		const struct pol_rule *r = policy_rule(p, i);
		printf("%s:%d: %s\n", r->file, r->line, r->text);
	}
	policy_free(p);
	return 0;
}

/* ---- lint ---------------------------------------------------------------- */

/* lint [--json]: policy_lint's findings, one FILE:LINE: message a line
 * (or the JSON array). Exit 0 clean, 1 findings, 2 error. */
static int cmd_lint(struct ctl *c, int argc, char **argv)
{
	struct policy *p;
	json_t *f;
	int as_json = 0, rc;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") != 0) {
			fprintf(stderr,
				"gatewayctl: lint: unknown argument '%s'\n",
				argv[i]);
			return 2;
		}
		as_json = 1;
	}
	if (load_config(c))
		return 2;
	p = load_policy(c);
	if (!p)
		return 2;
	f = policy_lint(p, c->cfg);
	policy_free(p);
	if (!f)
		return 2;
	if (as_json) {
		char *s = json_dumps(f, JSON_COMPACT);
		if (s)
			printf("%s\n", s);
		free(s);
	}
	for (size_t i = 0; !as_json && i < json_array_size(f); i++) {
		json_t *w = json_array_get(f, i);
		printf("%s:%d: %s\n",
		       json_string_value(json_object_get(w, "file")),
		       (int)json_integer_value(json_object_get(w, "line")),
		       json_string_value(json_object_get(w, "message")));
	}
	rc = json_array_size(f) ? 1 : 0;
	json_decref(f);
	return rc;
}

/* ---- allow / deny: validated, atomic edits ----------------------------- */

struct edit {
	const char *fname;  /* --file NAME.policy */
	const char *before; /* --before FILE:LINE */
	int insert;	    /* --insert */
	long before_line;
};

/* Builds the rule line from argv (options go to e); returns a malloc'd
 * string, or NULL after a message. */
static char *rule_line(const char *action, int argc, char **argv,
		       struct edit *e)
{
	size_t cap = GW_RULE_LINE_MAX + 1, len = 0;
	char *s = calloc(1, cap);
	int n;

	if (!s)
		return NULL;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--file") == 0 && i + 1 < argc) {
			e->fname = argv[++i];
			continue;
		}
		if (strcmp(argv[i], "--before") == 0 && i + 1 < argc) {
			e->before = argv[++i];
			continue;
		}
		if (strcmp(argv[i], "--insert") == 0) {
			e->insert = 1;
			continue;
		}
		if (strncmp(argv[i], "--", 2) == 0) {
			fprintf(stderr, "gatewayctl: unknown option '%s'\n",
				argv[i]);
			goto fail;
		}
		n = snprintf(s + len, cap - len, "%s%s", len ? " " : "",
			     argv[i]);
		if (n < 0 || (size_t)n >= cap - len)
			goto too_long;
		len += (size_t)n;
		if (i == 1) {
			n = snprintf(s + len, cap - len, " %s", action);
			if (n < 0 || (size_t)n >= cap - len)
				goto too_long;
			len += (size_t)n;
		}
	}
	return s;
too_long:
	fprintf(stderr, "gatewayctl: rule too long\n");
fail:
	free(s);
	return NULL;
}

static int file_ok(const char *name)
{
	size_t l = strlen(name);

	return l > 7 && l < 200 && !strchr(name, '/') && name[0] != '.' &&
	       strcmp(name + l - 7, ".policy") == 0;
}

/* --before FILE:LINE: FILE as gatewayctl prints it (or just its name in
 * the policy directory). Sets e->fname (the file to edit; it points into
 * a static buffer) and e->before_line. Returns 0, or -1 after a message. */
static int parse_before(const struct ctl *c, struct edit *e, int isdir)
{
	const char *colon = strrchr(e->before, ':'), *base;
	static char name[256];
	long long line;

	if (!colon || colon == e->before)
		goto bad;
	if (zg_parse_int(colon + 1, 1, 10000000, &line) != 0)
		goto bad;
	e->before_line = (long)line;
	if ((size_t)(colon - e->before) >= sizeof(name))
		goto bad;
	memcpy(name, e->before, (size_t)(colon - e->before));
	name[colon - e->before] = '\0';
	base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
	if (!isdir) {
		const char *pb = strrchr(c->cfg->policy, '/');
		if (strcmp(base, pb ? pb + 1 : c->cfg->policy) != 0) {
			fprintf(stderr,
				"gatewayctl: --before: %s is not the "
				"policy file\n",
				name);
			return -1;
		}
	} else {
		if (e->fname && strcmp(e->fname, base) != 0) {
			fprintf(stderr,
				"gatewayctl: --before names %s, --file "
				"%s\n",
				base, e->fname);
			return -1;
		}
		e->fname = base;
	}
	return 0;
bad:
	fprintf(stderr, "gatewayctl: --before expects FILE:LINE (as list "
			"prints them)\n");
	return -1;
}

/* The new file text: line inserted before line `at` (1-based; 0 appends)
 * of old. Returns a malloc'd string, or NULL (bad `at` or no memory). */
static char *splice_line(const char *old, size_t olen, const char *line,
			 long at)
{
	size_t off = 0, nlen = olen + strlen(line) + 3;
	char *nw = malloc(nlen);
	long l = 1;

	if (!nw)
		return NULL;
	if (at == 0) {
		snprintf(nw, nlen, "%s%s%s\n", old ? old : "",
			 olen && old[olen - 1] != '\n' ? "\n" : "", line);
		return nw;
	}
	while (l < at && off < olen) {
		const char *nl = memchr(old + off, '\n', olen - off);
		off = nl ? (size_t)(nl - old) + 1 : olen;
		l++;
	}
	if (l < at || (at > 1 && off == olen && old[olen - 1] != '\n')) {
		free(nw);
		return NULL; /* past the end of the file */
	}
	snprintf(nw, nlen, "%.*s%s\n%s", (int)off, old ? old : "", line,
		 old ? old + off : "");
	return nw;
}

/* The rule that decides `SOURCE TARGET` in p for each agent zone the
 * source names (the zone itself when the config has none such). Returns
 * NULL when the rule at file:line decides them all, else the first
 * other rule that decides (or p's default deny: *dflt set). */
static const struct pol_rule *still_decides(const struct ctl *c,
					    const struct policy *p,
					    const char *file, int line,
					    int *dflt, const char **who)
{
	const struct pol_rule *nr = NULL, *r;
	struct pol_query q = { 0 };
	size_t matched = 0;

	for (size_t i = 0; i < policy_nrules(p); i++) {
		r = policy_rule(p, i);
		if (r->line == line && strcmp(r->file, file) == 0)
			nr = r;
	}
	*dflt = 0;
	if (!nr)
		return NULL;
	q.kind = nr->kinds & POL_TOOL	    ? POL_TOOL
		 : nr->kinds & POL_RESOURCE ? POL_RESOURCE
					    : POL_PROMPT;
	q.tzone = nr->tzone;
	q.tname = nr->tname;
	for (size_t i = 0; i <= c->cfg->nzones; i++) {
		const struct gw_zone *z = i < c->cfg->nzones ? &c->cfg->zones[i]
							     : NULL;
		if (z) {
			if (z->role != GW_AGENT ||
			    (nr->src_kind == POL_SRC_ZONE &&
			     strcmp(nr->src, z->name) != 0) ||
			    (nr->src_kind == POL_SRC_TAG &&
			     !gw_zone_has_tag(z, nr->src)))
				continue;
			q.zone = z->name;
			q.tags = (const char *const *)z->tags;
			q.ntags = z->ntags;
		} else if (matched || nr->src_kind != POL_SRC_ZONE) {
			break;
		} else { /* a zone the config does not have (yet) */
			q.zone = nr->src;
			q.tags = NULL;
			q.ntags = 0;
		}
		matched++;
		policy_decide(p, &q, &r);
		if (r != nr) {
			*dflt = r == NULL;
			*who = q.zone;
			return r ? r : nr;
		}
	}
	return NULL;
}

/* The FILE of FILE:LINE for the edited file. */
static char *display_of(const struct ctl *c, const char *fname, int isdir)
{
	return isdir ? gw_path_join(policy_display(c->cfg), fname)
		     : strdup(policy_display(c->cfg));
}

/* Refuses (1) an edit whose new rule would not decide its own pair. */
static int check_decides(const struct ctl *c, const struct policy *p,
			 const char *disp, int line, const char *rule)
{
	int dflt;
	const char *who = NULL;
	const struct pol_rule *r = still_decides(c, p, disp, line, &dflt, &who);

	if (!r)
		return 0;
	if (dflt) {
		fprintf(stderr,
			"gatewayctl: refused, nothing written: the new rule "
			"'%s' would not decide for zone %s\n",
			rule, who);
		return 1;
	}
	fprintf(stderr,
		"gatewayctl: refused, nothing written: %s:%d (%s) still "
		"decides for zone %s, before the new rule '%s'; to put it "
		"first, add --before %s:%d\n",
		r->file, r->line, r->text, who, rule, r->file, r->line);
	return 1;
}

static int cmd_edit(struct ctl *c, const char *action, int argc, char **argv)
{
	struct edit e = { 0 };
	int rc = 2, isdir, line;
	char *text = NULL, *target = NULL, *old = NULL, *nw = NULL;
	char *disp = NULL;
	struct stat st;
	size_t olen = 0, nlen;
	struct policy *p = NULL;

	if (argc < 2 || load_config(c))
		goto usage;
	text = rule_line(action, argc, argv, &e);
	if (!text)
		goto out;
	if (policy_check_line(text, c->err, sizeof(c->err))) {
		fprintf(stderr, "gatewayctl: %s\n", c->err);
		goto out;
	}
	isdir = stat(c->cfg->policy, &st) == 0 && S_ISDIR(st.st_mode);
	if (e.before && parse_before(c, &e, isdir))
		goto out;
	if (isdir) {
		if (!e.fname)
			e.fname = "50-gatewayctl.policy";
		if (!file_ok(e.fname)) {
			fprintf(stderr, "gatewayctl: --file must be NAME.policy"
					"\n");
			goto out;
		}
		target = gw_path_join(c->cfg->policy, e.fname);
	} else {
		target = strdup(c->cfg->policy);
	}
	disp = display_of(c, e.fname, isdir);
	if (!target || !disp)
		goto out;
	if (access(target, F_OK) == 0) {
		old = gw_read_file(target, GW_POLICY_FILE_MAX, &olen, c->err,
				   sizeof(c->err));
		if (!old) {
			fprintf(stderr, "gatewayctl: %s\n", c->err);
			goto out;
		}
	} else if (e.before) {
		fprintf(stderr, "gatewayctl: --before: no file %s\n", disp);
		goto out;
	}
	line = e.before ? (int)e.before_line : e.insert ? 1 : 0;
	nw = splice_line(old, olen, text, line);
	if (!nw) {
		fprintf(stderr, "gatewayctl: --before: %s has no line %ld\n",
			disp, e.before_line);
		goto out;
	}
	nlen = strlen(nw);
	if (!line) /* appended: the file's last line */
		for (size_t i = 0; i < nlen; i++)
			line += nw[i] == '\n';
	/* Validate the whole policy as it will be, then write. */
	p = policy_load_with(c->cfg->policy, policy_display(c->cfg), e.fname,
			     nw, nlen, c->err, sizeof(c->err));
	if (!p) {
		fprintf(stderr, "gatewayctl: refused: %s\n", c->err);
		goto out;
	}
	/* An edit that changes nothing is no edit (an emergency revoke
	 * must revoke): the new rule must decide its own pair. */
	if (check_decides(c, p, disp, line, text)) {
		rc = 1;
		goto out;
	}
	if (gw_write_atomic(target, nw, nlen, c->err, sizeof(c->err))) {
		fprintf(stderr, "gatewayctl: %s\n", c->err);
		goto out;
	}
	printf("%s %s:%d: %s\n",
	       e.before || e.insert ? "inserted at" : "appended at", disp, line,
	       text);
	rc = 0;
	goto out;
usage:
	usage(stderr);
out:
	policy_free(p);
	free(text);
	free(target);
	free(disp);
	free(old);
	free(nw);
	return rc;
}

/* ---- audit ---------------------------------------------------------------- */

/* The configured log's files, oldest first: its rotated files (named
 * PATH.TIMESTAMP, which sorts by age), then PATH. Returns a glob the
 * caller frees with globfree, whose gl_pathv ends with PATH. */
static int log_files(const char *path, glob_t *gl)
{
	char pat[4200];
	int rc;

	if (snprintf(pat, sizeof(pat), "%s.[0-9]*Z", path) >= (int)sizeof(pat))
		return -1;
	memset(gl, 0, sizeof(*gl));
	rc = glob(pat, 0, NULL, gl);
	if (rc != 0 && rc != GLOB_NOMATCH)
		return -1;
	if (rc == GLOB_NOMATCH) {
		globfree(gl);
		memset(gl, 0, sizeof(*gl));
	}
	return 0;
}

static int config_log_files(struct ctl *c, glob_t *gl, const char ***paths,
			    size_t *n);

/* An audit log file opened for reading like gatewayd opens it
 * (gw_open_regular): a FIFO, device or directory in its place is refused
 * at once instead of hanging the reader. The caller fcloses it; NULL
 * after "gatewayctl: PATH: why" on stderr. */
static FILE *open_log(const char *path)
{
	char err[512];
	int fd = gw_open_regular(path, O_RDONLY, 0, err, sizeof(err));
	FILE *f = fd >= 0 ? fdopen(fd, "re") : NULL;

	if (fd < 0) {
		fprintf(stderr, "gatewayctl: %s\n", err);
	} else if (!f) {
		fprintf(stderr, "gatewayctl: %s: %s\n", path, strerror(errno));
		close(fd);
	}
	return f;
}

/* The files named after the command's options (argv[0..argc)), or the
 * configured log's files when none are named: *paths (the caller frees
 * it with free_files). */
struct files {
	const char **paths;
	size_t n;
	glob_t gl;
	int have_gl;
};

static void free_files(struct files *f)
{
	if (f->have_gl) {
		free(f->paths);
		globfree(&f->gl);
	}
	memset(f, 0, sizeof(*f));
}

static int files_of(struct ctl *c, int argc, char **argv, struct files *f)
{
	memset(f, 0, sizeof(*f));
	if (argc > 0) {
		f->paths = (const char **)argv;
		f->n = (size_t)argc;
		return 0;
	}
	if (config_log_files(c, &f->gl, &f->paths, &f->n))
		return -1;
	f->have_gl = 1;
	return 0;
}

static const char *replica_shown(const struct gw_audit_chain *ch)
{
	return ch->replica[0] ? ch->replica : "(unnamed)";
}

/* The verification as one JSON object on stdout. */
static void verify_json(const struct gw_audit_chains *cs, size_t nfiles)
{
	json_t *o = json_object(), *arr = json_array();
	char *s;

	for (size_t i = 0; i < cs->n; i++) {
		const struct gw_audit_chain *ch = &cs->chain[i];
		json_t *fs = json_array(), *ps = json_array();
		for (size_t k = 0; k < ch->nfiles; k++)
			json_array_append_new(fs, json_string(ch->files[k]));
		for (size_t k = 0; k < ch->nproblems; k++)
			json_array_append_new(
				ps, json_pack("{s:s,s:I,s:s}", "file",
					      ch->problems[k].file, "line",
					      (json_int_t)ch->problems[k].line,
					      "problem", ch->problems[k].msg));
		json_array_append_new(
			arr, json_pack("{s:s,s:b,s:b,s:I,s:o,s:o}", "replica",
				       ch->replica, "ok", ch->nproblems == 0,
				       "from_start", ch->from_start, "records",
				       (json_int_t)ch->records, "files", fs,
				       "problems", ps));
	}
	json_object_set_new(o, "ok", json_boolean(cs->problems == 0));
	json_object_set_new(o, "records",
			    json_integer((json_int_t)cs->records));
	json_object_set_new(o, "files", json_integer((json_int_t)nfiles));
	json_object_set_new(o, "problems",
			    json_integer((json_int_t)cs->problems));
	json_object_set_new(o, "chains", arr);
	s = json_dumps(o, JSON_COMPACT);
	if (s)
		puts(s);
	free(s);
	json_decref(o);
}

/* audit verify [--json] [FILE...]: the files (any order, any number of
 * replicas) sorted into chains, every chain verified; every problem with
 * FILE:LINE, under its chain when there are several, then a summary.
 * Checking goes on after a bad record and after a bad chain. */
static int audit_verify(struct ctl *c, int argc, char **argv)
{
	struct gw_audit_chains cs;
	struct files fl;
	size_t nfiles = 0, broken = 0;
	int json = 0, rc = 2;

	if (argc > 0 && strcmp(argv[0], "--json") == 0) {
		json = 1;
		argc--;
		argv++;
	}
	if (files_of(c, argc, argv, &fl))
		return 2;
	if (gw_audit_verify_chains(fl.paths, fl.n, &cs, c->err,
				   sizeof(c->err))) {
		fprintf(stderr, "gatewayctl: %s\n", c->err);
		goto out;
	}
	for (size_t i = 0; i < cs.n; i++) {
		nfiles += cs.chain[i].nfiles;
		broken += cs.chain[i].nproblems > 0;
	}
	rc = cs.problems ? 1 : 0;
	if (json) {
		verify_json(&cs, nfiles);
		goto out;
	}
	for (size_t i = 0; i < cs.n; i++) {
		const struct gw_audit_chain *ch = &cs.chain[i];
		const char *ind = cs.n > 1 ? "  " : "";
		if (cs.n > 1)
			printf("chain %s: %zu record%s in %zu file%s, %s: %s\n",
			       replica_shown(ch), ch->records,
			       ch->records == 1 ? "" : "s", ch->nfiles,
			       ch->nfiles == 1 ? "" : "s",
			       ch->from_start ? "from its start"
					      : "from a rotated file",
			       ch->nproblems ? "BROKEN" : "ok");
		for (size_t k = 0; k < ch->nproblems; k++)
			printf("%s%s:%zu: %s\n", ind, ch->problems[k].file,
			       ch->problems[k].line, ch->problems[k].msg);
	}
	if (cs.n > 1 && cs.problems)
		printf("audit chains BROKEN: %zu of %zu chains, %zu problem%s "
		       "in %zu records (%zu files)\n",
		       broken, cs.n, cs.problems, cs.problems == 1 ? "" : "s",
		       cs.records, nfiles);
	else if (cs.n > 1)
		printf("audit chains ok: %zu chains, %zu records (%zu files)\n",
		       cs.n, cs.records, nfiles);
	else if (cs.problems)
		printf("audit chain BROKEN: %zu problem%s in %zu records "
		       "(%zu file%s)\n",
		       cs.problems, cs.problems == 1 ? "" : "s", cs.records,
		       nfiles, nfiles == 1 ? "" : "s");
	else
		printf("audit chain ok: %zu records (%zu file%s)\n", cs.records,
		       nfiles, nfiles == 1 ? "" : "s");
out:
	gw_audit_chains_free(&cs);
	free_files(&fl);
	return rc;
}

/* The log's files, oldest first, into *paths (caller frees it and
 * globfree's gl). */
static int config_log_files(struct ctl *c, glob_t *gl, const char ***paths,
			    size_t *n)
{
	if (load_config(c))
		return -1;
	if (!c->cfg->audit_log) {
		fprintf(stderr, "gatewayctl: no audit_log in the config\n");
		return -1;
	}
	if (log_files(c->cfg->audit_log, gl))
		return -1;
	*paths = calloc(gl->gl_pathc + 1, sizeof(**paths));
	if (!*paths) {
		globfree(gl);
		return -1;
	}
	*n = 0;
	for (size_t i = 0; i < gl->gl_pathc; i++)
		(*paths)[(*n)++] = gl->gl_pathv[i];
	(*paths)[(*n)++] = c->cfg->audit_log;
	return 0;
}

/* ---- the merged view: records of several chains by time --------------- */

/* One chain's place in the merge: its open file and current record. */
struct mcur {
	const struct gw_audit_chain *ch;
	size_t fi;   /* index of the open file in ch->files */
	FILE *f;     /* NULL before the first and after the last file */
	size_t line; /* of the current record in its file */
	char *buf;
	size_t cap;
	ssize_t len; /* of the current record; -1 at the end */
	char t[40];  /* its time ("" if it has none) */
};

/* Moves m to its chain's next record; -1 if a file cannot be opened. */
static int mcur_next(struct mcur *m)
{
	for (;;) {
		if (m->f) {
			m->len = gw_audit_getline(m->f, &m->buf, &m->cap);
			if (m->len == -2 || m->len == 0) { /* too long to be a
							     * record, or empty */
				m->line++;
				continue;
			}
			if (m->len >= 0) {
				const char *p = m->buf + 9, *q;
				m->line++;
				m->t[0] = '\0';
				/* every record begins {"time":"...": no
				 * parse needed to order them */
				if (strncmp(m->buf, "{\"time\":\"", 9) == 0 &&
				    (q = memchr(p, '"', (size_t)m->len - 9)) &&
				    (size_t)(q - p) < sizeof(m->t)) {
					memcpy(m->t, p, (size_t)(q - p));
					m->t[q - p] = '\0';
				}
				return 0;
			}
			fclose(m->f);
			m->f = NULL;
			m->fi++;
		}
		if (m->fi >= m->ch->nfiles) {
			m->len = -1;
			return 0;
		}
		m->f = open_log(m->ch->files[m->fi]);
		if (!m->f)
			return -1;
		m->line = 0;
	}
}

/* Called for each record in time order; nonzero stops the walk. */
typedef int (*rec_fn)(void *ud, const struct mcur *m, size_t nchains);

/* Walks every record of the chains cs in time order (within a chain,
 * its own order; across chains, the earliest time first). Returns 0,
 * or 2 after a message if a file cannot be read. */
static int merge_walk(const struct gw_audit_chains *cs, rec_fn fn, void *ud)
{
	struct mcur *m = calloc(cs->n ? cs->n : 1, sizeof(*m));
	int rc = 2;

	if (!m)
		return 2;
	for (size_t i = 0; i < cs->n; i++) {
		m[i].ch = &cs->chain[i];
		if (mcur_next(&m[i]))
			goto out;
	}
	for (;;) {
		struct mcur *best = NULL;
		for (size_t i = 0; i < cs->n; i++)
			if (m[i].len > 0 &&
			    (!best || strcmp(m[i].t, best->t) < 0))
				best = &m[i];
		if (!best)
			break;
		if (fn(ud, best, cs->n))
			break;
		if (mcur_next(best))
			goto out;
	}
	rc = 0;
out:
	for (size_t i = 0; i < cs->n; i++) {
		if (m[i].f)
			fclose(m[i].f);
		free(m[i].buf);
	}
	free(m);
	return rc;
}

/* What audit logs and logs print. */
struct logsel {
	const char *zone; /* NULL: every record */
	long max, shown;  /* max 0: no limit */
	int json;
	json_t *want; /* audit show: id -> found flag; NULL otherwise */
};

/* Nonzero if the record line has ,"zone":"ZONE" at its top level (inside
 * a JSON string a quote is always escaped, so that text is structure). */
static int zone_text_is(const char *line, const char *zone)
{
	const char *p = strstr(line, ",\"zone\":\"");
	size_t zl = strlen(zone);

	if (!p)
		return 0;
	p += 9;
	return strncmp(p, zone, zl) == 0 && p[zl] == '"';
}

/* Prints one record as selected: the line itself (prefixed with its
 * replica when several chains are shown), or with --json an object
 * naming replica, file and line with the record (a string if it is not
 * valid JSON). */
static int print_rec(void *ud, const struct mcur *m, size_t nchains)
{
	struct logsel *sel = ud;
	size_t len = (size_t)m->len;
	json_t *j;
	const char *z, *k = NULL;

	while (len && (m->buf[len - 1] == '\n' || m->buf[len - 1] == '\r'))
		len--;
	j = json_loadb(m->buf, len, 0, NULL);
	z = json_string_value(json_object_get(j, "zone"));
	/* A record that is not valid JSON (written by an older gatewayd
	 * from a zone's text) is still shown: its zone field is found by
	 * its text, which no string value can fake. */
	if (!j && sel->zone && zone_text_is(m->buf, sel->zone))
		z = sel->zone;
	if (sel->want) {
		/* its own record, or for an aggregated denial (AGG.N) the
		 * aggregate's opening (id AGG) and closing (aggregate AGG) */
		const char *agg =
			json_string_value(json_object_get(j, "aggregate"));
		k = agg ? agg : json_string_value(json_object_get(j, "id"));
		if (!k || !json_object_get(sel->want, k))
			goto out;
		json_object_set_new(sel->want, k, json_true());
	} else if (sel->zone && !(z && strcmp(z, sel->zone) == 0)) {
		goto out;
	}
	if (sel->max && sel->shown >= sel->max)
		goto out;
	sel->shown++;
	if (sel->json) {
		json_t *o = json_pack("{s:s,s:s,s:I,s:o}", "replica",
				      m->ch->replica, "file",
				      m->ch->files[m->fi], "line",
				      (json_int_t)m->line, "record",
				      j ? json_incref(j)
					: json_stringn(m->buf, len));
		char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
		if (s)
			puts(s);
		free(s);
		json_decref(o);
	} else {
		if (nchains > 1)
			printf("%s ", replica_shown(m->ch));
		fwrite(m->buf, 1, len, stdout);
		putchar('\n');
	}
out:
	json_decref(j);
	return 0;
}

/* Sorts the files into chains for the merged view; a chain that does not
 * verify is shown all the same, with a warning on stderr. */
static int chains_for_view(struct ctl *c, const struct files *fl,
			   struct gw_audit_chains *cs)
{
	if (gw_audit_verify_chains(fl->paths, fl->n, cs, c->err,
				   sizeof(c->err))) {
		fprintf(stderr, "gatewayctl: %s\n", c->err);
		return -1;
	}
	if (cs->problems)
		fprintf(stderr,
			"gatewayctl: warning: %zu problem%s in the audit "
			"chains (gatewayctl audit verify)\n",
			cs->problems, cs->problems == 1 ? "" : "s");
	return 0;
}

/* [--zone ZONE] [--lines N] [--json] [--files] options into sel; returns
 * the index of the first file argument, or -1 after a usage message. */
static int view_opts(int argc, char **argv, int i, struct logsel *sel)
{
	long long n;

	for (; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			sel->json = 1;
		} else if (strcmp(argv[i], "--zone") == 0 && i + 1 < argc &&
			   !sel->want) {
			sel->zone = argv[++i];
		} else if (strcmp(argv[i], "--lines") == 0 && i + 1 < argc) {
			if (zg_parse_int(argv[++i], 0, LONG_MAX, &n) != 0) {
				fprintf(stderr, "gatewayctl: --lines: expected "
						"a count\n");
				return -1;
			}
			sel->max = (long)n;
		} else if (strcmp(argv[i], "--files") == 0) {
			return i + 1;
		} else if (argv[i][0] == '-') {
			usage(stderr);
			return -1;
		} else {
			return i;
		}
	}
	return i;
}

/* audit logs [--zone Z] [--lines N] [--json] [FILE...] and
 * logs ZONE [--lines N] [--json] [FILE...]: the records of the files
 * (default: the configured log and its rotated files for audit logs, the
 * log alone for logs), several replicas' chains merged by time. */
static int view_logs(struct ctl *c, int argc, char **argv, const char *zone,
		     int rotated_too)
{
	struct logsel sel = { .zone = zone };
	struct gw_audit_chains cs = { 0 };
	struct files fl = { 0 };
	int i = view_opts(argc, argv, 0, &sel), rc = 2;

	if (i < 0)
		return 2;
	if (i == argc && !rotated_too) {
		/* the current log alone, as before there were rotations */
		if (load_config(c))
			return 2;
		if (!c->cfg->audit_log) {
			fprintf(stderr, "gatewayctl: no audit_log in the "
					"config\n");
			return 2;
		}
		/* the current log alone: one chain, nothing to sort, read as
		 * it stands (audit verify checks it) */
		struct gw_audit_chain one = {
			.files = (const char **)&c->cfg->audit_log, .nfiles = 1
		};
		struct gw_audit_chains single = { .chain = &one, .n = 1 };
		return merge_walk(&single, print_rec, &sel);
	}
	if (files_of(c, argc - i, argv + i, &fl))
		return 2;
	if (chains_for_view(c, &fl, &cs) == 0)
		rc = merge_walk(&cs, print_rec, &sel);
	gw_audit_chains_free(&cs);
	free_files(&fl);
	return rc;
}

/* audit show ID... [--json] [--files FILE...]: the record each audit id
 * (from an error's data.auditId) resolves to, across the log and its
 * rotated files or the files given (several replicas' chains). */
static int audit_show(struct ctl *c, int argc, char **argv)
{
	struct logsel sel = { 0 };
	struct gw_audit_chains cs = { 0 };
	struct files fl = { 0 };
	int i, rc = 2, missing = 0, nid = 0;
	const char *k;
	json_t *v;

	sel.want = json_object();
	if (!sel.want)
		return 2;
	for (i = 0; i < argc && argv[i][0] != '-'; i++) {
		/* AGG.N: the N-th denial counted under aggregate AGG */
		char *dot = strrchr(argv[i], '.');
		if (dot)
			*dot = '\0';
		json_object_set_new(sel.want, argv[i], json_false());
		nid++;
	}
	i = nid ? view_opts(argc, argv, i, &sel) : -1;
	if (i < 0 || sel.max) {
		if (i >= 0)
			usage(stderr);
		goto out;
	}
	if (files_of(c, argc - i, argv + i, &fl) ||
	    chains_for_view(c, &fl, &cs) || merge_walk(&cs, print_rec, &sel))
		goto out;
	json_object_foreach (sel.want, k, v) {
		if (!json_is_true(v)) {
			fprintf(stderr,
				"gatewayctl: no record for audit id %s\n", k);
			missing = 1;
		}
	}
	rc = missing;
out:
	gw_audit_chains_free(&cs);
	free_files(&fl);
	json_decref(sel.want);
	return rc;
}

static char *admin_call(struct ctl *c, const char *req);

/* audit rotate: asks gatewayd to rotate now (as SIGUSR1 does). */
static int audit_rotate(struct ctl *c)
{
	char *r;
	json_t *rep;
	int rc = 2;

	if (load_config(c))
		return 2;
	r = admin_call(c, "{\"cmd\":\"audit-rotate\"}");
	rep = r ? json_loads(r, 0, NULL) : NULL;
	if (!json_is_object(rep)) {
		fprintf(stderr, "gatewayctl: no reply from gatewayd\n");
	} else if (!json_is_true(json_object_get(rep, "ok"))) {
		fprintf(stderr, "gatewayctl: audit rotate: %s\n",
			json_string_value(json_object_get(rep, "error")));
		rc = 1;
	} else {
		printf("audit log rotated: earlier records are in %s\n",
		       json_string_value(json_object_get(rep, "rotated")));
		rc = 0;
	}
	json_decref(rep);
	free(r);
	return rc;
}

static int cmd_audit(struct ctl *c, int argc, char **argv)
{
	if (argc >= 1 && strcmp(argv[0], "verify") == 0)
		return audit_verify(c, argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[0], "show") == 0)
		return audit_show(c, argc - 1, argv + 1);
	if (argc >= 1 && strcmp(argv[0], "logs") == 0)
		return view_logs(c, argc - 1, argv + 1, NULL, 1);
	if (argc == 1 && strcmp(argv[0], "rotate") == 0)
		return audit_rotate(c);
	usage(stderr);
	return 2;
}

static int cmd_logs(struct ctl *c, int argc, char **argv)
{
	if (argc < 1 || argv[0][0] == '-') {
		usage(stderr);
		return 2;
	}
	return view_logs(c, argc - 1, argv + 1, argv[0], 0);
}

/* ---- daemon commands over the admin socket ------------------------------- */

static char *admin_call(struct ctl *c, const char *req)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = -1;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	ssize_t n;

	if (!c->cfg->admin_socket) {
		fprintf(stderr, "gatewayctl: no admin_socket in the config\n");
		return NULL;
	}
	if (strlen(c->cfg->admin_socket) >= sizeof(sa.sun_path))
		return NULL;
	memcpy(sa.sun_path, c->cfg->admin_socket,
	       strlen(c->cfg->admin_socket) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		fprintf(stderr, "gatewayctl: %s: %s (is gatewayd running?)\n",
			c->cfg->admin_socket, strerror(errno));
		goto fail;
	}
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req) ||
	    write(fd, "\n", 1) != 1)
		goto fail;
	for (;;) {
		if (len + 4096 + 1 > cap) {
			char *nb;
			if (cap >= CTL_REPLY_MAX)
				goto fail;
			cap = cap ? cap * 2 : 8192;
			nb = realloc(buf, cap);
			if (!nb)
				goto fail;
			buf = nb;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (memchr(buf + len - (size_t)n, '\n', (size_t)n))
			break;
	}
	close(fd);
	if (!buf)
		return NULL;
	buf[len] = '\0';
	return buf;
fail:
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

static void print_stats(json_t *rows)
{
	size_t i;
	json_t *r;

	printf("%-16s %-32s %9s %8s %7s %10s %10s\n", "zone", "tool", "calls",
	       "denied", "errors", "p50(us)", "p99(us)");
	json_array_foreach (rows, i, r) {
		printf("%-16s %-32s %9lld %8lld %7lld %10.0f %10.0f\n",
		       json_string_value(json_object_get(r, "zone")),
		       json_string_value(json_object_get(r, "tool")),
		       (long long)json_integer_value(
			       json_object_get(r, "calls")),
		       (long long)json_integer_value(
			       json_object_get(r, "denials")),
		       (long long)json_integer_value(
			       json_object_get(r, "errors")),
		       json_real_value(json_object_get(r, "p50_us")),
		       json_real_value(json_object_get(r, "p99_us")));
	}
}

static int cmd_daemon(struct ctl *c, const char *cmd, int argc, char **argv)
{
	json_t *req = json_pack("{s:s}", "cmd", cmd), *rep = NULL;
	char *s = NULL, *r = NULL;
	int rc = 2, as_json = 0;

	if (strcmp(cmd, "pin") == 0 || strcmp(cmd, "unpin") == 0) {
		if (argc != 1 || argv[0][0] == '-') {
			usage(stderr);
			goto out;
		}
		json_object_set_new(req, "zone", json_string(argv[0]));
	} else {
		for (int i = 0; i < argc; i++) {
			if (strcmp(argv[i], "--json") == 0 &&
			    (strcmp(cmd, "stats") == 0 ||
			     strcmp(cmd, "status") == 0)) {
				as_json = 1;
				continue;
			}
			fprintf(stderr,
				"gatewayctl: %s: unknown argument '%s'\n", cmd,
				argv[i]);
			goto out;
		}
	}
	if (load_config(c) || !req)
		goto out;
	s = json_dumps(req, JSON_COMPACT);
	r = s ? admin_call(c, s) : NULL;
	if (!r)
		goto out;
	rep = json_loads(r, 0, NULL);
	if (!json_is_object(rep)) {
		fprintf(stderr, "gatewayctl: bad reply from gatewayd\n");
		goto out;
	}
	if (!json_is_true(json_object_get(rep, "ok"))) {
		fprintf(stderr, "gatewayctl: %s: %s\n", cmd,
			json_string_value(json_object_get(rep, "error")));
		rc = 1;
		goto out;
	}
	if (strcmp(cmd, "stats") == 0 && !as_json) {
		print_stats(json_object_get(rep, "stats"));
	} else if (strcmp(cmd, "stats") == 0) {
		char *js = json_dumps(json_object_get(rep, "stats"),
				      JSON_INDENT(2));
		if (js)
			printf("%s\n", js);
		free(js);
	} else {
		char *pretty = json_dumps(rep, JSON_INDENT(2));
		if (pretty)
			printf("%s\n", pretty);
		free(pretty);
	}
	rc = 0;
out:
	json_decref(req);
	json_decref(rep);
	free(s);
	free(r);
	return rc;
}

int main(int argc, char **argv)
{
	struct ctl c = { 0 };
	int i = 1, rc;
	const char *cmd;

	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			c.config_path = argv[i + 1];
			i += 2;
		} else if (strcmp(argv[i], "-h") == 0 ||
			   strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "-V") == 0 ||
			   strcmp(argv[i], "--version") == 0) {
			printf("gatewayctl %s\n", ZG_VERSION);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (i >= argc || !c.config_path) {
		usage(stderr);
		return 2;
	}
	cmd = argv[i++];
	argc -= i;
	argv += i;
	if (strcmp(cmd, "check") == 0)
		rc = cmd_check(&c, argc, argv);
	else if (strcmp(cmd, "explain") == 0)
		rc = cmd_explain(&c, argc, argv);
	else if (strcmp(cmd, "list") == 0)
		rc = argc ? (usage(stderr), 2) : cmd_list(&c);
	else if (strcmp(cmd, "lint") == 0)
		rc = cmd_lint(&c, argc, argv);
	else if (strcmp(cmd, "allow") == 0 || strcmp(cmd, "deny") == 0)
		rc = cmd_edit(&c, cmd, argc, argv);
	else if (strcmp(cmd, "audit") == 0)
		rc = cmd_audit(&c, argc, argv);
	else if (strcmp(cmd, "logs") == 0)
		rc = cmd_logs(&c, argc, argv);
	else if (strcmp(cmd, "reload") == 0 || strcmp(cmd, "status") == 0 ||
		 strcmp(cmd, "stats") == 0 || strcmp(cmd, "pin") == 0 ||
		 strcmp(cmd, "unpin") == 0)
		rc = cmd_daemon(&c, cmd, argc, argv);
	else {
		usage(stderr);
		rc = 2;
	}
	gw_config_free(c.cfg);
	return rc;
}
