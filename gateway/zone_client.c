/* The command-line side of zonectl's control socket (docs/zones.md):
 * ps, logs, stop, start, restart, collect, reload and down send one JSON
 * request to the supervisor of a config and print its reply. */
#define _GNU_SOURCE
#include "zone_sup.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define REPLY_MAX (8u << 20) /* one JSON reply line */

void sup_print_table(const char *reply_json)
{
	json_t *r = json_loads(reply_json, 0, NULL), *e, *l;
	size_t i;
	char lim[160], pid[16];

	printf("%-16s %-10s %5s %7s %-8s %-26s %s\n", "NAME", "ROLE", "DOMID",
	       "PID", "STATE", "LIMITS", "ISOLATION");
	json_array_foreach (json_object_get(r, "zones"), i, e) {
		l = json_object_get(e, "limits");
		snprintf(lim, sizeof(lim), "mem %lldm%s pids %lld%s %s",
			 (long long)(json_integer_value(
					     json_object_get(l, "memory")) >>
				     20),
			 json_is_true(json_object_get(l, "memory_applied"))
				 ? ""
				 : "(NOT APPLIED)",
			 (long long)json_integer_value(
				 json_object_get(l, "pids")),
			 json_is_true(json_object_get(l, "pids_applied"))
				 ? ""
				 : "(NOT APPLIED)",
			 json_string_value(json_object_get(l, "cgroup")) ?: "");
		snprintf(pid, sizeof(pid), "%lld",
			 (long long)json_integer_value(
				 json_object_get(e, "pid")));
		printf("%-16s %-10s %5lld %7s %-8s %-26s %s\n",
		       json_string_value(json_object_get(e, "name")) ?: "?",
		       json_string_value(json_object_get(e, "role")) ?: "?",
		       (long long)json_integer_value(
			       json_object_get(e, "domid")),
		       pid,
		       json_string_value(json_object_get(e, "state")) ?: "?",
		       lim,
		       json_string_value(json_object_get(e, "isolation"))
			       ?: "?");
	}
	printf("sim zones share the host's kernel: a sandbox, not a VM\n");
	json_decref(r);
}

/* Connects to the supervisor's control socket. fd, or -1. */
static int sup_connect(const char *config)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[PATH_MAX];
	int fd;

	if (sup_state_dir(config, dir, sizeof(dir)) < 0 ||
	    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/control.sock",
		     dir) >= (int)sizeof(sa.sun_path))
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "zonectl: no supervisor at %s: %s\n",
			sa.sun_path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int sup_client(const char *config, const char *cmd, const char *zone,
	       long lines, int follow, int json)
{
	json_t *req = json_pack("{s:s}", "cmd", cmd), *r = NULL;
	char *line = NULL, *buf = NULL, *nl;
	size_t len = 0;
	ssize_t k;
	int fd = -1, rc = 3;

	if (zone)
		json_object_set_new(req, "zone", json_string(zone));
	if (strcmp(cmd, "logs") == 0) {
		json_object_set_new(req, "n", json_integer(lines));
		json_object_set_new(req, "follow", json_boolean(follow));
	}
	line = json_dumps(req, JSON_COMPACT);
	fd = sup_connect(config);
	if (fd < 0 || !line)
		goto out;
	if (write(fd, line, strlen(line)) < 0 || write(fd, "\n", 1) < 0)
		goto out;
	buf = malloc(REPLY_MAX + 1);
	if (!buf)
		goto out;
	/* the reply's first line */
	while (len < REPLY_MAX &&
	       (k = read(fd, buf + len, REPLY_MAX - len)) > 0) {
		len += (size_t)k;
		if (memchr(buf, '\n', len))
			break;
	}
	buf[len] = 0;
	nl = strchr(buf, '\n');
	if (!nl) {
		fprintf(stderr, "zonectl: the supervisor did not answer\n");
		goto out;
	}
	*nl = 0;
	r = json_loads(buf, 0, NULL);
	if (!json_is_true(json_object_get(r, "ok"))) {
		fprintf(stderr, "zonectl: %s\n",
			json_string_value(json_object_get(r, "error"))
				?: "bad reply");
		rc = 1;
		goto out;
	}
	rc = 0;
	if (strcmp(cmd, "logs") == 0) { /* then the lines, as they come */
		fwrite(nl + 1, 1, len - (size_t)(nl + 1 - buf), stdout);
		fflush(stdout);
		while ((k = read(fd, buf, REPLY_MAX)) > 0) {
			fwrite(buf, 1, (size_t)k, stdout);
			fflush(stdout);
		}
	} else if (json || strcmp(cmd, "ps")) {
		printf("%s\n", buf);
	} else {
		sup_print_table(buf);
	}
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	free(line);
	json_decref(r);
	json_decref(req);
	return rc;
}
