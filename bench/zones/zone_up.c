/* zone_up: one measured start of a tool zone under `zonectl up`, for
 * bench/zones/system.sh. Waits until the gateway no longer has the zone
 * up, then runs `zonectl --config FILE start ZONE` and polls the
 * gateway's admin socket ({"cmd":"status"}, every millisecond) until the
 * zone's health is "up" (the gateway has its catalogue). Prints
 * "start_us N": from the fork of zonectl to that status answer. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Asks the admin socket at path for its status; 1 when zone's health is
 * "up", 0 when not (or no answer). */
static int zone_is_up(const char *path, const char *zone)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	static const char req[] = "{\"cmd\":\"status\"}\n";
	char buf[65536];
	size_t len = 0;
	ssize_t k;
	int fd, up = 0;
	struct pollfd p;
	json_t *r = NULL, *e;
	size_t i;

	if (strlen(path) >= sizeof(sa.sun_path))
		return 0;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    write(fd, req, sizeof(req) - 1) != (ssize_t)sizeof(req) - 1)
		goto out;
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	while (len < sizeof(buf) - 1 && !memchr(buf, '\n', len)) {
		if (poll(&p, 1, 2000) <= 0)
			goto out;
		k = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (k <= 0)
			goto out;
		len += (size_t)k;
	}
	buf[len] = 0;
	r = json_loads(buf, JSON_DISABLE_EOF_CHECK, NULL);
	json_array_foreach (json_object_get(r, "zones"), i, e) {
		const char *n = json_string_value(json_object_get(e, "zone"));
		const char *h = json_string_value(json_object_get(e, "health"));
		if (n && h && strcmp(n, zone) == 0 && strcmp(h, "up") == 0)
			up = 1;
	}
out:
	json_decref(r);
	close(fd);
	return up;
}

/* Runs argv to its end, its stdout (zonectl's reply) to /dev/null; 0
 * when it exits 0. */
static int run(char *const argv[])
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		int nul = open("/dev/null", O_WRONLY);
		if (nul < 0 || dup2(nul, 1) < 0)
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	long long t0, end;
	struct timespec ms = { 0, 1000000 };

	if (argc != 5) {
		fprintf(stderr, "usage: zone_up ZONECTL CONFIG ADMIN_SOCKET "
				"ZONE\n");
		return 2;
	}
	char *start[] = { argv[1], "--config", argv[2], "start", argv[4], NULL };
	end = now_us() + 20000000;
	while (zone_is_up(argv[3], argv[4])) { /* still the old run */
		if (now_us() > end) {
			fprintf(stderr, "zone_up: %s never went down\n",
				argv[4]);
			return 1;
		}
		nanosleep(&ms, NULL);
	}
	t0 = now_us();
	if (run(start) < 0) {
		fprintf(stderr, "zone_up: zonectl start %s failed\n", argv[4]);
		return 1;
	}
	end = t0 + 20000000;
	while (!zone_is_up(argv[3], argv[4])) {
		if (now_us() > end) {
			fprintf(stderr, "zone_up: %s not up in 20 s\n",
				argv[4]);
			return 1;
		}
		nanosleep(&ms, NULL);
	}
	printf("start_us %lld\n", now_us() - t0);
	return 0;
}
