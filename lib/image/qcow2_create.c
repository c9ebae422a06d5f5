/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vmc_qcow2_encrypt: a plain disk into a new, thin QEMU encrypted qcow2
 * (version 3, LUKS1 header in the clusters after the header, data clusters
 * encrypted with IVs from their host offsets). Only allocated, non-zero
 * source clusters are written; the metadata follows the data.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"
#include "crypto/backend.h"
#include "format/backup.h"
#include "format/create.h"
#include "format/luks1.h"
#include "image/image.h"
#include "io/storage.h"
#include "qcow2/qcow2.h"
#include "volume/volume.h"

#define NEW_CLUSTER_BITS 16		    /* 64 KiB, qemu-img's default */
#define NEW_BATCH	 (8u * 1024 * 1024) /* source bytes read, encrypted and written at once */

struct writer {
	struct qcow2_header h;
	struct storage *f;   /* the new file */
	struct volume *vol;  /* cipher view: plaintext offset = host offset */
	uint8_t **l2;	     /* L2 tables being built (big-endian entries), one per L1 entry */
	uint64_t next_host;  /* next free host cluster (bytes) */
	uint64_t data_bytes; /* clusters written */
};

static bool all_zero(const uint8_t *p, size_t len)
{
	return len == 0 || (p[0] == 0 && memcmp(p, p + 1, len - 1) == 0);
}

/* A plain disk as a plaintext source: [off, off + len), holes as zeros without reading them. */
static int read_disk(void *ctx, uint8_t *buf, size_t len, uint64_t off)
{
	struct storage *src = ctx;

	while (len) {
		uint64_t run = 0;
		bool data = true;
		int r = storage_block_status(src, off, len, &run, &data);
		if (r < 0)
			return r;
		if (run == 0 || run > len)
			run = len;
		if (data) {
			if ((r = storage_read(src, buf, (size_t)run, off)) < 0)
				return r;
		} else {
			memset(buf, 0, (size_t)run);
		}
		buf += run;
		off += run;
		len -= (size_t)run;
	}
	return 0;
}

/* Records guest cluster g at host offset host in its L2 table. */
static int map_cluster(struct writer *w, uint64_t g, uint64_t host)
{
	uint64_t l1i = g / w->h.l2_entries, l2i = g % w->h.l2_entries;

	if (!w->l2[l1i]) {
		w->l2[l1i] = calloc(1, w->h.cluster_size);
		if (!w->l2[l1i])
			return -ENOMEM;
	}
	store_be64(w->l2[l1i] + l2i * 8, host | QCOW2_OFLAG_COPIED);
	return 0;
}

/* One batch: the non-zero clusters of buf (guest offset off) packed, encrypted, appended. */
static int write_batch(struct writer *w, uint8_t *buf, size_t len, uint64_t off)
{
	uint64_t cs = w->h.cluster_size, start = w->next_host;
	size_t packed = 0;
	int r;

	for (size_t at = 0; at < len; at += cs) {
		if (all_zero(buf + at, (size_t)cs))
			continue;
		if (packed != at)
			memcpy(buf + packed, buf + at, (size_t)cs);
		if ((r = map_cluster(w, (off + at) / cs, start + packed)) < 0)
			return r;
		packed += (size_t)cs;
	}
	if (!packed)
		return 0;
	/* IVs from the host offset, in 512-byte units (QEMU's crypt_physical_offset). */
	if ((r = volume_crypt(w->vol, buf, packed, start, true)) < 0 ||
	    (r = storage_write(w->f, buf, packed, start)) < 0)
		return r;
	w->next_host += packed;
	w->data_bytes += packed;
	return 0;
}

static int copy_data(struct writer *w, const struct image_plain_source *src,
		     vmc_progress_fn *progress, void *userdata)
{
	uint64_t size = w->h.size, off = 0, src_size = src->size;
	uint8_t *buf = storage_bulk_alloc_plain(NEW_BATCH);
	int r = 0;

	if (!buf)
		return -ENOMEM;
	while (off < size) {
		uint64_t n = size - off < NEW_BATCH ? size - off : NEW_BATCH;
		/* Past the end of SRC (its size rounded to a sector, the last partial cluster):
		 * zeros. */
		size_t whole = (size_t)round_up_u64(n, w->h.cluster_size);
		size_t have = off >= src_size	   ? 0
			      : src_size - off < n ? (size_t)(src_size - off)
						   : (size_t)n;
		memset(buf + have, 0, whole - have);
		if ((have && (r = src->read(src->ctx, buf, have, off)) < 0) ||
		    (r = write_batch(w, buf, whole, off)) < 0)
			break;
		off += n;
		if (progress && !progress(off, size, userdata)) {
			r = -ECANCELED;
			break;
		}
	}
	storage_bulk_free(buf, NEW_BATCH);
	return r;
}

