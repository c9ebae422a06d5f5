/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Sector ciphers: the dm-crypt data transforms, AES-XTS and AES-CBC with plain/plain64/ESSIV. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "crypto/backend.h"

#define SC_BLOCK    16u /* AES block and IV size */
#define SC_IV_BATCH 64u /* IVs computed per ESSIV ECB call */

enum sc_chain {
	SC_CHAIN_XTS,
	SC_CHAIN_CBC,
};

enum sc_iv {
	SC_IV_PLAIN,
	SC_IV_PLAIN64,
	SC_IV_ESSIV,
};

struct sc_spec {
	enum sc_chain chain;
	enum sc_iv iv;
	char essiv_hash[32];
	size_t essiv_key_len; /* digest length of essiv_hash */
};

struct sector_cipher {
	struct sc_spec spec;
	uint32_t sector_size;
	uint32_t iv_step; /* IV numbers per unit: sector_size / 512 */
	uint8_t *key;	  /* secmem copy, kept for sector_cipher_dup() */
	size_t key_len;
	/*
	 * OpenSSL fixes the AES key schedule direction when the key is set, so
	 * each direction has its own context, keyed once; per unit only the IV
	 * is reset. The expanded keys inside these contexts live in OpenSSL's
	 * allocations, which osslmem.c serves from locked, don't-dump memory
	 * wiped on free.
	 */
	EVP_CIPHER_CTX *enc;
	EVP_CIPHER_CTX *dec;
	EVP_CIPHER_CTX *essiv; /* AES-ECB under H(key), encrypts IV blocks */
};

/* Parses "aes-<chain>-<iv>" into s. 0, -EINVAL (NULL), -ENOTSUP. */
static int parse_spec(const char *spec, struct sc_spec *s)
{
	const char *iv;
	int dlen;

	if (spec == NULL)
		return -EINVAL;
	memset(s, 0, sizeof(*s));
	if (strncmp(spec, "aes-", 4) != 0)
		return -ENOTSUP;
	if (strncmp(spec + 4, "xts-", 4) == 0)
		s->chain = SC_CHAIN_XTS;
	else if (strncmp(spec + 4, "cbc-", 4) == 0)
		s->chain = SC_CHAIN_CBC;
	else
		return -ENOTSUP;

	iv = spec + 8;
	if (strcmp(iv, "plain64") == 0) {
		s->iv = SC_IV_PLAIN64;
		return 0;
	}
	if (strcmp(iv, "plain") == 0) {
		s->iv = SC_IV_PLAIN;
		return 0;
	}
	if (s->chain != SC_CHAIN_CBC || strncmp(iv, "essiv:", 6) != 0)
		return -ENOTSUP;
	if (strlen(iv + 6) >= sizeof(s->essiv_hash))
		return -ENOTSUP;
	/* The ESSIV cipher is AES keyed with the digest, so its length must be an AES key size. */
	dlen = crypto_hash_len(iv + 6);
	if (dlen != 16 && dlen != 24 && dlen != 32)
		return -ENOTSUP;
	s->iv = SC_IV_ESSIV;
	strcpy(s->essiv_hash, iv + 6);
	s->essiv_key_len = (size_t)dlen;
	return 0;
}

static bool key_len_ok(const struct sc_spec *s, size_t key_len)
{
	if (s->chain == SC_CHAIN_XTS)
		return key_len == 32 || key_len == 64;
	return key_len == 16 || key_len == 24 || key_len == 32;
}

static const char *evp_name(enum sc_chain chain, size_t key_len, bool ecb)
{
	static const char *const cbc_names[] = {"AES-128-CBC", "AES-192-CBC", "AES-256-CBC"};
	static const char *const ecb_names[] = {"AES-128-ECB", "AES-192-ECB", "AES-256-ECB"};
	size_t i = (key_len - 16) / 8; /* 16, 24, 32 bytes -> 0, 1, 2 */

	if (chain == SC_CHAIN_XTS && !ecb)
		return key_len == 32 ? "AES-128-XTS" : "AES-256-XTS";
	return ecb ? ecb_names[i] : cbc_names[i];
}

/* A context keyed once for one direction, padding off (units are whole blocks). */
static int make_ctx(const char *name, const uint8_t *key, size_t key_len, int enc,
		    EVP_CIPHER_CTX **ret_ctx)
{
	EVP_CIPHER *cipher = NULL;
	EVP_CIPHER_CTX *ctx = NULL;
	int r;

	cipher = EVP_CIPHER_fetch(NULL, name, NULL);
	if (cipher == NULL) {
		r = -ENOTSUP;
		goto out;
	}
	if (EVP_CIPHER_get_key_length(cipher) != (int)key_len) {
		r = -EINVAL;
		goto out;
	}
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if (!EVP_CipherInit_ex2(ctx, cipher, key, NULL, enc, NULL)) {
		r = -EIO;
		goto out;
	}
	if (EVP_CIPHER_get_mode(cipher) != EVP_CIPH_XTS_MODE &&
	    !EVP_CIPHER_CTX_set_padding(ctx, 0)) {
		r = -EIO;
		goto out;
	}
	*ret_ctx = ctx;
	ctx = NULL;
	r = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	EVP_CIPHER_free(cipher);
	return r;
}

