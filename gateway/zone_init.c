/* zonegate-zone-init: the last step of a zone's sandbox, run inside it by
 * bubblewrap just before the zone's command. Sets no_new_privs, drops
 * every capability, applies a Landlock ruleset (zone paths only, no TCP,
 * scoped signals and abstract sockets) and a libseccomp allowlist, tells
 * zonectl what it applied on --status-fd, then execs the command. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/landlock.h>
#include <sched.h>
#include <seccomp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox.h"
#include "zg_version.h"

#define INIT_PATHS_MAX 512

/* Landlock past the ABI 2 that Debian 12's headers know (values from the
 * kernel's uapi: ABI 3 truncate, 4 TCP, 5 ioctl on devices, 6 scopes). */
#define LL_FS_TRUNCATE (1ULL << 14)
#define LL_FS_IOCTL_DEV (1ULL << 15)
#define LL_NET_BIND_TCP (1ULL << 0)
#define LL_NET_CONNECT_TCP (1ULL << 1)
#define LL_SCOPE_ABSTRACT_UNIX (1ULL << 0)
#define LL_SCOPE_SIGNAL (1ULL << 1)

/* struct landlock_ruleset_attr as of ABI 6; the size passed is the one
 * the running kernel's ABI understands. */
struct ll_attr {
	uint64_t fs;
	uint64_t net;
	uint64_t scoped;
};

struct init_opts {
	int status_fd;
	int seccomp, landlock, drop_caps, net_none;
	const char *ro[INIT_PATHS_MAX], *rw[INIT_PATHS_MAX];
	size_t nro, nrw;
	char **argv;
};

/* The Landlock ABI the running kernel offers; 0 if none. */
static int ll_abi(void)
{
	long v = syscall(SYS_landlock_create_ruleset, NULL, 0,
			 LANDLOCK_CREATE_RULESET_VERSION);
	return v < 0 ? 0 : (int)v;
}

/* Every filesystem right the ABI knows. */
static uint64_t ll_fs_all(int abi)
{
	uint64_t a = (1ULL << 13) - 1; /* ABI 1: execute .. make_sym */

	if (abi >= 2)
		a |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		a |= LL_FS_TRUNCATE;
	if (abi >= 5)
		a |= LL_FS_IOCTL_DEV;
	return a;
}

/* Adds one path_beneath rule; paths absent in this zone are skipped. */
static int ll_add(int rs, const char *path, uint64_t want, int abi)
{
	struct landlock_path_beneath_attr pb = { 0 };
	struct stat st;
	int fd = open(path, O_PATH | O_CLOEXEC), rc;
	uint64_t file_ok =
		LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |
		LANDLOCK_ACCESS_FS_READ_FILE | LL_FS_TRUNCATE | LL_FS_IOCTL_DEV;

	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return -1;
	}
	pb.allowed_access = want & ll_fs_all(abi);
	if (!S_ISDIR(st.st_mode))
		pb.allowed_access &= file_ok;
	pb.parent_fd = fd;
	rc = (int)syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH,
			  &pb, 0);
	close(fd);
	return rc < 0 ? -1 : 0;
}

/* Confines the zone to its paths: ro (read, execute) and rw (all); with
 * ABI 4 no TCP bind or connect at all when the zone has no network; with
 * ABI 6 no signals or abstract sockets out of the zone's domain. Returns
 * the ABI applied, or -1 (errno set). */
static int apply_landlock(const struct init_opts *o)
{
	int abi = ll_abi(), rs = -1, rc = -1;
	struct ll_attr at = { 0 };
	size_t sz = sizeof(uint64_t);
	uint64_t ro = LANDLOCK_ACCESS_FS_EXECUTE |
		      LANDLOCK_ACCESS_FS_READ_FILE |
		      LANDLOCK_ACCESS_FS_READ_DIR;

	if (abi < 1) {
		errno = EOPNOTSUPP;
		return -1;
	}
	at.fs = ll_fs_all(abi);
	if (abi >= 4 && o->net_none) {
		at.net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
		sz = 2 * sizeof(uint64_t);
	}
	if (abi >= 6) {
		at.scoped = LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL;
		sz = sizeof(at);
	}
	rs = (int)syscall(SYS_landlock_create_ruleset, &at, sz, 0);
	if (rs < 0)
		goto out;
	for (size_t i = 0; i < o->nro; i++)
		if (ll_add(rs, o->ro[i], ro, abi) < 0)
			goto out;
	for (size_t i = 0; i < o->nrw; i++)
		if (ll_add(rs, o->rw[i], ~0ULL, abi) < 0)
			goto out;
	if (syscall(SYS_landlock_restrict_self, rs, 0) < 0)
		goto out;
	rc = abi;
out:
	if (rs >= 0)
		close(rs);
	return rc;
}

