/* libFuzzer target: the quantizers on arbitrary finite floats (huge, tiny, subnormal, ties), then
 * the dequantizers on the blocks they wrote and on raw bytes taken as blocks. Under UBSan this
 * catches float-to-int conversions and shifts that the reference code leaves undefined. */
#include "quant/quant.h"

#include <math.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define N 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum fy_dtype types[] = {
		FY_DTYPE_Q4_0,	 FY_DTYPE_Q4_1, FY_DTYPE_Q5_0, FY_DTYPE_Q5_1, FY_DTYPE_Q8_0,
		FY_DTYPE_Q2_K,	 FY_DTYPE_Q3_K, FY_DTYPE_Q4_K, FY_DTYPE_Q5_K, FY_DTYPE_Q6_K,
		FY_DTYPE_IQ4_NL, FY_DTYPE_F16,	FY_DTYPE_BF16,
	};
	float x[N] = { 0 };
	float back[N];
	uint8_t q[N * 4];
	size_t n = size / 4 < N ? size / 4 : N;

	memcpy(x, data, n * 4);
	for (size_t i = 0; i < N; i++) {
		if (!isfinite(x[i]))
			x[i] = 0;
	}
	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		size_t bytes = 0;
		if (!fy_quant_row_bytes(types[t], N, &bytes) || bytes > sizeof(q))
			__builtin_trap();
		fy_quant_row(types[t], x, q, N);
		fy_dequant_row(types[t], q, back, N);
		memset(q, 0, sizeof(q));
		memcpy(q, data, size < bytes ? size : bytes);
		fy_dequant_row(types[t], q, back, N);
	}
	return 0;
}
