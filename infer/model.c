/*
 * Models: the hyper-parameters and weights of a llama-family model, from a GGUF file or straight
 * from an HF checkpoint directory (through convert's HF view, which names HF tensors as GGUF
 * does). Matrices stay in the mapping in their stored type; 1-D tensors (norms, biases) are
 * converted to F32 once. Every shape is checked against the hyper-parameters before use.
 */
#include "infer/arch.h"
#include "quant/quant.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DIM (1 << 20) /* any single dimension ferry accepts from metadata */
#define MAX_LAYERS 4096

/* --- metadata ------------------------------------------------------------------------------- */

static const struct fy_gguf *meta_of(const struct fy_model *m)
{
	return m->gguf != NULL ? m->gguf : m->hf->meta;
}

/* A numeric KV as a double; false when absent or not a number. */
bool fy_model_kv_num(const struct fy_model *m, const char *suffix, double *out)
{
	char key[160];
	snprintf(key, sizeof(key), "%s.%s", m->hp.arch, suffix);
	return fy_gguf_kv_number(fy_gguf_find_kv(meta_of(m), key), out);
}

bool fy_model_kv_arr(const struct fy_model *m, const char *suffix, int64_t i, double *out)
{
	char key[160];
	snprintf(key, sizeof(key), "%s.%s", m->hp.arch, suffix);
	const struct fy_gguf_kv *kv = fy_gguf_find_kv(meta_of(m), key);
	if (kv == NULL || kv->type != FY_GGUF_ARRAY)
		return fy_gguf_kv_number(kv, out);
	if (i < 0 || (uint64_t)i >= kv->arr_count)
		return false;
	const struct fy_gguf_value v = fy_gguf_arr_at(kv, (uint64_t)i);
	return fy_gguf_value_number(&v, out);
}

int fy_model_kv_flags(const struct fy_model *m, const char *suffix, int64_t n, bool *out,
		      struct fy_err *err)
{
	char key[160];
	snprintf(key, sizeof(key), "%s.%s", m->hp.arch, suffix);
	const struct fy_gguf_kv *kv = fy_gguf_find_kv(meta_of(m), key);
	if (kv == NULL)
		return FY_ENOTFOUND;
	if (kv->type != FY_GGUF_ARRAY || kv->arr_type != FY_GGUF_BOOL ||
	    kv->arr_count < (uint64_t)n)
		return fy_err_set(err, FY_EFORMAT, "%s: %s is not an array of %lld booleans",
				  fy_gguf_label(meta_of(m)), key, (long long)n);
	for (int64_t i = 0; i < n; i++)
		out[i] = fy_gguf_arr_at(kv, (uint64_t)i).b;
	return FY_OK;
}

int64_t fy_model_vocab_count(const struct fy_model *m)
{
	double v;
	if (fy_model_kv_num(m, "vocab_size", &v) && v >= 0 && v < 1e15)
		return (int64_t)v;
	const struct fy_gguf_kv *kv = fy_gguf_find_kv(meta_of(m), "tokenizer.ggml.tokens");
	return kv != NULL && kv->type == FY_GGUF_ARRAY && kv->arr_count < INT64_MAX
		       ? (int64_t)kv->arr_count
		       : -1;
}

int fy_model_kv_int(const struct fy_model *m, const char *suffix, bool required, int dflt, int *out,
		    struct fy_err *err)
{
	double v;
	if (!fy_model_kv_num(m, suffix, &v)) {
		if (required)
			return fy_err_set(err, FY_EFORMAT, "%s: %s.%s is missing",
					  fy_gguf_label(meta_of(m)), m->hp.arch, suffix);
		*out = dflt;
		return FY_OK;
	}
	if (v < 1 || v > MAX_DIM || v != (double)(int)v)
		return fy_err_set(err, FY_EFORMAT, "%s: %s.%s = %g is out of range",
				  fy_gguf_label(meta_of(m)), m->hp.arch, suffix, v);
	*out = (int)v;
	return FY_OK;
}

static int read_rope(struct fy_model *m, enum fy_rope_style style, struct fy_err *err)
{
	struct fy_rope *r = &m->hp.rope;
	double v;
	char key[160];
	int rc = FY_OK;
	r->style = style;
	r->base = fy_model_kv_num(m, "rope.freq_base", &v) && v > 0 ? (float)v : 10000.0f;
	FY_TRY(rc,
	       fy_model_kv_int(m, "rope.dimension_count", false, m->hp.head_dim, &r->n_rot, err));
	if (r->n_rot > m->hp.head_dim || r->n_rot % 2 != 0)
		return fy_err_set(err, FY_EFORMAT,
				  "%s: rope.dimension_count %d does not fit a head",
				  fy_gguf_label(meta_of(m)), r->n_rot);
	snprintf(key, sizeof(key), "%s.rope.scaling.type", m->hp.arch);
	const struct fy_gguf_kv *t = fy_gguf_find_kv(meta_of(m), key);
	r->scaling = FY_ROPE_SCALING_NONE;
	r->factor = fy_model_kv_num(m, "rope.scaling.factor", &v) && v > 0 ? (float)v : 1.0f;
	if (t != NULL && t->type == FY_GGUF_STRING) {
		if (t->v.s.len == 6 && memcmp(t->v.s.ptr, "linear", 6) == 0)
			r->scaling = FY_ROPE_SCALING_LINEAR;
		else if (t->v.s.len == 4 && memcmp(t->v.s.ptr, "yarn", 4) == 0)
			r->scaling = FY_ROPE_SCALING_YARN;
		else if (!(t->v.s.len == 4 && memcmp(t->v.s.ptr, "none", 4) == 0))
			return fy_err_set(err, FY_EUNSUPPORTED,
					  "%s: rope scaling '%.*s' is not supported (linear, yarn)",
					  fy_gguf_label(meta_of(m)), (int)t->v.s.len, t->v.s.ptr);
	} else if (fy_model_kv_num(m, "rope.scale_linear", &v) && v > 0 && v != 1) {
		r->scaling = FY_ROPE_SCALING_LINEAR;
		r->factor = (float)v;
	}
	FY_TRY(rc, fy_model_kv_int(m, "rope.scaling.original_context_length", false,
				   m->hp.n_ctx_train, &r->n_ctx_orig, err));
	r->beta_fast =
		fy_model_kv_num(m, "rope.scaling.yarn_beta_fast", &v) && v > 0 ? (float)v : 32.0f;
	r->beta_slow =
		fy_model_kv_num(m, "rope.scaling.yarn_beta_slow", &v) && v > 0 ? (float)v : 1.0f;
	r->attn_factor =
		fy_model_kv_num(m, "rope.scaling.attn_factor", &v) && v > 0 ? (float)v : 1.0f;
out:
	return rc;
}

