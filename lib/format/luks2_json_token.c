/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* LUKS2 tokens, kept as the JSON objects they are: listed, imported (validated), read, removed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/luks2_json_internal.h"
#include "base/log.h"

int luks2_json_tokens(const struct luks2_json *j, int *ids, const char **types, int max)
{
	json_object *tokens = get_obj(j->root, "tokens", json_type_object);
	int n = 0;

	if (!tokens)
		return 0;
	json_object_object_foreach (tokens, tkey, tval) {
		if (n >= max)
			break;
		ids[n] = luks2_json_parse_id(tkey, LUKS_MAX_KEYSLOTS);
		types[n] = get_str(tval, "type");
		n++;
	}
	return n;
}

/* A token as cryptsetup requires it: an object with a string type and a keyslots id list. */
static int check_token(json_object *tok)
{
	uint64_t mask;

	if (!json_object_is_type(tok, json_type_object) || !get_str(tok, "type") ||
	    !luks2_json_get_id_mask(tok, "keyslots", LUKS_MAX_KEYSLOTS, &mask)) {
		log_err("token: must be a JSON object with a \"type\" string and a \"keyslots\" "
			"array of keyslot ids");
		return -EINVAL;
	}
	return 0;
}

int luks2_json_token_set(struct luks2_json *j, int id, const char *text)
{
	struct json_tokener *tok = json_tokener_new_ex(LUKS2_JSON_MAX_DEPTH);
	json_object *obj = NULL;
	size_t len = strlen(text);
	int r = -EINVAL;

	if (!tok)
		return -ENOMEM;
	if (id < 0 || id >= LUKS_MAX_KEYSLOTS || len > INT32_MAX)
		goto out;
	obj = json_tokener_parse_ex(tok, text, (int)len);
	if (!obj || json_tokener_get_error(tok) != json_tokener_success) {
		log_err("token: not valid JSON");
		goto out;
	}
	while ((size_t)json_tokener_get_parse_end(tok) < len &&
	       strchr(" \t\r\n", text[json_tokener_get_parse_end(tok)]))
		len--;
	if ((size_t)json_tokener_get_parse_end(tok) != len) {
		log_err("token: trailing data after the JSON object");
		goto out;
	}
	r = check_token(obj);
	if (r < 0)
		goto out;
	luks2_json_set_child(j->root, "tokens", id, obj);
	obj = NULL;
out:
	json_object_put(obj);
	json_tokener_free(tok);
	return r;
}

int luks2_json_token_get(const struct luks2_json *j, int id, char **ret_text)
{
	json_object *tok = luks2_json_child(j, "tokens", id);
	const char *s;

	if (!tok)
		return -ENOENT;
	s = json_object_to_json_string_ext(tok,
					   JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	*ret_text = s ? strdup(s) : NULL;
	return *ret_text ? 0 : -ENOMEM;
}

int luks2_json_token_remove(struct luks2_json *j, int id)
{
	json_object *sect = get_obj(j->root, "tokens", json_type_object);
	char key[8];

	if (!luks2_json_child(j, "tokens", id))
		return -ENOENT;
	snprintf(key, sizeof(key), "%d", id);
	json_object_object_del(sect, key);
	return 0;
}

int luks2_json_token_free_id(const struct luks2_json *j)
{
	for (int i = 0; i < LUKS_MAX_KEYSLOTS; i++)
		if (!luks2_json_child(j, "tokens", i))
			return i;
	return -ENOSPC;
}
