/*
 * safetensors reader and writer.
 *
 * File: u64 little-endian N | N bytes of JSON header | data buffer. The header maps tensor names
 * to {dtype, shape, data_offsets} plus an optional "__metadata__" string map. Sorted by offset,
 * tensors must tile the data buffer exactly (no gap, no overlap, no trailing bytes).
 */
#include "convert/convert.h"

#include <stdlib.h>
#include <string.h>

struct fy_st_file {
	char *label;
	struct fy_map map; /* empty when parsing borrowed memory */
	const uint8_t *data;
	uint64_t size;
	uint64_t header_len;
	struct fy_json *header; /* owns the tensor names and metadata strings */
	struct fy_st_tensor *tensors;
	size_t n_tensors;
	const char **meta; /* key, value, key, value, ... */
	size_t n_meta;
	struct fy_index names;
};

/* Names of dtypes in the safetensors spec that ferry does not read. */
static const char *const unsupported_dtypes[] = { "F4", "F6_E2M3", "F6_E3M2", NULL };

static int parse_dtype(struct fy_st_file *f, const char *name, const struct fy_json *v,
		       enum fy_dtype *out, struct fy_err *err)
{
	const char *s = fy_json_str(v);
	int i;

	if (s == NULL)
		return fy_err_set(err, FY_EFORMAT, "%s: tensor '%s': dtype is not a string",
				  f->label, name);
	for (i = 0; unsupported_dtypes[i] != NULL; i++) {
		if (strcmp(s, unsupported_dtypes[i]) == 0)
			return fy_err_set(err, FY_EUNSUPPORTED,
					  "%s: tensor '%s': dtype '%s' is not supported "
					  "(supported: %s)",
					  f->label, name, s, fy_dtype_st_supported());
	}
	if (!fy_dtype_from_st(s, out))
		return fy_err_set(err, FY_EFORMAT, "%s: tensor '%s': unknown dtype '%s'", f->label,
				  name, s);
	return FY_OK;
}

static int parse_shape(struct fy_st_file *f, struct fy_st_tensor *t, const struct fy_json *v,
		       struct fy_err *err)
{
	size_t n = fy_json_size(v);
	int64_t numel = 1;
	int64_t d;
	size_t i;

	if (v == NULL || fy_json_type(v) != FY_JSON_ARRAY)
		return fy_err_set(err, FY_EFORMAT, "%s: tensor '%s': shape is not an array",
				  f->label, t->name);
	if (n > FY_ST_MAX_DIMS)
		return fy_err_set(err, FY_EUNSUPPORTED,
				  "%s: tensor '%s': %zu dimensions (at most %d supported)",
				  f->label, t->name, n, FY_ST_MAX_DIMS);
	for (i = 0; i < n; i++) {
		if (!fy_json_int(fy_json_at(v, i), &d) || d < 0)
			return fy_err_set(err, FY_EFORMAT,
					  "%s: tensor '%s': dimension %zu is not a "
					  "non-negative integer",
					  f->label, t->name, i);
		if (__builtin_mul_overflow(numel, d, &numel))
			return fy_err_set(err, FY_EFORMAT,
					  "%s: tensor '%s': element count overflows", f->label,
					  t->name);
		t->shape[i] = d;
	}
	t->n_dims = (int)n;
	t->n_elems = numel;
	return FY_OK;
}

static int parse_offsets(struct fy_st_file *f, struct fy_st_tensor *t, const struct fy_json *v,
			 struct fy_err *err)
{
	int64_t b;
	int64_t e;

	if (v == NULL || fy_json_type(v) != FY_JSON_ARRAY || fy_json_size(v) != 2 ||
	    !fy_json_int(fy_json_at(v, 0), &b) || !fy_json_int(fy_json_at(v, 1), &e) || b < 0 ||
	    e < 0)
		return fy_err_set(err, FY_EFORMAT,
				  "%s: tensor '%s': data_offsets is not a pair of "
				  "non-negative integers",
				  f->label, t->name);
	if (e < b)
		return fy_err_set(err, FY_EFORMAT,
				  "%s: tensor '%s': data_offsets end %lld before begin %lld",
				  f->label, t->name, (long long)e, (long long)b);
	t->begin = (uint64_t)b;
	t->end = (uint64_t)e;
	return FY_OK;
}

