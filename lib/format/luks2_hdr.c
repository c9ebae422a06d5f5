/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* LUKS2 binary headers: staged parsing of both copies, checksums and the two-copy write protocol.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "format/luks2_hdr.h"
#include "format/luks2_json.h"
#include "base/log.h"
#include "base/util.h"

/* Binary header field offsets (LUKS2 On-Disk Format Specification). */
#define H_MAGIC	     0
#define H_VERSION    6
#define H_HDR_SIZE   8
#define H_SEQID	     16
#define H_LABEL	     24
#define H_CSUM_ALG   72
#define H_SALT	     104
#define H_UUID	     168
#define H_SUBSYSTEM  208
#define H_HDR_OFFSET 256
#define H_CSUM	     448
#define H_SALT_LEN   64
#define H_CSUM_LEN   64

static const uint8_t magic1[6] = {'L', 'U', 'K', 'S', 0xba, 0xbe};
static const uint8_t magic2[6] = {'S', 'K', 'U', 'L', 0xba, 0xbe};

/* What one copy gave. */
struct hdr_copy {
	bool valid;
	uint64_t hdr_size;
	uint64_t seqid;
	uint8_t *area;
};

static bool hdr_size_allowed(uint64_t size)
{
	return is_power_of_2(size) && size >= LUKS2_HDR_MIN && size <= LUKS2_HDR_MAX;
}

static int checksum(const uint8_t *area, size_t hdr_size, const char *alg, uint8_t *out)
{
	static const uint8_t zero[H_CSUM_LEN];
	struct crypto_hash_ctx *ctx = NULL;
	int r;

	r = crypto_hash_init(alg, &ctx);
	if (r < 0)
		return r;
	if ((r = crypto_hash_update(ctx, area, H_CSUM)) < 0 ||
	    (r = crypto_hash_update(ctx, zero, H_CSUM_LEN)) < 0 ||
	    (r = crypto_hash_update(ctx, area + H_CSUM + H_CSUM_LEN,
				    hdr_size - H_CSUM - H_CSUM_LEN)) < 0) {
		crypto_hash_ctx_free(ctx);
		return r;
	}
	return crypto_hash_final(ctx, out);
}

/* Reads and checks one copy at off; expect_magic selects primary/secondary. */
static int read_copy(luks2_read_fn *read, void *ctx, uint64_t off, const uint8_t *magic,
		     struct hdr_copy *c, const char *name)
{
	uint8_t bin[LUKS2_HDR_BIN_LEN];
	uint8_t csum[H_CSUM_LEN] = {0};
	char alg[32];
	int hlen, r;

	memset(c, 0, sizeof(*c));
	r = read(ctx, bin, sizeof(bin), off);
	if (r < 0)
		return r == -ENODATA ? VMC_ENOTLUKS : r;
	if (memcmp(bin + H_MAGIC, magic, 6) != 0)
		return VMC_ENOTLUKS;
	if (load_be16(bin + H_VERSION) != 2) {
		/* LUKS magic with a version no one knows: cryptsetup stops there too. */
		if (magic == magic1 && load_be16(bin + H_VERSION) != 1) {
			log_err("LUKS header: unsupported version %u", load_be16(bin + H_VERSION));
			return VMC_ENOTSUP;
		}
		return VMC_ENOTLUKS;
	}
	c->hdr_size = load_be64(bin + H_HDR_SIZE);
	c->seqid = load_be64(bin + H_SEQID);
	if (!hdr_size_allowed(c->hdr_size)) {
		log_warn("LUKS2 %s header: invalid header size %" PRIu64, name, c->hdr_size);
		return VMC_ECORRUPT;
	}
	if (load_be64(bin + H_HDR_OFFSET) != off) {
		log_warn("LUKS2 %s header: header offset field does not match its position", name);
		return VMC_ECORRUPT;
	}
	copy_fixed_str(alg, sizeof(alg), bin + H_CSUM_ALG, 32);
	hlen = crypto_hash_len(alg);
	if (hlen < 0 || hlen > H_CSUM_LEN) {
		log_warn("LUKS2 %s header: unsupported checksum algorithm '%s'", name, alg);
		return VMC_ECORRUPT;
	}
	c->area = malloc(c->hdr_size);
	if (!c->area)
		return -ENOMEM;
	memcpy(c->area, bin, sizeof(bin));
	r = read(ctx, c->area + LUKS2_HDR_BIN_LEN, c->hdr_size - LUKS2_HDR_BIN_LEN,
		 off + LUKS2_HDR_BIN_LEN);
	if (r < 0) {
		log_warn("LUKS2 %s header: truncated metadata area", name);
		return r == -ENODATA ? VMC_ECORRUPT : r;
	}
	r = checksum(c->area, c->hdr_size, alg, csum);
	if (r < 0)
		return r;
	if (!crypto_memeq(csum, bin + H_CSUM, (size_t)hlen)) {
		log_warn("LUKS2 %s header: checksum mismatch", name);
		return VMC_ECORRUPT;
	}
	c->valid = true;
	return 0;
}

