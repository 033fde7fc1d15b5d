/*
 * A GGUF vocabulary back to Hugging Face tokenizer files (the inverse of tokenizer.c, bpe.c and
 * spm.c): tokenizer.json and tokenizer_config.json for byte-level BPE ("gpt2") and
 * SentencePiece ("llama") vocabularies, plus tokenizer.model for SentencePiece (a ModelProto
 * holding every piece with its score and type). SentencePiece merges for tokenizer.json are
 * extracted from the scores as transformers' SentencePieceExtractor does: for every piece,
 * each split into two pieces of the vocabulary (ordered by their ids), all merges then
 * stably sorted by the merged piece's score, highest first. Trailing [PADn] unused tokens (the
 * converter's padding up to vocab_size) are left out.
 */
#include "convert/convert.h"
#include "convert/convert_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { T_NORMAL = 1, T_UNKNOWN = 2, T_CONTROL = 3, T_USER = 4, T_UNUSED = 5, T_BYTE = 6 };

struct vocab {
	const struct fy_gguf *g;
	size_t n;     /* tokens kept (trailing padding dropped) */
	size_t n_all; /* tokenizer.ggml.tokens */
	const struct fy_gguf_kv *tokens, *scores, *types, *merges;
	struct fy_index ix; /* text -> id */
};

static struct fy_str tok(const struct vocab *v, size_t i)
{
	return fy_gguf_arr_at(v->tokens, i).s;
}

static int32_t type_of(const struct vocab *v, size_t i)
{
	return v->types != NULL ? (int32_t)fy_gguf_arr_at(v->types, i).i : T_NORMAL;
}

static float score_of(const struct vocab *v, size_t i)
{
	return v->scores != NULL ? (float)fy_gguf_arr_at(v->scores, i).f : 0.0f;
}

static struct fy_json *str_json(struct fy_str s)
{
	return fy_json_stringn(s.len ? s.ptr : "", s.len);
}

static const struct fy_gguf_kv *array_kv(const struct fy_gguf *g, const char *key,
					 enum fy_gguf_type elem, uint64_t n)
{
	const struct fy_gguf_kv *kv = fy_gguf_find_kv(g, key);
	if (kv == NULL || kv->type != FY_GGUF_ARRAY || kv->arr_type != elem ||
	    (n > 0 && kv->arr_count != n))
		return NULL;
	return kv;
}

static bool is_pad(const struct vocab *v, size_t i)
{
	const struct fy_str s = tok(v, i);
	return type_of(v, i) == T_UNUSED && s.len > 5 && memcmp(s.ptr, "[PAD", 4) == 0;
}

static int load_vocab(struct vocab *v, const struct fy_gguf *g, struct fy_err *err)
{
	v->g = g;
	fy_index_init(&v->ix);
	v->tokens = array_kv(g, "tokenizer.ggml.tokens", FY_GGUF_STRING, 0);
	if (v->tokens == NULL || v->tokens->arr_count == 0 || v->tokens->arr_count > INT32_MAX)
		return fy_err_set(err, FY_EFORMAT, "%s: no tokenizer.ggml.tokens string array",
				  fy_gguf_label(g));
	v->n_all = (size_t)v->tokens->arr_count;
	v->scores = array_kv(g, "tokenizer.ggml.scores", FY_GGUF_F32, v->n_all);
	v->types = array_kv(g, "tokenizer.ggml.token_type", FY_GGUF_I32, v->n_all);
	v->merges = array_kv(g, "tokenizer.ggml.merges", FY_GGUF_STRING, 0);
	v->n = v->n_all;
	while (v->n > 0 && is_pad(v, v->n - 1))
		v->n--;
	for (size_t i = 0; i < v->n; i++) {
		const struct fy_str s = tok(v, i);
		for (size_t k = 0; k < s.len;) {
			const size_t c = fy_utf8_len((const uint8_t *)s.ptr + k, s.len - k);
			if (c == 0 || s.ptr[k] == '\0')
				return fy_err_set(
					err, FY_EFORMAT,
					"%s: token %zu is not valid UTF-8 text: JSON cannot "
					"hold it",
					fy_gguf_label(g), i);
			k += c;
		}
		int rc = fy_index_insert(&v->ix, s.ptr, s.len, (int64_t)i, err);
		if (rc == FY_EEXIST)
			return fy_err_set(err, FY_EFORMAT, "%s: token %zu '%.*s' appears twice",
					  fy_gguf_label(g), i, (int)s.len, s.ptr);
		if (rc != FY_OK)
			return rc;
	}
	return FY_OK;
}

