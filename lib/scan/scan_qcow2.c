/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The VM states that qcow2 internal snapshots (QEMU's savevm) keep inside an image, as scan
 * sources. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "format/qcow2_snap.h"
#include "io/storage.h"
#include "scan/scan_internal.h"

#define SNAPS_MAX 1024 /* snapshots looked at per image */

void scan_vmstates_clear(struct scan_vmstates *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		storage_free(l->v[i].st);
		storage_free(l->v[i].file);
		free(l->v[i].name);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* Opens one snapshot's VM state as a new entry of l; errors other than -ENOMEM are skipped. */
static int add_one(struct scan_vmstates *l, const char *path, uint32_t of,
		   const struct qcow2_info *h, const struct qcow2_snap *sn)
{
	struct qcow2_vmstate_stats stats = {0};
	struct scan_vmstate e = {.of = of};
	struct scan_vmstate *v;
	int r;

	if (asprintf(&e.name, "%s (snapshot '%s', VM state)", path, sn->name) < 0)
		return -ENOMEM;
	snprintf(e.snapshot, sizeof(e.snapshot), "%s", sn->name);
	r = storage_open(path, STORAGE_RDONLY, &e.file);
	if (r == 0)
		r = qcow2_vmstate_open(e.file, h, sn, e.name, &e.st, &stats);
	if (r < 0) {
		storage_free(e.file);
		free(e.name);
		if (r == -ENOMEM)
			return r;
		log_warn("%s: snapshot '%s': cannot read its VM state (%s); not scanned", path,
			 sn->name, vmc_strerror(r));
		return 0;
	}
	e.compressed_bytes = stats.compressed_bytes;
	if (stats.compressed_bytes)
		log_warn("%s: snapshot '%s': %llu bytes of VM state are in compressed clusters, "
			 "which are not scanned",
			 path, sn->name, (unsigned long long)stats.compressed_bytes);
	v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (!v) {
		storage_free(e.st);
		storage_free(e.file);
		free(e.name);
		return -ENOMEM;
	}
	l->v = v;
	l->v[l->n++] = e;
	return 0;
}

int scan_vmstates_add(struct scan_vmstates *l, const char *path, uint32_t of)
{
	uint8_t head[QCOW2_SNAP_HEADER_LEN];
	struct qcow2_snap *snaps = NULL;
	struct storage *st = NULL;
	struct qcow2_info h;
	uint8_t *table = NULL;
	uint64_t size = 0, want;
	int r, n, i;

	/* The file's own scan reports an error opening it. */
	log_mute();
	r = storage_open(path, STORAGE_RDONLY, &st);
	log_unmute();
	if (r < 0)
		return 0;
	r = storage_size(st, &size);
	if (r < 0 || size < sizeof(head) || storage_read(st, head, sizeof(head), 0) < 0 ||
	    qcow2_parse_header(head, sizeof(head), &h) < 0 || h.nb_snapshots == 0 ||
	    h.snapshots_offset >= size) {
		r = 0;
		goto out;
	}
	want = qcow2_snap_table_max(&h);
	if (want > size - h.snapshots_offset)
		want = size - h.snapshots_offset;
	table = malloc(want ? (size_t)want : 1);
	snaps = calloc(SNAPS_MAX, sizeof(*snaps));
	if (!table || !snaps) {
		r = -ENOMEM;
		goto out;
	}
	r = storage_read(st, table, (size_t)want, h.snapshots_offset);
	if (r < 0) {
		r = 0;
		goto out;
	}
	n = qcow2_parse_snapshots(&h, table, (size_t)want, snaps, SNAPS_MAX);
	if (n < 0) {
		log_warn("%s: the qcow2 snapshot table is damaged; its VM states are not scanned",
			 path);
		r = 0;
		goto out;
	}
	r = 0;
	for (i = 0; i < n && r == 0; i++)
		if (snaps[i].vm_state_size)
			r = add_one(l, path, of, &h, &snaps[i]);
out:
	free(snaps);
	free(table);
	storage_free(st);
	return r;
}
