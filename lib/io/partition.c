/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Partition lookup through libblkid's partition prober (GPT, MBR and what else it knows), over any
 * storage. */
#include <blkid/blkid.h>
#include <errno.h>

#include "io/partition.h"
#include "io/storage.h"
#include "io/probe.h"
#include "base/log.h"
#include "base/util.h"

int partition_find(struct storage *st, int partno, uint64_t *ret_offset, uint64_t *ret_size)
{
	const char *path = storage_path(st);
	struct storage_probe sp;
	blkid_partlist ls;
	blkid_partition par;
	int r, n;

	if ((r = storage_probe_new(st, &sp)) < 0)
		return r;
	r = -ENOENT;
	blkid_probe_enable_partitions(sp.pr, 1);
	blkid_probe_set_partitions_flags(sp.pr, BLKID_PARTS_ENTRY_DETAILS);
	if (blkid_do_fullprobe(sp.pr) < 0 || !(ls = blkid_probe_get_partitions(sp.pr))) {
		log_err("%s: no partition table found", path);
		goto out;
	}
	n = blkid_partlist_numof_partitions(ls);
	for (int i = 0; i < n; i++) {
		par = blkid_partlist_get_partition(ls, i);
		if (blkid_partition_get_partno(par) != partno)
			continue;
		/* libblkid counts in 512-byte sectors whatever the table's sector size. */
		*ret_offset = (uint64_t)blkid_partition_get_start(par) * 512;
		*ret_size = (uint64_t)blkid_partition_get_size(par) * 512;
		r = 0;
		goto out;
	}
	log_err("%s: no partition %d (the table has %d)", path, partno, n);
out:
	storage_probe_free(&sp);
	return r;
}

int partition_window(struct storage *st, int partno)
{
	uint64_t off = 0, size = 0;
	int r;

	if (partno < 0) {
		log_err("partition numbers start at 1");
		return -EINVAL;
	}
	if (partno == 0)
		return 0;
	if ((r = partition_find(st, partno, &off, &size)) < 0)
		return r;
	return storage_set_window(st, off, size);
}

int partition_open(const char *path, unsigned flags, int partno, struct storage **ret_st)
{
	struct storage *st = NULL;
	int r;

	if (partno < 0) {
		log_err("partition numbers start at 1");
		return -EINVAL;
	}
	if ((r = storage_open(path, flags, &st)) < 0)
		return r;
	if ((r = partition_window(st, partno)) < 0) {
		storage_free(st);
		return r;
	}
	*ret_st = st;
	return 0;
}
