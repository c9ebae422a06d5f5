/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * LUKS2 re-encryption in the form cryptsetup 2.6 writes (docs/REENCRYPT-NOTES.md),
 * so that either tool can finish what the other started.
 *
 * The state lives entirely in the header: the regular segments say which part
 * of the device has the new layout, the backup segments describe the old and
 * new layouts, the reencrypt keyslot says how the hotzone is protected. Each
 * step moves one hotzone from the old to the new layout:
 *
 *   1. read the hotzone's stored bytes;
 *   2. protect them: checksums (or a copy, for journal) in the reencrypt area;
 *   3. hot commit: the header marks the hotzone in-reencryption;
 *   4. transform in memory, write to the new place, fdatasync;
 *   5. post commit: the hotzone belongs to the new layout.
 *
 * A crash between 3 and 5 leaves a state that recovery repairs from what step 2
 * saved; a crash anywhere else leaves a clean state a resume continues from.
 * The finish is one header write, so no state in between looks like a new start.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>

#include "format/keyslot.h"
#include "format/luks2_json.h"
#include "format/manage.h"
#include "reencrypt/reencrypt_internal.h"
#include "base/log.h"
#include "base/util.h"

void reenc_keys_clear(struct reenc_keys *keys)
{
	for (int i = 0; i < LUKS_MAX_DIGESTS; i++)
		secmem_free(keys->key[i]);
	memset(keys, 0, sizeof(*keys));
}

static uint64_t hotzone_for(const struct reenc *re)
{
	const struct luks_keyslot *k = &re->m->keyslots[re->ks];
	uint64_t h = re->plan && re->plan->hotzone ? re->plan->hotzone : HOTZONE_DEFAULT;

	if (strcmp(k->reenc.type, "checksum") == 0) {
		uint64_t cap = k->area_size / re->hash_len * k->reenc.sector_size;
		if (h > cap)
			h = cap;
	} else if (strcmp(k->reenc.type, "journal") == 0 && h > k->area_size) {
		h = k->area_size;
	} else if (strncmp(k->reenc.type, "datashift", 9) == 0) {
		return k->reenc.shift;
	}
	h = h / re->align * re->align;
	return h ? h : re->align;
}

int reenc_run(struct storage *hdr, struct storage *data, struct luks_meta *m,
	      const struct reenc_keys *keys, const struct reenc_plan *plan)
{
	struct reenc re;
	uint64_t done, hot = 0, hot_len = 0;
	int r;

	r = reenc_load(&re, hdr, data, m, keys, plan);
	if (r < 0)
		goto out;
	if ((r = reenc_digest_verify(&re)) < 0)
		goto out;
	if ((r = reenc_progress_of(&re, &done, &hot, &hot_len)) < 0)
		goto out;
	re.hotzone = hotzone_for(&re);
	if (hot_len) {
		if ((r = reenc_recover(&re, hot, hot_len)) < 0)
			goto out;
		done = reenc_after_zone(&re, hot, hot_len);
	}
	if (plan && plan->recover_only) {
		r = -ECANCELED;
		goto out;
	}
	free(re.buf);
	re.buf = NULL;
	r = reenc_run_steps(&re, plan, &done);
	if (r < 0 && r != -ECANCELED)
		goto out;
	if (r == -ECANCELED) {
		/* A clean stop: with resilience none this is the only commit of the run. */
		if (!reenc_resilient(&re)) {
			int s = storage_sync(data);
			if (s == 0)
				s = reenc_commit_state(&re, done, 0, 0);
			if (s < 0)
				r = s;
		}
		goto out;
	}
	if (!reenc_resilient(&re) && (r = storage_sync(data)) < 0)
		goto out;
	r = reenc_finish(&re, plan);
out:
	reenc_clear(&re);
	return r;
}

