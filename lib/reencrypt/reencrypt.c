/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * LUKS2 re-encryption in the form cryptsetup 2.6 writes (docs/REENCRYPT-NOTES.md),
 * so that either tool can finish what the other started.
 *
 * The state lives entirely in the header: the regular segments say which part
 * of the device has the new layout, the backup segments describe the old and
 * new layouts, the reencrypt keyslot says how the hotzone is protected. Each
 * step moves one hotzone from the old to the new layout:
 *
 *   1. read the hotzone's stored bytes;
 *   2. protect them: checksums (or a copy, for journal) in the reencrypt area;
 *   3. hot commit: the header marks the hotzone in-reencryption;
 *   4. transform in memory, write to the new place, fdatasync;
 *   5. post commit: the hotzone belongs to the new layout.
 *
 * A crash between 3 and 5 leaves a state that recovery repairs from what step 2
 * saved; a crash anywhere else leaves a clean state a resume continues from.
 * The finish is one header write, so no state in between looks like a new start.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>

#include "format/keyslot.h"
#include "format/luks2_json.h"
#include "format/manage.h"
#include "reencrypt/reencrypt.h"
#include "base/log.h"
#include "base/util.h"
#include "base/pipeline.h"
#include "volume/volume.h"
#include "base/workers.h"

#define REQ_V2		"online-reencrypt-v2"
#define REQ_V3		"online-reencrypt-v3" /* decryption with a data shift */
#define FLAG_HOT	"in-reencryption"
#define FLAG_PREV	"backup-previous"
#define FLAG_FINAL	"backup-final"
#define FLAG_MOVED	"backup-moved-segment"
#define HOTZONE_DEFAULT (32ull << 20) /* two in flight: 64 MiB of buffers */
#define CHECKSUM_BLOCK	4096
#define M_MAX		512

/* A re-encryption in progress, derived from the header each time it is needed. */
struct reenc {
	struct storage *hdr, *data;
	struct luks_meta *m;
	int ks;		/* the reencrypt keyslot */
	bool backward;	/* the converted part grows from the end */
	bool to_linear; /* decrypt: the new layout is plaintext */
	bool from_linear;
	struct luks_segment prev, final, moved;
	bool has_moved;	      /* encryption with a data shift: logical [0, moved.size) sits there */
	bool shift_down;      /* decryption moving the data down: forward, moved chunk last */
	int dig_old, dig_new; /* -1 where the layout is linear */
	const uint8_t *k_old, *k_new;
	size_t k_old_len, k_new_len;
	struct volume *v_old, *v_new;
	uint64_t size; /* logical bytes to convert */
	uint32_t align;
	uint64_t hotzone;
	uint8_t *buf;
	const struct reenc_plan *plan;
	/*
	 * The reencrypt keyslot's fields, copied: the model is rewritten at every
	 * commit while the producer thread works.
	 */
	char type[24];
	char hash[LUKS_HASH_MAX];
	uint32_t bs;
	size_t hash_len;
	uint64_t area_off, area_size;
};

void reenc_keys_clear(struct reenc_keys *keys)
{
	for (int i = 0; i < LUKS_MAX_DIGESTS; i++)
		secmem_free(keys->key[i]);
	memset(keys, 0, sizeof(*keys));
}

static int reenc_keyslot(const struct luks_meta *m)
{
	for (int i = 0; i < LUKS_MAX_KEYSLOTS; i++)
		if (m->keyslots[i].kind == LUKS_KEYSLOT_REENCRYPT)
			return i;
	return -1;
}

static int backup_segment(const struct luks_meta *m, const char *flag)
{
	for (int i = 0; i < LUKS_MAX_SEGMENTS; i++)
		if (m->segments[i].kind != LUKS_SEGMENT_UNUSED &&
		    strcmp(m->segments[i].flag, flag) == 0)
			return i;
	return -1;
}

bool reenc_needs_recovery(const struct luks_meta *m)
{
	return backup_segment(m, FLAG_HOT) >= 0;
}

int reenc_unlock(const struct luks_meta *m, struct storage *hdr, const void *pass, size_t pass_len,
		 struct reenc_keys *keys)
{
	int r;

	for (int i = 0; i < LUKS_MAX_KEYSLOTS; i++) {
		const struct luks_keyslot *k = &m->keyslots[i];
		uint8_t *vk = NULL;

		if (k->kind != LUKS_KEYSLOT_LUKS2 || k->digest < 0 || keys->key[k->digest])
			continue;
		r = luks_keyslot_open(m, hdr, i, pass, pass_len, &vk);
		if (r == VMC_EPASS)
			continue;
		if (r < 0)
			return r;
		keys->key[k->digest] = vk;
		keys->len[k->digest] = k->key_size;
	}
	for (int i = 0; i < LUKS_MAX_SEGMENTS; i++) {
		const struct luks_segment *s = &m->segments[i];
		int d;
		if (s->kind != LUKS_SEGMENT_CRYPT)
			continue;
		d = luks_meta_segment_digest(m, i);
		if (d < 0)
			return VMC_ECORRUPT;
		if (!keys->key[d]) {
			bool any = false;
			for (int j = 0; j < LUKS_MAX_DIGESTS; j++)
				any |= keys->key[j] != NULL;
			log_err(
			    any ? "this passphrase opens only one of the two volume keys of the "
				  "unfinished re-encryption; use the passphrase given to the new "
				  "key"
				: "no key available with this passphrase");
			return VMC_EPASS;
		}
	}
	return 0;
}

