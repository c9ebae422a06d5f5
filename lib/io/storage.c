/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The storage interface's front: every disk access of the library enters
 * here, whatever backend holds the bytes. It checks bounds, translates a
 * partition window, injects faults for the crash tests and words the errors;
 * the backend (file.c, ...) only moves bytes.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"
#include "io/storage.h"
#include "io/storage_backend.h"

/* A write not yet made durable, kept aside by the power-cut simulation. */
struct pending_write {
	struct pending_write *next;
	uint64_t off;
	size_t len;
	uint8_t data[];
};

struct storage {
	const struct storage_backend_ops *ops;
	void *be;
	char *path; /* a path or URI: what messages name */
	bool read_only;
	bool regular;
	struct pending_write *pending; /* power-cut simulation only, oldest first */
	bool windowed;		       /* a partition: offsets are relative to base */
	uint64_t base;
	uint64_t limit;
};

int storage_new(const struct storage_backend_ops *ops, void *be, const char *name,
		const struct storage_backend_info *info, struct storage **ret_st)
{
	struct storage *st = calloc(1, sizeof(*st));

	if (!st || !(st->path = strdup(name))) {
		free(st);
		ops->close(be);
		return -ENOMEM;
	}
	st->ops = ops;
	st->be = be;
	st->read_only = info->read_only;
	st->regular = info->regular;
	*ret_st = st;
	return 0;
}

int storage_open(const char *path, unsigned flags, struct storage **ret_st)
{
	if (storage_nbd_uri(path))
		return storage_nbd_open(path, flags, ret_st);
	return storage_file_open(path, flags, ret_st);
}

#define DIRECT_ALIGN 4096u

/*
 * Bulk buffers are backed by huge pages where the kernel offers them: a
 * virtio disk accepts a limited number of memory segments per request
 * (max_segments, 254 on the test VM), so a 4 MiB direct write from 4 KiB
 * pages is split into several requests, and from 2 MiB pages it is one.
 * Measured there: 4 MiB O_DIRECT writes went from 1.0-1.3 to 2.0-2.6 GiB/s.
 */
#define BULK_HUGE (2u << 20)

void *storage_bulk_alloc(size_t len)
{
	void *p = NULL;

	if (posix_memalign(&p, len >= BULK_HUGE ? BULK_HUGE : DIRECT_ALIGN, len) != 0)
		return NULL;
	/* Advice only: without transparent huge pages nothing changes. */
	if (len >= BULK_HUGE)
		(void)madvise(p, len, MADV_HUGEPAGE);
	return p;
}

void *storage_bulk_alloc_plain(size_t len)
{
	void *p = storage_bulk_alloc(len);

	if (p) {
		(void)mlock(p, len);
		(void)madvise(p, len, MADV_DONTDUMP);
	}
	return p;
}

void storage_bulk_free(void *p, size_t len)
{
	if (!p)
		return;
	explicit_bzero(p, len);
	(void)munlock(p, len);
	free(p);
}

/*
 * Fault injection for the crash-safety tests, selected by the environment
 * variable VMCRYPT_FAULT (never used for anything else):
 *   kill:N      SIGKILL right after the Nth successful write of the process;
 *   powercut:N  writes stay in memory until the next sync (reads see them); at
 *               the Nth write a random subset of the unsynced writes reaches
 *               the file and the process exits at once with status 137: what a
 *               power loss leaves behind;
 *   enospc:N    the Nth write and all later ones fail with ENOSPC.
 */
enum fault_mode { FAULT_NONE, FAULT_KILL, FAULT_POWERCUT, FAULT_ENOSPC };
static enum fault_mode fault_mode;
static unsigned long fault_at;
static unsigned long fault_writes;
static pthread_mutex_t fault_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t fault_once = PTHREAD_ONCE_INIT;

static void fault_init(void)
{
	const char *e = getenv("VMCRYPT_FAULT");
	static const struct {
		const char *name;
		enum fault_mode mode;
	} modes[] = {
	    {"kill:", FAULT_KILL}, {"powercut:", FAULT_POWERCUT}, {"enospc:", FAULT_ENOSPC}};

	if (!e)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(modes); i++) {
		size_t n = strlen(modes[i].name);
		if (strncmp(e, modes[i].name, n) == 0) {
			fault_mode = modes[i].mode;
			fault_at = strtoul(e + n, NULL, 10);
		}
	}
}

