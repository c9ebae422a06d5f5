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

#endif
