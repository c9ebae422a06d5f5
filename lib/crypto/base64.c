/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Base64 through OpenSSL's EVP block encoder, with strict length and padding checks. */
#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

#include "crypto/base64.h"

void base64_encode(const uint8_t *in, size_t len, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

int base64_decode(const char *in, uint8_t *out, size_t cap)
{
	uint8_t tmp[256];
	size_t len = strlen(in);
	int n, pad = 0;

	if (len == 0)
		return 0;
	if (len % 4 || len / 4 * 3 > sizeof(tmp))
		return -EINVAL;
	if (in[len - 1] == '=')
		pad++;
	if (in[len - 2] == '=')
		pad++;
	n = EVP_DecodeBlock(tmp, (const unsigned char *)in, (int)len);
	if (n < 0 || n < pad || (size_t)(n - pad) > cap)
		return -EINVAL;
	n -= pad;
	memcpy(out, tmp, (size_t)n);
	return n;
}
