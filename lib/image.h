/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The image handle behind the public API, shared by the files that implement it. */
#ifndef VMC_IMAGE_H
#define VMC_IMAGE_H

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
};

/* Takes ownership of vk (secmem) and sets up plaintext access over the data segment. */
int image_attach_key(struct vmc_image *img, uint8_t *vk, size_t vk_len);
/*
 * Unlocks an image whose re-encryption is unfinished: the keys of both layouts
 * (one passphrase must open both), recovery of a crashed hotzone when the
 * image is writable, then plaintext access over the segment list.
 */
int image_unlock_reenc(struct vmc_image *img, const void *pass, size_t pass_len);
/* -EROFS with a message when the image was opened read-only. */
int image_need_writable(struct vmc_image *img);
/* VMC_ENOTSUP with a message naming what needs LUKS2. */
int image_need_luks2(struct vmc_image *img, const char *what);
/* The data segment (first regular crypt segment). */
const struct luks_segment *image_data_segment(const struct vmc_image *img);

/*
 * An in-place encryption with a data shift keeps the start of the image in
 * PATH.vmcrypt-encrypt until its header is written. With header_ok the journal
 * is stale and removed; otherwise the start of the image is restored from it.
 */
int inplace_recover(struct storage *st, bool header_ok);

/* vmc_image_convert, giving a new LUKS2 header a label. */
int image_convert(struct vmc_image *img, int luks_version, const char *label);

/* The engine's plan from the public re-encryption parameters. */
void image_reenc_plan(const struct vmc_reencrypt_params *p, struct reenc_plan *plan);

#endif
