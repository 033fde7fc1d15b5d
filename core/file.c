/* File helpers: read-only mmap, whole-file reads, atomic writes, sinks. */
#include "core/core.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#define ATOMIC_BUF_SIZE (1u << 20)

/* Opens path read-only and checks that it is a regular file; *fd and *size on success. */
static int open_regular(const char *path, int *fd, uint64_t *size, struct fy_err *err)
{
	struct stat st;
	int f = open(path, O_RDONLY | O_CLOEXEC);

	if (f < 0)
		return fy_err_sys(err, FY_EIO, "cannot open '%s'", path);
	if (fstat(f, &st) != 0) {
		fy_err_sys(err, FY_EIO, "cannot stat '%s'", path);
		close(f);
		return FY_EIO;
	}
	if (!S_ISREG(st.st_mode)) {
		close(f);
		return fy_err_set(err, FY_EINVAL, "'%s' is not a regular file", path);
	}
	*fd = f;
	*size = (uint64_t)st.st_size;
	return FY_OK;
}

int fy_map_open(struct fy_map *m, const char *path, struct fy_err *err)
{
	uint64_t size = 0;
	void *p = NULL;
	int fd = -1;
	int rc;

	rc = open_regular(path, &fd, &size, err);
	if (rc != FY_OK)
		return rc;
	if (size > SIZE_MAX) {
		rc = fy_err_set(err, FY_EUNSUPPORTED, "'%s' is too large to map", path);
		goto out;
	}
	if (size > 0) {
		p = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED) {
			rc = fy_err_sys(err, FY_EIO, "cannot map '%s'", path);
			goto out;
		}
	}
	m->data = p;
	m->size = (size_t)size;
out:
	close(fd);
	return rc;
}

void fy_map_release(struct fy_map *m)
{
	if (m->data != NULL)
		munmap((void *)m->data, m->size);
	m->data = NULL;
	m->size = 0;
}

void fy_map_drop(const void *p, size_t n)
{
	const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t start = ((uintptr_t)p + page - 1) & ~(page - 1);
	const uintptr_t end = ((uintptr_t)p + n) & ~(page - 1);
	if (page == 0 || end <= start)
		return;
	/* advice only: a failure changes nothing but memory use */
	(void)madvise((void *)start, end - start, MADV_DONTNEED);
}

int fy_file_read(const char *path, size_t max_bytes, struct fy_buf *b, struct fy_err *err)
{
	uint64_t size = 0;
	ssize_t n;
	int fd = -1;
	int rc;

	rc = open_regular(path, &fd, &size, err);
	if (rc != FY_OK)
		return rc;
	if (size > max_bytes) {
		rc = fy_err_set(err, FY_EFORMAT, "'%s' is too large (%llu bytes, at most %zu)",
				path, (unsigned long long)size, max_bytes);
		goto out;
	}
	FY_TRY(rc, fy_buf_reserve(b, (size_t)size + 1, err));
	for (;;) {
		if (b->cap - b->len <= 1)
			FY_TRY(rc, fy_buf_reserve(b, 4096, err));
		n = read(fd, b->data + b->len, b->cap - b->len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = fy_err_sys(err, FY_EIO, "cannot read '%s'", path);
			goto out;
		}
		if (n == 0)
			break;
		b->len += (size_t)n;
		if (b->len > max_bytes) {
			rc = fy_err_set(err, FY_EFORMAT, "'%s' grew past %zu bytes while read",
					path, max_bytes);
			goto out;
		}
	}
	b->data[b->len] = '\0'; /* convenience for text; not counted in len */
out:
	close(fd);
	return rc;
}

int fy_write_all(int fd, const void *data, size_t n, const char *path, struct fy_err *err)
{
	const uint8_t *p = data;
	ssize_t w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w == 0)
			errno = EIO; /* no progress and no reason: do not spin */
		if (w <= 0)
			return fy_err_sys(err, FY_EIO, "cannot write '%s'", path);
		p += w;
		n -= (size_t)w;
	}
	return FY_OK;
}

/* The PID in a ferry temp name (see temp_name), or 0 when name is not one. */
static long temp_pid(const char *name)
{
	const char *p = strstr(name, ".ferry-tmp.");
	char *end;
	long pid;

	if (p == NULL)
		return 0;
	p += strlen(".ferry-tmp.");
	if (*p < '1' || *p > '9')
		return 0;
	errno = 0;
	pid = strtol(p, &end, 10);
	if (errno != 0 || pid <= 0 || (*end != '\0' && *end != '.'))
		return 0;
	return pid;
}

