/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* PBKDF2 known answers (RFC 6070 HMAC-SHA1, RFC 7914 HMAC-SHA256), parameter checks, benchmark. */
#include <errno.h>
#include <stdint.h>
#include <time.h>

#include "check.h"
#include "crypto/backend.h"

static const struct {
	const char *hash;
	const char *pass;
	size_t pass_len;
	const char *salt;
	size_t salt_len;
	uint32_t iterations;
	bool slow; /* run only with VMC_SLOW_TESTS set */
	const char *dk;
} vectors[] = {
    /* RFC 6070 section 2 */
    {"sha1", "password", 8, "salt", 4, 1, false, "0c60c80f961f0e71f3a9b524af6012062fe037a6"},
    {"sha1", "password", 8, "salt", 4, 2, false, "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957"},
    {"sha1", "password", 8, "salt", 4, 4096, false, "4b007901b765489abead49d926f721d065a429c1"},
    {"sha1", "password", 8, "salt", 4, 16777216, true, "eefe3d61cd4da4e4e9945b3d6ba2158c2634e984"},
    {"sha1", "passwordPASSWORDpassword", 24, "saltSALTsaltSALTsaltSALTsaltSALTsalt", 36, 4096,
     false, "3d2eec4fe41c849b80c8d83662c0e44a8b291a964cf2f07038"},
    {"sha1", "pass\0word", 9, "sa\0lt", 5, 4096, false, "56fa6aa75548099dcc37d7f03425e0c3"},
    /* RFC 7914 section 11 */
    {"sha256", "passwd", 6, "salt", 4, 1, false,
     "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
     "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"},
    {"sha256", "Password", 8, "NaCl", 4, 80000, false,
     "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
     "a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d"},
};

static struct kdf_params pbkdf2(const char *hash, uint32_t iterations)
{
	struct kdf_params p = {.type = KDF_PBKDF2, .iterations = iterations};

	snprintf(p.hash, sizeof(p.hash), "%s", hash);
	return p;
}

static void check_vectors(void)
{
	bool slow = getenv("VMC_SLOW_TESTS") != NULL;
	size_t i;

	for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		struct kdf_params p = pbkdf2(vectors[i].hash, vectors[i].iterations);
		uint8_t want[64];
		size_t len = check_unhex(vectors[i].dk, want, sizeof(want));
		uint8_t *out = secmem_alloc(len);

		CHECK(out != NULL);
		if (vectors[i].slow && !slow) {
			printf("pbkdf2: %u iterations skipped (set VMC_SLOW_TESTS)\n",
			       vectors[i].iterations);
			secmem_free(out);
			continue;
		}
		CHECK_OK(kdf_derive(&p, vectors[i].pass, vectors[i].pass_len,
				    (const uint8_t *)vectors[i].salt, vectors[i].salt_len, out,
				    len));
		CHECK_MEM(out, want, len);
		secmem_free(out);
	}
}

