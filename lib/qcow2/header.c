/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The qcow2 header, its extensions and the snapshot table: explicit big-endian, bounds-checked. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "qcow2/qcow2.h"
#include "vmcrypt.h"

static int corrupt(const char *what)
{
	log_err("qcow2 header: %s", what);
	return VMC_ECORRUPT;
}

static bool aligned(const struct qcow2_header *h, uint64_t off)
{
	return (off & (h->cluster_size - 1)) == 0;
}

/* Is [off, off + len) inside the first cluster and inside buf? */
static bool in_first(const struct qcow2_header *h, size_t buflen, uint64_t off, uint64_t len)
{
	uint64_t end;

	return add_u64(off, len, &end) && end <= h->cluster_size && end <= buflen;
}

static int parse_extensions(struct qcow2_header *h, const uint8_t *buf, size_t len)
{
	uint64_t off = h->header_length;
	unsigned n = 0;

	/* The extensions follow the header inside the first cluster; the end marker is optional
	 * when the cluster ends. */
	while (in_first(h, len, off, 8)) {
		uint32_t type = load_be32(buf + off), elen = load_be32(buf + off + 4);
		const uint8_t *d = buf + off + 8;

		if (type == QCOW2_EXT_END)
			break;
		if (++n > 1024)
			return corrupt("too many header extensions");
		if (!in_first(h, len, off + 8, elen))
			return corrupt("a header extension goes beyond the first cluster");
		switch (type) {
		case QCOW2_EXT_FDE:
			if (elen != 16)
				return corrupt("the encryption header extension has a bad length");
			h->have_fde = true;
			h->fde_offset = load_be64(d);
			h->fde_length = load_be64(d + 8);
			break;
		case QCOW2_EXT_BACKING_FMT:
			copy_fixed_str(h->backing_format, sizeof(h->backing_format), d,
				       elen < sizeof(h->backing_format)
					   ? elen
					   : sizeof(h->backing_format) - 1);
			break;
		case QCOW2_EXT_DATA_FILE:
			h->have_data_file = true;
			break;
		default:
			break; /* the feature table, bitmaps, unknown ones: nothing to read here */
		}
		off += 8 + round_up_u64(elen, 8);
	}
	return 0;
}

static int check_tables(struct qcow2_header *h)
{
	uint64_t l2_span, need, end;

	if (h->size > QCOW2_MAX_SIZE)
		return corrupt("virtual size too large");
	/* Guest bytes one L1 entry covers: at least 512 * 64 = 32 KiB, at most 2^21 * 2^18. */
	l2_span = (uint64_t)h->l2_entries * h->cluster_size;
	need = h->size / l2_span + (h->size % l2_span != 0);
	if (need > QCOW2_MAX_L1_BYTES / 8)
		return corrupt("virtual size too large for the L1 table");
	h->l1_needed = (uint32_t)need;
	if (h->l1_size > QCOW2_MAX_L1_BYTES / 8)
		return corrupt("L1 table too large");
	if (h->l1_size < h->l1_needed)
		return corrupt("L1 table too small for the virtual size");
	if (h->l1_size && (!aligned(h, h->l1_table_offset) || h->l1_table_offset == 0 ||
			   !add_u64(h->l1_table_offset, (uint64_t)h->l1_size * 8, &end)))
		return corrupt("invalid L1 table offset");
	if ((uint64_t)h->refcount_table_clusters * h->cluster_size > QCOW2_MAX_REFTABLE_BYTES)
		return corrupt("refcount table too large");
	if (h->refcount_table_clusters == 0 || !aligned(h, h->refcount_table_offset) ||
	    h->refcount_table_offset == 0 ||
	    !add_u64(h->refcount_table_offset,
		     (uint64_t)h->refcount_table_clusters * h->cluster_size, &end))
		return corrupt("invalid refcount table offset");
	if (h->nb_snapshots > QCOW2_MAX_SNAPSHOTS)
		return corrupt("too many snapshots");
	if (h->nb_snapshots && (!aligned(h, h->snapshots_offset) || h->snapshots_offset == 0))
		return corrupt("invalid snapshot table offset");
	return 0;
}

