/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The LUKS AF splitter: hand-computed merges that pin the diffusion, round trips, sizes. */
#include <errno.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "check.h"
#include "crypto/backend.h"

/*
 * Merges of tiny inputs, byte i of the material being (37 * i + 11) mod 256.
 * The expected keys were computed outside this project (Python hashlib) from
 * the LUKS1 specification: d_0 = 0, d_k = H(d_{k-1} ^ s_{k-1}), key =
 * d_{n-1} ^ s_{n-1}, where H hashes each digest-sized chunk j (the last one
 * partial: 40 = 32 + 8 bytes for SHA-256, 32 = 20 + 12 for SHA-1) as
 * hash(be32(j) || chunk) and keeps as many bytes as the chunk had.
 */
static const struct {
	const char *hash;
	size_t block_len;
	uint32_t stripes;
	const char *key;
} merges[] = {
    {"sha256", 40, 2,
     "5b65cc8cf78ac5f4d19d915b9766abac52d32be8ec64a3111be0a84d9ca7a5849bd1276cc09e9552"},
    {"sha1", 32, 2, "b2106df2b36e04e11ed31719c57dd73736ae88a423266f8c4416c784981d2b07"},
    {"sha256", 40, 3,
     "891e1ff9b5d1c859ff02c8b1c96cca6c2f100755fce7680f827fd4ee704bbd3d694c75410fad5297"},
};

static void material(uint8_t *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (uint8_t)(37 * i + 11);
}

/* The diffusion once more, from its definition with raw EVP calls, for the stripes-2 case. */
static void evp_diffuse(const char *evp_name, uint8_t *buf, size_t len)
{
	const EVP_MD *md = EVP_get_digestbyname(evp_name);
	size_t ds, off;
	uint32_t j = 0;

	CHECK(md != NULL);
	ds = (size_t)EVP_MD_get_size(md);
	for (off = 0; off < len; off += ds, j++) {
		uint8_t in[4 + EVP_MAX_MD_SIZE], out[EVP_MAX_MD_SIZE];
		size_t chunk = len - off < ds ? len - off : ds;

		in[0] = (uint8_t)(j >> 24);
		in[1] = (uint8_t)(j >> 16);
		in[2] = (uint8_t)(j >> 8);
		in[3] = (uint8_t)j;
		memcpy(in + 4, buf + off, chunk);
		CHECK(EVP_Digest(in, 4 + chunk, out, NULL, md, NULL) == 1);
		memcpy(buf + off, out, chunk);
	}
}

static void check_merges(void)
{
	size_t i, b;

	for (i = 0; i < sizeof(merges) / sizeof(merges[0]); i++) {
		size_t bl = merges[i].block_len;
		uint8_t src[128], want[64], got[64], d[64];

		CHECK(bl * merges[i].stripes <= sizeof(src));
		material(src, bl * merges[i].stripes);
		CHECK_EQ(check_unhex(merges[i].key, want, sizeof(want)), bl);
		CHECK_OK(af_merge(src, got, bl, merges[i].stripes, merges[i].hash));
		CHECK_MEM(got, want, bl);

		if (merges[i].stripes != 2)
			continue;
		/* key = H(s_0) ^ s_1 */
		memcpy(d, src, bl);
		evp_diffuse(strcmp(merges[i].hash, "sha1") == 0 ? "SHA1" : "SHA256", d, bl);
		for (b = 0; b < bl; b++)
			d[b] ^= src[bl + b];
		CHECK_MEM(d, want, bl);
	}
}

/* Split then merge gives the key back; two splits of one key differ (fresh randomness). */
static void check_round_trips(void)
{
	static const uint32_t stripes[] = {1, 2, 4000};
	static const size_t key_lens[] = {16, 32, 64};
	static const char *const hashes[] = {"sha1", "sha256", "sha512"};
	size_t s, k, h;

	for (s = 0; s < 3; s++) {
		for (k = 0; k < 3; k++) {
			for (h = 0; h < 3; h++) {
				size_t len = key_lens[k] * stripes[s];
				uint8_t *key = secmem_alloc(key_lens[k]);
				uint8_t *back = secmem_alloc(key_lens[k]);
				uint8_t *a = secmem_alloc(len);
				uint8_t *b = secmem_alloc(len);

				CHECK(key != NULL && back != NULL && a != NULL && b != NULL);
				CHECK_OK(crypto_random(key, key_lens[k]));
				CHECK_OK(af_split(key, a, key_lens[k], stripes[s], hashes[h]));
				CHECK_OK(af_merge(a, back, key_lens[k], stripes[s], hashes[h]));
				CHECK_MEM(back, key, key_lens[k]);
				CHECK_OK(af_split(key, b, key_lens[k], stripes[s], hashes[h]));
				if (stripes[s] == 1) {
					/* One stripe: no diffusion, the material is the key. */
					CHECK_MEM(a, key, key_lens[k]);
					CHECK_MEM(b, key, key_lens[k]);
				} else {
					CHECK(memcmp(a, b, len) != 0);
					CHECK_OK(
					    af_merge(b, back, key_lens[k], stripes[s], hashes[h]));
					CHECK_MEM(back, key, key_lens[k]);
				}
				/* Damaging one stripe loses the key. */
				a[len / 2] ^= 1;
				CHECK_OK(af_merge(a, back, key_lens[k], stripes[s], hashes[h]));
				CHECK(memcmp(back, key, key_lens[k]) != 0);
				secmem_free(key);
				secmem_free(back);
				secmem_free(a);
				secmem_free(b);
			}
		}
	}
}

static void check_errors(void)
{
	uint8_t key[32] = {1}, buf[64], out[32];

	CHECK_EQ(af_split(key, buf, 32, 0, "sha256"), -EINVAL);
	CHECK_EQ(af_split(key, buf, 0, 2, "sha256"), -EINVAL);
	CHECK_EQ(af_split(NULL, buf, 32, 2, "sha256"), -EINVAL);
	CHECK_EQ(af_split(key, NULL, 32, 2, "sha256"), -EINVAL);
	CHECK_EQ(af_split(key, buf, SIZE_MAX / 2, 4, "sha256"), -EINVAL);
	CHECK_EQ(af_split(key, buf, 32, 2, "nosuchhash"), -ENOTSUP);
	CHECK_EQ(af_merge(buf, out, 32, 0, "sha256"), -EINVAL);
	CHECK_EQ(af_merge(buf, out, 32, 2, "nosuchhash"), -ENOTSUP);
	CHECK_EQ(af_merge(buf, NULL, 32, 2, "sha256"), -EINVAL);
}

static void check_sizes(void)
{
	CHECK_EQ(af_split_sectors_bytes(32, 4000), 128000);
	CHECK_EQ(af_split_sectors_bytes(64, 4000), 256000);
	CHECK_EQ(af_split_sectors_bytes(16, 4000), 64000);
	CHECK_EQ(af_split_sectors_bytes(20, 4000), 80384);
	CHECK_EQ(af_split_sectors_bytes(20, 3), 512);
	CHECK_EQ(af_split_sectors_bytes(512, 1), 512);
	CHECK_EQ(af_split_sectors_bytes(513, 1), 1024);
	CHECK_EQ(af_split_sectors_bytes(0, 4000), 0);
	CHECK(af_split_sectors_bytes(SIZE_MAX, UINT32_MAX) == 0);
	CHECK(af_split_sectors_bytes(SIZE_MAX, 1) == 0);
}

int main(void)
{
	check_merges();
	check_round_trips();
	check_errors();
	check_sizes();
	printf("af: ok\n");
	return 0;
}