/* Drops the bounding set, the ambient set and every capability the
 * process holds (in its user namespace). 0 when none is left. */
static int drop_caps(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	for (int c = 0; c <= 63; c++)
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno == EINVAL)
			break;
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	memset(d, 0, sizeof(d));
	if (syscall(SYS_capset, &h, d) < 0)
		return -1;
	if (syscall(SYS_capget, &h, d) < 0)
		return -1;
	return (d[0].effective | d[0].permitted | d[1].effective |
		d[1].permitted)
		       ? -1
		       : 0;
}

/* What a zone's programs use: files, memory, time, signals within the
 * zone, sockets (its network namespace has loopback only), threads. */
static const char *const allowed[] = {
	"read",
	"write",
	"readv",
	"writev",
	"pread64",
	"pwrite64",
	"preadv",
	"pwritev",
	"preadv2",
	"pwritev2",
	"open",
	"openat",
	"openat2",
	"close",
	"close_range",
	"creat",
	"stat",
	"fstat",
	"lstat",
	"newfstatat",
	"statx",
	"statfs",
	"fstatfs",
	"access",
	"faccessat",
	"faccessat2",
	"lseek",
	"getdents",
	"getdents64",
	"getcwd",
	"chdir",
	"fchdir",
	"rename",
	"renameat",
	"renameat2",
	"mkdir",
	"mkdirat",
	"rmdir",
	"link",
	"linkat",
	"unlink",
	"unlinkat",
	"symlink",
	"symlinkat",
	"readlink",
	"readlinkat",
	"chmod",
	"fchmod",
	"fchmodat",
	"chown",
	"fchown",
	"lchown",
	"fchownat",
	"umask",
	"truncate",
	"ftruncate",
	"fallocate",
	"fadvise64",
	"readahead",
	"fsync",
	"fdatasync",
	"sync",
	"syncfs",
	"sync_file_range",
	"flock",
	"fcntl",
	"ioctl",
	"dup",
	"dup2",
	"dup3",
	"pipe",
	"pipe2",
	"splice",
	"tee",
	"sendfile",
	"copy_file_range",
	"utime",
	"utimes",
	"utimensat",
	"futimesat",
	"getxattr",
	"lgetxattr",
	"fgetxattr",
	"listxattr",
	"llistxattr",
	"flistxattr",
	"memfd_create",
	"mmap",
	"mprotect",
	"munmap",
	"mremap",
	"msync",
	"mincore",
	"madvise",
	"brk",
	"mlock",
	"mlock2",
	"munlock",
	"get_mempolicy",
	"membarrier",
	"poll",
	"ppoll",
	"select",
	"pselect6",
	"epoll_create",
	"epoll_create1",
	"epoll_ctl",
	"epoll_wait",
	"epoll_pwait",
	"epoll_pwait2",
	"eventfd",
	"eventfd2",
	"signalfd",
	"signalfd4",
	"timerfd_create",
	"timerfd_settime",
	"timerfd_gettime",
	"inotify_init",
	"inotify_init1",
	"inotify_add_watch",
	"inotify_rm_watch",
	"rt_sigaction",
	"rt_sigprocmask",
	"rt_sigreturn",
	"rt_sigpending",
	"rt_sigtimedwait",
	"rt_sigsuspend",
	"rt_sigqueueinfo",
	"rt_tgsigqueueinfo",
	"sigaltstack",
	"kill",
	"tgkill",
	"tkill",
	"pause",
	"nanosleep",
	"clock_nanosleep",
	"clock_gettime",
	"clock_getres",
	"gettimeofday",
	"time",
	"times",
	"alarm",
	"getitimer",
	"setitimer",
	"timer_create",
	"timer_settime",
	"timer_gettime",
	"timer_getoverrun",
	"timer_delete",
	"socket",
	"socketpair",
	"connect",
	"accept",
	"accept4",
	"bind",
	"listen",
	"shutdown",
	"sendto",
	"recvfrom",
	"sendmsg",
	"recvmsg",
	"sendmmsg",
	"recvmmsg",
	"getsockname",
	"getpeername",
	"setsockopt",
	"getsockopt",
	"fork",
	"vfork",
	"execve",
	"execveat",
	"exit",
	"exit_group",
	"wait4",
	"waitid",
	"futex",
	"futex_waitv",
	"set_tid_address",
	"set_robust_list",
	"get_robust_list",
	"rseq",
	"restart_syscall",
	"sched_yield",
	"sched_getaffinity",
	"sched_setaffinity",
	"sched_getparam",
	"sched_getscheduler",
	"sched_get_priority_max",
	"sched_get_priority_min",
	"getcpu",
	"getpriority",
	"setpriority",
	"getrlimit",
	"setrlimit",
	"prlimit64",
	"getrusage",
	"sysinfo",
	"uname",
	"getpid",
	"getppid",
	"gettid",
	"getuid",
	"geteuid",
	"getgid",
	"getegid",
	"getresuid",
	"getresgid",
	"getgroups",
	"getpgid",
	"getpgrp",
	"getsid",
	"setpgid",
	"setsid",
	"capget",
	"capset",
	"prctl",
	"arch_prctl",
	"getrandom",
	"pidfd_open",
	"pidfd_send_signal",
	"shmget",
	"shmat",
	"shmdt",
	"shmctl",
	"semget",
	"semop",
	"semctl",
	"semtimedop",
	"msgget",
	"msgsnd",
	"msgrcv",
	"msgctl",
	"seccomp",
	"landlock_create_ruleset",
	"landlock_add_rule",
	"landlock_restrict_self",
};

