/* zone_probe: run inside a zone by `zonectl run` (test/zones/zones.sh).
 * Each argument group is one attempt at something a zone must not do, or
 * one helper action for the files tests; each prints one line
 * "CHECK NAME blocked|ALLOWED detail" for the test to assert on. Also the
 * host-side TCP listener the network checks try to reach (serve). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void report(const char *name, int allowed, int err)
{
	printf("CHECK %s %s %s\n", name, allowed ? "ALLOWED" : "blocked",
	       allowed ? "-" : strerror(err));
	fflush(stdout);
}

static long num(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 0) {
		fprintf(stderr, "zone_probe: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

static void check_read(const char *path)
{
	char buf[64];
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
	int e = errno;

	if (fd >= 0)
		close(fd);
	report("read", n >= 0, e);
}

static void check_list(const char *path)
{
	DIR *d = opendir(path);
	int e = errno, n = 0;
	struct dirent *de;

	if (d) {
		while ((de = readdir(d)) != NULL)
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				printf("ENTRY %s\n", de->d_name), n++;
		closedir(d);
	}
	report("list", d != NULL, e);
}

/* A host process is visible if /proc/PID exists with the given name. */
static void check_hostpid(const char *pid, const char *comm)
{
	char p[64], buf[64] = "";
	int fd, seen = 0;
	ssize_t n;

	snprintf(p, sizeof(p), "/proc/%s/comm", pid);
	fd = open(p, O_RDONLY);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = 0;
		seen = strncmp(buf, comm, strlen(comm)) == 0;
		close(fd);
	}
	report("hostpid", seen, ENOENT);
}

static void check_kill(const char *pid)
{
	int rc = kill((pid_t)num(pid), SIGUSR1);

	report("kill", rc == 0, errno);
}

/* Signal 0 to the zone's PID 1 (bubblewrap's init, the same uid, outside
 * the zone command's Landlock domain): only Landlock's signal scope
 * stops it. */
static void check_killinit(void)
{
	int rc = kill(1, 0);

	report("killinit", rc == 0, errno);
}

/* keyctl: the session keyring's id (works for any process unless
 * refused). */
static void check_keyctl(void)
{
	long rc = syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */,
			  -3 /* KEY_SPEC_SESSION_KEYRING */, 0);

	report("keyctl", rc >= 0, errno);
}

static void check_connect(const char *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int s = socket(AF_INET, SOCK_STREAM, 0), rc = -1, e;

	sa.sin_port = htons((unsigned short)num(port));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s >= 0)
		rc = connect(s, (struct sockaddr *)&sa, sizeof(sa));
	e = errno;
	if (s >= 0)
		close(s);
	report("connect", rc == 0, e);
}

/* An abstract unix socket address for NAME. */
static socklen_t abs_addr(struct sockaddr_un *sa, const char *name)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1, "%s", name);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
			   strlen(name));
}

static void check_connectabs(const char *name)
{
	struct sockaddr_un sa;
	socklen_t sl = abs_addr(&sa, name);
	int s = socket(AF_UNIX, SOCK_STREAM, 0), rc = -1, e;

	if (s >= 0)
		rc = connect(s, (struct sockaddr *)&sa, sl);
	e = errno;
	if (s >= 0)
		close(s);
	report("connectabs", rc == 0, e);
}

static void check_write(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	report("write", fd >= 0, errno);
	if (fd >= 0)
		close(fd);
}

static void check_mount(void)
{
	int rc;

	mkdir("/tmp/zone-probe-mnt", 0700);
	rc = mount("none", "/tmp/zone-probe-mnt", "tmpfs", 0, NULL);
	report("mount", rc == 0, errno);
}

static void check_ptrace(void)
{
	pid_t c = fork();
	long rc;
	int e;

	if (c == 0) {
		pause();
		_exit(0);
	}
	rc = c > 0 ? ptrace(PTRACE_ATTACH, c, NULL, NULL) : -1;
	e = errno;
	if (c > 0) {
		kill(c, SIGKILL);
		waitpid(c, NULL, 0);
	}
	report("ptrace", rc == 0, e);
}

static void check_unshare(const char *which)
{
	int flags = strcmp(which, "user") == 0 ? CLONE_NEWUSER
					       : CLONE_NEWUTS | CLONE_NEWNS;
	int rc = unshare(flags);

	report(strcmp(which, "user") == 0 ? "unshare-user" : "unshare-uts",
	       rc == 0, errno);
}

