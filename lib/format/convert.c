/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* LUKS1 <-> LUKS2 conversion, relocating keyslot material, behind a journal file. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format/backup.h"
#include "format/convert.h"
#include "format/luks1.h"
#include "format/luks2_hdr.h"
#include "format/luks2_json.h"
#include "format/manage.h"
#include "base/log.h"
#include "base/util.h"

#define L2_HDR LUKS2_HDR_MIN

/* The AF material of every active keyslot, read before anything is overwritten. */
struct moved_slots {
	uint8_t *material[LUKS_MAX_KEYSLOTS]; /* secmem */
	uint64_t len[LUKS_MAX_KEYSLOTS];
};

static void moved_clear(struct moved_slots *mv)
{
	for (int i = 0; i < LUKS_MAX_KEYSLOTS; i++)
		secmem_free(mv->material[i]);
	memset(mv, 0, sizeof(*mv));
}

static int read_materials(struct storage *hdr, const struct luks_meta *m, struct moved_slots *mv)
{
	for (int i = 0; i < luks_meta_max_keyslots(m); i++) {
		const struct luks_keyslot *k = &m->keyslots[i];
		int r;

		if (k->kind != LUKS_KEYSLOT_LUKS2)
			continue;
		mv->len[i] = af_split_sectors_bytes(k->key_size, k->stripes);
		mv->material[i] = secmem_alloc((size_t)mv->len[i]);
		if (!mv->material[i])
			return -ENOMEM;
		r = storage_read(hdr, mv->material[i], (size_t)mv->len[i], k->area_offset);
		if (r < 0)
			return r == -ENODATA ? VMC_ECORRUPT : r;
	}
	return 0;
}

/* The LUKS2 model of a LUKS1 header, with active slots packed from 32 KiB. */
static int plan_luks2(const struct luks_meta *m1, uint64_t region, const char *label,
		      struct luks_meta *m2)
{
	const struct luks_digest *d1 = &m1->digests[0];
	uint64_t off = 2 * L2_HDR;
	struct luks_segment seg = m1->segments[0];
	struct luks_digest d;
	int r;

	memset(m2, 0, sizeof(*m2));
	m2->version = 2;
	m2->hdr_size = L2_HDR;
	m2->keyslots_size = region > 2 * L2_HDR ? (region - 2 * L2_HDR) / 4096 * 4096 : 0;
	snprintf(m2->csum_alg, sizeof(m2->csum_alg), "sha256");
	snprintf(m2->label, sizeof(m2->label), "%s", label ? label : "");
	memcpy(m2->uuid, m1->uuid, sizeof(m2->uuid));
	r = luks2_json_new(L2_HDR - LUKS2_HDR_BIN_LEN, m2->keyslots_size, &m2->json);
	if (r < 0)
		return r;
	if ((r = luks2_json_set_segment(m2->json, 0, &seg)) < 0)
		return r;
	d = *d1;
	d.segments = 1;
	d.keyslots = 0;
	for (int i = 0; i < 8; i++) {
		struct luks_keyslot k = m1->keyslots[i];
		if (k.kind != LUKS_KEYSLOT_LUKS2)
			continue;
		k.area_offset = off;
		k.area_size = round_up_u64(af_split_sectors_bytes(k.key_size, k.stripes), 4096);
		off += k.area_size;
		if (off > 2 * L2_HDR + m2->keyslots_size) {
			log_err("not enough room before the data for LUKS2 metadata and the active "
				"keyslots; remove a keyslot first");
			return -ENOSPC;
		}
		d.keyslots |= 1ull << i;
		if ((r = luks2_json_set_keyslot(m2->json, i, &k)) < 0)
			return r;
	}
	if ((r = luks2_json_set_digest(m2->json, 0, &d)) < 0)
		return r;
	return luks2_json_to_meta(m2->json, m2->hdr_size, m2);
}

