/*
 * The quantizers an importance matrix goes to: ggml's quantize_row_<type>_impl for Q4_0, Q4_1,
 * Q5_0, Q5_1 and Q2_K ... Q6_K, which llama-quantize runs when it is given one (without one it
 * runs the reference quantizers of legacy.c and kquants.c). Each weighs an element's error by
 * the matrix's value for its column, scaled by the row's spread (qw * sqrt(sigma2 + x^2); Q6_K
 * takes qw as it is), and searches scales as ggml does: make_qx_quants, make_qkx3_quants,
 * make_qp_quants, kept under their reference names. Same float operations in the same order
 * (built with -ffp-contract=off): the unit tests compare bytes with llama.cpp v0.5.0's.
 */
#include "quant/quant_private.h"

#define GROUP_MAX_EPS 1e-15f

/* --- search helpers (weights always given) --------------------------------------------------- */

/* Symmetric levels l + nmax for l in [-nmax, nmax), the scale fitted by weighted least squares
 * over 19 trial scales (make_qx_quants with rmse_type 1 and weights qw). */
static float make_qx_quants(int n, int nmax, const float *x, int8_t *L, const float *qw)
{
	float amax;
	const float max = signed_absmax(x, n, &amax);
	if (amax < GROUP_MAX_EPS) {
		memset(L, 0, (size_t)n);
		return 0.f;
	}
	float iscale = (float)-nmax / max;
	float sumlx = 0;
	float suml2 = 0;
	for (int i = 0; i < n; ++i) {
		int l = nearest_int(iscale * x[i]);
		l = imax(-nmax, imin(nmax - 1, l));
		L[i] = (int8_t)(l + nmax);
		const float w = qw[i];
		sumlx += w * x[i] * (float)l;
		suml2 += w * (float)l * (float)l;
	}
	float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
	float best = scale * sumlx;
	for (int is = -9; is <= 9; ++is) {
		if (is == 0)
			continue;
		iscale = -((float)nmax + 0.1f * (float)is) / max;
		sumlx = 0;
		suml2 = 0;
		for (int i = 0; i < n; ++i) {
			int l = nearest_int(iscale * x[i]);
			l = imax(-nmax, imin(nmax - 1, l));
			const float w = qw[i];
			sumlx += w * x[i] * (float)l;
			suml2 += w * (float)l * (float)l;
		}
		if (suml2 > 0 && sumlx * sumlx > best * suml2) {
			for (int i = 0; i < n; ++i) {
				const int l = nearest_int(iscale * x[i]);
				L[i] = (int8_t)(nmax + imax(-nmax, imin(nmax - 1, l)));
			}
			scale = sumlx / suml2;
			best = scale * sumlx;
		}
	}
	return scale;
}

/* Asymmetric levels in [0, nmax] with a min (returned negated in *the_min), chosen over nstep+1
 * trial scales by weighted squared error (make_qkx3_quants, use_mad false). */
