/*
 * GGUF v3 writer. KVs are kept encoded (type tag and value, as they go into the file) in the
 * order they were first set; tensors in the order they were added. The file is laid out by the
 * general.alignment this writer will write (default 32), every tensor padded with zeros to it,
 * the last one included. A file without tensors ends right after the header, as gguf-py
 * writes vocabulary-only files.
 */
#include "convert/convert_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <math.h>
#include <string.h>

struct wkv {
	char *key;
	struct fy_buf enc; /* i32 type, then the value encoding */
};

struct wtensor {
	char *name;
	enum fy_dtype type;
	int n_dims;
	int64_t ne[FY_GGUF_MAX_DIMS];
	uint64_t nbytes;
	uint64_t offset;
};

struct fy_gguf_writer {
	struct wkv *kvs;
	size_t n_kv;
	size_t kv_cap;
	struct wtensor *tensors;
	size_t n_tensors;
	size_t tensor_cap;
	struct fy_index tensor_names;
	uint32_t alignment;
};

int fy_gguf_writer_new(struct fy_gguf_writer **out, struct fy_err *err)
{
	struct fy_gguf_writer *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	fy_index_init(&w->tensor_names);
	w->alignment = FY_GGUF_DEFAULT_ALIGNMENT;
	*out = w;
	return FY_OK;
}

void fy_gguf_writer_free(struct fy_gguf_writer *w)
{
	size_t i;

	if (w == NULL)
		return;
	for (i = 0; i < w->n_kv; i++) {
		free(w->kvs[i].key);
		fy_buf_release(&w->kvs[i].enc);
	}
	for (i = 0; i < w->n_tensors; i++)
		free(w->tensors[i].name);
	free(w->kvs);
	free(w->tensors);
	fy_index_release(&w->tensor_names);
	free(w);
}

