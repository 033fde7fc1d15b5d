/*
 * ferry serve: the Hugging Face-compatible HTTP API (docs/HUB-API.md) over a store, on
 * libmicrohttpd (the only file that includes microhttpd.h). Read-only. File bodies are sent from
 * the objects' file descriptors (sendfile); metadata comes from the in-memory index, rebuilt by a
 * background thread when the refs change (serve_index.c).
 */
#include "mirror/serve_private.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_BODY (1u << 20)
#define MAX_PATHS 10000

struct fy_server {
	struct fy_store *store;
	struct MHD_Daemon *d;
	pthread_rwlock_t lock; /* guards ix and access */
	struct srv_index *ix;
	struct srv_access access;
	struct srv_cache cache;
	char *tokens_path;
	pthread_t refresher;
	bool refresher_started;
	atomic_bool stop;
	atomic_int in_flight;
	unsigned refresh_ms;
	bool all;	  /* every revision, not only the published ones */
	char *objects;	  /* --objects-from as a URL prefix, or NULL */
	bool objects_oci; /* the prefix takes "ns/name/blobs/sha256:HEX", else "AB/REST" */
	FILE *log;
	pthread_mutex_t log_mu;
	fy_serve_log_fn errlog;
	void *ctx;
	uint16_t port;
};

/* One request's state, from its first byte to its log line. */
struct req {
	struct timespec t0;
	char method[16];
	char *url;
	unsigned status;
	uint64_t bytes;
	struct fy_buf body;
	bool started;
	char user[64];
};

static void errlog(struct fy_server *srv, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void errlog(struct fy_server *srv, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (srv->errlog != NULL)
		srv->errlog(srv->ctx, msg);
}

/* ------------------------------------------------------------------------------------------ */
/* Responses                                                                                  */

static enum MHD_Result queue(struct MHD_Connection *c, struct req *rq, unsigned status,
			     struct MHD_Response *resp, uint64_t bytes)
{
	enum MHD_Result r;

	if (resp == NULL)
		return MHD_NO;
	rq->status = status;
	rq->bytes = strcmp(rq->method, "HEAD") == 0 ? 0 : bytes;
	r = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return r;
}

static enum MHD_Result send_json(struct MHD_Connection *c, struct req *rq, unsigned status,
				 struct fy_json *j, const char *error_code, const char *commit)
{
	char *text = fy_json_dump(j, 0);
	struct MHD_Response *resp;
	size_t n;

	fy_json_free(j);
	if (text == NULL)
		return MHD_NO;
	n = strlen(text);
	resp = MHD_create_response_from_buffer(n, text, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "application/json; charset=utf-8");
	if (error_code != NULL)
		MHD_add_response_header(resp, "X-Error-Code", error_code);
	if (commit != NULL)
		MHD_add_response_header(resp, "X-Repo-Commit", commit);
	return queue(c, rq, status, resp, n);
}

static enum MHD_Result send_error(struct MHD_Connection *c, struct req *rq, unsigned status,
				  const char *code, const char *commit, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static enum MHD_Result send_error(struct MHD_Connection *c, struct req *rq, unsigned status,
				  const char *code, const char *commit, const char *fmt, ...)
{
	struct fy_json *o = fy_json_object();
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fy_json_set(o, "error", fy_json_string(msg));
	return send_json(c, rq, status, o, code, commit);
}

/* ------------------------------------------------------------------------------------------ */
/* Files                                                                                      */

static void file_headers(struct MHD_Response *resp, const struct fy_file_entry *f,
			 const char *commit)
{
	char hex[2 * FY_SHA256_LEN + 1];
	char etag[2 * FY_SHA256_LEN + 3];
	char size[24];
	const char *base = strrchr(f->path, '/') ? strrchr(f->path, '/') + 1 : f->path;
	char disp[512];

	fy_file_etag(f, hex);
	snprintf(etag, sizeof(etag), "\"%s\"", hex);
	MHD_add_response_header(resp, "ETag", etag);
	MHD_add_response_header(resp, "X-Repo-Commit", commit);
	MHD_add_response_header(resp, "Accept-Ranges", "bytes");
	MHD_add_response_header(resp, "Content-Type", "application/octet-stream");
	snprintf(disp, sizeof(disp), "inline; filename=\"%s\"", base);
	MHD_add_response_header(resp, "Content-Disposition", disp);
	if (f->lfs) {
		snprintf(size, sizeof(size), "%" PRIu64, f->size);
		MHD_add_response_header(resp, "X-Linked-Etag", etag);
		MHD_add_response_header(resp, "X-Linked-Size", size);
	}
}

static enum MHD_Result send_pointer(struct MHD_Connection *c, struct req *rq,
				    const struct fy_file_entry *f, const char *commit)
{
	char hex[2 * FY_SHA256_LEN + 1];
	char text[256];
	char etag[48];
	char oid[2 * FY_SHA1_LEN + 1];
	struct MHD_Response *resp;
	int n;

	fy_hex(f->sha256, FY_SHA256_LEN, hex);
	n = snprintf(text, sizeof(text),
		     "version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %" PRIu64
		     "\n",
		     hex, f->size);
	resp = MHD_create_response_from_buffer((size_t)n, text, MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	fy_hex(f->git_oid, FY_SHA1_LEN, oid);
	snprintf(etag, sizeof(etag), "\"%s\"", oid);
	MHD_add_response_header(resp, "ETag", etag);
	MHD_add_response_header(resp, "X-Repo-Commit", commit);
	MHD_add_response_header(resp, "Content-Type", "text/plain; charset=utf-8");
	return queue(c, rq, 200, resp, (uint64_t)n);
}

/* Content reader of HEAD answers: never called (a HEAD answer has no body). */
static ssize_t no_body(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)cls;
	(void)pos;
	(void)buf;
	(void)max;
	return MHD_CONTENT_READER_END_WITH_ERROR;
}

/* A file's body sent from its object through a buffer (send_file). */
struct body_src {
	int fd;
	uint64_t off; /* where the body starts in the object (a range's first byte) */
};

static ssize_t body_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct body_src *b = cls;
	ssize_t n;
	do
		n = pread(b->fd, buf, max, (off_t)(b->off + pos));
	while (n < 0 && errno == EINTR);
	return n > 0 ? n : MHD_CONTENT_READER_END_WITH_ERROR; /* the object shrank: cut */
}

static void body_free(void *cls)
{
	struct body_src *b = cls;
	close(b->fd);
	free(b);
}

/* Bodies above one sendfile() chunk of libmicrohttpd's thread pool go through a buffer of this
 * size. libmicrohttpd corks the socket (TCP_CORK) while it sends a file in 128 KiB sendfile()
 * calls, and a corked stream reaches a reader on another core at about 0.6x the speed of an
 * uncorked one (nginx with tcp_nopush measures the same); buffered sends are never corked.
 * docs/SERVE.md has the numbers. */
#define BODY_BUFFER (512u << 10)
#define SENDFILE_CHUNK (128u << 10)

static enum MHD_Result send_file(struct fy_server *srv, struct MHD_Connection *c, struct req *rq,
				 const struct fy_file_entry *f, const char *commit)
{
	const char *range = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Range");
	const char *obj = fy_store_object_path(srv->store, f->sha256);
	struct MHD_Response *resp;
	uint64_t off = 0, len = f->size;
	struct stat st;
	bool partial, bad;
	char cr[96];
	int fd;

	bool head = strcmp(rq->method, "HEAD") == 0;

	/* HEAD needs no descriptor: one stat() checks the object */
	fd = head ? -1 : open(obj, O_RDONLY | O_CLOEXEC);
	if ((head ? stat(obj, &st) != 0 : (fd < 0 || fstat(fd, &st) != 0)) ||
	    (uint64_t)st.st_size != f->size) {
		if (fd >= 0)
			close(fd);
		errlog(srv, "object %s of '%s' is missing or has the wrong size (run ferry fsck)",
		       obj, f->path);
		return send_error(c, rq, 500, NULL, commit, "the mirror's copy of '%s' is damaged",
				  f->path);
	}
	partial = srv_parse_range(range, f->size, &off, &len, &bad);
	if (partial && bad) {
		if (fd >= 0)
			close(fd);
		resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
		snprintf(cr, sizeof(cr), "bytes */%" PRIu64, f->size);
		MHD_add_response_header(resp, "Content-Range", cr);
		file_headers(resp, f, commit);
		return queue(c, rq, 416, resp, 0);
	}
	if (head) /* the size gives Content-Length; the reader is never called for HEAD */
		resp = MHD_create_response_from_callback(len, 4096, no_body, NULL, NULL);
	else if (len == 0) {
		close(fd);
		resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	} else if (len <= SENDFILE_CHUNK) { /* one sendfile() call, never corked */
		resp = MHD_create_response_from_fd_at_offset64(len, fd, off); /* takes the fd */
	} else {
		struct body_src *b = malloc(sizeof(*b));
		if (b == NULL) {
			close(fd);
			return MHD_NO;
		}
		*b = (struct body_src){ fd, off };
		resp = MHD_create_response_from_callback(len, BODY_BUFFER, body_read, b, body_free);
		if (resp == NULL)
			body_free(b);
	}
	if (resp == NULL)
		return MHD_NO;
	file_headers(resp, f, commit);
	if (partial) {
		snprintf(cr, sizeof(cr), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, off,
			 off + len - 1, f->size);
		MHD_add_response_header(resp, "Content-Range", cr);
	}
	return queue(c, rq, partial ? 206 : 200, resp, len);
}

/* ------------------------------------------------------------------------------------------ */
/* Routing                                                                                    */

/* Reads "NS/NAME" at *p (prefixing "datasets/" for datasets) and advances past it. */
static bool take_repo(const char **p, bool dataset, struct srv_route *rt)
{
	const char *a = *p;
	const char *s1 = strchr(a, '/');
	const char *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
	size_t n = s2 ? (size_t)(s2 - a) : strlen(a);
	struct fy_err err;

	if (s1 == NULL || n + 9 >= sizeof(rt->repo))
		return false;
	snprintf(rt->repo, sizeof(rt->repo), "%s%.*s", dataset ? "datasets/" : "", (int)n, a);
	*p = a + n;
	return fy_repo_check(rt->repo, &err) == FY_OK;
}

static bool clean_url(const char *url)
{
	const unsigned char *p;

	for (p = (const unsigned char *)url; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f || *p == '\\')
			return false;
	}
	return true;
}