static int64_t special_id(const struct fy_gguf *g, const char *what)
{
	char key[96];
	snprintf(key, sizeof(key), "tokenizer.ggml.%s_token_id", what);
	double id;
	/* llama.cpp writes "none" as 4294967295 */
	if (!fy_gguf_kv_number(fy_gguf_find_kv(g, key), &id) || !(id >= 0 && id <= INT32_MAX))
		return -1;
	return (int64_t)id;
}

static int flag(const struct fy_gguf *g, const char *key)
{
	const struct fy_gguf_kv *kv = fy_gguf_find_kv(g, key);
	return kv != NULL && kv->type == FY_GGUF_BOOL ? kv->v.b : -1;
}

static bool added(const struct vocab *v, size_t i, bool spm)
{
	const int32_t t = type_of(v, i);
	return t == T_CONTROL || t == T_USER || (spm && t == T_UNKNOWN);
}

static struct fy_json *added_tokens(const struct vocab *v, bool spm)
{
	struct fy_json *a = fy_json_array();
	for (size_t i = 0; i < v->n; i++) {
		if (!added(v, i, spm))
			continue;
		struct fy_json *t = fy_json_object();
		fy_json_set(t, "id", fy_json_integer((int64_t)i));
		fy_json_set(t, "content", str_json(tok(v, i)));
		fy_json_set(t, "single_word", fy_json_bool(false));
		fy_json_set(t, "lstrip", fy_json_bool(false));
		fy_json_set(t, "rstrip", fy_json_bool(false));
		fy_json_set(t, "normalized", fy_json_bool(false));
		fy_json_set(t, "special", fy_json_bool(type_of(v, i) != T_USER));
		fy_json_push(a, t);
	}
	return a;
}

static struct fy_json *typed(const char *type)
{
	struct fy_json *o = fy_json_object();
	fy_json_set(o, "type", fy_json_string(type));
	return o;
}

static struct fy_json *byte_level(bool use_regex)
{
	struct fy_json *o = typed("ByteLevel");
	fy_json_set(o, "add_prefix_space", fy_json_bool(false));
	fy_json_set(o, "trim_offsets", fy_json_bool(use_regex));
	fy_json_set(o, "use_regex", fy_json_bool(use_regex));
	return o;
}

/* --- byte-level BPE ------------------------------------------------------------------------- */

/* tokenizer.ggml.pre -> the pre_tokenizer: each regex a Split, then ByteLevel (Qwen's also
 * normalizes to NFC). */
static int bpe_pre(const struct fy_gguf *g, struct fy_json **out, bool *nfc, struct fy_err *err)
{
	char pre[64] = "gpt-2";
	const struct fy_gguf_kv *kv = fy_gguf_find_kv(g, "tokenizer.ggml.pre");
	if (kv != NULL && kv->type == FY_GGUF_STRING)
		snprintf(pre, sizeof(pre), "%.*s", (int)kv->v.s.len, kv->v.s.ptr);
	if (strcmp(pre, "gpt-2") == 0) {
		*out = byte_level(true);
		return FY_OK;
	}
	const char *const *re = fy_bpe_pre_regexes(pre);
	*nfc = strcmp(pre, "qwen2") == 0;
	if (re == NULL || strcmp(pre, "default") == 0)
		return fy_err_set(err, FY_EUNSUPPORTED,
				  "%s: pre-tokenizer '%s' has no tokenizer.json form in ferry "
				  "(qwen2, llama-bpe, deepseek-v3, gpt-2)",
				  fy_gguf_label(g), pre);
	struct fy_json *seq = fy_json_array();
	for (size_t i = 0; re[i] != NULL; i++) {
		struct fy_json *s = typed("Split");
		struct fy_json *p = fy_json_object();
		fy_json_set(p, "Regex", fy_json_string(re[i]));
		fy_json_set(s, "pattern", p);
		fy_json_set(s, "behavior", fy_json_string("Isolated"));
		fy_json_set(s, "invert", fy_json_bool(false));
		fy_json_push(seq, s);
	}
	fy_json_push(seq, byte_level(false));
	*out = typed("Sequence");
	fy_json_set(*out, "pretokenizers", seq);
	return FY_OK;
}

