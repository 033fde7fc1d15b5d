/*
 * Bundles (docs/BUNDLE.md): published revisions carried across an air gap as one signed,
 * zstd-compressed pax tar stream, optionally cut into numbered volumes.
 *
 *   bundle.json                 what the bundle holds (below), then
 *   bundle.sig                  its signatures ({"signatures": [...]}, as for the index)
 *   index.json, index.sig       the mirror's signed index when the bundle was made
 *   manifests/NS/NAME/ID.json   the revisions' manifests, in bundle.json's order
 *   objects/SHA256              the objects, in bundle.json's order (sorted by digest)
 *
 * bundle.json: {"format": "ferry-bundle", "version": 1, "id": HEX64, "created": T,
 *   "base": HEX64 | null, "split_size": N,
 *   "index": {"version": N, "sha256": HEX, "size": N},
 *   "revisions": [{"repo", "id", "sha256", "size"}],    sorted by repo then id
 *   "objects":   [{"sha256", "size"}],                  in the archive, sorted
 *   "requires":  [{"sha256", "size"}]}                  from the base bundle, sorted
 *
 * Reading treats every byte as hostile: the stream must be exactly one zstd frame; entries must
 * be regular files under exactly the expected names in the expected order, each of exactly the
 * declared size; the decompressed stream is capped at what bundle.json declares; nothing but
 * tar padding may follow the archive. archive.h and zstd.h are included here only.
 */
#include "mirror/mirror_private.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#define BUNDLE_JSON_MAX (64u << 20)
#define SIG_MAX (1u << 20)
#define INDEX_MAX (64u << 20)
#define MANIFEST_MAX (256u << 20)
#define ENTRY_SLACK 4096u /* a tar header and a pax extended header, at most, per entry */
#define TAIL_MAX 10240u	  /* tar record padding after the end-of-archive blocks */
#define CHUNK (1u << 20)
#define MAX_VOLUMES 9999u
#define ID_HEX (2 * FY_SHA256_LEN)

struct bobj {
	uint8_t sha[FY_SHA256_LEN];
	uint64_t size;
	uint8_t oid[FY_SHA1_LEN]; /* the git blob id a non-LFS file of a manifest names */
	bool need_oid;
	bool used; /* some manifest of the bundle names it */
};

struct brev {
	char repo[FY_REPO_MAX + 1];
	char id[FY_REV_ID_LEN + 1];
	uint8_t sha[FY_SHA256_LEN];
	uint64_t size;
	struct fy_revision *rev;
	struct fy_buf bytes;
};

struct bundle {
	char id[ID_HEX + 1];
	char base[ID_HEX + 1]; /* "" for a full bundle */
	char created[32];
	uint64_t split;
	uint64_t index_version, index_size;
	uint8_t index_sha[FY_SHA256_LEN];
	struct brev *revs;
	size_t n_revs;
	struct bobj *objs;
	size_t n_objs;
	struct bobj *req;
	size_t n_req;
};

static void bundle_release(struct bundle *b)
{
	size_t i;

	for (i = 0; i < b->n_revs; i++) {
		fy_revision_free(b->revs[i].rev);
		fy_buf_release(&b->revs[i].bytes);
	}
	free(b->revs);
	free(b->objs);
	free(b->req);
	memset(b, 0, sizeof(*b));
}

static int cmp_obj(const void *a, const void *b)
{
	return memcmp(((const struct bobj *)a)->sha, ((const struct bobj *)b)->sha, FY_SHA256_LEN);
}

static struct bobj *find_obj(struct bobj *v, size_t n, const uint8_t sha[FY_SHA256_LEN])
{
	struct bobj key = { 0 };

	memcpy(key.sha, sha, FY_SHA256_LEN);
	return n ? bsearch(&key, v, n, sizeof(*v), cmp_obj) : NULL;
}

static int cmp_rev(const void *a, const void *b)
{
	const struct brev *x = a, *y = b;
	int c = strcmp(x->repo, y->repo);

	return c ? c : strcmp(x->id, y->id);
}

/* ------------------------------------------------------------------------------------------ */
/* bundle.json                                                                                */

static bool get_hex(const struct fy_json *j, const char *key, uint8_t *out, size_t n)
{
	const char *s = fy_json_str(fy_json_get(j, key));

	return s != NULL && strlen(s) == 2 * n && strspn(s, "0123456789abcdef") == 2 * n &&
	       fy_unhex(s, out, n);
}

static bool get_u64(const struct fy_json *j, const char *key, uint64_t *out)
{
	int64_t v;

	if (!fy_json_int(fy_json_get(j, key), &v) || v < 0)
		return false;
	*out = (uint64_t)v;
	return true;
}

/* An array of {"sha256", "size"}, strictly increasing by digest. */
static int parse_objs(const struct fy_json *arr, const char *label, const char *what,
		      struct bobj **out, size_t *n, struct fy_err *err)
{
	size_t i, count = fy_json_size(arr);

	if (fy_json_type(arr) != FY_JSON_ARRAY)
		return fy_err_set(err, FY_EFORMAT, "%s: '%s' is not an array", label, what);
	*out = calloc(count ? count : 1, sizeof(**out));
	if (*out == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	for (i = 0; i < count; i++) {
		const struct fy_json *e = fy_json_at(arr, i);
		struct bobj *o = &(*out)[i];

		if (fy_json_type(e) != FY_JSON_OBJECT || fy_json_size(e) != 2 ||
		    !get_hex(e, "sha256", o->sha, FY_SHA256_LEN) || !get_u64(e, "size", &o->size))
			return fy_err_set(err, FY_EFORMAT,
					  "%s: %s[%zu] is not {\"sha256\": HEX, \"size\": N}",
					  label, what, i);
		if (i > 0 && memcmp(o[-1].sha, o->sha, FY_SHA256_LEN) >= 0)
			return fy_err_set(err, FY_EFORMAT,
					  "%s: %s are not sorted by digest, or repeat one", label,
					  what);
	}
	*n = count;
	return FY_OK;
}

static int parse_revs(const struct fy_json *arr, const char *label, struct bundle *b,
		      struct fy_err *err)
{
	size_t i, count = fy_json_size(arr);
	struct fy_err e2;

	if (fy_json_type(arr) != FY_JSON_ARRAY || count == 0)
		return fy_err_set(err, FY_EFORMAT, "%s: 'revisions' is not a non-empty array",
				  label);
	b->revs = calloc(count, sizeof(*b->revs));
	if (b->revs == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	b->n_revs = count;
	for (i = 0; i < count; i++) {
		const struct fy_json *e = fy_json_at(arr, i);
		struct brev *r = &b->revs[i];
		const char *repo = fy_json_str(fy_json_get(e, "repo"));
		const char *id = fy_json_str(fy_json_get(e, "id"));

		fy_buf_init(&r->bytes);
		if (fy_json_type(e) != FY_JSON_OBJECT || fy_json_size(e) != 4 || repo == NULL ||
		    id == NULL || strlen(repo) > FY_REPO_MAX || fy_repo_check(repo, &e2) != FY_OK ||
		    !fy_is_rev_id(id) || !get_hex(e, "sha256", r->sha, FY_SHA256_LEN) ||
		    !get_u64(e, "size", &r->size) || r->size == 0 || r->size > MANIFEST_MAX)
			return fy_err_set(
				err, FY_EFORMAT,
				"%s: revisions[%zu] is not {\"repo\", \"id\", \"sha256\", "
				"\"size\"}",
				label, i);
		snprintf(r->repo, sizeof(r->repo), "%s", repo);
		snprintf(r->id, sizeof(r->id), "%s", id);
		if (i > 0 && cmp_rev(r - 1, r) >= 0)
			return fy_err_set(err, FY_EFORMAT,
					  "%s: revisions are not sorted, or repeat one", label);
	}
	return FY_OK;
}

static int parse_bundle(const void *data, size_t n, const char *label, struct bundle *b,
			struct fy_err *err)
{
	struct fy_json *j = NULL;
	const struct fy_json *ix, *base;
	const char *s;
	int64_t version = 0;
	time_t t;
	size_t i, k;
	int rc;

