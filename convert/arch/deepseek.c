/*
 * DeepSeek-V3 / R1 and Kimi K2 (DeepseekV3ForCausalLM -> deepseek2, llama.cpp's
 * conversion/deepseek.py): multi-head latent attention (q through a low-rank bottleneck, k and v
 * from a compressed latent, a rotated part shared by every head, stored as adjacent pairs),
 * a mixture with shared experts, leading dense layers and grouped sigmoid routing with a
 * selection bias; the multi-token-prediction layers are left out (as llama.cpp's converter),
 * but for V3.2 and GLM-4.7-Flash, which keep them.
 * FP8 weights with block scales are read by hf2gguf.c.
 */
#include "convert/convert_private.h"

#include <string.h>

static const struct fy_name_pair deepseek32_names[] = {
	{ "self_attn.indexer.wq_b.weight", "indexer.attn_q_b.weight" },
	{ "self_attn.indexer.wk.weight", "indexer.attn_k.weight" },
	{ "self_attn.indexer.k_norm.weight", "indexer.k_norm.weight" },
	{ "self_attn.indexer.k_norm.bias", "indexer.k_norm.bias" },
	{ "self_attn.indexer.weights_proj.weight", "indexer.proj.weight" },
	/* then DeepSeek-V3's */
	{ "self_attn.q_a_proj.weight", "attn_q_a.weight" },
	{ "self_attn.q_a_layernorm.weight", "attn_q_a_norm.weight" },
	{ "self_attn.q_b_proj.weight", "attn_q_b.weight" },
	{ "self_attn.kv_a_proj_with_mqa.weight", "attn_kv_a_mqa.weight" },
	{ "self_attn.kv_a_layernorm.weight", "attn_kv_a_norm.weight" },
	{ "self_attn.kv_b_proj.weight", "attn_kv_b.weight" },
	{ NULL, NULL },
};

static const struct fy_name_pair deepseek_names[] = {
	{ "self_attn.q_a_proj.weight", "attn_q_a.weight" },
	{ "self_attn.q_a_layernorm.weight", "attn_q_a_norm.weight" },
	{ "self_attn.q_b_proj.weight", "attn_q_b.weight" },
	{ "self_attn.kv_a_proj_with_mqa.weight", "attn_kv_a_mqa.weight" },
	{ "self_attn.kv_a_layernorm.weight", "attn_kv_a_norm.weight" },
	{ "self_attn.kv_b_proj.weight", "attn_kv_b.weight" },
	{ NULL, NULL },
};

static int deepseek_check(const struct fy_hf_config *g, const char *path, struct fy_err *err)
{
	if (g->kv_lora_rank <= 0 || g->qk_nope_head_dim <= 0 || g->qk_rope_head_dim <= 0 ||
	    g->qk_rope_head_dim % 2 != 0 || g->v_head_dim <= 0)
		return fy_err_set(err, FY_EFORMAT,
				  "%s: latent attention needs kv_lora_rank, qk_nope_head_dim, an "
				  "even qk_rope_head_dim and v_head_dim",
				  path);
	return fy_check_grouped_routing(g, path, err);
}

/* llama.cpp v0.5.0's conversion/deepseek.py: its common keys (the experts, groups, gating),
 * then latent attention as MQA for the absorbed form: one KV head, key_length = kv_lora_rank +
 * qk_rope_head_dim, value_length = kv_lora_rank, the per-head sizes as key_length_mla and
 * value_length_mla; expert_weights_norm only when true; YaRN's log multiplier whenever
 * rope_scaling gives mscale_all_dim. */
