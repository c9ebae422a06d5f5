/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Sector ciphers: the dm-crypt data transforms. AES through OpenSSL (its fast
 * path); AES-192-XTS, Serpent, Twofish, Camellia, CAST5, SM4 (and ARIA where
 * the installed libgcrypt has it) through libgcrypt. Chains xts, cbc, ecb,
 * ctr; IVs plain, plain64, plain64be, essiv:HASH, benbi, null.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "crypto/backend.h"
#include "crypto/crypto_internal.h"

#define SC_MAX_BLOCK 16u /* largest block and IV size (8 for CAST5) */
#define SC_IV_BATCH  64u /* IVs computed per ESSIV ECB call */

enum sc_chain {
	SC_CHAIN_XTS,
	SC_CHAIN_CBC,
	SC_CHAIN_ECB,
	SC_CHAIN_CTR,
};

enum sc_iv {
	SC_IV_NONE, /* ecb: dm-crypt ignores any IV mode given */
	SC_IV_PLAIN,
	SC_IV_PLAIN64,
	SC_IV_PLAIN64BE,
	SC_IV_ESSIV,
	SC_IV_BENBI,
	SC_IV_NULL,
};

/*
 * Block ciphers by dm-crypt name. gcry[i] names libgcrypt's algorithm for a
 * key of 16, 24 or 32 bytes (NULL: libgcrypt has none, e.g. Twofish-192),
 * looked up at run time so a libgcrypt that gained ARIA serves it. peer_keys
 * has bit n set when the kernel's implementation takes an n-byte key: a
 * header whose key size no peer can use is damaged, one that a peer can use
 * but we cannot is unsupported.
 */
struct sc_alg {
	const char *name;
	size_t block;
	const char *gcry[3];
	uint64_t peer_keys;
};

#define KEYBIT(n)	 (UINT64_C(1) << (n))
#define KEYS_128_192_256 (KEYBIT(16) | KEYBIT(24) | KEYBIT(32))

static const struct sc_alg sc_algs[] = {
    {"aes", 16, {"AES128", "AES192", "AES256"}, KEYS_128_192_256},
    /* The kernel's Serpent pads any key up to 256 bits. */
    {"serpent", 16, {"SERPENT128", "SERPENT192", "SERPENT256"}, 0x1fffffffeull},
    {"twofish", 16, {"TWOFISH128", NULL, "TWOFISH"}, KEYS_128_192_256},
    {"camellia", 16, {"CAMELLIA128", "CAMELLIA192", "CAMELLIA256"}, KEYS_128_192_256},
    /* CAST-128 (RFC 2144) takes 40 to 128-bit keys; libgcrypt only 128. */
    {"cast5", 8, {"CAST5", NULL, NULL}, 0x1ffe0ull},
    {"sm4", 16, {"SM4", NULL, NULL}, KEYBIT(16)},
    {"aria", 16, {"ARIA128", "ARIA192", "ARIA256"}, KEYS_128_192_256},
};

struct sc_spec {
	const struct sc_alg *alg;
	enum sc_chain chain;
	enum sc_iv iv;
	char essiv_hash[32];
	size_t essiv_key_len; /* digest length of essiv_hash */
};

struct sector_cipher {
	struct sc_spec spec;
	uint32_t sector_size;
	uint32_t iv_step; /* IV numbers per unit: sector_size / 512 */
	size_t block;	  /* block and IV size */
	uint8_t *key;	  /* secmem copy, kept for sector_cipher_dup() */
	size_t key_len;
	bool gcry; /* libgcrypt backend (else OpenSSL) */
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
	/*
	 * libgcrypt: one handle serves both directions; its key schedule is in
	 * the same arena (gcry.c), and gcry_cipher_close() wipes it.
	 */
	gcry_cipher_hd_t hd;
	gcry_cipher_hd_t essiv_hd; /* the block cipher in ECB under H(key) */
};

