/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* --header: AES keys found in a dump, paired into volume key candidates, tested against a LUKS
 * digest. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/backend.h"
#include "format/keyslot.h"
#include "io/storage.h"
#include "scan/scan_internal.h"
#include "base/log.h"
#include "base/util.h"

/* Each test is one PBKDF2 of the digest's iteration count (cryptsetup aims at 1/8 s). */
#define MAX_DIGEST_TESTS 1024
#define MAX_UNIQUE_KEYS	 256
/* XTS key halves whose schedules lie this close are tried first (one cipher context). */
#define NEAR_BYTES 4096

/* Reads the LUKS1 or LUKS2 metadata of path, read-only. */
static int load_header(const char *path, struct luks_meta *m)
{
	struct storage *st = NULL;
	int r;

	r = storage_open(path, STORAGE_RDONLY, &st);
	if (r < 0)
		return r;
	r = luks_meta_load(st, m, NULL);
	storage_free(st);
	return r;
}

/* The volume key length of the data segment's digest: from a keyslot that the digest covers. */
static size_t volume_key_len(const struct luks_meta *m, int digest)
{
	int i;

	if (m->version == 1)
		return m->key_size;
	for (i = 0; i < LUKS_MAX_KEYSLOTS; i++)
		if (m->keyslots[i].kind == LUKS_KEYSLOT_LUKS2 && m->keyslots[i].digest == digest)
			return m->keyslots[i].key_size;
	return 0;
}

struct matcher {
	const struct luks_meta *m;
	int digest;
	const struct scan_hits *hits;
	size_t uniq[MAX_UNIQUE_KEYS]; /* hit indices of distinct keys */
	size_t nuniq;
	size_t aes_len;
	uint8_t *vk; /* secmem candidate */
	struct scan_header_match *out;
};

static bool same_key(const struct matcher *x, size_t a, size_t b)
{
	return crypto_memeq(x->hits->v[a].key, x->hits->v[b].key, x->aes_len);
}

/* Distinct AES keys of the needed size among the any-mode hits, first occurrence kept. */
static void collect_keys(struct matcher *x)
{
	size_t i, j;

	for (i = 0; i < x->hits->n && x->nuniq < MAX_UNIQUE_KEYS; i++) {
		const struct scan_hit *h = &x->hits->v[i];

		if (h->part != SCAN_PART_NONE || h->key_bits != x->aes_len * 8)
			continue;
		for (j = 0; j < x->nuniq && !same_key(x, x->uniq[j], i); j++)
			;
		if (j == x->nuniq)
			x->uniq[x->nuniq++] = i;
	}
	if (x->nuniq == MAX_UNIQUE_KEYS)
		log_warn("more than %d distinct AES keys found; testing the first ones only",
			 MAX_UNIQUE_KEYS);
}

/* Tests key a (and b, the XTS tweak key, unless b == SIZE_MAX). 1 on a match. */
static int try(struct matcher *x, size_t a, size_t b)
{
	int r;

	if (x->out->tested >= MAX_DIGEST_TESTS) {
		x->out->skipped++;
		return 0;
	}
	memcpy(x->vk, x->hits->v[a].key, x->aes_len);
	if (b != SIZE_MAX)
		memcpy(x->vk + x->aes_len, x->hits->v[b].key, x->aes_len);
	x->out->tested++;
	r = luks_volume_key_verify(x->m, x->digest, x->vk,
				   b != SIZE_MAX ? 2 * x->aes_len : x->aes_len);
	if (r == 1) {
		x->out->matched = true;
		x->out->hit_a = a;
		x->out->hit_b = b == SIZE_MAX ? a : b;
	}
	return r;
}

static bool near(const struct scan_hit *a, const struct scan_hit *b)
{
	uint64_t d = a->offset > b->offset ? a->offset - b->offset : b->offset - a->offset;

	return a->file == b->file && d <= NEAR_BYTES;
}

/*
 * XTS: ordered pairs (data key, tweak key) of distinct keys; pairs found
 * close together first, since a cipher context keeps both schedules side by
 * side (the kernel puts the tweak key's first, OpenSSL the data key's).
 */
static int try_pairs(struct matcher *x)
{
	size_t i, j, pass;
	int r = 0;

	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < x->nuniq; i++) {
			for (j = 0; j < x->nuniq; j++) {
				const struct scan_hit *a = &x->hits->v[x->uniq[i]];
				const struct scan_hit *b = &x->hits->v[x->uniq[j]];

				if (i == j || near(a, b) != (pass == 0))
					continue;
				r = try(x, x->uniq[i], x->uniq[j]);
				if (r != 0)
					return r;
			}
		}
	}
	return 0;
}

int scan_header_match(const char *path, const struct scan_hits *hits,
		      struct scan_header_match *ret_m)
{
	struct luks_meta m;
	struct matcher x = {.hits = hits, .out = ret_m};
	size_t vk_len, i;
	int seg, dig, r;
	bool xts;

	memset(ret_m, 0, sizeof(*ret_m));
	memset(&m, 0, sizeof(m));
	r = load_header(path, &m);
	if (r < 0)
		return r;
	seg = luks_meta_data_segment(&m);
	dig = seg < 0 ? -1 : luks_meta_segment_digest(&m, seg);
	vk_len = dig < 0 ? 0 : volume_key_len(&m, dig);
	if (vk_len == 0 || vk_len > 64) {
		log_err("%s: the header has no digest for its data segment", path);
		r = VMC_ECORRUPT;
		goto out;
	}
	snprintf(ret_m->cipher, sizeof(ret_m->cipher), "%s", m.segments[seg].cipher);
	ret_m->key_len = vk_len;
	ret_m->loaded = true;
	xts = strstr(m.segments[seg].cipher, "-xts-") != NULL;
	x.aes_len = xts ? vk_len / 2 : vk_len;
	if (strncmp(m.segments[seg].cipher, "aes-", 4) != 0 ||
	    (x.aes_len != 16 && x.aes_len != 24 && x.aes_len != 32)) {
		log_err("%s: cipher %s with a %zu-byte key is not AES: no candidates", path,
			m.segments[seg].cipher, vk_len);
		r = VMC_ENOTSUP;
		goto out;
	}
	x.m = &m;
	x.digest = dig;
	x.vk = secmem_alloc(vk_len);
	if (!x.vk) {
		r = -ENOMEM;
		goto out;
	}
	collect_keys(&x);
	if (xts) {
		r = try_pairs(&x);
	} else {
		for (i = 0, r = 0; i < x.nuniq && r == 0; i++)
			r = try(&x, x.uniq[i], SIZE_MAX);
	}
	if (r > 0)
		r = 0;
	if (ret_m->skipped)
		log_warn("%s: %u candidate keys not tested (at most %d digest computations)", path,
			 ret_m->skipped, MAX_DIGEST_TESTS);
out:
	secmem_free(x.vk);
	luks_meta_clear(&m);
	return r;
}
