/*
 * AVX2 twins of the dequantizers the mixtures use most (F16, BF16, Q4_0, Q8_0, Q4_K, Q5_K, Q6_K),
 * compiled for AVX2 and F16C function by function and chosen at run time (quant/traits.c) when the
 * CPU has both. Each computes every value with the same operations in the same order as its scalar
 * twin (a product of two floats, then for Q4_K/Q5_K a difference; no fused multiply-add), so the
 * output is bit for bit the scalar dequantizer's (a NaN scale gives NaN either way, its payload
 * aside): the unit tests compare them on random blocks and against llama.cpp's vectors. Only the
 * unpacking of the bits and the int-to-float conversions are vectorized.
 */
#include "quant/quant_private.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,f16c")))

/* y[0..8) = (float)q[0..8) * d for 8 signed bytes. */
AVX2 static inline void i8x8_mul(const int8_t *q, __m256 d, float *y)
{
	const __m256i v = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)q));
	_mm256_storeu_ps(y, _mm256_mul_ps(_mm256_cvtepi32_ps(v), d));
}

/* y[0..32) = (float)q[0..32) * d. */
AVX2 static inline void i8x32_mul(const int8_t *q, __m256 d, float *y)
{
	for (int k = 0; k < 32; k += 8)
		i8x8_mul(q + k, d, y + k);
}

/* The 32 signed bytes of q as four vectors of 8 floats. */
AVX2 static inline void i8x32_floats(__m256i q, __m256 f[4])
{
	const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
	f[0] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo));
	f[1] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8)));
	f[2] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi));
	f[3] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8)));
}

/* y[0..32) = (float)q[0..32) * d - m, the product rounded first (as the scalar code). */
AVX2 static inline void i8x32_mul_sub(__m256i q, __m256 d, __m256 m, float *y)
{
	__m256 f[4];
	i8x32_floats(q, f);
	for (int k = 0; k < 4; k++)
		_mm256_storeu_ps(y + 8 * k, _mm256_sub_ps(_mm256_mul_ps(d, f[k]), m));
}

/* A half-precision number as float: F16C's conversion, exact (a signalling NaN comes out
 * quiet, where the scalar conversion keeps it signalling: NaN either way). */
AVX2 static inline float half(uint16_t h)
{
	return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h)));
}

/* F16 and BF16 rows: eight values per conversion instruction (exact; a signalling NaN comes back
 * quiet, which the scalar table keeps as it is) */
AVX2 static void f16_avx2(const void *vx, float *y, int64_t n)
{
	const uint16_t *x = vx;
	int64_t i = 0;
	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))));
	for (; i < n; i++)
		y[i] = half(x[i]);
}

AVX2 static void bf16_avx2(const void *vx, float *y, int64_t n)
{
	const uint16_t *x = vx;
	int64_t i = 0;
	for (; i + 8 <= n; i += 8) {
		const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(x + i)));
		_mm256_storeu_ps(y + i, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
	}
	for (; i < n; i++) {
		const uint32_t u = (uint32_t)x[i] << 16;
		memcpy(y + i, &u, sizeof(u));
	}
}

AVX2 static void q8_0_avx2(const void *vx, float *y, int64_t n)
{
	const struct blk_q8_0 *x = vx;
	for (int64_t i = 0; i < n / 32; i++, y += 32)
		i8x32_mul(x[i].qs, _mm256_set1_ps(half(x[i].d)), y);
}

AVX2 static void q4_0_avx2(const void *vx, float *y, int64_t n)
{
	const struct blk_q4_0 *x = vx;
	const __m128i lo = _mm_set1_epi8(0x0F), eight = _mm_set1_epi8(8);
	int8_t q[32];
	for (int64_t i = 0; i < n / 32; i++, y += 32) {
		const __m128i b = _mm_loadu_si128((const __m128i *)(const void *)x[i].qs);
		_mm_storeu_si128((__m128i *)(void *)q, _mm_sub_epi8(_mm_and_si128(b, lo), eight));
		_mm_storeu_si128((__m128i *)(void *)(q + 16),
				 _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(b, 4), lo), eight));
		i8x32_mul(q, _mm256_set1_ps(half(x[i].d)), y);
	}
}

/* One Q4_K/Q5_K super-block; qh NULL for Q4_K. */
AVX2 static void k4_block(const uint8_t *scales, uint16_t d16, uint16_t dmin16, const uint8_t *q,
			  const uint8_t *qh, float *y)
{
	const float d = half(d16), min = half(dmin16);
	const __m256i lo = _mm256_set1_epi8(0x0F), sixteen = _mm256_set1_epi8(16);
	const __m256i hbits = qh != NULL ? _mm256_loadu_si256((const __m256i *)(const void *)qh)
					 : _mm256_setzero_si256();
	for (int j = 0, is = 0; j < FY_QK_K; j += 64, q += 32, is += 2, y += 64) {
		uint8_t sc, m;
		const __m256i b = _mm256_loadu_si256((const __m256i *)(const void *)q);
		__m256i a = _mm256_and_si256(b, lo);
		__m256i c = _mm256_and_si256(_mm256_srli_epi16(b, 4), lo);
		if (qh !=
		    NULL) { /* bit `is` of qh adds 16 to the low nibble, bit is + 1 to the high */
			const __m256i u1 = _mm256_set1_epi8((char)(1 << is));
			const __m256i u2 = _mm256_set1_epi8((char)(2 << is));
			a = _mm256_add_epi8(
				a,
				_mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hbits, u1), u1),
						 sixteen));
			c = _mm256_add_epi8(
				c,
				_mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hbits, u2), u2),
						 sixteen));
		}
		get_scale_min_k4(is + 0, scales, &sc, &m);
		i8x32_mul_sub(a, _mm256_set1_ps(d * (float)sc), _mm256_set1_ps(min * (float)m), y);
		get_scale_min_k4(is + 1, scales, &sc, &m);
		i8x32_mul_sub(c, _mm256_set1_ps(d * (float)sc), _mm256_set1_ps(min * (float)m),
			      y + 32);
	}
}

