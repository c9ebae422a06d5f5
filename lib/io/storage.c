/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The storage module: full-length pread/pwrite, syncs, locks and the fault-injection ops table. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/storage.h"
#include "base/log.h"
#include "base/util.h"

/* A write not yet made durable, kept aside by the power-cut simulation. */
struct pending_write {
	struct pending_write *next;
	uint64_t off;
	size_t len;
	uint8_t data[];
};

struct storage {
	int fd;
	int dfd; /* the same file opened O_DIRECT for bulk writes; -1 not yet, -2 unavailable */
	bool read_only;
	bool regular;
	char *path;
	const struct storage_ops *ops;
	struct pending_write *pending; /* power-cut simulation only, oldest first */
	bool windowed;		       /* a partition: offsets are relative to base */
	uint64_t base;
	uint64_t limit;
};

static int default_pread(struct storage *st, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = pread(st->fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ENODATA;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/*
 * Bulk writes go around the page cache: on a busy host copying into the page
 * cache costs several times what the device does (measured: 2 GiB buffered in
 * 4-6 s, O_DIRECT in 1.3 s), and a bulk writer never reads the data back.
 * Only large, 4 KiB-aligned writes; durability still comes from the syncs.
 */
#define DIRECT_MIN   (1u << 20)
#define DIRECT_ALIGN 4096u

static int bulk_fd(struct storage *st, const void *buf, size_t len, uint64_t off)
{
	if (len < DIRECT_MIN || len % DIRECT_ALIGN || off % DIRECT_ALIGN ||
	    (uintptr_t)buf % DIRECT_ALIGN || st->dfd < 0)
		return st->fd;
	return st->dfd;
}

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

static int default_pwrite(struct storage *st, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;
	int fd = bulk_fd(st, buf, len, off);

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINVAL && fd != st->fd) {
			/* The file system refuses this direct write after all: buffered. */
			fd = st->fd;
			continue;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int default_sync(struct storage *st)
{
	if (fdatasync(st->fd) < 0)
		return -errno;
	return 0;
}

const struct storage_ops storage_default_ops = {
    .pread = default_pread,
    .pwrite = default_pwrite,
    .sync = default_sync,
};

static const struct storage_ops *test_ops;

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
			r = default_pwrite(st, w->data, w->len, w->off);
		free(w);
	}
	return r;
}

void storage_set_test_ops(const struct storage_ops *ops)
{
	test_ops = ops;
}

int storage_open(const char *path, unsigned flags, struct storage **ret_st)
{
	struct storage *st = NULL;
	struct stat sb;
	/* O_NONBLOCK: opening a FIFO given as an image must fail below, not wait for a writer. */
	int oflags = O_CLOEXEC | O_NONBLOCK;
	mode_t mode = (flags & STORAGE_SECRET) ? 0600 : 0644;
	int r;

	if (flags & STORAGE_RDONLY)
		oflags |= O_RDONLY;
	else
		oflags |= O_RDWR;
	if (flags & STORAGE_CREATE)
		oflags |= O_CREAT | ((flags & STORAGE_TRUNC) ? O_TRUNC : O_EXCL);

	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->fd = -1;
	st->dfd = -1;
	st->path = strdup(path);
	if (!st->path) {
		r = -ENOMEM;
		goto out;
	}
	st->fd = open(path, oflags, mode);
	if (st->fd < 0) {
		r = -errno;
		/* "already exists" is the caller's to explain (it knows whether --force helps). */
		if (r != -EEXIST)
			log_err("%s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(st->fd, &sb) < 0) {
		r = -errno;
		log_err("%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(sb.st_mode) && !S_ISBLK(sb.st_mode)) {
		r = -EINVAL;
		log_err("%s: not a regular file or block device", path);
		goto out;
	}
	if (fcntl(st->fd, F_SETFL, fcntl(st->fd, F_GETFL) & ~O_NONBLOCK) < 0) {
		r = -errno;
		log_err("%s: %s", path, strerror(errno));
		goto out;
	}
	st->regular = S_ISREG(sb.st_mode);
	st->read_only = flags & STORAGE_RDONLY;
	if (!st->read_only) {
		char proc[64];
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", st->fd);
		st->dfd = open(proc, O_WRONLY | O_DIRECT | O_CLOEXEC);
	}
	st->ops = test_ops ? test_ops : &storage_default_ops;
	*ret_st = st;
	st = NULL;
	r = 0;
out:
	storage_free(st);
	return r;
}

void storage_free(struct storage *st)
{
	if (!st)
		return;
	if (st->pending)
		pending_flush(st, true); /* a clean close is not a power cut */
	if (st->fd >= 0)
		close(st->fd);
	if (st->dfd >= 0)
		close(st->dfd);
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

int storage_read(struct storage *st, void *buf, size_t len, uint64_t off)
{
	int r;

	if (off > INT64_MAX || len > INT64_MAX - off)
		return -EINVAL;
	if (st->windowed) {
		if (off + len > st->limit)
			return -ENODATA;
		off += st->base;
	}
	r = st->ops->pread(st, buf, len, off);
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
		r = st->ops->pwrite(st, buf, len, off);
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
	r = st->ops->sync(st);
	if (r < 0)
		log_err("%s: sync failed: %s", st->path, strerror(-r));
	return r;
}

int storage_size(struct storage *st, uint64_t *ret_size)
{
	struct stat sb;
	uint64_t size;

	if (st->windowed) {
		*ret_size = st->limit;
		return 0;
	}
	if (fstat(st->fd, &sb) < 0)
		return -errno;
	if (S_ISBLK(sb.st_mode)) {
		if (ioctl(st->fd, BLKGETSIZE64, &size) < 0)
			return -errno;
	} else {
		size = (uint64_t)sb.st_size;
	}
	*ret_size = size;
	return 0;
}

int storage_truncate(struct storage *st, uint64_t size)
{
	if (st->read_only)
		return -EROFS;
	if (st->windowed) {
		if (size > st->limit) {
			log_err("%s: %llu bytes do not fit the %llu-byte partition", st->path,
				(unsigned long long)size, (unsigned long long)st->limit);
			return -ENOSPC;
		}
		return 0;
	}
	if (!st->regular)
		return 0;
	if (size > INT64_MAX || ftruncate(st->fd, (off_t)size) < 0) {
		int r = size > INT64_MAX ? -EFBIG : -errno;
		log_err("%s: cannot set size: %s", st->path, strerror(-r));
		return r;
	}
	return 0;
}

int storage_punch(struct storage *st, uint64_t off, uint64_t len)
{
	if (st->read_only)
		return -EROFS;
	if (!st->regular)
		return -EOPNOTSUPP;
	if (st->windowed) {
		if (off + len > st->limit)
			return -EINVAL;
		off += st->base;
	}
	if (fallocate(st->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) <
	    0)
		return -errno;
	return 0;
}

int storage_lock(struct storage *st, bool exclusive)
{
	/*
	 * flock() on the image itself: it needs no lock directory (so it works for
	 * an ordinary user) and it is what cryptsetup takes on a regular file.
	 */
	if (flock(st->fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK) {
			log_err("%s: image is in use by another process", st->path);
			return VMC_EBUSY;
		}
		return -errno;
	}
	return 0;
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

int storage_fd(const struct storage *st)
{
	return st->fd;
}

int storage_publish(const char *tmp, const char *path)
{
	char *dir = NULL, *slash;
	int dfd, r = 0;

	if (rename(tmp, path) < 0) {
		r = -errno;
		log_err("%s: cannot rename to %s: %s", tmp, path, strerror(errno));
		return r;
	}
	/* The new name must survive a power cut too: sync its directory. */
	dir = strdup(path);
	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (slash)
		*(slash == dir ? slash + 1 : slash) = '\0';
	dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0)
		r = -errno;
	if (dfd >= 0)
		close(dfd);
	free(dir);
	return r;
}