void fy_sweep_parent(struct fy_sweep *sw, const char *path)
{
	char dir[sizeof(sw->last)];
	const char *slash = strrchr(path, '/');
	struct dirent *e;
	DIR *d;

	if (slash == NULL || (size_t)(slash - path) >= sizeof(dir))
		return;
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	if (strcmp(dir, sw->last) == 0)
		return;
	snprintf(sw->last, sizeof(sw->last), "%s", dir);
	d = opendir(dir[0] != '\0' ? dir : "/");
	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		const long pid = temp_pid(e->d_name);

		/* a live PID (even another user's: EPERM) may be writing it now */
		if (pid > 0 && pid != (long)getpid() && kill((pid_t)pid, 0) != 0 && errno == ESRCH)
			unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
}

static char *temp_name(const char *path, const char *tmp_dir)
{
	static atomic_uint counter;
	char *copy = strdup(path);
	const char *dir;
	char *base;
	char *tmp = NULL;
	size_t len;

	if (copy == NULL)
		return NULL;
	base = strrchr(copy, '/');
	if (base == NULL) {
		dir = ".";
		base = copy;
	} else {
		*base++ = '\0';
		dir = copy[0] ? copy : "/";
	}
	if (tmp_dir != NULL)
		dir = tmp_dir;
	len = strlen(dir) + strlen(base) + 64;
	tmp = malloc(len);
	if (tmp != NULL)
		snprintf(tmp, len, "%s/.%s.ferry-tmp.%ld.%u", dir, base, (long)getpid(),
			 atomic_fetch_add(&counter, 1));
	free(copy);
	return tmp;
}

int fy_atomic_open(struct fy_atomic *a, const char *path, struct fy_err *err)
{
	return fy_atomic_open_in(a, path, NULL, err);
}

int fy_atomic_open_in(struct fy_atomic *a, const char *path, const char *tmp_dir,
		      struct fy_err *err)
{
	a->fd = -1;
	a->written = 0;
	a->buf_len = 0;
	a->path = strdup(path);
	a->tmp = temp_name(path, tmp_dir);
	a->buf = malloc(ATOMIC_BUF_SIZE);
	if (a->path == NULL || a->tmp == NULL || a->buf == NULL) {
		fy_atomic_abort(a);
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	}
	a->fd = open(a->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (a->fd < 0) {
		fy_err_sys(err, FY_EIO, "cannot create a temporary file next to '%s'", path);
		fy_atomic_abort(a);
		return FY_EIO;
	}
	return FY_OK;
}

static int atomic_flush(struct fy_atomic *a, struct fy_err *err)
{
	int rc = fy_write_all(a->fd, a->buf, a->buf_len, a->path, err);

	a->buf_len = 0;
	return rc;
}

int fy_atomic_write(struct fy_atomic *a, const void *data, size_t n, struct fy_err *err)
{
	const uint8_t *p = data;
	size_t room;
	int rc;

	if (a->fd < 0)
		return fy_err_set(err, FY_EINVAL, "write to a closed file");
	a->written += n;
	if (n >= ATOMIC_BUF_SIZE) {
		rc = atomic_flush(a, err);
		if (rc != FY_OK)
			return rc;
		return fy_write_all(a->fd, p, n, a->path, err);
	}
	while (n > 0) {
		room = ATOMIC_BUF_SIZE - a->buf_len;
		if (room > n)
			room = n;
		memcpy(a->buf + a->buf_len, p, room);
		a->buf_len += room;
		p += room;
		n -= room;
		if (a->buf_len == ATOMIC_BUF_SIZE) {
			rc = atomic_flush(a, err);
			if (rc != FY_OK)
				return rc;
		}
	}
	return FY_OK;
}

int fy_atomic_zeros(struct fy_atomic *a, uint64_t n, struct fy_err *err)
{
	static const uint8_t zeros[4096];
	size_t k;
	int rc;

	while (n > 0) {
		k = n < sizeof(zeros) ? (size_t)n : sizeof(zeros);
		rc = fy_atomic_write(a, zeros, k, err);
		if (rc != FY_OK)
			return rc;
		n -= k;
	}
	return FY_OK;
}

static int fsync_dir_of(const char *path, struct fy_err *err)
{
	char *copy = strdup(path);
	int fd;
	int rc = FY_OK;

	if (copy == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		rc = fy_err_sys(err, FY_EIO, "cannot open the directory of '%s'", path);
	} else {
		if (fsync(fd) != 0 && errno != EINVAL)
			rc = fy_err_sys(err, FY_EIO, "cannot sync the directory of '%s'", path);
		close(fd);
	}
	free(copy);
	return rc;
}

int fy_atomic_close(struct fy_atomic *a, struct fy_err *err)
{
	int rc;

	if (a->fd < 0)
		return a->tmp != NULL ? FY_OK
				      : fy_err_set(err, FY_EINVAL, "commit of a closed file");
	FY_TRY(rc, atomic_flush(a, err));
	if (fsync(a->fd) != 0) {
		rc = fy_err_sys(err, FY_EIO, "cannot sync '%s'", a->path);
		goto out;
	}
	if (close(a->fd) != 0) {
		a->fd = -1;
		rc = fy_err_sys(err, FY_EIO, "cannot close '%s'", a->path);
		goto out;
	}
	a->fd = -1;
	free(a->buf);
	a->buf = NULL;
	return FY_OK;
out:
	fy_atomic_abort(a);
	return rc;
}

int fy_atomic_commit(struct fy_atomic *a, struct fy_err *err)
{
	int rc;

	FY_TRY(rc, fy_atomic_close(a, err));
	if (rename(a->tmp, a->path) != 0) {
		rc = fy_err_sys(err, FY_EIO, "cannot rename into '%s'", a->path);
		goto out;
	}
	free(a->tmp);
	a->tmp = NULL; /* renamed: nothing left to remove */
	rc = fsync_dir_of(a->path, err);
out:
	fy_atomic_abort(a);
	return rc;
}

void fy_atomic_abort(struct fy_atomic *a)
{
	if (a->fd >= 0)
		close(a->fd);
	a->fd = -1;
	if (a->tmp != NULL)
		unlink(a->tmp);
	free(a->tmp);
	free(a->path);
	free(a->buf);
	a->tmp = NULL;
	a->path = NULL;
	a->buf = NULL;
	a->buf_len = 0;
}

int fy_file_write_atomic(const char *path, const void *data, size_t n, struct fy_err *err)
{
	return fy_file_write_atomic_in(path, NULL, data, n, err);
}

int fy_file_write_atomic_in(const char *path, const char *tmp_dir, const void *data, size_t n,
			    struct fy_err *err)
{
	struct fy_atomic a;
	int rc;

