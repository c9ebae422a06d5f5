/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Sharing inside the crypto module only: OpenSSL digests looked up by LUKS hash name. */
#ifndef VMC_CRYPTO_INTERNAL_H
#define VMC_CRYPTO_INTERNAL_H

#include <openssl/evp.h>

/*
 * Fetches the OpenSSL digest for a LUKS hash name ("sha256", "ripemd160", ...).
 * Returns a new reference the caller releases with EVP_MD_free(), or NULL when
 * the name is unknown or the loaded providers do not implement it.
 */
EVP_MD *crypto_md_fetch(const char *hash);

#endif
