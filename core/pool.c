/*
 * Thread pool with a parallel-for. Workers sleep on a condition variable; fy_pool_for publishes
 * a job (a generation number), every thread (the caller included) takes chunks with an atomic
 * counter until none remain, and the caller waits until all workers have left the job. Between
 * jobs, workers and the waiting caller spin a little (SPIN pauses, tens of microseconds) before
 * they sleep: a sequence of short jobs (a model's matrix products, one token at a time) then
 * costs no wake-up through the kernel.
 */
#include "core/core.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SPIN 20000

static inline void relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

struct fy_pool {
	int n_threads; /* including the caller */
	pthread_t *threads;
	pthread_mutex_t mu;
	pthread_cond_t wake;
	pthread_cond_t done;
	atomic_ullong generation; /* bumped per job */
	atomic_int busy;	  /* workers still inside the current job */
	bool stop;
	/* the current job */
	fy_range_fn fn;
	void *ctx;
	int64_t n;
	int64_t grain;
	atomic_llong next;
	atomic_int failed;
	struct fy_err first_err;
	int first_rc;
};

static void run_chunks(struct fy_pool *p)
{
	struct fy_err err;
	int64_t begin;
	int64_t end;
	int rc;

	fy_err_clear(&err);
	for (;;) {
		if (atomic_load(&p->failed))
			return;
		begin = atomic_fetch_add(&p->next, p->grain);
		if (begin >= p->n)
			return;
		end = p->n - begin < p->grain ? p->n : begin + p->grain;
		rc = p->fn(p->ctx, begin, end, &err);
		if (rc != FY_OK) {
			pthread_mutex_lock(&p->mu);
			if (!atomic_load(&p->failed)) {
				p->first_rc = rc;
				p->first_err = err;
				atomic_store(&p->failed, 1);
			}
			pthread_mutex_unlock(&p->mu);
			return;
		}
	}
}

static void *worker(void *arg)
{
	struct fy_pool *p = arg;
	uint64_t seen = 0;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		if (!p->stop && atomic_load(&p->generation) == seen) {
			pthread_mutex_unlock(&p->mu);
			for (int i = 0; i < SPIN && atomic_load(&p->generation) == seen; i++)
				relax();
			pthread_mutex_lock(&p->mu);
		}
		while (!p->stop && atomic_load(&p->generation) == seen)
			pthread_cond_wait(&p->wake, &p->mu);
		if (p->stop)
			break;
		seen = atomic_load(&p->generation);
		pthread_mutex_unlock(&p->mu);
		run_chunks(p);
		pthread_mutex_lock(&p->mu);
		if (--p->busy == 0)
			pthread_cond_signal(&p->done);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static int online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		return 1;
	return n > 256 ? 256 : (int)n;
}

int fy_pool_new(struct fy_pool **out, int n_threads, struct fy_err *err)
{
	struct fy_pool *p;
	int i;

	if (n_threads <= 0)
		n_threads = online_cpus();
	if (n_threads > 1024)
		return fy_err_set(err, FY_EINVAL, "too many threads (%d, at most 1024)", n_threads);
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	p->threads = calloc((size_t)n_threads, sizeof(*p->threads));
	if (p->threads == NULL) {
		free(p);
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->wake, NULL);
	pthread_cond_init(&p->done, NULL);
	p->n_threads = 1;
	for (i = 1; i < n_threads; i++) {
		if (pthread_create(&p->threads[i], NULL, worker, p) != 0) {
			fy_pool_free(p);
			return fy_err_set(err, FY_EIO, "cannot start thread %d of %d", i + 1,
					  n_threads);
		}
		p->n_threads++;
	}
	*out = p;
	return FY_OK;
}

void fy_pool_free(struct fy_pool *p)
{
	int i;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->mu);
	for (i = 1; i < p->n_threads; i++)
		pthread_join(p->threads[i], NULL);
	pthread_cond_destroy(&p->done);
	pthread_cond_destroy(&p->wake);
	pthread_mutex_destroy(&p->mu);
	free(p->threads);
	free(p);
}

int fy_pool_threads(const struct fy_pool *p)
{
	return p->n_threads;
}

int fy_pool_for(struct fy_pool *p, int64_t n, int64_t grain, fy_range_fn fn, void *ctx,
		struct fy_err *err)
{
	if (n <= 0)
		return FY_OK;
	if (grain <= 0) {
		grain = n / ((int64_t)p->n_threads * 4);
		if (grain < 1)
			grain = 1;
	}
	pthread_mutex_lock(&p->mu);
	p->fn = fn;
	p->ctx = ctx;
	p->n = n;
	p->grain = grain;
	atomic_store(&p->next, 0);
	atomic_store(&p->failed, 0);
	p->first_rc = FY_OK;
	p->busy = p->n_threads - 1;
	p->generation++;
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->mu);

	run_chunks(p);

	for (int i = 0; i < SPIN && atomic_load(&p->busy) > 0; i++)
		relax();
	pthread_mutex_lock(&p->mu);
	while (p->busy > 0)
		pthread_cond_wait(&p->done, &p->mu);
	pthread_mutex_unlock(&p->mu);
	if (atomic_load(&p->failed)) {
		if (err != NULL)
			*err = p->first_err;
		return p->first_rc;
	}
	return FY_OK;
}
