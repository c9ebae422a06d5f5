/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The finish of a re-encryption: one header write that leaves only the new layout. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "reencrypt/reencrypt_internal.h"
#include "format/luks2_json.h"
#include "format/manage.h"

int reenc_finish(struct reenc *re, const struct reenc_plan *plan)
{
	struct luks_meta *m = re->m;
	struct luks_segment seg = reenc_piece(&re->final, 0, 0, NULL);
	uint64_t wipe_off[LUKS_MAX_KEYSLOTS], wipe_len[LUKS_MAX_KEYSLOTS];
	int nwipe = 0, rdig = m->keyslots[re->ks].digest, r;

	if ((r = luks2_json_set_segments(m->json, &seg, 1)) < 0)
		return r;
	for (int i = 0; i < LUKS_MAX_KEYSLOTS; i++) {
		const struct luks_keyslot *k = &m->keyslots[i];
		bool old = k->kind == LUKS_KEYSLOT_LUKS2 && re->dig_old >= 0 &&
			   k->digest == re->dig_old && re->dig_old != re->dig_new;
		if (!old && i != re->ks)
			continue;
		wipe_off[nwipe] = k->area_offset;
		wipe_len[nwipe++] = k->area_size;
		if ((r = luks2_json_remove_keyslot(m->json, i)) < 0)
			return r;
	}
	if (re->dig_old >= 0 && re->dig_old != re->dig_new)
		luks2_json_remove_digest(m->json, re->dig_old);
	if (rdig >= 0)
		luks2_json_remove_digest(m->json, rdig);
	if (re->dig_new >= 0) {
		struct luks_digest d = m->digests[re->dig_new];
		d.segments = 1;
		if ((r = luks2_json_set_digest(m->json, re->dig_new, &d)) < 0)
			return r;
	}
	if ((r = luks2_json_set_requirement(m->json, REQ_V2, false)) < 0 ||
	    (r = luks2_json_set_requirement(m->json, REQ_V3, false)) < 0)
		return r;
	/* A public-key image re-keyed to a private passphrase says so in the same write. */
	if (plan && plan->private_after && luks_meta_is_public(m))
		m->label[0] = '\0';
	/* Commit point: the re-encryption is over; nothing refers to the old key any more. */
	if ((r = luks_meta_commit(re->hdr, m)) < 0)
		return r;
	for (int i = 0; i < nwipe; i++)
		if (wipe_len[i] && (r = luks_wipe_area(re->hdr, wipe_off[i], wipe_len[i])) < 0)
			return r;
	/* The plaintext copy of the first chunk at the end of the device. */
	if (re->has_moved && !re->shift_down)
		r = luks_wipe_area(re->data, re->moved.offset, re->moved.size);
	/* Decryption moved the data down: what is left after it is old ciphertext. */
	if (re->shift_down && r == 0) {
		r = luks_wipe_area(re->data, re->size, re->moved.size);
		if (r == 0 && storage_is_regular(re->data))
			r = storage_truncate(re->data, re->size);
	}
	return r;
}
