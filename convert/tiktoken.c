/*
 * tiktoken vocabularies (Kimi K2, K2.5: tiktoken.model, its pre-tokenizer in
 * tokenization_kimi.py, special tokens in tokenizer_config.json) converted to the byte-level
 * BPE GGUF vocabulary llama.cpp v0.5.0's converter writes for them:
 *   - tiktoken.model: one "BASE64 RANK" line per token, ranks 0..n-1; a token's GGUF text is its
 *     bytes in GPT-2's byte -> code point map;
 *   - merges: each token of two or more bytes is re-split by byte-pair merging with the ranks
 *     below its own (llama.cpp's QwenModel.bpe); when that leaves exactly two parts they are its
 *     merge "A B", in rank order;
 *   - the 258 ids after the base tokens are special: the content tokenizer_config.json's
 *     added_tokens_decoder gives them, else "<|reserved_token_ID|>" (tokenization_kimi.py);
 *   - ids up to config.json's vocab_size beyond those are "[PADid]", UNUSED.
 * The pre-tokenizer is "kimi-k2" when tokenization_kimi.py holds Kimi's pattern, else refused.
 */
#include "convert/convert.h"
#include "convert/convert_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_TIKTOKEN (256u << 20)
#define MAX_TOKENS 4000000
#define MAX_TOKEN_BYTES 4096
#define N_SPECIAL 258 /* tokenization_kimi.py: num_reserved_special_tokens + 2 */

void fy_tiktoken_free(struct fy_tiktoken *t)
{
	if (t == NULL)
		return;
	fy_index_release(&t->ranks);
	free(t->tok);
	free(t->bytes);
	memset(t, 0, sizeof(*t));
}

static int b64_value(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Decodes standard base64 (padding required as tiktoken writes it) into out; the length, or -1. */
static long b64_decode(const uint8_t *s, size_t n, uint8_t *out)
{
	long len = 0;
	if (n == 0 || n % 4 != 0)
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		int v[4];
		int pad = 0;
		for (int k = 0; k < 4; k++) {
			if (s[i + k] == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
			} else if (pad > 0 || (v[k] = b64_value(s[i + k])) < 0) {
				return -1;
			}
		}
		const uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
				   (uint32_t)v[2] << 6 | (uint32_t)v[3];
		out[len++] = (uint8_t)(w >> 16);
		if (pad < 2)
			out[len++] = (uint8_t)(w >> 8);
		if (pad < 1)
			out[len++] = (uint8_t)w;
	}
	return len;
}

int fy_tiktoken_parse(struct fy_tiktoken *t, const uint8_t *data, size_t size, const char *label,
		      struct fy_err *err)
{
	size_t lines = 0, line = 0, cap_bytes = size;
	int rc = FY_OK;
	memset(t, 0, sizeof(*t));
	fy_index_init(&t->ranks);
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	if (size > 0 && data[size - 1] != '\n')
		lines++;
	if (lines == 0 || lines > MAX_TOKENS)
		return fy_err_set(err, FY_EFORMAT, "%s: %zu lines (1 to %d tokens expected)", label,
				  lines, MAX_TOKENS);
	t->tok = calloc(lines, sizeof(*t->tok));
	t->bytes = malloc(cap_bytes + 1);
	if (t->tok == NULL || t->bytes == NULL) {
		fy_tiktoken_free(t);
		return fy_err_set(err, FY_ENOMEM, "out of memory for %s", label);
	}
	size_t used = 0;
	for (size_t p = 0; p < size;) {
		const uint8_t *nl = memchr(data + p, '\n', size - p);
		const size_t end = nl != NULL ? (size_t)(nl - data) : size;
		const uint8_t *sp = memchr(data + p, ' ', end - p);
		line++;
		if (end == p) { /* a blank line (the last one's newline) */
			p = end + 1;
			continue;
		}
		char num[24];
		const size_t nlen = sp != NULL ? end - (size_t)(sp - data) - 1 : 0;
		const size_t blen = sp != NULL ? (size_t)(sp - data) - p : 0;
		if (sp == NULL || nlen == 0 || nlen >= sizeof(num) ||
		    blen > 4 * MAX_TOKEN_BYTES / 3 + 4) {
			rc = fy_err_set(err, FY_EFORMAT, "%s: line %zu is not \"BASE64 RANK\"",
					label, line);
			goto fail;
		}
		memcpy(num, sp + 1, nlen);
		num[nlen] = '\0';
		char *stop = NULL;
		const unsigned long long rank = strtoull(num, &stop, 10);
		const long n = b64_decode(data + p, blen, t->bytes + used);
		if (*stop != '\0' || num[0] < '0' || num[0] > '9' || n <= 0 ||
		    rank != (unsigned long long)t->n) {
			rc = fy_err_set(err, FY_EFORMAT,
					"%s: line %zu: a token in base64 and rank %zu expected "
					"(ranks count up from 0)",
					label, line, t->n);
			goto fail;
		}
		t->tok[t->n] = (struct fy_str){ (const char *)t->bytes + used, (size_t)n };
		rc = fy_index_insert(&t->ranks, (const char *)t->bytes + used, (size_t)n,
				     (int64_t)t->n, err);
		if (rc == FY_EEXIST)
			rc = fy_err_set(err, FY_EFORMAT, "%s: line %zu repeats a token", label,
					line);
		if (rc != FY_OK)
			goto fail;
		used += (size_t)n;
		t->n++;
		p = end + 1;
	}
	if (t->n == 0) {
		rc = fy_err_set(err, FY_EFORMAT, "%s holds no tokens", label);
		goto fail;
	}
	return FY_OK;
fail:
	fy_tiktoken_free(t);
	return rc;
}

