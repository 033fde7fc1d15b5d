/*
 * Builds the JSON description that `ferry inspect` prints. Layout (docs/CLI.md):
 *   file:       {path, format, size, header_size, [version, alignment, data_offset],
 *                metadata, tensors: [{name, type, shape, offset, bytes}], totals}
 *   directory:  {path, format: "directory", config, index, files: [file...], totals}
 * GGUF shapes are ggml's ne order (fastest first); safetensors shapes are PyTorch order.
 */
#include "cli/inspect.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Per-type totals, indexed by enum fy_dtype. */
struct totals {
	uint64_t tensors[FY_DTYPE_COUNT];
	uint64_t params[FY_DTYPE_COUNT];
	uint64_t bytes[FY_DTYPE_COUNT];
};

static void totals_add(struct totals *t, enum fy_dtype type, int64_t n, uint64_t bytes)
{
	t->tensors[type]++;
	t->params[type] += (uint64_t)n;
	t->bytes[type] += bytes;
}

static struct fy_json *totals_json(const struct totals *t)
{
	struct fy_json *o = fy_json_object();
	struct fy_json *types = fy_json_object();
	uint64_t tensors = 0, params = 0, bytes = 0;
	int i;

	for (i = 0; i < FY_DTYPE_COUNT; i++) {
		struct fy_json *row;

		if (t->tensors[i] == 0)
			continue;
		row = fy_json_object();
		fy_json_set(row, "tensors", fy_json_integer((int64_t)t->tensors[i]));
		fy_json_set(row, "parameters", fy_json_integer((int64_t)t->params[i]));
		fy_json_set(row, "bytes", fy_json_integer((int64_t)t->bytes[i]));
		fy_json_set(types, fy_dtype_name(i), row);
		tensors += t->tensors[i];
		params += t->params[i];
		bytes += t->bytes[i];
	}
	fy_json_set(o, "tensors", fy_json_integer((int64_t)tensors));
	fy_json_set(o, "parameters", fy_json_integer((int64_t)params));
	fy_json_set(o, "bytes", fy_json_integer((int64_t)bytes));
	fy_json_set(o, "types", types);
	return o;
}

/* A JSON string from bytes that may not be UTF-8: invalid bytes become U+FFFD. */
static struct fy_json *lossy_string(const char *p, size_t n)
{
	struct fy_json *s = fy_json_stringn(p, n);
	struct fy_buf b;
	size_t i;

	if (s != NULL)
		return s;
	fy_buf_init(&b);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c < 0x80 && c != 0)
			fy_buf_append(&b, &c, 1, NULL);
		else
			fy_buf_append(&b, "\xef\xbf\xbd", 3, NULL);
	}
	s = fy_json_stringn(b.data ? (const char *)b.data : "", b.len);
	fy_buf_release(&b);
	return s;
}

static struct fy_json *gguf_value_json(const struct fy_gguf_value *v)
{
	switch (v->type) {
	case FY_GGUF_U8:
	case FY_GGUF_U16:
	case FY_GGUF_U32:
	case FY_GGUF_U64:
		if (v->u > INT64_MAX) { /* beyond JSON integers here: a decimal string */
			char digits[24];

			snprintf(digits, sizeof(digits), "%llu", (unsigned long long)v->u);
			return fy_json_string(digits);
		}
		return fy_json_integer((int64_t)v->u);
	case FY_GGUF_I8:
	case FY_GGUF_I16:
	case FY_GGUF_I32:
	case FY_GGUF_I64:
		return fy_json_integer(v->i);
	case FY_GGUF_F32:
	case FY_GGUF_F64:
		return fy_json_real(v->f);
	case FY_GGUF_BOOL:
		return fy_json_bool(v->b);
	case FY_GGUF_STRING:
		return lossy_string(v->s.ptr, v->s.len);
	default:
		return fy_json_null();
	}
}

static struct fy_json *gguf_kv_json(const struct fy_gguf_kv *kv, bool full)
{
	struct fy_json *o = fy_json_object();
	struct fy_json *arr;
	uint64_t n;
	uint64_t i;

