/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Known-key engine: a volume key, its halves and their AES schedules, searched at disk speed. */
#include <errno.h>
#include <string.h>

#include "crypto/aes_schedule.h"
#include "crypto/backend.h"
#include "scan/scan_internal.h"

/*
 * At most: the key, two halves, and 4 schedules (encryption and decryption,
 * two layouts) of the whole key and of each half.
 */
#define MAX_PATTERNS 15
#define MAX_DATA     (64 + 64 + 12 * AES_SCHEDULE_MAX)

struct pattern {
	uint16_t off; /* into data[] */
	uint16_t len;
	uint16_t key_bits;
	uint8_t what, layout, part;
	uint64_t prefix; /* first 8 bytes, as loaded from memory */
};

/*
 * Every pattern is at least 16 bytes long, so an occurrence at p covers the
 * 8-byte word at the next multiple of 8, q = p + s with s in 0..7, whose value
 * is the pattern's bytes s..s+7. The hot loop therefore loads only every 8th
 * word, hashes it into a 65536-bit filter of all (pattern, s) words (about 1
 * word in 500 passes with 15 patterns), and only then looks for which shifts
 * s match and compares the candidate positions q - s in full. That is about
 * one load, one multiply and one table test per 8 bytes. The whole structure
 * is derived from the key, so it lives in secmem.
 */
struct sample {
	uint64_t word;
	uint8_t shift;
};

struct scan_known {
	unsigned npat, nsamples;
	size_t window;
	size_t used;
	struct pattern pat[MAX_PATTERNS];
	struct sample samples[MAX_PATTERNS * 8];
	uint8_t filter[65536 / 8];
	uint8_t data[MAX_DATA];
};

static inline unsigned sample_hash(uint64_t w)
{
	return (unsigned)((w * UINT64_C(0x9e3779b97f4a7c15)) >> 48);
}

static inline uint64_t ld64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static void add(struct scan_known *k, const uint8_t *bytes, size_t len, unsigned what,
		unsigned layout, unsigned part, size_t key_len)
{
	struct pattern *p = &k->pat[k->npat++];
	unsigned sh, h;

	p->off = (uint16_t)k->used;
	p->len = (uint16_t)len;
	p->key_bits = (uint16_t)(key_len * 8);
	p->what = (uint8_t)what;
	p->layout = (uint8_t)layout;
	p->part = (uint8_t)part;
	memcpy(k->data + k->used, bytes, len);
	p->prefix = ld64(k->data + k->used);
	for (sh = 0; sh < 8; sh++) {
		struct sample *x = &k->samples[k->nsamples++];

		x->word = ld64(k->data + k->used + sh);
		x->shift = (uint8_t)sh;
		h = sample_hash(x->word);
		k->filter[h >> 3] |= (uint8_t)(1u << (h & 7));
	}
	k->used += len;
	if (len > k->window)
		k->window = len;
}

/* The key bytes, and the four schedules of key used as one AES key. */
static int add_aes_key(struct scan_known *k, const uint8_t *key, size_t len, unsigned part)
{
	uint8_t s[AES_SCHEDULE_MAX];
	size_t slen = aes_schedule_len(len);
	int r;

	r = aes_schedule_encrypt(key, len, s);
	if (r < 0)
		goto out;
	add(k, s, slen, SCAN_WHAT_ENC_SCHEDULE, SCAN_LAYOUT_BYTES, part, len);
	aes_schedule_swap_words(s, s, slen);
	add(k, s, slen, SCAN_WHAT_ENC_SCHEDULE, SCAN_LAYOUT_WORDS, part, len);
	r = aes_schedule_decrypt(key, len, s);
	if (r < 0)
		goto out;
	add(k, s, slen, SCAN_WHAT_DEC_SCHEDULE, SCAN_LAYOUT_BYTES, part, len);
	aes_schedule_swap_words(s, s, slen);
	add(k, s, slen, SCAN_WHAT_DEC_SCHEDULE, SCAN_LAYOUT_WORDS, part, len);
out:
	explicit_bzero(s, sizeof(s));
	return r;
}

