/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The key scanner's engines (known key, any AES schedule), hits, and the file driver. */
#ifndef VMC_SCAN_INTERNAL_H
#define VMC_SCAN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmcrypt.h"

enum scan_what {
	SCAN_WHAT_KEY,		/* raw key bytes */
	SCAN_WHAT_ENC_SCHEDULE, /* expanded AES encryption schedule */
	SCAN_WHAT_DEC_SCHEDULE, /* AES decryption schedule (equivalent inverse cipher) */
};

enum scan_layout {
	SCAN_LAYOUT_BYTES, /* FIPS-197 byte order (AES-NI, kernel, OpenSSL x86-64, QEMU back ends)
			    */
	SCAN_LAYOUT_WORDS, /* each 32-bit word byte-reversed (OpenSSL's portable C AES_KEY) */
};

/* Which part of a known volume key a hit is. */
enum scan_part {
	SCAN_PART_NONE,	  /* any-schedule mode: no known key */
	SCAN_PART_WHOLE,  /* the whole volume key (or the whole key used as one AES key) */
	SCAN_PART_FIRST,  /* first half: the XTS data key */
	SCAN_PART_SECOND, /* second half: the XTS tweak key */
};

/* One finding. In any-schedule mode key holds the AES key recovered: a secret. */
struct scan_hit {
	uint64_t offset;
	uint32_t file;	   /* index into the scanned paths */
	uint16_t len;	   /* bytes the finding covers */
	uint16_t key_bits; /* AES key size of a schedule, or bits of raw key bytes */
	uint8_t what;	   /* enum scan_what */
	uint8_t layout;	   /* enum scan_layout */
	uint8_t part;	   /* enum scan_part */
	uint8_t bit_errors;
	uint8_t key[32];
};

/* Receives each hit; a negative return stops the scan with that error. */
typedef int scan_emit_fn(void *ctx, const struct scan_hit *h);

/* Bytes an any-schedule window needs (AES-256); chunks overlap by this minus one. */
#define SCAN_ANY_WINDOW 240
/* Largest tolerated number of flipped bits in a schedule. */
#define SCAN_MAX_BIT_ERRORS 64

/*
 * Known-key engine: the volume key, its halves, and the encryption and
 * decryption schedules of each AES key they make, in both memory layouts.
 * Everything derived from the key lives in one secmem block.
 */
struct scan_known;

/* Builds the pattern set for a volume key of len bytes (16 to 64). 0, -EINVAL, -ENOMEM. */
int scan_known_new(const uint8_t *vk, size_t len, struct scan_known **ret_k);
void scan_known_free(struct scan_known *k);
/* Length of the longest pattern: chunks must overlap by this minus one. */
size_t scan_known_window(const struct scan_known *k);

/*
 * Reports every pattern found at buf[p] for p < limit (bytes up to len may be
 * read to complete a match); base is the file offset of buf[0]. At each
 * position only the longest matching pattern is reported. Returns 0 or the
 * emitter's negative error.
 */
int scan_known_buf(const struct scan_known *k, const uint8_t *buf, size_t len, size_t limit,
		   uint64_t base, uint32_t file, scan_emit_fn *emit, void *ctx);

/*
 * Any-schedule engine, in the manner of aeskeyfind: at every byte offset,
 * windows that satisfy the AES-128/192/256 key expansion (encryption or
 * decryption schedule, either layout) within max_bit_errors flipped bits.
 */
struct scan_any;

/* 0, -EINVAL (max_bit_errors above SCAN_MAX_BIT_ERRORS), -ENOMEM, -EIO (no S-box). */
int scan_any_new(unsigned max_bit_errors, struct scan_any **ret_a);
void scan_any_free(struct scan_any *a);
/* Same contract as scan_known_buf(); hits carry the recovered key. */
int scan_any_buf(const struct scan_any *a, const uint8_t *buf, size_t len, size_t limit,
		 uint64_t base, uint32_t file, scan_emit_fn *emit, void *ctx);

/*
 * Checks whether a window at w (nbytes available) is a schedule of a
 * key_len-byte key within max_bit_errors; fills *h (what, layout, key,
 * bit_errors, len, key_bits) and returns true when it is. For tests.
 */
bool scan_any_check_window(const struct scan_any *a, const uint8_t *w, size_t nbytes,
			   size_t key_len, bool decrypt, struct scan_hit *h);

/* A growable list of hits in secret memory (keys of any-mode hits are secrets). */
struct scan_hits {
	struct scan_hit *v; /* secmem */
	size_t n, cap;
	uint64_t dropped; /* hits beyond SCAN_MAX_HITS, counted only */
};

#define SCAN_MAX_HITS (1u << 20)

int scan_hits_add(struct scan_hits *l, const struct scan_hit *h);
void scan_hits_clear(struct scan_hits *l);
/* Sorts by file and offset and drops hits lying inside a longer one. */
void scan_hits_normalize(struct scan_hits *l);

/*
 * Scans one file or block device with either engine over threads workers in
 * bounded memory (threads * (chunk + window) bytes of secmem). The calling
 * thread reports progress (done_before + bytes scanned of total) a few times a
 * second; a false return from progress cancels (-ECANCELED). *ret_size
 * receives the size scanned.
 */
struct scan_file_job {
	const struct scan_known *known; /* exactly one of known and any */
	const struct scan_any *any;
	unsigned threads;
	size_t chunk;
	uint32_t file;
	struct scan_hits *hits;
	vmc_progress_fn *progress;
	void *userdata;
	uint64_t done_before, total;
};

int scan_file(const char *path, const struct scan_file_job *job, uint64_t *ret_size);
/* The same over an open handle (a file, or a view such as a qcow2 snapshot's VM state). */
struct storage;
int scan_storage(struct storage *st, const struct scan_file_job *job, uint64_t *ret_size);

/*
 * The VM states in the internal snapshots of a qcow2 image, scanned besides the
 * file itself: each is a read-only view through the snapshot's L1/L2 tables.
 */
struct scan_vmstate {
	char *name;		   /* "PATH (snapshot 'NAME', VM state)", as reported */
	struct storage *st;	   /* the view; needs file open */
	struct storage *file;	   /* the image under it (shared by its snapshots) */
	uint32_t of;		   /* index of the scanned path it belongs to */
	char snapshot[256];	   /* the snapshot's name */
	uint64_t compressed_bytes; /* VM state in compressed clusters: not scanned */
};

struct scan_vmstates {
	struct scan_vmstate *v;
	size_t n;
};

/*
 * Adds a view for every snapshot with VM state of path (file index of) when
 * path is a qcow2 image; anything else adds nothing. A damaged snapshot table
 * is reported and skipped (the file itself is still scanned). 0 or -ENOMEM.
 */
int scan_vmstates_add(struct scan_vmstates *l, const char *path, uint32_t of);
void scan_vmstates_clear(struct scan_vmstates *l);
/* Size of a file or block device, for the progress total. */
int scan_file_size(const char *path, uint64_t *ret_size);

/*
 * --header: loads the LUKS header of path and tests candidate volume keys
 * built from the AES keys of any-mode hits against its digest.
 */
struct scan_header_match {
	bool loaded;
	bool matched;
	char cipher[64];
	size_t key_len;
	unsigned tested;  /* digest computations */
	unsigned skipped; /* candidates beyond the cap */
	size_t hit_a,
	    hit_b; /* indices into the hit list of the key(s) that matched; b == a for one key */
};

int scan_header_match(const char *path, const struct scan_hits *hits,
		      struct scan_header_match *ret_m);

#endif
