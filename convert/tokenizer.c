/*
 * Tokenizer metadata for GGUF (tokenizer.ggml.*). SentencePiece models are read from
 * tokenizer.model; special token ids, add_bos/add_eos and the chat template come from
 * tokenizer_config.json (then config.json's <type>_token_id). Byte-level BPE vocabularies come
 * from tokenizer.json (convert/bpe.c).
 */
#include "convert/convert.h"
#include "convert/convert_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_TOKCFG (64u << 20)

/* A special token's text from tokenizer_config.json: a string or {"content": "..."}. */
static const char *special_text(const struct fy_json *tc, const char *key)
{
	const struct fy_json *v = fy_json_get(tc, key);
	if (fy_json_type(v) == FY_JSON_OBJECT)
		v = fy_json_get(v, "content");
	return fy_json_str(v);
}

/* The id of a token text, or -1. */
typedef int64_t (*token_id_fn)(const void *ctx, const char *text);

static int64_t piece_id(const void *ctx, const char *text)
{
	const struct fy_spm *s = ctx;
	const size_t n = text != NULL ? strlen(text) : 0;
	for (size_t i = 0; text != NULL && i < s->n; i++) {
		if (s->pieces[i].text.len == n && memcmp(s->pieces[i].text.ptr, text, n) == 0)
			return (int64_t)i;
	}
	return -1;
}

