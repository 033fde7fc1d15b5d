/* libFuzzer target: the JSON layer. Accepted documents are serialized and parsed again, which
 * must succeed and give the same serialization (no duplicate keys, depth kept in bounds). */
#include "core/core.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fy_json *j = NULL;
	struct fy_json *again = NULL;
	struct fy_err err;
	char *a = NULL;
	char *b = NULL;

	if (fy_json_parse(&j, data, size, "fuzz", &err) != FY_OK)
		return 0;
	a = fy_json_dump(j, FY_JSON_DUMP_SORTED);
	if (a == NULL || fy_json_parse(&again, a, strlen(a), "again", &err) != FY_OK)
		__builtin_trap();
	b = fy_json_dump(again, FY_JSON_DUMP_SORTED);
	if (b == NULL || strcmp(a, b) != 0)
		__builtin_trap();
	free(a);
	free(b);
	fy_json_free(again);
	fy_json_free(j);
	return 0;
}
