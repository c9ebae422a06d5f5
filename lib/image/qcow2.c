/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * QEMU's encrypted qcow2 (encrypt.format=luks) as a vmc_image: the LUKS1
 * header through a window over its clusters (so the keyslot verbs work
 * unchanged), plaintext read through the cluster map, each data cluster
 * decrypted with IVs counted from its host offset in 512-byte units.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/textbuf.h"
#include "base/util.h"
#include "format/describe.h"
#include "image/image.h"
#include "io/storage.h"
#include "qcow2/qcow2.h"
#include "qcow2/qcow2_io.h"
#include "volume/volume.h"

/* Largest batch of contiguous host data decrypted at once (parallel inside volume_read). */
#define QCOW2_BATCH (8u * 1024 * 1024)

void image_qcow2_free(struct image_qcow2 *q)
{
	if (!q)
		return;
	qcow2_map_free(q->map);
	free(q->snaps);
	pthread_mutex_destroy(&q->lock);
	free(q);
}

int image_qcow2_header(struct storage *st, struct qcow2_header *ret_h)
{
	struct qcow2_source src;
	int r;

	if ((r = qcow2_source_storage(st, &src)) < 0 || (r = qcow2_header_load(&src, ret_h)) < 0)
		return r;
	if (ret_h->have_fde && ret_h->fde_offset + ret_h->fde_length > src.size) {
		log_err("%s: the encryption header lies beyond the end of the file (truncated?)",
			storage_path(st));
		r = VMC_ECORRUPT;
	}
	return r;
}

/* What vmcrypt does not open, each refused with one line that says what to do instead. */
static int refuse(struct storage *st, const struct qcow2_header *h)
{
	const char *path = storage_path(st);

	if (h->crypt_method == QCOW2_CRYPT_AES) {
		log_err(
		    "%s: qcow2 with the legacy AES encryption (crypt_method 1), which is broken: "
		    "qemu-img convert it to a LUKS-encrypted qcow2 (-o encrypt.format=luks)",
		    path);
		return VMC_ENOTSUP;
	}
	if (h->crypt_method != QCOW2_CRYPT_LUKS) {
		log_err("%s: an unencrypted qcow2 image", path);
		return VMC_ENOTLUKS;
	}
	if (h->have_data_file || (h->incompatible & QCOW2_INCOMPAT_DATA_FILE)) {
		log_err(
		    "%s: qcow2 with an external data file is not supported: qemu-img convert it "
		    "to a self-contained qcow2 first",
		    path);
		return VMC_ENOTSUP;
	}
	if (h->incompatible & QCOW2_INCOMPAT_CORRUPT) {
		log_err("%s: QEMU marked this qcow2 image corrupt: run qemu-img check -r all first",
			path);
		return VMC_ENOTSUP;
	}
	if (h->incompatible & QCOW2_INCOMPAT_DIRTY) {
		log_err("%s: the qcow2 image is dirty (not closed cleanly, lazy refcounts): run "
			"qemu-img check -r all first",
			path);
		return VMC_ENOTSUP;
	}
	return 0;
}

/* The snapshot table. */
static int load_snapshots(struct storage *st, struct image_qcow2 *q)
{
	struct qcow2_source src;
	int r;

	if ((r = qcow2_source_storage(st, &src)) < 0)
		return r;
	return qcow2_snapshots_load(&src, &q->h, &q->snaps);
}