/* Named here so a reader sees them refused with EPERM (not the default
 * ENOSYS): what a zone never needs and what escapes start with. */
static const char *const refused[] = {
	"mount",
	"umount2",
	"pivot_root",
	"chroot",
	"move_mount",
	"open_tree",
	"fsopen",
	"fsconfig",
	"fsmount",
	"fspick",
	"mount_setattr",
	"ptrace",
	"process_vm_readv",
	"process_vm_writev",
	"pidfd_getfd",
	"kexec_load",
	"kexec_file_load",
	"bpf",
	"perf_event_open",
	"keyctl",
	"add_key",
	"request_key",
	"userfaultfd",
	"init_module",
	"finit_module",
	"delete_module",
	"unshare",
	"setns",
	"open_by_handle_at",
	"name_to_handle_at",
	"swapon",
	"swapoff",
	"reboot",
	"acct",
	"quotactl",
	"iopl",
	"ioperm",
	"settimeofday",
	"clock_settime",
	"clock_adjtime",
	"adjtimex",
	"io_uring_setup",
	"io_uring_enter",
	"io_uring_register",
	"setuid",
	"setgid",
	"setreuid",
	"setregid",
	"setresuid",
	"setresgid",
	"setgroups",
	"setfsuid",
	"setfsgid",
	"personality",
	"vhangup",
	"syslog",
	"lookup_dcookie",
};

#define NS_FLAGS                                                     \
	(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | \
	 CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP | 0x80 /* NEWTIME */)

/* The allowlist: unknown and unlisted syscalls get ENOSYS (the answer
 * of an older kernel, which libc falls back from: clone3 -> clone);
 * the refused list EPERM; clone only without namespace flags; ioctl
 * without TIOCSTI (typing into the terminal of whoever started us);
 * mknod only for FIFOs (device nodes never). */
static int apply_seccomp(void)
{
	scmp_filter_ctx f = seccomp_init(SCMP_ACT_ERRNO(ENOSYS));
	int rc = -1, nr;

	if (!f)
		return -1;
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		nr = seccomp_syscall_resolve_name(allowed[i]);
		if (nr == __NR_SCMP_ERROR)
			continue; /* not on this architecture */
		if (strcmp(allowed[i], "ioctl") == 0)
			continue;
		if (seccomp_rule_add(f, SCMP_ACT_ALLOW, nr, 0) < 0)
			goto out;
	}
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		nr = seccomp_syscall_resolve_name(refused[i]);
		if (nr != __NR_SCMP_ERROR &&
		    seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), nr, 0) < 0)
			goto out;
	}
	if (seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
			     SCMP_A0(SCMP_CMP_MASKED_EQ, NS_FLAGS, 0)) < 0 ||
	    seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
			     SCMP_A1(SCMP_CMP_NE, TIOCSTI, 0)) < 0 ||
	    seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
			     SCMP_A1(SCMP_CMP_EQ, TIOCSTI, 0)) < 0 ||
	    seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(mknodat), 1,
			     SCMP_A2(SCMP_CMP_MASKED_EQ, S_IFMT, S_IFIFO)) <
		    0 ||
	    seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(mknod), 1,
			     SCMP_A1(SCMP_CMP_MASKED_EQ, S_IFMT, S_IFIFO)) < 0)
		goto out;
	rc = seccomp_load(f);
