/*
 * infer: each AVX2 kernel against its scalar twin, matrix products of every type against a
 * double-precision reference, RoPE, the sampler, the golden outputs of the fixture models (HF
 * checkpoints run directly and after conversion to GGUF f32) and llama.cpp's tokenizer suites.
 */
#include "helpers.h"
#include "infer/arch.h"
#include "infer/infer.h"
#include "infer/qdot.h"
#include "quant/quant.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 88172645463325252ull;

static float frand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static const int64_t sizes[] = { 0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64, 255, 256, 1000 };

Test(infer, avx2_kernels_match_scalar)
{
	const struct fy_kernels *v = fy_kernels_avx2();
	const struct fy_kernels *s = &fy_kernels_scalar;
	if (v == NULL) {
		cr_log_warn("this CPU has no AVX2/FMA: only the scalar kernels run");
		return;
	}
	float a[4 * 1000], x[1000], y1[1000], y2[1000];
	for (size_t i = 0; i < sizeof(a) / sizeof(a[0]); i++)
		a[i] = frand();
	for (size_t i = 0; i < 1000; i++)
		x[i] = frand();
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		const int64_t n = sizes[k];
		const float tol = 1e-5f * (float)(n + 1);
		cr_expect(fabsf(v->dot(a, x, n) - s->dot(a, x, n)) <= tol, "dot n=%lld",
			  (long long)n);
		float o1[4], o2[4];
		v->dot4(a, n, x, n, o1);
		s->dot4(a, n, x, n, o2);
		for (int r = 0; r < 4; r++)
			cr_expect(fabsf(o1[r] - o2[r]) <= tol, "dot4 row %d n=%lld", r,
				  (long long)n);
		/* the batched tile gives dot4's values exactly, token by token; the F16 tile the
		 * values of the F32 one on the rows converted */
		for (size_t kk = 0; kk < 2; kk++) {
			const struct fy_kernels *K = kk == 0 ? v : s;
			float tile[3 * 8], one[4];
			K->dot4x3(a, n, a + 2 * n, n / 3, n, tile, 8);
			for (int t = 0; t < 3; t++) {
				K->dot4(a, n, a + 2 * n + t * (n / 3), n, one);
				cr_expect(memcmp(one, tile + 8 * t, sizeof(one)) == 0,
					  "%s dot4x3 token %d n=%lld", K->name, t, (long long)n);
			}
		}
		uint16_t h[4 * 1000];
		float hf[4 * 1000], t16[3 * 8] = { 0 }, t32[3 * 8] = { 0 };
		for (int64_t i = 0; i < 4 * n; i++) {
			h[i] = fy_f32_to_f16(a[i]);
			hf[i] = fy_f16_to_f32(h[i]);
		}
		cr_assert(v->dot4x3_f16 != NULL);
		v->dot4x3_f16(h, n, a + 2 * n, n / 3, n, t16, 8);
		v->dot4x3(hf, n, a + 2 * n, n / 3, n, t32, 8);
		cr_expect(memcmp(t16, t32, sizeof(t16)) == 0, "dot4x3_f16 n=%lld", (long long)n);
		float o16[4], o32[4];
		v->dot4_f16(h, n, x, n, o16);
		v->dot4(hf, n, x, n, o32);
		cr_expect(memcmp(o16, o32, sizeof(o16)) == 0, "dot4_f16 n=%lld", (long long)n);
		/* BF16 rows: the top halves of the F32 values */
		for (int64_t i = 0; i < 4 * n; i++) {
			h[i] = fy_f32_to_bf16(a[i]);
			hf[i] = fy_bf16_to_f32(h[i]);
		}
		v->dot4x3_bf16(h, n, a + 2 * n, n / 3, n, t16, 8);
		v->dot4x3(hf, n, a + 2 * n, n / 3, n, t32, 8);
		cr_expect(memcmp(t16, t32, sizeof(t16)) == 0, "dot4x3_bf16 n=%lld", (long long)n);
		v->dot4_bf16(h, n, x, n, o16);
		v->dot4(hf, n, x, n, o32);
		cr_expect(memcmp(o16, o32, sizeof(o16)) == 0, "dot4_bf16 n=%lld", (long long)n);
		memcpy(y1, x, sizeof(y1));
		memcpy(y2, x, sizeof(y2));
		v->axpy(0.37f, a, y1, n);
		s->axpy(0.37f, a, y2, n);
		for (int64_t i = 0; i < n; i++)
			cr_expect(fabsf(y1[i] - y2[i]) <= 1e-6f, "axpy n=%lld i=%lld", (long long)n,
				  (long long)i);
	}
}

/* A matrix of `rows` rows of `cols` values quantized to t; *deq receives what it stands for. */
static uint8_t *make_matrix(enum fy_dtype t, int64_t rows, int64_t cols, float **deq,
			    size_t *row_bytes)
{
	cr_assert(fy_quant_row_bytes(t, cols, row_bytes));
	uint8_t *q = malloc(*row_bytes * (size_t)rows + 1);
	float *x = malloc((size_t)cols * sizeof(float));
	*deq = malloc((size_t)(rows * cols) * sizeof(float));
	for (int64_t r = 0; r < rows; r++) {
		for (int64_t i = 0; i < cols; i++)
			x[i] = frand();
		fy_quant_row(t, x, q + (size_t)r * *row_bytes, cols);
		fy_dequant_row(t, q + (size_t)r * *row_bytes, *deq + r * cols, cols);
	}
	free(x);
	return q;
}

