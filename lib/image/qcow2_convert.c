/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vmc_image_convert_copy: QEMU's encrypted qcow2 into a new raw LUKS1 or LUKS2
 * image, and a raw LUKS image into a new encrypted qcow2, re-encrypted in one
 * stream (the IVs differ: a qcow2 data cluster's come from its host offset, a
 * raw LUKS sector's from its place in the data segment). Plaintext exists only
 * in the stream's buffers; the header keeps the volume key and its keyslots
 * where the target format can hold them.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"
#include "crypto/backend.h"
#include "format/backup.h"
#include "format/convert.h"
#include "format/luks1.h"
#include "format/manage.h"
#include "image/image.h"
#include "io/storage.h"
#include "qcow2/qcow2.h"
#include "volume/volume.h"

/* A raw LUKS1 image made from a carried header puts its data at a multiple of 1 MiB. */
#define RAW_DATA_ALIGN (1u << 20)

/* The source image's plaintext, as a stream reads it: qcow2 clusters or LUKS sectors. */
static int image_source(void *ctx, uint8_t *buf, size_t len, uint64_t off)
{
	return vmc_image_read(ctx, buf, len, off);
}

/* Where an interrupted LUKS1 -> LUKS2 header conversion of path keeps its journal. */
static void remove_outputs(const char *path)
{
	char *journal = NULL;

	unlink(path);
	if (asprintf(&journal, "%s.vmcrypt-convert", path) >= 0) {
		unlink(journal);
		free(journal);
	}
}

/*
 * QEMU's LUKS driver opens aes, serpent, twofish and cast5 in the ecb, cbc, xts
 * and ctr modes with the plain, plain64 and essiv IV generators.
 */
static bool qemu_cipher(const char *spec)
{
	static const char *const names[] = {"aes-", "serpent-", "twofish-", "cast5-"};
	static const char *const modes[] = {"ecb-", "cbc-", "xts-", "ctr-"};
	const char *rest = NULL, *iv = NULL;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && !rest; i++)
		if (strncmp(spec, names[i], strlen(names[i])) == 0)
			rest = spec + strlen(names[i]);
	for (size_t i = 0; rest && i < sizeof(modes) / sizeof(modes[0]) && !iv; i++)
		if (strncmp(rest, modes[i], strlen(modes[i])) == 0)
			iv = rest + strlen(modes[i]);
	return iv && (strcmp(iv, "plain") == 0 || strcmp(iv, "plain64") == 0 ||
		      strncmp(iv, "essiv:", 6) == 0);
}

/*
 * A raw LUKS image at path with the qcow2's LUKS1 header: its region copied as
 * it is (keyslots, digest, UUID), the payload moved to a 1 MiB boundary after
 * it (QEMU's header ends at sector 4040), then converted to LUKS2 if asked.
 * Returns the image opened, with the volume key attached.
 */
static int carry_header(struct vmc_image *src, const char *path, int version, uint64_t size,
			bool overwrite, struct vmc_image **ret_dst)
{
	struct vmc_open_params op = {.raw = true};
	struct storage *st = NULL;
	struct luks_meta m;
	uint64_t data_off = round_up_u64(luks_header_region(&src->meta), RAW_DATA_ALIGN);
	uint8_t *vk = NULL;
	int r;

	memset(&m, 0, sizeof(m));
	r = storage_open(path, STORAGE_CREATE | STORAGE_SECRET | (overwrite ? STORAGE_TRUNC : 0),
			 &st);
	if (r == -EEXIST)
		log_err("%s already exists", path);
	if (r < 0)
		return r;
	/* From here on the file is ours: any failure removes it. */
	if ((r = storage_lock(st, true)) < 0 ||
	    (r = luks_header_copy(src->hdr, &src->meta, st)) < 0 ||
	    (r = storage_truncate(st, data_off + size)) < 0 ||
	    (r = luks_meta_load(st, &m, NULL)) < 0)
		goto out;
	m.payload_offset = (uint32_t)(data_off / LUKS_SECTOR);
	m.segments[0].offset = data_off;
	if ((r = luks_meta_commit(st, &m)) < 0)
		goto out;
	/* The same conversion as vmcrypt convert --type luks2 in place, on the header only. */
	if (version == 2 && (r = luks_convert(st, &m, 2, NULL)) < 0)
		goto out;
	if ((r = storage_sync(st)) < 0)
		goto out;
	storage_free(st);
	st = NULL;
	if ((r = vmc_image_open(path, &op, ret_dst)) < 0)
		goto out;
	vk = secmem_dup(src->vk, src->vk_len);
	r = vk ? image_attach_key(*ret_dst, vk, src->vk_len) : -ENOMEM;
	if (r < 0) {
		vmc_image_free(*ret_dst);
		*ret_dst = NULL;
	}
out:
	luks_meta_clear(&m);
	storage_free(st);
	if (r < 0)
		remove_outputs(path);
	return r;
}

/* The new header's format: the source's cipher and key size, the caller's KDF. */
static struct vmc_format_params new_format(const struct vmc_image *src, const char *cipher,
					   const struct vmc_convert_params *p)
{
	return (struct vmc_format_params){
	    .luks_version = p->qcow2 ? 1 : p->luks_version,
	    .cipher = cipher,
	    .key_bits = (uint32_t)src->vk_len * 8,
	    .hash = src->meta.version == 1 ? src->meta.hash : p->kdf.hash,
	    .pbkdf = p->kdf.pbkdf,
	    .iter_time_ms = p->kdf.iter_time_ms,
	    .force_iterations = p->kdf.force_iterations,
	    .pbkdf_memory_kib = p->kdf.memory_kib,
	    .pbkdf_parallel = p->kdf.parallel,
	    .keyslot = -1,
	    .raw = true,
	};
}

