/*
 * `ferry imatrix`: an importance matrix computed with ferry's engine, in llama-imatrix's GGUF
 * format (llama.cpp v0.5.0's tools/imatrix): the text is cut into chunks of n_ctx tokens (the
 * first of each replaced by BOS where the vocabulary adds one), each chunk evaluated from
 * position 0, and every matrix product's input rows summed as squares per column, per weight
 * (per expert for a mixture's experts) with the count of rows seen. As llama-imatrix: only the
 * blk.* weights (and output.weight when asked), dense products of fewer than 16 rows skipped.
 */
#include "infer/infer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct stat_entry {
	char *name;
	float *values;	 /* ne0 x n_mat */
	int64_t *counts; /* n_mat */
	int64_t ne0;
	int n_mat;
};

struct collector {
	const struct fy_model *m;
	struct fy_pool *pool; /* the squares are summed over columns on its threads */
	bool process_output;
	struct stat_entry *e;
	size_t n, cap;
	struct fy_index index;
	int rc; /* the first failure (out of memory, a non-finite activation) */
	char why[200];
};

/* A new entry of n_mat matrices of ne0 columns, zeroed. */
static struct stat_entry *entry_new(struct collector *c, const char *name, int64_t ne0, int n_mat)
{
	if (c->n == c->cap) {
		const size_t cap = c->cap ? c->cap * 2 : 64;
		struct stat_entry *p = realloc(c->e, cap * sizeof(*p));
		if (p == NULL)
			return NULL;
		c->e = p;
		c->cap = cap;
	}
	struct stat_entry *e = &c->e[c->n];
	e->name = strdup(name);
	e->ne0 = ne0;
	e->n_mat = n_mat;
	e->values = calloc((size_t)ne0 * (size_t)n_mat, sizeof(float));
	e->counts = calloc((size_t)n_mat, sizeof(int64_t));
	if (e->name == NULL || e->values == NULL || e->counts == NULL ||
	    fy_index_insert(&c->index, e->name, strlen(e->name), (int64_t)c->n, NULL) != FY_OK) {
		free(e->name);
		free(e->values);
		free(e->counts);
		return NULL;
	}
	c->n++;
	return e;
}

static struct stat_entry *entry_find(struct collector *c, const char *name)
{
	int64_t i;
	return fy_index_find(&c->index, name, strlen(name), &i) ? &c->e[i] : NULL;
}

/* Gives an entry of one matrix per expert a count per expert (a merged legacy file's single
 * count, broadcast as llama-imatrix does). */
static bool entry_widen(struct stat_entry *e, int n_mat)
{
	int64_t *k = malloc((size_t)n_mat * sizeof(*k));
	if (k == NULL)
		return false;
	for (int i = 0; i < n_mat; i++)
		k[i] = e->counts[0];
	free(e->counts);
	e->counts = k;
	e->ne0 /= n_mat;
	e->n_mat = n_mat;
	return true;
}

/* The entry w's statistics go to: a new one, or one merged from a file when its size agrees. */
static struct stat_entry *entry_for(struct collector *c, const struct fy_weight *w, int n_mat)
{
	struct stat_entry *e = entry_find(c, w->name);
	if (e == NULL) {
		e = entry_new(c, w->name, w->ne0, n_mat);
		if (e == NULL) {
			c->rc = FY_ENOMEM;
			snprintf(c->why, sizeof(c->why), "out of memory");
		}
		return e;
	}
	if (e->n_mat != n_mat && e->n_mat == 1 && e->ne0 == w->ne0 * n_mat &&
	    !entry_widen(e, n_mat)) {
		c->rc = FY_ENOMEM;
		snprintf(c->why, sizeof(c->why), "out of memory");
		return NULL;
	}
	if (e->n_mat != n_mat || e->ne0 != w->ne0) {
		c->rc = FY_EINVAL;
		snprintf(c->why, sizeof(c->why),
			 "%.100s: %lld values in %d matrices merged, the model's are %lld in %d",
			 w->name, (long long)(e->ne0 * e->n_mat), e->n_mat,
			 (long long)(w->ne0 * n_mat), n_mat);
		return NULL;
	}
	return e;
}

struct sum_job {
	float *acc;
	const float *x;
	int64_t ne0, n_tok;
	bool non_finite; /* set by any range (only ever to true) */
};

