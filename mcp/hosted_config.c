/* The servers file of mcpd --servers: the mcpServers JSON shape MCP
 * clients use, read whole, every key checked, errors as FILE:LINE.
 * Nothing of mcpd's own environment reaches a server but PATH. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hosted.h"
#include "zg_common.h"

struct cfgctx {
	const char *file;
	const char *text;
	size_t pos; /* where the current server's object starts */
	char *err;
	size_t errlen;
};

static long key_line(struct cfgctx *c, const char *key)
{
	size_t from = c->pos;

	return zg_json_key_line(c->text, key, &from);
}

/* Reads the file whole under its cap; NULL with err set. */
static char *read_file(const char *file, char *err, size_t errlen)
{
	FILE *f = fopen(file, "rb");
	char *buf = NULL;
	size_t n;

	if (!f) {
		zg_errf(err, errlen, file, 0, "%s", strerror(errno));
		return NULL;
	}
	buf = malloc(HOSTED_MAX_FILE + 1);
	if (!buf) {
		zg_errf(err, errlen, file, 0, "out of memory");
		goto out;
	}
	n = fread(buf, 1, HOSTED_MAX_FILE + 1, f);
	if (ferror(f) || n > HOSTED_MAX_FILE) {
		zg_errf(err, errlen, file, 0,
			ferror(f) ? "read error" : "larger than %u bytes",
			HOSTED_MAX_FILE);
		free(buf);
		buf = NULL;
		goto out;
	}
	buf[n] = '\0';
	if (strlen(buf) != n) {
		zg_errf(err, errlen, file, 0, "contains a NUL byte");
		free(buf);
		buf = NULL;
	}
out:
	fclose(f);
	return buf;
}

/* A string of 1..HOSTED_MAX_STR bytes without NUL, copied; NULL with err
 * set otherwise. */
static char *str_dup_checked(struct cfgctx *c, json_t *v, const char *key)
{
	char *s;

	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) > HOSTED_MAX_STR ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		zg_errf(c->err, c->errlen, c->file, key_line(c, key),
			"%s: expected a string of 1 to %u bytes", key,
			HOSTED_MAX_STR);
		return NULL;
	}
	s = strdup(json_string_value(v));
	if (!s)
		zg_errf(c->err, c->errlen, c->file, 0, "out of memory");
	return s;
}

