/*
 * llama.cpp's mixtures: which type each tensor of a model gets for `--type Q4_K_M` and friends.
 * This follows llama_tensor_get_type in llama.cpp's src/llama-quant.cpp for the file types ferry
 * offers (the IQ1/IQ2/IQ3 ftypes, which need an importance matrix, are not offered). See
 * docs/QUANT.md for the rules in prose.
 */
#include "quant/quant.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct ftype_row {
	enum fy_ftype ftype;
	const char *name;
	enum fy_dtype base;
};

static const struct ftype_row ftypes[] = {
	{ FY_FTYPE_Q4_0, "Q4_0", FY_DTYPE_Q4_0 },
	{ FY_FTYPE_Q4_1, "Q4_1", FY_DTYPE_Q4_1 },
	{ FY_FTYPE_Q5_0, "Q5_0", FY_DTYPE_Q5_0 },
	{ FY_FTYPE_Q5_1, "Q5_1", FY_DTYPE_Q5_1 },
	{ FY_FTYPE_Q8_0, "Q8_0", FY_DTYPE_Q8_0 },
	{ FY_FTYPE_Q2_K, "Q2_K", FY_DTYPE_Q2_K },
	{ FY_FTYPE_Q3_K_S, "Q3_K_S", FY_DTYPE_Q3_K },
	{ FY_FTYPE_Q3_K_M, "Q3_K_M", FY_DTYPE_Q3_K },
	{ FY_FTYPE_Q3_K_L, "Q3_K_L", FY_DTYPE_Q3_K },
	{ FY_FTYPE_Q4_K_S, "Q4_K_S", FY_DTYPE_Q4_K },
	{ FY_FTYPE_Q4_K_M, "Q4_K_M", FY_DTYPE_Q4_K },
	{ FY_FTYPE_Q5_K_S, "Q5_K_S", FY_DTYPE_Q5_K },
	{ FY_FTYPE_Q5_K_M, "Q5_K_M", FY_DTYPE_Q5_K },
	{ FY_FTYPE_Q6_K, "Q6_K", FY_DTYPE_Q6_K },
	{ FY_FTYPE_IQ4_NL, "IQ4_NL", FY_DTYPE_IQ4_NL },
	{ FY_FTYPE_F16, "F16", FY_DTYPE_F16 },
	{ FY_FTYPE_BF16, "BF16", FY_DTYPE_BF16 },
	{ FY_FTYPE_F32, "F32", FY_DTYPE_F32 },
};

#define N_FTYPES (sizeof(ftypes) / sizeof(ftypes[0]))

static const struct ftype_row *ftype_row(enum fy_ftype f)
{
	for (size_t i = 0; i < N_FTYPES; i++) {
		if (ftypes[i].ftype == f)
			return &ftypes[i];
	}
	return NULL;
}

bool fy_ftype_from_name(const char *name, enum fy_ftype *out)
{
	for (size_t i = 0; i < N_FTYPES; i++) {
		if (strcasecmp(ftypes[i].name, name) == 0) {
			*out = ftypes[i].ftype;
			return true;
		}
	}
	return false;
}

const char *fy_ftype_name(enum fy_ftype f)
{
	const struct ftype_row *r = ftype_row(f);
	return r != NULL ? r->name : "?";
}

enum fy_dtype fy_ftype_base(enum fy_ftype f)
{
	const struct ftype_row *r = ftype_row(f);
	return r != NULL ? r->base : FY_DTYPE_F16;
}

const char *fy_ftype_names(void)
{
	return "Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K_S, Q3_K_M, Q3_K_L, Q4_K_S, Q4_K_M, "
	       "Q5_K_S, "
	       "Q5_K_M, Q6_K, IQ4_NL, F16, BF16, F32";
}

/* --- names --------------------------------------------------------------------------------- */

static bool has(const char *name, const char *part)
{
	return strstr(name, part) != NULL;
}

