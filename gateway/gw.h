/* gatewayd's internal interfaces, shared by its roles (config, policy,
 * audit, limits, metrics, routing, admin) and by gatewayctl. Private to
 * gateway/: nothing outside the gateway needs these. */
#ifndef GW_H
#define GW_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "zg_version.h"

/* serverInfo.version and clientInfo.version: the build's version (git
 * description in a checkout, cmake/version.cmake). */
#define GW_VERSION ZG_VERSION

/* ---- Caps on everything that arrives from files or zones ------------ */

#define GW_ZONE_NAME_MAX 63
#define GW_MAX_ZONES 1024
#define GW_MAX_TAGS 32
#define GW_CONFIG_MAX (4u << 20) /* bytes of the JSON config */
#define GW_RULE_LINE_MAX 4096	 /* bytes of one policy line */
#define GW_MAX_RULES 100000
#define GW_POLICY_FILE_MAX (16u << 20)
#define GW_MAX_POLICY_FILES 1024
#define GW_MAX_ARG_CONDS 16
#define GW_MAX_LISTENERS 16
#define GW_TOKEN_MIN 32 /* characters of a listener token */
#define GW_TOKEN_MAX 1024
/* bytes of one tool zone's catalogue (the list pages of one fetch, all
 * four lists together) unless the config says otherwise */
#define GW_CATALOGUE_MAX_DEFAULT (16u << 20)

/* ---- Configuration (config.c) -------------------------------------- */

enum gw_role { GW_AGENT, GW_TOOL };

struct gw_zone {
	char name[GW_ZONE_NAME_MAX + 1];
	int domid;
	enum gw_role role;
	char **tags;
	size_t ntags;
	char *chan; /* "sim:N:PATH" or "xen:N:PATH" */
	/* A zone that is both an agent and a tool ("role": ["agent",
	 * "tool"]) is two entries of the config with the same name, domid
	 * and tags: the agent side (chan: the zone's "chan") first, then the
	 * tool side (chan: the zone's "tool_chan"); both have both set. */
	int both;
	char *default_zone; /* agent: tools of this tool zone unprefixed */
	/* A remote tool zone (Streamable HTTP) instead of chan: */
	char *url;
	char *ca_file;	   /* resolved; NULL: the system's CA store */
	int insecure_http; /* http:// allowed to a non-loopback host */
	char **hdr_names;  /* headers_from: header name -> */
	char **hdr_files;  /* resolved file holding its value */
	size_t nhdr;
	/* A tool zone's capacity (gw_admit.c): calls in flight at once, and
	 * of those one agent zone's; 0: the default */
	int max_inflight, agent_max_inflight;
	/* An agent zone that is a Kubernetes pod ("k8s") instead of chan:
	 * the service account whose tokens a k8s listener maps to it. */
	char *k8s_ns, *k8s_sa;
};

/* max_inflight and agent_max_inflight of a tool zone: at most this, and
 * max_inflight when not given (gateway/gw_admit.c) */
#define GW_TZ_INFLIGHT_MAX 65536
#define GW_TZ_INFLIGHT_DEFAULT_CFG 32
#define GW_HEADERS_FROM_MAX 16
#define GW_HEADER_VALUE_MAX 8192 /* bytes of a credential header's value */

/* An HTTP listener for host-side clients, bound to one agent zone, or
 * (k8s) to the zone each request's service-account token names. */
struct gw_listener {
	char *listen;	     /* as configured (for messages) */
	char *unix_path;     /* resolved socket path; NULL for TCP */
	char *host;	     /* TCP: the numeric address to bind */
	int loopback;	     /* TCP: host is a loopback address */
	unsigned short port; /* TCP; 0: any free port */
	char zone[GW_ZONE_NAME_MAX + 1]; /* "" for a k8s listener */
	char *tls_cert, *tls_key;	 /* resolved PEM files; NULL: plain */
	char *k8s_audience, *k8s_issuer; /* NULL: not a k8s listener */
	char *k8s_jwks;			 /* resolved */
	char *token_file;		 /* resolved; NULL: none */
	int has_uid;			 /* unix: the peer's uid must be uid */
	uid_t uid;
	int line; /* in the config, for messages */
};

