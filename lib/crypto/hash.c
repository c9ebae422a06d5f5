/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Message digests by LUKS hash name, constant-time comparison and the CSPRNG. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "crypto/backend.h"
#include "crypto/crypto_internal.h"

struct crypto_hash_ctx {
	EVP_MD_CTX *md_ctx;
};

/*
 * LUKS headers name hashes the way cryptsetup does ("sha256"); OpenSSL 3 wants
 * its own algorithm names. Names are matched case-insensitively, as OpenSSL's
 * lookup is. Whether an entry works depends on the loaded providers: whirlpool
 * lives only in the legacy provider, so fetching it normally fails (-ENOTSUP).
 */
static const struct {
	const char *luks;
	const char *ossl;
} hash_names[] = {
    {"sha1", "SHA1"},
    {"sha224", "SHA2-224"},
    {"sha256", "SHA2-256"},
    {"sha384", "SHA2-384"},
    {"sha512", "SHA2-512"},
    {"ripemd160", "RIPEMD-160"},
    {"whirlpool", "WHIRLPOOL"},
    {"sha3-224", "SHA3-224"},
    {"sha3-256", "SHA3-256"},
    {"sha3-384", "SHA3-384"},
    {"sha3-512", "SHA3-512"},
    {"blake2b-512", "BLAKE2B-512"},
    {"blake2s-256", "BLAKE2S-256"},
};

/* Fetches the digest for a LUKS hash name; NULL if unknown or not provided. */
EVP_MD *crypto_md_fetch(const char *hash)
{
	size_t i;

	if (hash == NULL)
		return NULL;
	for (i = 0; i < sizeof(hash_names) / sizeof(hash_names[0]); i++) {
		EVP_MD *md;

		if (strcasecmp(hash, hash_names[i].luks) != 0)
			continue;
		/* A missing algorithm is an answer here, not an error to leave queued. */
		ERR_set_mark();
		md = EVP_MD_fetch(NULL, hash_names[i].ossl, NULL);
		if (md == NULL)
			ERR_pop_to_mark();
		else
			ERR_clear_last_mark();
		return md;
	}
	return NULL;
}

/* Digest length in bytes of the named hash, or -ENOTSUP. */
int crypto_hash_len(const char *hash)
{
	EVP_MD *md = crypto_md_fetch(hash);
	int len;

	if (md == NULL)
		return -ENOTSUP;
	len = EVP_MD_get_size(md);
	EVP_MD_free(md);
	return len > 0 ? len : -ENOTSUP;
}

/* One-shot digest of len bytes at data into out. 0, -ENOTSUP, -EIO. */
int crypto_hash(const char *hash, const void *data, size_t len, uint8_t *out)
{
	EVP_MD *md = crypto_md_fetch(hash);
	int r = 0;

	if (md == NULL)
		return -ENOTSUP;
	if (!EVP_Digest(len > 0 ? data : "", len, out, NULL, md, NULL))
		r = -EIO;
	EVP_MD_free(md);
	return r;
}

/* Digests of n blocks (one algorithm fetch for all). 0, -ENOTSUP, -EIO. */
int crypto_hash_blocks(const char *hash, const void *data, size_t block_len, size_t n, uint8_t *out)
{
	EVP_MD *md = crypto_md_fetch(hash);
	const uint8_t *p = data;
	int len, r = 0;

	if (md == NULL)
		return -ENOTSUP;
	len = EVP_MD_get_size(md);
	for (size_t i = 0; i < n && r == 0; i++)
		if (!EVP_Digest(p + i * block_len, block_len, out + i * (size_t)len, NULL, md,
				NULL))
			r = -EIO;
	EVP_MD_free(md);
	return r;
}

/* Starts an incremental digest. 0, -ENOTSUP, -ENOMEM, -EIO. */
int crypto_hash_init(const char *hash, struct crypto_hash_ctx **ret_ctx)
{
	struct crypto_hash_ctx *ctx = NULL;
	EVP_MD *md = NULL;
	int r;

	md = crypto_md_fetch(hash);
	if (md == NULL) {
		r = -ENOTSUP;
		goto out;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		r = -ENOMEM;
		goto out;
	}
	ctx->md_ctx = EVP_MD_CTX_new();
	if (ctx->md_ctx == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if (!EVP_DigestInit_ex2(ctx->md_ctx, md, NULL)) {
		r = -EIO;
		goto out;
	}
	*ret_ctx = ctx;
	ctx = NULL;
	r = 0;
out:
	crypto_hash_ctx_free(ctx);
	EVP_MD_free(md);
	return r;
}

/* Feeds len bytes into the digest. 0, -EINVAL, -EIO. */
int crypto_hash_update(struct crypto_hash_ctx *ctx, const void *data, size_t len)
{
	if (ctx == NULL || (data == NULL && len > 0))
		return -EINVAL;
	if (len == 0)
		return 0;
	return EVP_DigestUpdate(ctx->md_ctx, data, len) ? 0 : -EIO;
}

/* Writes the digest to out and frees ctx, on success and on error. 0, -EINVAL, -EIO. */
int crypto_hash_final(struct crypto_hash_ctx *ctx, uint8_t *out)
{
	int r = 0;

	if (ctx == NULL)
		return -EINVAL;
	if (out == NULL || !EVP_DigestFinal_ex(ctx->md_ctx, out, NULL))
		r = out == NULL ? -EINVAL : -EIO;
	crypto_hash_ctx_free(ctx);
	return r;
}

/* Releases an unfinished digest context; NULL-safe. */
void crypto_hash_ctx_free(struct crypto_hash_ctx *ctx)
{
	if (ctx == NULL)
		return;
	EVP_MD_CTX_free(ctx->md_ctx);
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
