/*
 * The converter's architecture table: one row per Hugging Face architecture, each defined in
 * convert/arch/FAMILY.c with its own tensor names, keys and refusals (as llama.cpp's
 * conversion/FAMILY.py); the names every family shares and the key writers the families
 * compose their keys from. Adding a family is a file in convert/arch/ and a line here.
 */
#include "convert/convert_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* clang-format off */
extern const struct fy_hf_arch fy_hf_llama, fy_hf_mistral;	/* arch/llama.c */
extern const struct fy_hf_arch fy_hf_qwen2, fy_hf_qwen3, fy_hf_qwen3moe,
	fy_hf_qwen3next, fy_hf_qwen35, fy_hf_qwen35_causal, fy_hf_qwen35moe,
	fy_hf_qwen35moe_causal; /* arch/qwen.c */
extern const struct fy_hf_arch fy_hf_deepseek3, fy_hf_deepseek32, fy_hf_kimi_k25,
	fy_hf_glm4moe_lite; /* arch/deepseek.c */
extern const struct fy_hf_arch fy_hf_glm4moe, fy_hf_glm4;		/* arch/glm.c */
extern const struct fy_hf_arch fy_hf_minimax_m2;			/* arch/minimax.c */
extern const struct fy_hf_arch fy_hf_minimax_m1;			/* arch/minimax.c */
extern const struct fy_hf_arch fy_hf_minimax_text01;			/* arch/minimax.c */
extern const struct fy_hf_arch fy_hf_kimi_linear;			/* arch/kimi_linear.c */
extern const struct fy_hf_arch fy_hf_deepseek4;			/* arch/deepseek4.c */

const struct fy_hf_arch *const fy_hf_archs[] = {
	&fy_hf_llama,
	&fy_hf_mistral,
	&fy_hf_qwen2,
	&fy_hf_qwen3,
	&fy_hf_qwen3moe,
	&fy_hf_qwen3next,
	&fy_hf_qwen35,
	&fy_hf_qwen35_causal,
	&fy_hf_qwen35moe,
	&fy_hf_qwen35moe_causal,
	&fy_hf_deepseek3,
	&fy_hf_deepseek32,
	&fy_hf_kimi_k25,
	&fy_hf_glm4moe_lite,
	&fy_hf_glm4moe,
	&fy_hf_glm4,
	&fy_hf_minimax_m2,
	&fy_hf_minimax_m1,
	&fy_hf_minimax_text01,
	&fy_hf_kimi_linear,
	&fy_hf_deepseek4,
	NULL,
};
/* clang-format on */

const struct fy_hf_arch *fy_convert_arch_of_hf(const char *hf)
{
	for (size_t i = 0; fy_hf_archs[i] != NULL; i++) {
		if (strcmp(fy_hf_archs[i]->hf, hf) == 0)
			return fy_hf_archs[i];
	}
	return NULL;
}

const char *fy_convert_gguf_arch(const char *hf_arch)
{
	const struct fy_hf_arch *a = fy_convert_arch_of_hf(hf_arch);
	return a != NULL ? a->gguf : NULL;
}

const struct fy_hf_arch *fy_convert_arch_of_gguf(const char *gguf)
{
	for (size_t i = 0; fy_hf_archs[i] != NULL; i++) {
		if (strcmp(fy_hf_archs[i]->gguf, gguf) == 0)
			return fy_hf_archs[i];
	}
	return NULL;
}

const char *fy_convert_archs(void)
{
	static char list[1024];
	if (list[0] == '\0') {
		size_t n = 0;
		for (size_t i = 0; fy_hf_archs[i] != NULL && n < sizeof(list); i++)
			n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", i > 0 ? ", " : "",
					      fy_hf_archs[i]->hf);
	}
	return list;
}

