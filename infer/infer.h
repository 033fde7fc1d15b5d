/*
 * infer: ferry's reference inference engine for the llama family (llama, qwen2, qwen3), the
 * mixtures of experts (Qwen3-MoE, DeepSeek-V3/V3.2/V4, GLM-4.5, MiniMax-M2, Kimi) and the
 * Gated DeltaNet hybrid Qwen3-Next; one file per architecture in infer/arch/ (infer/arch.h).
 *
 *   kernels        dot products and matrix products over rows of any type quant/ reads, RMSNorm,
 *                  RoPE (adjacent pairs and NEOX; linear and YaRN scaling), softmax, SiLU; a
 *                  scalar reference for each and AVX2/FMA twins chosen at run time
 *   struct fy_model    hyper-parameters, weights used in place from the mmap (a GGUF file or an
 *                      HF checkpoint directory), the vocabulary
 *   struct fy_ctx      a KV cache and scratch: fy_eval runs a batch of tokens
 *   struct fy_vocab    SentencePiece-style and byte-level BPE tokenizers (infer/vocab.c)
 *   fy_sample          greedy, temperature, top-k, top-p with a seeded generator
 *   fy_smoke           perplexity, KL divergence and top-1 agreement of a candidate against its
 *                      reference (infer/smoke.c)
 *
 * Weights are never converted up front: a matrix product dequantizes each stored row once per
 * call into a small buffer (exact: the dequantizers are llama.cpp's) and takes F32 dot products
 * with every activation of the batch. See docs/INFER.md for the choice and its accuracy.
 */
#ifndef FERRY_INFER_H
#define FERRY_INFER_H

#include "convert/convert.h"
#include "core/core.h"

/* ------------------------------------------------------------------------------------------ */
/* Kernels (infer/kernels.c, infer/kernels_avx2.c)                                            */

/* An integer product tile (infer/qdot.h): y[t * ldy + r] = row r (w + r * ldw) . activation
 * row t (a + t * lda), nb blocks, for r < nr and t < nt (at most 4). */
typedef void (*fy_qdot_fn)(const uint8_t *w, size_t ldw, int nr, const uint8_t *a, size_t lda,
			   int nt, int64_t nb, float *y, int64_t ldy);

struct fy_kernels {
	const char *name; /* "scalar" or "avx2" */
	float (*dot)(const float *a, const float *b, int64_t n);
	/* out[r] = dot(w + r * ldw, x) for r < 4 */
	void (*dot4)(const float *w, int64_t ldw, const float *x, int64_t n, float out[4]);
	/* the same for three activation vectors (x + t * ldx) at once, y[t * ldy + r] for t < 3:
	 * each value bit for bit what dot4 gives (the batched product's register tile) */
	void (*dot4x3)(const float *w, int64_t ldw, const float *x, int64_t ldx, int64_t n,
		       float *y, int64_t ldy);
	/* dot4x3 over F16 rows read as they are stored (ldw in elements): the same values as
	 * dot4x3 over the rows converted to F32, without the conversion pass; NULL: none */
	void (*dot4x3_f16)(const uint16_t *w, int64_t ldw, const float *x, int64_t ldx, int64_t n,
			   float *y, int64_t ldy);
	/* the same over BF16 rows; dot4 over F16 and BF16 rows (NULL: none) */
	void (*dot4x3_bf16)(const uint16_t *w, int64_t ldw, const float *x, int64_t ldx, int64_t n,
			    float *y, int64_t ldy);
	void (*dot4_f16)(const uint16_t *w, int64_t ldw, const float *x, int64_t n, float out[4]);
	void (*dot4_bf16)(const uint16_t *w, int64_t ldw, const float *x, int64_t n, float out[4]);
	/* y[i] += a * x[i] */
	void (*axpy)(float a, const float *x, float *y, int64_t n);
	/* the set's integer product kernel for a weight type (infer/qdot.h), or NULL: the type's
	 * scalar one */
	fy_qdot_fn (*qdot)(enum fy_dtype t);
};

