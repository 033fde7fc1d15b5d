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

/* SentencePiece token types (tokenizer.ggml.token_type) */
enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER_DEFINED = 4, TT_UNUSED = 5 };

struct spm_vocab {
	struct fy_str *toks;
	float *scores;
	int32_t *types;
	char *pads;	     /* "[PAD<i>]" texts */
	struct fy_buf owned; /* token texts replaced by the JSON files (offsets in toks) */
	size_t n;
};

/* Replaces token id's text (copied) and type, with llama.cpp's score of added tokens. */
static int spm_set(struct spm_vocab *v, size_t id, const char *text, int32_t type,
		   struct fy_err *err)
{
	char *copy = strdup(text);
	if (copy == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	/* freed with the vocabulary: kept in a list of pointers inside `owned` */
	int rc = fy_buf_append(&v->owned, &copy, sizeof(copy), err);
	if (rc != FY_OK) {
		free(copy);
		return rc;
	}
	v->toks[id] = (struct fy_str){ copy, strlen(copy) };
	v->scores[id] = -1000.0f;
	v->types[id] = type;
	return FY_OK;
}

/* added_tokens.json: {"text": id}, user-defined tokens. */
static int spm_added_tokens(struct spm_vocab *v, const char *dir, struct fy_err *err)
{
	char path[4200];
	struct fy_json *j = NULL;
	int rc = FY_OK;
	snprintf(path, sizeof(path), "%s/added_tokens.json", dir);
	if (access(path, R_OK) != 0)
		return FY_OK;
	FY_TRY(rc, fy_json_load_file_hf(&j, path, MAX_TOKCFG, err));
	for (void *it = fy_json_iter(j); it != NULL; it = fy_json_next(j, it)) {
		int64_t id = -1;
		if (!fy_json_int(fy_json_iter_value(it), &id) || id < 0 || (uint64_t)id >= v->n)
			continue; /* out of range: llama.cpp ignores it with a warning */
		FY_TRY(rc, spm_set(v, (size_t)id, fy_json_iter_key(it), TT_USER_DEFINED, err));
	}
out:
	fy_json_free(j);
	return rc;
}

/* tokenizer_config.json's added_tokens_decoder: special (or special-looking) tokens CONTROL, the
 * others USER_DEFINED with SentencePiece's U+2581 turned into spaces. */
static int spm_added_decoder(struct spm_vocab *v, const struct fy_json *tc, struct fy_err *err)
{
	const struct fy_json *dec = fy_json_get(tc, "added_tokens_decoder");
	int rc = FY_OK;
	for (void *it = fy_json_iter(dec); it != NULL; it = fy_json_next(dec, it)) {
		const struct fy_json *t = fy_json_iter_value(it);
		const char *content = fy_json_str(fy_json_get(t, "content"));
		char *end = NULL;
		const unsigned long long id = strtoull(fy_json_iter_key(it), &end, 10);
		if (content == NULL || end == fy_json_iter_key(it) || *end != '\0' || id >= v->n)
			continue;
		if (fy_json_type(fy_json_get(t, "special")) == FY_JSON_TRUE ||
		    fy_convert_looks_special(content)) {
			FY_TRY(rc, spm_set(v, (size_t)id, content, TT_CONTROL, err));
			continue;
		}
		struct fy_buf b;
		fy_buf_init(&b);
		for (const char *p = content; *p != '\0';) {
			if (strncmp(p, "\xe2\x96\x81", 3) == 0) {
				rc = fy_buf_append(&b, " ", 1, err);
				p += 3;
			} else {
				rc = fy_buf_append(&b, p++, 1, err);
			}
			if (rc != FY_OK)
				break;
		}
		if (rc == FY_OK)
			rc = fy_buf_append(&b, "", 1, err);
		if (rc == FY_OK)
			rc = spm_set(v, (size_t)id, (const char *)b.data, TT_USER_DEFINED, err);
		fy_buf_release(&b);
		if (rc != FY_OK)
			goto out;
	}
out:
	return rc;
}

/*
 * The vocabulary as llama.cpp v0.5.0's _create_vocab_sentencepiece makes it: n_vocab entries
 * (config.json's vocab_size, else the model's; pieces past it dropped), "[PAD<i>]" UNUSED with
 * score -10000 where the model has no piece, then added_tokens.json and tokenizer_config.json's
 * added_tokens_decoder on top (score -1000).
 */
static int spm_arrays(struct fy_gguf_writer *w, const struct fy_spm *s, const char *dir,
		      const struct fy_json *tc, size_t n_vocab, struct fy_err *err)
{
	struct spm_vocab v = { .n = n_vocab };
	int rc = FY_OK;
	fy_buf_init(&v.owned);
	v.toks = calloc(n_vocab, sizeof(*v.toks));
	v.scores = calloc(n_vocab, sizeof(*v.scores));
	v.types = calloc(n_vocab, sizeof(*v.types));
	v.pads = calloc(n_vocab > s->n ? n_vocab - s->n : 1, 32);
	if (v.toks == NULL || v.scores == NULL || v.types == NULL || v.pads == NULL) {
		rc = fy_err_set(err, FY_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n_vocab; i++) {
		if (i < s->n) {
			v.toks[i] = s->pieces[i].text;
			v.scores[i] = s->pieces[i].score;
			v.types[i] = s->pieces[i].type;
			continue;
		}
		char *p = v.pads + (i - s->n) * 32;
		snprintf(p, 32, "[PAD%zu]", i);
		v.toks[i] = (struct fy_str){ p, strlen(p) };
		v.scores[i] = -10000.0f;
		v.types[i] = TT_UNUSED;
	}
	FY_TRY(rc, spm_added_tokens(&v, dir, err));
	FY_TRY(rc, spm_added_decoder(&v, tc, err));
	FY_TRY(rc, fy_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama", err));
	FY_TRY(rc, fy_gguf_writer_set_str(w, "tokenizer.ggml.pre", "default", err));
	FY_TRY(rc, fy_gguf_writer_set_str_array(w, "tokenizer.ggml.tokens", n_vocab, v.toks, err));
	FY_TRY(rc, fy_gguf_writer_set_array(w, "tokenizer.ggml.scores", FY_GGUF_F32, n_vocab,
					    v.scores, err));
	FY_TRY(rc, fy_gguf_writer_set_array(w, "tokenizer.ggml.token_type", FY_GGUF_I32, n_vocab,
					    v.types, err));
out:
	for (size_t i = 0; i + sizeof(char *) <= v.owned.len; i += sizeof(char *)) {
		char *p;
		memcpy(&p, v.owned.data + i, sizeof(p));
		free(p);
	}
	fy_buf_release(&v.owned);
	free(v.toks);
	free(v.scores);
	free(v.types);
	free(v.pads);
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

/* No token found by text (the tiktoken vocabulary: config.json's ids decide). */
static int64_t no_id(const void *ctx, const char *text)
{
	(void)ctx;
	(void)text;
	return -1;
}

/* Special ids (from the token texts of tokenizer_config.json, else config.json's ids, else its
 * text_config's, as gguf-py's SpecialVocab looks them up),
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
		/* config.json's id, else its text_config's (a multimodal checkpoint: Qwen3.5) */
		if (id < 0 && !fy_json_int(fy_json_get(cfg, ids[i].cfg_id), &id) &&
		    !fy_json_int(fy_json_get(fy_json_get(cfg, "text_config"), ids[i].cfg_id), &id))
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

/* dir/chat_template.jinja as tokenizer.chat_template (llama.cpp's gguf-py reads it when
 * tokenizer_config.json has no chat_template), when present. */
static int template_file(struct fy_gguf_writer *w, const char *dir, struct fy_err *err)
{
	char path[4200];
	struct fy_buf b;
	int rc = FY_OK;
	snprintf(path, sizeof(path), "%s/chat_template.jinja", dir);
	if (access(path, R_OK) != 0)
		return FY_OK;
	fy_buf_init(&b);
	FY_TRY(rc, fy_file_read(path, MAX_TOKCFG, &b, err));
	FY_TRY(rc, fy_buf_append(&b, "", 1, err));
	FY_TRY(rc, fy_gguf_writer_set_str(w, "tokenizer.chat_template", (const char *)b.data, err));
out:
	fy_buf_release(&b);
	return rc;
}

/* The family's fixed special tokens (GLM: bos [gMASK], eot <|user|>, ...), by their text. */
static int family_specials(struct fy_gguf_writer *w, const struct fy_hf_arch *arch,
			   token_id_fn id_of, const void *ctx, size_t n_vocab, struct fy_err *err)
{
	int rc = FY_OK;
	for (const struct fy_name_pair *p = arch != NULL ? arch->special_tokens : NULL;
	     p != NULL && p->hf != NULL; p++) {
		char key[64];
		const int64_t id = id_of(ctx, p->hf);
		if (id < 0 || (uint64_t)id >= n_vocab)
			return fy_err_set(err, FY_EFORMAT,
					  "the vocabulary has no '%s' (%s's %s token)", p->hf,
					  arch->hf, p->gguf);
		snprintf(key, sizeof(key), "tokenizer.ggml.%s_token_id", p->gguf);
		FY_TRY(rc, fy_gguf_writer_set_u32(w, key, (uint32_t)id, err));
	}
out:
	return rc;
}

int fy_convert_tokenizer(struct fy_gguf_writer *w, const char *dir, const struct fy_hf_config *cfg,
			 const struct fy_hf_arch *arch, size_t *n_vocab, struct fy_err *err)
{
	char path[4200], tpath[4200];
	struct fy_spm s = { 0 };
	struct fy_json *tc = NULL;
	struct fy_json *cj = NULL;
	struct fy_json *tj = NULL;
	int rc = FY_OK;
	snprintf(path, sizeof(path), "%s/tokenizer_config.json", dir);
	if (access(path, R_OK) == 0)
		FY_TRY(rc, fy_json_load_file_hf(&tc, path, MAX_TOKCFG, err));
	snprintf(path, sizeof(path), "%s/config.json", dir);
	FY_TRY(rc, fy_json_load_file_hf(&cj, path, MAX_TOKCFG, err));
	snprintf(path, sizeof(path), "%s/tokenizer.model", dir);
	if (access(path, R_OK) == 0) {
		FY_TRY(rc, fy_spm_load(&s, path, err));
		*n_vocab = cfg->vocab_size > 0 ? (size_t)cfg->vocab_size : s.n;
		FY_TRY(rc, spm_arrays(w, &s, dir, tc, *n_vocab, err));
		FY_TRY(rc, specials(w, piece_id, &s, tc, cj, *n_vocab, err));
		goto out;
	}
	snprintf(path, sizeof(path), "%s/tokenizer.json", dir);
	snprintf(tpath, sizeof(tpath), "%s/tiktoken.model", dir);
	if (access(path, R_OK) != 0 && access(tpath, R_OK) == 0) {
		/* as llama.cpp's converter: the special ids come from config.json (the tiktoken
		 * vocabulary has no added tokens to find tokenizer_config.json's texts among) */
		FY_TRY(rc, fy_convert_tiktoken(w, dir, cfg, tc, n_vocab, err));
		FY_TRY(rc, specials(w, no_id, NULL, tc, cj, *n_vocab, err));
		goto out;
	}
	if (access(path, R_OK) != 0) {
		rc = fy_err_set(err, FY_EUNSUPPORTED,
				"%s: no tokenizer.model, tokenizer.json or tiktoken.model: a GGUF "
				"needs the "
				"vocabulary",
				dir);
		goto out;
	}
	FY_TRY(rc, fy_convert_bpe(w, path, cfg, arch, &tj, n_vocab, err));
	FY_TRY(rc, specials(w, bpe_id, tj, tc, cj, *n_vocab, err));
	FY_TRY(rc, family_specials(w, arch, bpe_id, tj, *n_vocab, err));
out:
	/* a chat template shipped as chat_template.jinja when tokenizer_config.json has none */
	if (rc == FY_OK && fy_json_str(fy_json_get(tc, "chat_template")) == NULL)
		rc = template_file(w, dir, err);
	fy_json_free(tj);
	fy_json_free(cj);
	fy_json_free(tc);
	fy_spm_release(&s);
	return rc;
}
