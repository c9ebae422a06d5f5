/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Plaintext access over a crypt segment: batched sector crypto on all cores and I/O pipelines. */
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
#include "base/util.h"
#include "base/pipeline.h"
#include "volume/volume.h"
#include "base/workers.h"

#define VOL_CHUNK	 (4u << 20)   /* bytes per pipeline buffer / bounce buffer */
#define VOL_PARALLEL_MIN (1u << 20)   /* below this, one thread does the crypto */
#define VOL_PART	 (256u << 10) /* crypto work per pool part: stays in the L2 cache */
#define VOL_PIPE_BUFS	 4	      /* pipeline depth: memory is VOL_PIPE_BUFS * VOL_CHUNK */
#define VOL_MAX_THREADS	 16
#define VOL_POOL	 32

/* One stretch of plaintext stored at one place with one key (a LUKS2 segment). */
struct extent {
	uint64_t plain_off; /* where it starts in the volume */
	uint64_t len;
	uint64_t phys_off; /* where it starts in the data device */
	uint64_t iv_tweak;
	uint32_t sector_size;	     /* 512 for a linear extent */
	struct sector_cipher *proto; /* NULL: linear (plaintext on disk); never used for data */
	struct sector_cipher *pool[VOL_POOL];
	int npool;
};

struct volume {
	struct storage *st;
	uint64_t size; /* plaintext bytes */
	unsigned nthreads;
	pthread_mutex_t lock;	  /* guards the cipher pools */
	pthread_mutex_t rmw_lock; /* serialises read-modify-write of partial sectors */
	struct workers *pool;	  /* started at the first large request; guarded by lock */
	bool pool_failed;
	struct extent ext[VOLUME_MAX_EXTENTS];
	int next;
};

int volume_new(struct storage *st, const struct volume_spec *specs, int n, uint64_t dev_size,
	       struct volume **ret_vol)
{
	struct volume *vol = NULL;
	uint64_t plain = 0;
	int r = 0;

	if (n < 1 || n > VOLUME_MAX_EXTENTS)
		return -EINVAL;
	vol = calloc(1, sizeof(*vol));
	if (!vol)
		return -ENOMEM;
	pthread_mutex_init(&vol->lock, NULL);
	pthread_mutex_init(&vol->rmw_lock, NULL);
	vol->st = st;
	vol->nthreads = cpu_count();
	if (vol->nthreads > VOL_MAX_THREADS)
		vol->nthreads = VOL_MAX_THREADS;
	for (int i = 0; i < n; i++) {
		const struct volume_spec *sp = &specs[i];
		struct extent *e = &vol->ext[i];

		e->plain_off = plain;
		e->phys_off = sp->offset;
		e->iv_tweak = sp->iv_tweak;
		e->sector_size = sp->cipher ? sp->sector_size : LUKS_SECTOR;
		if (sp->dynamic) {
			if (dev_size < sp->offset) {
				log_err("data segment starts at %llu, beyond the end of the data "
					"device (%llu bytes)",
					(unsigned long long)sp->offset,
					(unsigned long long)dev_size);
				r = VMC_ECORRUPT;
				goto out;
			}
			e->len = (dev_size - sp->offset) / e->sector_size * e->sector_size;
		} else {
			e->len = sp->size;
		}
		plain += e->len;
		vol->next = i + 1;
		if (!sp->cipher)
			continue;
		r = sector_cipher_new(sp->cipher, sp->key, sp->key_len, sp->sector_size, &e->proto);
		if (r == VMC_ENOTSUP)
			log_err("data cipher '%s' with a %zu-bit key is not supported", sp->cipher,
				sp->key_len * 8);
		else if (r == -EINVAL)
			log_err("data cipher '%s': invalid key size %zu bits or sector size %u",
				sp->cipher, sp->key_len * 8, sp->sector_size);
		if (r < 0)
			goto out;
	}
	vol->size = plain;
	*ret_vol = vol;
	vol = NULL;
out:
	volume_free(vol);
	return r;
}

