/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * QEMU's qcow2 format (docs/interop/qcow2.txt), the pure part: header, extensions, L1/L2
 * maps and their sums, snapshots, over bytes or a caller's reader; no I/O module (the audit
 * uses it). Over storage handles, with locks: qcow2_io.h.
 */
#ifndef VMC_QCOW2_QCOW2_H
#define VMC_QCOW2_QCOW2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QCOW2_MAGIC	       0x514649fbu /* "QFI\xfb" */
#define QCOW2_V2_HEADER_LEN    72
#define QCOW2_V3_HEADER_LEN    104
#define QCOW2_MIN_CLUSTER_BITS 9
#define QCOW2_MAX_CLUSTER_BITS 21
#define QCOW2_MAX_HEADER_READ                                                             \
	(1u << QCOW2_MAX_CLUSTER_BITS)		      /* header + extensions: 1st cluster \
						       */
#define QCOW2_MAX_L1_BYTES	  (32u * 1024 * 1024) /* QEMU's QCOW_MAX_L1_SIZE */
#define QCOW2_MAX_REFTABLE_BYTES  (8u * 1024 * 1024)  /* QEMU's QCOW_MAX_REFTABLE_SIZE */
#define QCOW2_MAX_SNAPSHOTS	  65536
#define QCOW2_MAX_SNAPSHOTS_BYTES (64u * 1024 * 1024) /* QEMU's QCOW_MAX_SNAPSHOTS_SIZE */
#define QCOW2_MAX_SIZE		  (1ull << 56)	      /* host offsets have 56 bits */
#define QCOW2_BACKING_MAX	  1023
#define QCOW2_SUBCLUSTERS	  32 /* per cluster with extended L2 entries */

enum qcow2_crypt {
	QCOW2_CRYPT_NONE = 0,
	QCOW2_CRYPT_AES = 1,  /* legacy, broken: never opened */
	QCOW2_CRYPT_LUKS = 2, /* a LUKS1 header in the clusters the FDE extension names */
};

/* Incompatible feature bits. */
#define QCOW2_INCOMPAT_DIRTY	   (1ull << 0)
#define QCOW2_INCOMPAT_CORRUPT	   (1ull << 1)
#define QCOW2_INCOMPAT_DATA_FILE   (1ull << 2)
#define QCOW2_INCOMPAT_COMPRESSION (1ull << 3)
#define QCOW2_INCOMPAT_EXTL2	   (1ull << 4)
/*
 * vmcrypt's own: an in-place re-key is unfinished (lib/image/qcow2_rekey.c). QEMU knows
 * bits 0-4 only and refuses an image with any other incompatible bit set.
 */
#define QCOW2_INCOMPAT_VMCRYPT_REKEY (1ull << 63)
#define QCOW2_INCOMPAT_KNOWN	     (0x1full | QCOW2_INCOMPAT_VMCRYPT_REKEY)
#define QCOW2_COMPAT_LAZY_REFCOUNTS  (1ull << 0)
#define QCOW2_AUTOCLEAR_BITMAPS	     (1ull << 0)
#define QCOW2_AUTOCLEAR_DATA_RAW     (1ull << 1)

/* Header extension types. */
#define QCOW2_EXT_END	      0x00000000u
#define QCOW2_EXT_BACKING_FMT 0xe2792acau
#define QCOW2_EXT_FEATURES    0x6803f857u
#define QCOW2_EXT_BITMAPS     0x23852875u
#define QCOW2_EXT_FDE	      0x0537be77u /* full disk encryption header pointer */
#define QCOW2_EXT_DATA_FILE   0x44415441u

/* L1 and L2 entry bits. */
#define QCOW2_OFLAG_COPIED     (1ull << 63)
#define QCOW2_OFLAG_COMPRESSED (1ull << 62)
#define QCOW2_OFLAG_ZERO       (1ull << 0)
#define QCOW2_OFFSET_MASK      0x00fffffffffffe00ull
#define QCOW2_L1_RESERVED      0x7f000000000001ffull
#define QCOW2_L2_RESERVED      0x3f000000000001feull

