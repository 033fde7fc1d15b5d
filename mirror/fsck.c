/* fsck (the whole store checked) and gc (unreferenced objects removed). */
#include "mirror/mirror_private.h"

#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEX256 (2 * FY_SHA256_LEN)

/* Every object file: its name as hex ("" when the name is not an object name) and path. */
struct object {
	char hex[HEX256 + 1];
	char *path;
	uint64_t size;
	bool bad; /* corrupt, misnamed or quarantined */
};

struct objects {
	struct object *v;
	size_t n;
	struct fy_index by_hex;
};

static void objects_free(struct objects *o)
{
	for (size_t i = 0; i < o->n; i++)
		free(o->v[i].path);
	free(o->v);
	fy_index_release(&o->by_hex);
}

static int objects_push(struct objects *o, const char *dir, const char *sub, const char *name,
			struct fy_err *err)
{
	size_t n = o->n + 1;
	char path[4096];
	struct stat st;
	bool named = strlen(sub) == 2 && strlen(name) == HEX256 - 2 &&
		     strspn(sub, "0123456789abcdef") == 2 &&
		     strspn(name, "0123456789abcdef") == HEX256 - 2;

	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, name);
	struct object *v = realloc(o->v, n * sizeof(*o->v)); /* a failure leaves o->v to free */
	char *copy = v != NULL ? strdup(path) : NULL;
	if (v != NULL)
		o->v = v;
	if (copy == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	struct object *e = &o->v[o->n];
	*e = (struct object){ .path = copy,
			      .size = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0,
			      .bad = !named };
	if (named)
		snprintf(e->hex, sizeof(e->hex), "%s%s", sub, name);
	o->n = n;
	return FY_OK;
}

static int list_objects(struct fy_store *s, struct objects *o, struct fy_err *err)
{
	const char *root = fy_store_path(s, "objects/sha256");
	char **subs = NULL, **names = NULL;
	size_t ns = 0, nn = 0;
	size_t i, j;
	char dir[4096];
	int rc;

	fy_index_init(&o->by_hex);
	rc = fy_dir_list(root, "", &subs, &ns, err);
	for (i = 0; rc == FY_OK && i < ns; i++) {
		snprintf(dir, sizeof(dir), "%s/%s", root, subs[i]);
		rc = fy_dir_list(dir, "", &names, &nn, err);
		for (j = 0; rc == FY_OK && j < nn; j++)
			rc = objects_push(o, root, subs[i], names[j], err);
		fy_names_free(names, nn);
		names = NULL;
		nn = 0;
	}
	fy_names_free(subs, ns);
	/* built in a local: the analyzers take a pointer into *o as touching all of it */
	struct fy_index by_hex;
	fy_index_init(&by_hex);
	for (i = 0; rc == FY_OK && i < o->n; i++) {
		if (o->v[i].hex[0] != '\0')
			rc = fy_index_insert(&by_hex, o->v[i].hex, HEX256, (int64_t)i, err);
	}
	o->by_hex = by_hex;
	return rc;
}

struct fsck {
	struct fy_store *s;
	fy_finding_fn fn;
	void *ctx;
	struct fy_fsck_stats st;
	bool repair;
	int problems;
};

