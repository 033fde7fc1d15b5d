/*
 * AVX2 twins of the integer dot kernels (infer/qdot.c): each block's integer sums from
 * _mm256_maddubs_epi16 (unsigned weights x signed activations, never saturating at these ranges)
 * and _mm256_madd_epi16 (times the sub-block scales), then the block's value by the same float
 * expression as the scalar kernel. A tile decodes each weight block once for up to four tokens.
 */
#include "infer/qdot.h"
#include "quant/iquant.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define INLINE inline __attribute__((always_inline))

AVX2 static INLINE int32_t hsum_i32(__m256i v)
{
	__m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
	s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
	s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
	return _mm_cvtsi128_si32(s);
}

/* Lane 0: the sum of a's lanes, lane 1: the sum of b's. */
AVX2 static INLINE __m128i hsum2_i32(__m256i a, __m256i b)
{
	const __m256i h = _mm256_hadd_epi32(a, b);
	__m128i s = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
	return _mm_hadd_epi32(s, s);
}

/* The sums of the lanes of a, b, c, d in lanes 0-3. */
AVX2 static INLINE __m128i hsum4_i32(__m256i a, __m256i b, __m256i c, __m256i d)
{
	const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(a, b), _mm256_hadd_epi32(c, d));
	return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

AVX2 static INLINE float half(uint16_t h)
{
	return _cvtsh_ss(h);
}

AVX2 static INLINE __m256i load(const void *p)
{
	return _mm256_loadu_si256((const __m256i *)p);
}

/* 16 int16 of which the first eight are a and the last eight b. */
AVX2 static INLINE __m256i pair16(int a, int b)
{
	return _mm256_set_m128i(_mm_set1_epi16((short)b), _mm_set1_epi16((short)a));
}

/* A tile's body for a constant token count: NAME_tile<NT> dispatched by nt. */
#define DISPATCH(NAME)                                                                             \
	AVX2 static void NAME(const uint8_t *w, size_t ldw, int nr, const uint8_t *a, size_t lda,  \
			      int nt, int64_t nb, float *y, int64_t ldy)                           \
	{                                                                                          \
		switch (nt) {                                                                      \
		case 1:                                                                            \
			NAME##_tile(w, ldw, nr, a, lda, 1, nb, y, ldy);                            \
			break;                                                                     \
		case 2:                                                                            \
			NAME##_tile(w, ldw, nr, a, lda, 2, nb, y, ldy);                            \
			break;                                                                     \
		case 3:                                                                            \
			NAME##_tile(w, ldw, nr, a, lda, 3, nb, y, ldy);                            \
			break;                                                                     \
		default:                                                                           \
			NAME##_tile(w, ldw, nr, a, lda, 4, nb, y, ldy);                            \
			break;                                                                     \
		}                                                                                  \
	}

#define ACT(T, t, b) ((const T *)(const void *)(a + (size_t)(t)*lda) + (b))

/* --- Q8_0 ------------------------------------------------------------------------------------- */

/* A block's integer sum of products, in int32 lanes. */
AVX2 static INLINE __m256i q8_0_isum(__m256i wa, __m256i wv, const struct fy_a32 *q)
{
	return _mm256_madd_epi16(_mm256_maddubs_epi16(wa, _mm256_sign_epi8(load(q->qs), wv)),
				 _mm256_set1_epi16(1));
}

/* Four blocks at a time: their sums reduced together, their values (da x d) x isum in four
 * lanes, added to the row's sum one after another. */