int reenc_init(struct storage *hdr, struct luks_meta *m, const struct reenc_start *st,
	       const struct reenc_plan *plan)
{
	const char *type = plan->resilience ? plan->resilience : "checksum";
	int ks = -1, r;
	struct luks_keyslot k;
	struct reenc re;

	if (st->moved)
		type = st->backward ? "datashift" : "datashift-checksum";
	if (strcmp(type, "checksum") && strcmp(type, "journal") && strcmp(type, "none") &&
	    strcmp(type, "datashift") && strcmp(type, "datashift-checksum")) {
		log_err("resilience '%s' is not supported (use checksum, journal or none)", type);
		return VMC_ENOTSUP;
	}
	for (int i = 0; i < LUKS_MAX_KEYSLOTS && ks < 0; i++)
		if (m->keyslots[i].kind == LUKS_KEYSLOT_UNUSED)
			ks = i;
	memset(&k, 0, sizeof(k));
	k.kind = LUKS_KEYSLOT_REENCRYPT;
	k.digest = -1;
	/* A data shift needs no area contents: cryptsetup takes the first free 4 KiB. */
	if (strcmp(type, "datashift") == 0) {
		k.area_size = 4096;
		r = ks < 0 ? -ENOSPC : luks2_find_area(m, 4096, &k.area_offset);
	} else {
		r = ks < 0 ? -ENOSPC : luks2_largest_gap(m, &k.area_offset, &k.area_size);
	}
	if (r < 0) {
		log_err("no free keyslot or keyslot area for the re-encryption metadata");
		return -ENOSPC;
	}
	snprintf(k.reenc.mode, sizeof(k.reenc.mode), "%s", st->mode);
	snprintf(k.reenc.direction, sizeof(k.reenc.direction), "%s",
		 st->backward ? "backward" : "forward");
	snprintf(k.reenc.type, sizeof(k.reenc.type), "%s", type);
	if (st->moved)
		k.reenc.shift = st->shift;
	if (strstr(type, "checksum")) {
		uint32_t bs = CHECKSUM_BLOCK;
		snprintf(k.reenc.hash, sizeof(k.reenc.hash), "%s",
			 plan->hash ? plan->hash : "sha256");
		if (crypto_hash_len(k.reenc.hash) < 0) {
			log_err("checksum hash '%s' is not supported", k.reenc.hash);
			return VMC_ENOTSUP;
		}
		if (st->final->sector_size > bs)
			bs = st->final->sector_size;
		if (st->prev->sector_size > bs)
			bs = st->prev->sector_size;
		k.reenc.sector_size = bs;
	}
	if ((r = luks2_json_set_reencrypt_keyslot(m->json, ks, &k)) < 0)
		return r;

	/* Nothing converted yet; the backups describe both layouts. */
	memset(&re, 0, sizeof(re));
	re.m = m;
	re.ks = ks;
	re.backward = st->backward;
	re.prev = reenc_backup(st->prev, FLAG_PREV);
	re.final = reenc_backup(st->final, FLAG_FINAL);
	if (st->moved) {
		re.moved = reenc_backup(st->moved, FLAG_MOVED);
		re.has_moved = true;
		re.shift_down = !st->backward;
	}
	re.dig_old = st->old_digest;
	re.dig_new = st->new_digest;
	re.size = st->size;
	re.k_old = st->k_old;
	re.k_old_len = st->k_old_len;
	re.k_new = st->k_new;
	re.k_new_len = st->k_new_len;
	if ((r = reenc_layout_state(&re, st->backward ? st->size : 0, 0, 0)) < 0 ||
	    (r = luks2_json_set_requirement(
		 m->json, strcmp(type, "datashift-checksum") ? REQ_V2 : REQ_V3, true)) < 0)
		return r;
	/* The model must see the new keyslot and segments before the digest is computed. */
	if ((r = luks2_json_to_meta_draft(m->json, m->hdr_size, m)) < 0 ||
	    (r = reenc_digest_make(&re)) < 0)
		return r;
	if (!hdr)
		return luks2_json_to_meta_draft(m->json, m->hdr_size, m);
	/* Commit point: the re-encryption exists; no data has been touched. */
	return luks_meta_commit(hdr, m);
}
