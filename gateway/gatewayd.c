/* gatewayd: the host-side gateway between agent zones and tool zones.
 * Loads the config and policy (or only checks them with --check), then
 * runs one poll loop over every channel, the admin socket and signals:
 * SIGHUP rereads the config (zones added and removed at run time), the
 * policy and the listeners' token files, each taken whole or not at
 * all; a change of the policy or token files reloads what changed.
 * SIGUSR1 rotates the audit log. SIGTERM/SIGINT drain: new requests are
 * refused, calls in flight finish (until --drain-timeout), the audit log
 * is flushed, then gatewayd exits 0; a second one stops at once. */
#include "gwd.h"
#include "k8s_jwt.h"
#include "utf8.h"
#include "zg_common.h"
#include "zg_version.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sys/prctl.h>

#define POLL_MAX 4096
#define DRAIN_DEFAULT_S 10
#define DRAIN_MAX_S 3600

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: gatewayd --config FILE [--check] [--ready-file FILE]\n"
		"                [--drain-timeout SECONDS] [--replica NAME]\n"
		"The zonegate host gateway: agent zones reach tool zones only "
		"through it,\n"
		"as their per-zone allowlists allow.\n"
		"\n"
		"  --config FILE      the JSON config (docs/operations.md)\n"
		"  --check            validate config and policy, then exit\n"
		"  --ready-file FILE  write \"ready\" to FILE once serving\n"
		"  --replica NAME     name of the audit chains this gatewayd "
		"starts\n"
		"                     (overrides the config's \"replica\"; "
		"default: the\n"
		"                     host name)\n"
		"  --drain-timeout SECONDS\n"
		"                     on SIGTERM, how long calls in flight may "
		"take to\n"
		"                     finish (default %d, at most %d; 0: stop "
		"at once)\n"
		"  -V, --version      print the version and exit\n"
		"  -h, --help         this help\n"
		"\n"
		"Signals: SIGHUP rereads the config (its zones are applied "
		"without\n"
		"dropping the sessions of zones that did not change), the "
		"policy and\n"
		"the listeners' token files (a change of the policy or token "
		"files\n"
		"alone is picked up by itself); SIGUSR1 rotates the audit log.\n"
		"SIGTERM or SIGINT drain: "
		"new requests\n"
		"get \"gateway is shutting down\", calls in flight finish "
		"(those still\n"
		"running at the deadline end with an error), the audit log is "
		"flushed,\n"
		"and gatewayd exits 0. A second SIGTERM or SIGINT stops at "
		"once.\n",
		DRAIN_DEFAULT_S, DRAIN_MAX_S);
}

/* The policy path as shown in FILE:LINE: relative to the config. */
static const char *policy_display(const struct gw_config *cfg)
{
	size_t dl = strlen(cfg->dir);

	if (strncmp(cfg->policy, cfg->dir, dl) == 0 && cfg->policy[dl] == '/')
		return cfg->policy + dl + 1;
	return cfg->policy;
}

/* A cheap signature of the policy files (names, sizes, mtimes). */
static uint64_t policy_sig(const char *path)
{
	struct stat st;
	uint64_t h = 1469598103934665603ull;
	DIR *d;
	struct dirent *de;

	if (stat(path, &st) != 0)
		return 0;
	h ^= (uint64_t)st.st_mtim.tv_sec * 1000000007ull ^
	     (uint64_t)st.st_mtim.tv_nsec ^ (uint64_t)st.st_size << 20;
	if (!S_ISDIR(st.st_mode))
		return h;
	d = opendir(path);
	while (d && (de = readdir(d)) != NULL) {
		char *full;
		if (de->d_name[0] == '.')
			continue;
		for (const char *c = de->d_name; *c; c++)
			h = (h ^ (uint8_t)*c) * 1099511628211ull;
		full = gw_path_join(path, de->d_name);
		if (full && stat(full, &st) == 0)
			h = (h ^ ((uint64_t)st.st_mtim.tv_nsec +
				  (uint64_t)st.st_mtim.tv_sec * 1000000007ull +
				  (uint64_t)st.st_size)) *
			    1099511628211ull;
		free(full);
	}
	if (d)
		closedir(d);
	return h;
}

