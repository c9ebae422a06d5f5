/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the parts of the re-encryption engine share: the state of a run and the steps between files.
 */
#ifndef VMC_REENCRYPT_INTERNAL_H
#define VMC_REENCRYPT_INTERNAL_H

#include "reencrypt/reencrypt.h"
#include "volume/volume.h"

#define REQ_V2		"online-reencrypt-v2"
#define REQ_V3		"online-reencrypt-v3" /* decryption with a data shift */
#define FLAG_HOT	"in-reencryption"
#define FLAG_PREV	"backup-previous"
#define FLAG_FINAL	"backup-final"
#define FLAG_MOVED	"backup-moved-segment"
#define HOTZONE_DEFAULT (32ull << 20) /* two in flight: 64 MiB of buffers */
#define CHECKSUM_BLOCK	4096
#define M_MAX		512

/* A re-encryption in progress, derived from the header each time it is needed. */

struct reenc {
	struct storage *hdr, *data;
	struct luks_meta *m;
	int ks;		/* the reencrypt keyslot */
	bool backward;	/* the converted part grows from the end */
	bool to_linear; /* decrypt: the new layout is plaintext */
	bool from_linear;
	struct luks_segment prev, final, moved;
	bool has_moved;	      /* encryption with a data shift: logical [0, moved.size) sits there */
	bool shift_down;      /* decryption moving the data down: forward, moved chunk last */
	int dig_old, dig_new; /* -1 where the layout is linear */
	const uint8_t *k_old, *k_new;
	size_t k_old_len, k_new_len;
	struct volume *v_old, *v_new;
	uint64_t size; /* logical bytes to convert */
	uint32_t align;
	uint64_t hotzone;
	uint8_t *buf;
	const struct reenc_plan *plan;
	/*
	 * The reencrypt keyslot's fields, copied: the model is rewritten at every
	 * commit while the producer thread works.
	 */
	char type[24];
	char hash[LUKS_HASH_MAX];
	uint32_t bs;
	size_t hash_len;
	uint64_t area_off, area_size;
};

/* plan.c */
/* The segment carrying flag (a backup or the in-reencryption hotzone), or -1. */
int reenc_backup_segment(const struct luks_meta *m, const char *flag);
/* The reencrypt keyslot, or -1. */
int reenc_keyslot(const struct luks_meta *m);
/* A piece of layout tmpl covering logical [off, off + len) (len 0: to the end). */
struct luks_segment reenc_piece(const struct luks_segment *tmpl, uint64_t off, uint64_t len,
				const char *flag);
/* The backup segment of layout tmpl (whole device) marked flag. */
struct luks_segment reenc_backup(const struct luks_segment *tmpl, const char *flag);
/*
 * Sets (in the JSON tree) the state where logical [0, done) (forward) or
 * [done, size) (backward) has the new layout, with [hot, hot + hot_len) in
 * flight when hot_len > 0.
 */
int reenc_layout_state(struct reenc *re, uint64_t done, uint64_t hot, uint64_t hot_len);
/* Writes that state: a commit point. */
int reenc_commit_state(struct reenc *re, uint64_t done, uint64_t hot, uint64_t hot_len);
/* Frees what a loaded state owns (volumes, buffer). */
void reenc_clear(struct reenc *re);
/* Derives the state of the re-encryption from the header m, with the keys of both layouts. */
int reenc_load(struct reenc *re, struct storage *hdr, struct storage *data, struct luks_meta *m,
	       const struct reenc_keys *keys, const struct reenc_plan *plan);
/* Where the converted part ends (forward) or starts (backward), from the segments. */
int reenc_progress_of(const struct reenc *re, uint64_t *ret_done, uint64_t *ret_hot,
		      uint64_t *ret_hot_len);

/* digest.c */
/* Creates the digest that binds the reencrypt keyslot to both keys and the layouts. */
int reenc_digest_make(struct reenc *re);
/* VMC_ECORRUPT (with a message) unless the reencrypt digest matches the header and keys. */
int reenc_digest_verify(struct reenc *re);

/* step.c */
/* Old stored bytes -> plaintext -> new stored bytes, in place. */
int reenc_transform(struct reenc *re, uint8_t *buf, size_t len, uint64_t off);
/* True unless the resilience is none (nothing saved before a hotzone is rewritten). */
bool reenc_resilient(const struct reenc *re);
/* Where the old layout keeps logical offset off (the moved copy for the first chunk). */
uint64_t reenc_source_phys(struct reenc *re, uint64_t off);
/* The progress once the zone [off, off + len) is done. */
uint64_t reenc_after_zone(const struct reenc *re, uint64_t off, uint64_t len);
/* Runs the steps from progress *done until the end, a stop, or an error. */
int reenc_run_steps(struct reenc *re, const struct reenc_plan *plan, uint64_t *done);

/* recovery.c */
/* Repairs the hotzone [off, off + len) a crash left in-reencryption, from what its step saved. */
int reenc_recover(struct reenc *re, uint64_t off, uint64_t len);

/* finish.c */
/* The final header: only the new layout, old keyslots and the reencrypt keyslot gone. */
int reenc_finish(struct reenc *re, const struct reenc_plan *plan);

/* rekey.c, inplace.c */
/* Plaintext bytes of the data segment of d (outside a re-encryption). */
uint64_t reenc_dev_data_size(const struct reenc_dev *d);

#endif
