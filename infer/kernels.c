/*
 * The scalar reference kernels, the run-time choice of their AVX2 twins, and the operations built
 * on them: matrix products over stored rows of any type, RMSNorm, softmax, SwiGLU, RoPE.
 */
#include "infer/infer.h"
#include "infer/qdot.h"
#include "quant/quant.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* --- scalar kernels ------------------------------------------------------------------------- */

/* Eight running sums, as the AVX2 twin keeps eight lanes: the two differ by rounding only. */
static float dot_scalar(const float *a, const float *b, int64_t n)
{
	float s[8] = { 0 };
	int64_t i = 0;
	for (; i + 8 <= n; i += 8) {
		for (int k = 0; k < 8; k++)
			s[k] += a[i + k] * b[i + k];
	}
	for (; i < n; i++)
		s[0] += a[i] * b[i];
	return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

static void dot4_scalar(const float *w, int64_t ldw, const float *x, int64_t n, float out[4])
{
	for (int r = 0; r < 4; r++)
		out[r] = dot_scalar(w + r * ldw, x, n);
}

static void dot4x3_scalar(const float *w, int64_t ldw, const float *x, int64_t ldx, int64_t n,
			  float *y, int64_t ldy)
{
	for (int t = 0; t < 3; t++)
		dot4_scalar(w, ldw, x + t * ldx, n, y + t * ldy);
}

static void axpy_scalar(float a, const float *x, float *y, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		y[i] += a * x[i];
}

const struct fy_kernels fy_kernels_scalar = {
	.name = "scalar",
	.dot = dot_scalar,
	.dot4 = dot4_scalar,
	.dot4x3 = dot4x3_scalar,
	.axpy = axpy_scalar,
};

static const struct fy_kernels *active;

const struct fy_kernels *fy_kernels_active(void)
{
	if (active == NULL) {
		const char *env = getenv("FERRY_SIMD");
		const struct fy_kernels *k = fy_kernels_avx2();
		active = (env != NULL && strcmp(env, "scalar") == 0) || k == NULL
				 ? &fy_kernels_scalar
				 : k;
	}
	return active;
}

void fy_kernels_select(const struct fy_kernels *k)
{
	active = k;
}

/* --- matrix products ------------------------------------------------------------------------ */

#define ROWS_PER_STEP 4
/* Rows taken at a time while every token passes over them, three tokens at a time in four-row
 * tiles (dot4x3; F16 rows are read as stored, dot4x3_f16); each output is computed as dot4
 * computes it, so the result does not depend on the batch, the tile or the thread count.
 * Rows dequantized into a buffer go eight at a time (they and three tokens' activations then fit
 * the L1 cache of a 1536-wide model; 8 beat 16 and 32). Rows read where they lie (F32, F16) go
 * 64 at a time: they stay in the L2 cache, and the batch's activations, which do not, are read
 * from the L3 cache once per 64 rows rather than once per 8 (on two cores of an AMD EPYC 7003,
 * 2 threads, a 1536 x 4096 F16 matrix against 128 tokens: 144 -> 172 GFLOPS, best of runs). */
#define ROWS_PER_CHUNK 8
#define ROWS_PER_CHUNK_IN_PLACE 64

struct matmul_job {
	const struct fy_weight *w;
	const float *x;
	int64_t n_tok;
	float *y;
	int64_t ldy;
	const struct fy_kernels *k;
};

void fy_weight_row(const struct fy_weight *w, int64_t r, float *out)
{
	const uint8_t *src = w->data + (size_t)r * w->row_bytes;
	if (w->scale == NULL) {
		fy_dequant_row(w->type, src, out, w->ne0);
		return;
	}
	const size_t ssz = w->scale_type == FY_DTYPE_F32 ? 4 : 2;
	const uint8_t *sc = w->scale + (size_t)(r / w->block[0] * w->scale_ld) * ssz;
	const bool int4 = w->type == FY_DTYPE_I32;
	for (int64_t b = 0; b * w->block[1] < w->ne0; b++) {
		float s;
		fy_dequant_row(w->scale_type, sc + ssz * (size_t)b, &s, 1);
		const int64_t end = (b + 1) * w->block[1] < w->ne0 ? (b + 1) * w->block[1] : w->ne0;
		for (int64_t i = b * w->block[1]; i < end; i++) {
			if (int4) { /* (value - 8) x the group's scale, as the converter */
				uint32_t v;
				memcpy(&v, src + 4 * (i / 8), 4);
				out[i] = (float)((int)((v >> (4 * (i % 8))) & 15u) - 8) * s;
			} else {
				out[i] = fy_f8e4m3_to_f32(src[i]) * s;
			}
		}
	}
}

static int matmul_range(void *ctx, int64_t begin, int64_t end, struct fy_err *err)
{
	const struct matmul_job *j = ctx;
	const struct fy_weight *w = j->w;
	const int64_t n = w->ne0;
	/* F32 rows are read in place when the mapping keeps them aligned (safetensors may not) */
	const bool direct = w->type == FY_DTYPE_F32 && (uintptr_t)w->data % sizeof(float) == 0;
	/* F16 and BF16 rows in whole tiles are read as stored (the same values) */
	const bool bf16 = w->type == FY_DTYPE_BF16;
	const bool f16_tiles = (w->type == FY_DTYPE_F16 || bf16) &&
			       (bf16 ? j->k->dot4x3_bf16 : j->k->dot4x3_f16) != NULL &&
			       (bf16 ? j->k->dot4_bf16 : j->k->dot4_f16) != NULL &&
			       w->row_bytes % sizeof(uint16_t) == 0 &&
			       (uintptr_t)w->data % sizeof(uint16_t) == 0;
	void (*tile_h)(const uint16_t *, int64_t, const float *, int64_t, int64_t, float *,
		       int64_t) = bf16 ? j->k->dot4x3_bf16 : j->k->dot4x3_f16;
	void (*dot4_h)(const uint16_t *, int64_t, const float *, int64_t, float[4]) =
		bf16 ? j->k->dot4_bf16 : j->k->dot4_f16;
	const int64_t chunk =
		direct || (f16_tiles && j->n_tok >= 3) ? ROWS_PER_CHUNK_IN_PLACE : ROWS_PER_CHUNK;
	float *buf = NULL;
	if (!direct) {
		buf = malloc((size_t)n * (size_t)chunk * sizeof(float));
		if (buf == NULL)
			return fy_err_set(err, FY_ENOMEM, "out of memory");
	}
	for (int64_t r0 = begin; r0 < end; r0 += chunk) {
		const int64_t nr = end - r0 < chunk ? end - r0 : chunk;
		const int64_t n4 = nr / ROWS_PER_STEP * ROWS_PER_STEP;
		/* tiles of three tokens; the last tile ends at the batch's end (recomputing up to
		 * two tokens of the one before, to the same values) */
		const int64_t n3 = j->n_tok >= 3 ? j->n_tok : 0;
		const float *rows = NULL;
		if (direct) {
			rows = (const float *)(const void *)(w->data + (size_t)r0 * w->row_bytes);
		} else if (!f16_tiles || n4 < nr) {
			for (int64_t r = 0; r < nr; r++)
				fy_weight_row(w, r0 + r, buf + r * n);
			rows = buf;
		}
		/* the next chunk's stored rows, fetched into the cache a slice per tile of tokens
		 * while this chunk computes (read from memory they would stall its first tile) */
		const uint8_t *next = w->data + (size_t)(r0 + nr) * w->row_bytes;
		const size_t next_bytes =
			(size_t)(end - r0 - nr < chunk ? end - r0 - nr : chunk) * w->row_bytes;
		const size_t slice = n3 > 0 ? next_bytes / (size_t)((n3 + 2) / 3) + 64 : 0;
		size_t fetched = 0;
		for (int64_t t0 = 0; t0 < n3; t0 += 3) {
			const int64_t t = t0 + 3 <= n3 ? t0 : n3 - 3;
			for (size_t e = fetched + slice; fetched < next_bytes && fetched < e;
			     fetched += 64)
				__builtin_prefetch(next + fetched, 0, 2);
			for (int64_t r = 0; r < n4; r += ROWS_PER_STEP) {
				float *y = j->y + t * j->ldy + r0 + r;
				if (f16_tiles)
					tile_h((const uint16_t *)(const void
									  *)(w->data +
									     (size_t)(r0 + r) *
										     w->row_bytes),
					       (int64_t)(w->row_bytes / sizeof(uint16_t)),
					       j->x + t * n, n, n, y, j->ldy);
				else
					j->k->dot4x3(rows + r * n, n, j->x + t * n, n, n, y,
						     j->ldy);
			}
		}
		for (int64_t t = n3; t < j->n_tok; t++) {
			for (int64_t r = 0; r < n4; r += ROWS_PER_STEP) {
				float *y = j->y + t * j->ldy + r0 + r;
				if (rows == NULL) /* F16/BF16 rows where they lie */
					dot4_h((const uint16_t *)(const void
									  *)(w->data +
									     (size_t)(r0 + r) *
										     w->row_bytes),
					       (int64_t)(w->row_bytes / sizeof(uint16_t)),
					       j->x + t * n, n, y);
				else
					j->k->dot4(rows + r * n, n, j->x + t * n, n, y);
			}
		}
		for (int64_t r = n4; r < nr; r++) /* the matrix's last rows */
			for (int64_t t = 0; t < j->n_tok; t++)
				j->y[t * j->ldy + r0 + r] =
					j->k->dot(rows + r * n, j->x + t * n, n);
	}
	free(buf);
	return FY_OK;
}

/* --- integer products (infer/qdot.h) -------------------------------------------------------- */

/* Rows a thread takes at a time in the integer products: their blocks (a 1536-wide Q4_K row is
 * 864 bytes) stay in the L1/L2 cache while every tile of four tokens passes over them. */
#define QROWS_PER_CHUNK 32
/* Batches above this many tokens take the F32 tiles even with scratch given: decoding a block of
 * rows once for every token of the batch is faster there (a 0.55B Q4_K_M llama's 128-token
 * prompt: 177 tokens/s against 151 through the integer tiles, 2 threads) and never rounds. */
#define QDOT_MAX_TOKENS 8

struct qmatmul_job {
	const struct fy_weight *w;
	fy_qdot_fn fn;
	const uint8_t *a;
	size_t lda;
	int64_t n_tok, nb;
	float *y;
	int64_t ldy;
};

static int qmatmul_range(void *ctx, int64_t begin, int64_t end, struct fy_err *err)
{
	const struct qmatmul_job *j = ctx;
	(void)err;
	for (int64_t r0 = begin; r0 < end; r0 += QROWS_PER_CHUNK) {
		const int nr = (int)(end - r0 < QROWS_PER_CHUNK ? end - r0 : QROWS_PER_CHUNK);
		const uint8_t *rows = j->w->data + (size_t)r0 * j->w->row_bytes;
		if (r0 + nr < end) /* the next chunk's first rows */
			for (size_t o = 0; o < 8 * j->w->row_bytes; o += 64)
				__builtin_prefetch(rows + (size_t)nr * j->w->row_bytes + o, 0, 2);
		for (int64_t t0 = 0; t0 < j->n_tok; t0 += FY_QDOT_TOKENS) {
			const int nt = (int)(j->n_tok - t0 < FY_QDOT_TOKENS ? j->n_tok - t0
									    : FY_QDOT_TOKENS);
			j->fn(rows, j->w->row_bytes, nr, j->a + (size_t)t0 * j->lda, j->lda, nt,
			      j->nb, j->y + t0 * j->ldy + r0, j->ldy);
		}
	}
	return FY_OK;
}

/* The integer product when w's type has one (else 1: not taken). */
static int matmul_q(const struct fy_weight *w, const float *x, int64_t n_tok, float *y, int64_t ldy,
		    struct fy_pool *pool, struct fy_buf *scratch, struct fy_err *err)
{
	const struct fy_qdot *q = w->scale == NULL ? fy_qdot_find(w->type) : NULL;
	const int64_t blck = q == NULL ? 0 : q->act == FY_QACT_A256 ? 256 : 32;
	if (q == NULL || w->ne0 % blck != 0 || n_tok <= 0 || n_tok > QDOT_MAX_TOKENS)
		return 1;
	const struct fy_kernels *k = fy_kernels_active();
	fy_qdot_fn fn = k->qdot != NULL ? k->qdot(w->type) : NULL;
	const size_t lda = fy_qact_row_bytes(q->act, w->ne0);
	if (scratch->cap < (size_t)n_tok * lda) {
		uint8_t *p = realloc(scratch->data, (size_t)n_tok * lda);
		if (p == NULL)
			return fy_err_set(err, FY_ENOMEM, "out of memory");
		scratch->data = p;
		scratch->cap = (size_t)n_tok * lda;
	}
	for (int64_t t = 0; t < n_tok; t++)
		fy_qact_quantize(q->act, x + t * w->ne0, scratch->data + (size_t)t * lda, w->ne0);
	struct qmatmul_job j = {
		w, fn != NULL ? fn : q->scalar, scratch->data, lda, n_tok, w->ne0 / blck, y, ldy
	};
	if (pool == NULL || w->ne1 < 64)
		return qmatmul_range(&j, 0, w->ne1, err);
	int64_t grain = w->ne1 / (4 * fy_pool_threads(pool));
	grain = (grain + QROWS_PER_CHUNK - 1) / QROWS_PER_CHUNK * QROWS_PER_CHUNK;
	return fy_pool_for(pool, w->ne1, grain, qmatmul_range, &j, err);
}

int fy_matmul(const struct fy_weight *w, const float *x, int64_t n_tok, float *y, int64_t ldy,
	      struct fy_pool *pool, struct fy_err *err)
{
	return fy_matmul_s(w, x, n_tok, y, ldy, pool, NULL, err);
}

int fy_matmul_s(const struct fy_weight *w, const float *x, int64_t n_tok, float *y, int64_t ldy,
		struct fy_pool *pool, struct fy_buf *scratch, struct fy_err *err)
{
	const int qrc = scratch != NULL ? matmul_q(w, x, n_tok, y, ldy, pool, scratch, err) : 1;
	if (qrc != 1)
		return qrc;
	struct matmul_job j = { w, x, n_tok, y, ldy, fy_kernels_active() };
	if (w->type != FY_DTYPE_F32 && w->scale == NULL && fy_quant_traits(w->type) == NULL)
		return fy_err_set(err, FY_EUNSUPPORTED, "no kernel reads %s rows",
				  fy_dtype_name(w->type));
	if (pool == NULL || w->ne1 < 64)
		return matmul_range(&j, 0, w->ne1, err);
	/* chunks of whole steps, a few per thread */
	int64_t grain = w->ne1 / (4 * fy_pool_threads(pool));
	grain = (grain + ROWS_PER_STEP - 1) / ROWS_PER_STEP * ROWS_PER_STEP;
	if (grain < 16)
		grain = 16;
	return fy_pool_for(pool, w->ne1, grain, matmul_range, &j, err);
}

/* --- element-wise operations ---------------------------------------------------------------- */

void fy_rmsnorm(const float *x, const float *g, float eps, int64_t n, float *out)
{
	double ss = 0;
	for (int64_t i = 0; i < n; i++)
		ss += (double)x[i] * x[i];
	const float scale = (float)(1.0 / sqrt(ss / (double)n + eps));
	for (int64_t i = 0; i < n; i++)
		out[i] = x[i] * scale * (g != NULL ? g[i] : 1.0f);
}

float fy_silu(float x)
{
	return x / (1.0f + expf(-x));
}

void fy_l2norm(float *x, int64_t n, float eps)
{
	float ss = 0;
	for (int64_t i = 0; i < n; i++)
		ss += x[i] * x[i];
	const float s = 1.0f / sqrtf(ss + eps);
	for (int64_t i = 0; i < n; i++)
		x[i] *= s;
}

void fy_short_conv(float *window, const float *w, float *x, int n, int64_t c, int64_t k)
{
	for (int t = 0; t < n; t++) {
		float *in = x + (int64_t)t * c;
		memcpy(window + (k - 1) * c, in, (size_t)c * sizeof(float));
		for (int64_t ch = 0; ch < c; ch++) {
			float sum = 0;
			for (int64_t j = 0; j < k; j++)
				sum += window[j * c + ch] * w[ch * k + j];
			in[ch] = fy_silu(sum);
		}
		memmove(window, window + c, (size_t)((k - 1) * c) * sizeof(float));
	}
}

void fy_softmax(float *x, int64_t n)
{
	if (n <= 0)
		return;
	float max = x[0];
	for (int64_t i = 1; i < n; i++)
		max = x[i] > max ? x[i] : max;
	double sum = 0;
	for (int64_t i = 0; i < n; i++) {
		x[i] = expf(x[i] - max);
		sum += x[i];
	}
	const float inv = (float)(1.0 / sum);
	for (int64_t i = 0; i < n; i++)
		x[i] *= inv;
}

void fy_swiglu(float *x, const float *y, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		x[i] = x[i] / (1.0f + expf(-x[i])) * y[i];
}

/* --- RoPE ----------------------------------------------------------------------------------- */

/* YaRN's correction dimension for a number of rotations (llama.cpp's ggml_rope_yarn_corr_dim). */
static float yarn_corr_dim(int n_dims, int n_ctx_orig, float n_rot, float base)
{
	return (float)n_dims * logf((float)n_ctx_orig / (n_rot * 2.0f * (float)M_PI)) /
	       (2.0f * logf(base));
}

/* cos and sin of pair i0/2's angle at pos, YaRN-corrected as llama.cpp's rope_yarn. */
static void rope_angle(const struct fy_rope *r, int64_t pos, int i0, float *c, float *s)
{
	const float ff = r->freq_factors != NULL ? r->freq_factors[i0 / 2] : 1.0f;
	const float theta_extrap = (float)pos * powf(r->base, -(float)i0 / (float)r->n_rot) / ff;
	float freq_scale = 1.0f, mscale = 1.0f, theta;
	if (r->scaling != FY_ROPE_SCALING_NONE && r->factor > 0)
		freq_scale = 1.0f / r->factor;
	theta = freq_scale * theta_extrap;
	if (r->scaling == FY_ROPE_SCALING_YARN) {
		float lo = floorf(yarn_corr_dim(r->n_rot, r->n_ctx_orig, r->beta_fast, r->base));
		float hi = ceilf(yarn_corr_dim(r->n_rot, r->n_ctx_orig, r->beta_slow, r->base));
		lo = lo > 0 ? lo : 0;
		hi = hi < (float)(r->n_rot - 1) ? hi : (float)(r->n_rot - 1);
		const float span = hi - lo > 0.001f ? hi - lo : 0.001f;
		const int pair = i0 / 2;
		float y = ((float)pair - lo) / span;
		y = y < 0 ? 0 : (y > 1 ? 1 : y);
		const float ramp = 1.0f - y; /* ext_factor 1 */
		theta = theta * (1.0f - ramp) + theta_extrap * ramp;
		mscale = r->attn_factor * (1.0f + 0.1f * logf(1.0f / freq_scale));
	}
	*c = cosf(theta) * mscale;
	*s = sinf(theta) * mscale;
}

void fy_rope_angles(const struct fy_rope *r, int64_t pos, float *cs)
{
	for (int i0 = 0; i0 < r->n_rot; i0 += 2) {
		if (r->style == FY_ROPE_NONE)
			cs[i0] = 1, cs[i0 + 1] = 0;
		else
			rope_angle(r, pos, i0, &cs[i0], &cs[i0 + 1]);
	}
}

void fy_rope_apply(const struct fy_rope *r, float *head, const float *cs)
{
	if (r->style == FY_ROPE_NONE)
		return;
	const int half = r->n_rot / 2;
	for (int i0 = 0; i0 < r->n_rot; i0 += 2) {
		const float c = cs[i0], s = cs[i0 + 1];
		const int a = r->style == FY_ROPE_NEOX ? i0 / 2 : i0;
		const int b = r->style == FY_ROPE_NEOX ? i0 / 2 + half : i0 + 1;
		const float x0 = head[a], x1 = head[b];
		head[a] = x0 * c - x1 * s;
		head[b] = x0 * s + x1 * c;
	}
}
