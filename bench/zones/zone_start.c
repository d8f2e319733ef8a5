/* zone_start: one measured start of a zone for bench/zones/run.sh. Runs
 * `zonectl --config FILE run ZONE` (the zone's command is `mcpd --stdio`)
 * with pipes on its stdin and stdout, sends `initialize`, and times the
 * moment mcpd's answer comes out; then, after IDLE_MS of quiet, reads the
 * zone's memory: the RSS of every process in its cgroup and the memory
 * cgroup's own usage. Prints "start_us N rss_kb N cgroup_kb N". */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define INIT_REQ                                                          \
	"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\","        \
	"\"params\":{\"protocolVersion\":\"2025-06-18\",\"capabilities\"" \
	":{},\"clientInfo\":{\"name\":\"zone_start\",\"version\":\"1\"}}}\n"

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Reads fd until a line holding "id":1 arrives (within 20 s). 0 ok. */
static int wait_answer(int fd)
{
	char buf[8192];
	size_t n = 0;
	struct pollfd p = { .fd = fd, .events = POLLIN };

	for (;;) {
		ssize_t k;
		if (poll(&p, 1, 20000) <= 0)
			return -1;
		if (n + 1 >= sizeof(buf))
			n = 0; /* the report table: not what we wait for */
		k = read(fd, buf + n, sizeof(buf) - 1 - n);
		if (k <= 0)
			return -1;
		n += (size_t)k;
		buf[n] = 0;
		if (strstr(buf, "\"id\":1,\"result\""))
			return 0;
		char *nl = strrchr(buf, '\n');
		if (nl) { /* keep only the unfinished line */
			size_t rest = n - (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, rest);
			n = rest;
		}
	}
}

/* Reads one number from a file (0 when absent). */
static long long read_num(const char *path)
{
	char buf[64];
	FILE *f = fopen(path, "r");
	long long v = 0;

	if (f) {
		if (fgets(buf, sizeof(buf), f))
			v = strtoll(buf, NULL, 10);
		fclose(f);
	}
	return v;
}

/* VmRSS of pid in kB (0 when gone). */
static long long rss_kb(long pid)
{
	char path[64], line[256];
	long long v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "VmRSS:", 6) == 0)
			v = strtoll(line + 6, NULL, 10);
	fclose(f);
	return v;
}

/* The zone's memory cgroup (v1 here, v2 elsewhere): its directory. */
static int cg_path(const char *zone, pid_t zonectl, char *out, size_t len)
{
	const char *bases[] = { "/sys/fs/cgroup/memory", "/sys/fs/cgroup" };

	for (size_t i = 0; i < 2; i++) {
		snprintf(out, len, "%s/zonegate-%s-%d", bases[i], zone,
			 (int)zonectl);
		if (access(out, F_OK) == 0)
			return 0;
	}
	return -1;
}

/* Sums the RSS of the cgroup's processes; *usage_kb from the cgroup. */
static long long cg_memory(const char *dir, long long *usage_kb)
{
	char path[600], line[32];
	long long sum = 0, pid;
	FILE *f;

	snprintf(path, sizeof(path), "%s/memory.usage_in_bytes", dir);
	*usage_kb = read_num(path) / 1024;
	if (!*usage_kb) {
		snprintf(path, sizeof(path), "%s/memory.current", dir);
		*usage_kb = read_num(path) / 1024;
	}
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f)) {
		char *end;
		errno = 0;
		pid = strtoll(line, &end, 10);
		if (!errno && end != line && pid > 0)
			sum += rss_kb((long)pid);
	}
	if (f)
		fclose(f);
	return sum;
}

int main(int argc, char **argv)
{
	int in[2], out[2], st;
	long long t0, t1, rss, usage = 0;
	char cg[512];
	pid_t pid;
	long idle_ms;

	if (argc != 5) {
		fprintf(stderr,
			"usage: zone_start ZONECTL CONFIG ZONE IDLE_MS\n");
		return 2;
	}
	idle_ms = strtol(argv[4], NULL, 10);
	if (pipe(in) < 0 || pipe(out) < 0)
		return 1;
	t0 = now_us();
	pid = fork();
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		execl(argv[1], argv[1], "--config", argv[2], "run", argv[3],
		      (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	if (write(in[1], INIT_REQ, strlen(INIT_REQ)) < 0 ||
	    wait_answer(out[0]) < 0) {
		fprintf(stderr, "zone_start: no answer from the zone\n");
		kill(pid, SIGTERM);
		waitpid(pid, &st, 0);
		return 1;
	}
	t1 = now_us();
	usleep((useconds_t)idle_ms * 1000);
	rss = cg_path(argv[3], pid, cg, sizeof(cg)) == 0 ? cg_memory(cg, &usage)
							 : 0;
	close(in[1]); /* mcpd ends at EOF, and the zone with it */
	waitpid(pid, &st, 0);
	printf("start_us %lld rss_kb %lld cgroup_kb %lld\n", t1 - t0, rss,
	       usage);
	return 0;
}