static const struct sc_alg *find_alg(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(sc_algs) / sizeof(sc_algs[0]); i++)
		if (strlen(sc_algs[i].name) == len && strncmp(sc_algs[i].name, name, len) == 0)
			return &sc_algs[i];
	return NULL;
}

/* libgcrypt's algorithm for alg with a key of key_len bytes, or 0. */
static int gcry_algo(const struct sc_alg *alg, size_t key_len)
{
	const char *name;
	int algo;

	if (key_len != 16 && key_len != 24 && key_len != 32)
		return 0;
	name = alg->gcry[(key_len - 16) / 8];
	if (name == NULL || crypto_gcry_init() < 0)
		return 0;
	algo = gcry_cipher_map_name(name);
	if (algo == 0 || gcry_cipher_test_algo(algo) != 0 ||
	    gcry_cipher_get_algo_keylen(algo) != key_len ||
	    gcry_cipher_get_algo_blklen(algo) != alg->block)
		return 0;
	return algo;
}

/* Key length of one block cipher instance: the whole key, or half of it for XTS. */
static size_t cipher_key_len(const struct sc_spec *s, size_t key_len)
{
	return s->chain == SC_CHAIN_XTS ? key_len / 2 : key_len;
}

/* A key size some peer could have written for this spec. */
static bool key_len_valid(const struct sc_spec *s, size_t key_len)
{
	size_t k = cipher_key_len(s, key_len);

	if (s->chain == SC_CHAIN_XTS && key_len % 2 != 0)
		return false;
	return k >= 1 && k <= 32 && (s->alg->peer_keys & KEYBIT(k));
}

/* The AES fast path: OpenSSL has AES-XTS for 128 and 256-bit keys only. */
static bool use_openssl(const struct sc_spec *s, size_t key_len)
{
	return strcmp(s->alg->name, "aes") == 0 && !(s->chain == SC_CHAIN_XTS && key_len == 48);
}

/* A key size we can use for this spec. */
static bool key_len_ok(const struct sc_spec *s, size_t key_len)
{
	if (!key_len_valid(s, key_len))
		return false;
	if (use_openssl(s, key_len))
		return true;
	return gcry_algo(s->alg, cipher_key_len(s, key_len)) != 0;
}

static int parse_iv(const char *iv, struct sc_spec *s)
{
	static const struct {
		const char *name;
		enum sc_iv iv;
	} ivs[] = {
	    {"plain", SC_IV_PLAIN}, {"plain64", SC_IV_PLAIN64}, {"plain64be", SC_IV_PLAIN64BE},
	    {"benbi", SC_IV_BENBI}, {"null", SC_IV_NULL},
	};
	int dlen;

	for (size_t i = 0; i < sizeof(ivs) / sizeof(ivs[0]); i++) {
		if (strcmp(iv, ivs[i].name) == 0) {
			s->iv = ivs[i].iv;
			return 0;
		}
	}
	if (strncmp(iv, "essiv:", 6) != 0 || strlen(iv + 6) >= sizeof(s->essiv_hash))
		return -ENOTSUP;
	/*
	 * The ESSIV cipher is the same block cipher keyed with H(key), so the
	 * digest length must be a key size it takes (sha256 -> AES-256).
	 */
	dlen = crypto_hash_len(iv + 6);
	if (dlen <= 0)
		return -ENOTSUP;
	if (strcmp(s->alg->name, "aes") != 0 && gcry_algo(s->alg, (size_t)dlen) == 0)
		return -ENOTSUP;
	if (dlen != 16 && dlen != 24 && dlen != 32)
		return -ENOTSUP;
	s->iv = SC_IV_ESSIV;
	strcpy(s->essiv_hash, iv + 6);
	s->essiv_key_len = (size_t)dlen;
	return 0;
}