int image_qcow2_open(const char *path, bool read_only, struct vmc_image **ret_img)
{
	unsigned flags = read_only ? STORAGE_RDONLY : 0;
	struct vmc_image *img = calloc(1, sizeof(*img));
	struct image_qcow2 *q = calloc(1, sizeof(*q));
	int r;

	if (!img || !q) {
		free(img);
		free(q);
		return -ENOMEM;
	}
	pthread_mutex_init(&q->lock, NULL);
	img->qcow2 = q;
	img->read_only = read_only;
	if ((r = storage_open(path, flags, &img->data)) < 0 ||
	    (r = storage_lock(img->data, !read_only)) < 0)
		goto out;
	/* QEMU's own locks: taken first, so a QEMU that comes later refuses; then any QEMU that
	 * had the image before us shows. */
	if ((r = qcow2_lock_take(img->data, !read_only)) < 0 ||
	    (r = qcow2_lock_check(img->data, !read_only)) < 0)
		goto out;
	if ((r = image_qcow2_header(img->data, &q->h)) < 0 || (r = refuse(img->data, &q->h)) < 0)
		goto out;
	/* The LUKS header through a window over its clusters: the LUKS1 code reads and writes it
	 * as if it were a detached header file. Only the data handle is locked (flock() locks
	 * of two descriptors of one file conflict). */
	if ((r = storage_open(path, flags, &img->hdr)) < 0 ||
	    (r = storage_set_window(img->hdr, q->h.fde_offset, q->h.fde_length)) < 0)
		goto out;
	if (q->h.incompatible & QCOW2_INCOMPAT_VMCRYPT_REKEY) {
		/* An unfinished re-key: finishing, the old header may be torn; read the new one. */
		uint64_t off = 0;
		bool finishing = false;
		if ((r = image_qcow2_rekey_window(img->data, &off, &finishing)) < 0 ||
		    (finishing && (r = storage_set_window(img->hdr, off, q->h.fde_length)) < 0))
			goto out;
		q->rekey_pending = true;
		log_warn("%s: a vmcrypt re-key is unfinished: finish it with 'vmcrypt rekey "
			 "--resume %s' (QEMU refuses the image until then)",
			 path, path);
	}
	if ((r = load_snapshots(img->data, q)) < 0 ||
	    (r = qcow2_map_open(img->data, &q->h, q->h.l1_table_offset, q->h.l1_size, &q->map)) < 0)
		goto out;
	if ((r = luks_meta_load(img->hdr, &img->meta, &img->damaged)) < 0)
		goto out;
	if (img->meta.version != 1) {
		log_err("%s: the qcow2 image holds a LUKS%d header; QEMU reads only LUKS1", path,
			img->meta.version);
		r = VMC_ENOTSUP;
		goto out;
	}
	*ret_img = img;
	img = NULL;
out:
	vmc_image_free(img);
	return r;
}

int image_qcow2_window(struct storage *st)
{
	struct qcow2_header h;
	int r;

	if ((r = image_qcow2_header(st, &h)) < 0 || (r = refuse(st, &h)) < 0)
		return r;
	return storage_set_window(st, h.fde_offset, h.fde_length);
}

uint64_t image_qcow2_size(const struct vmc_image *img)
{
	return img->qcow2->h.size;
}

struct volume_spec image_qcow2_spec(const struct vmc_image *img, const uint8_t *vk, size_t vk_len)
{
	/*
	 * The whole file as one LUKS stretch from offset 0 with IV tweak 0: reading n
	 * bytes at host offset x decrypts them with IVs x / 512, x / 512 + 1, ..., which
	 * is QEMU's crypt_physical_offset numbering for LUKS (docs/FORMAT-NOTES.md).
	 */
	return (struct volume_spec){
	    .offset = 0,
	    .dynamic = true,
	    .iv_tweak = 0,
	    .cipher = img->meta.cipher,
	    .sector_size = LUKS_SECTOR,
	    .key = vk,
	    .key_len = vk_len,
	};
}

int image_qcow2_refuse(const struct vmc_image *img, const char *what)
{
	if (!img->qcow2)
		return 0;
	if (img->qcow2->rekey_pending) {
		log_err("%s: a re-key is unfinished: run 'vmcrypt rekey --resume' first",
			storage_path(img->data));
		return VMC_ENOTSUP;
	}
	log_err("%s: %s is not supported for QEMU's encrypted qcow2 (yet)", storage_path(img->data),
		what);
	return VMC_ENOTSUP;
}

/* The run at guest offset off (at most max bytes), under the map's lock. */
static int run_at(struct vmc_image *img, uint64_t off, uint64_t max, struct qcow2_run *run)
{
	struct image_qcow2 *q = img->qcow2;
	int r;

	if (q->rekey_pending)
		return image_qcow2_refuse(img, "reading");
	pthread_mutex_lock(&q->lock);
	r = qcow2_map_get(q->map, off, max, run);
	pthread_mutex_unlock(&q->lock);
	if (r < 0)
		return r;
	if (run->kind == QCOW2_UNALLOCATED && q->h.backing_file[0]) {
		log_err("%s: unallocated data comes from the backing file %s: reading through a "
			"backing chain is not supported (qemu-img convert the chain first)",
			storage_path(img->data), q->h.backing_file);
		return VMC_ENOTSUP;
	}
	if (run->kind == QCOW2_COMPRESSED) {
		log_err("%s: compressed cluster at guest offset %" PRIu64
			" (stored unencrypted by QEMU): not supported; qemu-img convert the image "
			"to rewrite it",
			storage_path(img->data), off);
		return VMC_ENOTSUP;
	}
	return 0;
}

int image_qcow2_read(struct vmc_image *img, uint8_t *buf, size_t len, uint64_t off)
{
	struct qcow2_run run;
	int r;

	if (off > img->qcow2->h.size || len > img->qcow2->h.size - off) {
		log_err("read at %" PRIu64 "+%zu is beyond the end of the disk", off, len);
		return -EINVAL;
	}
	while (len) {
		if ((r = run_at(img, off, len, &run)) < 0)
			return r;
		if (run.kind == QCOW2_DATA) {
			if ((r = volume_read(img->vol, buf, (size_t)run.length, run.host)) < 0)
				return r;
		} else {
			memset(buf, 0, (size_t)run.length);
		}
		buf += run.length;
		off += run.length;
		len -= (size_t)run.length;
	}
	return 0;
}