int fy_model_read_experts(struct fy_model *m, bool norm_default, struct fy_err *err)
{
	struct fy_hparams *hp = &m->hp;
	double v;
	int rc = FY_OK;
	FY_TRY(rc, fy_model_kv_int(m, "expert_count", true, 0, &hp->n_expert, err));
	FY_TRY(rc, fy_model_kv_int(m, "expert_used_count", true, 0, &hp->n_expert_used, err));
	/* MiniMax-01's experts are feed_forward_length wide (its files have no expert width) */
	if (hp->n_ff_exp == -1)
		hp->n_ff_exp = hp->n_ff;
	else
		FY_TRY(rc, fy_model_kv_int(m, "expert_feed_forward_length", true, 0, &hp->n_ff_exp,
					   err));
	hp->n_expert_shared = hp->n_dense_lead = 0;
	if (fy_model_kv_num(m, "expert_shared_count", &v) && v > 0)
		FY_TRY(rc, fy_model_kv_int(m, "expert_shared_count", false, 0, &hp->n_expert_shared,
					   err));
	/* a shared expert of its own width (Qwen2-MoE's, Qwen3-Next's): one, that wide */
	hp->n_ff_shexp = 0;
	if (fy_model_kv_num(m, "expert_shared_feed_forward_length", &v) && v > 0) {
		FY_TRY(rc, fy_model_kv_int(m, "expert_shared_feed_forward_length", false, 0,
					   &hp->n_ff_shexp, err));
		if (hp->n_expert_shared == 0)
			hp->n_expert_shared = 1;
	}
	if (fy_model_kv_num(m, "leading_dense_block_count", &v) && v > 0)
		FY_TRY(rc, fy_model_kv_int(m, "leading_dense_block_count", false, 0,
					   &hp->n_dense_lead, err));
	/* some writers put 0 for "no groups" */
	hp->n_group = 1;
	if (!(fy_model_kv_num(m, "expert_group_count", &v) && v == 0))
		FY_TRY(rc, fy_model_kv_int(m, "expert_group_count", false, 1, &hp->n_group, err));
	hp->n_group_used = hp->n_group;
	if (!(fy_model_kv_num(m, "expert_group_used_count", &v) && v == 0))
		FY_TRY(rc, fy_model_kv_int(m, "expert_group_used_count", false, hp->n_group,
					   &hp->n_group_used, err));
	/* llama.cpp's default: softmax (an architecture's hparams may set another first) */
	if (fy_model_kv_num(m, "expert_gating_func", &v) && v == 2)
		hp->gating = FY_GATING_SIGMOID;
	else if (fy_model_kv_num(m, "expert_gating_func", &v) && v == 1)
		hp->gating = FY_GATING_SOFTMAX;
	else if (fy_model_kv_num(m, "expert_gating_func", &v) && v == 4)
		hp->gating = FY_GATING_SQRT_SOFTPLUS;
	else if (fy_model_kv_num(m, "expert_gating_func", &v) && v != 0)
		return fy_err_set(
			err, FY_EUNSUPPORTED,
			"%s: expert_gating_func %g is not supported (1 softmax, 2 sigmoid, "
			"4 sqrt-softplus)",
			fy_gguf_label(meta_of(m)), v);
	hp->expert_norm = norm_default;
	char key[160];
	snprintf(key, sizeof(key), "%s.expert_weights_norm", hp->arch);
	const struct fy_gguf_kv *norm = fy_gguf_find_kv(meta_of(m), key);
	if (norm != NULL && norm->type == FY_GGUF_BOOL)
		hp->expert_norm = norm->v.b;
	hp->expert_scale =
		fy_model_kv_num(m, "expert_weights_scale", &v) && v > 0 ? (float)v : 1.0f;
	if (hp->n_expert_used > hp->n_expert || hp->n_expert > 65536 || hp->n_group > 256 ||
	    hp->n_expert % hp->n_group != 0 || hp->n_group_used > hp->n_group ||
	    hp->n_dense_lead > hp->n_layer ||
	    (hp->n_group > 1 &&
	     hp->n_expert_used > hp->n_group_used * (hp->n_expert / hp->n_group)))
		return fy_err_set(err, FY_EFORMAT,
				  "%s: %d of %d experts in %d groups (%d used) do not fit",
				  fy_gguf_label(meta_of(m)), hp->n_expert_used, hp->n_expert,
				  hp->n_group, hp->n_group_used);
	if (hp->n_ff_shexp == 0)
		hp->n_ff_shexp = hp->n_ff_exp * hp->n_expert_shared;
out:
	return rc;
}

