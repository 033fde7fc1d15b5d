/*
 * Qwen2, Qwen3 and Qwen3-MoE (llama.cpp's src/models/qwen2.cpp, qwen3.cpp, qwen3moe.cpp):
 * llama's pre-norm blocks with NEOX RoPE (q/k not permuted); qwen2 adds q/k/v biases, qwen3
 * per-head RMSNorms of q and k before RoPE; Qwen3-MoE's feed-forward is a mixture with softmax
 * routing, the chosen weights renormalized unless the file says otherwise.
 */
#include "infer/arch.h"

static int qwen2_load(struct fy_model *m, int l, struct fy_layer *L, struct fy_err *err)
{
	return fy_model_load_block(m, l, L, "ffn_norm", false, err);
}

static int qwen3_load(struct fy_model *m, int l, struct fy_layer *L, struct fy_err *err)
{
	return fy_model_load_block(m, l, L, "ffn_norm", true, err);
}

static int qwen3moe_hparams(struct fy_model *m, struct fy_err *err)
{
	return fy_model_read_experts(m, true, err);
}

const struct fy_model_arch fy_arch_qwen2 = {
	.name = "qwen2",
	.rope = FY_ROPE_NEOX,
	.hf_rope = FY_ROPE_NEOX,
	.load_layer = qwen2_load,
	.layer = fy_eval_block,
};

const struct fy_model_arch fy_arch_qwen3 = {
	.name = "qwen3",
	.rope = FY_ROPE_NEOX,
	.hf_rope = FY_ROPE_NEOX,
	.load_layer = qwen3_load,
	.layer = fy_eval_block,
};

const struct fy_model_arch fy_arch_qwen3moe = {
	.name = "qwen3moe",
	.rope = FY_ROPE_NEOX,
	.hf_rope = FY_ROPE_NEOX,
	.hparams = qwen3moe_hparams,
	.load_layer = qwen3_load,
	.layer = fy_eval_block,
};
