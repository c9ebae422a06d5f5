/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The OpenSSL arena (lib/crypto/osslmem.c): installed before OpenSSL's first
 * allocation; an EVP cipher context and the AES key schedule inside it live in
 * locked, MADV_DONTDUMP memory and are gone after EVP_CIPHER_CTX_free(); freed
 * blocks are wiped; malloc/realloc/free semantics hold under several threads.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "crypto/backend.h"
#include "crypto/osslmem.h"
#include "tests/check.h"
#include "tests/secrets/memscan.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

#define THREADS 4
#define ROUNDS	20000
#define SLOTS	64

/* Random sizes across every class and the large path; contents checked after realloc. */
static void *stress(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	uint8_t *blocks[SLOTS] = {0};
	size_t sizes[SLOTS] = {0};

	for (int i = 0; i < ROUNDS; i++) {
		int k = rand_r(&seed) % SLOTS;
		size_t n = (size_t)rand_r(&seed) % ((rand_r(&seed) % 8) ? 512 : 70000) + 1;
		uint8_t tag = (uint8_t)(k + 1);

		for (size_t j = 0; j < sizes[k]; j++)
			if (blocks[k][j] != tag)
				abort();
		switch (rand_r(&seed) % 3) {
		case 0:
			OPENSSL_free(blocks[k]);
			blocks[k] = OPENSSL_malloc(n);
			sizes[k] = 0;
			break;
		case 1: {
			uint8_t *p = OPENSSL_realloc(blocks[k], n);
			if (!p)
				abort();
			blocks[k] = p;
			if (sizes[k] > n)
				sizes[k] = n;
			break;
		}
		default:
			OPENSSL_free(blocks[k]);
			blocks[k] = NULL;
			sizes[k] = 0;
			continue;
		}
		if (!blocks[k])
			abort();
		/* Only the new part is filled: the kept prefix must have survived. */
		memset(blocks[k] + sizes[k], tag, n - sizes[k]);
		sizes[k] = n;
		if (((uintptr_t)blocks[k] & 15) != 0)
			abort();
	}
	for (int k = 0; k < SLOTS; k++)
		OPENSSL_free(blocks[k]);
	return NULL;
}

/*
 * Searching all of memory reads the sanitizer's shadow and memory valgrind
 * considers unallocated: under a memory checker only the allocator's own
 * behaviour is tested (the scans run in the ordinary build).
 */
static bool under_memory_checker(void)
{
	const char *preload = getenv("LD_PRELOAD");

#ifdef UNDER_ASAN
	return true;
#endif
	return preload && strstr(preload, "vgpreload");
}

