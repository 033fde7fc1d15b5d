/*
 * Re-quantizing a GGUF file (`ferry quant`): plan every tensor's type with quant/'s mixture
 * rules, then stream the tensors through the atomic GGUF writer in llama.cpp's order. Each
 * converted tensor goes in batches of rows: rows are dequantized to F32 and quantized on the
 * thread pool into one batch buffer, which is written before the next batch; memory stays at a
 * batch plus one row per thread, whatever the model size.
 */
#include "convert/convert.h"
#include "quant/quant.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_BYTES (16u << 20) /* output bytes converted per parallel batch */

struct requant {
	struct fy_gguf *in;
	const struct fy_requant_opts *opts;
	struct fy_pool *pool;
	struct fy_quant_choice *plan;
	size_t n;
	char **names; /* the output name of plan entry k where it differs (--prune-layers), or NULL
		       */
	uint32_t block_count; /* the layers kept (--prune-layers) */
	size_t *first;	      /* --keep-split: the first plan entry of each input shard */
	size_t n_first;
	struct fy_requant_report *rep;
	/* the batch being converted */
	const struct fy_gguf_tensor *t;
	enum fy_dtype to;
	int64_t ne0;
	size_t in_row, out_row;
	int64_t row0;
	uint8_t *out;
	const float *qw; /* the tensor's importance values (ne0 per expert), or NULL */
};

/* --- the model's hyper-parameters ---------------------------------------------------------- */

/* An integer KV (any integer type; for an array, its first element), or def. */
static int kv_int(const struct fy_gguf *g, const char *arch, const char *suffix, int def)
{
	char key[160];
	snprintf(key, sizeof(key), "%s.%s", arch, suffix);
	const struct fy_gguf_kv *kv = fy_gguf_find_kv(g, key);
	if (kv == NULL)
		return def;
	struct fy_gguf_value v = kv->v;
	if (kv->type == FY_GGUF_ARRAY) {
		if (kv->arr_count == 0)
			return def;
		v = fy_gguf_arr_at(kv, 0);
	}
	switch (v.type) {
	case FY_GGUF_U8:
	case FY_GGUF_U16:
	case FY_GGUF_U32:
	case FY_GGUF_U64:
		return v.u > 1000000 ? def : (int)v.u;
	case FY_GGUF_I8:
	case FY_GGUF_I16:
	case FY_GGUF_I32:
	case FY_GGUF_I64:
		return v.i < 0 || v.i > 1000000 ? def : (int)v.i;
	default:
		return def;
	}
}

static int read_model(const struct fy_gguf *g, struct fy_quant_model *m, char *arch, size_t cap,
		      struct fy_err *err)
{
	const struct fy_gguf_kv *a = fy_gguf_find_kv(g, "general.architecture");
	if (a == NULL || a->type != FY_GGUF_STRING || a->v.s.len == 0 || a->v.s.len >= cap)
		return fy_err_set(err, FY_EFORMAT, "%s: no general.architecture string",
				  fy_gguf_label(g));
	memcpy(arch, a->v.s.ptr, a->v.s.len);
	arch[a->v.s.len] = '\0';
	memset(m, 0, sizeof(*m));
	m->arch = arch;
	m->n_layer = kv_int(g, arch, "block_count", 0);
	m->n_head = kv_int(g, arch, "attention.head_count", 0);
	m->n_head_kv = kv_int(g, arch, "attention.head_count_kv", m->n_head);
	m->n_expert = kv_int(g, arch, "expert_count", 0);
	return FY_OK;
}

/* --override-kv as llama-quantize's model loader applies it to the hyper-parameters its rules
 * read (block_count, attention.head_count[_kv], expert_count): an int override replaces the
 * file's value; another type for one of them is refused, as the loader refuses it. */
