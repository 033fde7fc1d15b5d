/*
 * llama (Llama, Mistral and what converts to them; llama.cpp's src/models/llama.cpp): pre-norm
 * blocks of grouped-query attention with RoPE on adjacent pairs (the converter permuted HF's
 * rotate-half rows; an HF checkpoint read in place keeps them and rotates NEOX-style) and a
 * SwiGLU feed-forward.
 */
#include "infer/arch.h"

static int llama_load(struct fy_model *m, int l, struct fy_layer *L, struct fy_err *err)
{
	return fy_model_load_block(m, l, L, "ffn_norm", false, err);
}

const struct fy_model_arch fy_arch_llama = {
	.name = "llama",
	.rope = FY_ROPE_NORM,
	.hf_rope = FY_ROPE_NEOX,
	.load_layer = llama_load,
	.layer = fy_eval_block,
};