/*
 * Parses "<cipher>-<chain>[-<iv>]" into s. dm-crypt ignores the IV mode of
 * ecb, and QEMU writes one ("ecb-plain64"), so ecb takes any or none.
 * 0, -EINVAL (NULL), -ENOTSUP (anything unknown, "capi:" specs, adiantum,
 * hctr2, a 64-bit block cipher in xts).
 */
static int parse_spec(const char *spec, struct sc_spec *s)
{
	static const struct {
		const char *name;
		enum sc_chain chain;
	} chains[] = {
	    {"xts", SC_CHAIN_XTS},
	    {"cbc", SC_CHAIN_CBC},
	    {"ecb", SC_CHAIN_ECB},
	    {"ctr", SC_CHAIN_CTR},
	};
	const char *dash, *mode;
	size_t i;

	if (spec == NULL)
		return -EINVAL;
	memset(s, 0, sizeof(*s));
	dash = strchr(spec, '-');
	if (dash == NULL)
		return -ENOTSUP;
	s->alg = find_alg(spec, (size_t)(dash - spec));
	if (s->alg == NULL)
		return -ENOTSUP;
	mode = dash + 1;
	for (i = 0; i < sizeof(chains) / sizeof(chains[0]); i++) {
		size_t n = strlen(chains[i].name);

		if (strncmp(mode, chains[i].name, n) == 0 && (mode[n] == '-' || mode[n] == '\0'))
			break;
	}
	if (i == sizeof(chains) / sizeof(chains[0]))
		return -ENOTSUP;
	s->chain = chains[i].chain;
	mode += strlen(chains[i].name);
	/* XTS is defined for 128-bit blocks only. */
	if (s->chain == SC_CHAIN_XTS && s->alg->block != 16)
		return -ENOTSUP;
	if (s->chain == SC_CHAIN_ECB) {
		s->iv = SC_IV_NONE;
		return *mode == '\0' || mode[1] != '\0' ? 0 : -ENOTSUP;
	}
	if (*mode != '-')
		return -ENOTSUP;
	return parse_iv(mode + 1, s);
}

