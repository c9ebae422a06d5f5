/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Header (de)serialisation round trips for LUKS1 and LUKS2, copy selection and rejection. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "format/keyslot.h"
#include "format/luks1.h"
#include "format/luks2_hdr.h"
#include "format/meta.h"
#include "io/storage.h"
#include "vmcrypt.h"

static uint8_t *make_image(int version, const char *label, size_t *ret_len)
{
	char path[] = "/tmp/vmc-test-hdr-XXXXXX";
	struct vmc_format_params p = {
	    .luks_version = version,
	    .pbkdf = "pbkdf2",
	    .force_iterations = 1000,
	    .data_size = 1 << 20,
	    .label = label,
	    .subsystem = label ? "vmcrypt-test" : NULL,
	    .keyslot = 3,
	};
	struct vmc_image *img = NULL;
	struct stat sb;
	uint8_t *buf;
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	close(fd);
	CHECK_OK(vmc_image_create(path, &p, "pw", 2, true, &img));
	vmc_image_free(img);
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0 && fstat(fd, &sb) == 0);
	buf = malloc((size_t)sb.st_size);
	CHECK(buf && read(fd, buf, (size_t)sb.st_size) == sb.st_size);
	close(fd);
	unlink(path);
	*ret_len = (size_t)sb.st_size;
	return buf;
}