/* The slot for key: the existing one (emptied for a new value) or a new one at the end. */
static int kv_slot(struct fy_gguf_writer *w, const char *key, struct wkv **out, struct fy_err *err)
{
	struct wkv *kv;
	size_t i;

	if (key[0] == '\0')
		return fy_err_set(err, FY_EINVAL, "empty metadata key");
	for (i = 0; i < w->n_kv; i++) {
		if (strcmp(w->kvs[i].key, key) == 0) {
			w->kvs[i].enc.len = 0;
			*out = &w->kvs[i];
			return FY_OK;
		}
	}
	if (w->n_kv == w->kv_cap) {
		size_t cap = w->kv_cap ? w->kv_cap * 2 : 32;
		struct wkv *p = realloc(w->kvs, cap * sizeof(*p));

		if (p == NULL)
			return fy_err_set(err, FY_ENOMEM, "out of memory");
		w->kvs = p;
		w->kv_cap = cap;
	}
	kv = &w->kvs[w->n_kv];
	kv->key = strdup(key);
	if (kv->key == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	fy_buf_init(&kv->enc);
	w->n_kv++;
	*out = kv;
	return FY_OK;
}

static int put_str(struct fy_buf *b, const char *p, size_t n, struct fy_err *err)
{
	int rc = fy_buf_append_u64le(b, n, err);

	if (rc != FY_OK)
		return rc;
	return fy_buf_append(b, p, n, err);
}

static int encode_fixed(struct fy_buf *b, const struct fy_gguf_value *v, struct fy_err *err)
{
	uint8_t p[8];
	uint64_t bits = v->u;
	float f;
	uint32_t u32;
	int i;

	if (v->type == FY_GGUF_F32) {
		f = (float)v->f;
		memcpy(&u32, &f, sizeof(u32));
		bits = u32;
	} else if (v->type == FY_GGUF_F64) {
		memcpy(&bits, &v->f, sizeof(bits));
	} else if (v->type == FY_GGUF_BOOL) {
		bits = v->b ? 1 : 0;
	} else if (v->type == FY_GGUF_I8 || v->type == FY_GGUF_I16 || v->type == FY_GGUF_I32 ||
		   v->type == FY_GGUF_I64) {
		bits = (uint64_t)v->i;
	}
	for (i = 0; i < fy_gguf_value_sizes[v->type]; i++)
		p[i] = (uint8_t)(bits >> (8 * i));
	return fy_buf_append(b, p, fy_gguf_value_sizes[v->type], err);
}

static int check_alignment_kv(struct fy_gguf_writer *w, const char *key, enum fy_gguf_type type,
			      uint64_t value, struct fy_err *err)
{
	if (strcmp(key, "general.alignment") != 0)
		return FY_OK;
	if (type != FY_GGUF_U32 || value == 0 || (value & (value - 1)) != 0)
		return fy_err_set(err, FY_EINVAL, "general.alignment must be a u32 power of two");
	w->alignment = (uint32_t)value;
	return FY_OK;
}

int fy_gguf_writer_set(struct fy_gguf_writer *w, const char *key, const struct fy_gguf_value *v,
		       struct fy_err *err)
{
	struct wkv *kv;
	int rc;

	if ((unsigned)v->type >= FY_GGUF_TYPE_COUNT || v->type == FY_GGUF_ARRAY)
		return fy_err_set(err, FY_EINVAL, "key '%s': not a scalar type", key);
	rc = check_alignment_kv(w, key, v->type, v->u, err);
	if (rc == FY_OK)
		rc = kv_slot(w, key, &kv, err);
	if (rc == FY_OK)
		rc = fy_buf_append_u32le(&kv->enc, (uint32_t)v->type, err);
	if (rc != FY_OK)
		return rc;
	if (v->type == FY_GGUF_STRING)
		return put_str(&kv->enc, v->s.ptr, v->s.len, err);
	return encode_fixed(&kv->enc, v, err);
}

void fy_gguf_writer_remove(struct fy_gguf_writer *w, const char *key)
{
	for (size_t i = 0; i < w->n_kv; i++) {
		if (strcmp(w->kvs[i].key, key) != 0)
			continue;
		free(w->kvs[i].key);
		fy_buf_release(&w->kvs[i].enc);
		memmove(&w->kvs[i], &w->kvs[i + 1], (w->n_kv - i - 1) * sizeof(w->kvs[0]));
		w->n_kv--;
		return;
	}
}

int fy_gguf_kv_override_parse(const char *spec, struct fy_gguf_kv_override *o, struct fy_err *err)
{
	static const char *const tags[] = { "int:", "float:", "bool:", "str:" };
	const char *eq = strchr(spec, '=');
	memset(o, 0, sizeof(*o));
	if (eq == NULL || eq == spec || (size_t)(eq - spec) >= sizeof(o->key))
		return fy_err_set(
			err, FY_EINVAL,
			"--override-kv '%s': not KEY=TYPE:VALUE (a key of 1 to 127 bytes)", spec);
	memcpy(o->key, spec, (size_t)(eq - spec));
	const char *v = eq + 1, *end = NULL;
	size_t t = 0;
	while (t < 4 && strncmp(v, tags[t], strlen(tags[t])) != 0)
		t++;
	if (t == 4)
		return fy_err_set(err, FY_EINVAL,
				  "--override-kv '%s': the type is int, float, bool or str", spec);
	v += strlen(tags[t]);
	errno = 0;
	switch (t) {
	case 0: { /* written as u32 of the magnitude, as llama-quantize writes it */
		const long long i = strtoll(v, (char **)&end, 10);
		if (end == v || *end != '\0' || errno != 0 || i < -(long long)UINT32_MAX ||
		    i > (long long)UINT32_MAX)
			return fy_err_set(err, FY_EINVAL,
					  "--override-kv '%s': not an integer of 32 bits", spec);
		o->v.type = FY_GGUF_U32;
		o->v.u = (uint64_t)(i < 0 ? -i : i);
		break;
	}
	case 1:
		o->v.f = strtod(v, (char **)&end);
		if (end == v || *end != '\0' || errno != 0 || !isfinite(o->v.f))
			return fy_err_set(err, FY_EINVAL, "--override-kv '%s': not a number", spec);
		o->v.type = FY_GGUF_F32;
		break;
	case 2:
		if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0)
			return fy_err_set(err, FY_EINVAL,
					  "--override-kv '%s': a bool is true or false", spec);
		o->v.type = FY_GGUF_BOOL;
		o->v.b = v[0] == 't';
		break;
	default:
		if (strlen(v) >= sizeof(o->str))
			return fy_err_set(err, FY_EINVAL,
					  "--override-kv '%s': a string of at most 127 bytes",
					  spec);
		memcpy(o->str, v, strlen(v));
		o->v.type = FY_GGUF_STRING; /* the text is str (the struct may be copied) */
		o->v.s.len = strlen(v);
		break;
	}
	return FY_OK;
}