struct ctx {
	struct fy_server *srv;
	struct MHD_Connection *c;
	struct req *rq;
	const struct srv_token *token;
	const struct srv_repo *repo;
	const struct fy_revision *rev;
	char commit[FY_REV_ID_LEN + 1];
	enum srv_visibility vis;
};

/* Finds the repo and checks access: FY_OK, or a response was queued (*out). */
static bool open_repo(struct ctx *x, const struct srv_route *rt, enum MHD_Result *out)
{
	x->repo = srv_index_repo(x->srv->ix, rt->repo);
	x->vis = x->repo ? srv_visibility(&x->srv->access, rt->repo, x->token) : SRV_HIDDEN;
	if (x->vis == SRV_HIDDEN) {
		*out = send_error(x->c, x->rq, 404, "RepoNotFound", NULL,
				  "Repository Not Found for url: %s.", x->rq->url);
		return false;
	}
	if (x->vis == SRV_GATED) {
		*out = send_error(
			x->c, x->rq, 403, "GatedRepo", NULL,
			"Access to repository %s is restricted: this token has no access.",
			rt->repo);
		return false;
	}
	return true;
}

static bool open_rev(struct ctx *x, const struct srv_route *rt, enum MHD_Result *out)
{
	struct fy_err err;

	if (!open_repo(x, rt, out))
		return false;
	if (srv_resolve(x->srv->ix, x->repo, &x->srv->cache, x->srv->store, rt->rev, x->commit) !=
	    FY_OK) {
		*out = send_error(x->c, x->rq, 404, "RevisionNotFound", NULL, "Invalid rev id: %s",
				  rt->rev);
		return false;
	}
	if (srv_cache_get(&x->srv->cache, x->srv->store, rt->repo, x->commit, &x->rev, &err) !=
	    FY_OK) {
		errlog(x->srv, "%s", err.msg);
		*out = send_error(x->c, x->rq, 500, NULL, NULL, "revision %s cannot be read",
				  x->commit);
		return false;
	}
	return true;
}

static bool arg_true(struct MHD_Connection *c, const char *key)
{
	const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);

	return v != NULL &&
	       (strcmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcmp(v, "True") == 0);
}

static enum MHD_Result api_info(struct ctx *x, const struct srv_route *rt)
{
	enum MHD_Result r;

	if (!open_rev(x, rt, &r))
		return r;
	return send_json(x->c, x->rq, 200,
			 srv_json_info(rt->repo, x->rev, true, arg_true(x->c, "blobs"),
				       srv_is_private(&x->srv->access, rt->repo),
				       srv_is_gated(&x->srv->access, rt->repo)),
			 NULL, x->commit);
}

static enum MHD_Result api_tree(struct ctx *x, const struct srv_route *rt)
{
	struct fy_json *j;
	enum MHD_Result r;
	char path[4096];

	if (!open_rev(x, rt, &r))
		return r;
	snprintf(path, sizeof(path), "%s", rt->rest);
	while (path[0] != '\0' && path[strlen(path) - 1] == '/')
		path[strlen(path) - 1] = '\0';
	if (path[0] != '\0' && !fy_repo_path_ok(path))
		return send_error(x->c, x->rq, 400, NULL, x->commit, "invalid path");
	j = srv_json_tree(x->rev, path, arg_true(x->c, "recursive"));
	if (j == NULL)
		return send_error(x->c, x->rq, 404, "EntryNotFound", x->commit,
				  "%s does not exist on \"%s\"", path, rt->rev);
	return send_json(x->c, x->rq, 200, j, NULL, x->commit);
}

