/*
 * mkmodel: synthetic GGUF models for the quant tests and benchmarks, written with ferry's GGUF
 * writer.
 *
 *   mkmodel llama OUT LAYERS DIM FFN VOCAB [f16|f32|bf16] [tied]
 *       a llama-shaped model (n_head = DIM/64, n_head_kv = n_head/4) with pseudo-random
 *       normal weights (sigma 0.02, a fixed seed: the same arguments give the same bytes) and a
 *       SentencePiece-style vocabulary of VOCAB tokens (> 259), so that infer can run it
 *   mkmodel rows OUT INPUT.f32 ROWS COLS
 *       one F32 tensor blk.0.ffn_up.weight of ROWS x COLS floats read from INPUT.f32
 */
#include "convert/convert.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tensor {
	char name[64];
	int n_dims;
	int64_t ne[2];
};

struct model {
	struct tensor *t;
	size_t n;
	enum fy_dtype type;
	uint64_t seed;
	const float *rows; /* rows mode */
};

/* xorshift64* and Box-Muller: deterministic across runs and machines. */
static double uniform(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return (double)((*s * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0;
}

static float normal(uint64_t *s)
{
	const double u1 = uniform(s) + 1e-300;
	const double u2 = uniform(s);
	return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static int fill(void *ctx, size_t index, struct fy_sink *sink, struct fy_err *err)
{
	const struct model *m = ctx;
	const struct tensor *t = &m->t[index];
	const int64_t n = t->ne[0];
	float *row = malloc((size_t)n * sizeof(float));
	uint8_t *out = malloc((size_t)n * 4);
	uint64_t s = m->seed + index * 0x9E3779B97F4A7C15ull;
	int rc = FY_OK;
	for (int64_t r = 0; r < t->ne[1] && rc == FY_OK; r++) {
		for (int64_t i = 0; i < n; i++) {
			if (m->rows != NULL)
				row[i] = m->rows[r * n + i];
			else
				row[i] = t->n_dims == 1 ? 1.0f + 0.1f * normal(&s) : 0.02f * normal(&s);
		}
		size_t bytes = (size_t)n * 4;
		if (m->type == FY_DTYPE_F16 && t->n_dims == 2) {
			fy_f32_to_f16_row(row, (uint16_t *)out, n);
			bytes = (size_t)n * 2;
		} else if (m->type == FY_DTYPE_BF16 && t->n_dims == 2) {
			fy_f32_to_bf16_row(row, (uint16_t *)out, n);
			bytes = (size_t)n * 2;
		} else {
			memcpy(out, row, bytes);
		}
		rc = fy_sink_write(sink, out, bytes, err);
	}
	free(row);
	free(out);
	return rc;
}

static void add(struct model *m, const char *name, int64_t ne0, int64_t ne1)
{
	struct tensor *t = &m->t[m->n++];
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->ne[0] = ne0;
	t->ne[1] = ne1;
	t->n_dims = ne1 > 1 ? 2 : 1;
}

/* A SentencePiece-style vocabulary of n tokens (n > 259): <unk>, <s>, </s>, the 256 byte tokens,
 * then "t<i>" pieces, so that ferry run and smoke can tokenize for the model. */
static int llama_vocab(struct fy_gguf_writer *w, long n, struct fy_err *err)
{
	struct fy_str *tok = calloc((size_t)n, sizeof(*tok));
	char *text = calloc((size_t)n, 24);
	float *score = calloc((size_t)n, sizeof(float));
	int32_t *type = calloc((size_t)n, sizeof(int32_t));
	int rc = FY_OK;
	if (tok == NULL || text == NULL || score == NULL || type == NULL) {
		rc = fy_err_set(err, FY_ENOMEM, "out of memory");
		goto out;
	}
	for (long i = 0; i < n; i++) {
		char *t = text + i * 24;
		if (i < 3)
			snprintf(t, 24, "%s", i == 0 ? "<unk>" : i == 1 ? "<s>" : "</s>");
		else if (i < 259)
			snprintf(t, 24, "<0x%02lX>", i - 3);
		else
			snprintf(t, 24, "t%ld", i);
		tok[i] = (struct fy_str){ t, strlen(t) };
		type[i] = i == 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1;
		score[i] = i < 259 ? 0.0f : -(float)i;
	}
	FY_TRY(rc, fy_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama", err));
	FY_TRY(rc, fy_gguf_writer_set_str_array(w, "tokenizer.ggml.tokens", (uint64_t)n, tok, err));
	FY_TRY(rc, fy_gguf_writer_set_array(w, "tokenizer.ggml.scores", FY_GGUF_F32, (uint64_t)n,
					    score, err));
	FY_TRY(rc, fy_gguf_writer_set_array(w, "tokenizer.ggml.token_type", FY_GGUF_I32,
					    (uint64_t)n, type, err));
	FY_TRY(rc, fy_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1, err));
	FY_TRY(rc, fy_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2, err));
out:
	free(tok);
	free(text);
	free(score);
	free(type);
	return rc;
}

static int llama_meta(struct fy_gguf_writer *w, long layers, long dim, long ffn, long vocab,
		      struct fy_err *err)
{
	const long heads = dim / 64 > 0 ? dim / 64 : 1;
	const long kv = heads / 4 > 0 ? heads / 4 : 1;
	int rc = FY_OK;
	FY_TRY(rc, fy_gguf_writer_set_str(w, "general.architecture", "llama", err));
	FY_TRY(rc, fy_gguf_writer_set_str(w, "general.name", "ferry synthetic llama", err));
	FY_TRY(rc, fy_gguf_writer_set_u32(w, "general.file_type", 1, err));
	FY_TRY(rc, fy_gguf_writer_set_u32(w, "llama.block_count", (uint32_t)layers, err));
	FY_TRY(rc, fy_gguf_writer_set_u32(w, "llama.context_length", 2048, err));
	FY_TRY(rc, fy_gguf_writer_set_u32(w, "llama.embedding_length", (uint32_t)dim, err));
	FY_TRY(rc, fy_gguf_writer_set_u32(w, "llama.feed_forward_length", (uint32_t)ffn, err));
	FY_TRY(rc, fy_gguf_writer_set_u32(w, "llama.attention.head_count", (uint32_t)heads, err));
	FY_TRY(rc, fy_gguf_writer_set_u32(w, "llama.attention.head_count_kv", (uint32_t)kv, err));
	FY_TRY(rc, fy_gguf_writer_set_u32(w, "llama.vocab_size", (uint32_t)vocab, err));
	FY_TRY(rc, llama_vocab(w, vocab, err));
out:
	return rc;
}

static void llama_tensors(struct model *m, long layers, long dim, long ffn, long vocab, bool tied)
{
	static const char *const parts[] = { "attn_norm", "attn_q", "attn_k", "attn_v",
					     "attn_output", "ffn_norm", "ffn_gate", "ffn_up",
					     "ffn_down" };
	const long kv_dim = dim / 4;
	char name[64];
	add(m, "token_embd.weight", dim, vocab);
	for (long l = 0; l < layers; l++) {
		for (int p = 0; p < 9; p++) {
			snprintf(name, sizeof(name), "blk.%ld.%s.weight", l, parts[p]);
			const long ne0 = p == 8 ? ffn : dim;
			const long ne1 = (p == 0 || p == 5) ? 1
					 : (p == 2 || p == 3) ? kv_dim
					 : (p == 6 || p == 7) ? ffn
							      : dim;
			add(m, name, ne0, ne1);
		}
	}
	add(m, "output_norm.weight", dim, 1);
	if (!tied)
		add(m, "output.weight", dim, vocab);
}

static int run(int argc, char **argv, struct fy_err *err)
{
	struct model m = { .type = FY_DTYPE_F32, .seed = 0x5EEDF00Dull };
	struct fy_gguf_writer *w = NULL;
	struct fy_buf in = { 0 };
	int rc = FY_OK;
	if (argc >= 7 && strcmp(argv[1], "llama") == 0) {
		const long layers = atol(argv[3]), dim = atol(argv[4]), ffn = atol(argv[5]);
		const long vocab = atol(argv[6]);
		m.type = argc > 7 && strcmp(argv[7], "f32") == 0    ? FY_DTYPE_F32
			 : argc > 7 && strcmp(argv[7], "bf16") == 0 ? FY_DTYPE_BF16
								    : FY_DTYPE_F16;
		m.t = calloc((size_t)layers * 9 + 3, sizeof(*m.t));
		if (m.t == NULL)
			return fy_err_set(err, FY_ENOMEM, "out of memory");
		llama_tensors(&m, layers, dim, ffn, vocab, argc > 8 && strcmp(argv[8], "tied") == 0);
		FY_TRY(rc, fy_gguf_writer_new(&w, err));
		FY_TRY(rc, llama_meta(w, layers, dim, ffn, vocab, err));
	} else if (argc == 6 && strcmp(argv[1], "rows") == 0) {
		FY_TRY(rc, fy_file_read(argv[3], 1u << 30, &in, err));
		m.t = calloc(1, sizeof(*m.t));
		if (m.t == NULL || in.len != (size_t)atol(argv[4]) * (size_t)atol(argv[5]) * 4) {
			rc = fy_err_set(err, FY_EINVAL, "%s: not %s x %s floats", argv[3], argv[4],
					argv[5]);
			goto out;
		}
		m.rows = (const float *)in.data;
		add(&m, "blk.0.ffn_up.weight", atol(argv[5]), atol(argv[4]));
		FY_TRY(rc, fy_gguf_writer_new(&w, err));
		FY_TRY(rc, fy_gguf_writer_set_str(w, "general.architecture", "llama", err));
		FY_TRY(rc, fy_gguf_writer_set_u32(w, "llama.block_count", 1, err));
	} else {
		return fy_err_set(err, FY_EINVAL,
				  "usage: mkmodel llama OUT LAYERS DIM FFN VOCAB [f16|f32|bf16] "
				  "[tied] | mkmodel rows OUT INPUT.f32 ROWS COLS");
	}
	for (size_t i = 0; i < m.n; i++) {
		const enum fy_dtype t = m.t[i].n_dims == 1 ? FY_DTYPE_F32 : m.type;
		FY_TRY(rc, fy_gguf_writer_add(w, m.t[i].name, t, m.t[i].n_dims, m.t[i].ne, err));
	}
	rc = fy_gguf_writer_write(w, argv[2], fill, &m, err);
out:
	fy_gguf_writer_free(w);
	fy_buf_release(&in);
	free(m.t);
	return rc;
}

int main(int argc, char **argv)
{
	struct fy_err err = { 0 };
	if (run(argc, argv, &err) != FY_OK) {
		fprintf(stderr, "mkmodel: %s\n", err.msg);
		return 1;
	}
	return 0;
}
