/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Message digests by LUKS hash name, constant-time comparison and the CSPRNG. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "crypto/backend.h"
#include "crypto/crypto_internal.h"

struct crypto_hash_ctx {
	EVP_MD *md; /* OpenSSL, or NULL with gh set */
	EVP_MD_CTX *md_ctx;
	gcry_md_hd_t gh; /* libgcrypt */
	size_t len;
};

/*
 * LUKS headers name hashes the way cryptsetup does ("sha256"); OpenSSL 3 wants
 * its own algorithm names. Names are matched case-insensitively, as OpenSSL's
 * lookup is. OpenSSL serves every hash it provides (the SHA families through
 * its default provider); libgcrypt the rest: whirlpool and ripemd160 live in
 * OpenSSL's legacy provider, which is not loaded, and OpenSSL has no stribog
 * and only the longest BLAKE2 variants. Both implement the same standards, so
 * which library computes a digest never changes its value.
 */
static const struct {
	const char *luks;
	const char *ossl; /* NULL: OpenSSL has none */
	int gcry;	  /* 0: libgcrypt has none */
} hash_names[] = {
    {"sha1", "SHA1", GCRY_MD_SHA1},
    {"sha224", "SHA2-224", GCRY_MD_SHA224},
    {"sha256", "SHA2-256", GCRY_MD_SHA256},
    {"sha384", "SHA2-384", GCRY_MD_SHA384},
    {"sha512", "SHA2-512", GCRY_MD_SHA512},
    {"sha3-224", "SHA3-224", GCRY_MD_SHA3_224},
    {"sha3-256", "SHA3-256", GCRY_MD_SHA3_256},
    {"sha3-384", "SHA3-384", GCRY_MD_SHA3_384},
    {"sha3-512", "SHA3-512", GCRY_MD_SHA3_512},
    {"md5", "MD5", GCRY_MD_MD5}, /* QEMU offers it for PBKDF2 and ESSIV */
    {"ripemd160", "RIPEMD-160", GCRY_MD_RMD160},
    {"whirlpool", "WHIRLPOOL", GCRY_MD_WHIRLPOOL},
    {"sm3", "SM3", GCRY_MD_SM3},
    {"stribog256", NULL, GCRY_MD_STRIBOG256},
    {"stribog512", NULL, GCRY_MD_STRIBOG512},
    {"blake2b-160", NULL, GCRY_MD_BLAKE2B_160},
    {"blake2b-256", NULL, GCRY_MD_BLAKE2B_256},
    {"blake2b-384", NULL, GCRY_MD_BLAKE2B_384},
    {"blake2b-512", "BLAKE2B-512", GCRY_MD_BLAKE2B_512},
    {"blake2s-128", NULL, GCRY_MD_BLAKE2S_128},
    {"blake2s-160", NULL, GCRY_MD_BLAKE2S_160},
    {"blake2s-224", NULL, GCRY_MD_BLAKE2S_224},
    {"blake2s-256", "BLAKE2S-256", GCRY_MD_BLAKE2S_256},
};

static int hash_index(const char *hash)
{
	if (hash == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(hash_names) / sizeof(hash_names[0]); i++)
		if (strcasecmp(hash, hash_names[i].luks) == 0)
			return (int)i;
	return -1;
}

static EVP_MD *ossl_fetch(int i)
{
	EVP_MD *md;

	if (i < 0 || hash_names[i].ossl == NULL)
		return NULL;
	/* A missing algorithm is an answer here, not an error to leave queued. */
	ERR_set_mark();
	md = EVP_MD_fetch(NULL, hash_names[i].ossl, NULL);
	if (md == NULL)
		ERR_pop_to_mark();
	else
		ERR_clear_last_mark();
	return md;
}

/* Fetches the OpenSSL digest for a LUKS hash name; NULL if unknown or not provided. */
EVP_MD *crypto_md_fetch(const char *hash)
{
	return ossl_fetch(hash_index(hash));
}

/* libgcrypt's algorithm for a hash OpenSSL does not provide, or 0. */
int crypto_gcry_md_algo(const char *hash)
{
	int i = hash_index(hash);
	EVP_MD *md;

	if (i < 0 || hash_names[i].gcry == 0)
		return 0;
	md = ossl_fetch(i);
	if (md != NULL) {
		EVP_MD_free(md);
		return 0;
	}
	if (crypto_gcry_init() < 0 || gcry_md_test_algo(hash_names[i].gcry) != 0)
		return 0;
	return hash_names[i].gcry;
}

/* Digest length in bytes of the named hash, or -ENOTSUP. */
int crypto_hash_len(const char *hash)
{
	EVP_MD *md = crypto_md_fetch(hash);
	int len, algo;

	if (md != NULL) {
		len = EVP_MD_get_size(md);
		EVP_MD_free(md);
		return len > 0 ? len : -ENOTSUP;
	}
	algo = crypto_gcry_md_algo(hash);
	if (algo == 0)
		return -ENOTSUP;
	len = (int)gcry_md_get_algo_dlen(algo);
	return len > 0 ? len : -ENOTSUP;
}

/* One-shot digest of len bytes at data into out. 0, -ENOTSUP, -EIO. */
int crypto_hash(const char *hash, const void *data, size_t len, uint8_t *out)
{
	return crypto_hash_blocks(hash, data, len, 1, out);
}