	memset(b, 0, sizeof(*b));
	FY_TRY(rc, fy_json_parse(&j, data, n, label, err));
	ix = fy_json_get(j, "index");
	base = fy_json_get(j, "base");
	s = fy_json_str(fy_json_get(j, "format"));
	if (fy_json_type(j) != FY_JSON_OBJECT || s == NULL || strcmp(s, "ferry-bundle") != 0 ||
	    fy_json_size(j) != 10) {
		rc = fy_err_set(err, FY_EFORMAT, "%s: not a ferry bundle description", label);
		goto out;
	}
	if (!fy_json_int(fy_json_get(j, "version"), &version) || version != 1) {
		rc = fy_err_set(err, FY_EUNSUPPORTED,
				"%s: bundle format version %" PRId64
				" is not one this ferry reads (1)",
				label, version);
		goto out;
	}
	s = fy_json_str(fy_json_get(j, "id"));
	if (s == NULL || strlen(s) != ID_HEX || strspn(s, "0123456789abcdef") != ID_HEX) {
		rc = fy_err_set(err, FY_EFORMAT, "%s: 'id' is not 64 hex digits", label);
		goto out;
	}
	snprintf(b->id, sizeof(b->id), "%s", s);
	s = fy_json_str(base);
	if (fy_json_type(base) != FY_JSON_NULL &&
	    (s == NULL || strlen(s) != ID_HEX || strspn(s, "0123456789abcdef") != ID_HEX)) {
		rc = fy_err_set(err, FY_EFORMAT, "%s: 'base' is neither null nor a bundle id",
				label);
		goto out;
	}
	snprintf(b->base, sizeof(b->base), "%s", s ? s : "");
	s = fy_json_str(fy_json_get(j, "created"));
	if (!fy_iso_parse(s, &t) || !get_u64(j, "split_size", &b->split)) {
		rc = fy_err_set(err, FY_EFORMAT, "%s: 'created' or 'split_size' is malformed",
				label);
		goto out;
	}
	snprintf(b->created, sizeof(b->created), "%s", s);
	if (fy_json_type(ix) != FY_JSON_OBJECT || fy_json_size(ix) != 3 ||
	    !get_u64(ix, "version", &b->index_version) || b->index_version == 0 ||
	    !get_hex(ix, "sha256", b->index_sha, FY_SHA256_LEN) ||
	    !get_u64(ix, "size", &b->index_size) || b->index_size == 0 ||
	    b->index_size > INDEX_MAX) {
		rc = fy_err_set(err, FY_EFORMAT,
				"%s: 'index' is not {\"version\", \"sha256\", \"size\"}", label);
		goto out;
	}
	FY_TRY(rc, parse_revs(fy_json_get(j, "revisions"), label, b, err));
	FY_TRY(rc,
	       parse_objs(fy_json_get(j, "objects"), label, "objects", &b->objs, &b->n_objs, err));
	FY_TRY(rc,
	       parse_objs(fy_json_get(j, "requires"), label, "requires", &b->req, &b->n_req, err));
	if (b->base[0] == '\0' && b->n_req > 0) {
		rc = fy_err_set(err, FY_EFORMAT, "%s: requires objects but names no base", label);
		goto out;
	}
	for (i = 0, k = 0; b->objs && b->req && i < b->n_objs && k < b->n_req;) { /* a merge */
		int c = memcmp(b->objs[i].sha, b->req[k].sha, FY_SHA256_LEN);

		if (c == 0) {
			rc = fy_err_set(err, FY_EFORMAT,
					"%s: an object is both in the bundle and required", label);
			goto out;
		}
		if (c < 0)
			i++;
		else
			k++;
	}
out:
	fy_json_free(j);
	if (rc != FY_OK)
		bundle_release(b);
	return rc;
}

int fy_bundle_parse(const void *data, size_t n, const char *label, struct fy_err *err)
{
	struct bundle b;
	int rc = parse_bundle(data, n, label, &b, err);

	if (rc == FY_OK)
		bundle_release(&b);
	return rc;
}

/* Every file of every manifest is in the bundle or required from its base, with the size and
 * (for a file that is not in LFS) the git blob id the manifest gives; every object of the
 * bundle is named by some manifest. */
static int match_manifests(struct bundle *b, const char *label, struct fy_err *err)
{
	size_t i, f;

	for (i = 0; i < b->n_revs; i++) {
		const struct fy_revision *r = b->revs[i].rev;

		for (f = 0; f < r->n_files; f++) {
			const struct fy_file_entry *e = &r->files[f];
			struct bobj *o = find_obj(b->objs, b->n_objs, e->sha256);

			if (o == NULL)
				o = find_obj(b->req, b->n_req, e->sha256);
			if (o == NULL)
				return fy_err_set(err, FY_EFORMAT,
						  "%s: %s@%.12s: '%s' is neither in the bundle nor "
						  "required from its base",
						  label, r->repo, r->id, e->path);
			if (o->size != e->size)
				return fy_err_set(err, FY_EFORMAT,
						  "%s: %s@%.12s: '%s' is %" PRIu64
						  " bytes, the bundle lists %" PRIu64,
						  label, r->repo, r->id, e->path, e->size, o->size);
			if (!e->lfs && o->need_oid && memcmp(o->oid, e->git_oid, FY_SHA1_LEN) != 0)
				return fy_err_set(
					err, FY_EFORMAT,
					"%s: two manifests give '%s' different git blob ids", label,
					e->path);
			if (!e->lfs) {
				memcpy(o->oid, e->git_oid, FY_SHA1_LEN);
				o->need_oid = true;
			}
			o->used = true;
		}
	}
	for (i = 0; i < b->n_objs; i++)
		if (!b->objs[i].used) {
			char hex[ID_HEX + 1];

			fy_hex(b->objs[i].sha, FY_SHA256_LEN, hex);
			return fy_err_set(err, FY_EFORMAT,
					  "%s: object %.16s… is in no manifest of the bundle",
					  label, hex);
		}
	return FY_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Volumes                                                                                    */

static void vol_name(char *out, size_t cap, const char *base, bool numbered, size_t k,
		     const char *suffix)
{
	if (numbered)
		snprintf(out, cap, "%s.%03zu%s", base, k + 1, suffix);
	else
		snprintf(out, cap, "%s%s", base, suffix);
}

/* ------------------------------------------------------------------------------------------ */
/* Writing                                                                                    */

struct writer {
	char base[4000];
	bool numbered;
	uint64_t split;
	size_t n_vols;
	int fd;
	uint64_t in_vol, total;
	ZSTD_CCtx *z;
	uint8_t *zbuf;
	size_t zcap;
	int rc;
	struct fy_err *err;
	uint64_t done, todo; /* object bytes, for progress */
	const struct fy_bundle_opts *o;
};

static int vol_open(struct writer *w)
{
	char name[4100];

	vol_name(name, sizeof(name), w->base, w->numbered, w->n_vols, ".part");
	if (w->n_vols >= MAX_VOLUMES)
		return fy_err_set(w->err, FY_EINVAL,
				  "%s: more than %u volumes: use a larger "
				  "--split-size",
				  w->base, MAX_VOLUMES);
	w->fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w->fd < 0)
		return fy_err_sys(w->err, FY_EIO, "cannot create '%s'", name);
	w->n_vols++;
	w->in_vol = 0;
	return FY_OK;
}

static int vol_close(struct writer *w)
{
	int rc = FY_OK;

	if (w->fd < 0)
		return FY_OK;
	if (fsync(w->fd) != 0)
		rc = fy_err_sys(w->err, FY_EIO, "cannot sync a volume of '%s'", w->base);
	close(w->fd);
	w->fd = -1;
	return rc;
}

static int vol_emit(struct writer *w, const uint8_t *p, size_t n)
{
	while (n > 0) {
		size_t take = n;
		ssize_t k;

		if (w->fd < 0 || (w->split && w->in_vol == w->split)) {
			int rc = vol_close(w);

			if (rc == FY_OK)
				rc = vol_open(w);
			if (rc != FY_OK)
				return rc;
		}
		if (w->split && take > w->split - w->in_vol)
			take = (size_t)(w->split - w->in_vol);
		k = write(w->fd, p, take);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return fy_err_sys(w->err, FY_EIO, "cannot write '%s'", w->base);
		p += k;
		n -= (size_t)k;
		w->in_vol += (uint64_t)k;
		w->total += (uint64_t)k;
	}
	return FY_OK;
}

static int compress(struct writer *w, const void *buf, size_t n, ZSTD_EndDirective mode)
{
	ZSTD_inBuffer in = { buf, n, 0 };
	size_t left;

	do {
		ZSTD_outBuffer out = { w->zbuf, w->zcap, 0 };

		left = ZSTD_compressStream2(w->z, &out, &in, mode);
		if (ZSTD_isError(left))
			return fy_err_set(w->err, FY_EIO, "%s: zstd: %s", w->base,
					  ZSTD_getErrorName(left));
		if (out.pos > 0 && vol_emit(w, w->zbuf, out.pos) != FY_OK)
			return FY_EIO;
	} while (mode == ZSTD_e_end ? left != 0 : in.pos < in.size);
	return FY_OK;
}

static la_ssize_t write_cb(struct archive *a, void *ctx, const void *buf, size_t n)
{
	struct writer *w = ctx;

	(void)a;
	if (w->rc == FY_OK)
		w->rc = compress(w, buf, n, ZSTD_e_continue);
	return w->rc == FY_OK ? (la_ssize_t)n : -1;
}

static int ar_fail(struct writer *w, struct archive *a, const char *what)
{
	if (w->rc != FY_OK)
		return w->rc;
	return w->rc = fy_err_set(w->err, FY_EIO, "%s: cannot write %s: %s", w->base, what,
				  archive_error_string(a) ? archive_error_string(a) : "?");
}

static int put_header(struct writer *w, struct archive *a, const char *name, uint64_t size,
		      time_t mtime)
{
	struct archive_entry *e = archive_entry_new();
	int st;

	if (e == NULL)
		return fy_err_set(w->err, FY_ENOMEM, "out of memory");
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0444);
	archive_entry_set_size(e, (la_int64_t)size);
	archive_entry_set_mtime(e, mtime, 0);
	st = archive_write_header(a, e);
	archive_entry_free(e);
	return st == ARCHIVE_OK ? FY_OK : ar_fail(w, a, name);
}

static int put_bytes(struct writer *w, struct archive *a, const char *name, const void *data,
		     size_t n, time_t mtime)
{
	int rc = put_header(w, a, name, n, mtime);

	if (rc == FY_OK && n > 0 && archive_write_data(a, data, n) != (la_ssize_t)n)
		rc = ar_fail(w, a, name);
	return rc;
}

static int put_object(struct writer *w, struct fy_store *s, struct archive *a, const struct bobj *o,
		      uint8_t *buf, time_t mtime)
{
	const char *path = fy_store_object_path(s, o->sha);
	char name[16 + ID_HEX];
	char hex[ID_HEX + 1];
	uint64_t left = o->size;
	int fd;
	int rc;

	fy_hex(o->sha, FY_SHA256_LEN, hex);
	snprintf(name, sizeof(name), "objects/%s", hex);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fy_err_sys(w->err, FY_EIO, "cannot open object '%s'", path);
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	rc = put_header(w, a, name, o->size, mtime);
	while (rc == FY_OK && left > 0) {
		ssize_t k = read(fd, buf, left < CHUNK ? (size_t)left : CHUNK);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			rc = k < 0 ? fy_err_sys(w->err, FY_EIO, "cannot read '%s'", path)
				   : fy_err_set(w->err, FY_EIO, "'%s' is shorter than its size",
						path);
			break;
		}
		if (archive_write_data(a, buf, (size_t)k) != k) {
			rc = ar_fail(w, a, name);
			break;
		}
		left -= (uint64_t)k;
		w->done += (uint64_t)k;
		if (w->o->progress != NULL)
			w->o->progress(w->o->ctx, w->done, w->todo, "bundle");
	}
	close(fd);
	return rc;
}