static bool sector_size_ok(uint32_t sector_size)
{
	return sector_size == 512 || sector_size == 1024 || sector_size == 2048 ||
	       sector_size == 4096;
}

static int sc_create(const struct sc_spec *s, const uint8_t *key, size_t key_len,
		     uint32_t sector_size, struct sector_cipher **ret_cipher)
{
	struct sector_cipher *c = NULL;
	uint8_t *salt = NULL;
	const char *name;
	int r;

	if (!key_len_ok(s, key_len) || !sector_size_ok(sector_size))
		return -EINVAL;
	/*
	 * XTS with key1 == key2 loses its security proof (IEEE 1619-2018,
	 * FIPS 140 IG C.I) and OpenSSL refuses it for encryption; refuse it
	 * here in both directions so the result does not depend on OpenSSL.
	 */
	if (s->chain == SC_CHAIN_XTS && CRYPTO_memcmp(key, key + key_len / 2, key_len / 2) == 0)
		return -EINVAL;

	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		r = -ENOMEM;
		goto out;
	}
	c->spec = *s;
	c->sector_size = sector_size;
	c->iv_step = sector_size / 512;
	c->key_len = key_len;
	c->key = secmem_dup(key, key_len);
	if (c->key == NULL) {
		r = -ENOMEM;
		goto out;
	}

	name = evp_name(s->chain, key_len, false);
	r = make_ctx(name, key, key_len, 1, &c->enc);
	if (r < 0)
		goto out;
	r = make_ctx(name, key, key_len, 0, &c->dec);
	if (r < 0)
		goto out;

	if (s->iv == SC_IV_ESSIV) {
		/* ESSIV salt = H(volume key): the AES-ECB key that encrypts sector numbers. */
		salt = secmem_alloc(s->essiv_key_len);
		if (salt == NULL) {
			r = -ENOMEM;
			goto out;
		}
		r = crypto_hash(s->essiv_hash, key, key_len, salt);
		if (r < 0)
			goto out;
		r = make_ctx(evp_name(s->chain, s->essiv_key_len, true), salt, s->essiv_key_len, 1,
			     &c->essiv);
		if (r < 0)
			goto out;
	}

	*ret_cipher = c;
	c = NULL;
	r = 0;
out:
	secmem_free(salt);
	sector_cipher_free(c);
	return r;
}

/*
 * Splits a dm-crypt spec at its first '-' into the LUKS1 cipher-name and
 * cipher-mode fields ("aes-cbc-essiv:sha256" -> "aes", "cbc-essiv:sha256").
 * Does not check that the spec is supported. 0, or -EINVAL when spec has no
 * '-' with text on both sides or a part does not fit its buffer (outputs are
 * then untouched).
 */
int cipher_spec_split(const char *spec, char *cipher, size_t cipher_len, char *mode,
		      size_t mode_len)
{
	const char *dash;
	size_t clen, mlen;

	if (spec == NULL || cipher == NULL || mode == NULL)
		return -EINVAL;
	dash = strchr(spec, '-');
	if (dash == NULL || dash == spec || dash[1] == '\0')
		return -EINVAL;
	clen = (size_t)(dash - spec);
	mlen = strlen(dash + 1);
	if (clen >= cipher_len || mlen >= mode_len)
		return -EINVAL;
	memcpy(cipher, spec, clen);
	cipher[clen] = '\0';
	memcpy(mode, dash + 1, mlen + 1);
	return 0;
}

/* True if spec names a supported data cipher and key_len (bytes) is valid for it. */
bool sector_cipher_supported(const char *spec, size_t key_len)
{
	struct sc_spec s;

	return parse_spec(spec, &s) == 0 && key_len_ok(&s, key_len);
}

/*
 * Creates a sector cipher for spec keyed with key (copied into secmem).
 * sector_size is the unit size: 512, 1024, 2048 or 4096.
 * 0, -ENOTSUP (unknown spec), -EINVAL (bad key length, sector size, or an
 * XTS key whose halves are equal), -ENOMEM, -EIO.
 */
int sector_cipher_new(const char *spec, const uint8_t *key, size_t key_len, uint32_t sector_size,
		      struct sector_cipher **ret_cipher)
{
	struct sc_spec s;
	int r;

