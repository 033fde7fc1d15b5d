/*
 * GGUF reader (versions 2 and 3, little-endian).
 *
 * "GGUF" | u32 version | i64 n_tensors | i64 n_kv | KVs | tensor infos | pad | data
 *
 * Every count is bounded by the bytes that remain before anything is allocated for it, every
 * size is computed with overflow checks, and the tensors must be packed in order, each padded to
 * general.alignment, exactly as llama.cpp requires. Arrays grow as elements are actually parsed,
 * so a hostile count cannot make the reader allocate more than the header's real size allows.
 */
#include "convert/convert_private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct fy_gguf {
	char *label;
	struct fy_map map;
	const uint8_t *data;
	uint64_t size;
	uint32_t version;
	uint32_t alignment;
	uint64_t header_size;
	uint64_t data_offset;
	struct fy_gguf_kv *kvs;
	size_t n_kv;
	size_t kv_cap;
	struct fy_gguf_tensor *tensors;
	size_t n_tensors;
	size_t tensor_cap;
	struct fy_index kv_index;
	struct fy_index tensor_index;
	uint64_t trailing;	 /* bytes after the last tensor (or the header): ignored */
	struct fy_gguf **shards; /* a split set: every shard, shards[0] == this handle */
	size_t n_shards;	 /* 0 for a single file */
};

/* Smallest encodings, used to bound counts by the bytes left. */
#define MIN_KV_BYTES 14u     /* key length 8, 1 byte of key, type 4, 1 byte of value */
#define MIN_TENSOR_BYTES 33u /* name length 8, 1 byte, n_dims 4, one ne 8, type 4, offset 8 */

const uint8_t fy_gguf_value_sizes[FY_GGUF_TYPE_COUNT] = {
	[FY_GGUF_U8] = 1,  [FY_GGUF_I8] = 1,  [FY_GGUF_U16] = 2, [FY_GGUF_I16] = 2,
	[FY_GGUF_U32] = 4, [FY_GGUF_I32] = 4, [FY_GGUF_F32] = 4, [FY_GGUF_BOOL] = 1,
	[FY_GGUF_U64] = 8, [FY_GGUF_I64] = 8, [FY_GGUF_F64] = 8,
};

const char *fy_gguf_type_name(enum fy_gguf_type t)
{
	static const char *const names[FY_GGUF_TYPE_COUNT] = {
		"u8",	"i8",	  "u16",   "i16", "u32", "i32", "f32",
		"bool", "string", "array", "u64", "i64", "f64",
	};

	if ((unsigned)t >= FY_GGUF_TYPE_COUNT)
		return "?";
	return names[t];
}

/* Decodes a fixed-size value at p (bounds already checked). */
static struct fy_gguf_value decode_fixed(enum fy_gguf_type t, const uint8_t *p)
{
	struct fy_gguf_value v;
	uint32_t u32;
	uint64_t u64;
	float f;
	double d;

	memset(&v, 0, sizeof(v));
	v.type = t;
	switch (t) {
	case FY_GGUF_U8:
		v.u = p[0];
		break;
	case FY_GGUF_I8:
		v.i = (int8_t)p[0]; /* NOLINT(bugprone-signed-char-misuse): an I8 value is signed */
		break;
	case FY_GGUF_U16:
		v.u = fy_le16(p);
		break;
	case FY_GGUF_I16:
		v.i = (int16_t)fy_le16(p);
		break;
	case FY_GGUF_U32:
		v.u = fy_le32(p);
		break;
	case FY_GGUF_I32:
		v.i = (int32_t)fy_le32(p);
		break;
	case FY_GGUF_F32:
		u32 = fy_le32(p);
		memcpy(&f, &u32, sizeof(f));
		v.f = f;
		break;
	case FY_GGUF_BOOL:
		v.b = p[0] != 0;
		break;
	case FY_GGUF_U64:
		v.u = fy_le64(p);
		break;
	case FY_GGUF_I64:
		v.i = (int64_t)fy_le64(p);
		break;
	case FY_GGUF_F64:
		u64 = fy_le64(p);
		memcpy(&d, &u64, sizeof(d));
		v.f = d;
		break;
	default:
		break;
	}
	return v;
}

static int truncated(struct fy_gguf *g, const char *what, struct fy_err *err)
{
	return fy_err_set(err, FY_EFORMAT, "%s: truncated: %s runs past end of file", g->label,
			  what);
}

/* Reads a GGUF string (u64 length, bytes) with its length bounded by what remains. */
static bool read_str(struct fy_cursor *c, struct fy_str *out)
{
	const uint8_t *p;
	uint64_t len;
	size_t save = c->pos;

	if (!fy_cur_u64(c, &len) || !fy_cur_take(c, len, &p)) {
		c->pos = save;
		return false;
	}
	out->ptr = (const char *)p;
	out->len = (size_t)len;
	return true;
}

