/* Fuzz target: arbitrary bytes as a gateway config whose zone "probe" has
 * a run block (written to a private temporary file: the loader reads a
 * path). */
#include "sandbox.h"

#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	char err[512];
	FILE *f;

	if (!path[0])
		snprintf(path, sizeof(path), "/tmp/zg-fuzzrun.%ld.json",
			 (long)getpid());
	f = fopen(path, "w");
	if (!f)
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);
	zone_run_free(zone_run_load(path, "probe", err, sizeof(err)));
	unlink(path);
	return 0;
}
