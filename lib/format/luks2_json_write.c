/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* LUKS2 JSON metadata, writing side: a new tree, edits from the model, serialisation. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/base64.h"
#include "format/luks2_json_internal.h"
#include "base/util.h"

/* --- JSON values from model values, and the objects of a section by id --- */
json_object *luks2_json_u64_string(uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return json_object_new_string(buf);
}

json_object *luks2_json_id_array(uint64_t mask)
{
	json_object *arr = json_object_new_array();
	char buf[8];

	for (int i = 0; i < 64; i++) {
		if (!(mask & (1ull << i)))
			continue;
		snprintf(buf, sizeof(buf), "%d", i);
		json_object_array_add(arr, json_object_new_string(buf));
	}
	return arr;
}

json_object *luks2_json_b64_string(const uint8_t *data, size_t len)
{
	char buf[LUKS_SALT_MAX * 2 + 4];

	base64_encode(data, len, buf);
	return json_object_new_string(buf);
}

void luks2_json_set_child(json_object *parent, const char *section, int id, json_object *obj)
{
	json_object *sect = get_obj(parent, section, json_type_object);
	char key[8];

	snprintf(key, sizeof(key), "%d", id);
	json_object_object_del(sect, key);
	json_object_object_add(sect, key, obj);
}

json_object *luks2_json_child(const struct luks2_json *j, const char *section, int id)
{
	json_object *sect = get_obj(j->root, section, json_type_object);
	char key[8];

	snprintf(key, sizeof(key), "%d", id);
	return sect ? get_obj(sect, key, json_type_object) : NULL;
}

/* --- the tree and its edits --- */

int luks2_json_new(uint64_t json_size, uint64_t keyslots_size, struct luks2_json **ret_json)
{
	struct luks2_json *j = calloc(1, sizeof(*j));
	json_object *config;

	if (!j)
		return -ENOMEM;
	j->root = json_object_new_object();
	config = json_object_new_object();
	json_object_object_add(j->root, "keyslots", json_object_new_object());
	json_object_object_add(j->root, "tokens", json_object_new_object());
	json_object_object_add(j->root, "segments", json_object_new_object());
	json_object_object_add(j->root, "digests", json_object_new_object());
	json_object_object_add(config, "json_size", luks2_json_u64_string(json_size));
	json_object_object_add(config, "keyslots_size", luks2_json_u64_string(keyslots_size));
	json_object_object_add(j->root, "config", config);
	*ret_json = j;
	return 0;
}

int luks2_json_set_keyslot(struct luks2_json *j, int id, const struct luks_keyslot *k)
{
	json_object *ks, *af, *area, *kdf;

	if (id < 0 || id >= LUKS_MAX_KEYSLOTS || k->kind != LUKS_KEYSLOT_LUKS2)
		return -EINVAL;
	ks = json_object_new_object();
	af = json_object_new_object();
	area = json_object_new_object();
	kdf = json_object_new_object();
	json_object_object_add(ks, "type", json_object_new_string("luks2"));
	json_object_object_add(ks, "key_size", json_object_new_int64((int64_t)k->key_size));
	json_object_object_add(af, "type", json_object_new_string("luks1"));
	json_object_object_add(af, "stripes", json_object_new_int64(k->stripes));
	json_object_object_add(af, "hash", json_object_new_string(k->af_hash));
	json_object_object_add(ks, "af", af);
	json_object_object_add(area, "type", json_object_new_string("raw"));
	json_object_object_add(area, "offset", luks2_json_u64_string(k->area_offset));
	json_object_object_add(area, "size", luks2_json_u64_string(k->area_size));
	json_object_object_add(area, "encryption", json_object_new_string(k->area_cipher));
	json_object_object_add(area, "key_size", json_object_new_int64((int64_t)k->area_key_size));
	json_object_object_add(ks, "area", area);
	json_object_object_add(kdf, "type", json_object_new_string(kdf_type_name(k->kdf.type)));
	if (k->kdf.type == KDF_PBKDF2) {
		json_object_object_add(kdf, "hash", json_object_new_string(k->kdf.hash));
		json_object_object_add(kdf, "iterations", json_object_new_int64(k->kdf.iterations));
	} else {
		json_object_object_add(kdf, "time", json_object_new_int64(k->kdf.time));
		json_object_object_add(kdf, "memory", json_object_new_int64(k->kdf.memory_kib));
		json_object_object_add(kdf, "cpus", json_object_new_int64(k->kdf.parallel));
	}
	json_object_object_add(kdf, "salt", luks2_json_b64_string(k->salt, k->salt_len));
	json_object_object_add(ks, "kdf", kdf);
	if (k->priority != 1)
		json_object_object_add(ks, "priority", json_object_new_int(k->priority));
	luks2_json_set_child(j->root, "keyslots", id, ks);
	return 0;
}

