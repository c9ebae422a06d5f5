/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Recovery: unlocking a device mid-way, and repairing the hotzone a crash left in-reencryption. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "reencrypt/reencrypt_internal.h"
#include "format/keyslot.h"

bool reenc_needs_recovery(const struct luks_meta *m)
{
	return reenc_backup_segment(m, FLAG_HOT) >= 0;
}

int reenc_unlock(const struct luks_meta *m, struct storage *hdr, const void *pass, size_t pass_len,
		 struct reenc_keys *keys)
{
	int r;

	for (int i = 0; i < LUKS_MAX_KEYSLOTS; i++) {
		const struct luks_keyslot *k = &m->keyslots[i];
		uint8_t *vk = NULL;

		if (k->kind != LUKS_KEYSLOT_LUKS2 || k->digest < 0 || keys->key[k->digest])
			continue;
		r = luks_keyslot_open(m, hdr, i, pass, pass_len, &vk);
		if (r == VMC_EPASS)
			continue;
		if (r < 0)
			return r;
		keys->key[k->digest] = vk;
		keys->len[k->digest] = k->key_size;
	}
	for (int i = 0; i < LUKS_MAX_SEGMENTS; i++) {
		const struct luks_segment *s = &m->segments[i];
		int d;
		if (s->kind != LUKS_SEGMENT_CRYPT)
			continue;
		d = luks_meta_segment_digest(m, i);
		if (d < 0)
			return VMC_ECORRUPT;
		if (!keys->key[d]) {
			bool any = false;
			for (int j = 0; j < LUKS_MAX_DIGESTS; j++)
				any |= keys->key[j] != NULL;
			log_err(
			    any ? "this passphrase opens only one of the two volume keys of the "
				  "unfinished re-encryption; use the passphrase given to the new "
				  "key"
				: "no key available with this passphrase");
			return VMC_EPASS;
		}
	}
	return 0;
}

int reenc_recover(struct reenc *re, uint64_t off, uint64_t len)
{
	const struct luks_keyslot *k = &re->m->keyslots[re->ks];
	const char *type = k->reenc.type;
	uint64_t phys = volume_phys(re->v_new, off);
	int r;

	free(re->buf);
	re->buf = malloc((size_t)len);
	if (!re->buf)
		return -ENOMEM;
	log_info("recovering the interrupted hotzone at %" PRIu64 " (%" PRIu64 " bytes, %s)", off,
		 len, type);
	if (strcmp(type, "checksum") == 0 ||
	    (strcmp(type, "datashift-checksum") == 0 && re->shift_down && off == 0)) {
		uint32_t bs = k->reenc.sector_size;
		size_t hl = re->hash_len, nblk = (size_t)(len / bs);
		uint8_t *sums = malloc(nblk * hl), h[64];
		if (!sums)
			return -ENOMEM;
		if ((r = storage_read(re->hdr, sums, nblk * hl, k->area_offset)) < 0 ||
		    (r = storage_read(re->data, re->buf, (size_t)len, phys)) < 0) {
			free(sums);
			return r == -ENODATA ? -EIO : r;
		}
		/* A block whose hash is still the saved one was not rewritten yet. */
		for (size_t i = 0; i < nblk && r == 0; i++) {
			uint8_t *blk = re->buf + i * bs;
			r = crypto_hash(k->reenc.hash, blk, bs, h);
			if (r < 0 || !crypto_memeq(h, sums + i * hl, hl))
				continue;
			if ((r = volume_crypt(re->v_old, blk, bs, off + i * bs, false)) == 0)
				r = volume_crypt(re->v_new, blk, bs, off + i * bs, true);
		}
		free(sums);
		if (r < 0)
			return r;
	} else if (strcmp(type, "journal") == 0) {
		if ((r = storage_read(re->hdr, re->buf, (size_t)len, k->area_offset)) < 0 ||
		    (r = reenc_transform(re, re->buf, (size_t)len, off)) < 0)
			return r == -ENODATA ? VMC_ECORRUPT : r;
	} else if (strncmp(type, "datashift", 9) == 0) {
		/* The source of a shifted hotzone is never overwritten by its own step. */
		if ((r = storage_read(re->data, re->buf, (size_t)len, reenc_source_phys(re, off))) <
			0 ||
		    (r = reenc_transform(re, re->buf, (size_t)len, off)) < 0)
			return r == -ENODATA ? -EIO : r;
	} else {
		log_err("the re-encryption was interrupted in resilience mode '%s', which keeps "
			"nothing to recover the hotzone from: data in it is lost",
			type);
		return VMC_ECORRUPT;
	}
	if ((r = storage_write(re->data, re->buf, (size_t)len, phys)) < 0 ||
	    (r = storage_sync(re->data)) < 0)
		return r;
	return reenc_commit_state(re, re->backward ? off : off + len, 0, 0);
}

/*
 * The finish, as one header write: the new layout alone, no requirement, no
 * reencrypt keyslot, no old keyslots or digests. Areas are wiped afterwards.
 */
