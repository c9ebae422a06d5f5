/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The non-AES block ciphers through the sector cipher: published known answers
 * (Serpent, Twofish, Camellia, CAST5, SM4) in ECB; the IEEE 1619 AES vectors
 * through the libgcrypt backend (the XTS code path Serpent, Twofish, Camellia
 * and AES-192 take); every IV mode's layout for 16 and 8-byte blocks; dup.
 * Published XTS vectors for the non-AES ciphers: test_xts_ciphers.c.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "crypto/backend.h"
#include "crypto/crypto_internal.h"

struct block_vector {
	const char *what;
	const char *spec; /* an ecb spec */
	const char *key;
	const char *pt;
	const char *ct;
};

static const struct block_vector block_vectors[] = {
    /* The Serpent authors' verified test vectors (NESSIE format), set 1 vector 0. */
    {"Serpent-128", "serpent-ecb", "80000000000000000000000000000000",
     "00000000000000000000000000000000", "264e5481eff42a4606abda06c0bfda3d"},
    {"Serpent-192", "serpent-ecb", "800000000000000000000000000000000000000000000000",
     "00000000000000000000000000000000", "9e274ead9b737bb21efcfca548602689"},
    {"Serpent-256", "serpent-ecb",
     "8000000000000000000000000000000000000000000000000000000000000000",
     "00000000000000000000000000000000", "a223aa1288463c0e2be38ebd825616c0"},
    /* Twofish paper / ecb_tbl.txt, I=1: the zero key and block. */
    {"Twofish-128", "twofish-ecb", "00000000000000000000000000000000",
     "00000000000000000000000000000000", "9f589f5cf6122c32b6bfec2f2ae8c35a"},
    {"Twofish-256", "twofish-ecb",
     "0000000000000000000000000000000000000000000000000000000000000000",
     "00000000000000000000000000000000", "57ff739d4dc92c1bd7fc01700cc8216f"},
    /* RFC 3713 appendix A. */
    {"Camellia-128", "camellia-ecb", "0123456789abcdeffedcba9876543210",
     "0123456789abcdeffedcba9876543210", "67673138549669730857065648eabe43"},
    {"Camellia-192", "camellia-ecb", "0123456789abcdeffedcba98765432100011223344556677",
     "0123456789abcdeffedcba9876543210", "b4993401b3e996f84ee5cee7d79b09b9"},
    {"Camellia-256", "camellia-ecb",
     "0123456789abcdeffedcba987654321000112233445566778899aabbccddeeff",
     "0123456789abcdeffedcba9876543210", "9acc237dff16d76c20ef7c919e3a7509"},
    /* RFC 2144 appendix B.1, 128-bit key. */
    {"CAST5-128", "cast5-ecb", "0123456712345678234567893456789a", "0123456789abcdef",
     "238b4fe5847e44b2"},
    /* GB/T 32907-2016 example 1. */
    {"SM4", "sm4-ecb", "0123456789abcdeffedcba9876543210", "0123456789abcdeffedcba9876543210",
     "681edf34d206965e86b3e94f536e4246"},
};

/* A 512-byte unit of the same plaintext block in ECB gives the ciphertext block throughout. */
static void check_block_vectors(void)
{
	for (size_t i = 0; i < sizeof(block_vectors) / sizeof(block_vectors[0]); i++) {
		const struct block_vector *v = &block_vectors[i];
		struct sector_cipher *c = NULL, *d = NULL;
		uint8_t key[32], pt[16], ct[16], buf[512];
		size_t klen = check_unhex(v->key, key, sizeof(key));
		size_t bs = check_unhex(v->pt, pt, sizeof(pt));

		CHECK_EQ(check_unhex(v->ct, ct, sizeof(ct)), bs);
		CHECK_OK(sector_cipher_new(v->spec, key, klen, 512, &c));
		for (size_t off = 0; off < sizeof(buf); off += bs)
			memcpy(buf + off, pt, bs);
		CHECK_OK(sector_cipher_encrypt(c, buf, buf, sizeof(buf), 7));
		for (size_t off = 0; off < sizeof(buf); off += bs)
			CHECK_MEM(buf + off, ct, bs);
		/* A thread's copy decrypts what the prototype encrypted. */
		CHECK_OK(sector_cipher_dup(c, &d));
		CHECK_OK(sector_cipher_decrypt(d, buf, buf, sizeof(buf), 7));
		for (size_t off = 0; off < sizeof(buf); off += bs)
			CHECK_MEM(buf + off, pt, bs);
		sector_cipher_free(d);
		sector_cipher_free(c);
		printf("ciphers: %s ok\n", v->what);
	}
}

