/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Resizing an image: its data file, and the LUKS2 data segment when that has a fixed size. */
#include <errno.h>
#include <stdint.h>

#include "base/log.h"
#include "format/luks2_json.h"
#include "format/manage.h"
#include "image/image.h"
#include "io/storage.h"

/* The sizes before and after, and what must change. */
struct resize_plan {
	uint64_t file_old, file_new; /* the data file (== when it keeps its size) */
	uint64_t seg_old, seg_new;   /* plaintext bytes of the data segment */
	bool set_segment;	     /* the header's segment size changes */
	bool dynamic;		     /* what the segment's "size" becomes */
};

/* Anything that forbids a resize whatever the size: unfinished work, unknown rules. */
static int resize_allowed(struct vmc_image *img)
{
	const char *path = storage_path(img->hdr);
	int r;

	if ((r = image_need_writable(img)) < 0 || (r = image_qcow2_refuse(img, "resize")) < 0)
		return r;
	if (img->meta.reencrypt) {
		log_err("%s: a re-encryption is unfinished; finish it (vmcrypt rekey --resume) "
			"before resizing",
			path);
		return VMC_ENOTSUP;
	}
	if (img->meta.requirement[0]) {
		log_err("%s: the header has the unknown mandatory requirement '%s'; refusing to "
			"resize",
			path, img->meta.requirement);
		return VMC_ENOTSUP;
	}
	if (!img->partition && !storage_is_regular(img->data)) {
		/* A device or an export keeps its size; a container's is QEMU's to change. */
		log_err("%s is not a raw image file: resize a VM image container (qcow2, VMDK, "
			"...) with qemu-img resize, a block device or NBD export where it is "
			"provided",
			storage_path(img->data));
		return VMC_ENOTSUP;
	}
	return 0;
}

/* The smallest data file: the header and key slots when they live in it, and one data sector. */
static uint64_t resize_min_file(const struct vmc_image *img, uint64_t sector)
{
	uint64_t min = image_data_segment(img)->offset;

	if (img->hdr == img->data && img->meta.version == 2 &&
	    2 * img->meta.hdr_size + img->meta.keyslots_size > min)
		min = 2 * img->meta.hdr_size + img->meta.keyslots_size;
	return min + sector;
}

/* A partition keeps its size: only a fixed LUKS2 segment inside it can change, up to its end. */
static int plan_partition(struct vmc_image *img, uint64_t new_size, struct resize_plan *p)
{
	const struct luks_segment *s = image_data_segment(img);
	const char *path = storage_path(img->data);
	uint64_t part = 0, room;
	int r;

	if ((r = storage_size(img->data, &part)) < 0)
		return r;
	room = part > s->offset ? (part - s->offset) / s->sector_size * s->sector_size : 0;
	p->file_old = p->file_new = part;
	p->seg_old = luks_meta_data_size(&img->meta, part);
	p->seg_new = new_size;
	if (img->meta.version == 1) {
		log_err("%s: LUKS1 data runs to the end of partition %d: it changes size only with "
			"the partition",
			path, img->partition);
		return VMC_ENOTSUP;
	}
	if (new_size > room) {
		log_err("%s: partition %d has room for at most %llu bytes of data; growing the "
			"partition itself is not vmcrypt's job (use a partitioning tool first)",
			path, img->partition, (unsigned long long)room);
		return -ENOSPC;
	}
	/* A dynamic segment already fills the partition; a smaller one becomes fixed. */
	p->set_segment = s->dynamic ? new_size < p->seg_old : new_size != s->size;
	p->dynamic = false;
	return 0;
}

/* A data file: it changes, and a fixed segment follows it to its new end. */
static int plan_file(struct vmc_image *img, uint64_t new_size, struct resize_plan *p)
{
	const struct luks_segment *s = image_data_segment(img);
	int r;

	if ((r = storage_size(img->data, &p->file_old)) < 0)
		return r;
	p->file_new = new_size;
	p->seg_old = luks_meta_data_size(&img->meta, p->file_old);
	p->seg_new = luks_meta_data_size(&img->meta, new_size);
	if (img->meta.version == 2 && !s->dynamic) {
		/* The checks before guarantee new_size > offset. */
		p->seg_new = new_size - s->offset;
		p->set_segment = p->seg_new != s->size;
	}
	p->dynamic = s->dynamic;
	return 0;
}