	if (key == NULL || ret_cipher == NULL)
		return -EINVAL;
	r = parse_spec(spec, &s);
	if (r < 0)
		return r;
	return sc_create(&s, key, key_len, sector_size, ret_cipher);
}

/* A new context with the same spec, key and sector size, for use by another thread. */
int sector_cipher_dup(const struct sector_cipher *c, struct sector_cipher **ret_cipher)
{
	if (c == NULL || ret_cipher == NULL)
		return -EINVAL;
	return sc_create(&c->spec, c->key, c->key_len, c->sector_size, ret_cipher);
}

/* Frees the contexts and wipes the key copy; NULL-safe. */
void sector_cipher_free(struct sector_cipher *c)
{
	if (c == NULL)
		return;
	EVP_CIPHER_CTX_free(c->enc);
	EVP_CIPHER_CTX_free(c->dec);
	EVP_CIPHER_CTX_free(c->essiv);
	secmem_free(c->key);
	free(c);
}

/* Unit size in bytes given at creation; 0 for NULL. */
uint32_t sector_cipher_sector_size(const struct sector_cipher *c)
{
	return c != NULL ? c->sector_size : 0;
}

static void store_le64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* IVs for n consecutive units, the first with IV number first. */
static int make_ivs(const struct sector_cipher *c, uint8_t ivs[][SC_BLOCK], size_t n,
		    uint64_t first)
{
	uint64_t num = first;
	size_t j;
	int outl;

	for (j = 0; j < n; j++, num += c->iv_step) {
		memset(ivs[j], 0, SC_BLOCK);
		/* plain: the IV number truncated to 32 bits. */
		store_le64(ivs[j], c->spec.iv == SC_IV_PLAIN ? (uint32_t)num : num);
	}
	if (c->spec.iv != SC_IV_ESSIV)
		return 0;
	/* One ECB call for the whole batch: ECB has no chaining, so in place is fine. */
	if (!EVP_EncryptUpdate(c->essiv, ivs[0], &outl, ivs[0], (int)(n * SC_BLOCK)) ||
	    outl != (int)(n * SC_BLOCK))
		return -EIO;
	return 0;
}

/*
 * The hot path. Each unit of sector_size bytes is one XTS data unit or one
 * CBC chain: reset the IV on the already keyed context, then one update over
 * the whole unit. No allocation and no key setup here.
 */
static int sc_crypt(struct sector_cipher *c, int enc, const uint8_t *in, uint8_t *out, size_t len,
		    uint64_t iv_sector)
{
	uint8_t ivs[SC_IV_BATCH][SC_BLOCK];
	EVP_CIPHER_CTX *ctx;
	size_t units, done = 0;
	int unit;
	int r = 0;

	if (c == NULL || (len > 0 && (in == NULL || out == NULL)) || len % c->sector_size != 0)
		return -EINVAL;
	ctx = enc ? c->enc : c->dec;
	unit = (int)c->sector_size;
	units = len / c->sector_size;

	while (done < units) {
		size_t n = units - done < SC_IV_BATCH ? units - done : SC_IV_BATCH;
		size_t j;

		/* IV numbers count 512-byte sectors and wrap modulo 2^64, as in dm-crypt. */
		r = make_ivs(c, ivs, n, iv_sector + (uint64_t)done * c->iv_step);
		if (r < 0)
			goto out;
		for (j = 0; j < n; j++) {
			size_t off = (done + j) * c->sector_size;
			int outl;

			if (!EVP_CipherInit_ex2(ctx, NULL, NULL, ivs[j], enc, NULL) ||
			    !EVP_CipherUpdate(ctx, out + off, &outl, in + off, unit) ||
			    outl != unit) {
				r = -EIO;
				goto out;
			}
		}
		done += n;
	}
out:
	/* ESSIV IVs are key-derived; plain ones are just sector numbers. */
	if (c->spec.iv == SC_IV_ESSIV)
		explicit_bzero(ivs, sizeof(ivs));
	return r;
}

/*
 * Encrypts len bytes (a multiple of the sector size) from in to out, which
 * may be the same buffer. iv_sector is the IV number of the first unit in
 * 512-byte sectors; unit k uses iv_sector + k * (sector_size / 512).
 * 0, -EINVAL, -EIO.
 */
int sector_cipher_encrypt(struct sector_cipher *c, const uint8_t *in, uint8_t *out, size_t len,
			  uint64_t iv_sector)
{
	return sc_crypt(c, 1, in, out, len, iv_sector);
}

/* The inverse of sector_cipher_encrypt(), same arguments and rules. 0, -EINVAL, -EIO. */
int sector_cipher_decrypt(struct sector_cipher *c, const uint8_t *in, uint8_t *out, size_t len,
			  uint64_t iv_sector)
{
	return sc_crypt(c, 0, in, out, len, iv_sector);
}
