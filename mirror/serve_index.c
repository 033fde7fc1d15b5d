/* ferry serve: the index, the revision cache, access rules and the JSON answers. */
#include "convert/convert.h"
#include "mirror/serve_private.h"

#include <fnmatch.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_TOKENS_FILE (4u << 20)

/* ------------------------------------------------------------------------------------------ */
/* The tokens file                                                                            */

static int push_str(char ***list, size_t *n, const char *s, struct fy_err *err)
{
	char **p = realloc(*list, (*n + 1) * sizeof(**list));

	if (p == NULL || (p[*n] = strdup(s)) == NULL) {
		*list = p ? p : *list;
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	}
	*list = p;
	(*n)++;
	return FY_OK;
}

static bool token_shape(const char *t)
{
	size_t n = strlen(t);

	return n >= 3 + 34 && n <= 3 + 253 && strncmp(t, "hf_", 3) == 0 &&
	       strspn(t + 3, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") ==
		       n - 3;
}

static int parse_token_line(struct srv_access *a, char **words, size_t n, const char *where,
			    struct fy_err *err)
{
	struct srv_token *t;
	struct srv_token *p;
	size_t i;
	int rc = FY_OK;

	if (n < 3)
		return fy_err_set(err, FY_EFORMAT, "%s: 'token NAME TOKEN [GLOB...]' expected",
				  where);
	if (!token_shape(words[2]))
		return fy_err_set(err, FY_EFORMAT,
				  "%s: a token is 'hf_' and 34 to 253 letters or digits", where);
	if (srv_token_find(a, words[2]) != NULL)
		return fy_err_set(err, FY_EFORMAT, "%s: duplicate token", where);
	p = realloc(a->tokens, (a->n_tokens + 1) * sizeof(*p));
	if (p == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	a->tokens = p;
	t = &a->tokens[a->n_tokens++];
	memset(t, 0, sizeof(*t));
	t->name = strdup(words[1]);
	t->token = strdup(words[2]);
	if (t->name == NULL || t->token == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	for (i = 3; rc == FY_OK && i < n; i++)
		rc = push_str(&t->globs, &t->n_globs, words[i], err);
	return rc;
}

static int parse_line(struct srv_access *a, char *line, const char *where, struct fy_err *err)
{
	char *words[64];
	size_t n = 0;
	size_t i;
	char *save = NULL;
	char *w;
	int rc = FY_OK;

	if (strchr(line, '#') != NULL)
		*strchr(line, '#') = '\0';
	for (w = strtok_r(line, " \t\r", &save); w != NULL && n < 64;
	     w = strtok_r(NULL, " \t\r", &save))
		words[n++] = w;
	if (n == 0)
		return FY_OK;
	if (strcmp(words[0], "token") == 0)
		return parse_token_line(a, words, n, where, err);
	if (strcmp(words[0], "private") != 0 && strcmp(words[0], "gated") != 0)
		return fy_err_set(err, FY_EFORMAT,
				  "%s: unknown rule '%s' (token, private or gated)", where,
				  words[0]);
	for (i = 1; rc == FY_OK && i < n; i++) {
		if (words[0][0] == 'p')
			rc = push_str(&a->private_globs, &a->n_private, words[i], err);
		else
			rc = push_str(&a->gated_globs, &a->n_gated, words[i], err);
	}
	return rc;
}

int srv_access_load(struct srv_access *a, const char *path, struct fy_err *err)
{
	struct srv_access fresh = { 0 };
	struct fy_buf b;
	char where[512];
	char *line;
	char *save = NULL;
	int no = 0;
	int rc = FY_OK;

	fy_buf_init(&b);
	if (path != NULL)
		rc = fy_file_read(path, MAX_TOKENS_FILE, &b, err);
	if (rc == FY_OK && b.data != NULL) {
		for (line = strtok_r((char *)b.data, "\n", &save); rc == FY_OK && line != NULL;
		     line = strtok_r(NULL, "\n", &save)) {
			snprintf(where, sizeof(where), "%s:%d", path, ++no);
			rc = parse_line(&fresh, line, where, err);
		}
	}
	fy_buf_release(&b);
	if (rc != FY_OK) {
		srv_access_release(&fresh);
		return rc;
	}
	*a = fresh;
	return FY_OK;
}

void srv_access_release(struct srv_access *a)
{
	size_t i;

	for (i = 0; i < a->n_tokens; i++) {
		free(a->tokens[i].name);
		free(a->tokens[i].token);
		fy_names_free(a->tokens[i].globs, a->tokens[i].n_globs);
	}
	free(a->tokens);
	fy_names_free(a->private_globs, a->n_private);
	fy_names_free(a->gated_globs, a->n_gated);
	memset(a, 0, sizeof(*a));
}

const struct srv_token *srv_token_find(const struct srv_access *a, const char *bearer)
{
	size_t i;

	for (i = 0; bearer != NULL && i < a->n_tokens; i++) {
		if (strcmp(a->tokens[i].token, bearer) == 0)
			return &a->tokens[i];
	}
	return NULL;
}

static bool any_match(char *const *globs, size_t n, const char *repo)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (fnmatch(globs[i], repo, 0) == 0)
			return true;
	}
	return false;
}

bool srv_is_private(const struct srv_access *a, const char *repo)
{
	return any_match(a->private_globs, a->n_private, repo);
}

bool srv_is_gated(const struct srv_access *a, const char *repo)
{
	return any_match(a->gated_globs, a->n_gated, repo);
}

enum srv_visibility srv_visibility(const struct srv_access *a, const char *repo,
				   const struct srv_token *t)
{
	bool granted = t != NULL && any_match(t->globs, t->n_globs, repo);

	if (srv_is_private(a, repo))
		return granted ? SRV_VISIBLE : SRV_HIDDEN;
	if (srv_is_gated(a, repo)) {
		if (granted)
			return SRV_VISIBLE;
		return t != NULL ? SRV_GATED : SRV_HIDDEN;
	}
	return SRV_VISIBLE;
}

/* ------------------------------------------------------------------------------------------ */
/* The index                                                                                  */

static uint64_t sig_acc;

static int sig_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	const char *p;
	uint64_t h = 1469598103934665603ull;

	/* only refs matter: manifests and signatures, the bulk of the tree, are not visited */
	if (flag == FTW_D && (strcmp(path + ftw->base, "revisions") == 0 ||
			      strcmp(path + ftw->base, "signatures") == 0))
		return FTW_SKIP_SUBTREE;
	if (flag != FTW_F || strstr(path, "/refs/") == NULL)
		return FTW_CONTINUE;
	for (p = path; *p != '\0'; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	h ^= (uint64_t)st->st_mtim.tv_sec * 1000000007ull + (uint64_t)st->st_mtim.tv_nsec;
	h ^= (uint64_t)st->st_size << 32;
	sig_acc += h * 0x9e3779b97f4a7c15ull; /* order-independent */
	return FTW_CONTINUE;
}

uint64_t srv_refs_signature(struct fy_store *s)
{
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	uint64_t sig;

	struct stat st;

	pthread_mutex_lock(&mu);
	sig_acc = 1;
	nftw(fy_store_path(s, "repos"), sig_entry, 32, FTW_PHYS | FTW_ACTIONRETVAL);
	if (stat(fy_store_path(s, "published/current"), &st) == 0) /* what publish changes */
		sig_acc += ((uint64_t)st.st_mtim.tv_sec * 1000000007ull +
			    (uint64_t)st.st_mtim.tv_nsec) ^
			   (uint64_t)st.st_ino;
	sig = sig_acc;
	pthread_mutex_unlock(&mu);
	return sig;
}

static int load_repo(struct fy_store *s, struct srv_repo *r, struct fy_err *err)
{
	char **refs = NULL;
	size_t n = 0;
	size_t i;
	int rc;

	rc = fy_store_list_refs(s, r->name, &refs, &n, err);
	if (rc == FY_OK) {
		r->refs = calloc(n ? n : 1, sizeof(*r->refs));
		if (r->refs == NULL)
			rc = fy_err_set(err, FY_ENOMEM, "out of memory");
	}
	for (i = 0; rc == FY_OK && i < n; i++) {
		struct srv_ref *ref = &r->refs[r->n_refs];

		snprintf(ref->name, sizeof(ref->name), "%s", refs[i]);
		if (fy_store_read_ref(s, r->name, refs[i], ref->id, err) == FY_OK)
			r->n_refs++; /* an unreadable ref is left out; fsck reports it */
	}
	fy_names_free(refs, n);
	return rc;
}

/* The published repositories with the index's refs. */
static int load_published(struct fy_store *s, struct srv_index *ix, struct fy_err *err)
{
	const struct fy_json *repos;
	void *it;
	int rc;

	rc = fy_store_published(s, &ix->pub_bytes, &ix->pub_sig, err);
	if (rc == FY_ENOTFOUND)
		return FY_OK; /* nothing published: nothing served */
	if (rc == FY_OK)
		rc = fy_pubindex_parse(ix->pub_bytes.data, ix->pub_bytes.len,
				       fy_store_path(s, "published/current"), &ix->pub, err);
	if (rc != FY_OK)
		return rc;
	repos = fy_json_get(ix->pub, "repos");
	ix->repos = calloc(fy_json_size(repos) + 1, sizeof(*ix->repos));
	if (ix->repos == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	for (it = fy_json_iter(repos); it; it = fy_json_next(repos, it)) {
		const struct fy_json *refs = fy_json_get(fy_json_iter_value(it), "refs");
		struct srv_repo *r = &ix->repos[ix->n_repos];
		void *jt;

		r->name = strdup(fy_json_iter_key(it));
		r->refs = calloc(fy_json_size(refs) + 1, sizeof(*r->refs));
		if (r->name == NULL || r->refs == NULL) {
			free(r->name);
			free(r->refs);
			return fy_err_set(err, FY_ENOMEM, "out of memory");
		}
		ix->n_repos++;
		for (jt = fy_json_iter(refs); jt; jt = fy_json_next(refs, jt)) {
			struct srv_ref *ref = &r->refs[r->n_refs++];

			snprintf(ref->name, sizeof(ref->name), "%s", fy_json_iter_key(jt));
			snprintf(ref->id, sizeof(ref->id), "%s",
				 fy_json_str(fy_json_iter_value(jt)));
		}
		rc = fy_index_insert(&ix->by_name, r->name, strlen(r->name),
				     (int64_t)(ix->n_repos - 1), err);
		if (rc != FY_OK)
			return rc;
	}
	return FY_OK;
}

/* Every repository of the store with its refs. */
static int load_all(struct fy_store *s, struct srv_index *ix, struct fy_err *err)
{
	char **names = NULL;
	size_t n = 0;
	size_t i;
	int rc;

	rc = fy_store_list_repos(s, &names, &n, err);
	if (rc == FY_OK) {
		ix->repos = calloc(n ? n : 1, sizeof(*ix->repos));
		if (ix->repos == NULL)
			rc = fy_err_set(err, FY_ENOMEM, "out of memory");
	}
	for (i = 0; rc == FY_OK && i < n; i++) {
		struct srv_repo *r = &ix->repos[ix->n_repos++];

		r->name = names[i];
		names[i] = NULL;
		rc = load_repo(s, r, err);
		if (rc == FY_OK)
			rc = fy_index_insert(&ix->by_name, r->name, strlen(r->name), (int64_t)i,
					     err);
	}
	fy_names_free(names, n);
	if (rc == FY_OK && access(fy_store_path(s, "published/current"), F_OK) == 0)
		rc = fy_store_published(s, &ix->pub_bytes, &ix->pub_sig, err);
	return rc;
}

int srv_index_build(struct fy_store *s, bool all, struct srv_index **out, struct fy_err *err)
{
	struct srv_index *ix = calloc(1, sizeof(*ix));
	int rc;

	if (ix == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	fy_index_init(&ix->by_name);
	fy_buf_init(&ix->pub_bytes);
	fy_buf_init(&ix->pub_sig);
	ix->all = all;
	ix->signature = srv_refs_signature(s);
	rc = all ? load_all(s, ix, err) : load_published(s, ix, err);
	if (rc != FY_OK) {
		srv_index_free(ix);
		return rc;
	}
	*out = ix;
	return FY_OK;
}

void srv_index_free(struct srv_index *ix)
{
	size_t i;

	if (ix == NULL)
		return;
	for (i = 0; i < ix->n_repos; i++) {
		free(ix->repos[i].name);
		free(ix->repos[i].refs);
	}
	free(ix->repos);
	fy_index_release(&ix->by_name);
	fy_json_free(ix->pub);
	fy_buf_release(&ix->pub_bytes);
	fy_buf_release(&ix->pub_sig);
	free(ix);
}

const struct srv_repo *srv_index_repo(const struct srv_index *ix, const char *name)
{
	int64_t i;

	if (!fy_index_find(&ix->by_name, name, strlen(name), &i))
		return NULL;
	return &ix->repos[i];
}

/* ------------------------------------------------------------------------------------------ */
/* Revisions                                                                                  */

void srv_cache_init(struct srv_cache *c)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->mu, NULL);
	fy_index_init(&c->keys);
}

void srv_cache_release(struct srv_cache *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		fy_revision_free(c->revs[i]);
	fy_names_free(c->names, c->n);
	free(c->revs);
	fy_index_release(&c->keys);
	pthread_mutex_destroy(&c->mu);
}

static int cache_put(struct srv_cache *c, const char *key, struct fy_revision *r,
		     struct fy_err *err)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		char **names = realloc(c->names, cap * sizeof(*names));
		/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
		struct fy_revision **revs = names ? realloc(c->revs, cap * sizeof(*revs)) : NULL;

		if (names != NULL)
			c->names = names;
		if (revs == NULL)
			return fy_err_set(err, FY_ENOMEM, "out of memory");
		c->revs = revs;
		c->cap = cap;
	}
	c->names[c->n] = strdup(key);
	if (c->names[c->n] == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	c->revs[c->n] = r;
	c->n++;
	return fy_index_insert(&c->keys, c->names[c->n - 1], strlen(key), (int64_t)(c->n - 1), err);
}

