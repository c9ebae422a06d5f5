/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Header backup and restore: the metadata and keyslot areas as one file, like cryptsetup's. */
#ifndef VMC_FORMAT_BACKUP_H
#define VMC_FORMAT_BACKUP_H

#include "format/meta.h"
#include "io/storage.h"

/* Bytes of the header region: LUKS2 both copies + keyslots area; LUKS1 up to the payload. */
uint64_t luks_header_region(const struct luks_meta *m);

/* Copies the header region of from (m: its header) to the same offsets of to. */
int luks_header_copy(struct storage *from, const struct luks_meta *m, struct storage *to);

/* Writes the header region of hdr to a new file (mode 0600, must not exist). */
int luks_header_backup(struct storage *hdr, const struct luks_meta *m, const char *file);

/*
 * Restores a backup file onto hdr. The backup must parse as a valid LUKS
 * header; when cur (the current header, NULL if unreadable) has another UUID or
 * data offset the restore is refused unless force. Order: keyslot areas, then
 * the secondary copy, then the primary, each synced; an interrupted restore can
 * simply be run again from the same file.
 */
int luks_header_restore(struct storage *hdr, const struct luks_meta *cur, const char *file,
			bool force);

#endif
