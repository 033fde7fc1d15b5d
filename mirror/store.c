/* The store: layout, the writer lock, objects, refs, repositories. */
#include "mirror/mirror_private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define COPY_CHUNK (4u << 20)
static const char config_text[] = "{\"format\": \"ferry-store\", \"version\": 1}\n";

const char *fy_store_dir(const struct fy_store *s)
{
	return s->dir;
}

const char *fy_store_path(const struct fy_store *s, const char *fmt, ...)
{
	static _Thread_local char bufs[8][4096];
	static _Thread_local int next;
	char *p = bufs[next++ % 8];
	size_t n = (size_t)snprintf(p, 4096, "%s/", s->dir);
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(p + n, 4096 - n, fmt, ap);
	va_end(ap);
	return k < 0 || (size_t)k >= 4096 - n ? NULL : p;
}

int fy_mkdirs(const char *path, struct fy_err *err)
{
	char buf[4096];
	size_t i;

	if (strlen(path) >= sizeof(buf))
		return fy_err_set(err, FY_EINVAL, "path too long: '%s'", path);
	strcpy(buf, path);
	for (i = 1; buf[i] != '\0'; i++) {
		if (buf[i] != '/')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return fy_err_sys(err, FY_EIO, "cannot create directory '%s'", buf);
		buf[i] = '/';
	}
	if (mkdir(buf, 0755) != 0 && errno != EEXIST)
		return fy_err_sys(err, FY_EIO, "cannot create directory '%s'", buf);
	return FY_OK;
}

int fy_store_init(const char *dir, bool *created, struct fy_err *err)
{
	static const char *const subdirs[] = { "objects/sha256", "repos", "keys/trusted",
					       "quarantine", "tmp" };
	char path[4096];
	struct stat st;
	size_t i;
	int rc;

	snprintf(path, sizeof(path), "%s/config.json", dir);
	*created = stat(path, &st) != 0;
	if (!*created)
		return FY_OK;
	for (i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, subdirs[i]);
		rc = fy_mkdirs(path, err);
		if (rc != FY_OK)
			return rc;
	}
	snprintf(path, sizeof(path), "%s/config.json", dir);
	return fy_file_write_atomic(path, config_text, sizeof(config_text) - 1, err);
}

/* dir made absolute against the working directory (symlinks kept as named): the links ferry
 * makes into objects/ (run, smoke, install) must resolve from wherever they lie. */
static char *absolute_dir(const char *dir)
{
	char cwd[4096];

	if (dir[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL)
		return strdup(dir);
	while (dir[0] == '.' && dir[1] == '/')
		dir += 2;
	if (strcmp(dir, ".") == 0)
		return strdup(cwd);
	return fy_path_join(cwd, dir);
}

int fy_store_open(struct fy_store **out, const char *dir, struct fy_err *err)
{
	struct fy_store *s = calloc(1, sizeof(*s));
	struct fy_json *cfg = NULL;
	char path[4096];
	int64_t version = 0;
	int rc;

	if (s == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	s->lock_fd = -1;
	s->dir = absolute_dir(dir);
	snprintf(path, sizeof(path), "%s/config.json", dir);
	if (s->dir == NULL) {
		rc = fy_err_set(err, FY_ENOMEM, "out of memory");
	} else if (access(path, F_OK) != 0) {
		rc = fy_err_set(err, FY_ENOTFOUND, "no ferry store at '%s' (run 'ferry init')",
				dir);
	} else {
		rc = fy_json_load_file(&cfg, path, 1 << 16, err);
		if (rc == FY_OK &&
		    (fy_json_str(fy_json_get(cfg, "format")) == NULL ||
		     strcmp(fy_json_str(fy_json_get(cfg, "format")), "ferry-store") != 0 ||
		     !fy_json_int(fy_json_get(cfg, "version"), &version) || version != 1))
			rc = fy_err_set(err, FY_EFORMAT, "%s: not a version 1 ferry store", path);
	}
	fy_json_free(cfg);
	if (rc != FY_OK) {
		fy_store_close(s);
		return rc;
	}
	*out = s;
	return FY_OK;
}

void fy_store_close(struct fy_store *s)
{
	if (s == NULL)
		return;
	fy_store_unlock(s);
	free(s->dir);
	free(s);
}

/* ------------------------------------------------------------------------------------------ */
/* The writer lock                                                                            */

static long read_pid(int fd)
{
	char buf[32] = { 0 };
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	return n > 0 ? strtol(buf, NULL, 10) : 0;
}

/* Removes what dead writers left in tmp/ (only called with the lock held). */
static void clean_tmp(struct fy_store *s)
{
	char **names = NULL;
	size_t n = 0;
	size_t i;
	struct fy_err err;

	if (fy_dir_list(fy_store_path(s, "tmp"), "", &names, &n, &err) != FY_OK)
		return;
	for (i = 0; i < n; i++) {
		if (strncmp(names[i], "partial-", 8) != 0) /* resumable transfers stay */
			unlink(fy_store_path(s, "tmp/%s", names[i]));
	}
	fy_names_free(names, n);
}

int fy_store_lock(struct fy_store *s, fy_lock_wait_fn wait_fn, void *ctx, struct fy_err *err)
{
	const char *path = fy_store_path(s, "lock");
	char pid[32];
	int fd;
	int n;

	if (s->lock_fd >= 0)
		return FY_OK;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return fy_err_sys(err, FY_EIO, "cannot open the store lock '%s'", path);
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK) {
			close(fd);
			return fy_err_sys(err, FY_EIO, "cannot lock '%s'", path);
		}
		if (wait_fn != NULL)
			wait_fn(ctx, read_pid(fd));
		while (flock(fd, LOCK_EX) != 0) {
			if (errno != EINTR) {
				close(fd);
				return fy_err_sys(err, FY_EIO, "cannot lock '%s'", path);
			}
		}
	}
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
		close(fd);
		return fy_err_sys(err, FY_EIO, "cannot write '%s'", path);
	}
	s->lock_fd = fd;
	clean_tmp(s);
	return FY_OK;
}

