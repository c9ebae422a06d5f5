/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Keyslots and digests: derive, decrypt the AF material, merge, verify - and the reverse. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/keyslot.h"
#include "base/log.h"
#include "base/util.h"

int luks_digest_verify(const struct luks_digest *d, const uint8_t *vk, size_t vk_len)
{
	struct kdf_params p = {.type = KDF_PBKDF2, .iterations = d->iterations};
	uint8_t *out = NULL;
	int r;

	snprintf(p.hash, sizeof(p.hash), "%s", d->hash);
	out = secmem_alloc(d->value_len);
	if (!out)
		return -ENOMEM;
	r = kdf_derive(&p, vk, vk_len, d->salt, d->salt_len, out, d->value_len);
	if (r < 0)
		goto out;
	r = crypto_memeq(out, d->value, d->value_len) ? 1 : 0;
out:
	secmem_free(out);
	return r;
}

/*
 * Why the length: a digest is PBKDF2-HMAC(vk), and HMAC pads a key shorter
 * than the hash block with zeros, so vk and vk || 00 give the same digest.
 * Without this check a key of the wrong length could pass (cryptsetup 2.8.7
 * fixed the same hole) and then key a cipher of the wrong size.
 */
int luks_volume_key_verify(const struct luks_meta *m, int digest, const uint8_t *vk, size_t vk_len)
{
	if (digest < 0 || digest >= LUKS_MAX_DIGESTS || !m->digests[digest].used)
		return -EINVAL;
	if (m->version == 1 && vk_len != m->key_size)
		return 0;
	for (int i = 0; i < LUKS_MAX_KEYSLOTS; i++) {
		const struct luks_keyslot *k = &m->keyslots[i];

		if (m->version != 1 && k->kind == LUKS_KEYSLOT_LUKS2 &&
		    (m->digests[digest].keyslots & (1ull << i)) && k->key_size != vk_len)
			return 0;
	}
	return luks_digest_verify(&m->digests[digest], vk, vk_len);
}

int luks_digest_make(struct luks_digest *d, const char *hash, uint32_t iterations, size_t salt_len,
		     size_t value_len, const uint8_t *vk, size_t vk_len)
{
	struct kdf_params p = {.type = KDF_PBKDF2, .iterations = iterations};
	int r;

	if (salt_len > sizeof(d->salt) || value_len > sizeof(d->value))
		return -EINVAL;
	snprintf(p.hash, sizeof(p.hash), "%s", hash);
	snprintf(d->hash, sizeof(d->hash), "%s", hash);
	d->iterations = iterations;
	d->salt_len = salt_len;
	d->value_len = value_len;
	r = crypto_random(d->salt, salt_len);
	if (r < 0)
		return r;
	r = kdf_derive(&p, vk, vk_len, d->salt, salt_len, d->value, value_len);
	if (r == 0)
		d->used = true;
	return r;
}

/* Runs the keyslot's KDF and builds the area cipher with the derived key. */
static int area_cipher(const struct luks_keyslot *k, const void *pass, size_t pass_len,
		       struct sector_cipher **ret_c)
{
	uint8_t *key = secmem_alloc(k->area_key_size);
	int r;

	if (!key)
		return -ENOMEM;
	r = kdf_derive(&k->kdf, pass, pass_len, k->salt, k->salt_len, key, k->area_key_size);
	if (r == VMC_ENOTSUP)
		log_err("keyslot PBKDF2 hash '%s' is not supported", k->kdf.hash);
	if (r < 0)
		goto out;
	r = sector_cipher_new(k->area_cipher, key, k->area_key_size, LUKS_SECTOR, ret_c);
	if (r == VMC_ENOTSUP)
		log_err("keyslot area cipher '%s' with a %zu-bit key is not supported%s",
			k->area_cipher, k->area_key_size * 8, sector_cipher_why(k->area_cipher));
out:
	secmem_free(key);
	return r;
}

