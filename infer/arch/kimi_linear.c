/*
 * kimi-linear (Kimi-Linear; llama.cpp's src/models/kimi-linear.cpp and the fused
 * gated_delta_net op): pre-norm blocks, Kimi Delta Attention in the layers whose
 * attention.head_count_kv entry is 0, latent attention in the others; the first
 * leading_dense_block_count feed-forwards dense, then DeepSeek's mixture (sigmoid scores with
 * the selection bias, the top k renormalized and scaled, the shared experts).
 *
 * Kimi Delta Attention, per head of kda.head_dim channels: q, k and v each from their own
 * projection through their own depthwise causal convolution (ssm.conv_kernel taps; the last
 * kernel - 1 inputs kept in the context) and SiLU; q and k L2-normalized (x / sqrt(sum x^2 +
 * eps)); a decay per key channel g = ssm_a[h] x softplus(ssm_f_b(ssm_f_a(n)) + ssm_dt.bias);
 * beta = sigmoid(ssm_beta(n)) per head. The head's state S (key x value, in the context)
 * decays by exp(g) along its key channels, takes the delta rule S += k (beta (v - S^T k))^T, and
 * gives o = S^T q / sqrt(head size), token by token. o goes through RMSNorm x ssm_norm (per
 * head) x sigmoid(ssm_g_b(ssm_g_a(n))), then attn_output. Position 0 clears the states.
 *
 * Latent attention: DeepSeek's absorbed form (queries without a low rank, the cached latent and
 * key part, k_b and v_b) without RoPE: Kimi-Linear's rope part is not rotated (FY_ROPE_NONE).
 */
#include "infer/arch.h"
#include "quant/quant.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct kl_layer {
	bool linear;
	struct fy_weight wq, wk, wv, f_a, f_b, beta, g_a, g_b, out;
	const float *conv[3];	    /* q, k, v: [channels][kernel] */
	const float *a, *dt, *norm; /* [heads], [channels], [head size] */
};

struct kl_model {
	int kernel, head_dim;
	bool linear[]; /* per layer: head_count_kv 0 */
};

