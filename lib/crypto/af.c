/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The LUKS anti-forensic information splitter: AF-split, AF-merge and the hash diffusion. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "crypto/backend.h"
#include "crypto/crypto_internal.h"

struct af_hasher {
	struct crypto_hash_ctx *ctx; /* OpenSSL or libgcrypt, by hash name */
	size_t digest_len;
};

static void af_hasher_clear(struct af_hasher *h)
{
	crypto_hash_ctx_free(h->ctx);
	h->ctx = NULL;
}

static int af_hasher_init(struct af_hasher *h, const char *hash)
{
	int r = crypto_hash_init(hash, &h->ctx);

	if (r < 0)
		return r;
	h->digest_len = crypto_hash_ctx_len(h->ctx);
	return 0;
}

/*
 * The LUKS1 diffusion function H: the buffer is cut into digest-sized chunks
 * (the last one possibly shorter) and chunk i is replaced by the first bytes
 * of hash(be32(i) || chunk i).
 */
static int diffuse(struct af_hasher *h, uint8_t *buf, size_t len)
{
	uint8_t digest[CRYPTO_HASH_MAX];
	uint32_t i = 0;
	size_t off = 0;
	int r = 0;

	while (off < len) {
		size_t chunk = len - off < h->digest_len ? len - off : h->digest_len;
		uint8_t idx[4] = {(uint8_t)(i >> 24), (uint8_t)(i >> 16), (uint8_t)(i >> 8),
				  (uint8_t)i};

		if ((r = crypto_hash_reset(h->ctx)) < 0 ||
		    (r = crypto_hash_update(h->ctx, idx, sizeof(idx))) < 0 ||
		    (r = crypto_hash_update(h->ctx, buf + off, chunk)) < 0 ||
		    (r = crypto_hash_digest(h->ctx, digest)) < 0)
			goto out;
		memcpy(buf + off, digest, chunk);
		off += chunk;
		i++;
	}
out:
	explicit_bzero(digest, sizeof(digest));
	return r;
}

static void xor_into(uint8_t *dst, const uint8_t *src, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		dst[i] ^= src[i];
}

static int af_check(const void *src, const void *dst, size_t block_len, uint32_t stripes)
{
	if (src == NULL || dst == NULL || block_len == 0 || stripes == 0)
		return -EINVAL;
	if (block_len > SIZE_MAX / stripes)
		return -EINVAL;
	/* The chunk index of the diffusion is 32 bits wide. */
	if (block_len / 16 > UINT32_MAX)
		return -EINVAL;
	return 0;
}

/*
 * AF-split (LUKS1 specification): stripes - 1 random blocks s_k, with
 * d_k = H(d_{k-1} ^ s_k) from d_0 = 0, and a last block d_{n-1} ^ src.
 * dst receives block_len * stripes bytes. 0, -EINVAL, -ENOTSUP, -ENOMEM, -EIO.
 */
int af_split(const uint8_t *src, uint8_t *dst, size_t block_len, uint32_t stripes, const char *hash)
{
	struct af_hasher h = {0};
	uint8_t *d;
	uint32_t k;
	int r;

	r = af_check(src, dst, block_len, stripes);
	if (r < 0)
		return r;
	r = af_hasher_init(&h, hash);
	if (r < 0)
		goto out;

	/* The last stripe doubles as the accumulator d: no other buffer holds key-derived bytes. */
	d = dst + (size_t)(stripes - 1) * block_len;
	memset(d, 0, block_len);
	r = crypto_random(dst, (size_t)(stripes - 1) * block_len);
	if (r < 0)
		goto out;
	for (k = 0; k + 1 < stripes; k++) {
		xor_into(d, dst + (size_t)k * block_len, block_len);
		r = diffuse(&h, d, block_len);
		if (r < 0)
			goto out;
	}
	xor_into(d, src, block_len);
	r = 0;
out:
	af_hasher_clear(&h);
	return r;
}

/*
 * AF-merge: recovers the block_len bytes that af_split() spread over the
 * block_len * stripes bytes at src. dst is wiped if the merge fails midway.
 * 0, -EINVAL, -ENOTSUP, -ENOMEM, -EIO.
 */
int af_merge(const uint8_t *src, uint8_t *dst, size_t block_len, uint32_t stripes, const char *hash)
{
	struct af_hasher h = {0};
	uint32_t k;
	int r;

	r = af_check(src, dst, block_len, stripes);
	if (r < 0)
		return r;
	r = af_hasher_init(&h, hash);
	if (r < 0)
		goto out;

	memset(dst, 0, block_len);
	for (k = 0; k + 1 < stripes; k++) {
		xor_into(dst, src + (size_t)k * block_len, block_len);
		r = diffuse(&h, dst, block_len);
		if (r < 0) {
			explicit_bzero(dst, block_len);
			goto out;
		}
	}
	xor_into(dst, src + (size_t)(stripes - 1) * block_len, block_len);
	r = 0;
out:
	af_hasher_clear(&h);
	return r;
}

/* key_len * stripes rounded up to whole 512-byte sectors; 0 on overflow. */
uint64_t af_split_sectors_bytes(size_t key_len, uint32_t stripes)
{
	uint64_t n;

	if (__builtin_mul_overflow((uint64_t)key_len, (uint64_t)stripes, &n))
		return 0;
	if (n > UINT64_MAX - 511)
		return 0;
	return (n + 511) / 512 * 512;
}
