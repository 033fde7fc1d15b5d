/*
 * The K-quants: 256-element super-blocks of 16 or 32-element sub-blocks whose scales (and
 * mins) are themselves quantized. Each quantizer reproduces llama.cpp's quantize_row_<type>_ref
 * bit for bit: the same searches, in the same order, with the same float operations (this file is
 * built with -ffp-contract=off). The search helpers keep their reference names so the two can be
 * read side by side: make_qx_quants, make_q3_quants, make_qkx2_quants. The two searches that
 * dominate the time run on several sub-blocks at once (vector lanes), each lane bit-identical to
 * the scalar reference.
 */
#include "quant/quant_private.h"

#define GROUP_MAX_EPS 1e-15f

/* A row quantizer from a one-super-block function. */
#define ROW_OF_SUPERBLOCKS(fn, blk_t, block_fn)                                                    \
	void fn(const float *x, void *vy, int64_t n)                                               \
	{                                                                                          \
		blk_t *y = vy;                                                                     \
		for (int64_t i = 0; i < n / FY_QK_K; i++)                                          \
			block_fn(x + FY_QK_K * i, &y[i]);                                          \
	}

/* --- search helpers ------------------------------------------------------------------------ */

/* One pass of make_q3_quants' coordinate descent: tries moving each level to its best value. */
static int q3_descent_pass(int n, int nmax, const float *x, int8_t *L, float *sumlx, float *suml2)
{
	int n_changed = 0;
	for (int i = 0; i < n; ++i) {
		const float w = x[i] * x[i];
		float slx = *sumlx - w * x[i] * (float)L[i];
		if (slx > 0) {
			float sl2 = *suml2 - w * (float)L[i] * (float)L[i];
			int new_l = nearest_int(x[i] * sl2 / slx);
			new_l = imax(-nmax, imin(nmax - 1, new_l));
			if (new_l != L[i]) {
				slx += w * x[i] * (float)new_l;
				sl2 += w * (float)new_l * (float)new_l;
				if (sl2 > 0 && slx * slx * *suml2 > *sumlx * *sumlx * sl2) {
					L[i] = (int8_t)new_l;
					*sumlx = slx;
					*suml2 = sl2;
					++n_changed;
				}
			}
		}
	}
	return n_changed;
}

