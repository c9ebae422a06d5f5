/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The public API: image handles over the format, keyslot and volume modules. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "crypto/backend.h"
#include "crypto/osslmem.h"
#include "format/backup.h"
#include "image.h"
#include "format/convert.h"
#include "format/create.h"
#include "format/describe.h"
#include "format/keyslot.h"
#include "format/luks1.h"
#include "format/luks2_hdr.h"
#include "format/luks2_json.h"
#include "format/manage.h"
#include "io/partition.h"
#include "base/log.h"
#include "base/util.h"
#include "volume/volume.h"

/* Once per process: secrets that cannot be locked may be swapped out; the user can fix it. */
static void secmem_warn_unlocked(void)
{
	static atomic_bool said;

	if (!secmem_all_locked() && !atomic_exchange(&said, true))
		log_warn("cannot lock memory for secrets (RLIMIT_MEMLOCK, see ulimit -l): keys and "
			 "passphrases may be written to swap");
}

VMC_API void *vmc_secret_alloc(size_t len)
{
	void *p = secmem_alloc(len);

	secmem_warn_unlocked();
	return p;
}

VMC_API void vmc_secret_free(void *p)
{
	secmem_free(p);
}

VMC_API int vmc_harden_process(void)
{
	(void)osslmem_install(); /* normally done by its constructor; warns if OpenSSL was first */
	return secmem_harden_process();
}

