/*
 * Importance matrices: per tensor, the mean of each input column's squared activations over a
 * calibration text, which llama-quantize weighs each element's quantization error by. Two file
 * formats, both read as llama-quantize reads them (llama.cpp v0.5.0's common/imatrix-loader.cpp
 * and tools/quantize):
 *   - GGUF (llama-imatrix's default since 2025): per tensor NAME.in_sum2 (the sums, F32, one row
 *     per expert) and NAME.counts (F32, tokens seen per expert); keys imatrix.datasets (string
 *     array), imatrix.chunk_count and imatrix.chunk_size (u32), all three required. A value is
 *     sum / count, or 1 where an expert saw no token.
 *   - the legacy .dat: i32 entry count, then per entry i32 name length, the name, i32 ncall, i32
 *     nval, nval f32 (sums scaled to ncall calls); optionally i32 chunk count, i32 length and
 *     the dataset's name. A value is sum / ncall (as stored when ncall is 0).
 * Every length, count and offset is checked against the file; a non-finite value is an error.
 */
#include "convert/convert.h"
#include "convert/convert_private.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_IMATRIX_ENTRIES 1000000

struct imat_entry {
	char *name;
	float *values; /* normalized, as llama-quantize uses them */
	size_t n;
	float *sums;	 /* as stored (n of them), for merging */
	int64_t *counts; /* as stored: per expert (GGUF, rounded) or {ncall} (legacy) */
	size_t n_counts;
};

struct fy_imatrix {
	struct imat_entry *e;
	size_t n, cap;
	struct fy_index index;
	char **datasets; /* every dataset recorded, in order */
	size_t n_datasets;
	int chunk_count;
	bool legacy;
};

static void entry_release(struct imat_entry *e)
{
	free(e->name);
	free(e->values);
	free(e->sums);
	free(e->counts);
}

