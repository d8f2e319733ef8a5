/* The gateway's JSON configuration (docs/operations.md): parsed whole into
 * a fresh structure, every key validated, errors reported as
 * "file:line: message". Unknown keys are errors, so typos never silently
 * weaken the setup. */
#include "gw.h"
#include "utf8.h"
#include "zg_common.h"

#include <arpa/inet.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zonegate/chan.h>

#include "client_http.h"
#include "mcp_state.h"
#include <sys/random.h>

struct cerr {
	char *buf;
	size_t len;
	const char *file;
	const char *text; /* the config text, to find lines of keys */
};

/* The line of the first `"key"` used as a key at or after *from; *from
 * advances past it so nested lookups stay inside their object. Returns 1
 * (the first line) when not found. */
static int line_of(const struct cerr *e, const char *key, size_t *from)
{
	return (int)zg_json_key_line(e->text, key, from);
}

static int cfail(const struct cerr *e, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int cfail(const struct cerr *e, int line, const char *fmt, ...)
{
	va_list ap;
	int n = mcp_utf8_snprintf(e->buf, e->len, "%s:%d: ", e->file, line);

	if (n < 0 || (size_t)n >= e->len)
		return -1;
	va_start(ap, fmt);
	mcp_utf8_vsnprintf(e->buf + n, e->len - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

int gw_zone_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > GW_ZONE_NAME_MAX || *s == '-')
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		      *s == '-'))
			return 0;
	return 1;
}

/* A DNS-1123 name of at most max characters (dots allowed if dots). */
static int dns_name_ok(const char *s, size_t max, int dots)
{
	size_t n = s ? strlen(s) : 0;

	if (!n || n > max || s[0] == '-' || s[n - 1] == '-')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		      (dots && s[i] == '.')))
			return 0;
	return 1;
}

int gw_k8s_name_ok(const char *s, int is_ns)
{
	return is_ns ? dns_name_ok(s, 63, 0) : dns_name_ok(s, 253, 1);
}

int gw_zone_has_tag(const struct gw_zone *z, const char *tag)
{
	for (size_t i = 0; i < z->ntags; i++)
		if (strcmp(z->tags[i], tag) == 0)
			return 1;
	return 0;
}

const struct gw_zone *gw_config_zone(const struct gw_config *c,
				     const char *name)
{
	for (size_t i = 0; c && i < c->nzones; i++)
		if (strcmp(c->zones[i].name, name) == 0)
			return &c->zones[i];
	return NULL;
}

const struct gw_zone *gw_config_zone_as(const struct gw_config *c,
					const char *name, enum gw_role role)
{
	for (size_t i = 0; c && i < c->nzones; i++)
		if (c->zones[i].role == role &&
		    strcmp(c->zones[i].name, name) == 0)
			return &c->zones[i];
	return NULL;
}

void gw_config_free(struct gw_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nzones; i++) {
		struct gw_zone *z = &c->zones[i];
		for (size_t t = 0; t < z->ntags; t++)
			free(z->tags[t]);
		free(z->tags);
		free(z->chan);
		free(z->default_zone);
		free(z->url);
		free(z->ca_file);
		for (size_t h = 0; h < z->nhdr; h++) {
			free(z->hdr_names[h]);
			free(z->hdr_files[h]);
		}
		free(z->hdr_names);
		free(z->hdr_files);
		free(z->k8s_ns);
		free(z->k8s_sa);
	}
	free(c->zones);
	for (size_t i = 0; i < c->nlisteners; i++) {
		free(c->listeners[i].listen);
		free(c->listeners[i].unix_path);
		free(c->listeners[i].token_file);
		free(c->listeners[i].host);
		free(c->listeners[i].tls_cert);
		free(c->listeners[i].tls_key);
		free(c->listeners[i].k8s_audience);
		free(c->listeners[i].k8s_issuer);
		free(c->listeners[i].k8s_jwks);
	}
	free(c->listeners);
	free(c->path);
	free(c->dir);
	free(c->policy);
	free(c->admin_socket);
	free(c->admin_group);
	free(c->audit_log);
	free(c->replica);
	free(c->pins);
	free(c->metrics);
	free(c->state_key_file);
	if (c->state_keys)
		memset(c->state_keys, 0, sizeof(*c->state_keys));
	free(c->state_keys);
	free(c);
}

static int tags_of(const struct cerr *e, int line, json_t *v, struct gw_zone *z)
{
	size_t i;
	json_t *t;

	if (!json_is_array(v) || json_array_size(v) > GW_MAX_TAGS)
		return cfail(e, line,
			     "zone %s: tags must be an array of at "
			     "most %d names",
			     z->name, GW_MAX_TAGS);
	z->tags = calloc(json_array_size(v) + 1, sizeof(char *));
	if (!z->tags)
		return cfail(e, line, "out of memory");
	json_array_foreach (v, i, t) {
		const char *s = json_string_value(t);
		if (!s || !gw_zone_name_ok(s))
			return cfail(e, line,
				     "zone %s: bad tag (tags are "
				     "[a-z0-9][a-z0-9-]{0,62})",
				     z->name);
		z->tags[z->ntags] = strdup(s);
		if (!z->tags[z->ntags++])
			return cfail(e, line, "out of memory");
	}
	return 0;
}

/* A header name that headers_from may set: a token, not one the MCP
 * client sets itself (mcp_hc_header_reserved, which mcp_hc_set_headers
 * checks again). */
static int hdr_name_ok(const char *k)
{
	size_t n = strlen(k);

	if (n == 0 || n > 64)
		return 0;
	for (const char *c = k; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '-' || *c == '_'))
			return 0;
	return !mcp_hc_header_reserved(k, n);
}

static int headers_from_of(const struct cerr *e, int line, json_t *v,
			   const char *dir, struct gw_zone *z)
{
	const char *k;
	json_t *f;
	size_t n = json_object_size(v);

	if (!json_is_object(v) || n > GW_HEADERS_FROM_MAX)
		return cfail(e, line,
			     "zone %s: headers_from must be an object of at "
			     "most %d header names to files",
			     z->name, GW_HEADERS_FROM_MAX);
	z->hdr_names = calloc(n + 1, sizeof(char *));
	z->hdr_files = calloc(n + 1, sizeof(char *));
	if (!z->hdr_names || !z->hdr_files)
		return cfail(e, line, "out of memory");
	json_object_foreach (v, k, f) {
		if (!hdr_name_ok(k))
			return cfail(e, line,
				     "zone %s: headers_from: '%.*s' is not a "
				     "header name it may set",
				     z->name, (int)gw_utf8_prefix(k, 64), k);
		if (!json_is_string(f) || json_string_length(f) == 0 ||
		    json_string_length(f) > 1024)
			return cfail(e, line,
				     "zone %s: headers_from: %s must name a "
				     "file",
				     z->name, k);
		z->hdr_names[z->nhdr] = strdup(k);
		z->hdr_files[z->nhdr] = gw_path_join(dir, json_string_value(f));
		if (!z->hdr_names[z->nhdr] || !z->hdr_files[z->nhdr++])
			return cfail(e, line, "out of memory");
	}
	return 0;
}