static float make_qkx3_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L,
			      float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep)
{
	float min = x[0];
	float max = x[0];
	float sum_w = weights[0];
	float sum_x = sum_w * x[0];
	for (int i = 1; i < n; ++i) {
		if (x[i] < min)
			min = x[i];
		if (x[i] > max)
			max = x[i];
		const float w = weights[i];
		sum_w += w;
		sum_x += w * x[i];
	}
	if (min > 0)
		min = 0;
	if (max <= min) {
		memset(L, 0, (size_t)n);
		*the_min = -min;
		return 0.f;
	}
	float iscale = (float)nmax / (max - min);
	float scale = 1 / iscale;
	float best_mad = 0;
	for (int i = 0; i < n; ++i) {
		const int l = nearest_int(iscale * (x[i] - min));
		L[i] = (uint8_t)imax(0, imin(nmax, l));
		float diff = scale * (float)L[i] + min - x[i];
		diff = diff * diff;
		best_mad += weights[i] * diff;
	}
	for (int is = 0; is <= nstep; ++is) {
		iscale = (rmin + rdelta * (float)is + (float)nmax) / (max - min);
		float sum_l = 0, sum_l2 = 0, sum_xl = 0;
		for (int i = 0; i < n; ++i) {
			int l = nearest_int(iscale * (x[i] - min));
			l = imax(0, imin(nmax, l));
			Laux[i] = (uint8_t)l;
			const float w = weights[i];
			sum_l += w * (float)l;
			sum_l2 += w * (float)l * (float)l;
			sum_xl += w * (float)l * x[i];
		}
		const float D = sum_w * sum_l2 - sum_l * sum_l;
		if (D > 0) {
			float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
			float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
			if (this_min > 0) {
				this_min = 0;
				this_scale = sum_xl / sum_l2;
			}
			float mad = 0;
			for (int i = 0; i < n; ++i) {
				float diff = this_scale * (float)Laux[i] + this_min - x[i];
				diff = diff * diff;
				mad += weights[i] * diff;
			}
			if (mad < best_mad) {
				memcpy(L, Laux, (size_t)n);
				best_mad = mad;
				scale = this_scale;
				min = this_min;
			}
		}
	}
	*the_min = -min;
	return scale;
}

/* Non-negative levels in [0, nmax] for the sub-block scales (or mins) themselves, weighted by
 * each sub-block's total weight: 9 trial scales, then coordinate descent (make_qp_quants). */
