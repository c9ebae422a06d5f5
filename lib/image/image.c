/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The vmc_image object: open, create, unlock, sizes, plaintext access (the public API's core). */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"
#include "crypto/backend.h"
#include "crypto/osslmem.h"
#include "format/container.h"
#include "format/convert.h"
#include "format/create.h"
#include "format/describe.h"
#include "format/keyslot.h"
#include "io/partition.h"
#include "io/storage_backend.h"
#include "image/image.h"
#include "reencrypt/reencrypt.h"
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

int image_new(const char *path, int partition, unsigned data_flags, const char *format,
	      const char *header, unsigned hdr_flags, bool read_only, struct vmc_image **ret_img)
{
	struct vmc_image *img = calloc(1, sizeof(*img));
	int r;

	if (!img)
		return -ENOMEM;
	img->read_only = read_only;
	img->partition = partition;
	r = image_disk_open(path, data_flags, partition, format, &img->data);
	if (r == -EEXIST)
		log_err("%s already exists", path);
	if (r < 0)
		goto out;
	if (header) {
		r = storage_open(header, hdr_flags, &img->hdr);
		if (r == -EEXIST)
			log_err("%s already exists", header);
		if (r < 0 || (r = storage_lock(img->hdr, !read_only)) < 0)
			goto out;
	} else {
		img->hdr = img->data;
	}
	if ((r = storage_lock(img->data, !read_only)) < 0)
		goto out;
	*ret_img = img;
	img = NULL;
out:
	vmc_image_free(img);
	return r;
}

struct reenc_dev image_dev(struct vmc_image *img)
{
	return (struct reenc_dev){
	    .hdr = img->hdr,
	    .data = img->data,
	    .meta = &img->meta,
	    .keys = &img->keys,
	    .read_only = img->read_only,
	};
}

/* The container at path, or NULL (also when it cannot be read: the open says why). */
static int probe_container(const char *path, const struct container **ret)
{
	uint8_t buf[CONTAINER_PROBE_LEN];
	struct storage *st = NULL;
	uint64_t size = 0;
	int r;

	*ret = NULL;
	if ((r = storage_open(path, STORAGE_RDONLY, &st)) < 0)
		return r;
	if ((r = storage_size(st, &size)) == 0) {
		size_t n = size < sizeof(buf) ? (size_t)size : sizeof(buf);
		if ((r = storage_read(st, buf, n, 0)) == 0)
			*ret = container_probe(buf, n);
	}
	storage_free(st);
	return r;
}

int image_disk_open(const char *path, unsigned flags, int partition, const char *format,
		    struct storage **ret_st)
{
	const struct container *c = NULL;
	bool raw = format && strcmp(format, "raw") == 0;
	struct storage *st = NULL;
	int r;

	if (partition < 0) {
		log_err("partition numbers start at 1");
		return -EINVAL;
	}
	/* A format named: QEMU opens it as that (and says so if it is not). */
	if (format && !raw) {
		r = storage_qemu_open(path, format, flags, &st);
		goto window;
	}
	/* A new file is raw. */
	if (!raw && !(flags & STORAGE_CREATE) && (r = probe_container(path, &c)) < 0)
		return r;
	if (c && c->vmcrypt) {
		/* Not a disk: an encrypted image vmcrypt opens itself (lib/qcow2). */
		log_err("%s: %s: an encrypted image, not a plain disk (vmcrypt decrypt makes one "
			"of it)",
			path, c->what);
		return VMC_ENOTSUP;
	}
	if (c && !c->qemu) {
		/* A container is never a disk: its bytes are not what the guest sees. */
		log_err("%s: %s, not a raw disk or LUKS image: %s", path, c->what, c->fix);
		return VMC_ENOTSUP;
	}
	/* A container QEMU reads: the disk its guest sees, through QEMU's block layer. */
	r = c ? storage_qemu_open(path, c->name, flags, &st) : storage_open(path, flags, &st);
window:
	if (r < 0)
		return r;
	if ((r = partition_window(st, partition)) < 0) {
		storage_free(st);
		return r;
	}
	*ret_st = st;
	return 0;
}

VMC_API int vmc_probe_container(const char *path, const char **ret_name, const char **ret_what)
{
	const struct container *c = NULL;
	int r = probe_container(path, &c);

	if (r < 0 || !c)
		return r;
	if (ret_name)
		*ret_name = c->name;
	if (ret_what)
		*ret_what = c->what;
	return 1;
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
	/* QEMU's encrypted qcow2: opened natively, with its LUKS header inside. */
	if (!p->raw && !p->header && !p->partition && (!p->format || !strcmp(p->format, "qcow2"))) {
		const struct container *c = NULL;
		if ((r = probe_container(path, &c)) < 0)
			return r;
		if (c && c->vmcrypt)
			return image_qcow2_open(path, p->read_only, ret_img);
	}
	r = image_new(path, p->partition, flags, p->raw ? "raw" : p->format, p->header, flags,
		      p->read_only, &img);
	if (r < 0)
		return r;
	r = luks_convert_recover(img->hdr, img->read_only);
	if (r < 0)
		goto out;
	r = luks_meta_load(img->hdr, &img->meta, &img->damaged);
	if (img->hdr == img->data) {
		int j = reenc_inplace_recover(img->data, r == 0);
		if (j < 0 && r == 0)
			r = j;
	}
	if (r < 0)
		goto out;
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
	image_qcow2_free(img->qcow2);
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
	static const struct luks_segment none;
	int seg = luks_meta_data_segment(&img->meta);

	return seg >= 0 ? &img->meta.segments[seg] : &none;
}

/*
 * Whether vmcrypt can read and write this header's data: a valid header may
 * still describe data it cannot (an unknown mandatory requirement, a segment
 * type or a second segment outside a re-encryption, authenticated encryption,
 * a sector size dm-crypt does not use). Says why (one line) and returns
 * VMC_ENOTSUP then, else 0.
 */
int image_data_check(const struct vmc_image *img)
{
	const struct luks_meta *m = &img->meta;
	const char *path = storage_path(img->hdr);
	int seg = luks_meta_data_segment(m), regular = 0;

	if (m->requirement[0]) {
		/* Like cryptsetup: an unknown requirement may change what the data means. */
		log_err("%s: the header has the unknown mandatory requirement '%s'; refusing to "
			"use the data",
			path, m->requirement);
		return VMC_ENOTSUP;
	}
	for (int i = 0; i < LUKS_MAX_SEGMENTS; i++) {
		const struct luks_segment *s = &m->segments[i];
		if (s->kind == LUKS_SEGMENT_UNUSED || s->backup)
			continue;
		regular++;
		if (s->kind == LUKS_SEGMENT_UNKNOWN) {
			log_err("%s: segment %d is of a type vmcrypt does not read", path, i);
			return VMC_ENOTSUP;
		}
		if (s->kind != LUKS_SEGMENT_CRYPT)
			continue;
		if (s->integrity) {
			log_err("%s: segment %d: authenticated encryption (integrity) is not "
				"supported",
				path, i);
			return VMC_ENOTSUP;
		}
		if (s->sector_size > 4096 || !is_power_of_2(s->sector_size)) {
			log_err("%s: segment %d: sector size %u is not supported", path, i,
				s->sector_size);
			return VMC_ENOTSUP;
		}
	}
	if (m->reencrypt)
		return 0;
	if (seg < 0 && regular) {
		log_err("%s: the header has no encrypted data segment", path);
		return VMC_ENOTSUP;
	}
	if (regular > 1) {
		log_err("%s: the header has %d data segments outside a re-encryption; vmcrypt "
			"reads one",
			path, regular);
		return VMC_ENOTSUP;
	}
	return 0;
}

VMC_API uint64_t vmc_image_size(const struct vmc_image *img)
{
	uint64_t dev = 0;

	if (img->qcow2)
		return image_qcow2_size(img);
	if (img->vol)
		return volume_size(img->vol);
	if (storage_size(img->data, &dev) < 0)
		dev = 0;
	return luks_meta_data_size(&img->meta, dev);
}

VMC_API uint64_t vmc_image_data_offset(const struct vmc_image *img)
{
	return image_data_segment(img)->offset;
}

VMC_API uint32_t vmc_image_sector_size(const struct vmc_image *img)
{
	return image_data_segment(img)->sector_size;
}

VMC_API bool vmc_image_is_qcow2(const struct vmc_image *img)
{
	return img->qcow2 != NULL;
}

VMC_API int vmc_image_dump(struct vmc_image *img, bool json, char **ret_text)
{
	if (img->qcow2)
		return image_qcow2_dump(img, json, ret_text);
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
		struct volume_spec spec = img->qcow2
					      ? image_qcow2_spec(img, vk, vk_len)
					      : volume_spec_of(image_data_segment(img), vk, vk_len);
		return volume_new(img->data, &spec, 1, dev, &img->vol);
	}
}

