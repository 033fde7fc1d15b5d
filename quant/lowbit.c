/*
 * The ternary, 1- and 2-bit and FP4 types: TQ1_0, TQ2_0 (BitNet b1.58 / TriLM ternaries), Q1_0
 * (signs times the mean magnitude), Q2_0 (four levels -1..2 times the largest magnitude), MXFP4
 * (E2M1 values with a shared E8M0 exponent per 32) and NVFP4 (E2M1 values with a UE4M3 scale per
 * 16). The quantizers are ggml's quantize_row_<type>_ref (what llama-quantize runs for them:
 * ggml ignores an importance matrix for every one of these), the dequantizers
 * dequantize_row_<type>, in the same float operations (built with -ffp-contract=off).
 */
#include "quant/iquant.h"
#include "quant/quant_private.h"

/* E2M1 values, doubled (ggml's kvalues_fp4): MXFP4 and NVFP4 scales carry the half. */
static const int8_t fp4_values[16] = { 0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12 };

static float absmax(const float *x, int n)
{
	float amax = 0.0f;
	for (int j = 0; j < n; j++)
		amax = fmaxf(amax, fabsf(x[j]));
	return amax;
}

/* lroundf of a value the caller keeps within [-1, 1] (non-finite input is refused upstream). */
static int round_trit(float v)
{
	return (int)lroundf(fminf(fmaxf(v, -1.0f), 1.0f)) + 1;
}

/* --- TQ1_0: 5 trits a byte (then 4), scaled to fill the byte's range -------------------------- */

static uint8_t trits_to_byte(unsigned q)
{
	return (uint8_t)((q * 256 + (243 - 1)) / 243);
}

void fy_quant_tq1_0(const float *x, void *vy, int64_t n)
{
	struct blk_tq1_0 *y = vy;
	for (int64_t i = 0; i < n / FY_QK_K; i++) {
		const float d = absmax(x, FY_QK_K);
		const float id = d != 0.0f ? 1.0f / d : 0.0f;
		y[i].d = fy_f32_to_f16(d);
		/* 32 bytes of 5 trits, then 16 bytes of 5, then 4 bytes of 4 */
		for (int m = 0; m < 32; m++) {
			unsigned q = 0;
			for (int k = 0; k < 5; k++)
				q = q * 3 + (unsigned)round_trit(x[m + 32 * k] * id);
			y[i].qs[m] = trits_to_byte(q);
		}
		x += 160;
		for (int m = 0; m < 16; m++) {
			unsigned q = 0;
			for (int k = 0; k < 5; k++)
				q = q * 3 + (unsigned)round_trit(x[m + 16 * k] * id);
			y[i].qs[32 + m] = trits_to_byte(q);
		}
		x += 80;
		for (int j = 0; j < 4; j++) {
			unsigned q = 0;
			for (int k = 0; k < 4; k++)
				q = q * 3 + (unsigned)round_trit(x[j + 4 * k] * id);
			y[i].qh[j] = trits_to_byte(q * 3);
		}
		x += 16;
	}
}

/* Trit k (0 = most significant) of a byte written by trits_to_byte, as -1, 0 or 1. */
static float trit(uint8_t b, int k)
{
	static const uint8_t pow3[5] = { 1, 3, 9, 27, 81 };
	const uint8_t q = (uint8_t)(b * pow3[k]);
	return (float)((int)(((unsigned)q * 3) >> 8) - 1);
}

void fy_dequant_tq1_0(const void *vx, float *y, int64_t n)
{
	const struct blk_tq1_0 *x = vx;
	for (int64_t i = 0; i < n / FY_QK_K; i++) {
		const float d = fy_f16_to_f32(x[i].d);
		for (int k = 0; k < 5; k++)
			for (int m = 0; m < 32; m++)
				*y++ = trit(x[i].qs[m], k) * d;
		for (int k = 0; k < 5; k++)
			for (int m = 0; m < 16; m++)
				*y++ = trit(x[i].qs[32 + m], k) * d;
		for (int k = 0; k < 4; k++)
			for (int j = 0; j < 4; j++)
				*y++ = trit(x[i].qh[j], k) * d;
	}
}

/* --- TQ2_0: 2 bits a trit ----------------------------------------------------------------------
 */

