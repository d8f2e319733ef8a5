/* Sandboxed zones on a host without Xen (docs/zones.md): a zone's `run`
 * block from the gateway's config, the bubblewrap sandbox zonectl builds
 * from it, cgroup limits, files in and out, and the in-zone helper that
 * applies Landlock and seccomp just before the zone's command runs. */
#ifndef ZG_SANDBOX_H
#define ZG_SANDBOX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ZONE_PATH_MAX 1024 /* a zone or host path in the run block */
#define ZONE_ARGV_MAX 256  /* command arguments */
#define ZONE_MAP_MAX 256   /* files.in / files.ro entries, env entries */
#define ZONE_IN_FILE_MAX (1ULL << 30)	 /* one files.in file */
#define ZONE_OUT_BYTES_DEF (64ULL << 20) /* files.out default caps */
#define ZONE_OUT_FILES_DEF 10000ULL
#define ZONE_MEM_DEF (1ULL << 30)
#define ZONE_PIDS_DEF 512    /* threads count: room for mcpd's pool, node */
#define ZONE_UID_BASE 100000 /* host uid of a zone: ZONE_UID_BASE + domid */
#define ZONE_HELPER_PATH "/.zonegate/zonegate-zone-init"
/* where it is when the host root is exposed read-only (a layer test) */
#define ZONE_HELPER_TMP "/tmp/.zonegate-zone-init"

#define ZONE_EGRESS_MAX 64 /* "network": {"egress": [...]} entries */
#define ZONE_EGRESS_CONNS_DEF 16
#define ZONE_EGRESS_BYTES_DEF (1ULL << 30)
#define ZONE_EGRESS_IDLE_DEF 60
/* the egress proxy's socket inside the zone (docs/zones.md "Network") */
#define ZONE_EGRESS_DIR "/.zonegate/egress"
#define ZONE_EGRESS_SOCK ZONE_EGRESS_DIR "/sock"

/* One allowed destination: a lower-case DNS name or an IP literal in its
 * canonical text (inet_ntop), and a port. */
struct zone_dest {
	char host[256];
	int port;
};

/* A zone's egress: empty (n 0) means no network at all. The caps hold
 * for the whole run: concurrent connections, bytes in both directions,
 * seconds a connection may stay idle. */
struct zone_egress {
	struct zone_dest dest[ZONE_EGRESS_MAX];
	size_t n;
	long max_conns;
	uint64_t max_bytes;
	long idle_s;
};

/* One mapping: a path inside the zone and the host path behind it. */
struct zone_map {
	char *zone;
	char *host;
};

/* The sandbox layers; all on unless the config turns one off (tests and
 * diagnosis) or `"sandbox": false` turns every one off. */
struct zone_layers {
	int enabled;   /* 0: a plain process, reported as such */
	int mount;     /* fresh tmpfs root (else the host's, read-only) */
	int netns;     /* own network namespace (loopback only) */
	int seccomp;   /* syscall allowlist */
	int landlock;  /* file, TCP and scope confinement */
	int drop_caps; /* no capabilities in the zone's user namespace */
};

enum zone_restart {
	ZONE_RESTART_NO = 0,
	ZONE_RESTART_ON_FAILURE,
	ZONE_RESTART_ALWAYS
};

struct zone_run {
	char name[64];
	int domid;
	char *chan; /* "sim:N:PATH" or NULL */
	/* a zone that is both agent and tool: its tool side's "sim:N:PATH"
	 * (chan is its agent side), else NULL */
	char *tool_chan;
	char **argv; /* NULL-terminated */
	size_t argc;
	struct zone_map *in, *ro;
	size_t nin, nro;
	char *out_zone, *out_host; /* both NULL without files.out */
	uint64_t out_max_bytes, out_max_files;
	uint64_t mem; /* bytes, 0: none */
	long pids;    /* 0: none */
	double cpu;   /* cores, 0: none */
	char **env;   /* "K=V", NULL-terminated */
	size_t nenv;
	struct zone_layers layers;
	struct zone_egress egress;
	enum zone_restart restart; /* for the supervisor (zone_sup.c) */
};

/* Reads the gateway config FILE (checked whole by gw_config_load first)
 * and parses zone NAME's `run` block into a new zone_run. Returns NULL
 * with "file:line: message" in err on any error (unknown keys included).
 * The caller frees the result with zone_run_free. */
struct zone_run *zone_run_load(const char *file, const char *name, char *err,
			       size_t errlen);
void zone_run_free(struct zone_run *r);

/* Parses a memory size ("128m", "1g", "65536", "512k"). 0 ok, -1 bad. */
int zone_parse_size(const char *s, uint64_t *out);

/* Parses "HOST:PORT" ("[V6]:PORT" for IPv6) into d: HOST a DNS name
 * (lower-cased) or an IP literal (canonicalised). 0 ok, -1 bad. */
