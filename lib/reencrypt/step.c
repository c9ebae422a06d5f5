/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The steps of a re-encryption: hotzones read, protected, transformed and committed, on all cores.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "reencrypt/reencrypt_internal.h"
#include <pthread.h>
#include <time.h>

#include "base/pipeline.h"
#include "base/workers.h"
#include "format/manage.h"

/* Old stored bytes -> plaintext -> new stored bytes, in place. */
int reenc_transform(struct reenc *re, uint8_t *buf, size_t len, uint64_t off)
{
	int r = volume_crypt(re->v_old, buf, len, off, false);
	if (r == 0)
		r = volume_crypt(re->v_new, buf, len, off, true);
	return r;
}

bool reenc_resilient(const struct reenc *re)
{
	return strcmp(re->type, "none") != 0;
}

/* Where the old layout keeps logical offset off (the moved copy for the first chunk). */
uint64_t reenc_source_phys(struct reenc *re, uint64_t off)
{
	if (re->has_moved && off < re->moved.size)
		return re->moved.offset + off;
	return volume_phys(re->v_old, off);
}

/*
 * Steps run as a two-stage pipeline: a producer thread reads the next hotzone,
 * saves what recovery needs (checksums or a raw copy) and transforms it, while
 * the calling thread commits and writes the current one. Reading ahead is safe:
 * no hotzone's source is written by an earlier hotzone (a rekey rewrites each
 * zone in place; a shifted encryption writes each zone over the source of the
 * zone before it, and reads the first chunk from its moved copy).
 */
#define PIPE_ZONES 2

/*
 * Thin images stay thin: a hole in a crypt layout holds no plaintext (it reads
 * as zeros, whose decryption is noise under any key), so where a zone is
 * rewritten in place, its holes are neither read nor written and stay holes.
 * A zone keeps the runs that hold data; past ZONE_RUNS pieces the rest of the
 * zone counts as data (correct, only less thin).
 */
#define ZONE_RUNS 64

struct run {
	uint64_t at, len; /* inside the zone */
};

struct zone {
	uint8_t *buf;	/* transformed, ready to be written */
	uint8_t *saved; /* for the reencrypt area: checksums, or the raw zone (journal) */
	size_t saved_len;
	uint64_t off, len;
	struct run runs[ZONE_RUNS]; /* the parts that hold data, in order */
	int nruns;		    /* 0: the zone is all hole, nothing to do */
};

struct pipe {
	struct reenc *re;
	struct pipeline *ring; /* which of the zones are prepared */
	struct zone z[PIPE_ZONES];
	uint64_t start; /* progress when the run began */
	struct workers *pool;
};

/* The hotzone after progress done: false when nothing is left. */
static bool next_zone(const struct reenc *re, uint64_t done, uint64_t *ret_off, uint64_t *ret_len)
{
	uint64_t left = re->backward ? done : re->size - done;
	uint64_t len = left < re->hotzone ? left : re->hotzone;

	if (re->shift_down) {
		if (done > re->size)
			return false;
		if (done == re->size) {
			*ret_off = 0; /* the moved chunk, in place, last */
			*ret_len = re->moved.size;
		} else {
			*ret_off = done;
			*ret_len = len;
		}
		return true;
	}
	if (!left)
		return false;
	*ret_off = re->backward ? done - len : done;
	*ret_len = len;
	/* With a moved chunk, [0, S) is the last step and no step crosses S. */
	if (re->has_moved && done > re->moved.size) {
		uint64_t above = done - re->moved.size;
		*ret_len = above < re->hotzone ? above : re->hotzone;
		*ret_off = done - *ret_len;
	} else if (re->has_moved) {
		*ret_off = 0;
		*ret_len = done;
	}
	return true;
}

uint64_t reenc_after_zone(const struct reenc *re, uint64_t off, uint64_t len)
{
	if (re->shift_down && off == 0)
		return re->size + re->moved.size;
	return re->backward ? off : off + len;
}

