/*
 * Block layouts of the i-quants, the ternary, 1/2-bit and FP4 types, and the codebooks the
 * i-quants index (quant/iq_grids.c, generated from ggml). Structs mirror ggml's blocks byte for
 * byte on little-endian hosts; sizes are checked at compile time.
 */
#ifndef FERRY_QUANT_IQUANT_H
#define FERRY_QUANT_IQUANT_H

#include <stdint.h>

extern const uint64_t fy_iq2xxs_grid[256];
extern const uint64_t fy_iq2xs_grid[512];
extern const uint64_t fy_iq2s_grid[1024];
extern const uint32_t fy_iq3xxs_grid[256];
extern const uint32_t fy_iq3s_grid[512];
extern const uint64_t fy_iq1s_grid[2048];
/* the quantizers' compact form of the same points (2 or 3 bits per coordinate) */
extern const uint16_t fy_kgrid_2bit_256[256];
extern const uint16_t fy_kgrid_2bit_512[512];
extern const uint16_t fy_kgrid_2bit_1024[1024];
extern const uint16_t fy_kgrid_1bit_2048[2048];
extern const uint16_t fy_kgrid_256[256];
extern const uint16_t fy_kgrid_512[512];

#define FY_IQ1S_DELTA 0.125f

struct blk_iq2_xxs {
	uint16_t d;
	uint16_t qs[32];
};
struct blk_iq2_xs {
	uint16_t d;
	uint16_t qs[32];
	uint8_t scales[8];
};
struct blk_iq2_s {
	uint16_t d;
	uint8_t qs[64]; /* 32 grid-index low bytes, then 32 sign bytes */
	uint8_t qh[8];
	uint8_t scales[8];
};
struct blk_iq3_xxs {
	uint16_t d;
	uint8_t qs[96]; /* 64 grid indices, then 8 x (7-bit signs x 4 | 4-bit scale) words */
};
struct blk_iq3_s {
	uint16_t d;
	uint8_t qs[64];
	uint8_t qh[8];
	uint8_t signs[32];
	uint8_t scales[4];
};
struct blk_iq1_s {
	uint16_t d;
	uint8_t qs[32];
	uint16_t qh[8];
};
struct blk_iq1_m {
	uint8_t qs[32];
	uint8_t qh[16];
	uint8_t scales[8]; /* 3-bit sub-block scales; the fp16 super-scale in their top nibbles */
};
struct blk_iq4_xs {
	uint16_t d;
	uint16_t scales_h;
	uint8_t scales_l[4];
	uint8_t qs[128];
};
struct blk_tq1_0 {
	uint8_t qs[48]; /* 5 ternary digits a byte */
	uint8_t qh[4];	/* 4 ternary digits a byte */
	uint16_t d;
};
struct blk_tq2_0 {
	uint8_t qs[64];
	uint16_t d;
};
struct blk_q1_0 {
	uint16_t d;
	uint8_t qs[16];
};
struct blk_q2_0 {
	uint16_t d;
	uint8_t qs[16];
};
struct blk_mxfp4 {
	uint8_t e; /* E8M0 */
	uint8_t qs[16];
};
struct blk_nvfp4 {
	uint8_t d[4]; /* UE4M3 scale of each 16-element sub-block */
	uint8_t qs[32];
};

_Static_assert(sizeof(struct blk_iq2_xxs) == 66, "iq2_xxs block");
_Static_assert(sizeof(struct blk_iq2_xs) == 74, "iq2_xs block");
_Static_assert(sizeof(struct blk_iq2_s) == 82, "iq2_s block");
_Static_assert(sizeof(struct blk_iq3_xxs) == 98, "iq3_xxs block");
_Static_assert(sizeof(struct blk_iq3_s) == 110, "iq3_s block");
_Static_assert(sizeof(struct blk_iq1_s) == 50, "iq1_s block");
_Static_assert(sizeof(struct blk_iq1_m) == 56, "iq1_m block");
_Static_assert(sizeof(struct blk_iq4_xs) == 136, "iq4_xs block");
_Static_assert(sizeof(struct blk_tq1_0) == 54, "tq1_0 block");
_Static_assert(sizeof(struct blk_tq2_0) == 66, "tq2_0 block");
_Static_assert(sizeof(struct blk_q1_0) == 18, "q1_0 block");
_Static_assert(sizeof(struct blk_q2_0) == 18, "q2_0 block");
_Static_assert(sizeof(struct blk_mxfp4) == 17, "mxfp4 block");
_Static_assert(sizeof(struct blk_nvfp4) == 36, "nvfp4 block");

/* The sign byte of a 7-bit sign index: the eighth sign makes the count of negatives even. */
static inline uint8_t iq_signs(unsigned i)
{
	i &= 127;
	return (uint8_t)(i | (unsigned)(__builtin_popcount(i) & 1) << 7);
}

#endif