int fy_model_read_mla(struct fy_model *m, struct fy_err *err)
{
	struct fy_hparams *hp = &m->hp;
	struct fy_rope *r = &hp->rope;
	double v;
	int rc = FY_OK;
	FY_TRY(rc, fy_model_kv_int(m, "attention.kv_lora_rank", true, 0, &hp->kv_lora_rank, err));
	if (fy_model_kv_num(m, "attention.q_lora_rank", &v) && v > 0)
		FY_TRY(rc, fy_model_kv_int(m, "attention.q_lora_rank", false, 0, &hp->q_lora_rank,
					   err));
	/* llama.cpp v0.5.0's layout: kv_b split into k_b and v_b for the absorbed form; the file
	 * describes MQA over the latent (key_length = rank + rope) and names the heads' own sizes
	 * key_length_mla and value_length_mla */
	hp->mla_absorbed = fy_model_kv_num(m, "attention.key_length_mla", &v);
	if (hp->mla_absorbed) {
		FY_TRY(rc,
		       fy_model_kv_int(m, "attention.key_length_mla", true, 0, &hp->head_dim, err));
		FY_TRY(rc, fy_model_kv_int(m, "attention.value_length_mla", true, 0,
					   &hp->head_dim_v, err));
		hp->kq_scale = 1.0f / sqrtf((float)hp->head_dim);
	}
	if (r->n_rot >= hp->head_dim)
		return fy_err_set(err, FY_EFORMAT,
				  "%s: rope.dimension_count %d leaves no unrotated part of %d",
				  fy_gguf_label(meta_of(m)), r->n_rot, hp->head_dim);
	hp->n_head_kv = hp->n_head; /* every head has its keys and values from the latent */
	if (r->scaling == FY_ROPE_SCALING_YARN) {
		/* as llama.cpp: the rotation itself is not scaled, the softmax is, by mscale^2 */
		const float ln = logf(r->factor);
		const float mul =
			fy_model_kv_num(m, "rope.scaling.yarn_log_multiplier", &v) ? (float)v : 0;
		const float mscale = r->attn_factor * (1.0f + mul * ln);
		hp->kq_scale = mscale * mscale / sqrtf((float)hp->head_dim);
		r->attn_factor = 1.0f / (1.0f + 0.1f * ln);
	}
out:
	return rc;
}

static int read_hparams(struct fy_model *m, struct fy_err *err)
{
	const struct fy_gguf *g = meta_of(m);
	const struct fy_gguf_kv *a = fy_gguf_find_kv(g, "general.architecture");
	struct fy_hparams *hp = &m->hp;
	double eps;
	int rc = FY_OK;
	if (a == NULL || a->type != FY_GGUF_STRING || a->v.s.len >= sizeof(hp->arch))
		return fy_err_set(err, FY_EFORMAT, "%s: general.architecture is missing",
				  fy_gguf_label(g));
	memcpy(hp->arch, a->v.s.ptr, a->v.s.len);
	hp->arch[a->v.s.len] = '\0';
	m->arch = fy_model_arch_find(hp->arch);
	if (m->arch == NULL)
		return fy_err_set(err, FY_EUNSUPPORTED,
				  "%s: architecture '%s' is not one ferry runs (%s)",
				  fy_gguf_label(g), hp->arch, fy_model_archs());
	FY_TRY(rc, fy_model_kv_int(m, "embedding_length", true, 0, &hp->n_embd, err));
	FY_TRY(rc, fy_model_kv_int(m, "block_count", true, 0, &hp->n_layer, err));
	FY_TRY(rc,
	       fy_model_kv_int(m, "feed_forward_length", !m->arch->no_dense, 0, &hp->n_ff, err));
	FY_TRY(rc, fy_model_kv_int(m, "attention.head_count", true, 0, &hp->n_head, err));
	FY_TRY(rc, fy_model_kv_int(m, "attention.head_count_kv", false, hp->n_head, &hp->n_head_kv,
				   err));
	/* the trained context may be far above any other dimension (MiniMax-01: 10,240,000) */
	double ctx_train;
	if (fy_model_kv_num(m, "context_length", &ctx_train) && ctx_train > MAX_DIM &&
	    ctx_train <= INT32_MAX && ctx_train == (double)(int32_t)ctx_train)
		hp->n_ctx_train = (int)ctx_train;
	else
		FY_TRY(rc,
		       fy_model_kv_int(m, "context_length", false, 2048, &hp->n_ctx_train, err));
	FY_TRY(rc, fy_model_kv_int(m, "attention.key_length", false, hp->n_embd / hp->n_head,
				   &hp->head_dim, err));
	FY_TRY(rc, fy_model_kv_int(m, "attention.value_length", false, hp->head_dim,
				   &hp->head_dim_v, err));
	hp->eps = fy_model_kv_num(m, "attention.layer_norm_rms_epsilon", &eps) && eps > 0
			  ? (float)eps
			  : 1e-5f;
	if (hp->n_layer > MAX_LAYERS || hp->n_head % hp->n_head_kv != 0 || hp->head_dim < 2)
		return fy_err_set(err, FY_EFORMAT,
				  "%s: %d layers, %d heads, %d kv heads, head size %d do not fit",
				  fy_gguf_label(g), hp->n_layer, hp->n_head, hp->n_head_kv,
				  hp->head_dim);
	/* multi-token-prediction layers stored after the last one are not part of the forward */
	if (fy_model_kv_num(m, "nextn_predict_layers", &eps) && eps > 0) {
		if (eps >= hp->n_layer || eps != (double)(int)eps)
			return fy_err_set(err, FY_EFORMAT,
					  "%s: nextn_predict_layers %g leaves no layer of %d",
					  fy_gguf_label(g), eps, hp->n_layer);
		hp->n_layer -= (int)eps;
	}
	FY_TRY(rc, read_rope(m, m->from_hf ? m->arch->hf_rope : m->arch->rope, err));
	hp->kq_scale = 1.0f / sqrtf((float)hp->head_dim);
	hp->gating = FY_GATING_SOFTMAX;
	if (m->arch->hparams != NULL)
		FY_TRY(rc, m->arch->hparams(m, err));
out:
	return rc;
}

/* --- tensors -------------------------------------------------------------------------------- */

struct found {
	enum fy_dtype type;
	int n_dims;
	int64_t ne[4];
	const uint8_t *data;
	const char *name;
	const struct fy_st_tensor **parts; /* an HF mixture's experts in place, or NULL */
	/* F8_E4M3 or int4 in place: the scales (scales: each expert's), else NULL */
	const struct fy_st_tensor *scale, **scales;
	int64_t block[2], int4_group;
};

