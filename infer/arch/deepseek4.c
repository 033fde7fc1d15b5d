/*
 * deepseek4 (DeepSeek-V4; llama.cpp's src/models/deepseek4.cpp and src/llama-kv-cache-dsv4.cpp).
 *
 * The residual is four streams (hyper-connections): before each attention and each
 * feed-forward, the streams flattened and RMS-normalized give 24 mixes through hc_*_fn; the
 * block reads the streams weighted by sigmoid(pre) + eps, and writes each stream back as
 * post x its output + comb x the streams, comb a Sinkhorn-normalized 4 x 4 matrix; the output
 * head reads the streams the same way (hc_head, pre only).
 *
 * Attention: queries through a q_lora bottleneck, RMS-normalized per head; one key/value head
 * (the same vector is key and value), RMS-normalized; RoPE on the last rope dimensions of both
 * (adjacent pairs). Each token attends, with a per-head sink, to the raw keys of its sliding
 * window and, by the layer's compression ratio, to compressed keys: each block of `ratio`
 * positions folds into one key (per feature, a softmax over the rows' gate scores, plus a
 * learned bias by position in the block, weighs the rows' values; RMSNorm; RoPE at the
 * block's first position). Ratio 128 (heavily compressed): every finished block. Ratio 4
 * (compressed sparse): the blocks overlap (the previous block's rows give the first half of
 * the features, the block's own the second), and a lightning indexer (its own compressor, its
 * queries from the q bottleneck) keeps the top_k blocks by sum_h relu(q_h . k) w_h. The
 * compressed layers rotate at compress_rope_freq_base with YaRN, ratio-0 layers at freq_base
 * without. The output is rotated back, projected per group of heads (wo_a) and mixed (wo_b).
 *
 * The feed-forward is a mixture in every layer: sqrt(softplus) scores, the selection bias, or
 * for the leading hash_layer_count layers the token's row of tid2eid; SwiGLU clamped; a shared
 * expert (infer/eval.c). llama.cpp's Hadamard rotations of keys and queries are orthogonal and
 * left out. The next-token-prediction layer is not run.
 */
#include "infer/arch.h"
#include "quant/quant.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HC 4		    /* hyper-connection streams (hyper_connection.count, checked) */
#define MIX ((2 + HC) * HC) /* the mixes: pre, post, comb */
#define CSA 4		    /* compressed sparse attention's ratio */
#define HCA 128		    /* heavily compressed attention's ratio */

/* A compressor: per position a row of values (wkv) and of gate scores (wgate, plus ape by the
 * position in its block), `w` wide (2d when blocks overlap), folded per block into d. */
struct v4_comp {
	struct fy_weight wkv, wgate;
	const float *ape;  /* [ratio][w] */
	const float *norm; /* [d] */
	int w, d;
};

struct v4_layer {
	int ratio;
	struct fy_weight hc_fn[2]; /* before attention, before the feed-forward */
	const float *hc_base[2], *hc_scale[2];
	const float *sinks;
	struct fy_weight wkv, wo_a, wo_b;
	struct v4_comp comp, icomp; /* the attention's, the indexer's (ratio 4) */
	int32_t tid2eid[];	    /* a hash layer's table */
};

struct v4_model {
	struct fy_weight hc_head_fn;
	const float *hc_head_base, *hc_head_scale;
	struct fy_rope rope_raw, rope_comp; /* ratio-0 layers'; the compressed layers' */
	int n_swa, o_groups, o_rank, sinkhorn;
	float hc_eps;
};

/* A layer's compressor state and compressed keys. */
struct v4_cache {
	float *kv, *score; /* a ring of the last rows (2 x ratio when overlapping, else ratio) */
	float *ck;	   /* [n_ctx / ratio][d] */
	float *ikv, *iscore, *ik;
};

struct v4_state {
	int n_ctx, cap;
	struct v4_cache *layers;
	/* a batch's buffers */
	float *x4, *tmp4, *flat, *mix, *pre, *post, *comb, *qr, *grp, *oa, *cw, *cg;
	float *iq, *iw;
};

/* --- loading -------------------------------------------------------------------------------- */

