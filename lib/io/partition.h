/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Partitions of a whole-disk image (GPT or MBR), found with libblkid. */
#ifndef VMC_IO_PARTITION_H
#define VMC_IO_PARTITION_H

#include <stdint.h>

struct storage;

/*
 * Finds partition partno (1-based, as in /dev/sda1) of the whole-disk image
 * st (a file, an NBD export, a container served by QEMU). Returns its byte
 * offset and size. -ENOENT when the image has no partition table or no such
 * partition. Without a descriptor under st, the table must lie in the first
 * and last MiB (MBR primaries, GPT; not the EBR chain of logical partitions).
 */
int partition_find(struct storage *st, int partno, uint64_t *ret_offset, uint64_t *ret_size);
/* Restricts st to partition partno (nothing for 0; -EINVAL for a negative number). */
int partition_window(struct storage *st, int partno);

/*
 * Opens the data device at path with storage_open's flags: the whole file
 * when partno is 0, else a handle restricted to partition partno (-EINVAL for
 * a negative number).
 */
int partition_open(const char *path, unsigned flags, int partno, struct storage **ret_st);

#endif
