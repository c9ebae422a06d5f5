/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* LUKS2 JSON metadata, reading side: bounded parse, schema validation, the model from the tree. */
#include <errno.h>
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

static int parse_kdf(json_object *kdf, struct luks_keyslot *k, const char *id)
{
	const char *type = get_str(kdf, "type");
	int64_t v;
	int n;

	if (!type || kdf_type_from_name(type, &k->kdf.type) < 0)
		return bad("keyslot", id, "unknown or missing kdf type");
	if (k->kdf.type == KDF_PBKDF2) {
		if (!copy_str(k->kdf.hash, sizeof(k->kdf.hash), get_str(kdf, "hash")))
			return bad("keyslot", id, "kdf hash missing");
		if (!get_int(kdf, "iterations", 1, KDF_MAX_ITERATIONS, &v))
			return bad("keyslot", id, "kdf iterations missing or out of range");
		k->kdf.iterations = (uint32_t)v;
	} else {
		if (!get_int(kdf, "time", 1, KDF_MAX_TIME, &v))
			return bad("keyslot", id, "argon2 time missing or out of range");
		k->kdf.time = (uint32_t)v;
		if (!get_int(kdf, "memory", 8, KDF_MAX_MEMORY_KIB, &v))
			return bad("keyslot", id, "argon2 memory missing or out of range");
		k->kdf.memory_kib = (uint32_t)v;
		if (!get_int(kdf, "cpus", 1, KDF_MAX_PARALLEL, &v))
			return bad("keyslot", id, "argon2 cpus missing or out of range");
		k->kdf.parallel = (uint32_t)v;
	}
	n = base64_decode(get_str(kdf, "salt") ? get_str(kdf, "salt") : "", k->salt,
			  sizeof(k->salt));
	if (n <= 0)
		return bad("keyslot", id, "kdf salt missing or invalid");
	k->salt_len = (size_t)n;
	return 0;
}

/* The area object common to luks2 and reencrypt keyslots. */
static int parse_area(json_object *ks, struct luks_keyslot *k, const char *id, bool need_cipher)
{
	json_object *area = get_obj(ks, "area", json_type_object);
	int64_t v;

	if (!area)
		return bad("keyslot", id, "area missing");
	if (!get_u64(area, "offset", &k->area_offset) || !get_u64(area, "size", &k->area_size))
		return bad("keyslot", id, "area offset or size missing or invalid");
	if (!need_cipher)
		return 0;
	if (!get_str(area, "type") || strcmp(get_str(area, "type"), "raw") != 0)
		return bad("keyslot", id, "unsupported area type");
	if (!copy_str(k->area_cipher, sizeof(k->area_cipher), get_str(area, "encryption")))
		return bad("keyslot", id, "area encryption missing");
	if (!get_int(area, "key_size", 1, LUKS_KEY_MAX, &v))
		return bad("keyslot", id, "area key_size missing or out of range");
	k->area_key_size = (size_t)v;
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
	json_object *af, *kdf;
	int64_t v;
	int r;

	if (!json_object_is_type(ks, json_type_object) || !type)
		return bad("keyslot", id, "not an object with a type");
	k->digest = -1;
	k->priority = 1;
	if (json_object_object_get_ex(ks, "priority", NULL)) {
		if (!get_int(ks, "priority", 0, 2, &v))
			return bad("keyslot", id, "invalid priority");
		k->priority = (int)v;
	}
	if (strcmp(type, "reencrypt") == 0) {
		k->kind = LUKS_KEYSLOT_REENCRYPT;
		return parse_reenc(ks, k, id);
	}
	if (strcmp(type, "luks2") != 0) {
		k->kind = LUKS_KEYSLOT_UNKNOWN;
		/* Keep it; use its area (if any) for overlap checks. */
		if (get_obj(ks, "area", json_type_object))
			return parse_area(ks, k, id, false);
		return 0;
	}
	k->kind = LUKS_KEYSLOT_LUKS2;
	if (!get_int(ks, "key_size", 1, LUKS_KEY_MAX, &v))
		return bad("keyslot", id, "key_size missing or out of range");
	k->key_size = (size_t)v;
	af = get_obj(ks, "af", json_type_object);
	if (!af || !get_str(af, "type") || strcmp(get_str(af, "type"), "luks1") != 0)
		return bad("keyslot", id, "af missing or not of type luks1");
	if (!get_int(af, "stripes", 1, LUKS_STRIPES_MAX, &v))
		return bad("keyslot", id, "af stripes missing or out of range");
	k->stripes = (uint32_t)v;
	if (!copy_str(k->af_hash, sizeof(k->af_hash), get_str(af, "hash")))
		return bad("keyslot", id, "af hash missing");
	if ((r = parse_area(ks, k, id, true)) < 0)
		return r;
	kdf = get_obj(ks, "kdf", json_type_object);
	if (!kdf)
		return bad("keyslot", id, "kdf missing");
	return parse_kdf(kdf, k, id);
}

