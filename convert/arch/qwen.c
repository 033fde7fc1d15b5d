/*
 * Qwen2, Qwen3 and Qwen3-MoE (llama.cpp's conversion/qwen.py): NEOX rope, q/k not permuted;
 * qwen2 carries q/k/v biases, qwen3 per-head q/k norms and always an explicit head_dim;
 * Qwen3-MoE's experts are stacked, softmax routing renormalized as norm_topk_prob says.
 */
#include "convert/convert_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int qwen_keys(struct fy_gguf_writer *w, const char *a, const struct fy_hf_config *g,
		     struct fy_err *err)
{
	int rc = FY_OK;
	FY_TRY(rc, fy_kv_head_dim(w, a, g, err));
	FY_TRY(rc, fy_kv_rope_scaling(w, a, g, false, err));
out:
	return rc;
}

static int qwen3moe_keys(struct fy_gguf_writer *w, const char *a, const struct fy_hf_config *g,
			 struct fy_err *err)
{
	int rc = FY_OK;
	FY_TRY(rc, fy_kv_head_dim(w, a, g, err));
	FY_TRY(rc, fy_kv_experts(w, a, g, err));
	FY_TRY(rc, fy_kv_rope_scaling(w, a, g, false, err));
out:
	return rc;
}

const struct fy_hf_arch fy_hf_qwen2 = {
	.hf = "Qwen2ForCausalLM",
	.gguf = "qwen2",
	.model_type = "qwen2",
	.keys = qwen_keys,
};

const struct fy_hf_arch fy_hf_qwen3 = {
	.hf = "Qwen3ForCausalLM",
	.gguf = "qwen3",
	.model_type = "qwen3",
	.explicit_head_dim = true,
	.keys = qwen_keys,
};

const struct fy_hf_arch fy_hf_qwen3moe = {
	.hf = "Qwen3MoeForCausalLM",
	.gguf = "qwen3moe",
	.model_type = "qwen3_moe",
	.explicit_head_dim = true,
	.experts = true,
	.keys = qwen3moe_keys,
};

/*
 * Qwen3-Next (Qwen3NextForCausalLM -> qwen3next, llama.cpp's Qwen3NextModel): Gated DeltaNet
 * layers (linear_attn.*: in_proj_qkvz regrouped into attn_qkv and attn_gate, in_proj_ba,
 * the depthwise conv1d squeezed, dt_bias, A_log written as -exp(A_log), the gated norm,
 * out_proj) and, every full_attention_interval-th layer, gated attention (q_proj twice as wide:
 * each head's query and gate); every layer a mixture with a shared expert behind its own
 * sigmoid gate (shared_expert_gate -> ffn_gate_inp_shexp). The norms other than the gated one
 * are stored as an offset from 1 and written as 1 + w. The next-token-prediction block (mtp.*)
 * is kept as the layer after the last, as llama.cpp's converter keeps it.
 */
static const struct fy_name_pair linear_attn_names[] = {
	{ "post_attention_layernorm.weight", "post_attention_norm.weight" },
	{ "linear_attn.in_proj_qkvz.weight", "attn_qkvz.weight" }, /* Qwen3-Next's, split */
	{ "linear_attn.in_proj_ba.weight", "ssm_ba.weight" },
	{ "linear_attn.in_proj_qkv.weight", "attn_qkv.weight" }, /* Qwen3.5's, apart */
	{ "linear_attn.in_proj_z.weight", "attn_gate.weight" },
	{ "linear_attn.in_proj_b.weight", "ssm_beta.weight" },
	{ "linear_attn.in_proj_a.weight", "ssm_alpha.weight" },
	{ "linear_attn.conv1d.weight", "ssm_conv1d.weight" },
	{ "linear_attn.dt_bias", "ssm_dt.bias" },
	{ "linear_attn.A_log", "ssm_a" },
	{ "linear_attn.norm.weight", "ssm_norm.weight" },
	{ "linear_attn.out_proj.weight", "ssm_out.weight" },
	{ NULL, NULL },
};