int zone_dest_parse(const char *s, struct zone_dest *d);

/* The proxy's side of a SOCKS5 greeting and CONNECT request read from
 * fd (what a zone sends; exported for the fuzz target): host (canonical,
 * hlen >= 256) and port filled on 0; a SOCKS5 reply code (> 0) for a
 * request it refuses, or -1 when the client broke the protocol. */
int zone_egress_request(int fd, int idle_ms, char *host, size_t hlen,
			int *port);

/* Starts the egress proxy of R outside the zone (zone_egress.c): binds
 * its socket at DIR/sock (DIR made for uid, mode 0700), forks a process
 * that drops to uid and forwards only to R's egress list. Returns its
 * pid, or -1 with err. The caller kills and reaps it after the run. */
pid_t zone_egress_start(const struct zone_run *r, const char *dir, uid_t uid,
			char *err, size_t errlen);

/* What was applied to one run, for the report (table or JSON). */
struct zone_report {
	int sandboxed;
	int failed; /* the sandbox was asked for and not applied */
	uid_t uid;
	int userns, mntns, pidns, ipcns, utsns, netns, cgroupns;
	int fresh_root, seccomp, landlock_abi, landlock, nnp, caps_dropped;
	char cgroup[16]; /* "v1", "v2", "none" */
	int mem_applied, pids_applied, cpu_applied;
	int egress;	   /* the egress proxy ran (destinations: r->egress) */
	int status;	   /* the zone's exit status (shell convention) */
	int oom_killed;	   /* the memory cgroup counted an OOM kill */
	char out_msg[256]; /* files.out result */
	int out_ok;
};

/* The helper's status line, written to --status-fd before exec. */
#define ZONE_STATUS_MAX 256

/* Copies the tree at staging dir SRC (fd) into a new sibling of HOST and
 * renames it into place (the old contents replaced whole). Refuses
 * symlinks, devices, FIFOs, sockets, more than max_files entries or more
 * than max_bytes; on refusal HOST is left as it was and err says why.
 * 0 ok, -1 error. */
int zone_copy_out(int srcfd, const char *host, uint64_t max_bytes,
		  uint64_t max_files, char *err, size_t errlen);

/* Removes NAME under dirfd and all below it, never following symlinks
 * (the tree may be a zone's). 0 ok, -1 when something stayed. */
int zone_rm_tree(int dirfd, const char *name, int depth);

/* Runs R in its sandbox in the foreground (zonectl run): sets up cgroups,
 * stages files, starts bubblewrap as the zone's uid, reports, waits,
 * copies files.out back. helper is the host path of zonegate-zone-init.
 * Fills rep; returns 0 when the zone ran (rep->status is its status),
 * -1 when it could not be started (err says why). */
int zone_run_foreground(const struct zone_run *r, const char *helper,
			const char *bwrap, int json, struct zone_report *rep,
			char *err, size_t errlen);

/* Makes a sandboxed sim zone's rendezvous directory SIMDIR/DOMID for its
 * uid before anything listens there (the gateway, for an agent zone, then
 * opens its socket to that uid). 0, or -1 with errno. */
int zone_endpoint_make(const struct zone_run *r);

/* Removes empty cgroups of zone name that a zonectl which died left
 * behind (zonectl up, before starting the zone). */
void zone_cg_sweep(const char *name);

/* A zone started by zone_start, until zone_proc_end. */
struct zone_proc;

/* Starts R in its sandbox (as zone_run_foreground does) without waiting:
 * stdin from /dev/null and stdout+stderr to logfd in a new session
 * unless logfd is -1 (then inherited). Fills rep with what was applied.
 * Returns the started zone (R must outlive it), or NULL with err when it
 * could not be started. */
struct zone_proc *zone_start(const struct zone_run *r, const char *helper,
			     const char *bwrap, int logfd,
			     struct zone_report *rep, char *err, size_t errlen);
/* The pid the caller waits for (bubblewrap, or the plain command). */
pid_t zone_proc_pid(const struct zone_proc *p);
/* Sends sig to the zone: its pid and every process in its cgroups (a
 * sandboxed zone's PID namespace dies with bubblewrap). */
void zone_proc_kill(struct zone_proc *p, int sig);
/* Copies files.out back now (zonectl collect). 0, or -1; msg says. */
int zone_proc_collect(struct zone_proc *p, char *msg, size_t len);
/* After the caller reaped the pid with STATUS (shell convention): fills
 * rep (OOM kill, files.out copied back), removes the staging directory
 * and cgroups, frees p. */
void zone_proc_end(struct zone_proc *p, int status, struct zone_report *rep);

/* Prints rep as a table (json 0) or one JSON object (json 1) to stdout. */
void zone_report_print(const struct zone_run *r, const struct zone_report *rep,
		       int json);

#endif