void fy_store_unlock(struct fy_store *s)
{
	if (s->lock_fd < 0)
		return;
	if (ftruncate(s->lock_fd, 0) != 0) {
		/* the pid stays; the next writer overwrites it */
	}
	close(s->lock_fd); /* releases the flock */
	s->lock_fd = -1;
}

/* ------------------------------------------------------------------------------------------ */
/* Names                                                                                      */

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.';
}

static bool check_part(const char *p, size_t n)
{
	size_t i;

	if (n == 0 || n > 96 || p[0] == '.' || p[0] == '-')
		return false;
	for (i = 0; i < n; i++) {
		if (!name_char(p[i]))
			return false;
		if (i + 1 < n && p[i] == '.' && p[i + 1] == '.')
			return false;
	}
	return true;
}

int fy_repo_check(const char *repo, struct fy_err *err)
{
	const char *name = strncmp(repo, "datasets/", 9) == 0 ? repo + 9 : repo;
	const char *slash = strchr(name, '/');

	if (strncmp(name, "datasets/", 9) == 0 || strncmp(name, "spaces/", 7) == 0)
		slash = NULL; /* reserved namespaces */
	if (slash == NULL || strchr(slash + 1, '/') != NULL ||
	    !check_part(name, (size_t)(slash - name)) || !check_part(slash + 1, strlen(slash + 1)))
		return fy_err_set(
			err, FY_EINVAL,
			"'%s' is not a repository name (NAMESPACE/NAME for a model, "
			"datasets/NAMESPACE/NAME for a dataset: letters, digits, '-', '_', '.'; "
			"at most 96 characters each)",
			repo);
	return FY_OK;
}

/* A ref name: "heads/X" or "tags/X" with X a valid name part, or "pr/N" (a hub's pull request
 * ref, refs/pr/N there). */
static int check_ref(const char *ref, struct fy_err *err)
{
	const char *name = NULL;

	if (strncmp(ref, "heads/", 6) == 0)
		name = ref + 6;
	else if (strncmp(ref, "tags/", 5) == 0)
		name = ref + 5;
	else if (strncmp(ref, "pr/", 3) == 0 && ref[3] != '\0' &&
		 strspn(ref + 3, "0123456789") == strlen(ref + 3) && strlen(ref + 3) < 10)
		name = ref + 3;
	if (name == NULL || !check_part(name, strlen(name)))
		return fy_err_set(err, FY_EINVAL, "'%s' is not a valid ref name", ref);
	return FY_OK;
}

