/* A zone's sandbox on a host without Xen (docs/zones.md): cgroup limits
 * (v2 where its controllers are usable, v1 otherwise), a staging
 * directory for files.out, bubblewrap started as the zone's own host uid
 * with every namespace and a fresh root, zonegate-zone-init inside it for
 * Landlock and seccomp, then the report of what was really applied. */
#define _GNU_SOURCE
#include "sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#define CG_ROOT "/sys/fs/cgroup"
#define CG2_MAGIC 0x63677270
#define ARGS_MAX 4096

/* A growable argv whose strings it owns. */
struct args {
	char *v[ARGS_MAX + 1];
	size_t n;
	int bad;
};

/* Appends copies of one, two or three strings; on overflow or no memory
 * the args are marked bad (checked once before use). */
static void add(struct args *a, const char *s)
{
	if (a->n >= ARGS_MAX || !(a->v[a->n] = strdup(s))) {
		a->bad = 1;
		return;
	}
	a->n++;
}

static void add2(struct args *a, const char *x, const char *y)
{
	add(a, x);
	add(a, y);
}

static void add3(struct args *a, const char *x, const char *y, const char *z)
{
	add(a, x);
	add(a, y);
	add(a, z);
}

/* Frees the strings; the args can be reused. */
static void args_free(struct args *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i]);
	a->n = 0;
}

/* ---- cgroups ---- */

struct cgroups {
	char dirs[4][ZONE_PATH_MAX]; /* created, to join and remove */
	int n;
	char memdir[ZONE_PATH_MAX]; /* where the OOM count is read */
	int mem_v2;
};

/* Writes val to dir/file (a cgroup control). 0 ok, -1 error. */
static int write_str(const char *dir, const char *file, const char *val)
{
	char p[ZONE_PATH_MAX + 64];
	int fd, ok;

	if (snprintf(p, sizeof(p), "%s/%s", dir, file) >= (int)sizeof(p))
		return -1;
	fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ok = write(fd, val, strlen(val)) == (ssize_t)strlen(val);
	close(fd);
	return ok ? 0 : -1;
}

/* Reads up to len-1 bytes of dir/file into buf. */
static int read_str(const char *dir, const char *file, char *buf, size_t len)
{
	char p[ZONE_PATH_MAX + 64];
	int fd;
	ssize_t n;

	if (snprintf(p, sizeof(p), "%s/%s", dir, file) >= (int)sizeof(p))
		return -1;
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = 0;
	return 0;
}

/* The cgroup v2 hierarchy, if one is mounted: the root itself or the
 * hybrid layout's "unified". */
static const char *cg2_root(void)
{
	struct statfs s;

	if (statfs(CG_ROOT, &s) == 0 && s.f_type == CG2_MAGIC)
		return CG_ROOT;
	if (statfs(CG_ROOT "/unified", &s) == 0 && s.f_type == CG2_MAGIC)
		return CG_ROOT "/unified";
	return NULL;
}

/* Whether w is a word of the space-separated list. */
static int word_in(const char *list, const char *w)
{
	size_t l = strlen(w);

	for (const char *p = list; (p = strstr(p, w)) != NULL; p += l)
		if ((p == list || p[-1] == ' ') &&
		    (p[l] == 0 || p[l] == ' ' || p[l] == '\n'))
			return 1;
	return 0;
}

/* The leaf zonectl moves itself into, on cgroup v2, when its own cgroup
 * is not the root (v2 allows no processes in a cgroup whose children
 * have controllers). */
#define CG_LEAF "zonectl"

/* Where the zones' cgroups are made in each hierarchy: below zonectl's
 * own cgroup there (docs/zones.md, "Where the cgroups go"), which is the
 * hierarchy's top unless zonectl runs in a cgroup of its own, e.g. under
 * a systemd unit with Delegate=yes. Found once per process. */
static struct {
	int done;
	const char *v2root; /* NULL: no v2 hierarchy */
	char v2[ZONE_PATH_MAX], mem[ZONE_PATH_MAX], pids[ZONE_PATH_MAX],
		cpu[ZONE_PATH_MAX];
} cgb;

/* Whether the comma-separated controller list has ctl. */
static int ctl_in(const char *list, size_t len, const char *ctl)
{
	size_t l = strlen(ctl);

	for (size_t i = 0; i + l <= len; i++)
		if ((i == 0 || list[i - 1] == ',') &&
		    strncmp(list + i, ctl, l) == 0 &&
		    (i + l == len || list[i + l] == ','))
			return 1;
	return 0;
}

/* out = mount followed by zonectl's own cgroup in the hierarchy named by
 * ctl ("" for v2) as /proc/self/cgroup gives it ("0::/path" for v2,
 * "N:ctl,...:/path" for v1), without a trailing CG_LEAF; just mount when
 * that is the root, the line is missing or the directory is not there
 * (a cgroup namespace whose root is not the mount's). */