int fy_gguf_writer_set_u32(struct fy_gguf_writer *w, const char *key, uint32_t v,
			   struct fy_err *err)
{
	struct fy_gguf_value val = { .type = FY_GGUF_U32, .u = v };

	return fy_gguf_writer_set(w, key, &val, err);
}

int fy_gguf_writer_set_str(struct fy_gguf_writer *w, const char *key, const char *s,
			   struct fy_err *err)
{
	struct fy_gguf_value val = { .type = FY_GGUF_STRING, .s = { s, strlen(s) } };

	return fy_gguf_writer_set(w, key, &val, err);
}

static int start_array(struct fy_gguf_writer *w, const char *key, enum fy_gguf_type elem,
		       uint64_t count, struct wkv **out, struct fy_err *err)
{
	struct wkv *kv;
	int rc;

	if ((unsigned)elem >= FY_GGUF_TYPE_COUNT || elem == FY_GGUF_ARRAY)
		return fy_err_set(err, FY_EINVAL, "key '%s': invalid array element type", key);
	if (strcmp(key, "general.alignment") == 0)
		return fy_err_set(err, FY_EINVAL, "general.alignment must be a u32 power of two");
	rc = kv_slot(w, key, &kv, err);
	if (rc == FY_OK)
		rc = fy_buf_append_u32le(&kv->enc, FY_GGUF_ARRAY, err);
	if (rc == FY_OK)
		rc = fy_buf_append_u32le(&kv->enc, (uint32_t)elem, err);
	if (rc == FY_OK)
		rc = fy_buf_append_u64le(&kv->enc, count, err);
	if (rc == FY_OK)
		*out = kv;
	return rc;
}

int fy_gguf_writer_set_array(struct fy_gguf_writer *w, const char *key, enum fy_gguf_type elem,
			     uint64_t count, const void *elems, struct fy_err *err)
{
	struct wkv *kv;
	uint64_t bytes = 0;
	int rc;

	if ((unsigned)elem >= FY_GGUF_TYPE_COUNT || fy_gguf_value_sizes[elem] == 0)
		return fy_err_set(err, FY_EINVAL, "key '%s': invalid array element type", key);
	if (!fy_mul_u64(count, fy_gguf_value_sizes[elem], &bytes) || bytes > SIZE_MAX)
		return fy_err_set(err, FY_EINVAL, "key '%s': array too large", key);
	rc = start_array(w, key, elem, count, &kv, err);
	if (rc != FY_OK)
		return rc;
	return fy_buf_append(&kv->enc, elems, (size_t)bytes, err);
}

int fy_gguf_writer_set_str_array(struct fy_gguf_writer *w, const char *key, uint64_t count,
				 const struct fy_str *strs, struct fy_err *err)
{
	struct wkv *kv;
	uint64_t i;
	int rc;

	rc = start_array(w, key, FY_GGUF_STRING, count, &kv, err);
	for (i = 0; rc == FY_OK && i < count; i++)
		rc = put_str(&kv->enc, strs[i].ptr, strs[i].len, err);
	return rc;
}

int fy_gguf_writer_copy_kv(struct fy_gguf_writer *w, const struct fy_gguf_kv *kv,
			   struct fy_err *err)
{
	struct wkv *slot;
	int rc;

