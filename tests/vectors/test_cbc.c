/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* AES-CBC with essiv:sha256, plain64 and plain IVs: known answers, IV numbering, spec parsing. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include <openssl/evp.h>

#include "check.h"
#include "crypto/backend.h"

enum iv_kind {
	IV_ESSIV_SHA256,
	IV_PLAIN64,
	IV_PLAIN,
};

static const char *const specs[] = {
    [IV_ESSIV_SHA256] = "aes-cbc-essiv:sha256",
    [IV_PLAIN64] = "aes-cbc-plain64",
    [IV_PLAIN] = "aes-cbc-plain",
};

/*
 * Known answers for one 512-byte sector (plaintext 00..ff twice, IV number
 * 0x123456789, the FIPS-197/SP 800-38A AES-256 key), computed outside this
 * project with Python's hashlib and the "cryptography" package following the
 * dm-crypt IV definitions: the expected IV, the first 32 ciphertext bytes and
 * the SHA-256 of the whole ciphertext.
 */
#define KAT_KEY	   "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4"
#define KAT_SECTOR UINT64_C(0x123456789)

static const struct {
	enum iv_kind kind;
	const char *iv;
	const char *head;
	const char *sha256;
} kats[] = {
    {
	IV_ESSIV_SHA256,
	"1e54784504ab1418b15989d61b4f607f",
	"c22d1be65e43c3d35c051f906bb90a1d823e7adbe08fea33b170488b8d4527f8",
	"966928eaaddec91d4872a1149257d637bb0f34b91bec457917c6cf1cab0115fc",
    },
    {
	IV_PLAIN64,
	"89674523010000000000000000000000",
	"c8391fe4cd4a7a26c64f9b919470e07e0679ece57491e99278419c38c19b3c4a",
	"0ba414f19beac726fb5c5a4b8fb47c3a139b03c113930a055370b9b659f05344",
    },
    {
	IV_PLAIN,
	"89674523000000000000000000000000",
	"66c2052e3e5f9169f5c64ca52d3c4655c80880dd095ff67bc32c527523ecea90",
	"12d7216be48f8d3cdc0f8b77316c8c81b2ca1edcfd4396d26462e20ad9cde17e",
    },
};

static void fill(uint8_t *buf, size_t len, uint64_t seed)
{
	uint64_t x = seed | 1;
	size_t i;

	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (uint8_t)(x >> 24);
	}
}

static const char *aes_name(size_t key_len, const char *mode)
{
	static char name[32];

	snprintf(name, sizeof(name), "AES-%zu-%s", key_len * 8, mode);
	return name;
}

static void evp_once(const char *name, const uint8_t *key, const uint8_t *iv, const uint8_t *in,
		     uint8_t *out, size_t len, int enc)
{
	EVP_CIPHER *cipher = EVP_CIPHER_fetch(NULL, name, NULL);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int outl = 0;

	CHECK(cipher != NULL && ctx != NULL);
	CHECK(EVP_CipherInit_ex2(ctx, cipher, key, iv, enc, NULL) == 1);
	CHECK(EVP_CIPHER_CTX_set_padding(ctx, 0) == 1);
	CHECK(EVP_CipherUpdate(ctx, out, &outl, in, (int)len) == 1);
	CHECK_EQ(outl, len);
	EVP_CIPHER_CTX_free(ctx);
	EVP_CIPHER_free(cipher);
}

/* The IV of IV number num, computed here from the definitions with raw EVP calls. */
static void reference_iv(enum iv_kind kind, const uint8_t *key, size_t key_len, uint64_t num,
			 uint8_t iv[16])
{
	uint8_t salt[32];
	unsigned int salt_len = 0;
	int i;

	memset(iv, 0, 16);
	if (kind == IV_PLAIN)
		num &= UINT32_MAX;
	for (i = 0; i < 8; i++)
		iv[i] = (uint8_t)(num >> (8 * i));
	if (kind != IV_ESSIV_SHA256)
		return;
	/* ESSIV: salt = SHA-256(key); IV = AES-256-ECB_salt(le64(num) || 0^8). */
	CHECK(EVP_Digest(key, key_len, salt, &salt_len, EVP_sha256(), NULL) == 1);
	CHECK_EQ(salt_len, 32);
	evp_once("AES-256-ECB", salt, NULL, iv, iv, 16, 1);
}