/* --- the re-encryption digest (docs/REENCRYPT-NOTES.md 2.3) --- */

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
	int prev = backup_segment(m, FLAG_PREV), final = backup_segment(m, FLAG_FINAL);
	int moved = backup_segment(m, FLAG_MOVED);
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
static int reenc_digest_make(struct reenc *re)
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

static int reenc_digest_verify(struct reenc *re)
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

/* --- layouts --- */

/* A piece of layout tmpl covering logical [off, off + len) (len 0: to the end). */
static struct luks_segment piece(const struct luks_segment *tmpl, uint64_t off, uint64_t len,
				 const char *flag)
{
	struct luks_segment s = *tmpl;

	s.offset = tmpl->offset + off;
	s.dynamic = len == 0;
	s.size = len;
	s.iv_tweak = tmpl->kind == LUKS_SEGMENT_CRYPT ? tmpl->iv_tweak + off / LUKS_SECTOR : 0;
	s.backup = false;
	snprintf(s.flag, sizeof(s.flag), "%s", flag ? flag : "");
	return s;
}

static struct luks_segment backup(const struct luks_segment *tmpl, const char *flag)
{
	struct luks_segment s = *tmpl;

	snprintf(s.flag, sizeof(s.flag), "%s", flag);
	s.backup = true;
	return s;
}

/*
 * Sets (in the JSON tree) the state where logical [0, done) (forward) or
 * [done, size) (backward) has the new layout, with [hot, hot + hot_len) in
 * flight when hot_len > 0.
 */
static int layout_state(struct reenc *re, uint64_t done, uint64_t hot, uint64_t hot_len)
{
	struct luks_segment segs[8];
	bool is_new[8];
	uint64_t dmask_old = 0, dmask_new = 0;
	int n = 0;

#define ADD(seg, new_layout)                \
	do {                                \
		segs[n] = (seg);            \
		is_new[n++] = (new_layout); \
	} while (0)
	if (re->shift_down) {
		/*
		 * [moved 0..S) [plaintext S..a) [hot] [old b..end), then the moved
		 * chunk in place: [hot 0..S) [plaintext S..end), then [plaintext].
		 * done runs from S to size, and size + S once the moved chunk is done.
		 */
		uint64_t S = re->moved.size, a = hot_len ? hot : done,
			 b = hot_len ? hot + hot_len : done;
		if (done > re->size) {
			ADD(piece(&re->final, 0, 0, NULL), true);
		} else if (hot_len && hot == 0) {
			ADD(piece(&re->final, 0, S, FLAG_HOT), true);
			ADD(piece(&re->final, S, 0, NULL), true);
		} else {
			ADD(piece(&re->moved, 0, S, NULL), false);
			if (a > S)
				ADD(piece(&re->final, S, !hot_len && a >= re->size ? 0 : a - S,
					  NULL),
				    true);
			if (hot_len)
				ADD(piece(&re->final, hot, hot_len, FLAG_HOT), true);
			if (b < re->size)
				ADD(piece(&re->prev, b, 0, NULL), false);
		}
	} else if (re->has_moved) {
		/* [moved 0..S) [plaintext S..a) [hot] [new b..end): backward, data shifted. */
		uint64_t S = re->moved.size, a = hot_len ? hot : done,
			 b = hot_len ? hot + hot_len : done;
		if (a >= S)
			ADD(piece(&re->moved, 0, S, NULL), false);
		if (a > S)
			ADD(piece(&re->prev, S, a - S, NULL), false);
		if (hot_len)
			ADD(piece(&re->final, hot, hot_len, FLAG_HOT), true);
		if (b < re->size)
			ADD(piece(&re->final, b, !hot_len && b == 0 ? 0 : re->size - b, NULL),
			    true);
	} else if (!re->backward) {
		/* [new 0..a) [hot] [old b..end) */
		uint64_t a = hot_len ? hot : done, b = hot_len ? hot + hot_len : done;
		if (a > 0)
			ADD(piece(&re->final, 0, !hot_len && a >= re->size ? 0 : a, NULL), true);
		if (hot_len)
			ADD(piece(&re->final, hot, hot_len, FLAG_HOT), true);
		if (b < re->size)
			ADD(piece(&re->prev, b, 0, NULL), false);
	} else {
		/* [old 0..a) [hot] [new b..end) */
		uint64_t a = hot_len ? hot : done, b = hot_len ? hot + hot_len : done;
		if (a > 0)
			ADD(piece(&re->prev, 0, !hot_len && a >= re->size ? 0 : a, NULL), false);
		if (hot_len)
			ADD(piece(&re->final, hot, hot_len, FLAG_HOT), true);
		if (b < re->size)
			ADD(piece(&re->final, b, 0, NULL), true);
	}
	ADD(backup(&re->prev, FLAG_PREV), false);
	ADD(backup(&re->final, FLAG_FINAL), true);
	if (re->has_moved)
		ADD(backup(&re->moved, FLAG_MOVED), false);
#undef ADD
	for (int i = 0; i < n; i++) {
		if (segs[i].kind != LUKS_SEGMENT_CRYPT)
			continue;
		if (is_new[i])
			dmask_new |= 1ull << i;
		else
			dmask_old |= 1ull << i;
	}
	{
		int r = luks2_json_set_segments(re->m->json, segs, n);
		struct luks_digest d;
		if (r < 0)
			return r;
		if (re->dig_old >= 0) {
			d = re->m->digests[re->dig_old];
			d.segments = dmask_old;
			if ((r = luks2_json_set_digest(re->m->json, re->dig_old, &d)) < 0)
				return r;
		}
		if (re->dig_new >= 0) {
			d = re->m->digests[re->dig_new];
			d.segments = dmask_new;
			if ((r = luks2_json_set_digest(re->m->json, re->dig_new, &d)) < 0)
				return r;
		}
	}
	return 0;
}

