/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Cipher names read from a header: is this one the engine knows? */
#include "format/cipher_name.h"
#include "crypto/backend.h"
#include "base/util.h"

bool cipher_name_known(const char *spec)
{
	static const size_t sizes[] = {16, 24, 32, 64};

	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++)
		if (sector_cipher_supported(spec, sizes[i]))
			return true;
	return false;
}