static void luks1_round_trip(void)
{
	size_t len;
	uint8_t *img = make_image(1, NULL, &len), out[LUKS1_HDR_LEN];
	struct luks_meta m;

	CHECK_OK(luks1_parse(img, len, len, &m));
	CHECK_EQ(m.version, 1);
	CHECK_EQ(m.key_size, 64);
	CHECK_EQ(m.payload_offset, 4096);
	CHECK_EQ(m.keyslots[3].kind, LUKS_KEYSLOT_LUKS2);
	CHECK_EQ(m.keyslots[0].kind, LUKS_KEYSLOT_UNUSED);
	CHECK_OK(luks1_serialize(&m, out));
	CHECK_MEM(out, img, LUKS1_HDR_LEN);

	/* Staged rejection of single-field corruptions. */
	out[0] ^= 1;
	CHECK_EQ(luks1_parse(out, sizeof(out), len, &m), VMC_ENOTLUKS);
	CHECK_EQ(luks1_parse(img, 100, len, &m), VMC_ENOTLUKS);
	memcpy(out, img, sizeof(out));
	out[108] = 0x7f; /* key_bytes huge */
	CHECK_EQ(luks1_parse(out, sizeof(out), len, &m), VMC_ECORRUPT);
	memcpy(out, img, sizeof(out));
	memset(out + 8, 'A', 32); /* unterminated cipher name: cryptsetup reads 31 bytes */
	CHECK_OK(luks1_parse(out, sizeof(out), len, &m));
	CHECK(strncmp(m.cipher, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA-", 32) == 0);
	memcpy(out, img, sizeof(out));
	out[208 + 3 * 48 + 40] = 0xff; /* keyslot 3 material offset far away */
	CHECK_EQ(luks1_parse(out, sizeof(out), len, &m), VMC_ECORRUPT);
	memcpy(out, img, sizeof(out));
	out[208 + 3 * 48 + 3] = 0x00; /* keyslot state neither enabled nor disabled: inactive */
	CHECK_OK(luks1_parse(out, sizeof(out), len, &m));
	CHECK_EQ(m.keyslots[3].kind, LUKS_KEYSLOT_UNUSED);
	memcpy(out, img, sizeof(out));
	out[208 + 5 * 48 + 47] = 0x01; /* stripes of a disabled slot: cryptsetup checks all */
	CHECK_EQ(luks1_parse(out, sizeof(out), len, &m), VMC_ECORRUPT);
	free(img);
}

static void luks2_copies(void)
{
	size_t len;
	uint8_t *img = make_image(2, "round-trip", &len), *area;
	struct luks_meta m, again;

	CHECK_OK(luks2_hdr_parse_buf(img, len, &m));
	CHECK_EQ(m.version, 2);
	CHECK_EQ(m.hdr_size, 16384);
	CHECK_EQ(m.seqid, 1);
	CHECK(strcmp(m.label, "round-trip") == 0);
	CHECK(strcmp(m.subsystem, "vmcrypt-test") == 0);
	CHECK_EQ(m.keyslots[3].kind, LUKS_KEYSLOT_LUKS2);
	CHECK_EQ(m.segments[0].offset, 16 << 20);

	/* Serialise again: the parse of the new copy equals the old model. */
	area = malloc(m.hdr_size);
	CHECK_OK(luks2_hdr_build(&m, false, area));
	memcpy(img, area, m.hdr_size);
	CHECK_OK(luks2_hdr_parse_buf(img, len, &again));
	CHECK_MEM(again.keyslots, m.keyslots, sizeof(m.keyslots));
	CHECK_MEM(again.digests, m.digests, sizeof(m.digests));
	CHECK_MEM(again.segments, m.segments, sizeof(m.segments));
	luks_meta_clear(&again);

	/* A damaged primary: the secondary is used. A newer secondary wins by seqid. */
	img[300] ^= 0x55;
	CHECK_OK(luks2_hdr_parse_buf(img, len, &again));
	luks_meta_clear(&again);
	img[300] ^= 0x55;
	m.seqid = 7;
	CHECK_OK(luks2_hdr_build(&m, true, area));
	memcpy(img + m.hdr_size, area, m.hdr_size);
	CHECK_OK(luks2_hdr_parse_buf(img, len, &again));
	CHECK_EQ(again.seqid, 7);
	luks_meta_clear(&again);
	/* Both damaged: corrupt, not "not LUKS". */
	img[5000] ^= 1;
	img[m.hdr_size + 5000] ^= 1;
	CHECK_EQ(luks2_hdr_parse_buf(img, len, &again), VMC_ECORRUPT);
	/* Truncation inside the binary header, the JSON, the secondary copy. */
	img[5000] ^= 1;
	img[m.hdr_size + 5000] ^= 1;
	CHECK_EQ(luks2_hdr_parse_buf(img, 2000, &again), VMC_ENOTLUKS);
	CHECK_EQ(luks2_hdr_parse_buf(img, 9000, &again), VMC_ECORRUPT);
	CHECK_OK(luks2_hdr_parse_buf(img, m.hdr_size + 100, &again));
	luks_meta_clear(&again);
	luks_meta_clear(&m);
	free(area);
	free(img);
}

/*
 * A digest is PBKDF2-HMAC of the key, and HMAC zero-pads short keys: K || 00
 * matches K's digest. Volume keys are also checked against the header's size.
 */
static void volume_key_length(void)
{
	static struct luks_meta m;
	uint8_t k[33];

	for (size_t i = 0; i < sizeof(k); i++)
		k[i] = (uint8_t)(i + 1);
	k[32] = 0;
	memset(&m, 0, sizeof(m));
	m.version = 2;
	m.keyslots[3].kind = LUKS_KEYSLOT_LUKS2;
	m.keyslots[3].key_size = 32;
	m.keyslots[3].digest = 0;
	CHECK_OK(luks_digest_make(&m.digests[0], "sha256", 1000, 32, 32, k, 32));
	m.digests[0].keyslots = 1ull << 3;
	CHECK_EQ(luks_volume_key_verify(&m, 0, k, 32), 1);
	/* The collision is real: the digest alone accepts the 33-byte key. */
	CHECK_EQ(luks_digest_verify(&m.digests[0], k, 33), 1);
	CHECK_EQ(luks_volume_key_verify(&m, 0, k, 33), 0);
	CHECK_EQ(luks_volume_key_verify(&m, 0, k, 31), 0);
	/* LUKS1: key_bytes is the size. */
	m.version = 1;
	m.key_size = 32;
	CHECK_EQ(luks_volume_key_verify(&m, 0, k, 32), 1);
	CHECK_EQ(luks_volume_key_verify(&m, 0, k, 33), 0);
	CHECK_EQ(luks_volume_key_verify(&m, 1, k, 32), -EINVAL);
}

int main(void)
{
	luks1_round_trip();
	luks2_copies();
	volume_key_length();
	return 0;
}