/* Touches MB megabytes; ENOMEM is "blocked", the OOM killer ends us. */
static void check_memory(const char *mb)
{
	size_t n = (size_t)num(mb) << 20;
	char *p = mmap(NULL, n, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		report("memory", 0, errno);
		return;
	}
	for (size_t i = 0; i < n; i += 4096)
		p[i] = 1;
	report("memory", 1, 0);
	munmap(p, n);
}

/* Forks N sleepers; EAGAIN before N is "blocked". */
static void check_pids(const char *count)
{
	long n = num(count), i;
	pid_t *kids = calloc((size_t)n + 1, sizeof(pid_t));
	int e = 0;

	for (i = 0; kids && i < n; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			pause();
			_exit(0);
		}
		if (kids[i] < 0) {
			e = errno;
			break;
		}
	}
	report("pids", kids && i == n, e);
	for (long j = 0; kids && j < i; j++)
		kill(kids[j], SIGKILL);
	while (wait(NULL) > 0)
		;
	free(kids);
}

static void act_cat(const char *path)
{
	char buf[4096];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0) {
		printf("CAT %s: %s\n", path, strerror(errno));
		return;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, stdout);
	close(fd);
	fflush(stdout);
}

static void act_mkfile(const char *path, const char *kb)
{
	long n = num(kb);
	char buf[1024];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	memset(buf, 'z', sizeof(buf));
	for (long i = 0; fd >= 0 && i < n; i++)
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			break;
	if (fd >= 0)
		close(fd);
}

static void act_many(const char *dir, const char *count)
{
	long n = num(count);
	char p[4096];

	mkdir(dir, 0755);
	for (long i = 0; i < n; i++) {
		int fd;
		snprintf(p, sizeof(p), "%s/f%ld", dir, i);
		fd = open(p, O_WRONLY | O_CREAT, 0644);
		if (fd >= 0)
			close(fd);
	}
}

static void act_mksock(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	printf("MKSOCK %d\n",
	       s >= 0 ? bind(s, (struct sockaddr *)&sa, sizeof(sa)) : -1);
	if (s >= 0)
		close(s);
}

/* Host side: a TCP listener on 127.0.0.1 at a free port, written to
 * PORTFILE. The socket, or -1. */
static int listen_loopback(const char *portfile)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	FILE *f;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(s, 64) < 0 || getsockname(s, (struct sockaddr *)&sa, &sl))
		return -1;
	f = fopen(portfile, "w");
	if (!f)
		return -1;
	fprintf(f, "%d\n", ntohs(sa.sin_port));
	fclose(f);
	return s;
}

/* Opens a connection through the SOCKS5 proxy on unix socket SOCK to
 * HOST:PORT (the name sent as is, for the proxy to check). The
 * connected socket, or -1 with errno (EACCES: the proxy refused, the
 * reply code in *rep). */
static int socks_open(const char *sock, const char *host, const char *port,
		      int *rep)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	unsigned char b[300];
	size_t hl = strlen(host), n;
	long p = num(port);
	int s = socket(AF_UNIX, SOCK_STREAM, 0);

	*rep = -1;
	signal(SIGPIPE, SIG_IGN); /* a proxy that closes on us: EPIPE */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	if (s < 0 || hl == 0 || hl > 255)
		goto fail;
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    write(s, "\x05\x01\x00", 3) != 3 || read(s, b, 2) != 2 || b[1] != 0)
		goto fail;
	b[0] = 5, b[1] = 1, b[2] = 0, b[3] = 3, b[4] = (unsigned char)hl;
	memcpy(b + 5, host, hl);
	n = 5 + hl;
	b[n++] = (unsigned char)(p >> 8);
	b[n++] = (unsigned char)p;
	if (write(s, b, n) != (ssize_t)n || read(s, b, 10) < 2)
		goto fail;
	*rep = b[1];
	if (b[1] != 0) {
		close(s);
		errno = EACCES;
		return -1;
	}
	return s;
fail:
	if (errno == 0)
		errno = ECONNRESET;
	if (s >= 0)
		close(s);
	return -1;
}

/* CHECK socks: a connection through the proxy to HOST:PORT (whether
 * it reached the host is counted by the host's listener). */
static void check_socks(const char *sock, const char *host, const char *port)
{
	int rep, s = socks_open(sock, host, port, &rep), e = errno;

	report("socks", s >= 0, e);
	if (rep > 0)
		printf("SOCKSREP %d\n", rep);
	if (s >= 0)
		close(s);
}

