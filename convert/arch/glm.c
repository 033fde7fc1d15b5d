/*
 * GLM-4.5, 4.6 and 4.7 (Glm4MoeForCausalLM -> glm4moe, llama.cpp's conversion/glm.py): grouped-
 * query attention with q/k/v biases, optional per-head q/k norms and RoPE on the first half of
 * each head (partial_rotary_factor, NEOX order: not permuted); the feed-forward's norm is named
 * post_attention_norm; leading dense layers, then a mixture with one shared expert and sigmoid
 * routing with a selection bias. The next-token-prediction layer stored after the last one is
 * kept (blk.N.nextn.*, counted in block_count, nextn_predict_layers) as llama.cpp's converter
 * keeps it. The vocabulary is GLM's byte-level BPE ("glm4" pre-tokenizer) with [gMASK] as BOS,
 * <|user|> ending a turn and <|observation|> a message.
 */
#include "convert/convert_private.h"

static const struct fy_name_pair glm4moe_names[] = {
	{ "post_attention_layernorm.weight", "post_attention_norm.weight" },
	{ NULL, NULL },
};

/* GLM's fixed special tokens (llama.cpp's _set_vocab_glm), also GLM-4.7-Flash's (arch/deepseek.c)
 */
const struct fy_name_pair fy_glm_specials[] = {
	{ "[gMASK]", "bos" },	      { "<|user|>", "eot" }, { "<|endoftext|>", "unknown" },
	{ "<|observation|>", "eom" }, { NULL, NULL },
};

/* The rotated dimensions of a head: head_dim x partial_rotary_factor (GLM's default 0.5). */
static int64_t glm_rot(const struct fy_hf_config *g)
{
	const int64_t head_dim = g->head_dim > 0 ? g->head_dim : g->hidden_size / g->n_heads;
	const double part = g->partial_rotary_factor > 0 ? g->partial_rotary_factor : 0.5;
	return part > 1 ? -1 : (int64_t)(head_dim * part);
}

/* Both GLM rows: the rotated share must be an even number of dimensions. */
static int glm_check(const struct fy_hf_config *g, const char *path, struct fy_err *err)
{
	const int64_t rot = glm_rot(g);
	if (rot < 2 || rot % 2 != 0)
		return fy_err_set(
			err, FY_EFORMAT,
			"%s: partial_rotary_factor %g of a %lld-wide head is not an even "
			"number of dimensions",
			path, g->partial_rotary_factor > 0 ? g->partial_rotary_factor : 0.5,
			(long long)(g->head_dim > 0 ? g->head_dim : g->hidden_size / g->n_heads));
	return FY_OK;
}

static int glm4moe_check(const struct fy_hf_config *g, const char *path, struct fy_err *err)
{
	int rc = FY_OK;
	FY_TRY(rc, glm_check(g, path, err));
	FY_TRY(rc, fy_check_grouped_routing(g, path, err));
out:
	return rc;
}

