/*
 * The i-quants' quantizers: IQ2_XXS, IQ2_XS (with an importance matrix only, as in ggml),
 * IQ2_S, IQ3_XXS and IQ3_S. Each is ggml's quantize_row_<type>_impl: per group of 8 the signs
 * are folded into magnitudes (IQ2_XXS, IQ2_XS, IQ3_XXS: an even number of flips, the cheapest
 * value flipped back when odd; IQ2_S and IQ3_S store all eight signs), a scale is
 * searched over trial values, each group's levels looked up in the lattice (quant/lattice.c) or
 * replaced by the nearest point, the scale refitted, and the scales quantized to 4 bits of a
 * super-block scale. Same float operations in the same order (built with -ffp-contract=off).
 */
#include "quant/iquant.h"
#include "quant/lattice.h"
#include "quant/quant_private.h"

#define GROUP_MAX_EPS 1e-15f
#define GROUP_MAX_EPS_IQ3_XXS 1e-8f
#define GROUP_MAX_EPS_IQ2_S 1e-8f

/* |xb| into xval with an even number of sign flips; returns the 7 sign bits kept. */
static uint8_t fold_signs(const float *xb, const float *w, float *xval)
{
	int nflip = 0;
	uint8_t s = 0;
	for (int i = 0; i < 8; ++i) {
		if (xb[i] >= 0) {
			xval[i] = xb[i];
		} else {
			xval[i] = -xb[i];
			++nflip;
			s |= (uint8_t)(1u << i);
		}
	}
	if (nflip % 2) {
		int imin = 0;
		float min = w[imin] * xb[imin] * xb[imin];
		for (int i = 1; i < 8; ++i) {
			const float ax = w[i] * xb[i] * xb[i];
			if (ax < min) {
				min = ax;
				imin = i;
			}
		}
		xval[imin] = -xval[imin];
		s ^= (uint8_t)(1u << imin);
	}
	return s & 127;
}

/* Levels of a group at inverse scale id: nearest_int((id * x - 1) / 2) clamped to [0, kmax]. */
static void group_levels(const float *xval, int n, float id, int kmax, int8_t *L)
{
	for (int i = 0; i < n; ++i) {
		const int l = nearest_int(0.5f * (id * xval[i] - 1));
		L[i] = (int8_t)imax(0, imin(kmax, l));
	}
}

/* A group's point: on the lattice as it is, else its nearest neighbour (levels rewritten).
 * Returns the point's index; *on_grid says which. */
static int group_point(const struct fy_lattice *g, int8_t *L, const float *xval, const float *w,
		       float scale, bool *on_grid)
{
	const int r = fy_lattice_find(g, L, xval, w, scale, L);
	*on_grid = r >= 0;
	return r >= 0 ? r : -1 - r;
}

static void refit(const float *weight, const float *xval, const int8_t *L, int n, float *sumqx,
		  float *sumq2)
{
	*sumqx = 0;
	*sumq2 = 0;
	for (int i = 0; i < n; ++i) {
		const float w = weight[i];
		const float q = (float)(2 * L[i] + 1);
		*sumqx += w * xval[i] * q;
		*sumq2 += w * q * q;
	}
}

/*
 * refit over a block of 32 during a scale search, remembering the last levels and sums:
 * neighbouring trial scales often give the same levels, whose sums are the same floats.
 */
struct refit_memo {
	int8_t L[32];
	float sumqx, sumq2;
	bool valid;
};

static void refit32(struct refit_memo *m, const float *weight, const float *xval, const int8_t *L,
		    float *sumqx, float *sumq2)
{
	if (!m->valid || memcmp(m->L, L, 32) != 0) {
		refit(weight, xval, L, 32, &m->sumqx, &m->sumq2);
		memcpy(m->L, L, 32);
		m->valid = true;
	}
	*sumqx = m->sumqx;
	*sumq2 = m->sumq2;
}

static float superblock_sum_x2(const float *x)
{
	float sumx2 = 0;
	for (int i = 0; i < FY_QK_K; ++i)
		sumx2 += x[i] * x[i];
	return sumx2;
}

/* --- IQ2_XXS: groups of 8 on 256 points, a 4-bit scale per 32 ------------------------------ */