/* The keys of a remote tool zone (url, ca_file, insecure_http,
 * headers_from). Returns 1 if k was one of them (and *rc its result), 0
 * if not. */
static int remote_key(const struct cerr *e, int line, const char *k, json_t *v,
		      const char *dir, struct gw_zone *z, int *rc)
{
	*rc = 0;
	if (strcmp(k, "url") == 0) {
		if (!json_is_string(v))
			*rc = cfail(e, line, "zone %s: url must be a string",
				    z->name);
		else if (!(z->url = strdup(json_string_value(v))))
			*rc = cfail(e, line, "out of memory");
	} else if (strcmp(k, "ca_file") == 0) {
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) > 1024)
			*rc = cfail(e, line,
				    "zone %s: ca_file must be a non-empty path",
				    z->name);
		else if (!(z->ca_file =
				   gw_path_join(dir, json_string_value(v))))
			*rc = cfail(e, line, "out of memory");
	} else if (strcmp(k, "insecure_http") == 0) {
		if (!json_is_boolean(v))
			*rc = cfail(e, line,
				    "zone %s: insecure_http must be a boolean",
				    z->name);
		z->insecure_http = json_is_true(v);
	} else if (strcmp(k, "headers_from") == 0) {
		*rc = headers_from_of(e, line, v, dir, z);
	} else {
		return 0;
	}
	return 1;
}

/* A tool zone's capacity (max_inflight, agent_max_inflight: gw_admit.c).
 * Returns 1 if k was one of them (and *rc its result), 0 if not. */
static int capacity_key(const struct cerr *e, int line, const char *k,
			json_t *v, struct gw_zone *z, int *rc)
{
	int *dst = strcmp(k, "max_inflight") == 0 ? &z->max_inflight
		   : strcmp(k, "agent_max_inflight") == 0
			   ? &z->agent_max_inflight
			   : NULL;

	*rc = 0;
	if (!dst)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > GW_TZ_INFLIGHT_MAX)
		*rc = cfail(e, line, "zone %s: %s must be an integer in 1..%d",
			    z->name, k, GW_TZ_INFLIGHT_MAX);
	else
		*dst = (int)json_integer_value(v);
	return 1;
}

/* After every key: the capacity keys are a tool zone's, and one agent
 * zone's share is at most the whole. */
static int capacity_check(const struct cerr *e, int zl, struct gw_zone *z,
			  struct gw_zone *tw)
{
	if (!z->max_inflight && !z->agent_max_inflight)
		return 0;
	if (z->role != GW_TOOL && !z->both)
		return cfail(e, zl,
			     "zone %s: max_inflight and agent_max_inflight "
			     "are for tool zones",
			     z->name);
	if (z->agent_max_inflight &&
	    z->agent_max_inflight > (z->max_inflight
					     ? z->max_inflight
					     : GW_TZ_INFLIGHT_DEFAULT_CFG))
		return cfail(e, zl,
			     "zone %s: agent_max_inflight %d is more than "
			     "max_inflight %d",
			     z->name, z->agent_max_inflight,
			     z->max_inflight ? z->max_inflight
					     : GW_TZ_INFLIGHT_DEFAULT_CFG);
	if (z->both) { /* its tool side has them */
		tw->max_inflight = z->max_inflight;
		tw->agent_max_inflight = z->agent_max_inflight;
	}
	return 0;
}

/* "k8s": {"namespace": NS, "serviceAccount": SA}: the pod's service
 * account that identifies agent zone z on a k8s listener. */
static int k8s_zone_of(const struct cerr *e, int line, json_t *v,
		       struct gw_zone *z)
{
	const char *k, *ns, *sa;
	json_t *x;

	if (!json_is_object(v))
		return cfail(e, line,
			     "zone %s: k8s must be an object "
			     "{\"namespace\", \"serviceAccount\"}",
			     z->name);
	json_object_foreach (v, k, x)
		if (strcmp(k, "namespace") && strcmp(k, "serviceAccount"))
			return cfail(e, line,
				     "zone %s: k8s: unknown key '%.*s'",
				     z->name, (int)gw_utf8_prefix(k, 64), k);
	ns = json_string_value(json_object_get(v, "namespace"));
	sa = json_string_value(json_object_get(v, "serviceAccount"));
	if (!gw_k8s_name_ok(ns, 1))
		return cfail(e, line,
			     "zone %s: k8s: namespace must be a DNS-1123 "
			     "label (a-z, 0-9, '-', at most 63)",
			     z->name);
	if (!gw_k8s_name_ok(sa, 0))
		return cfail(e, line,
			     "zone %s: k8s: serviceAccount must be a DNS-1123 "
			     "name (a-z, 0-9, '-', '.', at most 253)",
			     z->name);
	z->k8s_ns = strdup(ns);
	z->k8s_sa = strdup(sa);
	if (!z->k8s_ns || !z->k8s_sa)
		return cfail(e, line, "out of memory");
	return 0;
}

/* A zone identified by k8s: an agent zone with neither chan nor url; its
 * domid is optional (-1: none). */
static int k8s_zone_check(const struct cerr *e, int zl, json_t *o,
			  struct gw_zone *z)
{
	if (z->role != GW_AGENT || z->both)
		return cfail(e, zl,
			     "zone %s: k8s identifies agent zones (role "
			     "\"agent\")",
			     z->name);
	if (z->chan || z->url)
		return cfail(e, zl,
			     "zone %s: give one of chan, url and k8s, not "
			     "several",
			     z->name);
	if (!json_object_get(o, "domid"))
		z->domid = -1;
	return 0;
}

/* After every key of a zone: chan or url as its role needs, the remote
 * keys only with url, url acceptable (http:// only to loopback unless
 * insecure_http). */
static int zone_check(const struct cerr *e, int zl, json_t *o,
		      struct gw_zone *z)
{
	char uerr[160];

