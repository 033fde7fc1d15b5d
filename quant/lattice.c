/*
 * The lattices the i-quants search (ggml's iq2xs_init_impl and iq3xs_init_impl): a codebook of n
 * points of dim coordinates, each coordinate an odd level 2l+1; a map from every packed level
 * vector (bits per coordinate) to its point, or, for a vector that is not a point, to the list
 * of its nearest points — those at the nwant smallest squared distances, by distance then index.
 * Built once per process on first use (pthread_once): tens of milliseconds.
 */
#include "quant/iquant.h"
#include "quant/lattice.h"
#include "quant/quant_private.h"

#include <float.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define LANES_AVX2 1
#define AVX2 __attribute__((target("avx2")))
#endif

struct spec {
	const uint16_t *kgrid;
	int n, dim, bits, nwant, map_size;
};

static const struct spec specs[FY_LATTICE_COUNT] = {
	[FY_LATTICE_IQ2_XXS] = { fy_kgrid_2bit_256, 256, 8, 2, 2, 43692 },
	[FY_LATTICE_IQ2_XS] = { fy_kgrid_2bit_512, 512, 8, 2, 2, 43692 },
	[FY_LATTICE_IQ2_S] = { fy_kgrid_2bit_1024, 1024, 8, 2, 1, 43692 },
	[FY_LATTICE_IQ1] = { fy_kgrid_1bit_2048, 2048, 8, 2, 3, 43692 },
	[FY_LATTICE_IQ3_256] = { fy_kgrid_256, 256, 4, 3, 2, 4096 },
	[FY_LATTICE_IQ3_512] = { fy_kgrid_512, 512, 4, 3, 3, 4096 },
};

static struct fy_lattice lattices[FY_LATTICE_COUNT];
static pthread_once_t once[FY_LATTICE_COUNT] = { PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT,
						 PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT,
						 PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT };

static void unpack(int u, int dim, int bits, int8_t *pos)
{
	for (int k = 0; k < dim; k++)
		pos[k] = (int8_t)(2 * ((u >> bits * k) & ((1 << bits) - 1)) + 1);
}

/* The neighbours of level vector u: the points at the nwant smallest distances, written to
 * out[1..] (room for n) in (distance, index) order, their count in out[0]. d2 is scratch. */
static int neighbours(const struct fy_lattice *g, int nwant, int u, int *d2, uint16_t *out)
{
	int8_t pos[8];
	int thr[3];
	int have = 0;
	unpack(u, g->dim, g->bits, pos);
	for (int j = 0; j < g->n; j++) {
		const int8_t *pg = g->pos + (size_t)j * (size_t)g->dim;
		int d = 0;
		for (int k = 0; k < g->dim; k++)
			d += (pg[k] - pos[k]) * (pg[k] - pos[k]);
		d2[j] = d;
		/* keep the nwant smallest distinct distances, sorted */
		int at = have;
		while (at > 0 && thr[at - 1] > d)
			at--;
		if ((at > 0 && thr[at - 1] == d) || at >= nwant)
			continue;
		if (have < nwant)
			have++;
		for (int m = have - 1; m > at; m--)
			thr[m] = thr[m - 1];
		thr[at] = d;
	}
	int count = 0;
	for (int t = 0; t < have; t++)
		for (int j = 0; j < g->n; j++)
			if (d2[j] == thr[t])
				out[1 + count++] = (uint16_t)j;
	out[0] = (uint16_t)count;
	return count;
}

/* A level vector fy_lattice_find can ask for: every 2-bit coordinate at most 2. */
static bool reachable(int u, int dim, int bits)
{
	for (int k = 0; bits == 2 && k < dim; k++)
		if (((u >> 2 * k) & 3) == 3)
			return false;
	return true;
}

/* Whether the AVX2 neighbour search runs: the CPU has AVX2 and FERRY_SIMD is not "scalar". */
static bool use_lanes(void)
{
#ifdef LANES_AVX2
	const char *env = getenv("FERRY_SIMD");
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2") && (env == NULL || strcmp(env, "scalar") != 0);
#else
	return false;
#endif
}

