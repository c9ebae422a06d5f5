/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzzes the qcow2 snapshot parsers (lib/format/qcow2_snap.c) and the VM state
 * view (qcow2_vmstate.c) over a hostile image: the header, the snapshot table
 * at the offset it names, and each snapshot's L1/L2 mapping, read through.
 */
#include <stdlib.h>
#include <string.h>

#include "format/qcow2_snap.h"
#include "io/storage.h"
#include "tests/fuzz/fuzz.h"

#define READ_MAX (1u << 20) /* bytes of each VM state read through the view */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[64 * 1024];
	struct qcow2_snap snaps[16];
	struct qcow2_info h;
	struct storage *file = NULL;
	const char *path;
	int n, i;

	if (qcow2_parse_header(data, size, &h) < 0 || h.snapshots_offset >= size)
		return 0;
	n = qcow2_parse_snapshots(&h, data + h.snapshots_offset, size - h.snapshots_offset, snaps,
				  16);
	if (n <= 0)
		return 0;
	path = fuzz_memfile(0, data, size);
	if (!path || storage_open(path, STORAGE_RDONLY, &file) < 0)
		return 0;
	for (i = 0; i < n; i++) {
		struct qcow2_vmstate_stats stats;
		struct storage *view = NULL;
		uint64_t vsize = 0, off;

		(void)qcow2_vmstate_offset(&h, snaps[i].disk_size);
		if (qcow2_vmstate_open(file, &h, &snaps[i], "fuzz", &view, &stats) < 0)
			continue;
		if (storage_size(view, &vsize) == 0)
			for (off = 0; off < vsize && off < READ_MAX; off += sizeof(buf))
				(void)storage_read(view, buf,
						   vsize - off < sizeof(buf) ? (size_t)(vsize - off)
									     : sizeof(buf),
						   off);
		storage_free(view);
	}
	storage_free(file);
	return 0;
}