/* paths from a JSON body {"paths": [...]} or a form body paths=a&paths=b */
static size_t body_paths(struct req *rq, char **paths, struct fy_json **keep)
{
	struct fy_err err;
	size_t n = 0;
	char *save = NULL;
	char *kv;

	if (rq->body.len == 0)
		return 0;
	fy_buf_append(&rq->body, "", 1, NULL);
	if (rq->body.data[0] == '{' &&
	    fy_json_parse(keep, rq->body.data, rq->body.len - 1, "body", &err) == FY_OK) {
		struct fy_json *a = fy_json_get(*keep, "paths");

		for (n = 0; n < fy_json_size(a) && n < MAX_PATHS; n++)
			paths[n] = (char *)(fy_json_str(fy_json_at(a, n))
						    ? fy_json_str(fy_json_at(a, n))
						    : "");
		return n;
	}
	for (kv = strtok_r((char *)rq->body.data, "&", &save); kv != NULL && n < MAX_PATHS;
	     kv = strtok_r(NULL, "&", &save)) {
		if (strncmp(kv, "paths=", 6) != 0)
			continue;
		MHD_http_unescape(kv + 6);
		paths[n++] = kv + 6;
	}
	return n;
}

static enum MHD_Result api_paths_info(struct ctx *x, const struct srv_route *rt)
{
	struct fy_json *keep = NULL;
	char **paths = calloc(MAX_PATHS, sizeof(*paths));
	enum MHD_Result r;
	size_t n;

	if (paths == NULL)
		return MHD_NO;
	if (!open_rev(x, rt, &r)) {
		free(paths);
		return r;
	}
	n = body_paths(x->rq, paths, &keep);
	r = send_json(x->c, x->rq, 200, srv_json_paths_info(x->rev, (const char *const *)paths, n),
		      NULL, x->commit);
	fy_json_free(keep);
	free(paths);
	return r;
}

static enum MHD_Result api(struct ctx *x, const char *p, bool dataset)
{
	struct srv_route rt;
	enum MHD_Result r;

	memset(&rt, 0, sizeof(rt));
	if (!take_repo(&p, dataset, &rt))
		return send_error(x->c, x->rq, 404, "RepoNotFound", NULL, "Repository Not Found");
	if (*p == '\0' || strcmp(p, "/") == 0) {
		strcpy(rt.rev, "main");
		return api_info(x, &rt);
	}
	if (strncmp(p, "/revision/", 10) == 0) {
		snprintf(rt.rev, sizeof(rt.rev), "%s", p + 10);
		return api_info(x, &rt);
	}
	if (strncmp(p, "/tree/", 6) == 0 && srv_split_rev(p + 6, &rt))
		return api_tree(x, &rt);
	if (strncmp(p, "/paths-info/", 12) == 0 && srv_split_rev(p + 12, &rt))
		return api_paths_info(x, &rt);
	if (strcmp(p, "/refs") == 0) {
		if (!open_repo(x, &rt, &r))
			return r;
		return send_json(x->c, x->rq, 200, srv_json_refs(x->repo), NULL, NULL);
	}
	return send_error(x->c, x->rq, 404, NULL, NULL, "Not Found");
}

/* An LFS file's bytes live elsewhere (--objects-from): a redirect there, with the headers
 * huggingface_hub reads from it (X-Linked-Etag, X-Linked-Size, X-Repo-Commit), as the Hub
 * redirects to its CDN. */
static enum MHD_Result send_redirect(struct ctx *x, const struct fy_file_entry *f)
{
	char hex[2 * FY_SHA256_LEN + 1], url[1200];
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return MHD_NO;
	fy_hex(f->sha256, FY_SHA256_LEN, hex);
	if (x->srv->objects_oci) { /* the repository's OCI name, as push names it */
		char name[FY_REPO_MAX + 1];
		fy_oci_name(x->repo->name, name);
		snprintf(url, sizeof(url), "%s%s/blobs/sha256:%s", x->srv->objects, name, hex);
	} else {
		snprintf(url, sizeof(url), "%s%.2s/%s", x->srv->objects, hex, hex + 2);
	}
	file_headers(resp, f, x->commit);
	MHD_add_response_header(resp, "Location", url);
	return queue(x->c, x->rq, 302, resp, 0);
}

static enum MHD_Result file_route(struct ctx *x, const char *p, bool dataset)
{
	struct srv_route rt;
	const struct fy_file_entry *f;
	enum MHD_Result r;
	bool raw;

	memset(&rt, 0, sizeof(rt));
	if (!take_repo(&p, dataset, &rt))
		return send_error(x->c, x->rq, 404, "RepoNotFound", NULL, "Repository Not Found");
	raw = strncmp(p, "/raw/", 5) == 0;
	if ((!raw && strncmp(p, "/resolve/", 9) != 0) || !srv_split_rev(p + (raw ? 5 : 9), &rt))
		return send_error(x->c, x->rq, 404, NULL, NULL, "Not Found");
	if (!open_rev(x, &rt, &r))
		return r;
	if (!fy_repo_path_ok(rt.rest))
		return send_error(x->c, x->rq, 400, NULL, x->commit, "invalid path");
	f = fy_revision_find(x->rev, rt.rest);
	if (f == NULL)
		return send_error(x->c, x->rq, 404, "EntryNotFound", x->commit,
				  "Entry not found: %s", rt.rest);
	if (raw && f->lfs)
		return send_pointer(x->c, x->rq, f, x->commit);
	if (f->lfs && x->srv->objects != NULL)
		return send_redirect(x, f);
	return send_file(x->srv, x->c, x->rq, f, x->commit);
}

static enum MHD_Result whoami(struct ctx *x)
{
	struct fy_json *o;
	struct fy_json *auth;

	if (x->token == NULL)
		return send_error(x->c, x->rq, 401, NULL, NULL,
				  "Invalid credentials in Authorization header");
	o = fy_json_object();
	auth = fy_json_object();
	fy_json_set(o, "type", fy_json_string("user"));
	fy_json_set(o, "id", fy_json_string(x->token->name));
	fy_json_set(o, "name", fy_json_string(x->token->name));
	fy_json_set(o, "fullname", fy_json_string(x->token->name));
	fy_json_set(auth, "type", fy_json_string("access_token"));
	fy_json_set(o, "auth", auth);
	return send_json(x->c, x->rq, 200, o, NULL, NULL);
}

static enum MHD_Result gguf_manifest(struct ctx *x, const char *p)
{
	struct srv_route rt;
	struct fy_json *j;
	enum MHD_Result r;
	const char *tag;