/* L2 tables, the L1 table, refcount blocks and table after the data; then the header. */
static int write_metadata(struct writer *w)
{
	struct qcow2_header *h = &w->h;
	uint64_t cs = h->cluster_size, l1_bytes = (uint64_t)h->l1_size * 8, blocks, table, total;
	uint8_t *l1 = calloc(1, (size_t)round_up_u64(l1_bytes ? l1_bytes : 1, cs));
	uint8_t *buf = calloc(1, (size_t)cs);
	int r = -ENOMEM;

	if (!l1 || !buf)
		goto out;
	for (uint32_t i = 0; i < h->l1_size; i++) {
		if (!w->l2[i])
			continue;
		if ((r = storage_write(w->f, w->l2[i], (size_t)cs, w->next_host)) < 0)
			goto out;
		store_be64(l1 + (size_t)i * 8, w->next_host | QCOW2_OFLAG_COPIED);
		w->next_host += cs;
	}
	h->l1_table_offset = w->next_host;
	if ((r = storage_write(w->f, l1, (size_t)round_up_u64(l1_bytes ? l1_bytes : 1, cs),
			       w->next_host)) < 0)
		goto out;
	w->next_host += round_up_u64(l1_bytes ? l1_bytes : 1, cs);
	if ((r = qcow2_refcount_layout(h, w->next_host / cs, &blocks, &table)) < 0) {
		log_err("%s: the disk is too large for a refcount table", storage_path(w->f));
		goto out;
	}
	total = w->next_host / cs + blocks + table;
	h->refcount_table_offset = w->next_host + blocks * cs;
	h->refcount_table_clusters = (uint32_t)table;
	{
		uint64_t per_block = cs * 8 >> h->refcount_order;
		uint8_t *rt = calloc(1, (size_t)(table * cs));
		if (!rt) {
			r = -ENOMEM;
			goto out;
		}
		for (uint64_t b = 0; b < blocks && r >= 0; b++) {
			qcow2_refcount_block_fill(h, buf, b * per_block, total);
			store_be64(rt + b * 8, w->next_host);
			r = storage_write(w->f, buf, (size_t)cs, w->next_host);
			w->next_host += cs;
		}
		if (r >= 0)
			r = storage_write(w->f, rt, (size_t)(table * cs), w->next_host);
		free(rt);
		if (r < 0)
			goto out;
		w->next_host += table * cs;
	}
	/* Commit point: everything the header names is on disk before the header. */
	if ((r = storage_sync(w->f)) < 0 || (r = qcow2_header_write(h, buf, (size_t)cs)) < 0 ||
	    (r = storage_write(w->f, buf, (size_t)cs, 0)) < 0 || (r = storage_sync(w->f)) < 0)
		goto out;
	r = 0;
out:
	free(l1);
	free(buf);
	return r;
}

static void writer_clear(struct writer *w)
{
	if (w->l2)
		for (uint32_t i = 0; i < w->h.l1_size; i++)
			free(w->l2[i]);
	free(w->l2);
	volume_free(w->vol);
	storage_free(w->f);
}

/* The header of the new image: v3, 64 KiB clusters, 16-bit refcounts, LUKS after cluster 0. */
static int plan_header(uint64_t size, uint64_t fde_len, struct qcow2_header *h)
{
	uint64_t span;

	memset(h, 0, sizeof(*h));
	h->version = 3;
	h->cluster_bits = NEW_CLUSTER_BITS;
	h->cluster_size = 1ull << NEW_CLUSTER_BITS;
	h->size = size;
	h->crypt_method = QCOW2_CRYPT_LUKS;
	h->refcount_order = 4;
	h->header_length = QCOW2_V3_HEADER_LEN + 8;
	h->l2_entries = (uint32_t)(h->cluster_size / 8);
	h->subcluster_size = h->cluster_size;
	h->have_fde = true;
	h->fde_offset = h->cluster_size;
	h->fde_length = round_up_u64(fde_len, h->cluster_size);
	span = (uint64_t)h->l2_entries * h->cluster_size;
	if (size > QCOW2_MAX_SIZE || size / span + 1 > QCOW2_MAX_L1_BYTES / 8) {
		log_err("a disk of %llu bytes is too large for qcow2", (unsigned long long)size);
		return -EFBIG;
	}
	h->l1_size = (uint32_t)(size / span + (size % span != 0));
	h->l1_needed = h->l1_size;
	return 0;
}