int fy_tiktoken_merge(const struct fy_tiktoken *t, size_t id, size_t *left)
{
	const struct fy_str tok = t->tok[id];
	size_t cut[MAX_TOKEN_BYTES + 1]; /* part k is bytes [cut[k], cut[k + 1]) */
	size_t n = tok.len;
	if (tok.len < 2 || tok.len > MAX_TOKEN_BYTES)
		return 0;
	for (size_t k = 0; k <= n; k++)
		cut[k] = k;
	for (;;) {
		int64_t best = -1;
		size_t at = 0;
		for (size_t k = 0; k + 1 < n; k++) {
			int64_t r;
			if (fy_index_find(&t->ranks, tok.ptr + cut[k], cut[k + 2] - cut[k], &r) &&
			    (best < 0 || r < best)) {
				best = r;
				at = k;
			}
		}
		if (best < 0 || best >= (int64_t)id)
			break;
		memmove(cut + at + 1, cut + at + 2, (n - at - 1) * sizeof(*cut));
		n--;
	}
	if (n != 2)
		return 0;
	*left = cut[1];
	return 1;
}

/* The GGUF text of raw bytes: each byte's code point in GPT-2's map. */
static int gpt2_text(struct fy_buf *out, struct fy_str s, const uint16_t map[256],
		     struct fy_err *err)
{
	int rc = FY_OK;
	for (size_t i = 0; i < s.len && rc == FY_OK; i++)
		rc = fy_gpt2_append_byte(out, (uint8_t)s.ptr[i], map, err);
	return rc;
}

/* The patterns of tokenization_kimi.py's pat_str, as the file spells them. */
static const char *const kimi_pattern[] = {
	"[\\p{Han}]+",
	"[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}&&[^\\p{Han}]]*[\\p{Ll}\\p{Lm}"
	"\\p{Lo}"
	"\\p{M}&&[^\\p{Han}]]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
	"[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}&&[^\\p{Han}]]+[\\p{Ll}\\p{Lm}"
	"\\p{Lo}"
	"\\p{M}&&[^\\p{Han}]]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
	"\\p{N}{1,3}",
	" ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*",
	"\\s*[\\r\\n]+",
	"\\s+(?!\\S)",
	"\\s+",
};

/* "kimi-k2" when dir/tokenization_kimi.py holds every piece of Kimi's pattern. */
static int pre_name(const char *dir, const char **out, struct fy_err *err)
{
	char path[4200];
	struct fy_buf b;
	int rc = FY_OK;
	snprintf(path, sizeof(path), "%s/tokenization_kimi.py", dir);
	fy_buf_init(&b);
	if (access(path, R_OK) != 0)
		return fy_err_set(err, FY_EUNSUPPORTED,
				  "%s/tiktoken.model: no tokenization_kimi.py beside it names its "
				  "pre-tokenizer (ferry knows Kimi's)",
				  dir);
	FY_TRY(rc, fy_file_read(path, 1u << 20, &b, err));
	FY_TRY(rc, fy_buf_append(&b, "", 1, err));
	for (size_t i = 0; i < sizeof(kimi_pattern) / sizeof(kimi_pattern[0]); i++) {
		if (strstr((const char *)b.data, kimi_pattern[i]) == NULL) {
			rc = fy_err_set(err, FY_EUNSUPPORTED,
					"%s: its pat_str is not Kimi's (the piece %s is missing): "
					"a tiktoken pre-tokenizer ferry does not know",
					path, kimi_pattern[i]);
			goto out;
		}
	}
	*out = "kimi-k2";
out:
	fy_buf_release(&b);
	return rc;
}

