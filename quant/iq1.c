/*
 * IQ1_S and IQ1_M: three levels (-1, 0, 1) shifted by ±1/8, groups of 8 on IQ1's 2048-point
 * lattice. ggml's quantize_row_iq1_s_impl / _iq1_m_impl: per block (32, or 16 with a shift per
 * half for IQ1_M) the values are sorted, every split into three groups scored exactly from prefix
 * sums, the best split's levels looked up in the lattice (or replaced by the nearest point), the
 * scale refitted, and the scales quantized to 3 bits. Same float operations in the same order, the
 * same qsort (the C library's, on the same element layout and comparison) for the sort; built with
 * -ffp-contract=off.
 */
#include "quant/iquant.h"
#include "quant/lattice.h"
#include "quant/quant_private.h"

#include <float.h>
#include <stdlib.h>

#define GROUP_MAX_EPS_IQ1_S 1e-12f
#define GROUP_MAX_EPS_IQ1_M 1e-7f

/* ggml's pairs: a value and its index, sorted by value */
struct pair {
	float v;
	int i;
};

static int cmp_pair(const void *left, const void *right)
{
	const float *l = left;
	const float *r = right;
	return *l < *r ? -1 : *l > *r ? 1 : 0;
}

static const float x_p[3] = { -1 + FY_IQ1S_DELTA, FY_IQ1S_DELTA, 1 + FY_IQ1S_DELTA };
static const float x_m[3] = { -1 - FY_IQ1S_DELTA, -FY_IQ1S_DELTA, 1 - FY_IQ1S_DELTA };

static float superblock_sigma2(const float *x)
{
	float sumx2 = 0;
	for (int i = 0; i < FY_QK_K; ++i)
		sumx2 += x[i] * x[i];
	return 2 * sumx2 / FY_QK_K;
}

/* The levels of a split: values below besti1 at 0, up to besti2 at 1, the rest at 2. */
static void split_levels(const struct pair *pairs, int n, int besti1, int besti2, int8_t *L)
{
	for (int j = 0; j < besti1; ++j)
		L[pairs[j].i] = 0;
	for (int j = besti1; j < besti2; ++j)
		L[pairs[j].i] = 1;
	for (int j = besti2; j < n; ++j)
		L[pairs[j].i] = 2;
}

/* The scale refitted over the groups' points (IQ1_S: one level table; IQ1_M: per group). */
static float refit_points(const struct fy_lattice *g, const uint16_t *index, int groups,
			  const float *const *xx, const float *weight, const float *xb, float scale)
{
	float sumqx = 0, sumq2 = 0;
	for (int k = 0; k < groups; ++k) {
		const int8_t *pg = g->pos + (size_t)index[k] * 8;
		for (int j = 0; j < 8; ++j) {
			const float w = weight[8 * k + j];
			const float q = xx[k][(pg[j] - 1) / 2];
			sumqx += w * q * xb[8 * k + j];
			sumq2 += w * q * q;
		}
	}
	return sumqx > 0 && sumq2 > 0 ? sumqx / sumq2 : scale;
}

/* --- IQ1_S: blocks of 32, one shift each ----------------------------------------------------- */

static void iq1s_block(const struct fy_lattice *g, const float *xbl, const float *qwbl,
		       struct blk_iq1_s *y)
{
	const int bs = 32;
	float scales[8], weight[32], sumx[33], sumw[33];
	struct pair pairs[32];
	int8_t L[32];
	uint16_t index[4];
	int8_t shifts[8];
	float max_scale = 0;

