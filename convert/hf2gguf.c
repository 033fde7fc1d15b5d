/*
 * HF checkpoint -> GGUF: what every architecture shares. The architecture's row (convert/arch.c,
 * its rules in convert/arch/FAMILY.c) names its tensors, writes its keys and refuses what it
 * cannot convert; this file maps the names, permutes llama's q/k rows (HF's rotate-half layout
 * into adjacent pairs), stacks a mixture's per-expert matrices into one 3-D tensor per layer
 * (ne = [in, out, n_expert]), dequantizes F8_E4M3 with its block scales, leaves out the
 * multi-token-prediction layers unless the row keeps them, and streams the tensors one at a time
 * from the safetensors mmap through the atomic GGUF writer. See docs/CONVERT.md.
 */
#include "convert/convert.h"
#include "convert/convert_private.h"

#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An expert's matrix (mlp.experts.E.<hf>) and the stacked GGUF tensor it goes into, unless the
 * family names its experts otherwise. */
static const struct fy_name_pair expert_names[] = {
	{ "gate_proj.weight", "ffn_gate_exps.weight" },
	{ "up_proj.weight", "ffn_up_exps.weight" },
	{ "down_proj.weight", "ffn_down_exps.weight" },
	{ NULL, NULL },
};

/* The GGUF name of an HF tensor; "" to skip it; false if unknown. *expert: the expert index of
 * one expert's matrix (stacked later), else -1. Layers from n_layer on are multi-token-prediction
 * modules (n_extra of them): skipped unless the architecture keeps them. */
static bool map_name(const struct fy_hf_arch *a, const struct fy_hf_config *cfg, const char *hf,
		     char *out, size_t cap, int n_layer, int n_extra, int *expert)
{
	*expert = -1;
	char renamed[512];
	if (a->rename != NULL && a->rename(cfg, hf, renamed, sizeof(renamed)))
		hf = renamed;
	const char *gl = NULL;
	for (const struct fy_name_pair *p = a->globals; p != NULL && p->hf != NULL; p++) {
		if (strcmp(hf, p->hf) == 0)
			gl = p->gguf;
	}
	if (gl != NULL)
		return snprintf(out, cap, "%s", gl), true;
	/* a multimodal checkpoint's language model (Kimi K2.5) lies under language_model.; its
	 * vision tower and projector are not part of the text model (llama.cpp's converter leaves
	 * them for an mmproj file) */
	char lm[512];
	if (strncmp(hf, "model.language_model.", 21) == 0 &&
	    snprintf(lm, sizeof(lm), "model.%s", hf + 21) < (int)sizeof(lm)) /* Qwen3.5 */
		hf = lm;
	else if (strncmp(hf, "model.visual.", 13) == 0)
		return out[0] = '\0', true;
	if (strncmp(hf, "language_model.", 15) == 0)
		hf += 15;
	else if (strncmp(hf, "vision_tower.", 13) == 0 || strncmp(hf, "mm_projector.", 13) == 0 ||
		 strncmp(hf, "multi_modal_projector.", 22) == 0)
		return out[0] = '\0', true;
	if (strcmp(hf, "model.embed_tokens.weight") == 0)
		return snprintf(out, cap, "token_embd.weight"), true;
	if (strcmp(hf, "lm_head.weight") == 0)
		return snprintf(out, cap, "output.weight"), true;
	if (strcmp(hf, "model.norm.weight") == 0)
		return snprintf(out, cap, "output_norm.weight"), true;
	if (strstr(hf, "rotary_emb.inv_freq") != NULL)
		return out[0] = '\0', true;
	const char *lp = a->layer_prefix != NULL ? a->layer_prefix : "model.layers.";
	const size_t lpn = strlen(lp);
	if (strncmp(hf, lp, lpn) != 0)
		return a->skip != NULL && a->skip(cfg, hf, -1) ? (out[0] = '\0', true) : false;
	char *end = NULL;
	const long l = strtol(hf + lpn, &end, 10);
	if (end == hf + lpn || *end != '.' || l < 0 || l >= n_layer + n_extra)
		return false;
	if ((l >= n_layer && !a->keep_nextn) || (a->skip != NULL && a->skip(cfg, hf, l)))
		return out[0] = '\0', true;
	const char *g = fy_convert_layer_gguf(a, end + 1);
	if (g != NULL) {
		snprintf(out, cap, "blk.%ld.%s", l, g);
		return true;
	}
	const char *prefix = a->expert_prefix != NULL ? a->expert_prefix : "mlp.experts.";
	const size_t plen = strlen(prefix);
	if (strncmp(end + 1, prefix, plen) != 0)
		return false;
	char *eend = NULL;
	const long e = strtol(end + 1 + plen, &eend, 10);
	if (eend == end + 1 + plen || *eend != '.' || e < 0 || e >= 65536)
		return false;
	for (const struct fy_name_pair *p = a->expert_names != NULL ? a->expert_names
								    : expert_names;
	     p->hf != NULL; p++) {
		if (strcmp(eend + 1, p->hf) == 0) {
			snprintf(out, cap, "blk.%ld.%s", l, p->gguf);
			*expert = (int)e;
			return true;
		}
	}
	return false;
}

/* One source matrix: the tensor and, for F8_E4M3, its block scales (weight_scale_inv). */
struct cpart {
	const struct fy_st_tensor *src, *scale;
	int64_t row0; /* the expert's first row in src (fused experts: a slice of one tensor) */
};

struct ctensor {
	char name[FY_GGUF_MAX_NAME + 1];
	const struct fy_st_tensor *src;
	enum fy_dtype type;
	int n_dims;
	int64_t ne[4];
	int permute_heads;		  /* 0: none; else rows are permuted with this many heads */
	const struct fy_st_tensor *scale; /* F8_E4M3 sources: the block scales (weight_scale_inv) */
	const float *gen;		  /* a tensor the converter computes (rope_freqs), F32 */
	int64_t block[2];		  /* their block: rows, columns */
	int64_t int4_group; /* compressed-tensors int4: the scales' group (scale: weight_scale) */
	int expert;	    /* while planning: one expert's matrix (stacked later), else -1 */
	/* MXFP4 as DeepSeek-V4 ships it: I8 [out, in / 2] (element 2i in the low nibble), an
	 * F8_E8M0 scale per 32 (scale: W.scale); copied into ggml's MXFP4 blocks bit for bit */
	bool mxfp4;
	struct cpart *parts; /* a stacked tensor: ne[2] sources, expert by expert; else NULL */
	/* latent attention's kv_b split as llama.cpp's converter splits it: 1 attn_k_b (each
	 * head's key rows transposed: ne = [nope, rank, heads]), 2 attn_v_b ([rank, v, heads]);
	 * the source holds heads x (nope + v) rows of rank columns */
	int kvb;
	int64_t nope, vdim;
	int64_t *row_map; /* output row r is source row row_map[r] (owned), or NULL */
	int64_t *col_map; /* output column i is source column col_map[i] (owned), or NULL */
	unsigned ops;	  /* FY_TOP_* value operations */
	int out_dims;	  /* the GGUF header's shape when not ne (FY_TOP_4D), else 0 */
	int64_t out_ne[4];
};

struct conv {
	const struct fy_hf_arch *arch;
	struct fy_hf_config cfg;
	struct fy_st_model *m;
	struct ctensor *t;
	size_t n;
	const struct fy_convert_opts *o;
	enum fy_dtype
		auto_type; /* --outtype auto: BF16 for a checkpoint with BF16 or FP8 weights */
	float *rope_freqs; /* Llama 3 rope scaling's factors (head_dim / 2), or NULL */
	struct fy_st_tensor rope_st; /* their stand-in source, for fy_hf_view */
};

static int cmp_ctensor(const void *a, const void *b)
{
	return fy_quant_name_cmp(((const struct ctensor *)a)->name,
				 ((const struct ctensor *)b)->name);
}

/* Kept in F32 whatever the output type: vectors, norms, biases, tensors whose name does not end
 * in .weight and (as llama.cpp's converter) a mixture's routers (the shared expert's gate too),
 * short convolutions and DeepSeek-V3.2's indexer weights. */
static bool is_f32_kind(const struct ctensor *t)
{
	const size_t n = strlen(t->name);
	return t->n_dims == 1 || strstr(t->name, "_norm.") != NULL ||
	       strstr(t->name, ".bias") != NULL || strstr(t->name, ".ffn_gate_inp.") != NULL ||
	       strstr(t->name, ".ffn_gate_inp_shexp.") != NULL ||
	       strstr(t->name, ".indexer.proj.") != NULL ||
	       strstr(t->name, ".ssm_conv1d") != NULL || n < 7 ||
	       strcmp(t->name + n - 7, ".weight") != 0;
}

static enum fy_dtype out_type(const struct conv *c, const struct ctensor *t)
{
	if (t->mxfp4)
		return FY_DTYPE_MXFP4;
	if (c->arch->source_types) {
		const enum fy_dtype s = t->src->dtype;
		if (s == FY_DTYPE_F32 || s == FY_DTYPE_I32)
			return s;
		if (t->n_dims >= 2 && s == FY_DTYPE_F8_E4M3)
			return FY_DTYPE_Q8_0;
		if (t->n_dims >= 2 && s == FY_DTYPE_BF16)
			return FY_DTYPE_BF16;
	}
	if (is_f32_kind(t))
		return FY_DTYPE_F32;
	const enum fy_dtype o = c->o->outtype_auto ? c->auto_type : c->o->outtype;
	if (o == FY_DTYPE_Q8_0 && t->ne[0] % 32 != 0)
		return FY_DTYPE_F16; /* as llama.cpp's converter */
	return o;
}

#define SCALE_SUFFIX "_scale_inv"

/* A weight_scale_inv tensor is read with its F8_E4M3 weight; it must have one. */
static int check_scale(const struct conv *c, const struct fy_st_tensor *st, struct fy_err *err)
{
	char base[512];
	const size_t n = strlen(st->name) - strlen(SCALE_SUFFIX);
	snprintf(base, sizeof(base), "%.*s", (int)n, st->name);
	const struct fy_st_tensor *w = fy_st_model_find(c->m, base, NULL);
	if (w == NULL || w->dtype != FY_DTYPE_F8_E4M3)
		return fy_err_set(err, FY_EFORMAT, "tensor '%s' scales no F8_E4M3 tensor '%s'",
				  st->name, base);
	return FY_OK;
}