static bool find_tensor(const struct fy_model *m, const char *name, struct found *f)
{
	if (m->gguf != NULL) {
		const struct fy_gguf_tensor *t = fy_gguf_find_tensor(m->gguf, name);
		if (t == NULL)
			return false;
		f->type = t->type;
		f->n_dims = t->n_dims;
		memcpy(f->ne, t->ne, sizeof(f->ne));
		f->data = t->data;
		f->name = t->name;
		f->parts = NULL;
		f->scale = NULL;
		f->scales = NULL;
		return true;
	}
	for (size_t i = 0; i < m->hf->n; i++) {
		const struct fy_hf_tensor *t = &m->hf->t[i];
		if (strcmp(t->name, name) == 0) {
			f->type = t->src->dtype;
			f->n_dims = t->n_dims;
			memcpy(f->ne, t->ne, sizeof(f->ne));
			f->data = t->src->data;
			f->name = t->name;
			f->parts = t->parts;
			f->scale = t->scale;
			f->scales = t->scales;
			memcpy(f->block, t->block, sizeof(f->block));
			f->int4_group = t->int4_group;
			return true;
		}
	}
	return false;
}

static const char *label(const struct fy_model *m)
{
	return fy_gguf_label(meta_of(m));
}

/* An FP8 or int4 matrix read where it lies with its scales (the view checked their shape). */
static void scaled_weight(const struct found *f, const uint8_t *data, const struct fy_st_tensor *sc,
			  int64_t ne0, int64_t ne1, struct fy_weight *w)
{
	const bool int4 = f->int4_group > 0;
	*w = (struct fy_weight){ .type = int4 ? FY_DTYPE_I32 : FY_DTYPE_F8_E4M3,
				 .ne0 = ne0,
				 .ne1 = ne1,
				 .row_bytes = int4 ? 4 * (size_t)((ne0 + 7) / 8) : (size_t)ne0,
				 .data = data,
				 .name = f->name,
				 .scale = sc->data,
				 .scale_type = sc->dtype,
				 .scale_ld = sc->shape[1],
				 .block = { int4 ? 1 : f->block[0],
					    int4 ? f->int4_group : f->block[1] } };
}

/* A matrix of ne0 x ne1 (required unless `optional`; absent: w->data stays NULL). */
int fy_model_weight(struct fy_model *m, const char *name, int64_t ne0, int64_t ne1, bool optional,
		    struct fy_weight *w, struct fy_err *err)
{
	struct found f;
	if (!find_tensor(m, name, &f)) {
		if (optional)
			return FY_OK;
		return fy_err_set(err, FY_EFORMAT, "%s: tensor %s is missing", label(m), name);
	}
	/* a matrix may be stored with dimensions of 1 around its rows' count (llama.cpp writes
	 * Kimi-Linear's short convolutions K x 1 x C x 1 and its ssm_a 1 x H x 1 x 1) */
	const int n_big = (f.ne[1] != 1) + (f.ne[2] != 1) + (f.ne[3] != 1);
	const int64_t rows = n_big > 1 ? -1 : f.ne[1] * f.ne[2] * f.ne[3];
	if (f.ne[0] != ne0 || rows != ne1)
		return fy_err_set(err, FY_EFORMAT,
				  "%s: tensor %s is %lldx%lld, the hyper-parameters say %lldx%lld",
				  label(m), name, (long long)f.ne[0], (long long)f.ne[1],
				  (long long)ne0, (long long)ne1);
	*w = (struct fy_weight){ 0 };
	if (f.scale != NULL) { /* FP8 or int4 with its scales, read in place */
		scaled_weight(&f, f.data, f.scale, ne0, ne1, w);
		return FY_OK;
	}
	if (fy_quant_traits(f.type) == NULL || fy_quant_traits(f.type)->to_float == NULL)
		return fy_err_set(err, FY_EUNSUPPORTED,
				  "%s: tensor %s is %s, which ferry cannot read", label(m), name,
				  fy_dtype_name(f.type));
	if (!fy_quant_row_bytes(f.type, ne0, &w->row_bytes))
		return fy_err_set(err, FY_EFORMAT,
				  "%s: tensor %s: rows of %lld do not split into %s blocks",
				  label(m), name, (long long)ne0, fy_dtype_name(f.type));
	w->type = f.type;
	w->ne0 = ne0;
	w->ne1 = ne1;
	w->data = f.data;
	w->name = f.name;
	return FY_OK;
}

