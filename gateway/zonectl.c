/* zonectl: starts the zones of one host from the gateway's config in
 * sandboxes (docs/zones.md). This version runs one zone's `run` block in
 * the foreground (`run ZONE`); the supervisor (up/down/ps/logs/reload) is
 * not written yet. */
#include "sandbox.h"
#include "zg_version.h"
#include "zone_xen.h"

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
		"  xen [ZONE]   write xl domain configs (zonectl xen --help)\n"
		"\n"
		"Options:\n"
		"  --config FILE  the gateway's config (zones with run blocks)\n"
		"  --json         print the report as one JSON object\n"
		"\n"
		"Exit status: the zone's own (128+N when killed by signal N),\n"
		"2 bad usage or config, 3 files.out refused, 125 the zone\n"
		"could not be started.\n"
		"\n"
		"Environment: ZONEGATE_BWRAP (bubblewrap, default\n"
		"/usr/bin/bwrap), ZONEGATE_ZONE_INIT (zonegate-zone-init,\n"
		"default: next to zonectl), ZONEGATE_SIM_DIR, TMPDIR.\n"
		"Must run as root: each zone gets its own host uid (%d +\n"
		"domid). A sandbox is a shared kernel, not a VM.\n"
		"Not yet: up, down, ps, logs, reload.\n",
		ZONE_UID_BASE);
}

/* zonegate-zone-init beside this binary, unless the environment says. */
static int helper_path(const char *argv0, char *out, size_t len)
{
	const char *e = getenv("ZONEGATE_ZONE_INIT");
	char self[PATH_MAX];
	ssize_t n;
	char *slash;

	(void)argv0;
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
	return snprintf(out, len, "%s/zonegate-zone-init", self) < (int)len
		       ? 0
		       : -1;
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
	const char *config = NULL, *cmd = NULL, *zone = NULL, *bwrap;
	int json = 0, i, rc = 2;
	char err[1024], helper[PATH_MAX];
	struct zone_run *r = NULL;
	struct zone_report rep;

	if (strcmp(command_word(argc, argv), "xen") == 0)
		return zone_xen_main(argc, argv); /* its own options */
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("zonectl %s\n", ZG_VERSION);
			return 0;
		} else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			config = argv[++i];
		} else if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else if (!cmd) {
			cmd = argv[i];
		} else if (!zone) {
			zone = argv[i];
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (!config || !cmd || !zone ||
	    (strcmp(cmd, "run") && strcmp(cmd, "check"))) {
		usage(stderr);
		return 2;
	}
	r = zone_run_load(config, zone, err, sizeof(err));
	if (!r) {
		fprintf(stderr, "zonectl: %s\n", err);
		return 2;
	}
	if (strcmp(cmd, "check") == 0) {
		printf("zone %s: run block ok\n", r->name);
		rc = 0;
		goto out;
	}
	bwrap = getenv("ZONEGATE_BWRAP");
	if (!bwrap || *bwrap != '/')
		bwrap = "/usr/bin/bwrap";
	if (helper_path(argv[0], helper, sizeof(helper)) < 0) {
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