	if (kv->type == FY_GGUF_ARRAY) {
		rc = start_array(w, kv->key, kv->arr_type, kv->arr_count, &slot, err);
	} else {
		rc = check_alignment_kv(w, kv->key, kv->type, kv->v.u, err);
		if (rc == FY_OK)
			rc = kv_slot(w, kv->key, &slot, err);
		if (rc == FY_OK)
			rc = fy_buf_append_u32le(&slot->enc, (uint32_t)kv->type, err);
	}
	if (rc != FY_OK)
		return rc;
	return fy_buf_append(&slot->enc, kv->raw, (size_t)kv->raw_size, err);
}

static int check_tensor(struct fy_gguf_writer *w, const char *name, enum fy_dtype type, int n_dims,
			const int64_t *ne, struct fy_err *err)
{
	const struct fy_dtype_info *d = fy_dtype_info(type);
	int64_t dummy;
	int i;

	if (d == NULL || !d->gguf)
		return fy_err_set(err, FY_EUNSUPPORTED,
				  "tensor '%s': type %s cannot be stored in "
				  "GGUF",
				  name, fy_dtype_name(type));
	if (name[0] == '\0' || strlen(name) > FY_GGUF_MAX_NAME)
		return fy_err_set(err, FY_EINVAL,
				  "tensor name '%s' is empty or longer than %d "
				  "bytes",
				  name, FY_GGUF_MAX_NAME);
	if (n_dims < 1 || n_dims > FY_GGUF_MAX_DIMS)
		return fy_err_set(err, FY_EINVAL, "tensor '%s': %d dimensions", name, n_dims);
	for (i = 0; i < n_dims; i++) {
		if (ne[i] < 0)
			return fy_err_set(err, FY_EINVAL, "tensor '%s': negative dimension", name);
	}
	if (ne[0] % d->blck != 0)
		return fy_err_set(err, FY_EINVAL,
				  "tensor '%s': row length %lld is not a multiple "
				  "of the %s block size %lld",
				  name, (long long)ne[0], d->name, (long long)d->blck);
	if (fy_index_find(&w->tensor_names, name, strlen(name), &dummy))
		return fy_err_set(err, FY_EEXIST, "duplicate tensor name '%s'", name);
	return FY_OK;
}