static int parse_tensor(struct fy_st_file *f, struct fy_st_tensor *t, const struct fy_json *v,
			struct fy_err *err)
{
	uint64_t nbytes;
	void *it;
	int rc;

	if (fy_json_type(v) != FY_JSON_OBJECT)
		return fy_err_set(err, FY_EFORMAT, "%s: tensor '%s' is not a JSON object", f->label,
				  t->name);
	for (it = fy_json_iter(v); it != NULL; it = fy_json_next(v, it)) {
		const char *k = fy_json_iter_key(it);

		if (strcmp(k, "dtype") != 0 && strcmp(k, "shape") != 0 &&
		    strcmp(k, "data_offsets") != 0)
			return fy_err_set(err, FY_EFORMAT, "%s: tensor '%s': unknown field '%s'",
					  f->label, t->name, k);
	}
	rc = parse_dtype(f, t->name, fy_json_get(v, "dtype"), &t->dtype, err);
	if (rc == FY_OK)
		rc = parse_shape(f, t, fy_json_get(v, "shape"), err);
	if (rc == FY_OK)
		rc = parse_offsets(f, t, fy_json_get(v, "data_offsets"), err);
	if (rc != FY_OK)
		return rc;
	if (!fy_dtype_nbytes(t->dtype, t->n_elems, &nbytes))
		return fy_err_set(err, FY_EFORMAT, "%s: tensor '%s': byte size overflows", f->label,
				  t->name);
	if (t->end - t->begin != nbytes)
		return fy_err_set(err, FY_EFORMAT,
				  "%s: tensor '%s': data_offsets span %llu bytes but %s%s needs "
				  "%llu",
				  f->label, t->name, (unsigned long long)(t->end - t->begin),
				  fy_dtype_name(t->dtype), t->n_dims ? " of its shape" : "",
				  (unsigned long long)nbytes);
	return FY_OK;
}