/* HF per-layer suffix -> GGUF per-layer suffix: what every family shares. */
static const struct fy_name_pair common_names[] = {
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
	/* mixtures of experts (the experts themselves are stacked by hf2gguf.c) */
	{ "mlp.gate.weight", "ffn_gate_inp.weight" },
	{ "mlp.gate.e_score_correction_bias", "exp_probs_b.bias" },
	{ "mlp.shared_experts.gate_proj.weight", "ffn_gate_shexp.weight" },
	{ "mlp.shared_experts.up_proj.weight", "ffn_up_shexp.weight" },
	{ "mlp.shared_experts.down_proj.weight", "ffn_down_shexp.weight" },
	/* Qwen's one shared expert (Qwen3-Next, Qwen3.5-MoE) and its sigmoid gate */
	{ "mlp.shared_expert.gate_proj.weight", "ffn_gate_shexp.weight" },
	{ "mlp.shared_expert.up_proj.weight", "ffn_up_shexp.weight" },
	{ "mlp.shared_expert.down_proj.weight", "ffn_down_shexp.weight" },
	{ "mlp.shared_expert_gate.weight", "ffn_gate_inp_shexp.weight" },
	/* a multi-token-prediction layer's own tensors (families that keep it: keep_nextn) */
	{ "eh_proj.weight", "nextn.eh_proj.weight" },
	{ "enorm.weight", "nextn.enorm.weight" },
	{ "hnorm.weight", "nextn.hnorm.weight" },
	{ "embed_tokens.weight", "nextn.embed_tokens.weight" },
	{ "shared_head.head.weight", "nextn.shared_head_head.weight" },
	{ "shared_head.norm.weight", "nextn.shared_head_norm.weight" },
	{ NULL, NULL },
};

static const char *lookup(const struct fy_name_pair *p, const char *key, bool from_hf)
{
	for (; p != NULL && p->hf != NULL; p++) {
		if (strcmp(from_hf ? p->hf : p->gguf, key) == 0)
			return from_hf ? p->gguf : p->hf;
	}
	return NULL;
}

const char *fy_convert_layer_hf(const struct fy_hf_arch *a, const char *gguf_suffix)
{
	const char *s = lookup(a->names, gguf_suffix, false);
	return s != NULL ? s : lookup(common_names, gguf_suffix, false);
}

const char *fy_convert_layer_gguf(const struct fy_hf_arch *a, const char *hf_suffix)
{
	const char *s = lookup(a->names, hf_suffix, true);
	return s != NULL ? s : lookup(common_names, hf_suffix, true);
}

/* --- key writers ---------------------------------------------------------------------------- */

int fy_kv_u32(struct fy_gguf_writer *w, const char *arch, const char *suffix, uint32_t v,
	      struct fy_err *err)
{
	char key[128];
	snprintf(key, sizeof(key), "%s.%s", arch, suffix);
	return fy_gguf_writer_set_u32(w, key, v, err);
}

int fy_kv_f32(struct fy_gguf_writer *w, const char *arch, const char *suffix, double v,
	      struct fy_err *err)
{
	char key[128];
	struct fy_gguf_value val = { .type = FY_GGUF_F32, .f = v };
	snprintf(key, sizeof(key), "%s.%s", arch, suffix);
	return fy_gguf_writer_set(w, key, &val, err);
}

int fy_kv_bool(struct fy_gguf_writer *w, const char *arch, const char *suffix, bool v,
	       struct fy_err *err)
{
	char key[128];
	struct fy_gguf_value val = { .type = FY_GGUF_BOOL, .b = v };
	snprintf(key, sizeof(key), "%s.%s", arch, suffix);
	return fy_gguf_writer_set(w, key, &val, err);
}

