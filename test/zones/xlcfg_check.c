/* xlcfg_check: the project's own checker of xl domain config files as
 * `zonectl xen` writes them (xl.cfg(5): KEY = VALUE lines, VALUE a
 * quoted string, a number or a [ list ] that may span lines, # comments),
 * since xl cannot check a config without a hypervisor. On top of the
 * syntax: the keys zonectl uses with their types, a domain name xl
 * accepts, and disk and 9p specs. Prints "ok FILE" or "FILE:LINE: why".
 * Usage: xlcfg_check FILE...   (exit 0 all good, 1 any bad, 2 usage) */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CFG_MAX (64 * 1024)
#define VALS_MAX 16

enum vtype { V_STR, V_NUM, V_LIST };

struct value {
	enum vtype type;
	char str[VALS_MAX][512]; /* V_STR: str[0]; V_LIST: the items */
	int nstr;
	long num;
};

struct parser {
	const char *file;
	const char *p;
	int line;
	char why[512];
};

static int bad(struct parser *ps, const char *why)
{
	if (!ps->why[0])
		snprintf(ps->why, sizeof(ps->why), "%s:%d: %s", ps->file,
			 ps->line, why);
	return -1;
}

/* Skips blanks; with nl, newlines and # comments too. */
static void skip(struct parser *ps, int nl)
{
	for (;;) {
		if (*ps->p == ' ' || *ps->p == '\t')
			ps->p++;
		else if (nl && *ps->p == '\n')
			ps->line++, ps->p++;
		else if (nl && *ps->p == '#')
			while (*ps->p && *ps->p != '\n')
				ps->p++;
		else
			return;
	}
}

/* A quoted string on one line, no escapes (zonectl writes none). */
static int str(struct parser *ps, char *out, size_t len)
{
	char q = *ps->p++;
	size_t n = 0;

	while (*ps->p && *ps->p != q) {
		if (*ps->p == '\n')
			return bad(ps, "unterminated string");
		if (*ps->p == '\\' || (unsigned char)*ps->p < 0x20)
			return bad(ps, "control byte or backslash in a string");
		if (n + 1 >= len)
			return bad(ps, "string too long");
		out[n++] = *ps->p++;
	}
	if (*ps->p != q)
		return bad(ps, "unterminated string");
	ps->p++;
	out[n] = 0;
	return 0;
}

static int num(struct parser *ps, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(ps->p, &end, 10);
	if (errno || end == ps->p)
		return bad(ps, "expected a number, a quoted string or a list");
	ps->p = end;
	return 0;
}

/* VALUE: a string, a number, or a list of strings (all zonectl uses). */
static int value(struct parser *ps, struct value *v)
{
	memset(v, 0, sizeof(*v));
	if (*ps->p == '"' || *ps->p == '\'') {
		v->type = V_STR;
		v->nstr = 1;
		return str(ps, v->str[0], sizeof(v->str[0]));
	}
	if (*ps->p != '[') {
		v->type = V_NUM;
		return num(ps, &v->num);
	}
	v->type = V_LIST;
	ps->p++;
	for (;;) {
		skip(ps, 1);
		if (*ps->p == ']') {
			ps->p++;
			return 0;
		}
		if (*ps->p != '"' && *ps->p != '\'')
			return bad(ps, *ps->p ? "a list holds quoted strings"
					      : "unterminated list");
		if (v->nstr >= VALS_MAX)
			return bad(ps, "list too long");
		if (str(ps, v->str[v->nstr], sizeof(v->str[0])) < 0)
			return -1;
		v->nstr++;
		skip(ps, 1);
		if (*ps->p == ',')
			ps->p++;
		else if (*ps->p != ']')
			return bad(ps, "expected ',' or ']' in a list");
	}
}

/* A domain name xl accepts (the checker's rule, from xl's own refusals):
 * 1..64 of [A-Za-z0-9_.-], not only digits (it would read as a domid),
 * not starting with '-'. */
