/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Re-key in place of QEMU's encrypted qcow2: a new volume key, every data
 * cluster of the active layer, of every internal snapshot and of saved VM
 * state re-encrypted once (each host cluster once, in ascending host order),
 * crash-safe and resumable. docs/REENCRYPT-NOTES.md has the protocol; each
 * commit point below states what a crash there leaves.
 *
 * While it runs the file carries, past its original end, a tail: the new LUKS1
 * header (as long as the old one), a journal (the old ciphertext of the batch
 * under way) and two state records; the qcow2 header has incompatible feature
 * bit 63 set, which QEMU does not know and so refuses the image.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "crypto/backend.h"
#include "format/create.h"
#include "format/keyslot.h"
#include "format/manage.h"
#include "image/image.h"
#include "io/storage.h"
#include "qcow2/qcow2.h"
#include "qcow2/qcow2_io.h"
#include "volume/volume.h"

#define STATE_MAGIC   "VMCQ2RK"
#define STATE_LEN     4096
#define STATE_SUM_AT  96
#define JOURNAL_BYTES (16u * 1024 * 1024) /* default batch: 4 syncs per 16 MiB */
#define JOURNAL_MAX   (64u * 1024 * 1024) /* --hotzone-size at most */

enum rk_phase { RK_RUN = 1, RK_BATCH = 2, RK_FINISH = 3 };

struct rk_state {
	uint32_t phase;
	uint64_t seqid;
	uint64_t orig_size; /* the file's size before the re-key (cut back to it at the end) */
	uint64_t new_fde;   /* the new LUKS1 header: [new_fde, new_fde + fde_len) */
	uint64_t fde_len;
	uint64_t journal; /* old ciphertext of the batch under way */
	uint64_t journal_len;
	uint64_t progress;    /* every data cluster below this host offset has the new key */
	uint64_t batch_start; /* RK_BATCH: the clusters in [start, end) are being rewritten */
	uint64_t batch_end;
};

static void state_store(const struct rk_state *s, uint8_t *buf)
{
	memset(buf, 0, STATE_LEN);
	memcpy(buf, STATE_MAGIC, 8);
	store_be32(buf + 8, 1);
	store_be32(buf + 12, s->phase);
	store_be64(buf + 16, s->seqid);
	store_be64(buf + 24, s->orig_size);
	store_be64(buf + 32, s->new_fde);
	store_be64(buf + 40, s->fde_len);
	store_be64(buf + 48, s->journal);
	store_be64(buf + 56, s->journal_len);
	store_be64(buf + 64, s->progress);
	store_be64(buf + 72, s->batch_start);
	store_be64(buf + 80, s->batch_end);
	(void)crypto_hash("sha256", buf, STATE_SUM_AT, buf + STATE_SUM_AT);
}

static bool state_load(const uint8_t *buf, struct rk_state *s)
{
	uint8_t sum[32];

	if (memcmp(buf, STATE_MAGIC, 8) != 0 || load_be32(buf + 8) != 1 ||
	    crypto_hash("sha256", buf, STATE_SUM_AT, sum) < 0 ||
	    memcmp(sum, buf + STATE_SUM_AT, 32) != 0) /* integrity, not a secret */
		return false;
	s->phase = load_be32(buf + 12);
	s->seqid = load_be64(buf + 16);
	s->orig_size = load_be64(buf + 24);
	s->new_fde = load_be64(buf + 32);
	s->fde_len = load_be64(buf + 40);
	s->journal = load_be64(buf + 48);
	s->journal_len = load_be64(buf + 56);
	s->progress = load_be64(buf + 64);
	s->batch_start = load_be64(buf + 72);
	s->batch_end = load_be64(buf + 80);
	return s->phase >= RK_RUN && s->phase <= RK_FINISH;
}

/* The state records sit in the file's last 8 KiB; the newer valid one wins. */
static int image_qcow2_rekey_state(struct storage *st, struct rk_state *ret)
{
	uint8_t buf[2 * STATE_LEN];
	struct rk_state a, b;
	uint64_t size = 0;
	bool ok_a, ok_b;
	int r;

	if ((r = storage_size(st, &size)) < 0)
		return r;
	if (size < sizeof(buf) || (r = storage_read(st, buf, sizeof(buf), size - sizeof(buf))) < 0)
		goto corrupt;
	ok_a = state_load(buf, &a);
	ok_b = state_load(buf + STATE_LEN, &b);
	if (!ok_a && !ok_b)
		goto corrupt;
	*ret = ok_a && (!ok_b || a.seqid > b.seqid) ? a : b;
	return 0;
corrupt:
	log_err("%s: an unfinished vmcrypt re-key (qcow2 feature bit 63) without its state records "
		"at the end of the file",
		storage_path(st));
	return VMC_ECORRUPT;
}

