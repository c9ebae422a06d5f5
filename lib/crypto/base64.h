/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Base64 for LUKS2 JSON salts and digests (OpenSSL's encoder behind the crypto door). */
#ifndef VMC_CRYPTO_BASE64_H
#define VMC_CRYPTO_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Encodes len bytes into out (at least 4 * ceil(len / 3) + 1 bytes), NUL-terminated. */
void base64_encode(const uint8_t *in, size_t len, char *out);
/*
 * Decodes a base64 string (no whitespace) into out (cap bytes). Returns the
 * decoded length or -EINVAL for malformed input or when it does not fit.
 */
int base64_decode(const char *in, uint8_t *out, size_t cap);

#endif
