/* Fuzz target: several replicas' audit files sorted into chains and
 * verified (gw_audit_verify_chains). The input is cut at each 0x1e byte
 * into up to 6 files, written to temporary files (in TMPDIR). Whatever they
 * hold (made-up hashes that link files in a loop, forks, lines over the
 * cap), every file is placed in exactly one chain, every line is counted
 * as one record, and every problem names a file of its chain. */
#include "gw.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NFILES 6

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The lines gw_audit_getline reads from n bytes of p. */
static size_t count_lines(const uint8_t *p, size_t n)
{
	size_t lines = 0;

	for (size_t i = 0; i < n; i++)
		if (p[i] == '\n')
			lines++;
	return lines + (n && p[n - 1] != '\n');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[NFILES][160];
	const char *paths[NFILES + 1];
	struct gw_audit_chains cs;
	char err[512];
	size_t nf = 0, off = 0, lines = 0, placed = 0;

	while (nf < NFILES && off <= size) {
		const uint8_t *sep = memchr(data + off, 0x1e, size - off);
		size_t n = sep ? (size_t)(sep - (data + off)) : size - off;
		FILE *f;

		if (!path[nf][0]) {
			const char *tmp = getenv("TMPDIR");
			snprintf(path[nf], sizeof(path[nf]),
				 "%s/zg-fuzzaudit.%ld.%zu",
				 tmp && *tmp && strlen(tmp) < 100 ? tmp
								  : P_tmpdir,
				 (long)getpid(), nf);
		}
		f = fopen(path[nf], "w");
		if (!f)
			break;
		fwrite(data + off, 1, n, f);
		fclose(f);
		lines += count_lines(data + off, n);
		paths[nf] = path[nf];
		nf++;
		off += n + 1;
		if (!sep)
			break;
	}
	paths[nf] = paths[0]; /* one file named twice counts once */
	if (gw_audit_verify_chains(paths, nf + (nf > 0), &cs, err,
				   sizeof(err)) == 0) {
		for (size_t i = 0; i < cs.n; i++) {
			const struct gw_audit_chain *c = &cs.chain[i];
			placed += c->nfiles;
			for (size_t k = 0; k < c->nproblems; k++) {
				size_t j = 0;
				while (j < c->nfiles &&
				       c->problems[k].file != c->files[j])
					j++;
				if (j == c->nfiles)
					abort(); /* a problem outside its chain */
			}
		}
		if (placed != nf || cs.records != lines)
			abort();
	}
	gw_audit_chains_free(&cs);
	for (size_t i = 0; i < nf; i++)
		unlink(path[i]);
	return 0;
}
