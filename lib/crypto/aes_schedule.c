/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* AES key schedules as they sit in memory, built by OpenSSL: what the key scanner looks for. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

/*
 * AES_set_encrypt_key() and AES_set_decrypt_key() are deprecated in OpenSSL 3
 * but still present. They are the one OpenSSL interface that hands out the
 * expanded round keys; EVP keeps them opaque. The scanner needs the exact bytes
 * that sit in other programs' memory, so it uses them, here and nowhere else.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/aes.h>
#include <openssl/crypto.h>

#include "crypto/aes_schedule.h"

/* How OpenSSL's AES_KEY.rd_key holds a word on this machine (found on first use). */
enum rd_layout {
	RD_UNKNOWN,
	RD_BYTES,   /* FIPS-197 byte order (OpenSSL's x86-64 assembler) */
	RD_SWAPPED, /* each word a host integer of the big-endian word (OpenSSL's C code) */
	RD_BROKEN,
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static enum rd_layout rd_layout;
static uint8_t sbox[256];
static bool sbox_ok;

size_t aes_schedule_len(size_t key_len)
{
	switch (key_len) {
	case 16:
		return 176;
	case 24:
		return 208;
	case 32:
		return 240;
	default:
		return 0;
	}
}

void aes_schedule_swap_words(const uint8_t *in, uint8_t *out, size_t len)
{
	size_t i;
	uint8_t t0, t1;

	for (i = 0; i + 4 <= len; i += 4) {
		t0 = in[i];
		t1 = in[i + 1];
		out[i] = in[i + 3];
		out[i + 1] = in[i + 2];
		out[i + 2] = t1;
		out[i + 3] = t0;
	}
}

static int expand(const uint8_t *key, size_t key_len, bool decrypt, uint8_t *out);

/* Copies an AES_KEY's round keys out in FIPS-197 byte order. */
static void rd_key_out(const AES_KEY *k, uint8_t *out, size_t len)
{
	memcpy(out, k->rd_key, len);
	if (rd_layout == RD_SWAPPED)
		aes_schedule_swap_words(out, out, len);
}

static void detect_layout(void)
{
	static const uint8_t probe[16] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
					  0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};
	uint8_t first[16];
	AES_KEY k;

	rd_layout = RD_BROKEN;
	if (AES_set_encrypt_key(probe, 128, &k) != 0)
		return;
	/* Round key 0 is the key itself: compare it in both layouts. */
	memcpy(first, k.rd_key, sizeof(first));
	if (memcmp(first, probe, sizeof(first)) == 0) {
		rd_layout = RD_BYTES;
	} else {
		aes_schedule_swap_words(first, first, sizeof(first));
		if (memcmp(first, probe, sizeof(first)) == 0)
			rd_layout = RD_SWAPPED;
	}
	OPENSSL_cleanse(&k, sizeof(k));
}

/*
 * The S-box is read out of OpenSSL's own key expansion rather than typed in:
 * with an AES-128 key whose first three words are zero and whose fourth word
 * is x x x x, FIPS-197 gives w4 = SubWord(RotWord(w3)) ^ Rcon[1], so byte 1
 * of w4 is S(x). 256 expansions at first use; the scanner then checks the
 * expansion relation of candidate windows with this table (see lib/scan).
 */
static void derive_sbox(void)
{
	uint8_t key[16] = {0}, sched[176];
	unsigned x;

	for (x = 0; x < 256; x++) {
		memset(key + 12, (int)x, 4);
		if (expand(key, sizeof(key), false, sched) != 0)
			return;
		sbox[x] = sched[17];
	}
	/* FIPS-197 figure 7: S(0x00) = 0x63, S(0x53) = 0xed. */
	sbox_ok = sbox[0x00] == 0x63 && sbox[0x53] == 0xed && sbox[0xff] == 0x16;
}

static void init(void)
{
	detect_layout();
	if (rd_layout != RD_BROKEN)
		derive_sbox();
}

static int prepare(size_t key_len)
{
	pthread_once(&init_once, init);
	if (!aes_schedule_len(key_len))
		return -EINVAL;
	return rd_layout == RD_BROKEN ? -EIO : 0;
}

/* Expands key with OpenSSL into out (FIPS-197 byte order); the layout must be known. */
static int expand(const uint8_t *key, size_t key_len, bool decrypt, uint8_t *out)
{
	AES_KEY k;
	int r;

	if (decrypt)
		r = AES_set_decrypt_key(key, (int)(key_len * 8), &k);
	else
		r = AES_set_encrypt_key(key, (int)(key_len * 8), &k);
	if (r != 0)
		return -EIO;
	rd_key_out(&k, out, aes_schedule_len(key_len));
	OPENSSL_cleanse(&k, sizeof(k));
	return 0;
}

int aes_schedule_encrypt(const uint8_t *key, size_t key_len, uint8_t *out)
{
	int r = prepare(key_len);

	return r < 0 ? r : expand(key, key_len, false, out);
}

int aes_schedule_decrypt(const uint8_t *key, size_t key_len, uint8_t *out)
{
	int r = prepare(key_len);

	return r < 0 ? r : expand(key, key_len, true, out);
}

const uint8_t *aes_sbox(void)
{
	pthread_once(&init_once, init);
	return sbox_ok ? sbox : NULL;
}

static uint8_t xtime(uint8_t x)
{
	return (uint8_t)((x << 1) ^ ((x & 0x80) ? 0x1b : 0));
}

/*
 * FIPS-197 5.1.3: b = {02}a0 + {03}a1 + a2 + a3 and rotations. The scanner
 * needs it only to turn a decryption schedule found in a dump back into the
 * encryption schedule whose key expansion it can check.
 */
void aes_mix_column(uint8_t col[4])
{
	uint8_t a0 = col[0], a1 = col[1], a2 = col[2], a3 = col[3];
	uint8_t all = a0 ^ a1 ^ a2 ^ a3;

	col[0] = (uint8_t)(a0 ^ all ^ xtime(a0 ^ a1));
	col[1] = (uint8_t)(a1 ^ all ^ xtime(a1 ^ a2));
	col[2] = (uint8_t)(a2 ^ all ^ xtime(a2 ^ a3));
	col[3] = (uint8_t)(a3 ^ all ^ xtime(a3 ^ a0));
}
