/* IEEE binary16 and bfloat16 conversions, round to nearest even, bit-exact with ggml; FP8 E4M3
 * decoding. */
#include "core/core.h"

#include <pthread.h>
#include <string.h>

static uint32_t f32_bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	return u;
}

static float bits_f32(uint32_t u)
{
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

/*
 * Normal results round by adding half an ulp (plus the odd bit, for ties to even) before
 * shifting; results below 2^-14 go through a float addition with a magic number, which makes
 * the FPU round the subnormal mantissa to nearest even.
 */
uint16_t fy_f32_to_f16(float f)
{
	const uint32_t f32_inf = 255u << 23;
	const uint32_t f16_max = (127u + 16) << 23; /* 2^16: everything from here on is inf */
	const uint32_t denorm_magic = ((127u - 15) + (23 - 10) + 1) << 23;
	uint32_t u = f32_bits(f);
	uint32_t sign = u & 0x80000000u;
	uint32_t o;

	u ^= sign;
	if (u >= f16_max) {
		o = u > f32_inf ? 0x7e00 : 0x7c00;
	} else if (u < (113u << 23)) {
		o = f32_bits(bits_f32(u) + bits_f32(denorm_magic)) - denorm_magic;
	} else {
		uint32_t odd = (u >> 13) & 1;

		u += ((uint32_t)(15 - 127) << 23) + 0xfff;
		u += odd;
		o = u >> 13;
	}
	return (uint16_t)(o | (sign >> 16));
}

float fy_f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t exp = (h >> 10) & 0x1f;
	uint32_t mant = h & 0x3ff;

	if (exp == 0x1f)
		return bits_f32(sign | 0x7f800000u | (mant << 13));
	if (exp != 0)
		return bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
	if (mant == 0)
		return bits_f32(sign);
	/* subnormal: mant * 2^-24, exact in float */
	return sign ? -(float)mant * 0x1p-24f : (float)mant * 0x1p-24f;
}

uint16_t fy_f32_to_bf16(float f)
{
	uint32_t u = f32_bits(f);

	if ((u & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((u >> 16) | 64);
	return (uint16_t)((u + (0x7fffu + ((u >> 16) & 1))) >> 16);
}

float fy_bf16_to_f32(uint16_t h)
{
	return bits_f32((uint32_t)h << 16);
}

float fy_f8e4m3_to_f32(uint8_t v)
{
	const uint32_t sign = (uint32_t)(v & 0x80) << 24;
	const uint32_t exp = (v >> 3) & 0xf;
	const uint32_t mant = v & 7;
	if (exp == 0xf && mant == 7)
		return bits_f32(sign | 0x7fc00000u);
	if (exp != 0)
		return bits_f32(sign | ((exp + 120) << 23) | (mant << 20));
	/* subnormal: mant * 2^-9, exact in float */
	return sign ? -(float)mant * 0x1p-9f : (float)mant * 0x1p-9f;
}

float fy_f8e8m0_to_f32(uint8_t v)
{
	if (v == 0xff)
		return bits_f32(0x7fc00000u);
	/* 2^-127 is a float subnormal */
	return v == 0 ? bits_f32(0x00400000u) : bits_f32((uint32_t)v << 23);
}

void fy_f32_to_f16_row(const float *x, uint16_t *y, int64_t n)
{
	int64_t i;

	for (i = 0; i < n; i++)
		y[i] = fy_f32_to_f16(x[i]);
}

void fy_f32_to_bf16_row(const float *x, uint16_t *y, int64_t n)
{
	int64_t i;

	for (i = 0; i < n; i++)
		y[i] = fy_f32_to_bf16(x[i]);
}

static float f16_table[65536];
static pthread_once_t f16_table_once = PTHREAD_ONCE_INIT;

static void f16_table_init(void)
{
	for (uint32_t h = 0; h < 65536; h++)
		f16_table[h] = fy_f16_to_f32((uint16_t)h);
}

void fy_f16_to_f32_row(const uint16_t *x, float *y, int64_t n)
{
	pthread_once(&f16_table_once, f16_table_init);
	for (int64_t i = 0; i < n; i++)
		y[i] = f16_table[x[i]];
}
