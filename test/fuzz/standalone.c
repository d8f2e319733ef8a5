/* Driver for fuzz targets in builds without libFuzzer: replays every file
 * of the corpus directories given, then runs a fixed number of
 * deterministic mutations of them (bit flips, truncation, splicing,
 * inserted bytes), so each parser is exercised by every build. */
#include <dirent.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "zg_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT (1u << 20)

struct corpus {
	uint8_t **data;
	size_t *size;
	size_t n, cap;
};

static void corpus_add(struct corpus *c, uint8_t *d, size_t n)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		uint8_t **nd = realloc(c->data, cap * sizeof(*nd));
		size_t *ns = realloc(c->size, cap * sizeof(*ns));
		if (!nd || !ns) {
			fprintf(stderr, "out of memory\n");
			exit(2);
		}
		c->data = nd;
		c->size = ns;
		c->cap = cap;
	}
	c->data[c->n] = d;
	c->size[c->n] = n;
	c->n++;
}

static void load_file(struct corpus *c, const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	size_t n;

	if (!f)
		return;
	buf = malloc(FUZZ_MAX_INPUT);
	if (!buf) {
		fclose(f);
		return;
	}
	n = fread(buf, 1, FUZZ_MAX_INPUT, f);
	fclose(f);
	corpus_add(c, buf, n);
}

static void load_path(struct corpus *c, const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *e;
	char sub[4096];

	if (stat(path, &st) != 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		load_file(c, path);
		return;
	}
	d = opendir(path);
	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		int n;
		if (e->d_name[0] == '.')
			continue;
		n = snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		if (n > 0 && (size_t)n < sizeof(sub))
			load_path(c, sub);
	}
	closedir(d);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static size_t mutate(uint8_t *buf, size_t n, size_t cap, const struct corpus *c)
{
	int rounds = 1 + (int)(rng() % 4);

	while (rounds-- > 0) {
		switch (rng() % 6) {
		case 0: /* flip a bit */
			if (n)
				buf[rng() % n] ^= (uint8_t)(1u << (rng() % 8));
			break;
		case 1: /* truncate */
			if (n)
				n = rng() % n;
			break;
		case 2: /* insert an interesting byte */
			if (n < cap) {
				static const uint8_t bytes[] = {
					0,   '"', '{',	'}',  '[',  ']',
					',', ':', '\\', 0xff, '\n', '0'
				};
				size_t at = n ? rng() % n : 0;
				memmove(buf + at + 1, buf + at, n - at);
				buf[at] = bytes[rng() % sizeof(bytes)];
				n++;
			}
			break;
		case 3: /* splice the tail of another input */
			if (c->n) {
				size_t k = rng() % c->n, at = n ? rng() % n : 0;
				size_t from = c->size[k] ? rng() % c->size[k]
							 : 0;
				size_t len = c->size[k] - from;
				if (at + len > cap)
					len = cap - at;
				memcpy(buf + at, c->data[k] + from, len);
				n = at + len;
			}
			break;
		case 4: /* duplicate a chunk */
			if (n && n * 2 <= cap) {
				size_t at = rng() % n,
				       len = 1 + rng() % (n - at);
				memmove(buf + at + len, buf + at, n - at);
				n += len;
			}
			break;
		default: /* random byte */
			if (n)
				buf[rng() % n] = (uint8_t)rng();
		}
	}
	return n;
}

int main(int argc, char **argv)
{
	struct corpus c = { 0 };
	long iterations = 10000;
	uint8_t *buf;
	size_t i;

	for (int a = 1; a < argc; a++) {
		if (strncmp(argv[a], "-iterations=", 12) == 0) {
			long long n;
			if (zg_parse_int(argv[a] + 12, 0, LONG_MAX, &n) != 0) {
				fprintf(stderr, "bad %s\n", argv[a]);
				return 2;
			}
			iterations = (long)n;
		} else if (argv[a][0] != '-') {
			load_path(&c, argv[a]);
		}
	}
	for (i = 0; i < c.n; i++)
		LLVMFuzzerTestOneInput(c.data[i], c.size[i]);
	buf = malloc(FUZZ_MAX_INPUT);
	if (!buf)
		return 2;
	for (long it = 0; it < iterations; it++) {
		size_t n = 0;
		if (c.n) {
			size_t k = rng() % c.n;
			n = c.size[k] < 4096 ? c.size[k] : 4096;
			memcpy(buf, c.data[k], n);
		}
		n = mutate(buf, n, 8192, &c);
		LLVMFuzzerTestOneInput(buf, n);
	}
	fprintf(stderr, "replayed %zu corpus inputs, ran %ld mutations\n", c.n,
		iterations);
	for (i = 0; i < c.n; i++)
		free(c.data[i]);
	free(c.data);
	free(c.size);
	free(buf);
	return 0;
}
