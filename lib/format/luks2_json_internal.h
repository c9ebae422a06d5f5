/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the luks2_json*.c parts share: the json-c tree and its typed helpers (json-c stops here). */
#ifndef VMC_FORMAT_LUKS2_JSON_INTERNAL_H
#define VMC_FORMAT_LUKS2_JSON_INTERNAL_H

#include <json-c/json.h>

#include "format/luks2_json.h"

/*
 * luks2_json.c        parse and validate: JSON text -> tree -> model
 * luks2_json_write.c  a new tree, edits from the model, serialisation
 * luks2_json_token.c  tokens
 * luks2_json_dump.c   what vmcrypt dump reads: config flags, the --json document
 */

struct luks2_json {
	json_object *root;
};

/* o[key] when it exists and has the given type, else NULL. */
static inline json_object *get_obj(json_object *o, const char *key, json_type type)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, type))
		return NULL;
	return v;
}

/* o[key] when it is a string, else NULL. */
static inline const char *get_str(json_object *o, const char *key)
{
	json_object *v = get_obj(o, key, json_type_string);
	return v ? json_object_get_string(v) : NULL;
}

/* luks2_json.c */
/* An object key of keyslots/digests/segments/tokens: a decimal id below max, or -1. */
int luks2_json_parse_id(const char *key, int max);
/* o[key] as an array of id strings below max into a bit mask; false when anything is invalid. */
bool luks2_json_get_id_mask(json_object *o, const char *key, int max, uint64_t *ret);

/* luks2_json_write.c */
/* A 64-bit number as LUKS2 stores it: a decimal string. */
json_object *luks2_json_u64_string(uint64_t v);
/* The ids in mask as an array of decimal strings. */
json_object *luks2_json_id_array(uint64_t mask);
/* A salt or digest value (at most LUKS_SALT_MAX or LUKS_DIGEST_MAX bytes) as base64. */
json_object *luks2_json_b64_string(const uint8_t *data, size_t len);
/* Replaces (or adds) parent[section][id] by obj, taking ownership of obj. */
void luks2_json_set_child(json_object *parent, const char *section, int id, json_object *obj);
/* The object j->root[section][id], or NULL. */
json_object *luks2_json_child(const struct luks2_json *j, const char *section, int id);

#endif