struct mcp_state_keys; /* mcp/include/mcp_state.h */

struct gw_config {
	char *path; /* as given */
	char *dir;  /* directory of the config file */
	struct gw_zone *zones;
	size_t nzones;
	char *policy;	    /* resolved path: file or directory */
	char *admin_socket; /* resolved; NULL: none */
	char *admin_group;  /* NULL: root (and our own uid) only */
	gid_t admin_gid;
	int has_admin_gid;
	char *audit_log; /* resolved; NULL: no audit file */
	char *replica;	 /* names the audit chains it starts; NULL: host name */
	int audit_args;	 /* log argument values (off by default) */
	char *pins;	 /* resolved path of the pin store */
	char *metrics;	 /* "HOST:PORT" (loopback) or "unix:PATH" */
	long call_timeout_ms;	     /* default deadline of a call */
	size_t max_message;	     /* bytes of one JSON-RPC message */
	int reload_interval_ms;	     /* policy file-change check; 0 = off */
	int audit_flush_ms;	     /* audit records wait at most this long */
	int audit_denials_per_s;     /* a zone's denials with a record each;
				  * beyond: aggregated (0: no limit) */
	uint64_t audit_rotate_bytes; /* rotate the log at this size; 0 off */
	int zone_denials_per_s;	     /* denials answered per agent zone and
				      * second (as many in a burst); beyond,
				      * its input waits (0: no budget) */
	unsigned list_page_size;     /* entries per page of a merged list */
	size_t catalogue_max_bytes;  /* per tool zone and fetch */
	struct gw_listener *listeners;
	size_t nlisteners;
	/* held calls of 2026-07-28 agents (gw_stateless.c): the key ring that
	 * seals their requestState (state_key_file, else one random key of
	 * this process), the replica's random id the state names, at most
	 * held_max held calls per agent zone, each forgotten (cancelled
	 * upstream) after held_idle_ms without its retry */
	char *state_key_file;		   /* resolved; NULL: a random key */
	struct mcp_state_keys *state_keys; /* never NULL in a loaded config */
	char replica_id[17];		   /* hex */
	unsigned held_max;
	long held_idle_ms;
	/* tasks (io.modelcontextprotocol/tasks) an agent zone keeps on tool
	 * zones through this gatewayd, each until its TTL (gw_tasks.c) */
	unsigned tasks_max;
};

/* Loads and validates the config at path. Returns a new config the
 * caller frees with gw_config_free(), or NULL with "file:line: message"
 * in err. Nothing is partly applied. */
struct gw_config *gw_config_load(const char *path, char *err, size_t errlen);
void gw_config_free(struct gw_config *c);
/* Nonzero if s is a Kubernetes namespace (is_ns: a DNS-1123 label, at
 * most 63) or service account name (a DNS-1123 subdomain, at most 253). */
int gw_k8s_name_ok(const char *s, int is_ns);
/* The agent zone whose k8s names namespace ns and service account sa,
 * or NULL. */
const struct gw_zone *gw_config_k8s_zone(const struct gw_config *c,
					 const char *ns, const char *sa);
/* Reads listener l's token (the token file's first line, at least
 * GW_TOKEN_MIN characters) into out. Returns 0, or -1 with err (which
 * never contains the token). */
int gw_listener_token(const struct gw_listener *l, char *out, size_t outlen,
		      char *err, size_t errlen);
/* Reload (gatewayd.c): a and b are the same zone to a running gateway
 * (name, role, domid, chan or url and its TLS and credential files: its
 * identity and transport), so its sessions and links may stay;
 * gw_zone_equal: and every other key too (tags,
 * default_zone), else the zone is updated in place. */
int gw_zone_same(const struct gw_zone *a, const struct gw_zone *b);
int gw_zone_equal(const struct gw_zone *a, const struct gw_zone *b);
/* 0 if nw may replace cur in a running gatewayd: the keys that take
 * effect only at start (admin_socket, admin_group, audit_log, pins,
 * metrics, max_message, listeners) are unchanged; else -1 with
 * "FILE: \"KEY\" changed: ..." in err. */
int gw_config_reload_check(const struct gw_config *cur,
			   const struct gw_config *nw, char *err,
			   size_t errlen);
