/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Passphrase key derivation (PBKDF2, Argon2i, Argon2id) and cryptsetup-style cost benchmarks. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <argon2.h>
#include <openssl/evp.h>

#include "crypto/backend.h"
#include "crypto/crypto_internal.h"

#define KDF_PBKDF2_MIN_ITERATIONS 1000u
#define KDF_ARGON2_MIN_TIME	  4u
#define KDF_ARGON2_MIN_MEMORY_KIB (32u * 1024)	 /* floor of the benchmark, as cryptsetup */
#define KDF_ARGON2_MAX_MEMORY_KIB (1024u * 1024) /* ceiling of the benchmark: 1 GiB */
#define KDF_ARGON2_BENCH_ROUNDS	  4u

static const struct {
	const char *name;
	enum kdf_type type;
} kdf_names[] = {
    {"pbkdf2", KDF_PBKDF2},
    {"argon2i", KDF_ARGON2I},
    {"argon2id", KDF_ARGON2ID},
};

/* Parses "pbkdf2", "argon2i" or "argon2id". 0, -EINVAL (NULL), -ENOTSUP (unknown name). */
int kdf_type_from_name(const char *name, enum kdf_type *ret_type)
{
	size_t i;

	if (name == NULL || ret_type == NULL)
		return -EINVAL;
	for (i = 0; i < sizeof(kdf_names) / sizeof(kdf_names[0]); i++) {
		if (strcmp(name, kdf_names[i].name) == 0) {
			*ret_type = kdf_names[i].type;
			return 0;
		}
	}
	return -ENOTSUP;
}

/* The LUKS2 name of a KDF type, or NULL for a value outside the enum. */
const char *kdf_type_name(enum kdf_type type)
{
	size_t i;

	for (i = 0; i < sizeof(kdf_names) / sizeof(kdf_names[0]); i++) {
		if (kdf_names[i].type == type)
			return kdf_names[i].name;
	}
	return NULL;
}

/*
 * The costs come from on-disk headers, so they are bounded before anything is
 * allocated or iterated: a forged header must not pin the CPU for days or ask
 * for terabytes.
 */
static int kdf_check_params(const struct kdf_params *p)
{
	switch (p->type) {
	case KDF_PBKDF2:
		if (memchr(p->hash, '\0', sizeof(p->hash)) == NULL)
			return -EINVAL;
		if (p->iterations < 1 || p->iterations > KDF_MAX_ITERATIONS)
			return -EINVAL;
		return 0;
	case KDF_ARGON2I:
	case KDF_ARGON2ID:
		if (p->time < 1 || p->time > KDF_MAX_TIME)
			return -EINVAL;
		if (p->parallel < 1 || p->parallel > KDF_MAX_PARALLEL)
			return -EINVAL;
		if (p->memory_kib < 8 * p->parallel || p->memory_kib > KDF_MAX_MEMORY_KIB)
			return -EINVAL;
		return 0;
	}
	return -EINVAL;
}

/*
 * PBKDF2-HMAC with a hash OpenSSL lacks: libgcrypt's implementation, whose
 * HMAC state lives in the arena (gcry.c). An empty passphrase is valid in
 * LUKS; gcry_kdf_derive() takes it as a zero length.
 */
static int derive_pbkdf2_gcry(int algo, const struct kdf_params *p, const void *pass,
			      size_t pass_len, const uint8_t *salt, size_t salt_len, uint8_t *out,
			      size_t out_len)
{
	gcry_error_t e;

	e = gcry_kdf_derive(pass_len > 0 ? pass : "", pass_len, GCRY_KDF_PBKDF2, algo,
			    salt_len > 0 ? salt : (const uint8_t *)"", salt_len, p->iterations,
			    out_len, out);
	if (e == 0)
		return 0;
	return gcry_err_code(e) == GPG_ERR_ENOMEM ? -ENOMEM : -EIO;
}

