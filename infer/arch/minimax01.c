/*
 * minimax-01 (MiniMax-M1 and MiniMax-Text-01; llama.cpp's src/models/minimax-01.cpp): blocks whose
 * residual is the normalized input scaled by residual_scale (postnorm): x = attn(n) + a n with
 * n = RMSNorm(x), then x = moe(n') + a n' with n' = RMSNorm(x) by ffn_norm. Layer l is softmax
 * attention when attention.recurrent_layers says so, else when (l + 1) is a multiple of
 * full_attention_interval (8); the others lightning attention. Every feed-forward a mixture
 * routed by softmax, the chosen weights renormalized, the experts feed_forward_length wide.
 *
 * Softmax attention: grouped-query attention, NEOX RoPE on rope.dimension_count dimensions of
 * each head, scale 1/sqrt(head_dim).
 *
 * Lightning attention (linear attention with a per-head decay): q, k, v = silu(attn_qkv(n)),
 * each head's q, k and v side by side. Head h decays by lambda = exp(-s_h c_l) per token, where
 * s_h are ALiBi's slopes (start = 2^(-2^(-(log2 H - 3))), s_h = start^(h + 1)) and
 * c_l = 1 - l / (layers - 1) + 1e-5. Its state S (head_dim x head_dim, key x value, kept in the
 * context) gives o_t = S_t^T q_t with S_t = lambda S_{t-1} + k_t v_t^T. A batch of n tokens is
 * taken in llama.cpp's chunked form: o_t = exp(-s c (t + 1)) S^T q_t + sum over i <= t of
 * exp(-s c (t - i)) (q_t . k_i) v_i, then S = exp(-s c n) S + sum_i exp(-s c (n - 1 - i)) k_i
 * v_i^T (the same values as token by token, rounded as llama.cpp rounds them when the batch is
 * its ubatch). The heads' outputs, side by side, go through RMSNorm by attn_norm_2 (over all
 * heads at once), times sigmoid(attn_gate(n)), then attn_output. Position 0 clears the states.
 */
#include "infer/arch.h"
#include "quant/quant.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mm01_layer {
	bool linear;
	struct fy_weight qkv, gate, out; /* lightning attention's */
	const float *norm2;		 /* its output's RMSNorm (heads x head_dim) */
};

struct mm01_model {
	float alpha; /* residual_scale */
	int interval;
	bool by_key;   /* linear[] from attention.recurrent_layers, else by the interval */
	float *slopes; /* per head */
	bool linear[]; /* per layer */
};