static int parse_backing(struct qcow2_header *h, const uint8_t *buf, size_t len)
{
	if (h->backing_file_offset == 0)
		return 0;
	if (h->backing_file_size > QCOW2_BACKING_MAX || h->backing_file_size == 0 ||
	    !in_first(h, len, h->backing_file_offset, h->backing_file_size))
		return corrupt("invalid backing file name offset or length");
	memcpy(h->backing_file, buf + h->backing_file_offset, h->backing_file_size);
	h->backing_file[h->backing_file_size] = '\0';
	if (strlen(h->backing_file) != h->backing_file_size)
		return corrupt("backing file name holds a NUL byte");
	return 0;
}

int qcow2_header_parse(const uint8_t *buf, size_t len, struct qcow2_header *ret_h)
{
	struct qcow2_header h;
	int r;

	memset(&h, 0, sizeof(h));
	if (len < QCOW2_V2_HEADER_LEN || load_be32(buf) != QCOW2_MAGIC) {
		log_err("not a qcow2 image");
		return VMC_ENOTLUKS;
	}
	h.version = load_be32(buf + 4);
	if (h.version != 2 && h.version != 3) {
		log_err("qcow2 header: version %u is not supported", h.version);
		return VMC_ENOTSUP;
	}
	h.backing_file_offset = load_be64(buf + 8);
	h.backing_file_size = load_be32(buf + 16);
	h.cluster_bits = load_be32(buf + 20);
	h.size = load_be64(buf + 24);
	h.crypt_method = load_be32(buf + 32);
	h.l1_size = load_be32(buf + 36);
	h.l1_table_offset = load_be64(buf + 40);
	h.refcount_table_offset = load_be64(buf + 48);
	h.refcount_table_clusters = load_be32(buf + 56);
	h.nb_snapshots = load_be32(buf + 60);
	h.snapshots_offset = load_be64(buf + 64);
	if (h.cluster_bits < QCOW2_MIN_CLUSTER_BITS || h.cluster_bits > QCOW2_MAX_CLUSTER_BITS)
		return corrupt("cluster size out of range");
	h.cluster_size = 1ull << h.cluster_bits;
	if (h.version == 2) {
		h.header_length = QCOW2_V2_HEADER_LEN;
		h.refcount_order = 4;
	} else {
		if (len < QCOW2_V3_HEADER_LEN)
			return corrupt("truncated version 3 header");
		h.incompatible = load_be64(buf + 72);
		h.compatible = load_be64(buf + 80);
		h.autoclear = load_be64(buf + 88);
		h.refcount_order = load_be32(buf + 96);
		h.header_length = load_be32(buf + 100);
		if (h.header_length < QCOW2_V3_HEADER_LEN || h.header_length % 8 ||
		    !in_first(&h, len, 0, h.header_length))
			return corrupt("invalid header length");
		if (h.header_length > 104)
			h.compression_type = buf[104];
	}
	if (h.refcount_order > 6)
		return corrupt("refcount order above 6");
	if (h.crypt_method > QCOW2_CRYPT_LUKS)
		return corrupt("unknown encryption method");
	if (h.incompatible & ~QCOW2_INCOMPAT_KNOWN) {
		log_err("qcow2 header: unknown incompatible features 0x%llx",
			(unsigned long long)(h.incompatible & ~QCOW2_INCOMPAT_KNOWN));
		return VMC_ENOTSUP;
	}
	if (!!(h.incompatible & QCOW2_INCOMPAT_COMPRESSION) != (h.compression_type != 0) ||
	    h.compression_type > 1)
		return corrupt("compression type and its feature bit disagree");
	h.extended_l2 = h.incompatible & QCOW2_INCOMPAT_EXTL2;
	if (h.extended_l2 && h.cluster_bits < 14)
		return corrupt("extended L2 entries need clusters of 16 KiB or more");
	h.l2_entries = (uint32_t)(h.cluster_size / (h.extended_l2 ? 16 : 8));
	h.subcluster_size = h.extended_l2 ? h.cluster_size / QCOW2_SUBCLUSTERS : h.cluster_size;
	if ((r = check_tables(&h)) < 0 || (r = parse_extensions(&h, buf, len)) < 0 ||
	    (r = parse_backing(&h, buf, len)) < 0)
		return r;
	if (h.crypt_method == QCOW2_CRYPT_LUKS) {
		uint64_t end;
		if (!h.have_fde)
			return corrupt("LUKS encryption without the encryption header extension");
		if (!aligned(&h, h.fde_offset) || h.fde_offset == 0 || h.fde_length == 0 ||
		    h.fde_length > (64u << 20) || !add_u64(h.fde_offset, h.fde_length, &end))
			return corrupt("invalid encryption header offset or length");
	} else if (h.have_fde) {
		return corrupt("an encryption header extension without LUKS encryption");
	}
	*ret_h = h;
	return 0;
}