/* Moves what a reload applies (zones, policy and the settings read where
 * they are used) from nw into cur, and cur's old ones into nw, which the
 * caller then frees. Zones keep their addresses: a pointer into nw's
 * zones before is one into cur's after. */
void gw_config_adopt(struct gw_config *cur, struct gw_config *nw);
/* The zone named name (of a zone that is both, its agent side), or
 * NULL. */
const struct gw_zone *gw_config_zone(const struct gw_config *c,
				     const char *name);
/* The side of zone name that has role, or NULL. */
const struct gw_zone *gw_config_zone_as(const struct gw_config *c,
					const char *name, enum gw_role role);
/* Nonzero if s is a valid zone name: [a-z0-9][a-z0-9-]{0,62}. */
int gw_zone_name_ok(const char *s);
/* Reads the values of zone z's headers_from files into lines ("Name:
 * value", the file's first line; *n of them), the caller frees each with
 * gw_zone_headers_free. Returns 0, or -1 with err (which names the file,
 * never its content). */
int gw_zone_headers(const struct gw_zone *z, char ***lines, size_t *n,
		    char *err, size_t errlen);
void gw_zone_headers_free(char **lines, size_t n);
/* Nonzero if the zone carries tag. */
int gw_zone_has_tag(const struct gw_zone *z, const char *tag);

/* ---- Policy (policy.c) --------------------------------------------- */

enum pol_src { POL_SRC_ZONE, POL_SRC_TAG, POL_SRC_ANY };
enum pol_kind { POL_TOOL = 1, POL_RESOURCE = 2, POL_PROMPT = 4, POL_ALL = 7 };

struct pol_arg {
	char *name, *glob;
};

struct pol_rule {
	enum pol_src src_kind;
	char *src;	     /* zone or tag name; NULL for '*' */
	unsigned kinds;	     /* POL_* bits */
	char *tzone, *tname; /* globs */
	int allow;
	long rate_n, rate_per_ms; /* 0: no rate limit */
	long timeout_ms;	  /* 0: the config's default */
	size_t max_bytes;	  /* 0: none */
	long concurrency;	  /* 0: none */
	struct pol_arg *args;
	size_t nargs;
	const char *file; /* borrowed from the policy's file list */
	int line;
	unsigned idx; /* position in the policy (first match wins) */
	char *text;   /* the line as written, trimmed */
	uint64_t sig; /* hash of its tokens: the same rule after a
			     * reload has the same sig */
};

struct policy;

/* Loads path (a rule file, or a directory whose *.policy files are read
 * in name order). display is how file names are shown (FILE in
 * FILE:LINE): display for a file, display/NAME for a directory's files.
 * The policy is accepted whole or not at all: NULL with
 * "FILE:LINE: message" in err on the first bad line. Free with
 * policy_free(). */
struct policy *policy_load(const char *path, const char *display, char *err,
			   size_t errlen);

/* Like policy_load, with the text of one file replaced by (or, in a
 * directory, added as) oname = obuf[0..olen): validates an edit before
 * it is written. oname is a file name in the directory; ignored (the
 * whole file is replaced) when path is a file. */
struct policy *policy_load_with(const char *path, const char *display,
				const char *oname, const char *obuf,
				size_t olen, char *err, size_t errlen);

/* Parses one rule file held in memory (same contract as policy_load). */
struct policy *policy_parse_buffer(const char *display, const char *buf,
				   size_t len, char *err, size_t errlen);

/* Parses several files at once as one policy (used to validate an edit
 * before it is written): names[i] is shown, bufs[i]/lens[i] its text. */
struct policy *policy_parse_files(const char *const *names,
				  const char *const *bufs, const size_t *lens,
				  size_t n, char *err, size_t errlen);

void policy_free(struct policy *p);
size_t policy_nrules(const struct policy *p);
const struct pol_rule *policy_rule(const struct policy *p, size_t i);

/* What is asked: a calling zone (name and tags), a target kind, the tool
 * zone and the tool's name (or resource URI, or prompt name), and for a
 * call its arguments (NULL when only visibility is asked). */
struct pol_query {
	const char *zone;
	const char *const *tags;
	size_t ntags;
	unsigned kind; /* one POL_* bit */
	const char *tzone, *tname;
	const json_t *args;
};