extern const struct fy_kernels fy_kernels_scalar;
/* The AVX2/FMA kernels, or NULL when this CPU (or this build) lacks them. */
const struct fy_kernels *fy_kernels_avx2(void);
/* The kernels in use: AVX2 when the CPU has AVX2 and FMA and FERRY_SIMD is not "scalar". */
const struct fy_kernels *fy_kernels_active(void);
void fy_kernels_select(const struct fy_kernels *k);

/* A 2-D weight as stored: ne1 rows of ne0 elements of `type`, row r at data + r * row_bytes. */
struct fy_weight {
	enum fy_dtype type;
	int64_t ne0, ne1;
	size_t row_bytes;
	const uint8_t *data;
	const char *name; /* the GGUF tensor it comes from (an expert's: the stacked tensor) */
	/* F8_E4M3, or compressed-tensors int4 (type I32: eight values a word, value - 8), read
	 * where an HF checkpoint holds it: its scales (F32, F16 or BF16, scale_ld per row of
	 * blocks, blocks of block[0] rows x block[1] columns: int4's groups are 1 x group);
	 * NULL for the rest */
	const uint8_t *scale;
	enum fy_dtype scale_type;
	int64_t scale_ld, block[2];
};

/* Row r of w as floats: the type's exact dequantization, or (F8_E4M3 with block scales) each
 * value times its block's scale in float, as the converter computes it. */
void fy_weight_row(const struct fy_weight *w, int64_t r, float *out);

/*
 * y[t * ldy + r] = W_r · x[t * ne0 ...] for t < n_tok, r < ne1: every row of W is dequantized
 * once per call. Spread over pool's threads (pool may be NULL).
 */
int fy_matmul(const struct fy_weight *w, const float *x, int64_t n_tok, float *y, int64_t ldy,
	      struct fy_pool *pool, struct fy_err *err);
/* fy_matmul, or with scratch given (kept between calls; fy_buf_release frees it) the integer
 * products of infer/qdot.c for the types that have them (Q8_0, Q4_K, Q5_K, Q6_K, IQ4_XS) on
 * batches of at most 8 tokens (generation): the activations rounded to 8-bit blocks, as ggml's
 * CPU kernels round them. */
int fy_matmul_s(const struct fy_weight *w, const float *x, int64_t n_tok, float *y, int64_t ldy,
		struct fy_pool *pool, struct fy_buf *scratch, struct fy_err *err);
/* out = x / sqrt(mean(x^2) + eps) * g (g may be NULL); out may be x. */
void fy_rmsnorm(const float *x, const float *g, float eps, int64_t n, float *out);
/* Softmax in place over n values. */
void fy_softmax(float *x, int64_t n);
/* x[i] = silu(x[i]) * y[i] */
void fy_swiglu(float *x, const float *y, int64_t n);
/* x / (1 + exp(-x)) */
float fy_silu(float x);
/* x / sqrt(sum x^2 + eps) over n values, in place (llama.cpp's build_gdn_l2_norm). */
void fy_l2norm(float *x, int64_t n, float eps);
/* A depthwise causal convolution of k taps over n tokens of c channels, through SiLU, in place:
 * window holds the last k - 1 inputs (oldest first; a row of c each) and is kept for the next
 * batch; w is [channel][tap]. (Gated DeltaNet's and Kimi Delta Attention's short convolutions.) */
void fy_short_conv(float *window, const float *w, float *x, int n, int64_t c, int64_t k);

enum fy_rope_style {
	FY_ROPE_NORM, /* rotates adjacent pairs (2i, 2i + 1): GGUF llama */
	FY_ROPE_NEOX, /* rotates (i, i + n_rot / 2): qwen2, qwen3, HF checkpoints */
	FY_ROPE_NONE, /* no rotation (Kimi-Linear's latent attention: its rope part unrotated) */
};

enum fy_rope_scaling { FY_ROPE_SCALING_NONE, FY_ROPE_SCALING_LINEAR, FY_ROPE_SCALING_YARN };

