/*
 * A ferry mirror as a source (docs/PUBLISH.md): its signed index, checked before anything else is
 * believed; manifests whose digests the index pins; and the record of a revision fetched from it,
 * kept byte for byte as the mirror signed it.
 */
#include "mirror/mirror_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_INDEX (64u << 20)
#define MAX_SIGS (1u << 20)
#define MAX_MANIFEST (256u << 20)

int fy_remote_open(struct fy_store *s, const struct fy_clone_opts *o, bool allow_expired,
		   struct fy_remote *out, struct fy_err *err)
{
	struct fy_buf ix, sig;
	char url[2200];
	int rc;

	memset(out, 0, sizeof(*out));
	fy_buf_init(&ix);
	fy_buf_init(&sig);
	snprintf(out->endpoint, sizeof(out->endpoint), "%s", o->endpoint);
	snprintf(url, sizeof(url), "%s/api/ferry/index", o->endpoint);
	rc = fy_http_fetch(url, o, MAX_INDEX, &ix, err);
	if (rc == FY_ENOTFOUND)
		rc = fy_err_set(err, FY_ENOTFOUND,
				"%s publishes no signed index (not a ferry mirror, or nothing "
				"published)",
				o->endpoint);
	if (rc == FY_OK) {
		snprintf(url, sizeof(url), "%s/api/ferry/index.sig", o->endpoint);
		rc = fy_http_fetch(url, o, MAX_SIGS, &sig, err);
	}
	if (rc == FY_OK)
		rc = fy_store_accept_index(s, ix.data, ix.len, sig.data, sig.len, o->endpoint,
					   allow_expired ? FY_ACCEPT_EXPIRED : 0, &out->index, err);
	fy_buf_release(&ix);
	fy_buf_release(&sig);
	return rc;
}

void fy_remote_close(struct fy_remote *r)
{
	fy_json_free(r->index);
	r->index = NULL;
}

int fy_remote_resolve(const struct fy_remote *r, const char *repo, const char *rev,
		      char id[FY_REV_ID_LEN + 1], char *ref, struct fy_err *err)
{
	const struct fy_json *entry = fy_json_get(fy_json_get(r->index, "repos"), repo);
	const struct fy_json *refs = fy_json_get(entry, "refs");
	const struct fy_json *revs = fy_json_get(entry, "revisions");
	static const char *const kinds[] = { "heads/", "tags/" };
	const char *hit = NULL;
	char name[FY_REF_MAX];
	size_t n = 0, k;
	void *it;

	if (entry == NULL)
		return fy_err_set(err, FY_ENOTFOUND, "%s: %s is not published there", r->endpoint,
				  repo);
	if (rev == NULL || rev[0] == '\0' || strcmp(rev, "HEAD") == 0)
		rev = "main";
	for (k = 0; hit == NULL && k < 2; k++) {
		snprintf(name, sizeof(name), "%s%s", kinds[k], rev);
		hit = fy_json_str(fy_json_get(refs, name));
	}
	if (hit == NULL && strlen(rev) >= 4 && strlen(rev) <= FY_REV_ID_LEN &&
	    strspn(rev, "0123456789abcdef") == strlen(rev)) {
		name[0] = '\0';
		for (it = fy_json_iter(revs); it; it = fy_json_next(revs, it))
			if (strncmp(fy_json_iter_key(it), rev, strlen(rev)) == 0) {
				hit = fy_json_iter_key(it);
				n++;
			}
		if (n > 1)
			return fy_err_set(err, FY_EINVAL, "%s@%s: ambiguous revision prefix", repo,
					  rev);
	}
	if (hit == NULL)
		return fy_err_set(err, FY_ENOTFOUND, "%s: %s@%s is not published there",
				  r->endpoint, repo, rev);
	snprintf(id, FY_REV_ID_LEN + 1, "%s", hit);
	if (ref != NULL)
		snprintf(ref, FY_REF_MAX, "%s", name);
	return FY_OK;
}

int fy_remote_manifest(const struct fy_remote *r, const struct fy_clone_opts *o, const char *repo,
		       const char *id, struct fy_revision **out, struct fy_buf *bytes,
		       struct fy_err *err)
{
	const struct fy_json *e = fy_pubindex_revision(r->index, repo, id);
	const char *want = fy_json_str(fy_json_get(e, "manifest_sha256"));
	struct fy_revision *rev = NULL;
	struct fy_buf b;
	uint8_t d[FY_SHA256_LEN];
	char hex[2 * FY_SHA256_LEN + 1];
	char url[2600];
	int rc;