/* The same for the listeners' token files, k8s JWKS files and TLS
 * certificates and keys. */
static uint64_t tokens_sig(const struct gw_config *c)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < c->nlisteners; i++) {
		if (c->listeners[i].token_file)
			h = (h ^ policy_sig(c->listeners[i].token_file)) *
			    1099511628211ull;
		if (c->listeners[i].k8s_jwks)
			h = (h ^ policy_sig(c->listeners[i].k8s_jwks)) *
			    1099511628211ull;
		if (c->listeners[i].tls_cert)
			h = (h ^ policy_sig(c->listeners[i].tls_cert) ^
			     (policy_sig(c->listeners[i].tls_key) << 1)) *
			    1099511628211ull;
	}
	return h;
}

/* --check: a listener's files (token, JWKS, TLS certificate and key) can
 * be read and used. Returns 0, or -1 with err. */
static int check_listener_files(const struct gw_listener *l, char *err,
				size_t errlen)
{
	char tok[GW_TOKEN_MAX + 1];
	const char *tls[2] = { l->tls_cert, l->tls_key };
	struct gw_k8s_auth *a;
	size_t n;

	if (l->token_file &&
	    gw_listener_token(l, tok, sizeof(tok), err, errlen))
		return -1;
	memset(tok, 0, sizeof(tok));
	for (int i = 0; i < 2; i++) {
		char *t =
			tls[i] ? gw_read_file(tls[i], 1u << 20, &n, err, errlen)
			       : NULL;
		if (tls[i] && !t)
			return -1;
		if (t)
			explicit_bzero(t, n);
		free(t);
	}
	if (!l->k8s_jwks)
		return 0;
	a = gw_k8s_auth_new(l->k8s_jwks, l->k8s_audience, l->k8s_issuer, err,
			    errlen);
	gw_k8s_auth_free(a);
	return a ? 0 : -1;
}

/* An audit record of the gateway's own (reloads, drain, stop). Steals
 * r. */
static void audit_event(struct gw *g, json_t *r)
{
	char aid[40];

	if (!r)
		return;
	gw_audit_new_id(g->audit, aid, sizeof(aid));
	json_object_set_new(r, "id", json_string(aid));
	gw_audit_append(g->audit, r);
	json_decref(r);
}

/* A policy that did not load: the old one stays; err (admin-written
 * text) is made valid UTF-8, reported and audited. */
static void policy_rejected(struct gw *g, char *err, size_t errlen)
{
	/* The message quotes admin-written text: made valid UTF-8 here, or
	 * json_pack would fail and the reload's audit record would be
	 * lost. */
	char why[1024];

	mcp_utf8_snprintf(why, sizeof(why), "%s", err);
	mcp_utf8_snprintf(err, errlen, "%s", why);
	g->policy_errors++;
	mcp_utf8_snprintf(g->policy_error, sizeof(g->policy_error), "%s", err);
	fprintf(stderr,
		"gatewayd: policy NOT reloaded (the old one stays in force): "
		"%s\n",
		err);
	audit_event(g, json_pack("{s:s,s:s,s:s,s:s}", "zone", "-", "method",
				 "policy/reload", "decision", "rejected",
				 "reason", err));
}

/* Policy p (stolen) replaces the one in force; every agent zone whose
 * view changed hears list_changed. */
static void policy_install(struct gw *g, struct policy *p)
{
	policy_free(g->pol);
	g->pol = p;
	g->policy_errors = 0;
	g->policy_error[0] = '\0';
	g->policy_loads++;
	gw_limits_retain(g->lim, p);
	fprintf(stderr, "gatewayd: policy loaded: %zu rules\n",
		policy_nrules(p));
	audit_event(g, json_pack("{s:s,s:s,s:s,s:I}", "zone", "-", "method",
				 "policy/reload", "decision", "loaded", "rules",
				 (json_int_t)policy_nrules(p)));
	gw_route_lists_changed(g);
}