void volume_free(struct volume *vol)
{
	if (!vol)
		return;
	for (int x = 0; x < vol->next; x++) {
		for (int i = 0; i < vol->ext[x].npool; i++)
			sector_cipher_free(vol->ext[x].pool[i]);
		sector_cipher_free(vol->ext[x].proto);
	}
	workers_free(vol->pool);
	pthread_mutex_destroy(&vol->lock);
	pthread_mutex_destroy(&vol->rmw_lock);
	free(vol);
}

uint64_t volume_size(const struct volume *vol)
{
	return vol->size;
}

/* The extent holding plaintext offset off (off < size). */
static struct extent *extent_at(struct volume *vol, uint64_t off)
{
	for (int i = 0; i < vol->next; i++)
		if (off < vol->ext[i].plain_off + vol->ext[i].len)
			return &vol->ext[i];
	return &vol->ext[vol->next - 1];
}

/* A cipher context for the calling thread: from the pool, or a new copy of the prototype. */
static int cipher_get(struct volume *vol, struct extent *e, struct sector_cipher **ret_c)
{
	int r = 0;

	pthread_mutex_lock(&vol->lock);
	if (e->npool > 0)
		*ret_c = e->pool[--e->npool];
	else
		r = sector_cipher_dup(e->proto, ret_c);
	pthread_mutex_unlock(&vol->lock);
	return r;
}

