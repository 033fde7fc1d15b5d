/*
 * AVX2/FMA twins of the scalar kernels (infer/kernels.c), compiled for those instructions
 * function by function and chosen at run time only when the CPU reports both. The unit tests
 * hold each one against its scalar twin.
 */
#include "infer/infer.h"
#include "infer/qdot.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#include <string.h>

#define AVX2 __attribute__((target("avx2,fma,f16c")))

AVX2 static float hsum(__m256 v)
{
	__m128 lo = _mm256_castps256_ps128(v);
	__m128 hi = _mm256_extractf128_ps(v, 1);
	lo = _mm_add_ps(lo, hi);
	lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
	lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
	return _mm_cvtss_f32(lo);
}

AVX2 static float dot_avx2(const float *a, const float *b, int64_t n)
{
	__m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
	int64_t i = 0;
	for (; i + 16 <= n; i += 16) {
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
		s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
	}
	for (; i + 8 <= n; i += 8)
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
	float s = hsum(_mm256_add_ps(s0, s1));
	for (; i < n; i++)
		s += a[i] * b[i];
	return s;
}

/* Eight F16 values as floats (exact). */
AVX2 static inline __m256 half8(const uint16_t *p)
{
	return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)p));
}

/* Eight BF16 values as floats (exact: the top half of each). */
AVX2 static inline __m256 bf16x8(const uint16_t *p)
{
	return _mm256_castsi256_ps(_mm256_slli_epi32(
		_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)p)), 16));
}

AVX2 static inline float bf16x1(uint16_t h)
{
	const uint32_t u = (uint32_t)h << 16;
	float f;
	memcpy(&f, &u, sizeof(f));
	return f;
}

/* How a tile reads its rows: F32, F16 or BF16 (a constant in each caller). */
enum rows { ROWS_F32, ROWS_F16, ROWS_BF16 };

/* Row r's eight values at i, and its value at k. */
#define TILE_ROW8(w, kind, ldw, r, i)                                                              \
	((kind) == ROWS_F16    ? half8((const uint16_t *)(w) + (r) * (ldw) + (i))                  \
	 : (kind) == ROWS_BF16 ? bf16x8((const uint16_t *)(w) + (r) * (ldw) + (i))                 \
			       : _mm256_loadu_ps((const float *)(w) + (r) * (ldw) + (i)))
#define TILE_ROW1(w, kind, ldw, r, k)                                                              \
	((kind) == ROWS_F16    ? _cvtsh_ss(((const uint16_t *)(w))[(r) * (ldw) + (k)])             \
	 : (kind) == ROWS_BF16 ? bf16x1(((const uint16_t *)(w))[(r) * (ldw) + (k)])                \
			       : ((const float *)(w))[(r) * (ldw) + (k)])

/* Four rows against one activation vector: x is loaded once for the four. */
AVX2 static inline __attribute__((always_inline)) void
tile4x1(const void *w, enum rows kind, int64_t ldw, const float *x, int64_t n, float out[4])
{
	__m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
	__m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
	int64_t i = 0;
	for (; i + 8 <= n; i += 8) {
		const __m256 xv = _mm256_loadu_ps(x + i);
		s0 = _mm256_fmadd_ps(TILE_ROW8(w, kind, ldw, 0, i), xv, s0);
		s1 = _mm256_fmadd_ps(TILE_ROW8(w, kind, ldw, 1, i), xv, s1);
		s2 = _mm256_fmadd_ps(TILE_ROW8(w, kind, ldw, 2, i), xv, s2);
		s3 = _mm256_fmadd_ps(TILE_ROW8(w, kind, ldw, 3, i), xv, s3);
	}
	out[0] = hsum(s0);
	out[1] = hsum(s1);
	out[2] = hsum(s2);
	out[3] = hsum(s3);
	for (; i < n; i++) {
		out[0] += TILE_ROW1(w, kind, ldw, 0, i) * x[i];
		out[1] += TILE_ROW1(w, kind, ldw, 1, i) * x[i];
		out[2] += TILE_ROW1(w, kind, ldw, 2, i) * x[i];
		out[3] += TILE_ROW1(w, kind, ldw, 3, i) * x[i];
	}
}

AVX2 static void dot4_avx2(const float *w, int64_t ldw, const float *x, int64_t n, float out[4])
{
	tile4x1(w, ROWS_F32, ldw, x, n, out);
}

AVX2 static void dot4_f16_avx2(const uint16_t *w, int64_t ldw, const float *x, int64_t n,
			       float out[4])
{
	tile4x1(w, ROWS_F16, ldw, x, n, out);
}

AVX2 static void dot4_bf16_avx2(const uint16_t *w, int64_t ldw, const float *x, int64_t n,
				float out[4])
{
	tile4x1(w, ROWS_BF16, ldw, x, n, out);
}

