/* Fuzz target: arbitrary bytes as the attack battery's TARGETS.json
 * (ag_attack_parse: JSON, the table of keys and types, the loopback
 * checks of URLs and HOST:PORT). */
#include <stdint.h>

#include "attack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];

	json_decref(ag_attack_parse((const char *)data, size, "fuzz", err,
				    sizeof(err)));
	return 0;
}
