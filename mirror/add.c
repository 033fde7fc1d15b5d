/* ferry add: a local directory becomes a new revision of a repository. */
#include "mirror/mirror_private.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_DEPTH 64

struct src_file {
	char *rel;
	char *abs;
	uint64_t size;
};

struct walk {
	struct src_file *files;
	size_t n;
	size_t cap;
	uint64_t total;
};

static int add_src(struct walk *w, const char *rel, const char *abs, uint64_t size,
		   struct fy_err *err)
{
	struct src_file *p;

	if (!fy_repo_path_ok(rel))
		return fy_err_set(err, FY_EINVAL, "'%s': file name not allowed in a repository",
				  abs);
	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 64;
		p = realloc(w->files, w->cap * sizeof(*p));
		if (p == NULL)
			return fy_err_set(err, FY_ENOMEM, "out of memory");
		w->files = p;
	}
	w->files[w->n].rel = strdup(rel);
	w->files[w->n].abs = strdup(abs);
	w->files[w->n].size = size;
	if (w->files[w->n].rel == NULL || w->files[w->n].abs == NULL) {
		free(w->files[w->n].rel);
		free(w->files[w->n].abs);
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	}
	w->n++;
	w->total += size;
	return FY_OK;
}

static bool skipped(const char *rel_dir, const char *name)
{
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strcmp(name, ".git") == 0)
		return true;
	/* huggingface_hub's local-dir metadata, not repository content */
	return rel_dir[0] == '\0' && strcmp(name, ".cache") == 0;
}

static int walk_dir(struct walk *w, const char *abs, const char *rel, int depth, struct fy_err *err)
{
	char cabs[PATH_MAX], crel[PATH_MAX];
	struct dirent *e;
	struct stat st;
	DIR *d;
	int rc = FY_OK;

	if (depth > MAX_DEPTH)
		return fy_err_set(err, FY_EINVAL, "'%s': folders nested too deep (symlink loop?)",
				  abs);
	d = opendir(abs);
	if (d == NULL)
		return fy_err_sys(err, FY_EIO, "cannot open directory '%s'", abs);
	while (rc == FY_OK && (e = readdir(d)) != NULL) {
		if (skipped(rel, e->d_name))
			continue;
		snprintf(cabs, sizeof(cabs), "%s/%s", abs, e->d_name);
		snprintf(crel, sizeof(crel), "%s%s%s", rel, rel[0] ? "/" : "", e->d_name);
		if (stat(cabs, &st) != 0)
			rc = fy_err_sys(err, FY_EIO, "cannot stat '%s'", cabs);
		else if (S_ISDIR(st.st_mode))
			rc = walk_dir(w, cabs, crel, depth + 1, err);
		else if (S_ISREG(st.st_mode))
			rc = add_src(w, crel, cabs, (uint64_t)st.st_size, err);
		else
			rc = fy_err_set(err, FY_EINVAL, "'%s' is not a regular file or folder",
					cabs);
	}
	closedir(d);
	return rc;
}

static int cmp_rel(const void *a, const void *b)
{
	return strcmp(((const struct src_file *)a)->rel, ((const struct src_file *)b)->rel);
}

static void walk_free(struct walk *w)
{
	size_t i;

	for (i = 0; i < w->n; i++) {
		free(w->files[i].rel);
		free(w->files[i].abs);
	}
	free(w->files);
}

/* ------------------------------------------------------------------------------------------ */

struct import_ctx {
	struct fy_store *s;
	struct walk *w;
	struct fy_file_entry *entries;
	const struct fy_add_opts *opts;
	pthread_mutex_t mu;
	uint64_t done;
};

static int import_range(void *arg, int64_t begin, int64_t end, struct fy_err *err)
{
	struct import_ctx *c = arg;
	struct fy_digests d;
	int64_t i;
	int rc;

	for (i = begin; i < end; i++) {
		struct src_file *f = &c->w->files[i];
		struct fy_file_entry *e = &c->entries[i];

		/* LFS files (decided by name and size) are identified by SHA-256 alone */
		e->lfs = fy_lfs_rule(f->rel, f->size);
		rc = fy_store_import(c->s, f->abs, e->lfs ? FY_HASH_SHA256_ONLY : 0, &d, err);
		if (rc != FY_OK)
			return rc;
		if (fy_lfs_rule(f->rel, d.size) != e->lfs)
			return fy_err_set(err, FY_EIO, "'%s' changed while being added", f->abs);
		memcpy(e->sha256, d.sha256, FY_SHA256_LEN);
		memcpy(e->git_oid, d.git_oid, FY_SHA1_LEN);
		e->size = d.size;
		if (e->lfs)
			fy_lfs_pointer_oid(d.sha256, d.size, e->git_oid);
		pthread_mutex_lock(&c->mu);
		c->done += d.size;
		if (c->opts->progress != NULL)
			c->opts->progress(c->opts->ctx, c->done, c->w->total, f->rel);
		pthread_mutex_unlock(&c->mu);
	}
	return FY_OK;
}

static int import_all(struct fy_store *s, struct walk *w, const struct fy_add_opts *opts,
		      struct fy_file_entry *entries, struct fy_err *err)
{
	struct import_ctx c = { s, w, entries, opts, PTHREAD_MUTEX_INITIALIZER, 0 };
	size_t i;
	int rc;

	for (i = 0; i < w->n; i++) {
		entries[i].path = strdup(w->files[i].rel);
		if (entries[i].path == NULL)
			return fy_err_set(err, FY_ENOMEM, "out of memory");
	}
	if (opts->pool != NULL)
		rc = fy_pool_for(opts->pool, (int64_t)w->n, 1, import_range, &c, err);
	else
		rc = import_range(&c, 0, (int64_t)w->n, err);
	pthread_mutex_destroy(&c.mu);
	return rc;
}