static struct fy_json *bpe_model(const struct vocab *v, bool spm, struct fy_json *merges)
{
	struct fy_json *m = typed("BPE");
	struct fy_json *vocab = fy_json_object();
	const int64_t unk = special_id(v->g, "unknown");
	fy_json_set(m, "dropout", fy_json_null());
	fy_json_set(m, "unk_token",
		    spm && unk >= 0 && (size_t)unk < v->n ? str_json(tok(v, (size_t)unk))
							  : fy_json_null());
	fy_json_set(m, "continuing_subword_prefix", fy_json_null());
	fy_json_set(m, "end_of_word_suffix", fy_json_null());
	fy_json_set(m, "fuse_unk", fy_json_bool(spm));
	fy_json_set(m, "byte_fallback", fy_json_bool(spm));
	for (size_t i = 0; i < v->n; i++) {
		if (spm || !added(v, i, false)) {
			char *k = strndup(tok(v, i).ptr, tok(v, i).len);
			if (k != NULL)
				fy_json_set(vocab, k, fy_json_integer((int64_t)i));
			free(k);
		}
	}
	fy_json_set(m, "vocab", vocab);
	fy_json_set(m, "merges", merges);
	return m;
}

static struct fy_json *gguf_merges(const struct vocab *v)
{
	struct fy_json *a = fy_json_array();
	for (uint64_t i = 0; v->merges != NULL && i < v->merges->arr_count; i++)
		fy_json_push(a, str_json(fy_gguf_arr_at(v->merges, i).s));
	return a;
}

/* --- SentencePiece -------------------------------------------------------------------------- */

struct merge {
	uint32_t l, r;	/* piece ids */
	uint32_t piece; /* the merged piece (its score orders the merges) */
	uint64_t seq;	/* extraction order, for a stable sort */
	float score;
};

static int cmp_local(const void *a, const void *b)
{
	const struct merge *x = a, *y = b;
	if (x->l != y->l)
		return x->l < y->l ? -1 : 1;
	return x->r < y->r ? -1 : x->r > y->r;
}

