/*
 * Block layouts and helpers shared by the quantizer files. The structs mirror ggml's blocks
 * byte for byte (little-endian hosts); sizes are checked at compile time.
 */
#ifndef FERRY_QUANT_PRIVATE_H
#define FERRY_QUANT_PRIVATE_H

#include "quant/quant.h"

#include <math.h>
#include <string.h>

#define QK4_0 32
#define QK8_0 32

struct blk_q4_0 {
	uint16_t d;
	uint8_t qs[16];
};
struct blk_q4_1 {
	uint16_t d, m;
	uint8_t qs[16];
};
struct blk_q5_0 {
	uint16_t d;
	uint8_t qh[4];
	uint8_t qs[16];
};
struct blk_q5_1 {
	uint16_t d, m;
	uint8_t qh[4];
	uint8_t qs[16];
};
struct blk_q8_0 {
	uint16_t d;
	int8_t qs[32];
};
struct blk_iq4_nl {
	uint16_t d;
	uint8_t qs[16];
};
struct blk_q2_k {
	uint8_t scales[16];
	uint8_t qs[64];
	uint16_t d, dmin;
};
struct blk_q3_k {
	uint8_t hmask[32];
	uint8_t qs[64];
	uint8_t scales[12];
	uint16_t d;
};
struct blk_q4_k {
	uint16_t d, dmin;
	uint8_t scales[12];
	uint8_t qs[128];
};
struct blk_q5_k {
	uint16_t d, dmin;
	uint8_t scales[12];
	uint8_t qh[32];
	uint8_t qs[128];
};
struct blk_q6_k {
	uint8_t ql[128];
	uint8_t qh[64];
	int8_t scales[16];
	uint16_t d;
};

/* Q8_K, the activation type the K-quants' dot products pair with (infer/qdot.c rounds them to
 * it): a float scale, 256 int8 values and their 16 partial sums (not needed to dequantize). GGUF
 * files rarely hold it; it is read. */
struct blk_q8_k {
	float d;
	int8_t qs[256];
	int16_t bsums[16];
};
_Static_assert(sizeof(struct blk_q8_k) == 292, "q8_k block");
void fy_quant_q8_k(const float *x, void *y, int64_t n);

_Static_assert(sizeof(struct blk_q4_0) == 18, "q4_0 block");
_Static_assert(sizeof(struct blk_q4_1) == 20, "q4_1 block");
_Static_assert(sizeof(struct blk_q5_0) == 22, "q5_0 block");
_Static_assert(sizeof(struct blk_q5_1) == 24, "q5_1 block");
_Static_assert(sizeof(struct blk_q8_0) == 34, "q8_0 block");
_Static_assert(sizeof(struct blk_iq4_nl) == 18, "iq4_nl block");
_Static_assert(sizeof(struct blk_q2_k) == 84, "q2_k block");
_Static_assert(sizeof(struct blk_q3_k) == 110, "q3_k block");
_Static_assert(sizeof(struct blk_q4_k) == 144, "q4_k block");
_Static_assert(sizeof(struct blk_q5_k) == 176, "q5_k block");
_Static_assert(sizeof(struct blk_q6_k) == 210, "q6_k block");

/* Round to nearest, ties to even, through the float's mantissa (ggml's nearest_int). Garbage but
 * defined for |f| > 2^22, which finite model weights never reach after scaling. */
static inline int nearest_int(float f)
{
	float v = f + 12582912.f;
	int32_t i;
	memcpy(&i, &v, sizeof(i));
	return (i & 0x007fffff) - 0x00400000;
}

/* (int)f for a float the reference converts with a plain cast; values outside [lo, hi] (only
 * reachable from absurd inputs, where the reference's cast is undefined) are clamped. */
static inline int trunc_clamp(float f, int lo, int hi)
{
	if (!(f > (float)lo - 1.0f))
		return lo;
	if (!(f < (float)hi + 1.0f))
		return hi;
	return (int)f;
}