/* A time as the index writes it, exactly. */
bool fy_iso_parse(const char *s, time_t *out)
{
	struct tm tm;
	const char *end;
	char back[32];

	if (s == NULL || strlen(s) != 20)
		return false;
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (end == NULL || *end != '\0')
		return false;
	*out = timegm(&tm);
	fy_iso_utc(*out, back);
	return strcmp(back, s) == 0;
}

void fy_iso_utc(time_t t, char out[32])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void fy_now_iso(char out[32])
{
	const char *sde = getenv("SOURCE_DATE_EPOCH");

	fy_iso_utc(sde != NULL ? (time_t)strtoll(sde, NULL, 10) : time(NULL), out);
}

static struct fy_json *local_origin(const char *dir)
{
	struct fy_json *o = fy_json_object();
	char *abs = realpath(dir, NULL);

	fy_json_set(o, "kind", fy_json_string("local"));
	fy_json_set(o, "path", fy_json_string(abs ? abs : dir));
	free(abs);
	return o;
}

/* Writes the manifest unless that revision exists already (its bytes may be signed). */
int fy_store_write_manifest(struct fy_store *s, const struct fy_revision *r, struct fy_err *err)
{
	const char *path = fy_store_path(s, "repos/%s/revisions/%s.json", r->repo, r->id);
	struct fy_buf b;
	int rc;

	if (access(path, F_OK) == 0)
		return FY_OK;
	rc = fy_mkdirs(fy_store_path(s, "repos/%s/revisions", r->repo), err);
	if (rc != FY_OK)
		return rc;
	fy_buf_init(&b);
	rc = fy_revision_to_json(r, &b, err);
	if (rc == FY_OK)
		rc = fy_file_write_atomic_in(path, fy_store_path(s, "tmp"), b.data, b.len, err);
	fy_buf_release(&b);
	return rc;
}

/* The parent (main's head) when there is one, and whether r's tree equals its tree. */
static int find_parent(struct fy_store *s, struct fy_revision *r, bool *same_tree,
		       struct fy_err *err)
{
	struct fy_revision *p = NULL;
	int rc;

	*same_tree = false;
	rc = fy_store_read_ref(s, r->repo, "heads/main", r->parent, err);
	if (rc == FY_ENOTFOUND) {
		r->parent[0] = '\0';
		return FY_OK;
	}
	if (rc != FY_OK)
		return rc;
	rc = fy_revision_load(s, r->repo, r->parent, &p, err);
	if (rc != FY_OK)
		return rc;
	fy_revision_ids(r->files, r->n_files, "", "", r->tree, r->id);
	*same_tree = strcmp(p->tree, r->tree) == 0;
	fy_revision_free(p);
	return FY_OK;
}

static int build_revision(struct fy_store *s, const char *repo, const char *dir,
			  const struct fy_add_opts *opts, struct fy_revision *r, bool *same,
			  struct fy_err *err)
{
	struct walk w = { 0 };
	int rc;

	snprintf(r->repo, sizeof(r->repo), "%s", repo);
	FY_TRY(rc, walk_dir(&w, dir, "", 0, err));
	if (w.n > 0) /* qsort's array must not be NULL, even empty */
		qsort(w.files, w.n, sizeof(*w.files), cmp_rel);
	r->files = calloc(w.n ? w.n : 1, sizeof(*r->files));
	if (r->files == NULL) {
		rc = fy_err_set(err, FY_ENOMEM, "out of memory");
		goto out;
	}
	r->n_files = w.n;
	r->total_size = w.total;
	FY_TRY(rc, import_all(s, &w, opts, r->files, err));
	FY_TRY(rc, find_parent(s, r, same, err));
	fy_revision_ids(r->files, r->n_files, r->parent, r->message, r->tree, r->id);
	fy_now_iso(r->created);
	r->origin = local_origin(dir);
out:
	walk_free(&w);
	return rc;
}

int fy_store_add(struct fy_store *s, const char *repo, const char *dir,
		 const struct fy_add_opts *opts, char id[FY_REV_ID_LEN + 1], bool *unchanged,
		 struct fy_err *err)
{
	struct fy_revision *r = calloc(1, sizeof(*r));
	struct stat st;
	char msg[4200];
	bool same = false;
	int rc;

	if (r == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	snprintf(msg, sizeof(msg), "add %s", dir);
	r->message = strdup(opts->message ? opts->message : msg);
	if (r->message == NULL) {
		rc = fy_err_set(err, FY_ENOMEM, "out of memory");
		goto out;
	}
	FY_TRY(rc, fy_repo_check(repo, err));
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		rc = fy_err_set(err, FY_EINVAL, "'%s' is not a directory", dir);
		goto out;
	}
	FY_TRY(rc, fy_store_lock(s, opts->wait_fn, opts->ctx, err));
	FY_TRY(rc, build_revision(s, repo, dir, opts, r, &same, err));
	*unchanged = same;
	if (same) {
		memcpy(id, r->parent, FY_REV_ID_LEN + 1);
		goto out;
	}
	FY_TRY(rc, fy_store_write_manifest(s, r, err));
	FY_TRY(rc, fy_store_write_ref(s, repo, "heads/main", r->id, err));
	memcpy(id, r->id, FY_REV_ID_LEN + 1);
out:
	fy_store_unlock(s);
	fy_revision_free(r);
	return rc;
}