int gw_reload_policy(struct gw *g, char *err, size_t errlen)
{
	struct policy *p;

	/* Taken before the read: a change made during it is seen next. */
	g->policy_sig = policy_sig(g->cfg->policy);
	p = policy_load(g->cfg->policy, policy_display(g->cfg), err, errlen);
	if (p)
		policy_install(g, p);
	else
		policy_rejected(g, err, errlen);
	gw_audit_flush(g->audit);
	gw_route_snapshot(g);
	return p ? 0 : -1;
}

/* A config that is not taken (invalid, or a key changed that needs a
 * restart): the running one stays whole; reported and audited. */
static void config_rejected(struct gw *g, char *err, size_t errlen)
{
	char why[1024];

	mcp_utf8_snprintf(why, sizeof(why), "%s", err);
	mcp_utf8_snprintf(err, errlen, "%s", why);
	g->config_errors++;
	fprintf(stderr,
		"gatewayd: config NOT reloaded (zones and settings stay as "
		"they were): %s\n",
		err);
	audit_event(g, json_pack("{s:s,s:s,s:s,s:s}", "zone", "-", "method",
				 "config/reload", "decision", "rejected",
				 "reason", err));
}

/* The zones/reload record of a reload that changed zones (changes as
 * gw_route_zones_apply gives it, stolen), and the log line. */
static void zones_changed(struct gw *g, json_t *changes)
{
	size_t n = 0;
	const char *k;
	json_t *v;
	char *txt;

	json_object_foreach (changes, k, v)
		n += json_array_size(v);
	if (n == 0) {
		json_decref(changes);
		return;
	}
	txt = json_dumps(changes, JSON_COMPACT);
	fprintf(stderr, "gatewayd: zones reloaded: %s\n", txt ? txt : "");
	free(txt);
	json_object_set_new(changes, "zone", json_string("-"));
	json_object_set_new(changes, "method", json_string("zones/reload"));
	json_object_set_new(changes, "decision", json_string("applied"));
	audit_event(g, changes);
}

/* Rereads the config file: on success its zones and run-time settings
 * are in force with the policy it names (loaded first: a policy that
 * does not load leaves config and policy as they were). A config that
 * does not load leaves it all as it was but for the policy, which is
 * reread from where it was (as before zones could be reloaded). */
static int reload_config(struct gw *g, char *err, size_t errlen)
{
	struct gw_config *nw = gw_config_load(g->cfg->path, err, errlen);
	struct policy *p = NULL;
	json_t *changes = NULL;
	char perr[1024];

	if (!nw || gw_config_reload_check(g->cfg, nw, err, errlen)) {
		config_rejected(g, err, errlen);
		gw_config_free(nw);
		gw_reload_policy(g, perr, sizeof(perr));
		return -1;
	}
	g->policy_sig = policy_sig(nw->policy);
	p = policy_load(nw->policy, policy_display(nw), err, errlen);
	if (!p) {
		policy_rejected(g, err, errlen);
		fprintf(stderr, "gatewayd: config NOT reloaded either: the "
				"policy it names did not load\n");
		goto out;
	}
	if (gw_route_zones_apply(g, nw, &changes, err, errlen)) {
		config_rejected(g, err, errlen);
		policy_free(p);
		p = NULL;
		goto out;
	}
	gw_config_adopt(g->cfg, nw);
	g->config_errors = 0;
	gw_audit_set_deny_rate(g->audit, g->cfg->audit_denials_per_s);
	gw_audit_set_rotate(g->audit, g->cfg->audit_rotate_bytes);
	zones_changed(g, changes);
	policy_install(g, p);
out:
	gw_config_free(nw);
	gw_audit_flush(g->audit);
	gw_route_snapshot(g);
	return p ? 0 : -1;
}

int gw_reload(struct gw *g, char *err, size_t errlen)
{
	char e1[1024], e2[1024];
	int p = reload_config(g, e1, sizeof(e1));
	int t;

	g->tokens_sig = tokens_sig(g->cfg);
	t = gw_listen_reload_tokens(g->listen, e2, sizeof(e2));
	gw_route_reload_creds(g);

	if (p && t)
		mcp_utf8_snprintf(err, errlen, "%s; %s", e1, e2);
	else if (p || t)
		snprintf(err, errlen, "%s", p ? e1 : e2);
	return p || t ? -1 : 0;
}

