/*
 * The lattice i-quants: IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M (codebooks indexed
 * per 8 or 4 elements, with sign bits and 3-4 bit sub-block scales). Each dequantizer computes
 * what ggml's dequantize_row_<type> computes, in the same float operations (the unit tests
 * compare bits against llama.cpp v0.5.0's output). IQ4_XS: quant/iq4.c.
 */
#include "quant/iquant.h"
#include "quant/quant_private.h"

/* Element j (0..7) of a packed uint64 lattice point, or of a uint32 one (0..3). */
static inline uint8_t g8(uint64_t v, int j)
{
	return (uint8_t)(v >> (8 * j));
}

static inline uint8_t g4(uint32_t v, int j)
{
	return (uint8_t)(v >> (8 * j));
}

static inline float sgn(uint8_t signs, int j)
{
	return (signs >> j) & 1 ? -1.f : 1.f;
}

static inline uint32_t rd32(const void *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

void fy_dequant_iq2_xxs(const void *vx, float *y, int64_t n)
{
	const struct blk_iq2_xxs *x = vx;
	for (int64_t i = 0; i < n / FY_QK_K; i++) {
		const float d = fy_f16_to_f32(x[i].d);
		const uint8_t *qs = (const uint8_t *)x[i].qs;
		for (int ib = 0; ib < 8; ib++) {
			const uint32_t idx = rd32(qs + 8 * ib);
			const uint32_t aux = rd32(qs + 8 * ib + 4);
			const float db = d * (0.5f + (float)(aux >> 28)) * 0.25f;
			for (int l = 0; l < 4; l++) {
				const uint64_t grid = fy_iq2xxs_grid[(idx >> 8 * l) & 0xff];
				const uint8_t signs = iq_signs(aux >> 7 * l);
				for (int j = 0; j < 8; j++)
					y[j] = db * (float)g8(grid, j) * sgn(signs, j);
				y += 8;
			}
		}
	}
}

void fy_dequant_iq2_xs(const void *vx, float *y, int64_t n)
{
	const struct blk_iq2_xs *x = vx;
	for (int64_t i = 0; i < n / FY_QK_K; i++) {
		const float d = fy_f16_to_f32(x[i].d);
		for (int ib = 0; ib < 8; ib++) {
			float db[2];
			db[0] = d * (0.5f + (float)(x[i].scales[ib] & 0xf)) * 0.25f;
			db[1] = d * (0.5f + (float)(x[i].scales[ib] >> 4)) * 0.25f;
			for (int l = 0; l < 4; l++) {
				const uint16_t q = x[i].qs[4 * ib + l];
				const uint64_t grid = fy_iq2xs_grid[q & 511];
				const uint8_t signs = iq_signs(q >> 9);
				for (int j = 0; j < 8; j++)
					y[j] = db[l / 2] * (float)g8(grid, j) * sgn(signs, j);
				y += 8;
			}
		}
	}
}

void fy_dequant_iq2_s(const void *vx, float *y, int64_t n)
{
	const struct blk_iq2_s *x = vx;
	for (int64_t i = 0; i < n / FY_QK_K; i++) {
		const float d = fy_f16_to_f32(x[i].d);
		const uint8_t *qs = x[i].qs;
		const uint8_t *signs = x[i].qs + 32;
		for (int ib = 0; ib < 8; ib++, qs += 4, signs += 4) {
			float db[2];
			db[0] = d * (0.5f + (float)(x[i].scales[ib] & 0xf)) * 0.25f;
			db[1] = d * (0.5f + (float)(x[i].scales[ib] >> 4)) * 0.25f;
			for (int l = 0; l < 4; l++) {
				const unsigned hi = ((unsigned)x[i].qh[ib] << (8 - 2 * l)) & 0x300;
				const uint64_t grid = fy_iq2s_grid[qs[l] | hi];
				for (int j = 0; j < 8; j++)
					y[j] = db[l / 2] * (float)g8(grid, j) * sgn(signs[l], j);
				y += 8;
			}
		}
	}
}

void fy_dequant_iq3_xxs(const void *vx, float *y, int64_t n)
{
	const struct blk_iq3_xxs *x = vx;
	for (int64_t i = 0; i < n / FY_QK_K; i++) {
		const float d = fy_f16_to_f32(x[i].d);
		const uint8_t *qs = x[i].qs;
		const uint8_t *scales_and_signs = x[i].qs + 64;
		for (int ib = 0; ib < 8; ib++, qs += 8) {
			const uint32_t aux = rd32(scales_and_signs + 4 * ib);
			const float db = d * (0.5f + (float)(aux >> 28)) * 0.5f;
			for (int l = 0; l < 4; l++) {
				const uint8_t signs = iq_signs(aux >> 7 * l);
				const uint32_t g1 = fy_iq3xxs_grid[qs[2 * l]];
				const uint32_t g2 = fy_iq3xxs_grid[qs[2 * l + 1]];
				for (int j = 0; j < 4; j++) {
					y[j] = db * (float)g4(g1, j) * sgn(signs, j);
					y[j + 4] = db * (float)g4(g2, j) * sgn(signs, j + 4);
				}
				y += 8;
			}
		}
	}
}

/* Eight groups of 8 elements of IQ3_S sharing the scale db and the high-bit byte qh. */
static float *iq3s_half(float *y, float db, const uint8_t *qs, uint8_t qh, const uint8_t *signs)
{
	for (int l = 0; l < 4; l++) {
		const uint32_t g1 = fy_iq3s_grid[qs[2 * l] | (((unsigned)qh << (8 - 2 * l)) & 256)];
		const uint32_t g2 =
			fy_iq3s_grid[qs[2 * l + 1] | (((unsigned)qh << (7 - 2 * l)) & 256)];
		for (int j = 0; j < 4; j++) {
			y[j] = db * (float)g4(g1, j) * sgn(signs[l], j);
			y[j + 4] = db * (float)g4(g2, j) * sgn(signs[l], j + 4);
		}
		y += 8;
	}
	return y;
}

void fy_dequant_iq3_s(const void *vx, float *y, int64_t n)
{
	const struct blk_iq3_s *x = vx;
	for (int64_t i = 0; i < n / FY_QK_K; i++) {
		const float d = fy_f16_to_f32(x[i].d);
		const uint8_t *qs = x[i].qs;
		const uint8_t *qh = x[i].qh;
		const uint8_t *signs = x[i].signs;
		for (int ib = 0; ib < 8; ib += 2) {
			const float db1 = d * (float)(1 + 2 * (x[i].scales[ib / 2] & 0xf));
			const float db2 = d * (float)(1 + 2 * (x[i].scales[ib / 2] >> 4));
			y = iq3s_half(y, db1, qs, qh[0], signs);
			y = iq3s_half(y, db2, qs + 8, qh[1], signs + 4);
			qs += 16;
			qh += 2;
			signs += 8;
		}
	}
}

void fy_dequant_iq1_s(const void *vx, float *y, int64_t n)
{
	const struct blk_iq1_s *x = vx;
	for (int64_t i = 0; i < n / FY_QK_K; i++) {
		const float d = fy_f16_to_f32(x[i].d);
		const uint8_t *qs = x[i].qs;
		for (int ib = 0; ib < 8; ib++, qs += 4) {
			const unsigned qh = x[i].qh[ib];
			const float dl = d * (float)(2 * ((qh >> 12) & 7) + 1);
			const float delta = qh & 0x8000 ? -FY_IQ1S_DELTA : FY_IQ1S_DELTA;
			for (int l = 0; l < 4; l++) {
				const uint64_t grid =
					fy_iq1s_grid[qs[l] | (((qh >> 3 * l) & 7) << 8)];
				for (int j = 0; j < 8; j++)
					y[j] = dl * ((float)(int8_t)g8(grid, j) + delta);
				y += 8;
			}
		}
	}
}

void fy_dequant_iq1_m(const void *vx, float *y, int64_t n)
{
	const struct blk_iq1_m *x = vx;
	for (int64_t i = 0; i < n / FY_QK_K; i++) {
		uint16_t sc[4];
		memcpy(sc, x[i].scales, sizeof(sc));
		const uint16_t scale = (uint16_t)((sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) |
						  ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000));
		const float d = fy_f16_to_f32(scale);
		const uint8_t *qs = x[i].qs;
		const uint8_t *qh = x[i].qh;
		for (int ib = 0; ib < 8; ib++, qs += 4, qh += 2) {
			const unsigned s = sc[ib / 2];
			const float dl1 = d * (float)(2 * ((s >> (6 * (ib % 2) + 0)) & 0x7) + 1);
			const float dl2 = d * (float)(2 * ((s >> (6 * (ib % 2) + 3)) & 0x7) + 1);
			const unsigned idx[4] = {
				qs[0] | (((unsigned)qh[0] << 8) & 0x700),
				qs[1] | (((unsigned)qh[0] << 4) & 0x700),
				qs[2] | (((unsigned)qh[1] << 8) & 0x700),
				qs[3] | (((unsigned)qh[1] << 4) & 0x700),
			};
			const float delta[4] = {
				qh[0] & 0x08 ? -FY_IQ1S_DELTA : FY_IQ1S_DELTA,
				qh[0] & 0x80 ? -FY_IQ1S_DELTA : FY_IQ1S_DELTA,
				qh[1] & 0x08 ? -FY_IQ1S_DELTA : FY_IQ1S_DELTA,
				qh[1] & 0x80 ? -FY_IQ1S_DELTA : FY_IQ1S_DELTA,
			};
			for (int l = 0; l < 4; l++) {
				const uint64_t grid = fy_iq1s_grid[idx[l]];
				const float dl = l < 2 ? dl1 : dl2;
				for (int j = 0; j < 8; j++)
					y[j] = dl * ((float)(int8_t)g8(grid, j) + delta[l]);
				y += 8;
			}
		}
	}
}