static void iq2xxs_block(const struct fy_lattice *g, const float *xbl, const float *qwbl,
			 struct blk_iq2_xxs *y)
{
	const int kMaxQ = 3;
	float scales[8], weight[32], xval[32], waux[32];
	int8_t L[32], Laux[32];
	uint8_t block_signs[4];
	uint32_t q2[16];
	float max_scale = 0;
	bool on;

	y->d = fy_f32_to_f16(0.f);
	memset(q2, 0, sizeof(q2));
	const float sigma2 = superblock_sum_x2(xbl) / FY_QK_K;
	for (int ib = 0; ib < 8; ++ib) {
		const float *xb = xbl + 32 * ib;
		const float *qw = qwbl + 32 * ib;
		for (int i = 0; i < 32; ++i)
			weight[i] = qw[i] * sqrtf(sigma2 + xb[i] * xb[i]);
		for (int i = 0; i < 32; ++i)
			waux[i] = sqrtf(weight[i]);
		for (int k = 0; k < 4; ++k)
			block_signs[k] = fold_signs(xb + 8 * k, weight + 8 * k, xval + 8 * k);
		float max = xval[0];
		for (int i = 1; i < 32; ++i)
			max = max > xval[i] ? max : xval[i];
		if (max < GROUP_MAX_EPS) {
			scales[ib] = 0;
			continue;
		}
		float scale = fy_make_qp_quants(32, kMaxQ + 1, xval, (uint8_t *)L, weight);
		const float eff_max = scale * (float)kMaxQ;
		if (eff_max <= 0) {
			scales[ib] = 0;
			continue;
		}
		float best = 0;
		for (int is = -6; is <= 6; ++is) {
			const float id = ((float)(2 * kMaxQ - 1) + (float)is * 0.1f) / eff_max;
			const float this_scale = 1 / id;
			fy_lattice_levels32(g, xval, id, kMaxQ - 1, Laux);
			for (int k = 0; k < 4; ++k) {
				group_point(g, Laux + 8 * k, xval + 8 * k, waux + 8 * k, this_scale,
					    &on);
			}
			float sumqx, sumq2;
			refit(weight, xval, Laux, 32, &sumqx, &sumq2);
			if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
				scale = sumqx / sumq2;
				best = scale * sumqx;
				memcpy(L, Laux, 32);
			}
		}
		if (scale > 0) {
			const float id = 1 / scale;
			fy_lattice_levels32(g, xval, id, kMaxQ - 1, L);
			for (int k = 0; k < 4; ++k) {
				group_point(g, L + 8 * k, xval + 8 * k, waux + 8 * k, scale, &on);
			}
			float sumqx, sumq2;
			refit(weight, xval, L, 32, &sumqx, &sumq2);
			if (sumq2 > 0)
				scale = sumqx / sumq2;
		}
		if (scale < 0) { /* never in practice: the scale is stored unsigned */
			scale = -scale;
			for (int k = 0; k < 4; ++k)
				block_signs[k] = (uint8_t)(~block_signs[k] & 127);
		}
		for (int k = 0; k < 4; ++k) {
			const int gi =
				group_point(g, L + 8 * k, xval + 8 * k, waux + 8 * k, scale, &on);
			q2[2 * ib + 0] |= (uint32_t)gi << 8 * k;
			q2[2 * ib + 1] |= (uint32_t)block_signs[k] << 7 * k;
		}
		scales[ib] = scale;
		max_scale = max_scale > scale ? max_scale : scale;
	}
	if (max_scale == 0.0f) {
		memset(y->qs, 0, sizeof(y->qs));
		return;
	}
	const float d = max_scale / 31;
	y->d = fy_f32_to_f16(d);
	const float id = 1 / d;
	for (int ib = 0; ib < 8; ++ib) {
		const int l = imax(0, imin(15, nearest_int(0.5f * (id * scales[ib] - 1))));
		q2[2 * ib + 1] |= (uint32_t)l << 28;
	}
	memcpy(y->qs, q2, sizeof(y->qs));
}

void fy_quant_iq2_xxs_w(const float *x, void *vy, int64_t n, const float *qw)
{
	const struct fy_lattice *g = fy_lattice_get(FY_LATTICE_IQ2_XXS);
	struct blk_iq2_xxs *y = vy;
	for (int64_t i = 0; g != NULL && i < n / FY_QK_K; i++)
		iq2xxs_block(g, x + FY_QK_K * i, qw + FY_QK_K * i, &y[i]);
}

