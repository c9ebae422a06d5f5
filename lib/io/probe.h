/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libblkid probes over a storage handle, whether or not a descriptor lies under it. */
#ifndef VMC_IO_PROBE_H
#define VMC_IO_PROBE_H

#include <blkid/blkid.h>

struct storage;

struct storage_probe {
	blkid_probe pr;
	int memfd; /* the snapshot under pr when the handle has no descriptor; else -1 */
};

/*
 * A libblkid probe over st (its window, when it has one). Over a handle with a
 * descriptor the probe reads the file; over one without (an NBD export, a
 * container served by QEMU) it reads a sparse in-memory snapshot of the first
 * and the last PROBE_EDGE bytes, where partition tables (MBR, GPT and its
 * backup) and file system superblocks live. 0 or a negative errno (reported).
 */
#define PROBE_EDGE (1u << 20)
int storage_probe_new(struct storage *st, struct storage_probe *ret);
void storage_probe_free(struct storage_probe *sp);

/*
 * Whether st carries a signature other than LUKS that libblkid recognises (a
 * file system, LVM2, swap, RAID, a partition table), as cryptsetup probes
 * before it trusts a single LUKS2 header copy. 1 with its name in type (len
 * bytes; "ambiguous" when several match), 0 when there is none, or a negative
 * errno (reported).
 */
int storage_probe_foreign(struct storage *st, char *type, size_t len);

#endif
