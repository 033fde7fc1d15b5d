/*
 * Integer dot products of quantized rows with 8-bit activation blocks (infer/qdot.h): the
 * activation quantizers, the scalar reference kernels, and the table of weight types that have
 * them. Compiled without FMA contraction, as qdot_avx2.c: the block values are the same bits.
 */
#include "infer/qdot.h"
#include "infer/infer.h"
#include "quant/iquant.h"

#include <math.h>
#include <string.h>

/* --- activations ---------------------------------------------------------------------------- */

/* ggml's quantize_row_q8_0_ref with the scale kept in float. */
static void quant_a32(const float *x, struct fy_a32 *y, int64_t nb)
{
	for (int64_t b = 0; b < nb; b++, x += 32) {
		float amax = 0;
		for (int j = 0; j < 32; j++)
			amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax;
		const float d = amax / 127.f;
		const float id = d != 0 ? 1.0f / d : 0.0f;
		for (int j = 0; j < 32; j++) {
			const int v = nearest_int(x[j] * id);
			y[b].qs[j] = (int8_t)(v > 127 ? 127 : (v < -127 ? -127 : v));
		}
		y[b].d = d;
	}
}

size_t fy_qact_row_bytes(enum fy_qact f, int64_t n)
{
	return f == FY_QACT_A256 ? (size_t)(n / 256) * sizeof(struct blk_q8_k)
				 : (size_t)(n / 32) * sizeof(struct fy_a32);
}

void fy_qact_quantize(enum fy_qact f, const float *x, uint8_t *out, int64_t n)
{
	if (f == FY_QACT_A256)
		fy_quant_q8_k(x, out, n);
	else
		quant_a32(x, (struct fy_a32 *)(void *)out, n / 32);
}

/* --- scalar kernels -------------------------------------------------------------------------- */

/* One tile: VALUE(row block, activation block) summed over the blocks, for each row and token. */
#define SCALAR_TILE(NAME, WBLK, ABLK, VALUE)                                                       \
	static void NAME(const uint8_t *w, size_t ldw, int nr, const uint8_t *a, size_t lda,       \
			 int nt, int64_t nb, float *y, int64_t ldy)                                \
	{                                                                                          \
		for (int r = 0; r < nr; r++) {                                                     \
			const WBLK *x = (const WBLK *)(const void *)(w + (size_t)r * ldw);         \
			for (int t = 0; t < nt; t++) {                                             \
				const ABLK *q = (const ABLK *)(const void *)(a + (size_t)t * lda); \
				float s = 0;                                                       \
				for (int64_t b = 0; b < nb; b++)                                   \
					s += VALUE(&x[b], &q[b]);                                  \
				y[t * ldy + r] = s;                                                \
			}                                                                          \
		}                                                                                  \
	}

static float q8_0_value(const struct blk_q8_0 *x, const struct fy_a32 *q)
{
	int32_t s = 0;
	for (int i = 0; i < 32; i++)
		s += x->qs[i] * q->qs[i];
	return fy_qval_d(q->d, fy_f16_to_f32(x->d), s);
}

/* Q4_K and Q5_K: 8 sub-blocks of 32, (value x scale) - min; qh gives Q5_K's fifth bits. */
static float k4_value(const uint8_t scales[12], uint16_t d, uint16_t dmin, const uint8_t *qs,
		      const uint8_t *qh, const struct blk_q8_k *q)
{
	uint8_t sm[16];
	get_scales_mins_k4(scales, sm);
	const uint8_t *sc = sm, *m = sm + 8;
	int32_t isum = 0, imin = 0;
	for (int j = 0; j < 4; j++) {
		int32_t lo = 0, hi = 0;
		for (int l = 0; l < 32; l++) {
			int vl = qs[32 * j + l] & 0xF, vh = qs[32 * j + l] >> 4;
			if (qh != NULL) {
				vl += (qh[l] >> (2 * j) & 1) << 4;
				vh += (qh[l] >> (2 * j + 1) & 1) << 4;
			}
			lo += vl * q->qs[64 * j + l];
			hi += vh * q->qs[64 * j + 32 + l];
		}
		isum += sc[2 * j] * lo + sc[2 * j + 1] * hi;
	}
	for (int j = 0; j < 8; j++)
		imin += m[j] * (q->bsums[2 * j] + q->bsums[2 * j + 1]);
	return fy_qval_k4(q->d, fy_f16_to_f32(d), fy_f16_to_f32(dmin), isum, imin);
}