static int deepseek_keys(struct fy_gguf_writer *w, const char *a, const struct fy_hf_config *g,
			 struct fy_err *err)
{
	const int64_t R = g->kv_lora_rank;
	int rc = FY_OK;
	FY_TRY(rc, fy_kv_rope_scaling(w, a, g, false, err));
	FY_TRY(rc, fy_kv_u32(w, a, "expert_count", (uint32_t)g->n_experts, err));
	FY_TRY(rc, fy_kv_u32(w, a, "expert_used_count", (uint32_t)g->n_experts_used, err));
	if (g->n_group > 0)
		FY_TRY(rc, fy_kv_u32(w, a, "expert_group_count", (uint32_t)g->n_group, err));
	if (g->topk_group > 0)
		FY_TRY(rc,
		       fy_kv_u32(w, a, "expert_group_used_count", (uint32_t)g->topk_group, err));
	/* llama.cpp's gating functions: 1 softmax, 2 sigmoid */
	if (g->scoring_func[0] != '\0')
		FY_TRY(rc, fy_kv_u32(w, a, "expert_gating_func",
				     strcmp(g->scoring_func, "sigmoid") == 0 ? 2 : 1, err));
	FY_TRY(rc,
	       fy_kv_u32(w, a, "leading_dense_block_count",
			 (uint32_t)(g->first_k_dense_replace >= 0 ? g->first_k_dense_replace : 0),
			 err));
	FY_TRY(rc, fy_kv_u32(w, a, "vocab_size", (uint32_t)g->vocab_size, err));
	if (g->q_lora_rank > 0)
		FY_TRY(rc, fy_kv_u32(w, a, "attention.q_lora_rank", (uint32_t)g->q_lora_rank, err));
	FY_TRY(rc, fy_kv_u32(w, a, "attention.kv_lora_rank", (uint32_t)R, err));
	FY_TRY(rc,
	       fy_kv_u32(w, a, "attention.key_length", (uint32_t)(R + g->qk_rope_head_dim), err));
	FY_TRY(rc, fy_kv_u32(w, a, "attention.value_length", (uint32_t)R, err));
	FY_TRY(rc, fy_kv_u32(w, a, "attention.key_length_mla",
			     (uint32_t)(g->qk_nope_head_dim + g->qk_rope_head_dim), err));
	FY_TRY(rc, fy_kv_u32(w, a, "attention.value_length_mla", (uint32_t)g->v_head_dim, err));
	FY_TRY(rc, fy_kv_u32(w, a, "expert_feed_forward_length", (uint32_t)g->moe_intermediate_size,
			     err));
	FY_TRY(rc, fy_kv_u32(w, a, "expert_shared_count",
			     (uint32_t)(g->n_shared_experts > 0 ? g->n_shared_experts : 0), err));
	if (g->routed_scaling_factor > 0)
		FY_TRY(rc, fy_kv_f32(w, a, "expert_weights_scale", g->routed_scaling_factor, err));
	if (g->norm_topk_prob == 1)
		FY_TRY(rc, fy_kv_bool(w, a, "expert_weights_norm", true, err));
	FY_TRY(rc, fy_kv_u32(w, a, "rope.dimension_count", (uint32_t)g->qk_rope_head_dim, err));
	if (g->rope_mscale_all_dim > 0)
		FY_TRY(rc, fy_kv_f32(w, a, "rope.scaling.yarn_log_multiplier",
				     0.1 * g->rope_mscale_all_dim, err));
out:
	return rc;
}

/* DeepSeek-V3.2's lightning indexer (its heads, head size, the positions each token keeps) and
 * its next-token-prediction layers, which llama.cpp's converter keeps for V3.2. */
static int deepseek32_check(const struct fy_hf_config *g, const char *path, struct fy_err *err)
{
	if (g->index_n_heads <= 0 || g->index_head_dim < g->qk_rope_head_dim ||
	    g->index_topk <= 0 || g->q_lora_rank <= 0)
		return fy_err_set(
			err, FY_EFORMAT,
			"%s: the lightning indexer needs index_n_heads, index_head_dim (at "
			"least qk_rope_head_dim), index_topk and q_lora_rank",
			path);
	return deepseek_check(g, path, err);
}