/* The LUKS1 model of a LUKS2 header, if LUKS1 can express it. */
static int plan_luks1(const struct luks_meta *m2, struct luks_meta *m1)
{
	int seg = luks_meta_data_segment(m2), dig, n = 0, map[LUKS_MAX_KEYSLOTS];
	const struct luks_segment *s = &m2->segments[seg];
	const struct luks_digest *d;
	uint32_t slot_sectors, end;
	int ids[1];
	const char *types[1];

	if (m2->reencrypt || m2->requirement[0]) {
		log_err("a header with requirements (e.g. an unfinished re-encryption) cannot be "
			"converted");
		return VMC_ENOTSUP;
	}
	for (int i = 0; i < LUKS_MAX_SEGMENTS; i++) {
		if (i != seg && m2->segments[i].kind != LUKS_SEGMENT_UNUSED) {
			log_err("LUKS1 cannot describe more than one data segment");
			return VMC_ENOTSUP;
		}
	}
	if (s->sector_size != LUKS_SECTOR || s->iv_tweak || !s->dynamic || s->offset % 512) {
		log_err(
		    "LUKS1 needs 512-byte sectors, no IV tweak and a data segment to the end of "
		    "the device (this image has %u-byte sectors)",
		    s->sector_size);
		return VMC_ENOTSUP;
	}
	if (luks2_json_tokens(m2->json, ids, types, 1) > 0) {
		log_err("LUKS1 has no tokens: remove them first (vmcrypt token remove)");
		return VMC_ENOTSUP;
	}
	dig = luks_meta_segment_digest(m2, seg);
	if (dig < 0)
		return VMC_ECORRUPT;
	d = &m2->digests[dig];
	if (d->value_len < LUKS1_DIGEST_LEN || d->salt_len != LUKS1_SALT_LEN) {
		log_err("the volume key digest cannot be expressed in LUKS1");
		return VMC_ENOTSUP;
	}
	memset(m1, 0, sizeof(*m1));
	m1->version = 1;
	memcpy(m1->uuid, m2->uuid, sizeof(m1->uuid));
	snprintf(m1->cipher, sizeof(m1->cipher), "%s", s->cipher);
	snprintf(m1->hash, sizeof(m1->hash), "%s", d->hash);
	m1->payload_offset = (uint32_t)(s->offset / LUKS_SECTOR);
	m1->segments[0] = *s;
	/* PBKDF2 output is a prefix code: the first 20 bytes are the 20-byte LUKS1 digest. */
	m1->digests[0] = *d;
	m1->digests[0].value_len = LUKS1_DIGEST_LEN;
	m1->digests[0].segments = 1;
	m1->digests[0].keyslots = 0;

	for (int i = 0; i < LUKS_MAX_KEYSLOTS; i++) {
		const struct luks_keyslot *k = &m2->keyslots[i];
		map[i] = -1;
		if (k->kind == LUKS_KEYSLOT_UNUSED)
			continue;
		/* A key of no segment (left by a re-key that never started): not the data's. */
		if (k->kind == LUKS_KEYSLOT_LUKS2 && k->digest >= 0 && k->digest != dig &&
		    !m2->digests[k->digest].segments) {
			log_info("keyslot %d holds an unused key; it is dropped", i);
			continue;
		}
		if (k->kind != LUKS_KEYSLOT_LUKS2 || k->kdf.type != KDF_PBKDF2 ||
		    strcmp(k->kdf.hash, d->hash) || strcmp(k->af_hash, d->hash) ||
		    strcmp(k->area_cipher, s->cipher) || k->digest != dig ||
		    k->salt_len != LUKS1_SALT_LEN || k->stripes != LUKS1_STRIPES) {
			log_err(
			    "keyslot %d cannot be expressed in LUKS1 (it needs PBKDF2 with "
			    "hash %s, 4000 stripes and the data cipher); change or remove it first",
			    i, d->hash);
			return VMC_ENOTSUP;
		}
		if (m1->key_size && m1->key_size != k->key_size)
			return VMC_ENOTSUP;
		m1->key_size = k->key_size;
		map[i] = n++;
	}
	if (n > 8) {
		log_err("LUKS1 has 8 keyslots; this image has %d active ones", n);
		return -ENOSPC;
	}
	if (!m1->key_size) {
		log_err("the image has no keyslot to convert");
		return -ENOENT;
	}
	luks1_layout(m1->key_size, LUKS1_STRIPES, &slot_sectors);
	end = 8 + 8 * slot_sectors;
	if (m1->payload_offset && end > m1->payload_offset) {
		log_err(
		    "LUKS1 keyslots need %u sectors before the data, the data starts at sector %u",
		    end, m1->payload_offset);
		return -ENOSPC;
	}
	/* Keep slot numbers below 8 where they are; move the others to free low slots. */
	for (int i = 0; i < 8; i++)
		m1->keyslots[i].area_offset = (8 + (uint64_t)i * slot_sectors) * LUKS_SECTOR;
	for (int i = 0; i < LUKS_MAX_KEYSLOTS; i++) {
		int to = i < 8 ? i : -1;
		struct luks_keyslot k;
		if (map[i] < 0)
			continue;
		if (to < 0 || m1->keyslots[to].kind != LUKS_KEYSLOT_UNUSED)
			for (to = 0; to < 8 && m1->keyslots[to].kind != LUKS_KEYSLOT_UNUSED; to++)
				;
		k = m2->keyslots[i];
		k.area_offset = m1->keyslots[to].area_offset;
		k.area_size = af_split_sectors_bytes(k.key_size, k.stripes);
		k.priority = 1;
		k.digest = 0;
		m1->keyslots[to] = k;
		m1->digests[0].keyslots |= 1ull << to;
		map[i] = to;
	}
	return 0;
}

