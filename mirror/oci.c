/*
 * OCI registries (docs/OCI.md): a revision pushed as a CNCF ModelPack artifact and read back.
 *
 * The artifact: an OCI image manifest (artifactType application/vnd.cncf.model.manifest.v1+json)
 * whose config is the ModelPack configuration and whose layers are the revision's files as they
 * are (raw, uncompressed: a layer's digest is the file's SHA-256, so a file ferry holds is never
 * re-read to be hashed), each with its path in org.cncf.model.filepath, then ferry's revision
 * manifest and, when signed, its signatures. A pull reads ferry's manifest layer (its digest
 * checked, its id the one its content gives), matches every file to its layer by path, digest
 * and size, then fetches the blobs through clone's transfer engine (parallel, ranged,
 * resumable, every file checked against its SHA-256 and git blob id before it becomes an object).
 *
 * The distribution protocol: GET /v2/ to learn the authentication the registry asks for
 * (WWW-Authenticate: Basic, or Bearer with a token service), HEAD of each blob (present: not
 * sent again), blobs uploaded with POST then PUT (small) or PATCH chunks then PUT (large), the
 * upload's location kept in the store's tmp/ so that an interrupted push resumes where the
 * registry says it stopped, and the manifest PUT last.
 */
#include "mirror/mirror_private.h"
#include "convert/convert.h"
#include "quant/quant.h"
#include "verify/verify.h"

#include <curl/curl.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_ARTIFACT "application/vnd.cncf.model.manifest.v1+json"
#define MT_CONFIG "application/vnd.cncf.model.config.v1+json"
#define MT_REVISION "application/vnd.ferry.revision.v1+json"
#define MT_SIGNATURES "application/vnd.ferry.signatures.v1+json"
#define AN_FILEPATH "org.cncf.model.filepath"
#define MAX_OCI_MANIFEST (4u << 20)
#define MAX_REV_MANIFEST (256u << 20)
#define MAX_SMALL (1u << 20)

/* ------------------------------------------------------------------------------------------ */
/* References and challenges                                                                  */

/* localhost, [::1] or a 127.x.y.z address, with or without a port (not 127.example.com) */
static bool loopback(const char *host)
{
	if (strncmp(host, "[::1]", 5) == 0)
		return host[5] == '\0' || host[5] == ':';
	const size_t n = strcspn(host, ":");
	return (n == 9 && strncmp(host, "localhost", 9) == 0) ||
	       (n > 4 && strncmp(host, "127.", 4) == 0 && strspn(host, "0123456789.") == n);
}

/* An OCI tag: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127} (also one safe path component). */
static bool tag_ok(const char *t)
{
	const size_t n = strlen(t);
	return n > 0 && n <= 128 && (isalnum((unsigned char)t[0]) || t[0] == '_') &&
	       strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

/* "sha256:" and 64 lowercase hex. */
static bool digest_ok(const char *d)
{
	return d != NULL && strncmp(d, "sha256:", 7) == 0 && strlen(d) == 71 &&
	       strspn(d + 7, "0123456789abcdef") == 64;
}

void fy_oci_name(const char *repo, char out[FY_REPO_MAX + 1])
{
	size_t i;
	for (i = 0; repo[i] != '\0' && i < FY_REPO_MAX; i++)
		out[i] = (char)tolower((unsigned char)repo[i]);
	out[i] = '\0';
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
	       c == '-' || c == '/';
}

int fy_oci_ref_parse(const char *s, bool plain_http, struct fy_oci_ref *out, struct fy_err *err)
{
	memset(out, 0, sizeof(*out));
	if (strncmp(s, "oci://", 6) != 0)
		return fy_err_set(err, FY_EINVAL, "'%s': not an oci://HOST/NAME[:TAG] reference",
				  s);
	const char *h = s + 6, *slash = strchr(h, '/');
	if (slash == NULL || slash == h || (size_t)(slash - h) >= sizeof(out->host))
		return fy_err_set(err, FY_EINVAL, "'%s': no registry host before the name", s);
	memcpy(out->host, h, (size_t)(slash - h));
	for (const char *p = out->host; *p; p++)
		if (!isalnum((unsigned char)*p) && strchr(".-:[]", *p) == NULL)
			return fy_err_set(err, FY_EINVAL, "'%s': bad registry host", s);
	const char *name = slash + 1, *at = strchr(name, '@');
	const char *colon = strrchr(name, ':');
	size_t nlen = at != NULL      ? (size_t)(at - name)
		      : colon != NULL ? (size_t)(colon - name)
				      : strlen(name);
	if (nlen == 0 || nlen >= sizeof(out->name))
		return fy_err_set(err, FY_EINVAL, "'%s': no repository name", s);
	/* OCI names are lowercase: acme/Stories-GGUF is acme/stories-gguf there */
	for (size_t i = 0; i < nlen; i++) {
		const char c = (char)tolower((unsigned char)name[i]);
		if (!name_char(c) || (c == '/' && (i == 0 || i + 1 == nlen || name[i + 1] == '/')))
			return fy_err_set(err, FY_EINVAL, "'%s': bad repository name", s);
		out->name[i] = c;
	}
	if (at != NULL) {
		const char *d = at + 1;
		if (!digest_ok(d))
			return fy_err_set(err, FY_EINVAL, "'%s': a digest is sha256: and 64 hex",
					  s);
		snprintf(out->digest, sizeof(out->digest), "%s", d);
	} else if (colon != NULL) {
		const char *t = colon + 1;
		if (!tag_ok(t))
			return fy_err_set(err, FY_EINVAL, "'%s': bad tag", s);
		memcpy(out->tag, t, strlen(t) + 1);
	} else {
		snprintf(out->tag, sizeof(out->tag), "latest");
	}
	snprintf(out->scheme, sizeof(out->scheme), "%s",
		 plain_http || loopback(out->host) ? "http" : "https");
	return FY_OK;
}

/* One auth-param value: a quoted string (backslash escapes) or a token. */
static const char *param_value(const char *p, const char *end, char *out, size_t cap, bool *ok)
{
	size_t n = 0;
	*ok = true;
	if (p < end && *p == '"') {
		for (p++; p < end && *p != '"'; p++) {
			if (*p == '\\' && p + 1 < end)
				p++;
			if (n + 1 < cap)
				out[n++] = *p;
			else
				*ok = false;
		}
		if (p >= end)
			*ok = false;
		else
			p++;
	} else {
		for (; p < end && *p != ',' && *p != ' ' && *p != '\t'; p++) {
			if (n + 1 < cap)
				out[n++] = *p;
			else
				*ok = false;
		}
	}
	out[n] = '\0';
	return p;
}

bool fy_oci_challenge_parse(const char *v, size_t n, struct fy_oci_challenge *out)
{
	const char *p = v, *end = v + n;
	memset(out, 0, sizeof(*out));
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	size_t k = 0;
	while (p < end && isalpha((unsigned char)*p) && k + 1 < sizeof(out->scheme))
		out->scheme[k++] = *p++;
	if (k == 0 || (p < end && *p != ' ' && *p != '\t'))
		return false;
	while (p < end) {
		while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
			p++;
		const char *key = p;
		while (p < end && *p != '=' && *p != ' ' && *p != ',')
			p++;
		if (p >= end || *p != '=')
			return p == key; /* trailing blanks only */
		const size_t klen = (size_t)(p - key);
		char val[sizeof(out->realm)];
		bool ok;
		p = param_value(p + 1, end, val, sizeof(val), &ok);
		if (!ok)
			return false;
		char *dst = NULL;
		size_t cap = 0;
		if (klen == 5 && strncasecmp(key, "realm", 5) == 0)
			dst = out->realm, cap = sizeof(out->realm);
		else if (klen == 7 && strncasecmp(key, "service", 7) == 0)
			dst = out->service, cap = sizeof(out->service);
		else if (klen == 5 && strncasecmp(key, "scope", 5) == 0)
			dst = out->scope, cap = sizeof(out->scope);
		if (dst != NULL && strlen(val) >= cap)
			return false; /* a value too long to be used is refused, not cut */
		if (dst != NULL)
			memcpy(dst, val, strlen(val) + 1);
	}
	return true;
}

/* ------------------------------------------------------------------------------------------ */
/* HTTP                                                                                       */

struct session {
	const struct fy_oci_ref *ref;
	const struct fy_oci_opts *o;
	char base[400];	   /* scheme://host */
	char bearer[8192]; /* a token from the registry's token service, or "" */
	bool basic;	   /* send the credentials as Basic */
	size_t retries;	   /* requests sent again after a transient failure */
};

struct response {
	long status;
	struct fy_buf body;
	size_t max;
	bool too_big;
	char location[4096];
	char auth[2048];
	char range[64];
};

struct upload_src { /* a request body read from a file (or memory) */
	int fd;
	const uint8_t *mem;
	uint64_t off, left;
};

static size_t on_data(char *p, size_t size, size_t nmemb, void *arg)
{
	struct response *r = arg;
	const size_t n = size * nmemb;
	if (r->body.len + n > r->max) {
		r->too_big = true;
		return 0;
	}
	return fy_buf_append(&r->body, p, n, NULL) == FY_OK ? n : 0;
}

static void header_value(const char *p, size_t n, size_t skip, char *out, size_t cap)
{
	p += skip;
	n -= skip;
	while (n > 0 && (*p == ' ' || *p == '\t'))
		p++, n--;
	while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == '\n' || p[n - 1] == ' '))
		n--;
	if (n >= cap) /* too long to be used: left empty, which the caller reports */
		n = 0;
	memcpy(out, p, n);
	out[n] = '\0';
}