static int parse_digest(json_object *dg, struct luks_digest *d, const char *id)
{
	const char *type = get_str(dg, "type");
	int64_t v;
	int n;

	if (!json_object_is_type(dg, json_type_object) || !type)
		return bad("digest", id, "not an object with a type");
	if (strcmp(type, "pbkdf2") != 0) {
		log_err("LUKS2 header: digest %s: unsupported type '%s'", id, type);
		return VMC_ENOTSUP;
	}
	if (!luks2_json_get_id_mask(dg, "keyslots", LUKS_MAX_KEYSLOTS, &d->keyslots) ||
	    !luks2_json_get_id_mask(dg, "segments", LUKS_MAX_SEGMENTS, &d->segments))
		return bad("digest", id, "keyslots or segments list missing or invalid");
	if (!copy_str(d->hash, sizeof(d->hash), get_str(dg, "hash")))
		return bad("digest", id, "hash missing");
	if (!get_int(dg, "iterations", 1, KDF_MAX_ITERATIONS, &v))
		return bad("digest", id, "iterations missing or out of range");
	d->iterations = (uint32_t)v;
	n = base64_decode(get_str(dg, "salt") ? get_str(dg, "salt") : "", d->salt, sizeof(d->salt));
	if (n <= 0)
		return bad("digest", id, "salt missing or invalid");
	d->salt_len = (size_t)n;
	n = base64_decode(get_str(dg, "digest") ? get_str(dg, "digest") : "", d->value,
			  sizeof(d->value));
	if (n <= 0)
		return bad("digest", id, "digest value missing or invalid");
	d->value_len = (size_t)n;
	d->used = true;
	return 0;
}