struct fy_rope {
	enum fy_rope_style style;
	int n_rot;  /* dimensions rotated (the first n_rot of each head) */
	float base; /* rope_theta */
	enum fy_rope_scaling scaling;
	float factor;	/* scaling factor (> 1 stretches the context) */
	int n_ctx_orig; /* YaRN: the original training context */
	float beta_fast, beta_slow, attn_factor;
	const float *freq_factors; /* rope_freqs.weight (Llama 3 scaling): n_rot/2 divisors of the
				    * pairs' angles, or NULL */
};

/* The cos and sin of each rotated pair at position pos (n_rot floats: cos, sin per pair): one
 * table serves every head of the position. */
void fy_rope_angles(const struct fy_rope *r, int64_t pos, float *cs);
/* Rotates one head in place by the angles of fy_rope_angles. */
void fy_rope_apply(const struct fy_rope *r, float *head, const float *cs);

/* ------------------------------------------------------------------------------------------ */
/* Vocabulary and tokenizers (infer/vocab.c)                                                  */

enum fy_vocab_kind { FY_VOCAB_SPM, FY_VOCAB_BPE };

enum fy_token_type {
	FY_TOKEN_NORMAL = 1,
	FY_TOKEN_UNKNOWN = 2,
	FY_TOKEN_CONTROL = 3,
	FY_TOKEN_USER_DEFINED = 4,
	FY_TOKEN_UNUSED = 5,
	FY_TOKEN_BYTE = 6,
};

struct fy_vocab;

/* Reads tokenizer.ggml.* of a GGUF file (the strings are borrowed: g must outlive the vocab). */
int fy_vocab_load(struct fy_vocab **out, const struct fy_gguf *g, struct fy_err *err);
void fy_vocab_free(struct fy_vocab *v);
int32_t fy_vocab_size(const struct fy_vocab *v);
enum fy_vocab_kind fy_vocab_kind(const struct fy_vocab *v);
int32_t fy_vocab_bos(const struct fy_vocab *v); /* -1 when none */
int32_t fy_vocab_eos(const struct fy_vocab *v);
/* The end-of-turn token (<|im_end|>, <|eot_id|>...), else EOS; -1 when none. */
int32_t fy_vocab_eot(const struct fy_vocab *v);
bool fy_vocab_add_bos(const struct fy_vocab *v);
enum fy_token_type fy_vocab_type(const struct fy_vocab *v, int32_t id);
/* The token's text as stored, or NULL for an id outside the vocabulary. */
struct fy_str fy_vocab_text(const struct fy_vocab *v, int32_t id);
/* Finds a token by its stored text; -1 when absent. */
int32_t fy_vocab_find(const struct fy_vocab *v, const char *text, size_t len);
/* The chat template (tokenizer.chat_template), or NULL. */
const char *fy_vocab_chat_template(const struct fy_vocab *v);

/*
 * Tokenizes len bytes of text into ids (appended to *ids, a malloc'd array of *n elements, grown
 * as needed). add_special: the vocabulary's BOS (and EOS) as its flags say; parse_special: the
 * text of control and user-defined tokens becomes those tokens.
 */
int fy_tokenize(const struct fy_vocab *v, const char *text, size_t len, bool add_special,
		bool parse_special, int32_t **ids, size_t *n, struct fy_err *err);
/* Appends the bytes token id stands for to out; control tokens are empty unless `special`. */
int fy_detokenize(const struct fy_vocab *v, int32_t id, bool special, struct fy_buf *out,
		  struct fy_err *err);

/* ------------------------------------------------------------------------------------------ */
/* Models (infer/model.c) and evaluation (infer/eval.c)                                       */

enum fy_gating { /* llama.cpp's numbers */
		 FY_GATING_SOFTMAX = 1,
		 FY_GATING_SIGMOID = 2,
		 FY_GATING_SQRT_SOFTPLUS = 4, /* sqrt(softplus(logit)): DeepSeek-V4 */
};

