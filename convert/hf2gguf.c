/*
 * HF checkpoint -> GGUF for the llama family, from one architecture table: HF config fields to
 * GGUF hyper-parameters, the tensor-name map, and whether q/k rows are permuted (llama and
 * mistral store them in HF's rotate-half layout; qwen uses the NEOX rope and is not permuted).
 * Tensors stream one at a time from the safetensors mmap through the atomic GGUF writer.
 * See docs/CONVERT.md.
 */
#include "convert/convert.h"
#include "convert/convert_private.h"

#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct fy_hf_arch archs[] = {
	{ "LlamaForCausalLM", "llama", "llama", true, true, false },
	{ "MistralForCausalLM", "llama", "mistral", true, true, false },
	{ "Qwen2ForCausalLM", "qwen2", "qwen2", false, false, false },
	{ "Qwen3ForCausalLM", "qwen3", "qwen3", false, false, true },
};

const struct fy_hf_arch *fy_convert_arch_of_gguf(const char *gguf)
{
	for (size_t i = 0; i < sizeof(archs) / sizeof(archs[0]); i++) {
		if (strcmp(archs[i].gguf, gguf) == 0)
			return &archs[i];
	}
	return NULL;
}

const char *fy_convert_archs(void)
{
	return "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM";
}

/* HF per-layer suffix -> GGUF per-layer name part. */
static const struct {
	const char *hf, *gguf;
} layer_map[] = {
	{ "input_layernorm.weight", "attn_norm.weight" },
	{ "self_attn.q_proj.weight", "attn_q.weight" },
	{ "self_attn.k_proj.weight", "attn_k.weight" },
	{ "self_attn.v_proj.weight", "attn_v.weight" },
	{ "self_attn.o_proj.weight", "attn_output.weight" },
	{ "self_attn.q_proj.bias", "attn_q.bias" },
	{ "self_attn.k_proj.bias", "attn_k.bias" },
	{ "self_attn.v_proj.bias", "attn_v.bias" },
	{ "self_attn.o_proj.bias", "attn_output.bias" },
	{ "self_attn.q_norm.weight", "attn_q_norm.weight" },
	{ "self_attn.k_norm.weight", "attn_k_norm.weight" },
	{ "post_attention_layernorm.weight", "ffn_norm.weight" },
	{ "mlp.gate_proj.weight", "ffn_gate.weight" },
	{ "mlp.up_proj.weight", "ffn_up.weight" },
	{ "mlp.down_proj.weight", "ffn_down.weight" },
};

const char *fy_convert_layer_hf(const char *gguf_suffix)
{
	for (size_t i = 0; i < sizeof(layer_map) / sizeof(layer_map[0]); i++) {
		if (strcmp(gguf_suffix, layer_map[i].gguf) == 0)
			return layer_map[i].hf;
	}
	return NULL;
}

/* The GGUF name of an HF tensor; "" to skip it; false if unknown. */
static bool map_name(const char *hf, char *out, size_t cap, int n_layer)
{
	if (strcmp(hf, "model.embed_tokens.weight") == 0)
		return snprintf(out, cap, "token_embd.weight"), true;
	if (strcmp(hf, "lm_head.weight") == 0)
		return snprintf(out, cap, "output.weight"), true;
	if (strcmp(hf, "model.norm.weight") == 0)
		return snprintf(out, cap, "output_norm.weight"), true;
	if (strstr(hf, "rotary_emb.inv_freq") != NULL)
		return out[0] = '\0', true;
	if (strncmp(hf, "model.layers.", 13) != 0)
		return false;
	char *end = NULL;
	const long l = strtol(hf + 13, &end, 10);
	if (end == hf + 13 || *end != '.' || l < 0 || l >= n_layer)
		return false;
	for (size_t i = 0; i < sizeof(layer_map) / sizeof(layer_map[0]); i++) {
		if (strcmp(end + 1, layer_map[i].hf) == 0) {
			snprintf(out, cap, "blk.%ld.%s", l, layer_map[i].gguf);
			return true;
		}
	}
	return false;
}

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

static bool is_f32_kind(const struct ctensor *t)
{
	return t->n_dims == 1 || strstr(t->name, "_norm.") != NULL ||
	       strstr(t->name, ".bias") != NULL;
}