/* Sends N bytes through the proxy to an echo listener and counts what
 * comes back before the connection ends: "ECHOED n". */
static void act_socksecho(const char *sock, const char *host, const char *port,
			  const char *count)
{
	long want = num(count), sent = 0, got = 0;
	char buf[4096];
	int rep, s = socks_open(sock, host, port, &rep);
	struct pollfd p;

	memset(buf, 'x', sizeof(buf));
	signal(SIGPIPE, SIG_IGN);
	while (s >= 0 && got < want) {
		p = (struct pollfd){ .fd = s, .events = POLLIN };
		if (sent < want)
			p.events |= POLLOUT;
		if (poll(&p, 1, 10000) <= 0)
			break;
		if (p.revents & POLLIN) {
			ssize_t k = read(s, buf, sizeof(buf));
			if (k <= 0)
				break;
			got += k;
		} else if (p.revents & POLLOUT) {
			long k = want - sent < 4096 ? want - sent : 4096;
			k = write(s, buf, (size_t)k);
			if (k <= 0)
				break;
			sent += k;
		} else {
			break;
		}
	}
	printf("ECHOED %ld\n", got);
	if (s >= 0)
		close(s);
}

/* Sends N bytes (N <= 4096) through the proxy to an echo listener,
 * half-closes, and counts the echo until the end: "HALF n" (all of it
 * when the proxy passes the half-close on instead of dropping both). */
static void act_sockshalf(const char *sock, const char *host, const char *port,
			  const char *count)
{
	long want = num(count), got = 0;
	char buf[4096];
	int rep, s = socks_open(sock, host, port, &rep);
	ssize_t k;

	memset(buf, 'h', sizeof(buf));
	if (want > (long)sizeof(buf))
		want = sizeof(buf);
	if (s >= 0 && write(s, buf, (size_t)want) == want &&
	    shutdown(s, SHUT_WR) == 0)
		while ((k = read(s, buf, sizeof(buf))) > 0)
			got += k;
	printf("HALF %ld\n", got);
	if (s >= 0)
		close(s);
}

/* Opens N connections through the proxy and holds them: "OPENED k". */
static void act_socksmany(const char *sock, const char *host, const char *port,
			  const char *count)
{
	long n = num(count), ok = 0;
	int rep;

	for (long i = 0; i < n && i < 256; i++)
		ok += socks_open(sock, host, port, &rep) >= 0;
	printf("OPENED %ld\n", ok);
}

/* CHECK idle: a connection through the proxy, silent for SECS seconds,
 * then one byte out and its echo back: blocked when the proxy closed
 * the idle connection meanwhile. */
static void check_socksidle(const char *sock, const char *host,
			    const char *port, const char *secs)
{
	int rep, s = socks_open(sock, host, port, &rep), ok = 0, e = errno;
	char c = 'i';

	signal(SIGPIPE, SIG_IGN);
	if (s >= 0) {
		sleep((unsigned)num(secs));
		ok = write(s, &c, 1) == 1 && read(s, &c, 1) == 1;
		e = ok ? 0 : errno ? errno : ECONNRESET;
		close(s);
	}
	report("idle", ok, e);
}

/* Host side: an echo listener on 127.0.0.1 (one connection at a time;
 * the others wait in the backlog), its port in PORTFILE, a line in
 * LOGFILE per connection. */
static int serve_echo(const char *portfile, const char *logfile)
{
	int s = listen_loopback(portfile), c;
	char buf[4096];
	ssize_t k;
	FILE *f;

	signal(SIGPIPE, SIG_IGN);
	if (s < 0)
		return 1;
	while ((c = accept(s, NULL, NULL)) >= 0) {
		f = fopen(logfile, "a");
		if (f) {
			fprintf(f, "accepted\n");
			fclose(f);
		}
		while ((k = read(c, buf, sizeof(buf))) > 0)
			if (write(c, buf, (size_t)k) != k)
				break;
		close(c);
	}
	return 0;
}

/* Accepts connections on s forever, a line in LOGFILE for each. */
static int accept_log(int s, const char *logfile)
{
	int c;
	FILE *f;

	while ((c = accept(s, NULL, NULL)) >= 0) {
		f = fopen(logfile, "a");
		if (f) {
			fprintf(f, "accepted\n");
			fclose(f);
		}
		close(c);
	}
	return 0;
}