/* The header as read (host-endian), with what the extensions say. */
struct qcow2_header {
	uint32_t version;
	uint64_t backing_file_offset;
	uint32_t backing_file_size;
	uint32_t cluster_bits;
	uint64_t cluster_size;
	uint64_t size; /* virtual disk size, bytes */
	uint32_t crypt_method;
	uint32_t l1_size;
	uint64_t l1_table_offset;
	uint64_t refcount_table_offset;
	uint32_t refcount_table_clusters;
	uint32_t nb_snapshots;
	uint64_t snapshots_offset;
	uint64_t incompatible;
	uint64_t compatible;
	uint64_t autoclear;
	uint32_t refcount_order;
	uint32_t header_length;
	uint8_t compression_type; /* 0 zlib, 1 zstd */
	/* Extensions. */
	bool have_fde;
	uint64_t fde_offset; /* the LUKS header's clusters: [fde_offset, fde_offset + fde_length) */
	uint64_t fde_length;
	bool have_data_file;
	char backing_file[QCOW2_BACKING_MAX + 1]; /* "" without one */
	char backing_format[32];
	/* Derived. */
	bool extended_l2;
	uint32_t l2_entries;	  /* entries in one L2 table */
	uint64_t subcluster_size; /* cluster_size / 32 with extended L2, else cluster_size */
	uint32_t l1_needed;	  /* L1 entries the virtual size needs */
};

/*
 * Parses the header and its extensions from buf, the first len bytes of the
 * file (the whole first cluster, or the whole file when it is shorter).
 * Checks every field QEMU checks (magic, version, cluster bits, table
 * offsets and sizes, feature bits, extension bounds). 0, or VMC_ENOTLUKS (no
 * qcow2 magic), VMC_ECORRUPT or VMC_ENOTSUP with a message.
 */
int qcow2_header_parse(const uint8_t *buf, size_t len, struct qcow2_header *ret_h);

/*
 * Serialises h (a version 3 header with the FDE extension when have_fde and
 * no other extension) into buf (len: at least the cluster size); the rest of
 * buf is zeroed. 0 or -EINVAL.
 */
int qcow2_header_write(const struct qcow2_header *h, uint8_t *buf, size_t len);

/* What one stretch of guest data is. */
enum qcow2_kind {
	QCOW2_UNALLOCATED, /* from the backing file, else zeros */
	QCOW2_ZERO,	   /* reads as zeros */
	QCOW2_DATA,	   /* at host, encrypted when the image is */
	QCOW2_COMPRESSED,  /* a compressed cluster (stored unencrypted by QEMU) */
};

/* One run of guest bytes of one kind; for QCOW2_DATA contiguous on the host from host. */
struct qcow2_run {
	enum qcow2_kind kind;
	uint64_t host;	 /* QCOW2_DATA: host offset of the run; QCOW2_COMPRESSED: of the data */
	uint64_t length; /* guest bytes of the run */
	uint64_t csize;	 /* QCOW2_COMPRESSED: compressed bytes stored at host */
};

/*
 * Decodes L2 entry (and, with extended L2, its subcluster bitmap) for the
 * byte in_cluster of its guest cluster: the run from there to the end of the
 * cluster or of the subclusters of that kind. VMC_ECORRUPT with a message on
 * reserved bits, misaligned offsets, contradictory bitmaps.
 */
int qcow2_l2_decode(const struct qcow2_header *h, uint64_t entry, uint64_t bitmap,
		    uint64_t in_cluster, struct qcow2_run *ret_run);
/* The L2 table offset in L1 entry e, or VMC_ECORRUPT (reserved bits, misaligned). */
int qcow2_l1_decode(const struct qcow2_header *h, uint64_t e, uint64_t *ret_l2);

/* One internal snapshot (a table entry). */
struct qcow2_snapshot {
	uint64_t l1_table_offset;
	uint32_t l1_size;
	uint64_t vm_state_size; /* bytes of saved VM state (RAM) */
	uint64_t disk_size;	/* the guest disk's size then (the header's, without the field) */
	uint64_t date_sec;
	uint64_t vm_clock_nsec;
	char id[64];
	char name[256];
};

/*
 * Parses the snapshot table (buf: the bytes at snapshots_offset, len of them)
 * into a new array of nb_snapshots entries (ret_snaps; free()), and the table's
 * byte length. VMC_ECORRUPT with a message.
 */
