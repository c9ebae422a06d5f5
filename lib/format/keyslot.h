/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Keyslots and digests: unwrap and wrap the volume key (KDF, AF splitter, area cipher). */
#ifndef VMC_FORMAT_KEYSLOT_H
#define VMC_FORMAT_KEYSLOT_H

#include "format/meta.h"
#include "io/storage.h"

/*
 * 1 when the message vk matches digest d (constant-time compare), 0 when not;
 * other errors < 0. For volume keys use luks_volume_key_verify(), which also
 * checks the length: this one alone serves the re-encryption digest.
 */
int luks_digest_verify(const struct luks_digest *d, const uint8_t *vk, size_t vk_len);

/*
 * 1 when vk is the volume key of digest number digest of m: its length is the
 * key size the header gives for that digest (LUKS1 key_bytes; LUKS2 the
 * key_size of every keyslot the digest covers) and PBKDF2 of it matches. 0
 * otherwise; errors < 0.
 */
int luks_volume_key_verify(const struct luks_meta *m, int digest, const uint8_t *vk, size_t vk_len);

/*
 * Fills d (hash, iterations, a fresh salt of salt_len bytes, value of value_len
 * bytes) for vk. Masks are left to the caller.
 */
int luks_digest_make(struct luks_digest *d, const char *hash, uint32_t iterations, size_t salt_len,
		     size_t value_len, const uint8_t *vk, size_t vk_len);

/*
 * Unwraps the volume key from keyslot slot of m (area read from hdr) with pass.
 * On success *ret_vk is a secmem block of the slot's key size. VMC_EPASS when
 * the derived key does not match the slot's digest.
 */
int luks_keyslot_open(const struct luks_meta *m, struct storage *hdr, int slot, const void *pass,
		      size_t pass_len, uint8_t **ret_vk);

/*
 * Tries the active keyslots (slot < 0: all, high priority first, priority 0
 * skipped) and returns the volume key and the slot that opened.
 */
int luks_keyslot_open_any(const struct luks_meta *m, struct storage *hdr, int slot,
			  const void *pass, size_t pass_len, uint8_t **ret_vk, int *ret_slot);

/*
 * Wraps vk into keyslot k: k's kdf parameters, stripes, af_hash, area offset,
 * area cipher and key sizes must be set; a fresh salt (salt_len bytes) is
 * generated, the key material written to the area in hdr and synced. The
 * header itself is not written (the caller commits it afterwards).
 */
int luks_keyslot_store(struct storage *hdr, struct luks_keyslot *k, size_t salt_len,
		       const void *pass, size_t pass_len, const uint8_t *vk);

#endif
