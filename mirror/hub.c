/*
 * The hub client (libcurl; mirror/oci.c, the registry client, is its other user) and `ferry
 * clone`: list a revision (E1, E2 with Link paging), download the selected files in parallel on
 * the multi interface into tmp/, verify each against the listing (SHA-256 for LFS files, git blob
 * id for the others) before it becomes an object, and commit the revision under the hub's commit
 * id. The same engine fetches an OCI registry's blobs by digest (fy_clone_opts.blob_url).
 *
 * Small files go whole; large ones in byte ranges written into a partial file with a resume
 * journal, their finished prefix hashed in the background while the rest arrives
 * (mirror/prefix_hash.c). Retries with backoff on transient failures, one retry from scratch on
 * a bad digest (docs/CLONE.md).
 */
#include "mirror/mirror_private.h"

#include <ctype.h>
#include <errno.h>
#include <curl/curl.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_LISTING (64u << 20)
#define MAX_FILES 1000000
#define MAX_PAGES 100000
#define MAX_FILE_SIZE (1ull << 50)

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

/* One connection cache (with DNS answers and TLS sessions) for every request of the process:
 * the listing, the transfers and the next repository of a sync reuse the same connections. */
static CURLSH *curl_share;
static pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];

static void share_lock(CURL *c, curl_lock_data data, curl_lock_access how, void *ctx)
{
	(void)c, (void)how, (void)ctx;
	pthread_mutex_lock(&share_mu[data]);
}

static void share_unlock(CURL *c, curl_lock_data data, void *ctx)
{
	(void)c, (void)ctx;
	pthread_mutex_unlock(&share_mu[data]);
}

static void curl_setup(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&share_mu[i], NULL);
	curl_share = curl_share_init();
	if (curl_share == NULL)
		return; /* each request connects on its own */
	curl_share_setopt(curl_share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(curl_share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(curl_share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	curl_share_setopt(curl_share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(curl_share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
}

struct remote_file {
	char *path;
	uint64_t size;
	uint8_t oid[FY_SHA1_LEN]; /* the tree's blob id (the LFS pointer's for LFS files) */
	bool lfs;
	uint8_t sha256[FY_SHA256_LEN]; /* LFS files: from the listing; others: once hashed */
	char tmp[4200];
	char journal[4220]; /* ranged files: the finished ranges */
	int fd;		    /* ranged files: the partial file, shared by its ranges */
	size_t n_chunks, chunks_left;
	uint64_t got; /* bytes of finished (or resumed) ranges, for progress */
	int attempts; /* bad digests (one retry from scratch) */
	bool done;
	bool pinned; /* sha256 known from a signed manifest: checked for every file */
};

#define RETRY_BASE_MS 500
#define RETRY_CAP_MS 30000

void fy_http_init(void)
{
	pthread_once(&curl_once, curl_setup);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Exponential backoff with jitter (attempt 1: 0.5-1 s, doubling, capped at 30 s), or the
 * server's Retry-After when it gave one. */
static int64_t backoff_ms(int attempt, long retry_after_s)
{
	int64_t ms = RETRY_BASE_MS;
	int i;

	if (retry_after_s > 0)
		return retry_after_s > 3600 ? 3600000 : retry_after_s * 1000;
	for (i = 1; i < attempt && ms < RETRY_CAP_MS; i++)
		ms *= 2;
	if (ms > RETRY_CAP_MS)
		ms = RETRY_CAP_MS;
	return ms + (int64_t)(rand() % (int)(ms / 2 + 1));
}

/* Worth another try: connection trouble, timeouts, 5xx and 429; not 4xx answers. */
static bool transient(CURLcode cc, long status)
{
	if (cc == CURLE_HTTP_RETURNED_ERROR || cc == CURLE_OK)
		return status >= 500 || status == 429 || status == 408;
	return cc == CURLE_COULDNT_CONNECT || cc == CURLE_RECV_ERROR || cc == CURLE_SEND_ERROR ||
	       cc == CURLE_PARTIAL_FILE || cc == CURLE_OPERATION_TIMEDOUT ||
	       cc == CURLE_GOT_NOTHING || cc == CURLE_COULDNT_RESOLVE_HOST ||
	       cc == CURLE_SSL_CONNECT_ERROR || cc == CURLE_HTTP2 || cc == CURLE_HTTP2_STREAM;
}

struct listing {
	char commit[FY_REV_ID_LEN + 1];
	struct remote_file *files;
	size_t n;
};

static void listing_free(struct listing *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->files[i].path);
	free(l->files);
}

/* ------------------------------------------------------------------------------------------ */
/* HTTP                                                                                       */

struct body {
	struct fy_buf buf;
	struct fy_hub_header h;
};

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
	struct body *b = arg;
	size_t n = size * nmemb;

	if (b->buf.len + n > MAX_LISTING || fy_buf_append(&b->buf, p, n, NULL) != FY_OK)
		return 0;
	return n;
}

/* A Retry-After value, delta-seconds or an HTTP-date, as seconds from now (0: none). */
static long retry_after_s(const char *v)
{
	if (*v >= '0' && *v <= '9') {
		const long s = strtol(v, NULL, 10); /* LONG_MAX on overflow; the backoff caps it */
		return s > 0 ? s : 0;
	}
	const time_t at = curl_getdate(v, NULL), now = time(NULL);
	return at != (time_t)-1 && at > now ? (long)(at - now) : 0;
}

/* The target of the link with rel="next" in a Link value ("<url>; rel=\"next\", <url>; ..."). */
static void link_next(char *v, struct fy_hub_header *h)
{
	char *lt;
	while ((lt = strchr(v, '<')) != NULL) {
		char *gt = strchr(lt, '>');
		if (gt == NULL)
			return;
		*gt = '\0';
		char *params = gt + 1, *end = strchr(params, '<');
		if (end != NULL)
			*end = '\0';
		if (strstr(params, "rel=\"next\"") != NULL || strstr(params, "rel=next") != NULL) {
			if ((size_t)(gt - lt) > sizeof(h->next))
				h->too_long = true;
			else
				snprintf(h->next, sizeof(h->next), "%s", lt + 1);
			return;
		}
		if (end == NULL)
			return;
		*end = '<';
		v = end;
	}
}

void fy_hub_header_line(const char *p, size_t n, struct fy_hub_header *h)
{
	char line[FY_HUB_URL_MAX + 256];
	if (n >= sizeof(line)) {
		/* no header ferry reads is this long, but a next page must not be lost */
		h->too_long = h->too_long || (n > 5 && strncasecmp(p, "Link:", 5) == 0);
		return;
	}
	memcpy(line, p, n);
	while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == '\n'))
		n--;
	line[n] = '\0';
	char *colon = strchr(line, ':');
	if (colon == NULL)
		return;
	*colon = '\0';
	char *v = colon + 1 + strspn(colon + 1, " \t");
	if (strcasecmp(line, "Link") == 0) {
		link_next(v, h);
	} else if (strcasecmp(line, "Retry-After") == 0) {
		h->retry_after = retry_after_s(v);
	} else if (strcasecmp(line, "X-Error-Code") == 0) {
		/* an error name goes into messages: letters, digits, '-' and '_' only */
		size_t k = 0;
		for (; v[k] != '\0' && k + 1 < sizeof(h->error_code); k++)
			h->error_code[k] =
				(char)(isalnum((unsigned char)v[k]) || v[k] == '-' || v[k] == '_'
					       ? v[k]
					       : '?');
		h->error_code[k] = '\0';
	}
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *arg)
{
	struct body *b = arg;
	const size_t n = size * nmemb;
	fy_hub_header_line(p, n, &b->h);
	return n;
}

static void common_opts(CURL *c, const struct fy_clone_opts *o)
{
	curl_easy_setopt(c, CURLOPT_USERAGENT, "ferry/" FY_VERSION);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
	/* a transfer without a byte for stall_s seconds fails (and is tried again) */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)(o->stall_s > 0 ? o->stall_s : 60));
	curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "identity");
	if (curl_share != NULL)
		curl_easy_setopt(c, CURLOPT_SHARE, curl_share);
	if (o->ca_bundle != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_bundle);
	if (o->token != NULL && o->token[0] != '\0') {
		/* libcurl's own bearer auth: never sent to another host after a redirect */
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
		curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, o->token);
	} else if (o->username != NULL) {
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
		curl_easy_setopt(c, CURLOPT_USERNAME, o->username);
		curl_easy_setopt(c, CURLOPT_PASSWORD, o->password ? o->password : "");
	}
}