/* Commit point: the state goes to the older slot, then is synced. */
static int state_write(struct storage *st, struct rk_state *s)
{
	uint8_t buf[STATE_LEN];
	uint64_t at = s->journal + s->journal_len;

	s->seqid++;
	state_store(s, buf);
	at += (s->seqid & 1) * STATE_LEN;
	int r = storage_write(st, buf, sizeof(buf), at);
	return r < 0 ? r : storage_sync(st);
}

/* Sets or clears the re-key bit of the header (bytes 72..79, inside its first sector). */
static int set_rekey_bit(struct storage *st, const struct qcow2_header *h, bool on)
{
	uint8_t f[8];
	int r;

	store_be64(f, on ? h->incompatible | QCOW2_INCOMPAT_VMCRYPT_REKEY
			 : h->incompatible & ~QCOW2_INCOMPAT_VMCRYPT_REKEY);
	if ((r = storage_write(st, f, sizeof(f), 72)) < 0)
		return r;
	return storage_sync(st);
}

/* A cipher view of the file under key: plaintext offset = host offset, IV = host / 512. */
static int cipher_view(struct vmc_image *img, const uint8_t *key, size_t key_len,
		       struct volume **ret)
{
	struct volume_spec spec = {
	    .offset = 0,
	    .size = QCOW2_MAX_SIZE,
	    .cipher = img->meta.cipher,
	    .sector_size = LUKS_SECTOR,
	    .key = key,
	    .key_len = key_len,
	};
	return volume_new(img->data, &spec, 1, 0, ret);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Every host data cluster of every L1 table (active, snapshots; disk and VM state), sorted. */
static int collect(struct vmc_image *img, uint64_t **ret_list, size_t *ret_n)
{
	const struct qcow2_header *h = &img->qcow2->h;
	struct qcow2_cluster_list list = {0};
	uint64_t compressed = 0;
	size_t n = 0;
	int r;

	r = qcow2_collect_clusters(img->data, h, h->l1_table_offset, h->l1_size, &list,
				   &compressed);
	for (uint32_t i = 0; r == 0 && i < h->nb_snapshots; i++)
		r = qcow2_collect_clusters(img->data, h, img->qcow2->snaps[i].l1_table_offset,
					   img->qcow2->snaps[i].l1_size, &list, &compressed);
	/*
	 * Compressed clusters hold plaintext (QEMU writes them unencrypted). Encrypting
	 * them here would mean allocating new clusters and updating refcounts; refused
	 * instead, before anything is written.
	 */
	if (r == 0 && compressed) {
		log_err("%s: %" PRIu64 " compressed cluster%s (L2 entries of the active layer "
			"and the snapshots) stored unencrypted: a re-key would leave them "
			"plaintext; rewrite the image first (qemu-img convert -O qcow2 with "
			"encryption to a new image, or vmcrypt decrypt then encrypt)",
			storage_path(img->data), compressed, compressed == 1 ? "" : "s");
		r = VMC_ENOTSUP;
	}
	if (r < 0) {
		free(list.host);
		return r;
	}
	if (list.n)
		qsort(list.host, list.n, sizeof(*list.host), cmp_u64);
	/* Shared by snapshots: once each. */
	for (size_t i = 0; i < list.n; i++)
		if (n == 0 || list.host[i] != list.host[n - 1])
			list.host[n++] = list.host[i];
	*ret_list = list.host;
	*ret_n = n;
	return 0;
}

struct rekey {
	struct vmc_image *img;
	struct rk_state s;
	uint64_t *clusters;
	size_t n;
	struct volume *old, *new;
	uint8_t *buf; /* journal_len bytes */
};

/* The batch from cluster index i: as many clusters as the journal holds. */
static size_t batch_end_index(const struct rekey *k, size_t i)
{
	size_t per = (size_t)(k->s.journal_len / k->img->qcow2->h.cluster_size), j = i;

	while (j < k->n && j - i < per)
		j++;
	return j;
}

static size_t index_of(const struct rekey *k, uint64_t host)
{
	size_t lo = 0, hi = k->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (k->clusters[mid] < host)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The end of the run of host-contiguous clusters from index x (at most up to j). */
static size_t run_end(const struct rekey *k, size_t x, size_t j)
{
	uint64_t cs = k->img->qcow2->h.cluster_size;
	size_t y = x + 1;

	while (y < j && k->clusters[y] == k->clusters[y - 1] + cs)
		y++;
	return y;
}

/* Re-encrypts clusters [i, j) whose old ciphertext is in k->buf, in order, run by run. */
static int rewrite(struct rekey *k, size_t i, size_t j)
{
	uint64_t cs = k->img->qcow2->h.cluster_size;
	int r = 0;

	for (size_t x = i, y; x < j && r == 0; x = y) {
		uint8_t *c = k->buf + (x - i) * cs;
		size_t len;
		y = run_end(k, x, j);
		len = (size_t)((y - x) * cs);
		/* Same host offsets, same IVs: only the key changes. */
		if ((r = volume_crypt(k->old, c, len, k->clusters[x], false)) == 0 &&
		    (r = volume_crypt(k->new, c, len, k->clusters[x], true)) == 0)
			r = storage_write(k->img->data, c, len, k->clusters[x]);
	}
	explicit_bzero(k->buf, (size_t)((j - i) * cs));
	return r < 0 ? r : storage_sync(k->img->data);
}

/* One batch from progress on: journal, state BATCH, rewrite, state RUN. */
static int step(struct rekey *k)
{
	uint64_t cs = k->img->qcow2->h.cluster_size;
	size_t i = index_of(k, k->s.progress), j = batch_end_index(k, i);
	int r;

	for (size_t x = i, y; x < j; x = y) {
		y = run_end(k, x, j);
		if ((r = storage_read(k->img->data, k->buf + (x - i) * cs, (size_t)((y - x) * cs),
				      k->clusters[x])) < 0)
			return r;
	}
	if ((r = storage_write(k->img->data, k->buf, (size_t)((j - i) * cs), k->s.journal)) < 0 ||
	    (r = storage_sync(k->img->data)) < 0)
		return r;
	/* Commit point: a crash from here on redoes the batch from the journal. */
	k->s.phase = RK_BATCH;
	k->s.batch_start = k->clusters[i];
	k->s.batch_end = k->clusters[j - 1] + cs;
	if ((r = state_write(k->img->data, &k->s)) < 0 || (r = rewrite(k, i, j)) < 0)
		return r;
	/* Commit point: the batch has the new key; the next one starts from its end. */
	k->s.phase = RK_RUN;
	k->s.progress = k->s.batch_end;
	return state_write(k->img->data, &k->s);
}

/* A batch cut by a crash: its old ciphertext from the journal, rewritten again. */
static int redo_batch(struct rekey *k)
{
	uint64_t cs = k->img->qcow2->h.cluster_size;
	size_t i = index_of(k, k->s.batch_start), j = index_of(k, k->s.batch_end);
	int r;

	if (j < i || (j - i) * cs > k->s.journal_len)
		return VMC_ECORRUPT;
	if ((r = storage_read(k->img->data, k->buf, (size_t)((j - i) * cs), k->s.journal)) < 0 ||
	    (r = rewrite(k, i, j)) < 0)
		return r;
	k->s.phase = RK_RUN;
	k->s.progress = k->s.batch_end;
	return state_write(k->img->data, &k->s);
}

/* The new header over the old one, the bit cleared, the tail cut. Idempotent. */
static int finish(struct rekey *k)
{
	const struct qcow2_header *h = &k->img->qcow2->h;
	uint8_t *hdr = malloc((size_t)k->s.fde_len);
	int r;

	if (!hdr)
		return -ENOMEM;
	if (k->s.phase != RK_FINISH) {
		/* Commit point: from here the old header may be torn; the copy is redone. */
		k->s.phase = RK_FINISH;
		if ((r = state_write(k->img->data, &k->s)) < 0)
			goto out;
	}
	if ((r = storage_read(k->img->data, hdr, (size_t)k->s.fde_len, k->s.new_fde)) < 0 ||
	    (r = storage_write(k->img->data, hdr, (size_t)k->s.fde_len, h->fde_offset)) < 0 ||
	    (r = storage_sync(k->img->data)) < 0)
		goto out;
	/* Commit point: the image is QEMU's again, with the new key only. */
	if ((r = set_rekey_bit(k->img->data, h, false)) < 0)
		goto out;
	/* Cosmetic: a crash before the cut leaves an unreferenced tail QEMU ignores. */
	if ((r = storage_truncate(k->img->data, k->s.orig_size)) == 0)
		r = storage_sync(k->img->data);
out:
	free(hdr);
	return r;
}

int image_qcow2_rekey_window(struct storage *data, uint64_t *ret_off, bool *ret_finishing)
{
	struct rk_state s;
	int r = image_qcow2_rekey_state(data, &s);

	if (r < 0)
		return r;
	*ret_off = s.new_fde;
	*ret_finishing = s.phase == RK_FINISH;
	return 0;
}

/* Opens the header in window [off, off + len) of the file with pass: its volume key. */
static int open_header(struct vmc_image *img, uint64_t off, uint64_t len, const void *pass,
		       size_t pass_len, struct luks_meta *m, uint8_t **ret_vk)
{
	struct storage *win = NULL;
	int slot = -1, r;

	if ((r = storage_open(storage_path(img->data), 0, &win)) < 0 ||
	    (r = storage_set_window(win, off, len)) < 0 || (r = luks_meta_load(win, m, NULL)) < 0)
		goto out;
	r = luks_keyslot_open_any(m, win, -1, pass, pass_len, ret_vk, &slot);
out:
	storage_free(win);
	return r;
}

/* The start: the tail, the new header, the old header's extra slot, then the bit. */
static int start(struct rekey *k, const void *pass, size_t pass_len,
		 const struct vmc_reencrypt_params *p, uint8_t **ret_new_vk)
{
	struct vmc_image *img = k->img;
	const struct qcow2_header *h = &img->qcow2->h;
	struct vmc_format_params lp = {0};
	struct format_hook hook = {.keep_size = true};
	const void *np = p->new_pass ? p->new_pass : pass;
	size_t np_len = p->new_pass ? p->new_pass_len : pass_len;
	struct storage *win = NULL;
	struct luks_meta nm;
	uint64_t size = 0;
	int r;

	memset(&nm, 0, sizeof(nm));
	if ((r = storage_size(img->data, &size)) < 0)
		return r;
	k->s.orig_size = size;
	k->s.new_fde = round_up_u64(size, h->cluster_size);
	k->s.fde_len = h->fde_length;
	k->s.journal = round_up_u64(k->s.new_fde + k->s.fde_len, h->cluster_size);
	/* The batch (--hotzone-size): whole clusters, at least one. */
	k->s.journal_len =
	    round_up_u64(p->hotzone_size ? p->hotzone_size : JOURNAL_BYTES, h->cluster_size);
	if (k->s.journal_len > JOURNAL_MAX) {
		log_err("a re-key step of an encrypted qcow2 is at most %u MiB", JOURNAL_MAX >> 20);
		return -EINVAL;
	}
	/* A new passphrase opens the old key too, so that a resume needs it alone. */
	if (p->new_pass &&
	    (r = vmc_keyslot_add(img, -1, p->new_pass, p->new_pass_len, &p->kdf, NULL)) < 0)
		return r;
	if ((r = storage_truncate(img->data, k->s.journal + k->s.journal_len + 2 * STATE_LEN)) <
		0 ||
	    (r = storage_open(storage_path(img->data), 0, &win)) < 0 ||
	    (r = storage_set_window(win, k->s.new_fde, k->s.fde_len)) < 0)
		goto out;
	lp.luks_version = 1;
	lp.cipher = img->meta.cipher;
	lp.key_bits = (uint32_t)(img->meta.key_size * 8);
	lp.hash = img->meta.hash;
	lp.pbkdf = p->kdf.pbkdf;
	lp.iter_time_ms = p->kdf.iter_time_ms;
	lp.force_iterations = p->kdf.force_iterations;
	lp.data_size = LUKS_SECTOR; /* formal: the data lives in clusters */
	lp.keyslot = -1;
	if ((r = luks_format(win, win, &lp, &hook, np, np_len, &nm, ret_new_vk)) < 0)
		goto out;
	/* QEMU's convention: the payload offset is the header's length. */
	nm.payload_offset = img->meta.payload_offset;
	if ((r = luks_meta_commit(win, &nm)) < 0 || (r = storage_sync(win)) < 0)
		goto out;
	k->s.phase = RK_RUN;
	k->s.progress = 0;
	if ((r = state_write(img->data, &k->s)) < 0)
		goto out;
	/* Commit point: QEMU refuses the image from here on; vmcrypt resumes it. */
	if ((r = set_rekey_bit(img->data, h, true)) < 0)
		goto out;
	img->qcow2->rekey_pending = true;
out:
	luks_meta_clear(&nm);
	storage_free(win);
	return r;
}

int image_qcow2_rekey(struct vmc_image *img, const void *pass, size_t pass_len,
		      const struct vmc_reencrypt_params *p)
{
	struct image_qcow2 *q = img->qcow2;
	struct rekey k = {.img = img};
	struct luks_meta om, nm;
	uint8_t *old_vk = NULL, *new_vk = NULL;
	uint64_t cs = q->h.cluster_size;
	int slot = -1, r;

	memset(&om, 0, sizeof(om));
	memset(&nm, 0, sizeof(nm));
	if (img->read_only) {
		log_err("%s: image was opened read-only", storage_path(img->data));
		return -EROFS;
	}
	if (p->cipher || p->key_bits || p->sector_size) {
		log_err(
		    "%s: a re-key of an encrypted qcow2 keeps its cipher, key size and 512-byte "
		    "sectors",
		    storage_path(img->data));
		return VMC_ENOTSUP;
	}
	if (!q->rekey_pending && p->resume_only) {
		log_err("%s: no unfinished re-key to resume", storage_path(img->data));
		return -ENOENT;
	}
	if (q->h.backing_file[0])
		log_warn("%s: re-keys this layer only; its backing file %s keeps its own key",
			 storage_path(img->data), q->h.backing_file);
	if ((r = collect(img, &k.clusters, &k.n)) < 0)
		return r;
	if (!q->rekey_pending) {
		if ((r = luks_keyslot_open_any(&img->meta, img->hdr, -1, pass, pass_len, &old_vk,
					       &slot)) < 0)
			goto out;
		if ((r = image_attach_key(img, secmem_dup(old_vk, secmem_len(old_vk)),
					  secmem_len(old_vk))) < 0 ||
		    (r = start(&k, pass, pass_len, p, &new_vk)) < 0)
			goto out;
		/* A crash from here on is resumed (the bit is set). */
	} else {
		/* A resume: one passphrase opens both headers (the new one's, see start()). */
		if ((r = image_qcow2_rekey_state(img->data, &k.s)) < 0)
			goto out;
		if (k.s.journal_len > JOURNAL_MAX || k.s.journal_len < cs || k.s.journal_len % cs ||
		    k.s.fde_len != q->h.fde_length) {
			log_err("%s: the re-key state records are inconsistent",
				storage_path(img->data));
			r = VMC_ECORRUPT;
			goto out;
		}
		if ((r = open_header(img, k.s.new_fde, k.s.fde_len, pass, pass_len, &nm, &new_vk)) <
		    0)
			goto out;
		if (k.s.phase != RK_FINISH &&
		    (r = open_header(img, q->h.fde_offset, q->h.fde_length, pass, pass_len, &om,
				     &old_vk)) < 0)
			goto out;
		log_info("%s: resuming an unfinished re-key", storage_path(img->data));
	}
	k.buf = storage_bulk_alloc((size_t)k.s.journal_len);
	if (!k.buf) {
		r = -ENOMEM;
		goto out;
	}
	if (k.s.phase != RK_FINISH) {
		if ((r = cipher_view(img, old_vk, secmem_len(old_vk), &k.old)) < 0 ||
		    (r = cipher_view(img, new_vk, secmem_len(new_vk), &k.new)) < 0)
			goto out;
		if (k.s.phase == RK_BATCH && (r = redo_batch(&k)) < 0)
			goto out;
		while (index_of(&k, k.s.progress) < k.n) {
			if ((r = step(&k)) < 0)
				goto out;
			if (p->progress &&
			    !p->progress(index_of(&k, k.s.progress) * cs, k.n * cs, p->userdata)) {
				/* Stopped between batches: the state says where to resume. */
				r = -ECANCELED;
				goto out;
			}
		}
	}
	if ((r = finish(&k)) < 0)
		goto out;
	q->rekey_pending = false;
	q->h.incompatible &= ~QCOW2_INCOMPAT_VMCRYPT_REKEY;
	/* The image as it now is: the new header, unlocked with the new key. */
	luks_meta_clear(&img->meta);
	if ((r = storage_set_window(img->hdr, q->h.fde_offset, q->h.fde_length)) < 0 ||
	    (r = luks_meta_load(img->hdr, &img->meta, NULL)) < 0)
		goto out;
	r = image_attach_key(img, new_vk, secmem_len(new_vk));
	new_vk = NULL;
out:
	volume_free(k.old);
	volume_free(k.new);
	if (k.buf)
		explicit_bzero(k.buf, (size_t)k.s.journal_len);
	free(k.buf);
	free(k.clusters);
	secmem_free(old_vk);
	secmem_free(new_vk);
	luks_meta_clear(&om);
	luks_meta_clear(&nm);
	return r;
}