static void check_matmul(enum fy_dtype t, int64_t rows, int64_t cols, int64_t n_tok,
			 struct fy_pool *pool)
{
	float *deq;
	size_t rb;
	uint8_t *q = make_matrix(t, rows, cols, &deq, &rb);
	float *x = malloc((size_t)(n_tok * cols + 1) * sizeof(float));
	float *y = malloc((size_t)(n_tok * rows + 1) * sizeof(float));
	for (int64_t i = 0; i < n_tok * cols; i++)
		x[i] = frand();
	const struct fy_weight w = { .type = t,
				     .ne0 = cols,
				     .ne1 = rows,
				     .row_bytes = rb,
				     .data = q,
				     .name = "test.weight" };
	struct fy_err err;
	const struct fy_kernels *kinds[] = { &fy_kernels_scalar, fy_kernels_avx2() };
	for (size_t k = 0; k < 2; k++) {
		if (kinds[k] == NULL)
			continue;
		fy_kernels_select(kinds[k]);
		cr_assert_eq(fy_matmul(&w, x, n_tok, y, rows, pool, &err), FY_OK, "%s", err.msg);
		for (int64_t tk = 0; tk < n_tok; tk++) {
			for (int64_t r = 0; r < rows; r++) {
				double ref = 0;
				for (int64_t i = 0; i < cols; i++)
					ref += (double)deq[r * cols + i] * x[tk * cols + i];
				cr_expect(fabs(ref - y[tk * rows + r]) < 1e-4 * (double)cols,
					  "%s %s row %lld tok %lld: %g vs %g", fy_dtype_name(t),
					  kinds[k]->name, (long long)r, (long long)tk, ref,
					  (double)y[tk * rows + r]);
			}
		}
	}
	fy_kernels_select(NULL);
	free(q);
	free(deq);
	free(x);
	free(y);
}

Test(infer, matmul_every_type)
{
	static const enum fy_dtype types[] = {
		FY_DTYPE_F32,  FY_DTYPE_F16,  FY_DTYPE_BF16, FY_DTYPE_Q4_0,   FY_DTYPE_Q4_1,
		FY_DTYPE_Q5_0, FY_DTYPE_Q5_1, FY_DTYPE_Q8_0, FY_DTYPE_Q2_K,   FY_DTYPE_Q3_K,
		FY_DTYPE_Q4_K, FY_DTYPE_Q5_K, FY_DTYPE_Q6_K, FY_DTYPE_IQ4_NL,
	};
	struct fy_pool *pool = NULL;
	struct fy_err err;
	cr_assert_eq(fy_pool_new(&pool, 2, &err), FY_OK);
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		const int64_t cols = fy_quant_traits(types[i])->blck == 256 ? 512 : 96;
		check_matmul(types[i], 1, cols, 1, NULL);   /* a single row */
		check_matmul(types[i], 7, cols, 3, NULL);   /* rows not a multiple of 4 */
		check_matmul(types[i], 130, cols, 2, pool); /* threaded */
		check_matmul(types[i], 5, cols, 0, pool);   /* no tokens */
	}
	fy_pool_free(pool);
}

/* The integer products (infer/qdot.c): every AVX2 tile equals the scalar kernel bit for bit, for
 * 1-4 tokens and any number of rows; the scalar kernel equals the double-precision product of the
 * dequantized rows and the dequantized activation blocks to rounding; fy_matmul_s with scratch
 * takes them and stays within the activations' rounding of the F32 product. */