/* mtp.layers.K.* is layer num_hidden_layers + K; mtp.fc, mtp.pre_fc_norm_{embedding,hidden}
 * and mtp.norm are that layer's eh_proj, enorm, hnorm and shared_head.norm. */
static bool qwen3next_rename(const struct fy_hf_config *g, const char *hf, char *out, size_t cap)
{
	static const struct fy_name_pair own[] = {
		{ "mtp.fc.weight", "eh_proj.weight" },
		{ "mtp.pre_fc_norm_embedding.weight", "enorm.weight" },
		{ "mtp.pre_fc_norm_hidden.weight", "hnorm.weight" },
		{ "mtp.norm.weight", "shared_head.norm.weight" },
		{ NULL, NULL },
	};
	if (strncmp(hf, "model.mtp.", 10) == 0)
		hf += 6;
	for (const struct fy_name_pair *p = own; p->hf != NULL; p++) {
		if (strcmp(hf, p->hf) == 0)
			return snprintf(out, cap, "model.layers.%lld.%s", (long long)g->n_layers,
					p->gguf) < (int)cap;
	}
	char *end = NULL;
	if (strncmp(hf, "mtp.layers.", 11) != 0)
		return false;
	const long k = strtol(hf + 11, &end, 10);
	if (end == hf + 11 || *end != '.' || k < 0 || k >= 64)
		return false;
	return snprintf(out, cap, "model.layers.%lld%s", (long long)g->n_layers + (long long)k,
			end) < (int)cap;
}

static unsigned qwen3next_ops(const char *gguf)
{
	const size_t n = strlen(gguf);
	if (n > 6 && strcmp(gguf + n - 6, ".ssm_a") == 0)
		return FY_TOP_NEG_EXP;
	if (strstr(gguf, ".ssm_conv1d.") != NULL)
		return FY_TOP_SQUEEZE;
	if (n > 11 && strcmp(gguf + n - 11, "norm.weight") == 0 &&
	    strstr(gguf, ".ssm_norm.") == NULL)
		return FY_TOP_PLUS_ONE;
	return 0;
}

/* The linear-attention fields every family of this file needs (family names it in the error),
 * and layer_types, when given, one per layer. */
static int check_linear(const struct fy_hf_config *g, const char *path, const char *family,
			struct fy_err *err)
{
	if (g->linear_conv_kernel <= 0 || g->linear_key_dim <= 0 || g->linear_value_dim <= 0 ||
	    g->linear_key_heads <= 0 || g->linear_value_heads <= 0 ||
	    g->linear_value_heads % g->linear_key_heads != 0 || g->head_dim <= 0)
		return fy_err_set(err, FY_EFORMAT,
				  "%s: %s needs linear_conv_kernel_dim, linear_key_head_dim, "
				  "linear_value_head_dim, linear_num_key_heads dividing "
				  "linear_num_value_heads and head_dim",
				  path, family);
	if (g->n_layer_types >= 0 && g->n_layer_types != g->n_layers)
		return fy_err_set(err, FY_EFORMAT,
				  "%s: layer_types has %lld entries, num_hidden_layers is %lld",
				  path, (long long)g->n_layer_types, (long long)g->n_layers);
	return FY_OK;
}

static int qwen3next_check(const struct fy_hf_config *g, const char *path, struct fy_err *err)
{
	int rc = check_linear(g, path, "Qwen3-Next", err);
	if (rc == FY_OK && (g->moe_intermediate_size <= 0 || g->shared_expert_size <= 0))
		rc = fy_err_set(err, FY_EFORMAT,
				"%s: Qwen3-Next needs moe_intermediate_size and "
				"shared_expert_intermediate_size",
				path);
	return rc;
}

static int linear_attn_keys(struct fy_gguf_writer *w, const char *a, const struct fy_hf_config *g,
			    bool experts, bool mrope_default, struct fy_err *err);

