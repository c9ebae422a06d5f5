/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A qcow2 snapshot's VM state as a read-only storage handle, through the snapshot's L1/L2 tables.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "format/qcow2_snap.h"
#include "io/storage.h"
#include "io/storage_backend.h"
#include "vmcrypt.h"

#define OFFSET_MASK	 0x00fffffffffffe00ull /* L1E_OFFSET_MASK, L2E_OFFSET_MASK */
#define OFLAG_COMPRESSED (1ull << 62)
#define OFLAG_ZERO	 (1ull << 0) /* standard L2 entries of version 3 */
#define VMSTATE_MAX	 (64ull << 30)
#define MAP_MAX		 (4u << 20) /* clusters of VM state */

/* One cluster of the VM state: where it lies in the file, which subclusters hold data. */
struct vm_ent {
	uint64_t host; /* 0: nothing to read */
	uint32_t
	    alloc; /* bit i: subcluster i is read from host (all 32 bits without subclusters) */
};

struct vmstate {
	struct storage *file;
	uint64_t file_size;
	uint64_t size;
	unsigned cluster_bits;
	struct vm_ent *map;
	size_t n;
};

/* Reads [host, host + len) of the file; what lies beyond its end reads as zeros. */
static int read_host(struct vmstate *v, uint8_t *dst, size_t len, uint64_t host)
{
	size_t have = host >= v->file_size		    ? 0
		      : v->file_size - host < (uint64_t)len ? (size_t)(v->file_size - host)
							    : len;

	if (have < len)
		memset(dst + have, 0, len - have);
	return have ? storage_read(v->file, dst, have, host) : 0;
}

static int vm_pread(void *be, void *buf, size_t len, uint64_t off)
{
	struct vmstate *v = be;
	uint64_t cs = 1ull << v->cluster_bits, sub = cs / 32;
	uint8_t *dst = buf;
	int r;

	if (off > v->size || len > v->size - off)
		return -ENODATA;
	while (len > 0) {
		const struct vm_ent *e = &v->map[off >> v->cluster_bits];
		uint64_t within = off & (cs - 1);
		size_t piece = cs - within < len ? (size_t)(cs - within) : len;
		size_t done = 0;

		/* Subcluster by subcluster: each is read or zero (all 32 alike without them). */
		while (done < piece) {
			uint64_t w = within + done;
			size_t part =
			    sub - w % sub < piece - done ? (size_t)(sub - w % sub) : piece - done;

			if (e->alloc & (1u << (w / sub))) {
				r = read_host(v, dst + done, part, e->host + w);
				if (r < 0)
					return r;
			} else {
				memset(dst + done, 0, part);
			}
			done += part;
		}
		dst += piece;
		off += piece;
		len -= piece;
	}
	return 0;
}

static int vm_size(void *be, uint64_t *ret_size)
{
	*ret_size = ((struct vmstate *)be)->size;
	return 0;
}

static int vm_fd(void *be)
{
	(void)be;
	return -1;
}

static void vm_close(void *be)
{
	struct vmstate *v = be;

	if (!v)
		return;
	free(v->map);
	free(v);
}

static const struct storage_backend_ops vmstate_ops = {
    .name = "qcow2 VM state",
    .pread = vm_pread,
    .size = vm_size,
    .fd = vm_fd,
    .close = vm_close,
};

/* A host cluster offset from an L1 or L2 entry must be cluster-aligned and inside the file. */
static bool host_ok(const struct vmstate *v, uint64_t host)
{
	return host % (1ull << v->cluster_bits) == 0 && host < v->file_size;
}

/* Fills the map entries [first, first + count) from the L2 table at l2 (a cluster). */
static int map_l2(struct vmstate *v, const struct qcow2_info *h, const uint8_t *l2, size_t first_l2,
		  size_t first, size_t count, struct qcow2_vmstate_stats *st)
{
	uint64_t cs = 1ull << v->cluster_bits;
	size_t esize = h->extended_l2 ? 16 : 8, i;

	for (i = 0; i < count; i++) {
		const uint8_t *p = l2 + (first_l2 + i) * esize;
		uint64_t e = load_be64(p), host = e & OFFSET_MASK;
		struct vm_ent *m = &v->map[first + i];

		if (e & OFLAG_COMPRESSED) {
			st->compressed_bytes += cs;
			continue;
		}
		if (!host || (!h->extended_l2 && (e & OFLAG_ZERO))) {
			st->zero_bytes += cs;
			continue;
		}
		if (!host_ok(v, host)) {
			log_err("qcow2 snapshot: VM state cluster at 0x%llx lies outside the file",
				(unsigned long long)host);
			return VMC_ECORRUPT;
		}
		m->host = host;
		/* Extended entries: the low 32 bits of the bitmap say which subclusters hold data.
		 */
		m->alloc = h->extended_l2 ? (uint32_t)load_be64(p + 8) : UINT32_MAX;
		st->data_bytes += cs / 32 * (uint64_t)__builtin_popcount(m->alloc);
		st->zero_bytes += cs / 32 * (uint64_t)(32 - __builtin_popcount(m->alloc));
	}
	return 0;
}