	fy_json_set(o, "type", fy_json_string(fy_gguf_type_name(kv->type)));
	if (kv->type != FY_GGUF_ARRAY) {
		fy_json_set(o, "value", gguf_value_json(&kv->v));
		return o;
	}
	fy_json_set(o, "element_type", fy_json_string(fy_gguf_type_name(kv->arr_type)));
	fy_json_set(o, "count", fy_json_integer((int64_t)kv->arr_count));
	n = full || kv->arr_count <= FY_INSPECT_PREVIEW ? kv->arr_count : FY_INSPECT_PREVIEW;
	arr = fy_json_array();
	for (i = 0; i < n; i++) {
		struct fy_gguf_value v = fy_gguf_arr_at(kv, i);

		fy_json_push(arr, gguf_value_json(&v));
	}
	fy_json_set(o, "value", arr);
	if (n < kv->arr_count)
		fy_json_set(o, "truncated", fy_json_bool(true));
	return o;
}

static struct fy_json *shape_json(const int64_t *dims, int n)
{
	struct fy_json *a = fy_json_array();
	int i;

	for (i = 0; i < n; i++)
		fy_json_push(a, fy_json_integer(dims[i]));
	return a;
}

static struct fy_json *tensor_json(const char *name, enum fy_dtype type, const int64_t *dims,
				   int n_dims, uint64_t offset, uint64_t bytes)
{
	struct fy_json *o = fy_json_object();

	fy_json_set(o, "name", fy_json_string(name));
	fy_json_set(o, "type", fy_json_string(fy_dtype_name(type)));
	fy_json_set(o, "shape", shape_json(dims, n_dims));
	fy_json_set(o, "offset", fy_json_integer((int64_t)offset));
	fy_json_set(o, "bytes", fy_json_integer((int64_t)bytes));
	return o;
}

static struct fy_json *describe_gguf(const struct fy_gguf *g, bool full, struct totals *tot)
{
	struct fy_json *o = fy_json_object();
	struct fy_json *meta = fy_json_object();
	struct fy_json *tensors = fy_json_array();
	size_t i;

	fy_json_set(o, "path", fy_json_string(fy_gguf_label(g)));
	fy_json_set(o, "format", fy_json_string("gguf"));
	fy_json_set(o, "version", fy_json_integer(fy_gguf_version(g)));
	fy_json_set(o, "size", fy_json_integer((int64_t)fy_gguf_file_size(g)));
	fy_json_set(o, "header_size", fy_json_integer((int64_t)fy_gguf_header_size(g)));
	fy_json_set(o, "alignment", fy_json_integer(fy_gguf_alignment(g)));
	fy_json_set(o, "data_offset", fy_json_integer((int64_t)fy_gguf_data_offset(g)));
	for (i = 0; i < fy_gguf_kv_count(g); i++) {
		const struct fy_gguf_kv *kv = fy_gguf_kv_at(g, i);

		fy_json_set(meta, kv->key, gguf_kv_json(kv, full));
	}
	fy_json_set(o, "metadata", meta);
	for (i = 0; i < fy_gguf_tensor_count(g); i++) {
		const struct fy_gguf_tensor *t = fy_gguf_tensor_at(g, i);

		fy_json_push(tensors,
			     tensor_json(t->name, t->type, t->ne, t->n_dims, t->offset, t->nbytes));
		totals_add(tot, t->type, t->n_elems, t->nbytes);
	}
	fy_json_set(o, "tensors", tensors);
	return o;
}

static struct fy_json *describe_st(const struct fy_st_file *f, struct totals *tot)
{
	struct fy_json *o = fy_json_object();
	struct fy_json *meta = fy_json_object();
	struct fy_json *tensors = fy_json_array();
	const char *k;
	const char *v;
	size_t i;

