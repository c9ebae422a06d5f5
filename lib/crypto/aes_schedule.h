/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* AES key schedules as they sit in memory, built by OpenSSL: what the key scanner looks for. */
#ifndef VMC_CRYPTO_AES_SCHEDULE_H
#define VMC_CRYPTO_AES_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

/* Bytes of the longest schedule: AES-256, 15 round keys of 16 bytes. */
#define AES_SCHEDULE_MAX 240

/*
 * Schedules here are in FIPS-197 byte order: round key r is the 16 bytes XORed
 * onto the state in round r, word i of the schedule is bytes 4i..4i+3. This is
 * how AES-NI code (the Linux kernel's dm-crypt, OpenSSL's EVP contexts, QEMU's
 * crypto back ends) keeps them. OpenSSL's portable C code instead stores each
 * word as a host-order integer, which on a little-endian machine reverses the
 * bytes of every word: aes_schedule_swap_words() converts between the two.
 */

/* Length of the schedule of a key_len-byte AES key (176, 208 or 240), 0 for other lengths. */
size_t aes_schedule_len(size_t key_len);

/*
 * Writes the encryption schedule of key (16, 24 or 32 bytes) to out
 * (aes_schedule_len(key_len) bytes). 0, -EINVAL (key length), -EIO (OpenSSL).
 */
int aes_schedule_encrypt(const uint8_t *key, size_t key_len, uint8_t *out);

/*
 * Writes the decryption schedule of the equivalent inverse cipher, as OpenSSL,
 * the kernel and AES-NI keep it: the encryption round keys in reverse order,
 * InvMixColumns applied to all but the first and the last. 0, -EINVAL, -EIO.
 */
int aes_schedule_decrypt(const uint8_t *key, size_t key_len, uint8_t *out);

/* Reverses the bytes of each 4-byte word of in into out (len a multiple of 4; may alias). */
void aes_schedule_swap_words(const uint8_t *in, uint8_t *out, size_t len);

/*
 * The AES S-box (256 bytes), read out of OpenSSL's key expansion on first use.
 * NULL when OpenSSL's output is not what FIPS-197 says (never expected).
 */
const uint8_t *aes_sbox(void);

/*
 * MixColumns of one 4-byte column (FIPS-197 byte order), in place: turns a
 * round key of a decryption schedule (which carries InvMixColumns) back into
 * the encryption round key.
 */
void aes_mix_column(uint8_t col[4]);

#endif
