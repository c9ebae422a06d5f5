/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Keyslot management and header commits for LUKS1 and LUKS2, in crash-safe orders. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/keyslot.h"
#include "format/luks1.h"
#include "format/luks2_hdr.h"
#include "format/luks2_json.h"
#include "format/manage.h"
#include "base/log.h"
#include "base/util.h"

#define SALT_LEN 32
#define STRIPES	 4000

/*
 * LUKS1 has one header copy. It lies in the first 4 KiB of the device, so each
 * update is one aligned 4 KiB write (read-modify-write of that block): a single
 * block write takes the header from one valid state to the next, and kill -9
 * cannot split one pwrite(). Key material is written and synced before the
 * header write that enables it, and wiped only after the header write that
 * disables it.
 */
/*
 * cryptsetup takes no lock on a LUKS1 image, so our flock cannot keep it out:
 * before writing anything, check that the header is still the one we read.
 */
static int luks1_check_current(struct storage *hdr, const struct luks_meta *m, uint8_t *block)
{
	int r = storage_read(hdr, block, 4096, 0);

	if (r < 0)
		return r == -ENODATA ? VMC_ECORRUPT : r;
	if (m->have_raw1 && memcmp(block, m->raw1, LUKS1_HDR_LEN) != 0) {
		log_err("%s: the LUKS1 header changed since it was read (another program wrote "
			"it); nothing was written",
			storage_path(hdr));
		return VMC_EBUSY;
	}
	return 0;
}

static int luks1_commit(struct storage *hdr, struct luks_meta *m)
{
	uint8_t block[4096];
	int r;

	if ((r = luks1_check_current(hdr, m, block)) < 0)
		return r;
	r = luks1_serialize(m, block);
	if (r < 0)
		return r;
	r = storage_write(hdr, block, sizeof(block), 0);
	if (r == 0)
		r = storage_sync(hdr);
	if (r == 0) {
		memcpy(m->raw1, block, LUKS1_HDR_LEN);
		m->have_raw1 = true;
	}
	return r;
}

/* Before new key material is written into a LUKS1 slot area. */
static int luks1_check(struct storage *hdr, const struct luks_meta *m)
{
	uint8_t block[4096];

	return m->version == 1 ? luks1_check_current(hdr, m, block) : 0;
}

int luks_meta_commit(struct storage *hdr, struct luks_meta *m)
{
	int r;

	if (m->version == 1)
		return luks1_commit(hdr, m);
	/* The tree is the truth: re-derive and re-validate the model before writing it. */
	r = luks2_json_to_meta(m->json, m->hdr_size, m);
	if (r < 0) {
		log_err("refusing to write invalid LUKS2 metadata");
		return r;
	}
	return luks2_hdr_store(hdr, m);
}

int luks_wipe_area(struct storage *hdr, uint64_t offset, uint64_t size)
{
	uint8_t buf[65536];
	int r = 0;

	while (size > 0) {
		size_t n = size < sizeof(buf) ? (size_t)size : sizeof(buf);
		if ((r = crypto_random(buf, n)) < 0 || (r = storage_write(hdr, buf, n, offset)) < 0)
			return r;
		offset += n;
		size -= n;
	}
	return storage_sync(hdr);
}

static uint64_t keyslot_area_len(const struct luks_meta *m, size_t key_size)
{
	return m->version == 1 ? af_split_sectors_bytes(key_size, STRIPES)
			       : round_up_u64((uint64_t)key_size * STRIPES, 4096);
}

int luks2_largest_gap(const struct luks_meta *m, uint64_t *ret_off, uint64_t *ret_size)
{
	uint64_t start = 2 * m->hdr_size, end = start + m->keyslots_size;
	uint64_t best_off = 0, best = 0, off = start;

	/* Walk the keyslots area in order of area offsets. */
	while (off < end) {
		uint64_t next = end, resume = end;
		for (int i = 0; i < LUKS_MAX_KEYSLOTS; i++) {
			const struct luks_keyslot *k = &m->keyslots[i];
			if (k->kind == LUKS_KEYSLOT_UNUSED || !k->area_size)
				continue;
			if (k->area_offset + k->area_size <= off)
				continue;
			if (k->area_offset <= off) {
				next = off;
				resume = round_up_u64(k->area_offset + k->area_size, 4096);
				break;
			}
			if (k->area_offset < next) {
				next = k->area_offset;
				resume = round_up_u64(k->area_offset + k->area_size, 4096);
			}
		}
		if (next - off > best) {
			best = next - off;
			best_off = off;
		}
		off = resume;
	}
	if (best < 4096)
		return -ENOSPC;
	*ret_off = best_off;
	*ret_size = best / 4096 * 4096;
	return 0;
}

