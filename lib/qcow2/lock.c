/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * QEMU's image locks: while QEMU has an image file open it holds shared OFD
 * locks on byte 100 + p for each permission p it uses and on byte 200 + p for
 * each permission it does not let others have (p: 0 consistent read, 1 write,
 * 2 write unchanged, 3 resize; block/file-posix.c). A lock held by anyone on
 * those bytes means a QEMU (or qemu-img, qemu-nbd, ...) has the image.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "base/log.h"
#include "io/storage.h"
#include "qcow2/qcow2.h"
#include "qcow2/qcow2_io.h"
#include "vmcrypt.h"

#define PERM_BASE   100
#define SHARED_BASE 200
#define NPERMS	    8 /* bytes QEMU may use in each range (4 permissions today) */

int qcow2_lock_check(struct storage *st, bool write)
{
	/* A writer needs the image to itself; a reader only that nobody writes (byte 101). */
	off_t start = write ? PERM_BASE : PERM_BASE + 1;
	off_t len = write ? SHARED_BASE + NPERMS - PERM_BASE : 1;
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
	int fd = storage_fd(st);

	if (fd < 0 || fcntl(fd, F_OFD_GETLK, &fl) < 0)
		return 0; /* no descriptor or no OFD locks: nothing to learn */
	if (fl.l_type != F_UNLCK) {
		log_err(
		    "%s: QEMU has the image open%s (it holds QEMU's image lock): stop the VM or "
		    "program using it first",
		    storage_path(st), write ? "" : " for writing");
		return VMC_EBUSY;
	}
	return 0;
}

static int lock_byte(int fd, off_t off)
{
	struct flock fl = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = off, .l_len = 1};

	return fcntl(fd, F_OFD_SETLK, &fl) < 0 ? -errno : 0;
}

int qcow2_lock_take(struct storage *st, bool write)
{
	int fd = storage_fd(st), r = 0;

	if (fd < 0)
		return 0;
	/* In use: consistent read, and write for a writer. */
	r = lock_byte(fd, PERM_BASE + 0);
	if (r == 0 && write)
		r = lock_byte(fd, PERM_BASE + 1);
	/* Not shared: write, write unchanged and resize always; reading too while we write. */
	for (int p = write ? 0 : 1; r == 0 && p < 4; p++)
		r = lock_byte(fd, SHARED_BASE + p);
	if (r == -EAGAIN || r == -EACCES) {
		log_err("%s: QEMU has the image open (it holds QEMU's image lock)",
			storage_path(st));
		return VMC_EBUSY;
	}
	if (r == -EINVAL || r == -ENOLCK)
		return 0; /* OFD locks unavailable here: flock() still keeps vmcrypt out */
	return r;
}
