/*
 * MiniMax-M2 (MiniMaxM2ForCausalLM -> minimax-m2, llama.cpp's conversion/minimax.py): grouped-
 * query attention whose q and k are RMS-normalized over the whole projection (every head at
 * once: attn_q_norm is n_head x head_dim wide), NEOX RoPE on rotary_dim dimensions of each head;
 * every layer a mixture (block_sparse_moe: router, selection bias, experts w1/w2/w3 = gate, down,
 * up) with sigmoid routing, the chosen weights renormalized; no shared experts. FP8 weights with
 * block scales, as the release ships them, are read by hf2gguf.c. The vocabulary is byte-level
 * BPE with MiniMax's pre-tokenizer (llama.cpp's "minimax-m2", GPT-4o's regex).
 */
#include "convert/convert_private.h"

static const struct fy_name_pair minimax_names[] = {
	{ "block_sparse_moe.gate.weight", "ffn_gate_inp.weight" },
	{ "block_sparse_moe.e_score_correction_bias", "exp_probs_b.bias" },
	{ NULL, NULL },
};

static const struct fy_name_pair minimax_experts[] = {
	{ "w1.weight", "ffn_gate_exps.weight" },
	{ "w2.weight", "ffn_down_exps.weight" },
	{ "w3.weight", "ffn_up_exps.weight" },
	{ NULL, NULL },
};

static int64_t head_dim(const struct fy_hf_config *g)
{
	return g->head_dim > 0 ? g->head_dim : g->hidden_size / g->n_heads;
}

static int minimax_check(const struct fy_hf_config *g, const char *path, struct fy_err *err)
{
	if (g->rotary_dim <= 0 || g->rotary_dim % 2 != 0 || g->rotary_dim > head_dim(g))
		return fy_err_set(err, FY_EFORMAT,
				  "%s: rotary_dim %lld is not an even number of dimensions of a "
				  "%lld-wide head",
				  path, (long long)g->rotary_dim, (long long)head_dim(g));
	return fy_check_grouped_routing(g, path, err);
}

/* llama.cpp's converter: its common keys (the experts, the gating function, head_dim), then
 * expert_feed_forward_length = intermediate_size and rope.dimension_count = rotary_dim. */
static int minimax_keys(struct fy_gguf_writer *w, const char *a, const struct fy_hf_config *g,
			struct fy_err *err)
{
	int rc = FY_OK;
	FY_TRY(rc, fy_kv_u32(w, a, "expert_count", (uint32_t)g->n_experts, err));
	FY_TRY(rc, fy_kv_u32(w, a, "expert_used_count", (uint32_t)g->n_experts_used, err));
	FY_TRY(rc, fy_kv_u32(w, a, "expert_gating_func", 2, err)); /* sigmoid */
	FY_TRY(rc, fy_kv_head_dim(w, a, g, err));
	FY_TRY(rc, fy_kv_rope_scaling(w, a, g, false, err));
	FY_TRY(rc,
	       fy_kv_u32(w, a, "expert_feed_forward_length", (uint32_t)g->intermediate_size, err));
	FY_TRY(rc, fy_kv_u32(w, a, "rope.dimension_count", (uint32_t)g->rotary_dim, err));
out:
	return rc;
}

const struct fy_hf_arch fy_hf_minimax_m2 = {
	.hf = "MiniMaxM2ForCausalLM",
	.gguf = "minimax-m2",
	.model_type = "minimax_m2",
	.explicit_head_dim = true,
	.experts = true,
	.expert_ff_is_ff = true,
	.names = minimax_names,
	.expert_prefix = "block_sparse_moe.experts.",
	.expert_names = minimax_experts,
	.bpe_pre = "minimax-m2",
	.scoring = "sigmoid",
	.check = minimax_check,
	.keys = minimax_keys,
};