int qcow2_header_write(const struct qcow2_header *h, uint8_t *buf, size_t len)
{
	size_t off = QCOW2_V3_HEADER_LEN + 8; /* with the compression type byte and padding */

	if (len < h->cluster_size || len < off + 8 + 24 + 8)
		return -EINVAL;
	memset(buf, 0, len);
	store_be32(buf, QCOW2_MAGIC);
	store_be32(buf + 4, 3);
	store_be32(buf + 20, h->cluster_bits);
	store_be64(buf + 24, h->size);
	store_be32(buf + 32, h->crypt_method);
	store_be32(buf + 36, h->l1_size);
	store_be64(buf + 40, h->l1_table_offset);
	store_be64(buf + 48, h->refcount_table_offset);
	store_be32(buf + 56, h->refcount_table_clusters);
	store_be32(buf + 60, h->nb_snapshots);
	store_be64(buf + 64, h->snapshots_offset);
	store_be64(buf + 72, h->incompatible);
	store_be64(buf + 80, h->compatible);
	store_be64(buf + 88, h->autoclear);
	store_be32(buf + 96, h->refcount_order);
	store_be32(buf + 100, (uint32_t)off);
	buf[104] = h->compression_type;
	if (h->have_fde) {
		store_be32(buf + off, QCOW2_EXT_FDE);
		store_be32(buf + off + 4, 16);
		store_be64(buf + off + 8, h->fde_offset);
		store_be64(buf + off + 16, h->fde_length);
		off += 24;
	}
	store_be32(buf + off, QCOW2_EXT_END); /* and its zero length */
	return 0;
}

uint64_t qcow2_vm_state_offset(const struct qcow2_header *h, uint64_t size)
{
	uint64_t span = (uint64_t)h->l2_entries * h->cluster_size;

	return (size / span + (size % span != 0)) * span;
}

/* One entry at buf + off (len bytes in all): fills s, returns its length or a negative error. */
static int snapshot_entry(const struct qcow2_header *h, const uint8_t *buf, size_t len,
			  uint64_t off, struct qcow2_snapshot *s)
{
	uint32_t extra, id_len, name_len;
	uint64_t fixed_end, end;

	if (!add_u64(off, 40, &fixed_end) || fixed_end > len)
		return corrupt("snapshot table truncated");
	buf += off;
	s->l1_table_offset = load_be64(buf);
	s->l1_size = load_be32(buf + 8);
	id_len = load_be16(buf + 12);
	name_len = load_be16(buf + 14);
	s->date_sec = load_be32(buf + 16);
	s->vm_clock_nsec = load_be64(buf + 24);
	s->vm_state_size = load_be32(buf + 32);
	extra = load_be32(buf + 36);
	s->disk_size = h->size;
	if (extra > 1024)
		return corrupt("snapshot extra data too large");
	end = 40 + (uint64_t)extra + id_len + name_len;
	if (off + end > len)
		return corrupt("snapshot table truncated");
	if (extra >= 8)
		s->vm_state_size = load_be64(buf + 40);
	if (extra >= 16)
		s->disk_size = load_be64(buf + 48);
	if (s->l1_size > QCOW2_MAX_L1_BYTES / 8 ||
	    (s->l1_size && (s->l1_table_offset & (h->cluster_size - 1))) ||
	    (s->l1_size && s->l1_table_offset == 0))
		return corrupt("snapshot with an invalid L1 table");
	if (s->disk_size > QCOW2_MAX_SIZE)
		return corrupt("snapshot disk size too large");
	copy_fixed_str(s->id, sizeof(s->id), buf + 40 + extra,
		       id_len < sizeof(s->id) ? id_len : sizeof(s->id) - 1);
	copy_fixed_str(s->name, sizeof(s->name), buf + 40 + extra + id_len,
		       name_len < sizeof(s->name) ? name_len : sizeof(s->name) - 1);
	return (int)round_up_u64(end, 8);
}