AVX2 static INLINE void q8_0_avx2_tile(const uint8_t *w, size_t ldw, int nr, const uint8_t *a,
				       size_t lda, const int nt, int64_t nb, float *y, int64_t ldy)
{
	for (int r = 0; r < nr; r++) {
		const struct blk_q8_0 *x = (const struct blk_q8_0 *)(const void *)(w + r * ldw);
		float s[FY_QDOT_TOKENS] = { 0 };
		int64_t b = 0;
		for (; b + 4 <= nb; b += 4) {
			__m256i wv[4], wa[4];
			for (int k = 0; k < 4; k++) {
				wv[k] = load(x[b + k].qs);
				wa[k] = _mm256_sign_epi8(wv[k], wv[k]);
			}
			const __m128 dw = _mm_cvtph_ps(
				_mm_set_epi16(0, 0, 0, 0, (short)x[b + 3].d, (short)x[b + 2].d,
					      (short)x[b + 1].d, (short)x[b].d));
#pragma GCC unroll 4
			for (int t = 0; t < nt; t++) {
				const struct fy_a32 *q = ACT(struct fy_a32, t, b);
				const __m128i is = hsum4_i32(q8_0_isum(wa[0], wv[0], q),
							     q8_0_isum(wa[1], wv[1], q + 1),
							     q8_0_isum(wa[2], wv[2], q + 2),
							     q8_0_isum(wa[3], wv[3], q + 3));
				const __m128 da = _mm_set_ps(q[3].d, q[2].d, q[1].d, q[0].d);
				float v[4];
				_mm_storeu_ps(v,
					      _mm_mul_ps(_mm_mul_ps(da, dw), _mm_cvtepi32_ps(is)));
				s[t] = (((s[t] + v[0]) + v[1]) + v[2]) + v[3];
			}
		}
		for (; b < nb; b++) {
			const __m256i wv = load(x[b].qs), wa = _mm256_sign_epi8(wv, wv);
			const float dw = half(x[b].d);
			for (int t = 0; t < nt; t++) {
				const struct fy_a32 *q = ACT(struct fy_a32, t, b);
				s[t] += fy_qval_d(q->d, dw, hsum_i32(q8_0_isum(wa, wv, q)));
			}
		}
		for (int t = 0; t < nt; t++)
			y[t * ldy + r] = s[t];
	}
}
DISPATCH(q8_0_avx2)

/* --- Q4_K and Q5_K ---------------------------------------------------------------------------- */

AVX2 static INLINE void k4_avx2_tile(const uint8_t *w, size_t ldw, int nr, const uint8_t *a,
				     size_t lda, const int nt, int64_t nb, float *y, int64_t ldy,
				     const bool q5)
{
	const __m256i m4 = _mm256_set1_epi8(0xF), one = _mm256_set1_epi8(1);
	const size_t bsz = q5 ? sizeof(struct blk_q5_k) : sizeof(struct blk_q4_k);
	for (int r = 0; r < nr; r++) {
		float s[FY_QDOT_TOKENS] = { 0 };
		for (int64_t b = 0; b < nb; b++) {
			const uint8_t *blk = w + r * ldw + (size_t)b * bsz;
			const struct blk_q4_k *x4 = (const struct blk_q4_k *)(const void *)blk;
			const struct blk_q5_k *x5 = (const struct blk_q5_k *)(const void *)blk;
			const uint8_t *qs = q5 ? x5->qs : x4->qs;
			uint8_t sc[16];
			get_scales_mins_k4(q5 ? x5->scales : x4->scales, sc);
			/* the mins, each twice: against the activations' sums of 16 in pairs */
			const __m128i mm = _mm_loadl_epi64((const __m128i *)(const void *)(sc + 8));
			const __m256i m16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mm, mm));
			const __m256i hb = q5 ? load(x5->qh) : _mm256_setzero_si256();
			__m256i acc[FY_QDOT_TOKENS];
			for (int t = 0; t < nt; t++)
				acc[t] = _mm256_setzero_si256();
			for (int j = 0; j < 4; j++) {
				const __m256i qv = load(qs + 32 * j);
				__m256i lo = _mm256_and_si256(qv, m4);
				__m256i hi = _mm256_and_si256(_mm256_srli_epi16(qv, 4), m4);
				if (q5) {
					const __m256i h =
						_mm256_srl_epi16(hb, _mm_cvtsi32_si128(2 * j));
					lo = _mm256_or_si256(
						lo, _mm256_slli_epi16(_mm256_and_si256(h, one), 4));
					hi = _mm256_or_si256(
						hi, _mm256_slli_epi16(
							    _mm256_and_si256(
								    _mm256_srli_epi16(h, 1), one),
							    4));
				}
				const __m256i slo = _mm256_set1_epi16(sc[2 * j]);
				const __m256i shi = _mm256_set1_epi16(sc[2 * j + 1]);
#pragma GCC unroll 4
				for (int t = 0; t < nt; t++) {
					const struct blk_q8_k *q = ACT(struct blk_q8_k, t, b);
					const __m256i pl = _mm256_madd_epi16(
						_mm256_maddubs_epi16(lo, load(q->qs + 64 * j)),
						slo);
					const __m256i ph = _mm256_madd_epi16(
						_mm256_maddubs_epi16(hi, load(q->qs + 64 * j + 32)),
						shi);
					acc[t] = _mm256_add_epi32(acc[t], _mm256_add_epi32(pl, ph));
				}
			}
			const float d = half(q5 ? x5->d : x4->d),
				    dmin = half(q5 ? x5->dmin : x4->dmin);
			for (int t = 0; t < nt; t++) {
				const struct blk_q8_k *q = ACT(struct blk_q8_k, t, b);
				const __m128i is =
					hsum2_i32(acc[t], _mm256_madd_epi16(m16, load(q->bsums)));
				s[t] += fy_qval_k4(q->d, d, dmin, _mm_cvtsi128_si32(is),
						   _mm_extract_epi32(is, 1));
			}
		}
		for (int t = 0; t < nt; t++)
			y[t * ldy + r] = s[t];
	}
}