/* --- IQ2_XS: groups of 8 on 512 points with 7 sign bits each, a 4-bit scale per 16 -------- */

static void iq2xs_block(const struct fy_lattice *g, const float *xbl, const float *qwbl,
			struct blk_iq2_xs *y)
{
	const int kMaxQ = 3;
	float scales[16], weight[16], xval[16], waux[16];
	int8_t L[16], Laux[16];
	bool is_on_grid[2], is_on_grid_aux[2];
	uint8_t block_signs[2];
	uint16_t q2[32];
	float max_scale = 0;

	y->d = fy_f32_to_f16(0.f);
	memset(q2, 0, sizeof(q2));
	memset(y->scales, 0, sizeof(y->scales));
	const float sigma2 = superblock_sum_x2(xbl) / FY_QK_K;
	for (int ib = 0; ib < 16; ++ib) {
		const float *xb = xbl + 16 * ib;
		const float *qw = qwbl + 16 * ib;
		for (int i = 0; i < 16; ++i)
			weight[i] = qw[i] * sqrtf(sigma2 + xb[i] * xb[i]);
		for (int i = 0; i < 16; ++i)
			waux[i] = sqrtf(weight[i]);
		for (int k = 0; k < 2; ++k)
			block_signs[k] = fold_signs(xb + 8 * k, weight + 8 * k, xval + 8 * k);
		float max = xval[0];
		for (int i = 1; i < 16; ++i)
			max = max > xval[i] ? max : xval[i];
		memset(L, 0, 16);
		if (max < GROUP_MAX_EPS) {
			scales[ib] = 0;
			continue;
		}
		float best = 0;
		float scale = max / (float)(2 * kMaxQ - 1);
		is_on_grid[0] = is_on_grid[1] = true;
		for (int is = -9; is <= 9; ++is) {
			const float id = ((float)(2 * kMaxQ - 1) + (float)is * 0.1f) / max;
			const float this_scale = 1 / id;
			for (int k = 0; k < 2; ++k) {
				group_levels(xval + 8 * k, 8, id, kMaxQ - 1, Laux + 8 * k);
				group_point(g, Laux + 8 * k, xval + 8 * k, waux + 8 * k, this_scale,
					    &is_on_grid_aux[k]);
			}
			float sumqx, sumq2;
			refit(weight, xval, Laux, 16, &sumqx, &sumq2);
			if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
				scale = sumqx / sumq2;
				best = scale * sumqx;
				memcpy(L, Laux, 16);
				is_on_grid[0] = is_on_grid_aux[0];
				is_on_grid[1] = is_on_grid_aux[1];
			}
		}
		if ((!is_on_grid[0] || !is_on_grid[1]) && scale > 0) {
			const float id = 1 / scale;
			bool on;
			for (int k = 0; k < 2; ++k) {
				if (is_on_grid[k])
					continue;
				group_levels(xval + 8 * k, 8, id, kMaxQ - 1, L + 8 * k);
				group_point(g, L + 8 * k, xval + 8 * k, waux + 8 * k, scale, &on);
			}
			float sumqx, sumq2;
			refit(weight, xval, L, 16, &sumqx, &sumq2);
			if (sumq2 > 0)
				scale = sumqx / sumq2;
		}
		if (scale < 0) {
			scale = -scale;
			for (int k = 0; k < 2; ++k)
				block_signs[k] = (uint8_t)(~block_signs[k] & 127);
		}
		for (int k = 0; k < 2; ++k) {
			bool on;
			const int gi =
				group_point(g, L + 8 * k, xval + 8 * k, waux + 8 * k, scale, &on);
			q2[2 * ib + k] = (uint16_t)(gi | block_signs[k] << 9);
		}
		scales[ib] = scale;
		max_scale = max_scale > scale ? max_scale : scale;
	}
	if (max_scale == 0.0f) {
		memset(y->qs, 0, sizeof(y->qs));
		return;
	}
	const float d = max_scale / 31;
	y->d = fy_f32_to_f16(d);
	const float id = 1 / d;
	for (int ib = 0; ib < 16; ++ib) {
		const int l = imax(0, imin(15, nearest_int(0.5f * (id * scales[ib] - 1))));
		if (ib % 2 == 0)
			y->scales[ib / 2] = (uint8_t)l;
		else
			y->scales[ib / 2] |= (uint8_t)(l << 4);
	}
	memcpy(y->qs, q2, sizeof(y->qs));
}