/* Reference encryption: each unit is its own CBC chain with the IV of its number. */
static void reference_encrypt(enum iv_kind kind, const uint8_t *key, size_t key_len,
			      uint32_t sector_size, uint64_t iv_sector, const uint8_t *in,
			      uint8_t *out, size_t len)
{
	size_t u;

	for (u = 0; u < len / sector_size; u++) {
		uint8_t iv[16];

		reference_iv(kind, key, key_len, iv_sector + u * (sector_size / 512), iv);
		evp_once(aes_name(key_len, "CBC"), key, iv, in + u * sector_size,
			 out + u * sector_size, sector_size, 1);
	}
}

static void check_kats(void)
{
	uint8_t key[32], pt[512], ct[512], ref[512], iv[16], want_iv[16], head[32], digest[32];
	size_t i;

	CHECK_EQ(check_unhex(KAT_KEY, key, sizeof(key)), 32);
	for (i = 0; i < sizeof(pt); i++)
		pt[i] = (uint8_t)i;
	for (i = 0; i < sizeof(kats) / sizeof(kats[0]); i++) {
		struct sector_cipher *c = NULL;

		/* The test's own derivation agrees with the outside computation... */
		reference_iv(kats[i].kind, key, sizeof(key), KAT_SECTOR, iv);
		CHECK_EQ(check_unhex(kats[i].iv, want_iv, sizeof(want_iv)), 16);
		CHECK_MEM(iv, want_iv, 16);
		reference_encrypt(kats[i].kind, key, sizeof(key), 512, KAT_SECTOR, pt, ref,
				  sizeof(pt));

		/* ...and so does the sector cipher. */
		CHECK_OK(sector_cipher_new(specs[kats[i].kind], key, sizeof(key), 512, &c));
		CHECK_OK(sector_cipher_encrypt(c, pt, ct, sizeof(pt), KAT_SECTOR));
		CHECK_MEM(ct, ref, sizeof(ct));
		CHECK_EQ(check_unhex(kats[i].head, head, sizeof(head)), 32);
		CHECK_MEM(ct, head, 32);
		CHECK_OK(crypto_hash("sha256", ct, sizeof(ct), digest));
		CHECK_EQ(check_unhex(kats[i].sha256, head, sizeof(head)), 32);
		CHECK_MEM(digest, head, 32);
		CHECK_OK(sector_cipher_decrypt(c, ct, ct, sizeof(ct), KAT_SECTOR));
		CHECK_MEM(ct, pt, sizeof(pt));
		sector_cipher_free(c);
	}
}

/*
 * Every IV kind, AES key size and sector size: multi-unit requests match the
 * per-unit reference (IV number iv_sector + k * sector_size / 512), decrypt
 * back, and work in place. The start straddles 2^32 so plain wraps mid-request.
 */
static void check_round_trips(void)
{
	static const uint32_t sizes[] = {512, 1024, 2048, 4096};
	static const size_t key_lens[] = {16, 24, 32};
	const size_t units = 4;
	uint8_t key[32], *pt, *ct, *ref;
	size_t kind, k, s;

	pt = malloc(4096 * units);
	ct = malloc(4096 * units);
	ref = malloc(4096 * units);
	CHECK(pt != NULL && ct != NULL && ref != NULL);
	for (kind = 0; kind < 3; kind++) {
		for (k = 0; k < 3; k++) {
			for (s = 0; s < 4; s++) {
				struct sector_cipher *c = NULL, *d = NULL;
				uint32_t ss = sizes[s];
				uint64_t iv = UINT64_C(0x100000000) - 2 * (ss / 512);
				size_t len = ss * units;

				fill(key, sizeof(key), 100 * kind + 10 * k + s);
				fill(pt, len, 7 + s);
				CHECK(sector_cipher_supported(specs[kind], key_lens[k]));
				CHECK_OK(sector_cipher_new(specs[kind], key, key_lens[k], ss, &c));
				CHECK_OK(sector_cipher_encrypt(c, pt, ct, len, iv));
				reference_encrypt((enum iv_kind)kind, key, key_lens[k], ss, iv, pt,
						  ref, len);
				CHECK_MEM(ct, ref, len);

				/* A duplicate decrypts in place what the original encrypted. */
				CHECK_OK(sector_cipher_dup(c, &d));
				sector_cipher_free(c);
				CHECK_OK(sector_cipher_decrypt(d, ct, ct, len, iv));
				CHECK_MEM(ct, pt, len);
				CHECK_EQ(sector_cipher_decrypt(d, ct, ct, len - 16, iv), -EINVAL);
				sector_cipher_free(d);
			}
		}
	}
	free(pt);
	free(ct);
	free(ref);
}

