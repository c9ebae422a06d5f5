/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Cipher names read from a header: is this one the engine knows? */
#ifndef VMC_FORMAT_CIPHER_NAME_H
#define VMC_FORMAT_CIPHER_NAME_H

#include <stdbool.h>

/*
 * True when spec ("aes-xts-plain64", ...) is a data cipher the engine knows,
 * whatever the key size. The LUKS1 and LUKS2 parsers use it to tell a damaged
 * header (a known cipher with a key size it cannot take) from a cipher this
 * build does not know, which they accept.
 */
bool cipher_name_known(const char *spec);

#endif
