/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* qcow2 internal snapshots: the header fields and snapshot table that say where a VM state lies. */
#ifndef VMC_FORMAT_QCOW2_SNAP_H
#define VMC_FORMAT_QCOW2_SNAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct storage;

/* Bytes of the qcow2 header the parser needs (version 2 headers are 72 bytes long). */
#define QCOW2_SNAP_HEADER_LEN 104
/* QEMU's own caps (QCOW_MAX_SNAPSHOTS, QCOW_MAX_SNAPSHOTS_SIZE, QCOW_MAX_L1_SIZE). */
#define QCOW2_SNAP_MAX	     65536u
#define QCOW2_SNAP_TABLE_MAX (64u << 20)
#define QCOW2_SNAP_L1_MAX    (32u << 20)

/* What the header says, in host byte order. */
struct qcow2_info {
	uint32_t version;      /* 2 or 3 */
	uint32_t cluster_bits; /* 9 .. 21 */
	uint64_t size;	       /* virtual disk size in bytes */
	uint32_t crypt_method; /* 0 none, 1 legacy AES, 2 LUKS */
	uint32_t nb_snapshots;
	uint64_t snapshots_offset;
	bool extended_l2; /* incompatible feature bit 4: 16-byte L2 entries with subclusters */
};

/* One entry of the snapshot table. */
struct qcow2_snap {
	char id[64];	/* id_str (truncated if longer) */
	char name[256]; /* name (truncated if longer) */
	uint64_t l1_table_offset;
	uint32_t l1_size;	/* entries */
	uint64_t vm_state_size; /* bytes of VM state (guest RAM and devices); 0: disk only */
	uint64_t disk_size;	/* virtual disk size when the snapshot was taken */
	uint32_t date_sec;
};

/*
 * Parses a qcow2 header from its first len bytes. 0; -EINVAL when buf is no
 * qcow2 image (magic); VMC_ENOTSUP for version 1 or an unknown version;
 * VMC_ECORRUPT for impossible fields (cluster size, counts above QEMU's caps,
 * a table offset that is not 8-byte aligned).
 */
int qcow2_parse_header(const uint8_t *buf, size_t len, struct qcow2_info *ret);

/*
 * Bytes of snapshot table to read at h->snapshots_offset to parse every
 * entry: nothing is known of the entries' sizes before reading them, so this
 * is QEMU's cap on a table (64 MiB) bounded by the entries' largest possible
 * total; callers read at most that much (less at the end of the file).
 */
uint64_t qcow2_snap_table_max(const struct qcow2_info *h);

/*
 * Parses the snapshot table (buf holds len bytes read at h->snapshots_offset)
 * into out, at most max entries. Returns the number of entries parsed, which
 * is less than h->nb_snapshots when max is smaller or the buffer ends (a
 * truncated read), or VMC_ECORRUPT when an entry is impossible (extra data
 * above QEMU's 1 KiB cap, an unaligned L1 table).
 */
int qcow2_parse_snapshots(const struct qcow2_info *h, const uint8_t *buf, size_t len,
			  struct qcow2_snap *out, size_t max);

/*
 * The guest offset where QEMU keeps a snapshot's VM state: right after the
 * virtual disk of disk_size bytes, rounded up to what one L1 entry covers
 * (qcow2's l1_vm_state_index). 0 on overflow (no valid image has it).
 */
uint64_t qcow2_vmstate_offset(const struct qcow2_info *h, uint64_t disk_size);

/* What qcow2_vmstate_open() found in a snapshot's VM state mapping. */
struct qcow2_vmstate_stats {
	uint64_t data_bytes;	   /* allocated clusters (read from the file) */
	uint64_t zero_bytes;	   /* unallocated or zero clusters (read as zeros) */
	uint64_t compressed_bytes; /* compressed clusters: not decompressed, read as zeros */
};

/*
 * A read-only storage handle, named name, whose bytes are the VM state of
 * snapshot sn of the qcow2 image open as file: vm_state_size bytes read
 * through the snapshot's own L1 and L2 tables (standard or extended entries).
 * Compressed clusters read as zeros and are counted in *ret_stats. The
 * mapping is loaded and checked here (every host cluster inside the file);
 * file must outlive the handle. Errors: VMC_ECORRUPT, -EFBIG (a VM state of
 * more than 64 GiB, or of more than 4 Mi clusters), -ENOMEM, read errors.
 */
int qcow2_vmstate_open(struct storage *file, const struct qcow2_info *h,
		       const struct qcow2_snap *sn, const char *name, struct storage **ret_st,
		       struct qcow2_vmstate_stats *ret_stats);

#endif