static int spm_arrays(struct fy_gguf_writer *w, const struct fy_spm *s, size_t n_vocab,
		      struct fy_err *err)
{
	struct fy_str *toks = calloc(n_vocab, sizeof(*toks));
	float *scores = calloc(n_vocab, sizeof(*scores));
	int32_t *types = calloc(n_vocab, sizeof(*types));
	char *pads = calloc(n_vocab > s->n ? n_vocab - s->n : 1, 32);
	int rc = FY_OK;
	if (toks == NULL || scores == NULL || types == NULL || pads == NULL) {
		rc = fy_err_set(err, FY_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n_vocab; i++) {
		if (i < s->n) {
			toks[i] = s->pieces[i].text;
			scores[i] = s->pieces[i].score;
			types[i] = s->pieces[i].type;
			continue;
		}
		char *p = pads + (i - s->n) * 32;
		snprintf(p, 32, "[PAD%zu]", i);
		toks[i] = (struct fy_str){ p, strlen(p) };
		scores[i] = -1000.0f;
		types[i] = 5; /* unused */
	}
	FY_TRY(rc, fy_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama", err));
	FY_TRY(rc, fy_gguf_writer_set_str(w, "tokenizer.ggml.pre", "default", err));
	FY_TRY(rc, fy_gguf_writer_set_str_array(w, "tokenizer.ggml.tokens", n_vocab, toks, err));
	FY_TRY(rc, fy_gguf_writer_set_array(w, "tokenizer.ggml.scores", FY_GGUF_F32, n_vocab,
					    scores, err));
	FY_TRY(rc, fy_gguf_writer_set_array(w, "tokenizer.ggml.token_type", FY_GGUF_I32, n_vocab,
					    types, err));
out:
	free(toks);
	free(scores);
	free(types);
	free(pads);
	return rc;
}

/* BPE: an added token's id, else the vocabulary's. */
static int64_t bpe_id(const void *ctx, const char *text)
{
	const struct fy_json *tj = ctx;
	const struct fy_json *added = fy_json_get(tj, "added_tokens");
	int64_t id = -1;
	if (text == NULL)
		return -1;
	for (size_t i = 0; i < fy_json_size(added); i++) {
		const char *c = fy_json_str(fy_json_get(fy_json_at(added, i), "content"));
		if (c != NULL && strcmp(c, text) == 0 &&
		    fy_json_int(fy_json_get(fy_json_at(added, i), "id"), &id))
			return id;
	}
	if (fy_json_int(fy_json_get(fy_json_get(fy_json_get(tj, "model"), "vocab"), text), &id))
		return id;
	return -1;
}

/* Special ids (from the token texts of tokenizer_config.json, else config.json's ids),
 * add_bos/add_eos, chat template. */
static int specials(struct fy_gguf_writer *w, token_id_fn id_of, const void *ctx,
		    const struct fy_json *tc, const struct fy_json *cfg, size_t n_vocab,
		    struct fy_err *err)
{
	static const struct {
		const char *cfg, *cfg_id, *key;
	} ids[] = {
		{ "bos_token", "bos_token_id", "tokenizer.ggml.bos_token_id" },
		{ "eos_token", "eos_token_id", "tokenizer.ggml.eos_token_id" },
		{ "unk_token", "unk_token_id", "tokenizer.ggml.unknown_token_id" },
		{ "pad_token", "pad_token_id", "tokenizer.ggml.padding_token_id" },
	};
	int rc = FY_OK;
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		int64_t id = id_of(ctx, special_text(tc, ids[i].cfg));
		if (id < 0 && !fy_json_int(fy_json_get(cfg, ids[i].cfg_id), &id))
			id = -1;
		if (id >= 0 && (uint64_t)id < n_vocab)
			FY_TRY(rc, fy_gguf_writer_set_u32(w, ids[i].key, (uint32_t)id, err));
	}
	static const char *const flags[] = { "add_bos_token", "add_eos_token" };
	for (size_t i = 0; i < 2; i++) {
		const struct fy_json *v = fy_json_get(tc, flags[i]);
		char key[64];
		if (fy_json_type(v) != FY_JSON_TRUE && fy_json_type(v) != FY_JSON_FALSE)
			continue;
		snprintf(key, sizeof(key), "tokenizer.ggml.%s", flags[i]);
		struct fy_gguf_value b = { .type = FY_GGUF_BOOL,
					   .b = fy_json_type(v) == FY_JSON_TRUE };
		FY_TRY(rc, fy_gguf_writer_set(w, key, &b, err));
	}
	const char *tmpl = fy_json_str(fy_json_get(tc, "chat_template"));
	if (tmpl != NULL)
		FY_TRY(rc, fy_gguf_writer_set_str(w, "tokenizer.chat_template", tmpl, err));
out:
	return rc;
}

int fy_convert_tokenizer(struct fy_gguf_writer *w, const char *dir, const struct fy_hf_config *cfg,
			 size_t *n_vocab, struct fy_err *err)
{
	char path[4200];
	struct fy_spm s = { 0 };
	struct fy_json *tc = NULL;
	struct fy_json *cj = NULL;
	struct fy_json *tj = NULL;
	int rc = FY_OK;
	snprintf(path, sizeof(path), "%s/tokenizer_config.json", dir);
	if (access(path, R_OK) == 0)
		FY_TRY(rc, fy_json_load_file(&tc, path, MAX_TOKCFG, err));
	snprintf(path, sizeof(path), "%s/config.json", dir);
	FY_TRY(rc, fy_json_load_file(&cj, path, MAX_TOKCFG, err));
	snprintf(path, sizeof(path), "%s/tokenizer.model", dir);
	if (access(path, R_OK) == 0) {
		FY_TRY(rc, fy_spm_load(&s, path, err));
		*n_vocab = cfg->vocab_size > 0 && (size_t)cfg->vocab_size > s.n
				   ? (size_t)cfg->vocab_size
				   : s.n;
		FY_TRY(rc, spm_arrays(w, &s, *n_vocab, err));
		FY_TRY(rc, specials(w, piece_id, &s, tc, cj, *n_vocab, err));
		goto out;
	}
	snprintf(path, sizeof(path), "%s/tokenizer.json", dir);
	if (access(path, R_OK) != 0) {
		rc = fy_err_set(
			err, FY_EUNSUPPORTED,
			"%s: no tokenizer.model or tokenizer.json: a GGUF needs the vocabulary",
			dir);
		goto out;
	}
	FY_TRY(rc, fy_convert_bpe(w, path, cfg, &tj, n_vocab, err));
	FY_TRY(rc, specials(w, bpe_id, tj, tc, cj, *n_vocab, err));
out:
	fy_json_free(tj);
	fy_json_free(cj);
	fy_json_free(tc);
	fy_spm_release(&s);
	return rc;
}