	if (want == NULL)
		return fy_err_set(err, FY_ENOTFOUND, "%s: %s@%.12s is not published there",
				  r->endpoint, repo, id);
	fy_buf_init(&b);
	snprintf(url, sizeof(url), "%s/api/ferry/manifests/%s/%s", r->endpoint, repo, id);
	FY_TRY(rc, fy_http_fetch(url, o, MAX_MANIFEST, &b, err));
	fy_sha256(b.data, b.len, d);
	fy_hex(d, sizeof(d), hex);
	if (strcmp(hex, want) != 0) {
		rc = fy_err_set(err, FY_EHASH,
				"%s: the manifest of %s@%.12s is not the one the signed index "
				"lists (sha256 %.16s…, index says %.16s…)",
				r->endpoint, repo, id, hex, want);
		goto out;
	}
	FY_TRY(rc, fy_revision_parse(b.data, b.len, url, &rev, err));
	if (strcmp(rev->id, id) != 0 || strcmp(rev->repo, repo) != 0) {
		rc = fy_err_set(err, FY_EHASH, "%s: the manifest is of %s@%.12s, not %s@%.12s", url,
				rev->repo, rev->id, repo, id);
		goto out;
	}
	*out = rev;
	rev = NULL;
	if (bytes != NULL) {
		*bytes = b;
		fy_buf_init(&b);
	}
out:
	fy_revision_free(rev);
	fy_buf_release(&b);
	return rc;
}

int fy_store_commit_fetched(struct fy_store *s, const struct fy_revision *r,
			    const struct fy_buf *bytes, const char *ref, struct fy_err *err)
{
	char path[4200];
	char dir[4200];
	size_t i;
	int rc;

	snprintf(path, sizeof(path), "%s",
		 fy_store_path(s, "repos/%s/revisions/%s.json", r->repo, r->id));
	for (i = 0; i < r->n_files; i++)
		if (!fy_store_has_object(s, r->files[i].sha256))
			return fy_err_set(err, FY_EINVAL, "%s@%.12s: '%s' is not in the store yet",
					  r->repo, r->id, r->files[i].path);
	FY_TRY(rc, fy_store_lock(s, NULL, NULL, err));
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	FY_TRY(rc, fy_mkdirs(dir, err));
	if (access(path, F_OK) != 0)
		FY_TRY(rc, fy_file_write_atomic_in(path, fy_store_path(s, "tmp"), bytes->data,
						   bytes->len, err));
	if (ref != NULL)
		rc = fy_store_write_ref(s, r->repo, ref, r->id, err);
out:
	fy_store_unlock(s);
	return rc;
}

int fy_remote_sync_repo(struct fy_store *s, const struct fy_remote *r,
			const struct fy_clone_opts *o, const char *repo, size_t *revs_new,
			struct fy_clone_stats *st, struct fy_err *err)
{
	const struct fy_json *entry = fy_json_get(fy_json_get(r->index, "repos"), repo);
	const struct fy_json *revs = fy_json_get(entry, "revisions");
	const struct fy_json *refs = fy_json_get(entry, "refs");
	void *it;
	int rc = FY_OK;

	memset(st, 0, sizeof(*st));
	*revs_new = 0;
	if (entry == NULL)
		return fy_err_set(err, FY_ENOTFOUND, "%s: %s is not published there", r->endpoint,
				  repo);
	for (it = fy_json_iter(revs); it; it = fy_json_next(revs, it)) {
		const char *id = fy_json_iter_key(it);
		struct fy_revision *rev = NULL;
		struct fy_clone_stats one = { 0 };
		struct fy_buf bytes;

		if (access(fy_store_path(s, "repos/%s/revisions/%s.json", repo, id), F_OK) == 0)
			continue; /* manifests are immutable: this one is here already */
		fy_buf_init(&bytes);
		rc = fy_remote_manifest(r, o, repo, id, &rev, &bytes, err);
		if (rc == FY_OK)
			rc = fy_store_fetch_files(s, rev, NULL, o, &one, err);
		if (rc == FY_OK)
			rc = fy_store_commit_fetched(s, rev, &bytes, NULL, err);
		fy_revision_free(rev);
		fy_buf_release(&bytes);
		if (rc != FY_OK)
			return rc;
		(*revs_new)++;
		st->files += one.files;
		st->files_fetched += one.files_fetched;
		st->files_reused += one.files_reused;
		st->bytes_fetched += one.bytes_fetched;
		st->retries += one.retries;
	}
	FY_TRY(rc, fy_store_lock(s, o->wait_fn, o->ctx, err));
	for (it = fy_json_iter(refs); rc == FY_OK && it; it = fy_json_next(refs, it)) {
		const char *target = fy_json_str(fy_json_iter_value(it));
		char cur[FY_REV_ID_LEN + 1];
		struct fy_err e2;

		if (fy_store_read_ref(s, repo, fy_json_iter_key(it), cur, &e2) != FY_OK ||
		    strcmp(cur, target) != 0)
			rc = fy_store_write_ref(s, repo, fy_json_iter_key(it), target, err);
	}
	fy_store_unlock(s);
out:
	return rc;
}
