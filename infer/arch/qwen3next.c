/*
 * qwen3next (Qwen3-Next; llama.cpp's src/models/qwen3next.cpp and delta-net-base.cpp): pre-norm
 * blocks, every full_attention_interval-th one gated attention (or those
 * attention.recurrent_layers does not name), the others Gated DeltaNet; every
 * feed-forward a mixture (softmax over the experts, top k renormalized) plus a shared expert
 * behind its own sigmoid gate. The norms' weights are 1 + w (the converter adds the 1).
 *
 * Gated attention: q_proj gives each head its query and a gate; q/k RMSNorm per head, RoPE (NEOX)
 * on the first rope dimensions, causal attention, the output times sigmoid(gate), o_proj.
 *
 * Gated DeltaNet, token by token (value heads on the pool's threads): attn_qkv(x) through a
 * depthwise causal convolution of
 * ssm.conv_kernel taps (the last kernel - 1 inputs kept in the context) and SiLU gives each key
 * head's q and k and each value head's v; q and k L2-normalized; per value head h (its key head
 * h / (value heads / key heads)), beta = sigmoid(b), g = softplus(a + dt_bias) x ssm_a (ssm_a
 * = -exp(A_log)); the state S (value dim x key dim, kept in the context) decays by exp(g),
 * takes the delta rule S += (beta (v - S k)) k^T, and the output S q / sqrt(value dim) goes
 * through RMSNorm x ssm_norm x silu(z) (z: attn_gate(x)), then ssm_out. b and a come from
 * ssm_ba(x), per key head [b for its value heads, a for them]. A context reset (position 0)
 * clears the states. The next-token-prediction block is not run.
 *
 * qwen35 (Qwen3.5; src/models/qwen35.cpp) is the same with dense feed-forwards (or qwen35moe's
 * mixtures), b and a from their own ssm_beta and ssm_alpha, the value heads in tiled order (the
 * converter reorders them: value head h reads key head h % key heads), and interleaved MRoPE,
 * which for text
 * (every section at the token's position) is NEOX RoPE.
 */
#include "infer/arch.h"
#include "quant/quant.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct q3n_layer {
	bool linear;
	struct fy_weight qkv, gate, ba, out; /* Gated DeltaNet's */
	struct fy_weight beta, alpha;	     /* qwen35's b and a (ba: qwen3next's both) */
	const float *conv;		     /* [channels][kernel] */
	const float *dt_bias, *a, *norm;     /* [value heads], [value heads], [value dim] */
};

struct q3n_model {
	int kernel, key_dim, key_heads, value_heads, value_dim, interval;
	bool qwen35;   /* tiled value heads, ssm_beta and ssm_alpha apart */
	bool by_key;   /* linear[] from attention.recurrent_layers, else by the interval */
	bool linear[]; /* per layer */
};