int luks2_json_remove_keyslot(struct luks2_json *j, int id)
{
	static const char *const linked[] = {"digests", "tokens"};
	json_object *keyslots = get_obj(j->root, "keyslots", json_type_object);
	char key[8];

	snprintf(key, sizeof(key), "%d", id);
	json_object_object_del(keyslots, key);
	/* Unlink the slot from digests and tokens, as cryptsetup does (it rejects dangling ids). */
	for (size_t n = 0; n < ARRAY_SIZE(linked); n++) {
		json_object *sect = get_obj(j->root, linked[n], json_type_object);
		if (!sect)
			continue;
		json_object_object_foreach (sect, okey, oval) {
			json_object *arr = get_obj(oval, "keyslots", json_type_array);
			(void)okey;
			if (!arr)
				continue;
			for (size_t i = json_object_array_length(arr); i-- > 0;) {
				json_object *e = json_object_array_get_idx(arr, i);
				if (json_object_is_type(e, json_type_string) &&
				    strcmp(json_object_get_string(e), key) == 0)
					json_object_array_del_idx(arr, i, 1);
			}
		}
	}
	return 0;
}

int luks2_json_set_digest(struct luks2_json *j, int id, const struct luks_digest *d)
{
	json_object *dg;

	if (id < 0 || id >= LUKS_MAX_DIGESTS)
		return -EINVAL;
	dg = json_object_new_object();
	json_object_object_add(dg, "type", json_object_new_string("pbkdf2"));
	json_object_object_add(dg, "keyslots", luks2_json_id_array(d->keyslots));
	json_object_object_add(dg, "segments", luks2_json_id_array(d->segments));
	json_object_object_add(dg, "hash", json_object_new_string(d->hash));
	json_object_object_add(dg, "iterations", json_object_new_int64(d->iterations));
	json_object_object_add(dg, "salt", luks2_json_b64_string(d->salt, d->salt_len));
	json_object_object_add(dg, "digest", luks2_json_b64_string(d->value, d->value_len));
	luks2_json_set_child(j->root, "digests", id, dg);
	return 0;
}

int luks2_json_set_segment(struct luks2_json *j, int id, const struct luks_segment *s)
{
	json_object *sg;

	if (id < 0 || id >= LUKS_MAX_SEGMENTS || s->kind != LUKS_SEGMENT_CRYPT)
		return -EINVAL;
	sg = json_object_new_object();
	json_object_object_add(sg, "type", json_object_new_string("crypt"));
	json_object_object_add(sg, "offset", luks2_json_u64_string(s->offset));
	json_object_object_add(sg, "size",
			       s->dynamic ? json_object_new_string("dynamic")
					  : luks2_json_u64_string(s->size));
	json_object_object_add(sg, "iv_tweak", luks2_json_u64_string(s->iv_tweak));
	json_object_object_add(sg, "encryption", json_object_new_string(s->cipher));
	json_object_object_add(sg, "sector_size", json_object_new_int64(s->sector_size));
	luks2_json_set_child(j->root, "segments", id, sg);
	return 0;
}

int luks2_json_set_segment_size(struct luks2_json *j, int id, bool dynamic, uint64_t size)
{
	json_object *sg = luks2_json_child(j, "segments", id);

	if (!sg)
		return -EINVAL;
	/* Replaced in place: the segment's other members (flags, integrity, ...) stay. */
	json_object_object_add(
	    sg, "size", dynamic ? json_object_new_string("dynamic") : luks2_json_u64_string(size));
	return 0;
}

int luks2_json_set_priority(struct luks2_json *j, int slot, int priority)
{
	json_object *ks = luks2_json_child(j, "keyslots", slot);

	if (!ks || priority < 0 || priority > 2)
		return -EINVAL;
	json_object_object_del(ks, "priority");
	if (priority != 1)
		json_object_object_add(ks, "priority", json_object_new_int(priority));
	return 0;
}

int luks2_json_digest_link(struct luks2_json *j, int digest, int slot, bool link)
{
	json_object *dg = luks2_json_child(j, "digests", digest), *arr;
	char key[8];

	if (!dg || !(arr = get_obj(dg, "keyslots", json_type_array)))
		return -EINVAL;
	snprintf(key, sizeof(key), "%d", slot);
	for (size_t i = json_object_array_length(arr); i-- > 0;) {
		json_object *e = json_object_array_get_idx(arr, i);
		if (strcmp(json_object_get_string(e), key) == 0)
			json_object_array_del_idx(arr, i, 1);
	}
	if (link)
		json_object_array_add(arr, json_object_new_string(key));
	return 0;
}

/* --- re-encryption metadata --- */

