/*
 * Hashing a file while it downloads: ranges arrive out of order, but SHA-256 and the git blob id
 * need the bytes in order, so one background thread hashes each file's contiguous prefix of
 * finished ranges as soon as it grows. When the last range is in, only the ranges not yet hashed
 * remain to read, instead of the whole file. The ranges are read back from the partial file
 * (still in the page cache) through a descriptor of the thread's own.
 */
#include "mirror/mirror_private.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READ_PIECE (1u << 20)

struct pfile {
	bool active;	 /* hashed in the background */
	bool *in;	 /* ranges written and synced */
	size_t n_chunks; /* ranges */
	size_t next;	 /* the first range not hashed yet */
	uint64_t size, range;
	struct fy_hasher *h;
	int fd;
	bool busy;  /* the thread is reading one of its ranges */
	int status; /* FY_OK while going; FY_EIO/FY_EHASH once failed */
	bool done;  /* digests ready */
	struct fy_digests d;
};

struct fy_prefix_hash {
	pthread_t thread;
	bool started, stop;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct pfile *f;
	size_t n;
	uint8_t *buf;
};

static void pfile_clear(struct pfile *f)
{
	free(f->in);
	fy_hasher_free(f->h);
	if (f->fd >= 0)
		close(f->fd);
	memset(f, 0, sizeof(*f));
	f->fd = -1;
}

/* A file whose next range is in and that nobody else is reading; or NULL. */
static struct pfile *pick(struct fy_prefix_hash *p)
{
	for (size_t i = 0; i < p->n; i++) {
		struct pfile *f = &p->f[i];
		if (f->active && !f->done && f->status == FY_OK && f->next < f->n_chunks &&
		    f->in[f->next])
			return f;
	}
	return NULL;
}

/* Reads range c of f and feeds the hasher (called without the lock; f is busy). */
static int hash_range(struct fy_prefix_hash *p, struct pfile *f, size_t c)
{
	struct fy_err err;
	uint64_t off = (uint64_t)c * f->range;
	const uint64_t end = off + f->range < f->size ? off + f->range : f->size;
	while (off < end) {
		const size_t want = end - off < READ_PIECE ? (size_t)(end - off) : READ_PIECE;
		const ssize_t n = pread(f->fd, p->buf, want, (off_t)off);
		if (n <= 0)
			return FY_EIO;
		if (fy_hasher_update(f->h, p->buf, (size_t)n, &err) != FY_OK)
			return FY_EHASH;
		off += (uint64_t)n;
	}
	return FY_OK;
}

static void finish(struct pfile *f)
{
	struct fy_err err;
	if (fy_hasher_final(f->h, &f->d, &err) == FY_OK)
		f->done = true;
	else
		f->status = FY_EHASH;
}

static void *worker(void *arg)
{
	struct fy_prefix_hash *p = arg;
	pthread_mutex_lock(&p->mu);
	while (!p->stop) {
		struct pfile *f = pick(p);
		if (f == NULL) {
			pthread_cond_wait(&p->cv, &p->mu);
			continue;
		}
		const size_t c = f->next;
		f->busy = true;
		pthread_mutex_unlock(&p->mu);
		const int rc = hash_range(p, f, c);
		pthread_mutex_lock(&p->mu);
		f->busy = false;
		if (rc != FY_OK)
			f->status = rc;
		else if (++f->next == f->n_chunks)
			finish(f);
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

int fy_prefix_hash_new(struct fy_prefix_hash **out, size_t n_files, struct fy_err *err)
{
	struct fy_prefix_hash *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	p->f = calloc(n_files > 0 ? n_files : 1, sizeof(*p->f));
	p->buf = malloc(READ_PIECE);
	p->n = n_files;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	if (p->f == NULL || p->buf == NULL) {
		fy_prefix_hash_free(p);
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n_files; i++)
		p->f[i].fd = -1;
	if (pthread_create(&p->thread, NULL, worker, p) != 0) {
		fy_prefix_hash_free(p);
		return fy_err_set(err, FY_EIO, "cannot start the hashing thread");
	}
	p->started = true;
	*out = p;
	return FY_OK;
}

void fy_prefix_hash_free(struct fy_prefix_hash *p)
{
	if (p == NULL)
		return;
	if (p->started) {
		pthread_mutex_lock(&p->mu);
		p->stop = true;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
		pthread_join(p->thread, NULL);
	}
	for (size_t i = 0; p->f != NULL && i < p->n; i++)
		pfile_clear(&p->f[i]);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p->f);
	free(p->buf);
	free(p);
}

/* Waits until the thread is not reading file i (the caller holds the lock). */
static void wait_idle(struct fy_prefix_hash *p, struct pfile *f)
{
	while (f->busy)
		pthread_cond_wait(&p->cv, &p->mu);
}

int fy_prefix_hash_file(struct fy_prefix_hash *p, size_t i, const char *path, uint64_t size,
			uint64_t range, int flags, const bool *done, size_t n_chunks,
			struct fy_err *err)
{
	struct pfile *f = &p->f[i];
	struct fy_hasher *h = NULL;
	bool *in = calloc(n_chunks > 0 ? n_chunks : 1, sizeof(*in));
	const int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc = fy_hasher_new(&h, size, flags, err);
	if (rc == FY_OK && (in == NULL || fd < 0))
		rc = fy_err_sys(err, FY_EIO, "cannot open '%s'", path);
	if (rc != FY_OK) {
		free(in);
		fy_hasher_free(h);
		if (fd >= 0)
			close(fd);
		return rc;
	}
	memcpy(in, done, n_chunks * sizeof(*in));
	pthread_mutex_lock(&p->mu);
	wait_idle(p, f);
	pfile_clear(f);
	*f = (struct pfile){ .active = true,
			     .in = in,
			     .n_chunks = n_chunks,
			     .size = size,
			     .range = range,
			     .h = h,
			     .fd = fd };
	if (n_chunks == 0)
		finish(f);
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return FY_OK;
}

void fy_prefix_hash_range(struct fy_prefix_hash *p, size_t i, size_t chunk)
{
	pthread_mutex_lock(&p->mu);
	if (p->f[i].active && chunk < p->f[i].n_chunks) {
		p->f[i].in[chunk] = true;
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
}

int fy_prefix_hash_wait(struct fy_prefix_hash *p, size_t i, struct fy_digests *out)
{
	struct pfile *f = &p->f[i];
	int rc;
	pthread_mutex_lock(&p->mu);
	while (f->active && !f->done && f->status == FY_OK)
		pthread_cond_wait(&p->cv, &p->mu);
	rc = !f->active ? FY_ENOTFOUND : f->done ? FY_OK : f->status;
	if (rc == FY_OK)
		*out = f->d;
	wait_idle(p, f);
	pfile_clear(f);
	pthread_mutex_unlock(&p->mu);
	return rc;
}