static int parse_metadata(struct fy_st_file *f, const struct fy_json *v, struct fy_err *err)
{
	size_t n = fy_json_size(v);
	size_t i = 0;
	void *it;

	if (fy_json_type(v) != FY_JSON_OBJECT)
		return fy_err_set(err, FY_EFORMAT, "%s: __metadata__ is not a JSON object",
				  f->label);
	f->meta = calloc(n * 2 + 1, sizeof(*f->meta));
	if (f->meta == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	for (it = fy_json_iter(v); it != NULL; it = fy_json_next(v, it)) {
		const char *val = fy_json_str(fy_json_iter_value(it));

		if (val == NULL)
			return fy_err_set(err, FY_EFORMAT,
					  "%s: __metadata__ value of '%s' is not a string",
					  f->label, fy_json_iter_key(it));
		f->meta[2 * i] = fy_json_iter_key(it);
		f->meta[2 * i + 1] = val;
		i++;
	}
	f->n_meta = i;
	return FY_OK;
}

static int cmp_offsets(const void *a, const void *b)
{
	const struct fy_st_tensor *x = a;
	const struct fy_st_tensor *y = b;

	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Sorted by offset, the tensors must tile [0, data size) exactly. */
static int check_tiling(struct fy_st_file *f, struct fy_err *err)
{
	uint64_t data_start = 8 + f->header_len;
	uint64_t data_size = f->size - data_start;
	uint64_t pos = 0;
	const char *prev = NULL;
	size_t i;

	qsort(f->tensors, f->n_tensors, sizeof(*f->tensors), cmp_offsets);
	for (i = 0; i < f->n_tensors; i++) {
		struct fy_st_tensor *t = &f->tensors[i];

		if (t->begin > pos)
			return fy_err_set(err, FY_EFORMAT,
					  "%s: gap of %llu bytes before tensor '%s' (offset %llu)",
					  f->label, (unsigned long long)(t->begin - pos), t->name,
					  (unsigned long long)t->begin);
		if (t->begin < pos)
			return fy_err_set(err, FY_EFORMAT,
					  "%s: tensor '%s' (offset %llu) overlaps tensor '%s'",
					  f->label, t->name, (unsigned long long)t->begin, prev);
		if (t->end > data_size)
			return fy_err_set(
				err, FY_EFORMAT,
				"%s: tensor '%s' ends past end of file (data offset %llu, "
				"data buffer %llu bytes)",
				f->label, t->name, (unsigned long long)t->end,
				(unsigned long long)data_size);
		t->data = t->end > t->begin ? f->data + data_start + t->begin : NULL;
		pos = t->end;
		prev = t->name;
	}
	if (pos != data_size)
		return fy_err_set(err, FY_EFORMAT, "%s: %llu trailing bytes after the last tensor",
				  f->label, (unsigned long long)(data_size - pos));
	return FY_OK;
}

static int parse_header(struct fy_st_file *f, struct fy_err *err)
{
	struct fy_json *h = f->header;
	size_t n = fy_json_size(h);
	void *it;
	int rc = FY_OK;

	if (fy_json_type(h) != FY_JSON_OBJECT)
		return fy_err_set(err, FY_EFORMAT, "%s: header is a JSON %s, not an object",
				  f->label, fy_json_type_name(h));
	f->tensors = calloc(n ? n : 1, sizeof(*f->tensors));
	if (f->tensors == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	for (it = fy_json_iter(h); it != NULL; it = fy_json_next(h, it)) {
		const char *key = fy_json_iter_key(it);
		struct fy_json *v = fy_json_iter_value(it);
		struct fy_st_tensor *t = &f->tensors[f->n_tensors];

		if (strcmp(key, "__metadata__") == 0) {
			rc = parse_metadata(f, v, err);
		} else if (key[0] == '\0') {
			rc = fy_err_set(err, FY_EFORMAT, "%s: a tensor has an empty name",
					f->label);
		} else {
			t->name = key;
			rc = parse_tensor(f, t, v, err);
			f->n_tensors++;
		}
		if (rc != FY_OK)
			return rc;
	}
	return check_tiling(f, err);
}

static int build_name_index(struct fy_st_file *f, struct fy_err *err)
{
	size_t i;
	int rc;

	for (i = 0; i < f->n_tensors; i++) {
		const char *name = f->tensors[i].name;

		rc = fy_index_insert(&f->names, name, strlen(name), (int64_t)i, err);
		if (rc == FY_EEXIST)
			return fy_err_set(err, FY_EFORMAT, "%s: duplicate tensor name '%s'",
					  f->label, name);
		if (rc != FY_OK)
			return rc;
	}
	return FY_OK;
}

static int parse_image(struct fy_st_file *f, struct fy_err *err)
{
	uint64_t n;
	int rc;

	if (f->size < 8)
		return fy_err_set(err, FY_EFORMAT,
				  "%s: too short for a safetensors header (%llu bytes)", f->label,
				  (unsigned long long)f->size);
	n = fy_le64(f->data);
	if (n > FY_ST_MAX_HEADER)
		return fy_err_set(err, FY_EFORMAT,
				  "%s: header length %llu exceeds the limit of %llu bytes",
				  f->label, (unsigned long long)n, FY_ST_MAX_HEADER);
	if (n > f->size - 8)
		return fy_err_set(err, FY_EFORMAT,
				  "%s: header length %llu runs past end of file (%llu bytes)",
				  f->label, (unsigned long long)n, (unsigned long long)f->size);
	f->header_len = n;
	rc = fy_json_parse(&f->header, f->data + 8, (size_t)n, f->label, err);
	if (rc != FY_OK)
		return rc;
	rc = parse_header(f, err);
	if (rc != FY_OK)
		return rc;
	return build_name_index(f, err);
}

static struct fy_st_file *st_alloc(const char *label)
{
	struct fy_st_file *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return NULL;
	f->label = strdup(label);
	if (f->label == NULL) {
		free(f);
		return NULL;
	}
	fy_index_init(&f->names);
	return f;
}

int fy_st_parse(struct fy_st_file **out, const void *data, size_t size, const char *label,
		struct fy_err *err)
{
	struct fy_st_file *f = st_alloc(label);
	int rc;

	if (f == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	f->data = data;
	f->size = size;
	rc = parse_image(f, err);
	if (rc != FY_OK) {
		fy_st_free(f);
		return rc;
	}
	*out = f;
	return FY_OK;
}

int fy_st_open(struct fy_st_file **out, const char *path, struct fy_err *err)
{
	struct fy_st_file *f = st_alloc(path);
	int rc;

	if (f == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	rc = fy_map_open(&f->map, path, err);
	if (rc == FY_OK) {
		f->data = f->map.data;
		f->size = f->map.size;
		rc = parse_image(f, err);
	}
	if (rc != FY_OK) {
		fy_st_free(f);
		return rc;
	}
	*out = f;
	return FY_OK;
}

void fy_st_free(struct fy_st_file *f)
{
	if (f == NULL)
		return;
	fy_index_release(&f->names);
	free(f->tensors);
	free(f->meta);
	fy_json_free(f->header);
	fy_map_release(&f->map);
	free(f->label);
	free(f);
}

const char *fy_st_label(const struct fy_st_file *f)
{
	return f->label;
}

uint64_t fy_st_file_size(const struct fy_st_file *f)
{
	return f->size;
}

uint64_t fy_st_header_size(const struct fy_st_file *f)
{
	return f->header_len;
}

size_t fy_st_count(const struct fy_st_file *f)
{
	return f->n_tensors;
}

const struct fy_st_tensor *fy_st_at(const struct fy_st_file *f, size_t i)
{
	return i < f->n_tensors ? &f->tensors[i] : NULL;
}

const struct fy_st_tensor *fy_st_find(const struct fy_st_file *f, const char *name)
{
	int64_t i;

	if (!fy_index_find(&f->names, name, strlen(name), &i))
		return NULL;
	return &f->tensors[i];
}

size_t fy_st_meta_count(const struct fy_st_file *f)
{
	return f->n_meta;
}

void fy_st_meta_at(const struct fy_st_file *f, size_t i, const char **key, const char **value)
{
	*key = f->meta[2 * i];
	*value = f->meta[2 * i + 1];
}

/* ------------------------------------------------------------------------------------------ */
/* Writer                                                                                     */

struct wtensor {
	char *name;
	enum fy_dtype dtype;
	int n_dims;
	int64_t shape[FY_ST_MAX_DIMS];
	uint64_t nbytes;
};

struct fy_st_writer {
	struct wtensor *tensors;
	size_t n_tensors;
	size_t cap;
	struct fy_json *meta; /* object, or NULL when there is none */
	struct fy_index names;
};

int fy_st_writer_new(struct fy_st_writer **out, struct fy_err *err)
{
	struct fy_st_writer *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	fy_index_init(&w->names);
	*out = w;
	return FY_OK;
}

void fy_st_writer_free(struct fy_st_writer *w)
{
	size_t i;

	if (w == NULL)
		return;
	for (i = 0; i < w->n_tensors; i++)
		free(w->tensors[i].name);
	free(w->tensors);
	fy_json_free(w->meta);
	fy_index_release(&w->names);
	free(w);
}

int fy_st_writer_meta(struct fy_st_writer *w, const char *key, const char *value,
		      struct fy_err *err)
{
	if (w->meta == NULL)
		w->meta = fy_json_object();
	if (w->meta == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	if (fy_json_get(w->meta, key) != NULL)
		return fy_err_set(err, FY_EEXIST, "duplicate metadata key '%s'", key);
	if (fy_json_set(w->meta, key, fy_json_string(value)) != 0)
		return fy_err_set(err, FY_EINVAL, "metadata '%s' is not valid UTF-8", key);
	return FY_OK;
}

static int check_new_tensor(struct fy_st_writer *w, const char *name, enum fy_dtype dtype,
			    int n_dims, struct fy_err *err)
{
	const struct fy_dtype_info *d = fy_dtype_info(dtype);
	int64_t dummy;

	if (d == NULL || d->st_name == NULL)
		return fy_err_set(err, FY_EUNSUPPORTED,
				  "tensor '%s': type %s cannot be stored in safetensors", name,
				  fy_dtype_name(dtype));
	if (name[0] == '\0' || strcmp(name, "__metadata__") == 0)
		return fy_err_set(err, FY_EINVAL, "invalid tensor name '%s'", name);
	if (n_dims < 0 || n_dims > FY_ST_MAX_DIMS)
		return fy_err_set(err, FY_EINVAL, "tensor '%s': %d dimensions", name, n_dims);
	if (fy_index_find(&w->names, name, strlen(name), &dummy))
		return fy_err_set(err, FY_EEXIST, "duplicate tensor name '%s'", name);
	return FY_OK;
}

int fy_st_writer_add(struct fy_st_writer *w, const char *name, enum fy_dtype dtype, int n_dims,
		     const int64_t *shape, struct fy_err *err)
{
	struct wtensor *t;
	int64_t numel = 1;
	int i;
	int rc;

	rc = check_new_tensor(w, name, dtype, n_dims, err);
	if (rc != FY_OK)
		return rc;
	if (w->n_tensors == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 64;
		struct wtensor *p = realloc(w->tensors, cap * sizeof(*p));

		if (p == NULL)
			return fy_err_set(err, FY_ENOMEM, "out of memory");
		w->tensors = p;
		w->cap = cap;
	}
	t = &w->tensors[w->n_tensors];
	memset(t, 0, sizeof(*t));
	for (i = 0; i < n_dims; i++) {
		if (shape[i] < 0 || __builtin_mul_overflow(numel, shape[i], &numel))
			return fy_err_set(err, FY_EINVAL, "tensor '%s': invalid shape", name);
		t->shape[i] = shape[i];
	}
	if (!fy_dtype_nbytes(dtype, numel, &t->nbytes))
		return fy_err_set(err, FY_EINVAL, "tensor '%s': byte size overflows", name);
	t->name = strdup(name);
	if (t->name == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	rc = fy_index_insert(&w->names, t->name, strlen(t->name), (int64_t)w->n_tensors, err);
	if (rc != FY_OK) {
		free(t->name);
		return rc;
	}
	t->dtype = dtype;
	t->n_dims = n_dims;
	w->n_tensors++;
	return FY_OK;
}

/* The reference implementation's order: dtype descending (its enum order), then name. */
static int cmp_layout(const void *a, const void *b, void *arg)
{
	const struct fy_st_writer *w = arg;
	const struct wtensor *x = &w->tensors[*(const size_t *)a];
	const struct wtensor *y = &w->tensors[*(const size_t *)b];
	int rx = fy_dtype_info(x->dtype)->st_rank;
	int ry = fy_dtype_info(y->dtype)->st_rank;

	if (rx != ry)
		return ry - rx;
	return strcmp(x->name, y->name);
}

static struct fy_json *tensor_json(const struct wtensor *t, uint64_t begin)
{
	struct fy_json *o = fy_json_object();
	struct fy_json *shape = fy_json_array();
	struct fy_json *offs = fy_json_array();
	int bad = 0;
	int i;

	for (i = 0; i < t->n_dims; i++)
		bad |= fy_json_push(shape, fy_json_integer(t->shape[i]));
	bad |= fy_json_push(offs, fy_json_integer((int64_t)begin));
	bad |= fy_json_push(offs, fy_json_integer((int64_t)(begin + t->nbytes)));
	bad |= fy_json_set(o, "dtype", fy_json_string(fy_dtype_info(t->dtype)->st_name));
	bad |= fy_json_set(o, "shape", shape);
	bad |= fy_json_set(o, "data_offsets", offs);
	if (bad) {
		fy_json_free(o);
		return NULL;
	}
	return o;
}

/* Builds the padded header text for the layout in `order`. */
static int build_header(struct fy_st_writer *w, const size_t *order, struct fy_buf *out,
			struct fy_err *err)
{
	struct fy_json *h = fy_json_object();
	uint64_t pos = 0;
	char *text = NULL;
	size_t i;
	int rc = FY_OK;

	if (h == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	if (w->meta != NULL && fy_json_set(h, "__metadata__", w->meta) == 0)
		w->meta = NULL; /* now owned by h; the writer is single-use */
	for (i = 0; i < w->n_tensors; i++) {
		const struct wtensor *t = &w->tensors[order[i]];

		if (fy_json_set(h, t->name, tensor_json(t, pos)) != 0) {
			rc = fy_err_set(err, FY_ENOMEM, "out of memory");
			goto out;
		}
		pos += t->nbytes;
	}
	text = fy_json_dump(h, 0);
	if (text == NULL) {
		rc = fy_err_set(err, FY_ENOMEM, "out of memory");
		goto out;
	}
	FY_TRY(rc, fy_buf_append(out, text, strlen(text), err));
	while (out->len % 8 != 0)
		FY_TRY(rc, fy_buf_append(out, " ", 1, err));
out:
	free(text);
	fy_json_free(h);
	return rc;
}

static int write_tensors(struct fy_st_writer *w, struct fy_atomic *a, const size_t *order,
			 fy_tensor_data_fn fn, void *ctx, struct fy_err *err)
{
	size_t i;
	int rc;

	for (i = 0; i < w->n_tensors; i++) {
		const struct wtensor *t = &w->tensors[order[i]];
		struct fy_sink sink = { a, t->nbytes, t->name };

		if (t->nbytes == 0)
			continue;
		rc = fn(ctx, order[i], &sink, err);
		if (rc != FY_OK)
			return rc;
		if (sink.left != 0)
			return fy_err_set(err, FY_EINVAL,
					  "tensor '%s': data callback wrote %llu bytes too few",
					  t->name, (unsigned long long)sink.left);
	}
	return FY_OK;
}

int fy_st_writer_write(struct fy_st_writer *w, const char *path, fy_tensor_data_fn fn, void *ctx,
		       struct fy_err *err)
{
	struct fy_atomic a = { .fd = -1 };
	struct fy_buf hdr;
	uint8_t len[8];
	size_t *order = NULL;
	size_t i;
	int rc = FY_OK;

	fy_buf_init(&hdr);
	order = malloc((w->n_tensors ? w->n_tensors : 1) * sizeof(*order));
	if (order == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	for (i = 0; i < w->n_tensors; i++)
		order[i] = i;
	qsort_r(order, w->n_tensors, sizeof(*order), cmp_layout, w);
	FY_TRY(rc, build_header(w, order, &hdr, err));
	FY_TRY(rc, fy_atomic_open(&a, path, err));
	for (i = 0; i < 8; i++)
		len[i] = (uint8_t)((uint64_t)hdr.len >> (8 * i));
	FY_TRY(rc, fy_atomic_write(&a, len, sizeof(len), err));
	FY_TRY(rc, fy_atomic_write(&a, hdr.data, hdr.len, err));
	FY_TRY(rc, write_tensors(w, &a, order, fn, ctx, err));
	rc = fy_atomic_commit(&a, err);
out:
	fy_atomic_abort(&a);
	fy_buf_release(&hdr);
	free(order);
	return rc;
}
