/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmc_disk: a plain disk (raw file, NBD export, or container through QEMU) for encrypt's source and
 * decrypt's output. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"
#include "image/image.h"
#include "io/storage.h"
#include "io/storage_backend.h"
#include "volume/volume.h"

struct vmc_disk {
	struct storage *st;
	uint64_t size;
	bool zeroed; /* new: reads zeros everywhere, so zero blocks need not be written */
};

static int disk_new(struct storage *st, bool zeroed, struct vmc_disk **ret_disk)
{
	struct vmc_disk *d = calloc(1, sizeof(*d));
	int r;

	if (!d) {
		storage_free(st);
		return -ENOMEM;
	}
	d->st = st;
	d->zeroed = zeroed;
	if ((r = storage_size(st, &d->size)) < 0) {
		vmc_disk_free(d);
		return r;
	}
	*ret_disk = d;
	return 0;
}

VMC_API int vmc_disk_open(const char *path, const char *format, bool read_only,
			  struct vmc_disk **ret_disk)
{
	struct storage *st = NULL;
	int r = image_disk_open(path, read_only ? STORAGE_RDONLY : 0, 0, format, &st);

	if (r < 0)
		return r;
	if (!read_only && (r = storage_lock(st, true)) < 0) {
		storage_free(st);
		return r;
	}
	return disk_new(st, false, ret_disk);
}

VMC_API int vmc_disk_create(const char *path, const char *format, uint64_t size, bool overwrite,
			    struct vmc_disk **ret_disk)
{
	bool raw = !format || strcmp(format, "raw") == 0;
	struct storage *st = NULL;
	int r;

	if (storage_nbd_uri(path)) {
		/* An export exists: written into, the size must fit. */
		if ((r = image_disk_open(path, 0, 0, "raw", &st)) < 0)
			return r;
		if ((r = storage_truncate(st, size)) < 0) {
			storage_free(st);
			return r;
		}
		return disk_new(st, false, ret_disk);
	}
	if (raw) {
		unsigned flags = STORAGE_CREATE | STORAGE_SECRET | (overwrite ? STORAGE_TRUNC : 0);
		r = storage_open(path, flags, &st);
		if (r == -EEXIST)
			log_err("%s already exists", path);
		if (r == 0 && (r = storage_truncate(st, size)) < 0) {
			storage_free(st);
			unlink(path);
		}
		if (r < 0)
			return r;
		return disk_new(st, true, ret_disk);
	}
	r = storage_qemu_create(path, format, size, overwrite);
	if (r == -EEXIST)
		log_err("%s already exists", path);
	if (r < 0)
		return r;
	if ((r = image_disk_open(path, 0, 0, format, &st)) < 0) {
		unlink(path);
		return r;
	}
	return disk_new(st, true, ret_disk);
}

struct storage *image_disk_storage(struct vmc_disk *disk)
{
	return disk->st;
}

uint64_t image_disk_size(const struct vmc_disk *disk)
{
	return disk->size;
}

VMC_API bool vmc_is_nbd_uri(const char *path)
{
	return storage_nbd_uri(path);
}

VMC_API uint64_t vmc_disk_size(const struct vmc_disk *disk)
{
	return disk->size;
}

VMC_API void vmc_disk_free(struct vmc_disk *disk)
{
	if (!disk)
		return;
	storage_free(disk->st);
	free(disk);
}

VMC_API int vmc_image_copy_in_disk(struct vmc_image *img, struct vmc_disk *disk,
				   vmc_progress_fn *progress, void *userdata, uint64_t *ret_done)
{
	int r = image_need_volume(img);

	if (r == 0)
		r = image_qcow2_refuse(img, "writing the guest disk in place");
	if (r < 0)
		return r;
	r = volume_copy_in_storage(img->vol, disk->st, progress, userdata, ret_done);
	if (r == 0)
		r = vmc_image_flush(img);
	return r;
}

VMC_API int vmc_image_copy_out_disk(struct vmc_image *img, struct vmc_disk *disk,
				    vmc_progress_fn *progress, void *userdata)
{
	int r = image_need_volume(img);

	if (r == 0 && img->qcow2)
		return image_qcow2_copy_out(img, -1, false, disk->st, disk->zeroed, progress,
					    userdata);
	return r < 0
		   ? r
		   : volume_copy_out_storage(img->vol, disk->st, disk->zeroed, progress, userdata);
}
