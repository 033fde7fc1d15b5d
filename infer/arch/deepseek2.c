/*
 * deepseek2 (DeepSeek-V2/V3/R1, Kimi K2; llama.cpp's src/models/deepseek2.cpp): pre-norm blocks
 * of multi-head latent attention (q through a low-rank bottleneck, k and v expanded per head
 * from a normalized latent, one rotated key part shared by every head, stored as adjacent
 * pairs) and a mixture of experts after the leading dense layers, routed as the keys say
 * (DeepSeek-V3: sigmoid scores plus a selection bias, limited to the best groups; ferry applies
 * the group limit, which llama.cpp b4747 ignored).
 */
#include "infer/arch.h"

#include <stdio.h>

bool fy_deepseek2_is_glm_lite(int n_layer, int64_t n_vocab)
{
	return (n_layer == 47 || n_layer == 48) && n_vocab == 154880;
}

static int deepseek2_hparams(struct fy_model *m, struct fy_err *err)
{
	int rc = FY_OK;
	double v;
	FY_TRY(rc, fy_model_read_experts(m, false, err));
	FY_TRY(rc, fy_model_read_mla(m, err));
	/* a file without expert_gating_func is DeepSeek-V2's (softmax), or GLM-4.7-Flash's as
	 * llama.cpp's converter writes it (sigmoid), which llama.cpp's engine recognises by its
	 * layers and vocabulary: so does ferry */
	if (!fy_model_kv_num(m, "expert_gating_func", &v) &&
	    fy_deepseek2_is_glm_lite(m->hp.n_layer, fy_model_vocab_count(m)))
		m->hp.gating = FY_GATING_SIGMOID;
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

/*
 * deepseek32 (DeepSeek-V3.2; llama.cpp's src/models/deepseek32.cpp): deepseek2's blocks in the
 * absorbed form, each with a lightning indexer that picks the positions a token attends to:
 * queries from q_a's normalized output (indexer.attn_q_b), one key per position
 * (indexer.attn_k, LayerNorm with bias), RoPE in NEOX order on their first rope dimensions,
 * per-head weights (indexer.proj) scaled by 1/sqrt(heads x head size); a position's score is
 * sum_h relu(q_h . k) w_h and each token keeps the top_k best of those before it. The
 * next-token-prediction layer (nextn_predict_layers) is not run.
 */
static int deepseek32_hparams(struct fy_model *m, struct fy_err *err)
{
	struct fy_hparams *hp = &m->hp;
	int rc = FY_OK;
	FY_TRY(rc, deepseek2_hparams(m, err));
	FY_TRY(rc,
	       fy_model_kv_int(m, "attention.indexer.head_count", true, 0, &hp->idx_heads, err));
	FY_TRY(rc, fy_model_kv_int(m, "attention.indexer.key_length", true, 0, &hp->idx_dim, err));
	FY_TRY(rc, fy_model_kv_int(m, "attention.indexer.top_k", true, 0, &hp->idx_top_k, err));
	if (!hp->mla_absorbed || hp->q_lora_rank <= 0 || hp->idx_dim < hp->rope.n_rot ||
	    hp->idx_heads > 4096)
		rc = fy_err_set(err, FY_EFORMAT,
				"%s: the lightning indexer needs attn_k_b/attn_v_b, q_lora_rank, "
				"and a key length of at least the rope dimensions (%d < %d)",
				fy_gguf_label(m->gguf != NULL ? m->gguf : m->hf->meta), hp->idx_dim,
				hp->rope.n_rot);
out:
	return rc;
}

static int deepseek32_load(struct fy_model *m, int l, struct fy_layer *L, struct fy_err *err)
{
	const struct fy_hparams *hp = &m->hp;
	const int64_t D = hp->idx_dim, IH = hp->idx_heads;
	char n[96];
	int rc = FY_OK;
	FY_TRY(rc, fy_model_load_block(m, l, L, "ffn_norm", false, err));
	snprintf(n, sizeof(n), "blk.%d.indexer.attn_q_b.weight", l);
	FY_TRY(rc, fy_model_weight(m, n, hp->q_lora_rank, IH * D, false, &L->idx_q_b, err));
	snprintf(n, sizeof(n), "blk.%d.indexer.attn_k.weight", l);
	FY_TRY(rc, fy_model_weight(m, n, hp->n_embd, D, false, &L->idx_k, err));
	snprintf(n, sizeof(n), "blk.%d.indexer.proj.weight", l);
	FY_TRY(rc, fy_model_weight(m, n, hp->n_embd, IH, false, &L->idx_proj, err));
	snprintf(n, sizeof(n), "blk.%d.indexer.k_norm.weight", l);
	FY_TRY(rc, fy_model_vector(m, n, D, false, &L->idx_k_norm, err));
	snprintf(n, sizeof(n), "blk.%d.indexer.k_norm.bias", l);
	FY_TRY(rc, fy_model_vector(m, n, D, false, &L->idx_k_norm_b, err));
out:
	return rc;
}

const struct fy_model_arch fy_arch_deepseek32 = {
	.name = "deepseek32",
	.rope = FY_ROPE_NORM,
	.hf_rope = FY_ROPE_NORM,
	.hparams = deepseek32_hparams,
	.load_layer = deepseek32_load,
	.layer = fy_eval_block,
};
