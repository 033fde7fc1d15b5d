/* libFuzzer target: the pickle scanner (opcode walk, memo, PyTorch zip central directory). */
#include "verify/verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fy_buf out;
	struct fy_err err;

	fy_buf_init(&out);
	fy_pickle_imports(data, size, &out, &err);
	fy_buf_release(&out);
	return 0;
}