int luks_keyslot_open(const struct luks_meta *m, struct storage *hdr, int slot, const void *pass,
		      size_t pass_len, uint8_t **ret_vk)
{
	const struct luks_keyslot *k;
	struct sector_cipher *c = NULL;
	uint8_t *material = NULL, *vk = NULL;
	uint64_t mlen;
	int r;

	if (slot < 0 || slot >= LUKS_MAX_KEYSLOTS)
		return -EINVAL;
	k = &m->keyslots[slot];
	if (k->kind != LUKS_KEYSLOT_LUKS2 || k->digest < 0)
		return -ENOENT;
	/* Defects cryptsetup too finds only when it opens the slot (the header is valid). */
	if (k->defect) {
		log_err("keyslot %d: %s", slot, k->defect_why);
		return k->defect;
	}
	if (m->digests[k->digest].defect) {
		log_err("digest %d: %s", k->digest, m->digests[k->digest].defect_why);
		return m->digests[k->digest].defect;
	}
	/*
	 * The key material as cryptsetup reads it: key_size * stripes from the
	 * area's offset. Its declared size bounds what vmcrypt writes, not what it
	 * reads (a read past it reads other header bytes, which cannot verify).
	 */
	mlen = af_split_sectors_bytes(k->key_size, k->stripes);
	if (mlen == 0 || mlen > SIZE_MAX)
		return VMC_ECORRUPT;
	material = secmem_alloc((size_t)mlen);
	vk = secmem_alloc(k->key_size);
	if (!material || !vk) {
		r = -ENOMEM;
		goto out;
	}
	r = storage_read(hdr, material, (size_t)mlen, k->area_offset);
	if (r < 0) {
		log_err("keyslot %d: cannot read key material: %s", slot,
			r == -ENODATA ? "image truncated" : strerror(-r));
		r = r == -ENODATA ? VMC_ECORRUPT : r;
		goto out;
	}
	r = area_cipher(k, pass, pass_len, &c);
	if (r < 0)
		goto out;
	r = sector_cipher_decrypt(c, material, material, (size_t)mlen, 0);
	if (r < 0)
		goto out;
	r = af_merge(material, vk, k->key_size, k->stripes, k->af_hash);
	if (r == VMC_ENOTSUP)
		log_err("keyslot %d: anti-forensic hash '%s' is not supported", slot, k->af_hash);
	if (r < 0)
		goto out;
	r = luks_volume_key_verify(m, k->digest, vk, k->key_size);
	if (r == VMC_ENOTSUP)
		log_err("keyslot %d: digest hash '%s' is not supported", slot,
			m->digests[k->digest].hash);
	if (r < 0)
		goto out;
	if (r == 0) {
		r = VMC_EPASS;
		goto out;
	}
	*ret_vk = vk;
	vk = NULL;
	r = 0;
out:
	sector_cipher_free(c);
	secmem_free(material);
	secmem_free(vk);
	return r;
}

int luks_keyslot_open_any(const struct luks_meta *m, struct storage *hdr, int slot,
			  const void *pass, size_t pass_len, uint8_t **ret_vk, int *ret_slot)
{
	int r, tried = 0;

	if (slot >= 0) {
		if (slot >= luks_meta_max_keyslots(m) ||
		    m->keyslots[slot].kind != LUKS_KEYSLOT_LUKS2) {
			log_err("keyslot %d is not active", slot);
			return -ENOENT;
		}
		r = luks_keyslot_open(m, hdr, slot, pass, pass_len, ret_vk);
		if (r == 0 && ret_slot)
			*ret_slot = slot;
		if (r == VMC_EPASS)
			log_err("no key available with this passphrase in keyslot %d", slot);
		return r;
	}
	/* High priority slots first, then normal ones; priority 0 only when asked for. */
	for (int prio = 2; prio >= 1; prio--) {
		for (int i = 0; i < luks_meta_max_keyslots(m); i++) {
			const struct luks_keyslot *k = &m->keyslots[i];
			/* An unbound key (no segment, e.g. a rekey never started) is not the
			 * data's. */
			if (k->kind != LUKS_KEYSLOT_LUKS2 || k->priority != prio ||
			    (k->digest >= 0 && !m->digests[k->digest].segments))
				continue;
			tried++;
			r = luks_keyslot_open(m, hdr, i, pass, pass_len, ret_vk);
			if (r == VMC_EPASS)
				continue;
			if (r == 0 && ret_slot)
				*ret_slot = i;
			if (r == -ENOENT)
				continue;
			return r;
		}
	}
	if (!tried) {
		log_err("the image has no active keyslot");
		return -ENOENT;
	}
	log_err("no key available with this passphrase");
	return VMC_EPASS;
}

int luks_keyslot_store(struct storage *hdr, struct luks_keyslot *k, size_t salt_len,
		       const void *pass, size_t pass_len, const uint8_t *vk)
{
	struct sector_cipher *c = NULL;
	uint8_t *material = NULL;
	uint64_t mlen = af_split_sectors_bytes(k->key_size, k->stripes);
	int r;

	if (mlen == 0 || mlen > k->area_size || mlen > SIZE_MAX || salt_len > sizeof(k->salt))
		return -EINVAL;
	k->salt_len = salt_len;
	r = crypto_random(k->salt, salt_len);
	if (r < 0)
		return r;
	material = secmem_alloc((size_t)mlen);
	if (!material)
		return -ENOMEM;
	r = af_split(vk, material, k->key_size, k->stripes, k->af_hash);
	if (r < 0)
		goto out;
	r = area_cipher(k, pass, pass_len, &c);
	if (r < 0)
		goto out;
	r = sector_cipher_encrypt(c, material, material, (size_t)mlen, 0);
	if (r < 0)
		goto out;
	r = storage_write(hdr, material, (size_t)mlen, k->area_offset);
	if (r < 0)
		goto out;
	r = storage_sync(hdr);
out:
	sector_cipher_free(c);
	secmem_free(material);
	return r;
}