static int name_ok(const char *s)
{
	size_t n = strlen(s);
	int digits = 1;

	if (n == 0 || n > 64 || s[0] == '-')
		return 0;
	for (; *s; s++) {
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '.' &&
		    *s != '-')
			return 0;
		digits &= isdigit((unsigned char)*s) != 0;
	}
	return !digits;
}

/* Whether spec (k=v,k=v,...) has exactly the keys of allowed, the
 * required ones among them, every value non-empty, and target/path
 * absolute. */
static int spec_ok(const char *spec, const char *const *allowed,
		   const char *const *required)
{
	char buf[512], *kv, *next;
	int seen[8] = { 0 };

	snprintf(buf, sizeof(buf), "%s", spec);
	for (kv = buf; kv; kv = next) {
		char *eq;
		int k;
		next = kv[strcspn(kv, ",")] ? kv + strcspn(kv, ",") + 1 : NULL;
		kv[strcspn(kv, ",")] = 0;
		eq = strchr(kv, '=');
		if (!eq || eq == kv || !eq[1])
			return 0;
		*eq = 0;
		for (k = 0; allowed[k] && strcmp(allowed[k], kv); k++)
			;
		if (!allowed[k] || seen[k]++)
			return 0;
		if ((!strcmp(kv, "target") || !strcmp(kv, "path")) &&
		    eq[1] != '/')
			return 0;
		if (!strcmp(kv, "access") && strcmp(eq + 1, "ro") &&
		    strcmp(eq + 1, "rw"))
			return 0;
		if (!strcmp(kv, "vdev") && (strncmp(eq + 1, "xvd", 3) ||
					    !islower((unsigned char)eq[4])))
			return 0;
	}
	for (int r = 0; required[r]; r++)
		for (int k = 0; allowed[k]; k++)
			if (!strcmp(allowed[k], required[r]) && !seen[k])
				return 0;
	return 1;
}

static const char *const disk_keys[] = { "format", "vdev", "access", "target",
					 NULL };
static const char *const disk_req[] = { "vdev", "target", NULL };
static const char *const p9_keys[] = { "tag", "security_model", "path",
				       "backend", NULL };
static const char *const p9_req[] = { "tag", "security_model", "path", NULL };

/* The keys zonectl writes, with their types and checks. */
static int check_key(struct parser *ps, const char *k, const struct value *v)
{
	static const char *const strs[] = {
		"name",	       "type",	    "kernel",	"ramdisk", "cmdline",
		"on_poweroff", "on_reboot", "on_crash", NULL
	};
	static const char *const nums[] = { "memory", "maxmem", "vcpus", "cap",
					    NULL };
	static const char *const lists[] = { "disk", "vif", "p9", NULL };
	enum vtype want;
	int i;

	for (i = 0; strs[i] && strcmp(strs[i], k); i++)
		;
	want = V_STR;
	if (!strs[i]) {
		for (i = 0; nums[i] && strcmp(nums[i], k); i++)
			;
		want = V_NUM;
		if (!nums[i]) {
			for (i = 0; lists[i] && strcmp(lists[i], k); i++)
				;
			want = V_LIST;
			if (!lists[i])
				return bad(ps, "unknown key");
		}
	}
	if (v->type != want)
		return bad(ps, want == V_STR   ? "expected a quoted string"
			       : want == V_NUM ? "expected a number"
					       : "expected a list");
	if (!strcmp(k, "name") && !name_ok(v->str[0]))
		return bad(ps, "not a domain name xl accepts");
	if (!strcmp(k, "type") && strcmp(v->str[0], "pv") &&
	    strcmp(v->str[0], "pvh") && strcmp(v->str[0], "hvm"))
		return bad(ps, "type must be pv, pvh or hvm");
	if ((!strcmp(k, "kernel") || !strcmp(k, "ramdisk")) &&
	    v->str[0][0] != '/')
		return bad(ps, "kernel and ramdisk must be absolute paths");
	if (!strncmp(k, "on_", 3) && strcmp(v->str[0], "destroy") &&
	    strcmp(v->str[0], "restart") && strcmp(v->str[0], "preserve"))
		return bad(ps, "on_* must be destroy, restart or preserve");
	if (!strcmp(k, "memory") && (v->num < 16 || v->num > 1 << 22))
		return bad(ps, "memory must be 16..4194304 MiB");
	if (!strcmp(k, "vcpus") && (v->num < 1 || v->num > 128))
		return bad(ps, "vcpus must be 1..128");
	if (!strcmp(k, "cap") && (v->num < 1 || v->num > 12800))
		return bad(ps, "cap must be 1..12800 (% of one CPU)");
	for (i = 0; !strcmp(k, "disk") && i < v->nstr; i++)
		if (!spec_ok(v->str[i], disk_keys, disk_req))
			return bad(ps, "bad disk spec");
	for (i = 0; !strcmp(k, "p9") && i < v->nstr; i++)
		if (!spec_ok(v->str[i], p9_keys, p9_req))
			return bad(ps, "bad p9 spec");
	if (!strcmp(k, "vif") && v->nstr)
		return bad(ps, "zonectl's domains have no vif");
	return 0;
}