out:
	seccomp_release(f);
	return rc < 0 ? -1 : 0;
}

/* Reports the failure to zonectl and stderr; the command never runs. */
static void die(const struct init_opts *o, const char *what, int e)
{
	char line[ZONE_STATUS_MAX];
	int n = snprintf(line, sizeof(line), "error %s: %s\n", what,
			 strerror(e));

	if (o->status_fd >= 0 && n > 0)
		(void)!write(o->status_fd, line, (size_t)n);
	fprintf(stderr, "zonegate-zone-init: %s: %s\n", what, strerror(e));
	_exit(126);
}

/* The helper's options (set by zonectl); -1 on anything unexpected. */
static int parse(int argc, char **argv, struct init_opts *o)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		} else if (strcmp(a, "--no-seccomp") == 0)
			o->seccomp = 0;
		else if (strcmp(a, "--no-landlock") == 0)
			o->landlock = 0;
		else if (strcmp(a, "--keep-caps") == 0)
			o->drop_caps = 0;
		else if (strcmp(a, "--net-none") == 0)
			o->net_none = 1;
		else if (i + 1 < argc && strcmp(a, "--status-fd") == 0) {
			char *end;
			long v;
			errno = 0;
			v = strtol(argv[++i], &end, 10);
			if (errno || *end || v < 0 || v > 1024)
				return -1;
			o->status_fd = (int)v;
		} else if (i + 1 < argc && strcmp(a, "--ro") == 0 &&
			   o->nro < INIT_PATHS_MAX)
			o->ro[o->nro++] = argv[++i];
		else if (i + 1 < argc && strcmp(a, "--rw") == 0 &&
			 o->nrw < INIT_PATHS_MAX)
			o->rw[o->nrw++] = argv[++i];
		else
			return -1;
	}
	if (i >= argc)
		return -1;
	o->argv = argv + i;
	return 0;
}

int main(int argc, char **argv)
{
	struct init_opts o = {
		.status_fd = -1, .seccomp = 1, .landlock = 1, .drop_caps = 1
	};
	char line[ZONE_STATUS_MAX];
	int abi = 0, caps = 0, n;
	static const char usage[] =
		"usage: zonegate-zone-init [--status-fd N] [--no-seccomp] "
		"[--no-landlock] [--keep-caps] [--net-none] [--ro PATH]... "
		"[--rw PATH]... -- COMMAND [ARG]...\n"
		"       zonegate-zone-init --help | --version\n"
		"(run by zonectl inside a zone's sandbox)\n";

	/* alone, as the first argument: never confused with a command's */
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("zonegate-zone-init %s\n", ZG_VERSION);
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "--help") == 0) {
		fputs(usage, stdout);
		return 0;
	}
	if (parse(argc, argv, &o) < 0) {
		fputs(usage, stderr);
		return 2;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		die(&o, "no_new_privs", errno);
	if (o.drop_caps) {
		if (drop_caps() < 0)
			die(&o, "dropping capabilities", errno ? errno : EPERM);
		caps = 1;
	}
	if (o.landlock) {
		abi = apply_landlock(&o);
		if (abi < 0)
			die(&o, "landlock", errno);
	}
	n = snprintf(line, sizeof(line),
		     "applied nnp=1 caps_dropped=%d landlock=%d seccomp=%d\n",
		     caps, abi, o.seccomp);
	/* The status goes out after seccomp (write and close are allowed),
	 * so it reports only what was really applied. */
	if (o.seccomp && apply_seccomp() < 0)
		die(&o, "seccomp", errno ? errno : EINVAL);
	if (o.status_fd >= 0 && n > 0) {
		(void)!write(o.status_fd, line, (size_t)n);
		close(o.status_fd);
	}
	execv(o.argv[0], o.argv);
	fprintf(stderr, "zonegate-zone-init: %s: %s\n", o.argv[0],
		strerror(errno));
	_exit(127);
}
