/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Any-schedule engine: AES-128/192/256 key schedules at any byte offset, tolerating bit errors. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/aes_schedule.h"
#include "crypto/backend.h"
#include "scan/scan_internal.h"

/*
 * The search follows aeskeyfind (Halderman et al., "Lest We Remember"): a
 * window of 4(Nr+1) words is an AES schedule when every word follows from the
 * earlier ones by the FIPS-197 key expansion,
 *
 *	w[i] = w[i-Nk] ^ T_i(w[i-1]),
 *
 * where T_i is SubWord(RotWord()) ^ Rcon for i % Nk == 0, SubWord() for
 * AES-256 and i % 8 == 4, and the identity otherwise. Three stages:
 *
 * 1. per byte offset and per (key size, direction), one linear relation
 *    (T_i the identity) must hold within max_bit_errors bits. XOR relations do
 *    not care in which order a word's bytes are stored, so one test covers both
 *    layouts; and InvMixColumns is linear per word, so the same relations hold
 *    between the middle round keys of a decryption schedule;
 * 2. all linear relations together within 3 * max_bit_errors bits (a flipped
 *    bit enters at most three relations), the window not constant and about
 *    half of its bits set;
 * 3. the key is recovered from each run of Nk consecutive words by running the
 *    relation backwards, expanded again by OpenSSL (aes_schedule_encrypt() or
 *    _decrypt()), and the window accepted when the nearest such schedule is at
 *    most max_bit_errors bits away. The key reported is that nearest one.
 *
 * The relation needs the S-box. It is not typed in but read out of OpenSSL's
 * own key expansion (aes_sbox()), so this file holds no copy of AES and the
 * schedules it accepts are by construction the ones OpenSSL computes.
 */

#define NCOMBO	6 /* {AES-128, AES-192, AES-256} x {encryption, decryption} */
#define MAX_REL 64

struct rel {
	uint16_t a, b, c; /* byte offsets in the window: w[a] = w[b] ^ w[c] */
};

struct combo {
	size_t key_len;
	unsigned nk, nr, nwords;
	size_t win; /* bytes */
	bool decrypt;
	struct rel rels[MAX_REL];
	unsigned nrels;
};

struct scan_any {
	unsigned max_bit_errors;
	const uint8_t *sbox;
	uint8_t rcon[16];
	struct combo combos[NCOMBO];
};