int qcow2_snapshots_parse(const struct qcow2_header *h, const uint8_t *buf, size_t len,
			  struct qcow2_snapshot **ret_snaps, size_t *ret_table_len)
{
	struct qcow2_snapshot *s = NULL;
	uint64_t off = 0;
	int r = 0;

	if (h->nb_snapshots) {
		s = calloc(h->nb_snapshots, sizeof(*s));
		if (!s)
			return -ENOMEM;
	}
	for (uint32_t i = 0; i < h->nb_snapshots; i++) {
		r = snapshot_entry(h, buf, len, off, &s[i]);
		if (r < 0)
			goto out;
		off += (uint64_t)r;
	}
	*ret_snaps = s;
	/* QEMU does not pad the last entry when the table ends the file. */
	*ret_table_len = off < len ? (size_t)off : len;
	s = NULL;
	r = 0;
out:
	free(s);
	return r;
}

int qcow2_header_load(const struct qcow2_source *src, struct qcow2_header *ret_h)
{
	size_t n = src->size < QCOW2_MAX_HEADER_READ ? (size_t)src->size : QCOW2_MAX_HEADER_READ;
	uint8_t *buf = malloc(n ? n : 1);
	int r;

	if (!buf)
		return -ENOMEM;
	if ((r = src->read(src->ctx, buf, n, 0)) == 0)
		r = qcow2_header_parse(buf, n, ret_h);
	free(buf);
	return r;
}

int qcow2_snapshots_load(const struct qcow2_source *src, const struct qcow2_header *h,
			 struct qcow2_snapshot **ret_snaps)
{
	uint64_t off = h->snapshots_offset, len = 0;
	uint8_t fixed[40], *buf = NULL;
	size_t table_len = 0;
	int r = 0;

	if (!h->nb_snapshots) {
		*ret_snaps = NULL;
		return 0;
	}
	/* The table's length, entry by entry: each says how long its variable part is. */
	for (uint32_t i = 0; i < h->nb_snapshots; i++) {
		if ((r = src->read(src->ctx, fixed, sizeof(fixed), off + len)) < 0)
			goto io;
		len += round_up_u64(40 + (uint64_t)load_be32(fixed + 36) + load_be16(fixed + 12) +
					load_be16(fixed + 14),
				    8);
		if (len > QCOW2_MAX_SNAPSHOTS_BYTES) {
			log_err("%s: qcow2 snapshot table too large", src->name);
			return VMC_ECORRUPT;
		}
	}
	/* The last entry's padding may be missing when the table ends the file. */
	if (off < src->size && len > src->size - off && len - (src->size - off) < 8)
		len = src->size - off;
	buf = malloc((size_t)len);
	if (!buf)
		return -ENOMEM;
	if ((r = src->read(src->ctx, buf, (size_t)len, off)) < 0)
		goto io;
	r = qcow2_snapshots_parse(h, buf, (size_t)len, ret_snaps, &table_len);
	free(buf);
	return r;
io:
	free(buf);
	if (r == -ENODATA) {
		log_err("%s: qcow2 snapshot table beyond the end of the file", src->name);
		r = VMC_ECORRUPT;
	}
	return r;
}
