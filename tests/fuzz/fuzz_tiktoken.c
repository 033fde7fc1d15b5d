/* libFuzzer target: the tiktoken vocabulary reader (Kimi's tiktoken.model: "BASE64 RANK" lines)
 * and the merge derivation the converter runs on each token. */
#include "convert/convert_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fy_tiktoken t;
	struct fy_err err;
	volatile size_t sink = 0;

	if (fy_tiktoken_parse(&t, data, size, "fuzz", &err) != FY_OK)
		return 0;
	if (t.n == 0)
		__builtin_trap();
	for (size_t i = 0; i < t.n && i < 256; i++) {
		size_t left = 0;
		if (fy_tiktoken_merge(&t, i, &left)) {
			if (left == 0 || left >= t.tok[i].len)
				__builtin_trap();
			sink += left;
		}
	}
	(void)sink;
	fy_tiktoken_free(&t);
	return 0;
}