static inline uint32_t ld32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint64_t ld64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* Word i of the schedule as a little-endian integer of its FIPS-197 bytes. */
static inline uint32_t word_le(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void store_word_le(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* Position (word index in the window) of encryption word i in a decryption schedule. */
static unsigned dec_pos(const struct combo *c, unsigned i)
{
	return 4 * (c->nr - i / 4) + i % 4;
}

static bool linear_index(const struct combo *c, unsigned i)
{
	return i % c->nk != 0 && !(c->nk == 8 && i % 8 == 4);
}

static void combo_init(struct combo *c, size_t key_len, bool decrypt)
{
	unsigned i, a, b, d, round_a, round_b, round_d;

	memset(c, 0, sizeof(*c));
	c->key_len = key_len;
	c->nk = (unsigned)key_len / 4;
	c->nr = c->nk + 6;
	c->nwords = 4 * (c->nr + 1);
	c->win = 4 * (size_t)c->nwords;
	c->decrypt = decrypt;
	for (i = c->nk; i < c->nwords && c->nrels < MAX_REL; i++) {
		if (!linear_index(c, i))
			continue;
		if (!decrypt) {
			a = i;
			b = i - 1;
			d = i - c->nk;
		} else {
			/* Only between round keys that all carry InvMixColumns. */
			round_a = i / 4;
			round_b = (i - 1) / 4;
			round_d = (i - c->nk) / 4;
			if (round_a == c->nr || round_b == 0 || round_d == 0)
				continue;
			a = dec_pos(c, i);
			b = dec_pos(c, i - 1);
			d = dec_pos(c, i - c->nk);
		}
		c->rels[c->nrels++] =
		    (struct rel){(uint16_t)(4 * a), (uint16_t)(4 * b), (uint16_t)(4 * d)};
	}
}

int scan_any_new(unsigned max_bit_errors, struct scan_any **ret_a)
{
	static const size_t key_lens[3] = {16, 24, 32};
	struct scan_any *a;
	unsigned k, i;

	if (max_bit_errors > SCAN_MAX_BIT_ERRORS)
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->max_bit_errors = max_bit_errors;
	a->sbox = aes_sbox();
	if (!a->sbox) {
		free(a);
		return -EIO;
	}
	/* Rcon[i] = x^(i-1) in GF(2^8). */
	a->rcon[1] = 1;
	for (i = 2; i < sizeof(a->rcon); i++)
		a->rcon[i] =
		    (uint8_t)((a->rcon[i - 1] << 1) ^ ((a->rcon[i - 1] & 0x80) ? 0x1b : 0));
	for (k = 0; k < 3; k++) {
		combo_init(&a->combos[2 * k], key_lens[k], false);
		combo_init(&a->combos[2 * k + 1], key_lens[k], true);
	}
	/* Stage 1 tests the relation whose words come first in the window. */
	for (k = 0; k < NCOMBO; k++) {
		struct combo *c = &a->combos[k];
		unsigned best = 0, best_max = ~0u, m;

		for (i = 0; i < c->nrels; i++) {
			m = c->rels[i].a;
			if (c->rels[i].b > m)
				m = c->rels[i].b;
			if (c->rels[i].c > m)
				m = c->rels[i].c;
			if (m < best_max) {
				best_max = m;
				best = i;
			}
		}
		struct rel t = c->rels[0];
		c->rels[0] = c->rels[best];
		c->rels[best] = t;
	}
	*ret_a = a;
	return 0;
}

void scan_any_free(struct scan_any *a)
{
	free(a);
}

static inline uint32_t sub_word(const uint8_t *sbox, uint32_t v)
{
	return (uint32_t)sbox[v & 0xff] | (uint32_t)sbox[(v >> 8) & 0xff] << 8 |
	       (uint32_t)sbox[(v >> 16) & 0xff] << 16 | (uint32_t)sbox[v >> 24] << 24;
}

/* T_i of the key expansion, on little-endian words. */
static inline uint32_t expand_t(const struct scan_any *a, const struct combo *c, unsigned i,
				uint32_t prev)
{
	if (i % c->nk == 0)
		return sub_word(a->sbox, (prev >> 8) | (prev << 24)) ^ a->rcon[i / c->nk];
	if (c->nk == 8 && i % 8 == 4)
		return sub_word(a->sbox, prev);
	return prev;
}

static unsigned hamming(const uint8_t *x, const uint8_t *y, size_t len, unsigned stop)
{
	unsigned d = 0;
	size_t i;

	for (i = 0; i + 8 <= len && d <= stop; i += 8) {
		uint64_t u, v;

		memcpy(&u, x + i, 8);
		memcpy(&v, y + i, 8);
		d += (unsigned)__builtin_popcountll(u ^ v);
	}
	for (; i < len; i++)
		d += (unsigned)__builtin_popcount((unsigned)(x[i] ^ y[i]));
	return d;
}

/* Stage 2: every linear relation, the window's variety and bit density. */
static bool stage2(const struct scan_any *a, const struct combo *c, const uint8_t *w)
{
	unsigned budget = 3 * a->max_bit_errors, sum = 0, ones, i;

	for (i = 0; i < c->nrels; i++) {
		const struct rel *r = &c->rels[i];

		sum +=
		    (unsigned)__builtin_popcount(ld32(w + r->a) ^ ld32(w + r->b) ^ ld32(w + r->c));
		if (sum > budget)
			return false;
	}
	ones = 0;
	for (i = 0; i < c->win; i += 8) {
		uint64_t v;

		memcpy(&v, w + i, 8);
		ones += (unsigned)__builtin_popcountll(v);
	}
	return ones * 3 >= c->win * 8 && ones * 3 <= c->win * 16;
}

/*
 * Stage 3 for one layout: the encryption schedule words of the window (e, as
 * little-endian words), the window as it sits in memory (mem). Tries each run
 * of Nk words as a correct stretch, and keeps the nearest schedule.
 */
static bool recover(const struct scan_any *a, const struct combo *c, const uint32_t *e,
		    const uint8_t *mem, bool swapped, unsigned *best, uint8_t *best_key)
{
	uint32_t w[60];
	uint8_t key[32], sched[AES_SCHEDULE_MAX];
	unsigned s, j, i, d, k;
	bool found = false;
	int r;

	for (s = 0; s + c->nk <= c->nwords && *best > 0; s++) {
		memcpy(w + s, e + s, c->nk * sizeof(uint32_t));
		/* w[j] = w[j+Nk] ^ T_{j+Nk}(w[j+Nk-1]), down to the key. */
		for (j = s; j-- > 0;) {
			i = j + c->nk;
			w[j] = w[i] ^ expand_t(a, c, i, w[i - 1]);
		}
		for (k = 0; k < c->nk; k++)
			store_word_le(key + 4 * k, w[k]);
		r = c->decrypt ? aes_schedule_decrypt(key, c->key_len, sched)
			       : aes_schedule_encrypt(key, c->key_len, sched);
		if (r < 0)
			break;
		if (swapped)
			aes_schedule_swap_words(sched, sched, c->win);
		d = hamming(sched, mem, c->win, *best);
		if (d < *best) {
			*best = d;
			memcpy(best_key, key, c->key_len);
			found = true;
		}
	}
	explicit_bzero(w, sizeof(w));
	explicit_bzero(key, sizeof(key));
	explicit_bzero(sched, sizeof(sched));
	return found;
}

/* The encryption schedule words (little-endian) of a window in FIPS-197 byte order. */
static void to_enc_words(const struct combo *c, const uint8_t *fips, uint32_t *e)
{
	uint8_t col[4];
	unsigned r, j, src;

	for (r = 0; r <= c->nr; r++) {
		src = c->decrypt ? c->nr - r : r;
		for (j = 0; j < 4; j++) {
			memcpy(col, fips + 16 * src + 4 * j, 4);
			if (c->decrypt && r != 0 && r != c->nr)
				aes_mix_column(col);
			e[4 * r + j] = word_le(col);
		}
	}
	explicit_bzero(col, sizeof(col));
}

static bool stage3(const struct scan_any *a, const struct combo *c, const uint8_t *w,
		   struct scan_hit *h)
{
	uint8_t fips[AES_SCHEDULE_MAX], key[32];
	uint32_t e[60];
	unsigned best = a->max_bit_errors + 1, layout;
	int found_layout = -1;

	for (layout = 0; layout < 2 && best > 0; layout++) {
		if (layout == SCAN_LAYOUT_WORDS)
			aes_schedule_swap_words(w, fips, c->win);
		else
			memcpy(fips, w, c->win);
		to_enc_words(c, fips, e);
		if (recover(a, c, e, w, layout == SCAN_LAYOUT_WORDS, &best, key))
			found_layout = (int)layout;
	}
	if (found_layout >= 0) {
		memset(h, 0, sizeof(*h));
		h->what = c->decrypt ? SCAN_WHAT_DEC_SCHEDULE : SCAN_WHAT_ENC_SCHEDULE;
		h->layout = (uint8_t)found_layout;
		h->part = SCAN_PART_NONE;
		h->len = (uint16_t)c->win;
		h->key_bits = (uint16_t)(c->key_len * 8);
		h->bit_errors = (uint8_t)best;
		memcpy(h->key, key, c->key_len);
	}
	explicit_bzero(fips, sizeof(fips));
	explicit_bzero(key, sizeof(key));
	explicit_bzero(e, sizeof(e));
	return found_layout >= 0;
}

bool scan_any_check_window(const struct scan_any *a, const uint8_t *w, size_t nbytes,
			   size_t key_len, bool decrypt, struct scan_hit *h)
{
	unsigned k;

	for (k = 0; k < NCOMBO; k++) {
		const struct combo *c = &a->combos[k];

		if (c->key_len != key_len || c->decrypt != decrypt || nbytes < c->win)
			continue;
		return stage2(a, c, w) && stage3(a, c, w, h);
	}
	return false;
}

/* Stage 1 passed for combo c at w: run the rest, emit on success. */
static int candidate(const struct scan_any *a, const struct combo *c, const uint8_t *w,
		     uint64_t off, uint32_t file, scan_emit_fn *emit, void *ctx)
{
	struct scan_hit h;
	int r;

	/* A constant window (zero pages) satisfies every linear relation. */
	if (ld32(w + c->rels[0].a) == ld32(w + c->rels[0].b))
		return 0;
	if (!stage2(a, c, w) || !stage3(a, c, w, &h))
		return 0;
	h.offset = off;
	h.file = file;
	r = emit(ctx, &h);
	explicit_bzero(&h, sizeof(h));
	return r;
}

/* Length of the run of zero bytes at p (at most max). */
static size_t zero_run(const uint8_t *p, size_t max)
{
	size_t n = 0;

	while (n + 8 <= max && ld64(p + n) == 0)
		n += 8;
	while (n < max && p[n] == 0)
		n++;
	return n;
}

/*
 * Stage 1 over positions [from, to): the first relation of each combo, and
 * when it holds, the second too (the sum within max_bit_errors). Inlined with
 * constant exact (no bit errors: plain compares instead of population counts)
 * and check_len (near the end of the buffer, where only shorter windows fit).
 */
static inline __attribute__((always_inline)) int
scan_range(const struct scan_any *a, const struct rel *s1, const struct rel *s2, const uint8_t *buf,
	   size_t len, size_t from, size_t to, uint64_t base, uint32_t file, scan_emit_fn *emit,
	   void *ctx, const bool exact, const bool check_len)
{
	const unsigned n = a->max_bit_errors;
	size_t p, k, z;
	int r;

	for (p = from; p < to; p++) {
		const uint8_t *w = buf + p;

		for (k = 0; k < NCOMBO; k++) {
			uint32_t x, y;
			unsigned bits = 0;

			if (check_len && len - p < a->combos[k].win)
				continue;
			x = ld32(w + s1[k].a) ^ ld32(w + s1[k].b) ^ ld32(w + s1[k].c);
			if (exact ? x != 0 : (bits = (unsigned)__builtin_popcount(x)) > n)
				continue;
			y = ld32(w + s2[k].a) ^ ld32(w + s2[k].b) ^ ld32(w + s2[k].c);
			if (exact ? y != 0 : bits + (unsigned)__builtin_popcount(y) > n)
				continue;
			/*
			 * Zero pages satisfy every linear relation: skip to where a
			 * window can first reach past the zero run.
			 */
			z = zero_run(w, len - p);
			if (z >= SCAN_ANY_WINDOW) {
				p += z - SCAN_ANY_WINDOW;
				break;
			}
			r = candidate(a, &a->combos[k], w, base + p, file, emit, ctx);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* The tolerant scan counts bits: use the POPCNT instruction where the CPU has it. */
__attribute__((target_clones("popcnt", "default"))) static int
scan_range_tolerant(const struct scan_any *a, const struct rel *s1, const struct rel *s2,
		    const uint8_t *buf, size_t len, size_t from, size_t to, uint64_t base,
		    uint32_t file, scan_emit_fn *emit, void *ctx)
{
	return scan_range(a, s1, s2, buf, len, from, to, base, file, emit, ctx, false, false);
}

int scan_any_buf(const struct scan_any *a, const uint8_t *buf, size_t len, size_t limit,
		 uint64_t base, uint32_t file, scan_emit_fn *emit, void *ctx)
{
	struct rel s1[NCOMBO], s2[NCOMBO];
	size_t full, k;
	int r;

	for (k = 0; k < NCOMBO; k++) {
		s1[k] = a->combos[k].rels[0];
		s2[k] = a->combos[k].rels[1];
	}
	if (limit > len)
		limit = len;
	/* Positions where the longest window fits: no length test per combo. */
	full = len >= SCAN_ANY_WINDOW ? len - SCAN_ANY_WINDOW + 1 : 0;
	if (full > limit)
		full = limit;
	if (a->max_bit_errors == 0)
		r = scan_range(a, s1, s2, buf, len, 0, full, base, file, emit, ctx, true, false);
	else
		r = scan_range_tolerant(a, s1, s2, buf, len, 0, full, base, file, emit, ctx);
	if (r < 0)
		return r;
	return scan_range(a, s1, s2, buf, len, full, limit, base, file, emit, ctx, false, true);
}
