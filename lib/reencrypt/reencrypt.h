/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* LUKS2 re-encryption: a resumable state machine in cryptsetup's on-disk form. */
#ifndef VMC_REENCRYPT_H
#define VMC_REENCRYPT_H

#include "format/meta.h"
#include "io/storage.h"
#include "vmcrypt.h"

/* Keys of an image in re-encryption, by digest id (secmem; NULL where unknown). */
struct reenc_keys {
	uint8_t *key[LUKS_MAX_DIGESTS];
	size_t len[LUKS_MAX_DIGESTS];
};

void reenc_keys_clear(struct reenc_keys *keys);

/*
 * Tries pass on every active keyslot and keeps the key of each digest it
 * opens. Succeeds when every crypt segment (regular and backup) of m has its
 * key; otherwise VMC_EPASS naming what is missing.
 */
int reenc_unlock(const struct luks_meta *m, struct storage *hdr, const void *pass, size_t pass_len,
		 struct reenc_keys *keys);

/* True when a hotzone is marked in-reencryption (a crash left it: recovery needed). */
bool reenc_needs_recovery(const struct luks_meta *m);

/* What a new re-encryption does (resolved by the caller; see vmc_reencrypt_params). */
struct reenc_plan {
	const char *mode;	/* "reencrypt", "encrypt", "decrypt" */
	const char *resilience; /* "checksum", "journal", "none", "datashift" */
	const char *hash;	/* checksum hash */
	uint64_t hotzone;	/* bytes per step (0: default) */
	uint64_t stop_after;	/* tests: stop cleanly after this many bytes (0: never) */
	bool recover_only;	/* repair a crashed hotzone, then stop (-ECANCELED) */
	bool private_after;	/* the finish clears a public-key label (its keyslot is gone) */
	vmc_progress_fn *progress;
	void *userdata;
};

/*
 * Runs (or resumes) the re-encryption recorded in m until it is finished or
 * stopped: recovery of a crash state first, then step after step, then the
 * final header. keys must hold the old and new keys (reenc_unlock). Returns 0
 * when finished, -ECANCELED when stopped cleanly (resumable).
 */
int reenc_run(struct storage *hdr, struct storage *data, struct luks_meta *m,
	      const struct reenc_keys *keys, const struct reenc_plan *plan);

/* A new re-encryption: the two layouts and the keys. */
struct reenc_start {
	const char *mode; /* "reencrypt", "encrypt", "decrypt" */
	bool backward;
	const struct luks_segment *prev;  /* the current layout (whole device) */
	const struct luks_segment *final; /* the new layout */
	const struct luks_segment
	    *moved;	/* encrypt with a data shift: where the first chunk went */
	uint64_t shift; /* a data shift: by how many bytes the data moves */
	int old_digest; /* verifies the key of prev (-1: linear) */
	int new_digest; /* verifies the key of final (-1: linear) */
	uint64_t size;	/* logical bytes to convert */
	const uint8_t *k_old, *k_new;
	size_t k_old_len, k_new_len;
};

/*
 * Starts a re-encryption: adds the reencrypt keyslot and its digest, the
 * initial segments with the backups and the requirement, then commits (one
 * header write; no data touched). With hdr NULL only the model is changed (for
 * a header that is about to be written for the first time). The new key must
 * already sit in a keyslot of new_digest.
 */
int reenc_init(struct storage *hdr, struct luks_meta *m, const struct reenc_start *st,
	       const struct reenc_plan *plan);

#endif