	memset(&rt, 0, sizeof(rt));
	if (!take_repo(&p, false, &rt) || strncmp(p, "/manifests/", 11) != 0)
		return send_error(x->c, x->rq, 404, NULL, NULL, "Not Found");
	tag = p + 11;
	strcpy(rt.rev, "main");
	if (!open_rev(x, &rt, &r))
		return r;
	j = srv_json_gguf_manifest(x->rev, tag);
	if (j == NULL)
		return send_error(x->c, x->rq, 404, "EntryNotFound", x->commit,
				  "no GGUF file for tag '%s'", tag);
	return send_json(x->c, x->rq, 200, j, NULL, x->commit);
}

/* Bytes as they are (the signed index must reach clients byte for byte). */
static enum MHD_Result send_bytes(struct ctx *x, const struct fy_buf *b, const char *type)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(b->len, b->data, MHD_RESPMEM_MUST_COPY);

	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", type);
	MHD_add_response_header(resp, "Cache-Control", "no-cache");
	return queue(x->c, x->rq, 200, resp, b->len);
}

/* The ferry API for ferry clients (docs/PUBLISH.md): the signed index, its signatures, and the
 * manifests of published revisions. */
static enum MHD_Result ferry_api(struct ctx *x, const char *p)
{
	const struct srv_index *ix = x->srv->ix;
	struct srv_route rt;
	enum MHD_Result r;
	struct fy_buf b;
	struct fy_err err;
	const char *id;

	if (strcmp(p, "index") == 0 || strcmp(p, "index.sig") == 0) {
		if (ix->pub_bytes.len == 0)
			return send_error(x->c, x->rq, 404, "EntryNotFound", NULL,
					  "nothing is published on this mirror");
		return send_bytes(x, p[5] ? &ix->pub_sig : &ix->pub_bytes,
				  "application/json; charset=utf-8");
	}
	memset(&rt, 0, sizeof(rt));
	if (strncmp(p, "manifests/", 10) != 0)
		return send_error(x->c, x->rq, 404, NULL, NULL, "Not Found");
	p += 10;
	if (!take_repo(&p, false, &rt) || *p != '/' || !fy_is_rev_id(p + 1))
		return send_error(x->c, x->rq, 404, NULL, NULL, "Not Found");
	id = p + 1;
	if (!open_repo(x, &rt, &r))
		return r;
	if (!ix->all && fy_pubindex_revision(ix->pub, rt.repo, id) == NULL)
		return send_error(x->c, x->rq, 404, "RevisionNotFound", NULL, "Invalid rev id: %s",
				  id);
	fy_buf_init(&b);
	if (fy_revision_bytes(x->srv->store, rt.repo, id, &b, &err) != FY_OK) {
		fy_buf_release(&b);
		return send_error(x->c, x->rq, 404, "RevisionNotFound", NULL, "Invalid rev id: %s",
				  id);
	}
	r = send_bytes(x, &b, "application/json; charset=utf-8");
	fy_buf_release(&b);
	return r;
}

/* --- GET /api/models: the listing HfApi.list_models and @huggingface/hub's listModels page
 * through ------------------------------------------------------------------------------------ */

#define LIST_PAGE_MAX 1000 /* the most entries one page holds (the Hub's too) */

struct query_text {
	struct fy_buf *b;
	bool siblings; /* expand=siblings */
};

/* ------------------------------------------------------------------------------------------ */
/* The OCI registry (read-only): published revisions as ModelPack artifacts (docs/OCI.md)      */

#define OCI_MANIFEST_TYPE "application/vnd.oci.image.manifest.v1+json"

/* An error as the distribution spec words it. */
static enum MHD_Result reg_error(struct ctx *x, unsigned status, const char *code, const char *msg)
{
	struct fy_json *o = fy_json_object(), *list = fy_json_array(), *e = fy_json_object();
	fy_json_set(e, "code", fy_json_string(code));
	fy_json_set(e, "message", fy_json_string(msg));
	fy_json_push(list, e);
	fy_json_set(o, "errors", list);
	return send_json(x->c, x->rq, status, o, NULL, NULL);
}

/* Whether the client asks for a registry manifest (OCI or Docker), not llama.cpp's JSON. */
static bool wants_oci(struct MHD_Connection *c)
{
	const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept");
	return a != NULL && (strstr(a, "application/vnd.oci.image.") != NULL ||
			     strstr(a, "application/vnd.docker.distribution.manifest") != NULL);
}

/* The served repository whose name, lowercased, is name (OCI names are lowercase). */
static const struct srv_repo *repo_nocase(const struct srv_index *ix, const char *name)
{
	for (size_t i = 0; i < ix->n_repos; i++)
		if (strcasecmp(ix->repos[i].name, name) == 0 &&
		    strncmp(ix->repos[i].name, "datasets/", 9) != 0)
			return &ix->repos[i];
	return NULL;
}

/* The repository of a registry path "NS/NAME/..." the client may see; false: answered. */
static bool reg_repo(struct ctx *x, const char **p, enum MHD_Result *out)
{
	const char *a = *p, *s1 = strchr(a, '/'), *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
	char name[FY_REPO_MAX + 1];
	if (s2 == NULL || (size_t)(s2 - a) > FY_REPO_MAX) {
		*out = reg_error(x, 404, "NAME_UNKNOWN", "repository name not known to registry");
		return false;
	}
	memcpy(name, a, (size_t)(s2 - a));
	name[s2 - a] = '\0';
	x->repo = repo_nocase(x->srv->ix, name);
	x->vis = x->repo ? srv_visibility(&x->srv->access, x->repo->name, x->token) : SRV_HIDDEN;
	if (x->vis != SRV_VISIBLE) { /* hidden: as unknown; gated: denied, as the hub API does */
		*out = x->vis == SRV_GATED ? reg_error(x, 403, "DENIED",
						       "requested access to the "
						       "resource is denied")
					   : reg_error(x, 404, "NAME_UNKNOWN",
						       "repository name not known to registry");
		return false;
	}
	*p = s2;
	return true;
}

/* The artifact of one revision of the repository; NULL when it cannot be read (logged). */
static struct fy_oci_artifact *reg_artifact(struct ctx *x, const char *id,
					    const struct fy_revision **rev)
{
	struct fy_oci_artifact *a = NULL;
	struct fy_err err;
	*rev = NULL;
	if (srv_cache_get(&x->srv->cache, x->srv->store, x->repo->name, id, rev, &err) != FY_OK ||
	    fy_oci_artifact_build(x->srv->store, *rev, &a, &err) != FY_OK) {
		errlog(x->srv, "%s", err.msg);
		return NULL;
	}
	return a;
}

/* Ollama's pulls (`ollama run MIRROR/ns/name:Q4_K_M`) say who they are. */
static bool is_ollama(struct MHD_Connection *c)
{
	const char *ua = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "User-Agent");
	return ua != NULL && strncasecmp(ua, "ollama/", 7) == 0;
}