static int add_dataset(struct fy_imatrix *m, const char *s, size_t len, struct fy_err *err)
{
	if (m->n_datasets >= 100000)
		return fy_err_set(err, FY_EFORMAT, "too many datasets");
	char **p = realloc(m->datasets, (m->n_datasets + 1) * sizeof(*p));
	if (p == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	m->datasets = p;
	p[m->n_datasets] = strndup(s, len);
	if (p[m->n_datasets] == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	m->n_datasets++;
	return FY_OK;
}

static int add_entry(struct fy_imatrix *m, const char *name, size_t name_len, size_t n,
		     size_t n_counts, struct imat_entry **out, const char *path, struct fy_err *err)
{
	if (m->n == MAX_IMATRIX_ENTRIES)
		return fy_err_set(err, FY_EFORMAT, "%s: more than %d entries", path,
				  MAX_IMATRIX_ENTRIES);
	if (m->n == m->cap) {
		const size_t cap = m->cap ? m->cap * 2 : 64;
		struct imat_entry *p = realloc(m->e, cap * sizeof(*p));
		if (p == NULL)
			return fy_err_set(err, FY_ENOMEM, "out of memory");
		m->e = p;
		m->cap = cap;
	}
	struct imat_entry *e = &m->e[m->n];
	e->name = strndup(name, name_len);
	e->values = calloc(n > 0 ? n : 1, sizeof(float));
	e->sums = calloc(n > 0 ? n : 1, sizeof(float));
	e->counts = calloc(n_counts, sizeof(int64_t));
	e->n = n;
	e->n_counts = n_counts;
	if (e->name == NULL || e->values == NULL || e->sums == NULL || e->counts == NULL) {
		entry_release(e);
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	}
	m->n++;
	int rc = fy_index_insert(&m->index, e->name, strlen(e->name), (int64_t)(m->n - 1), err);
	if (rc == FY_EEXIST)
		return fy_err_set(err, FY_EFORMAT, "%s: two entries for '%s'", path, e->name);
	*out = e;
	return rc;
}

static int check_finite(const struct imat_entry *e, const char *path, struct fy_err *err)
{
	for (size_t i = 0; i < e->n; i++) {
		if (!isfinite(e->values[i]))
			return fy_err_set(err, FY_EFORMAT,
					  "%s: entry '%s' holds a non-finite value at %zu", path,
					  e->name, i);
	}
	return FY_OK;
}

/* --- legacy .dat ------------------------------------------------------------------------------ */

static int load_legacy(struct fy_imatrix *m, const uint8_t *p, size_t size, const char *path,
		       struct fy_err *err)
{
	struct fy_cursor c = { p, size, 0 };
	uint32_t u;
	int rc = FY_OK;
	if (!fy_cur_u32(&c, &u) || (int32_t)u < 1)
		return fy_err_set(err, FY_EFORMAT, "%s: not an importance matrix (GGUF or .dat)",
				  path);
	const int32_t n_entries = (int32_t)u;
	for (int32_t i = 0; i < n_entries; i++) {
		uint32_t len, ncall, nval;
		const uint8_t *name;
		const uint8_t *vals;
		struct imat_entry *e = NULL;
		if (!fy_cur_u32(&c, &len) || (int32_t)len < 0 || !fy_cur_take(&c, len, &name))
			return fy_err_set(err, FY_EFORMAT, "%s: entry %d: truncated name", path,
					  i + 1);
		if (!fy_cur_u32(&c, &ncall) || !fy_cur_u32(&c, &nval) || (int32_t)nval < 1 ||
		    nval > fy_cur_left(&c) / 4 || !fy_cur_take(&c, (size_t)nval * 4, &vals))
			return fy_err_set(err, FY_EFORMAT, "%s: entry %d: bad or truncated values",
					  path, i + 1);
		if (memchr(name, '\0', len) != NULL)
			return fy_err_set(err, FY_EFORMAT, "%s: entry %d: a NUL in its name", path,
					  i + 1);
		FY_TRY(rc, add_entry(m, (const char *)name, len, nval, 1, &e, path, err));
		memcpy(e->values, vals, (size_t)nval * 4);
		memcpy(e->sums, vals, (size_t)nval * 4);
		e->counts[0] = (int32_t)ncall;
		if ((int32_t)ncall > 0)
			for (size_t k = 0; k < e->n; k++)
				e->values[k] = e->values[k] / (float)(int32_t)ncall;
		FY_TRY(rc, check_finite(e, path, err));
	}
	/* the optional tail: chunk count and the dataset's name */
	if (fy_cur_left(&c) >= 4) {
		uint32_t chunks, len;
		const uint8_t *ds;
		fy_cur_u32(&c, &chunks);
		m->chunk_count = (int32_t)chunks;
		if (fy_cur_u32(&c, &len) && (int32_t)len > 0 && fy_cur_take(&c, len, &ds))
			FY_TRY(rc, add_dataset(m, (const char *)ds, strnlen((const char *)ds, len),
					       err));
	}
	m->legacy = true;
out:
	return rc;
}

/* --- GGUF ---------------------------------------------------------------------------------------
 */

static bool has_suffix(const char *s, const char *suffix, size_t *stem)
{
	const size_t n = strlen(s), k = strlen(suffix);
	if (n <= k || strcmp(s + n - k, suffix) != 0)
		return false;
	*stem = n - k;
	return true;
}

static int load_gguf(struct fy_imatrix *m, const struct fy_gguf *g, const char *path,
		     struct fy_err *err)
{
	const struct fy_gguf_kv *ds = fy_gguf_find_kv(g, "imatrix.datasets");
	const struct fy_gguf_kv *cc = fy_gguf_find_kv(g, "imatrix.chunk_count");
	const struct fy_gguf_kv *cs = fy_gguf_find_kv(g, "imatrix.chunk_size");
	int rc = FY_OK;
	if (fy_gguf_tensor_count(g) == 0)
		return fy_err_set(err, FY_EFORMAT, "%s: no data in the importance matrix", path);
	if (ds == NULL || cc == NULL || cs == NULL)
		return fy_err_set(err, FY_EFORMAT,
				  "%s: missing imatrix metadata (imatrix.datasets, chunk_count, "
				  "chunk_size)",
				  path);
	if (ds->type == FY_GGUF_ARRAY && ds->arr_type == FY_GGUF_STRING)
		for (uint64_t i = 0; i < ds->arr_count; i++) {
			const struct fy_gguf_value v = fy_gguf_arr_at(ds, i);
			FY_TRY(rc, add_dataset(m, v.s.ptr, v.s.len, err));
		}
	if (cc->type == FY_GGUF_U32)
		m->chunk_count = cc->v.u > INT32_MAX ? INT32_MAX : (int)cc->v.u;
	for (size_t i = 0; i < fy_gguf_tensor_count(g); i++) {
		const struct fy_gguf_tensor *sums = fy_gguf_tensor_at(g, i);
		size_t stem = 0;
		char counts_name[FY_GGUF_MAX_NAME + 16];
		struct imat_entry *e = NULL;
		if (!has_suffix(sums->name, ".in_sum2", &stem)) {
			if (has_suffix(sums->name, ".counts", &stem)) {
				snprintf(counts_name, sizeof(counts_name), "%.*s.in_sum2",
					 (int)stem, sums->name);
				if (fy_gguf_find_tensor(g, counts_name) == NULL)
					return fy_err_set(err, FY_EFORMAT,
							  "%s: %s has no %s beside it", path,
							  sums->name, counts_name);
			}
			continue;
		}
		snprintf(counts_name, sizeof(counts_name), "%.*s.counts", (int)stem, sums->name);
		const struct fy_gguf_tensor *counts = fy_gguf_find_tensor(g, counts_name);
		if (counts == NULL)
			return fy_err_set(err, FY_EFORMAT, "%s: %s has no %s beside it", path,
					  sums->name, counts_name);
		if (sums->type != FY_DTYPE_F32 || counts->type != FY_DTYPE_F32)
			return fy_err_set(err, FY_EFORMAT, "%s: %s and %s must be F32", path,
					  sums->name, counts->name);
		const int64_t nval = sums->n_elems, ncounts = counts->n_elems;
		if (ncounts < 1 || nval < 1 || nval % ncounts != 0)
			return fy_err_set(err, FY_EFORMAT,
					  "%s: %lld sums do not split into %lld experts' rows",
					  path, (long long)nval, (long long)ncounts);
		FY_TRY(rc, add_entry(m, sums->name, stem, (size_t)nval, (size_t)ncounts, &e, path,
				     err));
		memcpy(e->sums, sums->data, (size_t)nval * sizeof(float));
		const float *s = sums->data, *k = counts->data;
		const int64_t ne0 = nval / ncounts;
		for (int64_t j = 0; j < ncounts; j++) {
			float kf;
			memcpy(&kf, &k[j], sizeof(kf));
			if (!isfinite(kf) || fabsf(kf) > 9e18f)
				return fy_err_set(err, FY_EFORMAT, "%s: %s holds a bad count", path,
						  counts->name);
			const float count = (float)lroundf(kf);
			e->counts[j] = lroundf(kf);
			for (int64_t i2 = 0; i2 < ne0; i2++) {
				float v;
				memcpy(&v, &s[j * ne0 + i2], sizeof(v));
				e->values[j * ne0 + i2] = count > 0.0f ? v / count : 1;
			}
		}
		FY_TRY(rc, check_finite(e, path, err));
	}
out:
	return rc;
}

int fy_imatrix_parse(struct fy_imatrix **out, const void *data, size_t size, const char *label,
		     struct fy_err *err)
{
	struct fy_imatrix *m = calloc(1, sizeof(*m));
	struct fy_gguf *g = NULL;
	int rc;
	if (m == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	fy_index_init(&m->index);
	if (size >= 4 && memcmp(data, "GGUF", 4) == 0) {
		FY_TRY(rc, fy_gguf_parse(&g, data, size, label, err));
		rc = load_gguf(m, g, label, err);
	} else {
		rc = load_legacy(m, data, size, label, err);
	}
	if (rc == FY_OK && m->n == 0)
		rc = fy_err_set(err, FY_EFORMAT, "%s: no data in the importance matrix", label);
out:
	fy_gguf_free(g);
	if (rc != FY_OK) {
		fy_imatrix_free(m);
		return rc;
	}
	*out = m;
	return FY_OK;
}

int fy_imatrix_load(struct fy_imatrix **out, const char *path, struct fy_err *err)
{
	struct fy_map map = { 0 };
	int rc = fy_map_open(&map, path, err);
	if (rc == FY_OK)
		rc = fy_imatrix_parse(out, map.data, map.size, path, err);
	fy_map_release(&map);
	return rc;
}

void fy_imatrix_free(struct fy_imatrix *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n; i++)
		entry_release(&m->e[i]);
	free(m->e);
	for (size_t i = 0; i < m->n_datasets; i++)
		free(m->datasets[i]);
	free(m->datasets);
	fy_index_release(&m->index);
	free(m);
}

const float *fy_imatrix_find(const struct fy_imatrix *m, const char *name, size_t *n)
{
	int64_t i;
	if (m == NULL || !fy_index_find(&m->index, name, strlen(name), &i))
		return NULL;
	*n = m->e[i].n;
	return m->e[i].values;
}

int fy_imatrix_filter(struct fy_imatrix *m, const char *const *names, size_t n_names, bool keep,
		      struct fy_err *err)
{
	size_t kept = 0;
	for (size_t i = 0; i < m->n; i++) {
		bool hit = false;
		for (size_t k = 0; k < n_names && !hit; k++)
			hit = strstr(m->e[i].name, names[k]) != NULL;
		if (hit == keep) {
			m->e[kept++] = m->e[i];
		} else {
			entry_release(&m->e[i]);
		}
	}
	m->n = kept;
	fy_index_release(&m->index);
	fy_index_init(&m->index);
	for (size_t i = 0; i < kept; i++) {
		const int rc = fy_index_insert(&m->index, m->e[i].name, strlen(m->e[i].name),
					       (int64_t)i, err);
		if (rc != FY_OK)
			return rc;
	}
	return FY_OK;
}

size_t fy_imatrix_count(const struct fy_imatrix *m)
{
	return m->n;
}

const char *fy_imatrix_dataset(const struct fy_imatrix *m)
{
	return m->n_datasets > 0 ? m->datasets[0] : NULL;
}

size_t fy_imatrix_dataset_count(const struct fy_imatrix *m)
{
	return m->n_datasets;
}

const char *fy_imatrix_dataset_at(const struct fy_imatrix *m, size_t i)
{
	return i < m->n_datasets ? m->datasets[i] : NULL;
}

bool fy_imatrix_is_legacy(const struct fy_imatrix *m)
{
	return m->legacy;
}

void fy_imatrix_entry_at(const struct fy_imatrix *m, size_t i, struct fy_imatrix_entry *out)
{
	const struct imat_entry *e = &m->e[i];
	*out = (struct fy_imatrix_entry){ e->name, e->sums, e->n, e->counts, e->n_counts };
}

int fy_imatrix_chunks(const struct fy_imatrix *m)
{
	return m->chunk_count;
}
