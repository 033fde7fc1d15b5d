/* The malformed-file corpus (see corpus.h). Images are built byte by byte, independently of
 * ferry's writers, then patched at recorded field positions. */
#include "tests/corpus/corpus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* GGUF                                                                                       */

/* Field positions of the base GGUF image. */
struct gpos {
	size_t version, n_tensors, n_kv;
	size_t arch_len; /* length of general.architecture's string value */
	size_t align_type, align_val;
	size_t arr_type, arr_count; /* tokenizer.ggml.tokens */
	size_t first_tok_len;
	size_t bool_type, bool_val; /* test.flag_b */
	size_t key_b;		    /* the 'b' of "test.flag_b" (duplicate of "test.flag_a") */
	size_t t_ndims[2], t_ne0[2], t_ne1[2], t_type[2], t_off[2];
	size_t name_b; /* the 'b' of tensor "t.b" */
	size_t header_end;
};

static void put_u32(struct fy_buf *b, uint32_t v)
{
	fy_buf_append_u32le(b, v, NULL);
}

static void put_u64(struct fy_buf *b, uint64_t v)
{
	fy_buf_append_u64le(b, v, NULL);
}

static void put_str(struct fy_buf *b, const char *s)
{
	put_u64(b, strlen(s));
	fy_buf_append(b, s, strlen(s), NULL);
}

static void put_tensor(struct fy_buf *b, struct gpos *p, int i, const char *name, int n_dims,
		       int64_t ne0, int64_t ne1, uint32_t type, uint64_t off)
{
	put_str(b, name);
	p->t_ndims[i] = b->len;
	put_u32(b, (uint32_t)n_dims);
	p->t_ne0[i] = b->len;
	put_u64(b, (uint64_t)ne0);
	p->t_ne1[i] = b->len;
	if (n_dims > 1)
		put_u64(b, (uint64_t)ne1);
	p->t_type[i] = b->len;
	put_u32(b, type);
	p->t_off[i] = b->len;
	put_u64(b, off);
}

/*
 * 6 KVs (string, u32 alignment, string array, u8, bool, f32), two tensors:
 * t.a F32 ne [8, 2] (64 bytes, offset 0) and t.b Q8_0 ne [32] (34 bytes, offset 64, padded).
 */
static void gguf_base(struct fy_buf *b, struct gpos *p, const char *name_a)
{
	static const char *const toks[] = { "<unk>", "<s>", "</s>" };
	int i;

	fy_buf_append(b, "GGUF", 4, NULL);
	p->version = b->len;
	put_u32(b, 3);
	p->n_tensors = b->len;
	put_u64(b, 2);
	p->n_kv = b->len;
	put_u64(b, 6);
	put_str(b, "general.architecture");
	put_u32(b, FY_GGUF_STRING);
	p->arch_len = b->len;
	put_str(b, "llama");
	put_str(b, "general.alignment");
	p->align_type = b->len;
	put_u32(b, FY_GGUF_U32);
	p->align_val = b->len;
	put_u32(b, 32);
	put_str(b, "tokenizer.ggml.tokens");
	put_u32(b, FY_GGUF_ARRAY);
	p->arr_type = b->len;
	put_u32(b, FY_GGUF_STRING);
	p->arr_count = b->len;
	put_u64(b, 3);
	p->first_tok_len = b->len;
	for (i = 0; i < 3; i++)
		put_str(b, toks[i]);
	put_str(b, "test.flag_a");
	put_u32(b, FY_GGUF_U8);
	fy_buf_append(b, "\x07", 1, NULL);
	p->key_b = b->len + 8 + 10;
	put_str(b, "test.flag_b");
	p->bool_type = b->len;
	put_u32(b, FY_GGUF_BOOL);
	p->bool_val = b->len;
	fy_buf_append(b, "\x01", 1, NULL);
	put_str(b, "test.eps");
	put_u32(b, FY_GGUF_F32);
	put_u32(b, 0x3727c5ac); /* 1e-5f */
	put_tensor(b, p, 0, name_a, 2, 8, 2, FY_DTYPE_F32, 0);
	p->name_b = b->len + 8 + 2;
	put_tensor(b, p, 1, "t.b", 1, 32, 1, FY_DTYPE_Q8_0, 64);
	p->header_end = b->len;
	while (b->len % 32 != 0)
		fy_buf_append(b, "\0", 1, NULL);
	for (i = 0; i < 64; i++) /* t.a: 16 floats */
		fy_buf_append(b, (uint8_t[]){ (uint8_t)i }, 1, NULL);
	fy_buf_append_zeros(b, 34, NULL); /* t.b: one Q8_0 block */
	fy_buf_append_zeros(b, 30, NULL); /* padding of the last tensor */
}

