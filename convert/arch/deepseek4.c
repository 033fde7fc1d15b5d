/*
 * DeepSeek-V4 (DeepseekV4ForCausalLM -> deepseek4, llama.cpp's conversion/deepseek.py
 * DeepseekV4Model), in DeepSeek's own tensor names (embed, head, norm, hc_head_*, layers.N.*):
 * one shared key/value head with a sliding window, per layer a compression ratio (0: the window
 * only; 4: compressed sparse attention, a lightning indexer choosing among the compressed
 * positions; 128: heavily compressed attention), four hyper-connection streams mixed by a
 * Sinkhorn-normalized matrix, a grouped low-rank output projection, attention sinks, and a
 * mixture in every layer (sqrt-softplus scores, the leading num_hash_layers routed by a
 * token -> experts table, SwiGLU clamped at swiglu_limit). The linears ship in block FP8 with
 * E8M0 scales (written Q8_0), the routed experts in MXFP4 (copied bit for bit), the rest in
 * BF16 or F32 (kept); the types follow the source whatever --outtype, as llama.cpp's converter.
 * The next-token-prediction layer (mtp.*) is left out, as llama.cpp's converter leaves it.
 */
#include "convert/convert_private.h"

#include <stdio.h>
#include <string.h>

static const struct fy_name_pair deepseek4_globals[] = {
	{ "embed.weight", "token_embd.weight" },
	{ "head.weight", "output.weight" },
	{ "norm.weight", "output_norm.weight" },
	{ "hc_head_fn", "output_hc_fn.weight" },
	{ "hc_head_base", "output_hc_base.weight" },
	{ "hc_head_scale", "output_hc_scale.weight" },
	{ NULL, NULL },
};

static const struct fy_name_pair deepseek4_names[] = {
	{ "hc_attn_fn", "hc_attn_fn.weight" },
	{ "hc_attn_base", "hc_attn_base.weight" },
	{ "hc_attn_scale", "hc_attn_scale.weight" },
	{ "hc_ffn_fn", "hc_ffn_fn.weight" },
	{ "hc_ffn_base", "hc_ffn_base.weight" },
	{ "hc_ffn_scale", "hc_ffn_scale.weight" },
	{ "attn_norm.weight", "attn_norm.weight" },
	{ "ffn_norm.weight", "ffn_norm.weight" },
	{ "attn.attn_sink", "attn_sinks.weight" },
	{ "attn.wq_a.weight", "attn_q_a.weight" },
	{ "attn.q_norm.weight", "attn_q_a_norm.weight" },
	{ "attn.wq_b.weight", "attn_q_b.weight" },
	{ "attn.wkv.weight", "attn_kv.weight" },
	{ "attn.kv_norm.weight", "attn_kv_a_norm.weight" },
	{ "attn.wo_a.weight", "attn_output_a.weight" },
	{ "attn.wo_b.weight", "attn_output_b.weight" },
	{ "attn.compressor.ape", "attn_compressor_ape.weight" },
	{ "attn.compressor.wkv.weight", "attn_compressor_kv.weight" },
	{ "attn.compressor.wgate.weight", "attn_compressor_gate.weight" },
	{ "attn.compressor.norm.weight", "attn_compressor_norm.weight" },
	{ "attn.indexer.wq_b.weight", "indexer.attn_q_b.weight" },
	{ "attn.indexer.weights_proj.weight", "indexer.proj.weight" },
	{ "attn.indexer.compressor.ape", "indexer_compressor_ape.weight" },
	{ "attn.indexer.compressor.wkv.weight", "indexer_compressor_kv.weight" },
	{ "attn.indexer.compressor.wgate.weight", "indexer_compressor_gate.weight" },
	{ "attn.indexer.compressor.norm.weight", "indexer_compressor_norm.weight" },
	{ "ffn.gate.weight", "ffn_gate_inp.weight" },
	{ "ffn.gate.bias", "exp_probs_b.bias" },
	{ "ffn.gate.bias_vl", "exp_probs_b_vl.bias" },
	{ "ffn.gate.tid2eid", "ffn_gate_tid2eid.weight" },
	{ "ffn.shared_experts.w1.weight", "ffn_gate_shexp.weight" },
	{ "ffn.shared_experts.w2.weight", "ffn_down_shexp.weight" },
	{ "ffn.shared_experts.w3.weight", "ffn_up_shexp.weight" },
	{ NULL, NULL },
};

