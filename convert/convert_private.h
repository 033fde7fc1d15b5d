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
/* Writes tokenizer.ggml.* for the checkpoint in dir (convert/tokenizer.c); *n_vocab receives
 * the vocabulary size written. */
int fy_convert_tokenizer(struct fy_gguf_writer *w, const char *dir, const struct fy_hf_config *cfg,
			 size_t *n_vocab, struct fy_err *err);

#endif