/* Ollama's manifest of main's GGUF model for tag; NULL with *why set when there is none. */
static struct fy_oci_artifact *reg_ollama(struct ctx *x, const char *tag, const char **why)
{
	char id[FY_REV_ID_LEN + 1];
	const struct fy_revision *rev;
	struct fy_oci_artifact *a = NULL;
	struct fy_err err;
	*why = "manifest unknown";
	if (srv_resolve(x->srv->ix, x->repo, &x->srv->cache, x->srv->store, "main", id) != FY_OK ||
	    srv_cache_get(&x->srv->cache, x->srv->store, x->repo->name, id, &rev, &err) != FY_OK)
		return NULL;
	const int rc = fy_oci_ollama_build(x->srv->store, rev, tag, &a, &err);
	if (rc == FY_EUNSUPPORTED)
		*why = "a split GGUF, which Ollama does not load";
	else if (rc != FY_OK && rc != FY_ENOTFOUND)
		errlog(x->srv, "%s", err.msg);
	return a;
}

static enum MHD_Result reg_manifest(struct ctx *x, const char *ref)
{
	char id[FY_REV_ID_LEN + 1] = "", digest[FY_OCI_DIGEST_LEN + 1];
	const struct fy_revision *rev;
	struct fy_oci_artifact *a = NULL;
	const char *why = "manifest unknown", *type;
	if (strncmp(ref, "sha256:", 7) == 0) { /* by digest: one of the refs' artifacts */
		for (size_t i = 0; a == NULL && i < x->repo->n_refs; i++) {
			a = reg_artifact(x, x->repo->refs[i].id, &rev);
			if (a != NULL &&
			    (fy_oci_artifact_manifest(a, digest, NULL), strcmp(digest, ref) != 0)) {
				fy_oci_artifact_free(a);
				a = NULL;
			}
		}
	} else if (is_ollama(x->c)) { /* Ollama: the GGUF the tag names */
		a = reg_ollama(x, ref, &why);
	} else if (srv_resolve(x->srv->ix, x->repo, &x->srv->cache, x->srv->store,
			       strcmp(ref, "latest") == 0 ? "main" : ref, id) == FY_OK) {
		a = reg_artifact(x, id, &rev);
	} else { /* not a ref: a quantization tag, as Ollama and install name them */
		a = reg_ollama(x, ref, &why);
	}
	if (a == NULL)
		return reg_error(x, 404, "MANIFEST_UNKNOWN", why);
	const struct fy_buf *m = fy_oci_artifact_manifest(a, digest, &type);
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(m->len, m->data, MHD_RESPMEM_MUST_COPY);
	const size_t len = m->len;
	char etag[FY_OCI_DIGEST_LEN + 3];
	snprintf(etag, sizeof(etag), "\"%s\"", digest);
	if (resp != NULL) {
		MHD_add_response_header(resp, "Content-Type", type);
		MHD_add_response_header(resp, "Docker-Content-Digest", digest);
		MHD_add_response_header(resp, "ETag", etag);
	}
	fy_oci_artifact_free(a);
	return resp != NULL ? queue(x->c, x->rq, 200, resp, len) : MHD_NO;
}

/* A document blob of an artifact (config, params, ferry's manifest), then the artifact freed. */
static enum MHD_Result send_doc(struct ctx *x, struct fy_oci_artifact *a, const struct fy_buf *mem,
				const char *digest)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(mem->len, mem->data, MHD_RESPMEM_MUST_COPY);
	const size_t len = mem->len;
	fy_oci_artifact_free(a);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", "application/octet-stream");
	MHD_add_response_header(resp, "Docker-Content-Digest", digest);
	return queue(x->c, x->rq, 200, resp, len);
}

static enum MHD_Result reg_blob(struct ctx *x, const char *digest)
{
	uint8_t sha[FY_SHA256_LEN];
	if (strncmp(digest, "sha256:", 7) != 0 || strlen(digest) != FY_OCI_DIGEST_LEN ||
	    !fy_unhex(digest + 7, sha, FY_SHA256_LEN))
		return reg_error(x, 400, "DIGEST_INVALID",
				 "provided digest did not match "
				 "uploaded content");
	/* a file of a served revision, from its object with ranges (most requests: the revisions
	 * are cached, nothing is read to find it) */
	for (size_t i = 0; i < x->repo->n_refs; i++) {
		const struct fy_revision *rev;
		struct fy_err err;
		if (srv_cache_get(&x->srv->cache, x->srv->store, x->repo->name, x->repo->refs[i].id,
				  &rev, &err) != FY_OK)
			continue;
		for (size_t k = 0; k < rev->n_files; k++)
			if (memcmp(rev->files[k].sha256, sha, FY_SHA256_LEN) == 0)
				return send_file(x->srv, x->c, x->rq, &rev->files[k], rev->id);
	}
	/* else a document: of a revision's artifact (config, ferry's manifest, signatures), or of
	 * Ollama's for one of its GGUF files (config, params); built again for the request */
	for (size_t i = 0; i < x->repo->n_refs; i++) {
		const struct fy_revision *rev;
		const struct fy_file_entry *f;
		const struct fy_buf *mem;
		struct fy_err err;
		struct fy_oci_artifact *a = reg_artifact(x, x->repo->refs[i].id, &rev);
		if (a != NULL && fy_oci_artifact_blob(a, digest, &f, &mem) && mem != NULL)
			return send_doc(x, a, mem, digest);
		fy_oci_artifact_free(a);
		for (size_t k = 0; rev != NULL && k < rev->n_files; k++) {
			const size_t n = strlen(rev->files[k].path);
			a = NULL;
			if (n < 5 || strcasecmp(rev->files[k].path + n - 5, ".gguf") != 0 ||
			    fy_oci_ollama_build(x->srv->store, rev, rev->files[k].path, &a, &err) !=
				    FY_OK)
				continue;
			if (fy_oci_artifact_blob(a, digest, &f, &mem) && mem != NULL)
				return send_doc(x, a, mem, digest);
			fy_oci_artifact_free(a);
		}
	}
	return reg_error(x, 404, "BLOB_UNKNOWN", "blob unknown to registry");
}

static enum MHD_Result reg_tags(struct ctx *x)
{
	struct fy_json *o = fy_json_object(), *tags = fy_json_array();
	char name[FY_REPO_MAX + 1];
	size_t i;
	fy_oci_name(x->repo->name, name);
	fy_json_set(o, "name", fy_json_string(name));
	fy_json_push(tags, fy_json_string("latest"));
	for (i = 0; i < x->repo->n_refs; i++) {
		const char *r = x->repo->refs[i].name;
		if (strncmp(r, "heads/", 6) == 0 || strncmp(r, "tags/", 5) == 0)
			fy_json_push(tags, fy_json_string(strchr(r, '/') + 1));
	}
	fy_json_set(o, "tags", tags);
	return send_json(x->c, x->rq, 200, o, NULL, NULL);
}

/* /v2/...: the registry API for registry clients (skopeo, containerd, ORAS), and llama.cpp's
 * JSON manifest for a client that asks for no registry manifest type. */