int fy_kv_bool_array(struct fy_gguf_writer *w, const char *arch, const char *suffix, int64_t n,
		     const bool *src, int64_t n_src, struct fy_err *err)
{
	uint8_t *v = calloc((size_t)(n > 0 ? n : 1), 1);
	char key[128];
	if (v == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	for (int64_t i = 0; i < n_src && i < n; i++)
		v[i] = src[i];
	snprintf(key, sizeof(key), "%s.%s", arch, suffix);
	const int rc = fy_gguf_writer_set_array(w, key, FY_GGUF_BOOL, (uint64_t)n, v, err);
	free(v);
	return rc;
}

int fy_kv_head_dim(struct fy_gguf_writer *w, const char *arch, const struct fy_hf_config *g,
		   struct fy_err *err)
{
	int rc = FY_OK;
	if (g->head_dim > 0) {
		FY_TRY(rc, fy_kv_u32(w, arch, "attention.key_length", (uint32_t)g->head_dim, err));
		FY_TRY(rc,
		       fy_kv_u32(w, arch, "attention.value_length", (uint32_t)g->head_dim, err));
	}
out:
	return rc;
}

int fy_kv_experts(struct fy_gguf_writer *w, const char *arch, const struct fy_hf_config *g,
		  struct fy_err *err)
{
	int rc = FY_OK;
	FY_TRY(rc, fy_kv_u32(w, arch, "expert_count", (uint32_t)g->n_experts, err));
	FY_TRY(rc, fy_kv_u32(w, arch, "expert_used_count", (uint32_t)g->n_experts_used, err));
	FY_TRY(rc, fy_kv_u32(w, arch, "expert_feed_forward_length",
			     (uint32_t)g->moe_intermediate_size, err));
	if (g->norm_topk_prob >= 0)
		FY_TRY(rc, fy_kv_bool(w, arch, "expert_weights_norm", g->norm_topk_prob == 1, err));
out:
	return rc;
}

int fy_kv_rope_scaling(struct fy_gguf_writer *w, const char *arch, const struct fy_hf_config *g,
		       bool log_mul, struct fy_err *err)
{
	const bool yarn = strcmp(g->rope_type, "yarn") == 0;
	char key[128];
	int rc = FY_OK;
	if (!yarn && strcmp(g->rope_type, "linear") != 0)
		return FY_OK;
	snprintf(key, sizeof(key), "%s.rope.scaling.type", arch);
	FY_TRY(rc, fy_gguf_writer_set_str(w, key, g->rope_type, err));
	FY_TRY(rc, fy_kv_f32(w, arch, "rope.scaling.factor",
			     g->rope_factor > 0 ? g->rope_factor : 1.0, err));
	if (!yarn)
		goto out;
	if (g->rope_orig_ctx > 0)
		FY_TRY(rc, fy_kv_u32(w, arch, "rope.scaling.original_context_length",
				     (uint32_t)g->rope_orig_ctx, err));
	/* YaRN's extras: the softmax scale's log multiplier and the ramp's bounds */
	if (log_mul && g->rope_mscale_all_dim > 0)
		FY_TRY(rc, fy_kv_f32(w, arch, "rope.scaling.yarn_log_multiplier",
				     0.1 * g->rope_mscale_all_dim, err));
	if (g->rope_beta_fast > 0)
		FY_TRY(rc,
		       fy_kv_f32(w, arch, "rope.scaling.yarn_beta_fast", g->rope_beta_fast, err));
	if (g->rope_beta_slow > 0)
		FY_TRY(rc,
		       fy_kv_f32(w, arch, "rope.scaling.yarn_beta_slow", g->rope_beta_slow, err));
out:
	return rc;
}

int fy_kv_rope_dims_vocab(struct fy_gguf_writer *w, const char *arch, const struct fy_hf_config *g,
			  int64_t n, struct fy_err *err)
{
	int rc = FY_OK;
	FY_TRY(rc, fy_kv_u32(w, arch, "rope.dimension_count", (uint32_t)n, err));
	FY_TRY(rc, fy_kv_u32(w, arch, "vocab_size", (uint32_t)g->vocab_size, err));
out:
	return rc;
}

/* --- refusals ------------------------------------------------------------------------------- */

int fy_check_experts(const struct fy_hf_arch *a, const struct fy_hf_config *g, const char *path,
		     struct fy_err *err)
{
	const int64_t width = a->expert_ff_is_ff ? g->intermediate_size : g->moe_intermediate_size;
	if (g->n_experts <= 0 || g->n_experts > 65536 || g->n_experts_used <= 0 ||
	    g->n_experts_used > g->n_experts || width <= 0)
		return fy_err_set(
			err, FY_EFORMAT,
			"%s: a mixture of experts needs 1 <= num_experts_per_tok <= "
			"the expert count and %s",
			path, a->expert_ff_is_ff ? "intermediate_size" : "moe_intermediate_size");
	if (g->n_mlp_only_layers > 0 || g->decoder_sparse_step > 1)
		return fy_err_set(err, FY_EUNSUPPORTED,
				  "%s: dense layers among the sparse ones (mlp_only_layers, "
				  "decoder_sparse_step > 1) are not supported",
				  path);
	return FY_OK;
}

int fy_check_grouped_routing(const struct fy_hf_config *g, const char *path, struct fy_err *err)
{
	const int64_t groups = g->n_group > 0 ? g->n_group : 1;
	const int64_t kept = g->topk_group > 0 ? g->topk_group : groups;
	if (groups > 256 || g->n_experts % groups != 0 || kept > groups ||
	    g->n_experts_used > kept * (g->n_experts / groups))
		return fy_err_set(
			err, FY_EFORMAT,
			"%s: %lld experts in n_group %lld groups, topk_group %lld of them "
			"kept, cannot give num_experts_per_tok %lld",
			path, (long long)g->n_experts, (long long)groups, (long long)kept,
			(long long)g->n_experts_used);
	if (g->scoring_func[0] != '\0' && strcmp(g->scoring_func, "sigmoid") != 0 &&
	    strcmp(g->scoring_func, "softmax") != 0)
		return fy_err_set(err, FY_EUNSUPPORTED,
				  "%s: scoring_func '%s' is not supported (sigmoid, softmax)", path,
				  g->scoring_func);
	return FY_OK;
}