static int override_model(struct fy_quant_model *m, const char *arch,
			  const struct fy_requant_opts *o, struct fy_err *err)
{
	static const char *const keys[] = { "block_count", "attention.head_count",
					    "attention.head_count_kv", "expert_count" };
	int *const dest[] = { &m->n_layer, &m->n_head, &m->n_head_kv, &m->n_expert };
	for (size_t i = 0; i < o->n_kv_overrides; i++) {
		const struct fy_gguf_kv_override *kv = &o->kv_overrides[i];
		const size_t n = strlen(arch);
		if (strncmp(kv->key, arch, n) != 0 || kv->key[n] != '.')
			continue;
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
			if (strcmp(kv->key + n + 1, keys[k]) != 0)
				continue;
			if (kv->v.type != FY_GGUF_U32 || kv->v.u > 1000000)
				return fy_err_set(err, FY_EINVAL,
						  "--override-kv %s: the model's %s is an int (at "
						  "most 1000000)",
						  kv->key, keys[k]);
			*dest[k] = (int)kv->v.u;
		}
	}
	return FY_OK;
}

/* --- metadata ------------------------------------------------------------------------------- */

static bool dropped_key(const char *key, const struct fy_requant_opts *o)
{
	if (o->imatrix != NULL && (strcmp(key, "quantize.imatrix.file") == 0 ||
				   strcmp(key, "quantize.imatrix.entries_count") == 0 ||
				   (strcmp(key, "quantize.imatrix.dataset") == 0 &&
				    fy_imatrix_dataset(o->imatrix) != NULL) ||
				   (strcmp(key, "quantize.imatrix.chunks_count") == 0 &&
				    fy_imatrix_chunks(o->imatrix) > 0)))
		return true; /* set again below, at the end (gguf_set_val removes, then appends) */
	return strcmp(key, "general.file_type") == 0 ||
	       strcmp(key, "general.quantization_version") == 0 || strncmp(key, "split.", 6) == 0 ||
	       strncmp(key, "ferry.", 6) == 0;
}

/* llama-quantize's record of the importance matrix: its name as given (at most 127 bytes), the
 * first dataset, the entry count and the chunk count. */
static int imatrix_keys(struct fy_gguf_writer *w, const struct fy_requant_opts *o,
			struct fy_err *err)
{
	char text[128];
	int rc = FY_OK;
	snprintf(text, sizeof(text), "%s", o->imatrix_file != NULL ? o->imatrix_file : "");
	FY_TRY(rc, fy_gguf_writer_set_str(w, "quantize.imatrix.file", text, err));
	if (fy_imatrix_dataset(o->imatrix) != NULL) {
		snprintf(text, sizeof(text), "%s", fy_imatrix_dataset(o->imatrix));
		FY_TRY(rc, fy_gguf_writer_set_str(w, "quantize.imatrix.dataset", text, err));
	}
	FY_TRY(rc, fy_gguf_writer_set_u32(w, "quantize.imatrix.entries_count",
					  (uint32_t)fy_imatrix_count(o->imatrix), err));
	if (fy_imatrix_chunks(o->imatrix) > 0)
		FY_TRY(rc, fy_gguf_writer_set_u32(w, "quantize.imatrix.chunks_count",
						  (uint32_t)fy_imatrix_chunks(o->imatrix), err));
out:
	return rc;
}

/* The input's KVs (less the ones rewritten), then as llama.cpp: quantization_version and
 * file_type appended, the --override-kv keys, the importance matrix's, block_count after
 * --prune-layers (each removed and appended, as gguf_set_val_* does), then ferry's provenance. */
