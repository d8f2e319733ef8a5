/* Fuzz target: the splice check (gateway/splice.c) against jansson, the
 * parser the gateway and the relay use. Whatever the check passes as
 * safe to splice must parse as an object with exactly the members
 * jsonrpc, id and result or error; whatever it refuses as malformed
 * must be refused by jansson too (numbers too large for jansson aside,
 * jansson's own nesting limit used as the depth cap, and raw NUL bytes,
 * which jansson skips and the check refuses). */
#include "splice.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *why = NULL;
	enum gw_splice_verdict v =
		gw_splice_check((const char *)data, size, 2048, &why);
	json_error_t je;
	json_t *j = json_loadb((const char *)data, size,
			       JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);

	if (v == GW_SPLICE_OK) {
		/* duplicates below the top level are not the check's job */
		if (!j && json_error_code(&je) == json_error_duplicate_key)
			j = json_loadb((const char *)data, size,
				       JSON_DECODE_ANY, &je);
		if (!j && json_error_code(&je) == json_error_numeric_overflow)
			return 0;
		if (!j || !json_is_object(j) || json_object_size(j) != 3 ||
		    !json_object_get(j, "jsonrpc") ||
		    !json_object_get(j, "id") ||
		    (!json_object_get(j, "result") &&
		     !json_object_get(j, "error")))
			abort(); /* spliced, but not one plain response */
	} else if (v == GW_SPLICE_BAD && j && json_is_object(j) &&
		   strcmp(why, "nested too deeply") != 0 &&
		   !memchr(data, 0, size) && /* jansson skips NUL bytes */
		   json_object_get(j, "id")) {
		/* refused although jansson reads it with one id: only a
		 * missing jsonrpc/result may explain that */
		if (json_object_get(j, "jsonrpc") &&
		    (json_object_get(j, "result") != NULL) !=
			    (json_object_get(j, "error") != NULL))
			abort();
	} else if (v == GW_SPLICE_OTHER && !j &&
		   json_error_code(&je) != json_error_duplicate_key &&
		   json_error_code(&je) != json_error_numeric_overflow) {
		abort(); /* called well-formed, jansson disagrees */
	}
	json_decref(j);
	return 0;
}
