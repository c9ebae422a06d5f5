/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* LUKS2 binary headers: two copies, checksums, seqid, the write protocol. */
#ifndef VMC_FORMAT_LUKS2_HDR_H
#define VMC_FORMAT_LUKS2_HDR_H

#include "format/meta.h"
#include "io/storage.h"

/* Reads len bytes at off of some header source (storage or memory). */
typedef int luks2_read_fn(void *ctx, void *buf, size_t len, uint64_t off);

/*
 * Loads LUKS2 metadata: reads both copies, verifies magic, version, sizes and
 * checksums, uses the valid copy with the highest seqid (warning when a copy is
 * damaged or outdated), parses and validates the JSON into m (m->json owns the
 * tree). VMC_ENOTLUKS when neither copy has LUKS2 magic, VMC_ECORRUPT when no
 * copy is valid. *ret_damaged (may be NULL) is set when one copy needs repair.
 */
int luks2_hdr_load(luks2_read_fn *read, void *ctx, struct luks_meta *m, bool *ret_damaged);

/* The same over a memory buffer (fuzzers, tests). */
int luks2_hdr_parse_buf(const uint8_t *buf, size_t len, struct luks_meta *m);

/*
 * Serialises one metadata copy (binary header + JSON area, m->hdr_size bytes)
 * into area, with m->seqid and a fresh checksum. secondary selects the copy.
 */
int luks2_hdr_build(const struct luks_meta *m, bool secondary, uint8_t *area);

/*
 * Writes the metadata (both copies) with seqid + 1. Protocol: the secondary
 * copy is written and synced first, then the primary copy, then synced. At any
 * instant one valid copy holds either the complete old or the complete new
 * metadata: a torn copy fails its checksum and the other copy wins by seqid.
 * Refuses (VMC_ENOTSUP) when the header has a mandatory requirement this
 * engine does not understand.
 */
int luks2_hdr_store(struct storage *st, struct luks_meta *m);

#endif