AVX2 static INLINE void q4_k_avx2_tile(const uint8_t *w, size_t ldw, int nr, const uint8_t *a,
				       size_t lda, const int nt, int64_t nb, float *y, int64_t ldy)
{
	k4_avx2_tile(w, ldw, nr, a, lda, nt, nb, y, ldy, false);
}
DISPATCH(q4_k_avx2)

AVX2 static INLINE void q5_k_avx2_tile(const uint8_t *w, size_t ldw, int nr, const uint8_t *a,
				       size_t lda, const int nt, int64_t nb, float *y, int64_t ldy)
{
	k4_avx2_tile(w, ldw, nr, a, lda, nt, nb, y, ldy, true);
}
DISPATCH(q5_k_avx2)

/* --- Q6_K ------------------------------------------------------------------------------------- */

AVX2 static INLINE void q6_k_avx2_tile(const uint8_t *w, size_t ldw, int nr, const uint8_t *a,
				       size_t lda, const int nt, int64_t nb, float *y, int64_t ldy)
{
	const __m256i m4 = _mm256_set1_epi8(0xF), m3 = _mm256_set1_epi8(3);
	for (int r = 0; r < nr; r++) {
		const struct blk_q6_k *x = (const struct blk_q6_k *)(const void *)(w + r * ldw);
		float s[FY_QDOT_TOKENS] = { 0 };
		for (int64_t b = 0; b < nb; b++) {
			__m256i acc[FY_QDOT_TOKENS];
			for (int t = 0; t < nt; t++)
				acc[t] = _mm256_setzero_si256();
			for (int h = 0; h < 2; h++) {
				const __m256i l1 = load(x[b].ql + 64 * h);
				const __m256i l2 = load(x[b].ql + 64 * h + 32);
				const __m256i hb = load(x[b].qh + 32 * h);
				__m256i v[4];
				v[0] = _mm256_or_si256(
					_mm256_and_si256(l1, m4),
					_mm256_slli_epi16(_mm256_and_si256(hb, m3), 4));
				v[1] = _mm256_or_si256(
					_mm256_and_si256(l2, m4),
					_mm256_slli_epi16(
						_mm256_and_si256(_mm256_srli_epi16(hb, 2), m3), 4));
				v[2] = _mm256_or_si256(
					_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
					_mm256_slli_epi16(
						_mm256_and_si256(_mm256_srli_epi16(hb, 4), m3), 4));
				v[3] = _mm256_or_si256(
					_mm256_and_si256(_mm256_srli_epi16(l2, 4), m4),
					_mm256_slli_epi16(
						_mm256_and_si256(_mm256_srli_epi16(hb, 6), m3), 4));
				const int8_t *sc = x[b].scales + 8 * h;
				for (int k = 0; k < 4; k++) {
					const __m256i sk = pair16(sc[2 * k], sc[2 * k + 1]);
#pragma GCC unroll 4
					for (int t = 0; t < nt; t++) {
						const struct blk_q8_k *q =
							ACT(struct blk_q8_k, t, b);
						const __m256i p = _mm256_maddubs_epi16(
							v[k], load(q->qs + 128 * h + 32 * k));
						acc[t] = _mm256_add_epi32(acc[t],
									  _mm256_madd_epi16(p, sk));
					}
				}
			}
			const __m256i sc16 = _mm256_cvtepi8_epi16(
				_mm_loadu_si128((const __m128i *)(const void *)x[b].scales));
			const float d = half(x[b].d);
			for (int t = 0; t < nt; t++) {
				const struct blk_q8_k *q = ACT(struct blk_q8_k, t, b);
				const __m128i is =
					hsum2_i32(acc[t], _mm256_madd_epi16(sc16, load(q->bsums)));
				s[t] += fy_qval_d(q->d, d,
						  _mm_cvtsi128_si32(is) -
							  32 * _mm_extract_epi32(is, 1));
			}
		}
		for (int t = 0; t < nt; t++)
			y[t * ldy + r] = s[t];
	}
}
DISPATCH(q6_k_avx2)

