/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* LUKS1: explicit (de)serialisation of the 592-byte header with staged validation. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "format/cipher_name.h"
#include "format/luks1.h"
#include "base/log.h"
#include "base/util.h"

/* Field offsets of the LUKS1 header (LUKS On-Disk Format Specification 1.2.3). */
#define L1_MAGIC	  0
#define L1_VERSION	  6
#define L1_CIPHER_NAME	  8
#define L1_CIPHER_MODE	  40
#define L1_HASH_SPEC	  72
#define L1_PAYLOAD_OFFSET 104
#define L1_KEY_BYTES	  108
#define L1_MK_DIGEST	  112
#define L1_MK_SALT	  132
#define L1_MK_ITER	  164
#define L1_UUID		  168
#define L1_KEYSLOTS	  208
#define L1_KS_LEN	  48
#define L1_KS_ACTIVE	  0
#define L1_KS_ITER	  4
#define L1_KS_SALT	  8
#define L1_KS_OFFSET	  40
#define L1_KS_STRIPES	  44

_Static_assert(L1_KEYSLOTS + LUKS1_NUM_KEYSLOTS * L1_KS_LEN == LUKS1_HDR_LEN, "LUKS1 size");
_Static_assert(sizeof(((struct luks_meta *)0)->raw1) == LUKS1_HDR_LEN, "raw LUKS1 copy");

static const uint8_t luks1_magic[6] = {'L', 'U', 'K', 'S', 0xba, 0xbe};

/* A string field of len bytes; its last byte is ignored, as cryptsetup ignores it. */
static void get_str(const uint8_t *buf, size_t off, size_t len, char *dst, size_t dst_len)
{
	copy_fixed_str(dst, dst_len < len ? dst_len : len, buf + off, len - 1);
}

uint32_t luks1_layout(size_t key_size, uint32_t stripes, uint32_t *ret_slot_sectors)
{
	uint64_t af = af_split_sectors_bytes(key_size, stripes) / LUKS_SECTOR;
	uint32_t slot = (uint32_t)round_up_u64(af, 8);
	uint32_t end = 8 + LUKS1_NUM_KEYSLOTS * slot;

	if (ret_slot_sectors)
		*ret_slot_sectors = slot;
	return (uint32_t)round_up_u64(end, 4096);
}

/*
 * The keyslot table as cryptsetup checks it, every slot, active or not: 4000
 * stripes, key material after the header, before the payload (unless it is 0,
 * a detached header) and not overlapping the next slot's, in offset order.
 */