struct fy_hparams {
	char arch[32]; /* llama, qwen2, qwen3, qwen3moe, deepseek2 */
	int n_vocab, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_ctx_train;
	int head_dim_v; /* a value head's size: head_dim but for latent attention */
	float eps;
	float kq_scale; /* attention's softmax scale: 1/sqrt(head_dim), YaRN's mscale^2 over it */
	struct fy_rope rope;
	/* a mixture of experts (n_expert 0: every layer dense): n_expert_used of n_expert routed
	 * experts of width n_ff_exp per token, n_expert_shared always-on ones, the first
	 * n_dense_lead layers dense; selection among the n_group_used best of n_group groups */
	int n_expert, n_expert_used, n_ff_exp, n_expert_shared, n_dense_lead;
	int n_ff_shexp; /* the shared experts' width (n_ff_exp x n_expert_shared unless the file
			 * names expert_shared_feed_forward_length) */
	int n_group, n_group_used;
	enum fy_gating gating;
	bool expert_norm;   /* the chosen weights renormalized to sum 1 */
	float expert_scale; /* and then multiplied by this (DeepSeek's routed_scaling_factor) */
	/* DeepSeek's multi-head latent attention (kv_lora_rank 0: ordinary attention): q through
	 * a q_lora_rank bottleneck (0: none), k and v from a kv_lora_rank latent; the first
	 * head_dim - rope.n_rot dimensions of a key head carry no position, the rest (shared by
	 * every head) are rotated */
	int q_lora_rank, kv_lora_rank;
	/* kv_b split into per-head k_b and v_b (llama.cpp v0.5.0's files): attention runs in the
	 * absorbed form and the cache holds each position's latent and rotated key part */
	bool mla_absorbed;
	/* DeepSeek-V3.2's lightning indexer (idx_heads 0: none): each token attends only to the
	 * idx_top_k earlier positions its indexer scores highest */
	int idx_heads, idx_dim, idx_top_k;
	bool qk_norm_whole; /* q/k RMSNorms span all heads of the projection (MiniMax), not one */
	bool ffn_fused;	    /* the dense feed-forward's gate and up are one ffn_up of 2 x n_ff rows
			     * (GLM-4: silu(first half) x second half) */
};

struct fy_layer {
	const float *attn_norm, *bq, *bk, *bv, *q_norm, *k_norm, *ffn_norm; /* NULL when absent */
	/* norms of the attention's and the feed-forward's outputs (GLM-4's sandwich), or NULL */
	const float *attn_post_norm, *ffn_post_norm;
	struct fy_weight wq, wk, wv, wo, gate, up, down;
	/* latent attention: q_a, q_b (or wq), kv_a (latent + the rope part), kv_b */
	struct fy_weight wq_a, wq_b, wkv_a, wkv_b;
	/* the absorbed form: each head's k_b (rank rows of its unrotated key part) and v_b (value
	 * rows of rank), n_head of each (one allocation: wv_b = wk_b + n_head), or NULL */
	struct fy_weight *wk_b, *wv_b;
	/* the lightning indexer: queries from q_a's normalized output, one key per position
	 * (LayerNorm with bias), per-head weights */
	struct fy_weight idx_q_b, idx_k, idx_proj;
	const float *idx_k_norm, *idx_k_norm_b;
	const float *q_a_norm, *kv_a_norm;
	/* a mixture of experts' layer (moe): the router, the selection bias (or NULL), each
	 * expert's gate, up and down (3 x n_expert, expert-major), the shared experts */
	bool moe;
	struct fy_weight router;
	const float *exp_bias;
	struct fy_weight *experts;
	struct fy_weight gate_sh, up_sh, down_sh;
	/* the shared experts' own gate (Qwen3-Next: their output times sigmoid(gate . x)), or
	 * data NULL */
	struct fy_weight shexp_gate;
	/* hash routing (DeepSeek-V4's leading layers): each token's n_expert_used experts are its
	 * row of this n_vocab x n_expert_used table (checked < n_expert on load), or NULL */
	const int32_t *tid2eid;
	/* SwiGLU clamped (DeepSeek-V4): silu(min(gate, limit)) * clamp(up, -limit, limit) in the
	 * routed experts and in the shared ones; 0: not clamped */
	float swiglu_limit, swiglu_limit_sh;
	void *ext; /* an architecture's own tensors of the layer (one allocation, freed with it) */
};

