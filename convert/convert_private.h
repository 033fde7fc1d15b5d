/* Declarations shared inside the convert module only. */
#ifndef FERRY_CONVERT_PRIVATE_H
#define FERRY_CONVERT_PRIVATE_H

#include "convert/convert.h"

/* Bytes of each fixed-size GGUF value type (0 for string and array), defined in gguf.c. */
extern const uint8_t fy_gguf_value_sizes[FY_GGUF_TYPE_COUNT];

/* Writes a byte-level BPE vocabulary from tokenizer.json at path (model, pre, tokens, token_type,
 * merges); *tokenizer_json receives the parsed file (for the special ids; the caller frees it). */
int fy_convert_bpe(struct fy_gguf_writer *w, const char *path, const struct fy_hf_config *cfg,
		   struct fy_json **tokenizer_json, size_t *n_vocab, struct fy_err *err);
/* llama.cpp's does_token_look_special: added tokens not flagged special that it still makes
 * CONTROL (<pad>, <mask>, <|...|>, <｜...｜>, <unused...>) (convert/bpe.c). */
bool fy_convert_looks_special(const char *token);
/* Writes tokenizer.ggml.* for the checkpoint in dir (convert/tokenizer.c); *n_vocab receives
 * the vocabulary size written. */
int fy_convert_tokenizer(struct fy_gguf_writer *w, const char *dir, const struct fy_hf_config *cfg,
			 size_t *n_vocab, struct fy_err *err);

/* Output row r into out, with scratch room for a row of floats (convert/rows.c). */
typedef int (*fy_row_fn)(const void *ctx, int64_t r, float *scratch, uint8_t *out,
			 struct fy_err *err);
/* Writes rows [0, rows) of out_row bytes each into sink, made by fn in 4 MiB chunks spread over
 * pool (NULL: this thread); n_cols floats of scratch per worker. */
int fy_convert_rows(struct fy_pool *pool, int64_t rows, int64_t n_cols, size_t out_row,
		    fy_row_fn fn, const void *ctx, struct fy_sink *sink, struct fy_err *err);

/* The architecture table of hf2gguf.c. */
struct fy_hf_arch {
	const char *hf;		/* config.json architectures[0] */
	const char *gguf;	/* general.architecture */
	const char *model_type; /* config.json model_type */
	bool permute_qk;
	bool rope_dims_and_vocab; /* llama writes rope.dimension_count and vocab_size */
	bool explicit_head_dim;	  /* config.json always carries head_dim (qwen3) */
	bool experts;		  /* a mixture of experts: mlp.experts.E.* stacked into *_exps */
	bool mla;		  /* DeepSeek's multi-head latent attention and its MoE keys */
};
/* The first row converting to GGUF architecture `gguf`, or NULL. */
const struct fy_hf_arch *fy_convert_arch_of_gguf(const char *gguf);
/* The HF per-layer suffix ("self_attn.q_proj.weight") of a GGUF one ("attn_q.weight"), or NULL. */
const char *fy_convert_layer_hf(const char *gguf_suffix);

/* Writes tokenizer.json, tokenizer_config.json (and tokenizer.model for SentencePiece) from g's
 * vocabulary into dir (convert/export_tok.c); *n_vocab receives the token count, *kind
 * "SentencePiece" or "byte-level BPE". */
int fy_export_tokenizer(const struct fy_gguf *g, const char *dir, size_t *n_vocab,
			const char **kind, struct fy_err *err);
/* Writes j (taken over) as dir/name, pretty, newline-terminated, atomically. */
int fy_export_json(const char *dir, const char *name, struct fy_json *j, struct fy_err *err);

#endif
