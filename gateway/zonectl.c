/* zonectl: starts the zones of one host from the gateway's config in
 * sandboxes (docs/zones.md): one zone in the foreground (`run ZONE`), or
 * a whole system under a supervisor (`up`, zone_sup.c) that the other
 * commands talk to over its control socket (zone_client.c). */
#include "sandbox.h"
#include "zg_version.h"
#include "zone_xen.h"
#include "zone_sup.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: zonectl --config FILE [--json] COMMAND [ARGS]\n"
		"       zonectl --help | --version\n"
		"\n"
		"Commands:\n"
		"  run ZONE     start ZONE's run block in its sandbox in the\n"
		"               foreground, print the isolation applied, wait,\n"
		"               copy files.out back, exit with its status\n"
		"  check ZONE   validate the config and ZONE's run block only\n"
		"  up [--detach] [--no-sandbox]  start gatewayd and every zone with a run block\n"
		"               (tool zones, zones both agent and tool, agents),\n"
		"               wait until ready, print the zones, supervise\n"
		"               them until down; --no-sandbox: every zone a\n"
		"               plain process (reported NOT SANDBOXED; zones\n"
		"               with files or egress are refused)\n"
		"  down         stop every zone (agents first), then gatewayd\n"
		"  ps           the supervised zones (--json: one object)\n"
		"  logs ZONE [-f] [-n N]  the zone's console output\n"
		"  stop ZONE | start ZONE | restart ZONE\n"
		"  collect ZONE copy the zone's files.out back now\n"
		"  reload       read the config again: start new zones, stop\n"
		"               removed ones, reload gatewayd (also SIGHUP)\n"
		"  xen [ZONE]   write xl domain configs (zonectl xen --help)\n"
		"\n"
		"Options:\n"
		"  --config FILE  the gateway's config (zones with run blocks)\n"
		"  --json         print the report as one JSON object\n"
		"\n"
		"Exit status of run: the zone's own (128+N when killed by\n"
		"signal N), 2 bad usage or config, 3 files.out refused, 125 the\n"
		"zone could not be started. Other commands: 0 ok, 1 refused or\n"
		"failed, 2 usage, 3 no supervisor.\n"
		"\n"
		"Environment: ZONEGATE_BWRAP (bubblewrap, default\n"
		"/usr/bin/bwrap), ZONEGATE_ZONE_INIT (zonegate-zone-init,\n"
		"default: next to zonectl), ZONEGATE_GATEWAYD (default: next\n"
		"to zonectl), ZONEGATE_STATE_DIR (default /run/zonegate/NAME,\n"
		"NAME the config file's name without .json), ZONEGATE_LOG_MAX\n"
		"(bytes of a zone's log before rotation), ZONEGATE_SIM_DIR,\n"
		"TMPDIR. Must run as root: each zone gets its own host uid\n"
		"(%d + domid). A sandbox is a shared kernel, not a VM.\n",
		ZONE_UID_BASE);
}

/* Program name (e.g. "zonegate-zone-init") beside this binary, unless
 * the environment variable env names one. 0, or -1. */
static int sibling_path(const char *env, const char *name, char *out,
			size_t len)
{
	const char *e = getenv(env);
	char self[PATH_MAX];
	ssize_t n;
	char *slash;

	if (e && *e == '/')
		return snprintf(out, len, "%s", e) < (int)len ? 0 : -1;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return -1;
	self[n] = 0;
	slash = strrchr(self, '/');
	if (!slash)
		return -1;
	*slash = 0;
	return snprintf(out, len, "%s/%s", self, name) < (int)len ? 0 : -1;
}

/* The command line, parsed. */
struct cli {
	const char *config, *cmd, *zone;
	int json, detach, follow, no_sandbox;
	long lines;
};

static int cmd_run(const struct cli *c);
static int cmd_up(const struct cli *c);
static int cmd_ctl(const struct cli *c);

/* The commands: name, whether it takes a ZONE, handler. */
static const struct command {
	const char *name;
	int zone;
	int (*fn)(const struct cli *);
} commands[] = {
	{ "run", 1, cmd_run },	   { "check", 1, cmd_run },
	{ "up", 0, cmd_up },	   { "down", 0, cmd_ctl },
	{ "ps", 0, cmd_ctl },	   { "logs", 1, cmd_ctl },
	{ "stop", 1, cmd_ctl },	   { "start", 1, cmd_ctl },
	{ "restart", 1, cmd_ctl }, { "collect", 1, cmd_ctl },
	{ "reload", 0, cmd_ctl },
};

static int cmd_ctl(const struct cli *c)
{
	return sup_client(c->config, c->cmd, c->zone, c->lines, c->follow,
			  c->json);
}