static int kl_hparams(struct fy_model *m, struct fy_err *err)
{
	struct fy_hparams *hp = &m->hp;
	struct kl_model *v = calloc(1, sizeof(*v) + (size_t)hp->n_layer * sizeof(bool));
	int rc = FY_OK;
	if (v == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	m->ext = v;
	for (int l = 0; l < hp->n_layer; l++) {
		double kv;
		if (!fy_model_kv_arr(m, "attention.head_count_kv", l, &kv))
			return fy_err_set(
				err, FY_EFORMAT,
				"%s: %s.attention.head_count_kv has no entry for layer %d",
				fy_gguf_label(m->gguf != NULL ? m->gguf : m->hf->meta), hp->arch,
				l);
		v->linear[l] = kv == 0;
	}
	FY_TRY(rc, fy_model_kv_int(m, "ssm.conv_kernel", true, 0, &v->kernel, err));
	FY_TRY(rc, fy_model_kv_int(m, "kda.head_dim", true, 0, &v->head_dim, err));
	if (v->kernel > 64 || v->head_dim > 4096)
		return fy_err_set(err, FY_EFORMAT,
				  "%s: a convolution of %d taps or heads of %d are too large",
				  fy_gguf_label(m->gguf != NULL ? m->gguf : m->hf->meta), v->kernel,
				  v->head_dim);
	FY_TRY(rc, fy_model_read_experts(m, true, err));
	hp->expert_norm = true; /* the graph renormalizes whatever the file says */
	FY_TRY(rc, fy_model_read_mla(m, err));
out:
	return rc;
}

#define NAME(s) (snprintf(n, sizeof(n), "blk.%d.%s", l, s), n)

static int kl_load(struct fy_model *m, int l, struct fy_layer *L, struct fy_err *err)
{
	const struct fy_hparams *hp = &m->hp;
	const struct kl_model *v = m->ext;
	const int64_t E = hp->n_embd, H = hp->n_head, D = v->head_dim, C = H * D;
	static const char *const convs[3] = { "ssm_conv1d_q.weight", "ssm_conv1d_k.weight",
					      "ssm_conv1d_v.weight" };
	char n[96];
	int rc = FY_OK;
	struct kl_layer *x = calloc(1, sizeof(*x));
	if (x == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	L->ext = x;
	x->linear = v->linear[l];
	FY_TRY(rc, fy_model_vector(m, NAME("attn_norm.weight"), E, false, &L->attn_norm, err));
	FY_TRY(rc, fy_model_vector(m, NAME("ffn_norm.weight"), E, false, &L->ffn_norm, err));
	if (x->linear) {
		FY_TRY(rc, fy_model_weight(m, NAME("attn_q.weight"), E, C, false, &x->wq, err));
		FY_TRY(rc, fy_model_weight(m, NAME("attn_k.weight"), E, C, false, &x->wk, err));
		FY_TRY(rc, fy_model_weight(m, NAME("attn_v.weight"), E, C, false, &x->wv, err));
		for (int i = 0; i < 3; i++)
			FY_TRY(rc, fy_model_matrix_f32(m, NAME(convs[i]), v->kernel, C, false,
						       &x->conv[i], err));
		FY_TRY(rc, fy_model_weight(m, NAME("ssm_f_a.weight"), E, D, false, &x->f_a, err));
		FY_TRY(rc, fy_model_weight(m, NAME("ssm_f_b.weight"), D, C, false, &x->f_b, err));
		FY_TRY(rc, fy_model_weight(m, NAME("ssm_beta.weight"), E, H, false, &x->beta, err));
		FY_TRY(rc, fy_model_weight(m, NAME("ssm_g_a.weight"), E, D, false, &x->g_a, err));
		FY_TRY(rc, fy_model_weight(m, NAME("ssm_g_b.weight"), D, C, false, &x->g_b, err));
		FY_TRY(rc,
		       fy_model_weight(m, NAME("attn_output.weight"), C, E, false, &x->out, err));
		FY_TRY(rc, fy_model_matrix_f32(m, NAME("ssm_a"), 1, H, false, &x->a, err));
		FY_TRY(rc, fy_model_vector(m, NAME("ssm_dt.bias"), C, false, &x->dt, err));
		FY_TRY(rc, fy_model_vector(m, NAME("ssm_norm.weight"), D, false, &x->norm, err));
	} else {
		FY_TRY(rc, fy_model_load_attn_latent(m, l, L, err));
	}
	FY_TRY(rc, fy_model_load_ffn(m, l, L, err));
out:
	return rc;
}
#undef NAME

static bool kl_is_linear(const struct fy_model *m, int l)
{
	return ((const struct kl_model *)m->ext)->linear[l];
}

/* Per Kimi Delta Attention layer: q's, k's and v's last kernel - 1 inputs, each head's state. */
static int kl_state_new(struct fy_ctx *c, struct fy_err *err)
{
	const struct kl_model *v = c->m->ext;
	const size_t H = (size_t)c->m->hp.n_head, D = (size_t)v->head_dim;
	return fy_recurrent_new(c, kl_is_linear, 3 * (size_t)v->kernel * H * D, H * D * D, err);
}

/* The heads' recurrences over the batch (each head's state is its own). */
struct kda_job {
	const float *q, *k, *v, *g, *b; /* per token: C, C, C, C, H */
	float *S, *o;			/* states [head][value][key]; outputs [token][C] */
	int n, H, D;
};

#define CHUNK 16 /* tokens of a chunk: its pairwise per-channel decays cost CHUNK^2 x D exp() */

/* sum over c of a[c] b[c] exp(ga[c] - gb[c]) (a per-channel decayed dot product) */
static float decayed_dot(const float *a, const float *b, const float *ga, const float *gb,
			 int64_t n)
{
	float s = 0;
	for (int64_t c = 0; c < n; c++)
		s += a[c] * b[c] * expf(ga[c] - gb[c]);
	return s;
}

/* The delta rule over tokens [t0, t0 + L) of head h in the chunked form with per-channel decays
 * (FLA's chunk_kda): cumulative log-decays per key channel, the chunk's keys solved against each
 * other once, then the state's contribution and the chunk's own, every decay a difference of
 * cumulative sums (never above 1). The same values as token by token, rounded otherwise. */
static void kda_chunk(const struct kda_job *j, int64_t h, int t0, int L, float *M, float *gc,
		      float *A, float *U, float *W, float *kg, float *tmp)
{
	const struct fy_kernels *kern = fy_kernels_active();
	const int64_t D = j->D, C = (int64_t)j->H * D;
	const float scale = 1.0f / sqrtf((float)D);
	const float *q[CHUNK], *k[CHUNK], *vv[CHUNK];
	float beta[CHUNK];
	for (int t = 0; t < L; t++) {
		const int64_t at = (int64_t)(t0 + t) * C + h * D;
		q[t] = j->q + at, k[t] = j->k + at, vv[t] = j->v + at;
		beta[t] = j->b[(int64_t)(t0 + t) * j->H + h];
		for (int64_t c = 0; c < D; c++)
			gc[t * D + c] = j->g[at + c] + (t > 0 ? gc[(t - 1) * D + c] : 0.0f);
	}
	/* T = (I + strictly-lower(beta_t k_t . k_i decayed))^-1 by forward substitution */
	for (int t = 0; t < L; t++) {
		float *At = A + t * L;
		for (int i = 0; i < L; i++)
			At[i] = i < t ? -beta[t] *
						decayed_dot(k[t], k[i], gc + t * D, gc + i * D, D)
				      : 0.0f;
		for (int i = 0; i < t; i++) {
			float sum = 0;
			for (int m = i + 1; m < t; m++)
				sum += At[m] * A[m * L + i];
			At[i] += sum;
		}
		At[t] = 1.0f;
	}
	/* U = T (beta v), W = T (beta k exp(Gc)) */
	for (int i = 0; i < L; i++) /* k exp(Gc), once per token */
		for (int64_t c = 0; c < D; c++)
			kg[i * D + c] = k[i][c] * expf(gc[i * D + c]);
	for (int t = 0; t < L; t++) {
		float *u = U + t * D, *w = W + t * D;
		memset(u, 0, (size_t)D * sizeof(float));
		memset(w, 0, (size_t)D * sizeof(float));
		for (int i = 0; i <= t; i++) {
			const float a = A[t * L + i] * beta[i];
			kern->axpy(a, vv[i], u, D);
			kern->axpy(a, kg + i * D, w, D);
		}
	}
	/* new values U - W S; outputs S (q exp(Gc_t)) + the chunk's own */
	for (int t = 0; t < L; t++) {
		float *u = U + t * D, *o = j->o + (int64_t)(t0 + t) * C + h * D;
		for (int64_t c = 0; c < D; c++)
			tmp[c] = q[t][c] * expf(gc[t * D + c]);
		for (int64_t i = 0; i < D; i++) {
			u[i] -= kern->dot(M + i * D, W + t * D, D);
			o[i] = kern->dot(M + i * D, tmp, D);
		}
		for (int i = 0; i <= t; i++)
			kern->axpy(decayed_dot(q[t], k[i], gc + t * D, gc + i * D, D), U + i * D, o,
				   D);
		for (int64_t i = 0; i < D; i++)
			o[i] *= scale;
	}
	/* the state: S exp(Gc_last) + sum_i (k_i exp(Gc_last - Gc_i)) vnew_i^T, per key channel */
	const float *last = gc + (L - 1) * D;
	for (int64_t c = 0; c < D; c++)
		tmp[c] = expf(last[c]);
	for (int64_t r = 0; r < D; r++)
		for (int64_t c = 0; c < D; c++)
			M[r * D + c] *= tmp[c];
	for (int i = 0; i < L; i++) {
		for (int64_t c = 0; c < D; c++)
			tmp[c] = k[i][c] * expf(last[c] - gc[i * D + c]);
		for (int64_t r = 0; r < D; r++)
			kern->axpy(U[i * D + r], tmp, M + r * D, D);
	}
}

static int kda_heads(void *ctx, int64_t begin, int64_t end, struct fy_err *err)
{
	const struct kda_job *j = ctx;
	const struct fy_kernels *kern = fy_kernels_active();
	const int64_t D = j->D, C = (int64_t)j->H * D;
	const float scale = 1.0f / sqrtf((float)D);
	/* eg, delta (the recurrence); tmp, gc, U, W, kg (L x D), A (L x L) (the chunks) */
	float *buf = malloc((size_t)(3 * D + 4 * CHUNK * D + CHUNK * CHUNK) * sizeof(float));
	if (buf == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	float *eg = buf, *delta = buf + D, *tmp = buf + 2 * D, *gc = buf + 3 * D;
	float *U = gc + CHUNK * D, *W = U + CHUNK * D, *kg = W + CHUNK * D, *A = kg + CHUNK * D;
	for (int64_t h = begin; h < end; h++) {
		float *M = j->S + h * D * D; /* row i: value channel i over the key channels */
		for (int t0 = 0; t0 < j->n; t0 += CHUNK) {
			const int L = j->n - t0 < CHUNK ? j->n - t0 : CHUNK;
			if (L > 1) { /* a prompt's chunk */
				kda_chunk(j, h, t0, L, M, gc, A, U, W, kg, tmp);
				continue;
			}
			const int t = t0; /* one token: the recurrence */
			const float *q = j->q + t * C + h * D, *k = j->k + t * C + h * D;
			const float *vv = j->v + t * C + h * D, *g = j->g + t * C + h * D;
			const float beta = j->b[(int64_t)t * j->H + h];
			float *o = j->o + t * C + h * D;
			for (int64_t i = 0; i < D; i++)
				eg[i] = expf(g[i]);
			for (int64_t i = 0; i < D; i++) /* the key channels decay */
				for (int64_t c = 0; c < D; c++)
					M[i * D + c] *= eg[c];
			for (int64_t i = 0; i < D; i++)
				delta[i] = (vv[i] - kern->dot(M + i * D, k, D)) * beta;
			for (int64_t i = 0; i < D; i++)
				kern->axpy(delta[i], k, M + i * D, D);
			for (int64_t i = 0; i < D; i++)
				o[i] = kern->dot(M + i * D, q, D) * scale;
		}
	}
	free(buf);
	return FY_OK;
}

/* Kimi Delta Attention over the batch (s.xn in, s.o out). */
static int kl_kda(struct fy_ctx *c, int l, int n, struct fy_err *err)
{
	const struct fy_model *m = c->m;
	const struct fy_hparams *hp = &m->hp;
	const struct kl_model *v = m->ext;
	const struct kl_layer *x = m->layers[l].ext;
	const struct fy_recurrent *st = c->state;
	const int64_t H = hp->n_head, D = v->head_dim, C = H * D, K = v->kernel;
	const size_t N = (size_t)n;
	float *buf = malloc((6 * N * (size_t)C + N * (size_t)(H + D)) * sizeof(float));
	int rc = FY_OK;
	if (buf == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	float *qkv[3] = { buf, buf + N * (size_t)C, buf + 2 * N * (size_t)C };
	float *g = buf + 3 * N * (size_t)C, *g2 = buf + 4 * N * (size_t)C;
	float *o = buf + 5 * N * (size_t)C, *beta = buf + 6 * N * (size_t)C;
	float *low = beta + N * (size_t)H; /* n x D: a low-rank pair's middle */
	float *conv = st->conv[l];
	if (c->pos == 0) { /* a new sequence: no earlier inputs, empty states */
		memset(conv, 0, 3 * (size_t)(K * C) * sizeof(float));
		memset(st->s[l], 0, (size_t)(H * D * D) * sizeof(float));
	}
	const struct fy_weight *w[3] = { &x->wq, &x->wk, &x->wv };
	for (int i = 0; i < 3; i++) {
		FY_TRY(rc, fy_eval_mm(c, w[i], -1, c->s.xn, n, qkv[i], C, err));
		fy_short_conv(conv + (size_t)i * (size_t)(K * C), x->conv[i], qkv[i], n, C, K);
		for (int t = 0; i < 2 && t < n; t++) /* q and k heads L2-normalized */
			for (int64_t h = 0; h < H; h++)
				fy_l2norm(qkv[i] + (int64_t)t * C + h * D, D, hp->eps);
	}
	/* the decay: ssm_a x softplus(f_b(f_a(n)) + dt_bias), per channel */
	FY_TRY(rc, fy_eval_mm(c, &x->f_a, -1, c->s.xn, n, low, D, err));
	FY_TRY(rc, fy_eval_mm(c, &x->f_b, -1, low, n, g, C, err));
	for (int t = 0; t < n; t++)
		for (int64_t ch = 0; ch < C; ch++) {
			const float z = g[(int64_t)t * C + ch] + x->dt[ch];
			const float sp = z > 20.0f ? z : log1pf(expf(z));
			g[(int64_t)t * C + ch] = sp * x->a[ch / D];
		}
	FY_TRY(rc, fy_eval_mm(c, &x->beta, -1, c->s.xn, n, beta, H, err));
	for (int64_t i = 0; i < (int64_t)n * H; i++)
		beta[i] = 1.0f / (1.0f + expf(-beta[i]));
	FY_TRY(rc, fy_eval_mm(c, &x->g_a, -1, c->s.xn, n, low, D, err));
	FY_TRY(rc, fy_eval_mm(c, &x->g_b, -1, low, n, g2, C, err));
	struct kda_job j = { qkv[0], qkv[1], qkv[2], g, beta, st->s[l], o, n, (int)H, (int)D };
	FY_TRY(rc, c->pool != NULL ? fy_pool_for(c->pool, H, 1, kda_heads, &j, err)
				   : kda_heads(&j, 0, H, err));
	for (int t = 0; t < n; t++)
		for (int64_t h = 0; h < H; h++) {
			float *oh = o + (int64_t)t * C + h * D;
			const float *gh = g2 + (int64_t)t * C + h * D;
			fy_rmsnorm(oh, x->norm, hp->eps, D, oh);
			for (int64_t i = 0; i < D; i++)
				oh[i] *= 1.0f / (1.0f + expf(-gh[i]));
		}
	FY_TRY(rc, fy_eval_mm(c, &x->out, -1, o, n, c->s.o, hp->n_embd, err));
out:
	free(buf);
	return rc;
}

static int kl_layer(struct fy_ctx *c, int l, int n, struct fy_err *err)
{
	const struct fy_layer *L = &c->m->layers[l];
	const struct kl_layer *x = L->ext;
	int rc = FY_OK;
	if (c->state == NULL)
		FY_TRY(rc, kl_state_new(c, err));
	fy_eval_norm(c, L->attn_norm, n);
	FY_TRY(rc, x->linear ? kl_kda(c, l, n, err) : fy_eval_attention_absorbed(c, l, n, err));
	rc = fy_eval_ffn_residual(c, L, n, err);
out:
	return rc;
}

const struct fy_model_arch fy_arch_kimi_linear = {
	.name = "kimi-linear",
	.rope = FY_ROPE_NONE,
	.hf_rope = FY_ROPE_NONE,
	.hparams = kl_hparams,
	.load_layer = kl_load,
	.layer = kl_layer,
	.ctx_free = fy_recurrent_free,
};