static void cipher_put(struct volume *vol, struct extent *e, struct sector_cipher *c)
{
	pthread_mutex_lock(&vol->lock);
	if (e->npool < VOL_POOL) {
		e->pool[e->npool++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&vol->lock);
	sector_cipher_free(c);
}

struct crypt_job {
	struct volume *vol;
	struct extent *e;
	const uint8_t *in;
	uint8_t *out;
	size_t len;
	uint64_t off; /* offset of in[0] inside the extent, sector aligned */
	bool encrypt;
	int r;
};

static void *crypt_job_run(void *arg)
{
	struct crypt_job *job = arg;
	struct sector_cipher *c = NULL;
	/* IVs count 512-byte sectors from the segment start, whatever the sector size. */
	uint64_t iv = job->e->iv_tweak + job->off / LUKS_SECTOR;

	job->r = cipher_get(job->vol, job->e, &c);
	if (job->r < 0)
		return NULL;
	if (job->encrypt)
		job->r = sector_cipher_encrypt(c, job->in, job->out, job->len, iv);
	else
		job->r = sector_cipher_decrypt(c, job->in, job->out, job->len, iv);
	cipher_put(job->vol, job->e, c);
	return NULL;
}

/* The worker pool, started on first use; NULL (work in the caller) if it cannot be. */
static struct workers *volume_pool(struct volume *vol)
{
	struct workers *pool;

	if (vol->nthreads < 2)
		return NULL;
	pthread_mutex_lock(&vol->lock);
	if (!vol->pool && !vol->pool_failed && workers_new(vol->nthreads, &vol->pool) < 0)
		vol->pool_failed = true;
	pool = vol->pool;
	pthread_mutex_unlock(&vol->lock);
	return pool;
}

/* A request cut into parts of VOL_PART bytes (whole sectors) for the pool. */
struct crypt_batch {
	struct crypt_job job; /* the whole request */
	size_t part;
};

static int crypt_batch_part(void *ctx, unsigned i)
{
	const struct crypt_batch *b = ctx;
	size_t at = (size_t)i * b->part;
	struct crypt_job job = b->job;

	job.in += at;
	job.out += at;
	job.off += at;
	job.len = job.len - at < b->part ? job.len - at : b->part;
	crypt_job_run(&job);
	return job.r;
}

/*
 * En/decrypts len bytes (whole sectors) at offset off of extent e, on all
 * cores for a large request. A linear extent only copies.
 */
static int crypt_range(struct volume *vol, struct extent *e, const uint8_t *in, uint8_t *out,
		       size_t len, uint64_t off, bool encrypt)
{
	struct crypt_batch b = {{vol, e, in, out, len, off, encrypt, 0}, 0};
	struct workers *pool;

	if (!e->proto) {
		if (in != out)
			memcpy(out, in, len);
		return 0;
	}
	pool = len < VOL_PARALLEL_MIN ? NULL : volume_pool(vol);
	if (!pool) {
		crypt_job_run(&b.job);
		return b.job.r;
	}
	b.part = VOL_PART / e->sector_size * e->sector_size;
	return workers_run(pool, crypt_batch_part, &b, (unsigned)((len + b.part - 1) / b.part));
}

static int check_range(const struct volume *vol, size_t len, uint64_t off)
{
	if (off > vol->size || len > vol->size - off) {
		log_err("access at %llu+%zu is beyond the end of the volume (%llu bytes)",
			(unsigned long long)off, len, (unsigned long long)vol->size);
		return -EINVAL;
	}
	return 0;
}

static int truncated(struct volume *vol, uint64_t phys)
{
	log_err("%s: image is truncated: data at %llu is missing", storage_path(vol->st),
		(unsigned long long)phys);
	return -EIO;
}

/* Reads stored bytes at offset off of extent e. */
static int read_stored(struct volume *vol, struct extent *e, uint8_t *buf, size_t len, uint64_t off)
{
	int r = storage_read(vol->st, buf, len, e->phys_off + off);
	return r == -ENODATA ? truncated(vol, e->phys_off + off) : r;
}

/* One whole sector of extent e, decrypted, into sec. */
static int read_sector(struct volume *vol, struct extent *e, uint8_t *sec, uint64_t soff)
{
	int r = read_stored(vol, e, sec, e->sector_size, soff);
	if (r < 0)
		return r;
	return crypt_range(vol, e, sec, sec, e->sector_size, soff, false);
}

/* Plaintext read inside one extent (off relative to it). */
static int extent_read(struct volume *vol, struct extent *e, uint8_t *p, size_t len, uint64_t off)
{
	uint32_t ss = e->sector_size;
	uint8_t sec[4096];
	int r;

	if (off % ss && len) {
		uint64_t soff = off / ss * ss;
		size_t in = (size_t)(off - soff), n = ss - in < len ? ss - in : len;
		if ((r = read_sector(vol, e, sec, soff)) < 0)
			goto out;
		memcpy(p, sec + in, n);
		p += n;
		off += n;
		len -= n;
	}
	if (len >= ss) {
		size_t mid = len / ss * ss;
		if ((r = read_stored(vol, e, p, mid, off)) < 0 ||
		    (r = crypt_range(vol, e, p, p, mid, off, false)) < 0)
			goto out;
		p += mid;
		off += mid;
		len -= mid;
	}
	if (len) {
		if ((r = read_sector(vol, e, sec, off)) < 0)
			goto out;
		memcpy(p, sec, len);
	}
	r = 0;
out:
	explicit_bzero(sec, sizeof(sec));
	return r;
}

/* Read-modify-write of part of one sector of extent e. */
static int write_partial(struct volume *vol, struct extent *e, const uint8_t *data, size_t n,
			 uint64_t off)
{
	uint64_t soff = off / e->sector_size * e->sector_size;
	uint8_t sec[4096];
	int r;

	pthread_mutex_lock(&vol->rmw_lock);
	r = read_sector(vol, e, sec, soff);
	if (r < 0)
		goto out;
	memcpy(sec + (off - soff), data, n);
	r = crypt_range(vol, e, sec, sec, e->sector_size, soff, true);
	if (r < 0)
		goto out;
	r = storage_write(vol->st, sec, e->sector_size, e->phys_off + soff);
out:
	pthread_mutex_unlock(&vol->rmw_lock);
	explicit_bzero(sec, sizeof(sec));
	return r;
}

/* Plaintext write inside one extent (off relative to it). */
static int extent_write(struct volume *vol, struct extent *e, const uint8_t *p, size_t len,
			uint64_t off)
{
	uint32_t ss = e->sector_size;
	uint8_t *bounce = NULL;
	int r = 0;

	if (off % ss && len) {
		size_t n = ss - off % ss < len ? ss - off % ss : len;
		if ((r = write_partial(vol, e, p, n, off)) < 0)
			goto out;
		p += n;
		off += n;
		len -= n;
	}
	if (len >= ss) {
		size_t mid = len / ss * ss;
		size_t blen = mid < VOL_CHUNK ? mid : VOL_CHUNK;
		bounce = storage_bulk_alloc(blen);
		if (!bounce) {
			r = -ENOMEM;
			goto out;
		}
		while (mid > 0) {
			size_t n = mid < blen ? mid : blen;
			if ((r = crypt_range(vol, e, p, bounce, n, off, true)) < 0 ||
			    (r = storage_write(vol->st, bounce, n, e->phys_off + off)) < 0)
				goto out;
			p += n;
			off += n;
			len -= n;
			mid -= n;
		}
	}
	if (len)
		r = write_partial(vol, e, p, len, off);
out:
	free(bounce);
	return r;
}

/* Calls fn for each piece of [off, off + len) that lies in one extent; at = bytes before it. */
typedef int piece_fn(struct volume *vol, struct extent *e, size_t at, size_t n, uint64_t in,
		     void *ctx);

static int for_each_piece(struct volume *vol, uint64_t off, uint64_t len, piece_fn *fn, void *ctx)
{
	size_t at = 0;
	int r;

	if ((r = check_range(vol, (size_t)len, off)) < 0)
		return r;
	while (len > 0) {
		struct extent *e = extent_at(vol, off);
		uint64_t in = off - e->plain_off;
		size_t n = e->len - in < len ? (size_t)(e->len - in) : (size_t)len;
		if ((r = fn(vol, e, at, n, in, ctx)) < 0)
			return r;
		at += n;
		off += n;
		len -= n;
	}
	return 0;
}

static int read_piece(struct volume *vol, struct extent *e, size_t at, size_t n, uint64_t in,
		      void *ctx)
{
	return extent_read(vol, e, (uint8_t *)ctx + at, n, in);
}

static int write_piece(struct volume *vol, struct extent *e, size_t at, size_t n, uint64_t in,
		       void *ctx)
{
	return extent_write(vol, e, (const uint8_t *)ctx + at, n, in);
}

struct crypt_ctx {
	uint8_t *buf;
	bool encrypt;
};

static int crypt_piece(struct volume *vol, struct extent *e, size_t at, size_t n, uint64_t in,
		       void *ctx)
{
	struct crypt_ctx *c = ctx;

	if (in % e->sector_size || n % e->sector_size)
		return -EINVAL;
	return crypt_range(vol, e, c->buf + at, c->buf + at, n, in, c->encrypt);
}

static int discard_piece(struct volume *vol, struct extent *e, size_t at, size_t n, uint64_t in,
			 void *ctx)
{
	/* Whole sectors only: a partial sector keeps its other bytes. */
	uint64_t a = round_up_u64(in, e->sector_size);
	uint64_t b = (in + n) / e->sector_size * e->sector_size;

	(void)at;
	(void)ctx;
	return b > a ? storage_punch(vol->st, e->phys_off + a, b - a) : 0;
}

int volume_read(struct volume *vol, void *buf, size_t len, uint64_t off)
{
	return for_each_piece(vol, off, len, read_piece, buf);
}

int volume_write(struct volume *vol, const void *buf, size_t len, uint64_t off)
{
	return for_each_piece(vol, off, len, write_piece, (void *)buf);
}

int volume_crypt(struct volume *vol, uint8_t *buf, size_t len, uint64_t off, bool encrypt)
{
	struct crypt_ctx c = {buf, encrypt};
	return for_each_piece(vol, off, len, crypt_piece, &c);
}

int volume_discard(struct volume *vol, uint64_t off, uint64_t len)
{
	return for_each_piece(vol, off, len, discard_piece, NULL);
}

uint64_t volume_phys(struct volume *vol, uint64_t off)
{
	struct extent *e = extent_at(vol, off);
	return e->phys_off + (off - e->plain_off);
}

/* --- pipelines: a producer thread fills buffers while the caller drains them --- */

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
	/* Whole buffers are written with direct I/O. */
	for (int i = 0; i < VOL_PIPE_BUFS; i++)
		if (!(c->bufs[i].data = storage_bulk_alloc(VOL_CHUNK)))
			return -ENOMEM;
	return pipeline_new(VOL_PIPE_BUFS, &c->ring);
}

