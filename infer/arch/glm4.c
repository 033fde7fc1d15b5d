/*
 * glm4 (GLM-4-9B/32B-0414; llama.cpp's src/models/glm4.cpp): blocks with sandwich norms:
 * x += post_attention_norm(attention(attn_norm(x))); x += post_ffw_norm(ffn(ffn_norm(x))), the
 * attention with q/k/v biases and RoPE on the first rope.dimension_count dimensions of each head
 * in adjacent pairs, the feed-forward one fused up matrix (silu(first half) x second half).
 */
#include "infer/arch.h"

#include <stdio.h>

static int glm4_hparams(struct fy_model *m, struct fy_err *err)
{
	(void)err;
	m->hp.ffn_fused = true;
	return FY_OK;
}

static int glm4_load(struct fy_model *m, int l, struct fy_layer *L, struct fy_err *err)
{
	char n[96];
	int rc = FY_OK;
	FY_TRY(rc, fy_model_load_block(m, l, L, "ffn_norm", false, err));
	snprintf(n, sizeof(n), "blk.%d.post_attention_norm.weight", l);
	FY_TRY(rc, fy_model_vector(m, n, m->hp.n_embd, false, &L->attn_post_norm, err));
	snprintf(n, sizeof(n), "blk.%d.post_ffw_norm.weight", l);
	FY_TRY(rc, fy_model_vector(m, n, m->hp.n_embd, false, &L->ffn_post_norm, err));
out:
	return rc;
}

static int glm4_layer(struct fy_ctx *c, int l, int n, struct fy_err *err)
{
	const struct fy_layer *L = &c->m->layers[l];
	int rc = FY_OK;
	fy_eval_norm(c, L->attn_norm, n);
	FY_TRY(rc, fy_eval_qkv(c, L, n, err));
	FY_TRY(rc, fy_eval_attention(c, l, n, err));
	fy_eval_norm_out(c, L->attn_post_norm, n);
	fy_eval_residual(c, n);
	fy_eval_norm(c, L->ffn_norm, n);
	FY_TRY(rc, fy_eval_ffn(c, L, n, err));
	fy_eval_norm_out(c, L->ffn_post_norm, n);
	fy_eval_residual(c, n);
out:
	return rc;
}

const struct fy_model_arch fy_arch_glm4 = {
	.name = "glm4",
	.rope = FY_ROPE_NORM,
	.hf_rope = FY_ROPE_NORM,
	.hparams = glm4_hparams,
	.load_layer = glm4_load,
	.layer = glm4_layer,
};