static int name_ok(const char *n)
{
	size_t len = strlen(n);

	if (len == 0 || len > HOSTED_NAME_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char ch = n[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
			return 0;
	}
	return 1;
}

static int env_name_ok(const char *n)
{
	if (!*n || (*n >= '0' && *n <= '9'))
		return 0;
	for (; *n; n++)
		if (!((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') ||
		      (*n >= '0' && *n <= '9') || *n == '_'))
			return 0;
	return 1;
}

/* Finds an executable named cmd on path; a cmd with a '/' is used as
 * given (relative to the entry's cwd). Returns a new string or NULL. */
static char *resolve(const char *cmd, const char *path)
{
	char buf[PATH_MAX];

	if (strchr(cmd, '/'))
		return strdup(cmd);
	while (path && *path) {
		const char *colon = strchr(path, ':');
		size_t dl = colon ? (size_t)(colon - path) : strlen(path);
		int w = snprintf(buf, sizeof(buf), "%.*s/%s", (int)dl, path,
				 cmd);
		if (dl > 0 && w > 0 && (size_t)w < sizeof(buf) &&
		    access(buf, X_OK) == 0)
			return strdup(buf);
		path = colon ? colon + 1 : NULL;
	}
	return NULL;
}

static int parse_args(struct cfgctx *c, struct hosted_cfg *h, json_t *cmd,
		      json_t *args)
{
	size_t n = 0, i;
	json_t *v;

	if (args &&
	    (!json_is_array(args) || json_array_size(args) > HOSTED_MAX_ARGS))
		return zg_errf(c->err, c->errlen, c->file, key_line(c, "args"),
			       "args: expected an array of at most %u strings",
			       HOSTED_MAX_ARGS);
	n = args ? json_array_size(args) : 0;
	h->argv = calloc(n + 2, sizeof(char *));
	if (!h->argv)
		return zg_errf(c->err, c->errlen, c->file, 0, "out of memory");
	h->argv[0] = str_dup_checked(c, cmd, "command");
	if (!h->argv[0])
		return -1;
	json_array_foreach (args, i, v) {
		h->argv[i + 1] = str_dup_checked(c, v, "args");
		if (!h->argv[i + 1])
			return -1;
	}
	return 0;
}

/* envp: every entry of env, then PATH (mcpd's) unless env sets it. */
static int parse_env(struct cfgctx *c, struct hosted_cfg *h, json_t *env,
		     const char **path_out)
{
	const char *k, *path = getenv("PATH");
	size_t n = 0;
	json_t *v;

	if (env &&
	    (!json_is_object(env) || json_object_size(env) > HOSTED_MAX_ENV))
		return zg_errf(c->err, c->errlen, c->file, key_line(c, "env"),
			       "env: expected an object of at most %u strings",
			       HOSTED_MAX_ENV);
	h->envp = calloc((env ? json_object_size(env) : 0) + 2, sizeof(char *));
	if (!h->envp)
		return zg_errf(c->err, c->errlen, c->file, 0, "out of memory");
	json_object_foreach (env, k, v) {
		size_t need;
		if (!env_name_ok(k) || strlen(k) > 256 || !json_is_string(v) ||
		    json_string_length(v) > HOSTED_MAX_STR ||
		    strlen(json_string_value(v)) != json_string_length(v))
			return zg_errf(c->err, c->errlen, c->file,
				       key_line(c, k),
				       "env: %.64s: a variable name and a "
				       "string of at most %u bytes",
				       k, HOSTED_MAX_STR);
		need = strlen(k) + json_string_length(v) + 2;
		h->envp[n] = malloc(need);
		if (!h->envp[n])
			return zg_errf(c->err, c->errlen, c->file, 0,
				       "out of memory");
		snprintf(h->envp[n], need, "%s=%s", k, json_string_value(v));
		if (strcmp(k, "PATH") == 0)
			path = json_string_value(v);
		n++;
	}
	if (path && !json_object_get(env, "PATH")) {
		size_t need = strlen(path) + 6;
		h->envp[n] = malloc(need);
		if (!h->envp[n])
			return zg_errf(c->err, c->errlen, c->file, 0,
				       "out of memory");
		snprintf(h->envp[n], need, "PATH=%s", path);
	}
	*path_out = path;
	return 0;
}

static int parse_timeout(struct cfgctx *c, json_t *v, const char *key,
			 long long max, unsigned *out)
{
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > max)
		return zg_errf(c->err, c->errlen, c->file, key_line(c, key),
			       "%s: expected seconds from 1 to %lld", key, max);
	*out = (unsigned)json_integer_value(v) * 1000u;
	return 0;
}

static const char *const known_keys[] = {
	"command", "args",	   "env",	   "cwd",	   "shared",
	"type",	   "init_timeout", "call_timeout", "max_children", NULL
};

static int check_keys(struct cfgctx *c, json_t *entry)
{
	const char *k;
	json_t *v;

	json_object_foreach (entry, k, v) {
		size_t i;
		for (i = 0; known_keys[i] && strcmp(known_keys[i], k); i++)
			;
		if (!known_keys[i])
			return zg_errf(c->err, c->errlen, c->file,
				       key_line(c, k), "unknown key '%.64s'",
				       k);
	}
	v = json_object_get(entry, "type");
	if (v &&
	    (!json_is_string(v) || strcmp(json_string_value(v), "stdio") != 0))
		return zg_errf(c->err, c->errlen, c->file, key_line(c, "type"),
			       "type: only \"stdio\" is hosted by mcpd");
	v = json_object_get(entry, "shared");
	if (v && !json_is_boolean(v))
		return zg_errf(c->err, c->errlen, c->file,
			       key_line(c, "shared"),
			       "shared: expected true or false");
	return 0;
}

static int parse_entry(struct cfgctx *c, const char *name, json_t *entry,
		       struct hosted_cfg *h)
{
	const char *path = NULL;
	json_t *cmd, *cwd, *v;

	c->pos = 0;
	zg_json_key_line(c->text, name, &c->pos);
	if (!name_ok(name))
		return zg_errf(c->err, c->errlen, c->file, key_line(c, name),
			       "server name '%.64s': 1 to %u letters, digits, "
			       "'_' or '-' (no '.': tools are SERVER.NAME)",
			       name, HOSTED_NAME_MAX);
	if (!json_is_object(entry))
		return zg_errf(c->err, c->errlen, c->file, key_line(c, name),
			       "%s: expected an object", name);
	h->name = strdup(name);
	h->init_timeout_ms = 10000;
	h->call_timeout_ms = 300000;
	if (!h->name)
		return zg_errf(c->err, c->errlen, c->file, 0, "out of memory");
	if (check_keys(c, entry) != 0)
		return -1;
	cmd = json_object_get(entry, "command");
	if (!cmd)
		return zg_errf(c->err, c->errlen, c->file, key_line(c, name),
			       "%s: no command", name);
	v = json_object_get(entry, "max_children");
	if (v && (!json_is_integer(v) || json_integer_value(v) < 1 ||
		  json_integer_value(v) > 256))
		return zg_errf(c->err, c->errlen, c->file,
			       key_line(c, "max_children"),
			       "max_children: expected 1 to 256");
	h->max_children = v ? (unsigned)json_integer_value(v) : 16;
	if (parse_args(c, h, cmd, json_object_get(entry, "args")) != 0 ||
	    parse_env(c, h, json_object_get(entry, "env"), &path) != 0 ||
	    parse_timeout(c, json_object_get(entry, "init_timeout"),
			  "init_timeout", 300, &h->init_timeout_ms) != 0 ||
	    parse_timeout(c, json_object_get(entry, "call_timeout"),
			  "call_timeout", 86400, &h->call_timeout_ms) != 0)
		return -1;
	cwd = json_object_get(entry, "cwd");
	if (cwd) {
		h->cwd = str_dup_checked(c, cwd, "cwd");
		if (!h->cwd)
			return -1;
	}
	h->shared = json_is_true(json_object_get(entry, "shared"));
	h->path = resolve(h->argv[0], path);
	if (!h->path)
		return zg_errf(c->err, c->errlen, c->file,
			       key_line(c, "command"),
			       "command '%.200s' not found on PATH",
			       h->argv[0]);
	return 0;
}

static void cfg_free(struct hosted_cfg *h)
{
	for (char **p = h->argv; p && *p; p++)
		free(*p);
	for (char **p = h->envp; p && *p; p++)
		free(*p);
	free(h->argv);
	free(h->envp);
	free(h->name);
	free(h->path);
	free(h->cwd);
}

void hosted_config_free(struct hosted_cfgs *c)
{
	for (size_t i = 0; i < c->n; i++)
		cfg_free(&c->v[i]);
	free(c->v);
	c->v = NULL;
	c->n = 0;
}

static int parse_root(struct cfgctx *c, json_t *root, struct hosted_cfgs *out)
{
	json_t *servers = json_object_get(root, "mcpServers"), *entry;
	const char *k, *name;

	if (!json_is_object(root))
		return zg_errf(c->err, c->errlen, c->file, 1,
			       "expected a JSON object");
	json_object_foreach (root, k, entry) {
		if (strcmp(k, "mcpServers") != 0)
			return zg_errf(c->err, c->errlen, c->file,
				       zg_json_key_line(c->text, k, NULL),
				       "unknown key '%.64s'", k);
	}
	if (!json_is_object(servers))
		return zg_errf(c->err, c->errlen, c->file,
			       zg_json_key_line(c->text, "mcpServers", NULL),
			       "mcpServers: expected an object of servers");
	if (json_object_size(servers) > HOSTED_MAX_SERVERS)
		return zg_errf(c->err, c->errlen, c->file,
			       zg_json_key_line(c->text, "mcpServers", NULL),
			       "mcpServers: at most %u servers",
			       HOSTED_MAX_SERVERS);
	out->v = calloc(json_object_size(servers) + 1, sizeof(*out->v));
	if (!out->v)
		return zg_errf(c->err, c->errlen, c->file, 0, "out of memory");
	json_object_foreach (servers, name, entry) {
		struct hosted_cfg *h = &out->v[out->n++];
		if (parse_entry(c, name, entry, h) != 0)
			return -1;
	}
	return 0;
}

int hosted_config_parse(const char *file, const char *text,
			struct hosted_cfgs *out, char *err, size_t errlen)
{
	struct cfgctx c = { file, text, 0, err, errlen };
	json_error_t jerr;
	json_t *root = NULL;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (strlen(text) > HOSTED_MAX_FILE)
		return zg_errf(err, errlen, file, 0, "larger than %u bytes",
			       HOSTED_MAX_FILE);
	root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		zg_errf(err, errlen, file, jerr.line, "%s", jerr.text);
		goto out;
	}
	rc = parse_root(&c, root, out);
out:
	if (rc != 0)
		hosted_config_free(out);
	json_decref(root);
	return rc;
}

int hosted_config_load(const char *file, struct hosted_cfgs *out, char *err,
		       size_t errlen)
{
	char *text = read_file(file, err, errlen);
	int rc;

	memset(out, 0, sizeof(*out));
	if (!text)
		return -1;
	rc = hosted_config_parse(file, text, out, err, errlen);
	free(text);
	return rc;
}