int fy_convert_tiktoken(struct fy_gguf_writer *w, const char *dir, const struct fy_hf_config *cfg,
			const struct fy_json *tokcfg, size_t *n_vocab, struct fy_err *err)
{
	char path[4200];
	struct fy_buf file, text;
	struct fy_tiktoken t;
	uint16_t map[256];
	const char *pre = NULL;
	struct fy_str *toks = NULL, *merges = NULL;
	int32_t *types = NULL;
	size_t *offs = NULL, n_merges = 0;
	int rc = FY_OK;
	fy_buf_init(&file);
	fy_buf_init(&text);
	memset(&t, 0, sizeof(t));
	fy_gpt2_byte_map(map);
	FY_TRY(rc, pre_name(dir, &pre, err));
	snprintf(path, sizeof(path), "%s/tiktoken.model", dir);
	FY_TRY(rc, fy_file_read(path, MAX_TIKTOKEN, &file, err));
	FY_TRY(rc, fy_tiktoken_parse(&t, file.data, file.len, path, err));
	const size_t n = cfg->vocab_size > 0 ? (size_t)cfg->vocab_size : t.n + N_SPECIAL;
	if (n > MAX_TOKENS) {
		rc = fy_err_set(err, FY_EFORMAT, "%s: vocab_size %zu", dir, n);
		goto out;
	}
	toks = calloc(n, sizeof(*toks));
	types = calloc(n, sizeof(*types));
	offs = calloc(2 * n + 1, sizeof(*offs));
	merges = calloc(t.n + 1, sizeof(*merges));
	if (toks == NULL || types == NULL || offs == NULL || merges == NULL) {
		rc = fy_err_set(err, FY_ENOMEM, "out of memory");
		goto out;
	}
	/* every text goes into one buffer (offsets now, pointers once it stops growing) */
	const struct fy_json *dec = fy_json_get(tokcfg, "added_tokens_decoder");
	for (size_t i = 0; i < n; i++) {
		offs[i] = text.len;
		if (i < t.n) {
			FY_TRY(rc, gpt2_text(&text, t.tok[i], map, err));
			types[i] = 1; /* NORMAL */
		} else if (i < t.n + N_SPECIAL) {
			char key[24];
			snprintf(key, sizeof(key), "%zu", i);
			const char *c = fy_json_str(fy_json_get(fy_json_get(dec, key), "content"));
			if (c != NULL)
				FY_TRY(rc, fy_buf_append(&text, c, strlen(c), err));
			else
				FY_TRY(rc, fy_buf_printf(&text, err, "<|reserved_token_%zu|>", i));
			types[i] = 3; /* CONTROL */
		} else {
			FY_TRY(rc, fy_buf_printf(&text, err, "[PAD%zu]", i));
			types[i] = 5; /* UNUSED */
		}
	}
	offs[n] = text.len;
	for (size_t i = 0; i < t.n; i++) {
		size_t left;
		if (!fy_tiktoken_merge(&t, i, &left))
			continue;
		offs[n + 1 + n_merges] = text.len;
		FY_TRY(rc, gpt2_text(&text, (struct fy_str){ t.tok[i].ptr, left }, map, err));
		FY_TRY(rc, fy_buf_append(&text, " ", 1, err));
		FY_TRY(rc,
		       gpt2_text(&text, (struct fy_str){ t.tok[i].ptr + left, t.tok[i].len - left },
				 map, err));
		n_merges++;
	}
	offs[n + 1 + n_merges] = text.len;
	for (size_t i = 0; i < n; i++)
		toks[i] =
			(struct fy_str){ (const char *)text.data + offs[i], offs[i + 1] - offs[i] };
	for (size_t i = 0; i < n_merges; i++)
		merges[i] = (struct fy_str){ (const char *)text.data + offs[n + 1 + i],
					     offs[n + 2 + i] - offs[n + 1 + i] };
	FY_TRY(rc, fy_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2", err));
	FY_TRY(rc, fy_gguf_writer_set_str(w, "tokenizer.ggml.pre", pre, err));
	FY_TRY(rc, fy_gguf_writer_set_str_array(w, "tokenizer.ggml.tokens", n, toks, err));
	FY_TRY(rc, fy_gguf_writer_set_array(w, "tokenizer.ggml.token_type", FY_GGUF_I32, n, types,
					    err));
	FY_TRY(rc, fy_gguf_writer_set_str_array(w, "tokenizer.ggml.merges", n_merges, merges, err));
	*n_vocab = n;
out:
	free(toks);
	free(types);
	free(offs);
	free(merges);
	fy_tiktoken_free(&t);
	fy_buf_release(&text);
	fy_buf_release(&file);
	return rc;
}