	if (z->k8s_ns && json_object_get(o, "role"))
		return k8s_zone_check(e, zl, o, z);
	if (!json_object_get(o, "role") || !json_object_get(o, "domid") ||
	    (!z->chan && !z->url && z->role != GW_AGENT))
		return cfail(e, zl,
			     "zone %s: needs domid, role and chan (or url)",
			     z->name);
	if (!z->url)
		return z->ca_file || z->nhdr || z->insecure_http
			       ? cfail(e, zl,
				       "zone %s: ca_file, headers_from and "
				       "insecure_http need url",
				       z->name)
			       : 0;
	if (z->chan || z->role != GW_TOOL)
		return cfail(e, zl,
			     "zone %s: url is for tool zones, instead of chan",
			     z->name);
	if (!mcp_hc_url_ok(z->url, z->insecure_http, uerr, sizeof(uerr)))
		return cfail(e, zl, "zone %s: %s", z->name, uerr);
	return 0;
}

/* "role": "agent", "tool", or both as ["agent", "tool"] (either order;
 * "both" is the same). Sets z->role (a zone that is both: GW_AGENT, its
 * agent side) and z->both. Returns 0, or -1 if v is none of these. */
static int role_of(json_t *v, struct gw_zone *z)
{
	const char *r = json_string_value(v), *r2;

	if (json_is_array(v) && json_array_size(v) == 2) {
		r = json_string_value(json_array_get(v, 0));
		r2 = json_string_value(json_array_get(v, 1));
		if (!r || !r2 ||
		    !((strcmp(r, "agent") == 0 && strcmp(r2, "tool") == 0) ||
		      (strcmp(r, "tool") == 0 && strcmp(r2, "agent") == 0)))
			return -1;
		r = "both";
	}
	z->both = 0;
	if (r && strcmp(r, "agent") == 0)
		z->role = GW_AGENT;
	else if (r && strcmp(r, "tool") == 0)
		z->role = GW_TOOL;
	else if (r && strcmp(r, "both") == 0)
		z->both = 1, z->role = GW_AGENT;
	else
		return -1;
	return 0;
}

/* A zone that is both: its tool side tw (tw->chan already set from
 * tool_chan) gets the zone's name, domid and tags. Returns 0 or -1. */
static int twin_of(const struct cerr *e, int zl, const struct gw_zone *z,
		   struct gw_zone *tw)
{
	char aerr[256];
	struct chan_addr a;

	if (!z->chan || !tw->chan)
		return cfail(e, zl,
			     "zone %s: a zone that is both agent and tool "
			     "needs chan (its agent side) and tool_chan (its "
			     "tool side)",
			     z->name);
	if (z->url)
		return cfail(e, zl,
			     "zone %s: url is for tool zones: a zone that is "
			     "both has tool_chan",
			     z->name);
	if (chan_addr_parse(tw->chan, &a, aerr, sizeof(aerr)) == 0 &&
	    a.domid != z->domid)
		return cfail(e, zl,
			     "zone %s: tool_chan domain %d is not its domid "
			     "%d",
			     z->name, a.domid, z->domid);
	memcpy(tw->name, z->name, sizeof(tw->name));
	tw->domid = z->domid;
	tw->role = GW_TOOL;
	tw->both = 1;
	tw->tags = calloc(z->ntags + 1, sizeof(char *));
	if (!tw->tags)
		return cfail(e, zl, "out of memory");
	for (size_t i = 0; i < z->ntags; i++) {
		tw->tags[i] = strdup(z->tags[i]);
		if (!tw->tags[i])
			return cfail(e, zl, "out of memory");
		tw->ntags++;
	}
	return 0;
}

/* Zone name = o into z; a zone that is both agent and tool fills tw
 * too (its tool side; the caller counts it only if z->both). Returns 0,
 * or -1 with err. */
static int zone_of(const struct cerr *e, const char *name, json_t *o,
		   const char *dir, struct gw_zone *z, struct gw_zone *tw,
		   size_t *pos)
{
	const char *k;
	json_t *v;
	int zl = line_of(e, name, pos), line;
	size_t at;
	struct chan_addr a;
	char aerr[256];
	int rc;

	if (!gw_zone_name_ok(name))
		return cfail(e, zl,
			     "bad zone name '%.*s' (must match "
			     "[a-z0-9][a-z0-9-]{0,62})",
			     (int)gw_utf8_prefix(name, 64), name);
	snprintf(z->name, sizeof(z->name), "%s", name);
	if (!json_is_object(o))
		return cfail(e, zl, "zone %s: must be an object", name);
	json_object_foreach (o, k, v) {
		at = *pos;
		line = line_of(e, k, &at);
		if (strcmp(k, "domid") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) < 0 ||
			    json_integer_value(v) > 32751)
				return cfail(e, line,
					     "zone %s: domid must be "
					     "0..32751",
					     name);
			z->domid = (int)json_integer_value(v);
		} else if (strcmp(k, "role") == 0) {
			if (role_of(v, z))
				return cfail(e, line,
					     "zone %s: role must be "
					     "\"agent\", \"tool\" or "
					     "[\"agent\", \"tool\"] (both)",
					     name);
		} else if (strcmp(k, "tags") == 0) {
			if (tags_of(e, line, v, z))
				return -1;
		} else if (strcmp(k, "chan") == 0 ||
			   strcmp(k, "tool_chan") == 0) {
			char **dst = k[0] == 'c' ? &z->chan : &tw->chan;
			if (!json_is_string(v) ||
			    chan_addr_parse(json_string_value(v), &a, aerr,
					    sizeof(aerr)))
				return cfail(e, line, "zone %s: %s", name,
					     json_is_string(v)
						     ? aerr
						     : "chan must be a string");
			*dst = strdup(json_string_value(v));
			if (!*dst)
				return cfail(e, line, "out of memory");
		} else if (strcmp(k, "default_zone") == 0) {
			if (!json_is_string(v) ||
			    !gw_zone_name_ok(json_string_value(v)))
				return cfail(e, line,
					     "zone %s: default_zone "
					     "must be a zone name",
					     name);
			z->default_zone = strdup(json_string_value(v));
			if (!z->default_zone)
				return cfail(e, line, "out of memory");
		} else if (remote_key(e, line, k, v, dir, z, &rc)) {
			if (rc)
				return -1;
		} else if (capacity_key(e, line, k, v, z, &rc)) {
			if (rc)
				return -1;
		} else if (strcmp(k, "k8s") == 0) {
			if (k8s_zone_of(e, line, v, z))
				return -1;
		} else if (strcmp(k, "run") == 0) {
			/* zonectl's block (docs/zones.md), parsed and
			 * checked there; the gateway only passes it by. */
			if (!json_is_object(v))
				return cfail(e, line,
					     "zone %s: run must be an object",
					     name);
		} else {
			return cfail(e, line, "zone %s: unknown key '%.*s'",
				     name, (int)gw_utf8_prefix(k, 64), k);
		}
	}
	if (tw->chan && !z->both)
		return cfail(e, zl,
			     "zone %s: tool_chan is only for a zone that is "
			     "both agent and tool (\"role\": [\"agent\", "
			     "\"tool\"])",
			     name);
	if (z->both && twin_of(e, zl, z, tw))
		return -1;
	if (capacity_check(e, zl, z, tw))
		return -1;
	if (zone_check(e, zl, o, z))
		return -1;
	if (z->chan && chan_addr_parse(z->chan, &a, aerr, sizeof(aerr)) == 0 &&
	    a.domid != z->domid)
		return cfail(e, zl,
			     "zone %s: chan domain %d is not its domid "
			     "%d",
			     name, a.domid, z->domid);
	return 0;
}

