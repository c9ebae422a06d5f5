/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzzes opening an image: the input is a whole (small) image, header and
 * keyslot areas, read as an image zero-extended to 2 MiB (IMAGE_MIN). It is
 * opened through the public API and dumped, then its keyslots are tried with
 * the passphrase "fuzz" (the seeds of mkseed.py are made with it, 4000 AF
 * stripes each) and on success plaintext is read through the data segment.
 * KDF costs from the input are capped first so one input cannot take seconds;
 * the LUKS2 checksums are repaired so mutations of the JSON reach the keyslot
 * code.
 *
 * Why zero-extended: LUKS1 wants key material for all 8 slots, active or not,
 * inside the image (1 MiB for 32-byte keys); a seed then needs only its header
 * and active slots, and inputs stay small. Truncated images are still reached
 * by offsets past 2 MiB, and by fuzz_luks1.c.
 */
#include <stdlib.h>
#include <string.h>

#include "format/keyslot.h"
#include "format/luks1.h"
#include "format/luks2_hdr.h"
#include "tests/fuzz/fuzz.h"
#include "base/util.h"
#include "volume/volume.h"

#define IMAGE_MIN (2u << 20)

static const char pass[] = "fuzz";

static void cap_costs(struct luks_meta *m)
{
	for (int i = 0; i < LUKS_MAX_KEYSLOTS; i++) {
		struct kdf_params *p = &m->keyslots[i].kdf;
		if (p->iterations > 1000)
			p->iterations = 1000;
		if (p->time > 2)
			p->time = 2;
		if (p->parallel > 2)
			p->parallel = 2;
		if (p->memory_kib > 256)
			p->memory_kib = 256;
	}
	for (int i = 0; i < LUKS_MAX_DIGESTS; i++)
		if (m->digests[i].iterations > 1000)
			m->digests[i].iterations = 1000;
}

static void read_plaintext(const struct luks_meta *m, struct storage *st, const uint8_t *vk,
			   size_t vk_len)
{
	int seg = luks_meta_data_segment(m);
	struct volume *vol = NULL;
	struct volume_spec spec;
	uint64_t dev = 0, size;
	uint8_t buf[8192];

	if (seg < 0 || storage_size(st, &dev) < 0)
		return;
	spec = (struct volume_spec){
	    .offset = m->segments[seg].offset,
	    .size = m->segments[seg].size,
	    .dynamic = m->segments[seg].dynamic,
	    .iv_tweak = m->segments[seg].iv_tweak,
	    .cipher = m->segments[seg].cipher,
	    .sector_size = m->segments[seg].sector_size,
	    .key = vk,
	    .key_len = vk_len,
	};
	if (volume_new(st, &spec, 1, dev, &vol) < 0)
		return;
	size = volume_size(vol);
	(void)volume_read(vol, buf, size < sizeof(buf) ? (size_t)size : sizeof(buf), 0);
	if (size > 1000)
		(void)volume_read(vol, buf, 1000, size - 1000);
	volume_free(vol);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmc_image *img = NULL;
	struct storage *st = NULL;
	struct luks_meta m;
	const char *path;
	uint8_t *copy = NULL, *vk = NULL;
	char *text = NULL;
	int slot = -1, r;

	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	memset(&m, 0, sizeof(m));
	if (size >= 8 && memcmp(copy, "LUKS\xba\xbe\0\1", 8) == 0) {
		r = luks1_parse(copy, size, size > IMAGE_MIN ? size : IMAGE_MIN, &m);
	} else {
		if (size >= LUKS2_HDR_BIN_LEN) {
			fuzz_fix_luks2_checksum(copy, size, 0);
			fuzz_fix_luks2_checksum(copy, size, load_be64(copy + 8));
		}
		r = luks2_hdr_parse_buf(copy, size, &m);
	}
	path = fuzz_memfile_sized(0, copy, size, IMAGE_MIN);
	if (!path)
		goto out;

	/* The public API's view: open (locks, copy selection, data segment) and dump. */
	if (vmc_image_open(path, NULL, &img) == 0) {
		if (vmc_image_dump(img, false, &text) == 0)
			free(text);
		text = NULL;
		if (vmc_image_dump(img, true, &text) == 0)
			free(text);
		(void)vmc_image_size(img);
		vmc_image_free(img);
	}
	if (r < 0)
		goto out;
	cap_costs(&m);
	if (storage_open(path, STORAGE_RDONLY, &st) < 0)
		goto out;
	if (luks_keyslot_open_any(&m, st, -1, pass, strlen(pass), &vk, &slot) == 0) {
		read_plaintext(&m, st, vk, secmem_len(vk));
		secmem_free(vk);
	}
out:
	storage_free(st);
	luks_meta_clear(&m);
	free(copy);
	return 0;
}
