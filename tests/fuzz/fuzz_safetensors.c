/* libFuzzer target: the safetensors reader. Accepted inputs are walked completely (metadata,
 * the first and last byte of every tensor) and must tile the data buffer exactly. */
#include "convert/convert.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fy_st_file *f = NULL;
	struct fy_err err;
	volatile uint64_t sink = 0;
	const char *k, *v;
	uint64_t covered = 0;
	size_t i;

	if (fy_st_parse(&f, data, size, "fuzz", &err) != FY_OK)
		return 0;
	for (i = 0; i < fy_st_meta_count(f); i++) {
		fy_st_meta_at(f, i, &k, &v);
		sink += strlen(k) + strlen(v);
	}
	for (i = 0; i < fy_st_count(f); i++) {
		const struct fy_st_tensor *t = fy_st_at(f, i);
		const uint8_t *p = t->data;

		if (t->end > t->begin)
			sink += p[0] + p[t->end - t->begin - 1];
		covered += t->end - t->begin;
		if (fy_st_find(f, t->name) != t)
			__builtin_trap();
	}
	if (8 + fy_st_header_size(f) + covered != size)
		__builtin_trap(); /* the tensors must tile the data exactly */
	(void)sink;
	fy_st_free(f);
	return 0;
}