static int derive_pbkdf2(const struct kdf_params *p, const void *pass, size_t pass_len,
			 const uint8_t *salt, size_t salt_len, uint8_t *out, size_t out_len)
{
	EVP_MD *md = NULL;
	int algo, r;

	if (pass_len > INT_MAX || salt_len > INT_MAX || out_len > INT_MAX)
		return -EINVAL;
	md = crypto_md_fetch(p->hash);
	if (md == NULL) {
		algo = crypto_gcry_md_algo(p->hash);
		if (algo == 0)
			return -ENOTSUP;
		return derive_pbkdf2_gcry(algo, p, pass, pass_len, salt, salt_len, out, out_len);
	}
	if (!PKCS5_PBKDF2_HMAC(pass_len > 0 ? pass : "", (int)pass_len,
			       salt_len > 0 ? salt : (const uint8_t *)"", (int)salt_len,
			       (int)p->iterations, md, (int)out_len, out)) {
		r = -EIO;
		goto out;
	}
	r = 0;
out:
	EVP_MD_free(md);
	return r;
}

static int derive_argon2(const struct kdf_params *p, const void *pass, size_t pass_len,
			 const uint8_t *salt, size_t salt_len, uint8_t *out, size_t out_len)
{
	argon2_type type = p->type == KDF_ARGON2I ? Argon2_i : Argon2_id;
	int r;

	if (pass_len > UINT32_MAX || salt_len > UINT32_MAX || out_len < ARGON2_MIN_OUTLEN ||
	    out_len > UINT32_MAX)
		return -EINVAL;
	/* Raw output, no encoded string; version 0x13 is what LUKS2 uses. */
	r = argon2_hash(p->time, p->memory_kib, p->parallel, pass_len > 0 ? pass : NULL, pass_len,
			salt, salt_len, out, out_len, NULL, 0, type, ARGON2_VERSION_13);
	switch (r) {
	case ARGON2_OK:
		return 0;
	case ARGON2_MEMORY_ALLOCATION_ERROR:
		return -ENOMEM;
	case ARGON2_THREAD_FAIL:
		return -EIO;
	default:
		return -EINVAL;
	}
}

/*
 * Derives out_len bytes from the passphrase and salt with the KDF and costs
 * in p. 0; -EINVAL for parameters outside the caps or buffers that do not fit
 * the KDF (Argon2: salt >= 8 bytes, output >= 4 bytes); -ENOTSUP for an
 * unknown PBKDF2 hash; -ENOMEM when Argon2 memory cannot be had; -EIO.
 */
int kdf_derive(const struct kdf_params *p, const void *pass, size_t pass_len, const uint8_t *salt,
	       size_t salt_len, uint8_t *out, size_t out_len)
{
	int r;

	if (p == NULL || out == NULL || out_len == 0 || (pass == NULL && pass_len > 0) ||
	    (salt == NULL && salt_len > 0))
		return -EINVAL;
	r = kdf_check_params(p);
	if (r < 0)
		return r;
	if (p->type == KDF_PBKDF2)
		return derive_pbkdf2(p, pass, pass_len, salt, salt_len, out, out_len);
	return derive_argon2(p, pass, pass_len, salt, salt_len, out, out_len);
}