static int check_zones(const struct cerr *e, struct gw_config *c)
{
	for (size_t i = 0; i < c->nzones; i++) {
		const struct gw_zone *z = &c->zones[i], *d;
		for (size_t j = 0; j < i; j++) {
			if (z->k8s_ns && c->zones[j].k8s_ns &&
			    strcmp(c->zones[j].k8s_ns, z->k8s_ns) == 0 &&
			    strcmp(c->zones[j].k8s_sa, z->k8s_sa) == 0)
				return cfail(e, line_of(e, z->name, NULL),
					     "zone %s: k8s service account "
					     "%s/%s already identifies %s",
					     z->name, z->k8s_ns, z->k8s_sa,
					     c->zones[j].name);
			if (c->zones[j].domid == z->domid && z->domid >= 0 &&
			    !(z->both &&
			      strcmp(c->zones[j].name, z->name) == 0))
				return cfail(e, line_of(e, z->name, NULL),
					     "zone %s: domid %d already used "
					     "by %s",
					     z->name, z->domid,
					     c->zones[j].name);
			if (c->zones[j].chan && z->chan &&
			    strcmp(c->zones[j].chan, z->chan) == 0)
				return cfail(e, line_of(e, z->name, NULL),
					     "zone %s: chan already used by %s",
					     z->name, c->zones[j].name);
		}
		if (!z->default_zone)
			continue;
		d = gw_config_zone_as(c, z->default_zone, GW_TOOL);
		if (z->role != GW_AGENT || !d)
			return cfail(e, line_of(e, z->name, NULL),
				     "zone %s: default_zone must name a tool "
				     "zone (agent zones only)",
				     z->name);
	}
	return 0;
}

static int zones_of(const struct cerr *e, int line, json_t *v,
		    struct gw_config *c)
{
	const char *k;
	json_t *z;
	size_t pos;

	if (!json_is_object(v) || json_object_size(v) == 0 ||
	    json_object_size(v) > GW_MAX_ZONES)
		return cfail(e, line, "zones must be an object of 1..%d zones",
			     GW_MAX_ZONES);
	/* room for two entries per zone (one that is both: its sides) */
	c->zones = calloc(2 * json_object_size(v) + 1, sizeof(*c->zones));
	if (!c->zones)
		return cfail(e, line, "out of memory");
	pos = 0;
	line_of(e, "zones", &pos);
	json_object_foreach (v, k, z) {
		struct gw_zone *gz = &c->zones[c->nzones];
		/* counted before parsing: what it holds is freed on failure */
		c->nzones += 2;
		if (zone_of(e, k, z, c->dir, gz, gz + 1, &pos))
			return -1;
		if (!gz->both) {
			c->nzones--;
			free(gz[1].chan);
			gz[1].chan = NULL;
		}
	}
	return check_zones(e, c);
}

static int str_path(const struct cerr *e, int line, const char *key, json_t *v,
		    const struct gw_config *c, char **out)
{
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) > 1024)
		return cfail(e, line, "%s must be a non-empty path", key);
	*out = gw_path_join(c->dir, json_string_value(v));
	return *out ? 0 : cfail(e, line, "out of memory");
}

static int int_in(const struct cerr *e, int line, const char *key, json_t *v,
		  long min, long max, long *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max)
		return cfail(e, line, "%s must be an integer in %ld..%ld", key,
			     min, max);
	*out = (long)json_integer_value(v);
	return 0;
}

/* Whether s is all of a TCP port number, 0..65535 (zg_parse_int: no
 * sign, space or trailing text). */
static int port_ok(const char *s)
{
	long long p;

	return zg_parse_int(s, 0, 65535, &p) == 0;
}

static int metrics_of(const struct cerr *e, int line, json_t *v,
		      struct gw_config *c)
{
	const char *s = json_string_value(v);

	if (!s)
		return cfail(e, line, "metrics must be a string");
	if (strncmp(s, "unix:", 5) == 0) {
		size_t n = strlen(s) + strlen(c->dir) + 8;
		c->metrics = malloc(n);
		if (!c->metrics)
			return cfail(e, line, "out of memory");
		if (s[5] == '/')
			snprintf(c->metrics, n, "%s", s);
		else
			snprintf(c->metrics, n, "unix:%s/%s", c->dir, s + 5);
		return 0;
	}
	if (strncmp(s, "127.0.0.1:", 10) != 0 || !port_ok(s + 10))
		return cfail(e, line,
			     "metrics must be 127.0.0.1:PORT "
			     "(loopback only) or unix:PATH");
	c->metrics = strdup(s);
	return c->metrics ? 0 : cfail(e, line, "out of memory");
}

/* l->host (a numeric IPv4 address or [IPv6]) from "HOST:PORT" up to
 * its last ':' at colon; sets l->loopback. */
static int listen_host(const struct cerr *e, int line, const char *s,
		       const char *colon, struct gw_listener *l)
{
	size_t n = (size_t)(colon - s);
	unsigned char a[16];
	char h[64];

	if (n >= 2 && s[0] == '[' && s[n - 1] == ']')
		s++, n -= 2;
	if (!n || n >= sizeof(h))
		return cfail(e, line,
			     "listeners: listen must be HOST:PORT (a numeric "
			     "address) or unix:PATH");
	memcpy(h, s, n);
	h[n] = '\0';
	if (inet_pton(AF_INET, h, a) == 1)
		l->loopback = a[0] == 127;
	else if (inet_pton(AF_INET6, h, a) == 1)
		l->loopback = IN6_IS_ADDR_LOOPBACK((struct in6_addr *)a);
	else
		return cfail(e, line,
			     "listeners: '%.*s' is not a numeric IP address",
			     (int)gw_utf8_prefix(h, 64), h);
	l->host = strdup(h);
	return l->host ? 0 : cfail(e, line, "out of memory");
}

/* "unix:PATH" (relative to the config) or "HOST:PORT" (a numeric
 * address; off loopback only with tls, checked by the caller). */