/* acc[j] += x[t][j]^2 for the columns of a range, tokens in order (the same sums whatever the
 * split) */
static int sum_squares(void *ctx, int64_t begin, int64_t end, struct fy_err *err)
{
	struct sum_job *j = ctx;
	(void)err;
	for (int64_t t = 0; t < j->n_tok; t++) {
		const float *row = j->x + t * j->ne0;
		for (int64_t k = begin; k < end; k++)
			j->acc[k] += row[k] * row[k];
	}
	for (int64_t k = begin; k < end; k++)
		if (!isfinite(j->acc[k]))
			__atomic_store_n(&j->non_finite, true, __ATOMIC_RELAXED);
	return FY_OK;
}

static void collect(void *ctx, const struct fy_weight *w, int expert, const float *x, int64_t n_tok)
{
	struct collector *c = ctx;
	if (c->rc != FY_OK || w->name == NULL)
		return;
	const bool output = strcmp(w->name, "output.weight") == 0;
	if (strncmp(w->name, "blk.", 4) != 0 && !(c->process_output && output))
		return;
	if (expert < 0 && n_tok < 16)
		return; /* llama-imatrix leaves small batches out */
	struct stat_entry *e = entry_for(c, w, expert >= 0 ? c->m->hp.n_expert : 1);
	if (e == NULL)
		return;
	const int mat = expert >= 0 ? expert : 0;
	struct sum_job j = { e->values + (int64_t)mat * e->ne0, x, e->ne0, n_tok, false };
	struct fy_err err;
	if ((c->pool != NULL ? fy_pool_for(c->pool, e->ne0, 256, sum_squares, &j, &err)
			     : sum_squares(&j, 0, e->ne0, &err)) != FY_OK) {
		c->rc = err.code;
		snprintf(c->why, sizeof(c->why), "%.190s", err.msg);
		return;
	}
	e->counts[mat] += n_tok;
	if (j.non_finite) {
		c->rc = FY_EFORMAT;
		snprintf(c->why, sizeof(c->why), "non-finite activations reach %s", w->name);
	}
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct stat_entry *)a)->name, ((const struct stat_entry *)b)->name);
}

/* llama-imatrix's GGUF layout: general.type, imatrix.datasets, chunk_count and chunk_size, then
 * for each weight in name order NAME.in_sum2 [ne0, n_mat] and NAME.counts [1, n_mat] (F32). */
struct write_ctx {
	const struct collector *c;
};

static int entry_data(void *ctx, size_t index, struct fy_sink *sink, struct fy_err *err)
{
	const struct write_ctx *w = ctx;
	const struct stat_entry *e = &w->c->e[index / 2];
	if (index % 2 == 0)
		return fy_sink_write(sink, e->values,
				     (size_t)e->ne0 * (size_t)e->n_mat * sizeof(float), err);
	for (int k = 0; k < e->n_mat; k++) {
		const float f = (float)e->counts[k];
		int rc = fy_sink_write(sink, &f, sizeof(f), err);
		if (rc != FY_OK)
			return rc;
	}
	return FY_OK;
}

static int write_imatrix(struct collector *c, const char *path, const struct fy_str *datasets,
			 size_t n_datasets, int chunks, int chunk_size, struct fy_err *err)
{
	struct fy_gguf_writer *w = NULL;
	struct write_ctx wc = { c };
	char name[FY_GGUF_MAX_NAME + 1];
	int rc;
	qsort(c->e, c->n, sizeof(*c->e), cmp_entry);
	FY_TRY(rc, fy_gguf_writer_new(&w, err));
	FY_TRY(rc, fy_gguf_writer_set_str(w, "general.type", "imatrix", err));
	FY_TRY(rc, fy_gguf_writer_set_str_array(w, "imatrix.datasets", n_datasets, datasets, err));
	FY_TRY(rc, fy_gguf_writer_set_u32(w, "imatrix.chunk_count", (uint32_t)chunks, err));
	FY_TRY(rc, fy_gguf_writer_set_u32(w, "imatrix.chunk_size", (uint32_t)chunk_size, err));
	for (size_t i = 0; i < c->n; i++) {
		const struct stat_entry *e = &c->e[i];
		const int64_t sums[2] = { e->ne0, e->n_mat }, counts[2] = { 1, e->n_mat };
		const int dims = e->n_mat > 1 ? 2 : 1;
		if (snprintf(name, sizeof(name), "%s.in_sum2", e->name) >= (int)sizeof(name)) {
			rc = fy_err_set(err, FY_EINVAL, "%s: name too long for an imatrix entry",
					e->name);
			goto out;
		}
		FY_TRY(rc, fy_gguf_writer_add(w, name, FY_DTYPE_F32, dims, sums, err));
		snprintf(name, sizeof(name), "%s.counts", e->name);
		FY_TRY(rc, fy_gguf_writer_add(w, name, FY_DTYPE_F32, dims, counts, err));
	}
	rc = fy_gguf_writer_write(w, path, entry_data, &wc, err);
out:
	fy_gguf_writer_free(w);
	return rc;
}

