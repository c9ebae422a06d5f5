/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The metadata of a new qcow2 image whose data clusters were laid out first:
 * L2 tables, the L1 table, refcount blocks and the refcount table appended
 * after the data, every cluster with refcount 1 (so every entry is "copied").
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "qcow2/qcow2.h"

int qcow2_refcount_layout(const struct qcow2_header *h, uint64_t used_clusters,
			  uint64_t *ret_blocks, uint64_t *ret_table_clusters)
{
	/* Entries of one refcount block: cluster_size * 8 / refcount bits. */
	uint64_t per_block = h->cluster_size * 8 >> h->refcount_order;
	uint64_t blocks = 0, table = 0, prev = UINT64_MAX;

	/* The refcount structures count themselves: iterate to the fixed point. */
	while (blocks + table != prev) {
		uint64_t total = used_clusters + blocks + table;
		prev = blocks + table;
		blocks = total / per_block + (total % per_block != 0);
		table = (blocks * 8) / h->cluster_size + ((blocks * 8) % h->cluster_size != 0);
	}
	if (table * h->cluster_size > QCOW2_MAX_REFTABLE_BYTES)
		return -EFBIG;
	*ret_blocks = blocks;
	*ret_table_clusters = table;
	return 0;
}

void qcow2_refcount_block_fill(const struct qcow2_header *h, uint8_t *block, uint64_t first,
			       uint64_t total)
{
	uint64_t per_block = h->cluster_size * 8 >> h->refcount_order;

	memset(block, 0, h->cluster_size);
	for (uint64_t i = 0; i < per_block && first + i < total; i++) {
		/* Refcount 1 in the entry's width (refcount_order 4: 16 bits, big-endian). */
		switch (h->refcount_order) {
		case 3:
			block[i] = 1;
			break;
		case 4:
			store_be16(block + i * 2, 1);
			break;
		case 5:
			store_be32(block + i * 4, 1);
			break;
		case 6:
			store_be64(block + i * 8, 1);
			break;
		default: /* orders 0..2: sub-byte entries, most significant bits first */
		{
			unsigned bits = 1u << h->refcount_order;
			uint64_t bit = i * bits;
			block[bit / 8] |= (uint8_t)(1u << (8 - bits - bit % 8));
		}
		}
	}
}