Test(infer, qdot_kernels)
{
	static const enum fy_dtype types[] = { FY_DTYPE_Q8_0, FY_DTYPE_Q4_K, FY_DTYPE_Q5_K,
					       FY_DTYPE_Q6_K, FY_DTYPE_IQ4_XS };
	const int64_t cols = 768, rows = 9, ntok = 6;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		const struct fy_qdot *qd = fy_qdot_find(types[i]);
		cr_assert(qd != NULL, "%s has an integer kernel", fy_dtype_name(types[i]));
		float *deq;
		size_t rb;
		uint8_t *q = make_matrix(types[i], rows, cols, &deq, &rb);
		float *x = malloc((size_t)(ntok * cols) * sizeof(float));
		float *xd = malloc((size_t)(ntok * cols) * sizeof(float));
		for (int64_t k = 0; k < ntok * cols; k++)
			x[k] = frand() * (k % 97 == 0 ? 8.0f : 1.0f); /* a few outliers */
		const size_t lda = fy_qact_row_bytes(qd->act, cols);
		uint8_t *a = malloc(lda * (size_t)ntok);
		for (int64_t t = 0; t < ntok; t++) {
			fy_qact_quantize(qd->act, x + t * cols, a + (size_t)t * lda, cols);
			/* the activation blocks' values */
			const int64_t blk = qd->act == FY_QACT_A256 ? 256 : 32;
			for (int64_t b = 0; b < cols / blk; b++) {
				const uint8_t *p = a + (size_t)t * lda +
						   (size_t)b * (blk == 256 ? sizeof(struct blk_q8_k)
									   : sizeof(struct fy_a32));
				float d;
				memcpy(&d, p, sizeof(d));
				for (int64_t e = 0; e < blk; e++)
					xd[t * cols + b * blk + e] = d * (float)(int8_t)p[4 + e];
			}
		}
		float ys[6 * 9], yv[6 * 9];
		const int64_t nb = cols / (qd->act == FY_QACT_A256 ? 256 : 32);
		for (int64_t t = 0; t < ntok; t += FY_QDOT_TOKENS) {
			const int nt = (int)(ntok - t < FY_QDOT_TOKENS ? ntok - t : FY_QDOT_TOKENS);
			qd->scalar(q, rb, (int)rows, a + (size_t)t * lda, lda, nt, nb,
				   ys + t * rows, rows);
		}
		for (int64_t t = 0; t < ntok; t++) {
			for (int64_t r = 0; r < rows; r++) {
				double ref = 0, mag = 0;
				for (int64_t k = 0; k < cols; k++) {
					ref += (double)deq[r * cols + k] * xd[t * cols + k];
					mag += fabs((double)deq[r * cols + k] * xd[t * cols + k]);
				}
				cr_expect(fabs(ref - ys[t * rows + r]) <= 1e-5 * mag + 1e-6,
					  "%s scalar row %lld tok %lld: %g vs %g",
					  fy_dtype_name(types[i]), (long long)r, (long long)t, ref,
					  (double)ys[t * rows + r]);
			}
		}
		const struct fy_kernels *ak = fy_kernels_avx2();
		const fy_qdot_fn v = ak != NULL ? ak->qdot(types[i]) : NULL;
		for (int nt = 1; v != NULL && nt <= FY_QDOT_TOKENS; nt++) {
			for (int nr = 1; nr <= (int)rows; nr += 4) {
				memset(yv, 0, sizeof(yv));
				v(q, rb, nr, a, lda, nt, nb, yv, rows);
				for (int t = 0; t < nt; t++)
					for (int r = 0; r < nr; r++)
						cr_expect(memcmp(&yv[t * rows + r],
								 &ys[t * rows + r],
								 sizeof(float)) == 0,
							  "%s avx2 nt %d nr %d: %g vs %g",
							  fy_dtype_name(types[i]), nt, nr,
							  (double)yv[t * rows + r],
							  (double)ys[t * rows + r]);
			}
		}
		/* through fy_matmul_s, threaded, against the F32 product */
		const struct fy_weight w = { .type = types[i],
					     .ne0 = cols,
					     .ne1 = rows,
					     .row_bytes = rb,
					     .data = q,
					     .name = "test.weight" };
		struct fy_pool *pool = NULL;
		struct fy_err err;
		struct fy_buf scratch = { 0 };
		float yq[6 * 9], yf[6 * 9];
		cr_assert_eq(fy_pool_new(&pool, 2, &err), FY_OK);
		cr_assert_eq(fy_matmul_s(&w, x, ntok, yq, rows, pool, &scratch, &err), FY_OK);
		cr_assert_eq(fy_matmul(&w, x, ntok, yf, rows, pool, &err), FY_OK);
		for (int64_t k = 0; k < ntok * rows; k++) {
			cr_expect(memcmp(&yq[k], &ys[k], sizeof(float)) == 0 || v == NULL ||
					  fy_kernels_active() == &fy_kernels_scalar,
				  "%s fy_matmul_s takes the kernel", fy_dtype_name(types[i]));
			cr_expect(fabs(yq[k] - yf[k]) < 0.05 * sqrt((double)cols),
				  "%s q8 %g vs f32 %g", fy_dtype_name(types[i]), (double)yq[k],
				  (double)yf[k]);
		}
		fy_buf_release(&scratch);
		fy_pool_free(pool);
		free(q);
		free(deq);
		free(x);
		free(xd);
		free(a);
	}
}

/* Rotates head (n_rot values) at pos. */
static void rope(const struct fy_rope *r, float *head, int64_t pos)
{
	float cs[64];
	fy_rope_angles(r, pos, cs);
	fy_rope_apply(r, head, cs);
}

Test(infer, rope_styles)
{
	struct fy_rope r = { .style = FY_ROPE_NORM, .n_rot = 8, .base = 10000.0f };
	float a[8], b[8], c[8];
	for (int i = 0; i < 8; i++)
		a[i] = b[i] = frand();
	rope(&r, a, 0);
	for (int i = 0; i < 8; i++)
		cr_expect_eq(a[i], b[i], "position 0 is the identity");
	rope(&r, a, 5);
	for (int i = 0; i < 8; i += 2)
		cr_expect(fabsf(hypotf(a[i], a[i + 1]) - hypotf(b[i], b[i + 1])) < 1e-5f);
	/* NEOX on the de-interleaved head = NORM on the interleaved one */
	for (int i = 0; i < 4; i++) {
		c[i] = b[2 * i];
		c[i + 4] = b[2 * i + 1];
	}
	r.style = FY_ROPE_NEOX;
	rope(&r, c, 5);
	for (int i = 0; i < 4; i++) {
		cr_expect(fabsf(c[i] - a[2 * i]) < 1e-6f);
		cr_expect(fabsf(c[i + 4] - a[2 * i + 1]) < 1e-6f);
	}
	/* linear scaling by 2 at position 10 = no scaling at position 5 */
	memcpy(c, b, sizeof(c));
	r.scaling = FY_ROPE_SCALING_LINEAR;
	r.factor = 2.0f;
	rope(&r, c, 10);
	r.scaling = FY_ROPE_SCALING_NONE;
	memcpy(a, b, sizeof(a));
	rope(&r, a, 5);
	for (int i = 0; i < 8; i++)
		cr_expect(fabsf(c[i] - a[i]) < 1e-5f);
}

/* YaRN (llama.cpp's rope_yarn): pairs that rotate fast (below the low correction dimension)
 * keep their unscaled angle, slow ones are interpolated by 1/factor, and every pair's magnitude
 * is scaled by attn_factor * (1 + 0.1 ln factor). */