void fy_quant_iq2_xs_w(const float *x, void *vy, int64_t n, const float *qw)
{
	const struct fy_lattice *g = fy_lattice_get(FY_LATTICE_IQ2_XS);
	struct blk_iq2_xs *y = vy;
	for (int64_t i = 0; g != NULL && i < n / FY_QK_K; i++)
		iq2xs_block(g, x + FY_QK_K * i, qw + FY_QK_K * i, &y[i]);
}

/* --- IQ3_XXS: groups of 4 on 256 points, signs per 8, a 4-bit scale per 32 ---------------- */

static void iq3xxs_block(const struct fy_lattice *g, const float *xbl, const float *qwbl,
			 struct blk_iq3_xxs *y)
{
	const int kMaxQ = 8;
	float scales[8], weight[32], xval[32], waux[32];
	int8_t L[32], Laux[32];
	bool is_on_grid[8], is_on_grid_aux[8];
	uint8_t block_signs[4];
	uint8_t q3[96];
	float max_scale = 0;

	y->d = fy_f32_to_f16(0.f);
	memset(q3, 0, sizeof(q3));
	const float sigma2 = 2 * superblock_sum_x2(xbl) / FY_QK_K;
	for (int ib = 0; ib < 8; ++ib) {
		const float *xb = xbl + 32 * ib;
		if (qwbl != NULL)
			for (int i = 0; i < 32; ++i)
				weight[i] = qwbl[32 * ib + i] * sqrtf(sigma2 + xb[i] * xb[i]);
		else
			for (int i = 0; i < 32; ++i)
				weight[i] = xb[i] * xb[i];
		for (int i = 0; i < 32; ++i)
			waux[i] = sqrtf(weight[i]);
		for (int k = 0; k < 4; ++k)
			block_signs[k] = fold_signs(xb + 8 * k, weight + 8 * k, xval + 8 * k);
		float max = xval[0];
		for (int i = 1; i < 32; ++i)
			max = max > xval[i] ? max : xval[i];
		memset(L, 0, 32);
		if (max < GROUP_MAX_EPS_IQ3_XXS) {
			scales[ib] = 0;
			continue;
		}
		float best = 0;
		float scale = max / (float)(2 * kMaxQ - 1);
		for (int k = 0; k < 8; ++k)
			is_on_grid[k] = true;
		struct refit_memo memo = { .valid = false };
		for (int is = -15; is <= 15; ++is) {
			const float id = ((float)(2 * kMaxQ - 1) + (float)is * 0.2f) / max;
			const float this_scale = 1 / id;
			fy_lattice_levels32(g, xval, id, kMaxQ - 1, Laux);
			for (int k = 0; k < 8; ++k) {
				group_point(g, Laux + 4 * k, xval + 4 * k, waux + 4 * k, this_scale,
					    &is_on_grid_aux[k]);
			}
			float sumqx, sumq2;
			refit32(&memo, weight, xval, Laux, &sumqx, &sumq2);
			if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
				scale = sumqx / sumq2;
				best = scale * sumqx;
				memcpy(L, Laux, 32);
				memcpy(is_on_grid, is_on_grid_aux, sizeof(is_on_grid));
			}
		}
		int n_not_ongrid = 0;
		for (int k = 0; k < 8; ++k)
			n_not_ongrid += !is_on_grid[k];
		if (n_not_ongrid > 0 && scale > 0) {
			const float id = 1 / scale;
			bool on;
			for (int k = 0; k < 8; ++k) {
				if (is_on_grid[k])
					continue;
				group_levels(xval + 4 * k, 4, id, kMaxQ - 1, L + 4 * k);
				group_point(g, L + 4 * k, xval + 4 * k, waux + 4 * k, scale, &on);
			}
			float sumqx, sumq2;
			refit(weight, xval, L, 32, &sumqx, &sumq2);
			if (sumq2 > 0)
				scale = sumqx / sumq2;
		}
		if (scale < 0) {
			scale = -scale;
			for (int k = 0; k < 4; ++k)
				block_signs[k] = (uint8_t)(~block_signs[k] & 127);
		}
		for (int k = 0; k < 8; ++k) {
			bool on;
			q3[8 * ib + k] = (uint8_t)group_point(g, L + 4 * k, xval + 4 * k,
							      waux + 4 * k, scale, &on);
		}
		const uint32_t ss = (uint32_t)block_signs[0] | (uint32_t)block_signs[1] << 7 |
				    (uint32_t)block_signs[2] << 14 | (uint32_t)block_signs[3] << 21;
		memcpy(q3 + 64 + 4 * ib, &ss, sizeof(ss));
		scales[ib] = scale;
		max_scale = max_scale > scale ? max_scale : scale;
	}
	if (max_scale == 0.0f) {
		memset(y->qs, 0, sizeof(y->qs));
		return;
	}
	const float d = max_scale / 31;
	y->d = fy_f32_to_f16(d * 1.0125f); /* ggml's fudge factor */
	const float id = 1 / d;
	for (int ib = 0; ib < 8; ++ib) {
		const int l = imax(0, imin(15, nearest_int(0.5f * (id * scales[ib] - 1))));
		uint32_t ss;
		memcpy(&ss, q3 + 64 + 4 * ib, sizeof(ss));
		ss |= (uint32_t)l << 28;
		memcpy(q3 + 64 + 4 * ib, &ss, sizeof(ss));
	}
	memcpy(y->qs, q3, sizeof(y->qs));
}

