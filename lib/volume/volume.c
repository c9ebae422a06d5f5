/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Plaintext access at any offset over the segments: batched sector crypto on all cores. */
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
#include "base/workers.h"
#include "volume/volume_internal.h"

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
			log_err("data cipher '%s' with a %zu-bit key is not supported%s",
				sp->cipher, sp->key_len * 8, sector_cipher_why(sp->cipher));
		else if (r == -EINVAL) {
			/* The header pairs a cipher with a key or sector size it cannot take. */
			log_err("data cipher '%s': invalid key size %zu bits or sector size %u",
				sp->cipher, sp->key_len * 8, sp->sector_size);
			r = VMC_ECORRUPT;
		}
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
struct extent *volume_extent_at(struct volume *vol, uint64_t off)
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

void *volume_crypt_job(void *arg)
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
struct workers *volume_workers(struct volume *vol)
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

static int crypt_batch_part(void *ctx, unsigned i)
{
	const struct crypt_batch *b = ctx;
	size_t at = (size_t)i * b->part;
	struct crypt_job job = b->job;

	job.in += at;
	job.out += at;
	job.off += at;
	job.len = job.len - at < b->part ? job.len - at : b->part;
	volume_crypt_job(&job);
	return job.r;
}

/*
 * En/decrypts len bytes (whole sectors) at offset off of extent e, on all
 * cores for a large request. A linear extent only copies.
 */
int volume_crypt_range(struct volume *vol, struct extent *e, const uint8_t *in, uint8_t *out,
		       size_t len, uint64_t off, bool encrypt)
{
	struct crypt_batch b = {{vol, e, in, out, len, off, encrypt, 0}, 0};
	struct workers *pool;

	if (!e->proto) {
		if (in != out)
			memcpy(out, in, len);
		return 0;
	}
	pool = len < VOL_PARALLEL_MIN ? NULL : volume_workers(vol);
	if (!pool) {
		volume_crypt_job(&b.job);
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

int volume_truncated(struct volume *vol, uint64_t phys)
{
	log_err("%s: image is truncated: data at %llu is missing", storage_path(vol->st),
		(unsigned long long)phys);
	return -EIO;
}

/* Reads stored bytes at offset off of extent e. */
static int read_stored(struct volume *vol, struct extent *e, uint8_t *buf, size_t len, uint64_t off)
{
	int r = storage_read(vol->st, buf, len, e->phys_off + off);
	return r == -ENODATA ? volume_truncated(vol, e->phys_off + off) : r;
}

/* One whole sector of extent e, decrypted, into sec. */
static int read_sector(struct volume *vol, struct extent *e, uint8_t *sec, uint64_t soff)
{
	int r = read_stored(vol, e, sec, e->sector_size, soff);
	if (r < 0)
		return r;
	return volume_crypt_range(vol, e, sec, sec, e->sector_size, soff, false);
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
		    (r = volume_crypt_range(vol, e, p, p, mid, off, false)) < 0)
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
	r = volume_crypt_range(vol, e, sec, sec, e->sector_size, soff, true);
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
			if ((r = volume_crypt_range(vol, e, p, bounce, n, off, true)) < 0 ||
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
		struct extent *e = volume_extent_at(vol, off);
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
	return volume_crypt_range(vol, e, c->buf + at, c->buf + at, n, in, c->encrypt);
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
	struct extent *e = volume_extent_at(vol, off);
	return e->phys_off + (off - e->plain_off);
}
