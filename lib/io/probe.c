/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libblkid probes over a storage handle: its descriptor, or a snapshot of its edges in a memfd. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"
#include "io/probe.h"
#include "io/storage.h"

/* Copies [off, off + len) of st into the same place of fd. */
static int copy_range(struct storage *st, int fd, uint8_t *buf, uint64_t off, uint64_t len)
{
	int r = storage_read(st, buf, (size_t)len, off);

	if (r < 0)
		return r;
	for (size_t done = 0; done < len;) {
		ssize_t n = pwrite(fd, buf + done, (size_t)len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	return 0;
}

/* A sparse memfd the size of st holding its first and last PROBE_EDGE bytes. */
static int snapshot(struct storage *st, uint64_t size)
{
	uint64_t head = size < PROBE_EDGE ? size : PROBE_EDGE;
	uint64_t tail = size - head < PROBE_EDGE ? size - head : PROBE_EDGE;
	uint8_t *buf = malloc(PROBE_EDGE);
	int fd = memfd_create("vmcrypt-probe", MFD_CLOEXEC), r = 0;

	if (fd < 0 || !buf) {
		r = fd < 0 ? -errno : -ENOMEM;
		goto out;
	}
	if (ftruncate(fd, (off_t)size) < 0)
		r = -errno;
	if (r == 0 && head)
		r = copy_range(st, fd, buf, 0, head);
	if (r == 0 && tail)
		r = copy_range(st, fd, buf, size - tail, tail);
out:
	free(buf);
	if (r < 0) {
		if (fd >= 0)
			close(fd);
		return r;
	}
	return fd;
}

int storage_probe_new(struct storage *st, struct storage_probe *ret)
{
	uint64_t size = 0, base = 0;
	int fd = storage_fd(st), r;

	ret->pr = NULL;
	ret->memfd = -1;
	if ((r = storage_size(st, &size)) < 0)
		return r;
	if (fd >= 0) {
		base = storage_window_base(st);
	} else {
		fd = snapshot(st, size);
		if (fd < 0) {
			log_err("%s: cannot read it for a probe: %s", storage_path(st),
				strerror(-fd));
			return fd;
		}
		ret->memfd = fd;
	}
	ret->pr = blkid_new_probe();
	if (!ret->pr ||
	    blkid_probe_set_device(ret->pr, fd, (blkid_loff_t)base, (blkid_loff_t)size) < 0) {
		log_err("%s: cannot probe it (libblkid)", storage_path(st));
		storage_probe_free(ret);
		return -ENOMEM;
	}
	return 0;
}

void storage_probe_free(struct storage_probe *sp)
{
	if (sp->pr)
		blkid_free_probe(sp->pr);
	if (sp->memfd >= 0)
		close(sp->memfd);
	sp->pr = NULL;
	sp->memfd = -1;
}

int storage_probe_foreign(struct storage *st, char *type, size_t len)
{
	static const char *const luks[] = {"crypto_LUKS", NULL};
	struct storage_probe sp;
	const char *v = NULL;
	int r;

	if ((r = storage_probe_new(st, &sp)) < 0)
		return r;
	blkid_probe_enable_partitions(sp.pr, 1);
	blkid_probe_set_partitions_flags(sp.pr, BLKID_PARTS_MAGIC);
	blkid_probe_enable_superblocks(sp.pr, 1);
	blkid_probe_set_superblocks_flags(sp.pr, BLKID_SUBLKS_TYPE | BLKID_SUBLKS_MAGIC |
						     BLKID_SUBLKS_BADCSUM);
	blkid_probe_filter_superblocks_type(sp.pr, BLKID_FLTR_NOTIN, (char **)luks);
	r = blkid_do_safeprobe(sp.pr);
	if (r == -2) {
		snprintf(type, len, "ambiguous");
		r = 1;
	} else if (r == 0) {
		if (blkid_probe_lookup_value(sp.pr, "TYPE", &v, NULL) < 0 &&
		    blkid_probe_lookup_value(sp.pr, "PTTYPE", &v, NULL) < 0)
			v = "unknown";
		snprintf(type, len, "%s", v);
		r = 1;
	} else if (r == 1) {
		r = 0;
	} else {
		log_err("%s: libblkid cannot probe it", storage_path(st));
		r = -EIO;
	}
	storage_probe_free(&sp);
	return r;
}
