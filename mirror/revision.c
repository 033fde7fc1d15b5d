/*
 * Revision manifests and ids.
 *
 * A revision id is a git commit id: the files form a git tree (a blob per file: the content's
 * blob for regular files, the LFS pointer's blob for LFS files; mode 100644; folders as trees),
 * and the commit holds that tree, the parent revision, a fixed author and committer
 * ("ferry <ferry@localhost> 0 +0000") and the message. The same files, parent and message give
 * the same id on any machine, and the ids have the shape hub clients expect.
 */
#include "mirror/mirror_private.h"

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define MAX_MANIFEST (256u << 20)
#define FORMAT_NAME "ferry-revision/1"

/* ------------------------------------------------------------------------------------------ */
/* Ids                                                                                        */

void fy_lfs_pointer_oid(const uint8_t sha256[FY_SHA256_LEN], uint64_t size,
			uint8_t out[FY_SHA1_LEN])
{
	char hex[2 * FY_SHA256_LEN + 1];
	char text[256];
	int n;

	fy_hex(sha256, FY_SHA256_LEN, hex);
	n = snprintf(text, sizeof(text),
		     "version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %" PRIu64
		     "\n",
		     hex, size);
	fy_git_object_id("blob", text, (size_t)n, out);
}

/* The tree of files[0..n) whose paths all start with the first `skip` bytes; *oid receives it. */
static int build_tree(const struct fy_file_entry *files, size_t n, size_t skip,
		      uint8_t oid[FY_SHA1_LEN])
{
	struct fy_buf t;
	size_t i = 0;
	int rc = FY_OK;

	fy_buf_init(&t);
	while (i < n && rc == FY_OK) {
		const char *name = files[i].path + skip;
		const char *slash = strchr(name, '/');
		uint8_t sub[FY_SHA1_LEN];

		if (slash == NULL) {
			const uint8_t *blob = files[i].git_oid;

			fy_buf_printf(&t, NULL, "100644 %s", name);
			fy_buf_append(&t, "", 1, NULL);
			rc = fy_buf_append(&t, blob, FY_SHA1_LEN, NULL);
			i++;
		} else {
			size_t len = (size_t)(slash - name);
			size_t j = i;

			while (j < n && strncmp(files[j].path + skip, name, len + 1) == 0)
				j++;
			build_tree(files + i, j - i, skip + len + 1, sub);
			fy_buf_printf(&t, NULL, "40000 %.*s", (int)len, name);
			fy_buf_append(&t, "", 1, NULL);
			rc = fy_buf_append(&t, sub, FY_SHA1_LEN, NULL);
			i = j;
		}
	}
	fy_git_object_id("tree", t.data ? t.data : (const uint8_t *)"", t.len, oid);
	fy_buf_release(&t);
	return rc;
}

void fy_git_tree_oid(const struct fy_file_entry *files, size_t n, size_t skip,
		     uint8_t oid[FY_SHA1_LEN])
{
	build_tree(files, n, skip, oid);
}

void fy_revision_ids(const struct fy_file_entry *files, size_t n, const char *parent,
		     const char *message, char tree[FY_REV_ID_LEN + 1],
		     char commit[FY_REV_ID_LEN + 1])
{
	static const char who[] = "ferry <ferry@localhost> 0 +0000";
	uint8_t oid[FY_SHA1_LEN];
	struct fy_buf c;

	build_tree(files, n, 0, oid);
	fy_hex(oid, FY_SHA1_LEN, tree);
	fy_buf_init(&c);
	fy_buf_printf(&c, NULL, "tree %s\n", tree);
	if (parent != NULL && parent[0] != '\0')
		fy_buf_printf(&c, NULL, "parent %s\n", parent);
	fy_buf_printf(&c, NULL, "author %s\ncommitter %s\n\n%s\n", who, who, message);
	fy_git_object_id("commit", c.data, c.len, oid);
	fy_hex(oid, FY_SHA1_LEN, commit);
	fy_buf_release(&c);
}

bool fy_lfs_rule(const char *path, uint64_t size)
{
	static const char *const exts[] = {
		".safetensors", ".gguf", ".bin",   ".pt",      ".pth", ".ckpt",	  ".pkl",
		".pickle",	".h5",	 ".onnx",  ".msgpack", ".npy", ".npz",	  ".model",
		".tflite",	".ot",	 ".arrow", ".parquet", ".pb",  ".joblib", ".mlmodel",
		".ftz",		".wasm", ".zip",   ".tar",     ".tgz", ".gz",	  ".xz",
		".zst",		".7z",	 ".bz2",   ".rar",     NULL,
	};
	size_t len = strlen(path);
	int i;

	if (size > FY_LFS_THRESHOLD || strstr(path, "tfevents") != NULL)
		return true;
	for (i = 0; exts[i] != NULL; i++) {
		size_t e = strlen(exts[i]);

		if (len > e && strcmp(path + len - e, exts[i]) == 0)
			return true;
	}
	return false;
}