	rc = fy_atomic_open_in(&a, path, tmp_dir, err);
	if (rc != FY_OK)
		return rc;
	rc = fy_atomic_write(&a, data, n, err);
	if (rc != FY_OK) {
		fy_atomic_abort(&a);
		return rc;
	}
	return fy_atomic_commit(&a, err);
}

int fy_sink_write(struct fy_sink *s, const void *data, size_t n, struct fy_err *err)
{
	if (n > s->left)
		return fy_err_set(err, FY_EINVAL,
				  "tensor '%s': data callback wrote %zu bytes more "
				  "than its size",
				  s->what, (size_t)(n - s->left));
	s->left -= n;
	return fy_atomic_write(s->file, data, n, err);
}

char *fy_path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);

	if (p != NULL)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void fy_names_free(char **names, size_t n)
{
	size_t i;

	for (i = 0; names != NULL && i < n; i++)
		free(names[i]);
	free(names);
}

static int push_name(char ***names, size_t *n, const char *name, struct fy_err *err)
{
	char **p = realloc(*names, (*n + 1) * sizeof(**names));

	if (p == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	*names = p;
	p[*n] = strdup(name);
	if (p[*n] == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	(*n)++;
	return FY_OK;
}

int fy_dir_list(const char *dir, const char *suffix, char ***names, size_t *count,
		struct fy_err *err)
{
	size_t slen = strlen(suffix);
	char **list = NULL;
	size_t n = 0;
	struct dirent *e;
	DIR *d;
	int rc = FY_OK;

	d = opendir(dir);
	if (d == NULL)
		return fy_err_sys(err, FY_EIO, "cannot open directory '%s'", dir);
	while (rc == FY_OK && (e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);

		if (e->d_name[0] == '.' || len <= slen ||
		    strcmp(e->d_name + len - slen, suffix) != 0)
			continue;
		rc = push_name(&list, &n, e->d_name, err);
	}
	closedir(d);
	if (rc != FY_OK) {
		fy_names_free(list, n);
		return rc;
	}
	if (n > 1)
		qsort(list, n, sizeof(*list), cmp_names);
	*names = list;
	*count = n;
	return FY_OK;
}

void fy_dir_remove(const char *dir)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return;
	for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char *p = fy_path_join(dir, e->d_name);
		if (p != NULL)
			unlink(p);
		free(p);
	}
	closedir(d);
	rmdir(dir);
}

double fy_now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
