/*
 * ferry serve, the parts that do not touch HTTP: the in-memory index of repositories and refs,
 * the revision cache, access rules from the tokens file, and the JSON answers (serve_index.c).
 * serve.c speaks HTTP through libmicrohttpd on top of these.
 */
#ifndef FERRY_SERVE_PRIVATE_H
#define FERRY_SERVE_PRIVATE_H

#include "mirror/mirror_private.h"

#include <pthread.h>

/* ------------------------------------------------------------------------------------------ */
/* Access: the tokens file                                                                    */

struct srv_token {
	char *name;
	char *token;
	char **globs; /* repos it may read */
	size_t n_globs;
};

struct srv_access {
	struct srv_token *tokens;
	size_t n_tokens;
	char **private_globs;
	size_t n_private;
	char **gated_globs;
	size_t n_gated;
};

/* Parses a tokens file (docs/SERVE.md); a NULL path gives an empty rule set. */
int srv_access_load(struct srv_access *a, const char *path, struct fy_err *err);
void srv_access_release(struct srv_access *a);
/* The token's entry, or NULL for an unknown token or none. */
const struct srv_token *srv_token_find(const struct srv_access *a, const char *bearer);

enum srv_visibility { SRV_VISIBLE, SRV_HIDDEN, SRV_GATED };
/* Whether repo may be read with token t (NULL: anonymous): visible, hidden (answer exactly like a
 * missing repo) or gated (403 GatedRepo to an authenticated token without access). */
enum srv_visibility srv_visibility(const struct srv_access *a, const char *repo,
				   const struct srv_token *t);

/* ------------------------------------------------------------------------------------------ */
/* The index                                                                                  */

struct srv_ref {
	char name[128]; /* "heads/main", "tags/v1", "pr/3" */
	char id[FY_REV_ID_LEN + 1];
};

struct srv_repo {
	char *name; /* "ns/name" or "datasets/ns/name" */
	struct srv_ref *refs;
	size_t n_refs;
};

struct srv_index {
	struct srv_repo *repos;
	size_t n_repos;
	struct fy_index by_name;
	bool all;		 /* every revision of the store (serve --all), not only published */
	struct fy_json *pub;	 /* the published index (checked), or NULL */
	struct fy_buf pub_bytes; /* its bytes and its signatures' bytes, served as they are */
	struct fy_buf pub_sig;
	uint64_t signature; /* of every ref file: names, sizes, mtimes */
	int users;	    /* requests holding it (guarded by the server's lock) */
};

/* A digest of the refs of the whole store (cheap: one walk of repos/ with stat). */
uint64_t srv_refs_signature(struct fy_store *s);
/* The index of what is served: with all, every repository and ref of the store; else the
 * published index's repositories, refs and revisions only (none before anything is published). */
int srv_index_build(struct fy_store *s, bool all, struct srv_index **out, struct fy_err *err);
void srv_index_free(struct srv_index *ix);
const struct srv_repo *srv_index_repo(const struct srv_index *ix, const char *name);

/* Revisions are immutable: loaded once, kept. */
struct srv_cache {
	pthread_mutex_t mu;
	struct fy_index keys; /* "repo@id" -> slot */
	char **names;
	struct fy_revision **revs;
	size_t n;
	size_t cap;
};

void srv_cache_init(struct srv_cache *c);
void srv_cache_release(struct srv_cache *c);
/* repo@id from the cache or the store; FY_ENOTFOUND when the store has no such revision. The
 * revision stays valid until the cache is released. */
int srv_cache_get(struct srv_cache *c, struct fy_store *s, const char *repo, const char *id,
		  const struct fy_revision **out, struct fy_err *err);

/* Resolves a revision as clients send it (branch, tag, HEAD, 40-hex id, refs/pr/N) in repo; a
 * commit id must be published unless the index serves everything. */
int srv_resolve(const struct srv_index *ix, const struct srv_repo *r, struct srv_cache *c,
		struct fy_store *s, const char *rev, char id[FY_REV_ID_LEN + 1]);

/* ------------------------------------------------------------------------------------------ */
/* Request parsing                                                                            */

struct srv_route {
	char repo[FY_REPO_MAX + 1];
	char rev[160];
	const char *rest; /* after the revision: a path, or "" */
};

/* Parses a Range header for a file of `size` bytes: false when there is no single range to
 * honour (absent, several, malformed: answer 200); true with *bad when it cannot be satisfied
 * (answer 416), else *off and *len (len > 0, off + len <= size). */
bool srv_parse_range(const char *h, uint64_t size, uint64_t *off, uint64_t *len, bool *bad);
/* Splits "REV/PATH" into rt->rev and rt->rest; REV may be "refs/pr/N", "refs/heads/B" or
 * "refs/tags/T". False when REV is empty or too long. */
bool srv_split_rev(const char *s, struct srv_route *rt);

/* ------------------------------------------------------------------------------------------ */
/* JSON answers                                                                               */

/* Whether repo matches a private or gated rule. */
bool srv_is_private(const struct srv_access *a, const char *repo);
bool srv_is_gated(const struct srv_access *a, const char *repo);

/* E1: model or dataset info (siblings: the file list, with blobs their sizes and hashes). */
struct fy_json *srv_json_info(const char *repo, const struct fy_revision *r, bool siblings,
			      bool blobs, bool is_private, bool is_gated);

/* One repository of a listing (GET /api/models): its name and main's revision. */
struct srv_listed {
	const char *name; /* "ns/name" */
	const struct fy_revision *rev;
	bool is_private, is_gated;
};
/* The Hub's listing order: sort "id" (ascending unless direction -1), "lastModified" or
 * "createdAt" (newest first unless direction 1), "downloads", "likes" and any other key (all 0
 * here: by id); ties by id. */
void srv_sort_listed(struct srv_listed *l, size_t n, const char *sort, int direction);
/* Whether a listed repository matches search (a case-insensitive substring of its id) and
 * author (its namespace, without case); NULL matches all. */
bool srv_listed_matches(const struct srv_listed *l, const char *search, const char *author);
/* E2: tree entries under path ("" for the root), recursive or not. NULL when path names
 * nothing. */
struct fy_json *srv_json_tree(const struct fy_revision *r, const char *path, bool recursive);
/* E3: entries for the requested paths (files or folders; unknown paths left out). */
struct fy_json *srv_json_paths_info(const struct fy_revision *r, const char *const *paths,
				    size_t n);
/* E4: branches, tags, converts. */
struct fy_json *srv_json_refs(const struct srv_repo *r);
/* E6: the GGUF file (and mmproj) a llama.cpp tag names; NULL when the revision has no GGUF. */
struct fy_json *srv_json_gguf_manifest(const struct fy_revision *r, const char *tag);

#endif