static bool ends_with(const char *s, const char *suffix)
{
	const size_t n = strlen(s);
	const size_t m = strlen(suffix);
	return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

int fy_quant_layer_of(const char *name)
{
	if (strncmp(name, "blk.", 4) != 0)
		return -1;
	const char *p = name + 4;
	long v = 0;
	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (*p - '0');
		if (v > 1000000)
			return -1;
	}
	return (int)v;
}

int fy_quant_name_cmp(const char *a, const char *b)
{
	const int la = fy_quant_layer_of(a);
	const int lb = fy_quant_layer_of(b);
	if (la != lb)
		return la < lb ? -1 : 1;
	return strcmp(a, b);
}

/* Name fragments llama.cpp never quantizes (small, or precision-critical). */
static const char *const keep_parts[] = {
	"_norm.weight",
	"ffn_gate_inp.weight",
	"altup",
	"laurel",
	"per_layer_model_proj",
	"ssm_conv1d.weight",
	"shortconv.conv.weight",
	"time_mix_first.weight",
	"time_mix_w0.weight",
	"time_mix_w1.weight",
	"time_mix_w2.weight",
	"time_mix_v0.weight",
	"time_mix_v1.weight",
	"time_mix_v2.weight",
	"time_mix_a0.weight",
	"time_mix_a1.weight",
	"time_mix_a2.weight",
	"time_mix_g1.weight",
	"time_mix_g2.weight",
	"time_mix_decay_w1.weight",
	"time_mix_decay_w2.weight",
	"time_mix_lerp_fused.weight",
	"attn_rel_b.weight",
	".position_embd.",
};

bool fy_quant_is_quantizable(const char *name, int n_dims, bool leave_output)
{
	if (n_dims < 2 || !ends_with(name, "weight"))
		return false;
	if (leave_output && strcmp(name, "output.weight") == 0)
		return false;
	if (strcmp(name, "position_embd.weight") == 0 || strcmp(name, "token_types.weight") == 0)
		return false;
	for (size_t i = 0; i < sizeof(keep_parts) / sizeof(keep_parts[0]); i++) {
		if (has(name, keep_parts[i]))
			return false;
	}
	return true;
}

/* --- the rules ----------------------------------------------------------------------------- */

static bool use_more_bits(int i_layer, int n_layers)
{
	return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 ||
	       (i_layer - n_layers / 8) % 3 == 2;
}

static int gqa(const struct fy_quant_model *m)
{
	if (m->n_head <= 0 || m->n_head_kv <= 0)
		return 1;
	return m->n_head / m->n_head_kv;
}

static bool is_falcon(const struct fy_quant_model *m)
{
	return m->arch != NULL && strcmp(m->arch, "falcon") == 0;
}

/* llama.cpp's LLM_TYPE_70B, the one model size its rules look at (Llama 2/3 70B, Qwen2 72B). */
static bool is_70b(const struct fy_quant_model *m)
{
	if (m->arch == NULL || m->n_layer != 80)
		return false;
	if (strcmp(m->arch, "llama") == 0)
		return m->n_head != m->n_head_kv && m->n_head_kv > 0;
	return strcmp(m->arch, "qwen2") == 0;
}

/* The layer of a per-layer tensor: the running counter for dense models, the name for MoE. */
static int layer_info(const struct fy_quant_mix *mix, int counter, const char *name, int *out,
		      struct fy_err *err)
{
	if (mix->model.n_expert <= 1) {
		*out = counter;
		return FY_OK;
	}
	const int l = fy_quant_layer_of(name);
	if (l < 0)
		return fy_err_set(err, FY_EFORMAT,
				  "tensor '%s': cannot read its layer from the name", name);
	if (l >= mix->model.n_layer)
		return fy_err_set(err, FY_EFORMAT,
				  "tensor '%s': layer %d is not below block_count %d", name, l,
				  mix->model.n_layer);
	*out = l;
	return FY_OK;
}

