/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* In-place encryption of a plain image and in-place decryption, on the re-encryption engine. */
#include <blkid/blkid.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"
#include "format/create.h"
#include "format/keyslot.h"
#include "io/probe.h"
#include "reencrypt/reencrypt_internal.h"

#define JOURNAL_SUFFIX ".vmcrypt-encrypt"
#define COPY_CHUNK     (1u << 20) /* bytes per read and write when moving data */

struct prepare_ctx {
	const struct reenc_plan *plan;
	uint64_t dev;	/* data device size */
	uint64_t shift; /* 0: detached header */
	uint64_t size;	/* logical plaintext bytes */
};

/* Turns the freshly formatted model into "encryption started, nothing done yet". */
static int encrypt_prepare(struct luks_meta *m, const uint8_t *vk, size_t vk_len, void *arg)
{
	const struct prepare_ctx *c = arg;
	struct luks_segment prev, moved, final = m->segments[0];
	struct reenc_start st = {
	    .mode = "encrypt",
	    .backward = c->shift > 0,
	    .prev = &prev,
	    .final = &final,
	    .old_digest = -1,
	    .new_digest = 0,
	    .size = c->size,
	    .k_new = vk,
	    .k_new_len = vk_len,
	};

	memset(&prev, 0, sizeof(prev));
	prev.kind = LUKS_SEGMENT_LINEAR;
	prev.sector_size = LUKS_SECTOR;
	if (c->shift) {
		/* The plaintext as it was (offset 0), and its first chunk copied to the end. */
		prev.size = c->size;
		moved = prev;
		moved.offset = c->dev - c->shift;
		/* The first chunk, capped at the data size (as cryptsetup does). */
		moved.size = c->shift < c->size ? c->shift : c->size;
		st.moved = &moved;
		st.shift = c->shift;
	} else {
		prev.dynamic = true;
	}
	return reenc_init(NULL, m, &st, c->plan);
}

/*
 * The size of an ext2/3/4 file system at the start of the device, from its
 * superblock (libblkid in util-linux 2.38 names the type but not the size), or 0.
 */
static uint64_t ext_fs_size(struct storage *st)
{
	uint8_t sb[1024];
	uint64_t blocks;
	uint32_t log;

	if (storage_read(st, sb, sizeof(sb), 1024) < 0 || sb[56] != 0x53 || sb[57] != 0xef)
		return 0;
	log = (uint32_t)sb[24] | (uint32_t)sb[25] << 8 | (uint32_t)sb[26] << 16 |
	      (uint32_t)sb[27] << 24;
	blocks =
	    (uint64_t)sb[4] | (uint64_t)sb[5] << 8 | (uint64_t)sb[6] << 16 | (uint64_t)sb[7] << 24;
	/* INCOMPAT_64BIT: the high half of the block count. */
	if (sb[96] & 0x80)
		blocks |= ((uint64_t)sb[0x150] | (uint64_t)sb[0x151] << 8 |
			   (uint64_t)sb[0x152] << 16 | (uint64_t)sb[0x153] << 24)
			  << 32;
	return log > 16 ? 0 : blocks << (10 + log);
}

/*
 * Is [from, dev) free for the header and the moved chunk? A file system found
 * by libblkid must end before from; without one, the bytes must be zero.
 */
static int check_tail(struct storage *st, const char *path, uint64_t from, uint64_t moved_at,
		      uint64_t dev)
{
	struct storage_probe sp;
	blkid_probe pr = storage_probe_new(st, &sp) == 0 ? sp.pr : NULL;
	const char *type = NULL;
	uint8_t *buf = NULL, *head = NULL;
	int r = 0;

	if (pr) {
		blkid_probe_enable_partitions(pr, 0);
		blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE);
		if (blkid_do_safeprobe(pr) == 0 &&
		    blkid_probe_lookup_value(pr, "TYPE", &type, NULL) == 0 &&
		    strncmp(type, "ext", 3) == 0) {
			uint64_t fs = ext_fs_size(st);
			storage_probe_free(&sp);
			if (fs > from) {
				log_err(
				    "the file system uses %" PRIu64 " bytes, the encrypted image "
				    "will hold %" PRIu64 ": shrink it first (resize2fs) or give a "
				    "larger --reduce-size",
				    fs, from);
				return -ENOSPC;
			}
			if (fs)
				return 0;
		} else {
			storage_probe_free(&sp);
		}
	}
	buf = malloc(COPY_CHUNK);
	head = malloc(COPY_CHUNK);
	if (!buf) {
		free(head);
		return -ENOMEM;
	}
	for (uint64_t off = from; off < dev && r == 0; off += COPY_CHUNK) {
		size_t n = dev - off < COPY_CHUNK ? (size_t)(dev - off) : COPY_CHUNK;
		r = storage_read(st, buf, n, off);
		/* A block of the moved chunk that an interrupted run already copied is ours. */
		if (r == 0 && off >= moved_at && head &&
		    storage_read(st, head, n, off - moved_at) == 0 && memcmp(head, buf, n) == 0)
			continue;
		for (size_t i = 0; r == 0 && i < n; i++)
			if (buf[i]) {
				log_err("the last %" PRIu64 " bytes of the image are not free (no "
					"file system whose size is known, and they are not zero): "
					"shrink what is there first, or use --force",
					dev - from);
				r = -EINVAL;
			}
	}
	free(head);
	free(buf);
	return r;
}

