/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzzes the LUKS2 header loader over memory: both binary copies, checksums,
 * copy selection, the JSON parse, schema and cross-reference validation. Each
 * input runs twice: as it is, and with the checksums of both copies repaired,
 * so that mutations of the JSON reach the validators. An accepted header is
 * dumped and rebuilt, and the rebuilt copy must load again.
 */
#include <stdlib.h>
#include <string.h>

#include "format/describe.h"
#include "format/luks2_hdr.h"
#include "tests/fuzz/fuzz.h"
#include "base/util.h"

static void accepted(struct luks_meta *m)
{
	struct luks_meta m2;
	uint8_t *area = NULL;
	char *text = NULL;

	if (luks_describe(m, 1ull << 30, false, &text) == 0)
		free(text);
	text = NULL;
	if (luks_describe(m, 1ull << 30, true, &text) == 0)
		free(text);
	/* Rebuild the primary copy from the model and the tree: it must load again. */
	area = malloc(m->hdr_size);
	if (!area)
		return;
	if (luks2_hdr_build(m, false, area) == 0) {
		if (luks2_hdr_parse_buf(area, m->hdr_size, &m2) != 0)
			abort();
		luks_meta_clear(&m2);
	}
	free(area);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct luks_meta m;
	uint8_t *copy;

	if (luks2_hdr_parse_buf(data, size, &m) == 0) {
		accepted(&m);
		luks_meta_clear(&m);
	}
	if (size < LUKS2_HDR_BIN_LEN)
		return 0;
	copy = malloc(size);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	fuzz_fix_luks2_checksum(copy, size, 0);
	fuzz_fix_luks2_checksum(copy, size, load_be64(copy + 8));
	if (luks2_hdr_parse_buf(copy, size, &m) == 0) {
		accepted(&m);
		luks_meta_clear(&m);
	}
	free(copy);
	return 0;
}
