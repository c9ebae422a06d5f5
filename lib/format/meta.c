/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Queries over the shared LUKS1/LUKS2 model. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "format/luks2_json.h"
#include "format/luks1.h"
#include "format/luks2_hdr.h"
#include "format/meta.h"
#include "io/probe.h"
#include "io/storage.h"
#include "base/log.h"
#include "base/util.h"

void luks_meta_clear(struct luks_meta *m)
{
	if (!m)
		return;
	luks2_json_free(m->json);
	memset(m, 0, sizeof(*m));
}

bool luks_meta_is_public(const struct luks_meta *m)
{
	return strncmp(m->label, VMC_PUBLIC_LABEL_PREFIX, strlen(VMC_PUBLIC_LABEL_PREFIX)) == 0;
}

int luks_meta_max_keyslots(const struct luks_meta *m)
{
	return m->version == 1 ? 8 : LUKS_MAX_KEYSLOTS;
}

int luks_meta_data_segment(const struct luks_meta *m)
{
	for (int i = 0; i < LUKS_MAX_SEGMENTS; i++)
		if (m->segments[i].kind == LUKS_SEGMENT_CRYPT && !m->segments[i].backup)
			return i;
	/* An encryption that has not converted anything yet: the layout it heads for. */
	for (int i = 0; i < LUKS_MAX_SEGMENTS; i++)
		if (m->segments[i].kind == LUKS_SEGMENT_CRYPT &&
		    strcmp(m->segments[i].flag, "backup-final") == 0)
			return i;
	return -1;
}

int luks_meta_segment_digest(const struct luks_meta *m, int seg)
{
	for (int i = 0; i < LUKS_MAX_DIGESTS; i++)
		if (m->digests[i].used && (m->digests[i].segments & (1ull << seg)))
			return i;
	return -1;
}

uint64_t luks_meta_data_offset(const struct luks_meta *m)
{
	uint64_t off = UINT64_MAX;

	for (int i = 0; i < LUKS_MAX_SEGMENTS; i++) {
		const struct luks_segment *s = &m->segments[i];
		if (s->kind != LUKS_SEGMENT_UNUSED && !s->backup && s->offset < off)
			off = s->offset;
	}
	return off == UINT64_MAX ? 0 : off;
}

uint64_t luks_meta_data_size(const struct luks_meta *m, uint64_t dev_size)
{
	int i = luks_meta_data_segment(m);
	const struct luks_segment *s = i >= 0 ? &m->segments[i] : NULL;

	if (!s)
		return 0;
	if (!s->dynamic)
		return s->size;
	if (dev_size < s->offset)
		return 0;
	return (dev_size - s->offset) / s->sector_size * s->sector_size;
}

static int storage_reader(void *ctx, void *buf, size_t len, uint64_t off)
{
	return storage_read(ctx, buf, len, off);
}

/*
 * What cryptsetup checks of the header device once a LUKS2 copy is chosen: the
 * metadata and keyslots areas fit in it, and when only one copy is good (or
 * they differ) no other signature lies there: a file system or LVM label
 * written over the primary copy means the device is no longer (only) LUKS.
 */
static int luks2_check_device(struct storage *st, const struct luks_meta *m, bool damaged)
{
	uint64_t size = 0, need = 2 * m->hdr_size + m->keyslots_size;
	char type[64];
	int r;

	if ((r = storage_size(st, &size)) < 0)
		return r;
	if (size < need) {
		log_err("%s is truncated: its LUKS2 metadata and keyslots areas need %" PRIu64
			" bytes, it has %" PRIu64,
			storage_path(st), need, size);
		return VMC_ECORRUPT;
	}
	if (!damaged)
		return 0;
	r = storage_probe_foreign(st, type, sizeof(type));
	if (r > 0) {
		log_err("LUKS2 header: one header copy is damaged and %s also carries a %s "
			"signature: not trusting the other copy",
			storage_path(st), type);
		return VMC_ECORRUPT;
	}
	return r;
}

int luks_meta_load(struct storage *st, struct luks_meta *m, bool *ret_damaged)
{
	uint8_t buf[LUKS1_HDR_LEN];
	uint64_t size = 0;
	int r;

	r = storage_read(st, buf, sizeof(buf), 0);
	if (r == -ENODATA) {
		log_err("%s: not a LUKS image (too small)", storage_path(st));
		return VMC_ENOTLUKS;
	}
	if (r < 0)
		return r;
	if (memcmp(buf, "LUKS\xba\xbe", 6) == 0 && load_be16(buf + 6) == 1) {
		storage_size(st, &size);
		r = luks1_parse(buf, sizeof(buf), size, m);
	} else {
		bool damaged = false;
		r = luks2_hdr_load(storage_reader, st, m, &damaged);
		if (r == 0)
			r = luks2_check_device(st, m, damaged);
		if (r < 0)
			luks_meta_clear(m);
		else if (ret_damaged)
			*ret_damaged = damaged;
	}
	/*
	 * A corrupted header has been reported by the parser, which knows what is
	 * wrong with it: one error line, not a second generic one.
	 */
	if (r == VMC_ENOTLUKS)
		log_err("%s: not a LUKS image", storage_path(st));
	return r;
}