/* Copies a key or tensor name into a NUL-terminated string; NUL bytes inside are refused. */
static int dup_name(struct fy_gguf *g, struct fy_str s, const char *what, char **out,
		    struct fy_err *err)
{
	char *p;

	if (s.len == 0)
		return fy_err_set(err, FY_EFORMAT, "%s: empty %s", g->label, what);
	if (memchr(s.ptr, '\0', s.len) != NULL)
		return fy_err_set(err, FY_EFORMAT, "%s: %s contains a NUL byte", g->label, what);
	p = malloc(s.len + 1);
	if (p == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	memcpy(p, s.ptr, s.len);
	p[s.len] = '\0';
	*out = p;
	return FY_OK;
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem, struct fy_err *err)
{
	size_t n = *cap ? *cap : 16;
	void *p;

	if (need <= *cap)
		return FY_OK;
	while (n < need)
		n *= 2;
	if (n > SIZE_MAX / elem)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	p = realloc(*arr, n * elem);
	if (p == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	memset((char *)p + *cap * elem, 0, (n - *cap) * elem);
	*arr = p;
	*cap = n;
	return FY_OK;
}

static int parse_string_array(struct fy_gguf *g, struct fy_cursor *c, struct fy_gguf_kv *kv,
			      struct fy_err *err)
{
	uint64_t *offs = NULL;
	size_t cap = 0;
	size_t start = c->pos;
	struct fy_str s;
	uint64_t i;
	int rc;

	if (kv->arr_count > fy_cur_left(c) / 8)
		return fy_err_set(err, FY_EFORMAT,
				  "%s: key '%s': array of %llu strings is larger than the file",
				  g->label, kv->key, (unsigned long long)kv->arr_count);
	for (i = 0; i < kv->arr_count; i++) {
		rc = grow((void **)&offs, &cap, (size_t)i + 1, sizeof(*offs), err);
		if (rc != FY_OK) {
			free(offs);
			return rc;
		}
		offs[i] = c->pos - start;
		if (!read_str(c, &s)) {
			free(offs);
			return fy_err_set(err, FY_EFORMAT,
					  "%s: key '%s': string %llu of the array runs past end "
					  "of file",
					  g->label, kv->key, (unsigned long long)i);
		}
	}
	kv->str_offs = offs;
	kv->raw = c->base + start;
	kv->raw_size = c->pos - start;
	return FY_OK;
}

static int check_bools(struct fy_gguf *g, const struct fy_gguf_kv *kv, const uint8_t *p, uint64_t n,
		       struct fy_err *err)
{
	uint64_t i;

	for (i = 0; i < n; i++) {
		if (p[i] > 1)
			return fy_err_set(err, FY_EFORMAT,
					  "%s: key '%s': bool value %u is not 0 or 1", g->label,
					  kv->key, p[i]);
	}
	return FY_OK;
}

static int parse_array(struct fy_gguf *g, struct fy_cursor *c, struct fy_gguf_kv *kv,
		       struct fy_err *err)
{
	uint32_t et;
	uint64_t bytes;
	const uint8_t *p = NULL;

	if (!fy_cur_u32(c, &et) || !fy_cur_u64(c, &kv->arr_count))
		return truncated(g, "an array header", err);
	if (et == FY_GGUF_ARRAY)
		return fy_err_set(err, FY_EFORMAT, "%s: key '%s': nested arrays are not allowed",
				  g->label, kv->key);
	if (et >= FY_GGUF_TYPE_COUNT)
		return fy_err_set(err, FY_EFORMAT, "%s: key '%s': unknown array element type %u",
				  g->label, kv->key, et);
	kv->arr_type = (enum fy_gguf_type)et;
	if (et == FY_GGUF_STRING)
		return parse_string_array(g, c, kv, err);
	if (kv->arr_count > fy_cur_left(c) / fy_gguf_value_sizes[et])
		return fy_err_set(err, FY_EFORMAT,
				  "%s: key '%s': array of %llu %s values is larger than the file",
				  g->label, kv->key, (unsigned long long)kv->arr_count,
				  fy_gguf_type_name(kv->arr_type));
	bytes = kv->arr_count * fy_gguf_value_sizes[et];
	if (!fy_cur_take(c, bytes, &p)) /* cannot fail: bounded above */
		return truncated(g, "an array", err);
	kv->raw = p;
	kv->raw_size = bytes;
	if (et == FY_GGUF_BOOL)
		return check_bools(g, kv, p, bytes, err);
	return FY_OK;
}

static int parse_value(struct fy_gguf *g, struct fy_cursor *c, struct fy_gguf_kv *kv,
		       struct fy_err *err)
{
	const uint8_t *p;
	size_t start = c->pos;

	if (kv->type == FY_GGUF_ARRAY)
		return parse_array(g, c, kv, err);
	kv->arr_count = 1;
	if (kv->type == FY_GGUF_STRING) {
		if (!read_str(c, &kv->v.s))
			return fy_err_set(err, FY_EFORMAT,
					  "%s: key '%s': string value runs past end of file",
					  g->label, kv->key);
		kv->v.type = FY_GGUF_STRING;
	} else {
		if (!fy_cur_take(c, fy_gguf_value_sizes[kv->type], &p))
			return fy_err_set(err, FY_EFORMAT,
					  "%s: key '%s': value runs past end of file", g->label,
					  kv->key);
		kv->v = decode_fixed(kv->type, p);
		if (kv->type == FY_GGUF_BOOL && p[0] > 1)
			return check_bools(g, kv, p, 1, err);
	}
	kv->raw = c->base + start;
	kv->raw_size = c->pos - start;
	return FY_OK;
}

static int parse_kv(struct fy_gguf *g, struct fy_cursor *c, struct fy_err *err)
{
	struct fy_gguf_kv *kv;
	struct fy_str key;
	uint32_t type;
	int rc;

	rc = grow((void **)&g->kvs, &g->kv_cap, g->n_kv + 1, sizeof(*g->kvs), err);
	if (rc != FY_OK)
		return rc;
	kv = &g->kvs[g->n_kv];
	if (!read_str(c, &key))
		return truncated(g, "a metadata key", err);
	rc = dup_name(g, key, "metadata key", (char **)&kv->key, err);
	if (rc != FY_OK)
		return rc;
	g->n_kv++; /* owned from here on, freed with the handle */
	if (!fy_cur_u32(c, &type))
		return truncated(g, "a metadata type", err);
	if (type >= FY_GGUF_TYPE_COUNT)
		return fy_err_set(err, FY_EFORMAT, "%s: key '%s': unknown value type %u", g->label,
				  kv->key, type);
	kv->type = (enum fy_gguf_type)type;
	rc = parse_value(g, c, kv, err);
	if (rc != FY_OK)
		return rc;
	rc = fy_index_insert(&g->kv_index, kv->key, key.len, (int64_t)(g->n_kv - 1), err);
	if (rc == FY_EEXIST)
		return fy_err_set(err, FY_EFORMAT, "%s: duplicate key '%s'", g->label, kv->key);
	return rc;
}

static int check_alignment(struct fy_gguf *g, struct fy_err *err)
{
	const struct fy_gguf_kv *kv = fy_gguf_find_kv(g, "general.alignment");

	g->alignment = FY_GGUF_DEFAULT_ALIGNMENT;
	if (kv == NULL)
		return FY_OK;
	if (kv->type != FY_GGUF_U32)
		return fy_err_set(err, FY_EFORMAT, "%s: general.alignment has type %s, not u32",
				  g->label, fy_gguf_type_name(kv->type));
	if (kv->v.u == 0 || (kv->v.u & (kv->v.u - 1)) != 0)
		return fy_err_set(err, FY_EFORMAT,
				  "%s: general.alignment %llu is not a power of two", g->label,
				  (unsigned long long)kv->v.u);
	g->alignment = (uint32_t)kv->v.u;
	return FY_OK;
}

static int parse_dims(struct fy_gguf *g, struct fy_cursor *c, struct fy_gguf_tensor *t,
		      struct fy_err *err)
{
	uint32_t n_dims;
	uint64_t ne;
	int i;

	if (!fy_cur_u32(c, &n_dims))
		return truncated(g, "a tensor's dimension count", err);
	if (n_dims < 1 || n_dims > FY_GGUF_MAX_DIMS)
		return fy_err_set(err, FY_EFORMAT,
				  "%s: tensor '%s': %u dimensions (1 to %d allowed)", g->label,
				  t->name, n_dims, FY_GGUF_MAX_DIMS);
	t->n_dims = (int)n_dims;
	t->n_elems = 1;
	for (i = 0; i < FY_GGUF_MAX_DIMS; i++)
		t->ne[i] = 1;
	for (i = 0; i < (int)n_dims; i++) {
		if (!fy_cur_u64(c, &ne))
			return truncated(g, "a tensor's dimensions", err);
		if ((int64_t)ne < 0)
			return fy_err_set(err, FY_EFORMAT,
					  "%s: tensor '%s': dimension %d is negative", g->label,
					  t->name, i);
		t->ne[i] = (int64_t)ne;
		if (__builtin_mul_overflow(t->n_elems, t->ne[i], &t->n_elems))
			return fy_err_set(err, FY_EFORMAT,
					  "%s: tensor '%s': element count overflows", g->label,
					  t->name);
	}
	return FY_OK;
}

static int parse_tensor_type(struct fy_gguf *g, struct fy_cursor *c, struct fy_gguf_tensor *t,
			     struct fy_err *err)
{
	const struct fy_dtype_info *d;
	uint32_t type;

	if (!fy_cur_u32(c, &type))
		return truncated(g, "a tensor's type", err);
	if (!fy_dtype_from_gguf(type, &t->type))
		return fy_err_set(err, FY_EFORMAT, "%s: tensor '%s': unknown tensor type %u",
				  g->label, t->name, type);
	d = fy_dtype_info(t->type);
	if (t->ne[0] % d->blck != 0)
		return fy_err_set(err, FY_EFORMAT,
				  "%s: tensor '%s': row length %lld is not a multiple of the %s "
				  "block size %lld",
				  g->label, t->name, (long long)t->ne[0], d->name,
				  (long long)d->blck);
	if (!fy_dtype_nbytes(t->type, t->n_elems, &t->nbytes))
		return fy_err_set(err, FY_EFORMAT, "%s: tensor '%s': byte size overflows", g->label,
				  t->name);
	if (!fy_cur_u64(c, &t->offset))
		return truncated(g, "a tensor's offset", err);
	return FY_OK;
}

static int parse_tensor_info(struct fy_gguf *g, struct fy_cursor *c, struct fy_err *err)
{
	struct fy_gguf_tensor *t;
	struct fy_str name;
	int rc;

	rc = grow((void **)&g->tensors, &g->tensor_cap, g->n_tensors + 1, sizeof(*g->tensors), err);
	if (rc != FY_OK)
		return rc;
	t = &g->tensors[g->n_tensors];
	if (!read_str(c, &name))
		return truncated(g, "a tensor name", err);
	if (name.len > FY_GGUF_MAX_NAME)
		return fy_err_set(err, FY_EFORMAT,
				  "%s: tensor name of %zu bytes (at most %d allowed)", g->label,
				  name.len, FY_GGUF_MAX_NAME);
	rc = dup_name(g, name, "tensor name", (char **)&t->name, err);
	if (rc != FY_OK)
		return rc;
	g->n_tensors++;
	rc = fy_index_insert(&g->tensor_index, t->name, name.len, (int64_t)(g->n_tensors - 1), err);
	if (rc == FY_EEXIST)
		return fy_err_set(err, FY_EFORMAT, "%s: duplicate tensor name '%s'", g->label,
				  t->name);
	if (rc != FY_OK)
		return rc;
	rc = parse_dims(g, c, t, err);
	if (rc != FY_OK)
		return rc;
	return parse_tensor_type(g, c, t, err);
}

/* Tensors packed in order from offset 0, each padded to the alignment; all inside the file. */
static int check_layout(struct fy_gguf *g, struct fy_err *err)
{
	uint64_t expect = 0;
	uint64_t end;
	size_t i;

	if (!fy_align_up(g->header_size, g->alignment, &g->data_offset))
		return fy_err_set(err, FY_EFORMAT, "%s: data offset overflows", g->label);
	for (i = 0; i < g->n_tensors; i++) {
		struct fy_gguf_tensor *t = &g->tensors[i];

		if (t->offset != expect)
			return fy_err_set(err, FY_EFORMAT,
					  "%s: tensor '%s' has offset %llu, expected %llu (tensors "
					  "must be packed in order, padded to %u bytes)",
					  g->label, t->name, (unsigned long long)t->offset,
					  (unsigned long long)expect, g->alignment);
		if (!fy_add_u64(g->data_offset, t->offset, &end) ||
		    !fy_add_u64(end, t->nbytes, &end) || end > g->size)
			return fy_err_set(err, FY_EFORMAT,
					  "%s: tensor '%s' ends past end of file (needs %llu bytes "
					  "at offset %llu)",
					  g->label, t->name, (unsigned long long)t->nbytes,
					  (unsigned long long)t->offset);
		t->data = g->data + g->data_offset + t->offset;
		if (!fy_add_u64(t->offset, t->nbytes, &end) ||
		    !fy_align_up(end, g->alignment, &expect))
			return fy_err_set(err, FY_EFORMAT, "%s: data size overflows", g->label);
	}
	/* bytes after the last tensor (or after the header): llama.cpp ignores them, so does
	 * ferry; fy_gguf_trailing tells, verify warns (and --strict refuses) */
	if (g->n_tensors > 0 && g->size - g->data_offset > expect)
		g->trailing = g->size - g->data_offset - expect;
	if (g->n_tensors == 0 && g->size > g->header_size)
		g->trailing =
			g->size - (g->size > g->data_offset ? g->data_offset : g->header_size);
	return FY_OK;
}

static int parse_preamble(struct fy_gguf *g, struct fy_cursor *c, uint64_t *n_tensors,
			  uint64_t *n_kv, struct fy_err *err)
{
	const uint8_t *magic;

	if (g->size < 24)
		return fy_err_set(err, FY_EFORMAT, "%s: too short for a GGUF header (%llu bytes)",
				  g->label, (unsigned long long)g->size);
	fy_cur_take(c, 4, &magic);
	if (memcmp(magic, "GGUF", 4) != 0)
		return fy_err_set(err, FY_EFORMAT, "%s: not a GGUF file (bad magic)", g->label);
	fy_cur_u32(c, &g->version);
	if (g->version == 0x02000000u || g->version == 0x03000000u)
		return fy_err_set(err, FY_EUNSUPPORTED, "%s: big-endian GGUF is not supported",
				  g->label);
	if (g->version != 2 && g->version != 3)
		return fy_err_set(err, FY_EUNSUPPORTED,
				  "%s: GGUF version %u is not supported (2 and 3 are)", g->label,
				  g->version);
	fy_cur_u64(c, n_tensors);
	fy_cur_u64(c, n_kv);
	if ((int64_t)*n_kv < 0 || *n_kv > fy_cur_left(c) / MIN_KV_BYTES)
		return fy_err_set(err, FY_EFORMAT, "%s: metadata count %lld does not fit the file",
				  g->label, (long long)*n_kv);
	if ((int64_t)*n_tensors < 0 || *n_tensors > fy_cur_left(c) / MIN_TENSOR_BYTES)
		return fy_err_set(err, FY_EFORMAT, "%s: tensor count %lld does not fit the file",
				  g->label, (long long)*n_tensors);
	return FY_OK;
}

static int parse_image(struct fy_gguf *g, struct fy_err *err)
{
	struct fy_cursor c = { g->data, (size_t)g->size, 0 };
	uint64_t n_tensors = 0;
	uint64_t n_kv = 0;
	uint64_t i;
	int rc;

	rc = parse_preamble(g, &c, &n_tensors, &n_kv, err);
	for (i = 0; rc == FY_OK && i < n_kv; i++)
		rc = parse_kv(g, &c, err);
	if (rc == FY_OK)
		rc = check_alignment(g, err);
	for (i = 0; rc == FY_OK && i < n_tensors; i++)
		rc = parse_tensor_info(g, &c, err);
	if (rc != FY_OK)
		return rc;
	g->header_size = c.pos;
	return check_layout(g, err);
}

static struct fy_gguf *gguf_alloc(const char *label)
{
	struct fy_gguf *g = calloc(1, sizeof(*g));

	if (g == NULL)
		return NULL;
	g->label = strdup(label);
	if (g->label == NULL) {
		free(g);
		return NULL;
	}
	fy_index_init(&g->kv_index);
	fy_index_init(&g->tensor_index);
	return g;
}

int fy_gguf_parse(struct fy_gguf **out, const void *data, size_t size, const char *label,
		  struct fy_err *err)
{
	struct fy_gguf *g = gguf_alloc(label);
	int rc;

	if (g == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	g->data = data;
	g->size = size;
	rc = parse_image(g, err);
	if (rc != FY_OK) {
		fy_gguf_free(g);
		return rc;
	}
	*out = g;
	return FY_OK;
}

/* One file, as it is (a shard of a split set stays alone). */
static int open_one(struct fy_gguf **out, const char *path, struct fy_err *err)
{
	struct fy_gguf *g = gguf_alloc(path);
	int rc;

	if (g == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	rc = fy_map_open(&g->map, path, err);
	if (rc == FY_OK) {
		g->data = g->map.data;
		g->size = g->map.size;
		rc = parse_image(g, err);
	}
	if (rc != FY_OK) {
		fy_gguf_free(g);
		return rc;
	}
	*out = g;
	return FY_OK;
}

/* Sets err and jumps to `out`. */
#define SET_FAIL(rc_var, err, code, ...)                                                           \
	do {                                                                                       \
		(rc_var) = fy_err_set((err), (code), __VA_ARGS__);                                 \
		goto out;                                                                          \
	} while (0)

/* --- split sets --------------------------------------------------------------------------------
 */

/* An integer KV of a shard, or -1 when absent or not an integer. */
static int64_t split_key(const struct fy_gguf *g, const char *key)
{
	const struct fy_gguf_kv *kv = fy_gguf_find_kv(g, key);
	if (kv == NULL)
		return -1;
	if (kv->type == FY_GGUF_U8 || kv->type == FY_GGUF_U16 || kv->type == FY_GGUF_U32 ||
	    kv->type == FY_GGUF_U64)
		return kv->v.u > INT32_MAX ? -2 : (int64_t)kv->v.u;
	if (kv->type == FY_GGUF_I8 || kv->type == FY_GGUF_I16 || kv->type == FY_GGUF_I32 ||
	    kv->type == FY_GGUF_I64)
		return kv->v.i < 0 || kv->v.i > INT32_MAX ? -2 : kv->v.i;
	return -2;
}

int fy_gguf_split_info(const struct fy_gguf *g, int *no, int *count, int64_t *n_tensors,
		       struct fy_err *err)
{
	const struct fy_gguf *s = g->n_shards > 0 ? g->shards[0] : g;
	const int64_t c = split_key(s, "split.count");
	const int64_t k = split_key(s, "split.no");
	const int64_t t = split_key(s, "split.tensors.count");
	if (c == -1) {
		*no = 0;
		*count = 1;
		*n_tensors = (int64_t)s->n_tensors;
		return FY_OK;
	}
	if (c < 1 || c > FY_GGUF_SPLIT_MAX || k < 0 || k >= c || t < 0)
		return fy_err_set(err, FY_EFORMAT,
				  "%s: bad split keys (split.no %lld, split.count %lld, "
				  "split.tensors.count %lld)",
				  s->label, (long long)k, (long long)c, (long long)t);
	*no = (int)k;
	*count = (int)c;
	*n_tensors = t;
	return FY_OK;
}

/* Appends shard sh's tensors to set g (names copied, data left in the shard's mapping). */
static int join_shard(struct fy_gguf *g, struct fy_gguf *sh, int no, struct fy_err *err)
{
	int rc = grow((void **)&g->tensors, &g->tensor_cap, g->n_tensors + sh->n_tensors,
		      sizeof(*g->tensors), err);
	for (size_t i = 0; rc == FY_OK && i < sh->n_tensors; i++) {
		struct fy_gguf_tensor *t = &g->tensors[g->n_tensors];
		*t = sh->tensors[i];
		t->shard = no;
		t->name = strdup(sh->tensors[i].name);
		if (t->name == NULL)
			return fy_err_set(err, FY_ENOMEM, "out of memory");
		g->n_tensors++;
		rc = fy_index_insert(&g->tensor_index, t->name, strlen(t->name),
				     (int64_t)(g->n_tensors - 1), err);
		if (rc == FY_EEXIST)
			rc = fy_err_set(err, FY_EFORMAT,
					"%s: tensor '%s' is also in an earlier shard", sh->label,
					t->name);
	}
	return rc;
}

/* Opens shard i of a set (from a file, or from bytes in memory). */
typedef int (*shard_fn)(const void *ctx, size_t i, struct fy_gguf **out, struct fy_err *err);

struct shard_files {
	const char *const *paths;
};

static int shard_from_file(const void *ctx, size_t i, struct fy_gguf **out, struct fy_err *err)
{
	const struct shard_files *f = ctx;
	int rc = open_one(out, f->paths[i], err);
	if (rc != FY_OK && (rc == FY_ENOTFOUND || err->sys_errno == ENOENT))
		return FY_ENOTFOUND;
	return rc;
}

struct shard_images {
	const void *const *data;
	const size_t *sizes;
	const char *label;
};

static int shard_from_image(const void *ctx, size_t i, struct fy_gguf **out, struct fy_err *err)
{
	const struct shard_images *im = ctx;
	char label[256];
	snprintf(label, sizeof(label), "%s#%zu", im->label, i + 1);
	return fy_gguf_parse(out, im->data[i], im->sizes[i], label, err);
}

/* A split set from its n shards in order, each checked against the first one's split keys. */
static int open_set(struct fy_gguf **out, size_t n, const char *label, shard_fn shard,
		    const void *ctx, const char *(*name_of)(const void *, size_t),
		    struct fy_err *err)
{
	struct fy_gguf *g = NULL;
	int64_t want = 0;
	int no = 0, count = 0;
	int rc;

	if (n == 0 || n > FY_GGUF_SPLIT_MAX)
		return fy_err_set(err, FY_EINVAL, "%s: a split set of %zu files", label, n);
	FY_TRY(rc, shard(ctx, 0, &g, err));
	FY_TRY(rc, fy_gguf_split_info(g, &no, &count, &want, err));
	if (n == 1 && count == 1) {
		*out = g;
		return FY_OK;
	}
	if (no != 0 || (size_t)count != n)
		SET_FAIL(rc, err, FY_EFORMAT, "%s: shard %d of %d, not the first of %zu",
			 name_of(ctx, 0), no + 1, count, n);
	g->shards = calloc(n, sizeof(*g->shards));
	if (g->shards == NULL)
		SET_FAIL(rc, err, FY_ENOMEM, "out of memory");
	g->shards[0] = g;
	g->n_shards = n;
	for (size_t i = 0; i < g->n_tensors; i++)
		g->tensors[i].shard = 0;
	for (size_t i = 1; i < n; i++) {
		struct fy_gguf *sh = NULL;
		int64_t t = 0;
		int k = 0, c = 0;
		rc = shard(ctx, i, &sh, err);
		if (rc == FY_ENOTFOUND)
			SET_FAIL(
				rc, err, FY_ENOTFOUND,
				"%s: shard %zu of %zu (%s) is missing: a split model is read whole",
				label, i + 1, n, name_of(ctx, i));
		if (rc != FY_OK)
			goto out;
		g->shards[i] = sh;
		FY_TRY(rc, fy_gguf_split_info(sh, &k, &c, &t, err));
		if (k != (int)i || c != count || t != want)
			SET_FAIL(rc, err, FY_EFORMAT,
				 "%s: split keys say shard %d of %d (%lld tensors), expected shard "
				 "%zu "
				 "of %d (%lld tensors)",
				 name_of(ctx, i), k + 1, c, (long long)t, i + 1, count,
				 (long long)want);
		FY_TRY(rc, join_shard(g, sh, (int)i, err));
	}
	if ((int64_t)g->n_tensors != want)
		SET_FAIL(rc, err, FY_EFORMAT,
			 "%s: the shards hold %zu tensors, split.tensors.count says %lld", label,
			 g->n_tensors, (long long)want);
	*out = g;
	return FY_OK;
out:
	fy_gguf_free(g);
	return rc;
}

static const char *file_name_of(const void *ctx, size_t i)
{
	return ((const struct shard_files *)ctx)->paths[i];
}

static const char *image_name_of(const void *ctx, size_t i)
{
	(void)i;
	return ((const struct shard_images *)ctx)->label;
}

int fy_gguf_open_set(struct fy_gguf **out, const char *const *paths, size_t n, const char *label,
		     struct fy_err *err)
{
	const struct shard_files f = { paths };
	return open_set(out, n, label, shard_from_file, &f, file_name_of, err);
}

int fy_gguf_parse_set(struct fy_gguf **out, const void *const *data, const size_t *sizes, size_t n,
		      const char *label, struct fy_err *err)
{
	const struct shard_images im = { data, sizes, label };
	return open_set(out, n, label, shard_from_image, &im, image_name_of, err);
}

int fy_gguf_open(struct fy_gguf **out, const char *path, struct fy_err *err)
{
	struct fy_gguf *g = NULL;
	int64_t want = 0;
	int no = 0, count = 0;
	size_t prefix = 0;
	int k = 0, c = 0;
	int rc;

	FY_TRY(rc, open_one(&g, path, err));
	FY_TRY(rc, fy_gguf_split_info(g, &no, &count, &want, err));
	if (count == 1) {
		*out = g;
		return FY_OK;
	}
	/* a shard: its siblings are found by the name llama.cpp gives them */
	if (!fy_gguf_split_name(path, &prefix, &k, &c) || k != no + 1 || c != count)
		SET_FAIL(rc, err, FY_EFORMAT,
			 "%s: shard %d of a split model of %d files, and its name does not say "
			 "where "
			 "the others are (PREFIX-%05d-of-%05d.gguf)",
			 path, no + 1, count, no + 1, count);
	fy_gguf_free(g);
	g = NULL;
	rc = FY_OK;
	{
		char **paths = calloc((size_t)count, sizeof(*paths));
		char *base = strndup(path, prefix);
		const size_t cap = prefix + 32;
		if (paths == NULL || base == NULL)
			rc = fy_err_set(err, FY_ENOMEM, "out of memory");
		for (int i = 0; rc == FY_OK && i < count; i++) {
			paths[i] = malloc(cap);
			rc = paths[i] == NULL ? fy_err_set(err, FY_ENOMEM, "out of memory")
					      : fy_gguf_split_path(paths[i], cap, base, (size_t)i,
								   (size_t)count, err);
		}
		if (rc == FY_OK)
			rc = fy_gguf_open_set(out, (const char *const *)paths, (size_t)count, path,
					      err);
		for (int i = 0; paths != NULL && i < count; i++)
			free(paths[i]);
		free(paths);
		free(base);
	}
	return rc;
out:
	fy_gguf_free(g);
	return rc;
}

bool fy_gguf_split_name(const char *path, size_t *prefix, int *no, int *count)
{
	/* PREFIX-NNNNN-of-NNNNN.gguf: a dash and 19 bytes after a prefix of at least one */
	const size_t n = strlen(path);
	if (n < 21)
		return false;
	const char *p = path + n - 19;
	if (p[-1] != '-' || strcasecmp(p + 14, ".gguf") != 0 || memcmp(p + 5, "-of-", 4) != 0)
		return false;
	int a = 0, b = 0;
	for (int i = 0; i < 5; i++) {
		if (p[i] < '0' || p[i] > '9' || p[9 + i] < '0' || p[9 + i] > '9')
			return false;
		a = a * 10 + (p[i] - '0');
		b = b * 10 + (p[9 + i] - '0');
	}
	if (a < 1 || b < 1 || a > b || b > FY_GGUF_SPLIT_MAX)
		return false;
	*prefix = (size_t)(p - 1 - path);
	*no = a;
	*count = b;
	return true;
}

size_t fy_gguf_shard_count(const struct fy_gguf *g)
{
	return g->n_shards > 0 ? g->n_shards : 1;
}

const struct fy_gguf *fy_gguf_shard(const struct fy_gguf *g, size_t i)
{
	if (g->n_shards == 0)
		return i == 0 ? g : NULL;
	return i < g->n_shards ? g->shards[i] : NULL;
}

uint64_t fy_gguf_trailing(const struct fy_gguf *g)
{
	return g->trailing;
}

void fy_gguf_free(struct fy_gguf *g)
{
	size_t i;

	if (g == NULL)
		return;
	for (i = 0; i < g->n_kv; i++) {
		free((char *)g->kvs[i].key);
		free((uint64_t *)g->kvs[i].str_offs);
	}
	for (i = 0; i < g->n_tensors; i++)
		free((char *)g->tensors[i].name);
	for (i = 1; i < g->n_shards; i++)
		fy_gguf_free(g->shards[i]);
	free(g->shards);
	free(g->kvs);
	free(g->tensors);
	fy_index_release(&g->kv_index);
	fy_index_release(&g->tensor_index);
	fy_map_release(&g->map);
	free(g->label);
	free(g);
}

const char *fy_gguf_label(const struct fy_gguf *g)
{
	return g->label;
}

uint32_t fy_gguf_version(const struct fy_gguf *g)
{
	return g->version;
}

uint32_t fy_gguf_alignment(const struct fy_gguf *g)
{
	return g->alignment;
}

uint64_t fy_gguf_file_size(const struct fy_gguf *g)
{
	return g->size;
}

uint64_t fy_gguf_header_size(const struct fy_gguf *g)
{
	return g->header_size;
}

uint64_t fy_gguf_data_offset(const struct fy_gguf *g)
{
	return g->data_offset;
}

bool fy_gguf_value_number(const struct fy_gguf_value *v, double *out)
{
	switch (v->type) {
	case FY_GGUF_U8:
	case FY_GGUF_U16:
	case FY_GGUF_U32:
	case FY_GGUF_U64:
		*out = (double)v->u;
		return true;
	case FY_GGUF_I8:
	case FY_GGUF_I16:
	case FY_GGUF_I32:
	case FY_GGUF_I64:
		*out = (double)v->i;
		return true;
	case FY_GGUF_F32:
	case FY_GGUF_F64:
		*out = v->f;
		return true;
	default:
		return false;
	}
}

bool fy_gguf_kv_number(const struct fy_gguf_kv *kv, double *out)
{
	if (kv == NULL)
		return false;
	struct fy_gguf_value v = kv->v;
	v.type = kv->type;
	return fy_gguf_value_number(&v, out);
}

size_t fy_gguf_kv_count(const struct fy_gguf *g)
{
	return g->n_kv;
}

const struct fy_gguf_kv *fy_gguf_kv_at(const struct fy_gguf *g, size_t i)
{
	return i < g->n_kv ? &g->kvs[i] : NULL;
}

const struct fy_gguf_kv *fy_gguf_find_kv(const struct fy_gguf *g, const char *key)
{
	int64_t i;

	if (!fy_index_find(&g->kv_index, key, strlen(key), &i))
		return NULL;
	return &g->kvs[i];
}

struct fy_gguf_value fy_gguf_arr_at(const struct fy_gguf_kv *kv, uint64_t i)
{
	struct fy_gguf_value v;
	const uint8_t *p;

	if (kv->arr_type != FY_GGUF_STRING)
		return decode_fixed(kv->arr_type, kv->raw + i * fy_gguf_value_sizes[kv->arr_type]);
	memset(&v, 0, sizeof(v));
	v.type = FY_GGUF_STRING;
	p = kv->raw + kv->str_offs[i];
	v.s.len = (size_t)fy_le64(p);
	v.s.ptr = (const char *)p + 8;
	return v;
}

size_t fy_gguf_tensor_count(const struct fy_gguf *g)
{
	return g->n_tensors;
}

const struct fy_gguf_tensor *fy_gguf_tensor_at(const struct fy_gguf *g, size_t i)
{
	return i < g->n_tensors ? &g->tensors[i] : NULL;
}

const struct fy_gguf_tensor *fy_gguf_find_tensor(const struct fy_gguf *g, const char *name)
{
	int64_t i;

	if (!fy_index_find(&g->tensor_index, name, strlen(name), &i))
		return NULL;
	return &g->tensors[i];
}

enum fy_format fy_format_sniff(const uint8_t *head, size_t n)
{
	uint64_t len;
	size_t i;

	if (n >= 4 && memcmp(head, "GGUF", 4) == 0)
		return FY_FORMAT_GGUF;
	if (n < 9)
		return FY_FORMAT_UNKNOWN;
	len = fy_le64(head);
	if (len < 2)
		return FY_FORMAT_UNKNOWN;
	for (i = 8; i < n && i - 8 < len; i++) {
		if (head[i] == '{')
			return FY_FORMAT_SAFETENSORS;
		if (head[i] != ' ' && head[i] != '\t' && head[i] != '\n' && head[i] != '\r')
			return FY_FORMAT_UNKNOWN;
	}
	return FY_FORMAT_UNKNOWN;
}