Test(infer, rope_yarn)
{
	const struct fy_rope y = { .style = FY_ROPE_NEOX,
				   .n_rot = 64,
				   .base = 10000.0f,
				   .scaling = FY_ROPE_SCALING_YARN,
				   .factor = 4.0f,
				   .n_ctx_orig = 4096,
				   .beta_fast = 32.0f,
				   .beta_slow = 1.0f,
				   .attn_factor = 1.0f };
	const struct fy_rope plain = { .style = FY_ROPE_NEOX, .n_rot = 64, .base = 10000.0f };
	float cy[64], cp[64], cq[64];
	const int64_t pos = 1000;
	fy_rope_angles(&y, pos, cy);
	fy_rope_angles(&plain, pos, cp);
	fy_rope_angles(&plain, pos / 4, cq); /* pos 1000 / factor 4: interpolated exactly */
	const float mscale = 1.0f + 0.1f * logf(4.0f);
	for (int i0 = 0; i0 < 64; i0 += 2)
		cr_expect(fabsf(hypotf(cy[i0], cy[i0 + 1]) - mscale) < 1e-5f, "magnitude, pair %d",
			  i0 / 2);
	/* pair 0 (fastest) is extrapolated: the plain angle */
	cr_expect(fabsf(cy[0] / mscale - cp[0]) < 1e-4f && fabsf(cy[1] / mscale - cp[1]) < 1e-4f);
	/* the last pair (slowest) is interpolated: the angle at pos / factor */
	cr_expect(fabsf(cy[62] / mscale - cq[62]) < 1e-4f &&
		  fabsf(cy[63] / mscale - cq[63]) < 1e-4f);
}

Test(infer, sampler)
{
	float logits[5] = { 0.1f, 2.0f, -1.0f, 1.9f, 0.0f };
	struct fy_sampler s;
	fy_sampler_init(&s, 0, 40, 0.95f, 1);
	cr_expect_eq(fy_sample(&s, logits, 5), 1);
	fy_sampler_init(&s, 1.0f, 2, 1.0f, 7);
	int seen[5] = { 0 };
	for (int i = 0; i < 400; i++)
		seen[fy_sample(&s, logits, 5)]++;
	cr_expect(seen[1] > 0 && seen[3] > 0, "top-k 2 draws both of the two likeliest");
	cr_expect(seen[0] + seen[2] + seen[4] == 0, "top-k 2 never draws the others");
	fy_sampler_init(&s, 1.0f, 0, 0.01f, 7);
	for (int i = 0; i < 50; i++)
		cr_expect_eq(fy_sample(&s, logits, 5), 1, "a tiny top-p keeps the likeliest only");
	const float far[3] = { 10.0f, -100.0f, 9.0f };
	fy_sampler_init(&s, 1.0f, 0, 1.0f, 3);
	for (int i = 0; i < 200; i++)
		cr_expect_neq(fy_sample(&s, far, 3), 1,
			      "a token e^-110 below the best is never drawn");
	struct fy_sampler a, b;
	fy_sampler_init(&a, 0.9f, 0, 1.0f, 42);
	fy_sampler_init(&b, 0.9f, 0, 1.0f, 42);
	for (int i = 0; i < 20; i++)
		cr_expect_eq(fy_sample(&a, logits, 5), fy_sample(&b, logits, 5), "same seed");
}

/* --- golden outputs --------------------------------------------------------------------------- */

static int32_t *read_ids(const char *json_path, const char *key, size_t *n)
{
	struct fy_buf b;
	struct fy_json *j = NULL;
	struct fy_err err;
	t_read(json_path, &b);
	cr_assert_eq(fy_json_parse(&j, b.data, b.len, json_path, &err), FY_OK, "%s", err.msg);
	const struct fy_json *a = fy_json_get(j, key);
	*n = fy_json_size(a);
	int32_t *ids = malloc((*n + 1) * sizeof(*ids));
	for (size_t i = 0; i < *n; i++) {
		int64_t v = -1;
		cr_assert(fy_json_int(fy_json_at(a, i), &v));
		ids[i] = (int32_t)v;
	}
	fy_json_free(j);
	fy_buf_release(&b);
	return ids;
}

