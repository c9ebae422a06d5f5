/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared helpers of the libFuzzer harnesses (also built as plain corpus runners). */
#ifndef VMC_TESTS_FUZZ_H
#define VMC_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* The entry point every harness defines; libFuzzer or run.c calls it. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * An in-memory file (memfd) holding data, reachable by path for the library's
 * storage module. Returns the path ("/proc/self/fd/N") of a file reused across
 * calls for the same slot (0 or 1), or NULL. The file's previous contents are
 * replaced.
 */
const char *fuzz_memfile(int slot, const uint8_t *data, size_t size);
/* As fuzz_memfile(), the file then extended with zeros to file_size when that is larger. */
const char *fuzz_memfile_sized(int slot, const uint8_t *data, size_t size, size_t file_size);

/*
 * Rewrites the checksum of the LUKS2 header copy at off of buf (when a copy
 * with a sane size and a known checksum algorithm is there), so that mutations
 * reach the JSON parser and the validators instead of dying at the checksum.
 */
void fuzz_fix_luks2_checksum(uint8_t *buf, size_t len, size_t off);

#endif
