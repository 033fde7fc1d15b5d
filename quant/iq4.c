/*
 * IQ4_NL and IQ4_XS: 16 non-linear levels (ggml's kvalues_iq4nl), a fitted scale per 32
 * elements; IQ4_XS packs eight such blocks into a 256-element super-block whose sub-block
 * scales are 6-bit multiples of one fp16 scale. Both quantizers are ggml's
 * quantize_row_iq4_nl_impl as quantize_iq4_nl / quantize_iq4_xs call it (what llama-quantize
 * runs): a search over 15 candidate scales (ntry 7), importance weights when an imatrix is given,
 * the same float operations in the same order (built with -ffp-contract=off).
 */
#include "quant/iquant.h"
#include "quant/quant_private.h"

#include <pthread.h>

#define IQ4_NTRY 7

const int8_t fy_iq4nl_values[16] = { -127, -104, -83, -65, -49, -35, -22, -10,
				     1,	   13,	 25,  38,  53,	69,  89,  113 };

/* The level nearest to v (ties go up), by bisection over the sorted levels (best_index_int8). */
static int iq4nl_index_bisect(float v)
{
	if (v <= fy_iq4nl_values[0])
		return 0;
	if (v >= fy_iq4nl_values[15])
		return 15;
	int lo = 0;
	int hi = 15;
	while (hi - lo > 1) {
		const int mid = (lo + hi) / 2;
		if (v < fy_iq4nl_values[mid])
			hi = mid;
		else
			lo = mid;
	}
	return v - fy_iq4nl_values[hi - 1] < fy_iq4nl_values[hi] - v ? hi - 1 : hi;
}

/*
 * The same index without the bisection's unpredictable branches. For |v| < 256 the bisection's
 * last test, v - a < b - v between neighbouring levels a < b, is exact in floats and so is
 * 2v < a + b: the index is the number of sums a + b (integers) at most 2v, which is the number at
 * most floor(2v). IQ4_FLOOR2[floor(2v) + 256] holds it; anything else (NaN, |v| >= 256) bisects.
 */
static uint8_t IQ4_FLOOR2[512];
static pthread_once_t iq4_floor2_once = PTHREAD_ONCE_INIT;

static void iq4_floor2_init(void)
{
	for (int t = -256; t < 256; t++) {
		int k = 0;
		for (int i = 0; i < 15; i++)
			k += fy_iq4nl_values[i] + fy_iq4nl_values[i + 1] <= t;
		IQ4_FLOOR2[t + 256] = (uint8_t)k;
	}
}

static inline int iq4nl_index(float v)
{
	if (v > -128.0f && v < 128.0f)
		return IQ4_FLOOR2[(int)floorf(2 * v) + 256];
	return iq4nl_index_bisect(v);
}

/*
 * The best scale for one 32-element block xb (levels into L): d from the value of largest
 * magnitude, refitted by weighted least squares, then each of 2*IQ4_NTRY+1 nearby starting scales
 * tried and refitted, keeping the one of least weighted error. Returns 0 for an all-zero block
 * (its L left as it was).
 */
static float iq4_block_scale(const float *xb, const float *w, uint8_t *L)
{
	float amax;
	const float max = signed_absmax(xb, 32, &amax);
	if (amax < 1e-15f)
		return 0.0f;
	float d = -max / fy_iq4nl_values[0];
	float id = 1 / d;
	float sumqx = 0;
	float sumq2 = 0;
	for (int j = 0; j < 32; j++) {
		const int l = iq4nl_index(id * xb[j]);
		const float q = fy_iq4nl_values[l];
		L[j] = (uint8_t)l;
		sumqx += w[j] * q * xb[j];
		sumq2 += w[j] * q * q;
	}
	d = sumq2 > 0 ? sumqx / sumq2 : 0.0f;
	float best = d * sumqx;
	for (int itry = -IQ4_NTRY; itry <= IQ4_NTRY; itry++) {
		id = (float)(itry + fy_iq4nl_values[0]) / max;
		sumqx = 0;
		sumq2 = 0;
		for (int j = 0; j < 32; j++) {
			const float q = fy_iq4nl_values[iq4nl_index(id * xb[j])];
			sumqx += w[j] * q * xb[j];
			sumq2 += w[j] * q * q;
		}
		if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
			d = sumqx / sumq2;
			best = d * sumqx;
		}
	}
	return d;
}

/* The weights of block xb: qw * sqrt(sigma2 + x^2) with an importance matrix, else x^2. */
static void iq4_weights(const float *xb, const float *qw, float sigma2, float *w)
{
	for (int j = 0; j < 32; j++)
		w[j] = qw != NULL ? qw[j] * sqrtf(sigma2 + xb[j] * xb[j]) : xb[j] * xb[j];
}

static float iq4_sigma2(const float *x, int n)
{
	float sigma2 = 0;
	for (int j = 0; j < n; j++)
		sigma2 += x[j] * x[j];
	return sigma2 * (2.f / (float)n);
}