/* Logits of the prompt (first 16 and last position) within 1e-3 of golden/, then greedy. */
static void check_golden(const char *name, const char *path_arg)
{
	char rel[256], path[4096];
	snprintf(path, sizeof(path), "%s", path_arg); /* t_data reuses its buffer */
	size_t n = 0, n_new = 0;
	snprintf(rel, sizeof(rel), "models/%s/golden/prompt_ids.json", name);
	int32_t *ids = read_ids(t_data(rel), "ids", &n);
	snprintf(rel, sizeof(rel), "models/%s/golden/greedy.json", name);
	int32_t *want = read_ids(t_data(rel), "new_ids", &n_new);
	struct fy_model *m = NULL;
	struct fy_ctx *c = NULL;
	struct fy_pool *pool = NULL;
	struct fy_err err;
	struct fy_buf first16, last;
	cr_assert_eq(fy_pool_new(&pool, 2, &err), FY_OK);
	cr_assert_eq(fy_model_open(&m, path, &err), FY_OK, "%s", err.msg);
	cr_assert_eq(fy_ctx_new(&c, m, 256, pool, &err), FY_OK, "%s", err.msg);
	const int V = m->hp.n_vocab;
	float *logits = malloc(n * (size_t)V * sizeof(float));
	cr_assert_eq(fy_eval(c, ids, (int)n, true, logits, &err), FY_OK, "%s", err.msg);
	snprintf(rel, sizeof(rel), "models/%s/golden/logits_first16.bin", name);
	t_read(t_data(rel), &first16);
	snprintf(rel, sizeof(rel), "models/%s/golden/logits_last.bin", name);
	t_read(t_data(rel), &last);
	cr_assert_eq(first16.len, 16 * (size_t)V * 4);
	cr_assert_eq(last.len, (size_t)V * 4);
	double max_diff = 0;
	for (size_t i = 0; i < 16 * (size_t)V; i++) {
		float g;
		memcpy(&g, first16.data + 4 * i, 4);
		max_diff = fmax(max_diff, fabs((double)g - logits[i]));
	}
	for (int i = 0; i < V; i++) {
		float g;
		memcpy(&g, last.data + 4 * (size_t)i, 4);
		max_diff =
			fmax(max_diff, fabs((double)g - logits[(n - 1) * (size_t)V + (size_t)i]));
	}
	cr_expect(max_diff < 1e-3, "%s via %s: logits differ by %g", name, path, max_diff);
	cr_log_info("%s via %s: largest logit difference %.3g", name, path, max_diff);
	/* greedy continuation */
	int32_t tok = fy_argmax(logits + (n - 1) * (size_t)V, V);
	for (size_t i = 0; i < n_new; i++) {
		cr_expect_eq(tok, want[i], "%s greedy token %zu", name, i);
		if (tok != want[i] || i + 1 == n_new)
			break;
		cr_assert_eq(fy_eval(c, &tok, 1, false, logits, &err), FY_OK, "%s", err.msg);
		tok = fy_argmax(logits, V);
	}
	free(logits);
	free(ids);
	free(want);
	fy_buf_release(&first16);
	fy_buf_release(&last);
	fy_ctx_free(c);
	fy_model_free(m);
	fy_pool_free(pool);
}

static void golden_both(const char *name)
{
	char rel[128];
	snprintf(rel, sizeof(rel), "models/%s", name);
	check_golden(name, t_data(rel));
	/* the same after conversion to GGUF f32 */
	struct fy_convert_opts o = { .outtype = FY_DTYPE_F32 };
	struct fy_convert_report rep;
	struct fy_err err;
	t_tmpdir();
	cr_assert_eq(fy_convert_hf_to_gguf(t_data(rel), t_tmp("m.gguf"), &o, &rep, &err), FY_OK,
		     "%s", err.msg);
	check_golden(name, t_tmp("m.gguf"));
	t_tmpdir_remove();
}

Test(infer, golden_llama_stories260K, .timeout = 120)
{
	golden_both("llama-stories260K");
}

Test(infer, golden_qwen2_shakespeare, .timeout = 120)
{
	golden_both("qwen2-shakespeare");
}

Test(infer, golden_qwen3_tiny, .timeout = 120)
{
	golden_both("qwen3-tiny");
}

/* Qwen3-MoE: softmax routing, top-2 renormalized, experts stacked by the converter */
Test(infer, golden_qwen3_moe_tiny, .timeout = 120)
{
	golden_both("qwen3-moe-tiny");
}

/* DeepSeek-V3: FP8 dequantized on load, latent attention, YaRN, grouped sigmoid routing with
 * the selection bias, shared expert, a leading dense layer, the MTP layer left out */
Test(infer, golden_deepseek_v3_tiny, .timeout = 120)
{
	golden_both("deepseek-v3-tiny");
}

/* GLM-4.5 (glm4moe), against llama.cpp v0.5.0's engine on its own conversion
 * (scripts/llama/infer-goldens.sh): q/k/v biases, q/k norms, RoPE on half of each head, the
 * post-attention norm, a leading dense layer, sigmoid routing with the selection bias and a
 * shared expert, the next-token-prediction layer kept in the file and left out of the forward */
Test(infer, golden_glm4moe_tiny, .timeout = 120)
{
	golden_both("glm4moe-tiny");
}

/* MiniMax-M2 (minimax-m2), against llama.cpp v0.5.0's engine: block FP8 weights dequantized on
 * load, q/k RMSNorms over the whole projection, RoPE on rotary_dim of each head, sigmoid routing
 * with the selection bias, renormalized, no shared expert */
Test(infer, golden_minimax_m2_tiny, .timeout = 120)
{
	golden_both("minimax-m2-tiny");
}

/* Kimi K2 (deepseek2 with Kimi's tiktoken vocabulary), against llama.cpp v0.5.0's engine: the
 * absorbed latent attention, YaRN with Kimi's ramp (beta_fast = beta_slow = 1), block FP8 */
Test(infer, golden_kimi_k2_tiny, .timeout = 120)
{
	golden_both("kimi-k2-tiny");
}

/* DeepSeek-V3.2 (deepseek32), against llama.cpp v0.5.0's engine: the lightning indexer keeps 16
 * positions per token of a 54-token prompt, so the attention is sparse for most of it */
Test(infer, golden_deepseek_v32_tiny, .timeout = 120)
{
	golden_both("deepseek-v32-tiny");
}

/* Kimi K2.5's language model (text_config, language_model., compressed-tensors int4 experts
 * dequantized on load), against llama.cpp v0.5.0's engine */
Test(infer, golden_kimi_k25_tiny, .timeout = 120)
{
	golden_both("kimi-k25-tiny");
}

/* GLM-4 dense (glm4), against llama.cpp v0.5.0's engine: sandwich norms, the fused gate_up,
 * RoPE on half of each head in adjacent pairs (HF's interleaved rotation read in place) */
Test(infer, golden_glm4_tiny, .timeout = 120)
{
	golden_both("glm4-tiny");
}

