/*
 * mkgguf OUTDIR [SOURCE.gguf]: writes GGUF files with ferry's writer for the interoperability
 * tests: synthetic files holding every KV type (scalars and arrays of each element type,
 * multi-byte UTF-8 strings) and tensors of many types and ranks, at alignments 1, 32 and 64;
 * and, given SOURCE, a copy of it rewritten through the writer.
 */
#include "convert/convert.h"

#include <stdio.h>
#include <string.h>

static int fill(void *ctx, size_t i, struct fy_sink *sink, struct fy_err *err)
{
	uint8_t b = (uint8_t)(i * 31 + 7);
	int rc = FY_OK;

	(void)ctx;
	while (sink->left > 0 && rc == FY_OK)
		rc = fy_sink_write(sink, &b, 1, err);
	return rc;
}

static int copy(void *ctx, size_t i, struct fy_sink *sink, struct fy_err *err)
{
	const struct fy_gguf_tensor *t = fy_gguf_tensor_at(ctx, i);

	return fy_sink_write(sink, t->data, (size_t)t->nbytes, err);
}

static int scalars(struct fy_gguf_writer *w, struct fy_err *err)
{
	static const struct fy_gguf_value vals[] = {
		{.type = FY_GGUF_U8, .u = 200},		{.type = FY_GGUF_I8, .i = -100},
		{.type = FY_GGUF_U16, .u = 60000},	{.type = FY_GGUF_I16, .i = -30000},
		{.type = FY_GGUF_U32, .u = 4000000000u}, {.type = FY_GGUF_I32, .i = -2000000000},
		{.type = FY_GGUF_F32, .f = 0.15625},	{.type = FY_GGUF_BOOL, .b = true},
		{.type = FY_GGUF_U64, .u = 1ull << 60},	{.type = FY_GGUF_I64, .i = -(1ll << 60)},
		{.type = FY_GGUF_F64, .f = -2.5e-300},
	};
	struct fy_gguf_value s = {.type = FY_GGUF_STRING, .s = {"Grüße, 世界 🚀", 0}};
	char key[64];
	size_t i;
	int rc = FY_OK;

	for (i = 0; rc == FY_OK && i < sizeof(vals) / sizeof(vals[0]); i++) {
		snprintf(key, sizeof(key), "test.scalar.%s", fy_gguf_type_name(vals[i].type));
		rc = fy_gguf_writer_set(w, key, &vals[i], err);
	}
	s.s.len = strlen(s.s.ptr);
	if (rc == FY_OK)
		rc = fy_gguf_writer_set(w, "test.scalar.string", &s, err);
	return rc;
}

static int arrays(struct fy_gguf_writer *w, struct fy_err *err)
{
	static const uint8_t u8s[] = {0, 1, 255};
	static const int32_t i32s[] = {-1, 0, 2147483647};
	static const float f32s[] = {1.5f, -0.0f, 3.25e-5f};
	static const uint64_t u64s[] = {0, 1ull << 63};
	static const int64_t i64s[] = {-5, 1ll << 62};
	static const double f64s[] = {1e100, -1e-100};
	static const uint8_t bools[] = {1, 0, 1};
	static const struct fy_str strs[] = {{"a b", 3}, {"", 0}, {"Ġhello", 7}, {"<0x0A>", 6}};
	int rc;

	rc = fy_gguf_writer_set_array(w, "test.array.u8", FY_GGUF_U8, 3, u8s, err);
	if (rc == FY_OK)
		rc = fy_gguf_writer_set_array(w, "test.array.i32", FY_GGUF_I32, 3, i32s, err);
	if (rc == FY_OK)
		rc = fy_gguf_writer_set_array(w, "test.array.f32", FY_GGUF_F32, 3, f32s, err);
	if (rc == FY_OK)
		rc = fy_gguf_writer_set_array(w, "test.array.u64", FY_GGUF_U64, 2, u64s, err);
	if (rc == FY_OK)
		rc = fy_gguf_writer_set_array(w, "test.array.i64", FY_GGUF_I64, 2, i64s, err);
	if (rc == FY_OK)
		rc = fy_gguf_writer_set_array(w, "test.array.f64", FY_GGUF_F64, 2, f64s, err);
	if (rc == FY_OK)
		rc = fy_gguf_writer_set_array(w, "test.array.bool", FY_GGUF_BOOL, 3, bools, err);
	if (rc == FY_OK)
		rc = fy_gguf_writer_set_str_array(w, "test.array.string", 4, strs, err);
	if (rc == FY_OK)
		rc = fy_gguf_writer_set_array(w, "test.array.empty", FY_GGUF_I16, 0, NULL, err);
	return rc;
}