float fy_make_qp_quants(int n, int nmax, const float *x, uint8_t *L, const float *qw)
{
	float max = 0;
	for (int i = 0; i < n; ++i)
		max = max > x[i] ? max : x[i];
	if (max < GROUP_MAX_EPS) {
		memset(L, 0, (size_t)n);
		return 0.f;
	}
	float iscale = (float)nmax / max;
	for (int i = 0; i < n; ++i)
		L[i] = (uint8_t)nearest_int(iscale * x[i]);
	const float scale = 1 / iscale;
	float best_mse = 0;
	for (int i = 0; i < n; ++i) {
		const float diff = x[i] - scale * (float)L[i];
		best_mse += qw[i] * diff * diff;
	}
	for (int is = -4; is <= 4; ++is) {
		if (is == 0)
			continue;
		const float iscale_is = (0.1f * (float)is + (float)nmax) / max;
		const float scale_is = 1 / iscale_is;
		float mse = 0;
		for (int i = 0; i < n; ++i) {
			const int l = imin(nmax, nearest_int(iscale_is * x[i]));
			const float diff = x[i] - scale_is * (float)l;
			mse += qw[i] * diff * diff;
		}
		if (mse < best_mse) {
			best_mse = mse;
			iscale = iscale_is;
		}
	}
	float sumlx = 0;
	float suml2 = 0;
	for (int i = 0; i < n; ++i) {
		const int l = imin(nmax, nearest_int(iscale * x[i]));
		L[i] = (uint8_t)l;
		sumlx += qw[i] * x[i] * (float)l;
		suml2 += qw[i] * (float)l * (float)l;
	}
	for (int itry = 0; itry < 5; ++itry) {
		int n_changed = 0;
		for (int i = 0; i < n; ++i) {
			const float w = qw[i];
			float slx = sumlx - w * x[i] * (float)L[i];
			float sl2 = suml2 - w * (float)L[i] * (float)L[i];
			if (slx > 0 && sl2 > 0) {
				const int new_l = imin(nmax, nearest_int(x[i] * sl2 / slx));
				if (new_l != L[i]) {
					slx += w * x[i] * (float)new_l;
					sl2 += w * (float)new_l * (float)new_l;
					if (slx * slx * suml2 > sumlx * sumlx * sl2) {
						L[i] = (uint8_t)new_l;
						sumlx = slx;
						suml2 = sl2;
						++n_changed;
					}
				}
			}
		}
		if (!n_changed)
			break;
	}
	return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* --- the 32-element types: sigma2 over the whole row ---------------------------------------- */

static float row_sigma2(const float *x, int64_t n)
{
	float sum_x2 = 0;
	for (int64_t j = 0; j < n; ++j)
		sum_x2 += x[j] * x[j];
	return sum_x2 / (float)n;
}

static void block_weights(const float *xb, const float *qw, float sigma2, float *w, int n)
{
	for (int j = 0; j < n; ++j)
		w[j] = qw[j] * sqrtf(sigma2 + xb[j] * xb[j]);
}

void fy_quant_q4_0_w(const float *x, void *vy, int64_t n, const float *qw)
{
	struct blk_q4_0 *y = vy;
	const float sigma2 = row_sigma2(x, n);
	float w[32];
	int8_t L[32];
	for (int64_t ib = 0; ib < n / 32; ++ib) {
		const float *xb = x + 32 * ib;
		block_weights(xb, qw + 32 * ib, sigma2, w, 32);
		y[ib].d = fy_f32_to_f16(make_qx_quants(32, 8, xb, L, w));
		for (int j = 0; j < 16; ++j)
			y[ib].qs[j] = (uint8_t)(L[j] | L[j + 16] << 4);
	}
}

void fy_quant_q4_1_w(const float *x, void *vy, int64_t n, const float *qw)
{
	struct blk_q4_1 *y = vy;
	const float sigma2 = row_sigma2(x, n);
	float w[32];
	uint8_t L[32], Laux[32];
	for (int64_t ib = 0; ib < n / 32; ++ib) {
		const float *xb = x + 32 * ib;
		float min;
		block_weights(xb, qw + 32 * ib, sigma2, w, 32);
		const float d = make_qkx3_quants(32, 15, xb, w, L, &min, Laux, -0.9f, 0.05f, 36);
		y[ib].d = fy_f32_to_f16(d);
		y[ib].m = fy_f32_to_f16(-min);
		for (int j = 0; j < 16; ++j)
			y[ib].qs[j] = (uint8_t)(L[j] | L[j + 16] << 4);
	}
}

/* Five-bit levels: low nibbles in qs, fifth bits in qh (element j at bit j). */
static void pack_q5(const uint8_t *L, uint8_t *qs, uint8_t qh_out[4])
{
	uint32_t qh = 0;
	for (int j = 0; j < 16; ++j) {
		qs[j] = (uint8_t)((L[j] & 0x0F) | (L[j + 16] & 0x0F) << 4);
		qh |= ((L[j] & 0x10u) >> 4) << j;
		qh |= ((L[j + 16] & 0x10u) >> 4) << (j + 16);
	}
	memcpy(qh_out, &qh, sizeof(qh));
}

void fy_quant_q5_0_w(const float *x, void *vy, int64_t n, const float *qw)
{
	struct blk_q5_0 *y = vy;
	const float sigma2 = row_sigma2(x, n);
	float w[32];
	int8_t L[32];
	uint8_t U[32];
	for (int64_t ib = 0; ib < n / 32; ++ib) {
		const float *xb = x + 32 * ib;
		block_weights(xb, qw + 32 * ib, sigma2, w, 32);
		y[ib].d = fy_f32_to_f16(make_qx_quants(32, 16, xb, L, w));
		for (int j = 0; j < 32; ++j)
			U[j] = (uint8_t)L[j];
		pack_q5(U, y[ib].qs, y[ib].qh);
	}
}

void fy_quant_q5_1_w(const float *x, void *vy, int64_t n, const float *qw)
{
	struct blk_q5_1 *y = vy;
	const float sigma2 = row_sigma2(x, n);
	float w[32];
	uint8_t L[32], Laux[32];
	for (int64_t ib = 0; ib < n / 32; ++ib) {
		const float *xb = x + 32 * ib;
		float min;
		block_weights(xb, qw + 32 * ib, sigma2, w, 32);
		const float d = make_qkx3_quants(32, 31, xb, w, L, &min, Laux, -0.9f, 0.05f, 36);
		y[ib].d = fy_f32_to_f16(d);
		y[ib].m = fy_f32_to_f16(-min);
		pack_q5(L, y[ib].qs, y[ib].qh);
	}
}

/* --- the K-quants: sigma2 per super-block ---------------------------------------------------- */

static float block_sum_x2(const float *x)
{
	float s = 0;
	for (int j = 0; j < FY_QK_K; ++j)
		s += x[j] * x[j];
	return s;
}

/* 2-bit levels packed four to a byte, 32 bytes per 128 elements. */
static void pack_2bit_levels(const uint8_t *L, uint8_t *qs)
{
	for (int j = 0; j < FY_QK_K; j += 128)
		for (int l = 0; l < 32; ++l)
			qs[j / 4 + l] = (uint8_t)(L[j + l] | L[j + l + 32] << 2 |
						  L[j + l + 64] << 4 | L[j + l + 96] << 6);
}

static void q2k_block_w(const float *x, const float *qw, struct blk_q2_k *y)
{
	uint8_t L[FY_QK_K], Laux[16], Ls[16], Lm[16];
	float mins[16], scales[16], sw[16], weight[16];
	const float sigma2 = block_sum_x2(x) / FY_QK_K;

	for (int j = 0; j < 16; ++j) {
		sw[j] = 0;
		for (int l = 0; l < 16; ++l)
			weight[l] = qw[16 * j + l] * sqrtf(sigma2 + x[16 * j + l] * x[16 * j + l]);
		for (int l = 0; l < 16; ++l)
			sw[j] += weight[l];
		scales[j] = make_qkx3_quants(16, 3, x + 16 * j, weight, L + 16 * j, &mins[j], Laux,
					     -0.9f, 0.05f, 36);
	}
	float dm = fy_make_qp_quants(16, 15, scales, Ls, sw);
	float mm = fy_make_qp_quants(16, 15, mins, Lm, sw);
	y->d = fy_f32_to_f16(dm);
	y->dmin = fy_f32_to_f16(mm);
	dm = fy_f16_to_f32(y->d);
	mm = fy_f16_to_f32(y->dmin);
	for (int j = 0; j < 16; ++j)
		y->scales[j] = (uint8_t)(Ls[j] | Lm[j] << 4);
	for (int j = 0; j < 16; ++j) {
		const float d = dm * (float)(y->scales[j] & 0xF);
		if (d == 0.0f)
			continue;
		const float m = mm * (float)(y->scales[j] >> 4);
		for (int ii = 0; ii < 16; ++ii) {
			const int l = nearest_int((x[16 * j + ii] + m) / d);
			L[16 * j + ii] = (uint8_t)imax(0, imin(3, l));
		}
	}
	pack_2bit_levels(L, y->qs);
}

static void q3k_block_w(const float *x, const float *qw, struct blk_q3_k *y)
{
	int8_t L[FY_QK_K], Ls[16];
	float scales[16], weight[16], sw[16];
	const float sigma2 = 2 * block_sum_x2(x) / FY_QK_K;

	for (int j = 0; j < 16; ++j) {
		for (int l = 0; l < 16; ++l)
			weight[l] = qw[16 * j + l] * sqrtf(sigma2 + x[16 * j + l] * x[16 * j + l]);
		float sumw = 0;
		for (int l = 0; l < 16; ++l)
			sumw += weight[l];
		sw[j] = sumw;
		scales[j] = make_qx_quants(16, 4, x + 16 * j, L + 16 * j, weight);
	}
	memset(y->scales, 0, 12);
	const float d_block = make_qx_quants(16, 32, scales, Ls, sw);
	for (int j = 0; j < 16; ++j) {
		int l = Ls[j];
		if (j < 8)
			y->scales[j] = (uint8_t)(l & 0xF);
		else
			y->scales[j - 8] |= (uint8_t)((l & 0xF) << 4);
		l >>= 4;
		y->scales[j % 4 + 8] |= (uint8_t)(l << (2 * (j / 4)));
	}
	y->d = fy_f32_to_f16(d_block);
	for (int j = 0; j < 16; ++j) {
		int sc = j < 8 ? y->scales[j] & 0xF : y->scales[j - 8] >> 4;
		sc = (int8_t)((sc | ((y->scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4) - 32);
		const float d = fy_f16_to_f32(y->d) * (float)sc;
		if (d == 0.0f)
			continue;
		for (int ii = 0; ii < 16; ++ii) {
			const int l = nearest_int(x[16 * j + ii] / d);
			L[16 * j + ii] = (int8_t)(imax(-4, imin(3, l)) + 4);
		}
	}
	memset(y->hmask, 0, sizeof(y->hmask));
	int m = 0;
	uint8_t hm = 1;
	for (int j = 0; j < FY_QK_K; ++j) {
		if (L[j] > 3) {
			y->hmask[m] |= hm;
			L[j] -= 4;
		}
		if (++m == FY_QK_K / 8) {
			m = 0;
			hm = (uint8_t)(hm << 1);
		}
	}
	pack_2bit_levels((const uint8_t *)L, y->qs);
}

/* Q4_K and Q5_K: 8 sub-blocks of 32 with 6-bit scales and mins, levels up to nmax. */
static void k45_fit_w(const float *x, const float *qw, int nmax, uint8_t *L, uint8_t scales_out[12],
		      uint16_t *d16, uint16_t *dmin16, bool clamp63)
{
	uint8_t Laux[32], Ls[8], Lm[8];
	float weights[32], sw[8], mins[8], scales[8];
	const float sigma2 = 2 * block_sum_x2(x) / FY_QK_K;

	for (int j = 0; j < 8; ++j) {
		for (int l = 0; l < 32; ++l)
			weights[l] = qw[32 * j + l] * sqrtf(sigma2 + x[32 * j + l] * x[32 * j + l]);
		float sumw = 0;
		for (int l = 0; l < 32; ++l)
			sumw += weights[l];
		sw[j] = sumw;
		scales[j] = make_qkx3_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j],
					     Laux, -0.9f, 0.05f, 36);
	}
	const float d_block = fy_make_qp_quants(8, 63, scales, Ls, sw);
	const float m_block = fy_make_qp_quants(8, 63, mins, Lm, sw);
	for (int j = 0; j < 8; ++j) {
		uint8_t ls = Ls[j], lm = Lm[j];
		if (clamp63) {
			ls = ls < 63 ? ls : 63;
			lm = lm < 63 ? lm : 63;
		}
		if (j < 4) {
			scales_out[j] = ls;
			scales_out[j + 4] = lm;
		} else {
			scales_out[j + 4] = (uint8_t)((ls & 0xF) | (lm & 0xF) << 4);
			scales_out[j - 4] |= (uint8_t)((ls >> 4) << 6);
			scales_out[j] |= (uint8_t)((lm >> 4) << 6);
		}
	}
	*d16 = fy_f32_to_f16(d_block);
	*dmin16 = fy_f32_to_f16(m_block);
	for (int j = 0; j < 8; ++j) {
		uint8_t sc, m;
		get_scale_min_k4(j, scales_out, &sc, &m);
		const float d = fy_f16_to_f32(*d16) * (float)sc;
		if (d == 0.0f)
			continue;
		const float dm = fy_f16_to_f32(*dmin16) * (float)m;
		for (int ii = 0; ii < 32; ++ii) {
			const int l = nearest_int((x[32 * j + ii] + dm) / d);
			L[32 * j + ii] = (uint8_t)imax(0, imin(nmax, l));
		}
	}
}

static void q4k_block_w(const float *x, const float *qw, struct blk_q4_k *y)
{
	uint8_t L[FY_QK_K];
	k45_fit_w(x, qw, 15, L, y->scales, &y->d, &y->dmin, false);
	uint8_t *q = y->qs;
	for (int j = 0; j < FY_QK_K; j += 64, q += 32)
		for (int l = 0; l < 32; ++l)
			q[l] = (uint8_t)(L[j + l] | L[j + l + 32] << 4);
}

static void q5k_block_w(const float *x, const float *qw, struct blk_q5_k *y)
{
	uint8_t L[FY_QK_K];
	k45_fit_w(x, qw, 31, L, y->scales, &y->d, &y->dmin, true);
	uint8_t *ql = y->qs;
	uint8_t m1 = 1, m2 = 2;
	memset(y->qh, 0, sizeof(y->qh));
	for (int n = 0; n < FY_QK_K; n += 64, ql += 32) {
		for (int j = 0; j < 32; ++j) {
			int l1 = L[n + j];
			if (l1 > 15) {
				l1 -= 16;
				y->qh[j] |= m1;
			}
			int l2 = L[n + j + 32];
			if (l2 > 15) {
				l2 -= 16;
				y->qh[j] |= m2;
			}
			ql[j] = (uint8_t)(l1 | l2 << 4);
		}
		m1 = (uint8_t)(m1 << 2);
		m2 = (uint8_t)(m2 << 2);
	}
}

static void q6k_block_w(const float *x, const float *qw, struct blk_q6_k *y)
{
	int8_t L[FY_QK_K];
	float scales[16];
	float max_scale = 0;
	float max_abs_scale = 0;

	for (int ib = 0; ib < 16; ++ib) {
		const float scale = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib, qw + 16 * ib);
		scales[ib] = scale;
		const float abs_scale = fabsf(scale);
		if (abs_scale > max_abs_scale) {
			max_abs_scale = abs_scale;
			max_scale = scale;
		}
	}
	if (max_abs_scale < GROUP_MAX_EPS) {
		memset(y, 0, sizeof(*y));
		y->d = fy_f32_to_f16(0.f);
		return;
	}
	const float iscale = -128.f / max_scale;
	y->d = fy_f32_to_f16(1 / iscale);
	for (int ib = 0; ib < 16; ++ib)
		y->scales[ib] = (int8_t)imin(127, nearest_int(iscale * scales[ib]));
	for (int j = 0; j < 16; ++j) {
		const float d = fy_f16_to_f32(y->d) * (float)y->scales[j];
		if (d == 0.0f)
			continue;
		for (int ii = 0; ii < 16; ++ii) {
			const int l = nearest_int(x[16 * j + ii] / d);
			L[16 * j + ii] = (int8_t)(imax(-32, imin(31, l)) + 32);
		}
	}
	uint8_t *ql = y->ql;
	uint8_t *qh = y->qh;
	for (int j = 0; j < FY_QK_K; j += 128, ql += 64, qh += 32) {
		for (int l = 0; l < 32; ++l) {
			const uint8_t q1 = L[j + l + 0] & 0xF;
			const uint8_t q2 = L[j + l + 32] & 0xF;
			const uint8_t q3 = L[j + l + 64] & 0xF;
			const uint8_t q4 = L[j + l + 96] & 0xF;
			ql[l + 0] = (uint8_t)(q1 | q3 << 4);
			ql[l + 32] = (uint8_t)(q2 | q4 << 4);
			qh[l] = (uint8_t)((L[j + l] >> 4) | (L[j + l + 32] >> 4) << 2 |
					  (L[j + l + 64] >> 4) << 4 | (L[j + l + 96] >> 4) << 6);
		}
	}
}

#define WEIGHTED_ROW(fn, blk_t, block_fn)                                                          \
	void fn(const float *x, void *vy, int64_t n, const float *qw)                              \
	{                                                                                          \
		blk_t *y = vy;                                                                     \
		for (int64_t i = 0; i < n / FY_QK_K; i++)                                          \
			block_fn(x + FY_QK_K * i, qw + FY_QK_K * i, &y[i]);                        \
	}

WEIGHTED_ROW(fy_quant_q2_k_w, struct blk_q2_k, q2k_block_w)
WEIGHTED_ROW(fy_quant_q3_k_w, struct blk_q3_k, q3k_block_w)
WEIGHTED_ROW(fy_quant_q4_k_w, struct blk_q4_k, q4k_block_w)
WEIGHTED_ROW(fy_quant_q5_k_w, struct blk_q5_k, q5k_block_w)
WEIGHTED_ROW(fy_quant_q6_k_w, struct blk_q6_k, q6k_block_w)