static size_t on_head(char *p, size_t size, size_t nmemb, void *arg)
{
	struct response *r = arg;
	const size_t n = size * nmemb;
	if (n > 9 && strncasecmp(p, "Location:", 9) == 0)
		header_value(p, n, 9, r->location, sizeof(r->location));
	else if (n > 17 && strncasecmp(p, "WWW-Authenticate:", 17) == 0)
		header_value(p, n, 17, r->auth, sizeof(r->auth));
	else if (n > 6 && strncasecmp(p, "Range:", 6) == 0)
		header_value(p, n, 6, r->range, sizeof(r->range));
	return n;
}

static size_t on_read(char *p, size_t size, size_t nmemb, void *arg)
{
	struct upload_src *u = arg;
	size_t n = size * nmemb;
	if (n > u->left)
		n = (size_t)u->left;
	if (n == 0)
		return 0;
	if (u->mem != NULL) {
		memcpy(p, u->mem + u->off, n);
	} else {
		const ssize_t got = pread(u->fd, p, n, (off_t)u->off);
		if (got <= 0)
			return CURL_READFUNC_ABORT;
		n = (size_t)got;
	}
	u->off += n;
	u->left -= n;
	return n;
}

/* An absolute URL for a path or a Location the registry gave (absolute, or from the root). */
static void absolute(const struct session *ss, const char *loc, char *out, size_t cap)
{
	if (strncmp(loc, "http://", 7) == 0 || strncmp(loc, "https://", 8) == 0)
		snprintf(out, cap, "%s", loc);
	else
		snprintf(out, cap, "%s%s%s", ss->base, loc[0] == '/' ? "" : "/", loc);
}

/* The credentials the session holds, by libcurl's own auth (as mirror/hub.c: never sent to
 * another host after a redirect, such as a registry's CDN). */
static void set_auth(struct session *ss, CURL *c)
{
	if (ss->bearer[0] != '\0') {
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
		curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, ss->bearer);
	} else if (ss->basic && ss->o->username != NULL) {
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
		curl_easy_setopt(c, CURLOPT_USERNAME, ss->o->username);
		curl_easy_setopt(c, CURLOPT_PASSWORD, ss->o->password ? ss->o->password : "");
	}
}

/* One request. body: NULL for none. accept / ctype: headers or NULL. */
static int request(struct session *ss, const char *method, const char *url, const char *accept,
		   const char *ctype, struct upload_src *body, const char *crange,
		   struct response *r, struct fy_err *err)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	char ebuf[CURL_ERROR_SIZE] = "", line[256];
	if (c == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	r->status = 0;
	r->body.len = 0;
	r->too_big = false;
	r->location[0] = r->auth[0] = r->range[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "ferry/" FY_VERSION);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_head);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	if (ss->o->ca_bundle != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, ss->o->ca_bundle);
	if (ss->o->rate_limit > 0)
		curl_easy_setopt(c, CURLOPT_MAX_SEND_SPEED_LARGE, (curl_off_t)ss->o->rate_limit);
	set_auth(ss, c);
	if (accept != NULL) {
		snprintf(line, sizeof(line), "Accept: %s", accept);
		h = curl_slist_append(h, line);
	}
	if (ctype != NULL) {
		snprintf(line, sizeof(line), "Content-Type: %s", ctype);
		h = curl_slist_append(h, line);
	}
	if (crange != NULL) {
		snprintf(line, sizeof(line), "Content-Range: %s", crange);
		h = curl_slist_append(h, line);
	}
	if (strcmp(method, "HEAD") == 0 || strcmp(method, "GET") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, method[0] == 'H' ? 1L : 0L);
		curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L); /* blobs may live on a CDN */
		curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
	} else if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		/* a read and a send per 1 MiB rather than per 64 KiB (not under a rate limit, which
		 * libcurl keeps by the buffer) */
		if (ss->o->rate_limit <= 0)
			curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, 1L << 20);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c, CURLOPT_READDATA, body);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)body->left);
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
		h = curl_slist_append(h, "Expect:");
	} else {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
		if (strcmp(method, "POST") == 0) {
			curl_easy_setopt(c, CURLOPT_POST, 1L);
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
		}
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	const CURLcode cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && r->too_big))
		return fy_err_set(err, FY_ENET, "%s %s: %s", method, url,
				  ebuf[0] ? ebuf : curl_easy_strerror(cc));
	if (r->too_big)
		return fy_err_set(err, FY_EFORMAT, "%s: response larger than %zu bytes", url,
				  r->max);
	return FY_OK;
}

/* The registry's error document's first message, for a one-line error. */
static const char *reason(const struct response *r, char *out, size_t cap)
{
	struct fy_json *j = NULL;
	struct fy_err e;
	out[0] = '\0';
	if (r->body.len > 0 && fy_json_parse(&j, r->body.data, r->body.len, "error", &e) == FY_OK) {
		const struct fy_json *x = fy_json_at(fy_json_get(j, "errors"), 0);
		const char *code = fy_json_str(fy_json_get(x, "code"));
		const char *msg = fy_json_str(fy_json_get(x, "message"));
		if (code != NULL)
			snprintf(out, cap, ": %s%s%s", code, msg ? " " : "", msg ? msg : "");
	}
	fy_json_free(j);
	return out;
}

static int status_error(const struct response *r, const char *what, struct fy_err *err)
{
	char why[300];
	reason(r, why, sizeof(why));
	if (r->status == 401 || r->status == 403)
		return fy_err_set(err, FY_EINVAL, "%s: HTTP %ld, access denied%s", what, r->status,
				  why);
	if (r->status == 404)
		return fy_err_set(err, FY_ENOTFOUND, "%s: not found%s", what, why);
	return fy_err_set(err, FY_ENET, "%s: HTTP %ld%s", what, r->status, why);
}

/* Answers a 401's challenge: Basic with the credentials, or a token from the realm. */
static int authenticate(struct session *ss, const struct response *r, const char *actions,
			struct fy_err *err)
{
	struct fy_oci_challenge ch;
	if (!fy_oci_challenge_parse(r->auth, strlen(r->auth), &ch))
		return fy_err_set(err, FY_EFORMAT, "%s: unreadable WWW-Authenticate '%s'", ss->base,
				  r->auth);
	if (strcasecmp(ch.scheme, "Basic") == 0) {
		if (ss->o->username == NULL || ss->basic)
			return fy_err_set(err, FY_EINVAL,
					  "%s: the registry asks for a user name and password "
					  "(--user, or $FERRY_OCI_USER and $FERRY_OCI_PASSWORD)%s",
					  ss->base, ss->basic ? ": refused" : "");
		ss->basic = true;
		return FY_OK;
	}
	if (strcasecmp(ch.scheme, "Bearer") != 0 || ch.realm[0] == '\0')
		return fy_err_set(err, FY_EUNSUPPORTED, "%s: authentication '%s' is not supported",
				  ss->base, ch.scheme);
	if (ss->o->token != NULL && ss->bearer[0] == '\0') { /* a token given outright */
		snprintf(ss->bearer, sizeof(ss->bearer), "%s", ss->o->token);
		return FY_OK;
	}
	/* the scopes the challenge names (a mount also needs pull on the source repository),
	 * else this repository's with the actions the caller needs */
	char *svc = curl_easy_escape(NULL, ch.service, 0);
	char scope[600], url[4096];
	if (ch.scope[0] == '\0')
		snprintf(scope, sizeof(scope), "repository:%s:%s", ss->ref->name, actions);
	else
		snprintf(scope, sizeof(scope), "%s", ch.scope);
	int n = snprintf(url, sizeof(url), "%s%sservice=%s", ch.realm,
			 strchr(ch.realm, '?') ? "&" : "?", svc ? svc : "");
	curl_free(svc);
	for (char *save = NULL, *one = strtok_r(scope, " ", &save); one != NULL;
	     one = strtok_r(NULL, " ", &save)) {
		char *sc = curl_easy_escape(NULL, one, 0);
		if (n >= 0 && (size_t)n < sizeof(url))
			n += snprintf(url + n, sizeof(url) - (size_t)n, "&scope=%s", sc ? sc : "");
		curl_free(sc);
	}
	if (n < 0 || (size_t)n >= sizeof(url))
		return fy_err_set(err, FY_EFORMAT, "%s: the token service's address is too long",
				  ss->base);
	struct session tok = *ss;
	tok.bearer[0] = '\0';
	tok.basic = ss->o->username != NULL;
	struct response tr = { .max = 1u << 20 };
	fy_buf_init(&tr.body);
	int rc = request(&tok, "GET", url, "application/json", NULL, NULL, NULL, &tr, err);
	if (rc == FY_OK && tr.status != 200)
		rc = status_error(&tr, "token service", err);
	struct fy_json *j = NULL;
	if (rc == FY_OK)
		rc = fy_json_parse(&j, tr.body.data, tr.body.len, "token service", err);
	const char *t = fy_json_str(fy_json_get(j, "token"));
	if (t == NULL)
		t = fy_json_str(fy_json_get(j, "access_token"));
	if (rc == FY_OK && (t == NULL || strlen(t) >= sizeof(ss->bearer) || t[0] == '\0' ||
			    strpbrk(t, "\r\n") != NULL))
		rc = fy_err_set(err, FY_EFORMAT, "%s: the token service gave no usable token", url);
	if (rc == FY_OK)
		snprintf(ss->bearer, sizeof(ss->bearer), "%s", t);
	fy_json_free(j);
	fy_buf_release(&tr.body);
	return rc;
}

/* A failure worth a second try: no answer (connection refused or reset, a timeout) or the
 * registry's 5xx or 429. */
static bool transient(int rc, const struct response *r)
{
	return rc == FY_ENET || (rc == FY_OK && (r->status >= 500 || r->status == 429));
}

