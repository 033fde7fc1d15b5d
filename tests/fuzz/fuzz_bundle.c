/* libFuzzer target: a bundle's description (bundle.json, docs/BUNDLE.md) as an importer reads
 * it after its signature checked out: format, ids, the index pin, revisions, and the sorted,
 * disjoint object lists. */
#include "mirror/mirror.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fy_err err;

	fy_bundle_parse(data, size, "fuzz", &err);
	return 0;
}
