/* libFuzzer target: every quantizer (with and without importance weights) on arbitrary finite
 * floats (huge, tiny, subnormal, ties), then the dequantizers on the blocks they wrote and on raw
 * bytes taken as blocks. Under UBSan this catches float-to-int conversions and shifts that the
 * reference code leaves undefined. */
#include "quant/quant.h"

#include <math.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define N 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	float x[N] = { 0 };
	float qw[N];
	float back[N];
	uint8_t q[N * 4];
	size_t n = size / 4 < N ? size / 4 : N;

	memcpy(x, data, n * 4);
	for (size_t i = 0; i < N; i++) {
		if (!isfinite(x[i]))
			x[i] = 0;
		/* an importance row: positive, from the same bytes read backwards */
		qw[i] = (float)(1 + data[size > 0 ? (size - 1 - i % size) : 0] % 97) / 8.0f;
	}
	/* every type of the traits table: quantizers (plain and weighted) where ferry writes the
	 * type, then the dequantizers on what was written and on raw bytes as blocks */
	for (int t = 0; t < FY_DTYPE_COUNT; t++) {
		const struct fy_quant_traits *tr = fy_quant_traits((enum fy_dtype)t);
		size_t bytes = 0;
		if (tr == NULL)
			continue;
		if (!fy_quant_row_bytes((enum fy_dtype)t, N, &bytes) || bytes > sizeof(q))
			__builtin_trap();
		if (fy_quant_can_write((enum fy_dtype)t)) {
			if (!fy_quant_weights_required((enum fy_dtype)t))
				fy_quant_row((enum fy_dtype)t, x, q, N);
			fy_dequant_row((enum fy_dtype)t, q, back, N);
			fy_quant_row_w((enum fy_dtype)t, x, q, N, qw);
			fy_dequant_row((enum fy_dtype)t, q, back, N);
		}
		memset(q, 0, sizeof(q));
		memcpy(q, data, size < bytes ? size : bytes);
		fy_dequant_row((enum fy_dtype)t, q, back, N);
	}
	return 0;
}