/* DeepSeek-V4's scales: W.scale (F8_E8M0) of W.weight; *w receives W.weight or NULL. */
static const struct fy_st_tensor *v4_scale(const struct conv *c, const char *name, bool of_weight,
					   char *other, size_t cap)
{
	const size_t n = strlen(name);
	const char *from = of_weight ? ".weight" : ".scale", *to = of_weight ? ".scale" : ".weight";
	const size_t k = strlen(from);
	if (n <= k || strcmp(name + n - k, from) != 0)
		return NULL;
	snprintf(other, cap, "%.*s%s", (int)(n - k), name, to);
	return fy_st_model_find(c->m, other, NULL);
}

/* An F8_E4M3 weight's block scales: `<name>_scale_inv`, F32 or BF16, or DeepSeek-V4's W.scale
 * (F8_E8M0, powers of two) of W.weight, one per block of
 * quantization_config.weight_block_size (default 128 x 128; partial blocks at the edges). */
static int plan_fp8(const struct conv *c, const struct fy_st_tensor *st, struct ctensor *t,
		    struct fy_err *err)
{
	char name[512];
	snprintf(name, sizeof(name), "%s" SCALE_SUFFIX, st->name);
	const struct fy_st_tensor *sc = fy_st_model_find(c->m, name, NULL);
	bool v4 = false; /* the scale is W.scale, F8_E8M0 */
	if (sc == NULL) {
		char alt[512];
		const struct fy_st_tensor *e8 = v4_scale(c, st->name, true, alt, sizeof(alt));
		if (e8 != NULL) {
			sc = e8;
			v4 = true;
			snprintf(name, sizeof(name), "%s", alt);
		}
	}
	t->block[0] = c->cfg.fp8_block[0] > 0 ? c->cfg.fp8_block[0] : 128;
	t->block[1] = c->cfg.fp8_block[1] > 0 ? c->cfg.fp8_block[1] : 128;
	if (st->n_dims != 2)
		return fy_err_set(err, FY_EUNSUPPORTED,
				  "tensor '%s' is F8_E4M3 with %d dimensions (2 expected)",
				  st->name, st->n_dims);
	if (sc == NULL)
		return fy_err_set(err, FY_EFORMAT, "F8_E4M3 tensor '%s' has no '%s'", st->name,
				  name);
	const int64_t rb = (st->shape[0] + t->block[0] - 1) / t->block[0];
	const int64_t cb = (st->shape[1] + t->block[1] - 1) / t->block[1];
	if ((v4 ? sc->dtype != FY_DTYPE_F8_E8M0
		: sc->dtype != FY_DTYPE_F32 && sc->dtype != FY_DTYPE_BF16) ||
	    sc->n_dims != 2 || sc->shape[0] != rb || sc->shape[1] != cb)
		return fy_err_set(
			err, FY_EFORMAT,
			"tensor '%s' should be %s [%lld, %lld] (blocks of %lld x %lld over "
			"[%lld, %lld])",
			name, v4 ? "F8_E8M0" : "F32 or BF16", (long long)rb, (long long)cb,
			(long long)t->block[0], (long long)t->block[1], (long long)st->shape[0],
			(long long)st->shape[1]);
	t->scale = sc;
	return FY_OK;
}

/* kv_b (heads x (nope + v) rows of kv_lora_rank) planned as llama.cpp v0.5.0 writes it:
 * attn_k_b ne = [nope, rank, heads] (each head's key rows transposed, for the absorbed form)
 * and attn_v_b ne = [rank, v, heads]. */
static int split_kv_b(struct conv *c, const struct fy_st_tensor *st, struct ctensor *t,
		      struct fy_err *err)
{
	const struct fy_hf_config *g = &c->cfg;
	const int64_t H = g->n_heads, nope = g->qk_nope_head_dim, v = g->v_head_dim;
	const int64_t R = g->kv_lora_rank;
	if (t->n_dims != 2 || t->ne[0] != R || t->ne[1] != H * (nope + v))
		return fy_err_set(err, FY_EFORMAT,
				  "tensor '%s' is [%lld, %lld], config.json says [%lld, %lld] "
				  "(heads x (qk_nope_head_dim + v_head_dim), kv_lora_rank)",
				  st->name, (long long)t->ne[1], (long long)t->ne[0],
				  (long long)(H * (nope + v)), (long long)R);
	struct ctensor *vb = &c->t[c->n + 1];
	*vb = *t;
	t->kvb = 1;
	vb->kvb = 2;
	t->nope = vb->nope = nope;
	t->vdim = vb->vdim = v;
	t->n_dims = vb->n_dims = 3;
	const size_t at = strlen(t->name) - strlen("kv_b.weight");
	snprintf(t->name + at, sizeof(t->name) - at, "k_b.weight");
	snprintf(vb->name + at, sizeof(vb->name) - at, "v_b.weight");
	t->ne[0] = nope, t->ne[1] = R, t->ne[2] = H;
	vb->ne[0] = R, vb->ne[1] = v, vb->ne[2] = H;
	if (c->o != NULL) {
		t->type = out_type(c, t);
		vb->type = out_type(c, vb);
	}
	c->n += 2;
	return FY_OK;
}

static bool ends_with(const char *s, const char *suffix)
{
	const size_t n = strlen(s), k = strlen(suffix);
	return n > k && strcmp(s + n - k, suffix) == 0;
}

/* A compressed-tensors int4 weight W: W_packed (I32 [out, in / 8], eight 4-bit values per
 * word, lowest bits first), W_scale (one scale per group of in), W_shape ([out, in]). */
static int plan_packed(struct conv *c, const struct fy_st_tensor *st, const char *base,
		       struct ctensor *t, struct fy_err *err)
{
	char name[600];
	const int64_t gs = c->cfg.packed_group;
	snprintf(name, sizeof(name), "%s_shape", base);
	const struct fy_st_tensor *sh = fy_st_model_find(c->m, name, NULL);
	snprintf(name, sizeof(name), "%s_scale", base);
	const struct fy_st_tensor *sc = fy_st_model_find(c->m, name, NULL);
	int64_t dims[2] = { -1, -1 };
	if (gs <= 0)
		return fy_err_set(err, FY_EFORMAT,
				  "tensor '%s' is packed, but config.json's quantization_config is "
				  "not compressed-tensors pack-quantized",
				  st->name);
	if (sh != NULL && sh->n_dims == 1 && sh->shape[0] == 2 &&
	    (sh->dtype == FY_DTYPE_I32 || sh->dtype == FY_DTYPE_I64)) {
		for (int i = 0; i < 2; i++) {
			if (sh->dtype == FY_DTYPE_I32) {
				int32_t v;
				memcpy(&v, (const uint8_t *)sh->data + 4 * i, 4);
				dims[i] = v;
			} else {
				memcpy(&dims[i], (const uint8_t *)sh->data + 8 * i, 8);
			}
		}
	}
	if (st->dtype != FY_DTYPE_I32 || st->n_dims != 2 || dims[0] <= 0 || dims[1] <= 0 ||
	    dims[1] > (1 << 24) || st->shape[0] != dims[0] || st->shape[1] != (dims[1] + 7) / 8)
		return fy_err_set(
			err, FY_EFORMAT,
			"tensor '%s' should be I32 [rows, ceil(columns / 8)] with '%s_shape' "
			"[rows, columns] (I32 or I64)",
			st->name, base);
	if (sc == NULL ||
	    (sc->dtype != FY_DTYPE_BF16 && sc->dtype != FY_DTYPE_F16 &&
	     sc->dtype != FY_DTYPE_F32) ||
	    sc->n_dims != 2 || sc->shape[0] != dims[0] || sc->shape[1] != (dims[1] + gs - 1) / gs)
		return fy_err_set(
			err, FY_EFORMAT,
			"tensor '%s_scale' should be BF16, F16 or F32 [%lld, %lld] (groups "
			"of %lld)",
			base, (long long)dims[0], (long long)((dims[1] + gs - 1) / gs),
			(long long)gs);
	t->scale = sc;
	t->int4_group = gs;
	t->src = st;
	t->n_dims = 2;
	t->ne[0] = dims[1];
	t->ne[1] = dims[0];
	t->ne[2] = t->ne[3] = 1;
	if (c->o != NULL)
		t->type = out_type(c, t);
	c->n++;
	return FY_OK;
}

/* DeepSeek-V4's MXFP4 experts: W.weight I8 [out, in / 2], two E2M1 codes a byte (element 2i
 * in the low nibble), W.scale F8_E8M0 [out, in / 32]. */
static int plan_mxfp4(struct conv *c, const struct fy_st_tensor *st, const struct fy_st_tensor *sc,
		      struct ctensor *t, struct fy_err *err)
{
	if (st->n_dims != 2 || st->shape[1] <= 0 || st->shape[1] > (1 << 24) ||
	    (2 * st->shape[1]) % 32 != 0 || sc->dtype != FY_DTYPE_F8_E8M0 || sc->n_dims != 2 ||
	    sc->shape[0] != st->shape[0] || sc->shape[1] != 2 * st->shape[1] / 32)
		return fy_err_set(
			err, FY_EFORMAT,
			"tensor '%s' should be I8 [rows, columns / 2] (columns a multiple "
			"of 32) with an F8_E8M0 scale [rows, columns / 32]",
			st->name);
	t->src = st;
	t->scale = sc;
	t->mxfp4 = true;
	t->n_dims = 2;
	t->ne[0] = 2 * st->shape[1];
	t->ne[1] = st->shape[0];
	t->ne[2] = t->ne[3] = 1;
	if (c->o != NULL)
		t->type = out_type(c, t);
	c->n++;
	return FY_OK;
}

/* Qwen3-Next's in_proj_qkvz: per key head g, rows [q (key dim), k (key dim), v (value heads per
 * key head x value dim), z (as many)]; written as attn_qkv (every head's q, then every k, then
 * every v) and attn_gate (every z), as llama.cpp's converter regroups them. */
