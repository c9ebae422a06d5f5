/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Streaming copies between a file descriptor or a plain storage handle and the volume: a producer
 * thread fills buffers while the caller drains them. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/pipeline.h"
#include "base/util.h"
#include "base/workers.h"
#include "volume/volume_internal.h"

struct pipe_buf {
	uint8_t *data;
	size_t len;
	uint64_t off; /* plaintext offset in the volume */
	struct extent *e;
};

/* One copy in progress: the producer's input and the ring of buffers. */
struct copy {
	struct volume *vol;
	int fd;
	volume_source_fn *src; /* copy in: read plaintext from this source instead of fd */
	void *src_ctx;
	uint64_t limit; /* bytes to move */
	struct pipeline *ring;
	struct pipe_buf bufs[VOL_PIPE_BUFS];
};

static int copy_init(struct copy *c, struct volume *vol, int fd, uint64_t limit)
{
	memset(c, 0, sizeof(*c));
	c->vol = vol;
	c->fd = fd;
	c->limit = limit;
	/*
	 * Whole buffers are written with direct I/O. They hold plaintext for a moment:
	 * locked (best effort: RLIMIT_MEMLOCK may refuse 16 MiB), kept out of core dumps,
	 * wiped on release.
	 */
	for (int i = 0; i < VOL_PIPE_BUFS; i++)
		if (!(c->bufs[i].data = storage_bulk_alloc_plain(VOL_CHUNK)))
			return -ENOMEM;
	return pipeline_new(VOL_PIPE_BUFS, &c->ring);
}

static void copy_clear(struct copy *c)
{
	for (int i = 0; i < VOL_PIPE_BUFS; i++)
		storage_bulk_free(c->bufs[i].data, VOL_CHUNK);
	pipeline_free(c->ring);
}

/* Producer: waits for a free buffer; NULL when the consumer cancelled. */
static struct pipe_buf *copy_free_buf(struct copy *c)
{
	int i = pipeline_slot(c->ring);
	return i < 0 ? NULL : &c->bufs[i];
}

/* Consumer: next filled buffer, or NULL at the end (pipeline_error() tells why). */
static struct pipe_buf *copy_next(struct copy *c)
{
	int i = pipeline_next(c->ring);
	return i < 0 ? NULL : &c->bufs[i];
}

struct copy_progress {
	vmc_progress_fn *fn;
	void *userdata;
	uint64_t total;
	struct timespec last;
};

static bool progress_tick(struct copy_progress *pg, uint64_t done, bool final)
{
	struct timespec now;

	if (!pg->fn)
		return true;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!final &&
	    (now.tv_sec - pg->last.tv_sec) * 1000000000L + (now.tv_nsec - pg->last.tv_nsec) <
		250000000L)
		return true;
	pg->last = now;
	return pg->fn(done, pg->total, pg->userdata);
}

