/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Guest offset to host offset: L1 and L2 entries (standard and extended), over a storage handle. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "io/storage.h"
#include "qcow2/qcow2.h"
#include "qcow2/qcow2_io.h"
#include "vmcrypt.h"

struct qcow2_map {
	struct qcow2_source src;
	const struct qcow2_header *h;
	uint64_t file_size;
	uint64_t *l1; /* host-endian entries */
	uint32_t l1_size;
	uint8_t *l2; /* the L2 table read last (big-endian, as on disk) */
	uint64_t l2_offset;
};

int qcow2_l1_decode(const struct qcow2_header *h, uint64_t e, uint64_t *ret_l2)
{
	uint64_t off = e & QCOW2_OFFSET_MASK;

	if ((e & QCOW2_L1_RESERVED) || (off & (h->cluster_size - 1))) {
		log_err("qcow2: L1 entry 0x%016llx has reserved bits set or is misaligned",
			(unsigned long long)e);
		return VMC_ECORRUPT;
	}
	*ret_l2 = off;
	return 0;
}

static int l2_corrupt(uint64_t entry, const char *what)
{
	log_err("qcow2: L2 entry 0x%016llx: %s", (unsigned long long)entry, what);
	return VMC_ECORRUPT;
}

/* Compressed cluster descriptor: host byte offset and stored length (whole 512-byte sectors). */
static int decode_compressed(const struct qcow2_header *h, uint64_t entry, uint64_t bitmap,
			     struct qcow2_run *run)
{
	unsigned shift = 62 - (h->cluster_bits - 8);
	uint64_t nsec = ((entry & ~QCOW2_OFLAG_COPIED & ~QCOW2_OFLAG_COMPRESSED) >> shift) + 1;
	uint64_t host = entry & ((1ull << shift) - 1);

	if (entry & QCOW2_OFLAG_COPIED)
		return l2_corrupt(entry, "a compressed cluster marked copied");
	if (bitmap)
		return l2_corrupt(entry, "a compressed cluster with a subcluster bitmap");
	run->kind = QCOW2_COMPRESSED;
	run->host = host;
	run->csize = nsec * 512 - (host & 511);
	return 0;
}

int qcow2_l2_decode(const struct qcow2_header *h, uint64_t entry, uint64_t bitmap,
		    uint64_t in_cluster, struct qcow2_run *ret_run)
{
	struct qcow2_run run = {QCOW2_UNALLOCATED, 0, h->cluster_size - in_cluster, 0};
	uint64_t host = entry & QCOW2_OFFSET_MASK;
	int r;

	if (in_cluster >= h->cluster_size)
		return -EINVAL;
	if (entry & QCOW2_OFLAG_COMPRESSED) {
		if ((r = decode_compressed(h, entry, bitmap, &run)) < 0)
			return r;
		*ret_run = run;
		return 0;
	}
	if (entry & QCOW2_L2_RESERVED)
		return l2_corrupt(entry, "reserved bits set");
	if (host & (h->cluster_size - 1))
		return l2_corrupt(entry, "host offset not aligned to a cluster");
	if (!h->extended_l2) {
		if (entry & QCOW2_OFLAG_ZERO) {
			/* Version 2 has no zero flag: QEMU refuses such an entry. */
			if (h->version < 3)
				return l2_corrupt(entry, "zero flag in a version 2 image");
			run.kind = QCOW2_ZERO;
		} else if (host) {
			run.kind = QCOW2_DATA;
			run.host = host + in_cluster;
		}
		*ret_run = run;
		return 0;
	}
	/* Extended L2: bit 0 is reserved; the bitmap says, per subcluster, allocated or zero. */
	if (entry & QCOW2_OFLAG_ZERO)
		return l2_corrupt(entry, "bit 0 set in an extended L2 entry");
	{
		uint32_t alloc = (uint32_t)bitmap, zero = (uint32_t)(bitmap >> 32);
		unsigned sc = (unsigned)(in_cluster / h->subcluster_size), end = sc + 1;
		enum qcow2_kind kind;

		if (alloc & zero)
			return l2_corrupt(entry, "a subcluster both allocated and zero");
		if (alloc && !host)
			return l2_corrupt(entry, "allocated subclusters without a host cluster");
		kind = (alloc >> sc) & 1  ? QCOW2_DATA
		       : (zero >> sc) & 1 ? QCOW2_ZERO
					  : QCOW2_UNALLOCATED;
		for (; end < QCOW2_SUBCLUSTERS; end++) {
			enum qcow2_kind k = (alloc >> end) & 1	? QCOW2_DATA
					    : (zero >> end) & 1 ? QCOW2_ZERO
								: QCOW2_UNALLOCATED;
			if (k != kind)
				break;
		}
		run.kind = kind;
		run.length = end * h->subcluster_size - in_cluster;
		if (kind == QCOW2_DATA)
			run.host = host + in_cluster;
	}
	*ret_run = run;
	return 0;
}

