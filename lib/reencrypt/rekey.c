/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Re-key: start or resume a re-encryption with a new volume key; unlocking mid-way. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "format/convert.h"
#include "format/create.h"
#include "format/keyslot.h"
#include "format/luks2_json.h"
#include "format/manage.h"
#include "reencrypt/reencrypt_internal.h"

/* A LUKS1 image is re-keyed as LUKS2 and converted back; this label marks it meanwhile. */
#define LUKS1_MARK "vmcrypt:luks1-rekey"

int reenc_open(struct reenc_dev *d, const void *pass, size_t pass_len)
{
	int r;

	reenc_keys_clear(d->keys);
	r = reenc_unlock(d->meta, d->hdr, pass, pass_len, d->keys);
	if (r < 0 || !reenc_needs_recovery(d->meta))
		return r;
	if (d->read_only) {
		log_err("%s: an interrupted re-encryption must be recovered first: open it for "
			"writing (vmcrypt rekey --resume)",
			storage_path(d->hdr));
		return VMC_EBUSY;
	}
	{
		struct reenc_plan plan = {.recover_only = true};
		r = reenc_run(d->hdr, d->data, d->meta, d->keys, &plan);
	}
	return r == -ECANCELED ? 0 : r;
}

void reenc_plan_from(const struct vmc_reencrypt_params *p, struct reenc_plan *plan)
{
	memset(plan, 0, sizeof(*plan));
	plan->resilience = p->resilience;
	plan->hash = p->hash;
	plan->hotzone = p->hotzone_size;
	plan->stop_after = p->stop_after;
	plan->progress = p->progress;
	plan->userdata = p->userdata;
}

/* Converts a LUKS1-origin image back once its re-encryption is over. */
static int back_to_luks1(struct reenc_dev *d)
{
	if (d->meta->version != 2 || d->meta->reencrypt || strcmp(d->meta->label, LUKS1_MARK))
		return 0;
	d->meta->label[0] = '\0';
	return luks_convert(d->hdr, d->meta, 1, NULL);
}

static int resume(struct reenc_dev *d, const void *pass, size_t pass_len,
		  const struct vmc_reencrypt_params *p)
{
	struct reenc_plan plan;
	int r;

	reenc_plan_from(p, &plan);
	/* The passphrase that finishes a re-key is the only one left afterwards. */
	plan.private_after = !(pass_len == strlen(VMC_PUBLIC_PASSPHRASE) &&
			       memcmp(pass, VMC_PUBLIC_PASSPHRASE, pass_len) == 0);
	reenc_keys_clear(d->keys);
	r = reenc_unlock(d->meta, d->hdr, pass, pass_len, d->keys);
	if (r < 0)
		return r;
	r = reenc_run(d->hdr, d->data, d->meta, d->keys, &plan);
	if (r == 0)
		r = back_to_luks1(d);
	return r;
}

/* The new layout: the data segment with the new cipher and sector size. */
static int plan_final(struct reenc_dev *d, const struct vmc_reencrypt_params *p,
		      struct luks_segment *final, size_t *ret_key_len)
{
	const struct luks_segment *seg = &d->meta->segments[luks_meta_data_segment(d->meta)];
	const struct luks_keyslot *any = NULL;
	size_t key_len;

	*final = *seg;
	final->flag[0] = '\0';
	if (p->cipher)
		snprintf(final->cipher, sizeof(final->cipher), "%s", p->cipher);
	if (p->sector_size)
		final->sector_size = p->sector_size;
	for (int i = 0; i < LUKS_MAX_KEYSLOTS && !any; i++)
		if (d->meta->keyslots[i].kind == LUKS_KEYSLOT_LUKS2)
			any = &d->meta->keyslots[i];
	key_len = p->key_bits ? p->key_bits / 8
		  : p->cipher ? (strstr(final->cipher, "-xts-") ? 64 : 32)
			      : (any ? any->key_size : 64);
	if ((p->key_bits % 8) || !sector_cipher_supported(final->cipher, key_len)) {
		log_err("cipher %s with a %zu-bit key is not supported%s", final->cipher,
			key_len * 8, sector_cipher_why(final->cipher));
		return VMC_ENOTSUP;
	}
	if (final->sector_size < 512 || final->sector_size > 4096 ||
	    !is_power_of_2(final->sector_size)) {
		log_err("sector size must be 512, 1024, 2048 or 4096");
		return -EINVAL;
	}
	if (d->meta->version == 1 && final->sector_size != LUKS_SECTOR) {
		log_err("a LUKS1 image keeps 512-byte sectors");
		return -EINVAL;
	}
	if (reenc_dev_data_size(d) % final->sector_size) {
		log_err("the data size is not a multiple of the %u-byte sector size",
			final->sector_size);
		return -EINVAL;
	}
	*ret_key_len = key_len;
	return 0;
}

/* Adds a digest for k_new (no keyslot, no segment yet) and returns its id. */
static int add_digest(struct reenc_dev *d, const uint8_t *k_new, size_t len, const char *hash,
		      uint32_t iterations)
{
	struct luks_digest dig;
	int id = -1, r;

	for (int i = 0; i < LUKS_MAX_DIGESTS && id < 0; i++)
		if (!d->meta->digests[i].used)
			id = i;
	if (id < 0)
		return -ENOSPC;
	memset(&dig, 0, sizeof(dig));
	r = luks_digest_make(&dig, hash, iterations, 32, (size_t)crypto_hash_len(hash), k_new, len);
	if (r < 0)
		return r;
	if ((r = luks2_json_set_digest(d->meta->json, id, &dig)) < 0 ||
	    (r = luks2_json_to_meta_draft(d->meta->json, d->meta->hdr_size, d->meta)) < 0)
		return r;
	return id;
}

