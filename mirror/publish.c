/*
 * The signed mirror index (docs/PUBLISH.md): publish, unpublish and refresh on the mirror's side;
 * the checks a ferry client makes of a mirror's index (signatures by trusted keys, expiry,
 * rollback) on the other. The index is hostile input on the client side: every field is checked
 * before use.
 */
#include "mirror/mirror_private.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_INDEX (64u << 20)
#define MAX_SIG_DOC (1u << 20)
#define KEEP_VERSIONS 16

/* ------------------------------------------------------------------------------------------ */
/* The document                                                                               */

static bool ref_name_ok(const char *name)
{
	const char *rest;

	if (strncmp(name, "heads/", 6) == 0)
		rest = name + 6;
	else if (strncmp(name, "tags/", 5) == 0)
		rest = name + 5;
	else
		return false;
	return strlen(name) < 128 && rest[0] != '\0' && rest[0] != '.' &&
	       strstr(rest, "..") == NULL &&
	       strspn(rest, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-/") ==
		       strlen(rest);
}

static bool repo_name_ok(const char *name)
{
	struct fy_err err;

	if (strncmp(name, "datasets/", 9) == 0)
		name += 9;
	return fy_repo_check(name, &err) == FY_OK;
}

static int check_revisions(const struct fy_json *revs, const char *label, const char *repo,
			   struct fy_err *err)
{
	void *it;

	if (fy_json_type(revs) != FY_JSON_OBJECT || fy_json_size(revs) == 0)
		return fy_err_set(err, FY_EFORMAT, "%s: %s: no revisions", label, repo);
	for (it = fy_json_iter(revs); it; it = fy_json_next(revs, it)) {
		const char *id = fy_json_iter_key(it);
		const struct fy_json *e = fy_json_iter_value(it);
		const char *sha = fy_json_str(fy_json_get(e, "manifest_sha256"));
		uint8_t d[FY_SHA256_LEN];
		time_t t;

		if (!fy_is_rev_id(id))
			return fy_err_set(err, FY_EFORMAT, "%s: %s: '%.60s' is not a revision id",
					  label, repo, id);
		if (sha == NULL || strlen(sha) != 2 * FY_SHA256_LEN || !fy_unhex(sha, d, sizeof(d)))
			return fy_err_set(err, FY_EFORMAT, "%s: %s@%.12s: bad manifest_sha256",
					  label, repo, id);
		if (!fy_iso_parse(fy_json_str(fy_json_get(e, "published")), &t))
			return fy_err_set(err, FY_EFORMAT, "%s: %s@%.12s: bad published time",
					  label, repo, id);
	}
	return FY_OK;
}

static int check_repo(const struct fy_json *r, const char *label, const char *repo,
		      struct fy_err *err)
{
	const struct fy_json *refs = fy_json_get(r, "refs");
	const struct fy_json *revs = fy_json_get(r, "revisions");
	void *it;
	int rc;

	if (!repo_name_ok(repo))
		return fy_err_set(err, FY_EFORMAT, "%s: '%.100s' is not a repository name", label,
				  repo);
	FY_TRY(rc, check_revisions(revs, label, repo, err));
	if (fy_json_type(refs) != FY_JSON_OBJECT)
		return fy_err_set(err, FY_EFORMAT, "%s: %s: no refs object", label, repo);
	for (it = fy_json_iter(refs); it; it = fy_json_next(refs, it)) {
		const char *name = fy_json_iter_key(it);
		const char *id = fy_json_str(fy_json_iter_value(it));

		if (!ref_name_ok(name))
			return fy_err_set(err, FY_EFORMAT, "%s: %s: '%.100s' is not a ref name",
					  label, repo, name);
		if (id == NULL || fy_json_get(revs, id) == NULL)
			return fy_err_set(err, FY_EFORMAT,
					  "%s: %s: ref %s points at no published revision", label,
					  repo, name);
	}
out:
	return rc;
}

int fy_pubindex_parse(const void *data, size_t n, const char *label, struct fy_json **out,
		      struct fy_err *err)
{
	struct fy_json *j = NULL;
	const struct fy_json *repos;
	int64_t version;
	time_t t;
	void *it;
	int rc;

	FY_TRY(rc, fy_json_parse(&j, data, n, label, err));
	repos = fy_json_get(j, "repos");
	if (fy_json_str(fy_json_get(j, "format")) == NULL ||
	    strcmp(fy_json_str(fy_json_get(j, "format")), "ferry-index") != 0)
		rc = fy_err_set(err, FY_EFORMAT, "%s: not a ferry index", label);
	else if (!fy_json_int(fy_json_get(j, "version"), &version) || version < 1)
		rc = fy_err_set(err, FY_EFORMAT, "%s: bad version", label);
	else if (!fy_iso_parse(fy_json_str(fy_json_get(j, "created")), &t) ||
		 !fy_iso_parse(fy_json_str(fy_json_get(j, "expires")), &t))
		rc = fy_err_set(err, FY_EFORMAT, "%s: bad created or expires time", label);
	else if (fy_json_type(repos) != FY_JSON_OBJECT)
		rc = fy_err_set(err, FY_EFORMAT, "%s: no repos object", label);
	for (it = fy_json_iter(repos); rc == FY_OK && it; it = fy_json_next(repos, it))
		rc = check_repo(fy_json_iter_value(it), label, fy_json_iter_key(it), err);
out:
	if (rc != FY_OK) {
		fy_json_free(j);
		return rc;
	}
	*out = j;
	return FY_OK;
}

const struct fy_json *fy_pubindex_revision(const struct fy_json *ix, const char *repo,
					   const char *id)
{
	return fy_json_get(fy_json_get(fy_json_get(fy_json_get(ix, "repos"), repo), "revisions"),
			   id);
}

uint64_t fy_pubindex_version(const struct fy_json *ix)
{
	int64_t v = 0;

	fy_json_int(fy_json_get(ix, "version"), &v);
	return v > 0 ? (uint64_t)v : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The mirror's side                                                                          */

static int read_current(struct fy_store *s, uint64_t *version, struct fy_err *err)
{
	struct fy_buf b;
	char text[32];
	char *end;
	int rc;

	fy_buf_init(&b);
	*version = 0;
	if (access(fy_store_path(s, "published/current"), F_OK) != 0)
		return FY_ENOTFOUND;
	rc = fy_file_read(fy_store_path(s, "published/current"), 64, &b, err);
	if (rc != FY_OK)
		return rc;
	snprintf(text, sizeof(text), "%.*s", (int)b.len, b.data ? (char *)b.data : "");
	fy_buf_release(&b);
	errno = 0;
	*version = strtoull(text, &end, 10);
	if (errno != 0 || end == text || (*end != '\n' && *end != '\0') || *version == 0)
		return fy_err_set(err, FY_EFORMAT, "%s: not a version number",
				  fy_store_path(s, "published/current"));
	return FY_OK;
}

int fy_store_published(struct fy_store *s, struct fy_buf *index, struct fy_buf *sig,
		       struct fy_err *err)
{
	uint64_t v;
	int rc;

	FY_TRY(rc, read_current(s, &v, err));
	if (index != NULL)
		FY_TRY(rc, fy_file_read(fy_store_path(s, "published/index-%" PRIu64 ".json", v),
					MAX_INDEX, index, err));
	if (sig != NULL)
		FY_TRY(rc, fy_file_read(fy_store_path(s, "published/index-%" PRIu64 ".sig", v),
					MAX_SIG_DOC, sig, err));
out:
	return rc;
}

/* The current index, or a new empty one (version 0). */
static int load_index(struct fy_store *s, struct fy_json **out, struct fy_err *err)
{
	struct fy_buf b;
	int rc;

	fy_buf_init(&b);
	rc = fy_store_published(s, &b, NULL, err);
	if (rc == FY_ENOTFOUND) {
		*out = fy_json_object();
		fy_json_set(*out, "format", fy_json_string("ferry-index"));
		fy_json_set(*out, "version", fy_json_integer(0));
		fy_json_set(*out, "repos", fy_json_object());
		return *out ? FY_OK : fy_err_set(err, FY_ENOMEM, "out of memory");
	}
	if (rc == FY_OK)
		rc = fy_pubindex_parse(b.data, b.len, fy_store_path(s, "published/current"), out,
				       err);
	fy_buf_release(&b);
	return rc;
}

bool fy_store_is_published(struct fy_store *s, const char *repo, const char *id)
{
	struct fy_json *ix = NULL;
	struct fy_err err;
	bool yes = false;

	if (load_index(s, &ix, &err) == FY_OK)
		yes = id != NULL ? fy_pubindex_revision(ix, repo, id) != NULL
				 : fy_json_get(fy_json_get(ix, "repos"), repo) != NULL;
	fy_json_free(ix);
	return yes;
}

static void prune(struct fy_store *s, uint64_t version)
{
	uint64_t v;

	for (v = version > KEEP_VERSIONS ? version - KEEP_VERSIONS : 0; v > 0; v--) {
		if (unlink(fy_store_path(s, "published/index-%" PRIu64 ".json", v)) != 0)
			break; /* older ones went earlier */
		unlink(fy_store_path(s, "published/index-%" PRIu64 ".sig", v));
	}
}

/* Writes ix as the next version, signed, then points `current` at it. */
static int write_index(struct fy_store *s, struct fy_json *ix, const struct fy_publish_opts *o,
		       uint64_t *version, struct fy_err *err)
{
	char *text = NULL;
	char *sig_text = NULL;
	char when[32], until[32], cur[32];
	int days = o != NULL && o->expires_days > 0 ? o->expires_days : 30;
	time_t now = time(NULL);
	uint64_t v = fy_pubindex_version(ix) + 1;
	int rc;

	fy_iso_utc(now, when);
	fy_iso_utc(now + (time_t)days * 86400, until);
	fy_json_set(ix, "version", fy_json_integer((int64_t)v));
	fy_json_set(ix, "created", fy_json_string(when));
	fy_json_set(ix, "expires", fy_json_string(until));
	text = fy_json_dump(ix, FY_JSON_DUMP_PRETTY);
	if (text == NULL) {
		rc = fy_err_set(err, FY_ENOMEM, "out of memory");
		goto out;
	}
	FY_TRY(rc, fy_store_sign_detached(s, text, strlen(text), &sig_text, err));
	FY_TRY(rc, fy_mkdirs(fy_store_path(s, "published"), err));
	FY_TRY(rc, fy_file_write_atomic_in(fy_store_path(s, "published/index-%" PRIu64 ".json", v),
					   fy_store_path(s, "tmp"), text, strlen(text), err));
	FY_TRY(rc,
	       fy_file_write_atomic_in(fy_store_path(s, "published/index-%" PRIu64 ".sig", v),
				       fy_store_path(s, "tmp"), sig_text, strlen(sig_text), err));
	snprintf(cur, sizeof(cur), "%" PRIu64 "\n", v);
	FY_TRY(rc, fy_file_write_atomic_in(fy_store_path(s, "published/current"),
					   fy_store_path(s, "tmp"), cur, strlen(cur), err));
	prune(s, v);
	*version = v;
out:
	free(text);
	free(sig_text);
	return rc;
}

/* The latest-published revision id of a repo entry (ties: the larger id). */
static const char *latest(const struct fy_json *revs)
{
	const char *best = NULL;
	const char *best_t = "";
	void *it;

	for (it = fy_json_iter(revs); it; it = fy_json_next(revs, it)) {
		const char *t = fy_json_str(fy_json_get(fy_json_iter_value(it), "published"));
		int c = strcmp(t, best_t);

		if (best == NULL || c > 0 || (c == 0 && strcmp(fy_json_iter_key(it), best) > 0)) {
			best = fy_json_iter_key(it);
			best_t = t;
		}
	}
	return best;
}

/* refs: the store's tags pointing at id, and heads/main. */
static int add_refs(struct fy_store *s, const char *repo, const char *id, struct fy_json *refs,
		    struct fy_err *err)
{
	char **names = NULL;
	size_t n = 0;
	size_t i;
	char at[FY_REV_ID_LEN + 1];
	int rc;

	fy_json_set(refs, "heads/main", fy_json_string(id));
	FY_TRY(rc, fy_store_list_refs(s, repo, &names, &n, err));
	for (i = 0; i < n; i++)
		if (strncmp(names[i], "tags/", 5) == 0 && ref_name_ok(names[i]) &&
		    fy_store_read_ref(s, repo, names[i], at, err) == FY_OK && strcmp(at, id) == 0)
			fy_json_set(refs, names[i], fy_json_string(id));
	fy_names_free(names, n);
out:
	return rc;
}

int fy_store_publish(struct fy_store *s, const char *repo, const char *id,
		     const struct fy_publish_opts *o, uint64_t *version, struct fy_err *err)
{
	struct fy_json *ix = NULL;
	struct fy_json *repos, *entry, *revs, *e;
	struct fy_revision *r = NULL;
	struct fy_buf b;
	uint8_t d[FY_SHA256_LEN];
	char hex[2 * FY_SHA256_LEN + 1], now[32];
	int rc;

	fy_buf_init(&b);
	FY_TRY(rc, fy_store_lock(s, o ? o->wait_fn : NULL, o ? o->ctx : NULL, err));
	FY_TRY(rc, fy_revision_load(s, repo, id, &r, err));
	FY_TRY(rc, fy_revision_bytes(s, repo, id, &b, err));
	FY_TRY(rc, load_index(s, &ix, err));
	fy_sha256(b.data, b.len, d);
	fy_hex(d, sizeof(d), hex);
	fy_iso_utc(time(NULL), now);
	repos = fy_json_get(ix, "repos");
	entry = fy_json_get(repos, repo);
	if (entry == NULL) {
		entry = fy_json_object();
		fy_json_set(entry, "refs", fy_json_object());
		fy_json_set(entry, "revisions", fy_json_object());
		fy_json_set(repos, repo, entry);
		entry = fy_json_get(repos, repo);
	}
	revs = fy_json_get(entry, "revisions");
	e = fy_json_object();
	fy_json_set(e, "manifest_sha256", fy_json_string(hex));
	fy_json_set(e, "published", fy_json_string(now));
	if (o != NULL && o->gates != NULL)
		fy_json_set(e, "gates", fy_json_copy(o->gates));
	fy_json_set(revs, id, e);
	FY_TRY(rc, add_refs(s, repo, id, fy_json_get(entry, "refs"), err));
	rc = write_index(s, ix, o, version, err);
out:
	fy_store_unlock(s);
	fy_revision_free(r);
	fy_buf_release(&b);
	fy_json_free(ix);
	return rc;
}

/* Drops the refs of entry that point at id; heads/main moves to the latest left. */
static void drop_revision(struct fy_json *entry, const char *id)
{
	struct fy_json *refs = fy_json_get(entry, "refs");
	struct fy_json *revs = fy_json_get(entry, "revisions");
	struct fy_json *kept_refs = fy_json_object();
	struct fy_json *kept_revs = fy_json_object();
	const char *main_id = fy_json_str(fy_json_get(refs, "heads/main"));
	bool main_gone = main_id != NULL && strcmp(main_id, id) == 0;
	void *it;

	for (it = fy_json_iter(revs); it; it = fy_json_next(revs, it))
		if (strcmp(fy_json_iter_key(it), id) != 0)
			fy_json_set(kept_revs, fy_json_iter_key(it),
				    fy_json_copy(fy_json_iter_value(it)));
	for (it = fy_json_iter(refs); it; it = fy_json_next(refs, it))
		if (strcmp(fy_json_str(fy_json_iter_value(it)), id) != 0)
			fy_json_set(kept_refs, fy_json_iter_key(it),
				    fy_json_copy(fy_json_iter_value(it)));
	if (main_gone && fy_json_size(kept_revs) > 0)
		fy_json_set(kept_refs, "heads/main", fy_json_string(latest(kept_revs)));
	fy_json_set(entry, "refs", kept_refs);
	fy_json_set(entry, "revisions", kept_revs);
}

int fy_store_unpublish(struct fy_store *s, const char *repo, const char *id,
		       const struct fy_publish_opts *o, uint64_t *version, struct fy_err *err)
{
	struct fy_json *ix = NULL;
	struct fy_json *repos, *entry, *kept;
	void *it;
	int rc;

	FY_TRY(rc, fy_store_lock(s, o ? o->wait_fn : NULL, o ? o->ctx : NULL, err));
	FY_TRY(rc, load_index(s, &ix, err));
	repos = fy_json_get(ix, "repos");
	entry = fy_json_get(repos, repo);
	if (entry == NULL || (id != NULL && fy_pubindex_revision(ix, repo, id) == NULL)) {
		rc = fy_err_set(err, FY_ENOTFOUND, "%s%s%.12s is not published", repo,
				id ? "@" : "", id ? id : "");
		goto out;
	}
	if (id != NULL)
		drop_revision(entry, id);
	if (id == NULL || fy_json_size(fy_json_get(entry, "revisions")) == 0) {
		kept = fy_json_object();
		for (it = fy_json_iter(repos); it; it = fy_json_next(repos, it))
			if (strcmp(fy_json_iter_key(it), repo) != 0)
				fy_json_set(kept, fy_json_iter_key(it),
					    fy_json_copy(fy_json_iter_value(it)));
		fy_json_set(ix, "repos", kept);
	}
	rc = write_index(s, ix, o, version, err);
out:
	fy_store_unlock(s);
	fy_json_free(ix);
	return rc;
}

int fy_store_publish_refresh(struct fy_store *s, const struct fy_publish_opts *o, uint64_t *version,
			     struct fy_err *err)
{
	struct fy_json *ix = NULL;
	int rc;

	FY_TRY(rc, fy_store_lock(s, o ? o->wait_fn : NULL, o ? o->ctx : NULL, err));
	FY_TRY(rc, load_index(s, &ix, err));
	if (fy_pubindex_version(ix) == 0) {
		rc = fy_err_set(err, FY_ENOTFOUND, "nothing is published in this store");
		goto out;
	}
	rc = write_index(s, ix, o, version, err);
out:
	fy_store_unlock(s);
	fy_json_free(ix);
	return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* The client's side                                                                          */

static void on_sig(void *ctx, enum fy_sig_status st, const char *keyid)
{
	struct fy_sig_seen *x = ctx;

	if (st == FY_SIG_VALID && x->n_good < 8) {
		snprintf(x->good[x->n_good++], FY_KEYID_LEN + 1, "%s", keyid);
	} else if (st != FY_SIG_VALID && x->bad[0] == '\0') {
		snprintf(x->bad, sizeof(x->bad), "%.16s", keyid);
		x->bad_st = st;
	}
}

int fy_check_detached(struct fy_store *s, const void *data, size_t n, const void *sig, size_t m,
		      const char *label, const char *what, struct fy_sig_seen *x,
		      struct fy_err *err)
{
	static const char *const why[] = { "valid", "by a key this store does not trust", "invalid",
					   "duplicated" };
	struct fy_json *doc = NULL;
	char sig_label[2300];
	size_t n_sigs = 0;
	int rc;

	memset(x, 0, sizeof(*x));
	snprintf(sig_label, sizeof(sig_label), "%s: %s.sig", label, what);
	FY_TRY(rc, fy_json_parse(&doc, sig, m, sig_label, err));
	if (fy_json_type(fy_json_get(doc, "signatures")) != FY_JSON_ARRAY ||
	    fy_json_size(doc) != 1) {
		rc = fy_err_set(err, FY_EFORMAT, "%s: not a signatures document", sig_label);
		goto out;
	}
	rc = fy_store_check_sig_doc(s, data, n, doc, on_sig, x, &n_sigs);
	if (rc != FY_OK)
		rc = fy_err_set(err, FY_EHASH, "%s: the %s's signature %s is %s", label, what,
				x->bad, why[x->bad_st]);
	else if (n_sigs == 0)
		rc = fy_err_set(err, FY_EHASH, "%s: the %s is not signed", label, what);
out:
	fy_json_free(doc);
	return rc;
}

/* Rollback: no lower than what this store accepted last from each signing key. */
static int check_rollback(struct fy_store *s, const struct fy_sig_seen *x, uint64_t version,
			  const char *label, struct fy_err *err)
{
	size_t i;

	for (i = 0; i < x->n_good; i++) {
		const char *path = fy_store_path(s, "remotes/%s.json", x->good[i]);
		struct fy_json *j = NULL;
		struct fy_err e2;
		int64_t seen = 0;

		if (access(path, F_OK) != 0)
			continue;
		if (fy_json_load_file(&j, path, 1u << 16, &e2) != FY_OK ||
		    !fy_json_int(fy_json_get(j, "version"), &seen)) {
			fy_json_free(j);
			return fy_err_set(err, FY_EFORMAT,
					  "%s: unreadable: remove it to trust "
					  "the next index blindly",
					  path);
		}
		fy_json_free(j);
		if (seen > 0 && version < (uint64_t)seen)
			return fy_err_set(err, FY_EHASH,
					  "%s: index version %" PRIu64
					  " is older than version %" PRId64
					  " already seen from key %s (rollback refused)",
					  label, version, seen, x->good[i]);
	}
	return FY_OK;
}

static int remember(struct fy_store *s, const struct fy_sig_seen *x, uint64_t version,
		    const char *label, struct fy_err *err)
{
	size_t i;
	char now[32];
	int rc = fy_mkdirs(fy_store_path(s, "remotes"), err);

	fy_iso_utc(time(NULL), now);
	for (i = 0; rc == FY_OK && i < x->n_good; i++) {
		const char *path = fy_store_path(s, "remotes/%s.json", x->good[i]);
		struct fy_json *j = NULL;
		struct fy_err e2;
		int64_t seen = 0;
		char *text;

		if (fy_json_load_file(&j, path, 1u << 16, &e2) == FY_OK &&
		    fy_json_int(fy_json_get(j, "version"), &seen) && seen == (int64_t)version) {
			fy_json_free(j);
			continue; /* the same version again: nothing to change */
		}
		fy_json_free(j);
		j = fy_json_object();
		fy_json_set(j, "version", fy_json_integer((int64_t)version));
		fy_json_set(j, "from", fy_json_string(label));
		fy_json_set(j, "accepted", fy_json_string(now));
		text = fy_json_dump(j, FY_JSON_DUMP_PRETTY);
		fy_json_free(j);
		if (text == NULL)
			return fy_err_set(err, FY_ENOMEM, "out of memory");
		rc = fy_file_write_atomic_in(path, fy_store_path(s, "tmp"), text, strlen(text),
					     err);
		free(text);
	}
	return rc;
}

int fy_store_accept_index(struct fy_store *s, const void *index, size_t n, const void *sig,
			  size_t m, const char *label, unsigned flags, struct fy_json **out,
			  struct fy_err *err)
{
	struct fy_sig_seen x;
	struct fy_json *ix = NULL;
	time_t expires = 0;
	uint64_t v;
	int rc;

	FY_TRY(rc, fy_check_detached(s, index, n, sig, m, label, "index", &x, err));
	FY_TRY(rc, fy_pubindex_parse(index, n, label, &ix, err));
	fy_iso_parse(fy_json_str(fy_json_get(ix, "expires")), &expires);
	if (!(flags & FY_ACCEPT_EXPIRED) && expires <= time(NULL)) {
		rc = fy_err_set(err, FY_EHASH,
				"%s: the index expired at %s (a frozen mirror?); --allow-expired "
				"accepts it",
				label, fy_json_str(fy_json_get(ix, "expires")));
		goto out;
	}
	v = fy_pubindex_version(ix);
	FY_TRY(rc, check_rollback(s, &x, v, label, err));
	if (!(flags & FY_ACCEPT_CHECK_ONLY))
		FY_TRY(rc, remember(s, &x, v, label, err));
	*out = ix;
	ix = NULL;
out:
	fy_json_free(ix);
	return rc;
}
