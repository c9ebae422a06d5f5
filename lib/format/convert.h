/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* LUKS1 <-> LUKS2 conversion. */
#ifndef VMC_FORMAT_CONVERT_H
#define VMC_FORMAT_CONVERT_H

#include "format/meta.h"
#include "io/storage.h"

/*
 * Converts the header in hdr to LUKS version (1 or 2), relocating the active
 * keyslots' material (packed after the LUKS2 metadata, or to cryptsetup's LUKS1
 * slot positions) and wiping the rest of the old header region. The old region
 * is first saved to the journal file; it is removed once the new header is
 * committed. label (may be NULL) is the new LUKS2 header's label. Keyslots of
 * a key that no segment uses are dropped on the way to LUKS1. On success m
 * describes the new header.
 */
int luks_convert(struct storage *hdr, struct luks_meta *m, int version, const char *label,
		 const char *journal);

/* If journal exists (an interrupted conversion), restores the header from it and removes it. */
int luks_convert_recover(struct storage *hdr, const char *journal);

#endif
