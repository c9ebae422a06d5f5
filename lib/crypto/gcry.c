/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libgcrypt, set up once: its heap in the locked arena, no secure-memory pool of its own. */
#include <errno.h>
#include <pthread.h>

#include "crypto/crypto_internal.h"
#include "crypto/osslmem.h"
#include "base/log.h"

/* GCRY_CIPHER_MODE_XTS for every 128-bit block cipher, AES-192 included, came with 1.9. */
#define GCRY_MIN_VERSION "1.9.0"

static pthread_once_t gcry_once = PTHREAD_ONCE_INIT;
static int gcry_state = -EIO;
static bool gcry_ours; /* we initialised it: its allocations go to the arena */

static int arena_is_secure(const void *p)
{
	(void)p;
	return 1;
}

static void gcry_setup(void)
{
	/*
	 * Why: a libgcrypt cipher handle holds the expanded key (Serpent's 132
	 * words, Twofish's S-boxes) and its MD handles the HMAC pads of PBKDF2.
	 * libgcrypt's default heap is malloc() and its own secure pool warns and
	 * runs unlocked when mlock() fails; the arena that already holds
	 * OpenSSL's contexts is locked (best effort, recorded), MADV_DONTDUMP and
	 * wiped on free, so every allocation, secure or not, goes there.
	 *
	 * A process that initialised libgcrypt itself keeps its settings; our
	 * handles then ask for its secure memory (crypto_gcry_flags()).
	 */
	if (gcry_control(GCRYCTL_ANY_INITIALIZATION_P)) {
		if (!gcry_check_version(GCRY_MIN_VERSION)) {
			gcry_state = -ENOTSUP;
			return;
		}
		gcry_state = 0;
		return;
	}
	gcry_set_allocation_handler(osslmem_malloc, osslmem_malloc, arena_is_secure,
				    osslmem_realloc, osslmem_free);
	if (!gcry_check_version(GCRY_MIN_VERSION)) {
		gcry_state = -ENOTSUP;
		return;
	}
	/* No pool of its own: nothing it allocates is outside the arena. */
	gcry_control(GCRYCTL_DISABLE_SECMEM, 0);
	gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
	gcry_ours = true;
	gcry_state = 0;
}

int crypto_gcry_init(void)
{
	(void)pthread_once(&gcry_once, gcry_setup);
	if (gcry_state == -ENOTSUP)
		log_err("libgcrypt %s is older than %s, which the non-AES ciphers need",
			gcry_check_version(NULL), GCRY_MIN_VERSION);
	return gcry_state;
}

unsigned crypto_gcry_cipher_flags(void)
{
	return gcry_ours ? 0 : GCRY_CIPHER_SECURE;
}

unsigned crypto_gcry_md_flags(void)
{
	return gcry_ours ? 0 : GCRY_MD_FLAG_SECURE;
}
