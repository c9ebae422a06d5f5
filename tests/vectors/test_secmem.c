/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Secret memory, constant-time comparison and the RNG: allocation, length, zeroing, hardening. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "check.h"
#include "crypto/backend.h"

static bool all_zero(const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (p[i] != 0)
			return false;
	}
	return true;
}

static void check_alloc(void)
{
	static const size_t sizes[] = {0, 1, 31, 64, 4096 - 64, 4096, 4097, 100000, 1 << 20};
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *p = secmem_alloc(sizes[i]);

		CHECK(p != NULL);
		CHECK_EQ(secmem_len(p), sizes[i]);
		CHECK_EQ((uintptr_t)p % 16, 0);
		CHECK(all_zero(p, sizes[i]));
		/* The whole requested length is writable. */
		memset(p, 0xa5, sizes[i]);
		secmem_free(p);
	}
	secmem_free(NULL);
	CHECK_EQ(secmem_len(NULL), 0);

	/* Absurd sizes fail cleanly with ENOMEM. */
	errno = 0;
	CHECK(secmem_alloc(SIZE_MAX) == NULL);
	CHECK_EQ(errno, ENOMEM);
	errno = 0;
	CHECK(secmem_alloc(SIZE_MAX - 4096) == NULL);
	CHECK_EQ(errno, ENOMEM);

	/* Freeing leaves errno alone, so it can sit on error paths. */
	errno = EBADF;
	secmem_free(secmem_alloc(8));
	CHECK_EQ(errno, EBADF);
}

static void check_dup(void)
{
	uint8_t src[300];
	uint8_t *p;
	size_t i;

	for (i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 7 + 1);
	p = secmem_dup(src, sizeof(src));
	CHECK(p != NULL);
	CHECK_EQ(secmem_len(p), sizeof(src));
	CHECK_MEM(p, src, sizeof(src));
	secmem_free(p);

	p = secmem_dup(NULL, 0);
	CHECK(p != NULL);
	CHECK_EQ(secmem_len(p), 0);
	secmem_free(p);
}

static void *churn(void *arg)
{
	uintptr_t seed = (uintptr_t)arg;
	int i;

	for (i = 0; i < 500; i++) {
		size_t len = (seed * 131 + (size_t)i * 977) % 9000;
		uint8_t *p = secmem_alloc(len);

		if (p == NULL || secmem_len(p) != len || !all_zero(p, len))
			return (void *)1;
		memset(p, (int)seed, len);
		secmem_free(p);
	}
	return NULL;
}

static void check_threads(void)
{
	pthread_t th[4];
	uintptr_t i;

	for (i = 0; i < 4; i++)
		CHECK_OK(pthread_create(&th[i], NULL, churn, (void *)(i + 1)));
	for (i = 0; i < 4; i++) {
		void *ret = (void *)1;

		CHECK_OK(pthread_join(th[i], &ret));
		CHECK(ret == NULL);
	}
}

static void check_memeq_random(void)
{
	uint8_t a[64], b[64], zero[64] = {0};

	memset(a, 1, sizeof(a));
	memset(b, 1, sizeof(b));
	CHECK(crypto_memeq(a, b, sizeof(a)));
	b[63] ^= 0x80;
	CHECK(!crypto_memeq(a, b, sizeof(a)));
	CHECK(crypto_memeq(a, b, 63));
	CHECK(crypto_memeq(a, b, 0));

	CHECK_OK(crypto_random(a, sizeof(a)));
	CHECK_OK(crypto_random(b, sizeof(b)));
	CHECK(!crypto_memeq(a, b, sizeof(a)));
	CHECK(!crypto_memeq(a, zero, sizeof(a)));
	CHECK_OK(crypto_random(a, 0));
}

/* Runs last: it changes process state and may mark locking as failed. */
static void check_hardening(void)
{
	struct rlimit rl;
	uint8_t *p;

	CHECK_OK(secmem_harden_process());
	CHECK_EQ(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
	CHECK_OK(getrlimit(RLIMIT_CORE, &rl));
	CHECK(rl.rlim_cur == 0 && rl.rlim_max == 0);

	printf("secmem: all blocks locked so far: %s\n", secmem_all_locked() ? "yes" : "no");
	/*
	 * Without CAP_IPC_LOCK a zero RLIMIT_MEMLOCK makes mlock() fail: the block
	 * must still be handed out, and the failure must be reported.
	 */
	rl.rlim_cur = 0;
	rl.rlim_max = 0;
	if (geteuid() != 0 && setrlimit(RLIMIT_MEMLOCK, &rl) == 0) {
		p = secmem_alloc(100);
		CHECK(p != NULL);
		CHECK(all_zero(p, 100));
		secmem_free(p);
		CHECK(!secmem_all_locked());
	}
}

int main(void)
{
	check_alloc();
	check_dup();
	check_threads();
	check_memeq_random();
	check_hardening();
	printf("secmem: ok\n");
	return 0;
}
