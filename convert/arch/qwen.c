/*
 * Qwen2, Qwen3 and Qwen3-MoE (llama.cpp's conversion/qwen.py): NEOX rope, q/k not permuted;
 * qwen2 carries q/k/v biases, qwen3 per-head q/k norms and always an explicit head_dim;
 * Qwen3-MoE's experts are stacked, softmax routing renormalized as norm_topk_prob says.
 */
#include "convert/convert_private.h"

static int qwen_keys(struct fy_gguf_writer *w, const char *a, const struct fy_hf_config *g,
		     struct fy_err *err)
{
	int rc = FY_OK;
	FY_TRY(rc, fy_kv_head_dim(w, a, g, err));
	FY_TRY(rc, fy_kv_rope_scaling(w, a, g, false, err));
out:
	return rc;
}

static int qwen3moe_keys(struct fy_gguf_writer *w, const char *a, const struct fy_hf_config *g,
			 struct fy_err *err)
{
	int rc = FY_OK;
	FY_TRY(rc, fy_kv_head_dim(w, a, g, err));
	FY_TRY(rc, fy_kv_experts(w, a, g, err));
	FY_TRY(rc, fy_kv_rope_scaling(w, a, g, false, err));
out:
	return rc;
}

const struct fy_hf_arch fy_hf_qwen2 = {
	.hf = "Qwen2ForCausalLM",
	.gguf = "qwen2",
	.model_type = "qwen2",
	.keys = qwen_keys,
};

const struct fy_hf_arch fy_hf_qwen3 = {
	.hf = "Qwen3ForCausalLM",
	.gguf = "qwen3",
	.model_type = "qwen3",
	.explicit_head_dim = true,
	.keys = qwen_keys,
};

const struct fy_hf_arch fy_hf_qwen3moe = {
	.hf = "Qwen3MoeForCausalLM",
	.gguf = "qwen3moe",
	.model_type = "qwen3_moe",
	.explicit_head_dim = true,
	.experts = true,
	.keys = qwen3moe_keys,
};