	fy_json_set(o, "path", fy_json_string(fy_st_label(f)));
	fy_json_set(o, "format", fy_json_string("safetensors"));
	fy_json_set(o, "size", fy_json_integer((int64_t)fy_st_file_size(f)));
	fy_json_set(o, "header_size", fy_json_integer((int64_t)fy_st_header_size(f)));
	fy_json_set(o, "data_offset", fy_json_integer((int64_t)(8 + fy_st_header_size(f))));
	for (i = 0; i < fy_st_meta_count(f); i++) {
		fy_st_meta_at(f, i, &k, &v);
		fy_json_set(meta, k, fy_json_string(v));
	}
	fy_json_set(o, "metadata", meta);
	for (i = 0; i < fy_st_count(f); i++) {
		const struct fy_st_tensor *t = fy_st_at(f, i);

		fy_json_push(tensors, tensor_json(t->name, t->dtype, t->shape, t->n_dims, t->begin,
						  t->end - t->begin));
		totals_add(tot, t->dtype, t->n_elems, t->end - t->begin);
	}
	fy_json_set(o, "tensors", tensors);
	return o;
}

static int sniff_file(const char *path, enum fy_format *out, struct fy_err *err)
{
	uint8_t head[64];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return fy_err_sys(err, FY_EIO, "cannot open '%s'", path);
	n = read(fd, head, sizeof(head));
	close(fd);
	if (n < 0)
		return fy_err_sys(err, FY_EIO, "cannot read '%s'", path);
	*out = fy_format_sniff(head, (size_t)n);
	if (*out == FY_FORMAT_UNKNOWN)
		return fy_err_set(err, FY_EFORMAT, "%s: not a safetensors or GGUF file", path);
	return FY_OK;
}

static int describe_path(const char *path, bool full, struct totals *tot, struct fy_json **out,
			 struct fy_err *err)
{
	struct fy_gguf *g = NULL;
	struct fy_st_file *f = NULL;
	enum fy_format fmt = FY_FORMAT_UNKNOWN;
	int rc;

	rc = sniff_file(path, &fmt, err);
	if (rc != FY_OK)
		return rc;
	if (fmt == FY_FORMAT_GGUF) {
		rc = fy_gguf_open(&g, path, err);
		if (rc == FY_OK)
			*out = describe_gguf(g, full, tot);
		fy_gguf_free(g);
	} else {
		rc = fy_st_open(&f, path, err);
		if (rc == FY_OK)
			*out = describe_st(f, tot);
		fy_st_free(f);
	}
	return rc;
}

