/* Structural validation of the files of a model repository, by kind. */
#include "convert/convert.h"
#include "verify/verify.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MAX_JSON_FILE (256u << 20)

struct findings {
	fy_finding_fn fn;
	void *ctx;
	const char *name;
	int problems;
};

static void report(struct findings *f, enum fy_finding kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void report(struct findings *f, enum fy_finding kind, const char *fmt, ...)
{
	char msg[FY_ERR_MSG_MAX + 64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (kind == FY_FINDING_PROBLEM)
		f->problems++;
	if (f->fn != NULL)
		f->fn(f->ctx, kind, f->name, msg);
}

static bool has_ext(const char *name, const char *ext)
{
	size_t n = strlen(name);
	size_t e = strlen(ext);

	return n > e && strcasecmp(name + n - e, ext) == 0;
}

/* Counts NaN and Inf values of a float tensor (F32, F16, BF16, F64); false for other types. */
static bool count_nonfinite(enum fy_dtype t, const uint8_t *p, int64_t n, int64_t *nan,
			    int64_t *inf)
{
	int64_t i;

	*nan = *inf = 0;
	for (i = 0; i < n; i++) {
		double v;

		if (t == FY_DTYPE_F32) {
			float x;

			memcpy(&x, p + 4 * i, 4);
			v = x;
		} else if (t == FY_DTYPE_F16) {
			v = fy_f16_to_f32(fy_le16(p + 2 * i));
		} else if (t == FY_DTYPE_BF16) {
			v = fy_bf16_to_f32(fy_le16(p + 2 * i));
		} else if (t == FY_DTYPE_F64) {
			memcpy(&v, p + 8 * i, 8);
		} else {
			return false;
		}
		*nan += isnan(v) ? 1 : 0;
		*inf += isinf(v) ? 1 : 0;
	}
	return true;
}

static void deep_tensor(struct findings *f, const char *tname, enum fy_dtype t, const void *data,
			int64_t n)
{
	int64_t nan, inf;

	if (data == NULL || !count_nonfinite(t, data, n, &nan, &inf))
		return;
	if (nan > 0 || inf > 0)
		report(f, FY_FINDING_WARNING, "tensor '%s': %lld NaN and %lld Inf values", tname,
		       (long long)nan, (long long)inf);
}

static void check_safetensors(struct findings *f, const struct fy_map *m, int flags)
{
	struct fy_st_file *st = NULL;
	struct fy_err err;
	size_t i;

	if (fy_st_parse(&st, m->data, m->size, f->name, &err) != FY_OK) {
		report(f, FY_FINDING_PROBLEM, "bad structure: %s", err.msg);
		return;
	}
	for (i = 0; (flags & FY_VALIDATE_DEEP) && i < fy_st_count(st); i++) {
		const struct fy_st_tensor *t = fy_st_at(st, i);

		deep_tensor(f, t->name, t->dtype, t->data, t->n_elems);
	}
	fy_st_free(st);
}

static void check_gguf(struct findings *f, const struct fy_map *m, int flags)
{
	struct fy_gguf *g = NULL;
	struct fy_err err;
	size_t i;

	if (fy_gguf_parse(&g, m->data, m->size, f->name, &err) != FY_OK) {
		report(f, FY_FINDING_PROBLEM, "bad structure: %s", err.msg);
		return;
	}
	if (fy_gguf_trailing(g) > 0)
		report(f, FY_FINDING_WARNING,
		       "%llu bytes after the last tensor (ignored, as llama.cpp ignores them)",
		       (unsigned long long)fy_gguf_trailing(g));
	for (i = 0; (flags & FY_VALIDATE_DEEP) && i < fy_gguf_tensor_count(g); i++) {
		const struct fy_gguf_tensor *t = fy_gguf_tensor_at(g, i);

		deep_tensor(f, t->name, t->type, t->data, t->n_elems);
	}
	fy_gguf_free(g);
}

static void check_json(struct findings *f, const struct fy_map *m)
{
	struct fy_json *j = NULL;
	struct fy_err err;

	if (m->size > MAX_JSON_FILE) {
		report(f, FY_FINDING_PROBLEM, "bad structure: JSON file larger than %u bytes",
		       MAX_JSON_FILE);
		return;
	}
	if (fy_json_parse(&j, m->data ? (const char *)m->data : "", m->size, f->name, &err) !=
	    FY_OK)
		report(f, FY_FINDING_PROBLEM, "bad structure: %s", err.msg);
	fy_json_free(j);
}

static void check_pickle(struct findings *f, const struct fy_map *m)
{
	struct fy_buf imports;
	struct fy_err err;

	const uint8_t *d = m->data ? m->data : (const uint8_t *)"";
	bool looks = m->size >= 2 && (d[0] == 0x80 || memcmp(d, "PK", 2) == 0);

	fy_buf_init(&imports);
	if (fy_pickle_imports(d, m->size, &imports, &err) != FY_OK) {
		/* a .bin that is no pickle (raw arrays, GGML) loads nothing: say nothing */
		if (looks)
			report(f, FY_FINDING_WARNING, "pickle file that cannot be scanned (%s)",
			       err.msg);
	} else
		report(f, FY_FINDING_WARNING, "pickle file: loading it would import %.*s",
		       (int)imports.len, imports.len ? (const char *)imports.data : "nothing");
	fy_buf_release(&imports);
}

int fy_validate_file(const char *name, const char *path, int flags, fy_finding_fn fn, void *ctx,
		     struct fy_err *err)
{
	struct findings f = { fn, ctx, name, 0 };
	struct fy_map m = { NULL, 0 };
	bool st = has_ext(name, ".safetensors");
	bool gguf = has_ext(name, ".gguf");
	bool json = has_ext(name, ".json");
	bool pkl = fy_is_pickle_name(name);
	int rc;

	if (!st && !gguf && !json && !pkl)
		return FY_OK;
	rc = fy_map_open(&m, path, err);
	if (rc != FY_OK)
		return rc;
	if (st)
		check_safetensors(&f, &m, flags);
	else if (gguf)
		check_gguf(&f, &m, flags);
	else if (json)
		check_json(&f, &m);
	else
		check_pickle(&f, &m);
	fy_map_release(&m);
	return f.problems > 0 ? FY_EFORMAT : FY_OK;
}