/* Writes that state: a commit point. */
static int commit_state(struct reenc *re, uint64_t done, uint64_t hot, uint64_t hot_len)
{
	int r = layout_state(re, done, hot, hot_len);
	return r < 0 ? r : luks_meta_commit(re->hdr, re->m);
}

/* --- loading a state --- */

static void reenc_clear(struct reenc *re)
{
	volume_free(re->v_old);
	volume_free(re->v_new);
	free(re->buf);
	re->v_old = re->v_new = NULL;
	re->buf = NULL;
}

static int layout_volume(struct reenc *re, const struct luks_segment *s, const uint8_t *key,
			 size_t key_len, struct volume **ret)
{
	struct volume_spec spec = {
	    .offset = s->offset,
	    .size = re->size,
	    .iv_tweak = s->iv_tweak,
	    .cipher = s->kind == LUKS_SEGMENT_CRYPT ? s->cipher : NULL,
	    .sector_size = s->sector_size,
	    .key = key,
	    .key_len = key_len,
	};
	return volume_new(re->data, &spec, 1, 0, ret);
}

static int reenc_load(struct reenc *re, struct storage *hdr, struct storage *data,
		      struct luks_meta *m, const struct reenc_keys *keys,
		      const struct reenc_plan *plan)
{
	const struct luks_reenc *rk;
	int prev, final, r;
	uint64_t dev = 0;

	memset(re, 0, sizeof(*re));
	re->hdr = hdr;
	re->data = data;
	re->m = m;
	re->plan = plan;
	re->ks = reenc_keyslot(m);
	prev = backup_segment(m, FLAG_PREV);
	final = backup_segment(m, FLAG_FINAL);
	if (re->ks < 0 || prev < 0 || final < 0 || !m->reencrypt) {
		log_err("the re-encryption metadata is incomplete");
		return VMC_ECORRUPT;
	}
	rk = &m->keyslots[re->ks].reenc;
	re->backward = strcmp(rk->direction, "backward") == 0;
	snprintf(re->type, sizeof(re->type), "%s", rk->type);
	snprintf(re->hash, sizeof(re->hash), "%s", rk->hash);
	re->bs = rk->sector_size;
	re->area_off = m->keyslots[re->ks].area_offset;
	re->area_size = m->keyslots[re->ks].area_size;
	if (strstr(rk->type, "checksum")) {
		int hl = crypto_hash_len(rk->hash);
		if (hl <= 0) {
			log_err("re-encryption checksum hash '%s' is not supported", rk->hash);
			return VMC_ENOTSUP;
		}
		re->hash_len = (size_t)hl;
	}
	re->prev = m->segments[prev];
	re->final = m->segments[final];
	if (backup_segment(m, FLAG_MOVED) >= 0) {
		re->moved = m->segments[backup_segment(m, FLAG_MOVED)];
		re->has_moved = true;
	}
	/*
	 * Supported data shifts: encryption moving the data up (backward, linear
	 * moved chunk, done last) and decryption moving it down (forward, crypt
	 * moved chunk at offset 0, converted in place at the end).
	 */
	re->shift_down = re->has_moved && !re->backward;
	if ((strncmp(rk->type, "datashift", 9) == 0 || re->has_moved) &&
	    !(re->has_moved && !re->moved.dynamic && re->moved.size &&
	      ((strcmp(rk->type, "datashift") == 0 && re->backward && re->moved.size <= rk->shift &&
		strcmp(rk->mode, "encrypt") == 0 && re->moved.kind == LUKS_SEGMENT_LINEAR &&
		re->final.offset == re->prev.offset + rk->shift && !re->prev.dynamic) ||
	       (strcmp(rk->type, "datashift-checksum") == 0 && !re->backward &&
		strcmp(rk->mode, "decrypt") == 0 && re->moved.kind == LUKS_SEGMENT_CRYPT &&
		re->moved.size <= rk->shift && re->moved.offset == 0 &&
		re->final.kind == LUKS_SEGMENT_LINEAR && re->final.offset == 0 &&
		re->prev.offset == rk->shift)))) {
		log_err("this kind of re-encryption with a data shift is not supported by this "
			"version; finish it with cryptsetup reencrypt --resume-only");
		return VMC_ENOTSUP;
	}
	re->from_linear = re->prev.kind != LUKS_SEGMENT_CRYPT;
	re->to_linear = re->final.kind != LUKS_SEGMENT_CRYPT;
	re->dig_old = re->from_linear ? -1 : luks_meta_segment_digest(m, prev);
	re->dig_new = re->to_linear ? -1 : luks_meta_segment_digest(m, final);
	if ((!re->from_linear && re->dig_old < 0) || (!re->to_linear && re->dig_new < 0))
		return VMC_ECORRUPT;
	if (keys) {
		if (re->dig_old >= 0) {
			re->k_old = keys->key[re->dig_old];
			re->k_old_len = keys->len[re->dig_old];
		}
		if (re->dig_new >= 0) {
			re->k_new = keys->key[re->dig_new];
			re->k_new_len = keys->len[re->dig_new];
		}
		if ((re->dig_old >= 0 && !re->k_old) || (re->dig_new >= 0 && !re->k_new))
			return VMC_EPASS;
	}
	if (re->prev.offset != re->final.offset && !re->has_moved) {
		log_err("re-encryption that moves the data is not supported by this version");
		return VMC_ENOTSUP;
	}
	re->align = re->prev.sector_size > re->final.sector_size ? re->prev.sector_size
								 : re->final.sector_size;
	if (re->align < CHECKSUM_BLOCK)
		re->align = CHECKSUM_BLOCK;
	if (strstr(rk->type, "checksum") && rk->sector_size > re->align)
		re->align = rk->sector_size;
	if ((r = storage_size(data, &dev)) < 0)
		return r;
	if (dev < re->final.offset)
		return VMC_ECORRUPT;
	/* The logical size: what fits whole sectors of both layouts. */
	re->size =
	    (dev - (re->shift_down ? re->prev.offset : re->final.offset)) / re->align * re->align;
	if (!re->prev.dynamic && (re->prev.size < re->size || re->has_moved))
		re->size = re->prev.size;
	if (!keys)
		return 0;
	if ((r = layout_volume(re, &re->prev, re->k_old, re->k_old_len, &re->v_old)) < 0 ||
	    (r = layout_volume(re, &re->final, re->k_new, re->k_new_len, &re->v_new)) < 0)
		return r;
	return 0;
}

