/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* LUKS2 JSON metadata, reading side: bounded parse, schema validation, the model from the tree. */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/base64.h"
#include "format/cipher_name.h"
#include "format/luks2_json_internal.h"
#include "base/log.h"
#include "base/util.h"

/* Requirements this engine understands (others block writes). */
static const char *const known_requirements[] = {
    "online-reencrypt-v2",
    "online-reencrypt-v3",
};

int luks2_json_parse(const char *text, size_t len, struct luks2_json **ret_json)
{
	struct json_tokener *tok = NULL;
	struct luks2_json *j = NULL;
	json_object *root = NULL;
	int r = VMC_ECORRUPT;

	if (len > INT32_MAX)
		return VMC_ECORRUPT;
	tok = json_tokener_new_ex(LUKS2_JSON_MAX_DEPTH);
	if (!tok)
		return -ENOMEM;
	root = json_tokener_parse_ex(tok, text, (int)len);
	if (!root || json_tokener_get_error(tok) != json_tokener_success) {
		log_err("LUKS2 header: JSON metadata does not parse: %s",
			json_tokener_error_desc(json_tokener_get_error(tok)));
		goto out;
	}
	if ((size_t)json_tokener_get_parse_end(tok) != len) {
		log_err("LUKS2 header: trailing data after the JSON metadata");
		goto out;
	}
	if (!json_object_is_type(root, json_type_object)) {
		log_err("LUKS2 header: JSON metadata is not an object");
		goto out;
	}
	j = calloc(1, sizeof(*j));
	if (!j) {
		r = -ENOMEM;
		goto out;
	}
	j->root = root;
	root = NULL;
	*ret_json = j;
	r = 0;
out:
	json_object_put(root);
	json_tokener_free(tok);
	return r;
}

void luks2_json_free(struct luks2_json *j)
{
	if (!j)
		return;
	json_object_put(j->root);
	free(j);
}

/* --- typed getters: every number from the header is range checked --- */

/* A 64-bit number stored as a decimal string, as LUKS2 requires. */
static bool parse_u64(const char *s, uint64_t *ret)
{
	uint64_t v = 0;

	if (!s || !*s || strlen(s) > 20)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		if (!mul_u64(v, 10, &v) || !add_u64(v, (uint64_t)(*s - '0'), &v))
			return false;
	}
	*ret = v;
	return true;
}

static bool get_u64(json_object *o, const char *key, uint64_t *ret)
{
	return parse_u64(get_str(o, key), ret);
}

static bool get_int(json_object *o, const char *key, int64_t min, int64_t max, int64_t *ret)
{
	json_object *v = get_obj(o, key, json_type_int);
	int64_t x;

	if (!v)
		return false;
	x = json_object_get_int64(v);
	if (x < min || x > max)
		return false;
	*ret = x;
	return true;
}

/* Object keys of keyslots/digests/segments/tokens are decimal ids below max. */
int luks2_json_parse_id(const char *key, int max)
{
	uint64_t v;

	if (strlen(key) > 3 || (key[0] == '0' && key[1]) || !parse_u64(key, &v) ||
	    v >= (uint64_t)max)
		return -1;
	return (int)v;
}

static bool copy_str(char *dst, size_t len, const char *src)
{
	if (!src || strlen(src) >= len)
		return false;
	memcpy(dst, src, strlen(src) + 1);
	return true;
}

/* An array of id strings into a bit mask. */
bool luks2_json_get_id_mask(json_object *o, const char *key, int max, uint64_t *ret)
{
	json_object *arr = get_obj(o, key, json_type_array);
	uint64_t mask = 0;
	size_t n;

	if (!arr)
		return false;
	n = json_object_array_length(arr);
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(arr, i);
		int id;

		if (!json_object_is_type(e, json_type_string))
			return false;
		id = luks2_json_parse_id(json_object_get_string(e), max);
		if (id < 0)
			return false;
		mask |= 1ull << id;
	}
	*ret = mask;
	return true;
}

static int bad(const char *what, const char *id, const char *why)
{
	log_err("LUKS2 header: %s %s: %s", what, id, why);
	return VMC_ECORRUPT;
}

/*
 * Records why an object whose structure is valid cannot be used (the first
 * reason wins). cryptsetup accepts such a header and fails only the unlock, so
 * the defect is reported when the keyslot or digest is opened, not here.
 */