int srv_cache_get(struct srv_cache *c, struct fy_store *s, const char *repo, const char *id,
		  const struct fy_revision **out, struct fy_err *err)
{
	struct fy_revision *r = NULL;
	char key[FY_REPO_MAX + FY_REV_ID_LEN + 2];
	int64_t i;
	int rc = FY_OK;

	snprintf(key, sizeof(key), "%s@%s", repo, id);
	pthread_mutex_lock(&c->mu);
	if (fy_index_find(&c->keys, key, strlen(key), &i)) {
		*out = c->revs[i];
	} else {
		rc = fy_revision_load(s, repo, id, &r, err);
		if (rc == FY_OK)
			rc = cache_put(c, key, r, err);
		if (rc == FY_OK)
			*out = r;
		else if (r != NULL && (c->n == 0 || c->revs[c->n - 1] != r))
			fy_revision_free(r);
	}
	pthread_mutex_unlock(&c->mu);
	return rc;
}

int srv_resolve(const struct srv_index *ix, const struct srv_repo *r, struct srv_cache *c,
		struct fy_store *s, const char *rev, char id[FY_REV_ID_LEN + 1])
{
	const struct fy_revision *dummy;
	char want[160];
	struct fy_err err;
	size_t i;

	if (rev == NULL || rev[0] == '\0' || strcmp(rev, "HEAD") == 0)
		rev = "main";
	if (strncmp(rev, "refs/pr/", 8) == 0)
		snprintf(want, sizeof(want), "pr/%s", rev + 8);
	else if (strncmp(rev, "refs/heads/", 11) == 0 || strncmp(rev, "refs/tags/", 10) == 0)
		snprintf(want, sizeof(want), "%s", rev + 5);
	else
		snprintf(want, sizeof(want), "heads/%s", rev);
	for (i = 0; i < r->n_refs; i++) {
		if (strcmp(r->refs[i].name, want) == 0 ||
		    (strncmp(r->refs[i].name, "tags/", 5) == 0 &&
		     strcmp(r->refs[i].name + 5, rev) == 0)) {
			memcpy(id, r->refs[i].id, FY_REV_ID_LEN + 1);
			return FY_OK;
		}
	}
	/* a commit id: a published revision (any revision of the store with --all) */
	if (fy_is_rev_id(rev) && (ix->all || fy_pubindex_revision(ix->pub, r->name, rev) != NULL) &&
	    srv_cache_get(c, s, r->name, rev, &dummy, &err) == FY_OK) {
		memcpy(id, rev, FY_REV_ID_LEN + 1);
		return FY_OK;
	}
	return FY_ENOTFOUND;
}