bool fy_repo_path_ok(const char *path)
{
	const char *p = path;
	const char *c;

	if (path[0] == '\0' || path[0] == '/')
		return false;
	for (c = path; *c != '\0'; c++) {
		if ((unsigned char)*c < 0x20 || *c == '\\' || *c == 0x7f)
			return false;
	}
	while (*p != '\0') {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		if (slash == NULL)
			break;
		p = slash + 1;
		if (*p == '\0')
			return false;
	}
	return true;
}

/* ------------------------------------------------------------------------------------------ */
/* Manifests                                                                                  */

static struct fy_json *file_json(const struct fy_file_entry *f)
{
	struct fy_json *o = fy_json_object();
	char hex[2 * FY_SHA256_LEN + 1];

	fy_json_set(o, "path", fy_json_string(f->path));
	fy_json_set(o, "size", fy_json_integer((int64_t)f->size));
	fy_hex(f->sha256, FY_SHA256_LEN, hex);
	fy_json_set(o, "sha256", fy_json_string(hex));
	fy_hex(f->git_oid, FY_SHA1_LEN, hex);
	fy_json_set(o, "git_oid", fy_json_string(hex));
	fy_json_set(o, "lfs", fy_json_bool(f->lfs));
	return o;
}

int fy_revision_to_json(const struct fy_revision *r, struct fy_buf *out, struct fy_err *err)
{
	struct fy_json *o = fy_json_object();
	struct fy_json *files = fy_json_array();
	char *text = NULL;
	size_t i;
	int rc;

	fy_json_set(o, "format", fy_json_string(FORMAT_NAME));
	fy_json_set(o, "id", fy_json_string(r->id));
	fy_json_set(o, "repo", fy_json_string(r->repo));
	fy_json_set(o, "parent", r->parent[0] ? fy_json_string(r->parent) : fy_json_null());
	fy_json_set(o, "tree", fy_json_string(r->tree));
	fy_json_set(o, "message", fy_json_string(r->message));
	fy_json_set(o, "created", fy_json_string(r->created));
	if (r->origin != NULL)
		fy_json_set(o, "origin", fy_json_copy(r->origin));
	for (i = 0; i < r->n_files; i++)
		fy_json_push(files, file_json(&r->files[i]));
	fy_json_set(o, "files", files);
	text = fy_json_dump(o, FY_JSON_DUMP_PRETTY);
	fy_json_free(o);
	if (text == NULL)
		return fy_err_set(err, FY_ENOMEM,
				  "out of memory (or invalid UTF-8 in a file name)");
	rc = fy_buf_append(out, text, strlen(text), err);
	if (rc == FY_OK)
		rc = fy_buf_append(out, "\n", 1, err);
	free(text);
	return rc;
}

void fy_revision_free(struct fy_revision *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->n_files; i++)
		free(r->files[i].path);
	free(r->files);
	free(r->message);
	fy_json_free(r->origin);
	free(r);
}

static bool get_hex(const struct fy_json *o, const char *key, uint8_t *out, size_t n)
{
	const char *s = fy_json_str(fy_json_get(o, key));

	return s != NULL && strlen(s) == 2 * n && fy_unhex(s, out, n);
}

static int parse_file(const struct fy_json *o, struct fy_file_entry *f, const char *label, size_t i,
		      struct fy_err *err)
{
	const char *path = fy_json_str(fy_json_get(o, "path"));
	struct fy_json *lfs = fy_json_get(o, "lfs");
	int64_t size;

	if (path == NULL || !fy_repo_path_ok(path))
		return fy_err_set(err, FY_EFORMAT, "%s: file %zu has an invalid path", label, i);
	if (!fy_json_int(fy_json_get(o, "size"), &size) || size < 0 ||
	    !get_hex(o, "sha256", f->sha256, FY_SHA256_LEN) ||
	    !get_hex(o, "git_oid", f->git_oid, FY_SHA1_LEN) ||
	    (fy_json_type(lfs) != FY_JSON_TRUE && fy_json_type(lfs) != FY_JSON_FALSE))
		return fy_err_set(err, FY_EFORMAT,
				  "%s: file '%s' has bad size, digests or lfs flag", label, path);
	f->size = (uint64_t)size;
	f->lfs = fy_json_type(lfs) == FY_JSON_TRUE;
	if (f->lfs) { /* an LFS file's tree blob is its pointer, which its digests determine */
		uint8_t want[FY_SHA1_LEN];

		fy_lfs_pointer_oid(f->sha256, f->size, want);
		if (memcmp(want, f->git_oid, FY_SHA1_LEN) != 0)
			return fy_err_set(err, FY_EFORMAT,
					  "%s: file '%s': git_oid is not its LFS pointer's", label,
					  path);
	}
	f->path = strdup(path);
	return f->path ? FY_OK : fy_err_set(err, FY_ENOMEM, "out of memory");
}

