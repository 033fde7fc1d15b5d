/*
 * GGUF -> HF checkpoint for the llama family: the inverse of hf2gguf.c. Tensors are dequantized
 * (or widened) row by row and written as F32, F16 or BF16 under their HF names (llama's q/k rows
 * permuted back to HF's rotate-half layout); config.json is regenerated from the hyper-parameters
 * and the tokenizer from the GGUF vocabulary: tokenizer.json + tokenizer_config.json for
 * byte-level BPE, and for SentencePiece also tokenizer.model (a ModelProto rebuilt from the
 * pieces, scores and types) with tokenizer.json's merges extracted from the scores as
 * transformers' SentencePieceExtractor does. Files go to a temporary directory beside the output
 * and are renamed into it only when all are written. See docs/CONVERT.md.
 */
#include "convert/convert.h"
#include "convert/convert_private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_HF_NAME 160

struct xtensor {
	char name[MAX_HF_NAME];
	const struct fy_gguf_tensor *g;
	enum fy_dtype out;
	int permute_heads; /* llama's q/k: rows go back to HF's layout */
};

struct xport {
	struct fy_gguf *g;
	const char *arch; /* GGUF architecture */
	const struct fy_hf_arch *row;
	struct xtensor *t;
	size_t n;
	bool tied; /* no output.weight */
	struct fy_pool *pool;
	enum fy_dtype dtype;
	int64_t n_layer, n_head, n_head_kv;
};

/* --- GGUF metadata -------------------------------------------------------------------------- */

static const struct fy_gguf_kv *kv_of(const struct xport *x, const char *suffix)
{
	char key[160];
	snprintf(key, sizeof(key), "%s.%s", x->arch, suffix);
	return fy_gguf_find_kv(x->g, key);
}

/* A non-negative integer KV (any numeric type holding one). */
static bool kv_uint(const struct fy_gguf_kv *kv, int64_t *out)
{
	double v;
	if (!fy_gguf_kv_number(kv, &v) || !(v >= 0 && v < 0x1p62) || v != (double)(int64_t)v)
		return false;
	*out = (int64_t)v;
	return true;
}

static int64_t arch_uint(const struct xport *x, const char *suffix, int64_t dflt)
{
	int64_t v;
	return kv_uint(kv_of(x, suffix), &v) ? v : dflt;
}

/* A float32 hyper-parameter as the shortest decimal that reads back as the same float (1e-05,
 * not 9.99999975e-06), as a double. */
static double short_float(double v)
{
	char buf[64];
	for (int p = 1; p <= 9; p++) {
		snprintf(buf, sizeof(buf), "%.*g", p, v);
		if ((float)strtod(buf, NULL) == (float)v)
			return strtod(buf, NULL);
	}
	return v;
}

static bool arch_real(const struct xport *x, const char *suffix, double *out)
{
	const struct fy_gguf_kv *kv = kv_of(x, suffix);
	if (!fy_gguf_kv_number(kv, out))
		return false;
	if (kv->type == FY_GGUF_F32)
		*out = short_float(*out);
	return true;
}

static const char *kv_str(const struct fy_gguf *g, const char *key, char *buf, size_t cap)
{
	const struct fy_gguf_kv *kv = fy_gguf_find_kv(g, key);
	if (kv == NULL || kv->type != FY_GGUF_STRING)
		return NULL;
	snprintf(buf, cap, "%.*s", (int)kv->v.s.len, kv->v.s.ptr);
	return buf;
}

/* --- tensors -------------------------------------------------------------------------------- */

/* The HF name of a GGUF tensor; "" to skip it; false if unknown. */
static bool hf_name(const struct xport *x, const char *g, char *out, size_t cap)
{
	static const struct {
		const char *gguf, *hf;
	} top[] = { { "token_embd.weight", "model.embed_tokens.weight" },
		    { "output.weight", "lm_head.weight" },
		    { "output_norm.weight", "model.norm.weight" } };
	for (size_t i = 0; i < sizeof(top) / sizeof(top[0]); i++) {
		if (strcmp(g, top[i].gguf) == 0)
			return snprintf(out, cap, "%s", top[i].hf), true;
	}
	if (strcmp(g, "rope_freqs.weight") == 0) /* rebuilt from config.json's rope_scaling */
		return out[0] = '\0', true;
	if (strncmp(g, "blk.", 4) != 0)
		return false;
	char *end = NULL;
	const long l = strtol(g + 4, &end, 10);
	if (end == g + 4 || *end != '.' || l < 0 || l >= x->n_layer)
		return false;
	const char *hf = fy_convert_layer_hf(x->row, end + 1);
	if (hf == NULL)
		return false;
	snprintf(out, cap, "model.layers.%ld.%s", l, hf);
	return true;
}

