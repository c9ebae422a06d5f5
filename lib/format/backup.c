/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Header backup and restore with identity checks and a re-runnable write order. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format/backup.h"
#include "format/luks1.h"
#include "format/luks2_hdr.h"
#include "base/log.h"
#include "base/util.h"

#define BACKUP_MAX (LUKS2_HDR_MAX * 2 + (128ull << 20) + (1ull << 20))

uint64_t luks_header_region(const struct luks_meta *m)
{
	uint64_t end = 4096;

	if (m->version == 2)
		return 2 * m->hdr_size + m->keyslots_size;
	if (m->payload_offset)
		return (uint64_t)m->payload_offset * LUKS_SECTOR;
	/* Detached LUKS1 header: up to the end of the last keyslot area. */
	for (int i = 0; i < 8; i++) {
		const struct luks_keyslot *k = &m->keyslots[i];
		uint64_t e = k->area_offset + af_split_sectors_bytes(m->key_size, LUKS1_STRIPES);
		if (k->area_offset && e > end)
			end = e;
	}
	return round_up_u64(end, 4096);
}

/* Copies len bytes at off between two storages. */
static int copy_range(struct storage *from, struct storage *to, uint64_t off, uint64_t len)
{
	uint8_t *buf = malloc(1 << 20);
	int r = 0;

	if (!buf)
		return -ENOMEM;
	while (len > 0) {
		size_t n = len < (1 << 20) ? (size_t)len : (1 << 20);
		if ((r = storage_read(from, buf, n, off)) < 0 ||
		    (r = storage_write(to, buf, n, off)) < 0)
			break;
		off += n;
		len -= n;
	}
	free(buf);
	if (r == -ENODATA) {
		log_err("%s: truncated: the header region is incomplete", storage_path(from));
		r = VMC_ECORRUPT;
	}
	return r;
}

int luks_header_copy(struct storage *from, const struct luks_meta *m, struct storage *to)
{
	return copy_range(from, to, 0, luks_header_region(m));
}

int luks_header_backup(struct storage *hdr, const struct luks_meta *m, const char *file)
{
	struct storage *out = NULL;
	int r;

	r = storage_open(file, STORAGE_CREATE | STORAGE_SECRET, &out);
	if (r == -EEXIST)
		log_err("%s already exists", file);
	if (r < 0)
		return r;
	r = luks_header_copy(hdr, m, out);
	if (r == 0)
		r = storage_sync(out);
	storage_free(out);
	if (r < 0)
		unlink(file);
	return r;
}

int luks_header_restore(struct storage *hdr, const struct luks_meta *cur, const char *file,
			bool force)
{
	struct storage *in = NULL;
	struct luks_meta b;
	uint64_t size = 0, region, copy;
	int r;

	memset(&b, 0, sizeof(b));
	r = storage_open(file, STORAGE_RDONLY, &in);
	if (r < 0)
		return r;
	if ((r = storage_size(in, &size)) < 0)
		goto out;
	if (size > BACKUP_MAX) {
		log_err("%s: too large to be a LUKS header backup", file);
		r = VMC_ENOTLUKS;
		goto out;
	}
	log_mute();
	r = luks_meta_load(in, &b, NULL);
	log_unmute();
	if (r < 0) {
		log_err("%s: not a valid LUKS header backup", file);
		goto out;
	}
	region = luks_header_region(&b);
	copy = region < size ? region : size;
	if (cur && !force) {
		if (strcmp(cur->uuid, b.uuid) != 0) {
			log_err("%s holds the header of another image (UUID %s, the image has %s); "
				"use --force to restore it anyway",
				file, b.uuid, cur->uuid);
			r = -EINVAL;
			goto out;
		}
		if (luks_meta_data_offset(cur) != luks_meta_data_offset(&b)) {
			log_err("%s has data offset %" PRIu64 ", the image %" PRIu64
				"; use --force to restore it anyway",
				file, luks_meta_data_offset(&b), luks_meta_data_offset(cur));
			r = -EINVAL;
			goto out;
		}
	}
	/* Keyslot areas first, then the secondary copy, then the primary. */
	if (b.version == 2) {
		if ((r = copy_range(in, hdr, 2 * b.hdr_size, copy - 2 * b.hdr_size)) < 0 ||
		    (r = storage_sync(hdr)) < 0 ||
		    (r = copy_range(in, hdr, b.hdr_size, b.hdr_size)) < 0 ||
		    (r = storage_sync(hdr)) < 0 || (r = copy_range(in, hdr, 0, b.hdr_size)) < 0)
			goto out;
	} else {
		if ((r = copy_range(in, hdr, 4096, copy - 4096)) < 0 ||
		    (r = storage_sync(hdr)) < 0 || (r = copy_range(in, hdr, 0, 4096)) < 0)
			goto out;
	}
	r = storage_sync(hdr);
out:
	luks_meta_clear(&b);
	storage_free(in);
	return r;
}