/* llama-imatrix's legacy .dat layout (save_imatrix_legacy): int32 n_entries; per entry with
 * data, in name order: int32 name length, the name, int32 ncall (the most rows any of its
 * matrices saw over chunk_size, rounded up), int32 n_values, then each value as its sum over its
 * matrix's rows times ncall (a matrix that saw none: ncall); then int32 chunks and the dataset
 * name (int32 length, bytes). Little-endian, as the tools write it on the machines they run on. */
static int write_u32(struct fy_atomic *a, int32_t v, struct fy_err *err)
{
	const uint8_t b[4] = { (uint8_t)v, (uint8_t)((uint32_t)v >> 8),
			       (uint8_t)((uint32_t)v >> 16), (uint8_t)((uint32_t)v >> 24) };
	return fy_atomic_write(a, b, 4, err);
}

static int write_legacy(struct collector *c, const char *path, const char *dataset, int chunks,
			int chunk_size, struct fy_err *err)
{
	struct fy_atomic a;
	int32_t n = 0;
	int rc;
	qsort(c->e, c->n, sizeof(*c->e), cmp_entry);
	for (size_t i = 0; i < c->n; i++) {
		bool any = false;
		for (int k = 0; k < c->e[i].n_mat; k++)
			any = any || c->e[i].counts[k] > 0;
		n += any;
	}
	rc = fy_atomic_open(&a, path, err);
	if (rc != FY_OK)
		return rc;
	FY_TRY(rc, write_u32(&a, n, err));
	for (size_t i = 0; i < c->n; i++) {
		const struct stat_entry *e = &c->e[i];
		int64_t most = 0;
		for (int k = 0; k < e->n_mat; k++)
			most = e->counts[k] > most ? e->counts[k] : most;
		if (most == 0)
			continue; /* llama-imatrix skips an entry without data */
		const size_t len = strlen(e->name);
		const int64_t nval = e->ne0 * e->n_mat;
		const int32_t ncall = (int32_t)((most + chunk_size - 1) / chunk_size);
		FY_TRY(rc, write_u32(&a, (int32_t)len, err));
		FY_TRY(rc, fy_atomic_write(&a, e->name, len, err));
		FY_TRY(rc, write_u32(&a, ncall, err));
		FY_TRY(rc, write_u32(&a, (int32_t)nval, err));
		for (int64_t j = 0; j < nval; j++) {
			const int64_t mat = j / e->ne0; /* the expert (matrix) of value j */
			float count = (float)e->counts[mat], value = e->values[j];
			if (count == 0.0f)
				value = count = 1.0f; /* partial data: 1 */
			const float f = value / count * (float)ncall;
			uint32_t u;
			memcpy(&u, &f, 4);
			FY_TRY(rc, write_u32(&a, (int32_t)u, err));
		}
	}
	FY_TRY(rc, write_u32(&a, chunks, err));
	FY_TRY(rc, write_u32(&a, (int32_t)strlen(dataset), err));
	FY_TRY(rc, fy_atomic_write(&a, dataset, strlen(dataset), err));
	return fy_atomic_commit(&a, err);
out:
	fy_atomic_abort(&a);
	return rc;
}

/* -log p(target) under the softmax of n logits (n >= 1): the largest one's term is exp(0) = 1,
 * so the sum is at least 1. */
