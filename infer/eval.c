/*
 * The forward pass over a batch of tokens, with a KV cache (docs/FORMATS.md, "Inference
 * semantics"): embeddings, each layer as its architecture defines it (infer/arch/NAME.c), the
 * final RMSNorm and the output projection; and the building blocks the architectures' layers
 * are made of: RMSNorm, q/k/v (+ biases, per-head q/k RMSNorm; DeepSeek's latent attention
 * expands k and v from a normalized latent), RoPE, causal grouped-query attention and the output
 * projection, the SwiGLU feed-forward or a mixture of experts (route, run each chosen expert over
 * its tokens, add the shared experts). Matrix products and attention heads are spread over the
 * pool.
 */
#include "infer/arch.h"
#include "quant/quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CTX (1 << 20)

static void scratch_free(struct fy_scratch *s);

int fy_ctx_new(struct fy_ctx **out, const struct fy_model *m, int n_ctx, struct fy_pool *pool,
	       struct fy_err *err)
{
	struct fy_ctx *c = calloc(1, sizeof(*c));
	if (n_ctx <= 0)
		n_ctx = m->hp.n_ctx_train < 4096 ? m->hp.n_ctx_train : 4096;
	if (n_ctx > MAX_CTX)
		n_ctx = MAX_CTX;
	/* the absorbed latent attention caches each position's latent and rotated key part */
	const bool lat = m->hp.mla_absorbed;
	const size_t kv = lat ? (size_t)(m->hp.kv_lora_rank + m->hp.rope.n_rot)
			      : (size_t)m->hp.n_head_kv * (size_t)m->hp.head_dim;
	/* an architecture with its own forward (body) keeps only keys here, and its own caches */
	const bool own = m->arch->body != NULL;
	const size_t kvv = lat || own ? 0 : (size_t)m->hp.n_head_kv * (size_t)m->hp.head_dim_v;
	const size_t n = (size_t)m->hp.n_layer * (size_t)n_ctx;
	*out = NULL;
	if (c == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	c->k = malloc(n * kv * sizeof(float));
	c->v = malloc(n * kvv * sizeof(float) + 1);
	c->idx = malloc((own ? 0 : n * (size_t)m->hp.idx_dim) * sizeof(float) + 1);
	if (c->k == NULL || c->v == NULL || c->idx == NULL) {
		fy_ctx_free(c);
		return fy_err_set(err, FY_ENOMEM, "out of memory for a KV cache of %d positions",
				  n_ctx);
	}
	c->m = m;
	c->pool = pool;
	c->n_ctx = n_ctx;
	fy_ctx_set_activations(c, FY_ACT_F32);
	*out = c;
	return FY_OK;
}

int fy_eval_mm(struct fy_ctx *c, const struct fy_weight *w, int expert, const float *x, int64_t n,
	       float *y, int64_t ldy, struct fy_err *err)
{
	if (c->hook != NULL && n > 0)
		c->hook(c->hook_ctx, w, expert, x, n);
	return fy_matmul_s(w, x, n, y, ldy, c->pool, c->act == FY_ACT_Q8 ? &c->mm : NULL, err);
}

void fy_ctx_set_activations(struct fy_ctx *c, enum fy_activations a)
{
	const char *env = getenv("FERRY_ACTIVATIONS");
	if (env != NULL && (strcmp(env, "f32") == 0 || strcmp(env, "q8") == 0))
		a = strcmp(env, "q8") == 0 ? FY_ACT_Q8 : FY_ACT_F32;
	c->act = a;
}

enum fy_activations fy_ctx_activations(const struct fy_ctx *c)
{
	return c->act;
}

void fy_ctx_set_hook(struct fy_ctx *c, fy_matmul_hook_fn fn, void *ctx)
{
	c->hook = fn;
	c->hook_ctx = ctx;
}

void fy_ctx_free(struct fy_ctx *c)
{
	if (c == NULL)
		return;
	if (c->m != NULL && c->m->arch->ctx_free != NULL)
		c->m->arch->ctx_free(c);
	free(c->k);
	free(c->v);
	free(c->idx);
	scratch_free(&c->s);
	fy_buf_release(&c->mm);
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

/* One (token, head) pair per index: softmax(q·K^T * kq_scale) V over positions 0..pos. */
static int attn_range(void *ctx, int64_t begin, int64_t end, struct fy_err *err)
{
	const struct attn_job *j = ctx;
	const struct fy_hparams *hp = &j->c->m->hp;
	const struct fy_kernels *k = fy_kernels_active();
	const int hd = hp->head_dim, hdv = hp->head_dim_v, n_head = hp->n_head;
	const int64_t kv_dim = (int64_t)hp->n_head_kv * hd, v_dim = (int64_t)hp->n_head_kv * hdv;
	const size_t layer_pos = (size_t)j->layer * (size_t)j->c->n_ctx;
	float *scores = malloc((size_t)(j->pos0 + j->n) * sizeof(float));
	if (scores == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	for (int64_t i = begin; i < end; i++) {
		const int t = (int)(i / n_head), h = (int)(i % n_head);
		const int kvh = h / (n_head / hp->n_head_kv);
		const int last = j->pos0 + t; /* causal: positions 0..last */
		const float *q = j->q + (int64_t)t * n_head * hd + (int64_t)h * hd;
		const float *kc = j->c->k + layer_pos * (size_t)kv_dim + (size_t)kvh * hd;
		const float *vc = j->c->v + layer_pos * (size_t)v_dim + (size_t)kvh * hdv;
		float *o = j->out + (int64_t)t * n_head * hdv + (int64_t)h * hdv;
		for (int p = 0; p <= last; p++)
			scores[p] = k->dot(q, kc + (size_t)p * kv_dim, hd) * hp->kq_scale;
		fy_softmax(scores, last + 1);
		memset(o, 0, (size_t)hdv * sizeof(float));
		for (int p = 0; p <= last; p++)
			k->axpy(scores[p], vc + (size_t)p * v_dim, o, hdv);
	}
	free(scores);
	return FY_OK;
}

/* The absorbed latent attention of one (token, head) pair per index: the head's query is its
 * unrotated part absorbed into the latent space (qa, rank wide) and its rotated part; a
 * position's key is its cached latent and rotated part, its value the latent; the output is the
 * attention-weighted latent (out, rank wide), which v_b expands afterwards. */
struct lat_job {
	const struct fy_ctx *c;
	int layer, n, pos0;
	const float *qa, *q; /* [n][n_head][rank], [n][n_head][head_dim] (rope part at nope) */
	float *out;	     /* [n][n_head][rank] */
	const uint8_t
		*sel; /* the lightning indexer's choice ([n][n_ctx]), or NULL: every position */
};

static int lat_range(void *ctx, int64_t begin, int64_t end, struct fy_err *err)
{
	const struct lat_job *j = ctx;
	const struct fy_hparams *hp = &j->c->m->hp;
	const struct fy_kernels *k = fy_kernels_active();
	const int H = hp->n_head, R = hp->kv_lora_rank, rot = hp->rope.n_rot;
	const int nope = hp->head_dim - rot;
	const size_t row = (size_t)(R + rot);
	const float *cache = j->c->k + (size_t)j->layer * (size_t)j->c->n_ctx * row;
	float *scores = malloc((size_t)(j->pos0 + j->n) * sizeof(float));
	if (scores == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	for (int64_t i = begin; i < end; i++) {
		const int t = (int)(i / H), h = (int)(i % H);
		const int last = j->pos0 + t;
		const float *qa = j->qa + ((int64_t)t * H + h) * R;
		const float *qpe = j->q + ((int64_t)t * H + h) * hp->head_dim + nope;
		float *o = j->out + ((int64_t)t * H + h) * R;
		const uint8_t *sel =
			j->sel != NULL ? j->sel + (size_t)t * (size_t)j->c->n_ctx : NULL;
		for (int p = 0; p <= last; p++) {
			const float *kp = cache + (size_t)p * row;
			scores[p] = sel != NULL && !sel[p]
					    ? -INFINITY
					    : (k->dot(qa, kp, R) + k->dot(qpe, kp + R, rot)) *
						      hp->kq_scale;
		}
		fy_softmax(scores, last + 1);
		memset(o, 0, (size_t)R * sizeof(float));
		for (int p = 0; p <= last; p++) {
			if (sel == NULL || sel[p])
				k->axpy(scores[p], cache + (size_t)p * row, o, R);
		}
	}
	free(scores);
	return FY_OK;
}

/* The lightning indexer's choice for tokens [begin, end): a position's score is the sum over
 * indexer heads of relu(query . key) times the head's weight; each token keeps the idx_top_k
 * best of positions 0..its own (ties to the earlier position), all of them when fewer. */
struct idx_job {
	const struct fy_ctx *c;
	int layer, n, pos0;
};

static int idx_range(void *ctx, int64_t begin, int64_t end, struct fy_err *err)
{
	const struct idx_job *j = ctx;
	const struct fy_hparams *hp = &j->c->m->hp;
	const struct fy_kernels *k = fy_kernels_active();
	const struct fy_scratch *s = &j->c->s;
	const int IH = hp->idx_heads, D = hp->idx_dim, n_ctx = j->c->n_ctx;
	const float *keys = j->c->idx + (size_t)j->layer * (size_t)n_ctx * (size_t)D;
	float *score = malloc((size_t)(j->pos0 + j->n) * sizeof(float));
	int *order = malloc((size_t)(j->pos0 + j->n) * sizeof(int));
	if (score == NULL || order == NULL) {
		free(score);
		free(order);
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	}
	for (int64_t t = begin; t < end; t++) {
		const int last = j->pos0 + (int)t;
		uint8_t *sel = s->sel + (size_t)t * (size_t)n_ctx;
		memset(sel, 0, (size_t)n_ctx);
		if (last + 1 <= hp->idx_top_k) { /* every position fits */
			memset(sel, 1, (size_t)last + 1);
			continue;
		}
		for (int p = 0; p <= last; p++) {
			float sum = 0;
			for (int h = 0; h < IH; h++) {
				const float d =
					k->dot(s->iq + (t * IH + h) * D, keys + (size_t)p * D, D);
				sum += (d > 0 ? d : 0) * s->iw[t * IH + h];
			}
			score[p] = sum;
		}
		/* the top k by a selection: repeatedly the best remaining (k is small beside a
		 * context, and ties go to the earlier position) */
		for (int p = 0; p <= last; p++)
			order[p] = p;
		for (int i = 0; i < hp->idx_top_k; i++) {
			int b = i;
			for (int q = i + 1; q <= last; q++) {
				if (score[order[q]] > score[order[b]] ||
				    (score[order[q]] == score[order[b]] && order[q] < order[b]))
					b = q;
			}
			const int tmp = order[i];
			order[i] = order[b];
			order[b] = tmp;
			sel[order[i]] = 1;
		}
	}
	free(score);
	free(order);
	return FY_OK;
}

/* LayerNorm of n values with weight and bias (the indexer's key norm, eps 1e-6 as llama.cpp). */
static void layernorm(float *x, const float *w, const float *b, int n)
{
	double mean = 0, var = 0;
	for (int i = 0; i < n; i++)
		mean += x[i];
	mean /= n;
	for (int i = 0; i < n; i++)
		var += (x[i] - mean) * (x[i] - mean);
	const float inv = 1.0f / sqrtf((float)(var / n) + 1e-6f);
	for (int i = 0; i < n; i++)
		x[i] = ((x[i] - (float)mean) * inv) * w[i] + b[i];
}

/* The lightning indexer of layer l over the batch (s.qa: q_a's normalized output): queries and
 * the batch's keys (RoPE in NEOX order on their first rope dimensions, whatever the model's own
 * order), the keys cached, then each token's choice into s.sel. The Hadamard rotation DeepSeek
 * and llama.cpp apply to both before their dot products is orthonormal: it leaves the dot
 * products as they are and is not applied. */
static int indexer(struct fy_ctx *c, int l, int n, struct fy_err *err)
{
	const struct fy_hparams *hp = &c->m->hp;
	const struct fy_layer *L = &c->m->layers[l];
	struct fy_scratch *s = &c->s;
	const int IH = hp->idx_heads, D = hp->idx_dim;
	struct fy_rope neox = hp->rope;
	float *keys = c->idx + ((size_t)l * (size_t)c->n_ctx + (size_t)c->pos) * (size_t)D;
	int rc = FY_OK;
	neox.style = FY_ROPE_NEOX;
	FY_TRY(rc, fy_eval_mm(c, &L->idx_q_b, -1, s->qa, n, s->iq, (int64_t)IH * D, err));
	FY_TRY(rc, fy_eval_mm(c, &L->idx_k, -1, s->xn, n, keys, D, err));
	FY_TRY(rc, fy_eval_mm(c, &L->idx_proj, -1, s->xn, n, s->iw, IH, err));
	const float wscale = 1.0f / sqrtf((float)D * (float)IH);
	for (int t = 0; t < n; t++) {
		const float *angles = s->rope + (int64_t)t * hp->rope.n_rot;
		for (int h = 0; h < IH; h++) {
			fy_rope_apply(&neox, s->iq + ((int64_t)t * IH + h) * D, angles);
			s->iw[t * IH + h] *= wscale;
		}
		layernorm(keys + (size_t)t * (size_t)D, L->idx_k_norm, L->idx_k_norm_b, D);
		fy_rope_apply(&neox, keys + (size_t)t * (size_t)D, angles);
	}
	struct idx_job ij = { c, l, n, c->pos };
	if (c->pool != NULL)
		FY_TRY(rc, fy_pool_for(c->pool, n, 0, idx_range, &ij, err));
	else
		FY_TRY(rc, idx_range(&ij, 0, n, err));
out:
	return rc;
}

int fy_eval_attention_absorbed(struct fy_ctx *c, int l, int n, struct fy_err *err)
{
	const struct fy_model *m = c->m;
	const struct fy_hparams *hp = &m->hp;
	const struct fy_layer *L = &m->layers[l];
	struct fy_scratch *s = &c->s;
	const int64_t H = hp->n_head, hd = hp->head_dim, hdv = hp->head_dim_v;
	const int64_t rot = hp->rope.n_rot, nope = hd - rot, R = hp->kv_lora_rank;
	const int64_t QA = hp->q_lora_rank;
	int rc = FY_OK;
	if (QA > 0) {
		FY_TRY(rc, fy_eval_mm(c, &L->wq_a, -1, s->xn, n, s->qa, QA, err));
		for (int t = 0; t < n; t++)
			fy_rmsnorm(s->qa + t * QA, L->q_a_norm, hp->eps, QA, s->qa + t * QA);
		FY_TRY(rc, fy_eval_mm(c, &L->wq_b, -1, s->qa, n, s->q, H * hd, err));
	} else {
		FY_TRY(rc, fy_eval_mm(c, &L->wq, -1, s->xn, n, s->q, H * hd, err));
	}
	FY_TRY(rc, fy_eval_mm(c, &L->wkv_a, -1, s->xn, n, s->kva, R + rot, err));
	/* the cache row of each position: the normalized latent, then the rotated key part */
	float *cache = c->k + ((size_t)l * (size_t)c->n_ctx + (size_t)c->pos) * (size_t)(R + rot);
	for (int t = 0; t < n; t++) {
		const float *angles = s->rope + (int64_t)t * rot;
		float *row = cache + (size_t)t * (size_t)(R + rot);
		fy_rmsnorm(s->kva + t * (R + rot), L->kv_a_norm, hp->eps, R, row);
		memcpy(row + R, s->kva + t * (R + rot) + R, (size_t)rot * sizeof(float));
		fy_rope_apply(&hp->rope, row + R, angles);
		for (int64_t h = 0; h < H; h++)
			fy_rope_apply(&hp->rope, s->q + (t * H + h) * hd + nope, angles);
	}
	/* each head's unrotated query part absorbed by its k_b: qa[t][h] = k_b[h] q_nope[t][h] */
	for (int64_t h = 0; h < H; h++) {
		for (int t = 0; t < n; t++)
			memcpy(s->lat + t * nope, s->q + (t * H + h) * hd,
			       (size_t)nope * sizeof(float));
		FY_TRY(rc,
		       fy_eval_mm(c, &L->wk_b[h], (int)h, s->lat, n, s->kvb + h * R, H * R, err));
	}
	if (hp->idx_heads > 0)
		FY_TRY(rc, indexer(c, l, n, err));
	struct lat_job lj = { c,      l,    n,		c->pos,
			      s->kvb, s->q, s->att_lat, hp->idx_heads > 0 ? s->sel : NULL };
	const int64_t pairs = (int64_t)n * H;
	if (c->pool != NULL)
		FY_TRY(rc, fy_pool_for(c->pool, pairs, 0, lat_range, &lj, err));
	else
		FY_TRY(rc, lat_range(&lj, 0, pairs, err));
	/* each head's latent output expanded by its v_b into its value */
	for (int64_t h = 0; h < H; h++) {
		for (int t = 0; t < n; t++)
			memcpy(s->lat + t * R, s->att_lat + (t * H + h) * R,
			       (size_t)R * sizeof(float));
		FY_TRY(rc, fy_eval_mm(c, &L->wv_b[h], (int)h, s->lat, n, s->att + h * hdv, H * hdv,
				      err));
	}
	FY_TRY(rc, fy_eval_mm(c, &L->wo, -1, s->att, n, s->o, hp->n_embd, err));
out:
	return rc;
}

/* --- recurrent layers' state ---------------------------------------------------------------- */

int fy_recurrent_new(struct fy_ctx *c, bool (*linear)(const struct fy_model *m, int l),
		     size_t conv_floats, size_t state_floats, struct fy_err *err)
{
	const int L = c->m->hp.n_layer;
	struct fy_recurrent *st = calloc(1, sizeof(*st));
	if (st == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	c->state = st;
	st->conv = calloc((size_t)L, sizeof(*st->conv));
	st->s = calloc((size_t)L, sizeof(*st->s));
	bool ok = st->conv != NULL && st->s != NULL;
	for (int l = 0; ok && l < L; l++) {
		if (!linear(c->m, l))
			continue;
		st->conv[l] = calloc(conv_floats > 0 ? conv_floats : 1, sizeof(float));
		st->s[l] = calloc(state_floats > 0 ? state_floats : 1, sizeof(float));
		ok = st->conv[l] != NULL && st->s[l] != NULL;
	}
	return ok ? FY_OK
		  : fy_err_set(err, FY_ENOMEM, "out of memory for %s's recurrent states",
			       c->m->hp.arch);
}

void fy_recurrent_free(struct fy_ctx *c)
{
	struct fy_recurrent *st = c->state;
	if (st == NULL)
		return;
	for (int l = 0; l < c->m->hp.n_layer; l++) {
		free(st->conv != NULL ? st->conv[l] : NULL);
		free(st->s != NULL ? st->s[l] : NULL);
	}
	free(st->conv);
	free(st->s);
	free(st);
	c->state = NULL;
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

int fy_eval_qkv(struct fy_ctx *c, const struct fy_layer *L, int n, struct fy_err *err)
{
	const struct fy_model *m = c->m;
	struct fy_scratch *s = &c->s;
	const struct fy_hparams *hp = &m->hp;
	const int64_t Q = (int64_t)hp->n_head * hp->head_dim;
	const int64_t KV = (int64_t)hp->n_head_kv * hp->head_dim;
	const int64_t VV = (int64_t)hp->n_head_kv * hp->head_dim_v;
	int rc = FY_OK;
	FY_TRY(rc, fy_eval_mm(c, &L->wq, -1, s->xn, n, s->q, Q, err));
	FY_TRY(rc, fy_eval_mm(c, &L->wk, -1, s->xn, n, s->k, KV, err));
	FY_TRY(rc, fy_eval_mm(c, &L->wv, -1, s->xn, n, s->v, VV, err));
	add_bias(s->q, L->bq, n, Q);
	add_bias(s->k, L->bk, n, KV);
	add_bias(s->v, L->bv, n, VV);
	if (hp->qk_norm_whole) { /* MiniMax: one RMSNorm over all heads of q, and of k */
		for (int t = 0; t < n; t++) {
			fy_rmsnorm(s->q + t * Q, L->q_norm, hp->eps, Q, s->q + t * Q);
			fy_rmsnorm(s->k + t * KV, L->k_norm, hp->eps, KV, s->k + t * KV);
		}
	}
	heads(m, s->q, n, hp->n_head, hp->qk_norm_whole ? NULL : L->q_norm, s->rope);
	heads(m, s->k, n, hp->n_head_kv, hp->qk_norm_whole ? NULL : L->k_norm, s->rope);
out:
	return rc;
}

/* Latent attention's q, k, v (DeepSeek): q through its low-rank bottleneck (q_a, norm, q_b);
 * kv_a gives the latent (normalized, then expanded by kv_b into each head's unrotated key part
 * and value) and one rotated key part shared by every head. */
int fy_eval_qkv_latent(struct fy_ctx *c, const struct fy_layer *L, int n, struct fy_err *err)
{
	const struct fy_hparams *hp = &c->m->hp;
	struct fy_scratch *s = &c->s;
	const int64_t H = hp->n_head, hd = hp->head_dim, hdv = hp->head_dim_v;
	const int64_t rot = hp->rope.n_rot, nope = hd - rot, R = hp->kv_lora_rank;
	const int64_t QA = hp->q_lora_rank, B = nope + hdv;
	int rc = FY_OK;
	if (QA > 0) {
		FY_TRY(rc, fy_eval_mm(c, &L->wq_a, -1, s->xn, n, s->qa, QA, err));
		for (int t = 0; t < n; t++)
			fy_rmsnorm(s->qa + t * QA, L->q_a_norm, hp->eps, QA, s->qa + t * QA);
		FY_TRY(rc, fy_eval_mm(c, &L->wq_b, -1, s->qa, n, s->q, H * hd, err));
	} else {
		FY_TRY(rc, fy_eval_mm(c, &L->wq, -1, s->xn, n, s->q, H * hd, err));
	}
	FY_TRY(rc, fy_eval_mm(c, &L->wkv_a, -1, s->xn, n, s->kva, R + rot, err));
	for (int t = 0; t < n; t++)
		fy_rmsnorm(s->kva + t * (R + rot), L->kv_a_norm, hp->eps, R, s->lat + t * R);
	FY_TRY(rc, fy_eval_mm(c, &L->wkv_b, -1, s->lat, n, s->kvb, H * B, err));
	for (int t = 0; t < n; t++) {
		const float *angles = s->rope + (int64_t)t * rot;
		float *pe = s->kva + t * (R + rot) + R;
		fy_rope_apply(&hp->rope, pe, angles);
		for (int64_t h = 0; h < H; h++) {
			float *q = s->q + (t * H + h) * hd;
			float *k = s->k + (t * H + h) * hd;
			const float *kv = s->kvb + (t * H + h) * B;
			fy_rope_apply(&hp->rope, q + nope, angles);
			memcpy(k, kv, (size_t)nope * sizeof(float));
			memcpy(k + nope, pe, (size_t)rot * sizeof(float));
			memcpy(s->v + (t * H + h) * hdv, kv + nope, (size_t)hdv * sizeof(float));
		}
	}
out:
	return rc;
}

struct swiglu_job {
	float *x;
	const float *y;
	float limit;
};

static int swiglu_range(void *ctx, int64_t begin, int64_t end, struct fy_err *err)
{
	const struct swiglu_job *j = ctx;
	(void)err;
	if (j->limit <= 0) {
		fy_swiglu(j->x + begin, j->y + begin, end - begin);
		return FY_OK;
	}
	/* clamped as llama.cpp's swiglu_clamp: the gate from above, the up both ways */
	for (int64_t i = begin; i < end; i++) {
		const float g = fminf(j->x[i], j->limit);
		const float u = fminf(fmaxf(j->y[i], -j->limit), j->limit);
		j->x[i] = g / (1.0f + expf(-g)) * u;
	}
	return FY_OK;
}

/* x = silu(x) * y over count values (clamped at limit when > 0), spread over the pool
 * (element-wise: the same values). */
static int swiglu_par(struct fy_ctx *c, float *x, const float *y, int64_t count, float limit,
		      struct fy_err *err)
{
	struct swiglu_job j = { x, y, limit };
	if (c->pool == NULL || count < 65536)
		return swiglu_range(&j, 0, count, err);
	return fy_pool_for(c->pool, count, 16384, swiglu_range, &j, err);
}

/* out = down(silu(gate(in)) * up(in)) for n rows of in, f wide inside (clamped at limit when
 * > 0). */
static int swiglu_ffn(struct fy_ctx *c, const struct fy_weight *gate, const struct fy_weight *up,
		      const struct fy_weight *down, int expert, const float *in, int n, int64_t f,
		      float limit, float *out, struct fy_err *err)
{
	struct fy_scratch *s = &c->s;
	int rc = FY_OK;
	FY_TRY(rc, fy_eval_mm(c, gate, expert, in, n, s->g, f, err));
	FY_TRY(rc, fy_eval_mm(c, up, expert, in, n, s->u, f, err));
	FY_TRY(rc, swiglu_par(c, s->g, s->u, n * f, limit, err));
	FY_TRY(rc, fy_eval_mm(c, down, expert, s->g, n, out, c->m->hp.n_embd, err));
out:
	return rc;
}

/* The index of the largest of x[0..n) not yet taken (-inf), lowest index on ties. */
static int best_of(const float *x, int n)
{
	int b = 0;
	for (int i = 1; i < n; i++)
		b = x[i] > x[b] ? i : b;
	return b;
}

/* A router logit's score: sigmoid, sqrt(softplus) (softplus as ggml's: x above 20), else the
 * logit itself (softmax follows). */
static float gate_score(enum fy_gating g, float x)
{
	if (g == FY_GATING_SIGMOID)
		return 1.0f / (1.0f + expf(-x));
	if (g == FY_GATING_SQRT_SOFTPLUS)
		return sqrtf(x > 20.0f ? x : log1pf(expf(x)));
	return x;
}

/*
 * One token's experts from its router logits lg (n_expert): softmax, sigmoid or sqrt-softplus
 * scores; for the choice only, the scores plus the selection bias, limited to the n_group_used
 * groups whose two best biased scores sum highest; the top n_expert_used (or the token's row of
 * a hash layer's table, `fixed`); their unbiased scores as weights, renormalized and scaled as
 * the hyper-parameters say.
 */
static void route(const struct fy_hparams *hp, const float *bias, const int32_t *fixed,
		  const float *lg, float *score, float *pick, int *chosen, float *w)
{
	const int X = hp->n_expert, K = hp->n_expert_used;
	for (int i = 0; i < X; i++)
		score[i] = gate_score(hp->gating, lg[i]);
	if (hp->gating == FY_GATING_SOFTMAX)
		fy_softmax(score, X);
	for (int i = 0; i < X; i++)
		pick[i] = score[i] + (bias != NULL ? bias[i] : 0.0f);
	if (hp->n_group > 1 && hp->n_group_used < hp->n_group && X >= hp->n_group) {
		const int per = X / hp->n_group;
		float gs[256]; /* n_group <= 256: checked on load */
		int keep[256] = { 0 };
		for (int g = 0; g < hp->n_group; g++) {
			const float *p = pick + g * per;
			const int a = best_of(p, per);
			float second = -INFINITY;
			for (int i = 0; i < per; i++)
				second = i != a && p[i] > second ? p[i] : second;
			gs[g] = p[a] + (per > 1 ? second : 0.0f);
		}
		for (int k = 0; k < hp->n_group_used; k++) {
			const int g = best_of(gs, hp->n_group);
			keep[g] = 1;
			gs[g] = -INFINITY;
		}
		for (int i = 0; i < X; i++)
			pick[i] = keep[i / per] ? pick[i] : -INFINITY;
	}
	float sum = 0;
	for (int k = 0; k < K; k++) {
		chosen[k] = fixed != NULL ? fixed[k] : best_of(pick, X);
		pick[chosen[k]] = -INFINITY;
		w[k] = score[chosen[k]];
		sum += w[k];
	}
	for (int k = 0; k < K; k++)
		w[k] = (hp->expert_norm ? w[k] / (sum + 1e-20f) : w[k]) * hp->expert_scale;
}

/* A mixture's feed-forward for n tokens into s->o: each expert runs once over the tokens that
 * chose it, its output added with their weights; then the shared experts. */
static int ffn_moe(struct fy_ctx *c, const struct fy_layer *L, struct fy_scratch *s, int n,
		   struct fy_err *err)
{
	const struct fy_hparams *hp = &c->m->hp;
	const struct fy_kernels *kern = fy_kernels_active();
	const int64_t E = hp->n_embd, X = hp->n_expert, K = hp->n_expert_used;
	float *score = s->logits + (int64_t)n * X, *pick = score + X;
	int rc = FY_OK;
	FY_TRY(rc, fy_eval_mm(c, &L->router, -1, s->xn, n, s->logits, X, err));
	for (int t = 0; t < n; t++)
		route(hp, L->exp_bias,
		      L->tid2eid != NULL ? L->tid2eid + (int64_t)c->tokens[t] * K : NULL,
		      s->logits + t * X, score, pick, s->chosen + t * K, s->weights + t * K);
	memset(s->o, 0, (size_t)n * (size_t)E * sizeof(float));
	for (int e = 0; e < X; e++) {
		int cnt = 0;
		for (int i = 0; i < n * K; i++) {
			if (s->chosen[i] == e)
				s->rows[cnt++] = i;
		}
		if (cnt == 0)
			continue;
		for (int j = 0; j < cnt; j++)
			memcpy(s->ein + j * E, s->xn + (s->rows[j] / K) * E,
			       (size_t)E * sizeof(float));
		const struct fy_weight *w = &L->experts[3 * e];
		FY_TRY(rc, swiglu_ffn(c, &w[0], &w[1], &w[2], e, s->ein, cnt, hp->n_ff_exp,
				      L->swiglu_limit, s->eout, err));
		for (int j = 0; j < cnt; j++)
			kern->axpy(s->weights[s->rows[j]], s->eout + j * E,
				   s->o + (s->rows[j] / K) * E, E);
	}
	if (hp->n_expert_shared > 0) {
		FY_TRY(rc, swiglu_ffn(c, &L->gate_sh, &L->up_sh, &L->down_sh, -1, s->xn, n,
				      hp->n_ff_shexp, L->swiglu_limit_sh, s->eout, err));
		if (L->shexp_gate.data != NULL) { /* their own gate: times sigmoid(gate . x) */
			FY_TRY(rc, fy_eval_mm(c, &L->shexp_gate, -1, s->xn, n, s->logits, 1, err));
			for (int t = 0; t < n; t++) {
				const float g = 1.0f / (1.0f + expf(-s->logits[t]));
				for (int64_t i = 0; i < E; i++)
					s->eout[t * E + i] *= g;
			}
		}
		for (int64_t i = 0; i < n * E; i++)
			s->o[i] += s->eout[i];
	}
out:
	return rc;
}

void fy_eval_norm(struct fy_ctx *c, const float *g, int n)
{
	const struct fy_hparams *hp = &c->m->hp;
	const int64_t E = hp->n_embd;
	for (int t = 0; t < n; t++)
		fy_rmsnorm(c->s.x + t * E, g, hp->eps, E, c->s.xn + t * E);
}

void fy_eval_residual(struct fy_ctx *c, int n)
{
	const int64_t ne = (int64_t)n * c->m->hp.n_embd;
	for (int64_t i = 0; i < ne; i++)
		c->s.x[i] += c->s.o[i];
}

int fy_eval_attend(struct fy_ctx *c, int l, int n, struct fy_err *err)
{
	const struct fy_hparams *hp = &c->m->hp;
	struct fy_scratch *s = &c->s;
	const int64_t KV = (int64_t)hp->n_head_kv * hp->head_dim;
	const int64_t VV = (int64_t)hp->n_head_kv * hp->head_dim_v;
	const size_t layer_pos = (size_t)l * (size_t)c->n_ctx + (size_t)c->pos;
	int rc = FY_OK;
	memcpy(c->k + layer_pos * (size_t)KV, s->k, (size_t)n * KV * sizeof(float));
	memcpy(c->v + layer_pos * (size_t)VV, s->v, (size_t)n * VV * sizeof(float));
	struct attn_job aj = { c, l, n, c->pos, s->q, s->att };
	const int64_t pairs = (int64_t)n * hp->n_head;
	if (c->pool != NULL)
		FY_TRY(rc, fy_pool_for(c->pool, pairs, 0, attn_range, &aj, err));
	else
		FY_TRY(rc, attn_range(&aj, 0, pairs, err));
out:
	return rc;
}

int fy_eval_attention(struct fy_ctx *c, int l, int n, struct fy_err *err)
{
	int rc = fy_eval_attend(c, l, n, err);
	if (rc != FY_OK)
		return rc;
	return fy_eval_mm(c, &c->m->layers[l].wo, -1, c->s.att, n, c->s.o, c->m->hp.n_embd, err);
}

/* GLM-4's fused feed-forward: up(x) gives 2 x n_ff per token, silu(first half) x second half
 * goes down. */
static int ffn_fused(struct fy_ctx *c, const struct fy_layer *L, int n, struct fy_err *err)
{
	struct fy_scratch *s = &c->s;
	const int64_t F = c->m->hp.n_ff;
	int rc = FY_OK;
	FY_TRY(rc, fy_eval_mm(c, &L->up, -1, s->xn, n, s->g, 2 * F, err));
	for (int t = 0; t < n; t++) {
		memcpy(s->u + t * F, s->g + t * 2 * F, (size_t)F * sizeof(float));
		fy_swiglu(s->u + t * F, s->g + t * 2 * F + F, F);
	}
	FY_TRY(rc, fy_eval_mm(c, &L->down, -1, s->u, n, s->o, c->m->hp.n_embd, err));
out:
	return rc;
}

void fy_eval_norm_out(struct fy_ctx *c, const float *g, int n)
{
	const struct fy_hparams *hp = &c->m->hp;
	const int64_t E = hp->n_embd;
	for (int t = 0; t < n; t++)
		fy_rmsnorm(c->s.o + t * E, g, hp->eps, E, c->s.o + t * E);
}

int fy_eval_ffn(struct fy_ctx *c, const struct fy_layer *L, int n, struct fy_err *err)
{
	if (L->moe)
		return ffn_moe(c, L, &c->s, n, err);
	if (c->m->hp.ffn_fused)
		return ffn_fused(c, L, n, err);
	return swiglu_ffn(c, &L->gate, &L->up, &L->down, -1, c->s.xn, n, c->m->hp.n_ff, 0, c->s.o,
			  err);
}

int fy_eval_block(struct fy_ctx *c, int l, int n, struct fy_err *err)
{
	const struct fy_layer *L = &c->m->layers[l];
	int rc = FY_OK;
	fy_eval_norm(c, L->attn_norm, n);
	if (c->m->hp.mla_absorbed) {
		FY_TRY(rc, fy_eval_attention_absorbed(c, l, n, err));
	} else {
		if (c->m->hp.kv_lora_rank > 0)
			FY_TRY(rc, fy_eval_qkv_latent(c, L, n, err));
		else
			FY_TRY(rc, fy_eval_qkv(c, L, n, err));
		FY_TRY(rc, fy_eval_attention(c, l, n, err));
	}
	rc = fy_eval_ffn_residual(c, L, n, err);
out:
	return rc;
}

int fy_eval_ffn_residual(struct fy_ctx *c, const struct fy_layer *L, int n, struct fy_err *err)
{
	fy_eval_residual(c, n);
	fy_eval_norm(c, L->ffn_norm, n);
	int rc = fy_eval_ffn(c, L, n, err);
	if (rc == FY_OK)
		fy_eval_residual(c, n);
	return rc;
}

/* --- the batch ------------------------------------------------------------------------------ */

static void scratch_free(struct fy_scratch *s)
{
	float *f[] = { s->x,	   s->xn, s->q,	   s->k,      s->v,	  s->att, s->o,
		       s->g,	   s->u,  s->rope, s->qa,     s->kva,	  s->lat, s->kvb,
		       s->att_lat, s->iq, s->iw,   s->logits, s->weights, s->ein, s->eout };
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		free(f[i]);
	free(s->sel);
	free(s->chosen);
	free(s->rows);
	memset(s, 0, sizeof(*s));
}

static size_t max_of(size_t a, size_t b)
{
	return a > b ? a : b;
}

/* Room for a batch of n tokens (what an earlier batch as large left is reused). */
static int scratch_fit(struct fy_scratch *s, const struct fy_hparams *hp, int n, int n_ctx,
		       struct fy_err *err)
{
	const size_t N = (size_t)n, E = (size_t)hp->n_embd, H = (size_t)hp->n_head;
	const size_t F =
		max_of(max_of((size_t)hp->n_ff * (hp->ffn_fused ? 2 : 1), (size_t)hp->n_ff_exp),
		       (size_t)hp->n_ff_shexp);
	const size_t Q = H * (size_t)hp->head_dim, QV = H * (size_t)hp->head_dim_v;
	const size_t KV = (size_t)hp->n_head_kv * (size_t)hp->head_dim;
	const size_t VV = (size_t)hp->n_head_kv * (size_t)hp->head_dim_v;
	const size_t R = (size_t)hp->kv_lora_rank, rot = (size_t)hp->rope.n_rot;
	const size_t X = (size_t)hp->n_expert, K = (size_t)hp->n_expert_used;
	const bool mla = R > 0, moe = X > 0;
	if (n <= s->cap)
		return FY_OK;
	scratch_free(s);
	s->x = malloc(N * E * sizeof(float));
	s->xn = malloc(N * E * sizeof(float));
	s->q = malloc(N * Q * sizeof(float));
	s->k = malloc(N * KV * sizeof(float));
	s->v = malloc(N * VV * sizeof(float));
	s->att = malloc(N * QV * sizeof(float));
	s->o = malloc(N * E * sizeof(float));
	s->g = malloc(N * F * sizeof(float));
	s->u = malloc(N * F * sizeof(float));
	s->rope = malloc(N * rot * sizeof(float) + 1);
	s->qa = malloc(N * (size_t)hp->q_lora_rank * sizeof(float) + 1);
	s->kva = malloc((mla ? N * (R + rot) : 0) * sizeof(float) + 1);
	/* latent attention: the normalized latent (absorbed: one head's gathered rows), kv_b's
	 * output (absorbed: the queries in latent space), the attention's latent outputs */
	const size_t nope = Q / H - rot;
	s->lat = malloc((mla ? N * max_of(R, nope) : 0) * sizeof(float) + 1);
	s->kvb = malloc(
		(mla ? N * H * max_of(nope + (size_t)hp->head_dim_v, R) : 0) * sizeof(float) + 1);
	s->att_lat = malloc((hp->mla_absorbed ? N * H * R : 0) * sizeof(float) + 1);
	const size_t IH = (size_t)hp->idx_heads;
	s->iq = malloc(N * IH * (size_t)hp->idx_dim * sizeof(float) + 1);
	s->iw = malloc(N * IH * sizeof(float) + 1);
	s->sel = malloc((IH > 0 ? N * (size_t)n_ctx : 0) + 1);
	s->logits = malloc((moe ? N * X + 2 * X : 0) * sizeof(float) + 1);
	s->weights = malloc(N * K * sizeof(float) + 1);
	s->chosen = malloc(N * K * sizeof(int) + 1);
	s->rows = malloc(N * K * sizeof(int) + 1);
	s->ein = malloc((moe ? N * E : 0) * sizeof(float) + 1);
	s->eout = malloc((moe ? N * E : 0) * sizeof(float) + 1);
	if (!s->x || !s->xn || !s->q || !s->k || !s->v || !s->att || !s->o || !s->g || !s->u ||
	    !s->rope || !s->qa || !s->kva || !s->lat || !s->kvb || !s->att_lat || !s->iq ||
	    !s->iw || !s->sel || !s->logits || !s->weights || !s->chosen || !s->rows || !s->ein ||
	    !s->eout) {
		scratch_free(s);
		return fy_err_set(err, FY_ENOMEM, "out of memory for a batch of %d tokens", n);
	}
	s->cap = n;
	return FY_OK;
}

void fy_eval_release_layer(const struct fy_ctx *c, int l)
{
	const struct fy_model *m = c->m;
	/* streaming: the layer's weights handed back to the kernel behind it */
	for (const struct fy_span *sp = m->stream ? m->layer_spans[l] : NULL;
	     sp != NULL && sp->p != NULL; sp++)
		fy_map_drop(sp->p, sp->n);
}

int fy_eval(struct fy_ctx *c, const int32_t *tokens, int n, bool all, float *logits,
	    struct fy_err *err)
{
	const struct fy_model *m = c->m;
	const struct fy_hparams *hp = &m->hp;
	struct fy_scratch *s = &c->s;
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
	FY_TRY(rc, scratch_fit(s, hp, n, c->n_ctx, err));
	for (int t = 0; t < n; t++) {
		fy_weight_row(&m->tok_embd, tokens[t], s->x + (int64_t)t * hp->n_embd);
		/* every layer rotates by the same angles: computed once per position */
		fy_rope_angles(&hp->rope, c->pos + t, s->rope + (int64_t)t * hp->rope.n_rot);
	}
	c->tokens = tokens;
	if (m->arch->body != NULL)
		rc = m->arch->body(c, n, err);
	for (int l = 0; m->arch->body == NULL && l < hp->n_layer && rc == FY_OK; l++) {
		rc = m->arch->layer(c, l, n, err);
		fy_eval_release_layer(c, l);
	}
	if (rc == FY_OK) {
		const int first = all ? 0 : n - 1;
		for (int t = first; t < n; t++)
			fy_rmsnorm(s->x + (int64_t)t * hp->n_embd, m->output_norm, hp->eps,
				   hp->n_embd, s->xn + (int64_t)(t - first) * hp->n_embd);
		rc = fy_eval_mm(c, &m->output, -1, s->xn, n - first, logits, hp->n_vocab, err);
	}
	if (rc == FY_OK)
		c->pos += n;
out:
	return rc;
}