static int split_qkvz(struct conv *c, const struct fy_st_tensor *st, struct ctensor *t,
		      struct fy_err *err)
{
	const struct fy_hf_config *g = &c->cfg;
	const int64_t KH = g->linear_key_heads, KD = g->linear_key_dim;
	const int64_t VH = g->linear_value_heads, VD = g->linear_value_dim;
	const int64_t vpk = KH > 0 ? VH / KH * VD : 0, blk = 2 * KD + 2 * vpk;
	if (t->n_dims != 2 || KH <= 0 || blk <= 0 || t->ne[1] != KH * blk)
		return fy_err_set(err, FY_EFORMAT,
				  "tensor '%s' has %lld rows, config.json's linear heads say %lld",
				  st->name, (long long)t->ne[1], (long long)(KH * blk));
	struct ctensor gate = *t;
	t->row_map = malloc((size_t)(KH * (2 * KD + vpk)) * sizeof(int64_t));
	gate.row_map = malloc((size_t)(KH * vpk) * sizeof(int64_t));
	if (t->row_map == NULL || gate.row_map == NULL) {
		free(gate.row_map);
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	}
	int64_t n = 0, m = 0;
	for (int part = 0; part < 3; part++) { /* q, k, v */
		const int64_t off = part == 0 ? 0 : part == 1 ? KD : 2 * KD;
		const int64_t len = part < 2 ? KD : vpk;
		for (int64_t h = 0; h < KH; h++)
			for (int64_t i = 0; i < len; i++)
				t->row_map[n++] = h * blk + off + i;
	}
	for (int64_t h = 0; h < KH; h++)
		for (int64_t i = 0; i < vpk; i++)
			gate.row_map[m++] = h * blk + 2 * KD + vpk + i;
	t->ne[1] = n;
	gate.ne[1] = m;
	char *at = strstr(t->name, ".attn_qkvz.");
	memcpy(at, ".attn_qkv.", 10);
	memmove(at + 10, at + 11, strlen(at + 11) + 1);
	at = strstr(gate.name, ".attn_qkvz.");
	snprintf(at, sizeof(gate.name) - (size_t)(at - gate.name), ".attn_gate.weight");
	if (c->o != NULL) {
		t->type = out_type(c, t);
		gate.type = out_type(c, &gate);
	}
	c->t[++c->n] = gate;
	c->n++;
	return FY_OK;
}

/* The index each output index of a run of value heads comes from, a linear-attention tensor's
 * value heads reordered from grouped by key head ([KH][VH/KH][D]) to tiled ([VH/KH][KH][D]), as
 * llama.cpp's _LinearAttentionVReorderBase does for Qwen3.5; indices before `first` stay. */
static int64_t *vhead_map(int64_t n, int64_t first, int64_t KH, int64_t vpk, int64_t D)
{
	int64_t *m = malloc((size_t)n * sizeof(*m));
	if (m == NULL)
		return NULL;
	for (int64_t o = 0; o < n; o++) {
		if (o < first) {
			m[o] = o;
			continue;
		}
		const int64_t v = o - first, d = v % D, hh = v / D, j = hh / KH, h = hh % KH;
		m[o] = first + (h * vpk + j) * D + d;
	}
	return m;
}

/* Qwen3.5's value-head reorder (fy_hf_arch.vhead_reorder) as row or column maps: rows of
 * attn_qkv's value part, attn_gate, ssm_beta, ssm_alpha and the convolution's value channels;
 * columns of ssm_out and of the per-head vectors ssm_a and ssm_dt.bias. */
static int vhead_reorder(struct conv *c, const struct fy_st_tensor *st, struct ctensor *t,
			 struct fy_err *err)
{
	const struct fy_hf_config *g = &c->cfg;
	const int64_t KH = g->linear_key_heads, VH = g->linear_value_heads;
	const int64_t KD = g->linear_key_dim, VD = g->linear_value_dim;
	if (KH <= 0 || VH <= KH || VH % KH != 0)
		return FY_OK;
	static const struct {
		const char *suffix;
		bool cols, after_qk, per_dim;
	} parts[] = {
		{ ".attn_qkv.weight", false, true, true },
		{ ".attn_gate.weight", false, false, true },
		{ ".ssm_beta.weight", false, false, false },
		{ ".ssm_alpha.weight", false, false, false },
		{ ".ssm_conv1d.weight", false, true, true },
		{ ".ssm_out.weight", true, false, true },
		{ ".ssm_a", true, false, false },
		{ ".ssm_dt.bias", true, false, false },
	};
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		if (!ends_with(t->name, parts[i].suffix))
			continue;
		const int64_t D = parts[i].per_dim ? VD : 1,
			      first = parts[i].after_qk ? 2 * KH * KD : 0;
		const int64_t n = parts[i].cols ? t->ne[0] : t->ne[1];
		if (n != first + VH * D)
			return fy_err_set(
				err, FY_EFORMAT,
				"tensor '%s' has %lld %s, config.json's linear heads say %lld",
				st->name, (long long)n, parts[i].cols ? "columns" : "rows",
				(long long)(first + VH * D));
		int64_t *m = vhead_map(n, first, KH, VH / KH, D);
		if (m == NULL)
			return fy_err_set(err, FY_ENOMEM, "out of memory");
		if (parts[i].cols)
			t->col_map = m;
		else
			t->row_map = m;
	}
	return FY_OK;
}

/* transformers v5's fused experts (Qwen3.5-MoE): mlp.experts.gate_up_proj [experts, 2 x ff,
 * hidden] (each expert's gate rows, then its up rows) and mlp.experts.down_proj [experts,
 * hidden, ff], with or without .weight, planned as the stacked ffn_{gate,up,down}_exps whose
 * experts are slices of the one source (as llama.cpp's Qwen2MoeModel splits gate_up_proj).
 * *done: the tensor was one. */
static int plan_fused_experts(struct conv *c, const struct fy_st_tensor *st, bool *done,
			      struct fy_err *err)
{
	char base[512], per[600];
	snprintf(base, sizeof(base), "%s", st->name);
	const size_t len = strlen(base);
	if (len > 7 && strcmp(base + len - 7, ".weight") == 0)
		base[len - 7] = '\0';
	const bool gate_up = ends_with(base, ".mlp.experts.gate_up_proj");
	*done = gate_up || ends_with(base, ".mlp.experts.down_proj");
	if (!*done)
		return FY_OK;
	const int64_t E = st->n_dims == 3 ? st->shape[0] : 0;
	const int64_t R = st->n_dims == 3 ? st->shape[1] : 0,
		      C = st->n_dims == 3 ? st->shape[2] : 0;
	if (!c->arch->experts || E != c->cfg.n_experts || R <= 0 || C <= 0 || (gate_up && R % 2))
		return fy_err_set(err, FY_EFORMAT,
				  "tensor '%s': fused experts should be [%lld experts, %srows, "
				  "columns]",
				  st->name, (long long)(c->arch->experts ? c->cfg.n_experts : 0),
				  gate_up ? "an even number of " : "");
	if (st->dtype != FY_DTYPE_F32 && st->dtype != FY_DTYPE_F16 && st->dtype != FY_DTYPE_BF16)
		return fy_err_set(err, FY_EUNSUPPORTED,
				  "tensor '%s' is %s: fused experts are read as F32, F16 or BF16",
				  st->name, fy_dtype_name(st->dtype));
	base[strlen(base) - (gate_up ? strlen("gate_up_proj") : strlen("down_proj"))] = '\0';
	static const char *const which[] = { "gate", "up", "down" };
	for (int k = gate_up ? 0 : 2; k < (gate_up ? 2 : 3); k++) {
		struct ctensor *t = &c->t[c->n];
		const int64_t rows = gate_up ? R / 2 : R;
		int expert = -1;
		snprintf(per, sizeof(per), "%s0.%s_proj.weight", base, which[k]);
		const int n_extra = c->cfg.n_nextn_layers > 0 ? (int)c->cfg.n_nextn_layers : 0;
		if (!map_name(c->arch, &c->cfg, per, t->name, sizeof(t->name), (int)c->cfg.n_layers,
			      n_extra, &expert) ||
		    expert != 0)
			return fy_err_set(err, FY_EUNSUPPORTED,
					  "tensor '%s' has no GGUF name for %s", st->name,
					  c->arch->hf);
		if (t->name[0] == '\0')
			continue;
		t->expert = -1;
		t->src = st;
		t->n_dims = 3;
		t->ne[0] = C;
		t->ne[1] = rows;
		t->ne[2] = E;
		t->ne[3] = 1;
		t->parts = calloc((size_t)E, sizeof(*t->parts));
		if (t->parts == NULL)
			return fy_err_set(err, FY_ENOMEM, "out of memory");
		for (int64_t e = 0; e < E; e++)
			t->parts[e] = (struct cpart){ st, NULL, e * R + (k == 1 ? rows : 0) };
		if (c->o != NULL)
			t->type = out_type(c, t);
		c->n++;
	}
	return FY_OK;
}