/* The value of largest magnitude in x[0..n) (the first of equals), its magnitude in *amax:
 * the start of ggml's symmetric scale searches. 0 for an empty or all-zero x. */
static inline float signed_absmax(const float *x, int n, float *amax)
{
	float max = 0;
	*amax = 0;
	for (int i = 0; i < n; ++i) {
		const float ax = fabsf(x[i]);
		if (ax > *amax) {
			*amax = ax;
			max = x[i];
		}
	}
	return max;
}

static inline int imin(int a, int b)
{
	return a < b ? a : b;
}

static inline int imax(int a, int b)
{
	return a > b ? a : b;
}

void fy_quant_q4_0(const float *x, void *y, int64_t n);
void fy_quant_q4_1(const float *x, void *y, int64_t n);
void fy_quant_q5_0(const float *x, void *y, int64_t n);
void fy_quant_q5_1(const float *x, void *y, int64_t n);
void fy_quant_q8_0(const float *x, void *y, int64_t n);
void fy_dequant_q4_0(const void *x, float *y, int64_t n);
void fy_dequant_q4_1(const void *x, float *y, int64_t n);
void fy_dequant_q5_0(const void *x, float *y, int64_t n);
void fy_dequant_q5_1(const void *x, float *y, int64_t n);
void fy_dequant_q8_0(const void *x, float *y, int64_t n);

void fy_quant_q2_k(const float *x, void *y, int64_t n);
void fy_quant_q3_k(const float *x, void *y, int64_t n);
void fy_quant_q4_k(const float *x, void *y, int64_t n);
void fy_quant_q5_k(const float *x, void *y, int64_t n);
void fy_quant_q6_k(const float *x, void *y, int64_t n);
void fy_dequant_q2_k(const void *x, float *y, int64_t n);
void fy_dequant_q3_k(const void *x, float *y, int64_t n);
void fy_dequant_q4_k(const void *x, float *y, int64_t n);
void fy_dequant_q5_k(const void *x, float *y, int64_t n);
void fy_dequant_q6_k(const void *x, float *y, int64_t n);
void fy_dequant_q8_k(const void *x, float *y, int64_t n);

/* ggml's make_qp_quants: levels in [0, nmax] of non-negative x weighted by qw (weighted.c) */
float fy_make_qp_quants(int n, int nmax, const float *x, uint8_t *L, const float *qw);

/* With an importance-matrix row qw (quant/weighted.c): what llama-quantize runs given one */
void fy_quant_q4_0_w(const float *x, void *y, int64_t n, const float *qw);
void fy_quant_q4_1_w(const float *x, void *y, int64_t n, const float *qw);
void fy_quant_q5_0_w(const float *x, void *y, int64_t n, const float *qw);
void fy_quant_q5_1_w(const float *x, void *y, int64_t n, const float *qw);
void fy_quant_q2_k_w(const float *x, void *y, int64_t n, const float *qw);
void fy_quant_q3_k_w(const float *x, void *y, int64_t n, const float *qw);
void fy_quant_q4_k_w(const float *x, void *y, int64_t n, const float *qw);
void fy_quant_q5_k_w(const float *x, void *y, int64_t n, const float *qw);
void fy_quant_q6_k_w(const float *x, void *y, int64_t n, const float *qw);

/* IQ4_NL and IQ4_XS (quant/iq4.c); the levels, shared with the i-quants' tests */
extern const int8_t fy_iq4nl_values[16];
void fy_quant_iq4_nl(const float *x, void *y, int64_t n);
void fy_quant_iq4_nl_w(const float *x, void *y, int64_t n, const float *qw);
void fy_quant_iq4_xs(const float *x, void *y, int64_t n);
void fy_quant_iq4_xs_w(const float *x, void *y, int64_t n, const float *qw);
void fy_dequant_iq4_nl(const void *x, float *y, int64_t n);
void fy_dequant_iq4_xs(const void *x, float *y, int64_t n);