/* DeepSeek's keys and the count of next-token-prediction layers kept after the last one. */
static int deepseek_nextn_keys(struct fy_gguf_writer *w, const char *a,
			       const struct fy_hf_config *g, struct fy_err *err)
{
	int rc = FY_OK;
	FY_TRY(rc, deepseek_keys(w, a, g, err));
	if (g->n_nextn_layers > 0)
		FY_TRY(rc,
		       fy_kv_u32(w, a, "nextn_predict_layers", (uint32_t)g->n_nextn_layers, err));
out:
	return rc;
}

static int deepseek32_keys(struct fy_gguf_writer *w, const char *a, const struct fy_hf_config *g,
			   struct fy_err *err)
{
	int rc = FY_OK;
	FY_TRY(rc, deepseek_nextn_keys(w, a, g, err));
	FY_TRY(rc,
	       fy_kv_u32(w, a, "attention.indexer.head_count", (uint32_t)g->index_n_heads, err));
	FY_TRY(rc,
	       fy_kv_u32(w, a, "attention.indexer.key_length", (uint32_t)g->index_head_dim, err));
	FY_TRY(rc, fy_kv_u32(w, a, "attention.indexer.top_k", (uint32_t)g->index_topk, err));
out:
	return rc;
}

const struct fy_hf_arch fy_hf_deepseek32 = {
	.hf = "DeepseekV32ForCausalLM",
	.gguf = "deepseek32",
	.model_type = "deepseek_v32",
	.experts = true,
	.keep_nextn = true,
	.split_kv_b = true,
	.kv_heads_one = true,
	.names = deepseek32_names,
	.check = deepseek32_check,
	.keys = deepseek32_keys,
};

const struct fy_hf_arch fy_hf_deepseek3 = {
	.hf = "DeepseekV3ForCausalLM",
	.gguf = "deepseek2",
	.model_type = "deepseek_v3",
	.experts = true,
	.split_kv_b = true,
	.kv_heads_one = true,
	.names = deepseek_names,
	.check = deepseek_check,
	.keys = deepseek_keys,
};

/* Kimi K2.5: Kimi K2's language model (DeepSeek-V3's layout) under language_model. with its
 * fields in text_config, the routed experts in compressed-tensors int4; the vision tower and
 * projector are left out (hf2gguf.c), as llama.cpp's converter leaves them for an mmproj. */
const struct fy_hf_arch fy_hf_kimi_k25 = {
	.hf = "KimiK25ForConditionalGeneration",
	.gguf = "deepseek2",
	.model_type = "kimi_k25",
	.experts = true,
	.split_kv_b = true,
	.kv_heads_one = true,
	.names = deepseek_names,
	.check = deepseek_check,
	.keys = deepseek_keys,
};

/*
 * GLM-4.7-Flash (Glm4MoeLiteForCausalLM -> deepseek2, llama.cpp's conversion/glm.py
 * Glm4MoeLiteModel): DeepSeek-V3's layout whole (latent attention, shared expert, a leading
 * dense layer, grouped sigmoid routing with a selection bias) with GLM's vocabulary and special
 * tokens, and its next-token-prediction layer kept (blk.N.nextn.*, nextn_predict_layers).
 * config.json names no scoring function: ferry writes sigmoid's expert_gating_func, which
 * llama.cpp's converter leaves out (its engine recognises the model by its 47 layers and its
 * 154,880 tokens instead; infer/arch/deepseek2.c does the same for such files).
 */
const struct fy_hf_arch fy_hf_glm4moe_lite = {
	.hf = "Glm4MoeLiteForCausalLM",
	.gguf = "deepseek2",
	.model_type = "glm4_moe_lite",
	.experts = true,
	.keep_nextn = true,
	.split_kv_b = true,
	.kv_heads_one = true,
	.names = deepseek_names,
	.bpe_pre = "glm4",
	.special_tokens = fy_glm_specials,
	.scoring = "sigmoid",
	.check = deepseek_check,
	.keys = deepseek_nextn_keys,
};
