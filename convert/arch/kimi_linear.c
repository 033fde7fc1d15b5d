/*
 * Kimi-Linear (KimiLinearForCausalLM -> kimi-linear, llama.cpp's conversion/kimi_linear.py):
 * Kimi Delta Attention in most layers and latent attention without RoPE in the layers
 * linear_attn_config.full_attn_layers names (1-based).
 *
 * A KDA layer: q/k/v_proj (the common attn_q/k/v), their short convolutions q/k/v_conv1d ->
 * ssm_conv1d_q/k/v (written K x 1 x C x 1 as llama.cpp reshapes them, F32), A_log -> ssm_a as
 * -exp(A_log) (1 x H x 1 x 1), dt_bias -> ssm_dt.bias, the gate's low-rank pair f_a/f_b_proj ->
 * ssm_f_a/f_b, b_proj -> ssm_beta, the output gate's pair g_a/g_b_proj -> ssm_g_a/g_b, o_norm ->
 * ssm_norm, o_proj -> attn_output. A latent-attention layer: DeepSeek's names without the
 * query's low rank (q_proj -> attn_q), kv_b split into attn_k_b and attn_v_b as for DeepSeek's
 * absorbed form. The feed-forward: the first first_k_dense_replace layers dense, then
 * block_sparse_moe (router, selection bias gate.e_score_correction_bias, experts w1/w2/w3,
 * shared_experts) with sigmoid routing (moe_router_activation_func). The tokenizer is Kimi's
 * tiktoken vocabulary (convert/tiktoken.c). Keys: llama.cpp's, head_count_kv one per layer (0
 * for KDA layers, 1 for the latent ones: MQA over the latent), the KDA head size and
 * convolution, the latent ranks and sizes (key_length = kv_lora_rank + rope dims, as llama.cpp
 * writes it; value_length config.json's head_dim).
 */
#include "convert/convert_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct fy_name_pair kimi_linear_names[] = {
	{ "self_attn.q_conv1d.weight", "ssm_conv1d_q.weight" },
	{ "self_attn.k_conv1d.weight", "ssm_conv1d_k.weight" },
	{ "self_attn.v_conv1d.weight", "ssm_conv1d_v.weight" },
	{ "self_attn.A_log", "ssm_a" },
	{ "self_attn.dt_bias", "ssm_dt.bias" },
	{ "self_attn.f_a_proj.weight", "ssm_f_a.weight" },
	{ "self_attn.f_b_proj.weight", "ssm_f_b.weight" },
	{ "self_attn.b_proj.weight", "ssm_beta.weight" },
	{ "self_attn.g_a_proj.weight", "ssm_g_a.weight" },
	{ "self_attn.g_b_proj.weight", "ssm_g_b.weight" },
	{ "self_attn.o_norm.weight", "ssm_norm.weight" },
	{ "self_attn.kv_a_proj_with_mqa.weight", "attn_kv_a_mqa.weight" },
	{ "self_attn.kv_a_layernorm.weight", "attn_kv_a_norm.weight" },
	{ "self_attn.kv_b_proj.weight", "attn_kv_b.weight" },
	{ "block_sparse_moe.gate.weight", "ffn_gate_inp.weight" },
	{ "block_sparse_moe.gate.e_score_correction_bias", "exp_probs_b.bias" },
	{ "block_sparse_moe.shared_experts.gate_proj.weight", "ffn_gate_shexp.weight" },
	{ "block_sparse_moe.shared_experts.up_proj.weight", "ffn_up_shexp.weight" },
	{ "block_sparse_moe.shared_experts.down_proj.weight", "ffn_down_shexp.weight" },
	{ NULL, NULL },
};

static const struct fy_name_pair kimi_linear_experts[] = {
	{ "w1.weight", "ffn_gate_exps.weight" },
	{ "w2.weight", "ffn_down_exps.weight" },
	{ "w3.weight", "ffn_up_exps.weight" },
	{ NULL, NULL },
};

static unsigned kimi_linear_ops(const char *gguf)
{
	const size_t n = strlen(gguf);
	if (n > 6 && strcmp(gguf + n - 6, ".ssm_a") == 0)
		return FY_TOP_NEG_EXP | FY_TOP_4D;
	if (strstr(gguf, ".ssm_conv1d_") != NULL)
		return FY_TOP_4D;
	return 0;
}

static int kimi_linear_check(const struct fy_hf_config *g, const char *path, struct fy_err *err)
{
	if (g->linear_key_heads <= 0 || g->linear_key_dim <= 0 || g->linear_conv_kernel <= 0 ||
	    g->linear_conv_kernel > 64 || g->n_layer_types != g->n_layers)
		return fy_err_set(err, FY_EFORMAT,
				  "%s: Kimi-Linear needs linear_attn_config (num_heads, head_dim, "
				  "short_conv_kernel_size of 1 to 64, full_attn_layers)",
				  path);
	if (g->linear_key_heads != g->n_heads)
		return fy_err_set(
			err, FY_EUNSUPPORTED,
			"%s: linear_attn_config.num_heads %lld differs from "
			"num_attention_heads %lld (llama.cpp's kimi-linear uses one count)",
			path, (long long)g->linear_key_heads, (long long)g->n_heads);
	if (g->kv_lora_rank <= 0 || g->qk_rope_head_dim <= 0 || g->qk_nope_head_dim <= 0 ||
	    g->v_head_dim <= 0)
		return fy_err_set(err, FY_EFORMAT,
				  "%s: Kimi-Linear's latent attention needs kv_lora_rank, "
				  "qk_nope_head_dim, qk_rope_head_dim and v_head_dim",
				  path);
	if (g->q_lora_rank > 0)
		return fy_err_set(err, FY_EUNSUPPORTED,
				  "%s: q_lora_rank %lld: Kimi-Linear's queries have no low rank in "
				  "llama.cpp's converter",
				  path, (long long)g->q_lora_rank);
	if (strcmp(g->scoring_func, "sigmoid") != 0 && strcmp(g->scoring_func, "softmax") != 0)
		return fy_err_set(err, FY_EUNSUPPORTED,
				  "%s: moe_router_activation_func '%s' is neither sigmoid nor "
				  "softmax",
				  path, g->scoring_func);
	return FY_OK;
}

