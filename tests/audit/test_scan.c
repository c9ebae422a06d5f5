/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The key scanner: AES schedules against FIPS-197, then keys and schedules
 * (with and without flipped bits) planted at random offsets of streamed random
 * data, all found, nothing else; then vmc_scan_run() on files, with and
 * without an image's LUKS header. VMCRYPT_SCAN_TEST_MIB sets the amount of
 * random data (default 1024 = 1 GiB, generated and scanned in chunks, never
 * stored).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "crypto/aes_schedule.h"
#include "crypto/backend.h"
#include "scan/scan_internal.h"
#include "vmcrypt.h"

#define CHUNK	  (4u << 20)
#define OVERLAP	  (SCAN_ANY_WINDOW - 1)
#define MAX_PLANT 256
#define TOL	  4 /* bit errors the any-schedule engine tolerates in the stream test */

/* ---- deterministic random bytes as a function of the offset ---- */

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Fills buf with the stream's bytes [off, off + len); off a multiple of 8. */
static void stream_fill(uint8_t *buf, uint64_t off, size_t len)
{
	size_t i;

	for (i = 0; i < len; i += 8) {
		uint64_t s = (off + i) * UINT64_C(0x2545f4914f6cdd1d) + 12345, v = splitmix(&s);
		size_t n = len - i < 8 ? len - i : 8;

		memcpy(buf + i, &v, n);
	}
}

static uint64_t rnd_state = 42;

static uint64_t rnd(void)
{
	return splitmix(&rnd_state);
}

static void rnd_bytes(uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)rnd();
}

/* ---- FIPS-197 appendix A ---- */

static void test_schedules(void)
{
	static const struct {
		const char *key, *last_word;
	} vec[] = {
	    {"2b7e151628aed2a6abf7158809cf4f3c", "b6630ca6"},
	    {"8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b", "01002202"},
	    {"603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4", "706c631e"},
	};
	uint8_t key[32], word[4], enc[AES_SCHEDULE_MAX], dec[AES_SCHEDULE_MAX], col[4];
	const uint8_t *sbox = aes_sbox();
	unsigned seen[256] = {0}, i, r, j;
	size_t klen, slen, nr;

	CHECK(sbox != NULL);
	for (i = 0; i < 256; i++)
		seen[sbox[i]]++;
	for (i = 0; i < 256; i++)
		CHECK_EQ(seen[i], 1);
	CHECK_EQ(sbox[0x53], 0xed);
	for (i = 0; i < 3; i++) {
		klen = check_unhex(vec[i].key, key, sizeof(key));
		slen = aes_schedule_len(klen);
		nr = slen / 16 - 1;
		check_unhex(vec[i].last_word, word, sizeof(word));
		CHECK_OK(aes_schedule_encrypt(key, klen, enc));
		CHECK_MEM(enc, key, klen);
		CHECK_MEM(enc + slen - 4, word, 4);
		/* Decryption schedule: reversed round keys, InvMixColumns in the middle. */
		CHECK_OK(aes_schedule_decrypt(key, klen, dec));
		CHECK_MEM(dec, enc + 16 * nr, 16);
		CHECK_MEM(dec + 16 * nr, enc, 16);
		for (r = 1; r < nr; r++) {
			for (j = 0; j < 4; j++) {
				memcpy(col, dec + 16 * (nr - r) + 4 * j, 4);
				aes_mix_column(col);
				CHECK_MEM(col, enc + 16 * r + 4 * j, 4);
			}
		}
	}
	CHECK(aes_schedule_encrypt(key, 20, enc) < 0);
	printf("ok schedules\n");
}

/* ---- planting ---- */

struct plant {
	uint64_t off;
	uint16_t len;
	uint8_t bytes[AES_SCHEDULE_MAX];
	/* what the engines should report */
	bool known; /* the known-key engine finds it */
	bool any;   /* the any-schedule engine finds it */
	uint8_t what, layout, part, errors;
	uint16_t key_bits;
	uint8_t key[32];
	atomic_int found_known, found_any;
};

static struct plant *plants;
static size_t nplants;
static uint8_t vk[64];