/* llama.cpp v0.5.0's keys for qwen3next (Qwen2MoeModel's, the MTP mixin's, its own). */
static int qwen3next_keys(struct fy_gguf_writer *w, const char *a, const struct fy_hf_config *g,
			  struct fy_err *err)
{
	return linear_attn_keys(w, a, g, true, false, err);
}

const struct fy_hf_arch fy_hf_qwen3next = {
	.hf = "Qwen3NextForCausalLM",
	.gguf = "qwen3next",
	.model_type = "qwen3_next",
	.explicit_head_dim = true,
	.experts = true,
	.keep_nextn = true,
	.names = linear_attn_names,
	.expert_prefix = "mlp.experts.",
	.rename = qwen3next_rename,
	.tensor_ops = qwen3next_ops,
	.split_qkvz = true,
	.check = qwen3next_check,
	.keys = qwen3next_keys,
};

/*
 * Qwen3.5 (Qwen3_5ForConditionalGeneration / Qwen3_5ForCausalLM -> qwen35, llama.cpp's
 * Qwen3_5TextModel): Qwen3-Next's layers with the Gated DeltaNet projections stored apart
 * (in_proj_qkv -> attn_qkv, in_proj_z -> attn_gate, in_proj_b -> ssm_beta, in_proj_a ->
 * ssm_alpha), the value heads reordered from grouped by key head to tiled, dense MLPs, and
 * interleaved MRoPE (rope.dimension_sections; text runs it as plain NEOX RoPE). The multimodal
 * checkpoint's language model lies under model.language_model. (its vision tower is left out,
 * as llama.cpp's converter leaves it for an mmproj file); which layers are linear comes from
 * layer_types (attention.recurrent_layers) when config.json gives it.
 */

static int qwen35_check(const struct fy_hf_config *g, const char *path, struct fy_err *err)
{
	return check_linear(g, path, "Qwen3.5", err);
}

/* llama.cpp v0.5.0's keys for qwen3next, qwen35 and qwen35moe: Qwen3NextModel's (the
 * experts' for a mixture, the MTP mixin's, which layers are linear when config.json names them)
 * and, for Qwen3.5, the MRoPE mixin's default sections when config.json has none. */
static int linear_attn_keys(struct fy_gguf_writer *w, const char *a, const struct fy_hf_config *g,
			    bool experts, bool mrope_default, struct fy_err *err)
{
	const double prf = g->partial_rotary_factor > 0 ? g->partial_rotary_factor : 0.25;
	int rc = FY_OK;
	if (experts) {
		FY_TRY(rc, fy_kv_u32(w, a, "expert_count", (uint32_t)g->n_experts, err));
		FY_TRY(rc, fy_kv_u32(w, a, "expert_used_count", (uint32_t)g->n_experts_used, err));
	}
	FY_TRY(rc, fy_kv_head_dim(w, a, g, err));
	FY_TRY(rc, fy_kv_rope_scaling(w, a, g, false, err));
	if (experts) {
		FY_TRY(rc, fy_kv_u32(w, a, "expert_feed_forward_length",
				     (uint32_t)g->moe_intermediate_size, err));
		if (g->shared_expert_size > 0)
			FY_TRY(rc, fy_kv_u32(w, a, "expert_shared_feed_forward_length",
					     (uint32_t)g->shared_expert_size, err));
	}
	if (g->n_nextn_layers > 0)
		FY_TRY(rc,
		       fy_kv_u32(w, a, "nextn_predict_layers", (uint32_t)g->n_nextn_layers, err));
	FY_TRY(rc, fy_kv_u32(w, a, "ssm.conv_kernel", (uint32_t)g->linear_conv_kernel, err));
	FY_TRY(rc, fy_kv_u32(w, a, "ssm.state_size", (uint32_t)g->linear_key_dim, err));
	FY_TRY(rc, fy_kv_u32(w, a, "ssm.group_count", (uint32_t)g->linear_key_heads, err));
	FY_TRY(rc, fy_kv_u32(w, a, "ssm.time_step_rank", (uint32_t)g->linear_value_heads, err));
	FY_TRY(rc, fy_kv_u32(w, a, "ssm.inner_size",
			     (uint32_t)(g->linear_value_dim * g->linear_value_heads), err));
	if (g->n_layer_types >= 0)
		FY_TRY(rc, fy_kv_bool_array(w, a, "attention.recurrent_layers",
					    g->n_layers +
						    (g->n_nextn_layers > 0 ? g->n_nextn_layers : 0),
					    g->linear_layer, g->n_layer_types, err));
	FY_TRY(rc, fy_kv_u32(w, a, "full_attention_interval",
			     (uint32_t)(g->full_attention_interval > 0 ? g->full_attention_interval
								       : 4),
			     err));
	FY_TRY(rc, fy_kv_u32(w, a, "rope.dimension_count", (uint32_t)(g->head_dim * prf), err));
	if (mrope_default && g->n_mrope == 0) {
		static const uint8_t sections[16] = { 11, 0, 0, 0, 11, 0, 0, 0,
						      10, 0, 0, 0, 0,  0, 0, 0 };
		char key[96];
		snprintf(key, sizeof(key), "%s.rope.dimension_sections", a);
		FY_TRY(rc, fy_gguf_writer_set_array(w, key, FY_GGUF_I32, 4, sections, err));
	}
out:
	return rc;
}

