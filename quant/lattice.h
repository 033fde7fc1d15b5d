/* The i-quants' search lattices (quant/lattice.c). */
#ifndef FERRY_QUANT_LATTICE_H
#define FERRY_QUANT_LATTICE_H

#include <stdbool.h>
#include <stdint.h>

enum fy_lattice_kind {
	FY_LATTICE_IQ2_XXS,
	FY_LATTICE_IQ2_XS,
	FY_LATTICE_IQ2_S,
	FY_LATTICE_IQ1,
	FY_LATTICE_IQ3_256,
	FY_LATTICE_IQ3_512,
	FY_LATTICE_COUNT
};

struct fy_lattice {
	int n, dim, bits, map_size;
	int8_t *pos;  /* n x dim coordinates, each 2l+1 */
	int8_t *lev;  /* the same as levels l */
	float *posf;  /* the same as floats (the neighbour search's operands) */
	int32_t *map; /* packed levels -> point, or -(offset + 1) of its neighbour list in nb */
	uint16_t *nb; /* lists: a count, then the points */
	/* the lists again for the AVX2 search, by level vector: chunks of 8 points, a row of 8
	 * levels (not 2l+1) per dimension (the last point repeated to fill a chunk); NULL
	 * without AVX2 */
	uint32_t *lane_at;
	int8_t *lanes;
	bool ready;
};

/* The lattice, built on first use; NULL when memory ran out. */
const struct fy_lattice *fy_lattice_get(enum fy_lattice_kind which);

/*
 * The levels of a block of 32 values at inverse scale id, each nearest_int((id * x - 1) / 2)
 * clamped to [0, kmax] (ggml's per-group loop, the same float operations), eight side by side.
 */
void fy_lattice_levels32(const struct fy_lattice *g, const float *xval, float id, int kmax,
			 int8_t *L);

/*
 * The point for levels[0..dim): its index when the levels are a point (L_out untouched);
 * otherwise the neighbour nearest to xval at scale under weight (ggml's *_find_best_neighbour),
 * its levels written to L_out, returned as -1 - index.
 */
int fy_lattice_find(const struct fy_lattice *g, const int8_t *levels, const float *xval,
		    const float *weight, float scale, int8_t *L_out);

/* The same for IQ1_S/IQ1_M (ggml's iq1_find_best_neighbour2): a level l stands for xg[l]. */
int fy_lattice_find_iq1(const struct fy_lattice *g, const int8_t *levels, const float *xval,
			const float *weight, float scale, const float *xg, int8_t *L_out);

#endif
