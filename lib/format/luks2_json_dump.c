/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What vmcrypt dump reads from the metadata: config flags, and the --json document (LUKS1 too). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/luks2_json_internal.h"

void luks2_json_config_flags(const struct luks2_json *j, char *buf, size_t len)
{
	json_object *config = get_obj(j->root, "config", json_type_object);
	json_object *flags = config ? get_obj(config, "flags", json_type_array) : NULL;
	size_t used = 0;

	buf[0] = '\0';
	if (!flags)
		return;
	for (size_t i = 0; i < json_object_array_length(flags); i++) {
		json_object *e = json_object_array_get_idx(flags, i);
		int n;
		if (!json_object_is_type(e, json_type_string))
			continue;
		n = snprintf(buf + used, len - used, "%s%s", used ? " " : "",
			     json_object_get_string(e));
		if (n < 0 || (size_t)n >= len - used)
			break;
		used += (size_t)n;
	}
}

static json_object *hex_string(const uint8_t *data, size_t len)
{
	char buf[2 * LUKS_DIGEST_MAX + 1];

	for (size_t i = 0; i < len && i < LUKS_DIGEST_MAX; i++)
		snprintf(buf + 2 * i, 3, "%02x", data[i]);
	buf[2 * (len < LUKS_DIGEST_MAX ? len : LUKS_DIGEST_MAX)] = '\0';
	return json_object_new_string(buf);
}

/* LUKS1 in the same shape as LUKS2 metadata, so one schema serves scripts. */
static json_object *luks1_tree(const struct luks_meta *m)
{
	json_object *root = json_object_new_object(), *keyslots = json_object_new_object();
	json_object *segments = json_object_new_object(), *digests = json_object_new_object();
	json_object *seg = json_object_new_object(), *dg = json_object_new_object();
	const struct luks_digest *d = &m->digests[0];

	for (int i = 0; i < 8; i++) {
		const struct luks_keyslot *k = &m->keyslots[i];
		json_object *ks, *kdf;
		char id[4];

		if (k->kind != LUKS_KEYSLOT_LUKS2)
			continue;
		ks = json_object_new_object();
		kdf = json_object_new_object();
		json_object_object_add(ks, "type", json_object_new_string("luks1"));
		json_object_object_add(ks, "key_size", json_object_new_int64((int64_t)k->key_size));
		json_object_object_add(ks, "stripes", json_object_new_int64(k->stripes));
		json_object_object_add(ks, "offset", luks2_json_u64_string(k->area_offset));
		json_object_object_add(kdf, "type", json_object_new_string("pbkdf2"));
		json_object_object_add(kdf, "hash", json_object_new_string(k->kdf.hash));
		json_object_object_add(kdf, "iterations", json_object_new_int64(k->kdf.iterations));
		json_object_object_add(kdf, "salt", luks2_json_b64_string(k->salt, k->salt_len));
		json_object_object_add(ks, "kdf", kdf);
		snprintf(id, sizeof(id), "%d", i);
		json_object_object_add(keyslots, id, ks);
	}
	json_object_object_add(seg, "type", json_object_new_string("crypt"));
	json_object_object_add(seg, "offset", luks2_json_u64_string(m->segments[0].offset));
	json_object_object_add(seg, "size", json_object_new_string("dynamic"));
	json_object_object_add(seg, "iv_tweak", json_object_new_string("0"));
	json_object_object_add(seg, "encryption", json_object_new_string(m->cipher));
	json_object_object_add(seg, "sector_size", json_object_new_int(LUKS_SECTOR));
	json_object_object_add(segments, "0", seg);
	json_object_object_add(dg, "type", json_object_new_string("pbkdf2"));
	json_object_object_add(dg, "keyslots", luks2_json_id_array(d->keyslots));
	json_object_object_add(dg, "segments", luks2_json_id_array(1));
	json_object_object_add(dg, "hash", json_object_new_string(d->hash));
	json_object_object_add(dg, "iterations", json_object_new_int64(d->iterations));
	json_object_object_add(dg, "salt", luks2_json_b64_string(d->salt, d->salt_len));
	json_object_object_add(dg, "digest", luks2_json_b64_string(d->value, d->value_len));
	json_object_object_add(digests, "0", dg);
	json_object_object_add(root, "keyslots", keyslots);
	json_object_object_add(root, "segments", segments);
	json_object_object_add(root, "digests", digests);
	return root;
}

char *luks_json_describe(const struct luks_meta *m, uint64_t data_size)
{
	json_object *root = NULL, *bin = json_object_new_object();
	char *text = NULL;

	if (m->version == 2) {
		if (json_object_deep_copy(m->json->root, &root, NULL) < 0) {
			json_object_put(bin);
			return NULL;
		}
		json_object_object_add(bin, "seqid", luks2_json_u64_string(m->seqid));
		json_object_object_add(bin, "hdr_size", luks2_json_u64_string(m->hdr_size));
		json_object_object_add(bin, "label", json_object_new_string(m->label));
		json_object_object_add(bin, "subsystem", json_object_new_string(m->subsystem));
		json_object_object_add(bin, "checksum_alg", json_object_new_string(m->csum_alg));
	} else {
		root = luks1_tree(m);
		json_object_object_add(bin, "hash_spec", json_object_new_string(m->hash));
		json_object_object_add(bin, "payload_offset",
				       json_object_new_int64(m->payload_offset));
		json_object_object_add(bin, "mk_digest",
				       hex_string(m->digests[0].value, m->digests[0].value_len));
	}
	json_object_object_add(bin, "version", json_object_new_int(m->version));
	json_object_object_add(bin, "uuid", json_object_new_string(m->uuid));
	json_object_object_add(bin, "data_size", luks2_json_u64_string(data_size));
	json_object_object_add(root, "binary", bin);
	text = strdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
	return text;
}