static int http_get(const char *url, const struct fy_clone_opts *o, struct body *b, long *status,
		    struct fy_err *err)
{
	CURL *c = curl_easy_init();
	char ebuf[CURL_ERROR_SIZE] = "";
	CURLcode cc;

	if (c == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	common_opts(c, o);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, b);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_easy_cleanup(c);
	if (cc != CURLE_OK)
		return fy_err_set(err, FY_ENET, "%s: %s", url,
				  ebuf[0] ? ebuf : curl_easy_strerror(cc));
	return FY_OK;
}

/* http_get, tried again (with backoff) after connection errors, timeouts, 5xx and 429. */
static int http_get_retry(const char *url, const struct fy_clone_opts *o, struct body *b,
			  long *status, struct fy_err *err)
{
	int attempt = 0;
	int rc;

	for (;;) {
		b->buf.len = 0;
		b->h = (struct fy_hub_header){ 0 };
		*status = 0;
		rc = http_get(url, o, b, status, err);
		if ((rc == FY_OK && !transient(CURLE_OK, *status)) ||
		    (rc != FY_OK && rc != FY_ENET) || ++attempt > o->retries)
			return rc;
		{
			int64_t ms = backoff_ms(attempt, b->h.retry_after);
			struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

			nanosleep(&ts, NULL);
		}
	}
}

static char *escape(const char *s, bool keep_slash)
{
	char *e = curl_easy_escape(NULL, s, 0);
	char *out;
	size_t i, o = 0;

	if (e == NULL || !keep_slash)
		return e;
	out = malloc(strlen(e) + 1);
	for (i = 0; out != NULL && e[i] != '\0'; i++) {
		if (strncmp(e + i, "%2F", 3) == 0) {
			out[o++] = '/';
			i += 2;
		} else {
			out[o++] = e[i];
		}
	}
	if (out != NULL)
		out[o] = '\0';
	curl_free(e);
	return out;
}

/* ------------------------------------------------------------------------------------------ */
/* Listing                                                                                    */

static const char *api_kind(const char *repo)
{
	return strncmp(repo, "datasets/", 9) == 0 ? "datasets" : "models";
}

static const char *bare(const char *repo)
{
	return strncmp(repo, "datasets/", 9) == 0 ? repo + 9 : repo;
}

static int http_error(long status, const struct body *b, const char *what, struct fy_err *err)
{
	if (status == 401 || status == 403)
		return fy_err_set(err, FY_ENET,
				  "%s: access denied (HTTP %ld%s%s); a token? (--token, "
				  "HF_TOKEN)",
				  what, status, b->h.error_code[0] ? ": " : "", b->h.error_code);
	if (status == 404)
		return fy_err_set(err, FY_ENOTFOUND, "%s: not found (%s)", what,
				  b->h.error_code[0] ? b->h.error_code : "HTTP 404");
	return fy_err_set(err, FY_ENET, "%s: HTTP %ld", what, status);
}

static int fetch_commit(const char *repo, const struct fy_clone_opts *o, struct listing *l,
			struct fy_err *err)
{
	struct body b = { 0 };
	struct fy_json *j = NULL;
	char url[8192];
	char *rev = escape(o->rev && o->rev[0] ? o->rev : "main", false);
	const char *sha;
	long status = 0;
	int rc;

	fy_buf_init(&b.buf);
	snprintf(url, sizeof(url), "%s/api/%s/%s/revision/%s", o->endpoint, api_kind(repo),
		 bare(repo), rev ? rev : "main");
	curl_free(rev);
	FY_TRY(rc, http_get_retry(url, o, &b, &status, err));
	if (status != 200) {
		rc = http_error(status, &b, repo, err);
		goto out;
	}
	FY_TRY(rc, fy_json_parse(&j, b.buf.data, b.buf.len, url, err));
	sha = fy_json_str(fy_json_get(j, "sha"));
	if (sha == NULL || !fy_is_rev_id(sha)) {
		rc = fy_err_set(err, FY_EFORMAT, "%s: no 40-hex 'sha' in the revision info", url);
		goto out;
	}
	memcpy(l->commit, sha, FY_REV_ID_LEN + 1);
out:
	fy_json_free(j);
	fy_buf_release(&b.buf);
	return rc;
}

static bool selected(const char *path, const struct fy_clone_opts *o)
{
	size_t i;
	bool in = o->n_include == 0;

	for (i = 0; i < o->n_include; i++)
		in = in || fnmatch(o->include[i], path, 0) == 0;
	for (i = 0; in && i < o->n_exclude; i++)
		in = fnmatch(o->exclude[i], path, 0) != 0;
	return in;
}

