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
 *   mkmodel deepseek OUTDIR LAYERS HIDDEN EXPERTS EXPERT_FFN
 *       a DeepSeek-V3-shaped HF checkpoint: config.json, one safetensors shard per layer (the
 *       embeddings, final norm and lm_head in a last one) and the index; every linear weight
 *       F8_E4M3 (random codes, NaN never) with F32 128 x 128 block scales, norms and the router
 *       BF16, the selection bias F32; layer 0 dense, 128-wide heads, a 2176-token vocabulary
 *       (the bench copies the fixture's tokenizer next to it)
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
	/* what llama.cpp's loader requires of a llama model beside the shapes */
	const struct fy_gguf_value eps = { .type = FY_GGUF_F32, .f = 1e-5 };
	FY_TRY(rc, fy_gguf_writer_set(w, "llama.attention.layer_norm_rms_epsilon", &eps, err));
	FY_TRY(rc, fy_gguf_writer_set_u32(w, "llama.rope.dimension_count", 64, err));
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

/* --- deepseek: an FP8 checkpoint ------------------------------------------------------------ */

#define DS_VOCAB 2176

struct ds_tensor {
	char name[128];
	enum fy_dtype type;
	int n_dims;
	int64_t shape[2]; /* PyTorch order */
};

struct ds_shard {
	struct ds_tensor t[400];
	size_t n;
	uint64_t seed;
};

static void ds_add(struct ds_shard *d, const char *name, enum fy_dtype type, int64_t rows,
		   int64_t cols)
{
	struct ds_tensor *t = &d->t[d->n++];
	snprintf(t->name, sizeof(t->name), "%.120s", name);
	t->type = type;
	t->n_dims = cols > 0 ? 2 : 1;
	t->shape[0] = rows;
	t->shape[1] = cols;
}

/* An F8_E4M3 linear weight and its block scales. */
static void ds_linear(struct ds_shard *d, const char *name, int64_t rows, int64_t cols)
{
	char sc[128];
	ds_add(d, name, FY_DTYPE_F8_E4M3, rows, cols);
	snprintf(sc, sizeof(sc), "%.100s_scale_inv", name);
	ds_add(d, sc, FY_DTYPE_F32, (rows + 127) / 128, (cols + 127) / 128);
}

static int ds_fill(void *ctx, size_t index, struct fy_sink *sink, struct fy_err *err)
{
	const struct ds_shard *d = ctx;
	const struct ds_tensor *t = &d->t[index];
	const int64_t n = t->shape[0] * (t->n_dims == 2 ? t->shape[1] : 1);
	const size_t el = t->type == FY_DTYPE_F32 ? 4 : t->type == FY_DTYPE_BF16 ? 2 : 1;
	enum { CHUNK = 1 << 16 };
	uint8_t *buf = malloc(CHUNK * 4);
	uint64_t s = d->seed + index * 0x9E3779B97F4A7C15ull + 1;
	const bool norm = strstr(t->name, "norm") != NULL;
	const bool scale = strstr(t->name, "_scale_inv") != NULL;
	int rc = FY_OK;
	if (buf == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	for (int64_t done = 0; done < n && rc == FY_OK;) {
		const int64_t k = n - done < CHUNK ? n - done : CHUNK;
		for (int64_t i = 0; i < k; i++) {
			if (t->type == FY_DTYPE_F8_E4M3) {
				uint8_t c = (uint8_t)(uniform(&s) * 256.0);
				buf[i] = (c & 0x7F) == 0x7F ? (uint8_t)(c ^ 1) : c; /* no NaN */
				continue;
			}
			const float v = scale	? 0.0005f + 0.001f * (float)uniform(&s)
					: norm	? 1.0f + 0.1f * normal(&s)
					: t->n_dims == 1 ? 0.25f * (float)uniform(&s)
							 : 0.02f * normal(&s);
			if (t->type == FY_DTYPE_F32)
				memcpy(buf + 4 * i, &v, 4);
			else
				fy_f32_to_bf16_row(&v, (uint16_t *)(buf + 2 * i), 1);
		}
		rc = fy_sink_write(sink, buf, (size_t)k * el, err);
		done += k;
	}
	free(buf);
	return rc;
}

/* Writes shard `file` of d's tensors, each also entered in the index's weight map. */
static int ds_write(const char *dir, const char *file, struct ds_shard *d, struct fy_json *map,
		    uint64_t *total, struct fy_err *err)
{
	struct fy_st_writer *w = NULL;
	char path[4200];
	int rc = FY_OK;
	FY_TRY(rc, fy_st_writer_new(&w, err));
	FY_TRY(rc, fy_st_writer_meta(w, "format", "pt", err));
	for (size_t i = 0; i < d->n; i++) {
		uint64_t bytes = 0;
		FY_TRY(rc, fy_st_writer_add(w, d->t[i].name, d->t[i].type, d->t[i].n_dims,
					    d->t[i].shape, err));
		fy_dtype_nbytes(d->t[i].type,
				d->t[i].shape[0] * (d->t[i].n_dims == 2 ? d->t[i].shape[1] : 1),
				&bytes);
		*total += bytes;
		fy_json_set(map, d->t[i].name, fy_json_string(file));
	}
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	rc = fy_st_writer_write(w, path, ds_fill, d, err);
out:
	fy_st_writer_free(w);
	return rc;
}

static int deepseek(const char *dir, long layers, long hidden, long experts, long eff,
		    struct fy_err *err)
{
	const long heads = hidden / 128, q_lora = 512, kv_lora = 256, nope = 128, rope = 64;
	const long v_dim = 128, ffn = 4 * hidden, groups = experts >= 8 ? 4 : 1;
	struct ds_shard *d = calloc(1, sizeof(*d));
	char path[4200], name[128], file[96];
	struct fy_json *map = fy_json_object(), *index = fy_json_object(), *meta = fy_json_object();
	uint64_t total = 0;
	int rc = FY_OK;
	FILE *f = NULL;
	snprintf(path, sizeof(path), "%s/config.json", dir);
	if (d == NULL || heads < 1 || experts < 8 || experts > 256 || layers < 2)
		FY_TRY(rc, fy_err_set(err, FY_EINVAL, "deepseek: bad sizes"));
	f = fopen(path, "w");
	if (f == NULL)
		FY_TRY(rc, fy_err_sys(err, FY_EIO, "%s", dir));
	fprintf(f,
		"{\n  \"architectures\": [\"DeepseekV3ForCausalLM\"],\n  \"model_type\": "
		"\"deepseek_v3\",\n  \"hidden_size\": %ld,\n  \"intermediate_size\": %ld,\n"
		"  \"moe_intermediate_size\": %ld,\n  \"num_hidden_layers\": %ld,\n"
		"  \"num_attention_heads\": %ld,\n  \"num_key_value_heads\": %ld,\n"
		"  \"n_routed_experts\": %ld,\n  \"n_shared_experts\": 1,\n"
		"  \"num_experts_per_tok\": %ld,\n  \"n_group\": %ld,\n  \"topk_group\": %ld,\n"
		"  \"first_k_dense_replace\": 1,\n  \"q_lora_rank\": %ld,\n  \"kv_lora_rank\": %ld,\n"
		"  \"qk_nope_head_dim\": %ld,\n  \"qk_rope_head_dim\": %ld,\n  \"v_head_dim\": %ld,\n"
		"  \"scoring_func\": \"sigmoid\",\n  \"topk_method\": \"noaux_tc\",\n"
		"  \"norm_topk_prob\": true,\n  \"routed_scaling_factor\": 2.5,\n"
		"  \"num_nextn_predict_layers\": 0,\n  \"rms_norm_eps\": 1e-06,\n"
		"  \"rope_theta\": 10000,\n  \"rope_scaling\": {\"type\": \"yarn\", \"factor\": 40, "
		"\"original_max_position_embeddings\": 4096, \"beta_fast\": 32, \"beta_slow\": 1, "
		"\"mscale\": 1.0, \"mscale_all_dim\": 1.0},\n  \"max_position_embeddings\": 163840,\n"
		"  \"quantization_config\": {\"quant_method\": \"fp8\", \"fmt\": \"e4m3\", "
		"\"activation_scheme\": \"dynamic\", \"weight_block_size\": [128, 128]},\n"
		"  \"bos_token_id\": 0,\n  \"eos_token_id\": 1,\n  \"tie_word_embeddings\": false,\n"
		"  \"torch_dtype\": \"bfloat16\",\n  \"vocab_size\": %d\n}\n",
		hidden, ffn, eff, layers, heads, heads, experts, experts >= 32 ? 8L : 2L, groups,
		groups > 1 ? groups / 2 : 1L, q_lora, kv_lora, nope, rope, v_dim, DS_VOCAB);
	for (long l = 0; l <= layers; l++) {
		d->n = 0;
		d->seed = 0xDEE95EEDull + (uint64_t)l;
		snprintf(file, sizeof(file), "model-%05ld-of-%06ld.safetensors", l + 1, layers + 1);
#define LN(s) (snprintf(name, sizeof(name), "model.layers.%ld.%.90s", l, s), name)
		if (l == layers) {
			ds_add(d, "model.embed_tokens.weight", FY_DTYPE_BF16, DS_VOCAB, hidden);
			ds_add(d, "model.norm.weight", FY_DTYPE_BF16, hidden, 0);
			ds_add(d, "lm_head.weight", FY_DTYPE_BF16, DS_VOCAB, hidden);
			FY_TRY(rc, ds_write(dir, file, d, map, &total, err));
			break;
		}
		ds_add(d, LN("input_layernorm.weight"), FY_DTYPE_BF16, hidden, 0);
		ds_add(d, LN("post_attention_layernorm.weight"), FY_DTYPE_BF16, hidden, 0);
		ds_linear(d, LN("self_attn.q_a_proj.weight"), q_lora, hidden);
		ds_add(d, LN("self_attn.q_a_layernorm.weight"), FY_DTYPE_BF16, q_lora, 0);
		ds_linear(d, LN("self_attn.q_b_proj.weight"), heads * (nope + rope), q_lora);
		ds_linear(d, LN("self_attn.kv_a_proj_with_mqa.weight"), kv_lora + rope, hidden);
		ds_add(d, LN("self_attn.kv_a_layernorm.weight"), FY_DTYPE_BF16, kv_lora, 0);
		ds_linear(d, LN("self_attn.kv_b_proj.weight"), heads * (nope + v_dim), kv_lora);
		ds_linear(d, LN("self_attn.o_proj.weight"), hidden, heads * v_dim);
		if (l == 0) {
			ds_linear(d, LN("mlp.gate_proj.weight"), ffn, hidden);
			ds_linear(d, LN("mlp.up_proj.weight"), ffn, hidden);
			ds_linear(d, LN("mlp.down_proj.weight"), hidden, ffn);
		} else {
			ds_add(d, LN("mlp.gate.weight"), FY_DTYPE_BF16, experts, hidden);
			ds_add(d, LN("mlp.gate.e_score_correction_bias"), FY_DTYPE_F32, experts, 0);
			for (long e = 0; e <= experts; e++) {
				char part[96];
				const char *p = e == experts ? "mlp.shared_experts" : "mlp.experts";
				for (int k = 0; k < 3; k++) {
					if (e == experts)
						snprintf(part, sizeof(part), "%s.%s_proj.weight", p,
							 k == 0 ? "gate" : k == 1 ? "up" : "down");
					else
						snprintf(part, sizeof(part), "%s.%ld.%s_proj.weight", p,
							 e, k == 0 ? "gate" : k == 1 ? "up" : "down");
					ds_linear(d, LN(part), k == 2 ? hidden : eff,
						  k == 2 ? eff : hidden);
				}
			}
		}
#undef LN
		FY_TRY(rc, ds_write(dir, file, d, map, &total, err));
	}
	fy_json_set(meta, "total_size", fy_json_integer((int64_t)total));
	fy_json_set(index, "metadata", meta);
	fy_json_set(index, "weight_map", map);
	meta = map = NULL;
	char *text = fy_json_dump(index, 0);
	snprintf(path, sizeof(path), "%s/model.safetensors.index.json", dir);
	rc = text != NULL ? fy_file_write_atomic(path, text, strlen(text), err)
			  : fy_err_set(err, FY_ENOMEM, "out of memory");
	free(text);
out:
	if (f != NULL)
		fclose(f);
	fy_json_free(index);
	fy_json_free(map);
	fy_json_free(meta);
	free(d);
	return rc;
}

static int run(int argc, char **argv, struct fy_err *err)
{
	struct model m = { .type = FY_DTYPE_F32, .seed = 0x5EEDF00Dull };
	struct fy_gguf_writer *w = NULL;
	struct fy_buf in = { 0 };
	int rc = FY_OK;
	if (argc == 7 && strcmp(argv[1], "deepseek") == 0)
		return deepseek(argv[2], atol(argv[3]), atol(argv[4]), atol(argv[5]), atol(argv[6]),
				err);
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
				  "[tied] | mkmodel rows OUT INPUT.f32 ROWS COLS | mkmodel deepseek "
				  "OUTDIR LAYERS HIDDEN EXPERTS EXPERT_FFN");
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
