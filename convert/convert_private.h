/* Declarations shared inside the convert module only. */
#ifndef FERRY_CONVERT_PRIVATE_H
#define FERRY_CONVERT_PRIVATE_H

#include "convert/convert.h"

struct fy_hf_arch;

/* Bytes of each fixed-size GGUF value type (0 for string and array), defined in gguf.c. */
extern const uint8_t fy_gguf_value_sizes[FY_GGUF_TYPE_COUNT];

/* Writes a byte-level BPE vocabulary from tokenizer.json at path (model, pre, tokens, token_type,
 * merges); *tokenizer_json receives the parsed file (for the special ids; the caller frees it). */
int fy_convert_bpe(struct fy_gguf_writer *w, const char *path, const struct fy_hf_config *cfg,
		   const struct fy_hf_arch *arch, struct fy_json **tokenizer_json, size_t *n_vocab,
		   struct fy_err *err);
/* llama.cpp's does_token_look_special: added tokens not flagged special that it still makes
 * CONTROL (<pad>, <mask>, <|...|>, <｜...｜>, <unused...>) (convert/bpe.c). */
bool fy_convert_looks_special(const char *token);
/* A tiktoken vocabulary (convert/tiktoken.c): the tokens' bytes by rank, and a rank index. */
struct fy_tiktoken {
	struct fy_str *tok; /* [n]: rank i's bytes (in `bytes`) */
	size_t n;
	uint8_t *bytes;
	struct fy_index ranks; /* bytes -> rank */
};
/* Parses tiktoken.model ("BASE64 RANK" lines, ranks 0..n-1, no token twice). */
int fy_tiktoken_parse(struct fy_tiktoken *t, const uint8_t *data, size_t size, const char *label,
		      struct fy_err *err);
void fy_tiktoken_free(struct fy_tiktoken *t);
/* Token id re-split by merging with the ranks below its own: 1 and *left (the first part's
 * length) when that leaves two parts, else 0. */
int fy_tiktoken_merge(const struct fy_tiktoken *t, size_t id, size_t *left);
/* Writes tokenizer.ggml.{model,pre,tokens,token_type,merges} of dir's tiktoken.model
 * (tokenizer_config.json parsed in tokcfg, may be NULL); *n_vocab receives the count. */
int fy_convert_tiktoken(struct fy_gguf_writer *w, const char *dir, const struct fy_hf_config *cfg,
			const struct fy_json *tokcfg, size_t *n_vocab, struct fy_err *err);

/* Writes tokenizer.ggml.* for the checkpoint in dir (convert/tokenizer.c); *n_vocab receives
 * the vocabulary size written. */
int fy_convert_tokenizer(struct fy_gguf_writer *w, const char *dir, const struct fy_hf_config *cfg,
			 const struct fy_hf_arch *arch, size_t *n_vocab, struct fy_err *err);

/* Output row r into out, with scratch room for a row of floats (convert/rows.c). */
typedef int (*fy_row_fn)(const void *ctx, int64_t r, float *scratch, uint8_t *out,
			 struct fy_err *err);
/* Writes rows [0, rows) of out_row bytes each into sink, made by fn in 4 MiB chunks spread over
 * pool (NULL: this thread); n_cols floats of scratch per worker. */
int fy_convert_rows(struct fy_pool *pool, int64_t rows, int64_t n_cols, size_t out_row,
		    fy_row_fn fn, const void *ctx, struct fy_sink *sink, struct fy_err *err);

/*
 * One Hugging Face architecture the converter reads: a row of the table in convert/arch.c, its
 * rules in convert/arch/FAMILY.c (as llama.cpp's conversion/FAMILY.py). hf2gguf.c does what
 * every family shares: the common tensor names, expert stacking, F8_E4M3 block scales, the
 * common hyper-parameters; a row adds its own names, keys and refusals.
 */
struct fy_name_pair {
	const char *hf, *gguf;
};

/* Value and shape operations of fy_hf_arch.tensor_ops (llama.cpp's converters' modify_tensors). */
enum {
	FY_TOP_PLUS_ONE = 1, /* w + 1 (norms stored as an offset from 1: Qwen3-Next) */
	FY_TOP_NEG_EXP = 2,  /* -exp(w) (a decay from its log: A_log) */
	FY_TOP_SQUEEZE = 4,  /* [rows, 1, cols] read as [rows, cols] (a depthwise conv1d) */
	/* written with the source's shape padded to four dimensions at the front, as llama.cpp's
	 * converter reshapes it ([C, 1, K] as [1, C, 1, K]: ne K x 1 x C x 1; Kimi-Linear), the
	 * data as rows of the last dimension */
	FY_TOP_4D = 8,
};