enum pol_decision {
	POL_DENY_DEFAULT = 0, /* no rule matched */
	POL_ALLOW = 1,
	POL_DENY_RULE = 2, /* a deny rule matched */
	POL_DENY_ARGS = 3  /* an allow rule matched; its arg.* failed */
};

/* The first matching rule decides. *rule gets it (NULL for the default).
 * Uses the compiled index: the rules looked at are only those whose
 * source can be this zone and whose tool-zone pattern can match. */
enum pol_decision policy_decide(const struct policy *p,
				const struct pol_query *q,
				const struct pol_rule **rule);

/* Every rule that matches q (by SOURCE and TARGET), in order, up to max;
 * returns how many matched in all. */
size_t policy_explain(const struct policy *p, const struct pol_query *q,
		      const struct pol_rule **out, size_t max);

/* Lint: what in p is legal but surely wrong against config c: rules
 * whose source names no agent zone or a tag no zone has, whose target
 * names (or whose pattern matches) no tool zone, and rules shadowed by
 * an earlier rule that matches every call they match. Returns a new
 * array of {"file","line","rule","message"} in rule order (empty: clean),
 * or NULL when out of memory. */
json_t *policy_lint(const struct policy *p, const struct gw_config *c);

/* Parses one rule line (no comment, trimmed) into a fresh rule for
 * validation by gatewayctl. Returns 0 or -1 with a message in err. */
int policy_check_line(const char *line, char *err, size_t errlen);

/* Glob match: '*' any run (also empty), '?' one character, everything
 * else literal, case-sensitive. */
int gw_glob_match(const char *pat, const char *s);

/* ---- SHA-256 (sha256.c, FIPS 180-4) --------------------------------- */

struct sha256 {
	uint32_t h[8];
	uint64_t len;
	uint8_t buf[64];
	size_t n;
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *p, size_t n);
void sha256_final(struct sha256 *s, uint8_t out[32]);
/* Hex digest of p[0..n) into out (65 bytes with the NUL). */
void sha256_hex(const void *p, size_t n, char out[65]);
/* Chooses the compression function: 1 the CPU's SHA extensions if it
 * has them, 0 the portable one, -1 the best available (the default).
 * Returns 1 if the extensions are now in use. For tests and benchmarks;
 * not thread-safe against concurrent hashing. */
int sha256_use_accel(int on);

/* ---- Audit log (audit.c) --------------------------------------------- */

struct gw_audit;

/* Opens (appending to) the audit log at path; continues the hash chain
 * from its last line. path NULL: records are chained but not written.
 * Returns NULL with a message in err. */
struct gw_audit *gw_audit_open(const char *path, char *err, size_t errlen);
void gw_audit_close(struct gw_audit *a);

/* The hash of the last record (the chain's head), to anchor it elsewhere. */
const char *gw_audit_head(const struct gw_audit *a);

/* Replica names: what a gatewayd calls the audit chains it starts (the
 * config's "replica", by default the host name). 1..GW_REPLICA_MAX of
 * [A-Za-z0-9._-]; gw_replica_ok says whether s is one. */
#define GW_REPLICA_MAX 253
int gw_replica_ok(const char *s);
/* Names the chain this log starts, if it starts one (the file was empty
 * and nothing is written yet): its first record carries "replica":name.
 * A log that continues keeps the name of its chain (from the first record
 * of its file; "" for a log from before names). Rotation records carry
 * the chain's name. A name that is not gw_replica_ok is ignored. */
void gw_audit_set_replica(struct gw_audit *a, const char *name);
/* The chain's name ("" when it has none). */
const char *gw_audit_replica(const struct gw_audit *a);

/* A new audit id (unique per process: boot random + sequence) into
 * out (at least 40 bytes). */
void gw_audit_new_id(struct gw_audit *a, char *out, size_t outlen);

/* Appends one record. rec is an object of the record's fields (time,
 * prev and hash are added here); it is not stolen. Records are buffered
 * and written by gw_audit_flush(). Returns 0 or -1. */
int gw_audit_append(struct gw_audit *a, json_t *rec);
int gw_audit_flush(struct gw_audit *a);