/* ------------------------------------------------------------------------------------------ */
/* Request parsing (no HTTP library here: fuzzed by tests/fuzz/fuzz_http.c)                    */

/* Parses a single byte range; false when there is none to honour (absent, multiple, malformed).
 * *bad is set when it is well-formed but unsatisfiable. */
bool srv_parse_range(const char *h, uint64_t size, uint64_t *off, uint64_t *len, bool *bad)
{
	uint64_t a = 0, b = 0;
	char *end;

	*bad = false;
	if (h == NULL || strncmp(h, "bytes=", 6) != 0 || strchr(h, ',') != NULL)
		return false;
	h += 6;
	if (*h == '-') { /* the last K bytes */
		b = strtoull(h + 1, &end, 10);
		if (end == h + 1 || *end != '\0')
			return false;
		if (b == 0 || size == 0) {
			*bad = true;
			return true;
		}
		*off = b >= size ? 0 : size - b;
		*len = size - *off;
		return true;
	}
	a = strtoull(h, &end, 10);
	if (end == h || *end != '-')
		return false;
	h = end + 1;
	if (*h == '\0') {
		b = size ? size - 1 : 0;
	} else {
		b = strtoull(h, &end, 10);
		if (*end != '\0' || b < a)
			return false;
		if (b >= size)
			b = size ? size - 1 : 0;
	}
	if (a >= size) {
		*bad = true;
		return true;
	}
	*off = a;
	*len = b - a + 1;
	return true;
}