static int plan(struct xport *x, const struct fy_export_opts *o, struct fy_err *err)
{
	const size_t n = fy_gguf_tensor_count(x->g);
	x->t = calloc(n > 0 ? n : 1, sizeof(*x->t));
	if (x->t == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	x->tied = true;
	for (size_t i = 0; i < n; i++) {
		const struct fy_gguf_tensor *gt = fy_gguf_tensor_at(x->g, i);
		struct xtensor *t = &x->t[x->n];
		size_t row = 0;
		if (!hf_name(x, gt->name, t->name, sizeof(t->name)))
			return fy_err_set(err, FY_EUNSUPPORTED,
					  "%s: tensor '%s' has no Hugging Face name for %s",
					  fy_gguf_label(x->g), gt->name, x->arch);
		if (t->name[0] == '\0')
			continue;
		if (strcmp(gt->name, "output.weight") == 0)
			x->tied = false;
		if (gt->n_dims > 2 || gt->ne[2] != 1 || gt->ne[3] != 1 ||
		    !fy_quant_row_bytes(gt->type, gt->ne[0], &row))
			return fy_err_set(err, FY_EUNSUPPORTED,
					  "%s: tensor '%s' (%s, %d dimensions) cannot be "
					  "dequantized by rows",
					  fy_gguf_label(x->g), gt->name, fy_dtype_name(gt->type),
					  gt->n_dims);
		t->g = gt;
		t->out = o->outtype != FY_DTYPE_COUNT ? o->outtype : x->dtype;
		if (x->row->permute_qk && strstr(gt->name, ".attn_q.") != NULL)
			t->permute_heads = (int)x->n_head;
		if (x->row->permute_qk && strstr(gt->name, ".attn_k.") != NULL)
			t->permute_heads = (int)x->n_head_kv;
		if (t->permute_heads > 0 && gt->ne[1] % (2 * t->permute_heads) != 0)
			return fy_err_set(err, FY_EFORMAT,
					  "%s: tensor '%s': %lld rows do not split into %d heads",
					  fy_gguf_label(x->g), gt->name, (long long)gt->ne[1],
					  t->permute_heads);
		x->n++;
	}
	if (x->n == 0)
		return fy_err_set(err, FY_EFORMAT,
				  "%s holds no tensors (a vocabulary-only file is not a model)",
				  fy_gguf_label(x->g));
	return FY_OK;
}

/* The GGUF row holding HF row h: the inverse of hf2gguf.c's permutation ([h, half, 2] in GGUF,
 * [h, 2, half] in HF). */
static int64_t gguf_row(const struct xtensor *t, int64_t h)
{
	if (t->permute_heads <= 0)
		return h;
	const int64_t per = t->g->ne[1] / t->permute_heads;
	const int64_t half = per / 2;
	const int64_t head = h / per, j = h % per;
	return head * per + (j < half ? 2 * j : 2 * (j - half) + 1);
}

struct rowctx {
	const struct xtensor *t;
	size_t in_row, out_row;
};

/* HF row h: the GGUF row it comes from, as it is (same type) or dequantized and converted. */
static int hf_row(const void *ctx, int64_t h, float *scratch, uint8_t *out, struct fy_err *err)
{
	const struct rowctx *k = ctx;
	const struct xtensor *t = k->t;
	const uint8_t *src = (const uint8_t *)t->g->data + (size_t)gguf_row(t, h) * k->in_row;
	(void)err;
	if (t->g->type == t->out) {
		memcpy(out, src, k->out_row);
		return FY_OK;
	}
	fy_dequant_row(t->g->type, src, scratch, t->g->ne[0]);
	fy_quant_row(t->out, scratch, out, t->g->ne[0]);
	return FY_OK;
}

static int tensor_data(void *ctx, size_t index, struct fy_sink *sink, struct fy_err *err)
{
	const struct xport *x = ctx;
	const struct xtensor *t = &x->t[index];
	struct rowctx k = { t, 0, 0 };
	int rc;
	if (!fy_quant_row_bytes(t->g->type, t->g->ne[0], &k.in_row) ||
	    !fy_quant_row_bytes(t->out, t->g->ne[0], &k.out_row))
		return fy_err_set(err, FY_EFORMAT, "tensor '%s': bad row length", t->g->name);
	if (t->g->type == t->out && t->permute_heads <= 0)
		rc = fy_sink_write(sink, t->g->data, k.in_row * (size_t)t->g->ne[1], err);
	else
		rc = fy_convert_rows(x->pool, t->g->ne[1], t->g->ne[0], k.out_row, hf_row, &k, sink,
				     err);
	fy_map_drop(t->g->data, (size_t)t->g->nbytes); /* streamed through once */
	return rc;
}

static int write_tensors(struct xport *x, const char *path, struct fy_err *err)
{
	struct fy_st_writer *w = NULL;
	int rc = FY_OK;
	FY_TRY(rc, fy_st_writer_new(&w, err));
	FY_TRY(rc, fy_st_writer_meta(w, "format", "pt", err));
	for (size_t i = 0; i < x->n; i++) {
		const struct fy_gguf_tensor *g = x->t[i].g;
		const int64_t shape[2] = { g->n_dims == 2 ? g->ne[1] : g->ne[0], g->ne[0] };
		FY_TRY(rc, fy_st_writer_add(w, x->t[i].name, x->t[i].out, g->n_dims, shape, err));
	}
	FY_TRY(rc, fy_st_writer_write(w, path, tensor_data, x, err));
out:
	fy_st_writer_free(w);
	return rc;
}

/* --- config.json ---------------------------------------------------------------------------- */

static const char *torch_dtype(enum fy_dtype t)
{
	return t == FY_DTYPE_F32 ? "float32" : t == FY_DTYPE_F16 ? "float16" : "bfloat16";
}

static void set_int(struct fy_json *o, const char *key, int64_t v)
{
	if (v >= 0)
		fy_json_set(o, key, fy_json_integer(v));
}

static void token_id(struct fy_json *o, const struct fy_gguf *g, const char *key, const char *name)
{
	const struct fy_gguf_kv *kv = fy_gguf_find_kv(g, key);
	int64_t v;
	if (kv_uint(kv, &v) && v <= INT32_MAX) /* llama.cpp writes "none" as 4294967295 */
		fy_json_set(o, name, fy_json_integer(v));
}

/* rope_scaling: as config.json had it when ferry converted it (ferry.hf.rope_scaling), else
 * from <arch>.rope.scaling.* (linear, yarn), else null. */
static struct fy_json *rope_scaling(const struct xport *x)
{
	char buf[64];
	char key[160];
	double factor = 0;
	const struct fy_gguf_kv *kept = fy_gguf_find_kv(x->g, "ferry.hf.rope_scaling");
	struct fy_json *j = NULL;
	struct fy_err err;
	if (kept != NULL && kept->type == FY_GGUF_STRING &&
	    fy_json_parse(&j, kept->v.s.ptr, kept->v.s.len, "ferry.hf.rope_scaling", &err) == FY_OK)
		return j;
	snprintf(key, sizeof(key), "%s.rope.scaling.type", x->arch);
	const char *type = kv_str(x->g, key, buf, sizeof(buf));
	if (type == NULL || strcmp(type, "none") == 0 ||
	    !arch_real(x, "rope.scaling.factor", &factor))
		return fy_json_null();
	struct fy_json *r = fy_json_object();
	fy_json_set(r, "rope_type", fy_json_string(type));
	fy_json_set(r, "factor", fy_json_real(factor));
	set_int(r, "original_max_position_embeddings",
		arch_uint(x, "rope.scaling.original_context_length", -1));
	return r;
}

static struct fy_json *config(const struct xport *x, size_t n_vocab)
{
	struct fy_json *c = fy_json_object();
	struct fy_json *archs = fy_json_array();
	const int64_t embd = arch_uint(x, "embedding_length", -1);
	const int64_t key_len = arch_uint(x, "attention.key_length", -1);
	double v;
	fy_json_push(archs, fy_json_string(x->row->hf));
	fy_json_set(c, "architectures", archs);
	fy_json_set(c, "model_type", fy_json_string(x->row->model_type));
	fy_json_set(c, "hidden_act", fy_json_string("silu"));
	set_int(c, "hidden_size", embd);
	set_int(c, "intermediate_size", arch_uint(x, "feed_forward_length", -1));
	set_int(c, "num_hidden_layers", x->n_layer);
	set_int(c, "num_attention_heads", x->n_head);
	set_int(c, "num_key_value_heads", x->n_head_kv);
	if (key_len > 0 && (x->row->explicit_head_dim || key_len != embd / x->n_head))
		set_int(c, "head_dim", key_len);
	set_int(c, "max_position_embeddings", arch_uint(x, "context_length", -1));
	if (arch_real(x, "attention.layer_norm_rms_epsilon", &v))
		fy_json_set(c, "rms_norm_eps", fy_json_real(v));
	if (arch_real(x, "rope.freq_base", &v))
		fy_json_set(c, "rope_theta", fy_json_real(v));
	fy_json_set(c, "rope_scaling", rope_scaling(x));
	fy_json_set(c, "attention_bias",
		    fy_json_bool(fy_gguf_find_tensor(x->g, "blk.0.attn_q.bias") != NULL));
	fy_json_set(c, "tie_word_embeddings", fy_json_bool(x->tied));
	token_id(c, x->g, "tokenizer.ggml.bos_token_id", "bos_token_id");
	token_id(c, x->g, "tokenizer.ggml.eos_token_id", "eos_token_id");
	fy_json_set(c, "vocab_size", fy_json_integer((int64_t)n_vocab));
	fy_json_set(c, "torch_dtype", fy_json_string(torch_dtype(x->dtype)));
	fy_json_set(c, "use_cache", fy_json_bool(true));
	return c;
}

/* --- writing -------------------------------------------------------------------------------- */

/* Moves every file of tmp into out (created if needed). */
static int publish(const char *tmp, const char *out, struct fy_err *err)
{
	char **names = NULL;
	size_t n = 0;
	if (mkdir(out, 0755) != 0 && errno != EEXIST)
		return fy_err_sys(err, FY_EIO, "%s", out);
	int rc = fy_dir_list(tmp, "", &names, &n, err);
	for (size_t i = 0; rc == FY_OK && i < n; i++) {
		char *from = fy_path_join(tmp, names[i]), *to = fy_path_join(out, names[i]);
		if (from == NULL || to == NULL)
			rc = fy_err_set(err, FY_ENOMEM, "out of memory");
		else if (rename(from, to) != 0)
			rc = fy_err_sys(err, FY_EIO, "cannot move %s into %s", names[i], out);
		free(from);
		free(to);
	}
	fy_names_free(names, n);
	return rc;
}

/* The dtype of the output: --outtype, else the file's float type, else F32 (exact). */
static enum fy_dtype default_dtype(const struct fy_gguf *g)
{
	const struct fy_gguf_kv *kv = fy_gguf_find_kv(g, "general.file_type");
	int64_t ft = -1;
	if (kv_uint(kv, &ft) && ft == FY_FTYPE_F16)
		return FY_DTYPE_F16;
	if (ft == FY_FTYPE_BF16)
		return FY_DTYPE_BF16;
	return FY_DTYPE_F32;
}

static int open_model(struct xport *x, const char *path, const struct fy_export_opts *o,
		      struct fy_err *err)
{
	char arch[64];
	int rc = FY_OK;
	FY_TRY(rc, fy_gguf_open(&x->g, path, err));
	if (kv_str(x->g, "general.architecture", arch, sizeof(arch)) == NULL) {
		rc = fy_err_set(err, FY_EFORMAT, "%s: no general.architecture", path);
		goto out;
	}
	x->row = fy_convert_arch_of_gguf(arch);
	if (x->row == NULL) {
		rc = fy_err_set(
			err, FY_EUNSUPPORTED,
			"%s: architecture '%s' does not convert to Hugging Face (supported: "
			"llama, qwen2, qwen3)",
			path, arch);
		goto out;
	}
	x->arch = x->row->gguf;
	x->n_layer = arch_uint(x, "block_count", -1);
	x->n_head = arch_uint(x, "attention.head_count", -1);
	x->n_head_kv = arch_uint(x, "attention.head_count_kv", x->n_head);
	if (x->n_layer <= 0 || x->n_head <= 0 || x->n_head_kv <= 0 ||
	    arch_uint(x, "embedding_length", -1) <= 0) {
		rc = fy_err_set(err, FY_EFORMAT,
				"%s: needs %s.block_count, embedding_length, attention.head_count",
				path, arch);
		goto out;
	}
	x->dtype = o->outtype != FY_DTYPE_COUNT ? o->outtype : default_dtype(x->g);
	x->pool = o->pool;
	if (fy_gguf_find_tensor(x->g, "rope_freqs.weight") != NULL &&
	    fy_gguf_find_kv(x->g, "ferry.hf.rope_scaling") == NULL) {
		rc = fy_err_set(err, FY_EUNSUPPORTED,
				"%s: rope_freqs.weight (Llama 3 rope scaling) does not map back to "
				"config.json's rope_scaling without the ferry.hf.rope_scaling a "
				"ferry conversion keeps",
				path);
		goto out;
	}
	FY_TRY(rc, plan(x, o, err));
out:
	return rc;
}

/* generation_config.json from general.sampling.* (what the converter read from it), or NULL
 * when the file has none. */
static struct fy_json *generation_config(const struct xport *x)
{
	static const struct {
		const char *key, *hf;
	} keys[] = {
		{ "general.sampling.top_k", "top_k" },
		{ "general.sampling.top_p", "top_p" },
		{ "general.sampling.min_p", "min_p" },
		{ "general.sampling.xtc_probability", "xtc_probability" },
		{ "general.sampling.xtc_threshold", "xtc_threshold" },
		{ "general.sampling.temp", "temperature" },
		{ "general.sampling.penalty_last_n", "penalty_last_n" },
		{ "general.sampling.penalty_repeat", "repetition_penalty" },
		{ "general.sampling.mirostat", "mirostat" },
		{ "general.sampling.mirostat_tau", "mirostat_tau" },
		{ "general.sampling.mirostat_eta", "mirostat_eta" },
	};
	struct fy_json *g = NULL;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const struct fy_gguf_kv *kv = fy_gguf_find_kv(x->g, keys[i].key);
		double v;
		if (!fy_gguf_kv_number(kv, &v))
			continue;
		if (g == NULL)
			g = fy_json_object();
		fy_json_set(g, keys[i].hf,
			    kv->type == FY_GGUF_F32 ? fy_json_real(short_float(v))
						    : fy_json_integer((int64_t)v));
	}
	char seq[256];
	if (kv_str(x->g, "general.sampling.sequence", seq, sizeof(seq)) != NULL) {
		if (g == NULL)
			g = fy_json_object();
		fy_json_set(g, "sequence", fy_json_string(seq));
	}
	return g;
}