/* The lists transposed for the AVX2 search (struct fy_lattice's lanes). False: out of memory. */
static bool build_lanes(struct fy_lattice *g)
{
	size_t total = 0;
	g->lane_at = calloc((size_t)g->map_size, sizeof(*g->lane_at));
	if (g->lane_at == NULL)
		return false;
	for (int u = 0; u < g->map_size; u++)
		if (g->map[u] < 0 && g->map[u] != INT32_MIN)
			total += (size_t)(g->nb[-g->map[u] - 1] + 7) / 8 * 8 * (size_t)g->dim;
	if (total > UINT32_MAX || (g->lanes = malloc(total ? total : 1)) == NULL)
		return false;
	size_t at = 0;
	for (int u = 0; u < g->map_size; u++) {
		if (g->map[u] >= 0 || g->map[u] == INT32_MIN)
			continue;
		const uint16_t *nb = g->nb + (-g->map[u] - 1);
		g->lane_at[u] = (uint32_t)at;
		for (int c = 0; c < nb[0]; c += 8, at += 8 * (size_t)g->dim)
			for (int lane = 0; lane < 8; lane++) {
				const int8_t *p =
					g->pos +
					(size_t)nb[1 + imin(c + lane, nb[0] - 1)] * (size_t)g->dim;
				for (int i = 0; i < g->dim; i++)
					g->lanes[at + 8 * (size_t)i + (size_t)lane] =
						(int8_t)((p[i] - 1) / 2);
			}
	}
	return true;
}

static void build(int which)
{
	const struct spec *s = &specs[which];
	struct fy_lattice *g = &lattices[which];
	g->n = s->n;
	g->dim = s->dim;
	g->bits = s->bits;
	g->map_size = s->map_size;
	g->pos = malloc((size_t)s->n * (size_t)s->dim);
	g->lev = malloc((size_t)s->n * (size_t)s->dim);
	g->posf = malloc((size_t)s->n * (size_t)s->dim * sizeof(float));
	g->map = malloc((size_t)s->map_size * sizeof(*g->map));
	int *d2 = malloc((size_t)s->n * sizeof(int));
	if (g->pos == NULL || g->lev == NULL || g->posf == NULL || g->map == NULL || d2 == NULL)
		goto fail;
	for (int k = 0; k < s->n; k++) {
		int8_t *p = g->pos + (size_t)k * (size_t)s->dim;
		unpack(s->kgrid[k], s->dim, s->bits, p);
		for (int i = 0; i < s->dim; i++) {
			g->posf[(size_t)k * (size_t)s->dim + (size_t)i] = p[i];
			g->lev[(size_t)k * (size_t)s->dim + (size_t)i] = (int8_t)((p[i] - 1) / 2);
		}
	}
	for (int i = 0; i < s->map_size; i++)
		g->map[i] = -1;
	for (int k = 0; k < s->n; k++)
		if (s->kgrid[k] < s->map_size)
			g->map[s->kgrid[k]] = k;
	/* the lists, only for level vectors a search can produce (IQ1/IQ2: levels 0..2, so no
	 * coordinate is 3: 6,561 of the 43,692 entries ggml fills) */
	size_t at = 0, cap = 0;
	for (int u = 0; u < s->map_size; u++) {
		if (g->map[u] >= 0)
			continue;
		if (!reachable(u, s->dim, s->bits)) {
			g->map[u] = INT32_MIN; /* never looked up (fy_lattice_find clamps) */
			continue;
		}
		if (cap - at < (size_t)s->n + 1) {
			const size_t ncap = cap ? cap * 2 : 65536;
			uint16_t *p = realloc(g->nb, ncap * sizeof(*p));
			if (p == NULL)
				goto fail;
			g->nb = p;
			cap = ncap;
		}
		g->map[u] = -(int32_t)(at + 1);
		at += 1 + (size_t)neighbours(g, s->nwant, u, d2, g->nb + at);
	}
	free(d2);
	d2 = NULL;
	/* IQ1's search (fy_lattice_find_iq1) reads the lists one point at a time */
	if (which != FY_LATTICE_IQ1 && use_lanes() && !build_lanes(g))
		goto fail;
	g->ready = true;
	return;
fail:
	free(d2);
	free(g->pos);
	free(g->lev);
	free(g->posf);
	free(g->map);
	free(g->nb);
	free(g->lane_at);
	free(g->lanes);
	g->pos = NULL;
	g->lev = NULL;
	g->posf = NULL;
	g->map = NULL;
	g->nb = NULL;
	g->lane_at = NULL;
	g->lanes = NULL;
}

#define ONCE_FN(i)                                                                                 \
	static void build_##i(void)                                                                \
	{                                                                                          \
		build(i);                                                                          \
	}
