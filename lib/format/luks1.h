/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* LUKS1: the 592-byte binary header. */
#ifndef VMC_FORMAT_LUKS1_H
#define VMC_FORMAT_LUKS1_H

#include "format/meta.h"

#define LUKS1_HDR_LEN	   592
#define LUKS1_NUM_KEYSLOTS 8
#define LUKS1_DIGEST_LEN   20
#define LUKS1_SALT_LEN	   32
#define LUKS1_KEY_ENABLED  0x00AC71F3u
#define LUKS1_KEY_DISABLED 0x0000DEADu
#define LUKS1_STRIPES	   4000

/*
 * Parses a LUKS1 header from buf (at least LUKS1_HDR_LEN bytes) into m.
 * Checks magic, version, strings, key size, offsets (keyslot areas inside the
 * header space, not overlapping each other or the payload; data_size is the
 * size of the header device, 0 if unknown), stripes and iteration counts.
 * VMC_ENOTLUKS when the magic is absent, VMC_ECORRUPT with a message otherwise.
 */
int luks1_parse(const uint8_t *buf, size_t len, uint64_t dev_size, struct luks_meta *m);

/* Serialises m (a LUKS1 model) into buf[LUKS1_HDR_LEN]. */
int luks1_serialize(const struct luks_meta *m, uint8_t *buf);

/*
 * cryptsetup's LUKS1 layout for key_size bytes: keyslot i starts at sector
 * 8 + i * slot_sectors (4 KiB aligned), the payload at align_sectors (default
 * 4096 = 2 MiB) or later. Returns the first payload sector.
 */
uint32_t luks1_layout(size_t key_size, uint32_t stripes, uint32_t *ret_slot_sectors);

#endif