/* The fields of a decision or call record (strings may be NULL: null). */
/* Model token usage a tool call's result reported
 * (result.structuredContent.usage, as llm_chat writes it), each count
 * clamped to GW_TOKENS_MAX_PER_CALL. */
struct gw_tokens {
	uint64_t prompt, completion, total;
};
/* The most one call may add to a token counter: far above any model's
 * context, and low enough that no counter can wrap (2^64 / 10^6 calls). */
#define GW_TOKENS_MAX_PER_CALL 1000000

struct gw_audit_rec {
	const char *id, *zone, *session, *method, *target, *decision, *rule,
		*reason; /* reason NULL: left out */
	size_t bytes_in, bytes_out;
	int64_t t_policy_us, t_upstream_us, t_total_us;
	const char *args; /* JSON text of the arguments (audit_args), or NULL */
	/* The call's token usage: tokens_state 0 none (left out), 1 the
	 * counts in tokens, -1 a usage that was refused ("invalid"). */
	int tokens_state;
	struct gw_tokens tokens;
	/* the request's W3C traceparent (checked form), or NULL: left out */
	const char *trace;
};
/* Appends one record, formatted without building a JSON tree (the hot
 * path). Same chain as gw_audit_append. Returns 0 or -1 (too long). */
int gw_audit_record(struct gw_audit *a, const struct gw_audit_rec *r);
/* Flushes when 64 KiB wait or interval_ms passed since the last write
 * (interval 0: whenever something waits). */
int gw_audit_maybe_flush(struct gw_audit *a, int interval_ms);
/* Nonzero while records wait to be written. */
int gw_audit_pending(const struct gw_audit *a);

/* Denials: a zone (index zi, name zone) gets per_s records of its own a
 * second (as many in a burst); beyond that they are counted into an
 * aggregate: an opening record (its id AGG, written before any denial
 * counted under it is answered), then, once a second has passed, a
 * closing record naming AGG, the count, the last id and the distinct
 * (method, target, reason) kinds. per_s 0: no limit. */
void gw_audit_set_deny_rate(struct gw_audit *a, int per_s);
/* For one denial, before its record: 0 if it gets a record of its own
 * (write it with gw_audit_record under id, unchanged), or 1 if it was
 * counted into its zone's aggregate: id (idlen >= 64) becomes AGG.N, the
 * id to give the caller, and no record is to be written. target and
 * reason must not carry text a zone chose (a metrics label, say). */
int gw_audit_deny(struct gw_audit *a, unsigned zi, const char *zone,
		  const char *method, const char *target, const char *reason,
		  char *id, size_t idlen);
/* Zone zi left the config: its open aggregate is closed (its record
 * written) and its denial state freed. */
void gw_audit_forget_zone(struct gw_audit *a, unsigned zi);
/* Closes the aggregates whose second has passed (once per loop turn). */
void gw_audit_tick(struct gw_audit *a);

/* Rotation: the file is renamed PATH.YYYYmmddTHHMMSS.uuuuuuZ (UTC, so
 * names sort by age) and a new PATH starts with an audit/rotate record
 * whose prev is the last hash of the old file: the chain is verifiable
 * across the files. gw_audit_set_rotate: rotate whenever a write leaves
 * the file at bytes or more (0: never). gw_audit_rotate: now (why goes
 * into the record; the old file's new name into out, may be NULL).
 * Returns 0, or -1 (no log file, or the rename failed: reported on
 * stderr, and records go on to the file they went to). */
void gw_audit_set_rotate(struct gw_audit *a, uint64_t bytes);
int gw_audit_rotate(struct gw_audit *a, const char *why, char *out,
		    size_t outlen);

/* One problem found by gw_audit_verify_files: the file, its line
 * (1-based) and what is wrong with it. */
typedef void (*gw_audit_report)(void *ud, const char *file, size_t line,
				const char *msg);
/* Verifies the chain through the files paths[0..n) in order, as one
 * sequence (a rotated log's files, oldest first): the first record starts
 * at 64 zeros or is a rotation record continuing an earlier file; each
 * later record names the hash of the one before, across files. Checking
 * goes on after a bad record: every problem goes to report (may be NULL).
 * Returns the number of problems (0: intact), with *records set, or -1
 * with err if a file cannot be read. */
