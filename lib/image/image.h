/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The vmc_image object behind the public API, shared by the files of lib/image. */
#ifndef VMC_IMAGE_IMAGE_H
#define VMC_IMAGE_IMAGE_H

#include <pthread.h>

#include "format/meta.h"
#include "io/storage.h"
#include "qcow2/qcow2.h"
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
	struct image_qcow2 *qcow2; /* QEMU's encrypted qcow2 (qcow2.c), else NULL */
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

/* The storage under a vmc_disk (disk.c), and its size. */
struct storage *image_disk_storage(struct vmc_disk *disk);
uint64_t image_disk_size(const struct vmc_disk *disk);

/* QEMU's encrypted qcow2 (qcow2.c, qcow2_create.c, qcow2_rekey.c). */
struct image_qcow2 {
	struct qcow2_header h;
	struct qcow2_snapshot *snaps;
	struct qcow2_map *map; /* the active L1 table */
	pthread_mutex_t lock;  /* the map caches one L2 table */
	bool rekey_pending;    /* an in-place re-key is unfinished (feature bit 63) */
};
/*
 * An unfinished re-key's new LUKS header: its offset in the file, and whether
 * the re-key is finishing (the old header may be torn: read the new one).
 */
int image_qcow2_rekey_window(struct storage *data, uint64_t *ret_off, bool *ret_finishing);
/* vmc_image_rekey for an encrypted qcow2: start, or resume, an in-place re-key. */
int image_qcow2_rekey(struct vmc_image *img, const void *pass, size_t pass_len,
		      const struct vmc_reencrypt_params *p);
/*
 * Opens the encrypted qcow2 at path: locks (flock and QEMU's lock bytes),
 * header checks and refusals (legacy AES, external data file, dirty, corrupt),
 * the LUKS1 header through a window over its clusters, the snapshot table
 * and the active L1 table. Errors are logged.
 */
int image_qcow2_open(const char *path, bool read_only, struct vmc_image **ret_img);
void image_qcow2_free(struct image_qcow2 *q);
/* Reads and checks the qcow2 header of st. */
int image_qcow2_header(struct storage *st, struct qcow2_header *ret_h);
/* Restricts st (an encrypted qcow2 file) to its LUKS header's clusters. */
int image_qcow2_window(struct storage *st);
/* The guest disk's size. */
uint64_t image_qcow2_size(const struct vmc_image *img);
/* The cipher view over the whole file that decrypts host offsets (IV = host offset / 512). */
struct volume_spec image_qcow2_spec(const struct vmc_image *img, const uint8_t *vk, size_t vk_len);
/* VMC_ENOTSUP with a message naming what when img is a qcow2 image; 0 otherwise. */
int image_qcow2_refuse(const struct vmc_image *img, const char *what);
/* Plaintext read of the guest disk (unlocked image). */
int image_qcow2_read(struct vmc_image *img, uint8_t *buf, size_t len, uint64_t off);
/*
 * The whole guest disk out to fd (sparse: holes skipped by offset; else written
 * in order) or to dst (zeroed: zero stretches skipped).
 */
int image_qcow2_copy_out(struct vmc_image *img, int fd, bool sparse, struct storage *dst,
			 bool zeroed, vmc_progress_fn *progress, void *userdata);
/* The plaintext of a new image's disk: size bytes, read in pieces. */
struct image_plain_source {
	volume_source_fn *read;
	void *ctx;
	uint64_t size;
};
/*
 * vmc_qcow2_encrypt's writer (qcow2_create.c): a new thin encrypted qcow2 at
 * path holding src's plaintext, its LUKS1 header made from p and pass, or with
 * carry (a LUKS1 image whose volume key is p->volume_key) that header's region
 * copied as it is, every keyslot kept. An incomplete file is removed.
 */
int image_qcow2_write(const char *path, const struct vmc_format_params *p, const void *pass,
		      size_t pass_len, const struct vmc_image *carry, bool overwrite,
		      const struct image_plain_source *src, vmc_progress_fn *progress,
		      void *userdata);
/* The dump: the container's facts, then the LUKS header's. */
int image_qcow2_dump(struct vmc_image *img, bool json, char **ret_text);

#endif