/* GLM-4.7-Flash (deepseek2 with GLM's vocabulary, v_head_dim wider than qk_nope_head_dim, its
 * next-token-prediction layer kept in the file), against llama.cpp v0.5.0's engine */
Test(infer, golden_glm47_flash_tiny, .timeout = 120)
{
	golden_both("glm47-flash-tiny");
}

/* DeepSeek-V4 (deepseek4), against llama.cpp v0.5.0's engine on the conversion widened to F32
 * (scripts/llama/widen.py): hyper-connection streams, the sliding window, compressed sparse
 * attention with its indexer (ratio 4: up to 43 blocks, 4 kept) and heavily compressed attention
 * (ratio 128: one block by the end of the 172-token prompt), sinks, hash routing in layer 0,
 * FP8 dequantized and FP4 experts read as MXFP4 */
Test(infer, golden_deepseek_v4_tiny, .timeout = 120)
{
	golden_both("deepseek-v4-tiny");
}

/* llama.cpp's GLM-4.7-Flash files carry no expert_gating_func: the model is known by its layers
 * (47, or 48 counting the next-token layer) and its 154,880 tokens, and routed by sigmoid */
Test(infer, deepseek2_glm_lite_rule)
{
	cr_expect(fy_deepseek2_is_glm_lite(47, 154880));
	cr_expect(fy_deepseek2_is_glm_lite(48, 154880));
	cr_expect(!fy_deepseek2_is_glm_lite(46, 154880));
	cr_expect(!fy_deepseek2_is_glm_lite(47, 129280)); /* DeepSeek's vocabulary */
	cr_expect(!fy_deepseek2_is_glm_lite(61, 154880));
	cr_expect(!fy_deepseek2_is_glm_lite(47, -1));
}

Test(infer, stories260K_greedy_128)
{
	static const int32_t want[] = {
		1,   403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338,
		401, 396, 267, 337, 410, 408, 419, 292, 411, 322, 265, 282, 295, 433, 426, 385, 328,
		432, 358, 394, 261, 370, 432, 352, 266, 268, 388, 426, 338, 391, 266, 267, 337, 335,
		312, 432, 398, 312, 286, 267, 414, 270, 333, 415, 426, 13,  438, 310, 439, 419, 357,
		336, 432, 313, 438, 310, 432, 278, 316, 439, 419, 298, 414, 267, 265, 282, 295, 433,
		426, 436, 317, 286, 296, 418, 269, 279, 292, 416, 439, 413, 409, 416, 327, 263, 415,
		294, 267, 400, 426, 338, 336, 432, 313, 442, 391, 267, 337, 335, 364, 420, 268, 388,
		432, 398, 359, 280, 303, 439, 413, 272, 417, 264,
	};
	struct fy_model *m = NULL;
	struct fy_ctx *c = NULL;
	struct fy_err err;
	cr_assert_eq(fy_model_open(&m, t_data("models/stories260K/stories260K.gguf"), &err), FY_OK,
		     "%s", err.msg);
	cr_expect_eq(m->hp.rope.style, FY_ROPE_NORM);
	cr_assert_eq(fy_ctx_new(&c, m, 0, NULL, &err), FY_OK, "%s", err.msg);
	float *logits = malloc((size_t)m->hp.n_vocab * sizeof(float));
	int32_t tok = want[0];
	for (size_t i = 1; i < sizeof(want) / sizeof(want[0]); i++) {
		cr_assert_eq(fy_eval(c, &tok, 1, false, logits, &err), FY_OK, "%s", err.msg);
		tok = fy_argmax(logits, m->hp.n_vocab);
		cr_assert_eq(tok, want[i], "position %zu", i);
	}
	/* the context is bounded; an id outside the vocabulary is refused */
	int32_t bad = m->hp.n_vocab;
	cr_expect_neq(fy_eval(c, &bad, 1, false, logits, &err), FY_OK);
	free(logits);
	fy_ctx_free(c);
	fy_model_free(m);
}

/* --- tokenizers ------------------------------------------------------------------------------- */

/* llama.cpp's test-tokenizer-0: every .inp text (separated by __ggml_vocab_test__ lines) gives
 * the ids of the matching .out line, without BOS, special tokens parsed. */