/* The regular segments in id order, and the in-reencryption one if any. */
static int regular_segments(const struct luks_meta *m, const struct luks_segment **ret,
			    int *ret_hot)
{
	int n = 0;

	*ret_hot = -1;
	for (int i = 0; i < LUKS_MAX_SEGMENTS; i++) {
		const struct luks_segment *s = &m->segments[i];
		if (s->kind == LUKS_SEGMENT_UNUSED || s->backup)
			continue;
		if (strcmp(s->flag, FLAG_HOT) == 0)
			*ret_hot = n;
		ret[n++] = s;
	}
	return n;
}

/* Is regular segment s in the new layout? */
static bool is_new_layout(const struct reenc *re, const struct luks_segment *s)
{
	if (s->kind != re->final.kind)
		return false;
	if (s->kind == LUKS_SEGMENT_LINEAR)
		return true;
	if (re->from_linear)
		return true;
	return luks_meta_segment_digest(re->m, (int)(s - re->m->segments)) == re->dig_new;
}

/* Where the converted part ends (forward) or starts (backward), from the segments. */
static int progress_of(const struct reenc *re, uint64_t *ret_done, uint64_t *ret_hot,
		       uint64_t *ret_hot_len)
{
	const struct luks_segment *regs[LUKS_MAX_SEGMENTS];
	int hot, n = regular_segments(re->m, regs, &hot);
	uint64_t off = 0;

	*ret_hot_len = 0;
	if (hot >= 0) {
		for (int i = 0; i < hot; i++)
			off += regs[i]->size;
		*ret_hot = off;
		*ret_hot_len = regs[hot]->dynamic ? re->size - off : regs[hot]->size;
		*ret_done = re->backward ? off + *ret_hot_len : off;
		if (re->shift_down && off == 0)
			*ret_done = re->size; /* the moved chunk, converted last */
		return 0;
	}
	if (re->shift_down) {
		/* Converted: [S, S + linear sizes); one linear segment alone means all of it. */
		if (n == 1 && regs[0]->kind == LUKS_SEGMENT_LINEAR) {
			*ret_done = re->size + re->moved.size;
			return 0;
		}
		off = re->moved.size;
		for (int i = 0; i < n; i++)
			if (regs[i]->kind == LUKS_SEGMENT_LINEAR)
				off += regs[i]->dynamic ? re->size - off : regs[i]->size;
		*ret_done = off;
		return 0;
	}
	if (re->has_moved) {
		/* Still plaintext: the linear segments (the moved chunk included). */
		for (int i = 0; i < n; i++)
			if (regs[i]->kind == LUKS_SEGMENT_LINEAR)
				off += regs[i]->size;
		*ret_done = off;
		return 0;
	}
	if (n == 1) {
		bool done = is_new_layout(re, regs[0]);
		*ret_done = re->backward ? (done ? 0 : re->size) : (done ? re->size : 0);
		return 0;
	}
	if (n == 2 && !regs[0]->dynamic) {
		*ret_done = regs[0]->size;
		return 0;
	}
	log_err("the re-encryption segments have a layout this version cannot continue");
	return VMC_ECORRUPT;
}

/* --- steps --- */

/* Old stored bytes -> plaintext -> new stored bytes, in place. */
static int transform(struct reenc *re, uint8_t *buf, size_t len, uint64_t off)
{
	int r = volume_crypt(re->v_old, buf, len, off, false);
	if (r == 0)
		r = volume_crypt(re->v_new, buf, len, off, true);
	return r;
}

static bool resilient(const struct reenc *re)
{
	return strcmp(re->type, "none") != 0;
}

/* Where the old layout keeps logical offset off (the moved copy for the first chunk). */
static uint64_t source_phys(struct reenc *re, uint64_t off)
{
	if (re->has_moved && off < re->moved.size)
		return re->moved.offset + off;
	return volume_phys(re->v_old, off);
}

