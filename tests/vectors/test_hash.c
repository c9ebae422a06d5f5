/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Digests by LUKS name: FIPS 180 / ISO "abc" known answers, incremental use, unknown names. */
#include <errno.h>
#include <stdint.h>

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
};

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

	/* Whirlpool lives in OpenSSL's legacy provider: usually absent, never an error left queued.
	 */
	ERR_clear_error();
	printf("hash: whirlpool digest length %d\n", crypto_hash_len("whirlpool"));
	CHECK(ERR_peek_error() == 0);

	CHECK_EQ(crypto_hash_len("md5"), -ENOTSUP);
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
	printf("hash: ok\n");
	return 0;
}