static enum MHD_Result registry(struct ctx *x, const char *p)
{
	enum MHD_Result r;
	if (p[0] == '\0') { /* the API version check */
		struct MHD_Response *resp =
			MHD_create_response_from_buffer(2, (void *)"{}", MHD_RESPMEM_PERSISTENT);
		if (resp == NULL)
			return MHD_NO;
		MHD_add_response_header(resp, "Content-Type", "application/json");
		MHD_add_response_header(resp, "Docker-Distribution-API-Version", "registry/2.0");
		return queue(x->c, x->rq, 200, resp, 2);
	}
	if (strstr(p, "/manifests/") != NULL && !wants_oci(x->c))
		return gguf_manifest(x, p);
	if (!reg_repo(x, &p, &r))
		return r;
	if (strncmp(p, "/manifests/", 11) == 0 && p[11] != '\0')
		return reg_manifest(x, p + 11);
	if (strncmp(p, "/blobs/", 7) == 0)
		return reg_blob(x, p + 7);
	if (strcmp(p, "/tags/list") == 0)
		return reg_tags(x);
	return reg_error(x, 404, "UNSUPPORTED", "the operation is unsupported");
}

static void url_escape(struct fy_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *s != '\0'; s++) {
		const unsigned char ch = (unsigned char)*s;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
			fy_buf_append(b, s, 1, NULL);
		} else {
			const char e[3] = { '%', hex[ch >> 4], hex[ch & 15] };
			fy_buf_append(b, e, 3, NULL);
		}
	}
}

/* Every query argument but the cursor, re-encoded for the next page's link. */
static enum MHD_Result query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				 const char *value)
{
	struct query_text *q = cls;
	(void)kind;
	if (strcmp(key, "expand") == 0 && value != NULL && strcmp(value, "siblings") == 0)
		q->siblings = true;
	if (strcmp(key, "cursor") == 0)
		return MHD_YES;
	if (q->b->len > 0)
		fy_buf_append(q->b, "&", 1, NULL);
	url_escape(q->b, key);
	if (value != NULL) {
		fy_buf_append(q->b, "=", 1, NULL);
		url_escape(q->b, value);
	}
	return MHD_YES;
}

/* A non-negative decimal argument no larger than max, or dflt when absent; -1 when malformed. */
static long num_arg(struct MHD_Connection *c, const char *key, long dflt, long max)
{
	const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
	char *end;
	if (v == NULL || v[0] == '\0')
		return dflt;
	const long n = strtol(v, &end, 10);
	return *end != '\0' || n < 0 || n > max ? -1 : n;
}

static enum MHD_Result models_list(struct ctx *x)
{
	struct MHD_Connection *c = x->c;
	const struct srv_index *ix = x->srv->ix;
	const char *arg[5] = { "search", "author", "sort", "filter", "direction" };
	const char *v[5];
	for (int i = 0; i < 5; i++)
		v[i] = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, arg[i]);
	const long limit = num_arg(c, "limit", LIST_PAGE_MAX, 1L << 30);
	const long cursor = num_arg(c, "cursor", 0, 1L << 30);
	const int direction = v[4] == NULL		? 0
			      : strcmp(v[4], "-1") == 0 ? -1
			      : strcmp(v[4], "1") == 0	? 1
							: 2;
	if (limit < 1 || cursor < 0 || direction == 2)
		return send_error(
			c, x->rq, 400, NULL, NULL,
			"limit is a positive number, cursor a page's link, direction 1 or -1");
	struct fy_buf q_text;
	fy_buf_init(&q_text);
	struct query_text q = { &q_text, arg_true(c, "full") };
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, query_arg, &q);
	struct srv_listed *l = calloc(ix->n_repos + 1, sizeof(*l));
	size_t n = 0;
	if (l == NULL) {
		fy_buf_release(&q_text);
		return send_error(c, x->rq, 500, NULL, NULL, "out of memory");
	}
	/* the repositories this client may see (published ones unless serve --all; private ones
	 * only with their token), main's revision of each; no tags, so a tag filter matches none */
	for (size_t i = 0; v[3] == NULL && i < ix->n_repos; i++) {
		const struct srv_repo *r = &ix->repos[i];
		char id[FY_REV_ID_LEN + 1];
		const struct fy_revision *rev;
		struct fy_err err;
		if (strncmp(r->name, "datasets/", 9) == 0 ||
		    srv_visibility(&x->srv->access, r->name, x->token) == SRV_HIDDEN ||
		    srv_resolve(ix, r, &x->srv->cache, x->srv->store, "main", id) != FY_OK ||
		    srv_cache_get(&x->srv->cache, x->srv->store, r->name, id, &rev, &err) != FY_OK)
			continue;
		l[n] = (struct srv_listed){ r->name, rev, srv_is_private(&x->srv->access, r->name),
					    srv_is_gated(&x->srv->access, r->name) };
		n += srv_listed_matches(&l[n], v[0], v[1]);
	}
	srv_sort_listed(l, n, v[2], direction);
	struct fy_json *out = fy_json_array();
	const size_t from = (size_t)cursor < n ? (size_t)cursor : n;
	const size_t page = limit < LIST_PAGE_MAX ? (size_t)limit : LIST_PAGE_MAX;
	const size_t to = n - from > page ? from + page : n;
	for (size_t i = from; i < to; i++)
		fy_json_push(out, srv_json_info(l[i].name, l[i].rev, q.siblings, false,
						l[i].is_private, l[i].is_gated));
	free(l);
	char *text = fy_json_dump(out, 0);
	fy_json_free(out);
	const size_t len = text != NULL ? strlen(text) : 0;
	struct MHD_Response *resp =
		text != NULL ? MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE)
			     : NULL;
	if (resp == NULL) {
		free(text);
		fy_buf_release(&q_text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "application/json; charset=utf-8");
	if (to < n) { /* the next page, as an absolute URL (the clients follow it as given) */
		const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
		/* the client's Host, used only when it is a host[:port] */
		for (const char *h = host; h != NULL && *h != '\0'; h++) {
			if (!((*h >= 'a' && *h <= 'z') || (*h >= 'A' && *h <= 'Z') ||
			      (*h >= '0' && *h <= '9') || strchr(".-:[]", *h) != NULL)) {
				host = NULL;
				break;
			}
		}
		const char *proto =
			MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Forwarded-Proto");
		struct fy_buf link;
		fy_buf_init(&link);
		char head[600];
		snprintf(head, sizeof(head), "<%s://%s/api/models?",
			 proto != NULL && strcmp(proto, "https") == 0 ? "https" : "http",
			 host != NULL ? host : "localhost");
		fy_buf_append(&link, head, strlen(head), NULL);
		fy_buf_append(&link, q_text.data, q_text.len, NULL);
		snprintf(head, sizeof(head), "%scursor=%zu>; rel=\"next\"",
			 q_text.len > 0 ? "&" : "", to);
		fy_buf_append(&link, head, strlen(head) + 1, NULL);
		MHD_add_response_header(resp, "Link", (const char *)link.data);
		fy_buf_release(&link);
	}
	fy_buf_release(&q_text);
	return queue(c, x->rq, 200, resp, len);
}