ONCE_FN(0)
ONCE_FN(1)
ONCE_FN(2)
ONCE_FN(3)
ONCE_FN(4)
ONCE_FN(5)
static void (*const builders[FY_LATTICE_COUNT])(void) = { build_0, build_1, build_2,
							  build_3, build_4, build_5 };

const struct fy_lattice *fy_lattice_get(enum fy_lattice_kind which)
{
	pthread_once(&once[which], builders[which]);
	return lattices[which].ready ? &lattices[which] : NULL;
}

#ifdef LANES_AVX2
/* The distances of a chunk's eight points: each coordinate's term picked by the points' levels
 * from that coordinate's table t[i], added in coordinate order. */
AVX2 static inline __attribute__((always_inline)) __m256 chunk_d2(const int8_t *q, const __m256 *t,
								  int dim)
{
	__m256 d2 = _mm256_setzero_ps();
#pragma GCC unroll 8
	for (int i = 0; i < dim; i++) {
		const __m256i l = _mm256_cvtepu8_epi32(
			_mm_loadl_epi64((const __m128i *)(const void *)(q + 8 * i)));
		d2 = _mm256_add_ps(d2, _mm256_permutevar8x32_ps(t[i], l));
	}
	return d2;
}

/* The smallest of eight floats (none NaN), in every lane. */
AVX2 static inline __attribute__((always_inline)) __m256 hmin8(__m256 v)
{
	__m256 m = _mm256_min_ps(v, _mm256_permute_ps(v, 0xb1));
	m = _mm256_min_ps(m, _mm256_permute_ps(m, 0x4e));
	return _mm256_min_ps(m, _mm256_permute2f128_ps(m, m, 1));
}

/*
 * The nearest of a list's points with AVX2, eight points side by side. A coordinate's term
 * w * (scale * q - x)^2 (ggml's operations in ggml's order, no fused multiply-add) takes one of
 * eight values, q = 2l+1 for a level l < 8: computed once per call, a vector per coordinate, and
 * each point's terms picked from them by its levels (vpermps), then added coordinate by
 * coordinate. The winner is the first point at the smallest distance below FLT_MAX, as ggml's
 * strict d2 < best_d2 picks it (NaN never wins; a chunk's repeated last point never beats its
 * first copy). -1 when none qualifies.
 */
AVX2 static inline __attribute__((always_inline)) int find_lanes(const struct fy_lattice *g,
								 int dim, int u, const uint16_t *nb,
								 const float *xval,
								 const float *weight, float scale)
{
	const int count = nb[0];
	const int8_t *q = g->lanes + g->lane_at[u];
	const __m256 sq =
		_mm256_mul_ps(_mm256_set1_ps(scale), _mm256_setr_ps(1, 3, 5, 7, 9, 11, 13, 15));
	__m256 t[8];
#pragma GCC unroll 8
	for (int i = 0; i < dim; i++) {
		const __m256 diff = _mm256_sub_ps(sq, _mm256_set1_ps(xval[i]));
		t[i] = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(weight[i]), diff), diff);
	}
	if (count <= 8) { /* most lists (IQ3's average is 5): one chunk, its first lane wins */
		const __m256 d2 = chunk_d2(q, t, dim);
		const __m256 top = _mm256_set1_ps(FLT_MAX);
		const __m256 lt = _mm256_cmp_ps(d2, top, _CMP_LT_OQ);
		const __m256 v = _mm256_blendv_ps(top, d2, lt); /* no NaN left for the minimum */
		const __m256 m = hmin8(v);
		const int eq =
			_mm256_movemask_ps(_mm256_and_ps(lt, _mm256_cmp_ps(v, m, _CMP_EQ_OQ)));
		return eq == 0 ? -1 : nb[1 + imin(__builtin_ctz((unsigned)eq), count - 1)];
	}
	/* per lane: the smallest distance so far and the first position holding it */
	__m256 bestv = _mm256_set1_ps(FLT_MAX);
	__m256i bestj = _mm256_set1_epi32(INT32_MAX);
	__m256i j = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
	const __m256i step = _mm256_set1_epi32(8);
	for (int c = 0; c < count; c += 8, q += 8 * dim, j = _mm256_add_epi32(j, step)) {
		const __m256 d2 = chunk_d2(q, t, dim);
		const __m256 lt = _mm256_cmp_ps(d2, bestv, _CMP_LT_OQ);
		bestv = _mm256_blendv_ps(bestv, d2, lt);
		bestj = _mm256_castps_si256(
			_mm256_blendv_ps(_mm256_castsi256_ps(bestj), _mm256_castsi256_ps(j), lt));
	}
	/* the smallest distance over the lanes, then the first position at it */
	const __m256 m = hmin8(bestv);
	if (!(_mm256_cvtss_f32(m) < FLT_MAX))
		return -1;
	const __m256i eq = _mm256_castps_si256(_mm256_cmp_ps(bestv, m, _CMP_EQ_OQ));
	__m256i p = _mm256_blendv_epi8(_mm256_set1_epi32(INT32_MAX), bestj, eq);
	p = _mm256_min_epi32(p, _mm256_shuffle_epi32(p, 0xb1));
	p = _mm256_min_epi32(p, _mm256_shuffle_epi32(p, 0x4e));
	p = _mm256_min_epi32(p, _mm256_permute2x128_si256(p, p, 1));
	return nb[1 + imin(_mm256_cvtsi256_si32(p), count - 1)];
}