static void check_spec_split(void)
{
	char cipher[32], mode[32], small[4];

	CHECK_OK(cipher_spec_split("aes-xts-plain64", cipher, sizeof(cipher), mode, sizeof(mode)));
	CHECK(strcmp(cipher, "aes") == 0 && strcmp(mode, "xts-plain64") == 0);
	CHECK_OK(
	    cipher_spec_split("aes-cbc-essiv:sha256", cipher, sizeof(cipher), mode, sizeof(mode)));
	CHECK(strcmp(cipher, "aes") == 0 && strcmp(mode, "cbc-essiv:sha256") == 0);
	CHECK_OK(cipher_spec_split("cipher_null-ecb", cipher, sizeof(cipher), mode, sizeof(mode)));
	CHECK(strcmp(cipher, "cipher_null") == 0 && strcmp(mode, "ecb") == 0);
	/* Exactly filling the buffers (with the terminator) is fine. */
	CHECK_OK(cipher_spec_split("aes-cbc", small, sizeof(small), mode, 4));
	CHECK(strcmp(small, "aes") == 0 && strcmp(mode, "cbc") == 0);

	strcpy(cipher, "keep");
	strcpy(mode, "keep");
	CHECK_EQ(cipher_spec_split("aes", cipher, sizeof(cipher), mode, sizeof(mode)), -EINVAL);
	CHECK_EQ(cipher_spec_split("-xts-plain64", cipher, sizeof(cipher), mode, sizeof(mode)),
		 -EINVAL);
	CHECK_EQ(cipher_spec_split("aes-", cipher, sizeof(cipher), mode, sizeof(mode)), -EINVAL);
	CHECK_EQ(cipher_spec_split("serpent-xts-plain64", small, sizeof(small), mode, sizeof(mode)),
		 -EINVAL);
	CHECK_EQ(cipher_spec_split("aes-xts-plain64", cipher, sizeof(cipher), small, sizeof(small)),
		 -EINVAL);
	CHECK_EQ(cipher_spec_split(NULL, cipher, sizeof(cipher), mode, sizeof(mode)), -EINVAL);
	CHECK(strcmp(cipher, "keep") == 0 && strcmp(mode, "keep") == 0);
}

static void check_support(void)
{
	struct sector_cipher *c = NULL;
	uint8_t key[64];

	CHECK(sector_cipher_supported("aes-cbc-essiv:sha256", 16));
	CHECK(sector_cipher_supported("aes-cbc-essiv:sha256", 24));
	CHECK(sector_cipher_supported("aes-cbc-essiv:sha256", 32));
	CHECK(!sector_cipher_supported("aes-cbc-essiv:sha256", 64));
	CHECK(sector_cipher_supported("aes-cbc-plain", 32));
	CHECK(sector_cipher_supported("aes-cbc-plain64", 16));
	/* An ESSIV hash must give a key of the block cipher: SHA-1's 20 bytes do not. */
	CHECK(!sector_cipher_supported("aes-cbc-essiv:sha1", 32));
	CHECK(!sector_cipher_supported("aes-cbc-essiv:nosuchhash", 32));
	CHECK(!sector_cipher_supported("aes-cbc-essiv:", 32));
	CHECK(!sector_cipher_supported("aes-cbc", 32));
	CHECK(sector_cipher_supported("aes-ecb", 32));
	CHECK(!sector_cipher_supported("aes-ecb-", 32));
	CHECK(!sector_cipher_supported("aes-cbc-plain64 ", 32));

	fill(key, sizeof(key), 3);
	CHECK_EQ(sector_cipher_new("aes-cbc-essiv:sha1", key, 32, 512, &c), -ENOTSUP);
	CHECK_EQ(sector_cipher_new("aes-cbc-plain64", key, 20, 512, &c), -EINVAL);
	CHECK_EQ(sector_cipher_new("aes-cbc-plain64", key, 64, 512, &c), -EINVAL);
	CHECK_EQ(sector_cipher_new("aes-cbc-plain64", key, 32, 1000, &c), -EINVAL);
	CHECK(c == NULL);
}

int main(void)
{
	check_kats();
	check_round_trips();
	check_spec_split();
	check_support();
	printf("cbc: essiv:sha256, plain64, plain ok\n");
	return 0;
}
