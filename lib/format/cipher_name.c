/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Cipher names read from a header: a damaged key size, or a cipher we merely lack? */
#include <errno.h>

#include "format/cipher_name.h"
#include "crypto/backend.h"

bool cipher_key_size_invalid(const char *spec, size_t key_len)
{
	return sector_cipher_check(spec, key_len) == -EINVAL;
}