/* May the holes of zone [off, off + len) be left alone? In place, and from a crypt layout. */
static bool holes_stay(struct reenc *re, uint64_t off)
{
	return !re->from_linear && reenc_source_phys(re, off) == volume_phys(re->v_new, off);
}

/* Adds [start, end) of the zone to its data runs (merged with the last one when they touch). */
static void add_data(struct zone *z, uint64_t start, uint64_t end)
{
	struct run *last = z->nruns ? &z->runs[z->nruns - 1] : NULL;

	if (last && last->at + last->len == start)
		last->len = end - last->at;
	else if (z->nruns == ZONE_RUNS)
		last->len = z->len - last->at; /* too many pieces: the rest is data */
	else
		z->runs[z->nruns++] = (struct run){start, end - start};
}

/*
 * The data runs of zone z, from the storage's block status: a hole is skipped
 * in whole alignment units (sectors and checksum blocks), its edges are data.
 */
static int zone_runs(struct reenc *re, struct zone *z)
{
	uint64_t phys = reenc_source_phys(re, z->off), at = 0;
	int r;

	z->nruns = 0;
	if (!holes_stay(re, z->off)) {
		add_data(z, 0, z->len);
		return 0;
	}
	while (at < z->len) {
		uint64_t run = 0, start = at, end, hs, he;
		bool data = true;
		if ((r = storage_block_status(re->data, phys + at, z->len - at, &run, &data)) < 0)
			return r;
		at = end = start + run;
		hs = round_up_u64(start, re->align);
		he = end == z->len ? end : end / re->align * re->align;
		if (data || hs >= he) {
			add_data(z, start, end);
			continue;
		}
		if (hs > start)
			add_data(z, start, hs);
		if (he < end)
			add_data(z, he, end);
	}
	return 0;
}

/*
 * A zone is prepared in parts of ZONE_PART bytes, each read, hashed and
 * transformed by one core while it is still in that core's cache.
 */
#define ZONE_PART (256u << 10)

struct zone_batch {
	struct reenc *re;
	struct zone *z;
	uint64_t phys; /* where the zone's source starts */
	size_t part;
	bool sums, copy;
	uint8_t zero_sum[64]; /* the checksum of a block of zeros (a hole's) */
};

/* One stretch of a part, all data or all hole: [at, at + len) of the zone. */
static int prepare_piece(const struct zone_batch *b, size_t at, size_t len, bool data)
{
	struct reenc *re = b->re;
	uint8_t *p = b->z->buf + at;
	int r;

	if (!data) {
		/* What recovery would read there: zeros. Nothing is read, transformed or written.
		 */
		if (b->sums)
			for (size_t k = 0; k < len / re->bs; k++)
				memcpy(b->z->saved + (at / re->bs + k) * re->hash_len, b->zero_sum,
				       re->hash_len);
		else if (b->copy)
			memset(b->z->saved + at, 0, len);
		return 0;
	}
	r = storage_read(re->data, p, len, b->phys + at);
	if (r < 0)
		return r == -ENODATA ? -EIO : r;
	if (b->sums) {
		r = crypto_hash_blocks(re->hash, p, re->bs, len / re->bs,
				       b->z->saved + at / re->bs * re->hash_len);
		if (r < 0)
			return r;
	} else if (b->copy) {
		memcpy(b->z->saved + at, p, len);
	}
	return reenc_transform(re, p, len, b->z->off + at);
}

static int prepare_part(void *ctx, unsigned i)
{
	const struct zone_batch *b = ctx;
	const struct zone *z = b->z;
	uint64_t at = (uint64_t)i * b->part;
	uint64_t end = z->len - at < b->part ? z->len : at + b->part;
	int r = 0;

	/* The part cut along the zone's data runs. */
	for (int k = 0; k < z->nruns && at < end && r == 0; k++) {
		uint64_t s = z->runs[k].at, e = s + z->runs[k].len;
		if (e <= at)
			continue;
		if (s >= end)
			break;
		if (s > at)
			r = prepare_piece(b, (size_t)at, (size_t)(s - at), false);
		if (r == 0) {
			s = s > at ? s : at;
			e = e < end ? e : end;
			r = prepare_piece(b, (size_t)s, (size_t)(e - s), true);
			at = e;
		}
	}
	if (r == 0 && at < end)
		r = prepare_piece(b, (size_t)at, (size_t)(end - at), false);
	return r;
}

