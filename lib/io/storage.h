/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The storage interface: all I/O of the library goes through a storage handle,
 * whatever holds the bytes (a local file or block device today; a backend is a
 * table of operations behind storage_new, see storage_backend.h).
 */
#ifndef VMC_IO_STORAGE_H
#define VMC_IO_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct storage;

enum storage_flags {
	STORAGE_RDONLY = 1 << 0,
	STORAGE_CREATE = 1 << 1, /* create; fails if it exists (O_EXCL) unless STORAGE_TRUNC */
	STORAGE_TRUNC = 1 << 2,	 /* with STORAGE_CREATE: replace an existing regular file */
	STORAGE_SECRET = 1 << 3, /* new file mode 0600 */
};

/*
 * Opens path (a local file or block device). 0, or a negative errno (-ENOENT,
 * -EACCES, -EEXIST, ...) reported to the log, -EEXIST excepted.
 */
int storage_open(const char *path, unsigned flags, struct storage **ret_st);
/*
 * Restricts the handle to [base, base + size) of the file: offsets become
 * relative to base and the size is size (a partition inside a disk image).
 */
int storage_set_window(struct storage *st, uint64_t base, uint64_t size);

/* Closes and frees; NULL-safe. */
void storage_free(struct storage *st);

/*
 * Reads exactly len bytes at off. EINTR and short reads are retried; end of
 * file before len bytes is -ENODATA (callers turn it into a format error).
 */
int storage_read(struct storage *st, void *buf, size_t len, uint64_t off);
/* Writes exactly len bytes at off. -EROFS on a read-only handle. */
int storage_write(struct storage *st, const void *buf, size_t len, uint64_t off);
/*
 * A buffer of len bytes for bulk I/O: aligned for direct I/O and, from 2 MiB
 * on, backed by huge pages where possible (fewer, larger disk requests).
 * Not zeroed; release with free(). NULL when out of memory.
 */
void *storage_bulk_alloc(size_t len);
/*
 * The same, for a buffer that holds plaintext (data between two keys, or
 * decrypted on its way out): locked in memory where RLIMIT_MEMLOCK allows
 * (best effort) and left out of core dumps. Release with storage_bulk_free().
 */
void *storage_bulk_alloc_plain(size_t len);
/* Wipes, unlocks and frees a bulk buffer of len bytes (NULL-safe). */
void storage_bulk_free(void *p, size_t len);
/* fdatasync(): a commit point. */
int storage_sync(struct storage *st);
/* Size of the file or block device in bytes. */
int storage_size(struct storage *st, uint64_t *ret_size);
/* Sets the length of a regular file (sparse extension). */
int storage_truncate(struct storage *st, uint64_t size);
/* Deallocates a range (punch hole) of a regular file; -EOPNOTSUPP when impossible. */
int storage_punch(struct storage *st, uint64_t off, uint64_t len);
/*
 * Is the run starting at off allocated? Sets *ret_run (1 to len bytes) to the
 * length of the run and *ret_data to false for a hole (reads as zeros, holds
 * nothing), true for data. A backend that cannot tell reports all data.
 */
int storage_block_status(struct storage *st, uint64_t off, uint64_t len, uint64_t *ret_run,
			 bool *ret_data);
/*
 * Takes an advisory lock on the file: shared for readers, exclusive for
 * writers. VMC_EBUSY (with a message) when another process holds a
 * conflicting lock. A backend without locks (a server arbitrates its
 * clients) succeeds without one.
 */
int storage_lock(struct storage *st, bool exclusive);

bool storage_read_only(const struct storage *st);
bool storage_is_regular(const struct storage *st);
/* What the handle was opened from (a path or URI), for messages. */
const char *storage_path(const struct storage *st);
/* The descriptor under the handle, for probes that need one; -1 when there is none. */
int storage_fd(const struct storage *st);
/* Where the window starts in the descriptor's file (0 without a window). */
uint64_t storage_window_base(const struct storage *st);

/*
 * Renames tmp (a fully written and synced file) to path and syncs the
 * directory: path then exists complete or not at all, even after a power cut.
 */
int storage_publish(const char *tmp, const char *path);

#endif