static int hparams(struct fy_model *m, bool qwen35, struct fy_err *err)
{
	struct q3n_model *v = calloc(1, sizeof(*v) + (size_t)m->hp.n_layer * sizeof(bool));
	int inner = 0, rc = FY_OK;
	if (v == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	m->ext = v;
	v->qwen35 = qwen35;
	double n_expert;
	if (!qwen35 || fy_model_kv_num(m, "expert_count", &n_expert)) /* qwen35: dense */
		FY_TRY(rc, fy_model_read_experts(m, true, err));
	rc = fy_model_kv_flags(m, "attention.recurrent_layers", m->hp.n_layer, v->linear, err);
	v->by_key = rc == FY_OK;
	if (rc == FY_ENOTFOUND)
		rc = FY_OK;
	if (rc != FY_OK)
		goto out;
	FY_TRY(rc, fy_model_kv_int(m, "ssm.conv_kernel", true, 0, &v->kernel, err));
	FY_TRY(rc, fy_model_kv_int(m, "ssm.state_size", true, 0, &v->key_dim, err));
	FY_TRY(rc, fy_model_kv_int(m, "ssm.group_count", true, 0, &v->key_heads, err));
	FY_TRY(rc, fy_model_kv_int(m, "ssm.time_step_rank", true, 0, &v->value_heads, err));
	FY_TRY(rc, fy_model_kv_int(m, "ssm.inner_size", true, 0, &inner, err));
	FY_TRY(rc, fy_model_kv_int(m, "full_attention_interval", false, 4, &v->interval, err));
	v->value_dim = inner / v->value_heads;
	if (v->value_heads % v->key_heads != 0 || inner % v->value_heads != 0 || v->kernel > 64 ||
	    v->key_dim > 4096 || v->value_dim > 4096)
		rc = fy_err_set(err, FY_EFORMAT,
				"%s: Gated DeltaNet's %d value heads (inner size %d) do not fit %d "
				"key heads, or its kernel (%d) or heads are too large",
				fy_gguf_label(m->gguf != NULL ? m->gguf : m->hf->meta),
				v->value_heads, inner, v->key_heads, v->kernel);
out:
	return rc;
}

static int q3n_hparams(struct fy_model *m, struct fy_err *err)
{
	return hparams(m, false, err);
}

static int q35_hparams(struct fy_model *m, struct fy_err *err)
{
	return hparams(m, true, err);
}

#define NAME(s) (snprintf(n, sizeof(n), "blk.%d.%s", l, s), n)

static int q3n_load(struct fy_model *m, int l, struct fy_layer *L, struct fy_err *err)
{
	const struct fy_hparams *hp = &m->hp;
	const struct q3n_model *v = m->ext;
	const int64_t E = hp->n_embd, D = hp->head_dim, H = hp->n_head, KV = hp->n_head_kv;
	const int64_t C =
		2 * (int64_t)v->key_heads * v->key_dim + (int64_t)v->value_heads * v->value_dim;
	const int64_t VV = (int64_t)v->value_heads * v->value_dim;
	char n[96];
	int rc = FY_OK;
	struct q3n_layer *x = calloc(1, sizeof(*x));
	if (x == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	L->ext = x;
	x->linear = v->by_key ? v->linear[l] : (l + 1) % v->interval != 0;
	FY_TRY(rc, fy_model_vector(m, NAME("attn_norm.weight"), E, false, &L->attn_norm, err));
	FY_TRY(rc,
	       fy_model_vector(m, NAME("post_attention_norm.weight"), E, false, &L->ffn_norm, err));
	if (x->linear) {
		FY_TRY(rc, fy_model_weight(m, NAME("attn_qkv.weight"), E, C, false, &x->qkv, err));
		FY_TRY(rc,
		       fy_model_weight(m, NAME("attn_gate.weight"), E, VV, false, &x->gate, err));
		if (v->qwen35) {
			FY_TRY(rc, fy_model_weight(m, NAME("ssm_beta.weight"), E, v->value_heads,
						   false, &x->beta, err));
			FY_TRY(rc, fy_model_weight(m, NAME("ssm_alpha.weight"), E, v->value_heads,
						   false, &x->alpha, err));
		} else {
			FY_TRY(rc,
			       fy_model_weight(m, NAME("ssm_ba.weight"), E,
					       2 * (int64_t)v->value_heads, false, &x->ba, err));
		}
		FY_TRY(rc, fy_model_weight(m, NAME("ssm_out.weight"), VV, E, false, &x->out, err));
		FY_TRY(rc, fy_model_matrix_f32(m, NAME("ssm_conv1d.weight"), v->kernel, C, false,
					       &x->conv, err));
		FY_TRY(rc, fy_model_vector(m, NAME("ssm_dt.bias"), v->value_heads, false,
					   &x->dt_bias, err));
		FY_TRY(rc, fy_model_vector(m, NAME("ssm_a"), v->value_heads, false, &x->a, err));
		FY_TRY(rc, fy_model_vector(m, NAME("ssm_norm.weight"), v->value_dim, false,
					   &x->norm, err));
	} else {
		FY_TRY(rc,
		       fy_model_weight(m, NAME("attn_q.weight"), E, 2 * H * D, false, &L->wq, err));
		FY_TRY(rc,
		       fy_model_weight(m, NAME("attn_k.weight"), E, KV * D, false, &L->wk, err));
		FY_TRY(rc,
		       fy_model_weight(m, NAME("attn_v.weight"), E, KV * D, false, &L->wv, err));
		FY_TRY(rc, fy_model_weight(m, NAME("attn_output.weight"), H * D, E, false, &L->wo,
					   err));
		FY_TRY(rc,
		       fy_model_vector(m, NAME("attn_q_norm.weight"), D, false, &L->q_norm, err));
		FY_TRY(rc,
		       fy_model_vector(m, NAME("attn_k_norm.weight"), D, false, &L->k_norm, err));
	}
	FY_TRY(rc, fy_model_load_ffn(m, l, L, err));
out:
	return rc;
}
#undef NAME

static bool q3n_is_linear(const struct fy_model *m, int l)
{
	return ((const struct q3n_layer *)m->layers[l].ext)->linear;
}

/* Per Gated DeltaNet layer: the convolution's last kernel - 1 inputs, each head's state. */
static int q3n_state_new(struct fy_ctx *c, struct fy_err *err)
{
	const struct q3n_model *v = c->m->ext;
	const size_t C = 2 * (size_t)v->key_heads * (size_t)v->key_dim +
			 (size_t)v->value_heads * (size_t)v->value_dim;
	return fy_recurrent_new(c, q3n_is_linear, (size_t)v->kernel * C,
				(size_t)v->value_heads * (size_t)v->value_dim * (size_t)v->key_dim,
				err);
}

/* One Gated DeltaNet layer's recurrence over a batch, value heads spread over the pool (each
 * head's state is its own; tokens in order within a head). */
struct delta_job {
	const struct q3n_model *v;
	const struct q3n_layer *x;
	const float *u;	 /* per token: the convolved q, k heads and v heads (C) */
	const float *ba; /* per token: b and a (2 x value heads, the file's layout) */
	const float *z;	 /* per token: the gate (value heads x value dim) */
	float *S, *o;
	int n;
	float eps;
};

/* Token t's inputs for value head h: beta, the log-decay g (the state decays by exp(g)), and
 * pointers to q and k (its key head's) and v. */
static void token_in(const struct delta_job *j, int64_t h, int t, float *beta, float *g,
		     const float **q, const float **k, const float **vv)
{
	const struct q3n_model *v = j->v;
	const int64_t KH = v->key_heads, KD = v->key_dim, VH = v->value_heads, VD = v->value_dim;
	const int64_t C = 2 * KH * KD + VH * VD, VPK = VH / KH;
	const int64_t kh = v->qwen35 ? h % KH : h / VPK, r = h % VPK;
	const float *u = j->u + (int64_t)t * C, *bat = j->ba + (int64_t)t * 2 * VH;
	const float b = v->qwen35 ? bat[h] : bat[kh * 2 * VPK + r];
	const float a = v->qwen35 ? bat[VH + h] : bat[kh * 2 * VPK + VPK + r];
	const float z = a + j->x->dt_bias[h];
	*beta = 1.0f / (1.0f + expf(-b));
	*g = (z > 20.0f ? z : log1pf(expf(z))) * j->x->a[h];
	*q = u + kh * KD;
	*k = u + KH * KD + kh * KD;
	*vv = u + 2 * KH * KD + h * VD;
}

#define CHUNK 64 /* tokens of a chunk of the delta rule */

/* Scratch of one thread's chunks: cumulative log-decays, the chunk's triangular system, its
 * values and keys through it, the new values. */
struct chunk_scratch {
	float *gc, *A, *U, *W, *kd;
};

/* The delta rule over tokens [t0, t0 + L) of head h in the chunked form (FLA's
 * chunk_gated_delta_rule, as llama.cpp's build_delta_net_chunking): the chunk's keys solved
 * against each other once (T = (I + strictly-lower(beta k k^T decayed))^-1), then the state's
 * contribution and the chunk's own; the same values as token by token, rounded otherwise. M is
 * the head's state, row i = value channel i over the key channels; o its L outputs (ldo apart),
 * before the gated norm. */
static void delta_chunk(const struct delta_job *j, int64_t h, int t0, int L, float *M, float *o,
			int64_t ldo, const struct chunk_scratch *sc)
{
	const struct fy_kernels *kern = fy_kernels_active();
	const int64_t KD = j->v->key_dim, VD = j->v->value_dim;
	const float scale = 1.0f / sqrtf((float)VD);
	const float *q[CHUNK], *k[CHUNK], *vv[CHUNK];
	float beta[CHUNK], g = 0;
	for (int t = 0; t < L; t++) {
		float gt;
		token_in(j, h, t0 + t, &beta[t], &gt, &q[t], &k[t], &vv[t]);
		g += gt;
		sc->gc[t] = g;
	}
	/* A[t][i] = -beta_t (k_t . k_i) exp(Gc_t - Gc_i) below the diagonal, then forward
	 * substitution row by row: T = A + I */
	for (int t = 0; t < L; t++) {
		float *At = sc->A + (int64_t)t * L;
		for (int i = 0; i < L; i++)
			At[i] = i < t ? -beta[t] * kern->dot(k[t], k[i], KD) *
						expf(sc->gc[t] - sc->gc[i])
				      : 0.0f;
		for (int i = 0; i < t; i++) {
			float sum = 0;
			for (int m = i + 1; m < t; m++)
				sum += At[m] * sc->A[(int64_t)m * L + i];
			At[i] += sum;
		}
		At[t] = 1.0f;
	}
	/* U = T (beta v), W = T (beta k exp(Gc)) */
	for (int t = 0; t < L; t++) {
		float *u = sc->U + (int64_t)t * VD, *w = sc->W + (int64_t)t * KD;
		memset(u, 0, (size_t)VD * sizeof(float));
		memset(w, 0, (size_t)KD * sizeof(float));
		for (int i = 0; i <= t; i++) {
			const float a = sc->A[(int64_t)t * L + i] * beta[i];
			kern->axpy(a, vv[i], u, VD);
			kern->axpy(a * expf(sc->gc[i]), k[i], w, KD);
		}
	}
	/* new values: U - W S; outputs: exp(Gc_t) S q_t + sum over i <= t of
	 * (q_t . k_i) exp(Gc_t - Gc_i) vnew_i */
	for (int t = 0; t < L; t++) {
		float *u = sc->U + (int64_t)t * VD, *ot = o + (int64_t)t * ldo;
		const float *w = sc->W + (int64_t)t * KD;
		const float e = expf(sc->gc[t]);
		for (int64_t i = 0; i < VD; i++) {
			u[i] -= kern->dot(M + i * KD, w, KD);
			ot[i] = e * kern->dot(M + i * KD, q[t], KD);
		}
		for (int i = 0; i <= t; i++)
			kern->axpy(kern->dot(q[t], k[i], KD) * expf(sc->gc[t] - sc->gc[i]),
				   sc->U + (int64_t)i * VD, ot, VD);
		for (int64_t i = 0; i < VD; i++)
			ot[i] *= scale;
	}
	/* the state: S exp(Gc_last) + sum_i (k_i exp(Gc_last - Gc_i)) vnew_i^T */
	const float last = sc->gc[L - 1], el = expf(last);
	for (int64_t i = 0; i < VD * KD; i++)
		M[i] *= el;
	for (int i = 0; i < L; i++) {
		const float d = expf(last - sc->gc[i]);
		for (int64_t c = 0; c < KD; c++)
			sc->kd[c] = k[i][c] * d;
		for (int64_t r = 0; r < VD; r++)
			kern->axpy(sc->U[(int64_t)i * VD + r], sc->kd, M + r * KD, KD);
	}
}

static int delta_heads(void *ctx, int64_t begin, int64_t end, struct fy_err *err)
{
	const struct delta_job *j = ctx;
	const struct q3n_model *v = j->v;
	const struct fy_kernels *kern = fy_kernels_active();
	const int64_t KD = v->key_dim, VH = v->value_heads, VD = v->value_dim;
	const int64_t VV = VH * VD;
	const float scale = 1.0f / sqrtf((float)VD);
	const size_t fl = (size_t)(CHUNK + CHUNK * CHUNK + CHUNK * VD + CHUNK * KD + KD + VD);
	float *buf = malloc(fl * sizeof(float));
	if (buf == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	const struct chunk_scratch sc = { buf, buf + CHUNK, buf + CHUNK + CHUNK * CHUNK,
					  buf + CHUNK + CHUNK * CHUNK + CHUNK * VD,
					  buf + CHUNK + CHUNK * CHUNK + CHUNK * (VD + KD) };
	float *delta = sc.kd + KD;
	for (int64_t h = begin; h < end; h++) {
		float *M = j->S + h * VD * KD;
		for (int t0 = 0; t0 < j->n; t0 += CHUNK) {
			const int L = j->n - t0 < CHUNK ? j->n - t0 : CHUNK;
			if (L > 1) { /* a prompt's chunk */
				delta_chunk(j, h, t0, L, M, j->o + (int64_t)t0 * VV + h * VD, VV,
					    &sc);
				continue;
			}
			/* one token: the recurrence */
			float beta, g;
			const float *q, *k, *vv;
			token_in(j, h, t0, &beta, &g, &q, &k, &vv);
			const float decay = expf(g);
			float *oh = j->o + (int64_t)t0 * VV + h * VD;
			for (int64_t i = 0; i < VD * KD; i++)
				M[i] *= decay;
			for (int64_t i = 0; i < VD; i++)
				delta[i] = (vv[i] - kern->dot(M + i * KD, k, KD)) * beta;
			for (int64_t i = 0; i < VD; i++)
				kern->axpy(delta[i], k, M + i * KD, KD);
			for (int64_t i = 0; i < VD; i++)
				oh[i] = kern->dot(M + i * KD, q, KD) * scale;
		}
		/* RMSNorm x ssm_norm x silu(z), token by token */
		for (int t = 0; t < j->n; t++) {
			float *oh = j->o + (int64_t)t * VV + h * VD;
			const float *zh = j->z + (int64_t)t * VV + h * VD;
			fy_rmsnorm(oh, j->x->norm, j->eps, VD, oh);
			for (int64_t i = 0; i < VD; i++)
				oh[i] *= fy_silu(zh[i]);
		}
	}
	free(buf);
	return FY_OK;
}

/* Gated DeltaNet over the batch (s.xn in, s.o out): the short convolution token by token, then
 * the delta rule per value head over the tokens (delta_heads). */
static int q3n_linear(struct fy_ctx *c, int l, int n, struct fy_err *err)
{
	const struct fy_model *m = c->m;
	const struct fy_hparams *hp = &m->hp;
	const struct q3n_model *v = m->ext;
	const struct q3n_layer *x = m->layers[l].ext;
	const struct fy_recurrent *st = c->state;
	const int64_t KH = v->key_heads, KD = v->key_dim, VH = v->value_heads, VD = v->value_dim;
	const int64_t K = v->kernel, C = 2 * KH * KD + VH * VD, VV = VH * VD;
	float *conv = st->conv[l], *S = st->s[l];
	float *qkv = malloc((size_t)n * (size_t)C * sizeof(float));
	float *z = malloc((size_t)n * (size_t)VV * sizeof(float));
	float *ba = malloc((size_t)n * 2 * (size_t)VH * sizeof(float));
	float *o = malloc((size_t)n * (size_t)VV * sizeof(float));
	int rc = FY_OK;
	if (qkv == NULL || z == NULL || ba == NULL || o == NULL) {
		rc = fy_err_set(err, FY_ENOMEM, "out of memory");
		goto out;
	}
	if (c->pos == 0) { /* a new sequence: no earlier inputs, empty states */
		memset(conv, 0, (size_t)(K * C) * sizeof(float));
		memset(S, 0, (size_t)(VH * VD * KD) * sizeof(float));
	}
	FY_TRY(rc, fy_eval_mm(c, &x->qkv, -1, c->s.xn, n, qkv, C, err));
	FY_TRY(rc, fy_eval_mm(c, &x->gate, -1, c->s.xn, n, z, VV, err));
	if (v->qwen35) { /* [b of every head] then [a of every head], per token */
		FY_TRY(rc, fy_eval_mm(c, &x->beta, -1, c->s.xn, n, ba, 2 * VH, err));
		FY_TRY(rc, fy_eval_mm(c, &x->alpha, -1, c->s.xn, n, ba + VH, 2 * VH, err));
	} else {
		FY_TRY(rc, fy_eval_mm(c, &x->ba, -1, c->s.xn, n, ba, 2 * VH, err));
	}
	/* each token's channels replaced in place by their convolution through SiLU (the last
	 * K - 1 inputs kept in the context), q and k L2-normalized */
	fy_short_conv(conv, x->conv, qkv, n, C, K);
	for (int t = 0; t < n; t++)
		for (int64_t h = 0; h < 2 * KH; h++) /* q and k heads */
			fy_l2norm(qkv + (int64_t)t * C + h * KD, KD, hp->eps);
	struct delta_job j = { v, x, qkv, ba, z, S, o, n, hp->eps };
	FY_TRY(rc, c->pool != NULL ? fy_pool_for(c->pool, VH, 1, delta_heads, &j, err)
				   : delta_heads(&j, 0, VH, err));
	FY_TRY(rc, fy_eval_mm(c, &x->out, -1, o, n, c->s.o, hp->n_embd, err));
out:
	free(qkv);
	free(z);
	free(ba);
	free(o);
	return rc;
}

/* Gated attention (s.xn in, s.o out). */
static int q3n_attention(struct fy_ctx *c, int l, int n, struct fy_err *err)
{
	const struct fy_model *m = c->m;
	const struct fy_hparams *hp = &m->hp;
	const struct fy_layer *L = &m->layers[l];
	struct fy_scratch *s = &c->s;
	const int64_t D = hp->head_dim, H = hp->n_head, KV = hp->n_head_kv, n_rot = hp->rope.n_rot;
	float *qg = malloc((size_t)n * 2 * (size_t)(H * D) * sizeof(float));
	int rc = FY_OK;
	if (qg == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	FY_TRY(rc, fy_eval_mm(c, &L->wq, -1, s->xn, n, qg, 2 * H * D, err));
	FY_TRY(rc, fy_eval_mm(c, &L->wk, -1, s->xn, n, s->k, KV * D, err));
	FY_TRY(rc, fy_eval_mm(c, &L->wv, -1, s->xn, n, s->v, KV * D, err));
	for (int t = 0; t < n; t++) {
		const float *cs = s->rope + (int64_t)t * n_rot;
		for (int64_t h = 0; h < H; h++) { /* each head: its query, then its gate */
			float *q = s->q + (t * H + h) * D;
			memcpy(q, qg + (t * H + h) * 2 * D, (size_t)D * sizeof(float));
			fy_rmsnorm(q, L->q_norm, hp->eps, D, q);
			fy_rope_apply(&hp->rope, q, cs);
		}
		for (int64_t h = 0; h < KV; h++) {
			float *k = s->k + (t * KV + h) * D;
			fy_rmsnorm(k, L->k_norm, hp->eps, D, k);
			fy_rope_apply(&hp->rope, k, cs);
		}
	}
	FY_TRY(rc, fy_eval_attend(c, l, n, err));
	for (int t = 0; t < n; t++)
		for (int64_t h = 0; h < H; h++) {
			const float *g = qg + (t * H + h) * 2 * D + D;
			float *a = s->att + (t * H + h) * D;
			for (int64_t i = 0; i < D; i++)
				a[i] *= 1.0f / (1.0f + expf(-g[i]));
		}
	FY_TRY(rc, fy_eval_mm(c, &L->wo, -1, s->att, n, s->o, hp->n_embd, err));
out:
	free(qg);
	return rc;
}

static int q3n_layer(struct fy_ctx *c, int l, int n, struct fy_err *err)
{
	const struct fy_layer *L = &c->m->layers[l];
	const struct q3n_layer *x = L->ext;
	int rc = FY_OK;
	if (c->state == NULL)
		FY_TRY(rc, q3n_state_new(c, err));
	fy_eval_norm(c, L->attn_norm, n);
	FY_TRY(rc, x->linear ? q3n_linear(c, l, n, err) : q3n_attention(c, l, n, err));
	rc = fy_eval_ffn_residual(c, L, n, err);
out:
	return rc;
}

/* one row each: qwen3next, qwen35 (dense) and qwen35moe read the same layers */
#define Q3N_ROW(arch, hp, mixture)                                                                 \
	{                                                                                          \
		.name = arch, .rope = FY_ROPE_NEOX, .hf_rope = FY_ROPE_NEOX, .hparams = hp,        \
		.load_layer = q3n_load, .layer = q3n_layer, .ctx_free = fy_recurrent_free,         \
		.no_dense = mixture,                                                               \
	}

const struct fy_model_arch fy_arch_qwen3next = Q3N_ROW("qwen3next", q3n_hparams, false);
const struct fy_model_arch fy_arch_qwen35 = Q3N_ROW("qwen35", q35_hparams, false);
const struct fy_model_arch fy_arch_qwen35moe = Q3N_ROW("qwen35moe", q35_hparams, true);