/* llama.cpp's keys after the common ones (block_count ... the RMS epsilon; head_count_kv is
 * rewritten here as its per-layer array, which llama.cpp writes in its place). */
static int kimi_linear_keys(struct fy_gguf_writer *w, const char *a, const struct fy_hf_config *g,
			    struct fy_err *err)
{
	char key[96];
	int rc = FY_OK;
	int32_t *kv = calloc((size_t)g->n_layers, sizeof(int32_t));
	if (kv == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	uint8_t *le = (uint8_t *)kv;
	for (int64_t l = 0; l < g->n_layers; l++) { /* little-endian I32 */
		const uint32_t v = g->linear_layer[l] ? 0 : 1;
		for (int b = 0; b < 4; b++)
			le[4 * l + b] = (uint8_t)(v >> (8 * b));
	}
	snprintf(key, sizeof(key), "%s.attention.head_count_kv", a);
	rc = fy_gguf_writer_set_array(w, key, FY_GGUF_I32, (uint64_t)g->n_layers, kv, err);
	free(kv);
	if (rc != FY_OK)
		return rc;
	FY_TRY(rc, fy_kv_u32(w, a, "expert_count", (uint32_t)g->n_experts, err));
	FY_TRY(rc, fy_kv_u32(w, a, "expert_used_count", (uint32_t)g->n_experts_used, err));
	if (g->n_group > 0)
		FY_TRY(rc, fy_kv_u32(w, a, "expert_group_count", (uint32_t)g->n_group, err));
	if (g->topk_group > 0)
		FY_TRY(rc,
		       fy_kv_u32(w, a, "expert_group_used_count", (uint32_t)g->topk_group, err));
	FY_TRY(rc, fy_kv_u32(w, a, "expert_gating_func",
			     strcmp(g->scoring_func, "sigmoid") == 0 ? 2 : 1, err));
	if (g->head_dim > 0) {
		FY_TRY(rc, fy_kv_u32(w, a, "attention.key_length",
				     (uint32_t)(g->kv_lora_rank + g->qk_rope_head_dim), err));
		FY_TRY(rc, fy_kv_u32(w, a, "attention.value_length", (uint32_t)g->head_dim, err));
	}
	FY_TRY(rc, fy_kv_u32(w, a, "vocab_size", (uint32_t)g->vocab_size, err));
	FY_TRY(rc, fy_kv_u32(w, a, "ssm.conv_kernel", (uint32_t)g->linear_conv_kernel, err));
	FY_TRY(rc, fy_kv_u32(w, a, "kda.head_dim", (uint32_t)g->linear_key_dim, err));
	FY_TRY(rc, fy_kv_u32(w, a, "attention.kv_lora_rank", (uint32_t)g->kv_lora_rank, err));
	FY_TRY(rc, fy_kv_u32(w, a, "rope.dimension_count", (uint32_t)g->qk_rope_head_dim, err));
	FY_TRY(rc, fy_kv_u32(w, a, "attention.key_length_mla",
			     (uint32_t)(g->qk_nope_head_dim + g->qk_rope_head_dim), err));
	FY_TRY(rc, fy_kv_u32(w, a, "attention.value_length_mla", (uint32_t)g->v_head_dim, err));
	FY_TRY(rc, fy_kv_u32(w, a, "expert_feed_forward_length", (uint32_t)g->moe_intermediate_size,
			     err));
	FY_TRY(rc, fy_kv_u32(w, a, "expert_shared_count",
			     (uint32_t)(g->n_shared_experts > 0 ? g->n_shared_experts : 0), err));
	FY_TRY(rc,
	       fy_kv_u32(w, a, "leading_dense_block_count",
			 (uint32_t)(g->first_k_dense_replace > 0 ? g->first_k_dense_replace : 0),
			 err));
	FY_TRY(rc, fy_kv_f32(w, a, "expert_weights_scale",
			     g->routed_scaling_factor > 0 ? g->routed_scaling_factor : 1.0, err));
out:
	return rc;
}

const struct fy_hf_arch fy_hf_kimi_linear = {
	.hf = "KimiLinearForCausalLM",
	.gguf = "kimi-linear",
	.model_type = "kimi_linear",
	.experts = true,
	.split_kv_b = true,
	.names = kimi_linear_names,
	.expert_prefix = "block_sparse_moe.experts.",
	.expert_names = kimi_linear_experts,
	.tensor_ops = kimi_linear_ops,
	.check = kimi_linear_check,
	.keys = kimi_linear_keys,
};