/* --- IQ4_XS ----------------------------------------------------------------------------------- */

AVX2 static INLINE void iq4_xs_avx2_tile(const uint8_t *w, size_t ldw, int nr, const uint8_t *a,
					 size_t lda, const int nt, int64_t nb, float *y,
					 int64_t ldy)
{
	const __m128i lut = _mm_loadu_si128((const __m128i *)(const void *)fy_iq4nl_values);
	const __m128i m4 = _mm_set1_epi8(0xF);
	for (int r = 0; r < nr; r++) {
		const struct blk_iq4_xs *x = (const struct blk_iq4_xs *)(const void *)(w + r * ldw);
		float s[FY_QDOT_TOKENS] = { 0 };
		for (int64_t b = 0; b < nb; b++) {
			__m256i acc[FY_QDOT_TOKENS];
			for (int t = 0; t < nt; t++)
				acc[t] = _mm256_setzero_si256();
			for (int ib = 0; ib < 8; ib++) {
				const int ls = ((x[b].scales_l[ib / 2] >> 4 * (ib % 2)) & 0xF) |
					       (((x[b].scales_h >> 2 * ib) & 3) << 4);
				const __m128i qv = _mm_loadu_si128(
					(const __m128i *)(const void *)(x[b].qs + 16 * ib));
				const __m256i v = _mm256_set_m128i(
					_mm_shuffle_epi8(lut,
							 _mm_and_si128(_mm_srli_epi16(qv, 4), m4)),
					_mm_shuffle_epi8(lut, _mm_and_si128(qv, m4)));
				const __m256i va = _mm256_sign_epi8(v, v);
				const __m256i sl = _mm256_set1_epi16((short)(ls - 32));
#pragma GCC unroll 4
				for (int t = 0; t < nt; t++) {
					const struct blk_q8_k *q = ACT(struct blk_q8_k, t, b);
					const __m256i p = _mm256_maddubs_epi16(
						va, _mm256_sign_epi8(load(q->qs + 32 * ib), v));
					acc[t] = _mm256_add_epi32(acc[t], _mm256_madd_epi16(p, sl));
				}
			}
			const float d = half(x[b].d);
			for (int t = 0; t < nt; t++) {
				const struct blk_q8_k *q = ACT(struct blk_q8_k, t, b);
				s[t] += fy_qval_d(q->d, d, hsum_i32(acc[t]));
			}
		}
		for (int t = 0; t < nt; t++)
			y[t * ldy + r] = s[t];
	}
}
DISPATCH(iq4_xs_avx2)

fy_qdot_fn fy_qdot_avx2(enum fy_dtype t)
{
	switch (t) {
	case FY_DTYPE_Q8_0:
		return q8_0_avx2;
	case FY_DTYPE_Q4_K:
		return q4_k_avx2;
	case FY_DTYPE_Q5_K:
		return q5_k_avx2;
	case FY_DTYPE_Q6_K:
		return q6_k_avx2;
	case FY_DTYPE_IQ4_XS:
		return iq4_xs_avx2;
	default:
		return NULL;
	}
}

#endif