static const struct srv_token *bearer(struct fy_server *srv, struct MHD_Connection *c,
				      struct req *rq)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	const struct srv_token *t;

	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return NULL;
	t = srv_token_find(&srv->access, h + 7);
	if (t != NULL)
		snprintf(rq->user, sizeof(rq->user), "%s", t->name);
	return t;
}

static enum MHD_Result route(struct fy_server *srv, struct MHD_Connection *c, struct req *rq,
			     const char *url)
{
	struct ctx x = { srv, c, rq, NULL, NULL, NULL, "", SRV_VISIBLE };
	bool post = strcmp(rq->method, "POST") == 0;

	if (!clean_url(url) || strstr(url, "//") != NULL)
		return send_error(c, rq, 400, NULL, NULL, "invalid path");
	if (!post && strcmp(rq->method, "GET") != 0 && strcmp(rq->method, "HEAD") != 0)
		return send_error(c, rq, 405, NULL, NULL, "method not allowed (read-only mirror)");
	x.token = bearer(srv, c, rq);
	if (post && strstr(url, "/paths-info/") == NULL)
		return send_error(c, rq, 405, NULL, NULL, "method not allowed (read-only mirror)");
	if (strcmp(url, "/api/whoami-v2") == 0)
		return whoami(&x);
	if (strcmp(url, "/api/models") == 0)
		return models_list(&x);
	if (strncmp(url, "/api/models/", 12) == 0)
		return api(&x, url + 12, false);
	if (strncmp(url, "/api/ferry/", 11) == 0)
		return ferry_api(&x, url + 11);
	if (strncmp(url, "/api/datasets/", 14) == 0)
		return api(&x, url + 14, true);
	if (strncmp(url, "/v2/", 4) == 0)
		return registry(&x, url + 4);
	if (strncmp(url, "/datasets/", 10) == 0)
		return file_route(&x, url + 10, true);
	if (strncmp(url, "/api/", 5) != 0 && url[0] == '/' && url[1] != '\0')
		return file_route(&x, url + 1, false);
	return send_error(c, rq, 404, NULL, NULL, "Not Found");
}

/* ------------------------------------------------------------------------------------------ */
/* libmicrohttpd callbacks                                                                    */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct fy_server *srv = cls;
	struct req *rq = *con_cls;
	enum MHD_Result r;

	(void)version;
	if (rq == NULL) {
		rq = calloc(1, sizeof(*rq));
		if (rq == NULL)
			return MHD_NO;
		clock_gettime(CLOCK_MONOTONIC, &rq->t0);
		snprintf(rq->method, sizeof(rq->method), "%s", method);
		rq->url = strdup(url);
		fy_buf_init(&rq->body);
		*con_cls = rq;
		atomic_fetch_add(&srv->in_flight, 1);
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (rq->body.len + *upload_size > MAX_BODY)
			return send_error(c, rq, 413, NULL, NULL, "request body too large");
		fy_buf_append(&rq->body, upload, *upload_size, NULL);
		*upload_size = 0;
		return MHD_YES;
	}
	if (rq->started)
		return MHD_YES;
	rq->started = true;
	pthread_rwlock_rdlock(&srv->lock);
	r = route(srv, c, rq, url);
	pthread_rwlock_unlock(&srv->lock);
	return r;
}

static void log_line(struct fy_server *srv, struct MHD_Connection *c, struct req *rq)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	char host[INET6_ADDRSTRLEN] = "-";
	char when[64];
	struct timespec t1;
	struct tm tm;
	time_t now = time(NULL);
	double ms;

	if (ci != NULL && ci->client_addr != NULL) {
		const struct sockaddr *sa = ci->client_addr;

		if (sa->sa_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, host,
				  sizeof(host));
		else if (sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, host,
				  sizeof(host));
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - rq->t0.tv_sec) * 1e3 +
	     (double)(t1.tv_nsec - rq->t0.tv_nsec) / 1e6;
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%d/%b/%Y:%H:%M:%S +0000", &tm);
	pthread_mutex_lock(&srv->log_mu);
	fprintf(srv->log, "%s - %s [%s] \"%s %s HTTP/1.1\" %u %" PRIu64 " %.3f\n", host,
		rq->user[0] ? rq->user : "-", when, rq->method, rq->url ? rq->url : "-", rq->status,
		rq->bytes, ms);
	fflush(srv->log);
	pthread_mutex_unlock(&srv->log_mu);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct fy_server *srv = cls;
	struct req *rq = *con_cls;

	(void)toe;
	if (rq == NULL)
		return;
	if (srv->log != NULL)
		log_line(srv, c, rq);
	atomic_fetch_sub(&srv->in_flight, 1);
	fy_buf_release(&rq->body);
	free(rq->url);
	free(rq);
	*con_cls = NULL;
}

/* Percent-decoding of the path and query values, with NUL bytes turned into 0x01 so that the
 * path checks refuse them instead of the string ending early. */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
	char *w = s;
	const char *r = s;

	(void)cls;
	(void)c;
	while (*r != '\0') {
		if (r[0] == '%' && isxdigit((unsigned char)r[1]) && isxdigit((unsigned char)r[2])) {
			char hex[3] = { r[1], r[2], 0 };
			char v = (char)strtol(hex, NULL, 16);

			*w++ = v == 0 ? 0x01 : v;
			r += 3;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
	return (size_t)(w - s);
}

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct fy_server *srv = cls;
	char msg[1024];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	errlog(srv, "http: %s", msg);
}

/* ------------------------------------------------------------------------------------------ */
/* The index refresher                                                                        */

static void *refresher(void *arg)
{
	struct fy_server *srv = arg;
	struct srv_index *fresh = NULL;
	struct srv_index *old;
	struct fy_err err;
	struct timespec ts;

	while (!atomic_load(&srv->stop)) {
		ts.tv_sec = srv->refresh_ms / 1000;
		ts.tv_nsec = (long)(srv->refresh_ms % 1000) * 1000000L;
		nanosleep(&ts, NULL);
		if (atomic_load(&srv->stop) || srv_refs_signature(srv->store) == srv->ix->signature)
			continue;
		if (srv_index_build(srv->store, srv->all, &fresh, &err) != FY_OK) {
			errlog(srv, "index refresh failed: %s", err.msg);
			continue;
		}
		pthread_rwlock_wrlock(&srv->lock);
		old = srv->ix;
		srv->ix = fresh;
		pthread_rwlock_unlock(&srv->lock);
		srv_index_free(old);
	}
	return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Start and stop                                                                             */

static int parse_listen(const char *listen, struct sockaddr_storage *ss, bool *v6,
			struct fy_err *err)
{
	char host[256];
	const char *colon = strrchr(listen, ':');
	long port;
	char *end;

	memset(ss, 0, sizeof(*ss));
	if (colon == NULL || (size_t)(colon - listen) >= sizeof(host))
		return fy_err_set(err, FY_EINVAL, "--listen '%s': ADDR:PORT expected", listen);
	snprintf(host, sizeof(host), "%.*s", (int)(colon - listen), listen);
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port < 0 || port > 65535)
		return fy_err_set(err, FY_EINVAL, "--listen '%s': bad port", listen);
	*v6 = host[0] == '[';
	if (*v6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		host[strlen(host) - 1] = '\0';
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1)
			return fy_err_set(err, FY_EINVAL, "--listen '%s': bad address", listen);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			return fy_err_set(err, FY_EINVAL, "--listen '%s': bad address", listen);
	}
	return FY_OK;
}