static void vocab_suite(const char *file)
{
	char rel[160];
	struct fy_buf inp, out;
	struct fy_gguf *g = NULL;
	struct fy_vocab *v = NULL;
	struct fy_err err;
	snprintf(rel, sizeof(rel), "models/gguf-vocab/%s", file);
	cr_assert_eq(fy_gguf_open(&g, t_data(rel), &err), FY_OK, "%s", err.msg);
	cr_assert_eq(fy_vocab_load(&v, g, &err), FY_OK, "%s", err.msg);
	snprintf(rel, sizeof(rel), "models/gguf-vocab/%s.inp", file);
	t_read(t_data(rel), &inp);
	snprintf(rel, sizeof(rel), "models/gguf-vocab/%s.out", file);
	t_read(t_data(rel), &out);
	fy_buf_append(&inp, "", 1, &err);
	fy_buf_append(&out, "", 1, &err);
	const char *sep = "\n__ggml_vocab_test__\n";
	char *text = (char *)inp.data, *line = (char *)out.data;
	int cases = 0, passed = 0;
	while (text != NULL && *line != '\0') {
		char *end = strstr(text, sep);
		const size_t len = end != NULL ? (size_t)(end - text) : strlen(text);
		char *nl = strchr(line, '\n');
		if (nl != NULL)
			*nl = '\0';
		int32_t *ids = NULL;
		size_t n = 0;
		cr_assert_eq(fy_tokenize(v, text, len, false, true, &ids, &n, &err), FY_OK, "%s",
			     err.msg);
		char got[8192];
		size_t at = 0;
		got[0] = '\0';
		for (size_t i = 0; i < n && at < sizeof(got) - 16; i++)
			at += (size_t)snprintf(got + at, sizeof(got) - at, " %d", ids[i]);
		cases++;
		if (strcmp(got, line) == 0)
			passed++;
		else
			cr_log_error("%s case %d '%.*s': got '%s', want '%s'", file, cases,
				     (int)len, text, got, line);
		/* decoding gives the text back (these vocabularies keep every byte) */
		struct fy_buf dec;
		fy_buf_init(&dec);
		for (size_t i = 0; i < n; i++)
			fy_detokenize(v, ids[i], false, &dec, &err);
		/* SentencePiece: the space prefix every text gets */
		const size_t skip = fy_vocab_kind(v) == FY_VOCAB_SPM && len > 0 ? 1 : 0;
		cr_expect(dec.len - skip == len &&
				  (len == 0 || memcmp(dec.data + skip, text, len) == 0),
			  "%s case %d decodes back", file, cases);
		fy_buf_release(&dec);
		free(ids);
		text = end != NULL ? end + strlen(sep) : NULL;
		line = nl != NULL ? nl + 1 : line + strlen(line);
	}
	cr_expect_eq(passed, cases, "%s: %d of %d cases", file, passed, cases);
	cr_expect_eq(cases, 46);
	fy_buf_release(&inp);
	fy_buf_release(&out);
	fy_vocab_free(v);
	fy_gguf_free(g);
}

Test(infer, tokenizer_llama_spm)
{
	vocab_suite("ggml-vocab-llama-spm.gguf");
}

Test(infer, tokenizer_phi3)
{
	vocab_suite("ggml-vocab-phi-3.gguf");
}

Test(infer, tokenizer_gpt2)
{
	vocab_suite("ggml-vocab-gpt-2.gguf");
}

/* An HF mixture's experts stored as the engine reads them (BF16 here) are used where the shards
 * map them, one source per expert, not stacked into a copy; FP8 ones are still converted. */
Test(infer, hf_experts_in_place)
{
	struct fy_model *m = NULL;
	struct fy_err err;
	cr_assert_eq(fy_model_open(&m, t_data("models/qwen3-moe-tiny"), &err), FY_OK, "%s",
		     err.msg);
	size_t in_place = 0;
	for (size_t i = 0; i < m->hf->n; i++) {
		const struct fy_hf_tensor *t = &m->hf->t[i];
		if (strstr(t->name, "_exps.") == NULL)
			continue;
		cr_expect(t->parts != NULL, "%s is stacked in memory", t->name);
		in_place += t->parts != NULL;
	}
	cr_expect_gt(in_place, 0);
	/* expert 1's gate is its own tensor in the shard, read in place */
	const struct fy_weight *g1 = &m->layers[0].experts[3 * 1];
	const struct fy_st_tensor *src =
		fy_st_model_find(m->hf->m, "model.layers.0.mlp.experts.1.gate_proj.weight", NULL);
	cr_assert_not_null(src);
	cr_expect_eq((const void *)g1->data, src->data);
	fy_model_free(m);
	/* fused experts (Qwen3.5-MoE): expert 1's up matrix is its rows of gate_up_proj, after
	 * its 128 gate rows, read where the shard holds them */
	cr_assert_eq(fy_model_open(&m, t_data("models/qwen35moe-tiny"), &err), FY_OK, "%s",
		     err.msg);
	const struct fy_st_tensor *gu = fy_st_model_find(
		m->hf->m, "model.language_model.layers.0.mlp.experts.gate_up_proj", NULL);
	cr_assert_not_null(gu);
	const struct fy_weight *u1 = &m->layers[0].experts[3 * 1 + 1];
	cr_expect_eq((const void *)u1->data,
		     (const void *)((const uint8_t *)gu->data +
				    (size_t)(2 * 128 + 128) * u1->row_bytes));
	fy_model_free(m);
	/* FP8 with block scales (DeepSeek-V3): the experts and the dense matrices read where the
	 * shards hold them, each with its scales */
	cr_assert_eq(fy_model_open(&m, t_data("models/deepseek-v3-tiny"), &err), FY_OK, "%s",
		     err.msg);
	size_t fp8 = 0;
	for (size_t i = 0; i < m->hf->n; i++)
		fp8 += m->hf->t[i].scale != NULL;
	cr_expect_gt(fp8, 0, "no FP8 tensor is read in place");
	const struct fy_st_tensor *e2 =
		fy_st_model_find(m->hf->m, "model.layers.1.mlp.experts.2.down_proj.weight", NULL);
	const struct fy_st_tensor *e2s = fy_st_model_find(
		m->hf->m, "model.layers.1.mlp.experts.2.down_proj.weight_scale_inv", NULL);
	cr_assert(e2 != NULL && e2s != NULL && e2->dtype == FY_DTYPE_F8_E4M3);
	const struct fy_weight *d2 = &m->layers[1].experts[3 * 2 + 2];
	cr_expect_eq((const void *)d2->data, e2->data);
	cr_expect_eq((const void *)d2->scale, e2s->data);
	cr_expect_eq(d2->type, FY_DTYPE_F8_E4M3);
	fy_model_free(m);
	/* compressed-tensors int4 (Kimi K2.5's experts): the packed words and group scales in
	 * place */
	cr_assert_eq(fy_model_open(&m, t_data("models/kimi-k25-tiny"), &err), FY_OK, "%s", err.msg);
	const struct fy_st_tensor *p1 = fy_st_model_find(
		m->hf->m, "language_model.model.layers.1.mlp.experts.0.up_proj.weight_packed",
		NULL);
	cr_assert_not_null(p1);
	const struct fy_weight *u0 = &m->layers[1].experts[1];
	cr_expect_eq((const void *)u0->data, p1->data);
	cr_expect_eq(u0->type, FY_DTYPE_I32);
	cr_expect_not_null(u0->scale);
	fy_model_free(m);
}

