/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* New LUKS1/LUKS2 headers. */
#ifndef VMC_FORMAT_CREATE_H
#define VMC_FORMAT_CREATE_H

#include "format/meta.h"
#include "io/storage.h"
#include "vmcrypt.h"

/*
 * Formats a new image: resolves defaults (see struct vmc_format_params),
 * validates them, sizes the files (sparse), generates (or takes) the volume
 * key, writes the first keyslot and then the header. hdr and data are the same
 * storage unless the header is detached. On success m describes the new header
 * and *ret_vk (secmem) holds the volume key.
 */
int luks_format(struct storage *hdr, struct storage *data, const struct vmc_format_params *p,
		const void *pass, size_t pass_len, struct luks_meta *m, uint8_t **ret_vk);

#endif