static uint64_t clock_ns(clockid_t clk)
{
	struct timespec ts;

	if (clock_gettime(clk, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Benchmark input: a fixed dummy passphrase and salt, as cryptsetup uses. */
static const char bench_pass[] = "foobarfo";
static const char bench_salt[] = "0123456789abcdef0123456789abcdef";

/* Runs one derivation with q and reports how long it took on clock clk. */
static int bench_run(const struct kdf_params *q, uint8_t *key, size_t key_len, clockid_t clk,
		     uint64_t *ret_ns)
{
	uint64_t start, end;
	int r;

	start = clock_ns(clk);
	r = kdf_derive(q, bench_pass, strlen(bench_pass), (const uint8_t *)bench_salt,
		       strlen(bench_salt), key, key_len);
	end = clock_ns(clk);
	if (r < 0)
		return r;
	*ret_ns = end > start ? end - start : 1;
	return 0;
}

/*
 * PBKDF2 runs single-threaded in this thread, so its CPU time measures the
 * work without scheduler noise. Probe with growing iteration counts until one
 * run takes about 100 ms (less for short targets), then scale linearly.
 */
static int bench_pbkdf2(struct kdf_params *p, uint8_t *key, size_t key_len, uint32_t target_ms)
{
	struct kdf_params q = *p;
	uint64_t probe_ns, ns = 1;
	uint32_t iter = KDF_PBKDF2_MIN_ITERATIONS;
	double want;
	int r;

	probe_ns = (uint64_t)(target_ms < 20 ? 20 : target_ms > 100 ? 100 : target_ms) * 1000000u;
	for (;;) {
		uint64_t next;

		q.iterations = iter;
		r = bench_run(&q, key, key_len, CLOCK_THREAD_CPUTIME_ID, &ns);
		if (r < 0)
			return r;
		if (ns >= probe_ns || iter == KDF_MAX_ITERATIONS)
			break;
		/* Aim a little past the probe length, growing 2x to 16x per round. */
		next = (uint64_t)((double)iter * (double)(probe_ns + probe_ns / 4) / (double)ns);
		if (next < 2 * (uint64_t)iter)
			next = 2 * (uint64_t)iter;
		if (next > 16 * (uint64_t)iter)
			next = 16 * (uint64_t)iter;
		iter = next > KDF_MAX_ITERATIONS ? KDF_MAX_ITERATIONS : (uint32_t)next;
	}

	want = (double)iter * ((double)target_ms * 1e6) / (double)ns;
	if (want < KDF_PBKDF2_MIN_ITERATIONS)
		want = KDF_PBKDF2_MIN_ITERATIONS;
	if (want > KDF_MAX_ITERATIONS)
		want = KDF_MAX_ITERATIONS;
	p->iterations = (uint32_t)want;
	return 0;
}

static uint32_t clamp_u32(double v, uint32_t lo, uint32_t hi)
{
	if (v < lo)
		return lo;
	if (v > hi)
		return hi;
	return (uint32_t)v;
}

/*
 * Next Argon2 candidate from a measurement (cryptsetup's rule, cost taken as
 * proportional to time * memory): when too slow, lower the time first and
 * the memory only once the time is at its minimum; when too fast, raise the
 * memory first and the time only once the memory is at its maximum.
 */
static void argon2_next(uint32_t *t, uint32_t *m, uint32_t min_m, uint32_t max_m, uint64_t ns,
			uint64_t target_ns)
{
	double ratio = (double)target_ns / (double)ns;
	double work = (double)*t * (double)*m * ratio;

	if (ratio < 1.0) {
		if ((double)*t * ratio >= KDF_ARGON2_MIN_TIME) {
			*t = (uint32_t)((double)*t * ratio);
		} else {
			*t = KDF_ARGON2_MIN_TIME;
			*m = clamp_u32(work / KDF_ARGON2_MIN_TIME, min_m, max_m);
		}
	} else {
		if ((double)*m * ratio > max_m) {
			*m = max_m;
			*t = clamp_u32(work / max_m, KDF_ARGON2_MIN_TIME, KDF_MAX_TIME);
		} else {
			*m = clamp_u32((double)*m * ratio, min_m, max_m);
		}
	}
}

/* Half the physical memory in KiB, as cryptsetup caps Argon2 memory; 0 if unknown. */
static uint64_t half_phys_kib(void)
{
	long pages = sysconf(_SC_PHYS_PAGES);
	long page = sysconf(_SC_PAGESIZE);

	if (pages <= 0 || page <= 0)
		return 0;
	return (uint64_t)pages / 2 * ((uint64_t)page / 1024);
}

/*
 * Argon2: a cheap probe at the minimum cost (time 4, the memory floor) gives
 * the machine's speed; then at most a few candidates are measured, each
 * predicted from the last measurement, until one lands within -10%/+15% of
 * the target. The parameters returned are ones that were actually measured.
 * Wall time is used because the lanes run in parallel threads.
 */
static int bench_argon2(struct kdf_params *p, uint8_t *key, size_t key_len, uint32_t target_ms)
{
	struct kdf_params q = *p;
	uint64_t target_ns = (uint64_t)target_ms * 1000000u;
	uint64_t ns, phys;
	uint32_t cap, min_m, max_m, t, m, round;
	int r;

	if (p->parallel < 1 || p->parallel > KDF_MAX_PARALLEL)
		return -EINVAL;
	cap = p->memory_kib > KDF_MAX_MEMORY_KIB ? KDF_MAX_MEMORY_KIB : p->memory_kib;
	if (cap < 8 * p->parallel)
		return -EINVAL;
	min_m = cap < KDF_ARGON2_MIN_MEMORY_KIB ? cap : KDF_ARGON2_MIN_MEMORY_KIB;
	max_m = cap < KDF_ARGON2_MAX_MEMORY_KIB ? cap : KDF_ARGON2_MAX_MEMORY_KIB;
	phys = half_phys_kib();
	if (phys > 0 && phys < max_m)
		max_m = phys < min_m ? min_m : (uint32_t)phys;

	t = KDF_ARGON2_MIN_TIME;
	m = min_m;
	q.time = t;
	q.memory_kib = m;
	r = bench_run(&q, key, key_len, CLOCK_MONOTONIC, &ns);
	if (r < 0)
		return r;

	for (round = 0; round < KDF_ARGON2_BENCH_ROUNDS; round++) {
		uint32_t nt = t, nm = m;

		if (ns >= target_ns - target_ns / 10 && ns <= target_ns + target_ns * 15 / 100)
			break;
		argon2_next(&nt, &nm, min_m, max_m, ns, target_ns);
		if (nt == t && nm == m)
			break;
		q.time = nt;
		q.memory_kib = nm;
		r = bench_run(&q, key, key_len, CLOCK_MONOTONIC, &ns);
		if (r == -ENOMEM && nm > min_m) {
			/* Could not get that much: lower the ceiling and try again. */
			max_m = nm / 2 > min_m ? nm / 2 : min_m;
			continue;
		}
		if (r < 0)
			return r;
		t = nt;
		m = nm;
	}
	p->time = t;
	p->memory_kib = m;
	return 0;
}

/*
 * Sets the cost in p so that deriving key_len bytes takes about target_ms.
 * PBKDF2 (p->hash must name a supported hash): sets p->iterations, at least
 * 1000. Argon2: keeps p->parallel, treats p->memory_kib as the ceiling the
 * caller allows (clamped to KDF_MAX_MEMORY_KIB, 1 GiB and half the RAM) and
 * sets p->time (>= 4) and p->memory_kib (>= 32 MiB unless the ceiling is
 * lower). Takes a small multiple of target_ms. 0, -EINVAL, -ENOTSUP, -ENOMEM.
 */
int kdf_benchmark(struct kdf_params *p, size_t key_len, uint32_t target_ms)
{
	uint8_t *key = NULL;
	size_t out_len;
	int r;

	if (p == NULL || key_len == 0 || key_len > INT_MAX || target_ms == 0)
		return -EINVAL;
	/* Argon2 cannot produce fewer than 4 bytes; the cost does not depend on it. */
	out_len = key_len < ARGON2_MIN_OUTLEN ? ARGON2_MIN_OUTLEN : key_len;
	/* The output is derived from a dummy passphrase: no secret, plain heap. */
	key = malloc(out_len);
	if (key == NULL)
		return -ENOMEM;

	switch (p->type) {
	case KDF_PBKDF2:
		r = bench_pbkdf2(p, key, key_len, target_ms);
		break;
	case KDF_ARGON2I:
	case KDF_ARGON2ID:
		r = bench_argon2(p, key, out_len, target_ms);
		break;
	default:
		r = -EINVAL;
		break;
	}
	free(key);
	return r;
}