static void set_defect(int *defect, char *why, size_t len, int code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void set_defect(int *defect, char *why, size_t len, int code, const char *fmt, ...)
{
	va_list ap;

	if (*defect)
		return;
	*defect = code;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}
#define KS_DEFECT(k, code, ...) \
	set_defect(&(k)->defect, (k)->defect_why, sizeof((k)->defect_why), code, __VA_ARGS__)

/* base64 of a member that may be missing (NULL). */
static int b64(const char *in, uint8_t *out, size_t cap)
{
	return in ? base64_decode(in, out, cap) : -EINVAL;
}

/* A member of the given JSON type (structure, checked as cryptsetup's validators do). */
static bool has(json_object *o, const char *key, json_type type)
{
	return get_obj(o, key, type) != NULL;
}

/* A decimal string of at most 64 bits ("numbered" in cryptsetup's terms). */
static bool get_numbered(json_object *o, const char *key, uint64_t *ret)
{
	return get_u64(o, key, ret);
}

/* A JSON integer within [0, UINT32_MAX], as cryptsetup requires of sizes. */
static bool get_u32(json_object *o, const char *key, uint32_t *ret)
{
	int64_t v;

	if (!get_int(o, key, 0, UINT32_MAX, &v))
		return false;
	*ret = (uint32_t)v;
	return true;
}

/*
 * The kdf object. Structure (members and their JSON types: pbkdf2 needs hash,
 * iterations and salt, argon2i/argon2id time, memory, cpus and salt; other
 * members are ignored, as cryptsetup 2.6 ignores them) makes the header invalid; values out of
 * range, a salt that is not base64 or a kdf type vmcrypt does not know only make the keyslot
 * unusable.
 */
static int parse_kdf(json_object *kdf, struct luks_keyslot *k, const char *id)
{
	const char *type = get_str(kdf, "type");
	int64_t v;
	int n;

	if (!type)
		return bad("keyslot", id, "kdf type missing");
	if (strcmp(type, "pbkdf2") == 0) {
		if (!has(kdf, "hash", json_type_string) || !has(kdf, "iterations", json_type_int) ||
		    !has(kdf, "salt", json_type_string))
			return bad("keyslot", id, "pbkdf2 kdf needs hash, iterations and salt");
	} else if (strcmp(type, "argon2i") == 0 || strcmp(type, "argon2id") == 0) {
		if (!has(kdf, "time", json_type_int) || !has(kdf, "memory", json_type_int) ||
		    !has(kdf, "cpus", json_type_int) || !has(kdf, "salt", json_type_string))
			return bad("keyslot", id, "argon2 kdf needs time, memory, cpus and salt");
	} else {
		/* "argon2" (an early name), "scrypt", ...: a valid header, a slot no one opens. */
		KS_DEFECT(k, VMC_ENOTSUP, "kdf type '%s' is not supported", type);
		return 0;
	}
	if (kdf_type_from_name(type, &k->kdf.type) < 0) {
		KS_DEFECT(k, VMC_ENOTSUP, "kdf type '%s' is not supported", type);
		return 0;
	}
	if (k->kdf.type == KDF_PBKDF2) {
		if (!copy_str(k->kdf.hash, sizeof(k->kdf.hash), get_str(kdf, "hash")))
			KS_DEFECT(k, VMC_ENOTSUP, "kdf hash name too long");
		if (get_int(kdf, "iterations", 1, KDF_MAX_ITERATIONS, &v))
			k->kdf.iterations = (uint32_t)v;
		else
			KS_DEFECT(k, VMC_ECORRUPT, "kdf iterations out of range");
	} else {
		if (get_int(kdf, "time", 1, KDF_MAX_TIME, &v))
			k->kdf.time = (uint32_t)v;
		else
			KS_DEFECT(k, VMC_ECORRUPT, "argon2 time out of range");
		if (get_int(kdf, "memory", 8, KDF_MAX_MEMORY_KIB, &v))
			k->kdf.memory_kib = (uint32_t)v;
		else
			KS_DEFECT(k, VMC_ECORRUPT, "argon2 memory out of range");
		if (get_int(kdf, "cpus", 1, KDF_MAX_PARALLEL, &v))
			k->kdf.parallel = (uint32_t)v;
		else
			KS_DEFECT(k, VMC_ECORRUPT, "argon2 cpus out of range");
	}
	n = b64(get_str(kdf, "salt"), k->salt, sizeof(k->salt));
	if (n > 0)
		k->salt_len = (size_t)n;
	else
		KS_DEFECT(k, VMC_ECORRUPT, "kdf salt is not valid base64");
	return 0;
}

/*
 * The area object every keyslot has: a type, offset and size as decimal
 * strings. A luks2 keyslot's area is of type raw with encryption and key_size.
 */
static int parse_area(json_object *ks, struct luks_keyslot *k, const char *id, bool luks2)
{
	json_object *area = get_obj(ks, "area", json_type_object);
	const char *type = area ? get_str(area, "type") : NULL;
	int64_t v;

	if (!area || !type)
		return bad("keyslot", id, "area or area type missing");
	if (!get_numbered(area, "offset", &k->area_offset) ||
	    !get_numbered(area, "size", &k->area_size))
		return bad("keyslot", id, "area offset or size missing or invalid");
	if (!luks2)
		return 0;
	if (strcmp(type, "raw") != 0)
		return bad("keyslot", id, "area type is not raw");
	if (!has(area, "encryption", json_type_string) || !has(area, "key_size", json_type_int))
		return bad("keyslot", id, "area encryption or key_size missing");
	if (!copy_str(k->area_cipher, sizeof(k->area_cipher), get_str(area, "encryption")))
		KS_DEFECT(k, VMC_ENOTSUP, "area cipher name too long");
	if (get_int(area, "key_size", 1, LUKS_KEY_MAX, &v))
		k->area_key_size = (size_t)v;
	else
		KS_DEFECT(k, VMC_ECORRUPT, "area key_size out of range");
	return 0;
}

/* The reencrypt keyslot (see docs/REENCRYPT-NOTES.md section 2.1). */
static int parse_reenc(json_object *ks, struct luks_keyslot *k, const char *id)
{
	struct luks_reenc *re = &k->reenc;
	json_object *area;
	int64_t v;
	int r;

	if ((r = parse_area(ks, k, id, false)) < 0)
		return r;
	area = get_obj(ks, "area", json_type_object);
	if (!get_int(ks, "key_size", 1, 1, &v))
		return bad("keyslot", id, "reencrypt key_size must be 1");
	if (!copy_str(re->mode, sizeof(re->mode), get_str(ks, "mode")) ||
	    (strcmp(re->mode, "reencrypt") && strcmp(re->mode, "encrypt") &&
	     strcmp(re->mode, "decrypt")))
		return bad("keyslot", id, "reencrypt mode missing or invalid");
	if (!copy_str(re->direction, sizeof(re->direction), get_str(ks, "direction")) ||
	    (strcmp(re->direction, "forward") && strcmp(re->direction, "backward")))
		return bad("keyslot", id, "reencrypt direction missing or invalid");
	if (!copy_str(re->type, sizeof(re->type), get_str(area, "type")))
		return bad("keyslot", id, "reencrypt area type missing");
	if (strstr(re->type, "checksum")) {
		if (!copy_str(re->hash, sizeof(re->hash), get_str(area, "hash")) ||
		    !get_int(area, "sector_size", 512, 1 << 20, &v) || !is_power_of_2((uint64_t)v))
			return bad("keyslot", id, "reencrypt checksum hash or sector_size invalid");
		re->sector_size = (uint32_t)v;
	}
	if (strncmp(re->type, "datashift", 9) == 0) {
		if (!get_u64(area, "shift_size", &re->shift) || !re->shift || re->shift % 512)
			return bad("keyslot", id, "reencrypt shift_size invalid");
	}
	return 0;
}

static int parse_keyslot(json_object *ks, struct luks_keyslot *k, const char *id)
{
	const char *type = get_str(ks, "type");
	json_object *af, *kdf, *prio;
	uint32_t key_size;
	int r;

	if (!json_object_is_type(ks, json_type_object) || !type)
		return bad("keyslot", id, "not an object with a type");
	if (!get_u32(ks, "key_size", &key_size))
		return bad("keyslot", id, "key_size missing or not a 32-bit number");
	k->digest = -1;
	k->priority = 1;
	/*
	 * cryptsetup reads the priority as an integer and tries only 2 (prefer)
	 * and 1 (normal) on its own: any other value leaves the slot to be named.
	 */
	if (json_object_object_get_ex(ks, "priority", &prio)) {
		int64_t p = json_object_get_int64(prio);
		k->priority = p >= 0 && p <= 2 ? (int)p : 0;
	}
	if (strcmp(type, "reencrypt") == 0) {
		k->kind = LUKS_KEYSLOT_REENCRYPT;
		return parse_reenc(ks, k, id);
	}
	if (strcmp(type, "luks2") != 0) {
		/* Kept as found; its area counts for the overlap checks. */
		k->kind = LUKS_KEYSLOT_UNKNOWN;
		return parse_area(ks, k, id, false);
	}
	k->kind = LUKS_KEYSLOT_LUKS2;
	if (key_size >= 1 && key_size <= LUKS_KEY_MAX)
		k->key_size = key_size;
	else
		KS_DEFECT(k, VMC_ECORRUPT, "key_size %" PRIu32 " out of range", key_size);
	af = get_obj(ks, "af", json_type_object);
	kdf = get_obj(ks, "kdf", json_type_object);
	if (!af || !kdf)
		return bad("keyslot", id, "af or kdf missing");
	if (!get_str(af, "type") || strcmp(get_str(af, "type"), "luks1") != 0)
		return bad("keyslot", id, "af is not of type luks1");
	if (!has(af, "hash", json_type_string) || !has(af, "stripes", json_type_int))
		return bad("keyslot", id, "af hash or stripes missing");
	if (!copy_str(k->af_hash, sizeof(k->af_hash), get_str(af, "hash")))
		KS_DEFECT(k, VMC_ENOTSUP, "af hash name too long");
	/*
	 * LUKS2 keyslots hold 4000 stripes: cryptsetup reads that many whatever
	 * "stripes" says (docs/FORMAT-NOTES.md), and so does vmcrypt.
	 */
	k->stripes = LUKS_AF_STRIPES;
	if ((r = parse_area(ks, k, id, true)) < 0)
		return r;
	if ((r = parse_kdf(kdf, k, id)) < 0)
		return r;
	/* A known cipher with a key it cannot take: the slot cannot be opened. */
	if (!k->defect && cipher_key_size_invalid(k->area_cipher, k->area_key_size))
		KS_DEFECT(k, VMC_ECORRUPT, "a %zu-byte key does not fit its area cipher %s",
			  k->area_key_size, k->area_cipher);
	return 0;
}

#define DG_DEFECT(d, code, ...) \
	set_defect(&(d)->defect, (d)->defect_why, sizeof((d)->defect_why), code, __VA_ARGS__)

/*
 * A digest: type and the keyslots and segments lists make the header valid or
 * not; what a pbkdf2 digest holds (hash, iterations, a 32-byte salt, a value of
 * 20 bytes or the hash's size) is checked when it verifies a key.
 */
static int parse_digest(json_object *dg, struct luks_digest *d, const char *id)
{
	const char *type = get_str(dg, "type");
	json_object *it;
	int64_t v = 0;
	int n, hlen;

	if (!json_object_is_type(dg, json_type_object) || !type)
		return bad("digest", id, "not an object with a type");
	if (!luks2_json_get_id_mask(dg, "keyslots", LUKS_MAX_KEYSLOTS, &d->keyslots) ||
	    !luks2_json_get_id_mask(dg, "segments", LUKS_MAX_SEGMENTS, &d->segments))
		return bad("digest", id, "keyslots or segments list missing or invalid");
	d->used = true;
	if (strcmp(type, "pbkdf2") != 0) {
		DG_DEFECT(d, VMC_ENOTSUP, "type '%s' is not supported", type);
		return 0;
	}
	if (!copy_str(d->hash, sizeof(d->hash), get_str(dg, "hash")))
		DG_DEFECT(d, VMC_ECORRUPT, "hash missing");
	/* Read as cryptsetup reads it: json-c's integer value, a decimal string included. */
	if (json_object_object_get_ex(dg, "iterations", &it) &&
	    (json_object_is_type(it, json_type_int) || json_object_is_type(it, json_type_string)))
		v = json_object_get_int64(it);
	if (v >= 1 && v <= KDF_MAX_ITERATIONS)
		d->iterations = (uint32_t)v;
	else
		DG_DEFECT(d, VMC_ECORRUPT, "iterations missing or out of range");
	n = b64(get_str(dg, "salt"), d->salt, sizeof(d->salt));
	if (n == 32)
		d->salt_len = (size_t)n;
	else
		DG_DEFECT(d, VMC_ECORRUPT, "salt is not 32 bytes of base64");
	n = b64(get_str(dg, "digest"), d->value, sizeof(d->value));
	hlen = d->hash[0] ? crypto_hash_len(d->hash) : -1;
	if (n >= 20 && (n == 20 || n == hlen))
		d->value_len = (size_t)n;
	else if (n < 0)
		DG_DEFECT(d, VMC_ECORRUPT, "digest value is not valid base64");
	else if (hlen < 0 && n != 20)
		DG_DEFECT(d, VMC_ENOTSUP, "hash '%s' is not supported", d->hash);
	else
		DG_DEFECT(d, VMC_ECORRUPT, "digest value of %d bytes", n);
	return 0;
}

static int parse_segment(json_object *sg, struct luks_segment *s, const char *id)
{
	const char *type = get_str(sg, "type");
	const char *size = get_str(sg, "size");
	json_object *flags, *integ;
	uint32_t sector;

	if (!json_object_is_type(sg, json_type_object) || !type)
		return bad("segment", id, "not an object with a type");
	if (!get_numbered(sg, "offset", &s->offset))
		return bad("segment", id, "offset missing or invalid");
	if (size && strcmp(size, "dynamic") == 0)
		s->dynamic = true;
	else if (!parse_u64(size, &s->size) || s->size == 0)
		return bad("segment", id, "size missing or invalid");
	if (s->offset % LUKS_SECTOR || s->size % LUKS_SECTOR)
		return bad("segment", id, "offset or size is not a multiple of 512");
	flags = get_obj(sg, "flags", json_type_array);
	if (!flags && json_object_object_get_ex(sg, "flags", NULL))
		return bad("segment", id, "flags must be an array of strings");
	for (size_t i = 0; flags && i < json_object_array_length(flags); i++) {
		json_object *f = json_object_array_get_idx(flags, i);
		if (!json_object_is_type(f, json_type_string))
			return bad("segment", id, "flags must be strings");
		if (i == 0)
			snprintf(s->flag, sizeof(s->flag), "%s", json_object_get_string(f));
		s->backup |= strncmp(json_object_get_string(f), "backup-", 7) == 0;
	}
	if (strcmp(type, "linear") == 0) {
		s->kind = LUKS_SEGMENT_LINEAR;
		return 0;
	}
	if (strcmp(type, "crypt") != 0) {
		/* A segment type vmcrypt does not read: the header is valid, its data is not ours.
		 */
		s->kind = LUKS_SEGMENT_UNKNOWN;
		return 0;
	}
	s->kind = LUKS_SEGMENT_CRYPT;
	if (!has(sg, "iv_tweak", json_type_string) || !has(sg, "encryption", json_type_string) ||
	    !has(sg, "sector_size", json_type_int))
		return bad("segment", id, "iv_tweak, encryption or sector_size missing");
	if (json_object_object_get_ex(sg, "integrity", &integ)) {
		if (!json_object_is_type(integ, json_type_object) ||
		    !has(integ, "type", json_type_string) ||
		    !has(integ, "journal_encryption", json_type_string) ||
		    !has(integ, "journal_integrity", json_type_string))
			return bad("segment", id, "integrity is not a complete integrity object");
		s->integrity = true;
	}
	if (!get_u32(sg, "sector_size", &sector) || sector == 0 || sector % LUKS_SECTOR)
		return bad("segment", id, "sector_size is not a multiple of 512");
	s->sector_size = sector;
	if (!get_u64(sg, "iv_tweak", &s->iv_tweak))
		return bad("segment", id, "iv_tweak is not a decimal number");
	if (!s->dynamic && s->size % s->sector_size)
		return bad("segment", id, "size is not a multiple of the sector size");
	if (!copy_str(s->cipher, sizeof(s->cipher), get_str(sg, "encryption")))
		return bad("segment", id, "encryption name too long");
	return 0;
}

static int parse_config(json_object *config, uint64_t hdr_size, struct luks_meta *m)
{
	json_object *req, *mand, *flags;
	uint64_t json_size;

	if (!get_u64(config, "json_size", &json_size) ||
	    !get_u64(config, "keyslots_size", &m->keyslots_size)) {
		log_err("LUKS2 header: config json_size or keyslots_size missing or invalid");
		return VMC_ECORRUPT;
	}
	if (json_size != hdr_size - LUKS2_HDR_BIN_LEN) {
		log_err("LUKS2 header: config json_size %" PRIu64 " does not match the header size",
			json_size);
		return VMC_ECORRUPT;
	}
	if (m->keyslots_size % 4096 || m->keyslots_size > LUKS2_KEYSLOTS_MAX) {
		log_err("LUKS2 header: config keyslots_size %" PRIu64
			" is not a multiple of 4096 up to 128 MiB",
			m->keyslots_size);
		return VMC_ECORRUPT;
	}
	flags = get_obj(config, "flags", json_type_array);
	if (!flags && json_object_object_get_ex(config, "flags", NULL)) {
		log_err("LUKS2 header: config flags must be an array");
		return VMC_ECORRUPT;
	}
	for (size_t i = 0; flags && i < json_object_array_length(flags); i++) {
		if (!json_object_is_type(json_object_array_get_idx(flags, i), json_type_string)) {
			log_err("LUKS2 header: config flags must be strings");
			return VMC_ECORRUPT;
		}
	}
	/*
	 * A requirements section vmcrypt cannot read could hide a mandatory
	 * requirement (a re-encryption in progress): refuse it, as cryptsetup does.
	 */
	req = get_obj(config, "requirements", json_type_object);
	if (!req && json_object_object_get_ex(config, "requirements", NULL)) {
		log_err("LUKS2 header: config requirements must be an object");
		return VMC_ECORRUPT;
	}
	if (!req)
		return 0;
	mand = get_obj(req, "mandatory", json_type_array);
	if (!mand && json_object_object_get_ex(req, "mandatory", NULL)) {
		log_err("LUKS2 header: config requirements mandatory must be an array");
		return VMC_ECORRUPT;
	}
	if (!mand)
		return 0;
	for (size_t i = 0; i < json_object_array_length(mand); i++) {
		json_object *e = json_object_array_get_idx(mand, i);
		const char *name;
		bool known = false;

		if (!json_object_is_type(e, json_type_string)) {
			log_err("LUKS2 header: config requirements must be strings");
			return VMC_ECORRUPT;
		}
		name = json_object_get_string(e);
		for (size_t k = 0; k < ARRAY_SIZE(known_requirements); k++)
			known |= strcmp(name, known_requirements[k]) == 0;
		if (strncmp(name, "online-reencrypt", 16) == 0)
			m->reencrypt = true;
		if (!known && !m->requirement[0])
			snprintf(m->requirement, sizeof(m->requirement), "%s", name);
	}
	return 0;
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return alen && blen && a < b + blen && b < a + alen;
}

/* End of the bytes a segment covers: the end of the device (UINT64_MAX) when dynamic. */
static uint64_t segment_end(const struct luks_segment *s)
{
	uint64_t end;

	if (s->dynamic || !add_u64(s->offset, s->size, &end))
		return UINT64_MAX;
	return end;
}

/*
 * The segments object as a whole: ids 0..n-1 without gaps, the regular
 * segments first and the backup-* ones after them, at least one regular
 * segment, only the last regular one of size "dynamic", regular segments on
 * distinct bytes, and (unless draft) every crypt segment covered by a digest.
 */
static int check_segments(const struct luks_meta *m, int count, bool draft)
{
	int first_backup = -1, last_regular = -1;

	for (int i = 0; i < count; i++) {
		const struct luks_segment *s = &m->segments[i];
		if (s->kind == LUKS_SEGMENT_UNUSED) {
			log_err("LUKS2 header: segment %d missing: segment ids must have no gaps",
				i);
			return VMC_ECORRUPT;
		}
		if (s->backup) {
			if (first_backup < 0)
				first_backup = i;
		} else if (first_backup >= 0) {
			log_err(
			    "LUKS2 header: segment %d: a regular segment after backup segment %d",
			    i, first_backup);
			return VMC_ECORRUPT;
		} else {
			last_regular = i;
		}
		if (s->kind == LUKS_SEGMENT_CRYPT && !draft) {
			bool covered = false;
			for (int d = 0; d < LUKS_MAX_DIGESTS; d++)
				covered |=
				    m->digests[d].used && (m->digests[d].segments & (1ull << i));
			if (!covered) {
				log_err("LUKS2 header: segment %d: no digest covers it", i);
				return VMC_ECORRUPT;
			}
		}
	}
	if (last_regular < 0) {
		log_err("LUKS2 header: no regular (non-backup) segment");
		return VMC_ECORRUPT;
	}
	for (int i = 0; i <= last_regular; i++) {
		const struct luks_segment *s = &m->segments[i];
		if (s->dynamic && i != last_regular) {
			log_err("LUKS2 header: segment %d: only the last segment may be dynamic",
				i);
			return VMC_ECORRUPT;
		}
		for (int j = 0; j < i; j++) {
			const struct luks_segment *o = &m->segments[j];
			if (s->offset < segment_end(o) && o->offset < segment_end(s)) {
				log_err("LUKS2 header: segment %d: overlaps segment %d", i, j);
				return VMC_ECORRUPT;
			}
		}
	}
	return 0;
}

/*
 * Keyslot areas: each inside the keyslots area (after both metadata copies,
 * before 2 * hdr_size + keyslots_size), not empty, not overlapping another.
 */
static int check_areas(const struct luks_meta *m, uint64_t hdr_size)
{
	uint64_t ks_start = 2 * hdr_size, ks_end = ks_start + m->keyslots_size;

	for (int i = 0; i < LUKS_MAX_KEYSLOTS; i++) {
		const struct luks_keyslot *k = &m->keyslots[i];
		uint64_t end;

		if (k->kind == LUKS_KEYSLOT_UNUSED)
			continue;
		if (!k->area_size) {
			log_err("LUKS2 header: keyslot %d: area size is 0", i);
			return VMC_ECORRUPT;
		}
		if (!add_u64(k->area_offset, k->area_size, &end) || k->area_offset < ks_start ||
		    end > ks_end) {
			log_err("LUKS2 header: keyslot %d: area [%" PRIu64 ", %" PRIu64
				") is outside the keyslots area",
				i, k->area_offset, k->area_offset + k->area_size);
			return VMC_ECORRUPT;
		}
		for (int j = 0; j < i; j++) {
			const struct luks_keyslot *o = &m->keyslots[j];
			if (o->kind == LUKS_KEYSLOT_UNUSED)
				continue;
			if (ranges_overlap(k->area_offset, k->area_size, o->area_offset,
					   o->area_size)) {
				log_err("LUKS2 header: keyslot %d: area overlaps keyslot %d", i, j);
				return VMC_ECORRUPT;
			}
		}
	}
	return 0;
}

/*
 * Cross-references: the keyslots area ends before the first data (a lowest
 * offset of 0 means a detached header), digests name existing keyslots and
 * segments, and (unless draft) every luks2 keyslot is bound to exactly one
 * digest and a reencrypt keyslot goes with an online-reencrypt requirement.
 */
static int check_references(const struct luks_meta *m, uint64_t hdr_size, bool draft)
{
	uint64_t lowest = UINT64_MAX, bound = 0;
	int reenc = 0;

	for (int i = 0; i < LUKS_MAX_SEGMENTS; i++) {
		const struct luks_segment *s = &m->segments[i];
		if (s->kind != LUKS_SEGMENT_UNUSED && !s->backup && s->offset < lowest)
			lowest = s->offset;
	}
	if (lowest && lowest != UINT64_MAX && lowest < 2 * hdr_size + m->keyslots_size) {
		log_err("LUKS2 header: config keyslots_size %" PRIu64
			" reaches past the data offset %" PRIu64,
			m->keyslots_size, lowest);
		return VMC_ECORRUPT;
	}
	for (int i = 0; i < LUKS_MAX_DIGESTS; i++) {
		const struct luks_digest *d = &m->digests[i];
		if (!d->used)
			continue;
		for (int k = 0; k < LUKS_MAX_KEYSLOTS; k++) {
			if (!(d->keyslots & (1ull << k)))
				continue;
			if (m->keyslots[k].kind == LUKS_KEYSLOT_UNUSED) {
				log_err("LUKS2 header: digest %d refers to missing keyslot %d", i,
					k);
				return VMC_ECORRUPT;
			}
			if ((bound & (1ull << k)) && m->keyslots[k].kind == LUKS_KEYSLOT_LUKS2) {
				log_err("LUKS2 header: keyslot %d: bound to two digests", k);
				return VMC_ECORRUPT;
			}
		}
		bound |= d->keyslots;
		for (int s = 0; s < LUKS_MAX_SEGMENTS; s++) {
			if ((d->segments & (1ull << s)) &&
			    m->segments[s].kind == LUKS_SEGMENT_UNUSED) {
				log_err("LUKS2 header: digest %d refers to missing segment %d", i,
					s);
				return VMC_ECORRUPT;
			}
		}
	}
	if (draft)
		return 0;
	for (int k = 0; k < LUKS_MAX_KEYSLOTS; k++) {
		if (m->keyslots[k].kind == LUKS_KEYSLOT_LUKS2 && !(bound & (1ull << k))) {
			log_err("LUKS2 header: keyslot %d: not bound to a digest", k);
			return VMC_ECORRUPT;
		}
		reenc += m->keyslots[k].kind == LUKS_KEYSLOT_REENCRYPT;
	}
	if (reenc > 1 || (reenc == 1) != m->reencrypt) {
		log_err("LUKS2 header: %s", reenc > 1 ? "more than one reencrypt keyslot"
					    : reenc   ? "a reencrypt keyslot without the "
							"online-reencrypt requirement"
						    : "the online-reencrypt requirement without a "
						      "reencrypt keyslot");
		return VMC_ECORRUPT;
	}
	return 0;
}

/* Records in each keyslot the digest that lists it (check_references made it unique). */
static void bind_digests(struct luks_meta *m)
{
	for (int i = 0; i < LUKS_MAX_DIGESTS; i++) {
		if (!m->digests[i].used)
			continue;
		for (int k = 0; k < LUKS_MAX_KEYSLOTS; k++)
			if (m->digests[i].keyslots & (1ull << k))
				m->keyslots[k].digest = i;
	}
}

static int to_meta(const struct luks2_json *j, uint64_t hdr_size, struct luks_meta *m, bool draft)
{
	json_object *keyslots, *digests, *segments, *tokens, *config;
	int nseg = 0, r;

	keyslots = get_obj(j->root, "keyslots", json_type_object);
	digests = get_obj(j->root, "digests", json_type_object);
	segments = get_obj(j->root, "segments", json_type_object);
	tokens = get_obj(j->root, "tokens", json_type_object);
	config = get_obj(j->root, "config", json_type_object);
	if (!keyslots || !digests || !segments || !tokens || !config) {
		log_err("LUKS2 header: JSON metadata lacks keyslots, digests, segments, tokens "
			"or config");
		return VMC_ECORRUPT;
	}
	memset(m->keyslots, 0, sizeof(m->keyslots));
	memset(m->digests, 0, sizeof(m->digests));
	memset(m->segments, 0, sizeof(m->segments));
	m->requirement[0] = '\0';
	m->reencrypt = false;

	json_object_object_foreach (keyslots, kkey, kval) {
		int id = luks2_json_parse_id(kkey, LUKS_MAX_KEYSLOTS);
		if (id < 0)
			return bad("keyslot", kkey, "invalid keyslot id");
		if ((r = parse_keyslot(kval, &m->keyslots[id], kkey)) < 0)
			return r;
	}
	json_object_object_foreach (digests, dkey, dval) {
		int id = luks2_json_parse_id(dkey, LUKS_MAX_DIGESTS);
		if (id < 0)
			return bad("digest", dkey, "invalid digest id");
		if ((r = parse_digest(dval, &m->digests[id], dkey)) < 0)
			return r;
	}
	json_object_object_foreach (segments, skey, sval) {
		int id = luks2_json_parse_id(skey, LUKS_MAX_SEGMENTS);
		if (id < 0)
			return bad("segment", skey, "invalid segment id");
		if ((r = parse_segment(sval, &m->segments[id], skey)) < 0)
			return r;
		nseg++;
	}
	json_object_object_foreach (tokens, tkey, tval) {
		uint64_t mask = 0;
		if (luks2_json_parse_id(tkey, LUKS_MAX_KEYSLOTS) < 0 ||
		    !json_object_is_type(tval, json_type_object) || !get_str(tval, "type"))
			return bad("token", tkey, "invalid id, or not an object with a type");
		if (!luks2_json_get_id_mask(tval, "keyslots", LUKS_MAX_KEYSLOTS, &mask))
			return bad("token", tkey, "keyslots list missing or invalid");
		for (int k = 0; k < LUKS_MAX_KEYSLOTS; k++)
			if ((mask & (1ull << k)) && m->keyslots[k].kind == LUKS_KEYSLOT_UNUSED)
				return bad("token", tkey,
					   "refers to a keyslot that does not exist");
	}
	if ((r = parse_config(config, hdr_size, m)) < 0)
		return r;
	if (nseg == 0) {
		log_err("LUKS2 header: no segments");
		return VMC_ECORRUPT;
	}
	if ((r = check_segments(m, nseg, draft)) < 0 || (r = check_areas(m, hdr_size)) < 0 ||
	    (r = check_references(m, hdr_size, draft)) < 0)
		return r;
	bind_digests(m);
	return 0;
}

int luks2_json_to_meta(const struct luks2_json *j, uint64_t hdr_size, struct luks_meta *m)
{
	return to_meta(j, hdr_size, m, false);
}

int luks2_json_to_meta_draft(const struct luks2_json *j, uint64_t hdr_size, struct luks_meta *m)
{
	return to_meta(j, hdr_size, m, true);
}