	y->d = fy_f32_to_f16(0.f);
	memset(y->qs, 0, sizeof(y->qs));
	memset(y->qh, 0, sizeof(y->qh));
	const float sigma2 = superblock_sigma2(xbl);
	for (int ib = 0; ib < 8; ++ib) {
		const float *xb = xbl + bs * ib;
		const float *qw = qwbl + bs * ib;
		for (int i = 0; i < bs; ++i)
			weight[i] = qw[i] * sqrtf(sigma2 + xb[i] * xb[i]);
		float max = fabsf(xb[0]);
		for (int i = 1; i < bs; ++i)
			max = max > fabsf(xb[i]) ? max : fabsf(xb[i]);
		if (max < GROUP_MAX_EPS_IQ1_S) {
			scales[ib] = 0;
			shifts[ib] = 1;
			continue;
		}
		for (int j = 0; j < bs; ++j)
			pairs[j] = (struct pair){ xb[j], j };
		qsort(pairs, (size_t)bs, sizeof(pairs[0]), cmp_pair);
		sumx[0] = sumw[0] = 0;
		for (int j = 0; j < bs; ++j) {
			const int i = pairs[j].i;
			sumx[j + 1] = sumx[j] + weight[i] * xb[i];
			sumw[j + 1] = sumw[j] + weight[i];
		}
		float best_score = -FLT_MAX, scale = max;
		int besti1 = -1, besti2 = -1, best_shift = 0;
		for (int i1 = 0; i1 <= bs; ++i1) {
			for (int i2 = i1; i2 <= bs; ++i2) {
				float sumqx = (sumx[i1] - sumx[0]) * x_p[0] +
					      (sumx[i2] - sumx[i1]) * x_p[1] +
					      (sumx[bs] - sumx[i2]) * x_p[2];
				float sumq2 = (sumw[i1] - sumw[0]) * x_p[0] * x_p[0] +
					      (sumw[i2] - sumw[i1]) * x_p[1] * x_p[1] +
					      (sumw[bs] - sumw[i2]) * x_p[2] * x_p[2];
				if (sumq2 > 0 && sumqx * sumqx > best_score * sumq2) {
					scale = sumqx / sumq2;
					best_score = scale * sumqx;
					besti1 = i1;
					besti2 = i2;
					best_shift = 1;
				}
				sumqx = (sumx[i1] - sumx[0]) * x_m[0] +
					(sumx[i2] - sumx[i1]) * x_m[1] +
					(sumx[bs] - sumx[i2]) * x_m[2];
				sumq2 = (sumw[i1] - sumw[0]) * x_m[0] * x_m[0] +
					(sumw[i2] - sumw[i1]) * x_m[1] * x_m[1] +
					(sumw[bs] - sumw[i2]) * x_m[2] * x_m[2];
				if (sumq2 > 0 && sumqx * sumqx > best_score * sumq2) {
					scale = sumqx / sumq2;
					best_score = scale * sumqx;
					besti1 = i1;
					besti2 = i2;
					best_shift = -1;
				}
			}
		}
		if (besti1 < 0 || besti2 < 0 || best_shift == 0) {
			scales[ib] = 0;
			shifts[ib] = 1;
			continue;
		}
		split_levels(pairs, bs, besti1, besti2, L);
		if (scale < 0) {
			for (int j = 0; j < bs; ++j)
				L[j] = (int8_t)(2 - L[j]);
			scale = -scale;
			best_shift = -best_shift;
		}
		bool all_on_grid = true;
		const float *xx = best_shift == 1 ? x_p : x_m;
		for (int k = 0; k < bs / 8; ++k) {
			const int r = fy_lattice_find_iq1(g, L + 8 * k, xb + 8 * k, weight + 8 * k,
							  scale, xx, L + 8 * k);
			all_on_grid = all_on_grid && r >= 0;
			index[k] = (uint16_t)(r >= 0 ? r : -1 - r);
		}
		if (!all_on_grid) {
			const float *const xxs[4] = { xx, xx, xx, xx };
			scale = refit_points(g, index, 4, xxs, weight, xb, scale);
		}
		uint16_t h = 0;
		for (int k = 0; k < bs / 8; ++k) {
			y->qs[(bs / 8) * ib + k] = (uint8_t)(index[k] & 255);
			h |= (uint16_t)((index[k] >> 8) << 3 * k);
		}
		y->qh[ib] = h;
		scales[ib] = scale;
		shifts[ib] = (int8_t)best_shift;
		max_scale = max_scale > scale ? max_scale : scale;
	}
	if (max_scale == 0.0f)
		return;
	const float d = max_scale / 15;
	y->d = fy_f32_to_f16(d * 1.125f);
	const float id = 1 / d;
	for (int ib = 0; ib < 8; ++ib) {
		int l = imax(0, imin(7, nearest_int(0.5f * (id * scales[ib] - 1))));
		if (shifts[ib] == -1)
			l |= 8;
		y->qh[ib] |= (uint16_t)(l << 12);
	}
}

void fy_quant_iq1_s_w(const float *x, void *vy, int64_t n, const float *qw)
{
	const struct fy_lattice *g = fy_lattice_get(FY_LATTICE_IQ1);
	struct blk_iq1_s *y = vy;
	for (int64_t i = 0; g != NULL && i < n / FY_QK_K; i++)
		iq1s_block(g, x + FY_QK_K * i, qw + FY_QK_K * i, &y[i]);
}