static void copy_clear(struct copy *c)
{
	for (int i = 0; i < VOL_PIPE_BUFS; i++)
		free(c->bufs[i].data);
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

struct progress {
	vmc_progress_fn *fn;
	void *userdata;
	uint64_t total;
	struct timespec last;
};

static bool progress_tick(struct progress *pg, uint64_t done, bool final)
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
		struct extent *e = extent_at(vol, off);
		uint64_t left = e->plain_off + e->len - off;
		size_t want = cp->limit - off < VOL_CHUNK ? (size_t)(cp->limit - off) : VOL_CHUNK;
		ssize_t n;

		if (!b)
			break;
		/* A buffer never spans two extents (keys and places differ). */
		if (want > left)
			want = (size_t)left;
		n = read_full(cp->fd, b->data, want);
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
		r = crypt_range(vol, e, b->data, b->data, b->len, off - e->plain_off, true);
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

int volume_copy_in(struct volume *vol, int fd, uint64_t len, vmc_progress_fn *progress,
		   void *userdata, uint64_t *ret_done)
{
	struct copy cp;
	struct progress pg = {progress, userdata, 0, {0, 0}};
	pthread_t thread;
	uint64_t done = 0;
	struct pipe_buf *b;
	int r;

	if (len > vol->size)
		len = vol->size;
	pg.total = len;
	r = copy_init(&cp, vol, fd, len);
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
	crypt_job_run(&job);
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
	r = workers_run(len < VOL_PARALLEL_MIN ? NULL : volume_pool(vol), read_decrypt_part, &rb,
			(unsigned)((len + rb.b.part - 1) / rb.b.part));
	pthread_mutex_destroy(&rb.lock);
	if (rb.missing != UINT64_MAX)
		r = truncated(vol, e->phys_off + rb.missing);
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
		struct extent *e = extent_at(vol, off);
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

/* The output: its descriptor, and the same file opened O_DIRECT (or -1) for bulk writes. */
struct out {
	int fd;
	int dfd;
	bool seekable;
};

static int write_all(const struct out *o, const uint8_t *p, size_t len, uint64_t off)
{
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
		return write_all(o, b->data, b->len, b->off);
	while (start < b->len) {
		size_t end = start;
		bool zero = all_zero(b->data + start, b->len - start < blk ? b->len - start : blk);
		while (end < b->len &&
		       all_zero(b->data + end, b->len - end < blk ? b->len - end : blk) == zero)
			end += b->len - end < blk ? b->len - end : blk;
		if (!zero) {
			int r = write_all(o, b->data + start, end - start, b->off + start);
			if (r < 0)
				return r;
		}
		start = end;
	}
	return 0;
}

int volume_copy_out(struct volume *vol, int fd, bool sparse, vmc_progress_fn *progress,
		    void *userdata)
{
	struct copy cp;
	struct progress pg = {progress, userdata, vol->size, {0, 0}};
	struct out o = {.fd = fd, .dfd = -1};
	struct stat sb;
	pthread_t thread;
	struct pipe_buf *b;
	int r;

	if (fstat(fd, &sb) < 0)
		return -errno;
	o.seekable = S_ISREG(sb.st_mode) || S_ISBLK(sb.st_mode);
	/* Holes only in a regular file: a block device or pipe needs every byte written. */
	sparse = sparse && S_ISREG(sb.st_mode);
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
	if (r == 0 && sparse && ftruncate(fd, (off_t)vol->size) < 0) {
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
