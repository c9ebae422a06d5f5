/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Keyslot management and header commits for LUKS1 and LUKS2. */
#ifndef VMC_FORMAT_MANAGE_H
#define VMC_FORMAT_MANAGE_H

#include "format/meta.h"
#include "io/storage.h"

/*
 * Writes the model to the header device: LUKS2 through the JSON tree (which is
 * re-validated first) and the two-copy protocol of luks2_hdr_store(); LUKS1 as
 * one aligned 4 KiB block write followed by a sync.
 */
int luks_meta_commit(struct storage *hdr, struct luks_meta *m);

/* Overwrites [offset, offset + size) with random bytes and syncs. */
int luks_wipe_area(struct storage *hdr, uint64_t offset, uint64_t size);

/*
 * Adds a keyslot (slot < 0: the first free one) holding vk behind pass, with
 * planned KDF parameters, verified by digest (-1: the data segment's digest).
 * Material first, header second. *ret_slot may be NULL.
 */
int luks_keyslot_add(struct storage *hdr, struct luks_meta *m, int slot, int digest,
		     const struct kdf_params *kdf, const void *pass, size_t pass_len,
		     const uint8_t *vk, size_t vk_len, int *ret_slot);

/*
 * Replaces slot's passphrase: new material in a fresh area, one header commit
 * that switches to it (LUKS2: same slot id; LUKS1: another free slot), then the
 * old area is wiped. *ret_slot receives the slot now holding the passphrase.
 */
int luks_keyslot_change(struct storage *hdr, struct luks_meta *m, int slot,
			const struct kdf_params *kdf, const void *pass, size_t pass_len,
			const uint8_t *vk, size_t vk_len, int *ret_slot);

/* Removes slot from the header, then wipes its area. */
int luks_keyslot_kill(struct storage *hdr, struct luks_meta *m, int slot);

/* Removes every passphrase keyslot in one commit, then wipes their areas. */
int luks_erase(struct storage *hdr, struct luks_meta *m);

/* The first free LUKS2 keyslot area of len bytes, or -ENOSPC. */
int luks2_find_area(const struct luks_meta *m, uint64_t len, uint64_t *ret_off);
/* The largest free stretch of the LUKS2 keyslots area (4 KiB multiples), or -ENOSPC. */
int luks2_largest_gap(const struct luks_meta *m, uint64_t *ret_off, uint64_t *ret_size);

#endif
