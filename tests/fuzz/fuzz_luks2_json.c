/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzzes the LUKS2 JSON metadata directly (no binary header, no checksum):
 * the bounded json-c parse, the schema validators and cross-reference checks
 * for every allowed header size, then the in-place edits the keyslot and token
 * verbs make on an accepted tree, and serialisation round trips.
 */
#include <stdlib.h>
#include <string.h>

#include "format/describe.h"
#include "format/luks2_json.h"
#include "tests/fuzz/fuzz.h"
#include "base/util.h"

/* Edits a validated tree the way the CLI verbs do, then checks it still serialises. */
static void edit(struct luks2_json *j, const struct luks_meta *m, uint64_t hdr_size)
{
	struct luks2_json *j2 = NULL;
	struct luks_meta m2;
	char *text = NULL, flags[256];
	const char *types[LUKS_MAX_KEYSLOTS];
	int ids[LUKS_MAX_KEYSLOTS];
	size_t len;

	luks2_json_config_flags(j, flags, sizeof(flags));
	(void)luks2_json_tokens(j, ids, types, LUKS_MAX_KEYSLOTS);
	for (int i = 0; i < LUKS_MAX_KEYSLOTS; i++) {
		if (luks2_json_token_get(j, i, &text) == 0) {
			free(text);
			text = NULL;
		}
	}
	for (int i = 0; i < LUKS_MAX_KEYSLOTS; i++) {
		if (m->keyslots[i].kind == LUKS_KEYSLOT_UNUSED)
			continue;
		(void)luks2_json_set_priority(j, i, 2);
		if (m->keyslots[i].digest >= 0)
			(void)luks2_json_digest_link(j, m->keyslots[i].digest, i, false);
		(void)luks2_json_remove_keyslot(j, i);
		break;
	}
	(void)luks2_json_token_remove(j, 0);
	(void)luks2_json_token_set(
	    j, luks2_json_token_free_id(j) < 0 ? 0 : luks2_json_token_free_id(j),
	    "{\"type\":\"fuzz\",\"keyslots\":[]}");
	text = luks2_json_pretty(j);
	free(text);
	text = NULL;
	if (luks2_json_serialize(j, &text, &len) < 0)
		return;
	/* The edited tree parses again; validation may now fail, but must not crash. */
	if (luks2_json_parse(text, len, &j2) != 0)
		abort();
	memset(&m2, 0, sizeof(m2));
	(void)luks2_json_to_meta(j2, hdr_size, &m2);
	luks2_json_free(j2);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct luks2_json *j = NULL, *j2 = NULL;
	struct luks_meta m;
	char *text = NULL;
	size_t len;

	if (luks2_json_parse((const char *)data, size, &j) < 0)
		return 0;
	/* A serialised tree is a fixed point: it parses again to the same text. */
	if (luks2_json_serialize(j, &text, &len) == 0) {
		char *text2 = NULL;
		size_t len2;
		if (luks2_json_parse(text, len, &j2) != 0 ||
		    luks2_json_serialize(j2, &text2, &len2) != 0 || len2 != len ||
		    memcmp(text, text2, len) != 0)
			abort();
		free(text2);
		luks2_json_free(j2);
		free(text);
	}
	for (uint64_t hdr_size = LUKS2_HDR_MIN; hdr_size <= LUKS2_HDR_MAX; hdr_size *= 2) {
		memset(&m, 0, sizeof(m));
		if (luks2_json_to_meta(j, hdr_size, &m) < 0)
			continue;
		m.version = 2;
		m.hdr_size = hdr_size;
		m.json = j;
		text = NULL;
		if (luks_describe(&m, 1ull << 30, false, &text) == 0)
			free(text);
		edit(j, &m, hdr_size);
		break;
	}
	luks2_json_free(j);
	return 0;
}