static int listen_addr(const struct cerr *e, int line, const char *s,
		       const struct gw_config *c, struct gw_listener *l)
{
	const char *colon = strrchr(s, ':');
	long long p;

	if (strncmp(s, "unix:", 5) == 0) {
		if (!s[5] || strlen(s + 5) > 100)
			return cfail(e, line,
				     "listeners: unix path must be "
				     "1..100 characters");
		l->unix_path = gw_path_join(c->dir, s + 5);
		if (!l->unix_path)
			return cfail(e, line, "out of memory");
		if (strlen(l->unix_path) >= 108)
			return cfail(e, line, "listeners: unix path too long");
		return 0;
	}
	if (!colon || listen_host(e, line, s, colon, l))
		return colon ? -1
			     : cfail(e, line,
				     "listeners: listen must be HOST:PORT "
				     "(a numeric address) or unix:PATH");
	if (zg_parse_int(colon + 1, 0, 65535, &p) < 0)
		return cfail(e, line, "listeners: bad port in '%.*s'",
			     (int)gw_utf8_prefix(s, 64), s);
	l->port = (unsigned short)p;
	return 0;
}

static int listener_uid(const struct cerr *e, int line, json_t *o,
			struct gw_listener *l)
{
	json_t *u = json_object_get(o, "uid"), *n = json_object_get(o, "user");

	if (u && n)
		return cfail(e, line, "listeners: give uid or user, not both");
	if (u) {
		if (!json_is_integer(u) || json_integer_value(u) < 0 ||
		    json_integer_value(u) > 2147483647)
			return cfail(e, line,
				     "listeners: uid must be an "
				     "integer >= 0");
		l->uid = (uid_t)json_integer_value(u);
		l->has_uid = 1;
	} else if (n) {
		struct passwd *pw;
		if (!json_is_string(n))
			return cfail(e, line,
				     "listeners: user must be a "
				     "string");
		pw = getpwnam(json_string_value(n));
		if (!pw)
			return cfail(e, line,
				     "listeners: user '%.*s' does "
				     "not exist",
				     (int)gw_utf8_prefix(json_string_value(n),
							 64),
				     json_string_value(n));
		l->uid = pw->pw_uid;
		l->has_uid = 1;
	}
	return 0;
}

/* An object of only the string keys names[0..n) (all required, each a
 * path relative to the config when paths[i]); out[i] get copies. */
static int str_block(const struct cerr *e, int line, const char *what,
		     json_t *v, const char *const *names, const int *paths,
		     size_t n, const struct gw_config *c, char **out)
{
	const char *k;
	json_t *x;
	size_t i;
	char key[64];

	if (!json_is_object(v))
		return cfail(e, line, "listeners: %s must be an object", what);
	json_object_foreach (v, k, x) {
		for (i = 0; i < n && strcmp(k, names[i]); i++)
			;
		if (i == n)
			return cfail(e, line,
				     "listeners: %s: unknown key '%.*s'", what,
				     (int)gw_utf8_prefix(k, 64), k);
	}
	for (i = 0; i < n; i++) {
		x = json_object_get(v, names[i]);
		snprintf(key, sizeof(key), "listeners: %s.%s", what, names[i]);
		if (paths[i]) {
			if (str_path(e, line, key, x, c, &out[i]))
				return -1;
			continue;
		}
		if (!json_is_string(x) || json_string_length(x) == 0 ||
		    json_string_length(x) > 1024)
			return cfail(e, line, "%s must be a non-empty string",
				     key);
		out[i] = strdup(json_string_value(x));
		if (!out[i])
			return cfail(e, line, "out of memory");
	}
	return 0;
}

/* "tls": {"cert", "key"} and "k8s": {"audience", "issuer", "jwks"}. */
static int listener_tls_k8s(const struct cerr *e, int line, json_t *o,
			    const struct gw_config *c, struct gw_listener *l)
{
	static const char *const tls[] = { "cert", "key" };
	static const char *const k8s[] = { "audience", "issuer", "jwks" };
	static const int tls_paths[] = { 1, 1 }, k8s_paths[] = { 0, 0, 1 };
	json_t *v = json_object_get(o, "tls");
	char *out[3] = { NULL, NULL, NULL };

	if (v && str_block(e, line, "tls", v, tls, tls_paths, 2, c, out)) {
		free(out[0]);
		free(out[1]);
		return -1;
	}
	l->tls_cert = out[0];
	l->tls_key = out[1];
	v = json_object_get(o, "k8s");
	memset(out, 0, sizeof(out));
	if (v && str_block(e, line, "k8s", v, k8s, k8s_paths, 3, c, out)) {
		for (int i = 0; i < 3; i++)
			free(out[i]);
		return -1;
	}
	l->k8s_audience = out[0];
	l->k8s_issuer = out[1];
	l->k8s_jwks = out[2];
	if (l->unix_path && (l->tls_cert || l->k8s_audience))
		return cfail(e, line,
			     "listeners: tls and k8s are for TCP listeners");
	if (!l->unix_path && !l->loopback && !l->tls_cert)
		return cfail(e, line,
			     "listeners: %.*s is not a loopback address: a "
			     "listener off loopback needs tls (cert and key), "
			     "so that no token crosses a network in clear",
			     (int)gw_utf8_prefix(l->listen, 64), l->listen);
	if (l->k8s_audience &&
	    (json_object_get(o, "zone") || json_object_get(o, "token_file") ||
	     json_object_get(o, "uid") || json_object_get(o, "user")))
		return cfail(e, line,
			     "listeners: a k8s listener binds no zone: each "
			     "token names its zone (no zone, token_file, uid "
			     "or user)");
	return 0;
}

static int listener_of(const struct cerr *e, int line, json_t *o,
		       struct gw_config *c, struct gw_listener *l)
{
	const char *k, *s;
	json_t *v;