static double token_nll(const float *lg, int n, int32_t target)
{
	float mx = lg[0];
	for (int v = 1; v < n; v++)
		mx = lg[v] > mx ? lg[v] : mx;
	double sum = 0;
	for (int v = 0; v < n; v++)
		sum += exp((double)(lg[v] - mx));
	return log(sum > 1 ? sum : 1) + mx - lg[target];
}

/* Adds a file's entries as llama-imatrix --in-file does (load_imatrix): GGUF sums and counts as
 * they are; a legacy file's scaled sums and its ncall times chunk_size. */
static int merge_file(struct collector *c, const struct fy_imatrix *im, const char *label,
		      int chunk_size, struct fy_err *err)
{
	const bool legacy = fy_imatrix_is_legacy(im);
	for (size_t i = 0; i < fy_imatrix_count(im); i++) {
		struct fy_imatrix_entry f;
		fy_imatrix_entry_at(im, i, &f);
		struct stat_entry *e = entry_find(c, f.name);
		if (f.n_counts < 1 || f.n_counts > INT32_MAX || f.n_sums % f.n_counts != 0)
			return fy_err_set(err, FY_EFORMAT, "%s: %s: %zu sums in %zu matrices",
					  label, f.name, f.n_sums, f.n_counts);
		if (e == NULL) {
			e = entry_new(c, f.name, (int64_t)(f.n_sums / f.n_counts), (int)f.n_counts);
			if (e == NULL)
				return fy_err_set(err, FY_ENOMEM, "out of memory");
		} else if ((size_t)(e->ne0 * e->n_mat) != f.n_sums) {
			return fy_err_set(err, FY_EFORMAT,
					  "%s: %s has %zu values, %lld before it (mismatched sums)",
					  label, f.name, f.n_sums, (long long)(e->ne0 * e->n_mat));
		} else if (!legacy && (size_t)e->n_mat != f.n_counts) {
			if (e->n_mat != 1 || f.n_counts == 1)
				return fy_err_set(err, FY_EFORMAT,
						  "%s: %s has %zu counts, %d before it (mismatched "
						  "counts)",
						  label, f.name, f.n_counts, e->n_mat);
			if (!entry_widen(e, (int)f.n_counts))
				return fy_err_set(err, FY_ENOMEM, "out of memory");
		}
		for (size_t j = 0; j < f.n_sums; j++)
			e->values[j] += legacy ? f.sums[j] * (float)chunk_size : f.sums[j];
		for (int k = 0; k < e->n_mat; k++)
			e->counts[k] += legacy ? f.counts[0] * chunk_size : f.counts[k];
	}
	return FY_OK;
}

int fy_imatrix_compute(const struct fy_model *m, const char *text, size_t len,
		       const struct fy_imatrix_opts *o, struct fy_pool *pool, const char *out_path,
		       struct fy_imatrix_report *rep, struct fy_err *err)
{
	struct collector c = { .m = m, .pool = pool, .process_output = o->process_output };
	struct fy_ctx *ctx = NULL;
	int32_t *ids = NULL;
	int32_t *chunk = NULL;
	float *logits = NULL;
	struct fy_str *datasets = NULL;
	size_t n_ids = 0, n_datasets = 0;
	const int n_ctx = o->n_ctx > 0 ? o->n_ctx : 512;
	int n_chunk = 0;
	int rc;