static int to_raw(struct vmc_image *src, const void *pass, size_t pass_len, const char *path,
		  const struct vmc_convert_params *p)
{
	const struct qcow2_header *h = &src->qcow2->h;
	const char *spath = storage_path(src->data);
	struct vmc_image *dst = NULL;
	int r;

	/* Each constructor removes its own incomplete file; after it, the stream's failure does. */
	if (p->luks_version != 1 && p->luks_version != 2) {
		log_err("a raw LUKS image is LUKS1 or LUKS2");
		return -EINVAL;
	}
	if (h->backing_file[0]) {
		/* The active layer's unallocated clusters are the backing file's, under its key. */
		log_err("%s: has the backing file %s, whose data is part of the disk: convert the "
			"chain into one image first (qemu-img convert)",
			spath, h->backing_file);
		return VMC_ENOTSUP;
	}
	if (h->nb_snapshots)
		log_warn("%s: %" PRIu32 " internal snapshot(s) not converted: %s holds the "
			 "active disk only",
			 spath, h->nb_snapshots, path);
	if (p->new_volume_key) {
		struct vmc_format_params fp = new_format(src, src->meta.cipher, p);
		fp.data_size = h->size;
		/* A raw LUKS2 image's sectors default to 4096 bytes when the size allows. */
		r = vmc_image_create(path, &fp, p->new_pass ? p->new_pass : pass,
				     p->new_pass ? p->new_pass_len : pass_len, p->overwrite, &dst);
	} else {
		r = carry_header(src, path, p->luks_version, h->size, p->overwrite, &dst);
	}
	if (r < 0)
		return r;
	r = volume_copy_in_source(dst->vol, h->size, image_source, src, p->progress, p->userdata,
				  NULL);
	if (r == 0)
		r = vmc_image_flush(dst);
	vmc_image_free(dst);
	if (r < 0)
		remove_outputs(path);
	return r;
}

static int to_qcow2(struct vmc_image *src, const void *pass, size_t pass_len, const char *path,
		    const struct vmc_convert_params *p)
{
	const struct luks_segment *seg = image_data_segment(src);
	const char *spath = storage_path(src->hdr);
	struct image_plain_source plain = {image_source, src, vmc_image_size(src)};
	struct vmc_format_params fp;
	const struct vmc_image *carry = NULL;
	int r;

	if (vmc_image_reencrypt_pending(src)) {
		log_err(
		    "%s: a re-encryption is unfinished: finish it first (vmcrypt rekey --resume)",
		    spath);
		return VMC_ENOTSUP;
	}
	if ((r = image_data_check(src)) < 0)
		return r;
	if (!seg || !qemu_cipher(seg->cipher)) {
		log_err("%s: QEMU's encrypted qcow2 cannot use the cipher %s (QEMU opens aes, "
			"serpent, twofish, cast5 in ecb, cbc, xts, ctr with plain, plain64, essiv)",
			spath, seg ? seg->cipher : "(none)");
		return VMC_ENOTSUP;
	}
	fp = new_format(src, seg->cipher, p);
	if (!p->new_volume_key) {
		fp.volume_key = src->vk;
		fp.volume_key_len = src->vk_len;
		/* A LUKS1 header inside its image carries over whole: every passphrase still opens.
		 */
		if (src->meta.version == 1 && src->meta.payload_offset)
			carry = src;
	}
	if (!carry) {
		if (!fp.pbkdf)
			fp.pbkdf = "pbkdf2";
		log_info("%s: one keyslot (0) in %s, for the %s passphrase%s", path,
			 p->new_volume_key ? "a new header with a new volume key"
					   : "QEMU's LUKS1 header",
			 p->new_pass ? "new" : "given",
			 vmc_keyslot_count(src) > 1
			     ? ": the other passphrases of the source do not "
			       "open it"
			     : "");
	}
	return image_qcow2_write(path, &fp, p->new_pass ? p->new_pass : pass,
				 p->new_pass ? p->new_pass_len : pass_len, carry, p->overwrite,
				 &plain, p->progress, p->userdata);
}

VMC_API int vmc_image_convert_copy(struct vmc_image *src, const void *pass, size_t pass_len,
				   int keyslot, const char *path,
				   const struct vmc_convert_params *p)
{
	int r;

	if (!src || !path || !p)
		return -EINVAL;
	if (p->qcow2 == (src->qcow2 != NULL)) {
		log_err("%s: %s", storage_path(src->data),
			p->qcow2
			    ? "already QEMU's encrypted qcow2: the other form is a raw LUKS image "
			      "(--type luks1 or luks2)"
			    : "a raw LUKS image: the other form is QEMU's encrypted qcow2 "
			      "(--format qcow2)");
		return -EINVAL;
	}
	/* Unlocked before anything is created: a wrong passphrase leaves no file behind. */
	if (!src->vk && (r = vmc_image_unlock(src, pass, pass_len, keyslot, NULL)) < 0)
		return r;
	return src->qcow2 ? to_raw(src, pass, pass_len, path, p)
			  : to_qcow2(src, pass, pass_len, path, p);
}
