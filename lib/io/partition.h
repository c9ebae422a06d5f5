/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Partitions of a whole-disk image (GPT or MBR), found with libblkid. */
#ifndef VMC_IO_PARTITION_H
#define VMC_IO_PARTITION_H

#include <stdint.h>

/*
 * Finds partition partno (1-based, as in /dev/sda1) of the disk image at path.
 * Returns its byte offset and size. -ENOENT when the image has no partition
 * table or no such partition.
 */
int partition_find(const char *path, int partno, uint64_t *ret_offset, uint64_t *ret_size);

struct storage;

/*
 * Opens the data device at path with storage_open's flags: the whole file
 * when partno is 0, else a handle restricted to partition partno (-EINVAL for
 * a negative number).
 */
int partition_open(const char *path, unsigned flags, int partno, struct storage **ret_st);

#endif
