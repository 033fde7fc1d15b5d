/*
 * Tokenizer metadata for GGUF (tokenizer.ggml.*). SentencePiece models are read from
 * tokenizer.model; special token ids, add_bos/add_eos and the chat template come from
 * tokenizer_config.json (then config.json). Byte-level BPE (tokenizer.json) is not converted yet:
 * such a checkpoint is refused, saying so, rather than written without a usable vocabulary.
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

static int64_t piece_id(const struct fy_spm *s, const char *text)
{
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

/* Special ids, add_bos/add_eos, chat template. */
static int specials(struct fy_gguf_writer *w, const struct fy_spm *s, const struct fy_json *tc,
		    struct fy_err *err)
{
	static const struct {
		const char *cfg, *key;
	} ids[] = {
		{ "bos_token", "tokenizer.ggml.bos_token_id" },
		{ "eos_token", "tokenizer.ggml.eos_token_id" },
		{ "unk_token", "tokenizer.ggml.unknown_token_id" },
		{ "pad_token", "tokenizer.ggml.padding_token_id" },
	};
	int rc = FY_OK;
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		const int64_t id = piece_id(s, special_text(tc, ids[i].cfg));
		if (id >= 0)
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
	int rc = FY_OK;
	snprintf(path, sizeof(path), "%s/tokenizer.model", dir);
	if (access(path, R_OK) != 0)
		return fy_err_set(
			err, FY_EUNSUPPORTED,
			"%s: no tokenizer.model: only SentencePiece tokenizers are converted "
			"so far (byte-level BPE from tokenizer.json is not built yet)",
			dir);
	FY_TRY(rc, fy_spm_load(&s, path, err));
	snprintf(path, sizeof(path), "%s/tokenizer_config.json", dir);
	if (access(path, R_OK) == 0)
		FY_TRY(rc, fy_json_load_file(&tc, path, MAX_TOKCFG, err));
	const size_t nv = cfg->vocab_size > 0 && (size_t)cfg->vocab_size > s.n
				  ? (size_t)cfg->vocab_size
				  : s.n;
	FY_TRY(rc, spm_arrays(w, &s, nv, err));
	FY_TRY(rc, specials(w, &s, tc, err));
	*n_vocab = nv;
out:
	fy_json_free(tc);
	fy_spm_release(&s);
	return rc;
}