static int tensors(struct fy_gguf_writer *w, struct fy_err *err)
{
	static const struct {
		const char *name;
		enum fy_dtype type;
		int n_dims;
		int64_t ne[4];
	} ts[] = {
		{"token_embd.weight", FY_DTYPE_F32, 2, {16, 10}},
		{"blk.0.attn_q.weight", FY_DTYPE_F16, 2, {64, 3}},
		{"blk.0.attn_k.weight", FY_DTYPE_BF16, 2, {32, 5}},
		{"blk.0.attn_v.weight", FY_DTYPE_Q8_0, 2, {64, 2}},
		{"blk.0.ffn_up.weight", FY_DTYPE_Q4_K, 2, {256, 3}},
		{"blk.0.ffn_down.weight", FY_DTYPE_Q6_K, 3, {512, 2, 2}},
		{"blk.0.ffn_gate_exps.weight", FY_DTYPE_Q5_K, 4, {256, 2, 2, 2}},
		{"blk.0.iq4", FY_DTYPE_IQ4_NL, 1, {96}},
		{"blk.0.q4_0", FY_DTYPE_Q4_0, 1, {32}},
		{"blk.0.i8", FY_DTYPE_I8, 1, {7}},
		{"blk.0.i32", FY_DTYPE_I32, 2, {3, 3}},
		{"blk.0.f64", FY_DTYPE_F64, 1, {5}},
		{"output_norm.weight", FY_DTYPE_F32, 1, {16}},
	};
	size_t i;
	int rc = FY_OK;

	for (i = 0; rc == FY_OK && i < sizeof(ts) / sizeof(ts[0]); i++)
		rc = fy_gguf_writer_add(w, ts[i].name, ts[i].type, ts[i].n_dims, ts[i].ne, err);
	return rc;
}

static int synthetic(const char *dir, uint32_t alignment, struct fy_err *err)
{
	struct fy_gguf_writer *w = NULL;
	char path[512];
	int rc;

	snprintf(path, sizeof(path), "%s/synthetic-align%u.gguf", dir, alignment);
	rc = fy_gguf_writer_new(&w, err);
	if (rc == FY_OK)
		rc = fy_gguf_writer_set_str(w, "general.architecture", "llama", err);
	if (rc == FY_OK && alignment != 32)
		rc = fy_gguf_writer_set_u32(w, "general.alignment", alignment, err);
	if (rc == FY_OK)
		rc = scalars(w, err);
	if (rc == FY_OK)
		rc = arrays(w, err);
	if (rc == FY_OK)
		rc = tensors(w, err);
	if (rc == FY_OK)
		rc = fy_gguf_writer_write(w, path, fill, NULL, err);
	fy_gguf_writer_free(w);
	return rc;
}

static int rewrite(const char *dir, const char *src, struct fy_err *err)
{
	struct fy_gguf_writer *w = NULL;
	struct fy_gguf *g = NULL;
	char path[512];
	size_t i;
	int rc;

	snprintf(path, sizeof(path), "%s/rewritten.gguf", dir);
	rc = fy_gguf_open(&g, src, err);
	if (rc == FY_OK)
		rc = fy_gguf_writer_new(&w, err);
	for (i = 0; rc == FY_OK && i < fy_gguf_kv_count(g); i++)
		rc = fy_gguf_writer_copy_kv(w, fy_gguf_kv_at(g, i), err);
	for (i = 0; rc == FY_OK && i < fy_gguf_tensor_count(g); i++) {
		const struct fy_gguf_tensor *t = fy_gguf_tensor_at(g, i);

		rc = fy_gguf_writer_add(w, t->name, t->type, t->n_dims, t->ne, err);
	}
	if (rc == FY_OK)
		rc = fy_gguf_writer_write(w, path, copy, g, err);
	fy_gguf_writer_free(w);
	fy_gguf_free(g);
	return rc;
}

int main(int argc, char **argv)
{
	static const uint32_t aligns[] = {1, 32, 64};
	struct fy_err err;
	size_t i;
	int rc = FY_OK;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: mkgguf OUTDIR [SOURCE.gguf]\n");
		return 2;
	}
	for (i = 0; rc == FY_OK && i < 3; i++)
		rc = synthetic(argv[1], aligns[i], &err);
	if (rc == FY_OK && argc == 3)
		rc = rewrite(argv[1], argv[2], &err);
	if (rc != FY_OK) {
		fprintf(stderr, "mkgguf: %s\n", err.msg);
		return 1;
	}
	return 0;
}
