/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Human and JSON descriptions of a header (vmcrypt dump). */
#ifndef VMC_FORMAT_DESCRIBE_H
#define VMC_FORMAT_DESCRIBE_H

#include "format/meta.h"

/* A malloc()ed text like `cryptsetup luksDump`, or JSON. data_size: plaintext bytes. */
int luks_describe(const struct luks_meta *m, uint64_t data_size, bool json, char **ret_text);

#endif
