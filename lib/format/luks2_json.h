/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* LUKS2 JSON metadata: the json-c tree is the source of truth; the model is a view of it. */
#ifndef VMC_FORMAT_LUKS2_JSON_H
#define VMC_FORMAT_LUKS2_JSON_H

#include "format/meta.h"

#define LUKS2_JSON_MAX_DEPTH 32 /* json-c's default, as cryptsetup parses */

/* Parses JSON text (len bytes, need not be NUL-terminated) into a new tree. VMC_ECORRUPT on error.
 */
int luks2_json_parse(const char *text, size_t len, struct luks2_json **ret_json);
/* A new, empty metadata tree with the config sizes set. */
int luks2_json_new(uint64_t json_size, uint64_t keyslots_size, struct luks2_json **ret_json);
void luks2_json_free(struct luks2_json *j);

/*
 * Validates the tree against the LUKS2 schema and fills the model's keyslots,
 * digests, segments, config and requirements (m->json is not touched).
 * hdr_size is the metadata copy size from the binary header. VMC_ECORRUPT with
 * a message naming the object, VMC_ENOTSUP for unsupported structure.
 */
int luks2_json_to_meta(const struct luks2_json *j, uint64_t hdr_size, struct luks_meta *m);
/*
 * The same for a tree being built in steps (a keyslot not yet bound to its
 * digest, a segment whose digest comes next, a reencrypt keyslot before its
 * requirement): the rules that link keyslots, digests, segments and
 * requirements are left to luks2_json_to_meta, which runs before every write.
 */
int luks2_json_to_meta_draft(const struct luks2_json *j, uint64_t hdr_size, struct luks_meta *m);

/* Replaces (or adds) keyslot id with the model's description of a luks2 keyslot. */
int luks2_json_set_keyslot(struct luks2_json *j, int id, const struct luks_keyslot *k);
/* Removes keyslot id, and its id from the keyslots lists of digests and tokens. */
int luks2_json_remove_keyslot(struct luks2_json *j, int id);
/* Replaces (or adds) digest id (type pbkdf2). */
int luks2_json_set_digest(struct luks2_json *j, int id, const struct luks_digest *d);
/* Replaces (or adds) crypt segment id. */
int luks2_json_set_segment(struct luks2_json *j, int id, const struct luks_segment *s);

/*
 * Sets the "size" of segment id in place ("dynamic", or size bytes), keeping the
 * rest of its object. -EINVAL when there is no such segment.
 */
int luks2_json_set_segment_size(struct luks2_json *j, int id, bool dynamic, uint64_t size);

/* Serialises the tree as cryptsetup does (plain, no slash escaping). Returns a malloc()ed string.
 */
int luks2_json_serialize(const struct luks2_json *j, char **ret_text, size_t *ret_len);
/* Serialises one top-level object ("tokens", ...) pretty-printed for dumps; malloc()ed. */
char *luks2_json_pretty(const struct luks2_json *j);

/*
 * The --json dump: LUKS2 metadata (or LUKS1 in the same shape) plus a "binary"
 * object with the binary header fields. malloc()ed, NULL on ENOMEM.
 */
char *luks_json_describe(const struct luks_meta *m, uint64_t data_size);

/* Number of tokens, and token ids/types for dumps. */
int luks2_json_tokens(const struct luks2_json *j, int *ids, const char **types, int max);
/* config.flags as a comma-separated list into buf ("" when none). */
void luks2_json_config_flags(const struct luks2_json *j, char *buf, size_t len);

/* Sets (priority 1 removes) a keyslot's priority in place, keeping the rest of its object. */
int luks2_json_set_priority(struct luks2_json *j, int slot, int priority);
/* Adds (link) or removes a keyslot id in a digest's keyslots list, in place. */
int luks2_json_digest_link(struct luks2_json *j, int digest, int slot, bool link);

/* Tokens: kept as the JSON objects they are; validated as cryptsetup requires on import. */
int luks2_json_token_set(struct luks2_json *j, int id, const char *text);
int luks2_json_token_get(const struct luks2_json *j, int id, char **ret_text);
int luks2_json_token_remove(struct luks2_json *j, int id);
/* The lowest free token id, or -ENOSPC. */
int luks2_json_token_free_id(const struct luks2_json *j);

/* Re-encryption metadata (docs/REENCRYPT-NOTES.md). */
/* Writes a reencrypt keyslot (k->kind LUKS_KEYSLOT_REENCRYPT, area and k->reenc set). */
int luks2_json_set_reencrypt_keyslot(struct luks2_json *j, int id, const struct luks_keyslot *k);
/* Replaces the whole segments object by segs[0..n) with ids 0..n-1 (flags kept from s->flag). */
int luks2_json_set_segments(struct luks2_json *j, const struct luks_segment *segs, int n);
int luks2_json_remove_digest(struct luks2_json *j, int id);
/* Adds or removes a mandatory requirement; an empty requirements object is dropped. */
int luks2_json_set_requirement(struct luks2_json *j, const char *name, bool on);

#endif
