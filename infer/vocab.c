/*
 * Vocabularies and tokenizers, from a GGUF file's tokenizer.ggml.* keys (an HF checkpoint's come
 * through convert's HF view, so there is one reader), following llama.cpp's llama-vocab.cpp:
 *
 *   SPM ("llama"): a space prefix, spaces as U+2581, then the highest-scoring adjacent pair whose
 *   concatenation is a token is merged until none is; what is not a token becomes <0xXX> bytes.
 *   BPE ("gpt2"): the pre-tokenizer's regexes (PCRE2, applied in sequence) split the text into
 *   words, whose bytes are mapped to GPT-2's printable code points and merged pair by pair in
 *   merge-rank order.
 *
 * Both first cut the text at the texts of special tokens (control and user-defined; control ones
 * only when asked), longest first, as llama.cpp's tokenizer_st_partition does.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "infer/infer.h"

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_VOCAB 4000000
#define MAX_REGEXES 4
#define GPT2_CPS 324

struct fy_vocab {
	enum fy_vocab_kind kind;
	int32_t n;
	struct fy_str *text; /* borrowed from the GGUF mapping */
	float *score;
	int32_t *type;
	struct fy_index ids;	/* text -> id */
	struct fy_index merges; /* "left right" -> rank (BPE) */
	int32_t bos, eos, eot, unk;
	bool add_bos, add_eos, add_space_prefix, ignore_merges;
	int32_t byte_token[256];   /* SPM: the <0xXX> tokens (-1: none) */
	uint16_t byte_cp[256];	   /* BPE: GPT-2's code point of each byte */
	int16_t cp_byte[GPT2_CPS]; /* and back (-1: none) */
	int32_t *special; /* control, user-defined and unknown tokens, longest text first */
	size_t n_special;
	pcre2_code *re[MAX_REGEXES];
	int n_re;
	char *chat_template;
};

/* --- small helpers -------------------------------------------------------------------------- */

static int utf8_len(uint8_t c)
{
	static const int len[16] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4 };
	return len[c >> 4];
}

/* GPT-2's byte -> code point map (core's) and its inverse. */
static void gpt2_maps(uint16_t byte_cp[256], int16_t cp_byte[GPT2_CPS])
{
	fy_gpt2_byte_map(byte_cp);
	for (int b = 0; b < GPT2_CPS; b++)
		cp_byte[b] = -1;
	for (int b = 0; b < 256; b++)
		cp_byte[byte_cp[b]] = (int16_t)b;
}

static size_t put_utf8(uint32_t cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	out[0] = (char)(0xe0 | cp >> 12);
	out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[2] = (char)(0x80 | (cp & 0x3f));
	return 3;
}

static int push_id(int32_t **ids, size_t *n, size_t *cap, int32_t id, struct fy_err *err)
{
	void *a = *ids;
	int rc = fy_grow(&a, cap, *n, sizeof(**ids), err);
	*ids = a;
	if (rc == FY_OK)
		(*ids)[(*n)++] = id;
	return rc;
}

/* --- loading -------------------------------------------------------------------------------- */

static const struct fy_gguf_kv *kv_of(const struct fy_gguf *g, const char *key,
				      enum fy_gguf_type type)
{
	const struct fy_gguf_kv *kv = fy_gguf_find_kv(g, key);
	return kv != NULL && kv->type == type ? kv : NULL;
}

static int32_t id_kv(const struct fy_gguf *g, const char *key, int32_t n)
{
	double v; /* llama.cpp writes "none" as 4294967295: out of range */
	if (!fy_gguf_kv_number(fy_gguf_find_kv(g, key), &v) || !(v >= 0 && v < n))
		return -1;
	return (int32_t)v;
}

static bool bool_kv(const struct fy_gguf *g, const char *key, bool dflt)
{
	const struct fy_gguf_kv *kv = kv_of(g, key, FY_GGUF_BOOL);
	return kv != NULL ? kv->v.b : dflt;
}

