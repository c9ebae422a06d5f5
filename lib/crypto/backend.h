/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The crypto module: the only door to OpenSSL libcrypto, libgcrypt and libargon2. */
#ifndef VMC_CRYPTO_BACKEND_H
#define VMC_CRYPTO_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Secret memory. Every passphrase, derived key, volume key and AF buffer lives
 * in a secmem block: zero-filled at allocation, mlock()ed (best effort; the
 * outcome is recorded and reported by secmem_all_locked()), MADV_DONTDUMP,
 * wiped with explicit_bzero() and unlocked on free.
 */

/* Returns a zeroed locked block of at least len bytes (len may be 0), or NULL (errno ENOMEM). */
void *secmem_alloc(size_t len);
/* Wipes and releases a block from secmem_alloc(); NULL-safe. */
void secmem_free(void *p);
/* Length requested when the block was allocated. */
size_t secmem_len(const void *p);
/* Duplicates len bytes of src into a new secret block, or NULL. */
void *secmem_dup(const void *src, size_t len);
/* True when every block allocated so far could be mlock()ed. */
bool secmem_all_locked(void);
/* Makes the process non-dumpable and disables core files (PR_SET_DUMPABLE 0, RLIMIT_CORE 0). */
int secmem_harden_process(void);

/* Constant-time comparison: true when equal. */
bool crypto_memeq(const void *a, const void *b, size_t len);
/* Fills buf with bytes from the OpenSSL CSPRNG. 0 or -EIO. */
int crypto_random(void *buf, size_t len);

/*
 * Hashes by LUKS name, as cryptsetup spells them: sha1, sha224, sha256, sha384,
 * sha512, sha3-224/256/384/512, md5, ripemd160, whirlpool, sm3, stribog256,
 * stribog512, blake2b-160/256/384/512, blake2s-128/160/224/256. OpenSSL
 * computes those it provides, libgcrypt the others.
 */
/* Digest length of hash, or -ENOTSUP when the name is unknown. */
int crypto_hash_len(const char *hash);
/* One-shot digest of data into out (crypto_hash_len() bytes). 0, -ENOTSUP. */
int crypto_hash(const char *hash, const void *data, size_t len, uint8_t *out);
/* Digests of n consecutive blocks of block_len bytes each, into out (n digests). */
int crypto_hash_blocks(const char *hash, const void *data, size_t block_len, size_t n,
		       uint8_t *out);
/* Incremental hashing (used for header checksums over several regions). */
struct crypto_hash_ctx;
int crypto_hash_init(const char *hash, struct crypto_hash_ctx **ret_ctx);
int crypto_hash_update(struct crypto_hash_ctx *ctx, const void *data, size_t len);
/* Writes the digest and frees the context (also on error). */
int crypto_hash_final(struct crypto_hash_ctx *ctx, uint8_t *out);
void crypto_hash_ctx_free(struct crypto_hash_ctx *ctx);

/* Key derivation. */
enum kdf_type {
	KDF_PBKDF2,
	KDF_ARGON2I,
	KDF_ARGON2ID,
};

/* Caps on attacker-controlled costs (a header cannot make us allocate or spin forever). */
#define KDF_MAX_ITERATIONS 0x7fffffffu
#define KDF_MAX_MEMORY_KIB (4u * 1024 * 1024) /* 4 GiB, as cryptsetup */
#define KDF_MAX_PARALLEL   4u
#define KDF_MAX_TIME	   0x7fffffffu

struct kdf_params {
	enum kdf_type type;
	char hash[32];	     /* PBKDF2 only */
	uint32_t iterations; /* PBKDF2 */
	uint32_t time;	     /* Argon2 passes */
	uint32_t memory_kib; /* Argon2 */
	uint32_t parallel;   /* Argon2 lanes/threads */
};

/* "pbkdf2", "argon2i", "argon2id" <-> enum. Returns -ENOTSUP for unknown names. */
int kdf_type_from_name(const char *name, enum kdf_type *ret_type);
const char *kdf_type_name(enum kdf_type type);

/*
 * Derives out_len bytes into out (which should be secmem). Validates parameters
 * against the caps above: -EINVAL for out-of-range values, -ENOTSUP for an
 * unknown hash, -ENOMEM when Argon2 memory cannot be had.
 */
int kdf_derive(const struct kdf_params *p, const void *pass, size_t pass_len, const uint8_t *salt,
	       size_t salt_len, uint8_t *out, size_t out_len);

/*
 * Benchmarks the KDF so that one derivation of key_len bytes takes about
 * target_ms milliseconds, like cryptsetup's --iter-time. For PBKDF2 sets
 * p->iterations (minimum 1000); for Argon2 keeps p->parallel, caps memory at
 * p->memory_kib (the maximum the caller allows) and sets time (minimum 4) and
 * memory (minimum 32 MiB unless the cap is lower), as cryptsetup does.
 */