/* Host side: a listener on the abstract unix socket NAME; each accepted
 * connection appends a line to LOGFILE. */
static int serve_abs(const char *name, const char *logfile)
{
	struct sockaddr_un sa;
	socklen_t sl = abs_addr(&sa, name);
	int s = socket(AF_UNIX, SOCK_STREAM, 0);

	if (s < 0 || bind(s, (struct sockaddr *)&sa, sl) < 0 || listen(s, 16))
		return 1;
	return accept_log(s, logfile);
}

/* Host side: a listener on 127.0.0.1; its port goes to PORTFILE, and
 * every connection it accepts appends a line to LOGFILE. */
static int serve(const char *portfile, const char *logfile)
{
	int s = listen_loopback(portfile);

	return s < 0 ? 1 : accept_log(s, logfile);
}

int main(int argc, char **argv)
{
	int i = 1;

	if (argc == 4 && strcmp(argv[1], "serve") == 0)
		return serve(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "serveecho") == 0)
		return serve_echo(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "serveabs") == 0)
		return serve_abs(argv[2], argv[3]);
	while (i < argc) {
		const char *c = argv[i++];
		const char *a = i < argc ? argv[i] : "";
		const char *b = i + 1 < argc ? argv[i + 1] : "";
		int used = 1;
		if (strcmp(c, "read") == 0)
			check_read(a);
		else if (strcmp(c, "list") == 0)
			check_list(a);
		else if (strcmp(c, "hostpid") == 0)
			check_hostpid(a, b), used = 2;
		else if (strcmp(c, "kill") == 0)
			check_kill(a);
		else if (strcmp(c, "keyctl") == 0)
			check_keyctl(), used = 0;
		else if (strcmp(c, "killinit") == 0)
			check_killinit(), used = 0;
		else if (strcmp(c, "connectabs") == 0)
			check_connectabs(a);
		else if (strcmp(c, "connect") == 0)
			check_connect(a);
		else if (strcmp(c, "socks") == 0 && i + 2 < argc)
			check_socks(a, b, argv[i + 2]), used = 3;
		else if (strcmp(c, "socksecho") == 0 && i + 3 < argc)
			act_socksecho(a, b, argv[i + 2], argv[i + 3]), used = 4;
		else if (strcmp(c, "sockshalf") == 0 && i + 3 < argc)
			act_sockshalf(a, b, argv[i + 2], argv[i + 3]), used = 4;
		else if (strcmp(c, "socksmany") == 0 && i + 3 < argc)
			act_socksmany(a, b, argv[i + 2], argv[i + 3]), used = 4;
		else if (strcmp(c, "socksidle") == 0 && i + 3 < argc)
			check_socksidle(a, b, argv[i + 2], argv[i + 3]),
				used = 4;
		else if (strcmp(c, "write") == 0)
			check_write(a);
		else if (strcmp(c, "mount") == 0)
			check_mount(), used = 0;
		else if (strcmp(c, "ptrace") == 0)
			check_ptrace(), used = 0;
		else if (strcmp(c, "unshare") == 0)
			check_unshare(a);
		else if (strcmp(c, "memory") == 0)
			check_memory(a);
		else if (strcmp(c, "pids") == 0)
			check_pids(a);
		else if (strcmp(c, "cat") == 0)
			act_cat(a);
		else if (strcmp(c, "mkfile") == 0)
			act_mkfile(a, b), used = 2;
		else if (strcmp(c, "many") == 0)
			act_many(a, b), used = 2;
		else if (strcmp(c, "pause") == 0)
			pause(), used = 0;
		else if (strcmp(c, "hardlink") == 0)
			printf("LINK %d\n", link(a, b)), used = 2;
		else if (strcmp(c, "symlink") == 0)
			printf("SYMLINK %d\n", symlink(a, b)), used = 2;
		else if (strcmp(c, "env") == 0) {
			extern char **environ;
			for (char **e = environ; *e; e++)
				printf("ENV %s\n", *e);
			used = 0;
		} else if (strcmp(c, "mksock") == 0)
			act_mksock(a);
		else if (strcmp(c, "mkfifo") == 0)
			printf("MKFIFO %d\n", mkfifo(a, 0644));
		else {
			fprintf(stderr, "zone_probe: unknown action '%s'\n", c);
			return 2;
		}
		i += used;
	}
	return 0;
}
