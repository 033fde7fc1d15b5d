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

static void build(int which)
{
	const struct spec *s = &specs[which];
	struct fy_lattice *g = &lattices[which];
	g->n = s->n;
	g->dim = s->dim;
	g->bits = s->bits;
	g->map_size = s->map_size;
	g->pos = malloc((size_t)s->n * (size_t)s->dim);
	g->posf = malloc((size_t)s->n * (size_t)s->dim * sizeof(float));
	g->map = malloc((size_t)s->map_size * sizeof(*g->map));
	int *d2 = malloc((size_t)s->n * sizeof(int));
	if (g->pos == NULL || g->posf == NULL || g->map == NULL || d2 == NULL)
		goto fail;
	for (int k = 0; k < s->n; k++)
		unpack(s->kgrid[k], s->dim, s->bits, g->pos + (size_t)k * (size_t)s->dim);
	for (size_t k = 0; k < (size_t)s->n * (size_t)s->dim; k++)
		g->posf[k] = g->pos[k];
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
	g->ready = true;
	return;
fail:
	free(d2);
	free(g->pos);
	free(g->posf);
	free(g->map);
	free(g->nb);
	g->pos = NULL;
	g->posf = NULL;
	g->map = NULL;
	g->nb = NULL;
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

/*
 * A neighbour's distance with its 8 coordinates' terms computed side by side (a lane each) and
 * summed in coordinate order, as ggml's loop sums them: the same float, fewer instructions.
 */
typedef float nbvf __attribute__((vector_size(32)));
int fy_lattice_find(const struct fy_lattice *g, const int8_t *levels, const float *xval,
		    const float *weight, float scale, int8_t *L_out)
{
	/* levels outside the lattice's range only come from degenerate blocks (where ggml reads
	 * out of bounds or aborts): clamped, so that the index stays inside the map */
	const int max_level = g->bits == 2 ? 2 : 7;
	const int dim = g->dim;
	int u = 0;
	for (int i = 0; i < dim; i++)
		u |= imax(0, imin(max_level, levels[i])) << (g->bits * i);
	const int32_t m = g->map[u];
	if (m >= 0)
		return m;
	const uint16_t *nb = g->nb + (-m - 1);
	const int count = nb[0];
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
	} else { /* 4 coordinates (IQ3): the plain loop is as fast */
		for (int j = 1; j <= count; j++) {
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
	}
	if (best < 0) /* every distance NaN or infinite (absurd inputs; ggml asserts): the first */
		best = nb[1];
	const int8_t *pg = g->pos + (size_t)best * (size_t)dim;
	for (int i = 0; i < dim; i++)
		L_out[i] = (int8_t)((pg[i] - 1) / 2);
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