/* Splits "REV/PATH" where REV may be "refs/pr/N", "refs/heads/B" or "refs/tags/T" (their
 * slashes arrive encoded or raw: the path is decoded before routing). */
bool srv_split_rev(const char *s, struct srv_route *rt)
{
	const char *slash;
	size_t n;

	if (strncmp(s, "refs/pr/", 8) == 0)
		slash = strchr(s + 8, '/');
	else if (strncmp(s, "refs/heads/", 11) == 0)
		slash = strchr(s + 11, '/');
	else if (strncmp(s, "refs/tags/", 10) == 0)
		slash = strchr(s + 10, '/');
	else
		slash = strchr(s, '/');
	n = slash ? (size_t)(slash - s) : strlen(s);
	if (n == 0 || n >= sizeof(rt->rev))
		return false;
	memcpy(rt->rev, s, n);
	rt->rev[n] = '\0';
	rt->rest = slash ? slash + 1 : "";
	return true;
}

/* ------------------------------------------------------------------------------------------ */
/* JSON                                                                                       */

static size_t pointer_size(uint64_t size)
{
	char digits[24];

	/* "version https://git-lfs.github.com/spec/v1\noid sha256:" + 64 + "\nsize " + n + "\n" */
	return 43 + 11 + 64 + 6 +
	       (size_t)snprintf(digits, sizeof(digits), "%llu", (unsigned long long)size) + 1;
}

