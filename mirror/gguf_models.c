/*
 * The GGUF models of a revision: each single .gguf file, and each split set (llama.cpp's
 * PREFIX-0000K-of-0000N.gguf shards) as one model, opened whole from the store's objects (whose
 * names say nothing of the siblings: the revision's paths do).
 */
#include "convert/convert.h"
#include "mirror/mirror_private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static bool is_gguf(const char *p)
{
	const size_t n = strlen(p);
	return n > 5 && strcasecmp(p + n - 5, ".gguf") == 0;
}

/* The name of shard k (1-based) of n of the set whose prefix is path[0..prefix). */
static bool shard_name(char *out, size_t cap, const char *path, size_t prefix, size_t k, size_t n)
{
	char base[8400];
	struct fy_err err;
	if (prefix >= sizeof(base))
		return false;
	memcpy(base, path, prefix);
	base[prefix] = '\0';
	return fy_gguf_split_path(out, cap, base, k - 1, n, &err) == FY_OK;
}

/* The entry for shard k (1-based) of n with this prefix, or NULL. */
static const struct fy_file_entry *find_shard(const struct fy_revision *r, const char *path,
					      size_t prefix, int k, int n)
{
	char want[8400];
	if (!shard_name(want, sizeof(want), path, prefix, (size_t)k, (size_t)n))
		return NULL;
	return fy_revision_find(r, want);
}

int fy_revision_gguf_models(const struct fy_revision *r, struct fy_gguf_model **out, size_t *n,
			    struct fy_err *err)
{
	struct fy_gguf_model *m = calloc(r->n_files > 0 ? r->n_files : 1, sizeof(*m));
	size_t count = 0;
	if (m == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	for (size_t i = 0; i < r->n_files; i++) {
		const struct fy_file_entry *e = &r->files[i];
		size_t prefix = 0;
		int k = 0, total = 0;
		if (!is_gguf(e->path))
			continue;
		if (!fy_gguf_split_name(e->path, &prefix, &k, &total) || total == 1) {
			m[count++] = (struct fy_gguf_model){ e, NULL, 1, true };
			continue;
		}
		if (k != 1 && find_shard(r, e->path, prefix, 1, total) != NULL)
			continue; /* listed with its first shard */
		struct fy_gguf_model *g = &m[count++];
		g->first = e;
		g->n = (size_t)total;
		g->shards = calloc((size_t)total, sizeof(*g->shards));
		if (g->shards == NULL) {
			fy_gguf_models_free(m, count);
			return fy_err_set(err, FY_ENOMEM, "out of memory");
		}
		g->complete = true;
		for (int j = 1; j <= total; j++) {
			g->shards[j - 1] = find_shard(r, e->path, prefix, j, total);
			g->complete = g->complete && g->shards[j - 1] != NULL;
		}
	}
	*out = m;
	*n = count;
	return FY_OK;
}

void fy_gguf_models_free(struct fy_gguf_model *m, size_t n)
{
	for (size_t i = 0; m != NULL && i < n; i++)
		free(m[i].shards);
	free(m);
}

const struct fy_gguf_model *fy_gguf_model_of(const struct fy_gguf_model *m, size_t n,
					     const char *path)
{
	for (size_t i = 0; i < n; i++) {
		if (m[i].first == NULL)
			continue;
		if (strcmp(m[i].first->path, path) == 0)
			return &m[i];
		for (size_t k = 0; m[i].shards != NULL && k < m[i].n; k++)
			if (m[i].shards[k] != NULL && strcmp(m[i].shards[k]->path, path) == 0)
				return &m[i];
	}
	return NULL;
}

int fy_gguf_model_check(const struct fy_revision *r, const struct fy_gguf_model *m,
			struct fy_err *err)
{
	for (size_t k = 0; m->shards != NULL && k < m->n; k++) {
		if (m->shards[k] != NULL)
			continue;
		char want[8400] = "?";
		size_t prefix = 0;
		int no = 0, total = 0;
		if (fy_gguf_split_name(m->first->path, &prefix, &no, &total))
			shard_name(want, sizeof(want), m->first->path, prefix, k + 1, m->n);
		return fy_err_set(err, FY_ENOTFOUND,
				  "%s@%.12s: %s is missing: shard %zu of %zu of a split model "
				  "(read whole or not at all)",
				  r->repo, r->id, want, k + 1, m->n);
	}
	return FY_OK;
}

int fy_store_gguf_open(struct fy_store *s, const struct fy_revision *r,
		       const struct fy_gguf_model *m, struct fy_gguf **out, struct fy_err *err)
{
	if (m->shards == NULL) {
		const char *one[1] = { fy_store_object_path(s, m->first->sha256) };
		return fy_gguf_open_set(out, one, 1, m->first->path, err);
	}
	int rc = fy_gguf_model_check(r, m, err);
	if (rc != FY_OK)
		return rc;
	char **paths = calloc(m->n, sizeof(*paths));
	if (paths == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	for (size_t k = 0; rc == FY_OK && k < m->n; k++) {
		paths[k] = strdup(fy_store_object_path(s, m->shards[k]->sha256));
		if (paths[k] == NULL)
			rc = fy_err_set(err, FY_ENOMEM, "out of memory");
	}
	if (rc == FY_OK)
		rc = fy_gguf_open_set(out, (const char *const *)paths, m->n, m->first->path, err);
	for (size_t k = 0; k < m->n; k++)
		free(paths[k]);
	free(paths);
	return rc;
}

int fy_store_gguf_link(struct fy_store *s, const struct fy_revision *r,
		       const struct fy_gguf_model *m, const char *dir, char *first, size_t cap,
		       struct fy_err *err)
{
	int rc = fy_gguf_model_check(r, m, err);
	const size_t n = m->shards != NULL ? m->n : 1;
	for (size_t k = 0; rc == FY_OK && k < n; k++) {
		const struct fy_file_entry *e = m->shards != NULL ? m->shards[k] : m->first;
		const char *base =
			strrchr(e->path, '/') != NULL ? strrchr(e->path, '/') + 1 : e->path;
		char link[8400];
		const int w = snprintf(link, sizeof(link), "%s/%s", dir, base);
		if (w <= 0 || (size_t)w >= sizeof(link) || (k == 0 && (size_t)w >= cap))
			return fy_err_set(err, FY_EINVAL, "%s/%s: path too long", dir, base);
		if (unlink(link) != 0 && errno != ENOENT)
			return fy_err_sys(err, FY_EIO, "cannot replace '%s'", link);
		if (symlink(fy_store_object_path(s, e->sha256), link) != 0)
			return fy_err_sys(err, FY_EIO, "cannot link '%s'", link);
		if (k == 0)
			memcpy(first, link, (size_t)w + 1);
	}
	return rc;
}
