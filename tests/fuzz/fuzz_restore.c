/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzzes header backup restore: the input is a backup file; it is parsed (LUKS1
 * or LUKS2, with the header's own size checks against the file) and, when
 * accepted, restored onto an in-memory image. The LUKS2 checksums are
 * repaired so mutations reach the region arithmetic.
 */
#include <stdlib.h>
#include <string.h>

#include "format/backup.h"
#include "format/meta.h"
#include "tests/fuzz/fuzz.h"
#include "base/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t target_init[4096];
	struct storage *target = NULL;
	const char *backup, *image;
	uint8_t *copy = NULL;

	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	if (size >= LUKS2_HDR_BIN_LEN && memcmp(copy, "LUKS\xba\xbe\0\2", 8) == 0) {
		fuzz_fix_luks2_checksum(copy, size, 0);
		fuzz_fix_luks2_checksum(copy, size, load_be64(copy + 8));
	}
	backup = fuzz_memfile(0, copy, size);
	image = fuzz_memfile(1, target_init, sizeof(target_init));
	if (!backup || !image || storage_open(image, 0, &target) < 0)
		goto out;
	(void)luks_header_restore(target, NULL, backup, false);
out:
	storage_free(target);
	free(copy);
	return 0;
}