struct gcase {
	const char *name;
	size_t field; /* offset into struct gpos of the field to patch */
	int width;    /* 1, 4 or 8 bytes */
	uint64_t value;
	const char *expect;
};

#define GF(f) offsetof(struct gpos, f)

static const struct gcase gguf_cases[] = {
	{ "version1", GF(version), 4, 1, "version 1 is not supported" },
	{ "version4", GF(version), 4, 4, "version 4 is not supported" },
	{ "bigendian", GF(version), 4, 0x03000000, "big-endian" },
	{ "huge-tensor-count", GF(n_tensors), 8, 1ull << 62, "tensor count" },
	{ "negative-tensor-count", GF(n_tensors), 8, (uint64_t)-1, "tensor count" },
	{ "huge-kv-count", GF(n_kv), 8, 1ull << 62, "metadata count" },
	{ "more-kvs-than-present", GF(n_kv), 8, 7, "" },
	{ "string-past-end", GF(arch_len), 8, 1ull << 40, "runs past end of file" },
	{ "string-len-overflow", GF(arch_len), 8, UINT64_MAX, "runs past end of file" },
	{ "alignment-zero", GF(align_val), 4, 0, "not a power of two" },
	{ "alignment-three", GF(align_val), 4, 3, "not a power of two" },
	{ "alignment-wrong-type", GF(align_type), 4, FY_GGUF_I32, "not u32" },
	{ "nested-array", GF(arr_type), 4, FY_GGUF_ARRAY, "nested arrays" },
	{ "array-bad-type", GF(arr_type), 4, 13, "unknown array element type" },
	{ "array-huge-count", GF(arr_count), 8, 1ull << 61, "larger than the file" },
	{ "array-count-past-end", GF(arr_count), 8, 40, "runs past end of file" },
	{ "array-string-past-end", GF(first_tok_len), 8, 1ull << 32, "runs past end of file" },
	{ "kv-bad-type", GF(bool_type), 4, 13, "unknown value type" },
	{ "kv-bool-two", GF(bool_val), 1, 2, "not 0 or 1" },
	{ "duplicate-key", GF(key_b), 1, 'a', "duplicate key" },
	{ "duplicate-tensor", GF(name_b), 1, 'a', "duplicate tensor name" },
	{ "zero-dims", GF(t_ndims[0]), 4, 0, "dimensions (1 to 4" },
	{ "five-dims", GF(t_ndims[0]), 4, 5, "dimensions (1 to 4" },
	{ "negative-dim", GF(t_ne1[0]), 8, (uint64_t)-2, "negative" },
	{ "huge-dims", GF(t_ne0[0]), 8, 1ull << 40, "ends past end" },
	{ "element-overflow", GF(t_ne1[0]), 8, 1ull << 62, "overflows" },
	{ "unknown-tensor-type", GF(t_type[0]), 4, 99, "unknown tensor type" },
	{ "removed-tensor-type", GF(t_type[0]), 4, 4, "unknown tensor type" },
	{ "row-not-block-multiple", GF(t_ne0[1]), 8, 33, "not a multiple of the Q8_0 block" },
	{ "misaligned-offset", GF(t_off[1]), 4, 65, "expected 64" },
	{ "overlapping-offset", GF(t_off[1]), 4, 32, "expected 64" },
	{ "first-offset-nonzero", GF(t_off[0]), 4, 32, "expected 0" },
	{ "offset-past-end", GF(t_off[1]), 8, 1ull << 40, "expected 64" },
};