static int cmp_score(const void *a, const void *b)
{
	const struct merge *x = a, *y = b;
	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* SentencePieceExtractor.extract(vocab_scores): see the file comment. */
static int spm_merges(const struct vocab *v, struct fy_json **out, struct fy_err *err)
{
	struct merge *m = NULL;
	size_t n = 0, cap = 0;
	for (size_t i = 0; i < v->n; i++) {
		const struct fy_str s = tok(v, i);
		const size_t start = n;
		for (size_t k = 0; k < s.len;) {
			k += fy_utf8_len((const uint8_t *)s.ptr + k, s.len - k); /* checked: > 0 */
			int64_t l, r;
			if (k >= s.len || !fy_index_find(&v->ix, s.ptr, k, &l) ||
			    !fy_index_find(&v->ix, s.ptr + k, s.len - k, &r))
				continue;
			if (fy_grow((void **)&m, &cap, n, sizeof(*m), err) != FY_OK) {
				free(m);
				return FY_ENOMEM;
			}
			m[n++] = (struct merge){ (uint32_t)l, (uint32_t)r, (uint32_t)i, 0,
						 score_of(v, i) };
		}
		if (n - start > 1)
			qsort(m + start, n - start, sizeof(*m), cmp_local);
	}
	for (size_t i = 0; i < n; i++)
		m[i].seq = i;
	if (n > 0)
		qsort(m, n, sizeof(*m), cmp_score);
	*out = fy_json_array();
	for (size_t i = 0; i < n; i++) {
		const struct fy_str l = tok(v, m[i].l), r = tok(v, m[i].r);
		char *s = malloc(l.len + r.len + 2);
		if (s == NULL)
			break;
		memcpy(s, l.ptr, l.len);
		s[l.len] = ' ';
		memcpy(s + l.len + 1, r.ptr, r.len);
		fy_json_push(*out, fy_json_stringn(s, l.len + r.len + 1));
		free(s);
	}
	free(m);
	return FY_OK;
}

static struct fy_json *replace(const char *from, const char *to)
{
	struct fy_json *o = typed("Replace");
	struct fy_json *p = fy_json_object();
	fy_json_set(p, "String", fy_json_string(from));
	fy_json_set(o, "pattern", p);
	fy_json_set(o, "content", fy_json_string(to));
	return o;
}

#define SPACE "\xe2\x96\x81" /* U+2581, SentencePiece's space */

static struct fy_json *spm_normalizer(bool prefix)
{
	struct fy_json *seq = fy_json_array();
	if (prefix) {
		struct fy_json *p = typed("Prepend");
		fy_json_set(p, "prepend", fy_json_string(SPACE));
		fy_json_push(seq, p);
	}
	fy_json_push(seq, replace(" ", SPACE));
	struct fy_json *n = typed("Sequence");
	fy_json_set(n, "normalizers", seq);
	return n;
}

static struct fy_json *spm_decoder(bool prefix)
{
	struct fy_json *seq = fy_json_array();
	fy_json_push(seq, replace(SPACE, " "));
	fy_json_push(seq, typed("ByteFallback"));
	fy_json_push(seq, typed("Fuse"));
	if (prefix) {
		struct fy_json *s = typed("Strip");
		fy_json_set(s, "content", fy_json_string(" "));
		fy_json_set(s, "start", fy_json_integer(1));
		fy_json_set(s, "stop", fy_json_integer(0));
		fy_json_push(seq, s);
	}
	struct fy_json *d = typed("Sequence");
	fy_json_set(d, "decoders", seq);
	return d;
}

static void template_piece(struct fy_json *arr, const char *kind, const char *id, int type_id)
{
	struct fy_json *o = fy_json_object();
	struct fy_json *in = fy_json_object();
	fy_json_set(in, "id", fy_json_string(id));
	fy_json_set(in, "type_id", fy_json_integer(type_id));
	fy_json_set(o, kind, in);
	fy_json_push(arr, o);
}

/* TemplateProcessing adding BOS (and EOS) as add_bos_token/add_eos_token say. */
static struct fy_json *spm_post(const struct vocab *v, bool bos, bool eos)
{
	const int64_t ids[2] = { bos ? special_id(v->g, "bos") : -1,
				 eos ? special_id(v->g, "eos") : -1 };
	char text[2][256] = { "", "" };
	struct fy_json *single = fy_json_array(), *pair = fy_json_array();
	struct fy_json *specials = fy_json_object();
	for (int k = 0; k < 2; k++) {
		if (ids[k] < 0 || (size_t)ids[k] >= v->n)
			continue;
		const struct fy_str s = tok(v, (size_t)ids[k]);
		snprintf(text[k], sizeof(text[k]), "%.*s", (int)s.len, s.ptr);
		struct fy_json *sp = fy_json_object();
		struct fy_json *idl = fy_json_array(), *tl = fy_json_array();
		fy_json_set(sp, "id", fy_json_string(text[k]));
		fy_json_push(idl, fy_json_integer(ids[k]));
		fy_json_set(sp, "ids", idl);
		fy_json_push(tl, fy_json_string(text[k]));
		fy_json_set(sp, "tokens", tl);
		fy_json_set(specials, text[k], sp);
	}
	for (int seq = 0; seq < 2; seq++) {
		struct fy_json *arr = seq == 0 ? single : pair;
		for (int part = 0; part <= seq; part++) {
			if (text[0][0] != '\0')
				template_piece(arr, "SpecialToken", text[0], part);
			template_piece(arr, "Sequence", part == 0 ? "A" : "B", part);
			if (text[1][0] != '\0')
				template_piece(arr, "SpecialToken", text[1], part);
		}
	}
	struct fy_json *p = typed("TemplateProcessing");
	fy_json_set(p, "single", single);
	fy_json_set(p, "pair", pair);
	fy_json_set(p, "special_tokens", specials);
	return p;
}

/* A protobuf field key and a varint. */
static void pb_varint(struct fy_buf *b, uint64_t v)
{
	uint8_t x[10];
	size_t n = 0;
	do {
		x[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v != 0);
	fy_buf_append(b, x, n, NULL);
}

static void pb_key(struct fy_buf *b, uint32_t field, uint32_t wire)
{
	pb_varint(b, (uint64_t)field << 3 | wire);
}

static void pb_bytes(struct fy_buf *b, uint32_t field, const void *p, size_t n)
{
	pb_key(b, field, 2);
	pb_varint(b, n);
	fy_buf_append(b, p, n, NULL);
}

static void pb_int(struct fy_buf *b, uint32_t field, int64_t v)
{
	pb_key(b, field, 0);
	pb_varint(b, (uint64_t)v); /* int32 negatives take ten bytes, as protobuf writes them */
}

/* tokenizer.model: ModelProto { pieces = 1; trainer_spec = 2; normalizer_spec = 3 }. */
static int spm_model(const struct vocab *v, const char *dir, bool prefix, struct fy_err *err)
{
	struct fy_buf out, sub;
	bool bytes = false;
	fy_buf_init(&out);
	fy_buf_init(&sub);
	for (size_t i = 0; i < v->n; i++) {
		const struct fy_str s = tok(v, i);
		const float sc = score_of(v, i);
		sub.len = 0;
		pb_bytes(&sub, 1, s.ptr, s.len);
		pb_key(&sub, 2, 5);
		fy_buf_append(&sub, &sc, 4, NULL); /* little-endian hosts only, as the readers */
		pb_int(&sub, 3,
		       type_of(v, i) >= T_NORMAL && type_of(v, i) <= T_BYTE ? type_of(v, i)
									    : T_NORMAL);
		bytes = bytes || type_of(v, i) == T_BYTE;
		pb_bytes(&out, 1, sub.data, sub.len);
	}
	sub.len = 0;
	pb_int(&sub, 3, 2); /* model_type: BPE */
	pb_int(&sub, 4, (int64_t)v->n);
	pb_int(&sub, 35, bytes);
	pb_int(&sub, 40, special_id(v->g, "unknown") >= 0 ? special_id(v->g, "unknown") : 0);
	pb_int(&sub, 41, special_id(v->g, "bos"));
	pb_int(&sub, 42, special_id(v->g, "eos"));
	pb_int(&sub, 43, special_id(v->g, "padding"));
	pb_bytes(&out, 2, sub.data, sub.len);
	sub.len = 0;
	pb_bytes(&sub, 1, "identity", 8);
	pb_int(&sub, 3, prefix);
	pb_int(&sub, 4, 0); /* remove_extra_whitespaces */
	pb_int(&sub, 5, 1); /* escape_whitespaces */
	pb_bytes(&out, 3, sub.data, sub.len);
	char path[4400];
	snprintf(path, sizeof(path), "%s/tokenizer.model", dir);
	int rc = out.data != NULL ? fy_file_write_atomic(path, out.data, out.len, err)
				  : fy_err_set(err, FY_ENOMEM, "out of memory");
	fy_buf_release(&out);
	fy_buf_release(&sub);
	return rc;
}

/* --- tokenizer_config.json ------------------------------------------------------------------ */

static struct fy_json *tokenizer_config(const struct vocab *v, bool spm)
{
	static const struct {
		const char *id, *key;
	} sp[] = { { "bos", "bos_token" },
		   { "eos", "eos_token" },
		   { "unknown", "unk_token" },
		   { "padding", "pad_token" } };
	struct fy_json *c = fy_json_object();
	struct fy_json *dec = fy_json_object();
	const int bos = flag(v->g, "tokenizer.ggml.add_bos_token");
	const int eos = flag(v->g, "tokenizer.ggml.add_eos_token");
	if (bos >= 0)
		fy_json_set(c, "add_bos_token", fy_json_bool(bos));
	if (eos >= 0)
		fy_json_set(c, "add_eos_token", fy_json_bool(eos));
	for (size_t i = 0; i < v->n; i++) {
		if (!added(v, i, spm))
			continue;
		char key[24];
		struct fy_json *t = fy_json_object();
		fy_json_set(t, "content", str_json(tok(v, i)));
		fy_json_set(t, "lstrip", fy_json_bool(false));
		fy_json_set(t, "normalized", fy_json_bool(false));
		fy_json_set(t, "rstrip", fy_json_bool(false));
		fy_json_set(t, "single_word", fy_json_bool(false));
		fy_json_set(t, "special", fy_json_bool(type_of(v, i) != T_USER));
		snprintf(key, sizeof(key), "%zu", i);
		fy_json_set(dec, key, t);
	}
	fy_json_set(c, "added_tokens_decoder", dec);
	for (size_t i = 0; i < sizeof(sp) / sizeof(sp[0]); i++) {
		const int64_t id = special_id(v->g, sp[i].id);
		fy_json_set(c, sp[i].key,
			    id >= 0 && (size_t)id < v->n ? str_json(tok(v, (size_t)id))
							 : fy_json_null());
	}
	const struct fy_gguf_kv *t = fy_gguf_find_kv(v->g, "tokenizer.chat_template");
	if (t != NULL && t->type == FY_GGUF_STRING)
		fy_json_set(c, "chat_template", str_json(t->v.s));
	fy_json_set(c, "clean_up_tokenization_spaces", fy_json_bool(false));
	fy_json_set(c, "tokenizer_class",
		    fy_json_string(spm ? "LlamaTokenizerFast" : "PreTrainedTokenizerFast"));
	return c;
}

int fy_export_json(const char *dir, const char *name, struct fy_json *j, struct fy_err *err)
{
	char path[4400];
	char *text = j != NULL ? fy_json_dump(j, FY_JSON_DUMP_PRETTY | FY_JSON_DUMP_REAL15) : NULL;
	fy_json_free(j);
	if (text == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory (%s)", name);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	const size_t n = strlen(text);
	char *t = realloc(text, n + 2);
	if (t == NULL) {
		free(text);
		return fy_err_set(err, FY_ENOMEM, "out of memory (%s)", name);
	}
	t[n] = '\n';
	int rc = fy_file_write_atomic(path, t, n + 1, err);
	free(t);
	return rc;
}

int fy_export_tokenizer(const struct fy_gguf *g, const char *dir, size_t *n_vocab,
			const char **kind, struct fy_err *err)
{
	struct vocab v = { 0 };
	char model[32] = "";
	struct fy_json *tj = NULL, *pre = NULL, *merges = NULL;
	bool qwen_nfc = false;
	int rc = FY_OK;
	const struct fy_gguf_kv *mk = fy_gguf_find_kv(g, "tokenizer.ggml.model");
	if (mk != NULL && mk->type == FY_GGUF_STRING)
		snprintf(model, sizeof(model), "%.*s", (int)mk->v.s.len, mk->v.s.ptr);
	const bool spm = strcmp(model, "llama") == 0;
	if (!spm && strcmp(model, "gpt2") != 0)
		return fy_err_set(err, FY_EUNSUPPORTED,
				  "%s: tokenizer model '%s' does not convert to Hugging Face "
				  "(supported: llama, gpt2)",
				  fy_gguf_label(g), model);
	FY_TRY(rc, load_vocab(&v, g, err));
	*n_vocab = v.n_all;
	*kind = spm ? "SentencePiece" : "byte-level BPE";
	const int prefix = flag(g, "tokenizer.ggml.add_space_prefix");
	const int bos = flag(g, "tokenizer.ggml.add_bos_token");
	const int eos = flag(g, "tokenizer.ggml.add_eos_token");
	if (spm) {
		FY_TRY(rc, spm_model(&v, dir, prefix != 0, err));
		FY_TRY(rc, spm_merges(&v, &merges, err));
	} else {
		FY_TRY(rc, bpe_pre(g, &pre, &qwen_nfc, err));
		merges = gguf_merges(&v);
	}
	tj = fy_json_object();
	fy_json_set(tj, "version", fy_json_string("1.0"));
	fy_json_set(tj, "truncation", fy_json_null());
	fy_json_set(tj, "padding", fy_json_null());
	fy_json_set(tj, "added_tokens", added_tokens(&v, spm));
	fy_json_set(tj, "normalizer",
		    spm	       ? spm_normalizer(prefix != 0)
		    : qwen_nfc ? typed("NFC")
			       : fy_json_null());
	fy_json_set(tj, "pre_tokenizer", spm ? fy_json_null() : pre);
	pre = NULL;
	fy_json_set(tj, "post_processor",
		    spm ? spm_post(&v, bos != 0, eos == 1) : byte_level(false));
	fy_json_set(tj, "decoder", spm ? spm_decoder(prefix != 0) : byte_level(false));
	fy_json_set(tj, "model", bpe_model(&v, spm, merges));
	merges = NULL;
	FY_TRY(rc, fy_export_json(dir, "tokenizer.json", tj, err));
	tj = NULL;
	FY_TRY(rc, fy_export_json(dir, "tokenizer_config.json", tokenizer_config(&v, spm), err));
out:
	fy_json_free(tj);
	fy_json_free(pre);
	fy_json_free(merges);
	fy_index_release(&v.ix);
	return rc;
}