/* The prompt evaluated one token at a time, or in batches of 7, gives the same last logits as
 * one batch (the golden's): state carried across batches (DeepSeek-V4's compressor rings,
 * Qwen3-Next's convolution inputs and delta-rule states). */
static void batches_match(const char *name)
{
	char rel[160];
	size_t n = 0;
	snprintf(rel, sizeof(rel), "models/%s/golden/prompt_ids.json", name);
	int32_t *ids = read_ids(t_data(rel), "ids", &n);
	struct fy_buf last;
	snprintf(rel, sizeof(rel), "models/%s/golden/logits_last.bin", name);
	t_read(t_data(rel), &last);
	struct fy_model *m = NULL;
	struct fy_err err;
	snprintf(rel, sizeof(rel), "models/%s", name);
	cr_assert_eq(fy_model_open(&m, t_data(rel), &err), FY_OK, "%s", err.msg);
	const int V = m->hp.n_vocab;
	float *logits = malloc((size_t)V * sizeof(float));
	for (int cut = 1; cut <= 7; cut += 6) {
		struct fy_ctx *c = NULL;
		cr_assert_eq(fy_ctx_new(&c, m, 256, NULL, &err), FY_OK, "%s", err.msg);
		for (size_t s = 0; s < n; s += (size_t)cut) {
			const int k = n - s < (size_t)cut ? (int)(n - s) : cut;
			cr_assert_eq(fy_eval(c, ids + s, k, false, logits, &err), FY_OK, "%s",
				     err.msg);
		}
		double max_diff = 0;
		for (int i = 0; i < V; i++) {
			float g;
			memcpy(&g, last.data + 4 * (size_t)i, 4);
			max_diff = fmax(max_diff, fabs((double)g - logits[i]));
		}
		cr_expect(max_diff < 1e-3, "%s in batches of %d: the last logits differ by %g",
			  name, cut, max_diff);
		fy_ctx_free(c);
	}
	free(logits);
	free(ids);
	fy_buf_release(&last);
	fy_model_free(m);
}

Test(infer, deepseek_v4_batches, .timeout = 120)
{
	batches_match("deepseek-v4-tiny");
}

/* Qwen3-Next (qwen3next), against llama.cpp v0.5.0's engine: three Gated DeltaNet layers (the
 * short convolution, the delta rule with decay, the gated norm) and gated attention, the
 * shared expert behind its gate, the next-token block left out */
Test(infer, golden_qwen3_next_tiny, .timeout = 120)
{
	golden_both("qwen3-next-tiny");
}

Test(infer, qwen3_next_batches, .timeout = 120)
{
	batches_match("qwen3-next-tiny");
}

/* Qwen3.5 (qwen35), against llama.cpp v0.5.0's engine: Qwen3-Next's layers with b and a apart,
 * the value heads in the converter's tiled order (2 key heads, 4 value heads), which layers are
 * linear from attention.recurrent_layers, dense MLPs, MRoPE sections (text: NEOX RoPE); read
 * from the multimodal checkpoint (model.language_model.*) and from its conversion */
Test(infer, golden_qwen35_tiny, .timeout = 120)
{
	golden_both("qwen35-tiny");
}

Test(infer, qwen35_batches, .timeout = 120)
{
	batches_match("qwen35-tiny");
}

/* Qwen3.5-MoE (qwen35moe): qwen35's layers with every feed-forward a mixture plus the gated
 * shared expert, the experts stored fused (transformers v5's gate_up_proj and down_proj, read in
 * place as slices from the checkpoint) */
Test(infer, golden_qwen35moe_tiny, .timeout = 120)
{
	golden_both("qwen35moe-tiny");
}

Test(infer, qwen35moe_batches, .timeout = 120)
{
	batches_match("qwen35moe-tiny");
}

/* MiniMax-M1 (minimax-01), against llama.cpp v0.5.0's engine: 7 lightning-attention layers
 * (the chunked decayed linear attention over the prompt, the states carried into the greedy
 * tokens) and a softmax-attention 8th, the residual of the normalized input scaled by
 * residual_scale, softmax routing; from the checkpoint and from its conversion */
Test(infer, golden_minimax_m1_tiny, .timeout = 120)
{
	golden_both("minimax-m1-tiny");
}

Test(infer, minimax_m1_batches, .timeout = 120)
{
	batches_match("minimax-m1-tiny");
}

/* Kimi-Linear (kimi-linear), against llama.cpp v0.5.0's engine: three Kimi Delta Attention
 * layers (short convolutions, per-channel decays, the delta rule, the gated output norm) and a
 * latent-attention layer without RoPE, a dense first feed-forward then sigmoid-routed experts
 * with a shared one; from the checkpoint and from its conversion */
Test(infer, golden_kimi_linear_tiny, .timeout = 120)
{
	golden_both("kimi-linear-tiny");
}

Test(infer, kimi_linear_batches, .timeout = 120)
{
	batches_match("kimi-linear-tiny");
}