int luks2_json_set_reencrypt_keyslot(struct luks2_json *j, int id, const struct luks_keyslot *k)
{
	const struct luks_reenc *re = &k->reenc;
	json_object *ks, *area;

	if (id < 0 || id >= LUKS_MAX_KEYSLOTS || k->kind != LUKS_KEYSLOT_REENCRYPT)
		return -EINVAL;
	ks = json_object_new_object();
	area = json_object_new_object();
	json_object_object_add(area, "offset", luks2_json_u64_string(k->area_offset));
	json_object_object_add(area, "size", luks2_json_u64_string(k->area_size));
	json_object_object_add(area, "type", json_object_new_string(re->type));
	if (strstr(re->type, "checksum")) {
		json_object_object_add(area, "hash", json_object_new_string(re->hash));
		json_object_object_add(area, "sector_size", json_object_new_int64(re->sector_size));
	}
	if (strncmp(re->type, "datashift", 9) == 0)
		json_object_object_add(area, "shift_size", luks2_json_u64_string(re->shift));
	json_object_object_add(ks, "area", area);
	json_object_object_add(ks, "type", json_object_new_string("reencrypt"));
	json_object_object_add(ks, "key_size", json_object_new_int(1));
	json_object_object_add(ks, "mode", json_object_new_string(re->mode));
	json_object_object_add(ks, "direction", json_object_new_string(re->direction));
	json_object_object_add(ks, "priority", json_object_new_int(0));
	luks2_json_set_child(j->root, "keyslots", id, ks);
	return 0;
}

static json_object *segment_object(const struct luks_segment *s)
{
	json_object *sg = json_object_new_object();

	json_object_object_add(
	    sg, "type", json_object_new_string(s->kind == LUKS_SEGMENT_CRYPT ? "crypt" : "linear"));
	json_object_object_add(sg, "offset", luks2_json_u64_string(s->offset));
	json_object_object_add(sg, "size",
			       s->dynamic ? json_object_new_string("dynamic")
					  : luks2_json_u64_string(s->size));
	if (s->kind == LUKS_SEGMENT_CRYPT) {
		json_object_object_add(sg, "iv_tweak", luks2_json_u64_string(s->iv_tweak));
		json_object_object_add(sg, "encryption", json_object_new_string(s->cipher));
		json_object_object_add(sg, "sector_size", json_object_new_int64(s->sector_size));
	}
	if (s->flag[0]) {
		json_object *flags = json_object_new_array();
		json_object_array_add(flags, json_object_new_string(s->flag));
		json_object_object_add(sg, "flags", flags);
	}
	return sg;
}

int luks2_json_set_segments(struct luks2_json *j, const struct luks_segment *segs, int n)
{
	json_object *sect = json_object_new_object();
	char key[12];

	for (int i = 0; i < n; i++) {
		if (segs[i].kind == LUKS_SEGMENT_UNUSED) {
			json_object_put(sect);
			return -EINVAL;
		}
		snprintf(key, sizeof(key), "%d", i);
		json_object_object_add(sect, key, segment_object(&segs[i]));
	}
	json_object_object_del(j->root, "segments");
	json_object_object_add(j->root, "segments", sect);
	return 0;
}

int luks2_json_remove_digest(struct luks2_json *j, int id)
{
	json_object *sect = get_obj(j->root, "digests", json_type_object);
	char key[8];

	snprintf(key, sizeof(key), "%d", id);
	json_object_object_del(sect, key);
	return 0;
}

int luks2_json_set_requirement(struct luks2_json *j, const char *name, bool on)
{
	json_object *config = get_obj(j->root, "config", json_type_object);
	json_object *req, *mand;

	if (!config)
		return -EINVAL;
	req = get_obj(config, "requirements", json_type_object);
	if (!req && !on)
		return 0;
	if (!req) {
		req = json_object_new_object();
		json_object_object_add(config, "requirements", req);
	}
	mand = get_obj(req, "mandatory", json_type_array);
	if (!mand) {
		mand = json_object_new_array();
		json_object_object_add(req, "mandatory", mand);
	}
	for (size_t i = json_object_array_length(mand); i-- > 0;)
		if (strcmp(json_object_get_string(json_object_array_get_idx(mand, i)), name) == 0)
			json_object_array_del_idx(mand, i, 1);
	if (on)
		json_object_array_add(mand, json_object_new_string(name));
	/* An empty requirements object is removed, as cryptsetup does. */
	if (json_object_array_length(mand) == 0 && json_object_object_length(req) == 1)
		json_object_object_del(config, "requirements");
	return 0;
}

/* --- serialisation --- */

int luks2_json_serialize(const struct luks2_json *j, char **ret_text, size_t *ret_len)
{
	size_t len;
	const char *s = json_object_to_json_string_ext(j->root, JSON_C_TO_STRING_PLAIN |
								    JSON_C_TO_STRING_NOSLASHESCAPE);
	char *copy;

	if (!s)
		return -ENOMEM;
	len = strlen(s);
	copy = strdup(s);
	if (!copy)
		return -ENOMEM;
	*ret_text = copy;
	*ret_len = len;
	return 0;
}

char *luks2_json_pretty(const struct luks2_json *j)
{
	const char *s = json_object_to_json_string_ext(j->root, JSON_C_TO_STRING_PRETTY |
								    JSON_C_TO_STRING_NOSLASHESCAPE);
	return s ? strdup(s) : NULL;
}