static int check_only(const char *path)
{
	char err[1024];
	struct gw_config *c = gw_config_load(path, err, sizeof(err));
	struct policy *p = NULL;
	json_t *warn;
	size_t nboth = 0;
	char both[48] = "";

	for (size_t i = 0; c && i < c->nlisteners; i++) {
		if (check_listener_files(&c->listeners[i], err, sizeof(err))) {
			fprintf(stderr, "%s:%d: %s\n", c->path,
				c->listeners[i].line, err);
			gw_config_free(c);
			return 1;
		}
	}
	for (size_t i = 0; c && i < c->nzones; i++) {
		char **h; /* a remote zone's credential files must be good */
		size_t nh;
		if (gw_zone_headers(&c->zones[i], &h, &nh, err, sizeof(err))) {
			fprintf(stderr, "%s: zone %s: headers_from: %s\n",
				c->path, c->zones[i].name, err);
			gw_config_free(c);
			return 1;
		}
		gw_zone_headers_free(h, nh);
	}
	if (c)
		p = policy_load(c->policy, policy_display(c), err, sizeof(err));
	if (!p) {
		fprintf(stderr, "%s\n", err);
		gw_config_free(c);
		return 1;
	}
	/* a zone that is both agent and tool is one zone (two entries) */
	for (size_t i = 0; i < c->nzones; i++)
		nboth += c->zones[i].both && c->zones[i].role == GW_TOOL;
	if (nboth)
		snprintf(both, sizeof(both), " (%zu both agent and tool)",
			 nboth);
	warn = policy_lint(p, c);
	for (size_t i = 0; i < json_array_size(warn); i++) {
		json_t *w = json_array_get(warn, i);
		fprintf(stderr, "%s:%d: warning: %s\n",
			json_string_value(json_object_get(w, "file")),
			(int)json_integer_value(json_object_get(w, "line")),
			json_string_value(json_object_get(w, "message")));
	}
	if (json_array_size(warn))
		printf("ok: %zu zones%s, %zu rules, %zu warnings (see "
		       "gatewayctl lint)\n",
		       c->nzones - nboth, both, policy_nrules(p),
		       json_array_size(warn));
	else
		printf("ok: %zu zones%s, %zu rules\n", c->nzones - nboth, both,
		       policy_nrules(p));
	json_decref(warn);
	policy_free(p);
	gw_config_free(c);
	return 0;
}

static int sigfd_open(void)
{
	sigset_t s;

	sigemptyset(&s);
	sigaddset(&s, SIGHUP);
	sigaddset(&s, SIGTERM);
	sigaddset(&s, SIGINT);
	sigaddset(&s, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &s, NULL) != 0)
		return -1;
	return signalfd(-1, &s, SFD_CLOEXEC | SFD_NONBLOCK);
}

static int write_ready(const char *path)
{
	char err[256];

	if (!path)
		return 0;
	if (gw_write_atomic(path, "ready\n", 6, err, sizeof(err))) {
		fprintf(stderr, "gatewayd: %s\n", err);
		return -1;
	}
	return 0;
}

/* SIGTERM: from now on new requests are refused; calls in flight may
 * finish until the returned deadline. */
static int64_t drain_start(struct gw *g, int drain_s)
{
	size_t calls = gw_route_calls_inflight(g);

	g->draining = 1;
	fprintf(stderr,
		"gatewayd: draining: %zu calls in flight, %d s to finish; "
		"new requests are refused\n",
		calls, drain_s);
	audit_event(g,
		    json_pack("{s:s,s:s,s:s,s:I,s:i}", "zone", "-", "method",
			      "gateway/drain", "decision", "draining", "calls",
			      (json_int_t)calls, "timeout_s", drain_s));
	return gw_now_ms() + (int64_t)drain_s * 1000;
}

/* The end of a drain (or of a stop without one): ends what is still in
 * flight with an error and records how it went. */
