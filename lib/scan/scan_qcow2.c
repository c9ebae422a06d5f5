/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The VM states that qcow2 internal snapshots (QEMU's savevm) keep inside an image, as scan
 * sources. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "io/storage.h"
#include "qcow2/qcow2.h"
#include "qcow2/qcow2_io.h"
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
		   const struct qcow2_header *h, const struct qcow2_snapshot *sn)
{
	struct qcow2_stats stats = {0};
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
	struct qcow2_snapshot *snaps = NULL;
	struct storage *st = NULL;
	struct qcow2_source src;
	struct qcow2_header h;
	uint32_t i;
	int r;

	/*
	 * The file's own scan reports an error opening it; anything but a qcow2
	 * image (or one whose header does not parse) has no snapshots to add.
	 */
	log_mute();
	r = storage_open(path, STORAGE_RDONLY, &st);
	if (r == 0)
		r = qcow2_source_storage(st, &src);
	if (r == 0)
		r = qcow2_header_load(&src, &h);
	log_unmute();
	if (r < 0 || h.nb_snapshots == 0) {
		r = 0;
		goto out;
	}
	log_mute();
	r = qcow2_snapshots_load(&src, &h, &snaps);
	log_unmute();
	if (r == -ENOMEM)
		goto out;
	if (r < 0) {
		log_warn("%s: the qcow2 snapshot table is damaged; its VM states are not scanned",
			 path);
		r = 0;
		goto out;
	}
	for (i = 0; i < h.nb_snapshots && i < SNAPS_MAX && r == 0; i++)
		if (snaps[i].vm_state_size)
			r = add_one(l, path, of, &h, &snaps[i]);
out:
	free(snaps);
	storage_free(st);
	return r;
}