static void flip_bits(uint8_t *p, size_t len, unsigned n)
{
	unsigned done = 0;

	while (done < n) {
		size_t bit = rnd() % (len * 8);

		/* distinct bits, so the error count is exact */
		static size_t used[64];
		unsigned k;

		for (k = 0; k < done && used[k] != bit; k++)
			;
		if (k < done)
			continue;
		used[done++] = bit;
		p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
}

static struct plant *plant_new(uint64_t off)
{
	struct plant *p = &plants[nplants++];

	CHECK(nplants <= MAX_PLANT);
	memset(p, 0, sizeof(*p));
	p->off = off;
	return p;
}

/* A schedule of key; errors flipped bits; known when the key belongs to vk. */
static void plant_schedule(uint64_t off, const uint8_t *key, size_t klen, bool dec, bool words,
			   unsigned errors, unsigned part)
{
	struct plant *p = plant_new(off);

	p->len = (uint16_t)aes_schedule_len(klen);
	if (dec)
		CHECK_OK(aes_schedule_decrypt(key, klen, p->bytes));
	else
		CHECK_OK(aes_schedule_encrypt(key, klen, p->bytes));
	if (words)
		aes_schedule_swap_words(p->bytes, p->bytes, p->len);
	flip_bits(p->bytes, p->len, errors);
	p->what = dec ? SCAN_WHAT_DEC_SCHEDULE : SCAN_WHAT_ENC_SCHEDULE;
	p->layout = words ? SCAN_LAYOUT_WORDS : SCAN_LAYOUT_BYTES;
	p->part = (uint8_t)part;
	p->errors = (uint8_t)errors;
	p->key_bits = (uint16_t)(klen * 8);
	memcpy(p->key, key, klen);
	p->known = part != SCAN_PART_NONE && errors == 0;
	p->any = errors <= TOL;
}

static void plant_key(uint64_t off, const uint8_t *key, size_t len, unsigned part)
{
	struct plant *p = plant_new(off);

	p->len = (uint16_t)len;
	memcpy(p->bytes, key, len);
	p->what = SCAN_WHAT_KEY;
	p->part = (uint8_t)part;
	p->key_bits = (uint16_t)(len * 8);
	p->known = true;
}

/* Non-overlapping random offsets: slot k of the stream holds at most one plant. */
static uint64_t slot_off(uint64_t total, size_t k, size_t nslots)
{
	uint64_t slot = total / nslots, base = slot * k;

	return base + rnd() % (slot - 2 * SCAN_ANY_WINDOW);
}

static void make_plants(uint64_t total)
{
	const size_t nslots = 160;
	uint8_t key[32];
	size_t k = 0, i;
	unsigned bits;

	plants = calloc(MAX_PLANT, sizeof(*plants));
	CHECK(plants != NULL);
	rnd_bytes(vk, sizeof(vk));
	/* The known key: whole, halves, every schedule of each half. */
	plant_key(slot_off(total, k++, nslots), vk, 64, SCAN_PART_WHOLE);
	plant_key(slot_off(total, k++, nslots), vk, 32, SCAN_PART_FIRST);
	plant_key(slot_off(total, k++, nslots), vk + 32, 32, SCAN_PART_SECOND);
	for (i = 0; i < 8; i++)
		plant_schedule(slot_off(total, k++, nslots), vk + 32 * (i / 4), 32, i & 1, i & 2, 0,
			       i / 4 ? SCAN_PART_SECOND : SCAN_PART_FIRST);
	/* Across a chunk boundary. */
	plant_schedule(CHUNK * 3 - 100, vk, 32, false, false, 0, SCAN_PART_FIRST);
	/* A known schedule with flipped bits: only the tolerant engine finds it. */
	plant_schedule(slot_off(total, k++, nslots), vk + 32, 32, false, false, 3,
		       SCAN_PART_SECOND);
	/* Random AES keys of each size, both directions and layouts, 0..TOL+2 bit errors. */
	while (k < nslots) {
		bits = 128 + 64 * (unsigned)(rnd() % 3);
		rnd_bytes(key, bits / 8);
		plant_schedule(slot_off(total, k++, nslots), key, bits / 8, rnd() & 1, rnd() & 1,
			       (unsigned)(rnd() % (TOL + 3)), SCAN_PART_NONE);
	}
	/* At the very end of the stream. */
	rnd_bytes(key, 16);
	plant_schedule(total - 176, key, 16, false, false, 0, SCAN_PART_NONE);
}

/* Overlays the plants on the stream bytes [off, off + len). */
static void apply_plants(uint8_t *buf, uint64_t off, size_t len)
{
	size_t i, from, to;

	for (i = 0; i < nplants; i++) {
		const struct plant *p = &plants[i];

		if (p->off >= off + len || p->off + p->len <= off)
			continue;
		from = p->off > off ? 0 : (size_t)(off - p->off);
		to = p->off + p->len > off + len ? (size_t)(off + len - p->off) : p->len;
		memcpy(buf + (p->off + from - off), p->bytes + from, to - from);
	}
}

/* ---- streaming scan ---- */

struct stream {
	uint64_t total;
	atomic_uint_fast64_t next;
	const struct scan_known *known;
	const struct scan_any *any;
	atomic_int unexpected;
};

static struct plant *plant_at(uint64_t off)
{
	size_t i;

	for (i = 0; i < nplants; i++)
		if (plants[i].off == off)
			return &plants[i];
	return NULL;
}

/* Inside a plant: raw key bytes that start a schedule, or the second half of the whole key. */
static bool inside_plant(const struct scan_hit *h)
{
	size_t i;

	for (i = 0; i < nplants; i++)
		if (h->what == SCAN_WHAT_KEY && h->offset >= plants[i].off &&
		    h->offset + h->len <= plants[i].off + plants[i].len &&
		    h->offset != plants[i].off)
			return true;
	return false;
}

static int emit_known(void *ctx, const struct scan_hit *h)
{
	struct stream *s = ctx;
	struct plant *p = plant_at(h->offset);

	/* vmc_scan_run() drops these (scan_hits_normalize()); an exact scan reports them. */
	if (!p && inside_plant(h))
		return 0;
	if (p && !p->known && h->what == SCAN_WHAT_KEY && p->what != SCAN_WHAT_KEY)
		return 0; /* the intact key bytes at the start of a schedule with bit errors */
	if (!p || !p->known || h->what != p->what || h->part != p->part ||
	    (h->what != SCAN_WHAT_KEY && h->layout != p->layout) || h->len != p->len) {
		fprintf(stderr, "known: unexpected hit at %llu what %u part %u len %u\n",
			(unsigned long long)h->offset, h->what, h->part, h->len);
		atomic_fetch_add(&s->unexpected, 1);
		return 0;
	}
	atomic_fetch_add(&p->found_known, 1);
	return 0;
}

static int emit_any(void *ctx, const struct scan_hit *h)
{
	struct stream *s = ctx;
	struct plant *p = plant_at(h->offset);

	if (!p || !p->any || h->what != p->what || h->layout != p->layout ||
	    h->key_bits != p->key_bits || h->bit_errors != p->errors ||
	    memcmp(h->key, p->key, h->key_bits / 8) != 0) {
		fprintf(stderr, "any: unexpected hit at %llu what %u layout %u bits %u errors %u\n",
			(unsigned long long)h->offset, h->what, h->layout, h->key_bits,
			h->bit_errors);
		atomic_fetch_add(&s->unexpected, 1);
		return 0;
	}
	atomic_fetch_add(&p->found_any, 1);
	return 0;
}

static void *stream_worker(void *arg)
{
	struct stream *s = arg;
	uint8_t *buf = malloc(CHUNK + OVERLAP);
	uint64_t idx, off;
	size_t len, limit;

	CHECK(buf != NULL);
	while ((idx = atomic_fetch_add(&s->next, 1)) * CHUNK < s->total) {
		off = idx * CHUNK;
		limit = s->total - off < CHUNK ? (size_t)(s->total - off) : CHUNK;
		len = s->total - off < CHUNK + OVERLAP ? (size_t)(s->total - off) : CHUNK + OVERLAP;
		stream_fill(buf, off, len);
		apply_plants(buf, off, len);
		CHECK_OK(scan_known_buf(s->known, buf, len, limit, off, 0, emit_known, s));
		CHECK_OK(scan_any_buf(s->any, buf, len, limit, off, 0, emit_any, s));
	}
	free(buf);
	return NULL;
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void test_stream(uint64_t total)
{
	struct stream s = {.total = total};
	struct scan_known *known = NULL;
	struct scan_any *any = NULL;
	pthread_t tids[8];
	unsigned nthreads = (unsigned)sysconf(_SC_NPROCESSORS_ONLN), i, want_k = 0, want_a = 0;
	double t0;

	if (nthreads < 1)
		nthreads = 1;
	if (nthreads > 8)
		nthreads = 8;
	make_plants(total);
	CHECK_OK(scan_known_new(vk, sizeof(vk), &known));
	CHECK_OK(scan_any_new(TOL, &any));
	s.known = known;
	s.any = any;
	t0 = now();
	for (i = 0; i < nthreads; i++)
		CHECK(pthread_create(&tids[i], NULL, stream_worker, &s) == 0);
	for (i = 0; i < nthreads; i++)
		pthread_join(tids[i], NULL);
	for (i = 0; i < nplants; i++) {
		const struct plant *p = &plants[i];

		want_k += p->known;
		want_a += p->any;
		if (atomic_load(&p->found_known) != (p->known ? 1 : 0) ||
		    atomic_load(&p->found_any) != (p->any ? 1 : 0)) {
			fprintf(stderr,
				"plant %u at %llu (what %u, %u bits, %u errors, part %u): found %d "
				"times (known engine), %d (any engine)\n",
				i, (unsigned long long)p->off, p->what, p->key_bits, p->errors,
				p->part, atomic_load(&p->found_known), atomic_load(&p->found_any));
			CHECK(false);
		}
	}
	CHECK_EQ(atomic_load(&s.unexpected), 0);
	printf("ok stream: %llu MiB, %zu plants (%u for the known key, %u schedules within %d "
	       "bit errors), all found, no false positives, %.1f s on %u threads\n",
	       (unsigned long long)(total >> 20), nplants, want_k, want_a, TOL, now() - t0,
	       nthreads);
	scan_known_free(known);
	scan_any_free(any);
}

/* ---- vmc_scan_run() on files ---- */

static char tmpdir[] = "/tmp/vmcrypt-test-scan.XXXXXX";

static void write_file(const char *path, const uint8_t *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	CHECK(f != NULL);
	CHECK_EQ(fwrite(data, 1, len, f), len);
	CHECK_EQ(fclose(f), 0);
}

static struct vmc_image *make_image(const char *path, int version, const char *cipher,
				    uint32_t key_bits)
{
	struct vmc_format_params p = {
	    .luks_version = version,
	    .cipher = cipher,
	    .key_bits = key_bits,
	    .pbkdf = "pbkdf2",
	    .force_iterations = 1000,
	    .data_size = 1 << 20,
	};
	struct vmc_image *img = NULL;

	CHECK_OK(vmc_image_create(path, &p, "pass", 4, false, &img));
	return img;
}

static void test_files(void)
{
	const size_t size = 8u << 20;
	uint8_t *dump = malloc(size), *key = NULL, sched[AES_SCHEDULE_MAX], other[32];
	char img_path[256], dump_path[256], cbc_path[256];
	const char *paths[1] = {dump_path};
	struct vmc_scan_params p = {.threads = 2};
	struct vmc_image *img;
	char *report = NULL;
	unsigned found = 0;
	size_t klen = 0;

	CHECK(dump != NULL && mkdtemp(tmpdir) != NULL);
	snprintf(img_path, sizeof(img_path), "%s/xts.img", tmpdir);
	snprintf(cbc_path, sizeof(cbc_path), "%s/cbc.img", tmpdir);
	snprintf(dump_path, sizeof(dump_path), "%s/dump", tmpdir);

	/* XTS, 512 bits: the tweak key's schedule, then the data key's, as the kernel keeps them.
	 */
	img = make_image(img_path, 2, "aes-xts-plain64", 512);
	CHECK_OK(vmc_image_volume_key(img, &key, &klen));
	CHECK_EQ(klen, 64);
	rnd_bytes(dump, size);
	CHECK_OK(aes_schedule_encrypt(key + 32, 32, sched));
	memcpy(dump + 1000003, sched, 240);
	CHECK_OK(aes_schedule_encrypt(key, 32, sched));
	memcpy(dump + 1000003 + 240, sched, 240);
	CHECK_OK(aes_schedule_decrypt(key, 32, sched));
	memcpy(dump + 1000003 + 480, sched, 240);
	/* A decoy AES-256 schedule far away. */
	rnd_bytes(other, 32);
	CHECK_OK(aes_schedule_encrypt(other, 32, sched));
	memcpy(dump + 7000001, sched, 240);
	/* The whole volume key, raw, across the scanner's 4 MiB chunk boundary. */
	memcpy(dump + (4u << 20) - 30, key, 64);
	write_file(dump_path, dump, size);

	/* Known key. */
	p.volume_key = key;
	p.volume_key_len = klen;
	p.key_name = "xts.img";
	CHECK_OK(vmc_scan_run(&p, paths, 1, &report, &found));
	CHECK_EQ(found, 4);
	CHECK(strstr(report, "The volume key of xts.img is in"));
	CHECK(strstr(report, "offset 4194274 (0x3fffe2): the volume key (512 bits) of xts.img"));
	CHECK(strstr(report, "AES-256 decryption key schedule (FIPS-197 byte order) of the first "
			     "half of the volume key (XTS data key) of xts.img"));
	free(report);
	p.json = true;
	CHECK_OK(vmc_scan_run(&p, paths, 1, &report, &found));
	CHECK(strstr(report, "\"volume_key\":\"complete\""));
	free(report);

	/* Any schedule, tested against the header: 4 schedules, 3 distinct keys. */
	memset(&p, 0, sizeof(p));
	p.header = img_path;
	CHECK_OK(vmc_scan_run(&p, paths, 1, &report, &found));
	CHECK_EQ(found, 4);
	CHECK(strstr(report, "3 distinct AES keys."));
	CHECK(strstr(report, ": the volume key (aes-xts-plain64, 512 bits) is in the scanned data: "
			     "data key at"));
	free(report);
	p.json = true;
	CHECK_OK(vmc_scan_run(&p, paths, 1, &report, &found));
	CHECK(strstr(report, "\"matched\":true"));
	free(report);
	vmc_secret_free(key);
	vmc_image_free(img);

	/* Another image's header: no match. CBC with one AES-256 key. */
	img = make_image(cbc_path, 1, "aes-cbc-essiv:sha256", 256);
	p.header = cbc_path;
	p.json = false;
	CHECK_OK(vmc_scan_run(&p, paths, 1, &report, &found));
	CHECK(strstr(report, "none of the keys found is its volume key"));
	free(report);
	CHECK_OK(vmc_image_volume_key(img, &key, &klen));
	CHECK_OK(aes_schedule_encrypt(key, 32, sched));
	aes_schedule_swap_words(sched, sched, 240);
	memcpy(dump + 5555555, sched, 240);
	write_file(dump_path, dump, size);
	CHECK_OK(vmc_scan_run(&p, paths, 1, &report, &found));
	CHECK(strstr(report, "AES-256 encryption key schedule (32-bit words byte-reversed, as "
			     "OpenSSL's AES_KEY), exact"));
	CHECK(strstr(report, ": the volume key (aes-cbc-essiv:sha256, 256 bits) is in "));
	free(report);
	vmc_secret_free(key);
	vmc_image_free(img);

	/* Bad parameters. */
	p.max_bit_errors = SCAN_MAX_BIT_ERRORS + 1;
	CHECK(vmc_scan_run(&p, paths, 1, &report, &found) == -EINVAL);
	unlink(img_path);
	unlink(cbc_path);
	unlink(dump_path);
	rmdir(tmpdir);
	free(dump);
	printf("ok files\n");
}

int main(void)
{
	const char *env = getenv("VMCRYPT_SCAN_TEST_MIB");
	uint64_t mib = env ? strtoull(env, NULL, 10) : 1024;

	if (mib < 64)
		mib = 64;
	test_schedules();
	test_files();
	test_stream(mib << 20);
	return 0;
}