static int pending_add(struct storage *st, const void *buf, size_t len, uint64_t off)
{
	struct pending_write *w = malloc(sizeof(*w) + len), **tail = &st->pending;

	if (!w)
		return -ENOMEM;
	w->next = NULL;
	w->off = off;
	w->len = len;
	memcpy(w->data, buf, len);
	while (*tail)
		tail = &(*tail)->next;
	*tail = w;
	return 0;
}

/* Lays the pending writes (in order) over a buffer just read from the file. */
static void pending_overlay(const struct storage *st, uint8_t *buf, size_t len, uint64_t off)
{
	for (const struct pending_write *w = st->pending; w; w = w->next) {
		uint64_t s = w->off > off ? w->off : off;
		uint64_t e = w->off + w->len < off + len ? w->off + w->len : off + len;
		if (s < e)
			memcpy(buf + (s - off), w->data + (s - w->off), (size_t)(e - s));
	}
}

/* Applies the pending writes (all, or a random subset for a power cut). */
static int pending_flush(struct storage *st, bool all)
{
	int r = 0;

	while (st->pending) {
		struct pending_write *w = st->pending;
		st->pending = w->next;
		if ((all || (rand() & 1)) && r == 0)
			r = st->ops->pwrite(st->be, w->data, w->len, w->off);
		free(w);
	}
	return r;
}

void storage_free(struct storage *st)
{
	if (!st)
		return;
	if (st->pending)
		pending_flush(st, true); /* a clean close is not a power cut */
	st->ops->close(st->be);
	free(st->path);
	free(st);
}

int storage_set_window(struct storage *st, uint64_t base, uint64_t size)
{
	if (base > INT64_MAX || size > INT64_MAX - base)
		return -EINVAL;
	st->windowed = true;
	st->base = base;
	st->limit = size;
	return 0;
}

/* Checks [off, off + len) against the window (or overflow) and makes off the backend's. */
static int place(const struct storage *st, uint64_t *off, uint64_t len)
{
	if (*off > INT64_MAX || len > INT64_MAX - *off)
		return -EINVAL;
	if (st->windowed) {
		if (*off + len > st->limit)
			return -ENODATA;
		*off += st->base;
	}
	return 0;
}

int storage_read(struct storage *st, void *buf, size_t len, uint64_t off)
{
	int r = place(st, &off, len);

	if (r < 0)
		return r;
	r = st->ops->pread(st->be, buf, len, off);
	if (st->pending) {
		pthread_mutex_lock(&fault_lock);
		if (r == -ENODATA) {
			/* The file may only have grown in memory so far. */
			memset(buf, 0, len);
			r = 0;
		}
		pending_overlay(st, buf, len, off);
		pthread_mutex_unlock(&fault_lock);
	}
	return r;
}

/* Counts a write for fault injection; returns what the write must do instead, or 1 to proceed. */
static int fault_write(struct storage *st, const void *buf, size_t len, uint64_t off)
{
	unsigned long n;
	int r = 1;

	pthread_once(&fault_once, fault_init);
	if (fault_mode == FAULT_NONE)
		return 1;
	pthread_mutex_lock(&fault_lock);
	n = ++fault_writes;
	if (fault_mode == FAULT_ENOSPC && n >= fault_at) {
		r = -ENOSPC;
	} else if (fault_mode == FAULT_POWERCUT) {
		if (n >= fault_at) {
			srand((unsigned)(fault_at * 2654435761u));
			pending_flush(st, false);
			_exit(137);
		}
		r = pending_add(st, buf, len, off);
	}
	pthread_mutex_unlock(&fault_lock);
	return r;
}