int main(void)
{
	static const uint8_t key[64] = {
	    0x27, 0x18, 0x28, 0x18, 0x28, 0x45, 0x90, 0x45, 0x23, 0x53, 0x60, 0x28, 0x74,
	    0x71, 0x35, 0x26, 0x62, 0x49, 0x77, 0x57, 0x24, 0x70, 0x93, 0x69, 0x99, 0x95,
	    0x95, 0x74, 0x96, 0x69, 0x67, 0x62, 0x31, 0x41, 0x59, 0x26, 0x53, 0x58, 0x97,
	    0x93, 0x23, 0x84, 0x62, 0x64, 0x33, 0x83, 0x27, 0x95, 0x02, 0x88, 0x41, 0x97,
	    0x16, 0x93, 0x99, 0x37, 0x51, 0x05, 0x82, 0x09, 0x74, 0x94, 0x45, 0x92};
	struct osslmem_stats before, after;
	struct memscan s = {0};
	pthread_t th[THREADS];
	EVP_CIPHER_CTX *ctx;
	EVP_CIPHER *cipher;
	uint8_t *p;
	unsigned bad;

	CHECK_OK(osslmem_install());
	CHECK(osslmem_active());
	CHECK_OK(osslmem_install()); /* idempotent */

	/*
	 * The key sits in this binary's read-only data, so only the schedules are
	 * searched: they exist only where OpenSSL expands them.
	 */
	memscan_add_key(&s, "key", key, sizeof(key));
	for (size_t i = 0; i < s.n; i++)
		if (!strstr(s.p[i].name, "schedule"))
			s.p[i].len = 0; /* disabled: matches everywhere it is a literal */

	cipher = EVP_CIPHER_fetch(NULL, "AES-256-XTS", NULL);
	CHECK(cipher != NULL);
	ctx = EVP_CIPHER_CTX_new();
	CHECK(ctx != NULL);
	CHECK(EVP_CipherInit_ex2(ctx, cipher, key, NULL, 0, NULL) == 1);
	if (under_memory_checker()) {
		printf("under a memory checker: memory scans left to the ordinary build\n");
	} else {
		unsigned found = 0;
		bad = memscan_run(&s, true);
		for (size_t i = 0; i < s.n; i++)
			found += s.p[i].len ? s.p[i].hits_ok : 0;
		printf("schedules found in locked, non-dumpable memory: %u\n", found);
		CHECK(found >= 2); /* the data key's decryption and the tweak key's encryption */
		CHECK_EQ(bad, 0);
	}
	EVP_CIPHER_CTX_free(ctx);
	EVP_CIPHER_free(cipher);
	if (!under_memory_checker()) {
		bad = memscan_run(&s, true);
		for (size_t i = 0; i < s.n; i++)
			CHECK_EQ(s.p[i].len ? s.p[i].hits : 0, 0);
		CHECK_EQ(bad, 0);
	}

	/* A freed small block is wiped (all but the free-list link in its first 8 bytes). */
	p = OPENSSL_malloc(200);
	CHECK(p != NULL);
	memset(p, 0xa5, 200);
	OPENSSL_free(p);
	for (size_t i = 8; i < 200; i++)
		CHECK_EQ(p[i], 0); /* still mapped: slabs are never returned */
	/* Shrinking in place wipes the tail at once. */
	p = OPENSSL_malloc(300);
	CHECK(p != NULL);
	memset(p, 0x5a, 300);
	CHECK(OPENSSL_realloc(p, 100) == p);
	for (size_t i = 100; i < 300; i++)
		CHECK_EQ(p[i], 0);
	OPENSSL_free(p);
	CHECK(OPENSSL_malloc(0) == NULL);
	OPENSSL_free(NULL);

	/*
	 * libgcrypt allocates from the same arena: a Serpent-XTS context (its two
	 * expanded keys, about 1 KiB) is there while it lives and gone after.
	 */
	{
		struct sector_cipher *c = NULL;
		struct osslmem_stats mid;

		CHECK_EQ(crypto_hash_len("whirlpool"), 64); /* libgcrypt initialised */
		osslmem_get_stats(&before);
		CHECK_OK(sector_cipher_new("serpent-xts-plain64", key, 64, 512, &c));
		osslmem_get_stats(&mid);
		printf("libgcrypt Serpent-XTS context: %zu bytes in the arena\n",
		       mid.in_use - before.in_use);
		CHECK(mid.in_use >= before.in_use + 2 * 132 * 4);
		sector_cipher_free(c);
		osslmem_get_stats(&after);
		CHECK_EQ(after.in_use, before.in_use);
	}

	osslmem_get_stats(&before);
	for (int i = 0; i < THREADS; i++)
		CHECK_OK(pthread_create(&th[i], NULL, stress, (void *)(uintptr_t)(i + 1)));
	for (int i = 0; i < THREADS; i++)
		CHECK_OK(pthread_join(th[i], NULL));
	osslmem_get_stats(&after);
	printf("arena: %zu allocations, %zu bytes mapped, in use %zu -> %zu, %s\n",
	       after.allocations, after.mapped, before.in_use, after.in_use,
	       after.all_locked ? "all locked" : "NOT all locked (RLIMIT_MEMLOCK)");
	CHECK_EQ(after.in_use, before.in_use);
	CHECK(after.allocations >= before.allocations + THREADS * ROUNDS / 3);
	memscan_free(&s);
	return 0;
}