struct fy_hf_arch {
	const char *hf;		/* config.json architectures[0] */
	const char *gguf;	/* general.architecture */
	const char *model_type; /* config.json model_type */
	bool permute_qk;	/* q/k rows in HF's rotate-half layout: permuted (llama) */
	bool explicit_head_dim; /* config.json always carries head_dim (qwen3) */
	bool experts;		/* a mixture of experts: mlp.experts.E.* stacked into *_exps */
	bool expert_ff_is_ff;	/* the experts' width is intermediate_size (MiniMax), not
				 * moe_intermediate_size */
	/* the multi-token-prediction layers stored after the last one (num_nextn_predict_layers)
	 * are converted as blk.N.* (and block_count counts them), else left out */
	bool keep_nextn;
	/* latent attention's kv_b written as attn_k_b and attn_v_b (llama.cpp v0.5.0's layout for
	 * the absorbed form) */
	bool split_kv_b;
	bool kv_heads_one; /* attention.head_count_kv 1 (latent attention as MQA, as llama.cpp) */
	/* the family's own per-layer names (HF suffix after model.layers.N., GGUF suffix after
	 * blk.N.), looked up before the common ones; { NULL, NULL } ends the list; may be NULL */
	const struct fy_name_pair *names;
	/* a routed expert's tensors: model.layers.N.<expert_prefix>E.<expert_names[i].hf> stacked
	 * into blk.N.<expert_names[i].gguf> (NULL: "mlp.experts." and {gate,up,down}_proj) */
	const char *expert_prefix;
	const struct fy_name_pair *expert_names;
	/* the BPE pre-tokenizer's name where tokenizer.json's split regex is llama-bpe's
	 * (llama.cpp's converter tells them apart by hashing a tokenization: GLM's is "glm4"), or
	 * NULL */
	const char *bpe_pre;
	/* special tokens the family fixes by their text (hf: the text, gguf: "bos", "eot", ...:
	 * tokenizer.ggml.<gguf>_token_id), over tokenizer_config.json's; { NULL, NULL } ends */
	const struct fy_name_pair *special_tokens;
	/* the routing's scoring function when config.json names none (GLM: "sigmoid"), or NULL */
	const char *scoring;
	/* the layers' prefix in the checkpoint (NULL: "model.layers."; DeepSeek-V4: "layers.") */
	const char *layer_prefix;
	/* the family's own names outside the layers (HF name, GGUF name; "" leaves the tensor
	 * out), looked up before the common ones; may be NULL */
	const struct fy_name_pair *globals;
	/* whether the family leaves out tensor `hf` (of layer `layer`, -1 outside the layers), as
	 * llama.cpp's converter does (may be NULL) */
	bool (*skip)(const struct fy_hf_config *g, const char *hf, long layer);
	/* every layer a mixture: config.json has no intermediate_size, and no
	 * feed_forward_length is written */
	bool no_dense;
	/* the output types follow the source's whatever --outtype, as llama.cpp's DeepSeek-V4
	 * converter: FP8 matrices Q8_0, BF16 matrices BF16, F32 tensors F32, MXFP4 experts copied
	 * bit for bit; the rest (BF16 vectors) F32 */
	bool source_types;
	/* a checkpoint name rewritten before it is mapped (Qwen3-Next: mtp.* to the layers after
	 * the last); true when it wrote `out` (may be NULL). Layers found past num_hidden_layers
	 * after renaming count as next-token-prediction layers when config.json does not say. */
	bool (*rename)(const struct fy_hf_config *g, const char *hf, char *out, size_t cap);
	/* what is done to a tensor's values and shape on the way (may be NULL): FY_TOP_* flags of
	 * its GGUF name */
	unsigned (*tensor_ops)(const char *gguf);
	/* Qwen3-Next's in_proj_qkvz (mapped to attn_qkvz) written as attn_qkv (each key head's q,
	 * k and v rows regrouped: all q, all k, all v) and attn_gate (the z rows), as llama.cpp's
	 * converter splits it */
	bool split_qkvz;
	/* Qwen3.5's linear-attention value heads reordered from grouped by key head to tiled
	 * (llama.cpp's _LinearAttentionVReorderBase): rows of attn_qkv's value part, attn_gate,
	 * ssm_beta, ssm_alpha and the convolution's value channels, columns of ssm_out, ssm_a and
	 * ssm_dt.bias */
	bool vhead_reorder;
	/* rows of the embeddings past the tokenizer's own vocabulary (its added tokens and
	 * padding) that are all zero are written as tokenizer.ggml.suppress_tokens (MiniMax-01,
	 * as llama.cpp's converter) */
	bool suppress_zero_rows;
	/* refusals of config.json beyond the common ones (may be NULL) */
	int (*check)(const struct fy_hf_config *g, const char *path, struct fy_err *err);
	/* the family's GGUF keys, after the common ones (general.architecture ... the RMS epsilon)
	 */
	int (*keys)(struct fy_gguf_writer *w, const char *arch, const struct fy_hf_config *g,
		    struct fy_err *err);
};