static enum fy_dtype output_type(const struct fy_quant_mix *mix, enum fy_dtype t, int64_t ne0)
{
	if (is_falcon(&mix->model) || ne0 % FY_QK_K != 0)
		return FY_DTYPE_Q8_0;
	return t != FY_DTYPE_Q8_0 ? FY_DTYPE_Q6_K : t;
}

static enum fy_dtype attn_v_type(struct fy_quant_mix *mix, enum fy_dtype t)
{
	const struct fy_quant_model *m = &mix->model;
	const enum fy_ftype ft = mix->ftype;
	if (ft == FY_FTYPE_Q2_K)
		t = gqa(m) >= 4 ? FY_DTYPE_Q4_K : FY_DTYPE_Q3_K;
	else if (ft == FY_FTYPE_Q3_K_M)
		t = mix->i_attention_wv < 2 ? FY_DTYPE_Q5_K : FY_DTYPE_Q4_K;
	else if (ft == FY_FTYPE_Q3_K_L)
		t = FY_DTYPE_Q5_K;
	else if (ft == FY_FTYPE_IQ4_NL && gqa(m) >= 4)
		t = FY_DTYPE_Q5_K;
	else if ((ft == FY_FTYPE_Q4_K_M || ft == FY_FTYPE_Q5_K_M) &&
		 use_more_bits(mix->i_attention_wv, m->n_attention_wv))
		t = FY_DTYPE_Q6_K;
	else if (ft == FY_FTYPE_Q4_K_S && mix->i_attention_wv < 4)
		t = FY_DTYPE_Q5_K;
	if (is_70b(m) && (t == FY_DTYPE_Q3_K || t == FY_DTYPE_Q4_K))
		t = FY_DTYPE_Q5_K;
	if (m->n_expert == 8)
		t = FY_DTYPE_Q8_0;
	++mix->i_attention_wv;
	return t;
}

static int ffn_down_type(struct fy_quant_mix *mix, const char *name, enum fy_dtype *t,
			 struct fy_err *err)
{
	const enum fy_ftype ft = mix->ftype;
	const int n = mix->model.n_layer;
	const bool falcon = is_falcon(&mix->model);
	int i = 0;
	int rc = layer_info(mix, mix->i_ffn_down, name, &i, err);
	if (rc != FY_OK)
		return rc;
	if (ft == FY_FTYPE_Q2_K) {
		*t = FY_DTYPE_Q3_K;
	} else if (ft == FY_FTYPE_Q3_K_M) {
		*t = i < n / 16			      ? FY_DTYPE_Q5_K
		     : !falcon || use_more_bits(i, n) ? FY_DTYPE_Q4_K
						      : FY_DTYPE_Q3_K;
	} else if (ft == FY_FTYPE_Q3_K_L) {
		*t = falcon ? FY_DTYPE_Q4_K : FY_DTYPE_Q5_K;
	} else if (ft == FY_FTYPE_Q4_K_M) {
		if (falcon)
			*t = i < n / 16		   ? FY_DTYPE_Q6_K
			     : use_more_bits(i, n) ? FY_DTYPE_Q5_K
						   : FY_DTYPE_Q4_K;
		else if (use_more_bits(i, n))
			*t = FY_DTYPE_Q6_K;
	} else if (i < n / 8 && ft == FY_FTYPE_IQ4_NL) {
		*t = FY_DTYPE_Q5_K;
	} else if (ft == FY_FTYPE_Q5_K_M && use_more_bits(i, n)) {
		*t = FY_DTYPE_Q6_K;
	} else if (ft == FY_FTYPE_Q4_K_S && !falcon && i < n / 8) {
		*t = FY_DTYPE_Q5_K;
	}
	++mix->i_ffn_down;
	return FY_OK;
}

