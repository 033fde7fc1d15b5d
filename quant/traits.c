/*
 * The quant traits table: a row per type ferry can write or read, indexed by enum fy_dtype.
 * Adding a type is adding a row (and its two functions).
 */
#include "quant/quant_private.h"

#include <pthread.h>
#include <stdio.h>
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

#define ROW(t, nm, bl, sz, from, w, to, dot) [t] = { t, nm, bl, sz, from, w, to, dot }

/* vec_dot_type follows ggml's CPU pairing: K-quants and i-quants of 256 meet Q8_K activations,
 * the 32-element types Q8_0 (Q4_1/Q5_1: Q8_1), float types themselves. The quantize_w column is
 * the quantizer an importance matrix goes to (NULL: ferry has no imatrix path for the type). */
static const struct fy_quant_traits table[FY_DTYPE_COUNT] = {
	ROW(FY_DTYPE_F32, "F32", 1, 4, f32_from_float, NULL, f32_to_float, FY_DTYPE_F32),
	ROW(FY_DTYPE_F16, "F16", 1, 2, f16_from_float, NULL, f16_to_float, FY_DTYPE_F16),
	ROW(FY_DTYPE_BF16, "BF16", 1, 2, bf16_from_float, NULL, bf16_to_float, FY_DTYPE_BF16),
	ROW(FY_DTYPE_Q4_0, "Q4_0", 32, 18, fy_quant_q4_0, fy_quant_q4_0_w, fy_dequant_q4_0,
	    FY_DTYPE_Q8_0),
	ROW(FY_DTYPE_Q4_1, "Q4_1", 32, 20, fy_quant_q4_1, fy_quant_q4_1_w, fy_dequant_q4_1,
	    FY_DTYPE_Q8_1),
	ROW(FY_DTYPE_Q5_0, "Q5_0", 32, 22, fy_quant_q5_0, fy_quant_q5_0_w, fy_dequant_q5_0,
	    FY_DTYPE_Q8_0),
	ROW(FY_DTYPE_Q5_1, "Q5_1", 32, 24, fy_quant_q5_1, fy_quant_q5_1_w, fy_dequant_q5_1,
	    FY_DTYPE_Q8_1),
	ROW(FY_DTYPE_Q8_0, "Q8_0", 32, 34, fy_quant_q8_0, NULL, fy_dequant_q8_0, FY_DTYPE_Q8_0),
	ROW(FY_DTYPE_Q2_K, "Q2_K", 256, 84, fy_quant_q2_k, fy_quant_q2_k_w, fy_dequant_q2_k,
	    FY_DTYPE_Q8_K),
	ROW(FY_DTYPE_Q3_K, "Q3_K", 256, 110, fy_quant_q3_k, fy_quant_q3_k_w, fy_dequant_q3_k,
	    FY_DTYPE_Q8_K),
	ROW(FY_DTYPE_Q4_K, "Q4_K", 256, 144, fy_quant_q4_k, fy_quant_q4_k_w, fy_dequant_q4_k,
	    FY_DTYPE_Q8_K),
	ROW(FY_DTYPE_Q5_K, "Q5_K", 256, 176, fy_quant_q5_k, fy_quant_q5_k_w, fy_dequant_q5_k,
	    FY_DTYPE_Q8_K),
	ROW(FY_DTYPE_Q6_K, "Q6_K", 256, 210, fy_quant_q6_k, fy_quant_q6_k_w, fy_dequant_q6_k,
	    FY_DTYPE_Q8_K),
	ROW(FY_DTYPE_Q8_K, "Q8_K", 256, 292, NULL, NULL, fy_dequant_q8_k, FY_DTYPE_Q8_K),
	ROW(FY_DTYPE_IQ2_XXS, "IQ2_XXS", 256, 66, NULL, fy_quant_iq2_xxs_w, fy_dequant_iq2_xxs,
	    FY_DTYPE_Q8_K),
	ROW(FY_DTYPE_IQ2_XS, "IQ2_XS", 256, 74, NULL, fy_quant_iq2_xs_w, fy_dequant_iq2_xs,
	    FY_DTYPE_Q8_K),
	ROW(FY_DTYPE_IQ3_XXS, "IQ3_XXS", 256, 98, fy_quant_iq3_xxs, fy_quant_iq3_xxs_w,
	    fy_dequant_iq3_xxs, FY_DTYPE_Q8_K),
	ROW(FY_DTYPE_IQ1_S, "IQ1_S", 256, 50, NULL, fy_quant_iq1_s_w, fy_dequant_iq1_s,
	    FY_DTYPE_Q8_K),
	ROW(FY_DTYPE_IQ4_NL, "IQ4_NL", 32, 18, fy_quant_iq4_nl, fy_quant_iq4_nl_w,
	    fy_dequant_iq4_nl, FY_DTYPE_Q8_0),
	ROW(FY_DTYPE_IQ3_S, "IQ3_S", 256, 110, fy_quant_iq3_s, fy_quant_iq3_s_w, fy_dequant_iq3_s,
	    FY_DTYPE_Q8_K),
	ROW(FY_DTYPE_IQ2_S, "IQ2_S", 256, 82, fy_quant_iq2_s, fy_quant_iq2_s_w, fy_dequant_iq2_s,
	    FY_DTYPE_Q8_K),
	ROW(FY_DTYPE_IQ4_XS, "IQ4_XS", 256, 136, fy_quant_iq4_xs, fy_quant_iq4_xs_w,
	    fy_dequant_iq4_xs, FY_DTYPE_Q8_K),
	ROW(FY_DTYPE_IQ1_M, "IQ1_M", 256, 56, fy_quant_iq1_m, fy_quant_iq1_m_w, fy_dequant_iq1_m,
	    FY_DTYPE_Q8_K),
	ROW(FY_DTYPE_TQ1_0, "TQ1_0", 256, 54, fy_quant_tq1_0, NULL, fy_dequant_tq1_0,
	    FY_DTYPE_Q8_K),
	ROW(FY_DTYPE_TQ2_0, "TQ2_0", 256, 66, fy_quant_tq2_0, NULL, fy_dequant_tq2_0,
	    FY_DTYPE_Q8_K),
	ROW(FY_DTYPE_MXFP4, "MXFP4", 32, 17, fy_quant_mxfp4, NULL, fy_dequant_mxfp4, FY_DTYPE_Q8_0),
	ROW(FY_DTYPE_NVFP4, "NVFP4", 64, 36, fy_quant_nvfp4, NULL, fy_dequant_nvfp4, FY_DTYPE_Q8_0),
	ROW(FY_DTYPE_Q1_0, "Q1_0", 128, 18, fy_quant_q1_0, NULL, fy_dequant_q1_0, FY_DTYPE_Q8_0),
	ROW(FY_DTYPE_Q2_0, "Q2_0", 64, 18, fy_quant_q2_0, NULL, fy_dequant_q2_0, FY_DTYPE_Q8_0),
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
	return tr != NULL && (tr->from_float != NULL || tr->quantize_w != NULL);
}

