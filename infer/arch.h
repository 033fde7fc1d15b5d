/*
 * Inside the engine: one architecture is a row of the table in infer/arch.c, defined in
 * infer/arch/NAME.c (as llama.cpp's src/models/NAME.cpp): its own hyper-parameters, the tensors
 * of a layer and the layer's forward pass, composed of the building blocks below (model.c loads,
 * eval.c computes). Adding an architecture is a file in infer/arch/ and a line in the table.
 */
#ifndef FERRY_INFER_ARCH_H
#define FERRY_INFER_ARCH_H

#include "infer/infer.h"

struct fy_model_arch {
	const char *name;		  /* general.architecture */
	enum fy_rope_style rope, hf_rope; /* of GGUF files, of HF checkpoints */
	/* its keys beyond the common ones (block_count ... rope); NULL: none */
	int (*hparams)(struct fy_model *m, struct fy_err *err);
	/* layer l's tensors into m->layers[l] */
	int (*load_layer)(struct fy_model *m, int l, struct fy_layer *L, struct fy_err *err);
	/* layer l over the batch of n tokens in c->s.x */
	int (*layer)(struct fy_ctx *c, int l, int n, struct fy_err *err);
	/* every layer a mixture: no feed_forward_length needed */
	bool no_dense;
	/* the forward from the embeddings in c->s.x to the hidden states before the output norm,
	 * when it is more than the layers in order (DeepSeek-V4's hyper-connection streams); NULL:
	 * the layers */
	int (*body)(struct fy_ctx *c, int n, struct fy_err *err);
	/* releases c->state, what body kept in the context (NULL: nothing kept) */
	void (*ctx_free)(struct fy_ctx *c);
};

/* After layer l has run: its mapped weights handed back to the kernel when the model streams
 * them (fy_model.stream: they are read from the page cache, or the disk, the next time); an
 * architecture's own forward (body) calls it as the generic loop does. */
void fy_eval_release_layer(const struct fy_ctx *c, int l);

/* The row of general.architecture `name`, or NULL (infer/arch.c). */
const struct fy_model_arch *fy_model_arch_find(const char *name);

/* --- loading (infer/model.c) ---------------------------------------------------------------- */

/* A numeric ARCH.suffix key: false when absent or not a number. */
bool fy_model_kv_num(const struct fy_model *m, const char *suffix, double *out);
/* Element i of the numeric array key ARCH.suffix (a scalar key: its value for every i); false
 * when absent, shorter or not numbers. */
bool fy_model_kv_arr(const struct fy_model *m, const char *suffix, int64_t i, double *out);
/* The first n elements of the boolean array key ARCH.suffix: FY_ENOTFOUND (no error set) when
 * absent, a format error when not n booleans. */
int fy_model_kv_flags(const struct fy_model *m, const char *suffix, int64_t n, bool *out,
		      struct fy_err *err);
/* The vocabulary's size as llama.cpp counts it: ARCH.vocab_size, else the token list's length;
 * -1 when neither is there. */
int64_t fy_model_vocab_count(const struct fy_model *m);
/* Whether a deepseek2 file without expert_gating_func is GLM-4.7-Flash by llama.cpp's rule (47
 * layers, 48 with the next-token layer, and 154,880 tokens): sigmoid routing
 * (infer/arch/deepseek2.c). */
bool fy_deepseek2_is_glm_lite(int n_layer, int64_t n_vocab);
/* An integer ARCH.suffix in [1, 2^20] (absent: dflt unless required). */
int fy_model_kv_int(const struct fy_model *m, const char *suffix, bool required, int dflt, int *out,
		    struct fy_err *err);
/* The mixture's keys (expert counts, groups, gating, weights); expert_norm unless the file says
 * otherwise when norm_default. An architecture whose experts are feed_forward_length wide (its
 * files carry no expert_feed_forward_length: MiniMax-01) sets hp.n_ff_exp to -1 first. */
int fy_model_read_experts(struct fy_model *m, bool norm_default, struct fy_err *err);
/* Latent attention's ranks, the KV heads it fills, YaRN's softmax scale (DeepSeek). */
int fy_model_read_mla(struct fy_model *m, struct fy_err *err);

/* A matrix ne0 x ne1 named `name` (absent: an error unless optional, w->data stays NULL). */
int fy_model_weight(struct fy_model *m, const char *name, int64_t ne0, int64_t ne1, bool optional,
		    struct fy_weight *w, struct fy_err *err);
/* A vector of n values as F32, owned by the model (absent and optional: *out untouched). */
int fy_model_vector(struct fy_model *m, const char *name, int64_t n, bool optional,
		    const float **out, struct fy_err *err);
/* A matrix ne0 x ne1 as F32 (row-major, rows of ne0), owned by the model. */
int fy_model_matrix_f32(struct fy_model *m, const char *name, int64_t ne0, int64_t ne1,
			bool optional, const float **out, struct fy_err *err);
/* An I32 matrix ne0 x ne1 copied into dst (ne0 * ne1 values), each checked in [0, limit). */
int fy_model_i32(struct fy_model *m, const char *name, int64_t ne0, int64_t ne1, int32_t limit,
		 int32_t *dst, struct fy_err *err);
/* Grouped-query attention's q, k, v, output and (optional) biases; the per-head q/k norms,
 * required when qk_norm. */
int fy_model_load_attn(struct fy_model *m, int l, struct fy_layer *L, bool qk_norm,
		       struct fy_err *err);
/* Latent attention's tensors (DeepSeek). */
int fy_model_load_attn_latent(struct fy_model *m, int l, struct fy_layer *L, struct fy_err *err);
/* The feed-forward: dense SwiGLU (a dense model, or a leading dense layer), else the router,
 * selection bias, stacked experts and shared experts. */
