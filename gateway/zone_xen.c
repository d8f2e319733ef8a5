/* `zonectl xen`: what zonectl would do on Xen (docs/zones.md "The Xen
 * side"), written out and not run: an xl domain config per zone with a
 * run block (kernel, root disk, memory and vcpus from its limits, the
 * vchan endpoint in xenstore, files.in/ro as a read-only disk, files.out
 * as a 9p share) and a manifest of the files that go into the disk. */
#include "gw.h"
#include "sandbox.h"
#include "zone_xen.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zonegate/chan.h>

#define XEN_DIR_DEF "/var/lib/zonegate/xen"
#define XEN_MEM_MIN_MIB 64     /* a Debian kernel boots in no less */
#define XEN_CLIENT_PATH_MAX 49 /* libxenvchan's limit, docs/channels.md */

struct xen_opts {
	const char *config, *out, *kernel, *ramdisk, *rootfs, *state;
	const char *zones[ZONE_MAP_MAX];
	size_t nzones;
};

static void xen_usage(FILE *f)
{
	fprintf(f,
		"Usage: zonectl --config FILE xen [ZONE]... [--out DIR]\n"
		"         [--kernel PATH] [--ramdisk PATH] [--rootfs PATH]\n"
		"         [--state DIR]\n"
		"Writes DIR/zg-ZONE.cfg (an xl domain config) and\n"
		"DIR/zg-ZONE.files (the files its disk and share carry) for\n"
		"each ZONE, or for every zone with a run block. Not run on a\n"
		"hypervisor: see docs/zones.md, \"The Xen side\".\n"
		"Defaults: --out ., --kernel %s/vmlinuz, --ramdisk\n"
		"%s/initrd.img, --rootfs %s/rootfs.img, --state %s.\n",
		XEN_DIR_DEF, XEN_DIR_DEF, XEN_DIR_DEF, XEN_DIR_DEF);
}

/* Whether s may stand inside an xl string and a disk or 9p spec: no
 * quote, backslash, comma, '=' or control byte. */
static int xl_safe(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f || *s == '"' ||
		    *s == '\'' || *s == '\\' || *s == ',' || *s == '=')
			return 0;
	return 1;
}

/* The guest's channel address and the xenstore directory where the
 * server side publishes ring-ref and event-channel (docs/channels.md).
 * The gateway (dom0) serves agent zones; a tool zone's mcpd serves the
 * gateway. 0, or -1 with err. */
static int xen_chan(const struct gw_zone *z, char *guest, size_t glen, char *xs,
		    size_t xlen, char *err, size_t errlen)
{
	struct chan_addr a;
	char full[CHAN_PATH_MAX + 64];
	int server, client;

	if (!z->chan || chan_addr_parse(z->chan, &a, err, errlen) < 0) {
		if (!z->chan)
			snprintf(err, errlen, "zone %s: no chan", z->name);
		return -1;
	}
	server = z->role == GW_AGENT ? 0 : z->domid;
	client = z->role == GW_AGENT ? z->domid : 0;
	if (a.path[0] == '/')
		snprintf(full, sizeof(full), "%s", a.path);
	else
		snprintf(full, sizeof(full),
			 "/local/domain/%d/data/vchan/%d/%s", server, client,
			 a.path);
	if (strlen(full) > XEN_CLIENT_PATH_MAX || !xl_safe(full)) {
		snprintf(err, errlen,
			 "zone %s: xenstore path %s is longer than the %d "
			 "characters libxenvchan's client can use",
			 z->name, full, XEN_CLIENT_PATH_MAX);
		return -1;
	}
	snprintf(guest, glen, "xen:0:%s", a.path);
	snprintf(xs, xlen, "%s", full);
	return 0;
}

/* Every path the config will quote must be xl-safe. */
static int paths_safe(const struct zone_run *r, const struct xen_opts *o,
		      char *err, size_t errlen)
{
	const char *bad = NULL;

	if (!xl_safe(o->kernel) || !xl_safe(o->rootfs) || !xl_safe(o->state) ||
	    (o->ramdisk && !xl_safe(o->ramdisk)))
		bad = "--kernel, --ramdisk, --rootfs or --state";
	else if (r->out_host && !xl_safe(r->out_host))
		bad = r->out_host;
	if (bad) {
		snprintf(err, errlen,
			 "zone %s: %s: no quotes, backslashes, commas or '=' "
			 "in paths an xl config carries",
			 r->name, bad);
		return -1;
	}
	return 0;
}

/* The manifest: one line per file the domain gets (tab-separated kind,
 * zone path, host path), for whoever builds the in.img disk. */
