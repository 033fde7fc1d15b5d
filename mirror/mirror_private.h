/* Declarations shared inside the mirror module only. */
#ifndef FERRY_MIRROR_PRIVATE_H
#define FERRY_MIRROR_PRIVATE_H

#include "mirror/mirror.h"

struct fy_store {
	char *dir;
	int lock_fd; /* >= 0 while this handle holds the writer lock */
};

int fy_fsync_dir(const char *dir, struct fy_err *err);
/* rm -r (no symlinks followed); a missing path is fine. */
int fy_remove_tree(const char *path, struct fy_err *err);
/* 40 lowercase hex characters. */
bool fy_is_rev_id(const char *s);
/* A path inside a repository: relative, '/'-separated, no empty, "." or ".." components, no
 * backslashes or control characters. */
bool fy_repo_path_ok(const char *path);
/* The git tree id of files[0..n) (sorted by path, all sharing a prefix of `skip` bytes). */
void fy_git_tree_oid(const struct fy_file_entry *files, size_t n, size_t skip,
		     uint8_t oid[FY_SHA1_LEN]);
/* The git tree id of files (sorted by path) and the commit id built on it. */
void fy_revision_ids(const struct fy_file_entry *files, size_t n, const char *parent,
		     const char *message, char tree[FY_REV_ID_LEN + 1],
		     char commit[FY_REV_ID_LEN + 1]);
/* Serializes r as its manifest. */
int fy_revision_to_json(const struct fy_revision *r, struct fy_buf *out, struct fy_err *err);
/* Moves a verified temp file (in the store's tmp/) to its object name, or drops it when the
 * object exists. */
int fy_store_adopt(struct fy_store *s, const char *tmp, const struct fy_digests *d,
		   struct fy_err *err);
/* Moves n verified temp files into objects/ as fy_store_adopt does, with two syncs of the store's
 * file system in all (syncfs: the files' data before the renames, the renames after) instead of
 * a file sync and a directory sync per file. On failure the files not moved yet stay where they
 * are. */
struct fy_adoption {
	const char *tmp;
	const uint8_t *sha256;
};
int fy_store_adopt_all(struct fy_store *s, const struct fy_adoption *a, size_t n,
		       struct fy_err *err);

/* The response headers a clone reads (mirror/hub.c), one line at a time: Link's rel="next"
 * target (too_long: one that does not fit, or a Link line over the limit), Retry-After (seconds
 * or an HTTP-date, as seconds from now; 0: none), X-Error-Code (letters, digits, '-', '_'; other
 * bytes become '?'). p need not end in NUL. Exposed for tests/fuzz/fuzz_hub.c. */
#define FY_HUB_URL_MAX 8192
struct fy_hub_header {
	char next[FY_HUB_URL_MAX];
	bool too_long;
	long retry_after;
	char error_code[64];
};
void fy_hub_header_line(const char *p, size_t n, struct fy_hub_header *h);
/* One page of a tree listing (a JSON array) checked as a clone checks it, entry by entry (names,
 * sizes, oids, LFS objects) and for a path named twice; *files: the files it lists. */
int fy_hub_listing_page(const char *json, size_t n, size_t *files, struct fy_err *err);

/* libcurl's one-time set-up (mirror/hub.c): before the first transfer of another module. */
void fy_http_init(void);

/* A background thread hashing downloads' finished ranges in order (mirror/prefix_hash.c). */
struct fy_prefix_hash;
int fy_prefix_hash_new(struct fy_prefix_hash **out, size_t n_files, struct fy_err *err);
void fy_prefix_hash_free(struct fy_prefix_hash *p); /* stops the thread; NULL is a no-op */
/* (Re)starts file i: `path` of `size` bytes in n_chunks ranges of `range` bytes, done[c] for
 * those already in (a resumed download); flags as for fy_hash_file. */
int fy_prefix_hash_file(struct fy_prefix_hash *p, size_t i, const char *path, uint64_t size,
			uint64_t range, int flags, const bool *done, size_t n_chunks,
			struct fy_err *err);
/* Range `chunk` of file i is written and synced. */
void fy_prefix_hash_range(struct fy_prefix_hash *p, size_t i, size_t chunk);
/* Once every range of file i is in: waits for its digests. A status other than FY_OK means
 * they are not available (the caller hashes the file itself). Forgets file i either way. */
int fy_prefix_hash_wait(struct fy_prefix_hash *p, size_t i, struct fy_digests *out);

/* Writes r's manifest unless that revision exists already (its bytes may be signed). */
int fy_store_write_manifest(struct fy_store *s, const struct fy_revision *r, struct fy_err *err);
/* The LFS pointer text of a file and its git blob id. */
void fy_lfs_pointer_oid(const uint8_t sha256[FY_SHA256_LEN], uint64_t size,
			uint8_t out[FY_SHA1_LEN]);

/* A signature entry {"keyid", "public_key", "sig"} of k (mirror/keys.c). */
struct fy_json *fy_sig_entry(const struct fy_key *k, const char *keyid,
			     const uint8_t sig[FY_SIG_LEN]);

/* Signs data with the store's key: *sig_text receives {"signatures": [...]} (free it). */
int fy_store_sign_detached(struct fy_store *s, const void *data, size_t n, char **sig_text,
			   struct fy_err *err);

/* What a detached signature check saw: the first bad signature, the keys that signed. */
struct fy_sig_seen {
	char bad[FY_KEYID_LEN + 8];
	enum fy_sig_status bad_st;
	char good[8][FY_KEYID_LEN + 1];
	size_t n_good;
};
/* Checks sig (a signatures document) over data: FY_OK when it parses, every signature is valid
 * and trusted, each key once, and there is at least one (FY_EHASH otherwise, naming label and
 * what: "index", "bundle"). */
int fy_check_detached(struct fy_store *s, const void *data, size_t n, const void *sig, size_t m,
		      const char *label, const char *what, struct fy_sig_seen *x,
		      struct fy_err *err);

#endif
