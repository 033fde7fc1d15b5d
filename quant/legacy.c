/*
 * The 32-element types: Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 (IQ4_NL: quant/iq4.c). Each quantizer
 * reproduces llama.cpp's quantize_row_<type>_ref bit for bit (operation order included: this file
 * is built with -ffp-contract=off), each dequantizer dequantize_row_<type>.
 */
#include "quant/quant_private.h"

#include <float.h>

/* --- Q4_0 / Q5_0: symmetric, d = max / -2^(bits-1) ------------------------------------------ */

/* The value of largest magnitude (the first one wins a tie) and the scale from it. */
static float signed_max(const float *x, int n)
{
	float amax = 0.0f;
	float max = 0.0f;
	for (int j = 0; j < n; j++) {
		if (amax < fabsf(x[j])) {
			amax = fabsf(x[j]);
			max = x[j];
		}
	}
	return max;
}

void fy_quant_q4_0(const float *x, void *vy, int64_t n)
{
	struct blk_q4_0 *y = vy;
	for (int64_t i = 0; i < n / QK4_0; i++, x += QK4_0) {
		const float d = signed_max(x, QK4_0) / -8;
		const float id = d != 0.0f ? 1.0f / d : 0.0f;
		y[i].d = fy_f32_to_f16(d);
		for (int j = 0; j < 16; j++) {
			const float x0 = x[j] * id;
			const float x1 = x[16 + j] * id;
			const int q0 = imin(15, trunc_clamp(x0 + 8.5f, -128, 127));
			const int q1 = imin(15, trunc_clamp(x1 + 8.5f, -128, 127));
			y[i].qs[j] = (uint8_t)((unsigned)q0 | (unsigned)q1 << 4);
		}
	}
}

void fy_dequant_q4_0(const void *vx, float *y, int64_t n)
{
	const struct blk_q4_0 *x = vx;
	for (int64_t i = 0; i < n / QK4_0; i++, y += QK4_0) {
		const float d = fy_f16_to_f32(x[i].d);
		for (int j = 0; j < 16; j++) {
			y[j] = (float)((x[i].qs[j] & 0x0f) - 8) * d;
			y[j + 16] = (float)((x[i].qs[j] >> 4) - 8) * d;
		}
	}
}

void fy_quant_q5_0(const float *x, void *vy, int64_t n)
{
	struct blk_q5_0 *y = vy;
	for (int64_t i = 0; i < n / QK4_0; i++, x += QK4_0) {
		const float d = signed_max(x, QK4_0) / -16;
		const float id = d != 0.0f ? 1.0f / d : 0.0f;
		uint32_t qh = 0;
		y[i].d = fy_f32_to_f16(d);
		for (int j = 0; j < 16; j++) {
			const float x0 = x[j] * id;
			const float x1 = x[16 + j] * id;
			const unsigned q0 =
				(unsigned)imin(31, trunc_clamp(x0 + 16.5f, -128, 127)) & 0xff;
			const unsigned q1 =
				(unsigned)imin(31, trunc_clamp(x1 + 16.5f, -128, 127)) & 0xff;
			y[i].qs[j] = (uint8_t)((q0 & 0x0f) | (q1 & 0x0f) << 4);
			qh |= ((q0 & 0x10u) >> 4) << j;
			qh |= ((q1 & 0x10u) >> 4) << (j + 16);
		}
		memcpy(y[i].qh, &qh, sizeof(qh));
	}
}

void fy_dequant_q5_0(const void *vx, float *y, int64_t n)
{
	const struct blk_q5_0 *x = vx;
	for (int64_t i = 0; i < n / QK4_0; i++, y += QK4_0) {
		const float d = fy_f16_to_f32(x[i].d);
		uint32_t qh;
		memcpy(&qh, x[i].qh, sizeof(qh));
		for (int j = 0; j < 16; j++) {
			const int h0 = (int)(((qh >> j) << 4) & 0x10);
			const int h1 = (int)((qh >> (j + 12)) & 0x10);
			y[j] = (float)(((x[i].qs[j] & 0x0f) | h0) - 16) * d;
			y[j + 16] = (float)(((x[i].qs[j] >> 4) | h1) - 16) * d;
		}
	}
}

/* --- Q4_1 / Q5_1: min and scale --------------------------------------------------------------- */

static void min_max(const float *x, int n, float *min_out, float *max_out)
{
	float min = FLT_MAX;
	float max = -FLT_MAX;
	for (int j = 0; j < n; j++) {
		if (x[j] < min)
			min = x[j];
		if (x[j] > max)
			max = x[j];
	}
	*min_out = min;
	*max_out = max;
}

