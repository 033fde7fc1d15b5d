/*
 * Integer dot products of stored quantized rows with activations rounded to 8-bit blocks, as
 * ggml's CPU kernels pair them (private to infer/: qdot.c, qdot_avx2.c, kernels.c).
 *
 * Activations come in one of two block formats:
 *   A256  ggml's Q8_K (struct blk_q8_k, fy_quant_q8_k: quant/quant_private.h): a float scale,
 *         256 int8 values, the sums of each 16 (K-quants, IQ4_XS)
 *   A32   a float scale and 32 int8 values (Q8_0 weights; ggml stores the scale as F16)
 * Each kernel computes, for every row and token of a tile, the integer sums of a block exactly
 * (int32) and adds the block's value, a fixed float expression of them (the inline functions
 * below, compiled without FMA contraction), to a float sum in block order: every kernel set gives
 * the same bits.
 */
#ifndef FERRY_INFER_QDOT_H
#define FERRY_INFER_QDOT_H

#include "infer/infer.h"
#include "quant/quant_private.h"

#include <stdint.h>

struct fy_a32 {
	float d;
	int8_t qs[32];
};
_Static_assert(sizeof(struct fy_a32) == 36, "a32 block");

/* fy_qdot_fn (infer/infer.h) takes at most FY_QDOT_TOKENS tokens. */
#define FY_QDOT_TOKENS 4

/* A weight type's row: its activation format and its scalar reference kernel (a kernel set's
 * twin: fy_kernels.qdot). */
enum fy_qact { FY_QACT_A256, FY_QACT_A32 };
struct fy_qdot {
	enum fy_dtype type;
	enum fy_qact act;
	fy_qdot_fn scalar;
};

/* The row for weight type t, or NULL. */
const struct fy_qdot *fy_qdot_find(enum fy_dtype t);
/* The AVX2 kernel of weight type t (qdot_avx2.c; the AVX2 kernel set's qdot), or NULL. */
fy_qdot_fn fy_qdot_avx2(enum fy_dtype t);
/* Rounds n floats (a multiple of the block) to activation blocks of format f. */
void fy_qact_quantize(enum fy_qact f, const float *x, uint8_t *out, int64_t n);
size_t fy_qact_row_bytes(enum fy_qact f, int64_t n);

/* The value of a block from its exact integer sums (the one float expression of each type; the
 * weights' F16 scales given as floats, converted exactly). */
static inline float fy_qval_k4(float da, float d, float dmin, int32_t isum, int32_t imin)
{
	const float dd = da * d;
	const float dm = da * dmin;
	return dd * (float)isum - dm * (float)imin;
}
static inline float fy_qval_d(float da, float d, int32_t isum)
{
	return (da * d) * (float)isum;
}

#endif