static struct fy_json *lfs_json(const struct fy_file_entry *f, const char *digest_key)
{
	struct fy_json *o = fy_json_object();
	char hex[2 * FY_SHA256_LEN + 1];

	fy_hex(f->sha256, FY_SHA256_LEN, hex);
	fy_json_set(o, digest_key, fy_json_string(hex));
	fy_json_set(o, "size", fy_json_integer((int64_t)f->size));
	fy_json_set(o, "pointerSize", fy_json_integer((int64_t)pointer_size(f->size)));
	return o;
}

static struct fy_json *file_entry(const struct fy_file_entry *f)
{
	struct fy_json *o = fy_json_object();
	char hex[2 * FY_SHA1_LEN + 1];

	fy_hex(f->git_oid, FY_SHA1_LEN, hex);
	fy_json_set(o, "type", fy_json_string("file"));
	fy_json_set(o, "oid", fy_json_string(hex));
	fy_json_set(o, "size", fy_json_integer((int64_t)f->size));
	fy_json_set(o, "path", fy_json_string(f->path));
	if (f->lfs)
		fy_json_set(o, "lfs", lfs_json(f, "oid"));
	return o;
}

/* Files whose path starts with prefix (which ends in '/'): [*first, *end). */
static bool dir_range(const struct fy_revision *r, const char *prefix, size_t *first, size_t *end)
{
	size_t n = strlen(prefix);
	size_t i;

	*first = r->n_files;
	for (i = 0; i < r->n_files; i++) {
		if (strncmp(r->files[i].path, prefix, n) == 0) {
			if (*first == r->n_files)
				*first = i;
			*end = i + 1;
		} else if (*first != r->n_files) {
			break;
		}
	}
	return *first != r->n_files;
}