static void patch(uint8_t *p, int width, uint64_t v)
{
	int i;

	for (i = 0; i < width; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void gguf_truncations(corpus_fn fn, void *ctx, const struct fy_buf *b, const struct gpos *p)
{
	char name[64];
	size_t n;

	/* every header byte, then a few inside the data */
	for (n = 0; n < p->header_end; n++) {
		snprintf(name, sizeof(name), "gguf-trunc-%04zu", n);
		fn(ctx, name, n < 4 ? FY_FORMAT_UNKNOWN : FY_FORMAT_GGUF, b->data, n, "");
	}
	for (n = p->header_end + 40; n < b->len - 30; n += 17) {
		snprintf(name, sizeof(name), "gguf-trunc-%04zu", n);
		fn(ctx, name, FY_FORMAT_GGUF, b->data, n, "past end of file");
	}
}

static void gguf_cases_gen(corpus_fn fn, void *ctx)
{
	struct fy_buf b, c;
	struct gpos p;
	char name[96];
	size_t i;

	fy_buf_init(&b);
	fy_buf_init(&c);
	gguf_base(&b, &p, "t.a");
	fn(ctx, "gguf-valid", FY_FORMAT_GGUF, b.data, b.len, NULL);
	fn(ctx, "gguf-valid-unpadded-end", FY_FORMAT_GGUF, b.data, b.len - 30, NULL);
	for (i = 0; i < sizeof(gguf_cases) / sizeof(gguf_cases[0]); i++) {
		const struct gcase *gc = &gguf_cases[i];

		c.len = 0;
		fy_buf_append(&c, b.data, b.len, NULL);
		patch(c.data + *(const size_t *)((const char *)&p + gc->field), gc->width,
		      gc->value);
		snprintf(name, sizeof(name), "gguf-%s", gc->name);
		fn(ctx, name, FY_FORMAT_GGUF, c.data, c.len, gc->expect);
	}
	c.len = 0;
	fy_buf_append(&c, b.data, b.len, NULL);
	fy_buf_append_zeros(&c, 64, NULL);
	/* llama.cpp loads a file with bytes after its last tensor: so does ferry (verify warns) */
	fn(ctx, "gguf-valid-trailing-bytes", FY_FORMAT_GGUF, c.data, c.len, NULL);
	c.len = 0;
	fy_buf_append(&c, b.data, b.len, NULL);
	memcpy(c.data, "GGUG", 4);
	fn(ctx, "gguf-bad-magic", FY_FORMAT_UNKNOWN, c.data, c.len, "bad magic");
	gguf_truncations(fn, ctx, &b, &p);
	fy_buf_release(&b);
	fy_buf_init(&b);
	gguf_base(&b, &p, "t.a234567890123456789012345678901234567890123456789012345678901234");
	fn(ctx, "gguf-long-name", FY_FORMAT_GGUF, b.data, b.len, "tensor name of 66 bytes");
	fy_buf_release(&b);
	fy_buf_release(&c);
}

/* ------------------------------------------------------------------------------------------ */
/* safetensors                                                                                */

static void st_image(struct fy_buf *b, const char *header, size_t data_len)
{
	size_t i;

	b->len = 0;
	fy_buf_append_u64le(b, strlen(header), NULL);
	fy_buf_append(b, header, strlen(header), NULL);
	for (i = 0; i < data_len; i++)
		fy_buf_append(b, (uint8_t[]){ (uint8_t)(i * 7) }, 1, NULL);
}

#define ST_A "\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}"
#define ST_B "\"b\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[16,24]}"
#define ST_META "\"__metadata__\":{\"format\":\"pt\"}"

struct scase {
	const char *name;
	const char *header;
	size_t data_len;
	const char *expect;
};

static const struct scase st_cases[] = {
	{ "not-object", "[1,2]", 0, "not an object" },
	{ "invalid-json", "{\"a\":", 0, "invalid JSON" },
	{ "trailing-json", "{} {}", 0, "invalid JSON" },
	{ "duplicate-key", "{" ST_A "," ST_A "," ST_B "}", 24, "duplicate" },
	{ "unknown-dtype", "{\"a\":{\"dtype\":\"F17\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
	  "unknown dtype 'F17'" },
	{ "unsupported-dtype", "{\"a\":{\"dtype\":\"F4\",\"shape\":[2],\"data_offsets\":[0,1]}}", 1,
	  "not supported" },
	{ "dtype-not-string", "{\"a\":{\"dtype\":5,\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
	  "dtype is not a string" },
	{ "negative-dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8,
	  "non-negative" },
	{ "float-dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8,
	  "non-negative" },
	{ "shape-not-array", "{\"a\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", 8,
	  "shape is not an array" },
	{ "overflowing-dims",
	  "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
	  "\"data_offsets\":[0,8]}}",
	  8, "overflows" },
	{ "byte-size-overflow",
	  "{\"a\":{\"dtype\":\"F64\",\"shape\":[4611686018427387904],\"data_offsets\":[0,8]}}", 8,
	  "overflows" },
	{ "nine-dims",
	  "{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1,
	  "dimensions" },
	{ "size-mismatch", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
	  "needs 12" },
	{ "offsets-reversed", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", 8,
	  "before begin" },
	{ "offsets-single", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8,
	  "pair" },
	{ "offsets-negative", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}",
	  8, "pair" },
	{ "gap", "{" ST_A ",\"b\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[20,28]}}", 28,
	  "gap of 4 bytes" },
	{ "overlap", "{" ST_A ",\"b\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[8,16]}}",
	  16, "overlaps" },
	{ "first-not-zero", "{\"b\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[8,16]}}",
	  16, "gap of 8 bytes" },
	{ "trailing-bytes", "{" ST_META "," ST_A "," ST_B "}", 32, "8 trailing bytes" },
	{ "past-end", "{" ST_META "," ST_A "," ST_B "}", 20, "ends past end of file" },
	{ "metadata-not-string", "{\"__metadata__\":{\"format\":1}," ST_A "}", 16, "not a string" },
	{ "metadata-not-object", "{\"__metadata__\":[]," ST_A "}", 16, "not a JSON object" },
	{ "unknown-field",
	  "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"extra\":1}}", 8,
	  "unknown field 'extra'" },
	{ "empty-name", "{\"\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
	  "empty name" },
	{ "nul-in-name", "{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
	  8, "invalid JSON" },
	{ "bad-utf8", "{\"\xff\xfe\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
	  "invalid JSON" },
	{ "tensor-not-object", "{\"a\":[1]}", 0, "not a JSON object" },
	{ "huge-offset",
	  "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[18446744073709551615,0]}}", 0,
	  "invalid JSON" },
};

static void st_deep(struct fy_buf *hdr, int depth)
{
	int i;

	hdr->len = 0;
	fy_buf_append(hdr, "{\"__metadata__\":", 16, NULL);
	for (i = 0; i < depth; i++)
		fy_buf_append(hdr, "[", 1, NULL);
	for (i = 0; i < depth; i++)
		fy_buf_append(hdr, "]", 1, NULL);
	fy_buf_append(hdr, "}", 2, NULL); /* includes the NUL */
}

static void st_special(corpus_fn fn, void *ctx, struct fy_buf *b)
{
	struct fy_buf hdr;
	uint8_t tiny[8] = { 0 };

	fy_buf_init(&hdr);
	st_deep(&hdr, 200);
	st_image(b, (const char *)hdr.data, 0);
	fn(ctx, "st-deep-nesting", FY_FORMAT_SAFETENSORS, b->data, b->len, "nested deeper");
	fy_buf_release(&hdr);
	st_image(b, "{" ST_META "," ST_A "," ST_B "}", 24);
	patch(b->data, 8, 100000001);
	fn(ctx, "st-huge-header-length", FY_FORMAT_SAFETENSORS, b->data, b->len,
	   "exceeds the limit");
	st_image(b, "{" ST_META "," ST_A "," ST_B "}", 24);
	patch(b->data, 8, b->len);
	fn(ctx, "st-header-past-end", FY_FORMAT_SAFETENSORS, b->data, b->len,
	   "runs past end of file");
	fn(ctx, "st-too-short", FY_FORMAT_UNKNOWN, tiny, 5, "too short");
}

static void st_cases_gen(corpus_fn fn, void *ctx)
{
	struct fy_buf b;
	char name[96];
	size_t i;

	fy_buf_init(&b);
	st_image(&b, "{" ST_META "," ST_A "," ST_B "}      ", 24);
	fn(ctx, "st-valid", FY_FORMAT_SAFETENSORS, b.data, b.len, NULL);
	for (i = 8; i + 1 < b.len; i++) {
		snprintf(name, sizeof(name), "st-trunc-%04zu", i);
		fn(ctx, name, i < 9 ? FY_FORMAT_UNKNOWN : FY_FORMAT_SAFETENSORS, b.data, i, "");
	}
	st_image(&b, "{}", 0);
	fn(ctx, "st-valid-empty", FY_FORMAT_SAFETENSORS, b.data, b.len, NULL);
	for (i = 0; i < sizeof(st_cases) / sizeof(st_cases[0]); i++) {
		st_image(&b, st_cases[i].header, st_cases[i].data_len);
		snprintf(name, sizeof(name), "st-%s", st_cases[i].name);
		fn(ctx, name,
		   st_cases[i].header[0] == '{' ? FY_FORMAT_SAFETENSORS : FY_FORMAT_UNKNOWN, b.data,
		   b.len, st_cases[i].expect);
	}
	st_special(fn, ctx, &b);
	fy_buf_release(&b);
}

void corpus_generate(corpus_fn fn, void *ctx)
{
	gguf_cases_gen(fn, ctx);
	st_cases_gen(fn, ctx);
}