static void copy_clear(struct hdr_copy *c)
{
	free(c->area);
	c->area = NULL;
}

/*
 * The JSON area as cryptsetup takes it: the text starts with '{' at its first
 * byte, ends with a NUL inside the area, and only NULs follow it. Returns the
 * text's length.
 */
static int json_area_text(const struct hdr_copy *c, size_t *ret_len)
{
	const char *json = (const char *)c->area + LUKS2_HDR_BIN_LEN;
	size_t area = c->hdr_size - LUKS2_HDR_BIN_LEN;
	size_t len = strnlen(json, area);

	if (json[0] != '{') {
		log_err("LUKS2 header: JSON area does not start with '{'");
		return VMC_ECORRUPT;
	}
	if (len == area) {
		log_err("LUKS2 header: JSON area is not terminated");
		return VMC_ECORRUPT;
	}
	for (size_t i = len; i < area; i++) {
		if (json[i]) {
			log_err("LUKS2 header: bytes after the JSON text in its area are not zero");
			return VMC_ECORRUPT;
		}
	}
	*ret_len = len;
	return 0;
}

/* Fills m from a copy with a verified checksum: its binary header, JSON and validation. */
static int parse_copy(const struct hdr_copy *c, struct luks_meta *m)
{
	const uint8_t *bin = c->area;
	const char *json = (const char *)c->area + LUKS2_HDR_BIN_LEN;
	struct luks2_json *j = NULL;
	size_t json_len = 0;
	int r;

	memset(m, 0, sizeof(*m));
	if ((r = json_area_text(c, &json_len)) < 0)
		return r;
	m->version = 2;
	m->hdr_size = c->hdr_size;
	m->seqid = c->seqid;
	copy_fixed_str(m->label, sizeof(m->label), bin + H_LABEL, 48);
	copy_fixed_str(m->subsystem, sizeof(m->subsystem), bin + H_SUBSYSTEM, 48);
	copy_fixed_str(m->csum_alg, sizeof(m->csum_alg), bin + H_CSUM_ALG, 32);
	copy_fixed_str(m->uuid, sizeof(m->uuid), bin + H_UUID, 40);
	r = luks2_json_parse(json, json_len, &j);
	if (r < 0)
		return r;
	r = luks2_json_to_meta(j, c->hdr_size, m);
	if (r < 0) {
		luks2_json_free(j);
		return r;
	}
	m->json = j;
	return 0;
}

/* parse_copy without messages: whether the copy is usable (its errors are said if none is). */
static bool copy_usable(const struct hdr_copy *c)
{
	struct luks_meta *m;
	int r;

	if (!c->valid)
		return false;
	m = calloc(1, sizeof(*m));
	if (!m)
		return false;
	log_mute();
	r = parse_copy(c, m);
	log_unmute();
	luks_meta_clear(m);
	free(m);
	return r == 0;
}

/*
 * Copy selection, as cryptsetup does it: a copy counts when its checksum holds
 * and its JSON validates; of two, the higher seqid wins (the primary on a tie).
 * The secondary is looked for where the primary's size puts it, or, when the
 * primary's binary header is unusable, at every offset the format allows.
 */
int luks2_hdr_load(luks2_read_fn *read, void *ctx, struct luks_meta *m, bool *ret_damaged)
{
	static const uint64_t offsets[] = {0x4000,  0x8000,   0x10000,	0x20000, 0x40000,
					   0x80000, 0x100000, 0x200000, 0x400000};
	struct hdr_copy p = {0}, s = {0};
	const struct hdr_copy *use = NULL;
	bool p_ok, s_ok;
	int rp, rs = VMC_ENOTLUKS, r;

	rp = read_copy(read, ctx, 0, magic1, &p, "primary");
	if (rp == -ENOMEM || rp == -EIO || (rp == VMC_ENOTSUP && !p.valid)) {
		r = rp;
		goto out;
	}
	if (p.valid) {
		rs = read_copy(read, ctx, p.hdr_size, magic2, &s, "secondary");
	} else {
		/* Primary unusable: look for the secondary at every allowed offset. */
		for (size_t i = 0; i < ARRAY_SIZE(offsets) && !s.valid; i++) {
			copy_clear(&s);
			rs = read_copy(read, ctx, offsets[i], magic2, &s, "secondary");
		}
	}
	if (!p.valid && !s.valid) {
		r = (rp == VMC_ENOTLUKS && rs == VMC_ENOTLUKS) ? VMC_ENOTLUKS : VMC_ECORRUPT;
		if (r == VMC_ECORRUPT)
			log_err("LUKS2 header: neither header copy is valid");
		goto out;
	}
	p_ok = copy_usable(&p);
	s_ok = copy_usable(&s);
	if (p_ok && (!s_ok || p.seqid >= s.seqid))
		use = &p;
	else if (s_ok)
		use = &s;
	if (!use) {
		/* Neither validates: say why the first readable one does not (one line). */
		r = parse_copy(p.valid ? &p : &s, m);
		luks_meta_clear(m);
		if (r == 0)
			r = VMC_ECORRUPT;
		goto out;
	}
	if (!p_ok || !s_ok) {
		log_warn("LUKS2 %s header copy is damaged; using the %s copy",
			 p_ok ? "secondary" : "primary", p_ok ? "primary" : "secondary");
	} else if (p.seqid != s.seqid) {
		log_warn("LUKS2 header copies differ in seqid (%" PRIu64 " and %" PRIu64
			 "); using the newer one",
			 p.seqid, s.seqid);
	}
	if (ret_damaged)
		*ret_damaged = !p_ok || !s_ok || p.seqid != s.seqid;
	r = parse_copy(use, m);
out:
	copy_clear(&p);
	copy_clear(&s);
	return r;
}