/* Moves the finished volumes into place; removes numbered volumes an older bundle of the same
 * name left beyond the new last one (a reader would take them for more of this bundle). */
static int finish_volumes(struct writer *w)
{
	char from[4100], to[4100];
	size_t k;

	for (k = 0; k < w->n_vols; k++) {
		vol_name(from, sizeof(from), w->base, w->numbered, k, ".part");
		vol_name(to, sizeof(to), w->base, w->numbered, k, "");
		if (rename(from, to) != 0)
			return fy_err_sys(w->err, FY_EIO, "cannot rename '%s'", from);
	}
	for (k = w->n_vols; w->numbered; k++) {
		vol_name(to, sizeof(to), w->base, true, k, "");
		if (unlink(to) != 0)
			break;
	}
	return FY_OK;
}

static void drop_volumes(struct writer *w)
{
	char name[4100];
	size_t k;

	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	for (k = 0; k < w->n_vols; k++) {
		vol_name(name, sizeof(name), w->base, w->numbered, k, ".part");
		unlink(name);
	}
}

/* Writes the archive: description, signature, index, manifests, objects. */
static int write_archive(struct fy_store *s, struct writer *w, const struct bundle *b,
			 const char *desc, const char *sig, const struct fy_buf *ix,
			 const struct fy_buf *ix_sig)
{
	struct archive *a = archive_write_new();
	uint8_t *buf = malloc(CHUNK);
	const char *sde = getenv("SOURCE_DATE_EPOCH");
	time_t mtime = sde != NULL ? (time_t)strtoll(sde, NULL, 10) : time(NULL);
	char name[FY_REPO_MAX + FY_REV_ID_LEN + 32];
	size_t i;
	int rc = FY_OK;

	if (a == NULL || buf == NULL) {
		rc = fy_err_set(w->err, FY_ENOMEM, "out of memory");
		goto out;
	}
	if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_add_filter_none(a) != ARCHIVE_OK ||
	    archive_write_open(a, w, NULL, write_cb, NULL) != ARCHIVE_OK) {
		rc = ar_fail(w, a, "the archive");
		goto out;
	}
	FY_TRY(rc, put_bytes(w, a, "bundle.json", desc, strlen(desc), mtime));
	FY_TRY(rc, put_bytes(w, a, "bundle.sig", sig, strlen(sig), mtime));
	FY_TRY(rc, put_bytes(w, a, "index.json", ix->data, ix->len, mtime));
	FY_TRY(rc, put_bytes(w, a, "index.sig", ix_sig->data, ix_sig->len, mtime));
	for (i = 0; i < b->n_revs; i++) {
		snprintf(name, sizeof(name), "manifests/%s/%s.json", b->revs[i].repo,
			 b->revs[i].id);
		FY_TRY(rc,
		       put_bytes(w, a, name, b->revs[i].bytes.data, b->revs[i].bytes.len, mtime));
	}
	for (i = 0; i < b->n_objs; i++)
		FY_TRY(rc, put_object(w, s, a, &b->objs[i], buf, mtime));
	if (archive_write_close(a) != ARCHIVE_OK) {
		rc = ar_fail(w, a, "the end of the archive");
		goto out;
	}
	FY_TRY(rc, compress(w, NULL, 0, ZSTD_e_end));
	rc = vol_close(w);
out:
	if (a != NULL)
		archive_write_free(a);
	free(buf);
	return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Reading                                                                                    */

struct reader {
	struct fy_store *s;
	const struct fy_bundle_opts *o;
	struct fy_err *err;
	const char *label; /* the path as given */
	int cb_rc;	   /* a failure inside the read callback (err holds it) */
	/* volumes */
	char base[4000];
	bool numbered;
	size_t n_vols, vol;
	uint64_t *vol_size;
	uint64_t total, consumed;
	int fd;
	/* zstd */
	ZSTD_DCtx *z;
	uint8_t *ibuf, *obuf;
	ZSTD_inBuffer in;
	bool pending, frame_done, started;
	size_t last_len;
	uint64_t produced, cap;
	struct archive *a;
};

static int find_volumes(struct reader *r, const char *path, struct fy_err *err)
{
	struct stat st;
	char name[4100];
	size_t len = strlen(path);
	size_t k;

	if (len >= sizeof(r->base))
		return fy_err_set(err, FY_EINVAL, "%s: path too long", path);
	if (len > 4 && strcmp(path + len - 4, ".001") == 0) {
		snprintf(r->base, sizeof(r->base), "%.*s", (int)(len - 4), path);
		r->numbered = true;
	} else {
		snprintf(r->base, sizeof(r->base), "%s", path);
		snprintf(name, sizeof(name), "%s.001", path);
		r->numbered = stat(path, &st) != 0 && stat(name, &st) == 0;
	}
	for (k = 0; k < MAX_VOLUMES; k++) {
		uint64_t *grown;

		vol_name(name, sizeof(name), r->base, r->numbered, k, "");
		if (stat(name, &st) != 0) {
			if (k == 0)
				return fy_err_sys(err, FY_ENOTFOUND, "cannot open '%s'", name);
			break;
		}
		if (!S_ISREG(st.st_mode))
			return fy_err_set(err, FY_EINVAL, "'%s' is not a regular file", name);
		grown = realloc(r->vol_size, (k + 1) * sizeof(*grown));
		if (grown == NULL)
			return fy_err_set(err, FY_ENOMEM, "out of memory");
		r->vol_size = grown;
		r->vol_size[k] = (uint64_t)st.st_size;
		r->total += (uint64_t)st.st_size;
		r->n_vols = k + 1;
		if (!r->numbered)
			break;
	}
	return FY_OK;
}

