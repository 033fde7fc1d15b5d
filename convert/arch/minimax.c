/*
 * MiniMax's families (llama.cpp's conversion/minimax.py).
 *
 * MiniMax-M2 (MiniMaxM2ForCausalLM -> minimax-m2): grouped-
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

/*
 * MiniMax-M1 and MiniMax-Text-01 (MiniMaxM1ForCausalLM, MiniMaxText01ForCausalLM ->
 * minimax-01): lightning attention in most layers (self_attn.qkv_proj -> attn_qkv, each head's
 * q, k and v side by side; output_gate -> attn_gate; the output's RMSNorm self_attn.norm ->
 * attn_norm_2; out_proj -> attn_output) and softmax attention (q/k/v/o_proj) in the others, as
 * attn_type_list says (0 lightning, 1 softmax); every layer a softmax-routed mixture
 * (block_sparse_moe, experts w1/w2/w3 as MiniMax-M2's). The residual is the normalized input
 * (postnorm) times the layernorm alphas, written once as residual_scale, as llama.cpp's
 * converter and engine take them (equal alphas, betas 1). llama.cpp's engine knows which layers
 * are softmax attention only by every 8th (the release's pattern): another attn_type_list is
 * written as attention.recurrent_layers, which its engine reads first. Added tokens whose
 * embedding rows are zero are written as tokenizer.ggml.suppress_tokens (hf2gguf.c).
 */

static const struct fy_name_pair minimax01_names[] = {
	{ "self_attn.qkv_proj.weight", "attn_qkv.weight" },
	{ "self_attn.output_gate.weight", "attn_gate.weight" },
	{ "self_attn.norm.weight", "attn_norm_2.weight" },
	{ "self_attn.out_proj.weight", "attn_output.weight" },
	{ "block_sparse_moe.gate.weight", "ffn_gate_inp.weight" },
	{ NULL, NULL },
};

/* The release's pattern: layer l is softmax attention when (l + 1) is a multiple of 8. */
static bool minimax01_default_layers(const struct fy_hf_config *g)
{
	for (int64_t l = 0; l < g->n_layer_types; l++)
		if (g->linear_layer[l] != ((l + 1) % 8 != 0))
			return false;
	return true;
}

static int minimax01_check(const struct fy_hf_config *g, const char *path, struct fy_err *err)
{
	const char *const which[3] = { "full_attention", "linear_attention", "mlp" };
	if (g->rotary_dim <= 0 || g->rotary_dim % 2 != 0 || g->rotary_dim > head_dim(g))
		return fy_err_set(err, FY_EFORMAT,
				  "%s: rotary_dim %lld is not an even number of dimensions of a "
				  "%lld-wide head",
				  path, (long long)g->rotary_dim, (long long)head_dim(g));
	if (g->postnorm != 1)
		return fy_err_set(err, FY_EUNSUPPORTED,
				  "%s: postnorm is not true (the residual taken before the norm is "
				  "not supported, as in llama.cpp)",
				  path);
	for (int i = 0; i < 3; i++) {
		if (g->ln_alpha[i] <= 0 || g->ln_alpha[i] != g->ln_alpha[0])
			return fy_err_set(err, FY_EUNSUPPORTED,
					  "%s: layernorm_%s_alpha is not given or differs from the "
					  "others (one residual scale, as llama.cpp)",
					  path, which[i]);
		if (g->ln_beta[i] != 1.0)
			return fy_err_set(err, FY_EUNSUPPORTED,
					  "%s: layernorm_%s_beta is not 1 (as llama.cpp assumes)",
					  path, which[i]);
	}
	if (g->shared_intermediate_size > 0)
		return fy_err_set(err, FY_EUNSUPPORTED,
				  "%s: shared_intermediate_size %lld: shared experts are not "
				  "supported (llama.cpp's minimax-01 has none)",
				  path, (long long)g->shared_intermediate_size);
	if (g->n_layer_types >= 0 && g->n_layer_types != g->n_layers)
		return fy_err_set(err, FY_EFORMAT,
				  "%s: attn_type_list has %lld entries, num_hidden_layers is %lld",
				  path, (long long)g->n_layer_types, (long long)g->n_layers);
	return FY_OK;
}

/* llama.cpp's keys: the common ones with the experts' counts and head_dim, then
 * residual_scale and rope.dimension_count; attention.recurrent_layers for a pattern other than
 * the release's (a difference from llama.cpp's converter, which writes none). */
static int minimax01_keys(struct fy_gguf_writer *w, const char *a, const struct fy_hf_config *g,
			  struct fy_err *err)
{
	int rc = FY_OK;
	FY_TRY(rc, fy_kv_u32(w, a, "expert_count", (uint32_t)g->n_experts, err));
	FY_TRY(rc, fy_kv_u32(w, a, "expert_used_count", (uint32_t)g->n_experts_used, err));
	FY_TRY(rc, fy_kv_head_dim(w, a, g, err));
	FY_TRY(rc, fy_kv_rope_scaling(w, a, g, false, err));
	FY_TRY(rc, fy_kv_f32(w, a, "residual_scale", g->ln_alpha[0], err));
	FY_TRY(rc, fy_kv_u32(w, a, "rope.dimension_count", (uint32_t)g->rotary_dim, err));
	if (g->n_layer_types > 0 && !minimax01_default_layers(g))
		rc = fy_kv_bool_array(w, a, "attention.recurrent_layers", g->n_layer_types,
				      g->linear_layer, g->n_layer_types, err);
out:
	return rc;
}

#define MINIMAX01_ROW(HF, TYPE)                                                                    \
	{                                                                                          \
		.hf = HF, .gguf = "minimax-01", .model_type = TYPE, .explicit_head_dim = true,     \
		.experts = true, .expert_ff_is_ff = true, .names = minimax01_names,                \
		.expert_prefix = "block_sparse_moe.experts.", .expert_names = minimax_experts,     \
		.bpe_pre = "minimax-m2", .suppress_zero_rows = true, .check = minimax01_check,     \
		.keys = minimax01_keys,                                                            \
	}

const struct fy_hf_arch fy_hf_minimax_m1 = MINIMAX01_ROW("MiniMaxM1ForCausalLM", "minimax_m1");
const struct fy_hf_arch fy_hf_minimax_text01 =
	MINIMAX01_ROW("MiniMaxText01ForCausalLM", "minimax_text_01");
