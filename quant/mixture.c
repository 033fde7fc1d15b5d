/*
 * llama.cpp's mixtures: which type each tensor of a model gets for `--type Q4_K_M` and friends.
 * This follows llama_tensor_get_type_impl in llama.cpp v0.5.0's src/llama-quant.cpp, for every
 * file type its llama-quantize offers; a rule that picks a type ferry cannot write yet makes the
 * plan fail naming the tensor (quant/plan.c). See docs/QUANT.md for the rules in prose.
 */
#include "quant/quant.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct ftype_row {
	enum fy_ftype ftype;
	const char *name;
	enum fy_dtype base;
};

/* llama-quantize's QUANT_OPTIONS of v0.5.0, in its order (the aliases Q3_K, Q4_K, Q5_K map to
 * the _M mixtures; COPY is --type F32's twin there and not offered). */
static const struct ftype_row ftypes[] = {
	{ FY_FTYPE_Q1_0, "Q1_0", FY_DTYPE_Q1_0 },
	{ FY_FTYPE_Q2_0, "Q2_0", FY_DTYPE_Q2_0 },
	{ FY_FTYPE_Q4_0, "Q4_0", FY_DTYPE_Q4_0 },
	{ FY_FTYPE_Q4_1, "Q4_1", FY_DTYPE_Q4_1 },
	{ FY_FTYPE_MXFP4_MOE, "MXFP4_MOE", FY_DTYPE_MXFP4 },
	{ FY_FTYPE_Q5_0, "Q5_0", FY_DTYPE_Q5_0 },
	{ FY_FTYPE_Q5_1, "Q5_1", FY_DTYPE_Q5_1 },
	{ FY_FTYPE_IQ2_XXS, "IQ2_XXS", FY_DTYPE_IQ2_XXS },
	{ FY_FTYPE_IQ2_XS, "IQ2_XS", FY_DTYPE_IQ2_XS },
	{ FY_FTYPE_IQ2_S, "IQ2_S", FY_DTYPE_IQ2_XS },
	{ FY_FTYPE_IQ2_M, "IQ2_M", FY_DTYPE_IQ2_S },
	{ FY_FTYPE_IQ1_S, "IQ1_S", FY_DTYPE_IQ1_S },
	{ FY_FTYPE_IQ1_M, "IQ1_M", FY_DTYPE_IQ1_M },
	{ FY_FTYPE_TQ1_0, "TQ1_0", FY_DTYPE_TQ1_0 },
	{ FY_FTYPE_TQ2_0, "TQ2_0", FY_DTYPE_TQ2_0 },
	{ FY_FTYPE_Q2_K, "Q2_K", FY_DTYPE_Q2_K },
	{ FY_FTYPE_Q2_K_S, "Q2_K_S", FY_DTYPE_Q2_K },
	{ FY_FTYPE_IQ3_XXS, "IQ3_XXS", FY_DTYPE_IQ3_XXS },
	{ FY_FTYPE_IQ3_S, "IQ3_S", FY_DTYPE_IQ3_S },
	{ FY_FTYPE_IQ3_M, "IQ3_M", FY_DTYPE_IQ3_S },
	{ FY_FTYPE_Q3_K_M, "Q3_K", FY_DTYPE_Q3_K },
	{ FY_FTYPE_IQ3_XS, "IQ3_XS", FY_DTYPE_IQ3_S },
	{ FY_FTYPE_Q3_K_S, "Q3_K_S", FY_DTYPE_Q3_K },
	{ FY_FTYPE_Q3_K_M, "Q3_K_M", FY_DTYPE_Q3_K },
	{ FY_FTYPE_Q3_K_L, "Q3_K_L", FY_DTYPE_Q3_K },
	{ FY_FTYPE_IQ4_NL, "IQ4_NL", FY_DTYPE_IQ4_NL },
	{ FY_FTYPE_IQ4_XS, "IQ4_XS", FY_DTYPE_IQ4_XS },
	{ FY_FTYPE_Q4_K_M, "Q4_K", FY_DTYPE_Q4_K },
	{ FY_FTYPE_Q4_K_S, "Q4_K_S", FY_DTYPE_Q4_K },
	{ FY_FTYPE_Q4_K_M, "Q4_K_M", FY_DTYPE_Q4_K },
	{ FY_FTYPE_Q5_K_M, "Q5_K", FY_DTYPE_Q5_K },
	{ FY_FTYPE_Q5_K_S, "Q5_K_S", FY_DTYPE_Q5_K },
	{ FY_FTYPE_Q5_K_M, "Q5_K_M", FY_DTYPE_Q5_K },
	{ FY_FTYPE_Q6_K, "Q6_K", FY_DTYPE_Q6_K },
	{ FY_FTYPE_Q8_0, "Q8_0", FY_DTYPE_Q8_0 },
	{ FY_FTYPE_F16, "F16", FY_DTYPE_F16 },
	{ FY_FTYPE_BF16, "BF16", FY_DTYPE_BF16 },
	{ FY_FTYPE_F32, "F32", FY_DTYPE_F32 },
};

