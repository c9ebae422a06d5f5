/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Cipher names read from a header: a damaged key size, or a cipher we merely lack? */
#ifndef VMC_FORMAT_CIPHER_NAME_H
#define VMC_FORMAT_CIPHER_NAME_H

#include <stdbool.h>
#include <stddef.h>

/*
 * True when spec ("aes-xts-plain64", ...) is a data cipher the engine knows
 * and key_len bytes is a key size no implementation of it takes (a 40-byte
 * aes-xts key): the LUKS1 and LUKS2 parsers call such a header damaged. An
 * unknown cipher, or a key size only other implementations take (Twofish-192),
 * is not damage: those headers parse, and using the cipher fails with
 * VMC_ENOTSUP naming it.
 */
bool cipher_key_size_invalid(const char *spec, size_t key_len);

#endif