static int write_metadata(struct fy_gguf_writer *w, const struct fy_gguf *in,
			  const struct fy_requant_opts *o, uint32_t block_count, struct fy_err *err)
{
	int rc = FY_OK;
	for (size_t i = 0; i < fy_gguf_kv_count(in); i++) {
		const struct fy_gguf_kv *kv = fy_gguf_kv_at(in, i);
		if (!dropped_key(kv->key, o))
			FY_TRY(rc, fy_gguf_writer_copy_kv(w, kv, err));
	}
	FY_TRY(rc, fy_gguf_writer_set_u32(w, "general.quantization_version", 2, err));
	FY_TRY(rc, fy_gguf_writer_set_u32(w, "general.file_type", (uint32_t)o->params.ftype, err));
	for (size_t i = 0; i < o->n_kv_overrides; i++) {
		const struct fy_gguf_kv_override *kv = &o->kv_overrides[i];
		struct fy_gguf_value v = kv->v;
		if (v.type == FY_GGUF_STRING)
			v.s.ptr = kv->str;
		fy_gguf_writer_remove(w, kv->key);
		FY_TRY(rc, fy_gguf_writer_set(w, kv->key, &v, err));
	}
	if (o->imatrix != NULL)
		FY_TRY(rc, imatrix_keys(w, o, err));
	if (o->n_prune > 0) {
		const struct fy_gguf_kv *a = fy_gguf_find_kv(in, "general.architecture");
		char key[160];
		snprintf(key, sizeof(key), "%.*s.block_count", (int)a->v.s.len, a->v.s.ptr);
		fy_gguf_writer_remove(w, key);
		FY_TRY(rc, fy_gguf_writer_set_u32(w, key, block_count, err));
	}
	FY_TRY(rc, fy_gguf_writer_set_str(w, "ferry.version", FY_VERSION, err));
	if (o->source_sha256 != NULL)
		FY_TRY(rc, fy_gguf_writer_set_str(w, "ferry.source.sha256", o->source_sha256, err));
	if (o->options != NULL)
		FY_TRY(rc, fy_gguf_writer_set_str(w, "ferry.quant.options", o->options, err));
out:
	return rc;
}

/* --- tensors -------------------------------------------------------------------------------- */

/* The importance values for a tensor, as llama-quantize finds them: by name, used when there
 * are ne0 per expert; a size that does not match is an error (except for the embeddings, which
 * llama.cpp then quantizes without). NULL without a matrix or an entry. */
static const float *tensor_imatrix(const struct requant *q, const struct fy_gguf_tensor *t,
				   struct fy_err *err)
{
	size_t n = 0;
	const float *v = fy_imatrix_find(q->opts->imatrix, t->name, &n);
	if (v == NULL)
		return NULL;
	if ((uint64_t)n == (uint64_t)t->ne[0] * (uint64_t)t->ne[2])
		return v;
	if (err != NULL && strcmp(t->name, "token_embd.weight") != 0 &&
	    strcmp(t->name, "per_layer_token_embd.weight") != 0)
		fy_err_set(err, FY_EFORMAT,
			   "the importance matrix has %zu values for tensor '%s', which needs %lld",
			   n, t->name, (long long)(t->ne[0] * t->ne[2]));
	return NULL;
}

