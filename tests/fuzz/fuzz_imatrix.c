/* libFuzzer target: the importance-matrix reader (llama-imatrix's GGUF format and the legacy
 * .dat). Accepted inputs are walked: entries found by name, every value, every entry as stored
 * (sums and counts, as a merge reads them) and every dataset read. */
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
	for (size_t i = 0; i < fy_imatrix_count(m); i++) {
		struct fy_imatrix_entry e;
		fy_imatrix_entry_at(m, i, &e);
		sink += (float)e.name[0];
		for (size_t k = 0; k < e.n_sums; k++)
			sink += e.sums[k];
		for (size_t k = 0; k < e.n_counts; k++)
			sink += (float)e.counts[k];
	}
	for (size_t i = 0; i < fy_imatrix_dataset_count(m); i++)
		sink += (float)fy_imatrix_dataset_at(m, i)[0];
	(void)sink;
	fy_imatrix_free(m);
	return 0;
}
