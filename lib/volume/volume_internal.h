/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the volume's random access (volume.c) and its streaming copies (stream.c) share. */
#ifndef VMC_VOLUME_INTERNAL_H
#define VMC_VOLUME_INTERNAL_H

#include <pthread.h>

#include "crypto/backend.h"
#include "volume/volume.h"

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

/* A request cut into parts of VOL_PART bytes (whole sectors) for the pool. */
struct crypt_batch {
	struct crypt_job job; /* the whole request */
	size_t part;
};

/* The extent that holds plaintext offset off (off < the volume size). */
struct extent *volume_extent_at(struct volume *vol, uint64_t off);
/* Runs one crypto job in the calling thread; the result is in job->r. pthread-shaped. */
void *volume_crypt_job(void *arg);
/*
 * En/decrypts len bytes (whole sectors) at offset off of extent e, on all
 * cores for a large request. A linear extent only copies.
 */
int volume_crypt_range(struct volume *vol, struct extent *e, const uint8_t *in, uint8_t *out,
		       size_t len, uint64_t off, bool encrypt);
/* The worker pool, started on first use; NULL (work in the caller) if it cannot be. */
struct workers *volume_workers(struct volume *vol);
/* Reports data missing at phys (the image is truncated): -EIO. */
int volume_truncated(struct volume *vol, uint64_t phys);

#endif
