/*
 * The quant traits table: a row per type ferry can write or read, indexed by enum fy_dtype.
 * Adding a type is adding a row (and its two functions).
 */
#include "quant/quant_private.h"

#include <pthread.h>
#include <stdlib.h>

static void f32_from_float(const float *x, void *y, int64_t n)
{
	memcpy(y, x, (size_t)n * sizeof(float));
}

static void f32_to_float(const void *x, float *y, int64_t n)
{
	memcpy(y, x, (size_t)n * sizeof(float));
}

static void f16_from_float(const float *x, void *y, int64_t n)
{
	fy_f32_to_f16_row(x, y, n);
}

static void f16_to_float(const void *x, float *y, int64_t n)
{
	fy_f16_to_f32_row(x, y, n);
}

static void bf16_from_float(const float *x, void *y, int64_t n)
{
	fy_f32_to_bf16_row(x, y, n);
}

static void bf16_to_float(const void *vx, float *y, int64_t n)
{
	const uint16_t *x = vx;
	for (int64_t i = 0; i < n; i++)
		y[i] = fy_bf16_to_f32(x[i]);
}

#define ROW(t, nm, bl, sz, from, to, dot) [t] = { t, nm, bl, sz, from, to, dot }

/* vec_dot_type follows ggml's CPU pairing: K-quants meet Q8_K activations, the 32-element types
 * Q8_0 (Q4_1/Q5_1: Q8_1), float types themselves. */
static const struct fy_quant_traits table[FY_DTYPE_COUNT] = {
	ROW(FY_DTYPE_F32, "F32", 1, 4, f32_from_float, f32_to_float, FY_DTYPE_F32),
	ROW(FY_DTYPE_F16, "F16", 1, 2, f16_from_float, f16_to_float, FY_DTYPE_F16),
	ROW(FY_DTYPE_BF16, "BF16", 1, 2, bf16_from_float, bf16_to_float, FY_DTYPE_BF16),
	ROW(FY_DTYPE_Q4_0, "Q4_0", 32, 18, fy_quant_q4_0, fy_dequant_q4_0, FY_DTYPE_Q8_0),
	ROW(FY_DTYPE_Q4_1, "Q4_1", 32, 20, fy_quant_q4_1, fy_dequant_q4_1, FY_DTYPE_Q8_1),
	ROW(FY_DTYPE_Q5_0, "Q5_0", 32, 22, fy_quant_q5_0, fy_dequant_q5_0, FY_DTYPE_Q8_0),
	ROW(FY_DTYPE_Q5_1, "Q5_1", 32, 24, fy_quant_q5_1, fy_dequant_q5_1, FY_DTYPE_Q8_1),
	ROW(FY_DTYPE_Q8_0, "Q8_0", 32, 34, fy_quant_q8_0, fy_dequant_q8_0, FY_DTYPE_Q8_0),
	ROW(FY_DTYPE_Q2_K, "Q2_K", 256, 84, fy_quant_q2_k, fy_dequant_q2_k, FY_DTYPE_Q8_K),
	ROW(FY_DTYPE_Q3_K, "Q3_K", 256, 110, fy_quant_q3_k, fy_dequant_q3_k, FY_DTYPE_Q8_K),
	ROW(FY_DTYPE_Q4_K, "Q4_K", 256, 144, fy_quant_q4_k, fy_dequant_q4_k, FY_DTYPE_Q8_K),
	ROW(FY_DTYPE_Q5_K, "Q5_K", 256, 176, fy_quant_q5_k, fy_dequant_q5_k, FY_DTYPE_Q8_K),
	ROW(FY_DTYPE_Q6_K, "Q6_K", 256, 210, fy_quant_q6_k, fy_dequant_q6_k, FY_DTYPE_Q8_K),
	ROW(FY_DTYPE_IQ4_NL, "IQ4_NL", 32, 18, fy_quant_iq4_nl, fy_dequant_iq4_nl, FY_DTYPE_Q8_0),
};

const struct fy_quant_traits *fy_quant_traits(enum fy_dtype t)
{
	if ((int)t < 0 || t >= FY_DTYPE_COUNT || table[t].name == NULL)
		return NULL;
	return &table[t];
}

bool fy_quant_can_write(enum fy_dtype t)
{
	const struct fy_quant_traits *tr = fy_quant_traits(t);
	return tr != NULL && tr->from_float != NULL;
}

const char *fy_quant_writable_names(void)
{
	return "F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL";
}

bool fy_quant_row_bytes(enum fy_dtype t, int64_t n, size_t *out)
{
	const struct fy_quant_traits *tr = fy_quant_traits(t);
	size_t bytes;
	if (tr == NULL || n < 0 || n % tr->blck != 0)
		return false;
	if (__builtin_mul_overflow((uint64_t)(n / tr->blck), (uint64_t)tr->bytes, &bytes))
		return false;
	*out = bytes;
	return true;
}

void fy_quant_row(enum fy_dtype t, const float *x, void *y, int64_t n)
{
	table[t].from_float(x, y, n);
}

/* The dequantizers in use: the table's, with their AVX2 twins where the CPU has AVX2 and
 * FERRY_SIMD is not "scalar" (quant/dequant_avx2.c; bit-identical output). */
static fy_quant_to_float_fn fast[FY_DTYPE_COUNT];
static pthread_once_t fast_once = PTHREAD_ONCE_INIT;

static void fast_init(void)
{
	const char *env = getenv("FERRY_SIMD");
	for (int t = 0; t < FY_DTYPE_COUNT; t++)
		fast[t] = table[t].to_float;
	if (env == NULL || strcmp(env, "scalar") != 0)
		fy_dequant_avx2_table(fast);
}

void fy_dequant_row(enum fy_dtype t, const void *x, float *y, int64_t n)
{
	pthread_once(&fast_once, fast_init);
	fast[t](x, y, n);
}

void fy_dequant_row_scalar(enum fy_dtype t, const void *x, float *y, int64_t n)
{
	table[t].to_float(x, y, n);
}

int64_t fy_quant_check_finite(const float *x, int64_t n)
{
	for (int64_t i = 0; i < n; i++) {
		if (!isfinite(x[i]))
			return i;
	}
	return -1;
}