	l->line = line;
	if (!json_is_object(o))
		return cfail(e, line, "listeners: each must be an object");
	json_object_foreach (o, k, v) {
		if (strcmp(k, "listen") && strcmp(k, "zone") &&
		    strcmp(k, "token_file") && strcmp(k, "uid") &&
		    strcmp(k, "user") && strcmp(k, "tls") && strcmp(k, "k8s"))
			return cfail(e, line, "listeners: unknown key '%.*s'",
				     (int)gw_utf8_prefix(k, 64), k);
	}
	s = json_string_value(json_object_get(o, "listen"));
	if (!s)
		return cfail(e, line, "listeners: listen is required");
	l->listen = strdup(s);
	if (!l->listen)
		return cfail(e, line, "out of memory");
	if (listen_addr(e, line, s, c, l) || listener_tls_k8s(e, line, o, c, l))
		return -1;
	if (l->k8s_audience)
		return 0;
	s = json_string_value(json_object_get(o, "zone"));
	if (!s || !gw_zone_name_ok(s))
		return cfail(e, line, "listeners: zone must be a zone name");
	snprintf(l->zone, sizeof(l->zone), "%s", s);
	v = json_object_get(o, "token_file");
	if (v &&
	    str_path(e, line, "listeners: token_file", v, c, &l->token_file))
		return -1;
	if (listener_uid(e, line, o, l))
		return -1;
	if (!l->unix_path && !l->token_file)
		return cfail(e, line,
			     "listeners: a TCP listener needs "
			     "token_file");
	if (!l->unix_path && l->has_uid)
		return cfail(e, line,
			     "listeners: uid/user apply to unix "
			     "listeners only");
	if (l->unix_path && !l->token_file && !l->has_uid)
		return cfail(e, line,
			     "listeners: a unix listener needs uid, "
			     "user or token_file");
	return 0;
}

static int listeners_of(const struct cerr *e, int line, json_t *v,
			struct gw_config *c)
{
	size_t i, pos = 0;
	json_t *o;

	if (!json_is_array(v) || json_array_size(v) > GW_MAX_LISTENERS)
		return cfail(e, line,
			     "listeners must be an array of at most "
			     "%d listeners",
			     GW_MAX_LISTENERS);
	c->listeners = calloc(json_array_size(v) + 1, sizeof(*c->listeners));
	if (!c->listeners)
		return cfail(e, line, "out of memory");
	line_of(e, "listeners", &pos);
	json_array_foreach (v, i, o) {
		int l = line_of(e, "listen", &pos);
		if (listener_of(e, l > line ? l : line, o, c,
				&c->listeners[c->nlisteners++]))
			return -1;
	}
	return 0;
}

/* After every key: listeners name agent zones, listen addresses are
 * unique, and an agent zone without chan is served by some listener. */
static int check_listeners(const struct cerr *e, const struct gw_config *c)
{
	int k8s = 0;

	for (size_t i = 0; i < c->nlisteners; i++) {
		const struct gw_listener *l = &c->listeners[i];
		const struct gw_zone *z =
			gw_config_zone_as(c, l->zone, GW_AGENT);
		k8s |= l->k8s_audience != NULL;
		if (!z && !l->k8s_audience)
			return cfail(e, l->line,
				     "listeners: zone %s must be "
				     "an agent zone of \"zones\"",
				     l->zone);
		for (size_t j = 0; j < i; j++)
			if (strcmp(c->listeners[j].listen, l->listen) == 0 &&
			    (l->unix_path || l->port))
				return cfail(e, l->line,
					     "listeners: %.*s is "
					     "used twice",
					     (int)gw_utf8_prefix(l->listen, 64),
					     l->listen);
	}
	for (size_t i = 0; i < c->nzones; i++) {
		const struct gw_zone *z = &c->zones[i];
		size_t j;
		if (z->chan || z->url || (z->k8s_ns && k8s))
			continue;
		if (z->k8s_ns)
			return cfail(e, line_of(e, z->name, NULL),
				     "zone %s: k8s needs a listener with k8s "
				     "(the zone's pods reach the gateway "
				     "there)",
				     z->name);
		for (j = 0; j < c->nlisteners; j++)
			if (strcmp(c->listeners[j].zone, z->name) == 0)
				break;
		if (j == c->nlisteners)
			return cfail(e, line_of(e, z->name, NULL),
				     "zone %s: "
				     "needs chan (or a listener bound to it)",
				     z->name);
	}
	return 0;
}

const struct gw_zone *gw_config_k8s_zone(const struct gw_config *c,
					 const char *ns, const char *sa)
{
	for (size_t i = 0; i < c->nzones; i++)
		if (c->zones[i].k8s_ns && strcmp(c->zones[i].k8s_ns, ns) == 0 &&
		    strcmp(c->zones[i].k8s_sa, sa) == 0)
			return &c->zones[i];
	return NULL;
}

int gw_listener_token(const struct gw_listener *l, char *out, size_t outlen,
		      char *err, size_t errlen)
{
	size_t len, n;
	char *t = gw_read_file(l->token_file, 65536, &len, err, errlen);
	int rc = -1;

	if (!t)
		return -1;
	n = strcspn(t, "\r\n");
	if (n < GW_TOKEN_MIN || n > GW_TOKEN_MAX || n >= outlen) {
		snprintf(err, errlen,
			 "%s: the token (first line) must be "
			 "%d..%d characters",
			 l->token_file, GW_TOKEN_MIN, GW_TOKEN_MAX);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)t[i] <= ' ' || (unsigned char)t[i] > '~') {
			snprintf(err, errlen,
				 "%s: the token must be printable "
				 "ASCII without spaces",
				 l->token_file);
			goto out;
		}
	}
	memcpy(out, t, n);
	out[n] = '\0';
	rc = 0;
out:
	memset(t, 0, len);
	free(t);
	return rc;
}

void gw_zone_headers_free(char **lines, size_t n)
{
	for (size_t i = 0; lines && i < n; i++) {
		if (lines[i]) {
			memset(lines[i], 0, strlen(lines[i]));
			free(lines[i]);
		}
	}
	free(lines);
}

/* "state_key_file": the file of hex keys that seals held calls' state
 * (mcp_state_keys_load's format and checks), read now so that a bad one
 * fails the load with its file:line. */
static int state_keys_of(const struct cerr *e, int line, json_t *v,
			 struct gw_config *c)
{
	char err[512];

	if (str_path(e, line, "state_key_file", v, c, &c->state_key_file))
		return -1;
	if (mcp_state_keys_load(c->state_key_file, c->state_keys, err,
				sizeof(err)) != 0)
		return cfail(e, line, "state_key_file: %s", err);
	return 0;
}

/* "NAME: first line of file"; NULL with err (never the value). */
static char *header_line(const char *name, const char *file, char *err,
			 size_t errlen)
{
	size_t len, n, ll;
	char *t = gw_read_file(file, 65536, &len, err, errlen);
	char *l = NULL;

	if (!t)
		return NULL;
	n = strcspn(t, "\r\n");
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)t[i];
		if (c < 0x20 || c == 0x7f) {
			snprintf(err, errlen,
				 "%s: the value must be one line of printable "
				 "text",
				 file);
			goto out;
		}
	}
	if (n == 0 || n > GW_HEADER_VALUE_MAX) {
		snprintf(err, errlen,
			 "%s: the value (first line) must be "
			 "1..%d bytes",
			 file, GW_HEADER_VALUE_MAX);
		goto out;
	}
	ll = strlen(name) + 2 + n + 1;
	l = malloc(ll);
	if (!l) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	snprintf(l, ll, "%s: %.*s", name, (int)n, t);
