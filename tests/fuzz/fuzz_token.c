/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzzes the token import validator (`vmcrypt token import`): the text is
 * validated as cryptsetup requires and stored in a metadata tree; an accepted
 * token exports, and the export imports again to the same text.
 */
#include <stdlib.h>
#include <string.h>

#include "format/luks2_json.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct luks2_json *j = NULL;
	char *text = NULL, *out = NULL, *out2 = NULL, *ser = NULL;
	size_t len;
	int id = size ? data[0] % 40 : 0; /* ids past the limit must be refused */

	if (luks2_json_new(16384 - 4096, 16744448, &j) < 0)
		return 0;
	text = malloc(size + 1);
	if (!text)
		goto out;
	memcpy(text, data, size);
	text[size] = '\0';
	if (luks2_json_token_set(j, id, text) < 0)
		goto out;
	if (id >= 32)
		abort();
	if (luks2_json_token_get(j, id, &out) != 0)
		abort();
	if (luks2_json_token_set(j, id, out) != 0 || luks2_json_token_get(j, id, &out2) != 0 ||
	    strcmp(out, out2) != 0)
		abort();
	if (luks2_json_serialize(j, &ser, &len) != 0)
		abort();
	if (luks2_json_token_remove(j, id) != 0)
		abort();
out:
	free(ser);
	free(out2);
	free(out);
	free(text);
	luks2_json_free(j);
	return 0;
}