/* IEEE 1619-2007 vectors 1 and 2 (AES-128), forced through libgcrypt. */
static void check_gcry_xts(void)
{
	static const struct {
		const char *key;
		uint64_t seq;
		const char *pt, *ct;
	} v[] = {
	    {"0000000000000000000000000000000000000000000000000000000000000000", 0,
	     "0000000000000000000000000000000000000000000000000000000000000000",
	     "917cf69ebd68b2ec9b9fe9a3eadda692cd43d2f59598ed858c02c2652fbf922e"},
	    {"1111111111111111111111111111111122222222222222222222222222222222", 0x3333333333,
	     "4444444444444444444444444444444444444444444444444444444444444444",
	     "c454185e6a16936e39334038acef838bfb186fff7480adc4289382ecd6d394f0"},
	};
	uint8_t key[64], pt[32], ct[32], unit[512], a[512], b[512];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct sector_cipher *g = NULL, *o = NULL;
		size_t klen = check_unhex(v[i].key, key, sizeof(key));

		check_unhex(v[i].pt, pt, sizeof(pt));
		check_unhex(v[i].ct, ct, sizeof(ct));
		/* The vector's 32 bytes open a 512-byte data unit; XTS blocks do not chain. */
		memset(unit, 0x5c, sizeof(unit));
		memcpy(unit, pt, sizeof(pt));
		if (i == 0) {
			/* Vector 1 has equal key halves, which we refuse: check libgcrypt's XTS
			 * on a raw handle instead. */
			gcry_cipher_hd_t hd;
			uint8_t iv[16] = {0};

			CHECK_OK(crypto_gcry_init());
			CHECK_OK(
			    gcry_cipher_open(&hd, GCRY_CIPHER_AES128, GCRY_CIPHER_MODE_XTS, 0));
			CHECK_OK(gcry_cipher_setkey(hd, key, klen));
			CHECK_OK(gcry_cipher_setiv(hd, iv, 16));
			CHECK_OK(gcry_cipher_encrypt(hd, a, 32, pt, 32));
			CHECK_MEM(a, ct, 32);
			gcry_cipher_close(hd);
			continue;
		}
		CHECK_OK(sector_cipher_new_gcry("aes-xts-plain64", key, klen, 512, &g));
		CHECK_OK(sector_cipher_new("aes-xts-plain64", key, klen, 512, &o));
		CHECK_OK(sector_cipher_encrypt(g, unit, a, sizeof(unit), v[i].seq));
		CHECK_MEM(a, ct, 32);
		/* Both backends agree on the whole 512-byte unit. */
		CHECK_OK(sector_cipher_encrypt(o, unit, b, sizeof(unit), v[i].seq));
		CHECK_MEM(a, b, sizeof(unit));
		CHECK_OK(sector_cipher_decrypt(g, a, a, sizeof(a), v[i].seq));
		CHECK_MEM(a, unit, sizeof(unit));
		sector_cipher_free(g);
		sector_cipher_free(o);
	}
	printf("ciphers: IEEE 1619 XTS through libgcrypt ok\n");
}