static int cmd_up(const struct cli *c)
{
	char helper[PATH_MAX], gwd[PATH_MAX];
	struct sup_opts o = { 0 };

	o.config = c->config;
	o.detach = c->detach;
	o.no_sandbox = c->no_sandbox;
	o.json = c->json;
	o.bwrap = getenv("ZONEGATE_BWRAP");
	if (!o.bwrap || *o.bwrap != '/')
		o.bwrap = "/usr/bin/bwrap";
	if (sibling_path("ZONEGATE_ZONE_INIT", "zonegate-zone-init", helper,
			 sizeof(helper)) < 0 ||
	    sibling_path("ZONEGATE_GATEWAYD", "gatewayd", gwd, sizeof(gwd)) <
		    0) {
		fprintf(stderr, "zonectl: cannot find the helper binaries\n");
		return 2;
	}
	o.helper = helper;
	o.gatewayd = gwd;
	return sup_up(&o);
}

/* Parses N of -n N. 0, or -1. */
static int parse_lines(const char *s, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(s, &end, 10);
	return errno || *end || end == s || *out < 0 || *out > SUP_TAIL_MAX ? -1
									    : 0;
}

/* The command: the first word that is not an option or --config's. */
static const char *command_word(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0)
			i++;
		else if (argv[i][0] != '-')
			return argv[i];
	}
	return "";
}

int main(int argc, char **argv)
{
	struct cli c = { 0 };
	const struct command *cmd = NULL;

	if (strcmp(command_word(argc, argv), "xen") == 0)
		return zone_xen_main(argc, argv); /* its own options */
	c.lines = 50;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("zonectl %s\n", ZG_VERSION);
			return 0;
		} else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			c.config = argv[++i];
		} else if (strcmp(argv[i], "--json") == 0) {
			c.json = 1;
		} else if (strcmp(argv[i], "--detach") == 0) {
			c.detach = 1;
		} else if (strcmp(argv[i], "--no-sandbox") == 0) {
			c.no_sandbox = 1;
		} else if (strcmp(argv[i], "-f") == 0) {
			c.follow = 1;
		} else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
			if (parse_lines(argv[++i], &c.lines) < 0) {
				fprintf(stderr, "zonectl: -n: 0 to %d\n",
					SUP_TAIL_MAX);
				return 2;
			}
		} else if (!c.cmd) {
			c.cmd = argv[i];
		} else if (!c.zone) {
			c.zone = argv[i];
		} else {
			usage(stderr);
			return 2;
		}
	}
	for (size_t i = 0; c.cmd && i < sizeof(commands) / sizeof(*commands);
	     i++)
		if (strcmp(c.cmd, commands[i].name) == 0)
			cmd = &commands[i];
	if (!c.config || !cmd || !c.zone != !cmd->zone) {
		usage(stderr);
		return 2;
	}
	if (c.no_sandbox && cmd->fn != cmd_up) {
		fprintf(stderr, "zonectl: --no-sandbox is an option of up\n");
		return 2;
	}
	return cmd->fn(&c);
}

/* run ZONE / check ZONE: one zone in the foreground. */
static int cmd_run(const struct cli *c)
{
	const char *bwrap;
	int json = c->json, rc = 2;
	char err[1024], helper[PATH_MAX];
	struct zone_run *r = NULL;
	struct zone_report rep;

	r = zone_run_load(c->config, c->zone, err, sizeof(err));
	if (!r) {
		fprintf(stderr, "zonectl: %s\n", err);
		return 2;
	}
	if (strcmp(c->cmd, "check") == 0) {
		printf("zone %s: run block ok\n", r->name);
		rc = 0;
		goto out;
	}
	bwrap = getenv("ZONEGATE_BWRAP");
	if (!bwrap || *bwrap != '/')
		bwrap = "/usr/bin/bwrap";
	if (sibling_path("ZONEGATE_ZONE_INIT", "zonegate-zone-init", helper,
			 sizeof(helper)) < 0) {
		fprintf(stderr, "zonectl: cannot find zonegate-zone-init\n");
		goto out;
	}
	if (zone_run_foreground(r, helper, bwrap, json, &rep, err,
				sizeof(err)) < 0) {
		fprintf(stderr, "zonectl: %s\n", err);
		rc = 125;
		goto out;
	}
	if (json) {
		zone_report_print(r, &rep, 1);
	} else {
		printf("zone %s: exited with status %d%s\n", r->name,
		       rep.status,
		       rep.oom_killed ? " (killed by its memory limit)" : "");
		if (r->out_zone)
			printf("zone %s: %s\n", r->name, rep.out_msg);
	}
	if (r->out_zone && !rep.out_ok)
		fprintf(stderr, "zonectl: zone %s: %s\n", r->name, rep.out_msg);
	if (rep.failed)
		fprintf(stderr,
			"zonectl: zone %s: the sandbox could not be applied; "
			"the command did not run\n",
			r->name);
	rc = rep.status;
	if (r->out_zone && !rep.out_ok && rc == 0)
		rc = 3; /* the run's output was refused */
out:
	zone_run_free(r);
	return rc;
}