/*
 * Steps run as a two-stage pipeline: a producer thread reads the next hotzone,
 * saves what recovery needs (checksums or a raw copy) and transforms it, while
 * the calling thread commits and writes the current one. Reading ahead is safe:
 * no hotzone's source is written by an earlier hotzone (a rekey rewrites each
 * zone in place; a shifted encryption writes each zone over the source of the
 * zone before it, and reads the first chunk from its moved copy).
 */
#define PIPE_ZONES 2

struct zone {
	uint8_t *buf;	/* transformed, ready to be written */
	uint8_t *saved; /* for the reencrypt area: checksums, or the raw zone (journal) */
	size_t saved_len;
	uint64_t off, len;
};

struct pipe {
	struct reenc *re;
	struct pipeline *ring; /* which of the zones are prepared */
	struct zone z[PIPE_ZONES];
	uint64_t start; /* progress when the run began */
	struct workers *pool;
};

/* The hotzone after progress done: false when nothing is left. */
static bool next_zone(const struct reenc *re, uint64_t done, uint64_t *ret_off, uint64_t *ret_len)
{
	uint64_t left = re->backward ? done : re->size - done;
	uint64_t len = left < re->hotzone ? left : re->hotzone;

	if (re->shift_down) {
		if (done > re->size)
			return false;
		if (done == re->size) {
			*ret_off = 0; /* the moved chunk, in place, last */
			*ret_len = re->moved.size;
		} else {
			*ret_off = done;
			*ret_len = len;
		}
		return true;
	}
	if (!left)
		return false;
	*ret_off = re->backward ? done - len : done;
	*ret_len = len;
	/* With a moved chunk, [0, S) is the last step and no step crosses S. */
	if (re->has_moved && done > re->moved.size) {
		uint64_t above = done - re->moved.size;
		*ret_len = above < re->hotzone ? above : re->hotzone;
		*ret_off = done - *ret_len;
	} else if (re->has_moved) {
		*ret_off = 0;
		*ret_len = done;
	}
	return true;
}

static uint64_t after_zone(const struct reenc *re, uint64_t off, uint64_t len)
{
	if (re->shift_down && off == 0)
		return re->size + re->moved.size;
	return re->backward ? off : off + len;
}

/*
 * A zone is prepared in parts of ZONE_PART bytes, each read, hashed and
 * transformed by one core while it is still in that core's cache.
 */
#define ZONE_PART (256u << 10)

struct zone_batch {
	struct reenc *re;
	struct zone *z;
	uint64_t phys; /* where the zone's source starts */
	size_t part;
	bool sums, copy;
};

static int prepare_part(void *ctx, unsigned i)
{
	const struct zone_batch *b = ctx;
	struct reenc *re = b->re;
	size_t at = (size_t)i * b->part;
	size_t len = (size_t)b->z->len - at < b->part ? (size_t)b->z->len - at : b->part;
	uint8_t *p = b->z->buf + at;
	int r;

	r = storage_read(re->data, p, len, b->phys + at);
	if (r < 0)
		return r == -ENODATA ? -EIO : r;
	if (b->sums) {
		r = crypto_hash_blocks(re->hash, p, re->bs, len / re->bs,
				       b->z->saved + at / re->bs * re->hash_len);
		if (r < 0)
			return r;
	} else if (b->copy) {
		memcpy(b->z->saved + at, p, len);
	}
	return transform(re, p, len, b->z->off + at);
}

/* Producer side of one zone: read, save for recovery, transform, on all cores. */
static int prepare_zone(struct reenc *re, struct workers *pool, struct zone *z)
{
	struct zone_batch b = {re, z, source_phys(re, z->off), 0, false, false};
	int r;

	/* datashift-checksum: only the moved chunk is rewritten in place and needs sums. */
	b.sums = strcmp(re->type, "checksum") == 0 ||
		 (strcmp(re->type, "datashift-checksum") == 0 && re->shift_down && z->off == 0);
	b.copy = strcmp(re->type, "journal") == 0;
	/* Parts of whole checksum blocks and sectors of both layouts (align covers all). */
	b.part = ZONE_PART / re->align * re->align;
	if (b.part == 0)
		b.part = re->align;
	r = workers_run(pool, prepare_part, &b, (unsigned)((z->len + b.part - 1) / b.part));
	if (r < 0)
		return r;
	if (b.sums)
		z->saved_len = (size_t)(z->len / re->bs * re->hash_len);
	else if (b.copy)
		z->saved_len = (size_t)z->len;
	else
		z->saved_len = 0;
	return 0;
}

static void *producer(void *arg)
{
	struct pipe *pp = arg;
	struct reenc *re = pp->re;
	uint64_t done = pp->start, off, len;
	int r = 0;

	while (next_zone(re, done, &off, &len)) {
		int i = pipeline_slot(pp->ring);
		struct zone *z;

		if (i < 0)
			break;
		z = &pp->z[i];
		z->off = off;
		z->len = len;
		if ((r = prepare_zone(re, pp->pool, z)) < 0)
			break;
		pipeline_publish(pp->ring);
		done = after_zone(re, off, len);
	}
	pipeline_finish(pp->ring, r);
	return NULL;
}

