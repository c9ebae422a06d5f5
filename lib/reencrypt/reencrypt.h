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

/*
 * The LUKS device a re-key or an in-place conversion works on, lent by its
 * owner (the image object above): the header and data storage (the same
 * handle unless the header is detached), the loaded header, which the engine
 * keeps true to the disk as it commits, and the keys it finds (secmem; owned
 * by the lender, filled by the engine). The engine never builds a plaintext
 * view: afterwards the owner builds one from meta and keys.
 */
struct reenc_dev {
	struct storage *hdr;
	struct storage *data;
	struct luks_meta *meta;
	struct reenc_keys *keys;
	bool read_only;
};

/* The engine's plan from the public re-encryption parameters. */
void reenc_plan_from(const struct vmc_reencrypt_params *p, struct reenc_plan *plan);

/*
 * Unlocks a device whose re-encryption is unfinished: the keys of both
 * layouts (one passphrase must open both) into d->keys, and recovery of a
 * crashed hotzone (VMC_EBUSY with a message when d is read-only).
 */
int reenc_open(struct reenc_dev *d, const void *pass, size_t pass_len);

/*
 * vmc_image_rekey's engine: resumes the re-encryption recorded in the header,
 * or starts a re-key (a new volume key under p->new_pass, or pass when none),
 * LUKS1 images through LUKS2 and back. 0 when finished, -ECANCELED when
 * stopped cleanly (resumable); d->keys then hold the keys of the layout.
 */
int reenc_rekey(struct reenc_dev *d, const void *pass, size_t pass_len,
		const struct vmc_reencrypt_params *p);

/*
 * Whether fp and reduce_size ask for an in-place encryption that can be done
 * (LUKS2; a detached header or a reduction, one of the two). Checked before
 * anything is opened or created; again by reenc_encrypt_in_place.
 */
int reenc_encrypt_in_place_check(const struct vmc_format_params *fp, uint64_t reduce_size);

/*
 * In-place encryption of the plain image on d->data (opened, locked; d->hdr is
 * the same handle or a new detached header file): formats the header, moves
 * data as reduce_size asks, runs the encryption. On success d->meta is the new
 * header and d->keys[0] its volume key (-ECANCELED: stopped, resumable).
 * fp->partition names the partition d->data is a window on (for the file
 * system probe).
 */
int reenc_encrypt_in_place(struct reenc_dev *d, const struct vmc_format_params *fp,
			   uint64_t reduce_size, bool force, const void *pass, size_t pass_len,
			   const struct vmc_reencrypt_params *p);

/*
 * In-place decryption (vmc_decrypt_in_place's engine). An image with its
 * header inside first moves the header to p->new_header: d->hdr is then that
 * new storage, owned by the lender from then on.
 */
int reenc_decrypt_in_place(struct reenc_dev *d, const void *pass, size_t pass_len,
			   const struct vmc_reencrypt_params *p);

/*
 * Run at every open of an image with its header inside: an in-place
 * encryption with a data shift keeps the start of the image in
 * PATH.vmcrypt-encrypt until its header is written. With header_ok the journal
 * is stale and removed; otherwise the start of the image is restored from it.
 */
int reenc_inplace_recover(struct storage *st, bool header_ok);

#endif
