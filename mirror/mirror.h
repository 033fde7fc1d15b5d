/*
 * mirror: the content-addressed store (docs/STORE.md).
 *
 *   STORE/config.json                       {"format": "ferry-store", "version": 1}
 *   STORE/objects/sha256/ab/cdef...         file contents named by SHA-256, read-only (0444)
 *   STORE/repos/NS/NAME/refs/heads/main     a revision id and a newline
 *   STORE/repos/NS/NAME/refs/tags/TAG
 *   STORE/repos/NS/NAME/revisions/ID.json   revision manifests (immutable)
 *   STORE/repos/NS/NAME/signatures/ID.json  signatures of revision manifests
 *   STORE/keys/signing.key, signing.pub     this store's Ed25519 key (private 0600)
 *   STORE/keys/trusted/KEYID.pub            trusted public keys
 *   STORE/quarantine/                       corrupt objects moved aside by fsck --repair
 *   STORE/tmp/                              objects being written
 *   STORE/lock                              the writer lock (flock; holds the writer's pid)
 *
 * Every write goes to a temp file, is fsynced and renamed into place; refs change last, so a
 * reader (who never locks) sees either the old revision or the new one, whole.
 */
#ifndef FERRY_MIRROR_H
#define FERRY_MIRROR_H

#include "verify/verify.h"

#include <signal.h>
#include <stdio.h>
#include <time.h>

#define FY_REV_ID_LEN 40 /* hex characters of a revision id */
#define FY_LFS_THRESHOLD (10ull * 1024 * 1024)
#define FY_REPO_MAX 200

struct fy_store;

/* Progress of a long operation: done and total units (bytes or files), and what. */
typedef void (*fy_progress_fn)(void *ctx, uint64_t done, uint64_t total, const char *what);

/* A transfer as it moves, for progress displays: bytes done of the total (in-flight bytes
 * included) and each file in flight with its own bytes. `final` on the last call. */
struct fy_transfer_file {
	const char *path;
	uint64_t done, size;
};
struct fy_transfer_view {
	uint64_t done, total;
	size_t n_files;
	const struct fy_transfer_file *files;
	size_t files_done, files_total;
	bool final;
};
typedef void (*fy_transfer_fn)(void *ctx, const struct fy_transfer_view *v);

/* mkdir -p path. */
int fy_mkdirs(const char *path, struct fy_err *err);

/* Creates a store at dir (making dir if needed). An existing store is left as it is
 * (*created = false). */