int scan_known_new(const uint8_t *vk, size_t len, struct scan_known **ret_k)
{
	struct scan_known *k = NULL;
	size_t half = len / 2;
	int r = 0;

	if (len < 16 || len > 64)
		return -EINVAL;
	k = secmem_alloc(sizeof(*k));
	if (!k)
		return -ENOMEM;
	add(k, vk, len, SCAN_WHAT_KEY, SCAN_LAYOUT_BYTES, SCAN_PART_WHOLE, len);
	/* The key as one AES key (CBC, or an XTS key that is also a valid AES-256 key length). */
	if (aes_schedule_len(len)) {
		r = add_aes_key(k, vk, len, SCAN_PART_WHOLE);
		if (r < 0)
			goto out;
	}
	/* XTS: two AES keys, data key first, tweak key second. */
	if (len % 2 == 0 && aes_schedule_len(half)) {
		add(k, vk, half, SCAN_WHAT_KEY, SCAN_LAYOUT_BYTES, SCAN_PART_FIRST, half);
		add(k, vk + half, half, SCAN_WHAT_KEY, SCAN_LAYOUT_BYTES, SCAN_PART_SECOND, half);
		r = add_aes_key(k, vk, half, SCAN_PART_FIRST);
		if (r == 0)
			r = add_aes_key(k, vk + half, half, SCAN_PART_SECOND);
		if (r < 0)
			goto out;
	}
	*ret_k = k;
	k = NULL;
out:
	secmem_free(k);
	return r;
}

void scan_known_free(struct scan_known *k)
{
	secmem_free(k);
}

size_t scan_known_window(const struct scan_known *k)
{
	return k->window;
}

/* Position p passed the filter: find the longest pattern that matches in full. */
static int check_position(const struct scan_known *k, const uint8_t *buf, size_t len, size_t p,
			  uint64_t base, uint32_t file, scan_emit_fn *emit, void *ctx)
{
	const struct pattern *best = NULL;
	struct scan_hit h;
	uint64_t head;
	unsigned i;

	if (len - p < 16)
		return 0;
	head = ld64(buf + p);
	for (i = 0; i < k->npat; i++) {
		const struct pattern *pt = &k->pat[i];

		if (pt->prefix != head || len - p < pt->len)
			continue;
		if (best && best->len >= pt->len)
			continue;
		if (memcmp(buf + p, k->data + pt->off, pt->len) == 0)
			best = pt;
	}
	if (!best)
		return 0;
	memset(&h, 0, sizeof(h));
	h.offset = base + p;
	h.file = file;
	h.len = best->len;
	h.key_bits = best->key_bits;
	h.what = best->what;
	h.layout = best->layout;
	h.part = best->part;
	return emit(ctx, &h);
}

/* The word at q passed the filter: check each position q - s that a sample says may match. */
static int check_word(const struct scan_known *k, const uint8_t *buf, size_t len, size_t limit,
		      size_t q, uint64_t base, uint32_t file, scan_emit_fn *emit, void *ctx)
{
	uint64_t w = ld64(buf + q);
	unsigned shifts = 0, i, sh;
	int r;

	for (i = 0; i < k->nsamples; i++)
		if (k->samples[i].word == w)
			shifts |= 1u << k->samples[i].shift;
	for (sh = 0; sh < 8; sh++) {
		if (!(shifts & (1u << sh)) || q < sh || q - sh >= limit)
			continue;
		r = check_position(k, buf, len, q - sh, base, file, emit, ctx);
		if (r < 0)
			return r;
	}
	return 0;
}

int scan_known_buf(const struct scan_known *k, const uint8_t *buf, size_t len, size_t limit,
		   uint64_t base, uint32_t file, scan_emit_fn *emit, void *ctx)
{
	const uint8_t *filter = k->filter;
	size_t q, end;
	int r;

	if (limit > len)
		limit = len;
	/* Words at q < limit + 8 cover every position below limit; each must fit in buf. */
	end = len >= 8 ? len - 7 : 0;
	if (end > limit + 7)
		end = limit + 7;
	for (q = 0; q < end; q += 8) {
		unsigned h = sample_hash(ld64(buf + q));

		if (__builtin_expect(filter[h >> 3] & (1u << (h & 7)), 0)) {
			r = check_word(k, buf, len, limit, q, base, file, emit, ctx);
			if (r < 0)
				return r;
		}
	}
	return 0;
}