static void check_params(void)
{
	struct kdf_params p = pbkdf2("sha256", 1000);
	uint8_t out[32];
	enum kdf_type t;

	CHECK_OK(kdf_derive(&p, "", 0, (const uint8_t *)"salt", 4, out, sizeof(out)));
	CHECK_OK(kdf_derive(&p, NULL, 0, (const uint8_t *)"salt", 4, out, sizeof(out)));
	/* A header hash name that is unknown, or has no terminator in the field. */
	p = pbkdf2("sha257", 1000);
	CHECK_EQ(kdf_derive(&p, "x", 1, (const uint8_t *)"salt", 4, out, sizeof(out)), -ENOTSUP);
	memset(p.hash, 'a', sizeof(p.hash));
	CHECK_EQ(kdf_derive(&p, "x", 1, (const uint8_t *)"salt", 4, out, sizeof(out)), -EINVAL);
	p = pbkdf2("sha256", 0);
	CHECK_EQ(kdf_derive(&p, "x", 1, (const uint8_t *)"salt", 4, out, sizeof(out)), -EINVAL);
	p = pbkdf2("sha256", KDF_MAX_ITERATIONS + 1u);
	CHECK_EQ(kdf_derive(&p, "x", 1, (const uint8_t *)"salt", 4, out, sizeof(out)), -EINVAL);
	p = pbkdf2("sha256", 1000);
	CHECK_EQ(kdf_derive(&p, "x", 1, (const uint8_t *)"salt", 4, out, 0), -EINVAL);
	CHECK_EQ(kdf_derive(&p, "x", 1, (const uint8_t *)"salt", 4, NULL, 32), -EINVAL);
	CHECK_EQ(kdf_derive(&p, NULL, 1, (const uint8_t *)"salt", 4, out, sizeof(out)), -EINVAL);
	CHECK_EQ(kdf_derive(NULL, "x", 1, (const uint8_t *)"salt", 4, out, sizeof(out)), -EINVAL);
	p.type = (enum kdf_type)42;
	CHECK_EQ(kdf_derive(&p, "x", 1, (const uint8_t *)"salt", 4, out, sizeof(out)), -EINVAL);

	CHECK_OK(kdf_type_from_name("pbkdf2", &t));
	CHECK_EQ(t, KDF_PBKDF2);
	CHECK_OK(kdf_type_from_name("argon2i", &t));
	CHECK_EQ(t, KDF_ARGON2I);
	CHECK_OK(kdf_type_from_name("argon2id", &t));
	CHECK_EQ(t, KDF_ARGON2ID);
	CHECK_EQ(kdf_type_from_name("argon2d", &t), -ENOTSUP);
	CHECK_EQ(kdf_type_from_name("PBKDF2x", &t), -ENOTSUP);
	CHECK(strcmp(kdf_type_name(KDF_PBKDF2), "pbkdf2") == 0);
	CHECK(strcmp(kdf_type_name(KDF_ARGON2I), "argon2i") == 0);
	CHECK(strcmp(kdf_type_name(KDF_ARGON2ID), "argon2id") == 0);
	CHECK(kdf_type_name((enum kdf_type)42) == NULL);
}

/* PBKDF2 runs in the calling thread: its CPU time is what the benchmark measures too. */
static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The benchmark's count, used for real, takes about the target time. */
static void check_benchmark(void)
{
	struct kdf_params p = pbkdf2("sha256", 0);
	uint8_t out[32];
	double t0, bench_ms, run_ms;

	t0 = now_ms();
	CHECK_OK(kdf_benchmark(&p, sizeof(out), 200));
	bench_ms = now_ms() - t0;
	CHECK(p.iterations >= 1000);
	t0 = now_ms();
	CHECK_OK(
	    kdf_derive(&p, "pass", 4, (const uint8_t *)"saltsaltsaltsalt", 16, out, sizeof(out)));
	run_ms = now_ms() - t0;
	printf("pbkdf2: benchmark %.0f ms -> %u iterations, one derivation %.0f ms (target 200)\n",
	       bench_ms, p.iterations, run_ms);
	/* Loose bounds: the machine may be busy. */
	CHECK(bench_ms < 3000);
	CHECK(run_ms > 40 && run_ms < 1000);

	/* A tiny target still yields the floor of 1000. */
	p = pbkdf2("sha1", 0);
	CHECK_OK(kdf_benchmark(&p, 20, 1));
	CHECK(p.iterations >= 1000);

	p = pbkdf2("nosuchhash", 0);
	CHECK_EQ(kdf_benchmark(&p, 32, 100), -ENOTSUP);
	p = pbkdf2("sha256", 0);
	CHECK_EQ(kdf_benchmark(&p, 0, 100), -EINVAL);
	CHECK_EQ(kdf_benchmark(&p, 32, 0), -EINVAL);
	CHECK_EQ(kdf_benchmark(NULL, 32, 100), -EINVAL);
}

int main(void)
{
	check_vectors();
	check_params();
	check_benchmark();
	printf("pbkdf2: ok\n");
	return 0;
}