bool fy_quant_weights_required(enum fy_dtype t)
{
	const struct fy_quant_traits *tr = fy_quant_traits(t);
	return tr != NULL && tr->from_float == NULL && tr->quantize_w != NULL;
}

/* Built from the table on first use: the rows with a quantizer, in type-id order. */
static char writable[256];
static pthread_once_t writable_once = PTHREAD_ONCE_INIT;

static void writable_init(void)
{
	size_t len = 0;
	for (int t = 0; t < FY_DTYPE_COUNT; t++) {
		if (table[t].from_float == NULL && table[t].quantize_w == NULL)
			continue;
		int k = snprintf(writable + len, sizeof(writable) - len, "%s%s", len ? ", " : "",
				 table[t].name);
		if (k < 0 || (size_t)k >= sizeof(writable) - len)
			break;
		len += (size_t)k;
	}
}

const char *fy_quant_writable_names(void)
{
	pthread_once(&writable_once, writable_init);
	return writable;
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
	fy_quant_row_w(t, x, y, n, NULL);
}

void fy_quant_row_w(enum fy_dtype t, const float *x, void *y, int64_t n, const float *qw)
{
	if (qw != NULL && table[t].quantize_w != NULL)
		table[t].quantize_w(x, y, n, qw);
	else if (table[t].from_float != NULL)
		table[t].from_float(x, y, n);
	else /* a type ggml quantizes only with weights: the callers check first */
		abort();
}

bool fy_quant_takes_imatrix(enum fy_dtype t)
{
	const struct fy_quant_traits *tr = fy_quant_traits(t);
	return tr != NULL && tr->quantize_w != NULL;
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