AVX2 static void q4_k_avx2(const void *vx, float *y, int64_t n)
{
	const struct blk_q4_k *x = vx;
	for (int64_t i = 0; i < n / FY_QK_K; i++)
		k4_block(x[i].scales, x[i].d, x[i].dmin, x[i].qs, NULL, y + FY_QK_K * i);
}

AVX2 static void q5_k_avx2(const void *vx, float *y, int64_t n)
{
	const struct blk_q5_k *x = vx;
	for (int64_t i = 0; i < n / FY_QK_K; i++)
		k4_block(x[i].scales, x[i].d, x[i].dmin, x[i].qs, x[i].qh, y + FY_QK_K * i);
}

/* Q6_K: per 128 values, 4 groups of 32 from ql (low 4 bits) and qh (high 2), minus 32; each 16
 * values share a scale: y = (d * scale) * q, as the scalar code multiplies. */
AVX2 static void q6_k_avx2(const void *vx, float *y, int64_t n)
{
	const struct blk_q6_k *x = vx;
	const __m256i lo = _mm256_set1_epi8(0x0F), three = _mm256_set1_epi8(3);
	const __m256i bias = _mm256_set1_epi8(32);
	for (int64_t i = 0; i < n / FY_QK_K; i++) {
		const float d = half(x[i].d);
		const uint8_t *ql = x[i].ql, *qh = x[i].qh;
		const int8_t *sc = x[i].scales;
		for (int nn = 0; nn < FY_QK_K; nn += 128, y += 128, ql += 64, qh += 32, sc += 8) {
			const __m256i l0 = _mm256_loadu_si256((const __m256i *)(const void *)ql);
			const __m256i l1 =
				_mm256_loadu_si256((const __m256i *)(const void *)(ql + 32));
			const __m256i h = _mm256_loadu_si256((const __m256i *)(const void *)qh);
			const __m256i q[4] = {
				_mm256_or_si256(_mm256_and_si256(l0, lo),
						_mm256_slli_epi16(_mm256_and_si256(h, three), 4)),
				_mm256_or_si256(
					_mm256_and_si256(l1, lo),
					_mm256_slli_epi16(
						_mm256_and_si256(_mm256_srli_epi16(h, 2), three),
						4)),
				_mm256_or_si256(
					_mm256_and_si256(_mm256_srli_epi16(l0, 4), lo),
					_mm256_slli_epi16(
						_mm256_and_si256(_mm256_srli_epi16(h, 4), three),
						4)),
				_mm256_or_si256(
					_mm256_and_si256(_mm256_srli_epi16(l1, 4), lo),
					_mm256_slli_epi16(
						_mm256_and_si256(_mm256_srli_epi16(h, 6), three),
						4)),
			};
			for (int g = 0; g < 4; g++) {
				/* values 32g..32g+15 use scale 2g, the next 16 scale 2g + 1 */
				const __m256 s0 = _mm256_set1_ps(d * (float)sc[2 * g]);
				const __m256 s1 = _mm256_set1_ps(d * (float)sc[2 * g + 1]);
				__m256 f[4];
				i8x32_floats(_mm256_sub_epi8(q[g], bias), f);
				_mm256_storeu_ps(y + 32 * g, _mm256_mul_ps(s0, f[0]));
				_mm256_storeu_ps(y + 32 * g + 8, _mm256_mul_ps(s0, f[1]));
				_mm256_storeu_ps(y + 32 * g + 16, _mm256_mul_ps(s1, f[2]));
				_mm256_storeu_ps(y + 32 * g + 24, _mm256_mul_ps(s1, f[3]));
			}
		}
	}
}

void fy_dequant_avx2_table(fy_quant_to_float_fn *t)
{
	unsigned a, b, c, d;
	__builtin_cpu_init();
	/* F16C is CPUID leaf 1, ECX bit 29 (clang's __builtin_cpu_supports does not know it) */
	if (!__builtin_cpu_supports("avx2") || !__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 29)))
		return;
	t[FY_DTYPE_F16] = f16_avx2;
	t[FY_DTYPE_BF16] = bf16_avx2;
	t[FY_DTYPE_Q4_0] = q4_0_avx2;
	t[FY_DTYPE_Q8_0] = q8_0_avx2;
	t[FY_DTYPE_Q4_K] = q4_k_avx2;
	t[FY_DTYPE_Q5_K] = q5_k_avx2;
	t[FY_DTYPE_Q6_K] = q6_k_avx2;
}

#else

void fy_dequant_avx2_table(fy_quant_to_float_fn *t)
{
	(void)t;
}

#endif
