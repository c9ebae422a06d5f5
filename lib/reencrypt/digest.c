/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The re-encryption digest: binds the reencrypt keyslot, segments and keys
 * (docs/REENCRYPT-NOTES.md 2.3). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "reencrypt/reencrypt_internal.h"
#include "format/keyslot.h"
#include "format/luks2_json.h"

struct mbuf {
	uint8_t *p;
	size_t len, cap;
	bool overflow;
};

static void m_put(struct mbuf *b, const void *data, size_t len)
{
	if (b->len + len > b->cap) {
		b->overflow = true;
		return;
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
}

static void m_str(struct mbuf *b, const char *s)
{
	m_put(b, s, strlen(s));
}

static void m_be64(struct mbuf *b, uint64_t v)
{
	uint8_t x[8];
	store_be64(x, v);
	m_put(b, x, 8);
}

static void m_be32(struct mbuf *b, uint32_t v)
{
	uint8_t x[4];
	store_be32(x, v);
	m_put(b, x, 4);
}

static void m_segment(struct mbuf *b, const struct luks_segment *s)
{
	m_str(b, s->kind == LUKS_SEGMENT_CRYPT ? "crypt" : "linear");
	m_be64(b, s->offset);
	if (s->dynamic)
		m_str(b, "dynamic");
	else
		m_be64(b, s->size);
	if (s->kind == LUKS_SEGMENT_CRYPT) {
		m_be64(b, s->iv_tweak);
		m_str(b, s->cipher);
		m_be32(b, s->sector_size);
	}
}

/* The digest input M (secmem, keys inside). */
static int reenc_message(const struct luks_meta *m, int ks, const uint8_t *k_old, size_t k_old_len,
			 const uint8_t *k_new, size_t k_new_len, struct mbuf *b)
{
	const struct luks_keyslot *k = &m->keyslots[ks];
	const struct luks_reenc *re = &k->reenc;
	int prev = reenc_backup_segment(m, FLAG_PREV), final = reenc_backup_segment(m, FLAG_FINAL);
	int moved = reenc_backup_segment(m, FLAG_MOVED);
	/* The version byte follows the requirement: 3 for decryption with a data shift. */
	uint8_t version[2] = {'v', strncmp(re->type, "datashift-", 10) == 0 ? '3' : '2'};

	if (prev < 0 || final < 0)
		return VMC_ECORRUPT;
	b->p = secmem_alloc(M_MAX);
	if (!b->p)
		return -ENOMEM;
	b->cap = M_MAX;
	m_put(b, version, 2);
	if (k_old)
		m_put(b, k_old, k_old_len);
	if (k_new && (!k_old || k_new != k_old))
		m_put(b, k_new, k_new_len);
	m_str(b, re->mode);
	m_str(b, re->direction);
	m_str(b, re->type);
	m_be64(b, k->area_offset);
	m_be64(b, k->area_size);
	if (strstr(re->type, "checksum")) {
		m_str(b, re->hash);
		m_be32(b, re->sector_size);
	}
	if (strncmp(re->type, "datashift", 9) == 0)
		m_be64(b, re->shift);
	m_segment(b, &m->segments[prev]);
	m_segment(b, &m->segments[final]);
	if (moved >= 0)
		m_segment(b, &m->segments[moved]);
	return b->overflow ? -EINVAL : 0;
}

static int free_digest_id(const struct luks_meta *m)
{
	for (int i = 0; i < LUKS_MAX_DIGESTS; i++)
		if (!m->digests[i].used)
			return i;
	return -1;
}

/* Creates the digest that binds the reencrypt keyslot to both keys and the layouts. */
int reenc_digest_make(struct reenc *re)
{
	struct mbuf b = {0};
	struct luks_digest d;
	int id = free_digest_id(re->m), r;

	if (id < 0)
		return -ENOSPC;
	memset(&d, 0, sizeof(d));
	r = reenc_message(re->m, re->ks, re->k_old, re->k_old_len, re->k_new, re->k_new_len, &b);
	if (r == 0)
		r = luks_digest_make(&d, "sha256", 1000, 32, 32, b.p, b.len);
	secmem_free(b.p);
	if (r < 0)
		return r;
	d.keyslots = 1ull << re->ks;
	return luks2_json_set_digest(re->m->json, id, &d);
}

int reenc_digest_verify(struct reenc *re)
{
	const struct luks_keyslot *k = &re->m->keyslots[re->ks];
	struct mbuf b = {0};
	int r;

	if (k->digest < 0) {
		log_err("the re-encryption metadata has no digest (written by cryptsetup before "
			"2.4.3?): run cryptsetup repair first");
		return VMC_ECORRUPT;
	}
	r = reenc_message(re->m, re->ks, re->k_old, re->k_old_len, re->k_new, re->k_new_len, &b);
	if (r == 0)
		r = luks_digest_verify(&re->m->digests[k->digest], b.p, b.len);
	secmem_free(b.p);
	if (r == 0) {
		log_err("the re-encryption metadata does not match its digest: refusing to touch "
			"the data");
		return VMC_ECORRUPT;
	}
	return r < 0 ? r : 0;
}