/* Four rows against three activation vectors: twelve running sums, each as dot4_avx2 keeps it
 * (one lane vector over the row, summed the same way, the tail added the same way). With f16
 * (a constant in each caller) the rows are F16, converted as they are read (F16C): the same
 * values and operations as on the converted rows. */
AVX2 static inline __attribute__((always_inline)) void tile4x3(const void *w, enum rows f16,
							       int64_t ldw, const float *x,
							       int64_t ldx, int64_t n, float *y,
							       int64_t ldy)
{
	const float *x0 = x, *x1 = x + ldx, *x2 = x + 2 * ldx;
	__m256 s00 = _mm256_setzero_ps(), s01 = s00, s02 = s00, s10 = s00, s11 = s00, s12 = s00;
	__m256 s20 = s00, s21 = s00, s22 = s00, s30 = s00, s31 = s00, s32 = s00;
	int64_t i = 0;
	for (; i + 8 <= n; i += 8) {
		const __m256 a = _mm256_loadu_ps(x0 + i), b = _mm256_loadu_ps(x1 + i);
		const __m256 c = _mm256_loadu_ps(x2 + i);
		__m256 wv = TILE_ROW8(w, f16, ldw, 0, i);
		s00 = _mm256_fmadd_ps(wv, a, s00);
		s01 = _mm256_fmadd_ps(wv, b, s01);
		s02 = _mm256_fmadd_ps(wv, c, s02);
		wv = TILE_ROW8(w, f16, ldw, 1, i);
		s10 = _mm256_fmadd_ps(wv, a, s10);
		s11 = _mm256_fmadd_ps(wv, b, s11);
		s12 = _mm256_fmadd_ps(wv, c, s12);
		wv = TILE_ROW8(w, f16, ldw, 2, i);
		s20 = _mm256_fmadd_ps(wv, a, s20);
		s21 = _mm256_fmadd_ps(wv, b, s21);
		s22 = _mm256_fmadd_ps(wv, c, s22);
		wv = TILE_ROW8(w, f16, ldw, 3, i);
		s30 = _mm256_fmadd_ps(wv, a, s30);
		s31 = _mm256_fmadd_ps(wv, b, s31);
		s32 = _mm256_fmadd_ps(wv, c, s32);
	}
	const __m256 sums[3][4] = { { s00, s10, s20, s30 },
				    { s01, s11, s21, s31 },
				    { s02, s12, s22, s32 } };
	const float *xt[3] = { x0, x1, x2 };
	for (int t = 0; t < 3; t++) {
		for (int r = 0; r < 4; r++) {
			float o = hsum(sums[t][r]);
			for (int64_t k = i; k < n; k++)
				o += TILE_ROW1(w, f16, ldw, r, k) * xt[t][k];
			y[t * ldy + r] = o;
		}
	}
}

AVX2 static void dot4x3_avx2(const float *w, int64_t ldw, const float *x, int64_t ldx, int64_t n,
			     float *y, int64_t ldy)
{
	tile4x3(w, ROWS_F32, ldw, x, ldx, n, y, ldy);
}

AVX2 static void dot4x3_f16_avx2(const uint16_t *w, int64_t ldw, const float *x, int64_t ldx,
				 int64_t n, float *y, int64_t ldy)
{
	tile4x3(w, ROWS_F16, ldw, x, ldx, n, y, ldy);
}

AVX2 static void dot4x3_bf16_avx2(const uint16_t *w, int64_t ldw, const float *x, int64_t ldx,
				  int64_t n, float *y, int64_t ldy)
{
	tile4x3(w, ROWS_BF16, ldw, x, ldx, n, y, ldy);
}

AVX2 static void axpy_avx2(float a, const float *x, float *y, int64_t n)
{
	const __m256 av = _mm256_set1_ps(a);
	int64_t i = 0;
	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(
			y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
	for (; i < n; i++)
		y[i] += a * x[i];
}

static const struct fy_kernels avx2 = {
	.name = "avx2",
	.dot = dot_avx2,
	.dot4 = dot4_avx2,
	.dot4x3 = dot4x3_avx2,
	.dot4x3_f16 = dot4x3_f16_avx2,
	.dot4x3_bf16 = dot4x3_bf16_avx2,
	.dot4_f16 = dot4_f16_avx2,
	.dot4_bf16 = dot4_bf16_avx2,
	.axpy = axpy_avx2,
	.qdot = fy_qdot_avx2,
};

const struct fy_kernels *fy_kernels_avx2(void)
{
	unsigned a, b, c, d;
	__builtin_cpu_init();
	/* F16C is CPUID leaf 1, ECX bit 29 (every AVX2 CPU has it; checked all the same) */
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
	    __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29)))
		return &avx2;
	return NULL;
}

#else

const struct fy_kernels *fy_kernels_avx2(void)
{
	return NULL;
}

#endif