/* Consumer side of one zone: the two commit points around the data write. */
static int commit_zone(struct reenc *re, uint64_t done, const struct zone *z)
{
	int r;

	if (resilient(re)) {
		/*
		 * The saved checksums (or copy) must be durable before the header
		 * names the zone: one sync, then the header's own two.
		 */
		if (z->saved_len &&
		    ((r = storage_write(re->hdr, z->saved, z->saved_len, re->area_off)) < 0 ||
		     (r = storage_sync(re->hdr)) < 0))
			return r;
		/* Commit point: the zone is marked and its old contents are recoverable. */
		if ((r = commit_state(re, done, z->off, z->len)) < 0)
			return r;
	}
	r = storage_write(re->data, z->buf, (size_t)z->len, volume_phys(re->v_new, z->off));
	if (r < 0 || !resilient(re))
		return r;
	/* Commit point: the zone's new contents are durable; the header says so. */
	if ((r = storage_sync(re->data)) < 0)
		return r;
	return commit_state(re, after_zone(re, z->off, z->len), 0, 0);
}

static void pipe_clear(struct pipe *pp)
{
	workers_free(pp->pool);
	pipeline_free(pp->ring);
	for (int i = 0; i < PIPE_ZONES; i++) {
		free(pp->z[i].buf);
		free(pp->z[i].saved);
	}
}

/* Runs the steps from progress *done until the end, a stop, or an error. */
static int run_steps(struct reenc *re, const struct reenc_plan *plan, uint64_t *done)
{
	struct pipe pp;
	struct timespec last = {0, 0};
	uint64_t moved = 0;
	pthread_t thread;
	int r = 0;

	memset(&pp, 0, sizeof(pp));
	pp.re = re;
	pp.start = *done;
	if (pipeline_new(PIPE_ZONES, &pp.ring) < 0)
		return -ENOMEM;
	/* Without threads the producer prepares each zone alone: slower, still correct. */
	if (workers_new(cpu_count(), &pp.pool) < 0)
		pp.pool = NULL;
	for (int i = 0; i < PIPE_ZONES; i++) {
		/* Zones are written with direct I/O. */
		pp.z[i].buf = storage_bulk_alloc((size_t)re->hotzone);
		pp.z[i].saved = malloc((size_t)re->hotzone);
		if (!pp.z[i].buf || !pp.z[i].saved) {
			pipe_clear(&pp);
			return -ENOMEM;
		}
	}
	if (!resilient(re) && (re->backward ? *done > 0 : *done < re->size)) {
		/*
		 * Resilience none saves nothing per step: mark everything still to do
		 * in flight, so that a crash is noticed (recovery refuses) instead of a
		 * resume converting converted data again. A clean stop clears it.
		 */
		r = re->backward ? commit_state(re, *done, 0, *done)
				 : commit_state(re, *done, *done, re->size - *done);
		if (r < 0) {
			pipe_clear(&pp);
			return r;
		}
	}
	if (pthread_create(&thread, NULL, producer, &pp) != 0) {
		pipe_clear(&pp);
		return -EAGAIN;
	}
	for (;;) {
		struct zone *z;
		bool stop = false;
		int i;

		if (plan && plan->progress) {
			struct timespec now;
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec != last.tv_sec) {
				uint64_t left = re->backward ? *done : re->size - *done;
				last = now;
				stop = !plan->progress(re->size - left, re->size, plan->userdata);
			}
		}
		if (plan && plan->stop_after && moved >= plan->stop_after)
			stop = true;
		if (stop) {
			r = -ECANCELED;
			break;
		}
		if ((i = pipeline_next(pp.ring)) < 0)
			break;
		z = &pp.z[i];
		if ((r = commit_zone(re, *done, z)) < 0)
			break;
		*done = after_zone(re, z->off, z->len);
		moved += z->len;
		pipeline_release(pp.ring);
	}
	/* Only the producer records errors in the ring; the consumer's are in r. */
	pipeline_cancel(pp.ring, 0);
	pthread_join(thread, NULL);
	if (r == 0)
		r = pipeline_error(pp.ring);

	if (r == 0 && plan && plan->progress)
		plan->progress(re->size, re->size, plan->userdata);
	pipe_clear(&pp);
	return r;
}