struct membuf {
	const uint8_t *buf;
	size_t len;
};

static int membuf_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	const struct membuf *mb = ctx;

	if (off > mb->len || len > mb->len - off)
		return -ENODATA;
	memcpy(buf, mb->buf + off, len);
	return 0;
}

int luks2_hdr_parse_buf(const uint8_t *buf, size_t len, struct luks_meta *m)
{
	struct membuf mb = {buf, len};
	return luks2_hdr_load(membuf_read, &mb, m, NULL);
}

int luks2_hdr_build(const struct luks_meta *m, bool secondary, uint8_t *area)
{
	uint8_t csum[H_CSUM_LEN] = {0};
	char *json = NULL;
	size_t json_len;
	int r;

	if (!hdr_size_allowed(m->hdr_size))
		return -EINVAL;
	r = luks2_json_serialize(m->json, &json, &json_len);
	if (r < 0)
		return r;
	if (json_len >= m->hdr_size - LUKS2_HDR_BIN_LEN) {
		log_err("LUKS2 header: metadata (%zu bytes) does not fit the %" PRIu64
			"-byte JSON area",
			json_len, m->hdr_size - LUKS2_HDR_BIN_LEN);
		free(json);
		return -ENOSPC;
	}
	memset(area, 0, m->hdr_size);
	memcpy(area + H_MAGIC, secondary ? magic2 : magic1, 6);
	store_be16(area + H_VERSION, 2);
	store_be64(area + H_HDR_SIZE, m->hdr_size);
	store_be64(area + H_SEQID, m->seqid);
	memcpy(area + H_LABEL, m->label, strnlen(m->label, 47));
	memcpy(area + H_CSUM_ALG, m->csum_alg, strnlen(m->csum_alg, 31));
	/* A fresh random salt per copy and write, as the specification intends. */
	r = crypto_random(area + H_SALT, H_SALT_LEN);
	if (r < 0)
		goto out;
	memcpy(area + H_UUID, m->uuid, strnlen(m->uuid, 39));
	memcpy(area + H_SUBSYSTEM, m->subsystem, strnlen(m->subsystem, 47));
	store_be64(area + H_HDR_OFFSET, secondary ? m->hdr_size : 0);
	memcpy(area + LUKS2_HDR_BIN_LEN, json, json_len);
	r = checksum(area, m->hdr_size, m->csum_alg, csum);
	if (r < 0)
		goto out;
	memcpy(area + H_CSUM, csum, (size_t)crypto_hash_len(m->csum_alg));
out:
	free(json);
	return r;
}

int luks2_hdr_store(struct storage *st, struct luks_meta *m)
{
	uint8_t *area = NULL;
	int r;

	if (m->requirement[0]) {
		log_err("LUKS2 header: refusing to write metadata with unknown mandatory "
			"requirement '%s'",
			m->requirement);
		return VMC_ENOTSUP;
	}
	area = malloc(m->hdr_size);
	if (!area)
		return -ENOMEM;
	m->seqid++;
	/* Commit point 1: the secondary copy holds the new metadata; the primary still the old. */
	r = luks2_hdr_build(m, true, area);
	if (r < 0)
		goto out;
	if ((r = storage_write(st, area, m->hdr_size, m->hdr_size)) < 0 ||
	    (r = storage_sync(st)) < 0)
		goto out;
	/* Commit point 2: both copies hold the new metadata. */
	r = luks2_hdr_build(m, false, area);
	if (r < 0)
		goto out;
	if ((r = storage_write(st, area, m->hdr_size, 0)) < 0 || (r = storage_sync(st)) < 0)
		goto out;
out:
	free(area);
	return r;
}
