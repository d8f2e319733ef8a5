/* A zone's `run` block in the gateway's config (docs/zones.md): parsed
 * into a fresh zone_run, every key checked, unknown keys refused with
 * "file:line: message" like the rest of the gateway's config. */
#include "gw.h"
#include "sandbox.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUN_FILE_MAX (4u << 20) /* the config file, as config.c caps it */

struct rerr {
	char *buf;
	size_t len;
	const char *file;
	const char *text;
	size_t run_at; /* offset of the zone's "run" key in text */
};

/* Line number of offset off in text (1-based). */
static int line_at(const char *text, size_t off)
{
	int line = 1;

	for (size_t i = 0; i < off && text[i]; i++)
		line += text[i] == '\n';
	return line;
}

/* The line of `"key":` searched from the run block's start: good enough
 * to point an operator at the key (jansson keeps no positions). */
static int key_line(const struct rerr *e, const char *key)
{
	char pat[96];
	const char *p;
	int n = snprintf(pat, sizeof(pat), "\"%s\"", key);

	if (n < 0 || (size_t)n >= sizeof(pat))
		return line_at(e->text, e->run_at);
	p = strstr(e->text + e->run_at, pat);
	return line_at(e->text, p ? (size_t)(p - e->text) : e->run_at);
}

static int rfail(const struct rerr *e, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int rfail(const struct rerr *e, const char *key, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(e->buf, e->len, "%s:%d: ", e->file, key_line(e, key));

	if (n < 0 || (size_t)n >= e->len)
		return -1;
	va_start(ap, fmt);
	vsnprintf(e->buf + n, e->len - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* An absolute path of at most ZONE_PATH_MAX bytes with no "." or ".."
 * component, no empty component and no control bytes. */
static int path_ok(const char *p)
{
	size_t n = strlen(p);

	if (n < 2 || n > ZONE_PATH_MAX || p[0] != '/' || p[n - 1] == '/')
		return 0;
	for (const char *s = p; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	for (const char *c = p; c && *c; c = strchr(c + 1, '/')) {
		const char *x = c + 1;
		size_t l = strcspn(x, "/");
		if (l == 0 || (l == 1 && x[0] == '.') ||
		    (l == 2 && x[0] == '.' && x[1] == '.'))
			return 0;
	}
	return 1;
}

/* Zone paths the sandbox itself provides may not be targets. */
static int zone_path_reserved(const char *p)
{
	static const char *const res[] = { "/proc",  "/dev", "/.zonegate",
					   "/usr",   "/etc", "/lib",
					   "/lib64", "/bin", "/sbin" };

	for (size_t i = 0; i < sizeof(res) / sizeof(res[0]); i++) {
		size_t l = strlen(res[i]);
		if (strncmp(p, res[i], l) == 0 && (p[l] == 0 || p[l] == '/'))
			return 1;
	}
	return strcmp(p, "/tmp") == 0;
}

/* command: an array of strings, the first an absolute zone path. */
static int argv_of(const struct rerr *e, json_t *v, struct zone_run *r)
{
	size_t i;
	json_t *a;

	if (!json_is_array(v) || json_array_size(v) == 0 ||
	    json_array_size(v) > ZONE_ARGV_MAX)
		return rfail(e, "command",
			     "command must be an array of 1..%d strings",
			     ZONE_ARGV_MAX);
	r->argv = calloc(json_array_size(v) + 1, sizeof(char *));
	if (!r->argv)
		return rfail(e, "command", "out of memory");
	json_array_foreach (v, i, a) {
		if (!json_is_string(a) ||
		    strlen(json_string_value(a)) > ZONE_PATH_MAX)
			return rfail(e, "command",
				     "command[%zu] must be a string of at "
				     "most %d bytes",
				     i, ZONE_PATH_MAX);
		r->argv[i] = strdup(json_string_value(a));
		if (!r->argv[i])
			return rfail(e, "command", "out of memory");
		r->argc++;
	}
	if (r->argv[0][0] != '/')
		return rfail(e, "command",
			     "command[0] must be an absolute zone path");
	return 0;
}

/* An object of zone path -> host path (files.in or files.ro). */
static int map_of(const struct rerr *e, const char *what, json_t *v,
		  struct zone_map **out, size_t *n)
{
	const char *k;
	json_t *h;

	if (!json_is_object(v) || json_object_size(v) > ZONE_MAP_MAX)
		return rfail(e, what,
			     "files.%s must be an object of at most %d "
			     "zone path: host path entries",
			     what, ZONE_MAP_MAX);
	*out = calloc(json_object_size(v) + 1, sizeof(**out));
	if (!*out)
		return rfail(e, what, "out of memory");
	json_object_foreach (v, k, h) {
		if (!path_ok(k) || zone_path_reserved(k))
			return rfail(e, k,
				     "files.%s: zone path '%.64s' must be "
				     "absolute, normalised and not under "
				     "/proc, /dev, /usr, /etc, /lib*, /bin, "
				     "/sbin or /.zonegate",
				     what, k);
		if (!json_is_string(h) || !path_ok(json_string_value(h)))
			return rfail(e, k,
				     "files.%s: host path for '%.64s' must "
				     "be an absolute, normalised path",
				     what, k);
		(*out)[*n].zone = strdup(k);
		(*out)[*n].host = strdup(json_string_value(h));
		if (!(*out)[*n].zone || !(*out)[*n].host)
			return rfail(e, k, "out of memory");
		(*n)++;
	}
	return 0;
}

/* An integer in lo..hi into *out, else an error naming key. */
static int u64_of(const struct rerr *e, const char *key, json_t *v, uint64_t lo,
		  uint64_t hi, uint64_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < (json_int_t)lo ||
	    (uint64_t)json_integer_value(v) > hi)
		return rfail(e, key, "%s must be an integer in %llu..%llu", key,
			     (unsigned long long)lo, (unsigned long long)hi);
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

/* files.out: zone and host directories, optional caps. */
static int out_of(const struct rerr *e, json_t *v, struct zone_run *r)
{
	const char *k;
	json_t *x;

	if (!json_is_object(v))
		return rfail(e, "out", "files.out must be an object");
	json_object_foreach (v, k, x) {
		char **dst = NULL;
		if (strcmp(k, "zone") == 0)
			dst = &r->out_zone;
		else if (strcmp(k, "host") == 0)
			dst = &r->out_host;
		else if (strcmp(k, "max_bytes") == 0) {
			if (u64_of(e, k, x, 1, 1ULL << 40, &r->out_max_bytes))
				return -1;
			continue;
		} else if (strcmp(k, "max_files") == 0) {
			if (u64_of(e, k, x, 1, 10000000, &r->out_max_files))
				return -1;
			continue;
		} else
			return rfail(e, k, "files.out: unknown key '%.64s'", k);
		if (!json_is_string(x) || !path_ok(json_string_value(x)))
			return rfail(e, k,
				     "files.out.%s must be an absolute, "
				     "normalised path",
				     k);
		*dst = strdup(json_string_value(x));
		if (!*dst)
			return rfail(e, k, "out of memory");
	}
	if (!r->out_zone || !r->out_host)
		return rfail(e, "out", "files.out needs zone and host");
	if (zone_path_reserved(r->out_zone))
		return rfail(e, "zone",
			     "files.out.zone may not be a "
			     "directory the sandbox provides");
	return 0;
}

/* files: in, ro, out. */
static int files_of(const struct rerr *e, json_t *v, struct zone_run *r)
{
	const char *k;
	json_t *x;

	if (!json_is_object(v))
		return rfail(e, "files", "files must be an object");
	json_object_foreach (v, k, x) {
		int rc;
		if (strcmp(k, "in") == 0)
			rc = map_of(e, "in", x, &r->in, &r->nin);
		else if (strcmp(k, "ro") == 0)
			rc = map_of(e, "ro", x, &r->ro, &r->nro);
		else if (strcmp(k, "out") == 0)
			rc = out_of(e, x, r);
		else
			rc = rfail(e, k, "files: unknown key '%.64s'", k);
		if (rc)
			return -1;
	}
	return 0;
}

int zone_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	if (!s || !*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	if (*end == 'k' || *end == 'K')
		mul = 1ULL << 10;
	else if (*end == 'm' || *end == 'M')
		mul = 1ULL << 20;
	else if (*end == 'g' || *end == 'G')
		mul = 1ULL << 30;
	else if (*end)
		return -1;
	if (*end && end[1])
		return -1;
	if (v > (1ULL << 50) / mul)
		return -1;
	*out = v * mul;
	return 0;
}

/* limits: memory (a size), pids, cpu (cores). */
static int limits_of(const struct rerr *e, json_t *v, struct zone_run *r)
{
	const char *k;
	json_t *x;
	uint64_t u;

	if (!json_is_object(v))
		return rfail(e, "limits", "limits must be an object");
	json_object_foreach (v, k, x) {
		if (strcmp(k, "memory") == 0) {
			if (!(json_is_string(x) &&
			      zone_parse_size(json_string_value(x), &r->mem) ==
				      0 &&
			      r->mem >= (4u << 20)))
				return rfail(e, k,
					     "limits.memory must be a size "
					     "of at least 4m (e.g. \"128m\", "
					     "\"1g\")");
		} else if (strcmp(k, "pids") == 0) {
			if (u64_of(e, k, x, 1, 1000000, &u))
				return -1;
			r->pids = (long)u;
		} else if (strcmp(k, "cpu") == 0) {
			if (!json_is_number(x) || json_number_value(x) < 0.01 ||
			    json_number_value(x) > 1024)
				return rfail(e, k,
					     "limits.cpu must be a number of "
					     "cores in 0.01..1024");
			r->cpu = json_number_value(x);
		} else
			return rfail(e, k, "limits: unknown key '%.64s'", k);
	}
	return 0;
}

/* env: names without "=", string values; stored as "K=V". */
static int env_of(const struct rerr *e, json_t *v, struct zone_run *r)
{
	const char *k;
	json_t *x;

	if (!json_is_object(v) || json_object_size(v) > ZONE_MAP_MAX)
		return rfail(e, "env",
			     "env must be an object of at most %d "
			     "strings",
			     ZONE_MAP_MAX);
	r->env = calloc(json_object_size(v) + 1, sizeof(char *));
	if (!r->env)
		return rfail(e, "env", "out of memory");
	json_object_foreach (v, k, x) {
		size_t kl = strlen(k);
		if (kl == 0 || kl > 128 || strchr(k, '=') ||
		    !json_is_string(x) ||
		    strlen(json_string_value(x)) > ZONE_PATH_MAX)
			return rfail(e, k,
				     "env: '%.64s' must be a name without "
				     "'=' and a string value",
				     k);
		size_t n = kl + strlen(json_string_value(x)) + 2;
		r->env[r->nenv] = malloc(n);
		if (!r->env[r->nenv])
			return rfail(e, k, "out of memory");
		snprintf(r->env[r->nenv], n, "%s=%s", k, json_string_value(x));
		r->nenv++;
	}
	return 0;
}

/* "sandbox": true | false | {layer: bool...} (the object for tests and
 * diagnosis: each layer can be turned off alone). */
static int sandbox_of(const struct rerr *e, json_t *v, struct zone_layers *l)
{
	const char *k;
	json_t *x;

	if (json_is_boolean(v)) {
		if (!json_is_true(v))
			memset(l, 0, sizeof(*l));
		return 0;
	}
	if (!json_is_object(v))
		return rfail(e, "sandbox",
			     "sandbox must be true, false or an object of "
			     "layer switches");
	json_object_foreach (v, k, x) {
		int *dst;
		if (strcmp(k, "mount") == 0)
			dst = &l->mount;
		else if (strcmp(k, "netns") == 0)
			dst = &l->netns;
		else if (strcmp(k, "seccomp") == 0)
			dst = &l->seccomp;
		else if (strcmp(k, "landlock") == 0)
			dst = &l->landlock;
		else if (strcmp(k, "drop_caps") == 0)
			dst = &l->drop_caps;
		else
			return rfail(e, k, "sandbox: unknown layer '%.64s'", k);
		if (!json_is_boolean(x))
			return rfail(e, k, "sandbox.%s must be true or false",
				     k);
		*dst = json_is_true(x);
	}
	return 0;
}

/* network.egress: an array of "HOST:PORT" strings, no duplicates. */
static int egress_of(const struct rerr *e, json_t *v, struct zone_egress *g)
{
	size_t i;
	json_t *x;

	if (!json_is_array(v) || json_array_size(v) == 0 ||
	    json_array_size(v) > ZONE_EGRESS_MAX)
		return rfail(e, "egress",
			     "network.egress must be an array of 1..%d "
			     "\"HOST:PORT\" strings",
			     ZONE_EGRESS_MAX);
	json_array_foreach (v, i, x) {
		struct zone_dest *d = &g->dest[g->n];
		if (!json_is_string(x) ||
		    zone_dest_parse(json_string_value(x), d) < 0)
			return rfail(
				e, "egress",
				"network.egress[%zu] must be \"HOST:PORT\" "
				"(a DNS name or IP literal, [V6]:PORT, port "
				"1..65535)",
				i);
		for (size_t j = 0; j < g->n; j++)
			if (g->dest[j].port == d->port &&
			    strcmp(g->dest[j].host, d->host) == 0)
				return rfail(e, "egress",
					     "network.egress[%zu] repeats "
					     "%s:%d",
					     i, d->host, d->port);
		g->n++;
	}
	return 0;
}

/* "network": "none", or {"egress": [...], "max_connections": N,
 * "max_bytes": N, "idle_timeout": SECS}. */
static int network_of(const struct rerr *e, json_t *v, struct zone_egress *g)
{
	const char *k;
	json_t *x;
	uint64_t u;

	if (json_is_string(v) && strcmp(json_string_value(v), "none") == 0)
		return 0;
	if (!json_is_object(v))
		return rfail(e, "network",
			     "network must be \"none\" or an object "
			     "{\"egress\": [\"HOST:PORT\", ...]}");
	json_object_foreach (v, k, x) {
		int rc = 0;
		if (strcmp(k, "egress") == 0)
			rc = egress_of(e, x, g);
		else if (strcmp(k, "max_connections") == 0) {
			rc = u64_of(e, k, x, 1, 1024, &u);
			g->max_conns = (long)u;
		} else if (strcmp(k, "max_bytes") == 0)
			rc = u64_of(e, k, x, 1, 1ULL << 40, &g->max_bytes);
		else if (strcmp(k, "idle_timeout") == 0) {
			rc = u64_of(e, k, x, 1, 86400, &u);
			g->idle_s = (long)u;
		} else
			rc = rfail(e, k, "network: unknown key '%.64s'", k);
		if (rc)
			return -1;
	}
	if (g->n == 0)
		return rfail(e, "network", "network: egress is missing");
	return 0;
}

/* The run block's keys into r; every key known or an error. */
static int run_of(const struct rerr *e, json_t *o, struct zone_run *r)
{
	const char *k;
	json_t *v;
	int rc = 0;

	json_object_foreach (o, k, v) {
		if (strcmp(k, "command") == 0)
			rc = argv_of(e, v, r);
		else if (strcmp(k, "files") == 0)
			rc = files_of(e, v, r);
		else if (strcmp(k, "limits") == 0)
			rc = limits_of(e, v, r);
		else if (strcmp(k, "env") == 0)
			rc = env_of(e, v, r);
		else if (strcmp(k, "sandbox") == 0)
			rc = sandbox_of(e, v, &r->layers);
		else if (strcmp(k, "network") == 0)
			rc = network_of(e, v, &r->egress);
		else if (strcmp(k, "restart") == 0) {
			const char *s = json_string_value(v);
			if (!s || (strcmp(s, "no") && strcmp(s, "on-failure") &&
				   strcmp(s, "always")))
				rc = rfail(e, k,
					   "restart must be \"no\", "
					   "\"on-failure\" or \"always\"");
			else
				r->restart = s[0] == 'n' ? ZONE_RESTART_NO
					     : s[0] == 'o'
						     ? ZONE_RESTART_ON_FAILURE
						     : ZONE_RESTART_ALWAYS;
		} else
			rc = rfail(e, k, "zone %s: run: unknown key '%.64s'",
				   r->name, k);
		if (rc)
			return -1;
	}
	if (!r->argv)
		return rfail(e, "run", "zone %s: run needs a command", r->name);
	if (!r->env) {
		r->env = calloc(1, sizeof(char *));
		if (!r->env)
			return rfail(e, "run", "out of memory");
	}
	return 0;
}

struct zone_run *zone_run_load(const char *file, const char *name, char *err,
			       size_t errlen)
{
	struct gw_config *gc = NULL;
	const struct gw_zone *gz, *tz;
	struct zone_run *r = NULL;
	char *text = NULL;
	json_t *root = NULL, *run;
	json_error_t je;
	struct rerr e = { err, errlen, file, NULL, 0 };
	char pat[80];
	const char *zp, *rp;
	int ok = 0;

	gc = gw_config_load(file, err, errlen);
	if (!gc)
		return NULL;
	gz = gw_config_zone(gc, name);
	if (!gz) {
		snprintf(err, errlen, "%s: no zone '%.64s'", file, name);
		goto out;
	}
	text = gw_read_file(file, RUN_FILE_MAX, NULL, err, errlen);
	if (!text)
		goto out;
	root = json_loads(text, JSON_REJECT_DUPLICATES, &je);
	run = json_object_get(json_object_get(json_object_get(root, "zones"),
					      name),
			      "run");
	if (!run) {
		snprintf(err, errlen, "%s: zone %s has no run block", file,
			 name);
		goto out;
	}
	snprintf(pat, sizeof(pat), "\"%s\"", name);
	zp = strstr(text, pat);
	rp = zp ? strstr(zp, "\"run\"") : NULL;
	e.text = text;
	e.run_at = rp ? (size_t)(rp - text) : 0;
	r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	snprintf(r->name, sizeof(r->name), "%s", gz->name);
	r->domid = gz->domid;
	r->out_max_bytes = ZONE_OUT_BYTES_DEF;
	r->out_max_files = ZONE_OUT_FILES_DEF;
	r->mem = ZONE_MEM_DEF;
	r->pids = ZONE_PIDS_DEF;
	r->layers = (struct zone_layers){ 1, 1, 1, 1, 1, 1 };
	r->egress.max_conns = ZONE_EGRESS_CONNS_DEF;
	r->egress.max_bytes = ZONE_EGRESS_BYTES_DEF;
	r->egress.idle_s = ZONE_EGRESS_IDLE_DEF;
	if (gz->chan && strncmp(gz->chan, "sim:", 4) == 0) {
		r->chan = strdup(gz->chan);
		if (!r->chan) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
	}
	tz = gz->both ? gw_config_zone_as(gc, name, GW_TOOL) : NULL;
	if (tz && tz->chan && strncmp(tz->chan, "sim:", 4) == 0) {
		r->tool_chan = strdup(tz->chan);
		if (!r->tool_chan) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
	}
	if (run_of(&e, run, r))
		goto out;
	ok = 1;
out:
	if (!ok) {
		zone_run_free(r);
		r = NULL;
	}
	json_decref(root);
	free(text);
	gw_config_free(gc);
	return r;
}

/* Frees n entries of m and m itself. */
static void maps_free(struct zone_map *m, size_t n)
{
	for (size_t i = 0; m && i < n; i++) {
		free(m[i].zone);
		free(m[i].host);
	}
	free(m);
}

void zone_run_free(struct zone_run *r)
{
	if (!r)
		return;
	for (size_t i = 0; r->argv && r->argv[i]; i++)
		free(r->argv[i]);
	free(r->argv);
	for (size_t i = 0; r->env && r->env[i]; i++)
		free(r->env[i]);
	free(r->env);
	maps_free(r->in, r->nin + 1);
	maps_free(r->ro, r->nro + 1);
	free(r->out_zone);
	free(r->out_host);
	free(r->chan);
	free(r->tool_chan);
	free(r);
}