/* Plaintext access over the regular segments, each with its digest's key. */
static int attach_reenc(struct vmc_image *img)
{
	struct volume_spec specs[VOLUME_MAX_EXTENTS];
	uint64_t dev = 0;
	int n = 0, r;

	volume_free(img->vol);
	img->vol = NULL;
	if ((r = storage_size(img->data, &dev)) < 0)
		return r;
	for (int i = 0; i < LUKS_MAX_SEGMENTS; i++) {
		const struct luks_segment *s = &img->meta.segments[i];
		int d;
		if (s->kind == LUKS_SEGMENT_UNUSED || s->backup)
			continue;
		if (n == VOLUME_MAX_EXTENTS)
			return VMC_ECORRUPT;
		d = s->kind == LUKS_SEGMENT_CRYPT ? luks_meta_segment_digest(&img->meta, i) : -1;
		if (s->kind == LUKS_SEGMENT_CRYPT && (d < 0 || !img->keys.key[d]))
			return VMC_EPASS;
		specs[n++] = volume_spec_of(s, d >= 0 ? img->keys.key[d] : NULL,
					    d >= 0 ? img->keys.len[d] : 0);
	}
	return volume_new(img->data, specs, n, dev, &img->vol);
}

int image_reattach(struct vmc_image *img)
{
	int seg = luks_meta_data_segment(&img->meta), d;
	uint8_t *vk;

	if (img->meta.reencrypt)
		return attach_reenc(img);
	volume_free(img->vol);
	img->vol = NULL;
	if (seg < 0)
		return 0; /* decrypted: nothing left to open */
	/* The engine's key for the data segment, else the key the image was unlocked with. */
	d = luks_meta_segment_digest(&img->meta, seg);
	if (d >= 0 && img->keys.key[d])
		vk = secmem_dup(img->keys.key[d], img->keys.len[d]);
	else if (img->vk)
		vk = secmem_dup(img->vk, img->vk_len);
	else
		return 0;
	return vk ? image_attach_key(img, vk, secmem_len(vk)) : -ENOMEM;
}

