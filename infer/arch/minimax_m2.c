/*
 * minimax-m2 (MiniMax-M2; llama.cpp's src/models/minimax-m2.cpp): pre-norm blocks of grouped-
 * query attention whose q and k are RMS-normalized over the whole projection (all heads at once)
 * before NEOX RoPE on rope.dimension_count dimensions of each head; every layer a mixture routed
 * by sigmoid scores plus a selection bias, the chosen weights always renormalized (the graph
 * does it whatever the file says), no shared experts.
 */
#include "infer/arch.h"

static int minimax_m2_hparams(struct fy_model *m, struct fy_err *err)
{
	int rc = FY_OK;
	m->hp.qk_norm_whole = true;
	FY_TRY(rc, fy_model_read_experts(m, true, err));
	m->hp.expert_norm = true;
out:
	return rc;
}

static int minimax_m2_load(struct fy_model *m, int l, struct fy_layer *L, struct fy_err *err)
{
	return fy_model_load_block(m, l, L, "ffn_norm", true, err);
}

const struct fy_model_arch fy_arch_minimax_m2 = {
	.name = "minimax-m2",
	.rope = FY_ROPE_NEOX,
	.hf_rope = FY_ROPE_NEOX,
	.hparams = minimax_m2_hparams,
	.load_layer = minimax_m2_load,
	.layer = fy_eval_block,
};