static int parse_files(struct fy_revision *r, const struct fy_json *files, const char *label,
		       struct fy_err *err)
{
	size_t n = fy_json_size(files);
	size_t i;
	int rc;

	if (fy_json_type(files) != FY_JSON_ARRAY)
		return fy_err_set(err, FY_EFORMAT, "%s: no files array", label);
	r->files = calloc(n ? n : 1, sizeof(*r->files));
	if (r->files == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		rc = parse_file(fy_json_at(files, i), &r->files[i], label, i, err);
		if (rc != FY_OK)
			return rc;
		r->n_files++;
		r->total_size += r->files[i].size;
		if (i > 0 && strcmp(r->files[i - 1].path, r->files[i].path) >= 0)
			return fy_err_set(err, FY_EFORMAT,
					  "%s: files not sorted or duplicated at '%s'", label,
					  r->files[i].path);
	}
	return FY_OK;
}

static int copy_str(char *dst, size_t cap, const struct fy_json *v, bool required,
		    const char *label, const char *key, struct fy_err *err)
{
	const char *s = fy_json_str(v);

	dst[0] = '\0';
	if (s == NULL && (required || (v != NULL && fy_json_type(v) != FY_JSON_NULL)))
		return fy_err_set(err, FY_EFORMAT, "%s: '%s' missing or not a string", label, key);
	if (s != NULL && strlen(s) >= cap)
		return fy_err_set(err, FY_EFORMAT, "%s: '%s' too long", label, key);
	if (s != NULL)
		strcpy(dst, s);
	return FY_OK;
}

static int parse_manifest(struct fy_revision *r, const struct fy_json *j, const char *label,
			  struct fy_err *err)
{
	const char *fmt = fy_json_str(fy_json_get(j, "format"));
	const char *msg = fy_json_str(fy_json_get(j, "message"));
	int rc;

	if (fmt == NULL || strcmp(fmt, FORMAT_NAME) != 0)
		return fy_err_set(err, FY_EFORMAT, "%s: not a %s manifest", label, FORMAT_NAME);
	FY_TRY(rc, copy_str(r->id, sizeof(r->id), fy_json_get(j, "id"), true, label, "id", err));
	FY_TRY(rc, copy_str(r->parent, sizeof(r->parent), fy_json_get(j, "parent"), false, label,
			    "parent", err));
	FY_TRY(rc, copy_str(r->tree, sizeof(r->tree), fy_json_get(j, "tree"), true, label, "tree",
			    err));
	FY_TRY(rc, copy_str(r->repo, sizeof(r->repo), fy_json_get(j, "repo"), true, label, "repo",
			    err));
	FY_TRY(rc, copy_str(r->created, sizeof(r->created), fy_json_get(j, "created"), true, label,
			    "created", err));
	if (msg == NULL || (r->message = strdup(msg)) == NULL) {
		rc = fy_err_set(err, FY_EFORMAT, "%s: 'message' missing or not a string", label);
		goto out;
	}
	FY_TRY(rc, parse_files(r, fy_json_get(j, "files"), label, err));
out:
	return rc;
}

/* The id and tree must be what the files, parent and message give. */
static int check_ids(const struct fy_revision *r, const char *label, bool hub, struct fy_err *err)
{
	char tree[FY_REV_ID_LEN + 1];
	char commit[FY_REV_ID_LEN + 1];

	if (!fy_is_rev_id(r->id) || (r->parent[0] && !fy_is_rev_id(r->parent)))
		return fy_err_set(err, FY_EFORMAT, "%s: malformed revision id", label);
	fy_revision_ids(r->files, r->n_files, r->parent, r->message, tree, commit);
	if (strcmp(tree, r->tree) != 0 || (!hub && strcmp(commit, r->id) != 0))
		return fy_err_set(err, FY_EFORMAT,
				  "%s: manifest content does not match its id (altered)", label);
	return FY_OK;
}

