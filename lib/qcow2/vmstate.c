/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A qcow2 snapshot's VM state as a read-only storage handle, read through the snapshot's map. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "io/storage.h"
#include "io/storage_backend.h"
#include "qcow2/qcow2.h"
#include "qcow2/qcow2_io.h"
#include "vmcrypt.h"

struct vmstate {
	struct storage *file;
	struct qcow2_header h; /* the map points at it */
	struct qcow2_map *map; /* the snapshot's L1 table */
	uint64_t start;	       /* guest offset of the VM state */
	uint64_t size;
};

static int vm_pread(void *be, void *buf, size_t len, uint64_t off)
{
	struct vmstate *v = be;
	uint8_t *dst = buf;
	int r;

	if (off > v->size || len > v->size - off)
		return -ENODATA;
	while (len > 0) {
		struct qcow2_run run;
		if ((r = qcow2_map_get(v->map, v->start + off, len, &run)) < 0)
			return r;
		/* Data from the file; zeros for the rest (compressed clusters are not inflated). */
		if (run.kind == QCOW2_DATA) {
			if ((r = storage_read(v->file, dst, (size_t)run.length, run.host)) < 0)
				return r;
		} else {
			memset(dst, 0, (size_t)run.length);
		}
		dst += run.length;
		off += run.length;
		len -= (size_t)run.length;
	}
	return 0;
}

static int vm_size(void *be, uint64_t *ret_size)
{
	*ret_size = ((struct vmstate *)be)->size;
	return 0;
}

static int vm_fd(void *be)
{
	(void)be;
	return -1;
}

static void vm_close(void *be)
{
	struct vmstate *v = be;

	if (!v)
		return;
	qcow2_map_free(v->map);
	free(v);
}

static const struct storage_backend_ops vmstate_ops = {
    .name = "qcow2 VM state",
    .pread = vm_pread,
    .size = vm_size,
    .fd = vm_fd,
    .close = vm_close,
};

int qcow2_vmstate_open(struct storage *file, const struct qcow2_header *h,
		       const struct qcow2_snapshot *sn, const char *name, struct storage **ret_st,
		       struct qcow2_stats *ret_stats)
{
	struct storage_backend_info info = {.read_only = true};
	struct qcow2_stats stats;
	struct vmstate *v = calloc(1, sizeof(*v));
	int r;

	if (!v)
		return -ENOMEM;
	v->file = file;
	v->h = *h;
	v->start = qcow2_vm_state_offset(h, sn->disk_size);
	v->size = sn->vm_state_size;
	if ((r = qcow2_map_open(file, &v->h, sn->l1_table_offset, sn->l1_size, &v->map)) < 0)
		goto out;
	/* The whole range now: a damaged mapping fails here, not in the middle of a scan. */
	if ((r = qcow2_map_stats(v->map, v->start, v->size, &stats)) < 0)
		goto out;
	r = storage_new(&vmstate_ops, v, name, &info, ret_st);
	v = NULL; /* storage_new owns it, on failure too */
	if (r == 0 && ret_stats)
		*ret_stats = stats;
out:
	vm_close(v);
	return r;
}