/* Copies len bytes from offset from_off of from to to_off of to, a chunk at a time (not
 * overlapping). */
static int copy_range(struct storage *from, uint64_t from_off, struct storage *to, uint64_t to_off,
		      uint64_t len)
{
	uint8_t *buf = malloc(COPY_CHUNK);
	int r = buf ? 0 : -ENOMEM;

	for (uint64_t o = 0; r == 0 && o < len; o += COPY_CHUNK) {
		size_t n = len - o < COPY_CHUNK ? (size_t)(len - o) : COPY_CHUNK;
		if ((r = storage_read(from, buf, n, from_off + o)) == 0)
			r = storage_write(to, buf, n, to_off + o);
	}
	free(buf);
	return r;
}

static char *journal_name(const char *path)
{
	char *j = NULL;
	return asprintf(&j, "%s%s", path, JOURNAL_SUFFIX) < 0 ? NULL : j;
}

/*
 * Saves the first len bytes of the data device before the header overwrites
 * them: written under a temporary name, synced, renamed (complete or absent).
 */
static int journal_head(struct storage *st, const char *journal, uint64_t len)
{
	struct storage *out = NULL;
	char *tmp = NULL;
	int r;

	if (asprintf(&tmp, "%s.tmp", journal) < 0)
		return -ENOMEM;
	if (access(journal, F_OK) == 0) {
		log_err("%s exists: an earlier in-place encryption did not finish; open the image "
			"once (e.g. vmcrypt dump) to roll it back",
			journal);
		r = -EEXIST;
		goto out;
	}
	unlink(tmp);
	r = storage_open(tmp, STORAGE_CREATE | STORAGE_SECRET, &out);
	if (r == 0)
		r = copy_range(st, 0, out, 0, len);
	if (r == 0)
		r = storage_sync(out);
	storage_free(out);
	out = NULL;
	if (r == 0)
		r = storage_publish(tmp, journal);
	if (r < 0)
		unlink(tmp);
out:
	storage_free(out);
	free(tmp);
	return r;
}

int reenc_inplace_recover(struct storage *st, bool header_ok)
{
	char *journal = journal_name(storage_path(st));
	struct storage *in = NULL;
	uint64_t len = 0;
	int r = 0;

	if (!journal)
		return -ENOMEM;
	if (access(journal, F_OK) != 0)
		goto out;
	if (header_ok) {
		/* The header was written completely: the journal is no longer needed. */
		unlink(journal);
		goto out;
	}
	log_warn("%s: an in-place encryption was interrupted before its header was written; "
		 "restoring the start of the image from %s",
		 storage_path(st), journal);
	if (storage_read_only(st)) {
		r = VMC_EBUSY;
		goto out;
	}
	if ((r = storage_open(journal, STORAGE_RDONLY, &in)) < 0 ||
	    (r = storage_size(in, &len)) < 0 || (r = copy_range(in, 0, st, 0, len)) < 0)
		goto out;
	if ((r = storage_sync(st)) == 0)
		unlink(journal);
out:
	storage_free(in);
	free(journal);
	return r;
}

int reenc_encrypt_in_place_check(const struct vmc_format_params *fp, uint64_t reduce_size)
{
	if (fp->luks_version == 1) {
		log_err("in-place encryption makes LUKS2 images (convert to LUKS1 afterwards)");
		return VMC_ENOTSUP;
	}
	if (!fp->header == !reduce_size) {
		log_err("in-place encryption needs either a detached header (--header) or room "
			"for the header made by moving the data (--reduce-size)");
		return -EINVAL;
	}
	return 0;
}