const struct fy_file_entry *fy_revision_find(const struct fy_revision *r, const char *path)
{
	size_t lo = 0;
	size_t hi = r->n_files;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(r->files[mid].path, path);

		if (c == 0)
			return &r->files[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int fy_revision_bytes(struct fy_store *s, const char *repo, const char *id, struct fy_buf *out,
		      struct fy_err *err)
{
	const char *path = fy_store_path(s, "repos/%s/revisions/%s.json", repo, id);

	if (path == NULL || !fy_is_rev_id(id))
		return fy_err_set(err, FY_EINVAL, "'%s' is not a revision id", id);
	if (access(path, F_OK) != 0)
		return fy_err_set(err, FY_ENOTFOUND, "%s: no revision %s", repo, id);
	return fy_file_read(path, MAX_MANIFEST, out, err);
}

int fy_revision_parse(const void *data, size_t n, const char *label, struct fy_revision **out,
		      struct fy_err *err)
{
	struct fy_revision *r = calloc(1, sizeof(*r));
	struct fy_json *j = NULL;
	int rc;

	if (r == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	FY_TRY(rc, fy_json_parse(&j, data, n, label, err));
	if (fy_json_type(j) != FY_JSON_OBJECT) {
		rc = fy_err_set(err, FY_EFORMAT, "%s: not a JSON object", label);
		goto out;
	}
	FY_TRY(rc, parse_manifest(r, j, label, err));
	{
		const char *kind = fy_json_str(fy_json_get(fy_json_get(j, "origin"), "kind"));

		/* a revision mirrored from a hub keeps the hub's commit id */
		FY_TRY(rc, check_ids(r, label, kind != NULL && strcmp(kind, "hub") == 0, err));
	}
	if (fy_repo_check(r->repo, err) != FY_OK) {
		rc = fy_err_set(err, FY_EFORMAT, "%s: bad repository name", label);
		goto out;
	}
	if (fy_json_get(j, "origin") != NULL)
		r->origin = fy_json_copy(fy_json_get(j, "origin"));
	*out = r;
	r = NULL;
out:
	fy_revision_free(r);
	fy_json_free(j);
	return rc;
}

int fy_revision_load(struct fy_store *s, const char *repo, const char *id, struct fy_revision **out,
		     struct fy_err *err)
{
	struct fy_revision *r = NULL;
	struct fy_buf b;
	char label[512];
	int rc;

	fy_buf_init(&b);
	snprintf(label, sizeof(label), "%s@%.12s (revisions/%s.json)", repo, id, id);
	FY_TRY(rc, fy_revision_bytes(s, repo, id, &b, err));
	FY_TRY(rc, fy_revision_parse(b.data, b.len, label, &r, err));
	if (strcmp(r->id, id) != 0 || strcmp(r->repo, repo) != 0) {
		rc = fy_err_set(err, FY_EFORMAT, "%s: manifest names another revision or repo",
				label);
		goto out;
	}
	*out = r;
	r = NULL;
out:
	fy_revision_free(r);
	fy_buf_release(&b);
	return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Resolving and removing                                                                     */

static int repo_exists(struct fy_store *s, const char *repo, struct fy_err *err)
{
	if (fy_repo_check(repo, err) != FY_OK)
		return FY_EINVAL;
	if (access(fy_store_path(s, "repos/%s", repo), F_OK) != 0)
		return fy_err_set(err, FY_ENOTFOUND, "no repository '%s' in the store", repo);
	return FY_OK;
}

static int resolve_prefix(struct fy_store *s, const char *repo, const char *rev,
			  char id[FY_REV_ID_LEN + 1], struct fy_err *err)
{
	char **ids = NULL;
	size_t n = 0;
	size_t i;
	int found = 0;
	int rc;

	rc = fy_store_list_revisions(s, repo, &ids, &n, err);
	for (i = 0; rc == FY_OK && i < n; i++) {
		if (strncmp(ids[i], rev, strlen(rev)) == 0 && fy_is_rev_id(ids[i])) {
			found++;
			memcpy(id, ids[i], FY_REV_ID_LEN + 1);
		}
	}
	fy_names_free(ids, n);
	if (rc == FY_OK && found == 0)
		rc = fy_err_set(err, FY_ENOTFOUND, "%s: no revision '%s'", repo, rev);
	if (rc == FY_OK && found > 1)
		rc = fy_err_set(err, FY_EINVAL, "%s: revision prefix '%s' is ambiguous", repo, rev);
	return rc;
}

static bool hex_prefix(const char *s)
{
	size_t n = strlen(s);

	return n >= 4 && n <= FY_REV_ID_LEN && strspn(s, "0123456789abcdef") == n;
}

int fy_store_resolve(struct fy_store *s, const char *repo, const char *rev,
		     char id[FY_REV_ID_LEN + 1], struct fy_err *err)
{
	char ref[256];
	int rc;

	rc = repo_exists(s, repo, err);
	if (rc != FY_OK)
		return rc;
	if (rev == NULL || rev[0] == '\0' || strcmp(rev, "HEAD") == 0)
		rev = "main";
	if (strlen(rev) < 200) {
		snprintf(ref, sizeof(ref), "heads/%s", rev);
		if (access(fy_store_path(s, "repos/%s/refs/%s", repo, ref), F_OK) == 0)
			return fy_store_read_ref(s, repo, ref, id, err);
		snprintf(ref, sizeof(ref), "tags/%s", rev);
		if (access(fy_store_path(s, "repos/%s/refs/%s", repo, ref), F_OK) == 0)
			return fy_store_read_ref(s, repo, ref, id, err);
	}
	if (hex_prefix(rev))
		return resolve_prefix(s, repo, rev, id, err);
	return fy_err_set(err, FY_ENOTFOUND, "%s: no branch, tag or revision '%s'", repo, rev);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return (flag == FTW_DP ? rmdir(path) : unlink(path)) == 0 ? 0 : -1;
}

int fy_remove_tree(const char *path, struct fy_err *err)
{
	if (access(path, F_OK) != 0)
		return FY_OK;
	if (nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
		return fy_err_sys(err, FY_EIO, "cannot remove '%s'", path);
	return FY_OK;
}

int fy_store_rm_repo(struct fy_store *s, const char *repo, struct fy_err *err)
{
	char ns[256];
	int rc;

	rc = repo_exists(s, repo, err);
	if (rc == FY_OK && fy_store_is_published(s, repo, NULL))
		rc = fy_err_set(err, FY_EINVAL, "%s is published: 'ferry unpublish' it first",
				repo);
	if (rc == FY_OK)
		rc = fy_remove_tree(fy_store_path(s, "repos/%s", repo), err);
	snprintf(ns, sizeof(ns), "%.*s", (int)(strrchr(repo, '/') - repo), repo);
	if (rc == FY_OK)
		rmdir(fy_store_path(s, "repos/%s", ns)); /* only when empty */
	return rc;
}

int fy_store_rm_revision(struct fy_store *s, const char *repo, const char *id, struct fy_err *err)
{
	char **refs = NULL;
	size_t n = 0;
	size_t i;
	char at[FY_REV_ID_LEN + 1];
	int rc;

	rc = fy_store_list_refs(s, repo, &refs, &n, err);
	for (i = 0; rc == FY_OK && i < n; i++) {
		if (fy_store_read_ref(s, repo, refs[i], at, err) != FY_OK || strcmp(at, id) != 0)
			continue;
		if (strncmp(refs[i], "heads/", 6) == 0)
			rc = fy_err_set(err, FY_EINVAL,
					"%s: revision %.12s is the head of branch '%s'; remove "
					"the repository instead",
					repo, id, refs[i] + 6);
		else
			rc = fy_store_delete_ref(s, repo, refs[i], err);
	}
	fy_names_free(refs, n);
	if (rc == FY_OK && fy_store_is_published(s, repo, id))
		rc = fy_err_set(err, FY_EINVAL, "%s@%.12s is published: 'ferry unpublish' it first",
				repo, id);
	if (rc == FY_OK && unlink(fy_store_path(s, "repos/%s/revisions/%s.json", repo, id)) != 0)
		rc = fy_err_sys(err, FY_EIO, "%s: cannot remove revision %s", repo, id);
	if (rc == FY_OK) {
		unlink(fy_store_path(s, "repos/%s/signatures/%s.json", repo, id));
		unlink(fy_store_path(s, "repos/%s/smoke/%s.json", repo, id));
		unlink(fy_store_path(s, "repos/%s/verify/%s.json", repo, id));
	}
	return rc;
}

void fy_file_etag(const struct fy_file_entry *f, char out[2 * FY_SHA256_LEN + 1])
{
	if (f->lfs)
		fy_hex(f->sha256, FY_SHA256_LEN, out);
	else
		fy_hex(f->git_oid, FY_SHA1_LEN, out);
}

bool fy_gguf_has_tag(const char *path, const char *tag)
{
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	size_t n = strlen(base), k = strlen(tag);
	const char *p;

	if (k == 0 || n < 5 || strcasecmp(base + n - 5, ".gguf") != 0)
		return false;
	for (p = base; (p = strcasestr(p, tag)) != NULL; p++)
		if ((p == base || strchr("-._", p[-1]) != NULL) && p[k] != '\0' &&
		    strchr("-.", p[k]) != NULL)
			return true;
	return false;
}