static int parse_segment(json_object *sg, struct luks_segment *s, const char *id)
{
	const char *type = get_str(sg, "type");
	const char *size = get_str(sg, "size");
	json_object *flags;
	int64_t v;

	if (!json_object_is_type(sg, json_type_object) || !type)
		return bad("segment", id, "not an object with a type");
	if (!get_u64(sg, "offset", &s->offset))
		return bad("segment", id, "offset missing or invalid");
	if (size && strcmp(size, "dynamic") == 0)
		s->dynamic = true;
	else if (!parse_u64(size, &s->size))
		return bad("segment", id, "size missing or invalid");
	flags = get_obj(sg, "flags", json_type_array);
	if (!flags && json_object_object_get_ex(sg, "flags", NULL))
		return bad("segment", id, "flags must be an array of strings");
	for (size_t i = 0; flags && i < json_object_array_length(flags); i++)
		if (!json_object_is_type(json_object_array_get_idx(flags, i), json_type_string))
			return bad("segment", id, "flags must be strings");
	if (flags && json_object_array_length(flags) > 0) {
		json_object *f = json_object_array_get_idx(flags, 0);
		snprintf(s->flag, sizeof(s->flag), "%s", json_object_get_string(f));
		s->backup = strncmp(s->flag, "backup-", 7) == 0;
	}
	if (strcmp(type, "linear") == 0) {
		s->kind = LUKS_SEGMENT_LINEAR;
		return 0;
	}
	if (strcmp(type, "crypt") != 0) {
		log_err("LUKS2 header: segment %s: unsupported type '%s'", id, type);
		return VMC_ENOTSUP;
	}
	s->kind = LUKS_SEGMENT_CRYPT;
	if (!get_u64(sg, "iv_tweak", &s->iv_tweak))
		return bad("segment", id, "iv_tweak missing or invalid");
	if (!copy_str(s->cipher, sizeof(s->cipher), get_str(sg, "encryption")))
		return bad("segment", id, "encryption missing");
	if (!get_int(sg, "sector_size", 512, 4096, &v) || !is_power_of_2((uint64_t)v))
		return bad("segment", id, "sector_size must be 512, 1024, 2048 or 4096");
	s->sector_size = (uint32_t)v;
	if (json_object_object_get_ex(sg, "integrity", NULL)) {
		log_err("LUKS2 header: segment %s: authenticated encryption (integrity) is not "
			"supported",
			id);
		return VMC_ENOTSUP;
	}
	if (!s->dynamic && s->size % s->sector_size)
		return bad("segment", id, "size is not a multiple of the sector size");
	if (s->offset % LUKS_SECTOR)
		return bad("segment", id, "offset is not sector aligned");
	return 0;
}

