/*
 * Derived revisions: files made by ferry (a quantization, a conversion) added on top of a
 * repository's main branch, with its lineage in the manifest's origin.
 */
#include "convert/convert.h"
#include "mirror/mirror_private.h"
#include "verify/verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct fy_file_entry *)a)->path,
		      ((const struct fy_file_entry *)b)->path);
}

/* True when path is the GGUF model NAME.gguf, or one of the shards of a split of it. */
static bool of_model(const char *path, const char *model)
{
	size_t prefix = 0;
	int k = 0, n = 0;
	const size_t m = model != NULL ? strlen(model) : 0;
	if (m == 0)
		return false;
	if (strcmp(path, model) == 0)
		return true;
	return m > 5 && strcmp(model + m - 5, ".gguf") == 0 &&
	       fy_gguf_split_name(path, &prefix, &k, &n) && prefix == m - 5 &&
	       strncmp(path, model, prefix) == 0;
}

/* r's files: main's (when repo has a main) less any at the paths of e[0..n) and any of the
 * GGUF model gguf_model names, plus e[0..n). main_tree receives main's tree id ("" without a
 * main). */
static int merge_files(struct fy_store *s, struct fy_revision *r, const struct fy_file_entry *e,
		       size_t n, const char *gguf_model, char main_tree[FY_REV_ID_LEN + 1],
		       struct fy_err *err)
{
	struct fy_revision *p = NULL;
	int rc = fy_store_read_ref(s, r->repo, "heads/main", r->parent, err);
	if (rc == FY_ENOTFOUND) {
		r->parent[0] = '\0';
		rc = FY_OK;
	} else if (rc == FY_OK) {
		rc = fy_revision_load(s, r->repo, r->parent, &p, err);
	}
	if (rc != FY_OK)
		return rc;
	snprintf(main_tree, FY_REV_ID_LEN + 1, "%s", p != NULL ? p->tree : "");
	const size_t n_old = p != NULL ? p->n_files : 0;
	r->files = calloc(n_old + n, sizeof(*r->files));
	if (r->files == NULL) {
		fy_revision_free(p);
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n_old + n && rc == FY_OK; i++) {
		const struct fy_file_entry *f = i < n_old ? &p->files[i] : &e[i - n_old];
		bool replaced = i < n_old && of_model(f->path, gguf_model);
		for (size_t k = 0; i < n_old && k < n; k++)
			replaced = replaced || strcmp(f->path, e[k].path) == 0;
		if (replaced)
			continue;
		r->files[r->n_files] = *f;
		r->files[r->n_files].path = strdup(f->path);
		if (r->files[r->n_files].path == NULL)
			rc = fy_err_set(err, FY_ENOMEM, "out of memory");
		r->total_size += f->size;
		r->n_files++;
	}
	fy_revision_free(p);
	if (rc != FY_OK)
		return rc;
	qsort(r->files, r->n_files, sizeof(*r->files), cmp_entry);
	return FY_OK;
}

/* Imports one file into objects/ and describes it as path. */
static int import_one(struct fy_store *s, const char *path, const char *src, bool own,
		      struct fy_file_entry *e, struct fy_err *err)
{
	struct fy_digests d;
	struct stat st;
	e->path = (char *)path;
	if (stat(src, &st) != 0)
		return fy_err_sys(err, FY_EIO, "cannot stat '%s'", src);
	e->lfs = fy_lfs_rule(path, (uint64_t)st.st_size);
	const int flags = e->lfs ? FY_HASH_SHA256_ONLY : 0;
	int rc = own ? fy_store_import_own(s, src, flags, &d, err)
		     : fy_store_import(s, src, flags, &d, err);
	if (rc != FY_OK)
		return rc;
	if (fy_lfs_rule(path, d.size) != e->lfs)
		return fy_err_set(err, FY_EIO, "'%s' changed while being added", src);
	e->size = d.size;
	memcpy(e->sha256, d.sha256, FY_SHA256_LEN);
	if (e->lfs)
		fy_lfs_pointer_oid(d.sha256, d.size, e->git_oid);
	else
		memcpy(e->git_oid, d.git_oid, FY_SHA1_LEN);
	return FY_OK;
}