int reenc_encrypt_in_place(struct reenc_dev *d, const struct vmc_format_params *fp,
			   uint64_t reduce_size, bool force, const void *pass, size_t pass_len,
			   const struct vmc_reencrypt_params *p)
{
	static const struct vmc_reencrypt_params defaults;
	struct vmc_format_params f = *fp;
	struct prepare_ctx ctx = {0};
	struct reenc_plan plan = {0};
	struct format_hook hook = {.prepare = encrypt_prepare, .ctx = &ctx, .keep_size = true};
	const char *path = storage_path(d->data);
	char *journal = NULL;
	uint8_t *vk = NULL;
	int r;

	if (!p)
		p = &defaults;
	reenc_plan_from(p, &plan);
	ctx.plan = &plan;
	if ((r = reenc_encrypt_in_place_check(fp, reduce_size)) < 0)
		return r;
	if ((r = storage_size(d->data, &ctx.dev)) < 0)
		return r;
	if (fp->header) {
		f.sector_size = fp->sector_size	      ? fp->sector_size
				: ctx.dev % 4096 == 0 ? 4096
						      : LUKS_SECTOR;
		ctx.size = ctx.dev / f.sector_size * f.sector_size;
		if (ctx.size != ctx.dev) {
			log_err("the image size is not a multiple of the %u-byte sector size",
				f.sector_size);
			r = -EINVAL;
			goto out;
		}
		f.data_size = ctx.size;
	} else {
		/* Half of the reduction makes room for the header, half holds the moved chunk. */
		if (reduce_size % 8192 || reduce_size < (2u << 20) || reduce_size >= ctx.dev) {
			log_err(
			    "--reduce-size must be a multiple of 8 KiB, at least 2 MiB and less "
			    "than the image size");
			r = -EINVAL;
			goto out;
		}
		ctx.shift = reduce_size / 2;
		ctx.size = ctx.dev - reduce_size;
		f.sector_size = fp->sector_size	       ? fp->sector_size
				: ctx.size % 4096 == 0 ? 4096
						       : LUKS_SECTOR;
		if (ctx.size % f.sector_size || ctx.shift % f.sector_size) {
			log_err("the sizes are not multiples of the %u-byte sector size",
				f.sector_size);
			r = -EINVAL;
			goto out;
		}
		f.data_size = ctx.dev - ctx.shift;
		hook.data_offset = ctx.shift;
		if (!force &&
		    (r = check_tail(d->data, path, ctx.size, ctx.dev - ctx.shift, ctx.dev)) < 0)
			goto out;
		/*
		 * 1: the first chunk goes to the end of the device (free space), synced;
		 * 2: the journal keeps the start of the image until the header is complete.
		 * A crash before the header is written is rolled back from the journal.
		 */
		journal = journal_name(storage_path(d->data));
		if (!journal) {
			r = -ENOMEM;
			goto out;
		}
		r = copy_range(d->data, 0, d->data, ctx.dev - ctx.shift, ctx.shift);
		if (r < 0 || (r = storage_sync(d->data)) < 0 ||
		    (r = journal_head(d->data, journal, ctx.shift)) < 0)
			goto out;
	}
	/* Commit point: the header says "encryption started"; no data is changed yet. */
	r = luks_format(d->hdr, d->data, &f, &hook, pass, pass_len, d->meta, &vk);
	if (r < 0)
		goto out;
	if (journal)
		unlink(journal);
	d->keys->key[0] = vk;
	d->keys->len[0] = secmem_len(vk);
	vk = NULL;
	r = reenc_run(d->hdr, d->data, d->meta, d->keys, &plan);
out:
	secmem_free(vk);
	free(journal);
	return r;
}

/*
 * Decryption of an image with its header inside: the header moves to a new
 * file, the first chunk of ciphertext moves over the old header, then every
 * chunk is decrypted to S bytes lower (cryptsetup's online-reencrypt-v3 form).
 */