static int qwen35_keys(struct fy_gguf_writer *w, const char *a, const struct fy_hf_config *g,
		       struct fy_err *err)
{
	return linear_attn_keys(w, a, g, false, true, err);
}

static int qwen35moe_keys(struct fy_gguf_writer *w, const char *a, const struct fy_hf_config *g,
			  struct fy_err *err)
{
	return linear_attn_keys(w, a, g, true, true, err);
}

static int qwen35moe_check(const struct fy_hf_config *g, const char *path, struct fy_err *err)
{
	int rc = check_linear(g, path, "Qwen3.5-MoE", err);
	if (rc == FY_OK && g->moe_intermediate_size <= 0)
		rc = fy_err_set(err, FY_EFORMAT, "%s: Qwen3.5-MoE needs moe_intermediate_size",
				path);
	return rc;
}

#define QWEN35MOE_ROW(hf_name)                                                                     \
	{                                                                                          \
		.hf = hf_name, .gguf = "qwen35moe", .model_type = "qwen3_5_moe",                   \
		.explicit_head_dim = true, .experts = true, .keep_nextn = true,                    \
		.names = linear_attn_names, .expert_prefix = "mlp.experts.",                       \
		.rename = qwen3next_rename, .tensor_ops = qwen3next_ops, .vhead_reorder = true,    \
		.check = qwen35moe_check, .keys = qwen35moe_keys, .no_dense = true,                \
	}

const struct fy_hf_arch fy_hf_qwen35moe = QWEN35MOE_ROW("Qwen3_5MoeForConditionalGeneration");
const struct fy_hf_arch fy_hf_qwen35moe_causal = QWEN35MOE_ROW("Qwen3_5MoeForCausalLM");

#define QWEN35_ROW(hf_name)                                                                        \
	{                                                                                          \
		.hf = hf_name, .gguf = "qwen35", .model_type = "qwen3_5",                          \
		.explicit_head_dim = true, .keep_nextn = true, .names = linear_attn_names,         \
		.rename = qwen3next_rename, .tensor_ops = qwen3next_ops, .vhead_reorder = true,    \
		.check = qwen35_check, .keys = qwen35_keys,                                        \
	}

const struct fy_hf_arch fy_hf_qwen35 = QWEN35_ROW("Qwen3_5ForConditionalGeneration");
const struct fy_hf_arch fy_hf_qwen35_causal = QWEN35_ROW("Qwen3_5ForCausalLM");