static int parse_config(json_object *config, uint64_t hdr_size, struct luks_meta *m)
{
	json_object *req, *mand;
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
	if (m->keyslots_size % 4096 || m->keyslots_size > (1ull << 40)) {
		log_err("LUKS2 header: config keyslots_size %" PRIu64 " is invalid",
			m->keyslots_size);
		return VMC_ECORRUPT;
	}
	if (json_object_object_get_ex(config, "flags", NULL) &&
	    !get_obj(config, "flags", json_type_array)) {
		log_err("LUKS2 header: config flags must be an array");
		return VMC_ECORRUPT;
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

/* Regular (non-backup) segments cover distinct bytes, as cryptsetup requires. */
static int check_segment_overlaps(const struct luks_meta *m)
{
	for (int i = 0; i < LUKS_MAX_SEGMENTS; i++) {
		const struct luks_segment *s = &m->segments[i];
		if (s->kind == LUKS_SEGMENT_UNUSED || s->backup)
			continue;
		for (int j = 0; j < i; j++) {
			const struct luks_segment *o = &m->segments[j];
			if (o->kind == LUKS_SEGMENT_UNUSED || o->backup)
				continue;
			if (s->offset < segment_end(o) && o->offset < segment_end(s)) {
				log_err("LUKS2 header: segments %d and %d overlap", j, i);
				return VMC_ECORRUPT;
			}
		}
	}
	return 0;
}

/*
 * Key sizes against the ciphers that use them: a known cipher with a key it
 * cannot take is a damaged header (else it surfaces later as a bad argument).
 */
static int check_key_sizes(const struct luks_meta *m)
{
	for (int i = 0; i < LUKS_MAX_KEYSLOTS; i++) {
		const struct luks_keyslot *k = &m->keyslots[i];
		if (k->kind == LUKS_KEYSLOT_LUKS2 &&
		    cipher_key_size_invalid(k->area_cipher, k->area_key_size)) {
			log_err("LUKS2 header: keyslot %d: a %zu-byte key does not fit its area "
				"cipher %s",
				i, k->area_key_size, k->area_cipher);
			return VMC_ECORRUPT;
		}
	}
	for (int d = 0; d < LUKS_MAX_DIGESTS; d++) {
		if (!m->digests[d].used)
			continue;
		for (int i = 0; i < LUKS_MAX_KEYSLOTS; i++) {
			const struct luks_keyslot *k = &m->keyslots[i];
			if (!(m->digests[d].keyslots & (1ull << i)) ||
			    k->kind != LUKS_KEYSLOT_LUKS2)
				continue;
			for (int s = 0; s < LUKS_MAX_SEGMENTS; s++) {
				const struct luks_segment *g = &m->segments[s];
				if (!(m->digests[d].segments & (1ull << s)) ||
				    g->kind != LUKS_SEGMENT_CRYPT ||
				    !cipher_key_size_invalid(g->cipher, k->key_size))
					continue;
				log_err("LUKS2 header: keyslot %d: a %zu-byte key does not fit the "
					"cipher %s of segment %d",
					i, k->key_size, g->cipher, s);
				return VMC_ECORRUPT;
			}
		}
	}
	return 0;
}

/*
 * Cross-reference checks: areas inside the keyslots area, no overlaps, digests link real objects,
 * no keyslot in two digests. Reads the model only (bind_digests records the links).
 */
static int check_layout(const struct luks_meta *m, uint64_t hdr_size)
{
	uint64_t ks_start = 2 * hdr_size, ks_end = ks_start + m->keyslots_size;
	uint64_t bound = 0; /* keyslots listed by the digests checked so far */

	for (int i = 0; i < LUKS_MAX_KEYSLOTS; i++) {
		const struct luks_keyslot *k = &m->keyslots[i];
		uint64_t end;

		if (k->kind == LUKS_KEYSLOT_UNUSED || (!k->area_size && !k->area_offset))
			continue;
		if (!add_u64(k->area_offset, k->area_size, &end) || k->area_offset < ks_start ||
		    end > ks_end) {
			log_err("LUKS2 header: keyslot %d: area [%" PRIu64 ", %" PRIu64
				") is outside the keyslots area",
				i, k->area_offset, end);
			return VMC_ECORRUPT;
		}
		if (k->kind == LUKS_KEYSLOT_LUKS2) {
			uint64_t need = af_split_sectors_bytes(k->key_size, k->stripes);
			if (need == 0 || need > k->area_size) {
				log_err("LUKS2 header: keyslot %d: area too small for its key "
					"material",
					i);
				return VMC_ECORRUPT;
			}
		}
		for (int j = 0; j < i; j++) {
			const struct luks_keyslot *o = &m->keyslots[j];
			if (o->kind == LUKS_KEYSLOT_UNUSED)
				continue;
			if (ranges_overlap(k->area_offset, k->area_size, o->area_offset,
					   o->area_size)) {
				log_err("LUKS2 header: keyslots %d and %d overlap", j, i);
				return VMC_ECORRUPT;
			}
		}
	}
	{
		/*
		 * The metadata must end before the lowest regular segment. A lowest
		 * offset of 0 means a detached header: the data is in another file.
		 */
		uint64_t lowest = UINT64_MAX;
		int at = -1;
		for (int i = 0; i < LUKS_MAX_SEGMENTS; i++) {
			const struct luks_segment *s = &m->segments[i];
			if (s->kind != LUKS_SEGMENT_UNUSED && !s->backup && s->offset < lowest) {
				lowest = s->offset;
				at = i;
			}
		}
		if (at >= 0 && lowest && lowest < ks_end) {
			log_err("LUKS2 header: segment %d: offset %" PRIu64
				" overlaps the metadata or keyslots area",
				at, lowest);
			return VMC_ECORRUPT;
		}
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
			if (bound & (1ull << k)) {
				log_err("LUKS2 header: keyslot %d is bound to two digests", k);
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
	return 0;
}

/* Records in each keyslot the digest that lists it (check_layout made it unique). */
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

int luks2_json_to_meta(const struct luks2_json *j, uint64_t hdr_size, struct luks_meta *m)
{
	json_object *keyslots, *digests, *segments, *tokens, *config;
	int r;

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
	if ((r = check_layout(m, hdr_size)) < 0)
		return r;
	bind_digests(m);
	if ((r = check_segment_overlaps(m)) < 0)
		return r;
	return check_key_sizes(m);
}