void fy_quant_iq3_xxs_w(const float *x, void *vy, int64_t n, const float *qw)
{
	const struct fy_lattice *g = fy_lattice_get(FY_LATTICE_IQ3_256);
	struct blk_iq3_xxs *y = vy;
	for (int64_t i = 0; g != NULL && i < n / FY_QK_K; i++)
		iq3xxs_block(g, x + FY_QK_K * i, qw != NULL ? qw + FY_QK_K * i : NULL, &y[i]);
}

void fy_quant_iq3_xxs(const float *x, void *y, int64_t n)
{
	fy_quant_iq3_xxs_w(x, y, n, NULL);
}

/* All eight signs of a group as bits, |xb| into xval (IQ2_S, IQ3_S). */
static uint8_t all_signs(const float *xb, float *xval)
{
	uint8_t s = 0;
	for (int i = 0; i < 8; ++i) {
		if (xb[i] >= 0) {
			xval[i] = xb[i];
		} else {
			xval[i] = -xb[i];
			s |= (uint8_t)(1u << i);
		}
	}
	return s;
}

/* --- IQ2_S: groups of 8 on 1024 points, 8 sign bits, a 4-bit scale per 16 ------------------- */

static void iq2s_block(const struct fy_lattice *g, const float *xbl, const float *qwbl,
		       struct blk_iq2_s *y)
{
	const int kMaxQ = 3;
	float scales[16], weight[16], xval[16], waux[16];
	int8_t L[16], Laux[16];
	bool is_on_grid[2], is_on_grid_aux[2];
	uint8_t block_signs[2];
	float max_scale = 0;