static float q4_k_value(const struct blk_q4_k *x, const struct blk_q8_k *q)
{
	return k4_value(x->scales, x->d, x->dmin, x->qs, NULL, q);
}

static float q5_k_value(const struct blk_q5_k *x, const struct blk_q8_k *q)
{
	return k4_value(x->scales, x->d, x->dmin, x->qs, x->qh, q);
}

/* Q6_K: 16 groups of 16, (6-bit value - 32) x a signed 8-bit scale. */
static float q6_k_value(const struct blk_q6_k *x, const struct blk_q8_k *q)
{
	int32_t isum = 0, ioff = 0;
	for (int h = 0; h < 2; h++) {
		const uint8_t *ql = x->ql + 64 * h, *qh = x->qh + 32 * h;
		const int8_t *a = q->qs + 128 * h;
		int32_t g[8] = { 0 };
		for (int l = 0; l < 32; l++) {
			const int v0 = (ql[l] & 0xF) | ((qh[l] >> 0 & 3) << 4);
			const int v1 = (ql[l + 32] & 0xF) | ((qh[l] >> 2 & 3) << 4);
			const int v2 = (ql[l] >> 4) | ((qh[l] >> 4 & 3) << 4);
			const int v3 = (ql[l + 32] >> 4) | ((qh[l] >> 6 & 3) << 4);
			g[0 + l / 16] += v0 * a[l];
			g[2 + l / 16] += v1 * a[l + 32];
			g[4 + l / 16] += v2 * a[l + 64];
			g[6 + l / 16] += v3 * a[l + 96];
		}
		for (int k = 0; k < 8; k++)
			isum += x->scales[8 * h + k] * g[k];
	}
	for (int k = 0; k < 16; k++)
		ioff += x->scales[k] * q->bsums[k];
	return fy_qval_d(q->d, fy_f16_to_f32(x->d), isum - 32 * ioff);
}

/* IQ4_XS: 8 sub-blocks of 32 non-linear levels, a 6-bit scale - 32 each. */
static float iq4_xs_value(const struct blk_iq4_xs *x, const struct blk_q8_k *q)
{
	int32_t isum = 0;
	for (int ib = 0; ib < 8; ib++) {
		const int ls = ((x->scales_l[ib / 2] >> 4 * (ib % 2)) & 0xF) |
			       (((x->scales_h >> 2 * ib) & 3) << 4);
		const uint8_t *qs = x->qs + 16 * ib;
		const int8_t *a = q->qs + 32 * ib;
		int32_t s = 0;
		for (int j = 0; j < 16; j++)
			s += fy_iq4nl_values[qs[j] & 0xF] * a[j] +
			     fy_iq4nl_values[qs[j] >> 4] * a[j + 16];
		isum += (ls - 32) * s;
	}
	return fy_qval_d(q->d, fy_f16_to_f32(x->d), isum);
}

SCALAR_TILE(q8_0_scalar, struct blk_q8_0, struct fy_a32, q8_0_value)
SCALAR_TILE(q4_k_scalar, struct blk_q4_k, struct blk_q8_k, q4_k_value)
SCALAR_TILE(q5_k_scalar, struct blk_q5_k, struct blk_q8_k, q5_k_value)
SCALAR_TILE(q6_k_scalar, struct blk_q6_k, struct blk_q8_k, q6_k_value)
SCALAR_TILE(iq4_xs_scalar, struct blk_iq4_xs, struct blk_q8_k, iq4_xs_value)

/* --- the table ------------------------------------------------------------------------------- */

static const struct fy_qdot qdots[] = {
	{ FY_DTYPE_Q8_0, FY_QACT_A32, q8_0_scalar },
	{ FY_DTYPE_Q4_K, FY_QACT_A256, q4_k_scalar },
	{ FY_DTYPE_Q5_K, FY_QACT_A256, q5_k_scalar },
	{ FY_DTYPE_Q6_K, FY_QACT_A256, q6_k_scalar },
	{ FY_DTYPE_IQ4_XS, FY_QACT_A256, iq4_xs_scalar },
};

const struct fy_qdot *fy_qdot_find(enum fy_dtype t)
{
	for (size_t i = 0; i < sizeof(qdots) / sizeof(qdots[0]); i++)
		if (qdots[i].type == t)
			return &qdots[i];
	return NULL;
}