static void iq4_pack(const uint8_t *L, uint8_t *q4, int n)
{
	for (int i = 0; i < n / 32; i++)
		for (int j = 0; j < 16; j++)
			q4[16 * i + j] = (uint8_t)(L[32 * i + j] | L[32 * i + 16 + j] << 4);
}

static void iq4nl_block(const float *x, const float *qw, struct blk_iq4_nl *y)
{
	uint8_t L[32];
	float w[32];
	const float sigma2 = iq4_sigma2(x, 32);

	iq4_weights(x, qw, sigma2, w);
	const float d = iq4_block_scale(x, w, L);
	y->d = fy_f32_to_f16(d);
	/* Levels again from the scale found (an all-zero block: every level the one nearest 0). */
	const float id = d != 0.0f ? 1 / d : 0.0f;
	for (int j = 0; j < 32; j++)
		L[j] = (uint8_t)iq4nl_index(id * x[j]);
	iq4_pack(L, y->qs, 32);
}

void fy_quant_iq4_nl_w(const float *x, void *vy, int64_t n, const float *qw)
{
	struct blk_iq4_nl *y = vy;
	pthread_once(&iq4_floor2_once, iq4_floor2_init);
	for (int64_t i = 0; i < n / 32; i++)
		iq4nl_block(x + 32 * i, qw != NULL ? qw + 32 * i : NULL, &y[i]);
}

void fy_quant_iq4_nl(const float *x, void *y, int64_t n)
{
	fy_quant_iq4_nl_w(x, y, n, NULL);
}

static void iq4xs_block(const float *x, const float *qw, struct blk_iq4_xs *y)
{
	uint8_t L[FY_QK_K];
	float w[32];
	float scales[8];
	float max_scale = 0;
	float amax_scale = 0;
	const float sigma2 = iq4_sigma2(x, FY_QK_K);

	memset(y->qs, 0, sizeof(y->qs));
	for (int ib = 0; ib < 8; ib++) {
		iq4_weights(x + 32 * ib, qw != NULL ? qw + 32 * ib : NULL, sigma2, w);
		scales[ib] = iq4_block_scale(x + 32 * ib, w, L + 32 * ib);
		const float abs_d = fabsf(scales[ib]);
		if (abs_d > amax_scale) {
			amax_scale = abs_d;
			max_scale = scales[ib];
		}
	}
	const float d = -max_scale / 32;
	const float id = d != 0.0f ? 1 / d : 0.0f;
	y->d = fy_f32_to_f16(d);
	y->scales_h = 0;
	memset(y->scales_l, 0, sizeof(y->scales_l));
	for (int ib = 0; ib < 8; ib++) {
		int l = imax(-32, imin(31, nearest_int(id * scales[ib])));
		const float dl = d * (float)l;
		const float idl = dl != 0.0f ? 1 / dl : 0.0f;
		for (int j = 0; j < 32; j++)
			L[32 * ib + j] = (uint8_t)iq4nl_index(idl * x[32 * ib + j]);
		l += 32;
		y->scales_l[ib / 2] |= (uint8_t)((l & 0xf) << 4 * (ib % 2));
		y->scales_h |= (uint16_t)((l >> 4) << 2 * ib);
	}
	iq4_pack(L, y->qs, FY_QK_K);
}

void fy_quant_iq4_xs_w(const float *x, void *vy, int64_t n, const float *qw)
{
	struct blk_iq4_xs *y = vy;
	pthread_once(&iq4_floor2_once, iq4_floor2_init);
	for (int64_t i = 0; i < n / FY_QK_K; i++)
		iq4xs_block(x + FY_QK_K * i, qw != NULL ? qw + FY_QK_K * i : NULL, &y[i]);
}

void fy_quant_iq4_xs(const float *x, void *y, int64_t n)
{
	fy_quant_iq4_xs_w(x, y, n, NULL);
}

void fy_dequant_iq4_nl(const void *vx, float *y, int64_t n)
{
	const struct blk_iq4_nl *x = vx;
	for (int64_t i = 0; i < n / 32; i++, y += 32) {
		const float d = fy_f16_to_f32(x[i].d);
		for (int j = 0; j < 16; j++) {
			y[j] = d * (float)fy_iq4nl_values[x[i].qs[j] & 0x0f];
			y[j + 16] = d * (float)fy_iq4nl_values[x[i].qs[j] >> 4];
		}
	}
}

void fy_dequant_iq4_xs(const void *vx, float *y, int64_t n)
{
	const struct blk_iq4_xs *x = vx;
	for (int64_t i = 0; i < n / FY_QK_K; i++) {
		const float d = fy_f16_to_f32(x[i].d);
		const uint8_t *qs = x[i].qs;
		for (int ib = 0; ib < 8; ib++, qs += 16, y += 32) {
			const int ls = ((x[i].scales_l[ib / 2] >> 4 * (ib % 2)) & 0xf) |
				       (((x[i].scales_h >> 2 * ib) & 3) << 4);
			const float dl = d * (float)(ls - 32);
			for (int j = 0; j < 16; j++) {
				y[j] = dl * (float)fy_iq4nl_values[qs[j] & 0xf];
				y[j + 16] = dl * (float)fy_iq4nl_values[qs[j] >> 4];
			}
		}
	}
}