int image_qcow2_write(const char *path, const struct vmc_format_params *p, const void *pass,
		      size_t pass_len, const struct vmc_image *carry, bool overwrite,
		      const struct image_plain_source *src, vmc_progress_fn *progress,
		      void *userdata)
{
	struct vmc_format_params lp = *p;
	struct format_hook hook = {.keep_size = true};
	struct writer w = {0};
	struct storage *win = NULL;
	struct luks_meta meta;
	uint8_t *vk = NULL;
	uint64_t size = round_up_u64(src->size, LUKS_SECTOR);
	uint32_t slot_sectors = 0;
	int r;

	memset(&meta, 0, sizeof(meta));
	if (p->luks_version == 2 || p->header || p->partition || p->sector_size > LUKS_SECTOR) {
		log_err(
		    "QEMU's encrypted qcow2 holds a LUKS1 header inside the file, with 512-byte "
		    "sectors: no --type luks2, --header, partition or --sector-size");
		return -EINVAL;
	}
	if (carry && (carry->meta.version != 1 || !p->volume_key))
		return -EINVAL;
	lp.luks_version = 1;
	lp.format = NULL;
	lp.data_size = LUKS_SECTOR; /* formal: the data lives in clusters, not after the header */
	if ((r = plan_header(size, 0, &w.h)) < 0)
		return r;
	r = storage_open(path, STORAGE_CREATE | STORAGE_SECRET | (overwrite ? STORAGE_TRUNC : 0),
			 &w.f);
	if (r == -EEXIST)
		log_err("%s already exists", path);
	if (r < 0)
		return r;
	if ((r = storage_lock(w.f, true)) < 0)
		goto out;
	w.l2 = calloc(w.h.l1_size ? w.h.l1_size : 1, sizeof(*w.l2));
	if (!w.l2) {
		r = -ENOMEM;
		goto out;
	}
	/* The LUKS1 header in a window over the clusters after the header: QEMU's layout, with
	 * the payload offset at the window's end; or a carried header's whole region. */
	{
		size_t key_len = p->key_bits	     ? p->key_bits / 8
				 : p->volume_key_len ? p->volume_key_len
						     : 64;
		uint64_t hdr_len =
		    carry ? luks_header_region(&carry->meta)
			  : (uint64_t)luks1_layout(key_len, 4000, &slot_sectors) * LUKS_SECTOR;
		if ((r = plan_header(size, hdr_len, &w.h)) < 0)
			goto out;
	}
	if ((r = storage_open(path, 0, &win)) < 0 ||
	    (r = storage_set_window(win, w.h.fde_offset, w.h.fde_length)) < 0 ||
	    (r = storage_truncate(w.f, w.h.fde_offset + w.h.fde_length)) < 0)
		goto out;
	if (carry) {
		/* Every keyslot as it is: the same volume key, the same passphrases. */
		vk = secmem_dup(p->volume_key, p->volume_key_len);
		if (!vk) {
			r = -ENOMEM;
			goto out;
		}
		if ((r = luks_header_copy(carry->hdr, &carry->meta, win)) < 0 ||
		    (r = luks_meta_load(win, &meta, NULL)) < 0)
			goto out;
	} else if ((r = luks_format(win, win, &lp, &hook, pass, pass_len, &meta, &vk)) < 0) {
		goto out;
	}
	{
		struct volume_spec spec = {
		    .offset = 0,
		    .size = QCOW2_MAX_SIZE,
		    .cipher = meta.cipher,
		    .sector_size = LUKS_SECTOR,
		    .key = vk,
		    .key_len = secmem_len(vk),
		};
		if ((r = volume_new(w.f, &spec, 1, 0, &w.vol)) < 0)
			goto out;
	}
	w.next_host = w.h.fde_offset + w.h.fde_length;
	if ((r = copy_data(&w, src, progress, userdata)) < 0 || (r = write_metadata(&w)) < 0)
		goto out;
	log_debug("%s: %llu bytes of data clusters written", path,
		  (unsigned long long)w.data_bytes);
out:
	secmem_free(vk);
	luks_meta_clear(&meta);
	storage_free(win);
	writer_clear(&w);
	/* An incomplete image is useless: remove it. */
	if (r < 0)
		unlink(path);
	return r;
}

VMC_API int vmc_qcow2_encrypt(const char *path, const struct vmc_format_params *p, const void *pass,
			      size_t pass_len, bool overwrite, struct vmc_disk *src,
			      vmc_progress_fn *progress, void *userdata)
{
	struct image_plain_source s = {read_disk, image_disk_storage(src), image_disk_size(src)};

	return image_qcow2_write(path, p, pass, pass_len, NULL, overwrite, &s, progress, userdata);
}