static int resize_plan(struct vmc_image *img, uint64_t new_size, bool allow_shrink,
		       struct resize_plan *p)
{
	const struct luks_segment *s = image_data_segment(img);
	const char *path = storage_path(img->data);
	uint64_t sector = img->meta.version == 1 ? LUKS_SECTOR : s->sector_size;
	uint64_t min = img->partition ? sector : resize_min_file(img, sector);
	int r;

	if (new_size > INT64_MAX) {
		log_err("%s: %llu bytes is too large", path, (unsigned long long)new_size);
		return -EFBIG;
	}
	if (new_size % sector) {
		log_err("%s: %llu bytes is not a multiple of the %llu-byte sector size of the data "
			"segment",
			path, (unsigned long long)new_size, (unsigned long long)sector);
		return -EINVAL;
	}
	if (new_size < min) {
		if (img->partition)
			log_err("%s: the data segment needs at least one %llu-byte sector", path,
				(unsigned long long)sector);
		else
			log_err("%s: %llu bytes would cut into the LUKS header and key slots: the "
				"data starts at byte %llu, so the image needs at least %llu bytes",
				path, (unsigned long long)new_size, (unsigned long long)s->offset,
				(unsigned long long)min);
		return -EINVAL;
	}
	if (!img->partition && (new_size - s->offset) % sector) {
		log_err("%s: the data offset %llu is not a multiple of the %llu-byte sector size",
			path, (unsigned long long)s->offset, (unsigned long long)sector);
		return VMC_ECORRUPT;
	}
	r = img->partition ? plan_partition(img, new_size, p) : plan_file(img, new_size, p);
	if (r < 0)
		return r;
	if (!allow_shrink && (p->file_new < p->file_old || p->seg_new < p->seg_old)) {
		log_err("%s: shrinking from %llu to %llu bytes of data destroys what lies beyond; "
			"it must be allowed explicitly",
			path, (unsigned long long)p->seg_old, (unsigned long long)p->seg_new);
		return -EINVAL;
	}
	return 0;
}

static int commit_segment(struct vmc_image *img, const struct resize_plan *p)
{
	int seg = luks_meta_data_segment(&img->meta), r;

	if (!p->set_segment)
		return 0;
	r = luks2_json_set_segment_size(img->meta.json, seg, p->dynamic, p->seg_new);
	if (r == 0)
		r = luks_meta_commit(img->hdr, &img->meta);
	if (r == 0)
		img->damaged = false; /* both copies were written */
	return r;
}

static int set_file(struct vmc_image *img, const struct resize_plan *p)
{
	int r;

	if (p->file_new == p->file_old)
		return 0;
	/* Sparse: ftruncate() extends without writing; the new size is durable before the header.
	 */
	r = storage_truncate(img->data, p->file_new);
	return r < 0 ? r : storage_sync(img->data);
}

VMC_API int vmc_image_resize(struct vmc_image *img, uint64_t new_size, bool allow_shrink)
{
	struct resize_plan p = {0};
	bool shrink;
	int r;

	if ((r = resize_allowed(img)) < 0 || (r = resize_plan(img, new_size, allow_shrink, &p)) < 0)
		return r;
	shrink = p.file_new < p.file_old || p.seg_new < p.seg_old;
	/*
	 * The invariant at every instant: the data segment ends within the file.
	 * Growing, the file first: a crash before the header commit leaves a larger
	 * file under the old segment (harmless). Shrinking, the header first: a crash
	 * before the truncation leaves the smaller segment in the old file.
	 */
	if (shrink)
		r = commit_segment(img, &p);
	else
		r = set_file(img, &p);
	if (r < 0)
		return r;
	r = shrink ? set_file(img, &p) : commit_segment(img, &p);
	if (r < 0)
		return r;
	log_debug("%s: data file %llu -> %llu bytes, data segment %llu -> %llu bytes",
		  storage_path(img->data), (unsigned long long)p.file_old,
		  (unsigned long long)p.file_new, (unsigned long long)p.seg_old,
		  (unsigned long long)p.seg_new);
	/* An unlocked image's plaintext view takes the new size. */
	return img->vol ? image_reattach(img) : 0;
}

VMC_API uint64_t vmc_image_extent(const struct vmc_image *img)
{
	uint64_t size = 0;

	if (storage_size(img->data, &size) < 0)
		return 0;
	return img->partition ? luks_meta_data_size(&img->meta, size) : size;
}