/* The same with the dimension a constant, so that the coordinates stay in registers. */
AVX2 static int find_lanes4(const struct fy_lattice *g, int u, const uint16_t *nb,
			    const float *xval, const float *weight, float scale)
{
	return find_lanes(g, 4, u, nb, xval, weight, scale);
}

AVX2 static int find_lanes8(const struct fy_lattice *g, int u, const uint16_t *nb,
			    const float *xval, const float *weight, float scale)
{
	return find_lanes(g, 8, u, nb, xval, weight, scale);
}
#endif

/*
 * Without AVX2, an 8-coordinate neighbour's distance has its terms computed side by side (a lane
 * each) and summed in coordinate order, as ggml's loop sums them: the same float.
 */
typedef float nbvf __attribute__((vector_size(32)));
/* The nearest of a list's points, one point at a time (without AVX2); -1 when none qualifies. */
static int find_scalar(const struct fy_lattice *g, const uint16_t *nb, const float *xval,
		       const float *weight, float scale)
{
	const int dim = g->dim, count = nb[0];
	float best_d2 = FLT_MAX;
	int best = -1;
	if (dim == 8) {
		nbvf x, w;
		memcpy(&x, xval, sizeof(x));
		memcpy(&w, weight, sizeof(w));
		for (int j = 1; j <= count; j++) {
			nbvf q;
			memcpy(&q, g->posf + (size_t)nb[j] * 8, sizeof(q));
			const nbvf diff = scale * q - x;
			const nbvf t = w * diff * diff;
			float d2 = 0;
			for (int i = 0; i < 8; i++)
				d2 += t[i];
			if (d2 < best_d2) {
				best_d2 = d2;
				best = nb[j];
			}
		}
		return best;
	}
	for (int j = 1; j <= count; j++) { /* 4 coordinates (IQ3) */
		const float *pg = g->posf + (size_t)nb[j] * (size_t)dim;
		float d2 = 0;
		for (int i = 0; i < dim; i++) {
			const float diff = scale * pg[i] - xval[i];
			d2 += weight[i] * diff * diff;
		}
		if (d2 < best_d2) {
			best_d2 = d2;
			best = nb[j];
		}
	}
	return best;
}