/* GLM's fixed special tokens (convert/arch/glm.c), shared by the GLM-vocabulary rows. */
extern const struct fy_name_pair fy_glm_specials[];

/* The table (convert/arch.c), NULL-terminated. */
extern const struct fy_hf_arch *const fy_hf_archs[];
/* The row of config.json architecture `hf`, or NULL. */
const struct fy_hf_arch *fy_convert_arch_of_hf(const char *hf);
/* The first row converting to GGUF architecture `gguf`, or NULL. */
const struct fy_hf_arch *fy_convert_arch_of_gguf(const char *gguf);
/* The HF per-layer suffix ("self_attn.q_proj.weight") of a GGUF one ("attn_q.weight") in
 * architecture a (its own names, then the common ones), or NULL. */
const char *fy_convert_layer_hf(const struct fy_hf_arch *a, const char *gguf_suffix);
/* The GGUF per-layer suffix of an HF one, or NULL. */
const char *fy_convert_layer_gguf(const struct fy_hf_arch *a, const char *hf_suffix);

/* Key writers for the families' `keys` (convert/arch.c): ARCH.suffix = v. */
int fy_kv_u32(struct fy_gguf_writer *w, const char *arch, const char *suffix, uint32_t v,
	      struct fy_err *err);
/* ARCH.suffix = n booleans, the first n_src from src, the rest false. */
int fy_kv_bool_array(struct fy_gguf_writer *w, const char *arch, const char *suffix, int64_t n,
		     const bool *src, int64_t n_src, struct fy_err *err);
int fy_kv_f32(struct fy_gguf_writer *w, const char *arch, const char *suffix, double v,
	      struct fy_err *err);
int fy_kv_bool(struct fy_gguf_writer *w, const char *arch, const char *suffix, bool v,
	       struct fy_err *err);
/* attention.key_length and value_length when config.json gives head_dim. */
int fy_kv_head_dim(struct fy_gguf_writer *w, const char *arch, const struct fy_hf_config *g,
		   struct fy_err *err);
/* A mixture's expert_count, expert_used_count, expert_feed_forward_length and (when given)
 * expert_weights_norm. */
int fy_kv_experts(struct fy_gguf_writer *w, const char *arch, const struct fy_hf_config *g,
		  struct fy_err *err);
/* rope_scaling's linear or YaRN keys; log_mul: YaRN's yarn_log_multiplier (0.1 x
 * mscale_all_dim) is written (DeepSeek). */
int fy_kv_rope_scaling(struct fy_gguf_writer *w, const char *arch, const struct fy_hf_config *g,
		       bool log_mul, struct fy_err *err);
/* rope.dimension_count = n and vocab_size (llama's and DeepSeek's converters write them). */
int fy_kv_rope_dims_vocab(struct fy_gguf_writer *w, const char *arch, const struct fy_hf_config *g,
			  int64_t n, struct fy_err *err);
/* A mixture's config.json: expert counts and width, no dense layers among the sparse ones. */
int fy_check_experts(const struct fy_hf_arch *a, const struct fy_hf_config *g, const char *path,
		     struct fy_err *err);
/* DeepSeek-style routing: n_group groups of which topk_group are kept, sigmoid or softmax. */
int fy_check_grouped_routing(const struct fy_hf_config *g, const char *path, struct fy_err *err);

/* Writes tokenizer.json, tokenizer_config.json (and tokenizer.model for SentencePiece) from g's
 * vocabulary into dir (convert/export_tok.c); *n_vocab receives the token count, *kind
 * "SentencePiece" or "byte-level BPE". */
int fy_export_tokenizer(const struct fy_gguf *g, const char *dir, size_t *n_vocab,
			const char **kind, struct fy_err *err);
/* Writes j (taken over) as dir/name, pretty, newline-terminated, atomically. */
int fy_export_json(const char *dir, const char *name, struct fy_json *j, struct fy_err *err);

#endif