/*
 * Journal: the whole old header region in a file next to the header. It is
 * written under a temporary name, synced, then renamed: the journal exists
 * complete or not at all.
 */
static int journal_write(struct storage *hdr, const struct luks_meta *m, const char *journal)
{
	char *tmp = NULL;
	int r;

	if (asprintf(&tmp, "%s.tmp", journal) < 0)
		return -ENOMEM;
	unlink(tmp); /* a leftover of an earlier interrupted attempt */
	r = luks_header_backup(hdr, m, tmp);
	if (r == 0)
		r = storage_publish(tmp, journal);
	if (r < 0)
		unlink(tmp);
	free(tmp);
	return r;
}

/* Where a conversion keeps the old header region until the new one is committed. */
static char *journal_path(const struct storage *hdr)
{
	char *p = NULL;

	if (asprintf(&p, "%s.vmcrypt-convert", storage_path(hdr)) < 0)
		return NULL;
	return p;
}

int luks_convert(struct storage *hdr, struct luks_meta *m, int version, const char *label)
{
	struct moved_slots mv = {0};
	struct luks_meta n;
	uint64_t region = luks_header_region(m), dev = 0;
	uint8_t *zero = NULL;
	char *journal = NULL;
	int r;

	memset(&n, 0, sizeof(n));
	if (version == m->version) {
		log_err("the image is already LUKS%d", version);
		return -EINVAL;
	}
	if (!storage_is_regular(hdr)) {
		log_err("%s: conversion needs the header in a regular file (it keeps a journal "
			"next to it)",
			storage_path(hdr));
		return VMC_ENOTSUP;
	}
	journal = journal_path(hdr);
	if (!journal)
		return -ENOMEM;
	if (m->version == 1 && !m->payload_offset) {
		/* Detached LUKS1 header: the LUKS2 header may grow into a standard-size file. */
		if (storage_size(hdr, &dev) == 0 && dev > region)
			region = dev;
		if (region < LUKS2_DATA_OFFSET_DEFAULT)
			region = LUKS2_DATA_OFFSET_DEFAULT;
	}
	r = version == 2 ? plan_luks2(m, region, label, &n) : plan_luks1(m, &n);
	if (r < 0)
		goto out;
	if ((r = read_materials(hdr, m, &mv)) < 0)
		goto out;
	/*
	 * Commit point 1: the journal holds the complete old header region. From here
	 * until the journal is removed, an interrupted conversion is undone by
	 * restoring the journal (luks_convert_recover), then it can be run again.
	 */
	if ((r = journal_write(hdr, m, journal)) < 0)
		goto out;
	if (m->version == 1 && !m->payload_offset && (r = storage_truncate(hdr, region)) < 0)
		goto out;
	/* Clear the old header region, so no stale copy of old key material stays behind. */
	zero = calloc(1, 1 << 20);
	if (!zero) {
		r = -ENOMEM;
		goto out;
	}
	for (uint64_t off = 0; off < luks_header_region(&n); off += 1 << 20) {
		uint64_t left = luks_header_region(&n) - off;
		if ((r = storage_write(hdr, zero, left < (1 << 20) ? (size_t)left : (1 << 20),
				       off)) < 0)
			goto out;
	}
	for (int i = 0; i < luks_meta_max_keyslots(m); i++) {
		const struct luks_keyslot *k = NULL;
		if (!mv.material[i])
			continue;
		/* Find where slot i went (LUKS2 -> LUKS1 may renumber). */
		for (int j = 0; j < luks_meta_max_keyslots(&n) && !k; j++)
			if (n.keyslots[j].kind == LUKS_KEYSLOT_LUKS2 &&
			    crypto_memeq(n.keyslots[j].salt, m->keyslots[i].salt,
					 m->keyslots[i].salt_len))
				k = &n.keyslots[j];
		if (!k) {
			r = -EIO;
			goto out;
		}
		if ((r = storage_write(hdr, mv.material[i], (size_t)mv.len[i], k->area_offset)) < 0)
			goto out;
	}
	if ((r = storage_sync(hdr)) < 0)
		goto out;
	/* Commit point 2: the new header. Then the journal is no longer needed. */
	if ((r = luks_meta_commit(hdr, &n)) < 0)
		goto out;
	unlink(journal);
	luks_meta_clear(m);
	*m = n;
	memset(&n, 0, sizeof(n));
out:
	free(zero);
	free(journal);
	moved_clear(&mv);
	luks_meta_clear(&n);
	return r;
}