/* The whole file: syntax, keys, duplicates, what must be there and how
 * memory relates to maxmem. 0 good, -1 with ps->why. */
static int check(struct parser *ps)
{
	static const char *const need[] = { "name",   "type",  "kernel",
					    "memory", "vcpus", "disk" };
	char seen[32][32];
	int nseen = 0;
	long memory = 0, maxmem = 0;
	struct value v;

	for (;;) {
		char key[32];
		size_t n = 0;
		skip(ps, 1);
		if (!*ps->p)
			break;
		if (!isalpha((unsigned char)*ps->p))
			return bad(ps, "expected a key");
		while (isalnum((unsigned char)*ps->p) || *ps->p == '_')
			if (n + 1 < sizeof(key))
				key[n++] = *ps->p++;
			else
				return bad(ps, "key too long");
		key[n] = 0;
		skip(ps, 0);
		if (*ps->p++ != '=')
			return bad(ps, "expected '=' after the key");
		skip(ps, 0);
		if (value(ps, &v) < 0 || check_key(ps, key, &v) < 0)
			return -1;
		for (int i = 0; i < nseen; i++)
			if (!strcmp(seen[i], key))
				return bad(ps, "key given twice");
		if (nseen < 32)
			snprintf(seen[nseen++], sizeof(seen[0]), "%s", key);
		if (!strcmp(key, "memory"))
			memory = v.num;
		if (!strcmp(key, "maxmem"))
			maxmem = v.num;
		skip(ps, 0);
		if (*ps->p == ';')
			ps->p++;
		skip(ps, 0);
		if (*ps->p == '#')
			skip(ps, 1);
		else if (*ps->p && *ps->p != '\n')
			return bad(ps, "one KEY = VALUE per line");
	}
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		int found = 0;
		for (int j = 0; j < nseen; j++)
			found |= !strcmp(seen[j], need[i]);
		if (!found) {
			char m[64];
			snprintf(m, sizeof(m), "missing key '%s'", need[i]);
			return bad(ps, m);
		}
	}
	if (maxmem && maxmem < memory)
		return bad(ps, "maxmem below memory");
	return 0;
}

int main(int argc, char **argv)
{
	int rc = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: xlcfg_check FILE...\n");
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		static char text[CFG_MAX + 1];
		struct parser ps = { argv[i], text, 1, "" };
		FILE *f = fopen(argv[i], "r");
		size_t n = f ? fread(text, 1, CFG_MAX + 1, f) : 0;
		if (f)
			fclose(f);
		text[n > CFG_MAX ? CFG_MAX : n] = 0;
		if (!f || n > CFG_MAX || memchr(text, 0, n))
			bad(&ps, "unreadable, too large or binary");
		else
			check(&ps);
		if (ps.why[0]) {
			printf("%s\n", ps.why);
			rc = 1;
		} else {
			printf("ok %s\n", argv[i]);
		}
	}
	return rc;
}