int storage_write(struct storage *st, const void *buf, size_t len, uint64_t off)
{
	int r;

	if (st->read_only)
		return -EROFS;
	if (off > INT64_MAX || len > INT64_MAX - off)
		return -EFBIG;
	if (st->windowed) {
		if (off + len > st->limit) {
			log_err("%s: write beyond the end of the partition", st->path);
			return -ENOSPC;
		}
		off += st->base;
	}
	r = fault_write(st, buf, len, off);
	if (r == 1) {
		r = st->ops->pwrite(st->be, buf, len, off);
		if (r == 0 && fault_mode == FAULT_KILL && fault_writes >= fault_at)
			raise(SIGKILL);
	}
	if (r < 0)
		log_err("%s: write of %zu bytes at offset %llu failed: %s", st->path, len,
			(unsigned long long)off, strerror(-r));
	return r;
}

int storage_sync(struct storage *st)
{
	int r;

	if (st->read_only)
		return 0;
	if (st->pending) {
		pthread_mutex_lock(&fault_lock);
		r = pending_flush(st, true);
		pthread_mutex_unlock(&fault_lock);
		if (r < 0)
			return r;
	}
	r = st->ops->sync(st->be);
	if (r < 0)
		log_err("%s: sync failed: %s", st->path, strerror(-r));
	return r;
}

int storage_size(struct storage *st, uint64_t *ret_size)
{
	if (st->windowed) {
		*ret_size = st->limit;
		return 0;
	}
	return st->ops->size(st->be, ret_size);
}

int storage_truncate(struct storage *st, uint64_t size)
{
	int r;

	if (st->read_only)
		return -EROFS;
	if (st->windowed) {
		if (size > st->limit) {
			/* The size asked for is wrong, not the disk full: a usage error. */
			log_err("%s: %llu bytes do not fit the %llu-byte partition", st->path,
				(unsigned long long)size, (unsigned long long)st->limit);
			return -EINVAL;
		}
		return 0;
	}
	if (!st->ops->truncate) {
		/* A fixed size (a block device, an NBD export): the data must fit. */
		uint64_t have = 0;
		if ((r = st->ops->size(st->be, &have)) < 0)
			return r;
		if (size > have) {
			log_err("%s: %llu bytes do not fit its %llu bytes", st->path,
				(unsigned long long)size, (unsigned long long)have);
			return -EINVAL;
		}
		return 0;
	}
	r = st->ops->truncate(st->be, size);
	if (r < 0)
		log_err("%s: cannot set size: %s", st->path, strerror(-r));
	return r;
}

int storage_punch(struct storage *st, uint64_t off, uint64_t len)
{
	int r;

	if (st->read_only)
		return -EROFS;
	if (!st->ops->punch)
		return -EOPNOTSUPP;
	if ((r = place(st, &off, len)) < 0)
		return r == -ENODATA ? -EINVAL : r;
	return st->ops->punch(st->be, off, len);
}

int storage_block_status(struct storage *st, uint64_t off, uint64_t len, uint64_t *ret_run,
			 bool *ret_data)
{
	uint64_t run = len;
	bool data = true;
	int r = place(st, &off, len);

	if (r < 0)
		return r;
	/* Unsynced writes of the power-cut simulation are data the backend cannot see yet. */
	if (st->ops->block_status && !st->pending)
		r = st->ops->block_status(st->be, off, len, &run, &data);
	if (r < 0)
		return r;
	*ret_run = run ? run : len;
	*ret_data = data;
	return 0;
}

int storage_lock(struct storage *st, bool exclusive)
{
	int r;

	if (!st->ops->lock)
		return 0;
	r = st->ops->lock(st->be, exclusive);
	if (r == -EWOULDBLOCK) {
		log_err("%s: image is in use by another process", st->path);
		return VMC_EBUSY;
	}
	return r;
}

bool storage_read_only(const struct storage *st)
{
	return st->read_only;
}

bool storage_is_regular(const struct storage *st)
{
	return st->regular;
}

const char *storage_path(const struct storage *st)
{
	return st->path;
}

uint64_t storage_window_base(const struct storage *st)
{
	return st->windowed ? st->base : 0;
}

int storage_fd(const struct storage *st)
{
	return st->ops->fd ? st->ops->fd(st->be) : -1;
}