static int fill_tensor(struct wtensor *t, const char *name, enum fy_dtype type, int n_dims,
		       const int64_t *ne, struct fy_err *err)
{
	int64_t n = 1;
	int i;

	memset(t, 0, sizeof(*t));
	for (i = 0; i < FY_GGUF_MAX_DIMS; i++) {
		t->ne[i] = i < n_dims ? ne[i] : 1;
		if (__builtin_mul_overflow(n, t->ne[i], &n))
			return fy_err_set(err, FY_EINVAL, "tensor '%s': element count overflows",
					  name);
	}
	if (!fy_dtype_nbytes(type, n, &t->nbytes))
		return fy_err_set(err, FY_EINVAL, "tensor '%s': byte size overflows", name);
	t->type = type;
	t->n_dims = n_dims;
	t->name = strdup(name);
	if (t->name == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	return FY_OK;
}

int fy_gguf_writer_add(struct fy_gguf_writer *w, const char *name, enum fy_dtype type, int n_dims,
		       const int64_t *ne, struct fy_err *err)
{
	struct wtensor *t;
	int rc;

	rc = check_tensor(w, name, type, n_dims, ne, err);
	if (rc != FY_OK)
		return rc;
	if (w->n_tensors == w->tensor_cap) {
		size_t cap = w->tensor_cap ? w->tensor_cap * 2 : 64;
		struct wtensor *p = realloc(w->tensors, cap * sizeof(*p));

		if (p == NULL)
			return fy_err_set(err, FY_ENOMEM, "out of memory");
		w->tensors = p;
		w->tensor_cap = cap;
	}
	t = &w->tensors[w->n_tensors];
	rc = fill_tensor(t, name, type, n_dims, ne, err);
	if (rc != FY_OK)
		return rc;
	rc = fy_index_insert(&w->tensor_names, t->name, strlen(t->name), (int64_t)w->n_tensors,
			     err);
	if (rc != FY_OK) {
		free(t->name);
		return rc;
	}
	w->n_tensors++;
	return FY_OK;
}

/* Which keys and tensors a file holds: all of the writer's for a single file; for shard `no` of a
 * split set, the first shard's keys (without split.*) or none, then the split keys, and tensors
 * [t0, t1). */
struct part {
	bool all_keys;
	int no, count; /* count 0: a single file */
	size_t t0, t1;
	bool count_second; /* split.count before split.tensors.count (llama-quantize's order) */
};

static bool is_split_key(const char *key)
{
	return strncmp(key, "split.", 6) == 0;
}

static int put_split_kv(struct fy_buf *b, const char *key, enum fy_gguf_type t, uint64_t v,
			struct fy_err *err)
{
	struct fy_gguf_value val = { .type = t };
	int rc;

	if (t == FY_GGUF_I32)
		val.i = (int64_t)v;
	else
		val.u = v;
	FY_TRY(rc, put_str(b, key, strlen(key), err));
	FY_TRY(rc, fy_buf_append_u32le(b, (uint32_t)t, err));
	rc = encode_fixed(b, &val, err);
out:
	return rc;
}

/* A file's header (through the tensor infos), with its tensors' offsets assigned. */
static int build_header(struct fy_gguf_writer *w, const struct part *p, struct fy_buf *b,
			struct fy_err *err)
{
	uint64_t pos = 0;
	uint64_t n_kv = 0;
	size_t i;
	int d;
	int rc;

	for (i = 0; p->all_keys && i < w->n_kv; i++)
		n_kv += p->count == 0 || !is_split_key(w->kvs[i].key);
	if (p->count > 0) {
		n_kv += 3;
		/* other shards name the alignment when it is not the default */
		if (!p->all_keys && w->alignment != FY_GGUF_DEFAULT_ALIGNMENT)
			n_kv++;
	}
	FY_TRY(rc, fy_buf_append(b, "GGUF", 4, err));
	FY_TRY(rc, fy_buf_append_u32le(b, 3, err));
	FY_TRY(rc, fy_buf_append_u64le(b, p->t1 - p->t0, err));
	FY_TRY(rc, fy_buf_append_u64le(b, n_kv, err));
	for (i = 0; p->all_keys && i < w->n_kv; i++) {
		if (p->count > 0 && is_split_key(w->kvs[i].key))
			continue;
		FY_TRY(rc, put_str(b, w->kvs[i].key, strlen(w->kvs[i].key), err));
		FY_TRY(rc, fy_buf_append(b, w->kvs[i].enc.data, w->kvs[i].enc.len, err));
	}
	if (p->count > 0 && !p->all_keys && w->alignment != FY_GGUF_DEFAULT_ALIGNMENT)
		FY_TRY(rc, put_split_kv(b, "general.alignment", FY_GGUF_U32, w->alignment, err));
	if (p->count > 0) {
		/* llama-gguf-split's order: split.count is set last (gguf_set_val appends);
		 * llama-quantize --keep-split sets it second */
		FY_TRY(rc, put_split_kv(b, "split.no", FY_GGUF_U16, (uint64_t)p->no, err));
		if (p->count_second)
			FY_TRY(rc, put_split_kv(b, "split.count", FY_GGUF_U16, (uint64_t)p->count,
						err));
		FY_TRY(rc, put_split_kv(b, "split.tensors.count", FY_GGUF_I32, w->n_tensors, err));
		if (!p->count_second)
			FY_TRY(rc, put_split_kv(b, "split.count", FY_GGUF_U16, (uint64_t)p->count,
						err));
	}
	for (i = p->t0; i < p->t1; i++) {
		struct wtensor *t = &w->tensors[i];

		t->offset = pos;
		FY_TRY(rc, put_str(b, t->name, strlen(t->name), err));
		FY_TRY(rc, fy_buf_append_u32le(b, (uint32_t)t->n_dims, err));
		for (d = 0; d < t->n_dims; d++)
			FY_TRY(rc, fy_buf_append_u64le(b, (uint64_t)t->ne[d], err));
		FY_TRY(rc, fy_buf_append_u32le(b, (uint32_t)t->type, err));
		FY_TRY(rc, fy_buf_append_u64le(b, t->offset, err));
		if (!fy_add_u64(pos, t->nbytes, &pos) || !fy_align_up(pos, w->alignment, &pos)) {
			rc = fy_err_set(err, FY_EINVAL, "data section size overflows");
			goto out;
		}
	}
out:
	return rc;
}

static int write_data(struct fy_gguf_writer *w, const struct part *p, struct fy_atomic *a,
		      fy_tensor_data_fn fn, void *ctx, struct fy_err *err)
{
	uint64_t padded = 0;
	size_t i;
	int rc;

	for (i = p->t0; i < p->t1; i++) {
		struct wtensor *t = &w->tensors[i];
		struct fy_sink sink = { a, t->nbytes, t->name };

		if (t->nbytes > 0) {
			rc = fn(ctx, i, &sink, err);
			if (rc != FY_OK)
				return rc;
			if (sink.left != 0)
				return fy_err_set(err, FY_EINVAL,
						  "tensor '%s': data callback wrote %llu bytes too "
						  "few",
						  t->name, (unsigned long long)sink.left);
		}
		fy_align_up(t->nbytes, w->alignment, &padded); /* checked in build_header */
		rc = fy_atomic_zeros(a, padded - t->nbytes, err);
		if (rc != FY_OK)
			return rc;
	}
	return FY_OK;
}

int fy_gguf_writer_image(struct fy_gguf_writer *w, struct fy_buf *out, struct fy_err *err)
{
	const struct part all = { true, 0, 0, 0, 0, false };

	if (w->n_tensors > 0)
		return fy_err_set(err, FY_EINVAL, "an in-memory GGUF image holds no tensors");
	return build_header(w, &all, out, err);
}

/* One file of the output, left closed and unrenamed in a (the caller commits or aborts it). */
static int write_part(struct fy_gguf_writer *w, const struct part *p, struct fy_atomic *a,
		      const char *path, fy_tensor_data_fn fn, void *ctx, struct fy_err *err)
{
	struct fy_buf hdr;
	uint64_t data_start;
	int rc;

	fy_buf_init(&hdr);
	FY_TRY(rc, build_header(w, p, &hdr, err));
	if (!fy_align_up(hdr.len, w->alignment, &data_start)) {
		rc = fy_err_set(err, FY_EINVAL, "header size overflows");
		goto out;
	}
	/* no data section, no padding (as gguf-py writes vocab files) */
	if (p->t1 > p->t0 || p->count > 0)
		FY_TRY(rc, fy_buf_append_zeros(&hdr, (size_t)(data_start - hdr.len), err));
	FY_TRY(rc, fy_atomic_open(a, path, err));
	FY_TRY(rc, fy_atomic_write(a, hdr.data, hdr.len, err));
	FY_TRY(rc, write_data(w, p, a, fn, ctx, err));
	rc = fy_atomic_close(a, err);
out:
	fy_buf_release(&hdr);
	return rc;
}

int fy_gguf_writer_write(struct fy_gguf_writer *w, const char *path, fy_tensor_data_fn fn,
			 void *ctx, struct fy_err *err)
{
	const struct part all = { true, 0, 0, 0, w->n_tensors, false };
	struct fy_atomic a = { .fd = -1 };
	int rc;

	FY_TRY(rc, write_part(w, &all, &a, path, fn, ctx, err));
	rc = fy_atomic_commit(&a, err);
out:
	fy_atomic_abort(&a);
	return rc;
}

int fy_gguf_split_plan(struct fy_gguf_writer *w, const struct fy_gguf_split_opts *o, size_t *first,
		       size_t cap, size_t *n_out, struct fy_err *err)
{
	uint64_t cur = 0;
	size_t n = 1;

	*n_out = 0;
	if (cap == 0)
		return fy_err_set(err, FY_EINVAL, "no room for a split plan");
	first[0] = 0;
	if (o->first != NULL) { /* the shards given */
		if (o->n_first == 0 || o->n_first > cap || o->n_first > FY_GGUF_SPLIT_MAX ||
		    o->first[0] != 0)
			return fy_err_set(err, FY_EINVAL, "%zu shards cannot be written",
					  o->n_first);
		for (size_t k = 1; k < o->n_first; k++)
			if (o->first[k] <= o->first[k - 1] || o->first[k] >= w->n_tensors)
				return fy_err_set(err, FY_EINVAL, "shard %zu would be empty",
						  k + 1);
		memcpy(first, o->first, o->n_first * sizeof(*first));
		*n_out = o->n_first;
		return FY_OK;
	}
	if (o->max_bytes == 0 && o->max_tensors <= 0) {
		*n_out = 1;
		return FY_OK;
	}
	/* llama-gguf-split's strategy: a tensor that would take the shard past max_bytes (sizes
	 * padded to the alignment, metadata not counted), or every max_tensors-th tensor, starts
	 * the next shard */
	for (size_t i = 0; i < w->n_tensors; i++) {
		uint64_t padded = 0;
		bool split;
		fy_align_up(w->tensors[i].nbytes, w->alignment, &padded);
		if (o->max_bytes > 0)
			split = cur + padded > o->max_bytes;
		else
			split = i > 0 && i % (size_t)o->max_tensors == 0;
		if (split) {
			if (i == first[n - 1])
				return fy_err_set(err, FY_EINVAL,
						  "tensor '%s' (%llu bytes) alone is larger than "
						  "--split-max-size: a shard would be empty",
						  w->tensors[i].name, (unsigned long long)padded);
			if (n == cap || n == FY_GGUF_SPLIT_MAX)
				return fy_err_set(err, FY_EINVAL,
						  "more than %d shards: raise the split limits",
						  FY_GGUF_SPLIT_MAX);
			first[n++] = i;
			cur = padded;
		} else {
			cur += padded;
		}
	}
	*n_out = n;
	return FY_OK;
}

int fy_gguf_writer_write_split(struct fy_gguf_writer *w, const char *path,
			       const struct fy_gguf_split_opts *o, fy_tensor_data_fn fn, void *ctx,
			       size_t *n_shards, struct fy_err *err)
{
	const size_t cap = w->n_tensors + 1;
	size_t *first = calloc(cap, sizeof(*first));
	struct fy_atomic *files = NULL;
	char *name = NULL;
	const size_t name_cap = strlen(path) + 32;
	size_t n = 0;
	int rc = FY_OK;

	if (first == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	FY_TRY(rc, fy_gguf_split_plan(w, o, first, cap, &n, err));
	*n_shards = n;
	if (n == 1 && !o->always_name) {
		free(first);
		return fy_gguf_writer_write(w, path, fn, ctx, err);
	}
	files = calloc(n, sizeof(*files));
	name = malloc(name_cap);
	if (files == NULL || name == NULL) {
		rc = fy_err_set(err, FY_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t k = 0; k < n; k++)
		files[k].fd = -1;
	for (size_t k = 0; k < n; k++) {
		const struct part p = { k == 0,
					(int)k,
					(int)n,
					first[k],
					k + 1 < n ? first[k + 1] : w->n_tensors,
					o->first != NULL };
		FY_TRY(rc, fy_gguf_split_path(name, name_cap, path, k, n, err));
		FY_TRY(rc, write_part(w, &p, &files[k], name, fn, ctx, err));
	}
	/* every shard written: only now do they take their names */
	for (size_t k = 0; k < n; k++)
		FY_TRY(rc, fy_atomic_commit(&files[k], err));
out:
	for (size_t k = 0; files != NULL && k < n; k++)
		fy_atomic_abort(&files[k]);
	free(files);
	free(name);
	free(first);
	return rc;
}

int fy_gguf_split_path(char *out, size_t cap, const char *path, size_t k, size_t n,
		       struct fy_err *err)
{
	size_t len = strlen(path);
	if (len > 5 && strcmp(path + len - 5, ".gguf") == 0)
		len -= 5;
	const int w = snprintf(out, cap, "%.*s-%05zu-of-%05zu.gguf", (int)len, path, k + 1, n);
	if (w <= 0 || (size_t)w >= cap)
		return fy_err_set(err, FY_EINVAL, "%s: path too long for a shard name", path);
	return FY_OK;
}