static struct fy_json *dir_entry(const struct fy_revision *r, const char *path)
{
	struct fy_json *o = fy_json_object();
	char prefix[4200];
	char hex[2 * FY_SHA1_LEN + 1];
	uint8_t oid[FY_SHA1_LEN];
	size_t first = 0, end = 0;

	snprintf(prefix, sizeof(prefix), "%s/", path);
	dir_range(r, prefix, &first, &end);
	fy_git_tree_oid(r->files + first, end - first, strlen(prefix), oid);
	fy_hex(oid, FY_SHA1_LEN, hex);
	fy_json_set(o, "type", fy_json_string("directory"));
	fy_json_set(o, "oid", fy_json_string(hex));
	fy_json_set(o, "size", fy_json_integer(0));
	fy_json_set(o, "path", fy_json_string(path));
	return o;
}

/* Emits the folders on the way to file i (below `base` chars) not emitted yet. */
static void emit_dirs(struct fy_json *a, const struct fy_revision *r, size_t i, size_t base,
		      char *last_dir, size_t cap, bool recursive)
{
	const char *p = r->files[i].path;
	const char *slash = strchr(p + base, '/');

	while (slash != NULL) {
		size_t len = (size_t)(slash - p);

		if (len < cap && (strncmp(last_dir, p, len) != 0 || last_dir[len] != '/')) {
			char dir[4200];

			snprintf(dir, sizeof(dir), "%.*s", (int)len, p);
			fy_json_push(a, dir_entry(r, dir));
			snprintf(last_dir, cap, "%.*s/", (int)len, p);
		}
		if (!recursive)
			return;
		slash = strchr(slash + 1, '/');
	}
}

struct fy_json *srv_json_tree(const struct fy_revision *r, const char *path, bool recursive)
{
	struct fy_json *a = fy_json_array();
	char prefix[4200];
	char last_dir[4200] = "";
	size_t first = 0, end = r->n_files;
	size_t base = 0;
	size_t i;

	if (path[0] != '\0') {
		snprintf(prefix, sizeof(prefix), "%s/", path);
		if (!dir_range(r, prefix, &first, &end)) {
			fy_json_free(a);
			return NULL;
		}
		base = strlen(prefix);
	}
	for (i = first; i < end; i++) {
		bool nested = strchr(r->files[i].path + base, '/') != NULL;

		emit_dirs(a, r, i, base, last_dir, sizeof(last_dir), recursive);
		if (recursive || !nested)
			fy_json_push(a, file_entry(&r->files[i]));
	}
	return a;
}

struct fy_json *srv_json_paths_info(const struct fy_revision *r, const char *const *paths, size_t n)
{
	struct fy_json *a = fy_json_array();
	char prefix[4200];
	size_t first, end;
	size_t i;