/* Repairs a hotzone a crash left in flight, from what protect() saved. */
static int recover(struct reenc *re, uint64_t off, uint64_t len)
{
	const struct luks_keyslot *k = &re->m->keyslots[re->ks];
	const char *type = k->reenc.type;
	uint64_t phys = volume_phys(re->v_new, off);
	int r;

	free(re->buf);
	re->buf = malloc((size_t)len);
	if (!re->buf)
		return -ENOMEM;
	log_info("recovering the interrupted hotzone at %" PRIu64 " (%" PRIu64 " bytes, %s)", off,
		 len, type);
	if (strcmp(type, "checksum") == 0 ||
	    (strcmp(type, "datashift-checksum") == 0 && re->shift_down && off == 0)) {
		uint32_t bs = k->reenc.sector_size;
		size_t hl = re->hash_len, nblk = (size_t)(len / bs);
		uint8_t *sums = malloc(nblk * hl), h[64];
		if (!sums)
			return -ENOMEM;
		if ((r = storage_read(re->hdr, sums, nblk * hl, k->area_offset)) < 0 ||
		    (r = storage_read(re->data, re->buf, (size_t)len, phys)) < 0) {
			free(sums);
			return r == -ENODATA ? -EIO : r;
		}
		/* A block whose hash is still the saved one was not rewritten yet. */
		for (size_t i = 0; i < nblk && r == 0; i++) {
			uint8_t *blk = re->buf + i * bs;
			r = crypto_hash(k->reenc.hash, blk, bs, h);
			if (r < 0 || !crypto_memeq(h, sums + i * hl, hl))
				continue;
			if ((r = volume_crypt(re->v_old, blk, bs, off + i * bs, false)) == 0)
				r = volume_crypt(re->v_new, blk, bs, off + i * bs, true);
		}
		free(sums);
		if (r < 0)
			return r;
	} else if (strcmp(type, "journal") == 0) {
		if ((r = storage_read(re->hdr, re->buf, (size_t)len, k->area_offset)) < 0 ||
		    (r = transform(re, re->buf, (size_t)len, off)) < 0)
			return r == -ENODATA ? VMC_ECORRUPT : r;
	} else if (strncmp(type, "datashift", 9) == 0) {
		/* The source of a shifted hotzone is never overwritten by its own step. */
		if ((r = storage_read(re->data, re->buf, (size_t)len, source_phys(re, off))) < 0 ||
		    (r = transform(re, re->buf, (size_t)len, off)) < 0)
			return r == -ENODATA ? -EIO : r;
	} else {
		log_err("the re-encryption was interrupted in resilience mode '%s', which keeps "
			"nothing to recover the hotzone from: data in it is lost",
			type);
		return VMC_ECORRUPT;
	}
	if ((r = storage_write(re->data, re->buf, (size_t)len, phys)) < 0 ||
	    (r = storage_sync(re->data)) < 0)
		return r;
	return commit_state(re, re->backward ? off : off + len, 0, 0);
}

/*
 * The finish, as one header write: the new layout alone, no requirement, no
 * reencrypt keyslot, no old keyslots or digests. Areas are wiped afterwards.
 */
static int finish(struct reenc *re, const struct reenc_plan *plan)
{
	struct luks_meta *m = re->m;
	struct luks_segment seg = piece(&re->final, 0, 0, NULL);
	uint64_t wipe_off[LUKS_MAX_KEYSLOTS], wipe_len[LUKS_MAX_KEYSLOTS];
	int nwipe = 0, rdig = m->keyslots[re->ks].digest, r;

	if ((r = luks2_json_set_segments(m->json, &seg, 1)) < 0)
		return r;
	for (int i = 0; i < LUKS_MAX_KEYSLOTS; i++) {
		const struct luks_keyslot *k = &m->keyslots[i];
		bool old = k->kind == LUKS_KEYSLOT_LUKS2 && re->dig_old >= 0 &&
			   k->digest == re->dig_old && re->dig_old != re->dig_new;
		if (!old && i != re->ks)
			continue;
		wipe_off[nwipe] = k->area_offset;
		wipe_len[nwipe++] = k->area_size;
		if ((r = luks2_json_remove_keyslot(m->json, i)) < 0)
			return r;
	}
	if (re->dig_old >= 0 && re->dig_old != re->dig_new)
		luks2_json_remove_digest(m->json, re->dig_old);
	if (rdig >= 0)
		luks2_json_remove_digest(m->json, rdig);
	if (re->dig_new >= 0) {
		struct luks_digest d = m->digests[re->dig_new];
		d.segments = 1;
		if ((r = luks2_json_set_digest(m->json, re->dig_new, &d)) < 0)
			return r;
	}
	if ((r = luks2_json_set_requirement(m->json, REQ_V2, false)) < 0 ||
	    (r = luks2_json_set_requirement(m->json, REQ_V3, false)) < 0)
		return r;
	/* A public-key image re-keyed to a private passphrase says so in the same write. */
	if (plan && plan->private_after && luks_meta_is_public(m))
		m->label[0] = '\0';
	/* Commit point: the re-encryption is over; nothing refers to the old key any more. */
	if ((r = luks_meta_commit(re->hdr, m)) < 0)
		return r;
	for (int i = 0; i < nwipe; i++)
		if (wipe_len[i] && (r = luks_wipe_area(re->hdr, wipe_off[i], wipe_len[i])) < 0)
			return r;
	/* The plaintext copy of the first chunk at the end of the device. */
	if (re->has_moved && !re->shift_down)
		r = luks_wipe_area(re->data, re->moved.offset, re->moved.size);
	/* Decryption moved the data down: what is left after it is old ciphertext. */
	if (re->shift_down && r == 0) {
		r = luks_wipe_area(re->data, re->size, re->moved.size);
		if (r == 0 && storage_is_regular(re->data))
			r = storage_truncate(re->data, re->size);
	}
	return r;
}

static uint64_t hotzone_for(const struct reenc *re)
{
	const struct luks_keyslot *k = &re->m->keyslots[re->ks];
	uint64_t h = re->plan && re->plan->hotzone ? re->plan->hotzone : HOTZONE_DEFAULT;

	if (strcmp(k->reenc.type, "checksum") == 0) {
		uint64_t cap = k->area_size / re->hash_len * k->reenc.sector_size;
		if (h > cap)
			h = cap;
	} else if (strcmp(k->reenc.type, "journal") == 0 && h > k->area_size) {
		h = k->area_size;
	} else if (strncmp(k->reenc.type, "datashift", 9) == 0) {
		return k->reenc.shift;
	}
	h = h / re->align * re->align;
	return h ? h : re->align;
}