/* The same random units through both backends, for each AES mode OpenSSL serves. */
static void check_backends_agree(void)
{
	static const char *const specs[] = {
	    "aes-xts-plain64",	 "aes-xts-plain",   "aes-cbc-essiv:sha256",
	    "aes-cbc-plain64be", "aes-ctr-plain64", "aes-xts-essiv:sha256",
	    "aes-ecb",		 "aes-cbc-benbi",
	};
	static const size_t klens[] = {32, 64, 16, 24, 32, 64, 32, 16};
	static uint8_t in[8192], a[8192], b[8192];
	uint8_t key[64];

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 131 + 7);
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 29 + 1);
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		for (uint32_t ss = 512; ss <= 4096; ss *= 8) {
			struct sector_cipher *g = NULL, *o = NULL;

			CHECK_OK(sector_cipher_new_gcry(specs[i], key, klens[i], ss, &g));
			CHECK_OK(sector_cipher_new(specs[i], key, klens[i], ss, &o));
			CHECK_OK(sector_cipher_encrypt(g, in, a, sizeof(in), 1000));
			CHECK_OK(sector_cipher_encrypt(o, in, b, sizeof(in), 1000));
			CHECK_MEM(a, b, sizeof(in));
			CHECK_OK(sector_cipher_decrypt(o, a, a, sizeof(a), 1000));
			CHECK_MEM(a, in, sizeof(in));
			sector_cipher_free(g);
			sector_cipher_free(o);
		}
	}
	printf("ciphers: OpenSSL and libgcrypt agree on AES ok\n");
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

/*
 * CBC's first ciphertext block is E(P0 ^ IV): each IV mode's block, built here
 * from dm-crypt's definition, must give what the sector cipher wrote, at an IV
 * number above 2^32 (plain truncates) in 512 and 4096-byte sectors.
 */
static void check_iv_layouts(void)
{
	static const struct {
		const char *alg;
		size_t key_len, bs;
		const char *hash; /* essiv */
	} algs[] = {
	    {"aes", 32, 16, "sha256"},	{"serpent", 32, 16, "sha256"},
	    {"twofish", 16, 16, "md5"}, {"camellia", 24, 16, "sha256"},
	    {"cast5", 16, 8, "md5"},	{"sm4", 16, 16, "md5"},
	};
	static const char *const ivs[] = {"plain", "plain64", "plain64be",
					  "benbi", "null",    "essiv"};
	uint8_t key[32], unit[4096], out[4096], iv[16], blk[16], salt[32];
	const uint64_t sector = 0x123456789aull;

	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(0xa0 + i);
	for (size_t i = 0; i < sizeof(unit); i++)
		unit[i] = (uint8_t)(i * 7);
	for (size_t a = 0; a < sizeof(algs) / sizeof(algs[0]); a++) {
		size_t bs = algs[a].bs;
		char ecb[32];
		struct sector_cipher *e = NULL;

		snprintf(ecb, sizeof(ecb), "%s-ecb", algs[a].alg);
		for (size_t k = 0; k < sizeof(ivs) / sizeof(ivs[0]); k++) {
			char spec[64];
			struct sector_cipher *c = NULL;
			int hl;

			if (strcmp(ivs[k], "essiv") == 0)
				snprintf(spec, sizeof(spec), "%s-cbc-essiv:%s", algs[a].alg,
					 algs[a].hash);
			else
				snprintf(spec, sizeof(spec), "%s-cbc-%s", algs[a].alg, ivs[k]);
			memset(iv, 0, sizeof(iv));
			switch (k) {
			case 0:
				put_le(iv, sector & 0xffffffffu, 4);
				break;
			case 1:
			case 5:
				put_le(iv, sector, 8);
				break;
			case 2:
				put_be64(iv + bs - 8, sector);
				break;
			case 3:
				put_be64(iv + bs - 8, (sector << (bs == 16 ? 5 : 6)) + 1);
				break;
			default:
				break;
			}
			if (k == 5) {
				/* ESSIV: the IV block through the same cipher keyed by H(key). */
				hl = crypto_hash_len(algs[a].hash);
				CHECK(hl > 0);
				CHECK_OK(crypto_hash(algs[a].hash, key, algs[a].key_len, salt));
				CHECK_OK(sector_cipher_new(ecb, salt, (size_t)hl, 512, &e));
				memcpy(out, iv, bs);
				for (size_t off = bs; off < 512; off += bs)
					memset(out + off, 0, bs);
				CHECK_OK(sector_cipher_encrypt(e, out, out, 512, 0));
				memcpy(iv, out, bs);
				sector_cipher_free(e);
				e = NULL;
			}
			/* Expected first block: ECB of P0 ^ IV (one 512-byte ECB unit). */
			for (size_t j = 0; j < bs; j++)
				blk[j] = unit[j] ^ iv[j];
			memset(out, 0, 512);
			memcpy(out, blk, bs);
			CHECK_OK(sector_cipher_new(ecb, key, algs[a].key_len, 512, &e));
			CHECK_OK(sector_cipher_encrypt(e, out, out, 512, 0));
			memcpy(blk, out, bs);
			sector_cipher_free(e);
			e = NULL;

			for (uint32_t ss = 512; ss <= 4096; ss *= 8) {
				CHECK_OK(sector_cipher_new(spec, key, algs[a].key_len, ss, &c));
				CHECK_OK(sector_cipher_encrypt(c, unit, out, ss, sector));
				if (memcmp(out, blk, bs) != 0) {
					fprintf(stderr, "%s, %u-byte sectors: wrong IV\n", spec,
						ss);
					exit(1);
				}
				CHECK_OK(sector_cipher_decrypt(c, out, out, ss, sector));
				CHECK_MEM(out, unit, ss);
				sector_cipher_free(c);
				c = NULL;
			}
		}
		printf("ciphers: %s IVs plain, plain64, plain64be, benbi, null, essiv ok\n",
		       algs[a].alg);
	}
}

