/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* New LUKS1/LUKS2 headers. */
#ifndef VMC_FORMAT_CREATE_H
#define VMC_FORMAT_CREATE_H

#include "format/meta.h"
#include "io/storage.h"
#include "vmcrypt.h"

/*
 * Formats a new image: resolves defaults (see struct vmc_format_params),
 * validates them, sizes the files (sparse), generates (or takes) the volume
 * key, writes the first keyslot and then the header. hdr and data are the same
 * storage unless the header is detached. On success m describes the new header
 * and *ret_vk (secmem) holds the volume key.
 */
/* What an in-place encryption changes in a format (NULL: a plain new image). */
struct format_hook {
	/* Called on the LUKS2 model before the first header write; may edit m->json. */
	int (*prepare)(struct luks_meta *m, const uint8_t *vk, size_t vk_len, void *ctx);
	void *ctx;
	uint64_t data_offset; /* the data starts here (header inside); 0: the default */
	bool keep_size;	      /* never resize the data file */
};

/* The size of the data file luks_format makes of p (no hook): header and data, or the data alone
 * with a detached header. */
int luks_format_size(const struct vmc_format_params *p, uint64_t *ret_size);
int luks_format(struct storage *hdr, struct storage *data, const struct vmc_format_params *p,
		const struct format_hook *hook, const void *pass, size_t pass_len,
		struct luks_meta *m, uint8_t **ret_vk);

/*
 * Resolves KDF parameters for a new keyslot of key_len bytes: the named PBKDF
 * (default argon2id for LUKS2, pbkdf2 for LUKS1), forced costs or a benchmark
 * to iter_time_ms (default 2000). *ret_digest_iterations (may be NULL)
 * receives the PBKDF2 iterations for a new volume key digest.
 */
int luks_kdf_plan(int version, const char *pbkdf, const char *hash, uint32_t iter_time_ms,
		  uint32_t force_iterations, uint32_t memory_kib, uint32_t parallel, size_t key_len,
		  struct kdf_params *ret_kdf, uint32_t *ret_digest_iterations);

#endif
