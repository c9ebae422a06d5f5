/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The plan of a re-encryption: its layouts, the state each commit writes, and loading a state from
 * the header. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "reencrypt/reencrypt_internal.h"
#include "format/luks2_json.h"
#include "format/manage.h"

int reenc_keyslot(const struct luks_meta *m)
{
	for (int i = 0; i < LUKS_MAX_KEYSLOTS; i++)
		if (m->keyslots[i].kind == LUKS_KEYSLOT_REENCRYPT)
			return i;
	return -1;
}

int reenc_backup_segment(const struct luks_meta *m, const char *flag)
{
	for (int i = 0; i < LUKS_MAX_SEGMENTS; i++)
		if (m->segments[i].kind != LUKS_SEGMENT_UNUSED &&
		    strcmp(m->segments[i].flag, flag) == 0)
			return i;
	return -1;
}

/* --- layouts --- */

/* A piece of layout tmpl covering logical [off, off + len) (len 0: to the end). */
struct luks_segment reenc_piece(const struct luks_segment *tmpl, uint64_t off, uint64_t len,
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

struct luks_segment reenc_backup(const struct luks_segment *tmpl, const char *flag)
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
int reenc_layout_state(struct reenc *re, uint64_t done, uint64_t hot, uint64_t hot_len)
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
			ADD(reenc_piece(&re->final, 0, 0, NULL), true);
		} else if (hot_len && hot == 0) {
			ADD(reenc_piece(&re->final, 0, S, FLAG_HOT), true);
			ADD(reenc_piece(&re->final, S, 0, NULL), true);
		} else {
			ADD(reenc_piece(&re->moved, 0, S, NULL), false);
			if (a > S)
				ADD(reenc_piece(&re->final, S,
						!hot_len && a >= re->size ? 0 : a - S, NULL),
				    true);
			if (hot_len)
				ADD(reenc_piece(&re->final, hot, hot_len, FLAG_HOT), true);
			if (b < re->size)
				ADD(reenc_piece(&re->prev, b, 0, NULL), false);
		}
	} else if (re->has_moved) {
		/* [moved 0..S) [plaintext S..a) [hot] [new b..end): backward, data shifted. */
		uint64_t S = re->moved.size, a = hot_len ? hot : done,
			 b = hot_len ? hot + hot_len : done;
		if (a >= S)
			ADD(reenc_piece(&re->moved, 0, S, NULL), false);
		if (a > S)
			ADD(reenc_piece(&re->prev, S, a - S, NULL), false);
		if (hot_len)
			ADD(reenc_piece(&re->final, hot, hot_len, FLAG_HOT), true);
		if (b < re->size)
			ADD(reenc_piece(&re->final, b, !hot_len && b == 0 ? 0 : re->size - b, NULL),
			    true);
	} else if (!re->backward) {
		/* [new 0..a) [hot] [old b..end) */
		uint64_t a = hot_len ? hot : done, b = hot_len ? hot + hot_len : done;
		if (a > 0)
			ADD(reenc_piece(&re->final, 0, !hot_len && a >= re->size ? 0 : a, NULL),
			    true);
		if (hot_len)
			ADD(reenc_piece(&re->final, hot, hot_len, FLAG_HOT), true);
		if (b < re->size)
			ADD(reenc_piece(&re->prev, b, 0, NULL), false);
	} else {
		/* [old 0..a) [hot] [new b..end) */
		uint64_t a = hot_len ? hot : done, b = hot_len ? hot + hot_len : done;
		if (a > 0)
			ADD(reenc_piece(&re->prev, 0, !hot_len && a >= re->size ? 0 : a, NULL),
			    false);
		if (hot_len)
			ADD(reenc_piece(&re->final, hot, hot_len, FLAG_HOT), true);
		if (b < re->size)
			ADD(reenc_piece(&re->final, b, 0, NULL), true);
	}
	ADD(reenc_backup(&re->prev, FLAG_PREV), false);
	ADD(reenc_backup(&re->final, FLAG_FINAL), true);
	if (re->has_moved)
		ADD(reenc_backup(&re->moved, FLAG_MOVED), false);
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
int reenc_commit_state(struct reenc *re, uint64_t done, uint64_t hot, uint64_t hot_len)
{
	int r = reenc_layout_state(re, done, hot, hot_len);
	return r < 0 ? r : luks_meta_commit(re->hdr, re->m);
}

/* --- loading a state --- */

void reenc_clear(struct reenc *re)
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
	struct volume_spec spec = volume_spec_of(s, key, key_len);

	spec.size = re->size;
	spec.dynamic = false;
	return volume_new(re->data, &spec, 1, 0, ret);
}

int reenc_load(struct reenc *re, struct storage *hdr, struct storage *data, struct luks_meta *m,
	       const struct reenc_keys *keys, const struct reenc_plan *plan)
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
	prev = reenc_backup_segment(m, FLAG_PREV);
	final = reenc_backup_segment(m, FLAG_FINAL);
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
	if (reenc_backup_segment(m, FLAG_MOVED) >= 0) {
		re->moved = m->segments[reenc_backup_segment(m, FLAG_MOVED)];
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
int reenc_progress_of(const struct reenc *re, uint64_t *ret_done, uint64_t *ret_hot,
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

uint64_t reenc_dev_data_size(const struct reenc_dev *d)
{
	uint64_t dev = 0;

	if (storage_size(d->data, &dev) < 0)
		return 0;
	return luks_meta_data_size(d->meta, dev);
}