/* The lattice i-quants' quantizers (quant/iqsearch.c); IQ2_XXS and IQ2_XS need qw */
void fy_quant_iq2_xxs_w(const float *x, void *y, int64_t n, const float *qw);
void fy_quant_iq2_xs_w(const float *x, void *y, int64_t n, const float *qw);
void fy_quant_iq3_xxs(const float *x, void *y, int64_t n);
void fy_quant_iq3_xxs_w(const float *x, void *y, int64_t n, const float *qw);
void fy_quant_iq2_s(const float *x, void *y, int64_t n);
void fy_quant_iq2_s_w(const float *x, void *y, int64_t n, const float *qw);
void fy_quant_iq3_s(const float *x, void *y, int64_t n);
void fy_quant_iq3_s_w(const float *x, void *y, int64_t n, const float *qw);
/* IQ1_S (weights required) and IQ1_M (quant/iq1.c) */
void fy_quant_iq1_s_w(const float *x, void *y, int64_t n, const float *qw);
void fy_quant_iq1_m(const float *x, void *y, int64_t n);
void fy_quant_iq1_m_w(const float *x, void *y, int64_t n, const float *qw);

/* The lattice i-quants (quant/iquants.c): dequantizers */
void fy_dequant_iq2_xxs(const void *x, float *y, int64_t n);
void fy_dequant_iq2_xs(const void *x, float *y, int64_t n);
void fy_dequant_iq2_s(const void *x, float *y, int64_t n);
void fy_dequant_iq3_xxs(const void *x, float *y, int64_t n);
void fy_dequant_iq3_s(const void *x, float *y, int64_t n);
void fy_dequant_iq1_s(const void *x, float *y, int64_t n);
void fy_dequant_iq1_m(const void *x, float *y, int64_t n);

/* Ternary, 1/2-bit and FP4 types (quant/lowbit.c) */
void fy_quant_tq1_0(const float *x, void *y, int64_t n);
void fy_quant_tq2_0(const float *x, void *y, int64_t n);
void fy_quant_q1_0(const float *x, void *y, int64_t n);
void fy_quant_q2_0(const float *x, void *y, int64_t n);
void fy_quant_mxfp4(const float *x, void *y, int64_t n);
void fy_quant_nvfp4(const float *x, void *y, int64_t n);
void fy_dequant_tq1_0(const void *x, float *y, int64_t n);
void fy_dequant_tq2_0(const void *x, float *y, int64_t n);
void fy_dequant_q1_0(const void *x, float *y, int64_t n);
void fy_dequant_q2_0(const void *x, float *y, int64_t n);
void fy_dequant_mxfp4(const void *x, float *y, int64_t n);
void fy_dequant_nvfp4(const void *x, float *y, int64_t n);

/* The 6-bit scale and min of sub-block j of a Q4_K/Q5_K super-block's 12 packed bytes. */
static inline void get_scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m)
{
	if (j < 4) {
		*d = q[j] & 63;
		*m = q[j + 4] & 63;
	} else {
		*d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
		*m = (uint8_t)((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
	}
}

/* All eight at once, as ggml's dot kernels unpack them (four 32-bit words): scales in out[0..7],
 * mins in out[8..15], the values of get_scale_min_k4. */
static inline void get_scales_mins_k4(const uint8_t *q, uint8_t out[16])
{
	uint32_t u[4];
	memcpy(u, q, 12);
	u[3] = ((u[2] >> 4) & 0x0f0f0f0fu) | (((u[1] >> 6) & 0x03030303u) << 4);
	const uint32_t a = u[1] & 0x3f3f3f3fu;
	u[1] = (u[2] & 0x0f0f0f0fu) | (((u[0] >> 6) & 0x03030303u) << 4);
	u[2] = a;
	u[0] &= 0x3f3f3f3fu;
	memcpy(out, u, 16);
}

/* Puts the AVX2 dequantizers into t when the CPU has AVX2 (quant/dequant_avx2.c). */
void fy_dequant_avx2_table(fy_quant_to_float_fn *t);

#endif