long gw_audit_verify_files(const char *const *paths, size_t n,
			   gw_audit_report report, void *ud, size_t *records,
			   char *err, size_t errlen);

/* Several replicas' files at once. Each file is placed by its hashes:
 * a file whose first record's prev is the last hash of another follows
 * it; the sequences so found are grouped into chains by the replica name
 * their first record carries (a rotated file continues the chain of the
 * same name that ends before it). One entry per chain, files in chain
 * order, with its problems (file, line, what) in file and line order:
 * a file missing in a sequence, a fork (two files continue the same
 * record), a second chain of the same name starting from zeros, and every
 * record problem gw_audit_verify_files finds. */
struct gw_audit_problem {
	const char *file; /* one of the caller's paths */
	size_t line;
	char *msg;
};
struct gw_audit_chain {
	char replica[GW_REPLICA_MAX + 1]; /* "" when its records name none */
	const char **files;		  /* the caller's paths, in order */
	size_t nfiles;
	int from_start; /* its first file starts from 64 zeros */
	size_t records;
	struct gw_audit_problem *problems;
	size_t nproblems;
};
struct gw_audit_chains {
	struct gw_audit_chain *chain; /* ordered by replica name */
	size_t n;
	size_t records, problems; /* totals */
};
/* Sorts paths[0..n) into chains and verifies each into *out (freed with
 * gw_audit_chains_free, also after a failure). n is capped at
 * GW_AUDIT_FILES_MAX. Returns 0, or -1 with err if a file cannot be
 * read. */
#define GW_AUDIT_FILES_MAX 10000
int gw_audit_verify_chains(const char *const *paths, size_t n,
			   struct gw_audit_chains *out, char *err,
			   size_t errlen);
void gw_audit_chains_free(struct gw_audit_chains *c);

/* Reads the next line of an audit file into *buf (grown as needed, to
 * at most GW_AUDIT_LINE_MAX + 1 bytes; the caller frees it), without its
 * line end. Returns its length, -1 at the end (or out of memory), or -2
 * for a line longer than GW_AUDIT_LINE_MAX, which is skipped: nothing
 * gatewayd writes is that long. */
#define GW_AUDIT_LINE_MAX (1u << 20)
ssize_t gw_audit_getline(FILE *f, char **buf, size_t *cap);

/* One file: 0 if intact (*lines set), or -1 with the first bad line in
 * *bad_line (0 if the file cannot be read) and its problem in err. */
int gw_audit_verify(const char *path, size_t *lines, size_t *bad_line,
		    char *err, size_t errlen);

/* ---- Limits (limits.c) --------------------------------------------- */

struct gw_bucket {
	double tokens, cap, per_ms; /* refill per millisecond */
	int64_t last_ms;
};

void gw_bucket_init(struct gw_bucket *b, long n, long per_ms, int64_t now);
/* Takes one token if there is one: 1 on success, 0 when empty. */
int gw_bucket_take(struct gw_bucket *b, int64_t now);
/* Takes one token whether or not there is one: the bucket may go into
 * debt (at most its capacity), which later refills pay back first. */
void gw_bucket_charge(struct gw_bucket *b, int64_t now);
/* Milliseconds until b holds a whole token again (0: it does now). */
int64_t gw_bucket_wait_ms(struct gw_bucket *b, int64_t now);
/* Sets b's rate to n per per_ms (its tokens kept, cut to the new cap). */
void gw_bucket_set(struct gw_bucket *b, long n, long per_ms);

/* The state of one rule's limits for one calling zone. */
struct gw_limit {
	struct gw_bucket bucket;
	long inflight;
};

struct gw_limits;
struct gw_limits *gw_limits_new(void);
void gw_limits_free(struct gw_limits *l);
/* The state for (rule, zone), created on first use; NULL if out of
 * memory. A rule is known by its text (sig), so the state of a rule
 * that is still in a reloaded policy carries over. */
struct gw_limit *gw_limits_get(struct gw_limits *l, const struct pol_rule *r,
			       unsigned zone, int64_t now);
/* After a new policy p is installed: drops the state of rules p no
 * longer has, except counters of calls still in flight (their pointers
 * stay valid until the calls end; a later retain drops them). */