static int plan_tensor(struct conv *c, const struct fy_st_tensor *st, struct fy_err *err)
{
	struct ctensor *t = &c->t[c->n];
	const size_t len = strlen(st->name);
	char base[512];
	if (len > strlen(SCALE_SUFFIX) &&
	    strcmp(st->name + len - strlen(SCALE_SUFFIX), SCALE_SUFFIX) == 0)
		return check_scale(c, st, err);
	/* DeepSeek-V4: W.scale is read with its FP8 or MXFP4 W.weight */
	if (st->dtype == FY_DTYPE_F8_E8M0) {
		const struct fy_st_tensor *w = v4_scale(c, st->name, false, base, sizeof(base));
		if (w != NULL && (w->dtype == FY_DTYPE_F8_E4M3 || w->dtype == FY_DTYPE_I8))
			return FY_OK;
		return fy_err_set(err, FY_EFORMAT,
				  "tensor '%s' (F8_E8M0) scales no F8_E4M3 or I8 weight", st->name);
	}
	/* compressed-tensors: W_scale and W_shape are read with W_packed */
	if (ends_with(st->name, ".weight_scale") || ends_with(st->name, ".weight_shape")) {
		snprintf(base, sizeof(base), "%.*s_packed", (int)(len - 6), st->name);
		if (fy_st_model_find(c->m, base, NULL) != NULL)
			return FY_OK;
		return fy_err_set(err, FY_EUNSUPPORTED,
				  "tensor '%s' belongs to no '%s' (ferry reads compressed-tensors "
				  "pack-quantized weights)",
				  st->name, base);
	}
	bool fused = false;
	int frc = plan_fused_experts(c, st, &fused, err);
	if (frc != FY_OK || fused)
		return frc;
	const bool packed = ends_with(st->name, ".weight_packed");
	snprintf(base, sizeof(base), "%.*s", (int)(packed ? len - 7 : len), st->name);
	const int n_extra = c->cfg.n_nextn_layers > 0 ? (int)c->cfg.n_nextn_layers : 0;
	if (!map_name(c->arch, &c->cfg, base, t->name, sizeof(t->name), (int)c->cfg.n_layers,
		      n_extra, &t->expert))
		return fy_err_set(err, FY_EUNSUPPORTED, "tensor '%s' has no GGUF name for %s",
				  st->name, c->arch->hf);
	if (t->expert >= 0 && (!c->arch->experts || t->expert >= c->cfg.n_experts))
		return fy_err_set(
			err, FY_EFORMAT, "tensor '%s': expert %d, but config.json has %lld experts",
			st->name, t->expert, (long long)(c->arch->experts ? c->cfg.n_experts : 0));
	if (t->name[0] == '\0')
		return FY_OK;
	if (packed)
		return plan_packed(c, st, base, t, err);
	if (st->dtype == FY_DTYPE_I8) {
		const struct fy_st_tensor *sc = v4_scale(c, st->name, true, base, sizeof(base));
		if (sc != NULL)
			return plan_mxfp4(c, st, sc, t, err);
	}
	if (st->dtype == FY_DTYPE_F8_E4M3) {
		int rc = plan_fp8(c, st, t, err);
		if (rc != FY_OK)
			return rc;
	} else if (st->dtype != FY_DTYPE_F32 && st->dtype != FY_DTYPE_F16 &&
		   st->dtype != FY_DTYPE_BF16 &&
		   !(st->dtype == FY_DTYPE_I32 && c->arch->source_types)) {
		return fy_err_set(err, FY_EUNSUPPORTED,
				  "tensor '%s' is %s: the converter reads F32, F16, BF16, F8_E4M3 "
				  "with block scales%s",
				  st->name, fy_dtype_name(st->dtype),
				  c->arch->source_types ? ", I32, and I8 MXFP4 with E8M0 scales"
							: "");
	}
	t->ops = c->arch->tensor_ops != NULL ? c->arch->tensor_ops(t->name) : 0;
	const bool squeeze = (t->ops & FY_TOP_SQUEEZE) && st->n_dims == 3 && st->shape[1] == 1;
	t->ops &= ~(unsigned)FY_TOP_SQUEEZE;
	if ((t->ops & FY_TOP_4D) && st->n_dims >= 1 && st->n_dims <= 4) {
		t->ops &= ~(unsigned)FY_TOP_4D;
		t->src = st;
		t->n_dims = 2;
		t->ne[0] = st->shape[st->n_dims - 1];
		t->ne[1] = t->ne[0] > 0 ? st->n_elems / t->ne[0] : 0;
		t->ne[2] = t->ne[3] = 1;
		t->out_dims = 4;
		for (int d = 0; d < 4; d++) /* reversed, padded with 1s at the slow end */
			t->out_ne[d] = d < st->n_dims ? st->shape[st->n_dims - 1 - d] : 1;
		if (c->o != NULL)
			t->type = out_type(c, t);
		c->n++;
		return FY_OK;
	}
	if ((st->n_dims < 1 || st->n_dims > 2) && !squeeze)
		return fy_err_set(err, FY_EUNSUPPORTED, "tensor '%s' has %d dimensions", st->name,
				  st->n_dims);
	t->src = st;
	t->n_dims = squeeze ? 2 : st->n_dims;
	t->ne[0] = st->shape[st->n_dims - 1];
	t->ne[1] = st->n_dims >= 2 ? st->shape[0] : 1;
	t->ne[2] = t->ne[3] = 1;
	if (c->arch->split_qkvz && strstr(t->name, ".attn_qkvz.") != NULL)
		return split_qkvz(c, st, t, err);
	if (c->arch->vhead_reorder) {
		int rc = vhead_reorder(c, st, t, err);
		if (rc != FY_OK)
			return rc;
	}
	if (c->arch->permute_qk && strstr(t->name, ".attn_q.") != NULL)
		t->permute_heads = (int)c->cfg.n_heads;
	if (c->arch->permute_qk && strstr(t->name, ".attn_k.") != NULL)
		t->permute_heads =
			(int)(c->cfg.n_kv_heads > 0 ? c->cfg.n_kv_heads : c->cfg.n_heads);
	if (t->permute_heads > 0 && t->ne[1] % (2 * t->permute_heads) != 0)
		return fy_err_set(err, FY_EFORMAT,
				  "tensor '%s': %lld rows do not split into %d heads", st->name,
				  (long long)t->ne[1], t->permute_heads);
	if (c->arch->split_kv_b && strstr(t->name, ".attn_kv_b.") != NULL)
		return split_kv_b(c, st, t, err);
	if (c->o != NULL)
		t->type = out_type(c, t);
	c->n++;
	return FY_OK;
}

static int cmp_by_expert(const void *a, const void *b)
{
	const struct ctensor *x = a, *y = b;
	const int n = strcmp(x->name, y->name);
	return n != 0 ? n : (x->expert > y->expert) - (x->expert < y->expert);
}

/* Each layer's expert matrices (planned one by one) become one tensor of ne[2] = n_experts:
 * every expert present once, all of one shape and type. */
static int stack_experts(struct conv *c, struct fy_err *err)
{
	size_t w = 0;
	qsort(c->t, c->n, sizeof(*c->t), cmp_by_expert);
	for (size_t i = 0; i < c->n;) {
		struct ctensor *t = &c->t[i];
		size_t k = 1;
		if (t->expert < 0) {
			c->t[w++] = *t;
			i++;
			continue;
		}
		while (i + k < c->n && strcmp(c->t[i + k].name, t->name) == 0)
			k++;
		for (size_t e = 0; e < k; e++) {
			const struct ctensor *x = &c->t[i + e];
			if (x->expert != (int)e)
				return fy_err_set(err, FY_EFORMAT,
						  "%s: expert %zu of %s is missing or repeated",
						  c->arch->hf, e, t->name);
			if (x->ne[0] != t->ne[0] || x->ne[1] != t->ne[1] || x->n_dims != 2 ||
			    x->src->dtype != t->src->dtype ||
			    (x->scale == NULL) != (t->scale == NULL))
				return fy_err_set(
					err, FY_EFORMAT,
					"tensor '%s': expert %zu differs in shape or type "
					"from expert 0",
					x->src->name, e);
		}
		if ((int64_t)k != c->cfg.n_experts)
			return fy_err_set(err, FY_EFORMAT,
					  "%s: %s has %zu experts, config.json %lld", c->arch->hf,
					  t->name, k, (long long)c->cfg.n_experts);
		struct cpart *parts = calloc(k, sizeof(*parts));
		if (parts == NULL)
			return fy_err_set(err, FY_ENOMEM, "out of memory");
		for (size_t e = 0; e < k; e++)
			parts[e] = (struct cpart){ c->t[i + e].src, c->t[i + e].scale, 0 };
		struct ctensor s = *t;
		s.parts = parts;
		s.expert = -1;
		s.n_dims = 3;
		s.ne[2] = (int64_t)k;
		c->t[w++] = s;
		i += k;
	}
	c->n = w;
	return FY_OK;
}

