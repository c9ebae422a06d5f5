/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Partition lookup through libblkid's partition prober (GPT, MBR and what else it knows). */
#include <blkid/blkid.h>
#include <errno.h>

#include "io/partition.h"
#include "io/storage.h"
#include "io/storage_backend.h"
#include "base/log.h"
#include "base/util.h"

int partition_find(const char *path, int partno, uint64_t *ret_offset, uint64_t *ret_size)
{
	blkid_probe pr = NULL;
	blkid_partlist ls;
	blkid_partition par;
	int r = -ENOENT, n;

	/*
	 * libblkid reads the table through a file: an NBD export has none to give
	 * it. (Not named: the URI's query may hold TLS settings.)
	 */
	if (storage_nbd_uri(path)) {
		log_err("partition %d of an NBD export: partitions over NBD are not supported; "
			"export the partition itself (nbdkit's partition filter)",
			partno);
		return -EOPNOTSUPP;
	}
	pr = blkid_new_probe_from_filename(path);
	if (!pr) {
		log_err("%s: cannot probe for a partition table", path);
		return -EIO;
	}
	blkid_probe_enable_partitions(pr, 1);
	blkid_probe_set_partitions_flags(pr, BLKID_PARTS_ENTRY_DETAILS);
	if (blkid_do_fullprobe(pr) < 0 || !(ls = blkid_probe_get_partitions(pr))) {
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
	blkid_free_probe(pr);
	return r;
}

int partition_open(const char *path, unsigned flags, int partno, struct storage **ret_st)
{
	struct storage *st = NULL;
	uint64_t off = 0, size = 0;
	int r;

	if (partno < 0) {
		log_err("partition numbers start at 1");
		return -EINVAL;
	}
	if (partno > 0 && (r = partition_find(path, partno, &off, &size)) < 0)
		return r;
	if ((r = storage_open(path, flags, &st)) < 0)
		return r;
	if (partno > 0 && (r = storage_set_window(st, off, size)) < 0) {
		storage_free(st);
		return r;
	}
	*ret_st = st;
	return 0;
}
