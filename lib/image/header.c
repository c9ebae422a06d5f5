/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The public API on an image's header: keyslots, tokens, label and UUID, repair, backup,
 * conversion. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "base/log.h"
#include "base/util.h"
#include "crypto/backend.h"
#include "format/backup.h"
#include "format/convert.h"
#include "format/create.h"
#include "format/keyslot.h"
#include "format/luks2_json.h"
#include "format/manage.h"
#include "image/image.h"
#include "qcow2/qcow2.h"
#include "qcow2/qcow2_io.h"

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

/* An encrypted qcow2 file (by its magic) gets the window over its LUKS header; others stay. */
static int restore_qcow2_window(struct storage *st)
{
	uint8_t magic[36];
	uint64_t size = 0;
	int r;

	if ((r = storage_size(st, &size)) < 0 || size < sizeof(magic))
		return r;
	if ((r = storage_read(st, magic, sizeof(magic), 0)) < 0)
		return r;
	if (load_be32(magic) != QCOW2_MAGIC)
		return 0;
	if ((r = qcow2_lock_take(st, true)) < 0 || (r = qcow2_lock_check(st, true)) < 0)
		return r;
	return image_qcow2_window(st);
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
	/* QEMU's encrypted qcow2: the LUKS header is the window over its clusters. */
	if (!header && (r = restore_qcow2_window(st)) < 0)
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

VMC_API int vmc_image_convert(struct vmc_image *img, int luks_version)
{
	int r;

	if ((r = image_need_writable(img)) < 0 ||
	    (r = image_qcow2_refuse(img, "converting the LUKS header (QEMU reads only LUKS1)")) < 0)
		return r;
	if (luks_version != 1 && luks_version != 2) {
		log_err("convert: --type must be luks1 or luks2");
		return -EINVAL;
	}
	r = luks_convert(img->hdr, &img->meta, luks_version, NULL);
	return r < 0 ? r : image_reattach(img);
}