#define N_FTYPES (sizeof(ftypes) / sizeof(ftypes[0]))

/* The row of a file type; an alias row (Q4_K) is never the first of its ftype but the name is
 * taken from the canonical one (Q4_K_M), which comes after it: search for the longest name. */
static const struct ftype_row *ftype_row(enum fy_ftype f)
{
	const struct ftype_row *best = NULL;
	for (size_t i = 0; i < N_FTYPES; i++) {
		if (ftypes[i].ftype == f &&
		    (best == NULL || strlen(ftypes[i].name) > strlen(best->name)))
			best = &ftypes[i];
	}
	return best;
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

/* Built from the table on first use. */
static char ftype_list[512];
static pthread_once_t ftype_list_once = PTHREAD_ONCE_INIT;

static void ftype_list_init(void)
{
	size_t len = 0;
	for (size_t i = 0; i < N_FTYPES; i++) {
		int k = snprintf(ftype_list + len, sizeof(ftype_list) - len, "%s%s", i ? ", " : "",
				 ftypes[i].name);
		if (k < 0 || (size_t)k >= sizeof(ftype_list) - len)
			break;
		len += (size_t)k;
	}
}

const char *fy_ftype_names(void)
{
	pthread_once(&ftype_list_once, ftype_list_init);
	return ftype_list;
}

bool fy_ftype_needs_imatrix(enum fy_ftype f)
{
	return f == FY_FTYPE_IQ2_XXS || f == FY_FTYPE_IQ2_XS || f == FY_FTYPE_IQ2_S ||
	       f == FY_FTYPE_IQ2_M || f == FY_FTYPE_IQ1_S || f == FY_FTYPE_IQ1_M ||
	       f == FY_FTYPE_Q2_K_S;
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

/* Name fragments llama.cpp v0.5.0 never quantizes (small, or precision-critical). */
static const char *const keep_parts[] = {
	"_norm.weight",
	"ffn_gate_inp.weight",
	"ffn_gate_tid2eid.weight",
	"altup",
	"laurel",
	"per_layer_model_proj",
	"ssm_conv1d",
	"shortconv.conv.weight",
	"indexer.k_proj.weight",
	"indexer.q_proj.weight",
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
	".position_embd",
	"sam.pos_embd",
	"sam.neck.",
	"sam.net_",
	".rel_pos",
	".patch_embd",
	".patch_merger",
	"a.rvq.codebook",
	"mm.a.code_embd",
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

/* llama.cpp's tensor categories, tested in its order (attn_qkv before attn_v, ffn_up before
 * ffn_gate). */
enum category {
	CAT_OUTPUT,
	CAT_TOKEN_EMBD,
	CAT_ATTN_QKV,
	CAT_ATTN_KV_B,
	CAT_ATTN_V,
	CAT_ATTN_K,
	CAT_ATTN_Q,
	CAT_ATTN_OUTPUT,
	CAT_FFN_UP,
	CAT_FFN_GATE,
	CAT_FFN_DOWN,
	CAT_OTHER,
};

static enum category category_of(const char *name)
{
	static const struct {
		const char *part;
		enum category cat;
	} parts[] = {
		{ "attn_qkv.weight", CAT_ATTN_QKV },
		{ "attn_kv_b.weight", CAT_ATTN_KV_B },
		{ "attn_v.weight", CAT_ATTN_V },
		{ "attn_k.weight", CAT_ATTN_K },
		{ "attn_q.weight", CAT_ATTN_Q },
		{ "attn_output.weight", CAT_ATTN_OUTPUT },
		{ "ffn_up", CAT_FFN_UP },
		{ "ffn_gate", CAT_FFN_GATE },
		{ "ffn_down", CAT_FFN_DOWN },
	};
	if (strcmp(name, "output.weight") == 0)
		return CAT_OUTPUT;
	if (strcmp(name, "token_embd.weight") == 0 ||
	    strcmp(name, "per_layer_token_embd.weight") == 0)
		return CAT_TOKEN_EMBD;
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		if (has(name, parts[i].part))
			return parts[i].cat;
	}
	return CAT_OTHER;
}

/* attn_v-like tensors: more sensitive to quantization (and counted as n_attention_wv). */
static bool is_attn_v(enum category c)
{
	return c == CAT_ATTN_V || c == CAT_ATTN_QKV || c == CAT_ATTN_KV_B;
}

bool fy_quant_is_attn_v(const char *name)
{
	return is_attn_v(category_of(name));
}

static bool use_more_bits(int i_layer, int n_layers)
{
	return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 ||
	       (i_layer - n_layers / 8) % 3 == 2;
}

/* hparams.n_gqa(): heads per KV head, 0 when the file does not say. */
static int gqa(const struct fy_quant_model *m)
{
	if (m->n_head <= 0 || m->n_head_kv <= 0)
		return m->n_head > 0 && m->n_head_kv == 0 ? 1 : 0;
	return m->n_head / m->n_head_kv;
}

static bool is_arch(const struct fy_quant_model *m, const char *arch)
{
	return m->arch != NULL && strcmp(m->arch, arch) == 0;
}

/* llama.cpp's LLM_TYPE_70B, the one model size its rules look at (Llama 2/3 70B, Qwen2 72B, and
 * the 80-layer deci and olmo, 68-layer jais2 of its load_hparams). */
static bool is_70b(const struct fy_quant_model *m)
{
	if (is_arch(m, "llama"))
		return m->n_layer == 80 && m->n_head != m->n_head_kv && m->n_head_kv > 0;
	if (is_arch(m, "qwen2") || is_arch(m, "deci") || is_arch(m, "olmo"))
		return m->n_layer == 80;
	return is_arch(m, "jais2") && m->n_layer == 68;
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

#define FT(x) (ft == FY_FTYPE_##x)

/* The i-quant file types of 1-2 bits, whose rules are their own. */
static bool low_iq(enum fy_ftype ft)
{
	return FT(IQ2_XXS) || FT(IQ2_XS) || FT(IQ1_S) || FT(IQ2_S) || FT(IQ2_M) || FT(IQ1_M);
}

static enum fy_dtype output_type(const struct fy_quant_mix *mix, enum fy_dtype t, int64_t ne0)
{
	const enum fy_ftype ft = mix->ftype;
	const struct fy_dtype_info *di = fy_dtype_info(t);
	if (FT(MXFP4_MOE))
		return FY_DTYPE_Q8_0;
	if (is_arch(&mix->model, "falcon") || (di != NULL && ne0 % di->blck != 0))
		return FY_DTYPE_Q8_0;
	if (FT(IQ2_XXS) || FT(IQ2_XS) || FT(IQ3_XXS) || FT(IQ1_S) || FT(IQ2_S) || FT(IQ2_M) ||
	    FT(IQ1_M))
		return FY_DTYPE_Q5_K;
	return t != FY_DTYPE_Q8_0 ? FY_DTYPE_Q6_K : t;
}

static enum fy_dtype token_embd_type(enum fy_ftype ft, enum fy_dtype t)
{
	if (FT(IQ2_XXS) || FT(IQ2_XS) || FT(IQ1_S) || FT(IQ1_M))
		return FY_DTYPE_Q2_K;
	if (FT(IQ2_S) || FT(IQ2_M) || FT(IQ3_XXS))
		return FY_DTYPE_IQ3_S;
	if (FT(TQ1_0) || FT(TQ2_0) || FT(Q2_0))
		return FY_DTYPE_Q4_K;
	return t;
}

/* The 1-2 bit i-quant mixtures. */
static int low_iq_type(struct fy_quant_mix *mix, enum category cat, enum fy_dtype *t)
{
	const struct fy_quant_model *m = &mix->model;
	const enum fy_ftype ft = mix->ftype;
	const bool s_or_m = FT(IQ2_S) || FT(IQ2_M);
	if (is_attn_v(cat)) {
		if (gqa(m) >= 4 || m->n_expert >= 4)
			*t = FY_DTYPE_Q4_K;
		else
			*t = s_or_m ? FY_DTYPE_IQ3_S : FY_DTYPE_Q2_K;
		++mix->i_attention_wv;
	} else if (m->n_expert == 8 && cat == CAT_ATTN_K) {
		*t = FY_DTYPE_Q4_K;
	} else if (cat == CAT_FFN_DOWN) {
		if (mix->i_ffn_down < m->n_layer / 8)
			*t = s_or_m ? FY_DTYPE_IQ3_S : FY_DTYPE_Q2_K;
		++mix->i_ffn_down;
	} else if (cat == CAT_ATTN_OUTPUT) {
		if (m->n_expert == 8)
			*t = FY_DTYPE_Q5_K;
		else if (FT(IQ1_S) || FT(IQ1_M))
			*t = FY_DTYPE_IQ2_XXS;
		else if (s_or_m)
			*t = FY_DTYPE_IQ3_S;
	}
	return FY_OK;
}

static enum fy_dtype attn_v_type(struct fy_quant_mix *mix, enum fy_dtype t)
{
	const struct fy_quant_model *m = &mix->model;
	const enum fy_ftype ft = mix->ftype;
	if (FT(Q2_K))
		t = gqa(m) >= 4 ? FY_DTYPE_Q4_K : FY_DTYPE_Q3_K;
	else if (FT(Q2_K_S) && gqa(m) >= 4)
		t = FY_DTYPE_Q4_K;
	else if (FT(IQ3_XXS))
		t = gqa(m) >= 4		? FY_DTYPE_Q4_K
		    : !mix->has_imatrix ? FY_DTYPE_IQ3_S
					: FY_DTYPE_IQ3_XXS;
	else if ((FT(IQ3_XS) || FT(IQ3_S)) && gqa(m) >= 4)
		t = FY_DTYPE_Q4_K;
	else if (FT(IQ3_M))
		t = FY_DTYPE_Q4_K;
	else if (FT(Q3_K_M))
		t = mix->i_attention_wv < 2 ? FY_DTYPE_Q5_K : FY_DTYPE_Q4_K;
	else if (FT(Q3_K_L))
		t = FY_DTYPE_Q5_K;
	else if ((FT(IQ4_NL) || FT(IQ4_XS)) && gqa(m) >= 4)
		t = FY_DTYPE_Q5_K;
	else if ((FT(Q4_K_M) || FT(Q5_K_M)) &&
		 use_more_bits(mix->i_attention_wv, m->n_attention_wv))
		t = FY_DTYPE_Q6_K;
	else if (FT(Q4_K_S) && mix->i_attention_wv < 4)
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
	const bool falcon = is_arch(&mix->model, "falcon");
	int i = 0;
	int rc = layer_info(mix, mix->i_ffn_down, name, &i, err);
	if (rc != FY_OK)
		return rc;
	if (FT(Q2_K)) {
		*t = FY_DTYPE_Q3_K;
	} else if (FT(Q2_K_S)) {
		if (i < n / 8)
			*t = FY_DTYPE_Q4_K;
	} else if (FT(IQ3_XXS) && !mix->has_imatrix) {
		*t = i < n / 8 ? FY_DTYPE_Q4_K : FY_DTYPE_Q3_K;
	} else if (FT(Q3_K_M)) {
		*t = i < n / 16			      ? FY_DTYPE_Q5_K
		     : !falcon || use_more_bits(i, n) ? FY_DTYPE_Q4_K
						      : FY_DTYPE_Q3_K;
	} else if (FT(IQ3_M) && (i < n / 8 || (mix->model.n_expert == 8 && use_more_bits(i, n)))) {
		*t = FY_DTYPE_Q4_K;
	} else if (FT(Q3_K_L)) {
		*t = falcon ? FY_DTYPE_Q4_K : FY_DTYPE_Q5_K;
	} else if (FT(Q4_K_M)) {
		if (falcon)
			*t = i < n / 16		   ? FY_DTYPE_Q6_K
			     : use_more_bits(i, n) ? FY_DTYPE_Q5_K
						   : FY_DTYPE_Q4_K;
		else if (use_more_bits(i, n))
			*t = FY_DTYPE_Q6_K;
	} else if (i < n / 8 && (FT(IQ4_NL) || FT(IQ4_XS)) && !mix->has_imatrix) {
		*t = FY_DTYPE_Q5_K;
	} else if (FT(Q5_K_M) && use_more_bits(i, n)) {
		*t = FY_DTYPE_Q6_K;
	} else if (FT(Q4_K_S) && !falcon && i < n / 8) {
		*t = FY_DTYPE_Q5_K;
	} else if ((FT(Q4_0) || FT(Q5_0)) && mix->has_imatrix && i < n / 8) {
		*t = FT(Q4_0) ? FY_DTYPE_Q4_1 : FY_DTYPE_Q5_1;
	}
	++mix->i_ffn_down;
	return FY_OK;
}

static enum fy_dtype attn_output_type(const struct fy_quant_mix *mix, enum fy_dtype t)
{
	const enum fy_ftype ft = mix->ftype;
	if (is_arch(&mix->model, "falcon"))
		return FT(Q3_K_L) ? FY_DTYPE_Q4_K : t;
	if (mix->model.n_expert == 8) {
		if (FT(Q2_K) || FT(IQ3_XS) || FT(IQ3_XXS) || FT(Q3_K_S) || FT(Q3_K_M) ||
		    FT(IQ4_NL) || FT(Q4_K_S) || FT(Q4_K_M) || FT(IQ3_S) || FT(IQ3_M) || FT(IQ4_XS))
			return FY_DTYPE_Q5_K;
		return t;
	}
	if (FT(Q2_K))
		return FY_DTYPE_Q3_K;
	if (FT(IQ3_XXS))
		return FY_DTYPE_IQ3_S;
	if (FT(Q3_K_M) || FT(IQ3_M))
		return FY_DTYPE_Q4_K;
	if (FT(Q3_K_L))
		return FY_DTYPE_Q5_K;
	return t;
}

static enum fy_dtype attn_qkv_type(enum fy_ftype ft, enum fy_dtype t)
{
	if (FT(Q3_K_M) || FT(Q3_K_L) || FT(IQ3_M))
		return FY_DTYPE_Q4_K;
	if (FT(Q4_K_M))
		return FY_DTYPE_Q5_K;
	if (FT(Q5_K_M))
		return FY_DTYPE_Q6_K;
	return t;
}

/* IQ3_XS: ffn_gate and ffn_up of the middle layers IQ3_XXS. */
static int gate_up_type(struct fy_quant_mix *mix, int *counter, const char *name, enum fy_dtype *t,
			struct fy_err *err)
{
	const enum fy_ftype ft = mix->ftype;
	const int n = mix->model.n_layer;
	int i = 0;
	int rc = layer_info(mix, *counter, name, &i, err);
	if (rc != FY_OK)
		return rc;
	if (FT(IQ3_XS) && i >= n / 8 && i < 7 * n / 8)
		*t = FY_DTYPE_IQ3_XXS;
	++*counter;
	return FY_OK;
}

int fy_quant_mix_type(struct fy_quant_mix *mix, const char *name, const int64_t ne[4],
		      enum fy_dtype *out, struct fy_err *err)
{
	const enum fy_ftype ft = mix->ftype;
	const enum category cat = category_of(name);
	enum fy_dtype t = fy_ftype_base(ft);
	int rc = FY_OK;

	if (cat == CAT_OUTPUT || (!mix->model.has_output && cat == CAT_TOKEN_EMBD)) {
		t = output_type(mix, t, ne[0]);
	} else if (FT(MXFP4_MOE)) {
		/* experts (3-d) MXFP4, the rest Q8_0 (bailingmoe3: only its ffn experts) */
		const bool bailing = is_arch(&mix->model, "bailingmoe3");
		const bool ffn = cat == CAT_FFN_UP || cat == CAT_FFN_GATE || cat == CAT_FFN_DOWN;
		t = ne[2] > 1 && (!bailing || ffn) ? FY_DTYPE_MXFP4 : FY_DTYPE_Q8_0;
	} else if (cat == CAT_TOKEN_EMBD) {
		t = token_embd_type(ft, t);
	} else if (low_iq(ft)) {
		rc = low_iq_type(mix, cat, &t);
	} else if (is_attn_v(cat)) {
		t = attn_v_type(mix, t);
	} else if (cat == CAT_ATTN_K) {
		if (mix->model.n_expert == 8)
			t = FY_DTYPE_Q8_0;
		else if (FT(IQ3_XS))
			t = FY_DTYPE_IQ3_XXS;
		else if (FT(IQ3_XXS))
			t = FY_DTYPE_IQ2_S;
	} else if (cat == CAT_ATTN_Q) {
		if (FT(IQ3_XS))
			t = FY_DTYPE_IQ3_XXS;
		else if (FT(IQ3_XXS))
			t = FY_DTYPE_IQ2_S;
	} else if (cat == CAT_FFN_DOWN) {
		rc = ffn_down_type(mix, name, &t, err);
	} else if (cat == CAT_ATTN_OUTPUT) {
		t = attn_output_type(mix, t);
	} else if (cat == CAT_ATTN_QKV) {
		t = attn_qkv_type(ft, t);
	} else if (cat == CAT_FFN_GATE) {
		rc = gate_up_type(mix, &mix->i_ffn_gate, name, &t, err);
	} else if (cat == CAT_FFN_UP) {
		rc = gate_up_type(mix, &mix->i_ffn_up, name, &t, err);
	}
	if (rc != FY_OK)
		return rc;
	*out = t;
	return FY_OK;
}

#undef FT

enum fy_dtype fy_quant_fallback(enum fy_dtype t, int64_t ne0)
{
	const struct fy_dtype_info *di = fy_dtype_info(t);
	if (di == NULL || ne0 % di->blck == 0)
		return t;
	enum fy_dtype f;
	switch (t) {
	case FY_DTYPE_IQ1_S:
	case FY_DTYPE_IQ1_M:
	case FY_DTYPE_IQ2_XXS:
	case FY_DTYPE_IQ2_XS:
	case FY_DTYPE_IQ2_S:
	case FY_DTYPE_IQ3_XXS:
	case FY_DTYPE_IQ3_S:
	case FY_DTYPE_IQ4_XS:
		f = FY_DTYPE_IQ4_NL;
		break;
	case FY_DTYPE_Q2_0:
	case FY_DTYPE_Q2_K:
	case FY_DTYPE_Q3_K:
	case FY_DTYPE_TQ1_0:
	case FY_DTYPE_TQ2_0:
		f = FY_DTYPE_Q4_0;
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
		/* a 32-element type: F16; llama.cpp has no fallback for wider blocks (Q1_0,
		 * NVFP4) and stops: fy_quant_plan refuses those tensors */
		return di->blck <= 32 ? FY_DTYPE_F16 : FY_DTYPE_COUNT;
	}
	return ne0 % fy_dtype_info(f)->blck == 0 ? f : FY_DTYPE_F16;
}