static int convert_rows(void *ctx, int64_t begin, int64_t end, struct fy_err *err)
{
	struct requant *q = ctx;
	float *row = malloc((size_t)q->ne0 * sizeof(float));
	int rc = FY_OK;
	if (row == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	for (int64_t r = begin; r < end; r++) {
		const int64_t abs_row = q->row0 + r;
		const uint8_t *src = (const uint8_t *)q->t->data + (size_t)abs_row * q->in_row;
		fy_dequant_row(q->t->type, src, row, q->ne0);
		const int64_t bad = fy_quant_check_finite(row, q->ne0);
		if (bad >= 0) {
			rc = fy_err_set(err, FY_EFORMAT,
					"%s: tensor '%s' row %lld holds a NaN or infinite value",
					fy_gguf_label(q->in), q->t->name, (long long)abs_row);
			break;
		}
		/* an expert's rows take its slice of the matrix */
		const float *qw = q->qw != NULL ? q->qw + (abs_row / q->t->ne[1]) * q->ne0 : NULL;
		fy_quant_row_w(q->to, row, q->out + (size_t)r * q->out_row, q->ne0, qw);
	}
	free(row);
	return rc;
}

static int convert_tensor(struct requant *q, struct fy_sink *sink, struct fy_err *err)
{
	const int64_t rows = q->t->n_elems / q->ne0;
	int64_t batch = (int64_t)(BATCH_BYTES / q->out_row);
	int rc = FY_OK;
	if (q->opts->max_buffer > 0) { /* llama-quantize's bytes per row: both rows, the floats */
		const size_t per = q->in_row + q->out_row + (size_t)q->ne0 * sizeof(float);
		const int64_t cap = (int64_t)(q->opts->max_buffer / per);
		batch = cap < batch ? cap : batch;
	}
	if (batch < 1)
		batch = 1;
	if (batch > rows)
		batch = rows;
	q->out = malloc((size_t)batch * q->out_row);
	if (q->out == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory (%zu bytes for tensor '%s')",
				  (size_t)batch * q->out_row, q->t->name);
	for (q->row0 = 0; q->row0 < rows && rc == FY_OK; q->row0 += batch) {
		const int64_t n = rows - q->row0 < batch ? rows - q->row0 : batch;
		rc = fy_pool_for(q->pool, n, 0, convert_rows, q, err);
		if (rc == FY_OK)
			rc = fy_sink_write(sink, q->out, (size_t)n * q->out_row, err);
		fy_map_drop((const uint8_t *)q->t->data + (size_t)q->row0 * q->in_row,
			    (size_t)n * q->in_row);
	}
	free(q->out);
	q->out = NULL;
	return rc;
}

/* The progress callback for plan entry k, the tensor under its output name. */
static void report(const struct requant *q, size_t k, const struct fy_gguf_tensor *t,
		   const struct fy_quant_choice *c)
{
	struct fy_gguf_tensor named = *t;
	if (q->names != NULL && q->names[k] != NULL)
		named.name = q->names[k];
	q->opts->progress(q->opts->ctx, k, q->n, &named, c);
}

static int tensor_data(void *ctx, size_t index, struct fy_sink *sink, struct fy_err *err)
{
	struct requant *q = ctx;
	const struct fy_quant_choice *c = &q->plan[index];
	const struct fy_gguf_tensor *t = fy_gguf_tensor_at(q->in, c->src);
	int rc;
	if (c->type == t->type) {
		rc = fy_sink_write(sink, t->data, (size_t)t->nbytes, err);
	} else {
		q->t = t;
		q->to = c->type;
		q->ne0 = t->ne[0];
		q->qw = tensor_imatrix(q, t, NULL);
		if (!fy_quant_row_bytes(t->type, q->ne0, &q->in_row) ||
		    !fy_quant_row_bytes(c->type, q->ne0, &q->out_row))
			return fy_err_set(err, FY_EFORMAT, "%s: tensor '%s': bad row length %lld",
					  fy_gguf_label(q->in), t->name, (long long)q->ne0);
		rc = convert_tensor(q, sink, err);
	}
	/* done with this tensor's input: keep the resident set at one tensor's batch */
	fy_map_drop(t->data, (size_t)t->nbytes);
	if (rc == FY_OK && q->opts->progress != NULL)
		report(q, index, t, c);
	return rc;
}

/* With an importance matrix: every converted tensor's entry checked before anything is written,
 * and the types that cannot go without one (the 1-3 bit i-quants) refused where it has none. */
static int check_imatrix(struct requant *q, struct fy_err *err)
{
	for (size_t k = 0; k < q->n; k++) {
		const struct fy_quant_choice *c = &q->plan[k];
		const struct fy_gguf_tensor *t = fy_gguf_tensor_at(q->in, c->src);
		err->code = FY_OK;
		if (c->type == t->type)
			continue;
		if (tensor_imatrix(q, t, err) != NULL)
			continue;
		if (err->code != FY_OK)
			return err->code;
		q->rep->n_no_imatrix++;
		if (fy_quant_needs_imatrix(t->name, c->type, q->opts->params.ftype))
			return fy_err_set(err, FY_EINVAL,
					  "tensor '%s': no importance matrix entry for it, and %s "
					  "needs one (llama-quantize refuses it too)",
					  t->name, fy_dtype_name(c->type));
	}
	return FY_OK;
}

static int declare_tensors(struct fy_gguf_writer *w, struct requant *q, struct fy_err *err)
{
	int rc = FY_OK;
	for (size_t k = 0; k < q->n && rc == FY_OK; k++) {
		const struct fy_quant_choice *c = &q->plan[k];
		const struct fy_gguf_tensor *t = fy_gguf_tensor_at(q->in, c->src);
		uint64_t out_bytes = 0;
		if (!fy_dtype_nbytes(c->type, t->n_elems, &out_bytes))
			return fy_err_set(err, FY_EFORMAT,
					  "tensor '%s': %lld elements do not fit %s", t->name,
					  (long long)t->n_elems, fy_dtype_name(c->type));
		/* as ggml_n_dims counts them: trailing dimensions of 1 are not written (a [256, 1]
		 * tensor of the converter is [256] in llama-quantize's output) */
		int nd = t->n_dims;
		while (nd > 1 && t->ne[nd - 1] == 1)
			nd--;
		rc = fy_gguf_writer_add(
			w, q->names != NULL && q->names[k] != NULL ? q->names[k] : t->name, c->type,
			nd, t->ne, err);
		q->rep->in_bytes += t->nbytes;
		q->rep->out_bytes += out_bytes;
		if (c->type != t->type) {
			q->rep->n_converted++;
			if (fy_quant_traits(t->type) != NULL && t->type != FY_DTYPE_F32 &&
			    t->type != FY_DTYPE_F16 && t->type != FY_DTYPE_BF16) {
				if (!q->opts->allow_requantize)
					return fy_err_set(err, FY_EUNSUPPORTED,
							  "%s: tensor '%s' is %s: requantizing "
							  "from a quantized type is disabled "
							  "(--allow-requantize, as llama-quantize)",
							  fy_gguf_label(q->in), t->name,
							  fy_dtype_name(t->type));
				q->rep->n_requantized++;
			}
		} else {
			q->rep->n_copied++;
		}
		if (c->reason == FY_QREASON_FALLBACK)
			q->rep->n_fallback++;
	}
	return rc;
}

/* The layer of a blk.N.* tensor and the name after "blk.N.", or -1. */
static int layer_and_rest(const char *name, const char **rest)
{
	const int l = fy_quant_layer_of(name);
	const char *p = name + 4;
	while (l >= 0 && *p >= '0' && *p <= '9')
		p++;
	*rest = p + 1;
	return l >= 0 && *p == '.' ? l : -1;
}

/* --prune-layers as llama-quantize's remap_layer numbers the rest: the layers present in
 * ascending order, those below the first pruned one unchanged, the others from there on
 * consecutively. map[l] for l < n_layer: the new number, or -1 (pruned or absent); *kept: the
 * layers left (the new block_count). */
static int prune_map(const struct requant *q, int n_layer, int **map, uint32_t *kept,
		     struct fy_err *err)
{
	const struct fy_requant_opts *o = q->opts;
	bool *present = calloc((size_t)n_layer + 1, sizeof(*present));
	const char *rest;
	int rc = FY_OK, next = 0;
	*map = malloc(((size_t)n_layer + 1) * sizeof(**map));
	if (present == NULL || *map == NULL) {
		rc = fy_err_set(err, FY_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < o->n_prune && rc == FY_OK; i++)
		if (o->prune[i] < 0 || o->prune[i] >= n_layer)
			rc = fy_err_set(err, FY_EINVAL,
					"--prune-layers: layer %d is not one of the model's %d "
					"(block_count)",
					o->prune[i], n_layer);
	for (size_t i = 0; i < q->n && rc == FY_OK; i++) {
		const char *name = fy_gguf_tensor_at(q->in, i)->name;
		const int l = layer_and_rest(name, &rest);
		if (l >= n_layer)
			rc = fy_err_set(err, FY_EFORMAT,
					"tensor '%s': layer %d is not below block_count %d", name,
					l, n_layer);
		else if (l >= 0)
			present[l] = true;
	}
	for (int l = 0, p = 0; l < n_layer && rc == FY_OK; l++) {
		(*map)[l] = -1;
		while ((size_t)p < o->n_prune && o->prune[p] < l)
			p++;
		if (!present[l] || ((size_t)p < o->n_prune && o->prune[p] == l))
			continue;
		if (l < o->prune[0]) {
			(*map)[l] = l;
			next = l + 1;
		} else {
			(*map)[l] = next++;
		}
	}
	if (rc == FY_OK && next == 0)
		rc = fy_err_set(err, FY_EINVAL, "--prune-layers: no layer would be left");
	*kept = (uint32_t)next;
out:
	free(present);
	return rc;
}

/* --keep-split: the plan in the input's order (shard, then offset), as llama-quantize sorts its
 * tensors for it, and the first entry of each input shard. */
static int keep_split(struct requant *q, struct fy_err *err)
{
	const size_t n_shards = fy_gguf_shard_count(q->in);
	/* a stable insertion by (shard, offset): plans are tensors, not millions */
	for (size_t k = 1; k < q->n; k++) {
		const struct fy_quant_choice c = q->plan[k];
		char *name = q->names != NULL ? q->names[k] : NULL;
		const struct fy_gguf_tensor *t = fy_gguf_tensor_at(q->in, c.src);
		size_t at = k;
		while (at > 0) {
			const struct fy_gguf_tensor *u =
				fy_gguf_tensor_at(q->in, q->plan[at - 1].src);
			if (u->shard < t->shard || (u->shard == t->shard && u->offset <= t->offset))
				break;
			q->plan[at] = q->plan[at - 1];
			if (q->names != NULL)
				q->names[at] = q->names[at - 1];
			at--;
		}
		q->plan[at] = c;
		if (q->names != NULL)
			q->names[at] = name;
	}
	q->first = calloc(n_shards + 1, sizeof(*q->first));
	if (q->first == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	size_t k = 0;
	for (size_t s = 0; s < n_shards; s++) {
		q->first[s] = k;
		while (k < q->n && fy_gguf_tensor_at(q->in, q->plan[k].src)->shard == (int)s)
			k++;
		if (q->first[s] == k)
			return fy_err_set(err, FY_EINVAL,
					  "--keep-split: shard %zu of %s would hold no tensor",
					  s + 1, fy_gguf_label(q->in));
	}
	q->n_first = n_shards;
	return FY_OK;
}

static int make_plan(struct requant *q, struct fy_err *err)
{
	char arch[64];
	struct fy_quant_model model;
	struct fy_quant_src *src = NULL;
	size_t *from = NULL; /* src index -> input tensor */
	int *map = NULL;
	size_t n_in, n = 0;
	int rc = read_model(q->in, &model, arch, sizeof(arch), err);
	if (rc == FY_OK)
		rc = override_model(&model, arch, q->opts, err);
	if (rc != FY_OK)
		return rc;
	n_in = fy_gguf_tensor_count(q->in);
	q->n = n_in;
	if (q->opts->n_prune > 0)
		FY_TRY(rc, prune_map(q, model.n_layer, &map, &q->block_count, err));
	src = calloc(n_in > 0 ? n_in : 1, sizeof(*src));
	from = calloc(n_in > 0 ? n_in : 1, sizeof(*from));
	q->plan = calloc(n_in > 0 ? n_in : 1, sizeof(*q->plan));
	if (map != NULL)
		q->names = calloc(n_in > 0 ? n_in : 1, sizeof(*q->names));
	if (src == NULL || from == NULL || q->plan == NULL || (map != NULL && q->names == NULL)) {
		rc = fy_err_set(err, FY_ENOMEM, "out of memory");
		goto out;
	}
	char **renamed = q->names; /* by src index while planning */
	for (size_t i = 0; i < n_in; i++) {
		const struct fy_gguf_tensor *t = fy_gguf_tensor_at(q->in, i);
		const char *rest = NULL;
		const int l = map != NULL ? layer_and_rest(t->name, &rest) : -1;
		if (l >= 0 && map[l] < 0)
			continue; /* a pruned layer's */
		src[n].name = t->name;
		if (l >= 0 && map[l] != l) {
			const size_t len = strlen(rest) + 32;
			if ((renamed[n] = malloc(len)) == NULL) {
				rc = fy_err_set(err, FY_ENOMEM, "out of memory");
				goto out;
			}
			snprintf(renamed[n], len, "blk.%d.%s", map[l], rest);
			src[n].name = renamed[n];
		}
		src[n].type = t->type;
		memcpy(src[n].ne, t->ne, sizeof(src[n].ne));
		from[n++] = i;
	}
	q->n = n;
	rc = fy_quant_plan(&model, src, n, &q->opts->params, q->plan, err);
	if (rc != FY_OK) {
		fy_err_prefix(err, "%s", fy_gguf_label(q->in));
		goto out;
	}
	/* the plan's entries point at input tensors; the new names follow them into plan order */
	if (q->names != NULL) {
		char **by_plan = calloc(n > 0 ? n : 1, sizeof(*by_plan));
		if (by_plan == NULL) {
			rc = fy_err_set(err, FY_ENOMEM, "out of memory");
			goto out;
		}
		for (size_t k = 0; k < n; k++) {
			by_plan[k] = renamed[q->plan[k].src];
			renamed[q->plan[k].src] = NULL;
		}
		for (size_t k = 0; k < n_in; k++)
			free(renamed[k]);
		free(renamed);
		q->names = by_plan;
	}
	for (size_t k = 0; k < n; k++)
		q->plan[k].src = from[q->plan[k].src];
	if (q->opts->keep_split)
		rc = keep_split(q, err);
out:
	free(map);
	free(from);
	free(src);
	return rc;
}

static void free_names(struct requant *q)
{
	for (size_t k = 0; q->names != NULL && k < q->n; k++)
		free(q->names[k]);
	free(q->names);
}

int fy_gguf_requant(const char *in_path, const char *out_path, const struct fy_requant_opts *o,
		    struct fy_requant_report *rep, struct fy_err *err)
{
	struct requant q = { .opts = o, .rep = rep };
	struct fy_gguf_writer *w = NULL;
	struct fy_pool *own_pool = NULL;
	int rc = FY_OK;

	memset(rep, 0, sizeof(*rep));
	FY_TRY(rc, fy_gguf_open(&q.in, in_path, err));
	FY_TRY(rc, make_plan(&q, err));
	if (o->imatrix != NULL)
		FY_TRY(rc, check_imatrix(&q, err));
	q.pool = o->pool;
	if (q.pool == NULL) {
		FY_TRY(rc, fy_pool_new(&own_pool, o->threads, err));
		q.pool = own_pool;
	}
	FY_TRY(rc, fy_gguf_writer_new(&w, err));
	FY_TRY(rc, write_metadata(w, q.in, o, q.block_count, err));
	FY_TRY(rc, declare_tensors(w, &q, err));
	rep->n_tensors = q.n;
	if (o->plan_only) {
		size_t *first = calloc(q.n + 1, sizeof(*first));
		if (first == NULL) {
			rc = fy_err_set(err, FY_ENOMEM, "out of memory");
			goto out;
		}
		const struct fy_gguf_split_opts keep = { .first = q.first, .n_first = q.n_first };
		rc = fy_gguf_split_plan(w, o->keep_split ? &keep : &o->split, first, q.n + 1,
					&rep->n_shards, err);
		free(first);
		if (rc != FY_OK)
			goto out;
		if (o->progress != NULL) {
			for (size_t k = 0; k < q.n; k++)
				report(&q, k, fy_gguf_tensor_at(q.in, q.plan[k].src), &q.plan[k]);
		}
		goto out;
	}
	if (o->keep_split && q.n_first == 1) { /* one input file: one output file */
		rc = fy_gguf_writer_write(w, out_path, tensor_data, &q, err);
		rep->n_shards = 1;
	} else if (o->keep_split) {
		const struct fy_gguf_split_opts keep = { .first = q.first, .n_first = q.n_first };
		rc = fy_gguf_writer_write_split(w, out_path, &keep, tensor_data, &q, &rep->n_shards,
						err);
	} else {
		rc = fy_gguf_writer_write_split(w, out_path, &o->split, tensor_data, &q,
						&rep->n_shards, err);
	}
out:
	fy_gguf_writer_free(w);
	fy_pool_free(own_pool);
	free_names(&q);
	free(q.first);
	free(q.plan);
	fy_gguf_free(q.in);
	return rc;
}