static int start(struct reenc_dev *d, const void *pass, size_t pass_len,
		 const struct vmc_reencrypt_params *p)
{
	struct luks_segment prev, final;
	struct reenc_plan plan;
	struct kdf_params kdf;
	const struct vmc_kdf_params *kp = &p->kdf;
	uint8_t *k_old = NULL, *k_new = NULL;
	size_t k_new_len;
	uint32_t digest_iter;
	const void *np = p->new_pass ? p->new_pass : pass;
	size_t np_len = p->new_pass ? p->new_pass_len : pass_len;
	int slot, old_dig, new_dig, r;
	bool from_luks1 = d->meta->version == 1;

	reenc_plan_from(p, &plan);
	r = luks_keyslot_open_any(d->meta, d->hdr, -1, pass, pass_len, &k_old, &slot);
	if (r < 0)
		return r;
	if ((r = plan_final(d, p, &final, &k_new_len)) < 0)
		goto out;
	if (from_luks1) {
		/* LUKS1 has no re-encryption metadata: work as LUKS2, convert back at the end. */
		log_info("converting to LUKS2 for the re-encryption; it is converted back to LUKS1 "
			 "when done (QEMU cannot open it meanwhile)");
		/* The mark goes into the same header write as the conversion. */
		if ((r = luks_convert(d->hdr, d->meta, 2, LUKS1_MARK)) < 0)
			goto out;
	}
	prev = d->meta->segments[luks_meta_data_segment(d->meta)];
	old_dig = luks_meta_segment_digest(d->meta, luks_meta_data_segment(d->meta));
	/* New keyslots: LUKS1-origin images need what LUKS1 can express (PBKDF2, its hash). */
	r = luks_kdf_plan(from_luks1 ? 1 : 2, from_luks1 ? "pbkdf2" : kp->pbkdf,
			  d->meta->digests[old_dig].hash, kp->iter_time_ms, kp->force_iterations,
			  kp->memory_kib, kp->parallel, k_new_len, &kdf, &digest_iter);
	if (r < 0)
		goto out;
	k_new = secmem_alloc(k_new_len);
	if (!k_new) {
		r = -ENOMEM;
		goto out;
	}
	if ((r = crypto_random(k_new, k_new_len)) < 0)
		goto out;
	new_dig = add_digest(d, k_new, k_new_len, d->meta->digests[old_dig].hash, digest_iter);
	if (new_dig < 0) {
		r = new_dig;
		goto out;
	}
	/*
	 * The new key goes into a keyslot under the new passphrase (the same one when
	 * none was given). With a new passphrase, the old key gets a keyslot under it
	 * too: one passphrase then opens both keys, which a resume needs (vmcrypt's or
	 * cryptsetup's). Both are committed before the re-encryption starts.
	 */
	if ((r = luks_keyslot_add(d->hdr, d->meta, -1, new_dig, &kdf, np, np_len, k_new, k_new_len,
				  NULL)) < 0)
		goto out;
	if (p->new_pass &&
	    (r = luks_keyslot_add(d->hdr, d->meta, -1, old_dig, &kdf, np, np_len, k_old,
				  d->meta->keyslots[slot].key_size, NULL)) < 0)
		goto out;
	{
		struct reenc_start st = {
		    .mode = "reencrypt",
		    .prev = &prev,
		    .final = &final,
		    .old_digest = old_dig,
		    .new_digest = new_dig,
		    .size = reenc_dev_data_size(d),
		    .k_old = k_old,
		    .k_old_len = d->meta->keyslots[slot].key_size,
		    .k_new = k_new,
		    .k_new_len = k_new_len,
		};
		r = reenc_init(d->hdr, d->meta, &st, &plan);
	}
	if (r < 0)
		goto out;
	r = resume(d, np, np_len, p);
out:
	secmem_free(k_old);
	secmem_free(k_new);
	return r;
}

int reenc_rekey(struct reenc_dev *d, const void *pass, size_t pass_len,
		const struct vmc_reencrypt_params *p)
{
	static const struct vmc_reencrypt_params defaults;
	int r;

	if (!p)
		p = &defaults;
	if (d->meta->requirement[0]) {
		log_err("the header has the unknown mandatory requirement '%s'",
			d->meta->requirement);
		return VMC_ENOTSUP;
	}
	if (d->meta->reencrypt)
		return resume(d, pass, pass_len, p);
	if (d->meta->version == 2 && strcmp(d->meta->label, LUKS1_MARK) == 0) {
		/*
		 * A LUKS1 image, LUKS2 for a re-key that either finished (only the
		 * conversion back is left) or never got recorded: convert it back.
		 */
		uint8_t *vk = NULL;
		bool opens;
		if ((r = back_to_luks1(d)) < 0)
			return r;
		log_mute();
		opens = luks_keyslot_open_any(d->meta, d->hdr, -1, pass, pass_len, &vk, NULL) == 0;
		log_unmute();
		secmem_free(vk);
		if (p->resume_only && opens)
			return 0; /* the re-key had finished; now LUKS1 again */
	}
	if (p->resume_only) {
		log_err("%s: there is no unfinished re-encryption to resume", storage_path(d->hdr));
		return -ENOENT;
	}
	return start(d, pass, pass_len, p);
}
