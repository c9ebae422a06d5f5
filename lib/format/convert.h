/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* LUKS1 <-> LUKS2 conversion. */
#ifndef VMC_FORMAT_CONVERT_H
#define VMC_FORMAT_CONVERT_H

#include "format/meta.h"
#include "io/storage.h"

#include <stdbool.h>

/*
 * Converts the header in hdr to LUKS version (1 or 2), relocating the active
 * keyslots' material (packed after the LUKS2 metadata, or to cryptsetup's LUKS1
 * slot positions) and wiping the rest of the old header region. The old region
 * is first saved to a journal next to the header (HEADER.vmcrypt-convert); it
 * is removed once the new header is committed. label (may be NULL) is the new
 * LUKS2 header's label. Keyslots of a key that no segment uses are dropped on
 * the way to LUKS1. On success m describes the new header. VMC_ENOTSUP when
 * hdr is not a regular file (no place for the journal).
 */
int luks_convert(struct storage *hdr, struct luks_meta *m, int version, const char *label);

/*
 * Run at every open: if a conversion's journal is next to hdr (an interrupted
 * conversion), restores the header from it and removes it. A journal that
 * cannot be used while the header itself loads is stale and removed. Read-only,
 * a journal is VMC_EBUSY with a message saying how to roll it back.
 */
int luks_convert_recover(struct storage *hdr, bool read_only);

#endif