static void write_manifest(FILE *f, const struct zone_run *r)
{
	fprintf(f,
		"# zone %s: files for zg-%s (docs/zones.md \"The Xen "
		"side\")\n# kind\tzone path\thost path\n",
		r->name, r->name);
	for (size_t i = 0; i < r->nin; i++)
		fprintf(f, "in\t%s\t%s\n", r->in[i].zone, r->in[i].host);
	for (size_t i = 0; i < r->nro; i++)
		fprintf(f, "ro\t%s\t%s\n", r->ro[i].zone, r->ro[i].host);
	if (r->out_zone)
		fprintf(f, "out\t%s\t%s\n", r->out_zone, r->out_host);
	for (size_t i = 0; i < r->argc; i++)
		fprintf(f, "argv\t%zu\t%s\n", i, r->argv[i]);
	for (size_t i = 0; i < r->nenv; i++)
		fprintf(f, "env\t%s\n", r->env[i]);
}

/* A zone that is both agent and tool: its tool side's guest address
 * and xenstore directory (else both empty). */
struct xen_tool_side {
	char guest[CHAN_PATH_MAX + 16], xs[CHAN_PATH_MAX + 64];
};

/* The xl config of one zone. */
static void write_cfg(FILE *f, const struct zone_run *r,
		      const struct gw_zone *z, const struct xen_opts *o,
		      const char *guest, const char *xs,
		      const struct xen_tool_side *ts)
{
	unsigned long long mib = (r->mem + (1u << 20) - 1) >> 20;
	int vcpus = r->cpu > 0 ? (int)r->cpu + (r->cpu > (int)r->cpu) : 1;

	if (mib < XEN_MEM_MIN_MIB)
		mib = XEN_MEM_MIN_MIB;
	fprintf(f,
		"# zg-%s.cfg: the xl domain of zone %s, generated by "
		"`zonectl xen` from %s.\n"
		"# NOT RUN ON A HYPERVISOR (docs/zones.md, \"The Xen "
		"side\").\n"
		"# vchan: %s publishes ring-ref and event-channel under\n"
		"#   %s\n"
		"# The gateway's address for this zone is xen:DOMID:%s, "
		"DOMID the domid\n"
		"# Xen gives this domain (xl domid zg-%s; docs/channels.md).\n",
		r->name, r->name, o->config,
		z->role == GW_AGENT ? "the gateway (dom0)" : "the zone", xs,
		guest + strlen("xen:0:"), r->name);
	if (ts->guest[0])
		fprintf(f,
			"# Its tool side (the zone is both agent and tool): "
			"the zone publishes\n#   %s\n# and the gateway "
			"connects to it (zonegate.tool_chan).\n",
			ts->xs);
	if (r->egress.n)
		fprintf(f, "# network.egress: not generated (no vif): the "
			   "zone has no network here.\n");
	fprintf(f, "name = \"zg-%s\"\ntype = \"pvh\"\nkernel = \"%s\"\n",
		r->name, o->kernel);
	if (o->ramdisk)
		fprintf(f, "ramdisk = \"%s\"\n", o->ramdisk);
	fprintf(f,
		"cmdline = \"console=hvc0 root=/dev/xvda ro "
		"zonegate.zone=%s zonegate.chan=%s%s%s\"\n"
		"memory = %llu\nmaxmem = %llu\nvcpus = %d\n",
		r->name, guest, ts->guest[0] ? " zonegate.tool_chan=" : "",
		ts->guest, mib, mib, vcpus);
	if (r->cpu > 0)
		fprintf(f, "cap = %d\n", (int)(r->cpu * 100 + 0.5));
	fprintf(f,
		"on_poweroff = \"destroy\"\non_reboot = \"destroy\"\n"
		"on_crash = \"destroy\"\nvif = [ ]\n"
		"disk = [\n"
		"    \"format=raw,vdev=xvda,access=ro,target=%s\",\n",
		o->rootfs);
	/* command, env, files.in and files.ro: the manifest's disk */
	fprintf(f,
		"    \"format=raw,vdev=xvdb,access=ro,target=%s/%s/in.img\",\n",
		o->state, r->name);
	fprintf(f, "]\n");
	if (r->out_zone)
		fprintf(f,
			"p9 = [ \"tag=zg-out,security_model=none,"
			"path=%s/%s/out\" ]\n",
			o->state, r->name);
}

/* Writes DIR/zg-NAME.SUFFIX through a temporary name. */
static int write_file(const struct xen_opts *o, const char *name,
		      const char *suffix, const struct zone_run *r,
		      const struct gw_zone *z, const char *guest,
		      const char *xs, const struct xen_tool_side *ts, char *err,
		      size_t errlen)
{
	char tmp[4096], path[4096];
	FILE *f;
	int ok;

	if (snprintf(path, sizeof(path), "%s/zg-%s.%s", o->out, name, suffix) >=
		    (int)sizeof(path) ||
	    snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "--out: path too long");
		return -1;
	}
	f = fopen(tmp, "w");
	if (!f) {
		snprintf(err, errlen, "%.900s: %s", tmp, strerror(errno));
		return -1;
	}
	if (strcmp(suffix, "cfg") == 0)
		write_cfg(f, r, z, o, guest, xs, ts);
	else
		write_manifest(f, r);
	ok = !ferror(f);
	ok = fclose(f) == 0 && ok;
	if (!ok || rename(tmp, path) < 0) {
		snprintf(err, errlen, "%.900s: cannot write", path);
		unlink(tmp);
		return -1;
	}
	printf("%s\n", path);
	return 0;
}