/* Reads up to len bytes from a file or pipe; returns the count (0 at EOF) or -errno. */
static ssize_t read_full(int fd, uint8_t *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static void *copy_in_producer(void *arg)
{
	struct copy *cp = arg;
	struct volume *vol = cp->vol;
	uint64_t off = 0;
	int r = 0;

	while (off < cp->limit) {
		struct pipe_buf *b = copy_free_buf(cp);
		struct extent *e = volume_extent_at(vol, off);
		uint64_t left = e->plain_off + e->len - off;
		size_t want = cp->limit - off < VOL_CHUNK ? (size_t)(cp->limit - off) : VOL_CHUNK;
		ssize_t n;

		if (!b)
			break;
		/* A buffer never spans two extents (keys and places differ). */
		if (want > left)
			want = (size_t)left;
		if (cp->src) {
			int s = cp->src(cp->src_ctx, b->data, want, off);
			n = s < 0 ? s : (ssize_t)want;
		} else {
			n = read_full(cp->fd, b->data, want);
		}
		if (n < 0) {
			r = (int)n;
			log_err("reading the input failed: %s", strerror(-r));
			break;
		}
		if (n == 0)
			break;
		b->len = (size_t)n;
		/* A short last piece is padded with zeros to a whole sector. */
		if (b->len % e->sector_size) {
			size_t pad = e->sector_size - b->len % e->sector_size;
			memset(b->data + b->len, 0, pad);
			b->len += pad;
		}
		b->off = off;
		b->e = e;
		r = volume_crypt_range(vol, e, b->data, b->data, b->len, off - e->plain_off, true);
		if (r < 0)
			break;
		off += b->len;
		pipeline_publish(cp->ring);
		if ((size_t)n < want)
			break;
	}
	pipeline_finish(cp->ring, r);
	return NULL;
}

static int copy_in(struct volume *vol, int fd, volume_source_fn *src, void *src_ctx, uint64_t len,
		   vmc_progress_fn *progress, void *userdata, uint64_t *ret_done)
{
	struct copy cp;
	struct copy_progress pg = {progress, userdata, 0, {0, 0}};
	pthread_t thread;
	uint64_t done = 0;
	struct pipe_buf *b;
	int r;

	if (len > vol->size)
		len = vol->size;
	pg.total = len;
	r = copy_init(&cp, vol, fd, len);
	cp.src = src;
	cp.src_ctx = src_ctx;
	if (r < 0)
		goto out;
	if (pthread_create(&thread, NULL, copy_in_producer, &cp) != 0) {
		r = -EAGAIN;
		goto out;
	}
	while ((b = copy_next(&cp))) {
		r = storage_write(vol->st, b->data, b->len,
				  b->e->phys_off + (b->off - b->e->plain_off));
		if (r < 0) {
			pipeline_cancel(cp.ring, r);
			break;
		}
		done = b->off + b->len;
		pipeline_release(cp.ring);
		if (!progress_tick(&pg, done < len ? done : len, false)) {
			pipeline_cancel(cp.ring, -ECANCELED);
			break;
		}
	}
	pthread_join(thread, NULL);
	r = pipeline_error(cp.ring);
	if (r == 0) {
		progress_tick(&pg, done < len ? done : len, true);
		if (ret_done)
			*ret_done = done < len ? done : len;
	}
out:
	copy_clear(&cp);
	return r;
}

int volume_copy_in(struct volume *vol, int fd, uint64_t len, vmc_progress_fn *progress,
		   void *userdata, uint64_t *ret_done)
{
	return copy_in(vol, fd, NULL, NULL, len, progress, userdata, ret_done);
}

static int storage_source(void *ctx, uint8_t *buf, size_t len, uint64_t off)
{
	return storage_read(ctx, buf, len, off);
}

int volume_copy_in_storage(struct volume *vol, struct storage *src, vmc_progress_fn *progress,
			   void *userdata, uint64_t *ret_done)
{
	uint64_t len = 0;
	int r = storage_size(src, &len);

	if (r < 0)
		return r;
	return copy_in(vol, -1, storage_source, src, len, progress, userdata, ret_done);
}

int volume_copy_in_source(struct volume *vol, uint64_t len, volume_source_fn *src, void *ctx,
			  vmc_progress_fn *progress, void *userdata, uint64_t *ret_done)
{
	return copy_in(vol, -1, src, ctx, len, progress, userdata, ret_done);
}

struct read_batch {
	struct crypt_batch b;
	pthread_mutex_t lock;
	uint64_t missing; /* lowest offset found missing (truncated image), or UINT64_MAX */
};

static int read_decrypt_part(void *ctx, unsigned i)
{
	struct read_batch *rb = ctx;
	size_t at = (size_t)i * rb->b.part;
	struct crypt_job job = rb->b.job;
	int r;

	job.out += at;
	job.in = job.out;
	job.off += at;
	job.len = job.len - at < rb->b.part ? job.len - at : rb->b.part;
	r = storage_read(job.vol->st, job.out, job.len, job.e->phys_off + job.off);
	if (r == -ENODATA) {
		/* Reported once, by the caller, for the first missing part. */
		pthread_mutex_lock(&rb->lock);
		if (job.off < rb->missing)
			rb->missing = job.off;
		pthread_mutex_unlock(&rb->lock);
	}
	if (r < 0 || !job.e->proto)
		return r;
	volume_crypt_job(&job);
	return job.r;
}

/*
 * Reads and decrypts len bytes (whole sectors) at offset off of extent e into
 * buf, each part read and decrypted by the same core while it is in its cache.
 */
static int read_decrypt(struct volume *vol, struct extent *e, uint8_t *buf, size_t len,
			uint64_t off)
{
	struct read_batch rb = {
	    .b = {.job = {vol, e, buf, buf, len, off, false, 0},
		  .part = VOL_PART / e->sector_size * e->sector_size},
	    .missing = UINT64_MAX,
	};
	int r;

	pthread_mutex_init(&rb.lock, NULL);
	r = workers_run(len < VOL_PARALLEL_MIN ? NULL : volume_workers(vol), read_decrypt_part, &rb,
			(unsigned)((len + rb.b.part - 1) / rb.b.part));
	pthread_mutex_destroy(&rb.lock);
	if (rb.missing != UINT64_MAX)
		r = volume_truncated(vol, e->phys_off + rb.missing);
	return r;
}

static void *copy_out_producer(void *arg)
{
	struct copy *cp = arg;
	struct volume *vol = cp->vol;
	uint64_t off = 0;
	int r = 0;

	while (off < cp->limit) {
		struct pipe_buf *b = copy_free_buf(cp);
		struct extent *e = volume_extent_at(vol, off);
		uint64_t in = off - e->plain_off;
		size_t n = cp->limit - off < VOL_CHUNK ? (size_t)(cp->limit - off) : VOL_CHUNK;

		if (!b)
			break;
		if (n > e->len - in)
			n = (size_t)(e->len - in);
		if ((r = read_decrypt(vol, e, b->data, n, in)) < 0)
			break;
		b->len = n;
		b->off = off;
		off += n;
		pipeline_publish(cp->ring);
	}
	pipeline_finish(cp->ring, r);
	return NULL;
}

static bool all_zero(const uint8_t *p, size_t len)
{
	const uint64_t *w = (const uint64_t *)(const void *)p;

	for (size_t i = 0; i < len / 8; i++)
		if (w[i])
			return false;
	return true;
}

/*
 * The output: its descriptor, and the same file opened O_DIRECT (or -1) for
 * bulk writes; or a storage handle.
 */
struct out {
	int fd;
	int dfd;
	bool seekable;
	struct storage *st;
};

static int out_write(const struct out *o, const uint8_t *p, size_t len, uint64_t off)
{
	if (o->st)
		return storage_write(o->st, p, len, off);

	/* Large page-aligned pieces around the page cache, as the storage module does. */
	int fd = o->dfd >= 0 && len >= (1u << 20) && !(len % 4096) && !(off % 4096) &&
			 !((uintptr_t)p % 4096)
		     ? o->dfd
		     : o->fd;

	while (len > 0) {
		ssize_t n = o->seekable ? pwrite(fd, p, len, (off_t)off) : write(fd, p, len);
		if (n < 0 && errno == EINVAL && fd != o->fd) {
			fd = o->fd;
			continue;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("writing the output failed: %s", strerror(errno));
			return -errno;
		}
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

/* Writes a buffer, leaving holes for all-zero 4 KiB blocks when sparse. */
static int write_out(const struct out *o, const struct pipe_buf *b, bool sparse)
{
	const size_t blk = 4096;
	size_t start = 0;

	if (!sparse)
		return out_write(o, b->data, b->len, b->off);
	while (start < b->len) {
		size_t end = start;
		bool zero = all_zero(b->data + start, b->len - start < blk ? b->len - start : blk);
		while (end < b->len &&
		       all_zero(b->data + end, b->len - end < blk ? b->len - end : blk) == zero)
			end += b->len - end < blk ? b->len - end : blk;
		if (!zero) {
			int r = out_write(o, b->data + start, end - start, b->off + start);
			if (r < 0)
				return r;
		}
		start = end;
	}
	return 0;
}

static int copy_out(struct volume *vol, int fd, struct storage *dst, bool sparse,
		    vmc_progress_fn *progress, void *userdata)
{
	struct copy cp;
	struct copy_progress pg = {progress, userdata, vol->size, {0, 0}};
	struct out o = {.fd = fd, .dfd = -1, .st = dst};
	struct stat sb;
	pthread_t thread;
	struct pipe_buf *b;
	int r;

	if (dst) {
		uint64_t size = 0;
		if ((r = storage_size(dst, &size)) < 0)
			return r;
		if (size < vol->size) {
			log_err("%s: %llu bytes are too small for the %llu-byte plaintext",
				storage_path(dst), (unsigned long long)size,
				(unsigned long long)vol->size);
			return -ENOSPC;
		}
	} else if (fstat(fd, &sb) < 0) {
		return -errno;
	} else {
		o.seekable = S_ISREG(sb.st_mode) || S_ISBLK(sb.st_mode);
		/* Holes only in a regular file: a block device or pipe needs every byte written. */
		sparse = sparse && S_ISREG(sb.st_mode);
	}
	if (o.seekable) {
		char proc[64];
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		o.dfd = open(proc, O_WRONLY | O_DIRECT | O_CLOEXEC);
	}
	r = copy_init(&cp, vol, fd, vol->size);
	if (r < 0)
		goto out;
	if (pthread_create(&thread, NULL, copy_out_producer, &cp) != 0) {
		r = -EAGAIN;
		goto out;
	}
	while ((b = copy_next(&cp))) {
		uint64_t done = b->off + b->len;
		r = write_out(&o, b, sparse);
		if (r < 0) {
			pipeline_cancel(cp.ring, r);
			break;
		}
		pipeline_release(cp.ring);
		if (!progress_tick(&pg, done, false)) {
			pipeline_cancel(cp.ring, -ECANCELED);
			break;
		}
	}
	pthread_join(thread, NULL);
	r = pipeline_error(cp.ring);
	if (r == 0 && dst)
		r = storage_sync(dst);
	if (r == 0 && !dst && sparse && ftruncate(fd, (off_t)vol->size) < 0) {
		r = -errno;
		log_err("setting the output size failed: %s", strerror(errno));
	}
	if (r == 0)
		progress_tick(&pg, vol->size, true);
out:
	if (o.dfd >= 0)
		close(o.dfd);
	copy_clear(&cp);
	return r;
}

int volume_copy_out(struct volume *vol, int fd, bool sparse, vmc_progress_fn *progress,
		    void *userdata)
{
	return copy_out(vol, fd, NULL, sparse, progress, userdata);
}

int volume_copy_out_storage(struct volume *vol, struct storage *dst, bool zeroed,
			    vmc_progress_fn *progress, void *userdata)
{
	return copy_out(vol, -1, dst, zeroed, progress, userdata);
}