	memset(rep, 0, sizeof(*rep));
	fy_index_init(&c.index);
	if (m == NULL && o->n_merge == 0) {
		rc = fy_err_set(err, FY_EINVAL,
				"nothing to compute: no model and no matrix to merge");
		goto out;
	}
	for (size_t i = 0; i < o->n_merge; i++)
		n_datasets += fy_imatrix_dataset_count(o->merge[i]);
	datasets = calloc(n_datasets + 1, sizeof(*datasets));
	if (datasets == NULL) {
		rc = fy_err_set(err, FY_ENOMEM, "out of memory");
		goto out;
	}
	n_datasets = 0;
	for (size_t i = 0; i < o->n_merge; i++) {
		FY_TRY(rc, merge_file(&c, o->merge[i],
				      o->merge_labels != NULL ? o->merge_labels[i] : "imatrix",
				      n_ctx, err));
		for (size_t k = 0; k < fy_imatrix_dataset_count(o->merge[i]); k++) {
			const char *d = fy_imatrix_dataset_at(o->merge[i], k);
			datasets[n_datasets++] = (struct fy_str){ d, strlen(d) };
		}
	}
	if (m != NULL) {
		const char *d = o->dataset != NULL ? o->dataset : "";
		datasets[n_datasets++] = (struct fy_str){ d, strlen(d) };
		FY_TRY(rc, fy_tokenize(m->vocab, text, len, true, false, &ids, &n_ids, err));
		if (n_ids < 2 * (size_t)n_ctx) {
			rc = fy_err_set(
				err, FY_EINVAL,
				"the text is %zu tokens: at least %d are needed for chunks "
				"of %d (as llama-imatrix asks; a longer text, or a smaller -c)",
				n_ids, 2 * n_ctx, n_ctx);
			goto out;
		}
		n_chunk = (int)(n_ids / (size_t)n_ctx);
		if (o->n_chunks > 0 && o->n_chunks < n_chunk)
			n_chunk = o->n_chunks;
		FY_TRY(rc, fy_ctx_new(&ctx, m, n_ctx, pool, err));
		fy_ctx_set_hook(ctx, collect, &c);
		chunk = malloc((size_t)n_ctx * sizeof(*chunk));
		logits = malloc((size_t)n_ctx * (size_t)m->hp.n_vocab * sizeof(float));
		if (chunk == NULL || logits == NULL) {
			rc = fy_err_set(err, FY_ENOMEM, "out of memory");
			goto out;
		}
	}
	double nll = 0;
	int64_t scored = 0;
	for (int i = 0; i < n_chunk; i++) {
		memcpy(chunk, ids + (size_t)i * (size_t)n_ctx, (size_t)n_ctx * sizeof(*chunk));
		if (fy_vocab_add_bos(m->vocab) && fy_vocab_bos(m->vocab) >= 0)
			chunk[0] = fy_vocab_bos(m->vocab);
		fy_ctx_reset(ctx);
		/* every position's logits only where they are used: the perplexity, or the output
		 * weight's statistics (llama-imatrix computes them all in any case) */
		FY_TRY(rc,
		       fy_eval(ctx, chunk, n_ctx, !o->no_ppl || o->process_output, logits, err));
		if (c.rc != FY_OK) {
			rc = fy_err_set(err, c.rc, "%s", c.why);
			goto out;
		}
		/* the perplexity of the chunk's second half, as llama-imatrix reports it */
		for (int t = n_ctx / 2; !o->no_ppl && t < n_ctx - 1; t++) {
			nll += token_nll(logits + (size_t)t * (size_t)m->hp.n_vocab, m->hp.n_vocab,
					 ids[(size_t)i * (size_t)n_ctx + (size_t)t + 1]);
			scored++;
		}
		if (o->progress != NULL)
			o->progress(o->ctx, i + 1, n_chunk);
	}
	/* the chunk count llama-imatrix records: the most rows any matrix saw, in chunks */
	int64_t most = 0;
	for (size_t i = 0; i < c.n; i++)
		for (int k = 0; k < c.e[i].n_mat; k++)
			most = c.e[i].counts[k] > most ? c.e[i].counts[k] : most;
	const int chunks = most / n_ctx > INT32_MAX ? INT32_MAX : (int)(most / n_ctx);
	rep->n_tokens = (int64_t)n_ids;
	rep->n_chunks = n_chunk;
	rep->n_chunks_total = chunks;
	rep->n_entries = c.n;
	rep->ppl = scored > 0 ? exp(nll / (double)scored) : 0;
	if (o->legacy_dat)
		/* the text's name, or the last merged file's dataset (llama-imatrix) */
		FY_TRY(rc, write_legacy(&c, out_path,
					n_datasets > 0 ? datasets[n_datasets - 1].ptr : "", chunks,
					n_ctx, err));
	else
		FY_TRY(rc, write_imatrix(&c, out_path, datasets, n_datasets, chunks, n_ctx, err));
out:
	free(datasets);
	for (size_t i = 0; i < c.n; i++) {
		free(c.e[i].name);
		free(c.e[i].values);
		free(c.e[i].counts);
	}
	free(c.e);
	fy_index_release(&c.index);
	fy_ctx_free(ctx);
	free(ids);
	free(chunk);
	free(logits);
	return rc;
}
