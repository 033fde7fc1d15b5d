/* libFuzzer target: the GGUF reader. Accepted inputs are walked completely (every KV value,
 * every array element, the first and last byte of every tensor), so ASan sees any bad bound. */
#include "convert/convert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fy_gguf *g = NULL;
	struct fy_err err;
	volatile uint64_t sink = 0;
	size_t i;
	uint64_t j;

	if (fy_gguf_parse(&g, data, size, "fuzz", &err) != FY_OK)
		return 0;
	for (i = 0; i < fy_gguf_kv_count(g); i++) {
		const struct fy_gguf_kv *kv = fy_gguf_kv_at(g, i);

		if (kv->type == FY_GGUF_STRING && kv->v.s.len > 0)
			sink += (uint8_t)kv->v.s.ptr[kv->v.s.len - 1];
		for (j = 0; kv->type == FY_GGUF_ARRAY && j < kv->arr_count; j++) {
			struct fy_gguf_value v = fy_gguf_arr_at(kv, j);

			sink += v.u + (v.s.len ? (uint8_t)v.s.ptr[v.s.len - 1] : 0);
		}
		if (fy_gguf_find_kv(g, kv->key) != kv)
			__builtin_trap();
	}
	for (i = 0; i < fy_gguf_tensor_count(g); i++) {
		const struct fy_gguf_tensor *t = fy_gguf_tensor_at(g, i);
		const uint8_t *p = t->data;

		if (t->nbytes > 0)
			sink += p[0] + p[t->nbytes - 1];
		if (fy_gguf_find_tensor(g, t->name) != t)
			__builtin_trap();
	}
	(void)sink;
	fy_gguf_free(g);
	return 0;
}