/* Waits before the nth retry: 250 ms doubling to 4 s. */
static void backoff(size_t nth)
{
	const long ms = nth >= 4 ? 4000 : 250L << nth;
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* The retries the session may take (the options' count, default 5). */
static int max_retries(const struct session *ss)
{
	return ss->o->retries > 0 ? ss->o->retries : ss->o->retries < 0 ? 0 : 5;
}

/* request(), answering the registry's challenge once when it says 401, and sent again after a
 * transient failure when it can be (GET, HEAD, a manifest's PUT; a blob's upload changes the
 * upload's state and recovers from where the registry says it stands: put_blob). */
static int call(struct session *ss, const char *actions, const char *method, const char *url,
		const char *accept, const char *ctype, struct upload_src *body, const char *crange,
		struct response *r, struct fy_err *err)
{
	const struct upload_src start = body != NULL ? *body : (struct upload_src){ 0 };
	const bool again = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ||
			   (strcmp(method, "PUT") == 0 && strstr(url, "/manifests/") != NULL);
	bool answered = false;
	int rc;
	for (int tries = 0;;) {
		if (body != NULL)
			*body = start;
		rc = request(ss, method, url, accept, ctype, body, crange, r, err);
		if (again && transient(rc, r) && tries < max_retries(ss)) {
			backoff((size_t)tries++);
			ss->retries++;
			continue;
		}
		if (rc != FY_OK || r->status != 401 || answered || r->auth[0] == '\0')
			return rc;
		answered = true;
		FY_TRY(rc, authenticate(ss, r, actions, err));
	}
out:
	return rc;
}

static void session_init(struct session *ss, const struct fy_oci_ref *ref,
			 const struct fy_oci_opts *o)
{
	fy_http_init();
	memset(ss, 0, sizeof(*ss));
	ss->ref = ref;
	ss->o = o;
	snprintf(ss->base, sizeof(ss->base), "%s://%s", ref->scheme, ref->host);
	/* credentials go only in answer to a Basic challenge, or to the token service */
}

/* ------------------------------------------------------------------------------------------ */
/* The artifact                                                                               */

static bool has_ext(const char *path, const char *const *exts)
{
	const char *dot = strrchr(path, '.');
	for (; dot != NULL && *exts != NULL; exts++)
		if (strcasecmp(dot + 1, *exts) == 0)
			return true;
	return false;
}

/* A file's ModelPack layer type: weights, documentation, code, or the weights' configuration
 * (config.json, tokenizers, templates: everything else). */
static const char *layer_type(const char *path)
{
	static const char *const weights[] = { "gguf",	  "safetensors", "bin",	 "pt",
					       "pth",	  "ckpt",	 "onnx", "h5",
					       "msgpack", "npz",	 "pkl",	 NULL };
	static const char *const docs[] = { "md",  "pdf", "png",  "jpg", "jpeg",
					    "gif", "svg", "webp", NULL };
	static const char *const code[] = {
		"py", "sh", "ipynb", "js", "c", "cpp", "h", "cu", NULL
	};
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	if (has_ext(path, weights))
		return "application/vnd.cncf.model.weight.v1.raw";
	if (has_ext(path, docs) || strncasecmp(base, "LICENSE", 7) == 0 ||
	    strncasecmp(base, "NOTICE", 6) == 0 || strncasecmp(base, "COPYING", 7) == 0)
		return "application/vnd.cncf.model.doc.v1.raw";
	if (has_ext(path, code))
		return "application/vnd.cncf.model.code.v1.raw";
	return "application/vnd.cncf.model.weight.config.v1.raw";
}

static void digest_str(const uint8_t sha[FY_SHA256_LEN], char out[72])
{
	memcpy(out, "sha256:", 7);
	fy_hex(sha, FY_SHA256_LEN, out + 7);
}

static struct fy_json *descriptor(const char *mt, const char *digest, uint64_t size)
{
	struct fy_json *d = fy_json_object();
	fy_json_set(d, "mediaType", fy_json_string(mt));
	fy_json_set(d, "digest", fy_json_string(digest));
	fy_json_set(d, "size", fy_json_integer((int64_t)size));
	return d;
}

/* What a push sends: blobs by digest (files from the store, small documents from memory). */
struct blob {
	char digest[72];
	uint64_t size;
	const struct fy_file_entry *file; /* a file of the revision (its object), or NULL */
	const struct fy_buf *mem;	  /* or these bytes */
};

struct fy_oci_artifact {
	struct fy_buf revision, signatures, params, template, config,
		manifest; /* documents it carries */
	struct blob *blobs;
	size_t n_blobs;
	char digest[72];	/* the manifest's */
	const char *media_type; /* the manifest's: OCI, or Docker's for Ollama */
};

static void artifact_release(struct fy_oci_artifact *a)
{
	fy_buf_release(&a->revision);
	fy_buf_release(&a->signatures);
	fy_buf_release(&a->params);
	fy_buf_release(&a->template);
	fy_buf_release(&a->config);
	fy_buf_release(&a->manifest);
	free(a->blobs);
}

static int dump_into(const struct fy_json *j, struct fy_buf *out, struct fy_err *err)
{
	char *text = j != NULL ? fy_json_dump(j, FY_JSON_DUMP_SORTED) : NULL;
	int rc = text == NULL ? fy_err_set(err, FY_ENOMEM, "out of memory")
			      : fy_buf_append(out, text, strlen(text), err);
	free(text);
	return rc;
}

/* The format named in the ModelPack config: GGUF when the revision holds a GGUF file. */
static const char *model_format(const struct fy_revision *r)
{
	for (size_t i = 0; i < r->n_files; i++)
		if (has_ext(r->files[i].path, (const char *const[]){ "gguf", NULL }))
			return "gguf";
	for (size_t i = 0; i < r->n_files; i++)
		if (has_ext(r->files[i].path, (const char *const[]){ "safetensors", NULL }))
			return "safetensors";
	return NULL;
}

static int build_artifact(struct fy_store *s, const struct fy_revision *r,
			  struct fy_oci_artifact *a, struct fy_err *err)
{
	int rc;
	char d[72];
	uint8_t sha[FY_SHA256_LEN];
	FY_TRY(rc, fy_revision_bytes(s, r->repo, r->id, &a->revision, err));
	const char *sigs = fy_store_path(s, "repos/%s/signatures/%s.json", r->repo, r->id);
	if (sigs != NULL && access(sigs, F_OK) == 0)
		FY_TRY(rc, fy_file_read(sigs, MAX_SMALL, &a->signatures, err));
	a->blobs = calloc(r->n_files + 3, sizeof(*a->blobs));
	if (a->blobs == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	struct fy_json *layers = fy_json_array(), *diff = fy_json_array();
	for (size_t i = 0; i < r->n_files; i++) {
		const struct fy_file_entry *f = &r->files[i];
		struct blob *b = &a->blobs[a->n_blobs++];
		digest_str(f->sha256, b->digest);
		b->size = f->size;
		b->file = f;
		struct fy_json *l = descriptor(layer_type(f->path), b->digest, f->size);
		struct fy_json *an = fy_json_object();
		fy_json_set(an, AN_FILEPATH, fy_json_string(f->path));
		fy_json_set(l, "annotations", an);
		fy_json_push(layers, l);
		fy_json_push(diff, fy_json_string(b->digest));
	}
	/* ferry's manifest (and signatures): what a pull checks the files against */
	const struct fy_buf *extra[2] = { &a->revision, &a->signatures };
	const char *types[2] = { MT_REVISION, MT_SIGNATURES };
	for (int k = 0; k < 2; k++) {
		if (extra[k]->len == 0)
			continue;
		struct blob *b = &a->blobs[a->n_blobs++];
		fy_sha256(extra[k]->data, extra[k]->len, sha);
		digest_str(sha, b->digest);
		b->size = extra[k]->len;
		b->mem = extra[k];
		struct fy_json *l = descriptor(types[k], b->digest, b->size);
		struct fy_json *an = fy_json_object();
		fy_json_set(an, "io.ferry.revision", fy_json_string(r->id));
		fy_json_set(l, "annotations", an);
		fy_json_push(layers, l);
		fy_json_push(diff, fy_json_string(b->digest));
	}
	struct fy_json *cfg = fy_json_object(), *desc = fy_json_object(), *c = fy_json_object();
	struct fy_json *fs = fy_json_object();
	fy_json_set(desc, "name", fy_json_string(r->repo));
	fy_json_set(desc, "revision", fy_json_string(r->id));
	fy_json_set(desc, "createdAt", fy_json_string(r->created));
	if (model_format(r) != NULL)
		fy_json_set(c, "format", fy_json_string(model_format(r)));
	fy_json_set(fs, "type", fy_json_string("layers"));
	fy_json_set(fs, "diffIds", diff);
	fy_json_set(cfg, "descriptor", desc);
	fy_json_set(cfg, "config", c);
	fy_json_set(cfg, "modelfs", fs);
	rc = dump_into(cfg, &a->config, err);
	fy_json_free(cfg);
	if (rc != FY_OK) {
		fy_json_free(layers);
		return rc;
	}
	struct blob *b = &a->blobs[a->n_blobs++];
	fy_sha256(a->config.data, a->config.len, sha);
	digest_str(sha, b->digest);
	b->size = a->config.len;
	b->mem = &a->config;
	struct fy_json *m = fy_json_object(), *an = fy_json_object();
	fy_json_set(m, "schemaVersion", fy_json_integer(2));
	fy_json_set(m, "mediaType", fy_json_string(MT_MANIFEST));
	fy_json_set(m, "artifactType", fy_json_string(MT_ARTIFACT));
	fy_json_set(m, "config", descriptor(MT_CONFIG, b->digest, b->size));
	fy_json_set(m, "layers", layers);
	fy_json_set(an, "org.opencontainers.image.created", fy_json_string(r->created));
	fy_json_set(an, "org.cncf.model.name", fy_json_string(r->repo));
	fy_json_set(an, "io.ferry.revision", fy_json_string(r->id));
	fy_json_set(m, "annotations", an);
	rc = dump_into(m, &a->manifest, err);
	fy_json_free(m);
	if (rc == FY_OK) {
		fy_sha256(a->manifest.data, a->manifest.len, sha);
		digest_str(sha, d);
		memcpy(a->digest, d, sizeof(d));
		a->media_type = MT_MANIFEST;
	}
out:
	return rc;
}

int fy_oci_artifact_build(struct fy_store *s, const struct fy_revision *r,
			  struct fy_oci_artifact **out, struct fy_err *err)
{
	struct fy_oci_artifact *a = calloc(1, sizeof(*a));
	int rc;
	*out = NULL;
	if (a == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	rc = build_artifact(s, r, a, err);
	if (rc != FY_OK) {
		fy_oci_artifact_free(a);
		return rc;
	}
	*out = a;
	return FY_OK;
}

void fy_oci_artifact_free(struct fy_oci_artifact *a)
{
	if (a == NULL)
		return;
	artifact_release(a);
	free(a);
}

const struct fy_buf *fy_oci_artifact_manifest(const struct fy_oci_artifact *a,
					      char digest[FY_OCI_DIGEST_LEN + 1],
					      const char **media_type)
{
	memcpy(digest, a->digest, FY_OCI_DIGEST_LEN + 1);
	if (media_type != NULL)
		*media_type = a->media_type;
	return &a->manifest;
}

bool fy_oci_artifact_blob(const struct fy_oci_artifact *a, const char *digest,
			  const struct fy_file_entry **file, const struct fy_buf **mem)
{
	for (size_t i = 0; i < a->n_blobs; i++)
		if (strcmp(a->blobs[i].digest, digest) == 0) {
			*file = a->blobs[i].file;
			*mem = a->blobs[i].mem;
			return true;
		}
	return false;
}

/* ------------------------------------------------------------------------------------------ */
/* Ollama's manifest of a GGUF model                                                           */

#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"

/* The single-file GGUF model of r a tag names, as llama.cpp's -hf and install pick it ("latest":
 * Q4_K_M, else Q8_0, else the first); *split when the tag names a split set (Ollama loads one
 * file). mmproj files are never the model. */
static const struct fy_file_entry *ollama_gguf(const struct fy_revision *r, const char *tag,
					       bool *split)
{
	static const char *const pick[] = { "Q4_K_M", "Q8_0", NULL };
	struct fy_gguf_model *m = NULL;
	size_t n = 0;
	struct fy_err err;
	const struct fy_file_entry *hit = NULL;
	*split = false;
	if (fy_revision_gguf_models(r, &m, &n, &err) != FY_OK)
		return NULL;
	for (size_t i = 0; i < n && hit == NULL; i++) /* a file named by its path */
		if (m[i].shards == NULL && strcmp(m[i].first->path, tag) == 0)
			hit = m[i].first;
	const bool latest = strcasecmp(tag, "latest") == 0;
	for (size_t k = 0; hit == NULL && !*split && k < (latest ? 3u : 1u); k++) {
		const char *want = latest ? pick[k] : tag;
		for (size_t i = 0; i < n && hit == NULL && !*split; i++) {
			const char *p = m[i].first->path;
			if (strcasestr(p, "mmproj") != NULL ||
			    (want != NULL && !fy_gguf_has_tag(p, want)))
				continue;
			if (m[i].shards != NULL)
				*split = true;
			else
				hit = m[i].first;
		}
	}
	fy_gguf_models_free(m, n);
	return hit;
}

/* The file Ollama's licence layer carries: a top-level LICENSE*. */
static bool is_licence(const char *path)
{
	return strchr(path, '/') == NULL && strncasecmp(path, "LICENSE", 7) == 0;
}

/* ollama_gguf, or the error saying why there is no model for the tag. */
static int ollama_pick(const struct fy_revision *r, const char *tag, const struct fy_file_entry **g,
		       struct fy_err *err)
{
	bool split;
	*g = ollama_gguf(r, tag, &split);
	if (split)
		return fy_err_set(err, FY_EUNSUPPORTED,
				  "%s@%.12s: '%s' is a split GGUF, which Ollama does not load",
				  r->repo, r->id, tag);
	if (*g == NULL)
		return fy_err_set(err, FY_ENOTFOUND, "%s@%.12s: no GGUF file for tag '%s'", r->repo,
				  r->id, tag);
	return FY_OK;
}

/* A blob from bytes ferry writes (config, params): kept in the artifact. */
static int doc_blob(struct fy_oci_artifact *a, struct fy_buf *b, const struct fy_json *j,
		    struct fy_err *err)
{
	uint8_t sha[FY_SHA256_LEN];
	int rc = dump_into(j, b, err);
	if (rc != FY_OK)
		return rc;
	struct blob *bl = &a->blobs[a->n_blobs++];
	fy_sha256(b->data, b->len, sha);
	digest_str(sha, bl->digest);
	bl->size = b->len;
	bl->mem = b;
	return FY_OK;
}

/* generation_config.json's sampling settings as Ollama's params, with the chat format's stop
 * strings; NULL when there are neither. */
static struct fy_json *ollama_params(struct fy_store *s, const struct fy_revision *r,
				     const struct fy_ollama_template *t)
{
	const struct fy_file_entry *f = fy_revision_find(r, "generation_config.json");
	struct fy_json *g = NULL, *p = NULL;
	struct fy_err err;
	static const char *const keys[] = { "temperature", "top_p", "top_k", "repeat_penalty" };
	if (f != NULL && f->size <= MAX_SMALL &&
	    fy_json_load_file(&g, fy_store_object_path(s, f->sha256), MAX_SMALL, &err) == FY_OK) {
		for (size_t i = 0; i < 4; i++) {
			const struct fy_json *v =
				fy_json_get(g, i < 3 ? keys[i] : "repetition_penalty");
			double d;
			if (!fy_json_num(v, &d))
				continue;
			if (p == NULL)
				p = fy_json_object();
			fy_json_set(p, keys[i], fy_json_copy(v));
		}
		fy_json_free(g);
	}
	if (t != NULL && t->stop[0] != NULL) {
		struct fy_json *stop = fy_json_array();
		for (size_t i = 0; i < FY_OLLAMA_STOPS && t->stop[i] != NULL; i++)
			fy_json_push(stop, fy_json_string(t->stop[i]));
		if (p == NULL)
			p = fy_json_object();
		fy_json_set(p, "stop", stop);
	}
	return p;
}

/* The chat format of the GGUF's tokenizer.chat_template, or NULL. */
static const struct fy_ollama_template *ollama_template(const struct fy_gguf *gg)
{
	const struct fy_gguf_kv *ct = fy_gguf_find_kv(gg, "tokenizer.chat_template");
	if (ct == NULL || ct->type != FY_GGUF_STRING)
		return NULL;
	return fy_ollama_template_for(ct->v.s.ptr, ct->v.s.len);
}

int fy_oci_ollama_build(struct fy_store *s, const struct fy_revision *r, const char *tag,
			struct fy_oci_artifact **out, struct fy_err *err)
{
	const struct fy_file_entry *g = NULL;
	struct fy_gguf *gg = NULL;
	struct fy_oci_artifact *a = NULL;
	uint8_t sha[FY_SHA256_LEN];
	int rc;
	*out = NULL;
	FY_TRY(rc, ollama_pick(r, tag, &g, err));
	struct fy_gguf_model one = { g, NULL, 1, true };
	FY_TRY(rc, fy_store_gguf_open(s, r, &one, &gg, err));
	a = calloc(1, sizeof(*a));
	if (a == NULL || (a->blobs = calloc(5, sizeof(*a->blobs))) == NULL) {
		rc = fy_err_set(err, FY_ENOMEM, "out of memory");
		goto out;
	}
	struct fy_json *layers = fy_json_array(), *diff = fy_json_array();
	struct blob *b = &a->blobs[a->n_blobs++];
	digest_str(g->sha256, b->digest);
	b->size = g->size;
	b->file = g;
	fy_json_push(layers, descriptor("application/vnd.ollama.image.model", b->digest, b->size));
	fy_json_push(diff, fy_json_string(b->digest));
	/* the prompt template, from the chat format the GGUF's Jinja template writes */
	const struct fy_ollama_template *tmpl = ollama_template(gg);
	if (tmpl != NULL) {
		if ((rc = fy_buf_append(&a->template, tmpl->go, strlen(tmpl->go), err)) != FY_OK) {
			fy_json_free(layers);
			fy_json_free(diff);
			goto out;
		}
		b = &a->blobs[a->n_blobs++];
		fy_sha256(a->template.data, a->template.len, sha);
		digest_str(sha, b->digest);
		b->size = a->template.len;
		b->mem = &a->template;
		fy_json_push(layers, descriptor("application/vnd.ollama.image.template", b->digest,
						b->size));
		fy_json_push(diff, fy_json_string(b->digest));
	}
	for (size_t i = 0; i < r->n_files; i++) { /* the licence, as Ollama's library carries it */
		if (is_licence(r->files[i].path)) {
			b = &a->blobs[a->n_blobs++];
			digest_str(r->files[i].sha256, b->digest);
			b->size = r->files[i].size;
			b->file = &r->files[i];
			fy_json_push(layers, descriptor("application/vnd.ollama.image.license",
							b->digest, b->size));
			fy_json_push(diff, fy_json_string(b->digest));
			break;
		}
	}
	struct fy_json *params = ollama_params(s, r, tmpl);
	if (params != NULL) {
		rc = doc_blob(a, &a->params, params, err);
		fy_json_free(params);
		if (rc != FY_OK) {
			fy_json_free(layers);
			fy_json_free(diff);
			goto out;
		}
		b = &a->blobs[a->n_blobs - 1];
		fy_json_push(layers,
			     descriptor("application/vnd.ollama.image.params", b->digest, b->size));
		fy_json_push(diff, fy_json_string(b->digest));
	}
	/* the config: what `ollama show` displays */
	const struct fy_gguf_kv *arch = fy_gguf_find_kv(gg, "general.architecture");
	const struct fy_gguf_kv *ft = fy_gguf_find_kv(gg, "general.file_type");
	const struct fy_gguf_kv *sl = fy_gguf_find_kv(gg, "general.size_label");
	struct fy_json *cfg = fy_json_object(), *fams = fy_json_array(), *fs = fy_json_object();
	char family[64] = "", size[32] = "";
	double ftv;
	if (arch != NULL && arch->type == FY_GGUF_STRING)
		snprintf(family, sizeof(family), "%.*s", (int)arch->v.s.len, arch->v.s.ptr);
	if (sl != NULL && sl->type == FY_GGUF_STRING)
		snprintf(size, sizeof(size), "%.*s", (int)sl->v.s.len, sl->v.s.ptr);
	const char *ftname = fy_gguf_kv_number(ft, &ftv) && ftv >= 0 && ftv < 1000
				     ? fy_ftype_name((enum fy_ftype)(int)ftv)
				     : NULL;
	fy_json_set(cfg, "model_format", fy_json_string("gguf"));
	fy_json_set(cfg, "model_family", fy_json_string(family));
	if (family[0] != '\0')
		fy_json_push(fams, fy_json_string(family));
	fy_json_set(cfg, "model_families", fams);
	fy_json_set(cfg, "model_type", fy_json_string(size));
	fy_json_set(cfg, "file_type", fy_json_string(ftname != NULL ? ftname : ""));
	fy_json_set(cfg, "architecture", fy_json_string("amd64"));
	fy_json_set(cfg, "os", fy_json_string("linux"));
	fy_json_set(fs, "type", fy_json_string("layers"));
	fy_json_set(fs, "diff_ids", diff);
	fy_json_set(cfg, "rootfs", fs);
	rc = doc_blob(a, &a->config, cfg, err);
	fy_json_free(cfg);
	if (rc != FY_OK) {
		fy_json_free(layers);
		goto out;
	}
	b = &a->blobs[a->n_blobs - 1];
	struct fy_json *m = fy_json_object();
	fy_json_set(m, "schemaVersion", fy_json_integer(2));
	fy_json_set(m, "mediaType", fy_json_string(MT_DOCKER_MANIFEST));
	fy_json_set(m, "config", descriptor(MT_DOCKER_CONFIG, b->digest, b->size));
	fy_json_set(m, "layers", layers);
	rc = dump_into(m, &a->manifest, err);
	fy_json_free(m);
	if (rc == FY_OK) {
		fy_sha256(a->manifest.data, a->manifest.len, sha);
		digest_str(sha, a->digest);
		a->media_type = MT_DOCKER_MANIFEST;
	}
out:
	fy_gguf_free(gg);
	if (rc != FY_OK)
		fy_oci_artifact_free(a);
	else
		*out = a;
	return rc;
}

int fy_oci_ollama_files(const struct fy_revision *r, const char *tag, bool *want,
			struct fy_err *err)
{
	const struct fy_file_entry *g = NULL;
	const int rc = ollama_pick(r, tag, &g, err);
	if (rc != FY_OK)
		return rc;
	for (size_t i = 0; i < r->n_files; i++) {
		const char *p = r->files[i].path;
		want[i] = &r->files[i] == g || strcmp(p, "generation_config.json") == 0 ||
			  is_licence(p);
	}
	return FY_OK;
}

/* models/manifests/registry.ollama.ai/NS/NAME/TAG, the name lowercased as Ollama's are. */
static bool ollama_manifest_path(const char *models, const char *repo, const char *tag, char *out,
				 size_t cap)
{
	char name[FY_REPO_MAX + 1];
	if (!tag_ok(tag))
		return false; /* a tag is one path component: never a way out of models/ */
	fy_oci_name(repo, name);
	const int n =
		snprintf(out, cap, "%s/manifests/registry.ollama.ai/%s/%s", models, name, tag);
	return n > 0 && (size_t)n < cap;
}

int fy_ollama_install(struct fy_store *s, const struct fy_revision *r, const char *tag,
		      const char *models, char *manifest, size_t cap, struct fy_err *err)
{
	struct fy_oci_artifact *a = NULL;
	char path[4400];
	int rc;
	if (!ollama_manifest_path(models, r->repo, tag, manifest, cap))
		return fy_err_set(err, FY_EINVAL,
				  "'%s': not a usable Ollama tag (or %s is too long)", tag, models);
	FY_TRY(rc, fy_oci_ollama_build(s, r, tag, &a, err));
	snprintf(path, sizeof(path), "%s/blobs", models);
	FY_TRY(rc, fy_mkdirs(path, err));
	for (size_t i = 0; i < a->n_blobs; i++) { /* blobs first: a manifest never names a gap */
		const struct blob *b = &a->blobs[i];
		struct stat st;
		snprintf(path, sizeof(path), "%s/blobs/sha256-%s", models, b->digest + 7);
		if (stat(path, &st) == 0 && (uint64_t)st.st_size == b->size)
			continue;
		rc = b->file != NULL ? fy_store_place_object(s, b->file->sha256, path, err)
				     : fy_file_write_atomic(path, b->mem->data, b->mem->len, err);
		if (rc != FY_OK)
			goto out;
	}
	snprintf(path, sizeof(path), "%s", manifest);
	*strrchr(path, '/') = '\0';
	FY_TRY(rc, fy_mkdirs(path, err));
	rc = fy_file_write_atomic(manifest, a->manifest.data, a->manifest.len, err);
out:
	fy_oci_artifact_free(a);
	return rc;
}

/* A set of digests (a few per manifest: a list is enough). */
struct digests {
	char (*d)[72];
	size_t n, cap;
};

static void digests_add(struct digests *set, const char *d)
{
	if (d == NULL || strlen(d) != 71)
		return;
	for (size_t i = 0; i < set->n; i++)
		if (strcmp(set->d[i], d) == 0)
			return;
	if (set->n == set->cap) {
		const size_t cap = set->cap ? 2 * set->cap : 16;
		char(*p)[72] = realloc(set->d, cap * sizeof(*p));
		if (p == NULL)
			return; /* a digest not counted keeps its blob: the safe side */
		set->d = p;
		set->cap = cap;
	}
	memcpy(set->d[set->n++], d, 72);
}

static bool digests_has(const struct digests *set, const char *d)
{
	for (size_t i = 0; i < set->n; i++)
		if (strcmp(set->d[i], d) == 0)
			return true;
	return false;
}

/* Adds the digests a manifest file names (config and layers) to set. */
static bool manifest_digests(const char *path, struct digests *set)
{
	struct fy_json *m = NULL;
	struct fy_err err;
	if (fy_json_load_file(&m, path, MAX_OCI_MANIFEST, &err) != FY_OK)
		return false;
	digests_add(set, fy_json_str(fy_json_get(fy_json_get(m, "config"), "digest")));
	const struct fy_json *layers = fy_json_get(m, "layers");
	for (size_t i = 0; i < fy_json_size(layers); i++)
		digests_add(set, fy_json_str(fy_json_get(fy_json_at(layers, i), "digest")));
	fy_json_free(m);
	return true;
}

/* The digests of every manifest file under dir (recursively) but skip. False when one cannot
 * be read: then no blob is known to be unused. */
static bool all_digests(const char *dir, const char *skip, struct digests *set)
{
	char **names = NULL;
	size_t n = 0;
	struct fy_err err;
	bool ok = true;
	if (fy_dir_list(dir, "", &names, &n, &err) != FY_OK)
		return access(dir, F_OK) != 0; /* no manifests at all: fine */
	for (size_t i = 0; ok && i < n; i++) {
		char path[4400];
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (lstat(path, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode))
			ok = all_digests(path, skip, set);
		else if (S_ISREG(st.st_mode) && strcmp(path, skip) != 0)
			ok = manifest_digests(path, set);
	}
	fy_names_free(names, n);
	return ok;
}

int fy_ollama_uninstall(const char *models, const char *repo, const char *tag, struct fy_err *err)
{
	char manifest[4400], path[4400];
	struct digests mine = { 0 }, others = { 0 };
	if (!ollama_manifest_path(models, repo, tag, manifest, sizeof(manifest)))
		return fy_err_set(err, FY_EINVAL,
				  "'%s': not a usable Ollama tag (or %s is too long)", tag, models);
	snprintf(path, sizeof(path), "%s/manifests", models);
	/* the blobs no other manifest names go with it; Ollama's own pulls keep theirs */
	if (manifest_digests(manifest, &mine) && all_digests(path, manifest, &others))
		for (size_t i = 0; i < mine.n; i++) {
			const char *d = mine.d[i];
			if (!digest_ok(d) || digests_has(&others, d))
				continue;
			snprintf(path, sizeof(path), "%s/blobs/sha256-%s", models, d + 7);
			unlink(path);
		}
	free(mine.d);
	free(others.d);
	if (unlink(manifest) != 0 && errno != ENOENT)
		return fy_err_sys(err, FY_EIO, "cannot remove '%s'", manifest);
	/* the empty folders above it, up to manifests/ */
	snprintf(path, sizeof(path), "%s", manifest);
	for (int k = 0; k < 3 && strrchr(path, '/') != NULL; k++) {
		*strrchr(path, '/') = '\0';
		if (rmdir(path) != 0)
			break;
	}
	return FY_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Where a repository's revisions went and came from: repos/NS/NAME/oci.json                  */

#define MAX_RECORDS 32 /* per repository, newest first */
#define MAX_SOURCES 16 /* registry repositories a push may mount blobs from */

static void ref_text(const struct fy_oci_ref *ref, char *out, size_t cap)
{
	snprintf(out, cap, "oci://%s/%s%s%s", ref->host, ref->name, ref->digest[0] ? "@" : ":",
		 ref->digest[0] ? ref->digest : ref->tag);
}

/* Remembers that revision id of repo is at ref, pushed ("push") or read from it ("clone"): one
 * record per reference and kind, newest first. Best effort: a record lost costs a mount (the
 * blob is sent) or an explicit reference to pull from. */
static void record(struct fy_store *s, const char *repo, const struct fy_oci_ref *ref,
		   const char *id, const char *how)
{
	const char *at = fy_store_path(s, "repos/%s/oci.json", repo);
	struct fy_json *old = NULL, *doc = fy_json_object(), *list = fy_json_array();
	struct fy_json *e = fy_json_object();
	struct fy_err ignored;
	char path[4200], url[700];
	if (at == NULL || doc == NULL || list == NULL || e == NULL) {
		fy_json_free(doc);
		fy_json_free(list);
		fy_json_free(e);
		return;
	}
	snprintf(path, sizeof(path), "%s", at);
	ref_text(ref, url, sizeof(url));
	fy_json_set(e, "url", fy_json_string(url));
	fy_json_set(e, "scheme", fy_json_string(ref->scheme));
	fy_json_set(e, "revision", fy_json_string(id));
	fy_json_set(e, "how", fy_json_string(how));
	fy_json_push(list, e);
	if (fy_json_load_file(&old, path, 1u << 20, &ignored) == FY_OK) {
		const struct fy_json *l = fy_json_get(old, "remotes");
		for (size_t i = 0; i < fy_json_size(l) && fy_json_size(list) < MAX_RECORDS; i++) {
			const struct fy_json *x = fy_json_at(l, i);
			const char *u = fy_json_str(fy_json_get(x, "url"));
			const char *h = fy_json_str(fy_json_get(x, "how"));
			if (u != NULL && h != NULL && (strcmp(u, url) != 0 || strcmp(h, how) != 0))
				fy_json_push(list, fy_json_copy(x));
		}
	}
	fy_json_set(doc, "remotes", list);
	char *text = fy_json_dump(doc, FY_JSON_DUMP_PRETTY);
	if (text != NULL)
		(void)fy_file_write_atomic_in(path, fy_store_path(s, "tmp"), text, strlen(text),
					      &ignored);
	free(text);
	fy_json_free(doc);
	fy_json_free(old);
}

/* Calls fn for each record of repo (newest first) whose reference parses; stops when fn does. */
static void each_record(struct fy_store *s, const char *repo,
			bool (*fn)(void *ctx, const struct fy_oci_ref *ref, const char *id,
				   const char *how),
			void *ctx)
{
	struct fy_json *doc = NULL;
	struct fy_err ignored;
	const char *path = fy_store_path(s, "repos/%s/oci.json", repo);
	if (path == NULL || fy_json_load_file(&doc, path, 1u << 20, &ignored) != FY_OK)
		return;
	const struct fy_json *l = fy_json_get(doc, "remotes");
	for (size_t i = 0; i < fy_json_size(l); i++) {
		const struct fy_json *x = fy_json_at(l, i);
		const char *u = fy_json_str(fy_json_get(x, "url"));
		const char *sch = fy_json_str(fy_json_get(x, "scheme"));
		const char *id = fy_json_str(fy_json_get(x, "revision"));
		const char *how = fy_json_str(fy_json_get(x, "how"));
		struct fy_oci_ref ref;
		if (u == NULL || id == NULL || how == NULL || !fy_is_rev_id(id) ||
		    fy_oci_ref_parse(u, sch != NULL && strcmp(sch, "http") == 0, &ref, &ignored) !=
			    FY_OK)
			continue;
		if (!fn(ctx, &ref, id, how))
			break;
	}
	fy_json_free(doc);
}

struct origin_find {
	const char *id;
	struct fy_oci_ref *out;
	bool found;
};

static bool origin_match(void *ctx, const struct fy_oci_ref *ref, const char *id, const char *how)
{
	struct origin_find *f = ctx;
	if (strcmp(how, "clone") != 0 || strcmp(id, f->id) != 0)
		return true;
	*f->out = *ref;
	f->found = true;
	return false;
}

int fy_oci_origin(struct fy_store *s, const char *repo, const char *id, struct fy_oci_ref *ref,
		  struct fy_err *err)
{
	struct origin_find f = { id, ref, false };
	each_record(s, repo, origin_match, &f);
	return f.found ? FY_OK
		       : fy_err_set(err, FY_ENOTFOUND, "%s@%.12s was not cloned from a registry",
				    repo, id);
}

/* Registry repositories on the push's host holding revisions this store pushed there or read
 * from there: where a blob can be mounted from rather than sent. */
struct source {
	char name[256];
	struct fy_revision *r;
};

struct sources {
	struct fy_store *s;
	const char *repo; /* the local repository whose records are read */
	const struct fy_oci_ref *to;
	struct source v[MAX_SOURCES];
	size_t n;
};

static bool source_add(void *ctx, const struct fy_oci_ref *ref, const char *id, const char *how)
{
	struct sources *src = ctx;
	struct fy_err ignored;
	(void)how;
	if (src->n == MAX_SOURCES)
		return false;
	if (strcmp(ref->host, src->to->host) != 0 || strcmp(ref->name, src->to->name) == 0)
		return true;
	for (size_t i = 0; i < src->n; i++)
		if (strcmp(src->v[i].name, ref->name) == 0 && strcmp(src->v[i].r->id, id) == 0)
			return true;
	struct source *x = &src->v[src->n];
	if (fy_revision_load(src->s, src->repo, id, &x->r, &ignored) != FY_OK)
		return true; /* a revision gc took: nothing to mount by */
	snprintf(x->name, sizeof(x->name), "%s", ref->name);
	src->n++;
	return true;
}

static void sources_find(struct fy_store *s, const struct fy_oci_ref *to, struct sources *src)
{
	char **repos = NULL;
	size_t n = 0;
	struct fy_err ignored;
	memset(src, 0, sizeof(*src));
	src->s = s;
	src->to = to;
	if (fy_store_list_repos(s, &repos, &n, &ignored) != FY_OK)
		return;
	for (size_t i = 0; i < n && src->n < MAX_SOURCES; i++) {
		src->repo = repos[i];
		each_record(s, repos[i], source_add, src);
	}
	src->repo = NULL;
	fy_names_free(repos, n);
}

static void sources_free(struct sources *src)
{
	for (size_t i = 0; i < src->n; i++)
		fy_revision_free(src->v[i].r);
	src->n = 0;
}

/* A registry repository holding a file with this content, or NULL. */
static const char *source_of(const struct sources *src, const uint8_t sha[FY_SHA256_LEN])
{
	for (size_t i = 0; i < src->n; i++)
		for (size_t k = 0; k < src->v[i].r->n_files; k++)
			if (memcmp(src->v[i].r->files[k].sha256, sha, FY_SHA256_LEN) == 0)
				return src->v[i].name;
	return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Push                                                                                       */

/* Where an interrupted upload of a blob can go on: the registry's upload location, kept in the
 * store's tmp/ (one line) until the blob is in. */
static const char *journal_path(struct fy_store *s, const struct fy_oci_ref *ref, const char *dg)
{
	char key[600];
	uint8_t sha[FY_SHA256_LEN];
	char hex[2 * FY_SHA256_LEN + 1];
	snprintf(key, sizeof(key), "%s/%s@%s", ref->host, ref->name, dg);
	fy_sha256(key, strlen(key), sha);
	fy_hex(sha, FY_SHA256_LEN, hex);
	return fy_store_path(s, "tmp/oci-upload-%.32s", hex);
}

/* Where the registry says an upload stands: the next offset, or -1 when it is gone. */
static int64_t upload_offset(struct session *ss, const char *loc, struct fy_err *err)
{
	struct response r = { .max = 1u << 16 };
	char url[4500];
	int64_t at = -1;
	fy_buf_init(&r.body);
	absolute(ss, loc, url, sizeof(url));
	if (call(ss, "pull,push", "GET", url, NULL, NULL, NULL, NULL, &r, err) == FY_OK &&
	    r.status == 204) {
		unsigned long long a, b;
		if (r.range[0] == '\0')
			at = 0;
		else if (sscanf(r.range, "%llu-%llu", &a, &b) == 2 && a == 0)
			at = (int64_t)b + 1;
	}
	fy_buf_release(&r.body);
	return at;
}

/* The upload's next location, kept in loc and in the journal jp ("" for none) so that a rerun
 * can go on; best effort: without the journal a rerun starts the blob over. */
static void remember(struct fy_store *s, const char *jp, char *loc, size_t cap,
		     const char *location)
{
	struct fy_err ignored;
	snprintf(loc, cap, "%s", location);
	if (jp[0] != '\0')
		(void)fy_file_write_atomic_in(jp, fy_store_path(s, "tmp"), loc, strlen(loc),
					      &ignored);
}

/* One attempt at a blob: from where an earlier upload stands (the journal), else from fresh (an
 * upload the registry began, or "": one is begun here). *last: the last response's status. */
static int put_blob_once(struct fy_store *s, struct session *ss, const struct blob *b,
			 const char *fresh, struct fy_oci_stats *st, long *last, struct fy_err *err)
{
	const struct fy_oci_ref *ref = ss->ref;
	struct response r = { .max = 1u << 16 };
	char url[4600], loc[4096] = "", crange[80];
	const char *jpath = journal_path(s, ref, b->digest);
	char jp[4200];
	int rc = FY_OK, fd = -1;
	uint64_t at = 0;
	fy_buf_init(&r.body);
	snprintf(jp, sizeof(jp), "%s", jpath ? jpath : "");
	/* an upload an earlier push left: go on where the registry has it */
	struct fy_buf j;
	fy_buf_init(&j);
	if (jp[0] != '\0' && fy_file_read(jp, sizeof(loc) - 1, &j, err) == FY_OK && j.len > 0) {
		memcpy(loc, j.data, j.len);
		loc[j.len] = '\0';
		loc[strcspn(loc, "\r\n")] = '\0';
		const int64_t o = upload_offset(ss, loc, err);
		if (o >= 0 && (uint64_t)o <= b->size) {
			at = (uint64_t)o;
			st->bytes_resumed += at;
		} else {
			loc[0] = '\0';
		}
	}
	fy_buf_release(&j);
	if (loc[0] == '\0' && fresh[0] != '\0')
		remember(s, jp, loc, sizeof(loc), fresh);
	if (loc[0] == '\0') {
		snprintf(url, sizeof(url), "%s/v2/%s/blobs/uploads/", ss->base, ref->name);
		FY_TRY(rc, call(ss, "pull,push", "POST", url, NULL, NULL, NULL, NULL, &r, err));
		if (r.status != 202 || r.location[0] == '\0') {
			rc = status_error(&r, url, err);
			goto out;
		}
		remember(s, jp, loc, sizeof(loc), r.location);
	}
	if (b->file != NULL) {
		const char *path = fy_store_object_path(s, b->file->sha256);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
			rc = fy_err_sys(err, FY_EIO, "cannot open '%s'", path);
			goto out;
		}
	}
	const uint64_t chunk = ss->o->chunk_size > 0 ? ss->o->chunk_size : 64u << 20;
	/* chunks while more than one is left, the rest with the closing PUT */
	while (b->size - at > chunk) {
		if (ss->o->stop != NULL && *ss->o->stop) {
			rc = fy_err_set(err, FY_ECANCELED,
					"interrupted at %llu of %llu bytes of %s; push again to "
					"resume",
					(unsigned long long)at, (unsigned long long)b->size,
					b->digest);
			goto out;
		}
		struct upload_src u = { fd, b->mem ? b->mem->data : NULL, at, chunk };
		absolute(ss, loc, url, sizeof(url));
		snprintf(crange, sizeof(crange), "%llu-%llu", (unsigned long long)at,
			 (unsigned long long)(at + chunk - 1));
		FY_TRY(rc, call(ss, "pull,push", "PATCH", url, NULL, "application/octet-stream", &u,
				crange, &r, err));
		if (r.status != 202 || r.location[0] == '\0') {
			rc = status_error(&r, "chunk upload", err);
			goto out;
		}
		remember(s, jp, loc, sizeof(loc), r.location);
		at += chunk;
		st->bytes_sent += chunk;
		if (ss->o->progress != NULL)
			ss->o->progress(ss->o->ctx, at, b->size, b->digest);
	}
	{
		struct upload_src u = { fd, b->mem ? b->mem->data : NULL, at, b->size - at };
		char abs[4200];
		absolute(ss, loc, abs, sizeof(abs));
		snprintf(url, sizeof(url), "%s%sdigest=%s", abs, strchr(abs, '?') ? "&" : "?",
			 b->digest);
		FY_TRY(rc, call(ss, "pull,push", "PUT", url, NULL, "application/octet-stream", &u,
				NULL, &r, err));
		if (r.status != 201) {
			rc = status_error(&r, b->digest, err);
			goto out;
		}
		st->bytes_sent += b->size - at;
	}
	if (jp[0] != '\0')
		unlink(jp);
out:
	*last = r.status;
	if (fd >= 0)
		close(fd);
	fy_buf_release(&r.body);
	return rc;
}

/* A blob's upload, begun again from where the registry has it after a transient failure. */
static int put_blob(struct fy_store *s, struct session *ss, const struct blob *b, const char *fresh,
		    struct fy_oci_stats *st, struct fy_err *err)
{
	for (int tries = 0;; tries++) {
		long last = 0;
		const int rc = put_blob_once(s, ss, b, tries == 0 ? fresh : "", st, &last, err);
		if (rc != FY_ENET || (last != 0 && last < 500 && last != 429) ||
		    tries >= max_retries(ss))
			return rc;
		backoff((size_t)tries);
		ss->retries++;
	}
}

int fy_oci_push(struct fy_store *s, const char *repo, const char *id, const struct fy_oci_ref *ref,
		const struct fy_oci_opts *o, struct fy_oci_stats *st, struct fy_err *err)
{
	struct fy_revision *r = NULL;
	struct fy_oci_artifact a;
	struct session ss;
	struct sources src;
	struct response resp = { .max = 1u << 16 };
	char url[1200];
	int rc;

	memset(st, 0, sizeof(*st));
	memset(&a, 0, sizeof(a));
	memset(&src, 0, sizeof(src));
	fy_buf_init(&resp.body);
	session_init(&ss, ref, o);
	if (ref->digest[0] != '\0')
		return fy_err_set(err, FY_EINVAL, "push names a tag, not a digest");
	sources_find(s, ref, &src);
	FY_TRY(rc, fy_revision_load(s, repo, id, &r, err));
	FY_TRY(rc, build_artifact(s, r, &a, err));
	snprintf(url, sizeof(url), "%s/v2/", ss.base);
	FY_TRY(rc, call(&ss, "pull,push", "GET", url, NULL, NULL, NULL, NULL, &resp, err));
	if (resp.status != 200) {
		rc = status_error(&resp, url, err);
		goto out;
	}
	for (size_t i = 0; i < a.n_blobs; i++) {
		const struct blob *b = &a.blobs[i];
		bool twice = false;
		for (size_t k = 0; k < i; k++)
			twice |= strcmp(a.blobs[k].digest, b->digest) == 0;
		if (twice)
			continue;
		st->blobs++;
		snprintf(url, sizeof(url), "%s/v2/%s/blobs/%s", ss.base, ref->name, b->digest);
		FY_TRY(rc, call(&ss, "pull,push", "HEAD", url, NULL, NULL, NULL, NULL, &resp, err));
		if (resp.status == 200) {
			st->blobs_present++;
			continue;
		}
		if (resp.status != 404) {
			rc = status_error(&resp, url, err);
			goto out;
		}
		/* a blob another repository of this registry holds is mounted, not sent; a
		 * registry that will not mount it begins an ordinary upload instead */
		char fresh[4096] = "";
		const char *from = b->file != NULL ? source_of(&src, b->file->sha256) : NULL;
		if (from != NULL) {
			struct fy_err ignored;
			snprintf(url, sizeof(url), "%s/v2/%s/blobs/uploads/?mount=%s&from=%s",
				 ss.base, ref->name, b->digest, from);
			if (call(&ss, "pull,push", "POST", url, NULL, NULL, NULL, NULL, &resp,
				 &ignored) == FY_OK) {
				if (resp.status == 201) {
					st->blobs_mounted++;
					continue;
				}
				if (resp.status == 202)
					snprintf(fresh, sizeof(fresh), "%s", resp.location);
			}
		}
		FY_TRY(rc, put_blob(s, &ss, b, fresh, st, err));
		st->blobs_sent++;
	}
	snprintf(url, sizeof(url), "%s/v2/%s/manifests/%s", ss.base, ref->name, ref->tag);
	struct upload_src u = { -1, a.manifest.data, 0, a.manifest.len };
	FY_TRY(rc, call(&ss, "pull,push", "PUT", url, NULL, MT_MANIFEST, &u, NULL, &resp, err));
	if (resp.status != 201) {
		rc = status_error(&resp, url, err);
		goto out;
	}
	memcpy(st->digest, a.digest, sizeof(st->digest));
	record(s, repo, ref, id, "push");
out:
	st->retries = ss.retries;
	sources_free(&src);
	fy_buf_release(&resp.body);
	artifact_release(&a);
	fy_revision_free(r);
	return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Pull                                                                                       */

int fy_oci_manifest_check(const void *data, size_t n, const char *label, struct fy_json **out,
			  struct fy_err *err)
{
	struct fy_json *m = NULL;
	int rc;
	*out = NULL;
	FY_TRY(rc, fy_json_parse(&m, data, n, label, err));
	const char *mt = fy_json_str(fy_json_get(m, "mediaType"));
	const struct fy_json *layers = fy_json_get(m, "layers");
	int64_t v;
	if (fy_json_type(m) != FY_JSON_OBJECT ||
	    !fy_json_int(fy_json_get(m, "schemaVersion"), &v) || v != 2 ||
	    (mt != NULL && strcmp(mt, MT_MANIFEST) != 0) || fy_json_type(layers) != FY_JSON_ARRAY) {
		rc = fy_err_set(err, FY_EFORMAT, "%s: not an OCI image manifest", label);
		goto out;
	}
	for (size_t i = 0; i < fy_json_size(layers); i++) {
		const struct fy_json *l = fy_json_at(layers, i);
		const struct fy_json *an = fy_json_get(l, "annotations");
		const struct fy_json *p = fy_json_get(an, AN_FILEPATH);
		int64_t size;
		if (fy_json_str(fy_json_get(l, "mediaType")) == NULL ||
		    !digest_ok(fy_json_str(fy_json_get(l, "digest"))) ||
		    !fy_json_int(fy_json_get(l, "size"), &size) || size < 0 ||
		    (an != NULL && fy_json_type(an) != FY_JSON_OBJECT) ||
		    (p != NULL && (fy_json_str(p) == NULL || !fy_repo_path_ok(fy_json_str(p))))) {
			rc = fy_err_set(err, FY_EFORMAT, "%s: layer %zu is not a valid descriptor",
					label, i);
			goto out;
		}
	}
out:
	if (rc == FY_OK)
		*out = m;
	else
		fy_json_free(m);
	return rc;
}

/* GETs a small blob and checks it against its digest. */
static int small_blob(struct session *ss, const char *digest, int64_t size, struct fy_buf *out,
		      struct fy_err *err)
{
	struct response r = { .max = MAX_REV_MANIFEST };
	char url[1200], d[72];
	uint8_t sha[FY_SHA256_LEN];
	int rc;
	fy_buf_init(&r.body);
	snprintf(url, sizeof(url), "%s/v2/%s/blobs/%s", ss->base, ss->ref->name, digest);
	if (size < 0 || (uint64_t)size > MAX_REV_MANIFEST)
		return fy_err_set(err, FY_EFORMAT, "%s: blob too large", url);
	FY_TRY(rc, call(ss, "pull", "GET", url, NULL, NULL, NULL, NULL, &r, err));
	if (r.status != 200) {
		rc = status_error(&r, url, err);
		goto out;
	}
	fy_sha256(r.body.data, r.body.len, sha);
	digest_str(sha, d);
	if (strcmp(d, digest) != 0 || r.body.len != (size_t)size) {
		rc = fy_err_set(err, FY_EHASH, "%s: content does not match its digest", url);
		goto out;
	}
	*out = r.body;
	fy_buf_init(&r.body);
out:
	fy_buf_release(&r.body);
	return rc;
}

/* Counts signatures that fail (an untrusted key is not a failure: this store may not know it). */
static void count_invalid(void *ctx, enum fy_sig_status st, const char *keyid)
{
	(void)keyid;
	if (st == FY_SIG_INVALID || st == FY_SIG_DUPLICATE)
		++*(size_t *)ctx;
}

int fy_oci_pull(struct fy_store *s, const struct fy_oci_ref *ref, const struct fy_oci_opts *o,
		const struct fy_clone_opts *co, char repo[FY_REPO_MAX + 1],
		char id[FY_REV_ID_LEN + 1], struct fy_clone_stats *st, struct fy_err *err)
{
	struct session ss;
	struct response r = { .max = MAX_OCI_MANIFEST };
	struct fy_json *m = NULL;
	struct fy_revision *rev = NULL;
	struct fy_buf bytes, sigs;
	struct fy_json *sigdoc = NULL;
	char url[1200], label[1200];
	int rc;

	struct fy_oci_opts from_co = { .username = co->username,
				       .password = co->password,
				       .token = co->token,
				       .ca_bundle = co->ca_bundle,
				       .retries = co->retries > 0 ? co->retries : -1 };
	memset(st, 0, sizeof(*st));
	fy_buf_init(&r.body);
	fy_buf_init(&bytes);
	fy_buf_init(&sigs);
	if (o == NULL)
		o = &from_co;
	session_init(&ss, ref, o);
	snprintf(label, sizeof(label), "oci://%s/%s%s%s", ref->host, ref->name,
		 ref->digest[0] ? "@" : ":", ref->digest[0] ? ref->digest : ref->tag);
	snprintf(url, sizeof(url), "%s/v2/%s/manifests/%s", ss.base, ref->name,
		 ref->digest[0] ? ref->digest : ref->tag);
	FY_TRY(rc, call(&ss, "pull", "GET", url, MT_MANIFEST, NULL, NULL, NULL, &r, err));
	if (r.status != 200) {
		rc = status_error(&r, label, err);
		goto out;
	}
	if (ref->digest[0] != '\0') { /* a manifest named by digest is that manifest */
		uint8_t sha[FY_SHA256_LEN];
		char d[72];
		fy_sha256(r.body.data, r.body.len, sha);
		digest_str(sha, d);
		if (strcmp(d, ref->digest) != 0) {
			rc = fy_err_set(err, FY_EHASH, "%s: the manifest does not match its digest",
					label);
			goto out;
		}
	}
	FY_TRY(rc, fy_oci_manifest_check(r.body.data, r.body.len, label, &m, err));
	const struct fy_json *layers = fy_json_get(m, "layers");
	const struct fy_json *rl = NULL, *sl = NULL;
	for (size_t i = 0; i < fy_json_size(layers); i++) {
		const char *mt = fy_json_str(fy_json_get(fy_json_at(layers, i), "mediaType"));
		const struct fy_json **slot = strcmp(mt, MT_REVISION) == 0     ? &rl
					      : strcmp(mt, MT_SIGNATURES) == 0 ? &sl
									       : NULL;
		if (slot != NULL && *slot != NULL) {
			rc = fy_err_set(err, FY_EFORMAT, "%s: two ferry %s layers", label, mt);
			goto out;
		}
		if (slot != NULL)
			*slot = fy_json_at(layers, i);
	}
	if (rl == NULL) {
		rc = fy_err_set(err, FY_EUNSUPPORTED,
				"%s: no ferry revision layer (%s); artifacts made by other tools "
				"are not read yet",
				label, MT_REVISION);
		goto out;
	}
	int64_t size;
	fy_json_int(fy_json_get(rl, "size"), &size);
	FY_TRY(rc, small_blob(&ss, fy_json_str(fy_json_get(rl, "digest")), size, &bytes, err));
	FY_TRY(rc, fy_revision_parse(bytes.data, bytes.len, label, &rev, err));
	if (repo[0] != '\0' && strcmp(rev->repo, repo) != 0) {
		rc = fy_err_set(err, FY_EINVAL, "%s holds a revision of %s, not of %s", label,
				rev->repo, repo);
		goto out;
	}
	if (sl != NULL) { /* signatures travel with it: a bad one refuses the pull */
		fy_json_int(fy_json_get(sl, "size"), &size);
		FY_TRY(rc,
		       small_blob(&ss, fy_json_str(fy_json_get(sl, "digest")), size, &sigs, err));
		FY_TRY(rc, fy_json_parse(&sigdoc, sigs.data, sigs.len, label, err));
		size_t n_sigs, invalid = 0;
		fy_store_check_sig_doc(s, bytes.data, bytes.len, sigdoc, count_invalid, &invalid,
				       &n_sigs);
		if (invalid > 0) {
			rc = fy_err_set(err, FY_EHASH,
					"%s: a signature of revision %.12s does not verify", label,
					rev->id);
			goto out;
		}
	}
	/* every file of the revision is a layer at its path with its digest and size */
	for (size_t i = 0; i < rev->n_files; i++) {
		const struct fy_file_entry *f = &rev->files[i];
		char want[72];
		bool found = false;
		digest_str(f->sha256, want);
		for (size_t k = 0; !found && k < fy_json_size(layers); k++) {
			const struct fy_json *l = fy_json_at(layers, k);
			const char *p = fy_json_str(
				fy_json_get(fy_json_get(l, "annotations"), AN_FILEPATH));
			int64_t sz;
			if (p == NULL || strcmp(p, f->path) != 0)
				continue;
			fy_json_int(fy_json_get(l, "size"), &sz);
			if (strcmp(fy_json_str(fy_json_get(l, "digest")), want) != 0 ||
			    (uint64_t)sz != f->size) {
				rc = fy_err_set(err, FY_EHASH,
						"%s: layer '%s' is not the file ferry's manifest "
						"names (digest or size differ)",
						label, f->path);
				goto out;
			}
			found = true;
		}
		if (!found) {
			rc = fy_err_set(err, FY_EFORMAT, "%s: no layer for '%s'", label, f->path);
			goto out;
		}
	}
	struct fy_clone_opts c = *co;
	char blobs[1200];
	snprintf(blobs, sizeof(blobs), "%s/v2/%s/blobs/", ss.base, ref->name);
	c.blob_url = blobs;
	c.token = ss.bearer[0] ? ss.bearer : NULL;
	c.username = ss.basic ? o->username : NULL;
	c.password = ss.basic ? o->password : NULL;
	FY_TRY(rc, fy_store_fetch_files(s, rev, NULL, &c, st, err));
	FY_TRY(rc, fy_store_commit_fetched(s, rev, &bytes, "heads/main", err));
	if (sigs.len > 0) {
		const char *dir = fy_store_path(s, "repos/%s/signatures", rev->repo);
		char path[4300];
		snprintf(path, sizeof(path), "%s/%s.json", dir ? dir : "", rev->id);
		FY_TRY(rc, fy_mkdirs(dir, err));
		if (access(path, F_OK) != 0)
			FY_TRY(rc, fy_file_write_atomic_in(path, fy_store_path(s, "tmp"), sigs.data,
							   sigs.len, err));
	}
	snprintf(repo, FY_REPO_MAX + 1, "%s", rev->repo);
	memcpy(id, rev->id, FY_REV_ID_LEN + 1);
	record(s, rev->repo, ref, rev->id, "clone");
out:
	fy_json_free(m);
	fy_json_free(sigdoc);
	fy_revision_free(rev);
	fy_buf_release(&bytes);
	fy_buf_release(&sigs);
	fy_buf_release(&r.body);
	return rc;
}