static void cg_base(const char *mount, const char *ctl, char *out, size_t len)
{
	char buf[4096], own[ZONE_PATH_MAX] = "";
	int fd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	struct stat st;

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = 0;
	for (char *l = buf, *nl; *l; l = *nl ? nl + 1 : nl) {
		char *c1 = strchr(l, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : 0;
		nl = strchrnul(l, '\n');
		if (!c2 || c2 > nl)
			continue;
		if (ctl[0] ? ctl_in(c1 + 1, (size_t)(c2 - c1 - 1), ctl)
			   : strncmp(l, "0::", 3) == 0) {
			snprintf(own, sizeof(own), "%.*s", (int)(nl - c2 - 1),
				 c2 + 1);
			break;
		}
	}
	n = (ssize_t)strlen(own);
	if (n > (ssize_t)strlen(CG_LEAF) + 1 &&
	    strcmp(own + n - strlen(CG_LEAF), CG_LEAF) == 0 &&
	    own[n - strlen(CG_LEAF) - 1] == '/')
		own[n - strlen(CG_LEAF) - 1] = 0;
	if (own[0] != '/' || own[1] == 0 || own[1] == '.' ||
	    strstr(own, "/..") ||
	    snprintf(out, len, "%s%s", mount, own) >= (int)len ||
	    stat(out, &st) < 0 || !S_ISDIR(st.st_mode))
		snprintf(out, len, "%s", mount);
}

/* Finds the bases once; on v2 below the root, where the base offers a
 * controller zonectl uses, moves zonectl into base/CG_LEAF first, so
 * that the base can hand controllers to the zones' cgroups (the unit's
 * other processes, if any, stay: then the v2 limits fail and are
 * reported as not applied). Done before any zone or gatewayd starts. */
static void cg_bases(void)
{
	char ctl[256], leaf[ZONE_PATH_MAX + 16], pid[32];

	if (cgb.done)
		return;
	cgb.done = 1;
	cgb.v2root = cg2_root();
	if (cgb.v2root)
		cg_base(cgb.v2root, "", cgb.v2, sizeof(cgb.v2));
	cg_base(CG_ROOT "/memory", "memory", cgb.mem, sizeof(cgb.mem));
	cg_base(CG_ROOT "/pids", "pids", cgb.pids, sizeof(cgb.pids));
	cg_base(CG_ROOT "/cpu", "cpu", cgb.cpu, sizeof(cgb.cpu));
	if (!cgb.v2root || strcmp(cgb.v2, cgb.v2root) == 0 ||
	    read_str(cgb.v2, "cgroup.controllers", ctl, sizeof(ctl)) < 0 ||
	    !(word_in(ctl, "memory") || word_in(ctl, "pids") ||
	      word_in(ctl, "cpu")) ||
	    snprintf(leaf, sizeof(leaf), "%s/%s", cgb.v2, CG_LEAF) >=
		    (int)sizeof(leaf))
		return;
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	if ((mkdir(leaf, 0755) == 0 || errno == EEXIST) &&
	    write_str(leaf, "cgroup.procs", pid) < 0)
		fprintf(stderr, "zonectl: cannot move into %s: %s\n", leaf,
			strerror(errno));
}

/* Numbers the starts of one zonectl process (a supervisor restarts). */
static unsigned cg_seq;

/* Makes (or finds) the zone's cgroup under base; remembers it. */
static const char *cg_dir(struct cgroups *cg, const char *base,
			  const struct zone_run *r)
{
	char *d;

	for (int i = 0; i < cg->n; i++)
		if (strncmp(cg->dirs[i], base, strlen(base)) == 0 &&
		    cg->dirs[i][strlen(base)] == '/')
			return cg->dirs[i];
	if (cg->n >= 4)
		return NULL;
	d = cg->dirs[cg->n];
	if (snprintf(d, ZONE_PATH_MAX, "%s/zonegate-%s-%d-%u", base, r->name,
		     (int)getpid(), cg_seq) >= ZONE_PATH_MAX)
		return NULL;
	if (mkdir(d, 0755) < 0 && errno != EEXIST)
		return NULL;
	cg->n++;
	return d;
}

/* Applies memory, pids and cpu limits: each through v2 when the v2
 * hierarchy offers that controller, else through its v1 hierarchy.
 * What could not be applied is left 0 in rep. */
static void cg_setup(struct cgroups *cg, const struct zone_run *r,
		     struct zone_report *rep)
{
	const char *v2, *d;
	char ctl[256] = "", val[64], base[ZONE_PATH_MAX];
	int used1 = 0, used2 = 0;

	cg_bases();
	v2 = cgb.v2root ? cgb.v2 : NULL;
	cg_seq++;
	if (v2 && read_str(v2, "cgroup.controllers", ctl, sizeof(ctl)) < 0)
		ctl[0] = 0;
	/* memory */
	if (r->mem) {
		snprintf(val, sizeof(val), "%llu", (unsigned long long)r->mem);
		if (v2 && word_in(ctl, "memory") &&
		    write_str(v2, "cgroup.subtree_control", "+memory") == 0 &&
		    (d = cg_dir(cg, v2, r)) &&
		    write_str(d, "memory.max", val) == 0) {
			write_str(d, "memory.swap.max", "0"); /* if swap */
			rep->mem_applied = used2 = cg->mem_v2 = 1;
			snprintf(cg->memdir, sizeof(cg->memdir), "%s", d);
		} else if ((d = cg_dir(cg, cgb.mem, r)) &&
			   write_str(d, "memory.limit_in_bytes", val) == 0) {
			write_str(d, "memory.memsw.limit_in_bytes", val);
			rep->mem_applied = used1 = 1;
			snprintf(cg->memdir, sizeof(cg->memdir), "%s", d);
		}
	}
	if (r->pids) {
		snprintf(val, sizeof(val), "%ld", r->pids);
		if (v2 && word_in(ctl, "pids") &&
		    write_str(v2, "cgroup.subtree_control", "+pids") == 0 &&
		    (d = cg_dir(cg, v2, r)) &&
		    write_str(d, "pids.max", val) == 0)
			rep->pids_applied = used2 = 1;
		else if ((d = cg_dir(cg, cgb.pids, r)) &&
			 write_str(d, "pids.max", val) == 0)
			rep->pids_applied = used1 = 1;
	}
	if (r->cpu > 0) {
		long quota = (long)(r->cpu * 100000.0);
		snprintf(val, sizeof(val), "%ld 100000", quota);
		snprintf(base, sizeof(base), "%ld", quota);
		if (v2 && word_in(ctl, "cpu") &&
		    write_str(v2, "cgroup.subtree_control", "+cpu") == 0 &&
		    (d = cg_dir(cg, v2, r)) &&
		    write_str(d, "cpu.max", val) == 0)
			rep->cpu_applied = used2 = 1;
		else if ((d = cg_dir(cg, cgb.cpu, r)) &&
			 write_str(d, "cpu.cfs_period_us", "100000") == 0 &&
			 write_str(d, "cpu.cfs_quota_us", base) == 0)
			rep->cpu_applied = used1 = 1;
	}
	snprintf(rep->cgroup, sizeof(rep->cgroup), "%s",
		 used1 && used2 ? "v1+v2"
		 : used2	? "v2"
		 : used1	? "v1"
				: "none");
}

/* In the child, before it drops root: into every cgroup made. */
static int cg_join(const struct cgroups *cg)
{
	char pid[32];

	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	for (int i = 0; i < cg->n; i++)
		if (write_str(cg->dirs[i], "cgroup.procs", pid) < 0)
			return -1;
	return 0;
}

/* Whether the memory cgroup killed something for its limit. */
static int cg_oom_killed(const struct cgroups *cg)
{
	char buf[1024];
	const char *p;

	if (!cg->memdir[0] ||
	    read_str(cg->memdir,
		     cg->mem_v2 ? "memory.events" : "memory.oom_control", buf,
		     sizeof(buf)) < 0)
		return 0;
	p = strstr(buf, "oom_kill ");
	return p && strtol(p + 9, NULL, 10) > 0;
}

/* Sends sig to every process listed in cgroup dir (one read of
 * cgroup.procs, the first 4 KiB). */
static void cg_signal(const char *dir, int sig)
{
	char buf[4096], *p, *end;
	long pid;

	if (read_str(dir, "cgroup.procs", buf, sizeof(buf)) < 0)
		return;
	for (p = buf; *p; p = end) {
		errno = 0;
		pid = strtol(p, &end, 10);
		if (end == p || errno)
			break;
		if (pid > 1)
			kill((pid_t)pid, sig);
	}
}

/* Kills whatever is still in the cgroup (nothing, normally: the zone's
 * PID namespace died with it) and removes it; the kernel empties a
 * cgroup a little after its last task is reaped, so EBUSY is retried
 * for up to two seconds. */
static void cg_remove(const struct cgroups *cg)
{
	for (int i = 0; i < cg->n; i++)
		for (int t = 0;
		     t < 200 && rmdir(cg->dirs[i]) < 0 && errno == EBUSY; t++) {
			cg_signal(cg->dirs[i], SIGKILL);
			usleep(10000);
		}
}

/* Removes the empty cgroups of zone name left by a zonectl that died
 * (zonegate-NAME-PID-N with no process PID any more) below the base of
 * each hierarchy (cg_bases: v2, v1 memory, pids, cpu). The first call
 * finds the bases, so the supervisor calls it before it starts anything. */
void zone_cg_sweep(const char *name)
{
	char pre[96], path[ZONE_PATH_MAX + 256];
	const char *base[4];
	DIR *d;
	struct dirent *e;
	long pid;
	char *end;
	size_t pl;

	cg_bases();
	base[0] = cgb.v2root ? cgb.v2 : NULL;
	base[1] = cgb.mem;
	base[2] = cgb.pids;
	base[3] = cgb.cpu;
	if (snprintf(pre, sizeof(pre), "zonegate-%s-", name) >=
	    (int)sizeof(pre))
		return;
	pl = strlen(pre);
	for (int i = 0; i < 4; i++) {
		d = base[i] ? opendir(base[i]) : NULL;
		while (d && (e = readdir(d))) {
			if (strncmp(e->d_name, pre, pl) != 0)
				continue;
			errno = 0;
			pid = strtol(e->d_name + pl, &end, 10);
			if (errno || end == e->d_name + pl || *end != '-' ||
			    pid <= 0 || (kill((pid_t)pid, 0) == 0) ||
			    errno != ESRCH)
				continue;
			if (snprintf(path, sizeof(path), "%s/%s", base[i],
				     e->d_name) < (int)sizeof(path))
				rmdir(path);
		}
		if (d)
			closedir(d);
	}
}

/* ---- the bubblewrap command line ---- */

/* /lib, /lib64, /bin, /sbin: symlinks on a merged-/usr host (mirrored as
 * symlinks), directories elsewhere (bound read-only). */
static void add_sysdir(struct args *a, struct args *ll, const char *p)
{
	char t[ZONE_PATH_MAX];
	struct stat st;
	ssize_t n;

	if (lstat(p, &st) < 0)
		return;
	if (S_ISLNK(st.st_mode)) {
		n = readlink(p, t, sizeof(t) - 1);
		if (n <= 0)
			return;
		t[n] = 0;
		add3(a, "--symlink", t, p);
	} else if (S_ISDIR(st.st_mode)) {
		add3(a, "--ro-bind", p, p);
	}
	add2(ll, "--ro", p);
}

/* The rendezvous directory, as the channel layer would pick it (root). */
static const char *sim_base(void)
{
	const char *d = getenv("ZONEGATE_SIM_DIR");

	return d && *d ? d : "/run/zonegate/sim";
}

/* The zone's own rendezvous directory $ZONEGATE_SIM_DIR/DOMID, made for
 * the zone's uid alone (0700) when absent, or given to it when root made
 * it. */
static int sim_endpoint(const struct zone_run *r, uid_t uid, char *out,
			size_t len)
{
	char *p;
	struct stat st;

	if (snprintf(out, len, "%s/%d", sim_base(), r->domid) >= (int)len)
		return -1;
	for (p = strchr(out + 1, '/'); p; p = strchr(p + 1, '/')) {
		*p = 0;
		if (mkdir(out, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	/* The base must be searchable by the zones' uids (bubblewrap binds
	 * the zone's own directory as that uid). One made 0700 by a plain
	 * zone or a channel end earlier is ours: let others pass through it
	 * (search only, never list). */
	if (stat(sim_base(), &st) == 0 && S_ISDIR(st.st_mode) &&
	    st.st_uid == geteuid() && (st.st_mode & 0011) != 0011 &&
	    chmod(sim_base(), (st.st_mode & 07777) | 0011) < 0)
		return -1;
	if (mkdir(out, 0700) == 0) {
		if (chown(out, uid, uid) < 0)
			return -1;
	} else if (errno != EEXIST || lstat(out, &st) < 0 ||
		   !S_ISDIR(st.st_mode)) {
		return -1;
	} else if (st.st_uid == 0 && st.st_uid != uid) {
		/* made by a root gateway that listened first (an agent
		 * zone's endpoint): the directory is this domid's */
		if (chown(out, uid, uid) < 0 || chmod(out, 0700) < 0)
			return -1;
	}
	return 0;
}

int zone_endpoint_make(const struct zone_run *r)
{
	char d[ZONE_PATH_MAX];

	if (!r->chan || !r->layers.enabled)
		return 0;
	return sim_endpoint(r, (uid_t)(ZONE_UID_BASE + r->domid), d, sizeof(d));
}

struct stage {
	char dir[ZONE_PATH_MAX - 16]; /* host state directory of this run */
	char out[ZONE_PATH_MAX];      /* its out/ (the zone's files.out) */
	char sim[ZONE_PATH_MAX];      /* the zone's rendezvous directory */
	char egress[ZONE_PATH_MAX];   /* the egress proxy's socket directory */
	pid_t egress_pid;
	int fds[ZONE_MAP_MAX + 1]; /* files.in, passed to bwrap --file */
	int nfds;
};

/* Whether p lies under a system directory every zone has read-only. */
static int is_std_path(const char *p)
{
	static const char *const std[] = { "/usr/", "/bin/", "/sbin/", "/lib/",
					   "/lib64/" };

	for (size_t i = 0; i < sizeof(std) / sizeof(std[0]); i++)
		if (strncmp(p, std[i], strlen(std[i])) == 0)
			return 1;
	return 0;
}

/* files.in: each host file opened here (as root) and copied by bwrap
 * into the zone's tmpfs root; nothing of it is bound. */
static int add_files_in(const struct zone_run *r, struct stage *s,
			struct args *a, struct args *ll, char *err,
			size_t errlen)
{
	char fdn[16], mode[16];

	for (size_t i = 0; i < r->nin; i++) {
		struct stat st;
		/* O_NONBLOCK: a FIFO named here must not hang zonectl */
		int fd = open(r->in[i].host, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
		    (uint64_t)st.st_size > ZONE_IN_FILE_MAX) {
			snprintf(err, errlen,
				 "files.in: %s must be a readable regular "
				 "file of at most 1 GiB",
				 r->in[i].host);
			if (fd >= 0)
				close(fd);
			return -1;
		}
		fcntl(fd, F_SETFL, 0);
		fcntl(fd, F_SETFD, 0); /* bwrap reads it */
		s->fds[s->nfds++] = fd;
		snprintf(fdn, sizeof(fdn), "%d", fd);
		snprintf(mode, sizeof(mode), "0%o",
			 (unsigned)((st.st_mode & 0111) ? 0755 : 0644));
		add2(a, "--perms", mode);
		add3(a, "--file", fdn, r->in[i].zone);
		add2(ll, "--rw", r->in[i].zone);
	}
	return 0;
}

/* Fills a with bubblewrap's command line up to the helper's options, and
 * ll with the helper's Landlock paths (--ro/--rw): the two lists name the
 * same zone paths, so what is mounted is what Landlock grants. fin holds
 * the files.in copies. Errors show as a->bad / ll->bad. */
static void build_bwrap(const struct zone_run *r, const struct stage *s,
			const char *bwrap, const char *helper, int status_fd,
			const struct args *fin, struct args *a, struct args *ll)
{
	const struct zone_layers *L = &r->layers;
	char buf[96];
	int have_path = 0, in_cmd = 0;

	add(a, bwrap);
	add(a, "--unshare-user");
	add(a, "--unshare-pid");
	add(a, "--unshare-ipc");
	add(a, "--unshare-uts");
	add(a, "--unshare-cgroup");
	if (L->netns)
		add(a, "--unshare-net");
	add(a, "--die-with-parent");
	add(a, "--new-session");
	snprintf(buf, sizeof(buf), "zone-%s", r->name);
	add2(a, "--hostname", buf);
	if (!L->drop_caps) {
		/* root of its user namespace, so that exec keeps them */
		add2(a, "--cap-add", "ALL");
		add2(a, "--uid", "0");
		add2(a, "--gid", "0");
	}
	if (L->mount) {
		add3(a, "--ro-bind", "/usr", "/usr");
		add2(ll, "--ro", "/usr");
		add_sysdir(a, ll, "/lib");
		add_sysdir(a, ll, "/lib64");
		add_sysdir(a, ll, "/lib32");
		add_sysdir(a, ll, "/bin");
		add_sysdir(a, ll, "/sbin");
		static const char *const etc[] = { "/etc/ld.so.cache",
						   "/etc/ld.so.conf",
						   "/etc/ld.so.conf.d",
						   "/etc/localtime",
						   "/etc/nsswitch.conf" };
		for (size_t i = 0; i < sizeof(etc) / sizeof(etc[0]); i++)
			add3(a, "--ro-bind-try", etc[i], etc[i]);
	} else {
		add3(a, "--ro-bind", "/", "/");
		add2(ll, "--ro", "/usr");
		add2(ll, "--ro", "/lib");
		add2(ll, "--ro", "/lib64");
		add2(ll, "--ro", "/bin");
		add2(ll, "--ro", "/sbin");
	}
	add2(ll, "--ro", "/etc");
	add2(a, "--proc", "/proc");
	add2(ll, "--ro", "/proc");
	add2(a, "--dev", "/dev");
	add2(ll, "--rw", "/dev/null");
	add2(ll, "--rw", "/dev/zero");
	add2(ll, "--rw", "/dev/full");
	add2(ll, "--ro", "/dev/urandom");
	add2(ll, "--ro", "/dev/random");
	add2(a, "--tmpfs", "/tmp");
	add2(ll, "--rw", "/tmp");
	/* the helper: at its own path where the host root is visible */
	if (L->mount) {
		add3(a, "--ro-bind", helper, ZONE_HELPER_PATH);
		add2(ll, "--ro", "/.zonegate");
	} else {
		/* The host root is bound read-only, so the helper goes into
		 * the fresh /tmp: its host path may lie under /tmp (hidden)
		 * or under a directory the zone's uid cannot enter. */
		add3(a, "--ro-bind", helper, ZONE_HELPER_TMP);
		add2(ll, "--ro", ZONE_HELPER_TMP);
	}
	for (size_t i = 0; i < fin->n; i++)
		add(a, fin->v[i]);
	for (size_t i = 0; i < r->nin; i++)
		in_cmd |= strcmp(r->in[i].zone, r->argv[0]) == 0;
	/* a command in a files.ro tree is there already (that bind) */
	for (size_t i = 0; i < r->nro; i++) {
		size_t zl = strlen(r->ro[i].zone);
		in_cmd |= strncmp(r->ro[i].zone, r->argv[0], zl) == 0 &&
			  (r->argv[0][zl] == '\0' || r->argv[0][zl] == '/');
	}
	if (!in_cmd && !is_std_path(r->argv[0])) {
		add3(a, "--ro-bind", r->argv[0], r->argv[0]);
		add2(ll, "--ro", r->argv[0]);
	}
	for (size_t i = 0; i < r->nro; i++) {
		add3(a, "--ro-bind", r->ro[i].host, r->ro[i].zone);
		add2(ll, "--ro", r->ro[i].zone);
	}
	if (r->out_zone) {
		add3(a, "--bind", s->out, r->out_zone);
		add2(ll, "--rw", r->out_zone);
	}
	if (s->sim[0]) {
		add3(a, "--bind", s->sim, s->sim);
		add2(ll, "--rw", s->sim);
	}
	if (s->egress[0]) /* read-only: connect needs no write access */
		add3(a, "--ro-bind", s->egress, ZONE_EGRESS_DIR);
	add(a, "--clearenv");
	for (size_t i = 0; i < r->nenv; i++) {
		char *eq = strchr(r->env[i], '=');
		char k[160];
		snprintf(k, sizeof(k), "%.*s", (int)(eq - r->env[i]),
			 r->env[i]);
		have_path |= strcmp(k, "PATH") == 0;
		add3(a, "--setenv", k, eq + 1);
	}
	if (!have_path)
		add3(a, "--setenv", "PATH", "/usr/bin:/bin");
	add3(a, "--setenv", "ZONEGATE_ZONE", r->name);
	if (s->egress[0])
		add3(a, "--setenv", "ZONEGATE_EGRESS", ZONE_EGRESS_SOCK);
	if (r->chan) {
		add3(a, "--setenv", "ZONEGATE_CHAN", r->chan);
		if (r->tool_chan) /* a zone that is both: its tool side */
			add3(a, "--setenv", "ZONEGATE_TOOL_CHAN", r->tool_chan);
		add3(a, "--setenv", "ZONEGATE_SIM_DIR", sim_base());
	}
	add2(a, "--chdir", "/");
	add(a, "--");
	add(a, L->mount ? ZONE_HELPER_PATH : ZONE_HELPER_TMP);
	snprintf(buf, sizeof(buf), "%d", status_fd);
	add2(a, "--status-fd", buf);
	if (!L->seccomp)
		add(a, "--no-seccomp");
	if (!L->landlock)
		add(a, "--no-landlock");
	if (!L->drop_caps)
		add(a, "--keep-caps");
	add(a, "--net-none");
}

/* ---- running ---- */

/* A started zone: what its end needs to report and clean up. */
struct zone_proc {
	const struct zone_run *r;
	pid_t pid;
	struct stage s;
	struct cgroups cg;
	struct zone_report rep;
};

static pid_t zone_child = -1;

/* SIGINT/SIGTERM to zonectl go to the zone. */
static void forward(int sig)
{
	if (zone_child > 0)
		kill(zone_child, sig);
}

/* The state directory of this run, out/ in it owned by the zone's uid. */
static int stage_make(const struct zone_run *r, struct stage *s, uid_t uid,
		      char *err, size_t errlen)
{
	const char *t = getenv("TMPDIR");

	if (snprintf(s->dir, sizeof(s->dir), "%s/zonegate-%s-XXXXXX",
		     t && *t == '/' ? t : "/tmp",
		     r->name) >= (int)sizeof(s->dir) ||
	    !mkdtemp(s->dir) || chmod(s->dir, 0711) < 0) {
		snprintf(err, errlen, "cannot make a state directory: %s",
			 strerror(errno));
		s->dir[0] = 0;
		return -1;
	}
	snprintf(s->out, sizeof(s->out), "%s/out", s->dir);
	if (mkdir(s->out, 0700) < 0 || chown(s->out, uid, uid) < 0) {
		snprintf(err, errlen, "cannot make %s: %s", s->out,
			 strerror(errno));
		return -1;
	}
	return 0;
}

/* The egress proxy for a zone with network.egress, outside the zone;
 * its socket directory is bound into the zone (build_bwrap). */
static int start_egress(const struct zone_run *r, struct stage *s, uid_t uid,
			char *err, size_t errlen)
{
	if (snprintf(s->egress, sizeof(s->egress), "%s/egress", s->dir) >=
	    (int)sizeof(s->egress)) {
		snprintf(err, errlen, "zone %s: state path too long", r->name);
		s->egress[0] = 0;
		return -1;
	}
	s->egress_pid = zone_egress_start(r, s->egress, uid, err, errlen);
	return s->egress_pid > 0 ? 0 : -1;
}

/* Fills rep from the helper's "applied ..." line. */
static void parse_status(const char *line, struct zone_report *rep)
{
	const char *p;

	if ((p = strstr(line, "caps_dropped=")))
		rep->caps_dropped = p[13] == '1';
	if ((p = strstr(line, "landlock=")))
		rep->landlock_abi = (int)strtol(p + 9, NULL, 10);
	rep->landlock = rep->landlock_abi > 0;
	if ((p = strstr(line, "seccomp=")))
		rep->seccomp = p[8] == '1';
	rep->nnp = strstr(line, "nnp=1") != NULL;
}

/* Reads the helper's one status line (or EOF when it never ran). */
static int read_status(int fd, char *line, size_t len)
{
	size_t n = 0;
	ssize_t k;

	while (n + 1 < len && (k = read(fd, line + n, 1)) == 1 &&
	       line[n] != '\n')
		n++;
	line[n] = 0;
	return n > 0 ? 0 : -1;
}

/* The forked child: joins the cgroups, puts its output on logfd (unless
 * -1), becomes the zone's uid (unless plain) and execs bubblewrap (or,
 * plain, the command). Never returns. */
static void child_exec(const struct zone_run *r, const struct cgroups *cg,
		       uid_t uid, char **argv, int plain, int logfd)
{
	int nul;

	if (cg_join(cg) < 0) {
		fprintf(stderr, "zonectl: cannot join the zone's cgroups\n");
		_exit(126);
	}
	if (logfd >= 0) {
		nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (nul < 0 || dup2(nul, 0) < 0 || dup2(logfd, 1) < 0 ||
		    dup2(logfd, 2) < 0)
			_exit(126);
		setsid(); /* not in the supervisor's terminal session */
	}
	if (!plain && (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 ||
		       setresuid(uid, uid, uid) < 0)) {
		fprintf(stderr, "zonectl: cannot become uid %u: %s\n",
			(unsigned)uid, strerror(errno));
		_exit(126);
	}
	/* after the uid change, which clears it */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (plain) /* argv is then the environment (plain_env) */
		execve(r->argv[0], r->argv, argv);
	else
		execv(argv[0], argv);
	fprintf(stderr, "zonectl: %s: %s\n", plain ? r->argv[0] : argv[0],
		strerror(errno));
	_exit(127);
}

/* The environment of a plain ("sandbox": false) zone, into a: its env,
 * PATH unless env has one, and what a sandboxed zone is told too
 * (ZONEGATE_ZONE; for a sim channel ZONEGATE_CHAN, ZONEGATE_SIM_DIR and,
 * for a zone that is both agent and tool, ZONEGATE_TOOL_CHAN),
 * so that the same command works either way. 0, or -1 with err. */
static int plain_env(const struct zone_run *r, struct args *a, char *err,
		     size_t errlen)
{
	char v[ZONE_PATH_MAX + 64];
	int have_path = 0;

	for (size_t i = 0; i < r->nenv; i++) {
		have_path |= strncmp(r->env[i], "PATH=", 5) == 0;
		add(a, r->env[i]);
	}
	if (!have_path)
		add(a, "PATH=/usr/bin:/bin");
	snprintf(v, sizeof(v), "ZONEGATE_ZONE=%s", r->name);
	add(a, v);
	if (r->chan) {
		snprintf(v, sizeof(v), "ZONEGATE_CHAN=%s", r->chan);
		add(a, v);
		snprintf(v, sizeof(v), "ZONEGATE_SIM_DIR=%s", sim_base());
		add(a, v);
		if (r->tool_chan) {
			snprintf(v, sizeof(v), "ZONEGATE_TOOL_CHAN=%s",
				 r->tool_chan);
			add(a, v);
		}
	}
	if (a->bad) {
		snprintf(err, errlen, "zone %s: environment too large",
			 r->name);
		return -1;
	}
	return 0;
}

/* Waits for pid; its status in the shell's convention (128+N). */
static int wait_zone(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return 127;
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return WEXITSTATUS(st);
}

/* Whether the zone can start as configured; -1 with err if not (a
 * sandbox that cannot be applied never falls back to none). */
static int start_checks(const struct zone_run *r, const char *bwrap,
			const char *helper, char *err, size_t errlen)
{
	if (!r->layers.enabled) {
		if (r->egress.n) {
			snprintf(err, errlen,
				 "zone %s: network.egress needs the sandbox (a "
				 "plain process has the host's whole network)",
				 r->name);
			return -1;
		}
		if (r->nin || r->nro || r->out_zone) {
			snprintf(err, errlen,
				 "zone %s: files need the sandbox (a plain "
				 "process has no zone paths)",
				 r->name);
			return -1;
		}
		return 0;
	}
	if (geteuid() != 0) {
		snprintf(err, errlen,
			 "zone %s: zonectl runs sandboxed zones as root (it "
			 "gives each zone its own host uid)",
			 r->name);
		return -1;
	}
	if (access(bwrap, X_OK) < 0 || access(helper, X_OK) < 0) {
		snprintf(err, errlen,
			 "zone %s: sandbox unavailable: %s not found (install "
			 "bubblewrap, or set \"sandbox\": false)",
			 r->name, access(bwrap, X_OK) < 0 ? bwrap : helper);
		return -1;
	}
	return 0;
}

/* Builds the bubblewrap command line of p's zone (its staging, endpoint
 * and files.in first). 0, or -1 with err. */
static int prepare(struct zone_proc *p, const char *helper, const char *bwrap,
		   int status_fd, struct args *a, char *err, size_t errlen)
{
	const struct zone_run *r = p->r;
	struct args ll = { 0 }, fin = { 0 };
	uid_t uid = (uid_t)(ZONE_UID_BASE + r->domid);
	int rc = -1;

	if (stage_make(r, &p->s, uid, err, errlen) < 0)
		goto out;
	if (r->egress.n && start_egress(r, &p->s, uid, err, errlen) < 0)
		goto out;
	if (r->chan && sim_endpoint(r, uid, p->s.sim, sizeof(p->s.sim)) < 0) {
		snprintf(err, errlen,
			 "zone %s: cannot make its rendezvous directory "
			 "under %s",
			 r->name, sim_base());
		goto out;
	}
	if (add_files_in(r, &p->s, &fin, &ll, err, errlen) < 0)
		goto out;
	build_bwrap(r, &p->s, bwrap, helper, status_fd, &fin, a, &ll);
	for (size_t i = 0; i < ll.n; i++)
		add(a, ll.v[i]);
	add(a, "--");
	for (size_t i = 0; i < r->argc; i++)
		add(a, r->argv[i]);
	if (a->bad || fin.bad || ll.bad) {
		snprintf(err, errlen, "zone %s: command line too long",
			 r->name);
		goto out;
	}
	rc = 0;
out:
	args_free(&ll);
	args_free(&fin);
	return rc;
}

/* Frees p after stopping its egress proxy and removing its staging
 * directory and cgroups. */
static void proc_free(struct zone_proc *p)
{
	for (int i = 0; i < p->s.nfds; i++)
		close(p->s.fds[i]);
	if (p->s.egress_pid > 0) {
		kill(p->s.egress_pid, SIGKILL);
		waitpid(p->s.egress_pid, NULL, 0);
	}
	if (p->s.dir[0])
		zone_rm_tree(AT_FDCWD, p->s.dir, 0);
	cg_remove(&p->cg);
	free(p);
}

struct zone_proc *zone_start(const struct zone_run *r, const char *helper,
			     const char *bwrap, int logfd,
			     struct zone_report *rep, char *err, size_t errlen)
{
	struct zone_proc *p = calloc(1, sizeof(*p));
	struct args a = { 0 };
	uid_t uid = (uid_t)(ZONE_UID_BASE + r->domid);
	int sp[2] = { -1, -1 }, ok = 0;
	char line[ZONE_STATUS_MAX];

	if (!p) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	p->r = r;
	p->pid = -1;
	memset(rep, 0, sizeof(*rep));
	rep->status = -1;
	if (start_checks(r, bwrap, helper, err, errlen) < 0)
		goto out;
	rep->sandboxed = r->layers.enabled;
	rep->uid = r->layers.enabled ? uid : geteuid();
	cg_setup(&p->cg, r, rep);
	if (!r->layers.enabled && plain_env(r, &a, err, errlen) < 0)
		goto out;
	if (r->layers.enabled) {
		rep->egress = r->egress.n > 0;
		if (pipe2(sp, O_CLOEXEC) < 0 || fcntl(sp[1], F_SETFD, 0) < 0) {
			snprintf(err, errlen, "pipe: %s", strerror(errno));
			goto out;
		}
		if (prepare(p, helper, bwrap, sp[1], &a, err, errlen) < 0)
			goto out;
	}
	p->pid = fork();
	if (p->pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		goto out;
	}
	if (p->pid == 0)
		child_exec(r, &p->cg, uid, a.v, !r->layers.enabled, logfd);
	for (int i = 0; i < p->s.nfds; i++)
		close(p->s.fds[i]);
	p->s.nfds = 0;
	ok = 1;
	if (!r->layers.enabled)
		goto out;
	close(sp[1]);
	sp[1] = -1;
	/* Only the helper's word that it ran inside counts: without it
	 * nothing is reported as applied. */
	if (read_status(sp[0], line, sizeof(line)) == 0 &&
	    strncmp(line, "applied ", 8) == 0) {
		parse_status(line, rep);
		rep->userns = rep->mntns = rep->pidns = rep->ipcns =
			rep->utsns = rep->cgroupns = 1;
		rep->netns = r->layers.netns;
		rep->fresh_root = r->layers.mount;
	} else {
		rep->sandboxed = 0; /* never reached the command */
		rep->failed = 1;
	}
out:
	if (sp[0] >= 0)
		close(sp[0]);
	if (sp[1] >= 0)
		close(sp[1]);
	args_free(&a);
	if (!ok) {
		proc_free(p);
		return NULL;
	}
	p->rep = *rep;
	return p;
}

pid_t zone_proc_pid(const struct zone_proc *p)
{
	return p->pid;
}

void zone_proc_kill(struct zone_proc *p, int sig)
{
	if (p->pid > 0)
		kill(p->pid, sig);
	for (int i = 0; i < p->cg.n; i++)
		cg_signal(p->cg.dirs[i], sig);
}

int zone_proc_collect(struct zone_proc *p, char *msg, size_t len)
{
	const struct zone_run *r = p->r;
	int fd, rc;

	if (!r->out_zone) {
		snprintf(msg, len, "zone %s has no files.out", r->name);
		return -1;
	}
	fd = open(p->s.out, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		snprintf(msg, len, "files.out: staging directory gone");
		return -1;
	}
	rc = zone_copy_out(fd, r->out_host, r->out_max_bytes, r->out_max_files,
			   msg, len);
	close(fd);
	return rc;
}

/* The egress line of the table: the proxy and its destinations. */
static void print_egress(const struct zone_run *r)
{
	const struct zone_egress *g = &r->egress;

	printf("  %-14s egress proxy only (max %ld connections, %llu bytes, "
	       "idle %lds):",
	       "network", g->max_conns, (unsigned long long)g->max_bytes,
	       g->idle_s);
	for (size_t i = 0; i < g->n; i++)
		printf(strchr(g->dest[i].host, ':') ? " [%s]:%d" : " %s:%d",
		       g->dest[i].host, g->dest[i].port);
	printf("\n");
}

void zone_proc_end(struct zone_proc *p, int status, struct zone_report *rep)
{
	*rep = p->rep;
	rep->status = status;
	rep->oom_killed = cg_oom_killed(&p->cg);
	if (p->r->out_zone)
		rep->out_ok = zone_proc_collect(p, rep->out_msg,
						sizeof(rep->out_msg)) == 0;
	proc_free(p);
}

int zone_run_foreground(const struct zone_run *r, const char *helper,
			const char *bwrap, int json, struct zone_report *rep,
			char *err, size_t errlen)
{
	struct zone_proc *p;
	int status;

	p = zone_start(r, helper, bwrap, -1, rep, err, errlen);
	if (!p)
		return -1;
	zone_child = p->pid;
	signal(SIGINT, forward);
	signal(SIGTERM, forward);
	if (!json)
		zone_report_print(r, rep, 0);
	status = wait_zone(p->pid);
	zone_child = -1;
	zone_proc_end(p, status, rep);
	return 0;
}

/* "yes" or "NO", for the table. */
static const char *yn(int v)
{
	return v ? "yes" : "NO";
}

void zone_report_print(const struct zone_run *r, const struct zone_report *rep,
		       int json)
{
	char ll[32], mem[48] = "-", cpu[48] = "-", pids[48] = "-";

	snprintf(ll, sizeof(ll), rep->landlock ? "yes (ABI %d)" : "NO",
		 rep->landlock_abi);
	if (r->mem)
		snprintf(mem, sizeof(mem), "%llu%s", (unsigned long long)r->mem,
			 rep->mem_applied ? "" : " NOT APPLIED");
	if (r->pids)
		snprintf(pids, sizeof(pids), "%ld%s", r->pids,
			 rep->pids_applied ? "" : " NOT APPLIED");
	if (r->cpu > 0)
		snprintf(cpu, sizeof(cpu), "%.2f%s", r->cpu,
			 rep->cpu_applied ? "" : " NOT APPLIED");
	if (json) {
		printf("{\"zone\":\"%s\",\"domid\":%d,\"sandboxed\":%s,"
		       "\"uid\":%u,\"namespaces\":{\"user\":%s,\"mount\":%s,"
		       "\"pid\":%s,\"ipc\":%s,\"uts\":%s,\"net\":%s,"
		       "\"cgroup\":%s},\"fresh_root\":%s,\"seccomp\":%s,"
		       "\"landlock_abi\":%d,\"no_new_privs\":%s,"
		       "\"caps_dropped\":%s,\"cgroup\":\"%s\","
		       "\"limits\":{\"memory\":%s,\"pids\":%s,\"cpu\":%s},"
		       "\"status\":%d,\"oom_killed\":%s,\"files_out\":%s,"
		       "\"network\":\"%s\",\"shared_kernel\":true}\n",
		       r->name, r->domid, rep->sandboxed ? "true" : "false",
		       (unsigned)rep->uid, rep->userns ? "true" : "false",
		       rep->mntns ? "true" : "false",
		       rep->pidns ? "true" : "false",
		       rep->ipcns ? "true" : "false",
		       rep->utsns ? "true" : "false",
		       rep->netns ? "true" : "false",
		       rep->cgroupns ? "true" : "false",
		       rep->fresh_root ? "true" : "false",
		       rep->seccomp ? "true" : "false", rep->landlock_abi,
		       rep->nnp ? "true" : "false",
		       rep->caps_dropped ? "true" : "false", rep->cgroup,
		       rep->mem_applied ? "true" : "false",
		       rep->pids_applied ? "true" : "false",
		       rep->cpu_applied ? "true" : "false", rep->status,
		       rep->oom_killed ? "true" : "false",
		       !r->out_zone  ? "null"
		       : rep->out_ok ? "\"copied\""
				     : "\"refused\"",
		       rep->egress ? "egress-proxy" : "none");
		return;
	}
	printf("zone %s (domid %d): %s\n", r->name, r->domid,
	       rep->sandboxed ? "sandboxed (shared kernel, not a VM)"
	       : rep->failed  ? "SANDBOX NOT APPLIED (command not run)"
			      : "NOT SANDBOXED (plain process)");
	printf("  %-14s %u\n", "host uid", (unsigned)rep->uid);
	printf("  %-14s user %s, mount %s, pid %s, ipc %s, uts %s, net %s, "
	       "cgroup %s\n",
	       "namespaces", yn(rep->userns), yn(rep->mntns), yn(rep->pidns),
	       yn(rep->ipcns), yn(rep->utsns), yn(rep->netns),
	       yn(rep->cgroupns));
	printf("  %-14s %s\n", "fresh root", yn(rep->fresh_root));
	if (rep->egress)
		print_egress(r);
	else
		printf("  %-14s %s\n", "network",
		       rep->netns ? "none (loopback only)" : "HOST NETWORK");
	printf("  %-14s %s\n", "seccomp", yn(rep->seccomp));
	printf("  %-14s %s\n", "landlock", ll);
	printf("  %-14s %s\n", "no_new_privs", yn(rep->nnp));
	printf("  %-14s %s\n", "caps dropped", yn(rep->caps_dropped));
	printf("  %-14s %s: memory %s, pids %s, cpu %s\n", "cgroup",
	       rep->cgroup, mem, pids, cpu);
	fflush(stdout);
}