int image_unlock_reenc(struct vmc_image *img, const void *pass, size_t pass_len)
{
	struct reenc_dev dev = image_dev(img);
	int r = reenc_open(&dev, pass, pass_len);

	if (r < 0)
		return r;
	if (!img->meta.reencrypt)
		return image_reattach(img);
	log_info("%s: a re-encryption is unfinished; data is read with the key of each part",
		 storage_path(img->hdr));
	return attach_reenc(img);
}

VMC_API int vmc_image_unlock(struct vmc_image *img, const void *pass, size_t pass_len, int keyslot,
			     int *ret_keyslot)
{
	uint8_t *vk = NULL;
	int slot = -1, r;

	if ((r = image_data_check(img)) < 0)
		return r;
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

VMC_API int vmc_image_test_passphrase(struct vmc_image *img, const void *pass, size_t pass_len,
				      int keyslot, int *ret_keyslot)
{
	uint8_t *vk = NULL;
	int slot = -1, r;

	/* A re-encryption's keys are checked the way its data is opened. */
	if (img->meta.reencrypt && !img->meta.requirement[0])
		return vmc_image_unlock(img, pass, pass_len, keyslot, ret_keyslot);
	r = luks_keyslot_open_any(&img->meta, img->hdr, keyslot, pass, pass_len, &vk, &slot);
	secmem_free(vk);
	if (r == 0)
		log_debug("keyslot %d unlocked", slot);
	if (r == 0 && ret_keyslot)
		*ret_keyslot = slot;
	return r;
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

int image_need_volume(struct vmc_image *img)
{
	if (!img->vol) {
		log_err("%s: image is locked (no passphrase given)", storage_path(img->data));
		return -ENOKEY;
	}
	return 0;
}

VMC_API int vmc_image_read(struct vmc_image *img, void *buf, size_t len, uint64_t offset)
{
	int r = image_need_volume(img);
	if (r == 0 && img->qcow2)
		return image_qcow2_read(img, buf, len, offset);
	return r < 0 ? r : volume_read(img->vol, buf, len, offset);
}

VMC_API int vmc_image_write(struct vmc_image *img, const void *buf, size_t len, uint64_t offset)
{
	int r = image_need_volume(img);
	if (r == 0)
		r = image_qcow2_refuse(img, "writing the guest disk in place");
	return r < 0 ? r : volume_write(img->vol, buf, len, offset);
}

VMC_API int vmc_image_discard(struct vmc_image *img, uint64_t offset, uint64_t len)
{
	int r = image_need_volume(img);
	if (r == 0)
		r = image_qcow2_refuse(img, "discarding guest data in place");
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
	int r = image_need_volume(img);
	if (r == 0)
		r = image_qcow2_refuse(img, "writing the guest disk in place");
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
	int r = image_need_volume(img);
	if (r == 0 && img->qcow2)
		return image_qcow2_copy_out(img, fd, sparse, NULL, false, progress, userdata);
	return r < 0 ? r : volume_copy_out(img->vol, fd, sparse, progress, userdata);
}

/*
 * p with the data size that fills img's fixed-size storage (a partition, an NBD
 * export) after the header: whole sectors of the size the image will get (an
 * explicit one, else 4096 where LUKS2 allows it, else 512).
 */
static int fill_size(struct vmc_image *img, const struct vmc_format_params *p,
		     struct vmc_format_params *ret)
{
	struct vmc_format_params q = *p;
	uint64_t have = 0, with_one = 0, offset, sector;
	int r;

	sector = p->sector_size ? p->sector_size : p->luks_version == 1 ? 512 : 4096;
	q.data_size = sector;
	if ((r = storage_size(img->data, &have)) < 0 || (r = luks_format_size(&q, &with_one)) < 0)
		return r;
	offset = p->header ? 0 : with_one - sector;
	if (have < offset + sector) {
		log_err("%s: its %llu bytes leave no room for data after a %llu-byte header",
			storage_path(img->data), (unsigned long long)have,
			(unsigned long long)offset);
		return -EINVAL;
	}
	q.data_size = (have - offset) / sector * sector;
	*ret = q;
	return 0;
}

VMC_API int vmc_image_create(const char *path, const struct vmc_format_params *p, const void *pass,
			     size_t pass_len, bool overwrite, struct vmc_image **ret_img)
{
	const char *format = p->raw ? "raw" : p->format;
	/* A new file in a container (qcow2, ...) that qemu-img makes, of the size the header needs.
	 */
	bool contained = !p->partition && format && strcmp(format, "raw") != 0;
	/* An NBD URI names an export that exists: the new image is written into it. */
	bool nbd = !p->partition && storage_nbd_uri(path);
	/* A partition lives in an existing disk image: never create or truncate that. */
	unsigned trunc = overwrite ? STORAGE_TRUNC : 0;
	unsigned flags =
	    p->partition || nbd || contained ? 0 : STORAGE_CREATE | STORAGE_SECRET | trunc;
	/* What existed before is not ours to remove if the creation fails. */
	bool had_data = nbd || access(path, F_OK) == 0;
	bool had_hdr = p->header && access(p->header, F_OK) == 0;
	struct vmc_image *img = NULL;
	struct vmc_format_params filled;
	uint8_t *vk = NULL;
	uint64_t size = 0;
	int r;

	if (contained) {
		if (had_data && !overwrite) {
			log_err("%s already exists", path);
			return -EEXIST;
		}
		if ((r = luks_format_size(p, &size)) < 0 ||
		    (r = storage_qemu_create(path, format, size, overwrite)) < 0)
			return r;
		had_data = false;
		overwrite = false; /* what qemu-img made is ours to remove */
	}
	r = image_new(path, p->partition, flags,
		      p->partition ? format
		      : contained  ? format
				   : "raw",
		      p->header, STORAGE_CREATE | STORAGE_SECRET | trunc, false, &img);
	if (r < 0)
		goto undo;
	if (p->data_size == 0 && (p->partition || nbd)) {
		r = fill_size(img, p, &filled);
		if (r < 0)
			goto undo;
		p = &filled;
	}
	r = luks_format(img->hdr, img->data, p, NULL, pass, pass_len, &img->meta, &vk);
	if (r < 0)
		goto undo;
	r = image_attach_key(img, vk, secmem_len(vk));
	if (r < 0)
		goto out;
	*ret_img = img;
	return 0;
undo:
	/* Nothing usable was made: do not leave a half-written new file behind. */
	vmc_image_free(img);
	img = NULL;
	if (!had_data && !overwrite && !p->partition)
		unlink(path);
	if (p->header && !had_hdr && !overwrite)
		unlink(p->header);
out:
	vmc_image_free(img);
	return r;
}

int image_need_writable(struct vmc_image *img)
{
	if (img->read_only) {
		log_err("%s: image was opened read-only", storage_path(img->hdr));
		return -EROFS;
	}
	/* The old header of an unfinished qcow2 re-key is the engine's until it finishes. */
	if (img->qcow2 && img->qcow2->rekey_pending)
		return image_qcow2_refuse(img, "changing the header");
	/* What vmcrypt cannot read it does not rewrite either. */
	return image_data_check(img);
}

int image_need_luks2(struct vmc_image *img, const char *what)
{
	if (img->meta.version != 2) {
		log_err("%s needs a LUKS2 header", what);
		return VMC_ENOTSUP;
	}
	return 0;
}