static int decrypt_shift_down(struct reenc_dev *d, const void *pass, size_t pass_len,
			      const struct vmc_reencrypt_params *p, const struct reenc_plan *plan)
{
	struct luks_segment prev = d->meta->segments[luks_meta_data_segment(d->meta)], final, moved;
	struct storage *nh = NULL;
	uint8_t *vk = NULL;
	uint64_t S = prev.offset, region, dev = 0;
	int slot, r;

	/* The header is already in its own file when an earlier run stopped after step 1. */
	bool exported = d->hdr != d->data;

	if (!p->new_header && !exported) {
		log_err("decrypting in place an image with its header inside needs a new file to "
			"keep the header while the data moves (--header NEWFILE)");
		return -EINVAL;
	}
	if (!prev.dynamic || S == 0 || (r = storage_size(d->data, &dev)) < 0 || dev < 2 * S) {
		log_err("this image's layout cannot be decrypted in place");
		return VMC_ENOTSUP;
	}
	r = luks_keyslot_open_any(d->meta, d->hdr, -1, pass, pass_len, &vk, &slot);
	if (r < 0)
		return r;
	/*
	 * 1: the header (old layout, still true) is copied to the new file and
	 * synced. Until step 3 that file describes the image exactly (the data at
	 * S is untouched), so an interrupted run continues here with --header.
	 */
	if (!exported) {
		r = storage_open(p->new_header, STORAGE_CREATE | STORAGE_SECRET, &nh);
		if (r == -EEXIST)
			log_err("%s already exists", p->new_header);
		if (r < 0 || (r = storage_lock(nh, true)) < 0)
			goto out;
		region = 2 * d->meta->hdr_size + d->meta->keyslots_size;
		r = copy_range(d->data, 0, nh, 0, region);
		if (r < 0 || (r = storage_sync(nh)) < 0)
			goto out;
	}
	/* 2: the first chunk of ciphertext is copied over the old header (its source stays). */
	r = copy_range(d->data, S, d->data, 0, S);
	if (r < 0 || (r = storage_sync(d->data)) < 0)
		goto out;
	/* From here the header lives in the new file. */
	if (!exported) {
		d->hdr = nh;
		nh = NULL;
	}
	memset(&final, 0, sizeof(final));
	final.kind = LUKS_SEGMENT_LINEAR;
	final.dynamic = true;
	final.sector_size = LUKS_SECTOR;
	moved = prev;
	moved.offset = 0;
	moved.size = S;
	moved.dynamic = false;
	{
		struct reenc_start st = {
		    .mode = "decrypt",
		    .prev = &prev,
		    .final = &final,
		    .moved = &moved,
		    .shift = S,
		    .old_digest =
			luks_meta_segment_digest(d->meta, luks_meta_data_segment(d->meta)),
		    .new_digest = -1,
		    .size = dev - S,
		    .k_old = vk,
		    .k_old_len = d->meta->keyslots[slot].key_size,
		};
		/* 3, commit point: the new file describes the moved chunk and the decryption. */
		r = reenc_init(d->hdr, d->meta, &st, plan);
	}
	if (r < 0)
		goto out;
	reenc_keys_clear(d->keys);
	if ((r = reenc_unlock(d->meta, d->hdr, pass, pass_len, d->keys)) == 0)
		r = reenc_run(d->hdr, d->data, d->meta, d->keys, plan);
out:
	storage_free(nh);
	secmem_free(vk);
	return r;
}

int reenc_decrypt_in_place(struct reenc_dev *d, const void *pass, size_t pass_len,
			   const struct vmc_reencrypt_params *p)
{
	static const struct vmc_reencrypt_params defaults;
	struct reenc_plan plan = {0};
	struct luks_segment prev, final;
	uint8_t *vk = NULL;
	int slot, r;

	if (!p)
		p = &defaults;
	if (d->meta->version != 2) {
		log_err("decrypt --in-place needs a LUKS2 header");
		return VMC_ENOTSUP;
	}
	reenc_plan_from(p, &plan);
	if (d->meta->reencrypt)
		return reenc_rekey(d, pass, pass_len, p);
	prev = d->meta->segments[luks_meta_data_segment(d->meta)];
	if (d->hdr == d->data || prev.offset != 0)
		return decrypt_shift_down(d, pass, pass_len, p, &plan);
	if (prev.offset != 0) {
		log_err("in-place decryption with a detached header needs the data at offset 0");
		return VMC_ENOTSUP;
	}
	r = luks_keyslot_open_any(d->meta, d->hdr, -1, pass, pass_len, &vk, &slot);
	if (r < 0)
		return r;
	memset(&final, 0, sizeof(final));
	final.kind = LUKS_SEGMENT_LINEAR;
	final.dynamic = true;
	final.sector_size = LUKS_SECTOR;
	{
		struct reenc_start st = {
		    .mode = "decrypt",
		    .backward = true,
		    .prev = &prev,
		    .final = &final,
		    .old_digest =
			luks_meta_segment_digest(d->meta, luks_meta_data_segment(d->meta)),
		    .new_digest = -1,
		    .size = reenc_dev_data_size(d),
		    .k_old = vk,
		    .k_old_len = d->meta->keyslots[slot].key_size,
		};
		r = reenc_init(d->hdr, d->meta, &st, &plan);
	}
	secmem_free(vk);
	if (r < 0)
		return r;
	reenc_keys_clear(d->keys);
	if ((r = reenc_unlock(d->meta, d->hdr, pass, pass_len, d->keys)) < 0)
		return r;
	return reenc_run(d->hdr, d->data, d->meta, d->keys, &plan);
}
