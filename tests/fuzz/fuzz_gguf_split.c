/* libFuzzer target: the split-set reader. The input is cut into up to four file images at
 * "\n--\n" markers (a GGUF shard per piece); an accepted set is walked completely (every tensor's
 * first and last byte, in its own shard), so ASan sees any bad bound or shard mix-up. */
#include "convert/convert.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const void *img[4];
	size_t sizes[4];
	size_t n = 0, at = 0;
	struct fy_gguf *g = NULL;
	struct fy_err err;
	volatile uint64_t sink = 0;

	while (n < 4) {
		const uint8_t *cut = NULL;
		for (size_t i = at; i + 4 <= size; i++) {
			if (memcmp(data + i, "\n--\n", 4) == 0) {
				cut = data + i;
				break;
			}
		}
		img[n] = data + at;
		sizes[n] = cut != NULL ? (size_t)(cut - data) - at : size - at;
		n++;
		if (cut == NULL)
			break;
		at = (size_t)(cut - data) + 4;
	}
	if (fy_gguf_parse_set(&g, img, sizes, n, "fuzz", &err) != FY_OK)
		return 0;
	for (size_t i = 0; i < fy_gguf_tensor_count(g); i++) {
		const struct fy_gguf_tensor *t = fy_gguf_tensor_at(g, i);
		const uint8_t *p = t->data;
		const struct fy_gguf *sh = fy_gguf_shard(g, (size_t)t->shard);
		if (sh == NULL)
			__builtin_trap();
		if (t->nbytes > 0)
			sink += p[0] + p[t->nbytes - 1];
		if (fy_gguf_find_tensor(g, t->name) != t)
			__builtin_trap();
	}
	(void)sink;
	fy_gguf_free(g);
	return 0;
}