	for (i = 0; i < n; i++) {
		const struct fy_file_entry *f = fy_revision_find(r, paths[i]);

		snprintf(prefix, sizeof(prefix), "%s/", paths[i]);
		if (f != NULL)
			fy_json_push(a, file_entry(f));
		else if (paths[i][0] != '\0' && dir_range(r, prefix, &first, &end))
			fy_json_push(a, dir_entry(r, paths[i]));
	}
	return a;
}

static struct fy_json *sibling(const struct fy_file_entry *f, bool blobs)
{
	struct fy_json *o = fy_json_object();
	char hex[2 * FY_SHA1_LEN + 1];

	fy_json_set(o, "rfilename", fy_json_string(f->path));
	if (!blobs)
		return o;
	fy_hex(f->git_oid, FY_SHA1_LEN, hex);
	fy_json_set(o, "size", fy_json_integer((int64_t)f->size));
	fy_json_set(o, "blobId", fy_json_string(hex));
	if (f->lfs)
		fy_json_set(o, "lfs", lfs_json(f, "sha256"));
	return o;
}

/* "2026-11-22T12:44:52Z" as the hub writes times: "2026-11-22T12:44:52.000Z". */
static struct fy_json *hub_time(const char *t)
{
	char buf[40];
	size_t n = strlen(t);

	if (n == 20 && t[19] == 'Z')
		snprintf(buf, sizeof(buf), "%.19s.000Z", t);
	else
		snprintf(buf, sizeof(buf), "%s", t);
	return fy_json_string(buf);
}

struct fy_json *srv_json_info(const char *repo, const struct fy_revision *r, bool siblings,
			      bool blobs, bool is_private, bool is_gated)
{
	struct fy_json *o = fy_json_object();
	struct fy_json *sib = fy_json_array();
	bool dataset = strncmp(repo, "datasets/", 9) == 0;
	const char *id = dataset ? repo + 9 : repo;
	char author[128];
	size_t i;

	snprintf(author, sizeof(author), "%.*s", (int)(strchr(id, '/') - id), id);
	fy_json_set(o, "_id", fy_json_stringn(r->id, 24));
	fy_json_set(o, "id", fy_json_string(id));
	if (!dataset)
		fy_json_set(o, "modelId", fy_json_string(id));
	fy_json_set(o, "author", fy_json_string(author));
	fy_json_set(o, "sha", fy_json_string(r->id));
	fy_json_set(o, "lastModified", hub_time(r->created));
	fy_json_set(o, "createdAt", hub_time(r->created));
	fy_json_set(o, "private", fy_json_bool(is_private));
	fy_json_set(o, "gated", is_gated ? fy_json_string("manual") : fy_json_bool(false));
	fy_json_set(o, "disabled", fy_json_bool(false));
	fy_json_set(o, "downloads", fy_json_integer(0));
	fy_json_set(o, "likes", fy_json_integer(0));
	fy_json_set(o, "tags", fy_json_array());
	for (i = 0; siblings && i < r->n_files; i++)
		fy_json_push(sib, sibling(&r->files[i], blobs));
	if (siblings)
		fy_json_set(o, "siblings", sib);
	else
		fy_json_free(sib);
	fy_json_set(o, "usedStorage", fy_json_integer((int64_t)r->total_size));
	return o;
}

struct listing_order {
	bool by_time; /* else by id */
	int dir;      /* 1 ascending, -1 descending */
};

static int cmp_listed(const void *a, const void *b, void *ctx)
{
	const struct srv_listed *x = a, *y = b;
	const struct listing_order *o = ctx;
	const int by_id = strcasecmp(x->name, y->name);
	if (o->by_time) { /* ISO 8601 UTC times order as strings */
		const int t = strcmp(x->rev->created, y->rev->created);
		return t != 0 ? t * o->dir : by_id;
	}
	return by_id * o->dir;
}

void srv_sort_listed(struct srv_listed *l, size_t n, const char *sort, int direction)
{
	const bool by_time = sort != NULL &&
			     (strcmp(sort, "lastModified") == 0 || strcmp(sort, "createdAt") == 0);
	const bool by_id = sort == NULL || strcmp(sort, "id") == 0;
	struct listing_order o = { by_time, direction != 0 ? direction : by_time ? -1 : 1 };
	if (!by_time && !by_id)
		o.dir = 1; /* downloads, likes...: all 0 here, so by id */
	qsort_r(l, n, sizeof(*l), cmp_listed, &o);
}