static int glm4moe_keys(struct fy_gguf_writer *w, const char *a, const struct fy_hf_config *g,
			struct fy_err *err)
{
	int rc = FY_OK;
	FY_TRY(rc, fy_kv_u32(w, a, "expert_count", (uint32_t)g->n_experts, err));
	FY_TRY(rc, fy_kv_u32(w, a, "expert_used_count", (uint32_t)g->n_experts_used, err));
	if (g->n_group > 0)
		FY_TRY(rc, fy_kv_u32(w, a, "expert_group_count", (uint32_t)g->n_group, err));
	if (g->topk_group > 0)
		FY_TRY(rc,
		       fy_kv_u32(w, a, "expert_group_used_count", (uint32_t)g->topk_group, err));
	FY_TRY(rc, fy_kv_head_dim(w, a, g, err));
	FY_TRY(rc, fy_kv_rope_scaling(w, a, g, false, err));
	FY_TRY(rc, fy_kv_u32(w, a, "rope.dimension_count", (uint32_t)glm_rot(g), err));
	FY_TRY(rc, fy_kv_u32(w, a, "expert_feed_forward_length", (uint32_t)g->moe_intermediate_size,
			     err));
	if (g->n_shared_experts >= 0)
		FY_TRY(rc,
		       fy_kv_u32(w, a, "expert_shared_count", (uint32_t)g->n_shared_experts, err));
	if (g->first_k_dense_replace >= 0)
		FY_TRY(rc, fy_kv_u32(w, a, "leading_dense_block_count",
				     (uint32_t)g->first_k_dense_replace, err));
	FY_TRY(rc, fy_kv_u32(w, a, "expert_gating_func", 2, err)); /* sigmoid, always */
	if (g->routed_scaling_factor > 0)
		FY_TRY(rc, fy_kv_f32(w, a, "expert_weights_scale", g->routed_scaling_factor, err));
	if (g->norm_topk_prob >= 0)
		FY_TRY(rc, fy_kv_bool(w, a, "expert_weights_norm", g->norm_topk_prob == 1, err));
	if (g->n_nextn_layers > 0)
		FY_TRY(rc,
		       fy_kv_u32(w, a, "nextn_predict_layers", (uint32_t)g->n_nextn_layers, err));
out:
	return rc;
}

const struct fy_hf_arch fy_hf_glm4moe = {
	.hf = "Glm4MoeForCausalLM",
	.gguf = "glm4moe",
	.model_type = "glm4_moe",
	.explicit_head_dim = true,
	.experts = true,
	.keep_nextn = true,
	.names = glm4moe_names,
	.bpe_pre = "glm4",
	.special_tokens = fy_glm_specials,
	.scoring = "sigmoid",
	.check = glm4moe_check,
	.keys = glm4moe_keys,
};

/*
 * GLM-4 dense (Glm4ForCausalLM -> glm4: GLM-4-9B/32B-0414): four norms a layer
 * (post_self_attn_layernorm -> post_attention_norm, post_mlp_layernorm -> post_ffw_norm, around
 * the attention and the feed-forward), q/k/v biases, the fused gate_up_proj kept whole as
 * ffn_up (llama.cpp splits it at run time), RoPE on half of each head in adjacent pairs (not
 * permuted); GLM's vocabulary with <|endoftext|> as BOS, EOS and UNK and <|user|> ending a turn.
 */
static const struct fy_name_pair glm4_names[] = {
	{ "post_self_attn_layernorm.weight", "post_attention_norm.weight" },
	{ "post_mlp_layernorm.weight", "post_ffw_norm.weight" },
	{ "mlp.gate_up_proj.weight", "ffn_up.weight" },
	{ NULL, NULL },
};

static const struct fy_name_pair glm4_specials[] = {
	{ "<|endoftext|>", "eos" }, { "<|user|>", "eot" }, { "<|endoftext|>", "unknown" },
	{ "<|endoftext|>", "bos" }, { NULL, NULL },
};

static int glm4_keys(struct fy_gguf_writer *w, const char *a, const struct fy_hf_config *g,
		     struct fy_err *err)
{
	int rc = FY_OK;
	FY_TRY(rc, fy_kv_head_dim(w, a, g, err));
	FY_TRY(rc, fy_kv_rope_scaling(w, a, g, false, err));
	FY_TRY(rc, fy_kv_u32(w, a, "rope.dimension_count", (uint32_t)glm_rot(g), err));
out:
	return rc;
}

const struct fy_hf_arch fy_hf_glm4 = {
	.hf = "Glm4ForCausalLM",
	.gguf = "glm4",
	.model_type = "glm4",
	.explicit_head_dim = true,
	.names = glm4_names,
	.bpe_pre = "glm4",
	.special_tokens = glm4_specials,
	.check = glm_check,
	.keys = glm4_keys,
};