/*
 * Whether a journal belongs to the header beside it. A conversion keeps every
 * key slot's salt, so a valid current header that shares no active key slot
 * with the journal's header is another image (one restored from a backup, a
 * fresh copy): restoring the journal onto it would put a foreign header over
 * its data. An unreadable current header (a conversion cut half-way) belongs.
 */
static bool journal_belongs(struct storage *hdr, const char *journal)
{
	struct luks_meta cur, old;
	struct storage *st = NULL;
	bool belongs = true;

	memset(&cur, 0, sizeof(cur));
	memset(&old, 0, sizeof(old));
	log_mute();
	if (luks_meta_load(hdr, &cur, NULL) == 0 &&
	    storage_open(journal, STORAGE_RDONLY, &st) == 0 &&
	    luks_meta_load(st, &old, NULL) == 0) {
		int active = 0;
		for (int i = 0; i < luks_meta_max_keyslots(&cur); i++)
			active += cur.keyslots[i].kind == LUKS_KEYSLOT_LUKS2;
		/* No key slot to compare: nothing says it is foreign. */
		belongs = active == 0;
		for (int i = 0; i < luks_meta_max_keyslots(&cur) && !belongs; i++) {
			const struct luks_keyslot *c = &cur.keyslots[i];
			if (c->kind != LUKS_KEYSLOT_LUKS2)
				continue;
			for (int j = 0; j < luks_meta_max_keyslots(&old) && !belongs; j++)
				belongs = old.keyslots[j].kind == LUKS_KEYSLOT_LUKS2 &&
					  old.keyslots[j].salt_len == c->salt_len &&
					  crypto_memeq(old.keyslots[j].salt, c->salt, c->salt_len);
		}
	}
	log_unmute();
	storage_free(st);
	luks_meta_clear(&cur);
	luks_meta_clear(&old);
	return belongs;
}

int luks_convert_recover(struct storage *hdr, bool read_only)
{
	char *journal = journal_path(hdr);
	int r = 0;

	if (!journal)
		return -ENOMEM;
	if (access(journal, F_OK) != 0)
		goto out;
	if (!journal_belongs(hdr, journal)) {
		log_err("%s: a conversion journal of another header is beside this image (no key "
			"slot in common); if the image was replaced, remove %s",
			storage_path(hdr), journal);
		r = VMC_EBUSY;
		goto out;
	}
	if (read_only) {
		log_err("%s: a conversion was interrupted; open the image for writing (e.g. "
			"vmcrypt repair) to roll it back from %s",
			storage_path(hdr), journal);
		r = VMC_EBUSY;
		goto out;
	}
	log_warn("%s: an interrupted conversion left its journal; restoring the header from it",
		 journal);
	r = luks_header_restore(hdr, NULL, journal, true);
	if (r == 0) {
		unlink(journal);
		goto out;
	}
	{
		/* An unusable journal while the image's own header is intact: stale. */
		struct luks_meta m;
		memset(&m, 0, sizeof(m));
		log_mute();
		if (luks_meta_load(hdr, &m, NULL) == 0) {
			unlink(journal);
			r = 0;
		}
		log_unmute();
		luks_meta_clear(&m);
		if (r == 0)
			log_warn("%s: removed an incomplete conversion journal; the image's header "
				 "is intact",
				 storage_path(hdr));
	}
out:
	free(journal);
	return r;
}