static void say(struct fsck *f, enum fy_finding kind, const char *what, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void say(struct fsck *f, enum fy_finding kind, const char *what, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (kind == FY_FINDING_PROBLEM)
		f->problems++;
	if (f->fn != NULL)
		f->fn(f->ctx, kind, what, msg);
}

static void quarantine(struct fsck *f, struct objects *o, size_t i)
{
	char dst[4096];
	const char *base = strrchr(o->v[i].path, '/') + 1;

	snprintf(dst, sizeof(dst), "%s/quarantine/%s%s", fy_store_dir(f->s),
		 o->v[i].hex[0] ? "" : "misnamed-", o->v[i].hex[0] ? o->v[i].hex : base);
	if (rename(o->v[i].path, dst) == 0) {
		f->st.quarantined++;
		say(f, FY_FINDING_WARNING, o->v[i].path, "moved to %s", dst);
	}
}

static int check_objects(struct fsck *f, struct objects *o, struct fy_pool *pool,
			 struct fy_err *err)
{
	struct fy_hash_job *jobs = calloc(o->n ? o->n : 1, sizeof(*jobs));
	char hex[HEX256 + 1];
	size_t i;

	if (jobs == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	for (i = 0; i < o->n; i++) {
		jobs[i].path = o->v[i].path;
		jobs[i].flags = FY_HASH_SHA256_ONLY; /* objects are named by SHA-256 alone */
	}
	fy_hash_files(pool, jobs, o->n);
	for (i = 0; i < o->n; i++) {
		f->st.objects++;
		if (jobs[i].rc != FY_OK) {
			o->v[i].bad = true;
			say(f, FY_FINDING_PROBLEM, o->v[i].path, "unreadable object: %s",
			    jobs[i].err.msg);
			continue;
		}
		fy_hex(jobs[i].digests.sha256, FY_SHA256_LEN, hex);
		if (o->v[i].hex[0] == '\0') {
			say(f, FY_FINDING_PROBLEM, o->v[i].path, "not an object name");
		} else if (strcmp(hex, o->v[i].hex) != 0) {
			o->v[i].bad = true;
			f->st.corrupt++;
			say(f, FY_FINDING_PROBLEM, o->v[i].path,
			    "corrupt object: content hashes to %s", hex);
		}
		if (f->repair && (o->v[i].bad || o->v[i].hex[0] == '\0'))
			quarantine(f, o, i);
	}
	free(jobs);
	return FY_OK;
}

static void check_files(struct fsck *f, struct objects *o, const struct fy_revision *r)
{
	char hex[HEX256 + 1];
	char what[512];
	int64_t i;
	size_t k;

	for (k = 0; k < r->n_files; k++) {
		const struct fy_file_entry *e = &r->files[k];

		fy_hex(e->sha256, FY_SHA256_LEN, hex);
		snprintf(what, sizeof(what), "%s@%.12s:%s", r->repo, r->id, e->path);
		if (!fy_index_find(&o->by_hex, hex, HEX256, &i)) {
			f->st.missing++;
			say(f, FY_FINDING_PROBLEM, what, "missing object %s", hex);
		} else if (o->v[i].bad) {
			say(f, FY_FINDING_PROBLEM, what,
			    "revision broken: object %.16s... is corrupt%s", hex,
			    f->repair ? " (quarantined)" : "");
		} else if (o->v[i].size != e->size) {
			say(f, FY_FINDING_PROBLEM, what, "object size %llu, manifest says %llu",
			    (unsigned long long)o->v[i].size, (unsigned long long)e->size);
		}
	}
}

static void check_refs(struct fsck *f, const char *repo)
{
	char **refs = NULL;
	size_t n = 0;
	size_t i;
	char id[FY_REV_ID_LEN + 1];
	char what[512];
	struct fy_err err;

	if (fy_store_list_refs(f->s, repo, &refs, &n, &err) != FY_OK) {
		say(f, FY_FINDING_PROBLEM, repo, "%s", err.msg);
		return;
	}
	for (i = 0; i < n; i++) {
		f->st.refs++;
		snprintf(what, sizeof(what), "%s refs/%s", repo, refs[i]);
		if (fy_store_read_ref(f->s, repo, refs[i], id, &err) != FY_OK) {
			say(f, FY_FINDING_PROBLEM, what, "%s", err.msg);
		} else if (access(fy_store_path(f->s, "repos/%s/revisions/%s.json", repo, id),
				  F_OK) != 0) {
			f->st.dangling++;
			say(f, FY_FINDING_PROBLEM, what, "dangling ref: revision %s does not exist",
			    id);
		}
	}
	fy_names_free(refs, n);
}

static void check_repo(struct fsck *f, struct objects *o, const char *repo)
{
	struct fy_revision *r = NULL;
	char **ids = NULL;
	size_t n = 0;
	size_t i;
	struct fy_err err;

	if (fy_store_list_revisions(f->s, repo, &ids, &n, &err) != FY_OK) {
		say(f, FY_FINDING_PROBLEM, repo, "%s", err.msg);
		return;
	}
	for (i = 0; i < n; i++) {
		f->st.manifests++;
		if (fy_revision_load(f->s, repo, ids[i], &r, &err) != FY_OK) {
			f->st.bad_manifests++;
			say(f, FY_FINDING_PROBLEM, repo, "bad manifest: %s", err.msg);
			continue;
		}
		check_files(f, o, r);
		fy_revision_free(r);
	}
	fy_names_free(ids, n);
	check_refs(f, repo);
}

static struct fsck *temp_walker;
static size_t temp_prefix; /* length of "STORE/" */

static int temp_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	const char *base = path + ftw->base;

	(void)st;
	if (flag == FTW_F &&
	    (strstr(base, ".ferry-tmp.") != NULL || strncmp(path + temp_prefix, "tmp/", 4) == 0)) {
		temp_walker->st.temp_files++;
		if (strncmp(base, "partial-", 8) == 0 &&
		    strncmp(path + temp_prefix, "tmp/", 4) == 0)
			say(temp_walker, FY_FINDING_WARNING, path, "interrupted download%s",
			    temp_walker->repair ? " (removed)"
						: " (the next clone or pull resumes it; "
						  "fsck --repair drops it)");
		else
			say(temp_walker, FY_FINDING_WARNING, path, "stray temp file%s",
			    temp_walker->repair ? " (removed)" : "");
		if (temp_walker->repair)
			unlink(path);
	}
	return 0;
}

static void check_temps(struct fsck *f)
{
	static const char *const roots[] = { "tmp", "repos", "objects", "keys" };
	size_t i;

	temp_walker = f;
	temp_prefix = strlen(fy_store_dir(f->s)) + 1;
	for (i = 0; i < sizeof(roots) / sizeof(roots[0]); i++)
		nftw(fy_store_path(f->s, "%s", roots[i]), temp_entry, 16, FTW_PHYS);
	temp_walker = NULL;
}

int fy_store_fsck(struct fy_store *s, struct fy_pool *pool, bool repair, fy_finding_fn fn,
		  void *ctx, struct fy_fsck_stats *stats, struct fy_err *err)
{
	struct fsck f = { s, fn, ctx, { 0 }, repair, 0 };
	struct objects o = { 0 };
	char **repos = NULL;
	size_t n = 0;
	size_t i;
	int rc;

	FY_TRY(rc, list_objects(s, &o, err));
	FY_TRY(rc, check_objects(&f, &o, pool, err));
	FY_TRY(rc, fy_store_list_repos(s, &repos, &n, err));
	for (i = 0; i < n; i++)
		check_repo(&f, &o, repos[i]);
	check_temps(&f);
	*stats = f.st;
	rc = f.problems > 0 ? FY_EFORMAT : FY_OK;
out:
	fy_names_free(repos, n);
	objects_free(&o);
	return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* gc                                                                                         */

static int mark_repo(struct fy_store *s, const char *repo, struct fy_buf *keys, struct fy_err *err)
{
	struct fy_revision *r = NULL;
	char **ids = NULL;
	size_t n = 0;
	size_t i, k;
	char hex[HEX256 + 1];
	int rc;

	rc = fy_store_list_revisions(s, repo, &ids, &n, err);
	for (i = 0; rc == FY_OK && i < n; i++) {
		rc = fy_revision_load(s, repo, ids[i], &r, err);
		for (k = 0; rc == FY_OK && k < r->n_files; k++) {
			fy_hex(r->files[k].sha256, FY_SHA256_LEN, hex);
			rc = fy_buf_append(keys, hex, HEX256, err);
		}
		fy_revision_free(r);
		r = NULL;
	}
	fy_names_free(ids, n);
	return rc;
}

int fy_store_gc(struct fy_store *s, bool dry_run, fy_lock_wait_fn wait_fn, void *ctx,
		uint64_t *objects, uint64_t *bytes, struct fy_err *err)
{
	struct fy_index live;
	struct objects o = { 0 };
	struct fy_buf keys;
	char **repos = NULL;
	size_t n = 0;
	size_t i;
	int64_t dummy;
	int rc;

	fy_index_init(&live);
	fy_buf_init(&keys);
	*objects = *bytes = 0;
	FY_TRY(rc, fy_store_lock(s, wait_fn, ctx, err));
	FY_TRY(rc, fy_store_list_repos(s, &repos, &n, err));
	for (i = 0; i < n; i++)
		FY_TRY(rc, mark_repo(s, repos[i], &keys, err));
	for (i = 0; i + HEX256 <= keys.len; i += HEX256) {
		rc = fy_index_insert(&live, (const char *)keys.data + i, HEX256, 0, err);
		if (rc != FY_OK && rc != FY_EEXIST)
			goto out;
	}
	FY_TRY(rc, list_objects(s, &o, err));
	for (i = 0; i < o.n; i++) {
		if (o.v[i].hex[0] == '\0' || fy_index_find(&live, o.v[i].hex, HEX256, &dummy))
			continue;
		(*objects)++;
		*bytes += o.v[i].size;
		if (!dry_run && unlink(o.v[i].path) != 0) {
			rc = fy_err_sys(err, FY_EIO, "cannot remove '%s'", o.v[i].path);
			goto out;
		}
	}
	rc = FY_OK;
out:
	fy_store_unlock(s);
	objects_free(&o);
	fy_names_free(repos, n);
	fy_index_release(&live);
	fy_buf_release(&keys);
	return rc;
}