/* First free LUKS2 area of len bytes in the keyslots area, or -ENOSPC. */
int luks2_find_area(const struct luks_meta *m, uint64_t len, uint64_t *ret_off)
{
	uint64_t start = 2 * m->hdr_size, end = start + m->keyslots_size, off = start;
	bool moved = true;

	while (moved) {
		moved = false;
		for (int i = 0; i < LUKS_MAX_KEYSLOTS; i++) {
			const struct luks_keyslot *k = &m->keyslots[i];
			if (k->kind == LUKS_KEYSLOT_UNUSED || !k->area_size)
				continue;
			if (off < k->area_offset + k->area_size && k->area_offset < off + len) {
				off = round_up_u64(k->area_offset + k->area_size, 4096);
				moved = true;
			}
		}
	}
	if (off + len > end) {
		log_err("no free space for another keyslot in the %" PRIu64 "-byte keyslots area",
			m->keyslots_size);
		return -ENOSPC;
	}
	*ret_off = off;
	return 0;
}

static int free_slot(const struct luks_meta *m, int except)
{
	for (int i = 0; i < luks_meta_max_keyslots(m); i++)
		if (m->keyslots[i].kind == LUKS_KEYSLOT_UNUSED && i != except)
			return i;
	return -1;
}

/* Describes (not yet writes) a keyslot for vk in slot, with its area. */
static int plan_keyslot(const struct luks_meta *m, int slot, const struct kdf_params *kdf,
			size_t vk_len, int digest, struct luks_keyslot *k)
{
	const struct luks_segment *seg = &m->segments[luks_meta_data_segment(m)];
	uint64_t len = keyslot_area_len(m, vk_len);
	int r;

	memset(k, 0, sizeof(*k));
	k->kind = LUKS_KEYSLOT_LUKS2;
	k->priority = 1;
	k->key_size = vk_len;
	k->kdf = *kdf;
	k->stripes = STRIPES;
	k->area_size = len;
	k->area_key_size = vk_len;
	k->digest = digest;
	snprintf(k->area_cipher, sizeof(k->area_cipher), "%s", seg->cipher);
	if (m->version == 1) {
		/* LUKS1 slots have fixed areas: the one recorded in the header for this slot. */
		uint64_t end;
		snprintf(k->af_hash, sizeof(k->af_hash), "%s", m->hash);
		snprintf(k->kdf.hash, sizeof(k->kdf.hash), "%s", m->hash);
		k->area_offset = m->keyslots[slot].area_offset;
		end = k->area_offset + len;
		if (k->area_offset < 4096 ||
		    (m->payload_offset && end > (uint64_t)m->payload_offset * LUKS_SECTOR)) {
			log_err("keyslot %d: its key material area does not fit before the payload",
				slot);
			return -ENOSPC;
		}
		return 0;
	}
	snprintf(k->af_hash, sizeof(k->af_hash), "%s", m->digests[digest].hash);
	r = luks2_find_area(m, len, &k->area_offset);
	return r;
}

/* Records keyslot k as slot in the model (and the LUKS2 tree), linked to its digest. */
static int install_keyslot(struct luks_meta *m, int slot, const struct luks_keyslot *k)
{
	int r;

	if (m->version == 2) {
		if ((r = luks2_json_set_keyslot(m->json, slot, k)) < 0 ||
		    (r = luks2_json_digest_link(m->json, k->digest, slot, true)) < 0)
			return r;
	}
	m->keyslots[slot] = *k;
	m->digests[k->digest].keyslots |= 1ull << slot;
	return 0;
}

/* Removes slot from the model (LUKS1 keeps the slot's area position for later use). */
static int uninstall_keyslot(struct luks_meta *m, int slot)
{
	struct luks_keyslot *k = &m->keyslots[slot];
	int r;

	if (m->version == 2) {
		r = luks2_json_remove_keyslot(m->json, slot);
		if (r < 0)
			return r;
		memset(k, 0, sizeof(*k));
		k->digest = -1;
	} else {
		uint64_t off = k->area_offset;
		memset(k, 0, sizeof(*k));
		k->area_offset = off;
		k->stripes = STRIPES;
		k->digest = -1;
	}
	for (int i = 0; i < LUKS_MAX_DIGESTS; i++)
		m->digests[i].keyslots &= ~(1ull << slot);
	return 0;
}

static int check_slot_arg(const struct luks_meta *m, int slot)
{
	if (slot < 0 || slot >= luks_meta_max_keyslots(m)) {
		log_err("keyslot %d does not exist (LUKS%d has keyslots 0 to %d)", slot, m->version,
			luks_meta_max_keyslots(m) - 1);
		return -EINVAL;
	}
	return 0;
}

static int check_writable(const struct luks_meta *m)
{
	if (m->requirement[0]) {
		log_err("the header has the unknown mandatory requirement '%s'; refusing to "
			"modify it",
			m->requirement);
		return VMC_ENOTSUP;
	}
	return 0;
}

