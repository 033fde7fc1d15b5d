/* libFuzzer target: config.json as the converter reads it (the model's fields, text_config
 * merged in, rope_scaling, FP8 block sizes, compressed-tensors quantization_config,
 * DeepSeek-V4's compress_ratios). */
#include "convert/convert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fy_hf_config c;
	struct fy_err err;

	if (fy_hf_config_parse(&c, data, size, "fuzz", &err) != FY_OK)
		return 0;
	/* accepted: the int weights' description is one the converter can run */
	if (c.packed_bits != -1 && (c.packed_bits != 4 || c.packed_group <= 0))
		__builtin_trap();
	if (c.n_compress > FY_HF_MAX_COMPRESS)
		__builtin_trap();
	for (int64_t i = 0; i < c.n_compress; i++)
		if (c.compress_ratios[i] < 0 || c.compress_ratios[i] > 1 << 20)
			__builtin_trap();
	return 0;
}