static int v4_hparams(struct fy_model *m, struct fy_err *err)
{
	struct fy_hparams *hp = &m->hp;
	const char *lb = fy_gguf_label(m->gguf != NULL ? m->gguf : m->hf->meta);
	struct v4_model *v = calloc(1, sizeof(*v));
	int hc = 0;
	double d;
	int rc = FY_OK;
	if (v == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	m->ext = v;
	FY_TRY(rc, fy_model_read_experts(m, true, err));
	FY_TRY(rc, fy_model_kv_int(m, "attention.q_lora_rank", true, 0, &hp->q_lora_rank, err));
	FY_TRY(rc, fy_model_kv_int(m, "attention.sliding_window", true, 0, &v->n_swa, err));
	FY_TRY(rc, fy_model_kv_int(m, "attention.output_group_count", true, 0, &v->o_groups, err));
	FY_TRY(rc, fy_model_kv_int(m, "attention.output_lora_rank", true, 0, &v->o_rank, err));
	FY_TRY(rc, fy_model_kv_int(m, "hyper_connection.count", true, 0, &hc, err));
	FY_TRY(rc, fy_model_kv_int(m, "hyper_connection.sinkhorn_iterations", true, 0, &v->sinkhorn,
				   err));
	FY_TRY(rc,
	       fy_model_kv_int(m, "attention.indexer.head_count", true, 0, &hp->idx_heads, err));
	FY_TRY(rc, fy_model_kv_int(m, "attention.indexer.key_length", true, 0, &hp->idx_dim, err));
	FY_TRY(rc, fy_model_kv_int(m, "attention.indexer.top_k", true, 0, &hp->idx_top_k, err));
	v->hc_eps =
		fy_model_kv_num(m, "hyper_connection.epsilon", &d) && d > 0 && d < 1 ? (float)d : 0;
	if (hp->gating != FY_GATING_SQRT_SOFTPLUS || hc != HC || v->hc_eps <= 0 ||
	    v->sinkhorn > 1000 || hp->n_head % v->o_groups != 0 || hp->head_dim != hp->head_dim_v ||
	    hp->n_head_kv != 1 || hp->rope.n_rot > hp->idx_dim || hp->rope.n_rot > 1024 ||
	    hp->idx_heads > 4096 || hp->n_expert == 0)
		return fy_err_set(
			err, FY_EFORMAT,
			"%s: DeepSeek-V4 needs sqrt-softplus routing (expert_gating_func "
			"4), 4 hyper-connection streams with an epsilon, at most 1000 "
			"Sinkhorn iterations, output groups dividing the heads, one "
			"key/value head as wide as the values and an indexer key at least "
			"as long as the rotation",
			lb);
	/* the rotations: ratio-0 layers as the file's base without scaling; compressed layers
	 * and compressors at compress_rope_freq_base with the file's scaling, their magnitude
	 * left at 1 (llama.cpp's dsv4_rope_attn_factor cancels YaRN's) */
	v->rope_raw = hp->rope;
	v->rope_raw.style = v->rope_comp.style = FY_ROPE_NORM;
	v->rope_raw.scaling = FY_ROPE_SCALING_NONE;
	v->rope_raw.attn_factor = 1;
	v->rope_comp = hp->rope;
	v->rope_comp.style = FY_ROPE_NORM;
	if (!fy_model_kv_num(m, "attention.compress_rope_freq_base", &d) || !(d > 0))
		return fy_err_set(err, FY_EFORMAT,
				  "%s: %s.attention.compress_rope_freq_base is "
				  "missing",
				  lb, hp->arch);
	v->rope_comp.base = (float)d;
	v->rope_comp.attn_factor = v->rope_comp.scaling == FY_ROPE_SCALING_YARN
					   ? 1.0f / (1.0f + 0.1f * logf(v->rope_comp.factor))
					   : 1.0f;
	/* the head's hyper-connection */
	FY_TRY(rc, fy_model_weight(m, "output_hc_fn.weight", HC * (int64_t)hp->n_embd, HC, false,
				   &v->hc_head_fn, err));
	FY_TRY(rc, fy_model_vector(m, "output_hc_base.weight", HC, false, &v->hc_head_base, err));
	FY_TRY(rc, fy_model_vector(m, "output_hc_scale.weight", 1, false, &v->hc_head_scale, err));
out:
	return rc;
}

static int load_comp(struct fy_model *m, int l, const char *pre, int ratio, int d, bool overlap,
		     struct v4_comp *k, struct fy_err *err)
{
	const int64_t E = m->hp.n_embd;
	char n[96];
	int rc = FY_OK;
	k->d = d;
	k->w = overlap ? 2 * d : d;
	snprintf(n, sizeof(n), "blk.%d.%s_kv.weight", l, pre);
	FY_TRY(rc, fy_model_weight(m, n, E, k->w, false, &k->wkv, err));
	snprintf(n, sizeof(n), "blk.%d.%s_gate.weight", l, pre);
	FY_TRY(rc, fy_model_weight(m, n, E, k->w, false, &k->wgate, err));
	snprintf(n, sizeof(n), "blk.%d.%s_ape.weight", l, pre);
	FY_TRY(rc, fy_model_matrix_f32(m, n, k->w, ratio, false, &k->ape, err));
	snprintf(n, sizeof(n), "blk.%d.%s_norm.weight", l, pre);
	FY_TRY(rc, fy_model_vector(m, n, d, false, &k->norm, err));
out:
	return rc;
}

#define NAME(s) (snprintf(n, sizeof(n), "blk.%d.%s", l, s), n)

static int v4_load(struct fy_model *m, int l, struct fy_layer *L, struct fy_err *err)
{
	struct fy_hparams *hp = &m->hp;
	const struct v4_model *v = m->ext;
	const char *lb = fy_gguf_label(m->gguf != NULL ? m->gguf : m->hf->meta);
	const int64_t E = hp->n_embd, D = hp->head_dim, H = hp->n_head, K = hp->n_expert_used;
	double d;
	char n[96];
	int rc = FY_OK;
	int hash = 0;
	if (fy_model_kv_num(m, "hash_layer_count", &d) && d > 0)
		FY_TRY(rc, fy_model_kv_int(m, "hash_layer_count", false, 0, &hash, err));
	const bool hashed = l < hash;
	struct v4_layer *x = calloc(
		1, sizeof(*x) + (hashed ? (size_t)hp->n_vocab * (size_t)K * sizeof(int32_t) : 0));
	if (x == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	L->ext = x;
	if (!fy_model_kv_arr(m, "attention.compress_ratios", l, &d) ||
	    (d != 0 && d != CSA && d != HCA))
		return fy_err_set(err, FY_EFORMAT,
				  "%s: %s.attention.compress_ratios has no ratio 0, 4 or 128 for "
				  "layer %d",
				  lb, hp->arch, l);
	x->ratio = (int)d;
	L->swiglu_limit = fy_model_kv_arr(m, "swiglu_clamp_exp", l, &d) && d > 1e-6 ? (float)d : 0;
	L->swiglu_limit_sh = fy_model_kv_arr(m, "swiglu_clamp_shexp", l, &d) && d > 1e-6
				     ? (float)d
				     : L->swiglu_limit;
	FY_TRY(rc, fy_model_vector(m, NAME("attn_norm.weight"), E, false, &L->attn_norm, err));
	FY_TRY(rc, fy_model_vector(m, NAME("ffn_norm.weight"), E, false, &L->ffn_norm, err));
	static const char *const hcn[2] = { "attn", "ffn" };
	for (int i = 0; i < 2; i++) {
		char s[48];
		snprintf(s, sizeof(s), "hc_%s_fn.weight", hcn[i]);
		FY_TRY(rc, fy_model_weight(m, NAME(s), HC * E, MIX, false, &x->hc_fn[i], err));
		snprintf(s, sizeof(s), "hc_%s_base.weight", hcn[i]);
		FY_TRY(rc, fy_model_vector(m, NAME(s), MIX, false, &x->hc_base[i], err));
		snprintf(s, sizeof(s), "hc_%s_scale.weight", hcn[i]);
		FY_TRY(rc, fy_model_vector(m, NAME(s), 3, false, &x->hc_scale[i], err));
	}
	FY_TRY(rc, fy_model_vector(m, NAME("attn_sinks.weight"), H, false, &x->sinks, err));
	FY_TRY(rc, fy_model_weight(m, NAME("attn_q_a.weight"), E, hp->q_lora_rank, false, &L->wq_a,
				   err));
	FY_TRY(rc, fy_model_vector(m, NAME("attn_q_a_norm.weight"), hp->q_lora_rank, false,
				   &L->q_a_norm, err));
	FY_TRY(rc, fy_model_weight(m, NAME("attn_q_b.weight"), hp->q_lora_rank, H * D, false,
				   &L->wq_b, err));
	FY_TRY(rc, fy_model_weight(m, NAME("attn_kv.weight"), E, D, false, &x->wkv, err));
	FY_TRY(rc, fy_model_vector(m, NAME("attn_kv_a_norm.weight"), D, false, &L->kv_a_norm, err));
	FY_TRY(rc, fy_model_weight(m, NAME("attn_output_a.weight"), H * D / v->o_groups,
				   (int64_t)v->o_rank * v->o_groups, false, &x->wo_a, err));
	FY_TRY(rc, fy_model_weight(m, NAME("attn_output_b.weight"),
				   (int64_t)v->o_rank * v->o_groups, E, false, &x->wo_b, err));
	if (x->ratio != 0)
		FY_TRY(rc, load_comp(m, l, "attn_compressor", x->ratio, (int)D, x->ratio == CSA,
				     &x->comp, err));
	if (x->ratio == CSA) {
		FY_TRY(rc, load_comp(m, l, "indexer_compressor", CSA, hp->idx_dim, true, &x->icomp,
				     err));
		FY_TRY(rc, fy_model_weight(m, NAME("indexer.attn_q_b.weight"), hp->q_lora_rank,
					   (int64_t)hp->idx_heads * hp->idx_dim, false, &L->idx_q_b,
					   err));
		FY_TRY(rc, fy_model_weight(m, NAME("indexer.proj.weight"), E, hp->idx_heads, false,
					   &L->idx_proj, err));
	}
	/* the mixture, in every layer; a hash layer routes by its table, without the bias */
	FY_TRY(rc, fy_model_load_ffn(m, l, L, err));
	if (hashed) {
		FY_TRY(rc, fy_model_i32(m, NAME("ffn_gate_tid2eid.weight"), K, hp->n_vocab,
					hp->n_expert, x->tid2eid, err));
		L->tid2eid = x->tid2eid;
		L->exp_bias = NULL;
	}
out:
	return rc;
}
#undef NAME

/* --- the context's caches --------------------------------------------------------------------- */

static void v4_ctx_free(struct fy_ctx *c)
{
	struct v4_state *st = c->state;
	if (st == NULL)
		return;
	for (int l = 0; st->layers != NULL && l < c->m->hp.n_layer; l++) {
		struct v4_cache *k = &st->layers[l];
		free(k->kv);
		free(k->score);
		free(k->ck);
		free(k->ikv);
		free(k->iscore);
		free(k->ik);
	}
	free(st->layers);
	float *f[] = { st->x4, st->tmp4, st->flat, st->mix, st->pre, st->post, st->comb,
		       st->qr, st->grp,	 st->oa,   st->cw,  st->cg,  st->iq,   st->iw };
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		free(f[i]);
	free(st);
	c->state = NULL;
}

static void *zalloc(size_t n, bool *ok)
{
	void *p = calloc(n + 1, 1);
	*ok = *ok && p != NULL;
	return p;
}

/* The caches, once per context: each compressed layer's ring and compressed keys. */
static int v4_state_new(struct fy_ctx *c, struct fy_err *err)
{
	const struct fy_model *m = c->m;
	const struct fy_hparams *hp = &m->hp;
	struct v4_state *st = calloc(1, sizeof(*st));
	if (st == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	bool ok = true;
	c->state = st;
	st->n_ctx = c->n_ctx;
	st->layers = zalloc((size_t)hp->n_layer * sizeof(*st->layers), &ok);
	for (int l = 0; ok && l < hp->n_layer; l++) {
		const struct v4_layer *x = m->layers[l].ext;
		struct v4_cache *k = &st->layers[l];
		if (x->ratio == 0)
			continue;
		const size_t ring = (size_t)(x->ratio == CSA ? 2 * CSA : x->ratio);
		const size_t blocks = (size_t)(c->n_ctx / x->ratio);
		k->kv = zalloc(ring * (size_t)x->comp.w * sizeof(float), &ok);
		k->score = zalloc(ring * (size_t)x->comp.w * sizeof(float), &ok);
		k->ck = zalloc(blocks * (size_t)x->comp.d * sizeof(float), &ok);
		if (x->ratio == CSA) {
			k->ikv = zalloc(ring * (size_t)x->icomp.w * sizeof(float), &ok);
			k->iscore = zalloc(ring * (size_t)x->icomp.w * sizeof(float), &ok);
			k->ik = zalloc(blocks * (size_t)x->icomp.d * sizeof(float), &ok);
		}
	}
	if (!ok)
		return fy_err_set(err, FY_ENOMEM,
				  "out of memory for DeepSeek-V4's caches (%d "
				  "positions)",
				  c->n_ctx);
	return FY_OK;
}

/* A batch of n tokens' buffers (what a batch as large left is reused). */
static int v4_fit(struct fy_ctx *c, int n, struct fy_err *err)
{
	const struct fy_hparams *hp = &c->m->hp;
	const struct v4_model *v = c->m->ext;
	struct v4_state *st = c->state;
	if (n <= st->cap)
		return FY_OK;
	float **f[] = { &st->x4, &st->tmp4, &st->flat, &st->mix, &st->pre, &st->post, &st->comb,
			&st->qr, &st->grp,  &st->oa,   &st->cw,	 &st->cg,  &st->iq,   &st->iw };
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		free(*f[i]);
		*f[i] = NULL;
	}
	const size_t N = (size_t)n, E = (size_t)hp->n_embd, D = (size_t)hp->head_dim;
	const size_t W = 2 * (D > (size_t)hp->idx_dim ? D : (size_t)hp->idx_dim);
	bool ok = true;
	st->x4 = zalloc(N * HC * E * sizeof(float), &ok);
	st->tmp4 = zalloc(N * HC * E * sizeof(float), &ok);
	st->flat = zalloc(N * HC * E * sizeof(float), &ok);
	st->mix = zalloc(N * MIX * sizeof(float), &ok);
	st->pre = zalloc(N * HC * sizeof(float), &ok);
	st->post = zalloc(N * HC * sizeof(float), &ok);
	st->comb = zalloc(N * HC * HC * sizeof(float), &ok);
	st->qr = zalloc(N * (size_t)hp->q_lora_rank * sizeof(float), &ok);
	st->grp = zalloc(N * (size_t)hp->n_head * D / (size_t)v->o_groups * sizeof(float), &ok);
	st->oa = zalloc(N * (size_t)v->o_rank * (size_t)v->o_groups * sizeof(float), &ok);
	st->cw = zalloc(N * W * sizeof(float), &ok);
	st->cg = zalloc(N * W * sizeof(float), &ok);
	st->iq = zalloc(N * (size_t)hp->idx_heads * (size_t)hp->idx_dim * sizeof(float), &ok);
	st->iw = zalloc(N * (size_t)hp->idx_heads * sizeof(float), &ok);
	if (!ok)
		return fy_err_set(err, FY_ENOMEM, "out of memory for a batch of %d tokens", n);
	st->cap = n;
	return FY_OK;
}

/* --- hyper-connections ------------------------------------------------------------------------ */

static float sigmoid(float x)
{
	return 1.0f / (1.0f + expf(-x));
}

/* The mixes of n tokens' streams through fn ([HC x E] -> rows), their flattened streams
 * RMS-normalized first. */
static int hc_mixes(struct fy_ctx *c, const struct fy_weight *fn, int n, struct fy_err *err)
{
	struct v4_state *st = c->state;
	const int64_t F = HC * (int64_t)c->m->hp.n_embd;
	for (int t = 0; t < n; t++)
		fy_rmsnorm(st->x4 + t * F, NULL, c->m->hp.eps, F, st->flat + t * F);
	return fy_eval_mm(c, fn, -1, st->flat, n, st->mix, fn->ne1, err);
}

/* A row-stochastic-then-column comb: softmax over dst for each src, + eps, columns normalized,
 * then iters - 1 rounds of rows and columns (comb[dst + HC * src], llama.cpp's order). */
static void sinkhorn(float *cb, int iters, float eps)
{
	for (int s = 0; s < HC; s++) {
		fy_softmax(cb + HC * s, HC);
		for (int d = 0; d < HC; d++)
			cb[d + HC * s] += eps;
	}
	for (int it = 0; it < iters; it++) {
		if (it > 0) { /* rows: over dst for each src */
			for (int s = 0; s < HC; s++) {
				float sum = 0;
				for (int d = 0; d < HC; d++)
					sum += cb[d + HC * s];
				for (int d = 0; d < HC; d++)
					cb[d + HC * s] /= sum + eps;
			}
		}
		for (int d = 0; d < HC; d++) { /* columns: over src for each dst */
			float sum = 0;
			for (int s = 0; s < HC; s++)
				sum += cb[d + HC * s];
			for (int s = 0; s < HC; s++)
				cb[d + HC * s] /= sum + eps;
		}
	}
}

/* y = the four streams s4 (E apart) weighted by pre, summed in llama.cpp's order. */
static void hc_read(const float *s4, const float *pre, int64_t E, float *y)
{
	for (int64_t e = 0; e < E; e++)
		y[e] = s4[e] * pre[0];
	for (int h = 1; h < HC; h++)
		for (int64_t e = 0; e < E; e++)
			y[e] += s4[h * E + e] * pre[h];
}

/* Before a block: pre, post and comb of each token; s.x = the streams weighted by pre. */
static int hc_pre(struct fy_ctx *c, const struct v4_layer *x, int i, int n, struct fy_err *err)
{
	const struct v4_model *v = c->m->ext;
	struct v4_state *st = c->state;
	const int64_t E = c->m->hp.n_embd;
	const float *sc = x->hc_scale[i], *b = x->hc_base[i];
	int rc = FY_OK;
	FY_TRY(rc, hc_mixes(c, &x->hc_fn[i], n, err));
	for (int t = 0; t < n; t++) {
		const float *mx = st->mix + t * MIX;
		float *pre = st->pre + t * HC, *post = st->post + t * HC;
		float *cb = st->comb + t * HC * HC;
		for (int h = 0; h < HC; h++) {
			pre[h] = sigmoid(mx[h] * sc[0] + b[h]) + v->hc_eps;
			post[h] = 2.0f * sigmoid(mx[HC + h] * sc[1] + b[HC + h]);
		}
		for (int k = 0; k < HC * HC; k++)
			cb[k] = mx[2 * HC + k] * sc[2] + b[2 * HC + k];
		sinkhorn(cb, v->sinkhorn, v->hc_eps);
		hc_read(st->x4 + t * HC * E, pre, E, c->s.x + t * E);
	}
out:
	return rc;
}

/* After a block: stream d = out x post[d] + sum_s comb[d][s] x stream s (out: s.o). */
static void hc_post(struct fy_ctx *c, int n)
{
	struct v4_state *st = c->state;
	const int64_t E = c->m->hp.n_embd;
	for (int t = 0; t < n; t++) {
		const float *o = c->s.o + t * E, *post = st->post + t * HC;
		const float *cb = st->comb + t * HC * HC, *r = st->x4 + t * HC * E;
		float *y = st->tmp4 + t * HC * E;
		for (int d = 0; d < HC; d++) {
			for (int64_t e = 0; e < E; e++) {
				float acc = o[e] * post[d];
				for (int s = 0; s < HC; s++)
					acc += r[s * E + e] * cb[d + HC * s];
				y[d * E + e] = acc;
			}
		}
	}
	float *sw = st->x4;
	st->x4 = st->tmp4;
	st->tmp4 = sw;
}

/* --- attention -------------------------------------------------------------------------------- */

/* Rotates (inverse: back) the last n_rot of d values at pos. */
static void rope_tail(const struct fy_rope *r, float *v, int d, int64_t pos, bool inverse)
{
	float cs[1024]; /* n_rot <= head_dim <= 1024: checked on load */
	fy_rope_angles(r, pos, cs);
	if (inverse)
		for (int i = 1; i < r->n_rot; i += 2)
			cs[i] = -cs[i];
	fy_rope_apply(r, v + d - r->n_rot, cs);
}

/* Writes position p's compressor rows into the ring and, when p ends a block, folds the block
 * into its compressed key (RMSNorm, RoPE at the block's first position). */
static void compress(const struct v4_model *v, const struct v4_comp *k, int ratio, float eps,
		     const float *wkv, const float *wg, int64_t p, float *ring_kv, float *ring_sc,
		     float *out)
{
	const bool overlap = k->w == 2 * k->d;
	const int64_t ring = overlap ? 2 * ratio : ratio, slot = p % ring;
	const float *ape = k->ape + (p % ratio) * k->w;
	for (int i = 0; i < k->w; i++) {
		ring_kv[slot * k->w + i] = wkv[i];
		ring_sc[slot * k->w + i] = wg[i] + ape[i];
	}
	if ((p + 1) % ratio != 0)
		return;
	const int64_t j = p / ratio, first = j * ratio;
	float *key = out + j * k->d;
	for (int f = 0; f < k->d; f++) {
		/* rows: the previous block's (first half, overlapping) then the block's own */
		float m = -INFINITY, sum = 0, acc = 0;
		for (int pass = 0; pass < 2; pass++) {
			for (int64_t i = overlap ? -ratio : 0; i < ratio; i++) {
				const int64_t q = first + i;
				if (q < 0)
					continue; /* before the start: a zero value, no weight */
				const int64_t at =
					(q % ring) * k->w + (overlap && i >= 0 ? k->d : 0) + f;
				const float s = ring_sc[at];
				if (pass == 0) {
					m = s > m ? s : m;
				} else {
					const float e = expf(s - m);
					sum += e;
					acc += e * ring_kv[at];
				}
			}
		}
		key[f] = acc / sum;
	}
	fy_rmsnorm(key, k->norm, eps, k->d, key);
	rope_tail(&v->rope_comp, key, k->d, first, false);
}

/* libstdc++'s heap primitives as std::partial_sort runs them, over indices ordered by
 * `greater score` (ggml's cmp_top_k): which of equal scores stay is theirs (relu makes exact
 * ties at 0 common), so ferry keeps the same blocks as llama.cpp's ggml_top_k. */
static bool ranks_above(const float *sc, int a, int b)
{
	return sc[a] > sc[b];
}

static void heap_adjust(int *h, int64_t hole, int64_t len, int value, const float *sc)
{
	const int64_t top = hole;
	int64_t child = hole;
	while (child < (len - 1) / 2) {
		child = 2 * (child + 1);
		if (ranks_above(sc, h[child], h[child - 1]))
			child--;
		h[hole] = h[child];
		hole = child;
	}
	if ((len & 1) == 0 && child == (len - 2) / 2) {
		child = 2 * (child + 1);
		h[hole] = h[child - 1];
		hole = child - 1;
	}
	int64_t parent = (hole - 1) / 2;
	while (hole > top && ranks_above(sc, h[parent], value)) {
		h[hole] = h[parent];
		hole = parent;
		parent = (hole - 1) / 2;
	}
	h[hole] = value;
}

/* The first k of order[0..n) become the k best-scored (std::partial_sort's heap selection; the
 * order among them is not sorted, and does not matter). */
static void heap_select(int *order, int64_t k, int64_t n, const float *sc)
{
	if (k >= 2)
		for (int64_t parent = (k - 2) / 2;; parent--) {
			heap_adjust(order, parent, k, order[parent], sc);
			if (parent == 0)
				break;
		}
	for (int64_t i = k; i < n; i++) {
		if (ranks_above(sc, order[i], order[0])) {
			const int value = order[i];
			order[i] = order[0];
			heap_adjust(order, 0, k, value, sc);
		}
	}
}

/* The indexer's choice for the token at p: the top_k compressed blocks it scores highest (all
 * of them when there are no more), their indices first in order[]; the count returned. */
static int indexer_pick(const struct fy_hparams *hp, const struct v4_cache *k, const float *iq,
			const float *iw, int64_t p, float *score, int *order)
{
	const struct fy_kernels *kern = fy_kernels_active();
	const int64_t nb = (p + 1) / CSA, ID = hp->idx_dim;
	for (int64_t j = 0; j < nb; j++) {
		float s = 0;
		for (int h = 0; h < hp->idx_heads; h++) {
			const float d = kern->dot(iq + h * ID, k->ik + j * ID, ID);
			s += (d > 0 ? d : 0) * iw[h];
		}
		score[j] = s;
		order[j] = (int)j;
	}
	if (nb <= hp->idx_top_k)
		return (int)nb;
	heap_select(order, hp->idx_top_k, nb, score);
	return hp->idx_top_k;
}

/* Token t (at p) over its keys: every head's softmax with its sink, into out. */
static void attend(const struct fy_hparams *hp, const struct v4_layer *x, const float *q,
		   const float *const *keys, int nk, float *p, float *out)
{
	const struct fy_kernels *kern = fy_kernels_active();
	const int D = hp->head_dim;
	for (int h = 0; h < hp->n_head; h++) {
		const float *qh = q + h * D;
		float m = x->sinks[h];
		for (int i = 0; i < nk; i++) {
			p[i] = kern->dot(qh, keys[i], D) * hp->kq_scale;
			m = p[i] > m ? p[i] : m;
		}
		float sum = expf(x->sinks[h] - m);
		for (int i = 0; i < nk; i++) {
			p[i] = expf(p[i] - m);
			sum += p[i];
		}
		float *oh = out + h * D;
		memset(oh, 0, (size_t)D * sizeof(float));
		for (int i = 0; i < nk; i++)
			kern->axpy(p[i] / sum, keys[i], oh, D);
	}
}

struct attn_job {
	struct fy_ctx *c;
	const struct v4_layer *x;
	const struct v4_cache *k;
	const struct fy_rope *rope;
	const float *raw;
};

/* Tokens [begin, end) of the batch: their keys (the window's raw ones, the visible or chosen
 * compressed ones), the attention, the output rotated back (into s.att). */
static int attn_range(void *ctx, int64_t begin, int64_t end, struct fy_err *err)
{
	const struct attn_job *j = ctx;
	const struct fy_ctx *c = j->c;
	const struct fy_hparams *hp = &c->m->hp;
	const struct v4_model *v = c->m->ext;
	const struct v4_state *st = c->state;
	const int64_t D = hp->head_dim, H = hp->n_head, IH = hp->idx_heads, ID = hp->idx_dim;
	const size_t blocks = (size_t)c->n_ctx / CSA + 1, nk_max = (size_t)v->n_swa + blocks;
	const float **keys = malloc(nk_max * sizeof(*keys));
	float *p = malloc(nk_max * sizeof(float)), *score = calloc(blocks, sizeof(float));
	int *order = calloc(blocks, sizeof(int));
	int rc = FY_OK;
	if (keys == NULL || p == NULL || score == NULL || order == NULL) {
		rc = fy_err_set(err, FY_ENOMEM, "out of memory for attention");
		goto out;
	}
	for (int64_t t = begin; t < end; t++) {
		const int64_t pos = c->pos + t;
		int nk = 0;
		for (int64_t q = pos - v->n_swa + 1 > 0 ? pos - v->n_swa + 1 : 0; q <= pos; q++)
			keys[nk++] = j->raw + q * D;
		if (j->x->ratio == HCA) {
			for (int64_t b = 0; b < (pos + 1) / HCA; b++)
				keys[nk++] = j->k->ck + b * D;
		} else if (j->x->ratio == CSA) {
			const int nsel = indexer_pick(hp, j->k, st->iq + t * IH * ID,
						      st->iw + t * IH, pos, score, order);
			for (int i = 0; i < nsel; i++)
				keys[nk++] = j->k->ck + (int64_t)order[i] * D;
		}
		float *o = c->s.att + t * H * D;
		attend(hp, j->x, c->s.q + t * H * D, keys, nk, p, o);
		for (int h = 0; h < H; h++)
			rope_tail(j->rope, o + h * D, (int)D, pos, true);
	}
out:
	free(keys);
	free(p);
	free(score);
	free(order);
	return rc;
}

/* Layer l's attention of s.xn (the normalized block input) into s.o. */
static int v4_attention(struct fy_ctx *c, int l, int n, struct fy_err *err)
{
	const struct fy_model *m = c->m;
	const struct fy_hparams *hp = &m->hp;
	const struct v4_model *v = m->ext;
	const struct fy_layer *L = &m->layers[l];
	const struct v4_layer *x = L->ext;
	struct v4_state *st = c->state;
	struct v4_cache *k = &st->layers[l];
	struct fy_scratch *s = &c->s;
	const int64_t E = hp->n_embd, D = hp->head_dim, H = hp->n_head, QL = hp->q_lora_rank;
	const int64_t G = v->o_groups, R = v->o_rank, GD = H * D / G;
	const int64_t IH = hp->idx_heads, ID = hp->idx_dim;
	const struct fy_rope *rope = x->ratio != 0 ? &v->rope_comp : &v->rope_raw;
	float *raw = c->k + (int64_t)l * c->n_ctx * D;
	int rc = FY_OK;
	/* q: through the bottleneck, normalized per head, rotated; the key, rotated, cached */
	FY_TRY(rc, fy_eval_mm(c, &L->wq_a, -1, s->xn, n, st->qr, QL, err));
	for (int t = 0; t < n; t++)
		fy_rmsnorm(st->qr + t * QL, L->q_a_norm, hp->eps, QL, st->qr + t * QL);
	FY_TRY(rc, fy_eval_mm(c, &L->wq_b, -1, st->qr, n, s->q, H * D, err));
	FY_TRY(rc, fy_eval_mm(c, &x->wkv, -1, s->xn, n, s->k, D, err));
	for (int t = 0; t < n; t++) {
		const int64_t p = c->pos + t;
		for (int h = 0; h < H; h++) {
			float *qh = s->q + (t * H + h) * D;
			fy_rmsnorm(qh, NULL, hp->eps, D, qh);
			rope_tail(rope, qh, (int)D, p, false);
		}
		float *kv = raw + p * D;
		fy_rmsnorm(s->k + t * D, L->kv_a_norm, hp->eps, D, kv);
		rope_tail(rope, kv, (int)D, p, false);
	}
	/* the compressors, position by position: each finished block becomes a key */
	if (x->ratio != 0) {
		const struct v4_comp *cp = &x->comp;
		FY_TRY(rc, fy_eval_mm(c, &cp->wkv, -1, s->xn, n, st->cw, cp->w, err));
		FY_TRY(rc, fy_eval_mm(c, &cp->wgate, -1, s->xn, n, st->cg, cp->w, err));
		for (int t = 0; t < n; t++)
			compress(v, cp, x->ratio, hp->eps, st->cw + t * cp->w, st->cg + t * cp->w,
				 c->pos + t, k->kv, k->score, k->ck);
	}
	if (x->ratio == CSA) {
		const struct v4_comp *cp = &x->icomp;
		FY_TRY(rc, fy_eval_mm(c, &cp->wkv, -1, s->xn, n, st->cw, cp->w, err));
		FY_TRY(rc, fy_eval_mm(c, &cp->wgate, -1, s->xn, n, st->cg, cp->w, err));
		for (int t = 0; t < n; t++)
			compress(v, cp, CSA, hp->eps, st->cw + t * cp->w, st->cg + t * cp->w,
				 c->pos + t, k->ikv, k->iscore, k->ik);
		FY_TRY(rc, fy_eval_mm(c, &L->idx_q_b, -1, st->qr, n, st->iq, IH * ID, err));
		FY_TRY(rc, fy_eval_mm(c, &L->idx_proj, -1, s->xn, n, st->iw, IH, err));
		const float w_scale = 1.0f / sqrtf((float)(ID * IH));
		for (int t = 0; t < n; t++) {
			for (int h = 0; h < IH; h++)
				rope_tail(&v->rope_comp, st->iq + (t * IH + h) * ID, (int)ID,
					  c->pos + t, false);
			for (int h = 0; h < IH; h++)
				st->iw[t * IH + h] *= w_scale;
		}
	}
	/* each token: its window's raw keys and its compressed ones */
	struct attn_job aj = { c, x, k, rope, raw };
	if (c->pool != NULL)
		FY_TRY(rc, fy_pool_for(c->pool, n, 0, attn_range, &aj, err));
	else
		FY_TRY(rc, attn_range(&aj, 0, n, err));
	/* the output: each group of heads through its rows of wo_a, then wo_b */
	for (int64_t g = 0; g < G; g++) {
		struct fy_weight wa = x->wo_a;
		wa.ne1 = R;
		wa.data += (size_t)(g * R) * wa.row_bytes;
		for (int t = 0; t < n; t++)
			memcpy(st->grp + t * GD, s->att + t * H * D + g * GD,
			       (size_t)GD * sizeof(float));
		FY_TRY(rc, fy_eval_mm(c, &wa, -1, st->grp, n, st->oa + g * R, G * R, err));
	}
	FY_TRY(rc, fy_eval_mm(c, &x->wo_b, -1, st->oa, n, s->o, E, err));
out:
	return rc;
}

/* --- the forward ------------------------------------------------------------------------------ */

static int v4_body(struct fy_ctx *c, int n, struct fy_err *err)
{
	const struct fy_model *m = c->m;
	const struct v4_model *v = m->ext;
	const int64_t E = m->hp.n_embd;
	int rc = FY_OK;
	if (c->state == NULL)
		FY_TRY(rc, v4_state_new(c, err));
	FY_TRY(rc, v4_fit(c, n, err));
	struct v4_state *st = c->state;
	for (int t = 0; t < n; t++) /* every stream starts as the embedding */
		for (int h = 0; h < HC; h++)
			memcpy(st->x4 + (t * HC + h) * E, c->s.x + t * E,
			       (size_t)E * sizeof(float));
	for (int l = 0; l < m->hp.n_layer; l++) {
		const struct fy_layer *L = &m->layers[l];
		const struct v4_layer *x = L->ext;
		FY_TRY(rc, hc_pre(c, x, 0, n, err));
		fy_eval_norm(c, L->attn_norm, n);
		FY_TRY(rc, v4_attention(c, l, n, err));
		hc_post(c, n);
		FY_TRY(rc, hc_pre(c, x, 1, n, err));
		fy_eval_norm(c, L->ffn_norm, n);
		FY_TRY(rc, fy_eval_ffn(c, L, n, err));
		hc_post(c, n);
		fy_eval_release_layer(c, l);
	}
	/* the head reads the streams: sigmoid(mixes x scale + base) + eps */
	FY_TRY(rc, hc_mixes(c, &v->hc_head_fn, n, err));
	for (int t = 0; t < n; t++) {
		float pre[HC];
		for (int h = 0; h < HC; h++)
			pre[h] = sigmoid(st->mix[t * HC + h] * v->hc_head_scale[0] +
					 v->hc_head_base[h]) +
				 v->hc_eps;
		hc_read(st->x4 + t * HC * E, pre, E, c->s.x + t * E);
	}
out:
	return rc;
}

const struct fy_model_arch fy_arch_deepseek4 = {
	.name = "deepseek4",
	.rope = FY_ROPE_NORM,
	.hf_rope = FY_ROPE_NORM,
	.hparams = v4_hparams,
	.load_layer = v4_load,
	.no_dense = true,
	.body = v4_body,
	.ctx_free = v4_ctx_free,
};
