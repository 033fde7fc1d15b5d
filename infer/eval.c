/*
 * The forward pass of the llama family over a batch of tokens, with a KV cache (docs/FORMATS.md,
 * "Inference semantics"): embeddings, then per layer RMSNorm, q/k/v (+ biases for qwen2, per-head
 * q/k RMSNorm for qwen3), RoPE, causal grouped-query attention, the output projection and a
 * residual; RMSNorm, the SwiGLU feed-forward and a residual; the final RMSNorm and the output
 * projection. Matrix products and attention heads are spread over the pool.
 */
#include "infer/infer.h"
#include "quant/quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CTX (1 << 20)

/* Activations of a batch, kept by the context and grown to the largest batch seen. */
struct scratch {
	int cap; /* tokens the buffers hold */
	float *x, *xn, *q, *k, *v, *att, *o, *g, *u;
	float *rope; /* [token][n_rot]: cos and sin of each pair at the token's position */
};

struct fy_ctx {
	const struct fy_model *m;
	struct fy_pool *pool;
	int n_ctx, pos;
	float *k, *v; /* [layer][n_ctx][n_head_kv * head_dim] */
	struct scratch s;
};

static void scratch_free(struct scratch *s);

int fy_ctx_new(struct fy_ctx **out, const struct fy_model *m, int n_ctx, struct fy_pool *pool,
	       struct fy_err *err)
{
	struct fy_ctx *c = calloc(1, sizeof(*c));
	if (n_ctx <= 0)
		n_ctx = m->hp.n_ctx_train < 4096 ? m->hp.n_ctx_train : 4096;
	if (n_ctx > MAX_CTX)
		n_ctx = MAX_CTX;
	const size_t kv = (size_t)m->hp.n_head_kv * (size_t)m->hp.head_dim;
	const size_t n = (size_t)m->hp.n_layer * (size_t)n_ctx * kv;
	*out = NULL;
	if (c == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	c->k = malloc(n * sizeof(float));
	c->v = malloc(n * sizeof(float));
	if (c->k == NULL || c->v == NULL) {
		fy_ctx_free(c);
		return fy_err_set(err, FY_ENOMEM, "out of memory for a KV cache of %d positions",
				  n_ctx);
	}
	c->m = m;
	c->pool = pool;
	c->n_ctx = n_ctx;
	*out = c;
	return FY_OK;
}

void fy_ctx_free(struct fy_ctx *c)
{
	if (c == NULL)
		return;
	free(c->k);
	free(c->v);
	scratch_free(&c->s);
	free(c);
}

int fy_ctx_size(const struct fy_ctx *c)
{
	return c->n_ctx;
}

int fy_ctx_pos(const struct fy_ctx *c)
{
	return c->pos;
}

void fy_ctx_reset(struct fy_ctx *c)
{
	c->pos = 0;
}

/* --- attention ------------------------------------------------------------------------------ */

struct attn_job {
	const struct fy_ctx *c;
	int layer, n, pos0;
	const float *q; /* [n][n_head * head_dim] */
	float *out;	/* [n][n_head * head_dim] */
};

/* One (token, head) pair per index: softmax(q·K^T / sqrt(d)) V over positions 0..pos. */
static int attn_range(void *ctx, int64_t begin, int64_t end, struct fy_err *err)
{
	const struct attn_job *j = ctx;
	const struct fy_hparams *hp = &j->c->m->hp;
	const struct fy_kernels *k = fy_kernels_active();
	const int hd = hp->head_dim, n_head = hp->n_head;
	const int64_t kv_dim = (int64_t)hp->n_head_kv * hd;
	const float scale = 1.0f / sqrtf((float)hd);
	const size_t layer_off = (size_t)j->layer * (size_t)j->c->n_ctx * (size_t)kv_dim;
	float *scores = malloc((size_t)(j->pos0 + j->n) * sizeof(float));
	if (scores == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	for (int64_t i = begin; i < end; i++) {
		const int t = (int)(i / n_head), h = (int)(i % n_head);
		const int kvh = h / (n_head / hp->n_head_kv);
		const int last = j->pos0 + t; /* causal: positions 0..last */
		const float *q = j->q + (int64_t)t * n_head * hd + (int64_t)h * hd;
		const float *kc = j->c->k + layer_off + (size_t)kvh * hd;
		const float *vc = j->c->v + layer_off + (size_t)kvh * hd;
		float *o = j->out + (int64_t)t * n_head * hd + (int64_t)h * hd;
		for (int p = 0; p <= last; p++)
			scores[p] = k->dot(q, kc + (size_t)p * kv_dim, hd) * scale;
		fy_softmax(scores, last + 1);
		memset(o, 0, (size_t)hd * sizeof(float));
		for (int p = 0; p <= last; p++)
			k->axpy(scores[p], vc + (size_t)p * kv_dim, o, hd);
	}
	free(scores);
	return FY_OK;
}

/* --- one layer ------------------------------------------------------------------------------ */

static void add_bias(float *y, const float *b, int n, int64_t dim)
{
	if (b == NULL)
		return;
	for (int t = 0; t < n; t++)
		for (int64_t i = 0; i < dim; i++)
			y[t * dim + i] += b[i];
}

/* Per-head RMSNorm (qwen3) and RoPE of n rows of n_heads heads (angles: one row per token). */
static void heads(const struct fy_model *m, float *x, int n, int n_heads, const float *norm,
		  const float *angles)
{
	const int hd = m->hp.head_dim;
	for (int t = 0; t < n; t++) {
		for (int h = 0; h < n_heads; h++) {
			float *p = x + ((int64_t)t * n_heads + h) * hd;
			if (norm != NULL)
				fy_rmsnorm(p, norm, m->hp.eps, hd, p);
			fy_rope_apply(&m->hp.rope, p, angles + (int64_t)t * m->hp.rope.n_rot);
		}
	}
}

static int layer(struct fy_ctx *c, int l, struct scratch *s, int n, struct fy_err *err)
{
	const struct fy_model *m = c->m;
	const struct fy_hparams *hp = &m->hp;
	const struct fy_layer *L = &m->layers[l];
	const int64_t E = hp->n_embd, Q = (int64_t)hp->n_head * hp->head_dim;
	const int64_t KV = (int64_t)hp->n_head_kv * hp->head_dim, F = hp->n_ff;
	const size_t layer_off = (size_t)l * (size_t)c->n_ctx * (size_t)KV;
	int rc = FY_OK;

	for (int t = 0; t < n; t++)
		fy_rmsnorm(s->x + t * E, L->attn_norm, hp->eps, E, s->xn + t * E);
	FY_TRY(rc, fy_matmul(&L->wq, s->xn, n, s->q, Q, c->pool, err));
	FY_TRY(rc, fy_matmul(&L->wk, s->xn, n, s->k, KV, c->pool, err));
	FY_TRY(rc, fy_matmul(&L->wv, s->xn, n, s->v, KV, c->pool, err));
	add_bias(s->q, L->bq, n, Q);
	add_bias(s->k, L->bk, n, KV);
	add_bias(s->v, L->bv, n, KV);
	heads(m, s->q, n, hp->n_head, L->q_norm, s->rope);
	heads(m, s->k, n, hp->n_head_kv, L->k_norm, s->rope);
	memcpy(c->k + layer_off + (size_t)c->pos * KV, s->k, (size_t)n * KV * sizeof(float));
	memcpy(c->v + layer_off + (size_t)c->pos * KV, s->v, (size_t)n * KV * sizeof(float));

	struct attn_job aj = { c, l, n, c->pos, s->q, s->att };
	const int64_t pairs = (int64_t)n * hp->n_head;
	if (c->pool != NULL)
		FY_TRY(rc, fy_pool_for(c->pool, pairs, 0, attn_range, &aj, err));
	else
		FY_TRY(rc, attn_range(&aj, 0, pairs, err));
	FY_TRY(rc, fy_matmul(&L->wo, s->att, n, s->o, E, c->pool, err));
	for (int64_t i = 0; i < n * E; i++)
		s->x[i] += s->o[i];

	for (int t = 0; t < n; t++)
		fy_rmsnorm(s->x + t * E, L->ffn_norm, hp->eps, E, s->xn + t * E);
	FY_TRY(rc, fy_matmul(&L->gate, s->xn, n, s->g, F, c->pool, err));
	FY_TRY(rc, fy_matmul(&L->up, s->xn, n, s->u, F, c->pool, err));
	fy_swiglu(s->g, s->u, n * F);
	FY_TRY(rc, fy_matmul(&L->down, s->g, n, s->o, E, c->pool, err));
	for (int64_t i = 0; i < n * E; i++)
		s->x[i] += s->o[i];
out:
	return rc;
}

/* --- the batch ------------------------------------------------------------------------------ */

static void scratch_free(struct scratch *s)
{
	free(s->x);
	free(s->xn);
	free(s->q);
	free(s->k);
	free(s->v);
	free(s->att);
	free(s->o);
	free(s->g);
	free(s->u);
	free(s->rope);
	memset(s, 0, sizeof(*s));
}

/* Room for a batch of n tokens (what an earlier batch as large left is reused). */
static int scratch_fit(struct scratch *s, const struct fy_hparams *hp, int n, struct fy_err *err)
{
	const size_t N = (size_t)n, E = (size_t)hp->n_embd, F = (size_t)hp->n_ff;
	const size_t Q = (size_t)hp->n_head * hp->head_dim;
	const size_t KV = (size_t)hp->n_head_kv * hp->head_dim;
	if (n <= s->cap)
		return FY_OK;
	scratch_free(s);
	s->x = malloc(N * E * sizeof(float));
	s->xn = malloc(N * E * sizeof(float));
	s->q = malloc(N * Q * sizeof(float));
	s->k = malloc(N * KV * sizeof(float));
	s->v = malloc(N * KV * sizeof(float));
	s->att = malloc(N * Q * sizeof(float));
	s->o = malloc(N * E * sizeof(float));
	s->g = malloc(N * F * sizeof(float));
	s->u = malloc(N * F * sizeof(float));
	s->rope = malloc(N * (size_t)hp->rope.n_rot * sizeof(float) + 1);
	if (!s->x || !s->xn || !s->q || !s->k || !s->v || !s->att || !s->o || !s->g || !s->u ||
	    !s->rope) {
		scratch_free(s);
		return fy_err_set(err, FY_ENOMEM, "out of memory for a batch of %d tokens", n);
	}
	s->cap = n;
	return FY_OK;
}

int fy_eval(struct fy_ctx *c, const int32_t *tokens, int n, bool all, float *logits,
	    struct fy_err *err)
{
	const struct fy_model *m = c->m;
	const struct fy_hparams *hp = &m->hp;
	struct scratch *s = &c->s;
	int rc = FY_OK;
	if (n <= 0)
		return FY_OK;
	if (n > c->n_ctx - c->pos)
		return fy_err_set(err, FY_EINVAL,
				  "the context holds %d positions: %d used, %d more do not fit",
				  c->n_ctx, c->pos, n);
	for (int t = 0; t < n; t++) {
		if (tokens[t] < 0 || tokens[t] >= hp->n_vocab)
			return fy_err_set(err, FY_EINVAL,
					  "token id %d is outside the vocabulary (%d)", tokens[t],
					  hp->n_vocab);
	}
	FY_TRY(rc, scratch_fit(s, hp, n, err));
	for (int t = 0; t < n; t++) {
		fy_dequant_row(m->tok_embd.type,
			       m->tok_embd.data + (size_t)tokens[t] * m->tok_embd.row_bytes,
			       s->x + (int64_t)t * hp->n_embd, hp->n_embd);
		/* every layer rotates by the same angles: computed once per position */
		fy_rope_angles(&hp->rope, c->pos + t, s->rope + (int64_t)t * hp->rope.n_rot);
	}
	for (int l = 0; l < hp->n_layer && rc == FY_OK; l++)
		rc = layer(c, l, s, n, err);
	if (rc == FY_OK) {
		const int first = all ? 0 : n - 1;
		for (int t = first; t < n; t++)
			fy_rmsnorm(s->x + (int64_t)t * hp->n_embd, m->output_norm, hp->eps,
				   hp->n_embd, s->xn + (int64_t)(t - first) * hp->n_embd);
		rc = fy_matmul(&m->output, s->xn, n - first, logits, hp->n_vocab, c->pool, err);
	}
	if (rc == FY_OK)
		c->pos += n;
out:
	return rc;
}