static int start_daemon(struct fy_server *srv, const struct fy_serve_opts *o, struct fy_err *err)
{
	struct sockaddr_storage ss;
	const union MHD_DaemonInfo *info;
	unsigned flags =
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
	bool v6 = false;
	int rc;

	rc = parse_listen(o->listen ? o->listen : "127.0.0.1:8080", &ss, &v6, err);
	if (rc != FY_OK)
		return rc;
	if (v6)
		flags |= MHD_USE_IPv6;
	srv->d = MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, srv,
		/* first, or libmicrohttpd says so on stderr through its own logger */
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv, MHD_OPTION_SOCK_ADDR,
		(struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE,
		(unsigned)(o->threads > 0 ? o->threads : 4), MHD_OPTION_CONNECTION_LIMIT,
		(unsigned)(o->max_connections ? o->max_connections : 1024),
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(o->timeout_s ? o->timeout_s : 30),
		MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		(size_t)(16 * 1024), /* headers + URL; larger pools cost a memset each request */
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_UNESCAPE_CALLBACK,
		unescape, srv, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, MHD_OPTION_END);
	if (srv->d == NULL)
		return fy_err_sys(err, FY_EIO, "cannot listen on %s",
				  o->listen ? o->listen : "127.0.0.1:8080");
	info = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info ? info->port : 0;
	return FY_OK;
}

/* --objects-from: a registry (blob URLs under oci://HOST[/PREFIX], one registry repository per
 * served repository, as ferry push names them), or an HTTP base with the store's object layout. */
static int objects_prefix(struct fy_server *srv, const char *from, struct fy_err *err)
{
	char buf[1024];
	const size_t n = strlen(from);
	if (n > 900 || strpbrk(from, " \t\r\n\"<>") != NULL)
		return fy_err_set(err, FY_EINVAL, "--objects-from: '%s' is not a usable URL", from);
	if (strncmp(from, "oci://", 6) == 0) {
		/* checked as a reference to PREFIX/x would be, so that host and prefix get push's
		 * rules */
		char probe[1024];
		struct fy_oci_ref ref;
		snprintf(probe, sizeof(probe), "%.*s/x", (int)(n - (from[n - 1] == '/')), from);
		if (fy_oci_ref_parse(probe, false, &ref, err) != FY_OK)
			return fy_err_set(err, FY_EINVAL,
					  "--objects-from: '%s' is not oci://HOST[/PREFIX]", from);
		ref.name[strlen(ref.name) - 1] = '\0'; /* "PREFIX/" or "" */
		snprintf(buf, sizeof(buf), "%s://%s/v2/%s", ref.scheme, ref.host, ref.name);
		srv->objects_oci = true;
	} else if (strncmp(from, "http://", 7) == 0 || strncmp(from, "https://", 8) == 0) {
		snprintf(buf, sizeof(buf), "%.*s/sha256/", (int)(n - (from[n - 1] == '/')), from);
	} else {
		return fy_err_set(
			err, FY_EINVAL,
			"--objects-from: '%s' is neither oci://HOST[/PREFIX] nor an HTTP(S) "
			"URL",
			from);
	}
	srv->objects = strdup(buf);
	return srv->objects != NULL ? FY_OK : fy_err_set(err, FY_ENOMEM, "out of memory");
}

int fy_serve_start(struct fy_server **out, struct fy_store *s, const struct fy_serve_opts *o,
		   struct fy_err *err)
{
	struct fy_server *srv = calloc(1, sizeof(*srv));
	int rc;

	if (srv == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	srv->store = s;
	srv->log = o->access_log;
	srv->errlog = o->log_fn;
	srv->ctx = o->ctx;
	srv->refresh_ms = o->refresh_ms ? o->refresh_ms : 1000;
	srv->all = o->all;
	if (o->objects_from != NULL) {
		rc = objects_prefix(srv, o->objects_from, err);
		if (rc != FY_OK) {
			free(srv);
			return rc;
		}
	}
	pthread_rwlock_init(&srv->lock, NULL);
	pthread_mutex_init(&srv->log_mu, NULL);
	srv_cache_init(&srv->cache);
	srv->tokens_path = o->tokens_path ? strdup(o->tokens_path) : NULL;
	rc = srv_access_load(&srv->access, srv->tokens_path, err);
	if (rc == FY_OK)
		rc = srv_index_build(s, o->all, &srv->ix, err);
	if (rc == FY_OK)
		rc = start_daemon(srv, o, err);
	if (rc == FY_OK && pthread_create(&srv->refresher, NULL, refresher, srv) == 0)
		srv->refresher_started = true;
	if (rc != FY_OK) {
		fy_serve_stop(srv, 0);
		return rc;
	}
	*out = srv;
	return FY_OK;
}

uint16_t fy_serve_port(const struct fy_server *srv)
{
	return srv->port;
}

int fy_serve_reload_tokens(struct fy_server *srv, struct fy_err *err)
{
	struct srv_access fresh;
	int rc = srv_access_load(&fresh, srv->tokens_path, err);

	if (rc != FY_OK)
		return rc; /* the old rules stay */
	pthread_rwlock_wrlock(&srv->lock);
	srv_access_release(&srv->access);
	srv->access = fresh;
	pthread_rwlock_unlock(&srv->lock);
	return FY_OK;
}

void fy_serve_stop(struct fy_server *srv, unsigned drain_seconds)
{
	struct timespec ts = { 0, 50000000L };
	unsigned waited = 0;
	MHD_socket fd;

	if (srv == NULL)
		return;
	if (srv->d != NULL) {
		fd = MHD_quiesce_daemon(srv->d); /* no new connections */
		if (fd != MHD_INVALID_SOCKET)
			close(fd);
		while (atomic_load(&srv->in_flight) > 0 && waited < drain_seconds * 20) {
			nanosleep(&ts, NULL);
			waited++;
		}
		MHD_stop_daemon(srv->d);
	}
	atomic_store(&srv->stop, true);
	if (srv->refresher_started)
		pthread_join(srv->refresher, NULL);
	srv_index_free(srv->ix);
	srv_access_release(&srv->access);
	srv_cache_release(&srv->cache);
	pthread_rwlock_destroy(&srv->lock);
	pthread_mutex_destroy(&srv->log_mu);
	free(srv->tokens_path);
	free(srv->objects);
	free(srv);
}
