/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Argon2 known answers (RFC 9106 section 5, reference test.c), parameter caps and benchmark. */
#include <errno.h>
#include <stdint.h>
#include <time.h>

#include <argon2.h>

#include "check.h"
#include "crypto/backend.h"

/*
 * RFC 9106 section 5: version 0x13, 32 KiB, 3 passes, 4 lanes, password 32 x
 * 0x01, salt 16 x 0x02, secret 8 x 0x03, associated data 12 x 0x04. kdf_derive()
 * takes no secret or associated data, so these check the libargon2 build
 * itself through argon2_ctx().
 */
static const struct {
	argon2_type type;
	const char *name;
	const char *tag;
} rfc9106[] = {
    {Argon2_d, "argon2d", "512b391b6f1162975371d30919734294f868e3be3984f3c1a13a4db9fabe4acb"},
    {Argon2_i, "argon2i", "c814d9d1dc7f37aa13f0d77f2494bda1c8de6b016dd388d29952a4c4672b6ce8"},
    {Argon2_id, "argon2id", "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659"},
};

/*
 * The reference implementation's test vectors (phc-winner-argon2 src/test.c,
 * version 0x13, 32-byte output, memory 2^m_log KiB): plain password and salt,
 * which is what LUKS2 keyslots use, so these go through kdf_derive().
 */
static const struct {
	enum kdf_type type;
	uint32_t t;
	uint32_t m_log;
	uint32_t p;
	const char *pass;
	const char *salt;
	const char *out;
} reference[] = {
    {KDF_ARGON2I, 2, 16, 1, "password", "somesalt",
     "c1628832147d9720c5bd1cfd61367078729f6dfb6f8fea9ff98158e0d7816ed0"},
    {KDF_ARGON2I, 2, 8, 1, "password", "somesalt",
     "89e9029f4637b295beb027056a7336c414fadd43f6b208645281cb214a56452f"},
    {KDF_ARGON2I, 2, 8, 2, "password", "somesalt",
     "4ff5ce2769a1d7f4c8a491df09d41a9fbe90e5eb02155a13e4c01e20cd4eab61"},
    {KDF_ARGON2I, 1, 16, 1, "password", "somesalt",
     "d168075c4d985e13ebeae560cf8b94c3b5d8a16c51916b6f4ac2da3ac11bbecf"},
    {KDF_ARGON2I, 4, 16, 1, "password", "somesalt",
     "aaa953d58af3706ce3df1aefd4a64a84e31d7f54175231f1285259f88174ce5b"},
    {KDF_ARGON2I, 2, 16, 1, "differentpassword", "somesalt",
     "14ae8da01afea8700c2358dcef7c5358d9021282bd88663a4562f59fb74d22ee"},
    {KDF_ARGON2I, 2, 16, 1, "password", "diffsalt",
     "b0357cccfbef91f3860b0dba447b2348cbefecadaf990abfe9cc40726c521271"},
    {KDF_ARGON2ID, 2, 16, 1, "password", "somesalt",
     "09316115d5cf24ed5a15a31a3ba326e5cf32edc24702987c02b6566f61913cf7"},
    {KDF_ARGON2ID, 2, 8, 1, "password", "somesalt",
     "9dfeb910e80bad0311fee20f9c0e2b12c17987b4cac90c2ef54d5b3021c68bfe"},
    {KDF_ARGON2ID, 2, 8, 2, "password", "somesalt",
     "6d093c501fd5999645e0ea3bf620d7b8be7fd2db59c20d9fff9539da2bf57037"},
    {KDF_ARGON2ID, 1, 16, 1, "password", "somesalt",
     "f6a5adc1ba723dddef9b5ac1d464e180fcd9dffc9d1cbf76cca2fed795d9ca98"},
    {KDF_ARGON2ID, 4, 16, 1, "password", "somesalt",
     "9025d48e68ef7395cca9079da4c4ec3affb3c8911fe4f86d1a2520856f63172c"},
    {KDF_ARGON2ID, 2, 16, 1, "differentpassword", "somesalt",
     "0b84d652cf6b0c4beaef0dfe278ba6a80df6696281d7e0d2891b817d8c458fde"},
    {KDF_ARGON2ID, 2, 16, 1, "password", "diffsalt",
     "bdf32b05ccc42eb15d58fd19b1f856b113da1e9a5874fdcc544308565aa8141c"},
};

static void check_rfc9106(void)
{
	uint8_t pwd[32], salt[16], secret[8], ad[12], tag[32], want[32];
	size_t i;

	for (i = 0; i < sizeof(rfc9106) / sizeof(rfc9106[0]); i++) {
		argon2_context ctx = {
		    .out = tag,
		    .outlen = sizeof(tag),
		    .pwd = pwd,
		    .pwdlen = sizeof(pwd),
		    .salt = salt,
		    .saltlen = sizeof(salt),
		    .secret = secret,
		    .secretlen = sizeof(secret),
		    .ad = ad,
		    .adlen = sizeof(ad),
		    .t_cost = 3,
		    .m_cost = 32,
		    .lanes = 4,
		    .threads = 4,
		    .version = ARGON2_VERSION_13,
		    .flags = ARGON2_DEFAULT_FLAGS,
		};

		memset(pwd, 0x01, sizeof(pwd));
		memset(salt, 0x02, sizeof(salt));
		memset(secret, 0x03, sizeof(secret));
		memset(ad, 0x04, sizeof(ad));
		CHECK_EQ(argon2_ctx(&ctx, rfc9106[i].type), ARGON2_OK);
		CHECK_EQ(check_unhex(rfc9106[i].tag, want, sizeof(want)), 32);
		CHECK_MEM(tag, want, 32);
	}
}

