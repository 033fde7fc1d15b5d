/*
 * deepseek2 (DeepSeek-V2/V3/R1, Kimi K2; llama.cpp's src/models/deepseek2.cpp): pre-norm blocks
 * of multi-head latent attention (q through a low-rank bottleneck, k and v expanded per head
 * from a normalized latent, one rotated key part shared by every head, stored as adjacent
 * pairs) and a mixture of experts after the leading dense layers, routed as the keys say
 * (DeepSeek-V3: sigmoid scores plus a selection bias, limited to the best groups; ferry applies
 * the group limit, which llama.cpp b4747 ignored).
 */
#include "infer/arch.h"

static int deepseek2_hparams(struct fy_model *m, struct fy_err *err)
{
	int rc = FY_OK;
	FY_TRY(rc, fy_model_read_experts(m, false, err));
	FY_TRY(rc, fy_model_read_mla(m, err));
out:
	return rc;
}

static int deepseek2_load(struct fy_model *m, int l, struct fy_layer *L, struct fy_err *err)
{
	return fy_model_load_block(m, l, L, "ffn_norm", false, err);
}

const struct fy_model_arch fy_arch_deepseek2 = {
	.name = "deepseek2",
	.rope = FY_ROPE_NORM,
	.hf_rope = FY_ROPE_NORM,
	.hparams = deepseek2_hparams,
	.load_layer = deepseek2_load,
	.layer = fy_eval_block,
};