int qcow2_snapshots_parse(const struct qcow2_header *h, const uint8_t *buf, size_t len,
			  struct qcow2_snapshot **ret_snaps, size_t *ret_table_len);

/* Guest offset of the VM state area of a disk of size bytes (after the disk's L1 range). */
uint64_t qcow2_vm_state_offset(const struct qcow2_header *h, uint64_t size);

/*
 * A new image's refcount structures for used_clusters clusters (host clusters
 * 0..used_clusters-1) plus themselves: the number of refcount blocks and of
 * refcount table clusters. -EFBIG beyond QEMU's refcount table limit.
 */
int qcow2_refcount_layout(const struct qcow2_header *h, uint64_t used_clusters,
			  uint64_t *ret_blocks, uint64_t *ret_table_clusters);
/*
 * One refcount block (cluster_size bytes) giving refcount 1 to clusters
 * first, first + 1, ... up to total (exclusive), 0 to the rest.
 */
void qcow2_refcount_block_fill(const struct qcow2_header *h, uint8_t *block, uint64_t first,
			       uint64_t total);

struct qcow2_map;

/*
 * Where a map reads the qcow2 file: the caller's reader, so that this parser
 * needs no I/O module (the audit reads files its own way). read fills exactly
 * len bytes at off: 0, -ENODATA when the file ends first, or a negative errno.
 */
struct qcow2_source {
	int (*read)(void *ctx, void *buf, size_t len, uint64_t off);
	void *ctx;
	uint64_t size;	  /* the file's size in bytes */
	const char *name; /* the file, for messages */
};

/*
 * Reads the header from the file's first cluster (or all of a shorter file)
 * and parses it (qcow2_header_parse).
 */
int qcow2_header_load(const struct qcow2_source *src, struct qcow2_header *ret_h);
/*
 * Reads and parses the snapshot table of the file src with header h: a new
 * array of h->nb_snapshots entries (NULL for none; free()). VMC_ECORRUPT with
 * a message when the table is damaged, too large (QEMU's 64 MiB cap) or goes
 * beyond the end of the file.
 */
int qcow2_snapshots_load(const struct qcow2_source *src, const struct qcow2_header *h,
			 struct qcow2_snapshot **ret_snaps);

/*
 * A guest-to-host map over the L1 table at l1_offset (l1_size entries: the
 * active one or a snapshot's) of the qcow2 file src (copied), whose header is
 * h (kept by pointer: it must outlive the map). Reads the L1 table now and L2
 * tables as needed. Not thread-safe. 0, VMC_ECORRUPT (the table lies beyond
 * the file), -ENOMEM or the reader's error.
 */
int qcow2_map_open_source(const struct qcow2_source *src, const struct qcow2_header *h,
			  uint64_t l1_offset, uint32_t l1_size, struct qcow2_map **ret_map);
void qcow2_map_free(struct qcow2_map *map);
/*
 * The run at guest offset off, at most max bytes long. Host runs are checked
 * against the file's size (VMC_ECORRUPT otherwise).
 */
int qcow2_map_get(struct qcow2_map *map, uint64_t off, uint64_t max, struct qcow2_run *ret_run);

/* What the guest range [off, off + len) of one map holds, in guest bytes. */
struct qcow2_stats {
	uint64_t data_bytes;	      /* data clusters and allocated subclusters */
	uint64_t zero_bytes;	      /* zero or unallocated (zeros, or the backing file) */
	uint64_t compressed_bytes;    /* in compressed clusters */
	uint64_t compressed_clusters; /* compressed clusters (QEMU stores them unencrypted) */
};

/* Guest bytes the l1_size entries of an L1 table cover: the disk and a VM state area. */
uint64_t qcow2_l1_span(const struct qcow2_header *h, uint32_t l1_size);

/*
 * Walks the runs of [off, off + len) of map and adds them up in *ret_stats
 * (zeroed first). Errors as qcow2_map_get, and VMC_ECORRUPT when one L1 entry
 * of the range names an L2 table another one names (so the walk costs at
 * most one pass over each L2 table in the file); *ret_stats untouched then.
 */
int qcow2_map_stats(struct qcow2_map *map, uint64_t off, uint64_t len,
		    struct qcow2_stats *ret_stats);

#endif