/* Where plaintext goes: a descriptor (sparse: holes skipped; else written in order) or a disk. */
struct sink {
	int fd;
	bool sparse;
	struct storage *st;
	bool zeroed;
};

static int sink_write(struct sink *s, const uint8_t *buf, size_t len, uint64_t off)
{
	if (s->st)
		return storage_write(s->st, buf, len, off);
	while (len) {
		ssize_t n =
		    s->sparse ? pwrite(s->fd, buf, len, (off_t)off) : write(s->fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int err = n < 0 ? -errno : -EIO;
			log_err("output: %s", strerror(-err));
			return err;
		}
		buf += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

/* A stretch that reads as zeros: a hole where the sink allows one, written zeros elsewhere. */
static int sink_zeros(struct sink *s, uint8_t *scratch, uint64_t len, uint64_t off)
{
	int r = 0;

	if ((s->st && s->zeroed) || (!s->st && s->sparse))
		return 0;
	memset(scratch, 0, QCOW2_BATCH);
	while (len && r == 0) {
		size_t n = len < QCOW2_BATCH ? (size_t)len : QCOW2_BATCH;
		r = sink_write(s, scratch, n, off);
		off += n;
		len -= n;
	}
	return r;
}

static int copy_out(struct vmc_image *img, struct sink *s, vmc_progress_fn *progress,
		    void *userdata)
{
	uint64_t size = img->qcow2->h.size, off = 0;
	uint8_t *buf = storage_bulk_alloc_plain(QCOW2_BATCH);
	struct qcow2_run run;
	int r = 0;

	if (!buf)
		return -ENOMEM;
	while (off < size) {
		uint64_t want = size - off < QCOW2_BATCH ? size - off : QCOW2_BATCH;
		if ((r = run_at(img, off, want, &run)) < 0)
			goto out;
		if (run.kind == QCOW2_DATA) {
			/* Grow the batch while the next run continues on the host. */
			struct qcow2_run next;
			while (run.length < want) {
				if ((r = run_at(img, off + run.length, want - run.length, &next)) <
				    0)
					goto out;
				if (next.kind != QCOW2_DATA || next.host != run.host + run.length)
					break;
				run.length += next.length;
			}
			if ((r = volume_read(img->vol, buf, (size_t)run.length, run.host)) < 0 ||
			    (r = sink_write(s, buf, (size_t)run.length, off)) < 0)
				goto out;
		} else if ((r = sink_zeros(s, buf, run.length, off)) < 0) {
			goto out;
		}
		off += run.length;
		if (progress && !progress(off, size, userdata)) {
			r = -ECANCELED;
			goto out;
		}
	}
	if (s->st)
		r = storage_sync(s->st);
out:
	storage_bulk_free(buf, QCOW2_BATCH);
	return r;
}

int image_qcow2_copy_out(struct vmc_image *img, int fd, bool sparse, struct storage *dst,
			 bool zeroed, vmc_progress_fn *progress, void *userdata)
{
	struct sink s = {fd, sparse, dst, zeroed};

	return copy_out(img, &s, progress, userdata);
}

/* Compressed clusters one L1 table maps (the disk and a VM state area); -1 when unreadable. */
static int64_t compressed_in(struct vmc_image *img, uint64_t l1, uint32_t l1_size)
{
	const struct qcow2_header *h = &img->qcow2->h;
	struct qcow2_map *map = NULL;
	struct qcow2_stats st;
	int r;

	if ((r = qcow2_map_open(img->data, h, l1, l1_size, &map)) == 0)
		r = qcow2_map_stats(map, 0, qcow2_l1_span(h, l1_size), &st);
	qcow2_map_free(map);
	return r < 0 ? -1 : (int64_t)st.compressed_clusters;
}

static void count_json(struct textbuf *tb, int64_t n)
{
	if (n < 0)
		tb_printf(tb, "null");
	else
		tb_printf(tb, "%" PRId64, n);
}

static void count_text(struct textbuf *tb, int64_t n)
{
	if (n < 0)
		tb_printf(tb, "unknown (the cluster tables cannot be read)");
	else
		tb_printf(tb, "%" PRId64, n);
}

static void snapshot_text(struct textbuf *tb, const struct qcow2_snapshot *s, int64_t compressed)
{
	tb_printf(tb,
		  "  %-4s %-24s vm-state %" PRIu64 " bytes, disk %" PRIu64
		  " bytes, compressed clusters ",
		  s->id, s->name, s->vm_state_size, s->disk_size);
	count_text(tb, compressed);
	tb_printf(tb, "\n");
}

int image_qcow2_dump(struct vmc_image *img, bool json, char **ret_text)
{
	const struct qcow2_header *h = &img->qcow2->h;
	int64_t active, *snap_comp = NULL, total;
	struct textbuf tb;
	char *luks = NULL;
	int r;

	if ((r = luks_describe(&img->meta, h->size, json, &luks)) < 0)
		return r;
	snap_comp = calloc(h->nb_snapshots ? h->nb_snapshots : 1, sizeof(*snap_comp));
	if (!snap_comp) {
		free(luks);
		return -ENOMEM;
	}
	/*
	 * Compressed clusters: QEMU writes them unencrypted, so their count is
	 * plaintext in the file; shown when 0 too, so a reader sees it was checked.
	 */
	active = compressed_in(img, h->l1_table_offset, h->l1_size);
	total = active;
	for (uint32_t i = 0; i < h->nb_snapshots; i++) {
		const struct qcow2_snapshot *s = &img->qcow2->snaps[i];
		snap_comp[i] = compressed_in(img, s->l1_table_offset, s->l1_size);
		total = total < 0 || snap_comp[i] < 0 ? -1 : total + snap_comp[i];
	}
	memset(&tb, 0, sizeof(tb));
	if (json) {
		tb_printf(&tb,
			  "{\"container\":{\"format\":\"qcow2\",\"version\":%u,"
			  "\"encryption\":\"luks1\",\"cluster_size\":%" PRIu64
			  ",\"virtual_size\":%" PRIu64 ",\"extended_l2\":%s,"
			  "\"encryption_header\":{\"offset\":%" PRIu64 ",\"length\":%" PRIu64
			  "},\"backing_file\":",
			  h->version, h->cluster_size, h->size, h->extended_l2 ? "true" : "false",
			  h->fde_offset, h->fde_length);
		tb_json_str(&tb, h->backing_file[0] ? h->backing_file : NULL);
		tb_printf(&tb, ",\"compressed_clusters\":");
		count_json(&tb, active);
		tb_printf(&tb, ",\"snapshots\":[");
		for (uint32_t i = 0; i < h->nb_snapshots; i++) {
			const struct qcow2_snapshot *s = &img->qcow2->snaps[i];
			tb_printf(&tb, "%s{\"id\":", i ? "," : "");
			tb_json_str(&tb, s->id);
			tb_printf(&tb, ",\"name\":");
			tb_json_str(&tb, s->name);
			tb_printf(&tb,
				  ",\"vm_state_size\":%" PRIu64 ",\"disk_size\":%" PRIu64
				  ",\"compressed_clusters\":",
				  s->vm_state_size, s->disk_size);
			count_json(&tb, snap_comp[i]);
			tb_printf(&tb, "}");
		}
		tb_printf(&tb, "],\"compressed_plaintext\":%s},\"luks\":%s}",
			  total < 0 ? "null"
			  : total   ? "true"
				    : "false",
			  luks);
	} else {
		tb_printf(&tb, "Container:\tqcow2 (QEMU's encrypted qcow2: LUKS1 header inside)\n");
		tb_printf(&tb, "qcow2 version:\t%u\n", h->version);
		tb_printf(&tb, "Cluster size:\t%" PRIu64 "%s\n", h->cluster_size,
			  h->extended_l2 ? " (extended L2: 32 subclusters)" : "");
		tb_printf(&tb, "Virtual size:\t%" PRIu64 " bytes\n", h->size);
		tb_printf(&tb, "LUKS header:\tat %" PRIu64 ", %" PRIu64 " bytes\n", h->fde_offset,
			  h->fde_length);
		if (h->backing_file[0])
			tb_printf(&tb, "Backing file:\t%s\n", h->backing_file);
		tb_printf(&tb, "Compressed:\t");
		count_text(&tb, active);
		tb_printf(&tb, " compressed clusters in the active layer (stored unencrypted)\n");
		tb_printf(&tb, "Snapshots:\t%u\n", h->nb_snapshots);
		for (uint32_t i = 0; i < h->nb_snapshots; i++)
			snapshot_text(&tb, &img->qcow2->snaps[i], snap_comp[i]);
		if (total > 0)
			tb_printf(
			    &tb,
			    "WARNING: compressed clusters hold PLAINTEXT: QEMU writes "
			    "compressed clusters of an encrypted qcow2 unencrypted; rewrite the "
			    "image (qemu-img convert to a new encrypted qcow2 without -c, or "
			    "vmcrypt decrypt then encrypt)\n");
		tb_printf(&tb, "\n%s", luks);
	}
	free(snap_comp);
	free(luks);
	return tb_steal(&tb, ret_text);
}