/* The checksum of one block of zeros, as a hole's blocks read. */
static int zero_sum(const struct reenc *re, uint8_t *ret_sum)
{
	uint8_t *zero = calloc(1, re->bs);
	int r;

	if (!zero)
		return -ENOMEM;
	r = crypto_hash(re->hash, zero, re->bs, ret_sum);
	free(zero);
	return r;
}

/* Producer side of one zone: read, save for recovery, transform, on all cores. */
static int prepare_zone(struct reenc *re, struct workers *pool, struct zone *z)
{
	struct zone_batch b = {re, z, reenc_source_phys(re, z->off), 0, false, false, {0}};
	int r;

	if ((r = zone_runs(re, z)) < 0)
		return r;
	if (!z->nruns) {
		z->saved_len = 0;
		return 0; /* all hole: nothing to protect, transform or write */
	}

	/* datashift-checksum: only the moved chunk is rewritten in place and needs sums. */
	b.sums = strcmp(re->type, "checksum") == 0 ||
		 (strcmp(re->type, "datashift-checksum") == 0 && re->shift_down && z->off == 0);
	b.copy = strcmp(re->type, "journal") == 0;
	/* Parts of whole checksum blocks and sectors of both layouts (align covers all). */
	b.part = ZONE_PART / re->align * re->align;
	if (b.part == 0)
		b.part = re->align;
	if (b.sums && z->nruns != 1 && (r = zero_sum(re, b.zero_sum)) < 0)
		return r;
	r = workers_run(pool, prepare_part, &b, (unsigned)((z->len + b.part - 1) / b.part));
	if (r < 0)
		return r;
	if (b.sums)
		z->saved_len = (size_t)(z->len / re->bs * re->hash_len);
	else if (b.copy)
		z->saved_len = (size_t)z->len;
	else
		z->saved_len = 0;
	return 0;
}

static void *producer(void *arg)
{
	struct pipe *pp = arg;
	struct reenc *re = pp->re;
	uint64_t done = pp->start, off, len;
	int r = 0;

	while (next_zone(re, done, &off, &len)) {
		int i = pipeline_slot(pp->ring);
		struct zone *z;

		if (i < 0)
			break;
		z = &pp->z[i];
		z->off = off;
		z->len = len;
		if ((r = prepare_zone(re, pp->pool, z)) < 0)
			break;
		pipeline_publish(pp->ring);
		done = reenc_after_zone(re, off, len);
	}
	pipeline_finish(pp->ring, r);
	return NULL;
}

/* Consumer side of one zone: the two commit points around the data write. */
static int commit_zone(struct reenc *re, uint64_t done, const struct zone *z)
{
	uint64_t phys = volume_phys(re->v_new, z->off), after;
	int r = 0;

	/*
	 * An all-hole zone changes nothing on disk: no commit either. The header
	 * catches up at the next zone with data (or the finish); a crash before
	 * that resumes here and finds the same holes.
	 */
	if (!z->nruns)
		return 0;
	if (reenc_resilient(re)) {
		/*
		 * The saved checksums (or copy) must be durable before the header
		 * names the zone: one sync, then the header's own two.
		 */
		if (z->saved_len &&
		    ((r = storage_write(re->hdr, z->saved, z->saved_len, re->area_off)) < 0 ||
		     (r = storage_sync(re->hdr)) < 0))
			return r;
		/* Commit point: the zone is marked and its old contents are recoverable. */
		if ((r = reenc_commit_state(re, done, z->off, z->len)) < 0)
			return r;
	}
	for (int k = 0; k < z->nruns && r == 0; k++)
		r = storage_write(re->data, z->buf + z->runs[k].at, (size_t)z->runs[k].len,
				  phys + z->runs[k].at);
	if (r < 0 || !reenc_resilient(re))
		return r;
	/* Commit point: the zone's new contents are durable; the header says so. */
	if ((r = storage_sync(re->data)) < 0)
		return r;
	after = reenc_after_zone(re, z->off, z->len);
	/*
	 * The last zone is not committed on its own: the finish's one header write
	 * follows. A state "everything converted, not finished" is one cryptsetup
	 * 2.6 resumes wrongly (it decrypts a decrypted device again from its
	 * start); a crash here instead leaves this zone marked in flight, which
	 * both tools recover from what was saved, then finish.
	 */
	if (!re->has_moved && (re->backward ? after == 0 : after >= re->size))
		return 0;
	return reenc_commit_state(re, after, 0, 0);
}

