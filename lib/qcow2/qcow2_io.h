/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* qcow2 over a storage handle: the map of an open file, the re-key's cluster list, QEMU's locks,
 * a snapshot's VM state as a read-only view. */
#ifndef VMC_QCOW2_QCOW2_IO_H
#define VMC_QCOW2_QCOW2_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qcow2/qcow2.h"

struct storage;

/* A qcow2_source reading st (named by its path; st must outlive it). 0 or storage_size's error. */
int qcow2_source_storage(struct storage *st, struct qcow2_source *ret_src);

/* qcow2_map_open_source() over the storage handle st (it must outlive the map). */
int qcow2_map_open(struct storage *st, const struct qcow2_header *h, uint64_t l1_offset,
		   uint32_t l1_size, struct qcow2_map **ret_map);

/* A growing list of host cluster offsets. */
struct qcow2_cluster_list {
	uint64_t *host;
	size_t n, cap;
};
/*
 * Appends to list the host offset of every cluster holding guest data (a
 * standard data cluster, or an extended one with an allocated subcluster)
 * that the L1 table at l1_offset (l1_size entries) names: the disk and the
 * VM state area alike. Zero and unallocated clusters are left out; bad
 * entries are VMC_ECORRUPT. Compressed clusters are counted in
 * *ret_compressed (added to), not listed: QEMU stores them unencrypted, and
 * the caller decides what to do with an image that has them. Messages are
 * logged.
 */
int qcow2_collect_clusters(struct storage *st, const struct qcow2_header *h, uint64_t l1_offset,
			   uint32_t l1_size, struct qcow2_cluster_list *list,
			   uint64_t *ret_compressed);

/*
 * QEMU's image locks (OFD locks on bytes 100.. ("this permission is in use")
 * and 200.. ("this permission is not shared") of the image file, which it
 * holds while it has the image open): VMC_EBUSY with a message when another
 * process holds any of them (write) or holds the write permission (a reader:
 * reading while a VM writes gives garbage), 0 otherwise (also when the lock
 * cannot be tested).
 */
int qcow2_lock_check(struct storage *st, bool write);
/*
 * Takes QEMU's locks as QEMU would for a reader (consistent read, shares
 * nothing but reading) or a writer (shares nothing), so a QEMU that comes
 * later refuses the image; released when st is closed. VMC_EBUSY when a
 * QEMU got there first; 0 where OFD locks do not exist.
 */
int qcow2_lock_take(struct storage *st, bool write);

/*
 * A read-only storage handle, named name, whose bytes are the VM state of
 * snapshot sn of the qcow2 file (header h): sn->vm_state_size bytes from
 * qcow2_vm_state_offset(h, sn->disk_size) of the snapshot's own L1 table.
 * Zero and unallocated clusters read as zeros, and so do compressed clusters
 * (not decompressed; the caller learns of them from *ret_stats). The whole
 * range is walked here, so a damaged mapping fails now (VMC_ECORRUPT); h is
 * copied, file must outlive the handle. -ENOMEM, read errors.
 */
int qcow2_vmstate_open(struct storage *file, const struct qcow2_header *h,
		       const struct qcow2_snapshot *sn, const char *name, struct storage **ret_st,
		       struct qcow2_stats *ret_stats);

#endif