void fy_quant_tq2_0(const float *x, void *vy, int64_t n)
{
	struct blk_tq2_0 *y = vy;
	for (int64_t i = 0; i < n / FY_QK_K; i++) {
		const float d = absmax(x, FY_QK_K);
		const float id = d != 0.0f ? 1.0f / d : 0.0f;
		y[i].d = fy_f32_to_f16(d);
		for (int j = 0; j < 64; j += 32, x += 128) {
			for (int m = 0; m < 32; m++) {
				unsigned q = 0;
				for (int k = 0; k < 4; k++)
					q += ((unsigned)round_trit(x[m + 32 * k] * id) & 3)
					     << (2 * k);
				y[i].qs[j + m] = (uint8_t)q;
			}
		}
	}
}

void fy_dequant_tq2_0(const void *vx, float *y, int64_t n)
{
	const struct blk_tq2_0 *x = vx;
	for (int64_t i = 0; i < n / FY_QK_K; i++) {
		const float d = fy_f16_to_f32(x[i].d);
		for (int j = 0; j < 64; j += 32)
			for (int l = 0; l < 4; l++)
				for (int m = 0; m < 32; m++)
					*y++ = (float)(((x[i].qs[j + m] >> (2 * l)) & 3) - 1) * d;
	}
}

/* --- Q1_0: one sign bit an element, the block's mean magnitude -------------------------------- */

void fy_quant_q1_0(const float *x, void *vy, int64_t n)
{
	struct blk_q1_0 *y = vy;
	for (int64_t i = 0; i < n / 128; i++, x += 128) {
		float sum_abs = 0.0f;
		for (int j = 0; j < 128; j++)
			sum_abs += fabsf(x[j]);
		y[i].d = fy_f32_to_f16(sum_abs / 128);
		memset(y[i].qs, 0, sizeof(y[i].qs));
		for (int j = 0; j < 128; j++)
			if (x[j] >= 0.0f)
				y[i].qs[j / 8] |= (uint8_t)(1u << (j % 8));
	}
}

void fy_dequant_q1_0(const void *vx, float *y, int64_t n)
{
	const struct blk_q1_0 *x = vx;
	for (int64_t i = 0; i < n / 128; i++, y += 128) {
		const float d = fy_f16_to_f32(x[i].d);
		for (int j = 0; j < 128; j++)
			y[j] = (x[i].qs[j / 8] >> (j % 8)) & 1 ? d : -d;
	}
}

/* --- Q2_0: levels -1, 0, 1, 2 times the block's largest magnitude ----------------------------- */

void fy_quant_q2_0(const float *x, void *vy, int64_t n)
{
	struct blk_q2_0 *y = vy;
	for (int64_t i = 0; i < n / 64; i++, x += 64) {
		float amax = 0.0f;
		for (int j = 0; j < 64; j++)
			if (fabsf(x[j]) > amax)
				amax = fabsf(x[j]);
		const float id = amax > 0.0f ? 1.0f / amax : 0.0f;
		y[i].d = fy_f32_to_f16(amax);
		memset(y[i].qs, 0, sizeof(y[i].qs));
		for (int j = 0; j < 64; j++) {
			/* |x * id| <= 1: roundf's result is within [-1, 1], then clamped as ggml
			 * does; a subnormal amax makes id infinite, which the clamp (and NaN's
			 * 1) keep defined where ggml's cast is not */
			const float r = roundf(x[j] * id);
			const int q = r != r ? 1 : (int)fmaxf(-1.0f, fminf(2.0f, r)) + 1;
			y[i].qs[j / 4] |= (uint8_t)(q << (j % 4) * 2);
		}
	}
}

void fy_dequant_q2_0(const void *vx, float *y, int64_t n)
{
	const struct blk_q2_0 *x = vx;
	for (int64_t i = 0; i < n / 64; i++, y += 64) {
		const float d = fy_f16_to_f32(x[i].d);
		for (int j = 0; j < 64; j++)
			y[j] = (float)(((x[i].qs[j / 4] >> (j % 4) * 2) & 3) - 1) * d;
	}
}

/* --- MXFP4 and NVFP4 ---------------------------------------------------------------------------
 */

/* The E2M1 level nearest x/e (the first one wins a tie), as ggml's best_index_mxfp4. */
static uint8_t fp4_index(float x, float e)
{
	int best = 0;
	float best_err = fabsf((float)fp4_values[0] * e - x);
	for (int i = 1; i < 16; i++) {
		const float err = fabsf((float)fp4_values[i] * e - x);
		if (err < best_err) {
			best = i;
			best_err = err;
		}
	}
	return (uint8_t)best;
}

/* 2^(e - 128): half the E8M0 value e stands for (subnormal for e < 2), as ggml computes it. */
static float e8m0_half(uint8_t e)
{
	const uint32_t bits = e < 2 ? 0x00200000u << e : (uint32_t)(e - 1) << 23;
	float f;
	memcpy(&f, &bits, sizeof(f));
	return f;
}