static const struct fy_name_pair deepseek4_experts[] = {
	{ "w1.weight", "ffn_gate_exps.weight" },
	{ "w3.weight", "ffn_up_exps.weight" },
	{ "w2.weight", "ffn_down_exps.weight" },
	{ NULL, NULL },
};

/* Left out as llama.cpp's converter leaves them: the next-token-prediction layer (mtp.*), a
 * vision checkpoint's aligner and image tensors, and the selection bias of the hash-routed
 * layers (their experts come from the token's row of tid2eid). */
static bool deepseek4_skip(const struct fy_hf_config *g, const char *hf, long layer)
{
	if (layer < 0)
		return strncmp(hf, "mtp.", 4) == 0 || strncmp(hf, "aligner.", 8) == 0 ||
		       strncmp(hf, "image_", 6) == 0;
	const char *dot = strchr(hf + strlen("layers."), '.');
	return layer < g->num_hash_layers && dot != NULL && strcmp(dot + 1, "ffn.gate.bias") == 0;
}

static int deepseek4_check(const struct fy_hf_config *g, const char *path, struct fy_err *err)
{
	if (strcmp(g->scoring_func, "sqrtsoftplus") != 0)
		return fy_err_set(err, FY_EUNSUPPORTED,
				  "%s: scoring_func '%s': DeepSeek-V4 routes by sqrtsoftplus", path,
				  g->scoring_func);
	if (g->head_dim <= 0 || g->qk_rope_head_dim <= 0 || g->qk_rope_head_dim % 2 != 0 ||
	    g->qk_rope_head_dim > g->head_dim || g->q_lora_rank <= 0 || g->o_groups <= 0 ||
	    g->n_heads % g->o_groups != 0 || g->o_lora_rank <= 0 || g->sliding_window <= 0 ||
	    g->hc_mult != 4 || g->hc_sinkhorn_iters <= 0 || g->hc_eps <= 0 ||
	    g->num_hash_layers < 0 || g->num_hash_layers > g->n_layers || g->swiglu_limit <= 0 ||
	    g->compress_rope_theta <= 0 || g->index_n_heads <= 0 ||
	    g->index_head_dim < g->qk_rope_head_dim || g->index_topk <= 0 ||
	    g->n_shared_experts < 0 || g->routed_scaling_factor <= 0)
		return fy_err_set(err, FY_EFORMAT,
				  "%s: DeepSeek-V4 needs head_dim, an even qk_rope_head_dim of at "
				  "most head_dim, q_lora_rank, o_groups dividing the heads, "
				  "o_lora_rank, sliding_window, hc_mult 4, hc_sinkhorn_iters, "
				  "hc_eps, num_hash_layers, swiglu_limit, compress_rope_theta, the "
				  "indexer's index_n_heads, index_head_dim and index_topk, "
				  "n_shared_experts and routed_scaling_factor",
				  path);
	if (g->n_compress < g->n_layers)
		return fy_err_set(err, FY_EFORMAT,
				  "%s: compress_ratios has %lld entries for %lld layers", path,
				  (long long)(g->n_compress < 0 ? 0 : g->n_compress),
				  (long long)g->n_layers);
	for (int64_t i = 0; i < g->n_compress; i++) {
		const int32_t r = g->compress_ratios[i];
		if (r != 0 && r != 4 && r != 128)
			return fy_err_set(err, FY_EUNSUPPORTED,
					  "%s: compress_ratios[%lld] is %d (DeepSeek-V4 compresses "
					  "by 0, 4 or 128)",
					  path, (long long)i, (int)r);
	}
	return FY_OK;
}

/* llama.cpp v0.5.0's keys for deepseek4: the common ones (TextModel's: experts, sqrtsoftplus's
 * gating 4, head_dim as key and value length, YaRN without the log multiplier), then the
 * model's. */