static int mm01_hparams(struct fy_model *m, struct fy_err *err)
{
	struct fy_hparams *hp = &m->hp;
	/* one allocation (the model frees m->ext): the struct, the layers' flags, the slopes */
	const size_t flags = ((size_t)hp->n_layer * sizeof(bool) + sizeof(float) - 1) /
			     sizeof(float) * sizeof(float);
	struct mm01_model *v = calloc(1, sizeof(*v) + flags + (size_t)hp->n_head * sizeof(float));
	double a;
	int rc = FY_OK;
	if (v == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	m->ext = v;
	v->slopes = (float *)(void *)((char *)v->linear + flags);
	hp->n_ff_exp = -1; /* the experts are feed_forward_length wide */
	FY_TRY(rc, fy_model_read_experts(m, true, err));
	hp->expert_norm = true; /* the graph renormalizes whatever the file says */
	if (!fy_model_kv_num(m, "residual_scale", &a) || !(a > 0) || a > 1e6)
		return fy_err_set(err, FY_EFORMAT, "%s: residual_scale is missing or not positive",
				  fy_gguf_label(m->gguf != NULL ? m->gguf : m->hf->meta));
	v->alpha = (float)a;
	if (hp->n_layer < 2 || hp->head_dim > 4096)
		return fy_err_set(err, FY_EFORMAT,
				  "%s: lightning attention needs 2 or more layers and heads of at "
				  "most 4096 (%d layers, heads of %d)",
				  fy_gguf_label(m->gguf != NULL ? m->gguf : m->hf->meta),
				  hp->n_layer, hp->head_dim);
	rc = fy_model_kv_flags(m, "attention.recurrent_layers", hp->n_layer, v->linear, err);
	v->by_key = rc == FY_OK;
	if (rc == FY_ENOTFOUND)
		rc = FY_OK;
	if (rc != FY_OK)
		goto out;
	FY_TRY(rc, fy_model_kv_int(m, "full_attention_interval", false, 8, &v->interval, err));
	/* as llama.cpp computes them, in float */
	const float start = powf(2, -powf(2, -(log2f((float)hp->n_head) - 3)));
	for (int h = 0; h < hp->n_head; h++)
		v->slopes[h] = start * powf(start, (float)h);
out:
	return rc;
}

#define NAME(s) (snprintf(n, sizeof(n), "blk.%d.%s", l, s), n)

static int mm01_load(struct fy_model *m, int l, struct fy_layer *L, struct fy_err *err)
{
	const struct fy_hparams *hp = &m->hp;
	const struct mm01_model *v = m->ext;
	const int64_t E = hp->n_embd, HD = (int64_t)hp->n_head * hp->head_dim;
	char n[96];
	int rc = FY_OK;
	struct mm01_layer *x = calloc(1, sizeof(*x));
	if (x == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	L->ext = x;
	x->linear = v->by_key ? v->linear[l] : (l + 1) % v->interval != 0;
	FY_TRY(rc, fy_model_vector(m, NAME("attn_norm.weight"), E, false, &L->attn_norm, err));
	FY_TRY(rc, fy_model_vector(m, NAME("ffn_norm.weight"), E, false, &L->ffn_norm, err));
	if (x->linear) {
		FY_TRY(rc,
		       fy_model_weight(m, NAME("attn_qkv.weight"), E, 3 * HD, false, &x->qkv, err));
		FY_TRY(rc,
		       fy_model_weight(m, NAME("attn_gate.weight"), E, HD, false, &x->gate, err));
		FY_TRY(rc,
		       fy_model_weight(m, NAME("attn_output.weight"), HD, E, false, &x->out, err));
		FY_TRY(rc,
		       fy_model_vector(m, NAME("attn_norm_2.weight"), HD, false, &x->norm2, err));
	} else {
		FY_TRY(rc, fy_model_load_attn(m, l, L, false, err));
	}
	FY_TRY(rc, fy_model_load_ffn(m, l, L, err));
out:
	return rc;
}
#undef NAME

static bool mm01_is_linear(const struct fy_model *m, int l)
{
	return ((const struct mm01_layer *)m->layers[l].ext)->linear;
}

/* Per lightning layer: each head's state (key dim x value dim); no convolution. */
static int mm01_state_new(struct fy_ctx *c, struct fy_err *err)
{
	const size_t D = (size_t)c->m->hp.head_dim;
	return fy_recurrent_new(c, mm01_is_linear, 0, (size_t)c->m->hp.n_head * D * D, err);
}

/* Lightning attention's heads over a batch (each head's state is its own). */
struct la_job {
	const float *qkv; /* per token: silu(attn_qkv(n)), each head's q, k, v side by side */
	float *S, *o;	  /* states [head][key][value]; outputs [token][head][value] */
	const float *slopes;
	float scale; /* c_l */
	int n, H, D;
};

static int la_heads(void *ctx, int64_t begin, int64_t end, struct fy_err *err)
{
	const struct la_job *j = ctx;
	const struct fy_kernels *kern = fy_kernels_active();
	const int64_t D = j->D, n = j->n, row = 3 * (int64_t)j->H * D;
	float *dec = malloc((size_t)(3 * n + D) * sizeof(float));
	if (dec == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	float *qd = dec, *kd = dec + n, *dd = dec + 2 * n, *qs = dec + 3 * n;
	for (int64_t h = begin; h < end; h++) {
		const float s = j->slopes[h], c = j->scale;
		float *S = j->S + h * D * D;
		/* llama.cpp's decays: exp(c x (-s x distance)), the distances in float */
		for (int64_t t = 0; t < n; t++) {
			qd[t] = expf(c * (-s * (float)(t + 1)));
			kd[t] = expf(c * (-s * (float)(n - t - 1)));
			dd[t] = expf(c * (-s * (float)t)); /* a query t - i after the key */
		}
		for (int64_t t = 0; t < n; t++) {
			const float *q = j->qkv + t * row + h * 3 * D;
			float *o = j->o + (t * j->H + h) * D;
			for (int64_t k = 0; k < D; k++)
				qs[k] = q[k] * qd[t];
			memset(o, 0, (size_t)D * sizeof(float));
			for (int64_t k = 0; k < D; k++) /* the state's part: S^T (q decayed) */
				kern->axpy(qs[k], S + k * D, o, D);
			for (int64_t i = 0; i <= t; i++) { /* the batch's own keys */
				const float *ki = j->qkv + i * row + h * 3 * D + D;
				const float w = kern->dot(ki, q, D) * dd[t - i];
				kern->axpy(w, ki + D, o, D);
			}
		}
		const float bd = expf((s * c) * -(float)n);
		for (int64_t i = 0; i < D * D; i++)
			S[i] *= bd;
		for (int64_t i = 0; i < n; i++) {
			const float *ki = j->qkv + i * row + h * 3 * D + D, *vi = ki + D;
			for (int64_t k = 0; k < D; k++)
				kern->axpy(ki[k] * kd[i], vi, S + k * D, D);
		}
	}
	free(dec);
	return FY_OK;
}

/* Lightning attention (s.xn in, s.o out). */
static int mm01_lightning(struct fy_ctx *c, int l, int n, struct fy_err *err)
{
	const struct fy_model *m = c->m;
	const struct fy_hparams *hp = &m->hp;
	const struct mm01_model *v = m->ext;
	const struct mm01_layer *x = m->layers[l].ext;
	const struct fy_recurrent *st = c->state;
	const int64_t H = hp->n_head, D = hp->head_dim, HD = H * D;
	float *qkv = malloc((size_t)n * 3 * (size_t)HD * sizeof(float));
	float *g = malloc((size_t)n * (size_t)HD * sizeof(float));
	float *o = malloc((size_t)n * (size_t)HD * sizeof(float));
	int rc = FY_OK;
	if (qkv == NULL || g == NULL || o == NULL) {
		rc = fy_err_set(err, FY_ENOMEM, "out of memory");
		goto out;
	}
	if (c->pos == 0) /* a new sequence: empty states */
		memset(st->s[l], 0, (size_t)(H * D * D) * sizeof(float));
	FY_TRY(rc, fy_eval_mm(c, &x->qkv, -1, c->s.xn, n, qkv, 3 * HD, err));
	FY_TRY(rc, fy_eval_mm(c, &x->gate, -1, c->s.xn, n, g, HD, err));
	for (int64_t i = 0; i < (int64_t)n * 3 * HD; i++)
		qkv[i] = fy_silu(qkv[i]);
	const double scale = 1.0 - 1.0 * l / (hp->n_layer - 1) + 1e-5; /* llama.cpp's slope_scale */
	struct la_job j = { qkv, st->s[l], o, v->slopes, (float)scale, n, (int)H, (int)D };
	FY_TRY(rc, c->pool != NULL ? fy_pool_for(c->pool, H, 1, la_heads, &j, err)
				   : la_heads(&j, 0, H, err));
	for (int t = 0; t < n; t++) {
		float *ot = o + (int64_t)t * HD;
		const float *gt = g + (int64_t)t * HD;
		fy_rmsnorm(ot, x->norm2, hp->eps, HD, ot);
		for (int64_t i = 0; i < HD; i++)
			ot[i] *= 1.0f / (1.0f + expf(-gt[i]));
	}
	FY_TRY(rc, fy_eval_mm(c, &x->out, -1, o, n, c->s.o, hp->n_embd, err));
out:
	free(qkv);
	free(g);
	free(o);
	return rc;
}

/* x = s.o + alpha s.xn, for n tokens (the residual of the normalized input). */
static void scaled_residual(struct fy_ctx *c, float alpha, int n)
{
	const int64_t N = (int64_t)n * c->m->hp.n_embd;
	for (int64_t i = 0; i < N; i++)
		c->s.x[i] = c->s.o[i] + alpha * c->s.xn[i];
}

static int mm01_layer(struct fy_ctx *c, int l, int n, struct fy_err *err)
{
	const struct fy_layer *L = &c->m->layers[l];
	const struct mm01_layer *x = L->ext;
	const struct mm01_model *v = c->m->ext;
	int rc = FY_OK;
	if (c->state == NULL)
		FY_TRY(rc, mm01_state_new(c, err));
	fy_eval_norm(c, L->attn_norm, n);
	if (x->linear) {
		FY_TRY(rc, mm01_lightning(c, l, n, err));
	} else {
		FY_TRY(rc, fy_eval_qkv(c, L, n, err));
		FY_TRY(rc, fy_eval_attention(c, l, n, err));
	}
	scaled_residual(c, v->alpha, n);
	fy_eval_norm(c, L->ffn_norm, n);
	FY_TRY(rc, fy_eval_ffn(c, L, n, err));
	scaled_residual(c, v->alpha, n);
out:
	return rc;
}

const struct fy_model_arch fy_arch_minimax01 = {
	.name = "minimax-01",
	.rope = FY_ROPE_NEOX,
	.hf_rope = FY_ROPE_NEOX,
	.hparams = mm01_hparams,
	.load_layer = mm01_load,
	.layer = mm01_layer,
	.ctx_free = fy_recurrent_free,
	.no_dense = false,
};