struct fy_model_arch; /* the architecture's row (infer/arch.h) */

struct fy_model {
	struct fy_hparams hp;
	const struct fy_model_arch *arch;
	struct fy_weight tok_embd, output; /* output = tok_embd when tied */
	const float *output_norm;
	struct fy_layer *layers;
	struct fy_vocab *vocab;
	bool from_hf; /* an HF checkpoint directory (else a GGUF file) */
	enum fy_dtype
		ftype; /* the gate's type: general.file_type's base, else the commonest by bytes */
	char type_name[16];    /* the mixture asked for ("Q4_K_M"), else ftype's name */
	struct fy_gguf *gguf;  /* the GGUF file, or NULL */
	struct fy_hf_view *hf; /* the HF checkpoint, or NULL */
	float **owned;	       /* 1-D tensors converted to F32 */
	size_t n_owned;
	void *ext; /* an architecture's own model-wide tensors (one allocation, freed with it) */
	/* Weights released behind the layer that used them (fy_eval_release_layer): each layer's
	 * tensors' mapped bytes, handed back to the kernel once the layer has run, so resident
	 * memory stays near one layer's weights whatever the model's size. */
	bool stream;
	struct fy_span {
		const void *p;
		size_t n;
	} * *layer_spans;      /* per layer, ending with { NULL, 0 } */
	uint64_t weight_bytes; /* every tensor's mapped bytes */
};

/* Opens a GGUF file or an HF checkpoint directory; weights stay in the mapping. Streaming
 * (fy_model.stream) is on when the weights are larger than three quarters of the memory
 * the process may use (the machine's, or its memory cgroup's limit: a container's), or
 * FERRY_STREAM_WEIGHTS=1 asks for it (=0: never). */
int fy_model_open(struct fy_model **out, const char *path, struct fy_err *err);
void fy_model_free(struct fy_model *m);
/* The architectures ferry runs, for messages. */
const char *fy_model_archs(void);

struct fy_ctx;

/* A context of n_ctx positions (<= 0: min(training context, 4096)) over pool (may be NULL). */
int fy_ctx_new(struct fy_ctx **out, const struct fy_model *m, int n_ctx, struct fy_pool *pool,
	       struct fy_err *err);
void fy_ctx_free(struct fy_ctx *c);
int fy_ctx_size(const struct fy_ctx *c);
int fy_ctx_pos(const struct fy_ctx *c); /* positions filled */
void fy_ctx_reset(struct fy_ctx *c);	/* forget the cache */
/* How a context's products treat activations: F32 (the default: the file's weights exactly,
 * activations never rounded; what the gate and imatrix measure with) or Q8 (rounded to 8-bit
 * blocks for the types infer/qdot.c covers and multiplied in integers, as llama.cpp's CPU
 * kernels do: faster, and an error of its own). FERRY_ACTIVATIONS=f32 or q8 overrides. */
enum fy_activations { FY_ACT_F32, FY_ACT_Q8 };
void fy_ctx_set_activations(struct fy_ctx *c, enum fy_activations a);
enum fy_activations fy_ctx_activations(const struct fy_ctx *c);

/* Called before each matrix product of an evaluation with its input: n_tok rows of w->ne0
 * activations; expert is the expert's index for a mixture's expert matrix, else -1 (the
 * importance-matrix collector, infer/imatrix.c). */
typedef void (*fy_matmul_hook_fn)(void *ctx, const struct fy_weight *w, int expert, const float *x,
				  int64_t n_tok);
void fy_ctx_set_hook(struct fy_ctx *c, fy_matmul_hook_fn fn, void *ctx);

/*
 * Runs n tokens at the next positions (a causal batch) and writes logits: of every token
 * (all = true, n * n_vocab floats) or of the last one only (n_vocab floats). n may be 0 (no
 * logits written). Fails when the context would overflow or an id is outside the vocabulary.
 */
