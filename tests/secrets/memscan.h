/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Searching this process's own memory for secrets, for the secret-hygiene tests. */
#ifndef VMC_TESTS_MEMSCAN_H
#define VMC_TESTS_MEMSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A secret to look for, kept only masked (secret XOR mask) so that the
 * search itself leaves no copy of it: the scan compares memory XOR mask with
 * the masked bytes.
 */
struct memscan_pattern {
	char name[64];
	size_t len;
	uint8_t *masked;
	uint8_t *mask;
	unsigned hits;	  /* set by memscan_run() */
	unsigned hits_ok; /* hits inside locked, MADV_DONTDUMP mappings */
};

struct memscan {
	struct memscan_pattern *p;
	size_t n, cap;
};

/* Adds secret (len bytes) under name; the caller wipes its own copy afterwards. */
void memscan_add(struct memscan *s, const char *name, const uint8_t *secret, size_t len);

/*
 * Adds a key the way it sits in memory: the raw bytes, each half (XTS keys are
 * two AES keys), and the AES encryption and decryption schedules of each AES
 * key it makes, in FIPS-197 byte order and with byte-reversed words.
 */
void memscan_add_key(struct memscan *s, const char *name, const uint8_t *key, size_t len);

/*
 * Scans every readable mapping of this process (except the kernel's vvar,
 * vsyscall and vdso pages). Each hit is printed with its mapping and VmFlags
 * when verbose. Returns the number of hits outside mappings that are both
 * locked ("lo") and excluded from dumps ("dd"); per-pattern counts are left
 * in the patterns.
 */
unsigned memscan_run(struct memscan *s, bool verbose);

void memscan_free(struct memscan *s);

#endif