int fy_model_matrix_f32(struct fy_model *m, const char *name, int64_t ne0, int64_t ne1,
			bool optional, const float **out, struct fy_err *err)
{
	struct fy_weight w = { 0 };
	int rc = fy_model_weight(m, name, ne0, ne1, optional, &w, err);
	if (rc != FY_OK || w.data == NULL)
		return rc;
	float **grown = realloc(m->owned, (m->n_owned + 1) * sizeof(*grown));
	if (grown == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	m->owned = grown;
	float *v = malloc((size_t)ne0 * (size_t)ne1 * sizeof(float));
	if (v == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	m->owned[m->n_owned++] = v;
	for (int64_t r = 0; r < ne1; r++)
		fy_weight_row(&w, r, v + r * ne0);
	*out = v;
	return FY_OK;
}

/* A vector of n values, converted to F32 and owned by the model. */
int fy_model_vector(struct fy_model *m, const char *name, int64_t n, bool optional,
		    const float **out, struct fy_err *err)
{
	return fy_model_matrix_f32(m, name, n, 1, optional, out, err);
}

int fy_model_i32(struct fy_model *m, const char *name, int64_t ne0, int64_t ne1, int32_t limit,
		 int32_t *dst, struct fy_err *err)
{
	struct found f;
	if (!find_tensor(m, name, &f))
		return fy_err_set(err, FY_EFORMAT, "%s: tensor %s is missing", label(m), name);
	if (f.type != FY_DTYPE_I32 || f.ne[0] != ne0 || f.ne[1] != ne1 || f.ne[2] != 1 ||
	    f.ne[3] != 1)
		return fy_err_set(err, FY_EFORMAT,
				  "%s: tensor %s is %s %lldx%lld, I32 %lldx%lld expected", label(m),
				  name, fy_dtype_name(f.type), (long long)f.ne[0],
				  (long long)f.ne[1], (long long)ne0, (long long)ne1);
	memcpy(dst, f.data, (size_t)ne0 * (size_t)ne1 * sizeof(int32_t));
	for (int64_t i = 0; i < ne0 * ne1; i++) {
		if (dst[i] < 0 || dst[i] >= limit)
			return fy_err_set(err, FY_EFORMAT,
					  "%s: tensor %s: value %d at %lld is outside [0, %d)",
					  label(m), name, (int)dst[i], (long long)i, (int)limit);
	}
	return FY_OK;
}

/* Expert e's matrix of a stacked tensor (ne = [ne0, ne1, n]) is the slice e. */
static int get_experts(struct fy_model *m, const char *name, int64_t ne0, int64_t ne1, int n,
		       struct fy_weight *w, int stride, struct fy_err *err)
{
	struct found f;
	if (!find_tensor(m, name, &f))
		return fy_err_set(err, FY_EFORMAT, "%s: tensor %s is missing", label(m), name);
	if (f.ne[0] != ne0 || f.ne[1] != ne1 || f.ne[2] != n || f.ne[3] != 1)
		return fy_err_set(err, FY_EFORMAT,
				  "%s: tensor %s is %lldx%lldx%lld, the hyper-parameters say "
				  "%lldx%lldx%d",
				  label(m), name, (long long)f.ne[0], (long long)f.ne[1],
				  (long long)f.ne[2], (long long)ne0, (long long)ne1, n);
	if (f.scales != NULL) { /* FP8 or int4 experts with their scales, read in place */
		for (int e = 0; e < n; e++)
			scaled_weight(&f, (const uint8_t *)f.parts[e]->data, f.scales[e], ne0, ne1,
				      &w[(size_t)e * (size_t)stride]);
		return FY_OK;
	}
	if (fy_quant_traits(f.type) == NULL || fy_quant_traits(f.type)->to_float == NULL)
		return fy_err_set(err, FY_EUNSUPPORTED,
				  "%s: tensor %s is %s, which ferry cannot read", label(m), name,
				  fy_dtype_name(f.type));
	size_t row_bytes;
	if (!fy_quant_row_bytes(f.type, ne0, &row_bytes))
		return fy_err_set(err, FY_EFORMAT,
				  "%s: tensor %s: rows of %lld do not split into %s blocks",
				  label(m), name, (long long)ne0, fy_dtype_name(f.type));
	/* an HF checkpoint's experts are read where each lies (the view checked their shapes
	 * and type); a GGUF file's as slices of the stacked tensor */
	for (int e = 0; e < n; e++)
		w[(size_t)e * (size_t)stride] = (struct fy_weight){
			.type = f.type,
			.ne0 = ne0,
			.ne1 = ne1,
			.row_bytes = row_bytes,
			.data = f.parts != NULL ? (const uint8_t *)f.parts[e]->data
						: f.data + (size_t)e * (size_t)ne1 * row_bytes,
			.name = f.name
		};
	return FY_OK;
}

#define NAME(s) (snprintf(n, sizeof(n), "blk.%d.%s", l, s), n)

int fy_model_load_attn_latent(struct fy_model *m, int l, struct fy_layer *L, struct fy_err *err)
{
	const struct fy_hparams *hp = &m->hp;
	const int64_t q = (int64_t)hp->n_head * hp->head_dim;
	const int64_t o = (int64_t)hp->n_head * hp->head_dim_v;
	const int64_t nope = hp->head_dim - hp->rope.n_rot;
	char n[96];
	int rc = FY_OK;
	FY_TRY(rc,
	       fy_model_weight(m, NAME("attn_output.weight"), o, hp->n_embd, false, &L->wo, err));
	if (hp->q_lora_rank > 0) {
		FY_TRY(rc, fy_model_weight(m, NAME("attn_q_a.weight"), hp->n_embd, hp->q_lora_rank,
					   false, &L->wq_a, err));
		FY_TRY(rc, fy_model_vector(m, NAME("attn_q_a_norm.weight"), hp->q_lora_rank, false,
					   &L->q_a_norm, err));
		FY_TRY(rc, fy_model_weight(m, NAME("attn_q_b.weight"), hp->q_lora_rank, q, false,
					   &L->wq_b, err));
	} else {
		FY_TRY(rc, fy_model_weight(m, NAME("attn_q.weight"), hp->n_embd, q, false, &L->wq,
					   err));
	}
	FY_TRY(rc, fy_model_weight(m, NAME("attn_kv_a_mqa.weight"), hp->n_embd,
				   hp->kv_lora_rank + hp->rope.n_rot, false, &L->wkv_a, err));
	FY_TRY(rc, fy_model_vector(m, NAME("attn_kv_a_norm.weight"), hp->kv_lora_rank, false,
				   &L->kv_a_norm, err));
	if (!hp->mla_absorbed) { /* an older file: kv_b whole, keys and values expanded */
		FY_TRY(rc, fy_model_weight(m, NAME("attn_kv_b.weight"), hp->kv_lora_rank,
					   hp->n_head * (nope + hp->head_dim_v), false, &L->wkv_b,
					   err));
		goto out;
	}
	L->wk_b = calloc((size_t)hp->n_head * 2, sizeof(*L->wk_b));
	if (L->wk_b == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	L->wv_b = L->wk_b + hp->n_head;
	FY_TRY(rc, get_experts(m, NAME("attn_k_b.weight"), nope, hp->kv_lora_rank, hp->n_head,
			       L->wk_b, 1, err));
	FY_TRY(rc, get_experts(m, NAME("attn_v_b.weight"), hp->kv_lora_rank, hp->head_dim_v,
			       hp->n_head, L->wv_b, 1, err));
out:
	return rc;
}

int fy_model_load_attn(struct fy_model *m, int l, struct fy_layer *L, bool qk_norm,
		       struct fy_err *err)
{
	const struct fy_hparams *hp = &m->hp;
	const int64_t q = (int64_t)hp->n_head * hp->head_dim;
	const int64_t kv = (int64_t)hp->n_head_kv * hp->head_dim;
	const int64_t o = (int64_t)hp->n_head * hp->head_dim_v;
	char n[96];
	int rc = FY_OK;
	FY_TRY(rc,
	       fy_model_weight(m, NAME("attn_output.weight"), o, hp->n_embd, false, &L->wo, err));
	FY_TRY(rc, fy_model_weight(m, NAME("attn_q.weight"), hp->n_embd, q, false, &L->wq, err));
	FY_TRY(rc, fy_model_weight(m, NAME("attn_k.weight"), hp->n_embd, kv, false, &L->wk, err));
	FY_TRY(rc, fy_model_weight(m, NAME("attn_v.weight"), hp->n_embd,
				   (int64_t)hp->n_head_kv * hp->head_dim_v, false, &L->wv, err));
	FY_TRY(rc, fy_model_vector(m, NAME("attn_q.bias"), q, true, &L->bq, err));
	FY_TRY(rc, fy_model_vector(m, NAME("attn_k.bias"), kv, true, &L->bk, err));
	FY_TRY(rc, fy_model_vector(m, NAME("attn_v.bias"), kv, true, &L->bv, err));
	FY_TRY(rc,
	       fy_model_vector(m, NAME("attn_q_norm.weight"), hp->qk_norm_whole ? q : hp->head_dim,
			       !qk_norm, &L->q_norm, err));
	FY_TRY(rc,
	       fy_model_vector(m, NAME("attn_k_norm.weight"), hp->qk_norm_whole ? kv : hp->head_dim,
			       !qk_norm, &L->k_norm, err));
out:
	return rc;
}

int fy_model_load_ffn(struct fy_model *m, int l, struct fy_layer *L, struct fy_err *err)
{
	const struct fy_hparams *hp = &m->hp;
	const int64_t E = hp->n_embd, F = hp->n_ff_exp, X = hp->n_expert;
	char n[96];
	int rc = FY_OK;
	L->moe = hp->n_expert > 0 && l >= hp->n_dense_lead;
	if (!L->moe && hp->ffn_fused) { /* gate and up in one matrix of 2 x n_ff rows */
		FY_TRY(rc, fy_model_weight(m, NAME("ffn_up.weight"), E, 2 * (int64_t)hp->n_ff,
					   false, &L->up, err));
		FY_TRY(rc, fy_model_weight(m, NAME("ffn_down.weight"), hp->n_ff, E, false, &L->down,
					   err));
		goto out;
	}
	if (!L->moe) {
		FY_TRY(rc, fy_model_weight(m, NAME("ffn_gate.weight"), E, hp->n_ff, false, &L->gate,
					   err));
		FY_TRY(rc,
		       fy_model_weight(m, NAME("ffn_up.weight"), E, hp->n_ff, false, &L->up, err));
		FY_TRY(rc, fy_model_weight(m, NAME("ffn_down.weight"), hp->n_ff, E, false, &L->down,
					   err));
		goto out;
	}
	FY_TRY(rc, fy_model_weight(m, NAME("ffn_gate_inp.weight"), E, X, false, &L->router, err));
	FY_TRY(rc, fy_model_vector(m, NAME("exp_probs_b.bias"), X, true, &L->exp_bias, err));
	L->experts = calloc((size_t)X * 3, sizeof(*L->experts));
	if (L->experts == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	FY_TRY(rc, get_experts(m, NAME("ffn_gate_exps.weight"), E, F, (int)X, L->experts, 3, err));
	FY_TRY(rc,
	       get_experts(m, NAME("ffn_up_exps.weight"), E, F, (int)X, L->experts + 1, 3, err));
	FY_TRY(rc,
	       get_experts(m, NAME("ffn_down_exps.weight"), F, E, (int)X, L->experts + 2, 3, err));
	if (hp->n_expert_shared > 0) {
		const int64_t S = hp->n_ff_shexp;
		FY_TRY(rc, fy_model_weight(m, NAME("ffn_gate_inp_shexp.weight"), E, 1, true,
					   &L->shexp_gate, err));
		FY_TRY(rc, fy_model_weight(m, NAME("ffn_gate_shexp.weight"), E, S, false,
					   &L->gate_sh, err));
		FY_TRY(rc, fy_model_weight(m, NAME("ffn_up_shexp.weight"), E, S, false, &L->up_sh,
					   err));
		FY_TRY(rc, fy_model_weight(m, NAME("ffn_down_shexp.weight"), S, E, false,
					   &L->down_sh, err));
	}
out:
	return rc;
}

int fy_model_load_block(struct fy_model *m, int l, struct fy_layer *L, const char *ffn_norm,
			bool qk_norm, struct fy_err *err)
{
	char n[96];
	int rc = FY_OK;
	FY_TRY(rc, fy_model_vector(m, NAME("attn_norm.weight"), m->hp.n_embd, false, &L->attn_norm,
				   err));
	snprintf(n, sizeof(n), "blk.%d.%s.weight", l, ffn_norm);
	FY_TRY(rc, fy_model_vector(m, n, m->hp.n_embd, false, &L->ffn_norm, err));
	if (m->hp.kv_lora_rank > 0)
		FY_TRY(rc, fy_model_load_attn_latent(m, l, L, err));
	else
		FY_TRY(rc, fy_model_load_attn(m, l, L, qk_norm, err));
	FY_TRY(rc, fy_model_load_ffn(m, l, L, err));
out:
	return rc;
}
#undef NAME

/* The type of the attention/FFN matrices most bytes are stored in. */
static enum fy_dtype main_type(const struct fy_model *m)
{
	uint64_t bytes[FY_DTYPE_COUNT] = { 0 };
	for (int l = 0; l < m->hp.n_layer; l++) {
		const struct fy_layer *L = &m->layers[l];
		const struct fy_weight *w[] = { &L->wq,	   &L->wk,     &L->wv,	  &L->wo,
						&L->gate,  &L->up,     &L->down,  &L->wq_a,
						&L->wq_b,  &L->wkv_a,  &L->wkv_b, &L->gate_sh,
						&L->up_sh, &L->down_sh };
		for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
			if (w[i]->data != NULL && (int)w[i]->type >= 0 &&
			    w[i]->type < FY_DTYPE_COUNT)
				bytes[w[i]->type] += w[i]->row_bytes * (uint64_t)w[i]->ne1;
		}
		for (int e = 0; L->moe && e < 3 * m->hp.n_expert; e++) {
			const struct fy_weight *x = &L->experts[e];
			bytes[x->type] += x->row_bytes * (uint64_t)x->ne1;
		}
	}
	int best = 0;
	for (int t = 1; t < FY_DTYPE_COUNT; t++)
		best = bytes[t] > bytes[best] ? t : best;
	return (enum fy_dtype)best;
}

static int load_tensors(struct fy_model *m, struct fy_err *err)
{
	struct fy_hparams *hp = &m->hp;
	struct found f;
	int rc = FY_OK;
	if (!find_tensor(m, "token_embd.weight", &f))
		return fy_err_set(err, FY_EFORMAT, "%s: tensor token_embd.weight is missing",
				  label(m));
	if (f.ne[1] < 1 || f.ne[1] > INT32_MAX / 2)
		return fy_err_set(err, FY_EFORMAT, "%s: token_embd.weight has %lld rows", label(m),
				  (long long)f.ne[1]);
	hp->n_vocab = (int)f.ne[1];
	FY_TRY(rc, fy_model_weight(m, "token_embd.weight", hp->n_embd, hp->n_vocab, false,
				   &m->tok_embd, err));
	FY_TRY(rc,
	       fy_model_vector(m, "output_norm.weight", hp->n_embd, false, &m->output_norm, err));
	FY_TRY(rc, fy_model_vector(m, "rope_freqs.weight", hp->rope.n_rot / 2, true,
				   &hp->rope.freq_factors, err));
	for (int i = 0; hp->rope.freq_factors != NULL && i < hp->rope.n_rot / 2; i++) {
		if (!(hp->rope.freq_factors[i] > 0 && hp->rope.freq_factors[i] < 1e30f))
			return fy_err_set(err, FY_EFORMAT,
					  "%s: rope_freqs.weight[%d] is not a positive number",
					  label(m), i);
	}
	FY_TRY(rc,
	       fy_model_weight(m, "output.weight", hp->n_embd, hp->n_vocab, true, &m->output, err));
	if (m->output.data == NULL)
		m->output = m->tok_embd; /* tied embeddings */
	m->layers = calloc((size_t)hp->n_layer, sizeof(*m->layers));
	if (m->layers == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	for (int l = 0; l < hp->n_layer; l++)
		FY_TRY(rc, m->arch->load_layer(m, l, &m->layers[l], err));
	m->ftype = main_type(m);
	snprintf(m->type_name, sizeof(m->type_name), "%s", fy_dtype_name(m->ftype));
	/* a mixture's fallbacks (rows its base type does not divide) do not change what was asked
	 */
	const struct fy_gguf_kv *ft = fy_gguf_find_kv(meta_of(m), "general.file_type");
	if (m->gguf != NULL && ft != NULL && ft->type == FY_GGUF_U32 &&
	    strcmp(fy_ftype_name((enum fy_ftype)ft->v.u), "?") != 0) {
		m->ftype = fy_ftype_base((enum fy_ftype)ft->v.u);
		snprintf(m->type_name, sizeof(m->type_name), "%s",
			 fy_ftype_name((enum fy_ftype)ft->v.u));
	}
out:
	return rc;
}

/* --- open/free ------------------------------------------------------------------------------ */

void fy_model_free(struct fy_model *m)
{
	if (m == NULL)
		return;
	fy_vocab_free(m->vocab);
	for (size_t i = 0; i < m->n_owned; i++)
		free(m->owned[i]);
	free(m->owned);
	for (int l = 0; m->layers != NULL && l < m->hp.n_layer; l++) {
		free(m->layers[l].experts);
		free(m->layers[l].wk_b);
		free(m->layers[l].ext);
	}
	free(m->ext);
	free(m->layers);
	for (int l = 0; m->layer_spans != NULL && l < m->hp.n_layer; l++)
		free(m->layer_spans[l]);
	free(m->layer_spans);
	fy_gguf_free(m->gguf);
	fy_hf_view_free(m->hf);
	free(m);
}

/* The layer of a tensor named blk.L.*, or -1. */
static int layer_of(const char *name, int n_layer)
{
	char *end = NULL;
	if (strncmp(name, "blk.", 4) != 0)
		return -1;
	const long l = strtol(name + 4, &end, 10);
	return end != name + 4 && *end == '.' && l >= 0 && l < n_layer ? (int)l : -1;
}

/* Appends [p, p + n) to a span list (merged with the last when adjacent). */
static int span_add(struct fy_span **list, size_t *len, size_t *cap, const void *p, size_t n)
{
	if (n == 0 || p == NULL)
		return FY_OK;
	if (*len > 0 && (const uint8_t *)(*list)[*len - 1].p + (*list)[*len - 1].n == p) {
		(*list)[*len - 1].n += n;
		return FY_OK;
	}
	if (*len + 2 > *cap) {
		const size_t c = *cap ? *cap * 2 : 8;
		struct fy_span *g = realloc(*list, c * sizeof(*g));
		if (g == NULL)
			return FY_ENOMEM;
		*list = g;
		*cap = c;
	}
	(*list)[(*len)++] = (struct fy_span){ p, n };
	(*list)[*len] = (struct fy_span){ NULL, 0 };
	return FY_OK;
}

/* Each layer's tensors' mapped bytes (the GGUF file's, or the checkpoint's shards' and their
 * scales', experts one by one), and the weights' total. */
static int layer_spans(struct fy_model *m, struct fy_err *err)
{
	const int L = m->hp.n_layer;
	size_t *len = calloc((size_t)L + 1, sizeof(size_t)),
	       *cap = calloc((size_t)L + 1, sizeof(size_t));
	m->layer_spans = calloc((size_t)L + 1, sizeof(*m->layer_spans));
	int rc = FY_OK;
	if (len == NULL || cap == NULL || m->layer_spans == NULL) {
		rc = fy_err_set(err, FY_ENOMEM, "out of memory");
		goto out;
	}
	const size_t n = m->gguf != NULL ? fy_gguf_tensor_count(m->gguf) : m->hf->n;
	for (size_t i = 0; i < n && rc == FY_OK; i++) {
		const char *name;
		const struct fy_st_tensor *one[2] = { NULL, NULL };
		const struct fy_st_tensor *const *srcs = one;
		const struct fy_st_tensor *const *scales = NULL;
		int64_t k = 1;
		if (m->gguf != NULL) {
			const struct fy_gguf_tensor *t = fy_gguf_tensor_at(m->gguf, i);
			m->weight_bytes += t->nbytes;
			const int l = layer_of(t->name, L);
			if (l >= 0 && span_add(&m->layer_spans[l], &len[l], &cap[l], t->data,
					       (size_t)t->nbytes) != FY_OK)
				rc = fy_err_set(err, FY_ENOMEM, "out of memory");
			continue;
		}
		const struct fy_hf_tensor *t = &m->hf->t[i];
		name = t->name;
		if (t->src == &t->own)
			continue; /* materialized in memory (converted, stacked): not the mapping's
				   */
		if (t->parts != NULL) {
			srcs = t->parts;
			scales = t->scales;
			k = t->ne[2];
		} else {
			one[0] = t->src;
			one[1] = t->scale;
		}
		const int l = layer_of(name, L);
		for (int64_t e = 0; e < k && rc == FY_OK; e++) {
			const struct fy_st_tensor *pair[2] = { srcs[e], scales != NULL ? scales[e]
									: t->parts == NULL ? one[1]
											   : NULL };
			for (int j = 0; j < 2 && rc == FY_OK; j++) {
				if (pair[j] == NULL || pair[j]->data == NULL)
					continue;
				const size_t bytes = (size_t)(pair[j]->end - pair[j]->begin);
				m->weight_bytes += bytes;
				if (l >= 0 && span_add(&m->layer_spans[l], &len[l], &cap[l],
						       pair[j]->data, bytes) != FY_OK)
					rc = fy_err_set(err, FY_ENOMEM, "out of memory");
			}
		}
	}
out:
	free(len);
	free(cap);
	return rc;
}

/* The memory this process may use: the machine's, or less when its memory cgroup (v2
 * memory.max, v1 memory.limit_in_bytes; a container's limit) says so; 0 when unknown. */
static double memory_available(void)
{
	const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
	double ram = pages > 0 && page > 0 ? (double)pages * (double)page : 0;
	FILE *f = fopen("/proc/self/cgroup", "r");
	char line[512], path[700];
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		char *nl = strchr(line, '\n'), *grp;
		if (nl != NULL)
			*nl = '\0';
		if (strncmp(line, "0::", 3) == 0)
			snprintf(path, sizeof(path), "/sys/fs/cgroup%s/memory.max", line + 3);
		else if ((grp = strstr(line, ":memory:")) != NULL)
			snprintf(path, sizeof(path),
				 "/sys/fs/cgroup/memory%s/memory.limit_in_bytes", grp + 8);
		else
			continue;
		FILE *l = fopen(path, "r");
		char v[64];
		if (l != NULL && fgets(v, sizeof(v), l) != NULL && v[0] >= '0' && v[0] <= '9') {
			const double lim = strtod(v, NULL);
			if (lim > 0 && (ram == 0 || lim < ram))
				ram = lim;
		}
		if (l != NULL)
			fclose(l);
	}
	if (f != NULL)
		fclose(f);
	return ram;
}

int fy_model_open(struct fy_model **out, const char *path, struct fy_err *err)
{
	struct fy_model *m = calloc(1, sizeof(*m));
	struct stat st;
	int rc = FY_OK;
	*out = NULL;
	if (m == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	if (stat(path, &st) != 0) {
		rc = fy_err_sys(err, FY_ENOTFOUND, "%s", path);
		goto out;
	}
	m->from_hf = S_ISDIR(st.st_mode);
	if (m->from_hf)
		FY_TRY(rc, fy_hf_view_open(&m->hf, path, err));
	else
		FY_TRY(rc, fy_gguf_open(&m->gguf, path, err));
	FY_TRY(rc, read_hparams(m, err));
	FY_TRY(rc, load_tensors(m, err));
	FY_TRY(rc, fy_vocab_load(&m->vocab, meta_of(m), err));
	FY_TRY(rc, layer_spans(m, err));
	{
		const char *env = getenv("FERRY_STREAM_WEIGHTS");
		const double ram = env != NULL ? 0 : memory_available();
		m->stream = env != NULL ? strcmp(env, "1") == 0
					: ram > 0 && (double)m->weight_bytes > 0.75 * ram;
	}
	if (fy_vocab_size(m->vocab) > m->hp.n_vocab)
		FY_TRY(rc, fy_err_set(err, FY_EFORMAT,
				      "%s: the vocabulary has %d tokens, the embeddings %d rows",
				      label(m), fy_vocab_size(m->vocab), m->hp.n_vocab));
	*out = m;
	m = NULL;
out:
	fy_model_free(m);
	return rc;
}