#ifdef LANES_AVX2
AVX2 static void levels32_avx2(const float *xval, float id, int kmax, int8_t *L)
{
	const __m256 vid = _mm256_set1_ps(id), one = _mm256_set1_ps(1), half = _mm256_set1_ps(0.5f);
	const __m256 magic = _mm256_set1_ps(12582912.f);
	const __m256i mant = _mm256_set1_epi32(0x007fffff), bias = _mm256_set1_epi32(0x00400000);
	const __m256i zero = _mm256_setzero_si256(), top = _mm256_set1_epi32(kmax);
	__m256i l[4];
	for (int c = 0; c < 4; c++) {
		const __m256 x = _mm256_loadu_ps(xval + 8 * c);
		const __m256 v = _mm256_add_ps(
			_mm256_mul_ps(half, _mm256_sub_ps(_mm256_mul_ps(vid, x), one)), magic);
		const __m256i r =
			_mm256_sub_epi32(_mm256_and_si256(_mm256_castps_si256(v), mant), bias);
		l[c] = _mm256_min_epi32(_mm256_max_epi32(r, zero), top);
	}
	/* 32 int32 to 32 int8: the packs work within 128-bit halves, the permute restores order */
	const __m256i w =
		_mm256_packs_epi16(_mm256_packs_epi32(l[0], l[1]), _mm256_packs_epi32(l[2], l[3]));
	const __m256i o = _mm256_permutevar8x32_epi32(w, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
	_mm256_storeu_si256((__m256i *)(void *)L, o);
}
#endif

/* Without AVX2: eight values side by side in generic vectors (the same operations). */
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
static void levels32_generic(const float *xval, float id, int kmax, int8_t *L)
{
	for (int c = 0; c < 32; c += 8) {
		v8f x;
		v8i l;
		memcpy(&x, xval + c, sizeof(x));
		const v8f v = 0.5f * (id * x - 1) + 12582912.f; /* nearest_int, lane by lane */
		memcpy(&l, &v, sizeof(l));
		l = (l & 0x007fffff) - 0x00400000;
		l &= ~(l < 0);
		const v8i over = l > kmax;
		l = (l & ~over) | (kmax & over);
		for (int k = 0; k < 8; k++)
			L[c + k] = (int8_t)l[k];
	}
}

void fy_lattice_levels32(const struct fy_lattice *g, const float *xval, float id, int kmax,
			 int8_t *L)
{
#ifdef LANES_AVX2
	if (g->lanes != NULL) {
		levels32_avx2(xval, id, kmax, L);
		return;
	}
#endif
	(void)g;
	levels32_generic(xval, id, kmax, L);
}

/* The map's index of a level vector, each level clamped to [0, max]: levels outside the
 * lattice's range only come from degenerate blocks (where ggml reads out of bounds or aborts). */
static inline __attribute__((always_inline)) int pack(const int8_t *levels, int dim, int bits,
						      int max)
{
	int u = 0;
	for (int i = 0; i < dim; i++)
		u |= imax(0, imin(max, levels[i])) << (bits * i);
	return u;
}

int fy_lattice_find(const struct fy_lattice *g, const int8_t *levels, const float *xval,
		    const float *weight, float scale, int8_t *L_out)
{
	const bool d4 = g->dim == 4; /* the IQ3 lattices: 3 bits a level; else 8 of 2 bits */
	const int u = d4 ? pack(levels, 4, 3, 7) : pack(levels, 8, 2, 2);
	const int32_t m = g->map[u];
	if (m >= 0)
		return m;
	const uint16_t *nb = g->nb + (-m - 1);
#ifdef LANES_AVX2
	int best = g->lanes == NULL ? find_scalar(g, nb, xval, weight, scale)
		   : d4		    ? find_lanes4(g, u, nb, xval, weight, scale)
				    : find_lanes8(g, u, nb, xval, weight, scale);
#else
	int best = find_scalar(g, nb, xval, weight, scale);
#endif
	if (best < 0) /* every distance NaN or infinite (absurd inputs; ggml asserts): the first */
		best = nb[1];
	memcpy(L_out, g->lev + (size_t)best * (size_t)g->dim, d4 ? 4 : 8);
	return -1 - best;
}

int fy_lattice_find_iq1(const struct fy_lattice *g, const int8_t *levels, const float *xval,
			const float *weight, float scale, const float *xg, int8_t *L_out)
{
	int u = 0;
	for (int i = 0; i < g->dim; i++)
		u |= imax(0, imin(2, levels[i])) << (g->bits * i);
	const int32_t m = g->map[u];
	if (m >= 0)
		return m;
	const uint16_t *nb = g->nb + (-m - 1);
	float best_d2 = FLT_MAX;
	int best = -1;
	for (int j = 1; j <= nb[0]; j++) {
		const int8_t *pg = g->pos + (size_t)nb[j] * (size_t)g->dim;
		float d2 = 0;
		for (int i = 0; i < g->dim; i++) {
			const float q = xg[(pg[i] - 1) / 2];
			const float diff = scale * q - xval[i];
			d2 += weight[i] * diff * diff;
		}
		if (d2 < best_d2) {
			best_d2 = d2;
			best = nb[j];
		}
	}
	if (best < 0) /* every distance NaN or infinite (absurd inputs; ggml asserts): the first */
		best = nb[1];
	const int8_t *pg = g->pos + (size_t)best * (size_t)g->dim;
	for (int i = 0; i < g->dim; i++)
		L_out[i] = (int8_t)((pg[i] - 1) / 2);
	return -1 - best;
}