/* OpenSSL's name for an AES transform of key_len bytes (16, 24, 32; XTS 32 or 64). */
static const char *evp_name(enum sc_chain chain, size_t key_len)
{
	static const char *const names[][3] = {
	    [SC_CHAIN_CBC] = {"AES-128-CBC", "AES-192-CBC", "AES-256-CBC"},
	    [SC_CHAIN_ECB] = {"AES-128-ECB", "AES-192-ECB", "AES-256-ECB"},
	    [SC_CHAIN_CTR] = {"AES-128-CTR", "AES-192-CTR", "AES-256-CTR"},
	};

	if (chain == SC_CHAIN_XTS)
		return key_len == 32 ? "AES-128-XTS" : "AES-256-XTS";
	return names[chain][(key_len - 16) / 8];
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

/* A libgcrypt handle for alg in mode, keyed once. */
static int make_hd(const struct sc_alg *alg, size_t algo_key_len, int mode, const uint8_t *key,
		   size_t key_len, gcry_cipher_hd_t *ret_hd)
{
	gcry_cipher_hd_t hd = NULL;
	int algo = gcry_algo(alg, algo_key_len);

	if (algo == 0)
		return -ENOTSUP;
	if (gcry_cipher_open(&hd, algo, mode, crypto_gcry_cipher_flags()) != 0)
		return -ENOMEM;
	if (gcry_cipher_setkey(hd, key, key_len) != 0) {
		gcry_cipher_close(hd);
		return -EINVAL;
	}
	*ret_hd = hd;
	return 0;
}

static bool sector_size_ok(uint32_t sector_size)
{
	return sector_size == 512 || sector_size == 1024 || sector_size == 2048 ||
	       sector_size == 4096;
}

static int gcry_mode(enum sc_chain chain)
{
	switch (chain) {
	case SC_CHAIN_XTS:
		return GCRY_CIPHER_MODE_XTS;
	case SC_CHAIN_CBC:
		return GCRY_CIPHER_MODE_CBC;
	case SC_CHAIN_CTR:
		return GCRY_CIPHER_MODE_CTR;
	case SC_CHAIN_ECB:
		break;
	}
	return GCRY_CIPHER_MODE_ECB;
}

static int sc_create(const struct sc_spec *s, const uint8_t *key, size_t key_len,
		     uint32_t sector_size, bool force_gcry, struct sector_cipher **ret_cipher)
{
	struct sector_cipher *c = NULL;
	uint8_t *salt = NULL;
	int r;

	if (!key_len_valid(s, key_len) || !sector_size_ok(sector_size))
		return -EINVAL;
	if (!key_len_ok(s, key_len))
		return -ENOTSUP;
	/*
	 * XTS with key1 == key2 loses its security proof (IEEE 1619-2018,
	 * FIPS 140 IG C.I) and OpenSSL refuses it for encryption; refuse it
	 * here in both directions and for every cipher, so the result does not
	 * depend on the library.
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
	c->block = s->alg->block;
	c->key_len = key_len;
	c->gcry = force_gcry || !use_openssl(s, key_len);
	c->key = secmem_dup(key, key_len);
	if (c->key == NULL) {
		r = -ENOMEM;
		goto out;
	}

	if (c->gcry) {
		r = make_hd(s->alg, cipher_key_len(s, key_len), gcry_mode(s->chain), key, key_len,
			    &c->hd);
	} else {
		r = make_ctx(evp_name(s->chain, key_len), key, key_len, 1, &c->enc);
		if (r == 0)
			r = make_ctx(evp_name(s->chain, key_len), key, key_len, 0, &c->dec);
	}
	if (r < 0)
		goto out;

	if (s->iv == SC_IV_ESSIV) {
		/* ESSIV salt = H(volume key): the ECB key that encrypts sector numbers. */
		salt = secmem_alloc(s->essiv_key_len);
		if (salt == NULL) {
			r = -ENOMEM;
			goto out;
		}
		r = crypto_hash(s->essiv_hash, key, key_len, salt);
		if (r < 0)
			goto out;
		if (c->gcry)
			r = make_hd(s->alg, s->essiv_key_len, GCRY_CIPHER_MODE_ECB, salt,
				    s->essiv_key_len, &c->essiv_hd);
		else
			r = make_ctx(evp_name(SC_CHAIN_ECB, s->essiv_key_len), salt,
				     s->essiv_key_len, 1, &c->essiv);
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
 * What a header's cipher and key size mean to us: 0 usable; -ENOTSUP an
 * unknown cipher, mode or IV, or a key size a peer could use and we cannot
 * (Twofish-192, CAST5 below 128 bits); -EINVAL a key size no peer takes for
 * this cipher (a damaged header).
 */
int sector_cipher_check(const char *spec, size_t key_len)
{
	struct sc_spec s;
	int r = parse_spec(spec, &s);

	if (r < 0)
		return r == -EINVAL ? -ENOTSUP : r;
	if (!key_len_valid(&s, key_len))
		return -EINVAL;
	return key_len_ok(&s, key_len) ? 0 : -ENOTSUP;
}

/*
 * Creates a sector cipher for spec keyed with key (copied into secmem).
 * sector_size is the unit size: 512, 1024, 2048 or 4096.
 * 0, -ENOTSUP (unknown spec, or a key size only other implementations take),
 * -EINVAL (bad key length, sector size, or an XTS key whose halves are
 * equal), -ENOMEM, -EIO.
 */
const char *sector_cipher_why(const char *spec)
{
	if (!spec)
		return "";
	if (strstr(spec, "adiantum"))
		return " (adiantum needs XChaCha12 and NHPoly1305, which neither OpenSSL nor "
		       "libgcrypt provides)";
	if (strstr(spec, "hctr2"))
		return " (HCTR2 is a kernel mode that neither OpenSSL nor libgcrypt provides)";
	if (strncmp(spec, "capi:", 5) == 0)
		return " (capi: names a kernel crypto API template, which only dm-crypt can "
		       "instantiate)";
	return "";
}

static int sc_new(const char *spec, const uint8_t *key, size_t key_len, uint32_t sector_size,
		  bool gcry_only, struct sector_cipher **ret_cipher)
{
	struct sc_spec s;
	int r;

	if (key == NULL || ret_cipher == NULL)
		return -EINVAL;
	r = parse_spec(spec, &s);
	if (r < 0)
		return r;
	return sc_create(&s, key, key_len, sector_size, gcry_only, ret_cipher);
}

int sector_cipher_new(const char *spec, const uint8_t *key, size_t key_len, uint32_t sector_size,
		      struct sector_cipher **ret_cipher)
{
	return sc_new(spec, key, key_len, sector_size, false, ret_cipher);
}

/* As sector_cipher_new(), always through libgcrypt (tests compare the two backends on AES). */
int sector_cipher_new_gcry(const char *spec, const uint8_t *key, size_t key_len,
			   uint32_t sector_size, struct sector_cipher **ret_cipher)
{
	return sc_new(spec, key, key_len, sector_size, true, ret_cipher);
}

/*
 * A new context with the same spec, key, sector size and backend, for use by
 * another thread: keyed again from the secmem copy, nothing shared.
 */
int sector_cipher_dup(const struct sector_cipher *c, struct sector_cipher **ret_cipher)
{
	if (c == NULL || ret_cipher == NULL)
		return -EINVAL;
	return sc_create(&c->spec, c->key, c->key_len, c->sector_size, c->gcry, ret_cipher);
}

/* Frees the contexts (libgcrypt's close wipes them) and wipes the key copy; NULL-safe. */
void sector_cipher_free(struct sector_cipher *c)
{
	if (c == NULL)
		return;
	EVP_CIPHER_CTX_free(c->enc);
	EVP_CIPHER_CTX_free(c->dec);
	EVP_CIPHER_CTX_free(c->essiv);
	if (c->hd != NULL)
		gcry_cipher_close(c->hd);
	if (c->essiv_hd != NULL)
		gcry_cipher_close(c->essiv_hd);
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
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void store_be64_at(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static unsigned log2_block(size_t block)
{
	return block == 8 ? 3 : 4;
}

/*
 * IVs for n consecutive units, the first with IV number first, as dm-crypt
 * builds them (block-sized, zero padded): plain le32, plain64 le64 at the
 * start; plain64be be64 at the end; benbi be64 of the narrow-block count
 * (number << (9 - log2(block)), plus 1) at the end; null all zero; essiv the
 * plain64 block encrypted under H(key).
 */
static int make_ivs(const struct sector_cipher *c, uint8_t ivs[][SC_MAX_BLOCK], size_t n,
		    uint64_t first)
{
	size_t bs = c->block;
	uint64_t num = first;
	size_t j;
	int outl;

	for (j = 0; j < n; j++, num += c->iv_step) {
		memset(ivs[j], 0, SC_MAX_BLOCK);
		switch (c->spec.iv) {
		case SC_IV_PLAIN:
			/* The IV number truncated to 32 bits. */
			store_le64(ivs[j], (uint32_t)num);
			break;
		case SC_IV_PLAIN64:
		case SC_IV_ESSIV:
			store_le64(ivs[j], num);
			break;
		case SC_IV_PLAIN64BE:
			store_be64_at(ivs[j] + bs - 8, num);
			break;
		case SC_IV_BENBI:
			store_be64_at(ivs[j] + bs - 8, (num << (9 - log2_block(bs))) + 1);
			break;
		case SC_IV_NULL:
		case SC_IV_NONE:
			break;
		}
	}
	if (c->spec.iv != SC_IV_ESSIV)
		return 0;
	/*
	 * One ECB call for the whole batch: ECB has no chaining, so in place is
	 * fine. The IV blocks are SC_MAX_BLOCK apart, so CAST5's 8-byte IVs are
	 * encrypted one by one.
	 */
	if (c->essiv_hd != NULL) {
		if (bs == SC_MAX_BLOCK)
			return gcry_cipher_encrypt(c->essiv_hd, ivs[0], n * bs, NULL, 0) ? -EIO : 0;
		for (j = 0; j < n; j++)
			if (gcry_cipher_encrypt(c->essiv_hd, ivs[j], bs, NULL, 0) != 0)
				return -EIO;
		return 0;
	}
	if (!EVP_EncryptUpdate(c->essiv, ivs[0], &outl, ivs[0], (int)(n * SC_MAX_BLOCK)) ||
	    outl != (int)(n * SC_MAX_BLOCK))
		return -EIO;
	return 0;
}

/* One libgcrypt call over len bytes; it wants in-place work spelled as a NULL input. */
static int gcry_run(struct sector_cipher *c, int enc, const uint8_t *in, uint8_t *out, size_t len)
{
	gcry_error_t e;

	if (in == out)
		e = enc ? gcry_cipher_encrypt(c->hd, out, len, NULL, 0)
			: gcry_cipher_decrypt(c->hd, out, len, NULL, 0);
	else
		e = enc ? gcry_cipher_encrypt(c->hd, out, len, in, len)
			: gcry_cipher_decrypt(c->hd, out, len, in, len);
	return e != 0 ? -EIO : 0;
}

/* One unit through libgcrypt with its IV (or counter) already built. */
static int gcry_unit(struct sector_cipher *c, int enc, const uint8_t *in, uint8_t *out, size_t len,
		     const uint8_t *iv)
{
	gcry_error_t e;

	if (c->spec.chain == SC_CHAIN_CTR)
		e = gcry_cipher_setctr(c->hd, iv, c->block);
	else
		e = gcry_cipher_setiv(c->hd, iv, c->block);
	if (e != 0)
		return -EIO;
	return gcry_run(c, enc, in, out, len);
}

/* ECB: no IV and no chaining, so the whole request is one call. */
static int ecb_crypt(struct sector_cipher *c, int enc, const uint8_t *in, uint8_t *out, size_t len)
{
	EVP_CIPHER_CTX *ctx = enc ? c->enc : c->dec;

	if (c->gcry)
		return gcry_run(c, enc, in, out, len);
	while (len > 0) {
		int chunk = len > (1u << 30) ? 1 << 30 : (int)len;
		int outl;

		if (!EVP_CipherUpdate(ctx, out, &outl, in, chunk) || outl != chunk)
			return -EIO;
		in += chunk;
		out += chunk;
		len -= (size_t)chunk;
	}
	return 0;
}

/*
 * The hot path. Each unit of sector_size bytes is one XTS data unit or one
 * CBC chain (or CTR stream): reset the IV on the already keyed context,
 * then one call over the whole unit. No allocation and no key setup here.
 */
static int sc_crypt(struct sector_cipher *c, int enc, const uint8_t *in, uint8_t *out, size_t len,
		    uint64_t iv_sector)
{
	uint8_t ivs[SC_IV_BATCH][SC_MAX_BLOCK];
	EVP_CIPHER_CTX *ctx;
	size_t units, done = 0;
	int unit;
	int r = 0;

	if (c == NULL || (len > 0 && (in == NULL || out == NULL)) || len % c->sector_size != 0)
		return -EINVAL;
	if (c->spec.chain == SC_CHAIN_ECB)
		return len > 0 ? ecb_crypt(c, enc, in, out, len) : 0;
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

			if (c->gcry) {
				r = gcry_unit(c, enc, in + off, out + off, c->sector_size, ivs[j]);
				if (r < 0)
					goto out;
				continue;
			}
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