static int plan_tensors(struct conv *c, struct fy_err *err)
{
	size_t total = 0;
	int rc = FY_OK;
	for (size_t s = 0; s < fy_st_model_shards(c->m); s++)
		total += fy_st_count(fy_st_model_shard(c->m, s));
	c->t = calloc(2 * total + 1, sizeof(*c->t)); /* + rope_freqs, kv_b split in two */
	c->auto_type =
		FY_DTYPE_F16; /* one type for the whole file, whatever each tensor's source */
	for (size_t s = 0; s < fy_st_model_shards(c->m); s++) {
		const struct fy_st_file *f = fy_st_model_shard(c->m, s);
		for (size_t i = 0; i < fy_st_count(f); i++) {
			const enum fy_dtype d = fy_st_at(f, i)->dtype;
			if (d == FY_DTYPE_BF16 || d == FY_DTYPE_F8_E4M3)
				c->auto_type = FY_DTYPE_BF16;
		}
	}
	if (c->t == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	/* next-token-prediction layers config.json does not count (Qwen3-Next): those its names
	 * place after the last layer */
	for (size_t s = 0;
	     c->arch->rename != NULL && c->cfg.n_nextn_layers <= 0 && s < fy_st_model_shards(c->m);
	     s++) {
		const struct fy_st_file *f = fy_st_model_shard(c->m, s);
		for (size_t i = 0; i < fy_st_count(f); i++) {
			char r[512];
			if (!c->arch->rename(&c->cfg, fy_st_at(f, i)->name, r, sizeof(r)) ||
			    strncmp(r, "model.layers.", 13) != 0)
				continue;
			const long l = strtol(r + 13, NULL, 10);
			if (l >= c->cfg.n_layers && l < c->cfg.n_layers + 64 &&
			    l - c->cfg.n_layers + 1 > c->cfg.n_nextn_layers)
				c->cfg.n_nextn_layers = l - c->cfg.n_layers + 1;
		}
	}
	for (size_t s = 0; s < fy_st_model_shards(c->m); s++) {
		const struct fy_st_file *f = fy_st_model_shard(c->m, s);
		for (size_t i = 0; i < fy_st_count(f); i++)
			FY_TRY(rc, plan_tensor(c, fy_st_at(f, i), err));
	}
	FY_TRY(rc, stack_experts(c, err));
	if (c->rope_freqs != NULL) {
		struct ctensor *t = &c->t[c->n++];
		snprintf(t->name, sizeof(t->name), "rope_freqs.weight");
		t->gen = c->rope_freqs;
		t->src = &c->rope_st;
		t->n_dims = 1;
		t->ne[0] = c->rope_st.shape[0];
		t->ne[1] = t->ne[2] = t->ne[3] = 1;
		t->type = FY_DTYPE_F32;
	}
	qsort(c->t, c->n, sizeof(*c->t), cmp_ctensor);
out:
	return rc;
}

/* Llama 3's rope scaling as llama.cpp's converter computes rope_freqs (in float, as torch): per
 * rotated pair, 1 for short wavelengths, `factor` for long ones, a smooth blend between. */
static int llama3_factors(struct conv *c, const char *path, struct fy_err *err)
{
	const struct fy_hf_config *g = &c->cfg;
	const int64_t dim = g->head_dim > 0 ? g->head_dim : g->hidden_size / g->n_heads;
	const float base = g->rope_theta > 0 ? (float)g->rope_theta : 10000.0f;
	const float factor = g->rope_factor > 0 ? (float)g->rope_factor : 8.0f;
	const float lo = g->rope_low > 0 ? (float)g->rope_low : 1.0f;
	const float hi = g->rope_high > 0 ? (float)g->rope_high : 4.0f;
	const float old = g->rope_orig_ctx > 0 ? (float)g->rope_orig_ctx : 8192.0f;
	if (dim <= 0 || dim % 2 != 0 || dim > 65536 || hi == lo)
		return fy_err_set(err, FY_EFORMAT,
				  "%s: rope_scaling llama3 needs an even head size and "
				  "high_freq_factor != low_freq_factor",
				  path);
	c->rope_freqs = malloc((size_t)(dim / 2) * sizeof(float));
	if (c->rope_freqs == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	for (int64_t i = 0; i < dim / 2; i++) {
		const float freq = 1.0f / powf(base, (float)(2 * i) / (float)dim);
		const float wavelen = 2.0f * (float)M_PI / freq;
		float f;
		if (wavelen < old / hi) {
			f = 1.0f;
		} else if (wavelen > old / lo) {
			f = factor;
		} else {
			const float smooth = (old / wavelen - lo) / (hi - lo);
			f = 1.0f / ((1.0f - smooth) / factor + smooth);
		}
		c->rope_freqs[i] = f;
	}
	c->rope_st = (struct fy_st_tensor){ .name = "rope_freqs",
					    .dtype = FY_DTYPE_F32,
					    .n_dims = 1,
					    .shape = { dim / 2 },
					    .n_elems = dim / 2,
					    .end = (uint64_t)(dim / 2) * sizeof(float),
					    .data = c->rope_freqs };
	return FY_OK;
}

/* --- tensor data ---------------------------------------------------------------------------- */

/* The HF row that lands at GGUF row r: rows of head h are [h, 2, half] in HF and [h, half, 2]
 * in GGUF (llama.cpp's permute). */
static int64_t permuted_src(const struct ctensor *t, int64_t r)
{
	if (t->permute_heads <= 0)
		return r;
	const int64_t per = t->ne[1] / t->permute_heads;
	const int64_t half = per / 2;
	const int64_t h = r / per, k = r % per;
	return h * per + (k % 2) * half + k / 2;
}

/* The source of output row r: the expert's matrix of a stacked tensor, else the tensor itself
 * (rows permuted for llama's q/k); *sr receives the row within it. */
static struct cpart part_of(const struct ctensor *t, int64_t r, int64_t *sr)
{
	if (t->parts == NULL) {
		*sr = t->row_map != NULL ? t->row_map[r] : permuted_src(t, r);
		return (struct cpart){ t->src, t->scale, 0 };
	}
	const struct cpart p = t->parts[r / t->ne[1]];
	*sr = r % t->ne[1] + p.row0;
	return p;
}

/* Source row sr of p as floats: an F8_E4M3 value times its block's scale, in float (as torch's
 * `weight.float() * scale_inv` in llama.cpp's converter), else the type's exact widening. */
static void source_row(const struct ctensor *t, struct cpart p, int64_t sr, size_t src_bytes,
		       float *row)
{
	const uint8_t *src = (const uint8_t *)p.src->data + (size_t)sr * src_bytes;
	if (p.scale == NULL) {
		fy_dequant_row(p.src->dtype, src, row, t->ne[0]);
		return;
	}
	if (t->int4_group > 0) { /* (value - 8) x the group's scale, as llama.cpp's converter */
		const int64_t gs = t->int4_group, ng = p.scale->shape[1];
		const size_t ss = p.scale->dtype == FY_DTYPE_F32 ? 4 : 2;
		const uint8_t *scales = (const uint8_t *)p.scale->data + (size_t)(sr * ng) * ss;
		for (int64_t g = 0; g < ng; g++) {
			float sc;
			fy_dequant_row(p.scale->dtype, scales + (size_t)g * ss, &sc, 1);
			const int64_t end = (g + 1) * gs < t->ne[0] ? (g + 1) * gs : t->ne[0];
			for (int64_t i = g * gs; i < end; i++) {
				uint32_t w;
				memcpy(&w, src + 4 * (i / 8), 4);
				row[i] = (float)((int)((w >> (4 * (i % 8))) & 15u) - 8) * sc;
			}
		}
		return;
	}
	const int64_t cb = p.scale->shape[1];
	const size_t ssz = p.scale->dtype == FY_DTYPE_F32    ? 4
			   : p.scale->dtype == FY_DTYPE_BF16 ? 2
							     : 1;
	const uint8_t *sc = (const uint8_t *)p.scale->data + (size_t)(sr / t->block[0] * cb) * ssz;
	for (int64_t b = 0; b < cb; b++) {
		float s;
		if (p.scale->dtype == FY_DTYPE_F32) {
			memcpy(&s, sc + 4 * b, 4);
		} else if (p.scale->dtype == FY_DTYPE_F8_E8M0) {
			s = fy_f8e8m0_to_f32(sc[b]);
		} else {
			uint16_t h;
			memcpy(&h, sc + 2 * b, 2);
			s = fy_bf16_to_f32(h);
		}
		const int64_t end =
			(b + 1) * t->block[1] < t->ne[0] ? (b + 1) * t->block[1] : t->ne[0];
		for (int64_t i = b * t->block[1]; i < end; i++)
			row[i] = fy_f8e4m3_to_f32(src[i]) * s;
	}
}

/* A row's bytes in type t: the quantizer's types, and the integer ones copied as they are (I32). */
static bool row_bytes_of(enum fy_dtype t, int64_t n, size_t *out)
{
	uint64_t b;
	if (fy_quant_row_bytes(t, n, out))
		return true;
	if (t != FY_DTYPE_I32 || !fy_dtype_nbytes(t, n, &b) || b > SIZE_MAX)
		return false;
	*out = (size_t)b;
	return true;
}

/* A source row's bytes when the row is read by hand: F8_E4M3 one a value, int4 packed a word
 * per eight (the other types' rows are measured by fy_quant_row_bytes). */
static size_t src_row_bytes(const struct ctensor *t)
{
	if (t->mxfp4)
		return (size_t)t->ne[0] / 2;
	return t->int4_group > 0 ? 4 * (size_t)((t->ne[0] + 7) / 8) : (size_t)t->ne[0];
}

/* An MXFP4 source row into ggml's blocks of 32: the scale byte, then 16 bytes holding element
 * j in the low nibble and j + 16 in the high one (the codes and the E8M0 byte unchanged: ggml
 * doubles its values and halves the scale, the same numbers). */
static void mxfp4_row(const struct ctensor *t, struct cpart p, int64_t sr, uint8_t *out)
{
	const int64_t nb = t->ne[0] / 32;
	const uint8_t *src = (const uint8_t *)p.src->data + (size_t)sr * (size_t)(t->ne[0] / 2);
	const uint8_t *sc = (const uint8_t *)p.scale->data + (size_t)(sr * nb);
	for (int64_t b = 0; b < nb; b++) {
		const uint8_t *q = src + 16 * b;
		uint8_t *o = out + 17 * b;
		o[0] = sc[b];
		for (int j = 0; j < 16; j++) {
			const int lo = (q[j / 2] >> (4 * (j % 2))) & 15;
			const int hi = (q[(j + 16) / 2] >> (4 * (j % 2))) & 15;
			o[1 + j] = (uint8_t)(lo | hi << 4);
		}
	}
}

/* exp(x) in float as PyTorch computes it on an AVX2 CPU (Sleef's expf_u10, which its
 * Vectorized<float>::exp calls): llama.cpp's converter takes -exp(A_log) with torch, and
 * this is not always the correctly rounded value expf gives (9% of random inputs differ by an
 * ulp). Checked equal to torch 1.13's on 100,000 values in [-5, 5]. */
static float torch_expf(float d)
{
	const int q = (int)rintf(d * 1.442695040888963407359924681001892137426645954152985934f);
	float s = fmaf((float)q, -0.693145751953125f, d);
	s = fmaf((float)q, -1.428606765330187045e-06f, s);
	float u = 0.000198527617612853646278381f;
	u = fmaf(u, s, 0.00139304355252534151077271f);
	u = fmaf(u, s, 0.00833336077630519866943359f);
	u = fmaf(u, s, 0.0416664853692054748535156f);
	u = fmaf(u, s, 0.166666671633720397949219f);
	u = fmaf(u, s, 0.5f);
	u = 1.0f + fmaf(s * s, u, s);
	u = u * ldexpf(1.0f, q >> 1) * ldexpf(1.0f, q - (q >> 1)); /* Sleef's ldexp2 */
	if (d < -104.0f)
		u = 0;
	if (d > 104.0f)
		u = INFINITY;
	return u;
}

struct rowctx {
	const struct ctensor *t;
	size_t src_bytes, row_bytes;
};

/* GGUF row r: the source row it comes from, as it is (same type) or converted; scratch holds a
 * row of floats, two for a tensor with a column map. */
static int out_row(const void *ctx, int64_t r, float *scratch, uint8_t *out, struct fy_err *err)
{
	const struct rowctx *k = ctx;
	const struct ctensor *t = k->t;
	int64_t sr;
	const struct cpart p = part_of(t, r, &sr);
	if (t->mxfp4 && t->type == FY_DTYPE_MXFP4) {
		mxfp4_row(t, p, sr, out);
		return FY_OK;
	}
	if (p.scale == NULL && p.src->dtype == t->type && t->ops == 0 && t->col_map == NULL) {
		memcpy(out, (const uint8_t *)p.src->data + (size_t)sr * k->src_bytes, k->row_bytes);
		return FY_OK;
	}
	if (t->col_map != NULL) { /* the source row in the scratch's second half, then mapped */
		float *row = scratch + t->ne[0];
		source_row(t, p, sr, k->src_bytes, row);
		for (int64_t i = 0; i < t->ne[0]; i++)
			scratch[i] = row[t->col_map[i]];
	} else {
		source_row(t, p, sr, k->src_bytes, scratch);
	}
	for (int64_t i = 0; t->ops != 0 && i < t->ne[0]; i++) /* as torch computes them, in float */
		scratch[i] = (t->ops & FY_TOP_NEG_EXP)	  ? -torch_expf(scratch[i])
			     : (t->ops & FY_TOP_PLUS_ONE) ? scratch[i] + 1.0f
							  : scratch[i];
	/* a float type carries NaN/Inf as they are; the quantizer needs finite input */
	if (t->type == FY_DTYPE_Q8_0 && fy_quant_check_finite(scratch, t->ne[0]) >= 0)
		return fy_err_set(err, FY_EFORMAT, "tensor '%s' row %lld holds NaN or infinity",
				  p.src->name, (long long)sr);
	fy_quant_row(t->type, scratch, out, t->ne[0]);
	return FY_OK;
}

typedef int (*put_fn)(void *ctx, const void *p, size_t n, struct fy_err *err);

/* A split kv_b's rows in order (attn_k_b: per head, rank rows of nope key columns; attn_v_b: per
 * head, v rows of rank), each converted to t->type and handed to put: per head, the source's
 * nope + v rows are read once (FP8 dequantized as source_row does). */
static int kvb_rows(const struct ctensor *t, put_fn put, void *ctx, struct fy_err *err)
{
	const int64_t R = t->kvb == 1 ? t->ne[1] : t->ne[0], H = t->ne[2];
	const int64_t per = t->nope + t->vdim, n = t->ne[0];
	struct ctensor src = *t; /* the source's geometry for source_row: rows of R */
	src.ne[0] = R;
	size_t src_bytes = src_row_bytes(&src), row_bytes = 0; /* FP8, int4: read by hand */
	if ((t->scale == NULL && !row_bytes_of(t->src->dtype, R, &src_bytes)) ||
	    !row_bytes_of(t->type, n, &row_bytes))
		return fy_err_set(err, FY_EFORMAT, "tensor '%s': bad row length", t->name);
	float *head = malloc((size_t)(per * R + n) * sizeof(float));
	uint8_t *out = malloc(row_bytes);
	if (head == NULL || out == NULL) {
		free(head);
		free(out);
		return fy_err_set(err, FY_ENOMEM, "out of memory for tensor '%s'", t->name);
	}
	float *row = head + per * R;
	int rc = FY_OK;
	for (int64_t h = 0; h < H && rc == FY_OK; h++) {
		for (int64_t i = 0; i < per; i++)
			source_row(&src, (struct cpart){ t->src, t->scale, 0 }, h * per + i,
				   src_bytes, head + i * R);
		const int64_t rows = t->ne[1];
		for (int64_t r = 0; r < rows && rc == FY_OK; r++) {
			for (int64_t j = 0; j < n; j++)
				row[j] =
					t->kvb == 1 ? head[j * R + r] : head[(t->nope + r) * R + j];
			if (t->type == FY_DTYPE_Q8_0 && fy_quant_check_finite(row, n) >= 0) {
				rc = fy_err_set(err, FY_EFORMAT,
						"tensor '%s' holds NaN or infinity", t->src->name);
				break;
			}
			fy_quant_row(t->type, row, out, n);
			rc = put(ctx, out, row_bytes, err);
		}
	}
	free(head);
	free(out);
	return rc;
}

static int put_sink(void *ctx, const void *p, size_t n, struct fy_err *err)
{
	return fy_sink_write(ctx, p, n, err);
}

static int tensor_data(void *ctx, size_t index, struct fy_sink *sink, struct fy_err *err)
{
	const struct conv *c = ctx;
	const struct ctensor *t = &c->t[index];
	struct rowctx k = { t, src_row_bytes(t), 0 };
	const int64_t n_parts = t->parts != NULL ? t->ne[2] : 1;
	int rc = FY_OK;
	if (t->gen != NULL)
		return fy_sink_write(sink, t->gen, (size_t)t->ne[0] * sizeof(float), err);
	if (t->kvb != 0)
		return kvb_rows(t, put_sink, sink, err);
	if (!row_bytes_of(t->type, t->ne[0], &k.row_bytes) ||
	    (t->scale == NULL && !row_bytes_of(t->src->dtype, t->ne[0], &k.src_bytes)))
		return fy_err_set(err, FY_EFORMAT, "tensor '%s': bad row length", t->name);
	/* the experts of a stacked tensor share one type and scaling (stack_experts) */
	const bool copy = t->scale == NULL && t->src->dtype == t->type && t->permute_heads <= 0 &&
			  t->row_map == NULL && t->col_map == NULL && t->ops == 0;
	for (int64_t e = 0; copy && e < n_parts && rc == FY_OK; e++) {
		int64_t sr;
		const struct cpart p = part_of(t, e * t->ne[1], &sr);
		rc = fy_sink_write(sink, (const uint8_t *)p.src->data + (size_t)sr * k.row_bytes,
				   k.row_bytes * (size_t)t->ne[1], err);
	}
	if (!copy)
		rc = fy_convert_rows(c->o->pool, t->ne[1] * n_parts,
				     t->ne[0] * (t->col_map != NULL ? 2 : 1), k.row_bytes, out_row,
				     &k, sink, err);
	/* streamed through once: let the kernel take the source pages back (peak RSS stays near
	 * one chunk, not the model) */
	for (int64_t e = 0; e < n_parts; e++) {
		int64_t sr;
		const struct cpart p = part_of(t, e * t->ne[1], &sr);
		fy_map_drop(p.src->data, (size_t)(p.src->end - p.src->begin));
	}
	return rc;
}

/* --- metadata ------------------------------------------------------------------------------- */

/* The keys every family writes, then the family's own (convert/arch/). */
static int hparams(struct fy_gguf_writer *w, const struct conv *c, const char *name,
		   struct fy_err *err)
{
	const char *a = c->arch->gguf;
	const struct fy_hf_config *g = &c->cfg;
	const int64_t kv = c->arch->kv_heads_one ? 1
			   : g->n_kv_heads > 0	 ? g->n_kv_heads
						 : g->n_heads;
	const int64_t nextn = c->arch->keep_nextn && g->n_nextn_layers > 0 ? g->n_nextn_layers : 0;
	int rc = FY_OK;
	FY_TRY(rc, fy_gguf_writer_set_str(w, "general.architecture", a, err));
	FY_TRY(rc, fy_gguf_writer_set_str(w, "general.name", name, err));
	FY_TRY(rc, fy_kv_u32(w, a, "block_count", (uint32_t)(g->n_layers + nextn), err));
	FY_TRY(rc, fy_kv_u32(w, a, "context_length",
			     (uint32_t)(g->context_length > 0 ? g->context_length : 2048), err));
	FY_TRY(rc, fy_kv_u32(w, a, "embedding_length", (uint32_t)g->hidden_size, err));
	if (g->intermediate_size > 0)
		FY_TRY(rc,
		       fy_kv_u32(w, a, "feed_forward_length", (uint32_t)g->intermediate_size, err));
	FY_TRY(rc, fy_kv_u32(w, a, "attention.head_count", (uint32_t)g->n_heads, err));
	FY_TRY(rc, fy_kv_u32(w, a, "attention.head_count_kv", (uint32_t)kv, err));
	if (g->n_mrope > 0) { /* rope_parameters.mrope_section, before the base as llama.cpp */
		uint8_t le[16];
		char key[96];
		for (int i = 0; i < 4; i++)
			for (int b = 0; b < 4; b++)
				le[4 * i + b] =
					(uint8_t)((uint32_t)g->mrope_sections[i] >> (8 * b));
		snprintf(key, sizeof(key), "%s.rope.dimension_sections", a);
		FY_TRY(rc, fy_gguf_writer_set_array(w, key, FY_GGUF_I32, 4, le, err));
	}
	FY_TRY(rc,
	       fy_kv_f32(w, a, "rope.freq_base", g->rope_theta > 0 ? g->rope_theta : 10000.0, err));
	FY_TRY(rc, fy_kv_f32(w, a, "attention.layer_norm_rms_epsilon",
			     g->rms_norm_eps > 0 ? g->rms_norm_eps : 1e-6, err));
	FY_TRY(rc, c->arch->keys(w, a, g, err));
out:
	return rc;
}

/* general.file_type from the 2-D weights' type (llama.cpp's ftype numbering). */
static enum fy_ftype file_type(const struct conv *c)
{
	for (size_t i = 0; i < c->n; i++) {
		if (c->t[i].type == FY_DTYPE_MXFP4) /* DeepSeek-V4's experts */
			return FY_FTYPE_MXFP4_MOE;
	}
	for (size_t i = 0; i < c->n; i++) {
		if (c->t[i].type == FY_DTYPE_Q8_0)
			return FY_FTYPE_Q8_0;
		if (c->t[i].type == FY_DTYPE_BF16)
			return FY_FTYPE_BF16;
		if (c->t[i].type == FY_DTYPE_F16)
			return FY_FTYPE_F16;
	}
	return FY_FTYPE_F32;
}

/* general.architecture, general.name, the hyper-parameters, general.file_type and the tokenizer. */
/* general.sampling.* from generation_config.json, as llama.cpp's gguf-py metadata writes them
 * (llama.cpp's samplers default to them). A missing or unreadable file is skipped, as there. */
static int sampling(struct fy_gguf_writer *w, const char *dir, struct fy_err *err)
{
	static const struct {
		const char *hf, *hf2, *key;
		enum fy_gguf_type type;
	} keys[] = {
		{ "top_k", NULL, "general.sampling.top_k", FY_GGUF_I32 },
		{ "top_p", NULL, "general.sampling.top_p", FY_GGUF_F32 },
		{ "min_p", NULL, "general.sampling.min_p", FY_GGUF_F32 },
		{ "xtc_probability", NULL, "general.sampling.xtc_probability", FY_GGUF_F32 },
		{ "xtc_threshold", NULL, "general.sampling.xtc_threshold", FY_GGUF_F32 },
		{ "temperature", NULL, "general.sampling.temp", FY_GGUF_F32 },
		{ "penalty_last_n", NULL, "general.sampling.penalty_last_n", FY_GGUF_I32 },
		{ "penalty_repeat", "repetition_penalty", "general.sampling.penalty_repeat",
		  FY_GGUF_F32 },
		{ "mirostat", NULL, "general.sampling.mirostat", FY_GGUF_I32 },
		{ "mirostat_tau", NULL, "general.sampling.mirostat_tau", FY_GGUF_F32 },
		{ "mirostat_eta", NULL, "general.sampling.mirostat_eta", FY_GGUF_F32 },
	};
	char path[4200];
	struct fy_json *g = NULL;
	struct fy_err ignored;
	int rc = FY_OK;
	snprintf(path, sizeof(path), "%s/generation_config.json", dir);
	if (fy_json_load_file_hf(&g, path, 1u << 20, &ignored) != FY_OK)
		return FY_OK;
	const char *seq = fy_json_str(fy_json_get(g, "sequence"));
	if (seq != NULL)
		FY_TRY(rc, fy_gguf_writer_set_str(w, "general.sampling.sequence", seq, err));
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const struct fy_json *v = fy_json_get(g, keys[i].hf);
		struct fy_gguf_value val = { .type = keys[i].type };
		int64_t n;
		if (v == NULL && keys[i].hf2 != NULL)
			v = fy_json_get(g, keys[i].hf2);
		if (keys[i].type == FY_GGUF_I32 && fy_json_int(v, &n) && n >= INT32_MIN &&
		    n <= INT32_MAX)
			val.i = n;
		else if (keys[i].type == FY_GGUF_F32 && fy_json_num(v, &val.f))
			;
		else
			continue;
		FY_TRY(rc, fy_gguf_writer_set(w, keys[i].key, &val, err));
	}
out:
	fy_json_free(g);
	return rc;
}

/* tokenizer.ggml.suppress_tokens: the embeddings' rows past the tokenizer's own vocabulary
 * (tokenizer.json's model.vocab: what transformers calls vocab_size) that are all zero, as
 * llama.cpp's MiniMax-01 converter finds them (its samplers never pick them). Rows of F32, F16
 * and BF16 are read (zero: every value +0 or -0); the release's embeddings are BF16. */
static int suppress_tokens(struct fy_gguf_writer *w, const struct conv *c, const char *dir,
			   struct fy_err *err)
{
	const struct fy_st_tensor *e = fy_st_model_find(c->m, "model.embed_tokens.weight", NULL);
	struct fy_json *tj = NULL;
	char path[4200];
	int rc = FY_OK;
	if (e == NULL || e->n_dims != 2 || e->data == NULL ||
	    (e->dtype != FY_DTYPE_F32 && e->dtype != FY_DTYPE_F16 && e->dtype != FY_DTYPE_BF16))
		return FY_OK;
	snprintf(path, sizeof(path), "%s/tokenizer.json", dir);
	FY_TRY(rc, fy_json_load_file_hf(&tj, path, 256u << 20, err));
	const int64_t base = (int64_t)fy_json_size(fy_json_get(fy_json_get(tj, "model"), "vocab"));
	const int64_t rows = e->shape[0], cols = e->shape[1];
	const size_t es = e->dtype == FY_DTYPE_F32 ? 4 : 2;
	struct fy_buf ids;
	fy_buf_init(&ids);
	for (int64_t r = base; r < rows; r++) {
		const uint8_t *row = (const uint8_t *)e->data + (size_t)r * (size_t)cols * es;
		bool zero = true;
		for (int64_t i = 0; zero && i < cols; i++) {
			uint32_t v = 0;
			memcpy(&v, row + (size_t)i * es, es); /* little-endian */
			zero = (v & (es == 4 ? 0x7fffffffu : 0x7fffu)) == 0;
		}
		if (zero)
			FY_TRY(rc, fy_buf_append_u32le(&ids, (uint32_t)r, err));
	}
	if (ids.len > 0)
		rc = fy_gguf_writer_set_array(w, "tokenizer.ggml.suppress_tokens", FY_GGUF_I32,
					      ids.len / 4, ids.data, err);
out:
	fy_buf_release(&ids);
	fy_json_free(tj);
	return rc;
}

static int metadata(struct fy_gguf_writer *w, const struct conv *c, const char *dir,
		    const char *name, size_t *n_vocab, struct fy_err *err)
{
	char dcopy[4096];
	snprintf(dcopy, sizeof(dcopy), "%s", dir);
	int rc = FY_OK;
	FY_TRY(rc, hparams(w, c, name != NULL ? name : basename(dcopy), err));
	FY_TRY(rc, sampling(w, dir, err));
	FY_TRY(rc, fy_gguf_writer_set_u32(w, "general.file_type", (uint32_t)file_type(c), err));
	FY_TRY(rc, fy_convert_tokenizer(w, dir, &c->cfg, c->arch, n_vocab, err));
	if (c->arch->suppress_zero_rows)
		FY_TRY(rc, suppress_tokens(w, c, dir, err));
out:
	return rc;
}

static int write_all(struct conv *c, const char *dir, const char *out_path,
		     struct fy_convert_report *rep, struct fy_err *err)
{
	struct fy_gguf_writer *w = NULL;
	int rc = FY_OK;
	FY_TRY(rc, fy_gguf_writer_new(&w, err));
	FY_TRY(rc, metadata(w, c, dir, c->o->name, &rep->n_vocab, err));
	FY_TRY(rc, fy_gguf_writer_set_str(w, "ferry.version", FY_VERSION, err));
	if (c->cfg.rope_json[0] != '\0') /* config.json's rope_scaling, for the way back */
		FY_TRY(rc,
		       fy_gguf_writer_set_str(w, "ferry.hf.rope_scaling", c->cfg.rope_json, err));
	if (c->o->source_digest != NULL)
		FY_TRY(rc, fy_gguf_writer_set_str(w, "ferry.source", c->o->source_digest, err));
	for (size_t i = 0; i < c->n; i++) {
		uint64_t bytes = 0;
		FY_TRY(rc,
		       fy_gguf_writer_add(w, c->t[i].name, c->t[i].type,
					  c->t[i].out_dims > 0 ? c->t[i].out_dims : c->t[i].n_dims,
					  c->t[i].out_dims > 0 ? c->t[i].out_ne : c->t[i].ne, err));
		if (fy_dtype_nbytes(c->t[i].type, c->t[i].ne[0] * c->t[i].ne[1] * c->t[i].ne[2],
				    &bytes))
			rep->out_bytes += bytes;
	}
	rep->n_tensors = c->n;
	FY_TRY(rc, fy_gguf_writer_write_split(w, out_path, &c->o->split, tensor_data, c,
					      &rep->n_shards, err));
out:
	fy_gguf_writer_free(w);
	return rc;
}

static int check_config(struct conv *c, const char *path, struct fy_err *err)
{
	int rc = FY_OK;
	c->arch = fy_convert_arch_of_hf(c->cfg.architecture);
	if (c->arch == NULL)
		return fy_err_set(err, FY_EUNSUPPORTED,
				  "%s: architecture '%s' is not supported (supported: %s)", path,
				  c->cfg.architecture, fy_convert_archs());
	const char *rt = c->cfg.rope_type;
	if (rt[0] != '\0' && strcmp(rt, "linear") != 0 && strcmp(rt, "yarn") != 0 &&
	    strcmp(rt, "llama3") != 0)
		return fy_err_set(
			err, FY_EUNSUPPORTED,
			"%s: rope_scaling type '%s' is not supported (linear, yarn, llama3)", path,
			rt);
	if (c->cfg.n_layers <= 0 || c->cfg.n_heads <= 0 || c->cfg.hidden_size <= 0 ||
	    (c->cfg.intermediate_size <= 0 && !c->arch->no_dense) || c->cfg.vocab_size <= 0 ||
	    c->cfg.n_layers > 100000)
		return fy_err_set(err, FY_EFORMAT,
				  "%s: needs num_hidden_layers, num_attention_heads, hidden_size, "
				  "intermediate_size and vocab_size",
				  path);
	if (c->arch->experts)
		FY_TRY(rc, fy_check_experts(c->arch, &c->cfg, path, err));
	if (c->arch->check != NULL)
		FY_TRY(rc, c->arch->check(&c->cfg, path, err));
out:
	return rc;
}

/* Reads config.json and opens the shards (both entry points start here). */
static int open_checkpoint(struct conv *c, const char *dir, struct fy_err *err)
{
	char path[4200];
	int rc = FY_OK;
	snprintf(path, sizeof(path), "%s/config.json", dir);
	FY_TRY(rc, fy_hf_config_load(&c->cfg, path, err));
	FY_TRY(rc, check_config(c, path, err));
	FY_TRY(rc, fy_st_model_open(&c->m, dir, err));
	if (strcmp(c->cfg.rope_type, "llama3") == 0)
		FY_TRY(rc, llama3_factors(c, path, err));
	FY_TRY(rc, plan_tensors(c, err));
out:
	return rc;
}

static void conv_free(struct conv *c)
{
	for (size_t i = 0; c->t != NULL && i < c->n; i++) {
		free(c->t[i].parts);
		free(c->t[i].row_map);
		free(c->t[i].col_map);
	}
	free(c->t);
	free(c->rope_freqs);
	fy_st_model_free(c->m);
}

/* A stacked or F8_E4M3 tensor made whole in memory for the view: the experts one after the
 * other in their stored type; FP8 dequantized to F32 (exactly as the converter does); rows in
 * HF's order. */
struct membuf {
	uint8_t *p;
	size_t n;
};

static int put_mem(void *ctx, const void *p, size_t n, struct fy_err *err)
{
	struct membuf *m = ctx;
	(void)err;
	memcpy(m->p + m->n, p, n);
	m->n += n;
	return FY_OK;
}

/* A split kv_b's half made whole in F32 for the view. */
static int materialize_kvb(const struct ctensor *t, struct fy_hf_tensor *out, struct fy_err *err)
{
	struct ctensor x = *t;
	const size_t bytes = (size_t)(t->ne[0] * t->ne[1] * t->ne[2]) * sizeof(float);
	struct membuf m = { malloc(bytes + 1), 0 };
	x.type = FY_DTYPE_F32;
	if (m.p == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory for tensor '%s'", t->name);
	out->owned = m.p;
	out->own = (struct fy_st_tensor){
		.name = t->src->name, .dtype = FY_DTYPE_F32, .n_dims = 3, .data = m.p, .end = bytes
	};
	out->src = &out->own;
	return kvb_rows(&x, put_mem, &m, err);
}

/* A tensor the view cannot read in place, in memory: dequantized to F32, or (source_types: the
 * architecture's converter keeps its source's types) in the type the converter writes, so that
 * running the checkpoint runs what converting it gives (DeepSeek-V4: FP8 as Q8_0, FP4 as
 * MXFP4). */
static int materialize(const struct ctensor *t, bool source_types, struct fy_hf_tensor *out,
		       struct fy_err *err)
{
	struct ctensor x = *t;
	if (t->kvb != 0)
		return materialize_kvb(t, out, err);
	struct rowctx k = { &x, src_row_bytes(t), 0 };
	const int64_t rows = t->ne[1] * (t->parts != NULL ? t->ne[2] : 1);
	x.type = t->mxfp4	    ? FY_DTYPE_MXFP4
		 : t->ops != 0	    ? FY_DTYPE_F32 /* 1 + w, -exp(w): as the converter */
		 : t->scale == NULL ? t->src->dtype
		 : source_types && t->n_dims >= 2 ? FY_DTYPE_Q8_0
						  : FY_DTYPE_F32;
	x.permute_heads = 0; /* the view keeps HF's row order (and runs it with NEOX RoPE) */
	if (!row_bytes_of(x.type, t->ne[0], &k.row_bytes) ||
	    (t->scale == NULL && !row_bytes_of(t->src->dtype, t->ne[0], &k.src_bytes)))
		return fy_err_set(err, FY_EFORMAT, "tensor '%s': bad row length", t->name);
	uint8_t *data = malloc(k.row_bytes * (size_t)rows + 1);
	float *scratch = malloc((size_t)t->ne[0] * (t->col_map != NULL ? 2 : 1) * sizeof(float));
	if (data == NULL || scratch == NULL) {
		free(data);
		free(scratch);
		return fy_err_set(err, FY_ENOMEM, "out of memory for tensor '%s'", t->name);
	}
	int rc = FY_OK;
	for (int64_t r = 0; r < rows && rc == FY_OK; r++)
		rc = out_row(&k, r, scratch, data + (size_t)r * k.row_bytes, err);
	free(scratch);
	out->owned = data;
	out->own = (struct fy_st_tensor){ .name = t->src->name,
					  .dtype = x.type,
					  .n_dims = t->n_dims,
					  .data = data,
					  .end = k.row_bytes * (uint64_t)rows };
	out->src = &out->own;
	return rc;
}

/* A scaled tensor the engine reads where it lies: FP8 with F32 or BF16 block scales, or
 * compressed-tensors int4 with its group scales (the same values as the conversion's: each
 * value times its block's or group's scale, in float). */
static bool scaled_in_place(const struct ctensor *t, bool source_types)
{
	if (source_types || t->scale == NULL || t->mxfp4 || t->kvb != 0 || t->row_map != NULL ||
	    t->col_map != NULL || t->ops != 0 || t->gen != NULL)
		return false;
	if (t->int4_group > 0)
		return t->src->dtype == FY_DTYPE_I32;
	return t->src->dtype == FY_DTYPE_F8_E4M3 &&
	       (t->scale->dtype == FY_DTYPE_F32 || t->scale->dtype == FY_DTYPE_BF16);
}

/* A stacked tensor the engine can read expert by expert where the shards hold it: every
 * expert's matrix stored as it is (F32, F16 or BF16, one type, nothing to permute or repack;
 * fused experts as slices), or scaled as scaled_in_place reads them. */
static bool in_place_experts(const struct ctensor *t, bool source_types)
{
	if (t->parts == NULL || t->kvb != 0 || t->mxfp4 || t->permute_heads > 0 || t->gen != NULL)
		return false;
	const enum fy_dtype d = t->parts[0].src->dtype;
	const bool fp8 =
		(d == FY_DTYPE_F8_E4M3 || d == FY_DTYPE_I32) && scaled_in_place(t, source_types);
	if (d != FY_DTYPE_F32 && d != FY_DTYPE_F16 && d != FY_DTYPE_BF16 && !fp8)
		return false;
	for (int64_t e = 0; e < t->ne[2]; e++) {
		const struct cpart *p = &t->parts[e];
		if ((p->scale != NULL) != fp8 || p->src->dtype != d ||
		    (fp8 && p->scale->dtype != t->scale->dtype))
			return false;
	}
	return true;
}

void fy_hf_view_free(struct fy_hf_view *v)
{
	if (v == NULL)
		return;
	for (size_t i = 0; v->t != NULL && i < v->n; i++)
		free(v->t[i].owned);
	fy_gguf_free(v->meta);
	fy_buf_release(&v->image);
	free(v->rope_freqs);
	free(v->t);
	fy_st_model_free(v->m);
	free(v);
}

int fy_hf_view_open(struct fy_hf_view **out, const char *dir, struct fy_err *err)
{
	struct conv c = { .o = NULL };
	struct fy_gguf_writer *w = NULL;
	struct fy_hf_view *v = calloc(1, sizeof(*v));
	size_t n_vocab = 0;
	int rc = FY_OK;
	*out = NULL;
	if (v == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	fy_buf_init(&v->image);
	FY_TRY(rc, open_checkpoint(&c, dir, err));
	FY_TRY(rc, fy_gguf_writer_new(&w, err));
	FY_TRY(rc, metadata(w, &c, dir, NULL, &n_vocab, err));
	FY_TRY(rc, fy_gguf_writer_image(w, &v->image, err));
	FY_TRY(rc, fy_gguf_parse(&v->meta, v->image.data, v->image.len, dir, err));
	v->t = calloc(c.n > 0 ? c.n : 1, sizeof(*v->t));
	if (v->t == NULL) {
		rc = fy_err_set(err, FY_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < c.n; i++) {
		memcpy(v->t[i].name, c.t[i].name, sizeof(v->t[i].name));
		v->t[i].src = c.t[i].src;
		v->t[i].n_dims = c.t[i].n_dims;
		memcpy(v->t[i].ne, c.t[i].ne, sizeof(v->t[i].ne));
		if (in_place_experts(&c.t[i], c.arch->source_types)) {
			const size_t ne2 = c.t[i].ne[2] > 0 ? (size_t)c.t[i].ne[2] : 1;
			/* the pointers, then (fused experts) each expert's slice of its source,
			 * then (FP8) each expert's scales */
			const struct fy_st_tensor **p =
				calloc(ne2, 2 * sizeof(*p) + sizeof(struct fy_st_tensor));
			if (p == NULL) {
				rc = fy_err_set(err, FY_ENOMEM, "out of memory");
				goto out;
			}
			const struct fy_st_tensor **scales = p + ne2;
			struct fy_st_tensor *slices = (struct fy_st_tensor *)(void *)(p + 2 * ne2);
			for (int64_t e = 0; e < c.t[i].ne[2]; e++) {
				const struct cpart *q = &c.t[i].parts[e];
				p[e] = q->src;
				scales[e] = q->scale;
				if (q->src->n_dims != 3)
					continue;
				uint64_t rb = 0;
				fy_dtype_nbytes(q->src->dtype, c.t[i].ne[0], &rb);
				slices[e] = *q->src;
				slices[e].n_dims = 2;
				slices[e].shape[0] = c.t[i].ne[1];
				slices[e].shape[1] = c.t[i].ne[0];
				slices[e].shape[2] = 0;
				slices[e].n_elems = c.t[i].ne[0] * c.t[i].ne[1];
				slices[e].begin = q->src->begin + (uint64_t)q->row0 * rb;
				slices[e].end = slices[e].begin + (uint64_t)c.t[i].ne[1] * rb;
				slices[e].data =
					(const uint8_t *)q->src->data + (size_t)q->row0 * rb;
				p[e] = &slices[e];
			}
			v->t[i].parts = p;
			v->t[i].owned = (void *)p;
			if (c.t[i].scale != NULL) {
				v->t[i].scales = scales;
				v->t[i].scale = c.t[i].scale;
				memcpy(v->t[i].block, c.t[i].block, sizeof(v->t[i].block));
				v->t[i].int4_group = c.t[i].int4_group;
			}
		} else if (scaled_in_place(&c.t[i], c.arch->source_types) && c.t[i].parts == NULL) {
			v->t[i].scale = c.t[i].scale;
			memcpy(v->t[i].block, c.t[i].block, sizeof(v->t[i].block));
			v->t[i].int4_group = c.t[i].int4_group;
		} else if (c.t[i].scale != NULL || c.t[i].parts != NULL || c.t[i].kvb != 0 ||
			   c.t[i].row_map != NULL || c.t[i].col_map != NULL || c.t[i].ops != 0) {
			FY_TRY(rc, materialize(&c.t[i], c.arch->source_types, &v->t[i], err));
		}
	}
	v->n = c.n;
	v->m = c.m;
	c.m = NULL;
	if (c.rope_freqs != NULL) { /* the view keeps the computed rope factors */
		v->rope_st = c.rope_st;
		v->rope_freqs = c.rope_freqs;
		v->rope_st.data = v->rope_freqs;
		c.rope_freqs = NULL;
		for (size_t i = 0; i < v->n; i++) {
			if (v->t[i].src == &c.rope_st)
				v->t[i].src = &v->rope_st;
		}
	}
	*out = v;
	v = NULL;
out:
	if (v != NULL)
		v->n = c.n; /* what was materialized is freed with the view */
	fy_gguf_writer_free(w);
	conv_free(&c);
	fy_hf_view_free(v);
	return rc;
}

int fy_convert_hf_to_gguf(const char *dir, const char *out_path, const struct fy_convert_opts *o,
			  struct fy_convert_report *rep, struct fy_err *err)
{
	struct conv c = { .o = o };
	int rc = FY_OK;
	memset(rep, 0, sizeof(*rep));
	FY_TRY(rc, open_checkpoint(&c, dir, err));
	rep->arch = c.arch->gguf;
	rep->file_type = file_type(&c);
	FY_TRY(rc, write_all(&c, dir, out_path, rep, err));
out:
	conv_free(&c);
	return rc;
}