int kdf_benchmark(struct kdf_params *p, size_t key_len, uint32_t target_ms);

/*
 * Anti-forensic splitter (LUKS AF): src is block_len bytes, dst block_len *
 * stripes bytes; diffusion by the named hash as the LUKS specification says.
 * Both buffers should be secmem. 0, -EINVAL, -ENOTSUP, -EIO (RNG failure).
 */
int af_split(const uint8_t *src, uint8_t *dst, size_t block_len, uint32_t stripes,
	     const char *hash);
int af_merge(const uint8_t *src, uint8_t *dst, size_t block_len, uint32_t stripes,
	     const char *hash);
/* Bytes of AF material for key_len and stripes, rounded up to 512-byte sectors; 0 on overflow. */
uint64_t af_split_sectors_bytes(size_t key_len, uint32_t stripes);

/*
 * Sector ciphers: the dm-crypt data transforms.
 * Spec strings are dm-crypt/LUKS style, CIPHER-CHAIN-IV: CIPHER aes, serpent,
 * twofish, camellia, cast5, sm4 (aria where libgcrypt has it); CHAIN xts (128-bit
 * block ciphers only), cbc, ctr, ecb (which takes no IV, or ignores one as
 * dm-crypt does); IV plain, plain64, plain64be, benbi, null, essiv:HASH. Key
 * lengths in bytes: 16, 24 or 32 per block cipher (twice that for xts), except
 * Twofish-192 (libgcrypt lacks it) and CAST5 (16 only). AES goes through
 * OpenSSL, except AES-192-XTS; everything else through libgcrypt.
 *
 * IV numbering (what dm-crypt does for LUKS): the data is a sequence of units of
 * sector_size bytes (512, 1024, 2048 or 4096); unit k of a request that starts at
 * iv_sector uses IV number iv_sector + k * (sector_size / 512), i.e. IVs always
 * count 512-byte sectors, and each unit is encrypted as a whole (one XTS data
 * unit or one CBC chain). IVs are one cipher block, zero padded: plain: IV
 * number truncated to 32 bits, little endian; plain64: 64 bits little endian;
 * plain64be: 64 bits big endian in the last 8 bytes; benbi: big endian count of
 * cipher blocks from 1 in the last 8 bytes; null: zero; essiv:H: the plain64
 * block encrypted (ECB) by the same block cipher under H(key).
 */
struct sector_cipher;

/* Splits "aes-xts-plain64" into cipher "aes" and mode "xts-plain64" (LUKS1 fields). */
int cipher_spec_split(const char *spec, char *cipher, size_t cipher_len, char *mode,
		      size_t mode_len);
/* True if spec is a supported data cipher and key_len fits it. */
bool sector_cipher_supported(const char *spec, size_t key_len);
/*
 * Judges a header's cipher and key size: 0 usable; -ENOTSUP an unknown or
 * unsupported cipher, chain or IV (adiantum, hctr2, capi: specs), or a key
 * size a peer could use and we cannot; -EINVAL a key size that no
 * implementation takes for this cipher (a damaged header).
 */
int sector_cipher_check(const char *spec, size_t key_len);
/*
 * Why a cipher spec that dm-crypt knows cannot be done here, as a clause to
 * append to an error (" (adiantum needs ...)"), or "" when there is nothing
 * more to say than "not supported". Never NULL.
 */
const char *sector_cipher_why(const char *spec);

/* 0, -ENOTSUP (unknown spec or key size), -EINVAL (bad key length or sector size), -ENOMEM. */
int sector_cipher_new(const char *spec, const uint8_t *key, size_t key_len, uint32_t sector_size,
		      struct sector_cipher **ret_cipher);
/* A new independent context with the same key (one per thread). */
int sector_cipher_dup(const struct sector_cipher *c, struct sector_cipher **ret_cipher);
void sector_cipher_free(struct sector_cipher *c);
/*
 * En/decrypts len bytes in place (len a multiple of the sector size; in and out
 * may be the same buffer). iv_sector is the IV number of the first unit, counted
 * in 512-byte sectors (already including any iv_tweak). 0, -EINVAL, -EIO.
 */
int sector_cipher_encrypt(struct sector_cipher *c, const uint8_t *in, uint8_t *out, size_t len,
			  uint64_t iv_sector);
int sector_cipher_decrypt(struct sector_cipher *c, const uint8_t *in, uint8_t *out, size_t len,
			  uint64_t iv_sector);
uint32_t sector_cipher_sector_size(const struct sector_cipher *c);

#endif