/* Digests of n blocks (one context for all). 0, -ENOTSUP, -EIO. */
int crypto_hash_blocks(const char *hash, const void *data, size_t block_len, size_t n, uint8_t *out)
{
	struct crypto_hash_ctx *ctx = NULL;
	const uint8_t *p = data;
	int r;

	r = crypto_hash_init(hash, &ctx);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n && r == 0; i++) {
		if (i > 0)
			r = crypto_hash_reset(ctx);
		if (r == 0 && block_len > 0)
			r = crypto_hash_update(ctx, p + i * block_len, block_len);
		if (r == 0)
			r = crypto_hash_digest(ctx, out + i * ctx->len);
	}
	crypto_hash_ctx_free(ctx);
	return r;
}

/* Starts an incremental digest. 0, -ENOTSUP, -ENOMEM, -EIO. */
int crypto_hash_init(const char *hash, struct crypto_hash_ctx **ret_ctx)
{
	struct crypto_hash_ctx *ctx = NULL;
	int algo, r;

	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL)
		return -ENOMEM;
	ctx->md = crypto_md_fetch(hash);
	if (ctx->md != NULL) {
		ctx->len = (size_t)EVP_MD_get_size(ctx->md);
		ctx->md_ctx = EVP_MD_CTX_new();
		if (ctx->md_ctx == NULL) {
			r = -ENOMEM;
			goto out;
		}
	} else {
		algo = crypto_gcry_md_algo(hash);
		if (algo == 0) {
			r = -ENOTSUP;
			goto out;
		}
		ctx->len = gcry_md_get_algo_dlen(algo);
		/* Hashes keys (ESSIV salts, AF buffers): the handle's buffer is secret too. */
		if (gcry_md_open(&ctx->gh, algo, crypto_gcry_md_flags()) != 0) {
			ctx->gh = NULL;
			r = -ENOMEM;
			goto out;
		}
	}
	if (ctx->len == 0 || ctx->len > CRYPTO_HASH_MAX) {
		r = -ENOTSUP;
		goto out;
	}
	r = crypto_hash_reset(ctx);
	if (r < 0)
		goto out;
	*ret_ctx = ctx;
	ctx = NULL;
out:
	crypto_hash_ctx_free(ctx);
	return r;
}

/* Starts a new message on the same algorithm. 0, -EIO. */
int crypto_hash_reset(struct crypto_hash_ctx *ctx)
{
	if (ctx->gh != NULL) {
		gcry_md_reset(ctx->gh);
		return 0;
	}
	return EVP_DigestInit_ex2(ctx->md_ctx, ctx->md, NULL) ? 0 : -EIO;
}

/* Feeds len bytes into the digest. 0, -EINVAL, -EIO. */
int crypto_hash_update(struct crypto_hash_ctx *ctx, const void *data, size_t len)
{
	if (ctx == NULL || (data == NULL && len > 0))
		return -EINVAL;
	if (len == 0)
		return 0;
	if (ctx->gh != NULL) {
		gcry_md_write(ctx->gh, data, len);
		return 0;
	}
	return EVP_DigestUpdate(ctx->md_ctx, data, len) ? 0 : -EIO;
}

/* Writes the digest (crypto_hash_ctx_len() bytes) to out; reset before reuse. 0, -EIO. */
int crypto_hash_digest(struct crypto_hash_ctx *ctx, uint8_t *out)
{
	const unsigned char *d;

	if (ctx->gh == NULL)
		return EVP_DigestFinal_ex(ctx->md_ctx, out, NULL) ? 0 : -EIO;
	d = gcry_md_read(ctx->gh, 0);
	if (d == NULL)
		return -EIO;
	memcpy(out, d, ctx->len);
	return 0;
}

size_t crypto_hash_ctx_len(const struct crypto_hash_ctx *ctx)
{
	return ctx->len;
}

/* Writes the digest to out and frees ctx, on success and on error. 0, -EINVAL, -EIO. */
int crypto_hash_final(struct crypto_hash_ctx *ctx, uint8_t *out)
{
	int r;

	if (ctx == NULL)
		return -EINVAL;
	r = out == NULL ? -EINVAL : crypto_hash_digest(ctx, out);
	crypto_hash_ctx_free(ctx);
	return r;
}

/* Releases a digest context; NULL-safe. gcry_md_close() wipes its buffers. */
void crypto_hash_ctx_free(struct crypto_hash_ctx *ctx)
{
	if (ctx == NULL)
		return;
	EVP_MD_CTX_free(ctx->md_ctx);
	EVP_MD_free(ctx->md);
	if (ctx->gh != NULL)
		gcry_md_close(ctx->gh);
	free(ctx);
}

/* Constant-time comparison of len bytes: the time taken does not depend on where they differ. */
bool crypto_memeq(const void *a, const void *b, size_t len)
{
	if (len == 0)
		return true;
	return CRYPTO_memcmp(a, b, len) == 0;
}

/* Fills len bytes of buf from the OpenSSL DRBG. 0 or -EIO. */
int crypto_random(void *buf, size_t len)
{
	unsigned char *p = buf;

	while (len > 0) {
		int chunk = len > INT_MAX ? INT_MAX : (int)len;

		if (RAND_bytes(p, chunk) != 1)
			return -EIO;
		p += chunk;
		len -= (size_t)chunk;
	}
	return 0;
}
