/* The zonectl supervisor (docs/zones.md): `up` starts gatewayd and every
 * zone with a run block, owns them, restarts them by policy and answers
 * a root-only control socket; zone_log.c keeps each zone's console
 * output; zone_client.c is the control socket's command-line side. */
#ifndef ZG_ZONE_SUP_H
#define ZG_ZONE_SUP_H

#include "sandbox.h"

#include <stddef.h>
#include <sys/types.h>

#define SUP_REQ_MAX 4096	   /* one control request line */
#define SUP_OUT_MAX (1u << 20)	   /* a control client's unsent output */
#define SUP_CLIENTS_MAX 16	   /* control connections at once */
#define SUP_LOG_LINE_MAX 4096	   /* a longer console line is split */
#define SUP_LOG_CAP_DEF (1u << 20) /* per-zone log file before rotation */
#define SUP_TAIL_MAX 10000	   /* lines `logs -n` may ask for */
#define SUP_BACKOFF_MIN_MS 250
#define SUP_BACKOFF_MAX_MS 30000
#define SUP_READY_MS 20000 /* how long `up` waits for a zone to be ready */

/* Options of `zonectl up`. */
struct sup_opts {
	const char *config;
	const char *helper, *bwrap, *gatewayd;
	int detach, json;
	int no_sandbox; /* every zone a plain process (NOT SANDBOXED) */
};

/* The state directory of config (ZONEGATE_STATE_DIR, else
 * /run/zonegate/NAME with NAME the config file's name without .json).
 * 0, or -1 when it does not fit. */
int sup_state_dir(const char *config, char *out, size_t len);

/* Runs the supervisor (`zonectl up`). Returns the exit status. */
int sup_up(const struct sup_opts *o);

/* ---- console logs (zone_log.c) ---- */

/* One zone's console log: lines from its stdout+stderr pipe, each
 * prefixed with a UTC timestamp, appended to PATH; PATH moves to PATH.1
 * when it passes cap bytes (one older file kept). */
struct zone_log {
	int fd; /* the log file */
	off_t size, cap;
	char path[ZONE_PATH_MAX];
	char part[SUP_LOG_LINE_MAX]; /* an unfinished line */
	size_t plen;
};

/* Opens (appends to) path. 0, or -1 with errno. */
int zone_log_open(struct zone_log *l, const char *path, off_t cap);
void zone_log_close(struct zone_log *l);
/* Takes n bytes of console output; each finished line is stamped,
 * written, and handed to line_cb (may be NULL) with its stamp. */
void zone_log_feed(struct zone_log *l, const char *buf, size_t n,
		   void (*line_cb)(void *, const char *, size_t), void *arg);
/* Writes one stamped line of the supervisor's own (an event). */
void zone_log_note(struct zone_log *l, const char *text,
		   void (*line_cb)(void *, const char *, size_t), void *arg);
/* The last n lines of the log (PATH.1 then PATH) as a malloc'd string
 * the caller frees; NULL when out of memory. */
char *zone_log_tail(const struct zone_log *l, long n);

/* ---- the control socket's client (zone_client.c) ---- */

/* Sends one request to the supervisor of config and prints the reply
 * (ps as a table unless json; logs as lines; others as a message).
 * Returns the exit status (0 ok, 1 refused, 2 usage, 3 no supervisor). */
int sup_client(const char *config, const char *cmd, const char *zone,
	       long lines, int follow, int json);
/* Prints a `ps` reply's zones as a table. */
void sup_print_table(const char *reply_json);

#endif