static enum fy_dtype out_type(const struct conv *c, const struct ctensor *t)
{
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

/* An F8_E4M3 weight's block scales: `<name>_scale_inv`, F32 or BF16, one per block of
 * quantization_config.weight_block_size (default 128 x 128; partial blocks at the edges). */
static int plan_fp8(const struct conv *c, const struct fy_st_tensor *st, struct ctensor *t,
		    struct fy_err *err)
{
	char name[512];
	snprintf(name, sizeof(name), "%s" SCALE_SUFFIX, st->name);
	const struct fy_st_tensor *sc = fy_st_model_find(c->m, name, NULL);
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
	if ((sc->dtype != FY_DTYPE_F32 && sc->dtype != FY_DTYPE_BF16) || sc->n_dims != 2 ||
	    sc->shape[0] != rb || sc->shape[1] != cb)
		return fy_err_set(err, FY_EFORMAT,
				  "tensor '%s' should be F32 or BF16 [%lld, %lld] (blocks of "
				  "%lld x %lld over [%lld, %lld])",
				  name, (long long)rb, (long long)cb, (long long)t->block[0],
				  (long long)t->block[1], (long long)st->shape[0],
				  (long long)st->shape[1]);
	t->scale = sc;
	return FY_OK;
}

static int plan_tensor(struct conv *c, const struct fy_st_tensor *st, struct fy_err *err)
{
	struct ctensor *t = &c->t[c->n];
	const size_t len = strlen(st->name);
	if (len > strlen(SCALE_SUFFIX) &&
	    strcmp(st->name + len - strlen(SCALE_SUFFIX), SCALE_SUFFIX) == 0)
		return check_scale(c, st, err);
	if (!map_name(st->name, t->name, sizeof(t->name), (int)c->cfg.n_layers))
		return fy_err_set(err, FY_EUNSUPPORTED, "tensor '%s' has no GGUF name for %s",
				  st->name, c->arch->hf);
	if (t->name[0] == '\0')
		return FY_OK;
	if (st->dtype == FY_DTYPE_F8_E4M3) {
		int rc = plan_fp8(c, st, t, err);
		if (rc != FY_OK)
			return rc;
	} else if (st->dtype != FY_DTYPE_F32 && st->dtype != FY_DTYPE_F16 &&
		   st->dtype != FY_DTYPE_BF16) {
		return fy_err_set(err, FY_EUNSUPPORTED,
				  "tensor '%s' is %s: the converter reads F32, F16, BF16 and "
				  "F8_E4M3 with block scales",
				  st->name, fy_dtype_name(st->dtype));
	}
	if (st->n_dims < 1 || st->n_dims > 2)
		return fy_err_set(err, FY_EUNSUPPORTED, "tensor '%s' has %d dimensions", st->name,
				  st->n_dims);
	t->src = st;
	t->n_dims = st->n_dims;
	t->ne[0] = st->shape[st->n_dims - 1];
	t->ne[1] = st->n_dims == 2 ? st->shape[0] : 1;
	t->ne[2] = t->ne[3] = 1;
	if (c->arch->permute_qk && strstr(t->name, ".attn_q.") != NULL)
		t->permute_heads = (int)c->cfg.n_heads;
	if (c->arch->permute_qk && strstr(t->name, ".attn_k.") != NULL)
		t->permute_heads =
			(int)(c->cfg.n_kv_heads > 0 ? c->cfg.n_kv_heads : c->cfg.n_heads);
	if (t->permute_heads > 0 && t->ne[1] % (2 * t->permute_heads) != 0)
		return fy_err_set(err, FY_EFORMAT,
				  "tensor '%s': %lld rows do not split into %d heads", st->name,
				  (long long)t->ne[1], t->permute_heads);
	if (c->o != NULL)
		t->type = out_type(c, t);
	c->n++;
	return FY_OK;
}

static int plan_tensors(struct conv *c, struct fy_err *err)
{
	size_t total = 0;
	for (size_t s = 0; s < fy_st_model_shards(c->m); s++)
		total += fy_st_count(fy_st_model_shard(c->m, s));
	c->t = calloc(total + 1, sizeof(*c->t)); /* + rope_freqs */
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
	for (size_t s = 0; s < fy_st_model_shards(c->m); s++) {
		const struct fy_st_file *f = fy_st_model_shard(c->m, s);
		for (size_t i = 0; i < fy_st_count(f); i++) {
			int rc = plan_tensor(c, fy_st_at(f, i), err);
			if (rc != FY_OK)
				return rc;
		}
	}
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
	return FY_OK;
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

/* Source row sr as floats: an F8_E4M3 value times its block's scale, in float (as torch's
 * `weight.float() * scale_inv` in llama.cpp's converter), else the type's exact widening. */
static void source_row(const struct ctensor *t, int64_t sr, size_t src_bytes, float *row)
{
	const uint8_t *src = (const uint8_t *)t->src->data + (size_t)sr * src_bytes;
	if (t->scale == NULL) {
		fy_dequant_row(t->src->dtype, src, row, t->ne[0]);
		return;
	}
	const int64_t cb = t->scale->shape[1];
	const uint8_t *sc =
		(const uint8_t *)t->scale->data +
		(size_t)(sr / t->block[0] * cb) * (t->scale->dtype == FY_DTYPE_F32 ? 4 : 2);
	for (int64_t b = 0; b < cb; b++) {
		float s;
		if (t->scale->dtype == FY_DTYPE_F32) {
			memcpy(&s, sc + 4 * b, 4);
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

struct rowctx {
	const struct ctensor *t;
	size_t src_bytes, row_bytes;
};

/* GGUF row r: the source row it comes from, as it is (same type) or converted. */
static int out_row(const void *ctx, int64_t r, float *scratch, uint8_t *out, struct fy_err *err)
{
	const struct rowctx *k = ctx;
	const struct ctensor *t = k->t;
	const int64_t sr = permuted_src(t, r);
	if (t->scale == NULL && t->src->dtype == t->type) {
		memcpy(out, (const uint8_t *)t->src->data + (size_t)sr * k->src_bytes,
		       k->row_bytes);
		return FY_OK;
	}
	source_row(t, sr, k->src_bytes, scratch);
	/* a float type carries NaN/Inf as they are; the quantizer needs finite input */
	if (t->type == FY_DTYPE_Q8_0 && fy_quant_check_finite(scratch, t->ne[0]) >= 0)
		return fy_err_set(err, FY_EFORMAT, "tensor '%s' row %lld holds NaN or infinity",
				  t->src->name, (long long)r);
	fy_quant_row(t->type, scratch, out, t->ne[0]);
	return FY_OK;
}

static int tensor_data(void *ctx, size_t index, struct fy_sink *sink, struct fy_err *err)
{
	const struct conv *c = ctx;
	const struct ctensor *t = &c->t[index];
	struct rowctx k = { t, (size_t)t->ne[0], 0 };
	int rc;
	if (t->gen != NULL)
		return fy_sink_write(sink, t->gen, (size_t)t->ne[0] * sizeof(float), err);
	if (!fy_quant_row_bytes(t->type, t->ne[0], &k.row_bytes) ||
	    (t->scale == NULL && !fy_quant_row_bytes(t->src->dtype, t->ne[0], &k.src_bytes)))
		return fy_err_set(err, FY_EFORMAT, "tensor '%s': bad row length", t->name);
	if (t->scale == NULL && t->src->dtype == t->type && t->permute_heads <= 0)
		rc = fy_sink_write(sink, t->src->data, k.row_bytes * (size_t)t->ne[1], err);
	else
		rc = fy_convert_rows(c->o->pool, t->ne[1], t->ne[0], k.row_bytes, out_row, &k, sink,
				     err);
	/* streamed through once: let the kernel take the source pages back (peak RSS stays near
	 * one chunk, not the model) */
	fy_map_drop(t->src->data, (size_t)(t->src->end - t->src->begin));
	return rc;
}

/* --- metadata ------------------------------------------------------------------------------- */

static int set_f32(struct fy_gguf_writer *w, const char *key, double v, struct fy_err *err)
{
	struct fy_gguf_value val = { .type = FY_GGUF_F32, .f = v };
	return fy_gguf_writer_set(w, key, &val, err);
}

static int arch_kv(struct fy_gguf_writer *w, const char *arch, const char *suffix, uint32_t v,
		   struct fy_err *err)
{
	char key[128];
	snprintf(key, sizeof(key), "%s.%s", arch, suffix);
	return fy_gguf_writer_set_u32(w, key, v, err);
}

static int hparams(struct fy_gguf_writer *w, const struct conv *c, const char *name,
		   struct fy_err *err)
{
	const char *a = c->arch->gguf;
	const struct fy_hf_config *g = &c->cfg;
	const int64_t kv = g->n_kv_heads > 0 ? g->n_kv_heads : g->n_heads;
	const int64_t head_dim = g->head_dim > 0 ? g->head_dim : g->hidden_size / g->n_heads;
	char key[128];
	int rc = FY_OK;
	FY_TRY(rc, fy_gguf_writer_set_str(w, "general.architecture", a, err));
	FY_TRY(rc, fy_gguf_writer_set_str(w, "general.name", name, err));
	FY_TRY(rc, arch_kv(w, a, "block_count", (uint32_t)g->n_layers, err));
	FY_TRY(rc, arch_kv(w, a, "context_length",
			   (uint32_t)(g->context_length > 0 ? g->context_length : 2048), err));
	FY_TRY(rc, arch_kv(w, a, "embedding_length", (uint32_t)g->hidden_size, err));
	FY_TRY(rc, arch_kv(w, a, "feed_forward_length", (uint32_t)g->intermediate_size, err));
	FY_TRY(rc, arch_kv(w, a, "attention.head_count", (uint32_t)g->n_heads, err));
	FY_TRY(rc, arch_kv(w, a, "attention.head_count_kv", (uint32_t)kv, err));
	snprintf(key, sizeof(key), "%s.rope.freq_base", a);
	FY_TRY(rc, set_f32(w, key, g->rope_theta > 0 ? g->rope_theta : 10000.0, err));
	snprintf(key, sizeof(key), "%s.attention.layer_norm_rms_epsilon", a);
	FY_TRY(rc, set_f32(w, key, g->rms_norm_eps > 0 ? g->rms_norm_eps : 1e-6, err));
	if (g->head_dim > 0) {
		FY_TRY(rc, arch_kv(w, a, "attention.key_length", (uint32_t)g->head_dim, err));
		FY_TRY(rc, arch_kv(w, a, "attention.value_length", (uint32_t)g->head_dim, err));
	}
	if (strcmp(g->rope_type, "linear") == 0 || strcmp(g->rope_type, "yarn") == 0) {
		snprintf(key, sizeof(key), "%s.rope.scaling.type", a);
		FY_TRY(rc, fy_gguf_writer_set_str(w, key, g->rope_type, err));
		snprintf(key, sizeof(key), "%s.rope.scaling.factor", a);
		FY_TRY(rc, set_f32(w, key, g->rope_factor > 0 ? g->rope_factor : 1.0, err));
		if (strcmp(g->rope_type, "yarn") == 0 && g->rope_orig_ctx > 0)
			FY_TRY(rc, arch_kv(w, a, "rope.scaling.original_context_length",
					   (uint32_t)g->rope_orig_ctx, err));
	}
	if (c->arch->rope_dims_and_vocab) {
		FY_TRY(rc, arch_kv(w, a, "rope.dimension_count", (uint32_t)head_dim, err));
		FY_TRY(rc, arch_kv(w, a, "vocab_size", (uint32_t)g->vocab_size, err));
	}
out:
	return rc;
}

/* general.file_type from the 2-D weights' type (llama.cpp's ftype numbering). */
static enum fy_ftype file_type(const struct conv *c)
{
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
static int metadata(struct fy_gguf_writer *w, const struct conv *c, const char *dir,
		    const char *name, size_t *n_vocab, struct fy_err *err)
{
	char dcopy[4096];
	snprintf(dcopy, sizeof(dcopy), "%s", dir);
	int rc = FY_OK;
	FY_TRY(rc, hparams(w, c, name != NULL ? name : basename(dcopy), err));
	FY_TRY(rc, fy_gguf_writer_set_u32(w, "general.file_type", (uint32_t)file_type(c), err));
	FY_TRY(rc, fy_convert_tokenizer(w, dir, &c->cfg, n_vocab, err));
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
		FY_TRY(rc, fy_gguf_writer_add(w, c->t[i].name, c->t[i].type, c->t[i].n_dims,
					      c->t[i].ne, err));
		if (fy_dtype_nbytes(c->t[i].type, c->t[i].ne[0] * c->t[i].ne[1], &bytes))
			rep->out_bytes += bytes;
	}
	rep->n_tensors = c->n;
	FY_TRY(rc, fy_gguf_writer_write(w, out_path, tensor_data, c, err));
out:
	fy_gguf_writer_free(w);
	return rc;
}

static int check_config(struct conv *c, const char *path, struct fy_err *err)
{
	for (size_t i = 0; i < sizeof(archs) / sizeof(archs[0]); i++) {
		if (strcmp(c->cfg.architecture, archs[i].hf) == 0)
			c->arch = &archs[i];
	}
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
	    c->cfg.intermediate_size <= 0 || c->cfg.vocab_size <= 0 || c->cfg.n_layers > 100000)
		return fy_err_set(err, FY_EFORMAT,
				  "%s: needs num_hidden_layers, num_attention_heads, hidden_size, "
				  "intermediate_size and vocab_size",
				  path);
	return FY_OK;
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

void fy_hf_view_free(struct fy_hf_view *v)
{
	if (v == NULL)
		return;
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
		if (c.t[i].scale != NULL) {
			rc = fy_err_set(
				err, FY_EUNSUPPORTED,
				"%s: tensor '%s' is F8_E4M3: convert the checkpoint to GGUF "
				"first",
				dir, c.t[i].src->name);
			goto out;
		}
		memcpy(v->t[i].name, c.t[i].name, sizeof(v->t[i].name));
		v->t[i].src = c.t[i].src;
		v->t[i].n_dims = c.t[i].n_dims;
		memcpy(v->t[i].ne, c.t[i].ne, sizeof(v->t[i].ne));
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
	fy_gguf_writer_free(w);
	free(c.t);
	free(c.rope_freqs);
	fy_st_model_free(c.m);
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
	free(c.t);
	free(c.rope_freqs);
	fy_st_model_free(c.m);
	return rc;
}
