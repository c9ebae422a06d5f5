/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The public API: image handles over the format, keyslot and volume modules. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/backend.h"
#include "format/create.h"
#include "format/describe.h"
#include "format/keyslot.h"
#include "format/luks1.h"
#include "format/luks2_hdr.h"
#include "util.h"
#include "volume/volume.h"

struct vmc_image {
	struct storage *hdr;  /* header device */
	struct storage *data; /* data device: == hdr unless the header is detached */
	struct luks_meta meta;
	uint8_t *vk; /* secmem, NULL while locked */
	size_t vk_len;
	struct volume *vol;
};

VMC_API void *vmc_secret_alloc(size_t len)
{
	return secmem_alloc(len);
}

VMC_API void vmc_secret_free(void *p)
{
	secmem_free(p);
}

VMC_API int vmc_harden_process(void)
{
	return secmem_harden_process();
}

static int storage_reader(void *ctx, void *buf, size_t len, uint64_t off)
{
	return storage_read(ctx, buf, len, off);
}

/* Reads whichever LUKS version the header device holds. */
static int load_meta(struct storage *st, struct luks_meta *m)
{
	uint8_t buf[LUKS1_HDR_LEN];
	uint64_t size = 0;
	int r;

	r = storage_read(st, buf, sizeof(buf), 0);
	if (r == -ENODATA) {
		log_err("%s: not a LUKS image (too small)", storage_path(st));
		return VMC_ENOTLUKS;
	}
	if (r < 0)
		return r;
	if (memcmp(buf, "LUKS\xba\xbe", 6) == 0 && load_be16(buf + 6) == 1) {
		storage_size(st, &size);
		r = luks1_parse(buf, sizeof(buf), size, m);
	} else {
		r = luks2_hdr_load(storage_reader, st, m, NULL);
	}
	if (r == VMC_ENOTLUKS)
		log_err("%s: not a LUKS image", storage_path(st));
	else if (r == VMC_ECORRUPT)
		log_err("%s: the LUKS header is corrupted", storage_path(st));
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
	r = storage_open(path, flags, &img->data);
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
	r = load_meta(img->hdr, &img->meta);
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

static const struct luks_segment *data_segment(const struct vmc_image *img)
{
	return &img->meta.segments[luks_meta_data_segment(&img->meta)];
}

VMC_API uint64_t vmc_image_size(const struct vmc_image *img)
{
	const struct luks_segment *s = data_segment(img);
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
	return data_segment(img)->offset;
}

VMC_API uint32_t vmc_image_sector_size(const struct vmc_image *img)
{
	return data_segment(img)->sector_size;
}

VMC_API int vmc_image_dump(struct vmc_image *img, bool json, char **ret_text)
{
	return luks_describe(&img->meta, vmc_image_size(img), json, ret_text);
}

/* Takes ownership of vk and sets up plaintext access. */
static int attach_key(struct vmc_image *img, uint8_t *vk, size_t vk_len)
{
	uint64_t dev = 0;
	int r;

	if (img->meta.reencrypt) {
		secmem_free(vk);
		log_err("%s: a re-encryption of this image is unfinished; finish it first",
			storage_path(img->data));
		return VMC_ENOTSUP;
	}
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
	return volume_new(img->data, data_segment(img), dev, vk, vk_len, &img->vol);
}

VMC_API int vmc_image_unlock(struct vmc_image *img, const void *pass, size_t pass_len, int keyslot,
			     int *ret_keyslot)
{
	uint8_t *vk = NULL;
	int slot = -1, r;

	r = luks_keyslot_open_any(&img->meta, img->hdr, keyslot, pass, pass_len, &vk, &slot);
	if (r < 0)
		return r;
	r = attach_key(img, vk, img->meta.keyslots[slot].key_size);
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
	unsigned flags = STORAGE_CREATE | (overwrite ? STORAGE_TRUNC : 0);
	struct vmc_image *img = NULL;
	uint8_t *vk = NULL;
	int r;

	img = calloc(1, sizeof(*img));
	if (!img)
		return -ENOMEM;
	r = storage_open(path, flags, &img->data);
	if (r == -EEXIST)
		log_err("%s already exists", path);
	if (r < 0)
		goto fail;
	if (p->header) {
		r = storage_open(p->header, flags | STORAGE_SECRET, &img->hdr);
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
	r = luks_format(img->hdr, img->data, p, pass, pass_len, &img->meta, &vk);
	if (r < 0)
		goto fail;
	r = attach_key(img, vk, secmem_len(vk));
	if (r < 0)
		goto out;
	*ret_img = img;
	return 0;
fail:
	/* Nothing usable was made: do not leave a half-written new file behind. */
	if (img->data && !overwrite)
		unlink(path);
	if (p->header && img->hdr && img->hdr != img->data && !overwrite)
		unlink(p->header);
out:
	vmc_image_free(img);
	return r;
}
