/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* qcow2 header and snapshot table parsers: pure functions over bytes (QEMU's
 * docs/interop/qcow2.txt). */
#include <errno.h>
#include <string.h>

#include "base/util.h"
#include "format/qcow2_snap.h"
#include "vmcrypt.h"

#define QCOW2_MIN_CLUSTER_BITS 9
#define QCOW2_MAX_CLUSTER_BITS 21
#define QCOW2_INCOMPAT_EXTL2   (1ull << 4)
#define SNAP_FIXED_LEN	       40   /* QCowSnapshotHeader */
#define SNAP_EXTRA_MAX	       1024 /* QEMU's QCOW_MAX_SNAPSHOT_EXTRA_DATA */

int qcow2_parse_header(const uint8_t *buf, size_t len, struct qcow2_info *ret)
{
	struct qcow2_info h = {0};

	if (len < 72 || memcmp(buf, "QFI\xfb", 4) != 0)
		return -EINVAL;
	h.version = load_be32(buf + 4);
	if (h.version != 2 && h.version != 3)
		return VMC_ENOTSUP;
	h.cluster_bits = load_be32(buf + 20);
	h.size = load_be64(buf + 24);
	h.crypt_method = load_be32(buf + 32);
	h.nb_snapshots = load_be32(buf + 60);
	h.snapshots_offset = load_be64(buf + 64);
	if (h.cluster_bits < QCOW2_MIN_CLUSTER_BITS || h.cluster_bits > QCOW2_MAX_CLUSTER_BITS)
		return VMC_ECORRUPT;
	if (h.nb_snapshots > QCOW2_SNAP_MAX || (h.nb_snapshots && h.snapshots_offset % 8) ||
	    h.snapshots_offset > (uint64_t)INT64_MAX)
		return VMC_ECORRUPT;
	if (h.version == 3) {
		/* A version 3 header is at least 104 bytes: a shorter read cannot tell. */
		if (len < QCOW2_SNAP_HEADER_LEN)
			return VMC_ECORRUPT;
		h.extended_l2 = (load_be64(buf + 72) & QCOW2_INCOMPAT_EXTL2) != 0;
		/* Subclusters need at least 16 KiB clusters (32 subclusters of 512 bytes). */
		if (h.extended_l2 && h.cluster_bits < 14)
			return VMC_ECORRUPT;
	}
	*ret = h;
	return 0;
}

uint64_t qcow2_snap_table_max(const struct qcow2_info *h)
{
	/* Each entry: the fixed part, extra data, two strings of at most 64 KiB, padding. */
	uint64_t per = SNAP_FIXED_LEN + SNAP_EXTRA_MAX + 2 * 65535 + 7;
	uint64_t max = per * h->nb_snapshots;

	return max < QCOW2_SNAP_TABLE_MAX ? max : QCOW2_SNAP_TABLE_MAX;
}

int qcow2_parse_snapshots(const struct qcow2_info *h, const uint8_t *buf, size_t len,
			  struct qcow2_snap *out, size_t max)
{
	size_t off = 0, n = 0;
	uint32_t i;

	for (i = 0; i < h->nb_snapshots && n < max; i++) {
		struct qcow2_snap sn = {0};
		uint32_t extra;
		uint16_t id_len, name_len;
		size_t need;

		off = (off + 7) & ~(size_t)7;
		if (off > len || len - off < SNAP_FIXED_LEN)
			break;
		sn.l1_table_offset = load_be64(buf + off);
		sn.l1_size = load_be32(buf + off + 8);
		id_len = load_be16(buf + off + 12);
		name_len = load_be16(buf + off + 14);
		sn.date_sec = load_be32(buf + off + 16);
		sn.vm_state_size = load_be32(buf + off + 32);
		extra = load_be32(buf + off + 36);
		if (extra > SNAP_EXTRA_MAX || sn.l1_table_offset % 8 ||
		    (uint64_t)sn.l1_size * 8 > QCOW2_SNAP_L1_MAX)
			return VMC_ECORRUPT;
		off += SNAP_FIXED_LEN;
		need = (size_t)extra + id_len + name_len;
		if (len - off < need)
			break;
		/* Extra data: the 64-bit VM state size replaces the legacy 32-bit one. */
		if (extra >= 8)
			sn.vm_state_size = load_be64(buf + off);
		sn.disk_size = extra >= 16 ? load_be64(buf + off + 8) : h->size;
		off += extra;
		copy_fixed_str(sn.id, sizeof(sn.id), buf + off, id_len);
		off += id_len;
		copy_fixed_str(sn.name, sizeof(sn.name), buf + off, name_len);
		off += name_len;
		out[n++] = sn;
	}
	return (int)n;
}

uint64_t qcow2_vmstate_offset(const struct qcow2_info *h, uint64_t disk_size)
{
	/* One L2 table is one cluster of 8-byte (16 with extended L2) entries. */
	unsigned l2_bits = h->cluster_bits - (h->extended_l2 ? 4 : 3);
	unsigned shift = h->cluster_bits + l2_bits;
	uint64_t per_l1 = 1ull << shift, idx;

	idx = disk_size / per_l1 + (disk_size % per_l1 != 0);
	if (idx > (UINT64_MAX >> shift))
		return 0;
	return idx << shift;
}