static void check_reference(void)
{
	size_t i;

	for (i = 0; i < sizeof(reference) / sizeof(reference[0]); i++) {
		struct kdf_params p = {
		    .type = reference[i].type,
		    .time = reference[i].t,
		    .memory_kib = 1u << reference[i].m_log,
		    .parallel = reference[i].p,
		};
		uint8_t want[32];
		uint8_t *out = secmem_alloc(32);

		CHECK(out != NULL);
		CHECK_OK(kdf_derive(&p, reference[i].pass, strlen(reference[i].pass),
				    (const uint8_t *)reference[i].salt, strlen(reference[i].salt),
				    out, 32));
		CHECK_EQ(check_unhex(reference[i].out, want, sizeof(want)), 32);
		CHECK_MEM(out, want, 32);
		secmem_free(out);
	}
}

static int derive(uint32_t t, uint32_t m, uint32_t p, size_t salt_len, size_t out_len)
{
	struct kdf_params params = {
	    .type = KDF_ARGON2ID, .time = t, .memory_kib = m, .parallel = p};
	uint8_t out[64];

	return kdf_derive(&params, "pw", 2, (const uint8_t *)"saltsaltsaltsalt", salt_len, out,
			  out_len);
}

/* Costs come from headers: everything outside the caps is refused before any work. */
static void check_params(void)
{
	CHECK_OK(derive(1, 8, 1, 16, 32));
	CHECK_OK(derive(1, 32, 4, 8, 4));
	CHECK_EQ(derive(0, 64, 1, 16, 32), -EINVAL);
	CHECK_EQ(derive(1, 64, 0, 16, 32), -EINVAL);
	CHECK_EQ(derive(1, 64, KDF_MAX_PARALLEL + 1, 16, 32), -EINVAL);
	CHECK_EQ(derive(1, 31, 4, 16, 32), -EINVAL);
	CHECK_EQ(derive(1, KDF_MAX_MEMORY_KIB + 1, 1, 16, 32), -EINVAL);
	CHECK_EQ(derive(UINT32_MAX, 64, 1, 16, 32), -EINVAL);
	/* libargon2's own limits: salt of at least 8 bytes, output of at least 4. */
	CHECK_EQ(derive(1, 64, 1, 7, 32), -EINVAL);
	CHECK_EQ(derive(1, 64, 1, 16, 3), -EINVAL);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void check_benchmark(void)
{
	struct kdf_params p = {.type = KDF_ARGON2ID, .memory_kib = 64 * 1024, .parallel = 2};
	uint8_t out[32];
	double t0, bench_ms, run_ms;

	t0 = now_ms();
	CHECK_OK(kdf_benchmark(&p, sizeof(out), 300));
	bench_ms = now_ms() - t0;
	CHECK_EQ(p.parallel, 2);
	CHECK(p.time >= 4);
	CHECK(p.memory_kib >= 32 * 1024 && p.memory_kib <= 64 * 1024);
	t0 = now_ms();
	CHECK_OK(
	    kdf_derive(&p, "pw", 2, (const uint8_t *)"saltsaltsaltsalt", 16, out, sizeof(out)));
	run_ms = now_ms() - t0;
	printf("argon2: benchmark %.0f ms -> t=%u m=%u KiB p=%u, one derivation %.0f ms (target "
	       "300)\n",
	       bench_ms, p.time, p.memory_kib, p.parallel, run_ms);
	/* Loose bounds: the machine may be busy. */
	CHECK(bench_ms < 10000);
	CHECK(run_ms < 3000);

	/* A ceiling below 32 MiB is the memory used; only the time can grow. */
	p = (struct kdf_params){.type = KDF_ARGON2I, .memory_kib = 1024, .parallel = 1};
	CHECK_OK(kdf_benchmark(&p, 64, 50));
	CHECK_EQ(p.memory_kib, 1024);
	CHECK(p.time >= 4);

	p = (struct kdf_params){.type = KDF_ARGON2ID, .memory_kib = 31, .parallel = 4};
	CHECK_EQ(kdf_benchmark(&p, 32, 50), -EINVAL);
	p = (struct kdf_params){.type = KDF_ARGON2ID, .memory_kib = 1024, .parallel = 0};
	CHECK_EQ(kdf_benchmark(&p, 32, 50), -EINVAL);
	p = (struct kdf_params){.type = KDF_ARGON2ID, .memory_kib = 1024, .parallel = 5};
	CHECK_EQ(kdf_benchmark(&p, 32, 50), -EINVAL);
}

int main(void)
{
	check_rfc9106();
	check_reference();
	check_params();
	check_benchmark();
	printf("argon2: ok\n");
	return 0;
}