static int add_entry(struct listing *l, const struct fy_json *e, const char *url,
		     const struct fy_clone_opts *o, struct fy_err *err)
{
	const char *path = fy_json_str(fy_json_get(e, "path"));
	const char *oid = fy_json_str(fy_json_get(e, "oid"));
	const struct fy_json *lfs = fy_json_get(e, "lfs");
	struct remote_file *f;
	int64_t size = -1;

	if (fy_json_str(fy_json_get(e, "type")) == NULL ||
	    strcmp(fy_json_str(fy_json_get(e, "type")), "file") != 0)
		return FY_OK;
	if (path == NULL || !fy_repo_path_ok(path))
		return fy_err_set(err, FY_EFORMAT,
				  "%s: refusing a file name the listing gives ('%s')", url,
				  path ? path : "?");
	if (!fy_json_int(fy_json_get(e, "size"), &size) || size < 0 ||
	    (uint64_t)size > MAX_FILE_SIZE || oid == NULL || strlen(oid) != 40)
		return fy_err_set(err, FY_EFORMAT, "%s: bad size or oid for '%s'", url, path);
	if (!selected(path, o))
		return FY_OK;
	if (l->n >= MAX_FILES)
		return fy_err_set(err, FY_EFORMAT, "%s: more than %u files", url, MAX_FILES);
	f = &l->files[l->n];
	memset(f, 0, sizeof(*f));
	f->size = (uint64_t)size;
	if (!fy_unhex(oid, f->oid, FY_SHA1_LEN))
		return fy_err_set(err, FY_EFORMAT, "%s: bad oid for '%s'", url, path);
	if (lfs != NULL) {
		const char *sha = fy_json_str(fy_json_get(lfs, "oid"));
		int64_t lsize = -1;

		if (sha == NULL || strlen(sha) != 64 || !fy_unhex(sha, f->sha256, FY_SHA256_LEN) ||
		    !fy_json_int(fy_json_get(lfs, "size"), &lsize) || lsize != size)
			return fy_err_set(err, FY_EFORMAT, "%s: bad lfs object for '%s'", url,
					  path);
		f->lfs = true;
	}
	f->path = strdup(path);
	if (f->path == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	l->n++;
	return FY_OK;
}

static int add_page(struct listing *l, const struct fy_json *arr, const char *url,
		    const struct fy_clone_opts *o, struct fy_err *err)
{
	size_t i;
	size_t cap = l->n + fy_json_size(arr) + 1;
	struct remote_file *p;
	int rc = FY_OK;

	if (fy_json_type(arr) != FY_JSON_ARRAY)
		return fy_err_set(err, FY_EFORMAT, "%s: the tree listing is not an array", url);
	p = realloc(l->files, cap * sizeof(*p));
	if (p == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	l->files = p;
	for (i = 0; rc == FY_OK && i < fy_json_size(arr); i++)
		rc = add_entry(l, fy_json_at(arr, i), url, o, err);
	return rc;
}

static int cmp_path(const void *a, const void *b)
{
	return strcmp(((const struct remote_file *)a)->path, ((const struct remote_file *)b)->path);
}

/* Sorts the listing by path and refuses a path named twice. */
static int no_twice(struct listing *l, const char *repo, struct fy_err *err)
{
	if (l->n == 0)
		return FY_OK;
	qsort(l->files, l->n, sizeof(*l->files), cmp_path);
	for (size_t i = 1; i < l->n; i++) {
		if (strcmp(l->files[i - 1].path, l->files[i].path) == 0)
			return fy_err_set(err, FY_EFORMAT, "the listing of %s names '%s' twice",
					  repo, l->files[i].path);
	}
	return FY_OK;
}

/* The listing's next page (Link rel="next"), resolved against the page's URL, replaces url ("" when
 * there is none). It must be on the endpoint's scheme, host and port, since the token goes with
 * it, and must not be the page itself. */
static int next_page(const char *endpoint, char *url, size_t cap, const struct fy_hub_header *h,
		     struct fy_err *err)
{
	static const CURLUPart origin[] = { CURLUPART_SCHEME, CURLUPART_HOST, CURLUPART_PORT };
	CURLU *u = curl_url(), *e = curl_url();
	char *next = NULL;
	int rc = FY_OK;

	if (h->too_long)
		rc = fy_err_set(err, FY_EFORMAT, "%s: the next-page link is too long", url);
	else if (h->next[0] == '\0')
		url[0] = '\0';
	if (rc != FY_OK || h->next[0] == '\0')
		goto out;
	bool ok = u != NULL && e != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
		  curl_url_set(u, CURLUPART_URL, h->next, 0) == CURLUE_OK &&
		  curl_url_set(e, CURLUPART_URL, endpoint, 0) == CURLUE_OK &&
		  curl_url_get(u, CURLUPART_URL, &next, 0) == CURLUE_OK && strlen(next) < cap;
	for (size_t i = 0; ok && i < sizeof(origin) / sizeof(origin[0]); i++) {
		char *a = NULL, *b = NULL;
		ok = curl_url_get(u, origin[i], &a, CURLU_DEFAULT_PORT) == CURLUE_OK &&
		     curl_url_get(e, origin[i], &b, CURLU_DEFAULT_PORT) == CURLUE_OK &&
		     strcasecmp(a, b) == 0;
		curl_free(a);
		curl_free(b);
	}
	if (!ok)
		rc = fy_err_set(err, FY_EFORMAT,
				"%s: the next page of the listing is not a URL on %s (refused: "
				"the token would go with it)",
				url, endpoint);
	else if (strcmp(next, url) == 0)
		rc = fy_err_set(err, FY_EFORMAT, "%s: the next page of the listing is itself", url);
	else
		snprintf(url, cap, "%s", next);
out:
	curl_free(next);
	curl_url_cleanup(u);
	curl_url_cleanup(e);
	return rc;
}

static int fetch_tree(const char *repo, const struct fy_clone_opts *o, struct listing *l,
		      struct fy_err *err)
{
	char url[FY_HUB_URL_MAX]; /* a next-page link replaces it */
	struct body b;
	struct fy_json *j = NULL;
	long status = 0;
	int pages = 0;
	int rc = FY_OK;

	snprintf(url, sizeof(url), "%s/api/%s/%s/tree/%s?recursive=true&expand=false", o->endpoint,
		 api_kind(repo), bare(repo), l->commit);
	while (rc == FY_OK && url[0] != '\0') {
		if (++pages > MAX_PAGES)
			return fy_err_set(err, FY_EFORMAT,
					  "the listing of %s has more than %d pages", repo,
					  MAX_PAGES);
		memset(&b, 0, sizeof(b));
		rc = http_get_retry(url, o, &b, &status, err);
		if (rc == FY_OK && status != 200)
			rc = http_error(status, &b, url, err);
		if (rc == FY_OK)
			rc = fy_json_parse(&j, b.buf.data, b.buf.len, url, err);
		if (rc == FY_OK)
			rc = add_page(l, j, url, o, err);
		if (rc == FY_OK)
			rc = next_page(o->endpoint, url, sizeof(url), &b.h, err);
		fy_json_free(j);
		j = NULL;
		fy_buf_release(&b.buf);
	}
	return rc == FY_OK ? no_twice(l, repo, err) : rc;
}

int fy_hub_listing_page(const char *json, size_t n, size_t *files, struct fy_err *err)
{
	const struct fy_clone_opts o = { 0 };
	struct listing l = { "", NULL, 0 };
	struct fy_json *j = NULL;
	int rc = fy_json_parse(&j, json, n, "page", err);
	if (rc == FY_OK)
		rc = add_page(&l, j, "page", &o, err);
	if (rc == FY_OK)
		rc = no_twice(&l, "page", err);
	*files = l.n;
	fy_json_free(j);
	listing_free(&l);
	return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Transfers                                                                                  */

/*
 * Transfers are tasks: a whole (small) file, or one byte range of a large file. Ranges of a large
 * file are written with pwrite into tmp/partial-<digest>, preallocated to the file's size; each
 * finished range is synced and recorded in tmp/partial-<digest>.journal, so a killed clone
 * resumes with the ranges that are missing (the writer lock keeps partial-* files; fsck notes
 * them).
 */
struct task {
	size_t file;
	int chunk; /* -1: the whole file */
	uint64_t off, len;
	int net_failures;
	int64_t not_before; /* monotonic ms: retry no earlier */
};

struct dl {
	CURL *c;
	size_t task;
	int fd;
	uint64_t pos, end;
	long retry_after; /* seconds, from the answer's Retry-After */
	int write_errno;  /* why writing the data failed (a full disk): not the network's fault */
	char errbuf[CURL_ERROR_SIZE];
};

struct fetch {
	struct fy_store *s;
	const char *repo;
	const struct fy_clone_opts *o;
	struct listing *l;
	struct fy_clone_stats *st;
	struct task *tasks;
	size_t n_tasks, cap_tasks;
	size_t *queue; /* task indices */
	size_t q_head, q_tail, q_cap;
	struct dl **inflight; /* by task index */
	uint64_t total, done;
	struct fy_prefix_hash *ph;	/* ranged files hashed while they download */
	size_t files_total, files_done; /* files to transfer (not reused), and adopted */
	int64_t last_view;		/* monotonic ms of the last transfer report */
	struct fy_adoption *pending;	/* verified whole files, moved into objects/ in batches */
	size_t n_pending;
};

/* Whole files verified but not in objects/ yet: moved with two file system syncs per batch. */
#define ADOPT_BATCH 256

static size_t dl_header(char *p, size_t size, size_t nmemb, void *arg)
{
	struct dl *d = arg;
	const size_t n = size * nmemb;

	/* only Retry-After matters here: the other lines skip the parser's copy */
	if (n > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
		struct fy_hub_header h = { 0 };

		fy_hub_header_line(p, n, &h);
		if (h.retry_after > 0)
			d->retry_after = h.retry_after;
	}
	return n;
}

static size_t dl_write(char *p, size_t size, size_t nmemb, void *arg)
{
	struct dl *d = arg;
	size_t n = size * nmemb;
	size_t off = 0;
	ssize_t w;

	if (n > d->end - d->pos)
		return 0; /* more than asked for: abort the transfer */
	while (off < n) {
		w = pwrite(d->fd, p + off, n - off, (off_t)(d->pos + off));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			d->write_errno = w < 0 ? errno : EIO;
			return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
		}
		off += (size_t)w;
	}
	d->pos += n;
	return n;
}

static uint64_t range_size(const struct fy_clone_opts *o)
{
	return (uint64_t)(o->range_mb > 0 ? o->range_mb : 32) << 20;
}

static int queue_task(struct fetch *fx, size_t file, int chunk, uint64_t off, uint64_t len,
		      struct fy_err *err)
{
	if (fx->n_tasks == fx->cap_tasks) {
		size_t cap = fx->cap_tasks ? fx->cap_tasks * 2 : 64;
		struct task *t = realloc(fx->tasks, cap * sizeof(*t));
		/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
		struct dl **in = t ? realloc(fx->inflight, cap * sizeof(*in)) : NULL;

		if (t != NULL)
			fx->tasks = t;
		if (in == NULL)
			return fy_err_set(err, FY_ENOMEM, "out of memory");
		/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
		memset(in + fx->cap_tasks, 0, (cap - fx->cap_tasks) * sizeof(*in));
		fx->inflight = in;
		fx->cap_tasks = cap;
	}
	if (fx->q_tail == fx->q_cap) {
		size_t cap = fx->q_cap ? fx->q_cap * 2 : 64;
		size_t *q = realloc(fx->queue, cap * sizeof(*q));

		if (q == NULL)
			return fy_err_set(err, FY_ENOMEM, "out of memory");
		fx->queue = q;
		fx->q_cap = cap;
	}
	fx->tasks[fx->n_tasks] = (struct task){ file, chunk, off, len, 0, 0 };
	fx->queue[fx->q_tail++] = fx->n_tasks++;
	return FY_OK;
}

static void requeue(struct fetch *fx, size_t task)
{
	if (fx->q_tail == fx->q_cap && fx->q_head > 0) { /* compact */
		memmove(fx->queue, fx->queue + fx->q_head,
			(fx->q_tail - fx->q_head) * sizeof(size_t));
		fx->q_tail -= fx->q_head;
		fx->q_head = 0;
	}
	if (fx->q_tail < fx->q_cap)
		fx->queue[fx->q_tail++] = task;
}

/* ------------------------------------------------------------------------------------------ */

static void partial_names(struct fetch *fx, struct remote_file *f)
{
	char hex[2 * FY_SHA256_LEN + 1];

	if (f->lfs)
		fy_hex(f->sha256, FY_SHA256_LEN, hex);
	else
		fy_hex(f->oid, FY_SHA1_LEN, hex);
	snprintf(f->tmp, sizeof(f->tmp), "%s/tmp/partial-%s", fy_store_dir(fx->s), hex);
	snprintf(f->journal, sizeof(f->journal), "%s.journal", f->tmp);
}

/* Chunks the journal says are done (in a bitmap), when the partial file has the right size. */
static void read_journal(struct remote_file *f, bool *done)
{
	struct fy_buf b;
	struct fy_err err;
	char *p, *save = NULL;

	fy_buf_init(&b);
	if (fy_file_read(f->journal, 1u << 20, &b, &err) == FY_OK && b.data != NULL) {
		for (p = strtok_r((char *)b.data, "\n", &save); p != NULL;
		     p = strtok_r(NULL, "\n", &save)) {
			long c = strtol(p, NULL, 10);

			if (c >= 0 && (size_t)c < f->n_chunks)
				done[c] = true;
		}
	}
	fy_buf_release(&b);
}

static int complete_file(struct fetch *fx, size_t file, struct fy_err *err);

/* Opens (or resumes) the partial file of a large file and queues its missing ranges. */
static int plan_ranges(struct fetch *fx, size_t i, struct fy_err *err)
{
	struct remote_file *f = &fx->l->files[i];
	uint64_t rs = range_size(fx->o);
	struct stat st;
	bool *done;
	size_t c;
	int rc = FY_OK;

	partial_names(fx, f);
	f->n_chunks = (size_t)((f->size + rs - 1) / rs);
	done = calloc(f->n_chunks, sizeof(*done));
	f->fd = open(f->tmp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (done == NULL || f->fd < 0) {
		free(done);
		return fy_err_sys(err, FY_EIO, "cannot open '%s'", f->tmp);
	}
	if (fstat(f->fd, &st) == 0 && (uint64_t)st.st_size == f->size)
		read_journal(f, done); /* resume */
	else if (ftruncate(f->fd, (off_t)f->size) != 0 || truncate(f->journal, 0) != 0)
		unlink(f->journal);
	posix_fallocate(f->fd, 0, (off_t)f->size);
	f->chunks_left = 0;
	for (c = 0; rc == FY_OK && c < f->n_chunks; c++) {
		uint64_t off = (uint64_t)c * rs;
		uint64_t len = f->size - off < rs ? f->size - off : rs;

		if (done[c]) {
			fx->st->bytes_resumed += len;
			fx->done += len;
			f->got += len;
			continue;
		}
		f->chunks_left++;
		rc = queue_task(fx, i, (int)c, off, len, err);
	}
	if (rc == FY_OK && fx->ph != NULL)
		rc = fy_prefix_hash_file(fx->ph, i, f->tmp, f->size, rs,
					 f->lfs ? FY_HASH_SHA256_ONLY : 0, done, f->n_chunks, err);
	free(done);
	/* killed after its last range but before it was adopted: nothing left to fetch */
	if (rc == FY_OK && f->chunks_left == 0)
		rc = complete_file(fx, i, err);
	return rc;
}

static int plan_file(struct fetch *fx, size_t i, struct fy_err *err)
{
	struct remote_file *f = &fx->l->files[i];
	static atomic_uint counter;

	f->fd = -1;
	f->got = 0;
	if (f->attempts == 0) /* not a second try from scratch */
		fx->files_total++;
	if (f->size >= (uint64_t)(fx->o->ranged_min_mb > 0 ? fx->o->ranged_min_mb : 64) << 20)
		return plan_ranges(fx, i, err);
	snprintf(f->tmp, sizeof(f->tmp), "%s/tmp/dl-%ld-%u", fy_store_dir(fx->s), (long)getpid(),
		 atomic_fetch_add(&counter, 1));
	f->journal[0] = '\0';
	f->n_chunks = 1;
	f->chunks_left = 1;
	return queue_task(fx, i, -1, 0, f->size, err);
}

static int start_task(struct fetch *fx, CURLM *m, size_t ti, struct fy_err *err)
{
	struct task *t = &fx->tasks[ti];
	struct remote_file *f = &fx->l->files[t->file];
	struct dl *d = calloc(1, sizeof(*d));
	char url[12288];
	char range[64];
	char *path = escape(f->path, true);

	if (d == NULL || path == NULL) {
		free(d);
		curl_free(path);
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	}
	if (fx->o->blob_url != NULL) { /* an OCI registry: the blob by its digest */
		char hex[2 * FY_SHA256_LEN + 1];
		fy_hex(f->sha256, FY_SHA256_LEN, hex);
		snprintf(url, sizeof(url), "%ssha256:%s", fx->o->blob_url, hex);
	} else {
		snprintf(url, sizeof(url), "%s/%s%s/resolve/%s/%s", fx->o->endpoint,
			 strncmp(fx->repo, "datasets/", 9) == 0 ? "datasets/" : "", bare(fx->repo),
			 fx->l->commit, path);
	}
	free(path);
	d->task = ti;
	d->pos = t->off;
	d->end = t->off + t->len;
	d->fd = t->chunk >= 0 ? f->fd
			      : open(f->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	d->c = curl_easy_init();
	if (d->fd < 0 || d->c == NULL) {
		curl_easy_cleanup(d->c);
		free(d);
		return fy_err_sys(err, FY_EIO, "cannot create '%s'", f->tmp);
	}
	common_opts(d->c, fx->o);
	curl_easy_setopt(d->c, CURLOPT_URL, url);
	curl_easy_setopt(d->c, CURLOPT_WRITEFUNCTION, dl_write);
	/* large reads: one receive and one pwrite per 1 MiB rather than per 16 KiB (not under a
	 * rate limit, which libcurl keeps only by the buffer: it would come in 1 MiB bursts) */
	if (fx->o->rate_limit <= 0)
		curl_easy_setopt(d->c, CURLOPT_BUFFERSIZE, 1L << 20);
	curl_easy_setopt(d->c, CURLOPT_WRITEDATA, d);
	curl_easy_setopt(d->c, CURLOPT_ERRORBUFFER, d->errbuf);
	curl_easy_setopt(d->c, CURLOPT_PRIVATE, d);
	curl_easy_setopt(d->c, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(d->c, CURLOPT_HEADERFUNCTION, dl_header);
	curl_easy_setopt(d->c, CURLOPT_HEADERDATA, d);
	if (fx->o->rate_limit > 0)
		curl_easy_setopt(d->c, CURLOPT_MAX_RECV_SPEED_LARGE, (curl_off_t)fx->o->rate_limit);
	if (t->chunk >= 0) {
		snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)t->off,
			 (unsigned long long)(t->off + t->len - 1));
		curl_easy_setopt(d->c, CURLOPT_RANGE, range);
	}
	fx->inflight[ti] = d;
	if (curl_multi_add_handle(m, d->c) != CURLM_OK) {
		fx->inflight[ti] = NULL;
		if (t->chunk < 0)
			close(d->fd);
		curl_easy_cleanup(d->c);
		free(d);
		return fy_err_set(err, FY_ENET, "cannot start a transfer");
	}
	return FY_OK;
}

/* Moves the verified whole files waiting into objects/. */
static int adopt_pending(struct fetch *fx, struct fy_err *err)
{
	const int rc = fy_store_adopt_all(fx->s, fx->pending, fx->n_pending, err);
	fx->n_pending = 0;
	return rc;
}

static int defer_adoption(struct fetch *fx, struct remote_file *f, struct fy_err *err)
{
	if (fx->pending == NULL &&
	    (fx->pending = calloc(ADOPT_BATCH, sizeof(*fx->pending))) == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	fx->pending[fx->n_pending++] = (struct fy_adoption){ f->tmp, f->sha256 };
	return fx->n_pending == ADOPT_BATCH ? adopt_pending(fx, err) : FY_OK;
}

/* Checks a complete file against the listing and moves it into objects/. pre: its digests when
 * already computed (ranged files), else NULL. */
static int adopt(struct fetch *fx, struct remote_file *f, const struct fy_digests *pre,
		 struct fy_err *err)
{
	struct fy_digests d;
	int rc = FY_OK;

	if (pre != NULL)
		d = *pre;
	else
		rc = fy_hash_file(f->tmp, f->lfs ? FY_HASH_SHA256_ONLY : 0, &d, err);
	if (rc != FY_OK)
		return rc;
	if (d.size != f->size)
		return fy_err_set(err, FY_EHASH, "'%s': %llu bytes received, the listing says %llu",
				  f->path, (unsigned long long)d.size, (unsigned long long)f->size);
	if (f->lfs ? memcmp(d.sha256, f->sha256, FY_SHA256_LEN) != 0
		   : memcmp(d.git_oid, f->oid, FY_SHA1_LEN) != 0)
		return fy_err_set(err, FY_EHASH, "'%s': content does not match its %s", f->path,
				  f->lfs ? "sha256" : "git blob id");
	if (f->pinned && memcmp(d.sha256, f->sha256, FY_SHA256_LEN) != 0)
		return fy_err_set(err, FY_EHASH, "'%s': content does not match its sha256",
				  f->path);
	memcpy(f->sha256, d.sha256, FY_SHA256_LEN);
	if (f->journal[0] == '\0') /* a whole file (unsynced): with the next batch */
		rc = defer_adoption(fx, f, err);
	else /* a ranged file, its ranges synced as they came */
		rc = fy_store_adopt(fx->s, f->tmp, &d, err);
	if (rc == FY_OK) {
		f->done = true;
		fx->files_done++;
		fx->st->files_fetched++;
		fx->st->bytes_fetched += f->size;
		if (f->journal[0] != '\0')
			unlink(f->journal);
	}
	return rc;
}

/* A range is in: sync it, then record it in the journal (data first, then the claim). */
static int record_chunk(struct remote_file *f, int chunk, struct fy_err *err)
{
	char line[32];
	int n = snprintf(line, sizeof(line), "%d\n", chunk);
	int jfd;
	int rc = FY_OK;

	if (fdatasync(f->fd) != 0)
		return fy_err_sys(err, FY_EIO, "cannot sync '%s'", f->tmp);
	jfd = open(f->journal, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (jfd < 0)
		return fy_err_sys(err, FY_EIO, "cannot open '%s'", f->journal);
	rc = fy_write_all(jfd, line, (size_t)n, f->journal, err);
	if (rc == FY_OK && fdatasync(jfd) != 0)
		rc = fy_err_sys(err, FY_EIO, "cannot sync '%s'", f->journal);
	close(jfd);
	return rc;
}

/* Every range of f is in (or the whole file is): verify; a bad digest starts it over once. */
static int complete_file(struct fetch *fx, size_t file, struct fy_err *err)
{
	struct remote_file *f = &fx->l->files[file];
	struct fy_digests d;
	bool have = false;
	int rc;

	if (f->fd >= 0) {
		close(f->fd);
		f->fd = -1;
	}
	if (f->journal[0] != '\0' && fx->ph != NULL)
		have = fy_prefix_hash_wait(fx->ph, file, &d) == FY_OK;
	rc = adopt(fx, f, have ? &d : NULL, err);
	if (rc == FY_OK) {
		if (fx->o->progress != NULL && fx->o->transfer == NULL)
			fx->o->progress(fx->o->ctx, fx->done, fx->total, f->path);
		return FY_OK;
	}
	unlink(f->tmp);
	if (f->journal[0] != '\0')
		unlink(f->journal);
	if (rc != FY_EHASH || ++f->attempts >= 2)
		return rc;
	fx->st->retries++;
	fx->done -= f->size;
	return plan_file(fx, file, err); /* once more, from scratch */
}

static int finish_one(struct fetch *fx, CURLM *m, CURLMsg *msg, struct fy_err *err)
{
	struct dl *d = NULL;
	struct task *t;
	struct remote_file *f;
	long status = 0, connects = 0, version = 0;
	int rc = FY_OK;

	curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&d);
	curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(msg->easy_handle, CURLINFO_NUM_CONNECTS, &connects);
	curl_easy_getinfo(msg->easy_handle, CURLINFO_HTTP_VERSION, &version);
	fx->st->connections += connects > 0 ? (size_t)connects : 0;
	if (status > 0 && version == CURL_HTTP_VERSION_2_0)
		fx->st->http2 = true;
	t = &fx->tasks[d->task];
	f = &fx->l->files[t->file];
	if (t->chunk < 0)
		close(d->fd);
	if (d->write_errno != 0) { /* no retry: the same disk would refuse the same bytes */
		errno = d->write_errno;
		rc = fy_err_sys(err, FY_EIO, "cannot write '%s'", f->tmp);
	} else if (msg->data.result == CURLE_OK && t->chunk >= 0 && status != 206)
		rc = fy_err_set(err, FY_ENET, "'%s': the server ignored a range request (HTTP %ld)",
				f->path, status);
	else if (msg->data.result == CURLE_OK && d->pos != d->end)
		rc = fy_err_set(err, FY_ENET, "'%s': short answer", f->path);
	else if (msg->data.result != CURLE_OK)
		rc = fy_err_set(err, FY_ENET, "'%s': %s", f->path,
				d->errbuf[0] ? d->errbuf : curl_easy_strerror(msg->data.result));
	if (rc != FY_OK && d->write_errno == 0) {
		bool again = (msg->data.result != CURLE_OK ? transient(msg->data.result, status)
							   : status != 200) &&
			     ++t->net_failures <= fx->o->retries;

		if (again) {
			t->not_before = now_ms() + backoff_ms(t->net_failures, d->retry_after);
			requeue(fx, d->task);
			fx->st->retries++;
			rc = FY_OK;
		}
	} else {
		fx->done += t->len;
		f->got += t->len;
		if (t->chunk >= 0)
			rc = record_chunk(f, t->chunk, err);
		if (rc == FY_OK && t->chunk >= 0 && fx->ph != NULL)
			fy_prefix_hash_range(fx->ph, t->file, (size_t)t->chunk);
		if (rc == FY_OK && --f->chunks_left == 0)
			rc = complete_file(fx, t->file, err);
		else if (rc == FY_OK && fx->o->progress != NULL && fx->o->transfer == NULL)
			fx->o->progress(fx->o->ctx, fx->done, fx->total, f->path);
	}
	fx->inflight[d->task] = NULL;
	curl_multi_remove_handle(m, msg->easy_handle);
	curl_easy_cleanup(msg->easy_handle);
	free(d);
	return rc;
}

/* Takes the first queued task whose retry time has come; else *wait says how long until one. */
static bool pop_due(struct fetch *fx, size_t *out, int64_t *wait)
{
	int64_t now = now_ms();
	size_t i;

	*wait = -1;
	for (i = fx->q_head; i < fx->q_tail; i++) {
		struct task *t = &fx->tasks[fx->queue[i]];

		if (t->not_before <= now) {
			*out = fx->queue[i];
			fx->queue[i] = fx->queue[fx->q_head++];
			return true;
		}
		if (*wait < 0 || t->not_before - now < *wait)
			*wait = t->not_before - now;
	}
	return false;
}

/* Drops every transfer still in flight (after a failure). Partial files of ranged transfers
 * stay for the next run; whole-file temp files go. */
static void drop_all(struct fetch *fx, CURLM *m)
{
	size_t i;

	for (i = 0; i < fx->n_tasks; i++) {
		struct dl *d = fx->inflight[i];

		if (d == NULL)
			continue;
		curl_multi_remove_handle(m, d->c);
		curl_easy_cleanup(d->c);
		if (fx->tasks[i].chunk < 0) {
			close(d->fd);
			unlink(fx->l->files[fx->tasks[i].file].tmp);
		}
		free(d);
		fx->inflight[i] = NULL;
	}
	for (i = 0; i < fx->l->n; i++) {
		if (fx->l->files[i].fd >= 0 && !fx->l->files[i].done)
			close(fx->l->files[i].fd);
		fx->l->files[i].fd = -1;
	}
}

/* Tells the transfer callback where things stand: finished bytes plus what the transfers in
 * flight have written so far, and each file in flight (its ranges summed). view has room for
 * one entry per transfer in flight. */
static void report(struct fetch *fx, struct fy_transfer_file *view, bool final)
{
	struct fy_transfer_view v = { .done = fx->done,
				      .total = fx->total,
				      .files = view,
				      .files_done = fx->files_done,
				      .files_total = fx->files_total,
				      .final = final };
	for (size_t ti = 0; ti < fx->n_tasks && !final; ti++) {
		const struct dl *d = fx->inflight[ti];
		if (d == NULL)
			continue;
		const struct task *t = &fx->tasks[ti];
		const struct remote_file *f = &fx->l->files[t->file];
		const uint64_t part = d->pos > t->off ? d->pos - t->off : 0;
		size_t k = 0;
		v.done += part;
		while (k < v.n_files && view[k].path != f->path)
			k++;
		if (k == v.n_files)
			view[v.n_files++] = (struct fy_transfer_file){ f->path, f->got, f->size };
		view[k].done += part;
	}
	fx->last_view = now_ms();
	fx->o->transfer(fx->o->ctx, &v);
}

static int run_multi(struct fetch *fx, struct fy_err *err)
{
	CURLM *m = curl_multi_init();
	int max = fx->o->jobs > 0 ? fx->o->jobs : 8;
	int active = 0;
	int running = 0;
	int left;
	CURLMsg *msg;
	int rc = FY_OK;

	struct fy_transfer_file *view = calloc((size_t)max + 1, sizeof(*view));
	if (m == NULL || view == NULL) {
		if (m != NULL)
			curl_multi_cleanup(m);
		free(view);
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	}
	curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)max);
	/* HTTP/2 where the server offers it (ALPN), but one transfer per connection at a time:
	 * ranges exist to get parallel TCP streams, and libcurl would stack new transfers onto the
	 * first connection as streams, leaving the others idle. Connections are still reused. */
	curl_multi_setopt(m, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING);
	while (rc == FY_OK && (active > 0 || fx->q_head < fx->q_tail)) {
		int64_t wait = -1;
		size_t next;

		while (rc == FY_OK && active < max && pop_due(fx, &next, &wait)) {
			rc = start_task(fx, m, next, err);
			active += rc == FY_OK;
		}
		if (rc != FY_OK)
			break;
		if (active == 0 && wait > 0) { /* everything waits for a retry time */
			struct timespec ts = { wait / 1000, (wait % 1000) * 1000000L };

			nanosleep(&ts, NULL);
			continue;
		}
		curl_multi_perform(m, &running);
		while (rc == FY_OK && (msg = curl_multi_info_read(m, &left)) != NULL) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			active--;
			rc = finish_one(fx, m, msg, err);
		}
		if (rc == FY_OK && fx->o->transfer != NULL && now_ms() - fx->last_view >= 100)
			report(fx, view, false);
		if (rc == FY_OK && active > 0) /* woken every 100 ms only to report progress */
			curl_multi_poll(m, NULL, 0, fx->o->transfer != NULL ? 100 : 1000, NULL);
	}
	if (rc == FY_OK && fx->o->transfer != NULL)
		report(fx, view, true);
	if (rc == FY_OK) {
		rc = adopt_pending(fx, err);
	} else { /* what was verified is kept for the next run */
		struct fy_err ignored;
		(void)adopt_pending(fx, &ignored);
	}
	drop_all(fx, m);
	curl_multi_cleanup(m);
	free(view);
	return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Commit                                                                                     */

static struct fy_json *hub_origin(const struct fy_clone_opts *o, const struct listing *l)
{
	struct fy_json *j = fy_json_object();
	char when[32];

	fy_now_iso(when); /* $SOURCE_DATE_EPOCH's, as the manifest's created time */
	fy_json_set(j, "kind", fy_json_string("hub"));
	fy_json_set(j, "endpoint", fy_json_string(o->endpoint));
	fy_json_set(j, "revision", fy_json_string(o->rev && o->rev[0] ? o->rev : "main"));
	fy_json_set(j, "commit", fy_json_string(l->commit));
	fy_json_set(j, "fetched", fy_json_string(when));
	return j;
}

static int build_revision(const char *repo, const struct fy_clone_opts *o, const struct listing *l,
			  struct fy_revision *r, struct fy_err *err)
{
	char msg[512];
	char commit[FY_REV_ID_LEN + 1];
	size_t i;

	snprintf(r->repo, sizeof(r->repo), "%s", repo);
	snprintf(msg, sizeof(msg), "clone of %s@%s from %s", bare(repo), l->commit, o->endpoint);
	r->message = strdup(msg);
	r->files = calloc(l->n ? l->n : 1, sizeof(*r->files));
	if (r->message == NULL || r->files == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	for (i = 0; i < l->n; i++) {
		struct fy_file_entry *e = &r->files[i];
		const struct remote_file *f = &l->files[i];

		e->path = strdup(f->path);
		if (e->path == NULL)
			return fy_err_set(err, FY_ENOMEM, "out of memory");
		e->size = f->size;
		e->lfs = f->lfs;
		memcpy(e->sha256, f->sha256, FY_SHA256_LEN);
		memcpy(e->git_oid, f->oid, FY_SHA1_LEN);
		r->n_files++;
		r->total_size += f->size;
	}
	memcpy(r->id, l->commit, sizeof(r->id));
	fy_revision_ids(r->files, r->n_files, "", r->message, r->tree, commit);
	r->origin = hub_origin(o, l);
	fy_now_iso(r->created);
	return FY_OK;
}

/* LFS entries: the listing's oid must be the pointer of its sha256 and size; present objects
 * need no transfer. */
/* A regular file that the repo's current revision has at the same path with the same blob id,
 * its object present: its sha256 comes from that manifest and nothing is fetched (pull fetches
 * only what changed). */
static bool known_blob(const struct fy_revision *prev, struct fetch *fx, struct remote_file *f)
{
	const struct fy_file_entry *e = prev ? fy_revision_find(prev, f->path) : NULL;

	if (e == NULL || e->lfs || e->size != f->size ||
	    memcmp(e->git_oid, f->oid, FY_SHA1_LEN) != 0 || !fy_store_has_object(fx->s, e->sha256))
		return false;
	memcpy(f->sha256, e->sha256, FY_SHA256_LEN);
	return true;
}

static void reuse(struct fetch *fx, struct remote_file *f)
{
	f->done = true;
	fx->done += f->size;
	fx->st->files_reused++;
}

static int plan(struct fetch *fx, const struct fy_revision *prev, struct fy_err *err)
{
	size_t i;

	int rc = FY_OK;

	for (i = 0; i < fx->l->n; i++)
		fx->l->files[i].fd = -1;
	for (i = 0; rc == FY_OK && i < fx->l->n; i++) {
		struct remote_file *f = &fx->l->files[i];
		uint8_t ptr[FY_SHA1_LEN];

		fx->total += f->size;
		if (f->pinned) { /* its sha256 is known: an object present is that file */
			if (fy_store_has_object(fx->s, f->sha256))
				reuse(fx, f);
			else
				rc = plan_file(fx, i, err);
			continue;
		}
		if (!f->lfs && known_blob(prev, fx, f)) {
			reuse(fx, f);
			continue;
		}
		if (!f->lfs) {
			rc = plan_file(fx, i, err);
			continue;
		}
		fy_lfs_pointer_oid(f->sha256, f->size, ptr);
		if (memcmp(ptr, f->oid, FY_SHA1_LEN) != 0)
			return fy_err_set(err, FY_EFORMAT,
					  "'%s': the listing's oid is not the LFS pointer of its "
					  "sha256 and size",
					  f->path);
		if (fy_store_has_object(fx->s, f->sha256))
			reuse(fx, f);
		else
			rc = plan_file(fx, i, err);
	}
	return rc;
}

static int commit_revision(struct fy_store *s, const char *repo, const struct fy_clone_opts *o,
			   const struct listing *l, struct fy_err *err)
{
	struct fy_revision *r = calloc(1, sizeof(*r));
	char ref[256];
	const char *rev = o->rev && o->rev[0] ? o->rev : "main";
	int rc;

	if (r == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	FY_TRY(rc, build_revision(repo, o, l, r, err));
	FY_TRY(rc, fy_store_write_manifest(s, r, err));
	if (fy_is_rev_id(rev) || strcmp(rev, "HEAD") == 0)
		rev = "main";
	snprintf(ref, sizeof(ref), "heads/%s",
		 strncmp(rev, "refs/heads/", 11) == 0 ? rev + 11 : rev);
	rc = fy_store_write_ref(s, repo, ref, l->commit, err);
out:
	fy_revision_free(r);
	return rc;
}

static void fetch_release(struct fetch *fx)
{
	fy_prefix_hash_free(fx->ph);
	free(fx->pending);
	free(fx->queue);
	free(fx->inflight);
	free(fx->tasks);
}

int fy_store_clone(struct fy_store *s, const char *repo, const struct fy_clone_opts *o,
		   char id[FY_REV_ID_LEN + 1], struct fy_clone_stats *st, struct fy_err *err)
{
	struct listing l = { "", NULL, 0 };
	struct fy_revision *prev = NULL;
	char prev_id[FY_REV_ID_LEN + 1];
	struct fetch fx;
	int rc;

	memset(st, 0, sizeof(*st));
	fx = (struct fetch){ .s = s, .repo = repo, .o = o, .l = &l, .st = st };
	pthread_once(&curl_once, curl_setup);
	FY_TRY(rc, fy_repo_check(repo, err));
	FY_TRY(rc, fetch_commit(repo, o, &l, err));
	FY_TRY(rc, fetch_tree(repo, o, &l, err));
	FY_TRY(rc, fy_store_lock(s, o->wait_fn, o->ctx, err));
	if (fy_store_resolve(s, repo, o->rev, prev_id, err) == FY_OK)
		fy_revision_load(s, repo, prev_id, &prev, err); /* unreadable: fetch everything */
	FY_TRY(rc, fy_prefix_hash_new(&fx.ph, l.n, err));
	FY_TRY(rc, plan(&fx, prev, err));
	FY_TRY(rc, run_multi(&fx, err));
	FY_TRY(rc, commit_revision(s, repo, o, &l, err));
	st->files = l.n;
	memcpy(id, l.commit, FY_REV_ID_LEN + 1);
out:
	fetch_release(&fx);
	fy_store_unlock(s);
	fy_revision_free(prev);
	listing_free(&l);
	return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* A ferry mirror: plain GETs, and the files of a manifest it signed                          */

int fy_http_fetch(const char *url, const struct fy_clone_opts *o, size_t max, struct fy_buf *out,
		  struct fy_err *err)
{
	struct body b;
	long status = 0;
	int rc;

	memset(&b, 0, sizeof(b));
	fy_buf_init(&b.buf);
	pthread_once(&curl_once, curl_setup);
	rc = http_get_retry(url, o, &b, &status, err);
	if (rc == FY_OK && status == 404)
		rc = fy_err_set(err, FY_ENOTFOUND, "%s: not found (404)", url);
	else if (rc == FY_OK && status != 200)
		rc = fy_err_set(err, FY_ENET, "%s: HTTP status %ld", url, status);
	else if (rc == FY_OK && b.buf.len > max)
		rc = fy_err_set(err, FY_EFORMAT, "%s: more than %zu bytes", url, max);
	if (rc != FY_OK) {
		fy_buf_release(&b.buf);
		return rc;
	}
	*out = b.buf;
	return FY_OK;
}

int fy_store_fetch_files(struct fy_store *s, const struct fy_revision *r, const bool *want,
			 const struct fy_clone_opts *o, struct fy_clone_stats *st,
			 struct fy_err *err)
{
	struct listing l = { "", NULL, 0 };
	struct fetch fx;
	size_t i;
	int rc = FY_OK;

	memset(st, 0, sizeof(*st));
	fx = (struct fetch){ .s = s, .repo = r->repo, .o = o, .l = &l, .st = st };
	pthread_once(&curl_once, curl_setup);
	memcpy(l.commit, r->id, sizeof(l.commit));
	l.files = calloc(r->n_files ? r->n_files : 1, sizeof(*l.files));
	if (l.files == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	for (i = 0; i < r->n_files; i++) {
		struct remote_file *f = &l.files[l.n];

		if (want != NULL && !want[i])
			continue;
		f->path = strdup(r->files[i].path);
		if (f->path == NULL) {
			rc = fy_err_set(err, FY_ENOMEM, "out of memory");
			goto out;
		}
		l.n++;
		f->size = r->files[i].size;
		f->lfs = r->files[i].lfs;
		f->pinned = true;
		memcpy(f->sha256, r->files[i].sha256, FY_SHA256_LEN);
		memcpy(f->oid, r->files[i].git_oid, FY_SHA1_LEN);
	}
	FY_TRY(rc, fy_store_lock(s, o->wait_fn, o->ctx, err));
	FY_TRY(rc, fy_prefix_hash_new(&fx.ph, l.n, err));
	FY_TRY(rc, plan(&fx, NULL, err));
	FY_TRY(rc, run_multi(&fx, err));
	st->files = l.n;
out:
	fetch_release(&fx);
	fy_store_unlock(s);
	listing_free(&l);
	return rc;
}