/* --- IQ1_M: blocks of 16, a shift per 8 ------------------------------------------------------- */

static void block_weights_m(const float *xb, const float *qw, float sigma2, float *weight)
{
	for (int i = 0; i < 16; ++i)
		weight[i] = qw != NULL ? qw[i] * sqrtf(sigma2 + xb[i] * xb[i]) : xb[i] * xb[i];
}

/* The level tables of a block's two groups for shift pattern k (0: +,+ 1: +,- 2: -,+ 3: -,-). */
static void shift_tables(int k, const float **xx)
{
	xx[0] = k < 2 ? x_p : x_m;
	xx[1] = k % 2 == 0 ? x_p : x_m;
}

static void iq1m_block(const struct fy_lattice *g, const float *xbl, const float *qwbl,
		       struct blk_iq1_m *y)
{
	static const uint8_t masks[4] = { 0x00, 0x80, 0x08, 0x88 };
	const int bs = 16;
	float scales[16], weight[16];
	struct pair pairs[16];
	int8_t L[16];
	uint16_t index[2];
	int8_t shifts[16];
	float max_scale = 0;
	const float *xx[2];

	memset(y->qs, 0, sizeof(y->qs));
	memset(y->qh, 0, sizeof(y->qh));
	memset(y->scales, 0, sizeof(y->scales));
	const float sigma2 = superblock_sigma2(xbl);
	for (int ib = 0; ib < 16; ++ib) {
		const float *xb = xbl + bs * ib;
		block_weights_m(xb, qwbl != NULL ? qwbl + bs * ib : NULL, sigma2, weight);
		float max = fabsf(xb[0]);
		for (int i = 1; i < bs; ++i)
			max = max > fabsf(xb[i]) ? max : fabsf(xb[i]);
		if (max < GROUP_MAX_EPS_IQ1_M) {
			scales[ib] = 0;
			shifts[ib] = 0;
			continue;
		}
		for (int j = 0; j < bs; ++j)
			pairs[j] = (struct pair){ xb[j], j };
		qsort(pairs, (size_t)bs, sizeof(pairs[0]), cmp_pair);
		float best_score = -FLT_MAX, scale = max;
		int besti1 = -1, besti2 = -1, best_k = -1;
		/* prefix sums per half (each half has its own shift) */
		float px[2][17], pw[2][17];
		px[0][0] = px[1][0] = 0;
		pw[0][0] = pw[1][0] = 0;
		for (int j = 0; j < bs; ++j) {
			const int i = pairs[j].i;
			const int h = i < bs / 2 ? 0 : 1;
			px[h][j + 1] = px[h][j] + weight[i] * xb[i];
			px[1 - h][j + 1] = px[1 - h][j];
			pw[h][j + 1] = pw[h][j] + weight[i];
			pw[1 - h][j + 1] = pw[1 - h][j];
		}
		const float txs[2] = { px[0][bs], px[1][bs] };
		const float tws[2] = { pw[0][bs], pw[1][bs] };
		const float p2 = x_p[2], m2 = x_m[2];
		const float cp1 = x_p[0] * x_p[0] - x_p[1] * x_p[1];
		const float cp2 = x_p[1] * x_p[1] - x_p[2] * x_p[2];
		const float cm1 = x_m[0] * x_m[0] - x_m[1] * x_m[1];
		const float cm2 = x_m[1] * x_m[1] - x_m[2] * x_m[2];
		for (int i1 = 0; i1 <= bs; ++i1) {
			for (int i2 = i1; i2 <= bs; ++i2) {
				float qx_p[2], qx_m[2], q2_p[2], q2_m[2], sumqx[4], sumq2[4];
				for (int h = 0; h < 2; ++h) {
					const float sx = px[h][i1] + px[h][i2];
					qx_p[h] = txs[h] * p2 - sx;
					qx_m[h] = txs[h] * m2 - sx;
					q2_p[h] = tws[h] * p2 * p2 + pw[h][i1] * cp1 +
						  pw[h][i2] * cp2;
					q2_m[h] = tws[h] * m2 * m2 + pw[h][i1] * cm1 +
						  pw[h][i2] * cm2;
				}
				sumqx[0] = qx_p[0] + qx_p[1];
				sumqx[1] = qx_p[0] + qx_m[1];
				sumqx[2] = qx_m[0] + qx_p[1];
				sumqx[3] = qx_m[0] + qx_m[1];
				sumq2[0] = q2_p[0] + q2_p[1];
				sumq2[1] = q2_p[0] + q2_m[1];
				sumq2[2] = q2_m[0] + q2_p[1];
				sumq2[3] = q2_m[0] + q2_m[1];
				for (int k = 0; k < 4; ++k) {
					if (sumq2[k] > 0 &&
					    sumqx[k] * sumqx[k] > best_score * sumq2[k]) {
						scale = sumqx[k] / sumq2[k];
						best_score = scale * sumqx[k];
						besti1 = i1;
						besti2 = i2;
						best_k = k;
					}
				}
			}
		}
		if (besti1 < 0 || besti2 < 0 || best_k < 0) {
			scales[ib] = 0;
			shifts[ib] = 0;
			continue;
		}
		split_levels(pairs, bs, besti1, besti2, L);
		if (scale < 0) {
			for (int j = 0; j < bs; ++j)
				L[j] = (int8_t)(2 - L[j]);
			scale = -scale;
			best_k = 3 - best_k;
		}
		bool all_on_grid = true;
		shift_tables(best_k, xx);
		for (int k = 0; k < 2; ++k) {
			const int r = fy_lattice_find_iq1(g, L + 8 * k, xb + 8 * k, weight + 8 * k,
							  scale, xx[k], L + 8 * k);
			all_on_grid = all_on_grid && r >= 0;
			index[k] = (uint16_t)(r >= 0 ? r : -1 - r);
		}
		if (!all_on_grid)
			scale = refit_points(g, index, 2, xx, weight, xb, scale);
		y->qs[2 * ib + 0] = (uint8_t)(index[0] & 255);
		y->qs[2 * ib + 1] = (uint8_t)(index[1] & 255);
		y->qh[ib] = (uint8_t)((index[0] >> 8) | ((index[1] >> 8) << 4));
		scales[ib] = scale;
		shifts[ib] = (int8_t)best_k;
		max_scale = max_scale > scale ? max_scale : scale;
	}
	if (max_scale == 0.0f)
		return;
	uint16_t sc[4] = { 0, 0, 0, 0 };
	float d = max_scale / 15;
	const float id = 1 / d;
	float sumqx_f = 0, sumq2_f = 0;
	for (int ib = 0; ib < 16; ++ib) {
		const int l = imax(0, imin(7, nearest_int(0.5f * (id * scales[ib] - 1))));
		sc[ib / 4] |= (uint16_t)(l << 3 * (ib % 4));
		y->qh[ib] |= masks[shifts[ib]];
		const float *xb = xbl + bs * ib;
		block_weights_m(xb, qwbl != NULL ? qwbl + bs * ib : NULL, sigma2, weight);
		shift_tables(shifts[ib], xx);
		for (int k = 0; k < 2; ++k) {
			const int gi =
				y->qs[2 * ib + k] | (((unsigned)y->qh[ib] << (8 - 4 * k)) & 0x700);
			const int8_t *pg = g->pos + (size_t)gi * 8;
			for (int j = 0; j < 8; ++j) {
				const float w = weight[8 * k + j];
				const float q = xx[k][(pg[j] - 1) / 2] * (float)(2 * l + 1);
				sumqx_f += w * q * xb[8 * k + j];
				sumq2_f += w * q * q;
			}
		}
	}
	if (sumq2_f > 0)
		d = sumqx_f / sumq2_f;
	const uint16_t s = fy_f32_to_f16(d * 1.1125f);
	sc[0] |= (uint16_t)((s & 0x000f) << 12);
	sc[1] |= (uint16_t)((s & 0x00f0) << 8);
	sc[2] |= (uint16_t)((s & 0x0f00) << 4);
	sc[3] |= (uint16_t)(s & 0xf000);
	memcpy(y->scales, sc, sizeof(sc));
}

void fy_quant_iq1_m_w(const float *x, void *vy, int64_t n, const float *qw)
{
	const struct fy_lattice *g = fy_lattice_get(FY_LATTICE_IQ1);
	struct blk_iq1_m *y = vy;
	for (int64_t i = 0; g != NULL && i < n / FY_QK_K; i++)
		iq1m_block(g, x + FY_QK_K * i, qw != NULL ? qw + FY_QK_K * i : NULL, &y[i]);
}

void fy_quant_iq1_m(const float *x, void *y, int64_t n)
{
	fy_quant_iq1_m_w(x, y, n, NULL);
}
