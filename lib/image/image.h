/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The vmc_image object behind the public API, shared by the files of lib/image. */
#ifndef VMC_IMAGE_IMAGE_H
#define VMC_IMAGE_IMAGE_H

#include "format/meta.h"
#include "io/storage.h"
#include "reencrypt/reencrypt.h"
#include "volume/volume.h"

struct vmc_image {
	struct storage *hdr;  /* header device */
	struct storage *data; /* data device: == hdr unless the header is detached */
	struct luks_meta meta;
	uint8_t *vk; /* secmem, NULL while locked */
	size_t vk_len;
	struct volume *vol;
	struct reenc_keys keys; /* an unfinished re-encryption: a key per digest */
	bool damaged;		/* one LUKS2 header copy is damaged or outdated */
	bool read_only;
	int partition; /* > 0: data is that partition of a disk image (a fixed window) */
};

/*
 * The one constructor: a handle on the data device at path (partition > 0:
 * that partition of a disk image) opened with data_flags, the header in its
 * own file when header is set (opened with hdr_flags), both locked, exclusive
 * unless read_only. Nothing is read yet. Errors are logged.
 */
int image_new(const char *path, int partition, unsigned data_flags, const char *format,
	      const char *header, unsigned hdr_flags, bool read_only, struct vmc_image **ret_img);

/*
 * Opens the disk at path with storage_open's flags (partition > 0: that
 * partition of it): format NULL probes: a raw file, block device or NBD
 * export as it is, a VM image container QEMU reads (qcow2, VMDK, VDI, VHDX, VHD, QED) as
 * the disk its guest sees, through a private QEMU (io/qemu.c); any other
 * container refused with VMC_ENOTSUP and one message; "raw" takes the bytes
 * as they are; another format name opens that format through QEMU. Errors
 * are logged.
 */
int image_disk_open(const char *path, unsigned flags, int partition, const char *format,
		    struct storage **ret_st);

/* -ENOKEY (reported) unless the image is unlocked: plaintext access needs the volume key. */
int image_need_volume(struct vmc_image *img);

/* Takes ownership of vk (secmem) and sets up plaintext access over the data segment. */
int image_attach_key(struct vmc_image *img, uint8_t *vk, size_t vk_len);
/*
 * After the engine changed the header: plaintext access with what it now
 * says (both layouts mid-way, the key of the data segment once finished, none
 * once decrypted).
 */
int image_reattach(struct vmc_image *img);
/*
 * Unlocks an image whose re-encryption is unfinished: the keys of both layouts
 * (one passphrase must open both), recovery of a crashed hotzone when the
 * image is writable, then plaintext access over the segment list.
 */
int image_unlock_reenc(struct vmc_image *img, const void *pass, size_t pass_len);
/* The device as the re-encryption engine borrows it. */
struct reenc_dev image_dev(struct vmc_image *img);
/* -EROFS with a message when the image was opened read-only. */
int image_need_writable(struct vmc_image *img);
/* VMC_ENOTSUP with a message naming what needs LUKS2. */
int image_need_luks2(struct vmc_image *img, const char *what);
/* The data segment (first regular crypt segment). */
const struct luks_segment *image_data_segment(const struct vmc_image *img);
/* 0 when vmcrypt can use the header's data segments, else VMC_ENOTSUP (said once). */
int image_data_check(const struct vmc_image *img);

#endif