static int build(struct fy_store *s, const char *repo, size_t n, const char *const *paths,
		 const char *const *srcs, const struct fy_derive_opts *o, struct fy_revision *r,
		 char main_tree[FY_REV_ID_LEN + 1], struct fy_err *err)
{
	struct fy_file_entry *e = calloc(n > 0 ? n : 1, sizeof(*e));
	int rc = FY_OK;
	if (e == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	snprintf(r->repo, sizeof(r->repo), "%s", repo);
	r->message = strdup(o->message);
	if (r->message == NULL)
		rc = fy_err_set(err, FY_ENOMEM, "out of memory");
	for (size_t i = 0; i < n && rc == FY_OK; i++)
		rc = import_one(s, paths[i], srcs[i], o->own_srcs, &e[i], err);
	if (rc == FY_OK)
		rc = merge_files(s, r, e, n, o->gguf_model, main_tree, err);
	free(e);
	if (rc != FY_OK)
		return rc;
	fy_revision_ids(r->files, r->n_files, r->parent, r->message, r->tree, r->id);
	fy_now_iso(r->created);
	return FY_OK;
}

int fy_store_add_files(struct fy_store *s, const char *repo, size_t n, const char *const *paths,
		       const char *const *srcs, const struct fy_derive_opts *o,
		       char id[FY_REV_ID_LEN + 1], struct fy_err *err)
{
	struct fy_revision *r = calloc(1, sizeof(*r));
	char main_tree[FY_REV_ID_LEN + 1] = "";
	bool locked = false;
	int rc;

	if (r == NULL) {
		fy_json_free(o->origin);
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	}
	r->origin = o->origin;
	FY_TRY(rc, fy_repo_check(repo, err));
	for (size_t i = 0; i < n; i++) {
		if (!fy_repo_path_ok(paths[i])) {
			rc = fy_err_set(err, FY_EINVAL, "'%s' is not a valid path in a repository",
					paths[i]);
			goto out;
		}
		for (size_t k = 0; k < i; k++) {
			if (strcmp(paths[i], paths[k]) == 0) {
				rc = fy_err_set(err, FY_EINVAL, "'%s' is added twice", paths[i]);
				goto out;
			}
		}
	}
	FY_TRY(rc, fy_store_lock(s, o->wait_fn, o->ctx, err));
	locked = true;
	FY_TRY(rc, build(s, repo, n, paths, srcs, o, r, main_tree, err));
	if (strcmp(main_tree, r->tree) == 0) { /* the same files as main (a re-run): main stays */
		memcpy(id, r->parent, FY_REV_ID_LEN + 1);
		goto out;
	}
	FY_TRY(rc, fy_store_write_manifest(s, r, err));
	FY_TRY(rc, fy_store_write_ref(s, repo, "heads/main", r->id, err));
	memcpy(id, r->id, FY_REV_ID_LEN + 1);
out:
	if (locked)
		fy_store_unlock(s);
	fy_revision_free(r);
	return rc;
}

int fy_store_add_file(struct fy_store *s, const char *repo, const char *path, const char *src,
		      const struct fy_derive_opts *o, char id[FY_REV_ID_LEN + 1],
		      struct fy_err *err)
{
	return fy_store_add_files(s, repo, 1, &path, &src, o, id, err);
}

int fy_store_add_gguf(struct fy_store *s, const char *repo, const char *name, const char *tmp,
		      size_t n_shards, const struct fy_derive_opts *o, char id[FY_REV_ID_LEN + 1],
		      struct fy_err *err)
{
	const size_t n = n_shards > 1 ? n_shards : 1;
	char **names = calloc(n, sizeof(*names));
	char **srcs = calloc(n, sizeof(*srcs));
	struct fy_derive_opts d = *o;
	int rc = FY_OK;
	d.gguf_model = name;
	if (names == NULL || srcs == NULL) {
		rc = fy_err_set(err, FY_ENOMEM, "out of memory");
		fy_json_free(o->origin);
		goto out;
	}
	for (size_t k = 0; k < n && rc == FY_OK; k++) {
		const size_t nc = strlen(name) + 32, tc = strlen(tmp) + 32;
		names[k] = malloc(nc);
		srcs[k] = malloc(tc);
		if (names[k] == NULL || srcs[k] == NULL)
			rc = fy_err_set(err, FY_ENOMEM, "out of memory");
		else if (n == 1)
			snprintf(names[k], nc, "%s", name), snprintf(srcs[k], tc, "%s", tmp);
		else if ((rc = fy_gguf_split_path(names[k], nc, name, k, n, err)) == FY_OK)
			rc = fy_gguf_split_path(srcs[k], tc, tmp, k, n, err);
	}
	if (rc == FY_OK)
		rc = fy_store_add_files(s, repo, n, (const char *const *)names,
					(const char *const *)srcs, &d, id, err);
	else
		fy_json_free(o->origin);
out:
	for (size_t k = 0; k < n; k++) {
		if (srcs != NULL && srcs[k] != NULL)
			unlink(srcs[k]);
		if (names != NULL)
			free(names[k]);
		if (srcs != NULL)
			free(srcs[k]);
	}
	free(names);
	free(srcs);
	return rc;
}

/* --- records beside a revision -------------------------------------------------------------- */

#define MAX_RECORD (16u << 20)

static bool record_kind_ok(const char *kind)
{
	return strcmp(kind, "smoke") == 0 || strcmp(kind, "verify") == 0;
}

int fy_store_record_write(struct fy_store *s, const char *repo, const char *id, const char *kind,
			  const struct fy_json *record, struct fy_err *err)
{
	if (!record_kind_ok(kind))
		return fy_err_set(err, FY_EINVAL, "'%s' is not a kind of revision record", kind);
	if (access(fy_store_path(s, "repos/%s/revisions/%s.json", repo, id), F_OK) != 0)
		return fy_err_set(err, FY_ENOTFOUND, "%s has no revision %s", repo, id);
	char *text = fy_json_dump(record, FY_JSON_DUMP_PRETTY);
	int rc;
	if (text == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	rc = fy_mkdirs(fy_store_path(s, "repos/%s/%s", repo, kind), err);
	if (rc == FY_OK)
		rc = fy_file_write_atomic_in(
			fy_store_path(s, "repos/%s/%s/%s.json", repo, kind, id),
			fy_store_path(s, "tmp"), text, strlen(text), err);
	free(text);
	return rc;
}

int fy_store_record_read(struct fy_store *s, const char *repo, const char *id, const char *kind,
			 struct fy_json **out, struct fy_err *err)
{
	if (!record_kind_ok(kind))
		return fy_err_set(err, FY_EINVAL, "'%s' is not a kind of revision record", kind);
	const char *path = fy_store_path(s, "repos/%s/%s/%s.json", repo, kind, id);
	if (access(path, F_OK) != 0)
		return FY_ENOTFOUND;
	return fy_json_load_file(out, path, MAX_RECORD, err);
}