int reenc_run(struct storage *hdr, struct storage *data, struct luks_meta *m,
	      const struct reenc_keys *keys, const struct reenc_plan *plan)
{
	struct reenc re;
	uint64_t done, hot = 0, hot_len = 0;
	int r;

	r = reenc_load(&re, hdr, data, m, keys, plan);
	if (r < 0)
		goto out;
	if ((r = reenc_digest_verify(&re)) < 0)
		goto out;
	if ((r = progress_of(&re, &done, &hot, &hot_len)) < 0)
		goto out;
	re.hotzone = hotzone_for(&re);
	if (hot_len) {
		if ((r = recover(&re, hot, hot_len)) < 0)
			goto out;
		done = after_zone(&re, hot, hot_len);
	}
	if (plan && plan->recover_only) {
		r = -ECANCELED;
		goto out;
	}
	free(re.buf);
	re.buf = NULL;
	r = run_steps(&re, plan, &done);
	if (r < 0 && r != -ECANCELED)
		goto out;
	if (r == -ECANCELED) {
		/* A clean stop: with resilience none this is the only commit of the run. */
		if (!resilient(&re)) {
			int s = storage_sync(data);
			if (s == 0)
				s = commit_state(&re, done, 0, 0);
			if (s < 0)
				r = s;
		}
		goto out;
	}
	if (!resilient(&re) && (r = storage_sync(data)) < 0)
		goto out;
	r = finish(&re, plan);
out:
	reenc_clear(&re);
	return r;
}

int reenc_init(struct storage *hdr, struct luks_meta *m, const struct reenc_start *st,
	       const struct reenc_plan *plan)
{
	const char *type = plan->resilience ? plan->resilience : "checksum";
	int ks = -1, r;
	struct luks_keyslot k;
	struct reenc re;

	if (st->moved)
		type = st->backward ? "datashift" : "datashift-checksum";
	if (strcmp(type, "checksum") && strcmp(type, "journal") && strcmp(type, "none") &&
	    strcmp(type, "datashift") && strcmp(type, "datashift-checksum")) {
		log_err("resilience '%s' is not supported (use checksum, journal or none)", type);
		return VMC_ENOTSUP;
	}
	for (int i = 0; i < LUKS_MAX_KEYSLOTS && ks < 0; i++)
		if (m->keyslots[i].kind == LUKS_KEYSLOT_UNUSED)
			ks = i;
	memset(&k, 0, sizeof(k));
	k.kind = LUKS_KEYSLOT_REENCRYPT;
	k.digest = -1;
	/* A data shift needs no area contents: cryptsetup takes the first free 4 KiB. */
	if (strcmp(type, "datashift") == 0) {
		k.area_size = 4096;
		r = ks < 0 ? -ENOSPC : luks2_find_area(m, 4096, &k.area_offset);
	} else {
		r = ks < 0 ? -ENOSPC : luks2_largest_gap(m, &k.area_offset, &k.area_size);
	}
	if (r < 0) {
		log_err("no free keyslot or keyslot area for the re-encryption metadata");
		return -ENOSPC;
	}
	snprintf(k.reenc.mode, sizeof(k.reenc.mode), "%s", st->mode);
	snprintf(k.reenc.direction, sizeof(k.reenc.direction), "%s",
		 st->backward ? "backward" : "forward");
	snprintf(k.reenc.type, sizeof(k.reenc.type), "%s", type);
	if (st->moved)
		k.reenc.shift = st->shift;
	if (strstr(type, "checksum")) {
		uint32_t bs = CHECKSUM_BLOCK;
		snprintf(k.reenc.hash, sizeof(k.reenc.hash), "%s",
			 plan->hash ? plan->hash : "sha256");
		if (crypto_hash_len(k.reenc.hash) < 0) {
			log_err("checksum hash '%s' is not supported", k.reenc.hash);
			return VMC_ENOTSUP;
		}
		if (st->final->sector_size > bs)
			bs = st->final->sector_size;
		if (st->prev->sector_size > bs)
			bs = st->prev->sector_size;
		k.reenc.sector_size = bs;
	}
	if ((r = luks2_json_set_reencrypt_keyslot(m->json, ks, &k)) < 0)
		return r;

	/* Nothing converted yet; the backups describe both layouts. */
	memset(&re, 0, sizeof(re));
	re.m = m;
	re.ks = ks;
	re.backward = st->backward;
	re.prev = backup(st->prev, FLAG_PREV);
	re.final = backup(st->final, FLAG_FINAL);
	if (st->moved) {
		re.moved = backup(st->moved, FLAG_MOVED);
		re.has_moved = true;
		re.shift_down = !st->backward;
	}
	re.dig_old = st->old_digest;
	re.dig_new = st->new_digest;
	re.size = st->size;
	re.k_old = st->k_old;
	re.k_old_len = st->k_old_len;
	re.k_new = st->k_new;
	re.k_new_len = st->k_new_len;
	if ((r = layout_state(&re, st->backward ? st->size : 0, 0, 0)) < 0 ||
	    (r = luks2_json_set_requirement(
		 m->json, strcmp(type, "datashift-checksum") ? REQ_V2 : REQ_V3, true)) < 0)
		return r;
	/* The model must see the new keyslot and segments before the digest is computed. */
	if ((r = luks2_json_to_meta(m->json, m->hdr_size, m)) < 0 ||
	    (r = reenc_digest_make(&re)) < 0)
		return r;
	if (!hdr)
		return luks2_json_to_meta(m->json, m->hdr_size, m);
	/* Commit point: the re-encryption exists; no data has been touched. */
	return luks_meta_commit(hdr, m);
}