/* Q3_K's sub-block search (make_q3_quants with do_rmse): levels in [-nmax, nmax) stored + nmax. */
static float make_q3_quants(int n, int nmax, const float *x, int8_t *L)
{
	float amax;
	const float max = signed_absmax(x, n, &amax);
	if (amax < GROUP_MAX_EPS) {
		memset(L, 0, (size_t)n);
		return 0.f;
	}
	const float iscale = (float)-nmax / max;
	float sumlx = 0;
	float suml2 = 0;
	for (int i = 0; i < n; ++i) {
		int l = nearest_int(iscale * x[i]);
		l = imax(-nmax, imin(nmax - 1, l));
		L[i] = (int8_t)l;
		const float w = x[i] * x[i];
		sumlx += w * x[i] * (float)l;
		suml2 += w * (float)l * (float)l;
	}
	for (int itry = 0; itry < 5; ++itry) {
		if (q3_descent_pass(n, nmax, x, L, &sumlx, &suml2) == 0)
			break;
	}
	for (int i = 0; i < n; ++i)
		L[i] = (int8_t)(L[i] + nmax);
	return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/*
 * make_qkx2_quants (llama.cpp's scale-and-min search) for LANES independent sub-blocks at once,
 * one per vector lane. Every lane performs
 * exactly the scalar function's float operations in the same order (no sum is reordered: the
 * lanes are different sub-blocks, not different elements), so the results are bit-identical;
 * only the branches become per-lane selects. A lane whose sub-block is constant (max == min)
 * takes the scalar function's early exit afterwards. x and w hold sub-block k at x + k * n.
 */
#define LANES 4
typedef float vf __attribute__((vector_size(4 * LANES)));
typedef int32_t vi __attribute__((vector_size(4 * LANES)));

#define QKX2_MAX_N 32

static inline vi v_nearest_int(vf f)
{
	const vf v = f + 12582912.f;
	return ((vi)v & 0x007fffff) - 0x00400000;
}

static inline vi v_clamp(vi l, int hi)
{
	const vi lo_mask = l < 0;
	l = l & ~lo_mask;
	const vi hi_mask = l > hi;
	return (l & ~hi_mask) | (((vi){ 0 } + hi) & hi_mask);
}

static inline vf v_select(vi mask, vf a, vf b)
{
	return (vf)(((vi)a & mask) | ((vi)b & ~mask));
}

static inline vf v_abs(vf a)
{
	return (vf)((vi)a & 0x7fffffff);
}

struct qkx2_lanes {
	vf x[QKX2_MAX_N], w[QKX2_MAX_N];
	vi L[QKX2_MAX_N], Laux[QKX2_MAX_N];
	vf min, max, sum_w, sum_x;
};

static void lanes_load(struct qkx2_lanes *v, int n, const float *x, const float *w)
{
	for (int i = 0; i < n; i++) {
		for (int k = 0; k < LANES; k++) {
			v->x[i][k] = x[k * n + i];
			v->w[i][k] = w[k * n + i];
		}
	}
	v->min = v->x[0];
	v->max = v->x[0];
	v->sum_w = v->w[0];
	v->sum_x = v->sum_w * v->x[0];
	for (int i = 1; i < n; i++) {
		v->min = v_select(v->x[i] < v->min, v->x[i], v->min);
		v->max = v_select(v->x[i] > v->max, v->x[i], v->max);
		v->sum_w += v->w[i];
		v->sum_x += v->w[i] * v->x[i];
	}
	v->min = v_select(v->min > 0, (vf){ 0 }, v->min);
}

static vf lanes_error(const struct qkx2_lanes *v, int n, const vi *L, vf scale, vf min,
		      bool use_mad)
{
	vf err = { 0 };
	for (int i = 0; i < n; i++) {
		vf diff = scale * __builtin_convertvector(L[i], vf) + min - v->x[i];
		diff = use_mad ? v_abs(diff) : diff * diff;
		err += v->w[i] * diff;
	}
	return err;
}

static void make_qkx2_quants_lanes(int n, int nmax, const float *x, const float *w, uint8_t *L,
				   float *the_min, float *scales, float rmin, float rdelta,
				   int nstep, bool use_mad)
{
	struct qkx2_lanes v;
	lanes_load(&v, n, x, w);
	vf min = v.min;
	const vf range = v.max - min;
	vf iscale = (float)nmax / range;
	vf scale = 1 / iscale;
	for (int i = 0; i < n; i++)
		v.L[i] = v_clamp(v_nearest_int(iscale * (v.x[i] - min)), nmax);
	vf best_error = lanes_error(&v, n, v.L, scale, min, use_mad);
	for (int is = 0; is <= nstep; ++is) {
		iscale = (rmin + rdelta * (float)is + (float)nmax) / (v.max - min);
		vf sum_l = { 0 }, sum_l2 = { 0 }, sum_xl = { 0 };
		for (int i = 0; i < n; i++) {
			v.Laux[i] = v_clamp(v_nearest_int(iscale * (v.x[i] - min)), nmax);
			const vf l = __builtin_convertvector(v.Laux[i], vf);
			sum_l += v.w[i] * l;
			sum_l2 += v.w[i] * l * l;
			sum_xl += v.w[i] * l * v.x[i];
		}
		const vf D = v.sum_w * sum_l2 - sum_l * sum_l;
		const vi ok = D > 0;
		vf this_scale = (v.sum_w * sum_xl - v.sum_x * sum_l) / D;
		vf this_min = (sum_l2 * v.sum_x - sum_l * sum_xl) / D;
		const vi pos = this_min > 0;
		this_min = v_select(pos, (vf){ 0 }, this_min);
		this_scale = v_select(pos, sum_xl / sum_l2, this_scale);
		const vf cur_error = lanes_error(&v, n, v.Laux, this_scale, this_min, use_mad);
		const vi take = ok & (cur_error < best_error);
		for (int i = 0; i < n; i++)
			v.L[i] = (v.Laux[i] & take) | (v.L[i] & ~take);
		best_error = v_select(take, cur_error, best_error);
		scale = v_select(take, this_scale, scale);
		min = v_select(take, this_min, min);
	}
	for (int k = 0; k < LANES; k++) {
		if (v.max[k] == v.min[k]) {
			/* a constant sub-block: the scalar function's early exit */
			memset(L + k * n, 0, (size_t)n);
			the_min[k] = -v.min[k];
			scales[k] = 0.f;
			continue;
		}
		for (int i = 0; i < n; i++)
			L[k * n + i] = (uint8_t)v.L[i][k];
		the_min[k] = -min[k];
		scales[k] = scale[k];
	}
}

/* One trial of make_qx_quants in every lane: levels for inverse scale iscale, weights x^2. */
static void qx_trial_lanes(const struct qkx2_lanes *v, int n, int nmax, vf iscale, vf *sumlx,
			   vf *suml2, vi *levels)
{
	vf slx = { 0 }, sl2 = { 0 };
	for (int i = 0; i < n; ++i) {
		vi l = v_nearest_int(iscale * v->x[i]);
		l = v_clamp(l + nmax, 2 * nmax - 1) - nmax; /* clamp to [-nmax, nmax - 1] */
		const vf lf = __builtin_convertvector(l, vf);
		const vf w = v->x[i] * v->x[i];
		slx += w * v->x[i] * lf;
		sl2 += w * lf * lf;
		levels[i] = l + nmax;
	}
	*sumlx = slx;
	*suml2 = sl2;
}

/*
 * make_qx_quants (rmse_type 1, no importance weights: Q6_K's sub-block search) for LANES
 * sub-blocks of n values at once, bit-identical per lane as above: signed levels in
 * [-nmax, nmax) stored + nmax in L (sub-block k at L + k * n), scales in scales[k].
 */
static void make_qx_quants_lanes(int n, int nmax, const float *x, int8_t *L, float *scales)
{
	struct qkx2_lanes v;
	vf max = { 0 }, amax = { 0 };
	for (int i = 0; i < n; i++) {
		for (int k = 0; k < LANES; k++)
			v.x[i][k] = x[k * n + i];
		const vf ax = v_abs(v.x[i]);
		const vi gt = ax > amax;
		amax = v_select(gt, ax, amax);
		max = v_select(gt, v.x[i], max);
	}
	vf sumlx, suml2;
	vf iscale = (float)-nmax / max;
	qx_trial_lanes(&v, n, nmax, iscale, &sumlx, &suml2, v.L);
	vf scale = v_select(suml2 != 0, sumlx / suml2, (vf){ 0 });
	vf best = scale * sumlx;
	for (int is = -9; is <= 9; ++is) {
		if (is == 0)
			continue;
		iscale = -((float)nmax + 0.1f * (float)is) / max;
		qx_trial_lanes(&v, n, nmax, iscale, &sumlx, &suml2, v.Laux);
		const vi take = (suml2 > 0) & (sumlx * sumlx > best * suml2);
		for (int i = 0; i < n; i++)
			v.L[i] = (v.Laux[i] & take) | (v.L[i] & ~take);
		scale = v_select(take, sumlx / suml2, scale);
		best = v_select(take, scale * sumlx, best);
	}
	for (int k = 0; k < LANES; k++) {
		const bool zero = amax[k] < GROUP_MAX_EPS;
		for (int i = 0; i < n; i++)
			L[k * n + i] = zero ? 0 : (int8_t)v.L[i][k];
		scales[k] = zero ? 0.f : scale[k];
	}
}

/* Packs 2-bit levels as Q2_K and Q3_K store them: each byte holds 4 elements 32 apart. */
static void pack_2bit(const uint8_t *L, uint8_t *qs)
{
	for (int j = 0; j < FY_QK_K; j += 128) {
		for (int l = 0; l < 32; ++l) {
			qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) |
						  (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
		}
	}
}

/* --- Q2_K ---------------------------------------------------------------------------------- */

static void q2k_block(const float *x, struct blk_q2_k *y)
{
	uint8_t L[FY_QK_K];
	float weights[FY_QK_K];
	float mins[FY_QK_K / 16];
	float scales[FY_QK_K / 16];
	const float q4scale = 15.f;
	float max_scale = 0;
	float max_min = 0;

	for (int l = 0; l < FY_QK_K; ++l)
		weights[l] = fabsf(x[l]);
	for (int g = 0; g < FY_QK_K / 16; g += LANES)
		make_qkx2_quants_lanes(16, 3, x + 16 * g, weights + 16 * g, L + 16 * g, mins + g,
				       scales + g, -0.5f, 0.1f, 15, true);
	for (int j = 0; j < FY_QK_K / 16; ++j) {
		if (scales[j] > max_scale)
			max_scale = scales[j];
		if (mins[j] > max_min)
			max_min = mins[j];
	}
	if (max_scale > 0) {
		const float iscale = q4scale / max_scale;
		for (int j = 0; j < FY_QK_K / 16; ++j)
			y->scales[j] = (uint8_t)nearest_int(iscale * scales[j]);
		y->d = fy_f32_to_f16(max_scale / q4scale);
	} else {
		memset(y->scales, 0, sizeof(y->scales));
		y->d = fy_f32_to_f16(0.f);
	}
	if (max_min > 0) {
		const float iscale = q4scale / max_min;
		for (int j = 0; j < FY_QK_K / 16; ++j) {
			const unsigned l = (unsigned)nearest_int(iscale * mins[j]);
			y->scales[j] = (uint8_t)(y->scales[j] | (l << 4));
		}
		y->dmin = fy_f32_to_f16(max_min / q4scale);
	} else {
		y->dmin = fy_f32_to_f16(0.f);
	}
	for (int j = 0; j < FY_QK_K / 16; ++j) {
		const float d = fy_f16_to_f32(y->d) * (float)(y->scales[j] & 0xF);
		if (d == 0.0f)
			continue;
		const float dm = fy_f16_to_f32(y->dmin) * (float)(y->scales[j] >> 4);
		for (int ii = 0; ii < 16; ++ii) {
			const int l = nearest_int((x[16 * j + ii] + dm) / d);
			L[16 * j + ii] = (uint8_t)imax(0, imin(3, l));
		}
	}
	pack_2bit(L, y->qs);
}

ROW_OF_SUPERBLOCKS(fy_quant_q2_k, struct blk_q2_k, q2k_block)

void fy_dequant_q2_k(const void *vx, float *y, int64_t n)
{
	const struct blk_q2_k *x = vx;
	for (int64_t i = 0; i < n / FY_QK_K; i++) {
		const float d = fy_f16_to_f32(x[i].d);
		const float min = fy_f16_to_f32(x[i].dmin);
		const uint8_t *q = x[i].qs;
		int is = 0;
		for (int nn = 0; nn < FY_QK_K; nn += 128, q += 32) {
			for (int shift = 0; shift < 8; shift += 2) {
				for (int half = 0; half < 2; half++) {
					const uint8_t sc = x[i].scales[is++];
					const float dl = d * (float)(sc & 0xF);
					const float ml = min * (float)(sc >> 4);
					for (int l = 0; l < 16; ++l) {
						const int v = (q[l + 16 * half] >> shift) & 3;
						*y++ = dl * (float)v - ml;
					}
				}
			}
		}
	}
}

/* --- Q3_K ---------------------------------------------------------------------------------- */

/* Signed 6-bit scale j (already - 32) from Q3_K's 12 packed bytes. */
static int q3k_scale(const uint8_t *s, int j)
{
	int sc = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
	sc |= ((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4;
	return sc - 32;
}

static void q3k_pack_scales(const float *scales, float max_scale, struct blk_q3_k *y)
{
	memset(y->scales, 0, sizeof(y->scales));
	if (max_scale == 0.0f) {
		y->d = fy_f32_to_f16(0.f);
		return;
	}
	const float iscale = -32.f / max_scale;
	for (int j = 0; j < FY_QK_K / 16; ++j) {
		/* The reference narrows to int8 before clamping; do the same. */
		/* NOLINTNEXTLINE(bugprone-signed-char-misuse) */
		int l = (int8_t)nearest_int(iscale * scales[j]);
		l = imax(-32, imin(31, l)) + 32;
		if (j < 8)
			y->scales[j] = (uint8_t)(l & 0xF);
		else
			y->scales[j - 8] = (uint8_t)(y->scales[j - 8] | ((l & 0xF) << 4));
		l >>= 4;
		y->scales[j % 4 + 8] = (uint8_t)(y->scales[j % 4 + 8] | (l << (2 * (j / 4))));
	}
	y->d = fy_f32_to_f16(1 / iscale);
}

static void q3k_block(const float *x, struct blk_q3_k *y)
{
	int8_t L[FY_QK_K];
	float scales[FY_QK_K / 16];
	float max_scale = 0;
	float amax = 0;

	for (int j = 0; j < FY_QK_K / 16; ++j) {
		scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
		const float scale = fabsf(scales[j]);
		if (scale > amax) {
			amax = scale;
			max_scale = scales[j];
		}
	}
	q3k_pack_scales(scales, max_scale, y);
	for (int j = 0; j < FY_QK_K / 16; ++j) {
		const float d = fy_f16_to_f32(y->d) * (float)(int8_t)q3k_scale(y->scales, j);
		if (d == 0.0f)
			continue;
		for (int ii = 0; ii < 16; ++ii) {
			const int l = nearest_int(x[16 * j + ii] / d);
			L[16 * j + ii] = (int8_t)(imax(-4, imin(3, l)) + 4);
		}
	}
	memset(y->hmask, 0, sizeof(y->hmask));
	for (int j = 0; j < FY_QK_K; ++j) {
		if (L[j] > 3) {
			y->hmask[j % 32] = (uint8_t)(y->hmask[j % 32] | (1u << (j / 32)));
			L[j] = (int8_t)(L[j] - 4);
		}
	}
	pack_2bit((const uint8_t *)L, y->qs);
}

ROW_OF_SUPERBLOCKS(fy_quant_q3_k, struct blk_q3_k, q3k_block)

void fy_dequant_q3_k(const void *vx, float *y, int64_t n)
{
	const struct blk_q3_k *x = vx;
	for (int64_t i = 0; i < n / FY_QK_K; i++) {
		const float d_all = fy_f16_to_f32(x[i].d);
		const uint8_t *q = x[i].qs;
		const uint8_t *hm = x[i].hmask;
		unsigned m = 1;
		int is = 0;
		for (int nn = 0; nn < FY_QK_K; nn += 128, q += 32) {
			for (int shift = 0; shift < 8; shift += 2, m <<= 1) {
				for (int half = 0; half < 2; half++) {
					const float dl =
						d_all * (float)(int8_t)q3k_scale(x[i].scales, is++);
					for (int l = 0; l < 16; ++l) {
						const int k = l + 16 * half;
						const int v = ((q[k] >> shift) & 3) -
							      ((hm[k] & m) ? 0 : 4);
						*y++ = dl * (float)v;
					}
				}
			}
		}
	}
}

/* --- Q4_K / Q5_K: 8 sub-blocks of 32 with 6-bit scales and mins --------------------------------
 */

/* Sub-block fits shared by Q4_K and Q5_K; returns max scale and max min. */
static void k4_fit(const float *x, int nmax, float rmin, int nstep, uint8_t *L, float *scales,
		   float *mins, float *max_scale, float *max_min)
{
	float weights[FY_QK_K];
	*max_scale = 0;
	*max_min = 0;
	for (int j = 0; j < FY_QK_K / 32; ++j) {
		float sum_x2 = 0;
		for (int l = 0; l < 32; ++l)
			sum_x2 += x[32 * j + l] * x[32 * j + l];
		const float av_x = sqrtf(sum_x2 / 32);
		for (int l = 0; l < 32; ++l)
			weights[32 * j + l] = av_x + fabsf(x[32 * j + l]);
	}
	for (int g = 0; g < FY_QK_K / 32; g += LANES)
		make_qkx2_quants_lanes(32, nmax, x + 32 * g, weights + 32 * g, L + 32 * g, mins + g,
				       scales + g, rmin, 0.1f, nstep, false);
	for (int j = 0; j < FY_QK_K / 32; ++j) {
		if (scales[j] > *max_scale)
			*max_scale = scales[j];
		if (mins[j] > *max_min)
			*max_min = mins[j];
	}
}

/* Quantizes the 8 scales and mins to 6 bits and packs them into 12 bytes; sets d and dmin. */
static void k4_pack_scales(const float *scales, const float *mins, float max_scale, float max_min,
			   uint8_t *s, uint16_t *d, uint16_t *dmin)
{
	const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
	const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
	for (int j = 0; j < FY_QK_K / 32; ++j) {
		uint8_t ls = (uint8_t)nearest_int(inv_scale * scales[j]);
		uint8_t lm = (uint8_t)nearest_int(inv_min * mins[j]);
		ls = (uint8_t)imin(63, ls);
		lm = (uint8_t)imin(63, lm);
		if (j < 4) {
			s[j] = ls;
			s[j + 4] = lm;
		} else {
			s[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
			s[j - 4] = (uint8_t)(s[j - 4] | ((ls >> 4) << 6));
			s[j - 0] = (uint8_t)(s[j - 0] | ((lm >> 4) << 6));
		}
	}
	*d = fy_f32_to_f16(max_scale / 63.f);
	*dmin = fy_f32_to_f16(max_min / 63.f);
}

/* Re-quantizes each element with the stored (fp16-rounded) scales. */
static void k4_requant(const float *x, const uint8_t *s, uint16_t d16, uint16_t dmin16, int nmax,
		       uint8_t *L)
{
	for (int j = 0; j < FY_QK_K / 32; ++j) {
		uint8_t sc, m;
		get_scale_min_k4(j, s, &sc, &m);
		const float d = fy_f16_to_f32(d16) * (float)sc;
		if (d == 0.0f)
			continue;
		const float dm = fy_f16_to_f32(dmin16) * (float)m;
		for (int ii = 0; ii < 32; ++ii) {
			const int l = nearest_int((x[32 * j + ii] + dm) / d);
			L[32 * j + ii] = (uint8_t)imax(0, imin(nmax, l));
		}
	}
}

static void q4k_block(const float *x, struct blk_q4_k *y)
{
	uint8_t L[FY_QK_K];
	float mins[FY_QK_K / 32];
	float scales[FY_QK_K / 32];
	float max_scale, max_min;

	k4_fit(x, 15, -1.f, 20, L, scales, mins, &max_scale, &max_min);
	memset(y->scales, 0, sizeof(y->scales));
	k4_pack_scales(scales, mins, max_scale, max_min, y->scales, &y->d, &y->dmin);
	k4_requant(x, y->scales, y->d, y->dmin, 15, L);
	uint8_t *q = y->qs;
	for (int j = 0; j < FY_QK_K; j += 64, q += 32) {
		for (int l = 0; l < 32; ++l)
			q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
	}
}

ROW_OF_SUPERBLOCKS(fy_quant_q4_k, struct blk_q4_k, q4k_block)

/* One Q4_K/Q5_K super-block: 8 sub-blocks of 32 with 6-bit scales and mins; qh (Q5_K's fifth
 * bits) is NULL for Q4_K. */
static void dequant_k4(const uint8_t *scales, uint16_t d16, uint16_t dmin16, const uint8_t *q,
		       const uint8_t *qh, float *y)
{
	const float d = fy_f16_to_f32(d16);
	const float min = fy_f16_to_f32(dmin16);
	unsigned u1 = 1;
	unsigned u2 = 2;
	for (int j = 0, is = 0; j < FY_QK_K; j += 64, q += 32, is += 2, u1 <<= 2, u2 <<= 2) {
		uint8_t sc, m;
		get_scale_min_k4(is + 0, scales, &sc, &m);
		const float d1 = d * (float)sc;
		const float m1 = min * (float)m;
		get_scale_min_k4(is + 1, scales, &sc, &m);
		const float d2 = d * (float)sc;
		const float m2 = min * (float)m;
		for (int l = 0; l < 32; ++l) {
			const int hi = qh != NULL && (qh[l] & u1) ? 16 : 0;
			*y++ = d1 * (float)((q[l] & 0xF) + hi) - m1;
		}
		for (int l = 0; l < 32; ++l) {
			const int hi = qh != NULL && (qh[l] & u2) ? 16 : 0;
			*y++ = d2 * (float)((q[l] >> 4) + hi) - m2;
		}
	}
}

void fy_dequant_q4_k(const void *vx, float *y, int64_t n)
{
	const struct blk_q4_k *x = vx;
	for (int64_t i = 0; i < n / FY_QK_K; i++)
		dequant_k4(x[i].scales, x[i].d, x[i].dmin, x[i].qs, NULL, y + FY_QK_K * i);
}

static void q5k_block(const float *x, struct blk_q5_k *y)
{
	uint8_t L[FY_QK_K];
	float mins[FY_QK_K / 32];
	float scales[FY_QK_K / 32];
	float max_scale, max_min;

	k4_fit(x, 31, -0.5f, 15, L, scales, mins, &max_scale, &max_min);
	memset(y->scales, 0, sizeof(y->scales));
	k4_pack_scales(scales, mins, max_scale, max_min, y->scales, &y->d, &y->dmin);
	k4_requant(x, y->scales, y->d, y->dmin, 31, L);

	uint8_t *ql = y->qs;
	unsigned m1 = 1;
	unsigned m2 = 2;
	memset(y->qh, 0, sizeof(y->qh));
	for (int nn = 0; nn < FY_QK_K; nn += 64, ql += 32, m1 <<= 2, m2 <<= 2) {
		for (int j = 0; j < 32; ++j) {
			int l1 = L[nn + j];
			int l2 = L[nn + j + 32];
			if (l1 > 15) {
				l1 -= 16;
				y->qh[j] = (uint8_t)(y->qh[j] | m1);
			}
			if (l2 > 15) {
				l2 -= 16;
				y->qh[j] = (uint8_t)(y->qh[j] | m2);
			}
			ql[j] = (uint8_t)(l1 | (l2 << 4));
		}
	}
}

ROW_OF_SUPERBLOCKS(fy_quant_q5_k, struct blk_q5_k, q5k_block)

void fy_dequant_q5_k(const void *vx, float *y, int64_t n)
{
	const struct blk_q5_k *x = vx;
	for (int64_t i = 0; i < n / FY_QK_K; i++)
		dequant_k4(x[i].scales, x[i].d, x[i].dmin, x[i].qs, x[i].qh, y + FY_QK_K * i);
}

/* --- Q6_K ---------------------------------------------------------------------------------- */

static void q6k_pack(const int8_t *L, struct blk_q6_k *y)
{
	uint8_t *ql = y->ql;
	uint8_t *qh = y->qh;
	for (int j = 0; j < FY_QK_K; j += 128, ql += 64, qh += 32) {
		for (int l = 0; l < 32; ++l) {
			const unsigned q1 = (unsigned)L[j + l + 0];
			const unsigned q2 = (unsigned)L[j + l + 32];
			const unsigned q3 = (unsigned)L[j + l + 64];
			const unsigned q4 = (unsigned)L[j + l + 96];
			ql[l + 0] = (uint8_t)((q1 & 0xF) | (q3 & 0xF) << 4);
			ql[l + 32] = (uint8_t)((q2 & 0xF) | (q4 & 0xF) << 4);
			qh[l] = (uint8_t)((q1 >> 4) | (q2 >> 4) << 2 | (q3 >> 4) << 4 |
					  (q4 >> 4) << 6);
		}
	}
}

static void q6k_block(const float *x, struct blk_q6_k *y)
{
	int8_t L[FY_QK_K];
	float scales[FY_QK_K / 16];
	float max_scale = 0;
	float max_abs_scale = 0;

	for (int g = 0; g < FY_QK_K / 16; g += LANES)
		make_qx_quants_lanes(16, 32, x + 16 * g, L + 16 * g, scales + g);
	for (int ib = 0; ib < FY_QK_K / 16; ++ib) {
		if (fabsf(scales[ib]) > max_abs_scale) {
			max_abs_scale = fabsf(scales[ib]);
			max_scale = scales[ib];
		}
	}
	if (max_abs_scale < GROUP_MAX_EPS) {
		memset(y, 0, sizeof(*y));
		y->d = fy_f32_to_f16(0.f);
		return;
	}
	const float iscale = -128.f / max_scale;
	y->d = fy_f32_to_f16(1 / iscale);
	for (int ib = 0; ib < FY_QK_K / 16; ++ib)
		y->scales[ib] = (int8_t)imin(127, nearest_int(iscale * scales[ib]));
	for (int j = 0; j < FY_QK_K / 16; ++j) {
		const float d = fy_f16_to_f32(y->d) * (float)y->scales[j];
		if (d == 0.0f)
			continue;
		for (int ii = 0; ii < 16; ++ii) {
			const int l = nearest_int(x[16 * j + ii] / d);
			L[16 * j + ii] = (int8_t)(imax(-32, imin(31, l)) + 32);
		}
	}
	q6k_pack(L, y);
}

ROW_OF_SUPERBLOCKS(fy_quant_q6_k, struct blk_q6_k, q6k_block)

void fy_dequant_q6_k(const void *vx, float *y, int64_t n)
{
	const struct blk_q6_k *x = vx;
	for (int64_t i = 0; i < n / FY_QK_K; i++) {
		const float d = fy_f16_to_f32(x[i].d);
		const uint8_t *ql = x[i].ql;
		const uint8_t *qh = x[i].qh;
		const int8_t *sc = x[i].scales;
		for (int nn = 0; nn < FY_QK_K; nn += 128, y += 128, ql += 64, qh += 32, sc += 8) {
			for (int l = 0; l < 32; ++l) {
				const int is = l / 16;
				const int q1 = ((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
				const int q2 =
					((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
				const int q3 = ((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
				const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
				y[l + 0] = d * (float)sc[is + 0] * (float)q1;
				y[l + 32] = d * (float)sc[is + 2] * (float)q2;
				y[l + 64] = d * (float)sc[is + 4] * (float)q3;
				y[l + 96] = d * (float)sc[is + 6] * (float)q4;
			}
		}
	}
}

/* ggml's quantize_row_q8_K_ref: the value of largest magnitude becomes -127 (its sign kept in the
 * scale), the rest rounded to nearest, ties to even, and the sums of each 16. */
void fy_quant_q8_k(const float *x, void *vy, int64_t n)
{
	struct blk_q8_k *y = vy;
	for (int64_t b = 0; b < n / FY_QK_K; b++, x += FY_QK_K) {
		float max = 0, amax = 0;
		for (int j = 0; j < FY_QK_K; j++) {
			const float ax = fabsf(x[j]);
			if (ax > amax) {
				amax = ax;
				max = x[j];
			}
		}
		if (amax == 0) {
			memset(&y[b], 0, sizeof(y[b]));
			continue;
		}
		const float iscale = -127.f / max;
		for (int j = 0; j < FY_QK_K; j++)
			y[b].qs[j] = (int8_t)imin(127, nearest_int(iscale * x[j]));
		for (int j = 0; j < FY_QK_K / 16; j++) {
			int s = 0;
			for (int i = 0; i < 16; i++)
				s += y[b].qs[16 * j + i];
			y[b].bsums[j] = (int16_t)s;
		}
		y[b].d = 1 / iscale;
	}
}

void fy_dequant_q8_k(const void *vx, float *y, int64_t n)
{
	const struct blk_q8_k *x = vx;
	for (int64_t i = 0; i < n / FY_QK_K; i++, y += FY_QK_K)
		for (int j = 0; j < FY_QK_K; j++)
			y[j] = x[i].d * (float)x[i].qs[j];
}