int fy_store_init(const char *dir, bool *created, struct fy_err *err);
/* Opens an existing store; FY_ENOTFOUND when dir holds none. */
int fy_store_open(struct fy_store **out, const char *dir, struct fy_err *err);
void fy_store_close(struct fy_store *s);
const char *fy_store_dir(const struct fy_store *s);
/* A path inside the store (static buffer rotated over 8 calls; NULL if too long). */
const char *fy_store_path(const struct fy_store *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Called while waiting for another writer: its pid (0 if unknown). */
typedef void (*fy_lock_wait_fn)(void *ctx, long holder_pid);
/* Takes the writer lock, waiting for another writer to finish (wait_fn is told once). A lock
 * left by a dead process is free (the kernel drops flock locks with their process); the pid in
 * the file is then replaced. Clears tmp/ of files a dead writer left. */
int fy_store_lock(struct fy_store *s, fy_lock_wait_fn wait_fn, void *ctx, struct fy_err *err);
void fy_store_unlock(struct fy_store *s);

/* Checks a repository name: NAMESPACE/NAME, each part [A-Za-z0-9._-], not starting with '.' or
 * '-', no "..", at most 96 characters each. */
int fy_repo_check(const char *repo, struct fy_err *err);

/* ------------------------------------------------------------------------------------------ */
/* Objects                                                                                    */

/* Path of the object with this SHA-256 (static buffer rotated over 8 calls). */
const char *fy_store_object_path(const struct fy_store *s, const uint8_t sha256[FY_SHA256_LEN]);
bool fy_store_has_object(const struct fy_store *s, const uint8_t sha256[FY_SHA256_LEN]);
/* Copies src into the store, hashing while copying (src is read once); identical content is
 * stored once. *out receives the digests (hash flags as for fy_hash_file). Needs the writer
 * lock. */
int fy_store_import(struct fy_store *s, const char *src, int flags, struct fy_digests *out,
		    struct fy_err *err);
/* The same for a file ferry wrote under the store's tmp/ (a conversion's output): hashed where
 * it lies, synced and renamed into objects/, so it is written once and the disk never holds two
 * copies. src is gone afterwards, whatever the outcome (a path outside tmp/ is refused and left
 * alone). Needs the writer lock. */
int fy_store_import_own(struct fy_store *s, const char *src, int flags, struct fy_digests *out,
			struct fy_err *err);

/* ------------------------------------------------------------------------------------------ */
/* Revisions                                                                                  */

struct fy_file_entry {
	char *path; /* inside the repository, '/'-separated */
	uint64_t size;
	uint8_t sha256[FY_SHA256_LEN];
	/* the blob id in the revision's git tree: the content's for a regular file, the LFS
	 * pointer's for an LFS file (what the hub API calls oid); an LFS file's content is
	 * identified by sha256 */
	uint8_t git_oid[FY_SHA1_LEN];
	bool lfs; /* stored in LFS on a hub */
};

struct fy_revision {
	char id[FY_REV_ID_LEN + 1];
	char parent[FY_REV_ID_LEN + 1]; /* "" for none */
	char tree[FY_REV_ID_LEN + 1];
	char repo[FY_REPO_MAX + 1];
	char *message;
	char created[32];	     /* ISO 8601 UTC */
	struct fy_json *origin;	     /* {"kind": "local", "path": ...} or a hub's; owned */
	struct fy_file_entry *files; /* sorted by path */
	size_t n_files;
	uint64_t total_size;
};

void fy_revision_free(struct fy_revision *r);
/* Loads repo's revision `id`, checking the manifest's structure and that its id is what its
 * content gives (an altered manifest is a format error). */
int fy_revision_load(struct fy_store *s, const char *repo, const char *id, struct fy_revision **out,
		     struct fy_err *err);
/* Parses and checks a manifest from bytes (label names it in messages). */
int fy_revision_parse(const void *data, size_t n, const char *label, struct fy_revision **out,
		      struct fy_err *err);
/* Resolves REV (a branch, a tag, HEAD, a full id or a unique prefix of at least 4 hex
 * characters; NULL or "" means main) in repo to a revision id. */
int fy_store_resolve(struct fy_store *s, const char *repo, const char *rev,
		     char id[FY_REV_ID_LEN + 1], struct fy_err *err);
/* The file at path in r, or NULL (binary search: files are sorted by path). */
const struct fy_file_entry *fy_revision_find(const struct fy_revision *r, const char *path);
/* The manifest's bytes (what signatures sign). */
int fy_revision_bytes(struct fy_store *s, const char *repo, const char *id, struct fy_buf *out,
		      struct fy_err *err);

/* What the hub calls a file's etag (and blob name in its cache): the SHA-256 of an LFS file,
 * else its git blob id, in hex. */
void fy_file_etag(const struct fy_file_entry *f, char out[2 * FY_SHA256_LEN + 1]);
/* Whether path is a GGUF file whose name carries the quantization tag as llama.cpp's -hf tags
 * name it: case-insensitive, bounded by the start or '-', '.', '_' before and '-' or '.' after
 * ("model-Q4_K_M.gguf", "model-Q4_K_M-00001-of-00002.gguf"; not "model-Q4_K_M.gguf" for
 * "Q4_K"). */
bool fy_gguf_has_tag(const char *path, const char *tag);

struct fy_gguf;

/* A GGUF model of a revision: one file, or a split set (shards[0..n) in order, NULL where the
 * revision lacks a shard: complete false). first is the file that names it (shard 1, or the
 * lowest shard present). */
struct fy_gguf_model {
	const struct fy_file_entry *first;
	const struct fy_file_entry **shards; /* NULL for a single file */
	size_t n;
	bool complete;
};
/* Every GGUF model of r in path order (mirror/gguf_models.c); free with fy_gguf_models_free. */
int fy_revision_gguf_models(const struct fy_revision *r, struct fy_gguf_model **out, size_t *n,
			    struct fy_err *err);
void fy_gguf_models_free(struct fy_gguf_model *m, size_t n);
/* The model a path of the revision belongs to (a shard names its set), or NULL. */
const struct fy_gguf_model *fy_gguf_model_of(const struct fy_gguf_model *m, size_t n,
					     const char *path);
/* FY_OK when the revision holds every shard of m, else an error naming the first missing. */
int fy_gguf_model_check(const struct fy_revision *r, const struct fy_gguf_model *m,
			struct fy_err *err);
/* Opens a model of r from the store's objects, a split set whole; a missing shard is an error
 * naming it. */
int fy_store_gguf_open(struct fy_store *s, const struct fy_revision *r,
		       const struct fy_gguf_model *m, struct fy_gguf **out, struct fy_err *err);
/* Links m's files into dir under their names in the revision (a split set's shards find each
 * other there by name, for code that opens a path); first (cap bytes) receives the first
 * link's path. */
int fy_store_gguf_link(struct fy_store *s, const struct fy_revision *r,
		       const struct fy_gguf_model *m, const char *dir, char *first, size_t cap,
		       struct fy_err *err);

/* The hub's LFS rule: weight and archive extensions, or more than 10 MiB. */
bool fy_lfs_rule(const char *path, uint64_t size);

/*
 * Imports directory dir as a new revision of repo (creating the repo), on top of its main branch:
 * every regular file (symlinks followed; .git and hidden top-level cache folders skipped) is
 * copied into objects/ while hashed, the manifest is written, then refs/heads/main is moved.
 * Takes the writer lock (waiting through wait_fn). When the files equal main's, nothing is
 * written and *unchanged is set. The revision id is a git commit id (docs/STORE.md).
 */
struct fy_add_opts {
	const char *message;  /* default "add <dir>" */
	struct fy_pool *pool; /* files copied in parallel; NULL: one at a time */
	fy_progress_fn progress;
	fy_lock_wait_fn wait_fn;
	void *ctx;
};
int fy_store_add(struct fy_store *s, const char *repo, const char *dir,
		 const struct fy_add_opts *opts, char id[FY_REV_ID_LEN + 1], bool *unchanged,
		 struct fy_err *err);

/*
 * Adds the file src (outside the store; with own_srcs, ferry's own output under its tmp/, moved
 * in) as `path` (a path in the repository) on top of repo's main
 * branch: a new revision whose files are main's (if repo exists) with this one added or replaced,
 * its manifest's origin = o->origin (taken over, freed on failure too: the lineage of a derived
 * file). Takes the writer lock. id receives the new revision; when the files come out equal to
 * main's (the same derivation run again), nothing is written and id is main's.
 */
struct fy_derive_opts {
	const char *message;
	struct fy_json *origin;
	fy_lock_wait_fn wait_fn;
	void *ctx;
	bool own_srcs;		/* srcs are ferry's files under the store's tmp/: moved in
				   (fy_store_import_own) */
	const char *gguf_model; /* NAME.gguf: main's files of that model (NAME.gguf, or the
				   shards NAME-0000K-of-0000N.gguf of any split) are replaced */
};
int fy_store_add_file(struct fy_store *s, const char *repo, const char *path, const char *src,
		      const struct fy_derive_opts *o, char id[FY_REV_ID_LEN + 1],
		      struct fy_err *err);
/* The same for n files at once (paths distinct), in one revision. */
int fy_store_add_files(struct fy_store *s, const char *repo, size_t n, const char *const *paths,
		       const char *const *srcs, const struct fy_derive_opts *o,
		       char id[FY_REV_ID_LEN + 1], struct fy_err *err);
/* Adds a GGUF output written at tmp (n_shards > 1: tmp's shards, named as
 * fy_gguf_writer_write_split names them) to repo as `name` (or name's shards), replacing any
 * earlier file or shards of that model, in one revision; the temp files are removed. */
int fy_store_add_gguf(struct fy_store *s, const char *repo, const char *name, const char *tmp,
		      size_t n_shards, const struct fy_derive_opts *o, char id[FY_REV_ID_LEN + 1],
		      struct fy_err *err);

/* t as ISO 8601 UTC ("2026-11-22T19:30:30Z"). */
void fy_iso_utc(time_t t, char out[32]);
/* Parses a time exactly as fy_iso_utc writes it. */
bool fy_iso_parse(const char *s, time_t *out);
/* The time now (or $SOURCE_DATE_EPOCH's) as ISO 8601 UTC, for a manifest's `created`. */
void fy_now_iso(char out[32]);

/*
 * Records about a revision obtained after it was written (the manifest is content-addressed, so
 * they live beside it, as signatures do): repos/NS/NAME/<kind>/ID.json, written atomically,
 * replaced by a newer record of the same kind, removed with the revision. Kinds: "smoke", "verify".
 */
int fy_store_record_write(struct fy_store *s, const char *repo, const char *id, const char *kind,
			  const struct fy_json *record, struct fy_err *err);
/* Reads a record; FY_ENOTFOUND (no message) when there is none. */
int fy_store_record_read(struct fy_store *s, const char *repo, const char *id, const char *kind,
			 struct fy_json **out, struct fy_err *err);

/* ------------------------------------------------------------------------------------------ */
/* Refs and repositories                                                                      */

/* Reads ref ("heads/main", "tags/v1") of repo; FY_ENOTFOUND when absent. */
int fy_store_read_ref(struct fy_store *s, const char *repo, const char *ref,
		      char id[FY_REV_ID_LEN + 1], struct fy_err *err);
/* Writes a ref atomically (needs the writer lock). */
int fy_store_write_ref(struct fy_store *s, const char *repo, const char *ref, const char *id,
		       struct fy_err *err);
int fy_store_delete_ref(struct fy_store *s, const char *repo, const char *ref, struct fy_err *err);
/* Repositories ("ns/name"), sorted; free with fy_names_free. */
int fy_store_list_repos(struct fy_store *s, char ***names, size_t *n, struct fy_err *err);
/* Refs of repo as "heads/main", "tags/x", sorted; free with fy_names_free. */
int fy_store_list_refs(struct fy_store *s, const char *repo, char ***names, size_t *n,
		       struct fy_err *err);
/* Revision ids present for repo (manifests), sorted. */
int fy_store_list_revisions(struct fy_store *s, const char *repo, char ***ids, size_t *n,
			    struct fy_err *err);
/* Removes a repo (refs, manifests, signatures; objects stay until gc), or one revision of it
 * (refused while a branch points at it; tags pointing at it go too). Needs the writer lock. */
int fy_store_rm_repo(struct fy_store *s, const char *repo, struct fy_err *err);
int fy_store_rm_revision(struct fy_store *s, const char *repo, const char *id, struct fy_err *err);

/* ------------------------------------------------------------------------------------------ */
/* Checkout                                                                                   */

enum fy_link_mode { FY_LINK_ANY, FY_LINK_COPY };

/* Materializes revision r into dir: each file reflinked, else hardlinked (same filesystem), else
 * copied, always through a temp name renamed into place (a file that already is a hardlink of
 * its object is left as it is; temp files of ferry processes no longer running are swept from
 * the directories written). *how counts the methods used ([0] reflink, [1] hardlink, [2] copy;
 * may be NULL). */
int fy_store_checkout(struct fy_store *s, const struct fy_revision *r, const char *dir,
		      enum fy_link_mode mode, size_t how[3], struct fy_err *err);

/* ------------------------------------------------------------------------------------------ */
/* Integrity: fsck and gc                                                                     */

struct fy_fsck_stats {
	uint64_t objects, corrupt, missing, manifests, bad_manifests, refs, dangling, temp_files,
		quarantined;
};

/* Checks the whole store (objects re-hashed on pool); findings go to fn. With repair (needs the
 * writer lock) corrupt objects move to quarantine/ (naming the revisions they break) and stray
 * temp files are removed. Returns FY_OK when clean, FY_EFORMAT when problems were found. */
int fy_store_fsck(struct fy_store *s, struct fy_pool *pool, bool repair, fy_finding_fn fn,
		  void *ctx, struct fy_fsck_stats *stats, struct fy_err *err);

/* Removes objects that no revision manifest references (takes the writer lock; with dry_run
 * only counts). */
int fy_store_gc(struct fy_store *s, bool dry_run, fy_lock_wait_fn wait_fn, void *ctx,
		uint64_t *objects, uint64_t *bytes, struct fy_err *err);

/* ------------------------------------------------------------------------------------------ */
/* Keys and signatures                                                                        */

/* Creates keys/signing.key and signing.pub (refused when present unless force). */
int fy_store_key_generate(struct fy_store *s, bool force, char keyid[FY_KEYID_LEN + 1],
			  struct fy_err *err);
/* Loads the store's own key (FY_ENOTFOUND when none). */
int fy_store_key_load(struct fy_store *s, struct fy_key **out, struct fy_err *err);
/* Adds a public key file to keys/trusted/. */
int fy_store_key_trust(struct fy_store *s, const char *path, char keyid[FY_KEYID_LEN + 1],
		       struct fy_err *err);
/* Trusted key ids (the store's own key first, marked by *own_first), sorted after it. */
int fy_store_key_list(struct fy_store *s, char ***ids, size_t *n, bool *own_first,
		      struct fy_err *err);
/* Signs repo@id's manifest with the store's key (a signature by the same key is replaced). */
int fy_store_sign(struct fy_store *s, const char *repo, const char *id,
		  char keyid[FY_KEYID_LEN + 1], struct fy_err *err);

enum fy_sig_status { FY_SIG_VALID, FY_SIG_UNTRUSTED, FY_SIG_INVALID, FY_SIG_DUPLICATE };

typedef void (*fy_sig_fn)(void *ctx, enum fy_sig_status st, const char *keyid);
/* Checks every signature of repo@id; *n_sigs counts distinct keys (0: unsigned). Returns FY_OK
 * when every signature is valid and trusted, FY_EHASH otherwise (a second signature by the same
 * key is refused too: each key counts once). */
int fy_store_check_signatures(struct fy_store *s, const char *repo, const char *id, fy_sig_fn fn,
			      void *ctx, size_t *n_sigs, struct fy_err *err);

/* Checks the signatures document doc ({"signatures": [...]}) over data[0..n) against this store's
 * trust, as fy_store_check_signatures does for a manifest (FY_OK when every signature is valid
 * and trusted; each key counts once). */
int fy_store_check_sig_doc(struct fy_store *s, const void *data, size_t n,
			   const struct fy_json *doc, fy_sig_fn fn, void *ctx, size_t *n_sigs);

/* ------------------------------------------------------------------------------------------ */
/* Publishing: the signed mirror index (docs/PUBLISH.md)                                      */

/*
 * STORE/published/current names the current version N; published/index-N.json is the index and
 * published/index-N.sig its signatures ({"signatures": [...]} as for manifests). The index:
 *   {"format": "ferry-index", "version": N, "created": T, "expires": T,
 *    "repos": {"ns/name": {"refs": {"heads/main": ID, ...},
 *                          "revisions": {ID: {"manifest_sha256": HEX, "published": T,
 *                                             "gates": {...}}}}}}
 * Each change writes a new version (version + 1, signed with the store's key), then moves
 * `current`: a reader sees the old index or the new one, never a mix.
 */
struct fy_publish_opts {
	const struct fy_json *gates; /* what the gates found (copied into the entry) */
	int expires_days;	     /* the index's lifetime (default 30) */
	fy_lock_wait_fn wait_fn;
	void *ctx;
};

/* Adds repo@id (with its manifest's sha256) to the index; the repo's heads/main and every tag of
 * the store that points at id point at it in the index. *version: the new index version. */
int fy_store_publish(struct fy_store *s, const char *repo, const char *id,
		     const struct fy_publish_opts *o, uint64_t *version, struct fy_err *err);
/* Removes repo@id (id NULL: the whole repo) from the index. Refs pointing at it go; heads/main
 * falls back to the latest revision still published. FY_ENOTFOUND when it is not published. */
int fy_store_unpublish(struct fy_store *s, const char *repo, const char *id,
		       const struct fy_publish_opts *o, uint64_t *version, struct fy_err *err);
/* Signs the current index again as a new version with a new expiry (nothing else changes). */
int fy_store_publish_refresh(struct fy_store *s, const struct fy_publish_opts *o, uint64_t *version,
			     struct fy_err *err);
/* Whether repo@id (id NULL: any revision of repo) is in the current index. */
bool fy_store_is_published(struct fy_store *s, const char *repo, const char *id);
/* The current index's bytes and signature bytes; FY_ENOTFOUND (no message) when nothing was
 * ever published. Either buffer may be NULL. */
int fy_store_published(struct fy_store *s, struct fy_buf *index, struct fy_buf *sig,
		       struct fy_err *err);
/* Parses and checks an index document (structure, names, ids, refs pointing at listed
 * revisions); label names it in messages. */
int fy_pubindex_parse(const void *data, size_t n, const char *label, struct fy_json **out,
		      struct fy_err *err);
/* The entry of repo@id in a checked index, or NULL. */
const struct fy_json *fy_pubindex_revision(const struct fy_json *ix, const char *repo,
					   const char *id);
/* The index's version. */
uint64_t fy_pubindex_version(const struct fy_json *ix);

/*
 * A ferry client's check of a mirror's signed index (label: where it came from): every
 * signature valid and by a trusted key (FY_EHASH otherwise), not expired unless
 * FY_ACCEPT_EXPIRED (FY_EHASH), and a version no lower than the last one this store accepted
 * from the same key (rollback: FY_EHASH). On success the version is remembered
 * (STORE/remotes/KEYID.json; not with FY_ACCEPT_CHECK_ONLY) and *out is the parsed index.
 */
enum { FY_ACCEPT_EXPIRED = 1, FY_ACCEPT_CHECK_ONLY = 2 };
int fy_store_accept_index(struct fy_store *s, const void *index, size_t n, const void *sig,
			  size_t m, const char *label, unsigned flags, struct fy_json **out,
			  struct fy_err *err);

/* ------------------------------------------------------------------------------------------ */
/* clone: fetching from a Hugging Face-compatible hub (docs/CLONE.md)                          */

struct fy_clone_opts {
	const char *endpoint;  /* e.g. https://huggingface.co (no trailing slash) */
	const char *token;     /* bearer token, or NULL */
	const char *ca_bundle; /* PEM certificates for HTTPS instead of the system's, or NULL */
	const char *rev;       /* branch, tag, commit or refs/pr/N; NULL: main */
	const char *const *include; /* globs over file paths; none: everything */
	size_t n_include;
	const char *const *exclude;
	size_t n_exclude;
	int jobs;	   /* files transferred at once (default 8) */
	int retries;	   /* per file, on connection errors, timeouts, 5xx, 429 (with backoff) */
	int stall_s;	   /* a transfer without a byte for this long is restarted (default 60) */
	int range_mb;	   /* large files go in ranges of this many MiB (default 32) */
	int ranged_min_mb; /* files of at least this many MiB are fetched in ranges (64) */
	long rate_limit;   /* bytes/s per transfer, 0: none */
	/* an OCI registry's blob URL (".../v2/NAME/blobs/"): fy_store_fetch_files fetches each
	 * file from it by digest ("sha256:HEX") instead of the hub's /resolve/ (NULL: the hub) */
	const char *blob_url;
	const char *username, *password; /* Basic credentials (an OCI registry's), or NULL */
	fy_progress_fn progress; /* after each finished file or range (when transfer is NULL) */
	fy_transfer_fn transfer; /* about every 100 ms while bytes move, and once at the end */
	fy_lock_wait_fn wait_fn;
	void *ctx;
};

struct fy_clone_stats {
	size_t files;	      /* in the revision (selected) */
	size_t files_fetched; /* transferred */
	size_t files_reused;  /* already in the store */
	uint64_t bytes_fetched;
	size_t retries;		/* transfers tried again after a transient failure */
	uint64_t bytes_resumed; /* ranges found finished by an earlier, interrupted run */
	size_t connections;	/* new connections the transfers opened (reused ones not counted) */
	bool http2;		/* some transfer went over HTTP/2 */
};

/* Fetches repo at o->rev from the hub into the store: every selected file is downloaded (files
 * in parallel), checked against the listing (SHA-256 for LFS files, git blob id for others;
 * a mismatch is fetched once more, then fails naming the file) and only then made an object;
 * the revision keeps the hub's commit id and is committed (manifest, then the branch ref) after
 * every file is in. LFS objects already in the store are not fetched again. */
int fy_store_clone(struct fy_store *s, const char *repo, const struct fy_clone_opts *o,
		   char id[FY_REV_ID_LEN + 1], struct fy_clone_stats *st, struct fy_err *err);

/* GETs url (retrying transient failures as clone does) into *out (at most max bytes);
 * FY_ENOTFOUND on 404, FY_ENET on another status. */
int fy_http_fetch(const char *url, const struct fy_clone_opts *o, size_t max, struct fy_buf *out,
		  struct fy_err *err);
/* Fetches the files of r marked in want (every file when want is NULL) from o->endpoint's
 * /resolve/ID/ into objects/: r came from a signed manifest, so every file is checked against
 * its SHA-256 (and git blob id) before it becomes an object; objects present are not fetched.
 * Takes the writer lock. Writes no manifest and no ref. */
int fy_store_fetch_files(struct fy_store *s, const struct fy_revision *r, const bool *want,
			 const struct fy_clone_opts *o, struct fy_clone_stats *st,
			 struct fy_err *err);

/* ------------------------------------------------------------------------------------------ */
/* A ferry mirror as a source (docs/PUBLISH.md)                                               */

struct fy_remote {
	char endpoint[2048];
	struct fy_json *index; /* accepted: signed by a trusted key, fresh, not rolled back */
};

/* Fetches endpoint's signed index (/api/ferry/index and .sig) and accepts it
 * (fy_store_accept_index). */
int fy_remote_open(struct fy_store *s, const struct fy_clone_opts *o, bool allow_expired,
		   struct fy_remote *out, struct fy_err *err);
void fy_remote_close(struct fy_remote *r);
/* Resolves rev (NULL/"main", a branch or tag of the index, a published id or a unique prefix of
 * one) in repo; ref (FY_REF_MAX bytes, may be NULL) receives the ref it named ("heads/main",
 * "tags/v1"), or "" for an id. FY_ENOTFOUND when the index has no such revision, FY_EINVAL for
 * an ambiguous prefix. */
#define FY_REF_MAX 160
int fy_remote_resolve(const struct fy_remote *r, const char *repo, const char *rev,
		      char id[FY_REV_ID_LEN + 1], char *ref, struct fy_err *err);
/* Fetches repo@id's manifest; its SHA-256 must be the one the index pins (mix-and-match:
 * FY_EHASH), then it is parsed and checked. bytes (may be NULL) receives it as received. */
int fy_remote_manifest(const struct fy_remote *r, const struct fy_clone_opts *o, const char *repo,
		       const char *id, struct fy_revision **out, struct fy_buf *bytes,
		       struct fy_err *err);
/* Records a fetched revision: the manifest bytes as received (after fy_remote_manifest) and
 * the ref ("heads/main"; NULL: none), once every object is in the store. Takes the writer
 * lock. */
int fy_store_commit_fetched(struct fy_store *s, const struct fy_revision *r,
			    const struct fy_buf *bytes, const char *ref, struct fy_err *err);
/* Mirrors every revision the index publishes for repo (those not in the store yet: manifest as
 * signed, every file checked), then sets the store's refs of repo that the index names to the
 * index's targets. *revs_new counts revisions fetched; st sums their transfers. */
int fy_remote_sync_repo(struct fy_store *s, const struct fy_remote *r,
			const struct fy_clone_opts *o, const char *repo, size_t *revs_new,
			struct fy_clone_stats *st, struct fy_err *err);
/* Places object sha256 at dst (reflink, hardlink or copy through a temp name). */
int fy_store_place_object(struct fy_store *s, const uint8_t sha256[FY_SHA256_LEN], const char *dst,
			  struct fy_err *err);

/* ------------------------------------------------------------------------------------------ */
/* OCI registries: revisions as CNCF ModelPack artifacts (mirror/oci.c, docs/OCI.md)           */

/* oci://HOST[:PORT]/NAME[:TAG|@sha256:HEX] (no tag: latest). The name is lowercased (OCI names
 * are); HTTPS unless plain_http or the host is a loopback name. */
struct fy_oci_ref {
	char scheme[8];
	char host[256];
	char name[256];
	char tag[129];	 /* "" when digest is set */
	char digest[72]; /* "sha256:..." or "" */
};
int fy_oci_ref_parse(const char *s, bool plain_http, struct fy_oci_ref *out, struct fy_err *err);
/* A repository's name as OCI names it (lowercase): push's, serve's and Ollama's. */
void fy_oci_name(const char *repo, char out[FY_REPO_MAX + 1]);

/* A WWW-Authenticate challenge: its scheme and the parameters a token request needs. False
 * when the value is malformed. Exposed for tests/fuzz/fuzz_oci.c. */
struct fy_oci_challenge {
	char scheme[16];
	char realm[1024];
	char service[256];
	char scope[512];
};
bool fy_oci_challenge_parse(const char *v, size_t n, struct fy_oci_challenge *out);
/* Parses an OCI image manifest as a pull checks it (schemaVersion 2, layers that are valid
 * descriptors, file paths that are safe repository paths). Exposed for the fuzz target. */
int fy_oci_manifest_check(const void *data, size_t n, const char *label, struct fy_json **out,
			  struct fy_err *err);

/* A revision's artifact as push writes it, for serve's registry endpoints. */
#define FY_OCI_DIGEST_LEN 71 /* "sha256:" and 64 hex */
struct fy_oci_artifact;
int fy_oci_artifact_build(struct fy_store *s, const struct fy_revision *r,
			  struct fy_oci_artifact **out, struct fy_err *err);
void fy_oci_artifact_free(struct fy_oci_artifact *a);
/* The manifest's bytes, digest and media type (media_type may be NULL). */
const struct fy_buf *fy_oci_artifact_manifest(const struct fy_oci_artifact *a,
					      char digest[FY_OCI_DIGEST_LEN + 1],
					      const char **media_type);
/* The manifest Ollama pulls for the GGUF model of r a tag (or a GGUF file's path) names
 * (docs/OCI.md): the GGUF as
 * application/vnd.ollama.image.model, the LICENSE file and generation_config.json's sampling
 * settings (params) when r has them, and Ollama's config (family, size label, file type from
 * the GGUF's keys); Docker's manifest media type. FY_ENOTFOUND: no GGUF for the tag;
 * FY_EUNSUPPORTED: a split set (Ollama loads one file). */
int fy_oci_ollama_build(struct fy_store *s, const struct fy_revision *r, const char *tag,
			struct fy_oci_artifact **out, struct fy_err *err);
/* A chat format Ollama renders (mirror/ollama_templates.c): recognised by markers (strings all
 * found in a model's Jinja chat template), given as Ollama's Go template and stop strings. */
#define FY_OLLAMA_MARKERS 4
#define FY_OLLAMA_STOPS 5
struct fy_ollama_template {
	const char *name;
	const char *markers[FY_OLLAMA_MARKERS]; /* NULL after the last */
	const char *go;
	const char *stop[FY_OLLAMA_STOPS]; /* NULL after the last, when fewer */
};
/* The first format whose markers all occur in jinja[0..n), or NULL. */
const struct fy_ollama_template *fy_ollama_template_for(const char *jinja, size_t n);
/* The table's ith row, NULL past the last (tests, scripts/ollama). */
const struct fy_ollama_template *fy_ollama_template_at(size_t i);
/* A blob of the artifact by digest: a file of the revision (*file; its object holds the bytes)
 * or a document (*mem: the config, ferry's manifest, its signatures). False: not one of it. */
bool fy_oci_artifact_blob(const struct fy_oci_artifact *a, const char *digest,
			  const struct fy_file_entry **file, const struct fy_buf **mem);

/* Marks in want the files an Ollama install of tag needs: the GGUF (as fy_oci_ollama_build
 * picks it), generation_config.json and a top-level LICENSE. */
int fy_oci_ollama_files(const struct fy_revision *r, const char *tag, bool *want,
			struct fy_err *err);
/* Lays the GGUF model of r that tag names into Ollama's model store at models, as `ollama pull`
 * leaves one: blobs/sha256-HEX (the GGUF placed from its object: reflink, hardlink or copy; the
 * other layers written), then manifests/registry.ollama.ai/NS/NAME/TAG (lowercase), so that
 * `ollama run ns/name:TAG` finds it offline. The files fy_oci_ollama_files marks must be in the
 * store. manifest (cap bytes) receives the manifest's path. */
int fy_ollama_install(struct fy_store *s, const struct fy_revision *r, const char *tag,
		      const char *models, char *manifest, size_t cap, struct fy_err *err);
/* Removes that install: its manifest, and its blobs no other manifest under models names. */
int fy_ollama_uninstall(const char *models, const char *repo, const char *tag, struct fy_err *err);

struct fy_oci_opts {
	const char *username, *password; /* answered to a Basic challenge, or to the token
					    service of a Bearer one */
	const char *token;		 /* a bearer token given outright, or NULL */
	const char *ca_bundle;
	uint64_t chunk_size; /* push: blobs larger than this go in PATCH chunks (64 MiB) */
	int retries;	     /* transient failures retried per request (0: 5, < 0: none) */
	long rate_limit;     /* push: bytes/s per request, 0: none */
	/* push: when set (a signal handler's flag), the push stops after the chunk in flight,
	 * keeping its upload to resume (FY_ECANCELED) */
	const volatile sig_atomic_t *stop;
	fy_progress_fn progress;
	void *ctx;
};

struct fy_oci_stats {
	size_t blobs;	      /* distinct blobs of the artifact */
	size_t blobs_sent;    /* uploaded */
	size_t blobs_present; /* already in the registry (not sent) */
	size_t blobs_mounted; /* mounted from another repository of the registry (not sent) */
	size_t retries;	      /* requests sent again after a transient failure */
	uint64_t bytes_sent;
	uint64_t bytes_resumed; /* of an upload an earlier, interrupted push began */
	char digest[72];	/* the manifest's */
};

/* Pushes repo@id as a ModelPack artifact tagged ref->tag: the files as raw layers (path in
 * org.cncf.model.filepath), ferry's manifest and signatures as further layers; blobs the
 * registry has are not sent again, those another of its repositories holds (one this store
 * pushed to or cloned from: repos/NS/NAME/oci.json) are mounted from it, an interrupted upload
 * resumes, and requests failing for a moment are sent again. The push is recorded there. */
int fy_oci_push(struct fy_store *s, const char *repo, const char *id, const struct fy_oci_ref *ref,
		const struct fy_oci_opts *o, struct fy_oci_stats *st, struct fy_err *err);
/* The registry reference revision id of repo was cloned from (the store's record,
 * repos/NS/NAME/oci.json), for `ferry pull`. FY_ENOTFOUND: none. */
int fy_oci_origin(struct fy_store *s, const char *repo, const char *id, struct fy_oci_ref *ref,
		  struct fy_err *err);
/* Reads an artifact fy_oci_push wrote into the store: its ferry manifest layer (digest checked;
 * the revision keeps its id and repository), every file matched to its layer, then fetched as
 * clone fetches (co: jobs, retries, ranges), checked and committed; heads/main moves to it.
 * o NULL: the registry's credentials, token, CA bundle and retries are co's. repo: in, the
 * repository the artifact must hold ("": any), out, the one it holds. */
int fy_oci_pull(struct fy_store *s, const struct fy_oci_ref *ref, const struct fy_oci_opts *o,
		const struct fy_clone_opts *co, char repo[FY_REPO_MAX + 1],
		char id[FY_REV_ID_LEN + 1], struct fy_clone_stats *st, struct fy_err *err);

/* ------------------------------------------------------------------------------------------ */
/* Bundles: published revisions carried across an air gap (docs/BUNDLE.md)                    */

struct fy_bundle_target {
	const char *repo;
	const char *rev; /* NULL: every published revision of repo */
};

struct fy_bundle_opts {
	const struct fy_bundle_target *targets; /* none: everything published */
	size_t n_targets;
	const char *since;   /* a bundle (file), or the id or id prefix of one made or imported
				here: only the objects it lacks go in */
	uint64_t split_size; /* numbered volumes of this many bytes (0: one file) */
	int level;	     /* zstd level (default 3) */
	int threads;	     /* compression workers (0: one per CPU) */
	bool allow_expired;  /* reading: accept an expired index */
	fy_progress_fn progress;
	fy_lock_wait_fn wait_fn;
	void *ctx;
};

struct fy_bundle_stats {
	char id[65];
	char base[65]; /* "" for a full bundle */
	uint64_t index_version;
	size_t revisions;
	size_t objects;		/* in the archive */
	size_t objects_base;	/* required from the base bundle */
	size_t objects_present; /* import: already in the store (not written again) */
	size_t revisions_new;	/* import: manifests written */
	size_t refs;		/* import: refs moved */
	uint64_t bytes;		/* object bytes in the archive */
	uint64_t archive_bytes; /* compressed, every volume */
	size_t volumes;
	char unrecorded[FY_ERR_MSG_MAX]; /* create: why STORE/bundles/ID.json could not be written
					    ("" if it was) */
};

/* Writes a bundle of published revisions to out (or out.001, out.002, … with split_size):
 * bundle.json and its signature by the store's key, the signed index, the manifests, then the
 * objects (only those the base lacks). Volumes appear under their names only when complete.
 * The bundle is recorded in STORE/bundles/ID.json. */
int fy_bundle_create(struct fy_store *s, const char *out, const struct fy_bundle_opts *o,
		     struct fy_bundle_stats *st, struct fy_err *err);
/* Checks a bundle (path: the file, or the first volume or the name volumes are numbered
 * after) without changing the store: signature by a trusted key, the index (trust, expiry,
 * rollback), every manifest and every object, and that the store has what it requires. */
int fy_bundle_verify(struct fy_store *s, const char *path, const struct fy_bundle_opts *o,
		     struct fy_bundle_stats *st, struct fy_err *err);
/* Imports a bundle: checked as by fy_bundle_verify while streamed; each object enters
 * objects/ once its digest matched (an interrupted import finds them there), manifests and refs
 * are written only after the whole stream checked out. Takes the writer lock. *index (may be
 * NULL) receives the signed index the bundle carried (accepted). */
int fy_bundle_import(struct fy_store *s, const char *path, const struct fy_bundle_opts *o,
		     struct fy_bundle_stats *st, struct fy_json **index, struct fy_err *err);
/* Parses and checks a bundle.json document (for the fuzz target). */
int fy_bundle_parse(const void *data, size_t n, const char *label, struct fy_err *err);

/* ------------------------------------------------------------------------------------------ */
/* serve: the Hugging Face-compatible HTTP API (docs/SERVE.md)                                */

typedef void (*fy_serve_log_fn)(void *ctx, const char *msg);

struct fy_serve_opts {
	const char *listen;	  /* "ADDR:PORT" or "[V6]:PORT"; port 0 picks a free one */
	const char *tokens_path;  /* tokens and private/gated rules, or NULL */
	int threads;		  /* worker threads (default 4) */
	unsigned max_connections; /* default 1024 */
	unsigned timeout_s;	  /* idle connection timeout (default 30) */
	unsigned refresh_ms;	  /* how often refs are checked for changes (default 1000) */
	bool all;		  /* every revision of the store; default: the published ones */
	/* LFS files answered with a redirect to where their bytes live (docs/OCI.md): an OCI
	 * registry oci://HOST[:PORT]/NAME holding them as blobs (ferry push), or an HTTP(S) base
	 * holding objects as the store does (BASE/sha256/AB/REST); NULL: served from the store */
	const char *objects_from;
	FILE *access_log;	/* one line per request, or NULL */
	fy_serve_log_fn log_fn; /* errors, or NULL */
	void *ctx;
};

struct fy_server;

/* Starts serving s (which must outlive the server) on its own threads. */
int fy_serve_start(struct fy_server **out, struct fy_store *s, const struct fy_serve_opts *o,
		   struct fy_err *err);
/* The port it listens on. */
uint16_t fy_serve_port(const struct fy_server *srv);
/* Reads the tokens file again; on error the old rules stay. */
int fy_serve_reload_tokens(struct fy_server *srv, struct fy_err *err);
/* Stops accepting, lets requests in flight finish (up to drain_seconds), stops, frees. */
void fy_serve_stop(struct fy_server *srv, unsigned drain_seconds);

#endif