int luks_keyslot_add(struct storage *hdr, struct luks_meta *m, int slot, int digest,
		     const struct kdf_params *kdf, const void *pass, size_t pass_len,
		     const uint8_t *vk, size_t vk_len, int *ret_slot)
{
	struct luks_keyslot k;
	int r;

	if (digest < 0)
		digest = luks_meta_segment_digest(m, luks_meta_data_segment(m));

	if ((r = check_writable(m)) < 0)
		return r;
	if (digest < 0)
		return VMC_ECORRUPT;
	if (slot < 0) {
		slot = free_slot(m, -1);
		if (slot < 0) {
			log_err("all %d keyslots are in use", luks_meta_max_keyslots(m));
			return -ENOSPC;
		}
	} else if ((r = check_slot_arg(m, slot)) < 0) {
		return r;
	} else if (m->keyslots[slot].kind != LUKS_KEYSLOT_UNUSED) {
		log_err("keyslot %d is in use", slot);
		return -EEXIST;
	}
	r = plan_keyslot(m, slot, kdf, vk_len, digest, &k);
	if (r == 0)
		r = luks1_check(hdr, m);
	if (r < 0)
		return r;
	/* 1: key material into an area no current keyslot uses (synced). */
	r = luks_keyslot_store(hdr, &k, SALT_LEN, pass, pass_len, vk);
	if (r < 0)
		return r;
	/* 2, commit point: the header names the new slot. Before it, the area is just unused. */
	r = install_keyslot(m, slot, &k);
	if (r == 0)
		r = luks_meta_commit(hdr, m);
	if (r == 0 && ret_slot)
		*ret_slot = slot;
	return r;
}

int luks_keyslot_change(struct storage *hdr, struct luks_meta *m, int slot,
			const struct kdf_params *kdf, const void *pass, size_t pass_len,
			const uint8_t *vk, size_t vk_len, int *ret_slot)
{
	struct luks_keyslot old, k;
	int target = slot, r;

	if ((r = check_writable(m)) < 0 || (r = check_slot_arg(m, slot)) < 0)
		return r;
	old = m->keyslots[slot];
	if (old.kind != LUKS_KEYSLOT_LUKS2)
		return -ENOENT;
	if (m->version == 1) {
		/* LUKS1 areas are fixed per slot: the new key goes to a free slot. */
		target = free_slot(m, slot);
		if (target < 0) {
			log_err("all LUKS1 keyslots are in use: free one (kill-slot) so the "
				"passphrase can be changed without a window where neither works");
			return -ENOSPC;
		}
	}
	/* The new area differs from the old one, which stays valid until the commit. */
	r = plan_keyslot(m, target, kdf, vk_len, old.digest, &k);
	if (r == 0)
		r = luks1_check(hdr, m);
	if (r < 0)
		return r;
	k.priority = old.priority;
	r = luks_keyslot_store(hdr, &k, SALT_LEN, pass, pass_len, vk);
	if (r < 0)
		return r;
	/*
	 * Commit point: one header write replaces the old passphrase by the new one
	 * (LUKS2: same keyslot id, new area; LUKS1: new slot enabled, old disabled in
	 * the same 4 KiB block). A crash before it leaves the old passphrase working,
	 * after it the new one.
	 */
	if (target != slot && (r = uninstall_keyslot(m, slot)) < 0)
		return r;
	if ((r = install_keyslot(m, target, &k)) < 0 || (r = luks_meta_commit(hdr, m)) < 0)
		return r;
	/* The old material is unreferenced now: destroy it. */
	r = luks_wipe_area(hdr, old.area_offset, old.area_size);
	if (r == 0 && ret_slot)
		*ret_slot = target;
	return r;
}

int luks_keyslot_kill(struct storage *hdr, struct luks_meta *m, int slot)
{
	struct luks_keyslot old;
	int r;

	if ((r = check_writable(m)) < 0 || (r = check_slot_arg(m, slot)) < 0)
		return r;
	old = m->keyslots[slot];
	if (old.kind == LUKS_KEYSLOT_UNUSED) {
		log_err("keyslot %d is not in use", slot);
		return -ENOENT;
	}
	if (old.kind == LUKS_KEYSLOT_REENCRYPT) {
		log_err("keyslot %d belongs to an unfinished re-encryption", slot);
		return -EBUSY;
	}
	/* Commit point: the header forgets the slot; then its material is destroyed. */
	if ((r = uninstall_keyslot(m, slot)) < 0 || (r = luks_meta_commit(hdr, m)) < 0)
		return r;
	return old.area_size ? luks_wipe_area(hdr, old.area_offset, old.area_size) : 0;
}

int luks_erase(struct storage *hdr, struct luks_meta *m)
{
	struct luks_keyslot old[LUKS_MAX_KEYSLOTS];
	int r;

	if ((r = check_writable(m)) < 0)
		return r;
	memcpy(old, m->keyslots, sizeof(old));
	for (int i = 0; i < luks_meta_max_keyslots(m); i++)
		if (old[i].kind == LUKS_KEYSLOT_LUKS2 && (r = uninstall_keyslot(m, i)) < 0)
			return r;
	/* Commit point: no keyslot is named any more; then every area is destroyed. */
	r = luks_meta_commit(hdr, m);
	if (r < 0)
		return r;
	for (int i = 0; i < luks_meta_max_keyslots(m); i++) {
		if (old[i].kind != LUKS_KEYSLOT_LUKS2)
			continue;
		r = luks_wipe_area(hdr, old[i].area_offset, old[i].area_size);
		if (r < 0)
			return r;
	}
	return 0;
}