out:
	memset(t, 0, len);
	free(t);
	return l;
}

int gw_zone_headers(const struct gw_zone *z, char ***lines, size_t *n,
		    char *err, size_t errlen)
{
	char **l = calloc(z->nhdr + 1, sizeof(*l));

	*lines = NULL;
	*n = 0;
	if (!l) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < z->nhdr; i++) {
		l[i] = header_line(z->hdr_names[i], z->hdr_files[i], err,
				   errlen);
		if (!l[i]) {
			gw_zone_headers_free(l, i);
			return -1;
		}
	}
	*lines = l;
	*n = z->nhdr;
	return 0;
}

static int key_of(const struct cerr *e, const char *k, json_t *v,
		  struct gw_config *c)
{
	int line = line_of(e, k, NULL);
	long n;

	if (strcmp(k, "zones") == 0)
		return zones_of(e, line, v, c);
	if (strcmp(k, "policy") == 0)
		return str_path(e, line, k, v, c, &c->policy);
	if (strcmp(k, "admin_socket") == 0)
		return str_path(e, line, k, v, c, &c->admin_socket);
	if (strcmp(k, "audit_log") == 0)
		return str_path(e, line, k, v, c, &c->audit_log);
	if (strcmp(k, "pins") == 0)
		return str_path(e, line, k, v, c, &c->pins);
	if (strcmp(k, "metrics") == 0)
		return metrics_of(e, line, v, c);
	if (strcmp(k, "listeners") == 0)
		return listeners_of(e, line, v, c);
	if (strcmp(k, "admin_group") == 0) {
		struct group *g;
		if (!json_is_string(v))
			return cfail(e, line, "admin_group must be a string");
		g = getgrnam(json_string_value(v));
		if (!g)
			return cfail(e, line,
				     "admin_group '%.*s' does not "
				     "exist",
				     (int)gw_utf8_prefix(json_string_value(v),
							 64),
				     json_string_value(v));
		c->admin_gid = g->gr_gid;
		c->has_admin_gid = 1;
		c->admin_group = strdup(json_string_value(v));
		return c->admin_group ? 0 : cfail(e, line, "out of memory");
	}
	if (strcmp(k, "replica") == 0) {
		if (!json_is_string(v) || !gw_replica_ok(json_string_value(v)))
			return cfail(e, line,
				     "replica must be 1..%d of "
				     "[A-Za-z0-9._-]",
				     GW_REPLICA_MAX);
		c->replica = strdup(json_string_value(v));
		return c->replica ? 0 : cfail(e, line, "out of memory");
	}
	if (strcmp(k, "audit_args") == 0) {
		if (!json_is_boolean(v))
			return cfail(e, line, "audit_args must be a boolean");
		c->audit_args = json_is_true(v);
		return 0;
	}
	if (strcmp(k, "call_timeout_ms") == 0)
		return int_in(e, line, k, v, 1, 86400000, &c->call_timeout_ms);
	if (strcmp(k, "reload_interval_ms") == 0) {
		if (int_in(e, line, k, v, 0, 3600000, &n))
			return -1;
		c->reload_interval_ms = (int)n;
		return 0;
	}
	if (strcmp(k, "audit_flush_ms") == 0) {
		if (int_in(e, line, k, v, 0, 10000, &n))
			return -1;
		c->audit_flush_ms = (int)n;
		return 0;
	}
	if (strcmp(k, "audit_denials_per_s") == 0) {
		if (int_in(e, line, k, v, 0, 1000000, &n))
			return -1;
		c->audit_denials_per_s = (int)n;
		return 0;
	}
	if (strcmp(k, "zone_denials_per_s") == 0) {
		if (int_in(e, line, k, v, 0, 1000000, &n))
			return -1;
		c->zone_denials_per_s = (int)n;
		return 0;
	}
	if (strcmp(k, "audit_rotate_mb") == 0) {
		if (int_in(e, line, k, v, 0, 1000000, &n))
			return -1;
		c->audit_rotate_bytes = (uint64_t)n << 20;
		return 0;
	}
	if (strcmp(k, "list_page_size") == 0) {
		if (int_in(e, line, k, v, 1, 10000, &n))
			return -1;
		c->list_page_size = (unsigned)n;
		return 0;
	}
	if (strcmp(k, "catalogue_max_bytes") == 0) {
		if (int_in(e, line, k, v, 64L << 10, 1L << 30, &n))
			return -1;
		c->catalogue_max_bytes = (size_t)n;
		return 0;
	}
	if (strcmp(k, "state_key_file") == 0)
		return state_keys_of(e, line, v, c);
	if (strcmp(k, "held_max") == 0) {
		if (int_in(e, line, k, v, 0, 4096, &n))
			return -1;
		c->held_max = (unsigned)n;
		return 0;
	}
	if (strcmp(k, "held_idle_ms") == 0)
		return int_in(e, line, k, v, 0, 3600000, &c->held_idle_ms);
	if (strcmp(k, "tasks_max") == 0) {
		if (int_in(e, line, k, v, 0, 65536, &n))
			return -1;
		c->tasks_max = (unsigned)n;
		return 0;
	}
	if (strcmp(k, "max_message") == 0) {
		if (int_in(e, line, k, v, 1024, 64L << 20, &n))
			return -1;
		c->max_message = (size_t)n;
		return 0;
	}
	return cfail(e, line, "unknown key '%.*s'", (int)gw_utf8_prefix(k, 64),
		     k);
}

static char *dir_of(const char *path)
{
	const char *sl = strrchr(path, '/');

	if (!sl)
		return strdup(".");
	if (sl == path)
		return strdup("/");
	return strndup(path, (size_t)(sl - path));
}

/* A config's random parts: this process's replica id and one random key
 * that seals held calls' state until a state_key_file replaces it. 0, or
 * -1 when out of memory or randomness. */
static int replica_of(struct gw_config *c)
{
	unsigned char id[8];

	c->state_keys = calloc(1, sizeof(*c->state_keys));
	if (!c->state_keys || mcp_state_keys_random(c->state_keys) != 0 ||
	    getrandom(id, sizeof(id), 0) != (ssize_t)sizeof(id))
		return -1;
	for (size_t i = 0; i < sizeof(id); i++)
		snprintf(c->replica_id + 2 * i, 3, "%02x", id[i]);
	return 0;
}

