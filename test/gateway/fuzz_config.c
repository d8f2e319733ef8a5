/* Fuzz target: arbitrary bytes as the gateway's JSON config (written to
 * a private temporary file, since the loader reads a path). */
#include "gw.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	char err[512];
	FILE *f;
	struct gw_config *c;

	if (!path[0])
		snprintf(path, sizeof(path), "/tmp/zg-fuzzcfg.%ld.json",
			 (long)getpid());
	f = fopen(path, "w");
	if (!f)
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);
	c = gw_config_load(path, err, sizeof(err));
	gw_config_free(c);
	unlink(path);
	return 0;
}
