/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The in-memory model shared by LUKS1 and LUKS2: keyslots, digests, segments. */
#ifndef VMC_FORMAT_META_H
#define VMC_FORMAT_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/backend.h"

#define LUKS_MAX_KEYSLOTS 32
#define LUKS_MAX_DIGESTS  32
#define LUKS_MAX_SEGMENTS 32
#define LUKS_SALT_MAX	  64
#define LUKS_DIGEST_MAX	  64
#define LUKS_CIPHER_MAX	  64
#define LUKS_HASH_MAX	  32
#define LUKS_UUID_LEN	  40
#define LUKS_LABEL_LEN	  48
#define LUKS_KEY_MAX	  128	 /* volume key bytes accepted from a header */
#define LUKS_STRIPES_MAX  100000 /* AF stripes accepted from a header */
#define LUKS_AF_STRIPES	  4000	 /* what LUKS2 keyslots hold (and cryptsetup reads) */
#define LUKS_SECTOR	  512

/* LUKS2 sizes (bytes). */
#define LUKS2_HDR_BIN_LEN	  4096
#define LUKS2_HDR_MIN		  0x4000    /* 16 KiB */
#define LUKS2_HDR_MAX		  0x400000  /* 4 MiB */
#define LUKS2_KEYSLOTS_MAX	  0x8000000 /* 128 MiB: the largest keyslots_size cryptsetup takes */
#define LUKS2_DATA_OFFSET_DEFAULT (16u * 1024 * 1024)

enum luks_keyslot_kind {
	LUKS_KEYSLOT_UNUSED,
	LUKS_KEYSLOT_LUKS2,	/* holds a volume key behind a passphrase */
	LUKS_KEYSLOT_REENCRYPT, /* LUKS2 reencrypt slot: no key, holds resilience data */
	LUKS_KEYSLOT_UNKNOWN,	/* a type we do not understand: kept, never opened */
};

struct luks_keyslot {
	enum luks_keyslot_kind kind;
	int priority; /* LUKS2: 0 ignore, 1 normal (default), 2 high */
	size_t key_size;
	struct kdf_params kdf;
	uint8_t salt[LUKS_SALT_MAX];
	size_t salt_len;
	char af_hash[LUKS_HASH_MAX];
	uint32_t stripes;
	uint64_t area_offset; /* bytes from the start of the header device */
	uint64_t area_size;
	char area_cipher[LUKS_CIPHER_MAX];
	size_t area_key_size;
	int digest; /* index of the digest that verifies this slot's key, or -1 */
	/*
	 * A luks2 keyslot whose structure is valid but whose values cannot be
	 * used (cryptsetup accepts such a header and fails only the unlock):
	 * VMC_ECORRUPT or VMC_ENOTSUP with the reason, reported when it is opened.
	 */
	int defect;
	char defect_why[128];
	/* A reencrypt keyslot: what the re-encryption is and how its hotzone is protected. */
	struct luks_reenc {
		char mode[16];	    /* "reencrypt", "encrypt", "decrypt" */
		char direction[16]; /* "forward", "backward" */
		char type[24];	    /* "checksum", "journal", "none", "datashift", ... */
		char hash[LUKS_HASH_MAX];
		uint32_t sector_size; /* checksum block size */
		uint64_t shift;	      /* datashift bytes */
	} reenc;
};

struct luks_digest {
	bool used;
	char hash[LUKS_HASH_MAX];
	uint32_t iterations;
	uint8_t salt[LUKS_SALT_MAX];
	size_t salt_len;
	uint8_t value[LUKS_DIGEST_MAX];
	size_t value_len;
	uint64_t keyslots; /* bit mask */
	uint64_t segments; /* bit mask */
	int defect;	   /* as for keyslots: a digest that cannot verify any key */
	char defect_why[128];
};

enum luks_segment_kind {
	LUKS_SEGMENT_UNUSED,
	LUKS_SEGMENT_CRYPT,
	LUKS_SEGMENT_LINEAR,
	LUKS_SEGMENT_UNKNOWN, /* a type vmcrypt does not read: kept, its data refused */
};

struct luks_segment {
	enum luks_segment_kind kind;
	uint64_t offset; /* bytes in the data device */
	uint64_t size;	 /* bytes; ignored when dynamic */
	bool dynamic;	 /* extends to the end of the data device */
	uint64_t iv_tweak;
	char cipher[LUKS_CIPHER_MAX];
	uint32_t sector_size;
	bool backup;	/* a reencrypt backup-* segment (describes a key, not data) */
	char flag[32];	/* first flag, e.g. "backup-final", "in-reencryption" */
	bool integrity; /* authenticated encryption (dm-integrity): data not readable here */
};

struct luks2_json;

struct luks_meta {
	int version; /* 1 or 2 */
	char uuid[LUKS_UUID_LEN];
	/* LUKS1 fields. */
	char hash[LUKS_HASH_MAX];
	char cipher[LUKS_CIPHER_MAX]; /* "aes-xts-plain64" */
	size_t key_size;	      /* LUKS1 key_bytes */
	uint8_t raw1[592];	      /* LUKS1: the header as last read or written ... */
	bool have_raw1;		      /* ... when there is one (not for a header being built) */
	uint32_t payload_offset;      /* LUKS1, sectors */
	/* LUKS2 fields. */
	char label[LUKS_LABEL_LEN];
	char subsystem[LUKS_LABEL_LEN];
	char csum_alg[LUKS_HASH_MAX];
	uint64_t seqid;
	uint64_t hdr_size;	/* one metadata copy (binary + JSON) */
	uint64_t keyslots_size; /* bytes after the two copies */
	char requirement[64];	/* first mandatory requirement we do not understand, "" if none */
	bool reencrypt;		/* online-reencrypt requirement present */
	struct luks2_json *json;

	struct luks_keyslot keyslots[LUKS_MAX_KEYSLOTS];
	struct luks_digest digests[LUKS_MAX_DIGESTS];
	struct luks_segment segments[LUKS_MAX_SEGMENTS];
};

/* Frees what the model owns (the LUKS2 JSON tree) and clears it; NULL-safe. */
void luks_meta_clear(struct luks_meta *m);
/* True when the label marks a public-key image (VMC_PUBLIC_LABEL_PREFIX). */
bool luks_meta_is_public(const struct luks_meta *m);
/* Number of keyslots of the format (8 for LUKS1, 32 for LUKS2). */
int luks_meta_max_keyslots(const struct luks_meta *m);
/*
 * The segment holding the data in a header without re-encryption: the first
 * crypt segment. Returns its index or -1.
 */
int luks_meta_data_segment(const struct luks_meta *m);
/* Index of the digest that covers segment seg, or -1. */
int luks_meta_segment_digest(const struct luks_meta *m, int seg);
/* Data offset in bytes (the lowest data segment offset). */
uint64_t luks_meta_data_offset(const struct luks_meta *m);
/*
 * Plaintext bytes of the data segment (luks_meta_data_segment) on a data
 * device of dev_size bytes: its size, or for a dynamic segment what fits
 * from its offset on, in whole sectors. 0 without a data segment.
 */
uint64_t luks_meta_data_size(const struct luks_meta *m, uint64_t dev_size);

struct storage;
/*
 * Reads whichever LUKS version the header device st holds into m (LUKS2: both
 * copies, *ret_damaged (may be NULL) set when one needs repair). Errors are
 * logged with the device's name: VMC_ENOTLUKS, VMC_ECORRUPT, VMC_ENOTSUP, I/O.
 */
int luks_meta_load(struct storage *st, struct luks_meta *m, bool *ret_damaged);

#endif