/* Every volume but the last is exactly split_size bytes: a short one was cut on the way. */
static int check_volumes(struct reader *r, uint64_t split)
{
	char name[4100];
	size_t k;

	if (!r->numbered && split == 0)
		return FY_OK;
	if (r->numbered != (split != 0))
		return fy_err_set(r->err, FY_EFORMAT,
				  "%s: the bundle was written %s volumes, but is read %s", r->label,
				  split ? "in" : "without",
				  r->numbered ? "as volumes" : "as one file");
	for (k = 0; k < r->n_vols; k++) {
		vol_name(name, sizeof(name), r->base, true, k, "");
		if (k + 1 < r->n_vols ? r->vol_size[k] != split : r->vol_size[k] > split)
			return fy_err_set(r->err, FY_EFORMAT,
					  "%s: %" PRIu64 " bytes where a volume has %s%" PRIu64
					  " (truncated or damaged)",
					  name, r->vol_size[k], k + 1 < r->n_vols ? "" : "at most ",
					  split);
	}
	return FY_OK;
}

static int rd_fail(struct reader *r, int code, const char *what, const char *detail)
{
	if (r->cb_rc == FY_OK)
		r->cb_rc = fy_err_set(r->err, code, "%s: %s%s", r->label, what, detail);
	return r->cb_rc;
}