struct gw_config *gw_config_load(const char *path, char *err, size_t errlen)
{
	struct gw_config *c = calloc(1, sizeof(*c));
	struct cerr e = { err, errlen, path, NULL };
	char *text = NULL;
	json_t *root = NULL, *v;
	json_error_t je;
	const char *k;
	size_t len;

	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->call_timeout_ms = 60000;
	c->max_message = 4u << 20;
	c->reload_interval_ms = 1000;
	c->audit_flush_ms = 10;
	c->audit_denials_per_s = 100;
	c->zone_denials_per_s = 1000;
	c->list_page_size = 100;
	c->catalogue_max_bytes = GW_CATALOGUE_MAX_DEFAULT;
	c->held_max = 64;
	c->held_idle_ms = 60000;
	c->tasks_max = 256;
	if (replica_of(c)) {
		snprintf(err, errlen, "out of memory or of randomness");
		gw_config_free(c);
		return NULL;
	}
	c->path = strdup(path);
	c->dir = dir_of(path);
	text = gw_read_file(path, GW_CONFIG_MAX, &len, err, errlen);
	if (!text || !c->path || !c->dir)
		goto fail;
	e.text = text;
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		cfail(&e, je.line > 0 ? je.line : 1, "%s", je.text);
		goto fail;
	}
	if (!json_is_object(root)) {
		cfail(&e, 1, "the config must be a JSON object");
		goto fail;
	}
	json_object_foreach (root, k, v) {
		if (key_of(&e, k, v, c))
			goto fail;
	}
	if (!c->zones) {
		cfail(&e, 1, "missing \"zones\"");
		goto fail;
	}
	if (!c->policy) {
		cfail(&e, 1, "missing \"policy\"");
		goto fail;
	}
	if (check_listeners(&e, c))
		goto fail;
	if (!c->pins) {
		c->pins = gw_path_join(c->dir, "pins.json");
		if (!c->pins)
			goto fail;
	}
	json_decref(root);
	free(text);
	return c;
fail:
	json_decref(root);
	free(text);
	gw_config_free(c);
	return NULL;
}

/* ---- reload: what a running gatewayd may take from a new config -------- */

static int str_eq(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

int gw_zone_same(const struct gw_zone *a, const struct gw_zone *b)
{
	if (strcmp(a->name, b->name) != 0 || a->role != b->role ||
	    a->domid != b->domid || !str_eq(a->chan, b->chan) ||
	    !str_eq(a->url, b->url) || !str_eq(a->ca_file, b->ca_file) ||
	    !str_eq(a->k8s_ns, b->k8s_ns) || !str_eq(a->k8s_sa, b->k8s_sa) ||
	    a->insecure_http != b->insecure_http || a->nhdr != b->nhdr)
		return 0;
	/* a remote zone's credentials come from the same files (their
	 * contents are reread on every reload anyway) */
	for (size_t i = 0; i < a->nhdr; i++)
		if (!str_eq(a->hdr_names[i], b->hdr_names[i]) ||
		    !str_eq(a->hdr_files[i], b->hdr_files[i]))
			return 0;
	return 1;
}

int gw_zone_equal(const struct gw_zone *a, const struct gw_zone *b)
{
	if (!gw_zone_same(a, b) || a->ntags != b->ntags ||
	    !str_eq(a->default_zone, b->default_zone))
		return 0;
	for (size_t i = 0; i < a->ntags; i++)
		if (strcmp(a->tags[i], b->tags[i]) != 0)
			return 0;
	return 1;
}

static int listener_eq(const struct gw_listener *a, const struct gw_listener *b)
{
	return str_eq(a->listen, b->listen) && str_eq(a->zone, b->zone) &&
	       str_eq(a->token_file, b->token_file) &&
	       str_eq(a->tls_cert, b->tls_cert) &&
	       str_eq(a->tls_key, b->tls_key) &&
	       str_eq(a->k8s_audience, b->k8s_audience) &&
	       str_eq(a->k8s_issuer, b->k8s_issuer) &&
	       str_eq(a->k8s_jwks, b->k8s_jwks) && a->has_uid == b->has_uid &&
	       (!a->has_uid || a->uid == b->uid);
}

int gw_config_reload_check(const struct gw_config *cur,
			   const struct gw_config *nw, char *err, size_t errlen)
{
	const char *key = NULL;

	if (!str_eq(cur->admin_socket, nw->admin_socket))
		key = "admin_socket";
	else if (!str_eq(cur->admin_group, nw->admin_group))
		key = "admin_group";
	else if (!str_eq(cur->audit_log, nw->audit_log))
		key = "audit_log";
	else if (!str_eq(cur->pins, nw->pins))
		key = "pins";
	else if (!str_eq(cur->metrics, nw->metrics))
		key = "metrics";
	else if (cur->max_message != nw->max_message)
		key = "max_message";
	else if (cur->nlisteners != nw->nlisteners)
		key = "listeners";
	for (size_t i = 0; !key && i < cur->nlisteners; i++)
		if (!listener_eq(&cur->listeners[i], &nw->listeners[i]))
			key = "listeners";
	if (!key)
		return 0;
	mcp_utf8_snprintf(err, errlen,
			  "%s: \"%s\" changed: it takes effect only when "
			  "gatewayd starts; restore it or restart gatewayd "
			  "(nothing was reloaded)",
			  nw->path, key);
	return -1;
}

void gw_config_adopt(struct gw_config *cur, struct gw_config *nw)
{
	struct gw_config old = *cur;

	cur->zones = nw->zones;
	cur->nzones = nw->nzones;
	cur->policy = nw->policy;
	cur->audit_args = nw->audit_args;
	cur->call_timeout_ms = nw->call_timeout_ms;
	cur->reload_interval_ms = nw->reload_interval_ms;
	cur->audit_flush_ms = nw->audit_flush_ms;
	cur->audit_denials_per_s = nw->audit_denials_per_s;
	cur->zone_denials_per_s = nw->zone_denials_per_s;
	cur->audit_rotate_bytes = nw->audit_rotate_bytes;
	cur->list_page_size = nw->list_page_size;
	cur->catalogue_max_bytes = nw->catalogue_max_bytes;
	cur->held_max = nw->held_max;
	cur->held_idle_ms = nw->held_idle_ms;
	cur->tasks_max = nw->tasks_max;
	/* a new key file's ring (rotation: its older keys still verify); no
	 * key file keeps the process's random key, so held calls survive */
	if (nw->state_key_file) {
		struct mcp_state_keys *k = cur->state_keys;
		char *f = cur->state_key_file;
		cur->state_keys = nw->state_keys;
		cur->state_key_file = nw->state_key_file;
		nw->state_keys = k;
		nw->state_key_file = f;
	}
	/* nw takes what cur had, so that freeing nw frees the old ones */
	nw->zones = old.zones;
	nw->nzones = old.nzones;
	nw->policy = old.policy;
}
