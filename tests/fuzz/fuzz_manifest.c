/* libFuzzer target: revision manifests (JSON: files, digests, ids checked against the content). */
#include "mirror/mirror.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fy_revision *r = NULL;
	struct fy_err err;
	size_t i;
	volatile size_t sink = 0;

	if (fy_revision_parse(data, size, "fuzz", &r, &err) != FY_OK)
		return 0;
	for (i = 0; i < r->n_files; i++)
		sink += r->files[i].size + (size_t)r->files[i].path[0];
	(void)sink;
	fy_revision_free(r);
	return 0;
}