/* Opens the data device: a whole file, or one partition of a disk image. */
static int open_data(const char *path, unsigned flags, int partition, struct storage **ret_st)
{
	uint64_t off, size;
	int r;

	if (partition < 0) {
		log_err("partition numbers start at 1");
		return -EINVAL;
	}
	if (partition > 0) {
		r = partition_find(path, partition, &off, &size);
		if (r < 0)
			return r;
	}
	r = storage_open(path, flags, ret_st);
	if (r < 0 || partition == 0)
		return r;
	r = storage_set_window(*ret_st, off, size);
	if (r < 0) {
		storage_free(*ret_st);
		*ret_st = NULL;
	}
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

static int recover_conversion(struct vmc_image *img)
{
	char *journal = journal_path(img->hdr);
	int r = 0;

	if (!journal)
		return -ENOMEM;
	if (access(journal, F_OK) == 0) {
		if (img->read_only) {
			log_err(
			    "%s: a conversion was interrupted; open the image for writing (e.g. "
			    "vmcrypt repair) to roll it back from %s",
			    storage_path(img->hdr), journal);
			r = VMC_EBUSY;
		} else {
			r = luks_convert_recover(img->hdr, journal);
			if (r < 0) {
				/* An unusable journal while the image's own header is intact:
				 * stale. */
				struct luks_meta m;
				memset(&m, 0, sizeof(m));
				log_mute();
				if (luks_meta_load(img->hdr, &m, NULL) == 0) {
					unlink(journal);
					r = 0;
				}
				log_unmute();
				luks_meta_clear(&m);
				if (r == 0)
					log_warn(
					    "%s: removed an incomplete conversion journal; the "
					    "image's header is intact",
					    storage_path(img->hdr));
			}
		}
	}
	free(journal);
	return r;
}

VMC_API int vmc_image_open(const char *path, const struct vmc_open_params *p,
			   struct vmc_image **ret_img)
{
	struct vmc_open_params defaults = {.read_only = true};
	struct vmc_image *img = NULL;
	unsigned flags;
	int r;

	if (!p)
		p = &defaults;
	flags = p->read_only ? STORAGE_RDONLY : 0;
	img = calloc(1, sizeof(*img));
	if (!img)
		return -ENOMEM;
	r = open_data(path, flags, p->partition, &img->data);
	if (r < 0)
		goto out;
	if (p->header) {
		r = storage_open(p->header, flags, &img->hdr);
		if (r < 0)
			goto out;
		r = storage_lock(img->hdr, !p->read_only);
		if (r < 0)
			goto out;
	} else {
		img->hdr = img->data;
	}
	r = storage_lock(img->data, !p->read_only);
	if (r < 0)
		goto out;
	img->read_only = p->read_only;
	r = recover_conversion(img);
	if (r < 0)
		goto out;
	r = luks_meta_load(img->hdr, &img->meta, &img->damaged);
	if (img->hdr == img->data) {
		int j = inplace_recover(img->data, r == 0);
		if (j < 0 && r == 0)
			r = j;
	}
	if (r < 0)
		goto out;
	if (luks_meta_data_segment(&img->meta) < 0) {
		log_err("%s: the header has no data segment", path);
		r = VMC_ECORRUPT;
		goto out;
	}
	if (img->meta.requirement[0] && !p->read_only)
		log_warn("%s: header has unknown mandatory requirement '%s': it will not be "
			 "modified",
			 path, img->meta.requirement);
	*ret_img = img;
	img = NULL;
out:
	vmc_image_free(img);
	return r;
}

VMC_API void vmc_image_free(struct vmc_image *img)
{
	if (!img)
		return;
	volume_free(img->vol);
	secmem_free(img->vk);
	reenc_keys_clear(&img->keys);
	luks_meta_clear(&img->meta);
	if (img->hdr != img->data)
		storage_free(img->hdr);
	storage_free(img->data);
	free(img);
}

VMC_API int vmc_image_luks_version(const struct vmc_image *img)
{
	return img->meta.version;
}

const struct luks_segment *image_data_segment(const struct vmc_image *img)
{
	return &img->meta.segments[luks_meta_data_segment(&img->meta)];
}

VMC_API uint64_t vmc_image_size(const struct vmc_image *img)
{
	const struct luks_segment *s = image_data_segment(img);
	uint64_t dev = 0;

	if (img->vol)
		return volume_size(img->vol);
	if (!s->dynamic)
		return s->size;
	if (storage_size(img->data, &dev) < 0 || dev < s->offset)
		return 0;
	return (dev - s->offset) / s->sector_size * s->sector_size;
}

VMC_API uint64_t vmc_image_data_offset(const struct vmc_image *img)
{
	return image_data_segment(img)->offset;
}

VMC_API uint32_t vmc_image_sector_size(const struct vmc_image *img)
{
	return image_data_segment(img)->sector_size;
}

VMC_API int vmc_image_dump(struct vmc_image *img, bool json, char **ret_text)
{
	return luks_describe(&img->meta, vmc_image_size(img), json, ret_text);
}

/* Takes ownership of vk and sets up plaintext access. */
int image_attach_key(struct vmc_image *img, uint8_t *vk, size_t vk_len)
{
	uint64_t dev = 0;
	int r;

	secmem_warn_unlocked();
	r = storage_size(img->data, &dev);
	if (r < 0) {
		secmem_free(vk);
		return r;
	}
	volume_free(img->vol);
	img->vol = NULL;
	secmem_free(img->vk);
	img->vk = vk;
	img->vk_len = vk_len;
	{
		const struct luks_segment *seg = image_data_segment(img);
		struct volume_spec spec = {
		    .offset = seg->offset,
		    .size = seg->size,
		    .dynamic = seg->dynamic,
		    .iv_tweak = seg->iv_tweak,
		    .cipher = seg->cipher,
		    .sector_size = seg->sector_size,
		    .key = vk,
		    .key_len = vk_len,
		};
		return volume_new(img->data, &spec, 1, dev, &img->vol);
	}
}

VMC_API int vmc_image_unlock(struct vmc_image *img, const void *pass, size_t pass_len, int keyslot,
			     int *ret_keyslot)
{
	uint8_t *vk = NULL;
	int slot = -1, r;

	if (img->meta.requirement[0]) {
		/* Like cryptsetup: an unknown requirement may change what the data means. */
		log_err("%s: the header has the unknown mandatory requirement '%s'; refusing to "
			"open the data",
			storage_path(img->hdr), img->meta.requirement);
		return VMC_ENOTSUP;
	}
	if (img->meta.reencrypt) {
		r = image_unlock_reenc(img, pass, pass_len);
		if (r == 0 && ret_keyslot)
			*ret_keyslot = -1;
		return r;
	}
	r = luks_keyslot_open_any(&img->meta, img->hdr, keyslot, pass, pass_len, &vk, &slot);
	if (r < 0)
		return r;
	r = image_attach_key(img, vk, img->meta.keyslots[slot].key_size);
	if (r < 0)
		return r;
	log_debug("keyslot %d unlocked", slot);
	if (ret_keyslot)
		*ret_keyslot = slot;
	return 0;
}

VMC_API int vmc_image_volume_key(struct vmc_image *img, uint8_t **ret_key, size_t *ret_len)
{
	uint8_t *copy;

	if (!img->vk)
		return -ENOKEY;
	copy = secmem_dup(img->vk, img->vk_len);
	if (!copy)
		return -ENOMEM;
	*ret_key = copy;
	*ret_len = img->vk_len;
	return 0;
}

static int need_volume(struct vmc_image *img)
{
	if (!img->vol) {
		log_err("%s: image is locked (no passphrase given)", storage_path(img->data));
		return -ENOKEY;
	}
	return 0;
}

VMC_API int vmc_image_read(struct vmc_image *img, void *buf, size_t len, uint64_t offset)
{
	int r = need_volume(img);
	return r < 0 ? r : volume_read(img->vol, buf, len, offset);
}

VMC_API int vmc_image_write(struct vmc_image *img, const void *buf, size_t len, uint64_t offset)
{
	int r = need_volume(img);
	return r < 0 ? r : volume_write(img->vol, buf, len, offset);
}

VMC_API int vmc_image_discard(struct vmc_image *img, uint64_t offset, uint64_t len)
{
	int r = need_volume(img);
	return r < 0 ? r : volume_discard(img->vol, offset, len);
}

VMC_API int vmc_image_flush(struct vmc_image *img)
{
	int r = storage_sync(img->data);
	if (r == 0 && img->hdr != img->data)
		r = storage_sync(img->hdr);
	return r;
}

VMC_API int vmc_image_copy_in(struct vmc_image *img, int fd, uint64_t len,
			      vmc_progress_fn *progress, void *userdata, uint64_t *ret_done)
{
	int r = need_volume(img);
	if (r < 0)
		return r;
	r = volume_copy_in(img->vol, fd, len, progress, userdata, ret_done);
	if (r == 0)
		r = vmc_image_flush(img);
	return r;
}

VMC_API int vmc_image_copy_out(struct vmc_image *img, int fd, bool sparse,
			       vmc_progress_fn *progress, void *userdata)
{
	int r = need_volume(img);
	return r < 0 ? r : volume_copy_out(img->vol, fd, sparse, progress, userdata);
}

VMC_API int vmc_image_create(const char *path, const struct vmc_format_params *p, const void *pass,
			     size_t pass_len, bool overwrite, struct vmc_image **ret_img)
{
	/* A partition lives in an existing disk image: never create or truncate that. */
	unsigned flags =
	    p->partition ? 0 : STORAGE_CREATE | STORAGE_SECRET | (overwrite ? STORAGE_TRUNC : 0);
	struct vmc_image *img = NULL;
	uint8_t *vk = NULL;
	int r;

	img = calloc(1, sizeof(*img));
	if (!img)
		return -ENOMEM;
	r = open_data(path, flags, p->partition, &img->data);
	if (r == -EEXIST)
		log_err("%s already exists", path);
	if (r < 0)
		goto out;
	if (p->header) {
		r = storage_open(p->header,
				 STORAGE_CREATE | (overwrite ? STORAGE_TRUNC : 0) | STORAGE_SECRET,
				 &img->hdr);
		if (r == -EEXIST)
			log_err("%s already exists", p->header);
		if (r < 0)
			goto fail;
		if ((r = storage_lock(img->hdr, true)) < 0)
			goto fail;
	} else {
		img->hdr = img->data;
	}
	if ((r = storage_lock(img->data, true)) < 0)
		goto fail;
	r = luks_format(img->hdr, img->data, p, NULL, pass, pass_len, &img->meta, &vk);
	if (r < 0)
		goto fail;
	r = image_attach_key(img, vk, secmem_len(vk));
	if (r < 0)
		goto out;
	*ret_img = img;
	return 0;
fail:
	/* Nothing usable was made: do not leave a half-written new file behind. */
	if (img->data && !overwrite && !p->partition)
		unlink(path);
	if (p->header && img->hdr && img->hdr != img->data && !overwrite)
		unlink(p->header);
out:
	vmc_image_free(img);
	return r;
}

/* --- keyslots, headers, tokens --- */

int image_need_writable(struct vmc_image *img)
{
	if (img->read_only) {
		log_err("%s: image was opened read-only", storage_path(img->hdr));
		return -EROFS;
	}
	return 0;
}

int image_need_luks2(struct vmc_image *img, const char *what)
{
	if (img->meta.version != 2) {
		log_err("%s needs a LUKS2 header", what);
		return VMC_ENOTSUP;
	}
	return 0;
}

VMC_API int vmc_keyslot_max(const struct vmc_image *img)
{
	return luks_meta_max_keyslots(&img->meta);
}

VMC_API enum vmc_keyslot_state vmc_keyslot_state(const struct vmc_image *img, int keyslot)
{
	if (keyslot < 0 || keyslot >= luks_meta_max_keyslots(&img->meta))
		return VMC_KEYSLOT_INACTIVE;
	switch (img->meta.keyslots[keyslot].kind) {
	case LUKS_KEYSLOT_LUKS2:
		return VMC_KEYSLOT_ACTIVE;
	case LUKS_KEYSLOT_UNUSED:
		return VMC_KEYSLOT_INACTIVE;
	default:
		return VMC_KEYSLOT_RESERVED;
	}
}

VMC_API int vmc_keyslot_count(const struct vmc_image *img)
{
	int n = 0;

	for (int i = 0; i < luks_meta_max_keyslots(&img->meta); i++)
		n += img->meta.keyslots[i].kind == LUKS_KEYSLOT_LUKS2;
	return n;
}

static int plan_kdf(struct vmc_image *img, const struct vmc_kdf_params *p, struct kdf_params *kdf)
{
	static const struct vmc_kdf_params defaults;
	int dig = luks_meta_segment_digest(&img->meta, luks_meta_data_segment(&img->meta));
	const char *hash = img->meta.version == 1 ? img->meta.hash
			   : p && p->hash	  ? p->hash
			   : dig >= 0		  ? img->meta.digests[dig].hash
						  : "sha256";

	if (!p)
		p = &defaults;
	return luks_kdf_plan(img->meta.version, p->pbkdf, hash, p->iter_time_ms,
			     p->force_iterations, p->memory_kib, p->parallel, img->vk_len, kdf,
			     NULL);
}

VMC_API int vmc_keyslot_add(struct vmc_image *img, int keyslot, const void *pass, size_t pass_len,
			    const struct vmc_kdf_params *kdf, int *ret_keyslot)
{
	struct kdf_params k;
	int r;

	if ((r = image_need_writable(img)) < 0)
		return r;
	if (!img->vk) {
		log_err("adding a keyslot needs the volume key: unlock the image first");
		return -ENOKEY;
	}
	if ((r = plan_kdf(img, kdf, &k)) < 0)
		return r;
	return luks_keyslot_add(img->hdr, &img->meta, keyslot, -1, &k, pass, pass_len, img->vk,
				img->vk_len, ret_keyslot);
}

VMC_API int vmc_keyslot_change(struct vmc_image *img, int keyslot, const void *new_pass,
			       size_t new_len, const struct vmc_kdf_params *kdf, int *ret_keyslot)
{
	struct kdf_params k;
	int r;

	if ((r = image_need_writable(img)) < 0)
		return r;
	if (!img->vk) {
		log_err("changing a passphrase needs the volume key: unlock the image first");
		return -ENOKEY;
	}
	if ((r = plan_kdf(img, kdf, &k)) < 0)
		return r;
	return luks_keyslot_change(img->hdr, &img->meta, keyslot, &k, new_pass, new_len, img->vk,
				   img->vk_len, ret_keyslot);
}

VMC_API int vmc_keyslot_kill(struct vmc_image *img, int keyslot)
{
	int r = image_need_writable(img);
	return r < 0 ? r : luks_keyslot_kill(img->hdr, &img->meta, keyslot);
}

VMC_API int vmc_keyslot_set_priority(struct vmc_image *img, int keyslot, int priority)
{
	int r;

	if ((r = image_need_writable(img)) < 0 ||
	    (r = image_need_luks2(img, "keyslot priority")) < 0)
		return r;
	if (vmc_keyslot_state(img, keyslot) != VMC_KEYSLOT_ACTIVE) {
		log_err("keyslot %d is not active", keyslot);
		return -ENOENT;
	}
	r = luks2_json_set_priority(img->meta.json, keyslot, priority);
	if (r < 0) {
		log_err("priority must be 0 (ignore), 1 (normal) or 2 (high)");
		return r;
	}
	return luks_meta_commit(img->hdr, &img->meta);
}

VMC_API int vmc_image_erase(struct vmc_image *img)
{
	int r = image_need_writable(img);
	return r < 0 ? r : luks_erase(img->hdr, &img->meta);
}

VMC_API const char *vmc_image_uuid(const struct vmc_image *img)
{
	return img->meta.uuid;
}

VMC_API bool vmc_image_is_public(const struct vmc_image *img)
{
	return luks_meta_is_public(&img->meta);
}

VMC_API int vmc_image_set_label(struct vmc_image *img, const char *label, const char *subsystem)
{
	int r;

	if ((r = image_need_writable(img)) < 0 ||
	    (r = image_need_luks2(img, "a label or subsystem")) < 0)
		return r;
	if ((label && strlen(label) > 47) || (subsystem && strlen(subsystem) > 47)) {
		log_err("label and subsystem are at most 47 bytes");
		return -EINVAL;
	}
	if (label)
		snprintf(img->meta.label, sizeof(img->meta.label), "%s", label);
	if (subsystem)
		snprintf(img->meta.subsystem, sizeof(img->meta.subsystem), "%s", subsystem);
	return luks_meta_commit(img->hdr, &img->meta);
}

VMC_API int vmc_image_set_uuid(struct vmc_image *img, const char *uuid)
{
	uuid_t u;
	int r;

	if ((r = image_need_writable(img)) < 0)
		return r;
	if (uuid)
		r = uuid_parse(uuid, u);
	else
		uuid_generate_random(u);
	if (r < 0) {
		log_err("'%s' is not a valid UUID", uuid);
		return -EINVAL;
	}
	uuid_unparse_lower(u, img->meta.uuid);
	return luks_meta_commit(img->hdr, &img->meta);
}

VMC_API int vmc_image_repair(struct vmc_image *img, char **ret_report)
{
	const char *msg;
	int r;

	if ((r = image_need_writable(img)) < 0)
		return r;
	if (img->meta.version == 1) {
		msg = "LUKS1 header is valid (LUKS1 keeps a single copy): nothing to repair";
	} else if (!img->damaged) {
		msg = "both LUKS2 header copies are valid and identical: nothing to repair";
	} else {
		r = luks_meta_commit(img->hdr, &img->meta);
		if (r < 0)
			return r;
		img->damaged = false;
		msg =
		    "one LUKS2 header copy was damaged or outdated: both copies rewritten from the "
		    "valid one";
	}
	if (ret_report)
		*ret_report = strdup(msg);
	return 0;
}

VMC_API int vmc_token_import(struct vmc_image *img, int id, const char *json, int *ret_id)
{
	int r;

	if ((r = image_need_writable(img)) < 0 || (r = image_need_luks2(img, "tokens")) < 0)
		return r;
	if (id < 0) {
		id = luks2_json_token_free_id(img->meta.json);
		if (id < 0) {
			log_err("all 32 token slots are in use");
			return id;
		}
	} else {
		char *old = NULL;
		if (luks2_json_token_get(img->meta.json, id, &old) == 0) {
			free(old);
			log_err("token %d is in use", id);
			return -EEXIST;
		}
	}
	r = luks2_json_token_set(img->meta.json, id, json);
	if (r < 0)
		return r;
	r = luks_meta_commit(img->hdr, &img->meta);
	if (r == 0 && ret_id)
		*ret_id = id;
	return r;
}

VMC_API int vmc_token_export(struct vmc_image *img, int id, char **ret_json)
{
	int r = image_need_luks2(img, "tokens");

	if (r < 0)
		return r;
	r = luks2_json_token_get(img->meta.json, id, ret_json);
	if (r == -ENOENT)
		log_err("token %d does not exist", id);
	return r;
}

VMC_API int vmc_token_remove(struct vmc_image *img, int id)
{
	int r;

	if ((r = image_need_writable(img)) < 0 || (r = image_need_luks2(img, "tokens")) < 0)
		return r;
	r = luks2_json_token_remove(img->meta.json, id);
	if (r == -ENOENT) {
		log_err("token %d does not exist", id);
		return r;
	}
	return luks_meta_commit(img->hdr, &img->meta);
}

VMC_API int vmc_header_backup(struct vmc_image *img, const char *file)
{
	return luks_header_backup(img->hdr, &img->meta, file);
}

VMC_API int vmc_header_restore(const char *path, const char *header, const char *backup, bool force)
{
	struct storage *st = NULL;
	struct luks_meta cur;
	bool have_cur;
	int r;

	memset(&cur, 0, sizeof(cur));
	r = storage_open(header ? header : path, 0, &st);
	if (r < 0)
		return r;
	r = storage_lock(st, true);
	if (r < 0)
		goto out;
	/* The current header, if it can be read at all, is what the backup must match. */
	log_mute();
	have_cur = luks_meta_load(st, &cur, NULL) == 0;
	log_unmute();
	r = luks_header_restore(st, have_cur ? &cur : NULL, backup, force);
out:
	luks_meta_clear(&cur);
	storage_free(st);
	return r;
}

int image_convert(struct vmc_image *img, int luks_version, const char *label)
{
	char *journal = NULL;
	int r;

	if ((r = image_need_writable(img)) < 0)
		return r;
	if (luks_version != 1 && luks_version != 2) {
		log_err("convert: --type must be luks1 or luks2");
		return -EINVAL;
	}
	if (!storage_is_regular(img->hdr)) {
		log_err("%s: conversion needs the header in a regular file (it keeps a journal "
			"next to it)",
			storage_path(img->hdr));
		return VMC_ENOTSUP;
	}
	journal = journal_path(img->hdr);
	if (!journal)
		return -ENOMEM;
	volume_free(img->vol);
	img->vol = NULL;
	r = luks_convert(img->hdr, &img->meta, luks_version, label, journal);
	free(journal);
	if (r == 0 && img->vk) {
		uint8_t *vk = secmem_dup(img->vk, img->vk_len);
		r = vk ? image_attach_key(img, vk, img->vk_len) : -ENOMEM;
	}
	return r;
}

VMC_API int vmc_image_convert(struct vmc_image *img, int luks_version)
{
	return image_convert(img, luks_version, NULL);
}