static bool str_is(struct fy_str s, const char *z)
{
	return s.len == strlen(z) && memcmp(s.ptr, z, s.len) == 0;
}

static int cmp_special_len(const void *a, const void *b, void *ctx)
{
	const struct fy_vocab *v = ctx;
	const size_t la = v->text[*(const int32_t *)a].len, lb = v->text[*(const int32_t *)b].len;
	if (la != lb)
		return la < lb ? 1 : -1;
	return *(const int32_t *)a - *(const int32_t *)b;
}

static int load_arrays(struct fy_vocab *v, const struct fy_gguf *g, struct fy_err *err)
{
	const char *lbl = fy_gguf_label(g);
	const struct fy_gguf_kv *toks = kv_of(g, "tokenizer.ggml.tokens", FY_GGUF_ARRAY);
	if (toks == NULL || toks->arr_type != FY_GGUF_STRING || toks->arr_count == 0 ||
	    toks->arr_count > MAX_VOCAB)
		return fy_err_set(err, FY_EFORMAT,
				  "%s: tokenizer.ggml.tokens is missing or not strings", lbl);
	v->n = (int32_t)toks->arr_count;
	v->text = calloc((size_t)v->n, sizeof(*v->text));
	v->score = calloc((size_t)v->n, sizeof(*v->score));
	v->type = calloc((size_t)v->n, sizeof(*v->type));
	if (v->text == NULL || v->score == NULL || v->type == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	const struct fy_gguf_kv *sc = kv_of(g, "tokenizer.ggml.scores", FY_GGUF_ARRAY);
	const struct fy_gguf_kv *ty = kv_of(g, "tokenizer.ggml.token_type", FY_GGUF_ARRAY);
	if (sc != NULL && (sc->arr_type != FY_GGUF_F32 || sc->arr_count != toks->arr_count))
		return fy_err_set(err, FY_EFORMAT,
				  "%s: tokenizer.ggml.scores does not match the tokens", lbl);
	if (ty != NULL && (ty->arr_type != FY_GGUF_I32 || ty->arr_count != toks->arr_count))
		return fy_err_set(err, FY_EFORMAT,
				  "%s: tokenizer.ggml.token_type does not match the tokens", lbl);
	for (int32_t i = 0; i < v->n; i++) {
		v->text[i] = fy_gguf_arr_at(toks, (uint64_t)i).s;
		v->score[i] = sc != NULL ? (float)fy_gguf_arr_at(sc, (uint64_t)i).f : 0.0f;
		v->type[i] =
			ty != NULL ? (int32_t)fy_gguf_arr_at(ty, (uint64_t)i).i : FY_TOKEN_NORMAL;
	}
	/* the last of equal texts wins, as in llama.cpp's token_to_id map */
	for (int32_t i = v->n - 1; i >= 0; i--) {
		int rc = fy_index_insert(&v->ids, v->text[i].ptr, v->text[i].len, i, err);
		if (rc != FY_OK && rc != FY_EEXIST)
			return rc;
	}
	return FY_OK;
}

static int load_merges(struct fy_vocab *v, const struct fy_gguf *g, struct fy_err *err)
{
	const struct fy_gguf_kv *m = kv_of(g, "tokenizer.ggml.merges", FY_GGUF_ARRAY);
	if (m == NULL || m->arr_type != FY_GGUF_STRING || m->arr_count > MAX_VOCAB)
		return fy_err_set(err, FY_EFORMAT,
				  "%s: a BPE vocabulary needs tokenizer.ggml.merges",
				  fy_gguf_label(g));
	for (uint64_t i = 0; i < m->arr_count; i++) {
		struct fy_str s = fy_gguf_arr_at(m, i).s;
		int rc = fy_index_insert(&v->merges, s.ptr, s.len, (int64_t)i, err);
		if (rc != FY_OK && rc != FY_EEXIST)
			return rc;
	}
	return FY_OK;
}

static int load_regexes(struct fy_vocab *v, const struct fy_gguf *g, struct fy_err *err)
{
	const struct fy_gguf_kv *pre = kv_of(g, "tokenizer.ggml.pre", FY_GGUF_STRING);
	char name[64] = "default";
	if (pre != NULL && pre->v.s.len < sizeof(name)) {
		memcpy(name, pre->v.s.ptr, pre->v.s.len);
		name[pre->v.s.len] = '\0';
	}
	const char *const *rx = fy_bpe_pre_regexes(name);
	if (rx == NULL)
		return fy_err_set(
			err, FY_EUNSUPPORTED,
			"%s: pre-tokenizer '%s' is not one ferry knows (qwen2, llama-bpe, "
			"deepseek-v3, gpt-2, default)",
			fy_gguf_label(g), name);
	v->ignore_merges = strcmp(name, "llama-bpe") == 0;
	for (int i = 0; i < MAX_REGEXES && rx[i] != NULL; i++) {
		int code;
		PCRE2_SIZE off;
		v->re[i] = pcre2_compile((PCRE2_SPTR)rx[i], PCRE2_ZERO_TERMINATED,
					 PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &code,
					 &off, NULL);
		if (v->re[i] == NULL)
			return fy_err_set(err, FY_EINVAL,
					  "pre-tokenizer '%s': regex %d does not compile", name, i);
		v->n_re = i + 1;
	}
	return FY_OK;
}

static void find_eot(struct fy_vocab *v, const struct fy_gguf *g)
{
	static const char *const names[] = { "<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>",
					     "<|endoftext|>" };
	v->eot = id_kv(g, "tokenizer.ggml.eot_token_id", v->n);
	for (size_t i = 0; v->eot < 0 && i < sizeof(names) / sizeof(names[0]); i++)
		v->eot = fy_vocab_find(v, names[i], strlen(names[i]));
	if (v->eot < 0)
		v->eot = v->eos;
}

int fy_vocab_load(struct fy_vocab **out, const struct fy_gguf *g, struct fy_err *err)
{
	struct fy_vocab *v = calloc(1, sizeof(*v));
	int rc = FY_OK;
	*out = NULL;
	if (v == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	fy_index_init(&v->ids);
	fy_index_init(&v->merges);
	const struct fy_gguf_kv *model = kv_of(g, "tokenizer.ggml.model", FY_GGUF_STRING);
	if (model != NULL && str_is(model->v.s, "llama")) {
		v->kind = FY_VOCAB_SPM;
	} else if (model != NULL && str_is(model->v.s, "gpt2")) {
		v->kind = FY_VOCAB_BPE;
	} else {
		rc = fy_err_set(err, FY_EUNSUPPORTED,
				"%s: tokenizer.ggml.model is not one ferry tokenizes (llama, gpt2)",
				fy_gguf_label(g));
		goto out;
	}
	FY_TRY(rc, load_arrays(v, g, err));
	if (v->kind == FY_VOCAB_BPE) {
		gpt2_maps(v->byte_cp, v->cp_byte);
		FY_TRY(rc, load_merges(v, g, err));
		FY_TRY(rc, load_regexes(v, g, err));
	}
	v->bos = id_kv(g, "tokenizer.ggml.bos_token_id", v->n);
	v->eos = id_kv(g, "tokenizer.ggml.eos_token_id", v->n);
	v->unk = id_kv(g, "tokenizer.ggml.unknown_token_id", v->n);
	v->add_bos =
		bool_kv(g, "tokenizer.ggml.add_bos_token", v->kind == FY_VOCAB_SPM) && v->bos >= 0;
	v->add_eos = bool_kv(g, "tokenizer.ggml.add_eos_token", false) && v->eos >= 0;
	v->add_space_prefix =
		bool_kv(g, "tokenizer.ggml.add_space_prefix", v->kind == FY_VOCAB_SPM);
	find_eot(v, g);
	for (int b = 0; b < 256; b++) {
		char hex[8];
		snprintf(hex, sizeof(hex), "<0x%02X>", b);
		v->byte_token[b] = fy_vocab_find(v, hex, 6);
	}
	v->special = malloc((size_t)v->n * sizeof(*v->special));
	if (v->special == NULL) {
		rc = fy_err_set(err, FY_ENOMEM, "out of memory");
		goto out;
	}
	for (int32_t i = 0; i < v->n; i++) {
		const int32_t t = v->type[i];
		if ((t == FY_TOKEN_CONTROL || t == FY_TOKEN_USER_DEFINED ||
		     t == FY_TOKEN_UNKNOWN) &&
		    v->text[i].len > 0)
			v->special[v->n_special++] = i;
	}
	qsort_r(v->special, v->n_special, sizeof(*v->special), cmp_special_len, v);
	const struct fy_gguf_kv *tmpl = kv_of(g, "tokenizer.chat_template", FY_GGUF_STRING);
	if (tmpl != NULL) {
		v->chat_template = strndup(tmpl->v.s.ptr, tmpl->v.s.len);
		if (v->chat_template == NULL) {
			rc = fy_err_set(err, FY_ENOMEM, "out of memory");
			goto out;
		}
	}
	*out = v;
	v = NULL;
out:
	fy_vocab_free(v);
	return rc;
}

void fy_vocab_free(struct fy_vocab *v)
{
	if (v == NULL)
		return;
	for (int i = 0; i < v->n_re; i++)
		pcre2_code_free(v->re[i]);
	fy_index_release(&v->ids);
	fy_index_release(&v->merges);
	free(v->text);
	free(v->score);
	free(v->type);
	free(v->special);
	free(v->chat_template);
	free(v);
}

int32_t fy_vocab_size(const struct fy_vocab *v)
{
	return v->n;
}
enum fy_vocab_kind fy_vocab_kind(const struct fy_vocab *v)
{
	return v->kind;
}
int32_t fy_vocab_bos(const struct fy_vocab *v)
{
	return v->bos;
}
int32_t fy_vocab_eos(const struct fy_vocab *v)
{
	return v->eos;
}
int32_t fy_vocab_eot(const struct fy_vocab *v)
{
	return v->eot;
}
bool fy_vocab_add_bos(const struct fy_vocab *v)
{
	return v->add_bos;
}
const char *fy_vocab_chat_template(const struct fy_vocab *v)
{
	return v->chat_template;
}

enum fy_token_type fy_vocab_type(const struct fy_vocab *v, int32_t id)
{
	return id >= 0 && id < v->n ? (enum fy_token_type)v->type[id] : FY_TOKEN_UNUSED;
}

struct fy_str fy_vocab_text(const struct fy_vocab *v, int32_t id)
{
	if (id < 0 || id >= v->n)
		return (struct fy_str){ NULL, 0 };
	return v->text[id];
}

int32_t fy_vocab_find(const struct fy_vocab *v, const char *text, size_t len)
{
	int64_t id;
	return fy_index_find(&v->ids, text, len, &id) ? (int32_t)id : -1;
}

/* --- merging (both kinds): symbols in a linked list, candidate pairs in a heap ---------------- */

struct sym {
	const char *text;
	size_t n;
	int prev, next;
};

struct pair {
	int left, right;
	double key; /* SPM: -score; BPE: rank (smaller first) */
	size_t size;
};

struct merger {
	struct sym *sym;
	int n_sym;
	struct pair *heap;
	size_t n_heap, cap_heap;
};

static bool pair_before(const struct pair *a, const struct pair *b)
{
	return a->key < b->key || (a->key == b->key && a->left < b->left);
}

static int heap_push(struct merger *m, struct pair p, struct fy_err *err)
{
	void *a = m->heap;
	int rc = fy_grow(&a, &m->cap_heap, m->n_heap, sizeof(*m->heap), err);
	m->heap = a;
	if (rc != FY_OK)
		return rc;
	size_t i = m->n_heap++;
	m->heap[i] = p;
	while (i > 0 && pair_before(&m->heap[i], &m->heap[(i - 1) / 2])) {
		struct pair t = m->heap[i];
		m->heap[i] = m->heap[(i - 1) / 2];
		m->heap[(i - 1) / 2] = t;
		i = (i - 1) / 2;
	}
	return FY_OK;
}

static struct pair heap_pop(struct merger *m)
{
	struct pair top = m->heap[0];
	m->heap[0] = m->heap[--m->n_heap];
	size_t i = 0;
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, s = i;
		if (l < m->n_heap && pair_before(&m->heap[l], &m->heap[s]))
			s = l;
		if (r < m->n_heap && pair_before(&m->heap[r], &m->heap[s]))
			s = r;
		if (s == i)
			break;
		struct pair t = m->heap[i];
		m->heap[i] = m->heap[s];
		m->heap[s] = t;
		i = s;
	}
	return top;
}

/* Splits text into UTF-8 characters (llama.cpp's way: a lead byte's length, clamped). */
static int split_chars(struct merger *m, const char *text, size_t len, struct fy_err *err)
{
	m->sym = malloc((len > 0 ? len : 1) * sizeof(*m->sym));
	if (m->sym == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	m->n_sym = 0;
	for (size_t off = 0; off < len;) {
		size_t n = (size_t)utf8_len((uint8_t)text[off]);
		n = n < len - off ? n : len - off;
		m->sym[m->n_sym] = (struct sym){ text + off, n, m->n_sym - 1, m->n_sym + 1 };
		m->n_sym++;
		off += n;
	}
	if (m->n_sym > 0)
		m->sym[m->n_sym - 1].next = -1;
	return FY_OK;
}

/* The key of merging symbols l and r, or false when they do not merge. */
static bool pair_key(const struct fy_vocab *v, const struct merger *m, int l, int r, double *key)
{
	const struct sym *a = &m->sym[l], *b = &m->sym[r];
	if (v->kind == FY_VOCAB_SPM) {
		/* adjacent symbols are contiguous in the text */
		int32_t id = fy_vocab_find(v, a->text, a->n + b->n);
		if (id < 0)
			return false;
		*key = -(double)v->score[id];
		return true;
	}
	char stack[256];
	char *buf = a->n + b->n + 1 <= sizeof(stack) ? stack : malloc(a->n + b->n + 1);
	int64_t rank;
	if (buf == NULL)
		return false;
	memcpy(buf, a->text, a->n);
	buf[a->n] = ' ';
	memcpy(buf + a->n + 1, b->text, b->n);
	const bool found = fy_index_find(&v->merges, buf, a->n + b->n + 1, &rank);
	if (buf != stack)
		free(buf);
	*key = (double)rank;
	return found;
}

static int try_pair(const struct fy_vocab *v, struct merger *m, int l, int r, struct fy_err *err)
{
	double key;
	if (l < 0 || r < 0 || !pair_key(v, m, l, r, &key))
		return FY_OK;
	return heap_push(m, (struct pair){ l, r, key, m->sym[l].n + m->sym[r].n }, err);
}

/* Merges text (one word) as far as the vocabulary allows; m->sym holds the result. */
static int merge(const struct fy_vocab *v, struct merger *m, const char *text, size_t len,
		 struct fy_err *err)
{
	int rc = FY_OK;
	FY_TRY(rc, split_chars(m, text, len, err));
	for (int i = 1; i < m->n_sym; i++)
		FY_TRY(rc, try_pair(v, m, i - 1, i, err));
	while (m->n_heap > 0) {
		struct pair p = heap_pop(m);
		struct sym *l = &m->sym[p.left], *r = &m->sym[p.right];
		if (l->n == 0 || r->n == 0 || l->n + r->n != p.size || l->next != p.right)
			continue; /* outdated */
		l->n += r->n;
		r->n = 0;
		l->next = r->next;
		if (r->next >= 0)
			m->sym[r->next].prev = p.left;
		FY_TRY(rc, try_pair(v, m, l->prev, p.left, err));
		FY_TRY(rc, try_pair(v, m, p.left, l->next, err));
	}
out:
	m->n_heap = 0;
	return rc;
}

/* --- SPM ------------------------------------------------------------------------------------ */

static int spm_fragment(const struct fy_vocab *v, const char *text, size_t len, bool prefix,
			int32_t **ids, size_t *n, size_t *cap, struct fy_err *err)
{
	struct merger m = { 0 };
	struct fy_buf b;
	int rc = FY_OK;
	fy_buf_init(&b);
	if (prefix)
		FY_TRY(rc, fy_buf_append(&b, "\xe2\x96\x81", 3, err));
	for (size_t i = 0; i < len; i++) {
		if (text[i] == ' ')
			FY_TRY(rc, fy_buf_append(&b, "\xe2\x96\x81", 3, err));
		else
			FY_TRY(rc, fy_buf_append(&b, text + i, 1, err));
	}
	FY_TRY(rc, merge(v, &m, (const char *)b.data, b.len, err));
	for (int i = 0; i != -1 && m.n_sym > 0; i = m.sym[i].next) {
		const struct sym *s = &m.sym[i];
		int32_t id = fy_vocab_find(v, s->text, s->n);
		if (id >= 0) {
			FY_TRY(rc, push_id(ids, n, cap, id, err));
			continue;
		}
		for (size_t k = 0; k < s->n; k++) {
			int32_t bt = v->byte_token[(uint8_t)s->text[k]];
			FY_TRY(rc, push_id(ids, n, cap, bt >= 0 ? bt : v->unk, err));
		}
	}
out:
	free(m.sym);
	free(m.heap);
	fy_buf_release(&b);
	return rc;
}

/* --- BPE ------------------------------------------------------------------------------------ */

struct span {
	size_t off, len;
};

struct spans {
	struct span *s;
	size_t n, cap;
};

static int span_push(struct spans *w, size_t off, size_t len, struct fy_err *err)
{
	if (len == 0)
		return FY_OK;
	void *a = w->s;
	int rc = fy_grow(&a, &w->cap, w->n, sizeof(*w->s), err);
	w->s = a;
	if (rc != FY_OK)
		return rc;
	w->s[w->n++] = (struct span){ off, len };
	return FY_OK;
}

/* Splits every span of in by re: matches and the text between them become spans of out. */
static int regex_split(const pcre2_code *re, const char *text, const struct spans *in,
		       struct spans *out, struct fy_err *err)
{
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
	int rc = FY_OK;
	if (md == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	for (size_t i = 0; rc == FY_OK && i < in->n; i++) {
		const char *w = text + in->s[i].off;
		const size_t len = in->s[i].len;
		size_t start = 0, last = 0;
		while (rc == FY_OK && start < len) {
			int r = pcre2_match(re, (PCRE2_SPTR)w, len, start, 0, md, NULL);
			if (r < 0)
				break;
			const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
			if (ov[1] == ov[0]) { /* an empty match: step one character */
				start = ov[0] + (size_t)utf8_len((uint8_t)w[ov[0]]);
				continue;
			}
			rc = span_push(out, in->s[i].off + last, ov[0] - last, err);
			if (rc == FY_OK)
				rc = span_push(out, in->s[i].off + ov[0], ov[1] - ov[0], err);
			last = start = ov[1];
		}
		if (rc == FY_OK)
			rc = span_push(out, in->s[i].off + last, len - last, err);
	}
	pcre2_match_data_free(md);
	return rc;
}

static int bpe_word(const struct fy_vocab *v, const char *w, size_t len, int32_t **ids, size_t *n,
		    size_t *cap, struct fy_err *err)
{
	struct merger m = { 0 };
	char *enc = malloc(len * 2 + 1);
	size_t elen = 0;
	int rc = FY_OK;
	if (enc == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	for (size_t i = 0; i < len; i++)
		elen += put_utf8(v->byte_cp[(uint8_t)w[i]], enc + elen);
	int32_t whole = v->ignore_merges ? fy_vocab_find(v, enc, elen) : -1;
	if (whole >= 0) {
		rc = push_id(ids, n, cap, whole, err);
		goto out;
	}
	FY_TRY(rc, merge(v, &m, enc, elen, err));
	for (int i = 0; i != -1 && m.n_sym > 0; i = m.sym[i].next) {
		const struct sym *s = &m.sym[i];
		int32_t id = fy_vocab_find(v, s->text, s->n);
		if (id >= 0) {
			FY_TRY(rc, push_id(ids, n, cap, id, err));
			continue;
		}
		for (size_t k = 0; k < s->n; k++) { /* as llama.cpp: single bytes that are tokens */
			int32_t b = fy_vocab_find(v, s->text + k, 1);
			if (b >= 0)
				FY_TRY(rc, push_id(ids, n, cap, b, err));
		}
	}
out:
	free(m.sym);
	free(m.heap);
	free(enc);
	return rc;
}

static int bpe_fragment(const struct fy_vocab *v, const char *text, size_t len, int32_t **ids,
			size_t *n, size_t *cap, struct fy_err *err)
{
	struct spans a = { 0 }, b = { 0 };
	int rc = FY_OK;
	FY_TRY(rc, span_push(&a, 0, len, err));
	for (int r = 0; r < v->n_re; r++) {
		b.n = 0;
		FY_TRY(rc, regex_split(v->re[r], text, &a, &b, err));
		struct spans t = a;
		a = b;
		b = t;
	}
	for (size_t i = 0; i < a.n; i++)
		FY_TRY(rc, bpe_word(v, text + a.s[i].off, a.s[i].len, ids, n, cap, err));
out:
	free(a.s);
	free(b.s);
	return rc;
}

/* --- the text, cut at special tokens ------------------------------------------------------- */

struct frag {
	size_t off, len;
	int32_t token; /* -1: raw text */
};

struct frags {
	struct frag *f;
	size_t n, cap;
};

static int frag_insert(struct frags *fs, size_t at, struct frag f, struct fy_err *err)
{
	void *a = fs->f;
	int rc = fy_grow(&a, &fs->cap, fs->n, sizeof(*fs->f), err);
	fs->f = a;
	if (rc != FY_OK)
		return rc;
	memmove(fs->f + at + 1, fs->f + at, (fs->n - at) * sizeof(*fs->f));
	fs->f[at] = f;
	fs->n++;
	return FY_OK;
}

static int partition(const struct fy_vocab *v, const char *text, size_t len, bool parse_special,
		     struct frags *fs, struct fy_err *err)
{
	int rc = FY_OK;
	if (len == 0)
		return FY_OK; /* no text, no fragment (and no space prefix) */
	FY_TRY(rc, frag_insert(fs, 0, (struct frag){ 0, len, -1 }, err));
	for (size_t s = 0; s < v->n_special; s++) {
		const int32_t id = v->special[s];
		const struct fy_str t = v->text[id];
		if (!parse_special && v->type[id] != FY_TOKEN_USER_DEFINED)
			continue;
		for (size_t i = 0; i < fs->n; i++) {
			struct frag f = fs->f[i];
			if (f.token >= 0 || f.len < t.len)
				continue;
			const char *hit = memmem(text + f.off, f.len, t.ptr, t.len);
			if (hit == NULL)
				continue;
			const size_t at = (size_t)(hit - text);
			/* [before][token][after]: the after part is searched on the next turn */
			fs->f[i] = (struct frag){ at, t.len, id };
			if (at > f.off) {
				FY_TRY(rc,
				       frag_insert(fs, i, (struct frag){ f.off, at - f.off, -1 },
						   err));
				i++;
			}
			if (at + t.len < f.off + f.len)
				FY_TRY(rc,
				       frag_insert(fs, i + 1,
						   (struct frag){ at + t.len,
								  f.off + f.len - at - t.len, -1 },
						   err));
		}
	}
out:
	return rc;
}

int fy_tokenize(const struct fy_vocab *v, const char *text, size_t len, bool add_special,
		bool parse_special, int32_t **ids, size_t *n, struct fy_err *err)
{
	struct frags fs = { 0 };
	size_t cap = *n;
	bool prev_special = true; /* SPM: the first text gets the space prefix */
	int rc = FY_OK;
	if (add_special && v->add_bos)
		FY_TRY(rc, push_id(ids, n, &cap, v->bos, err));
	FY_TRY(rc, partition(v, text, len, parse_special, &fs, err));
	for (size_t i = 0; i < fs.n; i++) {
		const struct frag *f = &fs.f[i];
		if (f->token >= 0) {
			FY_TRY(rc, push_id(ids, n, &cap, f->token, err));
			prev_special = true;
		} else if (v->kind == FY_VOCAB_SPM) {
			FY_TRY(rc, spm_fragment(v, text + f->off, f->len,
						v->add_space_prefix && prev_special, ids, n, &cap,
						err));
			prev_special = false;
		} else {
			FY_TRY(rc, bpe_fragment(v, text + f->off, f->len, ids, n, &cap, err));
		}
	}
	if (add_special && v->add_eos)
		FY_TRY(rc, push_id(ids, n, &cap, v->eos, err));
out:
	free(fs.f);
	return rc;
}

/* --- decoding ------------------------------------------------------------------------------- */

static int decode_bpe(const struct fy_vocab *v, struct fy_str t, struct fy_buf *out,
		      struct fy_err *err)
{
	for (size_t i = 0; i < t.len;) {
		const uint8_t c = (uint8_t)t.ptr[i];
		size_t n = (size_t)utf8_len(c);
		uint32_t cp = c;
		if (n > t.len - i)
			n = t.len - i;
		if (n == 2) /* GPT-2's code points take one or two bytes; others are copied */
			cp = (uint32_t)(c & 0x1f) << 6 | ((uint8_t)t.ptr[i + 1] & 0x3f);
		const int b = n <= 2 && cp < GPT2_CPS ? v->cp_byte[cp] : -1;
		int rc;
		if (b >= 0) {
			const uint8_t byte = (uint8_t)b;
			rc = fy_buf_append(out, &byte, 1, err);
		} else {
			rc = fy_buf_append(out, t.ptr + i, n, err);
		}
		if (rc != FY_OK)
			return rc;
		i += n;
	}
	return FY_OK;
}

int fy_detokenize(const struct fy_vocab *v, int32_t id, bool special, struct fy_buf *out,
		  struct fy_err *err)
{
	if (id < 0 || id >= v->n)
		return fy_err_set(err, FY_EINVAL, "token id %d is outside the vocabulary", id);
	const struct fy_str t = v->text[id];
	switch (v->type[id]) {
	case FY_TOKEN_CONTROL:
		return special ? fy_buf_append(out, t.ptr, t.len, err) : FY_OK;
	case FY_TOKEN_USER_DEFINED:
		return fy_buf_append(out, t.ptr, t.len, err);
	case FY_TOKEN_UNUSED:
		return FY_OK;
	case FY_TOKEN_BYTE:
		if (v->kind == FY_VOCAB_SPM && t.len == 6) {
			unsigned b;
			char hex[7];
			memcpy(hex, t.ptr, 6);
			hex[6] = '\0';
			if (sscanf(hex, "<0x%2X>", &b) == 1) {
				const uint8_t byte = (uint8_t)b;
				return fy_buf_append(out, &byte, 1, err);
			}
		}
		break;
	default:
		break;
	}
	if (v->kind == FY_VOCAB_BPE)
		return decode_bpe(v, t, out, err);
	for (size_t i = 0; i < t.len; i++) {
		int rc;
		if (i + 3 <= t.len && memcmp(t.ptr + i, "\xe2\x96\x81", 3) == 0) {
			rc = fy_buf_append(out, " ", 1, err);
			i += 2;
		} else {
			rc = fy_buf_append(out, t.ptr + i, 1, err);
		}
		if (rc != FY_OK)
			return rc;
	}
	return FY_OK;
}