/* Both files of one zone; tz: the tool side of a zone that is both
 * (z its agent side), else NULL. */
static int gen_zone(const struct xen_opts *o, const struct gw_zone *z,
		    const struct gw_zone *tz, char *err, size_t errlen)
{
	char guest[CHAN_PATH_MAX + 16], xs[CHAN_PATH_MAX + 64];
	struct xen_tool_side ts = { "", "" };
	struct zone_run *r = zone_run_load(o->config, z->name, err, errlen);
	int rc = -1;

	if (!r)
		return -1;
	if (xen_chan(z, guest, sizeof(guest), xs, sizeof(xs), err, errlen) <
		    0 ||
	    (tz && xen_chan(tz, ts.guest, sizeof(ts.guest), ts.xs,
			    sizeof(ts.xs), err, errlen) < 0) ||
	    paths_safe(r, o, err, errlen) < 0)
		goto out;
	if (write_file(o, z->name, "cfg", r, z, guest, xs, &ts, err, errlen) <
		    0 ||
	    write_file(o, z->name, "files", r, z, guest, xs, &ts, err, errlen) <
		    0)
		goto out;
	rc = 0;
out:
	zone_run_free(r);
	return rc;
}

/* Whether zone name has a run block in the config's JSON. */
static int has_run(json_t *root, const char *name)
{
	return json_object_get(json_object_get(json_object_get(root, "zones"),
					       name),
			       "run") != NULL;
}

/* The command line after "xen". 0, 1 for --help, -1 bad. */
static int xen_parse(int argc, char **argv, struct xen_opts *o)
{
	int cmd_seen = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char **dst = NULL;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
			return 1;
		if (strcmp(a, "--config") == 0)
			dst = &o->config;
		else if (strcmp(a, "--out") == 0)
			dst = &o->out;
		else if (strcmp(a, "--kernel") == 0)
			dst = &o->kernel;
		else if (strcmp(a, "--ramdisk") == 0)
			dst = &o->ramdisk;
		else if (strcmp(a, "--rootfs") == 0)
			dst = &o->rootfs;
		else if (strcmp(a, "--state") == 0)
			dst = &o->state;
		if (dst) {
			if (++i >= argc)
				return -1;
			*dst = argv[i];
		} else if (!cmd_seen && strcmp(a, "xen") == 0) {
			cmd_seen = 1;
		} else if (a[0] == '-' || o->nzones >= ZONE_MAP_MAX) {
			return -1;
		} else {
			o->zones[o->nzones++] = a;
		}
	}
	return o->config ? 0 : -1;
}

int zone_xen_main(int argc, char **argv)
{
	struct xen_opts o = { .out = ".",
			      .kernel = XEN_DIR_DEF "/vmlinuz",
			      .ramdisk = XEN_DIR_DEF "/initrd.img",
			      .rootfs = XEN_DIR_DEF "/rootfs.img",
			      .state = XEN_DIR_DEF };
	struct gw_config *gc = NULL;
	json_t *root = NULL;
	char err[1024];
	int rc = 2, p = xen_parse(argc, argv, &o), n = 0;

	if (p != 0) {
		xen_usage(p > 0 ? stdout : stderr);
		return p > 0 ? 0 : 2;
	}
	gc = gw_config_load(o.config, err, sizeof(err));
	root = gc ? json_load_file(o.config, 0, NULL) : NULL;
	if (!gc || !root) {
		fprintf(stderr, "zonectl: %s\n",
			gc ? "cannot read the config" : err);
		goto out;
	}
	if (mkdir(o.out, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "zonectl: %s: %s\n", o.out, strerror(errno));
		goto out;
	}
	for (size_t i = 0; i < gc->nzones; i++) {
		const struct gw_zone *z = &gc->zones[i];
		int named;
		if (z->both && z->role == GW_TOOL) /* with its agent side */
			continue;
		named = o.nzones == 0 && has_run(root, z->name);
		for (size_t j = 0; j < o.nzones; j++)
			named |= strcmp(o.zones[j], z->name) == 0;
		if (!named)
			continue;
		n++;
		/* a zone's tool side follows its agent side (config.c) */
		if (gen_zone(&o, z, z->both ? z + 1 : NULL, err, sizeof(err)) <
		    0) {
			fprintf(stderr, "zonectl: %s\n", err);
			goto out;
		}
	}
	if (n < (int)o.nzones || n == 0) {
		fprintf(stderr, "zonectl: %s\n",
			n == 0 && !o.nzones
				? "no zone has a run block"
				: "a named zone is not in the config");
		goto out;
	}
	rc = 0;
out:
	json_decref(root);
	gw_config_free(gc);
	return rc;
}
