/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Sharing inside the crypto module only: digests by LUKS hash name, libgcrypt's set-up. */
#ifndef VMC_CRYPTO_INTERNAL_H
#define VMC_CRYPTO_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gcrypt.h>
#include <openssl/evp.h>

struct crypto_hash_ctx;

/*
 * Fetches the OpenSSL digest for a LUKS hash name ("sha256", "ripemd160", ...).
 * Returns a new reference the caller releases with EVP_MD_free(), or NULL when
 * the name is unknown or the loaded providers do not implement it.
 */
EVP_MD *crypto_md_fetch(const char *hash);

/*
 * The libgcrypt algorithm for a LUKS hash name that OpenSSL does not provide
 * here (whirlpool, sm3, stribog256/512, blake2b-*, blake2s-*, and ripemd160
 * when OpenSSL hides it in its legacy provider), or 0. Hashes OpenSSL has are
 * always taken from OpenSSL, so one name means one implementation.
 */
int crypto_gcry_md_algo(const char *hash);

/*
 * Initialises libgcrypt once per process (any thread): its allocations go to
 * the locked arena of osslmem.c unless the application initialised it first.
 * 0, -ENOTSUP (older than 1.9), -EIO.
 */
int crypto_gcry_init(void);
/* Flags for gcry_cipher_open()/gcry_md_open() of handles that hold secrets. */
unsigned crypto_gcry_cipher_flags(void);
unsigned crypto_gcry_md_flags(void);

/*
 * Reusable digest contexts (AF diffusion hashes thousands of short chunks):
 * crypto_hash_digest() writes the digest and leaves the context needing a
 * crypto_hash_reset() before the next message. Both 0 or -EIO.
 */
int crypto_hash_reset(struct crypto_hash_ctx *ctx);
int crypto_hash_digest(struct crypto_hash_ctx *ctx, uint8_t *out);
size_t crypto_hash_ctx_len(const struct crypto_hash_ctx *ctx);

/*
 * sector_cipher_new() forced onto libgcrypt, even for AES: the vector tests run
 * the IEEE 1619 AES vectors through both backends.
 */
struct sector_cipher;
int sector_cipher_new_gcry(const char *spec, const uint8_t *key, size_t key_len,
			   uint32_t sector_size, struct sector_cipher **ret_cipher);

/* Largest digest of any supported hash (whirlpool, sha512, stribog512, blake2b-512). */
#define CRYPTO_HASH_MAX 64

#endif