static int deepseek4_keys(struct fy_gguf_writer *w, const char *a, const struct fy_hf_config *g,
			  struct fy_err *err)
{
	const int64_t L = g->n_layers;
	float clamp[FY_HF_MAX_COMPRESS];
	char key[128];
	int rc = FY_OK;
	FY_TRY(rc, fy_kv_rope_scaling(w, a, g, false, err));
	FY_TRY(rc, fy_kv_u32(w, a, "expert_count", (uint32_t)g->n_experts, err));
	FY_TRY(rc, fy_kv_u32(w, a, "expert_used_count", (uint32_t)g->n_experts_used, err));
	if (g->n_group > 0)
		FY_TRY(rc, fy_kv_u32(w, a, "expert_group_count", (uint32_t)g->n_group, err));
	if (g->topk_group > 0)
		FY_TRY(rc,
		       fy_kv_u32(w, a, "expert_group_used_count", (uint32_t)g->topk_group, err));
	FY_TRY(rc, fy_kv_u32(w, a, "expert_gating_func", 4, err)); /* sqrt(softplus) */
	FY_TRY(rc, fy_kv_head_dim(w, a, g, err));
	FY_TRY(rc, fy_kv_u32(w, a, "rope.dimension_count", (uint32_t)g->qk_rope_head_dim, err));
	FY_TRY(rc, fy_kv_u32(w, a, "attention.q_lora_rank", (uint32_t)g->q_lora_rank, err));
	FY_TRY(rc, fy_kv_u32(w, a, "attention.sliding_window", (uint32_t)g->sliding_window, err));
	FY_TRY(rc, fy_kv_u32(w, a, "expert_feed_forward_length", (uint32_t)g->moe_intermediate_size,
			     err));
	FY_TRY(rc, fy_kv_u32(w, a, "expert_shared_count", (uint32_t)g->n_shared_experts, err));
	FY_TRY(rc, fy_kv_f32(w, a, "expert_weights_scale", g->routed_scaling_factor, err));
	FY_TRY(rc, fy_kv_bool(w, a, "expert_weights_norm", g->norm_topk_prob == 1, err));
	for (int64_t i = 0; i < L && i < FY_HF_MAX_COMPRESS; i++)
		clamp[i] = (float)g->swiglu_limit;
	snprintf(key, sizeof(key), "%s.swiglu_clamp_exp", a);
	FY_TRY(rc, fy_gguf_writer_set_array(w, key, FY_GGUF_F32, (uint64_t)L, clamp, err));
	snprintf(key, sizeof(key), "%s.swiglu_clamp_shexp", a);
	FY_TRY(rc, fy_gguf_writer_set_array(w, key, FY_GGUF_F32, (uint64_t)L, clamp, err));
	FY_TRY(rc,
	       fy_kv_u32(w, a, "attention.indexer.head_count", (uint32_t)g->index_n_heads, err));
	FY_TRY(rc,
	       fy_kv_u32(w, a, "attention.indexer.key_length", (uint32_t)g->index_head_dim, err));
	FY_TRY(rc, fy_kv_u32(w, a, "attention.indexer.top_k", (uint32_t)g->index_topk, err));
	FY_TRY(rc, fy_kv_u32(w, a, "attention.output_group_count", (uint32_t)g->o_groups, err));
	FY_TRY(rc, fy_kv_u32(w, a, "attention.output_lora_rank", (uint32_t)g->o_lora_rank, err));
	snprintf(key, sizeof(key), "%s.attention.compress_ratios", a);
	FY_TRY(rc, fy_gguf_writer_set_array(w, key, FY_GGUF_I32, (uint64_t)g->n_compress,
					    g->compress_ratios, err));
	FY_TRY(rc,
	       fy_kv_f32(w, a, "attention.compress_rope_freq_base", g->compress_rope_theta, err));
	FY_TRY(rc, fy_kv_u32(w, a, "hyper_connection.count", (uint32_t)g->hc_mult, err));
	FY_TRY(rc, fy_kv_u32(w, a, "hyper_connection.sinkhorn_iterations",
			     (uint32_t)g->hc_sinkhorn_iters, err));
	FY_TRY(rc, fy_kv_f32(w, a, "hyper_connection.epsilon", g->hc_eps, err));
	FY_TRY(rc, fy_kv_u32(w, a, "hash_layer_count", (uint32_t)g->num_hash_layers, err));
	FY_TRY(rc, fy_kv_u32(w, a, "embedding_length_out", (uint32_t)(g->hidden_size * g->hc_mult),
			     err));
out:
	return rc;
}

const struct fy_hf_arch fy_hf_deepseek4 = {
	.hf = "DeepseekV4ForCausalLM",
	.gguf = "deepseek4",
	.model_type = "deepseek_v4",
	.experts = true,
	.kv_heads_one = true,
	.names = deepseek4_names,
	.expert_prefix = "ffn.experts.",
	.expert_names = deepseek4_experts,
	.layer_prefix = "layers.",
	.globals = deepseek4_globals,
	.skip = deepseek4_skip,
	.no_dense = true,
	.source_types = true,
	.check = deepseek4_check,
	.keys = deepseek4_keys,
};
