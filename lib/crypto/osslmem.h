/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* OpenSSL's heap moved into locked, non-dumpable, wiped-on-free memory. */
#ifndef VMC_CRYPTO_OSSLMEM_H
#define VMC_CRYPTO_OSSLMEM_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Every allocation OpenSSL makes (cipher contexts with their expanded AES key
 * schedules, HMAC states inside PBKDF2, provider data) is served from an arena
 * of anonymous mappings that are mlock()ed (best effort, recorded),
 * MADV_DONTDUMP, and wiped with explicit_bzero() when OpenSSL frees a block.
 *
 * Installed by a constructor when the library is loaded, before anything can
 * call into OpenSSL; osslmem_install() may be called again at any time and
 * says whether the arena is in use. OpenSSL accepts the switch only before its
 * first allocation: when some other code of the process used OpenSSL first,
 * the install fails with -EBUSY and OpenSSL keeps using malloc().
 */
int osslmem_install(void);

/* True when OpenSSL allocates from the arena. */
bool osslmem_active(void);

struct osslmem_stats {
	size_t in_use;	    /* bytes OpenSSL holds now (requested sizes) */
	size_t mapped;	    /* bytes of arena mappings */
	size_t allocations; /* allocations served so far */
	bool all_locked;    /* every arena mapping could be mlock()ed */
};

/* A snapshot of the arena's counters (for tests and diagnostics). */
void osslmem_get_stats(struct osslmem_stats *ret_stats);

/*
 * Direct use of the arena, whether or not OpenSSL accepted it: libgcrypt's
 * allocation handlers (gcry.c). malloc/realloc/free semantics, except that a
 * zero-byte request returns a valid block; freed blocks are wiped.
 */
void *osslmem_malloc(size_t len);
void *osslmem_realloc(void *p, size_t len);
void osslmem_free(void *p);

#endif
