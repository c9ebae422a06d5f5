/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzzes the LUKS1 header parser, its dumps and the serialise/re-parse round trip. */
#include <stdlib.h>
#include <string.h>

#include "format/describe.h"
#include "format/luks1.h"
#include "tests/fuzz/fuzz.h"
#include "base/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct luks_meta m, m2;
	uint8_t out[LUKS1_HDR_LEN];
	char *text = NULL;

	/* Keyslot ends are checked against the device size when it is known. */
	if (luks1_parse(data, size, size, &m) == 0)
		luks_meta_clear(&m);
	if (luks1_parse(data, size, 0, &m) < 0)
		return 0;
	if (luks_describe(&m, size, false, &text) == 0)
		free(text);
	text = NULL;
	if (luks_describe(&m, size, true, &text) == 0)
		free(text);
	/*
	 * What was accepted serialises, and the result parses to the same model.
	 * Disabled slots are compared by kind only: the writer deliberately gives
	 * a disabled slot with no area cryptsetup's default area and stripes.
	 */
	if (luks1_serialize(&m, out) == 0) {
		if (luks1_parse(out, sizeof(out), 0, &m2) != 0)
			abort();
		if (m2.key_size != m.key_size || m2.payload_offset != m.payload_offset ||
		    strcmp(m2.cipher, m.cipher) != 0 ||
		    memcmp(m2.digests, m.digests, sizeof(m.digests)) != 0)
			abort();
		for (int i = 0; i < LUKS1_NUM_KEYSLOTS; i++) {
			if (m.keyslots[i].kind != m2.keyslots[i].kind)
				abort();
			if (m.keyslots[i].kind == LUKS_KEYSLOT_LUKS2 &&
			    memcmp(&m.keyslots[i], &m2.keyslots[i], sizeof(m.keyslots[i])) != 0)
				abort();
		}
		luks_meta_clear(&m2);
	}
	luks_meta_clear(&m);
	return 0;
}
