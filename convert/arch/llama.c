/*
 * Llama and Mistral (LlamaForCausalLM, MistralForCausalLM -> llama): q/k rows are stored in
 * HF's rotate-half layout and permuted into llama.cpp's adjacent pairs; the converter writes
 * rope.dimension_count and vocab_size (llama.cpp's conversion/llama.py).
 */
#include "convert/convert_private.h"

static int llama_keys(struct fy_gguf_writer *w, const char *a, const struct fy_hf_config *g,
		      struct fy_err *err)
{
	const int64_t head_dim = g->head_dim > 0 ? g->head_dim : g->hidden_size / g->n_heads;
	int rc = FY_OK;
	FY_TRY(rc, fy_kv_head_dim(w, a, g, err));
	FY_TRY(rc, fy_kv_rope_scaling(w, a, g, false, err));
	FY_TRY(rc, fy_kv_rope_dims_vocab(w, a, g, head_dim, err));
out:
	return rc;
}

const struct fy_hf_arch fy_hf_llama = {
	.hf = "LlamaForCausalLM",
	.gguf = "llama",
	.model_type = "llama",
	.permute_qk = true,
	.keys = llama_keys,
};

const struct fy_hf_arch fy_hf_mistral = {
	.hf = "MistralForCausalLM",
	.gguf = "llama",
	.model_type = "mistral",
	.permute_qk = true,
	.keys = llama_keys,
};
