/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The scanner's file driver: worker threads over chunks of a file, the hit list, progress. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/backend.h"
#include "io/storage.h"
#include "scan/scan_internal.h"
#include "base/log.h"
#include "base/util.h"

int scan_hits_add(struct scan_hits *l, const struct scan_hit *h)
{
	struct scan_hit *v;
	size_t cap;

	if (l->n == SCAN_MAX_HITS) {
		l->dropped++;
		return 0;
	}
	if (l->n == l->cap) {
		cap = l->cap ? l->cap * 2 : 64;
		/* Secmem has no realloc: copy into a larger block and wipe the old one. */
		v = secmem_alloc(cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		if (l->n)
			memcpy(v, l->v, l->n * sizeof(*v));
		secmem_free(l->v);
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = *h;
	return 0;
}

void scan_hits_clear(struct scan_hits *l)
{
	secmem_free(l->v);
	memset(l, 0, sizeof(*l));
}

static int hit_cmp(const void *x, const void *y)
{
	const struct scan_hit *a = x, *b = y;

	if (a->file != b->file)
		return a->file < b->file ? -1 : 1;
	if (a->offset != b->offset)
		return a->offset < b->offset ? -1 : 1;
	return (int)b->len - (int)a->len;
}

void scan_hits_normalize(struct scan_hits *l)
{
	uint64_t end = 0;
	uint32_t file = 0;
	size_t i, n = 0;

	if (l->n == 0)
		return;
	qsort(l->v, l->n, sizeof(*l->v), hit_cmp);
	for (i = 0; i < l->n; i++) {
		struct scan_hit *h = &l->v[i];
		uint64_t h_end = h->offset + h->len;

		/* Sorted by offset, longest first: a kept hit reaching past h's end contains it. */
		if (n > 0 && h->file == file && h_end <= end)
			continue;
		if (n == 0 || h->file != file || h_end > end) {
			file = h->file;
			end = h_end;
		}
		if (n != i)
			l->v[n] = *h;
		n++;
	}
	if (n < l->n)
		explicit_bzero(l->v + n, (l->n - n) * sizeof(*l->v));
	l->n = n;
}

struct file_scan {
	const struct scan_file_job *job;
	struct storage *st;
	uint64_t size;
	size_t overlap;
	atomic_uint_fast64_t next_chunk;
	atomic_uint_fast64_t done;
	atomic_int err;
	pthread_mutex_t lock; /* hits, running */
	pthread_cond_t cond;
	unsigned running;
};

static int emit(void *ctx, const struct scan_hit *h)
{
	struct file_scan *fs = ctx;
	int r;

	pthread_mutex_lock(&fs->lock);
	r = scan_hits_add(fs->job->hits, h);
	pthread_mutex_unlock(&fs->lock);
	return r;
}

static void set_err(struct file_scan *fs, int r)
{
	int expected = 0;

	atomic_compare_exchange_strong(&fs->err, &expected, r);
}

static void *worker(void *arg)
{
	struct file_scan *fs = arg;
	const struct scan_file_job *job = fs->job;
	uint8_t *buf = secmem_alloc(job->chunk + fs->overlap);
	uint64_t idx, off, n, limit;
	int r = 0;

	if (!buf)
		r = -ENOMEM;
	while (r == 0 && atomic_load(&fs->err) == 0) {
		idx = atomic_fetch_add(&fs->next_chunk, 1);
		if (idx > (fs->size - 1) / job->chunk || fs->size == 0)
			break;
		off = idx * job->chunk;
		limit = fs->size - off < job->chunk ? fs->size - off : job->chunk;
		n = fs->size - off < job->chunk + fs->overlap ? fs->size - off
							      : job->chunk + fs->overlap;
		r = storage_read(fs->st, buf, n, off);
		if (r < 0) {
			log_err("%s: read error at offset %llu: %s", storage_path(fs->st),
				(unsigned long long)off, vmc_strerror(r));
			break;
		}
		if (job->known)
			r = scan_known_buf(job->known, buf, n, limit, off, job->file, emit, fs);
		else
			r = scan_any_buf(job->any, buf, n, limit, off, job->file, emit, fs);
		atomic_fetch_add(&fs->done, limit);
	}
	if (r < 0)
		set_err(fs, r);
	secmem_free(buf);
	pthread_mutex_lock(&fs->lock);
	fs->running--;
	pthread_cond_signal(&fs->cond);
	pthread_mutex_unlock(&fs->lock);
	return NULL;
}

int scan_file_size(const char *path, uint64_t *ret_size)
{
	struct storage *st = NULL;
	int r;

	r = storage_open(path, STORAGE_RDONLY, &st);
	if (r == 0)
		r = storage_size(st, ret_size);
	storage_free(st);
	return r;
}

/* Waits for the workers, reporting progress about four times a second. */
static void supervise(struct file_scan *fs)
{
	const struct scan_file_job *job = fs->job;
	struct timespec deadline;

	pthread_mutex_lock(&fs->lock);
	while (fs->running > 0) {
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_nsec += 250 * 1000 * 1000;
		if (deadline.tv_nsec >= 1000000000) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&fs->cond, &fs->lock, &deadline);
		if (fs->running == 0 || !job->progress)
			continue;
		pthread_mutex_unlock(&fs->lock);
		if (!job->progress(job->done_before + atomic_load(&fs->done), job->total,
				   job->userdata))
			set_err(fs, -ECANCELED);
		pthread_mutex_lock(&fs->lock);
	}
	pthread_mutex_unlock(&fs->lock);
}

int scan_storage(struct storage *st, const struct scan_file_job *job, uint64_t *ret_size)
{
	pthread_t tids[256];
	struct file_scan fs = {.job = job, .st = st};
	unsigned threads = job->threads, started = 0, i;
	int r;

	if (threads == 0 || threads > ARRAY_SIZE(tids) || job->chunk == 0 ||
	    !job->known == !job->any)
		return -EINVAL;
	fs.overlap = (job->known ? scan_known_window(job->known) : SCAN_ANY_WINDOW) - 1;
	pthread_mutex_init(&fs.lock, NULL);
	pthread_cond_init(&fs.cond, NULL);
	r = storage_size(fs.st, &fs.size);
	if (r < 0)
		goto out;
	if ((fs.size + job->chunk - 1) / job->chunk < threads)
		threads = (unsigned)((fs.size + job->chunk - 1) / job->chunk);
	fs.running = threads;
	for (i = 0; i < threads; i++) {
		if (pthread_create(&tids[i], NULL, worker, &fs) != 0) {
			pthread_mutex_lock(&fs.lock);
			fs.running -= threads - i;
			pthread_mutex_unlock(&fs.lock);
			set_err(&fs, -EAGAIN);
			break;
		}
		started++;
	}
	supervise(&fs);
	for (i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	r = atomic_load(&fs.err);
	if (r == -EAGAIN)
		log_err("%s: cannot start scanner threads", storage_path(st));
	if (r == 0)
		*ret_size = fs.size;
out:
	pthread_cond_destroy(&fs.cond);
	pthread_mutex_destroy(&fs.lock);
	return r;
}

int scan_file(const char *path, const struct scan_file_job *job, uint64_t *ret_size)
{
	struct storage *st = NULL;
	int r;

	r = storage_open(path, STORAGE_RDONLY, &st);
	if (r == 0)
		r = scan_storage(st, job, ret_size);
	storage_free(st);
	return r;
}