int qcow2_vmstate_open(struct storage *file, const struct qcow2_info *h,
		       const struct qcow2_snap *sn, const char *name, struct storage **ret_st,
		       struct qcow2_vmstate_stats *ret_stats)
{
	struct storage_backend_info info = {.read_only = true};
	struct qcow2_vmstate_stats st = {0};
	struct vmstate *v = NULL;
	uint8_t *l2 = NULL, l1e[8];
	unsigned l2_bits = h->cluster_bits - (h->extended_l2 ? 4 : 3), shift;
	uint64_t cs = 1ull << h->cluster_bits, start, end, g;
	size_t first;
	int r;

	shift = h->cluster_bits + l2_bits;
	if (sn->vm_state_size > VMSTATE_MAX || (sn->vm_state_size >> h->cluster_bits) >= MAP_MAX) {
		log_err("%s: a VM state of %llu bytes is more than vmcrypt reads", name,
			(unsigned long long)sn->vm_state_size);
		return -EFBIG;
	}
	start = qcow2_vmstate_offset(h, sn->disk_size);
	if ((!start && sn->disk_size) || !add_u64(start, sn->vm_state_size, &end))
		return VMC_ECORRUPT;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->file = file;
	v->size = sn->vm_state_size;
	v->cluster_bits = h->cluster_bits;
	v->n = (size_t)((sn->vm_state_size + cs - 1) >> h->cluster_bits);
	v->map = calloc(v->n ? v->n : 1, sizeof(*v->map));
	l2 = malloc(cs);
	if (!v->map || !l2) {
		r = -ENOMEM;
		goto out;
	}
	r = storage_size(file, &v->file_size);
	if (r < 0)
		goto out;
	if (sn->vm_state_size && sn->l1_table_offset >= v->file_size) {
		log_err("%s: the snapshot's L1 table lies outside the file", name);
		r = VMC_ECORRUPT;
		goto out;
	}
	/* One L1 entry (one L2 table) at a time over the guest range [start, end). */
	for (g = start; g < end;) {
		uint64_t l1_idx = g >> shift, next = (l1_idx + 1) << shift, l2_off;
		size_t count;

		if (next > end || next == 0)
			next = end;
		first = (size_t)((g - start) >> h->cluster_bits);
		count = (size_t)((next - g + cs - 1) >> h->cluster_bits);
		if (l1_idx >= sn->l1_size) {
			st.zero_bytes += next - g;
			g = next;
			continue;
		}
		r = storage_read(file, l1e, sizeof(l1e), sn->l1_table_offset + l1_idx * 8);
		if (r < 0)
			goto out;
		l2_off = load_be64(l1e) & OFFSET_MASK;
		if (!l2_off) {
			st.zero_bytes += next - g;
			g = next;
			continue;
		}
		if (!host_ok(v, l2_off)) {
			log_err("%s: L2 table at 0x%llx lies outside the file", name,
				(unsigned long long)l2_off);
			r = VMC_ECORRUPT;
			goto out;
		}
		r = read_host(v, l2, (size_t)cs, l2_off);
		if (r < 0)
			goto out;
		r = map_l2(v, h, l2, (size_t)((g >> h->cluster_bits) & ((1ull << l2_bits) - 1)),
			   first, count, &st);
		if (r < 0)
			goto out;
		g = next;
	}
	r = storage_new(&vmstate_ops, v, name, &info, ret_st);
	v = NULL; /* storage_new owns it, on failure too */
	if (r == 0 && ret_stats)
		*ret_stats = st;
out:
	free(l2);
	vm_close(v);
	return r;
}