bool fy_is_rev_id(const char *s)
{
	size_t i;

	for (i = 0; i < FY_REV_ID_LEN; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return s[FY_REV_ID_LEN] == '\0';
}

/* ------------------------------------------------------------------------------------------ */
/* Objects                                                                                    */

const char *fy_store_object_path(const struct fy_store *s, const uint8_t sha256[FY_SHA256_LEN])
{
	char hex[2 * FY_SHA256_LEN + 1];

	fy_hex(sha256, FY_SHA256_LEN, hex);
	return fy_store_path(s, "objects/sha256/%.2s/%s", hex, hex + 2);
}

bool fy_store_has_object(const struct fy_store *s, const uint8_t sha256[FY_SHA256_LEN])
{
	return access(fy_store_object_path(s, sha256), F_OK) == 0;
}

static int copy_hashing(int in, int out, uint64_t size, int flags, const char *src, const char *dst,
			struct fy_digests *d, struct fy_err *err)
{
	struct fy_hasher *h = NULL;
	uint8_t *buf = malloc(COPY_CHUNK);
	ssize_t n = 1;
	int rc;

	if (buf == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	FY_TRY(rc, fy_hasher_new(&h, size, flags, err));
	while (n > 0) {
		n = read(in, buf, COPY_CHUNK);
		if (n < 0 && errno == EINTR) {
			n = 1;
			continue;
		}
		if (n < 0) {
			rc = fy_err_sys(err, FY_EIO, "cannot read '%s'", src);
			goto out;
		}
		FY_TRY(rc, fy_hasher_update(h, buf, (size_t)n, err));
		if (n > 0 && (rc = fy_write_all(out, buf, (size_t)n, dst, err)) != FY_OK) {
			fy_err_prefix(err, "cannot copy '%s' into the store", src);
			goto out;
		}
	}
	rc = fy_hasher_final(h, d, err);
	if (rc == FY_EHASH)
		fy_err_prefix(err, "'%s' changed while read", src);
out:
	fy_hasher_free(h);
	free(buf);
	return rc;
}

/* Moves a complete temp file to its object name (or drops it when the object exists). */
/* Renames tmp to its object name (dropping it when the object exists); sync_dir: and syncs the
 * directory. On failure tmp is removed. */
static int move_object(struct fy_store *s, const char *tmp, const uint8_t *sha256, bool sync_dir,
		       struct fy_err *err)
{
	const char *obj = fy_store_object_path(s, sha256);
	char dir[4096];
	int rc;

	if (access(obj, F_OK) == 0) {
		unlink(tmp);
		return FY_OK;
	}
	snprintf(dir, sizeof(dir), "%s", obj);
	*strrchr(dir, '/') = '\0';
	rc = fy_mkdirs(dir, err);
	if (rc == FY_OK && rename(tmp, obj) != 0)
		rc = fy_err_sys(err, FY_EIO, "cannot move an object into '%s'", dir);
	if (rc == FY_OK && sync_dir)
		rc = fy_fsync_dir(dir, err);
	if (rc != FY_OK)
		unlink(tmp);
	return rc;
}

int fy_store_adopt(struct fy_store *s, const char *tmp, const struct fy_digests *d,
		   struct fy_err *err)
{
	return move_object(s, tmp, d->sha256, true, err);
}

/* syncfs(2) of the file system holding the store. */
static int sync_store_fs(struct fy_store *s, struct fy_err *err)
{
	const int fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = FY_OK;

	if (fd < 0)
		return fy_err_sys(err, FY_EIO, "cannot open '%s'", s->dir);
	if (syncfs(fd) != 0)
		rc = fy_err_sys(err, FY_EIO, "cannot sync the file system of '%s'", s->dir);
	close(fd);
	return rc;
}

int fy_store_adopt_all(struct fy_store *s, const struct fy_adoption *a, size_t n,
		       struct fy_err *err)
{
	int rc = FY_OK;

	if (n == 0)
		return FY_OK;
	FY_TRY(rc, sync_store_fs(s, err)); /* the files' data, before any name points at it */
	for (size_t i = 0; i < n && rc == FY_OK; i++)
		rc = move_object(s, a[i].tmp, a[i].sha256, false, err);
	if (rc == FY_OK)
		rc = sync_store_fs(s, err); /* the renames */
out:
	return rc;
}

int fy_store_import(struct fy_store *s, const char *src, int flags, struct fy_digests *out,
		    struct fy_err *err)
{
	static atomic_uint counter;
	struct fy_digests d;
	char tmp[4096];
	struct stat st;
	int in = -1, fd = -1;
	int rc;

	snprintf(tmp, sizeof(tmp), "%s/tmp/obj-%ld-%u", s->dir, (long)getpid(),
		 atomic_fetch_add(&counter, 1));
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return fy_err_sys(err, FY_EIO, "cannot open '%s'", src);
	if (fstat(in, &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = fy_err_set(err, FY_EIO, "'%s' is not a regular file", src);
		goto out;
	}
	posix_fadvise(in, 0, 0, POSIX_FADV_SEQUENTIAL);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
	if (fd < 0) {
		rc = fy_err_sys(err, FY_EIO, "cannot create '%s'", tmp);
		goto out;
	}
	FY_TRY(rc, copy_hashing(in, fd, (uint64_t)st.st_size, flags, src, tmp, &d, err));
	if (fsync(fd) != 0) {
		rc = fy_err_sys(err, FY_EIO, "cannot sync '%s'", tmp);
		goto out;
	}
	close(fd);
	fd = -1;
	FY_TRY(rc, fy_store_adopt(s, tmp, &d, err));
	*out = d;
out:
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	close(in);
	return rc;
}

int fy_store_import_own(struct fy_store *s, const char *src, int flags, struct fy_digests *out,
			struct fy_err *err)
{
	const char *tmp_dir = fy_store_path(s, "tmp/");
	struct fy_digests d;
	int fd;
	int rc;

	if (strncmp(src, tmp_dir, strlen(tmp_dir)) != 0 || strstr(src, "/../") != NULL)
		return fy_err_set(err, FY_EINVAL, "'%s' is not under the store's tmp/", src);
	rc = fy_hash_file(src, flags, &d, err);
	fd = rc == FY_OK ? open(src, O_RDONLY | O_CLOEXEC) : -1;
	if (rc == FY_OK && (fd < 0 || fchmod(fd, 0444) != 0 || fsync(fd) != 0))
		rc = fy_err_sys(err, FY_EIO, "cannot sync '%s'", src);
	if (fd >= 0)
		close(fd);
	if (rc == FY_OK)
		rc = fy_store_adopt(s, src, &d, err); /* removes src on failure */
	else
		unlink(src);
	if (rc == FY_OK)
		*out = d;
	return rc;
}

int fy_fsync_dir(const char *dir, struct fy_err *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = FY_OK;

	if (fd < 0)
		return fy_err_sys(err, FY_EIO, "cannot open directory '%s'", dir);
	if (fsync(fd) != 0 && errno != EINVAL)
		rc = fy_err_sys(err, FY_EIO, "cannot sync directory '%s'", dir);
	close(fd);
	return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Refs                                                                                       */

int fy_store_read_ref(struct fy_store *s, const char *repo, const char *ref,
		      char id[FY_REV_ID_LEN + 1], struct fy_err *err)
{
	const char *path = fy_store_path(s, "repos/%s/refs/%s", repo, ref);
	struct fy_buf b;
	int rc;

	if (check_ref(ref, err) != FY_OK)
		return FY_EINVAL;
	if (path == NULL || access(path, F_OK) != 0)
		return fy_err_set(err, FY_ENOTFOUND, "%s: no ref '%s'", repo, ref);
	fy_buf_init(&b);
	rc = fy_file_read(path, 256, &b, err);
	if (rc == FY_OK) {
		while (b.len > 0 && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r'))
			b.len--;
		b.data[b.len] = '\0';
		if (!fy_is_rev_id((const char *)b.data))
			rc = fy_err_set(err, FY_EFORMAT, "%s: ref '%s' does not hold a revision id",
					repo, ref);
		else
			memcpy(id, b.data, FY_REV_ID_LEN + 1);
	}
	fy_buf_release(&b);
	return rc;
}

int fy_store_write_ref(struct fy_store *s, const char *repo, const char *ref, const char *id,
		       struct fy_err *err)
{
	const char *path = fy_store_path(s, "repos/%s/refs/%s", repo, ref);
	char dir[4096];
	char line[FY_REV_ID_LEN + 2];
	int rc;

	if (check_ref(ref, err) != FY_OK || fy_repo_check(repo, err) != FY_OK)
		return FY_EINVAL;
	if (!fy_is_rev_id(id))
		return fy_err_set(err, FY_EINVAL, "'%s' is not a revision id", id);
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	rc = fy_mkdirs(dir, err);
	snprintf(line, sizeof(line), "%s\n", id);
	if (rc == FY_OK)
		rc = fy_file_write_atomic_in(path, fy_store_path(s, "tmp"), line, FY_REV_ID_LEN + 1,
					     err);
	return rc;
}

int fy_store_delete_ref(struct fy_store *s, const char *repo, const char *ref, struct fy_err *err)
{
	const char *path = fy_store_path(s, "repos/%s/refs/%s", repo, ref);

	if (check_ref(ref, err) != FY_OK)
		return FY_EINVAL;
	if (unlink(path) != 0)
		return errno == ENOENT ? fy_err_set(err, FY_ENOTFOUND, "%s: no ref '%s'", repo, ref)
				       : fy_err_sys(err, FY_EIO, "cannot remove '%s'", path);
	return FY_OK;
}

/* Appends prefix + each name of dir (not hidden, not temp files) to the list. */
static int list_into(const char *dir, const char *prefix, const char *suffix, char ***names,
		     size_t *n, struct fy_err *err)
{
	char **part = NULL;
	size_t k = 0;
	size_t i;
	char buf[512];
	char **p;
	int rc;

	if (access(dir, F_OK) != 0)
		return FY_OK;
	rc = fy_dir_list(dir, suffix, &part, &k, err);
	for (i = 0; rc == FY_OK && i < k; i++) {
		size_t len = strlen(part[i]) - strlen(suffix);

		snprintf(buf, sizeof(buf), "%s%.*s", prefix, (int)len, part[i]);
		p = realloc(*names, (*n + 1) * sizeof(*p));
		if (p == NULL || (p[*n] = strdup(buf)) == NULL) {
			*names = p ? p : *names;
			rc = fy_err_set(err, FY_ENOMEM, "out of memory");
			break;
		}
		*names = p;
		(*n)++;
	}
	fy_names_free(part, k);
	return rc;
}

int fy_store_list_repos(struct fy_store *s, char ***names, size_t *n, struct fy_err *err)
{
	char **ns = NULL;
	size_t k = 0;
	size_t i;
	char prefix[256];
	int rc;

	*names = NULL;
	*n = 0;
	rc = fy_dir_list(fy_store_path(s, "repos"), "", &ns, &k, err);
	for (i = 0; rc == FY_OK && i < k; i++) {
		if (strcmp(ns[i], "datasets") == 0)
			continue;
		snprintf(prefix, sizeof(prefix), "%s/", ns[i]);
		rc = list_into(fy_store_path(s, "repos/%s", ns[i]), prefix, "", names, n, err);
	}
	fy_names_free(ns, k);
	ns = NULL;
	k = 0;
	if (rc == FY_OK && access(fy_store_path(s, "repos/datasets"), F_OK) == 0)
		rc = fy_dir_list(fy_store_path(s, "repos/datasets"), "", &ns, &k, err);
	for (i = 0; rc == FY_OK && i < k; i++) {
		snprintf(prefix, sizeof(prefix), "datasets/%s/", ns[i]);
		rc = list_into(fy_store_path(s, "repos/datasets/%s", ns[i]), prefix, "", names, n,
			       err);
	}
	fy_names_free(ns, k);
	return rc;
}

int fy_store_list_refs(struct fy_store *s, const char *repo, char ***names, size_t *n,
		       struct fy_err *err)
{
	int rc;

	*names = NULL;
	*n = 0;
	rc = list_into(fy_store_path(s, "repos/%s/refs/heads", repo), "heads/", "", names, n, err);
	if (rc == FY_OK)
		rc = list_into(fy_store_path(s, "repos/%s/refs/tags", repo), "tags/", "", names, n,
			       err);
	if (rc == FY_OK)
		rc = list_into(fy_store_path(s, "repos/%s/refs/pr", repo), "pr/", "", names, n,
			       err);
	return rc;
}

int fy_store_list_revisions(struct fy_store *s, const char *repo, char ***ids, size_t *n,
			    struct fy_err *err)
{
	*ids = NULL;
	*n = 0;
	return list_into(fy_store_path(s, "repos/%s/revisions", repo), "", ".json", ids, n, err);
}