int fy_eval(struct fy_ctx *c, const int32_t *tokens, int n, bool all, float *logits,
	    struct fy_err *err);

/* ------------------------------------------------------------------------------------------ */
/* Importance matrices (infer/imatrix.c)                                                      */

struct fy_imatrix_opts {
	int n_ctx;	     /* tokens per chunk (<= 0: 512) */
	int n_chunks;	     /* at most this many chunks (<= 0: every whole chunk of the text) */
	bool process_output; /* also collect output.weight */
	const char *dataset; /* recorded as imatrix.datasets (the text's name) */
	bool no_ppl;	     /* no perplexity (llama-imatrix's --no-ppl): report 0 */
	bool legacy_dat;     /* llama-imatrix's legacy .dat format (--output-format dat) */
	/* matrices merged first (llama-imatrix --in-file), in order; labels name them in errors */
	const struct fy_imatrix *const *merge;
	const char *const *merge_labels;
	size_t n_merge;
	void (*progress)(void *ctx, int done, int total);
	void *ctx;
};

struct fy_imatrix_report {
	int64_t n_tokens;
	int n_chunks;	    /* computed here */
	int n_chunks_total; /* recorded: with the merged matrices' */
	size_t n_entries;
	double ppl; /* over the second half of each chunk */
};

/* Computes an importance matrix of m over text and writes it to out_path (atomically) in
 * llama-imatrix's GGUF format (or its legacy .dat), added to the matrices o->merge holds. The
 * text must hold at least two chunks. m may be NULL (text unused) to merge matrices only. */
int fy_imatrix_compute(const struct fy_model *m, const char *text, size_t len,
		       const struct fy_imatrix_opts *o, struct fy_pool *pool, const char *out_path,
		       struct fy_imatrix_report *rep, struct fy_err *err);

/* ------------------------------------------------------------------------------------------ */
/* Sampling (infer/sample.c)                                                                  */

struct fy_sampler {
	float temp; /* <= 0: greedy */
	int top_k;  /* <= 0: all */
	float top_p;
	uint64_t state; /* the generator, from the seed */
};

void fy_sampler_init(struct fy_sampler *s, float temp, int top_k, float top_p, uint64_t seed);
/* Picks a token from n logits. */
int32_t fy_sample(struct fy_sampler *s, const float *logits, int n);
int32_t fy_argmax(const float *x, int n);

/* ------------------------------------------------------------------------------------------ */
/* The smoke gate (infer/smoke.c)                                                             */

struct fy_smoke_stats {
	int n_scored; /* tokens scored */
	double nll;   /* mean negative log-likelihood */
	double ppl;   /* exp(nll) */
};

struct fy_smoke_result {
	struct fy_smoke_stats cand, ref;
	double ppl_ratio; /* cand.ppl / ref.ppl */
	double kl_mean;	  /* mean KL(ref || cand) over scored positions */
	double kl_max;
	double top1; /* fraction of positions where both argmaxes agree */
	int n_tokens;
};

/* A gate's limits: the candidate passes when all three hold. */
struct fy_smoke_limits {
	double max_kl;	      /* mean KL divergence */
	double max_ppl_ratio; /* candidate perplexity / reference perplexity */
	double min_top1;      /* top-1 agreement */
};

/* The default limits for a candidate whose matrices are mostly of type t (docs/INFER.md). */
struct fy_smoke_limits fy_smoke_default_limits(enum fy_dtype t);
bool fy_smoke_passes(const struct fy_smoke_result *r, const struct fy_smoke_limits *l);
/* The bundled evaluation text (public domain English prose; docs/INFER.md). */
extern const char fy_smoke_default_text[];

/* Evaluates ids with both models in windows of n_ctx tokens (each from position 0). */
int fy_smoke_eval(const struct fy_model *cand, const struct fy_model *ref, const int32_t *ids,
		  int n, int n_ctx, struct fy_pool *pool, struct fy_smoke_result *out,
		  struct fy_err *err);

#endif