int qcow2_map_open_source(const struct qcow2_source *src, const struct qcow2_header *h,
			  uint64_t l1_offset, uint32_t l1_size, struct qcow2_map **ret_map)
{
	struct qcow2_map *map = calloc(1, sizeof(*map));
	uint8_t *raw = NULL;
	int r;

	if (!map)
		return -ENOMEM;
	map->src = *src;
	map->h = h;
	map->l1_size = l1_size;
	map->l2_offset = UINT64_MAX;
	map->file_size = src->size;
	map->l1 = calloc(l1_size ? l1_size : 1, sizeof(*map->l1));
	raw = malloc(l1_size ? (size_t)l1_size * 8 : 1);
	map->l2 = malloc(h->cluster_size);
	if (!map->l1 || !raw || !map->l2) {
		r = -ENOMEM;
		goto out;
	}
	if (l1_size && (r = src->read(src->ctx, raw, (size_t)l1_size * 8, l1_offset)) < 0) {
		if (r == -ENODATA) {
			log_err("%s: qcow2 L1 table at %llu beyond the end of the file", src->name,
				(unsigned long long)l1_offset);
			r = VMC_ECORRUPT;
		}
		goto out;
	}
	for (uint32_t i = 0; i < l1_size; i++)
		map->l1[i] = load_be64(raw + (size_t)i * 8);
	*ret_map = map;
	map = NULL;
	r = 0;
out:
	free(raw);
	qcow2_map_free(map);
	return r;
}

static int storage_source_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	return storage_read(ctx, buf, len, off);
}

int qcow2_source_storage(struct storage *st, struct qcow2_source *ret_src)
{
	struct qcow2_source src = {storage_source_read, st, 0, storage_path(st)};
	int r;

	if ((r = storage_size(st, &src.size)) < 0)
		return r;
	*ret_src = src;
	return 0;
}

int qcow2_map_open(struct storage *st, const struct qcow2_header *h, uint64_t l1_offset,
		   uint32_t l1_size, struct qcow2_map **ret_map)
{
	struct qcow2_source src;
	int r;

	if ((r = qcow2_source_storage(st, &src)) < 0)
		return r;
	return qcow2_map_open_source(&src, h, l1_offset, l1_size, ret_map);
}

void qcow2_map_free(struct qcow2_map *map)
{
	if (!map)
		return;
	free(map->l1);
	free(map->l2);
	free(map);
}

static int load_l2(struct qcow2_map *map, uint64_t l2)
{
	uint64_t end;
	int r;

	if (map->l2_offset == l2)
		return 0;
	map->l2_offset = UINT64_MAX;
	if (!add_u64(l2, map->h->cluster_size, &end) || end > map->file_size) {
		log_err("%s: qcow2 L2 table at %llu beyond the end of the file", map->src.name,
			(unsigned long long)l2);
		return VMC_ECORRUPT;
	}
	if ((r = map->src.read(map->src.ctx, map->l2, map->h->cluster_size, l2)) < 0)
		return r;
	map->l2_offset = l2;
	return 0;
}

int qcow2_map_get(struct qcow2_map *map, uint64_t off, uint64_t max, struct qcow2_run *ret_run)
{
	const struct qcow2_header *h = map->h;
	uint64_t cluster = off >> h->cluster_bits, in = off & (h->cluster_size - 1);
	uint64_t l1i = cluster / h->l2_entries, l2i = cluster % h->l2_entries, l2, entry,
		 bitmap = 0;
	struct qcow2_run run;
	uint64_t end;
	int r;

	if (l1i >= map->l1_size) {
		/* Past the table everything is unallocated: one run (a VM state may be huge). */
		run = (struct qcow2_run){QCOW2_UNALLOCATED, 0, max, 0};
		goto done;
	}
	if ((r = qcow2_l1_decode(h, map->l1[l1i], &l2)) < 0)
		return r;
	if (!l2) {
		/* No L2 table: the rest of its span is unallocated. */
		uint64_t span = (uint64_t)h->l2_entries * h->cluster_size;
		run = (struct qcow2_run){QCOW2_UNALLOCATED, 0, span - off % span, 0};
		goto done;
	}
	if ((r = load_l2(map, l2)) < 0)
		return r;
	if (h->extended_l2) {
		entry = load_be64(map->l2 + l2i * 16);
		bitmap = load_be64(map->l2 + l2i * 16 + 8);
	} else {
		entry = load_be64(map->l2 + l2i * 8);
	}
	if ((r = qcow2_l2_decode(h, entry, bitmap, in, &run)) < 0)
		return r;
	/*
	 * Only the bytes asked for must lie in the file: QEMU leaves the file
	 * ending inside the last cluster it wrote part of (with subclusters).
	 */
	if (run.kind == QCOW2_DATA && run.length > max)
		run.length = max;
	if (run.kind == QCOW2_DATA &&
	    (!add_u64(run.host, run.length, &end) || end > map->file_size)) {
		log_err("%s: qcow2 data cluster at %llu beyond the end of the file", map->src.name,
			(unsigned long long)(run.host - in));
		return VMC_ECORRUPT;
	}
	if (run.kind == QCOW2_COMPRESSED &&
	    (!add_u64(run.host, run.csize, &end) || end > map->file_size + 511)) {
		log_err("%s: qcow2 compressed cluster at %llu beyond the end of the file",
			map->src.name, (unsigned long long)run.host);
		return VMC_ECORRUPT;
	}
done:
	if (run.length > max)
		run.length = max;
	*ret_run = run;
	return 0;
}