	memset(y, 0, sizeof(*y));
	y->d = fy_f32_to_f16(0.f);
	const float sigma2 = 2 * superblock_sum_x2(xbl) / FY_QK_K;
	for (int ib = 0; ib < 16; ++ib) {
		const float *xb = xbl + 16 * ib;
		if (qwbl != NULL)
			for (int i = 0; i < 16; ++i)
				weight[i] = qwbl[16 * ib + i] * sqrtf(sigma2 + xb[i] * xb[i]);
		else
			for (int i = 0; i < 16; ++i)
				weight[i] = 0.25f * sigma2 + xb[i] * xb[i];
		for (int i = 0; i < 16; ++i)
			waux[i] = sqrtf(weight[i]);
		for (int k = 0; k < 2; ++k)
			block_signs[k] = all_signs(xb + 8 * k, xval + 8 * k);
		float max = xval[0];
		for (int i = 1; i < 16; ++i)
			max = max > xval[i] ? max : xval[i];
		memset(L, 0, 16);
		if (max < GROUP_MAX_EPS_IQ2_S) {
			scales[ib] = 0;
			continue;
		}
		float best = 0;
		float scale = max / (float)(2 * kMaxQ - 1);
		is_on_grid[0] = is_on_grid[1] = true;
		for (int is = -9; is <= 9; ++is) {
			const float id = ((float)(2 * kMaxQ - 1) + (float)is * 0.1f) / max;
			const float this_scale = 1 / id;
			for (int k = 0; k < 2; ++k) {
				group_levels(xval + 8 * k, 8, id, kMaxQ - 1, Laux + 8 * k);
				group_point(g, Laux + 8 * k, xval + 8 * k, waux + 8 * k, this_scale,
					    &is_on_grid_aux[k]);
			}
			float sumqx, sumq2;
			refit(weight, xval, Laux, 16, &sumqx, &sumq2);
			if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
				scale = sumqx / sumq2;
				best = scale * sumqx;
				memcpy(L, Laux, 16);
				is_on_grid[0] = is_on_grid_aux[0];
				is_on_grid[1] = is_on_grid_aux[1];
			}
		}
		if ((!is_on_grid[0] || !is_on_grid[1]) && scale > 0) {
			const float id = 1 / scale;
			bool on;
			for (int k = 0; k < 2; ++k) {
				if (is_on_grid[k])
					continue;
				group_levels(xval + 8 * k, 8, id, kMaxQ - 1, L + 8 * k);
				group_point(g, L + 8 * k, xval + 8 * k, waux + 8 * k, scale, &on);
			}
			float sumqx, sumq2;
			refit(weight, xval, L, 16, &sumqx, &sumq2);
			if (sumq2 > 0)
				scale = sumqx / sumq2;
		}
		if (scale < 0) {
			scale = -scale;
			for (int k = 0; k < 2; ++k)
				block_signs[k] = (uint8_t)~block_signs[k];
		}
		for (int k = 0; k < 2; ++k) {
			bool on;
			const int gi =
				group_point(g, L + 8 * k, xval + 8 * k, waux + 8 * k, scale, &on);
			const int i8 = 2 * ib + k;
			y->qs[i8] = (uint8_t)(gi & 255);
			y->qh[i8 / 4] |= (uint8_t)((gi >> 8) << 2 * (i8 % 4));
			y->qs[32 + i8] = block_signs[k];
		}
		scales[ib] = scale;
		max_scale = max_scale > scale ? max_scale : scale;
	}
	if (max_scale == 0.0f)
		return;
	const float d = max_scale / 31;
	y->d = fy_f32_to_f16(d * 0.9875f);
	const float id = 1 / d;
	for (int ib = 0; ib < 16; ++ib) {
		const int l = imax(0, imin(15, nearest_int(0.5f * (id * scales[ib] - 1))));
		if (ib % 2 == 0)
			y->scales[ib / 2] = (uint8_t)l;
		else
			y->scales[ib / 2] |= (uint8_t)(l << 4);
	}
}

void fy_quant_iq2_s_w(const float *x, void *vy, int64_t n, const float *qw)
{
	const struct fy_lattice *g = fy_lattice_get(FY_LATTICE_IQ2_S);
	struct blk_iq2_s *y = vy;
	for (int64_t i = 0; g != NULL && i < n / FY_QK_K; i++)
		iq2s_block(g, x + FY_QK_K * i, qw != NULL ? qw + FY_QK_K * i : NULL, &y[i]);
}

void fy_quant_iq2_s(const float *x, void *y, int64_t n)
{
	fy_quant_iq2_s_w(x, y, n, NULL);
}

/* --- IQ3_S: groups of 4 on 512 points, 8 sign bits, a 4-bit scale per 32 -------------------- */

static void iq3s_block(const struct fy_lattice *g, const float *xbl, const float *qwbl,
		       struct blk_iq3_s *y)
{
	const int kMaxQ = 8;
	float scales[8], weight[32], xval[32], waux[32];
	int8_t L[32], Laux[32];
	bool is_on_grid[8], is_on_grid_aux[8];
	uint8_t block_signs[4];
	float max_scale = 0;