bool srv_listed_matches(const struct srv_listed *l, const char *search, const char *author)
{
	const char *slash = strchr(l->name, '/');
	if (author != NULL && author[0] != '\0' &&
	    (slash == NULL || strlen(author) != (size_t)(slash - l->name) ||
	     strncasecmp(author, l->name, (size_t)(slash - l->name)) != 0))
		return false;
	return search == NULL || search[0] == '\0' || strcasestr(l->name, search) != NULL;
}

static struct fy_json *ref_json(const struct srv_ref *ref, const char *name)
{
	struct fy_json *o = fy_json_object();
	char full[160];

	snprintf(full, sizeof(full), "refs/%s", ref->name);
	fy_json_set(o, "name", fy_json_string(name));
	fy_json_set(o, "ref", fy_json_string(full));
	fy_json_set(o, "targetCommit", fy_json_string(ref->id));
	return o;
}

struct fy_json *srv_json_refs(const struct srv_repo *r)
{
	struct fy_json *o = fy_json_object();
	struct fy_json *branches = fy_json_array();
	struct fy_json *tags = fy_json_array();
	size_t i;

	for (i = 0; i < r->n_refs; i++) {
		const struct srv_ref *ref = &r->refs[i];

		if (strncmp(ref->name, "heads/", 6) == 0)
			fy_json_push(branches, ref_json(ref, ref->name + 6));
		else if (strncmp(ref->name, "tags/", 5) == 0)
			fy_json_push(tags, ref_json(ref, ref->name + 5));
	}
	fy_json_set(o, "branches", branches);
	fy_json_set(o, "tags", tags);
	fy_json_set(o, "converts", fy_json_array());
	return o;
}

static bool is_gguf(const char *p)
{
	size_t n = strlen(p);

	return n > 5 && strcmp(p + n - 5, ".gguf") == 0;
}

static const struct fy_file_entry *gguf_with(const struct fy_revision *r, const char *tag,
					     bool mmproj)
{
	size_t i;

	for (i = 0; i < r->n_files; i++) {
		const char *p = r->files[i].path;

		size_t prefix = 0;
		int k = 0, n = 0;
		if (!is_gguf(p) || (strcasestr(p, "mmproj") != NULL) != mmproj)
			continue;
		/* a split model is named by its first shard (llama.cpp fetches the others) */
		if (fy_gguf_split_name(p, &prefix, &k, &n) && k != 1)
			continue;
		if (tag == NULL || fy_gguf_has_tag(p, tag))
			return &r->files[i];
	}
	return NULL;
}

static struct fy_json *gguf_json(const struct fy_file_entry *f)
{
	struct fy_json *o = fy_json_object();
	char hex[2 * FY_SHA256_LEN + 1];

	fy_hex(f->sha256, FY_SHA256_LEN, hex);
	fy_json_set(o, "rfilename", fy_json_string(f->path));
	fy_json_set(o, "blobId", fy_json_string(hex));
	fy_json_set(o, "size", fy_json_integer((int64_t)f->size));
	return o;
}

struct fy_json *srv_json_gguf_manifest(const struct fy_revision *r, const char *tag)
{
	const struct fy_file_entry *g = NULL;
	const struct fy_file_entry *mm = gguf_with(r, NULL, true);
	struct fy_json *o;

	if (tag == NULL || strcasecmp(tag, "latest") == 0) {
		g = gguf_with(r, "Q4_K_M", false);
		if (g == NULL)
			g = gguf_with(r, "Q8_0", false);
		if (g == NULL)
			g = gguf_with(r, NULL, false);
	} else {
		g = gguf_with(r, tag, false);
	}
	if (g == NULL)
		return NULL;
	o = fy_json_object();
	fy_json_set(o, "ggufFile", gguf_json(g));
	if (mm != NULL)
		fy_json_set(o, "mmprojFile", gguf_json(mm));
	return o;
}
