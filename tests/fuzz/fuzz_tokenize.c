/* libFuzzer target: the tokenizers (SentencePiece-style and byte-level BPE with PCRE2 splitting)
 * over arbitrary bytes, with llama.cpp's llama-spm and gpt-2 vocabularies from tests/data (run
 * from the repository root, as make fuzz does). Every id is in the vocabulary; BPE decoding gives
 * every byte back; SentencePiece decoding gives the text back after its space prefix, with any
 * U+2581 of the input read as the space it stands for (as in SentencePiece itself), when the input
 * is valid UTF-8 (llama.cpp's character split may swallow a following byte of a broken one). */
#include "infer/infer.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fy_gguf *files[2];
static struct fy_vocab *vocabs[2];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const paths[] = {
		"tests/data/models/gguf-vocab/ggml-vocab-llama-spm.gguf",
		"tests/data/models/gguf-vocab/ggml-vocab-gpt-2.gguf",
	};
	struct fy_err err;
	(void)argc;
	(void)argv;
	for (int i = 0; i < 2; i++) {
		if (fy_gguf_open(&files[i], paths[i], &err) != FY_OK ||
		    fy_vocab_load(&vocabs[i], files[i], &err) != FY_OK)
			abort();
	}
	return 0;
}

static bool valid_utf8(const uint8_t *p, size_t n)
{
	for (size_t i = 0, len; i < n; i += len) {
		len = fy_utf8_len(p + i, n - i);
		if (len == 0)
			return false;
	}
	return true;
}

static void check(const struct fy_vocab *v, const uint8_t *data, size_t size, bool special)
{
	int32_t *ids = NULL;
	size_t n = 0;
	struct fy_err err;
	struct fy_buf dec;
	if (fy_tokenize(v, (const char *)data, size, false, special, &ids, &n, &err) != FY_OK)
		__builtin_trap();
	fy_buf_init(&dec);
	for (size_t i = 0; i < n; i++) {
		if (ids[i] < 0 || ids[i] >= fy_vocab_size(v))
			__builtin_trap();
		if (fy_detokenize(v, ids[i], true, &dec, &err) != FY_OK)
			__builtin_trap();
	}
	/* without special parsing every byte is text, and text decodes back */
	if (!special && (fy_vocab_kind(v) == FY_VOCAB_BPE || valid_utf8(data, size))) {
		const bool spm = fy_vocab_kind(v) == FY_VOCAB_SPM;
		struct fy_buf want;
		fy_buf_init(&want);
		if (spm && size > 0)
			fy_buf_append(&want, " ", 1, &err);
		for (size_t i = 0; i < size; i++) {
			if (spm && i + 3 <= size && memcmp(data + i, "\xe2\x96\x81", 3) == 0) {
				fy_buf_append(&want, " ", 1, &err);
				i += 2;
			} else {
				fy_buf_append(&want, data + i, 1, &err);
			}
		}
		if (dec.len != want.len ||
		    (want.len > 0 && memcmp(dec.data, want.data, want.len) != 0))
			__builtin_trap();
		fy_buf_release(&want);
	}
	fy_buf_release(&dec);
	free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	for (int i = 0; i < 2; i++) {
		check(vocabs[i], data, size, false);
		check(vocabs[i], data, size, true);
	}
	return 0;
}
