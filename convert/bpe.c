/*
 * BPE vocabularies from tokenizer.json. Byte-level ones (Qwen, Llama 3, DeepSeek, GPT-2) as
 * llama.cpp's converter writes them: tokenizer.ggml.model "gpt2", the pre-tokenizer named from
 * its regular expression, tokens by id (ids without a token become [PADn], unused), token
 * types (added special tokens control, other added tokens user-defined), merges as "a b", then
 * the special ids, add_bos/add_eos and the chat template (convert/tokenizer.c). SentencePiece-
 * style ones (byte_fallback, no tokenizer.model beside them) as tokenizer.model would give them
 * (spm_from_json).
 */
#include "convert/convert.h"
#include "convert/convert_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TOKENIZER_JSON (512u << 20)
#define MAX_VOCAB 4000000

/* The regexes several pre-tokenizers share (told apart by name: see pre_name). */
#define CL100K_REGEX                                                                               \
	"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "                 \
	"?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define GPT4O_REGEX                                                                                \
	"[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*"                              \
	"[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|"                             \
	"[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+"                              \
	"[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| "                \
	"?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

/* Pre-tokenizers llama.cpp knows: the regexes its vocabulary applies in sequence (llama-vocab.cpp),
 * the first one as tokenizer.json's first Split pattern spells it (how the converter names the
 * pre-tokenizer). The qwen2 and llama-bpe contractions are case-insensitive groups. */
static const struct {
	const char *name;
	const char *regex[4];
} pres[] = {
	{ "qwen2",
	  { "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
	    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" } },
	{ "llama-bpe", { CL100K_REGEX } },
	{ "deepseek-v3",
	  { "\\p{N}{1,3}",
	    "[\xe4\xb8\x80-\xe9\xbe\xa5\xe3\x81\x80-\xe3\x82\x9f\xe3\x82\xa0-\xe3\x83\xbf]+",
	    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?"
	    "[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" } },
	/* GPT-4o's regex as tokenizer.json spells it (llama.cpp rewrites it for its own regex
	 * engine; PCRE2 runs it as it is) */
	{ "gpt-4o", { GPT4O_REGEX } },
	{ "gpt-2",
	  { "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| "
	    "?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+" } },
	/* the families below share a regex above and are told apart by their architecture (the
	 * converter's row names them; llama.cpp's converter hashes a tokenization) */
	{ "minimax-m2", { GPT4O_REGEX } },
	/* Kimi K2's tokenization_kimi.py pattern, its class intersections ([...&&[^\p{Han}]],
	 * which PCRE2 10.42 lacks) written as a lookahead per character */
	{ "kimi-k2",
	  { "[\\p{Han}]+|[^\\r\\n\\p{L}\\p{N}]?(?:(?!\\p{Han})[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}])"
	    "*"
	    "(?:(?!\\p{Han})[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}])+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|"
	    "[^\\r\\n\\p{L}\\p{N}]?(?:(?!\\p{Han})[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}])+"
	    "(?:(?!\\p{Han})[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}])*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|"
	    "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" } },
	/* GLM-4 and later: llama-bpe's regex (merges not ignored) */
	{ "glm4", { CL100K_REGEX } },
	{ "chatglm-bpe", { CL100K_REGEX } },
	{ "default",
	  { "[\\p{P}\\$\\+<=>\\^~\\|]+",
	    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
	    "\\p{N}+", "[0-9][0-9][0-9]" } },
};

const char *const *fy_bpe_pre_regexes(const char *pre)
{
	for (size_t i = 0; i < sizeof(pres) / sizeof(pres[0]); i++) {
		if (strcmp(pre, pres[i].name) == 0)
			return pres[i].regex;
	}
	return NULL;
}

/* The first Split pattern of the pre-tokenizer (or of its Sequence), or NULL. */
static const char *first_split(const struct fy_json *pre)
{
	if (fy_json_str(fy_json_get(pre, "type")) == NULL)
		return NULL;
	if (strcmp(fy_json_str(fy_json_get(pre, "type")), "Sequence") == 0) {
		const struct fy_json *seq = fy_json_get(pre, "pretokenizers");
		for (size_t i = 0; i < fy_json_size(seq); i++) {
			const char *r = first_split(fy_json_at(seq, i));
			if (r != NULL)
				return r;
		}
		return NULL;
	}
	if (strcmp(fy_json_str(fy_json_get(pre, "type")), "Split") != 0)
		return NULL;
	return fy_json_str(fy_json_get(fy_json_get(pre, "pattern"), "Regex"));
}

static int pre_name(const struct fy_json *tj, const char *path, const struct fy_hf_arch *arch,
		    const char **out, struct fy_err *err)
{
	const struct fy_json *pre = fy_json_get(tj, "pre_tokenizer");
	const char *re = first_split(pre);
	if (re == NULL && fy_json_str(fy_json_get(pre, "type")) != NULL &&
	    strcmp(fy_json_str(fy_json_get(pre, "type")), "ByteLevel") == 0) {
		*out = "gpt-2";
		return FY_OK;
	}
	const char *const *own =
		arch != NULL && arch->bpe_pre != NULL ? fy_bpe_pre_regexes(arch->bpe_pre) : NULL;
	if (re != NULL && own != NULL && strcmp(re, own[0]) == 0) { /* the family's name */
		*out = arch->bpe_pre;
		return FY_OK;
	}
	for (size_t i = 0; re != NULL && i < 4; i++) { /* the rows tokenizer.json names */
		if (strcmp(re, pres[i].regex[0]) == 0) {
			*out = pres[i].name;
			return FY_OK;
		}
	}
	return fy_err_set(
		err, FY_EUNSUPPORTED,
		"%s: the BPE pre-tokenizer is not one ferry recognises (qwen2, llama-bpe, "
		"deepseek-v3, gpt-4o, gpt-2)",
		path);
}

bool fy_convert_looks_special(const char *t)
{
	const size_t n = strlen(t);
	if (strcmp(t, "<pad>") == 0 || strcmp(t, "<mask>") == 0 || strcmp(t, "<2mass>") == 0 ||
	    strcmp(t, "[@BOS@]") == 0)
		return true;
	/* startswith/endswith may overlap, as in Python: "<|>" qualifies */
	if (n >= 3 && strncmp(t, "<|", 2) == 0 && strcmp(t + n - 2, "|>") == 0)
		return true;
	if (n >= 5 && strncmp(t, "<\xef\xbd\x9c", 4) == 0 &&
	    strcmp(t + n - 4, "\xef\xbd\x9c>") == 0)
		return true;
	return n >= 2 && t[0] == '<' && t[n - 1] == '>' && strncmp(t, "<unused", 7) == 0;
}

struct bpe {
	struct fy_str *tok;
	int32_t *type;
	char *pads;
	size_t n;
};

static void bpe_free(struct bpe *b)
{
	free(b->tok);
	free(b->type);
	free(b->pads);
}

static int put(struct bpe *b, int64_t id, const char *text, int32_t type, const char *path,
	       struct fy_err *err)
{
	if (id < 0 || (uint64_t)id >= b->n)
		return fy_err_set(err, FY_EFORMAT,
				  "%s: token id %lld is outside the vocabulary (%zu)", path,
				  (long long)id, b->n);
	b->tok[id] = (struct fy_str){ text, strlen(text) };
	b->type[id] = type;
	return FY_OK;
}

/* The vocabulary size: config.json's vocab_size, at least every id used plus one. */
static size_t vocab_size(const struct fy_json *vocab, const struct fy_json *added,
			 const struct fy_hf_config *cfg)
{
	int64_t max = cfg->vocab_size > 0 ? cfg->vocab_size : 0;
	void *it;
	for (it = fy_json_iter(vocab); it != NULL; it = fy_json_next(vocab, it)) {
		int64_t id;
		if (fy_json_int(fy_json_iter_value(it), &id) && id + 1 > max)
			max = id + 1;
	}
	for (size_t i = 0; i < fy_json_size(added); i++) {
		int64_t id;
		if (fy_json_int(fy_json_get(fy_json_at(added, i), "id"), &id) && id + 1 > max)
			max = id + 1;
	}
	return (size_t)max;
}

static int fill_tokens(struct bpe *b, const struct fy_json *vocab, const struct fy_json *added,
		       const char *path, struct fy_err *err)
{
	int rc = FY_OK;
	for (size_t i = 0; i < b->n; i++) {
		char *p = b->pads + i * 32;
		snprintf(p, 32, "[PAD%zu]", i);
		b->tok[i] = (struct fy_str){ p, strlen(p) };
		b->type[i] = 5; /* unused */
	}
	for (void *it = fy_json_iter(vocab); rc == FY_OK && it != NULL;
	     it = fy_json_next(vocab, it)) {
		int64_t id = -1;
		fy_json_int(fy_json_iter_value(it), &id);
		rc = put(b, id, fy_json_iter_key(it), 1, path, err);
	}
	for (size_t i = 0; rc == FY_OK && i < fy_json_size(added); i++) {
		const struct fy_json *a = fy_json_at(added, i);
		const char *text = fy_json_str(fy_json_get(a, "content"));
		int64_t id = -1;
		if (text == NULL || !fy_json_int(fy_json_get(a, "id"), &id))
			return fy_err_set(err, FY_EFORMAT,
					  "%s: added_tokens[%zu] lacks id or content", path, i);
		const bool special = fy_json_type(fy_json_get(a, "special")) == FY_JSON_TRUE;
		rc = put(b, id, text, special || fy_convert_looks_special(text) ? 3 : 4, path, err);
	}
	return rc;
}

static bool is_byte_token(struct fy_str t)
{
	static const char hex[] = "0123456789ABCDEF";
	return t.len == 6 && memcmp(t.ptr, "<0x", 3) == 0 && strchr(hex, t.ptr[3]) != NULL &&
	       strchr(hex, t.ptr[4]) != NULL && t.ptr[5] == '>';
}

/*
 * A SentencePiece-style vocabulary from tokenizer.json (BPE with byte_fallback, as transformers
 * converts Llama/Mistral tokenizers), written as llama.cpp's converter writes tokenizer.model with
 * tokenizer_config.json beside it: model "llama", token types (added tokens control or
 * user-defined with score -1000, the unk_token unknown, <0xXX> byte, [PADn] unused with score
 * -10000), and the other pieces' scores as SentencePiece's BPE trainer gives them: -k for the
 * k-th normal piece in id order (tokenizer.json keeps the pieces in score order, and its merges
 * follow that order).
 */
static int spm_from_json(struct fy_gguf_writer *w, struct bpe *b, const char *unk,
			 struct fy_err *err)
{
	float *scores = calloc(b->n, sizeof(*scores));
	float k = 0;
	int rc = FY_OK;
	if (scores == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	for (size_t i = 0; i < b->n; i++) {
		if (b->type[i] == 3 || b->type[i] == 4) {
			/* an added token: as llama.cpp's converter lays tokenizer_config.json's
			 * added tokens over tokenizer.model's pieces */
			scores[i] = -1000.0f;
			continue;
		}
		if (unk != NULL && b->tok[i].len == strlen(unk) &&
		    memcmp(b->tok[i].ptr, unk, b->tok[i].len) == 0)
			b->type[i] = 2;
		else if (b->type[i] == 1 && is_byte_token(b->tok[i]))
			b->type[i] = 6;
		if (b->type[i] == 5)
			scores[i] = -10000.0f;
		else if (b->type[i] == 1)
			scores[i] = -(k++);
	}
	FY_TRY(rc, fy_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama", err));
	FY_TRY(rc, fy_gguf_writer_set_str(w, "tokenizer.ggml.pre", "default", err));
	FY_TRY(rc, fy_gguf_writer_set_str_array(w, "tokenizer.ggml.tokens", b->n, b->tok, err));
	FY_TRY(rc, fy_gguf_writer_set_array(w, "tokenizer.ggml.scores", FY_GGUF_F32, b->n, scores,
					    err));
	FY_TRY(rc, fy_gguf_writer_set_array(w, "tokenizer.ggml.token_type", FY_GGUF_I32, b->n,
					    b->type, err));
out:
	free(scores);
	return rc;
}

/* Merges as "a b" strings (tokenizer.json has them so, or as ["a", "b"] pairs). */
static int write_merges(struct fy_gguf_writer *w, const struct fy_json *merges, const char *path,
			struct fy_err *err)
{
	const size_t n = fy_json_size(merges);
	struct fy_str *m = calloc(n > 0 ? n : 1, sizeof(*m));
	struct fy_buf joined;
	size_t *offs = calloc(n > 0 ? n : 1, sizeof(*offs));
	int rc = FY_OK;
	fy_buf_init(&joined);
	if (m == NULL || offs == NULL)
		rc = fy_err_set(err, FY_ENOMEM, "out of memory");
	for (size_t i = 0; rc == FY_OK && i < n; i++) {
		const struct fy_json *e = fy_json_at(merges, i);
		offs[i] = joined.len;
		if (fy_json_str(e) != NULL)
			rc = fy_buf_append(&joined, fy_json_str(e), fy_json_str_len(e), err);
		else if (fy_json_size(e) == 2 && fy_json_str(fy_json_at(e, 0)) != NULL &&
			 fy_json_str(fy_json_at(e, 1)) != NULL)
			rc = fy_buf_printf(&joined, err, "%s %s", fy_json_str(fy_json_at(e, 0)),
					   fy_json_str(fy_json_at(e, 1)));
		else
			rc = fy_err_set(err, FY_EFORMAT,
					"%s: merges[%zu] is neither \"a b\" nor a pair", path, i);
	}
	for (size_t i = 0; rc == FY_OK && i < n; i++) {
		const size_t end = i + 1 < n ? offs[i + 1] : joined.len;
		m[i] = (struct fy_str){ (const char *)joined.data + offs[i], end - offs[i] };
	}
	if (rc == FY_OK)
		rc = fy_gguf_writer_set_str_array(w, "tokenizer.ggml.merges", n, m, err);
	fy_buf_release(&joined);
	free(m);
	free(offs);
	return rc;
}

int fy_convert_bpe(struct fy_gguf_writer *w, const char *path, const struct fy_hf_config *cfg,
		   const struct fy_hf_arch *arch, struct fy_json **tokenizer_json, size_t *n_vocab,
		   struct fy_err *err)
{
	struct fy_json *tj = NULL;
	struct bpe b = { 0 };
	const char *pre = NULL;
	int rc = fy_json_load_file_hf(&tj, path, MAX_TOKENIZER_JSON, err);
	if (rc != FY_OK)
		return rc;
	const struct fy_json *model = fy_json_get(tj, "model");
	const char *type = fy_json_str(fy_json_get(model, "type"));
	const struct fy_json *vocab = fy_json_get(model, "vocab");
	const struct fy_json *added = fy_json_get(tj, "added_tokens");
	const bool spm = fy_json_type(fy_json_get(model, "byte_fallback")) == FY_JSON_TRUE;
	if (type == NULL || strcmp(type, "BPE") != 0 || fy_json_type(vocab) != FY_JSON_OBJECT) {
		rc = fy_err_set(
			err, FY_EUNSUPPORTED,
			"%s: model type '%s' is not BPE (byte-level, or SentencePiece-style "
			"with byte_fallback; a Unigram model needs its tokenizer.model)",
			path, type != NULL ? type : "");
		goto out;
	}
	if (!spm)
		FY_TRY(rc, pre_name(tj, path, arch, &pre, err));
	b.n = vocab_size(vocab, added, cfg);
	if (b.n == 0 || b.n > MAX_VOCAB) {
		rc = fy_err_set(err, FY_EFORMAT, "%s: vocabulary of %zu tokens", path, b.n);
		goto out;
	}
	b.tok = calloc(b.n, sizeof(*b.tok));
	b.type = calloc(b.n, sizeof(*b.type));
	b.pads = calloc(b.n, 32);
	if (b.tok == NULL || b.type == NULL || b.pads == NULL) {
		rc = fy_err_set(err, FY_ENOMEM, "out of memory");
		goto out;
	}
	FY_TRY(rc, fill_tokens(&b, vocab, added, path, err));
	if (spm) {
		FY_TRY(rc, spm_from_json(w, &b, fy_json_str(fy_json_get(model, "unk_token")), err));
		goto done;
	}
	FY_TRY(rc, fy_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2", err));
	FY_TRY(rc, fy_gguf_writer_set_str(w, "tokenizer.ggml.pre", pre, err));
	FY_TRY(rc, fy_gguf_writer_set_str_array(w, "tokenizer.ggml.tokens", b.n, b.tok, err));
	FY_TRY(rc, fy_gguf_writer_set_array(w, "tokenizer.ggml.token_type", FY_GGUF_I32, b.n,
					    b.type, err));
	FY_TRY(rc, write_merges(w, fy_json_get(model, "merges"), path, err));
done:
	*n_vocab = b.n;
	*tokenizer_json = tj;
	tj = NULL;
out:
	bpe_free(&b);
	fy_json_free(tj);
	return rc;
}
