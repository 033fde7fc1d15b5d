/*
 * glm4moe (GLM-4.5, 4.6, 4.7; llama.cpp's src/models/glm4-moe.cpp): pre-norm blocks of grouped-
 * query attention with q/k/v biases, optional per-head q/k RMSNorms and NEOX RoPE on the first
 * rope.dimension_count dimensions of each head; the feed-forward's norm is post_attention_norm;
 * the leading dense layers, then a mixture routed by sigmoid scores plus a selection bias (the
 * default when the file names no gating function) with shared experts. The next-token-
 * prediction layer (nextn_predict_layers) is not part of the forward.
 */
#include "infer/arch.h"

static int glm4moe_hparams(struct fy_model *m, struct fy_err *err)
{
	m->hp.gating = FY_GATING_SIGMOID;
	return fy_model_read_experts(m, false, err);
}

static int glm4moe_load(struct fy_model *m, int l, struct fy_layer *L, struct fy_err *err)
{
	return fy_model_load_block(m, l, L, "post_attention_norm", false, err);
}

const struct fy_model_arch fy_arch_glm4moe = {
	.name = "glm4moe",
	.rope = FY_ROPE_NEOX,
	.hf_rope = FY_ROPE_NEOX,
	.hparams = glm4moe_hparams,
	.load_layer = glm4moe_load,
	.layer = fy_eval_block,
};