void fy_quant_mxfp4(const float *x, void *vy, int64_t n)
{
	struct blk_mxfp4 *y = vy;
	for (int64_t i = 0; i < n / 32; i++, x += 32) {
		float amax = 0.0f;
		for (int j = 0; j < 32; j++)
			if (amax < fabsf(x[j]))
				amax = fabsf(x[j]);
		/* ggml casts floor(log2(amax)) + 125 to a byte; ferry clamps what the cast leaves
		 * undefined (|x| below 2^-125 or at the float maximum's exponent) */
		const float e = amax > 0.0f ? floorf(log2f(amax)) - 2 + 127 : 0.0f;
		y[i].e = (uint8_t)trunc_clamp(e, 0, 255);
		const float d = e8m0_half(y[i].e);
		for (int j = 0; j < 16; j++)
			y[i].qs[j] = (uint8_t)(fp4_index(x[j], d) | fp4_index(x[16 + j], d) << 4);
	}
}

void fy_dequant_mxfp4(const void *vx, float *y, int64_t n)
{
	const struct blk_mxfp4 *x = vx;
	for (int64_t i = 0; i < n / 32; i++, y += 32) {
		const float d = e8m0_half(x[i].e);
		for (int j = 0; j < 16; j++) {
			y[j] = (float)fp4_values[x[i].qs[j] & 0x0f] * d;
			y[j + 16] = (float)fp4_values[x[i].qs[j] >> 4] * d;
		}
	}
}

/* A UE4M3 scale (unsigned, 4-bit exponent with bias 7, 3-bit mantissa), halved as ggml's
 * ggml_ue4m3_to_fp32 returns it (the E2M1 levels are doubled). 0 and 0x7F read as 0. */
static float ue4m3_to_f32(uint8_t x)
{
	if (x == 0 || x == 0x7F)
		return 0.0f;
	const int exp = (x >> 3) & 0xF;
	const int man = x & 0x7;
	const float raw =
		exp == 0 ? ldexpf((float)man, -9) : ldexpf(1.0f + (float)man / 8.0f, exp - 7);
	return raw * 0.5f;
}

/* ggml_fp32_to_ue4m3: round half up on the fourth mantissa bit, saturating at 0x7E. */
static uint8_t f32_to_ue4m3(float x)
{
	if (!(x > 0.0f))
		return 0;
	if (x > 448.0f)
		x = 448.0f;
	uint32_t bits;
	memcpy(&bits, &x, sizeof(bits));
	int exp = (int)((bits >> 23) & 0xFF) - 127 + 7;
	if (exp <= 0) {
		const int man = imin(7, (int)(x * 512.0f + 0.5f));
		return man < 1 ? 0 : (uint8_t)man;
	}
	if (exp >= 15)
		return 0x7E;
	int man = (int)((bits >> 20) & 0x7) + (int)((bits >> 19) & 1);
	if (man > 7) {
		man = 0;
		if (++exp >= 15)
			return 0x7E;
	}
	return (uint8_t)(exp << 3 | man);
}

void fy_quant_nvfp4(const float *x, void *vy, int64_t n)
{
	struct blk_nvfp4 *y = vy;
	for (int64_t i = 0; i < n / 64; i++) {
		for (int s = 0; s < 4; s++, x += 16) {
			float amax = 0.0f;
			for (int j = 0; j < 16; j++)
				if (amax < fabsf(x[j]))
					amax = fabsf(x[j]);
			y[i].d[s] = f32_to_ue4m3(amax / 6.0f);
			const float d = ue4m3_to_f32(y[i].d[s]);
			for (int j = 0; j < 8; j++)
				y[i].qs[8 * s + j] =
					(uint8_t)(fp4_index(x[j], d) | fp4_index(x[8 + j], d) << 4);
		}
	}
}

void fy_dequant_nvfp4(const void *vx, float *y, int64_t n)
{
	const struct blk_nvfp4 *x = vx;
	for (int64_t i = 0; i < n / 64; i++) {
		for (int s = 0; s < 4; s++, y += 16) {
			const float d = ue4m3_to_f32(x[i].d[s]);
			for (int j = 0; j < 8; j++) {
				y[j] = (float)fp4_values[x[i].qs[8 * s + j] & 0x0f] * d;
				y[j + 8] = (float)fp4_values[x[i].qs[8 * s + j] >> 4] * d;
			}
		}
	}
}