	memset(y, 0, sizeof(*y));
	y->d = fy_f32_to_f16(0.f);
	/* ggml advances these only past the blocks it writes: a skipped (all-zero) block's room
	 * goes to the next one, as in its quantizer */
	uint8_t *qs = y->qs;
	uint8_t *signs = y->signs;
	const float sigma2 = 2 * superblock_sum_x2(xbl) / FY_QK_K;
	for (int ib = 0; ib < 8; ++ib) {
		const float *xb = xbl + 32 * ib;
		if (qwbl != NULL)
			for (int i = 0; i < 32; ++i)
				weight[i] = qwbl[32 * ib + i] * sqrtf(sigma2 + xb[i] * xb[i]);
		else
			for (int i = 0; i < 32; ++i)
				weight[i] = xb[i] * xb[i];
		for (int i = 0; i < 32; ++i)
			waux[i] = sqrtf(weight[i]);
		for (int k = 0; k < 4; ++k)
			block_signs[k] = all_signs(xb + 8 * k, xval + 8 * k);
		float max = xval[0];
		for (int i = 1; i < 32; ++i)
			max = max > xval[i] ? max : xval[i];
		memset(L, 0, 32);
		if (max == 0.0f) {
			scales[ib] = 0;
			continue;
		}
		float best = 0;
		float scale = max / (float)(2 * kMaxQ - 1);
		for (int k = 0; k < 8; ++k)
			is_on_grid[k] = false;
		struct refit_memo memo = { .valid = false };
		for (int is = -9; is <= 9; ++is) {
			const float id = ((float)(2 * kMaxQ - 1) + (float)is * 0.2f) / max;
			const float this_scale = 1 / id;
			fy_lattice_levels32(g, xval, id, kMaxQ - 1, Laux);
			for (int k = 0; k < 8; ++k) {
				group_point(g, Laux + 4 * k, xval + 4 * k, waux + 4 * k, this_scale,
					    &is_on_grid_aux[k]);
			}
			float sumqx, sumq2;
			refit32(&memo, weight, xval, Laux, &sumqx, &sumq2);
			if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
				scale = sumqx / sumq2;
				best = scale * sumqx;
				memcpy(L, Laux, 32);
				memcpy(is_on_grid, is_on_grid_aux, sizeof(is_on_grid));
			}
		}
		int n_not_ongrid = 0;
		for (int k = 0; k < 8; ++k)
			n_not_ongrid += !is_on_grid[k];
		if (n_not_ongrid > 0 && scale > 0) {
			const float id = 1 / scale;
			bool on;
			for (int k = 0; k < 8; ++k) { /* every group (ggml skips none here) */
				group_levels(xval + 4 * k, 4, id, kMaxQ - 1, L + 4 * k);
				group_point(g, L + 4 * k, xval + 4 * k, waux + 4 * k, scale, &on);
			}
			float sumqx, sumq2;
			refit(weight, xval, L, 32, &sumqx, &sumq2);
			if (sumq2 > 0)
				scale = sumqx / sumq2;
		}
		if (scale < 0) {
			scale = -scale;
			for (int k = 0; k < 4; ++k)
				block_signs[k] = (uint8_t)~block_signs[k];
		}
		for (int k = 0; k < 8; ++k) {
			bool on;
			const int gi =
				group_point(g, L + 4 * k, xval + 4 * k, waux + 4 * k, scale, &on);
			qs[k] = (uint8_t)(gi & 255);
			y->qh[(ib * 8 + k) / 8] |= (uint8_t)((gi >> 8) << ((ib * 8 + k) % 8));
		}
		qs += 8;
		memcpy(signs, block_signs, 4);
		signs += 4;
		scales[ib] = scale;
		max_scale = max_scale > scale ? max_scale : scale;
	}
	if (max_scale == 0.0f)
		return;
	const float d = max_scale / 31;
	y->d = fy_f32_to_f16(d * 1.033f);
	const float id = 1 / d;
	for (int ib = 0; ib < 8; ib += 2) {
		const int l1 = imax(0, imin(15, nearest_int(0.5f * (id * scales[ib] - 1))));
		const int l2 = imax(0, imin(15, nearest_int(0.5f * (id * scales[ib + 1] - 1))));
		y->scales[ib / 2] = (uint8_t)(l1 | l2 << 4);
	}
}

void fy_quant_iq3_s_w(const float *x, void *vy, int64_t n, const float *qw)
{
	const struct fy_lattice *g = fy_lattice_get(FY_LATTICE_IQ3_512);
	struct blk_iq3_s *y = vy;
	for (int64_t i = 0; g != NULL && i < n / FY_QK_K; i++)
		iq3s_block(g, x + FY_QK_K * i, qw != NULL ? qw + FY_QK_K * i : NULL, &y[i]);
}

void fy_quant_iq3_s(const float *x, void *y, int64_t n)
{
	fy_quant_iq3_s_w(x, y, n, NULL);
}
