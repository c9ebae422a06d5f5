/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Re-key in place of QEMU's encrypted qcow2: a new volume key, every data
 * cluster of the active layer, of every internal snapshot and of saved VM
 * state re-encrypted once (each host cluster once, in ascending host order),
 * crash-safe and resumable. docs/REENCRYPT-NOTES.md has the protocol; each
 * commit point below states what a crash there leaves.
 *
 * While it runs the file carries, past its original end, a tail: the new LUKS1
 * header (as long as the old one), two fingerprint areas (for the batch under
 * way: the first bytes of each sector's old and new ciphertext) and two state
 * records; the qcow2 header has incompatible feature bit 63 set, which QEMU
 * does not know and so refuses the image.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/pipeline.h"
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
#define STATE_VERSION 2
#define STATE_LEN     4096
#define STATE_SUM_AT  136
#define BATCH_BYTES   (64u * 1024 * 1024) /* default batch (--hotzone-size) */
#define BATCH_MAX     (256u * 1024 * 1024)

/*
 * A sector's fingerprint: the first FP_LEN bytes of its ciphertext. A batch
 * saves, for each 512-byte sector, the old and the new ciphertext's (SUM_LEN
 * bytes): after a crash each sector (written whole or not at all, as every
 * LUKS tool assumes) shows which key it holds. Two ciphertexts of a sector
 * under different keys share FP_LEN bytes with probability 2^-128.
 */
#define FP_LEN	16
#define SUM_LEN (2 * FP_LEN)

enum rk_phase { RK_RUN = 1, RK_BATCH = 2, RK_FINISH = 3 };

struct rk_state {
	uint32_t phase;
	uint64_t seqid;
	uint64_t orig_size; /* the file's size before the re-key (cut back to it at the end) */
	uint64_t new_fde;   /* the new LUKS1 header: [new_fde, new_fde + fde_len) */
	uint64_t fde_len;
	uint64_t journal;     /* the two fingerprint areas, then the state records */
	uint64_t journal_len; /* the state records start at journal + journal_len */
	uint64_t progress;    /* every data cluster below this host offset has the new key */
	uint64_t batch_start; /* RK_BATCH: the clusters in [start, end) are being rewritten */
	uint64_t batch_end;
	uint64_t batch_bytes; /* clusters per batch, in bytes */
	uint32_t area;	      /* RK_BATCH: the fingerprint area of the batch (0 or 1) */
	uint8_t digest[32];   /* RK_BATCH: SHA-256 of the batch's fingerprints */
};

static void state_store(const struct rk_state *s, uint8_t *buf)
{
	memset(buf, 0, STATE_LEN);
	memcpy(buf, STATE_MAGIC, 8);
	store_be32(buf + 8, STATE_VERSION);
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
	store_be64(buf + 88, s->batch_bytes);
	store_be32(buf + 96, s->area);
	memcpy(buf + 104, s->digest, sizeof(s->digest));
	(void)crypto_hash("sha256", buf, STATE_SUM_AT, buf + STATE_SUM_AT);
}

static bool state_load(const uint8_t *buf, struct rk_state *s)
{
	uint8_t sum[32];

	if (memcmp(buf, STATE_MAGIC, 8) != 0 || load_be32(buf + 8) != STATE_VERSION ||
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
	s->batch_bytes = load_be64(buf + 88);
	s->area = load_be32(buf + 96);
	memcpy(s->digest, buf + 104, sizeof(s->digest));
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
	uint8_t *buf;  /* redo_batch: batch_bytes, the cut batch's clusters */
	uint8_t *sums; /* redo_batch: batch_bytes / 512 * SUM_LEN, their fingerprints */
};

static uint64_t sums_len(uint64_t batch_bytes)
{
	return batch_bytes / LUKS_SECTOR * SUM_LEN;
}

/* The batch from cluster index i: as many clusters as a batch holds. */
static size_t batch_end_index(const struct rekey *k, size_t i)
{
	size_t per = (size_t)(k->s.batch_bytes / k->img->qcow2->h.cluster_size), j = i;

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

/* Reads (write false) or writes clusters [i, j) from or to buf, run by run. */
static int batch_io(struct rekey *k, uint8_t *buf, size_t i, size_t j, bool write)
{
	uint64_t cs = k->img->qcow2->h.cluster_size;
	int r = 0;

	for (size_t x = i, y; x < j && r == 0; x = y) {
		uint8_t *p = buf + (x - i) * cs;
		size_t len;
		y = run_end(k, x, j);
		len = (size_t)((y - x) * cs);
		r = write ? storage_write(k->img->data, p, len, k->clusters[x])
			  : storage_read(k->img->data, p, len, k->clusters[x]);
	}
	return r;
}

/* Old ciphertext -> new, at host offset host: same IVs, only the key changes. */
static int transform(struct rekey *k, uint8_t *p, size_t len, uint64_t host)
{
	int r = volume_crypt(k->old, p, len, host, false);
	return r < 0 ? r : volume_crypt(k->new, p, len, host, true);
}

/* One fingerprint per sector of the len bytes at p: half (0 old, 1 new) of each sum. */
static void fingerprints(uint8_t *sums, const uint8_t *p, size_t len, int half)
{
	for (size_t s = 0; s < len / LUKS_SECTOR; s++)
		memcpy(sums + s * SUM_LEN + half * FP_LEN, p + s * LUKS_SECTOR, FP_LEN);
}

static uint64_t area_at(const struct rekey *k, uint32_t area)
{
	return k->s.journal + area * sums_len(k->s.batch_bytes);
}

/*
 * Batches run as a two-stage pipeline: a producer thread reads the next batch,
 * fingerprints, transforms and fingerprints it again, while the calling thread
 * commits and writes the one before. Reading ahead is safe: batches are
 * disjoint, and a batch is read only after its clusters' last write (none).
 */
#define PIPE_SLOTS 2

struct slot {
	uint8_t *buf;  /* batch_bytes: a batch's clusters */
	uint8_t *sums; /* batch_bytes / 512 * SUM_LEN: their fingerprints */
	size_t i, j;   /* cluster indices [i, j) */
};

struct pipe {
	struct rekey *k;
	struct pipeline *ring;
	struct slot slot[PIPE_SLOTS];
	size_t from; /* the first cluster index still to do */
};

/* Producer side of one batch: read, fingerprint, transform, fingerprint. */
static int prepare(struct rekey *k, struct slot *sl)
{
	uint64_t cs = k->img->qcow2->h.cluster_size;
	size_t len = (size_t)((sl->j - sl->i) * cs);
	int r;

	if ((r = batch_io(k, sl->buf, sl->i, sl->j, false)) < 0)
		return r;
	fingerprints(sl->sums, sl->buf, len, 0);
	for (size_t x = sl->i, y; x < sl->j; x = y) {
		y = run_end(k, x, sl->j);
		if ((r = transform(k, sl->buf + (x - sl->i) * cs, (size_t)((y - x) * cs),
				   k->clusters[x])) < 0)
			return r;
	}
	fingerprints(sl->sums, sl->buf, len, 1);
	return 0;
}

static void *producer(void *arg)
{
	struct pipe *pp = arg;
	size_t i = pp->from;
	int r = 0;

	while (i < pp->k->n) {
		int s = pipeline_slot(pp->ring);
		if (s < 0)
			break;
		pp->slot[s].i = i;
		pp->slot[s].j = batch_end_index(pp->k, i);
		if ((r = prepare(pp->k, &pp->slot[s])) < 0)
			break;
		pipeline_publish(pp->ring);
		i = pp->slot[s].j;
	}
	pipeline_finish(pp->ring, r);
	return NULL;
}

/*
 * Consumer side of one batch: the fingerprints synced (in the area the durable
 * state does not name), state BATCH, the clusters synced. The next batch's
 * state (or the finish's) says this one is done: three syncs a batch, and each
 * byte written once.
 */
static int commit(struct rekey *k, const struct slot *sl)
{
	uint64_t cs = k->img->qcow2->h.cluster_size;
	size_t slen = (size_t)((sl->j - sl->i) * cs) / LUKS_SECTOR * SUM_LEN;
	int r;

	k->s.area ^= 1;
	if ((r = crypto_hash("sha256", sl->sums, slen, k->s.digest)) < 0 ||
	    (r = storage_write(k->img->data, sl->sums, slen, area_at(k, k->s.area))) < 0 ||
	    (r = storage_sync(k->img->data)) < 0)
		return r;
	/* Commit point: the batch is under way; a crash from here on ends in redo_batch. */
	k->s.phase = RK_BATCH;
	k->s.batch_start = k->clusters[sl->i];
	k->s.batch_end = k->clusters[sl->j - 1] + cs;
	if ((r = state_write(k->img->data, &k->s)) < 0 ||
	    (r = batch_io(k, sl->buf, sl->i, sl->j, true)) < 0 ||
	    (r = storage_sync(k->img->data)) < 0)
		return r;
	k->s.progress = k->s.batch_end;
	return 0;
}

/* Every batch from progress on; -ECANCELED when progress says stop (state RUN saved). */
static int run_batches(struct rekey *k, const struct vmc_reencrypt_params *p)
{
	uint64_t cs = k->img->qcow2->h.cluster_size;
	struct pipe pp = {.k = k, .from = index_of(k, k->s.progress)};
	pthread_t th;
	int r = 0, s;

	if (pp.from >= k->n)
		return 0;
	if ((r = pipeline_new(PIPE_SLOTS, &pp.ring)) < 0)
		return r;
	for (s = 0; s < PIPE_SLOTS; s++) {
		pp.slot[s].buf = storage_bulk_alloc_plain((size_t)k->s.batch_bytes);
		pp.slot[s].sums = malloc((size_t)sums_len(k->s.batch_bytes));
		if (!pp.slot[s].buf || !pp.slot[s].sums)
			r = -ENOMEM;
	}
	if (r == 0 && (r = -pthread_create(&th, NULL, producer, &pp)) == 0) {
		while ((s = pipeline_next(pp.ring)) >= 0) {
			r = commit(k, &pp.slot[s]);
			pipeline_release(pp.ring);
			if (r < 0)
				break;
			if (p->progress &&
			    !p->progress(index_of(k, k->s.progress) * cs, k->n * cs, p->userdata)) {
				/* Stopped between batches: the state says where to resume. */
				k->s.phase = RK_RUN;
				if ((r = state_write(k->img->data, &k->s)) == 0)
					r = -ECANCELED;
				break;
			}
		}
		if (r < 0)
			pipeline_cancel(pp.ring, r);
		pthread_join(th, NULL);
		if (r == 0)
			r = pipeline_error(pp.ring);
	}
	for (s = 0; s < PIPE_SLOTS; s++) {
		/* Plaintext passes through a slot between the two keys. */
		storage_bulk_free(pp.slot[s].buf, (size_t)k->s.batch_bytes);
		free(pp.slot[s].sums);
	}
	pipeline_free(pp.ring);
	return r;
}

/*
 * The batch a crash cut: each sector whose fingerprint is the old
 * ciphertext's is transformed and written again; the new one's is done; any
 * other is damage vmcrypt did not cause and will not guess about.
 */
static int redo_batch(struct rekey *k)
{
	uint64_t cs = k->img->qcow2->h.cluster_size;
	size_t i = index_of(k, k->s.batch_start), j = index_of(k, k->s.batch_end);
	size_t len = (size_t)((j - i) * cs), slen = len / LUKS_SECTOR * SUM_LEN;
	uint8_t digest[32];
	bool redo = false;
	int r;

	if (j <= i || len > k->s.batch_bytes || k->clusters[j - 1] + cs != k->s.batch_end ||
	    k->clusters[i] != k->s.batch_start)
		return VMC_ECORRUPT;
	if ((r = storage_read(k->img->data, k->sums, slen, area_at(k, k->s.area))) < 0 ||
	    (r = crypto_hash("sha256", k->sums, slen, digest)) < 0)
		return r;
	if (memcmp(digest, k->s.digest, sizeof(digest)) != 0) {
		/* Synced before the state named them: damage, not a crash. */
		log_err("%s: the fingerprints of the interrupted re-key step are damaged",
			storage_path(k->img->data));
		return VMC_ECORRUPT;
	}
	if ((r = batch_io(k, k->buf, i, j, false)) < 0)
		return r;
	/* Every sector checked before anything is written: damage leaves the file as it was. */
	for (size_t x = i, y; x < j; x = y) {
		size_t base = (size_t)((x - i) * cs);
		y = run_end(k, x, j);
		for (size_t s = base / LUKS_SECTOR; s < (size_t)((y - i) * cs) / LUKS_SECTOR; s++) {
			uint8_t *p = k->buf + s * LUKS_SECTOR, *sum = k->sums + s * SUM_LEN;
			uint64_t host = k->clusters[x] + s * LUKS_SECTOR - base;
			if (memcmp(p, sum + FP_LEN, FP_LEN) == 0)
				continue;
			if (memcmp(p, sum, FP_LEN) != 0 ||
			    (r = transform(k, p, LUKS_SECTOR, host)) < 0 ||
			    memcmp(p, sum + FP_LEN, FP_LEN) != 0) {
				log_err("%s: the sector at byte %" PRIu64
					" holds neither its old nor its new ciphertext",
					storage_path(k->img->data), host);
				return r < 0 ? r : VMC_ECORRUPT;
			}
			redo = true;
		}
	}
	/* Sectors already new are written again as they are. */
	if (redo && (r = batch_io(k, k->buf, i, j, true)) < 0)
		return r;
	if ((r = storage_sync(k->img->data)) < 0)
		return r;
	k->s.progress = k->s.batch_end;
	return 0;
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
	k->s.batch_bytes =
	    round_up_u64(p->hotzone_size ? p->hotzone_size : BATCH_BYTES, h->cluster_size);
	if (k->s.batch_bytes > BATCH_MAX) {
		log_err("a re-key step of an encrypted qcow2 is at most %u MiB", BATCH_MAX >> 20);
		return -EINVAL;
	}
	k->s.journal_len = round_up_u64(2 * sums_len(k->s.batch_bytes), h->cluster_size);
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
		if (k.s.batch_bytes > BATCH_MAX || k.s.batch_bytes < cs || k.s.batch_bytes % cs ||
		    k.s.journal_len < 2 * sums_len(k.s.batch_bytes) || k.s.area > 1 ||
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
	if (k.s.phase != RK_FINISH) {
		if ((r = cipher_view(img, old_vk, secmem_len(old_vk), &k.old)) < 0 ||
		    (r = cipher_view(img, new_vk, secmem_len(new_vk), &k.new)) < 0)
			goto out;
		if (k.s.phase == RK_BATCH) {
			k.buf = storage_bulk_alloc_plain((size_t)k.s.batch_bytes);
			k.sums = malloc((size_t)sums_len(k.s.batch_bytes));
			if (!k.buf || !k.sums) {
				r = -ENOMEM;
				goto out;
			}
			if ((r = redo_batch(&k)) < 0)
				goto out;
		}
		if ((r = run_batches(&k, p)) < 0)
			goto out;
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
	/* Plaintext passes through buf between the two keys. */
	storage_bulk_free(k.buf, (size_t)k.s.batch_bytes);
	free(k.sums);
	free(k.clusters);
	secmem_free(old_vk);
	secmem_free(new_vk);
	luks_meta_clear(&om);
	luks_meta_clear(&nm);
	return r;
}