static void drain_end(struct gw *g, int64_t deadline)
{
	size_t ended = gw_route_abort_calls(g,
					    "gateway shut down before the "
					    "call finished",
					    "gateway stopped");

	if (ended)
		fprintf(stderr,
			"gatewayd: %s: %zu calls still in flight ended with "
			"an error\n",
			g->draining && gw_now_ms() >= deadline
				? "drain deadline passed"
				: "stopping",
			ended);
	else if (g->draining)
		fprintf(stderr, "gatewayd: drained; stopping\n");
	audit_event(g, json_pack("{s:s,s:s,s:s,s:I,s:I}", "zone", "-", "method",
				 "gateway/stop", "decision", "stopped",
				 "calls_ended", (json_int_t)ended, "refused",
				 (json_int_t)g->drain_refused));
}

/* Drained: no call in flight, nothing left to write to an agent. */
static int drained(struct gw *g)
{
	return gw_route_calls_inflight(g) == 0 &&
	       gw_route_agent_backlog(g) == 0;
}

static int serve(struct gw *g, int sfd, const char *ready_file, int drain_s)
{
	static struct pollfd p[POLL_MAX];
	int stop = 0;
	int64_t deadline = INT64_MAX;
	int64_t next_check = gw_now_ms() + g->cfg->reload_interval_ms;
	int64_t next_snap = 0;
	char err[1024];

	g->policy_sig = policy_sig(g->cfg->policy);
	g->tokens_sig = tokens_sig(g->cfg);
	if (write_ready(ready_file))
		return 1;
	while (!stop) {
		size_t n = 0, nadm;
		int to = gw_route_timeout(g), now_to;
		int64_t now;
		uint64_t ts;

		p[n].fd = sfd;
		p[n++].events = POLLIN;
		nadm = gw_admin_pollfds(g->admin, p + n, 32);
		n += nadm;
		p[n].fd = gw_listen_fd(g->listen);
		p[n++].events = POLLIN;
		n += gw_route_pollfds(g, p + n, POLL_MAX - n);
		now_to = g->draining ? 100 : 1000; /* snapshots */
		if (g->cfg->reload_interval_ms) {  /* and the file check */
			int64_t w = next_check - gw_now_ms();
			if (w < now_to)
				now_to = w < 0 ? 0 : (int)w;
		}
		if (to < 0 || to > now_to)
			to = now_to;
		if (gw_listen_deferred(g->listen) > 1)
			to = 0; /* a zone's share of the last turn waits */
		if (poll(p, (nfds_t)n, to) < 0 && errno != EINTR)
			break;
		if (p[0].revents) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGHUP)
					gw_reload(g, err, sizeof(err));
				else if (si.ssi_signo == SIGUSR1)
					gw_audit_rotate(g->audit, "SIGUSR1",
							NULL, 0);
				else if (g->draining || drain_s == 0)
					stop = 1;
				else
					deadline = drain_start(g, drain_s);
			}
		}
		if (p[1 + nadm].revents || gw_listen_deferred(g->listen))
			gw_listen_run(g->listen);
		gw_route_run(g); /* ends with the turn's audit records */
		gw_listen_release(g->listen);
		gw_admin_run(g->admin, p + 1, nadm);
		now = gw_now_ms();
		if (g->cfg->reload_interval_ms && now >= next_check) {
			next_check = now + g->cfg->reload_interval_ms;
			if (policy_sig(g->cfg->policy) != g->policy_sig)
				gw_reload_policy(g, err, sizeof(err));
			ts = tokens_sig(g->cfg);
			if (ts != g->tokens_sig) {
				g->tokens_sig = ts;
				gw_listen_reload_tokens(g->listen, err,
							sizeof(err));
			}
		}
		if (now >= next_snap) {
			gw_route_snapshot(g);
			next_snap = now + 1000;
		}
		gw_audit_maybe_flush(g->audit, g->cfg->audit_flush_ms);
		if (g->draining && (drained(g) || now >= deadline))
			stop = 1;
	}
	drain_end(g, deadline);
	gw_route_finish(g);
	gw_listen_release(g->listen);
	gw_audit_flush(g->audit);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'k' },
		{ "ready-file", required_argument, NULL, 'r' },
		{ "drain-timeout", required_argument, NULL, 'd' },
		{ "replica", required_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *config = NULL, *ready = NULL, *replica = NULL;
	char host[GW_REPLICA_MAX + 1];
	int check = 0, c, rc = 1, sfd = -1, drain_s = DRAIN_DEFAULT_S;
	long long v;
	struct gw g;
	char err[1024];

	while ((c = getopt_long(argc, argv, "hV", lo, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'k':
			check = 1;
			break;
		case 'r':
			ready = optarg;
			break;
		case 'd':
			if (zg_parse_int(optarg, 0, DRAIN_MAX_S, &v) != 0) {
				fprintf(stderr,
					"gatewayd: --drain-timeout: 0..%d "
					"seconds\n",
					DRAIN_MAX_S);
				return 2;
			}
			drain_s = (int)v;
			break;
		case 'R':
			if (!gw_replica_ok(optarg)) {
				fprintf(stderr,
					"gatewayd: --replica: 1..%d of "
					"[A-Za-z0-9._-]\n",
					GW_REPLICA_MAX);
				return 2;
			}
			replica = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("gatewayd %s\n", ZG_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!config || optind < argc) {
		usage(stderr);
		return 2;
	}
	if (check)
		return check_only(config);
	signal(SIGPIPE, SIG_IGN);
	/* Least privilege: nothing this process runs can gain privileges
	 * (setuid binaries, file capabilities). */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		fprintf(stderr, "gatewayd: PR_SET_NO_NEW_PRIVS: %s\n",
			strerror(errno));
	if (geteuid() == 0)
		fprintf(stderr, "gatewayd: running as root; run it as its own "
				"unprivileged user (docs/operations.md)\n");
	memset(&g, 0, sizeof(g));
	/* Before any thread exists (libmicrohttpd's), so that every thread
	 * blocks them and they arrive only through the signalfd. */
	sfd = sigfd_open();
	if (sfd < 0) {
		snprintf(err, sizeof(err), "signalfd: %s", strerror(errno));
		goto fail;
	}
	pthread_mutex_init(&g.snap_lock, NULL);
	g.cfg = gw_config_load(config, err, sizeof(err));
	if (!g.cfg)
		goto fail;
	g.pol = policy_load(g.cfg->policy, policy_display(g.cfg), err,
			    sizeof(err));
	if (!g.pol)
		goto fail;
	g.policy_loads = 1;
	g.audit = gw_audit_open(g.cfg->audit_log, err, sizeof(err));
	if (g.audit) {
		if (!replica)
			replica = g.cfg->replica;
		if (!replica && gethostname(host, sizeof(host)) == 0) {
			host[sizeof(host) - 1] = '\0';
			replica = host; /* ignored if not a replica name */
		}
		gw_audit_set_replica(g.audit, replica);
		gw_audit_set_deny_rate(g.audit, g.cfg->audit_denials_per_s);
		gw_audit_set_rotate(g.audit, g.cfg->audit_rotate_bytes);
	}
	g.met = gw_metrics_new();
	g.lim = gw_limits_new();
	if (!g.audit || !g.met || !g.lim)
		goto fail;
	g.pins = gw_pins_load(g.cfg->pins, err, sizeof(err));
	if (!g.pins)
		goto fail;
	if (gw_route_init(&g, err, sizeof(err)))
		goto fail;
	gw_route_snapshot(&g);
	g.reload = gw_reload;
	g.admin = gw_admin_start(&g, err, sizeof(err));
	if (!g.admin)
		goto fail;
	g.listen = gw_listen_start(&g, err, sizeof(err));
	if (!g.listen)
		goto fail;
	fprintf(stderr,
		"gatewayd: serving %zu agent zones, %zu tool zones, "
		"%zu rules\n",
		g.naz, g.ntz, policy_nrules(g.pol));
	rc = serve(&g, sfd, ready, drain_s);
	goto out;
fail:
	fprintf(stderr, "gatewayd: %s\n", err);
out:
	gw_listen_stop(g.listen);
	gw_admin_stop(g.admin);
	gw_route_free(&g);
	gw_audit_close(g.audit);
	gw_metrics_free(g.met);
	gw_limits_free(g.lim);
	policy_free(g.pol);
	json_decref(g.pins);
	gw_config_free(g.cfg);
	free(g.snap_gauges);
	pthread_mutex_destroy(&g.snap_lock);
	if (sfd >= 0)
		close(sfd);
	return rc;
}