void fy_quant_q4_1(const float *x, void *vy, int64_t n)
{
	struct blk_q4_1 *y = vy;
	for (int64_t i = 0; i < n / QK4_0; i++, x += QK4_0) {
		float min, max;
		min_max(x, QK4_0, &min, &max);
		const float d = (max - min) / 15;
		const float id = d != 0.0f ? 1.0f / d : 0.0f;
		y[i].d = fy_f32_to_f16(d);
		y[i].m = fy_f32_to_f16(min);
		for (int j = 0; j < 16; j++) {
			const float x0 = (x[j] - min) * id;
			const float x1 = (x[16 + j] - min) * id;
			const int q0 = imin(15, trunc_clamp(x0 + 0.5f, -128, 127));
			const int q1 = imin(15, trunc_clamp(x1 + 0.5f, -128, 127));
			y[i].qs[j] = (uint8_t)(((unsigned)q0 & 0xff) | ((unsigned)q1 & 0xff) << 4);
		}
	}
}

void fy_dequant_q4_1(const void *vx, float *y, int64_t n)
{
	const struct blk_q4_1 *x = vx;
	for (int64_t i = 0; i < n / QK4_0; i++, y += QK4_0) {
		const float d = fy_f16_to_f32(x[i].d);
		const float m = fy_f16_to_f32(x[i].m);
		for (int j = 0; j < 16; j++) {
			y[j] = (float)(x[i].qs[j] & 0x0f) * d + m;
			y[j + 16] = (float)(x[i].qs[j] >> 4) * d + m;
		}
	}
}

void fy_quant_q5_1(const float *x, void *vy, int64_t n)
{
	struct blk_q5_1 *y = vy;
	for (int64_t i = 0; i < n / QK4_0; i++, x += QK4_0) {
		float min, max;
		min_max(x, QK4_0, &min, &max);
		const float d = (max - min) / 31;
		const float id = d != 0.0f ? 1.0f / d : 0.0f;
		uint32_t qh = 0;
		y[i].d = fy_f32_to_f16(d);
		y[i].m = fy_f32_to_f16(min);
		for (int j = 0; j < 16; j++) {
			const float x0 = (x[j] - min) * id;
			const float x1 = (x[16 + j] - min) * id;
			const unsigned q0 = (unsigned)trunc_clamp(x0 + 0.5f, 0, 255);
			const unsigned q1 = (unsigned)trunc_clamp(x1 + 0.5f, 0, 255);
			y[i].qs[j] = (uint8_t)((q0 & 0x0f) | (q1 & 0x0f) << 4);
			qh |= ((q0 & 0x10u) >> 4) << j;
			qh |= ((q1 & 0x10u) >> 4) << (j + 16);
		}
		memcpy(y[i].qh, &qh, sizeof(qh));
	}
}

void fy_dequant_q5_1(const void *vx, float *y, int64_t n)
{
	const struct blk_q5_1 *x = vx;
	for (int64_t i = 0; i < n / QK4_0; i++, y += QK4_0) {
		const float d = fy_f16_to_f32(x[i].d);
		const float m = fy_f16_to_f32(x[i].m);
		uint32_t qh;
		memcpy(&qh, x[i].qh, sizeof(qh));
		for (int j = 0; j < 16; j++) {
			const int h0 = (int)(((qh >> j) << 4) & 0x10);
			const int h1 = (int)((qh >> (j + 12)) & 0x10);
			y[j] = (float)((x[i].qs[j] & 0x0f) | h0) * d + m;
			y[j + 16] = (float)((x[i].qs[j] >> 4) | h1) * d + m;
		}
	}
}

/* --- Q8_0 ---------------------------------------------------------------------------------- */

/* roundf (half away from zero) for |v| < 2^23, without the libm call: v - trunc(v) is exact. */
static inline int round_away(float v)
{
	const int t = trunc_clamp(v, -(1 << 22), 1 << 22);
	const float frac = v - (float)t;
	if (frac >= 0.5f)
		return t + 1;
	if (frac <= -0.5f)
		return t - 1;
	return t;
}

void fy_quant_q8_0(const float *x, void *vy, int64_t n)
{
	struct blk_q8_0 *y = vy;
	for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
		float amax = 0.0f;
		for (int j = 0; j < QK8_0; j++) {
			const float a = fabsf(x[j]);
			amax = amax > a ? amax : a;
		}
		const float d = amax / 127;
		const float id = d != 0.0f ? 1.0f / d : 0.0f;
		y[i].d = fy_f32_to_f16(d);
		for (int j = 0; j < QK8_0; j++)
			y[i].qs[j] = (int8_t)imax(-128, imin(127, round_away(x[j] * id)));
	}
}

void fy_dequant_q8_0(const void *vx, float *y, int64_t n)
{
	const struct blk_q8_0 *x = vx;
	for (int64_t i = 0; i < n / QK8_0; i++, y += QK8_0) {
		const float d = fy_f16_to_f32(x[i].d);
		for (int j = 0; j < QK8_0; j++)
			y[j] = (float)x[i].qs[j] * d;
	}
}