void gw_limits_retain(struct gw_limits *l, const struct policy *p);
/* A zone (index zone) left the config: its state goes (but for counters
 * of calls still in flight), so that a zone given its index later starts
 * afresh. */
void gw_limits_forget_zone(struct gw_limits *l, unsigned zone);
/* Entries held (for tests and status). */
size_t gw_limits_count(const struct gw_limits *l);

int64_t gw_now_ms(void);
int64_t gw_now_us(void);

/* ---- Metrics (metrics.c) ------------------------------------------- */

struct gw_metrics;
struct gw_metrics *gw_metrics_new(void);
void gw_metrics_free(struct gw_metrics *m);
/* Records one decision or call for (zone, tool): outcome 0 ok, 1 denied,
 * 2 error; latency in microseconds (ignored for denials). Thread-safe. */
void gw_metrics_record(struct gw_metrics *m, const char *zone, const char *tool,
		       int outcome, int64_t us);
/* Adds one call's token usage to (zone, tool), where tool is served by
 * tool zone tool_zone (a configured zone name: the Prometheus label), or
 * counts a refused usage (tk NULL). Thread-safe. */
void gw_metrics_tokens(struct gw_metrics *m, const char *zone, const char *tool,
		       const char *tool_zone, const struct gw_tokens *tk);
/* Prometheus text exposition (with extra gauges appended by the caller
 * through extra, may be NULL). Caller frees. */
char *gw_metrics_prometheus(struct gw_metrics *m, const char *extra);
/* A JSON array of {zone, tool, calls, denials, errors, p50_us, p99_us},
 * with tokens: {prompt, completion, total, rejected} on the rows whose
 * calls reported usage. */
json_t *gw_metrics_json(struct gw_metrics *m);

/* ---- Pins (pins.c) ---------------------------------------------------- */

/* The catalogue hash of a tool zone: SHA-256 over the canonical JSON
 * (compact, keys sorted) of each tool's whole definition, sorted by name;
 * when the zone has resources, resource templates or prompts, over an
 * object of the four lists, each of those entries cut to the members a
 * client acts on (resources and templates: uri or uriTemplate, name,
 * title, description, mimeType, annotations; prompts: name, title,
 * description, arguments), in an order that does not depend on the
 * zone's. Any list may be NULL (empty). */
void gw_catalogue_hash(const json_t *tools, const json_t *resources,
		       const json_t *templates, const json_t *prompts,
		       char out[65]);
/* Pin store: a JSON object zone -> hex hash, written atomically.
 * Load returns a new object (empty if the file does not exist), or NULL
 * with err. */
json_t *gw_pins_load(const char *path, char *err, size_t errlen);
int gw_pins_save(const char *path, const json_t *pins, char *err,
		 size_t errlen);

/* ---- Small helpers (util.c) -------------------------------------------- */

/* Reads the whole file under cap bytes. Symlinks are followed; anything
 * that is then not a regular file (FIFO, device, directory) is refused
 * without blocking. Returns a NUL-terminated buffer the caller frees, or
 * NULL with a message in err. */
char *gw_read_file(const char *path, size_t cap, size_t *len, char *err,
		   size_t errlen);
/* Writes data to path atomically (temporary file, fsync, rename).
 * Returns 0 or -1 with err. */
int gw_write_atomic(const char *path, const char *data, size_t len, char *err,
		    size_t errlen);
/* Makes room for a unix socket at path: nothing there, or a stale socket
 * (removed). Anything else there is left alone: -1 with err. */
int gw_unix_path_free(const char *path, char *err, size_t errlen);
/* dir/rel unless rel is absolute; caller frees. */
char *gw_path_join(const char *dir, const char *rel);
/* The length (1..4) of the well-formed UTF-8 character at p[0..n), or 0
 * if p does not start with one (a stray or missing continuation byte, an
 * overlong form, a surrogate, beyond U+10FFFF, or n == 0). */
size_t gw_utf8_char(const char *p, size_t n);
/* The length of the longest prefix of s of at most max bytes that does
 * not end inside a character: text from a zone is cut with this (e.g.
 * printf's "%.*s"), never at a plain byte count. */
size_t gw_utf8_prefix(const char *s, size_t max);

#endif
