/* libFuzzer target: the signed mirror index as a ferry client reads it (docs/PUBLISH.md): its
 * structure, names, ids, times and refs, then the lookups a client makes. */
#include "mirror/mirror.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fy_json *ix = NULL;
	struct fy_remote r = { "fuzz", NULL };
	char id[FY_REV_ID_LEN + 1];
	struct fy_err err;
	volatile uint64_t sink = 0;

	if (fy_pubindex_parse(data, size, "fuzz", &ix, &err) != FY_OK)
		return 0;
	r.index = ix;
	sink += fy_pubindex_version(ix);
	if (fy_remote_resolve(&r, "demo/stories", NULL, id, NULL, &err) == FY_OK)
		sink += fy_pubindex_revision(ix, "demo/stories", id) != NULL;
	if (fy_remote_resolve(&r, "demo/stories", "abcd", id, NULL, &err) == FY_OK)
		sink += (uint64_t)id[0];
	(void)sink;
	fy_remote_close(&r);
	return 0;
}