static int check_slots(const uint8_t *buf, uint32_t key_bytes, uint32_t payload, uint64_t dev_size)
{
	uint32_t secs = (uint32_t)(af_split_sectors_bytes(key_bytes, LUKS1_STRIPES) / LUKS_SECTOR);
	uint32_t off[LUKS1_NUM_KEYSLOTS];
	int order[LUKS1_NUM_KEYSLOTS];

	for (int i = 0; i < LUKS1_NUM_KEYSLOTS; i++) {
		const uint8_t *ks = buf + L1_KEYSLOTS + i * L1_KS_LEN;
		uint32_t stripes = load_be32(ks + L1_KS_STRIPES);

		off[i] = load_be32(ks + L1_KS_OFFSET);
		order[i] = i;
		if (stripes != LUKS1_STRIPES) {
			log_err("LUKS1 header: keyslot %d: %u stripes, not %u", i, stripes,
				LUKS1_STRIPES);
			return VMC_ECORRUPT;
		}
		if ((uint64_t)off[i] * LUKS_SECTOR < LUKS1_HDR_LEN) {
			log_err("LUKS1 header: keyslot %d: key material at sector %u overlaps the "
				"header",
				i, off[i]);
			return VMC_ECORRUPT;
		}
		if (payload && (uint64_t)off[i] + secs > payload) {
			log_err("LUKS1 header: keyslot %d: key material at sector %u reaches past "
				"the payload at sector %u",
				i, off[i], payload);
			return VMC_ECORRUPT;
		}
	}
	for (int i = 1; i < LUKS1_NUM_KEYSLOTS; i++)
		for (int j = i; j > 0 && off[order[j]] < off[order[j - 1]]; j--) {
			int t = order[j];
			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	for (int i = 1; i < LUKS1_NUM_KEYSLOTS; i++) {
		if ((uint64_t)off[order[i - 1]] + secs > off[order[i]]) {
			log_err("LUKS1 header: keyslot %d: key material overlaps keyslot %d",
				order[i - 1], order[i]);
			return VMC_ECORRUPT;
		}
	}
	if (dev_size &&
	    ((uint64_t)off[order[LUKS1_NUM_KEYSLOTS - 1]] + secs) * LUKS_SECTOR > dev_size) {
		log_err("LUKS1 header: the image is truncated: the keyslots need %llu bytes, it "
			"has %llu",
			(unsigned long long)(off[order[LUKS1_NUM_KEYSLOTS - 1]] + secs) *
			    LUKS_SECTOR,
			(unsigned long long)dev_size);
		return VMC_ECORRUPT;
	}
	return 0;
}

int luks1_parse(const uint8_t *buf, size_t len, uint64_t dev_size, struct luks_meta *m)
{
	char cipher[32], mode[32];
	uint32_t key_bytes, payload, mk_iter;
	int r;

	if (len < LUKS1_HDR_LEN || memcmp(buf + L1_MAGIC, luks1_magic, 6) != 0)
		return VMC_ENOTLUKS;
	if (load_be16(buf + L1_VERSION) != 1)
		return VMC_ENOTLUKS;

	memset(m, 0, sizeof(*m));
	m->version = 1;
	memcpy(m->raw1, buf, LUKS1_HDR_LEN);
	m->have_raw1 = true;
	get_str(buf, L1_CIPHER_NAME, 32, cipher, sizeof(cipher));
	get_str(buf, L1_CIPHER_MODE, 32, mode, sizeof(mode));
	get_str(buf, L1_HASH_SPEC, 32, m->hash, sizeof(m->hash));
	get_str(buf, L1_UUID, 40, m->uuid, sizeof(m->uuid));
	snprintf(m->cipher, sizeof(m->cipher), "%s-%s", cipher, mode);

	key_bytes = load_be32(buf + L1_KEY_BYTES);
	payload = load_be32(buf + L1_PAYLOAD_OFFSET);
	mk_iter = load_be32(buf + L1_MK_ITER);
	if (key_bytes == 0 || key_bytes > LUKS_KEY_MAX) {
		log_err("LUKS1 header: invalid key size %u bytes", key_bytes);
		return VMC_ECORRUPT;
	}
	if (crypto_hash_len(m->hash) < 0) {
		log_err("LUKS1 header: unsupported hash '%s'", m->hash);
		return VMC_ENOTSUP;
	}
	if ((r = check_slots(buf, key_bytes, payload, dev_size)) < 0)
		return r;
	m->key_size = key_bytes;
	m->payload_offset = payload;

	/* Digest 0 covers every keyslot and segment 0. */
	m->digests[0].used = true;
	snprintf(m->digests[0].hash, sizeof(m->digests[0].hash), "%s", m->hash);
	m->digests[0].iterations = mk_iter;
	memcpy(m->digests[0].salt, buf + L1_MK_SALT, LUKS1_SALT_LEN);
	m->digests[0].salt_len = LUKS1_SALT_LEN;
	memcpy(m->digests[0].value, buf + L1_MK_DIGEST, LUKS1_DIGEST_LEN);
	m->digests[0].value_len = LUKS1_DIGEST_LEN;
	m->digests[0].segments = 1;
	if (mk_iter == 0)
		snprintf(m->digests[0].defect_why, sizeof(m->digests[0].defect_why),
			 "master key digest iteration count 0");
	m->digests[0].defect = mk_iter == 0 ? VMC_ECORRUPT : 0;

	m->segments[0].kind = LUKS_SEGMENT_CRYPT;
	m->segments[0].offset = (uint64_t)payload * LUKS_SECTOR;
	m->segments[0].dynamic = true;
	m->segments[0].sector_size = LUKS_SECTOR;
	snprintf(m->segments[0].cipher, sizeof(m->segments[0].cipher), "%s", m->cipher);

	for (int i = 0; i < LUKS1_NUM_KEYSLOTS; i++) {
		const uint8_t *ks = buf + L1_KEYSLOTS + i * L1_KS_LEN;
		struct luks_keyslot *k = &m->keyslots[i];
		uint32_t active = load_be32(ks + L1_KS_ACTIVE);
		uint32_t offset = load_be32(ks + L1_KS_OFFSET);
		uint32_t stripes = load_be32(ks + L1_KS_STRIPES);

		if (active != LUKS1_KEY_ENABLED) {
			/*
			 * Disabled, or a state that is neither (cryptsetup calls such a
			 * slot invalid and never opens it): remember where its area is,
			 * to write it back as found.
			 */
			k->area_offset = (uint64_t)offset * LUKS_SECTOR;
			k->stripes = stripes;
			continue;
		}
		k->kind = LUKS_KEYSLOT_LUKS2;
		k->priority = 1;
		k->key_size = key_bytes;
		k->kdf.type = KDF_PBKDF2;
		snprintf(k->kdf.hash, sizeof(k->kdf.hash), "%s", m->hash);
		k->kdf.iterations = load_be32(ks + L1_KS_ITER);
		memcpy(k->salt, ks + L1_KS_SALT, LUKS1_SALT_LEN);
		k->salt_len = LUKS1_SALT_LEN;
		snprintf(k->af_hash, sizeof(k->af_hash), "%s", m->hash);
		k->stripes = stripes;
		k->area_offset = (uint64_t)offset * LUKS_SECTOR;
		k->area_size = af_split_sectors_bytes(key_bytes, stripes);
		snprintf(k->area_cipher, sizeof(k->area_cipher), "%s", m->cipher);
		k->area_key_size = key_bytes;
		k->digest = 0;
		m->digests[0].keyslots |= 1ull << i;
		/* Found when the slot is opened, as cryptsetup finds them. */
		if (k->kdf.iterations == 0) {
			k->defect = VMC_ECORRUPT;
			snprintf(k->defect_why, sizeof(k->defect_why), "iteration count 0");
		} else if (cipher_key_size_invalid(m->cipher, key_bytes)) {
			k->defect = VMC_ECORRUPT;
			snprintf(k->defect_why, sizeof(k->defect_why),
				 "a %u-byte key does not fit cipher %s", key_bytes, m->cipher);
		}
	}
	return 0;
}

int luks1_serialize(const struct luks_meta *m, uint8_t *buf)
{
	char cipher[32], mode[32];
	const struct luks_digest *d = &m->digests[0];

	if (m->version != 1 || d->salt_len != LUKS1_SALT_LEN || d->value_len != LUKS1_DIGEST_LEN)
		return -EINVAL;
	if (cipher_spec_split(m->cipher, cipher, sizeof(cipher), mode, sizeof(mode)) < 0)
		return -EINVAL;
	if (strlen(m->hash) >= 32 || strlen(m->uuid) >= 40)
		return -EINVAL;

	memset(buf, 0, LUKS1_HDR_LEN);
	memcpy(buf + L1_MAGIC, luks1_magic, 6);
	store_be16(buf + L1_VERSION, 1);
	memcpy(buf + L1_CIPHER_NAME, cipher, strlen(cipher));
	memcpy(buf + L1_CIPHER_MODE, mode, strlen(mode));
	memcpy(buf + L1_HASH_SPEC, m->hash, strlen(m->hash));
	store_be32(buf + L1_PAYLOAD_OFFSET, m->payload_offset);
	store_be32(buf + L1_KEY_BYTES, (uint32_t)m->key_size);
	memcpy(buf + L1_MK_DIGEST, d->value, LUKS1_DIGEST_LEN);
	memcpy(buf + L1_MK_SALT, d->salt, LUKS1_SALT_LEN);
	store_be32(buf + L1_MK_ITER, d->iterations);
	memcpy(buf + L1_UUID, m->uuid, strlen(m->uuid));

	for (int i = 0; i < LUKS1_NUM_KEYSLOTS; i++) {
		uint8_t *ks = buf + L1_KEYSLOTS + i * L1_KS_LEN;
		const struct luks_keyslot *k = &m->keyslots[i];
		uint32_t slot_sectors;

		if (k->kind != LUKS_KEYSLOT_LUKS2) {
			/*
			 * An unused slot keeps cryptsetup's layout so that a later
			 * add-key (by either tool) finds its area.
			 */
			luks1_layout(m->key_size, LUKS1_STRIPES, &slot_sectors);
			store_be32(ks + L1_KS_ACTIVE, LUKS1_KEY_DISABLED);
			store_be32(ks + L1_KS_OFFSET, k->area_offset
							  ? (uint32_t)(k->area_offset / LUKS_SECTOR)
							  : 8 + (uint32_t)i * slot_sectors);
			store_be32(ks + L1_KS_STRIPES, k->stripes ? k->stripes : LUKS1_STRIPES);
			continue;
		}
		if (k->salt_len != LUKS1_SALT_LEN || k->area_offset % LUKS_SECTOR)
			return -EINVAL;
		store_be32(ks + L1_KS_ACTIVE, LUKS1_KEY_ENABLED);
		store_be32(ks + L1_KS_ITER, k->kdf.iterations);
		memcpy(ks + L1_KS_SALT, k->salt, LUKS1_SALT_LEN);
		store_be32(ks + L1_KS_OFFSET, (uint32_t)(k->area_offset / LUKS_SECTOR));
		store_be32(ks + L1_KS_STRIPES, k->stripes);
	}
	return 0;
}
