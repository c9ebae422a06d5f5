/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Digests by LUKS name: FIPS 180 / ISO "abc" known answers, incremental use, unknown names. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <openssl/err.h>

#include "check.h"
#include "crypto/backend.h"

static const struct {
	const char *name;
	bool optional; /* may be missing from OpenSSL's default provider */
	const char *abc;
} hashes[] = {
    {"sha1", false, "a9993e364706816aba3e25717850c26c9cd0d89d"},
    {"sha224", false, "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7"},
    {"sha256", false, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    {"sha384", false,
     "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed"
     "8086072ba1e7cc2358baeca134c825a7"},
    {"sha512", false,
     "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
     "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"},
    {"ripemd160", true, "8eb208f7e05d987a9b044a8e98c6b087f15a0bfc"},
    {"sha3-256", false, "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532"},
    /* RFC 1321 A.5. */
    {"md5", false, "900150983cd24fb0d6963f7d28e17f72"},
    /* ISO/IEC 10118-3 (the Whirlpool authors' set). */
    {"whirlpool", false,
     "4e2448a4c6f486bb16b6562c73b4020bf3043e3a731bce721ae1b303d97e6d4c"
     "7181eebdb6c57e277d0e34957114cbd6c797fc9d95d8b582d225292076d4eef5"},
    /* GB/T 32905-2016 example 1. */
    {"sm3", false, "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"},
    /* RFC 7693 appendices A and B. */
    {"blake2b-512", false,
     "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1"
     "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923"},
    {"blake2s-256", false, "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982"},
};

/*
 * GOST R 34.11-2012 example M1 (RFC 6986 section 10.1): the standard writes
 * the message as a little-endian number (0x3231...30 is the ASCII text
 * below); the digests are given in the byte order the Linux kernel's
 * streebog and libgcrypt produce.
 */
static const char stribog_m1[] = "012345678901234567890123456789012345678901234567890123456789012";
static const struct {
	const char *name;
	const char *digest;
} stribog[] = {
    {"stribog256", "9d151eefd8590b89daa6ba6cb74af9275dd051026bb149a452fd84e5e57b5500"},
    {"stribog512", "1b54d01a4af5b9d5cc3d86d68d285462b19abc2475222f35c085122be4ba1ffa"
		   "00ad30f8767b3a82384c6574f024c311e2a481332b08ef7f41797891c1646f48"},
};

static void check_stribog(void)
{
	for (size_t i = 0; i < sizeof(stribog) / sizeof(stribog[0]); i++) {
		uint8_t want[64], got[64];
		size_t len = check_unhex(stribog[i].digest, want, sizeof(want));

		CHECK_EQ(crypto_hash_len(stribog[i].name), len);
		CHECK_OK(crypto_hash(stribog[i].name, stribog_m1, strlen(stribog_m1), got));
		CHECK_MEM(got, want, len);
	}
}

static void check_known_answers(void)
{
	size_t i;

	for (i = 0; i < sizeof(hashes) / sizeof(hashes[0]); i++) {
		struct crypto_hash_ctx *ctx = NULL;
		uint8_t want[64], got[64];
		size_t len = check_unhex(hashes[i].abc, want, sizeof(want));
		int dlen = crypto_hash_len(hashes[i].name);

		if (dlen == -ENOTSUP && hashes[i].optional) {
			printf("hash: %s not provided by this OpenSSL, skipped\n", hashes[i].name);
			CHECK_EQ(crypto_hash(hashes[i].name, "abc", 3, got), -ENOTSUP);
			continue;
		}
		CHECK_EQ(dlen, len);
		memset(got, 0, sizeof(got));
		CHECK_OK(crypto_hash(hashes[i].name, "abc", 3, got));
		CHECK_MEM(got, want, len);

		/* The same digest fed in pieces, including an empty one. */
		memset(got, 0, sizeof(got));
		CHECK_OK(crypto_hash_init(hashes[i].name, &ctx));
		CHECK_OK(crypto_hash_update(ctx, "a", 1));
		CHECK_OK(crypto_hash_update(ctx, "", 0));
		CHECK_OK(crypto_hash_update(ctx, "bc", 2));
		CHECK_OK(crypto_hash_final(ctx, got));
		CHECK_MEM(got, want, len);
	}
}

static void check_names(void)
{
	struct crypto_hash_ctx *ctx = NULL;
	uint8_t a[64], b[64];

	/* OpenSSL matches names case-insensitively; so do we. */
	CHECK_EQ(crypto_hash_len("SHA256"), 32);
	CHECK_OK(crypto_hash("SHA256", "abc", 3, a));
	CHECK_OK(crypto_hash("sha256", "abc", 3, b));
	CHECK_MEM(a, b, 32);

	/*
	 * Whirlpool lives in OpenSSL's legacy provider: libgcrypt serves it, and
	 * asking OpenSSL first leaves no error queued.
	 */
	ERR_clear_error();
	CHECK_EQ(crypto_hash_len("whirlpool"), 64);
	CHECK(ERR_peek_error() == 0);
	CHECK_EQ(crypto_hash_len("stribog512"), 64);
	CHECK_EQ(crypto_hash_len("STRIBOG256"), 32);
	CHECK_EQ(crypto_hash_len("blake2b-256"), 32);
	CHECK_EQ(crypto_hash_len("blake2s-128"), 16);

	CHECK_EQ(crypto_hash_len("md4"), -ENOTSUP);
	CHECK_EQ(crypto_hash_len("sha-256"), -ENOTSUP);
	CHECK_EQ(crypto_hash_len(""), -ENOTSUP);
	CHECK_EQ(crypto_hash_len(NULL), -ENOTSUP);
	CHECK_EQ(crypto_hash("nosuchhash", "abc", 3, a), -ENOTSUP);
	CHECK_EQ(crypto_hash_init("nosuchhash", &ctx), -ENOTSUP);
	CHECK(ctx == NULL);

	/* Empty input, and a context abandoned without final. */
	CHECK_OK(crypto_hash("sha256", NULL, 0, a));
	CHECK_EQ(check_unhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", b,
			     sizeof(b)),
		 32);
	CHECK_MEM(a, b, 32);
	CHECK_OK(crypto_hash_init("sha1", &ctx));
	CHECK_OK(crypto_hash_update(ctx, "x", 1));
	crypto_hash_ctx_free(ctx);
	crypto_hash_ctx_free(NULL);
}

int main(void)
{
	check_known_answers();
	check_names();
	check_stribog();
	printf("hash: ok\n");
	return 0;
}