/* More compressed input from the volumes; *eof at the end of the last. */
static int rd_input(struct reader *r, bool *eof)
{
	char name[4100];

	*eof = false;
	for (;;) {
		ssize_t k;

		if (r->fd < 0) {
			if (r->vol >= r->n_vols) {
				*eof = true;
				return FY_OK;
			}
			vol_name(name, sizeof(name), r->base, r->numbered, r->vol, "");
			r->fd = open(name, O_RDONLY | O_CLOEXEC);
			if (r->fd < 0)
				return r->cb_rc =
					       fy_err_sys(r->err, FY_EIO, "cannot open '%s'", name);
			posix_fadvise(r->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
		}
		k = read(r->fd, r->ibuf, CHUNK);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return r->cb_rc = fy_err_sys(r->err, FY_EIO, "cannot read '%s'", r->label);
		if (k == 0) {
			close(r->fd);
			r->fd = -1;
			r->vol++;
			continue;
		}
		if (!r->started && (k < 4 || fy_le32(r->ibuf) != 0xFD2FB528u))
			return rd_fail(r, FY_EFORMAT, "not a ferry bundle", " (no zstd stream)");
		r->started = true;
		r->in = (ZSTD_inBuffer){ r->ibuf, (size_t)k, 0 };
		r->consumed += (uint64_t)k;
		if (r->o->progress != NULL)
			r->o->progress(r->o->ctx, r->consumed, r->total, "bundle");
		return FY_OK;
	}
}

/* libarchive's read callback: the decompressed stream, checked as it goes. */
static la_ssize_t read_cb(struct archive *a, void *ctx, const void **buf)
{
	struct reader *r = ctx;

	(void)a;
	if (r->cb_rc != FY_OK)
		return -1;
	for (;;) {
		ZSTD_outBuffer out = { r->obuf, CHUNK, 0 };
		size_t z;

		if (!r->pending && r->in.pos == r->in.size) {
			bool eof;

			if (rd_input(r, &eof) != FY_OK)
				return -1;
			if (eof && !r->frame_done) {
				rd_fail(r, FY_EFORMAT, "the stream ends early",
					r->started ? " (truncated, or a volume missing)"
						   : " (empty)");
				return -1;
			}
			if (eof) {
				r->last_len = 0;
				return 0;
			}
		}
		if (r->frame_done) {
			rd_fail(r, FY_EFORMAT, "data after the end of the compressed stream",
				" (trailing garbage)");
			return -1;
		}
		z = ZSTD_decompressStream(r->z, &out, &r->in);
		if (ZSTD_isError(z)) {
			rd_fail(r, FY_EFORMAT, "damaged compressed stream: ", ZSTD_getErrorName(z));
			return -1;
		}
		r->pending = out.pos == out.size;
		if (z == 0) {
			r->frame_done = true;
			r->pending = false;
		}
		if (out.pos > 0) {
			r->produced += out.pos;
			if (r->produced > r->cap) {
				rd_fail(r, FY_EFORMAT,
					"the archive is larger than what bundle.json declares",
					" (a decompression bomb?)");
				return -1;
			}
			r->last_len = out.pos;
			*buf = r->obuf;
			return (la_ssize_t)out.pos;
		}
	}
}

static void reader_close(struct reader *r);

/* Opens path's volumes and the decoder; on failure *r is released. */
static int reader_open(struct reader *r, struct fy_store *s, const char *path,
		       const struct fy_bundle_opts *o, struct fy_err *err)
{
	static const struct fy_bundle_opts none = { 0 };
	int rc;

	memset(r, 0, sizeof(*r));
	r->s = s;
	r->o = o != NULL ? o : &none;
	r->err = err;
	r->label = path;
	r->fd = -1;
	r->cap = BUNDLE_JSON_MAX + SIG_MAX + 4 * ENTRY_SLACK; /* until bundle.json is read */
	FY_TRY(rc, find_volumes(r, path, err));
	r->z = ZSTD_createDCtx();
	r->ibuf = malloc(CHUNK);
	r->obuf = malloc(CHUNK);
	r->a = archive_read_new();
	if (r->z == NULL || r->ibuf == NULL || r->obuf == NULL || r->a == NULL) {
		rc = fy_err_set(err, FY_ENOMEM, "out of memory");
		goto out;
	}
	/* a window larger than the writer's (27: 128 MiB at the levels ferry writes) is refused */
	ZSTD_DCtx_setParameter(r->z, ZSTD_d_windowLogMax, 27);
	if (archive_read_support_format_tar(r->a) != ARCHIVE_OK ||
	    archive_read_open(r->a, r, NULL, read_cb, NULL) != ARCHIVE_OK) {
		rc = r->cb_rc != FY_OK ? r->cb_rc
				       : fy_err_set(err, FY_EFORMAT, "%s: not a ferry bundle (%s)",
						    path, archive_error_string(r->a));
		goto out;
	}
out:
	if (rc != FY_OK)
		reader_close(r);
	return rc;
}

static void reader_close(struct reader *r)
{
	if (r->a != NULL)
		archive_read_free(r->a);
	ZSTD_freeDCtx(r->z);
	free(r->ibuf);
	free(r->obuf);
	free(r->vol_size);
	if (r->fd >= 0)
		close(r->fd);
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}

static int ar_read_fail(struct reader *r, const char *what)
{
	if (r->cb_rc != FY_OK)
		return r->cb_rc;
	return fy_err_set(r->err, FY_EFORMAT, "%s: damaged archive at %s: %s", r->label, what,
			  archive_error_string(r->a) ? archive_error_string(r->a) : "?");
}

static bool climbs(const char *name)
{
	const char *p = name;

	for (;;) {
		size_t n = strcspn(p, "/");

		if (n == 2 && p[0] == '.' && p[1] == '.')
			return true;
		if (p[n] == '\0')
			return false;
		p += n + 1;
	}
}

/* The next entry must be a regular file named `want` of `size` bytes (exact) or at most `size`
 * bytes (!exact). Links, devices and odd names are refused before a byte of them is read. */
static int next_entry(struct reader *r, const char *want, uint64_t size, bool exact, uint64_t *got)
{
	struct archive_entry *e;
	const char *name;
	int st = archive_read_next_header(r->a, &e);
	la_int64_t n;
	unsigned type;

	if (st == ARCHIVE_EOF)
		return fy_err_set(r->err, FY_EFORMAT, "%s: the archive ends before '%s'", r->label,
				  want);
	if (st != ARCHIVE_OK)
		return ar_read_fail(r, want);
	name = archive_entry_pathname(e);
	type = archive_entry_filetype(e);
	if (name == NULL || name[0] == '\0')
		return fy_err_set(r->err, FY_EFORMAT, "%s: an entry without a name", r->label);
	if (archive_entry_hardlink(e) != NULL)
		return fy_err_set(r->err, FY_EFORMAT,
				  "%s: '%s' is a hard link (only regular files are accepted)",
				  r->label, name);
	if (archive_entry_symlink(e) != NULL || type == AE_IFLNK)
		return fy_err_set(r->err, FY_EFORMAT,
				  "%s: '%s' is a symbolic link (only regular files are accepted)",
				  r->label, name);
	if (type == AE_IFCHR || type == AE_IFBLK)
		return fy_err_set(r->err, FY_EFORMAT,
				  "%s: '%s' is a device (only regular files are accepted)",
				  r->label, name);
	if (type != AE_IFREG)
		return fy_err_set(r->err, FY_EFORMAT,
				  "%s: '%s' is not a regular file (only regular files are "
				  "accepted)",
				  r->label, name);
	if (name[0] == '/')
		return fy_err_set(r->err, FY_EFORMAT, "%s: '%s' is an absolute path", r->label,
				  name);
	if (climbs(name))
		return fy_err_set(r->err, FY_EFORMAT, "%s: '%s' climbs out with '..'", r->label,
				  name);
	if (strcmp(name, want) != 0)
		return fy_err_set(r->err, FY_EFORMAT,
				  "%s: '%s' where '%s' was expected (not in this bundle's order)",
				  r->label, name, want);
	if (archive_entry_sparse_count(e) > 0)
		return fy_err_set(r->err, FY_EFORMAT, "%s: '%s' is a sparse entry", r->label, name);
	n = archive_entry_size(e);
	if (!archive_entry_size_is_set(e) || n < 0 || (exact && (uint64_t)n != size) ||
	    (!exact && (uint64_t)n > size))
		return fy_err_set(r->err, FY_EFORMAT,
				  "%s: '%s' claims %" PRId64 " bytes where %s%" PRIu64
				  " are declared (a decompression bomb?)",
				  r->label, name, (int64_t)n, exact ? "" : "at most ", size);
	*got = (uint64_t)n;
	return FY_OK;
}

/* The next data block of the current entry of `size` bytes (contiguous: no holes, never past
 * its header's size). *n = 0 at its end. */
static int next_block(struct reader *r, const char *what, uint64_t size, uint64_t *pos,
		      const void **p, size_t *n)
{
	la_int64_t off;
	int st = archive_read_data_block(r->a, p, n, &off);

	if (st == ARCHIVE_EOF) {
		*n = 0;
		return FY_OK;
	}
	if (st != ARCHIVE_OK)
		return ar_read_fail(r, what);
	if (off < 0 || (uint64_t)off != *pos)
		return fy_err_set(r->err, FY_EFORMAT, "%s: '%s' has holes", r->label, what);
	*pos += *n;
	if (*pos > size)
		return fy_err_set(r->err, FY_EFORMAT, "%s: '%s' is longer than its header",
				  r->label, what);
	return FY_OK;
}

static int read_small(struct reader *r, const char *want, uint64_t size, bool exact,
		      struct fy_buf *out)
{
	uint64_t n = 0, pos = 0;
	const void *p;
	size_t k;
	int rc;

	fy_buf_init(out);
	FY_TRY(rc, next_entry(r, want, size, exact, &n));
	FY_TRY(rc, fy_buf_reserve(out, (size_t)n + 1, r->err));
	for (;;) {
		FY_TRY(rc, next_block(r, want, n, &pos, &p, &k));
		if (k == 0)
			break;
		FY_TRY(rc, fy_buf_append(out, p, k, r->err));
	}
	if (pos != n)
		rc = fy_err_set(r->err, FY_EFORMAT, "%s: '%s' is shorter than its header", r->label,
				want);
out:
	if (rc != FY_OK)
		fy_buf_release(out);
	return rc;
}

/* After the last entry: the end-of-archive blocks, at most a record's zero padding, and the
 * end of the one compressed frame. */
static int read_end(struct reader *r)
{
	struct archive_entry *e;
	int st = archive_read_next_header(r->a, &e);
	uint64_t used, start, tail = 0;
	const void *p;
	la_ssize_t k;
	size_t i;

	if (st == ARCHIVE_OK)
		return fy_err_set(r->err, FY_EFORMAT, "%s: '%s' follows the last declared object",
				  r->label, archive_entry_pathname(e));
	if (st != ARCHIVE_EOF)
		return ar_read_fail(r, "the end of the archive");
	used = (uint64_t)archive_filter_bytes(r->a, 0);
	start = r->produced - r->last_len;
	if (used < start || used > r->produced)
		return fy_err_set(r->err, FY_EFORMAT, "%s: cannot locate the end of the archive",
				  r->label);
	for (i = (size_t)(used - start); i < r->last_len; i++, tail++)
		if (r->obuf[i] != 0)
			goto garbage;
	while ((k = read_cb(NULL, r, &p)) > 0) {
		for (i = 0; i < (size_t)k; i++)
			if (((const uint8_t *)p)[i] != 0)
				goto garbage;
		tail += (uint64_t)k;
		if (tail > TAIL_MAX)
			goto garbage;
	}
	if (k < 0)
		return r->cb_rc;
	if (tail > TAIL_MAX)
		goto garbage;
	return FY_OK;
garbage:
	return fy_err_set(r->err, FY_EFORMAT,
			  "%s: data after the end of the archive (trailing "
			  "garbage)",
			  r->label);
}

/* bundle.json and bundle.sig: read, signature checked against this store's trust, parsed. */
static int read_head(struct reader *r, struct bundle *b, struct fy_buf *desc)
{
	struct fy_buf sig;
	struct fy_sig_seen x;
	char label[4200];
	int rc;

	fy_buf_init(&sig);
	FY_TRY(rc, read_small(r, "bundle.json", BUNDLE_JSON_MAX, false, desc));
	FY_TRY(rc, read_small(r, "bundle.sig", SIG_MAX, false, &sig));
	FY_TRY(rc, fy_check_detached(r->s, desc->data, desc->len, sig.data, sig.len, r->label,
				     "bundle", &x, r->err));
	snprintf(label, sizeof(label), "%s: bundle.json", r->label);
	FY_TRY(rc, parse_bundle(desc->data, desc->len, label, b, r->err));
	rc = check_volumes(r, b->split);
out:
	fy_buf_release(&sig);
	return rc;
}

/* The decompressed size bundle.json allows from here on. */
static int set_cap(struct reader *r, const struct bundle *b)
{
	uint64_t cap = r->produced, t;
	size_t i;
	bool ok = fy_align_up(b->index_size, 512, &t) && fy_add_u64(cap, t, &cap) &&
		  fy_add_u64(cap, SIG_MAX + TAIL_MAX + 8 * ENTRY_SLACK, &cap);

	for (i = 0; ok && i < b->n_revs; i++)
		ok = fy_align_up(b->revs[i].size, 512, &t) && fy_add_u64(cap, t, &cap) &&
		     fy_add_u64(cap, ENTRY_SLACK, &cap);
	for (i = 0; ok && i < b->n_objs; i++)
		ok = fy_align_up(b->objs[i].size, 512, &t) && fy_add_u64(cap, t, &cap) &&
		     fy_add_u64(cap, ENTRY_SLACK, &cap);
	if (!ok)
		return fy_err_set(r->err, FY_EFORMAT, "%s: bundle.json declares impossible sizes",
				  r->label);
	r->cap = cap;
	return FY_OK;
}

/* index.json and index.sig: the digest bundle.json pins, then the client's checks of an index
 * (trust, expiry, rollback; nothing remembered yet). */
static int read_index(struct reader *r, const struct bundle *b, struct fy_buf *ix,
		      struct fy_buf *ix_sig, struct fy_json **out)
{
	uint8_t d[FY_SHA256_LEN];
	char label[4200];
	int rc;

	FY_TRY(rc, read_small(r, "index.json", b->index_size, true, ix));
	fy_sha256(ix->data, ix->len, d);
	if (memcmp(d, b->index_sha, FY_SHA256_LEN) != 0) {
		rc = fy_err_set(r->err, FY_EHASH,
				"%s: index.json is not the index bundle.json pins", r->label);
		goto out;
	}
	FY_TRY(rc, read_small(r, "index.sig", SIG_MAX, false, ix_sig));
	snprintf(label, sizeof(label), "%s: index.json", r->label);
	FY_TRY(rc, fy_store_accept_index(r->s, ix->data, ix->len, ix_sig->data, ix_sig->len, label,
					 FY_ACCEPT_CHECK_ONLY |
						 (r->o->allow_expired ? FY_ACCEPT_EXPIRED : 0),
					 out, r->err));
	if (fy_pubindex_version(*out) != b->index_version)
		rc = fy_err_set(r->err, FY_EFORMAT,
				"%s: index.json is version %" PRIu64 ", bundle.json says %" PRIu64,
				r->label, fy_pubindex_version(*out), b->index_version);
out:
	return rc;
}

/* Each manifest: the digest bundle.json lists and the signed index pins, then its structure. */
static int read_manifests(struct reader *r, struct bundle *b, const struct fy_json *ix)
{
	char name[FY_REPO_MAX + FY_REV_ID_LEN + 32];
	char hex[ID_HEX + 1];
	uint8_t d[FY_SHA256_LEN];
	size_t i;
	int rc = FY_OK;

	for (i = 0; i < b->n_revs; i++) {
		struct brev *v = &b->revs[i];
		const char *pin = fy_json_str(
			fy_json_get(fy_pubindex_revision(ix, v->repo, v->id), "manifest_sha256"));

		snprintf(name, sizeof(name), "manifests/%s/%s.json", v->repo, v->id);
		FY_TRY(rc, read_small(r, name, v->size, true, &v->bytes));
		fy_sha256(v->bytes.data, v->bytes.len, d);
		fy_hex(d, sizeof(d), hex);
		if (memcmp(d, v->sha, FY_SHA256_LEN) != 0)
			return fy_err_set(r->err, FY_EHASH,
					  "%s: %s is not the manifest bundle.json lists (sha256 "
					  "%.16s…)",
					  r->label, name, hex);
		if (pin == NULL || strcmp(pin, hex) != 0)
			return fy_err_set(r->err, FY_EHASH,
					  "%s: %s is not a manifest the signed index publishes "
					  "(mix-and-match)",
					  r->label, name);
		FY_TRY(rc, fy_revision_parse(v->bytes.data, v->bytes.len, name, &v->rev, r->err));
		if (strcmp(v->rev->id, v->id) != 0 || strcmp(v->rev->repo, v->repo) != 0)
			return fy_err_set(r->err, FY_EHASH, "%s: %s is the manifest of %s@%.12s",
					  r->label, name, v->rev->repo, v->rev->id);
	}
out:
	return rc;
}

/* One object: streamed and hashed (written to tmp/ and adopted when importing; skipped when
 * the store has it and nothing is to be checked). */
static int read_object(struct reader *r, struct bobj *o, bool import, bool *present)
{
	static atomic_uint counter;
	char hex[ID_HEX + 1];
	char name[16 + ID_HEX];
	char tmp[4200];
	struct fy_hasher *h = NULL;
	struct fy_digests d;
	uint64_t n = 0, pos = 0;
	const void *p;
	size_t k;
	int fd = -1;
	int rc;

	fy_hex(o->sha, FY_SHA256_LEN, hex);
	snprintf(name, sizeof(name), "objects/%s", hex);
	FY_TRY(rc, next_entry(r, name, o->size, true, &n));
	*present = fy_store_has_object(r->s, o->sha);
	if (import && *present) {
		if (archive_read_data_skip(r->a) != ARCHIVE_OK)
			rc = ar_read_fail(r, name);
		return rc;
	}
	FY_TRY(rc, fy_hasher_new(&h, o->size, o->need_oid ? 0 : FY_HASH_SHA256_ONLY, r->err));
	if (import) {
		snprintf(tmp, sizeof(tmp), "%s",
			 fy_store_path(r->s, "tmp/bundle-%ld-%u", (long)getpid(),
				       atomic_fetch_add(&counter, 1)));
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
		if (fd < 0) {
			rc = fy_err_sys(r->err, FY_EIO, "cannot create '%s'", tmp);
			goto out;
		}
	}
	for (;;) {
		FY_TRY(rc, next_block(r, name, n, &pos, &p, &k));
		if (k == 0)
			break;
		FY_TRY(rc, fy_hasher_update(h, p, k, r->err));
		if (fd >= 0 && (rc = fy_write_all(fd, p, k, tmp, r->err)) != FY_OK)
			goto out;
	}
	if (fy_hasher_final(h, &d, r->err) != FY_OK ||
	    memcmp(d.sha256, o->sha, FY_SHA256_LEN) != 0 ||
	    (o->need_oid && memcmp(d.git_oid, o->oid, FY_SHA1_LEN) != 0)) {
		rc = fy_err_set(r->err, FY_EHASH,
				"%s: '%s' does not match its digest (tampered or damaged); nothing "
				"was committed",
				r->label, name);
		goto out;
	}
	if (fd >= 0) {
		if (fsync(fd) != 0) {
			rc = fy_err_sys(r->err, FY_EIO, "cannot sync '%s'", tmp);
			goto out;
		}
		close(fd);
		fd = -1;
		rc = fy_store_adopt(r->s, tmp, &d, r->err);
	}
out:
	fy_hasher_free(h);
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	return rc;
}

/* Writes the manifests, moves each ref of the index to a revision the store now has, remembers
 * the index's version, and records the bundle. Holds the writer lock. */
static int commit(struct reader *r, const struct bundle *b, const struct fy_buf *desc,
		  const struct fy_buf *ix, const struct fy_buf *ix_sig, const struct fy_json *index,
		  struct fy_bundle_stats *st)
{
	struct fy_json *accepted = NULL;
	char dir[4200], label[4200];
	size_t i;
	int rc = FY_OK;

	for (i = 0; i < b->n_revs; i++) {
		const struct brev *v = &b->revs[i];
		const char *path =
			fy_store_path(r->s, "repos/%s/revisions/%s.json", v->repo, v->id);

		if (path == NULL)
			return fy_err_set(r->err, FY_EINVAL, "%s: path too long", v->repo);
		if (access(path, F_OK) == 0)
			continue;
		snprintf(dir, sizeof(dir), "%s", path);
		*strrchr(dir, '/') = '\0';
		FY_TRY(rc, fy_mkdirs(dir, r->err));
		FY_TRY(rc, fy_file_write_atomic_in(path, fy_store_path(r->s, "tmp"), v->bytes.data,
						   v->bytes.len, r->err));
		st->revisions_new++;
	}
	for (i = 0; i < b->n_revs; i++) {
		const struct fy_json *refs;
		void *it;

		if (i > 0 && strcmp(b->revs[i - 1].repo, b->revs[i].repo) == 0)
			continue;
		refs = fy_json_get(fy_json_get(fy_json_get(index, "repos"), b->revs[i].repo),
				   "refs");
		for (it = fy_json_iter(refs); it; it = fy_json_next(refs, it)) {
			const char *target = fy_json_str(fy_json_iter_value(it));
			char cur[FY_REV_ID_LEN + 1];
			struct fy_err e2;

			if (access(fy_store_path(r->s, "repos/%s/revisions/%s.json",
						 b->revs[i].repo, target),
				   F_OK) != 0)
				continue; /* a revision this bundle does not carry */
			if (fy_store_read_ref(r->s, b->revs[i].repo, fy_json_iter_key(it), cur,
					      &e2) == FY_OK &&
			    strcmp(cur, target) == 0)
				continue;
			FY_TRY(rc, fy_store_write_ref(r->s, b->revs[i].repo, fy_json_iter_key(it),
						      target, r->err));
			st->refs++;
		}
	}
	snprintf(label, sizeof(label), "%s: index.json", r->label);
	FY_TRY(rc, fy_store_accept_index(r->s, ix->data, ix->len, ix_sig->data, ix_sig->len, label,
					 r->o->allow_expired ? FY_ACCEPT_EXPIRED : 0, &accepted,
					 r->err));
	FY_TRY(rc, fy_mkdirs(fy_store_path(r->s, "bundles"), r->err));
	rc = fy_file_write_atomic_in(fy_store_path(r->s, "bundles/%s.json", b->id),
				     fy_store_path(r->s, "tmp"), desc->data, desc->len, r->err);
out:
	fy_json_free(accepted);
	return rc;
}

/* What a bundle's description says, into the stats. */
static void describe_stats(const struct bundle *b, struct fy_bundle_stats *st)
{
	snprintf(st->id, sizeof(st->id), "%s", b->id);
	snprintf(st->base, sizeof(st->base), "%s", b->base);
	st->index_version = b->index_version;
	st->revisions = b->n_revs;
	st->objects = b->n_objs;
	st->objects_base = b->n_req;
}

static int read_bundle(struct fy_store *s, const char *path, const struct fy_bundle_opts *o,
		       bool import, struct fy_bundle_stats *st, struct fy_json **index_out,
		       struct fy_err *err)
{
	struct reader r;
	struct bundle b;
	struct fy_buf desc, ix, ix_sig;
	struct fy_json *index = NULL;
	bool locked = false;
	size_t i, missing = 0;
	int rc;

	memset(&b, 0, sizeof(b));
	memset(st, 0, sizeof(*st));
	fy_buf_init(&desc);
	fy_buf_init(&ix);
	fy_buf_init(&ix_sig);
	FY_TRY(rc, reader_open(&r, s, path, o, err));
	FY_TRY(rc, read_head(&r, &b, &desc));
	FY_TRY(rc, set_cap(&r, &b));
	FY_TRY(rc, read_index(&r, &b, &ix, &ix_sig, &index));
	FY_TRY(rc, read_manifests(&r, &b, index));
	FY_TRY(rc, match_manifests(&b, path, err));
	for (i = 0; i < b.n_req; i++)
		missing += !fy_store_has_object(s, b.req[i].sha);
	if (missing > 0) {
		rc = fy_err_set(err, FY_ENOTFOUND,
				"%s: incremental on bundle %.12s, whose objects this store lacks "
				"(%zu of %zu): import that bundle first",
				path, b.base, missing, b.n_req);
		goto out;
	}
	if (import) {
		FY_TRY(rc, fy_store_lock(s, o ? o->wait_fn : NULL, o ? o->ctx : NULL, err));
		locked = true;
	}
	for (i = 0; i < b.n_objs; i++) {
		bool present = false;

		FY_TRY(rc, read_object(&r, &b.objs[i], import, &present));
		st->objects_present += present;
		st->bytes += b.objs[i].size;
	}
	FY_TRY(rc, read_end(&r));
	if (import)
		FY_TRY(rc, commit(&r, &b, &desc, &ix, &ix_sig, index, st));
	describe_stats(&b, st);
	st->archive_bytes = r.total;
	st->volumes = r.n_vols;
	if (index_out != NULL) {
		*index_out = index;
		index = NULL;
	}
out:
	if (locked)
		fy_store_unlock(s);
	reader_close(&r);
	bundle_release(&b);
	fy_json_free(index);
	fy_buf_release(&desc);
	fy_buf_release(&ix);
	fy_buf_release(&ix_sig);
	return rc;
}

int fy_bundle_verify(struct fy_store *s, const char *path, const struct fy_bundle_opts *o,
		     struct fy_bundle_stats *st, struct fy_err *err)
{
	return read_bundle(s, path, o, false, st, NULL, err);
}

int fy_bundle_import(struct fy_store *s, const char *path, const struct fy_bundle_opts *o,
		     struct fy_bundle_stats *st, struct fy_json **index, struct fy_err *err)
{
	return read_bundle(s, path, o, true, st, index, err);
}

/* ------------------------------------------------------------------------------------------ */
/* Creating                                                                                   */

/* What the base holds: its objects and those it required (the receiver has both). */
static int load_base(struct fy_store *s, const char *since, struct bundle *base, struct fy_err *err)
{
	struct fy_buf desc;
	struct stat st;
	char path[4200];
	int rc;

	fy_buf_init(&desc);
	snprintf(path, sizeof(path), "%s.001", since);
	if (stat(since, &st) == 0 || stat(path, &st) == 0) {
		struct reader r;

		FY_TRY(rc, reader_open(&r, s, since, NULL, err));
		rc = read_head(&r, base, &desc);
		reader_close(&r);
	} else {
		char **names = NULL;
		size_t n = 0, i, hits = 0;
		size_t len = strlen(since);

		if (len < 4 || len > ID_HEX || strspn(since, "0123456789abcdef") != len)
			return fy_err_set(err, FY_ENOTFOUND,
					  "--since %s: neither a bundle file nor a bundle id",
					  since);
		if (access(fy_store_path(s, "bundles"), F_OK) == 0)
			FY_TRY(rc,
			       fy_dir_list(fy_store_path(s, "bundles"), ".json", &names, &n, err));
		for (i = 0; i < n; i++)
			if (strncmp(names[i], since, len) == 0) {
				snprintf(path, sizeof(path), "%s",
					 fy_store_path(s, "bundles/%s", names[i]));
				hits++;
			}
		fy_names_free(names, n);
		if (hits != 1)
			return fy_err_set(err, hits ? FY_EINVAL : FY_ENOTFOUND, "--since %s: %s",
					  since,
					  hits ? "ambiguous bundle id prefix"
					       : "no bundle of that id was created or imported "
						 "here");
		FY_TRY(rc, fy_file_read(path, BUNDLE_JSON_MAX, &desc, err));
		rc = parse_bundle(desc.data, desc.len, path, base, err);
	}
out:
	fy_buf_release(&desc);
	return rc;
}

static int add_rev(struct bundle *b, size_t *cap, const char *repo, const char *id,
		   struct fy_err *err)
{
	struct brev *v;
	int rc = fy_grow((void **)&b->revs, cap, b->n_revs + 1, sizeof(*b->revs), err);

	if (rc != FY_OK)
		return rc;
	v = &b->revs[b->n_revs++];
	memset(v, 0, sizeof(*v));
	fy_buf_init(&v->bytes);
	snprintf(v->repo, sizeof(v->repo), "%s", repo);
	snprintf(v->id, sizeof(v->id), "%s", id);
	return FY_OK;
}

/* The revisions to carry: each target (REPO: every published revision of it; REPO@REV: that
 * one, which must be published), or everything the index publishes. */
static int select_revisions(struct fy_store *s, const struct fy_json *ix,
			    const struct fy_bundle_opts *o, struct bundle *b, struct fy_err *err)
{
	const struct fy_json *repos = fy_json_get(ix, "repos");
	char(*ids)[FY_REV_ID_LEN + 1] = calloc(o->n_targets + 1, sizeof(*ids));
	size_t cap = 0, i, k;
	void *it, *jt;
	int rc = FY_OK;

	if (ids == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	for (i = 0; i < o->n_targets; i++) /* REPO@REV named once, resolved once */
		if (o->targets[i].rev != NULL)
			FY_TRY(rc, fy_store_resolve(s, o->targets[i].repo, o->targets[i].rev,
						    ids[i], err));
	for (it = fy_json_iter(repos); it; it = fy_json_next(repos, it)) {
		const char *repo = fy_json_iter_key(it);
		const struct fy_json *revs = fy_json_get(fy_json_iter_value(it), "revisions");

		for (jt = fy_json_iter(revs); jt; jt = fy_json_next(revs, jt)) {
			bool want = o->n_targets == 0;

			for (i = 0; !want && i < o->n_targets; i++)
				want = strcmp(o->targets[i].repo, repo) == 0 &&
				       (ids[i][0] == '\0' ||
					strcmp(ids[i], fy_json_iter_key(jt)) == 0);
			if (want)
				FY_TRY(rc, add_rev(b, &cap, repo, fy_json_iter_key(jt), err));
		}
	}
	for (i = 0; i < o->n_targets; i++) { /* every target must have matched */
		for (k = 0; k < b->n_revs; k++)
			if (strcmp(b->revs[k].repo, o->targets[i].repo) == 0 &&
			    (ids[i][0] == '\0' || strcmp(b->revs[k].id, ids[i]) == 0))
				break;
		if (k == b->n_revs) {
			rc = fy_err_set(err, FY_ENOTFOUND,
					"%s%s%s is not published (a bundle carries published "
					"revisions only: ferry publish it first)",
					o->targets[i].repo, ids[i][0] ? "@" : "", ids[i]);
			goto out;
		}
	}
	if (b->n_revs == 0) {
		rc = fy_err_set(err, FY_ENOTFOUND, "nothing is published: nothing to bundle");
		goto out;
	}
	qsort(b->revs, b->n_revs, sizeof(*b->revs), cmp_rev);
out:
	free(ids);
	return rc;
}

/* Loads each manifest (it must be the one the index pins) and gathers the objects. */
static int gather(struct fy_store *s, const struct fy_json *ix, struct bundle *b,
		  struct fy_err *err)
{
	size_t cap = 0, i, f, n = 0;
	uint8_t d[FY_SHA256_LEN];
	char hex[ID_HEX + 1];
	int rc = FY_OK;

	for (i = 0; i < b->n_revs; i++) {
		struct brev *v = &b->revs[i];
		const char *pin = fy_json_str(
			fy_json_get(fy_pubindex_revision(ix, v->repo, v->id), "manifest_sha256"));

		FY_TRY(rc, fy_revision_bytes(s, v->repo, v->id, &v->bytes, err));
		fy_sha256(v->bytes.data, v->bytes.len, d);
		fy_hex(d, sizeof(d), hex);
		if (pin == NULL || strcmp(pin, hex) != 0)
			return fy_err_set(err, FY_EHASH,
					  "%s@%.12s: the store's manifest is not the one the index "
					  "publishes (run ferry fsck)",
					  v->repo, v->id);
		memcpy(v->sha, d, sizeof(d));
		v->size = v->bytes.len;
		FY_TRY(rc, fy_revision_parse(v->bytes.data, v->bytes.len, v->id, &v->rev, err));
		for (f = 0; f < v->rev->n_files; f++) {
			FY_TRY(rc, fy_grow((void **)&b->objs, &cap, n + 1, sizeof(*b->objs), err));
			memset(&b->objs[n], 0, sizeof(b->objs[n]));
			memcpy(b->objs[n].sha, v->rev->files[f].sha256, FY_SHA256_LEN);
			b->objs[n++].size = v->rev->files[f].size;
		}
	}
	if (n > 0)
		qsort(b->objs, n, sizeof(*b->objs), cmp_obj);
	for (i = 0, f = 0; i < n; i++) /* unique */
		if (f == 0 || memcmp(b->objs[f - 1].sha, b->objs[i].sha, FY_SHA256_LEN) != 0)
			b->objs[f++] = b->objs[i];
	b->n_objs = f;
	for (i = 0; i < b->n_objs; i++)
		if (!fy_store_has_object(s, b->objs[i].sha)) {
			fy_hex(b->objs[i].sha, FY_SHA256_LEN, hex);
			return fy_err_set(err, FY_ENOTFOUND,
					  "object %.16s… is missing from the store (run ferry "
					  "fsck)",
					  hex);
		}
out:
	return rc;
}

/* Moves the objects the base has into `requires`. */
static int split_base(struct bundle *b, const struct bundle *base, struct fy_err *err)
{
	size_t i, kept = 0;

	b->req = calloc(b->n_objs ? b->n_objs : 1, sizeof(*b->req));
	if (b->req == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	for (i = 0; i < b->n_objs; i++) {
		const struct bobj *o = &b->objs[i];
		struct bobj *in_base = find_obj(base->objs, base->n_objs, o->sha);

		if (in_base == NULL)
			in_base = find_obj(base->req, base->n_req, o->sha);
		if (in_base != NULL)
			b->req[b->n_req++] = *o;
		else
			b->objs[kept++] = *o;
	}
	b->n_objs = kept;
	snprintf(b->base, sizeof(b->base), "%s", base->id);
	return FY_OK;
}

static struct fy_json *objs_json(const struct bobj *v, size_t n)
{
	struct fy_json *a = fy_json_array();
	char hex[ID_HEX + 1];
	size_t i;

	for (i = 0; i < n; i++) {
		struct fy_json *o = fy_json_object();

		fy_hex(v[i].sha, FY_SHA256_LEN, hex);
		fy_json_set(o, "sha256", fy_json_string(hex));
		fy_json_set(o, "size", fy_json_integer((int64_t)v[i].size));
		fy_json_push(a, o);
	}
	return a;
}

/* bundle.json's text; the id is the SHA-256 of everything else but the time. */
static char *describe(struct bundle *b, const struct fy_buf *ix, const struct fy_json *index)
{
	struct fy_json *j = fy_json_object();
	struct fy_json *ixo = fy_json_object();
	struct fy_json *revs = fy_json_array();
	char hex[ID_HEX + 1];
	uint8_t d[FY_SHA256_LEN];
	char *text = NULL;
	size_t i;

	fy_sha256(ix->data, ix->len, b->index_sha);
	b->index_version = fy_pubindex_version(index);
	fy_hex(b->index_sha, FY_SHA256_LEN, hex);
	fy_json_set(ixo, "version", fy_json_integer((int64_t)b->index_version));
	fy_json_set(ixo, "sha256", fy_json_string(hex));
	fy_json_set(ixo, "size", fy_json_integer((int64_t)ix->len));
	for (i = 0; i < b->n_revs; i++) {
		struct fy_json *o = fy_json_object();

		fy_hex(b->revs[i].sha, FY_SHA256_LEN, hex);
		fy_json_set(o, "repo", fy_json_string(b->revs[i].repo));
		fy_json_set(o, "id", fy_json_string(b->revs[i].id));
		fy_json_set(o, "sha256", fy_json_string(hex));
		fy_json_set(o, "size", fy_json_integer((int64_t)b->revs[i].size));
		fy_json_push(revs, o);
	}
	fy_json_set(j, "format", fy_json_string("ferry-bundle"));
	fy_json_set(j, "version", fy_json_integer(1));
	fy_json_set(j, "base", b->base[0] ? fy_json_string(b->base) : fy_json_null());
	fy_json_set(j, "split_size", fy_json_integer((int64_t)b->split));
	fy_json_set(j, "index", ixo);
	fy_json_set(j, "revisions", revs);
	fy_json_set(j, "objects", objs_json(b->objs, b->n_objs));
	fy_json_set(j, "requires", objs_json(b->req, b->n_req));
	text = fy_json_dump(j, 0);
	if (text != NULL) {
		fy_sha256(text, strlen(text), d);
		fy_hex(d, sizeof(d), b->id);
		free(text);
		fy_now_iso(b->created);
		fy_json_set(j, "id", fy_json_string(b->id));
		fy_json_set(j, "created", fy_json_string(b->created));
		text = fy_json_dump(j, FY_JSON_DUMP_PRETTY);
	}
	fy_json_free(j);
	return text;
}

int fy_bundle_create(struct fy_store *s, const char *out, const struct fy_bundle_opts *o,
		     struct fy_bundle_stats *st, struct fy_err *err)
{
	struct bundle b, base;
	struct fy_buf ix, ix_sig;
	struct fy_json *index = NULL;
	struct writer w;
	char *desc = NULL, *sig = NULL;
	time_t expires = 0;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t i;
	int rc;

	memset(&b, 0, sizeof(b));
	memset(&base, 0, sizeof(base));
	memset(&w, 0, sizeof(w));
	memset(st, 0, sizeof(*st));
	w.fd = -1;
	fy_buf_init(&ix);
	fy_buf_init(&ix_sig);
	if (strlen(out) >= sizeof(w.base) - 16)
		return fy_err_set(err, FY_EINVAL, "%s: path too long", out);
	rc = fy_store_published(s, &ix, &ix_sig, err);
	if (rc == FY_ENOTFOUND) {
		rc = fy_err_set(err, FY_ENOTFOUND,
				"nothing is published in this store (a bundle carries published "
				"revisions: ferry publish first)");
		goto out;
	}
	if (rc != FY_OK)
		goto out;
	FY_TRY(rc, fy_pubindex_parse(ix.data, ix.len, fy_store_path(s, "published/current"), &index,
				     err));
	fy_iso_parse(fy_json_str(fy_json_get(index, "expires")), &expires);
	if (expires <= time(NULL)) {
		rc = fy_err_set(err, FY_EINVAL,
				"the published index expired at %s: ferry publish --refresh signs "
				"a fresh one",
				fy_json_str(fy_json_get(index, "expires")));
		goto out;
	}
	FY_TRY(rc, select_revisions(s, index, o, &b, err));
	FY_TRY(rc, gather(s, index, &b, err));
	if (o->since != NULL) {
		FY_TRY(rc, load_base(s, o->since, &base, err));
		FY_TRY(rc, split_base(&b, &base, err));
	}
	b.split = o->split_size;
	desc = describe(&b, &ix, index);
	if (desc == NULL) {
		rc = fy_err_set(err, FY_ENOMEM, "out of memory");
		goto out;
	}
	FY_TRY(rc, fy_store_sign_detached(s, desc, strlen(desc), &sig, err));
	snprintf(w.base, sizeof(w.base), "%s", out);
	w.numbered = o->split_size > 0;
	w.split = o->split_size;
	w.err = err;
	w.o = o;
	for (i = 0; i < b.n_objs; i++)
		w.todo += b.objs[i].size;
	w.z = ZSTD_createCCtx();
	w.zcap = ZSTD_CStreamOutSize();
	w.zbuf = malloc(w.zcap);
	if (w.z == NULL || w.zbuf == NULL) {
		rc = fy_err_set(err, FY_ENOMEM, "out of memory");
		goto out;
	}
	ZSTD_CCtx_setParameter(w.z, ZSTD_c_compressionLevel, o->level > 0 ? o->level : 3);
	ZSTD_CCtx_setParameter(w.z, ZSTD_c_checksumFlag, 1);
	/* workers when this libzstd has them (it refuses the parameter otherwise) */
	ZSTD_CCtx_setParameter(w.z, ZSTD_c_nbWorkers,
			       o->threads > 0 ? o->threads : (int)(cpus > 0 ? cpus : 1));
	rc = write_archive(s, &w, &b, desc, sig, &ix, &ix_sig);
	if (rc == FY_OK)
		rc = finish_volumes(&w);
	if (rc != FY_OK) {
		drop_volumes(&w);
		goto out;
	}
	/* the bundle is whole and signed: a store that cannot keep the record (a read-only disk,
	 * a full one) costs only --since naming it by id, which the caller says */
	{
		struct fy_err rec;

		if (fy_mkdirs(fy_store_path(s, "bundles"), &rec) != FY_OK ||
		    fy_file_write_atomic(fy_store_path(s, "bundles/%s.json", b.id), desc,
					 strlen(desc), &rec) != FY_OK)
			snprintf(st->unrecorded, sizeof(st->unrecorded), "%s", rec.msg);
	}
	describe_stats(&b, st);
	st->bytes = w.todo;
	st->archive_bytes = w.total;
	st->volumes = w.n_vols;
out:
	ZSTD_freeCCtx(w.z);
	free(w.zbuf);
	free(desc);
	free(sig);
	fy_json_free(index);
	bundle_release(&b);
	bundle_release(&base);
	fy_buf_release(&ix);
	fy_buf_release(&ix_sig);
	return rc;
}
