/* convert: safetensors and GGUF readers and writers, HF checkpoints, the malformed corpus. */
#include "tests/corpus/corpus.h"
#include "tests/unit/helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const gguf_fixtures[] = {
	"models/stories260K/stories260K.gguf",
	"models/gguf-vocab/ggml-vocab-llama-spm.gguf",
	"models/gguf-vocab/ggml-vocab-phi-3.gguf",
	"models/gguf-vocab/ggml-vocab-gpt-2.gguf",
};

static const char *const st_fixtures[] = {
	"models/llama-stories260K/model.safetensors",
	"models/qwen2-shakespeare/model.safetensors",
	"models/qwen3-tiny/model.safetensors",
	"models/qwen3-moe-tiny/model-00001-of-00002.safetensors",
	"models/qwen3-moe-tiny/model-00002-of-00002.safetensors",
	"models/deepseek-v3-tiny/model-00001-of-000002.safetensors",
	"models/deepseek-v3-tiny/model-00002-of-000002.safetensors",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void assert_same_file(const char *a, const char *b)
{
	struct fy_buf x, y;
	size_t i;

	t_read(a, &x);
	t_read(b, &y);
	for (i = 0; i < x.len && i < y.len; i++) {
		if (x.data[i] != y.data[i])
			break;
	}
	cr_assert(x.len == y.len && i == x.len, "%s and %s differ at byte %zu (sizes %zu, %zu)", a,
		  b, i, x.len, y.len);
	fy_buf_release(&x);
	fy_buf_release(&y);
}

/* ------------------------------------------------------------------------------------------ */
/* GGUF                                                                                       */

static int gguf_copy_data(void *ctx, size_t i, struct fy_sink *sink, struct fy_err *err)
{
	const struct fy_gguf_tensor *t = fy_gguf_tensor_at(ctx, i);

	return fy_sink_write(sink, t->data, (size_t)t->nbytes, err);
}

/* Reads path and writes it back through the writer (every KV and tensor copied). */
static void gguf_rewrite(const char *path, const char *out)
{
	struct fy_gguf_writer *w = NULL;
	struct fy_gguf *g = NULL;
	struct fy_err err;
	size_t i;

	cr_assert_eq(fy_gguf_open(&g, path, &err), FY_OK, "%s", err.msg);
	cr_assert_eq(fy_gguf_writer_new(&w, &err), FY_OK);
	for (i = 0; i < fy_gguf_kv_count(g); i++)
		cr_assert_eq(fy_gguf_writer_copy_kv(w, fy_gguf_kv_at(g, i), &err), FY_OK, "%s",
			     err.msg);
	for (i = 0; i < fy_gguf_tensor_count(g); i++) {
		const struct fy_gguf_tensor *t = fy_gguf_tensor_at(g, i);

		cr_assert_eq(fy_gguf_writer_add(w, t->name, t->type, t->n_dims, t->ne, &err), FY_OK,
			     "%s", err.msg);
	}
	cr_assert_eq(fy_gguf_writer_write(w, out, gguf_copy_data, g, &err), FY_OK, "%s", err.msg);
	fy_gguf_writer_free(w);
	fy_gguf_free(g);
}

Test(gguf, fixtures_open)
{
	struct fy_gguf *g = NULL;
	const struct fy_gguf_kv *kv;
	const struct fy_gguf_tensor *t;
	struct fy_gguf_value v;
	struct fy_err err;

	cr_assert_eq(fy_gguf_open(&g, t_data(gguf_fixtures[0]), &err), FY_OK, "%s", err.msg);
	cr_assert_eq(fy_gguf_version(g), 3);
	cr_assert_eq(fy_gguf_tensor_count(g), 48);
	kv = fy_gguf_find_kv(g, "general.architecture");
	cr_assert(kv && kv->type == FY_GGUF_STRING && kv->v.s.len == 5);
	cr_assert_eq(memcmp(kv->v.s.ptr, "llama", 5), 0);
	kv = fy_gguf_find_kv(g, "tokenizer.ggml.tokens");
	cr_assert(kv && kv->type == FY_GGUF_ARRAY && kv->arr_count == 512);
	v = fy_gguf_arr_at(kv, 1);
	cr_assert(v.s.len == 3 && memcmp(v.s.ptr, "<s>", 3) == 0);
	kv = fy_gguf_find_kv(g, "llama.attention.head_count_kv");
	cr_assert(kv && kv->type == FY_GGUF_U32 && kv->v.u == 4);
	t = fy_gguf_find_tensor(g, "blk.0.ffn_down.weight");
	cr_assert(t && t->type == FY_DTYPE_F32 && t->ne[0] == 172 && t->ne[1] == 64);
	cr_assert_eq(t->nbytes, 172 * 64 * 4);
	cr_assert_eq((const uint8_t *)t->data - (const uint8_t *)fy_gguf_tensor_at(g, 0)->data,
		     (long)t->offset);
	fy_gguf_free(g);
}

Test(gguf, round_trip_is_byte_identical)
{
	char out[64];
	size_t i;

	t_tmpdir();
	for (i = 0; i < COUNT(gguf_fixtures); i++) {
		snprintf(out, sizeof(out), "rt%zu.gguf", i);
		gguf_rewrite(t_data(gguf_fixtures[i]), t_tmp(out));
		assert_same_file(t_data(gguf_fixtures[i]), t_tmp(out));
	}
	t_tmpdir_remove();
}

static int gguf_fill(void *ctx, size_t i, struct fy_sink *sink, struct fy_err *err)
{
	uint8_t byte = (uint8_t)(0x10 + i);
	uint64_t n = sink->left;
	int rc = FY_OK;

	(void)ctx;
	while (n-- > 0 && rc == FY_OK)
		rc = fy_sink_write(sink, &byte, 1, err);
	return rc;
}

static void write_all_types(const char *path, uint32_t alignment)
{
	struct fy_gguf_writer *w = NULL;
	struct fy_err err;
	struct fy_gguf_value v;
	int16_t i16s[3] = { -1, 2, -3 };
	struct fy_str strs[2] = { { "a", 1 }, { "", 0 } };
	int64_t ne_a[2] = { 8, 3 };
	int64_t ne_b[1] = { 256 };
	int t;

	cr_assert_eq(fy_gguf_writer_new(&w, &err), FY_OK);
	for (t = 0; t < FY_GGUF_TYPE_COUNT; t++) {
		char key[32];

		if (t == FY_GGUF_ARRAY)
			continue;
		memset(&v, 0, sizeof(v));
		v.type = (enum fy_gguf_type)t;
		v.i = -5;
		if (t == FY_GGUF_F32 || t == FY_GGUF_F64)
			v.f = 0.25;
		if (t == FY_GGUF_BOOL)
			v.b = true;
		if (t == FY_GGUF_STRING)
			v.s = (struct fy_str){ "hello", 5 };
		snprintf(key, sizeof(key), "test.%s", fy_gguf_type_name(v.type));
		cr_assert_eq(fy_gguf_writer_set(w, key, &v, &err), FY_OK, "%s", err.msg);
	}
	cr_assert_eq(fy_gguf_writer_set_array(w, "test.arr_i16", FY_GGUF_I16, 3, i16s, &err),
		     FY_OK);
	cr_assert_eq(fy_gguf_writer_set_str_array(w, "test.arr_str", 2, strs, &err), FY_OK);
	cr_assert_eq(fy_gguf_writer_set_u32(w, "general.alignment", alignment, &err), FY_OK);
	cr_assert_eq(fy_gguf_writer_set_str(w, "test.string", "replaced", &err), FY_OK);
	cr_assert_eq(fy_gguf_writer_add(w, "a", FY_DTYPE_F16, 2, ne_a, &err), FY_OK);
	cr_assert_eq(fy_gguf_writer_add(w, "b", FY_DTYPE_Q4_K, 1, ne_b, &err), FY_OK);
	cr_assert_eq(fy_gguf_writer_add(w, "a", FY_DTYPE_F32, 1, ne_b, &err), FY_EEXIST);
	cr_assert_eq(fy_gguf_writer_add(w, "c", FY_DTYPE_Q4_K, 1, ne_a, &err), FY_EINVAL,
		     "8 is not a multiple of 256");
	cr_assert_eq(fy_gguf_writer_add(w, "d", FY_DTYPE_BOOL, 1, ne_a, &err), FY_EUNSUPPORTED);
	cr_assert_eq(fy_gguf_writer_set_u32(w, "general.alignment", 48, &err), FY_EINVAL);
	cr_assert_eq(fy_gguf_writer_write(w, path, gguf_fill, NULL, &err), FY_OK, "%s", err.msg);
	fy_gguf_writer_free(w);
}

Test(gguf, writer_all_kv_types_and_alignment)
{
	struct fy_gguf *g = NULL;
	const struct fy_gguf_kv *kv;
	struct fy_err err;
	uint32_t align;

	t_tmpdir();
	for (align = 1; align <= 4096; align *= 4) {
		write_all_types(t_tmp("all.gguf"), align);
		cr_assert_eq(fy_gguf_open(&g, t_tmp("all.gguf"), &err), FY_OK, "align %u: %s",
			     align, err.msg);
		cr_assert_eq(fy_gguf_alignment(g), align);
		cr_assert_eq(fy_gguf_data_offset(g) % align, 0);
		cr_assert_eq(fy_gguf_tensor_at(g, 1)->offset % align, 0);
		cr_assert_eq(fy_gguf_file_size(g) % align == 0 ? 1 : (align <= 1), 1,
			     "last tensor padded (align %u)", align);
		cr_assert_eq(((const uint8_t *)fy_gguf_tensor_at(g, 1)->data)[0], 0x11);
		kv = fy_gguf_find_kv(g, "test.i8");
		cr_assert(kv && kv->v.i == -5);
		kv = fy_gguf_find_kv(g, "test.u64");
		cr_assert(kv && kv->v.u == (uint64_t)-5);
		kv = fy_gguf_find_kv(g, "test.f32");
		cr_assert(kv && kv->v.f == 0.25);
		kv = fy_gguf_find_kv(g, "test.bool");
		cr_assert(kv && kv->v.b);
		kv = fy_gguf_find_kv(g, "test.string");
		cr_assert(kv && kv->v.s.len == 8, "replaced in place");
		cr_assert_eq(fy_gguf_kv_at(g, FY_GGUF_STRING)->key, kv->key, "kept its position");
		kv = fy_gguf_find_kv(g, "test.arr_i16");
		cr_assert(kv && kv->arr_count == 3 && fy_gguf_arr_at(kv, 2).i == -3);
		kv = fy_gguf_find_kv(g, "test.arr_str");
		cr_assert(kv && kv->arr_count == 2 && fy_gguf_arr_at(kv, 1).s.len == 0);
		fy_gguf_free(g);
	}
	t_tmpdir_remove();
}

static int gguf_copy_data_short(void *ctx, size_t i, struct fy_sink *sink, struct fy_err *err)
{
	(void)ctx;
	(void)i;
	return fy_sink_write(sink, "abcd", 4, err);
}

Test(gguf, short_data_callback_fails_and_leaves_nothing)
{
	struct fy_gguf_writer *w = NULL;
	struct fy_err err;
	int64_t ne[1] = { 64 };

	t_tmpdir();
	cr_assert_eq(fy_gguf_writer_new(&w, &err), FY_OK);
	cr_assert_eq(fy_gguf_writer_add(w, "x", FY_DTYPE_F32, 1, ne, &err), FY_OK);
	cr_assert_eq(fy_gguf_writer_write(w, t_tmp("x.gguf"), gguf_copy_data_short, NULL, &err),
		     FY_EINVAL);
	cr_assert(strstr(err.msg, "too few") != NULL, "%s", err.msg);
	cr_assert_eq(t_dir_entries(t_tmp("")), 0, "no file, no temp file");
	fy_gguf_writer_free(w);
	t_tmpdir_remove();
}

/* ------------------------------------------------------------------------------------------ */
/* safetensors                                                                                */

static int st_copy_data(void *ctx, size_t i, struct fy_sink *sink, struct fy_err *err)
{
	const struct fy_st_tensor *t = fy_st_at(ctx, i);

	return fy_sink_write(sink, t->data, (size_t)(t->end - t->begin), err);
}

static void st_rewrite(const char *path, const char *out)
{
	struct fy_st_writer *w = NULL;
	struct fy_st_file *f = NULL;
	struct fy_err err;
	const char *k, *v;
	size_t i;

	cr_assert_eq(fy_st_open(&f, path, &err), FY_OK, "%s", err.msg);
	cr_assert_eq(fy_st_writer_new(&w, &err), FY_OK);
	for (i = 0; i < fy_st_meta_count(f); i++) {
		fy_st_meta_at(f, i, &k, &v);
		cr_assert_eq(fy_st_writer_meta(w, k, v, &err), FY_OK);
	}
	for (i = 0; i < fy_st_count(f); i++) {
		const struct fy_st_tensor *t = fy_st_at(f, i);

		cr_assert_eq(fy_st_writer_add(w, t->name, t->dtype, t->n_dims, t->shape, &err),
			     FY_OK, "%s", err.msg);
	}
	cr_assert_eq(fy_st_writer_write(w, out, st_copy_data, f, &err), FY_OK, "%s", err.msg);
	fy_st_writer_free(w);
	fy_st_free(f);
}

Test(safetensors, fixtures_open)
{
	struct fy_st_file *f = NULL;
	const struct fy_st_tensor *t;
	struct fy_err err;
	const char *k, *v;
	size_t i;

	for (i = 0; i < COUNT(st_fixtures); i++) {
		cr_assert_eq(fy_st_open(&f, t_data(st_fixtures[i]), &err), FY_OK, "%s", err.msg);
		cr_assert_gt(fy_st_count(f), 0, "%s", st_fixtures[i]);
		fy_st_free(f);
	}
	cr_assert_eq(fy_st_open(&f, t_data(st_fixtures[0]), &err), FY_OK);
	t = fy_st_find(f, "model.embed_tokens.weight");
	cr_assert(t && t->dtype == FY_DTYPE_F32 && t->n_dims == 2 && t->shape[0] == 512 &&
		  t->shape[1] == 64);
	cr_assert_eq(fy_st_meta_count(f), 1);
	fy_st_meta_at(f, 0, &k, &v);
	cr_assert(strcmp(k, "format") == 0 && strcmp(v, "pt") == 0);
	fy_st_free(f);
}

Test(safetensors, round_trip_is_byte_identical)
{
	char out[64];
	size_t i;

	t_tmpdir();
	for (i = 0; i < COUNT(st_fixtures); i++) {
		snprintf(out, sizeof(out), "rt%zu.safetensors", i);
		st_rewrite(t_data(st_fixtures[i]), t_tmp(out));
		assert_same_file(t_data(st_fixtures[i]), t_tmp(out));
	}
	t_tmpdir_remove();
}

Test(safetensors, writer_layout)
{
	struct fy_st_writer *w = NULL;
	struct fy_st_file *f = NULL;
	struct fy_err err;
	int64_t s2[2] = { 2, 3 };
	int64_t s1[1] = { 5 };

	t_tmpdir();
	cr_assert_eq(fy_st_writer_new(&w, &err), FY_OK);
	cr_assert_eq(fy_st_writer_add(w, "z.f16", FY_DTYPE_F16, 1, s1, &err), FY_OK);
	cr_assert_eq(fy_st_writer_add(w, "b.f32", FY_DTYPE_F32, 2, s2, &err), FY_OK);
	cr_assert_eq(fy_st_writer_add(w, "a.u8", FY_DTYPE_U8, 1, s1, &err), FY_OK);
	cr_assert_eq(fy_st_writer_add(w, "scalar", FY_DTYPE_BF16, 0, NULL, &err), FY_OK);
	cr_assert_eq(fy_st_writer_add(w, "a.u8", FY_DTYPE_U8, 1, s1, &err), FY_EEXIST);
	cr_assert_eq(fy_st_writer_add(w, "q", FY_DTYPE_Q4_0, 1, s1, &err), FY_EUNSUPPORTED);
	cr_assert_eq(fy_st_writer_meta(w, "k", "v", &err), FY_OK);
	cr_assert_eq(fy_st_writer_write(w, t_tmp("l.safetensors"), gguf_fill, NULL, &err), FY_OK,
		     "%s", err.msg);
	fy_st_writer_free(w);
	cr_assert_eq(fy_st_open(&f, t_tmp("l.safetensors"), &err), FY_OK, "%s", err.msg);
	cr_assert_eq(fy_st_header_size(f) % 8, 0, "header padded to 8");
	cr_assert_str_eq(fy_st_at(f, 0)->name, "b.f32", "F32 first");
	cr_assert_str_eq(fy_st_at(f, 1)->name, "scalar", "then BF16");
	cr_assert_str_eq(fy_st_at(f, 2)->name, "z.f16", "then F16");
	cr_assert_str_eq(fy_st_at(f, 3)->name, "a.u8", "then U8");
	cr_assert_eq(fy_st_at(f, 1)->n_elems, 1, "a scalar has one element");
	cr_assert_eq(((const uint8_t *)fy_st_find(f, "a.u8")->data)[0], 0x12, "callback index");
	fy_st_free(f);
	t_tmpdir_remove();
}

/* ------------------------------------------------------------------------------------------ */
/* HF checkpoints                                                                             */

Test(hfmodel, sharded_checkpoints)
{
	struct fy_st_model *m = NULL;
	struct fy_hf_config cfg;
	struct fy_err err;
	const struct fy_st_tensor *t;
	size_t shard = 9;

	cr_assert_eq(fy_st_model_open(&m, t_data("models/deepseek-v3-tiny"), &err), FY_OK, "%s",
		     err.msg);
	cr_assert_eq(fy_st_model_shards(m), 2);
	cr_assert_gt(fy_st_model_declared_size(m), 0);
	cr_assert_str_eq(fy_st_model_shard_name(m, 0), "model-00001-of-000002.safetensors",
			 "shards in name order");
	t = fy_st_model_find(m, "model.layers.1.self_attn.o_proj.weight", &shard);
	cr_assert(t && t->dtype == FY_DTYPE_F8_E4M3 && shard == 0);
	t = fy_st_model_find(m, "model.layers.2.self_attn.o_proj.weight", &shard);
	cr_assert(t && t->dtype == FY_DTYPE_F8_E4M3 && shard == 1);
	cr_assert_null(fy_st_model_find(m, "model.layers.9.self_attn.o_proj.weight", NULL));
	fy_st_model_free(m);
	cr_assert_eq(fy_st_model_open(&m, t_data("models/qwen3-tiny"), &err), FY_OK, "%s", err.msg);
	cr_assert_eq(fy_st_model_shards(m), 1);
	cr_assert_eq(fy_st_model_declared_size(m), -1);
	fy_st_model_free(m);
	cr_assert_eq(fy_hf_config_load(&cfg, t_data("models/qwen3-moe-tiny/config.json"), &err),
		     FY_OK, "%s", err.msg);
	cr_assert_str_eq(cfg.architecture, "Qwen3MoeForCausalLM");
	cr_assert_eq(cfg.n_experts, 8);
	cr_assert_eq(cfg.n_experts_used, 2);
}

static void write_text(const char *path, const char *text)
{
	struct fy_err err;

	cr_assert_eq(fy_file_write_atomic(path, text, strlen(text), &err), FY_OK, "%s", err.msg);
}

Test(hfmodel, index_must_match_shards)
{
	struct fy_st_model *m = NULL;
	struct fy_err err;
	struct fy_buf b;
	static const struct {
		const char *index;
		const char *expect;
	} cases[] = {
		{ "{\"weight_map\":{\"a\":\"s1.safetensors\",\"x\":\"s1.safetensors\"}}",
		  "tensor 'x' is not in shard" },
		{ "{\"weight_map\":{\"a\":\"s1.safetensors\"}}", "is not in the weight map" },
		{ "{\"weight_map\":{\"a\":\"../s1.safetensors\"}}", "not a plain file name" },
		{ "{\"weight_map\":{\"a\":\"s1.safetensors\",\"b\":\"s2.safetensors\"}}",
		  "is in more than one shard" },
		{ "{\"weight_map\":{\"a\":\"s1.safetensors\",\"b\":\"missing.safetensors\"}}",
		  "cannot open" },
		{ "{\"metadata\":{}}", "no weight_map" },
	};
	static const char shard[] =
		"{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
		"\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}";
	size_t i;

	t_tmpdir();
	fy_buf_init(&b);
	fy_buf_append_u64le(&b, sizeof(shard) - 1, &err);
	fy_buf_append(&b, shard, sizeof(shard) - 1, &err);
	fy_buf_append(&b, "xy", 2, &err);
	cr_assert_eq(fy_file_write_atomic(t_tmp("s1.safetensors"), b.data, b.len, &err), FY_OK);
	cr_assert_eq(fy_file_write_atomic(t_tmp("s2.safetensors"), b.data, b.len, &err), FY_OK);
	fy_buf_release(&b);
	for (i = 0; i < COUNT(cases); i++) {
		write_text(t_tmp("model.safetensors.index.json"), cases[i].index);
		cr_assert_neq(fy_st_model_open(&m, t_tmp(""), &err), FY_OK, "accepted %s",
			      cases[i].index);
		cr_assert(strstr(err.msg, cases[i].expect) != NULL, "%s: %s", cases[i].index,
			  err.msg);
	}
	write_text(t_tmp("model.safetensors.index.json"),
		   "{\"metadata\":{\"total_size\":2},\"weight_map\":{\"a\":\"s1.safetensors\","
		   "\"b\":\"s1.safetensors\"}}");
	cr_assert_eq(fy_st_model_open(&m, t_tmp(""), &err), FY_OK, "%s", err.msg);
	cr_assert_eq(fy_st_model_declared_size(m), 2);
	fy_st_model_free(m);
	t_tmpdir_remove();
}

/* ------------------------------------------------------------------------------------------ */
/* The malformed corpus: every case rejected with a message naming the input                  */

struct corpus_stats {
	int valid;
	int rejected;
};

static void check_case(void *ctx, const char *name, enum fy_format fmt, const uint8_t *data,
		       size_t len, const char *expect)
{
	struct corpus_stats *s = ctx;
	struct fy_err err;
	uint8_t *copy = malloc(len ? len : 1);
	int rc;

	(void)fmt;
	memcpy(copy, data, len); /* exact-size heap copy: ASan catches any read past the end */
	if (strncmp(name, "gguf-", 5) == 0) {
		struct fy_gguf *g = NULL;

		rc = fy_gguf_parse(&g, copy, len, name, &err);
		fy_gguf_free(g);
	} else {
		struct fy_st_file *f = NULL;

		rc = fy_st_parse(&f, copy, len, name, &err);
		fy_st_free(f);
	}
	free(copy);
	if (expect == NULL) {
		cr_assert_eq(rc, FY_OK, "%s: valid image rejected: %s", name, err.msg);
		s->valid++;
		return;
	}
	cr_assert_neq(rc, FY_OK, "%s: accepted", name);
	cr_assert(strncmp(err.msg, name, strlen(name)) == 0, "%s: message does not name it: %s",
		  name, err.msg);
	cr_assert(strstr(err.msg, expect) != NULL, "%s: expected '%s' in: %s", name, expect,
		  err.msg);
	cr_assert(strchr(err.msg, '\n') == NULL, "%s: one line", name);
	s->rejected++;
}

Test(corpus, every_malformed_image_is_rejected)
{
	struct corpus_stats s = { 0, 0 };

	corpus_generate(check_case, &s);
	cr_assert_geq(s.valid, 4);
	cr_assert_gt(s.rejected, 300, "corpus size %d", s.rejected);
}
