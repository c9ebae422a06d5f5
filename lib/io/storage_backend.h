/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The storage interface's other side: what a backend (a local file, an NBD export, ...) provides.
 */
#ifndef VMC_IO_STORAGE_BACKEND_H
#define VMC_IO_STORAGE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct storage;

/*
 * The operations of one backend, on its own state be. Offsets are the
 * backend's own (the front, storage.c, has already translated a partition
 * window and checked bounds and overflow); every call is whole-length or an
 * error. The front adds fault injection and the messages a caller sees, so a
 * backend logs only what it alone knows. NULL marks an operation the backend
 * does not have; the front then answers as documented in storage.h.
 */
struct storage_backend_ops {
	const char *name; /* "file", "nbd", ...: for messages */
	/* Exactly len bytes at off; -ENODATA when the end comes first. */
	int (*pread)(void *be, void *buf, size_t len, uint64_t off);
	int (*pwrite)(void *be, const void *buf, size_t len, uint64_t off);
	/* Everything written so far is durable (a commit point). */
	int (*sync)(void *be);
	int (*size)(void *be, uint64_t *ret_size);
	/* Sets the length (sparse growth); NULL: the size is fixed (a device, an export). */
	int (*truncate)(void *be, uint64_t size);
	/* Deallocates [off, off + len): it reads back as zeros. NULL: -EOPNOTSUPP. */
	int (*punch)(void *be, uint64_t off, uint64_t len);
	/*
	 * The run that starts at off (at most len bytes): its length and whether it
	 * holds data or is a hole (reads as zeros, nothing allocated). NULL: all data.
	 */
	int (*block_status)(void *be, uint64_t off, uint64_t len, uint64_t *ret_run,
			    bool *ret_data);
	/*
	 * Advisory lock, shared or exclusive, not waiting: -EWOULDBLOCK when another
	 * holder conflicts. NULL: the backend has no locks (a server arbitrates).
	 */
	int (*lock)(void *be, bool exclusive);
	/* The descriptor under the backend, for probes that need one (libblkid); -1: none. */
	int (*fd)(void *be);
	/* Releases the backend's state. */
	void (*close)(void *be);
};

/* Properties the front keeps for its callers. */
struct storage_backend_info {
	bool read_only;
	bool regular; /* a regular file: journals and conversions can live next to it */
};

/*
 * Wraps a backend into a storage handle named name (a path or URI, copied).
 * On success the handle owns be (ops->close at storage_free); on failure be
 * is closed.
 */
int storage_new(const struct storage_backend_ops *ops, void *be, const char *name,
		const struct storage_backend_info *info, struct storage **ret_st);

/* The local file or block device backend (file.c): opens path with storage_open's flags. */
int storage_file_open(const char *path, unsigned flags, struct storage **ret_st);

/*
 * The NBD backend (nbd.c, libnbd): opens the export an nbd://, nbds://,
 * nbd+unix:// or nbds+unix:// URI names. Fixed size, no locks, no descriptor;
 * never a regular file. STORAGE_CREATE is -EOPNOTSUPP (an export cannot be
 * created); -EROFS when the server exports read-only and flags ask to write.
 */
int storage_nbd_open(const char *uri, unsigned flags, struct storage **ret_st);
/*
 * The same for a server vmcrypt started itself (qemu.c): messages call the
 * export name (the user's file, not the private socket), and on_close(arg)
 * runs once when the handle is freed, or when the open fails, after the
 * connections are closed.
 */
int storage_nbd_open_server(const char *uri, unsigned flags, const char *name,
			    void (*on_close)(void *arg), void *arg, struct storage **ret_st);
/*
 * A VM image container (format: qemu-img's name, "qcow2", "vmdk", ...) as the
 * disk its guest sees: QEMU's block layer in a private qemu-storage-daemon
 * child (qemu-nbd when that is missing) on a socket in a 0700 directory,
 * reached over NBD, stopped when the handle is freed (and sent SIGTERM if
 * vmcrypt dies). Backing files are opened as QEMU resolves them; QEMU's lock
 * keeps out a VM that has the image. Errors are reported: VMC_ENOTSUP when no
 * QEMU program is installed, VMC_EBUSY, -ENOENT, -EACCES, -EIO.
 */
int storage_qemu_open(const char *path, const char *format, unsigned flags,
		      struct storage **ret_st);
/* Creates a new, empty (thin) image of format with qemu-img; -EEXIST unless overwrite. */
int storage_qemu_create(const char *path, const char *format, uint64_t size, bool overwrite);

/* Does path name an NBD export (one of the URI schemes above)? */
bool storage_nbd_uri(const char *path);

#endif