uint64_t qcow2_l1_span(const struct qcow2_header *h, uint32_t l1_size)
{
	/* At most 2^22 entries of at most 2^39 bytes: no overflow. */
	return (uint64_t)l1_size * h->l2_entries * h->cluster_size;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/*
 * L1 entries [first, last) name each L2 table at most once, as QEMU writes
 * them (snapshots share L2 tables between L1 tables, never inside one). A
 * hostile table naming one L2 table from every entry would make a walk of
 * its range cost 2^22 times one table's entries; refused instead.
 */
static int l2_tables_unique(const struct qcow2_map *map, uint64_t first, uint64_t last)
{
	uint64_t *t = malloc((last > first ? (size_t)(last - first) : 1) * sizeof(*t));
	size_t n = 0;
	int r = 0;

	if (!t)
		return -ENOMEM;
	for (uint64_t i = first; i < last; i++)
		if (map->l1[i] & QCOW2_OFFSET_MASK)
			t[n++] = map->l1[i] & QCOW2_OFFSET_MASK;
	qsort(t, n, sizeof(*t), cmp_u64);
	for (size_t i = 1; i < n && r == 0; i++)
		if (t[i] == t[i - 1]) {
			log_err("%s: qcow2 L2 table at %llu named twice by one L1 table",
				map->src.name, (unsigned long long)t[i]);
			r = VMC_ECORRUPT;
		}
	free(t);
	return r;
}

int qcow2_map_stats(struct qcow2_map *map, uint64_t off, uint64_t len,
		    struct qcow2_stats *ret_stats)
{
	const struct qcow2_header *h = map->h;
	uint64_t span = (uint64_t)h->l2_entries * h->cluster_size, first, last;
	struct qcow2_stats st = {0};
	uint64_t end;
	int r;

	if (!add_u64(off, len, &end)) {
		log_err("%s: qcow2 guest range beyond 2^64 bytes", map->src.name);
		return VMC_ECORRUPT;
	}
	first = off / span;
	last = end / span + (end % span != 0);
	if (last > map->l1_size)
		last = map->l1_size;
	if (first < last && (r = l2_tables_unique(map, first, last)) < 0)
		return r;
	while (off < end) {
		struct qcow2_run run;
		if ((r = qcow2_map_get(map, off, end - off, &run)) < 0)
			return r;
		if (run.kind == QCOW2_DATA) {
			st.data_bytes += run.length;
		} else if (run.kind == QCOW2_COMPRESSED) {
			/* One run never spans two clusters: each compressed run is one cluster. */
			st.compressed_bytes += run.length;
			st.compressed_clusters++;
		} else {
			st.zero_bytes += run.length;
		}
		off += run.length;
	}
	*ret_stats = st;
	return 0;
}

static int list_add(struct qcow2_cluster_list *list, uint64_t host)
{
	if (list->n == list->cap) {
		size_t cap = list->cap ? list->cap * 2 : 1024;
		uint64_t *p = realloc(list->host, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		list->host = p;
		list->cap = cap;
	}
	list->host[list->n++] = host;
	return 0;
}

int qcow2_collect_clusters(struct storage *st, const struct qcow2_header *h, uint64_t l1_offset,
			   uint32_t l1_size, struct qcow2_cluster_list *list,
			   uint64_t *ret_compressed)
{
	struct qcow2_map *map = NULL;
	size_t esize = h->extended_l2 ? 16 : 8;
	int r;

	if ((r = qcow2_map_open(st, h, l1_offset, l1_size, &map)) < 0)
		return r;
	for (uint32_t i = 0; i < l1_size; i++) {
		uint64_t l2 = 0;
		if ((r = qcow2_l1_decode(h, map->l1[i], &l2)) < 0)
			goto out;
		if (!l2)
			continue;
		if ((r = load_l2(map, l2)) < 0)
			goto out;
		for (uint32_t j = 0; j < h->l2_entries; j++) {
			uint64_t e = load_be64(map->l2 + j * esize), end;
			uint64_t bm = h->extended_l2 ? load_be64(map->l2 + j * esize + 8) : 0;
			uint64_t host = e & QCOW2_OFFSET_MASK;
			struct qcow2_run run;
			if ((r = qcow2_l2_decode(h, e, bm, 0, &run)) < 0)
				goto out;
			if (e & QCOW2_OFLAG_COMPRESSED) {
				(*ret_compressed)++;
				continue;
			}
			if (!host || (h->extended_l2 ? (uint32_t)bm == 0 : (e & QCOW2_OFLAG_ZERO)))
				continue;
			if (!add_u64(host, h->cluster_size, &end) || end > map->file_size) {
				log_err("%s: qcow2 data cluster at %llu beyond the end of the file",
					storage_path(st), (unsigned long long)host);
				r = VMC_ECORRUPT;
				goto out;
			}
			if ((r = list_add(list, host)) < 0)
				goto out;
		}
	}
out:
	qcow2_map_free(map);
	return r;
}
