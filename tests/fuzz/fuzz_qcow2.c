/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzzes the qcow2 parser: the header and its extensions, the snapshot table,
 * L1/L2 entries (standard and extended), the guest-to-host map over the bytes
 * as a file, the re-key's cluster list, the range stats (dump, audit), each
 * snapshot's VM state read through its own map (scan), and the header
 * writer's round trip.
 */
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "io/storage.h"
#include "qcow2/qcow2.h"
#include "qcow2/qcow2_io.h"
#include "tests/fuzz/fuzz.h"

#define READ_MAX (1u << 20) /* bytes of each VM state read through the view */

/* Walks the map of one L1 table over the whole disk, a bounded number of runs. */
static void walk(struct storage *st, const struct qcow2_header *h, uint64_t l1, uint32_t l1_size,
		 uint64_t size)
{
	struct qcow2_map *map = NULL;
	uint64_t off = 0;

	if (qcow2_map_open(st, h, l1, l1_size, &map) < 0)
		return;
	for (int i = 0; i < 512 && off < size; i++) {
		struct qcow2_run run;
		if (qcow2_map_get(map, off, size - off, &run) < 0)
			break;
		if (run.length == 0 || run.length > size - off)
			abort();
		if (run.kind == QCOW2_DATA && (run.host & 511) != (off & 511))
			abort();
		off += run.length;
	}
	qcow2_map_free(map);
}

/* What one L1 table holds in all, and the sums agree with the range walked. */
static void stats(struct storage *st, const struct qcow2_header *h, uint64_t l1, uint32_t l1_size)
{
	struct qcow2_map *map = NULL;
	struct qcow2_stats s;
	uint64_t span;

	/* A hostile table can name one L2 table from every entry: a bounded walk. */
	if (l1_size > 64)
		l1_size = 64;
	span = qcow2_l1_span(h, l1_size);
	if (qcow2_map_open(st, h, l1, l1_size, &map) < 0)
		return;
	if (qcow2_map_stats(map, 0, span, &s) == 0 &&
	    s.data_bytes + s.zero_bytes + s.compressed_bytes != span)
		abort();
	qcow2_map_free(map);
}

/* A snapshot's VM state as a view, read through (at most READ_MAX bytes). */
static void vmstate(struct storage *st, const struct qcow2_header *h,
		    const struct qcow2_snapshot *sn)
{
	static uint8_t buf[64 * 1024];
	struct qcow2_stats s;
	struct storage *view = NULL;
	uint64_t vsize = 0;

	if (qcow2_vmstate_open(st, h, sn, "fuzz", &view, &s) < 0)
		return;
	if (s.data_bytes + s.zero_bytes + s.compressed_bytes != sn->vm_state_size)
		abort();
	if (storage_size(view, &vsize) == 0)
		for (uint64_t off = 0; off < vsize && off < READ_MAX; off += sizeof(buf))
			(void)storage_read(
			    view, buf,
			    vsize - off < sizeof(buf) ? (size_t)(vsize - off) : sizeof(buf), off);
	storage_free(view);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qcow2_header h, h2;
	struct qcow2_snapshot *snaps = NULL;
	struct storage *st = NULL;
	size_t table_len = 0;
	const char *path;
	uint8_t *out;

	if (qcow2_header_parse(data, size, &h) < 0)
		return 0;
	if (h.nb_snapshots && h.snapshots_offset < size &&
	    qcow2_snapshots_parse(&h, data + h.snapshots_offset, size - h.snapshots_offset, &snaps,
				  &table_len) == 0) {
		if (table_len > size - h.snapshots_offset)
			abort();
	}
	/* Single entries, wherever the tables would be. */
	for (uint64_t i = 0; i < 16 && h.l1_table_offset + i * 8 + 8 <= size; i++) {
		uint64_t l2 = 0, e = load_be64(data + h.l1_table_offset + i * 8);
		if (qcow2_l1_decode(&h, e, &l2) == 0 && l2 && l2 + 16 <= size) {
			struct qcow2_run run;
			uint64_t bm = h.extended_l2 ? load_be64(data + l2 + 8) : 0;
			if (qcow2_l2_decode(&h, load_be64(data + l2), bm, h.cluster_size / 2,
					    &run) == 0 &&
			    run.length > h.cluster_size / 2)
				abort();
		}
	}
	/* The map over the bytes as a file: the active table and each snapshot's. */
	path = fuzz_memfile(0, data, size);
	if (path && storage_open(path, STORAGE_RDONLY, &st) == 0) {
		struct qcow2_cluster_list list = {0};
		uint64_t compressed = 0;
		walk(st, &h, h.l1_table_offset, h.l1_size, h.size);
		stats(st, &h, h.l1_table_offset, h.l1_size);
		/* The re-key's cluster list: every entry aligned and inside the file. */
		if (qcow2_collect_clusters(st, &h, h.l1_table_offset, h.l1_size, &list,
					   &compressed) == 0)
			for (size_t i = 0; i < list.n; i++)
				if ((list.host[i] & (h.cluster_size - 1)) ||
				    list.host[i] + h.cluster_size > size)
					abort();
		free(list.host);
		for (uint32_t i = 0; snaps && i < h.nb_snapshots && i < 4; i++) {
			walk(st, &h, snaps[i].l1_table_offset, snaps[i].l1_size,
			     snaps[i].disk_size);
			stats(st, &h, snaps[i].l1_table_offset, snaps[i].l1_size);
			vmstate(st, &h, &snaps[i]);
		}
		storage_free(st);
	}
	free(snaps);
	/* What was accepted writes (as version 3) and parses back to the same tables. */
	out = malloc(h.cluster_size);
	if (out && qcow2_header_write(&h, out, h.cluster_size) == 0) {
		if (qcow2_header_parse(out, h.cluster_size, &h2) != 0)
			abort();
		if (h2.size != h.size || h2.cluster_bits != h.cluster_bits ||
		    h2.l1_size != h.l1_size || h2.l1_table_offset != h.l1_table_offset ||
		    h2.crypt_method != h.crypt_method || h2.fde_offset != h.fde_offset ||
		    h2.fde_length != h.fde_length || h2.extended_l2 != h.extended_l2)
			abort();
	}
	free(out);
	return 0;
}