static void pipe_clear(struct pipe *pp)
{
	workers_free(pp->pool);
	pipeline_free(pp->ring);
	for (int i = 0; i < PIPE_ZONES; i++) {
		/* Plaintext passes through a zone between the two keys. */
		storage_bulk_free(pp->z[i].buf, (size_t)pp->re->hotzone);
		free(pp->z[i].saved);
	}
}

/* Runs the steps from progress *done until the end, a stop, or an error. */
int reenc_run_steps(struct reenc *re, const struct reenc_plan *plan, uint64_t *done)
{
	struct pipe pp;
	struct timespec last = {0, 0};
	uint64_t moved = 0;
	pthread_t thread;
	int r = 0;

	memset(&pp, 0, sizeof(pp));
	pp.re = re;
	pp.start = *done;
	if (pipeline_new(PIPE_ZONES, &pp.ring) < 0)
		return -ENOMEM;
	/* Without threads the producer prepares each zone alone: slower, still correct. */
	if (workers_new(cpu_count(), &pp.pool) < 0)
		pp.pool = NULL;
	for (int i = 0; i < PIPE_ZONES; i++) {
		/* Zones are written with direct I/O. */
		pp.z[i].buf = storage_bulk_alloc_plain((size_t)re->hotzone);
		pp.z[i].saved = malloc((size_t)re->hotzone);
		if (!pp.z[i].buf || !pp.z[i].saved) {
			pipe_clear(&pp);
			return -ENOMEM;
		}
	}
	if (!reenc_resilient(re) && (re->backward ? *done > 0 : *done < re->size)) {
		/*
		 * Resilience none saves nothing per step: mark everything still to do
		 * in flight, so that a crash is noticed (recovery refuses) instead of a
		 * resume converting converted data again. A clean stop clears it.
		 */
		r = re->backward ? reenc_commit_state(re, *done, 0, *done)
				 : reenc_commit_state(re, *done, *done, re->size - *done);
		if (r < 0) {
			pipe_clear(&pp);
			return r;
		}
	}
	if (pthread_create(&thread, NULL, producer, &pp) != 0) {
		pipe_clear(&pp);
		return -EAGAIN;
	}
	for (;;) {
		struct zone *z;
		bool stop = false;
		int i;

		if (plan && plan->progress) {
			struct timespec now;
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec != last.tv_sec) {
				uint64_t left = re->backward ? *done : re->size - *done;
				last = now;
				stop = !plan->progress(re->size - left, re->size, plan->userdata);
			}
		}
		if (plan && plan->stop_after && moved >= plan->stop_after)
			stop = true;
		if (stop) {
			r = -ECANCELED;
			break;
		}
		if ((i = pipeline_next(pp.ring)) < 0)
			break;
		z = &pp.z[i];
		if ((r = commit_zone(re, *done, z)) < 0)
			break;
		*done = reenc_after_zone(re, z->off, z->len);
		moved += z->len;
		pipeline_release(pp.ring);
	}
	/* Only the producer records errors in the ring; the consumer's are in r. */
	pipeline_cancel(pp.ring, 0);
	pthread_join(thread, NULL);
	if (r == 0)
		r = pipeline_error(pp.ring);

	if (r == 0 && plan && plan->progress)
		plan->progress(re->size, re->size, plan->userdata);
	pipe_clear(&pp);
	return r;
}

/* Repairs a hotzone a crash left in flight, from what protect() saved. */