int fy_model_load_ffn(struct fy_model *m, int l, struct fy_layer *L, struct fy_err *err);
/* A pre-norm block's tensors: blk.l.attn_norm, the attention (latent when kv_lora_rank > 0; the
 * per-head q/k norms required when qk_norm), blk.l.<ffn_norm> (the feed-forward's norm:
 * "ffn_norm", or GLM's "post_attention_norm") and the feed-forward. */
int fy_model_load_block(struct fy_model *m, int l, struct fy_layer *L, const char *ffn_norm,
			bool qk_norm, struct fy_err *err);

/* --- recurrent layers' state (infer/eval.c) ------------------------------------------------ */

/* A linear-attention architecture's state in c->state: each recurrent layer's short-convolution
 * inputs (conv) and heads' states (s), zeroed; NULL for the other layers. linear(m, l) says
 * which layers are recurrent. */
struct fy_recurrent {
	float **conv, **s;
};
int fy_recurrent_new(struct fy_ctx *c, bool (*linear)(const struct fy_model *m, int l),
		     size_t conv_floats, size_t state_floats, struct fy_err *err);
/* Releases c->state made by fy_recurrent_new (an architecture's ctx_free). */
void fy_recurrent_free(struct fy_ctx *c);

/* --- evaluation (infer/eval.c) -------------------------------------------------------------- */

/* Activations of a batch, kept by the context and grown to the largest batch seen. */
struct fy_scratch {
	int cap; /* tokens the buffers hold */
	float *x, *xn, *q, *k, *v, *att, *o, *g, *u;
	float *rope; /* [token][n_rot]: cos and sin of each pair at the token's position */
	/* latent attention: q_a's and kv_a's outputs, the normalized latent, kv_b's output (the
	 * absorbed form: gathered rows, the queries in latent space, the latent outputs) */
	float *qa, *kva, *lat, *kvb, *att_lat;
	/* the lightning indexer: queries, weights, and each token's selected positions */
	float *iq, *iw;
	uint8_t *sel; /* [n][n_ctx]: 1 where token t attends to position p */
	/* a mixture: router logits, the chosen experts and weights of each token, one expert's
	 * tokens gathered and its output */
	float *logits, *weights, *ein, *eout;
	int *chosen, *rows;
};

struct fy_ctx {
	const struct fy_model *m;
	struct fy_pool *pool;
	int n_ctx, pos;
	fy_matmul_hook_fn hook; /* sees every product's input (NULL: none) */
	void *hook_ctx;
	const int32_t *tokens; /* the batch being evaluated (hash routing reads them) */
	void *state;	       /* the architecture's own caches (its ctx_free releases them) */
	float *k, *v;	       /* [layer][n_ctx][n_head_kv * head_dim (v: head_dim_v)] */
	float *idx;	       /* [layer][n_ctx][idx_dim]: the lightning indexer's keys, or NULL */
	struct fy_scratch s;
	enum fy_activations act;
	struct fy_buf mm; /* the products' rounded activations (fy_matmul_s) */
};

/* y = W x over n rows of x (ldy floats apart in y), shown to the context's hook first. */
int fy_eval_mm(struct fy_ctx *c, const struct fy_weight *w, int expert, const float *x, int64_t n,
	       float *y, int64_t ldy, struct fy_err *err);
/* s.xn = RMSNorm(s.x) with weights g, for n tokens. */
void fy_eval_norm(struct fy_ctx *c, const float *g, int n);
/* s.o = RMSNorm(s.o) with weights g, for n tokens (a sandwich norm of a block's output). */
void fy_eval_norm_out(struct fy_ctx *c, const float *g, int n);
/* s.x += s.o for n tokens (the residual). */
void fy_eval_residual(struct fy_ctx *c, int n);
/* Grouped-query attention's q, k, v of s.xn: projections, biases, per-head norms, RoPE. */
int fy_eval_qkv(struct fy_ctx *c, const struct fy_layer *L, int n, struct fy_err *err);
/* Latent attention's q, k, v of s.xn (DeepSeek). */
int fy_eval_qkv_latent(struct fy_ctx *c, const struct fy_layer *L, int n, struct fy_err *err);
/* Latent attention in the absorbed form (k_b/v_b files): q, the cached latent and rotated key
 * part, each head's query absorbed by its k_b, attention over the latents, v_b, the output
 * projection into s.o. */
int fy_eval_attention_absorbed(struct fy_ctx *c, int l, int n, struct fy_err *err);
/* Stores s.k and s.v in layer l's cache and attends causally into s.att. */
int fy_eval_attend(struct fy_ctx *c, int l, int n, struct fy_err *err);
/* Stores s.k and s.v in layer l's cache, attends causally, projects into s.o. */
int fy_eval_attention(struct fy_ctx *c, int l, int n, struct fy_err *err);
/* The feed-forward of s.xn into s.o: dense SwiGLU, or the mixture (routed and shared experts). */
int fy_eval_ffn(struct fy_ctx *c, const struct fy_layer *L, int n, struct fy_err *err);
/* The second half of a pre-norm block: x += s.o (the attention's output), then
 * x += ffn(ffn_norm(x)). */
int fy_eval_ffn_residual(struct fy_ctx *c, const struct fy_layer *L, int n, struct fy_err *err);
/* A pre-norm block: x += attention(norm(x)); x += ffn(norm(x)) (latent attention when
 * kv_lora_rank > 0). */
int fy_eval_block(struct fy_ctx *c, int l, int n, struct fy_err *err);

#endif