int fy_inspect_file(const char *path, bool full, struct fy_json **out, struct fy_err *err)
{
	struct totals *tot = calloc(1, sizeof(*tot));
	struct fy_json *o = NULL;
	int rc;

	if (tot == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	rc = describe_path(path, full, tot, &o, err);
	if (rc == FY_OK) {
		fy_json_set(o, "totals", totals_json(tot));
		*out = o;
	}
	free(tot);
	return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Directories                                                                                */

static void set_int_if(struct fy_json *o, const char *key, int64_t v)
{
	if (v >= 0)
		fy_json_set(o, key, fy_json_integer(v));
}

static void set_str_if(struct fy_json *o, const char *key, const char *v)
{
	if (v[0] != '\0')
		fy_json_set(o, key, fy_json_string(v));
}

static struct fy_json *config_json(const struct fy_hf_config *c)
{
	struct fy_json *o = fy_json_object();

	set_str_if(o, "architecture", c->architecture);
	set_str_if(o, "model_type", c->model_type);
	set_str_if(o, "torch_dtype", c->torch_dtype);
	set_str_if(o, "quant_method", c->quant_method);
	set_int_if(o, "hidden_size", c->hidden_size);
	set_int_if(o, "intermediate_size", c->intermediate_size);
	set_int_if(o, "num_hidden_layers", c->n_layers);
	set_int_if(o, "num_attention_heads", c->n_heads);
	set_int_if(o, "num_key_value_heads", c->n_kv_heads);
	set_int_if(o, "head_dim", c->head_dim);
	set_int_if(o, "vocab_size", c->vocab_size);
	set_int_if(o, "max_position_embeddings", c->context_length);
	set_int_if(o, "num_experts", c->n_experts);
	set_int_if(o, "num_experts_per_tok", c->n_experts_used);
	if (c->tie_word_embeddings >= 0)
		fy_json_set(o, "tie_word_embeddings", fy_json_bool(c->tie_word_embeddings));
	return o;
}

static int describe_config(const char *dir, struct fy_json *o, struct fy_err *err)
{
	struct fy_hf_config cfg;
	char *path = fy_path_join(dir, "config.json");
	struct stat st;
	int rc = FY_OK;

	if (path == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	if (stat(path, &st) == 0) {
		rc = fy_hf_config_load(&cfg, path, err);
		if (rc == FY_OK)
			fy_json_set(o, "config", config_json(&cfg));
	}
	free(path);
	return rc;
}

static int describe_checkpoint(const char *dir, struct fy_json *files, struct fy_json *o,
			       struct totals *tot, struct fy_err *err)
{
	struct fy_st_model *m = NULL;
	struct fy_json *index;
	size_t i;
	int rc;

	rc = fy_st_model_open(&m, dir, err);
	if (rc != FY_OK)
		return rc;
	if (fy_st_model_declared_size(m) >= 0) {
		index = fy_json_object();
		fy_json_set(index, "file", fy_json_string("model.safetensors.index.json"));
		fy_json_set(index, "total_size", fy_json_integer(fy_st_model_declared_size(m)));
		fy_json_set(o, "index", index);
	}
	for (i = 0; i < fy_st_model_shards(m); i++)
		fy_json_push(files, describe_st(fy_st_model_shard(m, i), tot));
	fy_st_model_free(m);
	return FY_OK;
}

static int describe_ggufs(const char *dir, bool full, struct fy_json *files, struct totals *tot,
			  struct fy_err *err)
{
	char **names = NULL;
	struct fy_json *one;
	char *path;
	size_t n = 0;
	size_t i;
	int rc;

	rc = fy_dir_list(dir, ".gguf", &names, &n, err);
	for (i = 0; rc == FY_OK && i < n; i++) {
		path = fy_path_join(dir, names[i]);
		if (path == NULL) {
			rc = fy_err_set(err, FY_ENOMEM, "out of memory");
			break;
		}
		rc = describe_path(path, full, tot, &one, err);
		if (rc == FY_OK)
			fy_json_push(files, one);
		free(path);
	}
	fy_names_free(names, n);
	return rc;
}

static int dir_has(const char *dir, const char *suffix, bool *out, struct fy_err *err)
{
	char **names = NULL;
	size_t n = 0;
	int rc = fy_dir_list(dir, suffix, &names, &n, err);

	fy_names_free(names, n);
	*out = n > 0;
	return rc;
}

int fy_inspect_dir(const char *path, bool full, struct fy_json **out, struct fy_err *err)
{
	struct totals *tot = calloc(1, sizeof(*tot));
	struct fy_json *o = fy_json_object();
	struct fy_json *files = fy_json_array();
	bool has_st = false;
	int rc;

	if (tot == NULL || o == NULL || files == NULL) {
		rc = fy_err_set(err, FY_ENOMEM, "out of memory");
		goto out;
	}
	fy_json_set(o, "path", fy_json_string(path));
	fy_json_set(o, "format", fy_json_string("directory"));
	FY_TRY(rc, describe_config(path, o, err));
	FY_TRY(rc, dir_has(path, ".safetensors", &has_st, err));
	if (!has_st) {
		char *index = fy_path_join(path, "model.safetensors.index.json");
		struct stat st;

		has_st = index != NULL && stat(index, &st) == 0;
		free(index);
	}
	if (has_st)
		FY_TRY(rc, describe_checkpoint(path, files, o, tot, err));
	FY_TRY(rc, describe_ggufs(path, full, files, tot, err));
	if (fy_json_size(files) == 0) {
		rc = fy_err_set(err, FY_ENOTFOUND, "%s: no safetensors or GGUF files", path);
		goto out;
	}
	fy_json_set(o, "files", files);
	files = NULL;
	fy_json_set(o, "totals", totals_json(tot));
	*out = o;
	o = NULL;
out:
	fy_json_free(files);
	fy_json_free(o);
	free(tot);
	return rc;
}