static enum fy_dtype attn_output_type(const struct fy_quant_mix *mix, enum fy_dtype t)
{
	const enum fy_ftype ft = mix->ftype;
	if (is_falcon(&mix->model))
		return ft == FY_FTYPE_Q3_K_L ? FY_DTYPE_Q4_K : t;
	if (mix->model.n_expert == 8) {
		if (ft == FY_FTYPE_Q2_K || ft == FY_FTYPE_Q3_K_S || ft == FY_FTYPE_Q3_K_M ||
		    ft == FY_FTYPE_IQ4_NL || ft == FY_FTYPE_Q4_K_S || ft == FY_FTYPE_Q4_K_M)
			return FY_DTYPE_Q5_K;
		return t;
	}
	if (ft == FY_FTYPE_Q2_K)
		return FY_DTYPE_Q3_K;
	if (ft == FY_FTYPE_Q3_K_M)
		return FY_DTYPE_Q4_K;
	if (ft == FY_FTYPE_Q3_K_L)
		return FY_DTYPE_Q5_K;
	return t;
}

static enum fy_dtype attn_qkv_type(enum fy_ftype ft, enum fy_dtype t)
{
	if (ft == FY_FTYPE_Q3_K_M || ft == FY_FTYPE_Q3_K_L)
		return FY_DTYPE_Q4_K;
	if (ft == FY_FTYPE_Q4_K_M)
		return FY_DTYPE_Q5_K;
	if (ft == FY_FTYPE_Q5_K_M)
		return FY_DTYPE_Q6_K;
	return t;
}

int fy_quant_mix_type(struct fy_quant_mix *mix, const char *name, int64_t ne0, enum fy_dtype *out,
		      struct fy_err *err)
{
	enum fy_dtype t = fy_ftype_base(mix->ftype);
	int layer = 0;
	int rc = FY_OK;

	if (strcmp(name, "output.weight") == 0 ||
	    (!mix->model.has_output && strcmp(name, "token_embd.weight") == 0)) {
		t = output_type(mix, t, ne0);
	} else if (strcmp(name, "token_embd.weight") == 0) {
		/* an untied embedding keeps the base type */
	} else if (has(name, "attn_v.weight")) {
		t = attn_v_type(mix, t);
	} else if (has(name, "attn_k.weight")) {
		if (mix->model.n_expert == 8)
			t = FY_DTYPE_Q8_0;
	} else if (has(name, "attn_q.weight")) {
		/* only the IQ3 ftypes change attn_q */
	} else if (has(name, "ffn_down")) {
		rc = ffn_down_type(mix, name, &t, err);
	} else if (has(name, "attn_output.weight")) {
		t = attn_output_type(mix, t);
	} else if (has(name, "attn_qkv.weight")) {
		t = attn_qkv_type(mix->ftype, t);
	} else if (has(name, "ffn_gate")) {
		rc = layer_info(mix, mix->i_ffn_gate++, name, &layer, err);
	} else if (has(name, "ffn_up")) {
		rc = layer_info(mix, mix->i_ffn_up++, name, &layer, err);
	}
	if (rc != FY_OK)
		return rc;
	*out = t;
	return FY_OK;
}

enum fy_dtype fy_quant_fallback(enum fy_dtype t, int64_t ne0)
{
	const struct fy_quant_traits *tr = fy_quant_traits(t);
	if (tr == NULL || ne0 % tr->blck == 0)
		return t;
	enum fy_dtype f;
	switch (t) {
	case FY_DTYPE_Q2_K:
	case FY_DTYPE_Q3_K:
		f = FY_DTYPE_IQ4_NL;
		break;
	case FY_DTYPE_Q4_K:
		f = FY_DTYPE_Q5_0;
		break;
	case FY_DTYPE_Q5_K:
		f = FY_DTYPE_Q5_1;
		break;
	case FY_DTYPE_Q6_K:
		f = FY_DTYPE_Q8_0;
		break;
	default:
		return FY_DTYPE_F16;
	}
	return ne0 % fy_quant_traits(f)->blck == 0 ? f : FY_DTYPE_F16;
}