int fy_convert_gguf_to_hf(const char *path, const char *out_dir, const struct fy_export_opts *o,
			  struct fy_export_report *rep, struct fy_err *err)
{
	struct xport x = { 0 };
	char tmp[4200], st[4300];
	int rc = FY_OK;
	memset(rep, 0, sizeof(*rep));
	snprintf(tmp, sizeof(tmp), "%s.tmp-%ld", out_dir, (long)getpid());
	FY_TRY(rc, open_model(&x, path, o, err));
	if (mkdir(tmp, 0755) != 0) {
		rc = fy_err_sys(err, FY_EIO, "%s", tmp);
		goto out;
	}
	snprintf(st, sizeof(st), "%s/model.safetensors", tmp);
	FY_TRY(rc, write_tensors(&x, st, err));
	FY_TRY(rc, fy_export_tokenizer(x.g, tmp, &rep->n_vocab, &rep->tokenizer, err));
	FY_TRY(rc, fy_export_json(tmp, "config.json", config(&x, rep->n_vocab), err));
	struct fy_json *gen = generation_config(&x);
	if (gen != NULL)
		FY_TRY(rc, fy_export_json(tmp, "generation_config.json", gen, err));
	FY_TRY(rc, publish(tmp, out_dir, err));
	rep->arch = x.row->hf;
	rep->n_tensors = x.n;
	rep->dtype = x.dtype;
out:
	fy_dir_remove(tmp);
	free(x.t);
	fy_gguf_free(x.g);
	return rc;
}