/* Every 128-bit block cipher in XTS with each key size: round trip, dup, wrong tweak differs. */
static void check_xts_round_trips(void)
{
	static const struct {
		const char *spec;
		size_t key_len;
	} v[] = {
	    {"aes-xts-plain64", 48},	      {"serpent-xts-plain64", 32},
	    {"serpent-xts-plain64", 48},      {"serpent-xts-plain64", 64},
	    {"twofish-xts-plain64", 32},      {"twofish-xts-plain64", 64},
	    {"camellia-xts-plain64", 32},     {"camellia-xts-plain64", 48},
	    {"camellia-xts-plain64", 64},     {"sm4-xts-plain64", 32},
	    {"serpent-xts-essiv:sha256", 64},
	};
	static uint8_t in[8192], a[8192], b[8192];
	uint8_t key[64];

	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 13 + 5);
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i ^ (i >> 8));
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct sector_cipher *c = NULL, *d = NULL;

		CHECK(sector_cipher_supported(v[i].spec, v[i].key_len));
		CHECK_OK(sector_cipher_new(v[i].spec, key, v[i].key_len, 4096, &c));
		CHECK_OK(sector_cipher_dup(c, &d));
		CHECK_OK(sector_cipher_encrypt(c, in, a, sizeof(in), 16));
		CHECK(memcmp(a, in, sizeof(in)) != 0);
		/* Unit 1 of a request at 16 is unit 0 of one at 24 (4096 bytes = 8 IV steps). */
		CHECK_OK(sector_cipher_encrypt(d, in + 4096, b, 4096, 24));
		CHECK_MEM(a + 4096, b, 4096);
		CHECK_OK(sector_cipher_encrypt(d, in, b, 4096, 17));
		CHECK(memcmp(a, b, 4096) != 0);
		CHECK_OK(sector_cipher_decrypt(d, a, a, sizeof(a), 16));
		CHECK_MEM(a, in, sizeof(in));
		sector_cipher_free(d);
		sector_cipher_free(c);
	}
	printf("ciphers: XTS round trips ok\n");
}

int main(void)
{
	check_block_vectors();
	check_gcry_xts();
	check_backends_agree();
	check_iv_layouts();
	check_xts_round_trips();
	printf("ciphers: ok\n");
	return 0;
}
